// SPDX-License-Identifier: Apache-2.0
// tests/tsan/worker.c: core/worker's cross-thread life cycle: 600 objects ("connections") are
// created by the main thread and by a second feeder thread, handed to two workers through their
// mailboxes, held there (core_worker_hold), each closed by a timer after 1-20 ms, and freed from a
// deferred message (core_worker_defer) that releases the hold. The main thread asks the workers
// to stop while objects are still held: they must wait for the last release, then exit.
// TSan checks the hand-offs (creator -> mailbox -> worker -> deferred free) and the stop
// protocol; the program checks that every object was opened, closed and freed once, on its own
// worker, and that both stop callbacks ran.
#include "core/worker.h"
#include "core/timer.h"
#include "tests/tsan/tsan.h"

#include <pthread.h>
#include <stdatomic.h>
#include <urcu-qsbr.h>
#include <urcu/compiler.h>

#define WORKERS 2
#define PER_FEEDER 300

struct conn {
    struct core_msg msg; // open, then the deferred free
    struct core_timer timer;
    struct core_worker *owner;
    int id;
    int state; // 0 created, 1 open, 2 closed; written by the owner only after the hand-off
};

static struct core_workers *ws;
static atomic_int opened, freed, wrong_thread, stop_callbacks;

static void conn_free(struct core_msg *m)
{
    struct conn *c = caa_container_of(m, struct conn, msg);
    TSAN_CHECK(c->state == 2);
    if (core_worker_self() != c->owner)
        atomic_fetch_add(&wrong_thread, 1);
    core_worker_release(c->owner);
    free(c);
    atomic_fetch_add(&freed, 1);
}

static void conn_close(struct core_timer *t, void *arg)
{
    struct conn *c = arg;
    TSAN_CHECK(c->state == 1);
    c->state = 2;
    c->msg.fn = conn_free;
    core_worker_defer(c->owner, &c->msg); // after this iteration's events
}

static void conn_open(struct core_msg *m)
{
    struct conn *c = caa_container_of(m, struct conn, msg);
    TSAN_CHECK(c->state == 0);
    if (core_worker_self() != c->owner)
        atomic_fetch_add(&wrong_thread, 1);
    c->state = 1;
    core_worker_hold(c->owner);
    core_timer_init(&c->timer, conn_close, c);
    core_timer_arm(core_worker_wheel(c->owner), &c->timer, 1 + (uint64_t)(c->id * 7 % 20));
    atomic_fetch_add(&opened, 1);
}

static void on_stop(struct core_worker *w, void *arg)
{
    atomic_fetch_add(&stop_callbacks, 1);
}

// feed creates PER_FEEDER objects numbered from base and posts each to worker id % WORKERS.
static void feed(int base)
{
    for (int i = 0; i < PER_FEEDER; i++) {
        struct conn *c = calloc(1, sizeof(*c));
        TSAN_CHECK(c != NULL);
        c->id = base + i;
        c->owner = core_workers_get(ws, c->id % WORKERS);
        c->msg.fn = conn_open;
        core_worker_post(c->owner, &c->msg);
        if (i % 50 == 0)
            tsan_sleep_ms(1);
    }
}

static void *feeder(void *arg)
{
    feed(PER_FEEDER);
    return NULL;
}

int main(void)
{
    rcu_register_thread();
    ws = core_workers_new(WORKERS, false, "t");
    TSAN_CHECK(ws != NULL && core_workers_start(ws, NULL, on_stop, NULL) == 0);
    pthread_t th;
    TSAN_CHECK(pthread_create(&th, NULL, feeder, NULL) == 0);
    feed(0);
    pthread_join(th, NULL);
    // Wait until every object is open, so the stop below meets held objects.
    uint64_t deadline = tsan_now_ms() + 30000;
    while (atomic_load(&opened) < 2 * PER_FEEDER && tsan_now_ms() < deadline)
        tsan_sleep_ms(1);
    TSAN_CHECK(atomic_load(&opened) == 2 * PER_FEEDER);
    core_workers_stop(ws, 30000);
    rcu_thread_offline();
    core_workers_join(ws);
    rcu_thread_online();
    core_workers_free(ws);
    TSAN_CHECK(atomic_load(&freed) == 2 * PER_FEEDER);
    TSAN_CHECK(atomic_load(&wrong_thread) == 0);
    TSAN_CHECK(atomic_load(&stop_callbacks) == WORKERS);
    rcu_unregister_thread();
    printf("worker: ok (%d objects opened, held, closed by timers and freed by deferred "
           "messages on %d workers; stop waited for them)\n",
           2 * PER_FEEDER, WORKERS);
    return 0;
}
