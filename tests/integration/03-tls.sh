#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# TLS termination: certificate choice by SNI (exact, wildcard, default), TLS 1.2 and 1.3, the
# ECDSA or RSA chain of one dual line chosen from the client's signature algorithms, the
# handshake timeout, garbage, unrecognized_name without a default, and the wire trace.
. "$(dirname "$0")/lib.sh"

F=$TLSEDGE_FIXTURES
TP=$(free_port)
HP=$(free_port)
conf=$(new_confdir conf <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1 $HP:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.ssl.server.cert.path STRING $F
CONFIG proxy.config.ssl.server.private_key.path STRING $F
CONFIG proxy.config.ssl.handshake_timeout_in INT 2
CONFIG proxy.config.diags.debug.enabled INT 1
CONFIG proxy.config.diags.debug.tags STRING ssl
CONFIG proxy.config.ssl.wire_trace_enabled INT 1
CONFIG proxy.config.ssl.wire_trace_server_name STRING b.test
CONFIG proxy.config.ssl.wire_trace_percentage INT 100
CFG
)
cat >"$conf/ssl_multicert.config" <<'CFG'
ssl_cert_name=a.test.pem ssl_key_name=a.test.key
ssl_cert_name=b.test.pem ssl_key_name=b.test.key
ssl_cert_name=wild.pem ssl_key_name=wild.key
ssl_cert_name=dual-ec.pem,dual-rsa.pem ssl_key_name=dual-ec.key,dual-rsa.key
dest_ip=* ssl_cert_name=default.pem ssl_key_name=default.key
CFG
start_tlsedge tlsedge "$TP" -C "$conf"

# served_cn ARGS...: the CN of the certificate the server sends for an s_client with ARGS.
served_cn() {
    openssl s_client -connect "127.0.0.1:$TP" "$@" </dev/null 2>/dev/null |
        openssl x509 -noout -subject 2>/dev/null | sed -n 's/.*CN *= *//p'
}
served_key() {
    openssl s_client -connect "127.0.0.1:$TP" "$@" </dev/null 2>/dev/null |
        openssl x509 -noout -text 2>/dev/null | sed -n 's/.*Public Key Algorithm: //p'
}
protocol() {
    openssl s_client -connect "127.0.0.1:$TP" "$@" </dev/null 2>/dev/null |
        sed -n 's/^New, \(TLSv1\.[0-9]\),.*/\1/p' | head -n 1
}

check_eq "SNI a.test gets a.test" "a.test" "$(served_cn -servername a.test)"
check_eq "SNI b.test gets b.test" "b.test" "$(served_cn -servername b.test)"
check_eq "SNI in upper case matches" "a.test" "$(served_cn -servername A.TEST)"
check_eq "wildcard: x.wild.test gets *.wild.test" "*.wild.test" "$(served_cn -servername x.wild.test)"
check_eq "wildcard: a.b.wild.test does not match, gets the default" "default.test" \
    "$(served_cn -servername a.b.wild.test)"
check_eq "wildcard: wild.test does not match, gets the default" "default.test" \
    "$(served_cn -servername wild.test)"
check_eq "unknown SNI gets the default" "default.test" "$(served_cn -servername nope.test)"
check_eq "no SNI gets the default" "default.test" "$(served_cn -noservername)"
check_eq "TLS 1.3" "TLSv1.3" "$(protocol -servername a.test -tls1_3)"
check_eq "TLS 1.2" "TLSv1.2" "$(protocol -servername a.test -tls1_2)"
check_eq "dual line: ECDSA-only TLS 1.3 client gets the ECDSA chain" "id-ecPublicKey" \
    "$(served_key -servername dual.test -tls1_3 -sigalgs ECDSA+SHA256)"
check_eq "dual line: RSA-only TLS 1.3 client gets the RSA chain" "rsaEncryption" \
    "$(served_key -servername dual.test -tls1_3 -sigalgs RSA-PSS+SHA256)"
check_eq "dual line: TLS 1.2 ECDHE-RSA-only client gets the RSA chain" "rsaEncryption" \
    "$(served_key -servername dual.test -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256)"
check_eq "dual line: TLS 1.2 ECDHE-ECDSA-only client gets the ECDSA chain" "id-ecPublicKey" \
    "$(served_key -servername dual.test -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256)"
