// SPDX-License-Identifier: Apache-2.0
// Unit tests for tls/pool.c: the in-flight bound and delivery to pool threads.
#include "core/worker.h"
#include "tls/pool.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <time.h>
#include <stdatomic.h>
#include <unistd.h>
#include <urcu-qsbr.h>

static atomic_int ran_on_pool;

static void on_pool(struct core_msg *m)
{
    if (core_worker_self() != NULL)
        atomic_fetch_add(&ran_on_pool, 1);
    tls_pool_ran();
}

// A handler that blocks, as a token's C_Sign does, until `want` handlers block at once (or 5 s
// pass): it returns whether it saw them all.
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_in, gate_want, gate_met;
static struct core_worker *gate_ran[8];

static void on_pool_blocking(struct core_msg *m)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&gate_mu);
    gate_ran[gate_in++] = core_worker_self();
    pthread_cond_broadcast(&gate_cv);
    while (gate_in < gate_want)
        if (pthread_cond_timedwait(&gate_cv, &gate_mu, &until) != 0)
            break;
    if (gate_in >= gate_want)
        gate_met++;
    pthread_mutex_unlock(&gate_mu);
    tls_pool_ran();
}

Test(tls_pool, bounds_operations_in_flight, .timeout = 20)
{
    rcu_register_thread();
    cr_assert_not(tls_pool_reserve(), "no pool, no slot");
    cr_assert_eq(tls_pool_start(2, 3), 0);
    cr_assert_eq(tls_pool_threads(), 2);
    cr_assert(tls_pool_reserve());
    cr_assert(tls_pool_reserve());
    cr_assert(tls_pool_reserve());
    cr_assert_not(tls_pool_reserve(), "the fourth operation is refused");
    tls_pool_unreserve();
    cr_assert(tls_pool_reserve(), "a returned slot can be taken again");
    rcu_thread_offline();
    tls_pool_stop();
    rcu_thread_online();
    cr_assert_eq(tls_pool_threads(), 0);
    rcu_unregister_thread();
}

Test(tls_pool, messages_run_on_pool_threads, .timeout = 20)
{
    rcu_register_thread();
    cr_assert_eq(tls_pool_start(2, 16), 0);
    struct core_msg m[4];
    for (unsigned i = 0; i < 4; i++) {
        m[i].fn = on_pool;
        tls_pool_post(&m[i]);
    }
    for (int i = 0; i < 2000 && atomic_load(&ran_on_pool) < 4; i++)
        usleep(1000);
    cr_expect_eq(atomic_load(&ran_on_pool), 4);
    rcu_thread_offline();
    tls_pool_stop();
    rcu_thread_online();
    rcu_unregister_thread();
}

// Operations that block their thread spread over the idle threads: with everything posted to
// one thread (as when one worker's operations all went to thread `worker id % n`), the four
// would run one after another and none would see the others.
Test(tls_pool, blocking_operations_run_side_by_side, .timeout = 30)
{
    rcu_register_thread();
    cr_assert_eq(tls_pool_start(4, 16), 0);
    gate_want = 4;
    struct core_msg m[4];
    for (int i = 0; i < 4; i++) {
        m[i].fn = on_pool_blocking;
        tls_pool_post(&m[i]);
    }
    for (int i = 0; i < 10000; i++) {
        pthread_mutex_lock(&gate_mu);
        int met = gate_met, in = gate_in;
        pthread_mutex_unlock(&gate_mu);
        if (in == 4 && met == 4)
            break;
        usleep(1000);
    }
    cr_expect_eq(gate_met, 4, "%d of 4 blocking operations ran side by side", gate_met);
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            cr_expect_neq(gate_ran[i], gate_ran[j], "operations %d and %d shared a thread", i, j);
    // Loads went back to zero: four more spread again.
    pthread_mutex_lock(&gate_mu);
    gate_in = gate_met = 0;
    pthread_mutex_unlock(&gate_mu);
    for (int i = 0; i < 4; i++)
        tls_pool_post(&m[i]);
    for (int i = 0; i < 10000; i++) {
        pthread_mutex_lock(&gate_mu);
        int met = gate_met;
        pthread_mutex_unlock(&gate_mu);
        if (met == 4)
            break;
        usleep(1000);
    }
    cr_expect_eq(gate_met, 4, "second round: %d of 4 ran side by side", gate_met);
    rcu_thread_offline();
    tls_pool_stop();
    rcu_thread_online();
    rcu_unregister_thread();
}
