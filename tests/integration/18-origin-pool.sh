#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Origin connection pooling (server session sharing): with match both (the default) requests
# from different clients reuse an idle origin connection (the test origin numbers its
# connections in X-Origin-Conn); match none opens one per request; the idle timeout closes
# pooled connections; for a TLS origin two names never share a connection (TS-4468), the same
# name does, and sni_lax shares when the certificate covers both names; a request whose pooled
# connection fails before any answer is sent again on a fresh connection.
. "$(dirname "$0")/lib.sh"

F=$TLSEDGE_FIXTURES
start_origin origin
O=$ORIGIN_PORT
# instance NAME EXTRA: a tlsedge with a plain port $HP and remap rules to the origin and to a
# TLS back end ($BP, a second tlsedge with a *.wild.test certificate).
instance() {
    HP=$(free_port)
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
map http://plain.test/ http://127.0.0.1:$O/
map http://a.wild.test/ https://127.0.0.1:$BP/
map http://b.wild.test/ https://127.0.0.1:$BP/
CFG
    start_tlsedge "$1" "$HP" -C "$c"
}
conn_no() { # conn_no HOST: the origin's connection number for GET / via tlsedge
    curl -s -D - -o /dev/null --max-time 10 -H "Host: $1" "http://127.0.0.1:$HP/" |
        tr -d '\r' | sed -n 's/^X-Origin-Conn: //Ip'
}

# The TLS back end: a tlsedge terminating *.wild.test and forwarding to the origin.
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
cat >"$back/remap.config" <<CFG
map https://a.wild.test/ http://127.0.0.1:$O/
map https://b.wild.test/ http://127.0.0.1:$O/
CFG
start_tlsedge back "$BP" -C "$back"
back_handshakes() { stat proxy.process.ssl.total_success_handshake_count_in "$BH"; }

instance both ""
first=$(conn_no plain.test)
check_eq "match both: a second client reuses the idle origin connection" "$first" \
    "$(conn_no plain.test)"
check "  counted as reused" test "$(stat proxy.process.http.origin_connections_reused "$HP")" -ge 1

echo "TLS origins: never across names (TS-4468), always within one"
h0=$(back_handshakes)
for host in a.wild.test b.wild.test a.wild.test b.wild.test a.wild.test; do
    curl -s -o /dev/null --max-time 10 -H "Host: $host" "http://127.0.0.1:$HP/"
done
check_eq "5 requests alternating two names: 2 TLS connections (one per SNI)" 2 \
    $(( $(back_handshakes) - h0 ))
kill "$TLSEDGE_PID"
wait_exit "$TLSEDGE_PID" 10 || true

instance lax "CONFIG proxy.config.tlsedge.server_session_sharing.sni_lax INT 1"
h0=$(back_handshakes)
for host in a.wild.test b.wild.test a.wild.test b.wild.test; do
    curl -s -o /dev/null --max-time 10 -H "Host: $host" "http://127.0.0.1:$HP/"
done
check_eq "sni_lax: one TLS connection when its certificate covers both names" 1 \
    $(( $(back_handshakes) - h0 ))
kill "$TLSEDGE_PID"
wait_exit "$TLSEDGE_PID" 10 || true

instance none "CONFIG proxy.config.http.server_session_sharing.match STRING none"
first=$(conn_no plain.test)
check "match none: a new origin connection per request" test "$(conn_no plain.test)" -ne "$first"
kill "$TLSEDGE_PID"
wait_exit "$TLSEDGE_PID" 10 || true

instance idle "CONFIG proxy.config.http.keep_alive_no_activity_timeout_out INT 1"
first=$(conn_no plain.test)
sleep 2.5
check "an idle pooled connection is closed after keep_alive_no_activity_timeout_out" \
    test "$(conn_no plain.test)" -ne "$first"
check "  counted" test "$(stat proxy.process.tlsedge.origin_idle_closed "$HP")" -ge 1
kill "$TLSEDGE_PID"
wait_exit "$TLSEDGE_PID" 10 || true

echo "a pooled connection that fails before answering: the request goes again on a new one"
instance retry ""
conn_no plain.test >/dev/null # leaves one connection in the pool
r0=$(grep -c 'GET /reset' "$T/origin.log" || true)
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "Host: plain.test" \
    "http://127.0.0.1:$HP/reset")
check_eq "the origin resets on the pooled and on the fresh connection: 502" 502 "$code"
check_eq "  the request was sent twice (pooled, then fresh)" 2 \
    $(( $(grep -c 'GET /reset' "$T/origin.log" || true) - r0 ))
check_eq "  counted as a stale retry" 1 "$(stat proxy.process.tlsedge.origin_stale_retries "$HP")"
check "  tlsedge is still running" kill -0 "$TLSEDGE_PID"
check_eq "  and answers the next request" 200 "$(curl -s -o /dev/null -w '%{http_code}' \
    --max-time 10 -H 'Host: plain.test' "http://127.0.0.1:$HP/")"

finish
