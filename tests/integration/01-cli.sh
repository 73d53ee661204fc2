#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Command line: --help, --version, -t on good and bad configurations, --write-default-config.
. "$(dirname "$0")/lib.sh"

check "--help exits 0 and describes -C" sh -c "'$TLSEDGE' --help | grep -q -- '-C, --config DIR'"
check "--version names the BoringSSL build" sh -c "'$TLSEDGE' --version | grep -q 'BoringSSL'"
check "an unknown option exits 2" sh -c "'$TLSEDGE' --bogus 2>/dev/null; test \$? -eq 2"

bad=$(new_confdir bad <<'CFG'
# a comment
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.http.server_ports STRING 18443
CONFIG proxy.config.exec_thread.affinity INT notanumber
CONFIG proxy.config.no.such.thing INT 3
CONFIG proxy.config.log.logfile_dir
CFG
)
rc=0
"$TLSEDGE" -t -C "$bad" >"$T/bad.out" 2>&1 || rc=$?
check_eq "-t on a bad records.config exits 1" 1 "$rc"
check_contains "-t names records.config:4 (bad INT value)" "$T/bad.out" 'records.config:4:'
check_contains "-t names records.config:6 (malformed line)" "$T/bad.out" 'records.config:6:'
check_contains "-t warns about the unknown name at line 5" "$T/bad.out" \
    'warning: .*records.config:5:.*proxy.config.no.such.thing'
rc=0
"$TLSEDGE" -C "$bad" >"$T/bad-start.out" 2>&1 || rc=$?
check_eq "start-up with a bad records.config exits 1" 1 "$rc"

"$TLSEDGE" --write-default-config "$T/def" >"$T/wdc.out" 2>&1
check "--write-default-config writes records.config" test -s "$T/def/records.config"
check "--write-default-config writes ssl_multicert.config" test -s "$T/def/ssl_multicert.config"
check "the default key is private (0600)" sh -c "test \$(stat -c %a '$T/def/default.key') = 600"
check "the written default passes -t" "$TLSEDGE" -t -C "$T/def"
rc=0
"$TLSEDGE" --write-default-config "$T/def" >/dev/null 2>&1 || rc=$?
check_eq "--write-default-config refuses to overwrite" 1 "$rc"

mc=$(new_confdir mc <<CFG
CONFIG proxy.config.http.server_ports STRING 18443:ssl
CONFIG proxy.config.ssl.server.cert.path STRING $TLSEDGE_FIXTURES
CONFIG proxy.config.ssl.server.private_key.path STRING $TLSEDGE_FIXTURES
CFG
)
cat >"$mc/ssl_multicert.config" <<'CFG'
ssl_cert_name=a.test.pem ssl_key_name=a.test.key
ssl_cert_name=b.test.pem ssl_key_name=mismatch.key
ssl_cert_name=missing.pem
CFG
rc=0
"$TLSEDGE" -t -C "$mc" >"$T/mc.out" 2>&1 || rc=$?
check_eq "-t on a bad ssl_multicert.config exits 1" 1 "$rc"
check_contains "a key that does not match names ssl_multicert.config:2" "$T/mc.out" \
    'ssl_multicert.config:2:'
check_contains "an unreadable certificate names ssl_multicert.config:3" "$T/mc.out" \
    'ssl_multicert.config:3:.*missing.pem'
check "no key material appears in errors" sh -c "! grep -q 'PRIVATE KEY' '$T/mc.out'"
finish
