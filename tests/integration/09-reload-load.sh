#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Reload under load (issue #8): two workers, tlsedge-bench doing full handshakes as fast as it can
# while SIGHUP arrives every 100 ms, 200 times, alternating between two certificate sets for the
# same name (ssl_multicert.config swapped atomically with rename). No handshake may fail, every
# handshake must have seen one of the two certificates (both seen), and RSS after 200 reloads
# stays within 10 % of RSS after 10. Then a corrupt certificate and a corrupt key each fail their
# reload with file:line while the last good set keeps serving; `tlsedge -t` reports them the same
# way. Bounded: the bench stops when the reloads are done (at most 60 s).
. "$(dirname "$0")/lib.sh"

TP=$(free_port)
HP=$(free_port)
conf=$(new_confdir conf <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1 $HP:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 2
CFG
)
mkdir -p "$conf/A" "$conf/B" "$conf/C"
"$TOOLS/certmint" --format swap.test --cn setA "$conf/A" 1 >/dev/null
"$TOOLS/certmint" --format swap.test --cn setB "$conf/B" 1 >/dev/null
echo "dest_ip=* ssl_cert_name=A/c0.pem ssl_key_name=A/c0.key" >"$conf/ssl_multicert.config"
fp() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }
fpA=$(fp "$conf/A/c0.pem")
fpB=$(fp "$conf/B/c0.pem")
start_tlsedge tlsedge "$TP" -C "$conf"

# use SET: makes ssl_multicert.config name set SET, atomically (rename over the old file).
use() {
    printf 'dest_ip=* ssl_cert_name=%s/c0.pem ssl_key_name=%s/c0.key\n' "$1" "$1" \
        >"$conf/.multicert.tmp"
    mv "$conf/.multicert.tmp" "$conf/ssl_multicert.config"
}
published() { grep -c 'published' "$T/tlsedge.log" || true; }
# wait_published N: waits up to 10 s until N reloads have been published.
wait_published() {
    for _ in $(seq 1 200); do
        [ "$(published)" -ge "$1" ] && return 0
        sleep 0.05
    done
    return 1
}
# The reload loop below runs while the bench keeps both CPUs busy, where every fork costs tens
# of milliseconds: it uses shell builtins only (but mv). nap SECONDS sleeps with a read timeout
# on a FIFO nobody writes to; next_reload reads tlsedge's log (fd 8) up to the next line that
# ends a reload, and fails after 10 s.
mkfifo "$T/nap"
exec 9<>"$T/nap"
nap() { read -r -t "$1" -u 9 _ || true; }
exec 8<"$T/tlsedge.log"
next_reload() {
    for _ in {1..500}; do
        while read -r -u 8 line; do
            case "$line" in
            *"generation "*" published"*) return 0 ;;
            *"reload failed"*) return 1 ;;
            esac
        done
        nap 0.02
    done
    return 1
}
rss() { awk '/VmRSS/ {print $2}' "/proc/$TLSEDGE_PID/status"; }
served_cn() {
    openssl s_client -connect "127.0.0.1:$TP" -servername swap.test </dev/null 2>/dev/null |
        openssl x509 -noout -subject 2>/dev/null | sed -n 's/.*CN *= *//p'
}

spawn bench "$BUILD/tlsedge-bench" handshake -c 16 -d 50 --warmup 0 --count-certs --json \
    --quiet --sni swap.test "127.0.0.1:$TP"
BENCH_PID=$LAST_PID
sleep 0.5

# 200 reloads, one every 100 ms, each waited for (signals that arrive during a reload would
# merge into one): about 20 s of full-rate handshakes.
rss10=""
reloads_ok=0
for i in {1..200}; do
    if [ $((i % 2)) -eq 1 ]; then use B; else use A; fi
    kill -HUP "$TLSEDGE_PID"
    nap 0.1
    next_reload || break
    [ "$i" -eq 10 ] && rss10=$(rss)
    reloads_ok=$i
done
rss200=$(rss)
bench_alive=0
kill -0 "$BENCH_PID" 2>/dev/null && bench_alive=1
kill -INT "$BENCH_PID" 2>/dev/null || true
wait_exit "$BENCH_PID" 10 || true
check_eq "the bench was still running at the end of the reloads" 1 "$bench_alive"
check_eq "200 reloads published while under load" 200 "$reloads_ok"
check_eq "no reload failed" 0 "$(stat proxy.process.tlsedge.reload_failures "$HP")"

# The bench's JSON report is its stdout: the last line of its log.
tail -n 1 "$T/bench.log" >"$T/bench.json"
j() { jq -r "$1" "$T/bench.json"; }
hs=$(j .handshakes)
check "the bench ran through the reloads ($hs handshakes)" test "${hs:-0}" -gt 200
check_eq "zero failed handshakes" 0 "$(j '.errors_total')"
check_eq "every handshake saw one of the two certificates" "$hs" \
    "$(jq -r --arg a "$fpA" --arg b "$fpB" '(.certs[$a] // 0) + (.certs[$b] // 0)' \
        "$T/bench.json")"
