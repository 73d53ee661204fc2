// SPDX-License-Identifier: Apache-2.0
// tls/keyserver/server.c: the signer's I/O thread: one level-triggered epoll loop that accepts
// connections, reads request frames, answers what needs no key at once, hands SIGN jobs to the
// signing pool, holds every reply in a timer heap until --delay-ms after its request arrived,
// and writes the replies.
//
// A request is answered in whatever order its reply becomes due, so one slow signature never
// holds up the others (the protocol matches replies by id). The delay costs no thread: a reply
// that is ready early waits in the heap, and the loop sleeps in epoll_wait until the first one
// is due. A connection stops being read while it has CONN_INFLIGHT_MAX requests unanswered or
// CONN_OUT_MAX bytes of replies unsent (a client that does not read its replies cannot make the
// signer buffer without bound), and is read again once it falls below.
//
// Connection life (struct ks_conn, enum conn_state): OPEN (reading and answering) -> DRAINING
// (the peer has shut down its sending side: no more requests, replies still owed; at most
// DRAIN_TIMEOUT) -> CLOSED (socket closed; the struct lives until every job that names it is
// back, since jobs in the pool or the heap point at it). Only flush_dirty() frees a connection.
// OPEN arms no idle timer on purpose: the proxy keeps its signer connections open and idle
// between handshakes, and a silent peer costs one struct; DRAINING, which owes work to a peer
// that may never read it, is bounded by DRAIN_TIMEOUT.
#include "tls/keyserver/keyserver.h"

#include "core/assert.h"
#include "core/err.h"
#include "core/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TAG "keyserver"
#define CONN_IN_SIZE 16384 // holds at least three largest frames (4 + 4096 bytes)
#define CONN_INFLIGHT_MAX 8192
#define CONN_OUT_MAX (1u << 20)
#define CONN_OUT_KEEP 65536 // an emptied output buffer larger than this is released
#define ACCEPT_BATCH 64
#define ACCEPT_PAUSE_NS 100000000ull // after EMFILE and friends
#define DRAIN_TIMEOUT_NS 10000000000ull
#define EVENTS_MAX 256
#define NS_PER_MS 1000000ull

_Static_assert(CONN_IN_SIZE >= TLS_KEYLESS_LENGTH_LEN + TLS_KEYLESS_FRAME_MAX,
               "the input buffer must hold a largest frame");

enum src_kind {
    SRC_LISTENER,
    SRC_SIGNAL,
    SRC_POOL,
    SRC_CONN,
};

// struct src: what an epoll event's data.ptr points at; the first member of each source.
struct src {
    enum src_kind kind;
    int index; // listener index for SRC_LISTENER
};

enum conn_state {
    CONN_OPEN,
    CONN_DRAINING,
    CONN_CLOSED,
};

// struct ks_conn: one client connection. Owned by the server (the I/O thread); jobs that name it
// keep it alive after it is closed (inflight counts them).
struct ks_conn {
    struct src src;       // first member: epoll's data.ptr
    struct ks_conn *prev; // the server's list of connections not CLOSED
    struct ks_conn *next;
    struct ks_conn *dirty_next; // the server's list of connections to flush/re-check
    bool dirty;
    enum conn_state state;
    int fd; // -1 once CLOSED
    uint64_t id;
    uint32_t events;            // epoll interest currently registered
    unsigned inflight;          // requests read whose reply is not written (or dropped) yet
    uint64_t drain_deadline_ns; // DRAINING only
    uint8_t *out;               // replies not yet written: out[out_off..out_len)
    size_t out_off, out_len, out_cap;
    size_t in_len;
    char peer[64];
    uint8_t in[CONN_IN_SIZE];
};

// struct ks_counters: what the server counts. Part of struct ks_server; the I/O thread alone
// writes and reads it.
struct ks_counters {
    uint64_t conns;           // connections accepted
    uint64_t conns_malformed; // connections closed for a malformed frame
    uint64_t requests;        // well-framed requests read
    uint64_t replies;         // replies queued for sending
    uint64_t status[5];       // replies by status (index: enum tls_keyless_status)
    uint64_t dropped;         // replies not sent: their connection had closed
};

