#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# tls_bridge (bridge/): an ingress tlsedge with a plain port and a `tls_bridge.so` line in
# plugin.config, a peer tlsedge with an :ssl port that requires a client certificate
# (certification_level 2), and a service (tests/tools/origin). curl --proxy through the ingress
# reaches the service through the peer, 1 MB each way intact; a peer answering 403 gives the
# client 403; a refused peer port and an ingress without a client certificate give 502, a peer
# that never accepts 504 at the connect timeout (each logged, counted); a CONNECT no regex
# matches is the ingress's own; --file pairs come in argument
# order and SIGHUP rebuilds the table. A fake peer (openssl s_server fed through a FIFO) shows
# the CONNECT replayed byte for byte and a reply that arrives in pieces with a 1xx first, and a
# garbled reply is a 502. Interop: the same with Debian's trafficserver 9.2.5 as the peer.
. "$(dirname "$0")/lib.sh"

F=$TLSEDGE_FIXTURES
start_origin service
O=$ORIGIN_PORT
O2=$(free_port) # a port the peer's connect_ports does not allow
DEAD=$(free_port)
FAKE=$(free_port)
GARB=$(free_port)
PT=$(free_port) # the peer's TLS port
PH=$(free_port) # the peer's plain port (its stats)
IH=$(free_port) # the ingress
IH2=$(free_port) # the ingress without a client certificate

peer=$(new_confdir peer <<CFG
CONFIG proxy.config.http.server_ports STRING $PT:ssl:ip-in=127.0.0.1 $PH:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.ssl.server.cert.path STRING $F
CONFIG proxy.config.ssl.server.private_key.path STRING $F
CONFIG proxy.config.ssl.client.certification_level INT 2
CONFIG proxy.config.ssl.CA.cert.filename STRING $F/ca.pem
CONFIG proxy.config.http.connect_ports STRING $O
CFG
)
# ip.pem names 127.0.0.1: the ingress dials the peer by address and verifies that name.
echo "dest_ip=* ssl_cert_name=ip.pem ssl_key_name=ip.key" >"$peer/ssl_multicert.config"
start_tlsedge peer "$PT" -C "$peer"
wait_port "$PH" 10

