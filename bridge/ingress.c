// SPDX-License-Identifier: Apache-2.0
// bridge/ingress.c: one intercepted CONNECT's way to its tls_bridge peer: resolve, connect, TLS,
// replay the CONNECT, read the reply (see bridge/ingress.h). Each operation (struct bridge_up)
// is a state machine on the client's worker with its own socket, timer and deferred free.
#include "bridge/ingress.h"
#include "bridge/config.h"
#include "bridge/reply.h"
#include "core/assert.h"
#include "core/log.h"
#include "core/snapshot.h"
#include "core/stats.h"
#include "core/worker.h"
#include "net/intercept.h"
#include "net/resolve.h"
#include "tls/config.h"
#include "tls/hook.h"
#include "tls/origin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

// Bytes read from the peer at a time while its reply head is being parsed; what follows the
// head in the last read goes to net/ as the tunnel's first bytes.
#define READ_CHUNK 4096

enum bridge_up_state {
    BRIDGE_UP_RESOLVING,  // the peer's name is being looked up
    BRIDGE_UP_CONNECTING, // non-blocking connect to the peer
    BRIDGE_UP_HANDSHAKE,  // TLS handshake with the peer
    BRIDGE_UP_SEND,       // writing the client's CONNECT head
    BRIDGE_UP_REPLY,      // reading the peer's reply head
    BRIDGE_UP_FAILED,     // a failure waits to be reported (never reported inside start)
    BRIDGE_UP_DONE,       // terminal: reported (or cancelled); the free is deferred
};

static const char *const state_names[] = {
    [BRIDGE_UP_RESOLVING] = "RESOLVING", [BRIDGE_UP_CONNECTING] = "CONNECTING",
    [BRIDGE_UP_HANDSHAKE] = "HANDSHAKE", [BRIDGE_UP_SEND] = "SEND",
    [BRIDGE_UP_REPLY] = "REPLY",         [BRIDGE_UP_FAILED] = "FAILED",
    [BRIDGE_UP_DONE] = "DONE",
};

#define B(s) (1u << (s))
static const unsigned allowed[] = {
    [BRIDGE_UP_RESOLVING] = B(BRIDGE_UP_CONNECTING) | B(BRIDGE_UP_FAILED) | B(BRIDGE_UP_DONE),
    [BRIDGE_UP_CONNECTING] = B(BRIDGE_UP_HANDSHAKE) | B(BRIDGE_UP_FAILED) | B(BRIDGE_UP_DONE),
    [BRIDGE_UP_HANDSHAKE] = B(BRIDGE_UP_SEND) | B(BRIDGE_UP_FAILED) | B(BRIDGE_UP_DONE),
    [BRIDGE_UP_SEND] = B(BRIDGE_UP_REPLY) | B(BRIDGE_UP_FAILED) | B(BRIDGE_UP_DONE),
    [BRIDGE_UP_REPLY] = B(BRIDGE_UP_FAILED) | B(BRIDGE_UP_DONE),
    [BRIDGE_UP_FAILED] = B(BRIDGE_UP_DONE),
    [BRIDGE_UP_DONE] = 0,
};

// struct bridge_up: one intercepted CONNECT on its way to the peer. Owned by itself from start
// until it reported (or net/ cancelled it); then freed after the current loop iteration.
struct bridge_up {
    enum bridge_up_state state;
    struct core_worker *w;
    struct core_event ev;     // the peer socket's events
    struct core_timer timer;  // the current state's deadline (0 ms: a pending report)
    struct core_msg free_msg; // deferred free
    net_intercept_done_fn done;
    void *arg;
    bool in_start; // start has not returned yet: reports wait for the timer
    int fd;
    SSL *ssl;
    struct net_resolve *resolve;
    uint64_t conn_id;
    uint64_t connect_ms, reply_ms;
    char client[64];
    char target[300]; // what the client asked for: host:port
    char peer[300];   // the peer as configured
    char host[256];   // the peer's host and port
    uint16_t port;
    char where[200]; // the pair's configuration line
    char *head;      // the client's CONNECT head, sent to the peer
    size_t head_len, head_off;
    struct bridge_reply reply;
    int fail_status; // FAILED: what is reported
    char fail_reason[600];
};

static struct {
    int connects, tunnels, refusals, connect_failures, handshake_failures, bad_replies, timeouts;
} st = {-1, -1, -1, -1, -1, -1, -1};

