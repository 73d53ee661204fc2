// SPDX-License-Identifier: Apache-2.0
// bench/main.c: tlsedge-bench, the TLS handshake and throughput load generator. The main thread
// parses the command line, builds one worker per -t (bench/worker.c), lays out the timeline
// (warm-up, measured window; in idle mode: open, then hold), prints a progress line per second,
// measures CPU (its own and --server-pid's) and the server's RSS at the window's edges, stops
// and joins the workers, merges their counts and prints the report (bench/report.c).
//
// The main thread does no network I/O. It sleeps in ppoll on two descriptors: an eventfd the
// workers write when --max is reached or (idle) when they have opened everything, and a signalfd
// for SIGINT/SIGTERM, which end the run early with a report.
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#ifndef OPENSSL_IS_BORINGSSL
#error "tlsedge-bench is built against BoringSSL only"
#endif

#include "bench/hist.h"
#include "bench/http.h"
#include "bench/opts.h"
#include "bench/report.h"
#include "bench/stats.h"
#include "bench/sys.h"
#include "bench/worker.h"

#define NS 1000000000ull
// How far ahead of "now" the common start is put, so every worker is waiting for it.
#define START_DELAY_NS 20000000ull

// struct cpu_snap: CPU times at one instant.
struct cpu_snap {
    uint64_t wall;   // CLOCK_MONOTONIC
    uint64_t self;   // this process
    uint64_t server; // --server-pid
    bool have_server;
};

// struct main_state: what the main thread keeps during a run.
struct main_state {
    struct bench_opts o;
    struct bench_run run;
    struct bench_worker *workers;
    unsigned n_workers;
    unsigned started; // threads created
    int sig_fd;
    bool interrupted;
    uint64_t last_all_ops; // progress: operations at the previous line
    uint64_t last_tick;
    struct bench_hist *tmp; // progress: the merged histogram
    char request[4096];
};

// snap reads the CPU times now.
static void snap(const struct bench_opts *o, struct cpu_snap *s)
{
    s->wall = bench_sys_now_ns();
    s->self = bench_sys_self_cpu_ns();
    s->have_server = o->server_pid > 0 && bench_sys_proc_cpu_ns(o->server_pid, &s->server) == 0;
}

// usage_error prints a usage error and returns exit status 2.
static int usage_error(const char *msg)
{
    fprintf(stderr, "tlsedge-bench: %s\n(try tlsedge-bench --help)\n", msg);
    return 2;
}

// share returns worker i's share of total split over n workers.
static uint32_t share(uint64_t total, unsigned n, unsigned i)
{
    return (uint32_t)(total / n + (i < total % n ? 1 : 0));
}

// progress prints one progress line for now.
static void progress(struct main_state *m, uint64_t now)
{
    uint64_t all = 0, errors = 0, open = 0;
    double secs = (double)(now - m->run.t0) / 1e9, dt = (double)(now - m->last_tick) / 1e9;
    bool warm = now < m->run.w_start;

    bench_hist_init(m->tmp);
    for (unsigned i = 0; i < m->n_workers; i++) {
        struct bench_stats *s = &m->workers[i].stats;

        all += atomic_load_explicit(&s->all_ops, memory_order_relaxed);
        errors += atomic_load_explicit(&s->errors, memory_order_relaxed);
        open += atomic_load_explicit(&s->open, memory_order_relaxed);
        bench_hist_merge(m->tmp, &s->hist);
    }
    fprintf(stderr, "[%6.1fs]%s %8.0f ops/s  errors %" PRIu64 "  p50 %.3f ms  p99 %.3f ms", secs,
            warm ? " warmup" : "", dt > 0 ? (double)(all - m->last_all_ops) / dt : 0, errors,
            bench_hist_percentile(m->tmp, 0.5) / 1e6, bench_hist_percentile(m->tmp, 0.99) / 1e6);
    if (m->o.mode == BENCH_MODE_IDLE)
        fprintf(stderr, "  open %" PRIu64 "/%" PRIu64, open, m->o.idle_n);
    fputc('\n', stderr);
    m->last_all_ops = all;
    m->last_tick = now;
}