// struct ks_server: everything the I/O thread owns. Owned by main().
struct ks_server {
    const struct ks_options *opt;
    const struct ks_keys *keys;
    int epfd;
    int sigfd;
    struct ks_listener listener[KS_LISTEN_MAX];
    struct src listen_src[KS_LISTEN_MAX];
    int n_listen;
    struct src sig_src, pool_src;
    uint64_t accept_paused_until; // 0: accepting
    struct ks_pool *pool;
    struct ks_conn *live;  // connections not CLOSED
    struct ks_conn *dirty; // connections to flush, re-check or free
    unsigned n_draining;
    struct ks_job **heap; // min-heap of replies waiting for due_ns
    size_t heap_n, heap_cap;
    struct ks_job_list batch; // SIGN jobs read in this iteration, submitted at its end
    uint64_t delay_ns;
    uint64_t deadline_ns; // --max-seconds; 0: none
    uint64_t next_conn_id;
    bool stop;
    struct ks_counters cnt;
};

uint64_t ks_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void log_counters(const struct ks_server *srv, const char *when)
{
    const struct ks_counters *c = &srv->cnt;
    uint64_t errors =
        c->status[1] + c->status[2] + c->status[3] + c->status[4] + c->conns_malformed;
    core_log_note("counters (%s): conns=%llu requests=%llu replies=%llu errors=%llu ok=%llu "
                  "unknown_key=%llu bad_request=%llu unsupported_alg=%llu internal=%llu "
                  "malformed_frames=%llu dropped=%llu",
                  when, (unsigned long long)c->conns, (unsigned long long)c->requests,
                  (unsigned long long)c->replies, (unsigned long long)errors,
                  (unsigned long long)c->status[0], (unsigned long long)c->status[1],
                  (unsigned long long)c->status[2], (unsigned long long)c->status[3],
                  (unsigned long long)c->status[4], (unsigned long long)c->conns_malformed,
                  (unsigned long long)c->dropped);
}

// ---- timer heap (a binary min-heap on due_ns) ----

static void heap_swap(struct ks_server *srv, size_t a, size_t b)
{
    struct ks_job *t = srv->heap[a];
    srv->heap[a] = srv->heap[b];
    srv->heap[b] = t;
}

static int heap_push(struct ks_server *srv, struct ks_job *job)
{
    if (srv->heap_n == srv->heap_cap) {
        size_t cap = srv->heap_cap ? 2 * srv->heap_cap : 1024;
        struct ks_job **h = realloc(srv->heap, cap * sizeof(*h));
        if (!h)
            return -ENOMEM;
        srv->heap = h;
        srv->heap_cap = cap;
    }
    size_t i = srv->heap_n++;
    srv->heap[i] = job;
    while (i > 0 && srv->heap[(i - 1) / 2]->due_ns > srv->heap[i]->due_ns) {
        heap_swap(srv, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    return 0;
}

static struct ks_job *heap_pop(struct ks_server *srv)
{
    if (srv->heap_n == 0)
        return NULL;
    struct ks_job *top = srv->heap[0];
    srv->heap[0] = srv->heap[--srv->heap_n];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < srv->heap_n && srv->heap[l]->due_ns < srv->heap[m]->due_ns)
            m = l;
        if (r < srv->heap_n && srv->heap[r]->due_ns < srv->heap[m]->due_ns)
            m = r;
        if (m == i)
            break;
        heap_swap(srv, i, m);
        i = m;
    }
    return top;
}

// ---- connection state ----

static const char *conn_state_name(enum conn_state s)
{
    switch (s) {
    case CONN_OPEN:
        return "open";
    case CONN_DRAINING:
        return "draining";
    case CONN_CLOSED:
        return "closed";
    }
    return "unknown";
}

