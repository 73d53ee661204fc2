#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The external scanner: testssl.sh (Debian package testssl.sh) against tlsedge's default TLS
# settings with a CA-issued dual ECDSA/RSA certificate (--add-ca). Asserted: the protocols,
# cipher categories and vulnerability checks it ran report nothing below OK (no SSLv2/3, TLS 1.0
# or 1.1, no NULL/export/LOW/3DES/CBC ciphers, no heartbleed, CCS, ticketbleed, ROBOT, client
# renegotiation, CRIME, BREACH, POODLE, fallback; SWEET32, FREAK, DROWN, LOGJAM, BEAST, LUCKY13
# and RC4 follow from the cipher and protocol sections) and nothing "NOT ok". Certificate
# findings (OCSP, CRL, CT) are not part of the scan. Skipped, with a notice, only when the
# package is not installed and cannot be installed. The scan takes about a minute of CPU.
. "$(dirname "$0")/lib.sh"

if ! command -v testssl >/dev/null 2>&1; then
    sh "$TOP/tests/fixtures/deps.sh" testssl.sh >"$T/deps.log" 2>&1 || true
fi
if ! command -v testssl >/dev/null 2>&1; then
    echo "  NOTICE: testssl.sh is not installed and could not be installed (apt-get install"
    echo "          testssl.sh): the external scanner check is SKIPPED"
    skip "testssl.sh scan"
    finish
    exit 0
fi

F=$TLSEDGE_FIXTURES
TP=$(free_port)
# Only what the scan needs: the default TLS settings (versions, ciphers, groups, tickets).
conf=$(new_confdir conf <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.ssl.server.cert.path STRING $F
CONFIG proxy.config.ssl.server.private_key.path STRING $F
CFG
)
cat >"$conf/ssl_multicert.config" <<'CFG'
dest_ip=* ssl_cert_name=dual-ec.pem,dual-rsa.pem ssl_key_name=dual-ec.key,dual-rsa.key
CFG
start_tlsedge tlsedge "$TP" -C "$conf"

# -p protocols, -s cipher categories, and the vulnerability checks that probe the server's
# behaviour: heartbleed, CCS injection, ticketbleed, ROBOT, renegotiation, CRIME (compression),
# BREACH, POODLE, TLS_FALLBACK_SCSV. The rest of -U only restates the cipher and protocol
# sections, which are asserted directly (below), and testssl costs about a second of CPU per
# check on this machine: SWEET32 = no 3DES, FREAK and LOGJAM = no export ciphers (and no DHE
# suite at all), DROWN = no SSLv2, BEAST = no TLS 1.0, LUCKY13 = no CBC, RC4 = no LOW ciphers.
t0=$(date +%s)
rc=0
timeout 160 testssl --quiet --color 0 --warnings off --nodns none --ip 127.0.0.1 \
    --add-ca "$F/ca.pem" --jsonfile "$T/scan.json" -p -s -H -I -T -BB -R -C -B -O -Z \
    "dual.test:$TP" >"$T/testssl.log" 2>&1 || rc=$?
echo "  (scan took $(($(date +%s) - t0)) s, testssl exit status $rc)"
check "testssl wrote its JSON report" jq -e 'length > 10' "$T/scan.json"

# Every finding it produced, "id severity finding".
jq -r '.[] | "\(.id) \(.severity) \(.finding)"' "$T/scan.json" >"$T/findings.txt"
for id in SSLv2 SSLv3 TLS1 TLS1_1 TLS1_2 TLS1_3 cipherlist_NULL cipherlist_aNULL \
    cipherlist_EXPORT cipherlist_LOW cipherlist_3DES_IDEA cipherlist_AVERAGE cipherlist_STRONG \
    heartbleed CCS ticketbleed ROBOT secure_renego secure_client_renego CRIME_TLS BREACH \
    POODLE_SSL fallback_SCSV; do
    line=$(grep -m1 "^$id " "$T/findings.txt" || echo "$id missing")
    sev=$(echo "$line" | cut -d' ' -f2)
    check "$line" test "$sev" = OK -o "$sev" = INFO
done
finding() { jq -r --arg id "$1" '[.[] | select(.id == $id) | .finding] | join(",")' "$T/scan.json"; }
check_eq "SWEET32 / LOGJAM / FREAK / RC4 / LUCKY13: no 3DES, export, LOW or CBC cipher" \
    "not offered,not offered,not offered,not offered" \
    "$(for id in cipherlist_3DES_IDEA cipherlist_EXPORT cipherlist_LOW cipherlist_AVERAGE; do
        finding $id; done | paste -sd,)"
check_eq "DROWN / BEAST: no SSLv2, no TLS 1.0" "not offered,not offered" \
    "$(finding SSLv2),$(finding TLS1)"
check_eq "TLS 1.0 and 1.1 are not offered" "not offered,not offered" \
    "$(jq -r '[.[] | select(.id == "TLS1" or .id == "TLS1_1") | .finding] | join(",")' "$T/scan.json")"
check_eq "no finding of severity LOW or worse" "" \
    "$(jq -r '.[] | select(.severity | test("^(LOW|MEDIUM|HIGH|CRITICAL)$")) | "\(.id): \(.finding)"' "$T/scan.json")"
# A WARN is a scan that could not finish a check (not the local openssl's missing GOST engine).
check_eq "no check failed to run" "" \
    "$(jq -r '.[] | select(.severity == "WARN" and .id != "engine_problem") | "\(.id): \(.finding)"' "$T/scan.json")"
check "nothing is 'NOT ok'" sh -c "! grep -i 'NOT ok' '$T/testssl.log'"
finish
