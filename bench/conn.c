// SPDX-License-Identifier: Apache-2.0
// bench/conn.c: the connection state machine of tlsedge-bench (see bench/conn.h).
//
// Sockets are registered once, edge-triggered, for input and output, and never modified: each
// event runs bench_conn_event(), whose advance() loop runs the current state's step until a
// step has to wait for the network (every step reads or writes until EAGAIN, as edge triggering
// requires). One set_state() checks every move against the allowed-transition table, logs it
// under --debug, and arms or disarms the state's timer.
//
// Closing is normal: after a completed handshake the client sends close_notify and closes
// (FIN, no SO_LINGER reset; the TIME-WAIT is on the client side, see bench/README.md). A TLS 1.3
// server sends its tickets after the client's Finished, or (BoringSSL) with its next write; a
// client that closed on unread tickets would make its kernel answer with a reset, and resume
// mode needs them, so TICKET_WAIT reads them first (want_ticket() explains how each worker
// learns which kind of server it faces).
#include "bench/conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "bench/opts.h"
#include "bench/sys.h"
#include "bench/tls.h"
#include "bench/worker.h"

// A state machine invariant of this file; never used for peer input.
#define CONN_ASSERT(x)                                                                             \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "tlsedge-bench: %s:%d: assertion '%s' failed\n", __FILE__, __LINE__,   \
                    #x);                                                                           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

// Ticket waits that time out in a row, under one belief about the server's tickets, before the
// worker changes its mind (want_ticket()).
#define TICKET_MISSES 3

static const char *const state_names[BENCH_CONN_STATES] = {
    [BENCH_CONN_CLOSED] = "CLOSED",
    [BENCH_CONN_CONNECTING] = "CONNECTING",
    [BENCH_CONN_HANDSHAKE] = "HANDSHAKE",
    [BENCH_CONN_REQUEST_WRITE] = "REQUEST_WRITE",
    [BENCH_CONN_RESPONSE_READ] = "RESPONSE_READ",
    [BENCH_CONN_TICKET_WAIT] = "TICKET_WAIT",
    [BENCH_CONN_IDLE] = "IDLE",
};

// allowed[from][to]: the moves set_state() accepts.
static const bool allowed[BENCH_CONN_STATES][BENCH_CONN_STATES] = {
    [BENCH_CONN_CLOSED] = {[BENCH_CONN_CONNECTING] = true},
    [BENCH_CONN_CONNECTING] = {[BENCH_CONN_HANDSHAKE] = true, [BENCH_CONN_CLOSED] = true},
    [BENCH_CONN_HANDSHAKE] = {[BENCH_CONN_TICKET_WAIT] = true,
                              [BENCH_CONN_REQUEST_WRITE] = true,
                              [BENCH_CONN_IDLE] = true,
                              [BENCH_CONN_CLOSED] = true},
    [BENCH_CONN_REQUEST_WRITE] = {[BENCH_CONN_RESPONSE_READ] = true, [BENCH_CONN_CLOSED] = true},
    [BENCH_CONN_RESPONSE_READ] =
        {[BENCH_CONN_REQUEST_WRITE] = true, [BENCH_CONN_IDLE] = true, [BENCH_CONN_CLOSED] = true},
    [BENCH_CONN_TICKET_WAIT] = {[BENCH_CONN_IDLE] = true, [BENCH_CONN_CLOSED] = true},
    [BENCH_CONN_IDLE] = {[BENCH_CONN_REQUEST_WRITE] = true, [BENCH_CONN_CLOSED] = true},
};

const char *bench_conn_state_name(enum bench_conn_state s)
{
    return state_names[s];
}

// paced_keepalive is true when c's requests wait for the --rate pacer in IDLE.
static bool paced_keepalive(const struct bench_conn *c)
{
    const struct bench_opts *o = c->w->o;

    return o->rate > 0 && (o->mode == BENCH_MODE_KEEPALIVE || o->mode == BENCH_MODE_BULK);
}

