#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Session resumption: ATS-format ticket key files (rotation A -> [B, A] -> [C, B], renewal under
# the new key, the old ticket refused once its key is gone), the process key block surviving a
# reload and rotating on its interval, per-line ticket_key_name and ssl_ticket_enabled, TLS 1.3
# tickets, and the shared TLS 1.2 session-ID cache (also across a reload; off with mode 0).
# Every check drives openssl s_client against a running tlsedge; counters confirm the path.
. "$(dirname "$0")/lib.sh"

F=$TLSEDGE_FIXTURES
TP=$(free_port)
HP=$(free_port)
conf=$(new_confdir conf <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1 $HP:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 2
CONFIG proxy.config.ssl.server.ticket_key.filename STRING tickets.key
CONFIG proxy.config.ssl.session_cache INT 2
CONFIG proxy.config.ssl.session_cache.size INT 1000
CFG
)
cp "$F/a.test.pem" "$conf/a.pem"
cp "$F/a.test.key" "$conf/a.key"
cp "$F/b.test.pem" "$conf/b.pem"
cp "$F/b.test.key" "$conf/b.key"
cp "$F/wild.pem" "$conf/w.pem"
cp "$F/wild.key" "$conf/w.key"
cat >"$conf/ssl_multicert.config" <<CFG
dest_ip=* ssl_cert_name=a.pem ssl_key_name=a.key
ssl_cert_name=b.pem ssl_key_name=b.key ssl_ticket_enabled=0
ssl_cert_name=w.pem ssl_key_name=w.key ticket_key_name=w-tickets.key
CFG
head -c 96 /dev/urandom >"$conf/w-tickets.key"
head -c 48 /dev/urandom >"$T/A"
head -c 48 /dev/urandom >"$T/B"
head -c 48 /dev/urandom >"$T/C"
cp "$T/A" "$conf/tickets.key"
start_tlsedge tlsedge "$TP" -C "$conf"

# sclient NAME IN OUT ARGS...: one handshake (sessions read from IN and written to OUT when not
# "-"); prints "Reused" or "New".
sclient() {
    local name=$1 in=$2 out=$3
    shift 3
    local a=(-connect "127.0.0.1:$TP" -servername "$name" "$@")
    [ "$in" = - ] || a+=(-sess_in "$in")
    [ "$out" = - ] || a+=(-sess_out "$out")
    # Stdin stays open until the session was written (at most 3 s; none may come), so a slow
    # machine still reads the TLS 1.3 tickets before s_client quits.
    (
        sleep 0.3
        for i in $(seq 1 27); do
            [ "$out" = - ] || [ -s "$out" ] && break
            sleep 0.1
        done
    ) | openssl s_client "${a[@]}" 2>/dev/null | grep -m1 -oE '^(Reused|New),' | tr -d ,
}
# reload: SIGHUP, then waits for the outcome in $LOG; succeeds when a new generation was
# published, fails when the reload failed (or nothing happened within 10 s).
LOG=$T/tlsedge.log
reload() {
    local ok fail
    ok=$(grep -c "published" "$LOG" || true)
    fail=$(grep -c "reload failed" "$LOG" || true)
    kill -HUP "$TLSEDGE_PID"
    for i in $(seq 1 100); do
        [ "$(grep -c "published" "$LOG" || true)" -gt "$ok" ] && return 0
        [ "$(grep -c "reload failed" "$LOG" || true)" -gt "$fail" ] && return 1
        sleep 0.1
    done
    return 1
}
reload_fails() { ! reload; }

echo "TLS 1.2 tickets with a key file, rotated"
check_eq "a first handshake is full" New "$(sclient a.test - "$T/s1" -tls1_2)"
check_eq "the ticket resumes" Reused "$(sclient a.test "$T/s1" - -tls1_2)"
check_eq "tickets created" 1 "$(stat proxy.process.ssl.total_tickets_created "$HP")"
cat "$T/B" "$T/A" >"$conf/tickets.key"
check "reload with [B, A]" reload
(sleep 0.3) | openssl s_client -connect "127.0.0.1:$TP" -servername a.test -tls1_2 \
    -sess_in "$T/s1" -msg >"$T/renew.out" 2>&1 || true
