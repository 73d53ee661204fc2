// SPDX-License-Identifier: Apache-2.0
// bench/sesspool.h: the sessions a worker has been handed (TLS 1.3 tickets, TLS 1.2 sessions)
// and offers again in resume mode.
//
// A TLS 1.3 ticket is meant to be used once (RFC 8446 appendix C.4), so the pool hands out each
// session once, newest first; a server sends fresh tickets on every connection, so the pool
// refills as fast as it drains. When it is empty (at the start, or when tickets come slower than
// connections start) the session used last is offered again rather than none, so a server that
// accepts a ticket twice still resumes.
//
// Threads: one pool per worker, used by that worker only. Ownership: the pool owns one
// reference to each session it holds (and to the last one handed out).
#ifndef TLSEDGE_BENCH_SESSPOOL_H
#define TLSEDGE_BENCH_SESSPOOL_H

#include <stddef.h>

#include <openssl/ssl.h>

#ifndef OPENSSL_IS_BORINGSSL
#error "tlsedge-bench is built against BoringSSL only"
#endif

// BENCH_SESSPOOL_CAP: sessions kept; when full, the oldest is dropped.
#define BENCH_SESSPOOL_CAP 64

// struct bench_sesspool: caller storage; bench_sesspool_init() before use, bench_sesspool_fini()
// after. Fields belong to bench/sesspool.c.
struct bench_sesspool {
    SSL_SESSION *_ring[BENCH_SESSPOOL_CAP];
    size_t _head;       // index of the newest
    size_t _n;          // sessions held
    SSL_SESSION *_last; // the last one handed out (a reference), or NULL
};

// bench_sesspool_init makes p empty.
void bench_sesspool_init(struct bench_sesspool *p);

// bench_sesspool_fini releases every session p holds.
void bench_sesspool_fini(struct bench_sesspool *p);

// bench_sesspool_put adds session to p and takes ownership of the caller's reference.
void bench_sesspool_put(struct bench_sesspool *p, SSL_SESSION *session);

// bench_sesspool_get returns the session to offer next: the newest one not yet handed out, else
// the last one handed out, else NULL. The result is borrowed: it stays valid until the next
// call on p (SSL_set_session takes the SSL's own reference).
SSL_SESSION *bench_sesspool_get(struct bench_sesspool *p);

#endif
