// SPDX-License-Identifier: Apache-2.0
/*
 * tests/tools/origin/origin.h: what the files of the origin test server share.
 *
 * The origin (tests/tools/README.md) is one process, one thread, one level-triggered epoll loop,
 * so nothing here is locked: every function runs on the main thread. The files are
 *   main.c     command line, listening socket, accepting, timers and the event loop;
 *   conn.c     a connection: its buffers, its state machine (enum conn_state) and socket I/O;
 *   request.c  HTTP/1.1 request framing: finding and parsing a head, decoding a body;
 *   routes.c   the endpoints: routing, response heads, body sinks and generated bodies.
 * A struct conn is owned by the connection list in `origin` (main.c links it in, conn.c
 * unlinks and frees it once closed).
 */
#ifndef TLSEDGE_TESTS_ORIGIN_H
#define TLSEDGE_TESTS_ORIGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include <openssl/sha.h>

#define IN_CAP (64 * 1024)   /* input buffer; also the request head cap */
#define OUT_CAP (256 * 1024) /* output buffer */
#define TARGET_MAX 8192
#define HOST_MAX 255

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
    RT_CUT,
    RT_FLAKY,
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
    uint64_t at;           /* /cut: body bytes sent before the cut */
    bool rst;              /* /cut: cut with an RST instead of a FIN */
    int code;
    bool chunk_ext, trailer;
};

/* One client connection; owned by the connection list in `origin`, freed by conn_free once
 * closed. */
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
    bool cut_armed; /* /cut: the body prefix is out, the cut waits for wake_at */
};

/* The process state, defined in main.c. */
struct origin_state {
    int epfd, lfd;
    FILE *log;
    uint64_t deadline;      /* --max-seconds, monotonic ms; 0 = none */
    uint64_t accept_resume; /* listener paused after EMFILE until then; 0 = active */
    uint64_t next_id;
    unsigned nconns;
    struct conn *conns;
};
extern struct origin_state origin;

static inline size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* ---- main.c ---- */

/* now_ms returns the CLOCK_MONOTONIC time in milliseconds. */
uint64_t now_ms(void);

/* log_line writes one formatted line to the event log and flushes it. */
__attribute__((format(printf, 1, 2))) void log_line(const char *fmt, ...);

/* ---- conn.c ---- */

/* buf_len returns the number of unread bytes in `b`. */
size_t buf_len(const struct buf *b);

/* out_space returns the contiguous free bytes at the end of c's output buffer (conservative). */
size_t out_space(struct conn *c);

/* out_put, out_puts and out_printf append to c's output buffer; they abort when it has no
 * room, which is a bug in the caller's room checks. */
void out_put(struct conn *c, const void *p, size_t n);
void out_puts(struct conn *c, const char *s);
__attribute__((format(printf, 2, 3))) void out_printf(struct conn *c, const char *fmt, ...);

/* conn_set_state moves `c` to `to`; it aborts on a transition the state table forbids. */
void conn_set_state(struct conn *c, enum conn_state to);

/* log_req writes c's "req" log line, with `suffix` appended. */
void log_req(struct conn *c, const char *suffix);

/* conn_new allocates a connection in CS_HEAD for the accepted socket `fd` (which it does not
 * close on failure) from `peer`; NULL when out of memory. The caller links it into `origin`. */
struct conn *conn_new(int fd, const struct sockaddr_storage *peer);

/* conn_close closes the socket (with an RST when `reset`) and moves to CS_CLOSED; conn_run
 * (or conn_event) frees the connection afterwards. */
void conn_close(struct conn *c, bool reset);

/* conn_run moves `c` as far as it can go without blocking, then re-arms epoll; it frees `c`
 * if it closed. */
void conn_run(struct conn *c);

/* conn_event handles epoll `events` on `c`; `c` may be freed on return. */
void conn_event(struct conn *c, uint32_t events);

/* ---- request.c ---- */

/* parse_u64 reads s[0..n) as a plain decimal number no larger than max into *out; 0, or -1 if
 * it is not one. */
int parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out);

/* head_find_end returns the length of the complete head at c->in.start, 0 while it is
 * incomplete, -1 once it is past IN_CAP. It drops empty lines before the request line. */
long head_find_end(struct conn *c);

/* parse_head fills `r` from the complete head [head, head + len); 0, or the HTTP status to
 * refuse it with (reason in r->why). */
int parse_head(struct req *r, const char *head, size_t len);

/* body_step decodes the next piece of c's request body (Content-Length or chunked) from its
 * input buffer into the route's sink (body_feed). */
enum step body_step(struct conn *c);

/* ---- routes.c ---- */

/* route_parse picks the endpoint of `r` and its parameters; 0, or -1 when a parameter is bad. */
int route_parse(struct req *r);

/* begin_request consumes the parsed head of `head_len` bytes, sets up body decoding and answers
 * what is answered before the body arrives (/close, /reset, 100 Continue, the /echo head). */
void begin_request(struct conn *c, size_t head_len);

/* sink_room returns how many body bytes the route can take now (echo is bounded by output
 * room); body_feed hands it `n` body bytes at `p`. */
size_t sink_room(struct conn *c);
void body_feed(struct conn *c, const char *p, size_t n);

/* respond_after_body answers once the request body has been consumed. */
void respond_after_body(struct conn *c);

/* reject answers a request we cannot (or will not) frame with `status`, then closes. */
void reject(struct conn *c, int status, const char *why);

/* advance_send generates the next piece of a streamed body (CS_SEND); true on progress. */
bool advance_send(struct conn *c);

#endif
