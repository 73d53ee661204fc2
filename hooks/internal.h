// SPDX-License-Identifier: Apache-2.0
// hooks/internal.h: what hooks/ files share (no other module includes this): continuations,
// running one on a chosen thread, the task pool, and the plugin currently initialising.
#ifndef TLSEDGE_HOOKS_INTERNAL_H
#define TLSEDGE_HOOKS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <ts/ts.h>

struct core_worker;

#define HOOK_CONT_MAGIC 0x636f6e74u // "cont"

// struct hook_cont is what a TSCont points at. Owned by the plugin (TSContCreate/Destroy).
struct hook_cont {
    uint32_t magic;
    TSEventFunc fn;
    TSMutex mutex; // borrowed from the plugin, may be NULL
    void *data;
    int affinity; // net worker id it was created on, or -1
};

// hook_cont_get returns contp as a continuation, or NULL (with an error logged) when it is NULL,
// a TSVConn handle or not a continuation.
struct hook_cont *hook_cont_get(TSCont contp, const char *caller);

// hook_cont_call runs cont's handler under its mutex. Returns the handler's result.
int hook_cont_call(struct hook_cont *cont, TSEvent event, void *edata);

// hook_net_self returns the index of the net worker running the calling thread, or -1 (main
// thread, task threads, other threads).
int hook_net_self(void);

// hook_net_worker returns net worker i (0 <= i < hook_net_count()), or NULL.
struct core_worker *hook_net_worker(int i);

// hook_net_count returns the number of net workers (0 before hook_runtime_start).
int hook_net_count(void);

// hook_on_task_thread is true on a task thread.
bool hook_on_task_thread(void);

// hook_vconn_start installs the tls/ hook points (hooks/vconn.c). Returns 0 or -ENOMEM.
int hook_vconn_start(int nworkers);

// hook_vconn_stop frees the per-worker handle tables (after the workers were joined).
void hook_vconn_stop(void);

// hook_ctx_release drops the SSL_CTX references TSSslContextFind* lent a task-thread
// continuation; called after each continuation returns on a task thread.
void hook_ctx_release(void);

// hook_plugin_initialising is true while a TSPluginInit runs (main thread).
bool hook_plugin_initialising(void);

// hook_plugin_name_of returns the registered name of the plugin whose code holds address pc, or
// NULL. Any thread.
const char *hook_plugin_name_of(const void *pc);

// hook_verify_client_async is proxy.config.tlsedge.verify_client_async (set at start).
extern bool hook_verify_client_async;

#endif
