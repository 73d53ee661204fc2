#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# tests/integration/run.sh: runs every tests/integration/NN-*.sh (or those named as arguments),
# each with a time limit, adds up their "N passed, N failed" lines and prints the total last.
cd "$(dirname "$0")/../.." || exit 1
passed=0
failed=0
skipped=0
tests="$*"
[ -z "$tests" ] && tests=$(ls tests/integration/[0-9]*.sh)
out=$(mktemp)
for t in $tests; do
    [ -f "$t" ] || t="tests/integration/$t"
    echo "== $(basename "$t")"
    timeout -k 5 180 bash "$t" >"$out" 2>&1
    rc=$?
    cat "$out"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
    p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
    f=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
    s=$(echo "$line" | sed -n 's/.* \([0-9]*\) skipped.*/\1/p')
    p=${p:-0}
    f=${f:-0}
    skipped=$((skipped + ${s:-0}))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "  FAIL $(basename "$t") exited with status $rc"
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
done
rm -f "$out"
if [ "$skipped" -gt 0 ]; then
    echo "integration: $passed passed, $failed failed, $skipped skipped"
else
    echo "integration: $passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
