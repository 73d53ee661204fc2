// SPDX-License-Identifier: Apache-2.0
// net/opool.c: per-worker idle origin connections (see net/opool.h).
#include "net/opool.h"
#include "core/log.h"
#include "core/stats.h"
#include "core/timer.h"
#include "core/worker.h"
#include "tls/origin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <urcu/compiler.h>
#include <urcu/list.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

// struct parked: one idle connection; owned by its worker's pool.
struct parked {
    struct net_oreg *reg; // its owner while parked
    struct core_timer timer;
    struct cds_list_head link; // in its pool, most recently parked first
    struct core_worker *w;
    int fd;
    SSL *ssl;
    char key[NET_OPOOL_KEY_MAX];
    char lax_key[NET_OPOOL_KEY_MAX]; // "" when none
    char sni[256];
};

struct pool {
    struct cds_list_head list;
    size_t n;
};

static struct pool *pools;
static int npools;
static int stat_reused = -1, stat_parked = -1, stat_dropped = -1;

int net_opool_init(int nworkers)
{
    pools = calloc((size_t)nworkers, sizeof(*pools));
    if (!pools)
        return -ENOMEM;
    for (int i = 0; i < nworkers; i++)
        CDS_INIT_LIST_HEAD(&pools[i].list);
    npools = nworkers;
    stat_reused = core_stat_register("proxy.process.http.origin_connections_reused");
    stat_parked = core_stat_register("proxy.process.tlsedge.origin_connections_parked");
    stat_dropped = core_stat_register("proxy.process.tlsedge.origin_idle_closed");
    return 0;
}

// ---- registrations ----

static void oreg_event(struct core_event *ev, uint32_t events)
{
    struct net_oreg *r = caa_container_of(ev, struct net_oreg, ev);
    if (r->fn)
        r->fn(r, events);
}

static void oreg_free(struct core_msg *m)
{
    free(caa_container_of(m, struct net_oreg, free_msg));
}

struct net_oreg *net_oreg_new(struct core_worker *w, int fd, net_oreg_fn fn, void *owner)
{
    struct net_oreg *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->ev.fn = oreg_event;
    r->w = w;
    r->fn = fn;
    r->owner = owner;
    if (core_worker_add(w, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP, &r->ev) < 0) {
        free(r);
        return NULL;
    }
    return r;
}

void net_oreg_close(struct net_oreg *r, int fd)
{
    close(fd);
    r->fn = NULL;
    r->owner = NULL;
    r->free_msg.fn = oreg_free;
    core_worker_defer(r->w, &r->free_msg);
}

// ---- the pool ----

static struct pool *pool_of(struct core_worker *w)
{
    int id = core_worker_id(w);
    return id >= 0 && id < npools ? &pools[id] : NULL;
}

// Unlinks p from its pool; the caller takes fd, its registration and ssl, or closes them.
static void unpark(struct parked *p)
{
    core_timer_disarm(core_worker_wheel(p->w), &p->timer);
    cds_list_del(&p->link);
    pool_of(p->w)->n--;
}

static void drop(struct parked *p)
{
    unpark(p);
    if (p->ssl) {
        tls_origin_ssl_free(p->ssl); // no close_notify: the peer is gone or idle too long
        ERR_clear_error();
    }
    net_oreg_close(p->reg, p->fd);
    core_stat_inc(stat_dropped);
    free(p);
}

// The origin sent something or closed while the connection was idle: it cannot be reused.
// EPOLLOUT alone is the send buffer draining after the last request, and EPOLLIN alone may be
// the edge of the response the transaction already read (it read before the edge was
// delivered, and the registration moved to the pool meanwhile): a peek tells.
static void on_event(struct net_oreg *r, uint32_t events)
{
    struct parked *p = r->owner;
    if (!(events & ~(uint32_t)EPOLLOUT))
        return;
    if (!(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        char b;
        ssize_t n = recv(p->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return; // nothing new: still idle
    }
    drop(p);
}

static void on_timer(struct core_timer *t, void *arg)
{
    drop(arg);
}

static bool covers(SSL *ssl, const char *name)
{
    X509 *leaf = ssl ? SSL_get_peer_certificate(ssl) : NULL;
    bool ok = leaf && X509_check_host(leaf, name, strlen(name), 0, NULL) == 1;
    X509_free(leaf);
    ERR_clear_error();
    return ok;
}

bool net_opool_take(struct core_worker *w, const char *key, const char *lax_key,
                    const char *lax_name, struct net_opool_conn *out)
{
    struct pool *pl = pool_of(w);
    struct parked *p, *found = NULL;
    if (!pl)
        return false;
    cds_list_for_each_entry(p, &pl->list, link)
    {
        if (strcmp(p->key, key) == 0 ||
            (lax_key && lax_name && p->lax_key[0] && strcmp(p->lax_key, lax_key) == 0 &&
             covers(p->ssl, lax_name))) {
            found = p;
            break;
        }
    }
    if (!found)
        return false;
    unpark(found);
    out->fd = found->fd;
    out->reg = found->reg;
    out->ssl = found->ssl;
    snprintf(out->sni, sizeof(out->sni), "%s", found->sni);
    free(found);
    core_stat_inc(stat_reused);
    return true;
}

static size_t count_key(struct pool *pl, const char *key)
{
    size_t n = 0;
    struct parked *p;
    cds_list_for_each_entry(p, &pl->list, link)
    {
        if (strcmp(p->key, key) == 0)
            n++;
    }
    return n;
}

bool net_opool_put(struct core_worker *w, const char *key, const char *lax_key, const char *sni,
                   int fd, struct net_oreg *reg, SSL *ssl, uint64_t idle_ms, size_t max_per_key)
{
    struct pool *pl = pool_of(w);
    struct parked *p = NULL;
    if (!pl || strlen(key) >= NET_OPOOL_KEY_MAX ||
        (lax_key && strlen(lax_key) >= NET_OPOOL_KEY_MAX) ||
        (max_per_key && count_key(pl, key) >= max_per_key) || !(p = calloc(1, sizeof(*p))))
        goto refuse;
    p->w = w;
    p->fd = fd;
    p->reg = reg;
    p->ssl = ssl;
    snprintf(p->key, sizeof(p->key), "%s", key);
    snprintf(p->lax_key, sizeof(p->lax_key), "%s", lax_key ? lax_key : "");
    snprintf(p->sni, sizeof(p->sni), "%s", sni ? sni : "");
    reg->fn = on_event;
    reg->owner = p;
    core_timer_init(&p->timer, on_timer, p);
    core_timer_arm(core_worker_wheel(w), &p->timer, idle_ms);
    cds_list_add(&p->link, &pl->list);
    pl->n++;
    core_stat_inc(stat_parked);
    return true;
refuse:
    free(p);
    if (ssl) {
        SSL_shutdown(ssl);
        tls_origin_ssl_free(ssl);
        ERR_clear_error();
    }
    net_oreg_close(reg, fd);
    return false;
}

void net_opool_close_worker(struct core_worker *w)
{
    struct pool *pl = pool_of(w);
    struct parked *p, *tmp;
    if (!pl)
        return;
    cds_list_for_each_entry_safe(p, tmp, &pl->list, link)
    {
        drop(p);
    }
}

size_t net_opool_idle(struct core_worker *w)
{
    struct pool *pl = pool_of(w);
    return pl ? pl->n : 0;
}
