// SPDX-License-Identifier: Apache-2.0
// Unit tests for tls/tickets.c: ATS key file parsing, the process block's rotation order, and
// real TLS 1.2 / 1.3 handshakes (BoringSSL client and server over a BIO pair) that issue,
// accept, renew and refuse tickets through the one key callback. The server certificate comes
// from $TLSEDGE_FIXTURES.
#include "tls/tickets.h"

#include "core/err.h"
#include "core/stats.h"

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <criterion/criterion.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu-qsbr.h>

static struct core_err err;

static void setup(void)
{
    core_err_init(&err);
    rcu_register_thread();
    tls_tickets_stats_register();
}

static void teardown(void)
{
    tls_tickets_stop();
    rcu_barrier(); // blocks retired by rotations are freed before the leak check
    rcu_unregister_thread();
}

TestSuite(tls_tickets, .init = setup, .fini = teardown, .timeout = 20);

// pattern fills n bytes: key i has every byte equal to i + 1 in its name.
static void pattern(uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(i / TLS_TICKET_KEY_LEN + 1);
}

Test(tls_tickets, parses_one_48_byte_key)
{
    uint8_t buf[48];
    pattern(buf, sizeof(buf));
    struct tls_ticket_keys *k = tls_ticket_keys_parse(buf, sizeof(buf), "t.key", &err);
    cr_assert_not_null(k);
    cr_assert_eq(tls_ticket_keys_count(k), 1);
    const struct tls_ticket_key *key = tls_ticket_keys_get0(k, 0);
    cr_assert_eq(memcmp(key->name, buf, 16), 0);
    cr_assert_eq(memcmp(key->hmac_secret, buf + 16, 16), 0);
    cr_assert_eq(memcmp(key->aes_key, buf + 32, 16), 0);
    cr_assert_eq(err.warnings, 0);
    tls_ticket_keys_unref(k);
}

Test(tls_tickets, parses_96_bytes_as_two_keys_in_file_order)
{
    uint8_t buf[96];
    pattern(buf, sizeof(buf));
    struct tls_ticket_keys *k = tls_ticket_keys_parse(buf, sizeof(buf), "t.key", &err);
    cr_assert_eq(tls_ticket_keys_count(k), 2);
    cr_assert_eq(tls_ticket_keys_get0(k, 0)->name[0], 1);
    cr_assert_eq(tls_ticket_keys_get0(k, 1)->name[0], 2);
    cr_assert_null(tls_ticket_keys_get0(k, 2));
    tls_ticket_keys_unref(k);
}

Test(tls_tickets, ignores_a_trailing_remainder_with_a_warning)
{
    uint8_t buf[50];
    pattern(buf, sizeof(buf));
    struct tls_ticket_keys *k = tls_ticket_keys_parse(buf, sizeof(buf), "t.key", &err);
    cr_assert_eq(tls_ticket_keys_count(k), 1);
    cr_assert_eq(err.warnings, 1);
    cr_assert_eq(err.errors, 0);
    tls_ticket_keys_unref(k);
}

Test(tls_tickets, refuses_47_bytes_naming_the_file_not_the_bytes)
{
    uint8_t buf[47];
    memset(buf, 'Z', sizeof(buf));
    cr_assert_null(tls_ticket_keys_parse(buf, sizeof(buf), "short.key", &err));
    cr_assert_eq(err.errors, 1);
    char msg[512];
    core_err_format(&err, 0, msg, sizeof(msg));
    cr_assert(strstr(msg, "short.key") != NULL, "%s", msg);
    cr_assert(strstr(msg, "ZZZZ") == NULL, "key bytes leaked: %s", msg);
}

Test(tls_tickets, load_reports_a_missing_file)
{
    cr_assert_null(tls_ticket_keys_load("/nonexistent/tickets.key", &err));
    cr_assert_eq(err.errors, 1);
}

Test(tls_tickets, rotation_puts_a_new_key_first_and_keeps_two_previous)
{
    cr_assert_eq(tls_tickets_start(), 0);
    struct tls_ticket_keys *k0 = tls_tickets_process_keys_get1();
    cr_assert_eq(tls_ticket_keys_count(k0), TLS_TICKET_ROTATION_KEEP);
    cr_assert_eq(tls_tickets_rotate(), 0);
    struct tls_ticket_keys *k1 = tls_tickets_process_keys_get1();
    cr_assert_eq(tls_ticket_keys_count(k1), 3);
    cr_assert_neq(memcmp(tls_ticket_keys_get0(k1, 0), tls_ticket_keys_get0(k0, 0), 48), 0);
    cr_assert_eq(memcmp(tls_ticket_keys_get0(k1, 1), tls_ticket_keys_get0(k0, 0), 48), 0);
    cr_assert_eq(memcmp(tls_ticket_keys_get0(k1, 2), tls_ticket_keys_get0(k0, 1), 48), 0);
    cr_assert_eq(tls_tickets_rotate(), 0);
    cr_assert_eq(tls_tickets_rotate(), 0);
    struct tls_ticket_keys *k3 = tls_tickets_process_keys_get1();
    // k1's first key is now third; k0's keys are gone.
    cr_assert_eq(memcmp(tls_ticket_keys_get0(k3, 2), tls_ticket_keys_get0(k1, 0), 48), 0);
    for (size_t i = 0; i < 3; i++)
        cr_assert_neq(memcmp(tls_ticket_keys_get0(k3, i), tls_ticket_keys_get0(k0, 0), 48), 0);
    tls_ticket_keys_unref(k0);
    tls_ticket_keys_unref(k1);
    tls_ticket_keys_unref(k3);
}

