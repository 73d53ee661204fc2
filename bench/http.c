// SPDX-License-Identifier: Apache-2.0
// bench/http.c: the request formatter and the incremental HTTP/1.1 response parser of
// tlsedge-bench (see bench/http.h). The head is copied into the connection's head buffer until
// the blank line, then parsed once; body bytes are only counted, never copied. The parser is as
// strict as a load generator needs to be: it must find the end of every response (RFC 9112
// section 6.3), not validate every header.
#include "bench/http.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

// The length a chunk-size line may have (digits and extensions), after which it is refused.
#define CHUNK_LINE_MAX 4096
// The length a trailer section may have.
#define TRAILER_MAX (64 * 1024)

int bench_http_request_format(char *buf, size_t len, const char *path, const char *host)
{
    static const char fmt[] = "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: tlsedge-bench\r\n\r\n";
    // The length is checked first, so the formatting below never truncates.
    size_t need = strlen(fmt) - 4 + strlen(path) + strlen(host);

    if (need >= len)
        return -ENOSPC;
    return snprintf(buf, len, fmt, path, host);
}

void bench_http_resp_init(struct bench_http_resp *r, uint8_t *head, size_t cap)
{
    r->_head = head;
    r->_cap = cap;
    bench_http_resp_reset(r);
}

void bench_http_resp_reset(struct bench_http_resp *r)
{
    r->status = 0;
    r->close = false;
    r->body_bytes = 0;
    r->_state = BENCH_HTTP_HEAD;
    r->_len = 0;
    r->_remaining = 0;
    r->_line = 0;
    r->_cr = false;
    r->_ext = false;
    r->_digits = false;
    r->_total_trailer = 0;
}

// header_is is true when the header line at p (n bytes, "Name: value") has the name name.
static bool header_is(const char *p, size_t n, const char *name, const char **value, size_t *vn)
{
    size_t k = strlen(name);

    if (n <= k || p[k] != ':' || strncasecmp(p, name, k) != 0)
        return false;
    p += k + 1;
    n -= k + 1;
    while (n > 0 && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    *value = p;
    *vn = n;
    return true;
}

// has_token is true when the comma-separated list value (n bytes) holds token.
static bool has_token(const char *value, size_t n, const char *token)
{
    size_t k = strlen(token);

    for (size_t i = 0; i + k <= n; i++) {
        bool start = i == 0 || value[i - 1] == ',' || value[i - 1] == ' ';
        bool end = i + k == n || value[i + k] == ',' || value[i + k] == ' ';

        if (start && end && strncasecmp(value + i, token, k) == 0)
            return true;
    }
    return false;
}

// parse_length parses a Content-Length value. Returns 0 or -EPROTO.
static int parse_length(const char *v, size_t n, uint64_t *out)
{
    uint64_t x = 0;

    if (n == 0 || n > 18)
        return -EPROTO;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -EPROTO;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    *out = x;
    return 0;
}

// parse_status parses "HTTP/1.x NNN ..." (n bytes). Returns the minor version or -EPROTO.
static int parse_status(struct bench_http_resp *r, const char *p, size_t n)
{
    if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ')
        return -EPROTO;
    for (int i = 9; i < 12; i++)
        if (p[i] < '0' || p[i] > '9')
            return -EPROTO;
    r->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    return p[7] - '0';
}

// parse_head parses the complete head (r->_len bytes, ending with the blank line) and picks the
// body's framing. Returns 0 or -EPROTO.
static int parse_head(struct bench_http_resp *r)
{
    const char *p = (const char *)r->_head, *end = p + r->_len, *v;
    bool chunked = false, have_len = false, keep_alive = false;
    uint64_t length = 0;
    size_t vn;
    int minor = -1;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)(eol - p);

        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (minor < 0) {
            minor = parse_status(r, p, n);
            if (minor < 0)
                return -EPROTO;
        } else if (header_is(p, n, "Content-Length", &v, &vn)) {
            if (parse_length(v, vn, &length) != 0 || have_len)
                return -EPROTO;
            have_len = true;
        } else if (header_is(p, n, "Transfer-Encoding", &v, &vn)) {
            chunked = has_token(v, vn, "chunked");
        } else if (header_is(p, n, "Connection", &v, &vn)) {
            r->close |= has_token(v, vn, "close");
            keep_alive |= has_token(v, vn, "keep-alive");
        }
        p = eol + 1;
    }
    if (minor == 0 && !keep_alive)
        r->close = true;
    if (r->status < 200) {
        // 1xx heads are interim (RFC 9110 section 15.2): the final response follows.
        r->close = false;
        return 0;
    }
    if (r->status == 204 || r->status == 304) {
        r->_state = BENCH_HTTP_DONE;
    } else if (chunked) {
        r->_state = BENCH_HTTP_CHUNK_SIZE;
    } else if (have_len) {
        r->_remaining = length;
        r->_state = length > 0 ? BENCH_HTTP_BODY_LEN : BENCH_HTTP_DONE;
    } else {
        r->_state = BENCH_HTTP_BODY_CLOSE;
        r->close = true;
    }
    return 0;
}

