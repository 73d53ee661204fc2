// SPDX-License-Identifier: Apache-2.0
// hooks/plugins/cert_loader: a sample plugin. In the CERT hook it serves, for an SNI name, the
// certificate DIR/NAME.pem with its key DIR/NAME.key when both exist. The files are read on a
// task thread (TS_THREAD_POOL_TASK: file I/O never blocks a worker; an optional delay makes the
// load slow on purpose for tests), kept in a small cache, and installed on the connection's SSL
// back on the connection's own worker (TS_THREAD_POOL_NET), where the TSVConn accessors are
// valid; then the hook is re-enabled. A connection that went away meanwhile is noticed there
// (TSVConnSslConnectionGet returns NULL) and the work is dropped. Names without files keep the
// certificate tlsedge chose.
//
// plugin.config: cert_loader.so DIR [DELAY_MS]
#include <ts/ts.h>

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TAG "cert_loader"
#define CACHE_MAX 64

struct entry {
    char name[256];
    X509 *cert;
    EVP_PKEY *key;
};

static char dir[PATH_MAX];
static int delay_ms;
static TSMutex cache_lock;
static struct entry cache[CACHE_MAX];
static int ncache;

// struct job: one connection's load; owned by its continuation, freed on the worker.
struct job {
    TSVConn vc;
    char name[256];
    X509 *cert;
    EVP_PKEY *key;
    int phase; // 0: load on a task thread, 1: install on the worker
};

// Finds name in the cache and takes references on its certificate and key; 1 when found.
static int cache_get(const char *name, X509 **cert, EVP_PKEY **key)
{
    int found = 0;
    TSMutexLock(cache_lock);
    for (int i = 0; i < ncache && !found; i++) {
        if (strcmp(cache[i].name, name) == 0) {
            X509_up_ref(cache[i].cert);
            EVP_PKEY_up_ref(cache[i].key);
            *cert = cache[i].cert;
            *key = cache[i].key;
            found = 1;
        }
    }
    TSMutexUnlock(cache_lock);
    return found;
}

static void cache_put(const char *name, X509 *cert, EVP_PKEY *key)
{
    TSMutexLock(cache_lock);
    if (ncache < CACHE_MAX) {
        snprintf(cache[ncache].name, sizeof(cache[ncache].name), "%s", name);
        X509_up_ref(cert);
        EVP_PKEY_up_ref(key);
        cache[ncache].cert = cert;
        cache[ncache].key = key;
        ncache++;
    }
    TSMutexUnlock(cache_lock);
}

// Task thread: reads NAME.pem and NAME.key, checks that they belong together.
static void load(struct job *j)
{
    char path[PATH_MAX + 300];
    if (delay_ms > 0) {
        struct timespec ts = {delay_ms / 1000, (long)(delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    snprintf(path, sizeof(path), "%s/%s.pem", dir, j->name);
    BIO *b = BIO_new_file(path, "r");
    j->cert = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    snprintf(path, sizeof(path), "%s/%s.key", dir, j->name);
    b = BIO_new_file(path, "r");
    j->key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (!j->cert || !j->key || !X509_check_private_key(j->cert, j->key)) {
        TSError("cert_loader: %s/%s.pem and .key cannot be used together", dir, j->name);
        X509_free(j->cert);
        EVP_PKEY_free(j->key);
        j->cert = NULL;
        j->key = NULL;
        return;
    }
    cache_put(j->name, j->cert, j->key);
    TSDebug(TAG, "loaded %s on a task thread", j->name);
}

// Owning worker: installs the certificate when the connection is still there, re-enables.
static void install(struct job *j)
{
    SSL *ssl = (SSL *)TSVConnSslConnectionGet(j->vc);
    if (!ssl) {
        TSDebug(TAG, "%s: the connection went away during the load", j->name);
        return;
    }
    if (j->cert && j->key &&
        (!SSL_use_certificate(ssl, j->cert) || !SSL_use_PrivateKey(ssl, j->key)))
        TSError("cert_loader: cannot install the certificate for %s", j->name);
    else if (j->cert)
        TSNote("cert_loader: serving %s from %s", j->name, dir);
    TSVConnReenable(j->vc);
}

static int on_job(TSCont cont, TSEvent event, void *edata)
{
    struct job *j = TSContDataGet(cont);
    if (j->phase == 0) {
        load(j);
        j->phase = 1;
        // The continuation was created on the connection's worker: NET brings it back there.
        if (TSContScheduleOnPool(cont, 0, TS_THREAD_POOL_NET))
            return 0;
        TSError("cert_loader: cannot schedule the install for %s", j->name);
    } else {
        install(j);
    }
    X509_free(j->cert);
    EVP_PKEY_free(j->key);
    TSfree(j);
    TSContDestroy(cont);
    return 0;
}

static int has_files(const char *name)
{
    char path[PATH_MAX + 300];
    snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
    return strchr(name, '/') == NULL && name[0] != '.' && access(path, R_OK) == 0;
}

static int on_cert(TSCont contp, TSEvent event, void *edata)
{
    TSVConn vc = edata;
    const char *sni = TSVConnSslSniGet(vc, NULL);
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    if (!sni || strlen(sni) >= sizeof(((struct job *)0)->name)) {
        TSVConnReenable(vc);
        return 0;
    }
    if (cache_get(sni, &cert, &key)) {
        SSL *ssl = (SSL *)TSVConnSslConnectionGet(vc);
        if (ssl && SSL_use_certificate(ssl, cert) && SSL_use_PrivateKey(ssl, key))
            TSDebug(TAG, "%s: from the cache", sni);
        X509_free(cert);
        EVP_PKEY_free(key);
        TSVConnReenable(vc);
        return 0;
    }
    if (!has_files(sni)) {
        TSVConnReenable(vc);
        return 0;
    }
    struct job *j = TSmalloc(sizeof(*j));
    memset(j, 0, sizeof(*j));
    j->vc = vc;
    snprintf(j->name, sizeof(j->name), "%s", sni);
    TSCont cont = TSContCreate(on_job, NULL);
    TSContDataSet(cont, j);
    if (!TSContScheduleOnPool(cont, 0, TS_THREAD_POOL_TASK)) {
        TSfree(j);
        TSContDestroy(cont);
        TSVConnReenable(vc);
    }
    return 0; // re-enabled by install() once the files are read
}

void TSPluginInit(int argc, const char *argv[])
{
    TSPluginRegistrationInfo info = {"cert_loader", "tlsedge", "dev@tlsedge"};
    if (TSPluginRegister(&info) != TS_SUCCESS)
        TSError("cert_loader: registration failed");
    if (argc < 2) {
        TSError("cert_loader: usage: cert_loader.so DIR [DELAY_MS]");
        return;
    }
    snprintf(dir, sizeof(dir), "%s", argv[1]);
    delay_ms = argc > 2 ? atoi(argv[2]) : 0;
    cache_lock = TSMutexCreate();
    TSHttpHookAdd(TS_SSL_CERT_HOOK, TSContCreate(on_cert, NULL));
    TSNote("cert_loader: certificates from %s (load delay %d ms)", dir, delay_ms);
}
