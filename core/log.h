// SPDX-License-Identifier: Apache-2.0
// core/log.h: diagnostics: errors, warnings and notes to stderr or
// proxy.config.log.logfile_dir/diags.log, and debug lines gated by tag as ATS does
// (proxy.config.diags.debug.enabled 1 and the tag matching proxy.config.diags.debug.tags, a
// regular expression anchored at the start of the tag, e.g. "ssl.*|http").
//
// Any thread may log. Each line is written with a single write(2), so lines from different
// threads never interleave. Configuration and reopen are called from the main thread only.
// Nothing logged may contain key material, PINs or ticket keys.
#ifndef TLSEDGE_CORE_LOG_H
#define TLSEDGE_CORE_LOG_H

#include <stdbool.h>
#include <stddef.h>

struct core_err;

enum core_log_level {
    CORE_LOG_ERROR,
    CORE_LOG_WARNING,
    CORE_LOG_NOTE,
    CORE_LOG_DEBUG,
};

// core_log writes one line at level. Callers normally use the wrappers below.
void core_log(enum core_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define core_log_error(...) core_log(CORE_LOG_ERROR, __VA_ARGS__)
#define core_log_warn(...) core_log(CORE_LOG_WARNING, __VA_ARGS__)
#define core_log_note(...) core_log(CORE_LOG_NOTE, __VA_ARGS__)

// core_log_debug_on is true when debug output is enabled and tag matches the tag expression.
// Cheap (one relaxed load) when debug output is off.
bool core_log_debug_on(const char *tag);

// core_log_debug writes a debug line under tag, unconditionally; use CORE_DEBUG.
void core_log_debug(const char *tag, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// CORE_DEBUG logs under tag only when the tag is enabled; arguments are not evaluated otherwise.
#define CORE_DEBUG(tag, ...)                                                                       \
    do {                                                                                           \
        if (core_log_debug_on(tag))                                                                \
            core_log_debug(tag, __VA_ARGS__);                                                      \
    } while (0)

// core_log_configure applies the logging settings: debug on/off, the tag expression tags (may be
// NULL or empty: no tag matches) and the log directory logdir (NULL or empty: stderr; otherwise
// logdir/diags.log opened for append). Returns 0, or -EINVAL for a bad expression, or a negative
// errno when the file cannot be opened, with the reason recorded in err. Main thread only.
int core_log_configure(bool debug, const char *tags, const char *logdir, struct core_err *err);

// core_log_reopen re-opens the log files, diags.log and squid.log (after rotation, on SIGUSR2).
// Returns 0 or a negative errno (a file that cannot be opened stays as it was). Main thread only.
int core_log_reopen(void);

// core_log_access_configure turns the transaction log on (on, and logdir not NULL or empty:
// logdir/squid.log, opened for append) or off. Returns 0, or a negative errno when the file
// cannot be opened, with the reason recorded in err (the log stays as it was). Main thread only.
int core_log_access_configure(bool on, const char *logdir, struct core_err *err);

// core_log_access_on is true while the transaction log is on. One relaxed load; any thread.
bool core_log_access_on(void);

// core_log_access_write appends line (len bytes, ending in a newline) to the transaction log,
// when it is on: at once, or, on a thread that called core_log_access_buffer_thread, at its
// next core_log_access_flush (whole lines, one write(2) per flush; a flush also happens when
// 64 KiB are waiting). Any thread. core_log_reopen reopens this file too.
void core_log_access_write(const char *line, size_t len);

// core_log_access_buffer_thread makes the calling thread buffer its transaction lines (the
// workers: they flush at the end of every loop iteration).
void core_log_access_buffer_thread(void);

// core_log_access_flush writes the calling thread's buffered lines. core_log_access_thread_done
// flushes and frees the thread's buffer (at the end of a worker).
void core_log_access_flush(void);
void core_log_access_thread_done(void);

// core_log_errs logs every entry of err (errors as ERROR, warnings as WARNING), and a line
// saying how many were not kept when err overflowed.
void core_log_errs(const struct core_err *err);

#endif
