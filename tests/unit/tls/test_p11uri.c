// SPDX-License-Identifier: Apache-2.0
// Unit tests for tls/p11uri.c: RFC 7512 examples, percent-encoding (text and binary id), the
// query attributes (pin-source, pin-value, module-name, module-path), and every rejection, whose
// reason must never carry an attribute's value (a URI may hold a PIN).
#include "tls/p11uri.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

TestSuite(tls_p11uri);

static struct tls_p11uri u;

static void parse_ok(const char *uri)
{
    char why[160];
    int rc = tls_p11uri_parse(uri, &u, why, sizeof(why));
    cr_assert_eq(rc, 0, "%s: %s", uri, why);
}

// parse_bad expects a rejection whose reason contains want and not secret.
static void parse_bad(const char *uri, const char *want, const char *secret)
{
    char why[160];
    int rc = tls_p11uri_parse(uri, &u, why, sizeof(why));
    cr_assert_eq(rc, -EINVAL, "%s was accepted", uri);
    cr_assert(strstr(why, want), "%s: reason '%s' lacks '%s'", uri, why, want);
    if (secret)
        cr_assert_null(strstr(why, secret), "reason '%s' leaks '%s'", why, secret);
    cr_assert_null(u.token);
    cr_assert_null(u.pin_value);
}

Test(tls_p11uri, token_object_type_and_pin_source)
{
    parse_ok("pkcs11:token=edge;object=site-ec;type=private?pin-source=file:/etc/tlsedge/pin");
    cr_assert_str_eq(u.token, "edge");
    cr_assert_str_eq(u.object, "site-ec");
    cr_assert_str_eq(u.type, "private");
    cr_assert_str_eq(u.pin_source, "file:/etc/tlsedge/pin");
    cr_assert_null(u.pin_value);
    cr_assert_null(u.id);
    tls_p11uri_fini(&u);
    cr_assert_null(u.token);
}

Test(tls_p11uri, percent_encoded_text_and_binary_id)
{
    // RFC 7512 section 7 style: a label with a space and a semicolon, an id of raw bytes.
    parse_ok("pkcs11:token=My%20token%3Bv2;manufacturer=SoftHSM%20project;id=%01%ff%00%2A");
    cr_assert_str_eq(u.token, "My token;v2");
    cr_assert_str_eq(u.manufacturer, "SoftHSM project");
    cr_assert_eq(u.id_len, 4);
    cr_assert(memcmp(u.id, "\x01\xff\x00\x2a", 4) == 0);
    tls_p11uri_fini(&u);
}

Test(tls_p11uri, pin_value_module_path_serial_model_slot)
{
    parse_ok("pkcs11:serial=0123abcd;model=SoftHSM%20v2;slot-id=17;object=k?pin-value=12%2634&"
             "module-path=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so");
    cr_assert_str_eq(u.serial, "0123abcd");
    cr_assert_str_eq(u.model, "SoftHSM v2");
    cr_assert(u.has_slot_id);
    cr_assert_eq(u.slot_id, 17);
    cr_assert_str_eq(u.pin_value, "12&34");
    cr_assert_str_eq(u.module_path, "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so");
    tls_p11uri_fini(&u);
}

Test(tls_p11uri, module_name_vendor_and_descriptive_attributes_ignored)
{
    parse_ok("pkcs11:library-manufacturer=OpenSC;slot-description=x;x-vendor=1;object=k?"
             "module-name=p11-kit-client&x-other=2");
    cr_assert_str_eq(u.module_name, "p11-kit-client");
    cr_assert_str_eq(u.object, "k");
    tls_p11uri_fini(&u);
}

Test(tls_p11uri, empty_attributes_between_separators_are_skipped)
{
    parse_ok("pkcs11:;token=a;;object=b;?&pin-value=1&");
    cr_assert_str_eq(u.token, "a");
    cr_assert_str_eq(u.object, "b");
    tls_p11uri_fini(&u);
}

Test(tls_p11uri, rejections_name_the_attribute_never_the_value)
{
    parse_bad("pkcs12:object=k", "not a pkcs11: URI", NULL);
    parse_bad("pkcs11:token=edge", "names no key", NULL);
    parse_bad("pkcs11:object=a;object=b", "'object' given twice", NULL);
    parse_bad("pkcs11:object=k;tokn=edge", "unknown path attribute 'tokn'", NULL);
    parse_bad("pkcs11:object=k?pin-value=s3cret-1&pin-value=s3cret-2", "given twice", "s3cret");
    parse_bad("pkcs11:object=k;pin-value=s3cret", "unknown path attribute 'pin-value'", "s3cret");
    parse_bad("pkcs11:object=k?token=edge", "unknown query attribute 'token'", NULL);
    parse_bad("pkcs11:object=k?pin-value=s3cr%zz", "pin-value: bad %-escape", "s3cr");
    parse_bad("pkcs11:object=k%4", "object: bad %-escape", NULL);
    parse_bad("pkcs11:object=a%00b", "object: bad %-escape", NULL); // embedded NUL
    parse_bad("pkcs11:id=", "id is empty", NULL);
    parse_bad("pkcs11:id=%g1", "id: bad %-escape", NULL);
    parse_bad("pkcs11:object=k;slot-id=1x", "slot-id is not a decimal number", NULL);
    parse_bad("pkcs11:object=k;type=cert", "type must be 'private'", NULL);
    parse_bad("pkcs11:object=k?pin-value=s3cret&pin-source=/p", "exclude each other", "s3cret");
    parse_bad("pkcs11:object=k?module-name=a&module-path=/b", "exclude each other", NULL);
    parse_bad("pkcs11:object", "without a name or '='", NULL);
    parse_bad("pkcs11:=v;object=k", "without a name or '='", NULL);
}

Test(tls_p11uri, decode_edges)
{
    uint8_t out[8];
    cr_assert_eq(tls_p11uri_decode("a%41%4a%4A", 10, out), 4);
    cr_assert(memcmp(out, "aAJJ", 4) == 0);
    cr_assert_eq(tls_p11uri_decode("%", 1, out), -1);
    cr_assert_eq(tls_p11uri_decode("%4", 2, out), -1);
    cr_assert_eq(tls_p11uri_decode("%4g", 3, out), -1);
    cr_assert_eq(tls_p11uri_decode("", 0, out), 0);
}
