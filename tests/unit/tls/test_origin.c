// SPDX-License-Identifier: Apache-2.0
// Unit tests for tls/origin.c: real TLS handshakes (tlsedge's client SSL against a BoringSSL
// server over a BIO pair) for each verification policy and property, IP-literal origins, the
// client certificate an origin asks for, origin session resumption, and configuration errors.
// Certificates come from $TLSEDGE_FIXTURES (tests/fixtures/mkcerts.sh).
#include "tls/origin.h"

#include "core/err.h"
#include "core/records.h"
#include "core/stats.h"
#include "tls/hook.h"
#include "tls/selfsigned.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct core_err err;
static struct core_records *rec;
static struct tls_origin_config *cfg;
static const char *fx;

static void setup(void)
{
    core_err_init(&err);
    fx = getenv("TLSEDGE_FIXTURES");
    cr_assert_not_null(fx, "TLSEDGE_FIXTURES must name the fixtures directory");
    rec = core_records_new();
    cr_assert_eq(tls_origin_config_declare(rec), 0);
    tls_origin_stats_register();
}

static void teardown(void)
{
    tls_origin_config_free(cfg);
    core_records_free(rec);
    tls_origin_sessions_free();
}

TestSuite(tls_origin, .init = setup, .fini = teardown, .timeout = 20);

static void dump_err(void)
{
    char buf[512];
    for (int i = 0; i < err.kept; i++)
        fprintf(stderr, "  %s\n", core_err_format(&err, i, buf, sizeof(buf)));
}

// configure parses records.config text (with %s replaced by the fixtures directory) and builds.
static struct tls_origin_config *configure(const char *fmt)
{
    char text[2048];
    snprintf(text, sizeof(text), fmt, fx, fx, fx, fx);
    cr_assert_eq(core_records_parse(rec, text, strlen(text), "records.config", &err), 0);
    cfg = tls_origin_config_build(rec, fx, NULL, &err);
    if (!cfg)
        dump_err();
    return cfg;
}

#define CA "CONFIG proxy.config.ssl.client.CA.cert.filename STRING %s/ca.pem\n"

static SSL_CTX *server_ctx(const char *cert, const char *key)
{
    char c[512], k[512];
    snprintf(c, sizeof(c), "%s/%s", fx, cert);
    snprintf(k, sizeof(k), "%s/%s", fx, key);
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    cr_assert(SSL_CTX_use_certificate_chain_file(ctx, c), "%s", c);
    cr_assert(SSL_CTX_use_PrivateKey_file(ctx, k, SSL_FILETYPE_PEM));
    return ctx;
}

static SSL_CTX *selfsigned_ctx(void)
{
    char *cert = NULL, *key = NULL;
    size_t cl = 0, kl = 0;
    cr_assert_eq(tls_selfsigned_make(&cert, &cl, &key, &kl), 0);
    BIO *cb = BIO_new_mem_buf(cert, (int)cl), *kb = BIO_new_mem_buf(key, (int)kl);
    X509 *x = PEM_read_bio_X509(cb, NULL, NULL, NULL);
    EVP_PKEY *pk = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    cr_assert(SSL_CTX_use_certificate(ctx, x) && SSL_CTX_use_PrivateKey(ctx, pk));
    X509_free(x);
    EVP_PKEY_free(pk);
    BIO_free(cb);
    BIO_free(kb);
    free(cert);
    free(key);
    return ctx;
}

struct outcome {
    bool ok;
    bool resumed;
    enum tls_verify_verdict verdict;
    char server_sni[128];    // what the server received ("" for none)
    char client_cert_cn[64]; // the client certificate's CN the server saw ("" for none)
};

