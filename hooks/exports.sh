#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# hooks/exports.sh OUT FILE...: writes the linker dynamic list of what the tlsedge executable
# exports to plugins: every global symbol with default visibility defined in FILE... (the hooks/
# objects, whose only such symbols are the TS* API, and BoringSSL's static archives, whose only
# such symbols are its OPENSSL_EXPORT API). Everything else in tlsedge is built hidden.
set -eu
out=$1
shift
{
    echo "{"
    LC_ALL=C readelf -sW "$@" 2>/dev/null |
        awk '($5 == "GLOBAL" || $5 == "WEAK") && $6 == "DEFAULT" && $7 != "UND" &&
             ($4 == "FUNC" || $4 == "OBJECT") && NF >= 8 { print "  " $8 ";" }' |
        sed 's/@.*;/;/' | sort -u
    echo "};"
} >"$out.tmp"
n=$(grep -c ';$' "$out.tmp" || true)
if [ "$n" -lt 10 ]; then
    echo "exports.sh: only $n symbols found in $*" >&2
    exit 1
fi
mv "$out.tmp" "$out"
