// SPDX-License-Identifier: Apache-2.0
// tls/origin.c: client-side TLS settings, origin certificate verification and origin session
// resumption (see tls/origin.h).
#include "tls/origin.h"
#include "core/err.h"
#include "core/records.h"
#include "core/stats.h"
#include "tls/hook.h"
#include "tls/sesscache.h"
#include "tls/sni.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/mem.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

// Debian's bundle of the system's trusted CAs (package ca-certificates): used when no CA is
// configured, as ATS falls back to the TLS library's default paths.
#define SYSTEM_CA_FILE "/etc/ssl/certs/ca-certificates.crt"

static const struct core_rec_decl records[] = {
    {"proxy.config.ssl.client.verify.server", CORE_REC_INT, "1"},
    {"proxy.config.ssl.client.verify.server.policy", CORE_REC_STRING, "ENFORCED"},
    {"proxy.config.ssl.client.verify.server.properties", CORE_REC_STRING, "ALL"},
    {"proxy.config.ssl.client.CA.cert.filename", CORE_REC_STRING, ""},
    {"proxy.config.ssl.client.CA.cert.path", CORE_REC_STRING, ""},
    {"proxy.config.ssl.client.cert.filename", CORE_REC_STRING, ""},
    {"proxy.config.ssl.client.cert.path", CORE_REC_STRING, ""},
    {"proxy.config.ssl.client.private_key.filename", CORE_REC_STRING, ""},
    {"proxy.config.ssl.client.private_key.path", CORE_REC_STRING, ""},
    {"proxy.config.ssl.client.sni_policy", CORE_REC_STRING, "host"},
    {"proxy.config.ssl.client.TLSv1_2", CORE_REC_INT, "1"},
    {"proxy.config.ssl.client.TLSv1_3", CORE_REC_INT, "1"},
    {"proxy.config.ssl.client.cipher_suite", CORE_REC_STRING, ""},
    {"proxy.config.ssl.client.groups_list", CORE_REC_STRING, ""},
    {"proxy.config.tlsedge.client.verify_depth", CORE_REC_INT, "7"},
    {"proxy.config.ssl.origin_session_cache", CORE_REC_INT, "1"},
    {"proxy.config.ssl.origin_session_cache.size", CORE_REC_INT, "10240"},
};

static struct {
    int attempts, success, verify_failed, expired, unknown_ca, bad_name, other, hit, miss;
} st = {-1, -1, -1, -1, -1, -1, -1, -1, -1};

// ex_data slots: the SSL's verdict, pool key and expected name; the SSL_CTX's verify_ctx.
static int ex_verdict = -1, ex_key = -1, ex_name = -1, ex_ctx_verify = -1;
static struct tls_sesscache *sessions; // origin sessions, process-wide (survive reloads)

// The last store loaded, reused while its source is unchanged: parsing the system bundle takes
// ~25 ms, which every reload would otherwise pay. Main thread only.
static struct {
    X509_STORE *store;
    char id[PATH_MAX + 64];
} last_store;

int tls_origin_config_declare(struct core_records *rec)
{
    return core_records_declare_all(rec, records, sizeof(records) / sizeof(records[0]));
}

void tls_origin_stats_register(void)
{
    st.attempts = core_stat_register("proxy.process.ssl.total_attempts_handshake_count_out");
    st.success = core_stat_register("proxy.process.ssl.total_success_handshake_count_out");
    st.verify_failed = core_stat_register("proxy.process.ssl.origin_server_cert_verify_failed");
    st.expired = core_stat_register("proxy.process.ssl.origin_server_expired_cert");
    st.unknown_ca = core_stat_register("proxy.process.ssl.origin_server_unknown_ca");
    st.bad_name = core_stat_register("proxy.process.tlsedge.origin_server_name_mismatch");
    st.other = core_stat_register("proxy.process.ssl.origin_server_other_errors");
    st.hit = core_stat_register("proxy.process.ssl.ssl_origin_session_cache_hit");
    st.miss = core_stat_register("proxy.process.ssl.ssl_origin_session_cache_miss");
}

// ---- verification ----

