// SPDX-License-Identifier: Apache-2.0
// net/proxy.c: the HTTP/1.1 stage of a client connection: request heads, ip_allow, remap and
// forward proxying, the origin connection, body streaming with backpressure, local replies and
// the stats endpoint (see net/proxy.h).
//
// Each direction of a transaction is a `flow`: bytes read from the source into `in`, of which
// the first `pass` bytes are classified as belonging to the current message and are forwarded
// unchanged, after whatever tlsedge generated itself into `out` (a rewritten head). A source is
// read only while its `in` buffer has room, so a slow reader stops the origin (and a slow origin
// the client) instead of growing memory: that is the backpressure.
#include "net/proxy.h"
#include "core/assert.h"
#include "core/err.h"
#include "core/log.h"
#include "core/records.h"
#include "core/snapshot.h"
#include "core/stats.h"
#include "core/worker.h"
#include "net/conn.h"
#include "net/http1.h"
#include "net/internal.h"
#include "net/ipallow.h"
#include "net/ports.h"
#include "net/remap.h"
#include "net/opool.h"
#include "net/resolve.h"
#include "tls/config.h"
#include "tls/conn.h"
#include "tls/hook.h"
#include "tls/origin.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define OUT_HEAD_MAX 65536
// Rounds of the pump per event before yielding to other connections through the mailbox.
#define PUMP_ROUNDS 16
#define STATS_PATH "/_tlsedge/stats"
#define METRICS_PATH "/_tlsedge/metrics"
#define VIA_NAME "tlsedge"

static const char *const state_names[] = {
    [NET_HTTP_READ_HEAD] = "READ_HEAD", [NET_HTTP_RESOLVING] = "RESOLVING",
    [NET_HTTP_CONNECTING] = "CONNECTING", [NET_HTTP_ORIGIN_TLS] = "ORIGIN_TLS",
    [NET_HTTP_INTERCEPT] = "INTERCEPT",
    [NET_HTTP_FORWARD] = "FORWARD",
    [NET_HTTP_REPLY] = "REPLY",         [NET_HTTP_DONE] = "DONE",
};

#define B(s) (1u << (s))
static const unsigned allowed[] = {
    [NET_HTTP_READ_HEAD] = B(NET_HTTP_RESOLVING) | B(NET_HTTP_CONNECTING) | B(NET_HTTP_REPLY) |
                           B(NET_HTTP_FORWARD) | B(NET_HTTP_INTERCEPT) |
                           B(NET_HTTP_DONE) | B(NET_HTTP_READ_HEAD),
    [NET_HTTP_RESOLVING] =
        B(NET_HTTP_CONNECTING) | B(NET_HTTP_FORWARD) | B(NET_HTTP_REPLY) | B(NET_HTTP_DONE),
    [NET_HTTP_CONNECTING] =
        B(NET_HTTP_ORIGIN_TLS) | B(NET_HTTP_FORWARD) | B(NET_HTTP_REPLY) | B(NET_HTTP_DONE),
    [NET_HTTP_ORIGIN_TLS] = B(NET_HTTP_FORWARD) | B(NET_HTTP_REPLY) | B(NET_HTTP_DONE),
    [NET_HTTP_INTERCEPT] = B(NET_HTTP_FORWARD) | B(NET_HTTP_REPLY) | B(NET_HTTP_DONE),
    // FORWARD -> CONNECTING: a pooled connection failed before any answer (retry_fresh).
    [NET_HTTP_FORWARD] =
        B(NET_HTTP_READ_HEAD) | B(NET_HTTP_CONNECTING) | B(NET_HTTP_REPLY) | B(NET_HTTP_DONE),
    [NET_HTTP_REPLY] = B(NET_HTTP_READ_HEAD) | B(NET_HTTP_DONE),
    [NET_HTTP_DONE] = 0,
};

// Per-thread scratch space for one request at a time: head rewriting and parsing happen inside
// one callback on a worker and never keep pointers into it, so no per-request allocation.
static __thread struct scratch {
    char head[OUT_HEAD_MAX];
} scratch;
static __thread struct net_http1_request scratch_req;
static __thread struct net_http1_response scratch_resp;

struct net_http_stats net_http_st = {.requests = -1};

void net_http_stats_register(void)
{
    net_http_st.requests = core_stat_register("proxy.process.http.incoming_requests");
    static const char *cls[6] = {NULL,
                                 "proxy.process.http.1xx_responses",
                                 "proxy.process.http.2xx_responses",
                                 "proxy.process.http.3xx_responses",
                                 "proxy.process.http.4xx_responses",
                                 "proxy.process.http.5xx_responses"};
    for (int i = 1; i < 6; i++)
        net_http_st.responses[i] = core_stat_register(cls[i]);
    net_http_st.responses[0] = -1;
    net_http_st.origin_connects = core_stat_register("proxy.process.http.total_server_connections");
    net_http_st.connect_fail = core_stat_register("proxy.process.tlsedge.origin_connect_failures");
    net_http_st.connect_timeout = core_stat_register("proxy.process.tlsedge.origin_connect_timeouts");
    // One counter per way an origin can fail a transaction (README, "Origin failures").
    net_http_st.origin_bad = core_stat_register("proxy.process.tlsedge.origin_bad_responses");
    net_http_st.origin_resets = core_stat_register("proxy.process.tlsedge.origin_resets");
    net_http_st.origin_closed = core_stat_register("proxy.process.tlsedge.origin_closed_early");
    net_http_st.origin_timeouts = core_stat_register("proxy.process.tlsedge.origin_response_timeouts");
    net_http_st.bad_requests = core_stat_register("proxy.process.tlsedge.bad_requests");
    net_http_st.denied = core_stat_register("proxy.process.tlsedge.ip_allow_denied");
    net_http_st.no_remap = core_stat_register("proxy.process.tlsedge.no_remap_rule");
    net_http_st.stats_requests = core_stat_register("proxy.process.tlsedge.stats_requests");
    net_http_st.txn_timeouts = core_stat_register("proxy.process.tlsedge.transaction_timeouts");
    net_http_st.verify_timeouts =
        core_stat_register("proxy.process.tlsedge.origin_verify_hook_timeouts");
    net_http_st.stale_retries = core_stat_register("proxy.process.tlsedge.origin_stale_retries");
    net_http_st.client_aborts = core_stat_register("proxy.process.http.err_client_abort_count_stat");
    net_http_st.outbound_hook_fail =
        core_stat_register("proxy.process.tlsedge.outbound_start_hook_failures");
    net_tunnel_stats_register();
}

