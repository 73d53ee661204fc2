// SPDX-License-Identifier: Apache-2.0
// net/resolve.h: host name resolution off the workers.
//
// getaddrinfo() blocks, so names are resolved on a small pool of resolver threads and the result
// is delivered to the asking worker through its mailbox. IP literals never leave the worker
// (net_resolve_numeric). The resolver threads read no RCU-protected data.
#ifndef TLSEDGE_NET_RESOLVE_H
#define TLSEDGE_NET_RESOLVE_H

#include <stdint.h>
#include <sys/socket.h>

struct core_worker;
struct net_resolve;

// net_resolve_fn runs on the asking worker with rc 0 and the first address found (port set), or
// a negative errno (-ENOENT: no such host, -EAGAIN: temporary failure).
typedef void (*net_resolve_fn)(void *arg, int rc, const struct sockaddr_storage *addr,
                               socklen_t addrlen);

// net_resolver_init starts nthreads resolver threads. Main thread, once. Returns 0 or -errno.
int net_resolver_init(int nthreads);

// net_resolve_numeric fills addr for an IPv4 or IPv6 literal host (brackets allowed) and port.
// Returns 0, or -EINVAL when host is not a literal. Any thread.
int net_resolve_numeric(const char *host, uint16_t port, struct sockaddr_storage *addr,
                        socklen_t *addrlen);

// net_connect_result reports how the non-blocking connect on fd stands: 0 connected (the peer's
// address in *peer), -EINPROGRESS still connecting, or the negative errno it failed with. Any
// thread.
int net_connect_result(int fd, struct sockaddr_storage *peer);

// net_resolve_start resolves host (copied) for port on a resolver thread; fn(arg, ...) runs later
// on worker w, never before this call returns. Returns a handle for net_resolve_cancel, or NULL
// when out of memory. Worker w's thread.
struct net_resolve *net_resolve_start(struct core_worker *w, const char *host, uint16_t port,
                                      net_resolve_fn fn, void *arg);

// net_resolve_cancel makes sure fn is never called for r (the asker went away); r is freed when
// its answer arrives. Worker w's thread.
void net_resolve_cancel(struct net_resolve *r);

#endif
