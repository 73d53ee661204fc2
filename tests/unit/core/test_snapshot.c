// SPDX-License-Identifier: Apache-2.0
// Unit tests for core/snapshot.c: publication with rcu_xchg_pointer and deferred free with
// call_rcu, while reader threads dereference the current snapshot concurrently.
#include "core/records.h"
#include "core/snapshot.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <urcu-qsbr.h>

#define PART_MAGIC 0x5a5a1234u

struct part {
    unsigned magic;
    uint64_t value;
    unsigned char payload[256];
};

static atomic_int freed;
static atomic_bool stop;
static atomic_long reads;
static atomic_int bad_reads;

static void part_free(void *p)
{
    struct part *x = p;
    // Poison before freeing: a reader that still saw this part would notice.
    x->magic = 0xdeadbeef;
    memset(x->payload, 0xee, sizeof(x->payload));
    free(x);
    atomic_fetch_add(&freed, 1);
}

static struct core_snapshot *make(uint64_t value)
{
    struct core_snapshot *s = core_snapshot_new(NULL);
    struct part *p = calloc(1, sizeof(*p));
    cr_assert(s && p);
    p->magic = PART_MAGIC;
    p->value = value;
    memset(p->payload, (int)(value & 0xff), sizeof(p->payload));
    core_snapshot_set_part(s, CORE_SNAP_TLS, p, part_free);
    return s;
}

static void *reader(void *arg)
{
    rcu_register_thread();
    uint64_t last = 0;
    while (!atomic_load(&stop)) {
        struct core_snapshot *s = core_snapshot_get();
        if (s) {
            const struct part *p = core_snapshot_part(s, CORE_SNAP_TLS);
            unsigned char want = (unsigned char)(p->value & 0xff);
            if (p->magic != PART_MAGIC || p->payload[0] != want || p->payload[255] != want ||
                core_snapshot_generation(s) < last)
                atomic_fetch_add(&bad_reads, 1);
            last = core_snapshot_generation(s);
            atomic_fetch_add(&reads, 1);
        }
        rcu_quiescent_state();
    }
    rcu_unregister_thread();
    return NULL;
}

Test(core_snapshot, publish_and_free_under_concurrent_readers, .timeout = 30)
{
    enum { READERS = 3, PUBLICATIONS = 2000 };
    pthread_t t[READERS];
    rcu_register_thread();
    core_snapshot_publish(make(1));
    for (int i = 0; i < READERS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, reader, NULL), 0);
    // Publish only once the readers run, so the test always races them (on a busy machine the
    // threads may start late).
    rcu_thread_offline();
    while (atomic_load(&reads) < 100)
        sched_yield();
    rcu_thread_online();
    for (uint64_t v = 2; v <= PUBLICATIONS; v++) {
        uint64_t gen = core_snapshot_publish(make(v));
        cr_assert_eq(gen, v);
        if (v % 100 == 0)
            rcu_quiescent_state();
    }
    atomic_store(&stop, true);
    for (int i = 0; i < READERS; i++)
        pthread_join(t[i], NULL);
    rcu_barrier();
    cr_expect_eq(atomic_load(&bad_reads), 0, "a reader saw a freed or torn snapshot");
    cr_expect_gt(atomic_load(&reads), 0);
    cr_expect_eq(atomic_load(&freed), PUBLICATIONS - 1, "every replaced snapshot is freed");
    core_snapshot_shutdown();
    cr_expect_eq(atomic_load(&freed), PUBLICATIONS, "shutdown frees the last one");
    cr_expect_null(core_snapshot_get());
    rcu_unregister_thread();
}

Test(core_snapshot, unpublished_snapshot_frees_its_parts_and_records)
{
    struct core_records *rec = core_records_new();
    cr_assert(rec);
    cr_assert_eq(core_records_declare(rec, "proxy.config.x", CORE_REC_INT, "3"), 0);
    struct core_snapshot *s = core_snapshot_new(rec);
    cr_assert_eq(core_snapshot_records(s), rec);
    core_snapshot_set_part(s, CORE_SNAP_HTTP, calloc(1, sizeof(struct part)), part_free);
    core_snapshot_set_part(s, CORE_SNAP_HTTP, calloc(1, sizeof(struct part)), part_free);
    cr_expect_eq(atomic_load(&freed), 1, "replacing a part frees the old one");
    cr_expect_eq(core_snapshot_generation(s), 0);
    core_snapshot_free(s);
    cr_expect_eq(atomic_load(&freed), 2);
    core_snapshot_free(NULL);
}
