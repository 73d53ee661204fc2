#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# bench/compare.sh: tlsedge against nginx and HAProxy in one run, on pinned cores.
#
# Every server runs one worker pinned to CPU 0 and serves the same certificates (ECDSA P-256 and
# RSA-2048 leaves made at run time by a throwaway CA) with the same TLS settings (TLS 1.3, X25519,
# TLS_AES_128_GCM_SHA256, session tickets) and proxies to the same origin (build/tools/origin).
# The load client (build/tlsedge-bench) and the origin run on CPU 1. Each scenario runs the servers
# alternately (A B C A B C ...); the report gives medians with min-max, the server's CPU %, the
# rate per 100 % of one server core and tlsedge's ratio to the best peer. Results go to
# bench/results/latest.md (+ .svg, + .jsonl with every run). Loopback only; everything lives in a
# private temp dir, and the exit trap stops only the processes this script started, by PID.
#
# Usage: bash bench/compare.sh [--quick] [--only LIST] [--rounds N] [--duration S] [--warmup S]
#                              [--idle-conns N] [--out DIR] [--keep]
#   --quick         1 round, -d 2, 2000 idle connections (default: 3 rounds, -d 5, 10000)
#   --only LIST     comma-separated: full-ecdsa,full-rsa,resumed,request,keepalive,bulk,idle
#   --keep          keep the temporary directory (configurations, logs) for a look afterwards
# (`make bench BENCH_ARGS="--quick"`). Environment: BENCH_QUICK=1, BENCH_ONLY, BENCH_ROUNDS,
# BENCH_DURATION, BENCH_WARMUP, BENCH_IDLE_CONNS, BENCH_OUT, BENCH_QUIET_MAX (% busy of CPUs 0-1
# that counts as idle before a run, 10), BENCH_QUIET_WAIT (seconds to wait for it, 60), BUILD
# (default build), BSSL (the `bssl` tool for the crypto ceiling; default
# build/deps/boringssl/bin/bssl). For another build variant: BUILD=build/system bash bench/compare.sh.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$TOP/$BUILD" ;; esac
TLSEDGE=$BUILD/tlsedge
BENCHBIN=$BUILD/tlsedge-bench
ORIGIN=$BUILD/tools/origin
BSSL=${BSSL:-$TOP/build/deps/boringssl/bin/bssl} # BoringSSL is built once, outside the variants

ALL_SCENARIOS="full-ecdsa full-rsa resumed request keepalive bulk idle"
SERVERS="tlsedge nginx haproxy"
SERVER_CPU=0
CLIENT_CPU=1
SUITE=TLS_AES_128_GCM_SHA256
GROUP=X25519
BULK_BYTES=1048576

usage() {
    sed -n '3,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

QUICK=${BENCH_QUICK:-0}
ONLY=${BENCH_ONLY:-}
ROUNDS=${BENCH_ROUNDS:-}
DURATION=${BENCH_DURATION:-}
WARMUP=${BENCH_WARMUP:-}
IDLE_CONNS=${BENCH_IDLE_CONNS:-}
OUT=${BENCH_OUT:-$TOP/bench/results}
KEEP=0
CMDLINE="bash bench/compare.sh${*:+ $*}"
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) QUICK=1 ;;
    --only) ONLY=$2; shift ;;
    --only=*) ONLY=${1#*=} ;;
    --rounds) ROUNDS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    --idle-conns) IDLE_CONNS=$2; shift ;;
    --out) OUT=$2; shift ;;
    --keep) KEEP=1 ;;
    -h | --help) usage 0 ;;
    *) echo "compare.sh: unknown argument '$1'" >&2; usage 2 >&2 ;;
    esac
    shift
done
if [ "$QUICK" = 1 ]; then
    ROUNDS=${ROUNDS:-1}; DURATION=${DURATION:-2}; WARMUP=${WARMUP:-1}; IDLE_CONNS=${IDLE_CONNS:-2000}
else
    ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-5}; WARMUP=${WARMUP:-1}; IDLE_CONNS=${IDLE_CONNS:-10000}
fi
SCENARIOS=""
for s in ${ONLY//,/ }; do
    case " $ALL_SCENARIOS " in *" $s "*) SCENARIOS="$SCENARIOS $s" ;;
    *) echo "compare.sh: unknown scenario '$s' (known: $ALL_SCENARIOS)" >&2; exit 2 ;; esac
done
SCENARIOS=${SCENARIOS:-$ALL_SCENARIOS}

