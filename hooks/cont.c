// SPDX-License-Identifier: Apache-2.0
// hooks/cont.c: continuations, plugin mutexes, TSContScheduleOnPool with its actions, and the
// task threads (TS_THREAD_POOL_TASK).
//
// Scheduling posts a message to the chosen thread (a net worker or a task thread, both
// core_workers with a mailbox and a timer wheel); that thread arms the delay on its own wheel
// and runs the continuation there. Actions live in one table (slot + generation, behind a
// mutex: scheduling is not a hot path), so TSActionCancel from any thread never touches freed
// memory: a cancelled action is only marked, and its thread frees it when it comes due.
#include "core/assert.h"
#include "core/log.h"
#include "core/timer.h"
#include "core/worker.h"
#include "hooks/hook.h"
#include "hooks/internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <urcu/compiler.h>
#include <urcu-qsbr.h>

struct tsapi_mutex {
    pthread_mutex_t m;
};

// struct action: one scheduled run. Owned by the action table until it fires, then freed by
// the thread it ran on.
struct action {
    struct core_msg msg;     // delivers the action to its thread
    struct core_timer timer; // its delay, on that thread's wheel
    struct hook_cont *cont;
    struct core_worker *target;
    uint64_t delay_ms;
    uint32_t slot, gen; // its place in the action table
};

struct action_slot {
    struct action *a; // NULL when free
    uint32_t gen;
    bool cancelled;
};

static struct core_workers *net_workers;
static struct core_workers *task_workers;
static _Atomic unsigned task_rr, net_rr;
static pthread_mutex_t actions_lock = PTHREAD_MUTEX_INITIALIZER;
static struct action_slot *actions;
static uint32_t actions_cap;
static bool stopping;

#define ACTION_SLOT_BITS 20
#define ACTION_SLOT_MAX (1u << ACTION_SLOT_BITS)

// ---- mutexes ----

TSMutex TSMutexCreate(void)
{
    struct tsapi_mutex *mx = malloc(sizeof(*mx));
    CORE_ASSERT(mx); // ATS's allocator aborts on failure too; the API has no error return
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&mx->m, &attr);
    pthread_mutexattr_destroy(&attr);
    return mx;
}

void TSMutexDestroy(TSMutex mutexp)
{
    if (!mutexp)
        return;
    pthread_mutex_destroy(&mutexp->m);
    free(mutexp);
}

void TSMutexLock(TSMutex mutexp)
{
    if (mutexp)
        pthread_mutex_lock(&mutexp->m);
}

TSReturnCode TSMutexLockTry(TSMutex mutexp)
{
    return mutexp && pthread_mutex_trylock(&mutexp->m) == 0 ? TS_SUCCESS : TS_ERROR;
}

void TSMutexUnlock(TSMutex mutexp)
{
    if (mutexp)
        pthread_mutex_unlock(&mutexp->m);
}

// ---- continuations ----

struct hook_cont *hook_cont_get(TSCont contp, const char *caller)
{
    struct hook_cont *c = (struct hook_cont *)contp;
    // TSVConn handles are odd numbers (hooks/vconn.c); continuations are aligned pointers.
    if (!c || ((uintptr_t)c & 1) || c->magic != HOOK_CONT_MAGIC) {
        core_log_error("plugin: %s: not a continuation", caller);
        return NULL;
    }
    return c;
}

int hook_cont_call(struct hook_cont *cont, TSEvent event, void *edata)
{
    TSMutex mx = cont->mutex; // the handler may destroy cont
    TSMutexLock(mx);
    int r = cont->fn((TSCont)cont, event, edata);
    TSMutexUnlock(mx);
    return r;
}

TSCont TSContCreate(TSEventFunc funcp, TSMutex mutexp)
{
    if (!funcp)
        return NULL;
    struct hook_cont *c = calloc(1, sizeof(*c));
    CORE_ASSERT(c);
    c->magic = HOOK_CONT_MAGIC;
    c->fn = funcp;
    c->mutex = mutexp;
    c->affinity = hook_net_self();
    return (TSCont)c;
}