alpn=$(for i in $(seq 1 25); do printf 'proto%0200d,' "$i"; done)http/1.1
openssl s_client -connect "127.0.0.1:$TP" -servername a.test -alpn "$alpn" </dev/null >"$T/big.out" 2>&1 || true
check_contains "a 5 KB ClientHello (long ALPN list) is read whole and answered with ALPN" \
    "$T/big.out" "ALPN protocol: http/1.1"
check "curl verifies a.test against the test CA" \
    curl -s --max-time 5 --cacert "$F/ca.pem" --resolve "a.test:$TP:127.0.0.1" \
    "https://a.test:$TP/_tlsedge/stats" -o /dev/null

# A client that stalls mid-ClientHello is closed at the handshake timeout (2 s).
exec 3<>"/dev/tcp/127.0.0.1/$TP"
printf '\026\003\001\000\200\001' >&3
t0=$(date +%s%N)
timeout 10 cat <&3 >/dev/null || true
t1=$(date +%s%N)
exec 3<&-
ms=$(( (t1 - t0) / 1000000 ))
check "a stalled handshake is closed after about 2 s (took ${ms} ms)" test "$ms" -ge 1500 -a "$ms" -lt 6000
check_eq "the handshake timeout is counted" 1 "$(stat proxy.process.tlsedge.handshake_timeouts_in "$HP")"

# Garbage instead of a ClientHello: a fatal TLS alert, then close.
first=$(raw_exchange "$TP" 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
check_eq "a plain-text first record is answered with a fatal alert" "15030300020246" "$first"
bad=$(raw_exchange "$TP" '\026\003\001\000\005\377\377\377\377\377')
check_eq "a malformed ClientHello is answered with decode_error" "15030300020232" "$bad"
check_eq "the malformed ClientHello is counted" 1 "$(stat proxy.process.tlsedge.clienthello_malformed "$HP")"

# Wire trace: only for the configured server name, and never key material.
served_cn -servername b.test >/dev/null
served_cn -servername a.test >/dev/null
sleep 0.2
check_contains "wire trace logs b.test's handshake" "$T/tlsedge.log" "wire trace on: SNI 'b.test'"
check "wire trace leaves a.test alone" sh -c "! grep -q \"wire trace on: SNI 'a.test'\" '$T/tlsedge.log'"
check "no key material in the log" sh -c "! grep -qi 'PRIVATE KEY' '$T/tlsedge.log'"

# Renegotiation (TLS 1.2 client-initiated) is refused with an alert and counted.
(echo R; sleep 1) | timeout 5 openssl s_client -tls1_2 -connect "127.0.0.1:$TP" -servername a.test \
    >"$T/reneg.out" 2>&1 || true
check_contains "renegotiation is refused with a no_renegotiation alert" "$T/reneg.out" "no renegotiation"
check_eq "the refused renegotiation is counted" 1 "$(stat proxy.process.tlsedge.renegotiation_refused "$HP")"

# Without a default line, an unknown name gets unrecognized_name.
TP2=$(free_port)
nodef=$(new_confdir nodef <<CFG
CONFIG proxy.config.http.server_ports STRING $TP2:ssl:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.ssl.server.cert.path STRING $F
CONFIG proxy.config.ssl.server.private_key.path STRING $F
CFG
)
echo "ssl_cert_name=a.test.pem ssl_key_name=a.test.key" >"$nodef/ssl_multicert.config"
start_tlsedge nodef "$TP2" -C "$nodef"
openssl s_client -connect "127.0.0.1:$TP2" -servername nope.test </dev/null >"$T/unrec.out" 2>&1 || true
check_contains "no default: unknown SNI gets an unrecognized_name alert" "$T/unrec.out" "unrecognized name"
check_eq "no default: a.test still served" "a.test" \
    "$(openssl s_client -connect 127.0.0.1:$TP2 -servername a.test </dev/null 2>/dev/null | openssl x509 -noout -subject | sed -n 's/.*CN *= *//p')"

check "counters: attempts = successes + failures (so far, consistent)" test \
    "$(stat proxy.process.ssl.total_success_handshake_count_in "$HP")" -ge 13
finish
