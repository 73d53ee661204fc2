// SPDX-License-Identifier: Apache-2.0
// tls/certcache.c: parsed certificate and key files kept between generations (see
// tls/certcache.h). A chained hash table from path to entry; entries carry the file's status
// and SHA-256, the objects parsed from it, and two marks for the sweep.
#include "tls/certcache.h"

#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

// How far a file's ctime must lie before the read for its status to stand for its contents
// (tls_certcache_stat_settled): a few kernel timer ticks (the timestamp clock advances by
// ticks) or filesystem granules (exFAT: 10 ms), and 2 s where timestamps keep whole seconds
// (FAT, some network filesystems).
#define SETTLE_NS 20000000L
#define SETTLE_WHOLE_SECONDS 2

#define DIRS_MAX 8

// struct file_status: what stat() tells about a file that is compared between builds.
struct file_status {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
};

// struct tls_certcache_file: one file as last read. Owned by the cache; owns its path and one
// reference to each parsed object.
struct tls_certcache_file {
    struct tls_certcache_file *next; // bucket chain
    uint64_t hash;                   // of path, for the buckets
    char *path;
    struct file_status st; // at the last read
    bool settled;          // st may stand for the contents (tls_certcache_stat_settled)
    size_t len;            // of the contents last read
    uint8_t sha256[SHA256_DIGEST_LENGTH];
    uint64_t version;            // new with each new contents
    STACK_OF(X509) * certs;      // NULL until a caller stores them
    EVP_PKEY *pkey;              // NULL until a caller stores it
    struct tls_certcache_ctx bc; // bc.ctx NULL until a caller stores one
    bool seen;                   // read by the build in progress
    bool live;                   // read by the build that is serving
};

// struct tls_certcache: the buckets (a power of two) and the build's statistics.
struct tls_certcache {
    struct tls_certcache_file **buckets;
    size_t n_buckets;
    size_t n;
    uint64_t versions; // the last version handed out
    struct tls_certcache_stats stats;
    // The directories of this build's files, opened once (O_PATH) so that each stat walks one
    // name instead of the whole path; closed when the build ends.
    struct build_dir {
        char *path; // without the trailing '/'
        int fd;     // -1: could not be opened (stat() the full path)
    } dirs[DIRS_MAX];
    size_t n_dirs;
};

// path_hash is 64-bit FNV-1a over the path's bytes.
static uint64_t path_hash(const char *p)
{
    uint64_t h = 14695981039346656037ull;
    for (; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ull;
    }
    return h;
}

// file_free drops f's references and frees it.
static void file_free(struct tls_certcache_file *f)
{
    sk_X509_pop_free(f->certs, X509_free);
    EVP_PKEY_free(f->pkey);
    SSL_CTX_free(f->bc.ctx);
    free(f->path);
    free(f);
}

// file_reset forgets what was parsed from f (its contents changed).
static void file_reset(struct tls_certcache_file *f)
{
    sk_X509_pop_free(f->certs, X509_free);
    f->certs = NULL;
    EVP_PKEY_free(f->pkey);
    f->pkey = NULL;
    SSL_CTX_free(f->bc.ctx);
    f->bc = (struct tls_certcache_ctx){0};
}

// grow doubles the buckets (rehashing every entry). Returns 0 or -ENOMEM (c unchanged).
static int grow(struct tls_certcache *c)
{
    size_t n = c->n_buckets ? c->n_buckets * 2 : 64;
    struct tls_certcache_file **b = calloc(n, sizeof(*b));
    if (!b)
        return -ENOMEM;
    for (size_t i = 0; i < c->n_buckets; i++) {
        struct tls_certcache_file *f = c->buckets[i], *next;
        for (; f; f = next) {
            next = f->next;
            f->next = b[f->hash & (n - 1)];
            b[f->hash & (n - 1)] = f;
        }
    }
    free(c->buckets);
    c->buckets = b;
    c->n_buckets = n;
    return 0;
}

// find returns the entry for path (of hash h), or NULL.
static struct tls_certcache_file *find(const struct tls_certcache *c, const char *path, uint64_t h)
{
    if (!c->n_buckets)
        return NULL;
    for (struct tls_certcache_file *f = c->buckets[h & (c->n_buckets - 1)]; f; f = f->next)
        if (f->hash == h && strcmp(f->path, path) == 0)
            return f;
    return NULL;
}

// insert returns a new entry for path (of hash h), linked into c, or NULL when out of memory.
static struct tls_certcache_file *insert(struct tls_certcache *c, const char *path, uint64_t h)
{
    if (c->n + 1 > c->n_buckets && grow(c) < 0)
        return NULL;
    struct tls_certcache_file *f = calloc(1, sizeof(*f));
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return NULL;
    }
    f->hash = h;
    f->next = c->buckets[h & (c->n_buckets - 1)];
    c->buckets[h & (c->n_buckets - 1)] = f;
    c->n++;
    return f;
}

