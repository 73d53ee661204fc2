// SPDX-License-Identifier: Apache-2.0
// net/tunnel.c: byte tunnels through the HTTP stage: CONNECT (connect_ports, 200, relay with
// half-close) and connections routed to host:port without HTTP (blind tunnels and forward
// routes, net_http_start_route in net/proxy.h).
#include "core/log.h"
#include "core/stats.h"
#include "net/conn.h"
#include "net/internal.h"
#include "net/proxy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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
    }
    h->resp_head_parsed = true;
    h->resp_head_sent = true;
    h->close_after = true;
    h->resp.body = NET_HTTP1_BODY_TUNNEL;
    h->resp.body_done = false;
    net_http_set_state(h, NET_HTTP_FORWARD);
}

// One round of a tunnel: relay what can be relayed and pass half-closes on. Returns progress.
int net_tunnel_step(struct net_http *h)
{
    int p = 0;
    int rc = net_flow_fill(&h->req, net_http_client_read, h->c, FLOW_BUF);
    if (rc < 0) {
        net_http_set_state(h, NET_HTTP_DONE);
        return 1;
    }
    p |= rc;
    net_flow_classify(&h->req);
    rc = net_flow_flush(&h->req, net_http_origin_write, h);
    if (rc < 0) {
        net_http_set_state(h, NET_HTTP_DONE);
        return 1;
    }
    p |= rc > 0;
    if (h->req.eof && net_flow_drained(&h->req) && !h->req.body_done) {
        h->req.body_done = true; // the client's FIN, passed on
        shutdown(h->ofd, SHUT_WR);
    }
    rc = net_flow_fill(&h->resp, net_http_origin_read, h, FLOW_BUF);
    if (rc < 0) {
        net_http_set_state(h, NET_HTTP_DONE);
        return 1;
    }
    p |= rc;
    net_flow_classify(&h->resp);
    rc = net_flow_flush(&h->resp, net_http_client_write, h->c);
    if (rc < 0) {
        net_http_set_state(h, NET_HTTP_DONE);
        return 1;
    }
    p |= rc > 0;
    if (h->resp.eof && net_flow_drained(&h->resp) && !h->resp.body_done) {
        h->resp.body_done = true; // the origin's FIN, passed on
        net_conn_shutdown_write(h->c);
    }
    if (h->req.body_done && h->resp.body_done)
        net_http_set_state(h, NET_HTTP_DONE);
    return p;
}

int net_http_start_route(struct net_conn *c, const char *route, uint8_t *head, size_t len)
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
    net_http_start_origin(h, host, (uint16_t)port);
    net_http_pump(h);
    return 0;
}