// set_state moves c to s, checked against the table, and keeps the state's timer: IDLE and
// CLOSED have none (a paced keep-alive IDLE waits on the READY queue instead), TICKET_WAIT has
// the ticket wait, every other state the operation's deadline (armed when none is).
static void set_state(struct bench_conn *c, enum bench_conn_state s, uint64_t now)
{
    struct bench_worker *w = c->w;

    CONN_ASSERT(allowed[c->state][s]);
    if (w->o->debug)
        fprintf(stderr, "bench: worker %u conn %u: %s -> %s\n", w->id, c->idx,
                state_names[c->state], state_names[s]);
    c->state = s;
    if (s == BENCH_CONN_CLOSED || (s == BENCH_CONN_IDLE && !paced_keepalive(c)))
        bench_worker_tq_remove(w, c);
    else if (s == BENCH_CONN_IDLE)
        bench_worker_tq_put(w, c, BENCH_TQ_READY, 0);
    else if (s == BENCH_CONN_TICKET_WAIT)
        bench_worker_tq_put(w, c, BENCH_TQ_TICKET, now + w->o->ticket_wait_ms * 1000000ull);
    else if (c->tq != BENCH_TQ_OP)
        bench_worker_tq_put(w, c, BENCH_TQ_OP, now + w->o->timeout_ms * 1000000ull);
}

// op_begin starts an operation at now: its latency and its --timeout run from here.
static void op_begin(struct bench_conn *c, uint64_t now)
{
    c->_op_start = now;
    c->_in_op = true;
    bench_worker_tq_put(c->w, c, BENCH_TQ_OP, now + c->w->o->timeout_ms * 1000000ull);
}

// op_complete counts the operation in progress as successful at now.
static void op_complete(struct bench_conn *c, uint64_t now)
{
    if (!c->_in_op)
        return;
    c->_in_op = false;
    bench_worker_op_done(c->w, now - c->_op_start, now);
}

// release closes the socket and frees the SSL; clean sends close_notify first (a normal
// close). c becomes CLOSED and its slot is handed back.
static void release(struct bench_conn *c, bool clean, uint64_t now)
{
    struct bench_worker *w = c->w;

    if (c->ssl != NULL) {
        if (clean && !c->_half_closed && SSL_is_init_finished(c->ssl)) {
            // One non-blocking attempt: close_notify goes out with the FIN, nobody waits for
            // the server's reply.
            ERR_clear_error();
            (void)SSL_shutdown(c->ssl);
        }
        SSL_free(c->ssl);
        c->ssl = NULL;
        ERR_clear_error();
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    if (c->_held)
        atomic_store_explicit(&w->stats.open,
                              atomic_load_explicit(&w->stats.open, memory_order_relaxed) - 1,
                              memory_order_relaxed);
    if (c->_opening)
        w->opening--;
    c->_held = c->_opening = c->_in_op = false;
    c->gen++;
    set_state(c, BENCH_CONN_CLOSED, now);
    bench_worker_slot_free(w, c);
}

// fail counts a failed operation of kind (detail borrowed) and closes c without close_notify.
static void fail(struct bench_conn *c, enum bench_err_kind kind, const char *detail)
{
    uint64_t now = bench_sys_now_ns();

    bench_worker_error(c->w, kind, detail, now);
    release(c, false, now);
}

// fail_ssl fails c after BoringSSL call result r failed with SSL_get_error() e.
static void fail_ssl(struct bench_conn *c, enum bench_err_kind kind, int r, int e)
{
    char reason[64];
    int saved = errno;

    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && r == 0) ||
        (e == SSL_ERROR_SYSCALL && saved == 0 && ERR_peek_error() == 0)) {
        ERR_clear_error();
        // The server closed: a handshake cut short is a handshake error, otherwise "eof".
        fail(c, kind == BENCH_ERR_HANDSHAKE ? kind : BENCH_ERR_EOF,
             kind == BENCH_ERR_HANDSHAKE ? "EOF" : state_names[c->state]);
        return;
    }
    bench_tls_error_reason(c->ssl, e == SSL_ERROR_SYSCALL ? saved : 0, reason, sizeof(reason));
    fail(c, kind, reason);
}