// ---- state ----

void net_http_set_state(struct net_http *h, enum net_http_state to)
{
    CORE_ASSERT(allowed[h->state] & B(to));
    CORE_DEBUG("http", "[%llu] %s -> %s", (unsigned long long)h->c->id, state_names[h->state],
               state_names[to]);
    h->state = to;
    if (to == NET_HTTP_READ_HEAD || to == NET_HTTP_DONE)
        net_txlog_end(h); // the transaction is over (a no-op when it was not logged)
    if (to == NET_HTTP_READ_HEAD) { // waiting for the next request: no destination yet
        free(h->dest);
        h->dest = NULL;
    }
}

struct net_http_dest *net_http_dest_get(struct net_http *h)
{
    if (!h->dest)
        h->dest = calloc(1, sizeof(*h->dest));
    return h->dest;
}

const char *net_http_host(const struct net_http *h)
{
    return h->dest ? h->dest->host : "";
}

const char *net_http_sni(const struct net_http *h)
{
    return h->dest ? h->dest->sni : "";
}

const struct net_http_config *net_http_cfg(void)
{
    return core_snapshot_part(core_snapshot_get(), CORE_SNAP_HTTP);
}

static void origin_close(struct net_http *h)
{
    net_resolve_cancel(h->resolve);
    h->resolve = NULL;
    net_tunnel_close(h);
    if (h->ossl) {
        SSL_shutdown(h->ossl); // close_notify when the socket takes it; never waits
        tls_origin_ssl_free(h->ossl);
        h->ossl = NULL;
        ERR_clear_error();
    }
    if (h->ofd >= 0) {
        net_oreg_close(h->oreg, h->ofd);
        h->oreg = NULL;
        h->ofd = -1;
    }
    h->odrained = false;
    h->ohup = false;
}

// The client's address without the port, for X-Forwarded-For and logs.
static void client_ip(const struct net_conn *c, char *buf, size_t len)
{
    const void *a = c->peer.ss_family == AF_INET6
                        ? (const void *)&((const struct sockaddr_in6 *)&c->peer)->sin6_addr
                        : (const void *)&((const struct sockaddr_in *)&c->peer)->sin_addr;
    if (!inet_ntop(c->peer.ss_family, a, buf, (socklen_t)len))
        snprintf(buf, len, "unknown");
}

void net_http_count_status(int status)
{
    int cls = status / 100;
    if (cls >= 1 && cls <= 5)
        core_stat_inc(net_http_st.responses[cls]);
}

// ---- local replies ----

// The transaction log's result code for a reply tlsedge makes itself.
static const char *reply_code(int status)
{
    switch (status) {
    case 403:
        return "ERR_PROXY_DENIED";
    case 502:
        return "ERR_CONNECT_FAIL";
    case 504:
        return "ERR_READ_TIMEOUT";
    default:
        return status < 500 ? "ERR_INVALID_REQ" : "ERR_UNKNOWN";
    }
}

// Queues a response made by tlsedge; the request's remaining bytes are not read any more when
// close is set. Only possible before any response byte reached the client.
void net_http_reply(struct net_http *h, int status, const char *body, bool close)
{
    char out[1024];
    origin_close(h);
    if (h->routed) { // a routed tunnel's client speaks TLS to someone else: just close
        CORE_DEBUG("http", "[%llu] tunnel route failed (%d)", (unsigned long long)h->c->id,
                   status);
        net_http_set_state(h, NET_HTTP_DONE);
        return;
    }
    net_flow_reset(&h->resp, false);
    if (h->req.body != NET_HTTP1_BODY_NONE && !h->req.body_done)
        close = true; // the rest of the request body cannot be skipped safely
    close = close || !h->client_keepalive || h->c->stop_after_response;
    int n = net_http1_error_write(status, body, close, out, sizeof(out));
    if (n < 0 || net_buf_append(&h->resp.out, out, (size_t)n) < 0) {
        net_http_set_state(h, NET_HTTP_DONE);
        return;
    }
    net_http_count_status(status);
    net_txlog_status(h, status, reply_code(status));
    net_txlog_type(h, "text/plain", 10);
    h->close_after = close;
    h->resp_head_sent = true;
    net_http_set_state(h, NET_HTTP_REPLY);
}

// True when req's target is exactly path (no query).
static bool path_is(const char *buf, const struct net_http1_request *req, const char *path)
{
    size_t n = strlen(path);
    return req->path.len == n && memcmp(buf + req->path.off, path, n) == 0;
}

// ---- the origin connection ----