// wait_until sleeps until deadline, a worker's signal or a stop signal (which sets
// m->interrupted). Returns true when a worker signalled.
static bool wait_until(struct main_state *m, uint64_t deadline)
{
    struct pollfd p[2] = {{.fd = m->run.done_fd, .events = POLLIN},
                          {.fd = m->sig_fd, .events = POLLIN}};
    uint64_t now = bench_sys_now_ns(), d = deadline > now ? deadline - now : 0;
    struct timespec ts = {.tv_sec = (time_t)(d / NS), .tv_nsec = (long)(d % NS)};
    uint64_t v;
    struct signalfd_siginfo si;

    if (ppoll(p, 2, &ts, NULL) <= 0)
        return false;
    if (p[1].revents & POLLIN) {
        if (read(m->sig_fd, &si, sizeof(si)) > 0)
            m->interrupted = true;
    }
    if (p[0].revents & POLLIN)
        return read(m->run.done_fd, &v, sizeof(v)) == sizeof(v);
    return false;
}

// tick prints a progress line when one is due at now.
static void tick(struct main_state *m, uint64_t now, uint64_t *next_tick)
{
    if (now < *next_tick)
        return;
    if (!m->o.quiet)
        progress(m, now);
    while (*next_tick <= now)
        *next_tick += NS;
}

// run_timed drives a warm-up plus window run; fills the window's CPU snapshots and length.
static void run_timed(struct main_state *m, struct cpu_snap *a, struct cpu_snap *b,
                      struct bench_result *r)
{
    uint64_t next_tick = m->run.t0 + NS, now, stop;
    bool open = false;

    for (;;) {
        now = bench_sys_now_ns();
        if (!open && now >= m->run.w_start) {
            snap(&m->o, a);
            open = true;
        }
        stop = atomic_load_explicit(&m->run.stop_ns, memory_order_relaxed);
        if (stop != 0 || now >= m->run.w_end || m->interrupted)
            break;
        tick(m, now, &next_tick);
        wait_until(m, next_tick < (open ? m->run.w_end : m->run.w_start)
                          ? next_tick
                          : (open ? m->run.w_end : m->run.w_start));
    }
    snap(&m->o, b);
    if (!open)
        *a = *b;
    if (stop == 0)
        stop = now < m->run.w_end ? now : m->run.w_end;
    r->seconds = stop > m->run.w_start ? (double)(stop - m->run.w_start) / 1e9 : 0;
}

// opened_all is true when every idle-mode worker has finished opening.
static bool opened_all(struct main_state *m)
{
    return atomic_load_explicit(&m->run.idle_opened, memory_order_relaxed) >= m->n_workers;
}

// run_idle drives idle mode: open everything (the CPU window), hold -d seconds, read the
// server's RSS.
static void run_idle(struct main_state *m, struct cpu_snap *a, struct cpu_snap *b,
                     struct bench_result *r)
{
    uint64_t next_tick = m->run.t0 + NS, now, opened, hold_end;

    // CPU is measured while the connections open (handshakes per server core); holding them
    // should cost nothing and is reported as memory instead.
    snap(&m->o, a);
    while (!opened_all(m) && !m->interrupted) {
        tick(m, bench_sys_now_ns(), &next_tick);
        wait_until(m, next_tick);
    }
    snap(&m->o, b);
    opened = b->wall;
    r->seconds = opened > m->run.t0 ? (double)(opened - m->run.t0) / 1e9 : 0;
    hold_end = opened + (uint64_t)(m->o.duration_s * 1e9);
    while (!m->interrupted && (now = bench_sys_now_ns()) < hold_end) {
        tick(m, now, &next_tick);
        wait_until(m, next_tick < hold_end ? next_tick : hold_end);
    }
    r->hold_seconds = (double)(bench_sys_now_ns() - opened) / 1e9;
    if (m->o.server_pid > 0)
        r->have_rss = bench_sys_proc_rss_kb(m->o.server_pid, &r->rss_after_kb) == 0 && r->have_rss;
    for (unsigned i = 0; i < m->n_workers; i++)
        r->held += atomic_load_explicit(&m->workers[i].stats.open, memory_order_relaxed);
}

