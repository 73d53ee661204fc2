// SPDX-License-Identifier: Apache-2.0
// ts/apidefs.h: the types, hook IDs and event codes of tlsedge's plugin API, with the names and
// numeric values of Apache Traffic Server 9 (ts/apidefs.h), so that a TLS plugin written for ATS
// builds against tlsedge with a recompile. Only the TLS subset is implemented (see ts/ts.h); the
// HTTP hook IDs are listed so that every TLS ID keeps ATS's number.
//
// Plugins include <ts/ts.h>, which includes this file. No function is declared here.
#ifndef TLSEDGE_HOOKS_TS_APIDEFS_H
#define TLSEDGE_HOOKS_TS_APIDEFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

// tsapi marks the functions tlsedge exports to plugins (the executable is built with hidden
// visibility; only these and BoringSSL's API are in its dynamic symbol table).
#ifndef tsapi
#define tsapi __attribute__((visibility("default")))
#endif

#define TS_PRINTFLIKE(fmt_index, arg_index) __attribute__((format(printf, fmt_index, arg_index)))

// ATS tags allocations with a resource path; tlsedge accepts and ignores it.
#ifndef TS_RES_MEM_PATH
#define TS_RES_MEM_PATH "memory/plugin"
#endif

// TSReturnCode: TS_SUCCESS or TS_ERROR, as in ATS.
typedef enum {
    TS_ERROR = -1,
    TS_SUCCESS = 0,
} TSReturnCode;

// TSPluginRegistrationInfo: what TSPluginRegister records for logs. The strings are copied.
typedef struct {
    const char *plugin_name;
    const char *vendor_name;
    const char *support_email;
} TSPluginRegistrationInfo;

// TSHttpHookID: ATS's hook numbering. tlsedge runs the inbound TLS hooks (TS_VCONN_START_HOOK,
// TS_SSL_CLIENT_HELLO_HOOK, TS_SSL_SERVERNAME_HOOK, TS_SSL_CERT_HOOK, TS_SSL_VERIFY_CLIENT_HOOK,
// TS_VCONN_CLOSE_HOOK) on client connections and the outbound ones (TS_VCONN_OUTBOUND_START_HOOK:
// pauses; TS_SSL_VERIFY_SERVER_HOOK: pauses only with proxy.config.ssl.client.verify.server 2;
// TS_VCONN_OUTBOUND_CLOSE_HOOK) on its TLS connections to origins and tls_bridge peers. HTTP
// hooks are refused with an error in the log.
typedef enum {
    TS_HTTP_READ_REQUEST_HDR_HOOK,
    TS_HTTP_OS_DNS_HOOK,
    TS_HTTP_SEND_REQUEST_HDR_HOOK,
    TS_HTTP_READ_CACHE_HDR_HOOK,
    TS_HTTP_READ_RESPONSE_HDR_HOOK,
    TS_HTTP_SEND_RESPONSE_HDR_HOOK,
    TS_HTTP_REQUEST_TRANSFORM_HOOK,
    TS_HTTP_RESPONSE_TRANSFORM_HOOK,
    TS_HTTP_SELECT_ALT_HOOK,
    TS_HTTP_TXN_START_HOOK,
    TS_HTTP_TXN_CLOSE_HOOK,
    TS_HTTP_SSN_START_HOOK,
    TS_HTTP_SSN_CLOSE_HOOK,
    TS_HTTP_CACHE_LOOKUP_COMPLETE_HOOK,
    TS_HTTP_PRE_REMAP_HOOK,
    TS_HTTP_POST_REMAP_HOOK,
    TS_HTTP_RESPONSE_CLIENT_HOOK,
    TS_SSL_FIRST_HOOK,
    TS_VCONN_START_HOOK = TS_SSL_FIRST_HOOK,
    TS_VCONN_PRE_ACCEPT_HOOK = TS_VCONN_START_HOOK, // ATS's deprecated name
    TS_VCONN_CLOSE_HOOK,
    TS_SSL_CLIENT_HELLO_HOOK,
    TS_SSL_SNI_HOOK,
    TS_SSL_CERT_HOOK = TS_SSL_SNI_HOOK,
    TS_SSL_SERVERNAME_HOOK,
    TS_SSL_SERVER_VERIFY_HOOK,
    TS_SSL_VERIFY_SERVER_HOOK = TS_SSL_SERVER_VERIFY_HOOK,
    TS_SSL_VERIFY_CLIENT_HOOK,
    TS_SSL_SESSION_HOOK,
    TS_VCONN_OUTBOUND_START_HOOK,
    TS_VCONN_OUTBOUND_CLOSE_HOOK,
    TS_SSL_LAST_HOOK = TS_VCONN_OUTBOUND_CLOSE_HOOK,
    TS_HTTP_REQUEST_BUFFER_READ_COMPLETE_HOOK,
    TS_HTTP_LAST_HOOK
} TSHttpHookID;