ingress_conf() { # ingress_conf NAME PORT TIMEOUT EXTRA-RECORDS: an ingress configuration
    new_confdir "$1" <<CFG
CONFIG proxy.config.http.server_ports STRING $2:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.ssl.client.CA.cert.filename STRING $F/ca.pem
CONFIG proxy.config.http.connect_ports STRING $PH
CONFIG proxy.config.http.connect_attempts_timeout INT $3
CONFIG proxy.config.http.transaction_no_activity_timeout_out INT 5
$4
CFG
}
ing=$(ingress_conf ingress "$IH" 5 "CONFIG proxy.config.ssl.client.cert.filename STRING $F/client.pem
CONFIG proxy.config.ssl.client.private_key.filename STRING $F/client.key
CONFIG proxy.config.plugin.plugin_dir STRING $BUILD/plugins")
# The service's pairs come from --file, before the arguments' pairs: the same targets on the
# command line go to a dead port, so a service that answers proves the file's order.
cat >"$ing/bridge.conf" <<CFG
# tls_bridge destinations: regex peer
127[.]0[.]0[.]1:$O   127.0.0.1:$PT
127[.]0[.]0[.]1:$O2  127.0.0.1:$PT
CFG
cat >"$ing/plugin.config" <<CFG
# the built-in bridge; no such file exists
/usr/lib/trafficserver/modules/tls_bridge.so --file bridge.conf "127[.]0[.]0[.]1:($O|$O2)" 127.0.0.1:$DEAD dead[.]test:[0-9]+ 127.0.0.1:$DEAD fake[.]test:[0-9]+ 127.0.0.1:$FAKE garbage[.]test:[0-9]+ 127.0.0.1:$GARB bad( 127.0.0.1:1 lonely
# outbound hooks see the bridge's TLS connections to its peer (tests/plugins/order.c)
order.so B hooks=OUT_START,VERIFY_SERVER,OUT_CLOSE
CFG

echo "configuration"
check "tlsedge -t accepts the ingress configuration" "$TLSEDGE" -t -C "$ing"
"$TLSEDGE" -t -C "$ing" >"$T/t.out" 2>&1 || true
check_contains "  a bad regex is a warning naming plugin.config:2" "$T/t.out" \
    "warning: plugin.config:2: tls_bridge: failed to compile regular expression 'bad\('"
check_contains "  so is a regex without a peer" "$T/t.out" "'lonely' without peer"
bad=$(new_confdir nopairs </dev/null)
echo "tls_bridge.so" >"$bad/plugin.config"
"$TLSEDGE" -t -C "$bad" >"$T/t2.out" 2>&1 || true
check_contains "a tls_bridge line without pairs: No destinations defined, plugin disabled" \
    "$T/t2.out" "plugin.config:1: tls_bridge: No destinations defined, plugin disabled"

start_tlsedge ingress "$IH" -C "$ing"
ING_PID=$TLSEDGE_PID
ing2=$(ingress_conf ingress2 "$IH2" 1 "")
HOLE=$(free_port)
spawn blackhole "$TOOLS/blackhole" "$HOLE" 120
wait_port "$HOLE" 10
echo "tls_bridge.so 127[.]0[.]0[.]1:[0-9]+ 127.0.0.1:$PT hole[.]test:[0-9]+ 127.0.0.1:$HOLE" \
    >"$ing2/plugin.config"
start_tlsedge ingress2 "$IH2" -C "$ing2"
ING2_PID=$TLSEDGE_PID

code() { curl -s -o /dev/null --max-time 15 -w '%{http_connect}' "$@" || true; }
ist() { stat "proxy.process.tlsedge.tls_bridge.$1" "$IH"; }
# bridge_checks LABEL: the service through the ingress and its peer: GET, 1 MB down and up, 403.
bridge_checks() {
    check_eq "$1: curl --proxy through the ingress reaches the service" "hello from origin" \
        "$(curl -s --max-time 10 -p -x "http://127.0.0.1:$IH" "http://127.0.0.1:$O/")"
    direct=$(curl -s --max-time 20 "http://127.0.0.1:$O/size/1048576" | sha256sum)
    check_eq "$1: 1 MB down through the bridge, intact" "$direct" \
        "$(curl -s --max-time 20 -p -x "http://127.0.0.1:$IH" "http://127.0.0.1:$O/size/1048576" |
            sha256sum)"
    check_eq "$1: 1 MB up through the bridge, intact" "$want" \
        "$(curl -s --max-time 20 -p -x "http://127.0.0.1:$IH" --data-binary @"$T/up.bin" \
            "http://127.0.0.1:$O/sha256")"
    check_eq "$1: the peer answers 403 (a port outside its connect_ports): the client gets 403" \
        403 "$(code -p -x "http://127.0.0.1:$IH" "http://127.0.0.1:$O2/")"
}
head -c 1048576 /dev/urandom >"$T/up.bin"
want=$(sha256sum <"$T/up.bin" | cut -d' ' -f1)

echo "ingress -> tlsedge peer -> service"
bridge_checks "tlsedge peer"
check_contains "outbound hooks run on the bridge's connection to its peer: OUTBOUND_START" \
    "$T/ingress.log" 'order B #0 OUT_START sni= ssl=yes fd=yes'
check_contains "  VERIFY_SERVER with the peer's certificate" "$T/ingress.log" \
    'order B #0 VERIFY_SERVER sni= ssl=yes fd=yes cn=[^ ]+'
check_contains "  OUTBOUND_CLOSE" "$T/ingress.log" 'order B #0 OUT_CLOSE'
check_eq "  the ingress counted 4 intercepted CONNECTs" 4 "$(ist connects)"
check_eq "  3 tunnels" 3 "$(ist tunnels)"
check_eq "  1 peer refusal" 1 "$(ist peer_refusals)"
check_contains "  the refusal is logged with the peer" "$T/ingress.log" \
    "tls_bridge: peer 127.0.0.1:$PT answered CONNECT 127.0.0.1:$O2 from 127.0.0.1:[0-9]+ with 403"
check_eq "the peer itself accepted 4 ingress handshakes (with the client certificate)" 4 \
    "$(stat proxy.process.ssl.total_success_handshake_count_in "$PH")"
check_eq "a refused peer port gives 502" 502 \
    "$(code -p -x "http://127.0.0.1:$IH" "http://dead.test:$O/")"
check_eq "  counted as a connect failure" 1 "$(ist connect_failures)"
check_contains "  and logged naming the peer and the pair's line" "$T/ingress.log" \
    "tls_bridge: peer 127.0.0.1:$DEAD \(plugin.config:2\) for CONNECT dead.test:$O from .*: connect: Connection refused"
check_eq "an ingress without a client certificate: the peer refuses it, the client gets 502" \
    502 "$(code -p -x "http://127.0.0.1:$IH2" "http://127.0.0.1:$O/")"
check_eq "  counted as a handshake failure" 1 \
    "$(stat proxy.process.tlsedge.tls_bridge.handshake_failures "$IH2")"
