// SPDX-License-Identifier: Apache-2.0
/*
 * tests/tools/origin/conn.c: one client connection of the origin test server.
 *
 * Each connection is a small state machine (enum conn_state) with a bounded input buffer (which
 * is also the 64 KiB cap on a request head) and a bounded output buffer; response bodies are
 * generated only as the output buffer drains, so a slow reader costs one connection's buffers
 * and never blocks the others. Requests on a connection are answered strictly in order
 * (keep-alive and pipelining): the next pipelined request is parsed only once the current
 * response has been fully generated. This file owns the buffers, the state machine, socket I/O
 * and closing; parsing is request.c's and the endpoints are routes.c's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "origin.h"

#define OUT_RESERVE (IN_CAP + 4096) /* room a new response needs (a /headers body is a head) */
#define WRITE_BUDGET (4u << 20)     /* bytes one connection may write before others get a turn */
#define LINGER_MS 2000

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

size_t buf_len(const struct buf *b)
{
    return b->end - b->start;
}

/* out_space: contiguous free bytes at the end of the output buffer. It compacts only once a
 * quarter of the buffer has drained, so a reader taking a few KiB at a time does not make us
 * move the whole buffer for each write; the room it reports is therefore conservative. */
size_t out_space(struct conn *c)
{
    if (c->out.start == c->out.end || c->out.start >= c->out.cap / 4)
        buf_compact(&c->out);
    return c->out.cap - c->out.end;
}

/* out_put appends bytes; running out of room is a bug in the room checks, so it aborts. */
void out_put(struct conn *c, const void *p, size_t n)
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

void out_puts(struct conn *c, const char *s)
{
    out_put(c, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) void out_printf(struct conn *c, const char *fmt, ...)
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

void conn_set_state(struct conn *c, enum conn_state to)
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

void log_req(struct conn *c, const char *suffix)
{
    char host[HOST_MAX + 1];
    sanitize(host, sizeof(host), c->req.host);
    log_line("req %" PRIu64 " %s %s host=%s len=%" PRIu64 "%s", c->id, c->req.method, c->req.target,
             host, c->body_len, suffix);
}

/* ---- request heads and bodies ---- */

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
    if (epoll_ctl(origin.epfd, EPOLL_CTL_MOD, c->fd, &e) == 0)
        c->events = ev;
}

static void conn_free(struct conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        origin.conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    origin.nconns--;
    free(c->head_copy);
    free(c->in.data);
    free(c->out.data);
    free(c);
}

/* conn_close closes the socket (with an RST when `reset`); conn_run frees the connection. */
void conn_close(struct conn *c, bool reset)
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
void conn_run(struct conn *c)
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

void conn_event(struct conn *c, uint32_t events)
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

/* ---- creating ---- */

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

struct conn *conn_new(int fd, const struct sockaddr_storage *peer)
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
    c->id = ++origin.next_id;
    c->state = CS_HEAD;
    c->events = EPOLLIN;
    format_peer(peer, c->peer, sizeof(c->peer));
    return c;
}