Test(tls_tickets, rotation_interval_sets_the_due_time)
{
    cr_assert_eq(tls_tickets_start(), 0);
    tls_tickets_set_interval(0);
    cr_assert_eq(tls_tickets_due_ms(), -1);
    tls_tickets_set_interval(60);
    int64_t due = tls_tickets_due_ms();
    cr_assert(due > 59000 && due <= 60000, "due %lld", (long long)due);
}

// ---- handshakes ----

static SSL_CTX *server_ctx(struct tls_ticket_keys *keys)
{
    const char *fx = getenv("TLSEDGE_FIXTURES");
    cr_assert_not_null(fx, "TLSEDGE_FIXTURES must name the fixtures directory");
    char cert[512], key[512];
    snprintf(cert, sizeof(cert), "%s/a.test.pem", fx);
    snprintf(key, sizeof(key), "%s/a.test.key", fx);
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    cr_assert_not_null(ctx);
    cr_assert(SSL_CTX_use_certificate_chain_file(ctx, cert));
    cr_assert(SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM));
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF); // tickets only
    cr_assert_eq(tls_tickets_attach(ctx, keys), 0);
    return ctx;
}

struct result {
    bool reused;
    SSL_SESSION *session; // the client's newest session (a reference), or NULL
};

static SSL_SESSION *newest;

static int keep_session(SSL *ssl, SSL_SESSION *s)
{
    SSL_SESSION_free(newest);
    newest = s; // takes the reference
    return 1;
}

// handshake runs one client/server handshake at version, offering session (may be NULL), and
// lets the client read the server's post-handshake tickets.
static struct result handshake(SSL_CTX *sctx, uint16_t version, SSL_SESSION *session)
{
    SSL_CTX *cctx = SSL_CTX_new(TLS_method());
    SSL_CTX_set_min_proto_version(cctx, version);
    SSL_CTX_set_max_proto_version(cctx, version);
    SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_CLIENT);
    SSL_CTX_sess_set_new_cb(cctx, keep_session);
    SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
    BIO *cb = NULL, *sb = NULL;
    cr_assert(BIO_new_bio_pair(&cb, 0, &sb, 0));
    SSL_set_bio(c, cb, cb);
    SSL_set_bio(s, sb, sb);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    if (session)
        SSL_set_session(c, session);
    newest = NULL;
    int cdone = 0, sdone = 0;
    for (int i = 0; i < 20 && !(cdone && sdone); i++) {
        cdone = cdone || SSL_do_handshake(c) == 1;
        sdone = sdone || SSL_do_handshake(s) == 1;
    }
    cr_assert(cdone && sdone, "handshake did not complete");
    uint8_t b;
    SSL_write(s, "x", 1); // flushes TLS 1.3 tickets
    cr_assert_eq(SSL_read(c, &b, 1), 1);
    struct result r = {.reused = SSL_session_reused(c), .session = newest};
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cctx);
    return r;
}

static int64_t counter(const char *name)
{
    return core_stat_sum(core_stat_find(name));
}

static struct tls_ticket_keys *keys_of(const uint8_t *a, const uint8_t *b, const uint8_t *c)
{
    uint8_t buf[3 * 48];
    size_t n = 0;
    const uint8_t *list[] = {a, b, c};
    for (int i = 0; i < 3; i++)
        if (list[i]) {
            memcpy(buf + n, list[i], 48);
            n += 48;
        }
    return tls_ticket_keys_parse(buf, n, "test", NULL);
}

