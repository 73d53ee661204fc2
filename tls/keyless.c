// SPDX-License-Identifier: Apache-2.0
// tls/keyless.c: the keyless signer client on the handshake pool threads (see tls/keyless.h;
// the wire format is in tls/keyless_proto.h).
#include "tls/keyless.h"
#include "core/err.h"
#include "core/log.h"
#include "core/stats.h"
#include "core/worker.h"
#include "tls/keyless_inflight.h"
#include "tls/keyless_proto.h"
#include "tls/keyop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000

enum kl_state {
    KL_DOWN,       // no connection; the next request connects
    KL_CONNECTING, // non-blocking connect in progress
    KL_UP,         // connected
    KL_BACKOFF,    // the last attempt failed: requests fail until the retry timer fires
};

// struct kl_conn: one pool thread's connection to one signer address. Owned by that thread.
struct kl_conn {
    struct core_event ev;
    struct core_worker *t;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char name[160];
    int fd;
    enum kl_state state;
    uint8_t *wbuf;
    size_t wcap, woff, wlen;
    uint8_t rbuf[2 * TLS_KEYLESS_FRAME_MAX + 16];
    size_t rlen;
    struct tls_keyless_inflight fl;
    uint32_t next_id;
    uint64_t backoff_ms;
    struct core_timer retry;
    struct core_msg free_msg;
    struct kl_conn *next;
};

static __thread struct kl_conn *conns; // this pool thread's connections
static _Atomic int stat_reconnects = -1; // found by the first pool thread that connects

static struct kl_conn *find_conn(const struct tls_keyref *k)
{
    for (struct kl_conn *kc = conns; kc; kc = kc->next)
        if (kc->addrlen == k->addrlen && memcmp(&kc->addr, &k->addr, k->addrlen) == 0)
            return kc;
    return NULL;
}

static void on_retry(struct core_timer *t, void *arg)
{
    struct kl_conn *kc = arg;
    if (kc->state == KL_BACKOFF)
        kc->state = KL_DOWN;
}

static void on_conn_event(struct core_event *ev, uint32_t events);

static struct kl_conn *conn_new(const struct tls_keyref *k)
{
    struct kl_conn *kc = calloc(1, sizeof(*kc));
    if (!kc)
        return NULL;
    kc->t = core_worker_self();
    memcpy(&kc->addr, &k->addr, k->addrlen);
    kc->addrlen = k->addrlen;
    snprintf(kc->name, sizeof(kc->name), "%s", k->name);
    kc->fd = -1;
    kc->ev.fn = on_conn_event;
    core_timer_init(&kc->retry, on_retry, kc);
    kc->next = conns;
    conns = kc;
    if (atomic_load_explicit(&stat_reconnects, memory_order_relaxed) < 0)
        atomic_store_explicit(&stat_reconnects,
                              core_stat_find("proxy.process.tlsedge.keyless_connects"),
                              memory_order_relaxed);
    return kc;
}

// Finishes op with status on this pool thread; op must already be out of the table.
static void op_done(struct kl_conn *kc, struct tls_keyop *op, int status)
{
    core_timer_disarm(core_worker_wheel(kc->t), &op->deadline);
    tls_keyop_finish(op, status);
}

// Closes kc's socket and drops what was buffered on it; the requests stay in the table.
static void conn_close(struct kl_conn *kc)
{
    if (kc->fd >= 0) {
        core_worker_del(kc->t, kc->fd);
        close(kc->fd);
        kc->fd = -1;
    }
    kc->woff = kc->wlen = 0;
    kc->rlen = 0;
    kc->state = KL_DOWN;
}

// Fails every request on kc, closes it and backs off before the next attempt.
static void conn_fail(struct kl_conn *kc, int err)
{
    if (kc->state != KL_BACKOFF)
        core_log_warn("keyless signer %s: %s; %zu requests failed", kc->name, strerror(-err),
                      kc->fl.count);
    conn_close(kc);
    struct tls_keyop *op;
    while ((op = tls_keyless_inflight_pop(&kc->fl)))
        op_done(kc, op, err);
    kc->state = KL_BACKOFF;
    kc->backoff_ms = kc->backoff_ms ? kc->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (kc->backoff_ms > BACKOFF_MAX_MS)
        kc->backoff_ms = BACKOFF_MAX_MS;
    core_timer_arm(core_worker_wheel(kc->t), &kc->retry, kc->backoff_ms);
}