// sweep drops every entry for which drop(f) holds, then applies keep(f) to the others.
static void sweep(struct tls_certcache *c, bool (*drop)(const struct tls_certcache_file *),
                  void (*keep)(struct tls_certcache_file *))
{
    for (size_t i = 0; i < c->n_buckets; i++) {
        struct tls_certcache_file **pp = &c->buckets[i];
        while (*pp) {
            struct tls_certcache_file *f = *pp;
            if (drop(f)) {
                *pp = f->next;
                file_free(f);
                c->n--;
            } else {
                keep(f);
                pp = &f->next;
            }
        }
    }
    c->stats.entries = c->n;
}

static bool unused_by_new(const struct tls_certcache_file *f)
{
    return !f->seen;
}

static void make_live(struct tls_certcache_file *f)
{
    f->live = true;
    f->seen = false;
}

static bool only_failed_build(const struct tls_certcache_file *f)
{
    return f->seen && !f->live;
}

static void unmark(struct tls_certcache_file *f)
{
    f->seen = false;
}

// read_fd reads the whole of fd (st_size bytes expected, but a file may change under us: read
// until EOF) into a new buffer. Returns 0 or a negative errno. A read that returns less than
// asked ends at EOF on a regular file, so a file that did not grow takes one read(2): a reload
// reads every certificate and key file, and each system call counts.
static int read_fd(int fd, const struct stat *st, char **data, size_t *len)
{
    size_t cap = (size_t)st->st_size + 1, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        if (n == cap) {
            if (cap > TLS_CERTCACHE_FILE_MAX) {
                tls_certcache_data_free(buf, n);
                return -EFBIG;
            }
            char *grown = malloc(cap * 2);
            if (!grown) {
                tls_certcache_data_free(buf, n);
                return -ENOMEM;
            }
            memcpy(grown, buf, n);
            tls_certcache_data_free(buf, n);
            buf = grown;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            tls_certcache_data_free(buf, n);
            return -e;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n < cap)
            break; // short read of a regular file: EOF
    }
    *data = buf;
    *len = n;
    return 0;
}

// read_file opens path and reads it with its stat. Returns 0 or a negative errno.
static int read_file(const char *path, struct stat *st, char **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fstat(fd, st) < 0 ? -errno : 0;
    if (rc == 0 && !S_ISREG(st->st_mode))
        rc = S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL;
    if (rc == 0 && st->st_size > (off_t)TLS_CERTCACHE_FILE_MAX)
        rc = -EFBIG;
    if (rc == 0)
        rc = read_fd(fd, st, data, len);
    close(fd);
    return rc;
}

// ---- public API ----

struct tls_certcache *tls_certcache_new(void)
{
    return calloc(1, sizeof(struct tls_certcache));
}

// close_dirs closes the directories opened by the build that ends.
static void close_dirs(struct tls_certcache *c)
{
    for (size_t i = 0; i < c->n_dirs; i++) {
        if (c->dirs[i].fd >= 0)
            close(c->dirs[i].fd);
        free(c->dirs[i].path);
    }
    c->n_dirs = 0;
}

// dir_fd returns an O_PATH descriptor of the directory of path (the first dlen bytes) opened by
// this build, or -1 (then path is stat()ed whole).
static int dir_fd(struct tls_certcache *c, const char *path, size_t dlen)
{
    for (size_t i = 0; i < c->n_dirs; i++)
        if (strlen(c->dirs[i].path) == dlen && memcmp(c->dirs[i].path, path, dlen) == 0)
            return c->dirs[i].fd;
    if (c->n_dirs == DIRS_MAX)
        return -1;
    char *dir = strndup(path, dlen);
    if (!dir)
        return -1;
    int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    c->dirs[c->n_dirs++] = (struct build_dir){.path = dir, .fd = fd};
    return fd;
}

// stat_file is stat(path), through the directory of path that this build holds open.
static int stat_file(struct tls_certcache *c, const char *path, struct stat *st)
{
    const char *slash = strrchr(path, '/');
    int fd = slash && slash > path && slash[1] ? dir_fd(c, path, (size_t)(slash - path)) : -1;
    return fd >= 0 ? fstatat(fd, slash + 1, st, 0) : stat(path, st);
}

void tls_certcache_free(struct tls_certcache *c)
{
    if (!c)
        return;
    close_dirs(c);
    for (size_t i = 0; i < c->n_buckets; i++) {
        struct tls_certcache_file *f = c->buckets[i], *next;
        for (; f; f = next) {
            next = f->next;
            file_free(f);
        }
    }
    free(c->buckets);
    free(c);
}

void tls_certcache_begin(struct tls_certcache *c)
{
    close_dirs(c);                       // a build left open
    sweep(c, only_failed_build, unmark); // nothing to drop unless a build was left open
    c->stats = (struct tls_certcache_stats){.entries = c->n};
}

void tls_certcache_commit(struct tls_certcache *c)
{
    close_dirs(c);
    sweep(c, unused_by_new, make_live);
}

void tls_certcache_abort(struct tls_certcache *c)
{
    close_dirs(c);
    sweep(c, only_failed_build, unmark);
}

struct tls_certcache_stats tls_certcache_stats(const struct tls_certcache *c)
{
    struct tls_certcache_stats s = c->stats;
    s.entries = c->n;
    return s;
}

