#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Routing without termination: sni.yaml tunnel_route relays a connection blind by its SNI (the
# upstream's own certificate reaches the client; "$1" takes what the wildcard matched); the
# upstream receives the client's ClientHello byte for byte; ssl_multicert action=tunnel relays
# an accepting address to proxy.config.tlsedge.tunnel.default_route; forward_route terminates
# TLS and relays the plaintext; partial_blind_route terminates TLS and relays over a new TLS
# session (verified, with tlsedge's client certificate); a route nobody answers closes the
# client; names without a route are terminated as usual.
. "$(dirname "$0")/lib.sh"

F=$TLSEDGE_FIXTURES
start_origin origin
# upstream NAME CERT KEY: an openssl s_server -www upstream; sets PORT_<NAME>.
upstream() {
    local uname=$1 port
    port=$(free_port)
    spawn "up-$uname" openssl s_server -accept "127.0.0.1:$port" -cert "$2" -key "$3" -www \
        -naccept 10 "${@:4}"
    wait_port "$port" 10
    eval "PORT_$uname=$port"
}
upstream a "$F/a.test.pem" "$F/a.test.key"
upstream b "$F/b.test.pem" "$F/b.test.key"
# partial_blind_route upstreams: one that requires a client certificate from tlsedge, and one
# whose self-signed certificate no CA vouches for.
upstream pb "$F/wild.pem" "$F/wild.key" -Verify 1 -CAfile "$F/ca.pem"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj /CN=pbself.wild.test -addext "subjectAltName=DNS:pbself.wild.test" \
    -keyout "$T/self.key" -out "$T/self.pem" 2>/dev/null
upstream pbself "$T/self.pem" "$T/self.key"
# The upstream that records what it receives (one connection).
spawn capture "$TOOLS/capture_listener" "$T/cap.port" "$T/received.bin" 60
CAPTURE_PID=$LAST_PID
for i in $(seq 1 100); do [ -s "$T/cap.port" ] && break; sleep 0.05; done
CAP=$(cat "$T/cap.port")
DEAD=$(free_port)

TP=$(free_port)
TP3=$(free_port)
HP=$(free_port)
conf=$(new_confdir conf <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1 $TP3:ssl:ip-in=127.0.0.3 $HP:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.ssl.server.cert.path STRING $F
CONFIG proxy.config.ssl.server.private_key.path STRING $F
CONFIG proxy.config.tlsedge.tunnel.default_route STRING 127.0.0.1:$PORT_b
CONFIG proxy.config.ssl.client.CA.cert.filename STRING $F/ca.pem
CONFIG proxy.config.ssl.client.cert.filename STRING $F/client.pem
CONFIG proxy.config.ssl.client.private_key.filename STRING $F/client.key
CFG
)
cat >"$conf/ssl_multicert.config" <<CFG
dest_ip=127.0.0.3 action=tunnel
dest_ip=* ssl_cert_name=wild.pem ssl_key_name=wild.key
CFG
cat >"$conf/sni.yaml" <<CFG
sni:
  - fqdn: a.test
    tunnel_route: 127.0.0.1:$PORT_a
  - fqdn: "*.ports.test"
    tunnel_route: "127.0.0.1:\$1"
  - fqdn: capture.test
    tunnel_route: 127.0.0.1:$CAP
  - fqdn: dead.test
    tunnel_route: 127.0.0.1:$DEAD
  - fqdn: fwd.wild.test
    forward_route: 127.0.0.1:$ORIGIN_PORT
  - fqdn: pb.wild.test
    partial_blind_route: 127.0.0.1:$PORT_pb
  - fqdn: pbself.wild.test
    partial_blind_route: 127.0.0.1:$PORT_pbself
CFG
: >"$conf/remap.config"
start_tlsedge tlsedge "$TP" -C "$conf"

