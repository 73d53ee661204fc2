// SPDX-License-Identifier: Apache-2.0
// tls/keyless_inflight.h: the keyless requests in flight on one signer connection: found by id
// when a reply comes (the signer answers in any order), kept in the order they were sent, and
// split after the connection breaks into the requests to send once more on a new connection and
// those that already had their one retry.
//
// Pure bookkeeping: no I/O, no clock, no allocation. The table links the operations through their
// backend fields (tls_keyop id, next, older, newer, retried) and owns none of them. One thread
// uses a table (the pool thread that owns the connection); no RCU context is needed.
#ifndef TLSEDGE_TLS_KEYLESS_INFLIGHT_H
#define TLSEDGE_TLS_KEYLESS_INFLIGHT_H

#include <stddef.h>
#include <stdint.h>

struct tls_keyop;

#define TLS_KEYLESS_INFLIGHT_BUCKETS 1024

// struct tls_keyless_inflight: zero-initialised storage is an empty table.
struct tls_keyless_inflight {
    struct tls_keyop *bucket[TLS_KEYLESS_INFLIGHT_BUCKETS]; // chained through op->next
    struct tls_keyop *oldest, *newest; // send order, linked through op->newer / op->older
    size_t count;
};

// tls_keyless_inflight_put appends op (its id already set, unique in fl) as the newest request.
// The table borrows op until it is taken out again.
void tls_keyless_inflight_put(struct tls_keyless_inflight *fl, struct tls_keyop *op);

// tls_keyless_inflight_take removes and returns the request whose id is id, or NULL when none is
// in flight under that id (it timed out earlier, or the signer made the id up).
struct tls_keyop *tls_keyless_inflight_take(struct tls_keyless_inflight *fl, uint32_t id);

// tls_keyless_inflight_pop removes and returns the oldest request, or NULL when fl is empty.
struct tls_keyop *tls_keyless_inflight_pop(struct tls_keyless_inflight *fl);

// tls_keyless_inflight_retry_split is called when fl's connection broke before these requests
// were answered. Each request may be sent once more: those already retried (op->retried) are
// removed and returned, oldest first, linked through op->next (NULL when there are none); the
// others are marked retried and stay in fl in their send order, to be sent again.
struct tls_keyop *tls_keyless_inflight_retry_split(struct tls_keyless_inflight *fl);

#endif
