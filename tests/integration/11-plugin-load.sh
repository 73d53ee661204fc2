#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Plugin loading and binding: `make install` ships tlsedge-plugin.pc; a plugin built with only
# its flags loads from plugin.config (path relative to proxy.config.plugin.plugin_dir, quoted and
# $record arguments, comments), calls BoringSSL inside tlsedge, and no other libcrypto is mapped.
# The executable exports the TS* API and BoringSSL's API and nothing of tlsedge's own. A plugin
# that cannot be loaded stops start-up naming plugin.config:LINE, the plugin and dlerror().
. "$(dirname "$0")/lib.sh"

# -- exports: TS* and all of BoringSSL (also what tlsedge itself never calls), nothing else --
nm -D --defined-only "$TLSEDGE" | awk '{print $3}' >"$T/exports"
check_contains "exports TSVConnReenable" "$T/exports" '^TSVConnReenable$'
check_contains "exports TSPluginRegister" "$T/exports" '^TSPluginRegister$'
check_contains "exports BoringSSL's SSL_get_servername" "$T/exports" '^SSL_get_servername$'
check_contains "exports BoringSSL functions tlsedge does not call (X509_STORE_CTX_get0_chain)" \
    "$T/exports" '^X509_STORE_CTX_get0_chain$'
check "exports nothing of tlsedge's own (core_/net_/tls_/hook_)" \
    sh -c "! grep -E '^(core|net|tls|hook)_' '$T/exports'"

# -- make install, then a plugin built with nothing but the pkg-config flags --
inst="$T/inst"
check "make install into a private prefix" \
    sh "$TOP/hooks/install.sh" "" "$inst" "$BUILD" "$TOP/build/deps/boringssl/include"
export PKG_CONFIG_PATH="$inst/lib/pkgconfig"
flags=$(pkg-config --cflags --libs tlsedge-plugin 2>"$T/pkgconfig.log" || true)
check_contains "pkg-config knows tlsedge-plugin" <(echo "$flags") "-I$inst/include/tlsedge"
mkdir -p "$T/plugins"
# shellcheck disable=SC2086 # the flags are words
check "a plugin builds with only the pkg-config flags" \
    cc $flags -o "$T/plugins/binding.so" "$TOP/tests/plugins/binding.c"

TP=$(free_port)
conf=$(new_confdir conf <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.plugin.plugin_dir STRING $T/plugins
CONFIG proxy.config.ssl.server.cert.path STRING $TLSEDGE_FIXTURES
CONFIG proxy.config.ssl.server.private_key.path STRING $TLSEDGE_FIXTURES
CFG
)
echo "dest_ip=* ssl_cert_name=default.pem ssl_key_name=default.key" >"$conf/ssl_multicert.config"
cat >"$conf/plugin.config" <<'CFG'
# the binding test plugin
binding.so first "two words" $proxy.config.exec_thread.limit   # trailing comment
CFG
start_tlsedge tlsedge "$TP" -C "$conf"
sleep 0.2
want=$(printf tlsedge | sha256sum | cut -d' ' -f1)
check_contains "TSPluginInit ran with its arguments" "$T/tlsedge.log" 'binding arg 1: first'
check_contains "a quoted argument stays one word" "$T/tlsedge.log" 'binding arg 2: two words'
check_contains "a \$record argument is expanded" "$T/tlsedge.log" 'binding arg 3: 1$'
check_contains "TSPluginRegister's name prefixes the plugin's log lines" "$T/tlsedge.log" \
    '\[binding\] binding arg 1'
check_contains "the plugin computed SHA-256 with tlsedge's BoringSSL" "$T/tlsedge.log" \
    "binding sha256 $want library BoringSSL"
check "no OpenSSL libcrypto/libssl is mapped into tlsedge" \
    sh -c "! grep -E 'lib(crypto|ssl)\.so' /proc/$TLSEDGE_PID/maps"
check "tlsedge serves TLS with the plugin loaded" \
    sh -c "openssl s_client -connect 127.0.0.1:$TP </dev/null 2>/dev/null | grep -q 'BEGIN CERTIFICATE'"
kill "$TLSEDGE_PID"
wait_exit "$TLSEDGE_PID" 10
check_eq "stops cleanly with a plugin loaded" 0 "$EXIT_STATUS"

# -- a plugin that cannot be loaded stops start-up, naming file:line, plugin and dlerror --
printf '# comment\n\nmissing.so arg\n' >"$conf/plugin.config"
"$TLSEDGE" -C "$conf" >"$T/missing.log" 2>&1 && rc=0 || rc=$?
check_eq "a missing plugin stops start-up" 1 "$rc"
check_contains "the error names plugin.config:3, the plugin and dlerror" "$T/missing.log" \
    'plugin.config:3: cannot load plugin missing.so: .*missing.so: cannot open shared object file'
echo 'void nothing(void) {}' >"$T/noinit.c"
cc -shared -fPIC -o "$T/plugins/noinit.so" "$T/noinit.c"
echo "noinit.so" >"$conf/plugin.config"
"$TLSEDGE" -C "$conf" >"$T/noinit.log" 2>&1 && rc=0 || rc=$?
check_eq "a plugin without TSPluginInit stops start-up" 1 "$rc"
check_contains "the error names the missing TSPluginInit" "$T/noinit.log" \
    'plugin.config:1: cannot load plugin noinit.so: .*TSPluginInit'
echo 'binding.so $proxy.config.no.such.record' >"$conf/plugin.config"
"$TLSEDGE" -C "$conf" >"$T/norecord.log" 2>&1 && rc=0 || rc=$?
check_eq "an unknown \$record stops start-up" 1 "$rc"
check_contains "the error names the record" "$T/norecord.log" \
    'plugin.config:1: \$proxy.config.no.such.record: no such record'
finish