log() { printf '[compare %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }
loud() { # a problem that makes the result wrong: boxed on stderr, listed in the report, exit 1
    printf '\n!!!!!!!! %s\n\n' "$*" >&2
    PROBLEMS="${PROBLEMS}- **${*}**"$'\n'
    FAILED=1
}
PROBLEMS=""
NOTES=""
FAILED=0

# ---- what the run needs ----
for f in "$TLSEDGE" "$BENCHBIN" "$ORIGIN"; do
    [ -x "$f" ] || die "$f is missing: run \`make bench\` (or \`make all tools\`) first"
done
[ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null || die "installing nginx/HAProxy needs root or sudo"
sh "$TOP/tests/fixtures/deps.sh" nginx haproxy jq procps util-linux openssl curl iproute2
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs (server on CPU $SERVER_CPU, client on CPU $CLIENT_CPU)"

# 10,000 idle connections need more descriptors than the usual 1024 (client and server each).
# Raising the hard limit needs CAP_SYS_RESOURCE, which a container may not give even to root.
ulimit -Hn 262144 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
[ "$NOFILE" = unlimited ] && NOFILE=1048576
[ "$NOFILE" -gt 262144 ] && NOFILE=262144
[ "$NOFILE" -ge $((IDLE_CONNS + 200)) ] ||
    die "ulimit -n is $NOFILE: $IDLE_CONNS idle connections need more (lower --idle-conns)"
# HAProxy budgets two descriptors per connection (client and server side) and by default refuses
# to start when the limit is below that; the idle scenario needs one per connection.
MAXCONN=$(((NOFILE - 100) / 2))
HAPROXY_LIMITS=""
if [ "$MAXCONN" -lt $((IDLE_CONNS + 500)) ]; then
    MAXCONN=$((IDLE_CONNS + 500))
    HAPROXY_LIMITS="    no strict-limits"
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/tlsedge-compare.XXXXXX")
PIDS=""
cleanup() {
    rc=$?
    trap - EXIT INT TERM
    for p in $PIDS; do kill -TERM "$p" 2>/dev/null || true; done
    for p in $PIDS; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [ "$KEEP" = 1 ]; then log "kept $T"; else rm -rf "$T"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# spawn NAME CMD...: starts CMD in the background (output to $T/NAME.log), records its PID.
spawn() {
    local name=$1
    shift
    "$@" >"$T/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS="$PIDS $LAST_PID"
}

USED_PORTS=""
free_port() { # a port nothing listens on, below the ephemeral range, not handed out before
    local p
    while :; do
        p=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 12000))
        case " $USED_PORTS " in *" $p "*) continue ;; esac
        [ -n "$(ss -Htan "sport = :$p")" ] && continue
        USED_PORTS="$USED_PORTS $p"
        echo "$p"
        return
    done
}

wait_port() { # PORT: until something listens on 127.0.0.1:PORT (10 s)
    for _ in $(seq 200); do
        [ -n "$(ss -Htln "sport = :$1")" ] && return 0
        sleep 0.05
    done
    return 1
}

# ---- certificates: one throwaway CA, an ECDSA P-256 and an RSA-2048 leaf ----
# The RSA leaf is named rsa.bench.test: tlsedge (like ATS) looks the SNI name up before the
# accepting address, so one name cannot map to a different certificate per port.
mk_certs() {
    local d=$T/pki
    mkdir -p "$d"
    (
        cd "$d"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
            -keyout ca.key -out ca.crt -subj "/CN=tlsedge bench throwaway CA"
        mk_leaf() { # NAME DNS KEYARGS...
            local n=$1 dns=$2
            shift 2
            openssl req -newkey "$@" -nodes -keyout "$n.key" -out "$n.csr" -subj "/CN=$dns"
            printf 'subjectAltName=DNS:%s\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n' \
                "$dns" >"$n.ext"
            openssl x509 -req -in "$n.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
                -extfile "$n.ext" -out "$n.crt"
            cat "$n.crt" "$n.key" >"$n.pem" # HAProxy wants both in one file
        }
        mk_leaf ecdsa bench.test ec -pkeyopt ec_paramgen_curve:P-256
        mk_leaf rsa rsa.bench.test rsa:2048
    ) >"$T/pki.log" 2>&1 || { cat "$T/pki.log" >&2; die "certificate generation failed"; }
}

# ---- the servers ----
start_origin() {
    ORIGIN_PORT=$(free_port)
    spawn origin taskset -c "$CLIENT_CPU" "$ORIGIN" -p "$ORIGIN_PORT" --max-seconds 0 -l /dev/null
    wait_port "$ORIGIN_PORT" || die "origin did not listen"
}

start_tlsedge() {
    local d=$T/tlsedge
    mkdir -p "$d/log"
    PORT_tlsedge_ecdsa=${PORT_tlsedge_ecdsa:-$(free_port)} # kept across a restart
    PORT_tlsedge_rsa=${PORT_tlsedge_rsa:-$(free_port)} # kept across a restart
    cat >"$d/records.config" <<EOF
CONFIG proxy.config.http.server_ports STRING $PORT_tlsedge_ecdsa:ssl:ip-in=127.0.0.1 $PORT_tlsedge_rsa:ssl:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.exec_thread.affinity INT 1
CONFIG proxy.config.net.listen_backlog INT 4096
CONFIG proxy.config.ssl.TLSv1_2 INT 0
CONFIG proxy.config.ssl.TLSv1_3 INT 1
CONFIG proxy.config.ssl.server.groups_list STRING $GROUP
CONFIG proxy.config.ssl.server.session_ticket.enable INT 1
CONFIG proxy.config.ssl.server.cert.path STRING $T/pki
CONFIG proxy.config.ssl.server.private_key.path STRING $T/pki
CONFIG proxy.config.url_remap.remap_required INT 1
CONFIG proxy.config.http.keep_alive_no_activity_timeout_in INT 120
CONFIG proxy.config.stop.shutdown_timeout INT 2
CONFIG proxy.config.log.logfile_dir STRING $d/log
EOF
    cat >"$d/ssl_multicert.config" <<EOF
dest_ip=127.0.0.1:$PORT_tlsedge_ecdsa ssl_cert_name=ecdsa.crt ssl_key_name=ecdsa.key
dest_ip=127.0.0.1:$PORT_tlsedge_rsa ssl_cert_name=rsa.crt ssl_key_name=rsa.key
EOF
    # Whatever Host the client sends (the SNI name or the address, with or without the port).
    cat >"$d/remap.config" <<EOF
map https://bench.test/ http://127.0.0.1:$ORIGIN_PORT/
map https://rsa.bench.test/ http://127.0.0.1:$ORIGIN_PORT/
map https://127.0.0.1/ http://127.0.0.1:$ORIGIN_PORT/
EOF
    "$TLSEDGE" -C "$d" -t >"$T/tlsedge-check.log" 2>&1 ||
        { cat "$T/tlsedge-check.log" >&2; die "tlsedge rejects the bench configuration"; }
    spawn tlsedge taskset -c "$SERVER_CPU" "$TLSEDGE" -C "$d"
    PID_tlsedge=$LAST_PID
    # shellcheck disable=SC2034 # read through eval in run_one
    WPID_tlsedge=$LAST_PID # one process; its threads are counted together
    if ! { wait_port "$PORT_tlsedge_ecdsa" && wait_port "$PORT_tlsedge_rsa"; }; then
        cat "$T/tlsedge.log" "$d/log/diags.log" 2>/dev/null >&2; die "tlsedge did not start"
    fi
}