// held makes an established idle-mode connection IDLE for the rest of the run.
static void held(struct bench_conn *c, uint64_t now)
{
    struct bench_worker *w = c->w;

    c->_opening = false;
    w->opening--;
    c->_held = true;
    atomic_store_explicit(&w->stats.open,
                          atomic_load_explicit(&w->stats.open, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    set_state(c, BENCH_CONN_IDLE, now);
}

// start_request sends the request on c at now; new_op starts a new operation (keepalive,
// bulk), otherwise the operation in progress goes on (request mode: connect + handshake +
// request).
static void start_request(struct bench_conn *c, uint64_t now, bool new_op)
{
    if (new_op)
        op_begin(c, now);
    c->_req_off = 0;
    bench_http_resp_reset(&c->_resp);
    set_state(c, BENCH_CONN_REQUEST_WRITE, now);
}

// src_bind binds c's socket to the next --src-ips address, the port left to connect().
static int src_bind(struct bench_conn *c)
{
    struct bench_worker *w = c->w;
    struct sockaddr_in sin = {.sin_family = AF_INET};
    int one = 1;

    sin.sin_addr.s_addr = htonl(0x7f000001u + (w->src_next++ % w->o->src_ips));
    if (setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) != 0 ||
        bind(c->fd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
        return -errno;
    return 0;
}

// errno_name names an errno value for error details.
static const char *errno_name(int e)
{
    const char *n = strerrorname_np(e);

    return n != NULL ? n : "errno";
}

void bench_conn_init(struct bench_conn *c, struct bench_worker *w, uint32_t idx, uint8_t *head,
                     size_t cap)
{
    memset(c, 0, sizeof(*c));
    c->w = w;
    c->idx = idx;
    c->state = BENCH_CONN_CLOSED;
    c->fd = -1;
    c->tq = BENCH_TQ_NONE;
    if (head != NULL)
        bench_http_resp_init(&c->_resp, head, cap);
}

// open_socket makes c's non-blocking socket, binds it if asked and starts connect(). Returns 0
// (connected at once), -EINPROGRESS, or another negative errno.
static int open_socket(struct bench_conn *c)
{
    const struct bench_opts *o = c->w->o;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET};
    int one = 1, rc;

    c->fd = socket(o->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -errno;
    // Handshake flights are small writes waiting on each other: no Nagle delay.
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (o->src_ips > 0 && (rc = src_bind(c)) != 0)
        return rc;
    c->gen++;
    ev.data.u64 = (uint64_t)c->idx | ((uint64_t)c->gen << 32);
    if (epoll_ctl(c->w->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0)
        return -errno;
    rc = connect(c->fd, (const struct sockaddr *)&o->addr, o->addrlen);
    return rc == 0 ? 0 : -errno;
}

static void advance(struct bench_conn *c, uint32_t events);

void bench_conn_open(struct bench_conn *c, uint64_t now)
{
    struct bench_worker *w = c->w;
    int rc;

    CONN_ASSERT(c->state == BENCH_CONN_CLOSED);
    c->_got_ticket = false;
    c->_half_closed = false;
    if (w->o->mode == BENCH_MODE_IDLE) {
        c->_opening = true;
        w->opening++;
    }
    if (w->o->mode != BENCH_MODE_KEEPALIVE && w->o->mode != BENCH_MODE_BULK)
        op_begin(c, now);
    set_state(c, BENCH_CONN_CONNECTING, now);
    rc = open_socket(c);
    if (rc == 0)
        advance(c, EPOLLOUT);
    else if (rc != -EINPROGRESS)
        fail(c, BENCH_ERR_CONNECT, errno_name(-rc));
}

// step_connect finishes connect() and creates the SSL. Returns true when c moved on.
static bool step_connect(struct bench_conn *c, uint32_t events)
{
    struct bench_worker *w = c->w;
    SSL_SESSION *session = NULL;
    socklen_t len = sizeof(int);
    int err = 0;

    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0)
        return false;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err == EINPROGRESS || err == EALREADY)
        return false;
    if (err != 0) {
        fail(c, BENCH_ERR_CONNECT, errno_name(err));
        return false;
    }
    w->connected++;
    if (w->o->mode == BENCH_MODE_RESUME)
        session = bench_sesspool_get(&w->pool);
    c->ssl = bench_tls_ssl_new(w->ctx, w->o, c->fd, c, session);
    if (c->ssl == NULL) {
        fail(c, BENCH_ERR_HANDSHAKE, "SSL_new failed");
        return false;
    }
    set_state(c, BENCH_CONN_HANDSHAKE, bench_sys_now_ns());
    return true;
}

// want_ticket decides whether c, whose handshake just finished, reads the server's TLS 1.3
// ticket before going on. Servers differ (RFC 8446 section 4.6.1 lets them send tickets at any
// time after the handshake): OpenSSL sends them right after the client's Finished; BoringSSL
// holds them until the server's next write, so a client that never sends data gets them only
// when the server closes. Each worker learns which kind it faces: it waits for tickets
// (UNKNOWN); the first one that arrives settles UNPROMPTED; after TICKET_MISSES timeouts in a
// row, resume mode, which needs tickets, half-closes the TCP connection and reads on: the
// server closes in turn, and its close_notify carries the tickets (SHUTDOWN); any other mode,
// or a SHUTDOWN that brings no tickets either, settles NONE and stops waiting.
static bool want_ticket(struct bench_conn *c)
{
    struct bench_worker *w = c->w;

    if (w->o->ticket_wait_ms == 0 || SSL_version(c->ssl) != TLS1_3_VERSION)
        return false;
    c->_ticket_belief = (uint8_t)w->tickets;
    if (c->_got_ticket)
        return true; // already here: read whatever else came with it
    return w->tickets != BENCH_TICKETS_NONE;
}

// ask_for_ticket half-closes c's connection when the worker believes the server sends tickets
// only when it writes. It is a TCP FIN, not close_notify: BoringSSL ignores tickets that arrive
// after its own close_notify was sent.
static void ask_for_ticket(struct bench_conn *c)
{
    if (c->w->tickets != BENCH_TICKETS_SHUTDOWN || c->_got_ticket)
        return;
    if (shutdown(c->fd, SHUT_WR) == 0)
        c->_half_closed = true;
}

// ticket_missed learns from a ticket wait of c that timed out.
static void ticket_missed(struct bench_conn *c)
{
    struct bench_worker *w = c->w;

    if (c->_ticket_belief != w->tickets || ++w->ticket_misses < TICKET_MISSES)
        return; // waits that began under an older belief say nothing about the current one
    w->ticket_misses = 0;
    if (w->tickets == BENCH_TICKETS_UNKNOWN && w->o->mode == BENCH_MODE_RESUME)
        w->tickets = BENCH_TICKETS_SHUTDOWN;
    else if (w->tickets != BENCH_TICKETS_UNPROMPTED)
        w->tickets = BENCH_TICKETS_NONE;
}

// handshake_done moves c on after its handshake completed at now. Returns true when the
// machine should continue.
static bool handshake_done(struct bench_conn *c, uint64_t now)
{
    struct bench_worker *w = c->w;

    bench_worker_handshake(w, c->ssl, now);
    switch (w->o->mode) {
    case BENCH_MODE_REQUEST:
        start_request(c, now, false);
        return true;
    case BENCH_MODE_KEEPALIVE:
    case BENCH_MODE_BULK:
        if (paced_keepalive(c)) {
            set_state(c, BENCH_CONN_IDLE, now); // on the READY queue until the pacer says go
            return true;
        }
        start_request(c, now, true);
        return true;
    default:
        break;
    }
    op_complete(c, now); // handshake, resume, idle: the handshake was the operation
    if (want_ticket(c)) {
        set_state(c, BENCH_CONN_TICKET_WAIT, now);
        ask_for_ticket(c);
        return true;
    }
    if (w->o->mode == BENCH_MODE_IDLE) {
        held(c, now);
        return true;
    }
    release(c, true, now);
    return false;
}

// step_handshake drives SSL_do_handshake. Returns true when c moved on.
static bool step_handshake(struct bench_conn *c)
{
    int r, e;

    ERR_clear_error();
    errno = 0;
    r = SSL_do_handshake(c->ssl);
    if (r == 1)
        return handshake_done(c, bench_sys_now_ns());
    e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return false;
    fail_ssl(c, BENCH_ERR_HANDSHAKE, r, e);
    return false;
}

// ticket_done ends c's TICKET_WAIT: an idle-mode connection is held, any other closed.
static void ticket_done(struct bench_conn *c, uint64_t now)
{
    if (c->w->o->mode == BENCH_MODE_IDLE)
        held(c, now);
    else
        release(c, true, now);
}

// step_ticket reads (and discards) until the server's ticket has been processed. Returns true
// when c moved on.
static bool step_ticket(struct bench_conn *c)
{
    for (;;) {
        int r, e;

        ERR_clear_error();
        r = SSL_read(c->ssl, c->w->scratch, sizeof(c->w->scratch));
        if (r > 0)
            continue; // application data nobody asked for: discarded
        e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ && !c->_got_ticket)
            return false;
        if (e == SSL_ERROR_WANT_READ) {
            // The ticket came and everything readable has been read.
            ticket_done(c, bench_sys_now_ns());
            return c->state != BENCH_CONN_CLOSED;
        }
        // The server closed or failed. The operation has already been counted; only a held
        // idle-mode connection counts as lost.
        if (c->w->o->mode == BENCH_MODE_IDLE)
            fail_ssl(c, BENCH_ERR_EOF, r, e);
        else
            release(c, false, bench_sys_now_ns());
        return false;
    }
}

// step_write writes the rest of the request. Returns true when c moved on.
static bool step_write(struct bench_conn *c)
{
    const struct bench_run *run = c->w->run;

    while (c->_req_off < run->request_len) {
        int r, e;

        ERR_clear_error();
        r = SSL_write(c->ssl, run->request + c->_req_off, (int)(run->request_len - c->_req_off));
        if (r > 0) {
            c->_req_off += (uint32_t)r;
            continue;
        }
        e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return false;
        fail_ssl(c, BENCH_ERR_IO, r, e);
        return false;
    }
    set_state(c, BENCH_CONN_RESPONSE_READ, bench_sys_now_ns());
    return true;
}

// response_done counts the complete response of c at now and starts what follows: close
// (request mode, or the server closes), wait for the pacer, or the next request. Returns true
// when the machine should continue.
static bool response_done(struct bench_conn *c, uint64_t now)
{
    struct bench_worker *w = c->w;
    char status[8];

    if (c->_resp.status >= 200 && c->_resp.status < 300) {
        op_complete(c, now);
    } else {
        c->_in_op = false;
        snprintf(status, sizeof(status), "%d", c->_resp.status);
        bench_worker_error(w, BENCH_ERR_HTTP, status, now);
    }
    if (w->o->mode == BENCH_MODE_REQUEST || c->_resp.close) {
        release(c, true, now);
        return false;
    }
    if (paced_keepalive(c)) {
        set_state(c, BENCH_CONN_IDLE, now);
        return true;
    }
    start_request(c, now, true);
    return true;
}

// feed gives n response bytes to the parser of c. Returns 1 (response complete), 0 (more
// needed) or -1 (c failed and was closed).
static int feed(struct bench_conn *c, size_t n)
{
    struct bench_worker *w = c->w;
    uint64_t before = c->_resp.body_bytes;
    int rc = bench_http_resp_feed(&c->_resp, w->scratch, n);

    if (c->_resp.body_bytes != before && bench_worker_in_window(w, bench_sys_now_ns()))
        atomic_store_explicit(&w->stats.body_bytes,
                              atomic_load_explicit(&w->stats.body_bytes, memory_order_relaxed) +
                                  (c->_resp.body_bytes - before),
                              memory_order_relaxed);
    if (rc >= 0)
        return rc;
    fail(c, BENCH_ERR_PROTO, rc == -E2BIG ? "head too large" : "malformed response");
    return -1;
}

// step_read reads and parses the response. Returns true when c moved on.
static bool step_read(struct bench_conn *c)
{
    for (;;) {
        int r, e, rc;

        ERR_clear_error();
        errno = 0;
        r = SSL_read(c->ssl, c->w->scratch, sizeof(c->w->scratch));
        if (r > 0) {
            rc = feed(c, (size_t)r);
            if (rc < 0)
                return false;
            if (rc == 1)
                return response_done(c, bench_sys_now_ns());
            continue;
        }
        e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return false;
        if ((e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0)) &&
            bench_http_resp_eof(&c->_resp) == 1) {
            c->_resp.close = true; // a body delimited by the close
            ERR_clear_error();
            return response_done(c, bench_sys_now_ns());
        }
        fail_ssl(c, BENCH_ERR_IO, r, e);
        return false;
    }
}

