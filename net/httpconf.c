// SPDX-License-Identifier: Apache-2.0
// net/httpconf.c: the HTTP part of a snapshot: records.config settings, remap.config and
// ip_allow.yaml (see net/proxy.h).
#include "core/err.h"
#include "core/records.h"
#include "net/ipallow.h"
#include "net/proxy.h"
#include "net/remap.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const struct core_rec_decl records[] = {
    {"proxy.config.url_remap.filename", CORE_REC_STRING, "remap.config"},
    {"proxy.config.url_remap.remap_required", CORE_REC_INT, "1"},
    {"proxy.config.url_remap.pristine_host_hdr", CORE_REC_INT, "0"},
    {"proxy.config.cache.ip_allow.filename", CORE_REC_STRING, "ip_allow.yaml"},
    {"proxy.config.http.request_header_max_size", CORE_REC_INT, "131072"},
    {"proxy.config.http.connect_attempts_timeout", CORE_REC_INT, "30"},
    {"proxy.config.tlsedge.verify_server_timeout", CORE_REC_INT, "30"},
    {"proxy.config.http.keep_alive_no_activity_timeout_in", CORE_REC_INT, "120"},
    {"proxy.config.http.transaction_no_activity_timeout_in", CORE_REC_INT, "30"},
    {"proxy.config.http.transaction_no_activity_timeout_out", CORE_REC_INT, "30"},
    {"proxy.config.http.connect_ports", CORE_REC_STRING, "443"},
    {"proxy.config.http.server_session_sharing.match", CORE_REC_STRING, "both"},
    {"proxy.config.tlsedge.server_session_sharing.sni_lax", CORE_REC_INT, "0"},
    {"proxy.config.http.keep_alive_no_activity_timeout_out", CORE_REC_INT, "120"},
    {"proxy.config.http.per_server.connection.max", CORE_REC_INT, "0"},
    // ATS's default. Here it limits open client connections only (ATS counts origin ones too):
    // an origin connection exists only while its client connection does.
    {"proxy.config.net.connections_throttle", CORE_REC_INT, "30000"},
    // 1: tunnels between two plain TCP sockets move their bytes with splice(2) (net/splice.c).
    {"proxy.config.tlsedge.tunnel.splice", CORE_REC_INT, "1"},
    // 1 (ATS's default): a plain HTTP client's FIN after its request is a half-close, and its
    // transaction goes on; 0: the client left (as nginx treats it).
    {"proxy.config.http.allow_half_open", CORE_REC_INT, "1"},
};

int net_http_config_declare(struct core_records *rec)
{
    return core_records_declare_all(rec, records, sizeof(records) / sizeof(records[0]));
}

static uint64_t seconds(const struct core_records *rec, const char *name)
{
    int64_t v = core_records_get_int(rec, name);
    return (uint64_t)(v > 0 ? v : 1) * 1000;
}

static void conf_path(char *out, size_t len, const char *confdir, const char *name)
{
    if (name[0] == '/')
        snprintf(out, len, "%s", name);
    else
        snprintf(out, len, "%s/%s", confdir, name);
}

// Reads proxy.config.http.connect_ports: space-separated ports and ranges ("443 563 8000-8100"),
// or "*" for any port (ATS's syntax).
static int connect_ports(const char *s, struct net_http_config *c, struct core_err *err)
{
    const char *name = "proxy.config.http.connect_ports";
    c->n_connect_ports = 0;
    for (const char *p = s; *p;) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        if (!*p)
            break;
        unsigned long lo = 1, hi = 65535;
        char *end = NULL;
        if (*p == '*') {
            end = (char *)p + 1;
        } else {
            lo = hi = strtoul(p, &end, 10);
            if (end > p && *end == '-')
                hi = strtoul(end + 1, &end, 10);
        }
        if (end == p || lo < 1 || hi > 65535 || lo > hi ||
            (*end && *end != ' ' && *end != ',' && *end != '\t') ||
            c->n_connect_ports == sizeof(c->connect_ports) / sizeof(c->connect_ports[0])) {
            core_err_add(err, "records.config", 0, "%s: '%s' is not a list of ports and ranges",
                         name, s);
            return -EINVAL;
        }
        c->connect_ports[c->n_connect_ports][0] = (uint16_t)lo;
        c->connect_ports[c->n_connect_ports++][1] = (uint16_t)hi;
        p = end;
    }
    return 0;
}

