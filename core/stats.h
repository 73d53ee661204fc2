// SPDX-License-Identifier: Apache-2.0
// core/stats.h: process counters, kept per thread and summed when read.
//
// Counters are registered by name on the main thread before the workers start; each thread that
// counts attaches once and then increments its own block without atomics of the locked kind (one
// writer per block), so counting costs a load and a store on the hot path. Readers (the stats
// endpoint, tests) sum every block with relaxed loads: a sum may miss increments in flight, never
// tear a value. Values are signed so that gauges (current connections) can go down.
#ifndef TLSEDGE_CORE_STATS_H
#define TLSEDGE_CORE_STATS_H

#include <stdbool.h>
#include <stdint.h>

#define CORE_STATS_MAX 256

// core_stat_register returns the id of the counter called name (ATS-style, e.g.
// "proxy.process.ssl.total_attempts_handshake_count_in"), registering it if new. Returns -ENOSPC
// when CORE_STATS_MAX counters exist. Main thread, before any thread attaches. name is copied.
int core_stat_register(const char *name);

// core_stat_register_gauge registers name as core_stat_register does, as a gauge: a value that
// goes up and down (current connections), which the Prometheus output types as `gauge` rather
// than `counter`. Returns the id, or -ENOSPC / -ENOMEM. Main thread, before any thread attaches.
int core_stat_register_gauge(const char *name);

// core_stat_is_gauge returns true when counter id was registered with core_stat_register_gauge.
bool core_stat_is_gauge(int id);

// core_stats_thread_attach gives the calling thread its own block of counters. Idempotent.
// Threads that never attach count into a shared block with atomic adds.
void core_stats_thread_attach(void);

// core_stat_add adds v (may be negative) to counter id from any thread. An id < 0 is ignored,
// so a failed registration never crashes the caller.
void core_stat_add(int id, int64_t v);

// core_stat_inc adds 1 to counter id.
static inline void core_stat_inc(int id)
{
    core_stat_add(id, 1);
}

// core_stat_sum returns the sum of counter id over every thread. Any thread.
int64_t core_stat_sum(int id);

// core_stat_count returns the number of registered counters; ids run from 0 to count - 1.
int core_stat_count(void);

// core_stat_name returns the name of counter id (owned by the registry), or NULL.
const char *core_stat_name(int id);

// core_stat_find returns the id of name, or -ENOENT.
int core_stat_find(const char *name);

#endif
