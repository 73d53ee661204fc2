// SPDX-License-Identifier: Apache-2.0
// tls/keyop.h: private-key operations that leave the worker: the BoringSSL private key method
// installed on contexts whose key lives in a backend (a keyless signer, a PKCS#11 token), the key
// reference those contexts carry, and the life of one operation.
//
// proxy.config.tlsedge.handshake_offload decides where it runs. `key`: created on the worker
// inside SSL_do_handshake, run on a pool thread, returned through the worker's mailbox, consumed
// when the handshake resumes. `accept`: created on the worker but not posted (a "sync" op); the
// worker lends the whole connection to a pool thread (tls/conn.c), whose SSL_do_handshake calls
// the method's complete(), which signs right there, blocking that thread.
//
// Ownership: an operation belongs to the pool from tls_pool_post until its result is posted
// back, then to the worker. If the connection goes away meanwhile, the operation is orphaned
// (its conn pointer cleared on the worker) and freed when it comes back, so the pool thread never
// touches a freed connection, and the connection never waits for a slow signer to be freed.
#ifndef TLSEDGE_TLS_KEYOP_H
#define TLSEDGE_TLS_KEYOP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/mbox.h"
#include "core/timer.h"

#include <openssl/ssl.h>

struct core_err;
struct core_worker;
struct tls_conn;

#define TLS_KEYOP_MAGIC 0x6b65796fu

enum tls_key_kind {
    TLS_KEY_KEYLESS, // keyless://HOST:PORT or keyless:unix:PATH
    TLS_KEY_PKCS11,  // pkcs11:... (RFC 7512)
};

// enum tls_offload: proxy.config.tlsedge.handshake_offload.
enum tls_offload {
    TLS_OFFLOAD_KEY,    // only the signature goes to the pool
    TLS_OFFLOAD_ACCEPT, // the connection is lent to the pool for the rest of that handshake step
};

struct tls_p11key;

// struct tls_keyref: a private key held by a backend, identified by the SHA-256 of its
// certificate's SubjectPublicKeyInfo. Reference-counted: the SSL_CTX holds one (released when the
// context is freed), each operation in flight another, so a reload can free the context while a
// signature is still on its way.
struct tls_keyref {
    _Atomic int refs;
    enum tls_key_kind kind;
    int key_type; // EVP_PKEY_EC or EVP_PKEY_RSA
    int ec_nid;   // NID_X9_62_prime256v1 / NID_secp384r1 for EC keys
    uint8_t key_id[32];
    struct sockaddr_storage addr; // the signer (AF_INET, AF_INET6 or AF_UNIX)
    socklen_t addrlen;
    char name[160]; // for logs: "keyless://127.0.0.1:9000", a pkcs11: URI without its query
    uint64_t timeout_ms;
    enum tls_offload offload;
    uint16_t sigalgs[8]; // what the backend can sign; n_sigalgs 0: everything of key_type
    size_t n_sigalgs;
    struct tls_p11key *p11; // TLS_KEY_PKCS11: owned (freed with the last reference)
};

struct tls_keyop {
    uint32_t magic;
    struct core_msg to_pool;   // runs the backend on a pool thread
    struct core_msg to_worker; // brings the result back to w
    struct core_worker *w;     // the owning worker
    struct tls_conn *conn;     // worker-only: NULL once the connection went away
    bool done;                 // worker-only: the result is back
    bool sync;                 // accept mode: signed by complete() on the pool thread
    struct tls_keyref *key;    // one reference
    uint16_t sigalg;
    uint8_t digest[64];
    size_t digest_len;
    int status; // 0, or a negative errno (-ETIMEDOUT, -ECONNREFUSED, -EPROTO ...)
    size_t sig_len;
    uint8_t sig[1024];
    // Backend state, pool thread only (keyless: tls/keyless_inflight.h links these).
    struct core_timer deadline;
    uint32_t id;
    struct tls_keyop *next;          // id bucket chain; a returned list
    struct tls_keyop *older, *newer; // send order on the signer connection
    bool retried;                    // already sent once more after a connection broke
};

// tls_keyop_init prepares the SSL_CTX ex_data slot and the counters. Main thread, once.
int tls_keyop_init(void);

// tls_keyref_new returns a key reference with one reference, or NULL when out of memory.
struct tls_keyref *tls_keyref_new(enum tls_key_kind kind);

// tls_keyref_unref drops one reference; the last one frees k. NULL is a no-op. Any thread.
void tls_keyref_unref(struct tls_keyref *k);

// tls_keyref_attach makes ctx sign with key (the context takes over the caller's reference):
// installs the private key method and limits the signature algorithms to what the key can do.
// Returns 0 or -EINVAL. Main thread, while building a snapshot.
int tls_keyref_attach(SSL_CTX *ctx, struct tls_keyref *key);

// tls_keyop_finish hands the finished op (status set; sig/sig_len when status is 0) back to its
// worker. The caller (a backend on a pool thread) must not touch op afterwards.
void tls_keyop_finish(struct tls_keyop *op, int status);

// tls_keyop_lends is true when op is an accept-mode operation: the caller must lend the
// connection to the pool (tls/conn.c), whose SSL_do_handshake then signs synchronously.
bool tls_keyop_lends(const struct tls_keyop *op);

// tls_keyop_orphan is called on the worker when op's connection goes away: op is freed now if
// its result is already back, else when it comes back.
void tls_keyop_orphan(struct tls_keyop *op);

#endif