static enum tls_verify_verdict verdict_of(int x509_err)
{
    switch (x509_err) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return TLS_VERDICT_NAME;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return TLS_VERDICT_EXPIRED;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        return TLS_VERDICT_UNKNOWN_CA;
    default:
        return TLS_VERDICT_INVALID;
    }
}

const char *tls_origin_verdict_name(enum tls_verify_verdict v)
{
    static const char *const names[] = {
        [TLS_VERDICT_NONE] = "not verified",
        [TLS_VERDICT_OK] = "verified",
        [TLS_VERDICT_NAME] = "certificate does not name the origin",
        [TLS_VERDICT_EXPIRED] = "certificate expired or not yet valid",
        [TLS_VERDICT_UNKNOWN_CA] = "unknown CA",
        [TLS_VERDICT_INVALID] = "invalid certificate chain",
        [TLS_VERDICT_PLUGIN] = "rejected by a VERIFY_SERVER plugin",
    };
    return (unsigned)v < sizeof(names) / sizeof(names[0]) ? names[v] : "?";
}

enum tls_verify_verdict tls_origin_verdict(const SSL *ssl)
{
    return (enum tls_verify_verdict)(intptr_t)SSL_get_ex_data(ssl, ex_verdict);
}

// struct verify_ctx: what the custom verification needs, hung on the profile's SSL_CTX (owned by
// it, freed with it: an SSL made before a reload keeps working after its configuration went).
struct verify_ctx {
    enum tls_verify_policy policy;
    unsigned props;
    X509_STORE *store; // one reference
    int depth;
};

// Checks the name only (properties NAME without SIGNATURE): the leaf against name.
static enum tls_verify_verdict check_name(X509 *leaf, const char *name)
{
    unsigned char ip[16];
    if (inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1)
        return X509_check_ip_asc(leaf, name, 0) == 1 ? TLS_VERDICT_OK : TLS_VERDICT_NAME;
    return X509_check_host(leaf, name, strlen(name), 0, NULL) == 1 ? TLS_VERDICT_OK
                                                                   : TLS_VERDICT_NAME;
}

// Verifies the peer's chain against the store, and its name when asked.
static enum tls_verify_verdict check_chain(const struct verify_ctx *v, SSL *ssl, X509 *leaf,
                                           const char *name, bool with_name)
{
    X509_STORE_CTX *xs = X509_STORE_CTX_new();
    enum tls_verify_verdict out = TLS_VERDICT_INVALID;
    if (!xs || !X509_STORE_CTX_init(xs, v->store, leaf, SSL_get_peer_cert_chain(ssl)))
        goto done;
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(xs);
    X509_VERIFY_PARAM_set_depth(param, v->depth);
    X509_STORE_CTX_set_default(xs, "ssl_server");
    if (with_name && name) {
        unsigned char ip[16];
        bool is_ip = inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;
        if (!(is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name)
                    : X509_VERIFY_PARAM_set1_host(param, name, strlen(name))))
            goto done;
    }
    out = X509_verify_cert(xs) == 1 ? TLS_VERDICT_OK
                                    : verdict_of(X509_STORE_CTX_get_error(xs));
done:
    X509_STORE_CTX_free(xs);
    ERR_clear_error();
    return out;
}

// The VERIFY_SERVER plugins' say, once the built-in checks passed (or PERMISSIVE let a failure
// through): they may fail the certificate (TS_EVENT_ERROR), and with verify.server 2 take their
// time (ssl_verify_retry: SSL_do_handshake reports SSL_ERROR_WANT_CERTIFICATE_VERIFY until
// tls_out_hook_done, then BoringSSL calls verify_cb again and this answers from the progress).
// As in ATS, a plugin's failure under PERMISSIVE without verify.server 2 is logged, not fatal.
static enum ssl_verify_result_t hooks_verdict(SSL *ssl, struct tls_out *o,
                                              const struct verify_ctx *v, uint8_t *out_alert)
{
    switch (tls_out_gate(o, TLS_HOOK_VERIFY_SERVER)) {
    case TLS_HOOK_GO:
        return ssl_verify_ok;
    case TLS_HOOK_WAIT:
        return ssl_verify_retry;
    case TLS_HOOK_FAIL:
        break;
    }
    SSL_set_ex_data(ssl, ex_verdict, (void *)(intptr_t)TLS_VERDICT_PLUGIN);
    if (v->policy == TLS_VERIFY_PERMISSIVE && !tls_out_pausing(o, TLS_HOOK_VERIFY_SERVER))
        return ssl_verify_ok; // the caller logs the verdict and goes on
    *out_alert = SSL_AD_BAD_CERTIFICATE;
    return ssl_verify_invalid;
}

