// SPDX-License-Identifier: Apache-2.0
// net/internal.h: helpers shared inside net/ only (no other module includes this): the bounded
// byte buffers and message flows of the HTTP stage (net/flow.c), used by net/proxy.c. Owning
// worker only; a flow belongs to its connection's struct net_http.
#ifndef TLSEDGE_NET_INTERNAL_H
#define TLSEDGE_NET_INTERNAL_H

#include "core/mbox.h"
#include "core/worker.h"
#include "net/http1.h"

#include <openssl/base.h>
#include <sys/socket.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

// A flow's buffer grows to FLOW_BUF bytes at most while streaming a body.
#define FLOW_BUF 32768

// struct buf: bytes data[start, end) of cap allocated (data NULL while empty); owned by its flow.
struct buf {
    char *data;
    size_t cap, start, end;
};

// struct flow: one direction of a transaction (client -> origin or back).
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

// net_io_fn reads or writes up to len bytes for a flow: > 0 bytes, 0 at the end of the stream,
// or a negative errno (-EAGAIN: not now).
typedef ssize_t (*net_io_fn)(void *ctx, void *buf, size_t len);

// net_buf_len returns the bytes b holds. net_buf_free releases b's memory (b stays usable).
size_t net_buf_len(const struct buf *b);
void net_buf_free(struct buf *b);

// net_buf_room makes room at b's end for up to max bytes held in all (compacting or growing by
// doubling from FLOW_BUF) and returns how many bytes may be written at data + end: > 0, 0 when b
// holds max already, or -ENOMEM.
ssize_t net_buf_room(struct buf *b, size_t max);

// net_buf_append copies len bytes of data to b's end. Returns 0 or -ENOMEM.
int net_buf_append(struct buf *b, const char *data, size_t len);

// net_buf_trim frees b's memory when it holds nothing (idle connections keep no buffer).
void net_buf_trim(struct buf *b);

// net_flow_reset empties f for the next message (keep_in: keep the unread input, e.g. a
// pipelined request).
void net_flow_reset(struct flow *f, bool keep_in);

// net_flow_classify marks the unclassified bytes of f->in that belong to the current body as
// ready to pass (f->pass) until the body ends (f->body_done). Returns 0, or a negative errno for
// a malformed chunked body.
int net_flow_classify(struct flow *f);

// net_flow_fill reads from rd(ctx) into f->in while there is room below max. Returns 1 on
// progress, 0 on none, or a negative errno; sets f->eof at the end of the stream.
int net_flow_fill(struct flow *f, net_io_fn rd, void *ctx, size_t max);

// net_flow_flush writes f->out, then the classified bytes of f->in, with wr(ctx). Returns 1 on
// progress, 0 on none, or a negative errno.
int net_flow_flush(struct flow *f, net_io_fn wr, void *ctx);

// net_flow_drained is true when f has nothing left to write.
bool net_flow_drained(const struct flow *f);

// ---- the HTTP stage (net/proxy.c), shared with the tunnels (net/tunnel.c) ----

struct net_conn;
struct net_http_config;
struct net_resolve;
struct net_oreg;
struct net_splice;

enum net_http_state {
    NET_HTTP_READ_HEAD,  // waiting for (the rest of) a request head
    NET_HTTP_RESOLVING,  // the origin's name is being looked up
    NET_HTTP_CONNECTING, // non-blocking connect to the origin in progress
    NET_HTTP_ORIGIN_TLS, // TLS handshake with the origin in progress
    NET_HTTP_INTERCEPT,  // a CONNECT interceptor (net/intercept.h) opens the upstream
    NET_HTTP_FORWARD,    // request and response streaming
    NET_HTTP_REPLY,      // sending a response tlsedge made itself
    NET_HTTP_DONE,       // terminal: the connection is closing
};


// struct net_http: the HTTP stage of one client connection; owned by it (net_http_free).
// struct net_http_dest: where h's current request goes. Allocated when a request is routed
// (net_http_dest_get) and freed when the connection waits for its next request, so an idle
// client connection does not carry it.
struct net_http_dest {
    char host[256];
    char sni[256]; // the name sent as SNI and verified ("" none: IP literal or unknown)
    struct sockaddr_storage addr; // the origin's address (pool keys, retry)
    socklen_t addrlen;
};

