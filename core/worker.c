// SPDX-License-Identifier: Apache-2.0
// core/worker.c: worker threads, their epoll loop, graceful stop (see core/worker.h).
#include "core/worker.h"
#include "core/log.h"
#include "core/stats.h"
#include "core/tsan.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#define EVENTS_PER_WAIT 256
#define MBOX_BATCH 256
// Upper bound on one sleep, so a stopping worker re-checks its deadline.
#define MAX_SLEEP_MS 1000

struct core_worker {
    int id;
    int epfd;
    int cpu; // -1: not pinned
    pthread_t thread;
    bool started;
    struct core_wheel wheel;
    struct core_mbox mbox;
    struct core_event mbox_ev;
    struct core_msg stop_msg;
    uint64_t now;
    long held;
    struct core_msg *deferred; // linked through node.next, run after each dispatch
    bool stopping;
    uint64_t stop_deadline;
    _Atomic uint64_t stop_timeout; // written by main before posting stop_msg
    struct core_workers *group;
};

struct core_workers {
    int n;
    char name[8];
    core_worker_fn init;
    core_worker_fn on_stop;
    void *arg;
    struct core_worker w[];
};

static __thread struct core_worker *self;

static void mbox_ready(struct core_event *ev, uint32_t events)
{
    struct core_worker *w = caa_container_of(ev, struct core_worker, mbox_ev);
    core_mbox_drain(&w->mbox, MBOX_BATCH);
}

static void stop_requested(struct core_msg *msg)
{
    struct core_worker *w = caa_container_of(msg, struct core_worker, stop_msg);
    if (w->stopping)
        return;
    w->stopping = true;
    w->stop_deadline = w->now + atomic_load(&w->stop_timeout);
    if (w->group->on_stop)
        w->group->on_stop(w, w->group->arg);
}

static int worker_init(struct core_worker *w, int id, int cpu, struct core_workers *ws)
{
    w->id = id;
    w->cpu = cpu;
    w->group = ws;
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (w->epfd < 0)
        return -errno;
    int rc = core_mbox_init(&w->mbox);
    if (rc < 0) {
        close(w->epfd);
        w->epfd = -1;
        return rc;
    }
    w->now = core_now_ms();
    core_wheel_init(&w->wheel, w->now);
    w->mbox_ev.fn = mbox_ready;
    w->stop_msg.fn = stop_requested;
    return core_worker_add(w, core_mbox_fd(&w->mbox), EPOLLIN, &w->mbox_ev);
}

struct core_workers *core_workers_new(int n, bool pin, const char *name)
{
    struct core_workers *ws = calloc(1, sizeof(*ws) + (size_t)n * sizeof(struct core_worker));
    if (!ws)
        return NULL;
    ws->n = n;
    snprintf(ws->name, sizeof(ws->name), "%.6s", name);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1)
        ncpu = 1;
    for (int i = 0; i < n; i++) {
        ws->w[i].epfd = -1;
        int rc = worker_init(&ws->w[i], i, pin ? (int)(i % ncpu) : -1, ws);
        if (rc < 0) {
            core_workers_free(ws);
            errno = -rc;
            return NULL;
        }
    }
    return ws;
}

int core_workers_count(const struct core_workers *ws)
{
    return ws->n;
}

struct core_worker *core_workers_get(struct core_workers *ws, int i)
{
    return &ws->w[i];
}

static bool should_exit(struct core_worker *w)
{
    if (!w->stopping)
        return false;
    return w->held <= 0 || w->now >= w->stop_deadline;
}

static void run_deferred(struct core_worker *w)
{
    while (w->deferred) {
        struct core_msg *m = w->deferred;
        w->deferred = (struct core_msg *)m->node.next;
        m->fn(m);
    }
}

static void run_loop(struct core_worker *w)
{
    struct epoll_event evs[EVENTS_PER_WAIT];
    while (!should_exit(w)) {
        int timeout = core_wheel_next_ms(&w->wheel, w->now);
        if (timeout < 0 || timeout > MAX_SLEEP_MS)
            timeout = MAX_SLEEP_MS;
        // Offline while asleep: a sleeping reader must not hold up grace periods.
        CORE_TSAN_QUIESCENT();
        rcu_thread_offline();
        int n = epoll_wait(w->epfd, evs, EVENTS_PER_WAIT, timeout);
        rcu_thread_online();
        w->now = core_now_ms();
        // The wheel's clock moves before the events run: a timer armed by an event callback
        // counts from now, not from before the sleep (it would fire early by the time slept).
        core_wheel_advance(&w->wheel, w->now);
        run_deferred(w);
        for (int i = 0; i < n; i++) {
            struct core_event *ev = evs[i].data.ptr;
            ev->fn(ev, evs[i].events);
        }
        run_deferred(w);
        core_log_access_flush(); // the transactions this batch ended, in one write
        CORE_TSAN_QUIESCENT();
        rcu_quiescent_state();
    }
}

