// SPDX-License-Identifier: Apache-2.0
// tls/tickets.c: ticket key blocks, the process block's rotation and the ticket key callback
// (see tls/tickets.h).
#include "tls/tickets.h"
#include "core/tsan.h"
#include "core/err.h"
#include "core/file.h"
#include "core/stats.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <time.h>
#include <urcu-qsbr.h>

#include <openssl/cipher.h>
#include <openssl/digest.h>
#include <openssl/hmac.h>
#include <openssl/mem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#define KEYS_MAGIC 0x746b6579u // "tkey"

// struct tls_ticket_keys: owned by its references (SSL_CTXs, configurations, the process block
// pointer); immutable after creation.
struct tls_ticket_keys {
    uint32_t magic;
    atomic_int refs;
    struct rcu_head rcu; // for the process block's deferred unref
    size_t n;
    struct tls_ticket_key key[];
};

static struct {
    int created, verified, verified_old, not_found, renewed, keys_renewed;
} st = {-1, -1, -1, -1, -1, -1};

static struct tls_ticket_keys *process_keys; // RCU-published; written by the main thread only
static uint64_t interval_s;
static bool owner_keys; // keys came from tls_tickets_offer_process_keys: no automatic rotation
static _Atomic(struct tls_ticket_keys *) offered; // handed over by any thread, applied by main
static int wake_fd = -1;
static struct timespec last_rotation;
static int ex_index = -1;

void tls_tickets_stats_register(void)
{
    st.created = core_stat_register("proxy.process.ssl.total_tickets_created");
    st.verified = core_stat_register("proxy.process.ssl.total_tickets_verified");
    st.verified_old = core_stat_register("proxy.process.ssl.total_tickets_verified_old_key");
    st.not_found = core_stat_register("proxy.process.ssl.total_tickets_not_found");
    st.renewed = core_stat_register("proxy.process.ssl.total_tickets_renewed");
    st.keys_renewed = core_stat_register("proxy.process.ssl.total_ticket_keys_renewed");
}

static struct tls_ticket_keys *keys_alloc(size_t n)
{
    struct tls_ticket_keys *k = calloc(1, sizeof(*k) + n * sizeof(k->key[0]));
    if (!k)
        return NULL;
    k->magic = KEYS_MAGIC;
    atomic_init(&k->refs, 1);
    k->n = n;
    return k;
}

struct tls_ticket_keys *tls_ticket_keys_parse(const uint8_t *data, size_t len, const char *file,
                                              struct core_err *err)
{
    if (len < TLS_TICKET_KEY_LEN) {
        core_err_add(err, file, 0,
                     "a ticket key file holds 48-byte keys (name, HMAC secret, AES key); this one "
                     "has %zu bytes",
                     len);
        return NULL;
    }
    size_t n = len / TLS_TICKET_KEY_LEN;
    if (len % TLS_TICKET_KEY_LEN)
        core_err_warn(err, file, 0, "%zu trailing bytes after %zu keys ignored",
                      len % TLS_TICKET_KEY_LEN, n);
    if (n > TLS_TICKET_KEYS_MAX) {
        core_err_warn(err, file, 0, "only the first %d of %zu keys are used", TLS_TICKET_KEYS_MAX,
                      n);
        n = TLS_TICKET_KEYS_MAX;
    }
    struct tls_ticket_keys *k = keys_alloc(n);
    if (!k) {
        core_err_add(err, file, 0, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = data + i * TLS_TICKET_KEY_LEN;
        memcpy(k->key[i].name, p, 16);
        memcpy(k->key[i].hmac_secret, p + 16, 16);
        memcpy(k->key[i].aes_key, p + 32, 16);
    }
    return k;
}

struct tls_ticket_keys *tls_ticket_keys_load(const char *path, struct core_err *err)
{
    size_t len = 0;
    char *data = core_file_read(path, 64 * 1024, &len);
    if (!data) {
        core_err_add(err, path, 0, "cannot read the ticket key file: %s", strerror(errno));
        return NULL;
    }
    struct tls_ticket_keys *k = tls_ticket_keys_parse((const uint8_t *)data, len, path, err);
    OPENSSL_cleanse(data, len);
    free(data);
    return k;
}

struct tls_ticket_keys *tls_ticket_keys_random(size_t n)
{
    if (n < 1 || n > TLS_TICKET_KEYS_MAX)
        return NULL;
    struct tls_ticket_keys *k = keys_alloc(n);
    if (k)
        RAND_bytes((uint8_t *)k->key, n * sizeof(k->key[0]));
    return k;
}

size_t tls_ticket_keys_count(const struct tls_ticket_keys *k)
{
    return k ? k->n : 0;
}

const struct tls_ticket_key *tls_ticket_keys_get0(const struct tls_ticket_keys *k, size_t i)
{
    return k && i < k->n ? &k->key[i] : NULL;
}

struct tls_ticket_keys *tls_ticket_keys_ref(struct tls_ticket_keys *k)
{
    if (k)
        atomic_fetch_add_explicit(&k->refs, 1, memory_order_relaxed);
    return k;
}

void tls_ticket_keys_unref(struct tls_ticket_keys *k)
{
    if (!k || atomic_fetch_sub_explicit(&k->refs, 1, memory_order_acq_rel) != 1)
        return;
    OPENSSL_cleanse(k->key, k->n * sizeof(k->key[0]));
    k->magic = 0;
    free(k);
}

// The keys for ssl: its context's own block, else the process block. BoringSSL calls the
// callback of the context the SSL was created from, which is the chosen chain's context.
static const struct tls_ticket_keys *keys_for(SSL *ssl)
{
    const struct tls_ticket_keys *k = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_index);
    if (!k) {
        k = rcu_dereference(process_keys);
        CORE_TSAN_ACQUIRE(&process_keys); // pairs with publish() (core/tsan.h)
    }
    return k && k->magic == KEYS_MAGIC ? k : NULL;
}

