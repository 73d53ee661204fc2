// SPDX-License-Identifier: Apache-2.0
// tests/tsan/mbox.c: core/mbox under contention. Four producer threads each post 20,000
// messages (heap objects whose payload the producer writes just before posting) to one mailbox;
// the owner thread waits on the eventfd with edge-triggered epoll, drains in small batches (so
// the re-signal path runs) and checks every message's payload and each producer's order before
// freeing it. TSan checks that handing an object through the queue orders the producer's writes
// before the owner's reads and frees; the program checks that nothing is lost or duplicated.
#include "core/mbox.h"
#include "tests/tsan/tsan.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>
#include <urcu/compiler.h>

#define PRODUCERS 4
#define PER_PRODUCER 20000
#define DEADLINE_MS 60000

struct item {
    struct core_msg msg;
    int producer;
    int seq;
    char payload[24];
};

static struct core_mbox mbox;
static int next_seq[PRODUCERS];
static long received;

static void on_item(struct core_msg *m)
{
    struct item *it = caa_container_of(m, struct item, msg);
    char want[sizeof(it->payload)];
    snprintf(want, sizeof(want), "p%d-%d", it->producer, it->seq);
    TSAN_CHECK(strcmp(it->payload, want) == 0);
    TSAN_CHECK(it->seq == next_seq[it->producer]);
    next_seq[it->producer]++;
    received++;
    free(it);
}

static void *producer(void *arg)
{
    int p = (int)(intptr_t)arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        struct item *it = malloc(sizeof(*it));
        TSAN_CHECK(it != NULL);
        it->msg.fn = on_item;
        it->producer = p;
        it->seq = i;
        snprintf(it->payload, sizeof(it->payload), "p%d-%d", p, i);
        core_mbox_post(&mbox, &it->msg);
    }
    return NULL;
}

int main(void)
{
    pthread_t th[PRODUCERS];
    TSAN_CHECK(core_mbox_init(&mbox) == 0);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET};
    TSAN_CHECK(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, core_mbox_fd(&mbox), &ev) == 0);
    for (int i = 0; i < PRODUCERS; i++)
        TSAN_CHECK(pthread_create(&th[i], NULL, producer, (void *)(intptr_t)i) == 0);
    uint64_t deadline = tsan_now_ms() + DEADLINE_MS;
    long wakeups = 0;
    while (received < (long)PRODUCERS * PER_PRODUCER && tsan_now_ms() < deadline) {
        struct epoll_event out;
        if (epoll_wait(ep, &out, 1, 1000) == 1) {
            wakeups++;
            core_mbox_drain(&mbox, 64);
        }
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(th[i], NULL);
    TSAN_CHECK(received == (long)PRODUCERS * PER_PRODUCER);
    core_mbox_fini(&mbox);
    printf("mbox: ok (%ld messages from %d producers, %ld wake-ups)\n", received, PRODUCERS,
           wakeups);
    return 0;
}