// setup_run fills the shared run state (not yet its start time). Returns 0 or exit status 2.
static int setup_run(struct main_state *m)
{
    struct bench_run *run = &m->run;
    int n;

    run->o = &m->o;
    run->w_end = UINT64_MAX;
    atomic_init(&run->ops_left, m->o.max_ops > 0 ? (int64_t)m->o.max_ops : INT64_MAX);
    atomic_init(&run->stop_ns, 0);
    atomic_init(&run->idle_opened, 0);
    if (bench_mode_uses_http(m->o.mode)) {
        n = bench_http_request_format(m->request, sizeof(m->request), m->o.path, m->o.host_header);
        if (n < 0)
            return usage_error("--path or --host too long");
        run->request = m->request;
        run->request_len = (uint32_t)n;
    }
    run->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    run->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (run->stop_fd < 0 || run->done_fd < 0) {
        fprintf(stderr, "tlsedge-bench: eventfd: %s\n", strerror(errno));
        return 2;
    }
    return 0;
}

// make_workers creates the workers' state (not their threads). Returns 0 or exit status 2.
static int make_workers(struct main_state *m)
{
    const struct bench_opts *o = &m->o;
    uint64_t units = o->mode == BENCH_MODE_IDLE ? o->idle_n : o->conns;
    char err[256];

    m->n_workers = o->threads < units ? o->threads : (unsigned)units;
    m->workers = calloc(m->n_workers, sizeof(*m->workers));
    m->tmp = malloc(sizeof(*m->tmp));
    if (m->workers == NULL || m->tmp == NULL)
        return usage_error("out of memory");
    for (unsigned i = 0; i < m->n_workers; i++) {
        uint32_t conc = share(o->conns, m->n_workers, i);

        if (bench_worker_init(&m->workers[i], i, &m->run, share(units, m->n_workers, i),
                              conc > 0 ? conc : 1, o->rate / m->n_workers, (double)i / m->n_workers,
                              err, sizeof(err)) != 0) {
            m->n_workers = i;
            return usage_error(err);
        }
    }
    return 0;
}

// prepare_process raises the descriptor limit, pins the main thread and blocks the stop
// signals (inherited by the workers) behind a signalfd. Returns 0 or exit status 2.
static int prepare_process(struct main_state *m)
{
    const struct bench_opts *o = &m->o;
    uint64_t need = (o->mode == BENCH_MODE_IDLE ? o->idle_n : 0) + o->conns + 64 + 2 * o->threads;
    sigset_t set;
    char msg[128];

    signal(SIGPIPE, SIG_IGN); // a write to a reset socket must not kill the bench
    if (bench_sys_raise_nofile(need) != 0) {
        snprintf(msg, sizeof(msg), "cannot raise RLIMIT_NOFILE to %" PRIu64, need);
        return usage_error(msg);
    }
    if (o->pin && bench_sys_pin_self(&o->cpus) != 0)
        return usage_error("--cpu: none of these CPUs is usable");
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    m->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    return m->sig_fd < 0 ? usage_error("signalfd failed") : 0;
}