static int conn_open(struct kl_conn *kc)
{
    int fd = socket(kc->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&kc->addr, kc->addrlen) < 0 && errno != EINPROGRESS &&
        errno != EAGAIN) {
        int e = -errno;
        close(fd);
        return e;
    }
    kc->fd = fd;
    kc->state = KL_CONNECTING;
    int rc = core_worker_add(kc->t, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP, &kc->ev);
    if (rc < 0) {
        close(fd);
        kc->fd = -1;
        kc->state = KL_DOWN;
        return rc;
    }
    core_stat_inc(atomic_load_explicit(&stat_reconnects, memory_order_relaxed));
    return 0;
}

// Writes what is queued. Returns 0 or a negative errno (the connection must fail).
static int conn_flush(struct kl_conn *kc)
{
    while (kc->woff < kc->wlen) {
        ssize_t n = send(kc->fd, kc->wbuf + kc->woff, kc->wlen - kc->woff, MSG_NOSIGNAL);
        if (n < 0)
            return (errno == EAGAIN || errno == EINTR) ? 0 : -errno;
        kc->woff += (size_t)n;
    }
    kc->woff = kc->wlen = 0;
    return 0;
}

// Appends op's request frame (under op->id) to kc's write buffer. Returns 0 or a negative errno.
static int encode_request(struct kl_conn *kc, const struct tls_keyop *op)
{
    struct tls_keyless_request req = {.op = TLS_KEYLESS_OP_SIGN, .sigalg = op->sigalg};
    req.id = op->id;
    memcpy(req.key_id, op->key->key_id, sizeof(req.key_id));
    memcpy(req.digest, op->digest, op->digest_len);
    req.digest_len = (uint16_t)op->digest_len;
    if (kc->wcap - kc->wlen < TLS_KEYLESS_FRAME_MAX) {
        size_t ncap = kc->wcap ? kc->wcap * 2 : 4 * TLS_KEYLESS_FRAME_MAX;
        uint8_t *nb = realloc(kc->wbuf, ncap);
        if (!nb)
            return -ENOMEM;
        kc->wbuf = nb;
        kc->wcap = ncap;
    }
    int n = tls_keyless_request_encode(&req, kc->wbuf + kc->wlen, kc->wcap - kc->wlen);
    if (n < 0)
        return n;
    kc->wlen += (size_t)n;
    return 0;
}

// The connection broke after it was up (EOF, a reset, a failed write): the signer may have been
// restarted, and a request written before tlsedge saw the old connection close was never read.
// The requests without a reply are sent once more, in their order and under their ids, on a new
// connection; those already sent twice fail. With nothing left to send, the next request
// connects (no back-off: only a failed connect says that the signer is down).
static void conn_lost(struct kl_conn *kc, int err)
{
    conn_close(kc);
    size_t failed = 0;
    for (struct tls_keyop *op = tls_keyless_inflight_retry_split(&kc->fl), *next; op; op = next) {
        next = op->next;
        op->next = NULL;
        op_done(kc, op, err);
        failed++;
    }
    core_log_warn("keyless signer %s: connection lost (%s); %zu requests resent, %zu failed",
                  kc->name, strerror(-err), kc->fl.count, failed);
    if (kc->fl.count == 0)
        return;
    int rc = conn_open(kc);
    if (rc < 0) {
        conn_fail(kc, rc);
        return;
    }
    for (struct tls_keyop *op = kc->fl.oldest; op; op = op->newer) {
        if ((rc = encode_request(kc, op)) < 0) {
            conn_fail(kc, rc);
            return;
        }
    }
}

