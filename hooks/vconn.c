// SPDX-License-Identifier: Apache-2.0
// hooks/vconn.c: hook lists, the per-connection hook runner behind tls/'s hook points, TSVConn
// handles, re-enable, and the connection accessors of the plugin API.
//
// A TSVConn is a handle, never a pointer: (generation, invocation token, slot, worker) packed
// into an odd integer. Each worker owns a table of slots; only that worker reads or writes it.
// A connection takes a slot when its first hook runs and gives it back (generation + 1) after
// its VCONN_CLOSE hooks, so a handle kept past the close no longer matches. The token changes
// with every hook invocation, so a re-enable names the one invocation it answers: a late or
// repeated re-enable never advances a different hook (DESIGN.md section 5).
//
// Re-enable from another thread, or from the owning worker outside the hook's own callback, is
// a message to the owning worker's mailbox; only a re-enable made inside the callback itself is
// taken at once.
#include "core/assert.h"
#include "core/log.h"
#include "core/mbox.h"
#include "core/snapshot.h"
#include "core/stats.h"
#include "core/worker.h"
#include "hooks/hook.h"
#include "hooks/internal.h"
#include "tls/certtable.h"
#include "tls/tickets.h"
#include "tls/config.h"
#include "tls/conn.h"
#include "tls/hook.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu-qsbr.h>
#include <urcu/compiler.h>

#include <openssl/ssl.h>

#define LIST_MAX 64    // continuations per hook
#define USER_ARGS 16   // TS_USER_ARGS_VCONN slots
#define WORKER_BITS 8  // handle layout, from bit 1: worker, slot, token, generation
#define SLOT_BITS 20
#define TOKEN_BITS 12
#define GEN_BITS 22
#define SLOT_MAX (1u << SLOT_BITS)
#define TOKEN_MASK ((1u << TOKEN_BITS) - 1)
#define GEN_MASK ((1u << GEN_BITS) - 1)

_Static_assert(1 + WORKER_BITS + SLOT_BITS + TOKEN_BITS + GEN_BITS <= 64, "handle layout");

// struct hook_list: the continuations on one hook, appended under list_lock and read without a
// lock (the count is published after the pointer).
struct hook_list {
    _Atomic size_t n;
    struct hook_cont *c[LIST_MAX];
};

// enum inv_state: where the connection's current hook invocation stands.
enum inv_state {
    INV_IDLE,    // no continuation outstanding
    INV_CALLING, // inside a continuation's callback
    INV_WAITING, // the callback returned; waiting for its re-enable
};

// struct vconn: hooks/'s state for one connection, a client's (tls) or an origin's (out),
// owned through it (freed by its close on the owning worker).
struct vconn {
    struct tls_conn *tls; // at most one of tls and out; neither: detached (a blind tunnel's
    struct tls_out *out;  // client connection, its tls_conn gone; `gone` keeps what it knew)
    struct detached *gone;
    int worker;
    uint32_t slot, gen;
    enum tls_hook point; // the point whose chain runs (or last ran)
    size_t index;        // the continuation of that chain now outstanding
    uint32_t token;      // of the current invocation
    enum inv_state inv;
    bool inline_done; // re-enabled inside the callback
    TSEvent inline_event;
    void *args[USER_ARGS];
};

// struct detached: what a detached connection's accessors still answer.
struct detached {
    uint64_t id;
    int fd;
    struct sockaddr_storage peer, local;
    char sni[256];
};

struct slot {
    struct vconn *v; // NULL when free
    uint32_t gen;
    uint32_t next_free;
};

// struct table: one worker's slots, touched only by that worker.
struct table {
    struct slot *s;
    uint32_t cap, used, free_head; // free_head: UINT32_MAX when no freed slot waits
};

// struct reenable: a re-enable on its way to the owning worker; freed there.
struct reenable {
    struct core_msg msg;
    uintptr_t handle;
    TSEvent event;
};

