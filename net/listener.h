// SPDX-License-Identifier: Apache-2.0
// net/listener.h: listening sockets, one SO_REUSEPORT socket per port per worker, and the
// per-worker accept loop.
//
// The main thread opens every socket before the workers start (so a bind failure stops start-up
// with a clear error) after checking that no other process already listens on the address: with
// SO_REUSEPORT a stale instance would silently take part of the traffic. Each worker then adopts
// its own sockets and accepts on them from its epoll loop. Accepting stops at a batch limit per
// wake-up and re-queues itself through the worker's mailbox (edge-triggered epoll would not report
// the remaining backlog again), and backs off on EMFILE/ENFILE with a timer instead of spinning.
#ifndef TLSEDGE_NET_LISTENER_H
#define TLSEDGE_NET_LISTENER_H

#include <sys/socket.h>

#include "net/ports.h"

struct core_err;
struct core_worker;
struct net_listeners;

// net_accept_fn takes ownership of the accepted descriptor fd (non-blocking, close-on-exec) on
// worker w; port describes the listening port; peer is the client address.
typedef void (*net_accept_fn)(struct core_worker *w, int fd, const struct net_port *port,
                              const struct sockaddr *peer, socklen_t peerlen);

// net_listeners_open binds and listens on every port in ports (n of them), nworkers sockets each.
// Returns NULL on failure, with one error per failing port in err (address in use by another
// process, permission, bad address). Main thread, before the workers start.
struct net_listeners *net_listeners_open(const struct net_port *ports, size_t n, int nworkers,
                                         int backlog, struct core_err *err);

// net_listeners_attach adds worker w's sockets to its epoll set; accepted connections go to
// on_accept. Runs on worker w's thread (its start-up callback).
int net_listeners_attach(struct net_listeners *ls, struct core_worker *w, net_accept_fn on_accept);

// net_listeners_close_worker closes worker w's listening sockets (graceful stop: no new
// connections; the kernel resets what waited in that socket's backlog). Worker w's thread.
void net_listeners_close_worker(struct net_listeners *ls, struct core_worker *w);

// net_listeners_free closes every remaining socket and frees ls, after the workers exited.
void net_listeners_free(struct net_listeners *ls);

#endif
