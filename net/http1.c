// SPDX-License-Identifier: Apache-2.0
// net/http1.c: HTTP/1.1 heads for the edge proxy (see net/http1.h): the strict request and
// response head parsers, the chunked-body scanner, and the writers of forwarded heads and error
// responses.
//
// The parsers are stateless: each call parses the head again from the start of the caller's
// buffer and checks every complete line, so a malformed head is refused as soon as its first bad
// line arrives. Strictness follows RFC 9112 and, where the RFC leaves a choice, takes the side
// that keeps the proxy and the origin from framing a message differently (request smuggling).
// This file depends on libc only, so test tools can build it on its own.
#include "net/http1.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(struct net_http1_slice) == 8, "slices are two 32-bit words");

// ---- characters (RFC 9110 5.6.2, RFC 3986) ----

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int hex_value(unsigned char c)
{
    if (is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool is_alnum(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_tchar(unsigned char c)
{
    return is_alnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

// is_field_char: the bytes of a field value, reason phrase or chunk extension: HT, SP, VCHAR
// and obs-text (RFC 9110 5.5).
static bool is_field_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

// is_target_char: visible ASCII except '#' (a request-target carries no fragment, RFC 9112
// 3.2). Path characters are otherwise left to the origin: browsers send '|', '{' and the like.
static bool is_target_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '#';
}

// is_regname_char: unreserved and sub-delims of RFC 3986 3.2.2 ('%' is handled by the caller).
static bool is_regname_char(unsigned char c)
{
    return is_alnum(c) || (c != 0 && strchr("-._~!$&'()*+,;=", c) != NULL);
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

// mem_ieq: p[0, n) equals the NUL-terminated s, ignoring ASCII case.
static bool mem_ieq(const char *p, size_t n, const char *s)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower(p[i]) != lower(s[i]))
            return false;
    return true;
}

static bool slice_ieq(const char *buf, struct net_http1_slice s, const char *str)
{
    return mem_ieq(buf + s.off, s.len, str);
}

static struct net_http1_slice slice_make(size_t off, size_t len)
{
    return (struct net_http1_slice){.off = (uint32_t)off, .len = (uint32_t)len};
}

// list_next: the next element of the comma-separated list p[0, n) starting at *i, trimmed of
// OWS, as (*es, *el); empty elements are returned too. False when the list is exhausted.
static bool list_next(const char *p, size_t n, size_t *i, size_t *es, size_t *el)
{
    if (*i > n)
        return false;
    size_t s = *i;
    while (*i < n && p[*i] != ',')
        (*i)++;
    size_t e = *i;
    (*i)++;
    while (s < e && is_ows(p[s]))
        s++;
    while (e > s && is_ows(p[e - 1]))
        e--;
    *es = s;
    *el = e - s;
    return true;
}

// ---- lines and fields (RFC 9112 2.2, 5) ----

// next_line finds the line at *pos in buf[0, lim). Returns 1 with the line in [*pos, *end) and
// *pos moved past its CRLF; 0 when the line is incomplete (*pos unchanged); -EBADMSG for a
// bare LF, a bare CR, or a control character other than HT (none is allowed in any line of a
// head; checking here also refuses binary garbage, such as TLS sent to a clear port, at once).
static int next_line(const char *buf, size_t lim, size_t *pos, size_t *end)
{
    for (size_t i = *pos; i < lim; i++) {
        unsigned char c = buf[i];
        if (c == '\r') {
            if (i + 1 == lim)
                return 0;
            if (buf[i + 1] != '\n')
                return -EBADMSG;
            *end = i;
            *pos = i + 2;
            return 1;
        }
        if (!is_field_char(c))
            return -EBADMSG;
    }
    return 0;
}

// parse_field parses the field line buf[start, end) into h: a token name directly followed
// by ':' (RFC 9112 5.1 forbids whitespace before the colon), then the value without OWS.
static int parse_field(const char *buf, size_t start, size_t end, struct net_http1_header *h)
{
    size_t i = start;
    while (i < end && is_tchar(buf[i]))
        i++;
    if (i == start || i == end || buf[i] != ':')
        return -EBADMSG;
    h->name = slice_make(start, i - start);
    i++;
    while (i < end && is_ows(buf[i]))
        i++;
    size_t e = end;
    while (e > i && is_ows(buf[e - 1]))
        e--;
    h->value = slice_make(i, e - i);
    return 0;
}

// parse_fields parses field lines from *pos up to the empty line ending the head. Returns 1
// with *pos after that empty line, 0 when incomplete, or a negative errno.
static int parse_fields(const char *buf, size_t lim, size_t *pos, struct net_http1_header *hdrs,
                        uint32_t *n)
{
    *n = 0;
    for (;;) {
        size_t start = *pos, end;
        int rc = next_line(buf, lim, pos, &end);
        if (rc <= 0)
            return rc;
        if (end == start)
            return 1;
        // A line starting with whitespace is obs-fold (RFC 9112 5.2), or whitespace between
        // the start line and the first field (2.2); both are refused.
        if (is_ows(buf[start]))
            return -EBADMSG;
        if (*n == NET_HTTP1_MAX_HEADERS)
            return -EMSGSIZE;
        rc = parse_field(buf, start, end, &hdrs[*n]);
        if (rc < 0)
            return rc;
        (*n)++;
    }
}

// parse_version parses "HTTP/1.0" or "HTTP/1.1" (case-sensitive, RFC 9112 2.3) in p[0, n).
// Returns 10, 11 or -EBADMSG.
static int parse_version(const char *p, size_t n)
{
    if (n != 8 || memcmp(p, "HTTP/1.", 7) != 0)
        return -EBADMSG;
    if (p[7] == '0')
        return 10;
    if (p[7] == '1')
        return 11;
    return -EBADMSG;
}

// ---- authority (RFC 3986 3.2.2, 3.2.3) ----

// host_end returns the end of the uri-host at the start of p[0, n), or 0 when there is none.
static size_t host_end(const char *p, size_t n)
{
    size_t i = 0;
    if (n > 0 && p[0] == '[') {
        for (i = 1; i < n && (hex_value(p[i]) >= 0 || p[i] == ':' || p[i] == '.'); i++)
            ;
        return (i > 1 && i < n && p[i] == ']') ? i + 1 : 0;
    }
    for (; i < n && p[i] != ':'; i++) {
        if (p[i] == '%') {
            if (i + 2 >= n || hex_value(p[i + 1]) < 0 || hex_value(p[i + 2]) < 0)
                return 0;
            i += 2;
        } else if (!is_regname_char(p[i])) {
            return 0;
        }
    }
    return i;
}

// authority_check checks that a is a non-empty uri-host with an optional ":port" of 1 to 5
// digits up to 65535 (required when need_port). Userinfo is refused ('@' is no host
// character; RFC 9110 4.2.4). Sets *name and *port (-1: none) when they are not NULL.
static int authority_check(const char *buf, struct net_http1_slice a, bool need_port,
                           struct net_http1_slice *name, int *port)
{
    const char *p = buf + a.off;
    size_t n = a.len, hn = host_end(p, n), i = hn;
    int pv = -1;
    if (hn == 0)
        return -EBADMSG;
    if (i < n) {
        if (p[i] != ':' || n - i - 1 == 0 || n - i - 1 > 5)
            return -EBADMSG;
        for (pv = 0, i++; i < n; i++) {
            if (!is_digit(p[i]))
                return -EBADMSG;
            pv = pv * 10 + (p[i] - '0');
        }
        if (pv > 65535)
            return -EBADMSG;
    }
    if (need_port && pv < 0)
        return -EBADMSG;
    if (name)
        *name = slice_make(a.off, hn);
    if (port)
        *port = pv;
    return 0;
}

// ---- framing headers (RFC 9112 6) ----

// struct framing: what the headers of one head say about its framing and persistence.
struct framing {
    bool have_cl;
    bool have_te;
    bool close;
    bool keep_alive;
    uint64_t cl;
};

// cl_parse adds the Content-Length value p[0, n), a list of decimal numbers that must all be
// equal (RFC 9112 6.3 item 5 lets a recipient take "5, 5" as 5), to f.
static int cl_parse(const char *p, size_t n, struct framing *f)
{
    size_t i = 0, es, el;
    while (list_next(p, n, &i, &es, &el)) {
        uint64_t v = 0;
        if (el == 0)
            return -EBADMSG;
        for (size_t k = es; k < es + el; k++) {
            if (!is_digit(p[k]))
                return -EBADMSG;
            unsigned d = p[k] - '0';
            if (v > (UINT64_MAX - d) / 10)
                return -EBADMSG;
            v = v * 10 + d;
        }
        if (f->have_cl && f->cl != v)
            return -EBADMSG;
        f->have_cl = true;
        f->cl = v;
    }
    return 0;
}

// te_parse adds the Transfer-Encoding value p[0, n) to f. The only coding accepted is one
// "chunked", once over all lines: we forward bodies undecoded, so any other coding (even
// "identity", gone since RFC 7230) could make the origin frame the body otherwise.
static int te_parse(const char *p, size_t n, struct framing *f)
{
    size_t i = 0, es, el;
    while (list_next(p, n, &i, &es, &el)) {
        if (!mem_ieq(p + es, el, "chunked") || f->have_te)
            return -EBADMSG;
        f->have_te = true;
    }
    return 0;
}

// connection_parse adds the Connection options in p[0, n) to f.
static void connection_parse(const char *p, size_t n, struct framing *f)
{
    size_t i = 0, es, el;
    while (list_next(p, n, &i, &es, &el)) {
        if (mem_ieq(p + es, el, "close"))
            f->close = true;
        else if (mem_ieq(p + es, el, "keep-alive"))
            f->keep_alive = true;
    }
}

// framing_scan reads the framing headers of a head of the given version into f and refuses
// the combinations RFC 9112 6.1 and 6.3 call faulty: Transfer-Encoding with Content-Length, and
// Transfer-Encoding in HTTP/1.0.
static int framing_scan(const char *buf, const struct net_http1_header *h, uint32_t n, int version,
                        struct framing *f)
{
    memset(f, 0, sizeof(*f));
    for (uint32_t k = 0; k < n; k++) {
        const char *v = buf + h[k].value.off;
        int rc = 0;
        if (slice_ieq(buf, h[k].name, "content-length"))
            rc = cl_parse(v, h[k].value.len, f);
        else if (slice_ieq(buf, h[k].name, "transfer-encoding"))
            rc = te_parse(v, h[k].value.len, f);
        else if (slice_ieq(buf, h[k].name, "connection"))
            connection_parse(v, h[k].value.len, f);
        if (rc < 0)
            return rc;
    }
    if (f->have_te && (f->have_cl || version == 10))
        return -EBADMSG;
    return 0;
}

// persistent: the connection may carry another message (RFC 9112 9.3).
static bool persistent(int version, const struct framing *f)
{
    return !f->close && (version == 11 || f->keep_alive);
}

// head_limit caps the bytes a head may take: max_head, and INT_MAX so the length fits the int
// result (and the 32-bit slices).
static size_t head_limit(size_t len, size_t *max_head)
{
    if (*max_head > INT_MAX)
        *max_head = INT_MAX;
    return len < *max_head ? len : *max_head;
}

// need_more: the result for an incomplete head.
static int need_more(size_t len, size_t max_head)
{
    return len >= max_head ? -EMSGSIZE : 0;
}

// ---- requests (RFC 9112 3) ----

static enum net_http1_method method_lookup(const char *p, size_t n)
{
    static const struct {
        const char *name;
        enum net_http1_method m;
    } methods[] = {
        {"GET", NET_HTTP1_METHOD_GET},         {"HEAD", NET_HTTP1_METHOD_HEAD},
        {"POST", NET_HTTP1_METHOD_POST},       {"PUT", NET_HTTP1_METHOD_PUT},
        {"DELETE", NET_HTTP1_METHOD_DELETE},   {"OPTIONS", NET_HTTP1_METHOD_OPTIONS},
        {"CONNECT", NET_HTTP1_METHOD_CONNECT}, {"TRACE", NET_HTTP1_METHOD_TRACE},
        {"PATCH", NET_HTTP1_METHOD_PATCH},
    };
    // Methods are case-sensitive (RFC 9110 9.1): "get" is some other method.
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strlen(methods[i].name) == n && memcmp(methods[i].name, p, n) == 0)
            return methods[i].m;
    return NET_HTTP1_METHOD_OTHER;
}

// absolute_parse splits an absolute-form target (RFC 9112 3.2.2) into authority and path.
// Only http and https are proxied; both require a host (RFC 9110 4.2.1, 4.2.2).
static int absolute_parse(const char *buf, struct net_http1_request *req)
{
    const char *t = buf + req->target.off;
    size_t n = req->target.len, i;
    if (n >= 7 && mem_ieq(t, 7, "http://"))
        i = 7;
    else if (n >= 8 && mem_ieq(t, 8, "https://"))
        i = 8;
    else
        return -EBADMSG;
    size_t a = i;
    while (i < n && t[i] != '/' && t[i] != '?')
        i++;
    req->form = NET_HTTP1_TARGET_ABSOLUTE;
    req->authority = slice_make(req->target.off + a, i - a);
    req->path = slice_make(req->target.off + i, n - i);
    return authority_check(buf, req->authority, false, NULL, NULL);
}

// target_classify finds the form of the target and checks it suits the method (RFC 9112 3.2).
static int target_classify(const char *buf, struct net_http1_request *req)
{
    const char *t = buf + req->target.off;
    if (req->method == NET_HTTP1_METHOD_CONNECT) {
        req->form = NET_HTTP1_TARGET_AUTHORITY;
        req->authority = req->target;
        return authority_check(buf, req->target, true, NULL, NULL);
    }
    if (t[0] == '/') {
        req->form = NET_HTTP1_TARGET_ORIGIN;
        req->path = req->target;
        return 0;
    }
    if (req->target.len == 1 && t[0] == '*') {
        if (req->method != NET_HTTP1_METHOD_OPTIONS)
            return -EBADMSG;
        req->form = NET_HTTP1_TARGET_ASTERISK;
        req->path = req->target;
        return 0;
    }
    return absolute_parse(buf, req);
}

// parse_request_line parses "method SP target SP version" in buf[start, end).
static int parse_request_line(const char *buf, size_t start, size_t end,
                              struct net_http1_request *req)
{
    size_t i = start;
    while (i < end && is_tchar(buf[i]))
        i++;
    if (i == start || i == end || buf[i] != ' ')
        return -EBADMSG;
    req->method_name = slice_make(start, i - start);
    req->method = method_lookup(buf + start, i - start);
    size_t t = ++i;
    while (i < end && is_target_char(buf[i]))
        i++;
    if (i == t || i == end || buf[i] != ' ')
        return -EBADMSG;
    req->target = slice_make(t, i - t);
    int v = parse_version(buf + i + 1, end - i - 1);
    if (v < 0)
        return v;
    req->version = v;
    return target_classify(buf, req);
}

// request_host checks the Host lines (RFC 9112 3.2: exactly one in HTTP/1.1, at most one in
// 1.0, each valid) and sets req's host fields, from the URI when the target has an authority.
static int request_host(const char *buf, struct net_http1_request *req)
{
    const struct net_http1_header *h = NULL;
    for (uint32_t k = 0; k < req->nheaders; k++) {
        if (!slice_ieq(buf, req->headers[k].name, "host"))
            continue;
        if (h)
            return -EBADMSG;
        h = &req->headers[k];
        // An empty Host is valid in the grammar, but the edge proxy has nothing to route on.
        if (authority_check(buf, h->value, false, NULL, NULL) < 0)
            return -EBADMSG;
    }
    if (!h && req->version == 11)
        return -EBADMSG;
    req->port = -1;
    if (req->form == NET_HTTP1_TARGET_ABSOLUTE)
        req->host = req->authority;
    else if (h)
        req->host = h->value;
    if (req->host.len > 0)
        authority_check(buf, req->host, false, &req->host_name, &req->port);
    return 0;
}

// request_finish applies the header semantics to a complete request head.
static int request_finish(const char *buf, struct net_http1_request *req)
{
    struct framing f;
    int rc = framing_scan(buf, req->headers, req->nheaders, req->version, &f);
    if (rc < 0)
        return rc;
    rc = request_host(buf, req);
    if (rc < 0)
        return rc;
    if (f.have_te) {
        req->body = NET_HTTP1_BODY_CHUNKED;
    } else if (f.have_cl) {
        req->body = NET_HTTP1_BODY_LENGTH;
        req->content_length = f.cl;
    } else {
        req->body = NET_HTTP1_BODY_NONE; // RFC 9112 6.3 item 7
    }
    req->keep_alive = persistent(req->version, &f);
    // RFC 9110 10.1.1: a server ignores 100-continue in an HTTP/1.0 request.
    const struct net_http1_header *e =
        net_http1_header_find(req->headers, req->nheaders, buf, "expect");
    req->expect_continue = req->version == 11 && e && slice_ieq(buf, e->value, "100-continue");
    return 0;
}

int net_http1_request_parse(const char *buf, size_t len, size_t max_head,
                            struct net_http1_request *req)
{
    size_t lim = head_limit(len, &max_head), pos = 0, start = 0, end;
    memset(req, 0, offsetof(struct net_http1_request, headers));
    int rc = next_line(buf, lim, &pos, &end);
    if (rc > 0 && end == 0) {
        // One empty line before the request line is ignored (RFC 9112 2.2); a second is BAD.
        start = pos;
        rc = next_line(buf, lim, &pos, &end);
    }
    if (rc == 0)
        return need_more(len, max_head);
    if (rc > 0)
        rc = parse_request_line(buf, start, end, req);
    if (rc < 0)
        return rc;
    rc = parse_fields(buf, lim, &pos, req->headers, &req->nheaders);
    if (rc == 0)
        return need_more(len, max_head);
    if (rc < 0)
        return rc;
    rc = request_finish(buf, req);
    return rc < 0 ? rc : (int)pos;
}

// ---- responses (RFC 9112 4) ----

// parse_status_line parses "HTTP/1.x SP 3DIGIT [SP reason]" in buf[start, end).
static int parse_status_line(const char *buf, size_t start, size_t end,
                             struct net_http1_response *resp)
{
    const char *p = buf + start;
    size_t n = end - start;
    if (n < 12 || p[8] != ' ')
        return -EBADMSG;
    resp->version = parse_version(p, 8);
    if (resp->version < 0)
        return -EBADMSG;
    for (size_t i = 9; i < 12; i++) {
        if (!is_digit(p[i]))
            return -EBADMSG;
        resp->status = resp->status * 10 + (p[i] - '0');
    }
    if (resp->status < 100 || resp->status > 599)
        return -EBADMSG;
    if (n > 12) {
        if (p[12] != ' ')
            return -EBADMSG;
        resp->reason = slice_make(start + 13, n - 13);
    }
    return 0;
}

// response_finish decides the framing of a complete response head (RFC 9112 6.3).
static int response_finish(const char *buf, enum net_http1_method req_method,
                           struct net_http1_response *resp)
{
    struct framing f;
    int s = resp->status;
    int rc = framing_scan(buf, resp->headers, resp->nheaders, resp->version, &f);
    if (rc < 0)
        return rc;
    if (s == 101 || (req_method == NET_HTTP1_METHOD_CONNECT && s / 100 == 2)) {
        resp->body = NET_HTTP1_BODY_TUNNEL;
    } else if (s < 200 || s == 204 || s == 304 || req_method == NET_HTTP1_METHOD_HEAD) {
        resp->body = NET_HTTP1_BODY_NONE;
        resp->interim = s < 200;
    } else if (f.have_te) {
        resp->body = NET_HTTP1_BODY_CHUNKED;
    } else if (f.have_cl) {
        resp->body = NET_HTTP1_BODY_LENGTH;
        resp->content_length = f.cl;
    } else {
        resp->body = NET_HTTP1_BODY_EOF;
    }
    resp->keep_alive = persistent(resp->version, &f) && resp->body != NET_HTTP1_BODY_EOF &&
                       resp->body != NET_HTTP1_BODY_TUNNEL;
    return 0;
}

int net_http1_response_parse(const char *buf, size_t len, size_t max_head,
                             enum net_http1_method req_method, struct net_http1_response *resp)
{
    size_t lim = head_limit(len, &max_head), pos = 0, end;
    memset(resp, 0, offsetof(struct net_http1_response, headers));
    int rc = next_line(buf, lim, &pos, &end);
    if (rc == 0)
        return need_more(len, max_head);
    if (rc > 0)
        rc = parse_status_line(buf, 0, end, resp);
    if (rc < 0)
        return rc;
    rc = parse_fields(buf, lim, &pos, resp->headers, &resp->nheaders);
    if (rc == 0)
        return need_more(len, max_head);
    if (rc < 0)
        return rc;
    rc = response_finish(buf, req_method, resp);
    return rc < 0 ? rc : (int)pos;
}

int net_http1_parse_status(int rc)
{
    if (rc >= 0)
        return 0;
    return rc == -NET_HTTP1_E_TOO_LARGE ? 431 : 400;
}

const struct net_http1_header *net_http1_header_find(const struct net_http1_header *hdrs, size_t n,
                                                     const char *buf, const char *name)
{
    for (size_t k = 0; k < n; k++)
        if (slice_ieq(buf, hdrs[k].name, name))
            return &hdrs[k];
    return NULL;
}

// ---- chunked bodies (RFC 9112 7.1) ----

#define NET_HTTP1_CHUNKED_BIT(s) (1u << NET_HTTP1_CHUNKED_##s)

// chunked_allowed[s]: the states s may move to. Every non-terminal state may fail.
static const uint32_t chunked_allowed[] = {
    [NET_HTTP1_CHUNKED_SIZE_FIRST] = NET_HTTP1_CHUNKED_BIT(SIZE) | NET_HTTP1_CHUNKED_BIT(ERROR),
    [NET_HTTP1_CHUNKED_SIZE] = NET_HTTP1_CHUNKED_BIT(EXT_BWS) | NET_HTTP1_CHUNKED_BIT(EXT) |
                               NET_HTTP1_CHUNKED_BIT(SIZE_LF) | NET_HTTP1_CHUNKED_BIT(ERROR),
    [NET_HTTP1_CHUNKED_EXT_BWS] = NET_HTTP1_CHUNKED_BIT(EXT) | NET_HTTP1_CHUNKED_BIT(ERROR),
    [NET_HTTP1_CHUNKED_EXT] = NET_HTTP1_CHUNKED_BIT(SIZE_LF) | NET_HTTP1_CHUNKED_BIT(ERROR),
    [NET_HTTP1_CHUNKED_SIZE_LF] = NET_HTTP1_CHUNKED_BIT(DATA) |
                                  NET_HTTP1_CHUNKED_BIT(TRAILER_START) |
                                  NET_HTTP1_CHUNKED_BIT(ERROR),
    [NET_HTTP1_CHUNKED_DATA] = NET_HTTP1_CHUNKED_BIT(DATA_CR) | NET_HTTP1_CHUNKED_BIT(ERROR),
    [NET_HTTP1_CHUNKED_DATA_CR] = NET_HTTP1_CHUNKED_BIT(DATA_LF) | NET_HTTP1_CHUNKED_BIT(ERROR),
    [NET_HTTP1_CHUNKED_DATA_LF] = NET_HTTP1_CHUNKED_BIT(SIZE_FIRST) | NET_HTTP1_CHUNKED_BIT(ERROR),
    [NET_HTTP1_CHUNKED_TRAILER_START] = NET_HTTP1_CHUNKED_BIT(TRAILER_NAME) |
                                        NET_HTTP1_CHUNKED_BIT(END_LF) |
                                        NET_HTTP1_CHUNKED_BIT(ERROR),
    [NET_HTTP1_CHUNKED_TRAILER_NAME] =
        NET_HTTP1_CHUNKED_BIT(TRAILER_VALUE) | NET_HTTP1_CHUNKED_BIT(ERROR),
    [NET_HTTP1_CHUNKED_TRAILER_VALUE] =
        NET_HTTP1_CHUNKED_BIT(TRAILER_LF) | NET_HTTP1_CHUNKED_BIT(ERROR),
    [NET_HTTP1_CHUNKED_TRAILER_LF] =
        NET_HTTP1_CHUNKED_BIT(TRAILER_START) | NET_HTTP1_CHUNKED_BIT(ERROR),
    [NET_HTTP1_CHUNKED_END_LF] = NET_HTTP1_CHUNKED_BIT(DONE) | NET_HTTP1_CHUNKED_BIT(ERROR),
    [NET_HTTP1_CHUNKED_DONE] = 0,
    [NET_HTTP1_CHUNKED_ERROR] = 0,
};

static const char *const chunked_names[] = {
    [NET_HTTP1_CHUNKED_SIZE_FIRST] = "size-first",
    [NET_HTTP1_CHUNKED_SIZE] = "size",
    [NET_HTTP1_CHUNKED_EXT_BWS] = "ext-bws",
    [NET_HTTP1_CHUNKED_EXT] = "ext",
    [NET_HTTP1_CHUNKED_SIZE_LF] = "size-lf",
    [NET_HTTP1_CHUNKED_DATA] = "data",
    [NET_HTTP1_CHUNKED_DATA_CR] = "data-cr",
    [NET_HTTP1_CHUNKED_DATA_LF] = "data-lf",
    [NET_HTTP1_CHUNKED_TRAILER_START] = "trailer-start",
    [NET_HTTP1_CHUNKED_TRAILER_NAME] = "trailer-name",
    [NET_HTTP1_CHUNKED_TRAILER_VALUE] = "trailer-value",
    [NET_HTTP1_CHUNKED_TRAILER_LF] = "trailer-lf",
    [NET_HTTP1_CHUNKED_END_LF] = "end-lf",
    [NET_HTTP1_CHUNKED_DONE] = "done",
    [NET_HTTP1_CHUNKED_ERROR] = "error",
};

_Static_assert(sizeof(chunked_allowed) / sizeof(chunked_allowed[0]) == NET_HTTP1_CHUNKED_ERROR + 1,
               "one transition row per chunked state");
_Static_assert(sizeof(chunked_names) / sizeof(chunked_names[0]) == NET_HTTP1_CHUNKED_ERROR + 1,
               "one name per chunked state");

const char *net_http1_chunked_state_name(enum net_http1_chunked_state s)
{
    if ((unsigned)s > NET_HTTP1_CHUNKED_ERROR)
        return "?";
    return chunked_names[s];
}

// chunked_set_state moves c to next. A move outside chunked_allowed is a bug in this file, so
// it aborts (the job of CORE_ASSERT, which this libc-only file does not include). Moves are
// not logged: they happen several times per chunk, and the caller logs the outcome.
static void chunked_set_state(struct net_http1_chunked *c, enum net_http1_chunked_state next)
{
    if (!(chunked_allowed[c->state] & (1u << next)))
        abort();
    c->state = next;
}

void net_http1_chunked_init(struct net_http1_chunked *c)
{
    memset(c, 0, sizeof(*c));
    c->state = NET_HTTP1_CHUNKED_SIZE_FIRST;
}

// chunked_size_byte handles byte ch of a chunk-size (1 to 16 hex digits, so it cannot
// overflow 64 bits) and of what may follow it: BWS ";" extensions, or CR.
static int chunked_size_byte(struct net_http1_chunked *c, unsigned char ch)
{
    int h = hex_value(ch);
    if (h >= 0) {
        if (++c->_digits > 16)
            return -EBADMSG;
        c->_size = c->_size << 4 | (uint64_t)h;
        if (c->state == NET_HTTP1_CHUNKED_SIZE_FIRST)
            chunked_set_state(c, NET_HTTP1_CHUNKED_SIZE);
        return 0;
    }
    if (c->state == NET_HTTP1_CHUNKED_SIZE_FIRST)
        return -EBADMSG;
    if (is_ows(ch))
        chunked_set_state(c, NET_HTTP1_CHUNKED_EXT_BWS);
    else if (ch == ';')
        chunked_set_state(c, NET_HTTP1_CHUNKED_EXT);
    else if (ch == '\r')
        chunked_set_state(c, NET_HTTP1_CHUNKED_SIZE_LF);
    else
        return -EBADMSG;
    return 0;
}

// chunked_advance advances c by the byte ch, in any state but DATA, DONE and ERROR.
static int chunked_advance(struct net_http1_chunked *c, unsigned char ch)
{
    switch (c->state) {
    case NET_HTTP1_CHUNKED_SIZE_FIRST:
    case NET_HTTP1_CHUNKED_SIZE:
        return chunked_size_byte(c, ch);
    case NET_HTTP1_CHUNKED_EXT_BWS:
        // chunk-ext = *( BWS ";" ... ): whitespace after the size must lead to ';'.
        if (ch == ';')
            chunked_set_state(c, NET_HTTP1_CHUNKED_EXT);
        else if (!is_ows(ch))
            return -EBADMSG;
        return 0;
    case NET_HTTP1_CHUNKED_EXT:
        // Extensions are forwarded, not interpreted: only their bytes are checked.
        if (ch == '\r')
            chunked_set_state(c, NET_HTTP1_CHUNKED_SIZE_LF);
        else if (!is_field_char(ch))
            return -EBADMSG;
        return 0;
    case NET_HTTP1_CHUNKED_SIZE_LF:
        if (ch != '\n')
            return -EBADMSG;
        c->_digits = 0;
        c->_line = 0;
        chunked_set_state(c, c->_size ? NET_HTTP1_CHUNKED_DATA : NET_HTTP1_CHUNKED_TRAILER_START);
        return 0;
    case NET_HTTP1_CHUNKED_DATA_CR:
        if (ch != '\r')
            return -EBADMSG;
        chunked_set_state(c, NET_HTTP1_CHUNKED_DATA_LF);
        return 0;
    case NET_HTTP1_CHUNKED_DATA_LF:
        if (ch != '\n')
            return -EBADMSG;
        chunked_set_state(c, NET_HTTP1_CHUNKED_SIZE_FIRST);
        return 0;
    case NET_HTTP1_CHUNKED_TRAILER_START:
        // A trailer line starts with a token; whitespace would be obs-fold (RFC 9112 5.2).
        if (ch == '\r')
            chunked_set_state(c, NET_HTTP1_CHUNKED_END_LF);
        else if (is_tchar(ch))
            chunked_set_state(c, NET_HTTP1_CHUNKED_TRAILER_NAME);
        else
            return -EBADMSG;
        return 0;
    case NET_HTTP1_CHUNKED_TRAILER_NAME:
        if (ch == ':')
            chunked_set_state(c, NET_HTTP1_CHUNKED_TRAILER_VALUE);
        else if (!is_tchar(ch))
            return -EBADMSG;
        return 0;
    case NET_HTTP1_CHUNKED_TRAILER_VALUE:
        if (ch == '\r')
            chunked_set_state(c, NET_HTTP1_CHUNKED_TRAILER_LF);
        else if (!is_field_char(ch))
            return -EBADMSG;
        return 0;
    case NET_HTTP1_CHUNKED_TRAILER_LF:
    case NET_HTTP1_CHUNKED_END_LF:
        if (ch != '\n')
            return -EBADMSG;
        chunked_set_state(c, c->state == NET_HTTP1_CHUNKED_END_LF
                                 ? NET_HTTP1_CHUNKED_DONE
                                 : NET_HTTP1_CHUNKED_TRAILER_START);
        return 0;
    case NET_HTTP1_CHUNKED_DATA:
    case NET_HTTP1_CHUNKED_DONE:
    case NET_HTTP1_CHUNKED_ERROR:
        break;
    }
    abort(); // the caller handles DATA and stops at DONE and ERROR
}

// chunked_count counts byte ch against the line and trailer limits before it is handled.
static int chunked_count(struct net_http1_chunked *c, unsigned char ch)
{
    if (c->state <= NET_HTTP1_CHUNKED_EXT) {
        if (ch != '\r' && ++c->_line > NET_HTTP1_CHUNK_LINE_MAX)
            return -EMSGSIZE;
    } else if (c->state >= NET_HTTP1_CHUNKED_TRAILER_START &&
               c->state <= NET_HTTP1_CHUNKED_END_LF) {
        if (++c->_trailer > NET_HTTP1_TRAILER_MAX)
            return -EMSGSIZE;
    }
    return 0;
}

// chunked_data consumes chunk-data from in[*i, len); false when the caller must stop first
// because this call already reported a run of data (decoding mode).
static bool chunked_data(struct net_http1_chunked *c, size_t len, size_t *i, size_t *data_off,
                         size_t *data_len)
{
    if (data_len && *data_len > 0)
        return false;
    size_t n = len - *i;
    if (c->_size < n)
        n = (size_t)c->_size;
    if (data_len) {
        *data_off = *i;
        *data_len = n;
    }
    c->_size -= n;
    c->data_total += n;
    *i += n;
    if (c->_size == 0)
        chunked_set_state(c, NET_HTTP1_CHUNKED_DATA_CR);
    return true;
}

int net_http1_chunked_feed(struct net_http1_chunked *c, const char *in, size_t len,
                           size_t *consumed, size_t *data_off, size_t *data_len)
{
    size_t i = 0;
    if (data_off && data_len)
        *data_off = *data_len = 0;
    else
        data_off = data_len = NULL;
    while (i < len && c->state != NET_HTTP1_CHUNKED_DONE && c->state != NET_HTTP1_CHUNKED_ERROR) {
        if (c->state == NET_HTTP1_CHUNKED_DATA) {
            if (!chunked_data(c, len, &i, data_off, data_len))
                break;
            continue;
        }
        int rc = chunked_count(c, in[i]);
        if (rc == 0)
            rc = chunked_advance(c, in[i]);
        if (rc < 0) {
            c->_error = rc;
            chunked_set_state(c, NET_HTTP1_CHUNKED_ERROR);
            break;
        }
        i++;
    }
    *consumed = i;
    if (c->state == NET_HTTP1_CHUNKED_DONE)
        return 1;
    return c->state == NET_HTTP1_CHUNKED_ERROR ? c->_error : 0;
}

int net_http1_chunk_head_write(uint64_t n, char *out, size_t out_len)
{
    char tmp[24];
    int w = snprintf(tmp, sizeof(tmp), "%" PRIx64 "\r\n", n);
    if ((size_t)w > out_len)
        return -ENOSPC;
    memcpy(out, tmp, (size_t)w);
    return w;
}

// ---- writing heads ----

// struct out: a bounded output buffer; once full it stays full and the result is -ENOSPC.
struct out {
    char *p;
    size_t cap;
    size_t n;
    bool full;
};

static struct out out_make(char *p, size_t cap)
{
    return (struct out){.p = p, .cap = cap < INT_MAX ? cap : INT_MAX};
}

static void out_put(struct out *o, const char *s, size_t n)
{
    if (o->full || n > o->cap - o->n) {
        o->full = true;
        return;
    }
    memcpy(o->p + o->n, s, n);
    o->n += n;
}

static void out_str(struct out *o, const char *s)
{
    out_put(o, s, strlen(s));
}

static void out_slice(struct out *o, const char *buf, struct net_http1_slice s)
{
    out_put(o, buf + s.off, s.len);
}

static int out_end(const struct out *o)
{
    return o->full ? -ENOSPC : (int)o->n;
}

// hop_by_hop: the headers that concern one connection only (RFC 9110 7.6.1), plus the proxy
// authentication headers, which are meant for the proxy and the client (RFC 9110 11.7).
static const char *const hop_by_hop[] = {
    "connection", "keep-alive", "proxy-connection",    "te",
    "trailer",    "upgrade",    "proxy-authorization", "proxy-authenticate",
};

// connection_names: a Connection header of hdrs lists the field name name.
static bool connection_names(const char *buf, const struct net_http1_header *hdrs, uint32_t n,
                             struct net_http1_slice name)
{
    for (uint32_t k = 0; k < n; k++) {
        if (!slice_ieq(buf, hdrs[k].name, "connection"))
            continue;
        const char *p = buf + hdrs[k].value.off;
        size_t i = 0, es, el;
        while (list_next(p, hdrs[k].value.len, &i, &es, &el)) {
            if (el != name.len)
                continue;
            size_t j = 0;
            while (j < el && lower(p[es + j]) == lower(buf[name.off + j]))
                j++;
            if (j == el)
                return true;
        }
    }
    return false;
}

// hop_dropped: header h of hdrs is not forwarded. The framing headers stay even when
// Connection names them: dropping them would let a peer reframe its body for the next hop.
static bool hop_dropped(const char *buf, const struct net_http1_header *hdrs, uint32_t n,
                        const struct net_http1_header *h)
{
    for (size_t i = 0; i < sizeof(hop_by_hop) / sizeof(hop_by_hop[0]); i++)
        if (slice_ieq(buf, h->name, hop_by_hop[i]))
            return true;
    if (slice_ieq(buf, h->name, "content-length") || slice_ieq(buf, h->name, "transfer-encoding"))
        return false;
    return connection_names(buf, hdrs, n, h->name);
}

// out_header writes the field line of h.
static void out_header(struct out *o, const char *buf, const struct net_http1_header *h)
{
    out_slice(o, buf, h->name);
    out_put(o, ": ", 2);
    out_slice(o, buf, h->value);
    out_put(o, "\r\n", 2);
}

// out_merged writes one line "name: v1, v2, ..., prefix extra" joining the non-empty values of
// the headers called name and then prefix and extra when extra is not NULL; nothing when
// there is nothing to write.
static void out_merged(struct out *o, const char *buf, const struct net_http1_header *hdrs,
                       uint32_t n, const char *name, const char *prefix, const char *extra)
{
    bool first = true;
    for (uint32_t k = 0; k < n; k++) {
        if (!slice_ieq(buf, hdrs[k].name, name) || hdrs[k].value.len == 0)
            continue;
        out_str(o, first ? name : ", ");
        if (first)
            out_put(o, ": ", 2);
        out_slice(o, buf, hdrs[k].value);
        first = false;
    }
    if (extra) {
        out_str(o, first ? name : ", ");
        if (first)
            out_put(o, ": ", 2);
        out_str(o, prefix);
        out_str(o, extra);
        first = false;
    }
    if (!first)
        out_put(o, "\r\n", 2);
}

// opt_ok: an option string is absent, or non-empty without control characters (a CR or LF
// would let it inject header lines).
static bool opt_ok(const char *s)
{
    if (!s)
        return true;
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

// proxy_opts_ok checks the request rewriting options.
static bool proxy_opts_ok(const struct net_http1_proxy_opts *o)
{
    if (!opt_ok(o->host) || !opt_ok(o->via_name) || !opt_ok(o->client_ip))
        return false;
    if (!o->path)
        return true;
    if (o->path[0] != '/')
        return false;
    for (const char *s = o->path; *s; s++)
        if (!is_target_char(*s))
            return false;
    return true;
}

// out_request_line writes the request line with the target in origin-form (RFC 9112 3.2.1).
static void out_request_line(struct out *o, const char *buf, const struct net_http1_request *req,
                             const char *path)
{
    out_slice(o, buf, req->method_name);
    out_put(o, " ", 1);
    if (path) {
        out_str(o, path);
    } else {
        // An absolute-form target may have an empty path or start with its query.
        if (req->path.len == 0 || buf[req->path.off] == '?')
            out_put(o, "/", 1);
        out_slice(o, buf, req->path);
    }
    out_str(o, " HTTP/1.1\r\nHost: ");
}

int net_http1_request_write_proxy(const char *buf, const struct net_http1_request *req,
                                  const struct net_http1_proxy_opts *o, char *out, size_t out_len)
{
    struct out w = out_make(out, out_len);
    const struct net_http1_header *h = req->headers;
    uint32_t n = req->nheaders;
    if (req->form == NET_HTTP1_TARGET_AUTHORITY || !proxy_opts_ok(o))
        return -EINVAL;
    out_request_line(&w, buf, req, o->path);
    if (o->host)
        out_str(&w, o->host);
    else
        out_slice(&w, buf, req->host);
    out_put(&w, "\r\n", 2);
    for (uint32_t k = 0; k < n; k++) {
        if (hop_dropped(buf, h, n, &h[k]) || slice_ieq(buf, h[k].name, "host") ||
            slice_ieq(buf, h[k].name, "via") || slice_ieq(buf, h[k].name, "x-forwarded-for"))
            continue;
        out_header(&w, buf, &h[k]);
    }
    out_merged(&w, buf, h, n, "Via", req->version == 10 ? "1.0 " : "1.1 ", o->via_name);
    out_merged(&w, buf, h, n, "X-Forwarded-For", "", o->client_ip);
    if (o->origin_close)
        out_str(&w, "Connection: close\r\n");
    out_put(&w, "\r\n", 2);
    return out_end(&w);
}

// resp_opts_ok checks that the framing asked for can deliver resp's body to the client.
static bool resp_opts_ok(const struct net_http1_response *resp, const struct net_http1_resp_opts *o)
{
    if (resp->status == 101 || !opt_ok(o->via_name))
        return false;
    if (o->rechunk)
        return resp->body == NET_HTTP1_BODY_EOF && !o->client_http10;
    return resp->body != NET_HTTP1_BODY_EOF || o->client_close;
}

int net_http1_response_write_proxy(const char *buf, const struct net_http1_response *resp,
                                   const struct net_http1_resp_opts *o, char *out, size_t out_len)
{
    struct out w = out_make(out, out_len);
    const struct net_http1_header *h = resp->headers;
    uint32_t n = resp->nheaders;
    char status[16];
    if (!resp_opts_ok(resp, o))
        return -EINVAL;
    snprintf(status, sizeof(status), "HTTP/1.1 %03d ", resp->status);
    out_str(&w, status);
    out_slice(&w, buf, resp->reason);
    out_put(&w, "\r\n", 2);
    for (uint32_t k = 0; k < n; k++) {
        if (hop_dropped(buf, h, n, &h[k]) || slice_ieq(buf, h[k].name, "via"))
            continue;
        out_header(&w, buf, &h[k]);
    }
    out_merged(&w, buf, h, n, "Via", resp->version == 10 ? "1.0 " : "1.1 ", o->via_name);
    if (o->rechunk)
        out_str(&w, "Transfer-Encoding: chunked\r\n");
    if (resp->status >= 200 && o->client_close)
        out_str(&w, "Connection: close\r\n");
    else if (resp->status >= 200 && o->client_http10)
        out_str(&w, "Connection: keep-alive\r\n");
    out_put(&w, "\r\n", 2);
    return out_end(&w);
}

const char *net_http1_status_reason(int status)
{
    static const struct {
        int status;
        const char *reason;
    } reasons[] = {
        {100, "Continue"},
        {101, "Switching Protocols"},
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
        {426, "Upgrade Required"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
        {505, "HTTP Version Not Supported"},
    };
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (reasons[i].status == status)
            return reasons[i].reason;
    return "Unknown";
}

int net_http1_error_write(int status, const char *body, bool close, char *out, size_t out_len)
{
    struct out w = out_make(out, out_len);
    const char *reason = net_http1_status_reason(status);
    char line[96];
    if (status < 400 || status > 599)
        return -EINVAL;
    size_t blen = body ? strlen(body) : strlen(reason) + 1;
    snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status, reason);
    out_str(&w, line);
    out_str(&w, "Content-Type: text/plain\r\n");
    snprintf(line, sizeof(line), "Content-Length: %zu\r\n", blen);
    out_str(&w, line);
    if (close)
        out_str(&w, "Connection: close\r\n");
    out_put(&w, "\r\n", 2);
    if (body) {
        out_str(&w, body);
    } else {
        out_str(&w, reason);
        out_put(&w, "\n", 1);
    }
    return out_end(&w);
}