struct net_http {
    enum net_http_state state;
    struct net_conn *c;
    struct net_oreg *oreg; // ofd's epoll registration (net/opool.h), NULL when ofd < 0
    int ofd;
    bool odrained; // a short plain read emptied ofd: no read until its next event
    bool ohup;     // ofd's last event reported the origin's close
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
    struct net_http_dest *dest; // NULL between requests
    bool tunnel;          // CONNECT: bytes relayed both ways once the origin connected
    bool routed;          // a tunnel to a configured route: no 200 of tlsedge's own
    void *tunnel_hooks;   // a blind tunnel's detached hook state (tls_hook_detach), or NULL
    SSL *ossl;            // TLS to the origin, or NULL for plain TCP
    bool origin_tls;      // the route asks for TLS
    bool verify_wait;     // the origin handshake waits for VERIFY_SERVER plugins
    bool origin_keepalive; // the origin's response lets its connection carry another request
    bool reused;           // the origin connection came from the worker's pool
    bool no_pool;          // a retry after a stale pooled connection: connect afresh
    char *retry_head;      // the request head, kept while a pooled connection may be stale
    size_t retry_len;
    void *intercept;           // INTERCEPT: the interceptor's operation (net/intercept.h)
    struct net_splice *splice; // a plain tunnel relayed with splice(2), or NULL (owned)
    bool splice_tried;         // splice was set up, or could not be: do not try again
    struct net_txlog *txlog;   // the transaction log's record (net/txlog.c), NULL when off
};


// struct net_http_stats: the HTTP counters' ids (net_http_stats_register).
struct net_http_stats {
    int requests, responses[6], origin_connects, connect_fail, connect_timeout, origin_bad,
        origin_resets, origin_closed, origin_timeouts, bad_requests, denied, no_remap,
        stats_requests, txn_timeouts, verify_timeouts, outbound_hook_fail, stale_retries,
        client_aborts;
};


extern struct net_http_stats net_http_st;

// net_http_cfg returns the HTTP part of the current snapshot (RCU reader), or NULL.
const struct net_http_config *net_http_cfg(void);
// net_http_dest_get returns h->dest, allocating an empty one when h has none; NULL when out of
// memory.
struct net_http_dest *net_http_dest_get(struct net_http *h);
// net_http_host and net_http_sni return the current request's origin host and SNI ("" when
// none), for messages and keys.
const char *net_http_host(const struct net_http *h);
const char *net_http_sni(const struct net_http *h);
// net_http_set_state moves h to state to (checked against the transition table).
void net_http_set_state(struct net_http *h, enum net_http_state to);
// ---- the transaction log (net/txlog.c); worker thread of h ----
// net_txlog_begin starts h's record for the request head req in buf (req NULL: a head that could
// not be parsed), when the transaction log is on; otherwise it does nothing.
void net_txlog_begin(struct net_http *h, const char *buf, const struct net_http1_request *req);
// net_txlog_status records the status sent to the client and the squid result code (a static
// string); net_txlog_code changes only the code; net_txlog_sent adds n bytes sent to the client.
void net_txlog_status(struct net_http *h, int status, const char *code);
void net_txlog_code(struct net_http *h, const char *code);
// net_txlog_type records the response's Content-Type (len bytes at type; escaped, cut at 79).
void net_txlog_type(struct net_http *h, const char *type, size_t len);
void net_txlog_sent(struct net_http *h, size_t n);
// net_txlog_end writes h's line and frees the record; nothing when h has none.
void net_txlog_end(struct net_http *h);
// net_txlog_free frees a record without writing it (NULL: nothing).
void net_txlog_free(struct net_txlog *t);