served_cn() { # served_cn PORT SNI [IP]: the CN of the certificate the client got
    echo | timeout 10 openssl s_client -connect "${3:-127.0.0.1}:$1" -servername "$2" 2>/dev/null |
        openssl x509 -noout -subject 2>/dev/null | sed -n 's/.*CN *= *//p'
}
check_eq "a.test is relayed blind: the upstream's certificate arrives" a.test \
    "$(served_cn "$TP" a.test)"
check_contains_out() { case "$3" in *"$2"*) pass "$1" ;; *) fail "$1: '$2' not in output" ;; esac; }
check_contains_out "  and the upstream answers HTTPS through the tunnel" "Cipher is" \
    "$(curl -s --max-time 10 --cacert "$F/ca.pem" --resolve "a.test:$TP:127.0.0.1" "https://a.test:$TP/")"
check_eq "\$1 takes what the wildcard matched (the port of upstream b)" b.test \
    "$(served_cn "$TP" "$PORT_b.ports.test")"
check_eq "a name without a route is terminated here (*.wild.test)" "*.wild.test" \
    "$(served_cn "$TP" x.wild.test)"
check_eq "action=tunnel for 127.0.0.3 relays to the default route" b.test \
    "$(served_cn "$TP3" whatever.test 127.0.0.3)"
check_eq "forward_route terminates TLS and relays the plaintext" "hello from origin" \
    "$(curl -s --max-time 10 --cacert "$F/ca.pem" --resolve "fwd.wild.test:$TP:127.0.0.1" \
        "https://fwd.wild.test:$TP/")"
check_eq "a dead route closes the client (no certificate)" "" "$(served_cn "$TP" dead.test)"
curl -s --max-time 10 --cacert "$F/ca.pem" --resolve "pb.wild.test:$TP:127.0.0.1" \
    "https://pb.wild.test:$TP/" >"$T/pb.html" || true
check_contains "partial_blind_route: the upstream's TLS page comes back through tlsedge" \
    "$T/pb.html" "Cipher is"
# tlsedge's BoringSSL offers no x448 (curl's OpenSSL does): the upstream's client was tlsedge.
check "  the upstream's TLS client was tlsedge, not curl (no x448 offered)" \
    bash -c "grep -q '^Shared groups:' '$T/pb.html' && ! grep -q '^Shared groups:.*x448' '$T/pb.html'"
check_contains "  which presented its client certificate (the upstream requires one)" \
    "$T/pb.html" "Verify return code: 0 \(ok\)"
check_eq "partial_blind_route to an upstream whose certificate is not trusted: closed" "" \
    "$(curl -s --max-time 10 --cacert "$F/ca.pem" --resolve "pbself.wild.test:$TP:127.0.0.1" \
        "https://pbself.wild.test:$TP/" || true)"
check_contains "  and logged with the reason" "$T/tlsedge.log" \
    "origin 127.0.0.1:$PORT_pbself \(pbself.wild.test\) for client .*: TLS handshake failed: unknown CA"

echo "the upstream receives the ClientHello byte for byte"
# A real ClientHello for capture.test, captured once, then sent to tlsedge as raw bytes.
spawn capture0 "$TOOLS/capture_listener" "$T/cap0.port" "$T/hello.bin" 20
for i in $(seq 1 100); do [ -s "$T/cap0.port" ] && break; sleep 0.05; done
echo | timeout 5 openssl s_client -connect "127.0.0.1:$(cat "$T/cap0.port")" \
    -servername capture.test >/dev/null 2>&1 || true
for i in $(seq 1 100); do [ -s "$T/hello.bin" ] && break; sleep 0.05; done
exec 3<>"/dev/tcp/127.0.0.1/$TP"
cat "$T/hello.bin" >&3
wait_exit "$CAPTURE_PID" 15 || true
exec 3<&-
check "a ClientHello was captured to send" test -s "$T/hello.bin"
check_eq "the upstream received exactly those bytes" "$(sha256sum <"$T/hello.bin")" \
    "$(sha256sum <"$T/received.bin" 2>/dev/null)"

