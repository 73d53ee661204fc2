// SPDX-License-Identifier: Apache-2.0
// tls/sni.h: sni.yaml, per-server-name TLS policy in ATS 9 format, and inbound client
// certificate checking (mutual TLS).
//
// A file holds `sni:`, a sequence of entries, each a mapping with `fqdn` (required: an exact name,
// or `*.` followed by a suffix, which matches any name ending in `.suffix`, as ATS's `(.*)`
// capture does) and per-name keys. The first entry in file order whose fqdn matches the client's
// SNI (case-insensitively) applies. Keys built here: `verify_client` (NONE, MODERATE: ask for a
// certificate and check one if sent, STRICT: require one), `verify_client_ca_certs` (a PEM file,
// or a mapping with `file` and/or `dir`; relative to the configuration directory),
// `valid_tls_versions_in` (a sequence of TLSv1_2 / TLSv1_3), `ip_allow` (a comma-separated list
// of client address ranges allowed to use this name; others are refused). Keys other issues
// build (`host_sni_policy`, `http2`, ...) are accepted with a warning that they have no effect
// yet; an unknown key is an error. The routes (`tunnel_route`: relay blind, `forward_route`:
// terminate and relay the plaintext, `partial_blind_route`: terminate and relay over a new TLS
// session; each host:port) and the outbound keys (`verify_server_policy`,
// `verify_server_properties`, `client_cert`, `client_key`, tls/origin.h) are built here.
//
// The global level (records.config proxy.config.ssl.client.certification_level 0/1/2 with
// proxy.config.ssl.CA.cert.filename/path) applies to names without an entry that says otherwise.
// Built on the main thread with the snapshot, then immutable: any thread may call the look-ups.
#ifndef TLSEDGE_TLS_SNI_H
#define TLSEDGE_TLS_SNI_H

#include <openssl/base.h>
#include <openssl/stack.h>
#include <openssl/x509.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct core_err;
struct core_records;
struct net_ipallow;
struct sockaddr;

enum tls_verify_client {
    TLS_VERIFY_CLIENT_UNSET = -1,
    TLS_VERIFY_CLIENT_NONE = 0,
    TLS_VERIFY_CLIENT_MODERATE = 1,
    TLS_VERIFY_CLIENT_STRICT = 2,
};

// struct tls_client_ca: trusted CAs for client certificates and their names, sent in the
// CertificateRequest. Owned by its configuration.
struct tls_client_ca {
    X509_STORE *store;
    STACK_OF(X509_NAME) *names;
};

// struct tls_sni_entry: one sni.yaml entry. Owned by its configuration; immutable.
struct tls_sni_entry {
    int line;
    char *fqdn;        // lower case; for a wildcard, the suffix after "*" (".example.com")
    bool wildcard;
    int verify_client; // enum tls_verify_client
    struct tls_client_ca ca; // verify_client_ca_certs (store NULL: the global CA)
    uint16_t min_version, max_version; // valid_tls_versions_in, 0 when unset
    struct net_ipallow *ip_allow;      // NULL when unset
    char *tunnel_route;  // blind tunnel to host:port ($1, {inbound_local_port}), or NULL
    char *forward_route; // terminate TLS, relay the plaintext to host:port, or NULL
    char *partial_blind_route; // terminate TLS, relay over new TLS to host:port, or NULL
    // Outbound keys, matched against the name tlsedge sends to an origin (tls/origin.h):
    char *client_cert;              // client certificate file (relative: configuration dir)
    char *client_key;               // its key file (NULL: in the certificate file)
    char *verify_server_policy;     // DISABLED / PERMISSIVE / ENFORCED, or NULL
    char *verify_server_properties; // NONE / SIGNATURE / NAME / ALL, or NULL
    int out_line;                   // the line of the first outbound key (for errors)
};

struct tls_sni_config {
    struct tls_sni_entry *entry;
    size_t n;
    char *default_route; // proxy.config.tlsedge.tunnel.default_route (ssl_multicert
                         // action=tunnel), or NULL
    int level;                 // proxy.config.ssl.client.certification_level
    struct tls_client_ca ca;   // proxy.config.ssl.CA.cert.filename/path (store may be NULL)
};

// tls_sni_config_declare declares sni.yaml's records.config names. Main thread.
int tls_sni_config_declare(struct core_records *rec);

// tls_sni_config_build reads the records and, when it exists, the sni.yaml file
// (proxy.config.ssl.servername.filename, relative to confdir; NULL confdir: no file). Every
// problem is recorded in err with file:line; returns NULL when there was an error. Main thread.
struct tls_sni_config *tls_sni_config_build(const struct core_records *rec, const char *confdir,
                                            struct core_err *err);

// tls_sni_config_parse builds the entries from len bytes of YAML text (name_for_errors names it
// in messages; relative CA paths resolve against dir). Returns NULL after recording errors.
// Any thread.
struct tls_sni_config *tls_sni_config_parse(const char *text, size_t len,
                                            const char *name_for_errors, const char *dir,
                                            struct core_err *err);

// tls_sni_config_free frees c; NULL is a no-op.
void tls_sni_config_free(struct tls_sni_config *c);

// tls_sni_lookup returns the first entry matching sni (may be NULL: no entry matches), or NULL.
// Borrowed from c. Any thread, inside an RCU read-side section.
const struct tls_sni_entry *tls_sni_lookup(const struct tls_sni_config *c, const char *sni);

// tls_sni_allows is true unless e's ip_allow refuses a client at peer. Any thread.
bool tls_sni_allows(const struct tls_sni_entry *e, const struct sockaddr *peer);

// tls_sni_route_expand writes route (an entry's tunnel_route, forward_route or
// partial_blind_route) into out (len
// bytes) with "$1" replaced by what the fqdn's "*" matched in sni and "{inbound_local_port}" by
// local_port. Returns 0, or -ENOSPC when it does not fit.
int tls_sni_route_expand(const struct tls_sni_entry *e, const char *route, const char *sni,
                         unsigned local_port, char *out, size_t len);

// tls_sni_apply applies entry e (may be NULL) and the global level of c to a new server ssl of a
// client at peer, before its handshake: versions, client certificate request and trusted CAs.
// Returns 0, or -EACCES when e's ip_allow refuses peer, or -ENOMEM. Owning worker.
int tls_sni_apply(const struct tls_sni_config *c, const struct tls_sni_entry *e, SSL *ssl,
                  const struct sockaddr *peer);

#endif
