#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Outbound TLS hooks, for requests that tlsedge forwards to TLS origins (openssl s_server -www):
# the order of every hook for one request from a TLS client to a TLS origin (inbound, then
# OUTBOUND_START, VERIFY_SERVER, OUTBOUND_CLOSE, VCONN_CLOSE); TSVConnSslVerifyCTXGet holds the
# origin's certificate; OUTBOUND_START paused and re-enabled later, or failed (502); a
# VERIFY_SERVER error fails the origin (502 and the verify-failed counter), or is only logged
# under PERMISSIVE; a pooled origin connection runs OUTBOUND_START once and OUTBOUND_CLOSE when
# it leaves the pool. The seeds' asynchronous verification (verify.server 2) with the
# async_verify sample plugin: a blocked name gets 502, a delayed name succeeds after the delay
# while another request on the same (only) worker completes meanwhile, other names pass; a
# plugin that never decides runs into proxy.config.tlsedge.verify_server_timeout (502).
. "$(dirname "$0")/lib.sh"

F=$TLSEDGE_FIXTURES

# s_server NAME CERT KEY: starts a TLS origin; sets its port in PORT_<NAME>.
s_server() {
    local oname=$1 port
    port=$(free_port)
    spawn "origin-$oname" openssl s_server -accept "127.0.0.1:$port" -cert "$2" -key "$3" \
        -www -naccept 100
    wait_port "$port" 10
    eval "PORT_$oname=$port"
}
s_server a "$F/a.test.pem" "$F/a.test.key"
s_server b "$F/b.test.pem" "$F/b.test.key"
s_server wild "$F/wild.pem" "$F/wild.key"
# A TLS origin that keeps connections open (s_server -www closes after each response): a second
# tlsedge terminating *.wild.test and forwarding to the plain test origin.
start_origin plain
BP=$(free_port)
BH=$(free_port)
back=$(new_confdir back <<CFG
CONFIG proxy.config.http.server_ports STRING $BP:ssl:ip-in=127.0.0.1 $BH:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.ssl.server.cert.path STRING $F
CONFIG proxy.config.ssl.server.private_key.path STRING $F
CFG
)
echo "dest_ip=* ssl_cert_name=wild.pem ssl_key_name=wild.key" >"$back/ssl_multicert.config"
echo "map https://ka.wild.test/ http://127.0.0.1:$ORIGIN_PORT/" >"$back/remap.config"
start_tlsedge back "$BP" -C "$back"
TLSEDGE_PID= # run_with restarts only the instance under test

TP=$(free_port)
HP=$(free_port)
# An origin whose connects never complete (tests/tools/blackhole).
HOLE=$(free_port)
spawn blackhole "$TOOLS/blackhole" "$HOLE" 170
wait_port "$HOLE" 10

# run_with PLUGIN_CONFIG_LINES EXTRA_RECORDS: (re)starts tlsedge (one worker) with these
# plugin.config lines; sets LOG to its log file.
run_with() {
    if [ -n "${TLSEDGE_PID:-}" ]; then
        kill "$TLSEDGE_PID" 2>/dev/null || true
        wait_exit "$TLSEDGE_PID" 10 || true
    fi
    RUN=$((${RUN:-0} + 1))
    conf=$(new_confdir "conf$RUN" <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1 $HP:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.plugin.plugin_dir STRING $BUILD/plugins
CONFIG proxy.config.ssl.server.cert.path STRING $F
CONFIG proxy.config.ssl.server.private_key.path STRING $F
CONFIG proxy.config.url_remap.pristine_host_hdr INT 1
CONFIG proxy.config.ssl.client.CA.cert.filename STRING $F/ca.pem
CONFIG proxy.config.ssl.origin_session_cache INT 0
${2:-}
CFG
)
    cat >"$conf/ssl_multicert.config" <<'CFG'
ssl_cert_name=a.test.pem ssl_key_name=a.test.key
dest_ip=* ssl_cert_name=default.pem ssl_key_name=default.key
CFG
    cat >"$conf/remap.config" <<CFG
map https://a.test/ https://127.0.0.1:$PORT_a/
map http://a.test/ https://127.0.0.1:$PORT_a/
map http://b.test/ https://127.0.0.1:$PORT_b/
map http://x.wild.test/ https://127.0.0.1:$PORT_wild/
map http://y.wild.test/ https://127.0.0.1:$PORT_wild/
map http://ka.wild.test/ https://127.0.0.1:$BP/
map https://y.wild.test/ https://127.0.0.1:$PORT_wild/
map https://hole.test/ https://127.0.0.1:$HOLE/
map http://hole.test/ http://127.0.0.1:$HOLE/
CFG
    printf '%s\n' "$1" >"$conf/plugin.config"
    LOG="run$RUN"
    start_tlsedge "$LOG" "$HP" -C "$conf"
    wait_port "$TP" 10
    LOG="$T/$LOG.log"
}

