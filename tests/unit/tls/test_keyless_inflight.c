// SPDX-License-Identifier: Apache-2.0
// Unit tests for tls/keyless_inflight.c: replies found by id in any order, send order kept
// across takes, ids that collide in one bucket, and the retry split after a broken connection
// (each request resent at most once, in order, the others handed back oldest first).
#include "tls/keyless_inflight.h"
#include "tls/keyop.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

TestSuite(tls_keyless_inflight);

static struct tls_keyless_inflight *fl;
static struct tls_keyop ops[8];

static void setup(void)
{
    fl = calloc(1, sizeof(*fl));
    cr_assert_not_null(fl);
    memset(ops, 0, sizeof(ops));
}

static void teardown(void)
{
    free(fl);
}

// put_ids puts ops[0..n) in flight under ids[0..n), in that order.
static void put_ids(const uint32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ops[i].id = ids[i];
        tls_keyless_inflight_put(fl, &ops[i]);
    }
}

// order_is checks that fl's send order, oldest first, is ops[want[0]], ops[want[1]], ...
static void order_is(const int *want, size_t n)
{
    size_t i = 0;
    for (struct tls_keyop *op = fl->oldest; op; op = op->newer, i++) {
        cr_assert_lt(i, n, "more requests in flight than expected");
        cr_assert_eq(op, &ops[want[i]], "position %zu holds id %u", i, op->id);
    }
    cr_assert_eq(i, n);
    cr_assert_eq(fl->count, n);
}

Test(tls_keyless_inflight, replies_in_any_order_find_their_request, .init = setup, .fini = teardown)
{
    put_ids((uint32_t[]){1, 2, 3, 4}, 4);
    cr_assert_eq(tls_keyless_inflight_take(fl, 3), &ops[2]);
    cr_assert_eq(tls_keyless_inflight_take(fl, 1), &ops[0]);
    order_is((int[]){1, 3}, 2);
    cr_assert_null(tls_keyless_inflight_take(fl, 3), "a second reply to one id finds nothing");
    cr_assert_null(tls_keyless_inflight_take(fl, 99), "an unknown id finds nothing");
    cr_assert_eq(tls_keyless_inflight_take(fl, 4), &ops[3]);
    cr_assert_eq(tls_keyless_inflight_take(fl, 2), &ops[1]);
    cr_assert_eq(fl->count, 0);
    cr_assert_null(fl->oldest);
    cr_assert_null(fl->newest);
}

Test(tls_keyless_inflight, ids_sharing_a_bucket_stay_apart, .init = setup, .fini = teardown)
{
    uint32_t b = TLS_KEYLESS_INFLIGHT_BUCKETS;
    put_ids((uint32_t[]){7, 7 + b, 7 + 2 * b}, 3);
    cr_assert_eq(tls_keyless_inflight_take(fl, 7 + b), &ops[1]);
    cr_assert_eq(tls_keyless_inflight_take(fl, 7 + 2 * b), &ops[2]);
    cr_assert_eq(tls_keyless_inflight_take(fl, 7), &ops[0]);
    cr_assert_eq(fl->count, 0);
}

Test(tls_keyless_inflight, pop_returns_oldest_first_even_across_id_wrap, .init = setup,
     .fini = teardown)
{
    // The ids wrap (0 is never used): send order, not id order, decides.
    put_ids((uint32_t[]){UINT32_MAX - 1, UINT32_MAX, 1, 2}, 4);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(tls_keyless_inflight_pop(fl), &ops[i]);
    cr_assert_null(tls_keyless_inflight_pop(fl));
}

Test(tls_keyless_inflight, first_break_resends_everything_in_order, .init = setup, .fini = teardown)
{
    put_ids((uint32_t[]){10, 11, 12}, 3);
    cr_assert_eq(tls_keyless_inflight_take(fl, 11), &ops[1]); // answered before the break
    cr_assert_null(tls_keyless_inflight_retry_split(fl));
    order_is((int[]){0, 2}, 2);
    cr_assert(ops[0].retried);
    cr_assert(ops[2].retried);
    cr_assert_not(ops[1].retried, "an answered request is not touched");
}

Test(tls_keyless_inflight, second_break_fails_the_resent_and_keeps_the_new, .init = setup,
     .fini = teardown)
{
    put_ids((uint32_t[]){20, 21}, 2);
    cr_assert_null(tls_keyless_inflight_retry_split(fl)); // 20 and 21 resent
    ops[2].id = 22;                                       // queued on the new connection
    tls_keyless_inflight_put(fl, &ops[2]);
    ops[3].id = 23;
    tls_keyless_inflight_put(fl, &ops[3]);
    cr_assert_eq(tls_keyless_inflight_take(fl, 22), &ops[2]);

    struct tls_keyop *failed = tls_keyless_inflight_retry_split(fl);
    cr_assert_eq(failed, &ops[0], "the oldest resent request fails first");
    cr_assert_eq(failed->next, &ops[1]);
    cr_assert_null(failed->next->next);
    order_is((int[]){3}, 1);
    cr_assert(ops[3].retried);
    cr_assert_null(tls_keyless_inflight_take(fl, 20), "a failed request is out of the table");

    failed = tls_keyless_inflight_retry_split(fl); // a third break: 23 had its retry
    cr_assert_eq(failed, &ops[3]);
    cr_assert_null(failed->next);
    cr_assert_eq(fl->count, 0);
    cr_assert_null(tls_keyless_inflight_retry_split(fl), "an empty table splits into nothing");
}
