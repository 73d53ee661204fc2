// SPDX-License-Identifier: Apache-2.0
// tests/tsan/pool.c: the handshake pool's job hand-off (tls/pool), as a keyless key operation
// uses it: each of two workers keeps up to 8 jobs in flight; a job takes a slot
// (tls_pool_reserve), goes to a pool thread (tls_pool_post), which computes a result into the job
// and posts it back to the owning worker's mailbox; the worker checks the result, gives the slot
// back (tls_pool_unreserve), frees the job and starts the next, 3,000 jobs per worker. The slot
// limit (12) is lower than the jobs the workers want in flight (16), so refusals happen.
// TSan checks worker -> pool -> worker hand-offs of one object; the program checks every job
// ran on a pool thread, came back to its worker with the right result, and no slot leaked.
#include "tls/pool.h"
#include "core/worker.h"
#include "tests/tsan/tsan.h"

#include <stdatomic.h>
#include <urcu-qsbr.h>
#include <urcu/compiler.h>

#define WORKERS 2
#define POOL_THREADS 2
#define SLOTS 12
#define IN_FLIGHT 8
#define JOBS 3000

struct job {
    struct core_msg msg;
    struct core_worker *owner;
    uint64_t input;
    uint64_t output;         // written on the pool thread
    struct core_worker *ran; // the pool thread's worker, written there
};

struct side {
    struct core_worker *w;
    int started, done, refused;
};

static struct side sides[WORKERS];
static atomic_int finished_sides;
static struct core_msg kick[WORKERS];

static uint64_t work(uint64_t x)
{
    for (int i = 0; i < 64; i++)
        x = x * 6364136223846793005u + 1442695040888963407u;
    return x;
}

static void start_jobs(struct side *s);

static void on_result(struct core_msg *m)
{
    struct job *j = caa_container_of(m, struct job, msg);
    struct side *s = &sides[core_worker_id(j->owner)];
    TSAN_CHECK(core_worker_self() == j->owner);
    TSAN_CHECK(j->output == work(j->input));
    TSAN_CHECK(j->ran != NULL && j->ran != j->owner);
    tls_pool_unreserve();
    free(j);
    if (++s->done == JOBS) {
        atomic_fetch_add(&finished_sides, 1);
        return;
    }
    start_jobs(s);
}

static void on_pool(struct core_msg *m)
{
    struct job *j = caa_container_of(m, struct job, msg);
    j->ran = core_worker_self();
    j->output = work(j->input);
    j->msg.fn = on_result;
    core_worker_post(j->owner, &j->msg);
    tls_pool_ran();
}

// start_jobs starts jobs on s until IN_FLIGHT are out, JOBS were started, or no slot is free
// (a later result starts more).
static void start_jobs(struct side *s)
{
    while (s->started < JOBS && s->started - s->done < IN_FLIGHT) {
        if (!tls_pool_reserve()) {
            s->refused++;
            if (s->started == s->done) { // nothing of ours in flight: retry on the next loop
                core_worker_post(s->w, &kick[core_worker_id(s->w)]);
            }
            return;
        }
        struct job *j = calloc(1, sizeof(*j));
        TSAN_CHECK(j != NULL);
        j->owner = s->w;
        j->input = (uint64_t)core_worker_id(s->w) << 32 | (uint64_t)s->started;
        j->msg.fn = on_pool;
        s->started++;
        tls_pool_post(&j->msg);
    }
}

static void on_kick(struct core_msg *m)
{
    start_jobs(&sides[m - kick]);
}

int main(void)
{
    rcu_register_thread();
    TSAN_CHECK(tls_pool_start(POOL_THREADS, SLOTS) == 0);
    struct core_workers *ws = core_workers_new(WORKERS, false, "t");
    TSAN_CHECK(ws != NULL && core_workers_start(ws, NULL, NULL, NULL) == 0);
    for (int i = 0; i < WORKERS; i++) {
        sides[i].w = core_workers_get(ws, i);
        kick[i].fn = on_kick;
        core_worker_post(sides[i].w, &kick[i]);
    }
    uint64_t deadline = tsan_now_ms() + 60000;
    while (atomic_load(&finished_sides) < WORKERS && tsan_now_ms() < deadline) {
        rcu_thread_offline();
        tsan_sleep_ms(5);
        rcu_thread_online();
    }
    TSAN_CHECK(atomic_load(&finished_sides) == WORKERS);
    core_workers_stop(ws, 1000);
    rcu_thread_offline();
    core_workers_join(ws);
    tls_pool_stop();
    rcu_thread_online();
    core_workers_free(ws);
    // Every slot came back: all SLOTS can be taken again.
    TSAN_CHECK(tls_pool_start(POOL_THREADS, SLOTS) == 0);
    for (int i = 0; i < SLOTS; i++)
        TSAN_CHECK(tls_pool_reserve());
    TSAN_CHECK(!tls_pool_reserve());
    rcu_thread_offline();
    tls_pool_stop();
    rcu_thread_online();
    rcu_unregister_thread();
    printf("pool: ok (%d jobs through %d pool threads, %d + %d refused reservations)\n",
           WORKERS * JOBS, POOL_THREADS, sides[0].refused, sides[1].refused);
    return 0;
}