static int sharing(const struct core_records *rec, struct net_http_config *c,
                   struct core_err *err)
{
    static const char *const names[] = {"none", "ip", "host", "both", "sni", "cert"};
    const char *m = core_records_get_str(rec, "proxy.config.http.server_session_sharing.match");
    c->sharing = -1;
    for (int i = 0; i < 6; i++)
        if (strcasecmp(m, names[i]) == 0)
            c->sharing = i;
    if (c->sharing < 0) {
        core_err_add(err, "records.config", 0,
                     "proxy.config.http.server_session_sharing.match: '%s' is not none, ip, "
                     "host, both, sni or cert",
                     m);
        return -EINVAL;
    }
    c->sni_lax =
        core_records_get_int(rec, "proxy.config.tlsedge.server_session_sharing.sni_lax") != 0;
    c->keepalive_out_ms = seconds(rec, "proxy.config.http.keep_alive_no_activity_timeout_out");
    int64_t m2 = core_records_get_int(rec, "proxy.config.http.per_server.connection.max");
    c->per_server_max = m2 > 0 ? (size_t)m2 : 0;
    return 0;
}

struct net_http_config *net_http_config_build(const struct core_records *rec, const char *confdir,
                                              struct core_err *err)
{
    struct net_http_config *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->remap_required = core_records_get_int(rec, "proxy.config.url_remap.remap_required") != 0;
    c->pristine_host = core_records_get_int(rec, "proxy.config.url_remap.pristine_host_hdr") != 0;
    int64_t hm = core_records_get_int(rec, "proxy.config.http.request_header_max_size");
    c->header_max = (size_t)(hm > 1024 ? hm : 1024);
    c->connect_timeout_ms = seconds(rec, "proxy.config.http.connect_attempts_timeout");
    c->verify_timeout_ms = seconds(rec, "proxy.config.tlsedge.verify_server_timeout");
    c->keepalive_in_ms = seconds(rec, "proxy.config.http.keep_alive_no_activity_timeout_in");
    c->txn_in_ms = seconds(rec, "proxy.config.http.transaction_no_activity_timeout_in");
    c->txn_out_ms = seconds(rec, "proxy.config.http.transaction_no_activity_timeout_out");
    if (connect_ports(core_records_get_str(rec, "proxy.config.http.connect_ports"), c, err) < 0) {
        free(c);
        return NULL;
    }
    int64_t mc = core_records_get_int(rec, "proxy.config.net.connections_throttle");
    c->max_client_conns = mc > 0 ? mc : 0;
    c->splice = core_records_get_int(rec, "proxy.config.tlsedge.tunnel.splice") != 0;
    c->half_open = core_records_get_int(rec, "proxy.config.http.allow_half_open") != 0;
    if (sharing(rec, c, err) < 0) {
        free(c);
        return NULL;
    }
    char path[PATH_MAX];
    if (confdir) {
        conf_path(path, sizeof(path), confdir,
                  core_records_get_str(rec, "proxy.config.url_remap.filename"));
        c->remap = access(path, F_OK) == 0 ? net_remap_load(path, err)
                                           : net_remap_parse("", 0, path, err);
        conf_path(path, sizeof(path), confdir,
                  core_records_get_str(rec, "proxy.config.cache.ip_allow.filename"));
        c->ipallow = access(path, F_OK) == 0 ? net_ipallow_load(path, err)
                                             : net_ipallow_new_loopback_only();
    } else {
        c->remap = net_remap_parse("", 0, "remap.config", err);
        c->ipallow = net_ipallow_new_loopback_only();
    }
    if (!c->remap || !c->ipallow) {
        net_http_config_free(c);
        return NULL;
    }
    return c;
}

void net_http_config_free(struct net_http_config *c)
{
    if (!c)
        return;
    net_remap_free(c->remap);
    net_ipallow_free(c->ipallow);
    free(c);
}

