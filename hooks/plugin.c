// SPDX-License-Identifier: Apache-2.0
// hooks/plugin.c: plugin.config loading (dlopen, TSPluginInit), TSPluginRegister, the log and
// memory functions of the plugin API, and the plugin runtime's records.config names.
//
// plugin.config (ATS syntax): one plugin per line, `path [args...]`, `#` starts a comment, a
// path is relative to proxy.config.plugin.plugin_dir (itself relative to the configuration
// directory), arguments may be double-quoted, and an argument `$record.name` is replaced by that
// record's value. Plugins are loaded once at start-up, in file order; a plugin that cannot be
// loaded or lacks TSPluginInit stops start-up with plugin.config:LINE, the plugin and dlerror().
// A line naming a built-in plugin (hook_builtin_register: tls_bridge.so) is not loaded: the
// module that builds it reads its arguments (hook_plugins_builtin) with every snapshot.
#include "core/err.h"
#include "core/log.h"
#include "core/records.h"
#include "hooks/hook.h"
#include "hooks/internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARGS_MAX 64
#define PLUGINS_MAX 64
#define LINE_MAX_LEN 4096
#define BUILTINS_MAX 8

typedef void (*plugin_init_fn)(int argc, const char *argv[]);

// struct plugin: one loaded plugin; lives until exit (plugins are never unloaded, as in ATS).
struct plugin {
    char *path;
    char *name; // TSPluginRegister's name, or the file name
    void *dl;
    uintptr_t lo, hi; // where its code is mapped, from dladdr of TSPluginInit (approximate)
};

static struct plugin plugins[PLUGINS_MAX];
static int nplugins;
static struct plugin *initialising;
static char *builtins[BUILTINS_MAX]; // file names of built-in plugins (main thread)
static int nbuiltins;

static const struct core_rec_decl hook_recs[] = {
    {"proxy.config.plugin.plugin_dir", CORE_REC_STRING, "plugins"},
    {"proxy.config.task_threads", CORE_REC_INT, "2"},
    {"proxy.config.tlsedge.verify_client_async", CORE_REC_INT, "0"},
};

int hook_config_declare(struct core_records *rec)
{
    return core_records_declare_all(rec, hook_recs, sizeof(hook_recs) / sizeof(hook_recs[0]));
}

bool hook_plugin_initialising(void)
{
    return initialising != NULL;
}

// ---- memory ----

void *_TSmalloc(size_t size, const char *path)
{
    void *p = malloc(size ? size : 1);
    if (!p) {
        core_log_error("plugin: out of memory (%zu bytes)", size);
        abort();
    }
    return p;
}

void *_TSrealloc(void *ptr, size_t size, const char *path)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p) {
        core_log_error("plugin: out of memory (%zu bytes)", size);
        abort();
    }
    return p;
}

char *_TSstrdup(const char *str, int64_t length, const char *path)
{
    if (!str)
        return NULL;
    size_t n = length < 0 ? strlen(str) : strnlen(str, (size_t)length);
    char *p = _TSmalloc(n + 1, path);
    memcpy(p, str, n);
    p[n] = '\0';
    return p;
}

void _TSfree(void *ptr)
{
    free(ptr);
}

// ---- logging ----

const char *hook_plugin_name_of(const void *pc)
{
    Dl_info info;
    if (!dladdr(pc, &info) || !info.dli_fbase)
        return NULL;
    for (int i = 0; i < nplugins; i++)
        if (plugins[i].lo == (uintptr_t)info.dli_fbase)
            return plugins[i].name;
    return NULL;
}

static void plugin_log(enum core_log_level level, const void *caller, const char *fmt, va_list ap)
{
    char line[2048];
    vsnprintf(line, sizeof(line), fmt, ap);
    const char *name = initialising ? initialising->name : hook_plugin_name_of(caller);
    core_log(level, "[%s] %s", name ? name : "plugin", line);
}

#define PLUGIN_LOG_FN(fn, level)                                                                   \
    void fn(const char *fmt, ...)                                                                  \
    {                                                                                              \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        plugin_log(level, __builtin_return_address(0), fmt, ap);                                   \
        va_end(ap);                                                                                \
    }

