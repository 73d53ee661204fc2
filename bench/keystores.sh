#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# bench/keystores.sh: full-handshake rates with keys that block (a keyless signer at 0, 5 and
# 20 ms, SoftHSM2 and a software TPM through p11-kit), in both handshake offload modes (`key`:
# only the signature goes to the pool; `accept`: the connection is lent to a pool thread), beside
# each token's own signing rate measured alone with the same number of threads
# (build/tools/p11sign), which is the ceiling a handshake rate is compared with.
#
# tlsedge runs one worker pinned to CPU 0 with POOL handshake threads; the bench client and the
# keyless signer share CPU 1; the p11-kit servers, SoftHSM2 and swtpm are not pinned (they stand
# for the HSM or TPM). Tokens are made at run time by tests/fixtures/keystores.sh in a private
# directory; loopback only; every process is stopped by PID. Run it on a quiet machine: the
# figures mean nothing while other work shares the CPUs.
#
# Usage: bench/keystores.sh [--duration S] [--pool N] [--conns N] [--out FILE] [--only LIST]
#   --duration S  seconds per run (default 4; 1 s warm-up before each)
#   --pool N      proxy.config.tlsedge.handshake_threads and p11sign threads (default 4)
#   --conns N     concurrent bench connections (default 64)
#   --out FILE    the Markdown report (default bench/results/keystores.md)
#   --only LIST   comma list of backends: keyless0,keyless5,keyless20,softhsm,tpm (default all)
set -eu
cd "$(dirname "$0")/.."
B=${BUILD:-build}
DUR=4
POOL=4
CONNS=64
OUT=bench/results/keystores.md
ONLY=keyless0,keyless5,keyless20,softhsm,tpm
while [ $# -gt 0 ]; do
    case "$1" in
    --duration) DUR=$2; shift 2 ;;
    --pool) POOL=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
for f in "$B/tlsedge" "$B/tlsedge-bench" "$B/tlsedge-keyserver" "$B/tools/p11sign"; do
    [ -x "$f" ] || { echo "missing $f: run make first" >&2; exit 1; }
done

T=$(mktemp -d /tmp/tlsedge-keystores.XXXXXX)
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    bash tests/fixtures/keystores.sh stop "$T/ks" 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT
want() { case ",$ONLY," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

sh tests/fixtures/mkcerts.sh "$T/pki" >/dev/null
bash tests/fixtures/keystores.sh start "$T/ks" "$T/pki/ca.pem" "$T/pki/ca.key" >"$T/ks.log" 2>&1 || {
    cat "$T/ks.log" >&2
    exit 1
}
. "$T/ks/keystores.env"
mkdir -p "$T/keys"
cp "$T/pki/a.test.key" "$T/keys/"
port() { echo $((20000 + RANDOM % 12000)); }
KP=$(port)
TP=$(port)

start_signer() { # DELAY_MS
    "$B/tlsedge-keyserver" --keys "$T/keys" --listen "127.0.0.1:$KP" --delay-ms "$1" \
        --threads 1 --max-seconds 900 >"$T/ks-signer.log" 2>&1 &
    KS=$!
    PIDS="$PIDS $KS"
    taskset -pc 1 "$KS" >/dev/null
    sleep 0.3
}
start_tlsedge() { # MODE SERVER_ADDRESS KEY_LINE
    cat >"$T/records.config" <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.exec_thread.affinity INT 1
CONFIG proxy.config.tlsedge.handshake_threads INT $POOL
CONFIG proxy.config.tlsedge.handshake_offload STRING $1
CONFIG proxy.config.tlsedge.pkcs11.server_address STRING ${2:-NULL}
CONFIG proxy.config.ssl.server.cert.path STRING $T/ks
CFG
    echo "$3" >"$T/ssl_multicert.config"
    taskset -c 0 "$B/tlsedge" -C "$T" >"$T/tlsedge.log" 2>&1 &
    TL=$!
    PIDS="$PIDS $TL"
    for _ in $(seq 50); do ss -Htln "sport = :$TP" | grep -q . && return 0; sleep 0.1; done
    echo "tlsedge did not start:" >&2
    cat "$T/tlsedge.log" >&2
    exit 1
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
run() { # SNI -> "rate cpu errors p99"
    "$B/tlsedge-bench" handshake --sni "$1" --cpu 1 --server-pid "$TL" -d "$DUR" --warmup 1 \
        -c "$CONNS" --json --quiet "127.0.0.1:$TP" 2>/dev/null |
        jq -r '"\(.rate|floor) \(.server_cpu_pct|floor) \(.errors_total) \(.p99_ms * 10 | floor / 10)"'
}
cell() { awk '{printf "%d/s (CPU %d %%, p99 %s ms%s)", $1, $2, $4, ($3 > 0 ? ", " $3 " errors" : "")}'; }
ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat; }
alone() { # ADDR TOKEN LABEL -> "rate machine-cpu-%" (all CPUs busy: 100 % x CPUs)
    local t0 t1 rate
    t0=$(ticks)
    rate=$(P11_KIT_SERVER_ADDRESS=$1 "$B/tools/p11sign" -t "$2" -l "$3" -p "$KS_PIN_FILE" \
        -n "$POOL" -d "$DUR" | jq -r '.rate|floor')
    t1=$(ticks)
    echo "$rate $(echo "$t0 $t1" | awk -v n="$(nproc)" '{b = $3 - $1; t = $4 - $2;
        printf "%d", (t > 0 ? 100 * n * b / t : 0)}')"
}

