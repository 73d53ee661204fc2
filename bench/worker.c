// SPDX-License-Identifier: Apache-2.0
// bench/worker.c: a tlsedge-bench worker thread: its epoll loop, the pacer that spreads --rate
// evenly, the timer queues and the counting rules of the measured window (see
// bench/worker.h).
//
// Every deadline of one queue is "now + a constant" (the --timeout, or the --ticket-wait), so
// appending at the tail keeps each queue sorted and arming, disarming and expiring are O(1). The
// loop sleeps in epoll_pwait2 (nanosecond timeout, falling back to epoll_wait) until the
// earliest of: a socket event, the head deadline of a queue, the pacer's next start, the end of
// the window, or the shared stop eventfd.
#include "bench/worker.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "bench/opts.h"
#include "bench/sys.h"
#include "bench/tls.h"

// STOP_TOKEN: the epoll data of the shared stop eventfd (no connection has this index).
#define STOP_TOKEN UINT64_MAX
#define MAX_EVENTS 256
// How long the loop sleeps when slots are free but could not be started (e.g. out of
// descriptors): a retry rate that cannot spin a core.
#define RETRY_NS 1000000ull

// bump adds v (possibly "negative" through wrap-around) to a single-writer counter.
static void bump(_Atomic uint64_t *c, uint64_t v)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
                          memory_order_relaxed);
}

const char *bench_tickets_name(enum bench_tickets t)
{
    static const char *const names[] = {
        [BENCH_TICKETS_UNKNOWN] = "unknown",
        [BENCH_TICKETS_UNPROMPTED] = "unprompted",
        [BENCH_TICKETS_SHUTDOWN] = "shutdown",
        [BENCH_TICKETS_NONE] = "none",
    };

    return names[t];
}

bool bench_worker_in_window(const struct bench_worker *w, uint64_t now)
{
    return now >= w->run->w_start && now < w->run->w_end &&
           atomic_load_explicit(&w->run->stop_ns, memory_order_relaxed) == 0;
}

// signal_done wakes the main thread.
static void signal_done(struct bench_worker *w)
{
    uint64_t one = 1;

    if (write(w->run->done_fd, &one, sizeof(one)) != sizeof(one))
        w->stopping = true; // cannot happen with an eventfd; stop this worker at least
}

bool bench_worker_op_done(struct bench_worker *w, uint64_t latency_ns, uint64_t now)
{
    struct bench_run *run = w->run;

    bump(&w->stats.all_ops, 1);
    if (!bench_worker_in_window(w, now))
        return false;
    if (w->o->max_ops > 0) {
        int64_t left = atomic_fetch_sub_explicit(&run->ops_left, 1, memory_order_relaxed);

        if (left <= 0)
            return false;
        if (left == 1) {
            bench_stats_op(&w->stats, latency_ns);
            atomic_store_explicit(&run->stop_ns, now, memory_order_relaxed);
            w->stopping = true;
            signal_done(w);
            return true;
        }
    }
    bench_stats_op(&w->stats, latency_ns);
    return true;
}

void bench_worker_error(struct bench_worker *w, enum bench_err_kind kind, const char *detail,
                        uint64_t now)
{
    if (bench_worker_in_window(w, now))
        bench_stats_error(&w->stats, kind, detail);
}

void bench_worker_handshake(struct bench_worker *w, const SSL *ssl, uint64_t now)
{
    struct bench_tuple t;
    uint8_t fp[32];

    bench_tls_tuple_get(ssl, &t);
    bench_stats_tuple(&w->stats, &t, now);
    if (!bench_worker_in_window(w, now))
        return;
    w->stats.handshakes++;
    if (SSL_session_reused(ssl))
        w->stats.resumed++;
    if (w->o->count_certs && bench_tls_leaf_fingerprint(ssl, fp) == 0)
        bench_stats_cert(&w->stats, fp);
}

void bench_worker_tq_remove(struct bench_worker *w, struct bench_conn *c)
{
    if (c->tq == BENCH_TQ_NONE)
        return;
    if (c->tq_prev != NULL)
        c->tq_prev->tq_next = c->tq_next;
    else
        w->tq_head[c->tq] = c->tq_next;
    if (c->tq_next != NULL)
        c->tq_next->tq_prev = c->tq_prev;
    else
        w->tq_tail[c->tq] = c->tq_prev;
    c->tq_prev = c->tq_next = NULL;
    c->tq = BENCH_TQ_NONE;
}

void bench_worker_tq_put(struct bench_worker *w, struct bench_conn *c, enum bench_tq q,
                         uint64_t deadline)
{
    bench_worker_tq_remove(w, c);
    c->tq = q;
    c->deadline = deadline;
    c->tq_prev = w->tq_tail[q];
    c->tq_next = NULL;
    if (w->tq_tail[q] != NULL)
        w->tq_tail[q]->tq_next = c;
    else
        w->tq_head[q] = c;
    w->tq_tail[q] = c;
}

