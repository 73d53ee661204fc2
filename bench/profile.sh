#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# bench/profile.sh: where tlsedge's worker spends its CPU during full (or resumed) TLS 1.3
# handshakes: `perf record` of the worker thread alone while tlsedge-bench loads it, each sample
# put in one class by the function it fell in:
#   crypto      BoringSSL's libcrypto (every symbol build/deps/boringssl/lib/libcrypto.a defines:
#               X25519, P-256, RSA bignum, SHA, AES-GCM, random numbers) except
#   support     its non-cryptographic parts: byte strings (CBB/CBS), allocation wrappers,
#               errors, stacks, buffers, X.509/ASN.1 objects, ex_data
#   tls         BoringSSL's libssl (the handshake state machine, record layer)
#   tlsedge     tlsedge's own code
#   libc, jemalloc, liburcu, other shared libraries
#   kernel      system calls, TCP, scheduling, interrupts, in three parts: the paravirtual
#               interrupt-enable path of this VM (`pvm_*`), which costs a plain `sti` on bare
#               metal or under ordinary hardware virtualisation; the peer's TCP receive path
#               (any stack through net_rx_action/process_backlog: over loopback the kernel
#               delivers a packet inside the sender's system call, so the client's receive work
#               is charged to tlsedge; a NIC would do it on the client's machine); the rest.
# Prints a table, and "outside crypto" with and without those two parts of the environment.
#
# tlsedge runs one worker pinned to CPU 0 (no origin: the bench closes after the handshake),
# the bench client on CPU 1. Certificates are made at run time by tests/fixtures/mkcerts.sh;
# loopback only; every process is stopped by PID. Run it on a quiet machine.
#
# Usage: bench/profile.sh [--key ecdsa|rsa] [--resume] [--duration S] [--conns N] [--out FILE]
#   --key K       the server certificate's key (default ecdsa)
#   --resume      resumed handshakes (TLS 1.3 tickets) instead of full ones
#   --duration S  seconds recorded (default 5; the load runs 3 s longer around it)
#   --conns N     concurrent bench connections (default 64)
#   --out FILE    also write the table there (Markdown)
set -eu
cd "$(dirname "$0")/.."
B=${BUILD:-build}
KEY=ecdsa
MODE=handshake
DUR=5
CONNS=64
OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
    --key) KEY=$2; shift 2 ;;
    --resume) MODE=resume; shift ;;
    --duration) DUR=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h | --help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$KEY" in ecdsa) NAME=a.test ;; rsa) NAME=rsa ;; *) echo "--key ecdsa or rsa" >&2; exit 2 ;; esac
command -v perf >/dev/null || { echo "perf is missing (apt-get install linux-perf)" >&2; exit 1; }
for f in "$B/tlsedge" "$B/tlsedge-bench" "$B/deps/boringssl/lib/libcrypto.a"; do
    [ -e "$f" ] || { echo "missing $f: run make first (BORINGSSL=source)" >&2; exit 1; }
done

. bench/lib.sh
bench_tmp profile

sh tests/fixtures/mkcerts.sh "$T/pki" >/dev/null
TP=$((20000 + RANDOM % 12000))
cat >"$T/records.config" <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.exec_thread.affinity INT 1
CONFIG proxy.config.ssl.server.cert.path STRING $T/pki
CONFIG proxy.config.ssl.server.private_key.path STRING $T/pki
CFG
echo "dest_ip=* ssl_cert_name=$NAME.pem ssl_key_name=$NAME.key" >"$T/ssl_multicert.config"
bench_start_tlsedge "$TP"
W=""
for t in /proc/$TL/task/*; do [ "$(cat "$t/comm")" = tlsedge-w0 ] && W=${t##*/}; done
[ -n "$W" ] || { echo "tlsedge did not start:" >&2; cat "$T/tlsedge.log" >&2; exit 1; }

