// SPDX-License-Identifier: Apache-2.0
/*
 * tests/tools/origin.c: the HTTP/1.1 origin server that tlsedge's integration tests proxy to.
 *
 * One process, one thread, one level-triggered epoll loop. Each connection is a small state
 * machine (enum conn_state) with a bounded input buffer (which is also the 64 KiB cap on a
 * request head) and a bounded output buffer; response bodies are generated only as the output
 * buffer drains, so a slow reader costs one connection's buffers and never blocks the others.
 * Requests on a connection are answered strictly in order: the next pipelined request is parsed
 * only once the current response has been fully generated.
 *
 * Every generated body (/size, /chunked, /eof, /slow) is the same deterministic stream: byte i
 * is byte (i % 16) of the 16-byte record printf("%015" PRIx64 "\n", i / 16), cut at N bytes.
 * Each record names its own offset, so a dropped, duplicated or reordered piece shows up in a
 * hexdump and in the checksum. Reference in shell:
 *   awk -v n=N 'BEGIN { for (i = 0; i * 16 < n; i++) printf "%015x\n", i }' | head -c N
 *
 * Endpoints, command line and log format are described in tests/tools/README.md.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/sha.h>

#define IN_CAP (64 * 1024)          /* input buffer; also the request head cap */
#define OUT_CAP (256 * 1024)        /* output buffer */
#define OUT_RESERVE (IN_CAP + 4096) /* room a new response needs (a /headers body is a head) */
#define TARGET_MAX 8192
#define HOST_MAX 255
#define CHUNK_LINE_MAX 4096
#define TRAILER_MAX (16 * 1024)
#define MAX_CONNS 4096
#define WRITE_BUDGET (4u << 20) /* bytes one connection may write before others get a turn */
#define LINGER_MS 2000
#define ACCEPT_PAUSE_MS 100
#define SLOW_PIECE_MAX 65536

/* Chunk sizes /chunked cycles through: tiny, odd, page, large, and two in-between sizes. */
static const size_t chunk_cycle[] = {1, 17, 4096, 65536, 3, 1000};
#define CHUNK_CYCLE_LEN (sizeof(chunk_cycle) / sizeof(chunk_cycle[0]))

enum conn_state {
    CS_HEAD,        /* waiting for (or parsing) the next request head */
    CS_BODY,        /* decoding the request body into its sink */
    CS_SEND,        /* generating a streamed response body */
    CS_STALL,       /* /stall: never answers, discards input until the peer leaves */
    CS_FLUSH_CLOSE, /* flushing queued output before closing */
    CS_LINGER,      /* write side shut; discarding input until EOF or LINGER_MS */
    CS_CLOSED,      /* socket closed; freed by conn_run */
};
#define CS_COUNT (CS_CLOSED + 1)

enum body_state { BS_LENGTH, BS_CHUNK_SIZE, BS_CHUNK_DATA, BS_CHUNK_CRLF, BS_TRAILER, BS_DONE };

enum step { STEP_PROGRESS, STEP_NEED_INPUT, STEP_NEED_ROOM, STEP_BAD };

enum route {
    RT_ROOT,
    RT_SIZE,
    RT_CHUNKED,
    RT_EOF,
    RT_SLOW,
    RT_SHA256,
    RT_ECHO,
    RT_HEADERS,
    RT_STATUS,
    RT_STALL,
    RT_CLOSE,
    RT_RESET,
    RT_GARBAGE,
    RT_NOT_FOUND,
    RT_BAD_METHOD,
};

struct buf {
    char *data;
    size_t start, end, cap;
};

/* What one request asked for; filled from its head, valid until the next head. */
struct req {
    char method[33];
    char target[TARGET_MAX + 1];
    char host[HOST_MAX + 1];
    bool http10, is_head, chunked, expect_continue, keep_alive, close;
    int hosts;
    bool cl_seen, te_seen, te_bad;
    uint64_t content_length;
    const char *why; /* why parse_head refused the head */
    enum route route;
    uint64_t n, ms, piece; /* route parameters */
    int code;
    bool chunk_ext, trailer;
};

