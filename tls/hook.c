// SPDX-License-Identifier: Apache-2.0
// tls/hook.c: the handshake's hook points: BoringSSL callbacks that ask hooks/ (through struct
// tls_hook_ops) whether a connection may go on, and the per-point progress that makes a repeated
// callback answer from state (see tls/hook.h); and the hook state of origin connections.
#include "tls/hook.h"
#include "core/log.h"
#include "tls/conn.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static const struct tls_hook_ops *ops;
static int ex_out = -1; // the SSL ex_data slot of struct tls_out
static void out_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int index, long argl,
                     void *argp);

static const char *const hook_names[] = {
    [TLS_HOOK_VCONN_START] = "VCONN_START",     [TLS_HOOK_CLIENT_HELLO] = "CLIENT_HELLO",
    [TLS_HOOK_SERVERNAME] = "SERVERNAME",       [TLS_HOOK_CERT] = "CERT",
    [TLS_HOOK_VERIFY_CLIENT] = "VERIFY_CLIENT", [TLS_HOOK_VCONN_CLOSE] = "VCONN_CLOSE",
    [TLS_HOOK_OUTBOUND_START] = "OUTBOUND_START", [TLS_HOOK_VERIFY_SERVER] = "VERIFY_SERVER",
    [TLS_HOOK_OUTBOUND_CLOSE] = "OUTBOUND_CLOSE",
};

void tls_hook_ops_set(const struct tls_hook_ops *o)
{
    if (ex_out < 0)
        ex_out = SSL_get_ex_new_index(0, NULL, NULL, NULL, out_free);
    ops = o;
}

bool tls_hook_wanted(void)
{
    if (!ops)
        return false;
    for (int h = 0; h < TLS_HOOK_INBOUND_COUNT; h++)
        if (ops->active((enum tls_hook)h))
            return true;
    return false;
}

// Runs point h of a client's (c) or an origin's (o) connection, whose hook state is hk, or
// answers from its recorded progress.
static enum tls_hook_verdict gate(struct tls_conn_hooks *hk, enum tls_hook h, struct tls_conn *c,
                                  struct tls_out *o, uint64_t id)
{
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
    enum tls_hook_verdict v = c ? ops->run(c, h) : ops->run_out(o, h);
    if (v == TLS_HOOK_GO)
        hk->progress[h] = TLS_HOOK_DONE;
    else if (v == TLS_HOOK_FAIL)
        hk->progress[h] = TLS_HOOK_FAILED;
    CORE_DEBUG("ssl", "[%llu] %s hooks: %s", (unsigned long long)id, hook_names[h],
               v == TLS_HOOK_GO ? "done" : v == TLS_HOOK_FAIL ? "error" : "paused");
    return v;
}

