#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Inbound TLS hooks (tests/plugins/order.so): the order VCONN_START, CLIENT_HELLO, SERVERNAME,
# CERT, VCONN_CLOSE; VCONN_START, CLIENT_HELLO and CERT paused and re-enabled later from another
# thread while the same (only) worker completes other handshakes; several plugins on one hook
# in registration order; TSVConnReenableEx(ERROR) fails the handshake; a client that leaves
# while CERT is paused (re-enable 500 ms later: no crash, VCONN_CLOSE once); a re-enable after the
# handshake timeout closed the connection is a counted no-op; TS_THREAD_POOL_TASK/NET re-enables.
. "$(dirname "$0")/lib.sh"

F=$TLSEDGE_FIXTURES
TP=$(free_port)
HP=$(free_port)

# run_with PLUGIN_CONFIG_LINES [TIMEOUT]: (re)starts tlsedge with these plugin.config lines.
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
CONFIG proxy.config.ssl.handshake_timeout_in INT ${2:-10}
CONFIG proxy.config.url_remap.remap_required INT 0
CFG
)
    cat >"$conf/ssl_multicert.config" <<'CFG'
ssl_cert_name=a.test.pem ssl_key_name=a.test.key
dest_ip=* ssl_cert_name=default.pem ssl_key_name=default.key
CFG
    printf '%s\n' "$1" >"$conf/plugin.config"
    LOG="run$RUN"
    start_tlsedge "$LOG" "$TP" -C "$conf"
    LOG="$T/$LOG.log"
}

# hs NAME: one TLS handshake + request with SNI NAME; prints curl's exit status.
hs() {
    curl -sk -o /dev/null --max-time 15 --resolve "$1:$TP:127.0.0.1" \
        "https://$1:$TP/_tlsedge/stats" && echo 0 || echo $?
}

# seq_of ID: the hooks instance A saw for connection ID, in order, space separated.
seq_of() {
    sed -n "s/.*order A #$1 \([A-Z]*\) sni.*/\1/p" "$LOG" | tr '\n' ' ' | sed 's/ $//'
}

# -- order of the hooks --
run_with "order.so A"
check_eq "a handshake with SNI completes" 0 "$(hs a.test)"
sleep 0.3
check_eq "hooks run in the seeds' order" "START HELLO SNI CERT CLOSE" "$(seq_of 1)"
check_contains "SNI is visible from CLIENT_HELLO on" "$LOG" 'order A #1 HELLO sni=a.test ssl=yes'
check_contains "VCONN_START has no SSL yet but a socket" "$LOG" 'order A #1 START sni= ssl=no fd=yes'
openssl s_client -connect "127.0.0.1:$TP" -noservername </dev/null >/dev/null 2>&1 || true
sleep 0.3
check_eq "without SNI, SERVERNAME does not run" "START HELLO CERT CLOSE" "$(seq_of 2)"

# -- pause each pausable hook, re-enable from another thread; the worker goes on meanwhile --
for h in START HELLO CERT; do
    match="match=slow.test"
    [ "$h" = START ] && match="" # no SNI yet at VCONN_START: pause every connection
    run_with "order.so A pause=$h delay=3000 $match"
    rm -f "$T/done"
    ( r=$(hs slow.test); echo "slow $r" >>"$T/done" ) &
    slow=$!
    sleep 0.5
    if [ "$h" = START ]; then
        # every connection pauses: the second one, started later, still completes on its own
        ( r=$(hs a.test); echo "fast $r" >>"$T/done" ) &
        fast=$!
        wait "$fast" "$slow"
        check_eq "$h paused: both handshakes complete after the re-enables" 2 \
            "$(grep -c ' 0$' "$T/done")"
    else
        r=$(hs a.test)
        echo "fast $r" >>"$T/done"
        wait "$slow"
        check_eq "$h paused 3 s: another handshake on the same worker completes first" \
            "fast 0,slow 0" "$(tr '\n' ',' <"$T/done" | sed 's/,$//')"
    fi
    check_contains "$h was re-enabled from the plugin's thread" "$LOG" "order A #1 $h reenable"
