// SPDX-License-Identifier: Apache-2.0
// tls/sesscache.c: the sharded TLS 1.2 session-ID cache and its BoringSSL callbacks (see
// tls/sesscache.h).
#include "tls/sesscache.h"
#include "core/stats.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/mem.h>
#include <openssl/ssl.h>

// struct entry: one stored session; owned by its shard.
struct entry {
    struct entry *hnext;        // hash chain
    struct entry *prev, *next;  // LRU list, most recent first
    uint64_t expires;           // seconds, on the caller's clock
    uint8_t id_len;
    uint8_t id[TLS_SESSCACHE_ID_MAX];
    size_t len;
    uint8_t data[];
};

// struct shard: one lock's worth of the cache. Aligned so two shards never share a cache line.
struct shard {
    pthread_mutex_t mu;
    struct entry **bucket; // nbuckets chains, allocated on the first put
    size_t nbuckets;       // a power of two
    struct entry *head, *tail;
    size_t n;
    uint64_t hits, misses, evictions, new_sessions;
} __attribute__((aligned(64)));

struct tls_sesscache {
    _Atomic size_t cap;        // entries per shard
    _Atomic uint32_t timeout;  // seconds
    unsigned nshards;          // a power of two
    struct shard shard[];
};

static struct {
    int hit, miss, eviction, new_session;
} st = {-1, -1, -1, -1};

static struct tls_sesscache *process_cache;

void tls_sesscache_stats_register(void)
{
    st.hit = core_stat_register("proxy.process.ssl.ssl_session_cache_hit");
    st.miss = core_stat_register("proxy.process.ssl.ssl_session_cache_miss");
    st.eviction = core_stat_register("proxy.process.ssl.ssl_session_cache_eviction");
    st.new_session = core_stat_register("proxy.process.ssl.ssl_session_cache_new_session");
}

// FNV-1a over the whole ID: lookups use client-chosen IDs, but chains only hold IDs the server
// generated at random, so a client cannot lengthen a chain.
static uint64_t hash_id(const uint8_t *id, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ id[i]) * 0x100000001b3ull;
    return h;
}

static size_t share(size_t size, unsigned nshards)
{
    size_t cap = size / nshards;
    return cap ? cap : 1;
}

struct tls_sesscache *tls_sesscache_new(size_t size, unsigned nshards, uint32_t timeout_s)
{
    if (size < 1 || nshards < 1 || nshards > 1024 || timeout_s < 1)
        return NULL;
    while (nshards & (nshards - 1))
        nshards &= nshards - 1; // round down to a power of two
    struct tls_sesscache *c = aligned_alloc(64, (sizeof(*c) + nshards * sizeof(struct shard) + 63)
                                                    / 64 * 64);
    if (!c)
        return NULL;
    memset(c, 0, sizeof(*c) + nshards * sizeof(struct shard));
    c->nshards = nshards;
    atomic_init(&c->cap, share(size, nshards));
    atomic_init(&c->timeout, timeout_s);
    for (unsigned i = 0; i < nshards; i++)
        pthread_mutex_init(&c->shard[i].mu, NULL);
    return c;
}

void tls_sesscache_configure(struct tls_sesscache *c, size_t size, uint32_t timeout_s)
{
    if (size >= 1)
        atomic_store_explicit(&c->cap, share(size, c->nshards), memory_order_relaxed);
    if (timeout_s >= 1)
        atomic_store_explicit(&c->timeout, timeout_s, memory_order_relaxed);
}

static void entry_free(struct entry *e)
{
    OPENSSL_cleanse(e->data, e->len);
    free(e);
}

// Unlinks e from its chain and the LRU list. Shard locked.
static void unlink_entry(struct shard *s, struct entry *e, size_t b)
{
    for (struct entry **pp = &s->bucket[b]; *pp; pp = &(*pp)->hnext)
        if (*pp == e) {
            *pp = e->hnext;
            break;
        }
    if (e->prev)
        e->prev->next = e->next;
    else
        s->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        s->tail = e->prev;
    s->n--;
}

static void push_front(struct shard *s, struct entry *e)
{
    e->prev = NULL;
    e->next = s->head;
    if (s->head)
        s->head->prev = e;
    s->head = e;
    if (!s->tail)
        s->tail = e;
}

