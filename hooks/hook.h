// SPDX-License-Identifier: Apache-2.0
// hooks/hook.h: the plugin runtime as core/main.c sees it: its records.config names, the task
// threads and the tls/ hook points it attaches to, and plugin.config loading.
//
// Threads: every function here runs on the main thread, in the order declare, start, load
// (before the workers start), stop (after they were joined).
#ifndef TLSEDGE_HOOKS_HOOK_H
#define TLSEDGE_HOOKS_HOOK_H

struct core_err;
struct core_records;
struct core_workers;

// hook_config_declare declares proxy.config.plugin.plugin_dir, proxy.config.task_threads and
// proxy.config.tlsedge.verify_client_async with their defaults. Returns 0 or a negative errno.
int hook_config_declare(struct core_records *rec);

// hook_stats_register registers the plugin runtime's counters. Main thread, with the other
// modules' counters (before any thread attaches).
void hook_stats_register(void);

// hook_runtime_start starts task_threads task threads (at least 1; RCU-registered) for
// TS_THREAD_POOL_TASK, remembers the workers net (borrowed; created, not necessarily started)
// for TS_THREAD_POOL_NET and connection handles, and installs the hook points into tls/.
// Returns 0 or a negative errno.
int hook_runtime_start(struct core_workers *net, int task_threads);

// hook_runtime_stop stops and joins the task threads and frees scheduled actions that never ran.
// After the workers were joined; the caller is offline for RCU. Plugins stay loaded.
void hook_runtime_stop(void);

// hook_plugins_load reads plugin.config from confdir (NULL, or no file: no plugins), loads each
// plugin (path relative to proxy.config.plugin.plugin_dir, itself relative to confdir) and calls
// its TSPluginInit with its arguments ($record.name expanded from rec). Returns 0, or a
// negative errno with the first failure in err naming plugin.config:LINE, the plugin and
// dlerror(); start-up must then stop. After hook_runtime_start.
int hook_plugins_load(const char *confdir, const struct core_records *rec, struct core_err *err);

// hook_builtin_fn receives the words of one plugin.config line that names a built-in plugin:
// argv[0] is the plugin as written, argv[1..argc) its arguments ($record.name expanded); file
// and line name the line for messages, which go to err. arg is the caller's.
typedef void (*hook_builtin_fn)(void *arg, int argc, const char **argv, const char *file,
                                int line, struct core_err *err);

// hook_builtin_register makes name (a file name such as "tls_bridge.so"; copied) a built-in
// plugin: a plugin.config line whose plugin path ends in that file name is not loaded with
// dlopen (no such file needs to exist); the module that builds it reads the line with
// hook_plugins_builtin instead. Returns 0, -ENOSPC or -ENOMEM. Main thread, before
// hook_plugins_load.
int hook_builtin_register(const char *name);

// hook_plugins_builtin reads plugin.config in confdir (NULL, or no file: nothing to do) and
// calls fn(arg, ...) for each line, in file order, whose plugin path ends in the file name name.
// Used at start-up and on every reload, since a built-in plugin's arguments are part of the
// configuration snapshot. Returns 0, or a negative errno with the problem in err (an
// unreadable file, a line too long, an unterminated quote, a $record that does not exist).
// Main thread.
int hook_plugins_builtin(const char *confdir, const struct core_records *rec, const char *name,
                         hook_builtin_fn fn, void *arg, struct core_err *err);

#endif
