// SPDX-License-Identifier: Apache-2.0
// Unit tests for core/mbox.c: the MPSC mailbox with its eventfd and coalesced wake-ups.
#include "core/mbox.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#define PRODUCERS 4
#define PER_PRODUCER 100000

// struct tmsg: a test message; the array that holds them is owned by the test.
struct tmsg {
    struct core_msg msg;
    int producer;
    int seq;
};

static struct core_mbox mb;
static int ep = -1;
static int next_seq[PRODUCERS];
static size_t delivered;
static int misordered; // deliveries out of per-producer order (or duplicated)

static void setup(void)
{
    cr_assert_eq(core_mbox_init(&mb), 0);
    ep = epoll_create1(EPOLL_CLOEXEC);
    cr_assert_geq(ep, 0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET};
    cr_assert_eq(epoll_ctl(ep, EPOLL_CTL_ADD, core_mbox_fd(&mb), &ev), 0);
    delivered = 0;
    misordered = 0;
    for (int p = 0; p < PRODUCERS; p++)
        next_seq[p] = 0;
}

static void teardown(void)
{
    core_mbox_fini(&mb);
    if (ep >= 0)
        close(ep);
}

static void on_msg(struct core_msg *m)
{
    struct tmsg *t = caa_container_of(m, struct tmsg, msg);
    if (t->seq != next_seq[t->producer])
        misordered++;
    next_seq[t->producer] = t->seq + 1;
    delivered++;
}

// wait_ready returns the number of epoll events within timeout_ms (0 or 1).
static int wait_ready(int timeout_ms)
{
    struct epoll_event ev;
    int n;
    do {
        n = epoll_wait(ep, &ev, 1, timeout_ms);
    } while (n < 0 && errno == EINTR);
    cr_assert_geq(n, 0);
    return n;
}

static struct tmsg *make_msgs(int producer, int count)
{
    struct tmsg *m = calloc((size_t)count, sizeof(*m));
    cr_assert_not_null(m);
    for (int k = 0; k < count; k++) {
        m[k].msg.fn = on_msg;
        m[k].producer = producer;
        m[k].seq = k;
    }
    return m;
}

TestSuite(core_mbox, .init = setup, .fini = teardown);

Test(core_mbox, init_gives_a_nonblocking_cloexec_eventfd)
{
    int fd = core_mbox_fd(&mb);
    cr_assert_geq(fd, 0);
    cr_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
    cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    cr_assert_eq(core_mbox_drain(&mb, 10), 0);
    cr_assert_eq(wait_ready(0), 0);
}

Test(core_mbox, posts_coalesce_into_one_eventfd_write)
{
    struct tmsg *m = make_msgs(0, 100);
    for (int k = 0; k < 100; k++)
        core_mbox_post(&mb, &m[k].msg);
    uint64_t count = 0;
    cr_assert_eq(read(core_mbox_fd(&mb), &count, sizeof(count)), (ssize_t)sizeof(count));
    cr_assert_eq(count, 1);
    cr_assert_eq(core_mbox_drain(&mb, SIZE_MAX), 100);
    cr_assert_eq(misordered, 0);
    // After a drain the next post signals again.
    core_mbox_post(&mb, &m[0].msg);
    cr_assert_eq(wait_ready(1000), 1);
    cr_assert_eq(core_mbox_drain(&mb, SIZE_MAX), 1);
    free(m);
}

Test(core_mbox, drain_with_small_max_resignals_edge_triggered_epoll, .timeout = 20)
{
    struct tmsg *m = make_msgs(0, 10);
    for (int k = 0; k < 10; k++)
        core_mbox_post(&mb, &m[k].msg);
    size_t want[] = {3, 3, 3, 1};
    for (size_t round = 0; round < 4; round++) {
        cr_assert_eq(wait_ready(1000), 1, "no wake-up before round %zu", round);
        cr_assert_eq(core_mbox_drain(&mb, 3), want[round]);
    }
    cr_assert_eq(delivered, 10);
    cr_assert_eq(misordered, 0);
    cr_assert_eq(wait_ready(100), 0, "wake-up with nothing queued");
    free(m);
}

static struct tmsg chained[3];

static void on_chain(struct core_msg *m)
{
    struct tmsg *t = caa_container_of(m, struct tmsg, msg);
    delivered++;
    if (t->seq + 1 < 3)
        core_mbox_post(&mb, &chained[t->seq + 1].msg);
}

Test(core_mbox, a_handler_may_post_and_is_woken_again, .timeout = 20)
{
    for (int k = 0; k < 3; k++)
        chained[k] = (struct tmsg){.msg.fn = on_chain, .seq = k};
    core_mbox_post(&mb, &chained[0].msg);
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(wait_ready(1000), 1);
        cr_assert_eq(core_mbox_drain(&mb, 1), 1);
    }
    cr_assert_eq(delivered, 3);
}

// struct producer: one producer thread's messages; owned by the test.
struct producer {
    pthread_t thread;
    struct tmsg *msgs;
    int count;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (int k = 0; k < p->count; k++) {
        core_mbox_post(&mb, &p->msgs[k].msg);
        if (k % 4096 == 0)
            sched_yield(); // let the consumer catch up now and then: more sleeps and wake-ups
    }
    return NULL;
}

// run_producers has PRODUCERS threads post per_producer messages each while this thread
// consumes them, sleeping in epoll_wait and draining at most max per wake-up.
static void run_producers(int per_producer, size_t max)
{
    struct producer prod[PRODUCERS];
    for (int p = 0; p < PRODUCERS; p++) {
        prod[p].msgs = make_msgs(p, per_producer);
        prod[p].count = per_producer;
        cr_assert_eq(pthread_create(&prod[p].thread, NULL, produce, &prod[p]), 0);
    }
    const size_t total = (size_t)PRODUCERS * (size_t)per_producer;
    size_t wakeups = 0;
    while (delivered < total) {
        // A lost wake-up shows up as a timeout here, with messages still missing.
        cr_assert_eq(wait_ready(5000), 1, "stalled at %zu of %zu", delivered, total);
        wakeups++;
        core_mbox_drain(&mb, max);
    }
    for (int p = 0; p < PRODUCERS; p++) {
        cr_assert_eq(pthread_join(prod[p].thread, NULL), 0);
        cr_assert_eq(next_seq[p], per_producer);
        free(prod[p].msgs);
    }
    cr_assert_eq(delivered, total);
    cr_assert_eq(misordered, 0);
    cr_assert_eq(core_mbox_drain(&mb, SIZE_MAX), 0);
    cr_log_info("%zu messages in %zu wake-ups (max %zu)", total, wakeups, max);
}

Test(core_mbox, four_producers_each_message_once_in_order, .timeout = 20)
{
    run_producers(PER_PRODUCER, 1000);
}

Test(core_mbox, four_producers_with_a_tiny_drain_max, .timeout = 20)
{
    run_producers(PER_PRODUCER / 5, 7);
}

Test(core_mbox, fini_closes_the_eventfd)
{
    int fd = core_mbox_fd(&mb);
    core_mbox_fini(&mb);
    cr_assert_eq(fcntl(fd, F_GETFD), -1);
    cr_assert_eq(core_mbox_fd(&mb), -1);
}

Test(core_mbox, post_to_a_finished_mailbox_aborts, .signal = SIGABRT)
{
    struct tmsg m = {.msg.fn = on_msg};
    core_mbox_fini(&mb);
    core_mbox_post(&mb, &m.msg);
}
