// SPDX-License-Identifier: Apache-2.0
// bench/worker.h: a tlsedge-bench worker thread (one epoll loop, its SSL_CTX, its share of the
// connections, its pacer, timer queues and statistics) and the run state all workers share.
//
// Threads: the main thread fills struct bench_run and creates the workers, then only reads
// the workers' atomic statistics until it has joined them. Everything in a struct bench_worker
// except its statistics' atomic fields belongs to the worker thread while it runs. The functions
// below bench_worker_main() are called by the worker's connections, on the worker thread.
#ifndef TLSEDGE_BENCH_WORKER_H
#define TLSEDGE_BENCH_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "bench/conn.h"
#include "bench/sesspool.h"
#include "bench/stats.h"

struct bench_opts;

// BENCH_SCRATCH: the worker's read buffer: one TLS record's plaintext at most.
#define BENCH_SCRATCH (16 * 1024)
// BENCH_HEAD_CAP: the response head buffer of each HTTP connection.
#define BENCH_HEAD_CAP (16 * 1024)

// enum bench_tickets: how the server hands out TLS 1.3 session tickets, as a worker learns it
// from its first connections (see bench/conn.c, want_ticket()).
enum bench_tickets {
    BENCH_TICKETS_UNKNOWN,    // not seen yet: wait for them
    BENCH_TICKETS_UNPROMPTED, // sent right after the handshake (OpenSSL servers)
    BENCH_TICKETS_SHUTDOWN,   // sent only with the server's next write (BoringSSL servers):
                              // resume mode half-closes first, and the server's close_notify
                              // brings them
    BENCH_TICKETS_NONE,       // none come: do not wait
};

// bench_tickets_name returns the report name of t ("unprompted", ...), a static string.
const char *bench_tickets_name(enum bench_tickets t);

// struct bench_run: the timeline and the stop signals of a run, shared by every thread. The
// plain fields are written by the main thread before any worker starts and read-only after.
struct bench_run {
    const struct bench_opts *o;
    uint64_t t0;         // the start (ns, CLOCK_MONOTONIC)
    uint64_t w_start;    // the measured window opens (t0 + warmup; idle: t0)
    uint64_t w_end;      // and closes (idle: UINT64_MAX, the main thread stops the run)
    const char *request; // the HTTP request every connection sends
    uint32_t request_len;
    int stop_fd;                  // eventfd in every worker's epoll: readable = stop now
    int done_fd;                  // eventfd the main thread waits on (max reached, idle opened)
    _Atomic int64_t ops_left;     // --max: operations still to count (INT64_MAX: unbounded)
    _Atomic uint64_t stop_ns;     // 0, or when --max was reached
    _Atomic unsigned idle_opened; // idle: workers that have finished opening
};

// struct bench_worker: one thread's state. Made by bench_worker_init(), released by
// bench_worker_fini(); the main thread owns the storage.
struct bench_worker {
    unsigned id;
    struct bench_run *run;      // shared, not owned
    const struct bench_opts *o; // shared, not owned
    pthread_t thread;
    int epfd;
    SSL_CTX *ctx;             // owned
    struct bench_conn *conns; // owned array of n_conns slots
    uint32_t n_conns;
    uint8_t *heads;              // owned: n_conns response head buffers (HTTP modes)
    uint32_t conc;               // idle mode: connections opening at once
    uint32_t opening;            // idle mode: connections opening now
    uint64_t idle_left;          // idle mode: connections still to start
    bool idle_signalled;         // idle mode: done_fd written
    struct bench_conn *free_top; // stack of CLOSED slots
    uint32_t n_free;
    struct bench_conn *tq_head[BENCH_TQ_COUNT];
    struct bench_conn *tq_tail[BENCH_TQ_COUNT];
    double interval_ns;         // --rate pacing: ns between starts, 0 = unpaced
    double next_start;          // when the next paced start is due (ns)
    double phase;               // this worker's pacer offset, in intervals (0 <= phase < 1)
    enum bench_tickets tickets; // what this worker learnt about the server's TLS 1.3 tickets
    unsigned ticket_misses;     // consecutive ticket waits that timed out under that belief
    uint32_t src_next;          // --src-ips rotation
    bool stopping;
    bool no_pwait2;             // the kernel lacks epoll_pwait2
    struct bench_sesspool pool; // resume mode sessions
    uint64_t connected;         // TCP connections established, whole run
    uint8_t scratch[BENCH_SCRATCH];
    struct bench_stats stats;
};

// bench_worker_init prepares w (caller storage) as worker id of run: its SSL_CTX, epoll and
// connection slots (n_conns; in idle mode, the connections to open, conc of them at once) and
// a pacer for rate (per second, 0 = unpaced) offset by phase intervals (0 <= phase < 1), so
// that the workers' starts interleave; it starts at run->t0, which may be set later. Returns 0, or
// a negative errno with a reason in err (errlen bytes); w then holds nothing.
int bench_worker_init(struct bench_worker *w, unsigned id, struct bench_run *run, uint32_t n_conns,
                      uint32_t conc, double rate, double phase, char *err, size_t errlen);

// bench_worker_fini releases everything w holds. The thread must have been joined.
void bench_worker_fini(struct bench_worker *w);

// bench_worker_main is the pthread entry point; arg is the struct bench_worker. It runs the
// epoll loop until the window ends, --max is reached or stop_fd becomes readable, then closes
// every connection. Returns NULL.
void *bench_worker_main(void *arg);

// bench_worker_in_window is true when now lies in the measured window and the run has not been
// stopped by --max.
bool bench_worker_in_window(const struct bench_worker *w, uint64_t now);

// bench_worker_op_done counts an operation of latency_ns that completed at now, if it lies in
// the window and --max is not exhausted; reaching --max stops the run. Returns true if counted.
bool bench_worker_op_done(struct bench_worker *w, uint64_t latency_ns, uint64_t now);

// bench_worker_error counts a failed operation at now (if in the window); detail is borrowed.
void bench_worker_error(struct bench_worker *w, enum bench_err_kind kind, const char *detail,
                        uint64_t now);

// bench_worker_handshake records a handshake of ssl completed at now: negotiated parameters
// (whole run), and in the window the handshake, resumption and served certificate counts.
void bench_worker_handshake(struct bench_worker *w, const SSL *ssl, uint64_t now);

// bench_worker_tq_put puts c at the tail of queue q with deadline (ns), first taking it off the
// queue it is on.
void bench_worker_tq_put(struct bench_worker *w, struct bench_conn *c, enum bench_tq q,
                         uint64_t deadline);

// bench_worker_tq_remove takes c off its queue, if any.
void bench_worker_tq_remove(struct bench_worker *w, struct bench_conn *c);

// bench_worker_slot_free is told that c became CLOSED: the slot goes back on the free stack
// (except in idle mode, where each slot opens once).
void bench_worker_slot_free(struct bench_worker *w, struct bench_conn *c);

#endif
