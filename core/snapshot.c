// SPDX-License-Identifier: Apache-2.0
// core/snapshot.c: snapshot container, publication and deferred free (see core/snapshot.h).
#include "core/snapshot.h"
#include "core/records.h"
#include "core/tsan.h"

#include <stdlib.h>
#include <urcu-qsbr.h>

struct core_snapshot {
    struct rcu_head rcu;
    uint64_t generation;
    struct core_records *records;
    void *part[CORE_SNAP_NPARTS];
    core_snap_free_fn part_free[CORE_SNAP_NPARTS];
};

static struct core_snapshot *current;
static uint64_t last_generation;

#ifdef CORE_TSAN
char core_tsan_grace;
#endif

struct core_snapshot *core_snapshot_new(struct core_records *records)
{
    struct core_snapshot *s = calloc(1, sizeof(*s));
    if (!s) {
        core_records_free(records);
        return NULL;
    }
    s->records = records;
    return s;
}

void core_snapshot_set_part(struct core_snapshot *s, enum core_snap_part which, void *part,
                            core_snap_free_fn free_fn)
{
    if (s->part[which] && s->part_free[which])
        s->part_free[which](s->part[which]);
    s->part[which] = part;
    s->part_free[which] = free_fn;
}

void *core_snapshot_part(const struct core_snapshot *s, enum core_snap_part which)
{
    return s ? s->part[which] : NULL;
}

const struct core_records *core_snapshot_records(const struct core_snapshot *s)
{
    return s ? s->records : NULL;
}

uint64_t core_snapshot_generation(const struct core_snapshot *s)
{
    return s->generation;
}

void core_snapshot_free(struct core_snapshot *s)
{
    if (!s)
        return;
    for (int i = 0; i < CORE_SNAP_NPARTS; i++)
        if (s->part[i] && s->part_free[i])
            s->part_free[i](s->part[i]);
    core_records_free(s->records);
    free(s);
}

// Runs on liburcu's call_rcu helper thread once no reader can still see the snapshot.
static void free_after_grace(struct rcu_head *head)
{
    CORE_TSAN_GRACE_OVER();
    core_snapshot_free(caa_container_of(head, struct core_snapshot, rcu));
}

uint64_t core_snapshot_publish(struct core_snapshot *s)
{
    s->generation = ++last_generation;
    // For TSan: building s happens before any reader's core_snapshot_get() that sees it, and the
    // publisher's own use of the old snapshot happens before the old one is freed.
    CORE_TSAN_RELEASE(&current);
    struct core_snapshot *old = rcu_xchg_pointer(&current, s);
    CORE_TSAN_QUIESCENT();
    if (old)
        call_rcu(&old->rcu, free_after_grace);
    return s->generation;
}

struct core_snapshot *core_snapshot_get(void)
{
    struct core_snapshot *s = rcu_dereference(current);
    CORE_TSAN_ACQUIRE(&current);
    return s;
}

void core_snapshot_shutdown(void)
{
    struct core_snapshot *old = rcu_xchg_pointer(&current, NULL);
    synchronize_rcu();
    rcu_barrier();
    core_snapshot_free(old);
}
