// SPDX-License-Identifier: Apache-2.0
// tls/conn.h: the server side of one TLS connection: ClientHello peek, context choice, the
// handshake state machine, then record I/O.
//
// tlsedge reads the first bytes into the connection's own buffer and parses the ClientHello
// itself before any SSL object exists, picks the certificate context from the SNI, the accepting
// address and the client's signature algorithms, creates the SSL from that context (BoringSSL
// takes ticket and version behaviour from the context an SSL is created from), and feeds it the
// buffered bytes through a BIO over the same buffer. That buffer doubles as a read-ahead buffer
// afterwards, so BoringSSL's small header reads cost no system call.
//
// A tls_conn belongs to the worker that owns its socket; it never closes the descriptor (net/
// owns the socket's life cycle). All calls are made on that worker, inside an RCU read-side
// section when they take the configuration.
#ifndef TLSEDGE_TLS_CONN_H
#define TLSEDGE_TLS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct tls_config;
struct tls_conn;

enum tls_conn_state {
    TLS_CONN_START,       // VCONN_START hooks not run yet or outstanding (tls/hook.h)
    TLS_CONN_HELLO,       // reading and parsing the ClientHello
    TLS_CONN_HANDSHAKE,   // SSL_do_handshake in progress
    TLS_CONN_KEY_WAIT,    // a private-key operation runs in the handshake pool
    TLS_CONN_HOOK_WAIT,   // a CLIENT_HELLO or CERT hook is outstanding (tls/hook.h)
    TLS_CONN_LENT,        // accept mode: a pool thread runs the handshake; the worker waits
    TLS_CONN_ESTABLISHED, // application data
    TLS_CONN_FAILED,      // handshake or record failure (terminal)
    TLS_CONN_CLOSED,      // close_notify sent or received (terminal)
    TLS_CONN_TUNNEL,      // handed over as a blind tunnel (terminal): nothing was decrypted
};

// Results of tls_conn_handshake; tls_conn_read/write return -EAGAIN and set tls_conn_want().
enum tls_step {
    TLS_STEP_DONE,       // handshake complete
    TLS_STEP_WANT_READ,  // wait until the socket is readable
    TLS_STEP_WANT_WRITE, // wait until the socket is writable
    TLS_STEP_FAILED,     // give up: close the connection (an alert was sent where possible)
    TLS_STEP_PENDING,    // waiting for another thread; the resume callback will be called
    TLS_STEP_TUNNEL,     // no TLS here: relay the connection blind to tls_conn_route(), starting
                         // with the bytes tls_conn_take_buffered() hands over
};

// tls_resume_fn is called on the owning worker when a handshake that returned
// TLS_STEP_PENDING can go on: the caller then calls tls_conn_handshake again.
typedef void (*tls_resume_fn)(void *arg);

// tls_conn_new prepares the server side for socket fd (borrowed) accepted on local from peer;
// id tags log lines. Returns NULL when out of memory.
struct tls_conn *tls_conn_new(int fd, uint64_t id, const struct sockaddr *local,
                              const struct sockaddr *peer);

// tls_conn_set_resume sets the callback run when a pending handshake can go on.
void tls_conn_set_resume(struct tls_conn *c, tls_resume_fn fn, void *arg);

// tls_conn_free frees c and its SSL (which drops its reference on the SSL_CTX). The descriptor
// stays open. A key operation still in flight is orphaned: it is freed when it comes back, and
// the resume callback is not called. NULL is a no-op.
void tls_conn_free(struct tls_conn *c);

// tls_conn_handshake advances the handshake as far as the socket allows, using cfg (the TLS part
// of the current snapshot, lent for this call only) to choose the certificate. Returns a
// tls_step. Counts attempts, successes and failures by reason.
enum tls_step tls_conn_handshake(struct tls_conn *c, const struct tls_config *cfg);

// tls_conn_state_get returns c's state; tls_conn_state_name a name for logs.
enum tls_conn_state tls_conn_state_get(const struct tls_conn *c);
const char *tls_conn_state_name(enum tls_conn_state s);

// tls_conn_read decrypts up to len bytes into buf. Returns the number of bytes (> 0), 0 at the
// end of the stream (close_notify or TCP FIN), -EAGAIN when the socket must become ready first
// (see tls_conn_want), or -EPROTO / -ECONNRESET on failure. Established connections only.
ssize_t tls_conn_read(struct tls_conn *c, void *buf, size_t len);