// step_idle watches an established connection with nothing in flight: it reads tickets and
// notices when the server closes. Returns true when c moved on.
static bool step_idle(struct bench_conn *c)
{
    struct bench_worker *w = c->w;

    for (;;) {
        int r, e;

        ERR_clear_error();
        errno = 0;
        r = SSL_read(c->ssl, w->scratch, sizeof(w->scratch));
        if (r > 0) {
            if (w->o->mode == BENCH_MODE_IDLE)
                continue; // nothing is expected; discarded
            fail(c, BENCH_ERR_PROTO, "data while idle");
            return false;
        }
        e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ)
            return false;
        if (w->o->mode == BENCH_MODE_IDLE) {
            fail_ssl(c, BENCH_ERR_EOF, r, e); // a held connection was dropped
        } else {
            // A server may close an idle keep-alive connection (RFC 9112 section 9.6): the
            // slot reconnects; no operation failed.
            release(c, false, bench_sys_now_ns());
        }
        return false;
    }
}

static void advance(struct bench_conn *c, uint32_t events)
{
    bool go = true;

    while (go) {
        switch (c->state) {
        case BENCH_CONN_CONNECTING:
            go = step_connect(c, events);
            break;
        case BENCH_CONN_HANDSHAKE:
            go = step_handshake(c);
            break;
        case BENCH_CONN_TICKET_WAIT:
            go = step_ticket(c);
            break;
        case BENCH_CONN_REQUEST_WRITE:
            go = step_write(c);
            break;
        case BENCH_CONN_RESPONSE_READ:
            go = step_read(c);
            break;
        case BENCH_CONN_IDLE:
            go = step_idle(c);
            break;
        case BENCH_CONN_CLOSED:
        case BENCH_CONN_STATES:
            go = false;
            break;
        }
    }
}