static int ticket_encrypt(const struct tls_ticket_key *key, uint8_t *name, uint8_t *iv,
                          EVP_CIPHER_CTX *cctx, HMAC_CTX *hctx)
{
    if (!RAND_bytes(iv, EVP_CIPHER_iv_length(EVP_aes_128_cbc())) ||
        !EVP_EncryptInit_ex(cctx, EVP_aes_128_cbc(), NULL, key->aes_key, iv) ||
        !HMAC_Init_ex(hctx, key->hmac_secret, sizeof(key->hmac_secret), EVP_sha256(), NULL))
        return -1;
    memcpy(name, key->name, sizeof(key->name));
    core_stat_inc(st.created);
    return 1;
}

// The ticket key callback (SSL_CTX_set_tlsext_ticket_key_cb): 1 issue/accept, 2 accept and
// renew, 0 do not issue / not found (a full handshake follows), -1 error.
static int ticket_key_cb(SSL *ssl, uint8_t *name, uint8_t *iv, EVP_CIPHER_CTX *cctx,
                         HMAC_CTX *hctx, int encrypt)
{
    const struct tls_ticket_keys *k = keys_for(ssl);
    if (!k || k->n == 0)
        return 0;
    if (encrypt)
        return ticket_encrypt(&k->key[0], name, iv, cctx, hctx);
    for (size_t i = 0; i < k->n; i++) {
        const struct tls_ticket_key *key = &k->key[i];
        if (CRYPTO_memcmp(name, key->name, sizeof(key->name)) != 0)
            continue;
        if (!HMAC_Init_ex(hctx, key->hmac_secret, sizeof(key->hmac_secret), EVP_sha256(), NULL) ||
            !EVP_DecryptInit_ex(cctx, EVP_aes_128_cbc(), NULL, key->aes_key, iv))
            return -1;
        core_stat_inc(st.verified);
        if (i == 0)
            return 1;
        core_stat_inc(st.verified_old);
        core_stat_inc(st.renewed);
        return 2;
    }
    core_stat_inc(st.not_found);
    return 0;
}

static void ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int index, long argl, void *argp)
{
    (void)parent, (void)ad, (void)index, (void)argl, (void)argp;
    tls_ticket_keys_unref(ptr);
}

int tls_tickets_attach(SSL_CTX *ctx, struct tls_ticket_keys *block)
{
    if (ex_index < 0) // main thread, before any context is shared
        ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, ex_free);
    if (ex_index < 0)
        return -ENOMEM;
    if (block && !SSL_CTX_set_ex_data(ctx, ex_index, tls_ticket_keys_ref(block))) {
        tls_ticket_keys_unref(block);
        return -ENOMEM;
    }
    SSL_CTX_set_tlsext_ticket_key_cb(ctx, ticket_key_cb);
    return 0;
}

static void deferred_unref(struct rcu_head *head)
{
    CORE_TSAN_GRACE_OVER();
    tls_ticket_keys_unref(caa_container_of(head, struct tls_ticket_keys, rcu));
}

