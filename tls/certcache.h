// SPDX-License-Identifier: Apache-2.0
// tls/certcache.h: certificate and key files parsed once and reused between configuration
// generations, so that a reload of many certificates where few changed stays fast.
//
// The cache belongs to the main thread, which builds every snapshot; it is never published and
// no worker reads it. It maps a file path to what that file held when last read: its size,
// modification time and the SHA-256 of its contents, plus the certificates (STACK_OF(X509)) and
// the private key (EVP_PKEY) parsed from it. Each build reads every file again and hashes it, so
// a file rewritten within one mtime tick, or replaced by one of the same size, is never mistaken
// for the old one: a hit needs path, size, mtime and content hash to agree. Only parsed objects
// are reused; every generation still builds fresh SSL_CTXs from them (an SSL_CTX also carries
// records.config settings, which a certificate file's identity does not cover).
//
// Life cycle of one build: tls_certcache_begin(), then lookups through tls_certcache_read(),
// then tls_certcache_commit() when the snapshot was published (entries the new generation did
// not use are dropped) or tls_certcache_abort() when it was discarded (entries only the failed
// build used are dropped). So the cache holds at most the files of the serving generation plus
// those of the build in progress: it does not grow across reloads.
//
// Cached objects are shared by reference with the SSL_CTXs built from them: BoringSSL counts
// X509 and EVP_PKEY references atomically, so liburcu's call_rcu thread may free an old
// generation while the main thread holds the same objects here.
#ifndef TLSEDGE_TLS_CERTCACHE_H
#define TLSEDGE_TLS_CERTCACHE_H

#include <openssl/base.h>
#include <openssl/x509.h>

#include <stddef.h>
#include <stdint.h>

struct tls_certcache;
struct tls_certcache_file;

// TLS_CERTCACHE_FILE_MAX is the largest certificate or key file read (a bundle of a few hundred
// intermediates fits; anything larger is refused with EFBIG).
#define TLS_CERTCACHE_FILE_MAX (4u << 20)

// struct tls_certcache_stats: what the last build (since tls_certcache_begin) found.
struct tls_certcache_stats {
    size_t hits;    // reads whose file was unchanged and already parsed
    size_t misses;  // reads of a new or changed file (parsed again)
    size_t entries; // files held now
};

// tls_certcache_new returns an empty cache that the caller owns, or NULL when out of memory.
// Main thread.
struct tls_certcache *tls_certcache_new(void);

// tls_certcache_free frees c and drops its references to the parsed objects (SSL_CTXs that hold
// their own keep them alive). c may be NULL. Main thread.
void tls_certcache_free(struct tls_certcache *c);

// tls_certcache_begin starts a build: no entry is marked as used by it yet and the statistics
// restart. Main thread.
void tls_certcache_begin(struct tls_certcache *c);

// tls_certcache_commit ends a build whose snapshot was published: it becomes the serving one,
// and every entry it did not read is dropped. Main thread.
void tls_certcache_commit(struct tls_certcache *c);

// tls_certcache_abort ends a build whose snapshot was discarded: entries only it read are
// dropped, those of the serving generation stay. Main thread.
void tls_certcache_abort(struct tls_certcache *c);

// tls_certcache_stats returns what the current (or last) build found. Main thread.
struct tls_certcache_stats tls_certcache_stats(const struct tls_certcache *c);

// tls_certcache_read reads the file at path (at most TLS_CERTCACHE_FILE_MAX bytes), hashes it and
// returns in *f the entry for path, marked as used by this build: the same entry as before (its
// parsed objects kept) when size, mtime and SHA-256 all equal what was read last time, else a
// fresh entry without parsed objects (the old one is dropped). *data and *len are set to the
// contents, which the caller parses when the entry lacks what it needs and then releases with
// tls_certcache_data_free() (it wipes them: a key file's bytes are secret). Returns 0, or a
// negative errno when the file cannot be opened or read (-EFBIG: too large), -ENOMEM; then *f
// and *data are NULL and c is unchanged. path is borrowed; *f is borrowed from c until the next
// tls_certcache_read of the same path or the end of the build. Main thread.
int tls_certcache_read(struct tls_certcache *c, const char *path, struct tls_certcache_file **f,
                       char **data, size_t *len);

// tls_certcache_data_free wipes and frees data (len bytes) from tls_certcache_read. NULL is a
// no-op.
void tls_certcache_data_free(char *data, size_t len);

// tls_certcache_file_certs returns the certificates parsed from f (leaf first), or NULL when
// none were stored. Borrowed from f.
STACK_OF(X509) * tls_certcache_file_certs(const struct tls_certcache_file *f);

// tls_certcache_file_set_certs stores certs, parsed from the contents tls_certcache_read
// returned for f, in f; f takes ownership (certs already stored there are freed). Main thread.
void tls_certcache_file_set_certs(struct tls_certcache_file *f, STACK_OF(X509) * certs);

// tls_certcache_file_key returns the private key parsed from f, or NULL when none was stored.
// Borrowed from f (EVP_PKEY_up_ref() to keep it).
EVP_PKEY *tls_certcache_file_key(const struct tls_certcache_file *f);

// tls_certcache_file_set_key stores pkey, parsed from f's contents, in f; f takes ownership.
// Main thread.
void tls_certcache_file_set_key(struct tls_certcache_file *f, EVP_PKEY *pkey);

#endif