void TSContDestroy(TSCont contp)
{
    struct hook_cont *c = contp ? hook_cont_get(contp, "TSContDestroy") : NULL;
    if (!c)
        return;
    c->magic = 0;
    free(c);
}

void TSContDataSet(TSCont contp, void *data)
{
    struct hook_cont *c = hook_cont_get(contp, "TSContDataSet");
    if (c)
        c->data = data;
}

void *TSContDataGet(TSCont contp)
{
    struct hook_cont *c = hook_cont_get(contp, "TSContDataGet");
    return c ? c->data : NULL;
}

int TSContCall(TSCont contp, TSEvent event, void *edata)
{
    struct hook_cont *c = hook_cont_get(contp, "TSContCall");
    return c ? hook_cont_call(c, event, edata) : 0;
}

TSMutex TSContMutexGet(TSCont contp)
{
    struct hook_cont *c = hook_cont_get(contp, "TSContMutexGet");
    return c ? c->mutex : NULL;
}

// ---- threads ----

int hook_net_count(void)
{
    return net_workers ? core_workers_count(net_workers) : 0;
}

struct core_worker *hook_net_worker(int i)
{
    return i >= 0 && i < hook_net_count() ? core_workers_get(net_workers, i) : NULL;
}

int hook_net_self(void)
{
    struct core_worker *w = core_worker_self();
    if (!w || !net_workers)
        return -1;
    int id = core_worker_id(w);
    return hook_net_worker(id) == w ? id : -1;
}

bool hook_on_task_thread(void)
{
    struct core_worker *w = core_worker_self();
    return w && task_workers && core_workers_get(task_workers, core_worker_id(w)) == w;
}

// ---- actions ----

static TSAction action_handle(uint32_t slot, uint32_t gen)
{
    return (TSAction)(uintptr_t)(((uint64_t)gen << (ACTION_SLOT_BITS + 1)) | slot << 1 | 1u);
}

// Registers a in the table; returns its handle, or NULL when the table is full or stopping.
static TSAction action_register(struct action *a)
{
    TSAction h = NULL;
    pthread_mutex_lock(&actions_lock);
    uint32_t i = 0;
    while (i < actions_cap && actions[i].a)
        i++;
    if (i == actions_cap && !stopping && actions_cap < ACTION_SLOT_MAX) {
        uint32_t cap = actions_cap ? actions_cap * 2 : 64;
        struct action_slot *grown = realloc(actions, cap * sizeof(*grown));
        if (grown) {
            for (uint32_t k = actions_cap; k < cap; k++)
                grown[k] = (struct action_slot){0};
            actions = grown;
            actions_cap = cap;
        }
    }
    if (i < actions_cap && !stopping) {
        actions[i].a = a;
        actions[i].cancelled = false;
        a->slot = i;
        a->gen = actions[i].gen;
        h = action_handle(i, actions[i].gen);
    }
    pthread_mutex_unlock(&actions_lock);
    return h;
}

// Takes a out of the table; returns true when it was cancelled.
static bool action_unregister(struct action *a)
{
    pthread_mutex_lock(&actions_lock);
    struct action_slot *s = &actions[a->slot];
    bool cancelled = s->cancelled;
    s->a = NULL;
    s->gen = (s->gen + 1) & 0x3fffff;
    pthread_mutex_unlock(&actions_lock);
    return cancelled;
}

static void action_fire(struct core_timer *t, void *arg)
{
    struct action *a = arg;
    TSAction h = action_handle(a->slot, a->gen); // ATS passes the action as edata
    bool cancelled = action_unregister(a);
    if (!cancelled) {
        // A task thread may block in the plugin (that is what it is for): offline for RCU
        // meanwhile, so that it holds up no grace period.
        bool task = hook_on_task_thread();
        if (task)
            rcu_thread_offline();
        hook_cont_call(a->cont, a->delay_ms ? TS_EVENT_TIMEOUT : TS_EVENT_IMMEDIATE, h);
        if (task) {
            hook_ctx_release();
            rcu_thread_online();
        }
    }
    free(a);
}

