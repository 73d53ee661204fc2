#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# hooks/install.sh DESTDIR PREFIX BUILD BSSL_INCDIR: what `make install` does. Installs
#   PREFIX/bin/tlsedge
#   PREFIX/include/tlsedge/ts/{ts.h,apidefs.h}      the plugin API
#   PREFIX/include/tlsedge/openssl/*.h              the headers of the BoringSSL inside tlsedge
#   PREFIX/lib/tlsedge/plugins/                     the default place for plugins
#   PREFIX/lib/pkgconfig/tlsedge-plugin.pc          the flags to build a plugin
# A plugin is built with nothing but those flags:
#   cc $(pkg-config --cflags --libs tlsedge-plugin) -o my.so my.c
# It binds at load time to the TS* API and BoringSSL exported by the tlsedge executable.
set -eu
destdir=$1 prefix=$2 build=$3 bssl_inc=$4
root="$destdir$prefix"
top=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n 's/^#define TLSEDGE_VERSION "\(.*\)"/\1/p' "$top/core/main.c")
install -d "$root/bin" "$root/include/tlsedge/ts" "$root/include/tlsedge/openssl" \
    "$root/lib/pkgconfig" "$root/lib/tlsedge/plugins"
install -m 0755 "$build/tlsedge" "$root/bin/tlsedge"
install -m 0644 "$top/hooks/include/ts/ts.h" "$top/hooks/include/ts/apidefs.h" \
    "$root/include/tlsedge/ts/"
install -m 0644 "$bssl_inc"/openssl/*.h "$root/include/tlsedge/openssl/"
cat >"$root/lib/pkgconfig/tlsedge-plugin.pc" <<PC
prefix=$prefix
includedir=\${prefix}/include/tlsedge
plugindir=\${prefix}/lib/tlsedge/plugins

Name: tlsedge-plugin
Description: build a tlsedge plugin (ATS-compatible TLS plugin API, tlsedge's own BoringSSL)
Version: ${version:-0}
Cflags: -I\${includedir} -fPIC
Libs: -shared
PC
echo "installed tlsedge $version into $root"
