// SPDX-License-Identifier: Apache-2.0
// tls/sni.c: sni.yaml parsing, look-up by server name, and applying an entry's inbound policy
// (versions, client certificates, ip_allow) to a new SSL (see tls/sni.h).
#include "tls/sni.h"
#include "core/err.h"
#include "core/yaml.h"
#include "core/file.h"
#include "core/records.h"
#include "net/ipallow.h"
#include "tls/hook.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define SNI_FILE_MAX (16 * 1024 * 1024)

static const struct core_rec_decl records[] = {
    {"proxy.config.ssl.servername.filename", CORE_REC_STRING, "sni.yaml"},
    {"proxy.config.ssl.client.certification_level", CORE_REC_INT, "0"},
    {"proxy.config.ssl.CA.cert.filename", CORE_REC_STRING, ""},
    {"proxy.config.ssl.CA.cert.path", CORE_REC_STRING, ""},
    {"proxy.config.tlsedge.tunnel.default_route", CORE_REC_STRING, ""},
};

// Keys that belong to features other issues build: accepted, warned about, ignored.
static const char *const later_keys[] = {
    "client_sni_policy",    "host_sni_policy",          "http2",
    "tunnel_alpn",          "tunnel_prewarm",
    "valid_tls_versions_out", "http2_buffer_water_mark", "quic",         "server_max_early_data",
};

static int ex_store = -1; // SSL ex_data: the client CA store of the handshake (a reference)
static void ex_free_store(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int index, long argl,
                          void *argp);

struct build {
    const char *name;
    const char *dir;
    struct core_err *err;
    int errors;
    yaml_document_t *doc;
    struct tls_sni_config *c;
};

int tls_sni_config_declare(struct core_records *rec)
{
    return core_records_declare_all(rec, records, sizeof(records) / sizeof(records[0]));
}

static void report(struct build *b, bool warning, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void report(struct build *b, bool warning, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    core_err_vreport(b->err, warning, b->name, line, fmt, ap);
    va_end(ap);
    if (!warning)
        b->errors++;
}

static void ca_free(struct tls_client_ca *ca)
{
    X509_STORE_free(ca->store);
    sk_X509_NAME_pop_free(ca->names, X509_NAME_free);
    ca->store = NULL;
    ca->names = NULL;
}

static char *path_in(const char *dir, const char *p)
{
    char buf[PATH_MAX];
    if (p[0] == '/' || !dir)
        snprintf(buf, sizeof(buf), "%s", p);
    else
        snprintf(buf, sizeof(buf), "%s/%s", dir, p);
    return strdup(buf);
}

// Loads trusted client CAs from file and/or dir (either may be NULL or ""). Returns 0, or
// -EINVAL after recording the problem against (name, line).
static int ca_load(struct tls_client_ca *ca, const char *dir, const char *file, const char *cdir,
                   struct core_err *err, const char *name, int line)
{
    char *f = file && file[0] ? path_in(dir, file) : NULL;
    char *d = cdir && cdir[0] ? path_in(dir, cdir) : NULL;
    int rc = 0;
    ca->store = X509_STORE_new();
    ca->names = sk_X509_NAME_new_null();
    if (!ca->store || !ca->names) {
        rc = -ENOMEM;
    } else if ((f && !X509_STORE_load_locations(ca->store, f, NULL)) ||
               (d && !X509_STORE_load_locations(ca->store, NULL, d))) {
        core_err_add(err, name, line, "cannot read client CA certificates from %s", f ? f : d);
        rc = -EINVAL;
    } else if (f) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(f);
        for (size_t i = 0; names && i < sk_X509_NAME_num(names); i++) {
            X509_NAME *nm = X509_NAME_dup(sk_X509_NAME_value(names, i));
            if (nm && !sk_X509_NAME_push(ca->names, nm))
                X509_NAME_free(nm);
        }
        sk_X509_NAME_pop_free(names, X509_NAME_free);
    }
    ERR_clear_error();
    if (rc < 0)
        ca_free(ca);
    free(f);
    free(d);
    return rc;
}

static int parse_level(const char *s)
{
    static const char *const names[] = {"NONE", "MODERATE", "STRICT"};
    for (int i = 0; s && i < 3; i++)
        if (strcasecmp(s, names[i]) == 0)
            return i;
    return TLS_VERIFY_CLIENT_UNSET;
}

