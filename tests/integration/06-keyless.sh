#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Keys on a remote signer (keyless, the seeds' CryptoProxy) through the handshake pool: ECDSA
# and RSA handshakes, a worker that never waits for a slow signer, a signer restarted between
# handshakes (the first one after it succeeds, in both offload modes), a signer replaced while a
# signature is in flight (sent again to the new one), a signer killed and restarted, a client
# that leaves while its signature is in flight, and a full queue.
. "$(dirname "$0")/lib.sh"

F=$TLSEDGE_FIXTURES
KS="$BUILD/tlsedge-keyserver"
mkdir -p "$T/keys"
cp "$F/a.test.key" "$F/rsa.key" "$F/cnonly.key" "$T/keys/"

# start_keyserver DELAY_MS: (re)starts the signer on $KP; sets KS_PID.
KP=$(free_port)
start_keyserver() {
    spawn "keyserver-$1-$RANDOM" "$KS" --keys "$T/keys" --listen "127.0.0.1:$KP" \
        --delay-ms "$1" --threads 2 --max-seconds 170
    KS_PID=$LAST_PID
    wait_port "$KP" 10
}

# conf NAME QUEUE_MAX [OFFLOAD]: a one-worker configuration whose a.test and rsa.test keys are on
# the signer and whose b.test key is a file (handshake_offload OFFLOAD, default key); makes the
# directory $d and sets TP/HP.
conf() {
    TP=$(free_port)
    HP=$(free_port)
    d=$(new_confdir "$1" <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1 $HP:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.ssl.server.cert.path STRING $F
CONFIG proxy.config.ssl.server.private_key.path STRING $F
CONFIG proxy.config.tlsedge.handshake_queue_max INT $2
CONFIG proxy.config.ssl.handshake_timeout_in INT 20
CONFIG proxy.config.tlsedge.handshake_offload STRING ${3:-key}
CFG
)
    cat >"$d/ssl_multicert.config" <<CFG
ssl_cert_name=a.test.pem ssl_key_name=keyless://127.0.0.1:$KP
ssl_cert_name=rsa.pem ssl_key_name=keyless://127.0.0.1:$KP
ssl_cert_name=b.test.pem ssl_key_name=b.test.key
ssl_cert_name=cnonly.pem ssl_key_name=keyless:unix:$T/ks.sock
CFG
}

# hs NAME [ARGS]: one verified handshake; prints "ok" or "fail".
hs() {
    n=$1
    shift
    if openssl s_client -connect "127.0.0.1:$TP" -servername "$n" -verify_return_error \
        -CAfile "$F/ca.pem" "$@" </dev/null >/dev/null 2>&1; then echo ok; else echo fail; fi
}

# timed_hs NAME OUTFILE: a handshake in the background that writes "<ok|fail> <ns>" when done.
timed_hs() {
    (r=$(hs "$1"); echo "$r $(date +%s%N)" >"$2") &
    HS_PIDS="$HS_PIDS $!"
}

# A signer that cannot be reached is a warning, not an error: a rotation must not wait for it.
conf check 4096
rc=0
"$TLSEDGE" -t -C "$d" >"$T/check.out" 2>&1 || rc=$?
check_eq "-t with the signer down still passes" 0 "$rc"
check_contains "and warns that the signer is not reachable" "$T/check.out" \
    "warning: .*ssl_multicert.config:1:.*keyless signer keyless://127.0.0.1:$KP is not reachable"

start_keyserver 0
spawn unixsigner "$KS" --keys "$T/keys" --listen "unix:$T/ks.sock" --max-seconds 170
US_PID=$LAST_PID
for i in $(seq 1 50); do [ -S "$T/ks.sock" ] && break; sleep 0.1; done
conf main 4096
start_tlsedge tlsedge "$TP" -C "$d"
check_eq "ECDSA handshake through the keyless signer" ok "$(hs a.test)"
check_eq "RSA handshake through the keyless signer" ok "$(hs rsa.test -sigalgs RSA-PSS+SHA256)"
check_eq "RSA PKCS#1 (TLS 1.2) through the keyless signer" ok \
    "$(hs rsa.test -tls1_2 -sigalgs RSA+SHA256)"
check "curl over the keyless ECDSA key" curl -s --max-time 5 --cacert "$F/ca.pem" \
    --resolve "a.test:$TP:127.0.0.1" -o /dev/null "https://a.test:$TP/_tlsedge/stats"
check_eq "file-key handshake beside it" ok "$(hs b.test)"
check_eq "a key on a signer behind a unix socket (keyless:unix:PATH)" ok "$(hs cn.test)"
check "key operations were counted" test "$(stat proxy.process.tlsedge.key_ops "$HP")" -ge 4

# The signer restarts between handshakes: the connections tlsedge keeps to it (the multiplexed
# one in key mode, the blocking one in accept mode) now lead nowhere, and a request written on
# one before tlsedge saw it close must be sent again on a new connection, not fail. The first
# handshake after each of three restarts, in both modes.
MAIN_TP=$TP
MAIN_HP=$HP
MAIN_PID=$TLSEDGE_PID
conf accept 4096 accept
start_tlsedge accept "$TP" -C "$d"
ACC_TP=$TP
ACC_PID=$TLSEDGE_PID
check_eq "accept mode: a handshake through the keyless signer" ok "$(hs a.test)"
for r in 1 2 3; do
    kill "$KS_PID"
    wait "$KS_PID" 2>/dev/null || true
    start_keyserver 0
    TP=$MAIN_TP
    first_key=$(hs a.test)
    TP=$ACC_TP
    first_acc=$(hs a.test)
    check_eq "signer restart $r: the first key-mode handshake after it succeeds" ok "$first_key"
    check_eq "signer restart $r: the first accept-mode handshake after it succeeds" ok "$first_acc"