// net_http_reply_stats queues the counters as h's response (JSON, or Prometheus' text format
// when prometheus) and moves h to REPLY. Worker thread of h (net/statspage.c).
void net_http_reply_stats(struct net_http *h, bool prometheus);
// net_http_count_status counts a response status in its class counter.
void net_http_count_status(int status);
// net_http_reply queues a response tlsedge makes itself (closing the origin side); a routed
// tunnel just closes.
void net_http_reply(struct net_http *h, int status, const char *body, bool close);
// net_http_start_origin resolves (if needed) and connects to host:port for h.
void net_http_start_origin(struct net_http *h, const char *host, uint16_t port);
// net_http_pump runs h's machine until it cannot progress (may close the connection).
void net_http_pump(struct net_http *h);
// net_http_on_resume is h's mailbox callback (a yielded pump).
void net_http_on_resume(struct core_msg *msg);
// net_http_on_origin_event is the origin descriptor's event function (net_oreg_fn; owner: h).
void net_http_on_origin_event(struct net_oreg *r, uint32_t events);
// net_http_slice_copy copies slice s of buf into out (len bytes, NUL-terminated, truncated).
void net_http_slice_copy(const char *buf, struct net_http1_slice s, char *out, size_t len);
// The flows' I/O functions: the client (ctx: struct net_conn) and the origin (ctx: net_http).
ssize_t net_http_client_read(void *ctx, void *buf, size_t len);
ssize_t net_http_client_write(void *ctx, void *buf, size_t len);
ssize_t net_http_origin_read(void *ctx, void *buf, size_t len);
ssize_t net_http_origin_write(void *ctx, void *buf, size_t len);

// ---- the origin's TLS (net/origin.c) ----

// net_origin_tls_start begins TLS on h's connected origin socket (peer: the address connected
// to): the SSL per the origin's profile, its outbound hook state when plugins want one. Returns
// the pump's progress.
int net_origin_tls_start(struct net_http *h, const struct sockaddr_storage *peer);
// net_origin_tls_step advances the origin handshake (OUTBOUND_START, the handshake, VERIFY_SERVER
// waits): on success the request flows (or the partial-blind tunnel opens); a failure is 502.
int net_origin_tls_step(struct net_http *h);

// ---- tunnels (net/tunnel.c) ----

// net_tunnel_start handles CONNECT host:port (req, whose head is in buf): refused with 403
// outside proxy.config.http.connect_ports, else the origin is dialled.
void net_tunnel_start(struct net_http *h, const struct net_http_config *cfg, const char *buf,
                      const struct net_http1_request *req);
// net_tunnel_open: the tunnel's origin connected: 200 (unless routed), then bytes both ways.
void net_tunnel_open(struct net_http *h);
// net_tunnel_step relays one round both ways, passing half-closes on. Returns progress.
int net_tunnel_step(struct net_http *h);
// net_tunnel_close releases what a tunnel holds beside the flows: an interceptor's operation
// (cancelled) and the splice pipes. Idempotent; called when the origin side closes.
void net_tunnel_close(struct net_http *h);
// net_tunnel_on_timeout handles the expiry of the connection's timer in INTERCEPT (the
// interceptor keeps its own deadlines; this one is a backstop): 504 to the client.
void net_tunnel_on_timeout(struct net_http *h);
// net_tunnel_stats_register registers the tunnels' counters (splice). Main thread.
void net_tunnel_stats_register(void);

// ---- splice(2) between two plain sockets (net/splice.c) ----

// Results of net_splice_step beside progress (1), none (0) and a negative errno.
#define NET_SPLICE_ENDED 2 // the source ended and every byte reached the destination

// net_splice_new returns pipes for both directions of one tunnel, or NULL when they cannot be
// made (descriptors exhausted: the tunnel relays with read/write instead). Owning worker.
struct net_splice *net_splice_new(void);

// net_splice_free closes s's pipes. NULL is a no-op.
void net_splice_free(struct net_splice *s);

// net_splice_step moves bytes of direction dir (0 or 1) from socket from to socket to through
// the direction's pipe, until neither side can take more or a round limit is reached (fairness:
// the caller's pump yields). Returns 1 on progress, 0 on none, NET_SPLICE_ENDED once from
// reached its end and the pipe is empty, -EINVAL when the kernel cannot splice these sockets and
// nothing was moved yet (the caller falls back to read/write), or another negative errno.
// *moved grows by the bytes delivered to to.
int net_splice_step(struct net_splice *s, int dir, int from, int to, uint64_t *moved);

// net_splice_queued returns the bytes waiting in s's pipes (both directions).
size_t net_splice_queued(const struct net_splice *s);

#endif
