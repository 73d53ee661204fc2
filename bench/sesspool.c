// SPDX-License-Identifier: Apache-2.0
// bench/sesspool.c: a ring of sessions a resume-mode worker offers again, newest first, each
// once (see bench/sesspool.h for why).
#include "bench/sesspool.h"

void bench_sesspool_init(struct bench_sesspool *p)
{
    for (size_t i = 0; i < BENCH_SESSPOOL_CAP; i++)
        p->_ring[i] = NULL;
    p->_head = 0;
    p->_n = 0;
    p->_last = NULL;
}

void bench_sesspool_fini(struct bench_sesspool *p)
{
    for (size_t i = 0; i < BENCH_SESSPOOL_CAP; i++) {
        SSL_SESSION_free(p->_ring[i]);
        p->_ring[i] = NULL;
    }
    SSL_SESSION_free(p->_last);
    p->_last = NULL;
    p->_n = 0;
}

void bench_sesspool_put(struct bench_sesspool *p, SSL_SESSION *session)
{
    p->_head = (p->_head + 1) % BENCH_SESSPOOL_CAP;
    // When full, the slot after the newest is the oldest: it is dropped.
    SSL_SESSION_free(p->_ring[p->_head]);
    p->_ring[p->_head] = session;
    if (p->_n < BENCH_SESSPOOL_CAP)
        p->_n++;
}

SSL_SESSION *bench_sesspool_get(struct bench_sesspool *p)
{
    if (p->_n > 0) {
        SSL_SESSION_free(p->_last);
        p->_last = p->_ring[p->_head];
        p->_ring[p->_head] = NULL;
        p->_head = (p->_head + BENCH_SESSPOOL_CAP - 1) % BENCH_SESSPOOL_CAP;
        p->_n--;
    }
    return p->_last;
}