PLUGIN_LOG_FN(TSStatus, CORE_LOG_NOTE)
PLUGIN_LOG_FN(TSNote, CORE_LOG_NOTE)
PLUGIN_LOG_FN(TSWarning, CORE_LOG_WARNING)
PLUGIN_LOG_FN(TSError, CORE_LOG_ERROR)

int TSIsDebugTagSet(const char *tag)
{
    return tag && core_log_debug_on(tag);
}

void TSDebug(const char *tag, const char *format_str, ...)
{
    if (!tag || !core_log_debug_on(tag))
        return;
    char line[2048];
    va_list ap;
    va_start(ap, format_str);
    vsnprintf(line, sizeof(line), format_str, ap);
    va_end(ap);
    core_log_debug(tag, "%s", line);
}

// ---- registration ----

TSReturnCode TSPluginRegister(const TSPluginRegistrationInfo *plugin_info)
{
    if (!initialising || !plugin_info || !plugin_info->plugin_name) {
        core_log_error("plugin: TSPluginRegister is valid only inside TSPluginInit, with a name");
        return TS_ERROR;
    }
    char *name = strdup(plugin_info->plugin_name);
    if (!name)
        return TS_ERROR;
    free(initialising->name);
    initialising->name = name;
    core_log_note("plugin %s registered (%s, %s)", name,
                  plugin_info->vendor_name ? plugin_info->vendor_name : "no vendor",
                  plugin_info->support_email ? plugin_info->support_email : "no contact");
    return TS_SUCCESS;
}

// ---- plugin.config ----

struct line_ctx {
    const char *file; // for messages: "plugin.config"
    int line;
    const struct core_records *rec;
    struct core_err *err;
};

// Splits s (modified in place) into at most ARGS_MAX words: blanks separate, "double quotes"
// group, # outside quotes ends the line. Returns the count, or -EINVAL (reason in err).
static int split(char *s, char **argv, const struct line_ctx *lc)
{
    int n = 0;
    for (char *p = s;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        if (!*p || *p == '#')
            return n;
        if (n == ARGS_MAX) {
            core_err_add(lc->err, lc->file, lc->line, "more than %d arguments", ARGS_MAX);
            return -EINVAL;
        }
        bool quoted = *p == '"';
        char *start = quoted ? ++p : p;
        while (*p && (quoted ? *p != '"' : !strchr(" \t\r\n", *p)))
            p++;
        if (quoted && *p != '"') {
            core_err_add(lc->err, lc->file, lc->line, "unterminated quote");
            return -EINVAL;
        }
        argv[n++] = start;
        if (*p)
            *p++ = '\0';
    }
}

// Replaces each `$record.name` argument by the record's value (copies in vals).
static int expand(char **argv, int argc, char vals[][PATH_MAX], const struct line_ctx *lc)
{
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] != '$' || !argv[i][1])
            continue;
        if (core_records_format(lc->rec, argv[i] + 1, vals[i], PATH_MAX) < 0) {
            core_err_add(lc->err, lc->file, lc->line, "%s: no such record", argv[i]);
            return -EINVAL;
        }
        argv[i] = vals[i];
    }
    return 0;
}

static void plugin_path(char *out, size_t len, const char *confdir, const char *dir,
                        const char *name)
{
    if (name[0] == '/')
        snprintf(out, len, "%s", name);
    else if (dir[0] == '/')
        snprintf(out, len, "%s/%s", dir, name);
    else
        snprintf(out, len, "%s/%s/%s", confdir, dir, name);
}

static int load_one(const char *path, int argc, char **argv, const struct line_ctx *lc)
{
    if (nplugins == PLUGINS_MAX) {
        core_err_add(lc->err, lc->file, lc->line, "more than %d plugins", PLUGINS_MAX);
        return -ENOSPC;
    }
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    plugin_init_fn init = dl ? (plugin_init_fn)dlsym(dl, "TSPluginInit") : NULL;
    if (!init) {
        core_err_add(lc->err, lc->file, lc->line, "cannot load plugin %s: %s", argv[0],
                     dlerror());
        if (dl)
            dlclose(dl);
        return -ENOENT;
    }
    struct plugin *p = &plugins[nplugins++];
    Dl_info info;
    p->path = strdup(path);
    const char *base = strrchr(path, '/');
    p->name = strdup(base ? base + 1 : path);
    p->dl = dl;
    if (dladdr((void *)init, &info))
        p->lo = (uintptr_t)info.dli_fbase;
    argv[0] = p->path ? p->path : argv[0];
    core_log_note("loading plugin %s (%d arguments)", path, argc - 1);
    initialising = p;
    init(argc, (const char **)argv);
    initialising = NULL;
    return 0;
}

