// SPDX-License-Identifier: Apache-2.0
// bench/tls.c: the client SSL_CTX and SSL objects of tlsedge-bench and what is read from a
// finished handshake (see bench/tls.h). Everything a run needs is decided here once per
// thread: the per-connection work is SSL_new, SSL_set_fd, SNI and the session.
#include "bench/tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pool.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "bench/opts.h"
#include "bench/stats.h"

// accept_any_chain is the custom verifier used without --verify: it accepts whatever chain the
// server sent. The server's possession of the key is still proven by CertificateVerify (TLS 1.3)
// or the signed key exchange (TLS 1.2), which BoringSSL checks regardless.
static enum ssl_verify_result_t accept_any_chain(SSL *ssl, uint8_t *out_alert)
{
    (void)ssl;
    (void)out_alert;
    return ssl_verify_ok;
}

// set_verify configures --verify: trust anchors from the CA file, the name (SNI, else HOST)
// or IP address to match. Returns 0 or -EINVAL with err filled.
static int set_verify(SSL_CTX *ctx, const struct bench_opts *o, char *err, size_t errlen)
{
    X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx);
    int ok;

    if (!SSL_CTX_load_verify_locations(ctx, o->verify_ca, NULL)) {
        snprintf(err, errlen, "--verify: cannot load CA file '%s'", o->verify_ca);
        return -EINVAL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (o->sni != NULL)
        ok = X509_VERIFY_PARAM_set1_host(param, o->sni, strlen(o->sni));
    else if (o->host_is_ip)
        ok = X509_VERIFY_PARAM_set1_ip_asc(param, o->host);
    else
        ok = X509_VERIFY_PARAM_set1_host(param, o->host, strlen(o->host));
    if (!ok) {
        snprintf(err, errlen, "--verify: cannot set the name to verify");
        return -EINVAL;
    }
    return 0;
}

// set_params applies the protocol, groups, signature algorithms, ciphers and ALPN of o.
// Returns 0 or -EINVAL with err filled.
static int set_params(SSL_CTX *ctx, const struct bench_opts *o, char *err, size_t errlen)
{
    const char *what = NULL;

    if (!SSL_CTX_set_min_proto_version(ctx, (uint16_t)o->tls_version) ||
        !SSL_CTX_set_max_proto_version(ctx, (uint16_t)o->tls_version))
        what = "protocol version";
    else if (!SSL_CTX_set1_curves_list(ctx, o->groups))
        what = "--groups";
    else if (o->n_sigalgs > 0 && !SSL_CTX_set_verify_algorithm_prefs(ctx, o->sigalgs, o->n_sigalgs))
        what = "--sigalgs";
    else if (o->cipher != NULL && !SSL_CTX_set_strict_cipher_list(ctx, o->cipher))
        what = "--cipher";
    else if (o->alpn_len > 0 && SSL_CTX_set_alpn_protos(ctx, o->alpn, o->alpn_len) != 0)
        what = "--alpn"; // note: this one returns 0 on success
    if (what == NULL)
        return 0;
    snprintf(err, errlen, "%s rejected by BoringSSL: %s", what,
             ERR_reason_error_string(ERR_peek_last_error()) != NULL
                 ? ERR_reason_error_string(ERR_peek_last_error())
                 : "invalid");
    ERR_clear_error();
    return -EINVAL;
}