static void key_versions(struct build *b, struct tls_sni_entry *e, const yaml_node_t *v)
{
    if (v->type != YAML_SEQUENCE_NODE) {
        report(b, false, core_yaml_line(v), "valid_tls_versions_in: expected a list (e.g. [TLSv1_3])");
        return;
    }
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        const yaml_node_t *n = yaml_document_get_node(b->doc, *it);
        const char *s = core_yaml_text(n);
        uint16_t ver = s && strcasecmp(s, "TLSv1_2") == 0   ? TLS1_2_VERSION
                       : s && strcasecmp(s, "TLSv1_3") == 0 ? TLS1_3_VERSION
                                                            : 0;
        if (!ver) {
            report(b, false, core_yaml_line(n), "valid_tls_versions_in: '%s' is not TLSv1_2 or TLSv1_3",
                   s ? s : "?");
            continue;
        }
        if (!e->min_version || ver < e->min_version)
            e->min_version = ver;
        if (ver > e->max_version)
            e->max_version = ver;
    }
}

static void key_ca(struct build *b, struct tls_sni_entry *e, const yaml_node_t *v)
{
    const char *file = core_yaml_text(v), *dir = NULL;
    if (!file && v->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
             p++) {
            const char *k = core_yaml_text(yaml_document_get_node(b->doc, p->key));
            const char *val = core_yaml_text(yaml_document_get_node(b->doc, p->value));
            if (k && strcmp(k, "file") == 0)
                file = val;
            else if (k && strcmp(k, "dir") == 0)
                dir = val;
            else
                report(b, false, core_yaml_line(v), "verify_client_ca_certs: unknown key '%s'",
                       k ? k : "?");
        }
    }
    if (!file && !dir) {
        report(b, false, core_yaml_line(v), "verify_client_ca_certs: expected a file name or {file, dir}");
        return;
    }
    if (ca_load(&e->ca, b->dir, file, dir, b->err, b->name, core_yaml_line(v)) < 0)
        b->errors++;
}

static bool later_key(const char *k)
{
    for (size_t i = 0; i < sizeof(later_keys) / sizeof(later_keys[0]); i++)
        if (strcmp(k, later_keys[i]) == 0)
            return true;
    return false;
}

