// SPDX-License-Identifier: Apache-2.0
// net/origin.c: the HTTP stage's side of an origin connection's bytes and TLS (see
// net/internal.h): reading and writing through the origin's SSL or socket, and the origin TLS
// handshake with its outbound hook points (OUTBOUND_START, VERIFY_SERVER pauses).
#include "core/log.h"
#include "core/snapshot.h"
#include "core/stats.h"
#include "core/worker.h"
#include "net/conn.h"
#include "net/internal.h"
#include "net/opool.h"
#include "net/proxy.h"
#include "tls/config.h"
#include "tls/hook.h"
#include "tls/origin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

// Maps an SSL_read/SSL_write result to the read(2)/send(2) convention of the flows: bytes, 0 at
// the end of the stream (close_notify, or a TCP close the origin made without one), -EAGAIN.
static ssize_t origin_ssl_result(struct net_http *h, int n)
{
    if (n > 0)
        return n;
    int e = SSL_get_error(h->ossl, n);
    int sys = errno;
    ERR_clear_error();
    switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        return n == 0 ? 0 : -(sys ? sys : EIO);
    default:
        return -EPROTO;
    }
}

ssize_t net_http_origin_read(void *ctx, void *buf, size_t len)
{
    struct net_http *h = ctx;
    if (h->ossl) {
        ERR_clear_error();
        return origin_ssl_result(h, SSL_read(h->ossl, buf, len > INT_MAX ? INT_MAX : (int)len));
    }
    // A short read emptied the socket: with edge-triggered epoll the next byte brings a new
    // event (which clears odrained), so reading again now would only return EAGAIN.
    if (h->odrained)
        return -EAGAIN;
    ssize_t n = read(h->ofd, buf, len);
    if (n > 0 && (size_t)n < len && !h->ohup)
        h->odrained = true;
    return n >= 0 ? n : -errno;
}

ssize_t net_http_origin_write(void *ctx, void *buf, size_t len)
{
    struct net_http *h = ctx;
    if (h->ossl) {
        ERR_clear_error();
        return origin_ssl_result(h, SSL_write(h->ossl, buf, len > INT_MAX ? INT_MAX : (int)len));
    }
    ssize_t n = send(h->ofd, buf, len, MSG_NOSIGNAL);
    return n >= 0 ? n : -errno;
}

// A paused outbound hook finished: pump h from the mailbox (never inside the plugin's call).
static void origin_tls_resume(void *arg)
{
    struct net_http *h = arg;
    if (!h->resume_pending) {
        h->resume_pending = true;
        core_worker_post(h->c->w, &h->resume);
    }
}

// Begins TLS on the connected origin socket (peer: the address connected to).
int net_origin_tls_start(struct net_http *h, const struct sockaddr_storage *peer)
{
    const struct tls_config *tc = core_snapshot_part(core_snapshot_get(), CORE_SNAP_TLS);
    const struct net_http_config *cfg = net_http_cfg();
    char ip[INET6_ADDRSTRLEN] = "", key[640];
    const void *a = peer->ss_family == AF_INET6
                        ? (const void *)&((const struct sockaddr_in6 *)peer)->sin6_addr
                        : (const void *)&((const struct sockaddr_in *)peer)->sin_addr;
    inet_ntop(peer->ss_family, a, ip, sizeof(ip));
    const char *name = net_http_sni(h)[0] ? net_http_sni(h) : NULL;
    const struct tls_origin_profile *prof =
        tc && tc->origin ? tls_origin_profile_for(tc->origin, tc->sni, name) : NULL;
    if (!prof || tls_origin_key(prof, ip, h->origin_port, name, key, sizeof(key)) < 0 ||
        !(h->ossl = tls_origin_ssl_new(tc->origin, prof, name, name, key)) ||
        !SSL_set_fd(h->ossl, h->ofd) ||
        (tls_out_wanted() &&
         !tls_out_attach(h->ossl, h->ofd, h->c->id, name, (const struct sockaddr *)peer,
                         tc->origin->hooks_decide, origin_tls_resume, h))) {
        net_http_reply(h, 502, "Bad Gateway\n", true);
        return 1;
    }
    h->verify_wait = false;
    net_http_set_state(h, NET_HTTP_ORIGIN_TLS);
    net_conn_arm(h->c, cfg ? cfg->connect_timeout_ms : 30000);
    return net_origin_tls_step(h);
}

// The origin's TLS session is up: the request flows, or a tunnel (partial_blind_route) opens.
static void origin_tls_ready(struct net_http *h)
{
    if (h->tunnel)
        net_tunnel_open(h);
    else
        net_http_set_state(h, NET_HTTP_FORWARD);
}

// The origin handshake: on success the request flows; a failure (verification included) is
// 502, counted by reason and logged with the origin, the name and the client.
int net_origin_tls_step(struct net_http *h)
{
    char peer[64];
    struct tls_out *o = tls_out_of(h->ossl);
    enum tls_hook_verdict start = o ? tls_out_gate(o, TLS_HOOK_OUTBOUND_START) : TLS_HOOK_GO;
    if (start == TLS_HOOK_WAIT)
        return 0; // OUTBOUND_START plugins have not re-enabled yet
    if (start == TLS_HOOK_FAIL) {
        net_conn_peer_text(h->c, peer, sizeof(peer));
        core_stat_inc(net_http_st.outbound_hook_fail);
        core_log_warn("origin %s:%u (%s) for client %s: an OUTBOUND_START plugin failed the "
                      "connection",
                      net_http_host(h), h->origin_port, net_http_sni(h), peer);
        net_http_reply(h, 502, "Bad Gateway: a plugin refused the origin connection\n", true);
        return 1;
    }
    ERR_clear_error();
    int r = SSL_do_handshake(h->ossl);
    if (r != 1) {
        int e = SSL_get_error(h->ossl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return 0;
        if (e == SSL_ERROR_WANT_CERTIFICATE_VERIFY) {
            // VERIFY_SERVER plugins decide (verify.server 2): one deadline for their verdict.
            if (!h->verify_wait) {
                const struct net_http_config *cfg = net_http_cfg();
                h->verify_wait = true;
                net_conn_arm(h->c, cfg ? cfg->verify_timeout_ms : 30000);
            }
            return 0;
        }
    }
    h->verify_wait = false;
    tls_origin_count_result(h->ossl, r == 1);
    enum tls_verify_verdict v = tls_origin_verdict(h->ossl);
    bool verified = v == TLS_VERDICT_OK || v == TLS_VERDICT_NONE;
    if (r == 1 && verified) {
        origin_tls_ready(h);
        return 1;
    }
    net_conn_peer_text(h->c, peer, sizeof(peer));
    if (r == 1) { // PERMISSIVE: log and go on
        core_log_warn("origin %s:%u (%s) for client %s: certificate not verified (%s); "
                      "connecting anyway (policy PERMISSIVE)",
                      net_http_host(h), h->origin_port, net_http_sni(h), peer,
                      tls_origin_verdict_name(v));
        origin_tls_ready(h);
        return 1;
    }
    core_log_warn("origin %s:%u (%s) for client %s: TLS handshake failed: %s", net_http_host(h),
                  h->origin_port, net_http_sni(h), peer,
                  verified ? "handshake error" : tls_origin_verdict_name(v));
    ERR_clear_error();
    net_http_reply(h, 502, verified ? "Bad Gateway: TLS handshake with the origin failed\n"
                           : "Bad Gateway: the origin's certificate was not accepted\n",
          true);
    return 1;
}
