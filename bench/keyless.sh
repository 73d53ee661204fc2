#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# bench/keyless.sh: full-handshake rates with keys on a keyless signer (tlsedge-keyserver) at
# several signer delays and handshake pool sizes, beside the file-key rate, and the p99 latency
# of file-key handshakes on the same worker while slow keyless handshakes run.
#
# tlsedge runs one worker pinned to CPU 0; the bench and the signer share CPU 1 (the signer
# stands for a remote machine). Loopback only; every process is stopped by PID.
# Usage: bench/keyless.sh [--quick]    Writes bench/results/keyless.md.
set -eu
cd "$(dirname "$0")/.."
B=${BUILD:-build}
DUR=4
[ "${1:-}" = "--quick" ] && DUR=2
. bench/lib.sh
bench_tmp keyless

sh tests/fixtures/mkcerts.sh "$T/pki" >/dev/null
mkdir -p "$T/keys"
cp "$T/pki/b.test.key" "$T/keys/"
port() { echo $((20000 + RANDOM % 12000)); }
KP=$(port)
TP=$(port)

start_signer() { # DELAY
    "$B/tlsedge-keyserver" --keys "$T/keys" --listen "127.0.0.1:$KP" --delay-ms "$1" \
        --threads 1 --max-seconds 600 >"$T/ks.log" 2>&1 &
    KS=$!
    PIDS="$PIDS $KS"
    taskset -pc 1 "$KS" >/dev/null
    sleep 0.3
}
start_tlsedge() { # POOL_THREADS
    cat >"$T/records.config" <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.exec_thread.affinity INT 1
CONFIG proxy.config.tlsedge.handshake_threads INT $1
CONFIG proxy.config.ssl.server.cert.path STRING $T/pki
CONFIG proxy.config.ssl.server.private_key.path STRING $T/pki
CFG
    cat >"$T/ssl_multicert.config" <<CFG
ssl_cert_name=a.test.pem ssl_key_name=a.test.key
ssl_cert_name=b.test.pem ssl_key_name=keyless://127.0.0.1:$KP
CFG
    bench_start_tlsedge "$TP"
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
run() { # SNI ARGS... -> JSON
    "$B/tlsedge-bench" handshake --sni "$1" --cpu 1 --server-pid "$TL" -d "$DUR" --warmup 1 \
        --json --quiet "${@:2}" "127.0.0.1:$TP" 2>/dev/null
}
fmt() { jq -r '"\(.rate|floor) \(.server_cpu_pct|floor) \(.errors_total) \(.p99_ms)"'; }

out=bench/results/keyless.md
{
    echo "# Keyless handshakes ($(date -u +%Y-%m-%d), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs)"
    echo
    echo "tlsedge: 1 worker on CPU 0, $("$B/tlsedge" --version | tail -n 1)."
    echo "Bench and signer (\`tlsedge-keyserver --threads 1\`) on CPU 1. ECDSA P-256, TLS 1.3,"
    echo "X25519, \`tlsedge-bench handshake -c 128 -d $DUR\`. Rates in handshakes/s (server CPU %)."
    echo
} >"$out"

start_signer 0
start_tlsedge 4
file=$(run a.test -c 128 | fmt)
stop "$TL"
echo "File key alone: $(echo "$file" | awk '{print $1 "/s (server CPU " $2 " %)"}')" >>"$out"
echo >>"$out"
echo "| signer delay | pool 1 | pool 4 | pool 16 | pool 64 |" >>"$out"
echo "|---|---|---|---|---|" >>"$out"
stop "$KS"
for d in 0 5 20; do
    start_signer "$d"
    row="| ${d} ms |"
    for p in 1 4 16 64; do
        start_tlsedge "$p"
        r=$(run b.test -c 128 | fmt)
        stop "$TL"
        row="$row $(echo "$r" | awk '{printf "%d (%d %%)%s", $1, $2, ($3 > 0 ? ", " $3 " errors" : "")}') |"
    done
    echo "$row" >>"$out"
    stop "$KS"
done

# p99 of file-key handshakes at a fixed 200/s alone, then beside 128 keyless handshakes in
# flight on a 5 ms signer.
start_signer 5
start_tlsedge 4
alone=$(run a.test -c 8 --rate 200 | jq -r .p99_ms)
"$B/tlsedge-bench" handshake --sni b.test --cpu 1 -c 128 -d $((DUR + 2)) --warmup 0 --quiet \
    "127.0.0.1:$TP" >/dev/null 2>&1 &
bg=$!
PIDS="$PIDS $bg"
sleep 1
beside=$(run a.test -c 8 --rate 200 | jq -r .p99_ms)
wait "$bg" || true
{
    echo
    echo "File-key handshakes at 200/s on the same worker: p99 ${alone} ms alone, ${beside} ms while"
    echo "128 keyless handshakes on a 5 ms signer run beside them."
} >>"$out"
cat "$out"
