// SPDX-License-Identifier: Apache-2.0
// tls/keyop.c: the private key method for backend-held keys and the life of one key operation
// (see tls/keyop.h).
#include "tls/keyop.h"
#include "core/assert.h"
#include "core/log.h"
#include "core/stats.h"
#include "core/worker.h"
#include "tls/internal.h"
#include "tls/keyless.h"
#include "tls/pkcs11.h"
#include "tls/pool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/digest.h>
#include <openssl/nid.h>

static int ex_index = -1;
static int stat_ops = -1, stat_failures = -1, stat_queue_full = -1, stat_lent = -1;

static void ctx_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int index, long argl,
                        void *argp)
{
    tls_keyref_unref(ptr);
}

int tls_keyop_init(void)
{
    if (ex_index < 0)
        ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, ctx_ex_free);
    stat_ops = core_stat_register("proxy.process.tlsedge.key_ops");
    stat_failures = core_stat_register("proxy.process.ssl.key_op_failures");
    stat_queue_full = core_stat_register("proxy.process.tlsedge.handshake_queue_full");
    stat_lent = core_stat_register("proxy.process.tlsedge.handshakes_lent");
    return ex_index < 0 ? -ENOMEM : 0;
}

struct tls_keyref *tls_keyref_new(enum tls_key_kind kind)
{
    struct tls_keyref *k = calloc(1, sizeof(*k));
    if (!k)
        return NULL;
    atomic_init(&k->refs, 1);
    k->kind = kind;
    return k;
}

void tls_keyref_unref(struct tls_keyref *k)
{
    if (k && atomic_fetch_sub(&k->refs, 1) == 1) {
        tls_pkcs11_key_free(k->p11);
        free(k);
    }
}

static void keyop_free(struct tls_keyop *op)
{
    tls_keyref_unref(op->key);
    op->magic = 0;
    free(op);
}

// Runs on the owning worker once the backend finished.
static void op_returned(struct core_msg *m)
{
    struct tls_keyop *op = caa_container_of(m, struct tls_keyop, to_worker);
    CORE_ASSERT(op->magic == TLS_KEYOP_MAGIC);
    tls_pool_unreserve();
    op->done = true;
    if (op->status != 0)
        core_stat_inc(stat_failures);
    if (!op->conn) {
        keyop_free(op); // the connection went away while the signer worked
        return;
    }
    tls_conn_key_ready(op->conn);
}

void tls_keyop_finish(struct tls_keyop *op, int status)
{
    op->status = status;
    op->to_worker.fn = op_returned;
    core_worker_post(op->w, &op->to_worker);
}

bool tls_keyop_lends(const struct tls_keyop *op)
{
    return op->sync;
}

void tls_keyop_orphan(struct tls_keyop *op)
{
    if (op->sync && !op->done)
        tls_pool_unreserve(); // never lent (the lend failed): nobody else holds it
    if (op->done || op->sync)
        keyop_free(op);
    else
        op->conn = NULL;
}

static void start_backend(struct core_msg *m)
{
    struct tls_keyop *op = caa_container_of(m, struct tls_keyop, to_pool);
    switch (op->key->kind) {
    case TLS_KEY_KEYLESS:
        tls_keyless_start(op);
        break;
    case TLS_KEY_PKCS11:
        tls_keyop_finish(op, tls_pkcs11_sign(op, true));
        break;
    }
    tls_pool_ran();
}

// Accept mode: the signature, made on the pool thread that holds the lent connection. Blocks;
// each backend goes offline for RCU around its blocking call.
static void run_sync(struct tls_keyop *op)
{
    switch (op->key->kind) {
    case TLS_KEY_KEYLESS:
        op->status = tls_keyless_sign_sync(op);
        break;
    case TLS_KEY_PKCS11:
        op->status = tls_pkcs11_sign(op, true);
        break;
    }
    op->done = true;
    tls_pool_unreserve();
    if (op->status != 0)
        core_stat_inc(stat_failures);
}

