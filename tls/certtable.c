// SPDX-License-Identifier: Apache-2.0
// tls/certtable.c: the certificate table (see tls/certtable.h). It loads certificate chains and
// keys into SSL_CTXs, extracts each leaf's names, and indexes entries by exact name, wildcard
// suffix and local address in open-addressing hash tables that readers probe without locks.
#include "tls/certtable.h"

#include "core/err.h"
#include "tls/certcache.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// A DNS name is at most 253 characters (RFC 1035 section 2.3.4, without the trailing dot).
#define CERTTABLE_NAME_MAX 253
// Address keys: family byte, IPv6 address, port.
#define CERTTABLE_ADDR_KEY_MAX (1 + 16 + 2)

static const char MEMORY_FILE[] = "(memory)";

// struct slot: one cell of an index; empty when key is NULL. The key is owned by the index.
struct slot {
    uint64_t hash;
    unsigned char *key;
    size_t len;
    struct tls_cert_entry *entry;
};

// struct index: an open-addressing (linear probing) hash table from byte strings to entries.
// Kept at most half full so that probes stay short; cap is a power of two.
struct index {
    struct slot *slots;
    size_t cap;
    size_t n;
};

// struct tls_certtable: owns its entries (and through them their SSL_CTX references) and its
// indexes; the indexes only point at entries.
struct tls_certtable {
    struct tls_cert_entry **entries; // every entry, in load order
    size_t n_entries;
    size_t cap_entries;
    struct index exact;          // lower-case host name -> entry
    struct index wild;           // suffix of `*.suffix` -> entry
    struct index addr;           // addr_key() bytes -> entry
    struct tls_cert_entry *dflt; // the dest_ip=* entry, or NULL
    size_t n_chains;
    tls_key_backend_fn backend; // keys held by a backend (URIs), or NULL: skipped
    void *backend_arg;
    struct tls_certcache *cache; // parsed files reused between generations, or NULL (borrowed)
    tls_ctx_recipe_fn recipe;    // with cache: contexts reused between generations, or NULL
};

// struct loader: the context of loading one line (or one in-memory chain).
struct loader {
    struct tls_certtable *t;
    const char *file;                      // configuration file named in reports
    int line;                              // its line, 0 for none
    const struct tls_multicert_line *opts; // may be NULL (add_pem)
    tls_ctx_factory_fn factory;
    void *arg;
    struct core_err *err;
    X509 *names_leaf; // the leaf of the line's first loaded chain (owned), for index_entry
    bool reuse;       // a context built earlier from the same inputs may be taken (recipe set)
    uint8_t recipe[32];
};

// struct chain_files: the cache entries a chain was read from (NULL: not read through the cache).
struct chain_files {
    struct tls_certcache_file *cert, *ca, *key;
};

// struct chain_src: where one chain's PEM comes from: files (paths) or memory (pem, len).
struct chain_src {
    const char *cert_path; // NULL: cert_pem
    const char *cert_pem;
    size_t cert_len;
    const char *key_path; // NULL and key_pem NULL: the key is in the certificate source
    const char *key_pem;
    size_t key_len;
    const char *ca_path; // NULL: none
};

static void report(struct loader *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// report records an error about the current line.
static void report(struct loader *ld, const char *fmt, ...)
{
    char buf[CORE_ERR_REASON_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    core_err_add(ld->err, ld->file, ld->line, "%s", buf);
}

// bssl_reason returns a short text for the newest BoringSSL error and empties the queue. The
// reason strings are static library texts; they never carry key material.
static const char *bssl_reason(void)
{
    uint32_t e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return r ? r : "unknown error";
}

// ---- the hash index ----

// hash_bytes is 64-bit FNV-1a: keys are short and come from our own configuration.
static uint64_t hash_bytes(const unsigned char *p, size_t len)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

// index_find returns the entry stored under key (len bytes), or NULL. Lock- and allocation-free.
static struct tls_cert_entry *index_find(const struct index *ix, const void *key, size_t len)
{
    if (ix->n == 0)
        return NULL;
    uint64_t h = hash_bytes(key, len);
    for (size_t i = h & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
        const struct slot *s = &ix->slots[i];
        if (!s->key)
            return NULL;
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
            return s->entry;
    }
}

// index_place puts an owned key into the first free slot of its probe sequence (no check for
// duplicates; the table has room).
static void index_place(struct index *ix, uint64_t h, unsigned char *key, size_t len,
                        struct tls_cert_entry *e)
{
    size_t i = h & (ix->cap - 1);
    while (ix->slots[i].key)
        i = (i + 1) & (ix->cap - 1);
    ix->slots[i] = (struct slot){.hash = h, .key = key, .len = len, .entry = e};
    ix->n++;
}

// index_resize moves ix into cap slots (a power of two, more than twice its keys), rehashing
// every key. Returns 0 or -ENOMEM (ix unchanged).
static int index_resize(struct index *ix, size_t cap)
{
    struct slot *old = ix->slots;
    size_t old_cap = ix->cap;
    ix->slots = calloc(cap, sizeof(*ix->slots));
    if (!ix->slots) {
        ix->slots = old;
        return -ENOMEM;
    }
    ix->cap = cap;
    ix->n = 0;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].key)
            index_place(ix, old[i].hash, old[i].key, old[i].len, old[i].entry);
    free(old);
    return 0;
}