static struct hook_list lists[TLS_HOOK_COUNT];
static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static struct table *tables;
static int ntables;
static _Atomic int user_args_used;
static int stat_late = -1;
bool hook_verify_client_async;

static const char *const inv_names[] = {"IDLE", "CALLING", "WAITING"};
static const unsigned inv_allowed[] = {
    [INV_IDLE] = 1u << INV_CALLING,
    [INV_CALLING] = 1u << INV_IDLE | 1u << INV_WAITING,
    [INV_WAITING] = 1u << INV_IDLE,
};

static uint64_t v_id(const struct vconn *v)
{
    return v->tls ? tls_conn_id(v->tls) : v->out ? tls_out_id(v->out) : v->gone->id;
}

// NULL for a detached connection.
static struct tls_conn_hooks *v_hooks(const struct vconn *v)
{
    return v->tls ? tls_conn_hooks(v->tls) : v->out ? tls_out_hooks(v->out) : NULL;
}

static SSL *v_ssl(const struct vconn *v)
{
    return v->tls ? tls_conn_ssl(v->tls) : v->out ? tls_out_ssl(v->out) : NULL;
}

static void set_inv(struct vconn *v, enum inv_state to)
{
    CORE_ASSERT(inv_allowed[v->inv] & (1u << to));
    CORE_DEBUG("hooks", "[%llu] invocation %s -> %s", (unsigned long long)v_id(v),
               inv_names[v->inv], inv_names[to]);
    v->inv = to;
}

static const TSEvent point_event[TLS_HOOK_COUNT] = {
    [TLS_HOOK_VCONN_START] = TS_EVENT_VCONN_START,
    [TLS_HOOK_CLIENT_HELLO] = TS_EVENT_SSL_CLIENT_HELLO,
    [TLS_HOOK_SERVERNAME] = TS_EVENT_SSL_SERVERNAME,
    [TLS_HOOK_CERT] = TS_EVENT_SSL_CERT,
    [TLS_HOOK_VERIFY_CLIENT] = TS_EVENT_SSL_VERIFY_CLIENT,
    [TLS_HOOK_VCONN_CLOSE] = TS_EVENT_VCONN_CLOSE,
    [TLS_HOOK_OUTBOUND_START] = TS_EVENT_VCONN_OUTBOUND_START,
    [TLS_HOOK_VERIFY_SERVER] = TS_EVENT_SSL_VERIFY_SERVER,
    [TLS_HOOK_OUTBOUND_CLOSE] = TS_EVENT_VCONN_OUTBOUND_CLOSE,
};

static bool pausing(const struct vconn *v, enum tls_hook h)
{
    if (v->out)
        return tls_out_pausing(v->out, h);
    return h == TLS_HOOK_VCONN_START || h == TLS_HOOK_CLIENT_HELLO || h == TLS_HOOK_CERT ||
           (h == TLS_HOOK_VERIFY_CLIENT && hook_verify_client_async);
}

// ---- hook lists ----

static int point_of(TSHttpHookID id)
{
    switch (id) {
    case TS_VCONN_START_HOOK:
        return TLS_HOOK_VCONN_START;
    case TS_SSL_CLIENT_HELLO_HOOK:
        return TLS_HOOK_CLIENT_HELLO;
    case TS_SSL_SERVERNAME_HOOK:
        return TLS_HOOK_SERVERNAME;
    case TS_SSL_CERT_HOOK:
        return TLS_HOOK_CERT;
    case TS_SSL_VERIFY_CLIENT_HOOK:
        return TLS_HOOK_VERIFY_CLIENT;
    case TS_VCONN_CLOSE_HOOK:
        return TLS_HOOK_VCONN_CLOSE;
    case TS_VCONN_OUTBOUND_START_HOOK:
        return TLS_HOOK_OUTBOUND_START;
    case TS_SSL_VERIFY_SERVER_HOOK:
        return TLS_HOOK_VERIFY_SERVER;
    case TS_VCONN_OUTBOUND_CLOSE_HOOK:
        return TLS_HOOK_OUTBOUND_CLOSE;
    default:
        return -1;
    }
}

