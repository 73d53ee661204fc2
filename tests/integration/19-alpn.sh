#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# ALPN per connection from plugins: TSVConnProtocolDisable("http/1.1") in VCONN_START makes the
# handshake answer no ALPN; TSVConnProtocolEnable of a protocol tlsedge does not speak fails;
# without the plugin http/1.1 is negotiated.
. "$(dirname "$0")/lib.sh"

F=$TLSEDGE_FIXTURES
# instance NAME PLUGIN-LINE: a TLS port $TP with the a.test certificate.
instance() {
    TP=$(free_port)
    local c
    c=$(new_confdir "$1" <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.plugin.plugin_dir STRING $BUILD/plugins
CONFIG proxy.config.ssl.server.cert.path STRING $F
CONFIG proxy.config.ssl.server.private_key.path STRING $F
CFG
)
    echo "dest_ip=* ssl_cert_name=a.test.pem ssl_key_name=a.test.key" >"$c/ssl_multicert.config"
    echo "$2" >"$c/plugin.config"
    start_tlsedge "$1" "$TP" -C "$c"
}
alpn() {
    echo | timeout 10 openssl s_client -connect "127.0.0.1:$TP" -servername a.test \
        -alpn http/1.1 2>/dev/null | grep -m1 -E "ALPN" || true
}
instance plain ""
check_eq "without a plugin: http/1.1 negotiated" "ALPN protocol: http/1.1" "$(alpn)"
instance off "alpn_off.so"
check_eq "TSVConnProtocolDisable(http/1.1): no ALPN answered" "No ALPN negotiated" "$(alpn)"
check_contains "  disabling succeeded and enabling h2 (not spoken) failed" "$T/off.log" \
    "alpn_off: disable http/1.1 ok, enable h2 error"

finish
