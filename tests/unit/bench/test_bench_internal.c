// SPDX-License-Identifier: Apache-2.0
// Unit tests for bench/http.c (the response parser) and bench/hist.c (the latency histogram).
// The unit-test binary links tlsedge's library objects, not the bench's, so the two sources are
// included here (the one file allowed to do so for the bench module); they depend on libc only.
#include "bench/hist.c"
#include "bench/http.c"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

static uint8_t head[4096];

// feed_all gives s to r whole, or one byte at a time, and returns the last result.
static int feed_all(struct bench_http_resp *r, const char *s, bool bytewise)
{
    size_t n = strlen(s);
    int rc = 0;

    if (!bytewise)
        return bench_http_resp_feed(r, (const uint8_t *)s, n);
    for (size_t i = 0; i < n; i++) {
        rc = bench_http_resp_feed(r, (const uint8_t *)s + i, 1);
        if (rc != 0 && i + 1 < n)
            return rc == 1 ? -999 : rc; // complete (or failed) too early
    }
    return rc;
}

Test(bench_http, content_length_whole_and_bytewise)
{
    const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

    for (int b = 0; b < 2; b++) {
        struct bench_http_resp r;

        bench_http_resp_init(&r, head, sizeof(head));
        cr_assert_eq(feed_all(&r, resp, b), 1);
        cr_assert_eq(r.status, 200);
        cr_assert_eq(r.body_bytes, 5);
        cr_assert_not(r.close);
    }
}

Test(bench_http, chunked_with_extensions_and_trailers_bytewise)
{
    const char *resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "3;n=1;q=\"x y\"\r\nabc\r\n10\r\n0123456789abcdef\r\n"
                       "0\r\nX-Trailer: done\r\n\r\n";

    for (int b = 0; b < 2; b++) {
        struct bench_http_resp r;

        bench_http_resp_init(&r, head, sizeof(head));
        cr_assert_eq(feed_all(&r, resp, b), 1, "bytewise=%d", b);
        cr_assert_eq(r.body_bytes, 19);
    }
}

Test(bench_http, interim_1xx_then_final_response)
{
    struct bench_http_resp r;

    bench_http_resp_init(&r, head, sizeof(head));
    cr_assert_eq(feed_all(&r,
                          "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n"
                          "Connection: close\r\n\r\n",
                          false),
                 1);
    cr_assert_eq(r.status, 204);
    cr_assert(r.close);
    cr_assert_eq(r.body_bytes, 0);
}

Test(bench_http, body_delimited_by_close)
{
    struct bench_http_resp r;

    bench_http_resp_init(&r, head, sizeof(head));
    cr_assert_eq(feed_all(&r, "HTTP/1.0 200 ok\r\nContent-type: text/html\r\n\r\n<html>", false),
                 0);
    cr_assert(r.close);
    cr_assert_eq(bench_http_resp_eof(&r), 1);
    cr_assert_eq(r.body_bytes, 6);
}

Test(bench_http, cut_short_by_eof)
{
    struct bench_http_resp r;

    bench_http_resp_init(&r, head, sizeof(head));
    cr_assert_eq(feed_all(&r, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", false), 0);
    cr_assert_eq(bench_http_resp_eof(&r), -EPIPE);
}

Test(bench_http, http10_keep_alive_only_when_asked)
{
    struct bench_http_resp r;

    bench_http_resp_init(&r, head, sizeof(head));
    cr_assert_eq(feed_all(&r, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false), 1);
    cr_assert(r.close);
    bench_http_resp_reset(&r);
    cr_assert_eq(feed_all(&r,
                          "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
                          false),
                 1);
    cr_assert_not(r.close);
}

Test(bench_http, refuses_malformed_oversized_and_trailing_bytes)
{
    static uint8_t small[64];
    struct bench_http_resp r;
    char big[200];

    bench_http_resp_init(&r, head, sizeof(head));
    cr_assert_eq(feed_all(&r, "HTTX/1.1 200 OK\r\n\r\n", false), -EPROTO);
    bench_http_resp_reset(&r);
    cr_assert_eq(feed_all(&r, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab", false), -EPROTO);
    bench_http_resp_reset(&r);
    cr_assert_eq(feed_all(&r, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false),
                 -EPROTO);
    bench_http_resp_init(&r, small, sizeof(small));
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
    cr_assert_eq(feed_all(&r, big, false), -E2BIG);
}

Test(bench_http, request_format)
{
    const char *want =
        "GET /size/10 HTTP/1.1\r\nHost: a.test:8443\r\nUser-Agent: tlsedge-bench\r\n\r\n";
    char buf[128];

    cr_assert_eq(bench_http_request_format(buf, sizeof(buf), "/size/10", "a.test:8443"),
                 (int)strlen(want));
    cr_assert_str_eq(buf, want);
    cr_assert_eq(bench_http_request_format(buf, strlen(want), "/size/10", "a.test:8443"), -ENOSPC);
}

Test(bench_hist, percentiles_within_half_a_percent)
{
    static struct bench_hist h;
    const uint64_t values[] = {1, 127, 128, 1000, 123456, 999999, 5000000, 60000000000ull};

    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        double got;

        bench_hist_init(&h);
        bench_hist_add(&h, values[i]);
        got = bench_hist_percentile(&h, 0.5);
        cr_assert(got >= (double)values[i] * 0.995 - 0.5 && got <= (double)values[i] * 1.005 + 0.5,
                  "value %llu reported as %f", (unsigned long long)values[i], got);
    }
}

Test(bench_hist, percentile_ranks_and_merge)
{
    static struct bench_hist a, b;

    bench_hist_init(&a);
    bench_hist_init(&b);
    for (uint64_t v = 1; v <= 1000; v++)
        bench_hist_add(v <= 500 ? &a : &b, v * 1000);
    bench_hist_merge(&a, &b);
    cr_assert_eq(bench_hist_total(&a), 1000);
    cr_assert_float_eq(bench_hist_percentile(&a, 0.5), 500000, 500000 * 0.005);
    cr_assert_float_eq(bench_hist_percentile(&a, 0.99), 990000, 990000 * 0.005);
    cr_assert_float_eq(bench_hist_mean(&a), 500500, 0.01);
    cr_assert_eq(bench_hist_max(&a), 1000000);
}