// run makes tlsedge's client SSL for (sni, name, key) and handshakes with a server on sctx.
static struct outcome run(SSL_CTX *sctx, const char *sni, const char *name, const char *key)
{
    struct outcome o = {0};
    SSL *c = tls_origin_ssl_new(cfg, &cfg->global, sni, name, key);
    cr_assert_not_null(c);
    SSL *s = SSL_new(sctx);
    BIO *cb = NULL, *sb = NULL;
    cr_assert(BIO_new_bio_pair(&cb, 0, &sb, 0));
    SSL_set_bio(c, cb, cb);
    SSL_set_bio(s, sb, sb);
    SSL_set_accept_state(s);
    int cr = 0, sr = 0;
    for (int i = 0; i < 20 && !(cr == 1 && sr == 1); i++) {
        if (cr != 1 && (cr = SSL_do_handshake(c)) <= 0 &&
            SSL_get_error(c, cr) != SSL_ERROR_WANT_READ)
            break;
        if (sr != 1 && (sr = SSL_do_handshake(s)) <= 0 &&
            SSL_get_error(s, sr) != SSL_ERROR_WANT_READ)
            break;
    }
    o.ok = cr == 1 && sr == 1;
    o.verdict = tls_origin_verdict(c);
    tls_origin_count_result(c, o.ok);
    if (o.ok) {
        o.resumed = SSL_session_reused(c);
        uint8_t b;
        SSL_write(s, "x", 1); // the client reads TLS 1.3 tickets with it
        SSL_read(c, &b, 1);
        const char *sn = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
        snprintf(o.server_sni, sizeof(o.server_sni), "%s", sn ? sn : "");
        X509 *peer = SSL_get_peer_certificate(s);
        if (peer)
            X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName,
                                      o.client_cert_cn, sizeof(o.client_cert_cn));
        X509_free(peer);
    }
    SSL_free(c);
    SSL_free(s);
    return o;
}

static int64_t counter(const char *name)
{
    return core_stat_sum(core_stat_find(name));
}

Test(tls_origin, enforced_all_accepts_a_valid_chain_and_sends_sni)
{
    cr_assert_not_null(configure(CA));
    SSL_CTX *s = server_ctx("a.test.pem", "a.test.key");
    struct outcome o = run(s, "a.test", "a.test", NULL);
    cr_assert(o.ok);
    cr_assert_eq(o.verdict, TLS_VERDICT_OK);
    cr_assert_str_eq(o.server_sni, "a.test");
    cr_assert_eq(counter("proxy.process.ssl.total_success_handshake_count_out"), 1);
    SSL_CTX_free(s);
}

Test(tls_origin, enforced_accepts_a_chain_through_an_intermediate)
{
    cr_assert_not_null(configure(CA));
    SSL_CTX *s = server_ctx("chained-full.pem", "chained.key");
    struct outcome o = run(s, "chained.test", "chained.test", NULL);
    cr_assert(o.ok);
    cr_assert_eq(o.verdict, TLS_VERDICT_OK);
    SSL_CTX_free(s);
}

Test(tls_origin, enforced_refuses_a_wrong_name)
{
    cr_assert_not_null(configure(CA));
    SSL_CTX *s = server_ctx("a.test.pem", "a.test.key");
    struct outcome o = run(s, "b.test", "b.test", NULL);
    cr_assert_not(o.ok);
    cr_assert_eq(o.verdict, TLS_VERDICT_NAME);
    cr_assert_eq(counter("proxy.process.ssl.origin_server_cert_verify_failed"), 1);
    SSL_CTX_free(s);
}

Test(tls_origin, enforced_refuses_an_expired_certificate)
{
    cr_assert_not_null(configure(CA));
    SSL_CTX *s = server_ctx("expired.pem", "expired.key");
    struct outcome o = run(s, "expired.test", "expired.test", NULL);
    cr_assert_not(o.ok);
    cr_assert_eq(o.verdict, TLS_VERDICT_EXPIRED);
    cr_assert_eq(counter("proxy.process.ssl.origin_server_expired_cert"), 1);
    SSL_CTX_free(s);
}

Test(tls_origin, enforced_refuses_an_unknown_ca)
{
    cr_assert_not_null(configure(CA));
    SSL_CTX *s = selfsigned_ctx();
    struct outcome o = run(s, "localhost", "localhost", NULL);
    cr_assert_not(o.ok);
    cr_assert_eq(o.verdict, TLS_VERDICT_UNKNOWN_CA);
    cr_assert_eq(counter("proxy.process.ssl.origin_server_unknown_ca"), 1);
    SSL_CTX_free(s);
}