static void entry_key(struct build *b, struct tls_sni_entry *e, const char *k, const yaml_node_t *v)
{
    const char *s = core_yaml_text(v);
    if (strcmp(k, "fqdn") == 0) {
        if (!s || !s[0] || (s[0] == '*' && s[1] != '.') || strchr(s + 1, '*')) {
            report(b, false, core_yaml_line(v), "fqdn: '%s' is not a name or *.suffix", s ? s : "?");
            return;
        }
        e->wildcard = s[0] == '*';
        e->fqdn = strdup(e->wildcard ? s + 1 : s);
        for (char *p = e->fqdn; p && *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    } else if (strcmp(k, "verify_client") == 0) {
        e->verify_client = parse_level(s);
        if (e->verify_client == TLS_VERIFY_CLIENT_UNSET)
            report(b, false, core_yaml_line(v), "verify_client: '%s' is not NONE, MODERATE or STRICT",
                   s ? s : "?");
    } else if (strcmp(k, "verify_client_ca_certs") == 0) {
        key_ca(b, e, v);
    } else if (strcmp(k, "valid_tls_versions_in") == 0) {
        key_versions(b, e, v);
    } else if (strcmp(k, "ip_allow") == 0) {
        e->ip_allow = s ? net_ipallow_from_list(s, b->name, core_yaml_line(v), b->err) : NULL;
        if (!e->ip_allow) {
            if (!s)
                report(b, false, core_yaml_line(v), "ip_allow: expected a comma-separated string");
            else
                b->errors++;
        }
    } else if (strcmp(k, "client_cert") == 0 || strcmp(k, "client_key") == 0 ||
               strcmp(k, "verify_server_policy") == 0 ||
               strcmp(k, "verify_server_properties") == 0) {
        char **dst = strcmp(k, "client_cert") == 0            ? &e->client_cert
                     : strcmp(k, "client_key") == 0           ? &e->client_key
                     : strcmp(k, "verify_server_policy") == 0 ? &e->verify_server_policy
                                                              : &e->verify_server_properties;
        if (!s || !s[0]) {
            report(b, false, core_yaml_line(v), "%s: expected a value", k);
            return;
        }
        free(*dst);
        *dst = k[0] == 'c' ? path_in(b->dir, s) : strdup(s);
        if (!e->out_line)
            e->out_line = core_yaml_line(v);
    } else if (strcmp(k, "tunnel_route") == 0 || strcmp(k, "forward_route") == 0 ||
               strcmp(k, "partial_blind_route") == 0) {
        const char *colon = s ? strrchr(s, ':') : NULL;
        if (!s || !colon || colon == s || !colon[1]) {
            report(b, false, core_yaml_line(v), "%s: expected host:port", k);
            return;
        }
        char **dst = k[0] == 't'   ? &e->tunnel_route
                     : k[0] == 'f' ? &e->forward_route
                                   : &e->partial_blind_route;
        free(*dst);
        *dst = strdup(s);
    } else if (later_key(k)) {
        report(b, true, core_yaml_line(v), "%s is not built yet: ignored", k);
    } else {
        report(b, false, core_yaml_line(v), "unknown key '%s'", k);
    }
}

// key_seen_before is true when a pair of mapping n before at has the key named ks.
static bool key_seen_before(const struct build *b, const yaml_node_t *n, const yaml_node_pair_t *at,
                            const char *ks)
{
    for (const yaml_node_pair_t *p = n->data.mapping.pairs.start; p < at; p++) {
        const char *prev = core_yaml_text(yaml_document_get_node(b->doc, p->key));
        if (prev && strcmp(prev, ks) == 0)
            return true;
    }
    return false;
}

static void parse_entry(struct build *b, const yaml_node_t *n)
{
    if (n->type != YAML_MAPPING_NODE) {
        report(b, false, core_yaml_line(n), "an sni entry is a mapping with fqdn and its keys");
        return;
    }
    struct tls_sni_entry *e = &b->c->entry[b->c->n++];
    e->line = core_yaml_line(n);
    e->verify_client = TLS_VERIFY_CLIENT_UNSET;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(b->doc, p->key);
        const char *ks = core_yaml_text(k);
        if (!ks) {
            report(b, false, core_yaml_line(k), "keys are names");
            continue;
        }
        // libyaml keeps duplicate keys; a second fqdn or ip_allow would silently replace (and
        // leak) the first, so an entry that says one thing twice is an error.
        if (key_seen_before(b, n, p, ks)) {
            report(b, false, core_yaml_line(k), "%s is given twice in one entry", ks);
            continue;
        }
        entry_key(b, e, ks, yaml_document_get_node(b->doc, p->value));
    }
    if (!e->fqdn)
        report(b, false, e->line, "an sni entry needs fqdn");
}

static void parse_root(struct build *b, const yaml_node_t *root)
{
    const yaml_node_t *list = NULL;
    if (root && root->type == YAML_MAPPING_NODE)
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
             p < root->data.mapping.pairs.top; p++) {
            const char *k = core_yaml_text(yaml_document_get_node(b->doc, p->key));
            if (k && strcmp(k, "sni") == 0)
                list = yaml_document_get_node(b->doc, p->value);
            else
                report(b, false, core_yaml_line(yaml_document_get_node(b->doc, p->key)),
                       "unknown top-level key '%s' (expected sni)", k ? k : "?");
        }
    if (!list) {
        if (root) // an empty file is fine
            report(b, false, root ? core_yaml_line(root) : 0, "expected `sni:` with a list of entries");
        return;
    }
    if (list->type != YAML_SEQUENCE_NODE) {
        report(b, false, core_yaml_line(list), "sni: expected a list of entries");
        return;
    }
    size_t n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
    b->c->entry = calloc(n ? n : 1, sizeof(*b->c->entry));
    if (!b->c->entry) {
        report(b, false, 0, "out of memory");
        return;
    }
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top;
         it++)
        parse_entry(b, yaml_document_get_node(b->doc, *it));
}

// Makes the SSL ex_data slot for the client CA store; on the main thread, with the first
// configuration, before any handshake reads it.
static void ex_init(void)
{
    if (ex_store < 0)
        ex_store = SSL_get_ex_new_index(0, NULL, NULL, NULL, ex_free_store);
}