check_eq "no other certificate was served" 2 "$(j '.certs | length')"
check "set A was served ($(j ".certs[\"$fpA\"]"))" test "$(j ".certs[\"$fpA\"] // 0")" -gt 0
check "set B was served ($(j ".certs[\"$fpB\"]"))" test "$(j ".certs[\"$fpB\"] // 0")" -gt 0
check_eq "tlsedge counted no failed handshake" 0 \
    "$(( $(stat proxy.process.ssl.user_agent_other_errors "$HP") + \
         $(stat proxy.process.ssl.ssl_error_ssl "$HP") ))"
if [ -n "$SANITIZED" ]; then
    skip "RSS across reloads under a sanitizer (its quarantine holds freed memory)"
else
    check "RSS after 200 reloads ($rss200 kB) within 10 % of RSS after 10 ($rss10 kB)" \
        test $((rss200 * 10)) -le $((rss10 * 11))
fi

# The last reload published set A (i = 200 is even).
check_eq "set A serves after the last reload" setA "$(served_cn)"
n=$(published)
failures=0
# corrupt WHAT: set C is set B with its certificate (cert) or key (key) file corrupted; a reload
# onto it must fail naming ssl_multicert.config:1 and the file, and set A keeps serving.
corrupt() {
    cp "$conf/B/c0.pem" "$conf/C/c0.pem"
    cp "$conf/B/c0.key" "$conf/C/c0.key"
    if [ "$1" = cert ]; then
        head -c 300 "$conf/B/c0.pem" >"$conf/C/c0.pem"
        file="C/c0.pem"
    else
        cp "$TLSEDGE_FIXTURES/corrupt.key" "$conf/C/c0.key" # a truncated key (mkcerts.sh)
        file="C/c0.key"
    fi
    use C
    failures=$((failures + 1))
    kill -HUP "$TLSEDGE_PID"
    for _ in $(seq 1 100); do
        [ "$(stat proxy.process.tlsedge.reload_failures "$HP")" = "$failures" ] && break
        sleep 0.1
    done
    check_eq "a corrupt $1 fails the reload (counted)" "$failures" \
        "$(stat proxy.process.tlsedge.reload_failures "$HP")"
    check_contains "the corrupt $1 is logged with file:line" "$T/tlsedge.log" \
        "ssl_multicert.config:1: .*$file"
    check_eq "after the corrupt $1 the previous set keeps serving" setA "$(served_cn)"
    rc=0
    "$TLSEDGE" -t -C "$conf" >"$T/check-$1.out" 2>&1 || rc=$?
    check_eq "tlsedge -t rejects the corrupt $1" 1 "$rc"
    check_contains "tlsedge -t names ssl_multicert.config:1 and $file" "$T/check-$1.out" \
        "ssl_multicert.config:1: .*$file"
}
corrupt cert
corrupt key
check "no key material in the log" sh -c "! grep -q 'not base64' '$T/tlsedge.log'"
check_eq "no reload was published from the corrupt sets" "$n" "$(published)"

"$BUILD/tlsedge-bench" handshake --max 100 -d 10 --warmup 0 --count-certs --json --quiet \
    --sni swap.test "127.0.0.1:$TP" >"$T/after.json" 2>/dev/null || true
check_eq "a bench run after the failed reloads: every handshake got set A" "$fpA 100" \
    "$(jq -r '.certs | to_entries | map("\(.key) \(.value)") | join(",")' "$T/after.json")"

# -t checks what a reload checks, logging settings included: a debug tags pattern that is not a
# regular expression fails both.
use A
cp "$conf/records.config" "$T/records.good"
echo "CONFIG proxy.config.diags.debug.tags STRING ssl|(" >>"$conf/records.config"
rc=0
"$TLSEDGE" -t -C "$conf" >"$T/check-tags.out" 2>&1 || rc=$?
check_eq "tlsedge -t rejects a bad debug tags pattern" 1 "$rc"
kill -HUP "$TLSEDGE_PID"
failures=$((failures + 1))
for _ in $(seq 1 100); do
    [ "$(stat proxy.process.tlsedge.reload_failures "$HP")" = "$failures" ] && break
    sleep 0.1
done
check_eq "and so does a reload" "$failures" "$(stat proxy.process.tlsedge.reload_failures "$HP")"
cp "$T/records.good" "$conf/records.config"

use B
rc=0
"$TLSEDGE" -t -C "$conf" >"$T/check-good.out" 2>&1 || rc=$?
check_eq "tlsedge -t accepts the good directory" 0 "$rc"
kill -HUP "$TLSEDGE_PID"
check "the good set is published again" wait_published $((n + 1))
check_eq "set B serves" setB "$(served_cn)"
finish
