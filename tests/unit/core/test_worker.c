// SPDX-License-Identifier: Apache-2.0
// Unit tests for core/worker.c: messages run on the owning worker, timers fire there, deferred
// work runs after the events, and a graceful stop waits for held objects up to its deadline.
#include "core/worker.h"

#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <urcu-qsbr.h>
#include <urcu/compiler.h>

struct probe {
    struct core_msg msg;
    struct core_worker *target;
    atomic_int ran_on_target;
    atomic_int ran;
};

static void probe_run(struct core_msg *m)
{
    struct probe *p = caa_container_of(m, struct probe, msg);
    if (core_worker_self() == p->target)
        atomic_fetch_add(&p->ran_on_target, 1);
    atomic_fetch_add(&p->ran, 1);
}

static void wait_for(atomic_int *v, int want)
{
    for (int i = 0; i < 2000 && atomic_load(v) < want; i++)
        usleep(1000);
}

Test(core_worker, messages_run_on_the_owning_worker, .timeout = 20)
{
    rcu_register_thread();
    struct core_workers *ws = core_workers_new(2, false, "w");
    cr_assert(ws);
    cr_assert_eq(core_workers_start(ws, NULL, NULL, NULL), 0);
    struct probe p[2];
    for (int i = 0; i < 2; i++) {
        p[i] = (struct probe){.msg.fn = probe_run, .target = core_workers_get(ws, i)};
        core_worker_post(core_workers_get(ws, i), &p[i].msg);
    }
    for (int i = 0; i < 2; i++) {
        wait_for(&p[i].ran, 1);
        cr_expect_eq(atomic_load(&p[i].ran_on_target), 1);
    }
    core_workers_stop(ws, 1000);
    rcu_thread_offline();
    core_workers_join(ws);
    rcu_thread_online();
    core_workers_free(ws);
    rcu_unregister_thread();
}

static atomic_int timer_fired;
static atomic_int deferred_ran;
static struct core_timer timer;
static struct core_msg deferred;

static void on_deferred(struct core_msg *m)
{
    atomic_fetch_add(&deferred_ran, 1);
}

static void on_timer(struct core_timer *t, void *arg)
{
    atomic_fetch_add(&timer_fired, 1);
    deferred.fn = on_deferred;
    core_worker_defer(arg, &deferred);
}

static void arm_timer(struct core_worker *w, void *arg)
{
    core_timer_init(&timer, on_timer, w);
    core_timer_arm(core_worker_wheel(w), &timer, 50);
}

Test(core_worker, timers_fire_and_deferred_work_runs, .timeout = 20)
{
    rcu_register_thread();
    struct core_workers *ws = core_workers_new(1, true, "w");
    cr_assert(ws);
    cr_assert_eq(core_workers_start(ws, arm_timer, NULL, NULL), 0);
    wait_for(&timer_fired, 1);
    wait_for(&deferred_ran, 1);
    cr_expect_eq(atomic_load(&timer_fired), 1);
    cr_expect_eq(atomic_load(&deferred_ran), 1);
    core_workers_stop(ws, 1000);
    rcu_thread_offline();
    core_workers_join(ws);
    rcu_thread_online();
    core_workers_free(ws);
    rcu_unregister_thread();
}

// A timer armed by a message that wakes an idle worker counts from the moment it is armed, not
// from before the worker's sleep (the wheel's clock used to move only after the events ran, so
// such a timer fired early by up to the time slept).
static struct core_timer late_timer;
static struct core_msg arm_msg;
static atomic_llong armed_at, fired_at;

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_late_timer(struct core_timer *t, void *arg)
{
    atomic_store(&fired_at, mono_ms());
}

static void arm_from_message(struct core_msg *m)
{
    struct core_worker *w = core_worker_self();
    core_timer_init(&late_timer, on_late_timer, w);
    atomic_store(&armed_at, mono_ms());
    core_timer_arm(core_worker_wheel(w), &late_timer, 300);
}

Test(core_worker, a_timer_armed_after_an_idle_sleep_counts_from_its_arming, .timeout = 20)
{
    rcu_register_thread();
    struct core_workers *ws = core_workers_new(1, false, "w");
    cr_assert(ws);
    cr_assert_eq(core_workers_start(ws, NULL, NULL, NULL), 0);
    usleep(900 * 1000); // the worker sleeps in epoll_wait (up to its 1 s maximum)
    arm_msg.fn = arm_from_message;
    core_worker_post(core_workers_get(ws, 0), &arm_msg);
    for (int i = 0; i < 3000 && atomic_load(&fired_at) == 0; i++)
        usleep(1000);
    long long waited = atomic_load(&fired_at) - atomic_load(&armed_at);
    cr_expect(atomic_load(&fired_at) != 0, "the timer never fired");
    cr_expect_geq(waited, 299, "a 300 ms timer fired after %lld ms", waited);
    core_workers_stop(ws, 1000);
    rcu_thread_offline();
    core_workers_join(ws);
    rcu_thread_online();
    core_workers_free(ws);
    rcu_unregister_thread();
}

static atomic_int stop_called;
static struct core_msg release_msg;

static void hold_one(struct core_worker *w, void *arg)
{
    core_worker_hold(w);
}

static void on_stop(struct core_worker *w, void *arg)
{
    cr_assert(core_worker_stopping(w));
    atomic_fetch_add(&stop_called, 1);
}

static void release_one(struct core_msg *m)
{
    core_worker_release(core_worker_self());
}

static uint64_t join_ms(struct core_workers *ws)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    rcu_thread_offline();
    core_workers_join(ws);
    rcu_thread_online();
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (uint64_t)((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000);
}

Test(core_worker, stop_waits_for_held_objects_until_released, .timeout = 20)
{
    rcu_register_thread();
    struct core_workers *ws = core_workers_new(1, false, "w");
    cr_assert_eq(core_workers_start(ws, hold_one, on_stop, NULL), 0);
    usleep(50000);
    core_workers_stop(ws, 10000);
    usleep(200000);
    release_msg.fn = release_one;
    core_worker_post(core_workers_get(ws, 0), &release_msg);
    uint64_t ms = join_ms(ws);
    cr_expect_lt(ms, 5000, "the worker exits once nothing is held (took %llu ms)",
                 (unsigned long long)ms);
    cr_expect_eq(atomic_load(&stop_called), 1);
    core_workers_free(ws);
    rcu_unregister_thread();
}

Test(core_worker, stop_gives_up_at_the_deadline, .timeout = 20)
{
    rcu_register_thread();
    struct core_workers *ws = core_workers_new(1, false, "w");
    cr_assert_eq(core_workers_start(ws, hold_one, NULL, NULL), 0);
    usleep(50000);
    core_workers_stop(ws, 300);
    uint64_t ms = join_ms(ws);
    cr_expect_geq(ms, 250, "the worker waited for its held object (took %llu ms)",
                  (unsigned long long)ms);
    cr_expect_lt(ms, 3000);
    core_workers_free(ws);
    rcu_unregister_thread();
}
