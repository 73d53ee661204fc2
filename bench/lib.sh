#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# bench/lib.sh: what the bench scripts share (sourced, not run): a private temporary directory,
# at exit stopping by PID exactly the processes the script started, waiting for a port, and
# starting tlsedge pinned to CPU 0.

# bench_tmp NAME: T = a new directory /tmp/tlsedge-NAME.XXXXXX, PIDS = "" (the script appends the
# PID of every process it starts), and an EXIT trap: kill and reap every PID in PIDS, then run
# bench_cleanup_extra when the script defines it (stopping tokens, removing a cgroup), then
# remove T.
bench_tmp() {
    T=$(mktemp -d "/tmp/tlsedge-$1.XXXXXX")
    PIDS=""
    trap bench_cleanup EXIT
}

bench_cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    if declare -F bench_cleanup_extra >/dev/null; then bench_cleanup_extra; fi
    rm -rf "$T"
}

# bench_wait_port PORT: returns 0 once something listens on PORT, 1 after 5 s.
bench_wait_port() {
    for _ in $(seq 50); do
        ss -Htln "sport = :$1" | grep -q . && return 0
        sleep 0.1
    done
    return 1
}

# bench_start_tlsedge PORT: starts $B/tlsedge -C $T pinned to CPU 0 (output in $T/tlsedge.log),
# adds it to PIDS and sets TL; returns once PORT listens, or exits 1 with the log after 5 s.
bench_start_tlsedge() {
    taskset -c 0 "$B/tlsedge" -C "$T" >"$T/tlsedge.log" 2>&1 &
    TL=$!
    PIDS="$PIDS $TL"
    bench_wait_port "$1" && return 0
    echo "tlsedge did not start:" >&2
    cat "$T/tlsedge.log" >&2
    exit 1
}
