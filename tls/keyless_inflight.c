// SPDX-License-Identifier: Apache-2.0
// tls/keyless_inflight.c: the table of keyless requests in flight on one signer connection (see
// tls/keyless_inflight.h): an id hash for replies beside a send-order list for retries.
#include "tls/keyless_inflight.h"
#include "tls/keyop.h"

#include <stdbool.h>

void tls_keyless_inflight_put(struct tls_keyless_inflight *fl, struct tls_keyop *op)
{
    struct tls_keyop **b = &fl->bucket[op->id % TLS_KEYLESS_INFLIGHT_BUCKETS];
    op->next = *b;
    *b = op;
    op->older = fl->newest;
    op->newer = NULL;
    if (fl->newest)
        fl->newest->newer = op;
    else
        fl->oldest = op;
    fl->newest = op;
    fl->count++;
}

// Unlinks op, found in its bucket at *link, from both the bucket and the send order.
static void unlink_op(struct tls_keyless_inflight *fl, struct tls_keyop **link,
                      struct tls_keyop *op)
{
    *link = op->next;
    if (op->older)
        op->older->newer = op->newer;
    else
        fl->oldest = op->newer;
    if (op->newer)
        op->newer->older = op->older;
    else
        fl->newest = op->older;
    op->next = op->older = op->newer = NULL;
    fl->count--;
}

struct tls_keyop *tls_keyless_inflight_take(struct tls_keyless_inflight *fl, uint32_t id)
{
    for (struct tls_keyop **p = &fl->bucket[id % TLS_KEYLESS_INFLIGHT_BUCKETS]; *p;
         p = &(*p)->next) {
        if ((*p)->id == id) {
            struct tls_keyop *op = *p;
            unlink_op(fl, p, op);
            return op;
        }
    }
    return NULL;
}

struct tls_keyop *tls_keyless_inflight_pop(struct tls_keyless_inflight *fl)
{
    return fl->oldest ? tls_keyless_inflight_take(fl, fl->oldest->id) : NULL;
}

struct tls_keyop *tls_keyless_inflight_retry_split(struct tls_keyless_inflight *fl)
{
    struct tls_keyop *head = NULL, **tail = &head;
    struct tls_keyop *op = fl->oldest;
    while (op) {
        struct tls_keyop *newer = op->newer;
        if (op->retried) {
            // take() leaves op->next NULL, so the returned list stays terminated.
            *tail = tls_keyless_inflight_take(fl, op->id);
            tail = &(*tail)->next;
        } else {
            op->retried = true;
        }
        op = newer;
    }
    return head;
}