check_contains "the A ticket resumes under [B, A]" "$T/renew.out" "^Reused,"
check_contains "and a new ticket is sent in that handshake" "$T/renew.out" "<<< .*NewSessionTicket"
check_eq "a full handshake under [B, A] gets a B ticket" New "$(sclient a.test - "$T/s2" -tls1_2)"
check_eq "it was verified with an old key" 1 \
    "$(stat proxy.process.ssl.total_tickets_verified_old_key "$HP")"
check_eq "and renewed" 1 "$(stat proxy.process.ssl.total_tickets_renewed "$HP")"
cat "$T/C" "$T/B" >"$conf/tickets.key"
check "reload with [C, B]" reload
check_eq "the A ticket no longer resumes under [C, B]" New "$(sclient a.test "$T/s1" - -tls1_2)"
check_eq "counted as not found" 1 "$(stat proxy.process.ssl.total_tickets_not_found "$HP")"
check_eq "the B ticket resumes under [C, B]" Reused \
    "$(sclient a.test "$T/s2" - -tls1_2)"
keyhex=$(od -An -tx1 "$T/B" | tr -d ' \n')
check "no key bytes in the log (hex)" bash -c "! grep -qiF '${keyhex:0:16}' '$LOG'"

echo "per-line ticket_key_name"
check_eq "x.wild.test: full" New "$(sclient x.wild.test - "$T/w1" -tls1_2)"
check_eq "x.wild.test: its ticket resumes (line keys)" Reused \
    "$(sclient x.wild.test "$T/w1" - -tls1_2)"
head -c 96 /dev/urandom >"$conf/w-tickets.key"
check "reload with new line keys" reload
check_eq "after the line's key file changed, its old ticket does not resume" New \
    "$(sclient x.wild.test "$T/w1" - -tls1_2)"
check_eq "while a.test tickets (global file) still resume" Reused \
    "$(sclient a.test "$T/s2" - -tls1_2)"

echo "TLS 1.3 tickets with a key file"
check_eq "TLS 1.3 full handshake" New "$(sclient a.test - "$T/t1" -tls1_3)"
check_eq "TLS 1.3 ticket resumes" Reused "$(sclient a.test "$T/t1" - -tls1_3)"
cat "$T/A" "$T/C" >"$conf/tickets.key"
check "reload with [A, C]" reload
check_eq "TLS 1.3 ticket under the old key still resumes" Reused \
    "$(sclient a.test "$T/t1" - -tls1_3)"

echo "a broken key file"
head -c 47 /dev/urandom >"$conf/tickets.key"
check "a 47-byte key file fails the reload" reload_fails
check_contains "the error names the file" "$LOG" "tickets.key.*48-byte keys"
check_eq "the previous keys keep serving" Reused "$(sclient a.test "$T/t1" - -tls1_3)"
cat "$T/A" "$T/C" >"$conf/tickets.key"

echo "per-line ssl_ticket_enabled=0 and the TLS 1.2 session-ID cache"
check_eq "b.test (tickets off) full handshake" New "$(sclient b.test - "$T/b1" -tls1_2)"
check_eq "b.test resumes by session ID" Reused "$(sclient b.test "$T/b1" - -tls1_2)"
check "a session-cache hit is counted" \
    test "$(stat proxy.process.ssl.ssl_session_cache_hit "$HP")" -ge 1
sclient a.test - "$T/n1" -tls1_2 -no_ticket >/dev/null
check_eq "a client without tickets (a.test) resumes by session ID" Reused \
    "$(sclient a.test "$T/n1" - -tls1_2 -no_ticket)"
check "reload" reload
check_eq "the shared session cache survives a reload" Reused \
    "$(sclient b.test "$T/b1" - -tls1_2)"
check_eq "TLS 1.3 on b.test (tickets off): full" New "$(sclient b.test - "$T/b3" -tls1_3)"
check "TLS 1.3 on b.test (tickets off): no resumable session is issued" test ! -e "$T/b3"
kill "$TLSEDGE_PID"
wait_exit "$TLSEDGE_PID" 10 || true