// conn_allowed[from][to]: the only moves a connection makes.
static const bool conn_allowed[3][3] = {
    [CONN_OPEN] = {[CONN_DRAINING] = true, [CONN_CLOSED] = true},
    [CONN_DRAINING] = {[CONN_CLOSED] = true},
};

static void mark_dirty(struct ks_server *srv, struct ks_conn *c)
{
    if (c->dirty)
        return;
    c->dirty = true;
    c->dirty_next = srv->dirty;
    srv->dirty = c;
}

static void conn_set_state(struct ks_server *srv, struct ks_conn *c, enum conn_state to,
                           const char *why)
{
    CORE_ASSERT(conn_allowed[c->state][to]);
    CORE_DEBUG(TAG, "conn %llu %s: %s -> %s (%s)", (unsigned long long)c->id, c->peer,
               conn_state_name(c->state), conn_state_name(to), why);
    if (c->state == CONN_DRAINING)
        srv->n_draining--;
    if (to == CONN_DRAINING) {
        srv->n_draining++;
        c->drain_deadline_ns = ks_now_ns() + DRAIN_TIMEOUT_NS;
    }
    c->state = to;
}

// conn_close closes c's socket and drops its unsent replies; the struct is freed by
// flush_dirty() once no job names it.
static void conn_close(struct ks_server *srv, struct ks_conn *c, const char *why)
{
    if (c->state == CONN_CLOSED)
        return;
    conn_set_state(srv, c, CONN_CLOSED, why);
    close(c->fd); // also removes it from the epoll set
    c->fd = -1;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->live = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    free(c->out);
    c->out = NULL;
    c->out_off = c->out_len = c->out_cap = 0;
    mark_dirty(srv, c);
}

// update_interest registers what c waits for: input while OPEN and below its limits, output
// while replies are unsent.
static void update_interest(struct ks_server *srv, struct ks_conn *c)
{
    size_t pending = c->out_len - c->out_off;
    uint32_t want = 0;
    if (c->state == CONN_OPEN && c->inflight < CONN_INFLIGHT_MAX && pending < CONN_OUT_MAX)
        want |= EPOLLIN;
    if (pending > 0)
        want |= EPOLLOUT;
    if (want == c->events)
        return;
    struct epoll_event ev = {.events = want, .data.ptr = &c->src};
    if (epoll_ctl(srv->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
        conn_close(srv, c, "epoll_ctl failed");
        return;
    }
    c->events = want;
}

// ---- replies ----

// out_reserve makes room for one largest reply frame at the end of c's output buffer.
static int out_reserve(struct ks_conn *c)
{
    if (c->out_off > 0 && c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_cap - c->out_len >= TLS_KEYLESS_REPLY_FRAME_MAX)
        return 0;
    if (c->out_off > 0) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
        if (c->out_cap - c->out_len >= TLS_KEYLESS_REPLY_FRAME_MAX)
            return 0;
    }
    size_t cap = c->out_cap ? 2 * c->out_cap : 4 * TLS_KEYLESS_REPLY_FRAME_MAX;
    uint8_t *out = realloc(c->out, cap);
    if (!out)
        return -ENOMEM;
    c->out = out;
    c->out_cap = cap;
    return 0;
}

static void log_reply(const struct ks_conn *c, const struct ks_job *job)
{
    char hex[2 * TLS_KEYLESS_KEY_ID_LEN + 1];
    tls_keyless_key_id_hex(job->req.key_id, hex);
    hex[16] = '\0'; // a prefix names the key well enough in a debug line
    CORE_DEBUG(TAG, "conn %llu id %u op %u sigalg 0x%04x key %s -> %s, %u-byte signature, %.3f ms",
               (unsigned long long)c->id, job->req.id, job->req.op, job->req.sigalg, hex,
               tls_keyless_status_name(job->rep.status), job->rep.sig_len,
               (double)(ks_now_ns() - job->arrived_ns) / 1e6);
}

