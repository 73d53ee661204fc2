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
# A software token signs on the CPUs the handshakes need: on a small machine "alone" then takes
# CPU time that tlsedge and the client need during handshakes, and no pipeline can reach it. A
# hardware token has a capacity of its own; to measure that case the PKCS#11 rows run twice:
# once with every token process (p11-kit server and its children, swtpm, tpm2-abrmd) in a cgroup
# capped at --token-cpu % of one CPU, alone and during handshakes alike, and once uncapped.
#
# Usage: bench/keystores.sh [--duration S] [--pool N] [--conns N] [--out FILE] [--only LIST]
#                           [--token-cpu PCT]
#   --duration S   seconds per run (default 4; 1 s warm-up before each)
#   --pool N       proxy.config.tlsedge.handshake_threads and p11sign threads (default 4)
#   --conns N      concurrent bench connections (default 64)
#   --out FILE     the Markdown report (default bench/results/keystores.md)
#   --only LIST    comma list of backends: keyless0,keyless5,keyless20,softhsm,tpm (default all)
#   --token-cpu P  the cap for the capped rows (default 50; 0: no capped rows)
set -eu
cd "$(dirname "$0")/.."
B=${BUILD:-build}
DUR=4
POOL=4
CONNS=64
OUT=bench/results/keystores.md
ONLY=keyless0,keyless5,keyless20,softhsm,tpm
TOKEN_CPU=50
while [ $# -gt 0 ]; do
    case "$1" in
    --duration) DUR=$2; shift 2 ;;
    --pool) POOL=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --token-cpu) TOKEN_CPU=$2; shift 2 ;;
    -h | --help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
for f in "$B/tlsedge" "$B/tlsedge-bench" "$B/tlsedge-keyserver" "$B/tools/p11sign"; do
    [ -x "$f" ] || { echo "missing $f: run make first" >&2; exit 1; }
done

