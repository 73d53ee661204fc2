// SPDX-License-Identifier: Apache-2.0
// bench/tls.h: tlsedge-bench's BoringSSL client configuration: the per-thread SSL_CTX built
// from the options, the per-connection SSL object, and what a finished handshake is asked
// afterwards (negotiated parameters, served leaf certificate, error reason).
//
// Threads: each worker builds and owns its own SSL_CTX (no context is shared between threads,
// so nothing contends on its locks or reference counts); every function here works on objects
// of the calling thread. Nothing here prints.
#ifndef TLSEDGE_BENCH_TLS_H
#define TLSEDGE_BENCH_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#ifndef OPENSSL_IS_BORINGSSL
#error "tlsedge-bench is built against BoringSSL only"
#endif

struct bench_opts;
struct bench_tuple;

// bench_tls_new_session_fn is BoringSSL's new-session callback (SSL_CTX_sess_set_new_cb): it
// is called on the connection's thread when the server hands out a session (a TLS 1.3
// ticket, or the TLS 1.2 session); it returns 1 when it took ownership of session, else 0.
typedef int (*bench_tls_new_session_fn)(SSL *ssl, SSL_SESSION *session);

// bench_tls_ctx_new builds a client SSL_CTX from o (borrowed): the one protocol version,
// groups, signature algorithms, TLS 1.2 ciphers, ALPN, and either chain and name verification
// against o->verify_ca or none (TLS_with_buffers_method with a verifier that accepts any
// chain: no X.509 parsing on the hot path; the handshake still checks the server's signature).
// Sessions are reported to new_session. Returns the context (the caller owns it: SSL_CTX_free),
// or NULL with a reason in err (errlen bytes).
SSL_CTX *bench_tls_ctx_new(const struct bench_opts *o, bench_tls_new_session_fn new_session,
                           char *err, size_t errlen);

// bench_tls_ssl_new returns a client SSL on socket fd (borrowed: SSL_free does not close it),
// with o's SNI, app data app and, when session is not NULL, that session offered (session is
// borrowed; the SSL takes its own reference). Returns NULL when BoringSSL fails (out of
// memory); the caller owns the result.
SSL *bench_tls_ssl_new(SSL_CTX *ctx, const struct bench_opts *o, int fd, void *app,
                       SSL_SESSION *session);

// bench_tls_tuple_get fills t with what ssl's completed handshake negotiated.
void bench_tls_tuple_get(const SSL *ssl, struct bench_tuple *t);

// bench_tls_tuple_format writes t as "TLSv1.3 TLS_AES_128_GCM_SHA256 X25519
// ecdsa_secp256r1_sha256[ alpn=h2]" into buf (len bytes, NUL-terminated, truncated if short).
void bench_tls_tuple_format(const struct bench_tuple *t, char *buf, size_t len);

// bench_tls_leaf_fingerprint stores the SHA-256 of the DER of ssl's peer leaf certificate in
// out. Returns 0, or -ENOENT when the connection has no peer certificate.
int bench_tls_leaf_fingerprint(const SSL *ssl, uint8_t out[32]);

// bench_tls_error_reason drains the calling thread's BoringSSL error queue and writes the
// reason of the oldest error into buf (len bytes), e.g. "CERTIFICATE_VERIFY_FAILED", with the
// X.509 verify result appended when ssl (may be NULL) failed verification. Writes errno's name
// when the queue is empty and sys_errno is not 0, else "unknown". Returns buf.
const char *bench_tls_error_reason(const SSL *ssl, int sys_errno, char *buf, size_t len);

#endif