Test(tls_origin, permissive_connects_despite_a_failure_and_reports_it)
{
    cr_assert_not_null(
        configure(CA "CONFIG proxy.config.ssl.client.verify.server.policy STRING PERMISSIVE\n"));
    SSL_CTX *s = server_ctx("a.test.pem", "a.test.key");
    struct outcome o = run(s, "b.test", "b.test", NULL);
    cr_assert(o.ok);
    cr_assert_eq(o.verdict, TLS_VERDICT_NAME);
    SSL_CTX_free(s);
}

Test(tls_origin, disabled_connects_without_verifying)
{
    cr_assert_not_null(configure(CA "CONFIG proxy.config.ssl.client.verify.server INT 0\n"));
    cr_assert_eq(cfg->global.policy, TLS_VERIFY_DISABLED);
    SSL_CTX *s = selfsigned_ctx();
    struct outcome o = run(s, "x.test", "x.test", NULL);
    cr_assert(o.ok);
    cr_assert_eq(o.verdict, TLS_VERDICT_NONE);
    SSL_CTX_free(s);
}

Test(tls_origin, signature_only_ignores_the_name)
{
    cr_assert_not_null(
        configure(CA "CONFIG proxy.config.ssl.client.verify.server.properties STRING SIGNATURE\n"));
    SSL_CTX *s = server_ctx("a.test.pem", "a.test.key");
    struct outcome o = run(s, "b.test", "b.test", NULL);
    cr_assert(o.ok);
    cr_assert_eq(o.verdict, TLS_VERDICT_OK);
    SSL_CTX_free(s);
}

Test(tls_origin, name_only_ignores_the_issuer_but_not_the_name)
{
    cr_assert_not_null(
        configure(CA "CONFIG proxy.config.ssl.client.verify.server.properties STRING NAME\n"));
    SSL_CTX *s = selfsigned_ctx(); // names localhost, 127.0.0.1, ::1
    cr_assert(run(s, "localhost", "localhost", NULL).ok);
    struct outcome o = run(s, "other.test", "other.test", NULL);
    cr_assert_not(o.ok);
    cr_assert_eq(o.verdict, TLS_VERDICT_NAME);
    SSL_CTX_free(s);
}

Test(tls_origin, an_ip_literal_sends_no_sni_and_matches_ip_sans)
{
    cr_assert_not_null(configure(CA));
    SSL_CTX *s = server_ctx("ip.pem", "ip.key");
    struct outcome o = run(s, "127.0.0.1", "127.0.0.1", NULL);
    cr_assert(o.ok);
    cr_assert_eq(o.verdict, TLS_VERDICT_OK);
    cr_assert_str_eq(o.server_sni, "", "an IP literal must not be sent as SNI");
    struct outcome bad = run(s, "10.9.8.7", "10.9.8.7", NULL);
    cr_assert_not(bad.ok);
    cr_assert_eq(bad.verdict, TLS_VERDICT_NAME);
    SSL_CTX_free(s);
}

static int accept_any(X509_STORE_CTX *ctx, void *arg)
{
    return 1;
}