static enum ssl_private_key_result_t key_sign(SSL *ssl, uint8_t *out, size_t *out_len,
                                              size_t max_out, uint16_t sigalg, const uint8_t *in,
                                              size_t in_len)
{
    struct tls_conn *c = SSL_get_app_data(ssl);
    struct tls_keyref *k = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_index);
    const EVP_MD *md = SSL_get_signature_algorithm_digest(sigalg);
    struct core_worker *w = core_worker_self();
    if (!c || !k || !md || !w)
        return ssl_private_key_failure;
    if (!tls_pool_reserve()) {
        core_stat_inc(stat_queue_full);
        core_stat_inc(stat_failures);
        return ssl_private_key_failure; // fail fast: the handshake ends with an alert
    }
    struct tls_keyop *op = calloc(1, sizeof(*op));
    unsigned dlen = 0;
    if (!op || !EVP_Digest(in, in_len, op->digest, &dlen, md, NULL)) {
        free(op);
        tls_pool_unreserve();
        return ssl_private_key_failure;
    }
    core_stat_inc(stat_ops);
    op->magic = TLS_KEYOP_MAGIC;
    op->digest_len = dlen;
    op->sigalg = sigalg;
    op->w = w;
    op->conn = c;
    atomic_fetch_add(&k->refs, 1);
    op->key = k;
    tls_conn_set_op(c, op);
    if (k->offload == TLS_OFFLOAD_ACCEPT) {
        op->sync = true; // the caller lends the connection; complete() signs on the pool
        core_stat_inc(stat_lent);
        return ssl_private_key_retry;
    }
    op->to_pool.fn = start_backend;
    tls_pool_post(&op->to_pool);
    return ssl_private_key_retry;
}

static enum ssl_private_key_result_t key_complete(SSL *ssl, uint8_t *out, size_t *out_len,
                                                  size_t max_out)
{
    struct tls_conn *c = SSL_get_app_data(ssl);
    struct tls_keyop *op = c ? tls_conn_get_op(c) : NULL;
    if (!op)
        return ssl_private_key_failure;
    if (!op->done && op->sync)
        run_sync(op);
    if (!op->done)
        return ssl_private_key_retry;
    tls_conn_set_op(c, NULL);
    enum ssl_private_key_result_t r = ssl_private_key_failure;
    if (op->status == 0 && op->sig_len <= max_out) {
        memcpy(out, op->sig, op->sig_len);
        *out_len = op->sig_len;
        r = ssl_private_key_success;
    }
    keyop_free(op);
    return r;
}

static enum ssl_private_key_result_t key_decrypt(SSL *ssl, uint8_t *out, size_t *out_len,
                                                 size_t max_out, const uint8_t *in, size_t in_len)
{
    return ssl_private_key_failure; // ECDHE-only cipher suites: never called
}

static const SSL_PRIVATE_KEY_METHOD key_method = {
    .sign = key_sign,
    .decrypt = key_decrypt,
    .complete = key_complete,
};

int tls_keyref_attach(SSL_CTX *ctx, struct tls_keyref *key)
{
    static const uint16_t p256[] = {SSL_SIGN_ECDSA_SECP256R1_SHA256};
    static const uint16_t p384[] = {SSL_SIGN_ECDSA_SECP384R1_SHA384};
    static const uint16_t rsa[] = {SSL_SIGN_RSA_PSS_RSAE_SHA256, SSL_SIGN_RSA_PSS_RSAE_SHA384,
                                   SSL_SIGN_RSA_PSS_RSAE_SHA512, SSL_SIGN_RSA_PKCS1_SHA256,
                                   SSL_SIGN_RSA_PKCS1_SHA384, SSL_SIGN_RSA_PKCS1_SHA512};
    const uint16_t *prefs = rsa;
    size_t n = sizeof(rsa) / sizeof(rsa[0]);
    if (key->n_sigalgs) {
        prefs = key->sigalgs; // what the backend said it can do
        n = key->n_sigalgs;
    } else if (key->key_type == EVP_PKEY_EC) {
        bool big = key->ec_nid == NID_secp384r1;
        prefs = big ? p384 : p256;
        n = 1;
    }
    if (!SSL_CTX_set_signing_algorithm_prefs(ctx, prefs, n) ||
        !SSL_CTX_set_ex_data(ctx, ex_index, key))
        return -EINVAL;
    SSL_CTX_set_private_key_method(ctx, &key_method);
    return 0;
}