// Builds the pool keys of h's origin connection at h->dest->addr: key, and for a TLS origin in
// lax mode lax (the key without the SNI; "" otherwise). Returns -1 when h's origin is not to be pooled.
static int pool_keys(const struct net_http *h, const struct net_http_config *cfg, char *key,
                     char *lax)
{
    char ip[INET6_ADDRSTRLEN] = "", tkey[NET_OPOOL_KEY_MAX / 2] = "", tlax[NET_OPOOL_KEY_MAX / 2];
    const struct sockaddr_storage *a = &h->dest->addr;
    inet_ntop(a->ss_family,
              a->ss_family == AF_INET6
                  ? (const void *)&((const struct sockaddr_in6 *)a)->sin6_addr
                  : (const void *)&((const struct sockaddr_in *)a)->sin_addr,
              ip, sizeof(ip));
    lax[0] = '\0';
    if (!cfg || cfg->sharing == NET_SHARE_NONE || h->tunnel)
        return -1;
    if (h->origin_tls) {
        const struct tls_config *tc = core_snapshot_part(core_snapshot_get(), CORE_SNAP_TLS);
        const char *sni = h->dest->sni[0] ? h->dest->sni : NULL;
        const struct tls_origin_profile *p =
            tc && tc->origin ? tls_origin_profile_for(tc->origin, tc->sni, sni) : NULL;
        if (!p || tls_origin_key(p, ip, h->origin_port, sni, tkey, sizeof(tkey)) < 0 ||
            tls_origin_key(p, ip, h->origin_port, NULL, tlax, sizeof(tlax)) < 0)
            return -1;
        if (cfg->sni_lax && sni)
            snprintf(lax, NET_OPOOL_KEY_MAX, "tls|%s", tlax);
    }
    const char *host = cfg->sharing == NET_SHARE_HOST || cfg->sharing == NET_SHARE_BOTH
                           ? h->dest->host
                           : "";
    const char *addr = cfg->sharing == NET_SHARE_HOST ? "" : ip;
    snprintf(key, NET_OPOOL_KEY_MAX, "%s|%u|%s|%s", addr, (unsigned)h->origin_port, host,
             tkey);
    return 0;
}

// Takes a pooled connection to h's origin, if the worker has one: then the request flows at
// once (no connect, no handshake). Returns true when one was taken.
static bool origin_from_pool(struct net_http *h, const struct net_http_config *cfg)
{
    char key[NET_OPOOL_KEY_MAX], lax[NET_OPOOL_KEY_MAX];
    struct net_opool_conn oc;
    if (h->no_pool || pool_keys(h, cfg, key, lax) < 0 ||
        !net_opool_take(h->c->w, key, lax[0] ? lax : NULL, lax[0] ? h->dest->sni : NULL, &oc))
        return false;
    h->ofd = oc.fd;
    h->ossl = oc.ssl;
    h->oreg = oc.reg;
    h->oreg->fn = net_http_on_origin_event;
    h->oreg->owner = h;
    h->reused = true;
    net_http_set_state(h, NET_HTTP_FORWARD);
    return true;
}

static void origin_connect(struct net_http *h, const struct sockaddr_storage *addr,
                           socklen_t addrlen)
{
    const struct net_http_config *cfg = net_http_cfg();
    char peer[64];
    if (addr != &h->dest->addr)
        memcpy(&h->dest->addr, addr, addrlen);
    h->dest->addrlen = addrlen;
    if (origin_from_pool(h, cfg))
        return;
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        core_stat_inc(net_http_st.connect_fail); // out of descriptors, typically
        core_log_warn("origin %s:%u: socket: %s", net_http_host(h), h->origin_port, strerror(errno));
        net_http_reply(h, 502, "Bad Gateway: cannot reach the origin\n", true);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    core_stat_inc(net_http_st.origin_connects);
    if (connect(fd, (const struct sockaddr *)addr, addrlen) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        core_stat_inc(net_http_st.connect_fail);
        net_conn_peer_text(h->c, peer, sizeof(peer));
        core_log_warn("origin %s:%u for client %s: connect: %s", net_http_host(h), h->origin_port,
                      peer, strerror(e));
        net_http_reply(h, 502, "Bad Gateway: the origin refused the connection\n", true);
        return;
    }
    if (!(h->oreg = net_oreg_new(h->c->w, fd, net_http_on_origin_event, h))) {
        close(fd);
        net_http_reply(h, 502, "Bad Gateway\n", true);
        return;
    }
    h->ofd = fd;
    net_http_set_state(h, NET_HTTP_CONNECTING);
    net_conn_arm(h->c, cfg ? cfg->connect_timeout_ms : 30000);
}

static void on_resolved(void *arg, int rc, const struct sockaddr_storage *addr, socklen_t len)
{
    struct net_http *h = arg;
    h->resolve = NULL;
    if (rc < 0) {
        char peer[64];
        net_conn_peer_text(h->c, peer, sizeof(peer));
        core_log_warn("origin %s for client %s: cannot resolve the name", net_http_host(h), peer);
        core_stat_inc(net_http_st.connect_fail);
        net_http_reply(h, 502, "Bad Gateway: unknown origin host\n", true);
    } else {
        origin_connect(h, addr, len);
    }
    net_http_pump(h);
}

void net_http_start_origin(struct net_http *h, const char *host, uint16_t port)
{
    struct sockaddr_storage addr;
    socklen_t len;
    struct net_http_dest *d = net_http_dest_get(h);
    if (!d) {
        core_log_error("[%llu] out of memory for a request's destination",
                       (unsigned long long)h->c->id);
        net_http_reply(h, 503, "Service Unavailable: out of memory\n", true);
        return;
    }
    snprintf(d->host, sizeof(d->host), "%.255s", host);
    h->origin_port = port;
    if (net_resolve_numeric(host, port, &addr, &len) == 0) {
        origin_connect(h, &addr, len);
        return;
    }
    h->resolve = net_resolve_start(h->c->w, host, port, on_resolved, h);
    if (!h->resolve) {
        net_http_reply(h, 502, "Bad Gateway\n", true);
        return;
    }
    net_http_set_state(h, NET_HTTP_RESOLVING);
    const struct net_http_config *cfg = net_http_cfg();
    net_conn_arm(h->c, cfg ? cfg->connect_timeout_ms : 30000);
}

// ---- request routing ----

struct route {
    char host[256];
    uint16_t port;
    char path[8192];
    bool pristine;
    bool tls;              // https:// target
    char client_host[256]; // the client's Host (name only), for the SNI policy
};

static __thread struct route scratch_route;

void net_http_slice_copy(const char *buf, struct net_http1_slice s, char *out, size_t len)
{
    size_t n = s.len < len - 1 ? s.len : len - 1;
    memcpy(out, buf + s.off, n);
    out[n] = '\0';
}