void bridge_stats_register(void)
{
    st.connects = core_stat_register("proxy.process.tlsedge.tls_bridge.connects");
    st.tunnels = core_stat_register("proxy.process.tlsedge.tls_bridge.tunnels");
    st.refusals = core_stat_register("proxy.process.tlsedge.tls_bridge.peer_refusals");
    st.connect_failures = core_stat_register("proxy.process.tlsedge.tls_bridge.connect_failures");
    st.handshake_failures =
        core_stat_register("proxy.process.tlsedge.tls_bridge.handshake_failures");
    st.bad_replies = core_stat_register("proxy.process.tlsedge.tls_bridge.bad_replies");
    st.timeouts = core_stat_register("proxy.process.tlsedge.tls_bridge.timeouts");
}

static void set_state(struct bridge_up *up, enum bridge_up_state to)
{
    CORE_ASSERT(allowed[up->state] & B(to));
    CORE_DEBUG("tls_bridge", "[%llu] %s -> %s", (unsigned long long)up->conn_id,
               state_names[up->state], state_names[to]);
    up->state = to;
}

static void arm(struct bridge_up *up, uint64_t ms)
{
    core_timer_arm(core_worker_wheel(up->w), &up->timer, ms);
}

static void free_up(struct core_msg *msg)
{
    struct bridge_up *up = caa_container_of(msg, struct bridge_up, free_msg);
    free(up->head);
    free(up);
}

// Releases everything up holds (what was handed to net/ is no longer up's) and frees it after
// the current loop iteration: an event for its socket may still be queued in this one.
static void retire(struct bridge_up *up)
{
    core_timer_disarm(core_worker_wheel(up->w), &up->timer);
    net_resolve_cancel(up->resolve);
    up->resolve = NULL;
    if (up->ssl) {
        SSL_shutdown(up->ssl); // close_notify when the socket takes it; never waits
        tls_origin_ssl_free(up->ssl);
        up->ssl = NULL;
        ERR_clear_error();
    }
    if (up->fd >= 0) {
        core_worker_del(up->w, up->fd);
        close(up->fd);
        up->fd = -1;
    }
    set_state(up, BRIDGE_UP_DONE);
    up->free_msg.fn = free_up;
    core_worker_defer(up->w, &up->free_msg);
}

// Reports res to net/ and retires up.
static void report(struct bridge_up *up, const struct net_intercept_result *res)
{
    net_intercept_done_fn done = up->done;
    up->done = NULL;
    if (res->status == 200) { // the socket and session are net/'s now
        core_worker_del(up->w, up->fd);
        up->fd = -1;
        up->ssl = NULL;
    }
    retire(up);
    if (done)
        done(up->arg, res);
}

// A failure: logged (naming the peer, the target, the client and the pair) and counted by the
// caller; reported as status to the client, once start has returned.
static void fail(struct bridge_up *up, int stat, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(struct bridge_up *up, int stat, int status, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    core_stat_inc(stat);
    core_log_warn("tls_bridge: peer %s:%u (%s) for CONNECT %s from %s: %s", up->host, up->port,
                  up->where, up->target, up->client, why);
    up->fail_status = status;
    // The client learns what went wrong, not where: the peer's address stays in the log.
    snprintf(up->fail_reason, sizeof(up->fail_reason), "%s: tls_bridge peer: %s",
             status == 504 ? "Gateway Timeout" : "Bad Gateway", why);
    set_state(up, BRIDGE_UP_FAILED);
    if (up->in_start) {
        arm(up, 0);
        return;
    }
    struct net_intercept_result res = {.status = status, .reason = up->fail_reason, .fd = -1};
    report(up, &res);
}

// The TLS library's reason for the last failure ("TLSV1_ALERT_CERTIFICATE_REQUIRED"), or what.
static const char *ssl_reason(const char *what)
{
    const char *r = ERR_reason_error_string(ERR_peek_error());
    return r ? r : what;
}

static void advance(struct bridge_up *up);

static void on_event(struct core_event *ev, uint32_t events)
{
    struct bridge_up *up = caa_container_of(ev, struct bridge_up, ev);
    if (up->state != BRIDGE_UP_DONE && up->state != BRIDGE_UP_FAILED)
        advance(up);
}

static void connect_to(struct bridge_up *up, const struct sockaddr_storage *addr, socklen_t len)
{
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail(up, st.connect_failures, 502, "socket: %s", strerror(errno));
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)addr, len) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        fail(up, st.connect_failures, 502, "connect: %s", strerror(e));
        return;
    }
    up->fd = fd;
    up->ev.fn = on_event;
    if (core_worker_add(up->w, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP, &up->ev) < 0) {
        close(fd);
        up->fd = -1;
        fail(up, st.connect_failures, 502, "cannot watch the socket");
        return;
    }
    set_state(up, BRIDGE_UP_CONNECTING);
    arm(up, up->connect_ms);
}

