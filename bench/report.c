// SPDX-License-Identifier: Apache-2.0
// bench/report.c: the final report of tlsedge-bench, in text and in JSON (see bench/report.h;
// the JSON fields are listed in bench/README.md). Derived numbers (rate, MB/s, bytes per
// connection, ratios) are computed in one place, derive(), so both formats agree.
#include "bench/report.h"

#include <math.h>
#include <string.h>

#include "bench/opts.h"
#include "bench/stats.h"
#include "bench/tls.h"

// struct derived: the numbers both formats print.
struct derived {
    uint64_t ops, errors, bytes;
    double rate;
    double p50, p90, p99, p999, mean, max; // ms
    bool have_rate_per_core;
    double rate_per_core;
    bool have_resumed;
    double resumed_ratio;
    bool have_mbps;
    double mbps;
    bool have_bpc;
    double bytes_per_conn;
    char negotiated[160];
    char mismatch[160];
};

// derive computes d from r.
static void derive(const struct bench_result *r, struct derived *d)
{
    const struct bench_stats *s = r->s;

    memset(d, 0, sizeof(*d));
    d->ops = atomic_load(&s->ops);
    d->errors = atomic_load(&s->errors);
    d->bytes = atomic_load(&s->body_bytes);
    d->rate = r->seconds > 0 ? (double)d->ops / r->seconds : 0;
    d->p50 = bench_hist_percentile(&s->hist, 0.50) / 1e6;
    d->p90 = bench_hist_percentile(&s->hist, 0.90) / 1e6;
    d->p99 = bench_hist_percentile(&s->hist, 0.99) / 1e6;
    d->p999 = bench_hist_percentile(&s->hist, 0.999) / 1e6;
    d->mean = bench_hist_mean(&s->hist) / 1e6;
    d->max = (double)bench_hist_max(&s->hist) / 1e6;
    d->have_rate_per_core = r->have_server_cpu && r->server_cpu_pct > 0;
    d->rate_per_core = d->have_rate_per_core ? d->rate / (r->server_cpu_pct / 100.0) : 0;
    d->have_resumed = s->handshakes > 0;
    d->resumed_ratio = d->have_resumed ? (double)s->resumed / (double)s->handshakes : 0;
    d->have_mbps = r->o->mode == BENCH_MODE_BULK;
    d->mbps = r->seconds > 0 ? (double)d->bytes / 1e6 / r->seconds : 0;
    d->have_bpc = r->have_rss && d->ops > 0;
    d->bytes_per_conn =
        d->have_bpc ? ((double)r->rss_after_kb - (double)r->rss_before_kb) * 1024.0 / (double)d->ops
                    : 0;
    if (s->have_first)
        bench_tls_tuple_format(&s->first, d->negotiated, sizeof(d->negotiated));
    if (s->mismatches > 0)
        bench_tls_tuple_format(&s->mismatch, d->mismatch, sizeof(d->mismatch));
}

// hex writes the 32-byte fingerprint fp as 64 lowercase hex digits into out (65 bytes).
static void hex(const uint8_t fp[32], char out[65])
{
    static const char digits[] = "0123456789abcdef";

    for (int i = 0; i < 32; i++) {
        out[2 * i] = digits[fp[i] >> 4];
        out[2 * i + 1] = digits[fp[i] & 15];
    }
    out[64] = '\0';
}

// text_errors prints the error lines.
static void text_errors(FILE *f, const struct bench_stats *s, uint64_t errors)
{
    fprintf(f, "  errors      %llu", (unsigned long long)errors);
    for (int k = 0; k < BENCH_ERR_KINDS; k++)
        if (s->err_kind[k] > 0)
            fprintf(f, "  %s %llu", bench_err_kind_name((enum bench_err_kind)k),
                    (unsigned long long)s->err_kind[k]);
    fputc('\n', f);
    for (size_t i = 0; i < s->n_detail; i++)
        fprintf(f, "              %-40s %llu\n", s->detail[i].key,
                (unsigned long long)s->detail[i].n);
    if (s->detail_other > 0)
        fprintf(f, "              %-40s %llu\n", "(other)", (unsigned long long)s->detail_other);
}

