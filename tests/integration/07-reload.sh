#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Hot reload by SIGHUP: a new certificate is served at once, a broken file leaves the old
# configuration serving (and is counted), remap rules reload too, a handshake that started under
# the old configuration finishes under it, files a reload no longer reads (their status is
# unchanged) are still seen to change when rewritten in place under the same size and mtime,
# replaced by rename or removed, records.config changes reach contexts reused from the last
# generation, and repeated reloads do not grow memory.
. "$(dirname "$0")/lib.sh"

F=$TLSEDGE_FIXTURES
start_origin origin
TP=$(free_port)
HP=$(free_port)
KP=$(free_port)
mkdir -p "$T/keys"
cp "$F/a.test.key" "$T/keys/"
spawn keyserver "$BUILD/tlsedge-keyserver" --keys "$T/keys" --listen "127.0.0.1:$KP" \
    --delay-ms 800 --max-seconds 170
wait_port "$KP" 10
conf=$(new_confdir conf <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1 $HP:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 2
CFG
)
cp "$F/a.test.pem" "$conf/site.pem"
cp "$F/a.test.key" "$conf/site.key"
cp "$F/a.test.pem" "$conf/slow.pem"
cat >"$conf/ssl_multicert.config" <<CFG
dest_ip=* ssl_cert_name=site.pem ssl_key_name=site.key
ssl_cert_name=slow.pem ssl_key_name=keyless://127.0.0.1:$KP
CFG
: >"$conf/remap.config"
start_tlsedge tlsedge "$TP" -C "$conf"

served_cn() {
    openssl s_client -connect "127.0.0.1:$TP" -servername "$1" </dev/null 2>/dev/null |
        openssl x509 -noout -subject 2>/dev/null | sed -n 's/.*CN *= *//p'
}
# wait_log PATTERN: waits up to 10 s for PATTERN in tlsedge's log.
wait_log() {
    for i in $(seq 1 100); do
        grep -qE "$1" "$T/tlsedge.log" && return 0
        sleep 0.1
    done
    return 1
}

check_eq "before: the default certificate is a.test" "a.test" "$(served_cn other.test)"

cp "$F/b.test.pem" "$conf/site.pem"
cp "$F/b.test.key" "$conf/site.key"
kill -HUP "$TLSEDGE_PID"
check "the reload is logged with generation 2 and the certificate count" \
    wait_log "generation 2 published, 2 certificates"
check_eq "after SIGHUP the new certificate is served" "b.test" "$(served_cn other.test)"

echo "not a certificate" >"$conf/site.pem"
kill -HUP "$TLSEDGE_PID"
check "a broken certificate file makes the reload fail, naming the line" \
    wait_log "ssl_multicert.config:1:"
check "the failure is logged" wait_log "reload failed"
check_eq "the old configuration keeps serving" "b.test" "$(served_cn other.test)"
check_eq "the failure is counted" 1 "$(stat proxy.process.tlsedge.reload_failures "$HP")"
cp "$F/b.test.pem" "$conf/site.pem"

echo "CONFIG proxy.config.no.such INT" >>"$conf/records.config"
kill -HUP "$TLSEDGE_PID"
sleep 0.5
check_eq "a malformed records.config line fails the reload too" 2 \
    "$(stat proxy.process.tlsedge.reload_failures "$HP")"
sed -i '$d' "$conf/records.config"

check_eq "no remap rule yet: 404" 404 \
    "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Host: r.test' http://127.0.0.1:$HP/)"
echo "map http://r.test/ http://127.0.0.1:$ORIGIN_PORT/" >"$conf/remap.config"
kill -HUP "$TLSEDGE_PID"
check "remap reload is published" wait_log "generation 3 published"
check_eq "the new remap rule applies" "hello from origin" \
    "$(curl -s --max-time 5 -H 'Host: r.test' http://127.0.0.1:$HP/)"

# A handshake whose signature takes 800 ms spans a reload that replaces its certificate: it
# finishes with the certificate it started with.
openssl s_client -connect "127.0.0.1:$TP" -servername a.test </dev/null 2>/dev/null |
    openssl x509 -noout -subject >"$T/slow.out" 2>&1 &
slow=$!
sleep 0.3
cp "$F/b.test.pem" "$conf/slow.pem"
cp "$F/b.test.key" "$conf/slow.key"
sed -i "s|ssl_cert_name=slow.pem ssl_key_name=keyless://127.0.0.1:$KP|ssl_cert_name=slow.pem ssl_key_name=slow.key|" \
    "$conf/ssl_multicert.config"
kill -HUP "$TLSEDGE_PID"
wait "$slow" || true
check_contains "a handshake in flight across the reload finishes with its old certificate" \
    "$T/slow.out" "CN *= *a.test"
check_eq "new handshakes get the new one" "b.test" "$(served_cn a.test)"

