// SPDX-License-Identifier: Apache-2.0
/*
 * tests/tools/origin/routes.c: the origin test server's endpoints: routing a parsed request,
 * response heads, the request body sinks (/sha256, /echo) and the generated response bodies.
 *
 * Every generated body (/size, /chunked, /eof, /slow) is the same deterministic stream: byte i
 * is byte (i % 16) of the 16-byte record printf("%015" PRIx64 "\n", i / 16), cut at N bytes.
 * Each record names its own offset, so a dropped, duplicated or reordered piece shows up in a
 * hexdump and in the checksum. Reference in shell:
 *   awk -v n=N 'BEGIN { for (i = 0; i * 16 < n; i++) printf "%015x\n", i }' | head -c N
 *
 * Endpoints are described in tests/tools/README.md.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/sha.h>

#include "origin.h"

#define SLOW_PIECE_MAX 65536

/* Chunk sizes /chunked cycles through: tiny, odd, page, large, and two in-between sizes. */
static const size_t chunk_cycle[] = {1, 17, 4096, 65536, 3, 1000};
#define CHUNK_CYCLE_LEN (sizeof(chunk_cycle) / sizeof(chunk_cycle[0]))

/* Body byte `off` onwards of the deterministic stream described at the top of the file. */
static void pattern_fill(char *dst, uint64_t off, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    while (n > 0) {
        char rec[16];
        uint64_t k = off / 16;
        for (int i = 14; i >= 0; i--) {
            rec[i] = hex[k & 15];
            k >>= 4;
        }
        rec[15] = '\n';
        size_t skip = (size_t)(off % 16);
        size_t take = min_size(16 - skip, n);
        memcpy(dst, rec + skip, take);
        dst += take;
        off += take;
        n -= take;
    }
}

