// SPDX-License-Identifier: Apache-2.0
// tls/hook.c: the handshake's hook points: BoringSSL callbacks that ask hooks/ (through struct
// tls_hook_ops) whether a connection may go on, and the per-point progress that makes a repeated
// callback answer from state (see tls/hook.h).
#include "tls/hook.h"
#include "core/log.h"
#include "tls/conn.h"

#include <stddef.h>

static const struct tls_hook_ops *ops;

static const char *const hook_names[] = {
    [TLS_HOOK_VCONN_START] = "VCONN_START",     [TLS_HOOK_CLIENT_HELLO] = "CLIENT_HELLO",
    [TLS_HOOK_SERVERNAME] = "SERVERNAME",       [TLS_HOOK_CERT] = "CERT",
    [TLS_HOOK_VERIFY_CLIENT] = "VERIFY_CLIENT", [TLS_HOOK_VCONN_CLOSE] = "VCONN_CLOSE",
};

void tls_hook_ops_set(const struct tls_hook_ops *o)
{
    ops = o;
}

bool tls_hook_wanted(void)
{
    if (!ops)
        return false;
    for (int h = 0; h < TLS_HOOK_COUNT; h++)
        if (ops->active((enum tls_hook)h))
            return true;
    return false;
}

enum tls_hook_verdict tls_hook_gate(struct tls_conn *c, enum tls_hook h)
{
    struct tls_conn_hooks *hk = tls_conn_hooks(c);
    switch ((enum tls_hook_progress)hk->progress[h]) {
    case TLS_HOOK_DONE:
        return TLS_HOOK_GO;
    case TLS_HOOK_FAILED:
        return TLS_HOOK_FAIL;
    case TLS_HOOK_RUNNING:
        return TLS_HOOK_WAIT;
    case TLS_HOOK_NONE:
        break;
    }
    if (!ops || !ops->active(h)) {
        hk->progress[h] = TLS_HOOK_DONE;
        return TLS_HOOK_GO;
    }
    // RUNNING before the call: a re-enable delivered during run() finds the point outstanding.
    hk->progress[h] = TLS_HOOK_RUNNING;
    enum tls_hook_verdict v = ops->run(c, h);
    if (v == TLS_HOOK_GO)
        hk->progress[h] = TLS_HOOK_DONE;
    else if (v == TLS_HOOK_FAIL)
        hk->progress[h] = TLS_HOOK_FAILED;
    CORE_DEBUG("ssl", "[%llu] %s hooks: %s", (unsigned long long)tls_conn_id(c), hook_names[h],
               v == TLS_HOOK_GO ? "done" : v == TLS_HOOK_FAIL ? "error" : "paused");
    return v;
}

void tls_conn_hook_done(struct tls_conn *c, enum tls_hook h, bool ok)
{
    struct tls_conn_hooks *hk = tls_conn_hooks(c);
    if (hk->progress[h] != TLS_HOOK_RUNNING)
        return;
    hk->progress[h] = ok ? TLS_HOOK_DONE : TLS_HOOK_FAILED;
    CORE_DEBUG("ssl", "[%llu] %s hooks re-enabled%s", (unsigned long long)tls_conn_id(c),
               hook_names[h], ok ? "" : " with an error");
    // Non-pausing points (SERVERNAME) finish after the handshake went on: nothing to resume.
    if (h == TLS_HOOK_VCONN_START || h == TLS_HOOK_CLIENT_HELLO || h == TLS_HOOK_CERT ||
        h == TLS_HOOK_VERIFY_CLIENT) // VERIFY_CLIENT is RUNNING only when it pauses (async)
        tls_conn_hook_resume(c);
}

void tls_hook_close(struct tls_conn *c)
{
    struct tls_conn_hooks *hk = tls_conn_hooks(c);
    if (hk->progress[TLS_HOOK_VCONN_CLOSE] != TLS_HOOK_NONE)
        return;
    hk->progress[TLS_HOOK_VCONN_CLOSE] = TLS_HOOK_DONE;
    if (ops && (hk->state || ops->active(TLS_HOOK_VCONN_CLOSE)))
        ops->close(c);
    X509_STORE_CTX_free(hk->verify_ctx);
    hk->verify_ctx = NULL;
}

// ---- BoringSSL callbacks ----

// CLIENT_HELLO: the select-certificate callback runs first in the server's ClientHello
// processing, and may ask to be called again (ssl_select_cert_retry), which SSL_do_handshake
// reports as SSL_ERROR_PENDING_CERTIFICATE.
static enum ssl_select_cert_result_t select_cert(const SSL_CLIENT_HELLO *hello)
{
    struct tls_conn *c = SSL_get_app_data(hello->ssl);
    if (!c)
        return ssl_select_cert_success;
    switch (tls_hook_gate(c, TLS_HOOK_CLIENT_HELLO)) {
    case TLS_HOOK_GO:
        return ssl_select_cert_success;
    case TLS_HOOK_WAIT:
        return ssl_select_cert_retry;
    case TLS_HOOK_FAIL:
        break;
    }
    return ssl_select_cert_error;
}

// SERVERNAME: BoringSSL cannot pause here (as OpenSSL in ATS): the handshake goes on whatever
// the plugins do, unless one re-enabled with an error inside its callback. ATS runs these hooks
// only when the client sent SNI.
static int servername(SSL *ssl, int *alert, void *arg)
{
    struct tls_conn *c = SSL_get_app_data(ssl);
    if (!c || !SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name))
        return SSL_TLSEXT_ERR_OK;
    if (tls_hook_gate(c, TLS_HOOK_SERVERNAME) == TLS_HOOK_FAIL) {
        *alert = SSL_AD_HANDSHAKE_FAILURE;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
}

// CERT: the cert callback runs when the server's certificate is chosen; -1 pauses
// (SSL_ERROR_WANT_X509_LOOKUP) and BoringSSL calls it again on resume. A plugin may replace the
// certificate here: BoringSSL reads the SSL's certificate only after this callback.
static int cert_cb(SSL *ssl, void *arg)
{
    struct tls_conn *c = SSL_get_app_data(ssl);
    if (!c)
        return 1;
    switch (tls_hook_gate(c, TLS_HOOK_CERT)) {
    case TLS_HOOK_GO:
        return 1;
    case TLS_HOOK_WAIT:
        return -1;
    case TLS_HOOK_FAIL:
        break;
    }
    return 0;
}

void tls_hook_ctx_init(SSL_CTX *ctx)
{
    SSL_CTX_set_select_certificate_cb(ctx, select_cert);
    SSL_CTX_set_tlsext_servername_callback(ctx, servername);
}

void tls_hook_ssl_init(SSL *ssl)
{
    SSL_set_cert_cb(ssl, cert_cb, NULL);
}
