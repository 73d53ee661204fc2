// SPDX-License-Identifier: Apache-2.0
// bench/hist.h: a log-linear latency histogram (nanoseconds), cheap to add to and accurate to
// about 0.4 %.
//
// Values below 128 ns have a bucket each; above, every power of two [2^e, 2^(e+1)) is cut into
// 128 equal buckets, so a bucket is at most 1/128 of its lower bound wide and its midpoint is
// within 0.4 % of any value in it (the layout of HdrHistogram with 7 significant bits).
// Values from 2^BENCH_HIST_MAX_EXP ns (about 18 minutes) up share the last bucket.
//
// Threads: one thread (the owner) adds; any thread may read a histogram at any time (the
// progress line reads the workers' histograms while they run). Counts are relaxed atomics written
// by their single owner, so a reader sees each bucket either before or after an add, never torn.
// Ownership: caller storage (about 36 KiB); no function allocates.
#ifndef TLSEDGE_BENCH_HIST_H
#define TLSEDGE_BENCH_HIST_H

#include <stdatomic.h>
#include <stdint.h>

// BENCH_HIST_SUB_BITS: log2 of the buckets per power of two.
#define BENCH_HIST_SUB_BITS 7
// BENCH_HIST_MAX_EXP: values of 2^BENCH_HIST_MAX_EXP ns and more land in the last bucket.
#define BENCH_HIST_MAX_EXP 40
// BENCH_HIST_BUCKETS: the number of buckets.
#define BENCH_HIST_BUCKETS ((BENCH_HIST_MAX_EXP - BENCH_HIST_SUB_BITS + 1) << BENCH_HIST_SUB_BITS)

// struct bench_hist: the counts; zero it with bench_hist_init(). Fields belong to bench/hist.c.
struct bench_hist {
    _Atomic uint64_t _total;
    _Atomic uint64_t _sum_ns;
    _Atomic uint64_t _max_ns;
    _Atomic uint64_t _count[BENCH_HIST_BUCKETS];
};

// bench_hist_init sets every count of h to zero.
void bench_hist_init(struct bench_hist *h);

// bench_hist_add counts one value of ns nanoseconds in h. Owner thread only.
void bench_hist_add(struct bench_hist *h, uint64_t ns);

// bench_hist_merge adds the counts of src to dst. dst must belong to the calling thread (or be
// private to it); src may be owned by another thread that is still adding.
void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src);

// bench_hist_total returns how many values h has counted.
uint64_t bench_hist_total(const struct bench_hist *h);

// bench_hist_percentile returns the value (ns, the midpoint of its bucket) below or at which a
// fraction p (0 < p <= 1) of the counted values lie, or 0 when h is empty.
double bench_hist_percentile(const struct bench_hist *h, double p);

// bench_hist_mean returns the exact mean of the counted values in ns, or 0 when h is empty.
double bench_hist_mean(const struct bench_hist *h);

// bench_hist_max returns the largest value counted (exact, ns), or 0 when h is empty.
uint64_t bench_hist_max(const struct bench_hist *h);

#endif
