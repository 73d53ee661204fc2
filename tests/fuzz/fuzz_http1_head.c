// SPDX-License-Identifier: Apache-2.0
// tests/fuzz/fuzz_http1_head.c: the HTTP/1.1 head parsers and head writers (net/http1.h). Every
// input is parsed as a client's request and as an origin's response (to GET, HEAD and CONNECT).
// Seeds: requests `curl` sent, hand-written requests and responses.
//
// Properties checked beyond "no crash":
//  - a parsed head lies within the input, and every slice lies within the head;
//  - a head of n bytes parses the same with max_head = n, is too large with max_head = n - 1,
//    and its strict prefixes are incomplete (0), never an error;
//  - the head the proxy writes to the origin (or the client) parses again, with the same
//    method, status and body framing: a request the proxy forwards can never be framed one way
//    by tlsedge and another way by the origin (request smuggling).
#include "net/http1.h"
#include "tests/fuzz/fuzz.h"

#include <string.h>

// OUT_MAX bounds the rewritten heads; a longer one is -ENOSPC, which is allowed.
#define OUT_MAX 65536

// slice_in checks that s lies within the first n bytes.
static void slice_in(struct net_http1_slice s, size_t n)
{
    FUZZ_CHECK((size_t)s.off + s.len <= n);
}

// check_prefixes checks that up to 32 strict prefixes of the head buf[0..n) are incomplete.
static void check_prefixes(const char *buf, size_t n, size_t size, bool request, uint32_t seed)
{
    static struct net_http1_request req;
    static struct net_http1_response resp;
    for (int i = 0; i < 32; i++) {
        size_t k = i == 0 ? n - 1 : fuzz_rng_next(&seed) % n;
        int rc = request ? net_http1_request_parse(buf, k, size, &req)
                         : net_http1_response_parse(buf, k, size, NET_HTTP1_METHOD_GET, &resp);
        FUZZ_CHECK(rc == 0);
    }
}

// check_request checks a request head of n bytes parsed from buf[0..size) into req.
static void check_request(const char *buf, size_t size, int n, const struct net_http1_request *req)
{
    static struct net_http1_request again;
    static char out[OUT_MAX];
    FUZZ_CHECK((size_t)n <= size && req->nheaders <= NET_HTTP1_MAX_HEADERS);
    slice_in(req->target, n);
    slice_in(req->path, n);
    slice_in(req->host, n);
    for (uint32_t i = 0; i < req->nheaders; i++) {
        slice_in(req->headers[i].name, n);
        slice_in(req->headers[i].value, n);
    }
    FUZZ_CHECK(net_http1_request_parse(buf, size, (size_t)n, &again) == n);
    FUZZ_CHECK(net_http1_request_parse(buf, size, (size_t)n - 1, &again) == -NET_HTTP1_E_TOO_LARGE);
    check_prefixes(buf, (size_t)n, size, true, (uint32_t)n * 2654435761u + 1);

    struct net_http1_proxy_opts o = {.host = "origin.test:8080",
                                     .via_name = "tlsedge",
                                     .client_ip = "192.0.2.1",
                                     .origin_close = true};
    int w = net_http1_request_write_proxy(buf, req, &o, out, sizeof(out));
    if (req->method == NET_HTTP1_METHOD_CONNECT) {
        FUZZ_CHECK(w == -EINVAL);
        return;
    }
    FUZZ_CHECK(w > 0 || w == -ENOSPC);
    if (w < 0)
        return;
    int rc = net_http1_request_parse(out, (size_t)w, (size_t)w, &again);
    FUZZ_CHECK(rc == w || (rc == -NET_HTTP1_E_TOO_LARGE && req->nheaders >= 97));
    if (rc != w)
        return;
    FUZZ_CHECK(again.method == req->method && again.body == req->body);
    FUZZ_CHECK(again.content_length == req->content_length);
}

// check_response checks a response head of n bytes to a request with method m.
static void check_response(const char *buf, size_t size, int n, enum net_http1_method m,
                           const struct net_http1_response *resp)
{
    static struct net_http1_response again;
    static char out[OUT_MAX];
    FUZZ_CHECK((size_t)n <= size && resp->status >= 100 && resp->status <= 599);
    slice_in(resp->reason, n);
    for (uint32_t i = 0; i < resp->nheaders; i++) {
        slice_in(resp->headers[i].name, n);
        slice_in(resp->headers[i].value, n);
    }
    FUZZ_CHECK(net_http1_response_parse(buf, size, (size_t)n, m, &again) == n);
    if (m == NET_HTTP1_METHOD_GET)
        check_prefixes(buf, (size_t)n, size, false, (uint32_t)n * 2246822519u + 1);

    struct net_http1_resp_opts o = {.via_name = "tlsedge",
                                    .client_close = resp->body == NET_HTTP1_BODY_EOF};
    int w = net_http1_response_write_proxy(buf, resp, &o, out, sizeof(out));
    if (resp->status == 101) {
        FUZZ_CHECK(w == -EINVAL);
        return;
    }
    FUZZ_CHECK(w > 0 || w == -ENOSPC);
    if (w < 0)
        return;
    int rc = net_http1_response_parse(out, (size_t)w, (size_t)w, m, &again);
    FUZZ_CHECK(rc == w || (rc == -NET_HTTP1_E_TOO_LARGE && resp->nheaders >= 98));
    if (rc != w)
        return;
    FUZZ_CHECK(again.status == resp->status && again.body == resp->body);
    FUZZ_CHECK(again.content_length == resp->content_length);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct net_http1_request req;
    static struct net_http1_response resp;
    static const enum net_http1_method methods[] = {NET_HTTP1_METHOD_GET, NET_HTTP1_METHOD_HEAD,
                                                    NET_HTTP1_METHOD_CONNECT};
    const char *buf = (const char *)data;

    int n = net_http1_request_parse(buf, size, size, &req);
    FUZZ_CHECK(n >= 0 || n == -NET_HTTP1_E_BAD || n == -NET_HTTP1_E_TOO_LARGE);
    FUZZ_CHECK(net_http1_parse_status(n) == (n >= 0 ? 0 : n == -NET_HTTP1_E_BAD ? 400 : 431));
    if (n > 0)
        check_request(buf, size, n, &req);

    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        n = net_http1_response_parse(buf, size, size, methods[i], &resp);
        FUZZ_CHECK(n >= 0 || n == -NET_HTTP1_E_BAD || n == -NET_HTTP1_E_TOO_LARGE);
        if (n > 0)
            check_response(buf, size, n, methods[i], &resp);
    }
    return 0;
}
