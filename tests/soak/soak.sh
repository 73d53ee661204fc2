#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# tests/soak/soak.sh: a long run under steady load with reloads and origin faults (not part of
# `make test`; `make soak MINUTES=10`).
#
# tlsedge with two workers serves, for MINUTES minutes, three tlsedge-bench clients at fixed,
# moderate rates: full TLS 1.3 handshakes, resumed handshakes, and keep-alive requests to an
# origin route that resets 1 % of its connections (tests/tools/origin /flaky/1). Meanwhile the
# configuration is reloaded (SIGHUP) every 500 ms. At the end it checks: no failed handshake, the
# only failed requests are the 502s of the injected resets, RSS within 10 % of its value after
# the first minute (a third of the run when it is shorter), the same number of descriptors once
# the load stopped as before it started, every reload published, and the counters consistent
# (handshake attempts = successes + failures, origin resets = injected resets, requests =
# responses). Output: the usual "N passed, N failed" plus an RSS/fd series in $T/series.log
# (kept with KEEP=1).
. "$(dirname "$0")/../integration/lib.sh"

MINUTES=${MINUTES:-10}
D=$((MINUTES * 60))
BASE_AT=$((D / 3 < 60 ? D / 3 : 60))
HS_RATE=${SOAK_HS_RATE:-150}
RES_RATE=${SOAK_RES_RATE:-150}
KA_RATE=${SOAK_KA_RATE:-300}
BENCH="$BUILD/tlsedge-bench"
F=$TLSEDGE_FIXTURES
echo "soak: $MINUTES min; full $HS_RATE/s, resumed $RES_RATE/s, keep-alive $KA_RATE/s; SIGHUP every 500 ms"

O=$(free_port)
spawn origin "$TOOLS/origin" -p "$O" --max-seconds $((D + 120))
wait_port "$O" 10
TP=$(free_port)
HP=$(free_port)
conf=$(new_confdir conf <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1 $HP:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 2
CONFIG proxy.config.ssl.server.cert.path STRING $F
CONFIG proxy.config.ssl.server.private_key.path STRING $F
CONFIG proxy.config.http.keep_alive_no_activity_timeout_out INT 2
CFG
)
cat >"$conf/ssl_multicert.config" <<'CFG'
ssl_cert_name=a.test.pem ssl_key_name=a.test.key
dest_ip=* ssl_cert_name=ip.pem ssl_key_name=ip.key
CFG
echo "map https://a.test/ http://127.0.0.1:$O/" >"$conf/remap.config"
start_tlsedge tlsedge "$TP" -C "$conf"
PID=$TLSEDGE_PID

rss() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }
fds() { ls "/proc/$PID/fd" | wc -l; }
s() { stat "$1" "$HP"; }
sleep 0.5
fd_idle=$(fds)

# bench NAME ARGS...: one load client for the whole run, its JSON report in $T/NAME.json.
bench() {
    name=$1
    shift
    spawn "$name" sh -c "exec '$BENCH' $* --sni a.test -d $D --warmup 1 --json --quiet \
        --timeout 10000 127.0.0.1:$TP >'$T/$name.json'"
}
bench hs handshake -c 16 --rate "$HS_RATE"
HS_PID=$LAST_PID
bench res resume -c 16 --rate "$RES_RATE"
RES_PID=$LAST_PID
bench ka keepalive -c 16 --rate "$KA_RATE" --path /flaky/1
KA_PID=$LAST_PID

# Reloads every 500 ms for the whole run; the number sent is in $T/hups.
(
    n=0
    end=$(($(date +%s) + D + 1))
    while [ "$(date +%s)" -lt "$end" ]; do
        kill -HUP "$PID" 2>/dev/null || break
        n=$((n + 1))
        echo "$n" >"$T/hups"
        sleep 0.5
    done
) &
HUP_PID=$!
PIDS="$PIDS $HUP_PID"

# Samples RSS and descriptors every 5 s; the baseline is taken at BASE_AT s.
t=0
rss_base=""
rss_last=""
echo "# s rss_kB fds" >"$T/series.log"
while [ "$t" -lt $((D - 2)) ]; do
    step=$((D - 2 - t < 5 ? D - 2 - t : 5))
    sleep "$step"
    t=$((t + step))
    kill -0 "$PID" 2>/dev/null || break
    rss_last=$(rss)
    echo "$t $rss_last $(fds)" >>"$T/series.log"
    [ -z "$rss_base" ] && [ "$t" -ge "$BASE_AT" ] && rss_base=$rss_last
done
check "tlsedge ran the whole soak" kill -0 "$PID"
wait_exit "$HS_PID" 60
wait_exit "$RES_PID" 60
wait_exit "$KA_PID" 60
wait "$HUP_PID" 2>/dev/null || true
sleep 4 # let the last connections close, and pooled origin connections time out (2 s)
fd_end=$(fds)

