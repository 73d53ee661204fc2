// SPDX-License-Identifier: Apache-2.0
// tls/pkcs11.h: private keys in an HSM or a TPM through PKCS#11 (`ssl_key_name=pkcs11:...`).
//
// tlsedge loads one module per path, once (p11-kit-client.so by default, which talks to a
// `p11-kit server` hosting the token's own module): a module that links OpenSSL's libcrypto or
// libssl (directly or through its dependencies, read from DT_NEEDED) is refused, because
// OpenSSL's unversioned symbols clash with BoringSSL's inside this process. The module is
// initialised with CKF_OS_LOCKING_OK, and again in a child after fork().
//
// Each thread that signs (the handshake pool threads; the main thread for the check at load)
// keeps its own session per token, logged in once, and caches key handles; a session the
// module reports as gone (server restarted, token removed) is reopened once per signature.
// p11-kit-client.so multiplexes every thread's calls over one connection, which the p11-kit
// server answers one call at a time (one p11-kit-remote process per connection): so each
// handshake thread loads a copy of its own (dlmopen into a new namespace), that is its own
// connection, and signatures reach the token side by side
// (proxy.config.tlsedge.pkcs11.connection_per_thread 0 shares one connection instead).
// ECDSA signs the digest with CKM_ECDSA and DER-encodes the r||s the token returns; RSA PKCS#1
// v1.5 signs a DigestInfo with CKM_RSA_PKCS; RSA-PSS is encoded here and signed with the raw
// CKM_RSA_X_509 when the token offers it (tpm2-pkcs11 1.9's own PSS mechanism breaks through
// p11-kit), else with CKM_RSA_PKCS_PSS.
//
// PINs are kept in memory only as long as the key (wiped on free) and never appear in a message.
#ifndef TLSEDGE_TLS_PKCS11_H
#define TLSEDGE_TLS_PKCS11_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/base.h>

struct core_err;
struct tls_keyop;
struct tls_keyref;
struct tls_p11key;

// The module loaded when neither the URI nor proxy.config.tlsedge.pkcs11.module names one.
#define TLS_PKCS11_DEFAULT_MODULE "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so"

// How keys reach their modules (from records.config).
struct tls_pkcs11_opts {
    const char *module;         // the default module path; NULL or empty: the built-in one
    const char *server_address; // exported as P11_KIT_SERVER_ADDRESS unless already set
    bool copies; // each handshake thread loads its own copy of p11-kit-client.so (its own
                 // connection to the p11-kit server, served by its own process there)
};

// tls_pkcs11_key_load fills key (kind TLS_KEY_PKCS11, key_type and ec_nid already set from
// leaf) from uri: parses it, reads the PIN, loads and initialises the module (see struct
// tls_pkcs11_opts),
// then, when the token answers, finds the key, checks with one test signature that it matches
// leaf, and limits key's signature algorithms to the mechanisms the token offers. Returns 0;
// 1 after a warning in err when the token or key cannot be reached now (key stays usable: its
// handshakes fail until the token is back); or -EINVAL / -ENOMEM after an error in err at
// file:line (bad URI, unreadable PIN file, refused or unloadable module, wrong key type, key
// not matching the certificate). Main thread.
int tls_pkcs11_key_load(struct tls_keyref *key, const char *uri,
                        const struct tls_pkcs11_opts *o, X509 *leaf, const char *file, int line,
                        struct core_err *err);

// tls_pkcs11_stats_register registers proxy.process.tlsedge.pkcs11_thread_connections (module
// copies, that is p11-kit connections of their own, held by handshake threads now). Main
// thread, at start.
void tls_pkcs11_stats_register(void);

// tls_pkcs11_key_free wipes and frees k (the key's PKCS#11 part). NULL is a no-op. Any thread,
// once no operation uses it.
void tls_pkcs11_key_free(struct tls_p11key *k);

// tls_pkcs11_sign signs op->digest for op->sigalg with op->key on the calling thread's session,
// blocking; the thread goes offline for RCU around the module calls when offline_rcu is set
// (pool threads). Fills op->sig and op->sig_len. Returns 0 or a negative errno (-EIO: the
// module failed; -ENOENT: key not found; -ENOTSUP: algorithm not offered). Pool thread.
int tls_pkcs11_sign(struct tls_keyop *op, bool offline_rcu);

// tls_pkcs11_thread_fini closes the calling thread's sessions. Pool thread, at stop.
void tls_pkcs11_thread_fini(void);

// tls_pkcs11_module_check reads the ELF file at path and the shared libraries it needs (found
// in the system's library directories, a few levels deep) and returns 0 when none of them is
// OpenSSL's libcrypto or libssl; -EPERM with the offending library named in why (whylen bytes)
// when one is; -ENOENT / -ENOEXEC when path cannot be read or is not a 64-bit ELF object. Any
// thread.
int tls_pkcs11_module_check(const char *path, char *why, size_t whylen);

// tls_pkcs11_ecdsa_der converts the r||s signature rs (rs_len bytes, even) to the DER
// ECDSA-Sig-Value TLS carries, into out (cap bytes). Returns the DER length, or -EINVAL.
int tls_pkcs11_ecdsa_der(const uint8_t *rs, size_t rs_len, uint8_t *out, size_t cap);

// tls_pkcs11_digestinfo writes the PKCS#1 DigestInfo for the digest (dlen bytes) of md
// (SHA-256, -384 or -512) into out (cap bytes). Returns its length, or -EINVAL.
int tls_pkcs11_digestinfo(const EVP_MD *md, const uint8_t *digest, size_t dlen, uint8_t *out,
                          size_t cap);

// tls_pkcs11_pss_encode writes the EMSA-PSS encoding (RFC 8017 section 9.1.1; MGF1 with md,
// salt as long as the digest, as TLS 1.3 requires) of digest for the RSA public key rsa into out
// (cap bytes, at least RSA_size(rsa)), left-padded to the modulus size, ready for a raw RSA
// operation. Returns the length, or -EINVAL.
int tls_pkcs11_pss_encode(const RSA *rsa, const EVP_MD *md, const uint8_t *digest, size_t dlen,
                          uint8_t *out, size_t cap);

#endif