. bench/lib.sh
bench_tmp keystores
CG=""
bench_cleanup_extra() {
    bash tests/fixtures/keystores.sh stop "$T/ks" 2>/dev/null || true
    if [ -n "$CG" ]; then
        for _ in $(seq 50); do rmdir "$CG" 2>/dev/null && break; sleep 0.1; done
    fi
}
want() { case ",$ONLY," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

sh tests/fixtures/mkcerts.sh "$T/pki" >/dev/null
bash tests/fixtures/keystores.sh start "$T/ks" "$T/pki/ca.pem" "$T/pki/ca.key" >"$T/ks.log" 2>&1 || {
    cat "$T/ks.log" >&2
    exit 1
}
. "$T/ks/keystores.env"

# The token cgroup (cgroup v1 cpu controller, or v2): every process in it, and every process
# they fork later (p11-kit-remote per connection), shares PCT % of one CPU. Sets CG, or sets
# CAP_NOTE to why not and returns 1.
cg_make() {
    local v1=/sys/fs/cgroup/cpu v2=/sys/fs/cgroup
    [ -d /sys/fs/cgroup/unified ] && [ ! -f $v2/cgroup.controllers ] && v2=/sys/fs/cgroup/unified
    if [ -w $v1 ] && mkdir "$v1/tlsedge-bench-$$" 2>/dev/null; then
        CG=$v1/tlsedge-bench-$$
        echo 10000 >"$CG/cpu.cfs_period_us"
    elif [ -f $v2/cgroup.controllers ] && grep -qw cpu $v2/cgroup.subtree_control 2>/dev/null &&
        mkdir "$v2/tlsedge-bench-$$" 2>/dev/null; then
        CG=$v2/tlsedge-bench-$$
    else
        CAP_NOTE="capped rows skipped: no writable cgroup cpu controller"
        return 1
    fi
}
# cg_cap PCT: the cap (0: none).
cg_cap() {
    [ -n "$CG" ] || return 1
    if [ -f "$CG/cpu.cfs_quota_us" ]; then
        if [ "$1" -gt 0 ]; then echo $((100 * $1)) >"$CG/cpu.cfs_quota_us"; else echo -1 >"$CG/cpu.cfs_quota_us"; fi
    elif [ "$1" -gt 0 ]; then echo "$((100 * $1)) 10000" >"$CG/cpu.max"; else echo "max 10000" >"$CG/cpu.max"; fi
}
CAP_NOTE=""
if [ "$TOKEN_CPU" -gt 0 ]; then
    if cg_make; then
        for f in "$T"/ks/p11kit-*.pid "$T/ks/swtpm.pid" "$T/ks/tpm2-abrmd.pid"; do
            [ -f "$f" ] || continue
            for p in $(cat "$f") $(pgrep -P "$(cat "$f")" || true); do
                echo "$p" >"$CG/cgroup.procs"
            done
        done
    else
        TOKEN_CPU=0
    fi
fi
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
CONFIG proxy.config.tlsedge.pkcs11.connection_per_thread INT $((1 - SHARED))
CONFIG proxy.config.ssl.server.cert.path STRING $T/ks
CFG
    echo "$3" >"$T/ssl_multicert.config"
    bench_start_tlsedge "$TP"
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
SHARED=0 # 1: proxy.config.tlsedge.pkcs11.connection_per_thread 0 (one connection for all)
run() { # SNI -> "rate cpu errors p99"
    "$B/tlsedge-bench" handshake --sni "$1" --cpu 1 --server-pid "$TL" -d "$DUR" --warmup 1 \
        -c "$CONNS" --json --quiet "127.0.0.1:$TP" 2>/dev/null |
        jq -r '"\(.rate|floor) \(.server_cpu_pct|floor) \(.errors_total) \(.p99_ms * 10 | floor / 10) \(.errors | to_entries | map(select(.value > 0) | "\(.key) \(.value)") | join(", "))"'
}
cell() { awk '{kinds = $0; sub(/^[^ ]+ [^ ]+ [^ ]+ [^ ]+ ?/, "", kinds)
    printf "%d/s (CPU %d %%, p99 %s ms%s)", $1, $2, $4, ($3 > 0 ? ", errors: " kinds : "")}'; }
ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat; }
alone1() { # ADDR TOKEN LABEL [-c] -> "rate machine-cpu-%" (all CPUs busy: 100 % x CPUs)
    local t0 t1 rate
    t0=$(ticks)
    rate=$(P11_KIT_SERVER_ADDRESS=$1 "$B/tools/p11sign" ${4:-} -t "$2" -l "$3" -p "$KS_PIN_FILE" \
        -n "$POOL" -d "$DUR" | jq -r '.rate|floor')
    t1=$(ticks)
    echo "${rate:-0} $(echo "$t0 $t1" | awk -v n="$(nproc)" '{b = $3 - $1; t = $4 - $2;
        printf "%d", (t > 0 ? 100 * n * b / t : 0)}')"
}
# alone ADDR TOKEN LABEL: the better of a connection per thread and one shared connection.
alone() {
    printf '%s\n%s\n' "$(alone1 "$1" "$2" "$3" -c)" "$(alone1 "$1" "$2" "$3")" | sort -n | tail -n 1
}

{
    echo "# Handshakes with blocking keys ($(date -u '+%Y-%m-%d %H:%M UTC'), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs)"
    echo
    echo "tlsedge: 1 worker on CPU 0, $POOL handshake threads, $("$B/tlsedge" --version | tail -n 1)."
    echo "\`tlsedge-bench handshake -c $CONNS -d $DUR\` on CPU 1 (TLS 1.3, X25519); the keyless"
    echo "signer (\`tlsedge-keyserver --threads 1\`) on CPU 1; p11-kit servers and tokens unpinned."
    echo "Modes: \`key\` (only the signature goes to a handshake thread), \`accept\` (the connection"
    echo "is lent to one); both with a p11-kit connection per handshake thread (the default), and"
    echo "\`key\` once more with one connection shared by all threads"
    echo "(\`proxy.config.tlsedge.pkcs11.connection_per_thread 0\`)."
    echo "\"alone\": the token's own signing rate, the better of \`build/tools/p11sign -c -n $POOL\` (a"
    echo "connection per thread) and \`p11sign -n $POOL\` (one shared connection) through the same"
    echo "p11-kit server, with the machine's CPU use meanwhile (100 % per busy CPU); \"share\": the best"
    echo "handshake rate divided by it (goal: 90 %)."
} >"$OUT"

