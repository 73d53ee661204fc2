#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# sni.yaml and client certificates: per-name verify_client (STRICT refuses a client without a
# certificate or with one no trusted CA issued; MODERATE lets a client without one in), the
# global certification_level, valid_tls_versions_in, a per-name ip_allow, wildcards and first
# match, a bad sni.yaml failing start-up and reload with file:line, and reload of sni.yaml.
. "$(dirname "$0")/lib.sh"

F=$TLSEDGE_FIXTURES
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj /CN=stranger -addext "extendedKeyUsage=clientAuth" \
    -keyout "$T/stranger.key" -out "$T/stranger.pem" 2>/dev/null
TP=$(free_port)
HP=$(free_port)
conf=$(new_confdir conf <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1 $HP:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.ssl.server.cert.path STRING $F
CONFIG proxy.config.ssl.server.private_key.path STRING $F
CFG
)
cat >"$conf/ssl_multicert.config" <<CFG
dest_ip=* ssl_cert_name=wild.pem ssl_key_name=wild.key
CFG
cp "$F/ca.pem" "$conf/clients-ca.pem"
cat >"$conf/sni.yaml" <<CFG
sni:
  - fqdn: strict.wild.test
    verify_client: STRICT
    verify_client_ca_certs: clients-ca.pem
  - fqdn: moderate.wild.test
    verify_client: MODERATE
    verify_client_ca_certs: clients-ca.pem
  - fqdn: old.wild.test
    valid_tls_versions_in: [TLSv1_2]
  - fqdn: private.wild.test
    ip_allow: "10.0.0.0/8, 192.168.0.0/16"
  - fqdn: "*.wild.test"
    verify_client: NONE
CFG
: >"$conf/remap.config"
start_tlsedge tlsedge "$TP" -C "$conf"

# hs NAME ARGS...: "ok" when a TLS handshake (and the first read) with SNI NAME succeeds.
hs() {
    local name=$1
    shift
    if echo | timeout 10 openssl s_client -connect "127.0.0.1:$TP" -servername "$name" \
        -verify_return_error -CAfile "$F/ca.pem" "$@" >"$T/hs.out" 2>&1 &&
        grep -q "Verify return code: 0" "$T/hs.out" && grep -qE "^(New|Reused), TLS" "$T/hs.out"; then
        echo ok
    else
        echo fail
    fi
}
# get NAME ARGS...: the HTTP status of GET /_tlsedge/stats over TLS with SNI NAME.
get() {
    local name=$1
    shift
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$F/ca.pem" \
        --resolve "$name:$TP:127.0.0.1" "$@" "https://$name:$TP/_tlsedge/stats" || true
}

echo "verify_client per name"
check_eq "STRICT without a client certificate: refused" 000 "$(get strict.wild.test)"
check_eq "STRICT with a certificate from the trusted CA: served" 200 \
    "$(get strict.wild.test --cert "$F/client.pem" --key "$F/client.key")"
check_eq "STRICT with a certificate nobody trusted issued: refused" 000 \
    "$(get strict.wild.test --cert "$T/stranger.pem" --key "$T/stranger.key")"
check_eq "STRICT with a server-only certificate (no clientAuth): refused" 000 \
    "$(get strict.wild.test --cert "$F/b.test.pem" --key "$F/b.test.key")"
check_eq "MODERATE without a certificate: served" 200 "$(get moderate.wild.test)"
check_eq "MODERATE with a trusted certificate: served" 200 \
    "$(get moderate.wild.test --cert "$F/client.pem" --key "$F/client.key")"
check_eq "MODERATE with an untrusted certificate: refused" 000 \
    "$(get moderate.wild.test --cert "$T/stranger.pem" --key "$T/stranger.key")"
check_eq "a name matching only the wildcard entry (NONE): served" 200 "$(get x.wild.test)"

echo "valid_tls_versions_in and ip_allow"
check_eq "old.wild.test refuses TLS 1.3" fail "$(hs old.wild.test -tls1_3)"
check_eq "old.wild.test accepts TLS 1.2" ok "$(hs old.wild.test -tls1_2)"
check_eq "another name accepts TLS 1.3" ok "$(hs new.wild.test -tls1_3)"
check_eq "private.wild.test refuses a loopback client (not in its ip_allow)" fail \
    "$(hs private.wild.test)"
check_eq "  counted" 1 "$(stat proxy.process.tlsedge.sni_ip_allow_denied "$HP")"

echo "reload and errors"
cat >>"$conf/sni.yaml" <<CFG
  - fqdn: broken.wild.test
    verify_client: SOMETIMES