// Gives the VERIFY_SERVER plugins the origin's chain (TSVConnSslVerifyCTXGet), unverified: a
// context initialised with the trusted store, the leaf and the chain the origin sent.
static void lend_chain(SSL *ssl, struct tls_out *o, const struct verify_ctx *v)
{
    struct tls_conn_hooks *hk = tls_out_hooks(o);
    X509 *leaf = SSL_get_peer_certificate(ssl);
    X509_STORE_CTX *xs = leaf ? X509_STORE_CTX_new() : NULL;
    if (xs && X509_STORE_CTX_init(xs, v->store, leaf, SSL_get_peer_cert_chain(ssl)) &&
        !hk->verify_ctx) {
        hk->verify_ctx = xs;
        xs = NULL;
    }
    X509_STORE_CTX_free(xs);
    X509_free(leaf);
    ERR_clear_error();
}

static enum ssl_verify_result_t verify_cb(SSL *ssl, uint8_t *out_alert)
{
    const struct verify_ctx *v = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_ctx_verify);
    const char *name = SSL_get_ex_data(ssl, ex_name);
    struct tls_out *o = tls_out_of(ssl);
    if (o && tls_out_hooks(o)->progress[TLS_HOOK_VERIFY_SERVER] != TLS_HOOK_NONE)
        return hooks_verdict(ssl, o, v, out_alert); // called again after a pause
    enum tls_verify_verdict verdict = TLS_VERDICT_NONE; // DISABLED: nothing checked
    if (v->policy != TLS_VERIFY_DISABLED) {
        X509 *leaf = SSL_get_peer_certificate(ssl);
        unsigned props = v->props;
        verdict = TLS_VERDICT_INVALID;
        if (leaf && (props & TLS_VERIFY_SIGNATURE))
            verdict = check_chain(v, ssl, leaf, name, (props & TLS_VERIFY_NAME) != 0);
        else if (leaf && (props & TLS_VERIFY_NAME))
            verdict = name ? check_name(leaf, name) : TLS_VERDICT_OK;
        else if (leaf)
            verdict = TLS_VERDICT_NONE;
        X509_free(leaf);
    }
    SSL_set_ex_data(ssl, ex_verdict, (void *)(intptr_t)verdict);
    bool good = verdict == TLS_VERDICT_OK || verdict == TLS_VERDICT_NONE;
    if (!good && v->policy == TLS_VERIFY_ENFORCED) {
        *out_alert = verdict == TLS_VERDICT_EXPIRED      ? SSL_AD_CERTIFICATE_EXPIRED
                     : verdict == TLS_VERDICT_UNKNOWN_CA ? SSL_AD_UNKNOWN_CA
                                                         : SSL_AD_BAD_CERTIFICATE;
        return ssl_verify_invalid; // as in ATS, the plugins see only what the checks let by
    }
    if (!o)
        return ssl_verify_ok; // PERMISSIVE: the caller logs the verdict and goes on
    lend_chain(ssl, o, v);
    return hooks_verdict(ssl, o, v, out_alert);
}

void tls_origin_count_result(const SSL *ssl, bool ok)
{
    core_stat_inc(st.attempts);
    if (ok)
        core_stat_inc(st.success);
    switch (tls_origin_verdict(ssl)) {
    case TLS_VERDICT_NAME:
        core_stat_inc(st.verify_failed);
        core_stat_inc(st.bad_name);
        break;
    case TLS_VERDICT_EXPIRED:
        core_stat_inc(st.verify_failed);
        core_stat_inc(st.expired);
        break;
    case TLS_VERDICT_UNKNOWN_CA:
        core_stat_inc(st.verify_failed);
        core_stat_inc(st.unknown_ca);
        break;
    case TLS_VERDICT_INVALID:
    case TLS_VERDICT_PLUGIN:
        core_stat_inc(st.verify_failed);
        break;
    default:
        if (!ok)
            core_stat_inc(st.other);
    }
}