// index_grow doubles ix. Returns 0 or -ENOMEM (ix unchanged).
static int index_grow(struct index *ix)
{
    return index_resize(ix, ix->cap ? ix->cap * 2 : 64);
}

// index_reserve sizes ix, in one step, to take n more keys without growing. Returns 0 or
// -ENOMEM (ix unchanged). A reload of many lines would otherwise rehash the index at every
// doubling.
static int index_reserve(struct index *ix, size_t n)
{
    size_t cap = ix->cap ? ix->cap : 64;
    while ((ix->n + n) * 2 > cap)
        cap *= 2;
    return cap == ix->cap ? 0 : index_resize(ix, cap);
}

// index_put stores e under a copy of key. Returns 0, -EEXIST (with *prev set to the entry that
// holds key; nothing stored) or -ENOMEM.
static int index_put(struct index *ix, const void *key, size_t len, struct tls_cert_entry *e,
                     struct tls_cert_entry **prev)
{
    *prev = index_find(ix, key, len);
    if (*prev)
        return -EEXIST;
    if ((ix->n + 1) * 2 > ix->cap && index_grow(ix) < 0)
        return -ENOMEM;
    unsigned char *copy = malloc(len ? len : 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, key, len);
    index_place(ix, hash_bytes(key, len), copy, len, e);
    return 0;
}

// index_fini frees ix's keys and slots (not the entries).
static void index_fini(struct index *ix)
{
    for (size_t i = 0; i < ix->cap; i++)
        free(ix->slots[i].key);
    free(ix->slots);
}

// addr_key writes the index key for sa (IPv4-mapped IPv6 folded to IPv4) into key, with its port
// when with_port. Returns the key length, or 0 for a family other than IPv4/IPv6.
static size_t addr_key(const struct sockaddr *sa, bool with_port,
                       unsigned char key[CERTTABLE_ADDR_KEY_MAX])
{
    const unsigned char *ip;
    const void *port;
    size_t ip_len;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
        ip = (const unsigned char *)&in4->sin_addr;
        ip_len = 4;
        port = &in4->sin_port;
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        bool mapped = IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr);
        ip = in6->sin6_addr.s6_addr + (mapped ? 12 : 0);
        ip_len = mapped ? 4 : 16;
        port = &in6->sin6_port;
    } else {
        return 0;
    }
    key[0] = ip_len == 4 ? 4 : 6;
    memcpy(key + 1, ip, ip_len);
    memset(key + 1 + ip_len, 0, 2);
    if (with_port)
        memcpy(key + 1 + ip_len, port, 2);
    return 1 + ip_len + 2;
}

// ---- entries ----

// entry_free drops e's SSL_CTX references and frees it. e may be NULL.
static void entry_free(struct tls_cert_entry *e)
{
    if (!e)
        return;
    for (int i = 0; i < e->n_chains; i++) {
        SSL_CTX_free(e->chain[i].ctx);
        free(e->chain[i].cert_path);
    }
    free(e->ticket_key_name);
    free(e);
}

// entry_new returns a new entry carrying the options of opts (may be NULL), or NULL.
static struct tls_cert_entry *entry_new(const struct tls_multicert_line *opts)
{
    struct tls_cert_entry *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->ticket_enabled = -1;
    e->ticket_number = -1;
    if (!opts)
        return e;
    e->line = opts->line;
    e->tunnel = opts->tunnel;
    e->ticket_enabled = opts->ticket_enabled;
    e->ticket_number = opts->ticket_number;
    if (opts->ticket_key_name && !(e->ticket_key_name = strdup(opts->ticket_key_name))) {
        free(e);
        return NULL;
    }
    return e;
}