// Finds where the request goes: a remap rule, or the absolute URI when forward proxying is on.
// Returns 0, or an HTTP status to answer with.
static int route(struct net_http *h, const struct net_http_config *cfg, const char *buf,
                 const struct net_http1_request *req, struct route *r)
{
    char host[256], path[8192];
    bool tls = h->c->tls != NULL;
    net_http_slice_copy(buf, req->host_name, host, sizeof(host));
    for (char *p = host; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    net_http_slice_copy(buf, req->path, path, sizeof(path));
    if (!path[0] || path[0] == '?') {
        memmove(path + 1, path, strnlen(path, sizeof(path) - 2) + 1);
        path[0] = '/';
    }
    uint16_t port = req->port > 0 ? (uint16_t)req->port : (tls ? 443 : 80);
    const struct net_remap_target *t =
        net_remap_lookup(cfg->remap, tls, host, port, path, r->path, sizeof(r->path));
    snprintf(r->client_host, sizeof(r->client_host), "%s", host);
    if (t) {
        r->tls = t->tls;
        snprintf(r->host, sizeof(r->host), "%s", t->host);
        r->port = t->port;
        r->pristine = cfg->pristine_host;
        return 0;
    }
    if (req->form != NET_HTTP1_TARGET_ABSOLUTE || cfg->remap_required) {
        core_stat_inc(net_http_st.no_remap);
        return 404;
    }
    bool abs_tls = false;
    const char *apath = NULL;
    if (net_remap_parse_absolute(buf + req->target.off, req->target.len, &abs_tls, r->host,
                                 sizeof(r->host), &r->port, &apath) < 0)
        return 400;
    r->tls = abs_tls;
    snprintf(r->path, sizeof(r->path), "%s", path);
    r->pristine = true; // a forward proxy sends the URI's own host
    return 0;
}

static void host_header(const struct route *r, char *out, size_t len)
{
    bool v6 = strchr(r->host, ':') != NULL;
    if (r->port == 80)
        snprintf(out, len, v6 ? "[%s]" : "%s", r->host);
    else
        snprintf(out, len, v6 ? "[%s]:%u" : "%s:%u", r->host, r->port);
}

static int write_origin_head(struct net_http *h, const char *buf,
                             const struct net_http1_request *req, const struct route *r)
{
    char ip[INET6_ADDRSTRLEN], host[300];
    client_ip(h->c, ip, sizeof(ip));
    host_header(r, host, sizeof(host));
    struct net_http1_proxy_opts o = {
        .host = r->pristine ? NULL : host,
        .path = r->path,
        .via_name = VIA_NAME,
        .client_ip = ip,
        .origin_close = !net_http_cfg() || net_http_cfg()->sharing == NET_SHARE_NONE,
    };
    char *out = scratch.head;
    int n = net_http1_request_write_proxy(buf, req, &o, out, OUT_HEAD_MAX);
    if (n > 0)
        n = net_buf_append(&h->req.out, out, (size_t)n);
    // A bodiless request may be sent again on a fresh connection when a pooled one turns out
    // to be closed before answering (the race every connection pool has).
    free(h->retry_head);
    h->retry_head = NULL;
    h->no_pool = h->reused = false;
    if (n >= 0 && !o.origin_close && req->body == NET_HTTP1_BODY_NONE &&
        (h->retry_head = malloc((size_t)net_buf_len(&h->req.out)))) {
        h->retry_len = net_buf_len(&h->req.out);
        memcpy(h->retry_head, h->req.out.data + h->req.out.start, h->retry_len);
    }
    return n < 0 ? n : 0;
}

// Picks the name sent to a TLS origin as SNI and verified against its certificate, per
// proxy.config.ssl.client.sni_policy: the Host sent to the origin (the client's with
// pristine_host_hdr, else the remap target's), the client's own SNI, or the remap target. An IP
// literal sends no SNI and is verified against the certificate's IP addresses.
static void choose_sni(struct net_http *h, const struct route *r)
{
    h->origin_tls = r->tls;
    struct net_http_dest *d = net_http_dest_get(h);
    if (!d || !r->tls)
        return; // out of memory: net_http_start_origin answers 503
    d->sni[0] = '\0';
    const struct tls_config *tc = core_snapshot_part(core_snapshot_get(), CORE_SNAP_TLS);
    enum tls_sni_policy pol = tc && tc->origin ? tc->origin->sni_policy : TLS_SNI_HOST;
    const char *client_sni = h->c->tls ? tls_conn_sni(h->c->tls) : NULL;
    const char *name = r->host;
    if (pol == TLS_SNI_SERVER_NAME && client_sni)
        name = client_sni;
    else if (pol != TLS_SNI_REMAP && r->pristine && r->client_host[0])
        name = r->client_host;
    snprintf(d->sni, sizeof(d->sni), "%s", name);
}

static void handle_request(struct net_http *h, const struct net_http_config *cfg,
                           const struct net_http1_request *req, size_t head_len)
{
    const char *buf = h->req.in.data + h->req.in.start;
    char method[32];
    core_stat_inc(net_http_st.requests);
    net_http_slice_copy(buf, req->method_name, method, sizeof(method));
    net_txlog_begin(h, buf, req);
    h->method = req->method;
    h->client_keepalive = req->keep_alive;
    h->client_http10 = req->version == 10;
    h->req.body = req->body;
    h->req.left = req->content_length;
    h->req.body_done = req->body == NET_HTTP1_BODY_NONE ||
                       (req->body == NET_HTTP1_BODY_LENGTH && req->content_length == 0);
    net_http1_chunked_init(&h->req.ch);
    if (!net_ipallow_check(cfg->ipallow, (const struct sockaddr *)&h->c->peer, method)) {
        core_stat_inc(net_http_st.denied);
        h->req.in.start += head_len;
        net_http_reply(h, 403, "Forbidden\n", false);
        return;
    }
    if (req->form == NET_HTTP1_TARGET_ORIGIN &&
        (req->method == NET_HTTP1_METHOD_GET || req->method == NET_HTTP1_METHOD_HEAD) &&
        (path_is(buf, req, STATS_PATH) || path_is(buf, req, METRICS_PATH))) {
        h->req.in.start += head_len;
        net_http_reply_stats(h, path_is(buf, req, METRICS_PATH));
        return;
    }
    if (req->method == NET_HTTP1_METHOD_CONNECT) {
        h->req.in.start += head_len;
        net_tunnel_start(h, cfg, buf, req);
        return;
    }
    struct route *r = &scratch_route;
    int status = route(h, cfg, buf, req, r);
    if (status == 0 && write_origin_head(h, buf, req, r) < 0)
        status = 400;
    h->req.in.start += head_len; // the head is consumed (rewritten into req.out or refused)
    if (status != 0) {
        net_http_reply(h, status, status == 404 ? "Not Found: no remap rule for this host\n" : NULL,
              status >= 500);
    } else {
        choose_sni(h, r);
        net_http_start_origin(h, r->host, r->port);
    }
}

// Parses the next request head in req.in. Returns true when it changed state.
static bool read_head(struct net_http *h)
{
    const struct net_http_config *cfg = net_http_cfg();
    if (!cfg) {
        net_http_set_state(h, NET_HTTP_DONE);
        return true;
    }
    if (net_buf_len(&h->req.in) == 0)
        return false;
    struct net_http1_request *req = &scratch_req;
    int rc = net_http1_request_parse(h->req.in.data + h->req.in.start, net_buf_len(&h->req.in),
                                     cfg->header_max, req);
    if (rc > 0) {
        handle_request(h, cfg, req, (size_t)rc);
    } else if (rc < 0) {
        char peer[64];
        net_conn_peer_text(h->c, peer, sizeof(peer));
        CORE_DEBUG("http", "[%llu] bad request from %s", (unsigned long long)h->c->id, peer);
        core_stat_inc(net_http_st.bad_requests);
        h->client_keepalive = false;
        h->req.in.start = h->req.in.end; // nothing more is read from this client
        net_txlog_begin(h, NULL, NULL);
        net_http_reply(h, net_http1_parse_status(rc), NULL, true);
    }
    return rc != 0;
}

// ---- streaming ----

ssize_t net_http_client_read(void *ctx, void *buf, size_t len)
{
    return net_conn_read(ctx, buf, len);
}

ssize_t net_http_client_write(void *ctx, void *buf, size_t len)
{
    struct net_conn *c = ctx;
    ssize_t n = net_conn_write(c, buf, len);
    if (n > 0 && c->http)
        net_txlog_sent(c->http, (size_t)n);
    return n;
}

static int parse_response(struct net_http *h)
{
    struct net_http1_response *resp = &scratch_resp;
    const char *buf = h->resp.in.data + h->resp.in.start;
    int rc = net_http1_response_parse(buf, net_buf_len(&h->resp.in), OUT_HEAD_MAX, h->method, resp);
    if (rc <= 0)
        goto out;
    bool close = !h->client_keepalive || resp->body == NET_HTTP1_BODY_EOF ||
                 !h->req.body_done || h->c->stop_after_response;
    if (resp->body == NET_HTTP1_BODY_TUNNEL || resp->status == 101) {
        rc = -EPROTO; // no upgrades through the proxy (the Upgrade header was removed)
        goto out;
    }
    struct net_http1_resp_opts o = {
        .via_name = VIA_NAME, .client_close = close, .client_http10 = h->client_http10};
    char *out = scratch.head;
    int n = net_http1_response_write_proxy(buf, resp, &o, out, OUT_HEAD_MAX);
    if (n > 0)
        n = net_buf_append(&h->resp.out, out, (size_t)n);
    if (n < 0) {
        rc = n;
        goto out;
    }
    h->resp.in.start += (size_t)rc;
    h->resp_head_sent = true;
    if (resp->interim)
        goto out; // the final head follows
    net_http_count_status(resp->status);
    net_txlog_status(h, resp->status, "TCP_MISS");
    if (h->txlog) {
        const struct net_http1_header *ct =
            net_http1_header_find(resp->headers, resp->nheaders, buf, "Content-Type");
        if (ct)
            net_txlog_type(h, buf + ct->value.off, ct->value.len);
    }
    h->resp_head_parsed = true;
    h->origin_keepalive = resp->keep_alive;
    free(h->retry_head); // the origin answered: no retry from here on
    h->retry_head = NULL;
    h->close_after = close;
    h->resp.body = resp->body;
    h->resp.left = resp->content_length;
    h->resp.body_done = false;
    net_http1_chunked_init(&h->resp.ch);
out:
    return rc;
}

// ---- the transaction machine ----

// Parks h's origin connection in the worker's pool when it can carry another request: the
// origin said so, both messages ended at their framing, nothing is left unread.
static void origin_release(struct net_http *h)
{
    const struct net_http_config *cfg = net_http_cfg();
    char key[NET_OPOOL_KEY_MAX], lax[NET_OPOOL_KEY_MAX];
    bool ok = h->ofd >= 0 && h->origin_keepalive && h->resp.body_done && !h->resp.eof &&
              net_buf_len(&h->resp.in) == 0 && h->req.body_done && net_flow_drained(&h->req) &&
              (!h->ossl || SSL_pending(h->ossl) == 0) && pool_keys(h, cfg, key, lax) == 0;
    if (ok) {
        net_opool_put(h->c->w, key, lax[0] ? lax : NULL, net_http_sni(h), h->ofd, h->oreg, h->ossl,
                      cfg->keepalive_out_ms, cfg->per_server_max);
        h->ofd = -1;
        h->oreg = NULL;
        h->ossl = NULL;
    }
    origin_close(h);
}

// A pooled connection that failed before any response byte (closed or reset by the origin
// meanwhile): the request goes again on a fresh connection. Returns true when retried.
static bool retry_fresh(struct net_http *h)
{
    if (!h->reused || !h->retry_head || h->resp_head_parsed || net_buf_len(&h->resp.in) > 0)
        return false;
    CORE_DEBUG("http", "[%llu] pooled origin connection was stale: retrying on a new one",
               (unsigned long long)h->c->id);
    core_stat_inc(net_http_st.stale_retries);
    origin_close(h);
    net_flow_reset(&h->req, true);
    net_flow_reset(&h->resp, false);
    h->req.body_done = true;
    h->resp.eof = false;
    if (net_buf_append(&h->req.out, h->retry_head, h->retry_len) < 0)
        return false;
    free(h->retry_head);
    h->retry_head = NULL;
    h->reused = false;
    h->no_pool = true;
    origin_connect(h, &h->dest->addr, h->dest->addrlen);
    return true;
}

static void finish_transaction(struct net_http *h)
{
    origin_release(h);
    if (h->close_after || h->c->stop_after_response || !h->req.body_done ||
        !net_flow_drained(&h->req)) {
        net_http_set_state(h, NET_HTTP_DONE);
        return;
    }
    net_flow_reset(&h->resp, false);
    net_flow_reset(&h->req, true); // what is left in req.in is the next (pipelined) request
    net_buf_trim(&h->req.in);
    h->resp_head_parsed = false;
    h->resp_head_sent = false;
    h->close_after = false;
    net_http_set_state(h, NET_HTTP_READ_HEAD);
}

// A failure while forwarding: an error reply when the client has seen nothing yet, else close.
// origin_stat (-1: the client's fault, counted by the caller) counts an origin failure's reason;
// those are also logged as warnings with both addresses, since an operator wants to see them.
static void forward_failed(struct net_http *h, int origin_stat, int status, const char *why)
{
    char peer[64];
    net_conn_peer_text(h->c, peer, sizeof(peer));
    core_stat_inc(origin_stat);
    if (origin_stat >= 0)
        core_log_warn("origin %s:%u for client %s: %s%s", net_http_host(h), h->origin_port, peer,
                      why, h->resp_head_sent ? " (response cut short)" : "");
    else
        CORE_DEBUG("http", "[%llu] %s (origin %s:%u, client %s)", (unsigned long long)h->c->id,
                   why, net_http_host(h), h->origin_port, peer);
    if (status && !h->resp_head_sent)
        net_http_reply(h, status, NULL, true);
    else
        net_http_set_state(h, NET_HTTP_DONE);
}

static int step_request(struct net_http *h)
{
    int p = 0;
    if (!h->req.body_done) {
        int rc = net_flow_fill(&h->req, net_http_client_read, h->c, FLOW_BUF);
        if (rc < 0 || (h->req.eof && net_buf_len(&h->req.in) == h->req.pass)) {
            net_txlog_code(h, "ERR_CLIENT_ABORT");
            net_http_set_state(h, NET_HTTP_DONE); // the client went away mid-request
            return 1;
        }
        p |= rc;
        if (net_flow_classify(&h->req) < 0) {
            core_stat_inc(net_http_st.bad_requests);
            forward_failed(h, -1, 400, "malformed chunked request body");
            return 1;
        }
    }
    int rc = net_flow_flush(&h->req, net_http_origin_write, h);
    if (rc < 0 && retry_fresh(h))
        return 1;
    if (rc < 0 && !h->resp_head_parsed) {
        // An origin that answers early and closes may refuse the rest of a request body: only
        // a failure before its response head is the origin's fault.
        forward_failed(h, net_http_st.origin_resets, 502, "origin write failed");
        return 1;
    }
    return p | (rc > 0);
}

static int step_response(struct net_http *h)
{
    int p = 0;
    if (!h->resp.body_done) {
        int rc = net_flow_fill(&h->resp, net_http_origin_read, h, h->resp_head_parsed ? FLOW_BUF : OUT_HEAD_MAX);
        if ((rc < 0 || (h->resp.eof && net_buf_len(&h->resp.in) == 0)) && retry_fresh(h))
            return 1;
        if (rc < 0) {
            forward_failed(h, net_http_st.origin_resets, 502,
                           rc == -ECONNRESET ? "connection reset by the origin"
                                             : "origin read failed");
            return 1;
        }
        p |= rc;
        while (!h->resp_head_parsed && net_buf_len(&h->resp.in) > 0) {
            rc = parse_response(h);
            if (rc < 0) {
                forward_failed(h, net_http_st.origin_bad, 502, "malformed origin response");
                return 1;
            }
            if (rc == 0)
                break;
        }
        if (!h->resp_head_parsed && h->resp.eof) {
            forward_failed(h, net_http_st.origin_closed, 502, "origin closed before responding");
            return 1;
        }
        if (h->resp_head_parsed && net_flow_classify(&h->resp) < 0) {
            forward_failed(h, net_http_st.origin_bad, 0, "malformed chunked response body");
            return 1;
        }
        if (h->resp_head_parsed && h->resp.eof && !h->resp.body_done) {
            forward_failed(h, net_http_st.origin_closed, 0, "origin closed mid-body");
            return 1;
        }
    }
    int rc = net_flow_flush(&h->resp, net_http_client_write, h->c);
    if (rc < 0) {
        net_txlog_code(h, "ERR_CLIENT_ABORT"); // the client is gone mid-response
        net_http_set_state(h, NET_HTTP_DONE);
        return 1;
    }
    return p | (rc > 0);
}

static int step_connecting(struct net_http *h)
{
    struct sockaddr_storage peer;
    int rc = net_connect_result(h->ofd, &peer);
    if (rc == -EINPROGRESS)
        return 0; // still connecting
    if (rc < 0) {
        char cpeer[64];
        net_conn_peer_text(h->c, cpeer, sizeof(cpeer));
        core_stat_inc(net_http_st.connect_fail);
        core_log_warn("origin %s:%u for client %s: connect: %s", net_http_host(h),
                      h->origin_port, cpeer, strerror(-rc));
        net_http_reply(h, 502, "Bad Gateway: the origin refused the connection\n", true);
        return 1;
    }
    if (h->origin_tls)
        return net_origin_tls_start(h, &peer);
    if (h->tunnel)
        net_tunnel_open(h);
    else
        net_http_set_state(h, NET_HTTP_FORWARD);
    return 1;
}

static int step(struct net_http *h)
{
    const struct net_http_config *cfg = net_http_cfg();
    switch (h->state) {
    case NET_HTTP_READ_HEAD: {
        int rc = net_flow_fill(&h->req, net_http_client_read, h->c, cfg ? cfg->header_max : 131072);
        if (read_head(h))
            return 1;
        if (rc < 0 || h->req.eof)
            net_http_set_state(h, NET_HTTP_DONE);
        return rc > 0;
    }
    case NET_HTTP_RESOLVING:
    case NET_HTTP_INTERCEPT: // the interceptor's done callback moves on
        return 0;
    case NET_HTTP_CONNECTING:
        return step_connecting(h);
    case NET_HTTP_ORIGIN_TLS:
        return net_origin_tls_step(h);
    case NET_HTTP_FORWARD: {
        if (h->tunnel)
            return net_tunnel_step(h);
        int p = step_request(h);
        if (h->state != NET_HTTP_FORWARD)
            return 1;
        p |= step_response(h);
        if (h->state == NET_HTTP_FORWARD && h->resp_head_parsed && h->resp.body_done &&
            net_flow_drained(&h->resp))
            finish_transaction(h);
        return p;
    }
    case NET_HTTP_REPLY: {
        int rc = net_flow_flush(&h->resp, net_http_client_write, h->c);
        if (rc < 0) {
            net_txlog_code(h, "ERR_CLIENT_ABORT");
            net_http_set_state(h, NET_HTTP_DONE);
        } else if (net_flow_drained(&h->resp)) {
            if (h->close_after) {
                net_http_set_state(h, NET_HTTP_DONE);
            } else {
                net_flow_reset(&h->resp, false);
                net_flow_reset(&h->req, true);
                h->resp_head_sent = false;
                net_http_set_state(h, NET_HTTP_READ_HEAD);
            }
        }
        return rc > 0;
    }
    case NET_HTTP_DONE:
        break;
    }
    return 0;
}

static void arm(struct net_http *h)
{
    const struct net_http_config *cfg = net_http_cfg();
    if (!cfg)
        return;
    switch (h->state) {
    case NET_HTTP_READ_HEAD:
        net_conn_arm(h->c, net_buf_len(&h->req.in) ? cfg->txn_in_ms : cfg->keepalive_in_ms);
        break;
    case NET_HTTP_FORWARD:
        // A tunnel's silence is the client's inactivity (ATS: transaction_no_activity_timeout_in).
        // Otherwise: waiting for the client to take response bytes, or for the origin.
        net_conn_arm(h->c, h->tunnel || (h->resp_head_parsed && !net_flow_drained(&h->resp))
                               ? cfg->txn_in_ms
                               : cfg->txn_out_ms);
        break;
    case NET_HTTP_REPLY:
        net_conn_arm(h->c, cfg->txn_in_ms);
        break;
    case NET_HTTP_RESOLVING:
    case NET_HTTP_CONNECTING: // armed once on entry: a connect gets one deadline
    case NET_HTTP_ORIGIN_TLS: // and so does the origin handshake
    case NET_HTTP_INTERCEPT:  // and the interceptor's work (a backstop, net/tunnel.c)
    case NET_HTTP_DONE:
        break;
    }
}

void net_http_on_resume(struct core_msg *msg)
{
    struct net_http *h = caa_container_of(msg, struct net_http, resume);
    h->resume_pending = false;
    if (h->state != NET_HTTP_DONE && h->c->state != NET_CONN_CLOSED)
        net_http_pump(h);
}

// Runs the machine until it cannot progress. After PUMP_ROUNDS busy rounds it yields through
// the mailbox so one fast transfer cannot starve the worker's other connections.
void net_http_pump(struct net_http *h)
{
    if (h->c->state == NET_CONN_CLOSED)
        return;
    for (int round = 0; round < PUMP_ROUNDS; round++) {
        enum net_http_state before = h->state;
        int progress = step(h);
        if (h->state == NET_HTTP_DONE) {
            net_conn_close(h->c);
            return;
        }
        if (h->state != before || progress)
            arm(h);
        if (!progress && h->state == before)
            return;
    }
    if (!h->resume_pending) {
        h->resume_pending = true;
        core_worker_post(h->c->w, &h->resume);
    }
}

void net_http_on_origin_event(struct net_oreg *r, uint32_t events)
{
    struct net_http *h = r->owner;
    h->odrained = false;
    // A close that came with the data gives no later edge: read on to the end of the stream.
    h->ohup = (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
    net_http_pump(h);
}

// ---- stage interface ----

int net_http_start(struct net_conn *c)
{
    struct net_http *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->c = c;
    h->ofd = -1;
    h->state = NET_HTTP_READ_HEAD;
    h->resume.fn = net_http_on_resume;
    c->http = h;
    arm(h);
    net_http_pump(h);
    return 0;
}

// True when the client connection is gone for good: reset or closed both ways, or its FIN when
// it cannot be a half-close: over TLS (a TLS client does not half-close to wait for an answer),
// or with proxy.config.http.allow_half_open 0 (a plain HTTP client may half-close after its
// request, and by default, as in ATS, its transaction goes on).
static bool client_gone(const struct net_conn *c, uint32_t events)
{
    const struct net_http_config *cfg = net_http_cfg();
    bool half_open = cfg ? cfg->half_open : true;
    return (events & (EPOLLHUP | EPOLLERR)) ||
           ((c->tls || !half_open) && (events & EPOLLRDHUP));
}

// What h waits for while nothing reads its client (for the abort message), or NULL when the
// client is being read (the request head or body: its end of stream is seen there) or h is a
// tunnel, whose FIN travels on to the origin.
static const char *waiting_for(const struct net_http *h)
{
    switch (h->state) {
    case NET_HTTP_RESOLVING:
        return "resolving the origin";
    case NET_HTTP_CONNECTING:
        return "connecting";
    case NET_HTTP_ORIGIN_TLS:
        return "TLS handshake";
    case NET_HTTP_FORWARD:
        if (h->tunnel || !h->req.body_done)
            return NULL;
        return h->resp_head_sent ? "mid-response" : "waiting for the response";
    default:
        return NULL;
    }
}

void net_http_on_client_event(struct net_conn *c, uint32_t events)
{
    struct net_http *h = c->http;
    if (!h)
        return;
    // Once the request is read, nothing reads the client until the origin answers: a client
    // that left would otherwise hold the origin connection (and a VERIFY_SERVER plugin's work)
    // until the origin answered or timed out. Stop now, as nginx and ATS do for a client that
    // closes early; the origin connection is closed, never pooled, mid-transaction.
    const char *what = waiting_for(h);
    if (what && client_gone(c, events)) {
        char peer[64];
        net_conn_peer_text(c, peer, sizeof(peer));
        core_stat_inc(net_http_st.client_aborts);
        net_txlog_code(h, "ERR_CLIENT_ABORT");
        CORE_DEBUG("http", "[%llu] client %s left while its request waited for origin %s:%u (%s)",
                   (unsigned long long)c->id, peer, net_http_host(h), h->origin_port, what);
        net_http_set_state(h, NET_HTTP_DONE);
        net_conn_close(c);
        return;
    }
    net_http_pump(h);
}

void net_http_on_timeout(struct net_conn *c)
{
    struct net_http *h = c->http;
    if (!h)
        return;
    char peer[64];
    net_conn_peer_text(c, peer, sizeof(peer));
    switch (h->state) {
    case NET_HTTP_RESOLVING:
    case NET_HTTP_CONNECTING:
        core_stat_inc(net_http_st.connect_timeout);
        core_log_warn("origin %s:%u for client %s: connect timed out", net_http_host(h),
                      h->origin_port, peer);
        net_http_reply(h, 504, "Gateway Timeout: the origin did not accept the connection in time\n",
              true);
        net_http_pump(h);
        return;
    case NET_HTTP_ORIGIN_TLS:
        if (h->verify_wait) {
            core_stat_inc(net_http_st.verify_timeouts);
            core_log_warn("origin %s:%u (%s) for client %s: VERIFY_SERVER plugins did not decide "
                          "in time (proxy.config.tlsedge.verify_server_timeout)",
                          net_http_host(h), h->origin_port, net_http_sni(h), peer);
            net_http_reply(h, 502, "Bad Gateway: the origin's certificate was not accepted in "
                                   "time\n",
                           true);
            net_http_pump(h);
            return;
        }
        core_stat_inc(net_http_st.connect_timeout);
        core_log_warn("origin %s:%u (%s) for client %s: TLS handshake timed out",
                      net_http_host(h), h->origin_port, net_http_sni(h), peer);
        net_http_reply(h, 504, "Gateway Timeout: the origin's TLS handshake did not finish in time\n",
              true);
        net_http_pump(h);
        return;
    case NET_HTTP_INTERCEPT:
        net_tunnel_on_timeout(h);
        net_http_pump(h);
        return;
    case NET_HTTP_FORWARD:
        if (h->tunnel) {
            core_stat_inc(net_http_st.txn_timeouts); // an idle tunnel
            break;
        }
        if (!h->resp_head_sent) {
            core_stat_inc(net_http_st.origin_timeouts);
            core_log_warn("origin %s:%u for client %s: no response in time", net_http_host(h),
                          h->origin_port, peer);
            net_http_reply(h, 504, "Gateway Timeout: the origin did not respond in time\n", true);
            net_http_pump(h);
            return;
        }
        if (net_flow_drained(&h->resp)) {
            core_stat_inc(net_http_st.origin_timeouts);
            core_log_warn("origin %s:%u for client %s: stalled mid-response; closing",
                          net_http_host(h), h->origin_port, peer);
        } else {
            core_stat_inc(net_http_st.txn_timeouts); // the client stopped reading
        }
        break;
    case NET_HTTP_READ_HEAD:
        if (net_buf_len(&h->req.in))
            core_stat_inc(net_http_st.txn_timeouts);
        break;
    case NET_HTTP_REPLY:
        core_stat_inc(net_http_st.txn_timeouts);
        break;
    case NET_HTTP_DONE:
        break;
    }
    CORE_DEBUG("http", "[%llu] inactivity timeout in %s", (unsigned long long)c->id,
               state_names[h->state]);
    net_conn_close(c);
}

bool net_http_idle(const struct net_conn *c)
{
    const struct net_http *h = c->http;
    return !h || (h->state == NET_HTTP_READ_HEAD && net_buf_len(&h->req.in) == 0);
}

bool net_http_busy(const struct net_http *h)
{
    return h && h->resume_pending;
}

void net_http_close(struct net_conn *c)
{
    if (c->http)
        origin_close(c->http);
}

void net_http_free(struct net_http *h)
{
    if (!h)
        return;
    CORE_ASSERT(!h->resume_pending);
    net_buf_free(&h->req.in);
    net_buf_free(&h->req.out);
    net_buf_free(&h->resp.in);
    net_buf_free(&h->resp.out);
    free(h->retry_head);
    net_txlog_end(h); // a connection closed mid-transaction
    free(h->dest);
    tls_hook_close_detached(h->tunnel_hooks); // a blind tunnel's VCONN_CLOSE, now it ended
    free(h);
}
