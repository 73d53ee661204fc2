// SPDX-License-Identifier: Apache-2.0
// tls/pool.h: the handshake pool: a few native threads that run the slow parts of handshakes
// for keys held by a remote signer (keyless), an HSM or a TPM, so a worker never blocks.
//
// Pool threads are a core_workers group of their own (epoll loop, timers, mailbox, RCU
// registration): a key operation reaches a pool thread as a mailbox message, runs there (a
// backend may keep many in flight on its connection, or block in a library call with the thread
// offline for RCU), and its result goes back to the owning worker's mailbox. The number of
// operations in flight is bounded (proxy.config.tlsedge.handshake_queue_max): beyond it new key
// operations fail at once instead of piling up.
#ifndef TLSEDGE_TLS_POOL_H
#define TLSEDGE_TLS_POOL_H

#include <stdbool.h>
#include <stddef.h>

struct core_msg;
struct core_worker;

// tls_pool_start starts nthreads pool threads with room for queue_max operations in flight.
// Returns 0 or a negative errno. Main thread, once, before the workers start.
int tls_pool_start(int nthreads, size_t queue_max);

// tls_pool_stop stops and joins the pool threads (after the workers stopped). Main thread.
void tls_pool_stop(void);

// tls_pool_threads returns the number of pool threads (0 before start).
int tls_pool_threads(void);

// tls_pool_reserve takes one of the queue_max slots. Returns true, or false when the pool is
// full or not running (the caller fails the operation). Any thread.
bool tls_pool_reserve(void);

// tls_pool_unreserve gives a slot back once the operation's result was consumed. Any thread.
void tls_pool_unreserve(void);

// tls_pool_post hands msg to the pool thread with the fewest messages posted and not yet run
// (ties take turns). msg->fn must call tls_pool_ran() once before it returns. Any thread.
void tls_pool_post(struct core_msg *msg);

// tls_pool_ran tells the pool that the calling pool thread finished one posted message: the
// thread counts as less loaded from now on. Pool thread, from the message's function.
void tls_pool_ran(void);

#endif
