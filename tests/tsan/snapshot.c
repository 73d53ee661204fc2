// SPDX-License-Identifier: Apache-2.0
// tests/tsan/snapshot.c: core/snapshot publication and deferred free under readers. Two real
// workers (core/worker: epoll loop, one quiescent state per iteration) keep reading the current
// snapshot from a message that re-posts itself, checking the part it holds, while the main
// thread publishes 400 new snapshots; each old one is freed by call_rcu on liburcu's thread.
// TSan checks that building a snapshot happens before a reader sees it and that readers are done
// with it before its free (core/tsan.h models liburcu's ordering); the program checks every read
// was consistent and every snapshot was freed exactly once.
#include "core/snapshot.h"
#include "core/worker.h"
#include "tests/tsan/tsan.h"

#include <stdatomic.h>
#include <urcu-qsbr.h>
#include <urcu/compiler.h>

#define WORKERS 2
#define PUBLICATIONS 400
#define FIELDS 32

// struct part: what a snapshot carries; every field is derived from gen, so a torn or stale
// read shows.
struct part {
    uint64_t gen;
    uint64_t field[FIELDS];
};

struct reader {
    struct core_msg msg;
    struct core_worker *w;
    atomic_long reads;
    uint64_t last_gen;
};

static atomic_int stop_reading;
static atomic_int stopped_readers;
static atomic_long parts_freed;
static struct reader readers[WORKERS];

static void part_free(void *p)
{
    struct part *part = p;
    TSAN_CHECK(part->field[FIELDS - 1] == part->gen * FIELDS + FIELDS - 1);
    part->gen = 0; // a write: a reader still using it would race with this
    free(part);
    atomic_fetch_add(&parts_freed, 1);
}

static void on_read(struct core_msg *m)
{
    struct reader *r = caa_container_of(m, struct reader, msg);
    struct core_snapshot *s = core_snapshot_get();
    TSAN_CHECK(s != NULL);
    struct part *part = core_snapshot_part(s, CORE_SNAP_HTTP);
    TSAN_CHECK(part != NULL && part->gen == core_snapshot_generation(s));
    for (int i = 0; i < FIELDS; i++)
        TSAN_CHECK(part->field[i] == part->gen * FIELDS + (uint64_t)i);
    TSAN_CHECK(part->gen >= r->last_gen); // generations never go back for one reader
    r->last_gen = part->gen;
    atomic_fetch_add(&r->reads, 1);
    if (atomic_load(&stop_reading)) {
        atomic_fetch_add(&stopped_readers, 1);
        return;
    }
    core_worker_post(r->w, &r->msg); // read again on a later loop iteration
}

// publish builds and publishes the snapshot of the next generation; returns it.
static uint64_t publish(uint64_t gen)
{
    struct core_snapshot *s = core_snapshot_new(NULL);
    struct part *part = malloc(sizeof(*part));
    TSAN_CHECK(s != NULL && part != NULL);
    part->gen = gen;
    for (int i = 0; i < FIELDS; i++)
        part->field[i] = gen * FIELDS + (uint64_t)i;
    core_snapshot_set_part(s, CORE_SNAP_HTTP, part, part_free);
    return core_snapshot_publish(s);
}

int main(void)
{
    rcu_register_thread();
    uint64_t gen = publish(1);
    TSAN_CHECK(gen == 1);
    struct core_workers *ws = core_workers_new(WORKERS, false, "t");
    TSAN_CHECK(ws != NULL && core_workers_start(ws, NULL, NULL, NULL) == 0);
    for (int i = 0; i < WORKERS; i++) {
        readers[i].w = core_workers_get(ws, i);
        readers[i].msg.fn = on_read;
        core_worker_post(readers[i].w, &readers[i].msg);
    }
    for (int i = 0; i < PUBLICATIONS; i++) {
        TSAN_CHECK(publish(gen + 1) == gen + 1);
        gen++;
        rcu_thread_offline();
        if (i % 8 == 0)
            tsan_sleep_ms(1);
        rcu_thread_online();
    }
    atomic_store(&stop_reading, 1);
    uint64_t deadline = tsan_now_ms() + 30000;
    while (atomic_load(&stopped_readers) < WORKERS && tsan_now_ms() < deadline)
        tsan_sleep_ms(5);
    TSAN_CHECK(atomic_load(&stopped_readers) == WORKERS);
    core_workers_stop(ws, 1000);
    rcu_thread_offline();
    core_workers_join(ws);
    rcu_thread_online();
    core_workers_free(ws);
    core_snapshot_shutdown();
    TSAN_CHECK(atomic_load(&parts_freed) == PUBLICATIONS + 1);
    long reads = atomic_load(&readers[0].reads) + atomic_load(&readers[1].reads);
    TSAN_CHECK(atomic_load(&readers[0].reads) > 0 && atomic_load(&readers[1].reads) > 0);
    rcu_unregister_thread();
    printf("snapshot: ok (%d publications, %ld reads by %d workers, every snapshot freed once)\n",
           PUBLICATIONS, reads, WORKERS);
    return 0;
}
