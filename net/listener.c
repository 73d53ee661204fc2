// SPDX-License-Identifier: Apache-2.0
// net/listener.c: SO_REUSEPORT listening sockets and the per-worker accept loop
// (see net/listener.h).
#include "net/listener.h"
#include "core/err.h"
#include "core/log.h"
#include "core/stats.h"
#include "core/worker.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <urcu/compiler.h>

// Connections accepted per wake-up before yielding to other events.
#define ACCEPT_BATCH 64
#define EMFILE_BACKOFF_MS 100
// At most one warning per worker this often while accepting keeps failing for lack of resources.
#define BACKOFF_WARN_EVERY_MS 10000

struct listener {
    struct core_event ev;
    int fd;
    const struct net_port *port;
    struct core_worker *w;
    net_accept_fn on_accept;
    struct core_timer backoff;
    struct core_msg requeue;
    bool requeue_pending;
    bool paused;        // backing off after EMFILE/ENFILE
    uint64_t warned_ms; // when this listener last warned about a back-off (0: never)
    uint64_t backoffs;  // back-offs since that warning
};

struct net_listeners {
    size_t nports;
    int nworkers;
    struct net_port *ports;
    struct listener l[]; // port-major: l[port * nworkers + worker]
};

static int stat_accepts = -1;
static int stat_backoffs = -1;