// ---- origin sessions ----

static void key_id(const char *key, uint8_t id[32])
{
    SHA256((const uint8_t *)key, strlen(key), id);
}

static int new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
    const char *key = SSL_get_ex_data(ssl, ex_key);
    uint8_t *bytes = NULL, id[32];
    size_t len = 0;
    if (!key || !sessions || !SSL_SESSION_is_resumable(sess) ||
        !SSL_SESSION_to_bytes(sess, &bytes, &len))
        return 0;
    key_id(key, id);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    tls_sesscache_put(sessions, id, sizeof(id), bytes, len, (uint64_t)now.tv_sec);
    OPENSSL_cleanse(bytes, len);
    OPENSSL_free(bytes);
    return 0;
}

// Offers the stored session for key, if any.
static void offer_session(SSL *ssl, const char *key)
{
    uint8_t *bytes = NULL, id[32];
    size_t len = 0;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    key_id(key, id);
    if (tls_sesscache_get(sessions, id, sizeof(id), &bytes, &len, (uint64_t)now.tv_sec) < 0) {
        core_stat_inc(st.miss);
        return;
    }
    SSL_SESSION *s = SSL_SESSION_from_bytes(bytes, len, SSL_get_SSL_CTX(ssl));
    OPENSSL_cleanse(bytes, len);
    free(bytes);
    core_stat_inc(s ? st.hit : st.miss);
    if (s)
        SSL_set_session(ssl, s);
    SSL_SESSION_free(s);
}

void tls_origin_sessions_free(void)
{
    tls_sesscache_free(sessions);
    sessions = NULL;
    X509_STORE_free(last_store.store);
    last_store.store = NULL;
}

// ---- per connection ----

int tls_origin_key(const struct tls_origin_profile *p, const char *ip, uint16_t port,
                   const char *sni, char *out, size_t len)
{
    int n = snprintf(out, len, "%s|%u|%s|%02x%02x%02x%02x%02x%02x%02x%02x", ip, (unsigned)port,
                     sni ? sni : "", p->id[0], p->id[1], p->id[2], p->id[3], p->id[4], p->id[5],
                     p->id[6], p->id[7]);
    return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

static bool is_ip_literal(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static void ex_free_str(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int index, long argl,
                        void *argp)
{
    free(ptr);
}

void tls_origin_ssl_free(SSL *ssl)
{
    if (!ssl)
        return;
    tls_out_close(ssl);
    SSL_free(ssl);
}

SSL *tls_origin_ssl_new(const struct tls_origin_config *c, const struct tls_origin_profile *p,
                        const char *sni, const char *name, const char *key)
{
    SSL *ssl = SSL_new(p->ctx);
    char *kcopy = key ? strdup(key) : NULL;
    char *ncopy = name ? strdup(name) : NULL;
    if (!ssl || (key && !kcopy) || (name && !ncopy))
        goto fail;
    SSL_set_connect_state(ssl);
    // Each copy is owned by the SSL once stored (its slot frees it with the SSL).
    if (kcopy && !SSL_set_ex_data(ssl, ex_key, kcopy))
        goto fail;
    kcopy = NULL;
    if (ncopy && !SSL_set_ex_data(ssl, ex_name, ncopy))
        goto fail;
    ncopy = NULL;
    if (sni && sni[0] && !is_ip_literal(sni) && !SSL_set_tlsext_host_name(ssl, sni))
        goto fail;
    if (key && c->session_cache && sessions)
        offer_session(ssl, key);
    return ssl;
fail:
    free(kcopy);
    free(ncopy);
    SSL_free(ssl);
    return NULL;
}

// ---- configuration ----

static void ex_free_vctx(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int index, long argl,
                         void *argp)
{
    struct verify_ctx *v = ptr;
    if (v)
        X509_STORE_free(v->store);
    free(v);
}

// Made once, on the main thread, before any SSL exists.
static int ex_indices(void)
{
    if (ex_verdict < 0)
        ex_verdict = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    if (ex_key < 0)
        ex_key = SSL_get_ex_new_index(0, NULL, NULL, NULL, ex_free_str);
    if (ex_name < 0)
        ex_name = SSL_get_ex_new_index(0, NULL, NULL, NULL, ex_free_str);
    if (ex_ctx_verify < 0)
        ex_ctx_verify = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, ex_free_vctx);
    return ex_verdict < 0 || ex_key < 0 || ex_name < 0 || ex_ctx_verify < 0 ? -ENOMEM : 0;
}

static char *join(const char *confdir, const char *dir, const char *file)
{
    char buf[PATH_MAX];
    const char *base = dir[0] ? dir : confdir ? confdir : ".";
    if (file[0] == '/')
        snprintf(buf, sizeof(buf), "%s", file);
    else if (base[0] != '/' && confdir && dir[0])
        snprintf(buf, sizeof(buf), "%s/%s/%s", confdir, base, file);
    else
        snprintf(buf, sizeof(buf), "%s/%s", base, file);
    return strdup(buf);
}

static int parse_policy(const char *s, enum tls_verify_policy *out)
{
    static const char *const names[] = {"DISABLED", "PERMISSIVE", "ENFORCED"};
    for (int i = 0; i < 3; i++)
        if (strcasecmp(s, names[i]) == 0) {
            *out = (enum tls_verify_policy)i;
            return 0;
        }
    return -EINVAL;
}

static int parse_props(const char *s, unsigned *out)
{
    static const struct {
        const char *name;
        unsigned bits;
    } names[] = {{"NONE", 0},
                 {"SIGNATURE", TLS_VERIFY_SIGNATURE},
                 {"NAME", TLS_VERIFY_NAME},
                 {"ALL", TLS_VERIFY_SIGNATURE | TLS_VERIFY_NAME}};
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].bits;
            return 0;
        }
    return -EINVAL;
}

