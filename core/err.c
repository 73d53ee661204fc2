// SPDX-License-Identifier: Apache-2.0
// core/err.c: the error collector (see core/err.h).
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void core_err_init(struct core_err *err)
{
    err->errors = 0;
    err->warnings = 0;
    err->kept = 0;
}

static void record(struct core_err *err, bool warning, const char *file, int line,
                   const char *fmt, va_list ap)
{
    if (!err)
        return;
    if (warning)
        err->warnings++;
    else
        err->errors++;
    if (err->kept >= CORE_ERR_KEEP)
        return;
    struct core_err_entry *e = &err->entry[err->kept++];
    e->warning = warning;
    e->line = line;
    snprintf(e->file, sizeof(e->file), "%s", file ? file : "");
    vsnprintf(e->reason, sizeof(e->reason), fmt, ap);
}

void core_err_vreport(struct core_err *err, bool warning, const char *file, int line,
                      const char *fmt, va_list ap)
{
    record(err, warning, file, line, fmt, ap);
}

void core_err_add(struct core_err *err, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(err, false, file, line, fmt, ap);
    va_end(ap);
}

void core_err_warn(struct core_err *err, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(err, true, file, line, fmt, ap);
    va_end(ap);
}

bool core_err_failed(const struct core_err *err)
{
    return err->errors > 0;
}

char *core_err_format(const struct core_err *err, int i, char *buf, size_t len)
{
    if (len == 0)
        return buf;
    buf[0] = '\0';
    if (i < 0 || i >= err->kept)
        return buf;
    const struct core_err_entry *e = &err->entry[i];
    if (e->file[0] && e->line > 0)
        snprintf(buf, len, "%s:%d: %s", e->file, e->line, e->reason);
    else if (e->file[0])
        snprintf(buf, len, "%s: %s", e->file, e->reason);
    else
        snprintf(buf, len, "%s", e->reason);
    return buf;
}