// entry_keep appends e to t's entries (t owns it afterwards). Returns 0 or -ENOMEM.
static int entry_keep(struct tls_certtable *t, struct tls_cert_entry *e)
{
    if (t->n_entries == t->cap_entries) {
        size_t cap = t->cap_entries ? t->cap_entries * 2 : 16;
        struct tls_cert_entry **grown = realloc(t->entries, cap * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        t->entries = grown;
        t->cap_entries = cap;
    }
    t->entries[t->n_entries++] = e;
    t->n_chains += (size_t)e->n_chains;
    return 0;
}

// ---- names ----

// index_name indexes e under the DNS name raw (len bytes, as found in the certificate).
// Returns 0 (also for a name skipped with a warning) or -ENOMEM.
static int index_name(struct loader *ld, struct tls_cert_entry *e, const unsigned char *raw,
                      size_t len)
{
    char name[CERTTABLE_NAME_MAX + 1];
    struct tls_cert_entry *prev = NULL;
    if (len == 0 || len > CERTTABLE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (raw[i] <= ' ' || raw[i] >= 0x7f)
            return 0; // not a host name: cannot equal an SNI value (RFC 6066 section 3)
        name[i] = (char)(raw[i] >= 'A' && raw[i] <= 'Z' ? raw[i] - 'A' + 'a' : raw[i]);
    }
    name[len] = '\0';
    bool wild = len > 2 && name[0] == '*' && name[1] == '.';
    if (memchr(name + (wild ? 1 : 0), '*', len - (wild ? 1 : 0))) {
        core_err_warn(ld->err, ld->file, ld->line,
                      "name '%s': only a leftmost `*.` wildcard is supported; name ignored", name);
        return 0;
    }
    struct index *ix = wild ? &ld->t->wild : &ld->t->exact;
    int rc = index_put(ix, wild ? name + 2 : name, wild ? len - 2 : len, e, &prev);
    if (rc == -EEXIST && prev != e)
        core_err_warn(ld->err, ld->file, ld->line,
                      "name '%s' is already served by line %d, which keeps it", name, prev->line);
    return rc == -ENOMEM ? rc : 0;
}

// index_cn indexes e under the subject CN of leaf (for certificates without SAN DNS names).
static int index_cn(struct loader *ld, struct tls_cert_entry *e, X509 *leaf)
{
    X509_NAME *subject = X509_get_subject_name(leaf);
    int idx = subject ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
    if (idx < 0) {
        if (!ld->opts || !ld->opts->has_dest)
            core_err_warn(ld->err, ld->file, ld->line,
                          "certificate has neither a SAN DNS name nor a CN: no SNI reaches it");
        return 0;
    }
    unsigned char *utf8 = NULL;
    X509_NAME_ENTRY *ne = X509_NAME_get_entry(subject, idx);
    int n = ne ? ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(ne)) : -1;
    if (n < 0) {
        ERR_clear_error();
        return 0;
    }
    int rc = index_name(ld, e, utf8, (size_t)n);
    OPENSSL_free(utf8);
    return rc;
}

// index_leaf_names indexes e under the SAN DNS names of leaf, or its CN when it has none.
// Returns 0 or -ENOMEM.
static int index_leaf_names(struct loader *ld, struct tls_cert_entry *e, X509 *leaf)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    int n_dns = 0, rc = 0;
    for (size_t i = 0; gens && i < sk_GENERAL_NAME_num(gens) && rc == 0; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type != GEN_DNS)
            continue;
        n_dns++;
        rc = index_name(ld, e, ASN1_STRING_get0_data(g->d.dNSName),
                        (size_t)ASN1_STRING_length(g->d.dNSName));
    }
    GENERAL_NAMES_free(gens);
    ERR_clear_error(); // an absent extension leaves an error behind
    if (rc < 0 || n_dns > 0)
        return rc;
    return index_cn(ld, e, leaf);
}

// index_entry indexes e (already kept by the table) under its names, its dest_ip and as the
// default. As ATS documents for ssl_cert_name lists, the first chain's certificate supplies the
// names (the chains of one line are meant to carry the same names). That leaf is the one loaded
// (ld->names_leaf), not SSL_CTX_get0_certificate(), which would parse it again from the context's
// DER copy and keep that copy for the context's life. Returns 0 or -ENOMEM.
static int index_entry(struct loader *ld, struct tls_cert_entry *e)
{
    const struct tls_multicert_line *o = ld->opts;
    X509 *leaf = e->n_chains > 0 ? ld->names_leaf : NULL;
    int rc = leaf ? index_leaf_names(ld, e, leaf) : 0;
    if (rc < 0)
        return rc;
    if (o && o->has_dest && o->dest_any) {
        if (ld->t->dflt)
            core_err_warn(ld->err, ld->file, ld->line,
                          "dest_ip=* is already set by line %d, which stays the default",
                          ld->t->dflt->line);
        else
            ld->t->dflt = e;
    } else if (o && o->has_dest) {
        unsigned char key[CERTTABLE_ADDR_KEY_MAX];
        struct tls_cert_entry *prev = NULL;
        size_t len = addr_key((const struct sockaddr *)&o->dest, o->dest_has_port, key);
        rc = len ? index_put(&ld->t->addr, key, len, e, &prev) : 0;
        if (rc == -ENOMEM)
            return rc;
        if (rc == -EEXIST)
            core_err_warn(ld->err, ld->file, ld->line,
                          "this dest_ip is already served by line %d, which keeps it", prev->line);
    }
    return 0;
}

// ---- loading chains ----

// src_open returns a BIO reading path, or the len bytes at pem when path is NULL; NULL on error
// (errno tells why for a file).
static BIO *src_open(const char *path, const char *pem, size_t len)
{
    if (path)
        return BIO_new_file(path, "rb");
    if (len > INT_MAX) {
        errno = EFBIG;
        return NULL;
    }
    return BIO_new_mem_buf(pem, (int)len);
}