static void *worker_main(void *arg)
{
    struct core_worker *w = arg;
    self = w;
    if (w->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(w->cpu, &set);
        int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
        if (rc != 0)
            core_log_warn("worker %d: cannot pin to CPU %d: %s", w->id, w->cpu, strerror(rc));
    }
    char name[32]; // the kernel keeps 15 characters: "tlsedge-w12", "tlsedge-hs3"
    snprintf(name, sizeof(name), "tlsedge-%s%d", w->group->name, w->id);
    name[15] = '\0';
    pthread_setname_np(pthread_self(), name);
    rcu_register_thread();
    core_stats_thread_attach();
    core_log_access_buffer_thread();
    w->now = core_now_ms();
    if (w->group->init)
        w->group->init(w, w->group->arg);
    run_loop(w);
    core_log_access_thread_done();
    rcu_unregister_thread();
    return NULL;
}

int core_workers_start(struct core_workers *ws, core_worker_fn init, core_worker_fn on_stop,
                       void *arg)
{
    ws->init = init;
    ws->on_stop = on_stop;
    ws->arg = arg;
    for (int i = 0; i < ws->n; i++) {
        int rc = pthread_create(&ws->w[i].thread, NULL, worker_main, &ws->w[i]);
        if (rc != 0)
            return -rc;
        ws->w[i].started = true;
    }
    return 0;
}

void core_workers_stop(struct core_workers *ws, uint64_t timeout_ms)
{
    for (int i = 0; i < ws->n; i++) {
        atomic_store(&ws->w[i].stop_timeout, timeout_ms);
        core_mbox_post(&ws->w[i].mbox, &ws->w[i].stop_msg);
    }
}

void core_workers_join(struct core_workers *ws)
{
    for (int i = 0; i < ws->n; i++) {
        if (ws->w[i].started)
            pthread_join(ws->w[i].thread, NULL);
        ws->w[i].started = false;
    }
}

void core_workers_free(struct core_workers *ws)
{
    if (!ws)
        return;
    for (int i = 0; i < ws->n; i++) {
        struct core_worker *w = &ws->w[i];
        if (w->epfd < 0)
            continue;
        core_wheel_fini(&w->wheel);
        core_mbox_fini(&w->mbox);
        close(w->epfd);
    }
    free(ws);
}

struct core_worker *core_worker_self(void)
{
    return self;
}

int core_worker_id(const struct core_worker *w)
{
    return w->id;
}

int core_worker_add(struct core_worker *w, int fd, uint32_t events, struct core_event *ev)
{
    struct epoll_event e = {.events = events | EPOLLET, .data.ptr = ev};
    return epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &e) < 0 ? -errno : 0;
}

int core_worker_mod(struct core_worker *w, int fd, uint32_t events, struct core_event *ev)
{
    struct epoll_event e = {.events = events | EPOLLET, .data.ptr = ev};
    return epoll_ctl(w->epfd, EPOLL_CTL_MOD, fd, &e) < 0 ? -errno : 0;
}

int core_worker_del(struct core_worker *w, int fd)
{
    return epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
}

struct core_wheel *core_worker_wheel(struct core_worker *w)
{
    return &w->wheel;
}

uint64_t core_worker_now(const struct core_worker *w)
{
    return w->now;
}

void core_worker_post(struct core_worker *w, struct core_msg *msg)
{
    core_mbox_post(&w->mbox, msg);
}

void core_worker_defer(struct core_worker *w, struct core_msg *msg)
{
    msg->node.next = (struct cds_wfcq_node *)w->deferred;
    w->deferred = msg;
}

void core_worker_hold(struct core_worker *w)
{
    w->held++;
}

void core_worker_release(struct core_worker *w)
{
    w->held--;
}

bool core_worker_stopping(const struct core_worker *w)
{
    return w->stopping;
}