/* One client connection; owned by the connection list in `g`, freed by conn_free once closed. */
struct conn {
    struct conn *prev, *next;
    int fd;
    uint32_t events; /* current epoll interest */
    uint64_t id;
    char peer[64];
    enum conn_state state;
    struct buf in, out;
    size_t scan_pos, line_start; /* head search progress, relative to in.start */
    bool peer_eof, close_after, resp_started;
    uint64_t wake_at; /* monotonic ms to run again, 0 = no timer */
    uint64_t nreq;
    struct req req;
    enum body_state bs;
    uint64_t body_left, body_len;
    size_t trailer_bytes;
    SHA256_CTX sha;
    char *head_copy; /* /headers: the raw head, until the response is queued */
    size_t head_copy_len;
    uint64_t gen_off, gen_total; /* streamed body progress */
    unsigned chunk_idx;
    bool gen_chunked; /* the streamed body is chunk-encoded */
    uint64_t linger_until;
};

static struct {
    int epfd, lfd;
    FILE *log;
    uint64_t deadline;      /* --max-seconds, monotonic ms; 0 = none */
    uint64_t accept_resume; /* listener paused after EMFILE until then; 0 = active */
    uint64_t next_id;
    unsigned nconns;
    struct conn *conns;
} g;

static void conn_close(struct conn *c, bool reset);

/* ---- small utilities ---- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 1, 2))) static void log_line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(g.log, fmt, ap);
    va_end(ap);
    fputc('\n', g.log);
    fflush(g.log);
}

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* parse_u64 reads s[0..n) as a plain decimal number no larger than max; -1 if it is not one. */
static int parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
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

/* ---- buffers ---- */

static void buf_compact(struct buf *b)
{
    if (b->start == b->end) {
        b->start = b->end = 0;
    } else if (b->start > 0) {
        memmove(b->data, b->data + b->start, b->end - b->start);
        b->end -= b->start;
        b->start = 0;
    }
}

static size_t buf_len(const struct buf *b)
{
    return b->end - b->start;
}

/* out_space: contiguous free bytes at the end of the output buffer. It compacts only once a
 * quarter of the buffer has drained, so a reader taking a few KiB at a time does not make us
 * move the whole buffer for each write; the room it reports is therefore conservative. */
static size_t out_space(struct conn *c)
{
    if (c->out.start == c->out.end || c->out.start >= c->out.cap / 4)
        buf_compact(&c->out);
    return c->out.cap - c->out.end;
}

/* out_put appends bytes; running out of room is a bug in the room checks, so it aborts. */
static void out_put(struct conn *c, const void *p, size_t n)
{
    if (out_space(c) < n)
        buf_compact(&c->out);
    if (c->out.cap - c->out.end < n) {
        fprintf(stderr, "origin: output overflow on conn %" PRIu64 "\n", c->id);
        abort();
    }
    memcpy(c->out.data + c->out.end, p, n);
    c->out.end += n;
}