static void ticket_rotation(uint16_t version)
{
    uint8_t A[48], B[48], C[48];
    memset(A, 0xa1, 48);
    memset(B, 0xb2, 48);
    memset(C, 0xc3, 48);
    struct tls_ticket_keys *ka = keys_of(A, NULL, NULL), *kba = keys_of(B, A, NULL),
                           *kcb = keys_of(C, B, NULL);
    SSL_CTX *sa = server_ctx(ka), *sba = server_ctx(kba), *scb = server_ctx(kcb);

    struct result r1 = handshake(sa, version, NULL);
    cr_assert_not(r1.reused);
    cr_assert_not_null(r1.session, "no ticket issued");
    cr_assert_eq(counter("proxy.process.ssl.total_tickets_created"), version == TLS1_3_VERSION ? 2 : 1);

    struct result r2 = handshake(sba, version, r1.session); // key 1 of [B, A] decrypts
    cr_assert(r2.reused, "an A ticket must resume under [B, A]");
    cr_assert_eq(counter("proxy.process.ssl.total_tickets_verified_old_key"), 1);
    cr_assert_eq(counter("proxy.process.ssl.total_tickets_renewed"), 1);
    cr_assert_not_null(r2.session, "a renewed ticket must be sent");

    struct result r3 = handshake(scb, version, r1.session);
    cr_assert_not(r3.reused, "an A ticket must not resume under [C, B]");
    cr_assert_eq(counter("proxy.process.ssl.total_tickets_not_found"), 1);

    struct result r4 = handshake(scb, version, r2.session); // renewed under B
    cr_assert(r4.reused, "the renewed (B) ticket must resume under [C, B]");

    SSL_SESSION *all[] = {r1.session, r2.session, r3.session, r4.session};
    for (int i = 0; i < 4; i++)
        SSL_SESSION_free(all[i]);
    SSL_CTX_free(sa);
    SSL_CTX_free(sba);
    SSL_CTX_free(scb);
    tls_ticket_keys_unref(ka);
    tls_ticket_keys_unref(kba);
    tls_ticket_keys_unref(kcb);
}

Test(tls_tickets, tls12_key0_encrypts_key2_decrypts_and_renews)
{
    ticket_rotation(TLS1_2_VERSION);
}

Test(tls_tickets, tls13_key0_encrypts_key2_decrypts_and_renews)
{
    ticket_rotation(TLS1_3_VERSION);
}

Test(tls_tickets, process_block_is_shared_by_contexts_and_survives_rotation)
{
    cr_assert_eq(tls_tickets_start(), 0);
    SSL_CTX *s1 = server_ctx(NULL), *s2 = server_ctx(NULL); // e.g. two generations
    struct result r1 = handshake(s1, TLS1_2_VERSION, NULL);
    struct result r2 = handshake(s2, TLS1_2_VERSION, r1.session);
    cr_assert(r2.reused, "a ticket from one context must resume on another");
    cr_assert_eq(tls_tickets_rotate(), 0);
    cr_assert_eq(tls_tickets_rotate(), 0);
    struct result r3 = handshake(s2, TLS1_2_VERSION, r1.session);
    cr_assert(r3.reused, "two rotations later the ticket still resumes");
    cr_assert_eq(tls_tickets_rotate(), 0);
    struct result r4 = handshake(s2, TLS1_2_VERSION, r1.session);
    cr_assert_not(r4.reused, "three rotations later it does not");
    SSL_SESSION *all[] = {r1.session, r2.session, r3.session, r4.session};
    for (int i = 0; i < 4; i++)
        SSL_SESSION_free(all[i]);
    SSL_CTX_free(s1);
    SSL_CTX_free(s2);
}

// An offering thread and the main thread share one CPU, so the write that wakes the main thread
// often hands it the CPU at once (wake-up preemption). Each wake-up must find its block: a
// wake-up written before the block was stored could be consumed while nothing was offered yet,
// and the block would then wait for the next offer.
#define OFFERS 2000

static atomic_int applied;

static void *offerer(void *arg)
{
    cpu_set_t *cpu = arg;
    pthread_setaffinity_np(pthread_self(), sizeof(*cpu), cpu);
    for (int i = 0; i < OFFERS; i++) {
        struct tls_ticket_keys *k = tls_ticket_keys_random(1);
        if (!k || tls_tickets_offer_process_keys(k) != 0)
            return NULL;
        // One offer at a time: the next only once this one was taken.
        while (atomic_load(&applied) <= i)
            sched_yield();
    }
    return NULL;
}

Test(tls_tickets, every_wake_up_finds_its_offered_block)
{
    cr_assert_eq(tls_tickets_start(), 0);
    cpu_set_t cpu;
    CPU_ZERO(&cpu);
    CPU_SET(sched_getcpu(), &cpu);
    cr_assert_eq(pthread_setaffinity_np(pthread_self(), sizeof(cpu), &cpu), 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, offerer, &cpu), 0);
    struct pollfd p = {.fd = tls_tickets_wake_fd(), .events = POLLIN};
    int empty_wakeups = 0;
    while (atomic_load(&applied) < OFFERS) {
        if (poll(&p, 1, 2000) != 1)
            break; // an offer that was never woken for: the loop ends short
        if (tls_tickets_apply_offered() == 1)
            atomic_fetch_add(&applied, 1);
        else
            empty_wakeups++;
    }
    atomic_store(&applied, OFFERS); // release the offerer if the loop ended early
    pthread_join(th, NULL);
    cr_expect_eq(empty_wakeups, 0, "%d wake-ups found no block", empty_wakeups);
    struct tls_ticket_keys *k = tls_tickets_process_keys_get1();
    cr_expect_eq(tls_ticket_keys_count(k), 1, "the last offered block is the process block");
    tls_ticket_keys_unref(k);
}