static int parse_sni(const char *s, enum tls_sni_policy *out)
{
    static const char *const names[] = {"host", "server_name", "remap"};
    for (int i = 0; i < 3; i++)
        if (strcasecmp(s, names[i]) == 0) {
            *out = (enum tls_sni_policy)i;
            return 0;
        }
    return -EINVAL;
}

// Policy and properties: the 9.2 names decide when set; else the seeds' verify.server INT
// (0 DISABLED, 1 ENFORCED, 2 ENFORCED with plugins deciding).
static int read_policy(const struct core_records *rec, struct tls_origin_config *c,
                       struct core_err *err)
{
    const char *pn = "proxy.config.ssl.client.verify.server.policy";
    const char *rn = "proxy.config.ssl.client.verify.server.properties";
    const char *vn = "proxy.config.ssl.client.verify.server";
    int64_t legacy = core_records_get_int(rec, vn);
    if (legacy < 0 || legacy > 2) {
        core_err_add(err, "records.config", 0, "%s must be 0, 1 or 2", vn);
        return -EINVAL;
    }
    c->hooks_decide = legacy == 2;
    bool explicit = core_records_is_set(rec, pn) || core_records_is_set(rec, rn);
    if (explicit && core_records_is_set(rec, vn))
        core_err_warn(err, "records.config", 0,
                      "%s and %s decide the built-in checks; %s only %s", pn, rn, vn,
                      legacy == 2 ? "makes VERIFY_SERVER hooks decide" : "is ignored");
    if (!explicit) {
        c->global.policy = legacy == 0 ? TLS_VERIFY_DISABLED : TLS_VERIFY_ENFORCED;
        c->global.props = TLS_VERIFY_SIGNATURE | TLS_VERIFY_NAME;
        return 0;
    }
    if (parse_policy(core_records_get_str(rec, pn), &c->global.policy) < 0) {
        core_err_add(err, "records.config", 0, "%s: '%s' is not DISABLED, PERMISSIVE or ENFORCED",
                     pn, core_records_get_str(rec, pn));
        return -EINVAL;
    }
    if (parse_props(core_records_get_str(rec, rn), &c->global.props) < 0) {
        core_err_add(err, "records.config", 0, "%s: '%s' is not NONE, SIGNATURE, NAME or ALL", rn,
                     core_records_get_str(rec, rn));
        return -EINVAL;
    }
    return 0;
}