# table TITLE: starts a table.
table() {
    {
        echo
        echo "## $1"
        echo
        echo "| key | mode key | mode accept | mode key, one shared connection | alone | share |"
        echo "|---|---|---|---|---|---|"
    } >>"$OUT"
}

# row NAME SNI ADDR KEY_LINE ALONE: one table row, every mode (the shared connection only for
# PKCS#11 keys).
row() {
    local r_key r_acc r_sh="-" best share
    start_tlsedge key "$3" "$4"
    r_key=$(run "$2")
    stop "$TL"
    start_tlsedge accept "$3" "$4"
    r_acc=$(run "$2")
    stop "$TL"
    if [ -n "$3" ]; then
        SHARED=1
        start_tlsedge key "$3" "$4"
        r_sh=$(run "$2")
        stop "$TL"
        SHARED=0
    fi
    best=$(printf '%s\n%s\n%s\n' "${r_key%% *}" "${r_acc%% *}" "${r_sh%% *}" | grep -v - | sort -n | tail -n 1)
    share="-"
    local rate=${5%% *} cpu=${5#* } alone_cell="-" sh_cell="-"
    [ "$r_sh" = - ] || sh_cell=$(echo "$r_sh" | cell)
    if [ -n "$5" ] && [ "$rate" -gt 0 ]; then
        share="$((100 * best / rate)) %"
        alone_cell="$rate/s (CPU $cpu %)"
    fi
    echo "| $1 | $(echo "$r_key" | cell) | $(echo "$r_acc" | cell) | $sh_cell | $alone_cell | $share |" >>"$OUT"
}

p11_rows() { # NAME ADDR TOKEN PREFIX
    for kind in ec rsa; do
        a=$(alone "$2" "$3" "$4-$kind")
        row "$1 $kind" "$4-$kind.test" "$2" \
            "ssl_cert_name=$4-$kind.pem ssl_key_name=pkcs11:token=$3;object=$4-$kind?pin-source=file:$KS_PIN_FILE" "$a"
    done
}
tokens() {
    want softhsm && p11_rows SoftHSM2 "$KS_SOFTHSM_ADDR" edge hsm
    if want tpm; then
        if [ -n "$KS_TPM_ADDR" ]; then
            p11_rows "TPM (swtpm)" "$KS_TPM_ADDR" tpm tpm
        else
            echo "| TPM | skipped: $(cat "$T/ks/tpm.skip") | | | | |" >>"$OUT"
        fi
    fi
}

if [ "$TOKEN_CPU" -gt 0 ] && { want softhsm || want tpm; }; then
    cg_cap "$TOKEN_CPU"
    table "Tokens capped at $TOKEN_CPU % of one CPU (cgroup), as a hardware token has a capacity of its own"
    tokens
    cg_cap 0
fi
table "Uncapped: software tokens share the 2 CPUs with tlsedge and the client${CAP_NOTE:+ ($CAP_NOTE)}"
for d in 0 5 20; do
    want "keyless$d" || continue
    start_signer "$d"
    row "keyless, signer delay $d ms (ECDSA)" a.test "" \
        "ssl_cert_name=$T/pki/a.test.pem ssl_key_name=keyless://127.0.0.1:$KP" ""
    stop "$KS"
done
tokens
cat "$OUT"
