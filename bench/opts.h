// SPDX-License-Identifier: Apache-2.0
// bench/opts.h: tlsedge-bench's command line: the modes, every option with its default, the
// target address (resolved once, here) and the --help text.
//
// Threads: parsed once by the main thread before any worker starts; afterwards a struct
// bench_opts is read-only and shared by every thread. Ownership: string fields point into argv
// (which lives as long as the process); the rest is held by value.
#ifndef TLSEDGE_BENCH_OPTS_H
#define TLSEDGE_BENCH_OPTS_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

// enum bench_mode: what one operation is.
enum bench_mode {
    BENCH_MODE_HANDSHAKE, // connect, full handshake, close
    BENCH_MODE_RESUME,    // connect, resumed handshake (a session from an earlier one), close
    BENCH_MODE_REQUEST,   // connect, handshake, one GET, close
    BENCH_MODE_KEEPALIVE, // one GET on a persistent connection
    BENCH_MODE_BULK,      // one large GET on a persistent connection (MB/s)
    BENCH_MODE_IDLE,      // open N connections and hold them (server bytes per connection)
};

// BENCH_MAX_SIGALGS: how many --sigalgs entries are kept.
#define BENCH_MAX_SIGALGS 16

// struct bench_opts: the parsed command line. Every field is set by bench_opts_parse().
struct bench_opts {
    enum bench_mode mode;
    uint64_t idle_n;    // idle: connections to open
    unsigned conns;     // -c: connections at once
    unsigned threads;   // -t
    double duration_s;  // -d
    double warmup_s;    // --warmup
    double rate;        // --rate: new connections or requests per second, 0 = unpaced
    uint64_t max_ops;   // --max, 0 = no bound
    int tls_version;    // TLS1_2_VERSION or TLS1_3_VERSION (min = max)
    const char *sni;    // NULL: no server_name
    uint8_t alpn[256];  // --alpn in wire format (length-prefixed names)
    size_t alpn_len;    // 0: no ALPN
    const char *groups; // --groups, BoringSSL curves list
    uint16_t sigalgs[BENCH_MAX_SIGALGS]; // --sigalgs as TLS SignatureScheme values
    size_t n_sigalgs;                    // 0: BoringSSL's defaults
    const char *cipher;                  // --cipher (TLS 1.2), NULL: BoringSSL's defaults
    const char *verify_ca;               // --verify CAFILE, NULL: no chain verification
    bool count_certs;                    // --count-certs
    pid_t server_pid;                    // --server-pid, 0: none
    bool json;                           // --json
    bool quiet;                          // --quiet
    bool pin;                            // --cpu given
    cpu_set_t cpus;                      // --cpu
    unsigned timeout_ms;                 // --timeout
    unsigned ticket_wait_ms;             // --ticket-wait
    unsigned src_ips;                    // --src-ips: rotate over 127.0.0.1..127.0.0.N, 0 = no bind
    bool debug;                          // --debug: log every state change (slow)
    const char *path;                    // --path
    char host_header[300];               // --host, or derived from the target
    char host[256];                      // the target's host as written (no brackets)
    bool host_is_ip;                     // host is an IP literal
    uint16_t port;
    const char *target;           // HOST:PORT as written
    struct sockaddr_storage addr; // resolved target
    socklen_t addrlen;
};

// BENCH_VERSION: the version --version prints (tlsedge's release it was built with).
#define BENCH_VERSION "0.1.0"

// bench_opts_parse parses argv into o (all of it: defaults first) and resolves the target.
// Returns 0 on success, 1 when --help was asked for (the caller prints bench_opts_usage() and
// exits 0), 2 when --version was (the caller prints bench_opts_version()), or -EINVAL for a
// usage error, with a one-line reason in err (errlen bytes, always NUL-terminated). o keeps
// pointers into argv.
int bench_opts_parse(struct bench_opts *o, int argc, char **argv, char *err, size_t errlen);

// bench_opts_usage writes the --help text to f.
void bench_opts_usage(FILE *f);

// bench_opts_version writes the --version text to f: the version, and which BoringSSL build is
// linked (the Makefile's description of it, and its API version).
void bench_opts_version(FILE *f);

// bench_mode_name returns the mode's command-line name ("handshake", ...), a static string.
const char *bench_mode_name(enum bench_mode m);

// bench_mode_uses_http is true for the modes that send HTTP requests.
bool bench_mode_uses_http(enum bench_mode m);

#endif
