#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# bench/reload.sh: what a SIGHUP reload costs with many certificates (issue #8).
#   - reload time until serving for 1,000 and 10,000 certificates: nothing changed, one
#     certificate changed (re-minted), every file touched (new mtime and ctime, same bytes: each
#     file read and hashed again, nothing parsed), every certificate re-minted (every file read,
#     parsed and installed into a new context: as from scratch);
#     the time is tlsedge's own figure from its log line (SIGHUP handled -> new generation
#     published; new handshakes use it from then on);
#   - certificate look-up cost: full-handshake rate for the last name of a 10,000-name table
#     against a one-certificate server;
#   - handshake rate during ~100 reloads in 30 s (one certificate changed each time, 1,000
#     certificates) against the same 30 s without reloads;
#   - RSS after 10 and after 200 reloads (1,000 certificates).
# tlsedge runs one worker pinned to CPU 0; the bench runs on CPU 1. Certificates are ECDSA P-256,
# one key each, minted by build/tools/certmint. Loopback only; processes are stopped by PID.
# Usage: bench/reload.sh [--quick]    Writes bench/results/reload.md.
set -eu
LOAD0=$(cut -d" " -f1 /proc/loadavg)
cd "$(dirname "$0")/.."
B=${BUILD:-build}
RATE_DUR=30
LOOKUP_DUR=8
REPS=3
if [ "${1:-}" = "--quick" ]; then
    RATE_DUR=6
    LOOKUP_DUR=3
    REPS=1
fi
. bench/lib.sh
bench_tmp reload

for f in "$B/tlsedge" "$B/tlsedge-bench" "$B/tools/certmint"; do
    [ -x "$f" ] || { echo "reload.sh: $f is missing: run make first" >&2; exit 1; }
done
port() { echo $((20000 + RANDOM % 12000)); }
TP=$(port)
HP=$((TP + 1))

# mint N DIR: N certificates n00000.bench.test ... and their ssl_multicert.config in DIR.
mint() {
    mkdir -p "$2"
    "$B/tools/certmint" "$2" "$1" >"$2/ssl_multicert.config"
    cat >"$2/records.config" <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1 $HP:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.exec_thread.affinity INT 1
CFG
}
# start DIR: starts tlsedge on DIR, waits until it listens; sets TL, and START_MS to the time
# from exec to listening.
start() {
    local t0 n=0
    t0=$(date +%s%N)
    "$B/tlsedge" -C "$1" >"$T/tlsedge.log" 2>&1 &
    TL=$!
    PIDS="$PIDS $TL"
    until grep -q 'started' "$T/tlsedge.log"; do
        n=$((n + 1))
        [ "$n" -lt 3000 ] || { echo "tlsedge did not start:" >&2; tail "$T/tlsedge.log" >&2; exit 1; }
        sleep 0.01
    done
    START_MS=$((($(date +%s%N) - t0) / 1000000))
}
stop() { kill "$TL" 2>/dev/null || true; wait "$TL" 2>/dev/null || true; }
ends() { grep -cE 'published|reload failed' "$T/tlsedge.log" || true; }
# reload: SIGHUP, waits for the reload to end; prints its wall and CPU time in ms ("W C") from
# the log line.
reload() {
    local before n=0
    before=$(ends)
    kill -HUP "$TL"
    until [ "$(ends)" -gt "$before" ]; do
        n=$((n + 1))
        [ "$n" -lt 6000 ] || { echo "reload did not end" >&2; exit 1; }
        sleep 0.01
    done
    if tail -n 1 "$T/tlsedge.log" | grep -q 'reload failed'; then
        echo "reload failed:" >&2
        tail -n 5 "$T/tlsedge.log" >&2
        exit 1
    fi
    grep 'published' "$T/tlsedge.log" | tail -n 1 |
        sed -n 's/.*certificates, \([0-9.]*\) ms (cpu \([0-9.]*\) ms.*/\1 \2/p'
}
# median of the arguments ("W C" pairs, ordered by W): "W ms (cpu C ms)".
median() {
    printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1 " ms (cpu " $2 " ms)"} END {print v[int((NR + 1) / 2)]}'
}
rss() { awk '/VmRSS/ {print $2}' "/proc/$TL/status"; }
hs_rate() { # SNI DURATION -> "rate errors server-CPU-%"
    "$B/tlsedge-bench" handshake --sni "$1" --cpu 1 -c 32 -d "$2" --warmup 1 --json --quiet \
        --server-pid "$TL" "127.0.0.1:$TP" 2>/dev/null |
        jq -r '"\(.rate | floor) \(.errors_total) \(.server_cpu_pct | floor)"'
}
# rate_text "rate errors cpu" -> "rate/s (server CPU cpu %, errors errors)"
rate_text() {
    local rate err cpu
    read -r rate err cpu <<<"$1"
    echo "$rate/s (server CPU $cpu %, $err errors)"
}

