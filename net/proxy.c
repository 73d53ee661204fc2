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
#include "net/ipallow.h"
#include "net/ports.h"
#include "net/remap.h"
#include "net/resolve.h"
#include "tls/config.h"
#include "tls/conn.h"
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
#include <sys/epoll.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define FLOW_BUF 32768
#define OUT_HEAD_MAX 65536
// Rounds of the pump per event before yielding to other connections through the mailbox.
#define PUMP_ROUNDS 16
#define STATS_PATH "/_tlsedge/stats"
#define VIA_NAME "tlsedge"

enum net_http_state {
    NET_HTTP_READ_HEAD,  // waiting for (the rest of) a request head
    NET_HTTP_RESOLVING,  // the origin's name is being looked up
    NET_HTTP_CONNECTING, // non-blocking connect to the origin in progress
    NET_HTTP_ORIGIN_TLS, // TLS handshake with the origin in progress
    NET_HTTP_FORWARD,    // request and response streaming
    NET_HTTP_REPLY,      // sending a response tlsedge made itself
    NET_HTTP_DONE,       // terminal: the connection is closing
};

static const char *const state_names[] = {
    [NET_HTTP_READ_HEAD] = "READ_HEAD", [NET_HTTP_RESOLVING] = "RESOLVING",
    [NET_HTTP_CONNECTING] = "CONNECTING", [NET_HTTP_ORIGIN_TLS] = "ORIGIN_TLS",
    [NET_HTTP_FORWARD] = "FORWARD",
    [NET_HTTP_REPLY] = "REPLY",         [NET_HTTP_DONE] = "DONE",
};

#define B(s) (1u << (s))
static const unsigned allowed[] = {
    [NET_HTTP_READ_HEAD] = B(NET_HTTP_RESOLVING) | B(NET_HTTP_CONNECTING) | B(NET_HTTP_REPLY) |
                           B(NET_HTTP_DONE) | B(NET_HTTP_READ_HEAD),
    [NET_HTTP_RESOLVING] = B(NET_HTTP_CONNECTING) | B(NET_HTTP_REPLY) | B(NET_HTTP_DONE),
    [NET_HTTP_CONNECTING] =
        B(NET_HTTP_ORIGIN_TLS) | B(NET_HTTP_FORWARD) | B(NET_HTTP_REPLY) | B(NET_HTTP_DONE),
    [NET_HTTP_ORIGIN_TLS] = B(NET_HTTP_FORWARD) | B(NET_HTTP_REPLY) | B(NET_HTTP_DONE),
    [NET_HTTP_FORWARD] = B(NET_HTTP_READ_HEAD) | B(NET_HTTP_REPLY) | B(NET_HTTP_DONE),
    [NET_HTTP_REPLY] = B(NET_HTTP_READ_HEAD) | B(NET_HTTP_DONE),
    [NET_HTTP_DONE] = 0,
};

struct buf {
    char *data;
    size_t cap, start, end;
};

struct flow {
    struct buf in;  // raw bytes from the source
    struct buf out; // bytes tlsedge made (a head), sent before `pass`
    size_t pass;    // bytes at in.start to forward unchanged
    enum net_http1_body body;
    uint64_t left; // LENGTH: body bytes not classified yet
    struct net_http1_chunked ch;
    bool body_done; // the whole body is classified
    bool eof;       // the source ended
};

struct net_http {
    enum net_http_state state;
    struct net_conn *c;
    struct core_event oev;
    int ofd;
    struct flow req;  // client -> origin
    struct flow resp; // origin -> client
    bool resp_head_parsed;
    bool resp_head_sent; // the client has seen (part of) a response head for this request
    bool close_after;    // close the client once the current response is out
    bool client_keepalive;
    bool client_http10;
    enum net_http1_method method;
    struct net_resolve *resolve;
    struct core_msg resume;
    bool resume_pending;
    uint16_t origin_port;
    char origin_host[256];
    bool tunnel;          // CONNECT: bytes relayed both ways once the origin connected
    bool routed;          // a tunnel to a configured route: no 200 of tlsedge's own
    SSL *ossl;            // TLS to the origin, or NULL for plain TCP
    bool origin_tls;      // the route asks for TLS
    char origin_sni[256]; // the name sent as SNI and verified ("" none: IP literal or unknown)
};

// Per-thread scratch space for one request at a time: head rewriting and parsing happen inside
// one callback on a worker and never keep pointers into it, so no per-request allocation.
static __thread struct scratch {
    char head[OUT_HEAD_MAX];
} scratch;
static __thread struct net_http1_request scratch_req;
static __thread struct net_http1_response scratch_resp;

static struct {
    int requests, responses[6], origin_connects, connect_fail, connect_timeout, origin_bad,
        bad_requests, denied, no_remap, stats_requests, txn_timeouts;
} st = {.requests = -1};

void net_http_stats_register(void)
{
    st.requests = core_stat_register("proxy.process.http.incoming_requests");
    static const char *cls[6] = {NULL,
                                 "proxy.process.http.1xx_responses",
                                 "proxy.process.http.2xx_responses",
                                 "proxy.process.http.3xx_responses",
                                 "proxy.process.http.4xx_responses",
                                 "proxy.process.http.5xx_responses"};
    for (int i = 1; i < 6; i++)
        st.responses[i] = core_stat_register(cls[i]);
    st.responses[0] = -1;
    st.origin_connects = core_stat_register("proxy.process.http.total_server_connections");
    st.connect_fail = core_stat_register("proxy.process.tlsedge.origin_connect_failures");
    st.connect_timeout = core_stat_register("proxy.process.tlsedge.origin_connect_timeouts");
    st.origin_bad = core_stat_register("proxy.process.tlsedge.origin_bad_responses");
    st.bad_requests = core_stat_register("proxy.process.tlsedge.bad_requests");
    st.denied = core_stat_register("proxy.process.tlsedge.ip_allow_denied");
    st.no_remap = core_stat_register("proxy.process.tlsedge.no_remap_rule");
    st.stats_requests = core_stat_register("proxy.process.tlsedge.stats_requests");
    st.txn_timeouts = core_stat_register("proxy.process.tlsedge.transaction_timeouts");
}