SSL_CTX *bench_tls_ctx_new(const struct bench_opts *o, bench_tls_new_session_fn new_session,
                           char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(o->verify_ca != NULL ? TLS_method() : TLS_with_buffers_method());

    if (ctx == NULL) {
        snprintf(err, errlen, "SSL_CTX_new failed");
        return NULL;
    }
    if (set_params(ctx, o, err, errlen) != 0)
        goto fail;
    if (o->verify_ca != NULL) {
        if (set_verify(ctx, o, err, errlen) != 0)
            goto fail;
    } else {
        SSL_CTX_set_custom_verify(ctx, SSL_VERIFY_PEER, accept_any_chain);
    }
    // The client "cache" is only the callback: the worker keeps the sessions it offers itself.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(ctx, new_session);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

SSL *bench_tls_ssl_new(SSL_CTX *ctx, const struct bench_opts *o, int fd, void *app,
                       SSL_SESSION *session)
{
    SSL *ssl = SSL_new(ctx);

    if (ssl == NULL)
        return NULL;
    if (!SSL_set_fd(ssl, fd) || (o->sni != NULL && !SSL_set_tlsext_host_name(ssl, o->sni)) ||
        (session != NULL && !SSL_set_session(ssl, session)) || !SSL_set_app_data(ssl, app)) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_connect_state(ssl);
    return ssl;
}

void bench_tls_tuple_get(const SSL *ssl, struct bench_tuple *t)
{
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    const uint8_t *alpn = NULL;
    unsigned alpn_len = 0;

    t->version = (uint16_t)SSL_version(ssl);
    t->cipher = c != NULL ? SSL_CIPHER_get_protocol_id(c) : 0;
    t->group = SSL_get_curve_id(ssl);
    t->sigalg = SSL_get_peer_signature_algorithm(ssl);
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
    if (alpn_len >= sizeof(t->alpn))
        alpn_len = sizeof(t->alpn) - 1;
    if (alpn_len > 0)
        memcpy(t->alpn, alpn, alpn_len);
    t->alpn[alpn_len] = '\0';
}

// version_name names a TLS protocol version.
static const char *version_name(uint16_t v)
{
    switch (v) {
    case TLS1_2_VERSION:
        return "TLSv1.2";
    case TLS1_3_VERSION:
        return "TLSv1.3";
    case TLS1_1_VERSION:
        return "TLSv1.1";
    case TLS1_VERSION:
        return "TLSv1";
    }
    return "unknown-version";
}

void bench_tls_tuple_format(const struct bench_tuple *t, char *buf, size_t len)
{
    const SSL_CIPHER *c = SSL_get_cipher_by_value(t->cipher);
    const char *cipher = c != NULL ? SSL_CIPHER_standard_name(c) : "unknown-cipher";
    const char *group = t->group != 0 ? SSL_get_curve_name(t->group) : "none";
    const char *sig = t->sigalg != 0 ? SSL_get_signature_algorithm_name(t->sigalg, 1) : "none";
    int n;

    n = snprintf(buf, len, "%s %s %s %s", version_name(t->version), cipher,
                 group != NULL ? group : "unknown-group", sig != NULL ? sig : "unknown-sigalg");
    if (t->alpn[0] != '\0' && n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, " alpn=%s", t->alpn);
}

int bench_tls_leaf_fingerprint(const SSL *ssl, uint8_t out[32])
{
    const STACK_OF(CRYPTO_BUFFER) *chain = SSL_get0_peer_certificates(ssl);
    const CRYPTO_BUFFER *leaf;

    if (chain == NULL || sk_CRYPTO_BUFFER_num(chain) == 0)
        return -ENOENT;
    leaf = sk_CRYPTO_BUFFER_value(chain, 0);
    SHA256(CRYPTO_BUFFER_data(leaf), CRYPTO_BUFFER_len(leaf), out);
    return 0;
}

const char *bench_tls_error_reason(const SSL *ssl, int sys_errno, char *buf, size_t len)
{
    uint32_t e = ERR_get_error();
    const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
    long vr;

    ERR_clear_error();
    if (reason == NULL) {
        const char *name = sys_errno != 0 ? strerrorname_np(sys_errno) : NULL;

        snprintf(buf, len, "%s", name != NULL ? name : "unknown");
        return buf;
    }
    // Only a failed --verify has an X.509 result worth adding (without it, the result is
    // meaningless).
    vr = (ssl != NULL && ERR_GET_LIB(e) == ERR_LIB_SSL &&
          ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED)
             ? SSL_get_verify_result(ssl)
             : X509_V_OK;
    if (vr != X509_V_OK)
        snprintf(buf, len, "%s (%s)", reason, X509_verify_cert_error_string(vr));
    else
        snprintf(buf, len, "%s", reason);
    return buf;
}