// job_reply writes job's reply into its connection's output buffer (or drops it when the
// connection is closed) and frees job.
static void job_reply(struct ks_server *srv, struct ks_job *job)
{
    struct ks_conn *c = job->conn;
    c->inflight--;
    mark_dirty(srv, c);
    if (c->state == CONN_CLOSED) {
        srv->cnt.dropped++;
        free(job);
        return;
    }
    if (out_reserve(c) < 0) {
        conn_close(srv, c, "out of memory");
        srv->cnt.dropped++;
        free(job);
        return;
    }
    int n = tls_keyless_reply_encode(&job->rep, c->out + c->out_len, c->out_cap - c->out_len);
    if (n > 0) {
        c->out_len += (size_t)n;
        srv->cnt.replies++;
        srv->cnt.status[job->rep.status <= TLS_KEYLESS_INTERNAL ? job->rep.status
                                                                : TLS_KEYLESS_INTERNAL]++;
        log_reply(c, job);
    } else {
        conn_close(srv, c, "reply encoding failed"); // our bug: a reply we built is invalid
    }
    free(job);
}

// job_complete sends job's reply now, or parks it in the heap until it is due.
static void job_complete(struct ks_server *srv, struct ks_job *job)
{
    job->due_ns = job->arrived_ns + srv->delay_ns;
    if (srv->delay_ns > 0 && job->due_ns > ks_now_ns() && heap_push(srv, job) == 0)
        return;
    job_reply(srv, job); // due, or no memory to wait: answering early beats not answering
}

static void fire_timers(struct ks_server *srv)
{
    uint64_t now = ks_now_ns();
    while (srv->heap_n > 0 && srv->heap[0]->due_ns <= now)
        job_reply(srv, heap_pop(srv));
}

static void take_done(struct ks_server *srv)
{
    struct ks_job_list done;
    ks_pool_take_done(srv->pool, &done);
    struct ks_job *job;
    while ((job = ks_job_list_pop(&done)) != NULL)
        job_complete(srv, job);
}

// ---- requests ----

// dispatch turns one decoded request of c into a job. Returns 0, or -ENOMEM.
static int dispatch(struct ks_server *srv, struct ks_conn *c, const struct tls_keyless_request *r,
                    uint64_t arrived_ns)
{
    struct ks_job *job = calloc(1, sizeof(*job));
    if (!job)
        return -ENOMEM;
    job->conn = c;
    job->arrived_ns = arrived_ns;
    job->req = *r;
    job->rep.id = r->id;
    c->inflight++;
    srv->cnt.requests++;
    uint8_t status = ks_sign_check(srv->keys, r, &job->key);
    if (status == TLS_KEYLESS_OK && job->key) {
        ks_job_list_push(&srv->batch, job);
        return 0;
    }
    job->rep.status = status;
    job->rep.sig_len = 0;
    job_complete(srv, job);
    return 0;
}