// start_threads sets the timeline and starts the workers. Returns 0 or exit status 2.
static int start_threads(struct main_state *m, struct bench_result *r)
{
    struct bench_run *run = &m->run;

    run->t0 = bench_sys_now_ns() + START_DELAY_NS;
    if (m->o.mode == BENCH_MODE_IDLE) {
        run->w_start = run->t0;
        if (m->o.server_pid > 0)
            r->have_rss = bench_sys_proc_rss_kb(m->o.server_pid, &r->rss_before_kb) == 0;
    } else {
        run->w_start = run->t0 + (uint64_t)(m->o.warmup_s * 1e9);
        run->w_end = run->w_start + (uint64_t)(m->o.duration_s * 1e9);
        r->warmup = m->o.warmup_s;
    }
    m->last_tick = run->t0;
    for (; m->started < m->n_workers; m->started++) {
        int rc = pthread_create(&m->workers[m->started].thread, NULL, bench_worker_main,
                                &m->workers[m->started]);

        if (rc != 0) {
            fprintf(stderr, "tlsedge-bench: pthread_create: %s\n", strerror(rc));
            return 2;
        }
    }
    return 0;
}

// stop_and_join tells every worker to stop, waits for them and merges their counts into total.
static void stop_and_join(struct main_state *m, struct bench_stats *total, uint64_t *connected)
{
    uint64_t one = 1;

    if (write(m->run.stop_fd, &one, sizeof(one)) != sizeof(one))
        fprintf(stderr, "tlsedge-bench: cannot signal the workers to stop\n");
    for (unsigned i = 0; i < m->started; i++)
        pthread_join(m->workers[i].thread, NULL);
    for (unsigned i = 0; i < m->n_workers; i++) {
        bench_stats_merge(total, &m->workers[i].stats);
        *connected += m->workers[i].connected;
    }
}

// finish computes the CPU figures and prints the report.
static void finish(struct main_state *m, struct bench_result *r, const struct cpu_snap *a,
                   const struct cpu_snap *b)
{
    double wall = (double)(b->wall - a->wall);

    r->client_cpu_pct = wall > 0 ? 100.0 * (double)(b->self - a->self) / wall : 0;
    r->have_server_cpu = a->have_server && b->have_server && wall > 0;
    if (r->have_server_cpu)
        r->server_cpu_pct = 100.0 * (double)(b->server - a->server) / wall;
    r->interrupted = m->interrupted;
    if (m->o.json) {
        bench_report_json(stdout, r);
        // The text report carries this warning; with --json it goes to stderr as well.
        if (r->s->mismatches > 0)
            fprintf(stderr,
                    "tlsedge-bench: WARNING: %llu handshakes negotiated something else than the "
                    "first (see negotiated_mismatch)\n",
                    (unsigned long long)r->s->mismatches);
    } else {
        bench_report_text(stdout, r);
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    static struct main_state m;
    static struct bench_stats total;
    struct bench_result r = {0};
    struct cpu_snap a = {0}, b = {0};
    char err[256];
    int rc = bench_opts_parse(&m.o, argc, argv, err, sizeof(err));

    if (rc == 1 || rc == 2) {
        if (rc == 1)
            bench_opts_usage(stdout);
        else
            bench_opts_version(stdout);
        return 0;
    }
    if (rc != 0)
        return usage_error(err);
    m.sig_fd = -1;
    rc = prepare_process(&m);
    if (rc == 0)
        rc = setup_run(&m);
    if (rc == 0)
        rc = make_workers(&m);
    if (rc == 0)
        rc = start_threads(&m, &r);
    if (rc == 0) {
        if (m.o.mode == BENCH_MODE_IDLE)
            run_idle(&m, &a, &b, &r);
        else
            run_timed(&m, &a, &b, &r);
    }
    bench_stats_init(&total);
    stop_and_join(&m, &total, &r.connected);
    if (rc == 0) {
        r.o = &m.o;
        r.s = &total;
        r.threads = m.n_workers;
        r.ticket_mode = m.n_workers > 0 ? bench_tickets_name(m.workers[0].tickets) : NULL;
        finish(&m, &r, &a, &b);
        if (r.connected == 0) {
            fprintf(stderr, "tlsedge-bench: no connection to %s could be established\n",
                    m.o.target);
            rc = 1;
        }
    }
    for (unsigned i = 0; i < m.n_workers; i++)
        bench_worker_fini(&m.workers[i]);
    free(m.workers);
    free(m.tmp);
    return rc;
}
