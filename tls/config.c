// SPDX-License-Identifier: Apache-2.0
// tls/config.c: TLS settings, SSL_CTX set-up and the certificate table of a snapshot
// (see tls/config.h).
#include "tls/config.h"
#include "core/err.h"
#include "core/records.h"
#include "core/stats.h"
#include "tls/certtable.h"
#include "tls/conn.h"
#include "tls/hook.h"
#include "tls/internal.h"
#include "tls/keyless.h"
#include "tls/keyop.h"
#include "tls/multicert.h"
#include "tls/origin.h"
#include "tls/pkcs11.h"
#include "tls/selfsigned.h"
#include "tls/sesscache.h"
#include "tls/sni.h"
#include "tls/tickets.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bytestring.h>
#include <openssl/ec_key.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

struct tls_stat_ids tls_stats;

// The main thread's cache of parsed certificate files (tls_config_set_certcache), or NULL.
static struct tls_certcache *certcache;

void tls_config_set_certcache(struct tls_certcache *cache)
{
    certcache = cache;
}

// TLS 1.2 suites: forward-secret AEAD only. BoringSSL fixes the TLS 1.3 suites itself
// (AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305, ordered by the CPU's AES support).
#define DEFAULT_CIPHERS                                                                            \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"     \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

static const struct core_rec_decl records[] = {
    {"proxy.config.ssl.server.cert.path", CORE_REC_STRING, "."},
    {"proxy.config.ssl.server.private_key.path", CORE_REC_STRING, "."},
    {"proxy.config.ssl.server.multicert.filename", CORE_REC_STRING, "ssl_multicert.config"},
    {"proxy.config.ssl.TLSv1", CORE_REC_INT, "0"},
    {"proxy.config.ssl.TLSv1_1", CORE_REC_INT, "0"},
    {"proxy.config.ssl.TLSv1_2", CORE_REC_INT, "1"},
    {"proxy.config.ssl.TLSv1_3", CORE_REC_INT, "1"},
    {"proxy.config.ssl.server.cipher_suite", CORE_REC_STRING, DEFAULT_CIPHERS},
    {"proxy.config.ssl.server.TLSv1_3.cipher_suites", CORE_REC_STRING, ""},
    {"proxy.config.ssl.server.groups_list", CORE_REC_STRING, "X25519:P-256:P-384"},
    {"proxy.config.ssl.server.honor_cipher_order", CORE_REC_INT, "1"},
    {"proxy.config.ssl.handshake_timeout_in", CORE_REC_INT, "30"},
    {"proxy.config.ssl.server.session_ticket.enable", CORE_REC_INT, "1"},
    {"proxy.config.ssl.server.session_ticket.number", CORE_REC_INT, "2"},
    {"proxy.config.ssl.server.ticket_key.filename", CORE_REC_STRING, ""},
    {"proxy.config.tlsedge.ticket_key.rotation_interval", CORE_REC_INT, "3600"},
    {"proxy.config.ssl.session_cache", CORE_REC_INT, "2"},
    {"proxy.config.ssl.session_cache.size", CORE_REC_INT, "102400"},
    {"proxy.config.ssl.session_cache.timeout", CORE_REC_INT, "0"},
    {"proxy.config.ssl.wire_trace_enabled", CORE_REC_INT, "0"},
    {"proxy.config.ssl.wire_trace_addr", CORE_REC_STRING, ""},
    {"proxy.config.ssl.wire_trace_server_name", CORE_REC_STRING, ""},
    {"proxy.config.ssl.wire_trace_percentage", CORE_REC_INT, "0"},
    {"proxy.config.tlsedge.handshake_threads", CORE_REC_INT, "4"},
    {"proxy.config.tlsedge.handshake_queue_max", CORE_REC_INT, "4096"},
    {"proxy.config.tlsedge.handshake_offload", CORE_REC_STRING, "key"},
    {"proxy.config.tlsedge.keyless.timeout", CORE_REC_INT, "5000"},
    {"proxy.config.tlsedge.pkcs11.module", CORE_REC_STRING, TLS_PKCS11_DEFAULT_MODULE},
    {"proxy.config.tlsedge.pkcs11.server_address", CORE_REC_STRING, ""},
    {"proxy.config.tlsedge.pkcs11.connection_per_thread", CORE_REC_INT, "1"},
};