# The cache skips reading a file whose status (inode, size, mtime, ctime) is unchanged and
# settled: each change below keeps size and mtime, so only the inode or the ctime tells.
# reload_ends: SIGHUP, then waits until the reload published or failed (at most 10 s).
ends() { grep -cE 'published|reload failed' "$T/tlsedge.log" || true; }
reload_ends() {
    before=$(ends)
    kill -HUP "$TLSEDGE_PID"
    for i in $(seq 1 100); do
        [ "$(ends)" -gt "$before" ] && return 0
        sleep 0.1
    done
    return 1
}
sleep 0.1
reload_ends # records the files' status, now settled
reload_ends
check "an unchanged, settled file is not read again" \
    grep -qE 'files: [0-9]+ unchanged, [1-9][0-9]* of them not read' "$T/tlsedge.log"
check_eq "before the in-place rewrite: b.test" "b.test" "$(served_cn other.test)"
touch -r "$conf/site.pem" "$T/mtime.ref"
cat "$F/a.test.pem" >"$conf/site.pem" # same inode, same size (635 bytes), same mtime below
cat "$F/a.test.key" >"$conf/site.key"
touch -r "$T/mtime.ref" "$conf/site.pem" "$conf/site.key"
check_eq "the rewrite kept the size" "$(stat -c %s "$F/b.test.pem")" "$(stat -c %s "$conf/site.pem")"
reload_ends
check_eq "a file rewritten in place (same size and mtime) is read again" "a.test" \
    "$(served_cn other.test)"
sleep 0.1
reload_ends
cp "$F/b.test.pem" "$conf/site.pem.new"
cp "$F/b.test.key" "$conf/site.key.new"
touch -r "$T/mtime.ref" "$conf/site.pem.new" "$conf/site.key.new"
mv "$conf/site.pem.new" "$conf/site.pem"
mv "$conf/site.key.new" "$conf/site.key"
reload_ends
check_eq "a file replaced by rename (same size and mtime) is read again" "b.test" \
    "$(served_cn other.test)"
sleep 0.1
reload_ends
failures=$(stat proxy.process.tlsedge.reload_failures "$HP")
mv "$conf/site.key" "$T/site.key.away"
reload_ends
check_eq "a removed key file fails the reload" $((failures + 1)) \
    "$(stat proxy.process.tlsedge.reload_failures "$HP")"
check_contains "naming the file" "$T/tlsedge.log" "cannot read key file '.*site.key'"
check_eq "and the current set keeps serving" "b.test" "$(served_cn other.test)"
mv "$T/site.key.away" "$conf/site.key"

# Contexts are reused while their files and settings are unchanged: a records.config change
# must still reach every context, certificate files untouched.
hs12() {
    if openssl s_client -connect "127.0.0.1:$TP" -servername other.test -tls1_2 -cipher "$1" \
        </dev/null >/dev/null 2>&1; then echo ok; else echo fail; fi
}
hs13() {
    if openssl s_client -connect "127.0.0.1:$TP" -servername other.test -tls1_3 \
        </dev/null >/dev/null 2>&1; then echo ok; else echo fail; fi
}
reload_ends
check_eq "before: TLS 1.2 with AES-128-GCM" ok "$(hs12 ECDHE-ECDSA-AES128-GCM-SHA256)"
check_eq "before: TLS 1.3" ok "$(hs13)"
cat >>"$conf/records.config" <<CFG
CONFIG proxy.config.ssl.server.cipher_suite STRING ECDHE-ECDSA-AES256-GCM-SHA384
CONFIG proxy.config.ssl.TLSv1_3 INT 0
CFG
reload_ends
check_eq "a new cipher_suite applies to unchanged certificates" fail \
    "$(hs12 ECDHE-ECDSA-AES128-GCM-SHA256)"
check_eq "and its suite is served" ok "$(hs12 ECDHE-ECDSA-AES256-GCM-SHA384)"
check_eq "TLS 1.3 turned off applies too" fail "$(hs13)"
sed -i '$d' "$conf/records.config"
sed -i '$d' "$conf/records.config"
reload_ends
check_eq "and both come back when the settings do" "ok ok" \
    "$(hs12 ECDHE-ECDSA-AES128-GCM-SHA256) $(hs13)"

# Memory: 20 reloads to settle, then 60 more must not grow RSS by more than 2 MiB.
rss() { awk '/VmRSS/ {print $2}' "/proc/$TLSEDGE_PID/status"; }
for i in $(seq 1 20); do kill -HUP "$TLSEDGE_PID"; sleep 0.05; done
sleep 0.5
before=$(rss)
for i in $(seq 1 60); do kill -HUP "$TLSEDGE_PID"; sleep 0.05; done
sleep 0.5
after=$(rss)
if [ -n "$SANITIZED" ]; then
    skip "memory growth under a sanitizer (its quarantine holds freed memory; LeakSanitizer checks leaks)"
else
    check "60 reloads do not grow memory (RSS ${before} kB -> ${after} kB)" test $((after - before)) -lt 2048
fi
check "tlsedge still serves after 80 reloads" test "$(served_cn a.test)" = "b.test"
finish
