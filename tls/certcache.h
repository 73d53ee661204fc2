// SPDX-License-Identifier: Apache-2.0
// tls/certcache.h: certificate and key files parsed once and reused between configuration
// generations, so that a reload of many certificates where few changed stays fast.
//
// The cache belongs to the main thread, which builds every snapshot; it is never published and
// no worker reads it. It maps a file path to what that file was when last read: its status
// (device, inode, size, mtime, ctime), the SHA-256 of its contents, and the certificates
// (STACK_OF(X509)) and the private key (EVP_PKEY) parsed from it.
//
// A build first stat()s each file. When the status is exactly the one recorded, the file is
// not read at all: every change to a file's bytes moves its ctime (which, unlike mtime, no
// program can set back), a rename or a new file brings another inode or ctime, and a removed
// file fails the stat. That holds only once the recorded ctime lies safely before the moment of
// the read (tls_certcache_stat_settled): a file changed within the same timestamp tick as the
// read, on a filesystem with coarse timestamps, could otherwise keep its ctime; such an entry is
// read and hashed again at the next build until it has settled. When the status differs, the
// file is read and hashed, and identical contents (a touched file, one copied over with the same
// bytes) keep the parsed objects.
//
// Each entry has a version, new whenever its contents change, and a certificate file's entry
// may keep the SSL_CTX last built from it (struct tls_certcache_ctx) together with what else went
// into it: the versions of the key and ssl_ca_name files and a digest of the context settings
// (records.config, the line's options, ticket keys). The next generation takes that same
// context when all of these are unchanged, and builds a fresh one otherwise.
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
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

struct tls_certcache;
struct tls_certcache_file;

// TLS_CERTCACHE_FILE_MAX is the largest certificate or key file read (a bundle of a few hundred
// intermediates fits; anything larger is refused with EFBIG).
#define TLS_CERTCACHE_FILE_MAX (4u << 20)

// struct tls_certcache_stats: what the last build (since tls_certcache_begin) found.
struct tls_certcache_stats {
    size_t hits;      // reads whose file was unchanged and already parsed
    size_t stat_only; // of the hits, those decided by the file's status alone (nothing read)
    size_t misses;    // reads of a new or changed file (parsed again)
    size_t entries;   // files held now
};

// enum tls_certcache_want: what the caller of tls_certcache_read will take from the entry.
enum tls_certcache_want {
    TLS_CERTCACHE_CERTS, // tls_certcache_file_certs()
    TLS_CERTCACHE_KEY,   // tls_certcache_file_key()
};

// struct tls_certcache_ctx: an SSL_CTX built from a certificate file's chain, and its inputs.
struct tls_certcache_ctx {
    SSL_CTX *ctx;         // leaf, intermediates and key installed
    uint64_t key_version; // tls_certcache_file_version() of the key file
    uint64_t ca_version;  // of the ssl_ca_name file, or 0 when there is none
    uint8_t recipe[32];   // digest of the settings the context was made with
    int key_type;         // EVP_PKEY_EC, EVP_PKEY_RSA or EVP_PKEY_ED25519
    time_t not_after;     // the leaf's notAfter
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

// tls_certcache_read returns in *f the entry for the file at path, marked as used by this build.
// When the file's status is the settled one recorded at its last read and the entry holds what
// want names, nothing is read: *data is NULL and *len 0. Otherwise the file is read (at most
// TLS_CERTCACHE_FILE_MAX bytes) and hashed; the entry keeps its parsed objects when the
// contents are the ones read last time, else it is reset to hold none. *data and *len are then
// set to the contents, which the caller parses when the entry lacks what it needs and then
// releases with tls_certcache_data_free() (it wipes them: a key file's bytes are secret).
// Returns 0, or a negative errno when the file cannot be found, opened or read (-ENOENT, -EISDIR,
// -EFBIG: too large ...), -ENOMEM; then *f and *data are NULL and c is unchanged. path is
// borrowed; *f is borrowed from c until the next tls_certcache_read of the same path or the end
// of the build. Main thread.
int tls_certcache_read(struct tls_certcache *c, const char *path, enum tls_certcache_want want,
                       struct tls_certcache_file **f, char **data, size_t *len);

// tls_certcache_stat_settled is true when st, the status of a file read at now (the
// CLOCK_REALTIME_COARSE time taken before the file was opened), may stand for its contents
// later: st's ctime lies a timestamp granule before now (20 ms, or 2 s when neither time has a
// sub-second part, as on filesystems that keep whole seconds), so any later change gets a
// different ctime. Pure; any thread.
bool tls_certcache_stat_settled(const struct stat *st, struct timespec now);

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

// tls_certcache_file_version returns f's version: non-zero, unique in the cache, and new each
// time f's contents change (so two equal versions mean the same file with the same bytes).
uint64_t tls_certcache_file_version(const struct tls_certcache_file *f);

// tls_certcache_file_ctx returns the context last stored in f, or NULL. Borrowed from f
// (SSL_CTX_up_ref() its ctx to keep it); dropped when f's contents change.
const struct tls_certcache_ctx *tls_certcache_file_ctx(const struct tls_certcache_file *f);

// tls_certcache_file_set_ctx stores a copy of bc in f, which takes a new reference to bc->ctx
// (the caller keeps its own), replacing what f held. Main thread.
void tls_certcache_file_set_ctx(struct tls_certcache_file *f, const struct tls_certcache_ctx *bc);

#endif
