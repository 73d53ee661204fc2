// SPDX-License-Identifier: Apache-2.0
// Unit tests for core/log.c's transaction log: on/off, a worker thread's buffering until its
// flush, reopening after a rotation. Each test runs in its own process (Criterion), so the
// module's file state starts fresh.
#include "core/err.h"
#include "core/log.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];
static char path[128];

static void make_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/tlsedge-logtest.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/squid.log", dir);
}

static void remove_dir(void)
{
    char rotated[160];
    snprintf(rotated, sizeof(rotated), "%s.1", path);
    unlink(rotated);
    unlink(path);
    rmdir(dir);
}

// The file's contents ("" when it does not exist).
static const char *contents(const char *p)
{
    static char buf[4096];
    buf[0] = '\0';
    FILE *f = fopen(p, "r");
    if (!f)
        return buf;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

TestSuite(core_log_access, .init = make_dir, .fini = remove_dir);

Test(core_log_access, off_without_a_directory_or_when_disabled)
{
    struct core_err err;
    core_err_init(&err);
    cr_assert_eq(core_log_access_configure(true, "", &err), 0);
    cr_assert_not(core_log_access_on());
    cr_assert_eq(core_log_access_configure(false, dir, &err), 0);
    cr_assert_not(core_log_access_on());
    core_log_access_write("x\n", 2);
    cr_assert_eq(access(path, F_OK), -1, "no file is made while off");
}

Test(core_log_access, unbuffered_threads_write_each_line)
{
    struct core_err err;
    core_err_init(&err);
    cr_assert_eq(core_log_access_configure(true, dir, &err), 0);
    cr_assert(core_log_access_on());
    core_log_access_write("one\n", 4);
    cr_assert_str_eq(contents(path), "one\n");
}

Test(core_log_access, a_buffering_thread_writes_at_its_flush)
{
    struct core_err err;
    core_err_init(&err);
    cr_assert_eq(core_log_access_configure(true, dir, &err), 0);
    core_log_access_buffer_thread();
    core_log_access_write("a\n", 2);
    core_log_access_write("b\n", 2);
    cr_assert_str_eq(contents(path), "", "nothing before the flush");
    core_log_access_flush();
    cr_assert_str_eq(contents(path), "a\nb\n");
    core_log_access_write("c\n", 2);
    core_log_access_thread_done();
    cr_assert_str_eq(contents(path), "a\nb\nc\n", "the thread's end flushes");
}

Test(core_log_access, a_full_buffer_is_written_before_it_overflows)
{
    struct core_err err;
    core_err_init(&err);
    cr_assert_eq(core_log_access_configure(true, dir, &err), 0);
    core_log_access_buffer_thread();
    static char line[1000];
    memset(line, 'x', sizeof(line) - 1);
    line[sizeof(line) - 1] = '\n';
    for (int i = 0; i < 70; i++) // 70,000 bytes: more than the 64 KiB buffer
        core_log_access_write(line, sizeof(line));
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    cr_assert(size > 0 && size % 1000 == 0 && size <= 65536, "whole lines, %ld bytes", size);
    core_log_access_thread_done();
    f = fopen(path, "r");
    fseek(f, 0, SEEK_END);
    cr_assert_eq(ftell(f), 70000);
    fclose(f);
}

Test(core_log_access, reopen_follows_a_rotation)
{
    struct core_err err;
    core_err_init(&err);
    cr_assert_eq(core_log_access_configure(true, dir, &err), 0);
    core_log_access_write("old\n", 4);
    char rotated[160];
    snprintf(rotated, sizeof(rotated), "%s.1", path);
    cr_assert_eq(rename(path, rotated), 0);
    cr_assert_eq(core_log_reopen(), 0);
    core_log_access_write("new\n", 4);
    cr_assert_str_eq(contents(rotated), "old\n");
    cr_assert_str_eq(contents(path), "new\n");
}