static const char *file_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static bool is_builtin(const char *plugin)
{
    for (int i = 0; i < nbuiltins; i++)
        if (strcmp(file_name(plugin), builtins[i]) == 0)
            return true;
    return false;
}

int hook_builtin_register(const char *name)
{
    if (nbuiltins == BUILTINS_MAX)
        return -ENOSPC;
    if (!(builtins[nbuiltins] = strdup(name)))
        return -ENOMEM;
    nbuiltins++;
    return 0;
}

// line_fn handles the argc words of one plugin.config line (argv[argc] is NULL).
typedef int (*line_fn)(int argc, char **argv, const struct line_ctx *lc, void *ctx);

static int load_line(char *text, line_fn fn, void *ctx, const struct line_ctx *lc)
{
    char *argv[ARGS_MAX + 1];
    static char vals[ARGS_MAX][PATH_MAX]; // main thread only
    int argc = split(text, argv, lc);
    if (argc <= 0)
        return argc;
    argv[argc] = NULL;
    if (expand(argv, argc, vals, lc) < 0)
        return -EINVAL;
    return fn(argc, argv, lc, ctx);
}

// Reads plugin.config in confdir line by line, handing each line's words to fn. Returns 0 (no
// file included), or the first negative result.
static int scan(const char *confdir, const struct core_records *rec, line_fn fn, void *ctx,
                struct core_err *err)
{
    if (!confdir)
        return 0;
    char file[PATH_MAX];
    snprintf(file, sizeof(file), "%s/plugin.config", confdir);
    FILE *f = fopen(file, "r");
    if (!f)
        return errno == ENOENT ? 0 : (core_err_add(err, file, 0, "%s", strerror(errno)), -errno);
    struct line_ctx lc = {.file = "plugin.config", .rec = rec, .err = err};
    char text[LINE_MAX_LEN];
    int rc = 0;
    while (rc == 0 && fgets(text, sizeof(text), f)) {
        lc.line++;
        if (!strchr(text, '\n') && !feof(f)) {
            core_err_add(err, lc.file, lc.line, "line longer than %d bytes", LINE_MAX_LEN - 1);
            rc = -EINVAL;
            break;
        }
        rc = load_line(text, fn, ctx, &lc);
    }
    fclose(f);
    return rc < 0 ? rc : 0;
}

struct load_ctx {
    const char *confdir;
    const char *dir; // proxy.config.plugin.plugin_dir
};

static int load_words(int argc, char **argv, const struct line_ctx *lc, void *ctx)
{
    const struct load_ctx *l = ctx;
    if (is_builtin(argv[0])) {
        core_log_note("%s:%d: %s is built into tlsedge (%d arguments)", lc->file, lc->line,
                      file_name(argv[0]), argc - 1);
        return 0;
    }
    char path[PATH_MAX];
    plugin_path(path, sizeof(path), l->confdir, l->dir, argv[0]);
    return load_one(path, argc, argv, lc);
}

int hook_plugins_load(const char *confdir, const struct core_records *rec, struct core_err *err)
{
    if (!confdir)
        return 0;
    hook_verify_client_async =
        core_records_get_int(rec, "proxy.config.tlsedge.verify_client_async") != 0;
    struct load_ctx l = {confdir, core_records_get_str(rec, "proxy.config.plugin.plugin_dir")};
    return scan(confdir, rec, load_words, &l, err);
}

struct builtin_ctx {
    const char *name;
    hook_builtin_fn fn;
    void *arg;
};

static int builtin_words(int argc, char **argv, const struct line_ctx *lc, void *ctx)
{
    const struct builtin_ctx *b = ctx;
    if (strcmp(file_name(argv[0]), b->name) == 0)
        b->fn(b->arg, argc, (const char **)argv, lc->file, lc->line, lc->err);
    return 0;
}

int hook_plugins_builtin(const char *confdir, const struct core_records *rec, const char *name,
                         hook_builtin_fn fn, void *arg, struct core_err *err)
{
    struct builtin_ctx b = {name, fn, arg};
    return scan(confdir, rec, builtin_words, &b, err);
}