done
kill "$ACC_PID"
wait "$ACC_PID" 2>/dev/null || true
TP=$MAIN_TP
HP=$MAIN_HP
TLSEDGE_PID=$MAIN_PID

# A signer replaced while a signature is in flight: a new signer takes over the socket path, the
# old one dies before it answers; tlsedge sends the request once more, to the new signer.
kill "$US_PID"
wait "$US_PID" 2>/dev/null || true
old_ms=1000
[ -n "$SANITIZED" ] && old_ms=3000
spawn oldsigner "$KS" --keys "$T/keys" --listen "unix:$T/ks.sock" --delay-ms "$old_ms" \
    --max-seconds 170
OLD_PID=$LAST_PID
for i in $(seq 1 50); do grep -q '^LISTEN' "$T/oldsigner.log" && break; sleep 0.1; done
HS_PIDS=""
timed_hs cn.test "$T/replaced"
sleep 0.3
spawn unixsigner2 "$KS" --keys "$T/keys" --listen "unix:$T/ks.sock" --max-seconds 170
US2_PID=$LAST_PID
for i in $(seq 1 50); do grep -q '^LISTEN' "$T/unixsigner2.log" && break; sleep 0.1; done
kill -9 "$OLD_PID"
wait "$OLD_PID" 2>/dev/null || true
wait $HS_PIDS
check_eq "a handshake whose signer was replaced mid-signature succeeds" ok \
    "$(cut -d' ' -f1 "$T/replaced")"
check_contains "tlsedge sent its request again on a new connection" "$T/tlsedge.log" \
    "keyless signer keyless:unix:.*connection lost .*; 1 requests resent, 0 failed"

# A rolling restart: a third signer takes over the path, then the second one stops gracefully.
# It must not unlink the path it no longer owns (the third signer's socket).
spawn unixsigner3 "$KS" --keys "$T/keys" --listen "unix:$T/ks.sock" --max-seconds 170
for i in $(seq 1 50); do grep -q '^LISTEN' "$T/unixsigner3.log" && break; sleep 0.1; done
kill "$US2_PID"
wait "$US2_PID" 2>/dev/null || true
check "a signer that stops leaves a newer signer's socket path in place" test -S "$T/ks.sock"
check_eq "handshakes reach the newer signer" ok "$(hs cn.test)"

# The worker never waits: 8 handshakes whose signatures take 500 ms, then one with a file key on
# the same (single) worker: the file-key handshake completes first.
kill "$KS_PID"
wait "$KS_PID" 2>/dev/null || true
# 2 s in a sanitizer build, where starting a handshake on a busy machine can take most of 500 ms.
slow_ms=500
[ -n "$SANITIZED" ] && slow_ms=2000
start_keyserver "$slow_ms"
HS_PIDS=""
for i in 1 2 3 4 5 6 7 8; do timed_hs a.test "$T/slow.$i"; done
sleep 0.1
timed_hs b.test "$T/fast"
wait $HS_PIDS
fast=$(cut -d' ' -f2 "$T/fast")
first_slow=$(cat "$T"/slow.* | cut -d' ' -f2 | sort -n | head -n 1)
check_eq "the file-key handshake succeeded" ok "$(cut -d' ' -f1 "$T/fast")"
check_eq "all 8 slow handshakes (the first after a signer restart) succeeded" 8 "$(grep -c '^ok' "$T"/slow.* | awk -F: '{s += $2} END {print s}')"
check "the file-key handshake finished before every slow one" test "$fast" -lt "$first_slow"

# A client that leaves while its signature is in flight (the sanitizer run checks for misuse).
openssl s_client -connect "127.0.0.1:$TP" -servername a.test </dev/null >/dev/null 2>&1 &
gone=$!
sleep 0.15
kill "$gone" 2>/dev/null || true
wait "$gone" 2>/dev/null || true
sleep 0.6
check_eq "after a client left mid-signature, handshakes still work" ok "$(hs b.test)"

# The signer dies mid-run: in-flight handshakes fail cleanly, later ones succeed once it is back.
HS_PIDS=""
for i in 1 2 3; do timed_hs a.test "$T/dead.$i"; done
sleep 0.15
kill -9 "$KS_PID"
wait "$KS_PID" 2>/dev/null || true
wait $HS_PIDS
check_eq "handshakes in flight when the signer died failed" 3 \
    "$(grep -c '^fail' "$T"/dead.* | awk -F: '{s += $2} END {print s}')"
check "tlsedge is still running" kill -0 "$TLSEDGE_PID"
check_eq "a file-key handshake works while the signer is down" ok "$(hs b.test)"
start_keyserver 0
back=fail
for i in $(seq 1 30); do
    back=$(hs a.test)
    [ "$back" = ok ] && break
    sleep 0.2
done
check_eq "keyless handshakes succeed again after the signer restarts" ok "$back"
check "key operation failures were counted" test "$(stat proxy.process.ssl.key_op_failures "$HP")" -ge 3

# A tiny queue: excess slow handshakes fail fast and are counted.
kill "$KS_PID"
wait "$KS_PID" 2>/dev/null || true
start_keyserver 1000
conf small 2
start_tlsedge small "$TP" -C "$d"
HS_PIDS=""
for i in 1 2 3 4 5 6; do timed_hs a.test "$T/q.$i"; done
wait $HS_PIDS
check_eq "two handshakes fit in the queue" 2 "$(grep -c '^ok' "$T"/q.* | awk -F: '{s += $2} END {print s}')"
check "the others were refused and counted" test "$(stat proxy.process.tlsedge.handshake_queue_full "$HP")" -ge 4
finish