echo "the process key block (no key file): survives reloads, rotates"
TP=$(free_port)
HP=$(free_port)
conf=$(new_confdir conf2 <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1 $HP:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.tlsedge.ticket_key.rotation_interval INT 2
CONFIG proxy.config.ssl.session_cache INT 0
CFG
)
cp "$F/a.test.pem" "$conf/a.pem"
cp "$F/a.test.key" "$conf/a.key"
cat >"$conf/ssl_multicert.config" <<CFG
dest_ip=* ssl_cert_name=a.pem ssl_key_name=a.key
CFG
start_tlsedge tlsedge2 "$TP" -C "$conf"
LOG=$T/tlsedge2.log
check_eq "full" New "$(sclient a.test - "$T/p1" -tls1_2)"
check "reload" reload
check_eq "a process-block ticket resumes after a reload" Reused \
    "$(sclient a.test "$T/p1" - -tls1_2)"
sleep 2.5
check "the key block rotated" test "$(stat proxy.process.ssl.total_ticket_keys_renewed "$HP")" -ge 1
check_eq "a ticket from before one rotation still resumes" Reused \
    "$(sclient a.test "$T/p1" - -tls1_2)"
sleep 4.5
check "two more rotations" test "$(stat proxy.process.ssl.total_ticket_keys_renewed "$HP")" -ge 3
check_eq "a ticket three rotations old does not" New "$(sclient a.test "$T/p1" - -tls1_2)"
check_eq "session cache off, client without tickets: full" New \
    "$(sclient a.test - "$T/p2" -tls1_2 -no_ticket)"
check "session cache off: no session ID is issued (nothing to resume)" test ! -e "$T/p2"

echo "keys from a plugin (TSSslTicketKeyUpdate): shared by two instances, rotation stops"
head -c 96 /dev/urandom >"$T/fleet.key"
head -c 48 /dev/urandom >"$T/fleet2.key"
start_fleet() { # start_fleet NAME PLUGIN-ARGS: sets TP, HP, LOG, TLSEDGE_PID
    TP=$(free_port)
    HP=$(free_port)
    local c
    c=$(new_confdir "$1" <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1 $HP:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.task_threads INT 1
CONFIG proxy.config.plugin.plugin_dir STRING $BUILD/plugins
CONFIG proxy.config.tlsedge.ticket_key.rotation_interval INT 1
CFG
)
    cp "$F/a.test.pem" "$c/a.pem"
    cp "$F/a.test.key" "$c/a.key"
    echo "dest_ip=* ssl_cert_name=a.pem ssl_key_name=a.key" >"$c/ssl_multicert.config"
    echo "ticket_keys.so $2" >"$c/plugin.config"
    start_tlsedge "$1" "$TP" -C "$c"
    LOG=$T/$1.log
}
start_fleet fleet1 "$T/fleet.key"
P1=$TP
H1=$HP
start_fleet fleet2 "$T/fleet.key 4000 $T/fleet2.key"
P2=$TP
H2=$HP
TP=$P1
check_eq "instance 1: full" New "$(sclient a.test - "$T/f1" -tls1_3)"
TP=$P2
check_eq "instance 2 resumes instance 1's ticket (same plugin keys)" Reused \
    "$(sclient a.test "$T/f1" - -tls1_3)"
sleep 2
TP=$P1
check_eq "instance 1 still resumes it after 2 rotation intervals (rotation stopped)" Reused \
    "$(sclient a.test "$T/f1" - -tls1_3)"
check_eq "one key change counted (the plugin's), no rotation" 1 \
    "$(stat proxy.process.ssl.total_ticket_keys_renewed "$H1")"
# The second hand-over is applied when the main thread logs its second replacement.
for i in $(seq 1 150); do
    [ "$(grep -c "ticket keys replaced by a plugin" "$T/fleet2.log" || true)" -ge 2 ] && break
    sleep 0.1
done
TP=$P2
check_eq "after instance 2's plugin replaced the keys, the old ticket no longer resumes there" \
    New "$(sclient a.test "$T/f1" - -tls1_3)"
fleethex=$(od -An -tx1 "$T/fleet.key" | tr -d ' \n')
check "no plugin key bytes in the logs" \
    bash -c "! grep -qiF '${fleethex:0:16}' '$T/fleet1.log' '$T/fleet2.log'"

finish