// read_certs reads every certificate of bio into out. what names the source in reports.
// Returns 0 or -EINVAL after reporting.
static int read_certs(struct loader *ld, const char *what, BIO *bio, STACK_OF(X509) * out)
{
    int n = 0;
    for (;; n++) {
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (!x)
            break;
        if (!sk_X509_push(out, x)) {
            X509_free(x);
            report(ld, "%s: out of memory", what);
            return -EINVAL;
        }
    }
    uint32_t e = ERR_peek_last_error();
    bool at_end = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
    if (n > 0 && at_end) {
        ERR_clear_error();
        return 0;
    }
    report(ld, "cannot parse certificate file '%s': %s", what,
           n == 0 && at_end ? "no PEM certificate found" : bssl_reason());
    ERR_clear_error();
    return -EINVAL;
}

// certs_ref returns a new stack holding a new reference to each certificate of src, or NULL.
static STACK_OF(X509) * certs_ref(STACK_OF(X509) * src)
{
    STACK_OF(X509) *out = sk_X509_new_null();
    for (size_t i = 0; out && i < sk_X509_num(src); i++) {
        X509 *x = sk_X509_value(src, i);
        X509_up_ref(x);
        if (!sk_X509_push(out, x)) {
            X509_free(x);
            sk_X509_pop_free(out, X509_free);
            out = NULL;
        }
    }
    return out;
}

// parse_certs parses the certificates of the len bytes at data into a new stack (*out).
static int parse_certs(struct loader *ld, const char *what, const char *data, size_t len,
                       STACK_OF(X509) * *out)
{
    BIO *bio = src_open(NULL, data, len);
    *out = sk_X509_new_null();
    int rc = bio && *out ? read_certs(ld, what, bio, *out) : -ENOMEM;
    if (rc == -ENOMEM)
        report(ld, "%s: out of memory", what);
    BIO_free(bio);
    if (rc < 0) {
        sk_X509_pop_free(*out, X509_free);
        *out = NULL;
    }
    return rc;
}

// cached_certs returns in *out (a new stack of new references) the certificates of the file at
// path, from the cache when the file is unchanged, else parsed and then cached. kind names the
// file in reports ("certificate", "ssl_ca_name").
static int cached_certs(struct loader *ld, const char *kind, const char *path,
                        STACK_OF(X509) * *out, struct tls_certcache_file **fout)
{
    struct tls_certcache_file *f = NULL;
    char *data = NULL;
    size_t len = 0;
    int rc = tls_certcache_read(ld->t->cache, path, TLS_CERTCACHE_CERTS, &f, &data, &len);
    if (rc < 0) {
        report(ld, "cannot read %s file '%s': %s", kind, path, strerror(-rc));
        return -EINVAL;
    }
    STACK_OF(X509) *certs = tls_certcache_file_certs(f);
    if (!certs && (rc = parse_certs(ld, path, data, len, &certs)) == 0)
        tls_certcache_file_set_certs(f, certs);
    tls_certcache_data_free(data, len);
    if (rc < 0)
        return rc;
    if (!(*out = certs_ref(certs))) {
        report(ld, "%s: out of memory", path);
        return -ENOMEM;
    }
    *fout = f;
    return 0;
}

// source_certs returns in *out (a new stack) the certificates of the file at path, or of the len
// bytes at pem when path is NULL, and in *f the file's cache entry when it was read through the
// cache. Returns 0, -EINVAL or -ENOMEM after reporting.
static int source_certs(struct loader *ld, const char *kind, const char *path, const char *pem,
                        size_t len, STACK_OF(X509) * *out, struct tls_certcache_file **f)
{
    if (path && ld->t->cache)
        return cached_certs(ld, kind, path, out, f);
    if (!path)
        return parse_certs(ld, MEMORY_FILE, pem, len, out);
    BIO *bio = src_open(path, NULL, 0);
    if (!bio) {
        report(ld, "cannot read %s file '%s': %s", kind, path, strerror(errno));
        ERR_clear_error();
        return -EINVAL;
    }
    *out = sk_X509_new_null();
    int rc = *out ? read_certs(ld, path, bio, *out) : -ENOMEM;
    BIO_free(bio);
    if (rc == -ENOMEM)
        report(ld, "%s: out of memory", path);
    if (rc < 0) {
        sk_X509_pop_free(*out, X509_free);
        *out = NULL;
    }
    return rc;
}

// take_certs moves the certificates of src (freed) into *leaf (the first, when leaf is not NULL)
// and extra (the rest). Returns 0 or -ENOMEM after reporting.
static int take_certs(struct loader *ld, STACK_OF(X509) * src, X509 **leaf, STACK_OF(X509) * extra)
{
    int rc = 0;
    for (size_t i = 0; i < sk_X509_num(src); i++) {
        X509 *x = sk_X509_value(src, i);
        sk_X509_set(src, i, NULL);
        if (i == 0 && leaf) {
            *leaf = x;
        } else if (rc == 0 && !sk_X509_push(extra, x)) {
            X509_free(x);
            report(ld, "out of memory");
            rc = -ENOMEM;
        } else if (rc != 0) {
            X509_free(x);
        }
    }
    sk_X509_free(src);
    return rc;
}