// feed_head copies head bytes until the blank line and parses the head. Returns how many bytes
// of data it used, or a negative errno.
static ssize_t feed_head(struct bench_http_resp *r, const uint8_t *data, size_t len)
{
    size_t old = r->_len, start = old > 3 ? old - 3 : 0, take = len, used;
    uint8_t *found;
    int rc;

    if (take > r->_cap - old)
        take = r->_cap - old;
    memcpy(r->_head + old, data, take);
    r->_len += take;
    found = memmem(r->_head + start, r->_len - start, "\r\n\r\n", 4);
    if (found == NULL)
        return r->_len == r->_cap ? -E2BIG : (ssize_t)take;
    r->_len = (size_t)(found - r->_head) + 4;
    used = r->_len - old;
    rc = parse_head(r);
    if (rc != 0)
        return rc;
    if (r->_state == BENCH_HTTP_HEAD)
        r->_len = 0; // an interim 1xx head: the final head follows
    return (ssize_t)used;
}

// hex_digit returns the value of hex digit b, or -1.
static int hex_digit(uint8_t b)
{
    if (b >= '0' && b <= '9')
        return b - '0';
    b |= 0x20;
    if (b >= 'a' && b <= 'f')
        return b - 'a' + 10;
    return -1;
}

// chunk_size_byte consumes one byte of a chunk-size line ("1a2;ext=x\r\n"). Returns 0 or
// -EPROTO.
static int chunk_size_byte(struct bench_http_resp *r, uint8_t b)
{
    int d;

    if (++r->_line > CHUNK_LINE_MAX)
        return -EPROTO;
    if (r->_cr) {
        if (b != '\n' || !r->_digits)
            return -EPROTO;
        r->_cr = r->_ext = r->_digits = false;
        r->_line = 0;
        r->_state = r->_remaining > 0 ? BENCH_HTTP_CHUNK_DATA : BENCH_HTTP_TRAILER;
        return 0;
    }
    if (b == '\r') {
        r->_cr = true;
        return 0;
    }
    if (r->_ext)
        return 0; // chunk extensions are skipped
    if (b == ';' || b == ' ' || b == '\t') {
        r->_ext = true;
        return 0;
    }
    d = hex_digit(b);
    if (d < 0 || (r->_remaining >> 59) != 0)
        return -EPROTO;
    r->_remaining = r->_remaining * 16 + (uint64_t)d;
    r->_digits = true;
    return 0;
}

// trailer_byte consumes one byte of the trailer section; an empty line ends the response.
// Returns 0 or -EPROTO.
static int trailer_byte(struct bench_http_resp *r, uint8_t b)
{
    if (++r->_total_trailer > TRAILER_MAX)
        return -EPROTO;
    if (b == '\r')
        return 0;
    if (b != '\n') {
        r->_line++;
        return 0;
    }
    if (r->_line == 0)
        r->_state = BENCH_HTTP_DONE;
    r->_line = 0;
    return 0;
}

// take_body counts up to len body bytes against _remaining. Returns how many it took.
static size_t take_body(struct bench_http_resp *r, size_t len)
{
    size_t n = r->_remaining < len ? (size_t)r->_remaining : len;

    r->_remaining -= n;
    r->body_bytes += n;
    return n;
}

// feed_body consumes body bytes in the current state. Returns how many bytes it used (at least
// one when len > 0 and the response is not done), or -EPROTO.
static ssize_t feed_body(struct bench_http_resp *r, const uint8_t *data, size_t len)
{
    size_t n;
    int rc = 0;

    switch (r->_state) {
    case BENCH_HTTP_BODY_LEN:
        n = take_body(r, len);
        if (r->_remaining == 0)
            r->_state = BENCH_HTTP_DONE;
        return (ssize_t)n;
    case BENCH_HTTP_BODY_CLOSE:
        r->body_bytes += len;
        return (ssize_t)len;
    case BENCH_HTTP_CHUNK_DATA:
        n = take_body(r, len);
        if (r->_remaining == 0)
            r->_state = BENCH_HTTP_CHUNK_CRLF;
        return (ssize_t)n;
    case BENCH_HTTP_CHUNK_CRLF:
        if (data[0] == '\r' && !r->_cr) {
            r->_cr = true;
        } else if (data[0] == '\n' && r->_cr) {
            r->_cr = false;
            r->_state = BENCH_HTTP_CHUNK_SIZE;
        } else {
            return -EPROTO;
        }
        return 1;
    case BENCH_HTTP_CHUNK_SIZE:
        rc = chunk_size_byte(r, data[0]);
        break;
    case BENCH_HTTP_TRAILER:
        rc = trailer_byte(r, data[0]);
        break;
    default:
        return -EPROTO; // bytes after the end (HEAD and DONE never get here)
    }
    return rc != 0 ? rc : 1;
}

int bench_http_resp_feed(struct bench_http_resp *r, const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t used;

        if (r->_state == BENCH_HTTP_DONE)
            return -EPROTO; // one request in flight: nothing may follow the response
        if (r->_state == BENCH_HTTP_HEAD)
            used = feed_head(r, data, len);
        else
            used = feed_body(r, data, len);
        if (used < 0)
            return (int)used;
        data += used;
        len -= (size_t)used;
    }
    return r->_state == BENCH_HTTP_DONE ? 1 : 0;
}

int bench_http_resp_eof(struct bench_http_resp *r)
{
    if (r->_state == BENCH_HTTP_BODY_CLOSE)
        r->_state = BENCH_HTTP_DONE;
    return r->_state == BENCH_HTTP_DONE ? 1 : -EPIPE;
}