struct tls_sni_config *tls_sni_config_parse(const char *text, size_t len,
                                            const char *name_for_errors, const char *dir,
                                            struct core_err *err)
{
    ex_init();
    struct build b = {.name = name_for_errors, .dir = dir, .err = err};
    b.c = calloc(1, sizeof(*b.c));
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!b.c || !yaml_parser_initialize(&parser)) {
        core_err_add(err, name_for_errors, 0, "out of memory");
        free(b.c);
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        report(&b, false, (int)parser.problem_mark.line + 1, "YAML: %s",
               parser.problem ? parser.problem : "syntax error");
    } else {
        b.doc = &doc;
        parse_root(&b, yaml_document_get_root_node(&doc));
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    if (b.errors) {
        tls_sni_config_free(b.c);
        return NULL;
    }
    return b.c;
}

struct tls_sni_config *tls_sni_config_build(const struct core_records *rec, const char *confdir,
                                            struct core_err *err)
{
    ex_init();
    struct tls_sni_config *c = NULL;
    char *path = confdir ? path_in(confdir, core_records_get_str(
                                                rec, "proxy.config.ssl.servername.filename"))
                         : NULL;
    size_t len = 0;
    char *text = path && access(path, F_OK) == 0 ? core_file_read(path, SNI_FILE_MAX, &len) : NULL;
    if (path && access(path, F_OK) == 0 && !text)
        core_err_add(err, path, 0, "cannot read: %s", strerror(errno));
    else
        c = text ? tls_sni_config_parse(text, len, path, confdir, err) : calloc(1, sizeof(*c));
    free(text);
    free(path);
    if (!c)
        return NULL;
    int64_t level = core_records_get_int(rec, "proxy.config.ssl.client.certification_level");
    const char *caf = core_records_get_str(rec, "proxy.config.ssl.CA.cert.filename");
    const char *cad = core_records_get_str(rec, "proxy.config.ssl.CA.cert.path");
    c->level = level < 0 ? 0 : level > 2 ? 2 : (int)level;
    const char *dr = core_records_get_str(rec, "proxy.config.tlsedge.tunnel.default_route");
    c->default_route = dr[0] ? strdup(dr) : NULL;
    if ((caf[0] || cad[0]) &&
        ca_load(&c->ca, confdir, caf, caf[0] ? NULL : cad, err, "records.config", 0) < 0) {
        tls_sni_config_free(c);
        return NULL;
    }
    return c;
}

void tls_sni_config_free(struct tls_sni_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->entry[i].fqdn);
        free(c->entry[i].tunnel_route);
        free(c->entry[i].forward_route);
        free(c->entry[i].partial_blind_route);
        free(c->entry[i].client_cert);
        free(c->entry[i].client_key);
        free(c->entry[i].verify_server_policy);
        free(c->entry[i].verify_server_properties);
        ca_free(&c->entry[i].ca);
        net_ipallow_free(c->entry[i].ip_allow);
    }
    free(c->entry);
    free(c->default_route);
    ca_free(&c->ca);
    free(c);
}

static bool matches(const struct tls_sni_entry *e, const char *sni, size_t len)
{
    if (!e->fqdn)
        return false;
    size_t fl = strlen(e->fqdn);
    if (!e->wildcard)
        return fl == len && strcasecmp(e->fqdn, sni) == 0;
    return len > fl && strcasecmp(sni + len - fl, e->fqdn) == 0; // "*" takes at least one char
}

const struct tls_sni_entry *tls_sni_lookup(const struct tls_sni_config *c, const char *sni)
{
    if (!c || !sni || !sni[0])
        return NULL;
    size_t len = strlen(sni);
    for (size_t i = 0; i < c->n; i++)
        if (matches(&c->entry[i], sni, len))
            return &c->entry[i];
    return NULL;
}

static void ex_free_store(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int index, long argl,
                          void *argp)
{
    X509_STORE_free(ptr);
}

// Verifies the client's chain against the store tls_sni_apply chose (once per handshake) and
// keeps the result in an X509_STORE_CTX for VERIFY_CLIENT hooks; NULL when out of memory.
static X509_STORE_CTX *verify_chain(SSL *ssl, bool *ok)
{
    X509_STORE *store = SSL_get_ex_data(ssl, ex_store);
    X509 *leaf = SSL_get_peer_certificate(ssl);
    X509_STORE_CTX *xs = X509_STORE_CTX_new();
    *ok = false;
    if (xs && leaf && store &&
        X509_STORE_CTX_init(xs, store, leaf, SSL_get_peer_full_cert_chain(ssl)) &&
        X509_STORE_CTX_set_default(xs, "ssl_client"))
        *ok = X509_verify_cert(xs) == 1;
    X509_free(leaf);
    ERR_clear_error();
    return xs;
}