static void on_resolved(void *arg, int rc, const struct sockaddr_storage *addr, socklen_t len)
{
    struct bridge_up *up = arg;
    up->resolve = NULL;
    if (rc < 0)
        fail(up, st.connect_failures, 502, "cannot resolve the peer's name (%s)",
             rc == -ENOENT ? "no such host" : strerror(-rc));
    else
        connect_to(up, addr, len);
}

static void advance(struct bridge_up *up);

// A paused outbound hook (OUTBOUND_START, VERIFY_SERVER) re-enabled: the handshake goes on.
static void hook_resume(void *arg)
{
    advance(arg);
}

// The TCP connection is up: the TLS session to the peer, as for a TLS origin (tls/origin.h): the
// peer's host is the SNI (none for an address) and the name its certificate must carry. Plugins'
// outbound hooks run on it as on any origin connection (the handshake deadline covers their
// pauses).
static bool start_tls(struct bridge_up *up)
{
    struct sockaddr_storage peer;
    socklen_t plen = sizeof(peer);
    char ip[INET6_ADDRSTRLEN] = "", key[640];
    if (getpeername(up->fd, (struct sockaddr *)&peer, &plen) == 0)
        inet_ntop(peer.ss_family,
                  peer.ss_family == AF_INET6
                      ? (const void *)&((const struct sockaddr_in6 *)&peer)->sin6_addr
                      : (const void *)&((const struct sockaddr_in *)&peer)->sin_addr,
                  ip, sizeof(ip));
    const struct tls_config *tc = core_snapshot_part(core_snapshot_get(), CORE_SNAP_TLS);
    const struct tls_origin_profile *prof =
        tc && tc->origin ? tls_origin_profile_for(tc->origin, tc->sni, up->host) : NULL;
    if (!prof || tls_origin_key(prof, ip, up->port, up->host, key, sizeof(key)) < 0 ||
        !(up->ssl = tls_origin_ssl_new(tc->origin, prof, up->host, up->host, key)) ||
        !SSL_set_fd(up->ssl, up->fd) ||
        (tls_out_wanted() &&
         !tls_out_attach(up->ssl, up->fd, up->conn_id, up->host, (const struct sockaddr *)&peer,
                         tc->origin->hooks_decide, hook_resume, up))) {
        ERR_clear_error();
        fail(up, st.handshake_failures, 502, "cannot make the TLS session");
        return false;
    }
    set_state(up, BRIDGE_UP_HANDSHAKE);
    arm(up, up->connect_ms);
    return true;
}

// Returns true when the connect finished (state moved on or failed), false while in progress.
static bool step_connecting(struct bridge_up *up)
{
    struct sockaddr_storage peer;
    int rc = net_connect_result(up->fd, &peer);
    if (rc == -EINPROGRESS)
        return false;
    if (rc < 0) {
        fail(up, st.connect_failures, 502, "connect: %s", strerror(-rc));
        return true;
    }
    return start_tls(up);
}

static bool step_handshake(struct bridge_up *up)
{
    struct tls_out *o = tls_out_of(up->ssl);
    enum tls_hook_verdict start = o ? tls_out_gate(o, TLS_HOOK_OUTBOUND_START) : TLS_HOOK_GO;
    if (start == TLS_HOOK_WAIT)
        return false;
    if (start == TLS_HOOK_FAIL) {
        fail(up, st.handshake_failures, 502, "an OUTBOUND_START plugin refused the connection");
        return true;
    }
    ERR_clear_error();
    int r = SSL_do_handshake(up->ssl);
    if (r != 1) {
        int e = SSL_get_error(up->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ||
            e == SSL_ERROR_WANT_CERTIFICATE_VERIFY) // VERIFY_SERVER plugins deciding
            return false;
    }
    tls_origin_count_result(up->ssl, r == 1);
    enum tls_verify_verdict v = tls_origin_verdict(up->ssl);
    bool verified = v == TLS_VERDICT_OK || v == TLS_VERDICT_NONE;
    if (r != 1) {
        fail(up, st.handshake_failures, 502, "TLS handshake failed: %s",
             verified ? ssl_reason("handshake error") : tls_origin_verdict_name(v));
        ERR_clear_error();
        return true;
    }
    if (!verified) // PERMISSIVE: log and go on, as for origins
        core_log_warn("tls_bridge: peer %s:%u: certificate not verified (%s); connecting "
                      "anyway (policy PERMISSIVE)",
                      up->host, up->port, tls_origin_verdict_name(v));
    set_state(up, BRIDGE_UP_SEND);
    arm(up, up->reply_ms);
    return true;
}

