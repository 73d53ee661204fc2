#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Fuzz corpora replayed (tests/fuzz/README.md): every fuzz target, built with the project's own
# compiler (and the build's sanitizer) around tests/fuzz/replay.c, runs every seed of its corpus
# (made at build time by tests/fuzz/mkcorpus.sh: real ClientHellos and curl requests, sample
# configuration files, frames) and every saved crash in tests/fuzz/regress/NAME/. A crash, a
# sanitizer report or a broken property check of the target fails that target. This fuzzes
# nothing: `make fuzz-smoke` does.
. "$(dirname "$0")/lib.sh"

for src in "$TOP"/tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    name=${name#fuzz_}
    bin="$BUILD/fuzz-replay/$name"
    corpus="$BUILD/fuzz-corpus/$name"
    if [ ! -x "$bin" ] || [ -z "$(ls -A "$corpus" 2>/dev/null)" ]; then
        fail "$name: no replay driver or an empty corpus ($bin, $corpus)"
        continue
    fi
    set -- "$corpus"
    [ -d "$TOP/tests/fuzz/regress/$name" ] && set -- "$@" "$TOP/tests/fuzz/regress/$name"
    rc=0
    # -v names each input on stderr first, so a failure's log ends with the input that failed.
    timeout 120 "$bin" -v "$@" >"$T/$name.out" 2>"$T/$name.log" || rc=$?
    n=$(sed -n 's/^replay [a-z0-9_]*: \([0-9]*\) inputs$/\1/p' "$T/$name.out")
    if [ "$rc" -eq 0 ]; then
        pass "$name: ${n:-?} inputs replayed"
    else
        fail "$name: exit status $rc; last input and report:"
        grep -v '^replay: ' "$T/$name.log" | head -n 20 | sed 's/^/       | /'
        grep '^replay: ' "$T/$name.log" | tail -n 1 | sed 's/^/       | /'
    fi
done

finish
