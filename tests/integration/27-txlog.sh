#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The transaction log: with proxy.config.log.logfile_dir set, every HTTP transaction is one line
# of squid.log in ATS's squid field order (time, ms taken, client, code/status, bytes, method,
# URL, -, hierarchy/origin, content type): a forwarded TLS request with the bytes curl received,
# keep-alive requests one line each, a POST, tlsedge's own 404 and 400 (an unparsable head), the
# stats page, a CONNECT tunnel, a TLS client that leaves before the origin answers and a plain
# one that leaves mid-response (ERR_CLIENT_ABORT); SIGUSR2 reopens it after a rotation; logging_enabled 1 (errors only) turns
# it off on SIGHUP.
. "$(dirname "$0")/lib.sh"

F=$TLSEDGE_FIXTURES
start_origin origin
O=$ORIGIN_PORT
TP=$(free_port)
HP=$(free_port)
LOGS="$T/logs"
mkdir -p "$LOGS"
records() {
    cat <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1 $HP:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 2
CONFIG proxy.config.ssl.server.cert.path STRING $F
CONFIG proxy.config.ssl.server.private_key.path STRING $F
CONFIG proxy.config.log.logfile_dir STRING $LOGS
CONFIG proxy.config.http.connect_ports STRING $O
$1
CFG
}
conf=$(records "" | new_confdir conf)
echo "dest_ip=* ssl_cert_name=a.test.pem ssl_key_name=a.test.key" >"$conf/ssl_multicert.config"
cat >"$conf/remap.config" <<CFG
map https://a.test/ http://127.0.0.1:$O/
map http://plain.test/ http://127.0.0.1:$O/
CFG
start_tlsedge tlsedge "$TP" -C "$conf"
LOG="$LOGS/squid.log"
TLS=(curl -s --max-time 5 --cacert "$F/ca.pem" --resolve "a.test:$TP:127.0.0.1")
# line N: squid.log's line N (1-based), once the log holds at least N lines (2 s at most).
line() {
    for _ in $(seq 1 20); do
        [ "$(wc -l <"$LOG" 2>/dev/null || echo 0)" -ge "$1" ] && break
        sleep 0.1
    done
    sed -n "${1}p" "$LOG" 2>/dev/null
}
# fields N FIRST LAST: fields FIRST..LAST of line N.
fields() { line "$1" | cut -d' ' -f"$2-$3"; }

got=$("${TLS[@]}" -o /dev/null -w '%{size_header} %{size_download}' "https://a.test:$TP/size/1000")
set -- $got
check "a forwarded TLS request is logged: client, code/status, bytes received, method, URL, origin, type" \
    test "$(fields 1 3 10)" = "127.0.0.1 TCP_MISS/200 $(($1 + $2)) GET https://a.test:$TP/size/1000 - DIRECT/127.0.0.1 application/octet-stream"
now=$(date +%s)
check "  at the request's time (seconds.milliseconds) and with the time it took (ms)" \
    sh -c "echo '$(fields 1 1 2)' | grep -Eq '^[0-9]+\.[0-9]{3} [0-9]+$' &&
        [ \$(( $now - $(fields 1 1 1 | cut -d. -f1) )) -le 5 ]"
"${TLS[@]}" -o /dev/null "https://a.test:$TP/" -o /dev/null "https://a.test:$TP/status/204" \
    -o /dev/null "https://a.test:$TP/size/5"
check_eq "three requests on one keep-alive connection: three lines" \
    "TCP_MISS/200 GET https://a.test:$TP/|TCP_MISS/204 GET https://a.test:$TP/status/204|TCP_MISS/200 GET https://a.test:$TP/size/5" \
    "$(fields 2 4 4) $(fields 2 6 7)|$(fields 3 4 4) $(fields 3 6 7)|$(fields 4 4 4) $(fields 4 6 7)"