// parse decodes and dispatches every whole frame in c's input buffer. A malformed frame closes
// c: after it the stream cannot be trusted (keyless_proto.h).
static void parse(struct ks_server *srv, struct ks_conn *c, uint64_t arrived_ns)
{
    size_t off = 0;
    while (c->state == CONN_OPEN) {
        struct tls_keyless_request req;
        int n = tls_keyless_request_decode(c->in + off, c->in_len - off, &req);
        if (n == 0)
            break;
        if (n < 0) {
            srv->cnt.conns_malformed++;
            core_log_warn("conn %llu %s: malformed frame, connection closed",
                          (unsigned long long)c->id, c->peer);
            conn_close(srv, c, "malformed frame");
            return;
        }
        off += (size_t)n;
        if (dispatch(srv, c, &req, arrived_ns) < 0) {
            conn_close(srv, c, "out of memory");
            return;
        }
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
}

static void on_eof(struct ks_server *srv, struct ks_conn *c)
{
    if (c->in_len > 0)
        CORE_DEBUG(TAG, "conn %llu: %zu bytes of an unfinished frame at EOF",
                   (unsigned long long)c->id, c->in_len);
    if (c->inflight == 0 && c->out_off == c->out_len)
        conn_close(srv, c, "peer closed");
    else
        conn_set_state(srv, c, CONN_DRAINING, "peer shut down its side");
    mark_dirty(srv, c);
}

static void on_readable(struct ks_server *srv, struct ks_conn *c)
{
    ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
    if (n > 0) {
        c->in_len += (size_t)n;
        parse(srv, c, ks_now_ns());
        mark_dirty(srv, c);
    } else if (n == 0) {
        on_eof(srv, c);
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        CORE_DEBUG(TAG, "conn %llu: recv: %s", (unsigned long long)c->id, strerror(errno));
        conn_close(srv, c, "read error");
    }
}

// ---- writing and freeing ----

static void conn_free(struct ks_conn *c)
{
    free(c->out);
    free(c);
}

// flush writes what c's output buffer holds, then re-checks c: closes a DRAINING connection
// that owes nothing more and updates its epoll interest.
static void flush(struct ks_server *srv, struct ks_conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            CORE_DEBUG(TAG, "conn %llu: send: %s", (unsigned long long)c->id, strerror(errno));
            conn_close(srv, c, "write error");
            return;
        }
    }
    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
        if (c->out_cap > CONN_OUT_KEEP) {
            free(c->out);
            c->out = NULL;
            c->out_cap = 0;
        }
    }
    if (c->state == CONN_DRAINING && c->inflight == 0 && c->out_len == 0) {
        conn_close(srv, c, "all replies sent after the peer's shutdown");
        return;
    }
    update_interest(srv, c);
}

// flush_dirty flushes every dirty connection and frees the closed ones that no job names.
static void flush_dirty(struct ks_server *srv)
{
    struct ks_conn *c;
    while ((c = srv->dirty) != NULL) {
        srv->dirty = c->dirty_next;
        c->dirty = false;
        if (c->state != CONN_CLOSED)
            flush(srv, c); // may close c, which marks it dirty again
        else if (c->inflight == 0)
            conn_free(c);
    }
}

// ---- accepting ----

static void peer_name(const struct sockaddr_storage *ss, char *out, size_t len)
{
    char addr[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, addr, sizeof(addr));
        snprintf(out, len, "%s:%u", addr, ntohs(in->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof(addr));
        snprintf(out, len, "[%s]:%u", addr, ntohs(in6->sin6_port));
    } else {
        snprintf(out, len, "unix");
    }
}

// conn_new takes fd (on success only) as a new OPEN connection. Returns 0 or a negative errno.
static int conn_new(struct ks_server *srv, int fd, const struct sockaddr_storage *ss)
{
    struct ks_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->src.kind = SRC_CONN;
    c->fd = fd;
    c->id = ++srv->next_conn_id;
    c->events = EPOLLIN;
    peer_name(ss, c->peer, sizeof(c->peer));
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &c->src};
    if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int e = -errno;
        free(c);
        return e;
    }
    if (ss->ss_family != AF_UNIX) {
        int one = 1; // replies are small and latency is the point
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    c->next = srv->live;
    if (srv->live)
        srv->live->prev = c;
    srv->live = c;
    srv->cnt.conns++;
    CORE_DEBUG(TAG, "conn %llu open %s", (unsigned long long)c->id, c->peer);
    return 0;
}

static void set_accepting(struct ks_server *srv, bool on)
{
    for (int i = 0; i < srv->n_listen; i++) {
        struct epoll_event ev = {.events = on ? EPOLLIN : 0, .data.ptr = &srv->listen_src[i]};
        epoll_ctl(srv->epfd, EPOLL_CTL_MOD, srv->listener[i].fd, &ev);
    }
    srv->accept_paused_until = on ? 0 : ks_now_ns() + ACCEPT_PAUSE_NS;
}