// Names the store's source and its state: path(s), size and mtime.
static void store_id(const char *f, const char *d, char *out, size_t len)
{
    const char *p = f ? f : d ? d : SYSTEM_CA_FILE;
    struct stat sb;
    if (stat(p, &sb) < 0)
        memset(&sb, 0, sizeof(sb));
    snprintf(out, len, "%s|%s|%lld|%lld.%09ld", f ? "f" : d ? "d" : "s", p,
             (long long)sb.st_size, (long long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec);
}

// The trusted CAs: the configured file or directory, else the system bundle.
static int load_store(const struct core_records *rec, const char *confdir,
                      struct tls_origin_config *c, struct core_err *err)
{
    const char *file = core_records_get_str(rec, "proxy.config.ssl.client.CA.cert.filename");
    const char *dir = core_records_get_str(rec, "proxy.config.ssl.client.CA.cert.path");
    char *f = file[0] ? join(confdir, dir, file) : NULL;
    char *d = !file[0] && dir[0] ? join(confdir, "", dir) : NULL;
    char id[sizeof(last_store.id)];
    store_id(f, d, id, sizeof(id));
    if (last_store.store && strcmp(id, last_store.id) == 0) {
        X509_STORE_up_ref(last_store.store);
        c->store = last_store.store;
        free(f);
        free(d);
        return 0;
    }
    c->store = X509_STORE_new();
    if (!c->store) {
        free(f);
        free(d);
        return -ENOMEM;
    }
    int rc = 0;
    if (f && !X509_STORE_load_locations(c->store, f, NULL)) {
        core_err_add(err, f, 0, "proxy.config.ssl.client.CA.cert.filename: no CA certificate "
                                "could be read from this file");
        rc = -EINVAL;
    } else if (d && !X509_STORE_load_locations(c->store, NULL, d)) {
        core_err_add(err, d, 0, "proxy.config.ssl.client.CA.cert.path: not a directory");
        rc = -EINVAL;
    } else if (!f && !d && access(SYSTEM_CA_FILE, R_OK) == 0) {
        X509_STORE_load_locations(c->store, SYSTEM_CA_FILE, NULL);
    }
    ERR_clear_error();
    free(f);
    free(d);
    if (rc == 0) {
        X509_STORE_free(last_store.store);
        X509_STORE_up_ref(c->store);
        last_store.store = c->store;
        snprintf(last_store.id, sizeof(last_store.id), "%s", id);
    }
    return rc;
}

// The client certificate and key for origins that ask for one.
// The global client certificate files from records.config (*cert NULL: none).
static void client_cert_paths(const struct core_records *rec, const char *confdir, char **cert,
                              char **key)
{
    const char *cf = core_records_get_str(rec, "proxy.config.ssl.client.cert.filename");
    const char *kf = core_records_get_str(rec, "proxy.config.ssl.client.private_key.filename");
    *cert = *key = NULL;
    if (!cf[0])
        return;
    *cert = join(confdir, core_records_get_str(rec, "proxy.config.ssl.client.cert.path"), cf);
    *key = kf[0] ? join(confdir,
                        core_records_get_str(rec, "proxy.config.ssl.client.private_key.path"), kf)
                 : NULL;
}

// Installs the client certificate cert and key (NULL: in cert) into ctx; id receives the
// certificate's SHA-256 (for pool keys). Errors name the files.
static int load_client_cert(SSL_CTX *ctx, const char *cert_path, const char *key_path,
                            uint8_t id[32], struct core_err *err)
{
    if (!cert_path)
        return 0;
    char *cert = strdup(cert_path);
    char *key = strdup(key_path ? key_path : cert_path);
    int rc = -EINVAL;
    if (!cert || !key) {
        rc = -ENOMEM;
    } else if (!SSL_CTX_use_certificate_chain_file(ctx, cert)) {
        core_err_add(err, cert, 0, "proxy.config.ssl.client.cert.filename: cannot read the "
                                   "client certificate");
    } else if (!SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM)) {
        core_err_add(err, key, 0, "cannot read the client private key, or it does not match %s",
                     cert);
    } else if (!SSL_CTX_check_private_key(ctx)) {
        core_err_add(err, key, 0, "the client private key does not match %s", cert);
    } else {
        uint8_t *der = NULL;
        int len = i2d_X509(SSL_CTX_get0_certificate(ctx), &der);
        if (len > 0)
            SHA256(der, (size_t)len, id);
        OPENSSL_free(der);
        rc = 0;
    }
    ERR_clear_error();
    free(cert);
    free(key);
    return rc;
}

