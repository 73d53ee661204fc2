// SPDX-License-Identifier: Apache-2.0
// net/opool.h: each worker's pool of idle origin connections (server session sharing).
//
// A connection whose response ended cleanly and that the origin keeps open is parked here under
// a key naming everything a later request must share with it to reuse it (net/proxy.c builds
// it: address and port, host, and for TLS the SNI, client certificate and verification
// settings, so a connection negotiated for one name never carries a request for another:
// TS-4468). Its descriptor stays in the worker's epoll set all along, with no epoll_ctl DEL/ADD
// per request: put re-points the registration at the pool (one EPOLL_CTL_MOD; anything the
// origin sends or a close then drops it at once, and so does the idle timeout), and take hands
// it back still registered, for the taker to re-point (core_worker_mod). The pool belongs to one
// worker and is used only on that worker's thread; it owns the parked descriptors and SSLs.
#ifndef TLSEDGE_NET_OPOOL_H
#define TLSEDGE_NET_OPOOL_H

#include <openssl/base.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct core_worker;

#define NET_OPOOL_KEY_MAX 640

// struct net_opool_conn: a connection handed out by net_opool_take; the caller owns fd and ssl.
struct net_opool_conn {
    int fd;
    SSL *ssl;  // NULL for plain TCP
    char sni[256]; // the SNI it was made with ("" none)
};

// net_opool_init prepares pools for nworkers workers and registers the counters. Main thread,
// before the workers start. Returns 0 or -ENOMEM.
int net_opool_init(int nworkers);

// net_opool_take hands out an idle connection of worker w parked under key, most recently parked
// first, its descriptor still registered in w's epoll set (pointing at the pool: the caller
// re-points it with core_worker_mod before anything else); with lax_name (not NULL) a connection parked under lax_key whose certificate also
// covers lax_name may be taken too. Returns true and fills *out, or false when there is none.
// Owning worker.
bool net_opool_take(struct core_worker *w, const char *key, const char *lax_key,
                    const char *lax_name, struct net_opool_conn *out);

// net_opool_put parks fd (registered in w's epoll set; and ssl, may be NULL; both taken over)
// under key and lax_key (may be
// NULL) for at most idle_ms, keeping at most max_per_key (0: no limit) idle connections per key:
// beyond it the connection is closed instead. sni is the name it was made with. Returns true
// when parked. Owning worker.
bool net_opool_put(struct core_worker *w, const char *key, const char *lax_key, const char *sni,
                   int fd, SSL *ssl, uint64_t idle_ms, size_t max_per_key);

// net_opool_close_worker closes every connection parked by w (a stopping worker). Owning worker.
void net_opool_close_worker(struct core_worker *w);

// net_opool_idle returns the number of connections parked by w. Owning worker.
size_t net_opool_idle(struct core_worker *w);

#endif
