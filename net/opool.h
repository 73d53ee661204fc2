// SPDX-License-Identifier: Apache-2.0
// net/opool.h: each worker's pool of idle origin connections (server session sharing).
//
// A connection whose response ended cleanly and that the origin keeps open is parked here under
// a key naming everything a later request must share with it to reuse it (net/proxy.c builds
// it: address and port, host, and for TLS the SNI, client certificate and verification
// settings, so a connection negotiated for one name never carries a request for another:
// TS-4468). Its descriptor stays in the worker's epoll set from connect to close through one
// registration object (struct net_oreg) whose owner changes - a transaction, the pool, the next
// transaction - without any epoll_ctl per request. While parked, anything the origin sends or a
// close drops it at once, and so does the idle timeout. The pool belongs to one
// worker and is used only on that worker's thread; it owns the parked descriptors and SSLs.
#ifndef TLSEDGE_NET_OPOOL_H
#define TLSEDGE_NET_OPOOL_H

#include <openssl/base.h>

#include "core/mbox.h"
#include "core/worker.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct net_oreg;

// net_oreg_fn handles an event of the descriptor r registers, for r's current owner.
typedef void (*net_oreg_fn)(struct net_oreg *r, uint32_t events);

// struct net_oreg: the epoll registration (EPOLLIN | EPOLLOUT | EPOLLRDHUP, edge-triggered) of
// one origin connection's descriptor, from connect to close. Its events go to fn(owner); the
// owner changes by setting both. Freed after the worker's current batch of events (an event
// already returned for a closed descriptor finds it with fn NULL and is dropped).
struct net_oreg {
    struct core_event ev;
    struct core_msg free_msg;
    struct core_worker *w;
    net_oreg_fn fn;
    void *owner;
};

// net_oreg_new registers fd in w's epoll set for fn(owner). Returns it, or NULL (errno-style
// failure: out of memory or epoll_ctl failed; fd is left as it was). Owning worker.
struct net_oreg *net_oreg_new(struct core_worker *w, int fd, net_oreg_fn fn, void *owner);

// net_oreg_close closes fd (which leaves the epoll set with it) and releases r (deferred).
// Owning worker.
void net_oreg_close(struct net_oreg *r, int fd);

#define NET_OPOOL_KEY_MAX 640

// struct net_opool_conn: a connection handed out by net_opool_take; the caller owns fd, ssl and
// reg (and sets reg's fn and owner before the worker's next event).
struct net_opool_conn {
    int fd;
    struct net_oreg *reg;
    SSL *ssl;  // NULL for plain TCP
    char sni[256]; // the SNI it was made with ("" none)
};

// net_opool_init prepares pools for nworkers workers and registers the counters. Main thread,
// before the workers start. Returns 0 or -ENOMEM.
int net_opool_init(int nworkers);

// net_opool_take hands out an idle connection of worker w parked under key, most recently parked
// first; with lax_name (not NULL) a connection parked under lax_key whose certificate also
// covers lax_name may be taken too. Returns true and fills *out, or false when there is none.
// Owning worker.
bool net_opool_take(struct core_worker *w, const char *key, const char *lax_key,
                    const char *lax_name, struct net_opool_conn *out);

// net_opool_put parks fd with its registration reg (and ssl, may be NULL; all taken over)
// under key and lax_key (may be
// NULL) for at most idle_ms, keeping at most max_per_key (0: no limit) idle connections per key:
// beyond it the connection is closed instead. sni is the name it was made with. Returns true
// when parked. Owning worker.
bool net_opool_put(struct core_worker *w, const char *key, const char *lax_key, const char *sni,
                   int fd, struct net_oreg *reg, SSL *ssl, uint64_t idle_ms, size_t max_per_key);

// net_opool_close_worker closes every connection parked by w (a stopping worker). Owning worker.
void net_opool_close_worker(struct core_worker *w);

// net_opool_idle returns the number of connections parked by w. Owning worker.
size_t net_opool_idle(struct core_worker *w);

#endif