int tls_config_declare(struct core_records *rec)
{
    int rc = core_records_declare_all(rec, records, sizeof(records) / sizeof(records[0]));
    if (rc == 0)
        rc = tls_origin_config_declare(rec);
    return rc < 0 ? rc : tls_sni_config_declare(rec);
}

void tls_stats_register(void)
{
    tls_stats.attempts_in =
        core_stat_register("proxy.process.ssl.total_attempts_handshake_count_in");
    tls_stats.success_in = core_stat_register("proxy.process.ssl.total_success_handshake_count_in");
    tls_stats.handshake_time = core_stat_register("proxy.process.ssl.total_handshake_time");
    tls_stats.resumed_in = core_stat_register("proxy.process.ssl.user_agent_session_hit");
    tls_stats.full_in = core_stat_register("proxy.process.ssl.user_agent_session_miss");
    tls_stats.ua_wrong_version = core_stat_register("proxy.process.ssl.user_agent_wrong_version");
    tls_stats.ua_decrypt_failed =
        core_stat_register("proxy.process.ssl.user_agent_decryption_failed");
    tls_stats.ua_other = core_stat_register("proxy.process.ssl.user_agent_other_errors");
    tls_stats.err_syscall = core_stat_register("proxy.process.ssl.ssl_error_syscall");
    tls_stats.err_ssl = core_stat_register("proxy.process.ssl.ssl_error_ssl");
    tls_stats.unrecognized_name = core_stat_register("proxy.process.tlsedge.unrecognized_name");
    tls_stats.hello_malformed = core_stat_register("proxy.process.tlsedge.clienthello_malformed");
    tls_stats.hello_not_tls = core_stat_register("proxy.process.tlsedge.clienthello_not_tls");
    tls_stats.hello_too_large = core_stat_register("proxy.process.tlsedge.clienthello_too_large");
    tls_stats.hello_truncated = core_stat_register("proxy.process.tlsedge.clienthello_truncated");
    tls_stats.handshake_timeouts =
        core_stat_register("proxy.process.tlsedge.handshake_timeouts_in");
    tls_stats.renegotiations = core_stat_register("proxy.process.tlsedge.renegotiation_refused");
    tls_stats.tls12 = core_stat_register("proxy.process.ssl.ssl_total_tlsv12");
    tls_stats.tls13 = core_stat_register("proxy.process.ssl.ssl_total_tlsv13");
    tls_stats.sni_denied = core_stat_register("proxy.process.tlsedge.sni_ip_allow_denied");
    core_stat_register("proxy.process.tlsedge.keyless_connects");
    tls_tickets_stats_register();
    tls_sesscache_stats_register();
    tls_origin_stats_register();
    tls_keyop_init();
    tls_pkcs11_stats_register();
}