j() { jq -r "$2" "$T/$1.json" 2>/dev/null || echo "?"; }
echo "soak: full $(j hs .ops) ($(j hs '.rate|floor')/s), resumed $(j res .ops) ($(j res '.rate|floor')/s, $(j res '(.resumed_ratio*100)|floor') % resumed), keep-alive $(j ka .ops) ($(j ka '.rate|floor')/s); RSS ${rss_base} -> ${rss_last} kB; fds $fd_idle -> $fd_end"
check "full handshakes: none failed ($(j hs '.errors|tostring'))" \
    test "$(j hs '.errors_total')" = 0 -a "$(j hs .ops)" -gt 0
check "resumed handshakes: none failed ($(j res '.errors|tostring'))" \
    test "$(j res '.errors_total')" = 0 -a "$(j res .ops)" -gt 0
injected=$(grep -c '^fault .* reset' "$T/origin.log" || true)
ka_http=$(j ka '.errors.http')
ka_other=$(j ka '[.errors | to_entries[] | select(.key != "http") | .value] | add')
check "keep-alive requests: only the injected faults failed (${ka_http} http errors, ${injected} resets injected, ${ka_other} other errors)" \
    test "$ka_other" = 0 -a "$ka_http" -le "$injected" -a "$(j ka .ops)" -gt 0
check "faults were injected at all (${injected})" test "$injected" -gt 0
if [ -n "$SANITIZED" ]; then
    skip "RSS under a sanitizer (its quarantine holds freed memory)"
else
    check "RSS within 10 % of its value after $BASE_AT s (${rss_base} -> ${rss_last} kB)" \
        test $((rss_last * 100)) -le $((rss_base * 110)) -a $((rss_last * 100)) -ge $((rss_base * 90))
fi
check_eq "descriptors: as many once the load stopped as before it started" "$fd_idle" "$fd_end"
# From here on every counter comes from one snapshot, so they are consistent with each other.
curl -s --max-time 5 "http://127.0.0.1:$HP/_tlsedge/stats" >"$T/stats.json"
s() { jq -r --arg n "$1" '.[$n]' "$T/stats.json"; }
hups=$(cat "$T/hups")
reloads=$(s proxy.process.tlsedge.reloads)
check_eq "no reload failed" 0 "$(s proxy.process.tlsedge.reload_failures)"
check "reloads published (${reloads} of ${hups} SIGHUPs; signals sent close together may merge)" \
    test "$reloads" -ge $((hups * 9 / 10))

att=$(s proxy.process.ssl.total_attempts_handshake_count_in)
ok=$(s proxy.process.ssl.total_success_handshake_count_in)
bad=0
for n in tlsedge.clienthello_malformed tlsedge.clienthello_too_large tlsedge.clienthello_truncated \
    tlsedge.clienthello_not_tls tlsedge.unrecognized_name tlsedge.handshake_timeouts_in \
    ssl.ssl_error_ssl ssl.ssl_error_syscall; do
    bad=$((bad + $(s "proxy.process.$n")))
done
check_eq "handshake attempts = successes + failures ($ok + $bad)" "$att" "$((ok + bad))"
# A bench client abandons the handshakes in flight when its window closes (at most -c each):
# tlsedge counts those as a client gone mid-handshake (ssl_error_syscall), nothing else.
gone=$(s proxy.process.ssl.ssl_error_syscall)
check "handshake failures: none but clients leaving at the end ($bad failures, $gone of them clients gone)" \
    test "$bad" = "$gone" -a "$gone" -le 32
# A reset on a pooled connection before any answer sends the request again on a new one
# (origin_stale_retries); any other reset is a counted origin failure.
oreset=$(($(s proxy.process.tlsedge.origin_resets) + $(s proxy.process.tlsedge.origin_closed_early)))
retried=$(s proxy.process.tlsedge.origin_stale_retries)
check_eq "resets injected = origin failures counted + stale retries ($oreset + $retried)" \
    "$injected" "$((oreset + retried))"
req=$(s proxy.process.http.incoming_requests)
resp=0
for c in 1xx 2xx 3xx 4xx 5xx; do resp=$((resp + $(s "proxy.process.http.${c}_responses"))); done
# Requests in flight when a bench client's window closed were abandoned (at most -c each).
# The snapshot's own request is counted, its response is not yet.
check "requests = responses, but for those abandoned at the end ($req requests, $resp responses)" \
    test "$resp" -lt "$req" -a $((req - resp)) -le 48
check_eq "no client connection left open but this one" 1 \
    "$(s proxy.process.http.current_client_connections)"
finish