head -c 3000 /dev/zero | "${TLS[@]}" -o /dev/null --data-binary @- "https://a.test:$TP/sha256"
check_eq "a POST" "TCP_MISS/200 POST https://a.test:$TP/sha256" "$(fields 5 4 4) $(fields 5 6 7)"
curl -s --max-time 5 -o /dev/null -H 'Host: nowhere.test' "http://127.0.0.1:$HP/x?y=1"
check_eq "tlsedge's own 404 (no remap rule): plain http URL, no origin" \
    "ERR_INVALID_REQ/404 GET http://nowhere.test/x?y=1 - NONE/- text/plain" "$(fields 6 4 4) $(fields 6 6 10)"
raw_exchange "$HP" 'GARBAGE\r\n\r\n' >/dev/null
check_eq "an unparsable request head: 400 with no method or URL" \
    "ERR_INVALID_REQ/400 - - - NONE/- text/plain" "$(fields 7 4 4) $(fields 7 6 10)"
curl -s --max-time 5 -o /dev/null "http://127.0.0.1:$HP/_tlsedge/stats"
check_eq "the stats page" "TCP_MISS/200 GET http://127.0.0.1:$HP/_tlsedge/stats - NONE/- application/json" \
    "$(fields 8 4 4) $(fields 8 6 10)"
curl -s --max-time 5 -o /dev/null -p -x "http://127.0.0.1:$HP" "http://127.0.0.1:$O/size/2000"
check_eq "a CONNECT tunnel, logged when it ends" "TCP_MISS/200 CONNECT 127.0.0.1:$O - DIRECT/127.0.0.1 -" \
    "$(fields 9 4 4) $(fields 9 6 10)"
check "  with the bytes relayed to the client (the 200, then the origin's response)" \
    test "$(fields 9 5 5)" -gt 2000
"${TLS[@]}" --max-time 1 -o /dev/null "https://a.test:$TP/stall" || true
check_eq "a TLS client that leaves before the origin answers" \
    "ERR_CLIENT_ABORT/0 0 GET https://a.test:$TP/stall - DIRECT/127.0.0.1 -" "$(fields 10 4 10)"
curl -s --max-time 1 -o /dev/null -H 'Host: plain.test' \
    "http://127.0.0.1:$HP/slow/100000?ms=50&piece=100" || true
check_eq "a plain client that leaves mid-response (seen when writing to it fails)" \
    "ERR_CLIENT_ABORT/200 GET http://plain.test/slow/100000?ms=50&piece=100" \
    "$(fields 11 4 4) $(fields 11 6 7)"

# Rotation: the file is renamed, SIGUSR2 reopens the name.
mv "$LOG" "$LOG.1"
kill -USR2 "$TLSEDGE_PID"
sleep 0.3
"${TLS[@]}" -o /dev/null "https://a.test:$TP/rotated"
check_eq "SIGUSR2 after a rotation: new lines go to a new squid.log" "GET https://a.test:$TP/rotated" \
    "$(fields 1 6 7)"
check_eq "  and the rotated file keeps the old ones" 11 "$(wc -l <"$LOG.1")"
check "every line has the ten fields" \
    sh -c "cat '$LOG.1' '$LOG' | awk 'NF != 10 { bad = 1 } END { exit bad }'"

# logging_enabled 1: errors only (diags.log); the transaction log stops at the reload.
records "CONFIG proxy.config.log.logging_enabled INT 1" >"$conf/records.config"
before=$(stat proxy.process.tlsedge.reloads "$HP")
kill -HUP "$TLSEDGE_PID"
for _ in $(seq 1 50); do
    [ "$(stat proxy.process.tlsedge.reloads "$HP")" -gt "$before" ] && break
    sleep 0.1
done
n=$(wc -l <"$LOG")
"${TLS[@]}" -o /dev/null "https://a.test:$TP/after-off"
sleep 0.3
check_eq "logging_enabled 1 (SIGHUP): no more transaction lines" "$n" "$(wc -l <"$LOG")"
check "diags.log is still written" grep -q "reload requested" "$LOGS/diags.log"
finish
