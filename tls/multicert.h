// SPDX-License-Identifier: Apache-2.0
// tls/multicert.h: ssl_multicert.config, parsed into plain data (no BoringSSL object yet).
//
// The file follows ATS 9 syntax: one rule per line, whitespace-separated `tag=value` pairs,
// values optionally in double quotes (no escapes inside; a quoted value may hold spaces and `#`),
// `#` at the start of a token begins a comment that runs to the end of the line, blank lines are
// skipped. Tags:
//   dest_ip=ADDR          IPv4 `1.2.3.4`, IPv6 `::1` or `[::1]`, with an optional port
//                         (`1.2.3.4:443`, `[::1]:443`), or `*` (the default certificate)
//   ssl_cert_name=F[,F]   one certificate file per chain (e.g. one ECDSA, one RSA); each file holds
//                         the leaf, optionally followed by its intermediates
//   ssl_key_name=K[,K]    the keys, parallel to ssl_cert_name; absent: each key is in its
//                         certificate file
//   ssl_ca_name=F[,F]     intermediates appended to the chain: one file for every chain, or one per
//                         chain, parallel to ssl_cert_name
//   ssl_ticket_enabled=0|1, ssl_ticket_number=N (N >= 0), ticket_key_name=F
//   action=tunnel         blind-tunnel connections reaching dest_ip (no certificate needed)
//   ssl_key_dialog=builtin  the only pass-phrase dialog accepted (keys must be unencrypted)
// Unknown tags are warnings (ATS ignores them too). Relative certificate, CA and ticket key paths
// are resolved against cert_dir (ATS: proxy.config.ssl.server.cert.path), relative key paths
// against key_dir (proxy.config.ssl.server.private_key.path); absolute paths are kept. A key name
// that is a URI (`pkcs11:...`, `keyless:...`) is kept verbatim for the key backends. No message
// ever quotes a key name, since a PKCS#11 URI may carry a PIN.
//
// Main thread only (configuration load). A struct tls_multicert owns every string in it.
#ifndef TLSEDGE_TLS_MULTICERT_H
#define TLSEDGE_TLS_MULTICERT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct core_err;

// TLS_MULTICERT_MAX_CHAINS is the most chains (certificate + key pairs of distinct key types)
// one line may name.
#define TLS_MULTICERT_MAX_CHAINS 4

// struct tls_multicert_line: one rule of ssl_multicert.config. Owned by its struct tls_multicert.
struct tls_multicert_line {
    int line;                             // 1-based line number in the file
    bool has_dest;                        // dest_ip was given
    bool dest_any;                        // dest_ip=*: this rule is the default
    bool dest_has_port;                   // dest_ip carried a port (then stored in dest)
    struct sockaddr_storage dest;         // AF_INET or AF_INET6 address when has_dest && !dest_any
    int n_certs;                          // chains named by ssl_cert_name (0 for a tunnel)
    char *cert[TLS_MULTICERT_MAX_CHAINS]; // resolved certificate paths
    char *key[TLS_MULTICERT_MAX_CHAINS];  // resolved key path or URI; NULL: in cert[i]
    char *ca[TLS_MULTICERT_MAX_CHAINS];   // resolved ssl_ca_name for chain i, or NULL
    char *ticket_key_name;                // resolved ticket key file, or NULL
    int ticket_enabled;                   // 0, 1, or -1 when unset
    int ticket_number;                    // >= 0, or -1 when unset
    bool tunnel;                          // action=tunnel
};

// struct tls_multicert: a parsed file. Owns lines and path; free with tls_multicert_free().
struct tls_multicert {
    struct tls_multicert_line *lines; // rules in file order (comment and blank lines dropped)
    size_t n;                         // number of rules
    char *path;                       // file name used in error reports
};

// tls_multicert_load reads and parses the file at path (see tls_multicert_parse). Returns a new
// struct tls_multicert that the caller owns, or NULL when the file cannot be read, memory runs out
// or any line has an error; every problem found (all lines are checked) is recorded in err, which
// may be NULL. path, cert_dir and key_dir are borrowed; cert_dir and key_dir may be NULL (relative
// names are then kept as they are). Main thread.
struct tls_multicert *tls_multicert_load(const char *path, const char *cert_dir,
                                         const char *key_dir, struct core_err *err);

// tls_multicert_parse parses len bytes of text (need not be NUL-terminated) as ssl_multicert.config
// named name (the file name used in err and kept as the result's path). Errors, each recorded with
// its line number: a malformed token, an empty or duplicated tag, a bad dest_ip, a line without
// ssl_cert_name (unless action=tunnel), an action other than tunnel, a tunnel without dest_ip,
// ssl_cert_name and ssl_key_name counts that differ, an ssl_ca_name count that is neither 1 nor
// the number of certificates, more than TLS_MULTICERT_MAX_CHAINS chains, ssl_ticket_enabled not
// 0 or 1, ssl_ticket_number not an integer >= 0, ssl_key_dialog other than builtin. Unknown tags
// and certificates on a tunnel line (ignored) are warnings. Returns a new struct tls_multicert
// that the caller owns, or NULL when any error was found or memory ran out. All arguments are
// borrowed; cert_dir and key_dir may be NULL. Main thread.
struct tls_multicert *tls_multicert_parse(const char *text, size_t len, const char *name,
                                          const char *cert_dir, const char *key_dir,
                                          struct core_err *err);

// tls_multicert_free frees m and every string it owns. m may be NULL.
void tls_multicert_free(struct tls_multicert *m);

#endif