// load_certs reads the leaf and intermediates of src (then those of its ssl_ca_name), noting in
// files the cache entries they came from.
static int load_certs(struct loader *ld, const struct chain_src *src, X509 **leaf,
                      STACK_OF(X509) * extra, struct chain_files *files)
{
    STACK_OF(X509) *certs = NULL;
    int rc = source_certs(ld, "certificate", src->cert_path, src->cert_pem, src->cert_len, &certs,
                          &files->cert);
    if (rc == 0)
        rc = take_certs(ld, certs, leaf, extra);
    if (rc < 0 || !src->ca_path)
        return rc;
    if ((rc = source_certs(ld, "ssl_ca_name", src->ca_path, NULL, 0, &certs, &files->ca)) == 0)
        rc = take_certs(ld, certs, NULL, extra);
    return rc;
}

// parse_key parses the first private key of bio into *pkey. Returns 0 or -EINVAL after
// reporting (never the key's contents).
static int parse_key(struct loader *ld, const char *what, BIO *bio, EVP_PKEY **pkey)
{
    *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    if (!*pkey) {
        report(ld, "cannot parse a private key from '%s': %s", what, bssl_reason());
        return -EINVAL;
    }
    ERR_clear_error(); // PEM blocks skipped before the key leave errors behind
    return 0;
}

// cached_key returns in *pkey (a new reference) the key of the file at path, from the cache when
// the file is unchanged, else parsed and then cached.
static int cached_key(struct loader *ld, const char *path, EVP_PKEY **pkey,
                      struct tls_certcache_file **fout)
{
    struct tls_certcache_file *f = NULL;
    char *data = NULL;
    size_t len = 0;
    int rc = tls_certcache_read(ld->t->cache, path, TLS_CERTCACHE_KEY, &f, &data, &len);
    if (rc < 0) {
        report(ld, "cannot read key file '%s': %s", path, strerror(-rc));
        return -EINVAL;
    }
    EVP_PKEY *k = tls_certcache_file_key(f);
    if (!k) {
        BIO *bio = src_open(NULL, data, len);
        if ((rc = parse_key(ld, path, bio, &k)) == 0)
            tls_certcache_file_set_key(f, k);
        BIO_free(bio);
    }
    tls_certcache_data_free(data, len);
    if (rc == 0) {
        EVP_PKEY_up_ref(k);
        *pkey = k;
        *fout = f;
    }
    return rc;
}

// load_key reads the private key of src into *pkey (and notes its cache entry in *f). Returns 0,
// 1 when the key is a URI left to a key backend (warned; no key), or -EINVAL after reporting.
// Never reports key contents.
static int load_key(struct loader *ld, const struct chain_src *src, EVP_PKEY **pkey,
                    struct tls_certcache_file **f)
{
    const char *path = src->key_path, *pem = src->key_pem;
    size_t len = src->key_len;
    if (path && (strncmp(path, "pkcs11:", 7) == 0 || strncmp(path, "keyless:", 8) == 0)) {
        if (ld->t->backend)
            return 1; // chain_load hands it to the backend
        // Only the scheme is named: a PKCS#11 URI may carry a PIN.
        core_err_warn(ld->err, ld->file, ld->line,
                      "certificate '%s': %s key URIs need a key backend, not available yet; "
                      "chain not loaded",
                      src->cert_path ? src->cert_path : MEMORY_FILE,
                      path[0] == 'p' ? "pkcs11:" : "keyless:");
        return 1;
    }
    if (!path && !pem) { // the key follows the certificate in the same source
        path = src->cert_path;
        pem = src->cert_pem;
        len = src->cert_len;
    }
    if (path && ld->t->cache)
        return cached_key(ld, path, pkey, f);
    const char *what = path ? path : MEMORY_FILE;
    BIO *bio = src_open(path, pem, len);
    if (!bio) {
        report(ld, "cannot read key file '%s': %s", what, strerror(errno));
        ERR_clear_error();
        return -EINVAL;
    }
    int rc = parse_key(ld, what, bio, pkey);
    BIO_free(bio);
    return rc;
}

// make_ctx returns a fresh SSL_CTX from the factory (or a plain one), or NULL after reporting.
static SSL_CTX *make_ctx(struct loader *ld)
{
    int before = ld->err ? ld->err->errors : 0;
    SSL_CTX *ctx =
        ld->factory ? ld->factory(ld->arg, ld->opts, ld->err) : SSL_CTX_new(TLS_method());
    if (!ctx && (!ld->err || ld->err->errors == before))
        report(ld, "cannot create an SSL_CTX: %s", bssl_reason());
    return ctx;
}

