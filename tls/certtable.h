// SPDX-License-Identifier: Apache-2.0
// tls/certtable.h: the certificate table, which picks the server certificate for a handshake.
//
// The main thread builds a table from a parsed ssl_multicert.config (and/or PEM bytes held in
// memory), then publishes it inside an immutable snapshot. After that the table never changes:
// any thread inside an RCU read-side section may call tls_certtable_lookup(),
// tls_certtable_default() and tls_certtable_count() concurrently; they neither allocate nor lock.
// tls_certtable_free() runs after a grace period (from call_rcu) or on a table never published.
//
// One struct tls_cert_entry stands for one ssl_multicert.config line; it holds one chain (an
// SSL_CTX carrying the leaf, its intermediates and its key) per key type on the line. It is
// found, as ATS does (SSLCertLookup; seed 002, set_context_cert), by:
//   1. the SNI host name, exactly, against every DNS name of the SAN extension of the line's
//      first certificate (ATS: "the first certificate is used to match the client's SNI"; the
//      chains of one line carry the same names), or its subject CN when it has no SAN DNS name;
//   2. a leftmost-label wildcard: `*.example.com` serves `a.example.com`, never `a.b.example.com`
//      nor `example.com` (RFC 6125 section 6.4.3; ATS supports no other wildcard form);
//   3. the local (accepting) address against `dest_ip`: address and port first, then the
//      address alone; an IPv4-mapped IPv6 local address matches an IPv4 dest_ip;
//   4. the default line (`dest_ip=*`);
//   and else nothing (the caller then sends an unrecognized_name alert).
// As in ATS, names of certificates on dest_ip lines (and on the default line) are indexed for
// SNI as well: ATS documents dest_ip as the fallback for clients that send no matching SNI, and
// every loaded certificate is presented for the names it carries. The first line that claims a
// name keeps it; later claims are warnings.
//
// An entry pointer is valid only inside the RCU read-side section in which it was looked up. A
// handshake that must outlive it (paused by a hook or a key operation) keeps what it needs by
// reference, e.g. SSL_CTX_up_ref() on the chosen chain's ctx (SSL_new() already does).
#ifndef TLSEDGE_TLS_CERTTABLE_H
#define TLSEDGE_TLS_CERTTABLE_H

#include "tls/multicert.h"

#include <openssl/base.h>
#ifndef OPENSSL_IS_BORINGSSL
#error "tlsedge needs BoringSSL"
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

struct core_err;
struct tls_certcache;
struct tls_certtable;

// struct tls_chain: one certificate chain and its key, ready to serve. Owned by its entry.
struct tls_chain {
    int key_type;     // EVP_PKEY_EC, EVP_PKEY_RSA or EVP_PKEY_ED25519
    SSL_CTX *ctx;     // leaf, intermediates and key installed; the chain owns one reference
    time_t not_after; // the leaf's notAfter
    char *cert_path;  // the certificate file, or NULL when loaded from memory
};

// struct tls_cert_entry: what one ssl_multicert.config line (or one tls_certtable_add_pem call)
// resolved to. Owned by the table; immutable once the table is published.
struct tls_cert_entry {
    int line;              // ssl_multicert.config line; 0 when loaded from memory without opts
    bool tunnel;           // action=tunnel: blind-tunnel, no chain
    int ticket_enabled;    // ssl_ticket_enabled, or -1 when unset
    int ticket_number;     // ssl_ticket_number, or -1 when unset
    char *ticket_key_name; // ticket key file, or NULL
    int n_chains;          // chains in chain[], each of a distinct key type (0 for a tunnel)
    struct tls_chain chain[TLS_MULTICERT_MAX_CHAINS];
};

// tls_ctx_factory_fn returns a new SSL_CTX configured with the protocol settings (versions,
// ciphers, groups, callbacks) for a chain of line (NULL for tls_certtable_add_pem without opts);
// the table installs the certificate and key into it and takes ownership of the returned
// reference. arg is the caller's. On failure it returns NULL, preferably after recording why in
// err. Called on the main thread, once per chain.
typedef SSL_CTX *(*tls_ctx_factory_fn)(void *arg, const struct tls_multicert_line *line,
                                       struct core_err *err);

// tls_ctx_recipe_fn fills out with a digest of everything the factory puts into a context for
// line (NULL for tls_certtable_add_pem without opts) in the build under way: records.config
// settings, the line's options, the contents of the ticket keys it attaches. Two equal digests
// must mean contexts that differ in nothing but the certificate and key installed into them. It
// returns 0, or -1 when a context for line must be built anew every time. Called on the main
// thread, once per line, with the factory's arg.
typedef int (*tls_ctx_recipe_fn)(void *arg, const struct tls_multicert_line *line, uint8_t out[32]);

// tls_certtable_new returns a new empty table that the caller owns, or NULL when out of memory.
// Main thread.
// tls_key_backend_fn installs a key held by a backend (uri, e.g. "keyless://10.0.0.5:9000") into
// ctx, which already holds the certificate leaf and its chain. It returns 0, 1 to skip the
// chain (after recording a warning), or a negative errno after recording an error in err (at
// file:line). It must never put key material or PINs in messages.
typedef int (*tls_key_backend_fn)(void *arg, SSL_CTX *ctx, const char *uri, X509 *leaf,
                                  const char *file, int line, struct core_err *err);

struct tls_certtable *tls_certtable_new(void);

