// SPDX-License-Identifier: Apache-2.0
// bench/stats.h: what one worker thread counts during a run (operations, latency, errors by kind
// and detail, handshake parameters, served certificates) and the merge of all workers' counts
// into the run's totals.
//
// Threads: a struct bench_stats is written by its worker only. The main thread may read the
// atomic fields (all_ops, ops, errors, body_bytes, open, hist) at any time for the progress line;
// every other field is read only after the worker has been joined. Ownership: caller storage; no
// function allocates.
#ifndef TLSEDGE_BENCH_STATS_H
#define TLSEDGE_BENCH_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench/hist.h"

// enum bench_err_kind: the kinds of failed operation (the keys of the report's "errors").
enum bench_err_kind {
    BENCH_ERR_CONNECT,   // socket()/connect() failed (detail: errno name)
    BENCH_ERR_HANDSHAKE, // the TLS handshake failed (detail: BoringSSL reason)
    BENCH_ERR_TIMEOUT,   // --timeout passed (detail: the state it was in)
    BENCH_ERR_HTTP,      // a response with a status other than 2xx (detail: the status)
    BENCH_ERR_EOF,       // the server closed too early (detail: the state)
    BENCH_ERR_IO,        // a read or write failed (detail: errno name or BoringSSL reason)
    BENCH_ERR_PROTO,     // a malformed HTTP response (detail: what)
    BENCH_ERR_KINDS,
};

// BENCH_MAX_DETAILS: distinct "kind:detail" keys kept per worker; more are counted as "other".
#define BENCH_MAX_DETAILS 32
// BENCH_MAX_CERTS: distinct leaf certificates counted per worker; more go to "other".
#define BENCH_MAX_CERTS 32

// struct bench_tuple: what a handshake negotiated.
struct bench_tuple {
    uint16_t version; // SSL_version()
    uint16_t cipher;  // SSL_CIPHER_get_protocol_id()
    uint16_t group;   // SSL_get_curve_id()
    uint16_t sigalg;  // SSL_get_peer_signature_algorithm(); 0 on a resumption without one
    char alpn[24];    // the negotiated ALPN protocol, "" for none
};

// struct bench_detail: one "kind:detail" error key and its count.
struct bench_detail {
    char key[64];
    uint64_t n;
};

// struct bench_cert: one served leaf certificate (SHA-256 of its DER) and its count.
struct bench_cert {
    uint8_t fp[32];
    uint64_t n;
};

// struct bench_stats: one worker's counts; see the header comment for who reads what.
struct bench_stats {
    _Atomic uint64_t all_ops;    // successful operations, warm-up included (progress line)
    _Atomic uint64_t ops;        // successful operations in the measured window
    _Atomic uint64_t errors;     // failed operations in the measured window
    _Atomic uint64_t body_bytes; // response body bytes received in the window
    _Atomic uint64_t open;       // idle: connections established and held now
    uint64_t handshakes;         // handshakes completed in the window
    uint64_t resumed;            // of which resumed
    uint64_t tickets;            // sessions (tickets) received, whole run
    uint64_t err_kind[BENCH_ERR_KINDS];
    struct bench_detail detail[BENCH_MAX_DETAILS];
    size_t n_detail;
    uint64_t detail_other;
    bool have_first;             // first is set
    uint64_t first_ns;           // when the first handshake of the run completed
    struct bench_tuple first;    // what it negotiated
    uint64_t tuples;             // handshakes whose tuple was compared (whole run)
    uint64_t mismatches;         // of which negotiated something other than first
    struct bench_tuple mismatch; // the first such tuple
    struct bench_cert cert[BENCH_MAX_CERTS];
    size_t n_cert;
    uint64_t cert_other;
    struct bench_hist hist; // latency of the successful operations in the window
};

// bench_err_kind_name returns the report name of kind ("connect", ...), a static string.
const char *bench_err_kind_name(enum bench_err_kind kind);

// bench_stats_init zeroes s.
void bench_stats_init(struct bench_stats *s);

// bench_stats_op counts one successful operation that took latency_ns.
void bench_stats_op(struct bench_stats *s, uint64_t latency_ns);

// bench_stats_error counts one failed operation of kind; detail (borrowed, may be NULL) is what
// the "kind:detail" key is made of.
void bench_stats_error(struct bench_stats *s, enum bench_err_kind kind, const char *detail);

// bench_stats_tuple records what a handshake completed at now_ns negotiated: the first one is
// kept, later ones are compared with it (a resumption without a signature matches any
// signature algorithm).
void bench_stats_tuple(struct bench_stats *s, const struct bench_tuple *t, uint64_t now_ns);

// bench_stats_cert counts one handshake served with the leaf certificate of fingerprint fp.
void bench_stats_cert(struct bench_stats *s, const uint8_t fp[32]);

// bench_stats_merge adds src (a joined worker's counts) into dst. The run's first tuple is the
// earliest; a worker whose first tuple differs from it counts its matching handshakes as
// mismatches.
void bench_stats_merge(struct bench_stats *dst, const struct bench_stats *src);

// bench_tuple_equal is true when a and b negotiated the same (sigalg 0 matches any).
bool bench_tuple_equal(const struct bench_tuple *a, const struct bench_tuple *b);

#endif
