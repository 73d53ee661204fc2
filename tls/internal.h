// SPDX-License-Identifier: Apache-2.0
// tls/internal.h: helpers shared inside tls/ only (no other module includes this).
#ifndef TLSEDGE_TLS_INTERNAL_H
#define TLSEDGE_TLS_INTERNAL_H

// Counter ids, registered once by tls_stats_register() on the main thread.
struct tls_stat_ids {
    int attempts_in;        // proxy.process.ssl.total_attempts_handshake_count_in
    int success_in;         // proxy.process.ssl.total_success_handshake_count_in
    int handshake_time;     // proxy.process.ssl.total_handshake_time (microseconds summed)
    int resumed_in;         // proxy.process.ssl.user_agent_session_hit
    int full_in;            // proxy.process.ssl.user_agent_session_miss
    int ua_wrong_version;   // proxy.process.ssl.user_agent_wrong_version
    int ua_decrypt_failed;  // proxy.process.ssl.user_agent_decryption_failed
    int ua_other;           // proxy.process.ssl.user_agent_other_errors
    int err_syscall;        // proxy.process.ssl.ssl_error_syscall
    int err_ssl;            // proxy.process.ssl.ssl_error_ssl
    int unrecognized_name;  // proxy.process.tlsedge.unrecognized_name
    int hello_malformed;    // proxy.process.tlsedge.clienthello_malformed
    int hello_not_tls;      // proxy.process.tlsedge.clienthello_not_tls
    int hello_too_large;    // proxy.process.tlsedge.clienthello_too_large
    int handshake_timeouts; // proxy.process.tlsedge.handshake_timeouts_in
    int renegotiations;     // proxy.process.tlsedge.renegotiation_refused
    int tls12;              // proxy.process.ssl.ssl_total_tlsv12
    int tls13;              // proxy.process.ssl.ssl_total_tlsv13
    int sni_denied;         // proxy.process.tlsedge.sni_ip_allow_denied
};

extern struct tls_stat_ids tls_stats;

struct tls_conn;
struct tls_keyop;

// tls_conn_set_op records op (NULL: none) as c's key operation in flight. Owning worker.
void tls_conn_set_op(struct tls_conn *c, struct tls_keyop *op);

// tls_conn_get_op returns c's key operation, or NULL. Owning worker.
struct tls_keyop *tls_conn_get_op(const struct tls_conn *c);

// tls_conn_key_ready resumes c's handshake after its key operation came back. Owning worker.
void tls_conn_key_ready(struct tls_conn *c);

#endif