static void out_puts(struct conn *c, const char *s)
{
    out_put(c, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void out_printf(struct conn *c, const char *fmt, ...)
{
    buf_compact(&c->out); /* heads are small and rare: take all the room there is */
    size_t space = c->out.cap - c->out.end;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->out.data + c->out.end, space, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= space) {
        fprintf(stderr, "origin: output overflow on conn %" PRIu64 "\n", c->id);
        abort();
    }
    c->out.end += (size_t)n;
}

/* ---- state machine bookkeeping ---- */

static const char *conn_state_name(enum conn_state s)
{
    static const char *const names[CS_COUNT] = {"HEAD",        "BODY",   "SEND",  "STALL",
                                                "FLUSH_CLOSE", "LINGER", "CLOSED"};
    return (unsigned)s < CS_COUNT ? names[s] : "?";
}

static void conn_set_state(struct conn *c, enum conn_state to)
{
    /* allowed[from] is a bit set of the states `from` may move to. */
    static const unsigned allowed[CS_COUNT] = {
        [CS_HEAD] = 1u << CS_BODY | 1u << CS_FLUSH_CLOSE | 1u << CS_CLOSED,
        [CS_BODY] =
            1u << CS_HEAD | 1u << CS_SEND | 1u << CS_STALL | 1u << CS_FLUSH_CLOSE | 1u << CS_CLOSED,
        [CS_SEND] = 1u << CS_HEAD | 1u << CS_FLUSH_CLOSE | 1u << CS_CLOSED,
        [CS_STALL] = 1u << CS_CLOSED,
        [CS_FLUSH_CLOSE] = 1u << CS_LINGER | 1u << CS_CLOSED,
        [CS_LINGER] = 1u << CS_CLOSED,
        [CS_CLOSED] = 0,
    };
    if (!(allowed[c->state] & (1u << to))) {
        fprintf(stderr, "origin: conn %" PRIu64 ": bad transition %s -> %s\n", c->id,
                conn_state_name(c->state), conn_state_name(to));
        abort();
    }
    c->state = to;
}

/* ---- logging of requests ---- */

static void sanitize(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[i] = (ch > 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    dst[i] = '\0';
}

static void log_req(struct conn *c, const char *suffix)
{
    char host[HOST_MAX + 1];
    sanitize(host, sizeof(host), c->req.host);
    log_line("req %" PRIu64 " %s %s host=%s len=%" PRIu64 "%s", c->id, c->req.method, c->req.target,
             host, c->body_len, suffix);
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
static void reject(struct conn *c, int status, const char *why)
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

/* ---- request head parsing ---- */

/* head_find_end: length of the complete head at in.start, 0 while incomplete, -1 past the cap. */
static long head_find_end(struct conn *c)
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
static int parse_head(struct req *r, const char *head, size_t len)
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
        {"/status/", RT_STATUS, true},
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
    return 0;
}

/* route_parse picks the endpoint and its parameters; 0, or -1 when a parameter is bad. */
static int route_parse(struct req *r)
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
        if (parse_u64(arg, alen, UINT64_C(1) << 56, &r->n) != 0)
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
static void respond_after_body(struct conn *c)
{
    static const char garbage[] = "\x16\x03\x01 this is not HTTP \x00\xff\r\n\r\n";
    char body[64];
    int n;
    switch (c->req.route) {
    case RT_ROOT:
        respond_fixed(c, 200, NULL, "hello from origin\n", 18);
        break;
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

/* ---- request body ---- */

/* sink_room: how many body bytes the route can take now (echo is bounded by output room). */
static size_t sink_room(struct conn *c)
{
    if (c->req.route != RT_ECHO)
        return SIZE_MAX;
    size_t space = out_space(c);
    if (!c->req.chunked)
        return space;
    return space > 32 ? space - 32 : 0;
}

static void body_feed(struct conn *c, const char *p, size_t n)
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
static enum step body_step(struct conn *c)
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

static bool advance_body(struct conn *c)
{
    if (c->bs == BS_DONE) {
        log_req(c, "");
        respond_after_body(c);
        return true;
    }
    switch (body_step(c)) {
    case STEP_PROGRESS:
        return true;
    case STEP_NEED_INPUT:
        if (!c->peer_eof)
            return false;
        log_req(c, " aborted");
        c->close_after = true;
        conn_set_state(c, CS_FLUSH_CLOSE);
        return true;
    case STEP_NEED_ROOM:
        return false;
    case STEP_BAD:
        reject(c, 400, "malformed chunked body");
        return true;
    }
    return false;
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
static void begin_request(struct conn *c, size_t head_len)
{
    struct req *r = &c->req;
    c->close_after = r->close || (r->http10 && !r->keep_alive);
    c->body_len = 0;
    c->trailer_bytes = 0;
    c->body_left = r->chunked ? 0 : r->content_length;
    c->bs = r->chunked ? BS_CHUNK_SIZE : r->content_length ? BS_LENGTH : BS_DONE;
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

static bool advance_head(struct conn *c)
{
    if (out_space(c) < OUT_RESERVE)
        return false; /* answer in order: wait until earlier responses drain */
    long head_len = head_find_end(c);
    if (head_len < 0) {
        c->nreq++;
        memset(&c->req, 0, sizeof(c->req)); /* not parsed: answer as to a plain HTTP/1.1 GET */
        reject(c, 431, "request head exceeds 64 KiB");
        return true;
    }
    if (head_len == 0) {
        if (!c->peer_eof)
            return false;
        c->close_after = true;
        conn_set_state(c, CS_FLUSH_CLOSE);
        return true;
    }
    c->nreq++;
    int status = parse_head(&c->req, c->in.data + c->in.start, (size_t)head_len);
    if (status != 0) {
        reject(c, status, c->req.why);
        return true;
    }
    if (route_parse(&c->req) != 0) {
        reject(c, 400, "bad endpoint parameter");
        return true;
    }
    begin_request(c, (size_t)head_len);
    return true;
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

static bool advance_send(struct conn *c)
{
    if (c->gen_chunked)
        return gen_chunked(c);
    if (c->gen_off == c->gen_total) {
        response_done(c);
        return true;
    }
    return c->req.route == RT_SLOW ? gen_slow(c) : gen_plain(c);
}

/* ---- closing ---- */

static bool advance_flush_close(struct conn *c)
{
    if (buf_len(&c->out) > 0)
        return false;
    if (c->peer_eof) {
        conn_close(c, false);
        return true;
    }
    /* Shut the write side and drain input for a while, so that unread request bytes do not
     * turn our close into an RST that could destroy the response in flight. */
    shutdown(c->fd, SHUT_WR);
    c->linger_until = now_ms() + LINGER_MS;
    c->wake_at = c->linger_until;
    conn_set_state(c, CS_LINGER);
    return true;
}

/* conn_advance takes one step of the connection's state machine; true if anything changed. */
static bool conn_advance(struct conn *c)
{
    switch (c->state) {
    case CS_HEAD:
        return advance_head(c);
    case CS_BODY:
        return advance_body(c);
    case CS_SEND:
        return advance_send(c);
    case CS_STALL:
        c->in.start = c->in.end = 0;
        if (c->peer_eof)
            conn_close(c, false);
        return c->peer_eof;
    case CS_FLUSH_CLOSE:
        return advance_flush_close(c);
    case CS_LINGER:
        c->in.start = c->in.end = 0;
        if (c->peer_eof || now_ms() >= c->linger_until) {
            conn_close(c, false);
            return true;
        }
        return false;
    case CS_CLOSED:
        break;
    }
    return false;
}

/* ---- socket I/O ---- */

static bool conn_wants_read(struct conn *c)
{
    if (c->peer_eof)
        return false;
    switch (c->state) {
    case CS_HEAD:
    case CS_BODY:
        buf_compact(&c->in);
        return c->in.end < c->in.cap;
    case CS_STALL:
    case CS_LINGER:
        return true;
    default:
        return false;
    }
}

/* conn_read reads what fits; bytes read, 0 at EOF, or a negative errno (-EAGAIN: none now). */
static ssize_t conn_read(struct conn *c)
{
    if (c->state == CS_STALL || c->state == CS_LINGER)
        c->in.start = c->in.end = 0; /* discarded anyway */
    buf_compact(&c->in);
    ssize_t n = recv(c->fd, c->in.data + c->in.end, c->in.cap - c->in.end, 0);
    if (n < 0)
        return errno == EINTR ? -EAGAIN : (errno == EWOULDBLOCK ? -EAGAIN : -errno);
    c->in.end += (size_t)n;
    return n;
}

/* conn_flush writes queued output; bytes written, or a negative errno. */
static ssize_t conn_flush(struct conn *c)
{
    size_t len = buf_len(&c->out);
    if (len == 0)
        return 0;
    ssize_t n = send(c->fd, c->out.data + c->out.start, len, MSG_NOSIGNAL);
    if (n < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -errno;
    c->out.start += (size_t)n;
    return n;
}

static void conn_update_events(struct conn *c, bool more)
{
    uint32_t ev = 0;
    if (conn_wants_read(c))
        ev |= EPOLLIN;
    if (more || buf_len(&c->out) > 0)
        ev |= EPOLLOUT;
    if (ev == c->events)
        return;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    if (epoll_ctl(g.epfd, EPOLL_CTL_MOD, c->fd, &e) == 0)
        c->events = ev;
}

static void conn_free(struct conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        g.conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    g.nconns--;
    free(c->head_copy);
    free(c->in.data);
    free(c->out.data);
    free(c);
}

/* conn_close closes the socket (with an RST when `reset`); conn_run frees the connection. */
static void conn_close(struct conn *c, bool reset)
{
    if (reset) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    if (c->state == CS_BODY)
        log_req(c, " aborted");
    close(c->fd);
    c->fd = -1;
    conn_set_state(c, CS_CLOSED);
    log_line("conn %" PRIu64 " close", c->id);
}

static void conn_fail(struct conn *c, const char *what, int err)
{
    log_line("err %" PRIu64 " %s: %s", c->id, what, strerror(err));
    conn_close(c, false);
}

/* conn_run moves a connection as far as it can go without blocking, then re-arms epoll. */
static void conn_run(struct conn *c)
{
    size_t written = 0;
    bool more = false;
    for (;;) {
        bool progress = conn_advance(c);
        if (c->state == CS_CLOSED)
            break;
        ssize_t w = conn_flush(c);
        if (w < 0) {
            conn_fail(c, "write", (int)-w);
            break;
        }
        written += (size_t)w;
        progress |= w > 0;
        if (written >= WRITE_BUDGET) {
            more = true; /* let the other connections have a turn */
            break;
        }
        if (conn_wants_read(c)) {
            ssize_t r = conn_read(c);
            if (r < 0 && r != -EAGAIN) {
                conn_fail(c, "read", (int)-r);
                break;
            }
            if (r == 0)
                c->peer_eof = true;
            progress |= r >= 0;
        }
        if (!progress)
            break;
    }
    if (c->state == CS_CLOSED)
        conn_free(c);
    else
        conn_update_events(c, more);
}

static void conn_event(struct conn *c, uint32_t events)
{
    if (events & (EPOLLERR | EPOLLHUP)) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err)
            log_line("err %" PRIu64 " socket: %s", c->id, strerror(err));
        conn_close(c, false);
        conn_free(c);
        return;
    }
    conn_run(c);
}

/* ---- accepting ---- */

static void format_peer(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        snprintf(out, cap, "[%s]:%u", host, ntohs(a->sin6_port));
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        snprintf(out, cap, "%s:%u", host, ntohs(a->sin_port));
    }
}

static struct conn *conn_new(int fd, const struct sockaddr_storage *peer)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->in.data = malloc(IN_CAP);
    c->out.data = malloc(OUT_CAP);
    if (!c->in.data || !c->out.data) {
        free(c->in.data);
        free(c->out.data);
        free(c);
        return NULL;
    }
    c->in.cap = IN_CAP;
    c->out.cap = OUT_CAP;
    c->fd = fd;
    c->id = ++g.next_id;
    c->state = CS_HEAD;
    c->events = EPOLLIN;
    format_peer(peer, c->peer, sizeof(c->peer));
    return c;
}

static void accept_one(int fd, const struct sockaddr_storage *peer)
{
    int one = 1;
    struct conn *c = g.nconns < MAX_CONNS ? conn_new(fd, peer) : NULL;
    if (!c) {
        log_line("err 0 accept: too many connections or out of memory");
        close(fd);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct epoll_event e = {.events = c->events, .data.ptr = c};
    if (epoll_ctl(g.epfd, EPOLL_CTL_ADD, fd, &e) != 0) {
        close(fd);
        free(c->in.data);
        free(c->out.data);
        free(c);
        return;
    }
    c->next = g.conns;
    if (g.conns)
        g.conns->prev = c;
    g.conns = c;
    g.nconns++;
    log_line("conn %" PRIu64 " open %s", c->id, c->peer);
}

static void listener_set(uint32_t events)
{
    struct epoll_event e = {.events = events, .data.ptr = NULL};
    epoll_ctl(g.epfd, EPOLL_CTL_MOD, g.lfd, &e);
}

static void accept_all(void)
{
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int fd = accept4(g.lfd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            accept_one(fd, &peer);
            continue;
        }
        int err = errno;
        if (err == EINTR || err == ECONNABORTED)
            continue;
        if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
            log_line("err 0 accept: %s (pausing)", strerror(err));
            listener_set(0);
            g.accept_resume = now_ms() + ACCEPT_PAUSE_MS;
        }
        return;
    }
}

/* ---- main loop ---- */

static void run_timers(uint64_t now)
{
    if (g.accept_resume && now >= g.accept_resume) {
        g.accept_resume = 0;
        listener_set(EPOLLIN);
    }
    struct conn *next;
    for (struct conn *c = g.conns; c; c = next) {
        next = c->next;
        if (c->wake_at && now >= c->wake_at) {
            c->wake_at = 0;
            conn_run(c);
        }
    }
}

/* next_timeout: milliseconds until the earliest timer, -1 when none is armed. */
static int next_timeout(uint64_t now)
{
    uint64_t first = g.deadline;
    if (g.accept_resume && (!first || g.accept_resume < first))
        first = g.accept_resume;
    for (struct conn *c = g.conns; c; c = c->next)
        if (c->wake_at && (!first || c->wake_at < first))
            first = c->wake_at;
    if (!first)
        return -1;
    return first <= now ? 0 : (int)min_size(first - now, 60000);
}

static int event_loop(void)
{
    struct epoll_event evs[256];
    for (;;) {
        uint64_t now = now_ms();
        if (g.deadline && now >= g.deadline) {
            log_line("exit max-seconds");
            return 0;
        }
        run_timers(now);
        int n = epoll_wait(g.epfd, evs, 256, next_timeout(now_ms()));
        if (n < 0 && errno != EINTR) {
            perror("origin: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL)
                accept_all();
            else
                conn_event(evs[i].data.ptr, evs[i].events);
        }
    }
}

/* ---- startup ---- */

static int parse_addr(const char *addr, unsigned port, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[INET6_ADDRSTRLEN + 2];
    size_t n = strlen(addr);
    if (n >= sizeof(host))
        return -1;
    memcpy(host, addr, n + 1);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        memmove(host, host + 1, n - 2);
        host[n - 2] = '\0';
    }
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof(*a4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a6);
        return 0;
    }
    return -1;
}

/* listen_on binds the listening socket and prints "PORT <n>"; the fd, or -1 after a message. */
static int listen_on(const char *addr, unsigned port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1, fd = -1;
    if (parse_addr(addr, port, &ss, &len) != 0) {
        fprintf(stderr, "origin: bad address '%s'\n", addr);
        return -1;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, SOMAXCONN) != 0)
        goto fail;
    len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        goto fail;
    port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
    printf("PORT %u\n", port);
    fflush(stdout);
    return fd;
fail:
    fprintf(stderr, "origin: listen on %s port %u: %s\n", addr, port, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: origin -p PORT [-a ADDR] [-l LOGFILE] [--max-seconds N]\n"
               "  -p PORT           port to listen on; 0 picks a free one (see the PORT line)\n"
               "  -a ADDR           address to listen on (default 127.0.0.1; ::1 works)\n"
               "  -l LOGFILE        append the event log there instead of stdout\n"
               "  --max-seconds N   exit after N seconds (default 600; 0 = never)\n");
}

struct options {
    const char *addr, *logfile;
    long port;
    uint64_t max_seconds;
};

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"max-seconds", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    char *end;
    *o = (struct options){.addr = "127.0.0.1", .port = -1, .max_seconds = 600};
    while ((opt = getopt_long(argc, argv, "p:a:l:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'p':
            o->port = strtol(optarg, &end, 10);
            if (*end || end == optarg || o->port < 0 || o->port > 65535)
                return -1;
            break;
        case 'a':
            o->addr = optarg;
            break;
        case 'l':
            o->logfile = optarg;
            break;
        case 'm':
            if (parse_u64(optarg, strlen(optarg), UINT64_C(1) << 40, &o->max_seconds) != 0)
                return -1;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            return -1;
        }
    }
    return (o->port < 0 || optind != argc) ? -1 : 0;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    struct options o;
    if (parse_options(argc, argv, &o) != 0) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    g.log = stdout;
    if (o.logfile && !(g.log = fopen(o.logfile, "a"))) {
        fprintf(stderr, "origin: %s: %s\n", o.logfile, strerror(errno));
        return 1;
    }
    g.lfd = listen_on(o.addr, (unsigned)o.port);
    if (g.lfd < 0)
        return 1;
    g.epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
    if (g.epfd < 0 || epoll_ctl(g.epfd, EPOLL_CTL_ADD, g.lfd, &e) != 0) {
        perror("origin: epoll");
        return 1;
    }
    if (o.max_seconds)
        g.deadline = now_ms() + o.max_seconds * 1000;
    return event_loop();
}
