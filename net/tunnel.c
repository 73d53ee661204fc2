// SPDX-License-Identifier: Apache-2.0
// net/tunnel.c: byte tunnels through the HTTP stage: CONNECT (connect_ports, 200, relay with
// half-close), CONNECTs an interceptor takes over (net/intercept.h: the tls_bridge), and
// connections routed to host:port without HTTP (blind tunnels, forward and partial blind
// routes, net_http_start_route in net/proxy.h). Between two plain sockets the relay uses
// splice(2) (net/splice.c).
#include "core/log.h"
#include "core/stats.h"
#include "net/conn.h"
#include "net/intercept.h"
#include "net/internal.h"
#include "net/opool.h"
#include "net/proxy.h"
#include "tls/conn.h"
#include "tls/origin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static const struct net_intercept_ops *intercept_ops; // set before the workers start

static struct {
    int spliced, splice_bytes, splice_fallbacks, intercepted;
} tst = {-1, -1, -1, -1};

void net_tunnel_stats_register(void)
{
    tst.spliced = core_stat_register("proxy.process.tlsedge.tunnels_spliced");
    tst.splice_bytes = core_stat_register("proxy.process.tlsedge.tunnel_splice_bytes");
    tst.splice_fallbacks = core_stat_register("proxy.process.tlsedge.tunnel_splice_fallbacks");
    tst.intercepted = core_stat_register("proxy.process.tlsedge.connect_intercepted");
}

void net_intercept_set(const struct net_intercept_ops *ops)
{
    intercept_ops = ops;
}

// ---- interception (net/intercept.h) ----

// The interceptor's outcome for h: relay to its upstream, or answer the client.
static void on_intercepted(void *arg, const struct net_intercept_result *res)
{
    struct net_http *h = arg;
    h->intercept = NULL;
    if (h->state != NET_HTTP_INTERCEPT || h->c->state == NET_CONN_CLOSED) {
        // Cannot happen (net/ cancels first), but never leak what was handed over.
        if (res->status == 200) {
            tls_origin_ssl_free(res->ssl);
            close(res->fd);
        }
        return;
    }
    if (res->status == 200) {
        h->ossl = res->ssl;
        h->oreg = net_oreg_new(h->c->w, res->fd, net_http_on_origin_event, h);
        if (h->oreg)
            h->ofd = res->fd;
        else
            close(res->fd);
        if (!h->oreg || (res->extra_len && net_buf_append(&h->resp.in, (const char *)res->extra,
                                                          res->extra_len) < 0))
            net_http_reply(h, 502, "Bad Gateway\n", true); // closes what was handed over
        else
            net_tunnel_open(h); // the service's first bytes (extra) follow the 200 as they are
    } else {
        char body[256];
        int status = res->status >= 400 && res->status <= 599 ? res->status : 502;
        snprintf(body, sizeof(body), "%s\n", res->reason ? res->reason : "Bad Gateway");
        net_http_reply(h, status, body, true);
    }
    net_http_pump(h);
}

// Offers CONNECT host:port to the interceptor, if one is installed. Returns true when it took
// the request (or failed to) and h moved on.
static bool intercept(struct net_http *h, const struct net_http_config *cfg, const char *host,
                      uint16_t port, const char *head, size_t head_len)
{
    if (!intercept_ops)
        return false;
    char client[64];
    net_conn_peer_text(h->c, client, sizeof(client));
    struct net_intercept_req r = {
        .w = h->c->w,
        .conn_id = h->c->id,
        .client = client,
        .host = host,
        .port = port,
        .head = head,
        .head_len = head_len,
        .connect_timeout_ms = cfg->connect_timeout_ms,
        .reply_timeout_ms = cfg->txn_out_ms,
    };
    void *op = NULL;
    int rc = intercept_ops->start(&r, on_intercepted, h, &op);
    if (rc == 0)
        return false;
    struct net_http_dest *d = net_http_dest_get(h);
    if (d)
        snprintf(d->host, sizeof(d->host), "%.255s", host); // for messages
    h->origin_port = port;
    h->tunnel = true;
    h->req.body = NET_HTTP1_BODY_TUNNEL;
    h->req.body_done = false;
    if (rc < 0) {
        net_http_reply(h, 502, "Bad Gateway\n", true);
        return true;
    }
    core_stat_inc(tst.intercepted);
    h->intercept = op;
    net_http_set_state(h, NET_HTTP_INTERCEPT);
    // The interceptor answers within its own deadlines; this one only guards against it not
    // answering at all (connect, handshake and reply, plus a margin).
    net_conn_arm(h->c, 2 * cfg->connect_timeout_ms + cfg->txn_out_ms + 1000);
    return true;
}

void net_tunnel_on_timeout(struct net_http *h)
{
    core_log_error("[%llu] CONNECT %s:%u: the interceptor did not answer in time",
                   (unsigned long long)h->c->id, net_http_host(h), h->origin_port);
    net_http_reply(h, 504, "Gateway Timeout\n", true); // cancels the operation (origin_close)
}

