// SPDX-License-Identifier: Apache-2.0
// tls/pool.c: the handshake pool threads and the in-flight bound (see tls/pool.h).
#include "tls/pool.h"
#include "core/worker.h"
#include "tls/keyless.h"
#include "tls/pkcs11.h"

#include <errno.h>
#include <stdatomic.h>
#include <urcu-qsbr.h>

static struct core_workers *pool;
static int nthreads;
static size_t limit;
static _Atomic size_t inflight;

static void pool_thread_stop(struct core_worker *w, void *arg)
{
    tls_keyless_thread_fini();
    tls_pkcs11_thread_fini();
}

int tls_pool_start(int n, size_t queue_max)
{
    if (n <= 0)
        return 0;
    pool = core_workers_new(n, false, "hs");
    if (!pool)
        return -errno;
    int rc = core_workers_start(pool, NULL, pool_thread_stop, NULL);
    if (rc < 0) {
        core_workers_free(pool);
        pool = NULL;
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

void tls_pool_post(unsigned hint, struct core_msg *msg)
{
    core_worker_post(core_workers_get(pool, (int)(hint % (unsigned)nthreads)), msg);
}
