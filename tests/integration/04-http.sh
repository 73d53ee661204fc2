#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# HTTP/1.1 proxying through TLS and plain ports to a local origin: remap, forward proxy, bodies
# both ways (length and chunked), keep-alive under concurrency, backpressure with a slow reader,
# errors (404, 403, 400, 502, 504), header rewriting, pipelining, the counters as JSON and for
# Prometheus, graceful stop mid-request.
. "$(dirname "$0")/lib.sh"

F=$TLSEDGE_FIXTURES
start_origin origin
O=$ORIGIN_PORT
TP=$(free_port)
HP=$(free_port)
# The origin's no-activity limit: 2 s, or 6 s in a sanitizer build (ThreadSanitizer slows tlsedge
# and the origin several times, so 100 concurrent keep-alive clients on a busy machine could
# otherwise see an origin answer later than 2 s).
OUT_S=2
[ -n "$SANITIZED" ] && OUT_S=6
conf=$(new_confdir conf <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1 $HP:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 2
CONFIG proxy.config.ssl.server.cert.path STRING $F
CONFIG proxy.config.ssl.server.private_key.path STRING $F
CONFIG proxy.config.url_remap.remap_required INT 0
CONFIG proxy.config.http.transaction_no_activity_timeout_out INT $OUT_S
CONFIG proxy.config.stop.shutdown_timeout INT 10
CFG
)
cat >"$conf/ssl_multicert.config" <<'CFG'
ssl_cert_name=a.test.pem ssl_key_name=a.test.key
dest_ip=* ssl_cert_name=default.pem ssl_key_name=default.key
CFG
DEAD=$(free_port)
cat >"$conf/remap.config" <<CFG
map https://a.test/ http://127.0.0.1:$O/
map http://plain.test/ http://127.0.0.1:$O/
map http://dead.test/ http://127.0.0.1:$DEAD/
map http://stall.test/ http://127.0.0.1:$O/stall
CFG
start_tlsedge tlsedge "$TP" -C "$conf"
A="https://a.test:$TP"
CURL="curl -s --max-time 20 --cacert $F/ca.pem --resolve a.test:$TP:127.0.0.1"

check_eq "GET through TLS returns the origin's body" "hello from origin" "$($CURL $A/)"
check_eq "GET through the plain port (Host remap)" "hello from origin" \
    "$(curl -s --max-time 5 -H 'Host: plain.test' http://127.0.0.1:$HP/)"
check_eq "forward proxy (absolute URI, remap_required 0)" "hello from origin" \
    "$(curl -s --max-time 5 -x http://127.0.0.1:$HP http://127.0.0.1:$O/)"

