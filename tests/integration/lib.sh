# SPDX-License-Identifier: Apache-2.0
# tests/integration/lib.sh: sourced by every integration test (tests/integration/NN-name.sh).
#
# Gives each test a private temporary directory ($T), starts processes whose PIDs it records and
# kills only those in the exit trap, counts checks, dumps the logs of a failing test, and ends with
# the line "N passed, N failed" that tests/integration/run.sh adds up.
set -eu

TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$TOP/$BUILD" ;; esac
TLSEDGE="$BUILD/tlsedge"
TOOLS="$BUILD/tools"
FIXTURES="$TOP/tests/fixtures"
T=$(mktemp -d "${TMPDIR:-/tmp}/tlsedge-it.XXXXXX")
PIDS=""
PASSED=0
FAILED=0
SKIPPED=0
TEST_NAME=$(basename "$0" .sh)
# SANITIZED: non-empty for sanitizer builds, whose allocator quarantine makes RSS meaningless.
case "$BUILD" in */san-*) SANITIZED=1 ;; *) SANITIZED="" ;; esac

cleanup() {
    rc=$?
    for p in $PIDS; do
        kill "$p" 2>/dev/null || true
    done
    for p in $PIDS; do
        wait "$p" 2>/dev/null || true
    done
    if [ "$FAILED" -gt 0 ] || [ "$rc" -ne 0 ]; then
        for f in "$T"/*.log; do
            [ -f "$f" ] || continue
            echo "---- $TEST_NAME: $(basename "$f") (last 40 lines) ----"
            tail -n 40 "$f"
        done
    fi
    [ -n "${KEEP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT

# skip REASON: a check that cannot run here; counted and reported as skipped, never as passed.
skip() { SKIPPED=$((SKIPPED + 1)); echo "  skip $*"; }
pass() { PASSED=$((PASSED + 1)); echo "  ok   $*"; }
fail() { FAILED=$((FAILED + 1)); echo "  FAIL $*"; }

# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
    desc=$1
    shift
    if "$@" >"$T/check.out" 2>&1; then pass "$desc"; else
        fail "$desc"
        sed 's/^/       | /' "$T/check.out" | tail -n 15
    fi
}

# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: expected '$2', got '$3'"; fi
}

# check_contains DESCRIPTION FILE PATTERN (grep -E)
check_contains() {
    if grep -Eq -- "$3" "$2"; then pass "$1"; else
        fail "$1: '$3' not found in $(basename "$2")"
        tail -n 10 "$2" | sed 's/^/       | /'
    fi
}

# spawn LOGNAME CMD...: starts CMD in the background, output to $T/LOGNAME.log; sets $LAST_PID.
spawn() {
    name=$1
    shift
    "$@" >"$T/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS="$PIDS $LAST_PID"
}

# free_port: prints a TCP port that no socket uses now, below Linux's ephemeral range (32768+),
# so that a client connection cannot be holding it.
free_port() {
    while :; do
        p=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 12000 ))
        if ! ss -Htan "sport = :$p" | grep -q .; then echo "$p"; return; fi
    done
}

# wait_port PORT [SECONDS]: waits until something listens on PORT (127.0.0.1 or any).
wait_port() {
    n=$(( ${2:-10} * 20 ))
    while [ "$n" -gt 0 ]; do
        ss -Htln "sport = :$1" | grep -q . && return 0
        sleep 0.05
        n=$((n - 1))
    done
    echo "nothing listens on port $1" >&2
    return 1
}

# wait_exit PID SECONDS: waits for PID (a child of this shell) to exit and sets EXIT_STATUS to
# its exit status, or to "timeout". Call it directly, not in $(...): a subshell cannot wait.
wait_exit() {
    n=$(( $2 * 20 ))
    EXIT_STATUS=timeout
    while [ "$n" -gt 0 ]; do
        if ! kill -0 "$1" 2>/dev/null; then
            EXIT_STATUS=0
            wait "$1" 2>/dev/null || EXIT_STATUS=$?
            return 0
        fi
        sleep 0.05
        n=$((n - 1))
    done
    return 1
}

# finish: stops this test's processes, fails the test if any log holds a sanitizer report, and
# prints the closing line run.sh reads; exit status 1 when any check failed.
finish() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    PIDS=""
    for f in "$T"/*.log; do
        [ -f "$f" ] || continue
        if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|WARNING: ThreadSanitizer' "$f"; then
            fail "sanitizer report in $(basename "$f")"
            grep -E -A 12 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|WARNING: ThreadSanitizer' "$f" | head -n 30 | sed 's/^/       | /'
        fi
    done
    if [ "$SKIPPED" -gt 0 ]; then
        echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
    else
        echo "$PASSED passed, $FAILED failed"
    fi
    [ "$FAILED" -eq 0 ]
}

# new_confdir NAME: makes $T/NAME with a records.config holding the lines on stdin; prints it.
new_confdir() {
    d="$T/$1"
    mkdir -p "$d"
    cat >"$d/records.config"
    echo "$d"
}

# start_tlsedge LOGNAME PORT ARGS...: starts tlsedge, waits until PORT listens; sets TLSEDGE_PID.
start_tlsedge() {
    name=$1
    port=$2
    shift 2
    spawn "$name" "$TLSEDGE" "$@"
    TLSEDGE_PID=$LAST_PID
    if ! wait_port "$port" 10; then
        fail "tlsedge ($name) did not start listening on $port"
        return 1
    fi
}

# start_origin LOGNAME: starts the test origin on a free port; sets ORIGIN_PORT and ORIGIN_PID.
start_origin() {
    ORIGIN_PORT=$(free_port)
    spawn "$1" "$TOOLS/origin" -p "$ORIGIN_PORT" --max-seconds 170
    ORIGIN_PID=$LAST_PID
    wait_port "$ORIGIN_PORT" 10
}

# stat NAME PORT: prints counter NAME from tlsedge's stats endpoint on plain-HTTP PORT.
stat() {
    curl -s --max-time 5 "http://127.0.0.1:$2/_tlsedge/stats" | jq -r --arg n "$1" '.[$n]'
}

# raw_exchange PORT PRINTF-FORMAT: sends the bytes to 127.0.0.1:PORT, prints the reply in hex
# (everything until the server closes, at most 5 s).
raw_exchange() {
    exec 3<>"/dev/tcp/127.0.0.1/$1"
    # The server may close before all bytes are written: no SIGPIPE for the test itself.
    (trap '' PIPE; printf "$2" >&3) 2>/dev/null || true
    timeout 5 cat <&3 | od -An -tx1 | tr -d ' \n'
    exec 3<&-
}
