// SPDX-License-Identifier: Apache-2.0
// Unit tests for tls/certcache.c: a file whose settled status (device, inode, size, mtime, ctime)
// is unchanged is not read again; one whose status changed is read and hashed, and reused only
// when its contents are the same (a rename, an in-place rewrite of the same size under the same
// mtime, a removal are all noticed); entries the serving generation does not use are dropped.
// Files are copies of the fixtures ($TLSEDGE_FIXTURES) in a private directory, changed in place
// or replaced by rename by the tests. A test that needs a file's status to have settled waits
// out the settling time first (settle()).
#include "tls/certcache.h"

#include "core/err.h"
#include "tls/certtable.h"
#include "tls/multicert.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct tls_certcache *cache;
static const char *fixtures;
static char dir[PATH_MAX];

// setup makes the cache and an empty private directory.
static void setup(void)
{
    fixtures = getenv("TLSEDGE_FIXTURES");
    cr_assert_not_null(fixtures, "TLSEDGE_FIXTURES must name the fixtures directory");
    snprintf(dir, sizeof(dir), "%s/tlsedge-certcache.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    cr_assert_not_null(mkdtemp(dir));
    cache = tls_certcache_new();
    cr_assert_not_null(cache);
}

// teardown frees the cache and removes the directory and its files.
static void teardown(void)
{
    tls_certcache_free(cache);
    static const char *const names[] = {"site.pem",  "site.key", "other.pem",
                                        "other.key", "new.key",  "ssl_multicert.config"};
    char p[PATH_MAX + 32];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

TestSuite(tls_certcache, .init = setup, .fini = teardown);

// path_of returns dir/name in a static buffer (one at a time).
static const char *path_of(const char *name)
{
    static char p[PATH_MAX + 32];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return p;
}

// install copies fixture src to dir/name (replacing it in place, same inode).
static void install(const char *src, const char *name)
{
    char from[PATH_MAX + 32];
    snprintf(from, sizeof(from), "%s/%s", fixtures, src);
    FILE *in = fopen(from, "rb");
    cr_assert_not_null(in, "%s", from);
    FILE *out = fopen(path_of(name), "wb");
    cr_assert_not_null(out);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        cr_assert_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    cr_assert_eq(fclose(out), 0);
}

// settle waits until every file written so far has a settled status (ctime 20 ms in the past,
// tls_certcache_stat_settled), so that the next read may record it as such.
static void settle(void)
{
    struct timespec d = {.tv_nsec = 30000000};
    while (nanosleep(&d, &d) < 0 && errno == EINTR)
        ;
}

// set_mtime sets name's modification time to ts.
static void set_mtime(const char *name, struct timespec ts)
{
    struct timespec times[2] = {ts, ts};
    cr_assert_eq(utimensat(AT_FDCWD, path_of(name), times, 0), 0);
}

// mtime_of returns name's modification time.
static struct timespec mtime_of(const char *name)
{
    struct stat st;
    cr_assert_eq(stat(path_of(name), &st), 0);
    return st.st_mtim;
}

// read_key reads name through the cache and returns its key: the cached one, or else parsed now
// and stored. Borrowed from the cache.
static EVP_PKEY *read_key(const char *name)
{
    struct tls_certcache_file *f = NULL;
    char *data = NULL;
    size_t len = 0;
    cr_assert_eq(tls_certcache_read(cache, path_of(name), TLS_CERTCACHE_KEY, &f, &data, &len), 0,
                 "%s", name);
    EVP_PKEY *k = tls_certcache_file_key(f);
    cr_assert(k || data, "an entry without a key comes with the file's contents");
    if (!k) {
        BIO *bio = BIO_new_mem_buf(data, (int)len);
        k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        BIO_free(bio);
        cr_assert_not_null(k);
        tls_certcache_file_set_key(f, k);
    }
    tls_certcache_data_free(data, len);
    return k;
}

Test(tls_certcache, unchanged_file_is_reused)
{
    install("a.test.key", "site.key");
    settle();
    tls_certcache_begin(cache);
    EVP_PKEY *first = read_key("site.key");
    tls_certcache_commit(cache);
    tls_certcache_begin(cache);
    EVP_PKEY *second = read_key("site.key");
    tls_certcache_commit(cache);
    cr_assert_eq(first, second, "an unchanged file keeps its parsed key");
    struct tls_certcache_stats s = tls_certcache_stats(cache);
    cr_assert_eq(s.hits, 1);
    cr_assert_eq(s.stat_only, 1, "its settled status was enough: the file was not read");
    cr_assert_eq(s.misses, 0);
    cr_assert_eq(s.entries, 1);
}

Test(tls_certcache, an_unchanged_file_is_not_read_again)
{
    install("a.test.key", "site.key");
    settle();
    tls_certcache_begin(cache);
    read_key("site.key");
    tls_certcache_commit(cache);
    tls_certcache_begin(cache);
    struct tls_certcache_file *f = NULL;
    char *data = NULL;
    size_t len = 7;
    cr_assert_eq(tls_certcache_read(cache, path_of("site.key"), TLS_CERTCACHE_KEY, &f, &data, &len),
                 0);
    cr_assert_not_null(f);
    cr_assert_null(data, "nothing read");
    cr_assert_eq(len, 0);
    cr_assert_not_null(tls_certcache_file_key(f));
    // The entry holds no certificates: asking for them reads the file after all.
    cr_assert_eq(
        tls_certcache_read(cache, path_of("site.key"), TLS_CERTCACHE_CERTS, &f, &data, &len), 0);
    cr_assert_not_null(data, "the contents, to parse the certificates from");
    tls_certcache_data_free(data, len);
    struct tls_certcache_stats s = tls_certcache_stats(cache);
    cr_assert_eq(s.hits, 2);
    cr_assert_eq(s.stat_only, 1);
    tls_certcache_commit(cache);
}

Test(tls_certcache, same_contents_with_a_new_mtime_is_hashed_and_reused)
{
    install("a.test.key", "site.key");
    set_mtime("site.key", (struct timespec){.tv_sec = 1700000000});
    settle();
    tls_certcache_begin(cache);
    EVP_PKEY *first = read_key("site.key");
    tls_certcache_commit(cache);
    set_mtime("site.key", (struct timespec){.tv_sec = 1700000001}); // touch: same size, bytes
    tls_certcache_begin(cache);
    EVP_PKEY *second = read_key("site.key");
    cr_assert_eq(first, second, "the same bytes keep the parsed key");
    struct tls_certcache_stats s = tls_certcache_stats(cache);
    cr_assert_eq(s.hits, 1);
    cr_assert_eq(s.stat_only, 0, "a new status means the file is read and hashed");
    cr_assert_eq(s.misses, 0);
    tls_certcache_commit(cache);
}

Test(tls_certcache, new_contents_with_the_same_size_and_mtime_is_read_again)
{
    install("a.test.key", "site.key");
    struct timespec when = {.tv_sec = 1700000000, .tv_nsec = 5};
    set_mtime("site.key", when);
    settle(); // the recorded status has settled: only the ctime can tell the rewrite
    tls_certcache_begin(cache);
    EVP_PKEY *a = read_key("site.key");
    EVP_PKEY_up_ref(a);
    tls_certcache_commit(cache);
    struct stat st_a, st_b;
    cr_assert_eq(stat(path_of("site.key"), &st_a), 0);
    install("b.test.key", "site.key"); // another P-256 key: the same size
    set_mtime("site.key", when);
    cr_assert_eq(stat(path_of("site.key"), &st_b), 0);
    cr_assert_eq(st_a.st_size, st_b.st_size, "the fixture keys must have the same size");
    cr_assert_eq(st_a.st_ino, st_b.st_ino, "rewritten in place");
    cr_assert_eq(mtime_of("site.key").tv_nsec, 5);
    tls_certcache_begin(cache);
    EVP_PKEY *b = read_key("site.key");
    cr_assert_neq(EVP_PKEY_cmp(a, b), 1, "the new contents are parsed, not the cached key reused");
    cr_assert_eq(tls_certcache_stats(cache).misses, 1);
    tls_certcache_commit(cache);
    EVP_PKEY_free(a);
}

Test(tls_certcache, a_file_replaced_by_rename_is_read_again)
{
    install("a.test.key", "site.key");
    struct stat st_a, st_b;
    cr_assert_eq(stat(path_of("site.key"), &st_a), 0);
    settle();
    tls_certcache_begin(cache);
    EVP_PKEY *a = read_key("site.key");
    EVP_PKEY_up_ref(a);
    tls_certcache_commit(cache);
    install("b.test.key", "new.key"); // same size; then moved over the old file
    set_mtime("new.key", st_a.st_mtim);
    char to[PATH_MAX + 32];
    snprintf(to, sizeof(to), "%s", path_of("site.key"));
    cr_assert_eq(rename(path_of("new.key"), to), 0);
    cr_assert_eq(stat(path_of("site.key"), &st_b), 0);
    cr_assert_eq(st_a.st_size, st_b.st_size);
    tls_certcache_begin(cache);
    EVP_PKEY *b = read_key("site.key");
    cr_assert_neq(EVP_PKEY_cmp(a, b), 1, "the renamed-in file is parsed");
    cr_assert_eq(tls_certcache_stats(cache).misses, 1);
    tls_certcache_commit(cache);
    EVP_PKEY_free(a);
}

Test(tls_certcache, a_removed_file_is_an_error_even_when_its_entry_settled)
{
    install("a.test.key", "site.key");
    settle();
    tls_certcache_begin(cache);
    read_key("site.key");
    tls_certcache_commit(cache);
    tls_certcache_begin(cache);
    read_key("site.key"); // settled now, and read by status alone
    cr_assert_eq(tls_certcache_stats(cache).stat_only, 1);
    tls_certcache_commit(cache);
    cr_assert_eq(unlink(path_of("site.key")), 0);
    tls_certcache_begin(cache);
    struct tls_certcache_file *f = NULL;
    char *data = NULL;
    size_t len = 0;
    cr_assert_eq(tls_certcache_read(cache, path_of("site.key"), TLS_CERTCACHE_KEY, &f, &data, &len),
                 -ENOENT);
    cr_assert_null(f);
    tls_certcache_abort(cache);
}

// at returns a stat whose ctime is (sec, nsec) and whose mtime has nsec m_nsec.
static struct stat at(time_t sec, long nsec, long m_nsec)
{
    struct stat st;
    memset(&st, 0, sizeof(st));
    st.st_ctim = (struct timespec){.tv_sec = sec, .tv_nsec = nsec};
    st.st_mtim = (struct timespec){.tv_sec = sec, .tv_nsec = m_nsec};
    return st;
}

Test(tls_certcache, a_status_settles_a_granule_after_its_ctime)
{
    struct timespec now = {.tv_sec = 1700000100, .tv_nsec = 500000000};
    struct stat st = at(1700000100, 499000000, 1);
    cr_assert_not(tls_certcache_stat_settled(&st, now), "1 ms ago: the same tick, maybe");
    st = at(1700000100, 490000000, 1);
    cr_assert_not(tls_certcache_stat_settled(&st, now), "10 ms ago");
    st = at(1700000100, 480000000, 1);
    cr_assert(tls_certcache_stat_settled(&st, now), "20 ms ago");
    st = at(1700000099, 990000000, 1);
    cr_assert(tls_certcache_stat_settled(&st, now), "510 ms ago, across a second");
    st = at(1700000101, 0, 7);
    cr_assert_not(tls_certcache_stat_settled(&st, now), "a ctime after the read");
}

Test(tls_certcache, whole_second_timestamps_settle_after_two_seconds)
{
    struct timespec now = {.tv_sec = 1700000100, .tv_nsec = 900000000};
    struct stat st = at(1700000099, 0, 0);
    cr_assert_not(tls_certcache_stat_settled(&st, now),
                  "whole seconds: a change later in that second would keep the ctime");
    st = at(1700000098, 0, 0);
    cr_assert(tls_certcache_stat_settled(&st, now));
    st = at(1700000099, 0, 5);
    cr_assert(tls_certcache_stat_settled(&st, now), "an mtime with nanoseconds: a fine clock");
}

Test(tls_certcache, a_file_the_new_generation_does_not_use_is_dropped)
{
    install("a.test.key", "site.key");
    install("b.test.key", "other.key");
    tls_certcache_begin(cache);
    read_key("site.key");
    read_key("other.key");
    tls_certcache_commit(cache);
    cr_assert_eq(tls_certcache_stats(cache).entries, 2);
    cr_assert_eq(unlink(path_of("other.key")), 0);
    tls_certcache_begin(cache);
    struct tls_certcache_file *f = NULL;
    char *data = NULL;
    size_t len = 0;
    cr_assert_eq(
        tls_certcache_read(cache, path_of("other.key"), TLS_CERTCACHE_KEY, &f, &data, &len),
        -ENOENT);
    cr_assert_null(f);
    cr_assert_null(data);
    read_key("site.key");
    tls_certcache_commit(cache);
    cr_assert_eq(tls_certcache_stats(cache).entries, 1, "the deleted file left the cache");
}

Test(tls_certcache, a_failed_build_keeps_the_serving_files_and_drops_its_own)
{
    install("a.test.key", "site.key");
    install("b.test.key", "other.key");
    tls_certcache_begin(cache);
    EVP_PKEY *serving = read_key("site.key");
    tls_certcache_commit(cache);
    tls_certcache_begin(cache); // a build that reads a new file, then fails
    read_key("other.key");
    cr_assert_eq(tls_certcache_stats(cache).entries, 2);
    tls_certcache_abort(cache);
    cr_assert_eq(tls_certcache_stats(cache).entries, 1);
    tls_certcache_begin(cache);
    cr_assert_eq(read_key("site.key"), serving, "the serving generation's file is still cached");
    tls_certcache_commit(cache);
}

Test(tls_certcache, many_reloads_do_not_grow_the_cache)
{
    install("a.test.key", "site.key");
    install("b.test.key", "other.key");
    for (int i = 0; i < 50; i++) {
        tls_certcache_begin(cache);
        read_key(i % 2 ? "site.key" : "other.key");
        if (i % 3 == 0)
            tls_certcache_abort(cache);
        else
            tls_certcache_commit(cache);
        cr_assert_leq(tls_certcache_stats(cache).entries, 2);
    }
}

Test(tls_certcache, a_directory_or_a_missing_file_is_an_error)
{
    struct tls_certcache_file *f = NULL;
    char *data = NULL;
    size_t len = 0;
    tls_certcache_begin(cache);
    cr_assert_eq(tls_certcache_read(cache, dir, TLS_CERTCACHE_CERTS, &f, &data, &len), -EISDIR);
    cr_assert_eq(
        tls_certcache_read(cache, path_of("nothing"), TLS_CERTCACHE_CERTS, &f, &data, &len),
        -ENOENT);
    cr_assert_eq(tls_certcache_stats(cache).entries, 0);
    tls_certcache_abort(cache);
}

// ---- through the certificate table ----

// The settings digest the table sees (tls_ctx_recipe_fn): recipe_byte fills it; a negative
// value refuses reuse.
static int recipe_byte = 1;

static int test_recipe(void *arg, const struct tls_multicert_line *line, uint8_t out[32])
{
    if (recipe_byte < 0)
        return -1;
    memset(out, recipe_byte, 32);
    return 0;
}

// build loads dir's ssl_multicert.config into a new table that reads through the cache and
// reuses contexts under test_recipe, as a reload does, and commits the build. Returns the table
// (the caller frees it).
static struct tls_certtable *build(void)
{
    struct core_err err;
    core_err_init(&err);
    struct tls_multicert *m = tls_multicert_load(path_of("ssl_multicert.config"), dir, dir, &err);
    cr_assert_not_null(m);
    struct tls_certtable *t = tls_certtable_new();
    cr_assert_not_null(t);
    tls_certtable_set_cache(t, cache);
    tls_certtable_set_ctx_recipe(t, test_recipe);
    tls_certcache_begin(cache);
    int rc = tls_certtable_add_multicert(t, m, NULL, NULL, &err);
    tls_multicert_free(m);
    char buf[512];
    for (int i = 0; i < err.kept; i++)
        fprintf(stderr, "  %s\n", core_err_format(&err, i, buf, sizeof(buf)));
    cr_assert_eq(rc, 0);
    tls_certcache_commit(cache);
    return t;
}

// write_multicert writes text as dir's ssl_multicert.config.
static void write_multicert(const char *text)
{
    FILE *f = fopen(path_of("ssl_multicert.config"), "w");
    cr_assert_not_null(f);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

// served_key returns the private key of the chain that serves sni in t.
static EVP_PKEY *served_key(struct tls_certtable *t, const char *sni)
{
    const struct tls_cert_entry *e = tls_certtable_lookup(t, sni, NULL);
    cr_assert_not_null(e, "%s", sni);
    return SSL_CTX_get0_privatekey(e->chain[0].ctx);
}

Test(tls_certcache, a_reload_shares_unchanged_keys_and_reads_a_changed_one)
{
    install("a.test.pem", "site.pem");
    install("a.test.key", "site.key");
    install("b.test.pem", "other.pem");
    install("b.test.key", "other.key");
    write_multicert("ssl_cert_name=site.pem ssl_key_name=site.key\n"
                    "ssl_cert_name=other.pem ssl_key_name=other.key\n");
    settle();
    struct tls_certtable *t1 = build();
    install("cnonly.pem", "site.pem"); // site becomes cn.test: a new certificate and key
    install("cnonly.key", "site.key");
    struct tls_certtable *t2 = build();
    cr_assert_eq(served_key(t1, "b.test"), served_key(t2, "b.test"),
                 "the unchanged key is shared between the generations");
    cr_assert_neq(EVP_PKEY_cmp(served_key(t1, "a.test"), served_key(t2, "cn.test")), 1,
                  "the rewritten key file was parsed again");
    const struct tls_cert_entry *gone = tls_certtable_lookup(t2, "a.test", NULL);
    X509 *old_leaf =
        SSL_CTX_get0_certificate(tls_certtable_lookup(t1, "a.test", NULL)->chain[0].ctx);
    cr_assert(!gone || X509_cmp(SSL_CTX_get0_certificate(gone->chain[0].ctx), old_leaf) != 0,
              "the old certificate is not served by the new generation");
    cr_assert_eq(tls_certtable_lookup(t1, "b.test", NULL)->chain[0].ctx,
                 tls_certtable_lookup(t2, "b.test", NULL)->chain[0].ctx,
                 "the unchanged chain keeps its context");
    struct tls_certcache_stats s = tls_certcache_stats(cache);
    cr_assert_eq(s.hits, 2, "other.pem and other.key were unchanged");
    cr_assert_eq(s.stat_only, 2, "and not read");
    cr_assert_eq(s.misses, 2);
    tls_certtable_free(t1); // the old generation goes first, as after a grace period
    cr_assert_not_null(served_key(t2, "b.test"));
    tls_certtable_free(t2);
}

Test(tls_certcache, a_mismatched_key_is_refused_even_when_both_files_are_cached)
{
    install("a.test.pem", "site.pem");
    install("a.test.key", "site.key");
    install("b.test.key", "other.key");
    write_multicert("ssl_cert_name=site.pem ssl_key_name=site.key\n");
    struct tls_certtable *t1 = build();
    write_multicert("ssl_cert_name=site.pem ssl_key_name=site.key\n"
                    "ssl_cert_name=site.pem ssl_key_name=other.key\n");
    struct core_err err;
    core_err_init(&err);
    struct tls_multicert *m = tls_multicert_load(path_of("ssl_multicert.config"), dir, dir, &err);
    cr_assert_not_null(m);
    struct tls_certtable *t2 = tls_certtable_new();
    tls_certtable_set_cache(t2, cache);
    tls_certtable_set_ctx_recipe(t2, test_recipe); // site.pem's kept context has site.key
    tls_certcache_begin(cache);
    cr_assert_eq(tls_certtable_add_multicert(t2, m, NULL, NULL, &err), -EINVAL);
    tls_certcache_abort(cache);
    tls_multicert_free(m);
    bool named = false;
    for (int i = 0; i < err.kept; i++)
        named |= err.entry[i].line == 2 && strstr(err.entry[i].reason, "does not match");
    cr_assert(named, "the mismatch is reported at line 2");
    tls_certtable_free(t2);
    tls_certtable_free(t1);
}

Test(tls_certcache, a_key_inside_the_certificate_file_is_cached_with_its_certificate)
{
    install("a.test.pem", "site.pem");
    FILE *out = fopen(path_of("site.pem"), "ab");
    cr_assert_not_null(out);
    char from[PATH_MAX + 32], buf[4096];
    snprintf(from, sizeof(from), "%s/a.test.key", fixtures);
    FILE *in = fopen(from, "rb");
    cr_assert_not_null(in);
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        cr_assert_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    cr_assert_eq(fclose(out), 0);
    write_multicert("ssl_cert_name=site.pem\n");
    struct tls_certtable *t1 = build();
    cr_assert_eq(tls_certcache_stats(cache).entries, 1, "one file, one entry");
    struct tls_certtable *t2 = build();
    struct tls_certcache_stats s = tls_certcache_stats(cache);
    cr_assert_eq(s.hits, 2, "read once for the certificate, once for the key");
    cr_assert_eq(s.misses, 0);
    cr_assert_eq(served_key(t1, "a.test"), served_key(t2, "a.test"));
    tls_certtable_free(t1);
    tls_certtable_free(t2);
}

// ctx_of returns the context that serves sni in t.
static SSL_CTX *ctx_of(struct tls_certtable *t, const char *sni)
{
    const struct tls_cert_entry *e = tls_certtable_lookup(t, sni, NULL);
    cr_assert_not_null(e, "%s", sni);
    return e->chain[0].ctx;
}

Test(tls_certcache, a_context_is_reused_only_under_the_same_settings)
{
    install("a.test.pem", "site.pem");
    install("a.test.key", "site.key");
    write_multicert("ssl_cert_name=site.pem ssl_key_name=site.key\n");
    recipe_byte = 1;
    struct tls_certtable *t1 = build();
    struct tls_certtable *t2 = build();
    cr_assert_eq(ctx_of(t1, "a.test"), ctx_of(t2, "a.test"), "same files, same settings");
    recipe_byte = 2;
    struct tls_certtable *t3 = build();
    cr_assert_neq(ctx_of(t2, "a.test"), ctx_of(t3, "a.test"), "new settings, new context");
    struct tls_certtable *t4 = build();
    cr_assert_eq(ctx_of(t3, "a.test"), ctx_of(t4, "a.test"));
    recipe_byte = -1;
    struct tls_certtable *t5 = build();
    cr_assert_neq(ctx_of(t4, "a.test"), ctx_of(t5, "a.test"), "reuse refused by the recipe");
    struct tls_certtable *t6 = build();
    cr_assert_neq(ctx_of(t5, "a.test"), ctx_of(t6, "a.test"));
    recipe_byte = 1;
    struct tls_certtable *ts[] = {t1, t2, t3, t4, t5, t6};
    for (size_t i = 0; i < 6; i++)
        tls_certtable_free(ts[i]);
}

Test(tls_certcache, a_changed_ca_file_or_key_file_builds_a_new_context)
{
    install("chained.pem", "site.pem");
    install("chained.key", "site.key");
    install("chained-chain.pem", "other.pem");
    write_multicert("ssl_cert_name=site.pem ssl_key_name=site.key ssl_ca_name=other.pem\n");
    settle();
    struct tls_certtable *t1 = build();
    struct tls_certtable *t2 = build();
    cr_assert_eq(ctx_of(t1, "chained.test"), ctx_of(t2, "chained.test"));
    STACK_OF(X509) *chain = NULL;
    cr_assert(SSL_CTX_get0_chain_certs(ctx_of(t2, "chained.test"), &chain));
    cr_assert_eq(sk_X509_num(chain), 1, "the intermediate from ssl_ca_name");
    X509 *intermediate = sk_X509_value(chain, 0);
    install("ca.pem", "other.pem"); // another ssl_ca_name: the root
    struct tls_certtable *t3 = build();
    cr_assert_neq(ctx_of(t2, "chained.test"), ctx_of(t3, "chained.test"));
    cr_assert(SSL_CTX_get0_chain_certs(ctx_of(t3, "chained.test"), &chain));
    cr_assert_eq(sk_X509_num(chain), 1);
    cr_assert_neq(X509_cmp(sk_X509_value(chain, 0), intermediate), 0, "the new chain is served");
    // The same key bytes under a new status and mtime: hashed, the same version, reused.
    set_mtime("site.key", (struct timespec){.tv_sec = 1700000000});
    struct tls_certtable *t4 = build();
    cr_assert_eq(ctx_of(t3, "chained.test"), ctx_of(t4, "chained.test"));
    // A key file whose bytes change (the same key, written as PKCS#8 or not, is another file):
    // appending a newline changes the contents.
    FILE *f = fopen(path_of("site.key"), "a");
    cr_assert_not_null(f);
    fputs("\n", f);
    cr_assert_eq(fclose(f), 0);
    struct tls_certtable *t5 = build();
    cr_assert_neq(ctx_of(t4, "chained.test"), ctx_of(t5, "chained.test"), "new key bytes");
    struct tls_certtable *ts[] = {t1, t2, t3, t4, t5};
    for (size_t i = 0; i < 5; i++)
        tls_certtable_free(ts[i]);
}