"$B/tlsedge-bench" "$MODE" --cpu 1 --server-pid "$TL" -d $((DUR + 2)) --warmup 1 -c "$CONNS" \
    --json --quiet "127.0.0.1:$TP" >"$T/bench.json" 2>"$T/bench.err" &
BP=$!
PIDS="$PIDS $BP"
sleep 1.5
perf record -q -g -F 2999 -t "$W" -o "$T/perf.data" -- sleep "$DUR" >/dev/null 2>&1
wait "$BP" || { echo "the bench failed:" >&2; cat "$T/bench.err" >&2; exit 1; }

# The symbol sets of BoringSSL's two libraries (C++ names demangled as perf prints them).
nm -C --defined-only "$B/deps/boringssl/lib/libcrypto.a" 2>/dev/null |
    awk 'NF >= 3 && $2 ~ /^[TtWw]$/ { $1 = ""; $2 = ""; sub(/^  /, ""); print }' | sort -u >"$T/crypto.syms"
nm -C --defined-only "$B/deps/boringssl/lib/libssl.a" 2>/dev/null |
    awk 'NF >= 3 && $2 ~ /^[TtWw]$/ { $1 = ""; $2 = ""; sub(/^  /, ""); print }' | sort -u >"$T/ssl.syms"
perf report -i "$T/perf.data" --no-children --sort dso,sym --stdio -F overhead,dso,sym \
    --percent-limit 0 2>/dev/null | grep -v '^#' | grep -v '^$' >"$T/report.txt"
perf script -i "$T/perf.data" -F ip,sym,dso 2>/dev/null >"$T/stacks.txt"