done

# -- several plugins on one hook run in registration order, each after the previous re-enable --
run_with "order.so A hooks=CERT pause=CERT delay=400
order.so B hooks=CERT
order.so C hooks=CERT"
check_eq "three plugins on CERT: the handshake completes" 0 "$(hs a.test)"
sed -n 's/.*order \([ABC]\) #0 CERT\( reenable\)\{0,1\}.*/\1\2/p' "$LOG" | tr '\n' ',' >"$T/cert-order"
check_eq "CERT plugins ran in registration order, B after A's re-enable" "A,A reenable,B,C," \
    "$(cat "$T/cert-order")"

# -- TSVConnReenableEx(ERROR) fails the handshake (inline, and later from a thread) --
run_with "order.so A error=CERT match=bad.test
order.so B hooks=HELLO pause=HELLO error=HELLO delay=200 match=worse.test"
check "ERROR from CERT fails the handshake" sh -c "[ \"\$(curl -sk -o /dev/null --resolve bad.test:$TP:127.0.0.1 https://bad.test:$TP/ && echo ok)\" != ok ]"
check "ERROR from a paused CLIENT_HELLO (other thread) fails the handshake" sh -c "[ \"\$(curl -sk -o /dev/null --resolve worse.test:$TP:127.0.0.1 https://worse.test:$TP/ && echo ok)\" != ok ]"
check_eq "other names still complete" 0 "$(hs a.test)"
sleep 0.3
check_eq "each failed connection still ran VCONN_CLOSE once" 3 "$(grep -c 'order A #[0-9]* CLOSE' "$LOG")"

# -- the client leaves while CERT is paused; the re-enable comes 500 ms later --
run_with "order.so A pause=CERT delay=500 match=gone.test"
timeout 0.25 openssl s_client -connect "127.0.0.1:$TP" -servername gone.test \
    </dev/null >/dev/null 2>&1 || true
sleep 1
check_contains "the late CERT re-enable was delivered" "$LOG" 'order A #1 CERT reenable'
check_eq "VCONN_CLOSE ran exactly once for the departed client" 1 \
    "$(grep -c 'order A #1 CLOSE' "$LOG")"
check_eq "tlsedge still serves" 0 "$(hs a.test)"

# -- the handshake timeout closes a paused connection; the re-enable after it is a no-op --
run_with "order.so A pause=CERT delay=2500 match=late.test" 1
check "a handshake paused past the timeout fails" sh -c "[ \"\$(curl -sk -o /dev/null --max-time 5 --resolve late.test:$TP:127.0.0.1 https://late.test:$TP/ && echo ok)\" != ok ]"
sleep 2.5
check_contains "the re-enable after close was sent" "$LOG" 'order A #1 CERT reenable'
check_eq "it was counted as a late no-op" 1 "$(stat proxy.process.tlsedge.plugin_late_reenables "$HP")"
check_eq "VCONN_CLOSE ran exactly once" 1 "$(grep -c 'order A #1 CLOSE' "$LOG")"
check_eq "tlsedge still serves" 0 "$(hs a.test)"

# -- re-enable through TSContScheduleOnPool: a task thread, and the owning worker (NET) --
run_with "order.so A hooks=CERT,CLOSE pause=CERT delay=300 via=task match=task.test
order.so B hooks=HELLO pause=HELLO delay=300 via=net match=task.test"
check_eq "CLIENT_HELLO re-enabled from a NET continuation, CERT from a TASK one" 0 "$(hs task.test)"
check_contains "the TASK continuation re-enabled CERT" "$LOG" 'order A #0 CERT reenable'
check_contains "the NET continuation re-enabled CLIENT_HELLO" "$LOG" 'order B #0 HELLO reenable'
finish
