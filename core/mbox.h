// SPDX-License-Identifier: Apache-2.0
// core/mbox.h: a worker's mailbox: how any thread hands work to the thread that owns it.
//
// A mailbox is a multi-producer, single-consumer queue (liburcu's wait-free concurrent queue,
// urcu/wfcqueue.h) plus an eventfd that the owner watches in its epoll set. Any thread posts
// a message that is embedded in its own object; the owner drains the queue from its event loop
// and runs each message's function. Posting never blocks and never takes a lock. Wake-ups are
// coalesced: only the first post after the owner started draining writes the eventfd.
//
// Threads: core_mbox_post() from any thread; core_mbox_drain() only from the owner thread (the
// single consumer); init and fini from the owner while no other thread can post. A mailbox is
// shared between threads and carries a checked magic number. Posting takes no RCU read lock
// and needs no RCU registration.
//
// Ownership: the mailbox is caller storage (inside the worker). A message is owned by its
// sender until core_mbox_post(), by the mailbox while queued, and by the receiver's function
// once delivered: that function decides whether to free the object that embeds it.
#ifndef TLSEDGE_CORE_MBOX_H
#define TLSEDGE_CORE_MBOX_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <urcu/wfcqueue.h>

struct core_msg;

// core_msg_fn runs a delivered message on the owner thread; from then on it owns msg (and
// normally the object msg is embedded in, reached with caa_container_of()).
typedef void (*core_msg_fn)(struct core_msg *msg);

// struct core_msg: embedded in the sender's object. Set fn before posting; node belongs to
// the queue. One message can be queued only once at a time.
struct core_msg {
    struct cds_wfcq_node node;
    core_msg_fn fn;
};

// struct core_mbox: caller storage, normally inside the worker; fields belong to core/mbox.c.
struct core_mbox {
    uint32_t _magic;
    int _fd;                      // the eventfd; -1 when not initialised
    atomic_bool _signalled;       // the eventfd was (or is about to be) written since the owner
                                  // last cleared it
    struct __cds_wfcq_head _head; // lock-free head: the owner is the only dequeuer
    struct cds_wfcq_tail _tail;
};

// core_mbox_init makes mb an empty mailbox with a new eventfd (non-blocking, close-on-exec).
// Returns 0, or a negative errno from eventfd() (mb is then not usable; core_mbox_fini() on it
// is harmless). Owner thread, before any other thread knows mb.
int core_mbox_init(struct core_mbox *mb);

// core_mbox_fini closes mb's eventfd. Messages still queued are neither run nor freed: the
// owner stops every producer and drains first. Owner thread, once no thread can post.
void core_mbox_fini(struct core_mbox *mb);

// core_mbox_fd returns the eventfd to add to the owner's epoll set (EPOLLIN | EPOLLET); it
// becomes readable when a message may be waiting. mb keeps ownership. Any thread.
int core_mbox_fd(const struct core_mbox *mb);

// core_mbox_post queues msg for the owner of mb and wakes it if it may be asleep. msg->fn must
// be set; ownership of msg passes to the mailbox. Wait-free apart from the eventfd write(2),
// which happens at most once per drain. Never blocks, never fails. Any thread.
void core_mbox_post(struct core_mbox *mb, struct core_msg *msg);

// core_mbox_drain runs up to max queued messages in the order each producer posted them, and
// returns how many ran. It first clears the eventfd and the wake-up flag, so a post that
// races with it wakes the owner again. When messages are left after max it signals the eventfd
// itself, so an edge-triggered epoll reports the mailbox again on the next wait. A message whose
// post has not finished linking yet is left for that post's own wake-up. Owner thread only.
size_t core_mbox_drain(struct core_mbox *mb, size_t max);

#endif
