#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# TLS to origins: remap targets https://... reached through real TLS servers (openssl s_server
# -www, which reports its own view of each connection). ENFORCED verification passes a valid
# chain and fails a wrong name, an unknown CA and an expired certificate with 502 and the
# counter of the reason; PERMISSIVE connects and logs; DISABLED connects. The SNI sent follows
# the Host sent to the origin; an IP-literal origin gets no SNI and is checked against its IP
# SANs; the client certificate reaches an origin that requires one; the second connection to
# an origin resumes its session.
. "$(dirname "$0")/lib.sh"

F=$TLSEDGE_FIXTURES
# A self-signed certificate no CA vouches for.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=a.test \
    -addext "subjectAltName=DNS:a.test" -keyout "$T/self.key" -out "$T/self.pem" 2>/dev/null

# s_server NAME CERT KEY [ARGS...]: starts an origin; sets its port in PORT_<NAME>.
s_server() {
    local oname=$1 cert=$2 key=$3 port
    shift 3
    port=$(free_port)
    spawn "origin-$oname" openssl s_server -accept "127.0.0.1:$port" -cert "$cert" -key "$key" \
        -www -naccept 20 "$@"
    wait_port "$port" 10
    eval "PORT_$oname=$port"
}
s_server good "$F/a.test.pem" "$F/a.test.key"
s_server expired "$F/expired.pem" "$F/expired.key"
s_server self "$T/self.pem" "$T/self.key"
s_server ip "$F/ip.pem" "$F/ip.key"
s_server mtls "$F/wild.pem" "$F/wild.key" -Verify 1 -CAfile "$F/ca.pem"

HP=$(free_port)
# conf NAME EXTRA-RECORDS: a configuration directory with the remap rules below.
conf() {
    local c
    c=$(new_confdir "$1" <<CFG
CONFIG proxy.config.http.server_ports STRING $HP:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.url_remap.pristine_host_hdr INT 1
CONFIG proxy.config.ssl.client.CA.cert.filename STRING $F/ca.pem
$2
CFG
)
    cat >"$c/remap.config" <<CFG
map http://good.test/ https://127.0.0.1:$PORT_good/
map http://a.test/ https://127.0.0.1:$PORT_good/
map http://expired.test/ https://127.0.0.1:$PORT_expired/
map http://self.test/ https://127.0.0.1:$PORT_self/
map http://ip.test/ https://127.0.0.1:$PORT_ip/
map http://m.wild.test/ https://127.0.0.1:$PORT_mtls/
CFG
    echo "$c"
}
# get HOST: the status code and body of GET / through tlsedge with Host: HOST.
get() {
    curl -s --max-time 10 -o "$T/body" -w '%{http_code}' -H "Host: $1" "http://127.0.0.1:$HP/"
}
c=$(conf enforced "CONFIG proxy.config.ssl.client.cert.filename STRING $F/b.test.pem
CONFIG proxy.config.ssl.client.private_key.filename STRING $F/b.test.key")
start_tlsedge tlsedge "$HP" -C "$c"

echo "ENFORCED (the default)"
check_eq "a valid chain for the name sent (Host a.test) passes" 200 "$(get a.test)"
check_contains "the origin answered over TLS" "$T/body" "Cipher is"
check_eq "a name the certificate lacks (good.test) fails" 502 "$(get good.test)"
check_eq "  counted as a verify failure" 1 \
    "$(stat proxy.process.ssl.origin_server_cert_verify_failed "$HP")"
check_eq "an expired certificate fails" 502 "$(get expired.test)"
check_eq "  counted as expired" 1 "$(stat proxy.process.ssl.origin_server_expired_cert "$HP")"
check_eq "an unknown CA fails" 502 "$(get self.test)"
check_eq "  counted as unknown CA" 1 "$(stat proxy.process.ssl.origin_server_unknown_ca "$HP")"
check_contains "the failure is logged with origin, name and reason" "$T/tlsedge.log" \
    "origin 127.0.0.1:$PORT_self \(self.test\) for client .*unknown CA"
check_eq "the origin requiring a client certificate gets tlsedge's" 200 "$(get m.wild.test)"
check_contains "  and the origin saw the handshake complete" "$T/body" "Cipher is"

echo "origin session resumption"
get a.test >/dev/null
check_contains "the second connection to the origin resumes its session" "$T/body" "^Reused, "
check "resumption counted" test "$(stat proxy.process.ssl.ssl_origin_session_cache_hit "$HP")" -ge 1
kill "$TLSEDGE_PID"
wait_exit "$TLSEDGE_PID" 10 || true

echo "the remap target as the name: an IP-literal origin"
c=$(conf remapname "CONFIG proxy.config.ssl.client.sni_policy STRING remap")
start_tlsedge tlsedge-ip "$HP" -C "$c"
check_eq "an IP-literal origin is verified against its IP SANs" 200 "$(get ip.test)"
check_eq "a certificate without the IP fails" 502 "$(get good.test)"
kill "$TLSEDGE_PID"
wait_exit "$TLSEDGE_PID" 10 || true

echo "PERMISSIVE and DISABLED"
c=$(conf permissive "CONFIG proxy.config.ssl.client.verify.server.policy STRING PERMISSIVE")
start_tlsedge tlsedge-perm "$HP" -C "$c"
check_eq "PERMISSIVE connects to an unknown CA" 200 "$(get self.test)"
check_contains "  and logs why it was not verified" "$T/tlsedge-perm.log" \
    "not verified \(unknown CA\); connecting anyway"
kill "$TLSEDGE_PID"
wait_exit "$TLSEDGE_PID" 10 || true
c=$(conf disabled "CONFIG proxy.config.ssl.client.verify.server INT 0")
start_tlsedge tlsedge-off "$HP" -C "$c"
check_eq "DISABLED connects to an expired certificate" 200 "$(get expired.test)"

finish