// Publishes k (owned) as the process block and retires the previous one after a grace period.
static void publish(struct tls_ticket_keys *k)
{
    // For TSan (core/tsan.h): building k happens before a reader sees it, and this thread's own
    // reads of the old block (tls_tickets_rotate) happen before it is freed.
    CORE_TSAN_RELEASE(&process_keys);
    struct tls_ticket_keys *old = rcu_xchg_pointer(&process_keys, k);
    CORE_TSAN_QUIESCENT();
    if (old)
        call_rcu(&old->rcu, deferred_unref);
    clock_gettime(CLOCK_MONOTONIC, &last_rotation);
}

int tls_tickets_start(void)
{
    if (wake_fd < 0)
        wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (process_keys)
        return 0;
    struct tls_ticket_keys *k = tls_ticket_keys_random(TLS_TICKET_ROTATION_KEEP);
    if (!k)
        return -ENOMEM;
    publish(k);
    return 0;
}

void tls_tickets_set_interval(uint64_t seconds)
{
    if (seconds != interval_s)
        owner_keys = false;
    interval_s = seconds;
}

int64_t tls_tickets_due_ms(void)
{
    if (!interval_s || !process_keys || owner_keys)
        return -1;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t elapsed = (now.tv_sec - last_rotation.tv_sec) * 1000 +
                      (now.tv_nsec - last_rotation.tv_nsec) / 1000000;
    int64_t left = (int64_t)interval_s * 1000 - elapsed;
    return left > 0 ? left : 0;
}

// Returns a new block: a new random key first when fresh, then the first
// TLS_TICKET_ROTATION_KEEP - 1 keys of prev (may be NULL).
static struct tls_ticket_keys *merged(const struct tls_ticket_keys *prev, bool fresh)
{
    size_t keep = prev ? prev->n : 0;
    if (keep > TLS_TICKET_ROTATION_KEEP - 1)
        keep = TLS_TICKET_ROTATION_KEEP - 1;
    struct tls_ticket_keys *k = keys_alloc(keep + (fresh ? 1 : 0));
    if (!k)
        return NULL;
    size_t at = 0;
    if (fresh)
        RAND_bytes((uint8_t *)&k->key[at++], sizeof(k->key[0]));
    if (keep)
        memcpy(&k->key[at], prev->key, keep * sizeof(k->key[0]));
    return k;
}

int tls_tickets_rotate(void)
{
    struct tls_ticket_keys *k = merged(process_keys, true);
    if (!k)
        return -ENOMEM;
    publish(k);
    core_stat_inc(st.keys_renewed);
    return 0;
}

int tls_tickets_set_process_keys(struct tls_ticket_keys *block)
{
    if (!block || block->n == 0)
        return -EINVAL;
    publish(block);
    core_stat_inc(st.keys_renewed);
    return 0;
}

int tls_tickets_offer_process_keys(struct tls_ticket_keys *block)
{
    if (!block || block->n == 0)
        return -EINVAL;
    if (wake_fd < 0)
        return -EAGAIN;
    // The block first, then the wake-up: the main thread reads the eventfd before it takes the
    // block, so a wake-up written first could be consumed while offered is still empty, and
    // the block would then wait for the next offer.
    tls_ticket_keys_unref(atomic_exchange(&offered, block));
    uint64_t one = 1;
    if (write(wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
        int rc = -errno;
        struct tls_ticket_keys *expected = block;
        // Take the block back (the caller keeps its reference), unless it was applied or a
        // later offer replaced and released it meanwhile: then it is no longer ours to return.
        if (atomic_compare_exchange_strong(&offered, &expected, NULL))
            return rc;
    }
    return 0;
}

int tls_tickets_wake_fd(void)
{
    return wake_fd;
}

int tls_tickets_apply_offered(void)
{
    uint64_t n;
    if (wake_fd >= 0 && read(wake_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        return 0;
    struct tls_ticket_keys *k = atomic_exchange(&offered, NULL);
    if (!k)
        return 0;
    publish(k);
    owner_keys = true;
    core_stat_inc(st.keys_renewed);
    return 1;
}

struct tls_ticket_keys *tls_tickets_process_keys_get1(void)
{
    struct tls_ticket_keys *k = rcu_dereference(process_keys);
    CORE_TSAN_ACQUIRE(&process_keys);
    return tls_ticket_keys_ref(k);
}

void tls_tickets_stop(void)
{
    struct tls_ticket_keys *old = rcu_xchg_pointer(&process_keys, NULL);
    synchronize_rcu();
    tls_ticket_keys_unref(old);
    tls_ticket_keys_unref(atomic_exchange(&offered, NULL));
    if (wake_fd >= 0)
        close(wake_fd);
    wake_fd = -1;
}
