// SPDX-License-Identifier: Apache-2.0
// tls/hook.h: the hook points of the server handshake (DESIGN.md sections 4 and 5), as callback
// slots that hooks/ fills. tls/ knows nothing of plugins: it asks, at each point, whether the
// connection may go on, and hooks/ answers GO, FAIL or WAIT (then it calls tls_conn_hook_done
// later, on the owning worker).
//
// BoringSSL calls a pausable callback again when the handshake resumes (select_certificate_cb
// returning retry, cert_cb returning -1), so the progress of each point is explicit state on the
// connection (struct tls_conn_hooks): NONE, RUNNING, DONE or FAILED; a repeated call answers from
// it instead of running the plugins twice.
//
// Threads: every function runs on the worker that owns the connection, except tls_hook_ops_set
// (main thread, before the workers start).
#ifndef TLSEDGE_TLS_HOOK_H
#define TLSEDGE_TLS_HOOK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

struct tls_conn;
struct tls_out;

// The hook points, in the order they fire: inbound (a client's connection, struct tls_conn),
// then outbound (a connection to an origin, struct tls_out).
enum tls_hook {
    TLS_HOOK_VCONN_START,   // accepted, before any byte is read (may pause)
    TLS_HOOK_CLIENT_HELLO,  // BoringSSL's select-certificate callback (may pause)
    TLS_HOOK_SERVERNAME,    // servername callback, only with SNI (never pauses)
    TLS_HOOK_CERT,          // cert callback (may pause; may change the certificate)
    TLS_HOOK_VERIFY_CLIENT, // a client certificate verified (pauses with verify_client_async)
    TLS_HOOK_VCONN_CLOSE,   // the connection is being freed (never pauses)
    TLS_HOOK_INBOUND_COUNT,
    TLS_HOOK_OUTBOUND_START = TLS_HOOK_INBOUND_COUNT, // connected, before the ClientHello (pauses)
    TLS_HOOK_VERIFY_SERVER,  // the origin's chain checked (pauses with verify.server 2)
    TLS_HOOK_OUTBOUND_CLOSE, // the origin connection is being freed (never pauses)
    TLS_HOOK_COUNT,
};

enum tls_hook_verdict {
    TLS_HOOK_GO,   // every continuation re-enabled: go on
    TLS_HOOK_WAIT, // a continuation is outstanding: tls_conn_hook_done follows
    TLS_HOOK_FAIL, // a continuation re-enabled with TS_EVENT_ERROR: fail the handshake
};

enum tls_hook_progress {
    TLS_HOOK_NONE,    // not run yet
    TLS_HOOK_RUNNING, // waiting for a re-enable
    TLS_HOOK_DONE,
    TLS_HOOK_FAILED,
};

// struct tls_conn_hooks: the hook state a tls_conn carries. progress belongs to tls/hook.c;
// state is hooks/'s per-connection object (NULL until hooks/ attaches one; hooks/ owns it and
// frees it in its close callback).
struct tls_conn_hooks {
    uint8_t progress[TLS_HOOK_COUNT]; // enum tls_hook_progress
    void *state;
    X509_STORE_CTX *verify_ctx; // the client's chain as verified, for VERIFY_CLIENT hooks
                                // (TSVConnSslVerifyCTXGet); owned, freed by tls_hook_close
};

// struct tls_hook_ops: what hooks/ provides. Every callback runs on the owning worker.
struct tls_hook_ops {
    // active is true when continuations are registered on point h (cheap; any thread).
    bool (*active)(enum tls_hook h);
    // run runs point h's continuations on c. Returns GO, FAIL, or WAIT: then hooks/ calls
    // tls_conn_hook_done(c, h, ok) once the outstanding continuations re-enabled.
    enum tls_hook_verdict (*run)(struct tls_conn *c, enum tls_hook h);
    // close runs the VCONN_CLOSE continuations (never pausing) and releases the per-connection
    // state. Called once, from tls_conn_free, before the SSL is freed.
    void (*close)(struct tls_conn *c);
    // run_out and close_out: the same for an origin connection's points (OUTBOUND_START,
    // VERIFY_SERVER; OUTBOUND_CLOSE). WAIT is followed by tls_out_hook_done.
    enum tls_hook_verdict (*run_out)(struct tls_out *o, enum tls_hook h);
    void (*close_out)(struct tls_out *o);
    // detach takes c's per-connection state away from c (c becomes a blind tunnel and is freed;
    // its user arguments and handle stay valid) and returns it; close_detached later runs its
    // VCONN_CLOSE continuations and releases it.
    void *(*detach)(struct tls_conn *c);
    void (*close_detached)(void *state);
};

// tls_hook_ops_set installs ops (static storage; NULL: no hooks). Main thread, before workers.
void tls_hook_ops_set(const struct tls_hook_ops *ops);

// tls_hook_wanted is true when a plugin hooks any inbound point (then connections keep their SNI for
// TSVConnSslSniGet). Any thread.
bool tls_hook_wanted(void);

// tls_hook_ctx_init installs the hook callbacks (select-certificate, servername) on a server
// ctx. Every context tlsedge builds gets them; they cost a branch when no plugin hooks them.
void tls_hook_ctx_init(SSL_CTX *ctx);

// tls_hook_ssl_init installs the per-SSL callback (cert) on a new server SSL.
void tls_hook_ssl_init(SSL *ssl);