start_nginx() {
    local d=$T/nginx
    mkdir -p "$d/logs" "$d/tmp"
    PORT_nginx_ecdsa=${PORT_nginx_ecdsa:-$(free_port)} # kept across a restart
    PORT_nginx_rsa=${PORT_nginx_rsa:-$(free_port)} # kept across a restart
    cat >"$d/nginx.conf" <<EOF
worker_processes 1;
worker_cpu_affinity 01;
worker_rlimit_nofile $NOFILE;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events { worker_connections $((NOFILE - 100)); }
http {
    access_log off;
    upstream origin {
        server 127.0.0.1:$ORIGIN_PORT;
        keepalive 256;
        keepalive_timeout 120s;
    }
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    keepalive_timeout 120s;
    keepalive_requests 100000000;
    ssl_protocols TLSv1.3;
    ssl_ecdh_curve $GROUP;
    ssl_conf_command Ciphersuites $SUITE;
    ssl_session_tickets on;
    # Like tlsedge: idle origin connections are kept and reused (tlsedge's default
    # server_session_sharing), bodies streamed through bounded memory.
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_buffer_size 16k;
    proxy_buffers 4 16k;
    proxy_max_temp_file_size 0;
    proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    server {
        listen 127.0.0.1:$PORT_nginx_ecdsa ssl backlog=4096;
        ssl_certificate $T/pki/ecdsa.crt;
        ssl_certificate_key $T/pki/ecdsa.key;
        location / { proxy_pass http://origin; }
    }
    server {
        listen 127.0.0.1:$PORT_nginx_rsa ssl backlog=4096;
        ssl_certificate $T/pki/rsa.crt;
        ssl_certificate_key $T/pki/rsa.key;
        location / { proxy_pass http://origin; }
    }
}
EOF
    local ng=("$NGINX" -p "$d" -e "$d/logs/error.log" -c "$d/nginx.conf" -g 'daemon off; master_process on;')
    "${ng[@]}" -t >"$T/nginx-check.log" 2>&1 || { cat "$T/nginx-check.log" >&2; die "nginx -t failed"; }
    spawn nginx taskset -c "$SERVER_CPU" "${ng[@]}"
    PID_nginx=$LAST_PID
    if ! { wait_port "$PORT_nginx_ecdsa" && wait_port "$PORT_nginx_rsa"; }; then
        cat "$T/nginx.log" "$d/logs/error.log" >&2; die "nginx did not start"
    fi
    WPID_nginx=""
    for _ in $(seq 100); do
        WPID_nginx=$(pgrep -P "$PID_nginx" | sed -n 1p || true)
        [ -n "$WPID_nginx" ] && break
        sleep 0.05
    done
    [ -n "$WPID_nginx" ] || die "nginx worker process not found"
}

start_haproxy() {
    local d=$T/haproxy
    mkdir -p "$d"
    PORT_haproxy_ecdsa=${PORT_haproxy_ecdsa:-$(free_port)} # kept across a restart
    PORT_haproxy_rsa=${PORT_haproxy_rsa:-$(free_port)} # kept across a restart
    cat >"$d/haproxy.cfg" <<EOF
global
    nbthread 1
    cpu-map 1/1 $SERVER_CPU
    maxconn $MAXCONN
$HAPROXY_LIMITS
    ssl-default-bind-options ssl-min-ver TLSv1.3
    ssl-default-bind-ciphersuites $SUITE
    ssl-default-bind-curves $GROUP
    tune.ssl.default-dh-param 2048
defaults
    mode http
    timeout connect 5s
    timeout client 120s
    timeout server 30s
    timeout http-keep-alive 120s
    # Like tlsedge: idle origin connections are kept and reused (HAProxy's default keep-alive
    # mode; http-reuse safe is its default too).
    http-reuse safe
    option forwardfor
frontend ecdsa
    bind 127.0.0.1:$PORT_haproxy_ecdsa ssl crt $T/pki/ecdsa.pem alpn http/1.1
    default_backend origin
frontend rsa
    bind 127.0.0.1:$PORT_haproxy_rsa ssl crt $T/pki/rsa.pem alpn http/1.1
    default_backend origin
backend origin
    server origin 127.0.0.1:$ORIGIN_PORT
EOF
    "$HAPROXY" -c -f "$d/haproxy.cfg" >"$T/haproxy-check.log" 2>&1 ||
        { cat "$T/haproxy-check.log" >&2; die "haproxy -c failed"; }
    spawn haproxy taskset -c "$SERVER_CPU" "$HAPROXY" -db -f "$d/haproxy.cfg"
    PID_haproxy=$LAST_PID
    # shellcheck disable=SC2034 # read through eval in run_one
    WPID_haproxy=$LAST_PID
    if ! { wait_port "$PORT_haproxy_ecdsa" && wait_port "$PORT_haproxy_rsa"; }; then
        cat "$T/haproxy.log" >&2; die "haproxy did not start"
    fi
}

# stop_pid PID: stops one process this script started (TERM, then KILL after 5 s) and forgets it.
stop_pid() {
    local p=$1
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    PIDS=" ${PIDS# } "
    PIDS=${PIDS// $p / }
    PIDS=${PIDS% }
}

# restart_server SERVER: a fresh process on the same ports (idle memory is measured from a fresh
# process, since allocators keep freed memory: a second round would see almost no RSS growth).
restart_server() {
    local pid
    eval "pid=\$PID_$1"
    stop_pid "$pid"
    "start_$1"
    preflight "$1" # also makes the first handshakes, so lazy initialisation is not counted
}

# preflight SERVER: through curl with CA verification: the right certificate on each port and a
# request through the proxy to the origin (so a broken configuration fails before any numbers).
preflight() {
    local s=$1 pe pr out
    eval "pe=\$PORT_${s}_ecdsa pr=\$PORT_${s}_rsa"
    out=$(curl -sS --max-time 10 --cacert "$T/pki/ca.crt" --resolve "bench.test:$pe:127.0.0.1" \
        "https://bench.test:$pe/" 2>&1) || die "$s: GET https://bench.test:$pe/ failed: $out"
    [ "$out" = "hello from origin" ] || die "$s: unexpected body through the proxy: $out"
    out=$(curl -sS --max-time 10 --cacert "$T/pki/ca.crt" --resolve "rsa.bench.test:$pr:127.0.0.1" \
        "https://rsa.bench.test:$pr/" 2>&1) || die "$s: GET https://rsa.bench.test:$pr/ failed: $out"
    for port in "$pe:bench.test:256" "$pr:rsa.bench.test:2048"; do
        IFS=: read -r p name bits <<<"$port"
        openssl s_client -connect "127.0.0.1:$p" -servername "$name" -CAfile "$T/pki/ca.crt" \
            -verify_return_error </dev/null >"$T/s_client.out" 2>&1 || true
        grep -q "Server public key is $bits bit" "$T/s_client.out" ||
            die "$s: port $p does not serve the $bits-bit key for $name: $(grep -m1 -E 'public key|error' "$T/s_client.out")"
    done
}

# ---- measurements ----
cpu_ticks() { # PID...: utime+stime of the processes (all their threads), in clock ticks
    local t=0 p
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] || continue
        t=$((t + $(awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$p/stat")))
    done
    echo "$t"
}
core_ticks() { # busy and total ticks of CPU 0 and CPU 1: "b0 t0 b1 t1"
    awk '/^cpu[01] / {t = 0; for (i = 2; i <= NF; i++) t += $i; printf "%d %d ", t - $5 - $6, t}' /proc/stat
}
rss_kb() { # PID...: summed VmRSS in KiB
    local t=0 p v
    for p in "$@"; do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
        t=$((t + ${v:-0}))
    done
    echo "$t"
}
CLK_TCK=$(getconf CLK_TCK)

# The machine may be shared (builds, tests): before each run, wait until both CPUs are idle
# (our servers and the origin idle between runs), at most QUIET_WAIT seconds; each run also
# records how much of CPU 0 went to something other than the server (see the report).
QUIET_MAX=${BENCH_QUIET_MAX:-10}   # % of the two CPUs
QUIET_WAIT=${BENCH_QUIET_WAIT:-60} # seconds, per run
busy_pct() { # % busy of CPUs 0 and 1 together over 0.5 s
    local a b
    a=$(core_ticks)
    sleep 0.5
    b=$(core_ticks)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ")
        t = y[2] - x[2] + y[4] - x[4]; printf "%.0f\n", (t > 0 ? (y[1] - x[1] + y[3] - x[3]) * 100 / t : 0) }'
}
wait_quiet() {
    local t0=$SECONDS b
    while :; do
        b=$(busy_pct)
        [ "$b" -le "$QUIET_MAX" ] && return 0
        if [ $((SECONDS - t0)) -ge "$QUIET_WAIT" ]; then
            log "the machine stays busy ($b % of CPUs 0-1 used by other processes): running anyway"
            NOISY_WAITS=$((NOISY_WAITS + 1))
            return 0
        fi
        [ $((SECONDS - t0)) -lt 1 ] && log "waiting for other processes to leave CPUs 0-1 idle ($b % busy)"
        sleep 2
    done
}
NOISY_WAITS=0

# A virtual machine's CPUs can be slowed by work elsewhere on the host, which /proc/stat does not
# show (no steal time here). A fixed loop timed on each CPU before and after every run catches
# it: a run whose probe is more than PROBE_SLOW % slower than the fastest probe seen is repeated
# (twice at most).
PROBE_SLOW=${BENCH_PROBE_SLOW:-25}
PROBE_MIN0=0 PROBE_MIN1=0
probe_cpu() { # CPU: microseconds for a fixed loop pinned to CPU
    local a b
    a=$(date +%s%N)
    taskset -c "$1" awk 'BEGIN { for (i = 0; i < 3000000; i++) s += i }'
    b=$(date +%s%N)
    echo $(((b - a) / 1000))
}
probe() { # prints "us_cpu0 us_cpu1" and lowers the minima
    local p0 p1
    p0=$(probe_cpu "$SERVER_CPU")
    p1=$(probe_cpu "$CLIENT_CPU")
    { [ "$PROBE_MIN0" -eq 0 ] || [ "$p0" -lt "$PROBE_MIN0" ]; } && PROBE_MIN0=$p0
    { [ "$PROBE_MIN1" -eq 0 ] || [ "$p1" -lt "$PROBE_MIN1" ]; } && PROBE_MIN1=$p1
    PROBE_LAST="$p0 $p1"
}

scenario_info() { # SCEN: sets MODE PORTKIND SNI SIGALG METRIC UNIT LABEL CONNS EXTRA
    EXTRA=()
    SNI=bench.test PORTKIND=ecdsa SIGALG=ecdsa_secp256r1_sha256 METRIC=rate CONNS=64
    case "$1" in
    full-ecdsa) MODE=handshake UNIT="handshakes/s" LABEL="Full handshakes, ECDSA P-256" ;;
    full-rsa) MODE=handshake UNIT="handshakes/s" LABEL="Full handshakes, RSA-2048"
        SNI=rsa.bench.test PORTKIND=rsa SIGALG=rsa_pss_rsae_sha256 ;;
    resumed) MODE=resume UNIT="handshakes/s" LABEL="Resumed handshakes (ticket, ECDSA)" SIGALG="" ;;
    request) MODE=request UNIT="requests/s" LABEL="Request per connection (GET /)" EXTRA=(--path /) ;;
    keepalive) MODE=keepalive UNIT="requests/s" LABEL="Keep-alive requests (GET /)" EXTRA=(--path /) ;;
    bulk) MODE=bulk UNIT="MB/s" LABEL="Bulk 1 MB responses" METRIC=mbps CONNS=8
        EXTRA=(--path "/size/$BULK_BYTES") ;;
    idle) MODE=idle UNIT="bytes/conn" LABEL="Idle memory per TLS connection" METRIC=bytes_per_conn ;;
    esac
}