check_contains "  and logged with the TLS alert" "$T/ingress2.log" \
    "tls_bridge: peer 127.0.0.1:$PT .*refused the TLS session \(.*CERTIFICATE_REQUIRED"
t0=$(date +%s%N)
check_eq "a peer that never accepts: 504 at the connect timeout (1 s), not a silent wait" 504 \
    "$(code -p -x "http://127.0.0.1:$IH2" "http://hole.test:443/")"
ms=$((($(date +%s%N) - t0) / 1000000))
check "  within 3 s (${ms} ms)" test "$ms" -lt 3000
check_eq "  counted as a timeout" 1 "$(stat proxy.process.tlsedge.tls_bridge.timeouts "$IH2")"
check_contains "  and logged" "$T/ingress2.log" \
    "tls_bridge: peer 127.0.0.1:$HOLE \(plugin.config:1\) for CONNECT hole.test:443 .*: connect timed out"
check_eq "a CONNECT no regex matches is the ingress's own (to the peer's plain port)" 200 \
    "$(code -p -x "http://127.0.0.1:$IH" "http://127.0.0.1:$PH/_tlsedge/stats")"
check_eq "  and the bridge did not see it" 5 "$(ist connects)"

echo "a fake peer: the replayed CONNECT, a reply in pieces"
# fake_peer PORT NAME: an openssl s_server peer whose reply the test writes through fd 5; what it
# receives goes to $T/NAME.recv.
fake_peer() {
    mkfifo "$T/$2.in"
    spawn "$2" sh -c 'exec timeout 30 openssl s_server -accept "127.0.0.1:$1" -cert "$2" \
        -key "$3" -naccept 1 -quiet <"$4" >"$5"' sh "$1" "$F/ip.pem" "$F/ip.key" "$T/$2.in" \
        "$T/$2.recv"
    exec 5>"$T/$2.in"
    wait_port "$1" 10
}
fake_peer "$FAKE" fake
printf 'CONNECT fake.test:443 HTTP/1.1\r\nHost: fake.test:443\r\nUser-Agent: bridge-test\r\nX-Replay: 1\r\n\r\n' \
    >"$T/connect.req"
exec 3<>"/dev/tcp/127.0.0.1/$IH"
cat "$T/connect.req" >&3
for i in $(seq 1 100); do grep -q "X-Replay" "$T/fake.recv" 2>/dev/null && break; sleep 0.05; done
check_eq "the peer received the client's CONNECT byte for byte" \
    "$(sha256sum <"$T/connect.req")" "$(sha256sum <"$T/fake.recv")"
for piece in 'HTTP/1.1 1' '00 Continue\r\n\r\nHTTP/1.1 2' '00 OK\r\nVia: fake\r' '\n\r' \
    '\nFAKE-PEER-HELLO\n'; do
    printf "$piece" >&5
    sleep 0.15
done
exec 5>&-
reply=$(timeout 5 cat <&3 | tr -d '\r' || true)
exec 3<&-
check_eq "a reply in five TLS records, a 1xx first: 200 to the client, then the peer's bytes" \
    "$(printf 'HTTP/1.1 200 Connection Established\n\nFAKE-PEER-HELLO')" "$reply"

fake_peer "$GARB" garbage
exec 3<>"/dev/tcp/127.0.0.1/$IH"
printf 'CONNECT garbage.test:443 HTTP/1.1\r\nHost: garbage.test:443\r\n\r\n' >&3
for i in $(seq 1 100); do [ -s "$T/garbage.recv" ] && break; sleep 0.05; done
printf 'SSH-2.0-OpenSSH_9.2\r\n' >&5
reply=$(timeout 5 head -n 1 <&3 | tr -d '\r' || true)
exec 5>&-
exec 3<&-
check_eq "a peer that does not answer HTTP: 502" "HTTP/1.1 502 Bad Gateway" "$reply"
check_eq "  counted as a bad reply" 1 "$(ist bad_replies)"

echo "reload"
reload_wait() { # reload_wait PID LOG GEN: SIGHUP, then wait for generation GEN
    kill -HUP "$1"
    for i in $(seq 1 100); do
        grep -q "configuration generation $3 published" "$2" && return 0
        sleep 0.05
    done
    return 1
}
sed -i "s/127.0.0.1:$PT\$/127.0.0.1:$DEAD/" "$ing/bridge.conf"
check "SIGHUP rebuilds the table (generation 2)" reload_wait "$ING_PID" "$T/ingress.log" 2
check_contains "  the reload names the table's size" "$T/ingress.log" \
    "generation 2 published, .*; 6 tls_bridge destinations\)"