static struct file_status status_of(const struct stat *st)
{
    return (struct file_status){.dev = st->st_dev,
                                .ino = st->st_ino,
                                .size = st->st_size,
                                .mtime = st->st_mtim,
                                .ctime = st->st_ctim};
}

static bool ts_eq(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static bool status_eq(const struct file_status *a, const struct file_status *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           ts_eq(a->mtime, b->mtime) && ts_eq(a->ctime, b->ctime);
}

static bool holds(const struct tls_certcache_file *e, enum tls_certcache_want want)
{
    return want == TLS_CERTCACHE_KEY ? e->pkey != NULL : e->certs != NULL;
}

// unchanged_by_status is true when e may be reused without reading path: its recorded status
// had settled, it holds what want asks for, and path's status is still the same.
static bool unchanged_by_status(struct tls_certcache *c, const struct tls_certcache_file *e,
                                const char *path, enum tls_certcache_want want)
{
    struct stat st;
    if (!e || !e->settled || !holds(e, want) || stat_file(c, path, &st) < 0)
        return false; // a stat failure is reported by the read that follows
    struct file_status now = status_of(&st);
    return S_ISREG(st.st_mode) && status_eq(&e->st, &now);
}

bool tls_certcache_stat_settled(const struct stat *st, struct timespec now)
{
    struct timespec ct = st->st_ctim;
    if (ct.tv_nsec == 0 && st->st_mtim.tv_nsec == 0) // whole-second timestamps
        return ct.tv_sec + SETTLE_WHOLE_SECONDS <= now.tv_sec;
    int64_t gap_ns = ((int64_t)now.tv_sec - (int64_t)ct.tv_sec) * 1000000000 +
                     ((int64_t)now.tv_nsec - (int64_t)ct.tv_nsec);
    return gap_ns >= SETTLE_NS;
}

int tls_certcache_read(struct tls_certcache *c, const char *path, enum tls_certcache_want want,
                       struct tls_certcache_file **f, char **data, size_t *len)
{
    struct stat st;
    struct timespec now;
    uint8_t sum[SHA256_DIGEST_LENGTH];
    *f = NULL;
    *data = NULL;
    *len = 0;
    uint64_t h = path_hash(path);
    struct tls_certcache_file *e = find(c, path, h);
    if (unchanged_by_status(c, e, path, want)) {
        c->stats.hits++;
        c->stats.stat_only++;
        e->seen = true;
        *f = e;
        return 0;
    }
    // The kernel stamps files from the coarse real-time clock: taken before the open, any change
    // made after this read gets a ctime at or after now.
    clock_gettime(CLOCK_REALTIME_COARSE, &now);
    int rc = read_file(path, &st, data, len);
    if (rc < 0)
        return rc;
    SHA256((const uint8_t *)*data, *len, sum);
    bool same = e && e->len == *len && CRYPTO_memcmp(e->sha256, sum, sizeof(sum)) == 0;
    if (!e && !(e = insert(c, path, h))) {
        tls_certcache_data_free(*data, *len);
        *data = NULL;
        *len = 0;
        return -ENOMEM;
    }
    if (same) {
        c->stats.hits++; // unchanged contents: a touch, or a status not yet settled
    } else {
        // A new or changed file. The serving generation keeps its own references to what was
        // parsed from the old contents; the cache forgets them.
        file_reset(e);
        e->version = ++c->versions;
        e->len = *len;
        memcpy(e->sha256, sum, sizeof(sum));
        e->live = false;
        c->stats.misses++;
    }
    e->st = status_of(&st);
    e->settled = tls_certcache_stat_settled(&st, now);
    e->seen = true;
    *f = e;
    return 0;
}

void tls_certcache_data_free(char *data, size_t len)
{
    if (!data)
        return;
    OPENSSL_cleanse(data, len);
    free(data);
}

STACK_OF(X509) * tls_certcache_file_certs(const struct tls_certcache_file *f)
{
    return f->certs;
}

void tls_certcache_file_set_certs(struct tls_certcache_file *f, STACK_OF(X509) * certs)
{
    sk_X509_pop_free(f->certs, X509_free);
    f->certs = certs;
}

EVP_PKEY *tls_certcache_file_key(const struct tls_certcache_file *f)
{
    return f->pkey;
}

void tls_certcache_file_set_key(struct tls_certcache_file *f, EVP_PKEY *pkey)
{
    EVP_PKEY_free(f->pkey);
    f->pkey = pkey;
}

uint64_t tls_certcache_file_version(const struct tls_certcache_file *f)
{
    return f->version;
}

const struct tls_certcache_ctx *tls_certcache_file_ctx(const struct tls_certcache_file *f)
{
    return f->bc.ctx ? &f->bc : NULL;
}

void tls_certcache_file_set_ctx(struct tls_certcache_file *f, const struct tls_certcache_ctx *bc)
{
    SSL_CTX_up_ref(bc->ctx);
    SSL_CTX_free(f->bc.ctx);
    f->bc = *bc;
}
