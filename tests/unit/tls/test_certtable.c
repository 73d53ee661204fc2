// SPDX-License-Identifier: Apache-2.0
// Unit tests for tls/certtable.c: loading chains and picking the entry for SNI and address.
// Certificates come from $TLSEDGE_FIXTURES (tests/fixtures/mkcerts.sh); the many-name and
// in-memory cases build self-signed certificates here with BoringSSL.
#include "tls/certtable.h"

#include "core/err.h"
#include "tls/multicert.h"

#include <openssl/bio.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct core_err err;
static struct tls_certtable *table;
static struct tls_multicert *mc;
static const char *fixtures;

// setup reads $TLSEDGE_FIXTURES and makes an empty table.
static void setup(void)
{
    core_err_init(&err);
    fixtures = getenv("TLSEDGE_FIXTURES");
    cr_assert_not_null(fixtures, "TLSEDGE_FIXTURES must name the fixtures directory");
    table = tls_certtable_new();
    cr_assert_not_null(table);
}

// teardown frees what the test loaded.
static void teardown(void)
{
    tls_certtable_free(table);
    tls_multicert_free(mc);
}

TestSuite(tls_certtable, .init = setup, .fini = teardown);

// dump_err prints err's entries, to explain a failed assertion.
static void dump_err(void)
{
    char buf[512];
    for (int i = 0; i < err.kept; i++)
        fprintf(stderr, "  %s\n", core_err_format(&err, i, buf, sizeof(buf)));
}

// load parses text as ssl_multicert.config (relative names in the fixtures directory) and loads
// it into the table. Returns what tls_certtable_add_multicert returned.
static int load(const char *text)
{
    mc = tls_multicert_parse(text, strlen(text), "ssl_multicert.config", fixtures, fixtures, &err);
    if (!mc)
        dump_err();
    cr_assert_not_null(mc, "the test configuration must parse");
    return tls_certtable_add_multicert(table, mc, NULL, NULL, &err);
}

// has_entry is true when err holds an entry of the given kind at line whose reason contains
// every one of the NULL-terminated parts.
static bool has_entry(bool warning, int line, const char *part, const char *part2)
{
    for (int i = 0; i < err.kept; i++) {
        const struct core_err_entry *e = &err.entry[i];
        if (e->warning == warning && e->line == line && strstr(e->reason, part) &&
            (!part2 || strstr(e->reason, part2)))
            return true;
    }
    return false;
}

// by_name looks up sni with no local address.
static const struct tls_cert_entry *by_name(const char *sni)
{
    return tls_certtable_lookup(table, sni, NULL);
}

// by_addr looks up sni on the local address ip:port.
static const struct tls_cert_entry *by_addr(const char *sni, const char *ip, int port)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
    } else {
        cr_assert_eq(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1, "%s", ip);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
    }
    return tls_certtable_lookup(table, sni, (const struct sockaddr *)&ss);
}

// ---- certificates made in the test ----

// struct gen_pem: a self-signed certificate and its key, PEM, made by gen_cert.
struct gen_pem {
    char *cert;
    size_t cert_len;
    char *key;
    size_t key_len;
};

// bio_take returns a NUL-terminated copy of a memory BIO's contents (length in *len).
static char *bio_take(BIO *bio, size_t *len)
{
    const uint8_t *data = NULL;
    cr_assert_eq(BIO_mem_contents(bio, &data, len), 1);
    char *copy = malloc(*len + 1);
    cr_assert_not_null(copy);
    memcpy(copy, data, *len);
    copy[*len] = '\0';
    return copy;
}

// gen_key makes a P-256 key.
static EVP_PKEY *gen_key(void)
{
    EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
    cr_assert_not_null(ec);
    cr_assert_eq(EC_KEY_generate_key(ec), 1);
    EVP_PKEY *pkey = EVP_PKEY_new();
    cr_assert_not_null(pkey);
    cr_assert_eq(EVP_PKEY_assign_EC_KEY(pkey, ec), 1);
    return pkey;
}