// install puts leaf, extra and pkey into a new SSL_CTX for chain c. Returns 0 or -EINVAL.
static int install(struct loader *ld, const char *what, struct tls_chain *c, X509 *leaf,
                   STACK_OF(X509) * extra, EVP_PKEY *pkey)
{
    int type = EVP_PKEY_id(pkey);
    if (type != EVP_PKEY_EC && type != EVP_PKEY_RSA && type != EVP_PKEY_ED25519) {
        report(ld, "certificate '%s': unsupported key type (need EC, RSA or Ed25519)", what);
        return -EINVAL;
    }
    if (X509_check_private_key(leaf, pkey) != 1) {
        ERR_clear_error();
        report(ld, "the key does not match certificate '%s'", what);
        return -EINVAL;
    }
    if (!(c->ctx = make_ctx(ld)))
        return -EINVAL;
    bool ok = SSL_CTX_use_certificate(c->ctx, leaf) == 1;
    for (size_t i = 0; ok && i < sk_X509_num(extra); i++)
        ok = SSL_CTX_add1_chain_cert(c->ctx, sk_X509_value(extra, i)) == 1;
    // BoringSSL checks the key against the leaf here too (X509_check_private_key above gave the
    // readable error), so no SSL_CTX_check_private_key() afterwards.
    ok = ok && SSL_CTX_use_PrivateKey(c->ctx, pkey) == 1;
    if (!ok) {
        report(ld, "certificate '%s': cannot install the chain: %s", what, bssl_reason());
        return -EINVAL;
    }
    c->key_type = type;
    return 0;
}

// install_remote puts leaf and extra into a new SSL_CTX for chain c and lets the key backend
// install the key named by uri. Returns 0, 1 when the backend skipped it, or -EINVAL.
static int install_remote(struct loader *ld, const char *what, struct tls_chain *c, X509 *leaf,
                          STACK_OF(X509) * extra, const char *uri)
{
    EVP_PKEY *pub = X509_get_pubkey(leaf);
    int type = pub ? EVP_PKEY_id(pub) : EVP_PKEY_NONE;
    EVP_PKEY_free(pub);
    if (type != EVP_PKEY_EC && type != EVP_PKEY_RSA) {
        report(ld, "certificate '%s': a backend key must be EC or RSA", what);
        return -EINVAL;
    }
    if (!(c->ctx = make_ctx(ld)))
        return -EINVAL;
    bool ok = SSL_CTX_use_certificate(c->ctx, leaf) == 1;
    for (size_t i = 0; ok && i < sk_X509_num(extra); i++)
        ok = SSL_CTX_add1_chain_cert(c->ctx, sk_X509_value(extra, i)) == 1;
    if (!ok) {
        report(ld, "certificate '%s': cannot install the chain: %s", what, bssl_reason());
        return -EINVAL;
    }
    int rc = ld->t->backend(ld->t->backend_arg, c->ctx, uri, leaf, ld->file, ld->line, ld->err);
    if (rc != 0)
        return rc < 0 ? -EINVAL : 1;
    c->key_type = type;
    return 0;
}

// warn_expired warns when c's leaf has expired.
static void warn_expired(struct loader *ld, const char *what, const struct tls_chain *c)
{
    if (c->not_after < time(NULL)) {
        struct tm tm;
        char date[32] = "?";
        if (gmtime_r(&c->not_after, &tm))
            strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", &tm);
        // ATS loads expired certificates too; clients decide. Warn so operators notice.
        core_err_warn(ld->err, ld->file, ld->line, "certificate '%s' expired on %s", what, date);
    }
}

// set_expiry stores leaf's notAfter in c and warns when it has passed. Returns 0 or -EINVAL.
static int set_expiry(struct loader *ld, const char *what, struct tls_chain *c, X509 *leaf)
{
    int days = 0, secs = 0;
    ASN1_TIME *epoch = ASN1_TIME_set(NULL, 0);
    int ok = epoch && ASN1_TIME_diff(&days, &secs, epoch, X509_get0_notAfter(leaf));
    ASN1_TIME_free(epoch);
    if (!ok) {
        report(ld, "certificate '%s': unreadable notAfter: %s", what, bssl_reason());
        return -EINVAL;
    }
    c->not_after = (time_t)days * 86400 + secs;
    warn_expired(ld, what, c);
    return 0;
}

// reuse_ctx gives c the context built earlier from the same certificate, key and ssl_ca_name
// contents under the same settings, when the cache kept one. Returns true when it did. The key
// was checked against the leaf when that context was built, and neither has changed since.
static bool reuse_ctx(struct loader *ld, const char *ca_path, const struct chain_files *files,
                      struct tls_chain *c)
{
    if (!ld->reuse || !files->cert || !files->key || (files->ca == NULL) != (ca_path == NULL))
        return false;
    const struct tls_certcache_ctx *bc = tls_certcache_file_ctx(files->cert);
    if (!bc || bc->key_version != tls_certcache_file_version(files->key) ||
        bc->ca_version != (files->ca ? tls_certcache_file_version(files->ca) : 0) ||
        memcmp(bc->recipe, ld->recipe, sizeof(bc->recipe)) != 0 || !SSL_CTX_up_ref(bc->ctx))
        return false;
    c->ctx = bc->ctx;
    c->key_type = bc->key_type;
    c->not_after = bc->not_after;
    return true;
}