void net_tunnel_close(struct net_http *h)
{
    if (h->intercept && intercept_ops)
        intercept_ops->cancel(h->intercept);
    h->intercept = NULL;
    net_splice_free(h->splice);
    h->splice = NULL;
}

// ---- CONNECT ----

static bool tunnel_port_allowed(const struct net_http_config *cfg, unsigned port)
{
    for (size_t i = 0; i < cfg->n_connect_ports; i++)
        if (port >= cfg->connect_ports[i][0] && port <= cfg->connect_ports[i][1])
            return true;
    return false;
}

// CONNECT host:port (ip_allow already allowed the method for this client): a port outside
// proxy.config.http.connect_ports is refused with 403 before anything is dialled; otherwise the
// origin is dialled and, once connected, 200 opens a byte tunnel (see tunnel_open).
void net_tunnel_start(struct net_http *h, const struct net_http_config *cfg, const char *buf,
                         const struct net_http1_request *req)
{
    char auth[300], *host = auth;
    net_http_slice_copy(buf, req->authority, auth, sizeof(auth));
    char *colon = strrchr(auth, ':');
    unsigned long port = colon ? strtoul(colon + 1, NULL, 10) : 0;
    if (colon)
        *colon = '\0';
    if (host[0] == '[' && colon && colon[-1] == ']') {
        host++;
        colon[-1] = '\0';
    }
    if (!colon || port < 1 || port > 65535 || !host[0]) {
        core_stat_inc(net_http_st.bad_requests);
        net_http_reply(h, 400, "Bad Request: CONNECT needs host:port\n", true);
        return;
    }
    // The head was consumed just before this call: it ends where the unread input starts.
    size_t head_len = (size_t)(h->req.in.data + h->req.in.start - buf);
    if (intercept(h, cfg, host, (uint16_t)port, buf, head_len))
        return;
    if (!tunnel_port_allowed(cfg, (unsigned)port)) {
        core_stat_inc(net_http_st.denied);
        net_http_reply(h, 403, "Forbidden: CONNECT to this port is not allowed\n", true);
        return;
    }
    h->tunnel = true;
    h->origin_tls = false;
    h->req.body = NET_HTTP1_BODY_TUNNEL;
    h->req.body_done = false;
    net_http_start_origin(h, host, (uint16_t)port);
}

// The origin accepted the tunnel's connection: 200, then opaque bytes both ways. Each direction
// ends with a half-close passed on to the other side; the tunnel ends when both did.
void net_tunnel_open(struct net_http *h)
{
    static const char ok[] = "HTTP/1.1 200 Connection Established\r\n\r\n";
    if (!h->routed) {
        net_buf_append(&h->resp.out, ok, sizeof(ok) - 1);
        net_http_count_status(200);
        net_txlog_status(h, 200, "TCP_MISS");
    }
    h->resp_head_parsed = true;
    h->resp_head_sent = true;
    h->close_after = true;
    h->resp.body = NET_HTTP1_BODY_TUNNEL;
    h->resp.body_done = false;
    net_http_set_state(h, NET_HTTP_FORWARD);
}

// Ends the sending direction towards the origin after the client's FIN: close_notify first
// when the tunnel's upstream speaks TLS (the tls_bridge peer, a partial blind route).
static void origin_shutdown_write(struct net_http *h)
{
    if (h->ossl) {
        ERR_clear_error();
        SSL_shutdown(h->ossl); // sends close_notify; reading goes on (SSL_read)
        ERR_clear_error();
    }
    shutdown(h->ofd, SHUT_WR);
}

// One direction of a tunnel through its flow: every byte read is passed on as it is, and the
// source's end, once everything before it was written, is passed on as a half-close (which
// body_done records). Returns progress, or a negative errno.
static int relay_flow(struct net_http *h, struct flow *f, bool to_client)
{
    if (f->body_done)
        return 0;
    int rc = to_client ? net_flow_fill(f, net_http_origin_read, h, FLOW_BUF)
                       : net_flow_fill(f, net_http_client_read, h->c, FLOW_BUF);
    if (rc < 0)
        return rc;
    int p = rc;
    f->pass = net_buf_len(&f->in); // opaque bytes: all of them go on
    rc = to_client ? net_flow_flush(f, net_http_client_write, h->c)
                   : net_flow_flush(f, net_http_origin_write, h);
    if (rc < 0)
        return rc;
    p |= rc > 0;
    if (f->eof && net_flow_drained(f)) {
        f->body_done = true;
        if (to_client)
            net_conn_shutdown_write(h->c);
        else
            origin_shutdown_write(h);
        p = 1;
    }
    return p;
}