void bench_worker_slot_free(struct bench_worker *w, struct bench_conn *c)
{
    if (w->o->mode == BENCH_MODE_IDLE)
        return; // each idle-mode slot opens once
    c->free_next = w->free_top;
    w->free_top = c;
    w->n_free++;
}

// pop_free takes a slot off the free stack, or returns NULL.
static struct bench_conn *pop_free(struct bench_worker *w)
{
    struct bench_conn *c = w->free_top;

    if (c != NULL) {
        w->free_top = c->free_next;
        c->free_next = NULL;
        w->n_free--;
    }
    return c;
}

// pacer_take is true when an operation may start at now (always, without --rate).
static bool pacer_take(struct bench_worker *w, uint64_t now)
{
    double backlog;

    if (w->interval_ns == 0)
        return true;
    if ((double)now < w->next_start)
        return false;
    // After a stall, catch up by at most one start per connection slot, not with a burst of
    // everything missed.
    backlog = w->interval_ns * (double)w->n_conns;
    if ((double)now - w->next_start > backlog)
        w->next_start = (double)now - backlog;
    w->next_start += w->interval_ns;
    return true;
}

// start_ops starts what may start at now: new connections on free slots and, for paced
// keep-alive, requests on READY connections.
static void start_ops(struct bench_worker *w, uint64_t now)
{
    bool idle = w->o->mode == BENCH_MODE_IDLE;
    bool paced_ka =
        w->interval_ns > 0 && (w->o->mode == BENCH_MODE_KEEPALIVE || w->o->mode == BENCH_MODE_BULK);

    // A slot that fails at once is back on the stack: start each free slot at most once here.
    for (uint32_t budget = w->n_free; budget > 0 && !w->stopping; budget--) {
        if (idle && (w->idle_left == 0 || w->opening >= w->conc))
            break;
        if (!paced_ka && !pacer_take(w, now))
            break;
        if (idle)
            w->idle_left--;
        bench_conn_open(pop_free(w), now);
    }
    while (paced_ka && !w->stopping && w->tq_head[BENCH_TQ_READY] != NULL && pacer_take(w, now)) {
        struct bench_conn *c = w->tq_head[BENCH_TQ_READY];

        bench_worker_tq_remove(w, c);
        bench_conn_request(c, now);
    }
}

// expire_timers fires every deadline of the OP and TICKET queues that passed by now.
static void expire_timers(struct bench_worker *w, uint64_t now)
{
    for (int q = BENCH_TQ_OP; q <= BENCH_TQ_TICKET; q++) {
        while (w->tq_head[q] != NULL && w->tq_head[q]->deadline <= now) {
            struct bench_conn *c = w->tq_head[q];

            bench_worker_tq_remove(w, c);
            bench_conn_timeout(c, now);
        }
    }
}

// next_wake returns when the loop must wake up at the latest (ns).
static uint64_t next_wake(const struct bench_worker *w, uint64_t now)
{
    uint64_t t = w->run->w_end;
    bool idle = w->o->mode == BENCH_MODE_IDLE;
    bool can_start = w->n_free > 0 && (!idle || (w->idle_left > 0 && w->opening < w->conc));

    for (int q = BENCH_TQ_OP; q <= BENCH_TQ_TICKET; q++)
        if (w->tq_head[q] != NULL && w->tq_head[q]->deadline < t)
            t = w->tq_head[q]->deadline;
    if (w->interval_ns > 0 && (can_start || w->tq_head[BENCH_TQ_READY] != NULL)) {
        uint64_t p = w->next_start > (double)now ? (uint64_t)ceil(w->next_start) : now;

        if (p < t)
            t = p;
    } else if (w->interval_ns == 0 && can_start && now + RETRY_NS < t) {
        t = now + RETRY_NS;
    }
    return t;
}