// keep_ctx stores c's freshly built context in the cache for the next generation.
static void keep_ctx(struct loader *ld, const struct chain_files *files, const struct tls_chain *c)
{
    if (!ld->reuse || !files->cert || !files->key)
        return;
    struct tls_certcache_ctx bc = {
        .ctx = c->ctx,
        .key_version = tls_certcache_file_version(files->key),
        .ca_version = files->ca ? tls_certcache_file_version(files->ca) : 0,
        .key_type = c->key_type,
        .not_after = c->not_after,
    };
    memcpy(bc.recipe, ld->recipe, sizeof(bc.recipe));
    tls_certcache_file_set_ctx(files->cert, &bc);
}

// chain_load loads the chain described by src into c; on success, when leaf_out is not NULL, it
// hands the leaf over (owned) in *leaf_out. Returns 0, 1 when skipped (key URI) or -EINVAL /
// -ENOMEM after reporting.
static int chain_load(struct loader *ld, const struct chain_src *src, struct tls_chain *c,
                      X509 **leaf_out)
{
    const char *what = src->cert_path ? src->cert_path : MEMORY_FILE;
    X509 *leaf = NULL;
    EVP_PKEY *pkey = NULL;
    struct chain_files files = {0};
    STACK_OF(X509) *extra = sk_X509_new_null();
    int rc = -ENOMEM;
    if (!extra) {
        report(ld, "out of memory");
        goto out;
    }
    if ((rc = load_certs(ld, src, &leaf, extra, &files)) != 0)
        goto out;
    if ((rc = load_key(ld, src, &pkey, &files.key)) < 0)
        goto out;
    if (rc == 1 && !ld->t->backend)
        goto out; // a key URI without a backend: skipped with a warning
    if (rc == 0 && reuse_ctx(ld, src->ca_path, &files, c)) {
        warn_expired(ld, what, c);
    } else {
        // A backend key is attached to its context anew each time (the signer's address is
        // resolved by this build), so only file keys are kept for reuse.
        rc = rc == 1 ? install_remote(ld, what, c, leaf, extra, src->key_path)
                     : install(ld, what, c, leaf, extra, pkey);
        if (rc != 0)
            goto out;
        if ((rc = set_expiry(ld, what, c, leaf)) != 0)
            goto out;
        if (pkey)
            keep_ctx(ld, &files, c);
    }
    if (src->cert_path && !(c->cert_path = strdup(src->cert_path))) {
        report(ld, "out of memory");
        rc = -ENOMEM;
    }
out:
    if (rc != 0) {
        SSL_CTX_free(c->ctx);
        c->ctx = NULL;
    } else if (leaf_out) {
        *leaf_out = leaf;
        leaf = NULL;
    }
    EVP_PKEY_free(pkey);
    X509_free(leaf);
    sk_X509_pop_free(extra, X509_free);
    return rc;
}

// entry_add_chain loads src as the next chain of e, refusing a second chain of one key type.
// Returns 0 (also when skipped), -EINVAL or -ENOMEM.
static int entry_add_chain(struct loader *ld, struct tls_cert_entry *e, const struct chain_src *src)
{
    struct tls_chain *c = &e->chain[e->n_chains];
    int rc = chain_load(ld, src, c, e->n_chains == 0 ? &ld->names_leaf : NULL);
    if (rc != 0)
        return rc > 0 ? 0 : rc;
    e->n_chains++;
    for (int i = 0; i < e->n_chains - 1; i++) {
        if (e->chain[i].key_type == c->key_type) {
            report(ld,
                   "certificates '%s' and '%s' have the same key type; a line holds one "
                   "chain per key type",
                   e->chain[i].cert_path ? e->chain[i].cert_path : MEMORY_FILE,
                   c->cert_path ? c->cert_path : MEMORY_FILE);
            return -EINVAL;
        }
    }
    return 0;
}

// entry_commit keeps e in the table and indexes it, or frees it when it has nothing to serve.
// Takes ownership of e. Returns 0 or -ENOMEM.
static int entry_commit(struct loader *ld, struct tls_cert_entry *e)
{
    if (!e->tunnel && e->n_chains == 0) {
        entry_free(e); // every chain was skipped (key URIs): already warned
        return 0;
    }
    int rc = entry_keep(ld->t, e);
    if (rc < 0) {
        entry_free(e);
        report(ld, "out of memory");
        return rc;
    }
    rc = index_entry(ld, e);
    if (rc < 0)
        report(ld, "out of memory");
    return rc;
}

// load_line loads one ssl_multicert.config line. Returns 0, -EINVAL or -ENOMEM.
static int load_line(struct loader *ld, const struct tls_multicert_line *l)
{
    ld->reuse = ld->t->cache && ld->t->recipe && ld->t->recipe(ld->arg, l, ld->recipe) == 0;
    struct tls_cert_entry *e = entry_new(l);
    if (!e) {
        report(ld, "out of memory");
        return -ENOMEM;
    }
    for (int i = 0; !l->tunnel && i < l->n_certs && i < TLS_MULTICERT_MAX_CHAINS; i++) {
        struct chain_src src = {
            .cert_path = l->cert[i], .key_path = l->key[i], .ca_path = l->ca[i]};
        int rc = entry_add_chain(ld, e, &src);
        if (rc < 0) {
            entry_free(e);
            return rc;
        }
    }
    return entry_commit(ld, e);
}