// A failed SSL_read/SSL_write during SEND or REPLY. In TLS 1.3 a peer checks the client
// certificate after the client's handshake finished, so a refusal (certificate_required,
// unknown_ca) arrives here as an alert: that is a handshake failure, not a bad reply.
static void io_failed(struct bridge_up *up, int r, const char *what)
{
    int e = SSL_get_error(up->ssl, r);
    if (e == SSL_ERROR_SSL)
        fail(up, st.handshake_failures, 502, "the peer refused the TLS session (%s) while %s",
             ssl_reason("protocol error"), what);
    else if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && r == 0))
        fail(up, st.bad_replies, 502, "the peer closed the connection while %s", what);
    else
        fail(up, st.bad_replies, 502, "%s: %s", what, strerror(errno ? errno : EIO));
    ERR_clear_error();
}

static bool step_send(struct bridge_up *up)
{
    while (up->head_off < up->head_len) {
        size_t left = up->head_len - up->head_off;
        ERR_clear_error();
        int n = SSL_write(up->ssl, up->head + up->head_off, left > INT_MAX ? INT_MAX : (int)left);
        if (n <= 0) {
            int e = SSL_get_error(up->ssl, n);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return false;
            io_failed(up, n, "sending the CONNECT");
            return true;
        }
        up->head_off += (size_t)n;
    }
    set_state(up, BRIDGE_UP_REPLY);
    return true;
}

// The peer's reply head ended: 200 hands the connection to net/; another status is passed on.
static void replied(struct bridge_up *up, const uint8_t *extra, size_t extra_len)
{
    struct bridge_reply *r = &up->reply;
    if (r->status == 200) {
        core_stat_inc(st.tunnels);
        CORE_DEBUG("tls_bridge", "[%llu] CONNECT %s through peer %s:%u: 200, tunnel open",
                   (unsigned long long)up->conn_id, up->target, up->host, up->port);
        struct net_intercept_result res = {
            .status = 200, .fd = up->fd, .ssl = up->ssl, .extra = extra, .extra_len = extra_len};
        report(up, &res);
        return;
    }
    core_stat_inc(st.refusals);
    core_log_note("tls_bridge: peer %s:%u answered CONNECT %s from %s with %d %s", up->host,
                  up->port, up->target, up->client, r->status, r->reason);
    char reason[BRIDGE_REPLY_REASON_MAX + 32];
    snprintf(reason, sizeof(reason), "%d %s (from the tls_bridge peer)", r->status, r->reason);
    struct net_intercept_result res = {.status = r->status, .reason = reason, .fd = -1};
    report(up, &res);
}

static bool step_reply(struct bridge_up *up)
{
    uint8_t buf[READ_CHUNK];
    for (;;) {
        ERR_clear_error();
        int n = SSL_read(up->ssl, buf, sizeof(buf));
        if (n <= 0) {
            int e = SSL_get_error(up->ssl, n);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return false;
            io_failed(up, n, "waiting for its reply");
            return true;
        }
        size_t used = bridge_reply_feed(&up->reply, buf, (size_t)n);
        switch (up->reply.state) {
        case BRIDGE_REPLY_STATUS:
        case BRIDGE_REPLY_FIELDS:
            continue;
        case BRIDGE_REPLY_DONE:
            replied(up, buf + used, (size_t)n - used);
            return true;
        case BRIDGE_REPLY_INVALID:
            fail(up, st.bad_replies, 502, "its reply is not an HTTP/1.x status line");
            return true;
        case BRIDGE_REPLY_TOO_BIG:
            fail(up, st.bad_replies, 502, "its reply head is longer than %d bytes",
                 BRIDGE_REPLY_HEAD_MAX);
            return true;
        }
    }
}

// Runs up's machine until it waits for the network or ended.
static void advance(struct bridge_up *up)
{
    bool moved = true;
    while (moved) {
        switch (up->state) {
        case BRIDGE_UP_CONNECTING:
            moved = step_connecting(up);
            break;
        case BRIDGE_UP_HANDSHAKE:
            moved = step_handshake(up);
            break;
        case BRIDGE_UP_SEND:
            moved = step_send(up);
            break;
        case BRIDGE_UP_REPLY:
            moved = step_reply(up);
            break;
        case BRIDGE_UP_RESOLVING:
        case BRIDGE_UP_FAILED:
        case BRIDGE_UP_DONE:
            return;
        }
    }
}