declare -A R
mint 1 "$T/one" # the look-up baseline: one certificate
for N in 1000 10000; do
    D="$T/c$N"
    t0=$(date +%s%N)
    mint "$N" "$D"
    R[mint_$N]=$((($(date +%s%N) - t0) / 1000000))
    start "$D"
    R[start_$N]=$START_MS
    reload >/dev/null # warm: the cache now holds every file
    u=() o=() h=() f=()
    for _ in $(seq 1 "$REPS"); do
        sleep 0.1 # the files' status settles (tls/certcache.h)
        reload >/dev/null
        u+=("$(reload)")
        "$B/tools/certmint" --first 0 "$D" 1 >/dev/null # c0 re-minted: a new key and cert
        o+=("$(reload)")
        find "$D" -name 'c*' -exec touch {} + # every file read and hashed again
        h+=("$(reload)")
        "$B/tools/certmint" --first 0 "$D" "$N" >/dev/null # every certificate and key new
        f+=("$(reload)")
    done
    R[unchanged_$N]=$(median "${u[@]}")
    R[one_$N]=$(median "${o[@]}")
    R[touched_$N]=$(median "${h[@]}")
    R[full_$N]=$(median "${f[@]}")
    if [ "$N" = 10000 ]; then
        # Two rounds, alternating with the one-certificate server below (the machine's load
        # drifts over minutes).
        R[lookup_last]=$(hs_rate n09999.bench.test "$LOOKUP_DUR")
        stop
        start "$T/one"
        R[lookup_one]=$(hs_rate n00000.bench.test "$LOOKUP_DUR")
        stop
        start "$D"
        R[lookup_last2]=$(hs_rate n09999.bench.test "$LOOKUP_DUR")
        stop
        start "$T/one"
        R[lookup_one2]=$(hs_rate n00000.bench.test "$LOOKUP_DUR")
    fi
    if [ "$N" = 1000 ]; then
        for i in $(seq 1 10); do reload >/dev/null; done
        R[rss10]=$(rss)
        for i in $(seq 11 200); do
            [ $((i % 10)) -eq 0 ] && "$B/tools/certmint" --first 1 "$D" 1 >/dev/null
            reload >/dev/null
        done
        R[rss200]=$(rss)
        R[rate_quiet]=$(hs_rate n00500.bench.test "$RATE_DUR")
        # ~100 reloads in RATE_DUR s (one every 0.3 s), one certificate changed before each:
        # two versions of c0 minted beforehand and written back in turn with shell builtins, so
        # the loop itself takes no CPU from the server or the client (forking certmint for each
        # reload cost as much as the reload on 2 CPUs).
        mkdir -p "$D/alt"
        "$B/tools/certmint" --first 0 "$D/alt" 1 >/dev/null
        cp "$D/c0.pem" "$D/alt/c0-a.pem"
        cp "$D/c0.key" "$D/alt/c0-a.key"
        (
            pa=$(<"$D/alt/c0-a.pem") ka=$(<"$D/alt/c0-a.key")
            pb=$(<"$D/alt/c0.pem") kb=$(<"$D/alt/c0.key")
            end=$((SECONDS + RATE_DUR + 1))
            sleep 1
            n=0
            while [ "$SECONDS" -lt "$end" ]; do
                if [ $((n % 2)) -eq 0 ]; then p=$pb k=$kb; else p=$pa k=$ka; fi
                printf '%s\n' "$k" >"$D/c0.key"
                printf '%s\n' "$p" >"$D/c0.pem"
                kill -HUP "$TL"
                n=$((n + 1))
                sleep 0.25
            done
        ) &
        loop=$!
        PIDS="$PIDS $loop"
        before=$(ends)
        R[rate_reload]=$(hs_rate n00500.bench.test "$RATE_DUR")
        wait "$loop" || true
        sleep 1
        R[reloads_under_load]=$(($(ends) - before))
        R[failed_under_load]=$(grep -c 'reload failed' "$T/tlsedge.log" || true)
    fi
    stop
