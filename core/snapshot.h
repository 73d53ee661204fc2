// SPDX-License-Identifier: Apache-2.0
// core/snapshot.h: the immutable configuration snapshot and its RCU life cycle.
//
// Everything a connection reads from configuration (certificate table, remap rules, ip_allow,
// settings) hangs off one snapshot. core/ owns the container and its publication; each part is
// built and freed by the module that defines it, and core/main.c assembles them. The main thread
// alone builds and publishes (rcu_xchg_pointer); the previous snapshot is freed by call_rcu once
// every registered reader has passed a quiescent state (liburcu QSBR). Published snapshots never
// change. Readers call core_snapshot_get() inside one callback and never keep the pointer across
// loop iterations; what must outlive that (an SSL_CTX) is referenced separately.
#ifndef TLSEDGE_CORE_SNAPSHOT_H
#define TLSEDGE_CORE_SNAPSHOT_H

#include <stdint.h>

struct core_records;

// The parts a snapshot may hold; each is opaque to core/.
enum core_snap_part {
    CORE_SNAP_TLS,  // tls/: certificate table and TLS settings
    CORE_SNAP_HTTP, // net/: remap, ip_allow, HTTP settings
    CORE_SNAP_BRIDGE, // bridge/: the tls_bridge destination table (may be absent)
    CORE_SNAP_NPARTS,
};

typedef void (*core_snap_free_fn)(void *part);

struct core_snapshot;

// core_snapshot_new returns an empty snapshot that takes ownership of records (may be NULL), or
// NULL when out of memory (records is then freed). Main thread.
struct core_snapshot *core_snapshot_new(struct core_records *records);

// core_snapshot_set_part stores part (owned by the snapshot from now on, freed with free_fn) in
// slot which, freeing what was there. Only before publication. Main thread.
void core_snapshot_set_part(struct core_snapshot *s, enum core_snap_part which, void *part,
                            core_snap_free_fn free_fn);

// core_snapshot_part returns part which of s (lent; valid as long as s is), or NULL.
void *core_snapshot_part(const struct core_snapshot *s, enum core_snap_part which);

// core_snapshot_records returns the settings s was built from (lent), or NULL.
const struct core_records *core_snapshot_records(const struct core_snapshot *s);

// core_snapshot_generation returns s's generation: 1 for the first published snapshot, +1 per
// publication; 0 before publication.
uint64_t core_snapshot_generation(const struct core_snapshot *s);

// core_snapshot_free frees s and its parts now. For snapshots that were never published (a failed
// build) and at teardown; NULL does nothing. Main thread.
void core_snapshot_free(struct core_snapshot *s);

// core_snapshot_publish makes s current (takes ownership) and schedules the previous one for
// freeing after a grace period (call_rcu). The caller must be a registered RCU thread. Returns
// the new generation number. Main thread only.
uint64_t core_snapshot_publish(struct core_snapshot *s);

// core_snapshot_get returns the current snapshot, or NULL before the first publication. The
// caller is a registered RCU reader, online; the pointer is valid until its next quiescent state.
struct core_snapshot *core_snapshot_get(void);

// core_snapshot_shutdown unpublishes the current snapshot, waits for readers and pending frees
// (synchronize_rcu + rcu_barrier), and frees it. Main thread, after the workers stopped.
void core_snapshot_shutdown(void);

#endif