// Another process listening on the address? A plain SO_REUSEADDR bind fails with EADDRINUSE
// exactly when some socket listens there (SO_REUSEPORT would let us share it silently).
static int probe_free(const struct net_port *p)
{
    int fd = socket(p->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (p->addr.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    int rc = bind(fd, (const struct sockaddr *)&p->addr, p->addrlen) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

static int open_one(const struct net_port *p, int backlog)
{
    int fd = socket(p->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    int rc = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
        // Accepted sockets inherit TCP_NODELAY: small responses are not held back by Nagle.
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
        (p->addr.ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
        bind(fd, (const struct sockaddr *)&p->addr, p->addrlen) < 0 || listen(fd, backlog) < 0)
        rc = -errno;
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

static int open_port(struct net_listeners *ls, size_t pi, int backlog, struct core_err *err)
{
    const struct net_port *p = &ls->ports[pi];
    char name[96];
    net_port_format(p, name, sizeof(name));
    int rc = probe_free(p);
    if (rc == -EADDRINUSE) {
        core_err_add(err, NULL, 0,
                     "%s: another process already listens on this address "
                     "(a stale tlsedge?); refusing to share it",
                     name);
        return rc;
    }
    for (int i = 0; i < ls->nworkers; i++) {
        int fd = open_one(p, backlog);
        if (fd < 0) {
            core_err_add(err, NULL, 0, "%s: cannot listen: %s", name, strerror(-fd));
            return fd;
        }
        ls->l[pi * (size_t)ls->nworkers + (size_t)i].fd = fd;
    }
    return 0;
}

struct net_listeners *net_listeners_open(const struct net_port *ports, size_t n, int nworkers,
                                         int backlog, struct core_err *err)
{
    size_t count = n * (size_t)nworkers;
    struct net_listeners *ls = calloc(1, sizeof(*ls) + count * sizeof(struct listener));
    if (!ls)
        return NULL;
    ls->nports = n;
    ls->nworkers = nworkers;
    ls->ports = calloc(n ? n : 1, sizeof(*ports));
    if (!ls->ports) {
        free(ls);
        return NULL;
    }
    memcpy(ls->ports, ports, n * sizeof(*ports));
    for (size_t i = 0; i < count; i++)
        ls->l[i].fd = -1;
    if (stat_accepts < 0) {
        stat_accepts = core_stat_register("proxy.process.net.connections_accepted");
        stat_backoffs = core_stat_register("proxy.process.tlsedge.accept_backoffs");
    }
    int failed = 0;
    for (size_t i = 0; i < n; i++)
        if (open_port(ls, i, backlog, err) < 0)
            failed = 1;
    if (failed) {
        net_listeners_free(ls);
        return NULL;
    }
    return ls;
}

static void accept_some(struct listener *l);

static void on_requeue(struct core_msg *msg)
{
    struct listener *l = caa_container_of(msg, struct listener, requeue);
    l->requeue_pending = false;
    accept_some(l);
}

static void on_backoff_done(struct core_timer *t, void *arg)
{
    struct listener *l = arg;
    l->paused = false;
    accept_some(l);
}

// Out of descriptors or memory: the connection stays in the backlog and accepting pauses for
// EMFILE_BACKOFF_MS (edge-triggered epoll would not report the listener again, and retrying at
// once would spin on the same error), then resumes from the timer. Counted and, at most every
// BACKOFF_WARN_EVERY_MS, logged.
static void backoff(struct listener *l, int err)
{
    core_stat_inc(stat_backoffs);
    l->paused = true;
    l->backoffs++;
    core_timer_arm(core_worker_wheel(l->w), &l->backoff, EMFILE_BACKOFF_MS);
    uint64_t now = core_now_ms();
    if (l->warned_ms != 0 && now - l->warned_ms < BACKOFF_WARN_EVERY_MS)
        return;
    core_log_warn("port %u: accept: %s: pausing accepts for %d ms (%llu back-offs since the "
                  "last warning; see proxy.config.net.connections_throttle and ulimit -n)",
                  l->port->port, strerror(err), EMFILE_BACKOFF_MS, (unsigned long long)l->backoffs);
    l->warned_ms = now;
    l->backoffs = 0;
}

// Accepts up to ACCEPT_BATCH connections. Edge-triggered epoll reports the listening socket once
// per new arrival burst, so whatever is left after the batch is picked up through the mailbox.
static void accept_some(struct listener *l)
{
    if (l->fd < 0 || l->paused)
        return;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        int fd = accept4(l->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            core_stat_inc(stat_accepts);
            l->on_accept(l->w, fd, l->port, (struct sockaddr *)&peer, plen);
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
            continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            backoff(l, errno);
            return;
        }
        core_log_error("accept: %s", strerror(errno));
        return;
    }
    if (!l->requeue_pending) {
        l->requeue_pending = true;
        core_worker_post(l->w, &l->requeue);
    }
}

static void on_listen_ready(struct core_event *ev, uint32_t events)
{
    accept_some(caa_container_of(ev, struct listener, ev));
}

int net_listeners_attach(struct net_listeners *ls, struct core_worker *w, net_accept_fn on_accept)
{
    int id = core_worker_id(w);
    for (size_t pi = 0; pi < ls->nports; pi++) {
        struct listener *l = &ls->l[pi * (size_t)ls->nworkers + (size_t)id];
        l->w = w;
        l->port = &ls->ports[pi];
        l->on_accept = on_accept;
        l->ev.fn = on_listen_ready;
        l->requeue.fn = on_requeue;
        core_timer_init(&l->backoff, on_backoff_done, l);
        int rc = core_worker_add(w, l->fd, EPOLLIN, &l->ev);
        if (rc < 0)
            return rc;
        // Connections may already wait in the backlog: the edge was before registration.
        accept_some(l);
    }
    return 0;
}

void net_listeners_close_worker(struct net_listeners *ls, struct core_worker *w)
{
    int id = core_worker_id(w);
    for (size_t pi = 0; pi < ls->nports; pi++) {
        struct listener *l = &ls->l[pi * (size_t)ls->nworkers + (size_t)id];
        if (l->fd < 0)
            continue;
        core_timer_disarm(core_worker_wheel(w), &l->backoff);
        core_worker_del(w, l->fd);
        close(l->fd);
        l->fd = -1;
    }
}

void net_listeners_free(struct net_listeners *ls)
{
    if (!ls)
        return;
    for (size_t i = 0; i < ls->nports * (size_t)ls->nworkers; i++)
        if (ls->l[i].fd >= 0)
            close(ls->l[i].fd);
    free(ls->ports);
    free(ls);
}
