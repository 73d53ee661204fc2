// SPDX-License-Identifier: Apache-2.0
// ts/ts.h: tlsedge's plugin API: the TLS subset of Apache Traffic Server 9's C API, same names,
// types and semantics, so that a TLS plugin written for ATS builds against tlsedge with a
// recompile (`make test` compiles the sample plugins against ATS's own ts/ts.h as well).
//
// A plugin is a shared object named in plugin.config; tlsedge loads it at start-up (dlopen) and
// calls its TSPluginInit on the main thread. Build one with the flags of the installed
// pkg-config file: cc $(pkg-config --cflags --libs tlsedge-plugin) -o p.so p.c. A plugin binds to
// the BoringSSL inside tlsedge (its headers are installed beside this one): it may call any
// BoringSSL function on the objects it is given, and must not load another libcrypto.
//
// Threads. tlsedge runs workers (each owns its connections), task threads
// (proxy.config.task_threads) for slow plugin work, and the main thread. A hook continuation runs
// on the worker that owns the connection; it must not block. Functions that touch a connection
// (the TSVConn accessors) are valid only on that worker: inside a hook callback, or in a
// TS_THREAD_POOL_NET continuation running there. TSVConnReenable/ReenableEx, TSContScheduleOnPool,
// TSActionCancel, the mutex, memory and log functions may be called from any thread.
//
// Hooks. Continuations added to one hook run in the order they were added, each after the
// previous one re-enabled the connection. VCONN_START, CLIENT_HELLO and CERT pause the handshake
// until the re-enable, which may come from any thread at any later time; SERVERNAME and
// VERIFY_CLIENT do not pause (processing goes on whether or not the plugin re-enables), but
// TSVConnReenableEx(vc, TS_EVENT_ERROR) made inside their callback fails the handshake; with
// proxy.config.tlsedge.verify_client_async 1 VERIFY_CLIENT waits as well. VCONN_CLOSE runs once
// per connection after everything else on it. Order: VCONN_START, CLIENT_HELLO, SERVERNAME (only
// when the client sent SNI), CERT, VERIFY_CLIENT (with a client certificate), ..., VCONN_CLOSE.
//
// The TSVConn handed to a hook callback names the connection *and that hook invocation*: it
// re-enables that invocation only, so a late or repeated re-enable never advances another hook.
// It stays safe to use after the connection closed: accessors then return NULL/-1 and a re-enable
// is a logged no-op. Compare connections by their user arguments or TSVConnFdGet, not by the
// handle's value, which differs from one hook to the next.
#ifndef TLSEDGE_HOOKS_TS_TS_H
#define TLSEDGE_HOOKS_TS_TS_H

#include "apidefs.h" // the sibling file, never another ts/apidefs.h on the path