// loader_fini frees what ld kept while loading.
static void loader_fini(struct loader *ld)
{
    X509_free(ld->names_leaf);
    ld->names_leaf = NULL;
}

// ---- public API ----

void tls_certtable_set_key_backend(struct tls_certtable *t, tls_key_backend_fn fn, void *arg)
{
    t->backend = fn;
    t->backend_arg = arg;
}

void tls_certtable_set_cache(struct tls_certtable *t, struct tls_certcache *cache)
{
    t->cache = cache;
}

void tls_certtable_set_ctx_recipe(struct tls_certtable *t, tls_ctx_recipe_fn recipe)
{
    t->recipe = recipe;
}

struct tls_certtable *tls_certtable_new(void)
{
    return calloc(1, sizeof(struct tls_certtable));
}

int tls_certtable_add_multicert(struct tls_certtable *t, const struct tls_multicert *m,
                                tls_ctx_factory_fn factory, void *arg, struct core_err *err)
{
    int result = 0;
    if (index_reserve(&t->exact, m->n) < 0) { // most lines bring one name or more
        core_err_add(err, m->path, 0, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < m->n; i++) {
        struct loader ld = {.t = t,
                            .file = m->path,
                            .line = m->lines[i].line,
                            .opts = &m->lines[i],
                            .factory = factory,
                            .arg = arg,
                            .err = err};
        int rc = load_line(&ld, &m->lines[i]);
        loader_fini(&ld);
        if (rc == -ENOMEM)
            return rc;
        if (rc < 0)
            result = -EINVAL;
    }
    return result;
}

int tls_certtable_add_pem(struct tls_certtable *t, const struct tls_multicert_line *opts,
                          const char *cert_pem, size_t cert_len, const char *key_pem,
                          size_t key_len, tls_ctx_factory_fn factory, void *arg,
                          struct core_err *err)
{
    struct loader ld = {.t = t,
                        .file = MEMORY_FILE,
                        .line = opts ? opts->line : 0,
                        .opts = opts,
                        .factory = factory,
                        .arg = arg,
                        .err = err};
    struct chain_src src = {
        .cert_pem = cert_pem, .cert_len = cert_len, .key_pem = key_pem, .key_len = key_len};
    struct tls_cert_entry *e = entry_new(opts);
    if (!e) {
        report(&ld, "out of memory");
        return -ENOMEM;
    }
    e->tunnel = false; // a chain is being loaded: this entry serves it
    int rc = entry_add_chain(&ld, e, &src);
    if (rc < 0)
        entry_free(e);
    else
        rc = entry_commit(&ld, e);
    loader_fini(&ld);
    return rc;
}

const struct tls_cert_entry *tls_certtable_lookup(const struct tls_certtable *t, const char *sni,
                                                  const struct sockaddr *local)
{
    char name[CERTTABLE_NAME_MAX + 1];
    size_t len = sni ? strnlen(sni, sizeof(name)) : 0;
    if (len > 0 && len <= CERTTABLE_NAME_MAX) {
        for (size_t i = 0; i < len; i++)
            name[i] = (char)(sni[i] >= 'A' && sni[i] <= 'Z' ? sni[i] - 'A' + 'a' : sni[i]);
        const struct tls_cert_entry *e = index_find(&t->exact, name, len);
        if (e)
            return e;
        // Leftmost label only: the wildcard key is everything after the first dot.
        const char *dot = memchr(name, '.', len);
        if (dot && dot > name &&
            (e = index_find(&t->wild, dot + 1, len - (size_t)(dot + 1 - name))))
            return e;
    }
    if (local) {
        unsigned char key[CERTTABLE_ADDR_KEY_MAX];
        for (int with_port = 1; with_port >= 0; with_port--) {
            size_t klen = addr_key(local, with_port, key);
            const struct tls_cert_entry *e = klen ? index_find(&t->addr, key, klen) : NULL;
            if (e)
                return e;
        }
    }
    return t->dflt;
}

const struct tls_cert_entry *tls_certtable_default(const struct tls_certtable *t)
{
    return t->dflt;
}

size_t tls_certtable_count(const struct tls_certtable *t)
{
    return t->n_chains;
}

int tls_certtable_tunnel_line(const struct tls_certtable *t)
{
    for (size_t i = 0; i < t->n_entries; i++)
        if (t->entries[i]->tunnel)
            return t->entries[i]->line > 0 ? t->entries[i]->line : 1;
    return 0;
}

void tls_certtable_free(struct tls_certtable *t)
{
    if (!t)
        return;
    index_fini(&t->exact);
    index_fini(&t->wild);
    index_fini(&t->addr);
    for (size_t i = 0; i < t->n_entries; i++)
        entry_free(t->entries[i]);
    free(t->entries);
    free(t);
}
