// SPDX-License-Identifier: Apache-2.0
// bench/report.h: tlsedge-bench's final report, as text for people or as one JSON object for
// scripts (the field names are documented in bench/README.md and are an interface: bench/
// compare.sh parses them).
//
// Threads: main thread only, after every worker has been joined. Ownership: the result and
// what it points to are borrowed for the call.
#ifndef TLSEDGE_BENCH_REPORT_H
#define TLSEDGE_BENCH_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct bench_opts;
struct bench_stats;

// struct bench_result: the run's merged counts and what was measured around them.
struct bench_result {
    const struct bench_opts *o;
    const struct bench_stats *s; // merged over the workers
    unsigned threads;            // workers actually run
    double seconds;              // the measured window (idle: the time to open the connections)
    double warmup;               // seconds of warm-up before it
    bool interrupted;            // SIGINT/SIGTERM ended the run early
    double client_cpu_pct;       // this process over the window, 100 = one core
    bool have_server_cpu;
    double server_cpu_pct; // --server-pid over the window
    bool have_rss;         // idle mode with --server-pid
    uint64_t rss_before_kb, rss_after_kb;
    double hold_seconds;     // idle: how long the connections were held
    uint64_t held;           // idle: connections still open at the end of the hold
    uint64_t connected;      // TCP connections established (whole run)
    const char *ticket_mode; // what thread 0 learnt of the server's TLS 1.3 tickets
};

// bench_report_text writes the human-readable report to f.
void bench_report_text(FILE *f, const struct bench_result *r);

// bench_report_json writes the report as one JSON object and a newline to f.
void bench_report_json(FILE *f, const struct bench_result *r);

#endif
