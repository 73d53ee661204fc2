// SPDX-License-Identifier: Apache-2.0
// core/err.h: the error collector that configuration and parse code fills instead of printing.
//
// A parser records every problem it finds (file, line, reason) and carries on where it can, so
// that `tlsedge -t` and a failed reload list all of them at once. Warnings (unknown names, an
// expired certificate) are collected beside errors and never make a load fail. The collector is
// plain caller storage: any thread may use its own; it is not shared between threads.
// Reasons never carry key material, PINs or ticket keys.
#ifndef TLSEDGE_CORE_ERR_H
#define TLSEDGE_CORE_ERR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define CORE_ERR_KEEP 32
#define CORE_ERR_REASON_MAX 240
#define CORE_ERR_FILE_MAX 160

struct core_err_entry {
    bool warning;
    int line; // 0: the problem concerns the whole file (or no file)
    char file[CORE_ERR_FILE_MAX];
    char reason[CORE_ERR_REASON_MAX];
};

// struct core_err: caller storage (about 13 KiB); initialise with core_err_init().
struct core_err {
    int errors;   // errors recorded (may exceed the number kept)
    int warnings; // warnings recorded
    int kept;     // entries kept in order of arrival, at most CORE_ERR_KEEP
    struct core_err_entry entry[CORE_ERR_KEEP];
};

// core_err_init empties err.
void core_err_init(struct core_err *err);

// core_err_add records an error about file (may be NULL) at line (0: none) with a printf-style
// reason. err may be NULL, in which case nothing is recorded.
void core_err_add(struct core_err *err, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

// core_err_warn records a warning the same way; warnings never fail a load.
void core_err_warn(struct core_err *err, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

// core_err_vreport records an error, or a warning when warning is set, with a va_list reason:
// for parsers that wrap reporting in their own printf-style helper.
void core_err_vreport(struct core_err *err, bool warning, const char *file, int line,
                      const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

// core_err_failed is true when err holds at least one error (warnings do not count).
bool core_err_failed(const struct core_err *err);

// core_err_format writes entry i of err as "file:line: reason" (or "file: reason", or
// "reason") into buf of len bytes, always NUL-terminated. Returns buf.
char *core_err_format(const struct core_err *err, int i, char *buf, size_t len);

#endif