direct=$(curl -s --max-time 20 http://127.0.0.1:$O/size/1048576 | sha256sum)
check_eq "1 MB download intact (Content-Length)" "$direct" "$($CURL $A/size/1048576 | sha256sum)"
direct=$(curl -s --max-time 20 http://127.0.0.1:$O/chunked/1048576 | sha256sum)
check_eq "1 MB download intact (chunked)" "$direct" "$($CURL $A/chunked/1048576 | sha256sum)"
head -c 1048576 /dev/urandom >"$T/up.bin"
want=$(sha256sum <"$T/up.bin" | cut -d' ' -f1)
check_eq "1 MB upload intact (Content-Length)" "$want" \
    "$($CURL --data-binary @"$T/up.bin" $A/sha256 | tr -d '\n')"
check_eq "1 MB upload intact (chunked)" "$want" \
    "$($CURL -H 'Transfer-Encoding: chunked' --data-binary @"$T/up.bin" $A/sha256 | tr -d '\n')"
check_eq "1 MB echo both ways" "$want  -" "$($CURL --data-binary @"$T/up.bin" $A/echo | sha256sum)"

$CURL -H 'Connection: close, X-Secret' -H 'X-Secret: 1' -H 'Keep-Alive: 5' $A/headers >"$T/headers.out"
check_contains "Via added" "$T/headers.out" '^Via: .*tlsedge'
check_contains "X-Forwarded-For added" "$T/headers.out" '^X-Forwarded-For: 127\.0\.0\.1'
check_contains "Host rewritten to the remap target" "$T/headers.out" "^Host: 127\.0\.0\.1:$O"
check "hop-by-hop headers removed (Keep-Alive, Connection-listed X-Secret)" \
    sh -c "! grep -qiE '^(X-Secret|Keep-Alive):' '$T/headers.out'"

# 100 concurrent keep-alive clients x 20 requests each.
urls=""
for j in $(seq 1 20); do urls="$urls -o /dev/null $A/"; done
kapids=""
for i in $(seq 1 100); do
    $CURL -w '%{http_code} %{num_connects}\n' $urls >"$T/ka.$i" 2>&1 &
    kapids="$kapids $!"
done
wait $kapids # not a bare wait: that would wait for tlsedge and the origin too
ok=$(cat "$T"/ka.* | grep -c '^200 ' || true)
conns=$(cat "$T"/ka.* | awk '{s += $2} END {print s}')
check_eq "100 clients x 20 keep-alive requests all succeed" 2000 "$ok"
check_eq "each client used one connection" 100 "$conns"

# Pipelined requests on one connection are answered in order.
pipe=$(printf 'GET /size/3 HTTP/1.1\r\nHost: plain.test\r\n\r\nGET / HTTP/1.1\r\nHost: plain.test\r\nConnection: close\r\n\r\n' |
    timeout 10 curl -s --max-time 5 telnet://127.0.0.1:$HP 2>/dev/null | tr -d '\r')
check "pipelined requests answered in order" sh -c "echo '$pipe' | grep -n 'HTTP/1.1 200' | wc -l | grep -qx 2 && echo '$pipe' | tail -n 1 | grep -qx 'hello from origin'"

code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
check_eq "unmapped host gets 404" 404 "$($CURL -o /dev/null -w '%{http_code}' --resolve other.test:$TP:127.0.0.1 -k https://other.test:$TP/)"
check_eq "refused origin gets 502" 502 "$(code -H 'Host: dead.test' http://127.0.0.1:$HP/)"
check_eq "a stalled origin gets 504 (no activity timeout $OUT_S s)" 504 "$(code -H 'Host: stall.test' http://127.0.0.1:$HP/)"
smug=$(printf 'POST / HTTP/1.1\r\nHost: plain.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' |
    timeout 10 curl -s --max-time 5 telnet://127.0.0.1:$HP 2>/dev/null | head -n 1 | tr -d '\r')
check_eq "Content-Length with Transfer-Encoding gets 400" "HTTP/1.1 400 Bad Request" "$smug"

# A slow reader: tlsedge's memory does not grow with the response size.
rss() { awk '/VmRSS/ {print $2}' "/proc/$TLSEDGE_PID/status"; }
before=$(rss)
$CURL --limit-rate 200k -o /dev/null $A/size/200000000 &
slow=$!
PIDS="$PIDS $slow"
sleep 3
during=$(rss)
kill "$slow" 2>/dev/null || true
if [ -n "$SANITIZED" ]; then
    skip "slow-reader memory under a sanitizer (its quarantine holds freed memory)"
else
    check "slow reader: RSS grew by less than 4 MiB (before ${before} kB, during ${during} kB)" \
        test $((during - before)) -lt 4096
fi

check "stats endpoint answers valid JSON with the request count" sh -c \
    "curl -s --max-time 5 http://127.0.0.1:$HP/_tlsedge/stats | jq -e '.\"proxy.process.http.incoming_requests\" > 2000' >/dev/null"

# The same counters in Prometheus' text format: one counter or gauge per JSON key, named with
# '_' for '.', counters ending in _total; checked by Prometheus' own promtool where installed.
curl -s --max-time 5 "http://127.0.0.1:$HP/_tlsedge/stats" >"$T/stats.json"
curl -s --max-time 5 -D "$T/metrics.head" "http://127.0.0.1:$HP/_tlsedge/metrics" >"$T/metrics.txt"
check_contains "metrics: Prometheus' content type" "$T/metrics.head" \
    'Content-Type: text/plain; version=0.0.4'
check_eq "metrics: one sample per counter, each after its HELP and TYPE lines" \
    "$(jq length "$T/stats.json") ok" \
    "$(awk '/^# HELP / { h = $3; next }
            /^# TYPE / { if ($3 != h) bad = 1; t = $3; next }
            { n++; if ($1 != t || $2 !~ /^-?[0-9]+$/) bad = 1 }
            END { print n, (bad ? "bad" : "ok") }' "$T/metrics.txt")"
requests=$(jq '."proxy.process.http.incoming_requests"' "$T/stats.json")
check "metrics: incoming_requests_total is a counter, at least the JSON's $requests taken before" \
    sh -c "grep -qx '# TYPE proxy_process_http_incoming_requests_total counter' '$T/metrics.txt' &&
        awk '\$1 == \"proxy_process_http_incoming_requests_total\" { exit !(\$2 > $requests) }' \
        '$T/metrics.txt'"
check_eq "metrics: current_client_connections is a gauge (only this connection)" \
    "gauge 1" "$(awk '$3 == "proxy_process_http_current_client_connections" && $2 == "TYPE" { t = $4 }
        $1 == "proxy_process_http_current_client_connections" { v = $2 }
        END { print t, v }' "$T/metrics.txt")"
# promtool: on PATH, or unpacked once from Debian's prometheus package (tests/fixtures/promtool.sh).
if promtool=$(sh "$TOP/tests/fixtures/promtool.sh" 2>"$T/promtool-fetch.log"); then
    check "metrics: promtool check metrics finds no problem" \
        sh -c "'$promtool' check metrics <'$T/metrics.txt' >'$T/promtool.log' 2>&1"
else
    echo "  NOTICE: $(cat "$T/promtool-fetch.log")"
    skip "promtool check metrics: promtool could not be had"
fi
check_eq "metrics: a query string is not the metrics page (routed, no rule: 404)" 404 \
    "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$HP/_tlsedge/metrics?x=1")"

# SIGTERM lets an in-flight request finish.
$CURL -o "$T/slow.out" "$A/slow/10?ms=200" &
inflight=$!
sleep 0.5
kill -TERM "$TLSEDGE_PID"
rc=0
wait "$inflight" || rc=$?
check_eq "an in-flight request completes across SIGTERM" 0 "$rc"
check_eq "and receives its whole body" 10 "$(wc -c <"$T/slow.out" | tr -d ' ')"
wait_exit "$TLSEDGE_PID" 10
check_eq "tlsedge then exits 0" 0 "$EXIT_STATUS"

# ip_allow: a client outside the allowed range gets 403.
HP2=$(free_port)
deny=$(new_confdir deny <<CFG
CONFIG proxy.config.http.server_ports STRING $HP2:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CFG
)
echo "map http://plain.test/ http://127.0.0.1:$O/" >"$deny/remap.config"
cat >"$deny/ip_allow.yaml" <<'CFG'
ip_allow:
  - apply: in
    ip_addrs: 127.0.0.1
    action: allow
    methods: ALL
CFG
start_tlsedge deny "$HP2" -C "$deny"
check_eq "allowed client gets 200" 200 "$(code -H 'Host: plain.test' http://127.0.0.1:$HP2/)"
check_eq "denied client (127.0.0.2) gets 403" 403 \
    "$(code --interface 127.0.0.2 -H 'Host: plain.test' http://127.0.0.1:$HP2/)"

# Client-side timeouts and pristine_host_hdr.
HP3=$(free_port)
to=$(new_confdir to <<CFG
CONFIG proxy.config.http.server_ports STRING $HP3:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.http.keep_alive_no_activity_timeout_in INT 1
CONFIG proxy.config.http.transaction_no_activity_timeout_in INT 1
CONFIG proxy.config.url_remap.pristine_host_hdr INT 1
CONFIG proxy.config.http.connect_attempts_timeout INT 1
CFG
)
BH=$(free_port)
spawn blackhole "$TOOLS/blackhole" "$BH" 120
wait_port "$BH" 10
printf 'map http://plain.test/ http://127.0.0.1:%s/\nmap http://hole.test/ http://127.0.0.1:%s/\n' \
    "$O" "$BH" >"$to/remap.config"
start_tlsedge to "$HP3" -C "$to"
check_eq "an origin that never accepts the connection gets 504 (connect_attempts_timeout 1 s)" \
    504 "$(code -H 'Host: hole.test' http://127.0.0.1:$HP3/)"
check_contains "the connect timeout is logged with client and origin" "$T/to.log" \
    "origin 127\.0\.0\.1:$BH for client 127\.0\.0\.1:[0-9]+: connect timed out"
check "pristine_host_hdr keeps the client's Host" sh -c \
    "curl -s --max-time 5 -H 'Host: plain.test' http://127.0.0.1:$HP3/headers | grep -q '^Host: plain.test'"
# closed_after PRINTF-FORMAT: ms until tlsedge closes a connection that sent these bytes.
closed_after() {
    exec 3<>"/dev/tcp/127.0.0.1/$HP3"
    printf "$1" >&3
    t0=$(date +%s%N)
    timeout 10 cat <&3 >/dev/null || true
    exec 3<&-
    echo $(( ($(date +%s%N) - t0) / 1000000 ))
}
ms=$(closed_after 'GET / HTTP/1.1\r\nHost: plain.test\r\n\r\n')
check "an idle keep-alive client is closed after about 1 s (${ms} ms)" test "$ms" -ge 900 -a "$ms" -lt 5000
ms=$(closed_after 'GET / HTTP/1.1\r\nHost: pla')
check "a client stalled mid-request is closed after about 1 s (${ms} ms)" test "$ms" -ge 900 -a "$ms" -lt 5000
check_eq "the stalled transaction is counted" 1 \
    "$(curl -s --max-time 5 -H 'Host: x' http://127.0.0.1:$HP3/_tlsedge/stats | jq '."proxy.process.tlsedge.transaction_timeouts"')"
printf 'X-Big: %0140000d\n' 0 >"$T/big.hdr"
check_eq "a request head over request_header_max_size (131072) gets 431" 431 \
    "$(code -H 'Host: plain.test' -H @"$T/big.hdr" http://127.0.0.1:$HP3/)"
finish