static void on_accept(struct ks_server *srv, struct ks_listener *l)
{
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage ss = {0};
        socklen_t sl = sizeof(ss);
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                core_log_warn("accept on %s: %s; pausing accepts", l->name, strerror(errno));
                set_accepting(srv, false);
            } else if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) {
                continue;
            }
            return; // EAGAIN: level-triggered epoll reports the rest
        }
        if (l->is_unix)
            ss.ss_family = AF_UNIX;
        if (conn_new(srv, fd, &ss) < 0)
            close(fd);
    }
}

// ---- the loop ----

static void on_signal(struct ks_server *srv)
{
    struct signalfd_siginfo si;
    while (read(srv->sigfd, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGUSR1) {
            log_counters(srv, "SIGUSR1");
            continue;
        }
        core_log_note("signal %s: stopping", strsignal((int)si.ssi_signo));
        srv->stop = true;
    }
}

static void on_conn_event(struct ks_server *srv, struct ks_conn *c, uint32_t events)
{
    switch (c->state) {
    case CONN_OPEN:
        if (events & EPOLLIN) {
            on_readable(srv, c);
            return;
        }
        break;
    case CONN_DRAINING:
        break;
    case CONN_CLOSED:
        return; // an event collected before the close in this same batch
    }
    if (events & (EPOLLERR | EPOLLHUP))
        conn_close(srv, c, (events & EPOLLERR) ? "socket error" : "hang-up");
    else if (events & EPOLLOUT)
        mark_dirty(srv, c);
}

static void on_event(struct ks_server *srv, struct src *s, uint32_t events)
{
    switch (s->kind) {
    case SRC_LISTENER:
        on_accept(srv, &srv->listener[s->index]);
        break;
    case SRC_SIGNAL:
        on_signal(srv);
        break;
    case SRC_POOL:
        take_done(srv);
        break;
    case SRC_CONN:
        on_conn_event(srv, (struct ks_conn *)s, events);
        break;
    }
}

// check_deadlines ends draining that took too long, resumes accepting, and stops at
// --max-seconds.
static void check_deadlines(struct ks_server *srv)
{
    uint64_t now = ks_now_ns();
    if (srv->accept_paused_until && now >= srv->accept_paused_until)
        set_accepting(srv, true);
    if (srv->deadline_ns && now >= srv->deadline_ns) {
        core_log_note("exit max-seconds");
        srv->stop = true;
    }
    if (srv->n_draining == 0)
        return;
    for (struct ks_conn *c = srv->live, *next; c; c = next) {
        next = c->next;
        if (c->state == CONN_DRAINING && now >= c->drain_deadline_ns)
            conn_close(srv, c, "drain timeout");
    }
}