enum tls_hook_verdict tls_hook_gate(struct tls_conn *c, enum tls_hook h)
{
    return gate(tls_conn_hooks(c), h, c, NULL, tls_conn_id(c));
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

void *tls_hook_detach(struct tls_conn *c)
{
    struct tls_conn_hooks *hk = tls_conn_hooks(c);
    if (hk->progress[TLS_HOOK_VCONN_CLOSE] != TLS_HOOK_NONE || !ops ||
        (!hk->state && !ops->active(TLS_HOOK_VCONN_CLOSE)))
        return NULL;
    hk->progress[TLS_HOOK_VCONN_CLOSE] = TLS_HOOK_DONE; // c's own close runs nothing now
    X509_STORE_CTX_free(hk->verify_ctx);
    hk->verify_ctx = NULL;
    return ops->detach(c);
}

void tls_hook_close_detached(void *state)
{
    if (state && ops)
        ops->close_detached(state);
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
    case TLS_HOOK_GO: // a TSVConnTunnel stops the handshake here (tls/conn.c sees the retry)
        return tls_conn_tunnel_requested(c) ? ssl_select_cert_retry : ssl_select_cert_success;
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
    if (tls_conn_tunnel_requested(c))
        return -1; // TSVConnTunnel from SERVERNAME (or earlier): stop before anything is sent
    switch (tls_hook_gate(c, TLS_HOOK_CERT)) {
    case TLS_HOOK_GO:
        return tls_conn_tunnel_requested(c) ? -1 : 1;
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

// ---- outbound ----

// struct tls_out: an origin connection's hook state, owned by its SSL (ex_data; freed with it).
struct tls_out {
    SSL *ssl;
    int fd;
    uint64_t id;
    bool verify_async;
    struct tls_conn_hooks hk;
    void (*resume)(void *arg);
    void *arg;
    struct sockaddr_storage local, peer;
    char sni[256];
};

static void out_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int index, long argl,
                     void *argp)
{
    struct tls_out *o = ptr;
    if (!o)
        return;
    // Normally tls_out_close ran (tls_origin_ssl_free); the hooks' state is then gone.
    X509_STORE_CTX_free(o->hk.verify_ctx);
    free(o);
}

bool tls_out_wanted(void)
{
    if (!ops)
        return false;
    for (int h = TLS_HOOK_INBOUND_COUNT; h < TLS_HOOK_COUNT; h++)
        if (ops->active((enum tls_hook)h))
            return true;
    return false;
}

struct tls_out *tls_out_attach(SSL *ssl, int fd, uint64_t id, const char *sni,
                               const struct sockaddr *peer, bool verify_async,
                               void (*resume)(void *arg), void *arg)
{
    if (ex_out < 0) // tls_hook_ops_set was never called: no plugin runtime
        return NULL;
    struct tls_out *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->ssl = ssl;
    o->fd = fd;
    o->id = id;
    o->verify_async = verify_async;
    o->resume = resume;
    o->arg = arg;
    unsigned char ip[16];
    if (sni && inet_pton(AF_INET, sni, ip) != 1 && inet_pton(AF_INET6, sni, ip) != 1)
        snprintf(o->sni, sizeof(o->sni), "%s", sni); // an address is never sent as SNI
    if (peer)
        memcpy(&o->peer, peer,
               peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
    socklen_t len = sizeof(o->local);
    if (getsockname(fd, (struct sockaddr *)&o->local, &len) < 0)
        o->local.ss_family = AF_UNSPEC;
    if (!SSL_set_ex_data(ssl, ex_out, o)) {
        free(o);
        return NULL;
    }
    return o;
}

struct tls_out *tls_out_of(const SSL *ssl)
{
    return ex_out >= 0 && ssl ? SSL_get_ex_data(ssl, ex_out) : NULL;
}

enum tls_hook_verdict tls_out_gate(struct tls_out *o, enum tls_hook h)
{
    return gate(&o->hk, h, NULL, o, o->id);
}

void tls_out_hook_done(struct tls_out *o, enum tls_hook h, bool ok)
{
    if (o->hk.progress[h] != TLS_HOOK_RUNNING)
        return;
    o->hk.progress[h] = ok ? TLS_HOOK_DONE : TLS_HOOK_FAILED;
    CORE_DEBUG("ssl", "[%llu] %s hooks re-enabled%s", (unsigned long long)o->id, hook_names[h],
               ok ? "" : " with an error");
    if (o->resume)
        o->resume(o->arg);
}

void tls_out_close(SSL *ssl)
{
    struct tls_out *o = tls_out_of(ssl);
    if (!o || o->hk.progress[TLS_HOOK_OUTBOUND_CLOSE] != TLS_HOOK_NONE)
        return;
    o->hk.progress[TLS_HOOK_OUTBOUND_CLOSE] = TLS_HOOK_DONE;
    o->resume = NULL; // nothing resumes a closing connection
    if (ops && (o->hk.state || ops->active(TLS_HOOK_OUTBOUND_CLOSE)))
        ops->close_out(o);
    X509_STORE_CTX_free(o->hk.verify_ctx);
    o->hk.verify_ctx = NULL;
}

struct tls_conn_hooks *tls_out_hooks(struct tls_out *o)
{
    return &o->hk;
}

SSL *tls_out_ssl(const struct tls_out *o)
{
    return o->ssl;
}

int tls_out_fd(const struct tls_out *o)
{
    return o->fd;
}

uint64_t tls_out_id(const struct tls_out *o)
{
    return o->id;
}

const struct sockaddr *tls_out_local(const struct tls_out *o)
{
    return o->local.ss_family == AF_UNSPEC ? NULL : (const struct sockaddr *)&o->local;
}

const struct sockaddr *tls_out_peer(const struct tls_out *o)
{
    return o->peer.ss_family == AF_UNSPEC ? NULL : (const struct sockaddr *)&o->peer;
}

const char *tls_out_sni(const struct tls_out *o)
{
    return o->sni[0] ? o->sni : NULL;
}

bool tls_out_pausing(const struct tls_out *o, enum tls_hook h)
{
    return h == TLS_HOOK_OUTBOUND_START || (h == TLS_HOOK_VERIFY_SERVER && o->verify_async);
}