static void handle_reply(struct kl_conn *kc, const struct tls_keyless_reply *r)
{
    struct tls_keyop *op = tls_keyless_inflight_take(&kc->fl, r->id);
    if (!op)
        return; // timed out earlier: the late answer is dropped
    kc->backoff_ms = 0;
    if (r->status != TLS_KEYLESS_OK || r->sig_len > sizeof(op->sig)) {
        core_log_warn("keyless signer %s refused a signature (status %u)", kc->name, r->status);
        op_done(kc, op, -EPROTO);
        return;
    }
    memcpy(op->sig, r->sig, r->sig_len);
    op->sig_len = r->sig_len;
    op_done(kc, op, 0);
}

// Reads and handles every complete reply. Returns 0 or a negative errno: -EPROTO for a broken
// frame, -ECONNRESET at EOF.
static int conn_read(struct kl_conn *kc)
{
    for (;;) {
        ssize_t n = read(kc->fd, kc->rbuf + kc->rlen, sizeof(kc->rbuf) - kc->rlen);
        if (n == 0)
            return -ECONNRESET;
        if (n < 0)
            return (errno == EAGAIN || errno == EINTR) ? 0 : -errno;
        kc->rlen += (size_t)n;
        size_t off = 0;
        for (;;) {
            struct tls_keyless_reply r;
            int used = tls_keyless_reply_decode(kc->rbuf + off, kc->rlen - off, &r);
            if (used < 0)
                return -EPROTO;
            if (used == 0)
                break;
            handle_reply(kc, &r);
            off += (size_t)used;
        }
        memmove(kc->rbuf, kc->rbuf + off, kc->rlen - off);
        kc->rlen -= off;
    }
}

// An I/O error on an established connection: a broken frame fails everything (the signer cannot
// be trusted), anything else is a lost connection whose requests are retried.
static void conn_error(struct kl_conn *kc, int err)
{
    if (err == -EPROTO || err == -ENOMEM)
        conn_fail(kc, err);
    else
        conn_lost(kc, err);
}

static void on_conn_event(struct core_event *ev, uint32_t events)
{
    struct kl_conn *kc = caa_container_of(ev, struct kl_conn, ev);
    if (kc->state == KL_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(kc->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            conn_fail(kc, -err);
            return;
        }
        if (!(events & EPOLLOUT))
            return;
        kc->state = KL_UP;
    }
    if (kc->state != KL_UP)
        return;
    int rc = conn_flush(kc);
    if (rc == 0)
        rc = conn_read(kc);
    if (rc < 0)
        conn_error(kc, rc);
}

static void on_deadline(struct core_timer *t, void *arg)
{
    struct tls_keyop *op = arg;
    struct kl_conn *kc = find_conn(op->key);
    if (kc && tls_keyless_inflight_take(&kc->fl, op->id) == op)
        tls_keyop_finish(op, -ETIMEDOUT);
}

static int queue_request(struct kl_conn *kc, struct tls_keyop *op)
{
    if (++kc->next_id == 0)
        kc->next_id = 1;
    op->id = kc->next_id;
    op->retried = false;
    int rc = encode_request(kc, op);
    if (rc < 0)
        return rc;
    tls_keyless_inflight_put(&kc->fl, op);
    core_timer_init(&op->deadline, on_deadline, op);
    core_timer_arm(core_worker_wheel(kc->t), &op->deadline,
                   op->key->timeout_ms ? op->key->timeout_ms : 5000);
    return 0;
}

void tls_keyless_start(struct tls_keyop *op)
{
    struct kl_conn *kc = find_conn(op->key);
    if (!kc && !(kc = conn_new(op->key))) {
        tls_keyop_finish(op, -ENOMEM);
        return;
    }
    if (kc->state == KL_BACKOFF) {
        tls_keyop_finish(op, -ECONNREFUSED); // fail fast while the signer is down
        return;
    }
    if (kc->state == KL_DOWN) {
        int rc = conn_open(kc);
        if (rc < 0) {
            conn_fail(kc, rc);
            tls_keyop_finish(op, rc);
            return;
        }
    }
    int rc = queue_request(kc, op);
    if (rc < 0) {
        tls_keyop_finish(op, rc);
        return;
    }
    if (kc->state == KL_UP && (rc = conn_flush(kc)) < 0)
        conn_error(kc, rc);
}

