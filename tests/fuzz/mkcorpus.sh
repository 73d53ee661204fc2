#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# tests/fuzz/mkcorpus.sh OUTDIR: writes the seed corpus of every fuzz target into OUTDIR/NAME/
# (NAME as in tests/fuzz/fuzz_NAME.c), run by the Makefile at build time (`make fuzz`, and
# `make test`, which replays the corpora).
#
# Seeds are real where a real source exists, hand-written otherwise:
#  - clienthello: first flights of `openssl s_client` and `curl`, captured on loopback by
#    tests/fixtures/capture_clienthello.sh; plus one of them re-split into two records.
#  - http1_head: requests `curl` sent on loopback (captured the same way: plain HTTP, direct and
#    through a proxy, POST, chunked upload, CONNECT), plus hand-written requests and responses.
#  - sniyaml: sni.yaml files as the integration tests write them (mutual TLS, routes), all keys.
#  - tickets: ticket key files of random bytes (not keys anyone uses), of several sizes.
#  - http1_chunked, records, multicert, remap, ipallow, keyless_proto: the files
#    `tlsedge --write-default-config` writes, the README's examples, ATS-style files, and bodies
#    and frames written byte by byte.
# Environment: CAPTURE_LISTENER (default build/tools/capture_listener) and TLSEDGE (default
# build/tlsedge), both built by the Makefile before this runs. Nothing here listens beyond
# 127.0.0.1; each capture listener exits by itself within seconds, and any still running when
# the script stops is killed by its PID. No private key is kept (the default configuration's key
# is written to a temporary directory and removed).
set -eu

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
TOP=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$1
LISTENER=${CAPTURE_LISTENER:-$TOP/build/tools/capture_listener}
TLSEDGE=${TLSEDGE:-$TOP/build/tlsedge}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tlsedge-corpus.XXXXXX")
PID=""
cleanup() {
    if [ -n "$PID" ]; then
        kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

rm -rf "$OUT"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
for t in clienthello http1_head http1_chunked records multicert remap ipallow keyless_proto tickets sniyaml \
    bridge_reply bridge_args; do
    mkdir -p "$OUT/$t"
done

# seed TARGET NAME FORMAT [ARGS...]: writes printf FORMAT ARGS to OUT/TARGET/NAME.
seed() {
    dir=$1
    name=$2
    shift 2
    # shellcheck disable=SC2059 # the format is the seed's bytes, escapes included
    printf "$@" >"$OUT/$dir/$name"
}

# ---- clienthello: real first flights.
CAPTURE_LISTENER=$LISTENER sh "$TOP/tests/fixtures/capture_clienthello.sh" "$TMP/ch" 2>"$TMP/ch.log" ||
    { cat "$TMP/ch.log" >&2; exit 1; }
cp "$TMP"/ch/*.bin "$OUT/clienthello/"
# The curl hello again, its handshake message split over two records (5 + 1 ... bytes).
f="$OUT/clienthello/curl_default.bin"
n=$(($(wc -c <"$f") - 5))
{
    printf '\026\003\001\000\005'
    dd if="$f" bs=1 skip=5 count=5 2>/dev/null
    printf '\026\003\001'"$(printf '\\%03o\\%03o' $(((n - 5) / 256)) $(((n - 5) % 256)))"
    dd if="$f" bs=1 skip=10 2>/dev/null
} >"$OUT/clienthello/curl_default_split.bin"
seed clienthello not_tls 'GET / HTTP/1.1\r\n\r\n'
seed clienthello sslv2 '\200\056\001\003\001\000\025\000\000\000\020'

# ---- http1_head: requests curl sent (the listener records them and closes without answering).
# capture_http NAME CURL-ARGS...: one request of `curl ARGS` to the listener's port (the
# arguments may use PORT, replaced here).
capture_http() {
    name=$1
    shift
    rm -f "$TMP/port"
    "$LISTENER" "$TMP/port" "$OUT/http1_head/$name" 5 &
    PID=$!
    i=0
    while [ ! -s "$TMP/port" ]; do
        i=$((i + 1))
        [ $i -le 100 ] || { echo "mkcorpus: capture $name: listener did not start" >&2; exit 1; }
        sleep 0.05
    done
    port=$(cat "$TMP/port")
    args=""
    for a in "$@"; do
        args="$args '$(echo "$a" | sed "s/PORT/$port/g")'"
    done
    eval "timeout 10 curl -s --max-time 5 $args" </dev/null >/dev/null 2>&1 || true
    wait "$PID" || { echo "mkcorpus: capture $name: nothing captured" >&2; exit 1; }
    PID=""
}
capture_http curl_get "http://127.0.0.1:PORT/index.html?x=1"
capture_http curl_proxy -x "http://127.0.0.1:PORT" "http://example.test/a/b"
capture_http curl_post -d "a=1&b=2" "http://127.0.0.1:PORT/form"
capture_http curl_chunked -H "Transfer-Encoding: chunked" -d "hello" "http://127.0.0.1:PORT/up"
capture_http curl_connect -p -x "http://127.0.0.1:PORT" "https://example.test:443/"
capture_http curl_http10 -0 -H "Connection: keep-alive" "http://127.0.0.1:PORT/"
seed http1_head options 'OPTIONS * HTTP/1.1\r\nHost: a.test\r\n\r\n'
seed http1_head pipelined 'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n'
seed http1_head ipv6_host 'GET http://[::1]:8080/x HTTP/1.1\r\nHost: [::1]:8080\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc'
seed http1_head via_xff 'GET / HTTP/1.1\r\nHost: a\r\nVia: 1.1 a, 1.0 b\r\nX-Forwarded-For: 10.0.0.1\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\nTE: trailers\r\n\r\n'
seed http1_head resp_200 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello'
seed http1_head resp_chunked 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'
seed http1_head resp_eof 'HTTP/1.0 200\r\nServer: x\r\n\r\nbody until close'
seed http1_head resp_204 'HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n'
seed http1_head resp_100 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n'
seed http1_head resp_101 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n'
seed http1_head smuggle 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'

# ---- http1_chunked: bodies after the head.
seed http1_chunked simple '5\r\nhello\r\n0\r\n\r\n'
seed http1_chunked ext_trailer '3;name=value;x\r\nabc\r\nA \t;q="1"\r\n0123456789\r\n0\r\nX-Sum: 1\r\nY: z\r\n\r\nNEXT'
seed http1_chunked big_size '00000000000000010\r\n0123456789abcdef\r\n0\r\n\r\n'
seed http1_chunked bare_lf '5\nhello\n0\n\n'
seed http1_chunked many '1\r\na\r\n1\r\nb\r\n2\r\ncd\r\n0\r\n\r\n'

# ---- records, multicert, remap, ipallow: the embedded default as written out, and more.
"$TLSEDGE" --write-default-config "$TMP/conf" >/dev/null
cp "$TMP/conf/records.config" "$OUT/records/default"
cp "$TMP/conf/ssl_multicert.config" "$OUT/multicert/default"
cp "$TMP/conf/remap.config" "$OUT/remap/default"
cp "$TMP/conf/ip_allow.yaml" "$OUT/ipallow/default"
rm -rf "$TMP/conf"
seed records types '# comment\n\nCONFIG proxy.config.net.listen_backlog INT 4K\nLOCAL proxy.config.exec_thread.limit INT 0x10\n  CONFIG fuzz.float FLOAT 1.5e3\nCONFIG proxy.config.log.logfile_dir STRING NULL\nCONFIG proxy.config.http.server_ports STRING  443:ssl 80  \nCONFIG proxy.config.unknown.name INT 1\n'
seed records errors 'CONFIG proxy.config.net.listen_backlog INT 12abc\nCONFIG x\nBOGUS a INT 1\nCONFIG proxy.config.net.listen_backlog STRING x\nCONFIG fuzz.float FLOAT nan\nCONFIG proxy.config.net.listen_backlog INT -9223372036854775808\nCONFIG proxy.config.net.listen_backlog INT 8T\n'

seed multicert readme 'ssl_cert_name=a.example.pem ssl_key_name=a.example.key\nssl_cert_name=www-ec.pem,www-rsa.pem ssl_key_name=www-ec.key,www-rsa.key\ndest_ip=192.0.2.10:443 ssl_cert_name=ip.pem\ndest_ip=* ssl_cert_name=default.pem ssl_key_name=default.key\n'
seed multicert tags '# all tags\ndest_ip=[::1]:8443 ssl_cert_name="a b.pem" ssl_key_name=keyless://10.0.0.7:9000 ssl_ca_name=ca.pem ssl_ticket_enabled=1 ssl_ticket_number=3 ticket_key_name=/t.key ssl_key_dialog=builtin unknown=1 # tail\ndest_ip=10.0.0.1 action=tunnel\nssl_cert_name=/abs.pem ssl_key_name=pkcs11:token=x;object=y\n'
seed multicert errors 'ssl_cert_name=a.pem,b.pem ssl_key_name=a.key\ndest_ip=300.1.1.1 ssl_cert_name=x\naction=drop\nssl_cert_name= ssl_ticket_enabled=2\n=x\nssl_cert_name="unterminated\n'

seed remap readme 'map https://www.example.com/ http://127.0.0.1:8000/\nmap http://api.example.com/v1/ http://10.0.0.5:9000/api/\n'
seed remap options '# comment\nmap http://a.test:8080/x http://[::1]:81 @plugin=x.so @pparam=1\nreverse_map http://b/ http://a.test/\nmap http://A.TEST./ https://b.test/y # trailing\nmap http://a.test/ http://c/ @action=deny\nmap / http://x/\nmap http://u@a/ http://b/?q\n'

seed ipallow readme 'ip_allow:\n  - apply: in\n    ip_addrs: [10.0.0.0/8]\n    action: allow\n    methods: [GET, HEAD]\n  - apply: in\n    ip_addrs: 0.0.0.0/0\n    action: deny\n'
seed ipallow ats_default 'ip_allow:\n  - apply: in\n    ip_addrs: 127.0.0.1\n    action: allow\n    methods: ALL\n  - apply: in\n    ip_addrs: ::1\n    action: allow\n    methods: ALL\n  - apply: in\n    ip_addrs: 0/0\n    action: deny\n    methods:\n      - PURGE\n      - PUSH\n      - DELETE\n  - apply: out\n    ip_addrs: 0/0\n    action: allow\n'
seed ipallow ranges 'ip_allow: [{apply: IN, ip_addrs: [1.2.3.4-1.2.3.20, "::/0", "fe80::1-fe80::ff"], action: set_allow, methods: get}, {apply: in, ip_addrs: 192.0.2.0/24, action: set_deny}]\n'
seed ipallow errors 'ip_allow:\n  - apply: sideways\n    ip_addrs: 10\n    action: maybe\n    colour: red\n  - ip_addrs: [1.2.3.4/33]\n'

# ---- keyless_proto: frames (u32 length | body), requests and replies, back to back.
d32='\001\002\003\004\005\006\007\010\011\012\013\014\015\016\017\020\021\022\023\024\025\026\027\030\031\032\033\034\035\036\037\040'
seed keyless_proto sign_p256 "\000\000\000\112\001\001\004\003\000\000\000\007${d32}\000\040${d32}"
seed keyless_proto ping_twice "\000\000\000\052\001\002\000\000\000\000\000\001${d32}\000\000\000\000\000\052\001\002\000\000\000\000\000\002${d32}\000\000"
seed keyless_proto reply_ok "\000\000\000\050\001\000\000\000\000\007\000\040${d32}"
seed keyless_proto reply_errors '\000\000\000\010\001\001\000\000\000\001\000\000\000\000\000\010\001\004\000\000\000\002\000\000'
seed keyless_proto bad_version '\000\000\000\010\002\000\000\000\000\001\000\000'

# ---- sniyaml: sni.yaml files as the integration tests write them, and every key.
seed sniyaml mtls 'sni:\n  - fqdn: strict.wild.test\n    verify_client: STRICT\n    verify_client_ca_certs: clients-ca.pem\n  - fqdn: moderate.wild.test\n    verify_client: MODERATE\n  - fqdn: old.wild.test\n    valid_tls_versions_in: [TLSv1_2]\n  - fqdn: private.wild.test\n    ip_allow: "10.0.0.0/8, 192.168.0.0/16"\n  - fqdn: "*.wild.test"\n    verify_client: NONE\n'
seed sniyaml routes 'sni:\n  - fqdn: a.test\n    tunnel_route: 127.0.0.1:8001\n  - fqdn: "*.route.test"\n    tunnel_route: "127.0.0.1:$1"\n  - fqdn: fwd.test\n    forward_route: "localhost:{inbound_local_port}"\n  - fqdn: p.test\n    partial_blind_route: 127.0.0.1:9\n'
seed sniyaml keys 'sni:\n- {fqdn: A.Example.COM, verify_client: moderate, verify_client_ca_certs: {file: /etc/ssl/certs/none.pem, dir: /nonexistent}, valid_tls_versions_in: [TLSv1_3, TLSv1_2], http2: on, host_sni_policy: PERMISSIVE, verify_server_policy: ENFORCED, client_cert: c.pem, bogus_key: 1}\n- fqdn: a.example.com\n  ip_allow: "::1, 127.0.0.1-127.0.0.9"\n'

# ---- bridge_reply: what tls_bridge peers answer to a replayed CONNECT (tlsedge's and ATS's
# heads as tests/integration/25-tls-bridge.sh sees them), and broken ones.
seed bridge_reply ok_tlsedge 'HTTP/1.1 200 Connection Established\r\n\r\n'
seed bridge_reply ok_ats 'HTTP/1.1 200 OK\r\nDate: Sun, 22 Nov 2026 19:20:00 GMT\r\nServer: ATS/9.2.5\r\n\r\n'
seed bridge_reply ok_then_data 'HTTP/1.0 200 OK\r\n\r\nSSH-2.0-OpenSSH_9.2\r\n'
seed bridge_reply forbidden_ats 'HTTP/1.1 403 Tunnel Forbidden\r\nDate: Sun, 22 Nov 2026 19:20:00 GMT\r\nConnection: close\r\nServer: ATS/9.2.5\r\nCache-Control: no-store\r\nContent-Type: text/html\r\nContent-Language: en\r\nContent-Length: 9\r\n\r\nForbidden'
seed bridge_reply interim 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\n\r\nX'
seed bridge_reply crcrlf 'HTTP/1.1 502 Bad Gateway\r\nX: \r\r\n\r\r\n\r\n'
seed bridge_reply bare_lf 'HTTP/1.1 200 OK\n\n'
seed bridge_reply garbage '\026\003\001\000\005hello'
seed bridge_reply nul 'HTTP/1.1 200 O\000K\r\n\r\n'

# ---- bridge_args: tls_bridge arguments (first byte odd) and --file text (even).
seed bridge_args readme '\001.*[.]service[.]com peer.example.com:4443 db[.]internal:5432 [::1]:8443 --file bridge.conf'
seed bridge_args bad_pairs '\001ok[.]test p:1 bad( p:2 x host:0 y [::1 lonely'
seed bridge_args empty '\001'
seed bridge_args file '\000# destinations\n  first[.]test   pf1:1   # comment\n\nsecond[.]test\tpf2\r\nlonely\nthree words here\nbad( p\nlast[.]test [::1]:9'

# ---- tickets: ATS key files (48-byte keys) of random bytes, whole and with remainders.
for n in 47 48 96 100 480 3077; do
    head -c "$n" /dev/urandom >"$OUT/tickets/random_$n"
done

echo "mkcorpus: $(find "$OUT" -type f | wc -l) seeds in $OUT" >&2
