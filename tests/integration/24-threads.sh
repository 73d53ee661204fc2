#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Cross-thread stress programs (tests/tsan/README.md): the mailbox under four producers, snapshot
# publication under two reading workers with call_rcu frees, worker hold/defer/stop, and the
# handshake pool's job hand-off. Each checks its own outcome; under `make test SAN=thread` they
# run with ThreadSanitizer, and finish fails the test on any report in their logs.
. "$(dirname "$0")/lib.sh"

for name in mbox snapshot worker pool; do
    bin="$BUILD/tsan/$name"
    if [ ! -x "$bin" ]; then
        fail "$name: $bin is not built"
        continue
    fi
    rc=0
    timeout 150 "$bin" >"$T/$name.log" 2>&1 || rc=$?
    if [ "$rc" -eq 0 ] && grep -q "^$name: ok" "$T/$name.log"; then
        pass "$(grep "^$name: ok" "$T/$name.log")"
    else
        fail "$name: exit status $rc"
        tail -n 20 "$T/$name.log" | sed 's/^/       | /'
    fi
done

finish
