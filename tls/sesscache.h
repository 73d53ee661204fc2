// SPDX-License-Identifier: Apache-2.0
// tls/sesscache.h: tlsedge's TLS 1.2 session-ID cache (proxy.config.ssl.session_cache 2),
// shared by every worker and every SSL_CTX of every configuration generation.
//
// Sessions are stored serialised (SSL_SESSION_to_bytes) under their session ID, in shards chosen
// by the ID; each shard has its own mutex, hash chains and LRU list, so there is no global lock
// and a shard is held only for a hash probe and a copy. A full shard evicts its least recently
// used entry; an entry older than the timeout is a miss (and removed). IDs are chosen by the
// server (random), so stored chains cannot be steered by a client; a client only chooses what it
// looks up.
//
// The cache object is thread-safe: any thread may call put/get/remove. The process cache
// (tls_sesscache_process) is made once on the main thread and lives until exit; SSL_CTXs reach
// it through the callbacks tls_sesscache_attach installs. Session bytes hold the master secret:
// they are never logged, and wiped when an entry is dropped.
#ifndef TLSEDGE_TLS_SESSCACHE_H
#define TLSEDGE_TLS_SESSCACHE_H

#include <openssl/base.h>

#include <stddef.h>
#include <stdint.h>

#define TLS_SESSCACHE_ID_MAX 32 // SSL_MAX_SSL_SESSION_ID_LENGTH

struct tls_sesscache;

// struct tls_sesscache_stats: running totals of one cache.
struct tls_sesscache_stats {
    uint64_t hits, misses, evictions, new_sessions, entries;
};

// tls_sesscache_new returns an empty cache holding at most size (>= 1) sessions over nshards
// (1..1024, rounded down to a power of two) shards, each entry valid for timeout_s seconds
// (>= 1). Returns NULL when out of memory or an argument is out of range. Any thread.
struct tls_sesscache *tls_sesscache_new(size_t size, unsigned nshards, uint32_t timeout_s);

// tls_sesscache_configure changes size and timeout_s of c for entries stored from now on (a
// shard above its new share shrinks as entries are added). Any thread.
void tls_sesscache_configure(struct tls_sesscache *c, size_t size, uint32_t timeout_s);

// tls_sesscache_put stores len bytes of data (copied) under id (id_len 1..TLS_SESSCACHE_ID_MAX)
// at time now (seconds, any monotonic clock), replacing an entry with the same id and evicting
// the shard's least recently used entry when it is full. Returns 0, -EINVAL for a bad id or
// empty data, -ENOMEM. Any thread.
int tls_sesscache_put(struct tls_sesscache *c, const uint8_t *id, size_t id_len,
                      const uint8_t *data, size_t len, uint64_t now);

// tls_sesscache_get copies the session stored under id, valid at time now, into a new buffer
// *out of *out_len bytes (the caller wipes and frees it) and returns 0; -ENOENT when there is
// none or it expired (then removed); -ENOMEM. Any thread.
int tls_sesscache_get(struct tls_sesscache *c, const uint8_t *id, size_t id_len, uint8_t **out,
                      size_t *out_len, uint64_t now);

// tls_sesscache_remove drops the entry stored under id, if any. Any thread.
void tls_sesscache_remove(struct tls_sesscache *c, const uint8_t *id, size_t id_len);

// tls_sesscache_stats fills *s with c's totals, taking each shard's lock in turn. Any thread.
void tls_sesscache_stats(const struct tls_sesscache *c, struct tls_sesscache_stats *s);

// tls_sesscache_free wipes and frees every entry and c. NULL is a no-op. No other thread may
// use c any more.
void tls_sesscache_free(struct tls_sesscache *c);

// tls_sesscache_process returns the process cache, making it with size and timeout_s on the
// first call and reconfiguring it on later ones (tls_sesscache_configure); NULL when out of
// memory. Main thread.
struct tls_sesscache *tls_sesscache_process(size_t size, uint32_t timeout_s);

// tls_sesscache_process_get0 returns the process cache (lent; lives until exit), or NULL when
// none was made. Any thread.
struct tls_sesscache *tls_sesscache_process_get0(void);

// tls_sesscache_attach makes ctx keep TLS 1.2 server sessions in the process cache (BoringSSL's
// internal cache off; new, looked-up, hit, missed and evicted sessions counted in
// proxy.process.ssl.ssl_session_cache_*). Call tls_sesscache_process first. Returns 0, or
// -EINVAL when there is no process cache. Main thread, before ctx is shared.
int tls_sesscache_attach(SSL_CTX *ctx);

// tls_sesscache_stats_register registers the session cache counters. Main thread, before
// workers start.
void tls_sesscache_stats_register(void);

// tls_sesscache_process_free frees the process cache. Main thread, after the workers stopped.
void tls_sesscache_process_free(void);

#endif
