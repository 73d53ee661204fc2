#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Keys in an HSM and a TPM over PKCS#11: SoftHSM2 and a software TPM (swtpm + tpm2-abrmd +
# tpm2-pkcs11), each behind its own `p11-kit server`, reached through p11-kit-client.so. ECDSA
# and RSA (PSS and PKCS#1) handshakes in both offload modes (key, accept), a keyless signer in
# accept mode, loading SoftHSM2's module directly refused with the explanation, a refused PIN,
# a token that cannot be reached (a warning), and no PIN in any log.
. "$(dirname "$0")/lib.sh"

F=$TLSEDGE_FIXTURES
KS="$T/ks"
if ! bash "$FIXTURES/keystores.sh" start "$KS" "$F/ca.pem" "$F/ca.key" >"$T/keystores.log" 2>&1; then
    fail "the SoftHSM2 token and its p11-kit server could not be made (see keystores.log)"
    finish
fi
for f in "$KS"/*.pid; do PIDS="$PIDS $(cat "$f")"; done # the exit trap stops them too
. "$KS/keystores.env"
PIN=$(cat "$KS_PIN_FILE")
CLIENT_MODULE=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so

# conf NAME MODE ADDR TOKEN: a one-worker configuration with the token's EC and RSA keys (the EC
# key's PIN from a file, the RSA key's in the URI) and a file key beside them; prints the
# directory and sets TP/HP.
conf() {
    TP=$(free_port)
    HP=$(free_port)
    d=$(new_confdir "$1" <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1 $HP:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.tlsedge.handshake_threads INT 2
CONFIG proxy.config.tlsedge.handshake_offload STRING $2
CONFIG proxy.config.tlsedge.pkcs11.server_address STRING $3
CONFIG proxy.config.ssl.server.cert.path STRING $KS
CONFIG proxy.config.ssl.server.private_key.path STRING $F
CONFIG proxy.config.ssl.handshake_timeout_in INT 20
CONFIG proxy.config.diags.debug.enabled INT 1
CONFIG proxy.config.diags.debug.tags STRING ssl
CFG
)
    cat >"$d/ssl_multicert.config" <<CFG
ssl_cert_name=$4-ec.pem ssl_key_name=pkcs11:token=$5;object=$4-ec;type=private?pin-source=file:$KS_PIN_FILE
ssl_cert_name=$4-rsa.pem ssl_key_name=pkcs11:token=$5;id=%02;type=private?pin-value=$PIN
ssl_cert_name=$F/b.test.pem ssl_key_name=b.test.key
CFG
}

# p11name PREFIX: the fixture's name for the token's p11-kit server (its pid file).
p11name() { if [ "$1" = hsm ]; then echo softhsm; else echo "$1"; fi; }

# hs NAME [ARGS]: one verified handshake; prints "ok" or "fail".
hs() {
    n=$1
    shift
    if openssl s_client -connect "127.0.0.1:$TP" -servername "$n" -verify_return_error \
        -CAfile "$F/ca.pem" "$@" </dev/null >"$T/s_client.out" 2>&1; then echo ok; else echo fail; fi
}

# hs_parallel NAME N: N handshakes for NAME at the same time; prints how many succeeded.
hs_parallel() {
    local i pids=""
    for i in $(seq 1 "$2"); do
        (hs "$1" >"$T/par.$i") &
        pids="$pids $!"
    done
    wait $pids
    cat "$T"/par.* | grep -c '^ok' || true
    rm -f "$T"/par.*
}

# handshakes LABEL PREFIX MODE: ECDSA, RSA-PSS (TLS 1.3, twice: tpm2-pkcs11's own PSS failed
# from the second signature), RSA PKCS#1 (TLS 1.2) and 8 concurrent handshakes.
handshakes() {
    check_eq "$1 $3: ECDSA P-256 handshake" ok "$(hs "$2-ec.test" -sigalgs ECDSA+SHA256)"
    check_eq "$1 $3: RSA-PSS handshake (TLS 1.3)" ok "$(hs "$2-rsa.test" -sigalgs RSA-PSS+SHA256)"
    check_eq "$1 $3: a second RSA-PSS handshake" ok "$(hs "$2-rsa.test" -sigalgs RSA-PSS+SHA384)"
    check_eq "$1 $3: RSA PKCS#1 handshake (TLS 1.2)" ok \
        "$(hs "$2-rsa.test" -tls1_2 -sigalgs RSA+SHA256)"
    check_eq "$1 $3: 8 concurrent ECDSA handshakes" 8 "$(hs_parallel "$2-ec.test" 8)"
    # Both handshake threads signed, each through a p11-kit-client copy of its own: its own
    # connection, served by its own p11-kit-remote process (the server's children: one for the
    # main thread's check at load, one per handshake thread).
    check_eq "$1 $3: each of the 2 handshake threads has its own p11-kit connection" 2 \
        "$(stat proxy.process.tlsedge.pkcs11_thread_connections "$HP")"
    check_eq "$1 $3: the p11-kit server serves 3 connections" 3 \
        "$(pgrep -c -P "$(cat "$KS/p11kit-$(p11name "$2").pid")" || true)"
    check_eq "$1 $3: a file-key handshake beside them" ok "$(hs b.test)"
    # A client's handshake is done once it sent Finished: the server's count shows that tlsedge
    # saw every Finished too (in accept mode it may arrive while the connection is lent).
    sleep 0.3
    check_eq "$1 $3: tlsedge completed all 13 handshakes" 13 \
        "$(stat proxy.process.ssl.total_success_handshake_count_in "$HP")"
    ops=$(stat proxy.process.tlsedge.key_ops "$HP")
    lent=$(stat proxy.process.tlsedge.handshakes_lent "$HP")
    check "$1 $3: 12 key operations counted (got $ops)" test "$ops" -eq 12
    if [ "$3" = accept ]; then
        check_eq "$1 accept: every key operation lent its connection to the pool" "$ops" "$lent"
    else
        check_eq "$1 key: no connection was lent" 0 "$lent"
    fi
    check_eq "$1 $3: no key operation failed" 0 "$(stat proxy.process.ssl.key_op_failures "$HP")"
}

# run_token LABEL PREFIX TOKEN ADDR: both offload modes against one token.
run_token() {
    for mode in key accept; do
        conf "$2-$mode" "$mode" "$4" "$2" "$3"
        start_tlsedge "$2-$mode" "$TP" -C "$d" || return 0
        handshakes "$1" "$2" "$mode"
        kill "$TLSEDGE_PID"
        wait_exit "$TLSEDGE_PID" 10 || true
        check_eq "$1 $mode: tlsedge stopped cleanly" 0 "$EXIT_STATUS"
    done
}

run_token SoftHSM2 hsm edge "$KS_SOFTHSM_ADDR"
# proxy.config.tlsedge.pkcs11.connection_per_thread 0: the threads share the main connection.
conf shared key "$KS_SOFTHSM_ADDR" hsm edge
echo "CONFIG proxy.config.tlsedge.pkcs11.connection_per_thread INT 0" >>"$d/records.config"
start_tlsedge shared "$TP" -C "$d"
check_eq "one shared connection: 6 concurrent RSA handshakes" 6 "$(hs_parallel hsm-rsa.test 6)"
check_eq "one shared connection: no thread loaded a copy" 0 \
    "$(stat proxy.process.tlsedge.pkcs11_thread_connections "$HP")"
check_eq "one shared connection: the p11-kit server serves 1 connection" 1 \
    "$(pgrep -c -P "$(cat "$KS/p11kit-softhsm.pid")" || true)"
kill "$TLSEDGE_PID"
wait_exit "$TLSEDGE_PID" 10 || true
check_eq "one shared connection: tlsedge stopped cleanly" 0 "$EXIT_STATUS"
# The bench's ceiling: the token's own signing rate, measured by build/tools/p11sign.
P11_KIT_SERVER_ADDRESS=$KS_SOFTHSM_ADDR "$TOOLS/p11sign" -t edge -l hsm-rsa -p "$KS_PIN_FILE" \
    -n 2 -d 0.3 >"$T/p11sign.out" 2>&1 || true
check "p11sign signs with the SoftHSM2 key alone, without errors" \
    jq -e '.signs > 0 and .errors == 0' "$T/p11sign.out"
P11_KIT_SERVER_ADDRESS=$KS_SOFTHSM_ADDR "$TOOLS/p11sign" -c -t edge -l hsm-ec -p "$KS_PIN_FILE" \
    -n 2 -d 0.3 >"$T/p11sign-c.out" 2>&1 || true
check "p11sign -c (a module copy per thread) signs without errors" \
    jq -e '.signs > 0 and .errors == 0' "$T/p11sign-c.out"
if [ -n "$KS_TPM_ADDR" ]; then
    run_token TPM tpm tpm "$KS_TPM_ADDR"
else
    skip "TPM ECDSA and RSA handshakes: the TPM stack could not start here: $(cat "$KS/tpm.skip")"
fi

# A keyless signer in accept mode: the pool thread waits for the signer's answer itself.
mkdir -p "$T/keys"
cp "$F/a.test.key" "$T/keys/"
KP=$(free_port)
spawn keyserver "$BUILD/tlsedge-keyserver" --keys "$T/keys" --listen "127.0.0.1:$KP" \
    --delay-ms 5 --threads 2 --max-seconds 170
wait_port "$KP" 10
conf keyless accept "$KS_SOFTHSM_ADDR" hsm edge
echo "ssl_cert_name=$F/a.test.pem ssl_key_name=keyless://127.0.0.1:$KP" >>"$d/ssl_multicert.config"
start_tlsedge keyless-accept "$TP" -C "$d"
check_eq "keyless signer in accept mode: ECDSA handshake" ok "$(hs a.test)"
check_eq "keyless signer in accept mode: a second one (connection reused)" ok "$(hs a.test)"
check_eq "keyless signer in accept mode: connections were lent" 2 \
    "$(stat proxy.process.tlsedge.handshakes_lent "$HP")"

# A reload rebuilds every PKCS#11 key (the module stays loaded) while handshakes go on.
kill -HUP "$TLSEDGE_PID"
for _ in $(seq 50); do grep -q "generation 2 published" "$T/keyless-accept.log" && break; sleep 0.1; done
check_contains "SIGHUP reloads a configuration with PKCS#11 keys" "$T/keyless-accept.log" \
    "reload: configuration generation 2 published"
check_eq "a PKCS#11 handshake after the reload" ok "$(hs hsm-rsa.test)"

# The handshake times out while its connection is lent (a 2 s signer, a 1 s timeout): the
# worker closes the socket, the pool thread finishes on its own descriptor, and the connection
# is freed when it comes back (the sanitizer run checks for misuse).
kill "$TLSEDGE_PID"
wait "$TLSEDGE_PID" 2>/dev/null || true
KP2=$(free_port)
spawn slowsigner "$BUILD/tlsedge-keyserver" --keys "$T/keys" --listen "127.0.0.1:$KP2" \
    --delay-ms 2000 --threads 2 --max-seconds 170
wait_port "$KP2" 10
conf lent-timeout accept "$KS_SOFTHSM_ADDR" hsm edge
sed -i 's/handshake_timeout_in INT 20/handshake_timeout_in INT 1/' "$d/records.config"
echo "ssl_cert_name=$F/a.test.pem ssl_key_name=keyless://127.0.0.1:$KP2" >>"$d/ssl_multicert.config"
start_tlsedge lent-timeout "$TP" -C "$d"
check_eq "a handshake whose signer outlives the timeout fails" fail "$(hs a.test)"
sleep 1.5 # the signer answers; the lent connection comes back and is freed
check_eq "the timeout was counted" 1 "$(stat proxy.process.tlsedge.handshake_timeouts_in "$HP")"
check_eq "handshakes go on after the orphaned one came back" ok "$(hs hsm-ec.test)"
check "tlsedge is still running" kill -0 "$TLSEDGE_PID"

# SoftHSM2's module loaded directly: refused before dlopen, with the p11-kit server set-up.
conf direct key "$KS_SOFTHSM_ADDR" hsm edge
echo "CONFIG proxy.config.tlsedge.pkcs11.module STRING $KS_SOFTHSM_MODULE" >>"$d/records.config"
rc=0
"$TLSEDGE" -t -C "$d" >"$T/direct.log" 2>&1 || rc=$?
check_eq "loading libsofthsm2.so directly is refused" 1 "$rc"
check_contains "the error names the OpenSSL dependency" "$T/direct.log" \
    "error: .*ssl_multicert.config:1: PKCS#11 module $KS_SOFTHSM_MODULE needs libcrypto"
check_contains "and explains the p11-kit server set-up" "$T/direct.log" \
    "p11-kit server -n SOCKET --provider $KS_SOFTHSM_MODULE"
sed -i "s|type=private?pin-value=|type=private?module-path=$KS_SOFTHSM_MODULE\&pin-value=|" \
    "$T/hsm-key/ssl_multicert.config"
rc=0
"$TLSEDGE" -t -C "$T/hsm-key" >"$T/uri-module.log" 2>&1 || rc=$?
check_eq "module-path= naming libsofthsm2.so in the URI is refused too" 1 "$rc"

# A wrong PIN is an error at load (retrying would lock the token); the PIN is not printed.
# (Login is per token, so both lines get a wrong one: a good login on line 1 would serve line 2.)
conf badpin key "$KS_SOFTHSM_ADDR" hsm edge
printf 'wrong-%s-x\n' "$PIN" >"$T/wrong.pin"
sed -i "s|pin-value=$PIN|pin-value=wrong-$PIN-x|; s|pin-source=file:$KS_PIN_FILE|pin-source=file:$T/wrong.pin|" \
    "$d/ssl_multicert.config"
rc=0
"$TLSEDGE" -t -C "$d" >"$T/badpin.log" 2>&1 || rc=$?
check_eq "a refused PIN stops the check" 1 "$rc"
check_contains "naming the key and the refusal" "$T/badpin.log" \
    "ssl_multicert.config:1: PKCS#11 key pkcs11:token=edge;object=hsm-ec;type=private: the token refused the PIN"

# A token that cannot be reached now is only a warning: a rotation must not wait for an HSM.
conf down key "unix:path=$T/nothing-here.sock" hsm edge
rc=0
env -u P11_KIT_SERVER_ADDRESS "$TLSEDGE" -t -C "$d" >"$T/down.log" 2>&1 || rc=$?
check_eq "-t with the token unreachable still passes" 0 "$rc"
check_contains "and warns that the key is not reachable" "$T/down.log" \
    "warning: .*ssl_multicert.config:1: PKCS#11 key pkcs11:token=edge;object=hsm-ec;type=private is not reachable now"

# Bad URIs are errors that name the attribute, never a value.
conf baduri key "$KS_SOFTHSM_ADDR" hsm edge
sed -i "s|object=hsm-ec;type=private|object=hsm-ec;object=x%zz|" "$d/ssl_multicert.config"
rc=0
"$TLSEDGE" -t -C "$d" >"$T/baduri.log" 2>&1 || rc=$?
check_eq "a URI with an attribute given twice is refused" 1 "$rc"
check_contains "naming the attribute" "$T/baduri.log" "bad PKCS#11 URI .*: attribute 'object' given twice"

finish_pin_check() {
    # Every tlsedge output of this test, debug lines included, must be free of the PIN.
    if grep -lF -- "$PIN" "$T"/*.log "$T"/*.out 2>/dev/null | grep -v keystores.log; then
        fail "the PIN appears in a log"
    else
        pass "the PIN appears in no log ($(ls "$T"/*.log | wc -l) logs checked)"
    fi
}
kill "$TLSEDGE_PID" 2>/dev/null || true
wait "$TLSEDGE_PID" 2>/dev/null || true
finish_pin_check
bash "$FIXTURES/keystores.sh" stop "$KS"
finish