// ---- configuration ----

static const struct core_rec_decl records[] = {
    {"proxy.config.url_remap.filename", CORE_REC_STRING, "remap.config"},
    {"proxy.config.url_remap.remap_required", CORE_REC_INT, "1"},
    {"proxy.config.url_remap.pristine_host_hdr", CORE_REC_INT, "0"},
    {"proxy.config.cache.ip_allow.filename", CORE_REC_STRING, "ip_allow.yaml"},
    {"proxy.config.http.request_header_max_size", CORE_REC_INT, "131072"},
    {"proxy.config.http.connect_attempts_timeout", CORE_REC_INT, "30"},
    {"proxy.config.http.keep_alive_no_activity_timeout_in", CORE_REC_INT, "120"},
    {"proxy.config.http.transaction_no_activity_timeout_in", CORE_REC_INT, "30"},
    {"proxy.config.http.transaction_no_activity_timeout_out", CORE_REC_INT, "30"},
    {"proxy.config.http.connect_ports", CORE_REC_STRING, "443"},
};

int net_http_config_declare(struct core_records *rec)
{
    return core_records_declare_all(rec, records, sizeof(records) / sizeof(records[0]));
}

static uint64_t seconds(const struct core_records *rec, const char *name)
{
    int64_t v = core_records_get_int(rec, name);
    return (uint64_t)(v > 0 ? v : 1) * 1000;
}

static void conf_path(char *out, size_t len, const char *confdir, const char *name)
{
    if (name[0] == '/')
        snprintf(out, len, "%s", name);
    else
        snprintf(out, len, "%s/%s", confdir, name);
}

// Reads proxy.config.http.connect_ports: space-separated ports and ranges ("443 563 8000-8100"),
// or "*" for any port (ATS's syntax).
static int connect_ports(const char *s, struct net_http_config *c, struct core_err *err)
{
    const char *name = "proxy.config.http.connect_ports";
    c->n_connect_ports = 0;
    for (const char *p = s; *p;) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        if (!*p)
            break;
        unsigned long lo = 1, hi = 65535;
        char *end = NULL;
        if (*p == '*') {
            end = (char *)p + 1;
        } else {
            lo = hi = strtoul(p, &end, 10);
            if (end > p && *end == '-')
                hi = strtoul(end + 1, &end, 10);
        }
        if (end == p || lo < 1 || hi > 65535 || lo > hi ||
            (*end && *end != ' ' && *end != ',' && *end != '\t') ||
            c->n_connect_ports == sizeof(c->connect_ports) / sizeof(c->connect_ports[0])) {
            core_err_add(err, "records.config", 0, "%s: '%s' is not a list of ports and ranges",
                         name, s);
            return -EINVAL;
        }
        c->connect_ports[c->n_connect_ports][0] = (uint16_t)lo;
        c->connect_ports[c->n_connect_ports++][1] = (uint16_t)hi;
        p = end;
    }
    return 0;
}

struct net_http_config *net_http_config_build(const struct core_records *rec, const char *confdir,
                                              struct core_err *err)
{
    struct net_http_config *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->remap_required = core_records_get_int(rec, "proxy.config.url_remap.remap_required") != 0;
    c->pristine_host = core_records_get_int(rec, "proxy.config.url_remap.pristine_host_hdr") != 0;
    int64_t hm = core_records_get_int(rec, "proxy.config.http.request_header_max_size");
    c->header_max = (size_t)(hm > 1024 ? hm : 1024);
    c->connect_timeout_ms = seconds(rec, "proxy.config.http.connect_attempts_timeout");
    c->keepalive_in_ms = seconds(rec, "proxy.config.http.keep_alive_no_activity_timeout_in");
    c->txn_in_ms = seconds(rec, "proxy.config.http.transaction_no_activity_timeout_in");
    c->txn_out_ms = seconds(rec, "proxy.config.http.transaction_no_activity_timeout_out");
    if (connect_ports(core_records_get_str(rec, "proxy.config.http.connect_ports"), c, err) < 0) {
        free(c);
        return NULL;
    }
    char path[PATH_MAX];
    if (confdir) {
        conf_path(path, sizeof(path), confdir,
                  core_records_get_str(rec, "proxy.config.url_remap.filename"));
        c->remap = access(path, F_OK) == 0 ? net_remap_load(path, err)
                                           : net_remap_parse("", 0, path, err);
        conf_path(path, sizeof(path), confdir,
                  core_records_get_str(rec, "proxy.config.cache.ip_allow.filename"));
        c->ipallow = access(path, F_OK) == 0 ? net_ipallow_load(path, err)
                                             : net_ipallow_new_loopback_only();
    } else {
        c->remap = net_remap_parse("", 0, "remap.config", err);
        c->ipallow = net_ipallow_new_loopback_only();
    }
    if (!c->remap || !c->ipallow) {
        net_http_config_free(c);
        return NULL;
    }
    return c;
}

void net_http_config_free(struct net_http_config *c)
{
    if (!c)
        return;
    net_remap_free(c->remap);
    net_ipallow_free(c->ipallow);
    free(c);
}

// ---- buffers ----

static size_t buf_len(const struct buf *b)
{
    return b->end - b->start;
}