# One sample = its frames (leaf first), then a blank line.
awk -v cf="$T/crypto.syms" -v sf="$T/ssl.syms" '
BEGIN {
    # libcrypto functions that are not cryptography: byte strings, allocation, errors,
    # containers, buffers, reference counts, ex_data, X.509/ASN.1 objects.
    support = "^(CBB_|CBS_|cbb_|cbs_|OPENSSL_malloc|OPENSSL_free|OPENSSL_realloc|OPENSSL_zalloc|" \
              "OPENSSL_memdup|OPENSSL_strdup|OPENSSL_sk_|sk_|ERR_|err_|CRYPTO_BUFFER|" \
              "crypto_buffer|CRYPTO_refcount|CRYPTO_get_ex|CRYPTO_set_ex|CRYPTO_free_ex|" \
              "CRYPTO_new_ex|BUF_|lh_|OPENSSL_lh_|CRYPTO_MUTEX|CRYPTO_STATIC_MUTEX|" \
              "CRYPTO_once|CRYPTO_get_thread_local|CRYPTO_set_thread_local|asn1_|ASN1_|X509_|x509)"
    # C++ names: nm prints the parameters, perf does not.
    while ((getline l < cf) > 0) { crypto[l] = 1; sub(/\(.*$/, "", l); crypto[l] = 1 }
    while ((getline l < sf) > 0) { ssl[l] = 1; sub(/\(.*$/, "", l); ssl[l] = 1 }
}
function classify(sym, dso,    base) {
    if (dso == "[kernel.kallsyms]") {
        if (loop) return "kernel-loopback"
        if (sym ~ /^pvm_/ || sym ~ /^__raw_callee_save_pvm/) return "kernel-hv"
        return "kernel"
    }
    if (dso ~ /\/tlsedge$/) {
        base = sym; sub(/\(.*$/, "", base); sub(/\+0x[0-9a-f]+$/, "", base)
        if (base in crypto) return base ~ support ? "support" : "crypto"
        if (base in ssl) return "tls"
        own[base]++
        return "tlsedge"
    }
    if (dso ~ /\/libc[.-]/ || dso ~ /\/ld-linux/ || dso == "[vdso]") return "libc"
    if (dso ~ /libjemalloc/) return "jemalloc"
    if (dso ~ /liburcu/) return "liburcu"
    return "other"
}
function flush() {
    if (nf == 0) return
    share[classify(lsym, ldso)]++; total++
    nf = 0; loop = 0
}
/^[ \t]*$/ { flush(); next }
{
    line = $0; sub(/^[ \t]+/, "", line)
    ip = line; sub(/ .*$/, "", ip)
    rest = substr(line, length(ip) + 2)
    dso = rest; sub(/^.* \(/, "", dso); sub(/\)$/, "", dso)
    sym = rest; sub(/ \([^(]*\)$/, "", sym)
    if (nf == 0) { lsym = sym; ldso = dso }
    if (sym ~ /^(net_rx_action|process_backlog|__netif_receive_skb)/) loop = 1
    nf++
}
END {
    flush()
    n = split("crypto support tls tlsedge libc jemalloc liburcu kernel kernel-hv kernel-loopback other", order, " ")
    name["crypto"] = "BoringSSL crypto"
    name["support"] = "BoringSSL support (byte strings, allocation, errors, X.509 objects)"
    name["tls"] = "BoringSSL TLS (libssl)"
    name["tlsedge"] = "tlsedge"
    name["libc"] = "libc"
    name["jemalloc"] = "jemalloc"
    name["liburcu"] = "liburcu"
    name["kernel"] = "kernel: system calls, TCP, scheduling"
    name["kernel-hv"] = "kernel: hypervisor interrupt-enable path (pvm_*)"
    name["kernel-loopback"] = "kernel: the peer'"'"'s TCP receive path (loopback runs it in the sender)"
    name["other"] = "other"
    printf "| class | share of the worker |\n|---|---|\n"
    for (i = 1; i <= n; i++)
        printf "| %s | %.1f %% |\n", name[order[i]], (total > 0 ? 100 * share[order[i]] / total : 0)
    out = total - share["crypto"]
    env = share["kernel-hv"] + share["kernel-loopback"]
    printf "\n%d samples. Outside crypto: %.1f %%; without the hypervisor path: %.1f %%; " \
           "without it and the peer'"'"'s loopback receive path: %.1f %%.\n", total,
        (total > 0 ? 100 * out / total : 0),
        (total - share["kernel-hv"] > 0 ? 100 * (out - share["kernel-hv"]) / (total - share["kernel-hv"]) : 0),
        (total - env > 0 ? 100 * (out - env) / (total - env) : 0)
    for (f in own) if (100 * own[f] / total >= 0.2) printf "%.1f %s\n", 100 * own[f] / total, f > "/dev/stderr"
}' "$T/stacks.txt" >"$T/table.md"

rate=$(jq -r '.rate | floor' "$T/bench.json")
cpu=$(jq -r '.server_cpu_pct | floor' "$T/bench.json")
{
    echo "# Worker profile: $MODE, $KEY ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs)"
    echo
    echo "$rate handshakes/s at tlsedge CPU $cpu %, $DUR s of \`perf record -t\` on the worker ($("$B/tlsedge" --version | tail -n 1))."
    echo
    cat "$T/table.md"
    crypto=$(awk -F'|' '/BoringSSL crypto/ { gsub(/[ %]/, "", $3); print $3 }' "$T/table.md")
    echo
    echo "CPU per handshake: $(awk -v r="$rate" -v c="$cpu" -v k="$crypto" 'BEGIN {
        if (r > 0) printf "%.0f µs, of it %.0f µs in BoringSSL crypto", 1e4 * c / r, 100 * c * k / r }') (server CPU ÷ rate; perf's sampling slows the run a little)."
    echo
    echo "Hottest functions:"
    echo
    echo '```'
    sort -rn "$T/report.txt" | head -n 20 | sed 's/  */ /g'
    echo '```'
} >"$T/out.md"
cat "$T/out.md"
[ -z "$OUT" ] || cp "$T/out.md" "$OUT"
