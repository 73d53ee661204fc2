// SPDX-License-Identifier: Apache-2.0
// Unit tests for tls/pool.c: the in-flight bound and delivery to pool threads.
#include "core/worker.h"
#include "tls/pool.h"

#include <criterion/criterion.h>
#include <stdatomic.h>
#include <unistd.h>
#include <urcu-qsbr.h>

static atomic_int ran_on_pool;

static void on_pool(struct core_msg *m)
{
    if (core_worker_self() != NULL)
        atomic_fetch_add(&ran_on_pool, 1);
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
        tls_pool_post(i, &m[i]);
    }
    for (int i = 0; i < 2000 && atomic_load(&ran_on_pool) < 4; i++)
        usleep(1000);
    cr_expect_eq(atomic_load(&ran_on_pool), 4);
    rcu_thread_offline();
    tls_pool_stop();
    rcu_thread_online();
    rcu_unregister_thread();
}