// wait_events sleeps in epoll until an event or timeout_ns. Returns the number of events.
static int wait_events(struct bench_worker *w, struct epoll_event *ev, uint64_t timeout_ns)
{
    int n;

    if (!w->no_pwait2) {
        struct timespec ts = {.tv_sec = (time_t)(timeout_ns / 1000000000u),
                              .tv_nsec = (long)(timeout_ns % 1000000000u)};

        n = epoll_pwait2(w->epfd, ev, MAX_EVENTS, &ts, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n < 0 ? 0 : n;
        w->no_pwait2 = true;
    }
    n = epoll_wait(w->epfd, ev, MAX_EVENTS,
                   timeout_ns > 3600000000000ull ? 3600000
                                                 : (int)((timeout_ns + 999999) / 1000000));
    return n < 0 ? 0 : n;
}

// dispatch hands one epoll event to its connection (or notes the stop signal).
static void dispatch(struct bench_worker *w, const struct epoll_event *e)
{
    uint32_t idx = (uint32_t)e->data.u64, gen = (uint32_t)(e->data.u64 >> 32);
    struct bench_conn *c;

    if (e->data.u64 == STOP_TOKEN) {
        w->stopping = true;
        return;
    }
    if (idx >= w->n_conns)
        return;
    c = &w->conns[idx];
    if (c->gen == gen && c->state != BENCH_CONN_CLOSED)
        bench_conn_event(c, e->events);
}

// check_idle_opened tells the main thread once this idle-mode worker has nothing left to open.
static void check_idle_opened(struct bench_worker *w)
{
    if (w->o->mode != BENCH_MODE_IDLE || w->idle_signalled || w->idle_left > 0 || w->opening > 0)
        return;
    w->idle_signalled = true;
    atomic_fetch_add_explicit(&w->run->idle_opened, 1, memory_order_relaxed);
    signal_done(w);
}

// run_loop is the epoll loop; it returns when the run is over for this worker.
static void run_loop(struct bench_worker *w)
{
    struct epoll_event ev[MAX_EVENTS];

    for (;;) {
        uint64_t now = bench_sys_now_ns();
        int n;

        if (w->stopping || now >= w->run->w_end ||
            atomic_load_explicit(&w->run->stop_ns, memory_order_relaxed) != 0)
            return;
        expire_timers(w, now);
        start_ops(w, now);
        check_idle_opened(w);
        if (w->stopping)
            return;
        n = wait_events(w, ev, next_wake(w, now) - now);
        for (int i = 0; i < n; i++)
            dispatch(w, &ev[i]);
    }
}

void *bench_worker_main(void *arg)
{
    struct bench_worker *w = arg;
    uint64_t now;

    if (w->o->pin)
        (void)bench_sys_pin_self(&w->o->cpus); // checked once by the main thread
    // Wait for the common start so that every worker's pacer and window line up.
    while ((now = bench_sys_now_ns()) < w->run->t0) {
        uint64_t d = w->run->t0 - now;
        struct timespec ts = {.tv_sec = (time_t)(d / 1000000000u),
                              .tv_nsec = (long)(d % 1000000000u)};

        nanosleep(&ts, NULL);
    }
    w->next_start = (double)w->run->t0 + w->phase * w->interval_ns;
    run_loop(w);
    for (uint32_t i = 0; i < w->n_conns; i++)
        bench_conn_close(&w->conns[i]);
    return NULL;
}

// make_slots allocates and initialises the connection slots (and head buffers for HTTP).
static int make_slots(struct bench_worker *w, uint32_t n, char *err, size_t errlen)
{
    bool http = bench_mode_uses_http(w->o->mode);

    w->conns = calloc(n, sizeof(*w->conns));
    w->heads = http ? malloc((size_t)n * BENCH_HEAD_CAP) : NULL;
    if (w->conns == NULL || (http && w->heads == NULL)) {
        snprintf(err, errlen, "out of memory for %u connection slots", n);
        return -ENOMEM;
    }
    w->n_conns = n;
    // Pushed in reverse so that slot 0 is started first.
    for (uint32_t i = n; i-- > 0;) {
        bench_conn_init(&w->conns[i], w, i, http ? w->heads + (size_t)i * BENCH_HEAD_CAP : NULL,
                        BENCH_HEAD_CAP);
        w->conns[i].free_next = w->free_top;
        w->free_top = &w->conns[i];
    }
    w->n_free = n;
    return 0;
}

int bench_worker_init(struct bench_worker *w, unsigned id, struct bench_run *run, uint32_t n_conns,
                      uint32_t conc, double rate, double phase, char *err, size_t errlen)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = STOP_TOKEN};
    int rc;

    memset(w, 0, sizeof(*w));
    w->id = id;
    w->run = run;
    w->o = run->o;
    w->epfd = -1;
    w->conc = conc;
    w->idle_left = run->o->mode == BENCH_MODE_IDLE ? n_conns : 0;
    bench_sesspool_init(&w->pool);
    bench_stats_init(&w->stats);
    if (rate > 0)
        w->interval_ns = 1e9 / rate;
    w->phase = phase;
    w->ctx = bench_tls_ctx_new(run->o, bench_conn_new_session, err, errlen);
    if (w->ctx == NULL)
        goto fail;
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (w->epfd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, run->stop_fd, &ev) != 0) {
        snprintf(err, errlen, "epoll: %s", strerror(errno));
        goto fail;
    }
    rc = make_slots(w, n_conns, err, errlen);
    if (rc != 0)
        goto fail;
    return 0;
fail:
    bench_worker_fini(w);
    return -EINVAL;
}

void bench_worker_fini(struct bench_worker *w)
{
    free(w->heads);
    w->heads = NULL;
    free(w->conns);
    w->conns = NULL;
    w->n_conns = 0;
    if (w->epfd >= 0)
        close(w->epfd);
    w->epfd = -1;
    bench_sesspool_fini(&w->pool);
    SSL_CTX_free(w->ctx);
    w->ctx = NULL;
}
