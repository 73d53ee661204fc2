// SPDX-License-Identifier: Apache-2.0
// net/statspage.c: tlsedge's counters over HTTP: GET /_tlsedge/stats (JSON, as ATS's
// stats_over_http) and GET /_tlsedge/metrics (Prometheus' text format), answered by the worker
// that read the request, with every counter summed over the threads at that moment.
#include <stdbool.h>
#include <stdio.h>

#include "core/stats.h"
#include "net/conn.h"
#include "net/internal.h"

// Appends every counter to body as JSON: {"name": value, ...}.
static void stats_json(struct buf *body)
{
    char line[256];
    int n = core_stat_count();
    net_buf_append(body, "{\n", 2);
    for (int i = 0; i < n; i++) {
        int len = snprintf(line, sizeof(line), "  \"%s\": %lld%s\n", core_stat_name(i),
                           (long long)core_stat_sum(i), i + 1 < n ? "," : "");
        if (len >= (int)sizeof(line) || net_buf_append(body, line, (size_t)len) < 0)
            break;
    }
    net_buf_append(body, "}\n", 2);
}

// Appends every counter to body in Prometheus' text format (0.0.4): the name with every
// character outside [A-Za-z0-9_:] as '_', plus "_total" for a counter, as Prometheus names them
// (proxy.process.http.incoming_requests -> proxy_process_http_incoming_requests_total; a gauge
// such as proxy.process.http.current_client_connections keeps its name), a HELP line giving the
// ATS-style name, and a TYPE line.
static void stats_prometheus(struct buf *body)
{
    char line[512], metric[200];
    int n = core_stat_count();
    for (int i = 0; i < n; i++) {
        const char *name = core_stat_name(i);
        size_t k = 0;
        for (; name[k] && k + 1 < sizeof(metric); k++) {
            char ch = name[k];
            bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
                      ch == ':' || (k > 0 && ch >= '0' && ch <= '9');
            metric[k] = ok ? ch : '_';
        }
        metric[k] = '\0';
        bool gauge = core_stat_is_gauge(i);
        const char *sfx = gauge ? "" : "_total";
        int len = snprintf(line, sizeof(line), "# HELP %s%s %s\n# TYPE %s%s %s\n%s%s %lld\n",
                           metric, sfx, name, metric, sfx, gauge ? "gauge" : "counter", metric,
                           sfx, (long long)core_stat_sum(i));
        if (len >= (int)sizeof(line) || net_buf_append(body, line, (size_t)len) < 0)
            break;
    }
}

void net_http_reply_stats(struct net_http *h, bool prometheus)
{
    struct buf body = {0};
    char line[256];
    core_stat_inc(net_http_st.stats_requests);
    if (prometheus)
        stats_prometheus(&body);
    else
        stats_json(&body);
    bool close = !h->client_keepalive || h->c->stop_after_response;
    int hl = snprintf(line, sizeof(line),
                      "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n"
                      "Cache-Control: no-store\r\nContent-Length: %zu\r\n%s\r\n",
                      prometheus ? "text/plain; version=0.0.4; charset=utf-8" : "application/json",
                      net_buf_len(&body), close ? "Connection: close\r\n" : "");
    net_buf_append(&h->resp.out, line, (size_t)hl);
    if (h->method != NET_HTTP1_METHOD_HEAD)
        net_buf_append(&h->resp.out, body.data, net_buf_len(&body));
    net_buf_free(&body);
    net_http_count_status(200);
    net_txlog_status(h, 200, "TCP_MISS");
    if (prometheus)
        net_txlog_type(h, "text/plain", 10);
    else
        net_txlog_type(h, "application/json", 16);
    h->close_after = close;
    h->resp_head_sent = true;
    net_http_set_state(h, NET_HTTP_REPLY);
}

