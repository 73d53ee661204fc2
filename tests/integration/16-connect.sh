#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# CONNECT tunnels: allowed only to proxy.config.http.connect_ports and for clients ip_allow allows
# the CONNECT method (others get 403 and nothing is dialled); 200, then 1 MB each way intact,
# through the plain and the TLS port; the origin's close reaches the client (half-close); a dead
# target is 502; an idle tunnel closes at transaction_no_activity_timeout_in. Between two plain
# sockets the bytes move with splice(2) (counted), and with splicing off by read/write.
. "$(dirname "$0")/lib.sh"

F=$TLSEDGE_FIXTURES
start_origin origin
O=$ORIGIN_PORT
TP=$(free_port)
HP=$(free_port)
DEAD=$(free_port)
conf=$(new_confdir conf <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1 $HP:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.ssl.server.cert.path STRING $F
CONFIG proxy.config.ssl.server.private_key.path STRING $F
CONFIG proxy.config.http.connect_ports STRING 443 $O $DEAD
CONFIG proxy.config.http.transaction_no_activity_timeout_in INT 2
CFG
)
echo "dest_ip=* ssl_cert_name=a.test.pem ssl_key_name=a.test.key" >"$conf/ssl_multicert.config"
: >"$conf/remap.config"
cat >"$conf/ip_allow.yaml" <<'CFG'
ip_allow:
  - apply: in
    ip_addrs: 127.0.0.1
    action: allow
  - apply: in
    ip_addrs: 127.0.0.2
    action: deny
    methods: [CONNECT]
CFG
start_tlsedge tlsedge "$HP" -C "$conf"
wait_port "$TP" 10
PROXY="-x http://127.0.0.1:$HP"

check_eq "a GET through a CONNECT tunnel (plain port)" "hello from origin" \
    "$(curl -s --max-time 10 -p $PROXY "http://127.0.0.1:$O/")"
direct=$(curl -s --max-time 20 "http://127.0.0.1:$O/size/1048576" | sha256sum)
check_eq "1 MB down through the tunnel, intact" "$direct" \
    "$(curl -s --max-time 20 -p $PROXY "http://127.0.0.1:$O/size/1048576" | sha256sum)"
head -c 1048576 /dev/urandom >"$T/up.bin"
want=$(sha256sum <"$T/up.bin" | cut -d' ' -f1)
check_contains_str() { case "$3" in *"$2"*) pass "$1" ;; *) fail "$1: '$2' not in '$3'" ;; esac; }
check_contains_str "1 MB up through the tunnel, intact" "$want" \
    "$(curl -s --max-time 20 -p $PROXY --data-binary @"$T/up.bin" "http://127.0.0.1:$O/sha256")"
direct=$(curl -s --max-time 20 "http://127.0.0.1:$O/eof/65536" | sha256sum)
t0=$(date +%s%N)
check_eq "an EOF-delimited body ends when the origin closes (half-close passed on)" "$direct" \
    "$(curl -s --max-time 10 -p $PROXY "http://127.0.0.1:$O/eof/65536" | sha256sum)"
ms=$((($(date +%s%N) - t0) / 1000000))
# Before the fix the origin's FIN stayed in tlsedge and only the idle timeout (2 s) ended it.
check "  at once (${ms} ms), not at the tunnel's idle timeout (2 s)" test "$ms" -lt 1500
check_eq "a tunnel through the TLS port (HTTPS proxy)" "hello from origin" \
    "$(curl -s --max-time 10 -p --proxy-cacert "$F/ca.pem" -x "https://a.test:$TP" \
        --resolve "a.test:$TP:127.0.0.1" "http://127.0.0.1:$O/")"

echo "splice(2) between two plain sockets"
spliced() { stat proxy.process.tlsedge.tunnels_spliced "$HP"; }
splice_bytes() { stat proxy.process.tlsedge.tunnel_splice_bytes "$HP"; }
n0=$(spliced)
b0=$(splice_bytes)
direct=$(curl -s --max-time 20 "http://127.0.0.1:$O/size/4194304" | sha256sum)
check_eq "4 MB down through a plain tunnel, intact" "$direct" \
    "$(curl -s --max-time 20 -p $PROXY "http://127.0.0.1:$O/size/4194304" | sha256sum)"
check_eq "  the tunnel was relayed with splice" $((n0 + 1)) "$(spliced)"
check "  and at least 4 MB went through the pipes ($(($(splice_bytes) - b0)) bytes)" \
    test $(($(splice_bytes) - b0)) -ge 4194304
n1=$(spliced)
curl -s --max-time 10 -p --proxy-cacert "$F/ca.pem" -x "https://a.test:$TP" \
    --resolve "a.test:$TP:127.0.0.1" "http://127.0.0.1:$O/" >/dev/null
check_eq "a tunnel with a TLS client is not spliced" "$n1" "$(spliced)"
# The same transfers with splicing off (proxy.config.tlsedge.tunnel.splice 0): read/write.
HP2=$(free_port)
conf2=$(new_confdir nosplice <<CFG
CONFIG proxy.config.http.server_ports STRING $HP2:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.http.connect_ports STRING $O
CONFIG proxy.config.tlsedge.tunnel.splice INT 0
CFG
)
start_tlsedge nosplice "$HP2" -C "$conf2"
check_eq "splice off: 4 MB down intact" "$direct" \
    "$(curl -s --max-time 20 -p -x "http://127.0.0.1:$HP2" "http://127.0.0.1:$O/size/4194304" |
        sha256sum)"
check_contains_str "splice off: 1 MB up intact" "$want" \
    "$(curl -s --max-time 20 -p -x "http://127.0.0.1:$HP2" --data-binary @"$T/up.bin" \
        "http://127.0.0.1:$O/sha256")"
check_eq "  and nothing was spliced" 0 "$(stat proxy.process.tlsedge.tunnels_spliced "$HP2")"

echo "refusals"
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" || true; }
check_eq "a port outside connect_ports: 403" 403 \
    "$(code -p $PROXY "http://127.0.0.1:$((O + 1))/" -w '%{http_connect}' -o /dev/null)"
check_eq "a dead target on an allowed port: 502" 502 \
    "$(code -p $PROXY "http://127.0.0.1:$DEAD/" -w '%{http_connect}' -o /dev/null)"
check_eq "a client ip_allow denies CONNECT: 403" 403 \
    "$(curl -s -o /dev/null --max-time 10 --interface 127.0.0.2 -p -x "http://127.0.0.1:$HP" \
        -w '%{http_connect}' "http://127.0.0.1:$O/" || true)"
check_eq "  while a GET from that client is still allowed by its rule" 404 \
    "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --interface 127.0.0.2 \
        "http://127.0.0.1:$HP/nothing" || true)"

echo "idle timeout"
exec 3<>"/dev/tcp/127.0.0.1/$HP"
printf 'CONNECT 127.0.0.1:%s HTTP/1.1\r\nHost: x\r\n\r\n' "$O" >&3
start=$(date +%s)
reply=$(timeout 10 cat <&3 | head -c 200 || true)
elapsed=$(( $(date +%s) - start ))
exec 3<&-
check_contains_str "the tunnel opened with 200" "200 Connection Established" "$reply"
check "an idle tunnel is closed by the inactivity timeout (${elapsed} s, limit 2 s)" \
    test "$elapsed" -ge 1 -a "$elapsed" -le 6

finish