// TSEvent: the event codes a continuation receives, ATS's numbers. A hook continuation receives
// the event of its hook (TS_EVENT_VCONN_START for TS_VCONN_START_HOOK, ...) with the TSVConn as
// edata; a scheduled continuation receives TS_EVENT_IMMEDIATE (no delay) or TS_EVENT_TIMEOUT.
typedef enum {
    TS_EVENT_NONE = 0,
    TS_EVENT_IMMEDIATE = 1,
    TS_EVENT_TIMEOUT = 2,
    TS_EVENT_ERROR = 3,
    TS_EVENT_CONTINUE = 4,

    TS_EVENT_VCONN_READ_READY = 100,
    TS_EVENT_VCONN_WRITE_READY = 101,
    TS_EVENT_VCONN_READ_COMPLETE = 102,
    TS_EVENT_VCONN_WRITE_COMPLETE = 103,
    TS_EVENT_VCONN_EOS = 104,
    TS_EVENT_VCONN_INACTIVITY_TIMEOUT = 105,
    TS_EVENT_VCONN_ACTIVE_TIMEOUT = 106,
    TS_EVENT_VCONN_START = 107,
    TS_EVENT_VCONN_CLOSE = 108,
    TS_EVENT_VCONN_OUTBOUND_START = 109,
    TS_EVENT_VCONN_OUTBOUND_CLOSE = 110,
    TS_EVENT_VCONN_PRE_ACCEPT = TS_EVENT_VCONN_START,

    TS_EVENT_HTTP_CONTINUE = 60000,
    TS_EVENT_HTTP_ERROR = 60001,

    TS_EVENT_SSL_CERT = 60203,
    TS_EVENT_SSL_SERVERNAME = 60204,
    TS_EVENT_SSL_VERIFY_SERVER = 60205,
    TS_EVENT_SSL_VERIFY_CLIENT = 60206,
    TS_EVENT_SSL_CLIENT_HELLO = 60207,
} TSEvent;

// TSThreadPool: where TSContScheduleOnPool runs a continuation. TS_THREAD_POOL_NET: a worker
// (see TSContScheduleOnPool for which); TS_THREAD_POOL_TASK: the task threads
// (proxy.config.task_threads). DNS and UDP are not implemented (refused).
typedef enum {
    TS_THREAD_POOL_NET,
    TS_THREAD_POOL_TASK,
    TS_THREAD_POOL_DNS,
    TS_THREAD_POOL_UDP
} TSThreadPool;

// TSUserArgType: kinds of user argument slots; tlsedge implements TS_USER_ARGS_VCONN.
typedef enum {
    TS_USER_ARGS_TXN,
    TS_USER_ARGS_SSN,
    TS_USER_ARGS_VCONN,
    TS_USER_ARGS_GLB,
    TS_USER_ARGS_COUNT
} TSUserArgType;

// TSHRTime: a duration; TSContScheduleOnPool takes milliseconds, as ATS 9 does.
typedef int64_t TSHRTime;

// Opaque handles. None of them is a pointer a plugin may dereference: a TSVConn is a checked
// handle (worker, slot, generation, hook invocation) and stays safe to pass after the connection
// is gone; the SSL ones are BoringSSL objects cast to ATS's type names.
typedef struct tsapi_mutex *TSMutex;
typedef struct tsapi_cont *TSCont;
typedef struct tsapi_cont *TSVConn; // as in ATS, a VConn is a kind of continuation
typedef struct tsapi_action *TSAction;
typedef struct tsapi_ssl_obj *TSSslConnection;     // an SSL *
typedef struct tsapi_ssl_context *TSSslContext;    // an SSL_CTX *
typedef struct tsapi_x509_store_ctx *TSSslVerifyCTX; // an X509_STORE_CTX *

// TSEventFunc: a continuation's handler, called with the event and its data. The return value
// is ignored by tlsedge (ATS ignores it for hooks too).
typedef int (*TSEventFunc)(TSCont contp, TSEvent event, void *edata);

// TSPluginInit: each plugin defines it; tlsedge calls it once on the main thread at start-up,
// with argv[0] the plugin's path and the plugin.config arguments after it (valid for the call
// only; copy what you keep).
extern tsapi void TSPluginInit(int argc, const char *argv[]);

#ifdef __cplusplus
}
#endif

#endif