// timeout_ms returns how long epoll_wait may sleep: until the first reply is due, a deadline,
// or for ever (-1). Rounded up, so a reply is never sent before it is due.
static int timeout_ms(const struct ks_server *srv)
{
    uint64_t next = UINT64_MAX, now = ks_now_ns();
    if (srv->heap_n > 0)
        next = srv->heap[0]->due_ns;
    if (srv->deadline_ns && srv->deadline_ns < next)
        next = srv->deadline_ns;
    if (srv->accept_paused_until && srv->accept_paused_until < next)
        next = srv->accept_paused_until;
    if (srv->n_draining > 0 && now + 1000 * NS_PER_MS < next)
        next = now + 1000 * NS_PER_MS;
    if (next == UINT64_MAX)
        return -1;
    if (next <= now)
        return 0;
    uint64_t ms = (next - now + NS_PER_MS - 1) / NS_PER_MS;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

int ks_server_run(struct ks_server *srv)
{
    struct epoll_event ev[EVENTS_MAX];
    while (!srv->stop) {
        int n = epoll_wait(srv->epfd, ev, EVENTS_MAX, timeout_ms(srv));
        if (n < 0 && errno != EINTR) {
            int e = -errno;
            core_log_error("epoll_wait: %s", strerror(errno));
            return e;
        }
        for (int i = 0; i < n; i++)
            on_event(srv, ev[i].data.ptr, ev[i].events);
        ks_pool_submit(srv->pool, &srv->batch);
        fire_timers(srv);
        check_deadlines(srv);
        flush_dirty(srv);
    }
    log_counters(srv, "exit");
    return 0;
}

// ---- set-up and teardown ----

static int watch(struct ks_server *srv, int fd, struct src *s)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
    return epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

// open_fds creates the epoll set, the signalfd and the listeners. Returns 0 or a negative errno
// (reason in err).
static int open_fds(struct ks_server *srv, struct core_err *err)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    srv->epfd = epoll_create1(EPOLL_CLOEXEC);
    srv->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (srv->epfd < 0 || srv->sigfd < 0) {
        int e = errno;
        core_err_add(err, NULL, 0, "epoll/signalfd: %s", strerror(e));
        return -e;
    }
    srv->sig_src.kind = SRC_SIGNAL;
    int rc = watch(srv, srv->sigfd, &srv->sig_src);
    for (int i = 0; rc == 0 && i < srv->opt->n_listen; i++) {
        rc = ks_listener_open(&srv->listener[i], srv->opt->listen[i], err);
        if (rc < 0)
            break;
        srv->n_listen++;
        srv->listen_src[i] = (struct src){.kind = SRC_LISTENER, .index = i};
        rc = watch(srv, srv->listener[i].fd, &srv->listen_src[i]);
    }
    if (rc < 0 && !core_err_failed(err))
        core_err_add(err, NULL, 0, "epoll_ctl: %s", strerror(-rc));
    return rc;
}

struct ks_server *ks_server_new(const struct ks_options *opt, const struct ks_keys *keys,
                                struct core_err *err)
{
    struct ks_server *srv = calloc(1, sizeof(*srv));
    if (!srv) {
        core_err_add(err, NULL, 0, "out of memory");
        return NULL;
    }
    srv->opt = opt;
    srv->keys = keys;
    srv->epfd = srv->sigfd = -1;
    srv->delay_ns = (uint64_t)opt->delay_ms * NS_PER_MS;
    if (opt->max_seconds > 0)
        srv->deadline_ns = ks_now_ns() + (uint64_t)opt->max_seconds * 1000 * NS_PER_MS;
    ks_job_list_init(&srv->batch);
    if (open_fds(srv, err) < 0)
        goto fail;
    srv->pool = ks_pool_new(opt->threads);
    srv->pool_src.kind = SRC_POOL;
    if (!srv->pool || watch(srv, ks_pool_fd(srv->pool), &srv->pool_src) < 0) {
        core_err_add(err, NULL, 0, "cannot start %d signing threads: %s", opt->threads,
                     strerror(errno));
        goto fail;
    }
    for (int i = 0; i < srv->n_listen; i++)
        printf("LISTEN %s\n", srv->listener[i].name);
    fflush(stdout);
    return srv;
fail:
    ks_server_free(srv);
    return NULL;
}

void ks_server_free(struct ks_server *srv)
{
    if (!srv)
        return;
    struct ks_job_list left;
    ks_pool_free(srv->pool, &left); // joins the signing threads: every job is ours again
    struct ks_job *job;
    while ((job = ks_job_list_pop(&left)) != NULL)
        ks_job_list_push(&srv->batch, job);
    while (srv->heap_n > 0)
        ks_job_list_push(&srv->batch, heap_pop(srv));
    while (srv->live)
        conn_close(srv, srv->live, "shutdown");
    while ((job = ks_job_list_pop(&srv->batch)) != NULL)
        job_reply(srv, job); // every connection is closed: this drops and frees
    flush_dirty(srv);
    free(srv->heap);
    for (int i = 0; i < srv->n_listen; i++)
        ks_listener_close(&srv->listener[i]);
    if (srv->sigfd >= 0)
        close(srv->sigfd);
    if (srv->epfd >= 0)
        close(srv->epfd);
    free(srv);
}
