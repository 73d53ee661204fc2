#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# tlsedge-bench (bench/) against tlsedge: handshake, resume and request runs bounded by --max
# complete with no errors and print one valid JSON object with the fields bench/compare.sh
# reads; resumption works against tlsedge's TLS 1.3 tickets; --count-certs names the served
# certificate; exit status 1 when nothing listens, 2 for a usage error.
. "$(dirname "$0")/lib.sh"

BENCH="$BUILD/tlsedge-bench"
F=$TLSEDGE_FIXTURES
if [ ! -x "$BENCH" ]; then
    fail "$BENCH is missing: build it with make $BENCH"
    finish
fi
start_origin origin
TP=$(free_port)
conf=$(new_confdir conf <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.ssl.server.cert.path STRING $F
CONFIG proxy.config.ssl.server.private_key.path STRING $F
CFG
)
echo "dest_ip=* ssl_cert_name=ip.pem ssl_key_name=ip.key" >"$conf/ssl_multicert.config"
echo "map https://127.0.0.1/ http://127.0.0.1:$ORIGIN_PORT/" >"$conf/remap.config"
start_tlsedge tlsedge "$TP" -C "$conf"

# bench NAME ARGS...: runs tlsedge-bench ARGS against tlsedge; the JSON report goes to
# $T/NAME.json, stderr to $T/NAME.log. Fails when the bench exits non-zero.
bench() {
    name=$1
    shift
    "$BENCH" "$@" --json --quiet --timeout 10000 "127.0.0.1:$TP" >"$T/$name.json" 2>"$T/$name.log"
}

# The fields bench/compare.sh reads, with their JSON types.
FIELDS='(.mode|type=="string") and (.ops|type=="number") and (.seconds|type=="number")
  and (.rate|type=="number") and (.errors|type=="object") and (.p50_ms|type=="number")
  and (.p90_ms|type=="number") and (.p99_ms|type=="number") and (.p999_ms|type=="number")
  and (.client_cpu_pct|type=="number") and has("server_cpu_pct")
  and has("rate_per_server_core") and (.negotiated|type=="string") and has("resumed_ratio")
  and has("mbps") and has("bytes_per_conn") and (.certs|type=="object")'

# json FILE FILTER: prints jq -r FILTER of FILE.
json() { jq -r "$2" "$1"; }

check "handshake --max 200 completes" bench hs handshake --max 200 --count-certs \
    --verify "$F/ca.pem" --server-pid "$TLSEDGE_PID"
check "handshake: one valid JSON object with compare.sh's fields" jq -e "$FIELDS" "$T/hs.json"
check_eq "handshake: 200 operations" 200 "$(json "$T/hs.json" .ops)"
check_eq "handshake: no errors" 0 "$(json "$T/hs.json" '.errors_total + (.errors | add)')"
check_eq "handshake: full handshakes only" 0 "$(json "$T/hs.json" .resumed)"
check_eq "handshake: negotiated TLS 1.3, X25519, ECDSA P-256" \
    "TLSv1.3 TLS_AES_128_GCM_SHA256 X25519 ecdsa_secp256r1_sha256" \
    "$(json "$T/hs.json" .negotiated)"
check "handshake: server CPU measured" jq -e '.server_cpu_pct >= 0' "$T/hs.json"
fp=$(openssl x509 -in "$F/ip.pem" -outform DER | sha256sum | cut -d' ' -f1)
check_eq "--count-certs: every handshake served ip.pem" "$fp 200" \
    "$(json "$T/hs.json" '.certs | to_entries | map("\(.key) \(.value)") | join(",")')"

check "resume --max 200 completes" bench res resume --max 200
check "resume: valid JSON" jq -e "$FIELDS" "$T/res.json"
check_eq "resume: no errors" 0 "$(json "$T/res.json" .errors_total)"
check "resume: resumed_ratio > 0.9 ($(json "$T/res.json" .resumed_ratio))" \
    jq -e '.resumed_ratio > 0.9' "$T/res.json"
# BoringSSL holds TLS 1.3 tickets until the server's next write; tlsedge flushes them right
# after the handshake, so a client that only handshakes gets them without prompting.
check_eq "resume: tlsedge sends TLS 1.3 tickets unprompted" unprompted \
    "$(json "$T/res.json" .ticket_mode)"

check "resume --tls12 --max 200 completes" bench res12 resume --tls12 --max 200
check "resume --tls12: resumed_ratio > 0.9, TLS 1.2" \
    jq -e '.resumed_ratio > 0.9 and (.negotiated | startswith("TLSv1.2 "))' "$T/res12.json"

check "request --max 100 completes" bench req request --max 100
check "request: valid JSON" jq -e "$FIELDS" "$T/req.json"
check_eq "request: 100 operations, no errors" "100 0" \
    "$(json "$T/req.json" '"\(.ops) \(.errors_total)"')"
check "request: response bodies read" jq -e '.bytes >= 100 * 18' "$T/req.json"

check "keepalive -t 2 --max 200 completes" bench ka keepalive -t 2 -c 8 --max 200
check_eq "keepalive: 200 operations, no errors" "200 0" \
    "$(json "$T/ka.json" '"\(.ops) \(.errors_total)"')"
check "bulk --max 10 of 1 MB completes" bench bulk bulk -c 2 --max 10 --path /size/1048576
# Bytes count when they arrive in the window: the (at most -c) downloads that began in the
# warm-up brought part of theirs before it.
check "bulk: MB/s reported, the window's bytes read" \
    jq -e '.errors_total == 0 and .mbps > 0 and .bytes >= (.ops - 2) * 1048576' "$T/bulk.json"

DEAD=$(free_port)
"$BENCH" handshake -d 0.5 --warmup 0 --quiet "127.0.0.1:$DEAD" >"$T/dead.out" 2>&1 && rc=0 || rc=$?
check_eq "exit status 1 when nothing listens" 1 "$rc"
"$BENCH" handshake --frobnicate "127.0.0.1:$TP" >"$T/usage.out" 2>&1 && rc=0 || rc=$?
check_eq "exit status 2 for a usage error" 2 "$rc"

finish