done


loss=$(awk -v q="${R[rate_quiet]%% *}" -v r="${R[rate_reload]%% *}" \
    'BEGIN { printf "%.1f", (q > 0 ? (q - r) * 100 / q : 0) }')
rss_growth=$(awk -v a="${R[rss10]}" -v b="${R[rss200]}" 'BEGIN { printf "%+.1f", (b - a) * 100 / a }')
out=bench/results/reload.md
{
    echo "# Reload with many certificates ($(date -u '+%Y-%m-%d %H:%M UTC'), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs)"
    echo
    echo "Load average when the run started: $LOAD0 (with 2 CPUs, above ~1 means other work shared"
    echo "them and the figures are indicative only)."
    echo "Command: \`bash bench/reload.sh${1:+ $1}\`. tlsedge: 1 worker on CPU 0,"
    echo "$("$B/tlsedge" --version | tail -n 1). Bench (\`tlsedge-bench handshake -c 32\`, TLS 1.3,"
    echo "X25519, ECDSA P-256) on CPU 1. One key per certificate. Reload times are tlsedge's own"
    echo "figure (SIGHUP handled to new generation published), median of $REPS."
    echo
    echo "| certificates | mint | start-up (exec to listening) | reload, nothing changed | reload, one changed | reload, every file touched (same bytes) | reload, every certificate re-minted (as from scratch) |"
    echo "|---|---|---|---|---|---|---|"
    for N in 1000 10000; do
        echo "| $N | ${R[mint_$N]} ms | ${R[start_$N]} ms | ${R[unchanged_$N]} | ${R[one_$N]} | ${R[touched_$N]} | ${R[full_$N]} |"
    done
    echo
    echo "Certificate look-up: full handshakes for the last of 10,000 names against a"
    echo "one-certificate server, ${LOOKUP_DUR} s each, alternating:"
    echo "- last of 10,000: $(rate_text "${R[lookup_last]}"), then $(rate_text "${R[lookup_last2]}")"
    echo "- one certificate: $(rate_text "${R[lookup_one]}"), then $(rate_text "${R[lookup_one2]}")"
    echo
    echo "Handshakes during reloads (1,000 certificates, one changed before each reload), ${RATE_DUR} s each:"
    echo "- without reloads: $(rate_text "${R[rate_quiet]}")"
    echo "- with ${R[reloads_under_load]} reloads: $(rate_text "${R[rate_reload]}"), ${loss} % lower;"
    echo "  failed reloads: ${R[failed_under_load]}"
    echo
    echo "Server CPU counts every tlsedge thread, the reloading main thread too. When it stays far"
    echo "below 100 % the rate was limited by the machine (other work on the CPUs), not by tlsedge,"
    echo "and the difference between the two rates is noise."
    echo
    echo "RSS (1,000 certificates): ${R[rss10]} kB after 10 reloads, ${R[rss200]} kB after 200"
    echo "(${rss_growth} %)."
} >"$out"
cat "$out"
