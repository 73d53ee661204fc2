// SPDX-License-Identifier: Apache-2.0
// core/stats.c: per-thread counter blocks (see core/stats.h).
//
// Blocks live until the process exits: a thread that ends leaves its counts behind, which is
// what a cumulative counter wants, and readers never race with a free.
#include "core/stats.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct block {
    _Atomic int64_t v[CORE_STATS_MAX];
    struct block *_Atomic next;
};

static char *names[CORE_STATS_MAX];
static bool gauges[CORE_STATS_MAX];
static atomic_int nnames;
static struct block shared_block;
static struct block *_Atomic blocks = &shared_block;
static pthread_mutex_t attach_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread struct block *mine;

int core_stat_find(const char *name)
{
    int n = atomic_load(&nnames);
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -ENOENT;
}

int core_stat_register(const char *name)
{
    int id = core_stat_find(name);
    if (id >= 0)
        return id;
    int n = atomic_load(&nnames);
    if (n >= CORE_STATS_MAX)
        return -ENOSPC;
    names[n] = strdup(name);
    if (!names[n])
        return -ENOMEM;
    atomic_store(&nnames, n + 1);
    return n;
}

int core_stat_register_gauge(const char *name)
{
    int id = core_stat_register(name);
    if (id >= 0)
        gauges[id] = true;
    return id;
}

bool core_stat_is_gauge(int id)
{
    return id >= 0 && id < atomic_load(&nnames) && gauges[id];
}

void core_stats_thread_attach(void)
{
    if (mine)
        return;
    struct block *b = calloc(1, sizeof(*b));
    if (!b)
        return; // counting falls back to the shared block
    pthread_mutex_lock(&attach_lock);
    atomic_store(&b->next, atomic_load(&blocks));
    atomic_store(&blocks, b);
    pthread_mutex_unlock(&attach_lock);
    mine = b;
}

void core_stat_add(int id, int64_t v)
{
    if (id < 0 || id >= CORE_STATS_MAX)
        return;
    if (mine) {
        // Single writer: a relaxed load and store, no locked instruction.
        int64_t cur = atomic_load_explicit(&mine->v[id], memory_order_relaxed);
        atomic_store_explicit(&mine->v[id], cur + v, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&shared_block.v[id], v, memory_order_relaxed);
    }
}

int64_t core_stat_sum(int id)
{
    if (id < 0 || id >= CORE_STATS_MAX)
        return 0;
    int64_t sum = 0;
    for (struct block *b = atomic_load(&blocks); b; b = atomic_load(&b->next))
        sum += atomic_load_explicit(&b->v[id], memory_order_relaxed);
    return sum;
}

int core_stat_count(void)
{
    return atomic_load(&nnames);
}

const char *core_stat_name(int id)
{
    if (id < 0 || id >= atomic_load(&nnames))
        return NULL;
    return names[id];
}