Test(tls_origin, presents_the_client_certificate)
{
    cr_assert_not_null(configure(CA "CONFIG proxy.config.ssl.client.cert.filename STRING b.test.pem\n"
                                    "CONFIG proxy.config.ssl.client.private_key.filename STRING "
                                    "b.test.key\n"));
    SSL_CTX *s = server_ctx("a.test.pem", "a.test.key");
    SSL_CTX_set_verify(s, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_cert_verify_callback(s, accept_any, NULL);
    struct outcome o = run(s, "a.test", "a.test", NULL);
    cr_assert(o.ok);
    cr_assert_str_eq(o.client_cert_cn, "b.test");
    SSL_CTX_free(s);
}

Test(tls_origin, resumes_an_origin_session_under_the_same_key_only)
{
    cr_assert_not_null(configure(CA));
    SSL_CTX *s = server_ctx("a.test.pem", "a.test.key");
    char k1[256], k2[256];
    cr_assert_gt(tls_origin_key(&cfg->global, "127.0.0.1", 443, "a.test", k1, sizeof(k1)), 0);
    cr_assert_gt(tls_origin_key(&cfg->global, "127.0.0.1", 443, "www.a.test", k2, sizeof(k2)), 0);
    cr_assert_str_neq(k1, k2, "a different SNI must give a different key");
    cr_assert_not(run(s, "a.test", "a.test", k1).resumed);
    cr_assert(run(s, "a.test", "a.test", k1).resumed, "the second connection must resume");
    cr_assert_not(run(s, "a.test", "a.test", k2).resumed);
    cr_assert_geq(counter("proxy.process.ssl.ssl_origin_session_cache_hit"), 1);
    cr_assert_geq(counter("proxy.process.ssl.ssl_origin_session_cache_miss"), 2);
    SSL_CTX_free(s);
}

Test(tls_origin, bad_settings_are_errors_naming_them)
{
    cr_assert_null(configure("CONFIG proxy.config.ssl.client.verify.server.policy STRING STRICT\n"));
    char buf[512];
    cr_assert(strstr(core_err_format(&err, 0, buf, sizeof(buf)), "verify.server.policy"));
}

Test(tls_origin, a_missing_ca_file_is_an_error_naming_it)
{
    cr_assert_null(
        configure("CONFIG proxy.config.ssl.client.CA.cert.filename STRING /nonexistent/ca.pem\n"));
    char buf[512];
    cr_assert(strstr(core_err_format(&err, 0, buf, sizeof(buf)), "/nonexistent/ca.pem"));
}

Test(tls_origin, a_client_key_that_does_not_match_is_an_error)
{
    cr_assert_null(configure(CA "CONFIG proxy.config.ssl.client.cert.filename STRING a.test.pem\n"
                                "CONFIG proxy.config.ssl.client.private_key.filename STRING "
                                "b.test.key\n"));
    cr_assert_geq(err.errors, 1);
}

// ---- outbound hooks (tls/hook.c's struct tls_out, driven by verify_cb) ----

// Fake hook ops standing in for hooks/: each point answers from `answer`, records the order.
static enum tls_hook_verdict answer[TLS_HOOK_COUNT];
static char seen[256];
static int resumed;

static bool fake_active(enum tls_hook h)
{
    return h >= TLS_HOOK_INBOUND_COUNT;
}

static enum tls_hook_verdict fake_run_out(struct tls_out *o, enum tls_hook h)
{
    static const char *const names[TLS_HOOK_COUNT] = {
        [TLS_HOOK_OUTBOUND_START] = "START", [TLS_HOOK_VERIFY_SERVER] = "VERIFY"};
    strncat(seen, names[h], sizeof(seen) - strlen(seen) - 2);
    strcat(seen, " ");
    if (h == TLS_HOOK_VERIFY_SERVER) // the chain is there for TSVConnSslVerifyCTXGet
        cr_assert_not_null(tls_out_hooks(o)->verify_ctx);
    return answer[h];
}

static void fake_close_out(struct tls_out *o)
{
    strcat(seen, "CLOSE");
}

static const struct tls_hook_ops fake_ops = {
    .active = fake_active, .run_out = fake_run_out, .close_out = fake_close_out};

static void on_resume(void *arg)
{
    resumed++;
}

// Handshakes a hooked client SSL with sctx, stopping when the client waits for a hook.
// Returns the client's last SSL_get_error (0 when both finished).
static int hooked_step(SSL *c, SSL *s)
{
    int cr = 0, sr = 0, e = 0;
    for (int i = 0; i < 20 && !(cr == 1 && sr == 1); i++) {
        if (cr != 1 && (cr = SSL_do_handshake(c)) <= 0) {
            e = SSL_get_error(c, cr);
            if (e != SSL_ERROR_WANT_READ)
                return e;
        }
        if (sr != 1 && (sr = SSL_do_handshake(s)) <= 0 &&
            SSL_get_error(s, sr) != SSL_ERROR_WANT_READ)
            return -1;
    }
    return cr == 1 && sr == 1 ? 0 : e;
}

static SSL *hooked_pair(SSL_CTX *sctx, bool verify_async, SSL **s, struct tls_out **o)
{
    tls_hook_ops_set(&fake_ops);
    SSL *c = tls_origin_ssl_new(cfg, &cfg->global, "a.test", "a.test", NULL);
    *s = SSL_new(sctx);
    BIO *cb = NULL, *sb = NULL;
    cr_assert(BIO_new_bio_pair(&cb, 0, &sb, 0));
    SSL_set_bio(c, cb, cb);
    SSL_set_bio(*s, sb, sb);
    SSL_set_accept_state(*s);
    *o = tls_out_attach(c, -1, 7, "a.test", NULL, verify_async, on_resume, NULL);
    cr_assert_not_null(*o);
    return c;
}

Test(tls_origin, verify_server_hooks_that_pause_hold_the_handshake_until_re_enabled)
{
    cr_assert_not_null(configure(CA "CONFIG proxy.config.ssl.client.verify.server INT 2\n"));
    SSL_CTX *sctx = server_ctx("a.test.pem", "a.test.key");
    SSL *s;
    struct tls_out *o;
    SSL *c = hooked_pair(sctx, true, &s, &o);
    answer[TLS_HOOK_OUTBOUND_START] = TLS_HOOK_GO;
    answer[TLS_HOOK_VERIFY_SERVER] = TLS_HOOK_WAIT;
    cr_assert_eq(tls_out_gate(o, TLS_HOOK_OUTBOUND_START), TLS_HOOK_GO);
    cr_assert_eq(hooked_step(c, s), SSL_ERROR_WANT_CERTIFICATE_VERIFY);
    cr_assert_eq(hooked_step(c, s), SSL_ERROR_WANT_CERTIFICATE_VERIFY,
                 "asked again, the paused point answers from its progress");
    cr_assert_str_eq(seen, "START VERIFY ", "each point ran once");
    tls_out_hook_done(o, TLS_HOOK_VERIFY_SERVER, true);
    cr_assert_eq(resumed, 1);
    cr_assert_eq(hooked_step(c, s), 0, "the re-enabled handshake completes");
    cr_assert_eq(tls_origin_verdict(c), TLS_VERDICT_OK);
    tls_origin_ssl_free(c);
    cr_assert_str_eq(seen, "START VERIFY CLOSE");
    SSL_free(s);
    SSL_CTX_free(sctx);
}

Test(tls_origin, a_verify_server_error_fails_the_origin_and_is_its_verdict)
{
    cr_assert_not_null(configure(CA "CONFIG proxy.config.ssl.client.verify.server INT 2\n"));
    SSL_CTX *sctx = server_ctx("a.test.pem", "a.test.key");
    SSL *s;
    struct tls_out *o;
    SSL *c = hooked_pair(sctx, true, &s, &o);
    answer[TLS_HOOK_VERIFY_SERVER] = TLS_HOOK_WAIT;
    cr_assert_eq(hooked_step(c, s), SSL_ERROR_WANT_CERTIFICATE_VERIFY);
    tls_out_hook_done(o, TLS_HOOK_VERIFY_SERVER, false);
    cr_assert_eq(hooked_step(c, s), SSL_ERROR_SSL);
    cr_assert_eq(tls_origin_verdict(c), TLS_VERDICT_PLUGIN);
    tls_origin_count_result(c, false);
    cr_assert_eq(counter("proxy.process.ssl.origin_server_cert_verify_failed"), 1);
    tls_origin_ssl_free(c);
    SSL_free(s);
    SSL_CTX_free(sctx);
}

Test(tls_origin, verify_server_hooks_run_only_after_the_built_in_checks_pass)
{
    cr_assert_not_null(configure(CA)); // ENFORCED, ALL
    SSL_CTX *sctx = server_ctx("b.test.pem", "b.test.key"); // does not name a.test
    SSL *s;
    struct tls_out *o;
    SSL *c = hooked_pair(sctx, false, &s, &o);
    answer[TLS_HOOK_VERIFY_SERVER] = TLS_HOOK_GO;
    cr_assert_eq(hooked_step(c, s), SSL_ERROR_SSL);
    cr_assert_eq(tls_origin_verdict(c), TLS_VERDICT_NAME);
    cr_assert_str_eq(seen, "", "no plugin saw a certificate the checks refused");
    tls_origin_ssl_free(c);
    cr_assert_str_eq(seen, "CLOSE", "OUTBOUND_CLOSE still runs once");
    SSL_free(s);
    SSL_CTX_free(sctx);
}