# run_one SCEN SERVER ROUND: one bench run; appends one JSON object to $RUNS.
run_one() {
    local scen=$1 s=$2 round=$3 port spid wpid out=$T/run.json err=$T/run.err
    scenario_info "$scen"
    [ "$MODE" = idle ] && restart_server "$s"
    eval "port=\$PORT_${s}_${PORTKIND} spid=\$PID_${s} wpid=\$WPID_${s}"
    local pids=("$spid")
    [ "$wpid" != "$spid" ] && pids+=("$wpid")
    local cmd=(taskset -c "$CLIENT_CPU" "$BENCHBIN")
    if [ "$MODE" = idle ]; then
        cmd+=(idle "$IDLE_CONNS")
    else
        cmd+=("$MODE" -c "$CONNS" --warmup "$WARMUP")
    fi
    cmd+=(-t 1 -d "$DURATION" --tls13 --groups "$GROUP" --sni "$SNI" --alpn http/1.1
        --server-pid "$wpid" --cpu "$CLIENT_CPU" --json --quiet "${EXTRA[@]}" "127.0.0.1:$port")
    BENCH_CMDS="${BENCH_CMDS}${scen}: ${cmd[*]}"$'\n'
    local rss0 rss1=0 c0 c1 k0 k1 t0 t1 rc=0 pa pb
    probe
    pa=$PROBE_LAST
    rss0=$(rss_kb "${pids[@]}")
    c0=$(cpu_ticks "$wpid")
    k0=$(core_ticks)
    t0=$(date +%s.%N)
    if [ "$MODE" = idle ]; then
        # Sample the server's RSS while all N connections are open: once the established count
        # stops growing at N, after one more second for the handshakes and tickets to finish.
        "${cmd[@]}" >"$out" 2>"$err" &
        local bpid=$! n=0 seen=0
        PIDS="$PIDS $bpid"
        while kill -0 "$bpid" 2>/dev/null; do
            n=$(ss -Htn state established "( sport = :$port )" | wc -l)
            if [ "$n" -ge "$IDLE_CONNS" ]; then
                seen=$((seen + 1))
                if [ "$seen" -ge 4 ]; then
                    local r
                    r=$(rss_kb "${pids[@]}")
                    [ "$r" -gt "$rss1" ] && rss1=$r
                fi
            fi
            sleep 0.25
        done
        wait "$bpid" || rc=$?
        PIDS=${PIDS% "$bpid"}
        [ "$rss1" -gt 0 ] || log "$s idle: never saw $IDLE_CONNS established connections (last $n)"
    else
        "${cmd[@]}" >"$out" 2>"$err" || rc=$?
    fi
    t1=$(date +%s.%N)
    probe
    pb=$PROBE_LAST
    c1=$(cpu_ticks "$wpid")
    k1=$(core_ticks)
    if ! jq -e 'type == "object"' "$out" >/dev/null 2>&1; then
        loud "$scen/$s round $round: the bench printed no JSON (exit $rc): $(tail -n 3 "$err" | tr '\n' ' ')"
        echo '{}' >"$out"
    fi
    jq -c --arg scen "$scen" --arg server "$s" --argjson round "$round" --argjson rc "$rc" \
        --arg metric "$METRIC" --arg sigalg "$SIGALG" --arg suite "$SUITE" --arg group "$GROUP" \
        --argjson idle_n "$IDLE_CONNS" --argjson rss0 "$rss0" --argjson rss1 "$rss1" \
        --arg t0 "$t0" --arg t1 "$t1" --argjson c0 "$c0" --argjson c1 "$c1" --argjson hz "$CLK_TCK" \
        --arg k0 "$k0" --arg k1 "$k1" --arg pa "$pa" --arg pb "$pb" \
        --argjson pmin0 "$PROBE_MIN0" --argjson pmin1 "$PROBE_MIN1" '
        def num: if type == "number" then . else null end;
        (($t1 | tonumber) - ($t0 | tonumber)) as $wall
        | ($k0 | split(" ") | map(select(. != "") | tonumber)) as $a
        | ($k1 | split(" ") | map(select(. != "") | tonumber)) as $b
        | (if $rss1 > 0 then ($rss1 - $rss0) * 1024 / $idle_n else null end) as $rss_bpc
        | (.server_cpu_pct | num) as $scpu_b
        | (($c1 - $c0) / $hz / $wall * 100) as $scpu_o
        | (($scpu_b // $scpu_o)) as $scpu
        | (if $metric == "bytes_per_conn" then ($rss_bpc // (.bytes_per_conn | num))
           else (.[$metric] | num) end) as $v
        | ((.errors // {}) | if type == "object" then ([.[] | num // 0] | add // 0) else 0 end) as $errs
        | (.negotiated // "" | tostring) as $neg
        | {scenario: $scen, server: $server, round: $round, rc: $rc, value: $v,
           server_cpu: $scpu, server_cpu_outer: $scpu_o, client_cpu: (.client_cpu_pct | num),
           per_core: (if $metric == "bytes_per_conn" or $v == null or ($scpu // 0) <= 0 then null
                      else $v / ($scpu / 100) end),
           cpu0_busy: (($b[0] - $a[0]) / (($b[1] - $a[1]) | if . == 0 then 1 else . end) * 100),
           cpu1_busy: (($b[2] - $a[2]) / (($b[3] - $a[3]) | if . == 0 then 1 else . end) * 100),
           probe_us: {cpu0: [($pa | split(" ")[0] | tonumber), ($pb | split(" ")[0] | tonumber)],
                      cpu1: [($pa | split(" ")[1] | tonumber), ($pb | split(" ")[1] | tonumber)]},
           slow_pct: ((([(($pa | split(" ")[0] | tonumber) / $pmin0), (($pb | split(" ")[0] | tonumber) / $pmin0),
                       (($pa | split(" ")[1] | tonumber) / $pmin1), (($pb | split(" ")[1] | tonumber) / $pmin1)]
                      | max) - 1) * 100),
           cpu0_other: ((($b[0] - $a[0]) / (($b[1] - $a[1]) | if . == 0 then 1 else . end) * 100) - $scpu_o),
           p50: (.p50_ms | num), p90: (.p90_ms | num), p99: (.p99_ms | num), p999: (.p999_ms | num),
           ops: (.ops | num), errors: $errs, errors_by_kind: (.errors // {}),
           negotiated: $neg, resumed_ratio: (.resumed_ratio | num),
           bytes_per_conn_bench: (.bytes_per_conn | num), bytes_per_conn_rss: $rss_bpc,
           neg_ok: ($neg | (contains("TLSv1.3") and contains($suite) and contains($group)
                    and ($sigalg == "" or contains($sigalg)))),
           bench: .}' "$out" >>"$RUNS"
    local rec
    rec=$(tail -n 1 "$RUNS")
    if [ "$(jq -r .neg_ok <<<"$rec")" != true ]; then
        loud "$scen/$s round $round: negotiated '$(jq -r .negotiated <<<"$rec")', expected TLSv1.3 $SUITE $GROUP${SIGALG:+ $SIGALG}"
    fi
    if [ "$scen" = resumed ] && [ "$(jq -r '(.resumed_ratio // 0) < 0.9' <<<"$rec")" = true ]; then
        loud "$scen/$s round $round: only $(jq -r '.resumed_ratio' <<<"$rec") of the handshakes resumed"
    fi
    if [ "$(jq -r '.errors > 0.01 * ((.ops // 0) + 1)' <<<"$rec")" = true ]; then
        loud "$scen/$s round $round: $(jq -c .errors_by_kind <<<"$rec") errors in $(jq -r .ops <<<"$rec") operations"
    fi
    log "$(jq -r '"\(.scenario) \(.server) #\(.round): \(.value // "n/a") (server CPU \(.server_cpu // 0 | floor) %, client CPU \(.client_cpu // 0 | floor) %, p99 \(.p99 // "-") ms, errors \(.errors))"' <<<"$rec")"
}

# ---- the crypto ceiling: `bssl speed` of the linked BoringSSL, on the server's core ----
bssl_speed() { # FILTER: `bssl speed` output for the tests matching FILTER, run on the server's CPU
    local p0 _
    for _ in 1 2 3 4 5; do # not while the host slows CPU 0 (see probe)
        wait_quiet
        probe
        read -r p0 _ <<<"$PROBE_LAST"
        [ $((p0 * 100)) -le $((PROBE_MIN0 * (100 + PROBE_SLOW))) ] && break
        sleep 3
    done
    taskset -c "$SERVER_CPU" "$BSSL" speed -filter "$1" -timeout 1 2>&1 || true
}
max_of() { [ -z "$1" ] && echo "$2" && return; [ -z "$2" ] && echo "$1" && return; [ "$1" -ge "$2" ] && echo "$1" || echo "$2"; }
ops_of() { # PATTERN: ops/s of the first line of stdin containing PATTERN
    awk -v pat="$1" 'index($0, pat) && !/prime/ {
        if (match($0, /\(([0-9.]+) ops\/sec\)/)) { s = substr($0, RSTART + 1); printf "%.0f\n", s + 0; exit } }'
}
ceiling() {
    CEIL_NOTE="ceiling: n/a (no bssl at ${BSSL#"$TOP"/})"
    CEIL_ECDSA="" CEIL_RSA="" SP_ECDSA="" SP_RSA="" SP_XB="" SP_XA=""
    [ -x "$BSSL" ] || return 0
    local x
    for _ in 1 2; do # the better of two passes: a slowed pass only lowers the ceiling
        x=$(bssl_speed "ECDSA P-256")
        SP_ECDSA=$(max_of "$SP_ECDSA" "$(ops_of "ECDSA P-256 signing" <<<"$x")")
        x=$(bssl_speed "RSA 2048")
        SP_RSA=$(max_of "$SP_RSA" "$(ops_of "RSA 2048 signing" <<<"$x")")
        x=$(bssl_speed "Curve25519")
        SP_XB=$(max_of "$SP_XB" "$(ops_of "Curve25519 base-point multiplication" <<<"$x")")
        SP_XA=$(max_of "$SP_XA" "$(ops_of "Curve25519 arbitrary point multiplication" <<<"$x")")
    done
    if [ -z "$SP_ECDSA" ] || [ -z "$SP_RSA" ] || [ -z "$SP_XB" ] || [ -z "$SP_XA" ]; then
        CEIL_NOTE="ceiling: n/a (could not parse \`bssl speed\` output)"
        return 0
    fi
    read -r CEIL_ECDSA CEIL_RSA < <(awk -v e="$SP_ECDSA" -v r="$SP_RSA" -v b="$SP_XB" -v a="$SP_XA" \
        'BEGIN { printf "%.0f %.0f\n", 1 / (1/e + 1/b + 1/a), 1 / (1/r + 1/b + 1/a) }')
    CEIL_NOTE="ceiling (\`bssl speed\` on CPU $SERVER_CPU, ${BSSL#"$TOP"/}): ECDSA P-256 sign $SP_ECDSA/s, RSA-2048 sign $SP_RSA/s, X25519 keygen $SP_XB/s, X25519 shared $SP_XA/s → 1 / (t_sign + t_keygen + t_shared) = $CEIL_ECDSA ECDSA and $CEIL_RSA RSA full handshakes/s"
}

tlsedge_small() { # true when tlsedge links an OPENSSL_SMALL BoringSSL ("no OPENSSL_SMALL" is not)
    case "$V_TLSEDGE" in *"no OPENSSL_SMALL"*) return 1 ;; *OPENSSL_SMALL*) return 0 ;; *) return 1 ;; esac
}
versions() {
    V_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
    V_CPU=$(lscpu | sed -n 's/^Model name: *//p' | sed -n 1p)
    V_CORES=$(nproc)
    V_KERNEL=$(uname -r)
    V_NGINX=$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')
    V_NGINX_SSL=$("$NGINX" -V 2>&1 | sed -n 's/^built with //p' | sed -n 1p)
    V_HAPROXY=$("$HAPROXY" -v | sed -n 1p | awk '{print "HAProxy " $3}')
    V_HAPROXY_SSL=$("$HAPROXY" -vv | sed -n 's/^Running on OpenSSL version : //p')
    V_TLSEDGE=$("$TLSEDGE" --version | tr '\n' ' ' | sed 's/ *$//')
    V_BENCH=$("$BENCHBIN" --version 2>/dev/null | tr '\n' ' ' | sed 's/ *$//' || true)
    if tlsedge_small; then
        V_BSSL_KIND="Debian's android-libboringssl (OPENSSL_SMALL: P-256 without its assembly and tables)"
    else
        V_BSSL_KIND="BoringSSL built from source (no OPENSSL_SMALL)"
    fi
}

# ---- main ----
RUNS=$T/runs.jsonl
: >"$RUNS"
BENCH_CMDS=""
versions
log "tlsedge: $V_TLSEDGE"
log "scenarios: $SCENARIOS; $ROUNDS round(s), -d $DURATION --warmup $WARMUP, idle $IDLE_CONNS connections"
REPEATS=0
for _ in 1 2 3 4 5; do probe; done # the fastest probe is the reference (and keeps improving)
log "CPU probe: ${PROBE_MIN0} µs on CPU $SERVER_CPU, ${PROBE_MIN1} µs on CPU $CLIENT_CPU"
ceiling
log "$CEIL_NOTE"
[ -n "$HAPROXY_LIMITS" ] && NOTES="${NOTES}- \`ulimit -n\` is $NOFILE (a hard limit this machine does not let root raise): HAProxy runs with \`maxconn $MAXCONN\` and \`no strict-limits\`, below its two-descriptors-per-connection budget; the idle scenario needs only one per connection."$'\n'
if tlsedge_small && [ -n "$CEIL_ECDSA" ]; then
    NOTES="${NOTES}- The ceiling is measured with ${BSSL#"$TOP"/}, but this tlsedge links Debian's OPENSSL_SMALL build: the ECDSA share overstates how far tlsedge is from its own library's limit."$'\n'
fi
mk_certs
start_origin
start_tlsedge
start_nginx
start_haproxy
for s in $SERVERS; do preflight "$s"; done
log "servers up: tlsedge $PORT_tlsedge_ecdsa/$PORT_tlsedge_rsa (pid $PID_tlsedge), nginx $PORT_nginx_ecdsa/$PORT_nginx_rsa (worker $WPID_nginx), haproxy $PORT_haproxy_ecdsa/$PORT_haproxy_rsa (pid $PID_haproxy), origin $ORIGIN_PORT"

START=$(date +%s)
for scen in $SCENARIOS; do
    for round in $(seq 1 "$ROUNDS"); do
        for s in $SERVERS; do
            for attempt in 1 2 3; do
                wait_quiet # also lets the closes of the previous run settle
                run_one "$scen" "$s" "$round"
                slow=$(tail -n 1 "$RUNS" | jq -r '.slow_pct | floor')
                [ "$slow" -le "$PROBE_SLOW" ] && break
                if [ "$attempt" -lt 3 ]; then
                    log "a CPU ran ${slow} % slower than its best during that run (host contention): repeating it"
                    sed -i '$d' "$RUNS"
                    REPEATS=$((REPEATS + 1))
                    sleep 5
                fi
            done
        done
    done
done
ELAPSED=$(($(date +%s) - START))
log "measured in ${ELAPSED}s"

# ---- report ----
mkdir -p "$OUT"
cp "$RUNS" "$OUT/latest.jsonl"
SUMMARY=$T/summary.tsv
for scen in $SCENARIOS; do
    scenario_info "$scen"
    jq -rs --arg scen "$scen" --arg lab "$LABEL" --arg unit "$UNIT" '
        def med: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
                 else (.[length / 2 - 1] + .[length / 2]) / 2 end;
        def vals(f): [.[] | f | select(. != null)];
        def s(x): if x == null then "" else (x | tostring) end;
        map(select(.scenario == $scen)) | group_by(.server)[] |
        [$scen, $lab, $unit, .[0].server, length,
         s(vals(.value) | med), s(vals(.value) | min), s(vals(.value) | max),
         s(vals(.server_cpu) | med), s(vals(.client_cpu) | med),
         s(vals(.per_core) | med), s(vals(.per_core) | min), s(vals(.per_core) | max),
         s(vals(.p50) | med), s(vals(.p99) | med), (map(.errors) | add),
         ([.[] | select(.neg_ok | not)] | length), s(vals(.resumed_ratio) | med),
         s(vals(.cpu0_busy) | med), s(vals(.cpu1_busy) | med),
         (map(.negotiated) | unique | join(" / ")), s(vals(.bytes_per_conn_bench) | med),
         s(vals(.cpu0_other) | med)] | @tsv' \
        "$RUNS"
done >"$SUMMARY"

awk -F'\t' -v ceil_e="$CEIL_ECDSA" -v ceil_r="$CEIL_RSA" -f "$TOP/bench/report.awk" "$SUMMARY" >"$T/tables.md"
awk -F'\t' -v title="tlsedge, nginx and HAProxy: rate per 100 % of one server core" \
    -v subtitle="$V_DATE · $V_CPU, server on CPU $SERVER_CPU, client on CPU $CLIENT_CPU · tlsedge on $V_BSSL_KIND" \
    -f "$TOP/bench/svg.awk" "$SUMMARY" >"$OUT/latest.svg"

# Suspicious: the client's core saturated before the server's.
CLIENT_BOUND=$(jq -rs --argjson rounds "$ROUNDS" '[.[] | select(.scenario != "idle" and .server_cpu != null and .server_cpu < 90
        and ((.client_cpu // 0) >= 90 or (.cpu1_busy // 0) >= 90))] | group_by([.scenario, .server])
    | map("\(.[0].scenario)/\(.[0].server) (\(length) of \($rounds) rounds; server \(map(.server_cpu) | min | floor)-\(map(.server_cpu) | max | floor) %, client \(map(.client_cpu // 0) | max | floor) %, CPU 1 \(map(.cpu1_busy) | max | floor) %)")
    | join("; ")' "$RUNS")
NOISY=$(jq -rs '[.[] | select(.scenario != "idle" and (.cpu0_other // 0) > 20)
    | "\(.scenario)/\(.server) #\(.round) (\(.cpu0_other | floor) %)"] | join(", ")' "$RUNS")
[ -n "$NOISY" ] && NOTES="${NOTES}- Runs where more than 20 % of CPU 0 went to something other than the server process (other processes on a shared machine, or network softirq work not charged to the server): $NOISY."$'\n'
SLOW=$(jq -rs --argjson lim "$PROBE_SLOW" '[.[] | select(.slow_pct > $lim)
    | "\(.scenario)/\(.server) #\(.round) (\(.slow_pct | floor) %)"] | join(", ")' "$RUNS")
[ "$REPEATS" -gt 0 ] && NOTES="${NOTES}- $REPEATS run(s) were repeated because a CPU ran more than $PROBE_SLOW % slower than its best around them (a fixed loop timed on each CPU before and after every run; the host's other work, invisible in /proc/stat)."$'\n'
[ -n "$SLOW" ] && NOTES="${NOTES}- Still slowed after three attempts (kept): $SLOW."$'\n'
[ "$NOISY_WAITS" -gt 0 ] && NOTES="${NOTES}- $NOISY_WAITS run(s) started while other processes kept CPUs 0-1 busy for ${QUIET_WAIT}s: treat their numbers with care."$'\n'
[ -n "$CLIENT_BOUND" ] && NOTES="${NOTES}- CPU 1 (load client + origin) saturated while the server's core was not: $CLIENT_BOUND. There the rate is CPU 1's limit, not the server's; the per-core rate (rate ÷ server CPU) is the comparison that still holds, assuming the server's cost per operation does not change with load."$'\n'

{
    echo "# tlsedge vs nginx vs HAProxy"
    echo
    echo "- Date: $V_DATE"
    echo "- Machine: $V_CPU, $V_CORES cores (\`lscpu\`), Linux $V_KERNEL; servers pinned to CPU $SERVER_CPU (one worker each), load client and origin on CPU $CLIENT_CPU"
    echo "- tlsedge: $V_TLSEDGE"
    echo "- Load client: ${V_BENCH:-tlsedge-bench}"
    echo "- nginx: $V_NGINX, $V_NGINX_SSL; HAProxy: $V_HAPROXY, $V_HAPROXY_SSL"
    echo "- Command: \`$CMDLINE\` ($ROUNDS round(s) of each server, alternating; \`-d $DURATION --warmup $WARMUP\`; idle: $IDLE_CONNS connections; measured in ${ELAPSED}s)"
    echo "- TLS everywhere: TLS 1.3, X25519, $SUITE (checked in every run), session tickets on, HTTP/1.1; each proxy keeps idle origin connections and reuses them"
    echo
    cat "$T/tables.md"
    echo
    echo "Crypto $CEIL_NOTE."
    echo
    if [ -n "$PROBLEMS$NOTES" ]; then
        echo "## Problems and notes"
        echo
        printf '%s' "$PROBLEMS" "$NOTES"
        echo
    fi
    echo "## Bench commands"
    echo
    echo '```'
    printf '%s' "$BENCH_CMDS" | awk -F': ' '!seen[$1]++' | sed -E "s#$TOP/##g; s/(--server-pid )[0-9]+/\\1PID/; s/127\\.0\\.0\\.1:[0-9]+/127.0.0.1:PORT/"
    echo '```'
    echo
    echo "Every run as JSON: \`latest.jsonl\`. Chart: \`latest.svg\`."
} >"$OUT/latest.md"
log "wrote $OUT/latest.md, $OUT/latest.svg, $OUT/latest.jsonl"
[ "$FAILED" = 0 ] || { log "problems found (see the report)"; exit 1; }