// The client certificate check: tlsedge's own chain verification first (an untrusted, expired
// or non-client certificate fails there, as ATS fails before its hook), then the VERIFY_CLIENT
// plugins, which may fail it (TS_EVENT_ERROR) or, with verify_client_async, take their time.
static enum ssl_verify_result_t verify_client_cb(SSL *ssl, uint8_t *out_alert)
{
    struct tls_conn *c = SSL_get_app_data(ssl);
    struct tls_conn_hooks *hk = c ? tls_conn_hooks(c) : NULL;
    bool ok = true;
    if (!hk || hk->progress[TLS_HOOK_VERIFY_CLIENT] == TLS_HOOK_NONE) {
        X509_STORE_CTX *xs = verify_chain(ssl, &ok);
        if (hk && !hk->verify_ctx)
            hk->verify_ctx = xs;
        else
            X509_STORE_CTX_free(xs);
        if (!ok || !hk) {
            *out_alert = SSL_AD_BAD_CERTIFICATE;
            return ok ? ssl_verify_ok : ssl_verify_invalid;
        }
    }
    switch (tls_hook_gate(c, TLS_HOOK_VERIFY_CLIENT)) {
    case TLS_HOOK_GO:
        return ssl_verify_ok;
    case TLS_HOOK_WAIT:
        return ssl_verify_retry;
    case TLS_HOOK_FAIL:
        break;
    }
    *out_alert = SSL_AD_ACCESS_DENIED;
    return ssl_verify_invalid;
}

bool tls_sni_allows(const struct tls_sni_entry *e, const struct sockaddr *peer)
{
    return !e || !e->ip_allow || net_ipallow_check(e->ip_allow, peer, "GET");
}

int tls_sni_route_expand(const struct tls_sni_entry *e, const char *route, const char *sni,
                         unsigned local_port, char *out, size_t len)
{
    size_t cap_len = e && e->wildcard && sni ? strlen(sni) - strlen(e->fqdn) : 0;
    size_t o = 0;
    for (const char *p = route; *p;) {
        char port[8];
        const char *add = NULL;
        size_t n = 1;
        if (p[0] == '$' && p[1] == '1') {
            add = sni ? sni : "";
            n = cap_len;
            p += 2;
        } else if (strncmp(p, "{inbound_local_port}", 20) == 0) {
            snprintf(port, sizeof(port), "%u", local_port);
            add = port;
            n = strlen(port);
            p += 20;
        } else {
            add = p++;
        }
        if (o + n >= len)
            return -ENOSPC;
        memcpy(out + o, add, n);
        o += n;
    }
    out[o] = '\0';
    return 0;
}

int tls_sni_apply(const struct tls_sni_config *c, const struct tls_sni_entry *e, SSL *ssl,
                  const struct sockaddr *peer)
{
    if (e && e->ip_allow && !net_ipallow_check(e->ip_allow, peer, "GET"))
        return -EACCES;
    if (e && e->min_version && (!SSL_set_min_proto_version(ssl, e->min_version) ||
                                !SSL_set_max_proto_version(ssl, e->max_version)))
        return -ENOMEM;
    int level = e && e->verify_client != TLS_VERIFY_CLIENT_UNSET ? e->verify_client
                                                                  : c ? c->level : 0;
    if (level == TLS_VERIFY_CLIENT_NONE)
        return 0;
    const struct tls_client_ca *ca = e && e->ca.store ? &e->ca : &c->ca;
    if (ex_store < 0) // made by every configuration build
        return -ENOMEM;
    if (ca->store) {
        X509_STORE_up_ref(ca->store);
        if (!SSL_set_ex_data(ssl, ex_store, ca->store)) {
            X509_STORE_free(ca->store);
            return -ENOMEM;
        }
    }
    if (ca->names && sk_X509_NAME_num(ca->names) > 0) {
        STACK_OF(X509_NAME) *names = SSL_dup_CA_list(ca->names);
        if (!names)
            return -ENOMEM;
        SSL_set_client_CA_list(ssl, names);
    }
    SSL_set_custom_verify(ssl,
                          level == TLS_VERIFY_CLIENT_STRICT
                              ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                              : SSL_VERIFY_PEER,
                          verify_client_cb);
    return 0;
}