// add_san adds a SAN extension with the n DNS names to x.
static void add_san(X509 *x, char **names, int n)
{
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    cr_assert_not_null(gens);
    for (int i = 0; i < n; i++) {
        ASN1_IA5STRING *s = ASN1_IA5STRING_new();
        GENERAL_NAME *g = GENERAL_NAME_new();
        cr_assert(s && g);
        cr_assert_eq(ASN1_STRING_set(s, names[i], -1), 1);
        GENERAL_NAME_set0_value(g, GEN_DNS, s);
        cr_assert_neq(sk_GENERAL_NAME_push(gens, g), 0);
    }
    cr_assert_eq(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT), 1);
    GENERAL_NAMES_free(gens);
}

// gen_cert makes a self-signed EC certificate for the n DNS names (CN: the first one).
static struct gen_pem gen_cert(char **names, int n)
{
    EVP_PKEY *pkey = gen_key();
    X509 *x = X509_new();
    cr_assert_not_null(x);
    cr_assert_eq(X509_set_version(x, X509_VERSION_3), 1);
    cr_assert_eq(ASN1_INTEGER_set(X509_get_serialNumber(x), 7), 1);
    cr_assert_not_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
    cr_assert_not_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 30));
    X509_NAME *name = X509_get_subject_name(x);
    cr_assert_eq(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                            (const unsigned char *)names[0], -1, -1, 0),
                 1);
    cr_assert_eq(X509_set_issuer_name(x, name), 1);
    cr_assert_eq(X509_set_pubkey(x, pkey), 1);
    add_san(x, names, n);
    cr_assert_neq(X509_sign(x, pkey, EVP_sha256()), 0);
    struct gen_pem out;
    BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
    cr_assert(cb && kb);
    cr_assert_eq(PEM_write_bio_X509(cb, x), 1);
    cr_assert_eq(PEM_write_bio_PrivateKey(kb, pkey, NULL, NULL, 0, NULL, NULL), 1);
    out.cert = bio_take(cb, &out.cert_len);
    out.key = bio_take(kb, &out.key_len);
    BIO_free(cb);
    BIO_free(kb);
    X509_free(x);
    EVP_PKEY_free(pkey);
    return out;
}

// gen_free frees the PEM strings of g.
static void gen_free(struct gen_pem *g)
{
    free(g->cert);
    free(g->key);
}

// ---- SNI ----

Test(tls_certtable, exact_name)
{
    cr_assert_eq(load("ssl_cert_name=a.test.pem ssl_key_name=a.test.key\n"
                      "ssl_cert_name=b.test.pem ssl_key_name=b.test.key\n"),
                 0);
    cr_assert_eq(tls_certtable_count(table), 2);
    const struct tls_cert_entry *e = by_name("a.test");
    cr_assert_not_null(e);
    cr_assert_eq(e->line, 1);
    cr_assert_eq(e->n_chains, 1);
    cr_assert_eq(e->chain[0].key_type, EVP_PKEY_EC);
    cr_assert_not_null(e->chain[0].ctx);
    cr_assert(strstr(e->chain[0].cert_path, "/a.test.pem"));
    cr_assert_gt(e->chain[0].not_after, time(NULL));
    cr_assert_eq(by_name("A.Test"), e, "names match without regard to case");
    cr_assert_eq(by_name("b.test")->line, 2);
    cr_assert_null(by_name("c.test"));
    cr_assert_null(by_name(""));
    cr_assert_null(by_name(NULL));
    cr_assert_eq(err.errors + err.warnings, 0);
}

Test(tls_certtable, wildcard_matches_one_leftmost_label)
{
    cr_assert_eq(load("ssl_cert_name=wild.pem ssl_key_name=wild.key\n"), 0);
    const struct tls_cert_entry *e = by_name("a.wild.test");
    cr_assert_not_null(e);
    cr_assert_eq(e->line, 1);
    cr_assert_eq(by_name("ZZ.WILD.TEST"), e);
    cr_assert_null(by_name("a.b.wild.test"));
    cr_assert_null(by_name("wild.test"));
    cr_assert_null(by_name(".wild.test"));
    cr_assert_null(by_name("*.wild.test.x"));
}

