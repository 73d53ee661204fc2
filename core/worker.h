// SPDX-License-Identifier: Apache-2.0
// core/worker.h: worker threads and their event loop.
//
// Each worker owns an edge-triggered epoll set, a timer wheel and a mailbox, and is optionally
// pinned to one CPU. Objects registered with a worker (listeners, connections) are touched only by
// that worker; other threads reach it through its mailbox. Each loop iteration: go offline for
// RCU around a sleeping epoll_wait, dispatch events, run due timers, report one quiescent state.
//
// Stopping is graceful: core_workers_stop() posts a stop message; each worker runs its stop
// callbacks (listeners close), then keeps serving until its held count (open connections) falls
// to zero or the deadline passes, and exits.
#ifndef TLSEDGE_CORE_WORKER_H
#define TLSEDGE_CORE_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/mbox.h"
#include "core/timer.h"

struct core_worker;
struct core_event;

// core_event_fn is called on the owning worker with the epoll event bits.
typedef void (*core_event_fn)(struct core_event *ev, uint32_t events);

// struct core_event: embedded in the object that owns a descriptor; epoll's data points at it.
struct core_event {
    core_event_fn fn;
};

// core_worker_fn runs on worker w's own thread (start-up and stop callbacks).
typedef void (*core_worker_fn)(struct core_worker *w, void *arg);

struct core_workers;

// core_workers_new creates n workers (not started) whose threads are named "tlsedge-NAMEi"
// (name is copied; at most 6 characters are used). pin: pin worker i to CPU i % online CPUs.
// Returns NULL on failure (out of memory, epoll/eventfd creation failed: reason in errno).
struct core_workers *core_workers_new(int n, bool pin, const char *name);

// core_workers_count returns the number of workers.
int core_workers_count(const struct core_workers *ws);

// core_workers_get returns worker i (lent; lives until core_workers_free).
struct core_worker *core_workers_get(struct core_workers *ws, int i);

// core_workers_start starts every worker thread. Each calls init(w, arg) on its own thread before
// its loop, and on_stop(w, arg) when asked to stop. Returns 0 or a negative errno. Main thread.
int core_workers_start(struct core_workers *ws, core_worker_fn init, core_worker_fn on_stop,
                       void *arg);

// core_workers_stop asks every worker to stop accepting and to exit once its held count is zero,
// or at the latest timeout_ms from now. Main thread.
void core_workers_stop(struct core_workers *ws, uint64_t timeout_ms);

// core_workers_join waits for every worker thread to exit. Main thread; the caller should be
// offline for RCU while it waits.
void core_workers_join(struct core_workers *ws);

// core_workers_free frees the workers after they were joined (or never started). NULL is a no-op.
void core_workers_free(struct core_workers *ws);

// core_worker_self returns the worker running the calling thread, or NULL on other threads.
struct core_worker *core_worker_self(void);

// core_worker_id returns w's index (0 .. n-1).
int core_worker_id(const struct core_worker *w);

// core_worker_add registers fd with w's epoll set for events (EPOLLET is added); ev must stay valid
// until core_worker_del. Returns 0 or a negative errno. Owning worker only (or before start).
int core_worker_add(struct core_worker *w, int fd, uint32_t events, struct core_event *ev);

// core_worker_mod changes the events of a registered fd. Returns 0 or a negative errno.
int core_worker_mod(struct core_worker *w, int fd, uint32_t events, struct core_event *ev);

// core_worker_del removes fd from w's epoll set. Returns 0 or a negative errno.
int core_worker_del(struct core_worker *w, int fd);

// core_worker_wheel returns w's timer wheel (owning worker only).
struct core_wheel *core_worker_wheel(struct core_worker *w);

// core_worker_now returns the loop's cached monotonic time in ms (updated once per iteration).
uint64_t core_worker_now(const struct core_worker *w);

// core_worker_post hands msg to w's mailbox; msg->fn later runs on w. Any thread, never blocks.
void core_worker_post(struct core_worker *w, struct core_msg *msg);

// core_worker_defer runs msg->fn on w after the events of the current loop iteration were
// dispatched. An object that owns two descriptors frees itself this way, so that an event already
// returned for its other descriptor never reaches freed memory. Owning worker only.
void core_worker_defer(struct core_worker *w, struct core_msg *msg);

// core_worker_hold / core_worker_release count objects that must finish before a graceful stop
// completes (open connections). Owning worker only.
void core_worker_hold(struct core_worker *w);
void core_worker_release(struct core_worker *w);

// core_worker_stopping is true once w was asked to stop.
bool core_worker_stopping(const struct core_worker *w);

#endif
