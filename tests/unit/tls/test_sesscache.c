// SPDX-License-Identifier: Apache-2.0
// Unit tests for tls/sesscache.c: store and find, replacement, least-recently-used eviction per
// shard, expiry, removal, bad arguments, concurrent use from several threads, and a real TLS 1.2
// session-ID resumption through the process cache between two SSL_CTXs.
#include "tls/sesscache.h"

#include "core/stats.h"

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct tls_sesscache *c;

static void teardown(void)
{
    tls_sesscache_free(c);
    c = NULL;
}

TestSuite(tls_sesscache, .fini = teardown, .timeout = 20);

static void id_of(uint8_t id[32], unsigned v)
{
    memset(id, 0, 32);
    memcpy(id, &v, sizeof(v));
    id[31] = 0x5a;
}

static bool has(unsigned v, uint64_t now)
{
    uint8_t id[32], *out = NULL;
    size_t len = 0;
    id_of(id, v);
    int rc = tls_sesscache_get(c, id, 32, &out, &len, now);
    if (rc == 0) {
        cr_assert_eq(len, sizeof(v));
        cr_assert_eq(memcmp(out, &v, sizeof(v)), 0, "wrong data for %u", v);
    }
    free(out);
    return rc == 0;
}

static void put(unsigned v, uint64_t now)
{
    uint8_t id[32];
    id_of(id, v);
    cr_assert_eq(tls_sesscache_put(c, id, 32, (const uint8_t *)&v, sizeof(v), now), 0);
}

Test(tls_sesscache, stores_and_finds_by_id)
{
    c = tls_sesscache_new(100, 4, 60);
    put(1, 0);
    put(2, 0);
    cr_assert(has(1, 1));
    cr_assert(has(2, 1));
    cr_assert_not(has(3, 1));
    struct tls_sesscache_stats st;
    tls_sesscache_stats(c, &st);
    cr_assert_eq(st.hits, 2);
    cr_assert_eq(st.misses, 1);
    cr_assert_eq(st.new_sessions, 2);
    cr_assert_eq(st.entries, 2);
}

Test(tls_sesscache, evicts_the_least_recently_used_when_full)
{
    c = tls_sesscache_new(3, 1, 60); // one shard of 3
    put(1, 0);
    put(2, 0);
    put(3, 0);
    cr_assert(has(1, 0)); // 1 is now the most recent; 2 the least
    put(4, 0);
    cr_assert_not(has(2, 0), "the least recently used entry must go");
    cr_assert(has(1, 0));
    cr_assert(has(3, 0));
    cr_assert(has(4, 0));
    struct tls_sesscache_stats st;
    tls_sesscache_stats(c, &st);
    cr_assert_eq(st.evictions, 1);
    cr_assert_eq(st.entries, 3);
}

Test(tls_sesscache, never_holds_more_than_its_size)
{
    c = tls_sesscache_new(64, 8, 60);
    for (unsigned v = 0; v < 10000; v++)
        put(v, 0);
    struct tls_sesscache_stats st;
    tls_sesscache_stats(c, &st);
    cr_assert_leq(st.entries, 64);
    cr_assert_eq(st.evictions, 10000 - st.entries);
    cr_assert(has(9999, 0), "the newest entry is kept");
}

Test(tls_sesscache, expires_after_the_timeout)
{
    c = tls_sesscache_new(10, 1, 300);
    put(7, 1000);
    cr_assert(has(7, 1299));
    cr_assert_not(has(7, 1300), "an entry is invalid at its expiry time");
    cr_assert_not(has(7, 1000), "an expired entry is removed");
    struct tls_sesscache_stats st;
    tls_sesscache_stats(c, &st);
    cr_assert_eq(st.entries, 0);
}

Test(tls_sesscache, replaces_an_entry_with_the_same_id)
{
    c = tls_sesscache_new(10, 1, 60);
    uint8_t id[32];
    id_of(id, 5);
    cr_assert_eq(tls_sesscache_put(c, id, 32, (const uint8_t *)"old", 3, 0), 0);
    cr_assert_eq(tls_sesscache_put(c, id, 32, (const uint8_t *)"newer", 5, 0), 0);
    uint8_t *out = NULL;
    size_t len = 0;
    cr_assert_eq(tls_sesscache_get(c, id, 32, &out, &len, 0), 0);
    cr_assert_eq(len, 5);
    cr_assert_eq(memcmp(out, "newer", 5), 0);
    free(out);
    struct tls_sesscache_stats st;
    tls_sesscache_stats(c, &st);
    cr_assert_eq(st.entries, 1);
}

Test(tls_sesscache, remove_drops_the_entry)
{
    c = tls_sesscache_new(10, 2, 60);
    put(8, 0);
    uint8_t id[32];
    id_of(id, 8);
    tls_sesscache_remove(c, id, 32);
    cr_assert_not(has(8, 0));
}