// Finds id in shard s (locked); *b receives its bucket.
static struct entry *find(struct shard *s, uint64_t h, const uint8_t *id, size_t len, size_t *b)
{
    if (!s->bucket)
        return NULL;
    *b = (size_t)(h >> 20) & (s->nbuckets - 1);
    for (struct entry *e = s->bucket[*b]; e; e = e->hnext)
        if (e->id_len == len && memcmp(e->id, id, len) == 0)
            return e;
    return NULL;
}

static struct shard *shard_of(struct tls_sesscache *c, uint64_t h)
{
    return &c->shard[h & (c->nshards - 1)];
}

// Allocates s's buckets for cap entries (a load factor of at most 1 until reconfigured).
static int ensure_buckets(struct shard *s, size_t cap)
{
    if (s->bucket)
        return 0;
    size_t n = 8;
    while (n < cap && n < ((size_t)1 << 20))
        n <<= 1;
    s->bucket = calloc(n, sizeof(*s->bucket));
    if (!s->bucket)
        return -ENOMEM;
    s->nbuckets = n;
    return 0;
}

// Drops least recently used entries until s holds fewer than cap. Shard locked.
static uint64_t evict(struct shard *s, size_t cap)
{
    uint64_t n = 0;
    while (s->n >= cap && s->tail) {
        struct entry *e = s->tail;
        unlink_entry(s, e, (size_t)(hash_id(e->id, e->id_len) >> 20) & (s->nbuckets - 1));
        entry_free(e);
        n++;
    }
    s->evictions += n;
    return n;
}

int tls_sesscache_put(struct tls_sesscache *c, const uint8_t *id, size_t id_len,
                      const uint8_t *data, size_t len, uint64_t now)
{
    if (id_len < 1 || id_len > TLS_SESSCACHE_ID_MAX || len < 1)
        return -EINVAL;
    struct entry *e = malloc(sizeof(*e) + len);
    if (!e)
        return -ENOMEM;
    memset(e, 0, sizeof(*e));
    e->id_len = (uint8_t)id_len;
    memcpy(e->id, id, id_len);
    e->len = len;
    memcpy(e->data, data, len);
    e->expires = now + atomic_load_explicit(&c->timeout, memory_order_relaxed);
    size_t cap = atomic_load_explicit(&c->cap, memory_order_relaxed);
    uint64_t h = hash_id(id, id_len);
    struct shard *s = shard_of(c, h);
    size_t b = 0;
    pthread_mutex_lock(&s->mu);
    if (ensure_buckets(s, cap) < 0) {
        pthread_mutex_unlock(&s->mu);
        entry_free(e);
        return -ENOMEM;
    }
    struct entry *old = find(s, h, id, id_len, &b);
    if (old)
        unlink_entry(s, old, b);
    uint64_t evicted = evict(s, cap);
    b = (size_t)(h >> 20) & (s->nbuckets - 1);
    e->hnext = s->bucket[b];
    s->bucket[b] = e;
    push_front(s, e);
    s->n++;
    s->new_sessions++;
    pthread_mutex_unlock(&s->mu);
    if (old)
        entry_free(old);
    core_stat_add(st.eviction, (int64_t)evicted);
    return 0;
}

int tls_sesscache_get(struct tls_sesscache *c, const uint8_t *id, size_t id_len, uint8_t **out,
                      size_t *out_len, uint64_t now)
{
    if (id_len < 1 || id_len > TLS_SESSCACHE_ID_MAX)
        return -ENOENT;
    uint64_t h = hash_id(id, id_len);
    struct shard *s = shard_of(c, h);
    size_t b = 0;
    int rc = -ENOENT;
    struct entry *dead = NULL;
    pthread_mutex_lock(&s->mu);
    struct entry *e = find(s, h, id, id_len, &b);
    if (e && now >= e->expires) {
        unlink_entry(s, e, b);
        dead = e;
    } else if (e) {
        uint8_t *copy = malloc(e->len);
        if (copy) {
            memcpy(copy, e->data, e->len);
            *out = copy;
            *out_len = e->len;
            unlink_entry(s, e, b); // move to the front of the LRU list
            e->hnext = s->bucket[b];
            s->bucket[b] = e;
            push_front(s, e);
            s->n++;
            rc = 0;
        } else {
            rc = -ENOMEM;
        }
    }
    if (rc == 0)
        s->hits++;
    else
        s->misses++;
    pthread_mutex_unlock(&s->mu);
    if (dead)
        entry_free(dead);
    return rc;
}

