// SPDX-License-Identifier: Apache-2.0
// bench/sys.c: the clock, process CPU and memory readings, the open-file limit and CPU pinning
// for tlsedge-bench (see bench/sys.h). Each reading opens, reads and closes its /proc file on
// every call: they are made a few times per run, never per operation.
#include "bench/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

uint64_t bench_sys_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_sys_self_cpu_ns(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000u +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000u;
}

// read_proc_file reads /proc/pid/name into buf (NUL-terminated, truncated to len - 1 bytes).
// Returns the number of bytes read or a negative errno (-ENOENT: no such process).
static ssize_t read_proc_file(pid_t pid, const char *name, char *buf, size_t len)
{
    char path[64];
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%ld/%s", (long)pid, name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    n = read(fd, buf, len - 1);
    if (n < 0)
        n = -errno;
    else
        buf[n] = '\0';
    close(fd);
    return n;
}

int bench_sys_proc_cpu_ns(pid_t pid, uint64_t *out)
{
    char buf[1024];
    unsigned long long utime, stime;
    long tck = sysconf(_SC_CLK_TCK);
    ssize_t n = read_proc_file(pid, "stat", buf, sizeof(buf));
    const char *p;

    if (n < 0)
        return (int)n;
    // The command name (field 2) may hold spaces and parentheses: parse after the last ')'.
    p = strrchr(buf, ')');
    if (p == NULL || tck <= 0)
        return -EPROTO;
    // After ')': state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
    // utime(14) stime(15).
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) !=
        2)
        return -EPROTO;
    *out = (uint64_t)(utime + stime) * (1000000000u / (uint64_t)tck);
    return 0;
}

int bench_sys_proc_rss_kb(pid_t pid, uint64_t *out)
{
    char buf[4096];
    ssize_t n = read_proc_file(pid, "status", buf, sizeof(buf));
    const char *p;

    if (n < 0)
        return (int)n;
    p = strstr(buf, "\nVmRSS:");
    if (p == NULL)
        return -EPROTO;
    *out = strtoull(p + 7, NULL, 10);
    return 0;
}

// nr_open returns /proc/sys/fs/nr_open, the most a hard RLIMIT_NOFILE may be, or 1048576.
static uint64_t nr_open(void)
{
    char buf[32];
    ssize_t n;
    int fd = open("/proc/sys/fs/nr_open", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return 1048576;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 1048576;
    buf[n] = '\0';
    return strtoull(buf, NULL, 10);
}

int bench_sys_raise_nofile(uint64_t need)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -errno;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= need)
        return 0;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
        struct rlimit up = {.rlim_cur = need, .rlim_max = need};
        uint64_t cap = nr_open();

        if (up.rlim_max > cap)
            up.rlim_cur = up.rlim_max = cap;
        // Only a privileged process may raise the hard limit; failing that, use what there is.
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl = up;
    }
    rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need) ? need : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -errno;
    return rl.rlim_cur >= need ? 0 : -EMFILE;
}

int bench_sys_pin_self(const cpu_set_t *set)
{
    int rc = pthread_setaffinity_np(pthread_self(), sizeof(*set), set);

    return rc == 0 ? 0 : -rc;
}