// Whether h can relay with splice(2) from now on: both ends plain TCP, splicing enabled, and
// nothing waiting in the flows (the 200, a replayed ClientHello or pipelined bytes go first).
static bool splice_ready(struct net_http *h)
{
    if (h->splice)
        return true;
    if (h->splice_tried || h->c->tls || h->ossl || h->ofd < 0)
        return false;
    const struct net_http_config *cfg = net_http_cfg();
    if (!cfg || !cfg->splice)
        return false;
    if (net_buf_len(&h->req.in) || net_buf_len(&h->req.out) || net_buf_len(&h->resp.in) ||
        net_buf_len(&h->resp.out) || h->req.eof != h->req.body_done ||
        h->resp.eof != h->resp.body_done)
        return false;
    h->splice_tried = true;
    h->splice = net_splice_new();
    if (!h->splice) {
        core_stat_inc(tst.splice_fallbacks);
        CORE_DEBUG("splice", "[%llu] no pipes for splice: relaying with read/write",
                   (unsigned long long)h->c->id);
        return false;
    }
    core_stat_inc(tst.spliced);
    CORE_DEBUG("splice", "[%llu] tunnel to %s:%u relayed with splice", (unsigned long long)h->c->id,
               net_http_host(h), h->origin_port);
    net_buf_free(&h->req.in); // the flows hold nothing from here on
    net_buf_free(&h->resp.in);
    return true;
}

// One direction with splice. Returns progress, or a negative errno (-EINVAL: not spliceable).
static int relay_splice(struct net_http *h, struct flow *f, bool to_client)
{
    if (f->body_done)
        return 0;
    uint64_t moved = 0;
    int rc = to_client ? net_splice_step(h->splice, 1, h->ofd, h->c->fd, &moved)
                       : net_splice_step(h->splice, 0, h->c->fd, h->ofd, &moved);
    core_stat_add(tst.splice_bytes, (int64_t)moved);
    if (to_client)
        net_txlog_sent(h, (size_t)moved);
    if (rc != NET_SPLICE_ENDED)
        return rc;
    f->eof = f->body_done = true;
    if (to_client)
        net_conn_shutdown_write(h->c);
    else
        shutdown(h->ofd, SHUT_WR);
    return 1;
}

// One round of a tunnel: relay what can be relayed both ways and pass half-closes on; the
// tunnel ends when both directions ended. Returns progress.
int net_tunnel_step(struct net_http *h)
{
    bool spliced = splice_ready(h);
    int a = spliced ? relay_splice(h, &h->req, false) : relay_flow(h, &h->req, false);
    int b = a < 0 ? 0 : spliced ? relay_splice(h, &h->resp, true) : relay_flow(h, &h->resp, true);
    if (spliced && (a == -EINVAL || b == -EINVAL) && net_splice_queued(h->splice) == 0) {
        // The kernel cannot splice these sockets: the flows take over (nothing was moved).
        core_stat_inc(tst.splice_fallbacks);
        net_splice_free(h->splice);
        h->splice = NULL;
        return 1;
    }
    if (a < 0 || b < 0) {
        CORE_DEBUG("http", "[%llu] tunnel to %s:%u ends: %s", (unsigned long long)h->c->id,
                   net_http_host(h), h->origin_port, strerror(-(a < 0 ? a : b)));
        net_http_set_state(h, NET_HTTP_DONE);
        return 1;
    }
    if (h->req.body_done && h->resp.body_done)
        net_http_set_state(h, NET_HTTP_DONE);
    return a | b;
}

// The name a partial blind route's TLS session is made for: the route's host when it is a name,
// else (an IP address) the client's SNI, else the address itself (no SNI is sent for an address;
// the certificate is then checked against its IP addresses).
static void route_sni(struct net_http *h, const char *host)
{
    unsigned char ip[16];
    bool literal = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    const char *client_sni = h->c->tls ? tls_conn_sni(h->c->tls) : NULL;
    const char *name = !literal ? host : client_sni && client_sni[0] ? client_sni : host;
    struct net_http_dest *d = net_http_dest_get(h);
    if (d) // out of memory: net_http_start_origin answers
        snprintf(d->sni, sizeof(d->sni), "%s", name);
}

int net_http_start_route(struct net_conn *c, const char *route, uint8_t *head, size_t len,
                         bool tls, void *hooks)
{
    char host[256];
    const char *colon = strrchr(route, ':');
    unsigned long port = colon ? strtoul(colon + 1, NULL, 10) : 0;
    size_t hl = colon ? (size_t)(colon - route) : 0;
    if (hl && route[0] == '[' && route[hl - 1] == ']') {
        route++;
        hl -= 2;
    }
    if (!colon || hl == 0 || hl >= sizeof(host) || port < 1 || port > 65535) {
        core_log_warn("[%llu] tunnel route '%s' is not host:port", (unsigned long long)c->id,
                      route);
        free(head);
        return -EINVAL;
    }
    memcpy(host, route, hl);
    host[hl] = '\0';
    struct net_http *h = calloc(1, sizeof(*h));
    if (!h) {
        free(head);
        return -ENOMEM;
    }
    h->c = c;
    h->ofd = -1;
    h->state = NET_HTTP_READ_HEAD;
    h->resume.fn = net_http_on_resume;
    h->tunnel = h->routed = true;
    h->req.body = NET_HTTP1_BODY_TUNNEL;
    if (head) {
        h->req.in.data = (char *)head;
        h->req.in.cap = h->req.in.end = len;
    }
    c->http = h;
    h->tunnel_hooks = hooks;
    h->origin_tls = tls;
    if (tls)
        route_sni(h, host);
    net_http_start_origin(h, host, (uint16_t)port);
    net_http_pump(h);
    return 0;
}