static const char *reason_phrase(int status)
{
    static const struct {
        int code;
        const char *text;
    } t[] = {
        {100, "Continue"},
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {204, "No Content"},
        {206, "Partial Content"},
        {301, "Moved Permanently"},
        {302, "Found"},
        {303, "See Other"},
        {304, "Not Modified"},
        {307, "Temporary Redirect"},
        {308, "Permanent Redirect"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {408, "Request Timeout"},
        {411, "Length Required"},
        {413, "Content Too Large"},
        {414, "URI Too Long"},
        {417, "Expectation Failed"},
        {421, "Misdirected Request"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
        {505, "HTTP Version Not Supported"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (t[i].code == status)
            return t[i].text;
    return "Status";
}

/* ---- response heads ---- */

static void head_begin(struct conn *c, int status)
{
    out_printf(c,
               "HTTP/1.1 %d %s\r\nServer: tlsedge-origin\r\nX-Origin-Conn: %" PRIu64
               "\r\nX-Origin-Seq: %" PRIu64 "\r\n",
               status, reason_phrase(status), c->id, c->nreq);
    c->resp_started = true;
}

static void head_end(struct conn *c)
{
    if (c->close_after)
        out_puts(c, "Connection: close\r\n");
    else if (c->req.http10)
        out_puts(c, "Connection: keep-alive\r\n");
    out_puts(c, "\r\n");
}

/* response_done: the current response is fully queued; go on to the next request or close. */
static void response_done(struct conn *c)
{
    free(c->head_copy);
    c->head_copy = NULL;
    c->wake_at = 0;
    if (c->close_after) {
        conn_set_state(c, CS_FLUSH_CLOSE);
        return;
    }
    c->scan_pos = c->line_start = 0;
    c->resp_started = false;
    conn_set_state(c, CS_HEAD);
}

/* respond_fixed queues a whole response with a small body (none for HEAD, 204 and 304). */
static void respond_fixed(struct conn *c, int status, const char *extra, const char *body,
                          size_t len)
{
    bool bodiless = status == 204 || status == 304;
    head_begin(c, status);
    if (extra)
        out_puts(c, extra);
    if (!bodiless)
        out_printf(c, "Content-Type: text/plain\r\nContent-Length: %zu\r\n", len);
    head_end(c);
    if (!bodiless && !c->req.is_head)
        out_put(c, body, len);
    response_done(c);
}

/* reject answers a request we cannot (or will not) frame with `status`, then closes. */
void reject(struct conn *c, int status, const char *why)
{
    char body[128];
    log_line("bad %" PRIu64 " %d %s", c->id, status, why);
    if (c->resp_started) { /* the head is out already: all we can do is cut the response */
        c->close_after = true;
        conn_set_state(c, CS_FLUSH_CLOSE);
        return;
    }
    c->close_after = true;
    int n = snprintf(body, sizeof(body), "%d %s: %s\n", status, reason_phrase(status), why);
    respond_fixed(c, status, NULL, body, (size_t)n);
}

/* ---- routing ---- */

static bool path_prefix(const char *path, size_t plen, const char *prefix, const char **rest,
                        size_t *rest_len)
{
    size_t n = strlen(prefix);
    if (plen < n || memcmp(path, prefix, n) != 0)
        return false;
    *rest = path + n;
    *rest_len = plen - n;
    return true;
}

/* query_u64 finds key=value in the query; 1 found, 0 absent, -1 not a number within max. */
static int query_u64(const char *q, const char *key, uint64_t max, uint64_t *out)
{
    size_t klen = strlen(key);
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        if (len > klen && memcmp(q, key, klen) == 0 && q[klen] == '=')
            return parse_u64(q + klen + 1, len - klen - 1, max, out) == 0 ? 1 : -1;
        q += amp ? len + 1 : len;
    }
    return 0;
}

/* target_path skips the scheme and authority of an absolute-form target (RFC 9112 §3.2.2). */
static const char *target_path(const char *t)
{
    if (strncasecmp(t, "http://", 7) != 0 && strncasecmp(t, "https://", 8) != 0)
        return t;
    const char *slash = strchr(strstr(t, "//") + 2, '/');
    return slash ? slash : "/";
}

static enum route route_by_path(const char *path, size_t plen, const char **arg, size_t *alen)
{
    static const struct {
        const char *path;
        enum route route;
        bool prefix;
    } t[] = {
        {"/", RT_ROOT, false},         {"/sha256", RT_SHA256, false},
        {"/echo", RT_ECHO, false},     {"/headers", RT_HEADERS, false},
        {"/stall", RT_STALL, false},   {"/close", RT_CLOSE, false},
        {"/reset", RT_RESET, false},   {"/garbage", RT_GARBAGE, false},
        {"/size/", RT_SIZE, true},     {"/chunked/", RT_CHUNKED, true},
        {"/eof/", RT_EOF, true},       {"/slow/", RT_SLOW, true},
        {"/status/", RT_STATUS, true}, {"/cut/", RT_CUT, true},
        {"/flaky/", RT_FLAKY, true},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (t[i].prefix && path_prefix(path, plen, t[i].path, arg, alen))
            return t[i].route;
        if (!t[i].prefix && strlen(t[i].path) == plen && memcmp(path, t[i].path, plen) == 0)
            return t[i].route;
    }
    return RT_NOT_FOUND;
}

static bool method_ok(const struct req *r)
{
    bool get = strcmp(r->method, "GET") == 0 || r->is_head;
    bool post = strcmp(r->method, "POST") == 0 || strcmp(r->method, "PUT") == 0;
    switch (r->route) {
    case RT_ROOT:
    case RT_SIZE:
    case RT_CHUNKED:
    case RT_EOF:
    case RT_SLOW:
    case RT_CUT:
        return get;
    case RT_SHA256:
    case RT_ECHO:
        return post;
    default:
        return true;
    }
}

/* route_params reads the query parameters of /slow (ms, piece) and /chunked (ext, trailer). */
static int route_params(struct req *r, const char *query)
{
    uint64_t ext = 0, trailer = 0;
    r->ms = 100;
    r->piece = 1;
    if (r->route == RT_SLOW &&
        (query_u64(query, "ms", 3600000, &r->ms) < 0 ||
         query_u64(query, "piece", SLOW_PIECE_MAX, &r->piece) < 0 || r->piece == 0))
        return -1;
    if (r->route == RT_CHUNKED &&
        (query_u64(query, "ext", 1, &ext) < 0 || query_u64(query, "trailer", 1, &trailer) < 0))
        return -1;
    r->chunk_ext = ext;
    r->trailer = trailer;
    if (r->route == RT_CUT) {
        uint64_t rst = 0;
        r->at = r->n / 2;
        if (query_u64(query, "at", r->n, &r->at) < 0 || query_u64(query, "rst", 1, &rst) < 0 ||
            query_u64(query, "ms", 3600000, &r->ms) < 0)
            return -1;
        r->rst = rst;
    }
    return 0;
}

/* route_parse picks the endpoint and its parameters; 0, or -1 when a parameter is bad. */
int route_parse(struct req *r)
{
    const char *path = target_path(r->target);
    const char *q = strchr(path, '?');
    const char *query = q ? q + 1 : "";
    size_t plen = q ? (size_t)(q - path) : strlen(path);
    const char *arg = NULL;
    size_t alen = 0;
    uint64_t code = 0;
    r->route = route_by_path(path, plen, &arg, &alen);
    switch (r->route) {
    case RT_SIZE:
    case RT_EOF:
    case RT_CHUNKED:
    case RT_SLOW:
    case RT_CUT:
        if (parse_u64(arg, alen, UINT64_C(1) << 56, &r->n) != 0)
            return -1;
        break;
    case RT_FLAKY:
        if (parse_u64(arg, alen, 100, &r->n) != 0)
            return -1;
        break;
    case RT_STATUS:
        if (parse_u64(arg, alen, 599, &code) != 0 || code < 200)
            return -1;
        r->code = (int)code;
        break;
    default:
        break;
    }
    if (route_params(r, query) != 0)
        return -1;
    if (!method_ok(r))
        r->route = RT_BAD_METHOD;
    return 0;
}

/* ---- responses that depend on the route ---- */

/* start_stream queues the head of a generated body; `chunked` says how the body is framed. */
static void start_stream(struct conn *c, const char *framing, bool chunked)
{
    head_begin(c, 200);
    out_printf(c, "Content-Type: application/octet-stream\r\n%s", framing);
    head_end(c);
    c->gen_off = 0;
    c->gen_total = c->req.n;
    c->chunk_idx = 0;
    c->gen_chunked = chunked;
    if (c->req.is_head) {
        response_done(c);
        return;
    }
    if (c->req.route == RT_SLOW)
        c->wake_at = now_ms() + c->req.ms;
    c->cut_armed = false;
    conn_set_state(c, CS_SEND);
}

static void respond_sha256(struct conn *c)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    char hex[2 * SHA256_DIGEST_LENGTH + 2];
    SHA256_Final(md, &c->sha);
    for (size_t i = 0; i < sizeof(md); i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    hex[2 * SHA256_DIGEST_LENGTH] = '\n';
    hex[2 * SHA256_DIGEST_LENGTH + 1] = '\0';
    char extra[64];
    snprintf(extra, sizeof(extra), "X-Body-Length: %" PRIu64 "\r\n", c->body_len);
    respond_fixed(c, 200, extra, hex, sizeof(hex) - 1);
}

static void respond_stream(struct conn *c)
{
    char framing[96];
    enum route rt = c->req.route;
    if (rt == RT_EOF || (rt == RT_CHUNKED && c->req.http10)) {
        c->close_after = true; /* an HTTP/1.0 client cannot take chunked: end at close */
        start_stream(c, "", false);
    } else if (rt == RT_CHUNKED) {
        bool trailer = c->req.trailer;
        start_stream(c,
                     trailer ? "Transfer-Encoding: chunked\r\nTrailer: X-Trailer\r\n"
                             : "Transfer-Encoding: chunked\r\n",
                     true);
    } else {
        snprintf(framing, sizeof(framing), "Content-Length: %" PRIu64 "\r\n", c->req.n);
        start_stream(c, framing, false);
    }
}

/* respond_after_body answers once the request body has been consumed. */
void respond_after_body(struct conn *c)
{
    static const char garbage[] = "\x16\x03\x01 this is not HTTP \x00\xff\r\n\r\n";
    char body[64];
    int n;
    switch (c->req.route) {
    case RT_ROOT:
    case RT_FLAKY:
        respond_fixed(c, 200, NULL, "hello from origin\n", 18);
        break;
    case RT_CUT:
    case RT_SIZE:
    case RT_CHUNKED:
    case RT_EOF:
    case RT_SLOW:
        respond_stream(c);
        break;
    case RT_SHA256:
        respond_sha256(c);
        break;
    case RT_ECHO:
        if (c->req.chunked)
            out_puts(c, "0\r\n\r\n");
        response_done(c);
        break;
    case RT_HEADERS:
        respond_fixed(c, 200, NULL, c->head_copy, c->head_copy_len);
        break;
    case RT_STATUS:
        n = snprintf(body, sizeof(body), "status %d\n", c->req.code);
        respond_fixed(c, c->req.code, NULL, body, (size_t)n);
        break;
    case RT_STALL:
        conn_set_state(c, CS_STALL);
        break;
    case RT_GARBAGE:
        out_put(c, garbage, sizeof(garbage) - 1);
        c->close_after = true;
        response_done(c);
        break;
    case RT_NOT_FOUND:
        respond_fixed(c, 404, NULL, "not found\n", 10);
        break;
    case RT_BAD_METHOD:
        respond_fixed(c, 405, "Allow: GET, HEAD, POST, PUT\r\n", "method not allowed\n", 19);
        break;
    case RT_CLOSE:
    case RT_RESET:
        break; /* handled when the head arrived */
    }
}

/* ---- request body sinks ---- */

/* sink_room: how many body bytes the route can take now (echo is bounded by output room). */
size_t sink_room(struct conn *c)
{
    if (c->req.route != RT_ECHO)
        return SIZE_MAX;
    size_t space = out_space(c);
    if (!c->req.chunked)
        return space;
    return space > 32 ? space - 32 : 0;
}

void body_feed(struct conn *c, const char *p, size_t n)
{
    c->body_len += n;
    if (c->req.route == RT_SHA256) {
        SHA256_Update(&c->sha, p, n);
    } else if (c->req.route == RT_ECHO) {
        if (c->req.chunked)
            out_printf(c, "%zx\r\n", n);
        out_put(c, p, n);
        if (c->req.chunked)
            out_puts(c, "\r\n");
    }
}

/* ---- request heads ---- */

static void start_echo(struct conn *c)
{
    head_begin(c, 200);
    out_puts(c, "Content-Type: application/octet-stream\r\n");
    if (c->req.chunked)
        out_puts(c, "Transfer-Encoding: chunked\r\n");
    else
        out_printf(c, "Content-Length: %" PRIu64 "\r\n", c->body_left);
    head_end(c);
}

/* begin_request sets up body decoding and anything answered before the body arrives. */
void begin_request(struct conn *c, size_t head_len)
{
    struct req *r = &c->req;
    c->close_after = r->close || (r->http10 && !r->keep_alive);
    c->body_len = 0;
    c->trailer_bytes = 0;
    c->body_left = r->chunked ? 0 : r->content_length;
    c->bs = r->chunked ? BS_CHUNK_SIZE : r->content_length ? BS_LENGTH : BS_DONE;
    if (r->route == RT_FLAKY && (uint64_t)(random() % 100) < r->n) {
        c->in.start += head_len;
        log_req(c, "");
        log_line("fault %" PRIu64 " reset", c->id);
        conn_close(c, true);
        return;
    }
    if (r->route == RT_CLOSE || r->route == RT_RESET) {
        c->in.start += head_len;
        log_req(c, "");
        if (r->route == RT_RESET)
            conn_close(c, true);
        else
            conn_set_state(c, CS_FLUSH_CLOSE);
        return;
    }
    if (r->route == RT_HEADERS) {
        c->head_copy = malloc(head_len ? head_len : 1);
        if (!c->head_copy) {
            conn_close(c, false);
            return;
        }
        memcpy(c->head_copy, c->in.data + c->in.start, head_len);
        c->head_copy_len = head_len;
    }
    c->in.start += head_len;
    if (r->expect_continue && c->bs != BS_DONE)
        out_puts(c, "HTTP/1.1 100 Continue\r\n\r\n");
    if (r->route == RT_SHA256)
        SHA256_Init(&c->sha);
    if (r->route == RT_ECHO)
        start_echo(c);
    conn_set_state(c, CS_BODY);
}

/* ---- streamed response bodies ---- */

static bool gen_plain(struct conn *c)
{
    size_t n = min_size(out_space(c), (size_t)(c->gen_total - c->gen_off));
    if (n == 0)
        return false;
    pattern_fill(c->out.data + c->out.end, c->gen_off, n);
    c->out.end += n;
    c->gen_off += n;
    return true;
}

static bool gen_chunked(struct conn *c)
{
    bool progress = false;
    while (c->gen_off < c->gen_total) {
        size_t n = min_size(chunk_cycle[c->chunk_idx % CHUNK_CYCLE_LEN],
                            (size_t)(c->gen_total - c->gen_off));
        if (out_space(c) < n + 64)
            return progress;
        if (c->req.chunk_ext)
            out_printf(c, "%zx;n=%u;q=\"x y\"\r\n", n, c->chunk_idx);
        else
            out_printf(c, "%zx\r\n", n);
        pattern_fill(c->out.data + c->out.end, c->gen_off, n);
        c->out.end += n;
        out_puts(c, "\r\n");
        c->gen_off += n;
        c->chunk_idx++;
        progress = true;
    }
    if (out_space(c) < 64)
        return progress;
    out_puts(c, c->req.trailer ? "0\r\nX-Trailer: done\r\n\r\n" : "0\r\n\r\n");
    response_done(c);
    return true;
}

static bool gen_slow(struct conn *c)
{
    uint64_t now = now_ms();
    if (c->wake_at > now)
        return false;
    size_t n = min_size((size_t)c->req.piece, (size_t)(c->gen_total - c->gen_off));
    if (out_space(c) < n)
        return false;
    pattern_fill(c->out.data + c->out.end, c->gen_off, n);
    c->out.end += n;
    c->gen_off += n;
    c->wake_at = c->gen_off < c->gen_total ? now + c->req.ms : 0;
    return true;
}

/* gen_cut sends the first `at` bytes of a /cut body, waits until they are on the wire and `ms`
 * more, then cuts the connection (FIN, or RST with rst=1) before the announced length. */
static bool gen_cut(struct conn *c)
{
    if (c->gen_off < c->req.at) {
        size_t n = min_size(out_space(c), (size_t)(c->req.at - c->gen_off));
        if (n == 0)
            return false;
        pattern_fill(c->out.data + c->out.end, c->gen_off, n);
        c->out.end += n;
        c->gen_off += n;
        return true;
    }
    if (buf_len(&c->out) > 0)
        return false; /* conn_flush sends it; EPOLLOUT brings us back */
    if (!c->cut_armed) {
        c->cut_armed = true;
        c->wake_at = now_ms() + c->req.ms;
        return false;
    }
    if (c->wake_at != 0)
        return false;
    log_line("fault %" PRIu64 " %s after %" PRIu64 " of %" PRIu64 " body bytes", c->id,
             c->req.rst ? "reset" : "close", c->req.at, c->req.n);
    conn_close(c, c->req.rst);
    return true;
}

bool advance_send(struct conn *c)
{
    if (c->req.route == RT_CUT)
        return gen_cut(c);
    if (c->gen_chunked)
        return gen_chunked(c);
    if (c->gen_off == c->gen_total) {
        response_done(c);
        return true;
    }
    return c->req.route == RT_SLOW ? gen_slow(c) : gen_plain(c);
}