void TSHttpHookAdd(TSHttpHookID id, TSCont contp)
{
    struct hook_cont *c = hook_cont_get(contp, "TSHttpHookAdd");
    int p = point_of(id);
    if (!c)
        return;
    if (p < 0) {
        core_log_error("plugin: TSHttpHookAdd: hook %d is not supported by tlsedge", (int)id);
        return;
    }
    pthread_mutex_lock(&list_lock);
    struct hook_list *l = &lists[p];
    size_t n = atomic_load(&l->n);
    if (n < LIST_MAX) {
        l->c[n] = c;
        atomic_store_explicit(&l->n, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&list_lock);
    if (n >= LIST_MAX)
        core_log_error("plugin: TSHttpHookAdd: more than %d continuations on hook %d", LIST_MAX,
                       (int)id);
}

static bool point_active(enum tls_hook h)
{
    return atomic_load_explicit(&lists[h].n, memory_order_relaxed) > 0;
}

// ---- handles ----

static TSVConn handle_of(const struct vconn *v)
{
    uint64_t h = (uint64_t)v->gen << (1 + WORKER_BITS + SLOT_BITS + TOKEN_BITS) |
                 (uint64_t)v->token << (1 + WORKER_BITS + SLOT_BITS) |
                 (uint64_t)v->slot << (1 + WORKER_BITS) | (uint64_t)v->worker << 1 | 1u;
    return (TSVConn)(uintptr_t)h;
}

static int handle_worker(uintptr_t h)
{
    return (h & 1) ? (int)((h >> 1) & ((1u << WORKER_BITS) - 1)) : -1;
}

static uint32_t handle_token(uintptr_t h)
{
    return (uint32_t)(h >> (1 + WORKER_BITS + SLOT_BITS)) & TOKEN_MASK;
}

// Returns the connection handle h names, on the owning worker only; NULL when h is not a
// handle, belongs to another thread, or its connection is gone.
static struct vconn *handle_get(uintptr_t h)
{
    int w = handle_worker(h);
    if (w < 0 || w >= ntables || hook_net_self() != w)
        return NULL;
    uint32_t slot = (uint32_t)(h >> (1 + WORKER_BITS)) & (SLOT_MAX - 1);
    uint32_t gen = (uint32_t)(h >> (1 + WORKER_BITS + SLOT_BITS + TOKEN_BITS)) & GEN_MASK;
    struct table *t = &tables[w];
    if (slot >= t->used || !t->s[slot].v || t->s[slot].gen != gen)
        return NULL;
    return t->s[slot].v;
}

static struct vconn *vconn_get(TSVConn vc, const char *caller)
{
    struct vconn *v = handle_get((uintptr_t)vc);
    if (!v)
        CORE_DEBUG("hooks", "%s: connection gone or not on its worker", caller);
    return v;
}

static int slot_take(struct table *t, struct vconn *v)
{
    uint32_t i = t->free_head;
    if (i != UINT32_MAX) {
        t->free_head = t->s[i].next_free;
    } else {
        if (t->used == t->cap) {
            uint32_t cap = t->cap ? t->cap * 2 : 256;
            struct slot *grown = cap <= SLOT_MAX ? realloc(t->s, cap * sizeof(*grown)) : NULL;
            if (!grown)
                return -ENOMEM;
            t->s = grown;
            t->cap = cap;
        }
        i = t->used++;
        t->s[i].gen = 0;
    }
    t->s[i].v = v;
    v->slot = i;
    v->gen = t->s[i].gen;
    return 0;
}

static void slot_give(struct table *t, struct vconn *v)
{
    struct slot *s = &t->s[v->slot];
    s->v = NULL;
    s->gen = (s->gen + 1) & GEN_MASK;
    s->next_free = t->free_head;
    t->free_head = v->slot;
}

// Returns the state of c (or o), attaching a new one (with a slot) on first use; NULL when out
// of memory.
static struct vconn *vconn_attach(struct tls_conn *c, struct tls_out *o)
{
    struct tls_conn_hooks *hk = c ? tls_conn_hooks(c) : tls_out_hooks(o);
    if (hk->state)
        return hk->state;
    int w = hook_net_self();
    struct vconn *v = w >= 0 ? calloc(1, sizeof(*v)) : NULL;
    if (!v)
        return NULL;
    v->tls = c;
    v->out = o;
    v->worker = w;
    if (slot_take(&tables[w], v) < 0) {
        free(v);
        return NULL;
    }
    hk->state = v;
    return v;
}

// ---- running a chain ----

// Runs the continuations of v->point from v->index on. Returns GO when all re-enabled (or, on a
// non-pausing point, returned), FAIL on a re-enable with TS_EVENT_ERROR inside a callback, WAIT
// when a pausing continuation is outstanding.
static enum tls_hook_verdict chain_run(struct vconn *v)
{
    struct hook_list *l = &lists[v->point];
    for (;;) {
        size_t n = atomic_load_explicit(&l->n, memory_order_acquire);
        if (v->index >= n)
            return TLS_HOOK_GO;
        struct hook_cont *c = l->c[v->index];
        v->token = (v->token + 1) & TOKEN_MASK;
        v->inline_done = false;
        set_inv(v, INV_CALLING);
        hook_cont_call(c, point_event[v->point], handle_of(v));
        if (!v->inline_done && pausing(v, v->point)) {
            set_inv(v, INV_WAITING);
            return TLS_HOOK_WAIT;
        }
        set_inv(v, INV_IDLE);
        if (v->inline_done && v->inline_event == TS_EVENT_ERROR)
            return TLS_HOOK_FAIL;
        v->index++;
    }
}

static enum tls_hook_verdict run_point(struct tls_conn *c, struct tls_out *o, enum tls_hook h)
{
    struct vconn *v = vconn_attach(c, o);
    if (!v) {
        core_log_error("[%llu] out of memory running plugin hooks",
                       (unsigned long long)(c ? tls_conn_id(c) : tls_out_id(o)));
        return TLS_HOOK_FAIL;
    }
    CORE_ASSERT(v->inv == INV_IDLE);
    v->point = h;
    v->index = 0;
    return chain_run(v);
}

static void close_point(struct tls_conn *c, struct tls_out *o, enum tls_hook h)
{
    struct vconn *v = vconn_attach(c, o);
    if (!v)
        return;
    if (v->inv == INV_WAITING)
        set_inv(v, INV_IDLE); // the outstanding hook's re-enable will find the handle stale
    v->point = h;
    v->index = 0;
    chain_run(v); // never pauses
    slot_give(&tables[v->worker], v);
    if (v_hooks(v))
        v_hooks(v)->state = NULL;
    free(v->gone);
    free(v);
}

static enum tls_hook_verdict ops_run(struct tls_conn *c, enum tls_hook h)
{
    return run_point(c, NULL, h);
}

static void ops_close(struct tls_conn *c)
{
    close_point(c, NULL, TLS_HOOK_VCONN_CLOSE);
}

static enum tls_hook_verdict ops_run_out(struct tls_out *o, enum tls_hook h)
{
    return run_point(NULL, o, h);
}

static void ops_close_out(struct tls_out *o)
{
    close_point(NULL, o, TLS_HOOK_OUTBOUND_CLOSE);
}

static void *ops_detach(struct tls_conn *c)
{
    struct vconn *v = vconn_attach(c, NULL);
    struct detached *g = v ? calloc(1, sizeof(*g)) : NULL;
    if (!g) { // out of memory: VCONN_CLOSE runs now rather than never
        if (v)
            close_point(c, NULL, TLS_HOOK_VCONN_CLOSE);
        return NULL;
    }
    if (v->inv == INV_WAITING)
        set_inv(v, INV_IDLE); // the outstanding hook's re-enable is late now
    g->id = tls_conn_id(c);
    g->fd = tls_conn_fd(c);
    const struct sockaddr *a = tls_conn_peer(c), *l = tls_conn_local(c);
    if (a)
        memcpy(&g->peer, a, a->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                     : sizeof(struct sockaddr_in));
    if (l)
        memcpy(&g->local, l, l->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                      : sizeof(struct sockaddr_in));
    const char *sni = tls_conn_hello_sni(c);
    snprintf(g->sni, sizeof(g->sni), "%s", sni ? sni : "");
    tls_conn_hooks(c)->state = NULL;
    v->tls = NULL;
    v->gone = g;
    v->token = (v->token + 1) & TOKEN_MASK; // a re-enable of an earlier hook is late from now on
    return v;
}

static void ops_close_detached(void *state)
{
    struct vconn *v = state;
    v->point = TLS_HOOK_VCONN_CLOSE;
    v->index = 0;
    chain_run(v); // never pauses
    slot_give(&tables[v->worker], v);
    free(v->gone);
    free(v);
}

static const struct tls_hook_ops hook_ops = {
    .active = point_active,
    .run = ops_run,
    .close = ops_close,
    .run_out = ops_run_out,
    .close_out = ops_close_out,
    .detach = ops_detach,
    .close_detached = ops_close_detached,
};

// ---- re-enable ----

static void reenable_arrived(struct core_msg *m)
{
    struct reenable *r = caa_container_of(m, struct reenable, msg);
    struct vconn *v = handle_get(r->handle);
    if (!v || v->inv != INV_WAITING || v->token != handle_token(r->handle)) {
        core_stat_inc(stat_late);
        CORE_DEBUG("hooks", "late re-enable ignored: %s", v ? "not the outstanding hook" : "connection closed");
        free(r);
        return;
    }
    TSEvent ev = r->event;
    free(r);
    set_inv(v, INV_IDLE);
    enum tls_hook point = v->point;
    enum tls_hook_verdict verdict = TLS_HOOK_FAIL;
    if (ev != TS_EVENT_ERROR) {
        v->index++;
        verdict = chain_run(v);
    }
    if (verdict == TLS_HOOK_WAIT)
        return;
    if (v->tls)
        tls_conn_hook_done(v->tls, point, verdict == TLS_HOOK_GO);
    else
        tls_out_hook_done(v->out, point, verdict == TLS_HOOK_GO);
}

void TSVConnReenableEx(TSVConn sslvcp, TSEvent event)
{
    uintptr_t h = (uintptr_t)sslvcp;
    int w = handle_worker(h);
    if (w < 0 || w >= ntables) {
        core_log_error("plugin: TSVConnReenable: not a connection handle");
        return;
    }
    // Inside the hook's own callback, on its worker: taken when the callback returns.
    struct vconn *v = hook_net_self() == w ? handle_get(h) : NULL;
    if (v && v->inv == INV_CALLING && v->token == handle_token(h)) {
        v->inline_done = true;
        v->inline_event = event;
        return;
    }
    struct reenable *r = malloc(sizeof(*r));
    if (!r) {
        core_log_error("plugin: TSVConnReenable: out of memory (the handshake times out)");
        return;
    }
    r->msg.fn = reenable_arrived;
    r->handle = h;
    r->event = event;
    core_worker_post(hook_net_worker(w), &r->msg);
}

void TSVConnReenable(TSVConn sslvcp)
{
    TSVConnReenableEx(sslvcp, TS_EVENT_CONTINUE);
}

// ---- accessors ----

TSSslConnection TSVConnSslConnectionGet(TSVConn sslp)
{
    struct vconn *v = vconn_get(sslp, "TSVConnSslConnectionGet");
    return v ? (TSSslConnection)v_ssl(v) : NULL;
}

TSSslVerifyCTX TSVConnSslVerifyCTXGet(TSVConn sslp)
{
    struct vconn *v = vconn_get(sslp, "TSVConnSslVerifyCTXGet");
    return v && v_hooks(v) ? (TSSslVerifyCTX)v_hooks(v)->verify_ctx : NULL;
}

int TSVConnFdGet(TSVConn sslp)
{
    struct vconn *v = vconn_get(sslp, "TSVConnFdGet");
    return !v ? -1 : v->tls ? tls_conn_fd(v->tls) : v->out ? tls_out_fd(v->out) : v->gone->fd;
}

struct sockaddr const *TSNetVConnRemoteAddrGet(TSVConn vc)
{
    struct vconn *v = vconn_get(vc, "TSNetVConnRemoteAddrGet");
    return !v       ? NULL
           : v->tls ? tls_conn_peer(v->tls)
           : v->out ? tls_out_peer(v->out)
                    : (const struct sockaddr *)&v->gone->peer;
}

struct sockaddr const *TSNetVConnLocalAddrGet(TSVConn vc)
{
    struct vconn *v = vconn_get(vc, "TSNetVConnLocalAddrGet");
    return !v       ? NULL
           : v->tls ? tls_conn_local(v->tls)
           : v->out ? tls_out_local(v->out)
                    : (const struct sockaddr *)&v->gone->local;
}

int TSVConnIsSsl(TSVConn sslp)
{
    return vconn_get(sslp, "TSVConnIsSsl") != NULL;
}

int TSVConnIsSslReused(TSVConn sslp)
{
    struct vconn *v = vconn_get(sslp, "TSVConnIsSslReused");
    SSL *ssl = v ? v_ssl(v) : NULL;
    return ssl && SSL_session_reused(ssl);
}

const char *TSVConnSslSniGet(TSVConn sslp, int *length)
{
    struct vconn *v = vconn_get(sslp, "TSVConnSslSniGet");
    // Inbound: the SNI the client sent; outbound: the SNI tlsedge sends the origin.
    const char *sni = !v       ? NULL
                      : v->tls ? tls_conn_hello_sni(v->tls)
                      : v->out ? tls_out_sni(v->out)
                               : (v->gone->sni[0] ? v->gone->sni : NULL);
    if (length)
        *length = sni ? (int)strlen(sni) : 0;
    return sni;
}

TSReturnCode TSUserArgIndexReserve(TSUserArgType type, const char *name, const char *description,
                                   int *arg_idx)
{
    if (type != TS_USER_ARGS_VCONN || !name || !arg_idx) {
        core_log_error("plugin: TSUserArgIndexReserve: only TS_USER_ARGS_VCONN is supported");
        return TS_ERROR;
    }
    int i = atomic_fetch_add(&user_args_used, 1);
    if (i >= USER_ARGS) {
        core_log_error("plugin: TSUserArgIndexReserve(%s): all %d slots are taken", name,
                       USER_ARGS);
        return TS_ERROR;
    }
    *arg_idx = i;
    CORE_DEBUG("hooks", "user arg %d reserved for '%s'", i, name);
    return TS_SUCCESS;
}

void TSUserArgSet(void *data, int arg_idx, void *arg)
{
    struct vconn *v = vconn_get(data, "TSUserArgSet");
    if (v && arg_idx >= 0 && arg_idx < USER_ARGS)
        v->args[arg_idx] = arg;
}

void *TSUserArgGet(void *data, int arg_idx)
{
    struct vconn *v = vconn_get(data, "TSUserArgGet");
    return v && arg_idx >= 0 && arg_idx < USER_ARGS ? v->args[arg_idx] : NULL;
}

// ---- contexts ----

// Contexts lent to a continuation on a task thread: referenced here and released once it
// returns (a task thread may block, so it is offline for RCU while the plugin runs).
#define LENT_MAX 16
static __thread SSL_CTX *lent[LENT_MAX];
static __thread int nlent;

void hook_ctx_release(void)
{
    while (nlent > 0)
        SSL_CTX_free(lent[--nlent]);
}

static TSSslContext ctx_find(const char *name, const struct sockaddr *addr)
{
    bool task = hook_on_task_thread();
    if (!task && hook_net_self() < 0)
        return NULL;
    if (task && nlent == LENT_MAX)
        return NULL;
    if (task)
        rcu_thread_online(); // only for the look-up and the reference
    const struct tls_config *tc = core_snapshot_part(core_snapshot_get(), CORE_SNAP_TLS);
    const struct tls_cert_entry *e = tc ? tls_certtable_lookup(tc->certs, name, addr) : NULL;
    SSL_CTX *ctx = e && e->n_chains > 0 ? e->chain[0].ctx : NULL;
    if (ctx && task) {
        if (SSL_CTX_up_ref(ctx))
            lent[nlent++] = ctx;
        else
            ctx = NULL;
    }
    if (task)
        rcu_thread_offline();
    return (TSSslContext)ctx;
}

TSSslContext TSSslContextFindByName(const char *name)
{
    return name ? ctx_find(name, NULL) : NULL;
}

TSSslContext TSSslContextFindByAddr(struct sockaddr const *addr)
{
    return addr ? ctx_find(NULL, addr) : NULL;
}

static TSReturnCode protocol_set(TSVConn connp, const char *name, bool enable, const char *caller)
{
    struct vconn *v = vconn_get(connp, caller);
    return v && v->tls && tls_conn_alpn_set(v->tls, name, enable) == 0 ? TS_SUCCESS : TS_ERROR;
}

TSReturnCode TSVConnProtocolDisable(TSVConn connp, const char *protocol_name)
{
    return protocol_set(connp, protocol_name, false, "TSVConnProtocolDisable");
}

TSReturnCode TSVConnProtocolEnable(TSVConn connp, const char *protocol_name)
{
    return protocol_set(connp, protocol_name, true, "TSVConnProtocolEnable");
}

TSReturnCode TSVConnTunnel(TSVConn sslp)
{
    struct vconn *v = vconn_get(sslp, "TSVConnTunnel");
    if (!v || !v->tls) // an origin connection cannot become a blind tunnel
        return TS_ERROR;
    tls_conn_request_tunnel(v->tls);
    return TS_SUCCESS;
}

TSReturnCode TSSslTicketKeyUpdate(char *ticketData, int ticketDataLength)
{
    if (!ticketData || ticketDataLength < TLS_TICKET_KEY_LEN)
        return TS_ERROR;
    struct tls_ticket_keys *k = tls_ticket_keys_parse((const uint8_t *)ticketData,
                                                      (size_t)ticketDataLength,
                                                      "TSSslTicketKeyUpdate", NULL);
    if (!k)
        return TS_ERROR;
    if (tls_tickets_offer_process_keys(k) < 0) {
        tls_ticket_keys_unref(k);
        return TS_ERROR;
    }
    return TS_SUCCESS;
}

// ---- runtime ----

void hook_stats_register(void)
{
    stat_late = core_stat_register("proxy.process.tlsedge.plugin_late_reenables");
}

int hook_vconn_start(int nworkers)
{
    tables = calloc((size_t)nworkers, sizeof(*tables));
    if (!tables)
        return -ENOMEM;
    for (int i = 0; i < nworkers; i++)
        tables[i].free_head = UINT32_MAX;
    ntables = nworkers;
    tls_hook_ops_set(&hook_ops);
    return 0;
}

void hook_vconn_stop(void)
{
    tls_hook_ops_set(NULL);
    for (int i = 0; i < ntables; i++)
        free(tables[i].s);
    free(tables);
    tables = NULL;
    ntables = 0;
}
