// SPDX-License-Identifier: Apache-2.0
// net/conn.c: client connection life cycle: accept, TLS handshake stage, hand-over to the HTTP
// stage, close and deferred free (see net/conn.h).
#include "net/conn.h"
#include "core/assert.h"
#include "core/log.h"
#include "core/snapshot.h"
#include "core/stats.h"
#include "net/ports.h"
#include "net/proxy.h"
#include "tls/config.h"
#include "tls/conn.h"
#include "tls/hook.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

struct worker_conns {
    struct cds_list_head list;
};

static struct worker_conns *per_worker;
static _Atomic uint64_t next_conn_id;
static int stat_open = -1;
static int stat_total = -1;
static int stat_hs_timeouts = -1;
static int stat_throttled = -1;
// Client connections open in the whole process (every worker): what connections_throttle limits.
// One relaxed atomic add per accept and per close, beside a TLS handshake's cost.
static _Atomic int64_t open_conns;
// When this worker last warned that the throttle refused a connection (rate-limits the log).
static __thread uint64_t throttle_warned_ms;
#define THROTTLE_WARN_EVERY_MS 10000

int net_conns_init(int nworkers)
{
    per_worker = calloc((size_t)nworkers, sizeof(*per_worker));
    if (!per_worker)
        return -ENOMEM;
    for (int i = 0; i < nworkers; i++)
        CDS_INIT_LIST_HEAD(&per_worker[i].list);
    stat_open = core_stat_register_gauge("proxy.process.http.current_client_connections");
    stat_total = core_stat_register("proxy.process.http.total_client_connections");
    stat_hs_timeouts = core_stat_register("proxy.process.tlsedge.handshake_timeouts_in");
    stat_throttled = core_stat_register("proxy.process.net.connections_throttled_in");
    return 0;
}

void net_conns_raise_fd_limit(int64_t max_conns)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) < 0)
        return;
    if (r.rlim_cur < r.rlim_max) {
        struct rlimit want = {.rlim_cur = r.rlim_max, .rlim_max = r.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            r = want;
    }
    // Listeners, epoll sets, mailboxes, log files and signer connections: a generous margin.
    uint64_t need = max_conns > 0 ? 2 * (uint64_t)max_conns + 256 : 0;
    if (r.rlim_cur != RLIM_INFINITY && need > r.rlim_cur)
        core_log_warn("the descriptor limit (ulimit -n) is %llu: fewer than the about %llu that "
                      "proxy.config.net.connections_throttle %lld needs; beyond it accepting "
                      "backs off (proxy.process.tlsedge.accept_backoffs)",
                      (unsigned long long)r.rlim_cur, (unsigned long long)need,
                      (long long)max_conns);
}

void net_conn_peer_text(const struct net_conn *c, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    uint16_t port = 0;
    if (c->peer.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&c->peer;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        port = ntohs(a->sin6_port);
        snprintf(buf, len, "[%s]:%u", ip, port);
        return;
    }
    const struct sockaddr_in *a = (const struct sockaddr_in *)&c->peer;
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
    port = ntohs(a->sin_port);
    snprintf(buf, len, "%s:%u", ip, port);
}

static void free_conn(struct core_msg *msg)
{
    struct net_conn *c = caa_container_of(msg, struct net_conn, free_msg);
    if (net_http_busy(c->http)) {
        // A resume message is queued: the mailbox is FIFO, so freeing after it is safe.
        core_worker_post(c->w, &c->free_msg);
        return;
    }
    net_http_free(c->http);
    tls_conn_free(c->tls);
    free(c);
}

void net_conn_close(struct net_conn *c)
{
    if (c->state == NET_CONN_CLOSED)
        return;
    CORE_DEBUG("net", "[%llu] close", (unsigned long long)c->id);
    c->state = NET_CONN_CLOSED;
    core_timer_disarm(core_worker_wheel(c->w), &c->timer);
    net_http_close(c);
    if (c->tls)
        tls_conn_shutdown(c->tls);
    // close() also removes the descriptor from the epoll set (it is never duplicated).
    close(c->fd);
    c->fd = -1;
    cds_list_del(&c->link);
    core_stat_add(stat_open, -1);
    atomic_fetch_sub_explicit(&open_conns, 1, memory_order_relaxed);
    core_worker_release(c->w);
    // Events for this connection's other descriptors may still be queued in this iteration.
    c->free_msg.fn = free_conn;
    core_worker_defer(c->w, &c->free_msg);
}