void bench_conn_event(struct bench_conn *c, uint32_t events)
{
    advance(c, events);
}

void bench_conn_timeout(struct bench_conn *c, uint64_t now)
{
    if (c->state == BENCH_CONN_TICKET_WAIT) {
        ticket_missed(c);
        ticket_done(c, now);
        return;
    }
    bench_worker_error(c->w, BENCH_ERR_TIMEOUT, state_names[c->state], now);
    release(c, false, now);
}

void bench_conn_request(struct bench_conn *c, uint64_t now)
{
    CONN_ASSERT(c->state == BENCH_CONN_IDLE);
    start_request(c, now, true);
    advance(c, EPOLLOUT);
}

void bench_conn_close(struct bench_conn *c)
{
    if (c->state != BENCH_CONN_CLOSED)
        release(c, true, bench_sys_now_ns());
}

int bench_conn_new_session(SSL *ssl, SSL_SESSION *session)
{
    struct bench_conn *c = SSL_get_app_data(ssl);
    struct bench_worker *w = c->w;

    c->_got_ticket = true;
    w->stats.tickets++;
    w->ticket_misses = 0;
    if (w->tickets == BENCH_TICKETS_UNKNOWN || w->tickets == BENCH_TICKETS_NONE)
        w->tickets = BENCH_TICKETS_UNPROMPTED;
    if (w->o->mode != BENCH_MODE_RESUME)
        return 0; // not kept: BoringSSL frees it
    bench_sesspool_put(&w->pool, session);
    return 1;
}
