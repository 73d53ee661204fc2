#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Process life cycle: start, refusing a port another process holds, signals (SIGHUP, SIGUSR2,
# SIGTERM with an idle client), and the embedded default.
. "$(dirname "$0")/lib.sh"

TP=$(free_port)
HP=$(free_port)
conf=$(new_confdir conf <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1 $HP:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 2
CONFIG proxy.config.stop.shutdown_timeout INT 5
CONFIG proxy.config.log.logfile_dir STRING $T/logs
CFG
)
mkdir -p "$T/logs"
"$TLSEDGE" --write-default-config "$T/certs" >/dev/null
cp "$T/certs/default.pem" "$T/certs/default.key" "$T/certs/ssl_multicert.config" "$conf/"
start_tlsedge first "$TP" -C "$conf"
first=$TLSEDGE_PID
check "TLS stats endpoint answers" sh -c "curl -sk --max-time 5 https://127.0.0.1:$TP/_tlsedge/stats | jq -e . >/dev/null"
check "plain stats endpoint answers" sh -c "curl -s --max-time 5 http://127.0.0.1:$HP/_tlsedge/stats | jq -e . >/dev/null"

rc=0
timeout 10 "$TLSEDGE" -C "$conf" >"$T/second.log" 2>&1 || rc=$?
check_eq "a second instance on the same ports exits 1" 1 "$rc"
check_contains "and says another process listens" "$T/second.log" "another process already listens"
check "the first instance still serves" sh -c "curl -s --max-time 5 http://127.0.0.1:$HP/_tlsedge/stats | jq -e . >/dev/null"

kill -HUP "$first"
sleep 0.3
check_contains "SIGHUP is logged" "$T/logs/diags.log" "reload requested"
check "SIGHUP does not stop the process" kill -0 "$first"

mv "$T/logs/diags.log" "$T/logs/diags.log.1"
kill -USR2 "$first"
sleep 0.3
check_contains "SIGUSR2 reopens the log file" "$T/logs/diags.log" "log file reopened"

# An idle keep-alive TLS client must not hold up a graceful stop.
( sleep 20 ) | openssl s_client -connect "127.0.0.1:$TP" -quiet >"$T/idle.log" 2>&1 &
PIDS="$PIDS $!"
sleep 0.5
start=$(date +%s)
kill -TERM "$first"
wait_exit "$first" 10
end=$(date +%s)
check_eq "SIGTERM exits 0" 0 "$EXIT_STATUS"
check "SIGTERM with an idle client exits well before the 5 s timeout" test $((end - start)) -lt 4
check_contains "the stop is logged" "$T/logs/diags.log" "stopping gracefully"

# The embedded default (fixed ports 8443/8081): only when they are free on this machine.
if ss -Htln 'sport = :8443' | grep -q . || ss -Htln 'sport = :8081' | grep -q .; then
    echo "  skip embedded default: port 8443 or 8081 is in use on this machine"
else
    start_tlsedge embedded 8443
    check "embedded default: TLS on 127.0.0.1:8443" sh -c "curl -sk --max-time 5 https://127.0.0.1:8443/_tlsedge/stats | jq -e . >/dev/null"
    check "embedded default: certificate for localhost" sh -c "openssl s_client -connect 127.0.0.1:8443 -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -ext subjectAltName | grep -q 'IP Address:127.0.0.1'"
    check "embedded default: plain HTTP on 127.0.0.1:8081" sh -c "curl -s --max-time 5 http://127.0.0.1:8081/_tlsedge/stats | jq -e . >/dev/null"
    kill -TERM "$TLSEDGE_PID"
    wait_exit "$TLSEDGE_PID" 10
    check_eq "embedded default: SIGTERM exits 0" 0 "$EXIT_STATUS"
fi
finish