void net_conn_shutdown_write(struct net_conn *c)
{
    if (c->state == NET_CONN_CLOSED)
        return;
    if (c->tls)
        tls_conn_shutdown(c->tls);
    else
        shutdown(c->fd, SHUT_WR);
}

void net_conn_arm(struct net_conn *c, uint64_t ms)
{
    if (ms == 0)
        core_timer_disarm(core_worker_wheel(c->w), &c->timer);
    else
        core_timer_arm(core_worker_wheel(c->w), &c->timer, ms);
}

ssize_t net_conn_read(struct net_conn *c, void *buf, size_t len)
{
    if (c->tls)
        return tls_conn_read(c->tls, buf, len);
    for (;;) {
        ssize_t n = read(c->fd, buf, len);
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return -errno;
    }
}

ssize_t net_conn_write(struct net_conn *c, const void *buf, size_t len)
{
    if (c->tls)
        return tls_conn_write(c->tls, buf, len);
    for (;;) {
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return -errno;
    }
}

static void start_http(struct net_conn *c)
{
    c->state = NET_CONN_HTTP;
    net_conn_arm(c, 0);
    if (net_http_start(c) < 0)
        net_conn_close(c);
}

// Relays the connection to a route instead of the HTTP stage: blind (no TLS here: the buffered
// ClientHello goes first, then raw bytes both ways), forward (the decrypted bytes as they are)
// or partial blind (the decrypted bytes over a new TLS session to the route).
static void start_route(struct net_conn *c, bool blind)
{
    char *route = strdup(tls_conn_route(c->tls));
    bool tls = !blind && tls_conn_route_tls(c->tls);
    uint8_t *head = NULL;
    size_t n = 0;
    void *hooks = NULL; // a blind tunnel's VCONN_CLOSE runs when the tunnel ends
    if (blind) {
        n = tls_conn_take_buffered(c->tls, &head);
        hooks = tls_hook_detach(c->tls);
        tls_conn_free(c->tls);
        c->tls = NULL;
    }
    c->state = NET_CONN_HTTP;
    net_conn_arm(c, 0);
    if (!route || net_http_start_route(c, route, head, n, tls, hooks) < 0) {
        tls_hook_close_detached(hooks);
        net_conn_close(c);
    }
    free(route);
}

static void run_handshake(struct net_conn *c)
{
    if (c->state != NET_CONN_TLS_HANDSHAKE)
        return; // closed while a key operation was in flight
    struct core_snapshot *snap = core_snapshot_get();
    const struct tls_config *tc = core_snapshot_part(snap, CORE_SNAP_TLS);
    if (!tc) {
        net_conn_close(c);
        return;
    }
    enum tls_step s = tls_conn_handshake(c->tls, tc);
    if (s == TLS_STEP_TUNNEL || (s == TLS_STEP_DONE && tls_conn_route(c->tls)))
        start_route(c, s == TLS_STEP_TUNNEL);
    else if (s == TLS_STEP_DONE)
        start_http(c);
    else if (s == TLS_STEP_FAILED)
        net_conn_close(c);
    // TLS_STEP_PENDING: the handshake pool works on it; on_resume runs the handshake again.
}

static void on_resume(void *arg)
{
    run_handshake(arg);
}