Test(tls_certtable, exact_name_beats_wildcard)
{
    char *names[] = {"exact.wild.test"};
    struct gen_pem g = gen_cert(names, 1);
    cr_assert_eq(load("ssl_cert_name=wild.pem ssl_key_name=wild.key\n"), 0);
    struct tls_multicert_line opts = {.line = 9, .ticket_enabled = -1, .ticket_number = -1};
    cr_assert_eq(
        tls_certtable_add_pem(table, &opts, g.cert, g.cert_len, g.key, g.key_len, NULL, NULL, &err),
        0);
    cr_assert_eq(by_name("exact.wild.test")->line, 9);
    cr_assert_eq(by_name("other.wild.test")->line, 1);
    gen_free(&g);
}

Test(tls_certtable, cn_only_certificate_is_named_by_its_cn)
{
    cr_assert_eq(load("ssl_cert_name=cnonly.pem ssl_key_name=cnonly.key\n"), 0);
    cr_assert_not_null(by_name("cn.test"));
}

Test(tls_certtable, san_dns_names_replace_the_cn)
{
    // ip.pem: CN=localhost, SAN IP:127.0.0.1, IP:::1, DNS:localhost; IP entries are not names.
    cr_assert_eq(load("ssl_cert_name=ip.pem ssl_key_name=ip.key\n"), 0);
    cr_assert_not_null(by_name("localhost"));
    cr_assert_null(by_name("127.0.0.1"));
}

// ---- addresses and the default ----

Test(tls_certtable, dest_ip_with_port_beats_without)
{
    cr_assert_eq(load("dest_ip=127.0.0.1 ssl_cert_name=a.test.pem ssl_key_name=a.test.key\n"
                      "dest_ip=127.0.0.1:8443 ssl_cert_name=b.test.pem ssl_key_name=b.test.key\n"
                      "dest_ip=[::1]:443 ssl_cert_name=rsa.pem ssl_key_name=rsa.key\n"
                      "dest_ip=* ssl_cert_name=default.pem ssl_key_name=default.key\n"),
                 0);
    cr_assert_eq(by_addr(NULL, "127.0.0.1", 8443)->line, 2);
    cr_assert_eq(by_addr(NULL, "127.0.0.1", 9000)->line, 1);
    cr_assert_eq(by_addr("unknown.test", "127.0.0.1", 8443)->line, 2, "SNI miss: address");
    cr_assert_eq(by_addr(NULL, "::ffff:127.0.0.1", 8443)->line, 2, "IPv4-mapped local address");
    cr_assert_eq(by_addr(NULL, "::ffff:127.0.0.1", 1)->line, 1);
    cr_assert_eq(by_addr(NULL, "::1", 443)->line, 3);
    cr_assert_eq(by_addr(NULL, "::1", 444)->line, 4, "port given: other ports are not matched");
    cr_assert_eq(by_addr(NULL, "10.0.0.1", 443)->line, 4);
    // Names win over addresses, and names of dest_ip lines are indexed too (ATS).
    cr_assert_eq(by_addr("b.test", "127.0.0.1", 9000)->line, 2);
    cr_assert_eq(by_addr("a.test", "10.0.0.1", 443)->line, 1);
}

Test(tls_certtable, default_when_nothing_matches)
{
    cr_assert_eq(load("ssl_cert_name=a.test.pem ssl_key_name=a.test.key\n"
                      "dest_ip=* ssl_cert_name=default.pem ssl_key_name=default.key\n"),
                 0);
    const struct tls_cert_entry *d = tls_certtable_default(table);
    cr_assert_not_null(d);
    cr_assert_eq(d->line, 2);
    cr_assert_eq(by_name("nowhere.test"), d);
    cr_assert_eq(by_addr(NULL, "192.0.2.1", 443), d);
    cr_assert_eq(by_name("default.test"), d);
    cr_assert_eq(by_name("a.test")->line, 1);
}

Test(tls_certtable, null_when_no_default)
{
    cr_assert_eq(load("dest_ip=127.0.0.1 ssl_cert_name=a.test.pem ssl_key_name=a.test.key\n"), 0);
    cr_assert_null(tls_certtable_default(table));
    cr_assert_null(by_name("nowhere.test"));
    cr_assert_null(by_addr("nowhere.test", "127.0.0.2", 443));
}

