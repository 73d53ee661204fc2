// SPDX-License-Identifier: Apache-2.0
// Unit tests for hooks/cont.c: continuations carry their data and mutex, TSContScheduleOnPool
// runs TASK continuations on a task thread after their delay (TS_EVENT_TIMEOUT) or at once
// (TS_EVENT_IMMEDIATE), TSActionCancel stops one that has not run, NET continuations run on a
// net worker, and bad pools or handles are refused.
#include "core/worker.h"
#include "hooks/hook.h"
#include "hooks/internal.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <urcu-qsbr.h>

struct seen {
    atomic_int runs;
    atomic_int event;
    atomic_int on_task;
    atomic_int on_net;
};

static int record(TSCont c, TSEvent ev, void *edata)
{
    struct seen *s = TSContDataGet(c);
    atomic_store(&s->event, (int)ev);
    atomic_store(&s->on_task, hook_on_task_thread());
    atomic_store(&s->on_net, hook_net_self() >= 0);
    atomic_fetch_add(&s->runs, 1);
    return 0;
}

static void wait_runs(struct seen *s, int want, int ms)
{
    for (int i = 0; i < ms && atomic_load(&s->runs) < want; i++)
        usleep(1000);
}

static struct core_workers *net;

static void setup(void)
{
    rcu_register_thread();
    net = core_workers_new(1, false, "w");
    cr_assert(net);
    cr_assert_eq(hook_runtime_start(net, 1), 0);
    cr_assert_eq(core_workers_start(net, NULL, NULL, NULL), 0);
}

static void teardown(void)
{
    core_workers_stop(net, 0);
    rcu_thread_offline();
    core_workers_join(net);
    hook_runtime_stop();
    rcu_thread_online();
    core_workers_free(net);
    rcu_unregister_thread();
}

TestSuite(hooks_cont, .init = setup, .fini = teardown, .timeout = 20);

Test(hooks_cont, data_and_mutex_are_kept)
{
    TSMutex m = TSMutexCreate();
    struct seen s = {0};
    TSCont c = TSContCreate(record, m);
    TSContDataSet(c, &s);
    cr_assert_eq(TSContDataGet(c), &s);
    cr_assert_eq(TSContMutexGet(c), m);
    cr_assert_eq(TSMutexLockTry(m), TS_SUCCESS); // recursive: the call below locks it again
    TSContCall(c, TS_EVENT_IMMEDIATE, NULL);
    TSMutexUnlock(m);
    cr_assert_eq(atomic_load(&s.runs), 1);
    TSContDestroy(c);
    TSMutexDestroy(m);
}

Test(hooks_cont, task_pool_runs_on_a_task_thread_after_the_delay)
{
    struct seen now = {0}, later = {0};
    TSCont a = TSContCreate(record, NULL), b = TSContCreate(record, NULL);
    TSContDataSet(a, &now);
    TSContDataSet(b, &later);
    cr_assert(TSContScheduleOnPool(a, 0, TS_THREAD_POOL_TASK));
    cr_assert(TSContScheduleOnPool(b, 2000, TS_THREAD_POOL_TASK));
    wait_runs(&now, 1, 2000);
    cr_assert_eq(atomic_load(&now.event), TS_EVENT_IMMEDIATE);
    cr_assert(atomic_load(&now.on_task));
    cr_assert_eq(atomic_load(&later.runs), 0, "a 2 s delay ran at once");
    wait_runs(&later, 1, 8000);
    cr_assert_eq(atomic_load(&later.runs), 1);
    cr_assert_eq(atomic_load(&later.event), TS_EVENT_TIMEOUT);
    TSContDestroy(a);
    TSContDestroy(b);
}

Test(hooks_cont, cancel_stops_a_pending_action)
{
    struct seen cancelled = {0}, kept = {0};
    TSCont a = TSContCreate(record, NULL), b = TSContCreate(record, NULL);
    TSContDataSet(a, &cancelled);
    TSContDataSet(b, &kept);
    // x is cancelled long before its 5 s delay; y runs. Generous delays: the machine is shared.
    TSAction x = TSContScheduleOnPool(a, 5000, TS_THREAD_POOL_TASK);
    TSAction y = TSContScheduleOnPool(b, 200, TS_THREAD_POOL_TASK);
    cr_assert(x && y && x != y);
    cr_assert_not(TSActionDone(x));
    TSActionCancel(x);
    cr_assert(TSActionDone(x));
    wait_runs(&kept, 1, 8000);
    cr_assert_eq(atomic_load(&kept.runs), 1);
    cr_assert_eq(atomic_load(&cancelled.runs), 0);
    cr_assert(TSActionDone(y), "an action that ran is done");
    TSActionCancel(y); // after it ran: a no-op
    TSContDestroy(a);
    TSContDestroy(b);
}

Test(hooks_cont, net_pool_runs_on_a_net_worker)
{
    struct seen s = {0};
    TSCont c = TSContCreate(record, NULL);
    TSContDataSet(c, &s);
    cr_assert(TSContScheduleOnPool(c, 0, TS_THREAD_POOL_NET));
    wait_runs(&s, 1, 2000);
    cr_assert(atomic_load(&s.on_net));
    TSContDestroy(c);
}

Test(hooks_cont, unsupported_pools_and_bad_handles_are_refused)
{
    struct seen s = {0};
    TSCont c = TSContCreate(record, NULL);
    TSContDataSet(c, &s);
    cr_assert_null(TSContScheduleOnPool(c, 0, TS_THREAD_POOL_DNS));
    cr_assert_null(TSContCreate(NULL, NULL));
    cr_assert_null(TSContDataGet((TSCont)(uintptr_t)0x1001)); // a TSVConn-shaped handle
    TSActionCancel((TSAction)(uintptr_t)0x7777); // unknown: no crash
    cr_assert(TSActionDone((TSAction)(uintptr_t)0x7777));
    TSContDestroy(c);
}