static void on_client_event(struct core_event *ev, uint32_t events)
{
    struct net_conn *c = caa_container_of(ev, struct net_conn, ev);
    if (c->tls && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        tls_conn_note_readable(c->tls);
    if (c->tls && (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        tls_conn_note_hangup(c->tls);
    switch (c->state) {
    case NET_CONN_TLS_HANDSHAKE:
        run_handshake(c);
        break;
    case NET_CONN_HTTP:
        net_http_on_client_event(c, events);
        break;
    case NET_CONN_CLOSED:
        break;
    }
}

static void on_timer(struct core_timer *t, void *arg)
{
    struct net_conn *c = arg;
    switch (c->state) {
    case NET_CONN_TLS_HANDSHAKE: {
        char peer[64];
        net_conn_peer_text(c, peer, sizeof(peer));
        core_stat_inc(stat_hs_timeouts);
        CORE_DEBUG("ssl", "[%llu] handshake timeout from %s", (unsigned long long)c->id, peer);
        net_conn_close(c);
        break;
    }
    case NET_CONN_HTTP:
        net_http_on_timeout(c);
        break;
    case NET_CONN_CLOSED:
        break;
    }
}

static bool bound_to_one_address(const struct net_port *p)
{
    if (p->addr.ss_family == AF_INET6)
        return !IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&p->addr)->sin6_addr);
    return ((const struct sockaddr_in *)&p->addr)->sin_addr.s_addr != htonl(INADDR_ANY);
}

static struct net_conn *conn_new(struct core_worker *w, int fd, const struct net_port *port,
                                 const struct sockaddr *peer, socklen_t peerlen)
{
    struct net_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->w = w;
    c->fd = fd;
    c->port = port;
    c->id = atomic_fetch_add_explicit(&next_conn_id, 1, memory_order_relaxed) + 1;
    memcpy(&c->peer, peer, peerlen < sizeof(c->peer) ? peerlen : sizeof(c->peer));
    // The accepting address decides the certificate (dest_ip): known without a system call
    // unless the port listens on a wildcard address.
    socklen_t ll = sizeof(c->local);
    if (bound_to_one_address(port) || getsockname(fd, (struct sockaddr *)&c->local, &ll) < 0)
        memcpy(&c->local, &port->addr, sizeof(c->local));
    c->ev.fn = on_client_event;
    core_timer_init(&c->timer, on_timer, c);
    return c;
}

// Takes a slot under proxy.config.net.connections_throttle. Returns false when every slot is
// taken: the caller closes the new connection at once (ATS behaviour), so it neither waits in the
// backlog nor costs more than an accept and a close. The count is taken first and given back on
// refusal, so concurrent workers never overshoot the limit.
static bool throttle_admit(struct core_worker *w, const struct net_port *port)
{
    const struct net_http_config *hc = core_snapshot_part(core_snapshot_get(), CORE_SNAP_HTTP);
    int64_t limit = hc ? hc->max_client_conns : 0;
    int64_t open = atomic_fetch_add_explicit(&open_conns, 1, memory_order_relaxed);
    if (limit <= 0 || open < limit)
        return true;
    atomic_fetch_sub_explicit(&open_conns, 1, memory_order_relaxed);
    core_stat_inc(stat_throttled);
    uint64_t now = core_now_ms();
    if (throttle_warned_ms == 0 || now - throttle_warned_ms >= THROTTLE_WARN_EVERY_MS) {
        throttle_warned_ms = now;
        core_log_warn("port %u: %lld client connections open, connections_throttle reached: "
                      "closing new connections at once (worker %d; next warning in %d s)",
                      port->port, (long long)open, core_worker_id(w),
                      THROTTLE_WARN_EVERY_MS / 1000);
    }
    return false;
}

void net_conn_accept(struct core_worker *w, int fd, const struct net_port *port,
                     const struct sockaddr *peer, socklen_t peerlen)
{
    if (!throttle_admit(w, port)) {
        close(fd);
        return;
    }
    struct net_conn *c = conn_new(w, fd, port, peer, peerlen);
    if (!c) {
        atomic_fetch_sub_explicit(&open_conns, 1, memory_order_relaxed);
        close(fd);
        return;
    }
    if (core_worker_add(w, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP, &c->ev) < 0) {
        atomic_fetch_sub_explicit(&open_conns, 1, memory_order_relaxed);
        close(fd);
        free(c);
        return;
    }
    cds_list_add(&c->link, &per_worker[core_worker_id(w)].list);
    core_worker_hold(w);
    core_stat_add(stat_open, 1);
    core_stat_inc(stat_total);
    CORE_DEBUG("net", "[%llu] accepted on port %u%s", (unsigned long long)c->id, port->port,
               port->ssl ? " (ssl)" : "");
    if (!port->ssl) {
        start_http(c);
        return;
    }
    c->state = NET_CONN_TLS_HANDSHAKE;
    c->tls = tls_conn_new(fd, c->id, (struct sockaddr *)&c->local, (struct sockaddr *)&c->peer);
    if (!c->tls) {
        net_conn_close(c);
        return;
    }
    tls_conn_set_resume(c->tls, on_resume, c);
    tls_conn_set_passthrough(c->tls, port->tr_pass);
    const struct tls_config *tc = core_snapshot_part(core_snapshot_get(), CORE_SNAP_TLS);
    net_conn_arm(c, tc ? tc->handshake_timeout_ms : 30000);
    // The ClientHello may already be here: the edge came before registration.
    run_handshake(c);
}

void net_conns_stop_worker(struct core_worker *w)
{
    struct net_conn *c, *tmp;
    cds_list_for_each_entry_safe(c, tmp, &per_worker[core_worker_id(w)].list, link)
    {
        c->stop_after_response = true;
        if (c->state == NET_CONN_HTTP && net_http_idle(c))
            net_conn_close(c);
    }
}
