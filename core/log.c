// SPDX-License-Identifier: Apache-2.0
// core/log.c: diagnostics output and debug tags (see core/log.h).
//
// The output descriptor never changes number: reopening dup2()s the new file over it, so a
// thread writing while the main thread reopens writes to either the old or the new file and
// never to a closed descriptor.
#include "core/log.h"
#include "core/err.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static atomic_bool debug_enabled;
static atomic_int log_fd = 2;
static regex_t tag_re;
static bool tag_re_valid;
static char log_path[PATH_MAX];
// The transaction log (squid.log): its descriptor (-1 until first opened; kept by number like
// log_fd), its path, and whether lines are written now.
static atomic_int access_fd = -1;
static char access_path[PATH_MAX];
static atomic_bool access_on;
// A worker's transaction lines wait here until the end of its loop iteration (one write(2) for
// all the transactions one batch of events ended); other threads write each line at once.
#define ACCESS_BUF 65536
static __thread struct access_buf {
    bool on;
    char *data; // ACCESS_BUF bytes once the thread logs a transaction
    size_t len;
} abuf;
// Guards tag_re while the main thread swaps it; taken only when debug output is on.
static pthread_rwlock_t tag_lock = PTHREAD_RWLOCK_INITIALIZER;

static const char *level_name[] = {
    [CORE_LOG_ERROR] = "ERROR",
    [CORE_LOG_WARNING] = "WARNING",
    [CORE_LOG_NOTE] = "NOTE",
    [CORE_LOG_DEBUG] = "DEBUG",
};

static void write_line(const char *level, const char *tag, const char *fmt, va_list ap)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "[%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ] %s%s%s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, level, tag ? " " : "", tag ? tag : "");
    if (n < 0 || (size_t)n >= sizeof(line))
        return;
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    ssize_t w = write(atomic_load_explicit(&log_fd, memory_order_relaxed), line, len);
    (void)w;
}

void core_log(enum core_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    write_line(level_name[level], NULL, fmt, ap);
    va_end(ap);
}

bool core_log_debug_on(const char *tag)
{
    if (!atomic_load_explicit(&debug_enabled, memory_order_relaxed))
        return false;
    bool on = false;
    pthread_rwlock_rdlock(&tag_lock);
    if (tag_re_valid)
        on = regexec(&tag_re, tag, 0, NULL, 0) == 0;
    pthread_rwlock_unlock(&tag_lock);
    return on;
}

void core_log_debug(const char *tag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    write_line("DEBUG", tag, fmt, ap);
    va_end(ap);
}

static int set_tags(const char *tags, struct core_err *err)
{
    regex_t re;
    bool valid = false;
    if (tags && tags[0]) {
        // ATS matches the expression at the start of the tag: "ssl" enables "ssl_sni" too.
        size_t len = strlen(tags) + 8;
        char *anchored = malloc(len);
        if (!anchored)
            return -ENOMEM;
        snprintf(anchored, len, "^(%s)", tags);
        int rc = regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB);
        free(anchored);
        if (rc != 0) {
            core_err_add(err, "records.config", 0,
                         "proxy.config.diags.debug.tags: bad regular expression '%s'", tags);
            return -EINVAL;
        }
        valid = true;
    }
    pthread_rwlock_wrlock(&tag_lock);
    if (tag_re_valid)
        regfree(&tag_re);
    if (valid)
        tag_re = re;
    tag_re_valid = valid;
    pthread_rwlock_unlock(&tag_lock);
    return 0;
}

// Opens path for appending as the file behind *slot: the first time (*slot is `initial`) the new
// descriptor becomes *slot; later the new file is dup2()ed over it, so the number never changes.
static int open_log(atomic_int *slot, int initial, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    int cur = atomic_load(slot);
    if (cur == initial) {
        atomic_store(slot, fd);
        return 0;
    }
    if (dup2(fd, cur) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    close(fd);
    return 0;
}

// Makes logdir/name the file behind *slot (see open_log) unless cur (PATH_MAX bytes) already
// names it; cur then holds the path. Returns 0, or a negative errno recorded in err.
static int use_file(atomic_int *slot, int initial, char *cur, const char *logdir,
                    const char *name, struct core_err *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", logdir, name);
    if (strcmp(path, cur) == 0)
        return 0;
    int rc = open_log(slot, initial, path);
    if (rc < 0) {
        core_err_add(err, path, 0, "cannot open log file: %s", strerror(-rc));
        return rc;
    }
    snprintf(cur, PATH_MAX, "%s", path);
    return 0;
}

int core_log_configure(bool debug, const char *tags, const char *logdir, struct core_err *err)
{
    int rc = set_tags(tags, err);
    if (rc < 0)
        return rc;
    if (logdir && logdir[0]) {
        rc = use_file(&log_fd, 2, log_path, logdir, "diags.log", err);
        if (rc < 0)
            return rc;
    }
    atomic_store(&debug_enabled, debug);
    return 0;
}

int core_log_reopen(void)
{
    int rc = log_path[0] ? open_log(&log_fd, 2, log_path) : 0;
    int rc2 = access_path[0] ? open_log(&access_fd, -1, access_path) : 0;
    return rc < 0 ? rc : rc2;
}

int core_log_access_configure(bool on, const char *logdir, struct core_err *err)
{
    if (!on || !logdir || !logdir[0]) {
        atomic_store(&access_on, false);
        return 0;
    }
    int rc = use_file(&access_fd, -1, access_path, logdir, "squid.log", err);
    if (rc < 0)
        return rc;
    atomic_store(&access_on, true);
    return 0;
}

bool core_log_access_on(void)
{
    return atomic_load_explicit(&access_on, memory_order_relaxed);
}

// Writes len bytes at data to the transaction log, retrying short writes.
static void access_put(const char *data, size_t len)
{
    int fd = atomic_load_explicit(&access_fd, memory_order_relaxed);
    while (fd >= 0 && len > 0) {
        ssize_t w = write(fd, data, len);
        if (w <= 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; // a full disk: the lines are lost, the proxy goes on
        data += w;
        len -= (size_t)w;
    }
}

void core_log_access_buffer_thread(void)
{
    abuf.on = true;
}

void core_log_access_flush(void)
{
    if (abuf.len > 0)
        access_put(abuf.data, abuf.len);
    abuf.len = 0;
}

void core_log_access_thread_done(void)
{
    core_log_access_flush();
    free(abuf.data);
    abuf = (struct access_buf){0};
}

void core_log_access_write(const char *line, size_t len)
{
    if (!core_log_access_on())
        return;
    if (abuf.on && !abuf.data)
        abuf.data = malloc(ACCESS_BUF);
    if (!abuf.data || len > ACCESS_BUF) {
        access_put(line, len);
        return;
    }
    if (abuf.len + len > ACCESS_BUF)
        core_log_access_flush();
    memcpy(abuf.data + abuf.len, line, len);
    abuf.len += len;
}

void core_log_errs(const struct core_err *err)
{
    char buf[CORE_ERR_FILE_MAX + CORE_ERR_REASON_MAX + 32];
    for (int i = 0; i < err->kept; i++)
        core_log(err->entry[i].warning ? CORE_LOG_WARNING : CORE_LOG_ERROR, "%s",
                 core_err_format(err, i, buf, sizeof(buf)));
    int total = err->errors + err->warnings;
    if (total > err->kept)
        core_log_error("%d more problems not shown", total - err->kept);
}