static int versions(const struct core_records *rec, SSL_CTX *ctx, struct core_err *err)
{
    bool v12 = core_records_get_int(rec, "proxy.config.ssl.client.TLSv1_2") != 0;
    bool v13 = core_records_get_int(rec, "proxy.config.ssl.client.TLSv1_3") != 0;
    if (!v12 && !v13) {
        core_err_add(err, "records.config", 0, "every client TLS version to origins is disabled");
        return -EINVAL;
    }
    SSL_CTX_set_min_proto_version(ctx, v12 ? TLS1_2_VERSION : TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, v13 ? TLS1_3_VERSION : TLS1_2_VERSION);
    const char *ciphers = core_records_get_str(rec, "proxy.config.ssl.client.cipher_suite");
    const char *groups = core_records_get_str(rec, "proxy.config.ssl.client.groups_list");
    if (ciphers[0] && !SSL_CTX_set_strict_cipher_list(ctx, ciphers)) {
        core_err_add(err, "records.config", 0,
                     "proxy.config.ssl.client.cipher_suite: not a valid cipher list: %s", ciphers);
        return -EINVAL;
    }
    if (groups[0] && !SSL_CTX_set1_curves_list(ctx, groups)) {
        core_err_add(err, "records.config", 0,
                     "proxy.config.ssl.client.groups_list: unknown group in '%s'", groups);
        return -EINVAL;
    }
    return 0;
}