static void conn_free(struct core_msg *m)
{
    struct kl_conn *kc = caa_container_of(m, struct kl_conn, free_msg);
    free(kc->wbuf);
    free(kc);
}

// ---- accept mode: one blocking request at a time ----

#define SYNC_CONNS 8

// struct kl_sync: a pool thread's blocking connection to one signer. Owned by that thread.
struct kl_sync {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int fd; // -1: not connected
    uint32_t next_id;
};

static __thread struct kl_sync syncs[SYNC_CONNS];
static __thread int n_syncs;

static struct kl_sync *sync_find(const struct tls_keyref *k)
{
    for (int i = 0; i < n_syncs; i++)
        if (syncs[i].addrlen == k->addrlen && memcmp(&syncs[i].addr, &k->addr, k->addrlen) == 0)
            return &syncs[i];
    struct kl_sync *s = &syncs[n_syncs < SYNC_CONNS ? n_syncs++ : 0];
    if (s->addrlen && s->fd >= 0)
        close(s->fd);
    memset(s, 0, sizeof(*s));
    memcpy(&s->addr, &k->addr, k->addrlen);
    s->addrlen = k->addrlen;
    s->fd = -1;
    return s;
}

// Connects s within timeout_ms and makes its reads and writes time out likewise.
static int sync_connect(struct kl_sync *s, uint64_t timeout_ms)
{
    int fd = socket(s->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct timeval tv = {.tv_sec = (time_t)(timeout_ms / 1000),
                         .tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
        connect(fd, (struct sockaddr *)&s->addr, s->addrlen) < 0) {
        int e = errno == EINPROGRESS || errno == EAGAIN ? ETIMEDOUT : errno;
        close(fd);
        return -e;
    }
    s->fd = fd;
    return 0;
}

// Sends op's request on s and reads until its reply. Returns 0 or a negative errno.
static int sync_exchange(struct kl_sync *s, struct tls_keyop *op)
{
    struct tls_keyless_request req = {.op = TLS_KEYLESS_OP_SIGN, .sigalg = op->sigalg};
    uint8_t buf[2 * TLS_KEYLESS_FRAME_MAX];
    req.id = ++s->next_id;
    memcpy(req.key_id, op->key->key_id, sizeof(req.key_id));
    memcpy(req.digest, op->digest, op->digest_len);
    req.digest_len = (uint16_t)op->digest_len;
    int n = tls_keyless_request_encode(&req, buf, sizeof(buf));
    if (n < 0)
        return n;
    if (send(s->fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
        return errno == EAGAIN ? -ETIMEDOUT : -ECONNRESET;
    size_t have = 0;
    for (;;) {
        ssize_t got = read(s->fd, buf + have, sizeof(buf) - have);
        if (got <= 0)
            return got == 0 ? -ECONNRESET : errno == EAGAIN ? -ETIMEDOUT : -errno;
        have += (size_t)got;
        struct tls_keyless_reply r;
        int used = tls_keyless_reply_decode(buf, have, &r);
        if (used < 0)
            return -EPROTO;
        if (used == 0)
            continue;
        if (r.id != req.id)
            return -EPROTO; // one request at a time: nothing else may answer
        if (r.status != TLS_KEYLESS_OK || r.sig_len > sizeof(op->sig))
            return -EPROTO;
        memcpy(op->sig, r.sig, r.sig_len);
        op->sig_len = r.sig_len;
        return 0;
    }
}

// Closes s's connection: after a failed exchange, a late answer must not be read as the next
// request's.
static void sync_close(struct kl_sync *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

int tls_keyless_sign_sync(struct tls_keyop *op)
{
    uint64_t to = op->key->timeout_ms ? op->key->timeout_ms : 5000;
    uint64_t deadline = core_now_ms() + to;
    struct kl_sync *s = sync_find(op->key);
    rcu_thread_offline(); // connect, send and the signer's answer all block
    bool reused = s->fd >= 0;
    int rc = reused ? 0 : sync_connect(s, to);
    if (rc == 0)
        rc = sync_exchange(s, op);
    // A kept connection whose signer went away (restarted) breaks at the first request after it:
    // that request is sent once more on a new connection, within what is left of its time.
    if (reused && (rc == -ECONNRESET || rc == -EPIPE)) {
        sync_close(s);
        uint64_t now = core_now_ms();
        rc = now < deadline ? sync_connect(s, deadline - now) : -ETIMEDOUT;
        if (rc == 0)
            rc = sync_exchange(s, op);
    }
    rcu_thread_online();
    if (rc < 0) {
        sync_close(s);
        core_log_warn("keyless signer %s: %s", op->key->name, strerror(-rc));
    }
    return rc;
}

void tls_keyless_thread_fini(void)
{
    for (int i = 0; i < n_syncs; i++)
        if (syncs[i].fd >= 0)
            close(syncs[i].fd);
    n_syncs = 0;
    while (conns) {
        struct kl_conn *kc = conns;
        conns = kc->next;
        if (kc->fd >= 0 || kc->fl.count)
            conn_fail(kc, -ESHUTDOWN);
        core_timer_disarm(core_worker_wheel(kc->t), &kc->retry);
        // An event for this connection may still be queued in this loop iteration.
        kc->state = KL_BACKOFF;
        kc->free_msg.fn = conn_free;
        core_worker_defer(kc->t, &kc->free_msg);
    }
}

static int parse_unix(struct tls_keyref *key, const char *path)
{
    struct sockaddr_un *un = (struct sockaddr_un *)&key->addr;
    if (!path[0] || strlen(path) >= sizeof(un->sun_path))
        return -EINVAL;
    memset(&key->addr, 0, sizeof(key->addr));
    un->sun_family = AF_UNIX;
    strcpy(un->sun_path, path);
    key->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
    return 0;
}

static int parse_inet(struct tls_keyref *key, const char *hostport)
{
    char host[256];
    const char *colon;
    if (hostport[0] == '[') {
        const char *end = strchr(hostport, ']');
        if (!end || end[1] != ':' || (size_t)(end - hostport - 1) >= sizeof(host))
            return -EINVAL;
        memcpy(host, hostport + 1, (size_t)(end - hostport - 1));
        host[end - hostport - 1] = '\0';
        colon = end + 1;
    } else {
        colon = strrchr(hostport, ':');
        if (!colon || (size_t)(colon - hostport) >= sizeof(host) || colon == hostport)
            return -EINVAL;
        memcpy(host, hostport, (size_t)(colon - hostport));
        host[colon - hostport] = '\0';
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 1 || port > 65535)
        return -EINVAL;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || !res)
        return -ENOENT;
    memcpy(&key->addr, res->ai_addr, res->ai_addrlen);
    key->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int tls_keyless_parse(struct tls_keyref *key, const char *uri, const char *file, int line,
                      struct core_err *err)
{
    int rc = -EINVAL;
    if (strncmp(uri, "keyless://", 10) == 0)
        rc = parse_inet(key, uri + 10);
    else if (strncmp(uri, "keyless:unix:", 13) == 0)
        rc = parse_unix(key, uri + 13);
    if (rc == -ENOENT)
        core_err_add(err, file, line, "keyless signer '%s': cannot resolve the host name", uri);
    else if (rc < 0)
        core_err_add(err, file, line,
                     "bad keyless key '%s': expected keyless://HOST:PORT or keyless:unix:PATH",
                     uri);
    else
        snprintf(key->name, sizeof(key->name), "%s", uri);
    return rc < 0 ? -EINVAL : 0;
}

int tls_keyless_probe(const struct tls_keyref *key, int timeout_ms)
{
    int fd = socket(key->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = 0;
    if (connect(fd, (const struct sockaddr *)&key->addr, key->addrlen) < 0) {
        rc = -errno;
        if (rc == -EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int err = 0;
            socklen_t len = sizeof(err);
            if (poll(&p, 1, timeout_ms) != 1)
                rc = -ETIMEDOUT;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0)
                rc = -err;
        }
    }
    close(fd);
    return rc;
}
