// SPDX-License-Identifier: Apache-2.0
// tls/config.h: the TLS part of a snapshot: server settings from records.config and the
// certificate table built from ssl_multicert.config (or the embedded default certificate).
//
// Built on the main thread, then immutable and read by workers under RCU. Each SSL_CTX in the
// table is configured here (versions, ciphers, groups, ALPN) before its chain is installed.
#ifndef TLSEDGE_TLS_CONFIG_H
#define TLSEDGE_TLS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct core_err;
struct core_records;
struct tls_certtable;
struct tls_origin_config;
struct tls_sni_config;
struct tls_ticket_keys;

struct tls_config {
    struct tls_certtable *certs; // owned
    uint16_t min_version;        // TLS1_2_VERSION ...
    uint16_t max_version;
    uint64_t handshake_timeout_ms; // proxy.config.ssl.handshake_timeout_in
    bool wire_trace;               // proxy.config.ssl.wire_trace_enabled
    char *wire_trace_addr;         // client address to trace, or NULL for any
    char *wire_trace_server_name;  // SNI to trace, or NULL for any
    int wire_trace_percentage;     // 0..100
    struct tls_ticket_keys *ticket_keys; // proxy.config.ssl.server.ticket_key.filename's keys
                                         // (one reference), or NULL: the process block
    int session_cache;                   // proxy.config.ssl.session_cache: 0, 1 or 2
    uint64_t ticket_rotation_s;          // proxy.config.tlsedge.ticket_key.rotation_interval
    size_t session_cache_size;           // proxy.config.ssl.session_cache.size
    uint32_t session_cache_timeout_s;    // proxy.config.ssl.session_cache.timeout (0: 300)
    struct tls_origin_config *origin;    // TLS to origins (owned)
    struct tls_sni_config *sni;          // sni.yaml and client certificates (owned)
};

// tls_config_declare declares TLS's records.config names with their defaults. Main thread.
int tls_config_declare(struct core_records *rec);

// tls_config_build builds the TLS settings and certificate table from rec, loading the ticket
// key file when one is configured, and making sure the process ticket keys and (mode 2) the
// process session cache exist (both outlive configurations, so a reload keeps resumption). confdir is the
// configuration directory (relative paths resolve against it), or NULL for the embedded default:
// an in-memory self-signed ECDSA P-256 certificate for localhost, 127.0.0.1 and ::1 serves every
// name. need_certs says that an ssl port is configured (then a missing ssl_multicert.config is
// an error). Returns NULL when anything failed, with every problem in err. Main thread.
struct tls_config *tls_config_build(const struct core_records *rec, const char *confdir,
                                    bool need_certs, struct core_err *err);

// tls_config_apply makes the process-wide parts follow c once it is published: the ticket key
// rotation interval and the session cache's size and timeout. Main thread.
void tls_config_apply(const struct tls_config *c);

// tls_config_free frees c and its certificate table (contexts still referenced by live SSL
// objects stay alive until those are freed). NULL is a no-op.
void tls_config_free(struct tls_config *c);

// tls_stats_register registers the TLS counters. Main thread, before workers start.
void tls_stats_register(void);

// tls_config_write_default writes the embedded default's certificate (default.pem) and key
// (default.key, mode 0600) into dir, and ssl_multicert.config naming them. Returns 0 or a
// negative errno with the reason in err.
int tls_config_write_default(const char *dir, struct core_err *err);

#endif