// text_extras prints the mode-specific lines.
static void text_extras(FILE *f, const struct bench_result *r, const struct derived *d)
{
    const struct bench_stats *s = r->s;
    char fp[65];

    if (r->o->mode == BENCH_MODE_RESUME || (d->have_resumed && s->resumed > 0))
        fprintf(f, "  resumed     %.1f %% (%llu of %llu handshakes; %llu tickets received, %s)\n",
                100 * d->resumed_ratio, (unsigned long long)s->resumed,
                (unsigned long long)s->handshakes, (unsigned long long)s->tickets,
                r->ticket_mode != NULL ? r->ticket_mode : "unknown");
    if (d->have_mbps)
        fprintf(f, "  bulk        %.1f MB/s (%llu body bytes)\n", d->mbps,
                (unsigned long long)d->bytes);
    if (r->o->mode == BENCH_MODE_IDLE) {
        fprintf(f, "  idle        %llu of %llu held for %.1f s", (unsigned long long)r->held,
                (unsigned long long)r->o->idle_n, r->hold_seconds);
        if (r->have_rss)
            fprintf(f, "; server RSS %llu -> %llu KiB, %.0f bytes/conn",
                    (unsigned long long)r->rss_before_kb, (unsigned long long)r->rss_after_kb,
                    d->bytes_per_conn);
        fputc('\n', f);
    }
    for (size_t i = 0; i < s->n_cert; i++) {
        hex(s->cert[i].fp, fp);
        fprintf(f, "  cert        %s %llu\n", fp, (unsigned long long)s->cert[i].n);
    }
    if (s->cert_other > 0)
        fprintf(f, "  cert        (other) %llu\n", (unsigned long long)s->cert_other);
}

void bench_report_text(FILE *f, const struct bench_result *r)
{
    const struct bench_opts *o = r->o;
    struct derived d;

    derive(r, &d);
    if (o->mode == BENCH_MODE_IDLE)
        fprintf(f,
                "tlsedge-bench idle %llu %s: %u thread%s, %u opening at once, opened in %.2f s%s\n",
                (unsigned long long)o->idle_n, o->target, r->threads, r->threads == 1 ? "" : "s",
                o->conns, r->seconds, r->interrupted ? " (interrupted)" : "");
    else
        fprintf(f, "tlsedge-bench %s %s: %u thread%s, %u connections, %.2f s measured%s\n",
                bench_mode_name(o->mode), o->target, r->threads, r->threads == 1 ? "" : "s",
                o->conns, r->seconds, r->interrupted ? " (interrupted)" : "");
    fprintf(f, "  ops         %llu (%.1f/s)\n", (unsigned long long)d.ops, d.rate);
    text_errors(f, r->s, d.errors);
    fprintf(f, "  latency ms  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  (mean %.3f, max %.3f)\n",
            d.p50, d.p90, d.p99, d.p999, d.mean, d.max);
    fprintf(f, "  client CPU  %.1f %%\n", r->client_cpu_pct);
    if (r->have_server_cpu)
        fprintf(f, "  server CPU  %.1f %% (%.1f ops/s per server core)\n", r->server_cpu_pct,
                d.rate_per_core);
    fprintf(f, "  negotiated  %s\n", r->s->have_first ? d.negotiated : "(no handshake)");
    text_extras(f, r, &d);
    if (r->s->mismatches > 0)
        fprintf(f, "WARNING: %llu handshakes negotiated something else than the first, e.g. %s\n",
                (unsigned long long)r->s->mismatches, d.mismatch);
}

// json_str writes s as a JSON string.
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

// json_num writes a finite number, or null.
static void json_num(FILE *f, const char *name, bool have, double v)
{
    if (have && isfinite(v))
        fprintf(f, ",\"%s\":%.4f", name, v);
    else
        fprintf(f, ",\"%s\":null", name);
}

// json_uint writes an integer, or null.
static void json_uint(FILE *f, const char *name, bool have, uint64_t v)
{
    if (have)
        fprintf(f, ",\"%s\":%llu", name, (unsigned long long)v);
    else
        fprintf(f, ",\"%s\":null", name);
}

