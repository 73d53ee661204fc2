// SPDX-License-Identifier: Apache-2.0
// core/mbox.c: the worker mailbox: wfcqueue + eventfd with coalesced wake-ups (see
// core/mbox.h).
//
// Wake-up protocol. A producer enqueues, then exchanges _signalled to true and writes the
// eventfd only if it was false. The owner reads (clears) the eventfd, stores _signalled false,
// and only then dequeues. This is the store-buffer (Dekker) pattern: producer "write queue;
// read flag", owner "write flag; read queue". With a full memory barrier on both
// sides, at least one side sees the other's write: either the owner's dequeue finds the message,
// or the producer finds the flag cleared and writes the eventfd, which wakes the owner again.
// So no message is left in the queue with nobody due to wake up for it.
//
// The fences are liburcu's cmm_smp_mb(), since the queue's own accesses follow liburcu's memory
// model rather than C11's (and GCC's ThreadSanitizer refuses atomic_thread_fence()).
//
// The dequeue is liburcu's non-blocking single-consumer variant: a producer that has swapped
// the queue tail but not yet linked its node makes it return CDS_WFCQ_WOULDBLOCK instead of
// spinning; that producer has not reached its flag exchange yet, so it will wake the owner.
#include "core/mbox.h"
#include "core/assert.h"
#include "core/tsan.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <urcu/arch.h>

#define MBOX_MAGIC 0x6d626f78u // "mbox"
#define MBOX_DEAD 0xdeadb0c5u

int core_mbox_init(struct core_mbox *mb)
{
    __cds_wfcq_init(&mb->_head, &mb->_tail);
    atomic_init(&mb->_signalled, false);
    mb->_magic = MBOX_DEAD;
    mb->_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (mb->_fd < 0)
        return -errno;
    mb->_magic = MBOX_MAGIC;
    return 0;
}

void core_mbox_fini(struct core_mbox *mb)
{
    if (mb->_fd >= 0)
        close(mb->_fd);
    mb->_fd = -1;
    mb->_magic = MBOX_DEAD;
}

int core_mbox_fd(const struct core_mbox *mb)
{
    return mb->_fd;
}

// wake makes the eventfd readable. The only possible failure is EAGAIN when the counter is
// about to overflow, and then it is readable already.
static void wake(struct core_mbox *mb)
{
    uint64_t one = 1;
    ssize_t w;
    do {
        w = write(mb->_fd, &one, sizeof(one));
    } while (w < 0 && errno == EINTR);
}

void core_mbox_post(struct core_mbox *mb, struct core_msg *msg)
{
    CORE_ASSERT(mb->_magic == MBOX_MAGIC);
    CORE_ASSERT(msg->fn != NULL);
    cds_wfcq_node_init(&msg->node);
    // liburcu is not instrumented, so ThreadSanitizer cannot see that a dequeue happens after
    // its enqueue; tell it, or every message field would be reported as a race.
    CORE_TSAN_RELEASE(msg);
    cds_wfcq_enqueue(&mb->_head, &mb->_tail, &msg->node);
    cmm_smp_mb(); // pairs with the one in clear_signal()
    if (!atomic_exchange_explicit(&mb->_signalled, true, memory_order_seq_cst))
        wake(mb);
}

// clear_signal consumes the eventfd's count and re-arms the wake-up flag.
static void clear_signal(struct core_mbox *mb)
{
    uint64_t count;
    ssize_t r;
    do {
        r = read(mb->_fd, &count, sizeof(count));
    } while (r < 0 && errno == EINTR);
    atomic_store_explicit(&mb->_signalled, false, memory_order_seq_cst);
    cmm_smp_mb(); // pairs with the one in core_mbox_post()
}

size_t core_mbox_drain(struct core_mbox *mb, size_t max)
{
    CORE_ASSERT(mb->_magic == MBOX_MAGIC);
    clear_signal(mb);
    size_t ran = 0;
    while (ran < max) {
        struct cds_wfcq_node *node = __cds_wfcq_dequeue_nonblocking(&mb->_head, &mb->_tail);
        if (node == NULL || node == CDS_WFCQ_WOULDBLOCK)
            return ran; // empty, or a post in flight that will wake us itself
        struct core_msg *msg = caa_container_of(node, struct core_msg, node);
        CORE_TSAN_ACQUIRE(msg);
        ran++;
        msg->fn(msg); // msg belongs to fn from here on
    }
    // Stopped at max: make sure an edge-triggered epoll reports the mailbox again.
    if (!cds_wfcq_empty(&mb->_head, &mb->_tail) &&
        !atomic_exchange_explicit(&mb->_signalled, true, memory_order_seq_cst))
        wake(mb);
    return ran;
}