// ALPN: HTTP/1.1 is the only application protocol for now. A client that offers ALPN without
// it still gets a handshake without ALPN (RFC 7301 allows the server to ignore the extension).
static int select_alpn(SSL *ssl, const uint8_t **out, uint8_t *out_len, const uint8_t *in,
                       unsigned in_len, void *arg)
{
    static const uint8_t h1[] = "http/1.1";
    const struct tls_conn *c = SSL_get_app_data(ssl);
    if (c && !tls_conn_alpn_allowed(c, "http/1.1"))
        return SSL_TLSEXT_ERR_NOACK; // a plugin disabled it for this connection
    for (unsigned i = 0; i < in_len;) {
        unsigned n = in[i];
        if (i + 1 + n > in_len)
            break;
        if (n == 8 && memcmp(in + i + 1, h1, 8) == 0) {
            *out = in + i + 1;
            *out_len = 8;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + n;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

struct factory_arg {
    const struct core_records *rec;
    const struct tls_config *cfg;
    const char *file; // for error messages
    bool have_base;   // base holds the digest of this build's settings (ctx_recipe)
    uint8_t base[32];
};

// Tickets: on unless the line or records.config turn them off; keys from the line's
// ticket_key_name, else the global key file, else the process block (tls/tickets.h).
static int setup_tickets(SSL_CTX *ctx, const struct factory_arg *fa,
                         const struct tls_multicert_line *line, struct core_err *err)
{
    const struct core_records *rec = fa->rec;
    bool tickets = core_records_get_int(rec, "proxy.config.ssl.server.session_ticket.enable");
    if (line && line->ticket_enabled >= 0)
        tickets = line->ticket_enabled;
    int64_t nt = core_records_get_int(rec, "proxy.config.ssl.server.session_ticket.number");
    if (line && line->ticket_number >= 0)
        nt = line->ticket_number;
    if (!tickets) {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(ctx, 0);
        return 0;
    }
    SSL_CTX_set_num_tickets(ctx, (size_t)(nt < 0 ? 0 : nt > 16 ? 16 : nt));
    struct tls_ticket_keys *own = NULL;
    if (line && line->ticket_key_name) {
        own = tls_ticket_keys_load(line->ticket_key_name, err);
        if (!own)
            return -EINVAL;
    }
    int rc = tls_tickets_attach(ctx, own ? own : fa->cfg->ticket_keys);
    tls_ticket_keys_unref(own);
    if (rc < 0)
        core_err_add(err, fa->file, line ? line->line : 0, "out of memory attaching ticket keys");
    return rc;
}

// TLS 1.2 session IDs: proxy.config.ssl.session_cache 0 off, 1 BoringSSL's cache in each
// context, 2 the process cache shared by every context and worker (tls/sesscache.h).
static int setup_session_cache(SSL_CTX *ctx, const struct factory_arg *fa, struct core_err *err)
{
    const struct core_records *rec = fa->rec;
    int64_t timeout = core_records_get_int(rec, "proxy.config.ssl.session_cache.timeout");
    if (timeout > 0)
        SSL_CTX_set_timeout(ctx, (uint32_t)(timeout > 86400 * 7 ? 86400 * 7 : timeout));
    switch (fa->cfg->session_cache) {
    case 0:
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        return 0;
    case 1:
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
        SSL_CTX_sess_set_cache_size(
            ctx, (unsigned long)core_records_get_int(rec, "proxy.config.ssl.session_cache.size"));
        return 0;
    default:
        if (tls_sesscache_attach(ctx) < 0) {
            core_err_add(err, fa->file, 0, "the session cache could not be created");
            return -ENOMEM;
        }
        return 0;
    }
}

// The context factory (tls_ctx_factory_fn). Every input it reads, apart from constants, must
// also go into ctx_recipe below: a reload reuses a context whose recipe did not change.
static SSL_CTX *make_ctx(void *arg, const struct tls_multicert_line *line, struct core_err *err)
{
    struct factory_arg *fa = arg;
    const struct core_records *rec = fa->rec;
    int lno = line ? line->line : 0;
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    if (!ctx) {
        core_err_add(err, fa->file, lno, "out of memory creating an SSL context");
        return NULL;
    }
    const char *ciphers = core_records_get_str(rec, "proxy.config.ssl.server.cipher_suite");
    const char *groups = core_records_get_str(rec, "proxy.config.ssl.server.groups_list");
    static const uint8_t sid_ctx[] = "tlsedge";
    if (!SSL_CTX_set_min_proto_version(ctx, fa->cfg->min_version) ||
        !SSL_CTX_set_max_proto_version(ctx, fa->cfg->max_version) ||
        !SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1)) {
        core_err_add(err, fa->file, lno, "cannot set TLS versions");
        goto fail;
    }
    if (!SSL_CTX_set_strict_cipher_list(ctx, ciphers)) {
        core_err_add(err, "records.config", 0,
                     "proxy.config.ssl.server.cipher_suite: not a valid BoringSSL cipher list: %s",
                     ciphers);
        goto fail;
    }
    if (!SSL_CTX_set1_curves_list(ctx, groups)) {
        core_err_add(err, "records.config", 0,
                     "proxy.config.ssl.server.groups_list: unknown group in '%s'", groups);
        goto fail;
    }
    if (core_records_get_int(rec, "proxy.config.ssl.server.honor_cipher_order"))
        SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
    tls_hook_ctx_init(ctx); // plugin hook points (CLIENT_HELLO, SERVERNAME)
    if (setup_tickets(ctx, fa, line, err) < 0 || setup_session_cache(ctx, fa, err) < 0)
        goto fail;
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

static void digest_int(SHA256_CTX *h, int64_t v)
{
    SHA256_Update(h, &v, sizeof(v));
}

static void digest_str(SHA256_CTX *h, const char *v)
{
    SHA256_Update(h, v, strlen(v) + 1);
}

// digest_base hashes the build-wide inputs of make_ctx into fa->base: records.config settings
// and the global ticket key block (its key bytes: the digest stays in memory, never logged).
static void digest_base(struct factory_arg *fa)
{
    const struct core_records *rec = fa->rec;
    SHA256_CTX h;
    SHA256_Init(&h);
    digest_str(&h, "tlsedge ctx recipe 1");
    digest_int(&h, fa->cfg->min_version);
    digest_int(&h, fa->cfg->max_version);
    digest_str(&h, core_records_get_str(rec, "proxy.config.ssl.server.cipher_suite"));
    digest_str(&h, core_records_get_str(rec, "proxy.config.ssl.server.groups_list"));
    digest_int(&h, core_records_get_int(rec, "proxy.config.ssl.server.honor_cipher_order"));
    digest_int(&h, core_records_get_int(rec, "proxy.config.ssl.server.session_ticket.enable"));
    digest_int(&h, core_records_get_int(rec, "proxy.config.ssl.server.session_ticket.number"));
    digest_int(&h, core_records_get_int(rec, "proxy.config.ssl.session_cache.timeout"));
    digest_int(&h, core_records_get_int(rec, "proxy.config.ssl.session_cache.size"));
    digest_int(&h, fa->cfg->session_cache);
    size_t n = tls_ticket_keys_count(fa->cfg->ticket_keys); // 0: the process block
    digest_int(&h, (int64_t)n);
    for (size_t i = 0; i < n; i++)
        SHA256_Update(&h, tls_ticket_keys_get0(fa->cfg->ticket_keys, i),
                      sizeof(struct tls_ticket_key));
    SHA256_Final(fa->base, &h);
    OPENSSL_cleanse(&h, sizeof(h));
    fa->have_base = true;
}

// ctx_recipe (tls_ctx_recipe_fn): the digest of what make_ctx puts into a context for line. A
// line with its own ticket key file is built anew each time (make_ctx reads that file).
static int ctx_recipe(void *arg, const struct tls_multicert_line *line, uint8_t out[32])
{
    struct factory_arg *fa = arg;
    if (line && line->ticket_key_name)
        return -1;
    if (!fa->have_base)
        digest_base(fa);
    if (!line || (line->ticket_enabled < 0 && line->ticket_number < 0)) {
        memcpy(out, fa->base, 32);
        return 0;
    }
    SHA256_CTX h;
    SHA256_Init(&h);
    SHA256_Update(&h, fa->base, sizeof(fa->base));
    digest_int(&h, line->ticket_enabled);
    digest_int(&h, line->ticket_number);
    SHA256_Final(out, &h);
    return 0;
}

// key_id is the SHA-256 of the certificate's SubjectPublicKeyInfo: what the signer indexes.
static int key_id(X509 *leaf, uint8_t out[32], int *type, int *nid)
{
    uint8_t *der = NULL;
    int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(leaf), &der);
    EVP_PKEY *pub = X509_get_pubkey(leaf);
    int rc = (len > 0 && pub) ? 0 : -EINVAL;
    if (rc == 0) {
        SHA256(der, (size_t)len, out);
        *type = EVP_PKEY_id(pub);
        const EC_KEY *ec = *type == EVP_PKEY_EC ? EVP_PKEY_get0_EC_KEY(pub) : NULL;
        *nid = ec ? EC_GROUP_get_curve_name(EC_KEY_get0_group(ec)) : 0;
    }
    OPENSSL_free(der);
    EVP_PKEY_free(pub);
    return rc;
}

static enum tls_offload offload_mode(const struct core_records *rec)
{
    const char *m = core_records_get_str(rec, "proxy.config.tlsedge.handshake_offload");
    return strcmp(m, "accept") == 0 ? TLS_OFFLOAD_ACCEPT : TLS_OFFLOAD_KEY;
}

// Installs a PKCS#11 key (see tls_pkcs11_key_load): a token that cannot be reached is a
// warning, like a keyless signer's outage.
static int pkcs11_key(const struct core_records *rec, SSL_CTX *ctx, const char *uri, X509 *leaf,
                      const char *file, int line, struct core_err *err)
{
    struct tls_keyref *k = tls_keyref_new(TLS_KEY_PKCS11);
    if (!k || key_id(leaf, k->key_id, &k->key_type, &k->ec_nid) < 0) {
        tls_keyref_unref(k);
        return k ? -EINVAL : -ENOMEM;
    }
    k->offload = offload_mode(rec);
    struct tls_pkcs11_opts o = {
        .module = core_records_get_str(rec, "proxy.config.tlsedge.pkcs11.module"),
        .server_address = core_records_get_str(rec, "proxy.config.tlsedge.pkcs11.server_address"),
        .copies = core_records_get_int(rec, "proxy.config.tlsedge.pkcs11.connection_per_thread") != 0,
    };
    int rc = tls_pkcs11_key_load(k, uri, &o, leaf, file, line, err);
    if (rc < 0 || tls_keyref_attach(ctx, k) < 0) {
        if (rc >= 0)
            core_err_add(err, file, line, "cannot attach the PKCS#11 key %s", k->name);
        tls_keyref_unref(k);
        return -EINVAL;
    }
    return 0;
}

// Installs a key held by a backend (see tls_key_backend_fn). Keyless keys are checked for
// reachability only: a signer outage is a warning, so it never blocks a certificate rotation.
static int backend_key(void *arg, SSL_CTX *ctx, const char *uri, X509 *leaf, const char *file,
                       int line, struct core_err *err)
{
    const struct core_records *rec = arg;
    if (core_records_get_int(rec, "proxy.config.tlsedge.handshake_threads") <= 0) {
        // Only the scheme is named: a PKCS#11 URI may carry a PIN.
        core_err_add(err, file, line, "a %s key needs proxy.config.tlsedge.handshake_threads > 0",
                     strncmp(uri, "pkcs11:", 7) == 0 ? "PKCS#11" : "keyless");
        return -EINVAL;
    }
    if (strncmp(uri, "pkcs11:", 7) == 0)
        return pkcs11_key(rec, ctx, uri, leaf, file, line, err);
    struct tls_keyref *k = tls_keyref_new(TLS_KEY_KEYLESS);
    if (!k || tls_keyless_parse(k, uri, file, line, err) < 0 ||
        key_id(leaf, k->key_id, &k->key_type, &k->ec_nid) < 0) {
        tls_keyref_unref(k);
        return -EINVAL;
    }
    k->offload = offload_mode(rec);
    int64_t to = core_records_get_int(rec, "proxy.config.tlsedge.keyless.timeout");
    k->timeout_ms = (uint64_t)(to > 0 ? to : 5000);
    int rc = tls_keyless_probe(k, 500);
    if (rc < 0)
        core_err_warn(err, file, line,
                      "keyless signer %s is not reachable now (%s); handshakes that need it "
                      "fail until it is",
                      k->name, strerror(-rc));
    if (tls_keyref_attach(ctx, k) < 0) {
        tls_keyref_unref(k);
        core_err_add(err, file, line, "cannot attach the keyless key %s", uri);
        return -EINVAL;
    }
    return 0;
}

static int versions(const struct core_records *rec, struct tls_config *c, struct core_err *err)
{
    static const struct {
        const char *name;
        uint16_t v;
    } vs[] = {
        {"proxy.config.ssl.TLSv1", TLS1_VERSION},
        {"proxy.config.ssl.TLSv1_1", TLS1_1_VERSION},
        {"proxy.config.ssl.TLSv1_2", TLS1_2_VERSION},
        {"proxy.config.ssl.TLSv1_3", TLS1_3_VERSION},
    };
    c->min_version = c->max_version = 0;
    for (size_t i = 0; i < 4; i++) {
        if (!core_records_get_int(rec, vs[i].name))
            continue;
        if (!c->min_version)
            c->min_version = vs[i].v;
        c->max_version = vs[i].v;
    }
    if (!c->min_version) {
        core_err_add(err, "records.config", 0, "every TLS version is disabled");
        return -EINVAL;
    }
    return 0;
}

static char *resolve(const char *confdir, const char *p)
{
    char buf[PATH_MAX];
    if (p[0] == '/' || !confdir)
        snprintf(buf, sizeof(buf), "%s", p);
    else
        snprintf(buf, sizeof(buf), "%s/%s", confdir, p);
    return strdup(buf);
}

static int load_embedded(struct tls_config *c, struct factory_arg *fa, struct core_err *err)
{
    char *cert = NULL, *key = NULL;
    size_t clen = 0, klen = 0;
    int rc = tls_selfsigned_make(&cert, &clen, &key, &klen);
    if (rc < 0) {
        core_err_add(err, NULL, 0, "cannot create the embedded self-signed certificate");
        return rc;
    }
    struct tls_multicert_line line;
    memset(&line, 0, sizeof(line));
    line.dest_any = true;
    line.has_dest = true;
    line.ticket_enabled = -1;
    line.ticket_number = -1;
    rc = tls_certtable_add_pem(c->certs, &line, cert, clen, key, klen, make_ctx, fa, err);
    OPENSSL_cleanse(key, klen);
    free(key);
    free(cert);
    return rc;
}

static int load_multicert(const struct core_records *rec, const char *confdir, bool need_certs,
                          struct tls_config *c, struct factory_arg *fa, struct core_err *err)
{
    char *file =
        resolve(confdir, core_records_get_str(rec, "proxy.config.ssl.server.multicert.filename"));
    char *cdir = resolve(confdir, core_records_get_str(rec, "proxy.config.ssl.server.cert.path"));
    char *kdir =
        resolve(confdir, core_records_get_str(rec, "proxy.config.ssl.server.private_key.path"));
    int rc = -ENOMEM;
    if (!file || !cdir || !kdir)
        goto out;
    if (access(file, F_OK) != 0 && !need_certs) {
        rc = 0; // no TLS port and no certificates: fine
        goto out;
    }
    struct tls_multicert *m = tls_multicert_load(file, cdir, kdir, err);
    if (!m) {
        rc = -EINVAL;
        goto out;
    }
    fa->file = file;
    tls_certtable_set_key_backend(c->certs, backend_key, (void *)rec);
    tls_certtable_set_cache(c->certs, certcache);
    tls_certtable_set_ctx_recipe(c->certs, ctx_recipe);
    rc = tls_certtable_add_multicert(c->certs, m, make_ctx, fa, err);
    tls_multicert_free(m);
    if (rc == 0 && need_certs && tls_certtable_count(c->certs) == 0) {
        core_err_add(err, file, 0, "an ssl port is configured but no certificate is loaded");
        rc = -EINVAL;
    }
out:
    free(file);
    free(cdir);
    free(kdir);
    return rc;
}

static uint32_t cache_timeout(const struct core_records *rec)
{
    // 0: the 300 s OpenSSL's TLS 1.2 caches use (ATS leaves 0 to the library).
    int64_t t = core_records_get_int(rec, "proxy.config.ssl.session_cache.timeout");
    return t > 0 ? (uint32_t)(t > 86400 * 7 ? 86400 * 7 : t) : 300;
}

// Ticket keys and the session cache: checks the settings, loads the global key file, and makes
// the process-wide key block and session cache exist.
static int resumption(const struct core_records *rec, const char *confdir, struct tls_config *c,
                      struct core_err *err)
{
    int64_t mode = core_records_get_int(rec, "proxy.config.ssl.session_cache");
    int64_t size = core_records_get_int(rec, "proxy.config.ssl.session_cache.size");
    int64_t rot = core_records_get_int(rec, "proxy.config.tlsedge.ticket_key.rotation_interval");
    if (mode < 0 || mode > 2 || size < 1 || rot < 0) {
        core_err_add(err, "records.config", 0,
                     mode < 0 || mode > 2 ? "proxy.config.ssl.session_cache must be 0, 1 or 2"
                     : size < 1           ? "proxy.config.ssl.session_cache.size must be at least 1"
                                : "proxy.config.tlsedge.ticket_key.rotation_interval must be "
                                  ">= 0 (0: never rotate)");
        return -EINVAL;
    }
    c->session_cache = (int)mode;
    c->ticket_rotation_s = (uint64_t)rot;
    c->session_cache_size = (size_t)size;
    c->session_cache_timeout_s = cache_timeout(rec);
    // Made by the first configuration that asks for it; a reload reconfigures it only once
    // published (tls_config_apply).
    if (mode == 2 && !tls_sesscache_process_get0() &&
        !tls_sesscache_process(c->session_cache_size, c->session_cache_timeout_s))
        return -ENOMEM;
    if (tls_tickets_start() < 0)
        return -ENOMEM;
    const char *kf = core_records_get_str(rec, "proxy.config.ssl.server.ticket_key.filename");
    if (!kf[0] || !confdir)
        return 0;
    char *cdir = resolve(confdir, core_records_get_str(rec, "proxy.config.ssl.server.cert.path"));
    char *path = cdir ? resolve(cdir, kf) : NULL;
    if (path)
        c->ticket_keys = tls_ticket_keys_load(path, err);
    int rc = c->ticket_keys ? 0 : path ? -EINVAL : -ENOMEM;
    free(path);
    free(cdir);
    return rc;
}

void tls_config_apply(const struct tls_config *c)
{
    tls_tickets_set_interval(c->ticket_rotation_s);
    if (c->session_cache == 2)
        tls_sesscache_process(c->session_cache_size, c->session_cache_timeout_s);
}

static char *opt_str(const struct core_records *rec, const char *name)
{
    const char *v = core_records_get_str(rec, name);
    return v[0] ? strdup(v) : NULL;
}

struct tls_config *tls_config_build(const struct core_records *rec, const char *confdir,
                                    bool need_certs, struct core_err *err)
{
    struct tls_config *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    int64_t to = core_records_get_int(rec, "proxy.config.ssl.handshake_timeout_in");
    c->handshake_timeout_ms = (uint64_t)(to > 0 ? to : 30) * 1000;
    c->wire_trace = core_records_get_int(rec, "proxy.config.ssl.wire_trace_enabled") != 0;
    c->wire_trace_addr = opt_str(rec, "proxy.config.ssl.wire_trace_addr");
    c->wire_trace_server_name = opt_str(rec, "proxy.config.ssl.wire_trace_server_name");
    c->wire_trace_percentage =
        (int)core_records_get_int(rec, "proxy.config.ssl.wire_trace_percentage");
    const char *offload = core_records_get_str(rec, "proxy.config.tlsedge.handshake_offload");
    if (strcmp(offload, "key") != 0 && strcmp(offload, "accept") != 0)
        core_err_add(err, "records.config", 0,
                     "proxy.config.tlsedge.handshake_offload: '%s' is neither 'key' nor 'accept'",
                     offload);
    if (core_records_get_str(rec, "proxy.config.ssl.server.TLSv1_3.cipher_suites")[0])
        core_err_warn(err, "records.config", 0,
                      "proxy.config.ssl.server.TLSv1_3.cipher_suites is ignored: BoringSSL "
                      "fixes the TLS 1.3 cipher suites");
    c->certs = tls_certtable_new();
    if (!c->certs || versions(rec, c, err) < 0 || resumption(rec, confdir, c, err) < 0)
        goto fail;
    struct factory_arg fa = {.rec = rec, .cfg = c, .file = "ssl_multicert.config"};
    int rc = confdir ? load_multicert(rec, confdir, need_certs, c, &fa, err)
                     : load_embedded(c, &fa, err);
    if (rc < 0 || core_err_failed(err))
        goto fail;
    c->sni = tls_sni_config_build(rec, confdir, err);
    c->origin = c->sni ? tls_origin_config_build(rec, confdir, c->sni, err) : NULL;
    if (!c->origin || !c->sni)
        goto fail;
    int tl = tls_certtable_tunnel_line(c->certs);
    if (tl && !c->sni->default_route) {
        core_err_add(err, "ssl_multicert.config", tl,
                     "action=tunnel needs proxy.config.tlsedge.tunnel.default_route (host:port): "
                     "tlsedge has no transparent mode to find the original destination");
        goto fail;
    }
    return c;
fail:
    tls_config_free(c);
    return NULL;
}

void tls_config_free(struct tls_config *c)
{
    if (!c)
        return;
    tls_certtable_free(c->certs);
    tls_origin_config_free(c->origin);
    tls_sni_config_free(c->sni);
    tls_ticket_keys_unref(c->ticket_keys);
    free(c->wire_trace_addr);
    free(c->wire_trace_server_name);
    free(c);
}

static int write_file(const char *dir, const char *name, const char *data, size_t len, int mode,
                      struct core_err *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        core_err_add(err, path, 0, "cannot create: %s", strerror(errno));
        return -errno;
    }
    ssize_t w = write(fd, data, len);
    int rc = (w == (ssize_t)len) ? 0 : -EIO;
    if (close(fd) < 0 || rc < 0) {
        core_err_add(err, path, 0, "cannot write");
        return -EIO;
    }
    return 0;
}

int tls_config_write_default(const char *dir, struct core_err *err)
{
    char *cert = NULL, *key = NULL;
    size_t clen = 0, klen = 0;
    int rc = tls_selfsigned_make(&cert, &clen, &key, &klen);
    if (rc < 0) {
        core_err_add(err, NULL, 0, "cannot create a self-signed certificate");
        return rc;
    }
    static const char mc[] =
        "# ssl_multicert.config: one certificate (chain) per line; see README.md.\n"
        "# dest_ip=* marks the default served when no name or address matches.\n"
        "dest_ip=* ssl_cert_name=default.pem ssl_key_name=default.key\n";
    rc = write_file(dir, "default.pem", cert, clen, 0644, err);
    if (rc == 0)
        rc = write_file(dir, "default.key", key, klen, 0600, err);
    if (rc == 0)
        rc = write_file(dir, "ssl_multicert.config", mc, sizeof(mc) - 1, 0644, err);
    OPENSSL_cleanse(key, klen);
    free(key);
    free(cert);
    return rc;
}
