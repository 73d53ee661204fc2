// SPDX-License-Identifier: Apache-2.0
/*
 * tests/tools/origin/request.c: HTTP/1.1 request framing for the origin test server (RFC 9112):
 * finding the end of a request head, parsing it into a struct req, and decoding a request body
 * (Content-Length or chunked, extensions and trailers accepted) into the route's sink.
 *
 * It refuses what a strict origin must refuse (obs-fold, a repeated Host, conflicting framing);
 * what the endpoints do with a request is routes.c's.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "origin.h"

#define CHUNK_LINE_MAX 4096
#define TRAILER_MAX (16 * 1024)

/* ---- lexical helpers ---- */

/* parse_u64 reads s[0..n) as a plain decimal number no larger than max; -1 if it is not one. */
int parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 19)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static int hex_val(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')
        return (ch | 0x20) - 'a' + 10;
    return -1;
}

static bool is_tchar(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* is_value_char: field-value bytes of RFC 9110 §5.5 (VCHAR, obs-text, SP, HTAB). */
static bool is_value_char(unsigned char ch)
{
    return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

static bool token_eq(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

static void trim_ows(const char **s, size_t *n)
{
    while (*n > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* ---- request head parsing ---- */

/* head_find_end: length of the complete head at in.start, 0 while incomplete, -1 past the cap. */
long head_find_end(struct conn *c)
{
    for (;;) {
        const char *b = c->in.data + c->in.start;
        size_t len = buf_len(&c->in);
        const char *nl = memchr(b + c->scan_pos, '\n', len - c->scan_pos);
        if (!nl) {
            c->scan_pos = len;
            return len >= IN_CAP ? -1 : 0;
        }
        size_t eol = (size_t)(nl - b);
        size_t line_len = eol - c->line_start;
        bool empty = line_len == 0 || (line_len == 1 && b[c->line_start] == '\r');
        c->scan_pos = eol + 1;
        if (empty && c->line_start == 0) {
            /* RFC 9112 §2.2: ignore empty lines received before the request line. */
            c->in.start += eol + 1;
            c->scan_pos = 0;
            continue;
        }
        if (empty)
            return (long)(eol + 1);
        c->line_start = eol + 1;
    }
}

/* next_line splits [*p, end) at the next LF; the line excludes CRLF. false at the end. */
static bool next_line(const char **p, const char *end, const char **line, size_t *len)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    if (!nl)
        return false;
    *line = *p;
    *len = (size_t)(nl - *p);
    if (*len > 0 && (*line)[*len - 1] == '\r')
        (*len)--;
    *p = nl + 1;
    return true;
}

/* bad records why a head is refused and returns the status to refuse it with. */
static int bad(struct req *r, int status, const char *why)
{
    r->why = why;
    return status;
}

/* parse_request_line: method SP request-target SP HTTP-version (RFC 9112 §3); 0 or a status. */
static int parse_request_line(struct req *r, const char *s, size_t n)
{
    const char *sp1 = memchr(s, ' ', n);
    if (!sp1 || sp1 == s || (size_t)(sp1 - s) >= sizeof(r->method))
        return bad(r, 400, "bad request line");
    const char *t = sp1 + 1;
    const char *sp2 = memchr(t, ' ', n - (size_t)(t - s));
    if (!sp2 || sp2 == t)
        return bad(r, 400, "bad request line");
    size_t mlen = (size_t)(sp1 - s), tlen = (size_t)(sp2 - t);
    const char *v = sp2 + 1;
    size_t vlen = n - (size_t)(v - s);
    for (size_t i = 0; i < mlen; i++)
        if (!is_tchar((unsigned char)s[i]))
            return bad(r, 400, "bad method");
    for (size_t i = 0; i < tlen; i++)
        if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
            return bad(r, 400, "bad request-target");
    if (tlen > TARGET_MAX)
        return bad(r, 414, "request-target too long");
    if (vlen != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
        v[7] < '0' || v[7] > '9')
        return bad(r, 400, "bad HTTP version");
    if (v[5] != '1')
        return bad(r, 505, "HTTP version not 1.x");
    memcpy(r->method, s, mlen);
    r->method[mlen] = '\0';
    memcpy(r->target, t, tlen);
    r->target[tlen] = '\0';
    r->http10 = v[7] == '0';
    r->is_head = strcmp(r->method, "HEAD") == 0;
    return 0;
}

static void parse_connection(struct req *r, const char *v, size_t n)
{
    while (n > 0) {
        const char *comma = memchr(v, ',', n);
        size_t len = comma ? (size_t)(comma - v) : n;
        const char *tok = v;
        size_t tlen = len;
        trim_ows(&tok, &tlen);
        if (token_eq(tok, tlen, "close"))
            r->close = true;
        else if (token_eq(tok, tlen, "keep-alive"))
            r->keep_alive = true;
        v += comma ? len + 1 : len;
        n -= comma ? len + 1 : len;
    }
}

/* apply_header records the fields the origin acts on; 0 or an HTTP status to reject with. */
static int apply_header(struct req *r, const char *name, size_t nlen, const char *v, size_t vlen)
{
    if (token_eq(name, nlen, "host")) {
        size_t keep = min_size(vlen, HOST_MAX);
        if (++r->hosts > 1)
            return bad(r, 400, "more than one Host"); /* RFC 9112 §3.2 */
        memcpy(r->host, v, keep);
        r->host[keep] = '\0';
    } else if (token_eq(name, nlen, "content-length")) {
        uint64_t cl;
        if (parse_u64(v, vlen, UINT64_C(1) << 62, &cl) != 0)
            return bad(r, 400, "bad Content-Length");
        if (r->cl_seen && cl != r->content_length)
            return bad(r, 400, "conflicting Content-Length"); /* RFC 9112 §6.3 item 5 */
        r->cl_seen = true;
        r->content_length = cl;
    } else if (token_eq(name, nlen, "transfer-encoding")) {
        /* Only a lone "chunked" is understood; anything else is 501 (RFC 9112 §6.1). */
        if (r->te_seen || !token_eq(v, vlen, "chunked"))
            r->te_bad = true;
        r->te_seen = true;
        r->chunked = true;
    } else if (token_eq(name, nlen, "connection")) {
        parse_connection(r, v, vlen);
    } else if (token_eq(name, nlen, "expect")) {
        r->expect_continue = token_eq(v, vlen, "100-continue");
    }
    return 0;
}

static int parse_header_line(struct req *r, const char *s, size_t n)
{
    const char *colon = memchr(s, ':', n);
    if (!colon || colon == s)
        return bad(r, 400, "bad header line"); /* also obs-fold: RFC 9112 §5.2 */
    size_t nlen = (size_t)(colon - s);
    for (size_t i = 0; i < nlen; i++)
        if (!is_tchar((unsigned char)s[i]))
            return bad(r, 400, "bad header name"); /* incl. space before ':', RFC 9112 §5.1 */
    const char *v = colon + 1;
    size_t vlen = n - nlen - 1;
    for (size_t i = 0; i < vlen; i++)
        if (!is_value_char((unsigned char)v[i]))
            return bad(r, 400, "bad header value");
    trim_ows(&v, &vlen);
    return apply_header(r, s, nlen, v, vlen);
}

/* parse_head fills `r` from the complete head; 0, or an HTTP status (reason in r->why). */
int parse_head(struct req *r, const char *head, size_t len)
{
    const char *p = head, *end = head + len, *line;
    size_t n;
    memset(r, 0, sizeof(*r));
    if (!next_line(&p, end, &line, &n))
        return bad(r, 400, "bad request line");
    int st = parse_request_line(r, line, n);
    if (st)
        return st;
    while (next_line(&p, end, &line, &n) && n > 0) {
        st = parse_header_line(r, line, n);
        if (st)
            return st;
    }
    if (r->te_bad)
        return bad(r, 501, "Transfer-Encoding other than chunked");
    /* RFC 9112 §6.1, §6.3: ambiguous framing is a smuggling risk, so refuse it. */
    if (r->chunked && r->cl_seen)
        return bad(r, 400, "both Content-Length and Transfer-Encoding");
    if (r->chunked && r->http10)
        return bad(r, 400, "Transfer-Encoding in HTTP/1.0");
    if (r->hosts == 0 && !r->http10)
        return bad(r, 400, "missing Host"); /* RFC 9112 §3.2 */
    return 0;
}

/* ---- request body ---- */

/* take_line consumes one line (without CRLF) of at most max bytes from the input. */
static enum step take_line(struct conn *c, size_t max, const char **line, size_t *len)
{
    const char *p = c->in.data + c->in.start;
    size_t avail = buf_len(&c->in);
    const char *nl = memchr(p, '\n', avail);
    if (!nl)
        return avail > max ? STEP_BAD : STEP_NEED_INPUT;
    *line = p;
    *len = (size_t)(nl - p);
    if (*len > max)
        return STEP_BAD;
    if (*len > 0 && p[*len - 1] == '\r')
        (*len)--;
    c->in.start += (size_t)(nl - p) + 1;
    return STEP_PROGRESS;
}

/* chunk_size_line: chunk-size [ BWS ";" chunk-ext ] CRLF (RFC 9112 §7.1). */
static enum step chunk_size_line(struct conn *c)
{
    const char *line;
    size_t len, i = 0;
    uint64_t size = 0;
    enum step st = take_line(c, CHUNK_LINE_MAX, &line, &len);
    if (st != STEP_PROGRESS)
        return st;
    for (; i < len && i < 16 && hex_val(line[i]) >= 0; i++)
        size = size * 16 + (uint64_t)hex_val(line[i]);
    if (i == 0 || i == 16) /* at most 15 digits, so the size stays far from overflow */
        return STEP_BAD;
    size_t rest = i;
    while (rest < len && (line[rest] == ' ' || line[rest] == '\t'))
        rest++;
    if (rest < len && line[rest] != ';')
        return STEP_BAD;
    for (; rest < len; rest++)
        if (!is_value_char((unsigned char)line[rest]))
            return STEP_BAD;
    c->body_left = size;
    c->bs = size ? BS_CHUNK_DATA : BS_TRAILER;
    return STEP_PROGRESS;
}

static enum step chunk_crlf(struct conn *c)
{
    const char *p = c->in.data + c->in.start;
    size_t avail = buf_len(&c->in);
    size_t need = (avail > 0 && p[0] == '\r') ? 2 : 1;
    if (avail < need)
        return STEP_NEED_INPUT;
    if (p[need - 1] != '\n')
        return STEP_BAD;
    c->in.start += need;
    c->bs = BS_CHUNK_SIZE;
    return STEP_PROGRESS;
}

static enum step trailer_line(struct conn *c)
{
    const char *line;
    size_t len;
    enum step st = take_line(c, CHUNK_LINE_MAX, &line, &len);
    if (st != STEP_PROGRESS)
        return st;
    if (len == 0) {
        c->bs = BS_DONE;
        return STEP_PROGRESS;
    }
    c->trailer_bytes += len;
    if (c->trailer_bytes > TRAILER_MAX || !memchr(line, ':', len))
        return STEP_BAD;
    return STEP_PROGRESS;
}

/* body_step decodes the next piece of the request body into its sink. */
enum step body_step(struct conn *c)
{
    size_t n;
    switch (c->bs) {
    case BS_LENGTH:
    case BS_CHUNK_DATA:
        if (buf_len(&c->in) == 0)
            return STEP_NEED_INPUT;
        n = min_size(min_size(buf_len(&c->in), sink_room(c)),
                     c->body_left < SIZE_MAX ? (size_t)c->body_left : SIZE_MAX);
        if (n == 0)
            return STEP_NEED_ROOM;
        body_feed(c, c->in.data + c->in.start, n);
        c->in.start += n;
        c->body_left -= n;
        if (c->body_left == 0)
            c->bs = c->bs == BS_LENGTH ? BS_DONE : BS_CHUNK_CRLF;
        return STEP_PROGRESS;
    case BS_CHUNK_SIZE:
        return chunk_size_line(c);
    case BS_CHUNK_CRLF:
        return chunk_crlf(c);
    case BS_TRAILER:
        return trailer_line(c);
    case BS_DONE:
        break;
    }
    return STEP_PROGRESS;
}