{
    echo "# Handshakes with blocking keys ($(date -u '+%Y-%m-%d %H:%M UTC'), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs)"
    echo
    echo "tlsedge: 1 worker on CPU 0, $POOL handshake threads, $("$B/tlsedge" --version | tail -n 1)."
    echo "\`tlsedge-bench handshake -c $CONNS -d $DUR\` on CPU 1 (TLS 1.3, X25519); the keyless"
    echo "signer (\`tlsedge-keyserver --threads 1\`) on CPU 1; p11-kit servers and tokens unpinned."
    echo "\"alone\": the token's own signing rate, \`build/tools/p11sign -n $POOL\` through the same"
    echo "p11-kit server, with the machine's CPU use meanwhile (100 % per busy CPU: near"
    echo "$(($(nproc) * 100)) % the token alone already takes every CPU the handshakes would need);"
    echo "\"share\": the better mode's handshake rate divided by it (goal: 90 %)."
    echo
    echo "| key | mode key | mode accept | alone | share |"
    echo "|---|---|---|---|---|"
} >"$OUT"

# row NAME SNI ADDR KEY_LINE ALONE: one table row, both modes.
row() {
    local r_key r_acc best share
    start_tlsedge key "$3" "$4"
    r_key=$(run "$2")
    stop "$TL"
    start_tlsedge accept "$3" "$4"
    r_acc=$(run "$2")
    stop "$TL"
    best=$(printf '%s\n%s\n' "${r_key%% *}" "${r_acc%% *}" | sort -n | tail -n 1)
    share="-"
    local rate=${5%% *} cpu=${5#* } alone_cell="-"
    if [ -n "$5" ] && [ "$rate" -gt 0 ]; then
        share="$((100 * best / rate)) %"
        alone_cell="$rate/s (CPU $cpu %)"
    fi
    echo "| $1 | $(echo "$r_key" | cell) | $(echo "$r_acc" | cell) | $alone_cell | $share |" >>"$OUT"
}

for d in 0 5 20; do
    want "keyless$d" || continue
    start_signer "$d"
    row "keyless, signer delay $d ms (ECDSA)" a.test "" \
        "ssl_cert_name=$T/pki/a.test.pem ssl_key_name=keyless://127.0.0.1:$KP" ""
    stop "$KS"
done
p11_rows() { # NAME ADDR TOKEN PREFIX
    for kind in ec rsa; do
        a=$(alone "$2" "$3" "$4-$kind")
        row "$1 $kind" "$4-$kind.test" "$2" \
            "ssl_cert_name=$4-$kind.pem ssl_key_name=pkcs11:token=$3;object=$4-$kind?pin-source=file:$KS_PIN_FILE" "$a"
    done
}
want softhsm && p11_rows SoftHSM2 "$KS_SOFTHSM_ADDR" edge hsm
if want tpm; then
    if [ -n "$KS_TPM_ADDR" ]; then
        p11_rows "TPM (swtpm)" "$KS_TPM_ADDR" tpm tpm
    else
        echo "| TPM | skipped: $(cat "$T/ks/tpm.skip") | | | |" >>"$OUT"
    fi
fi
cat "$OUT"
