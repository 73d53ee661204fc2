#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# tests/fuzz/smoke.sh BUILDDIR NAME...: runs each libFuzzer target BUILDDIR/fuzz-NAME (built by
# `make fuzz`) for FUZZ_SECONDS (default 60), one after the other, and prints
# "fuzz-smoke: N passed, N failed". `make fuzz-smoke` calls it.
#
# Per target: the inputs it finds are kept in BUILDDIR/fuzz-work/NAME/ (so a later run goes on
# from there), seeded from BUILDDIR/fuzz-corpus/NAME/ and tests/fuzz/regress/NAME/ (which are
# only read); a crash, a failed FUZZ_CHECK, a sanitizer report, a leak or an input that takes
# over 10 s is written to BUILDDIR/fuzz-crashes/NAME/ and the target counts as failed; its log is
# BUILDDIR/fuzz-logs/NAME.log. tests/fuzz/NAME.dict is passed as a dictionary when it exists.
# To keep a crash as a regression input, copy it to tests/fuzz/regress/NAME/ (make test
# replays that directory) and add a unit test for the fix (tests/fuzz/README.md).
set -u
[ $# -ge 2 ] || { echo "usage: $0 BUILDDIR NAME..." >&2; exit 2; }
TOP=$(cd "$(dirname "$0")/../.." && pwd)
B=$1
shift
SECONDS_EACH=${FUZZ_SECONDS:-60}
passed=0
failed=0
for name in "$@"; do
    bin="$B/fuzz-$name"
    work="$B/fuzz-work/$name"
    crashes="$B/fuzz-crashes/$name"
    log="$B/fuzz-logs/$name.log"
    mkdir -p "$work" "$crashes" "$(dirname "$log")"
    set -- -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$crashes/"
    [ -f "$TOP/tests/fuzz/$name.dict" ] && set -- "$@" -dict="$TOP/tests/fuzz/$name.dict"
    # libFuzzer's default input limit (4 KiB for small seeds) would never reach the largest
    # ClientHello the peeker accepts (TLS_CH_MAX, 16 KiB, plus record headers).
    [ "$name" = clienthello ] && set -- "$@" -max_len=20000
    set -- "$@" "$work" "$B/fuzz-corpus/$name"
    [ -d "$TOP/tests/fuzz/regress/$name" ] && set -- "$@" "$TOP/tests/fuzz/regress/$name"
    # The time limit is libFuzzer's own; timeout(1) only catches a target that ignores it.
    timeout -k 5 $((SECONDS_EACH + 60)) "$bin" "$@" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    if [ $rc -eq 0 ]; then
        passed=$((passed + 1))
        echo "  ok   $name: ${runs:-?} runs in ${SECONDS_EACH} s, ${cov:-cov: ?}, corpus $(ls "$work" | wc -l)"
    else
        failed=$((failed + 1))
        echo "  FAIL $name: exit $rc after ${runs:-?} runs; artifacts in $crashes/ (log: $log)"
        grep -E 'ERROR|fuzz check failed|runtime error|SUMMARY|Test unit written' "$log" | head -n 8 |
            sed 's/^/       | /'
    fi
done
echo "fuzz-smoke: $passed passed, $failed failed"
[ $failed -eq 0 ]