CFG
kill -HUP "$TLSEDGE_PID"
for i in $(seq 1 50); do grep -q "reload failed" "$T/tlsedge.log" && break; sleep 0.1; done
check_contains "a bad value fails the reload with file:line" "$T/tlsedge.log" \
    "sni.yaml:15: verify_client: 'SOMETIMES'"
check_eq "the old sni.yaml keeps serving" 000 "$(get strict.wild.test)"
sed -i 's/verify_client: SOMETIMES/verify_client: NONE/; s/verify_client: STRICT/verify_client: NONE/' \
    "$conf/sni.yaml"
kill -HUP "$TLSEDGE_PID"
for i in $(seq 1 50); do grep -q "generation 2 published" "$T/tlsedge.log" && break; sleep 0.1; done
check_eq "after a good reload strict.wild.test no longer asks for a certificate" 200 \
    "$(get strict.wild.test)"
echo "sni:
  - fqdn: a.test
    no_such_key: 1" >"$conf/sni.yaml"
check "tlsedge -t refuses an unknown key" bash -c "! '$TLSEDGE' -t -C '$conf' >'$T/t.out' 2>&1"
check_contains "  naming file:line and the key" "$T/t.out" "sni.yaml:3: unknown key 'no_such_key'"

echo "the global certification_level"
TP=$(free_port)
HP=$(free_port)
conf2=$(new_confdir conf2 <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1 $HP:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.ssl.server.cert.path STRING $F
CONFIG proxy.config.ssl.server.private_key.path STRING $F
CONFIG proxy.config.ssl.client.certification_level INT 2
CONFIG proxy.config.ssl.CA.cert.filename STRING $F/ca.pem
CFG
)
cp "$conf/ssl_multicert.config" "$conf2/"
start_tlsedge tlsedge2 "$TP" -C "$conf2"
check_eq "level 2: no certificate refused" 000 "$(get any.wild.test)"
check_eq "level 2: a trusted client certificate served" 200 \
    "$(get any.wild.test --cert "$F/client.pem" --key "$F/client.key")"

echo "VERIFY_CLIENT hooks (tests/plugins/verify_client.so)"
# vc_instance NAME BLOCKED-CN [DELAY_MS ASYNC]: tlsedge with certification_level 2 and the plugin.
vc_instance() {
    TP=$(free_port)
    HP=$(free_port)
    local c
    c=$(new_confdir "$1" <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1 $HP:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.task_threads INT 1
CONFIG proxy.config.plugin.plugin_dir STRING $BUILD/plugins
CONFIG proxy.config.ssl.server.cert.path STRING $F
CONFIG proxy.config.ssl.server.private_key.path STRING $F
CONFIG proxy.config.ssl.client.certification_level INT 2
CONFIG proxy.config.ssl.CA.cert.filename STRING $F/ca.pem
CONFIG proxy.config.tlsedge.verify_client_async INT ${4:-0}
CFG
)
    cp "$conf/ssl_multicert.config" "$c/"
    echo "verify_client.so $2 ${3:-0}" >"$c/plugin.config"
    start_tlsedge "$1" "$TP" -C "$c"
}
vc_instance vc1 nobody.test
check_eq "a hook that accepts: served" 200 \
    "$(get any.wild.test --cert "$F/client.pem" --key "$F/client.key")"
check_contains "  the hook saw the verified chain (leaf and root)" "$T/vc1.log" \
    "verify_client: CN=client.test chain=2 verdict=accept"
check_eq "an untrusted certificate fails before the hook" 000 \
    "$(get any.wild.test --cert "$T/stranger.pem" --key "$T/stranger.key")"
check "  and the hook did not see it" bash -c "! grep -q 'CN=stranger' '$T/vc1.log'"
vc_instance vc2 client.test
check_eq "TSVConnReenableEx(ERROR) from VERIFY_CLIENT fails the handshake" 000 \
    "$(get any.wild.test --cert "$F/client.pem" --key "$F/client.key")"
check_contains "  (the hook refused it)" "$T/vc2.log" "CN=client.test chain=2 verdict=refuse"
vc_instance vc3 nobody.test 1500 1
start=$(date +%s%N)
check_eq "verify_client_async 1: the handshake waits for a re-enable 1.5 s later" 200 \
    "$(get any.wild.test --cert "$F/client.pem" --key "$F/client.key")"
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
check "  and completes after it (${elapsed} ms >= 1500)" test "$elapsed" -ge 1500
vc_instance vc4 client.test 1000 1
check_eq "verify_client_async 1: a late ERROR still fails the handshake" 000 \
    "$(get any.wild.test --cert "$F/client.pem" --key "$F/client.key")"

finish
