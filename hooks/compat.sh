#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# hooks/compat.sh BSSL_INCDIR: compiles the sample plugins (hooks/plugins/*/*.c) and the test
# plugins (tests/plugins/*.c) a second time against Apache Traffic Server's own ts/ts.h (Debian's
# trafficserver-dev), and checks that every hook ID and event code tlsedge's ts/apidefs.h
# defines has ATS's value: the API subset is source compatible. A compile-only check; skipped
# with a visible notice when the package cannot be installed.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bssl_inc=$1
if [ ! -f /usr/include/ts/ts.h ]; then
    sh "$top/tests/fixtures/deps.sh" trafficserver-dev >/dev/null 2>&1 || true
fi
if [ ! -f /usr/include/ts/ts.h ]; then
    echo "compat: SKIPPED: trafficserver-dev (ATS's ts/ts.h) could not be installed"
    exit 0
fi
ats=$(dpkg-query -W -f='${Version}' trafficserver-dev 2>/dev/null || echo unknown)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=0
for src in "$top"/hooks/plugins/*/*.c "$top"/tests/plugins/*.c; do
    [ -f "$src" ] || continue
    # -isystem for BoringSSL only: ATS's headers come from /usr/include, never hooks/include.
    if ! cc -std=gnu11 -fsyntax-only -Wall -Werror -Wno-deprecated-declarations \
        -isystem "$bssl_inc" "$src" 2>"$work/err"; then
        echo "compat: $src does not compile against ATS $ats's ts/ts.h:"
        cat "$work/err"
        exit 1
    fi
    n=$((n + 1))
done
# Every enumerator of ours, printed with ATS's header and with ours, must agree.
names=$(sed -n 's/^ *\(TS_[A-Z0-9_]*\)\( = [^,]*\)\{0,1\},.*/\1/p' "$top/hooks/include/ts/apidefs.h")
{
    echo '#include <stdio.h>'
    echo '#include <ts/ts.h>'
    echo 'int main(void) {'
    for v in $names; do printf 'printf("%s %%d\\n", (int)%s);\n' "$v" "$v"; done
    echo 'return 0; }'
} >"$work/values.c"
cc -std=gnu11 -o "$work/ats" "$work/values.c"
cc -std=gnu11 -I"$top/hooks/include" -o "$work/ours" "$work/values.c"
"$work/ats" >"$work/ats.txt"
"$work/ours" >"$work/ours.txt"
if ! cmp -s "$work/ats.txt" "$work/ours.txt"; then
    echo "compat: hook IDs or event codes differ from ATS $ats:"
    diff "$work/ats.txt" "$work/ours.txt" || true
    exit 1
fi
echo "compat: $n plugins compile against ATS $ats's ts/ts.h; $(wc -l <"$work/ours.txt") hook/event values match"
