// SPDX-License-Identifier: Apache-2.0
// Unit tests for tls/sni.c: sni.yaml parsing (keys, wildcards, first match, errors with
// file:line, keys of later features warned about) and ip_allow lists.
#include "tls/sni.h"

#include "core/err.h"
#include "net/ipallow.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static struct core_err err;
static struct tls_sni_config *cfg;

static void setup(void)
{
    core_err_init(&err);
}

static void teardown(void)
{
    tls_sni_config_free(cfg);
}

TestSuite(tls_sni, .init = setup, .fini = teardown);

static struct tls_sni_config *parse(const char *text)
{
    cfg = tls_sni_config_parse(text, strlen(text), "sni.yaml", "/nonexistent", &err);
    return cfg;
}

static const char *first_msg(void)
{
    static char buf[512];
    return err.kept ? core_err_format(&err, 0, buf, sizeof(buf)) : "";
}

Test(tls_sni, first_matching_entry_wins_and_wildcards_take_any_prefix)
{
    cr_assert_not_null(parse("sni:\n"
                             "  - fqdn: a.example.com\n"
                             "    verify_client: STRICT\n"
                             "  - fqdn: '*.example.com'\n"
                             "    verify_client: MODERATE\n"
                             "  - fqdn: b.example.com\n"
                             "    verify_client: NONE\n"),
                       "%s", first_msg());
    cr_assert_eq(cfg->n, 3);
    cr_assert_eq(tls_sni_lookup(cfg, "A.Example.COM")->verify_client, TLS_VERIFY_CLIENT_STRICT);
    cr_assert_eq(tls_sni_lookup(cfg, "b.example.com")->verify_client, TLS_VERIFY_CLIENT_MODERATE,
                 "the wildcard entry comes first");
    cr_assert_eq(tls_sni_lookup(cfg, "x.y.example.com")->line, 4);
    cr_assert_null(tls_sni_lookup(cfg, "example.com"), "* needs at least one character");
    cr_assert_null(tls_sni_lookup(cfg, "other.test"));
    cr_assert_null(tls_sni_lookup(cfg, NULL));
}

Test(tls_sni, versions_become_a_range)
{
    cr_assert_not_null(parse("sni:\n  - fqdn: a.test\n    valid_tls_versions_in: [TLSv1_3]\n"
                             "  - fqdn: b.test\n    valid_tls_versions_in: [TLSv1_3, TLSv1_2]\n"));
    const struct tls_sni_entry *a = tls_sni_lookup(cfg, "a.test"), *b = tls_sni_lookup(cfg, "b.test");
    cr_assert_eq(a->min_version, 0x0304);
    cr_assert_eq(a->max_version, 0x0304);
    cr_assert_eq(b->min_version, 0x0303);
    cr_assert_eq(b->max_version, 0x0304);
}

Test(tls_sni, ip_allow_lists_addresses_and_ranges)
{
    cr_assert_not_null(parse("sni:\n  - fqdn: a.test\n    ip_allow: '10.0.0.0/8, 192.168.1.1-192.168.1.9, ::1'\n"));
    const struct tls_sni_entry *a = tls_sni_lookup(cfg, "a.test");
    struct sockaddr_in in = {.sin_family = AF_INET};
    inet_pton(AF_INET, "10.1.2.3", &in.sin_addr);
    cr_assert(net_ipallow_check(a->ip_allow, (struct sockaddr *)&in, "GET"));
    inet_pton(AF_INET, "192.168.1.10", &in.sin_addr);
    cr_assert_not(net_ipallow_check(a->ip_allow, (struct sockaddr *)&in, "GET"));
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::1", &in6.sin6_addr);
    cr_assert(net_ipallow_check(a->ip_allow, (struct sockaddr *)&in6, "GET"));
}

Test(tls_sni, errors_name_the_line)
{
    cr_assert_null(parse("sni:\n  - fqdn: a.test\n    verify_client: SOMETIMES\n"));
    cr_assert(strstr(first_msg(), "sni.yaml:3:"), "%s", first_msg());
    core_err_init(&err);
    cr_assert_null(parse("sni:\n  - fqdn: a.test\n    no_such_key: 1\n"));
    cr_assert(strstr(first_msg(), "unknown key 'no_such_key'"), "%s", first_msg());
    core_err_init(&err);
    cr_assert_null(parse("sni:\n  - verify_client: NONE\n"));
    cr_assert(strstr(first_msg(), "needs fqdn"), "%s", first_msg());
    core_err_init(&err);
    cr_assert_null(parse("sni:\n  - fqdn: 'a.*.test'\n"));
    core_err_init(&err);
    cr_assert_null(parse("sni:\n  - fqdn: a.test\n    ip_allow: '10.0.0.0/8, nonsense'\n"));
    cr_assert(strstr(first_msg(), "sni.yaml:3:"), "%s", first_msg());
    core_err_init(&err);
    cr_assert_null(parse("sni:\n  - fqdn: a.test\n    verify_client_ca_certs: missing.pem\n"));
    cr_assert(strstr(first_msg(), "/nonexistent/missing.pem"), "%s", first_msg());
}

Test(tls_sni, keys_of_later_features_are_warnings)
{
    cr_assert_not_null(parse("sni:\n  - fqdn: a.test\n    tunnel_alpn: x\n    http2: on\n"));
    cr_assert_eq(err.warnings, 2);
    cr_assert_eq(err.errors, 0);
}

Test(tls_sni, partial_blind_route_is_kept_and_checked)
{
    cr_assert_not_null(parse("sni:\n  - fqdn: a.test\n    partial_blind_route: b.test:443\n"));
    cr_assert_eq(err.warnings, 0);
    cr_assert_str_eq(cfg->entry[0].partial_blind_route, "b.test:443");
    cr_assert_null(cfg->entry[0].forward_route);
    tls_sni_config_free(cfg);
    core_err_init(&err);
    cr_assert_null(parse("sni:\n  - fqdn: a.test\n    partial_blind_route: b.test\n"));
    cr_assert(strstr(first_msg(), "partial_blind_route: expected host:port"), "%s", first_msg());
}

Test(tls_sni, an_empty_file_has_no_entries)
{
    cr_assert_not_null(parse(""));
    cr_assert_eq(cfg->n, 0);
}

// Found by tests/fuzz/fuzz_sniyaml.c (LeakSanitizer): libyaml keeps duplicate keys, and a second
// fqdn (or ip_allow) replaced the first without freeing it. An entry that names a key twice is
// an error now, at the second key's line.
Test(tls_sni, a_key_given_twice_in_one_entry_is_an_error)
{
    cr_assert_null(parse("sni:\n"
                         "  - fqdn: a.test\n"
                         "    fqdn: b.test\n"));
    cr_assert_str_eq(first_msg(), "sni.yaml:3: fqdn is given twice in one entry");
    core_err_init(&err);
    cr_assert_null(parse("sni:\n"
                         "- {fqdn: c.test, ip_allow: '10.0.0.0/8', ip_allow: '0.0.0.0/0'}\n"));
    cr_assert_str_eq(first_msg(), "sni.yaml:2: ip_allow is given twice in one entry");
}