void tls_sesscache_remove(struct tls_sesscache *c, const uint8_t *id, size_t id_len)
{
    if (id_len < 1 || id_len > TLS_SESSCACHE_ID_MAX)
        return;
    uint64_t h = hash_id(id, id_len);
    struct shard *s = shard_of(c, h);
    size_t b = 0;
    pthread_mutex_lock(&s->mu);
    struct entry *e = find(s, h, id, id_len, &b);
    if (e)
        unlink_entry(s, e, b);
    pthread_mutex_unlock(&s->mu);
    if (e)
        entry_free(e);
}

void tls_sesscache_stats(const struct tls_sesscache *c, struct tls_sesscache_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < c->nshards; i++) {
        struct shard *s = (struct shard *)&c->shard[i];
        pthread_mutex_lock(&s->mu);
        out->hits += s->hits;
        out->misses += s->misses;
        out->evictions += s->evictions;
        out->new_sessions += s->new_sessions;
        out->entries += s->n;
        pthread_mutex_unlock(&s->mu);
    }
}

void tls_sesscache_free(struct tls_sesscache *c)
{
    if (!c)
        return;
    for (unsigned i = 0; i < c->nshards; i++) {
        struct shard *s = &c->shard[i];
        for (struct entry *e = s->head, *next; e; e = next) {
            next = e->next;
            entry_free(e);
        }
        free(s->bucket);
        pthread_mutex_destroy(&s->mu);
    }
    free(c);
}

// ---- BoringSSL callbacks: the process cache ----

static uint64_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec;
}

static int new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
    (void)ssl;
    unsigned id_len = 0;
    const uint8_t *id = SSL_SESSION_get_id(sess, &id_len);
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (id_len == 0 || !process_cache || !SSL_SESSION_to_bytes(sess, &bytes, &len))
        return 0;
    if (tls_sesscache_put(process_cache, id, id_len, bytes, len, now_s()) == 0)
        core_stat_inc(st.new_session);
    OPENSSL_cleanse(bytes, len);
    OPENSSL_free(bytes);
    return 0; // the cache keeps bytes, not a reference to sess
}

static SSL_SESSION *get_session_cb(SSL *ssl, const uint8_t *id, int id_len, int *out_copy)
{
    *out_copy = 0;
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (!process_cache || id_len <= 0 ||
        tls_sesscache_get(process_cache, id, (size_t)id_len, &bytes, &len, now_s()) < 0) {
        core_stat_inc(st.miss);
        return NULL;
    }
    SSL_SESSION *sess = SSL_SESSION_from_bytes(bytes, len, SSL_get_SSL_CTX(ssl));
    OPENSSL_cleanse(bytes, len);
    free(bytes);
    core_stat_inc(sess ? st.hit : st.miss);
    return sess;
}

static void remove_session_cb(SSL_CTX *ctx, SSL_SESSION *sess)
{
    (void)ctx;
    unsigned id_len = 0;
    const uint8_t *id = SSL_SESSION_get_id(sess, &id_len);
    if (process_cache)
        tls_sesscache_remove(process_cache, id, id_len);
}

struct tls_sesscache *tls_sesscache_process(size_t size, uint32_t timeout_s)
{
    if (process_cache)
        tls_sesscache_configure(process_cache, size, timeout_s);
    else
        process_cache = tls_sesscache_new(size, 256, timeout_s);
    return process_cache;
}

struct tls_sesscache *tls_sesscache_process_get0(void)
{
    return process_cache;
}

int tls_sesscache_attach(SSL_CTX *ctx)
{
    if (!process_cache)
        return -EINVAL;
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(ctx, new_session_cb);
    SSL_CTX_sess_set_get_cb(ctx, get_session_cb);
    SSL_CTX_sess_set_remove_cb(ctx, remove_session_cb);
    return 0;
}

void tls_sesscache_process_free(void)
{
    tls_sesscache_free(process_cache);
    process_cache = NULL;
}
