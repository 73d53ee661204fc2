#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The cert_loader sample plugin (hooks/plugins/cert_loader): a CERT hook that reads the
# certificate of a name tlsedge has no line for from a directory on a task thread (2.5 s slow on
# purpose), installs it on the SSL back on the connection's worker, and re-enables. The
# replaced certificate is served; the worker completes other handshakes during the load; the
# second connection is served from the plugin's cache; a client that leaves during the load
# does no harm.
. "$(dirname "$0")/lib.sh"

F=$TLSEDGE_FIXTURES
TP=$(free_port)
mkdir -p "$T/certs"
cp "$F/b.test.pem" "$F/b.test.key" "$T/certs/"
# cnonly: CN=cn.test; files named for the SNI the client sends
cp "$F/cnonly.pem" "$T/certs/gone.test.pem"
cp "$F/cnonly.key" "$T/certs/gone.test.key"
conf=$(new_confdir conf <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.task_threads INT 1
CONFIG proxy.config.plugin.plugin_dir STRING $BUILD/plugins
CONFIG proxy.config.ssl.server.cert.path STRING $F
CONFIG proxy.config.ssl.server.private_key.path STRING $F
CONFIG proxy.config.diags.debug.enabled INT 1
CONFIG proxy.config.diags.debug.tags STRING cert_loader
CFG
)
cat >"$conf/ssl_multicert.config" <<'CFG'
ssl_cert_name=a.test.pem ssl_key_name=a.test.key
dest_ip=* ssl_cert_name=default.pem ssl_key_name=default.key
CFG
echo "cert_loader.so $T/certs 2500" >"$conf/plugin.config"
start_tlsedge tlsedge "$TP" -C "$conf"

served_cn() {
    openssl s_client -connect "127.0.0.1:$TP" -servername "$1" </dev/null 2>/dev/null |
        openssl x509 -noout -subject 2>/dev/null | sed -n 's/.*CN *= *//p'
}

rm -f "$T/done"
( cn=$(served_cn b.test); echo "b.test $cn" >>"$T/done" ) &
slow=$!
sleep 0.3
echo "a.test $(served_cn a.test)" >>"$T/done"
wait "$slow"
check_eq "the worker served a.test while b.test's certificate loaded; then b.test got it" \
    "a.test a.test,b.test b.test" "$(tr '\n' ',' <"$T/done" | sed 's/,$//')"
check_contains "the files were read on a task thread" "$T/tlsedge.log" 'loaded b.test on a task thread'
check_eq "the second b.test connection gets the certificate too" "b.test" "$(served_cn b.test)"
check_contains "... from the plugin's cache" "$T/tlsedge.log" 'b.test: from the cache'
check_eq "a name without files keeps tlsedge's choice (default)" "default.test" \
    "$(served_cn other.test)"

timeout 0.3 openssl s_client -connect "127.0.0.1:$TP" -servername gone.test \
    </dev/null >/dev/null 2>&1 || true
sleep 3
check_contains "a client that left during the load: the install is dropped or fails cleanly" \
    "$T/tlsedge.log" 'gone.test: the connection went away during the load|serving gone.test'
check_eq "tlsedge still serves" "a.test" "$(served_cn a.test)"
finish
