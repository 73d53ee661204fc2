// SPDX-License-Identifier: Apache-2.0
// tls/keyless.h: the keyless (remote signer, the seeds' "CryptoProxy") client. It runs on the
// handshake pool threads: each pool thread keeps one connection per signer address and many
// requests in flight on it, matched by id, each with its own deadline. When a connection that
// was up breaks (EOF, a reset, a failed write: the signer restarted, say), the requests it had
// not answered are sent once more on a new connection, in order and under their ids; a request
// fails if that second connection breaks too. A connect that fails fails the requests waiting
// on it and starts a back-off; while backing off, new requests fail at once (a dead signer must
// not pile up handshakes).
#ifndef TLSEDGE_TLS_KEYLESS_H
#define TLSEDGE_TLS_KEYLESS_H

struct core_err;
struct tls_keyop;
struct tls_keyref;

// tls_keyless_start sends op's request to op->key's signer. Pool thread only; op is finished
// (tls_keyop_finish) later on this thread, or at once when the signer cannot be reached.
void tls_keyless_start(struct tls_keyop *op);

// tls_keyless_sign_sync sends op's request to op->key's signer and waits for the answer on the
// calling thread (accept mode: the thread holds a lent connection), offline for RCU while it
// waits, at most op->key->timeout_ms. Each pool thread keeps one blocking connection per signer
// for this, apart from the multiplexed ones; when that kept connection turns out to be closed
// (EOF or reset before the reply), the request is sent once more on a new connection within the
// same time limit. Fills op->sig; returns 0 or a negative errno.
// Pool thread only.
int tls_keyless_sign_sync(struct tls_keyop *op);

// tls_keyless_thread_fini closes and frees the calling pool thread's signer connections,
// failing what is still in flight. Pool thread, when the pool stops.
void tls_keyless_thread_fini(void);

// tls_keyless_parse fills key's address and name from uri, "keyless://HOST:PORT" (HOST a name,
// an IPv4 address or a bracketed IPv6 address; names are resolved now) or "keyless:unix:PATH".
// Returns 0 or -EINVAL with the reason in err (file, line). Main thread (may block in DNS).
int tls_keyless_parse(struct tls_keyref *key, const char *uri, const char *file, int line,
                      struct core_err *err);

// tls_keyless_probe tries to connect to key's signer within timeout_ms. Returns 0 or a negative
// errno. Main thread (blocks up to timeout_ms).
int tls_keyless_probe(const struct tls_keyref *key, int timeout_ms);

#endif