Test(tls_certtable, tunnel_line_is_reached_by_address)
{
    cr_assert_eq(load("dest_ip=192.0.2.9 action=tunnel\n"), 0);
    const struct tls_cert_entry *e = by_addr("x.test", "192.0.2.9", 443);
    cr_assert_not_null(e);
    cr_assert(e->tunnel);
    cr_assert_eq(e->n_chains, 0);
    cr_assert_eq(tls_certtable_count(table), 0);
}

// ---- chains ----

Test(tls_certtable, dual_ec_rsa_line_gives_two_chains)
{
    cr_assert_eq(load("ssl_cert_name=dual-ec.pem,dual-rsa.pem "
                      "ssl_key_name=dual-ec.key,dual-rsa.key ssl_ticket_enabled=0\n"),
                 0);
    cr_assert_eq(tls_certtable_count(table), 2);
    const struct tls_cert_entry *e = by_name("dual.test");
    cr_assert_not_null(e);
    cr_assert_eq(e->n_chains, 2);
    cr_assert_eq(e->chain[0].key_type, EVP_PKEY_EC);
    cr_assert_eq(e->chain[1].key_type, EVP_PKEY_RSA);
    cr_assert_neq(e->chain[0].ctx, e->chain[1].ctx);
    cr_assert_eq(e->ticket_enabled, 0);
    cr_assert_eq(err.warnings, 0, "one line naming its own name twice is no duplicate");
}

Test(tls_certtable, names_come_from_the_first_certificate_of_a_line)
{
    cr_assert_eq(load("ssl_cert_name=dual-ec.pem,rsa.pem ssl_key_name=dual-ec.key,rsa.key\n"), 0);
    cr_assert_eq(tls_certtable_count(table), 2);
    cr_assert_not_null(by_name("dual.test"));
    cr_assert_null(by_name("rsa.test"), "ATS matches SNI against the first certificate only");
}

Test(tls_certtable, same_key_type_twice_on_a_line_is_an_error)
{
    cr_assert_eq(load("ssl_cert_name=a.test.pem,b.test.pem ssl_key_name=a.test.key,b.test.key\n"),
                 -EINVAL);
    cr_assert(has_entry(false, 1, "same key type", NULL));
    cr_assert_null(by_name("a.test"));
}

// chain_len returns the number of intermediates installed in the entry's first chain.
static size_t chain_len(const struct tls_cert_entry *e)
{
    STACK_OF(X509) *chain = NULL;
    cr_assert_eq(SSL_CTX_get0_chain_certs(e->chain[0].ctx, &chain), 1);
    return chain ? sk_X509_num(chain) : 0;
}

Test(tls_certtable, intermediates_from_ca_name_or_the_certificate_file)
{
    cr_assert_eq(load("ssl_cert_name=chained.pem ssl_key_name=chained.key "
                      "ssl_ca_name=chained-chain.pem\n"
                      "dest_ip=192.0.2.1 ssl_cert_name=chained-full.pem ssl_key_name=chained.key\n"
                      "dest_ip=192.0.2.2 ssl_cert_name=chained.pem ssl_key_name=chained.key\n"),
                 0);
    cr_assert_eq(chain_len(by_name("chained.test")), 1);
    cr_assert_eq(chain_len(by_addr(NULL, "192.0.2.1", 1)), 1);
    cr_assert_eq(chain_len(by_addr(NULL, "192.0.2.2", 1)), 0);
}

Test(tls_certtable, key_inside_the_certificate_file)
{
    char dir[] = "/tmp/tlsedge-certtable-XXXXXX", path[128], cmd[512];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/both.pem", dir);
    snprintf(cmd, sizeof(cmd), "cat '%s/a.test.pem' '%s/a.test.key' > '%s'", fixtures, fixtures,
             path);
    cr_assert_eq(system(cmd), 0);
    char text[256];
    snprintf(text, sizeof(text), "ssl_cert_name=%s\n", path);
    int rc = load(text);
    unlink(path);
    rmdir(dir);
    cr_assert_eq(rc, 0);
    cr_assert_not_null(by_name("a.test"));
}

// ---- errors and warnings ----

