// SPDX-License-Identifier: Apache-2.0
// bench/stats.c: one worker's counters and the merge into the run's totals (see bench/stats.h).
// The atomic counters have a single writer, so they are bumped with a relaxed load and store,
// never a locked instruction; the tables are short arrays searched linearly (a run sees a
// handful of distinct errors and certificates).
#include "bench/stats.h"

#include <stdio.h>
#include <string.h>

static const char *const kind_names[BENCH_ERR_KINDS] = {
    [BENCH_ERR_CONNECT] = "connect", [BENCH_ERR_HANDSHAKE] = "handshake",
    [BENCH_ERR_TIMEOUT] = "timeout", [BENCH_ERR_HTTP] = "http",
    [BENCH_ERR_EOF] = "eof",         [BENCH_ERR_IO] = "io",
    [BENCH_ERR_PROTO] = "proto",
};

const char *bench_err_kind_name(enum bench_err_kind kind)
{
    return kind_names[kind];
}

// bump adds v to the single-writer counter c.
static void bump(_Atomic uint64_t *c, uint64_t v)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
                          memory_order_relaxed);
}

void bench_stats_init(struct bench_stats *s)
{
    memset(s, 0, sizeof(*s));
    atomic_init(&s->all_ops, 0);
    atomic_init(&s->ops, 0);
    atomic_init(&s->errors, 0);
    atomic_init(&s->body_bytes, 0);
    atomic_init(&s->open, 0);
    bench_hist_init(&s->hist);
}

void bench_stats_op(struct bench_stats *s, uint64_t latency_ns)
{
    bench_hist_add(&s->hist, latency_ns);
    bump(&s->ops, 1);
}

// add_detail counts n under key in s's detail table.
static void add_detail(struct bench_stats *s, const char *key, uint64_t n)
{
    for (size_t i = 0; i < s->n_detail; i++) {
        if (strcmp(s->detail[i].key, key) == 0) {
            s->detail[i].n += n;
            return;
        }
    }
    if (s->n_detail == BENCH_MAX_DETAILS) {
        s->detail_other += n;
        return;
    }
    snprintf(s->detail[s->n_detail].key, sizeof(s->detail[0].key), "%s", key);
    s->detail[s->n_detail++].n = n;
}

void bench_stats_error(struct bench_stats *s, enum bench_err_kind kind, const char *detail)
{
    char key[sizeof(s->detail[0].key)];

    s->err_kind[kind]++;
    bump(&s->errors, 1);
    snprintf(key, sizeof(key), "%s:%s", kind_names[kind], detail != NULL ? detail : "-");
    add_detail(s, key, 1);
}

bool bench_tuple_equal(const struct bench_tuple *a, const struct bench_tuple *b)
{
    return a->version == b->version && a->cipher == b->cipher && a->group == b->group &&
           (a->sigalg == b->sigalg || a->sigalg == 0 || b->sigalg == 0) &&
           strcmp(a->alpn, b->alpn) == 0;
}

void bench_stats_tuple(struct bench_stats *s, const struct bench_tuple *t, uint64_t now_ns)
{
    if (!s->have_first) {
        s->have_first = true;
        s->first_ns = now_ns;
        s->first = *t;
        return;
    }
    s->tuples++;
    if (bench_tuple_equal(&s->first, t))
        return;
    if (s->mismatches++ == 0)
        s->mismatch = *t;
}

// add_cert counts n handshakes for fingerprint fp in s.
static void add_cert(struct bench_stats *s, const uint8_t fp[32], uint64_t n)
{
    for (size_t i = 0; i < s->n_cert; i++) {
        if (memcmp(s->cert[i].fp, fp, 32) == 0) {
            s->cert[i].n += n;
            return;
        }
    }
    if (s->n_cert == BENCH_MAX_CERTS) {
        s->cert_other += n;
        return;
    }
    memcpy(s->cert[s->n_cert].fp, fp, 32);
    s->cert[s->n_cert++].n = n;
}

void bench_stats_cert(struct bench_stats *s, const uint8_t fp[32])
{
    add_cert(s, fp, 1);
}

// merge_tuples folds src's negotiated parameters into dst.
static void merge_tuples(struct bench_stats *dst, const struct bench_stats *src)
{
    if (!src->have_first)
        return;
    if (!dst->have_first || src->first_ns < dst->first_ns) {
        bool differ = dst->have_first && !bench_tuple_equal(&dst->first, &src->first);
        uint64_t old_matching = dst->tuples + 1 - dst->mismatches;

        if (differ) {
            // Everything dst had agreed with its old first, which now is the odd one out.
            dst->mismatch = dst->first;
            dst->mismatches = old_matching;
        }
        dst->tuples += dst->have_first ? 1 : 0;
        dst->have_first = true;
        dst->first = src->first;
        dst->first_ns = src->first_ns;
        dst->tuples += src->tuples;
        dst->mismatches += src->mismatches;
        if (src->mismatches > 0 && !differ)
            dst->mismatch = src->mismatch;
        return;
    }
    dst->tuples += src->tuples + 1;
    if (bench_tuple_equal(&dst->first, &src->first)) {
        if (dst->mismatches == 0 && src->mismatches > 0)
            dst->mismatch = src->mismatch;
        dst->mismatches += src->mismatches;
    } else {
        if (dst->mismatches == 0)
            dst->mismatch = src->first;
        dst->mismatches += src->tuples + 1 - src->mismatches;
    }
}

void bench_stats_merge(struct bench_stats *dst, const struct bench_stats *src)
{
    bump(&dst->all_ops, atomic_load_explicit(&src->all_ops, memory_order_relaxed));
    bump(&dst->ops, atomic_load_explicit(&src->ops, memory_order_relaxed));
    bump(&dst->errors, atomic_load_explicit(&src->errors, memory_order_relaxed));
    bump(&dst->body_bytes, atomic_load_explicit(&src->body_bytes, memory_order_relaxed));
    bump(&dst->open, atomic_load_explicit(&src->open, memory_order_relaxed));
    dst->handshakes += src->handshakes;
    dst->resumed += src->resumed;
    dst->tickets += src->tickets;
    for (int k = 0; k < BENCH_ERR_KINDS; k++)
        dst->err_kind[k] += src->err_kind[k];
    for (size_t i = 0; i < src->n_detail; i++)
        add_detail(dst, src->detail[i].key, src->detail[i].n);
    dst->detail_other += src->detail_other;
    for (size_t i = 0; i < src->n_cert; i++)
        add_cert(dst, src->cert[i].fp, src->cert[i].n);
    dst->cert_other += src->cert_other;
    merge_tuples(dst, src);
    bench_hist_merge(&dst->hist, &src->hist);
}
