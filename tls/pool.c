// SPDX-License-Identifier: Apache-2.0
// tls/pool.c: the handshake pool threads and the in-flight bound (see tls/pool.h).
#include "tls/pool.h"
#include "core/assert.h"
#include "core/worker.h"
#include "tls/keyless.h"
#include "tls/pkcs11.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <urcu-qsbr.h>

// One per pool thread, a cache line each: messages posted to the thread and not yet run to the
// end (its mailbox backlog plus the one it is running, which may block in a token's library).
struct pool_load {
    _Alignas(64) _Atomic unsigned n;
};

static struct core_workers *pool;
static struct pool_load *load;
static int nthreads;
static size_t limit;
static _Atomic size_t inflight;
static _Atomic unsigned rotor;

static void pool_thread_stop(struct core_worker *w, void *arg)
{
    tls_keyless_thread_fini();
    tls_pkcs11_thread_fini();
}

int tls_pool_start(int n, size_t queue_max)
{
    if (n <= 0)
        return 0;
    load = aligned_alloc(_Alignof(struct pool_load), sizeof(*load) * (size_t)n);
    if (!load)
        return -ENOMEM;
    for (int i = 0; i < n; i++)
        atomic_init(&load[i].n, 0);
    pool = core_workers_new(n, false, "hs");
    if (!pool) {
        int e = errno;
        free(load);
        load = NULL;
        return -e;
    }
    int rc = core_workers_start(pool, NULL, pool_thread_stop, NULL);
    if (rc < 0) {
        core_workers_free(pool);
        pool = NULL;
        free(load);
        load = NULL;
        return rc;
    }
    nthreads = n;
    limit = queue_max;
    return 0;
}

void tls_pool_stop(void)
{
    if (!pool)
        return;
    core_workers_stop(pool, 0);
    core_workers_join(pool);
    core_workers_free(pool);
    pool = NULL;
    free(load);
    load = NULL;
    nthreads = 0;
}

int tls_pool_threads(void)
{
    return nthreads;
}

bool tls_pool_reserve(void)
{
    if (!pool)
        return false;
    size_t cur = atomic_load_explicit(&inflight, memory_order_relaxed);
    do {
        if (cur >= limit)
            return false;
    } while (!atomic_compare_exchange_weak(&inflight, &cur, cur + 1));
    return true;
}

void tls_pool_unreserve(void)
{
    atomic_fetch_sub(&inflight, 1);
}

// The least loaded thread, scanning from a rotating start so that equal loads take turns: a
// token's library blocks the thread that calls it, so an operation queued behind a busy thread
// would wait while another sits idle.
void tls_pool_post(struct core_msg *msg)
{
    unsigned start = atomic_fetch_add_explicit(&rotor, 1, memory_order_relaxed);
    int best = (int)(start % (unsigned)nthreads);
    unsigned best_n = atomic_load_explicit(&load[best].n, memory_order_relaxed);
    for (int i = 1; i < nthreads && best_n > 0; i++) {
        int j = (int)((start + (unsigned)i) % (unsigned)nthreads);
        unsigned n = atomic_load_explicit(&load[j].n, memory_order_relaxed);
        if (n < best_n) {
            best = j;
            best_n = n;
        }
    }
    atomic_fetch_add_explicit(&load[best].n, 1, memory_order_relaxed);
    core_worker_post(core_workers_get(pool, best), msg);
}

void tls_pool_ran(void)
{
    struct core_worker *w = core_worker_self();
    CORE_ASSERT(w && load);
    atomic_fetch_sub_explicit(&load[core_worker_id(w)].n, 1, memory_order_relaxed);
}
