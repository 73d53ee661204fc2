// SPDX-License-Identifier: Apache-2.0
// net/txlog.c: the transaction log: one line per HTTP transaction in
// proxy.config.log.logfile_dir/squid.log (core_log_access_*), in the field order of ATS's
// squid format:
//
//   time.ms ms_taken client_ip code/status bytes method url - hierarchy/origin_ip content_type
//
// e.g. "1795394400.123 4 127.0.0.1 TCP_MISS/200 1234 GET https://a.test/x - DIRECT/127.0.0.1
// text/plain" (one line).
// A record (struct net_txlog) exists only while the log is on, from the request head to the end
// of the transaction; it belongs to its struct net_http and lives on its worker. The line goes
// to core_log_access_write, which batches a worker's lines until the end of its loop iteration.
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "net/conn.h"
#include "net/http1.h"
#include "net/internal.h"

#define URL_MAX 2048

struct net_txlog {
    struct timespec start; // CLOCK_REALTIME when the request head was read
    struct timespec mono;  // CLOCK_MONOTONIC then, for the time taken
    uint64_t sent;         // bytes written to the client for this transaction
    int status;            // the status sent to the client, 0 while none
    const char *code;      // squid result code (static string), NULL while undecided
    char type[80];         // the response's Content-Type, escaped; "" while none
    char method[24];       // "-" for a head that could not be parsed
    char url[];            // "-" for a head that could not be parsed
};

// Appends the n bytes at s to out (at *len, room cap), each outside '!'..'~' as %XX.
static void put_escaped(char *out, size_t *len, size_t cap, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n && *len + 4 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch > ' ' && ch < 0x7f) {
            out[(*len)++] = (char)ch;
        } else {
            out[(*len)++] = '%';
            out[(*len)++] = hex[ch >> 4];
            out[(*len)++] = hex[ch & 15];
        }
    }
    out[*len] = '\0';
}

void net_txlog_begin(struct net_http *h, const char *buf, const struct net_http1_request *req)
{
    if (!core_log_access_on())
        return;
    char url[URL_MAX];
    size_t len = 0;
    url[0] = '\0';
    if (!req) {
        snprintf(url, sizeof(url), "-");
    } else if (req->form == NET_HTTP1_TARGET_ORIGIN && req->host.len > 0) {
        const char *scheme = h->c->tls ? "https://" : "http://";
        put_escaped(url, &len, sizeof(url), scheme, strlen(scheme));
        put_escaped(url, &len, sizeof(url), buf + req->host.off, req->host.len);
        put_escaped(url, &len, sizeof(url), buf + req->path.off, req->path.len);
    } else {
        put_escaped(url, &len, sizeof(url), buf + req->target.off, req->target.len);
    }
    net_txlog_free(h->txlog); // a transaction that never ended (cannot happen; never leak)
    struct net_txlog *t = calloc(1, sizeof(*t) + strlen(url) + 1);
    if (!t)
        return; // this transaction goes unlogged
    clock_gettime(CLOCK_REALTIME, &t->start);
    clock_gettime(CLOCK_MONOTONIC, &t->mono);
    if (req) {
        size_t m = 0;
        put_escaped(t->method, &m, sizeof(t->method), buf + req->method_name.off,
                    req->method_name.len);
    } else {
        snprintf(t->method, sizeof(t->method), "-");
    }
    memcpy(t->url, url, strlen(url) + 1);
    h->txlog = t;
}

void net_txlog_status(struct net_http *h, int status, const char *code)
{
    if (!h->txlog)
        return;
    h->txlog->status = status;
    h->txlog->code = code;
}

void net_txlog_type(struct net_http *h, const char *type, size_t len)
{
    if (!h->txlog)
        return;
    size_t n = 0;
    put_escaped(h->txlog->type, &n, sizeof(h->txlog->type), type, len);
}

void net_txlog_code(struct net_http *h, const char *code)
{
    if (h->txlog)
        h->txlog->code = code;
}

void net_txlog_sent(struct net_http *h, size_t n)
{
    if (h->txlog)
        h->txlog->sent += n;
}

// The origin's address for the hierarchy field ("DIRECT/ip"), or "NONE/-" when none was chosen.
static void origin_text(const struct net_http *h, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    const struct sockaddr_storage *a = h->dest ? &h->dest->addr : NULL;
    const void *bin = NULL;
    if (a && a->ss_family == AF_INET)
        bin = &((const struct sockaddr_in *)a)->sin_addr;
    else if (a && a->ss_family == AF_INET6)
        bin = &((const struct sockaddr_in6 *)a)->sin6_addr;
    if (bin && inet_ntop(a->ss_family, bin, ip, sizeof(ip)))
        snprintf(out, cap, "DIRECT/%s", ip);
    else
        snprintf(out, cap, "NONE/-");
}

void net_txlog_end(struct net_http *h)
{
    struct net_txlog *t = h->txlog;
    if (!t)
        return;
    h->txlog = NULL;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long ms = (long long)(now.tv_sec - t->mono.tv_sec) * 1000 +
                   (now.tv_nsec - t->mono.tv_nsec) / 1000000;
    char client[INET6_ADDRSTRLEN] = "-", origin[8 + INET6_ADDRSTRLEN];
    const struct sockaddr_storage *p = &h->c->peer;
    const void *bin = p->ss_family == AF_INET6
                          ? (const void *)&((const struct sockaddr_in6 *)p)->sin6_addr
                          : (const void *)&((const struct sockaddr_in *)p)->sin_addr;
    if (!inet_ntop(p->ss_family, bin, client, sizeof(client)))
        snprintf(client, sizeof(client), "-");
    origin_text(h, origin, sizeof(origin));
    char line[URL_MAX + 256];
    int n = snprintf(line, sizeof(line), "%lld.%03ld %lld %s %s/%d %llu %s %s - %s %s\n",
                     (long long)t->start.tv_sec, t->start.tv_nsec / 1000000, ms < 0 ? 0 : ms,
                     client, t->code ? t->code : "ERR_UNKNOWN", t->status,
                     (unsigned long long)t->sent, t->method, t->url, origin,
                     t->type[0] ? t->type : "-");
    if (n > 0)
        core_log_access_write(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    free(t);
}

void net_txlog_free(struct net_txlog *t)
{
    free(t);
}