// json_objects writes the errors, error_details and certs objects.
static void json_objects(FILE *f, const struct bench_stats *s)
{
    char fp[65];

    fputs(",\"errors\":{", f);
    for (int k = 0; k < BENCH_ERR_KINDS; k++)
        fprintf(f, "%s\"%s\":%llu", k > 0 ? "," : "", bench_err_kind_name((enum bench_err_kind)k),
                (unsigned long long)s->err_kind[k]);
    fputs("},\"error_details\":{", f);
    for (size_t i = 0; i < s->n_detail; i++) {
        fputs(i > 0 ? "," : "", f);
        json_str(f, s->detail[i].key);
        fprintf(f, ":%llu", (unsigned long long)s->detail[i].n);
    }
    if (s->detail_other > 0)
        fprintf(f, "%s\"other\":%llu", s->n_detail > 0 ? "," : "",
                (unsigned long long)s->detail_other);
    fputs("},\"certs\":{", f);
    for (size_t i = 0; i < s->n_cert; i++) {
        hex(s->cert[i].fp, fp);
        fprintf(f, "%s\"%s\":%llu", i > 0 ? "," : "", fp, (unsigned long long)s->cert[i].n);
    }
    if (s->cert_other > 0)
        fprintf(f, "%s\"other\":%llu", s->n_cert > 0 ? "," : "", (unsigned long long)s->cert_other);
    fputc('}', f);
}

void bench_report_json(FILE *f, const struct bench_result *r)
{
    const struct bench_stats *s = r->s;
    struct derived d;

    derive(r, &d);
    fprintf(f, "{\"mode\":\"%s\",\"target\":", bench_mode_name(r->o->mode));
    json_str(f, r->o->target);
    fprintf(f, ",\"threads\":%u,\"connections\":%u,\"ops\":%llu", r->threads, r->o->conns,
            (unsigned long long)d.ops);
    json_num(f, "seconds", true, r->seconds);
    json_num(f, "warmup", true, r->warmup);
    fprintf(f, ",\"interrupted\":%s", r->interrupted ? "true" : "false");
    json_num(f, "rate", true, d.rate);
    fprintf(f, ",\"errors_total\":%llu", (unsigned long long)d.errors);
    json_objects(f, s);
    json_num(f, "p50_ms", d.ops > 0, d.p50);
    json_num(f, "p90_ms", d.ops > 0, d.p90);
    json_num(f, "p99_ms", d.ops > 0, d.p99);
    json_num(f, "p999_ms", d.ops > 0, d.p999);
    json_num(f, "mean_ms", d.ops > 0, d.mean);
    json_num(f, "max_ms", d.ops > 0, d.max);
    json_num(f, "client_cpu_pct", true, r->client_cpu_pct);
    json_num(f, "server_cpu_pct", r->have_server_cpu, r->server_cpu_pct);
    json_num(f, "rate_per_server_core", d.have_rate_per_core, d.rate_per_core);
    fputs(",\"negotiated\":", f);
    if (s->have_first)
        json_str(f, d.negotiated);
    else
        fputs("null", f);
    fprintf(f, ",\"negotiated_mismatches\":%llu,\"negotiated_mismatch\":",
            (unsigned long long)s->mismatches);
    if (s->mismatches > 0)
        json_str(f, d.mismatch);
    else
        fputs("null", f);
    fprintf(f, ",\"handshakes\":%llu,\"resumed\":%llu,\"tickets\":%llu",
            (unsigned long long)s->handshakes, (unsigned long long)s->resumed,
            (unsigned long long)s->tickets);
    json_num(f, "resumed_ratio", d.have_resumed, d.resumed_ratio);
    fputs(",\"ticket_mode\":", f);
    json_str(f, r->ticket_mode != NULL ? r->ticket_mode : "unknown");
    fprintf(f, ",\"bytes\":%llu", (unsigned long long)d.bytes);
    json_num(f, "mbps", d.have_mbps, d.mbps);
    json_num(f, "bytes_per_conn", d.have_bpc, d.bytes_per_conn);
    json_uint(f, "rss_before_kb", r->have_rss, r->rss_before_kb);
    json_uint(f, "rss_after_kb", r->have_rss, r->rss_after_kb);
    json_uint(f, "held", r->o->mode == BENCH_MODE_IDLE, r->held);
    json_num(f, "hold_seconds", r->o->mode == BENCH_MODE_IDLE, r->hold_seconds);
    fprintf(f, ",\"connected\":%llu}\n", (unsigned long long)r->connected);
}