# get HOST [OUT]: status of GET / through tlsedge's plain port with Host: HOST (body to OUT).
get() {
    curl -s --max-time 20 -o "${2:-$T/body}" -w '%{http_code}' -H "Host: $1" \
        "http://127.0.0.1:$HP/"
}

# seq_all INSTANCE: every hook INSTANCE logged, in order, space separated.
seq_all() {
    sed -n "s/.*order $1 #[0-9]* \([A-Z_]*\) sni.*/\1/p" "$LOG" | tr '\n' ' ' | sed 's/ $//'
}

echo "hook order: TLS client -> tlsedge -> TLS origin (no connection sharing)"
run_with "order.so A" "CONFIG proxy.config.http.server_session_sharing.match STRING none"
code=$(curl -sk -o "$T/body" -w '%{http_code}' --max-time 15 --resolve "a.test:$TP:127.0.0.1" \
    "https://a.test:$TP/")
check_eq "the request reaches the TLS origin" 200 "$code"
sleep 0.3 # VCONN_CLOSE runs once tlsedge sees the client's close
check_eq "inbound hooks, then OUTBOUND_START, VERIFY_SERVER, OUTBOUND_CLOSE, VCONN_CLOSE" \
    "START HELLO SNI CERT OUT_START VERIFY_SERVER OUT_CLOSE CLOSE" "$(seq_all A)"
check_contains "OUTBOUND_START has the SSL, the socket and the SNI to send" "$LOG" \
    'order A #0 OUT_START sni=a.test ssl=yes fd=yes'
check_contains "VERIFY_SERVER gets the origin's chain from TSVConnSslVerifyCTXGet" "$LOG" \
    'order A #0 VERIFY_SERVER sni=a.test ssl=yes fd=yes cn=a.test'

echo "OUTBOUND_START paused, re-enabled later from another thread"
run_with "order.so A hooks=OUT_START pause=OUT_START delay=400"
check_eq "the request succeeds after the re-enable" 200 "$(get a.test)"
check_contains "  the re-enable came from the plugin's thread" "$LOG" \
    'order A #0 OUT_START reenable'

echo "OUTBOUND_START failed"
run_with "order.so A hooks=OUT_START error=OUT_START"
check_eq "an OUTBOUND_START error gives 502" 502 "$(get a.test)"
check_eq "  counted" 1 "$(stat proxy.process.tlsedge.outbound_start_hook_failures "$HP")"
check_contains "  logged with the origin" "$LOG" "OUTBOUND_START plugin failed"

echo "VERIFY_SERVER without verify.server 2: does not pause, an error still fails"
run_with "order.so A hooks=VERIFY_SERVER error=VERIFY_SERVER match=b.test"
check_eq "a name the plugin accepts passes" 200 "$(get a.test)"
check_eq "the plugin's error fails the origin" 502 "$(get b.test)"
check_eq "  counted as a verify failure" 1 \
    "$(stat proxy.process.ssl.origin_server_cert_verify_failed "$HP")"
check_contains "  logged with the reason" "$LOG" "b.test.*rejected by a VERIFY_SERVER plugin"
run_with "order.so A hooks=VERIFY_SERVER error=VERIFY_SERVER match=b.test" \
    "CONFIG proxy.config.ssl.client.verify.server.policy STRING PERMISSIVE"
check_eq "under PERMISSIVE the plugin's error is logged and the origin used" 200 "$(get b.test)"
check_contains "  logged" "$LOG" "b.test.*rejected by a VERIFY_SERVER plugin.*PERMISSIVE"

echo "a pooled origin connection: OUTBOUND_START once, OUTBOUND_CLOSE when it leaves the pool"
run_with "order.so A hooks=OUT_START,OUT_CLOSE" \
    "CONFIG proxy.config.http.keep_alive_no_activity_timeout_out INT 1"
check_eq "a request to the keep-alive TLS origin" 200 "$(get ka.wild.test)"
check_eq "  and a second one" 200 "$(get ka.wild.test)"
check_eq "two requests, one origin connection: one OUTBOUND_START" 1 \
    "$(grep -c 'order A #0 OUT_START sni' "$LOG")"
check_eq "  no OUTBOUND_CLOSE while it is pooled" 0 "$(grep -c 'order A #0 OUT_CLOSE' "$LOG")"
sleep 2 # the pool's idle timeout (keep_alive_no_activity_timeout_out 1 s)
check_eq "  OUTBOUND_CLOSE once the pool closed it" 1 "$(grep -c 'order A #0 OUT_CLOSE' "$LOG")"

echo "verify.server 2 with the async_verify sample plugin"
run_with "async_verify.so --block b.test --delay x.wild.test --delay-ms 2000" \
    "CONFIG proxy.config.ssl.client.verify.server INT 2"