static void on_timer(struct core_timer *t, void *arg)
{
    struct bridge_up *up = arg;
    switch (up->state) {
    case BRIDGE_UP_RESOLVING:
    case BRIDGE_UP_CONNECTING:
        fail(up, st.timeouts, 504, "connect timed out");
        break;
    case BRIDGE_UP_HANDSHAKE:
        fail(up, st.timeouts, 504, "TLS handshake timed out");
        break;
    case BRIDGE_UP_SEND:
    case BRIDGE_UP_REPLY:
        fail(up, st.timeouts, 504, "no reply to the CONNECT in time");
        break;
    case BRIDGE_UP_FAILED: { // the failure found while start ran
        struct net_intercept_result res = {
            .status = up->fail_status, .reason = up->fail_reason, .fd = -1};
        report(up, &res);
        break;
    }
    case BRIDGE_UP_DONE:
        break;
    }
}

static struct bridge_up *up_new(const struct net_intercept_req *req, const struct bridge_dest *d)
{
    struct bridge_up *up = calloc(1, sizeof(*up));
    if (!up || !(up->head = malloc(req->head_len ? req->head_len : 1))) {
        free(up);
        return NULL;
    }
    memcpy(up->head, req->head, req->head_len);
    up->head_len = req->head_len;
    up->w = req->w;
    up->fd = -1;
    up->state = BRIDGE_UP_RESOLVING;
    up->conn_id = req->conn_id;
    up->connect_ms = req->connect_timeout_ms;
    up->reply_ms = req->reply_timeout_ms;
    snprintf(up->client, sizeof(up->client), "%s", req->client);
    snprintf(up->target, sizeof(up->target), strchr(req->host, ':') ? "[%s]:%u" : "%s:%u",
             req->host, (unsigned)req->port);
    snprintf(up->peer, sizeof(up->peer), "%s", d->peer);
    snprintf(up->host, sizeof(up->host), "%s", d->host);
    up->port = d->port;
    snprintf(up->where, sizeof(up->where), "%s", d->where);
    bridge_reply_init(&up->reply);
    core_timer_init(&up->timer, on_timer, up);
    return up;
}

// net_intercept_ops.start: a CONNECT whose target a pair matches goes to that pair's peer.
static int up_start(const struct net_intercept_req *req, net_intercept_done_fn done, void *arg,
                    void **op)
{
    const struct bridge_config *bc = core_snapshot_part(core_snapshot_get(), CORE_SNAP_BRIDGE);
    const struct bridge_dest *d = bridge_config_match(bc, req->host, req->port);
    if (!d)
        return 0;
    struct bridge_up *up = up_new(req, d);
    if (!up) {
        core_log_warn("tls_bridge: CONNECT %s:%u from %s: out of memory", req->host, req->port,
                      req->client);
        return -ENOMEM;
    }
    core_stat_inc(st.connects);
    CORE_DEBUG("tls_bridge", "[%llu] CONNECT %s from %s goes to peer %s (%s)",
               (unsigned long long)up->conn_id, up->target, up->client, up->peer, up->where);
    up->done = done;
    up->arg = arg;
    up->in_start = true;
    struct sockaddr_storage addr;
    socklen_t len;
    if (net_resolve_numeric(up->host, up->port, &addr, &len) == 0) {
        connect_to(up, &addr, len);
    } else if (!(up->resolve = net_resolve_start(up->w, up->host, up->port, on_resolved, up))) {
        fail(up, st.connect_failures, 502, "out of memory");
    } else {
        arm(up, up->connect_ms);
    }
    up->in_start = false;
    *op = up;
    return 1;
}

// net_intercept_ops.cancel: the client went away first.
static void up_cancel(void *op)
{
    struct bridge_up *up = op;
    CORE_DEBUG("tls_bridge", "[%llu] cancelled in %s", (unsigned long long)up->conn_id,
               state_names[up->state]);
    up->done = NULL;
    if (up->state != BRIDGE_UP_DONE)
        retire(up);
}

static const struct net_intercept_ops ops = {.start = up_start, .cancel = up_cancel};

void bridge_ingress_install(void)
{
    net_intercept_set(&ops);
}