static void action_arrived(struct core_msg *m)
{
    struct action *a = caa_container_of(m, struct action, msg);
    if (a->delay_ms == 0) {
        action_fire(&a->timer, a);
        return;
    }
    core_timer_arm(core_worker_wheel(a->target), &a->timer, a->delay_ms);
}

static struct core_worker *pick_target(struct hook_cont *c, TSThreadPool tp)
{
    if (tp == TS_THREAD_POOL_TASK) {
        int n = task_workers ? core_workers_count(task_workers) : 0;
        return n ? core_workers_get(task_workers, (int)(atomic_fetch_add(&task_rr, 1) % n))
                 : NULL;
    }
    if (tp != TS_THREAD_POOL_NET || hook_net_count() == 0)
        return NULL;
    if (c->affinity >= 0)
        return hook_net_worker(c->affinity);
    int self = hook_net_self();
    if (self >= 0)
        return hook_net_worker(self);
    return hook_net_worker((int)(atomic_fetch_add(&net_rr, 1) % (unsigned)hook_net_count()));
}

TSAction TSContScheduleOnPool(TSCont contp, TSHRTime timeout, TSThreadPool tp)
{
    struct hook_cont *c = hook_cont_get(contp, "TSContScheduleOnPool");
    struct core_worker *target = c ? pick_target(c, tp) : NULL;
    if (!target) {
        if (c)
            core_log_error("plugin: TSContScheduleOnPool: thread pool %d is not available",
                           (int)tp);
        return NULL;
    }
    struct action *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->cont = c;
    a->target = target;
    a->delay_ms = timeout > 0 ? (uint64_t)timeout : 0;
    a->msg.fn = action_arrived;
    core_timer_init(&a->timer, action_fire, a);
    TSAction h = action_register(a);
    if (!h) {
        free(a);
        return NULL;
    }
    core_worker_post(target, &a->msg);
    return h;
}

// Finds the slot of handle h; returns NULL unless h names a live action.
static struct action_slot *action_find(TSAction h)
{
    uintptr_t v = (uintptr_t)h;
    if (!(v & 1))
        return NULL;
    uint32_t slot = (uint32_t)(v >> 1) & (ACTION_SLOT_MAX - 1);
    uint32_t gen = (uint32_t)(v >> (ACTION_SLOT_BITS + 1));
    if (slot >= actions_cap || !actions[slot].a || actions[slot].gen != gen)
        return NULL;
    return &actions[slot];
}

void TSActionCancel(TSAction actionp)
{
    pthread_mutex_lock(&actions_lock);
    struct action_slot *s = action_find(actionp);
    if (s)
        s->cancelled = true;
    pthread_mutex_unlock(&actions_lock);
}

int TSActionDone(TSAction actionp)
{
    pthread_mutex_lock(&actions_lock);
    struct action_slot *s = action_find(actionp);
    int done = !s || s->cancelled;
    pthread_mutex_unlock(&actions_lock);
    return done;
}

// ---- runtime ----

int hook_runtime_start(struct core_workers *net, int task_threads)
{
    net_workers = net;
    task_workers = core_workers_new(task_threads < 1 ? 1 : task_threads, false, "task");
    if (!task_workers)
        return -errno;
    int rc = core_workers_start(task_workers, NULL, NULL, NULL);
    if (rc == 0)
        rc = hook_vconn_start(core_workers_count(net));
    return rc;
}

void hook_runtime_stop(void)
{
    pthread_mutex_lock(&actions_lock);
    stopping = true;
    pthread_mutex_unlock(&actions_lock);
    if (task_workers) {
        core_workers_stop(task_workers, 0);
        core_workers_join(task_workers);
        core_workers_free(task_workers);
        task_workers = NULL;
    }
    // Actions that never ran (their thread stopped first) are freed here.
    for (uint32_t i = 0; i < actions_cap; i++)
        free(actions[i].a);
    free(actions);
    actions = NULL;
    actions_cap = 0;
    hook_vconn_stop();
    net_workers = NULL;
}
