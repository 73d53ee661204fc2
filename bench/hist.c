// SPDX-License-Identifier: Apache-2.0
// bench/hist.c: the log-linear latency histogram (see bench/hist.h for the bucket layout).
// bench_hist_add is on every operation's path: a count-leading-zeros, a shift and three relaxed
// load/store pairs, no locked instruction (the owner is the only writer).
#include "bench/hist.h"

#include <stddef.h>

#define SUB (1u << BENCH_HIST_SUB_BITS)

// bump adds v to the single-writer counter c without a locked instruction.
static void bump(_Atomic uint64_t *c, uint64_t v)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
                          memory_order_relaxed);
}

// bucket_of returns the bucket index of ns.
static size_t bucket_of(uint64_t ns)
{
    unsigned e, shift;

    if (ns < SUB)
        return (size_t)ns;
    e = 63u - (unsigned)__builtin_clzll(ns);
    if (e >= BENCH_HIST_MAX_EXP)
        return BENCH_HIST_BUCKETS - 1;
    shift = e - BENCH_HIST_SUB_BITS;
    return ((size_t)(shift + 1) << BENCH_HIST_SUB_BITS) + (size_t)((ns >> shift) - SUB);
}

// bucket_mid returns the midpoint (ns) of bucket i.
static double bucket_mid(size_t i)
{
    size_t shift;
    double lower;

    if (i < SUB)
        return (double)i;
    shift = (i >> BENCH_HIST_SUB_BITS) - 1;
    lower = (double)((uint64_t)(SUB + (i & (SUB - 1))) << shift);
    return lower + (double)((uint64_t)1 << shift) / 2.0;
}

void bench_hist_init(struct bench_hist *h)
{
    atomic_init(&h->_total, 0);
    atomic_init(&h->_sum_ns, 0);
    atomic_init(&h->_max_ns, 0);
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++)
        atomic_init(&h->_count[i], 0);
}

void bench_hist_add(struct bench_hist *h, uint64_t ns)
{
    bump(&h->_count[bucket_of(ns)], 1);
    bump(&h->_sum_ns, ns);
    if (ns > atomic_load_explicit(&h->_max_ns, memory_order_relaxed))
        atomic_store_explicit(&h->_max_ns, ns, memory_order_relaxed);
    // The total last: a reader that sees it has (nearly always) seen the bucket too.
    bump(&h->_total, 1);
}

void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src)
{
    uint64_t m = atomic_load_explicit(&src->_max_ns, memory_order_relaxed);
    uint64_t total = 0;

    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
        uint64_t c = atomic_load_explicit(&src->_count[i], memory_order_relaxed);

        if (c != 0) {
            bump(&dst->_count[i], c);
            total += c;
        }
    }
    // The sum of the buckets, not src's _total: percentiles walk the buckets and must reach it.
    bump(&dst->_total, total);
    bump(&dst->_sum_ns, atomic_load_explicit(&src->_sum_ns, memory_order_relaxed));
    if (m > atomic_load_explicit(&dst->_max_ns, memory_order_relaxed))
        atomic_store_explicit(&dst->_max_ns, m, memory_order_relaxed);
}

uint64_t bench_hist_total(const struct bench_hist *h)
{
    return atomic_load_explicit(&h->_total, memory_order_relaxed);
}

double bench_hist_percentile(const struct bench_hist *h, double p)
{
    uint64_t total = bench_hist_total(h), rank, seen = 0;

    if (total == 0)
        return 0;
    rank = (uint64_t)(p * (double)total + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > total)
        rank = total;
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += atomic_load_explicit(&h->_count[i], memory_order_relaxed);
        if (seen >= rank)
            return bucket_mid(i);
    }
    return (double)bench_hist_max(h); // a concurrent reader raced the owner: best estimate
}

double bench_hist_mean(const struct bench_hist *h)
{
    uint64_t total = bench_hist_total(h);

    if (total == 0)
        return 0;
    return (double)atomic_load_explicit(&h->_sum_ns, memory_order_relaxed) / (double)total;
}

uint64_t bench_hist_max(const struct bench_hist *h)
{
    return atomic_load_explicit(&h->_max_ns, memory_order_relaxed);
}