static void buf_free(struct buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

// Makes room for at least one more byte, up to max bytes in all. Returns the free space at the
// end (0: full, which is backpressure), or -ENOMEM.
static ssize_t buf_room(struct buf *b, size_t max)
{
    if (b->start == b->end)
        b->start = b->end = 0;
    if (b->end < b->cap)
        return (ssize_t)(b->cap - b->end);
    if (b->start > 0) {
        memmove(b->data, b->data + b->start, b->end - b->start);
        b->end -= b->start;
        b->start = 0;
        return (ssize_t)(b->cap - b->end);
    }
    if (b->cap >= max)
        return 0;
    size_t ncap = b->cap ? b->cap * 2 : FLOW_BUF;
    if (ncap > max)
        ncap = max;
    char *d = realloc(b->data, ncap);
    if (!d)
        return -ENOMEM;
    b->data = d;
    b->cap = ncap;
    return (ssize_t)(b->cap - b->end);
}

static int buf_append(struct buf *b, const char *data, size_t len)
{
    if (b->cap - b->end < len) {
        if (b->start > 0) {
            memmove(b->data, b->data + b->start, b->end - b->start);
            b->end -= b->start;
            b->start = 0;
        }
        if (b->cap - b->end < len) {
            char *d = realloc(b->data, b->end + len);
            if (!d)
                return -ENOMEM;
            b->data = d;
            b->cap = b->end + len;
        }
    }
    memcpy(b->data + b->end, data, len);
    b->end += len;
    return 0;
}

// Idle connections keep no buffers: memory is held only while bytes wait.
static void buf_trim(struct buf *b)
{
    if (b->data && b->start == b->end)
        buf_free(b);
}

// ---- state ----

static void set_state(struct net_http *h, enum net_http_state to)
{
    CORE_ASSERT(allowed[h->state] & B(to));
    CORE_DEBUG("http", "[%llu] %s -> %s", (unsigned long long)h->c->id, state_names[h->state],
               state_names[to]);
    h->state = to;
}

static const struct net_http_config *config(void)
{
    return core_snapshot_part(core_snapshot_get(), CORE_SNAP_HTTP);
}

static void origin_close(struct net_http *h)
{
    net_resolve_cancel(h->resolve);
    h->resolve = NULL;
    if (h->ossl) {
        SSL_shutdown(h->ossl); // close_notify when the socket takes it; never waits
        SSL_free(h->ossl);
        h->ossl = NULL;
        ERR_clear_error();
    }
    if (h->ofd >= 0) {
        core_worker_del(h->c->w, h->ofd);
        close(h->ofd);
        h->ofd = -1;
    }
}

static void flow_reset(struct flow *f, bool keep_in)
{
    buf_free(&f->out);
    if (!keep_in)
        buf_free(&f->in);
    f->pass = 0;
    f->body = NET_HTTP1_BODY_NONE;
    f->left = 0;
    f->body_done = false;
    f->eof = false;
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

static void count_status(int status)
{
    int cls = status / 100;
    if (cls >= 1 && cls <= 5)
        core_stat_inc(st.responses[cls]);
}

// ---- local replies ----

// Queues a response made by tlsedge; the request's remaining bytes are not read any more when
// close is set. Only possible before any response byte reached the client.
static void reply(struct net_http *h, int status, const char *body, bool close)
{
    char out[1024];
    origin_close(h);
    if (h->routed) { // a routed tunnel's client speaks TLS to someone else: just close
        CORE_DEBUG("http", "[%llu] tunnel route failed (%d)", (unsigned long long)h->c->id,
                   status);
        set_state(h, NET_HTTP_DONE);
        return;
    }
    flow_reset(&h->resp, false);
    if (h->req.body != NET_HTTP1_BODY_NONE && !h->req.body_done)
        close = true; // the rest of the request body cannot be skipped safely
    close = close || !h->client_keepalive || h->c->stop_after_response;
    int n = net_http1_error_write(status, body, close, out, sizeof(out));
    if (n < 0 || buf_append(&h->resp.out, out, (size_t)n) < 0) {
        set_state(h, NET_HTTP_DONE);
        return;
    }
    count_status(status);
    h->close_after = close;
    h->resp_head_sent = true;
    set_state(h, NET_HTTP_REPLY);
}

static void reply_stats(struct net_http *h)
{
    struct buf body = {0};
    char line[256];
    core_stat_inc(st.stats_requests);
    buf_append(&body, "{\n", 2);
    int n = core_stat_count();
    for (int i = 0; i < n; i++) {
        int len = snprintf(line, sizeof(line), "  \"%s\": %lld%s\n", core_stat_name(i),
                           (long long)core_stat_sum(i), i + 1 < n ? "," : "");
        if (buf_append(&body, line, (size_t)len) < 0)
            break;
    }
    buf_append(&body, "}\n", 2);
    bool close = !h->client_keepalive || h->c->stop_after_response;
    int hl = snprintf(line, sizeof(line),
                      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      "Cache-Control: no-store\r\nContent-Length: %zu\r\n%s\r\n",
                      buf_len(&body), close ? "Connection: close\r\n" : "");
    buf_append(&h->resp.out, line, (size_t)hl);
    if (h->method != NET_HTTP1_METHOD_HEAD)
        buf_append(&h->resp.out, body.data, buf_len(&body));
    buf_free(&body);
    count_status(200);
    h->close_after = close;
    h->resp_head_sent = true;
    set_state(h, NET_HTTP_REPLY);
}

// ---- the origin connection ----

static void on_origin_event(struct core_event *ev, uint32_t events);
static void pump(struct net_http *h);

static void origin_connect(struct net_http *h, const struct sockaddr_storage *addr,
                           socklen_t addrlen)
{
    const struct net_http_config *cfg = config();
    char peer[64];
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        core_log_warn("origin %s:%u: socket: %s", h->origin_host, h->origin_port, strerror(errno));
        reply(h, 502, "Bad Gateway: cannot reach the origin\n", true);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    core_stat_inc(st.origin_connects);
    if (connect(fd, (const struct sockaddr *)addr, addrlen) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        core_stat_inc(st.connect_fail);
        net_conn_peer_text(h->c, peer, sizeof(peer));
        core_log_warn("origin %s:%u for client %s: connect: %s", h->origin_host, h->origin_port,
                      peer, strerror(e));
        reply(h, 502, "Bad Gateway: the origin refused the connection\n", true);
        return;
    }
    h->ofd = fd;
    h->oev.fn = on_origin_event;
    if (core_worker_add(h->c->w, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP, &h->oev) < 0) {
        origin_close(h);
        reply(h, 502, "Bad Gateway\n", true);
        return;
    }
    set_state(h, NET_HTTP_CONNECTING);
    net_conn_arm(h->c, cfg ? cfg->connect_timeout_ms : 30000);
}

static void on_resolved(void *arg, int rc, const struct sockaddr_storage *addr, socklen_t len)
{
    struct net_http *h = arg;
    h->resolve = NULL;
    if (rc < 0) {
        char peer[64];
        net_conn_peer_text(h->c, peer, sizeof(peer));
        core_log_warn("origin %s for client %s: cannot resolve the name", h->origin_host, peer);
        core_stat_inc(st.connect_fail);
        reply(h, 502, "Bad Gateway: unknown origin host\n", true);
    } else {
        origin_connect(h, addr, len);
    }
    pump(h);
}

static void start_origin(struct net_http *h, const char *host, uint16_t port)
{
    struct sockaddr_storage addr;
    socklen_t len;
    snprintf(h->origin_host, sizeof(h->origin_host), "%.255s", host);
    h->origin_port = port;
    if (net_resolve_numeric(host, port, &addr, &len) == 0) {
        origin_connect(h, &addr, len);
        return;
    }
    h->resolve = net_resolve_start(h->c->w, host, port, on_resolved, h);
    if (!h->resolve) {
        reply(h, 502, "Bad Gateway\n", true);
        return;
    }
    set_state(h, NET_HTTP_RESOLVING);
    const struct net_http_config *cfg = config();
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

static void slice_copy(const char *buf, struct net_http1_slice s, char *out, size_t len)
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
    slice_copy(buf, req->host_name, host, sizeof(host));
    for (char *p = host; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    slice_copy(buf, req->path, path, sizeof(path));
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
        core_stat_inc(st.no_remap);
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
        .origin_close = true, // one origin connection per request for now
    };
    char *out = scratch.head;
    int n = net_http1_request_write_proxy(buf, req, &o, out, OUT_HEAD_MAX);
    if (n > 0)
        n = buf_append(&h->req.out, out, (size_t)n);
    return n < 0 ? n : 0;
}

// Picks the name sent to a TLS origin as SNI and verified against its certificate, per
// proxy.config.ssl.client.sni_policy: the Host sent to the origin (the client's with
// pristine_host_hdr, else the remap target's), the client's own SNI, or the remap target. An IP
// literal sends no SNI and is verified against the certificate's IP addresses.
static void choose_sni(struct net_http *h, const struct route *r)
{
    h->origin_tls = r->tls;
    h->origin_sni[0] = '\0';
    if (!r->tls)
        return;
    const struct tls_config *tc = core_snapshot_part(core_snapshot_get(), CORE_SNAP_TLS);
    enum tls_sni_policy pol = tc && tc->origin ? tc->origin->sni_policy : TLS_SNI_HOST;
    const char *client_sni = h->c->tls ? tls_conn_sni(h->c->tls) : NULL;
    const char *name = r->host;
    if (pol == TLS_SNI_SERVER_NAME && client_sni)
        name = client_sni;
    else if (pol != TLS_SNI_REMAP && r->pristine && r->client_host[0])
        name = r->client_host;
    snprintf(h->origin_sni, sizeof(h->origin_sni), "%s", name);
}

// ---- CONNECT ----

static bool port_allowed(const struct net_http_config *cfg, unsigned port)
{
    for (size_t i = 0; i < cfg->n_connect_ports; i++)
        if (port >= cfg->connect_ports[i][0] && port <= cfg->connect_ports[i][1])
            return true;
    return false;
}

// CONNECT host:port (ip_allow already allowed the method for this client): a port outside
// proxy.config.http.connect_ports is refused with 403 before anything is dialled; otherwise the
// origin is dialled and, once connected, 200 opens a byte tunnel (see tunnel_open).
static void start_tunnel(struct net_http *h, const struct net_http_config *cfg, const char *buf,
                         const struct net_http1_request *req)
{
    char auth[300], *host = auth;
    slice_copy(buf, req->authority, auth, sizeof(auth));
    char *colon = strrchr(auth, ':');
    unsigned long port = colon ? strtoul(colon + 1, NULL, 10) : 0;
    if (colon)
        *colon = '\0';
    if (host[0] == '[' && colon && colon[-1] == ']') {
        host++;
        colon[-1] = '\0';
    }
    if (!colon || port < 1 || port > 65535 || !host[0]) {
        core_stat_inc(st.bad_requests);
        reply(h, 400, "Bad Request: CONNECT needs host:port\n", true);
        return;
    }
    if (!port_allowed(cfg, (unsigned)port)) {
        core_stat_inc(st.denied);
        reply(h, 403, "Forbidden: CONNECT to this port is not allowed\n", true);
        return;
    }
    h->tunnel = true;
    h->origin_tls = false;
    h->req.body = NET_HTTP1_BODY_TUNNEL;
    h->req.body_done = false;
    start_origin(h, host, (uint16_t)port);
}

// The origin accepted the tunnel's connection: 200, then opaque bytes both ways. Each direction
// ends with a half-close passed on to the other side; the tunnel ends when both did.
static void tunnel_open(struct net_http *h)
{
    static const char ok[] = "HTTP/1.1 200 Connection Established\r\n\r\n";
    if (!h->routed) {
        buf_append(&h->resp.out, ok, sizeof(ok) - 1);
        count_status(200);
    }
    h->resp_head_parsed = true;
    h->resp_head_sent = true;
    h->close_after = true;
    h->resp.body = NET_HTTP1_BODY_TUNNEL;
    h->resp.body_done = false;
    set_state(h, NET_HTTP_FORWARD);
}

static void handle_request(struct net_http *h, const struct net_http_config *cfg,
                           const struct net_http1_request *req, size_t head_len)
{
    const char *buf = h->req.in.data + h->req.in.start;
    char method[32];
    core_stat_inc(st.requests);
    slice_copy(buf, req->method_name, method, sizeof(method));
    h->method = req->method;
    h->client_keepalive = req->keep_alive;
    h->client_http10 = req->version == 10;
    h->req.body = req->body;
    h->req.left = req->content_length;
    h->req.body_done = req->body == NET_HTTP1_BODY_NONE ||
                       (req->body == NET_HTTP1_BODY_LENGTH && req->content_length == 0);
    net_http1_chunked_init(&h->req.ch);
    if (!net_ipallow_check(cfg->ipallow, (const struct sockaddr *)&h->c->peer, method)) {
        core_stat_inc(st.denied);
        h->req.in.start += head_len;
        reply(h, 403, "Forbidden\n", false);
        return;
    }
    if (req->form == NET_HTTP1_TARGET_ORIGIN && req->path.len == sizeof(STATS_PATH) - 1 &&
        memcmp(buf + req->path.off, STATS_PATH, req->path.len) == 0 &&
        (req->method == NET_HTTP1_METHOD_GET || req->method == NET_HTTP1_METHOD_HEAD)) {
        h->req.in.start += head_len;
        reply_stats(h);
        return;
    }
    if (req->method == NET_HTTP1_METHOD_CONNECT) {
        h->req.in.start += head_len;
        start_tunnel(h, cfg, buf, req);
        return;
    }
    struct route *r = &scratch_route;
    int status = route(h, cfg, buf, req, r);
    if (status == 0 && write_origin_head(h, buf, req, r) < 0)
        status = 400;
    h->req.in.start += head_len; // the head is consumed (rewritten into req.out or refused)
    if (status != 0) {
        reply(h, status, status == 404 ? "Not Found: no remap rule for this host\n" : NULL,
              status >= 500);
    } else {
        choose_sni(h, r);
        start_origin(h, r->host, r->port);
    }
}

// Parses the next request head in req.in. Returns true when it changed state.
static bool read_head(struct net_http *h)
{
    const struct net_http_config *cfg = config();
    if (!cfg) {
        set_state(h, NET_HTTP_DONE);
        return true;
    }
    if (buf_len(&h->req.in) == 0)
        return false;
    struct net_http1_request *req = &scratch_req;
    int rc = net_http1_request_parse(h->req.in.data + h->req.in.start, buf_len(&h->req.in),
                                     cfg->header_max, req);
    if (rc > 0) {
        handle_request(h, cfg, req, (size_t)rc);
    } else if (rc < 0) {
        char peer[64];
        net_conn_peer_text(h->c, peer, sizeof(peer));
        CORE_DEBUG("http", "[%llu] bad request from %s", (unsigned long long)h->c->id, peer);
        core_stat_inc(st.bad_requests);
        h->client_keepalive = false;
        h->req.in.start = h->req.in.end; // nothing more is read from this client
        reply(h, net_http1_parse_status(rc), NULL, true);
    }
    return rc != 0;
}

// ---- streaming ----

// Classifies the unclassified bytes of f->in as body bytes (pass) until the body ends.
// Returns 0, or a negative errno for a malformed chunked body.
static int classify(struct flow *f)
{
    if (f->body_done)
        return 0;
    size_t off = f->in.start + f->pass;
    size_t un = f->in.end - off;
    switch (f->body) {
    case NET_HTTP1_BODY_NONE:
        f->body_done = true;
        break;
    case NET_HTTP1_BODY_LENGTH: {
        uint64_t n = un < f->left ? un : f->left;
        f->pass += n;
        f->left -= n;
        f->body_done = f->left == 0;
        break;
    }
    case NET_HTTP1_BODY_CHUNKED: {
        size_t used = 0;
        int rc = net_http1_chunked_feed(&f->ch, f->in.data + off, un, &used, NULL, NULL);
        f->pass += used;
        if (rc < 0)
            return rc;
        f->body_done = rc == 1;
        break;
    }
    case NET_HTTP1_BODY_EOF:
    case NET_HTTP1_BODY_TUNNEL:
        f->pass += un;
        f->body_done = f->eof;
        break;
    }
    return 0;
}

typedef ssize_t (*io_fn)(void *ctx, void *buf, size_t len);

static ssize_t client_read(void *ctx, void *buf, size_t len)
{
    return net_conn_read(ctx, buf, len);
}

static ssize_t client_write(void *ctx, void *buf, size_t len)
{
    return net_conn_write(ctx, buf, len);
}

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

static ssize_t origin_read(void *ctx, void *buf, size_t len)
{
    struct net_http *h = ctx;
    if (h->ossl) {
        ERR_clear_error();
        return origin_ssl_result(h, SSL_read(h->ossl, buf, len > INT_MAX ? INT_MAX : (int)len));
    }
    ssize_t n = read(h->ofd, buf, len);
    return n >= 0 ? n : -errno;
}

static ssize_t origin_write(void *ctx, void *buf, size_t len)
{
    struct net_http *h = ctx;
    if (h->ossl) {
        ERR_clear_error();
        return origin_ssl_result(h, SSL_write(h->ossl, buf, len > INT_MAX ? INT_MAX : (int)len));
    }
    ssize_t n = send(h->ofd, buf, len, MSG_NOSIGNAL);
    return n >= 0 ? n : -errno;
}

// Reads from a source into f->in while there is room. Returns 1 on progress, 0 on none, or a
// negative errno on a read error. Sets f->eof at the end of the stream.
static int flow_fill(struct flow *f, io_fn rd, void *ctx, size_t max)
{
    int progress = 0;
    while (!f->eof) {
        ssize_t room = buf_room(&f->in, max);
        if (room <= 0)
            return room < 0 ? (int)room : progress;
        ssize_t n = rd(ctx, f->in.data + f->in.end, (size_t)room);
        if (n == -EAGAIN || n == -EINTR) {
            buf_trim(&f->in); // an idle connection keeps no buffer
            return progress;
        }
        if (n < 0)
            return (int)n;
        if (n == 0)
            f->eof = true;
        f->in.end += (size_t)n;
        progress = 1;
    }
    return progress;
}

// Sends f->out, then the classified bytes of f->in, to a destination. Returns 1 on progress,
// 0 on none, or a negative errno on a write error.
static int flow_flush(struct flow *f, io_fn wr, void *ctx)
{
    int progress = 0;
    while (buf_len(&f->out) > 0) {
        ssize_t n = wr(ctx, f->out.data + f->out.start, buf_len(&f->out));
        if (n == -EAGAIN)
            return progress;
        if (n < 0)
            return (int)n;
        f->out.start += (size_t)n;
        progress = 1;
    }
    buf_trim(&f->out);
    while (f->pass > 0) {
        ssize_t n = wr(ctx, f->in.data + f->in.start, f->pass);
        if (n == -EAGAIN)
            return progress;
        if (n < 0)
            return (int)n;
        f->in.start += (size_t)n;
        f->pass -= (size_t)n;
        progress = 1;
    }
    return progress;
}

static bool flow_drained(const struct flow *f)
{
    return buf_len(&f->out) == 0 && f->pass == 0;
}

static int parse_response(struct net_http *h)
{
    struct net_http1_response *resp = &scratch_resp;
    const char *buf = h->resp.in.data + h->resp.in.start;
    int rc = net_http1_response_parse(buf, buf_len(&h->resp.in), OUT_HEAD_MAX, h->method, resp);
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
        n = buf_append(&h->resp.out, out, (size_t)n);
    if (n < 0) {
        rc = n;
        goto out;
    }
    h->resp.in.start += (size_t)rc;
    h->resp_head_sent = true;
    if (resp->interim)
        goto out; // the final head follows
    count_status(resp->status);
    h->resp_head_parsed = true;
    h->close_after = close;
    h->resp.body = resp->body;
    h->resp.left = resp->content_length;
    h->resp.body_done = false;
    net_http1_chunked_init(&h->resp.ch);
out:
    return rc;
}

// ---- the transaction machine ----

static void finish_transaction(struct net_http *h)
{
    origin_close(h);
    if (h->close_after || h->c->stop_after_response || !h->req.body_done ||
        !flow_drained(&h->req)) {
        set_state(h, NET_HTTP_DONE);
        return;
    }
    flow_reset(&h->resp, false);
    flow_reset(&h->req, true); // what is left in req.in is the next (pipelined) request
    buf_trim(&h->req.in);
    h->resp_head_parsed = false;
    h->resp_head_sent = false;
    h->close_after = false;
    set_state(h, NET_HTTP_READ_HEAD);
}

// A failure while forwarding: an error reply when the client has seen nothing yet, else close.
static void forward_failed(struct net_http *h, int status, const char *why)
{
    char peer[64];
    net_conn_peer_text(h->c, peer, sizeof(peer));
    CORE_DEBUG("http", "[%llu] %s (origin %s:%u, client %s)", (unsigned long long)h->c->id, why,
               h->origin_host, h->origin_port, peer);
    if (status && !h->resp_head_sent)
        reply(h, status, NULL, true);
    else
        set_state(h, NET_HTTP_DONE);
}

static int step_request(struct net_http *h)
{
    int p = 0;
    if (!h->req.body_done) {
        int rc = flow_fill(&h->req, client_read, h->c, FLOW_BUF);
        if (rc < 0 || (h->req.eof && buf_len(&h->req.in) == h->req.pass)) {
            set_state(h, NET_HTTP_DONE); // the client went away mid-request
            return 1;
        }
        p |= rc;
        if (classify(&h->req) < 0) {
            core_stat_inc(st.bad_requests);
            forward_failed(h, 400, "malformed chunked request body");
            return 1;
        }
    }
    int rc = flow_flush(&h->req, origin_write, h);
    if (rc < 0 && !h->resp_head_parsed) {
        forward_failed(h, 502, "origin write failed");
        return 1;
    }
    return p | (rc > 0);
}

static int step_response(struct net_http *h)
{
    int p = 0;
    if (!h->resp.body_done) {
        int rc = flow_fill(&h->resp, origin_read, h, h->resp_head_parsed ? FLOW_BUF : OUT_HEAD_MAX);
        if (rc < 0) {
            core_stat_inc(st.origin_bad);
            forward_failed(h, 502, "origin read failed");
            return 1;
        }
        p |= rc;
        while (!h->resp_head_parsed && buf_len(&h->resp.in) > 0) {
            rc = parse_response(h);
            if (rc < 0) {
                core_stat_inc(st.origin_bad);
                forward_failed(h, 502, "malformed origin response");
                return 1;
            }
            if (rc == 0)
                break;
        }
        if (!h->resp_head_parsed && h->resp.eof) {
            core_stat_inc(st.origin_bad);
            forward_failed(h, 502, "origin closed before responding");
            return 1;
        }
        if (h->resp_head_parsed && classify(&h->resp) < 0) {
            forward_failed(h, 0, "malformed chunked response body");
            return 1;
        }
        if (h->resp_head_parsed && h->resp.eof && !h->resp.body_done) {
            forward_failed(h, 0, "origin closed mid-body");
            return 1;
        }
    }
    int rc = flow_flush(&h->resp, client_write, h->c);
    if (rc < 0) {
        set_state(h, NET_HTTP_DONE);
        return 1;
    }
    return p | (rc > 0);
}

static int step_origin_tls(struct net_http *h);

// Begins TLS on the connected origin socket (peer: the address connected to).
static int start_origin_tls(struct net_http *h, const struct sockaddr_storage *peer)
{
    const struct tls_config *tc = core_snapshot_part(core_snapshot_get(), CORE_SNAP_TLS);
    const struct net_http_config *cfg = config();
    char ip[INET6_ADDRSTRLEN] = "", key[640];
    const void *a = peer->ss_family == AF_INET6
                        ? (const void *)&((const struct sockaddr_in6 *)peer)->sin6_addr
                        : (const void *)&((const struct sockaddr_in *)peer)->sin_addr;
    inet_ntop(peer->ss_family, a, ip, sizeof(ip));
    const char *name = h->origin_sni[0] ? h->origin_sni : NULL;
    if (!tc || !tc->origin ||
        tls_origin_key(&tc->origin->global, ip, h->origin_port, name, key, sizeof(key)) < 0 ||
        !(h->ossl = tls_origin_ssl_new(tc->origin, &tc->origin->global, name, name, key)) ||
        !SSL_set_fd(h->ossl, h->ofd)) {
        reply(h, 502, "Bad Gateway\n", true);
        return 1;
    }
    set_state(h, NET_HTTP_ORIGIN_TLS);
    net_conn_arm(h->c, cfg ? cfg->connect_timeout_ms : 30000);
    return step_origin_tls(h);
}

static int step_connecting(struct net_http *h)
{
    int err = 0;
    socklen_t len = sizeof(err);
    struct sockaddr_storage peer;
    socklen_t plen = sizeof(peer);
    if (getsockopt(h->ofd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err == 0 && getpeername(h->ofd, (struct sockaddr *)&peer, &plen) < 0) {
        if (errno == ENOTCONN)
            return 0; // still connecting
        err = errno;
    }
    if (err) {
        char cpeer[64];
        net_conn_peer_text(h->c, cpeer, sizeof(cpeer));
        core_stat_inc(st.connect_fail);
        core_log_warn("origin %s:%u for client %s: connect: %s", h->origin_host,
                      h->origin_port, cpeer, strerror(err));
        reply(h, 502, "Bad Gateway: the origin refused the connection\n", true);
        return 1;
    }
    if (h->origin_tls)
        return start_origin_tls(h, &peer);
    if (h->tunnel)
        tunnel_open(h);
    else
        set_state(h, NET_HTTP_FORWARD);
    return 1;
}

// The origin handshake: on success the request flows; a failure (verification included) is
// 502, counted by reason and logged with the origin, the name and the client.
static int step_origin_tls(struct net_http *h)
{
    ERR_clear_error();
    int r = SSL_do_handshake(h->ossl);
    if (r != 1) {
        int e = SSL_get_error(h->ossl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return 0;
    }
    tls_origin_count_result(h->ossl, r == 1);
    enum tls_verify_verdict v = tls_origin_verdict(h->ossl);
    bool verified = v == TLS_VERDICT_OK || v == TLS_VERDICT_NONE;
    if (r == 1 && verified) {
        set_state(h, NET_HTTP_FORWARD);
        return 1;
    }
    char peer[64];
    net_conn_peer_text(h->c, peer, sizeof(peer));
    if (r == 1) { // PERMISSIVE: log and go on
        core_log_warn("origin %s:%u (%s) for client %s: certificate not verified (%s); "
                      "connecting anyway (policy PERMISSIVE)",
                      h->origin_host, h->origin_port, h->origin_sni, peer,
                      tls_origin_verdict_name(v));
        set_state(h, NET_HTTP_FORWARD);
        return 1;
    }
    core_log_warn("origin %s:%u (%s) for client %s: TLS handshake failed: %s", h->origin_host,
                  h->origin_port, h->origin_sni, peer,
                  verified ? "handshake error" : tls_origin_verdict_name(v));
    ERR_clear_error();
    reply(h, 502, verified ? "Bad Gateway: TLS handshake with the origin failed\n"
                           : "Bad Gateway: the origin's certificate was not accepted\n",
          true);
    return 1;
}

// One round of a tunnel: relay what can be relayed and pass half-closes on. Returns progress.
static int step_tunnel(struct net_http *h)
{
    int p = 0;
    int rc = flow_fill(&h->req, client_read, h->c, FLOW_BUF);
    if (rc < 0) {
        set_state(h, NET_HTTP_DONE);
        return 1;
    }
    p |= rc;
    classify(&h->req);
    rc = flow_flush(&h->req, origin_write, h);
    if (rc < 0) {
        set_state(h, NET_HTTP_DONE);
        return 1;
    }
    p |= rc > 0;
    if (h->req.eof && flow_drained(&h->req) && !h->req.body_done) {
        h->req.body_done = true; // the client's FIN, passed on
        shutdown(h->ofd, SHUT_WR);
    }
    rc = flow_fill(&h->resp, origin_read, h, FLOW_BUF);
    if (rc < 0) {
        set_state(h, NET_HTTP_DONE);
        return 1;
    }
    p |= rc;
    classify(&h->resp);
    rc = flow_flush(&h->resp, client_write, h->c);
    if (rc < 0) {
        set_state(h, NET_HTTP_DONE);
        return 1;
    }
    p |= rc > 0;
    if (h->resp.eof && flow_drained(&h->resp) && !h->resp.body_done) {
        h->resp.body_done = true; // the origin's FIN, passed on
        net_conn_shutdown_write(h->c);
    }
    if (h->req.body_done && h->resp.body_done)
        set_state(h, NET_HTTP_DONE);
    return p;
}

static int step(struct net_http *h)
{
    const struct net_http_config *cfg = config();
    switch (h->state) {
    case NET_HTTP_READ_HEAD: {
        int rc = flow_fill(&h->req, client_read, h->c, cfg ? cfg->header_max : 131072);
        if (read_head(h))
            return 1;
        if (rc < 0 || h->req.eof)
            set_state(h, NET_HTTP_DONE);
        return rc > 0;
    }
    case NET_HTTP_RESOLVING:
        return 0;
    case NET_HTTP_CONNECTING:
        return step_connecting(h);
    case NET_HTTP_ORIGIN_TLS:
        return step_origin_tls(h);
    case NET_HTTP_FORWARD: {
        if (h->tunnel)
            return step_tunnel(h);
        int p = step_request(h);
        if (h->state != NET_HTTP_FORWARD)
            return 1;
        p |= step_response(h);
        if (h->state == NET_HTTP_FORWARD && h->resp_head_parsed && h->resp.body_done &&
            flow_drained(&h->resp))
            finish_transaction(h);
        return p;
    }
    case NET_HTTP_REPLY: {
        int rc = flow_flush(&h->resp, client_write, h->c);
        if (rc < 0) {
            set_state(h, NET_HTTP_DONE);
        } else if (flow_drained(&h->resp)) {
            if (h->close_after) {
                set_state(h, NET_HTTP_DONE);
            } else {
                flow_reset(&h->resp, false);
                flow_reset(&h->req, true);
                h->resp_head_sent = false;
                set_state(h, NET_HTTP_READ_HEAD);
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
    const struct net_http_config *cfg = config();
    if (!cfg)
        return;
    switch (h->state) {
    case NET_HTTP_READ_HEAD:
        net_conn_arm(h->c, buf_len(&h->req.in) ? cfg->txn_in_ms : cfg->keepalive_in_ms);
        break;
    case NET_HTTP_FORWARD:
        net_conn_arm(h->c, h->resp_head_parsed ? cfg->txn_in_ms : cfg->txn_out_ms);
        break;
    case NET_HTTP_REPLY:
        net_conn_arm(h->c, cfg->txn_in_ms);
        break;
    case NET_HTTP_RESOLVING:
    case NET_HTTP_CONNECTING: // armed once on entry: a connect gets one deadline
    case NET_HTTP_ORIGIN_TLS: // and so does the origin handshake
    case NET_HTTP_DONE:
        break;
    }
}

static void on_resume(struct core_msg *msg)
{
    struct net_http *h = caa_container_of(msg, struct net_http, resume);
    h->resume_pending = false;
    if (h->state != NET_HTTP_DONE && h->c->state != NET_CONN_CLOSED)
        pump(h);
}

// Runs the machine until it cannot progress. After PUMP_ROUNDS busy rounds it yields through
// the mailbox so one fast transfer cannot starve the worker's other connections.
static void pump(struct net_http *h)
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

static void on_origin_event(struct core_event *ev, uint32_t events)
{
    pump(caa_container_of(ev, struct net_http, oev));
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
    h->resume.fn = on_resume;
    c->http = h;
    arm(h);
    pump(h);
    return 0;
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
    h->resume.fn = on_resume;
    h->tunnel = h->routed = true;
    h->req.body = NET_HTTP1_BODY_TUNNEL;
    if (head) {
        h->req.in.data = (char *)head;
        h->req.in.cap = h->req.in.end = len;
    }
    c->http = h;
    start_origin(h, host, (uint16_t)port);
    pump(h);
    return 0;
}

void net_http_on_client_event(struct net_conn *c, uint32_t events)
{
    if (c->http)
        pump(c->http);
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
        core_stat_inc(st.connect_timeout);
        core_log_warn("origin %s:%u for client %s: connect timed out", h->origin_host,
                      h->origin_port, peer);
        reply(h, 504, "Gateway Timeout: the origin did not accept the connection in time\n",
              true);
        pump(h);
        return;
    case NET_HTTP_ORIGIN_TLS:
        core_stat_inc(st.connect_timeout);
        core_log_warn("origin %s:%u (%s) for client %s: TLS handshake timed out",
                      h->origin_host, h->origin_port, h->origin_sni, peer);
        reply(h, 504, "Gateway Timeout: the origin's TLS handshake did not finish in time\n",
              true);
        pump(h);
        return;
    case NET_HTTP_FORWARD:
        core_stat_inc(st.txn_timeouts);
        if (!h->resp_head_sent) {
            core_log_warn("origin %s:%u for client %s: no response in time", h->origin_host,
                          h->origin_port, peer);
            reply(h, 504, "Gateway Timeout: the origin did not respond in time\n", true);
            pump(h);
            return;
        }
        break;
    case NET_HTTP_READ_HEAD:
        if (buf_len(&h->req.in))
            core_stat_inc(st.txn_timeouts);
        break;
    case NET_HTTP_REPLY:
        core_stat_inc(st.txn_timeouts);
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
    return !h || (h->state == NET_HTTP_READ_HEAD && buf_len(&h->req.in) == 0);
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
    buf_free(&h->req.in);
    buf_free(&h->req.out);
    buf_free(&h->resp.in);
    buf_free(&h->resp.out);
    free(h);
}