#ifdef __cplusplus
extern "C" {
#endif

// ---- memory ----

// TSmalloc/TSrealloc/TSstrdup/TSstrndup/TSfree: the process allocator (jemalloc). Memory from
// them may be freed with TSfree on any thread; TSfree(NULL) does nothing. TSmalloc and friends
// never return NULL: running out of memory aborts the process, as in ATS.
#define TSmalloc(s) _TSmalloc((s), TS_RES_MEM_PATH)
#define TSrealloc(p, s) _TSrealloc((p), (s), TS_RES_MEM_PATH)
#define TSstrdup(p) _TSstrdup((p), -1, TS_RES_MEM_PATH)
#define TSstrndup(p, n) _TSstrdup((p), (n), TS_RES_MEM_PATH)
#define TSfree(p) _TSfree(p)

// _TSmalloc returns size bytes (size 0: a unique pointer); path is ignored.
tsapi void *_TSmalloc(size_t size, const char *path);
// _TSrealloc resizes ptr (NULL: allocates) to size bytes.
tsapi void *_TSrealloc(void *ptr, size_t size, const char *path);
// _TSstrdup copies str (length < 0: up to its NUL; else at most length bytes), NUL-terminated.
// str NULL returns NULL.
tsapi char *_TSstrdup(const char *str, int64_t length, const char *path);
// _TSfree frees ptr; NULL does nothing.
tsapi void _TSfree(void *ptr);

// ---- plugin registration and logging ----

// TSPluginRegister records the plugin's name, vendor and contact (copied) for log lines. Valid
// only inside TSPluginInit; returns TS_ERROR elsewhere or when plugin_info or its name is NULL.
tsapi TSReturnCode TSPluginRegister(const TSPluginRegistrationInfo *plugin_info);

// TSDebug logs a debug line under tag when `-T`/proxy.config.diags.debug.tags matches tag.
// TSIsDebugTagSet says whether it would. Any thread.
tsapi void TSDebug(const char *tag, const char *format_str, ...) TS_PRINTFLIKE(2, 3);
tsapi int TSIsDebugTagSet(const char *tag);
// TSNote, TSStatus, TSWarning, TSError log a line at note, note, warning and error level,
// prefixed with the plugin's registered name. Never log key material. Any thread.
tsapi void TSStatus(const char *fmt, ...) TS_PRINTFLIKE(1, 2);
tsapi void TSNote(const char *fmt, ...) TS_PRINTFLIKE(1, 2);
tsapi void TSWarning(const char *fmt, ...) TS_PRINTFLIKE(1, 2);
tsapi void TSError(const char *fmt, ...) TS_PRINTFLIKE(1, 2);

// ---- mutexes ----

// TSMutexCreate returns a new recursive mutex, owned by the caller (never NULL). Any thread.
tsapi TSMutex TSMutexCreate(void);
// TSMutexDestroy frees an unlocked mutex no continuation uses any more. NULL does nothing.
tsapi void TSMutexDestroy(TSMutex mutexp);
// TSMutexLock/TSMutexUnlock lock and unlock (recursively). TSMutexLockTry returns TS_SUCCESS
// when it got the lock, TS_ERROR when another thread holds it. Hold a mutex briefly: a worker
// that waits for it waits with all its connections.
tsapi void TSMutexLock(TSMutex mutexp);
tsapi TSReturnCode TSMutexLockTry(TSMutex mutexp);
tsapi void TSMutexUnlock(TSMutex mutexp);

// ---- continuations ----

// TSContCreate returns a continuation that calls funcp, owned by the caller until
// TSContDestroy. mutexp (may be NULL; borrowed, must outlive the continuation) is held around
// every call of funcp. A continuation created on a worker has that worker's affinity (see
// TSContScheduleOnPool). Any thread; NULL only when funcp is NULL.
tsapi TSCont TSContCreate(TSEventFunc funcp, TSMutex mutexp);
// TSContDestroy frees contp. It must not be added to a hook or scheduled any more (cancel its
// actions first). May be called from contp's own handler. NULL does nothing.
tsapi void TSContDestroy(TSCont contp);
// TSContDataSet/TSContDataGet store and return one pointer of the plugin's (not owned).
tsapi void TSContDataSet(TSCont contp, void *data);
tsapi void *TSContDataGet(TSCont contp);
// TSContCall calls contp's handler now, on this thread, under its mutex; returns its result.
tsapi int TSContCall(TSCont contp, TSEvent event, void *edata);
// TSContMutexGet returns contp's mutex (borrowed), or NULL.
tsapi TSMutex TSContMutexGet(TSCont contp);

// TSContScheduleOnPool runs contp once after timeout milliseconds (0: as soon as possible;
// event TS_EVENT_IMMEDIATE, else TS_EVENT_TIMEOUT; edata is the TSAction) on pool tp:
// TS_THREAD_POOL_TASK runs it on a task thread (round robin; slow work belongs there),
// TS_THREAD_POOL_NET on a worker: the continuation's affinity worker (the worker it was created
// on, or last ran a hook on), else the calling worker, else worker 0. A continuation that
// handles one connection and is created in that connection's hook therefore runs on the
// connection's worker, where the TSVConn accessors are valid. Returns an action for
// TSActionCancel (valid until the continuation ran or was cancelled), or NULL when tp is not
// NET/TASK or tlsedge is stopping. Any thread, including inside TSPluginInit.
tsapi TSAction TSContScheduleOnPool(TSCont contp, TSHRTime timeout, TSThreadPool tp);
// TSActionCancel cancels a scheduled continuation that has not started running; after it ran,
// or for a handle from elsewhere, it does nothing. Any thread.
tsapi void TSActionCancel(TSAction actionp);
// TSActionDone is non-zero once actionp ran or was cancelled (or is not a known action).
tsapi int TSActionDone(TSAction actionp);

// ---- hooks ----

// TSHttpHookAdd appends contp (borrowed; must live until exit) to hook id, for every connection.
// Call it from TSPluginInit (adding later is allowed; connections already past that hook do not
// see it). HTTP hooks, not implemented by tlsedge, are refused with an error in the log.
tsapi void TSHttpHookAdd(TSHttpHookID id, TSCont contp);

// TSVConnReenable lets the connection go on after the hook invocation sslvcp names:
// the next continuation on the same hook runs, or the handshake resumes. Any thread, at any
// later time: from another thread it is delivered through the owning worker's mailbox. A
// re-enable for an invocation that was already re-enabled, or for a connection that closed
// meanwhile, is a logged no-op.
tsapi void TSVConnReenable(TSVConn sslvcp);
// TSVConnReenableEx is TSVConnReenable with an event: TS_EVENT_ERROR aborts the handshake with an
// alert (handshake_failure) and closes the connection; TS_EVENT_CONTINUE (or any other) goes on.
tsapi void TSVConnReenableEx(TSVConn sslvcp, TSEvent event);

// ---- connection accessors: the owning worker only (inside its hooks or NET continuations) ----

// TSVConnSslConnectionGet returns the connection's SSL (a BoringSSL `SSL *`, lent: valid until
// the callback returns or the hook is re-enabled), or NULL before the SSL exists (VCONN_START),
// after close, or on another thread. A CERT hook may change the certificate on it
// (SSL_use_certificate/SSL_use_PrivateKey, SSL_set_SSL_CTX): tlsedge honours it.
tsapi TSSslConnection TSVConnSslConnectionGet(TSVConn sslp);
// TSVConnSslVerifyCTXGet returns, in a VERIFY_CLIENT or VERIFY_SERVER hook, an X509_STORE_CTX
// holding the peer's chain, leaf first (X509_STORE_CTX_get0_cert), lent while the connection is;
// NULL before a chain was received.
tsapi TSSslVerifyCTX TSVConnSslVerifyCTXGet(TSVConn sslp);
// TSVConnFdGet returns the connection's socket (borrowed: never close it), or -1.
tsapi int TSVConnFdGet(TSVConn sslp);
// TSNetVConnRemoteAddrGet / TSNetVConnLocalAddrGet return the peer's (client's or origin's) and
// the local address (lent, valid while the connection is), or NULL.
tsapi struct sockaddr const *TSNetVConnRemoteAddrGet(TSVConn vc);
tsapi struct sockaddr const *TSNetVConnLocalAddrGet(TSVConn vc);
// TSVConnIsSsl is 1 for a TLS connection (every connection hooks see), 0 for an invalid handle.
tsapi int TSVConnIsSsl(TSVConn sslp);
// TSVConnIsSslReused is 1 when the handshake resumed a session (meaningful once it finished).
tsapi int TSVConnIsSslReused(TSVConn sslp);
// TSVConnSslSniGet returns the SNI host name the client sent (lent, valid while the
// connection is) and its length in *length (may be NULL), or NULL (length 0) when none. Valid
// from CLIENT_HELLO on (tlsedge parses the ClientHello before creating the SSL). On an outbound
// connection: the SNI tlsedge sends the origin (none for an address).
tsapi const char *TSVConnSslSniGet(TSVConn sslp, int *length);

// ---- user arguments ----

// TSUserArgIndexReserve reserves a TS_USER_ARGS_VCONN slot named name (description may be NULL;
// both copied) and stores its index in *arg_idx. Returns TS_ERROR for another type or when the
// slots are used up (16). Any thread; normally in TSPluginInit.
tsapi TSReturnCode TSUserArgIndexReserve(TSUserArgType type, const char *name,
                                         const char *description, int *arg_idx);
// TSUserArgSet/TSUserArgGet store and return one pointer (the plugin's; free it in VCONN_CLOSE)
// per connection and slot; data is the TSVConn. Owning worker only; Get returns NULL otherwise.
tsapi void TSUserArgSet(void *data, int arg_idx, void *arg);
tsapi void *TSUserArgGet(void *data, int arg_idx);

// ---- contexts ----

// TSSslContextFindByName returns the SSL_CTX tlsedge would serve for SNI name (exact, then
// wildcard, then default), or NULL. TSSslContextFindByAddr: the context for an accepting address
// (ssl_multicert dest_ip), or NULL. The context is lent from the current configuration: valid on
// a worker until its callback returns, on a task thread until the continuation returns; a
// plugin that keeps one takes its own reference (SSL_CTX_up_ref) or installs it with
// SSL_set_SSL_CTX at once. Workers and task threads only.
tsapi TSSslContext TSSslContextFindByName(const char *name);
tsapi TSSslContext TSSslContextFindByAddr(struct sockaddr const *);

// TSVConnProtocolDisable / TSVConnProtocolEnable remove or restore an ALPN protocol for this
// connection's handshake (valid until the ClientHello is processed: VCONN_START, CLIENT_HELLO).
// tlsedge speaks only "http/1.1": disabling it means the handshake answers no ALPN (the client
// may still send HTTP/1.1); any other name returns TS_ERROR. Owning worker.
tsapi TSReturnCode TSVConnProtocolDisable(TSVConn connp, const char *protocol_name);
tsapi TSReturnCode TSVConnProtocolEnable(TSVConn connp, const char *protocol_name);

// TSVConnTunnel makes the connection a blind tunnel: tlsedge stops terminating TLS and relays
// the client's bytes, starting with its ClientHello byte for byte, to the name's sni.yaml
// tunnel_route or else proxy.config.tlsedge.tunnel.default_route (none: the connection is
// closed). Valid in VCONN_START, CLIENT_HELLO, SERVERNAME and CERT hooks (from SERVERNAME the
// switch happens when the certificate is chosen); the hook must still re-enable. VCONN_CLOSE
// runs when the tunnel ends (TSVConnSslConnectionGet is NULL there: the SSL is gone). Returns
// TS_ERROR for a stale handle or an origin connection. Owning worker.
tsapi TSReturnCode TSVConnTunnel(TSVConn sslp);

// TSSslTicketKeyUpdate replaces the process ticket key block with ticketDataLength bytes of
// ticketData in ATS's key file format (N x 48 bytes: name, HMAC secret, AES key; the first key
// seals new tickets, every key opens them). The bytes are copied; the keys take effect within
// milliseconds (applied by tlsedge's main thread) for every context without a key file of its
// own (proxy.config.ssl.server.ticket_key.filename or a line's ticket_key_name), and tlsedge's
// own rotation of the process block stops: the plugin manages the keys from then on (e.g. one
// set for a fleet). Returns TS_ERROR when fewer than 48 bytes are given. Any thread.
tsapi TSReturnCode TSSslTicketKeyUpdate(char *ticketData, int ticketDataLength);

#ifdef __cplusplus
}
#endif

#endif
