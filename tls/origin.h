// SPDX-License-Identifier: Apache-2.0
// tls/origin.h: TLS to origins, the client side: the settings of a snapshot (versions, ciphers,
// groups, CA, client certificate, SNI policy, verification policy and properties), the SSL for
// one origin connection, its verification, and resumption of origin sessions.
//
// The configuration is built on the main thread with the snapshot and immutable afterwards;
// workers call tls_origin_ssl_new() inside an RCU read-side section (the SSL takes its own
// reference to the SSL_CTX, so it outlives a reload). Verification follows ATS 9.2:
// proxy.config.ssl.client.verify.server.policy DISABLED / PERMISSIVE (verify, log, connect
// anyway) / ENFORCED and .properties NONE / SIGNATURE (the chain to a trusted CA) / NAME (the
// leaf names the origin) / ALL. BoringSSL's custom verification replaces its own chain check,
// so the chain is checked here with X509_verify_cert against the configured CA store, with the
// origin's DNS name or IP address as the expected identity. The seeds'
// proxy.config.ssl.client.verify.server 0/1 map to DISABLED/ENFORCED when no policy is set;
// 2 (plugins decide, VERIFY_SERVER hooks) is recorded in hooks_decide for the hooks layer.
//
// Origin sessions (proxy.config.ssl.origin_session_cache) are kept process-wide, serialised,
// under a key naming everything that must match for a session to be offered again: address,
// port, SNI, client certificate and verification settings (tls_origin_key).
#ifndef TLSEDGE_TLS_ORIGIN_H
#define TLSEDGE_TLS_ORIGIN_H

#include <openssl/base.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct core_err;
struct core_records;
struct tls_sni_config;

enum tls_verify_policy {
    TLS_VERIFY_DISABLED,
    TLS_VERIFY_PERMISSIVE,
    TLS_VERIFY_ENFORCED,
};

// Bits of proxy.config.ssl.client.verify.server.properties.
enum tls_verify_props {
    TLS_VERIFY_SIGNATURE = 1, // the chain leads to a trusted CA, signatures and dates hold
    TLS_VERIFY_NAME = 2,      // the leaf names the origin (SAN DNS or IP; CN without SAN)
};

enum tls_sni_policy {
    TLS_SNI_HOST,        // the Host of the request sent to the origin
    TLS_SNI_SERVER_NAME, // the client's SNI
    TLS_SNI_REMAP,       // the remap target's host
};

// The outcome of verifying one origin's certificate.
enum tls_verify_verdict {
    TLS_VERDICT_NONE,       // not verified (policy DISABLED or properties NONE, or no handshake)
    TLS_VERDICT_OK,         // verified
    TLS_VERDICT_NAME,       // the certificate does not name the origin
    TLS_VERDICT_EXPIRED,    // expired or not yet valid (the leaf or a CA)
    TLS_VERDICT_UNKNOWN_CA, // no trusted CA issued the chain
    TLS_VERDICT_INVALID,    // any other failure (bad signature, depth, purpose, no certificate)
    TLS_VERDICT_PLUGIN,     // a VERIFY_SERVER plugin re-enabled with TS_EVENT_ERROR
};

// struct tls_origin_profile: one set of client settings (global, or per origin name once
// sni.yaml entries carry outbound keys). Owned by its configuration.
struct tls_origin_profile {
    SSL_CTX *ctx;                  // client context; holds versions, ciphers, client cert
    enum tls_verify_policy policy; // proxy.config.ssl.client.verify.server.policy
    unsigned props;                // enum tls_verify_props bits
    uint8_t id[8];                 // identifies the client certificate and verify settings
};

struct tls_origin_config {
    struct tls_origin_profile global; // from records.config
    X509_STORE *store;                // trusted CAs (owned)
    enum tls_sni_policy sni_policy;   // proxy.config.ssl.client.sni_policy
    int verify_depth;                 // proxy.config.tlsedge.client.verify_depth
    bool hooks_decide;                // proxy.config.ssl.client.verify.server 2
    bool session_cache;               // proxy.config.ssl.origin_session_cache
    struct tls_origin_profile *by_sni; // per sni.yaml entry (ctx NULL: no outbound keys), owned
    size_t n_by_sni;
};

