// SPDX-License-Identifier: Apache-2.0
// net/conn.h: client connections: accept, the TLS handshake (through tls/), then the HTTP/1.1
// transaction machine (net/proxy.c), and close.
//
// A connection is accepted, served and freed by one worker; nothing else touches it. Its
// descriptor is registered edge-triggered for input and output once; each event runs the current
// stage until it cannot progress. Every stage that waits on the network arms the connection's
// timer (handshake timeout, keep-alive idle, transaction inactivity).
#ifndef TLSEDGE_NET_CONN_H
#define TLSEDGE_NET_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <urcu/list.h>

#include "core/mbox.h"
#include "core/timer.h"
#include "core/worker.h"

struct net_port;
struct net_http;
struct tls_conn;

enum net_conn_state {
    NET_CONN_TLS_HANDSHAKE, // TLS ports: until the handshake completes
    NET_CONN_HTTP,          // the HTTP transaction machine owns the connection
    NET_CONN_CLOSED,        // terminal; freed after the current loop iteration
};

struct net_conn {
    struct core_event ev; // client descriptor events
    struct core_worker *w;
    uint64_t id;
    int fd;
    enum net_conn_state state;
    const struct net_port *port;
    struct sockaddr_storage peer;
    struct sockaddr_storage local;
    struct tls_conn *tls;    // owned; NULL on plain ports
    struct net_http *http;   // owned; the HTTP stage's state
    struct core_timer timer; // the current stage's timeout
    struct core_msg free_msg;
    struct cds_list_head link; // in the worker's connection list
    bool stop_after_response;  // graceful stop: close once the current response is sent
};

// net_conns_init prepares per-worker connection lists for nworkers workers and registers the
// connection counters. Main thread, before the workers start. Returns 0 or -ENOMEM.
int net_conns_init(int nworkers);

// net_conn_accept takes ownership of the accepted socket fd and starts serving it on w.
// Signature matches net_accept_fn.
void net_conn_accept(struct core_worker *w, int fd, const struct net_port *port,
                     const struct sockaddr *peer, socklen_t peerlen);

// net_conns_stop_worker starts a graceful stop of w's connections: idle ones close now, busy ones
// after their current response. Worker w's thread.
void net_conns_stop_worker(struct core_worker *w);

// net_conn_close closes c now (both descriptors, timers) and schedules its free after the current
// loop iteration. Idempotent. Owning worker.
void net_conn_close(struct net_conn *c);

// net_conn_read reads up to len bytes from the client (decrypting on TLS ports). Returns > 0,
// 0 at end of stream, -EAGAIN, or another negative errno on failure. Owning worker.
ssize_t net_conn_read(struct net_conn *c, void *buf, size_t len);

// net_conn_write writes up to len bytes to the client. Returns the bytes taken (> 0), -EAGAIN,
// or another negative errno. Owning worker.
ssize_t net_conn_write(struct net_conn *c, const void *buf, size_t len);

// net_conn_peer_text writes the client's address ("127.0.0.1:51234", "[::1]:4000") into buf.
void net_conn_peer_text(const struct net_conn *c, char *buf, size_t len);

// net_conn_arm arms c's timer for ms (0 disarms). Owning worker.
void net_conn_arm(struct net_conn *c, uint64_t ms);

// net_conn_shutdown_write ends c's sending direction (a TLS close_notify, or a TCP FIN) while
// c may still read: a tunnel's half-close. Owning worker.
void net_conn_shutdown_write(struct net_conn *c);

#endif
