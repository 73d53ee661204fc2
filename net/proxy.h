// SPDX-License-Identifier: Apache-2.0
// net/proxy.h: the HTTP/1.1 stage of a client connection (reverse and forward proxying, local
// replies such as the stats endpoint) and the HTTP part of a snapshot.
//
// The stage runs on the connection's worker. It reads one request head at a time (pipelined
// requests wait in the buffer and are answered in order), checks ip_allow, maps the request with
// remap.config (or forwards an absolute URI when remap is not required), connects to the origin
// without blocking, and streams both bodies with backpressure: each direction has one bounded
// buffer, and a side is read only while the other can take more.
#ifndef TLSEDGE_NET_PROXY_H
#define TLSEDGE_NET_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct core_err;
struct core_records;
struct net_conn;
struct net_http;
struct net_ipallow;
struct net_remap;

struct net_http_config {
    struct net_remap *remap;     // owned; never NULL (may hold no rule)
    struct net_ipallow *ipallow; // owned; never NULL
    bool remap_required;         // proxy.config.url_remap.remap_required
    bool pristine_host;          // proxy.config.url_remap.pristine_host_hdr
    size_t header_max;           // proxy.config.http.request_header_max_size
    uint64_t connect_timeout_ms; // proxy.config.http.connect_attempts_timeout
    uint64_t verify_timeout_ms;  // proxy.config.tlsedge.verify_server_timeout (VERIFY_SERVER
                                 // plugins pausing an origin handshake, verify.server 2)
    uint64_t keepalive_in_ms;    // proxy.config.http.keep_alive_no_activity_timeout_in
    uint64_t txn_in_ms;          // proxy.config.http.transaction_no_activity_timeout_in
    uint64_t txn_out_ms;         // proxy.config.http.transaction_no_activity_timeout_out
    uint16_t connect_ports[64][2]; // proxy.config.http.connect_ports: inclusive ranges
    size_t n_connect_ports;        // 0: CONNECT to no port ("*" is one range 1-65535)
    int64_t max_client_conns;    // proxy.config.net.connections_throttle; 0: no limit
    int sharing;                 // proxy.config.http.server_session_sharing.match (NET_SHARE_*)
    bool sni_lax;                // proxy.config.tlsedge.server_session_sharing.sni_lax
    uint64_t keepalive_out_ms;   // proxy.config.http.keep_alive_no_activity_timeout_out
    size_t per_server_max;       // proxy.config.http.per_server.connection.max (idle, per key)
    bool splice;                 // proxy.config.tlsedge.tunnel.splice
    bool half_open;              // proxy.config.http.allow_half_open
};

// Values of proxy.config.http.server_session_sharing.match: what a pooled origin connection and
// a new request must share (for TLS origins, SNI, client certificate and verification settings
// must match as well, whatever the mode).
enum net_share {
    NET_SHARE_NONE, // never reuse
    NET_SHARE_IP,   // address and port
    NET_SHARE_HOST, // host name and port
    NET_SHARE_BOTH, // address, port and host name
    NET_SHARE_SNI,  // address and port (+ the TLS checks)
    NET_SHARE_CERT, // address and port (+ the TLS checks)
};

// net_http_config_declare declares the HTTP records.config names. Main thread.
int net_http_config_declare(struct core_records *rec);

// net_http_config_build loads remap.config and ip_allow.yaml from confdir (NULL: the embedded
// default, no remap rules and loopback clients only) and the HTTP settings from rec. A missing
// remap.config means no rules; a missing ip_allow.yaml means loopback only. Returns NULL with
// every problem in err. Main thread.
struct net_http_config *net_http_config_build(const struct core_records *rec, const char *confdir,
                                              struct core_err *err);

// net_http_config_free frees c; NULL is a no-op.
void net_http_config_free(struct net_http_config *c);

// net_http_stats_register registers the HTTP counters. Main thread, before workers start.
void net_http_stats_register(void);

// net_http_start begins the HTTP stage on c (after the TLS handshake on TLS ports). Returns 0 or
// -ENOMEM. Owning worker.
int net_http_start(struct net_conn *c);

// net_http_start_route relays c to route ("host:port") as a tunnel instead of parsing HTTP:
// the len bytes of head (taken over, may be NULL) are sent first (a blind tunnel's ClientHello),
// then bytes flow both ways, as in a CONNECT tunnel but with no response of tlsedge's own. With
// tls (sni.yaml partial_blind_route) the route is reached over a new TLS session, made and
// verified as for TLS origins; its name is the route's host, or the client's SNI when the
// route's host is an IP address. hooks (may be NULL): a blind tunnel's detached plugin state
// (tls_hook_detach), taken over on success and closed (VCONN_CLOSE) when the tunnel ends.
// Returns 0, -EINVAL for a route that is not host:port, or -ENOMEM (head freed either way).
// Owning worker.
int net_http_start_route(struct net_conn *c, const char *route, uint8_t *head, size_t len,
                         bool tls, void *hooks);

// net_http_on_client_event runs the stage after an event on the client descriptor.
void net_http_on_client_event(struct net_conn *c, uint32_t events);

// net_http_on_timeout handles the expiry of c's timer during the HTTP stage.
void net_http_on_timeout(struct net_conn *c);

// net_http_idle is true when c waits for a new request and holds no unprocessed bytes.
bool net_http_idle(const struct net_conn *c);

// net_http_busy is true while a message for h's connection waits in the worker's mailbox; the
// connection must not be freed before that message ran.
bool net_http_busy(const struct net_http *h);

// net_http_close releases the origin side of c (descriptor, timer) as c closes. Idempotent.
void net_http_close(struct net_conn *c);

// net_http_free frees the stage state h after the connection closed. NULL is a no-op.
void net_http_free(struct net_http *h);

#endif
