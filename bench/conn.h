// SPDX-License-Identifier: Apache-2.0
// bench/conn.h: one client connection of tlsedge-bench and its state machine: connect,
// handshake, collect the session ticket, write the request, read the response, wait idle, close.
//
// A worker owns a fixed array of connections (its share of -c, or of N in idle mode), made once
// at start; a connection slot is reused for every connection it opens, so the only per-operation
// allocation is BoringSSL's SSL object. Every state that waits on the network has a timer
// (--timeout per operation, --ticket-wait while collecting the ticket); IDLE has none.
//
// Threads: a connection belongs to its worker's thread; every function is called on it.
#ifndef TLSEDGE_BENCH_CONN_H
#define TLSEDGE_BENCH_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "bench/http.h"

#ifndef OPENSSL_IS_BORINGSSL
#error "tlsedge-bench is built against BoringSSL only"
#endif

struct bench_worker;

// enum bench_conn_state: every state of a connection slot.
enum bench_conn_state {
    BENCH_CONN_CLOSED,        // no socket: the slot is free (initial and terminal)
    BENCH_CONN_CONNECTING,    // non-blocking connect() in progress
    BENCH_CONN_HANDSHAKE,     // SSL_do_handshake until done
    BENCH_CONN_REQUEST_WRITE, // writing the GET
    BENCH_CONN_RESPONSE_READ, // reading and discarding the response
    BENCH_CONN_TICKET_WAIT,   // handshake done: reading until the TLS 1.3 ticket arrives
    BENCH_CONN_IDLE,          // established, nothing in flight (keep-alive paced, or idle mode)
    BENCH_CONN_STATES,
};

// enum bench_tq: the worker queues a connection can be on (at most one at a time).
enum bench_tq {
    BENCH_TQ_NONE = -1,
    BENCH_TQ_OP = 0, // --timeout deadline of the operation or connection set-up
    BENCH_TQ_TICKET, // --ticket-wait deadline
    BENCH_TQ_READY,  // keep-alive connection waiting for the pacer (no deadline)
    BENCH_TQ_COUNT,
};

// struct bench_conn: one connection slot, owned by its worker (which frees the array).
// Fields starting with '_' belong to bench/conn.c; the tq fields to bench/worker.c.
struct bench_conn {
    struct bench_worker *w;
    uint32_t idx; // index in the worker's array
    uint32_t gen; // bumped at every open and close: stale epoll events are ignored
    enum bench_conn_state state;
    int fd;                 // -1 when CLOSED
    SSL *ssl;               // NULL when CLOSED
    uint64_t _op_start;     // when the operation in progress began
    bool _in_op;            // an operation is in progress
    bool _got_ticket;       // the server sent a session on this connection
    uint8_t _ticket_belief; // the worker's enum bench_tickets when this TICKET_WAIT began
    bool _half_closed;      // shutdown(SHUT_WR) done: no close_notify can be sent
    bool _opening;          // idle mode: started, neither held nor closed yet
    bool _held;             // idle mode: established and held
    uint32_t _req_off;      // request bytes written
    struct bench_http_resp _resp;
    enum bench_tq tq;  // the queue the slot is on
    uint64_t deadline; // its deadline there (ns)
    struct bench_conn *tq_prev, *tq_next;
    struct bench_conn *free_next; // the worker's free stack
};

// bench_conn_state_name returns the name of s ("HANDSHAKE", ...), a static string.
const char *bench_conn_state_name(enum bench_conn_state s);

// bench_conn_init sets up slot idx of worker w as CLOSED; head (cap bytes, may be NULL when no
// HTTP is spoken) is lent for response heads for the slot's lifetime.
void bench_conn_init(struct bench_conn *c, struct bench_worker *w, uint32_t idx, uint8_t *head,
                     size_t cap);

// bench_conn_open opens a new connection on the CLOSED slot c at now (ns). An operation starts
// here in every mode but keepalive and bulk. A failure is counted and leaves c CLOSED.
void bench_conn_open(struct bench_conn *c, uint64_t now);

// bench_conn_event runs c's state machine after epoll reported events on its socket.
void bench_conn_event(struct bench_conn *c, uint32_t events);

// bench_conn_timeout is called by the worker when c's deadline passed (c is already off its
// queue): an expired ticket wait just ends the wait; anything else is a "timeout" error.
void bench_conn_timeout(struct bench_conn *c, uint64_t now);

// bench_conn_request starts the next request on IDLE keep-alive connection c (off the READY
// queue already) at now.
void bench_conn_request(struct bench_conn *c, uint64_t now);

// bench_conn_close closes c without counting anything (the run ended); c becomes CLOSED.
void bench_conn_close(struct bench_conn *c);

// bench_conn_new_session is the SSL_CTX new-session callback (bench/tls.h).
int bench_conn_new_session(SSL *ssl, SSL_SESSION *session);

#endif
