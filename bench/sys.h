// SPDX-License-Identifier: Apache-2.0
// bench/sys.h: what tlsedge-bench asks of the operating system: the monotonic clock, the CPU time
// of this process and of the server under test (/proc/PID/stat), the server's resident memory
// (/proc/PID/status), the open-file limit and CPU pinning.
//
// Threads: every function may be called from any thread; none keeps state between calls. None
// prints: failures are returned as a negative errno.
#ifndef TLSEDGE_BENCH_SYS_H
#define TLSEDGE_BENCH_SYS_H

#include <sched.h>
#include <stdint.h>
#include <sys/types.h>

// bench_sys_now_ns returns CLOCK_MONOTONIC in nanoseconds. It never fails.
uint64_t bench_sys_now_ns(void);

// bench_sys_self_cpu_ns returns the user plus system CPU time of this whole process (every
// thread, getrusage RUSAGE_SELF) in nanoseconds, or 0 if getrusage fails.
uint64_t bench_sys_self_cpu_ns(void);

// bench_sys_proc_cpu_ns stores in *out the user plus system CPU time of process pid, all its
// threads (utime + stime of /proc/pid/stat), in nanoseconds; the resolution is one clock tick
// (usually 10 ms). Returns 0, -ENOENT when the process does not exist, or another negative
// errno when the file cannot be read or parsed.
int bench_sys_proc_cpu_ns(pid_t pid, uint64_t *out);

// bench_sys_proc_rss_kb stores in *out the resident set size of process pid in KiB (VmRSS of
// /proc/pid/status). Returns 0, -ENOENT when the process does not exist, or another negative
// errno (-EPROTO when the file has no VmRSS line).
int bench_sys_proc_rss_kb(pid_t pid, uint64_t *out);

// bench_sys_raise_nofile raises RLIMIT_NOFILE so that at least need descriptors can be open: the
// soft limit up to the hard limit, and the hard limit too when the process may (root, up to
// /proc/sys/fs/nr_open). Returns 0 when the soft limit is now at least need, -EMFILE when it
// could not be raised that far (the limits are then as high as they could be made).
int bench_sys_raise_nofile(uint64_t need);

// bench_sys_pin_self pins the calling thread to the CPUs in set. Returns 0 or a negative errno
// (-EINVAL when no CPU of set is usable).
int bench_sys_pin_self(const cpu_set_t *set);

#endif