// tls_origin_config_declare declares the client-side records.config names. Main thread.
int tls_origin_config_declare(struct core_records *rec);

// tls_origin_config_build reads the client settings from rec (paths relative to confdir; NULL:
// the current directory), loads the CA file or directory and the client certificate and key,
// and makes the client context. Errors (an unreadable CA or client certificate, a key that
// does not match, an unknown policy, property or SNI policy name, a bad cipher or group list)
// are recorded in err naming the setting or file; never key material. Returns NULL on failure.
// Main thread.
// sni (may be NULL) gives per-origin profiles: each sni.yaml entry with outbound keys
// (client_cert, client_key, verify_server_policy, verify_server_properties) gets its own client
// context, the global settings filling what it does not say.
struct tls_origin_config *tls_origin_config_build(const struct core_records *rec,
                                                  const char *confdir,
                                                  const struct tls_sni_config *sni,
                                                  struct core_err *err);

// tls_origin_profile_for returns the profile for a connection to an origin named name (the SNI
// sent; may be NULL): the first sni.yaml entry matching name decides, and an entry without
// outbound keys (or no match) means the global profile. Borrowed from c. Any thread.
const struct tls_origin_profile *tls_origin_profile_for(const struct tls_origin_config *c,
                                                        const struct tls_sni_config *sni,
                                                        const char *name);

// tls_origin_config_free frees c (SSLs still referencing its contexts keep them). NULL: no-op.
void tls_origin_config_free(struct tls_origin_config *c);

// tls_origin_key writes into out (len bytes, at least 128) the key under which a connection to
// the origin at ip:port with SNI sni (may be NULL: none) made with profile p may be pooled and
// its session resumed: two connections may share one only when their keys are equal (TS-4468).
// Returns the length written, or -ENOSPC.
int tls_origin_key(const struct tls_origin_profile *p, const char *ip, uint16_t port,
                   const char *sni, char *out, size_t len);

// tls_origin_ssl_new returns a new client SSL for one origin connection made with profile p of
// c: sni (may be NULL or an IP literal: then no SNI is sent) is sent and, when name is not NULL,
// the certificate is verified against name (a DNS name, or an IP literal matched against IP
// SANs); key (from tls_origin_key) finds a session to resume and stores new ones when c keeps
// origin sessions. The caller owns the SSL (set its BIO or fd, then SSL_do_handshake). Returns
// NULL when out of memory. Owning worker, inside an RCU read-side section (c is borrowed).
SSL *tls_origin_ssl_new(const struct tls_origin_config *c, const struct tls_origin_profile *p,
                        const char *sni, const char *name, const char *key);

// tls_origin_ssl_free runs the OUTBOUND_CLOSE hooks of ssl (if plugins hook it) and frees it.
// Every origin SSL ends here. NULL: no-op. Owning worker.
void tls_origin_ssl_free(SSL *ssl);

// tls_origin_verdict returns the verification outcome of ssl's handshake so far.
enum tls_verify_verdict tls_origin_verdict(const SSL *ssl);

// tls_origin_verdict_name returns a short description of v for logs ("unknown CA", ...).
const char *tls_origin_verdict_name(enum tls_verify_verdict v);

// tls_origin_count_result counts the outcome of ssl's finished (ok true) or failed handshake in
// proxy.process.ssl.total_success_handshake_count_out / origin_server_* counters. Any thread.
void tls_origin_count_result(const SSL *ssl, bool ok);

// tls_origin_stats_register registers the client-side counters. Main thread, before workers.
void tls_origin_stats_register(void);

// tls_origin_sessions_free frees the process store of origin sessions and the CA store kept
// for reuse between reloads. Main thread, at exit.
void tls_origin_sessions_free(void);

#endif