// tls_certtable_set_key_backend makes t hand key URIs (pkcs11:, keyless:) to fn(arg, ...) instead
// of skipping their chains with a warning. Call before adding lines. Main thread.
void tls_certtable_set_key_backend(struct tls_certtable *t, tls_key_backend_fn fn, void *arg);

// tls_certtable_set_cache makes t read certificate and key files through cache (see
// tls/certcache.h): a file unchanged since an earlier build is not parsed again (nor read, once
// its status has settled), its certificates and key are shared with that build's chains. Each
// chain gets a fresh SSL_CTX from the factory unless tls_certtable_set_ctx_recipe allows reuse.
// cache stays the caller's and must outlive the loading calls (not the table). NULL (the
// default) reads every file afresh. Call before adding lines. Main thread.
void tls_certtable_set_cache(struct tls_certtable *t, struct tls_certcache *cache);

// tls_certtable_set_ctx_recipe lets t, reading through a cache, give a chain the very SSL_CTX an
// earlier build made (one more reference to it) when the certificate file, the key file and the
// ssl_ca_name file hold the same bytes and recipe gives the same digest for the line: no factory
// call, no key check, no install. Chains whose key is held by a backend are always built anew.
// A context is then shared by the generations that use it, so nothing may change a published
// context (plugins that reach one through TSSslContextFindByName must not modify it either).
// NULL (the default): every chain gets a fresh context. Call before adding lines. Main thread.
void tls_certtable_set_ctx_recipe(struct tls_certtable *t, tls_ctx_recipe_fn recipe);

// tls_certtable_add_multicert loads every line of m into t, in order. For each chain of a line it
// gets a fresh SSL_CTX from factory (NULL: SSL_CTX_new(TLS_method())), reads the certificate file
// (the leaf, then any intermediates), appends the certificates of ssl_ca_name, reads the key (from
// ssl_key_name, or else from the certificate file), checks that the key matches the leaf, and
// installs them (or takes an earlier build's context: tls_certtable_set_ctx_recipe); then it
// indexes the line's names, dest_ip and default as described above.
// Errors, each recorded in err (may be NULL) with file m->path and the line's number, and each
// discarding that line while the other lines are still checked: a file that cannot be read or
// parsed (the reason names the path, never the contents), a key that does not match its
// certificate, two chains of one key type on a line, a key type other than EC, RSA or Ed25519, a
// failing factory or BoringSSL call. Warnings: an expired certificate (naming the file and its
// expiry date; it is still loaded), a name, dest_ip or default already claimed by an earlier line
// (the first keeps it; both lines are named), a key URI (pkcs11:, keyless:), whose chain is not
// loaded until key backends exist. Returns 0 when every line loaded, -EINVAL when any line had an
// error, -ENOMEM when memory ran out; on failure t holds the lines that loaded and must not be
// published (free it). m and arg are borrowed; m may be freed afterwards. Main thread.
int tls_certtable_add_multicert(struct tls_certtable *t, const struct tls_multicert *m,
                                tls_ctx_factory_fn factory, void *arg, struct core_err *err);

// tls_certtable_add_pem loads one chain from memory: cert_pem (cert_len bytes: the leaf, then any
// intermediates) and key_pem (key_len bytes; never copied into a message), as one entry with the
// options of opts (dest_ip, default, tickets; its file names are ignored). opts may be NULL: the
// entry is then reached by its names only. Used for tlsedge's embedded default certificate
// (opts with dest_any set). Errors and warnings are those of tls_certtable_add_multicert, reported
// against the file "(memory)" and opts' line. Returns 0, -EINVAL or -ENOMEM as that function
// does. All arguments are borrowed. Main thread.
int tls_certtable_add_pem(struct tls_certtable *t, const struct tls_multicert_line *opts,
                          const char *cert_pem, size_t cert_len, const char *key_pem,
                          size_t key_len, tls_ctx_factory_fn factory, void *arg,
                          struct core_err *err);

// tls_certtable_lookup returns the entry for a handshake with SNI host name sni (may be NULL or
// empty; matched without regard to case) on a connection accepted at local (family, IP and port;
// may be NULL), in the order exact name, wildcard, address with port, address, default. Returns
// NULL when nothing matches and there is no default. For the accept-time blind-tunnel decision
// (action=tunnel, DESIGN section 4) call it with sni NULL: the result is then the address entry,
// else the default. The result is borrowed from t. Any thread, inside an RCU read-side section;
// neither allocates nor locks.
const struct tls_cert_entry *tls_certtable_lookup(const struct tls_certtable *t, const char *sni,
                                                  const struct sockaddr *local);

// tls_certtable_default returns the entry of the `dest_ip=*` line, or NULL when there is none.
// Borrowed from t. Any thread, inside an RCU read-side section.
const struct tls_cert_entry *tls_certtable_default(const struct tls_certtable *t);

// tls_certtable_count returns the number of chains (certificate + key pairs) loaded into t. Any
// thread, inside an RCU read-side section.
size_t tls_certtable_count(const struct tls_certtable *t);

// tls_certtable_tunnel_line returns the ssl_multicert.config line of the first action=tunnel
// entry of t, or 0 when there is none. Main thread.
int tls_certtable_tunnel_line(const struct tls_certtable *t);

// tls_certtable_free frees t, its entries and their strings, and drops the table's SSL_CTX
// references (a handshake holding its own reference keeps its SSL_CTX alive). t may be NULL. Main
// thread, or liburcu's call_rcu thread once no reader can see t.
void tls_certtable_free(struct tls_certtable *t);

#endif