Test(tls_certtable, mismatched_key_is_an_error_naming_the_line)
{
    cr_assert_eq(load("ssl_cert_name=b.test.pem ssl_key_name=b.test.key\n"
                      "ssl_cert_name=a.test.pem ssl_key_name=mismatch.key\n"),
                 -EINVAL);
    cr_assert_eq(err.errors, 1);
    cr_assert(has_entry(false, 2, "does not match", "a.test.pem"));
    cr_assert_str_eq(err.entry[0].file, "ssl_multicert.config");
    cr_assert_null(strstr(err.entry[0].reason, "PRIVATE"), "no key material in messages");
    cr_assert_null(by_name("a.test"), "a failed line is not served");
    cr_assert_not_null(by_name("b.test"), "other lines are still loaded");
}

Test(tls_certtable, unreadable_file_names_path_and_line)
{
    cr_assert_eq(
        load("# first\n"
             "ssl_cert_name=missing.pem ssl_key_name=a.test.key\n"
             "ssl_cert_name=a.test.pem ssl_key_name=missing.key\n"
             "ssl_cert_name=a.test.pem ssl_key_name=a.test.key ssl_ca_name=missing-ca.pem\n"
             "ssl_cert_name=a.test.key ssl_key_name=a.test.key\n"
             "ssl_cert_name=a.test.pem ssl_key_name=a.test.pem\n"),
        -EINVAL);
    if (err.errors != 5)
        dump_err();
    cr_assert_eq(err.errors, 5, "every line is checked");
    cr_assert(has_entry(false, 2, "missing.pem", "No such file"));
    cr_assert(has_entry(false, 3, "missing.key", "No such file"));
    cr_assert(has_entry(false, 4, "missing-ca.pem", "No such file"));
    cr_assert(has_entry(false, 5, "a.test.key", "no PEM certificate"));
    cr_assert(has_entry(false, 6, "cannot parse a private key", "a.test.pem"));
    cr_assert_eq(tls_certtable_count(table), 0);
}

Test(tls_certtable, expired_certificate_is_only_a_warning)
{
    cr_assert_eq(load("ssl_cert_name=expired.pem ssl_key_name=expired.key\n"), 0);
    cr_assert_eq(err.errors, 0);
    cr_assert_eq(err.warnings, 1);
    cr_assert(has_entry(true, 1, "expired.pem", "expired on 2020-02-01"));
    const struct tls_cert_entry *e = by_name("expired.test");
    cr_assert_not_null(e);
    cr_assert_eq(e->chain[0].not_after, 1580515200); // 2020-02-01T00:00:00Z
}

Test(tls_certtable, duplicate_name_first_line_wins_with_warning)
{
    cr_assert_eq(load("ssl_cert_name=a.test.pem ssl_key_name=a.test.key\n"
                      "ssl_cert_name=b.test.pem ssl_key_name=b.test.key\n"
                      "ssl_cert_name=a.test.pem ssl_key_name=a.test.key\n"
                      "dest_ip=* ssl_cert_name=default.pem ssl_key_name=default.key\n"
                      "dest_ip=* ssl_cert_name=b.test.pem ssl_key_name=b.test.key\n"),
                 0);
    cr_assert_eq(by_name("a.test")->line, 1);
    cr_assert_eq(by_name("b.test")->line, 2);
    cr_assert_eq(tls_certtable_default(table)->line, 4);
    cr_assert(has_entry(true, 3, "'a.test'", "line 1"));
    cr_assert(has_entry(true, 5, "'b.test'", "line 2"));
    cr_assert(has_entry(true, 5, "dest_ip=*", "line 4"));
    cr_assert_eq(err.errors, 0);
}

Test(tls_certtable, key_uri_is_a_warning_that_never_quotes_it)
{
    cr_assert_eq(load("ssl_cert_name=a.test.pem ssl_key_name=\"pkcs11:object=k;pin-value=42\"\n"),
                 0);
    cr_assert(has_entry(true, 1, "pkcs11:", "a.test.pem"));
    cr_assert_null(strstr(err.entry[0].reason, "42"));
    cr_assert_null(by_name("a.test"));
}

// ---- factory and memory ----