check_eq "  the --file change applies: the service's pair now names a dead peer (502)" 502 \
    "$(code -p -x "http://127.0.0.1:$IH" "http://127.0.0.1:$O/")"

echo "interop: Debian's trafficserver 9.2.5 as the peer"
# ATS in its own layout under $T (runroot.yaml), unprivileged ports, no cache use.
start_ats() {
    command -v traffic_server >/dev/null || { ATS_WHY="traffic_server is not installed"; return 1; }
    A=$T/ats
    mkdir -p "$A/etc" "$A/run" "$A/log" "$A/cache" "$A/var"
    cat >"$A/runroot.yaml" <<CFG
prefix: $A
exec_prefix: /usr
bindir: /usr/bin
sbindir: /usr/sbin
sysconfdir: $A/etc
datadir: $A/cache
includedir: /usr/include
libdir: /usr/lib/trafficserver
libexecdir: /usr/lib/trafficserver/modules
localstatedir: $A/var
runtimedir: $A/run
logdir: $A/log
cachedir: $A/cache
CFG
    AP=$(free_port)
    cat >"$A/etc/records.config" <<CFG
CONFIG proxy.config.http.server_ports STRING $AP:ssl:ip-in=127.0.0.1
CONFIG proxy.config.admin.user_id STRING #-1
CONFIG proxy.config.http.cache.http INT 0
CONFIG proxy.config.http.wait_for_cache INT 0
CONFIG proxy.config.http.connect_ports STRING $O
CONFIG proxy.config.url_remap.remap_required INT 0
CONFIG proxy.config.ssl.server.cert.path STRING $F
CONFIG proxy.config.ssl.server.private_key.path STRING $F
CONFIG proxy.config.ssl.client.certification_level INT 2
CONFIG proxy.config.ssl.CA.cert.filename STRING $F/ca.pem
CONFIG proxy.config.exec_thread.autoconfig INT 0
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.exec_thread.affinity INT 0
CONFIG proxy.config.accept_threads INT 0
CONFIG proxy.config.task_threads INT 1
CONFIG proxy.config.cache.threads_per_disk INT 1
CONFIG proxy.config.log.logging_enabled INT 0
CFG
    echo "dest_ip=* ssl_cert_name=ip.pem ssl_key_name=ip.key" >"$A/etc/ssl_multicert.config"
    printf 'ip_allow:\n  - apply: in\n    ip_addrs: 127.0.0.1\n    action: allow\n    methods: ALL\n' \
        >"$A/etc/ip_allow.yaml"
    for f in remap.config plugin.config hosting.config cache.config parent.config volume.config \
        socks.config splitdns.config logging.yaml sni.yaml strategies.yaml; do
        : >"$A/etc/$f"
    done
    echo "$A/cache 32M" >"$A/etc/storage.config"
    [ -d /etc/trafficserver/body_factory ] && cp -r /etc/trafficserver/body_factory "$A/etc/"
    spawn ats traffic_server --run-root="$A/runroot.yaml"
    if ! wait_port "$AP" 20 2>/dev/null; then
        ATS_WHY="traffic_server did not listen on $AP within 20 s: $(tail -n 3 "$A/log/diags.log" \
            "$T/ats.log" 2>/dev/null | tr '\n' ' ')"
        return 1
    fi
}
if start_ats; then
    peer_hs=$(stat proxy.process.ssl.total_success_handshake_count_in "$PH")
    sed -i "s/127.0.0.1:$DEAD\$/127.0.0.1:$AP/" "$ing/bridge.conf"
    check "SIGHUP: the service's pairs now name the ATS peer" \
        reload_wait "$ING_PID" "$T/ingress.log" 3
    bridge_checks "ATS peer"
    check_eq "  the tlsedge peer saw none of it" "$peer_hs" \
        "$(stat proxy.process.ssl.total_success_handshake_count_in "$PH")"
    echo "tls_bridge.so 127[.]0[.]0[.]1:[0-9]+ 127.0.0.1:$AP" >"$ing2/plugin.config"
    check "SIGHUP: the ingress without a client certificate now names the ATS peer" \
        reload_wait "$ING2_PID" "$T/ingress2.log" 2
    check_eq "ATS refuses an ingress without a client certificate: 502" 502 \
        "$(code -p -x "http://127.0.0.1:$IH2" "http://127.0.0.1:$O/")"
    check_eq "  counted as a handshake failure" 2 \
        "$(stat proxy.process.tlsedge.tls_bridge.handshake_failures "$IH2")"
else
    skip "interop with trafficserver: $ATS_WHY"
fi

finish
