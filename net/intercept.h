// SPDX-License-Identifier: Apache-2.0
// net/intercept.h: the CONNECT interception slot: a module above net/ (bridge/, the tls_bridge)
// may take over opening the upstream of a client's CONNECT, while net/ keeps the client
// connection, the answer to the client and the byte relay.
//
// net/ knows nothing of the interceptor: core/main.c installs its operations once, before the
// workers start (net_intercept_set); the slot is read-only afterwards. For each CONNECT that
// ip_allow admitted, net/ asks the interceptor (start). When it takes the request, it opens the
// upstream on its own (the connection's worker, its own descriptors and timers) and reports the
// outcome exactly once through the done callback: a connected upstream that net/ then relays
// (status 200), or a status for net/ to answer the client with. net/ cancels an operation whose
// client went away first; done is never called after cancel.
//
// Threads: start, done and cancel all run on the worker that owns the client connection.
#ifndef TLSEDGE_NET_INTERCEPT_H
#define TLSEDGE_NET_INTERCEPT_H

#include <openssl/base.h>

#include <stddef.h>
#include <stdint.h>

struct core_worker;

// struct net_intercept_req: one CONNECT, lent to start for the duration of the call.
struct net_intercept_req {
    struct core_worker *w;       // the client's worker
    uint64_t conn_id;            // the client connection's id (log lines)
    const char *client;          // the client's address, "127.0.0.1:51234" (log lines)
    const char *host;            // the CONNECT target's host (brackets removed)
    uint16_t port;               // and port
    const char *head;            // the request head exactly as the client sent it (request
    size_t head_len;             // line, fields and the blank line), head_len bytes
    uint64_t connect_timeout_ms; // proxy.config.http.connect_attempts_timeout
    uint64_t reply_timeout_ms;   // proxy.config.http.transaction_no_activity_timeout_out
};

// struct net_intercept_result: the outcome, lent to done for the duration of the call.
struct net_intercept_result {
    int status;           // 200: the upstream is open; otherwise the status for the client
    const char *reason;   // a short explanation for the client's reply (may be NULL)
    int fd;               // status 200: the upstream socket (connected, non-blocking); else -1
    SSL *ssl;             // status 200: its TLS session (NULL for plain TCP)
    const uint8_t *extra; // status 200: bytes already read from the upstream past its answer,
    size_t extra_len;     // to go to the client first (copied by net/)
};

// net_intercept_done_fn receives the outcome of an operation for arg (net/'s own pointer). On
// status 200 fd and ssl become net/'s; otherwise the interceptor keeps and closes its own.
typedef void (*net_intercept_done_fn)(void *arg, const struct net_intercept_result *res);

// struct net_intercept_ops: the interceptor's entry points.
struct net_intercept_ops {
    // start decides about req: returns 0 when the CONNECT is not for the interceptor (net/ goes
    // on as usual), 1 when it took the request (*op is set; done(arg, ...) will be called once,
    // never before start returned), or a negative errno when it wanted the request but could
    // not begin (net/ answers 502).
    int (*start)(const struct net_intercept_req *req, net_intercept_done_fn done, void *arg,
                 void **op);
    // cancel abandons op before done was called: its descriptors close, done is never called.
    void (*cancel)(void *op);
};

// net_intercept_set installs ops (kept by pointer; static storage), or removes the interceptor
// with NULL. Main thread, before the workers start.
void net_intercept_set(const struct net_intercept_ops *ops);

#endif