Test(tls_sesscache, refuses_bad_ids_and_sizes)
{
    cr_assert_null(tls_sesscache_new(0, 4, 60));
    cr_assert_null(tls_sesscache_new(10, 0, 60));
    cr_assert_null(tls_sesscache_new(10, 4, 0));
    c = tls_sesscache_new(10, 3, 60); // rounded down to 2 shards
    cr_assert_not_null(c);
    uint8_t id[40] = {1};
    cr_assert_eq(tls_sesscache_put(c, id, 0, id, 1, 0), -EINVAL);
    cr_assert_eq(tls_sesscache_put(c, id, 33, id, 1, 0), -EINVAL);
    cr_assert_eq(tls_sesscache_put(c, id, 4, id, 0, 0), -EINVAL);
    uint8_t *out = NULL;
    size_t len = 0;
    cr_assert_eq(tls_sesscache_get(c, id, 40, &out, &len, 0), -ENOENT);
}

static void *hammer(void *arg)
{
    unsigned base = (unsigned)(uintptr_t)arg * 100000;
    for (unsigned i = 0; i < 20000; i++) {
        uint8_t id[32], *out = NULL;
        size_t len = 0;
        unsigned v = base + i;
        id_of(id, v);
        tls_sesscache_put(c, id, 32, (const uint8_t *)&v, sizeof(v), 0);
        if (tls_sesscache_get(c, id, 32, &out, &len, 0) == 0 &&
            (len != sizeof(v) || memcmp(out, &v, sizeof(v)) != 0))
            return (void *)1;
        free(out);
    }
    return NULL;
}

Test(tls_sesscache, threads_share_it_safely)
{
    c = tls_sesscache_new(1000, 16, 60);
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, (void *)i);
    for (int i = 0; i < 4; i++) {
        void *r = NULL;
        pthread_join(t[i], &r);
        cr_assert_null(r, "a thread read another session's bytes");
    }
    struct tls_sesscache_stats st;
    tls_sesscache_stats(c, &st);
    cr_assert_leq(st.entries, 1000);
    cr_assert_eq(st.new_sessions, 80000);
}

// ---- a real resumption through the process cache ----

static SSL_SESSION *client_session;

static int keep(SSL *ssl, SSL_SESSION *s)
{
    SSL_SESSION_free(client_session);
    client_session = s;
    return 1;
}

static SSL_CTX *server(void)
{
    const char *fx = getenv("TLSEDGE_FIXTURES");
    cr_assert_not_null(fx);
    char cert[512], key[512];
    snprintf(cert, sizeof(cert), "%s/a.test.pem", fx);
    snprintf(key, sizeof(key), "%s/a.test.key", fx);
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    cr_assert(SSL_CTX_use_certificate_chain_file(ctx, cert));
    cr_assert(SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM));
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_id_context(ctx, (const uint8_t *)"t", 1);
    cr_assert_eq(tls_sesscache_attach(ctx), 0);
    return ctx;
}

static bool resume(SSL_CTX *sctx)
{
    SSL_CTX *cctx = SSL_CTX_new(TLS_method());
    SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
    SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_CLIENT);
    SSL_CTX_sess_set_new_cb(cctx, keep);
    SSL *cl = SSL_new(cctx), *sv = SSL_new(sctx);
    BIO *cb = NULL, *sb = NULL;
    cr_assert(BIO_new_bio_pair(&cb, 0, &sb, 0));
    SSL_set_bio(cl, cb, cb);
    SSL_set_bio(sv, sb, sb);
    SSL_set_connect_state(cl);
    SSL_set_accept_state(sv);
    if (client_session)
        SSL_set_session(cl, client_session);
    int cdone = 0, sdone = 0;
    for (int i = 0; i < 20 && !(cdone && sdone); i++) {
        cdone = cdone || SSL_do_handshake(cl) == 1;
        sdone = sdone || SSL_do_handshake(sv) == 1;
    }
    cr_assert(cdone && sdone);
    bool reused = SSL_session_reused(cl);
    SSL_free(cl);
    SSL_free(sv);
    SSL_CTX_free(cctx);
    return reused;
}

Test(tls_sesscache, tls12_session_id_resumes_across_contexts)
{
    tls_sesscache_stats_register();
    cr_assert_not_null(tls_sesscache_process(100, 300));
    SSL_CTX *s1 = server(), *s2 = server(); // e.g. before and after a reload
    cr_assert_not(resume(s1));
    cr_assert_not_null(client_session);
    cr_assert(resume(s2), "a session stored by one context must resume on another");
    cr_assert_eq(core_stat_sum(core_stat_find("proxy.process.ssl.ssl_session_cache_hit")), 1);
    cr_assert_eq(core_stat_sum(core_stat_find("proxy.process.ssl.ssl_session_cache_new_session")),
                 1);
    SSL_SESSION_free(client_session);
    client_session = NULL;
    SSL_CTX_free(s1);
    SSL_CTX_free(s2);
    tls_sesscache_process_free();
}
