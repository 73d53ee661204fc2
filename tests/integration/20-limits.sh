#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Resource limits: proxy.config.net.connections_throttle (excess connections are accepted and
# closed at once, counted, and the limit follows a reload), running out of descriptors (accept
# backs off instead of spinning and resumes once descriptors are free), a ClientHello sent one
# byte a second (closed at handshake_timeout_in), and a client that stops reading a large
# response (closed at transaction_no_activity_timeout_in, with memory that does not grow).
. "$(dirname "$0")/lib.sh"

F=$TLSEDGE_FIXTURES

# cpu_ticks PID: utime + stime of PID (every thread), in clock ticks.
cpu_ticks() {
    # Fields 14 and 15 after the command name, which is in parentheses and may hold spaces.
    sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

# hold_open PORT N: opens N TCP connections to PORT from this shell; their descriptors go to HELD.
HELD=""
hold_open() {
    for _ in $(seq 1 "$2"); do
        exec {fd}<>"/dev/tcp/127.0.0.1/$1"
        HELD="$HELD $fd"
    done
}
release_held() {
    for fd in $HELD; do exec {fd}>&-; done
    HELD=""
}

# ms_until_closed FD: ms until the server closes the connection on FD (at most 10 s).
ms_until_closed() {
    t0=$(date +%s%N)
    timeout 10 cat <&"$1" >/dev/null 2>&1 || true
    echo $((($(date +%s%N) - t0) / 1000000))
}

# ---- running out of descriptors: ulimit -n 48 with 60 clients ----
HP=$(free_port)
conf=$(new_confdir emfile <<CFG
CONFIG proxy.config.http.server_ports STRING $HP:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.tlsedge.handshake_threads INT 0
CONFIG proxy.config.net.connections_throttle INT 100
CFG
)
spawn emfile sh -c "ulimit -n 48 && exec '$TLSEDGE' -C '$conf'"
EM_PID=$LAST_PID
wait_port "$HP" 10
hold_open "$HP" 60
sleep 0.5
c0=$(cpu_ticks "$EM_PID")
sleep 3
c1=$(cpu_ticks "$EM_PID")
hz=$(getconf CLK_TCK)
check "out of descriptors, tlsedge does not spin: $((c1 - c0)) ticks of CPU in 3 s (limit $((hz * 3 / 5)))" \
    test $((c1 - c0)) -lt $((hz * 3 / 5))
check_contains "the back-off is logged with the reason" "$T/emfile.log" \
    "port $HP: accept: Too many open files: pausing accepts for 100 ms"
check_contains "a throttle above the descriptor limit was warned about at start" "$T/emfile.log" \
    "the descriptor limit \(ulimit -n\) is 48: fewer than the about 456 that proxy.config.net.connections_throttle 100 needs"
release_held
ok=0
for _ in $(seq 1 50); do
    if curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$HP/_tlsedge/stats"; then ok=1; break; fi
    sleep 0.1
done
check_eq "accepting resumes once descriptors are free" 1 "$ok"
b=$(stat proxy.process.tlsedge.accept_backoffs "$HP")
check "the back-offs are counted (${b}, about 10 a second while out of descriptors)" test "$b" -ge 10
acc=$(stat proxy.process.net.connections_accepted "$HP")
check "every waiting connection was accepted in the end (${acc} accepted)" test "$acc" -ge 61
check "tlsedge is still running" kill -0 "$EM_PID"

# ---- connections_throttle 5, then 0 (no limit) after a reload ----
TP=$(free_port)
HP=$(free_port)
start_origin origin
conf=$(new_confdir main <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1 $HP:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 2
CONFIG proxy.config.ssl.server.cert.path STRING $F
CONFIG proxy.config.ssl.server.private_key.path STRING $F
CONFIG proxy.config.net.connections_throttle INT 5
CONFIG proxy.config.ssl.handshake_timeout_in INT 2
CONFIG proxy.config.http.transaction_no_activity_timeout_in INT 2
CFG
)
cat >"$conf/ssl_multicert.config" <<'CFG'
dest_ip=* ssl_cert_name=a.test.pem ssl_key_name=a.test.key
CFG
echo "map https://a.test/ http://127.0.0.1:$ORIGIN_PORT/" >"$conf/remap.config"
hard=$(ulimit -Hn)
soft=$((hard > 1024 ? 1024 : hard / 2))
spawn tlsedge sh -c "ulimit -Sn $soft && exec '$TLSEDGE' -C '$conf'"
TLSEDGE_PID=$LAST_PID
wait_port "$TP" 10
check_eq "the soft descriptor limit ($soft) is raised to the hard one" "$hard" \
    "$(awk '/^Max open files/ {print $4}' "/proc/$TLSEDGE_PID/limits")"
hold_open "$HP" 5
sleep 0.3
exec {extra}<>"/dev/tcp/127.0.0.1/$HP"
ms=$(ms_until_closed "$extra")
exec {extra}>&-
check "beyond connections_throttle a connection is accepted and closed at once (${ms} ms)" \
    test "$ms" -lt 1000
check_contains "the throttle is logged" "$T/tlsedge.log" \
    "port $HP: 5 client connections open, connections_throttle reached"
release_held
sleep 0.3
check_eq "the refused connection is counted" 1 "$(stat proxy.process.net.connections_throttled_in "$HP")"
sed -i 's/connections_throttle INT 5/connections_throttle INT 0/' "$conf/records.config"
kill -HUP "$TLSEDGE_PID"
for _ in $(seq 1 50); do
    grep -q 'generation 2 published' "$T/tlsedge.log" && break
    sleep 0.1
done
hold_open "$HP" 8
sleep 0.3
check_eq "after a reload to 0 (no limit), 8 held connections and a 9th (this stats request) are served" 1 \
    "$(stat proxy.process.net.connections_throttled_in "$HP")"
release_held

# ---- a ClientHello one byte a second: closed at handshake_timeout_in (2 s) ----
# A real ClientHello's first bytes; the server must not restart its clock at each byte.
exec {slow}<>"/dev/tcp/127.0.0.1/$TP"
(
    trap '' PIPE
    for b in '\026' '\003' '\001' '\002' '\000' '\001' '\000' '\001' '\374' '\003' '\003'; do
        printf "$b" >&"$slow" 2>/dev/null || exit 0
        sleep 1
    done
) &
dripper=$!
ms=$(ms_until_closed "$slow")
exec {slow}>&-
kill "$dripper" 2>/dev/null || true
wait "$dripper" 2>/dev/null || true
check "a ClientHello dripping one byte a second is closed at about 2 s (${ms} ms)" \
    test "$ms" -ge 1500 -a "$ms" -lt 4500
check_eq "and counted as a handshake timeout" 1 "$(stat proxy.process.tlsedge.handshake_timeouts_in "$HP")"

# ---- a client that stops reading a 2 GB response ----
rss() { awk '/VmRSS/ {print $2}' "/proc/$TLSEDGE_PID/status"; }
before=$(rss)
# s_client writes the body into a FIFO nobody reads: once it is full s_client stops reading the
# socket, and tlsedge's socket buffer fills.
mkfifo "$T/req" "$T/body"
exec {req}<>"$T/req" {body}<>"$T/body"
openssl s_client -quiet -connect "127.0.0.1:$TP" -servername a.test <"$T/req" >"$T/body" \
    2>/dev/null &
stuck=$!
PIDS="$PIDS $stuck"
printf 'GET /size/2000000000 HTTP/1.1\r\nHost: a.test\r\n\r\n' >&"$req"
t0=$(date +%s%N)
n=0
peak=$before
while [ "$n" -lt 200 ]; do
    r=$(rss)
    [ "$r" -gt "$peak" ] && peak=$r
    [ "$(stat proxy.process.tlsedge.transaction_timeouts "$HP")" = 1 ] && break
    sleep 0.05
    n=$((n + 1))
done
ms=$((($(date +%s%N) - t0) / 1000000))
check "a client that stops reading is closed at transaction_no_activity_timeout_in (${ms} ms)" \
    test "$n" -lt 200 -a "$ms" -ge 1500
check_eq "only the stats connection is still open" 1 \
    "$(stat proxy.process.http.current_client_connections "$HP")"
if [ -n "$SANITIZED" ]; then
    skip "stalled-reader memory under a sanitizer (its quarantine holds freed memory)"
else
    check "its memory did not follow the response (RSS ${before} kB, peak ${peak} kB)" \
        test $((peak - before)) -lt 4096
fi
kill "$stuck" 2>/dev/null || true
exec {req}>&- {body}>&-
sleep 0.3
check_contains "the origin connection was closed too" "$T/origin.log" "^conn [0-9]+ close"
finish