// tls_hook_gate runs point h for c, or answers from its recorded progress when BoringSSL calls
// again: GO once DONE, FAIL once FAILED, WAIT while RUNNING.
enum tls_hook_verdict tls_hook_gate(struct tls_conn *c, enum tls_hook h);

// tls_hook_close runs the close hooks of c, once, if hooks/ attached state or hooks VCONN_CLOSE.
void tls_hook_close(struct tls_conn *c);

// tls_hook_detach: c is about to become a blind tunnel (and be freed); its VCONN_CLOSE belongs
// at the tunnel's end. Returns the hook state to pass to tls_hook_close_detached then (NULL: no
// plugin cares; nothing to do), and c's own close no longer runs the hooks. Owning worker.
void *tls_hook_detach(struct tls_conn *c);

// tls_hook_close_detached runs the VCONN_CLOSE hooks of a detached state and releases it. NULL:
// no-op. Owning worker.
void tls_hook_close_detached(void *state);

// tls_conn_hook_done records that point h finished (ok: every continuation re-enabled without
// error) and resumes c's handshake through its resume callback. Ignored unless h is RUNNING.
void tls_conn_hook_done(struct tls_conn *c, enum tls_hook h, bool ok);

// Accessors for hooks/ (owning worker). tls_conn_hooks returns c's hook state (lent).
// tls_conn_ssl returns c's SSL or NULL before it exists. tls_conn_fd the socket (borrowed).
// tls_conn_id the id logs use. tls_conn_local/tls_conn_peer the accepting and client address.
// tls_conn_hello_sni the SNI parsed from the ClientHello (lent), or NULL.
struct tls_conn_hooks *tls_conn_hooks(struct tls_conn *c);
SSL *tls_conn_ssl(const struct tls_conn *c);
int tls_conn_fd(const struct tls_conn *c);
uint64_t tls_conn_id(const struct tls_conn *c);
const struct sockaddr *tls_conn_local(const struct tls_conn *c);
const struct sockaddr *tls_conn_peer(const struct tls_conn *c);
const char *tls_conn_hello_sni(const struct tls_conn *c);

// tls_conn_request_tunnel makes c a blind tunnel (TSVConnTunnel) as soon as its ClientHello was
// read: from VCONN_START, CLIENT_HELLO, SERVERNAME or CERT hooks (later: the handshake fails).
// The route is the name's sni.yaml tunnel_route, else proxy.config.tlsedge.tunnel.default_route.
// tls_conn_tunnel_requested says whether it was asked for. Owning worker.
void tls_conn_request_tunnel(struct tls_conn *c);
bool tls_conn_tunnel_requested(const struct tls_conn *c);

// ---- outbound: an origin connection's hook state (tls/outconn.c) ----
//
// struct tls_out exists only while plugins hook an outbound point: net/ attaches one to the
// origin SSL (tls_out_attach), asks tls_out_gate(OUTBOUND_START) before the handshake, and the
// verification callback of tls/origin.c asks VERIFY_SERVER. It lives as long as the SSL: every
// origin SSL is freed through tls_origin_ssl_free, which runs OUTBOUND_CLOSE first, once.

// tls_out_wanted is true when a plugin hooks an outbound point. Any thread.
bool tls_out_wanted(void);

// tls_out_attach hangs a new hook state on the origin SSL ssl (fd: its socket, borrowed; id:
// the client connection's id, for logs; sni: the origin's name, may be NULL, recorded as the SNI
// sent unless it is an IP address; peer: the origin's
// address; verify_async: VERIFY_SERVER hooks pause, proxy.config.ssl.client.verify.server 2).
// resume(arg) is called on the owning worker when a paused point finishes. Returns the state
// (owned by the SSL) or NULL when out of memory. Owning worker.
struct tls_out *tls_out_attach(SSL *ssl, int fd, uint64_t id, const char *sni,
                               const struct sockaddr *peer, bool verify_async,
                               void (*resume)(void *arg), void *arg);

// tls_out_of returns the state attached to ssl, or NULL.
struct tls_out *tls_out_of(const SSL *ssl);

// tls_out_gate is tls_hook_gate for an origin connection (OUTBOUND_START, VERIFY_SERVER).
enum tls_hook_verdict tls_out_gate(struct tls_out *o, enum tls_hook h);

// tls_out_hook_done records that point h finished and calls the resume callback (hooks/).
void tls_out_hook_done(struct tls_out *o, enum tls_hook h, bool ok);

// tls_out_close runs ssl's OUTBOUND_CLOSE hooks once, if a state is attached. Owning worker.
void tls_out_close(SSL *ssl);

// Accessors for hooks/ (owning worker), as for tls_conn. tls_out_pausing says whether point h
// waits for its re-enable on o.
struct tls_conn_hooks *tls_out_hooks(struct tls_out *o);
SSL *tls_out_ssl(const struct tls_out *o);
int tls_out_fd(const struct tls_out *o);
uint64_t tls_out_id(const struct tls_out *o);
const struct sockaddr *tls_out_local(const struct tls_out *o);
const struct sockaddr *tls_out_peer(const struct tls_out *o);
const char *tls_out_sni(const struct tls_out *o);
bool tls_out_pausing(const struct tls_out *o, enum tls_hook h);

// tls_conn_hook_resume moves c out of its hook wait (START -> HELLO, HOOK_WAIT -> HANDSHAKE)
// and calls its resume callback. Implemented by tls/conn.c for tls/hook.c.
void tls_conn_hook_resume(struct tls_conn *c);

#endif