// tls_conn_write encrypts and sends up to len bytes of buf. Returns the bytes accepted (> 0,
// possibly fewer than len), -EAGAIN (retry later with the same or moved data), or -EPIPE /
// -EPROTO on failure.
ssize_t tls_conn_write(struct tls_conn *c, const void *buf, size_t len);

// tls_conn_want returns TLS_STEP_WANT_READ or TLS_STEP_WANT_WRITE after an -EAGAIN.
enum tls_step tls_conn_want(const struct tls_conn *c);

// tls_conn_pending is true when decrypted or buffered bytes wait inside c, so a read may succeed
// without the socket becoming readable again.
bool tls_conn_pending(const struct tls_conn *c);

// tls_conn_note_readable tells c that its socket reported input (or hang-up) since the last
// read. c skips the read system call that would only return EAGAIN after a short read; with
// edge-triggered epoll any byte that arrives after that read raises a new event.
void tls_conn_note_readable(struct tls_conn *c);

// tls_conn_note_hangup tells c that its socket reported the peer's end of stream, or an error
// (EPOLLRDHUP, EPOLLHUP, EPOLLERR). Data and the end can arrive in one readiness event: from now
// on a short read does not stop reading, so the end is seen without another event (which
// edge-triggered epoll would never send). Owning worker.
void tls_conn_note_hangup(struct tls_conn *c);

// tls_conn_shutdown sends close_notify, best effort (never blocks), unless the peer already
// closed (then nobody reads it). While the connection is lent to the pool (accept mode) it
// removes the socket from the worker's epoll set (the pool's duplicate descriptor would keep it
// registered after close) and shuts it down, so that the client sees the close at once and the
// pool thread's handshake fails instead of finishing on a connection the worker gave up. The
// caller (net/) closes the descriptor right after.
void tls_conn_shutdown(struct tls_conn *c);

// tls_conn_alpn_set enables or disables ALPN protocol proto for c's handshake (plugins'
// TSVConnProtocolEnable/Disable; before the ClientHello is processed). Returns 0, or -ENOTSUP
// for a protocol tlsedge does not speak (only "http/1.1"). tls_conn_alpn_allowed says whether
// proto may be selected. Owning worker.
int tls_conn_alpn_set(struct tls_conn *c, const char *proto, bool enable);
bool tls_conn_alpn_allowed(const struct tls_conn *c, const char *proto);

// tls_conn_set_passthrough marks c as accepted on a tr-pass port: a first flight that is not a
// TLS ClientHello then becomes a blind tunnel to proxy.config.tlsedge.tunnel.default_route
// (TLS_STEP_TUNNEL) instead of being refused. Before the first tls_conn_handshake.
void tls_conn_set_passthrough(struct tls_conn *c, bool on);

// tls_conn_route returns where c's bytes go instead of the HTTP stage (lent; host:port), or
// NULL: after TLS_STEP_TUNNEL the blind tunnel's route (sni.yaml tunnel_route, or
// proxy.config.tlsedge.tunnel.default_route for an ssl_multicert action=tunnel address); after
// TLS_STEP_DONE an sni.yaml forward_route (the decrypted bytes are relayed as they are) or
// partial_blind_route (tls_conn_route_tls).
const char *tls_conn_route(const struct tls_conn *c);

// tls_conn_route_tls is true when c's route (after TLS_STEP_DONE) is an sni.yaml
// partial_blind_route: the decrypted bytes go to it over a new TLS session, not as they are.
bool tls_conn_route_tls(const struct tls_conn *c);

// tls_conn_take_buffered hands the bytes c read but did not consume (after TLS_STEP_TUNNEL: the
// ClientHello and whatever followed, byte for byte) to the caller, who frees *out. Returns
// their number (0: none, *out NULL).
size_t tls_conn_take_buffered(struct tls_conn *c, uint8_t **out);

// tls_conn_sni returns the server name the client asked for (lent), or NULL.
const char *tls_conn_sni(const struct tls_conn *c);

// tls_conn_describe writes "TLSv1.3 TLS_AES_128_GCM_SHA256 X25519 resumed" into buf for logs.
void tls_conn_describe(const struct tls_conn *c, char *buf, size_t len);

#endif