echo "tr-pass"
PP=$(free_port)
SP=$(free_port)
conf2=$(new_confdir conf2 <<CFG
CONFIG proxy.config.http.server_ports STRING $PP:ssl:tr-pass:ip-in=127.0.0.1 $SP:ssl:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.ssl.server.cert.path STRING $F
CONFIG proxy.config.ssl.server.private_key.path STRING $F
CONFIG proxy.config.tlsedge.tunnel.default_route STRING 127.0.0.1:$ORIGIN_PORT
CFG
)
echo "dest_ip=* ssl_cert_name=wild.pem ssl_key_name=wild.key" >"$conf2/ssl_multicert.config"
start_tlsedge tlsedge2 "$PP" -C "$conf2"
plain_get() { # plain_get PORT: plain HTTP bytes to a TLS port; prints the reply's body line
    exec 4<>"/dev/tcp/127.0.0.1/$1"
    printf 'GET / HTTP/1.0\r\nHost: x\r\n\r\n' >&4
    timeout 5 cat <&4 | tail -n 1 || true
    exec 4<&-
}
check_eq "plain bytes on a tr-pass port are relayed to the default route" \
    "hello from origin" "$(plain_get "$PP")"
check_eq "TLS on the tr-pass port is still terminated" "*.wild.test" "$(served_cn "$PP" x.wild.test)"
check_eq "plain bytes on an ssl port without tr-pass get a protocol_version alert" \
    15030300020246 "$(raw_exchange "$SP" 'GET / HTTP/1.0\r\nHost: x\r\n\r\n')"

echo "TSVConnTunnel from each inbound hook (tests/plugins/tunnel.so)"
for hook in start hello servername cert; do
    TP4=$(free_port)
    c4=$(new_confdir "conf-$hook" <<CFG
CONFIG proxy.config.http.server_ports STRING $TP4:ssl:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.plugin.plugin_dir STRING $BUILD/plugins
CONFIG proxy.config.ssl.server.cert.path STRING $F
CONFIG proxy.config.ssl.server.private_key.path STRING $F
CONFIG proxy.config.tlsedge.tunnel.default_route STRING 127.0.0.1:$PORT_a
CFG
)
    echo "dest_ip=* ssl_cert_name=wild.pem ssl_key_name=wild.key" >"$c4/ssl_multicert.config"
    echo "tunnel.so $hook go.wild.test" >"$c4/plugin.config"
    start_tlsedge "tunnel-$hook" "$TP4" -C "$c4"
    check_eq "$hook: TSVConnTunnel relays blind to the default route" a.test \
        "$(served_cn "$TP4" go.wild.test)"
    if [ "$hook" != start ]; then
        check_eq "$hook: another name is still terminated here" "*.wild.test" \
            "$(served_cn "$TP4" stay.wild.test)"
    fi
done
# A blind tunnel's VCONN_CLOSE comes when the tunnel ends, with the plugin's user argument.
L="$T/tunnel-cert.log"
(sleep 1.5; echo Q) | timeout 10 openssl s_client -connect "127.0.0.1:$TP4" \
    -servername go.wild.test >"$T/long.out" 2>&1 &
long=$!
sleep 0.8
check_eq "cert: while a tunnel is open its VCONN_CLOSE has not run" \
    "$(grep -c "VCONN_CLOSE of the tunnel" "$L")" \
    "$(( $(grep -c "tunnel: asked for 'go.wild.test'" "$L") - 1 ))"
wait "$long" || true
sleep 0.3
check_eq "  it runs once the tunnel ended, with the user argument set before the tunnel" \
    "$(grep -c "tunnel: asked for 'go.wild.test'" "$L")" \
    "$(grep -c "VCONN_CLOSE of the tunnel marked 'tunnelled' fd=yes" "$L")"

echo "configuration"
sed -i '/tunnel.default_route/d' "$conf/records.config"
check "action=tunnel without a default route is refused by tlsedge -t" \
    bash -c "! '$TLSEDGE' -t -C '$conf' >'$T/t.out' 2>&1"
check_contains "  naming the line" "$T/t.out" "ssl_multicert.config:1: action=tunnel needs"

finish