// Makes the global profile's client context.
// Makes profile p's client context: p->policy and p->props are set; cert/key may be NULL.
static int make_profile(const struct core_records *rec, struct tls_origin_config *c,
                        struct tls_origin_profile *p, const char *cert, const char *key,
                        struct core_err *err)
{
    uint8_t id[32] = {0};
    struct verify_ctx *v = calloc(1, sizeof(*v));
    p->ctx = SSL_CTX_new(TLS_method());
    if (!p->ctx || !v) {
        free(v);
        return -ENOMEM;
    }
    v->policy = p->policy;
    v->props = p->props;
    v->depth = c->verify_depth;
    v->store = c->store;
    X509_STORE_up_ref(c->store);
    if (!SSL_CTX_set_ex_data(p->ctx, ex_ctx_verify, v)) {
        ex_free_vctx(NULL, v, NULL, 0, 0, NULL);
        return -ENOMEM;
    }
    int rc = versions(rec, p->ctx, err);
    if (rc == 0)
        rc = load_client_cert(p->ctx, cert, key, id, err);
    if (rc < 0)
        return rc;
    id[30] ^= (uint8_t)p->policy;
    id[31] ^= (uint8_t)p->props;
    memcpy(p->id, id + 24, sizeof(p->id));
    // SSL_VERIFY_PEER whatever the policy: verify_cb passes what DISABLED does not check, and a
    // VERIFY_SERVER plugin's failure must end the handshake (SSL_VERIFY_NONE would ignore it).
    SSL_CTX_set_custom_verify(p->ctx, SSL_VERIFY_PEER, verify_cb);
    static const uint8_t alpn[] = "\x08http/1.1";
    if (SSL_CTX_set_alpn_protos(p->ctx, alpn, sizeof(alpn) - 1) != 0)
        return -ENOMEM;
    // The proxy's flows may retry a write from a moved buffer, and accept partial writes.
    SSL_CTX_set_mode(p->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_session_cache_mode(p->ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(p->ctx, new_session_cb);
    return 0;
}

// One profile per sni.yaml entry with outbound keys; the global settings fill the gaps.
static int sni_profiles(const struct core_records *rec, struct tls_origin_config *c,
                        const struct tls_sni_config *sni, const char *cert, const char *key,
                        struct core_err *err)
{
    if (!sni || sni->n == 0)
        return 0;
    c->by_sni = calloc(sni->n, sizeof(*c->by_sni));
    if (!c->by_sni)
        return -ENOMEM;
    c->n_by_sni = sni->n;
    for (size_t i = 0; i < sni->n; i++) {
        const struct tls_sni_entry *e = &sni->entry[i];
        struct tls_origin_profile *p = &c->by_sni[i];
        if (!e->client_cert && !e->verify_server_policy && !e->verify_server_properties)
            continue;
        p->policy = c->global.policy;
        p->props = c->global.props;
        if ((e->verify_server_policy && parse_policy(e->verify_server_policy, &p->policy) < 0) ||
            (e->verify_server_properties &&
             parse_props(e->verify_server_properties, &p->props) < 0)) {
            core_err_add(err, "sni.yaml", e->out_line,
                         "verify_server_policy/properties: unknown value for fqdn %s", e->fqdn);
            return -EINVAL;
        }
        if (make_profile(rec, c, p, e->client_cert ? e->client_cert : cert,
                         e->client_cert ? e->client_key : key, err) < 0)
            return -EINVAL;
    }
    return 0;
}

const struct tls_origin_profile *tls_origin_profile_for(const struct tls_origin_config *c,
                                                        const struct tls_sni_config *sni,
                                                        const char *name)
{
    const struct tls_sni_entry *e = name ? tls_sni_lookup(sni, name) : NULL;
    size_t i = e ? (size_t)(e - sni->entry) : SIZE_MAX;
    return i < c->n_by_sni && c->by_sni[i].ctx ? &c->by_sni[i] : &c->global;
}

struct tls_origin_config *tls_origin_config_build(const struct core_records *rec,
                                                  const char *confdir,
                                                  const struct tls_sni_config *sni,
                                                  struct core_err *err)
{
    struct tls_origin_config *c = calloc(1, sizeof(*c));
    if (!c || ex_indices() < 0)
        goto fail;
    int64_t depth = core_records_get_int(rec, "proxy.config.tlsedge.client.verify_depth");
    c->verify_depth = depth < 1 ? 1 : depth > 100 ? 100 : (int)depth;
    c->session_cache = core_records_get_int(rec, "proxy.config.ssl.origin_session_cache") != 0;
    int64_t size = core_records_get_int(rec, "proxy.config.ssl.origin_session_cache.size");
    const char *sp = core_records_get_str(rec, "proxy.config.ssl.client.sni_policy");
    if (parse_sni(sp, &c->sni_policy) < 0) {
        core_err_add(err, "records.config", 0,
                     "proxy.config.ssl.client.sni_policy: '%s' is not host, server_name or remap",
                     sp);
        goto fail;
    }
    char *cert = NULL, *key = NULL;
    client_cert_paths(rec, confdir, &cert, &key);
    int rc = read_policy(rec, c, err) < 0 || load_store(rec, confdir, c, err) < 0 ||
                     make_profile(rec, c, &c->global, cert, key, err) < 0 ||
                     sni_profiles(rec, c, sni, cert, key, err) < 0
                 ? -EINVAL
                 : 0;
    free(cert);
    free(key);
    if (rc < 0)
        goto fail;
    // Made by the first configuration that keeps origin sessions; lives until exit.
    if (c->session_cache && !sessions)
        sessions = tls_sesscache_new(size > 0 ? (size_t)size : 10240, 16, 3600);
    return c;
fail:
    tls_origin_config_free(c);
    return NULL;
}

void tls_origin_config_free(struct tls_origin_config *c)
{
    if (!c)
        return;
    SSL_CTX_free(c->global.ctx);
    for (size_t i = 0; i < c->n_by_sni; i++)
        SSL_CTX_free(c->by_sni[i].ctx);
    free(c->by_sni);
    X509_STORE_free(c->store);
    free(c);
}