// counting_factory counts its calls in *arg and fails on the third.
static SSL_CTX *counting_factory(void *arg, const struct tls_multicert_line *line,
                                 struct core_err *e)
{
    int *calls = arg;
    if (++*calls == 3) {
        core_err_add(e, "factory", line ? line->line : 0, "factory refused");
        return NULL;
    }
    return SSL_CTX_new(TLS_method());
}

Test(tls_certtable, factory_makes_each_chain_context)
{
    int calls = 0;
    const char *text =
        "ssl_cert_name=dual-ec.pem,dual-rsa.pem ssl_key_name=dual-ec.key,dual-rsa.key\n"
        "ssl_cert_name=a.test.pem ssl_key_name=a.test.key\n";
    mc = tls_multicert_parse(text, strlen(text), "ssl_multicert.config", fixtures, fixtures, &err);
    cr_assert_not_null(mc);
    cr_assert_eq(tls_certtable_add_multicert(table, mc, counting_factory, &calls, &err), -EINVAL);
    cr_assert_eq(calls, 3);
    cr_assert_eq(err.errors, 1, "the factory's own error is not doubled");
    cr_assert_eq(tls_certtable_count(table), 2);
    cr_assert_not_null(by_name("dual.test"));
}

Test(tls_certtable, add_pem_loads_from_memory)
{
    char *names[] = {"localhost", "*.local.test"};
    struct gen_pem g = gen_cert(names, 2);
    struct tls_multicert_line opts = {
        .has_dest = true, .dest_any = true, .ticket_enabled = 1, .ticket_number = -1};
    cr_assert_eq(
        tls_certtable_add_pem(table, &opts, g.cert, g.cert_len, g.key, g.key_len, NULL, NULL, &err),
        0);
    const struct tls_cert_entry *d = tls_certtable_default(table);
    cr_assert_not_null(d);
    cr_assert_eq(by_name("localhost"), d);
    cr_assert_eq(by_name("x.local.test"), d);
    cr_assert_eq(by_name("other.test"), d);
    cr_assert_null(d->chain[0].cert_path);
    cr_assert_eq(d->ticket_enabled, 1);
    // A key that does not match, and bytes that are not PEM, are errors.
    struct gen_pem other = gen_cert(names, 1);
    cr_assert_eq(tls_certtable_add_pem(table, NULL, g.cert, g.cert_len, other.key, other.key_len,
                                       NULL, NULL, &err),
                 -EINVAL);
    cr_assert_eq(tls_certtable_add_pem(table, NULL, "junk", 4, g.key, g.key_len, NULL, NULL, &err),
                 -EINVAL);
    cr_assert_eq(err.errors, 2);
    cr_assert_str_eq(err.entry[0].file, "(memory)");
    cr_assert_eq(tls_certtable_count(table), 1);
    gen_free(&g);
    gen_free(&other);
}

Test(tls_certtable, two_thousand_names_load_and_look_up, .timeout = 60)
{
    enum { PER_CERT = 500, CERTS = 4 };
    char *names[PER_CERT];
    char buf[64];
    for (int c = 0; c < CERTS; c++) {
        for (int i = 0; i < PER_CERT; i++) {
            snprintf(buf, sizeof(buf), "host%d.zone%d.test", i, c);
            names[i] = strdup(buf);
        }
        struct gen_pem g = gen_cert(names, PER_CERT);
        struct tls_multicert_line opts = {.line = c + 1, .ticket_enabled = -1, .ticket_number = -1};
        cr_assert_eq(tls_certtable_add_pem(table, &opts, g.cert, g.cert_len, g.key, g.key_len, NULL,
                                           NULL, &err),
                     0);
        gen_free(&g);
        for (int i = 0; i < PER_CERT; i++)
            free(names[i]);
    }
    cr_assert_eq(tls_certtable_count(table), CERTS);
    for (int c = 0; c < CERTS; c++) {
        for (int i = 0; i < PER_CERT; i++) {
            snprintf(buf, sizeof(buf), "HOST%d.zone%d.test", i, c);
            const struct tls_cert_entry *e = by_name(buf);
            cr_assert_not_null(e, "%s", buf);
            cr_assert_eq(e->line, c + 1);
        }
    }
    cr_assert_null(by_name("host500.zone0.test"));
    cr_assert_eq(err.errors + err.warnings, 0);
}