check_eq "a name no rule mentions passes" 200 "$(get a.test)"
check_eq "a blocked name gets 502" 502 "$(get b.test)"
check_eq "  counted as a verify failure" 1 \
    "$(stat proxy.process.ssl.origin_server_cert_verify_failed "$HP")"
# The delayed request starts first; a request for a.test sent meanwhile on the same (only)
# worker must complete before it: the worker does not wait for the plugin.
: >"$T/order"
(code=$(get x.wild.test "$T/body-slow"); echo "slow $code" >>"$T/order") &
slow=$!
sleep 0.5
check_eq "meanwhile another request on the same worker completes" 200 "$(get a.test)"
echo "fast" >>"$T/order"
wait "$slow"
check_eq "the delayed name succeeds after the delay, after the other request" \
    "fast,slow 200," "$(tr '\n' ',' <"$T/order")"
check_contains "  the origin handshake completed" "$T/body-slow" "Cipher is"
check_contains "  the plugin scheduled the approval" "$LOG" \
    "origin certificate for x.wild.test: approving in 2000 ms"

echo "verify.server 2: a plugin that does not decide in time"
run_with "async_verify.so --delay y.wild.test --delay-ms 2500" \
    "CONFIG proxy.config.ssl.client.verify.server INT 2
CONFIG proxy.config.tlsedge.verify_server_timeout INT 1"
check_eq "proxy.config.tlsedge.verify_server_timeout gives 502" 502 "$(get y.wild.test)"
check_eq "  counted" 1 "$(stat proxy.process.tlsedge.origin_verify_hook_timeouts "$HP")"
check_contains "  logged" "$LOG" "VERIFY_SERVER plugins did not decide in time"
check_eq "the worker still serves other names" 200 "$(get a.test)"
sleep 1.8 # the approval comes after the origin connection is gone
check_eq "the plugin's late approval is ignored (counted)" 1 \
    "$(stat proxy.process.tlsedge.plugin_late_reenables "$HP")"
check_eq "  and the worker goes on" 200 "$(get a.test)"

kill "$TLSEDGE_PID" 2>/dev/null || true
wait_exit "$TLSEDGE_PID" 10 || true
check_eq "tlsedge stops cleanly with a plugin's approval still scheduled" 0 "$EXIT_STATUS"

echo "a TLS client that leaves while its request waits for the origin"
run_with "async_verify.so --delay y.wild.test --delay-ms 2500" \
    "CONFIG proxy.config.ssl.client.verify.server INT 2
CONFIG proxy.config.http.connect_attempts_timeout INT 30"
# tls_gone NAME: a TLS request for NAME that gives up after 1 s.
tls_gone() {
    curl -sk --max-time 1 --resolve "$1:$TP:127.0.0.1" "https://$1:$TP/" >/dev/null 2>&1 || true
    sleep 0.3
}
tls_gone y.wild.test
check_eq "a client gone during VERIFY_SERVER ends its transaction at once (not after 2.5 s)" 1 \
    "$(stat proxy.process.http.err_client_abort_count_stat "$HP")"
check_eq "  and tlsedge's connection to the origin is closed" 0 \
    "$(ss -Htn state established "dport = :$PORT_wild" | wc -l)"
tls_gone hole.test
check_eq "a client gone while the origin connects ends its transaction (connect timeout 30 s)" 2 \
    "$(stat proxy.process.http.err_client_abort_count_stat "$HP")"
check_eq "  and the pending connect is abandoned" 0 \
    "$(ss -Htnp state syn-sent "dport = :$HOLE" | grep -c "pid=$TLSEDGE_PID," || true)"
check_eq "the worker goes on" 200 "$(get a.test)"
sleep 1.2 # the plugin's approval comes after the transaction is gone
check_eq "the plugin's late approval for the departed client is ignored (counted)" 1 \
    "$(stat proxy.process.tlsedge.plugin_late_reenables "$HP")"
# A plain HTTP client's FIN may be a half-close (allow_half_open 1, ATS's default): its
# transaction goes on; with allow_half_open 0 the client is gone.
# plain_gone: a plain request for hole.test that gives up after 1 s; prints tlsedge's pending
# connects to the blackhole.
plain_gone() {
    curl -s --max-time 1 -H 'Host: hole.test' "http://127.0.0.1:$HP/" >/dev/null 2>&1 || true
    sleep 0.3
    ss -Htnp state syn-sent "dport = :$HOLE" | grep -c "pid=$TLSEDGE_PID," || true
}
check_eq "allow_half_open 1: a plain client's FIN keeps its transaction (still connecting)" 1 \
    "$(plain_gone)"
check_eq "  not counted as an abort" 2 "$(stat proxy.process.http.err_client_abort_count_stat "$HP")"
run_with "" "CONFIG proxy.config.http.allow_half_open INT 0"
check_eq "allow_half_open 0: a plain client's FIN ends its transaction" 0 "$(plain_gone)"
check_eq "  counted" 1 "$(stat proxy.process.http.err_client_abort_count_stat "$HP")"
finish
