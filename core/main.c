// SPDX-License-Identifier: Apache-2.0
// core/main.c: tlsedge's entry point. Parses the command line, builds the first configuration
// snapshot (wiring the parts net/ and tls/ define), opens the listeners, starts the workers and
// then waits on a signalfd: SIGHUP (reload), SIGTERM/SIGINT (graceful stop), SIGUSR2 (reopen the
// log file). This is the only core/ file that knows the other modules.
#include "bridge/config.h"
#include "bridge/ingress.h"
#include "core/err.h"
#include "core/log.h"
#include "core/records.h"
#include "core/snapshot.h"
#include "core/stats.h"
#include "core/worker.h"
#include "hooks/hook.h"
#include "net/conn.h"
#include "net/listener.h"
#include "net/opool.h"
#include "net/ports.h"
#include "net/proxy.h"
#include "net/resolve.h"
#include "tls/certcache.h"
#include "tls/certtable.h"
#include "tls/config.h"
#include "tls/origin.h"
#include "tls/pool.h"
#include "tls/sesscache.h"
#include "tls/tickets.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include <openssl/crypto.h>

#define TLSEDGE_VERSION "0.1.0"
#define MAX_PORTS 32

// The embedded default (no -C): TLS on 127.0.0.1:8443, plain HTTP on 127.0.0.1:8081 (8080 is
// where a stock ATS listens), forward proxying for loopback clients only.
#define DEFAULT_PORTS "8443:ssl:ip-in=127.0.0.1 8081:ip-in=127.0.0.1"

struct options {
    const char *confdir;
    const char *write_default;
    const char *debug_tags;
    bool check;
};

static const struct core_rec_decl core_recs[] = {
    {"proxy.config.exec_thread.limit", CORE_REC_INT, "0"},
    {"proxy.config.exec_thread.affinity", CORE_REC_INT, "1"},
    {"proxy.config.http.server_ports", CORE_REC_STRING, DEFAULT_PORTS},
    {"proxy.config.net.listen_backlog", CORE_REC_INT, "1024"},
    {"proxy.config.stop.shutdown_timeout", CORE_REC_INT, "30"},
    {"proxy.config.tlsedge.reload_nice", CORE_REC_INT, "10"},
    {"proxy.config.log.logfile_dir", CORE_REC_STRING, ""},
    {"proxy.config.log.logging_enabled", CORE_REC_INT, "3"},
    {"proxy.config.diags.debug.enabled", CORE_REC_INT, "0"},
    {"proxy.config.diags.debug.tags", CORE_REC_STRING, ""},
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: tlsedge [-C DIR] [-t] [-T TAGS]\n"
            "       tlsedge --write-default-config DIR\n"
            "\n"
            "A TLS edge proxy: terminates TLS (certificates chosen by SNI from\n"
            "ssl_multicert.config) and proxies HTTP/1.1 to origins (remap.config).\n"
            "\n"
            "  -C, --config DIR     configuration directory (records.config,\n"
            "                       ssl_multicert.config, remap.config, ip_allow.yaml);\n"
            "                       without it tlsedge runs its embedded default: TLS on\n"
            "                       127.0.0.1:8443 with a self-signed certificate, plain\n"
            "                       HTTP on 127.0.0.1:8081, forward proxy for loopback\n"
            "  -t, --check          check the configuration and exit: 0 when valid,\n"
            "                       1 after listing every error\n"
            "  -T, --debug TAGS     enable debug output for tags matching TAGS (a regular\n"
            "                       expression, e.g. 'ssl|http')\n"
            "      --write-default-config DIR\n"
            "                       write the embedded default as files into DIR\n"
            "  -h, --help           this text\n"
            "  -V, --version        version and the BoringSSL build in use\n"
            "\n"
            "Signals: SIGTERM/SIGINT stop gracefully, SIGHUP reload, SIGUSR2 reopen logs.\n");
}

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'C'},
        {"check", no_argument, NULL, 't'},
        {"debug", required_argument, NULL, 'T'},
        {"write-default-config", required_argument, NULL, 'W'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "C:tT:hV", longopts, NULL)) != -1) {
        switch (ch) {
        case 'C':
            o->confdir = optarg;
            break;
        case 't':
            o->check = true;
            break;
        case 'T':
            o->debug_tags = optarg;
            break;
        case 'W':
            o->write_default = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
            printf("tlsedge %s\nBoringSSL: %s, API version %d\n", TLSEDGE_VERSION,
                   TLSEDGE_BSSL_DESC, BORINGSSL_API_VERSION);
            exit(0);
        default:
            usage(stderr);
            return -EINVAL;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tlsedge: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return -EINVAL;
    }
    return 0;
}

static struct core_records *declare_all(void)
{
    struct core_records *rec = core_records_new();
    if (!rec)
        return NULL;
    int rc = core_records_declare_all(rec, core_recs, sizeof(core_recs) / sizeof(core_recs[0]));
    if (rc == 0)
        rc = tls_config_declare(rec);
    if (rc == 0)
        rc = net_http_config_declare(rec);
    if (rc == 0)
        rc = hook_config_declare(rec);
    if (rc < 0) {
        core_records_free(rec);
        return NULL;
    }
    return rec;
}

// Loads records.config from confdir (or applies the embedded default's settings).
static struct core_records *load_records(const char *confdir, struct core_err *err)
{
    struct core_records *rec = declare_all();
    if (!rec) {
        core_err_add(err, NULL, 0, "out of memory");
        return NULL;
    }
    if (!confdir) {
        core_records_set(rec, "proxy.config.url_remap.remap_required", "0", err);
        return rec;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/records.config", confdir);
    int rc = core_records_load(rec, path, err);
    if (rc == -ENOENT)
        core_err_warn(err, path, 0, "not found; using defaults");
    return rec;
}

static int parse_ports(const struct core_records *rec, struct net_port *ports, size_t *n,
                       struct core_err *err)
{
    const char *spec = core_records_get_str(rec, "proxy.config.http.server_ports");
    return net_ports_parse(spec, ports, MAX_PORTS, n, "records.config", 0, err);
}

// hook_builtin_fn for tls_bridge.so lines: their arguments go to the destination table.
static void bridge_line(void *arg, int argc, const char **argv, const char *file, int line,
                        struct core_err *err)
{
    if (bridge_config_add_args(arg, argc - 1, argv + 1, file, line, err) < 0)
        core_err_add(err, file, line, "tls_bridge: out of memory");
}

// Builds the tls_bridge destination table from plugin.config's tls_bridge.so lines (an empty
// table when there is none). NULL when out of memory or plugin.config cannot be read.
static struct bridge_config *build_bridge(const struct core_records *rec, const char *confdir,
                                          struct core_err *err)
{
    struct bridge_config *bc = bridge_config_new(confdir);
    if (!bc) {
        core_err_add(err, NULL, 0, "out of memory");
        return NULL;
    }
    if (hook_plugins_builtin(confdir, rec, BRIDGE_PLUGIN_NAME, bridge_line, bc, err) < 0) {
        bridge_config_free(bc);
        return NULL;
    }
    return bc;
}

// Builds a complete snapshot from confdir; NULL when anything failed (all of it in err).
static struct core_snapshot *build_snapshot(const char *confdir, struct net_port *ports,
                                            size_t *nports, struct core_err *err)
{
    struct core_records *rec = load_records(confdir, err);
    if (!rec)
        return NULL;
    bool need_certs = false;
    if (parse_ports(rec, ports, nports, err) == 0)
        for (size_t i = 0; i < *nports; i++)
            need_certs |= ports[i].ssl;
    struct tls_config *tc = tls_config_build(rec, confdir, need_certs, err);
    struct net_http_config *hc = net_http_config_build(rec, confdir, err);
    struct bridge_config *bc = build_bridge(rec, confdir, err);
    struct core_snapshot *s = core_snapshot_new(rec);
    if (s) {
        core_snapshot_set_part(s, CORE_SNAP_TLS, tc, (core_snap_free_fn)tls_config_free);
        core_snapshot_set_part(s, CORE_SNAP_HTTP, hc, (core_snap_free_fn)net_http_config_free);
        core_snapshot_set_part(s, CORE_SNAP_BRIDGE, bc, (core_snap_free_fn)bridge_config_free);
    } else {
        tls_config_free(tc);
        net_http_config_free(hc);
        bridge_config_free(bc);
    }
    if (!s || !tc || !hc || !bc || core_err_failed(err)) {
        core_snapshot_free(s);
        return NULL;
    }
    return s;
}

static void print_errs(const struct core_err *err)
{
    char buf[CORE_ERR_FILE_MAX + CORE_ERR_REASON_MAX + 32];
    for (int i = 0; i < err->kept; i++)
        fprintf(stderr, "tlsedge: %s: %s\n", err->entry[i].warning ? "warning" : "error",
                core_err_format(err, i, buf, sizeof(buf)));
    if (err->errors + err->warnings > err->kept)
        fprintf(stderr, "tlsedge: %d more problems not shown\n",
                err->errors + err->warnings - err->kept);
}

static int write_text(const char *dir, const char *name, const char *text, struct core_err *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wx");
    if (!f) {
        core_err_add(err, path, 0, "cannot create: %s", strerror(errno));
        return -errno;
    }
    fputs(text, f);
    return fclose(f) == 0 ? 0 : -EIO;
}

static const char default_remap[] =
    "# remap.config: map FROM TO (reverse proxy rules, first match wins).\n"
    "# The embedded default has no rule: with proxy.config.url_remap.remap_required 0\n"
    "# absolute-URI requests (curl -x) are forwarded. Example:\n"
    "# map https://www.example.com/ http://127.0.0.1:8000/\n";

static const char default_ip_allow[] = "# ip_allow.yaml: which clients may use which methods.\n"
                                       "ip_allow:\n"
                                       "  - apply: in\n"
                                       "    ip_addrs: [127.0.0.0/8, '::1']\n"
                                       "    action: allow\n"
                                       "    methods: ALL\n";

static int write_default_config(const char *dir)
{
    struct core_err err;
    core_err_init(&err);
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "tlsedge: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/records.config", dir);
    FILE *f = fopen(path, "wx");
    if (!f) {
        fprintf(stderr, "tlsedge: %s: %s (refusing to overwrite)\n", path, strerror(errno));
        return 1;
    }
    struct core_records *rec = load_records(NULL, &err);
    if (rec) {
        fputs("# records.config written by tlsedge --write-default-config\n", f);
        core_records_write(rec, f);
    }
    fclose(f);
    core_records_free(rec);
    if (tls_config_write_default(dir, &err) == 0 &&
        write_text(dir, "remap.config", default_remap, &err) == 0)
        write_text(dir, "ip_allow.yaml", default_ip_allow, &err);
    print_errs(&err);
    if (core_err_failed(&err))
        return 1;
    printf("wrote the default configuration to %s\n", dir);
    return 0;
}

static int configure_logging(const struct core_records *rec, const char *tags_override,
                             struct core_err *err)
{
    bool debug = core_records_get_int(rec, "proxy.config.diags.debug.enabled") != 0;
    const char *tags = core_records_get_str(rec, "proxy.config.diags.debug.tags");
    if (tags_override) {
        debug = true;
        tags = tags_override;
    }
    const char *dir = core_records_get_str(rec, "proxy.config.log.logfile_dir");
    int rc = core_log_configure(debug, tags, dir, err);
    if (rc < 0)
        return rc;
    // ATS's values: 0 none, 1 errors only, 2 transactions only, 3 both. Diagnostics are always
    // written; bit 2 turns on the transaction log (squid.log, beside diags.log).
    int64_t enabled = core_records_get_int(rec, "proxy.config.log.logging_enabled");
    return core_log_access_configure((enabled & 2) != 0, dir, err);
}

struct runtime {
    struct core_workers *workers;
    struct net_listeners *listeners;
};

static void worker_init(struct core_worker *w, void *arg)
{
    struct runtime *rt = arg;
    int rc = net_listeners_attach(rt->listeners, w, net_conn_accept);
    if (rc < 0)
        core_log_error("worker %d: cannot watch its listening sockets: %s", core_worker_id(w),
                       strerror(-rc));
}

static void worker_stop(struct core_worker *w, void *arg)
{
    struct runtime *rt = arg;
    net_listeners_close_worker(rt->listeners, w);
    net_conns_stop_worker(w);
    net_opool_close_worker(w); // idle origin connections hold nothing up
}

static int worker_count(const struct core_records *rec)
{
    int64_t n = core_records_get_int(rec, "proxy.config.exec_thread.limit");
    if (n <= 0)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n <= 0)
        n = 1;
    return n > 256 ? 256 : (int)n;
}

static int stat_reloads = -1, stat_reload_failures = -1;

// Certificate and key files parsed by earlier builds, reused while unchanged (main thread only).
static struct tls_certcache *certcache;

static bool same_ports(const struct net_port *a, size_t na, const struct net_port *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (a[i].port != b[i].port || a[i].ssl != b[i].ssl || a[i].tr_pass != b[i].tr_pass ||
            a[i].addrlen != b[i].addrlen || memcmp(&a[i].addr, &b[i].addr, a[i].addrlen) != 0)
            return false;
    return true;
}

// Rebuilds the whole snapshot from the configuration directory, off the workers, and publishes
// it only when everything in it is valid; otherwise the current one keeps serving. Handshakes in
// progress finish under the snapshot they started with (their SSL holds its SSL_CTX).
static void reload(const struct options *o, const struct net_port *ports, size_t nports)
{
    struct timespec t0, t1, c0, c1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    struct core_err *err = calloc(1, sizeof(*err));
    struct net_port *nports_new = calloc(MAX_PORTS, sizeof(*nports_new));
    size_t nn = 0;
    if (!err || !nports_new) {
        core_log_error("reload: out of memory");
        goto out;
    }
    core_err_init(err);
    tls_certcache_begin(certcache);
    struct core_snapshot *s = build_snapshot(o->confdir, nports_new, &nn, err);
    if (s && configure_logging(core_snapshot_records(s), o->debug_tags, err) < 0) {
        core_snapshot_free(s);
        s = NULL;
    }
    if (s && !same_ports(ports, nports, nports_new, nn))
        core_err_warn(err, "records.config", 0,
                      "proxy.config.http.server_ports changed: takes effect at the next start");
    core_log_errs(err);
    if (!s) {
        tls_certcache_abort(certcache);
        core_stat_inc(stat_reload_failures);
        core_log_error("reload failed with %d errors: the current configuration keeps serving",
                       err->errors);
        goto out;
    }
    const struct tls_config *tc = core_snapshot_part(s, CORE_SNAP_TLS);
    size_t ncerts = tls_certtable_count(tc->certs);
    const struct bridge_config *bc = core_snapshot_part(s, CORE_SNAP_BRIDGE);
    size_t nbridge = bc->n;
    uint64_t gen = core_snapshot_publish(s);
    tls_config_apply(tc);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    struct tls_certcache_stats cs = tls_certcache_stats(certcache);
    tls_certcache_commit(certcache);
    core_stat_inc(stat_reloads);
    // The main thread's CPU time beside the wall time: on a busy machine the two differ.
    core_log_note("reload: configuration generation %llu published, %zu certificates, %.1f ms "
                  "(cpu %.1f ms; files: %zu unchanged, %zu of them not read, %zu read anew; %zu "
                  "tls_bridge destinations)",
                  (unsigned long long)gen, ncerts,
                  (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
                  (double)(c1.tv_sec - c0.tv_sec) * 1e3 + (double)(c1.tv_nsec - c0.tv_nsec) / 1e6,
                  cs.hits, cs.stat_only, cs.misses, nbridge);
out:
    free(nports_new);
    free(err);
}

// The process ticket key block's rotation is due (tls/tickets.h).
static void rotate_ticket_keys(void)
{
    if (tls_tickets_rotate() < 0)
        core_log_error("ticket key rotation: out of memory; the current keys stay");
    else
        core_log_note("ticket keys rotated: new tickets use a new key, the two previous keys "
                      "still resume");
}

// Waits on the signalfd until a stop signal; the main thread is offline for RCU meanwhile.
static void signal_loop(int sfd, const struct options *o, const struct net_port *ports,
                        size_t nports)
{
    for (;;) {
        struct signalfd_siginfo si;
        struct pollfd p[2] = {{.fd = sfd, .events = POLLIN},
                              {.fd = tls_tickets_wake_fd(), .events = POLLIN}};
        int64_t due = tls_tickets_due_ms();
        rcu_thread_offline();
        int pr = poll(p, 2, due < 0 ? -1 : due > INT32_MAX ? INT32_MAX : (int)due);
        bool sig = pr > 0 && (p[0].revents & POLLIN);
        ssize_t n = sig ? read(sfd, &si, sizeof(si)) : 0;
        rcu_thread_online();
        if (pr > 0 && (p[1].revents & POLLIN) && tls_tickets_apply_offered() > 0)
            core_log_note("ticket keys replaced by a plugin (TSSslTicketKeyUpdate); automatic "
                          "rotation stops");
        if (pr == 0)
            rotate_ticket_keys();
        if (pr == 0 || (pr > 0 && !sig))
            continue;
        if (pr < 0 || n != sizeof(si)) {
            if ((pr < 0 || n < 0) && errno == EINTR)
                continue;
            core_log_error("signalfd: %s", pr < 0 || n < 0 ? strerror(errno) : "short read");
            return;
        }
        switch (si.ssi_signo) {
        case SIGHUP:
            core_log_note("reload requested (SIGHUP)");
            reload(o, ports, nports);
            break;
        case SIGUSR2:
            if (core_log_reopen() < 0)
                core_log_error("cannot reopen the log file");
            else
                core_log_note("log file reopened");
            break;
        case SIGTERM:
        case SIGINT:
            core_log_note("%s received: stopping gracefully",
                          si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
            return;
        }
    }
}

static int block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR2);
    signal(SIGPIPE, SIG_IGN);
    // Blocked before any thread starts, so every thread inherits the mask and only the main
    // thread's signalfd sees these signals.
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    return signalfd(-1, &set, SFD_CLOEXEC);
}

static int serve(struct core_snapshot *snap, const struct options *o, const struct net_port *ports,
                 size_t nports)
{
    const struct core_records *rec = core_snapshot_records(snap);
    struct core_err err;
    core_err_init(&err);
    int sfd = block_signals();
    int nw = worker_count(rec);
    struct runtime rt = {0};
    if (sfd < 0 || net_conns_init(nw) < 0 || net_opool_init(nw) < 0 ||
        net_resolver_init(2) < 0) {
        core_log_error("start-up failed: %s", strerror(errno));
        return 1;
    }
    // Only a throttle the operator chose is checked against the descriptor limit: the default
    // (ATS's 30000) would warn on every small machine.
    net_conns_raise_fd_limit(
        core_records_is_set(rec, "proxy.config.net.connections_throttle")
            ? core_records_get_int(rec, "proxy.config.net.connections_throttle")
            : 0);
    int64_t backlog = core_records_get_int(rec, "proxy.config.net.listen_backlog");
    rt.listeners = net_listeners_open(ports, nports, nw, backlog > 0 ? (int)backlog : 1024, &err);
    if (!rt.listeners) {
        core_log_errs(&err);
        // Start-up failures also reach the terminal when diagnostics go to a file.
        if (core_records_get_str(rec, "proxy.config.log.logfile_dir")[0])
            print_errs(&err);
        return 1;
    }
    int64_t hs_threads = core_records_get_int(rec, "proxy.config.tlsedge.handshake_threads");
    int64_t hs_queue = core_records_get_int(rec, "proxy.config.tlsedge.handshake_queue_max");
    if (tls_pool_start(hs_threads > 64 ? 64 : (int)hs_threads,
                       (size_t)(hs_queue > 0 ? hs_queue : 1)) < 0) {
        core_log_error("cannot start the handshake pool");
        return 1;
    }
    bool pin = core_records_get_int(rec, "proxy.config.exec_thread.affinity") != 0;
    uint64_t stop_ms =
        (uint64_t)core_records_get_int(rec, "proxy.config.stop.shutdown_timeout") * 1000;
    rt.workers = core_workers_new(nw, pin, "w");
    // Plugins load before the workers start: their TSPluginInit adds hooks and may schedule.
    int64_t task_threads = core_records_get_int(rec, "proxy.config.task_threads");
    if (!rt.workers || hook_runtime_start(rt.workers, task_threads > 64 ? 64 : (int)task_threads) < 0 ||
        hook_plugins_load(o->confdir, rec, &err) < 0) {
        core_log_errs(&err);
        if (core_records_get_str(rec, "proxy.config.log.logfile_dir")[0])
            print_errs(&err);
        core_log_error("plugins could not be loaded; not starting");
        rcu_thread_offline(); // undo in reverse: task threads, workers, pool, listeners
        hook_runtime_stop();
        core_workers_free(rt.workers);
        tls_pool_stop();
        rcu_thread_online();
        net_listeners_free(rt.listeners);
        return 1;
    }
    if (core_workers_start(rt.workers, worker_init, worker_stop, &rt) < 0) {
        core_log_error("cannot start %d workers: %s", nw, strerror(errno));
        return 1;
    }
    for (size_t i = 0; i < nports; i++) {
        char name[96];
        net_port_format(&ports[i], name, sizeof(name));
        core_log_note("listening on %s", name);
    }
    // The main thread builds reloads: background work that must not take CPU from serving
    // (a worker, or a load on the same machine). Threads made before keep their priority.
    int64_t nice = core_records_get_int(rec, "proxy.config.tlsedge.reload_nice");
    if (nice > 0 && setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice > 19 ? 19 : (int)nice) < 0)
        core_log_warn("proxy.config.tlsedge.reload_nice: setpriority: %s", strerror(errno));
    core_log_note("tlsedge %s started: %d workers%s, configuration generation %llu",
                  TLSEDGE_VERSION, nw, pin ? " (pinned)" : "",
                  (unsigned long long)core_snapshot_generation(snap));
    signal_loop(sfd, o, ports, nports);
    core_workers_stop(rt.workers, stop_ms);
    rcu_thread_offline();
    core_workers_join(rt.workers);
    rcu_thread_online();
    core_workers_free(rt.workers);
    rcu_thread_offline();
    tls_pool_stop(); // after the workers: their key operations may still be on it
    hook_runtime_stop();
    rcu_thread_online();
    net_listeners_free(rt.listeners);
    core_snapshot_shutdown();
    tls_tickets_stop();
    tls_sesscache_process_free();
    tls_origin_sessions_free();
    close(sfd);
    core_log_note("stopped");
    return 0;
}

int main(int argc, char **argv)
{
    struct options o = {0};
    if (parse_args(argc, argv, &o) < 0)
        return 2;
    if (o.write_default)
        return write_default_config(o.write_default);
    CRYPTO_library_init();
    tls_stats_register();
    net_http_stats_register();
    hook_stats_register();
    bridge_stats_register();
    // tls_bridge.so in plugin.config is tlsedge's own bridge (bridge/), not a file to load; it
    // takes CONNECTs through net/'s interception slot.
    if (hook_builtin_register(BRIDGE_PLUGIN_NAME) < 0)
        return 1;
    bridge_ingress_install();
    stat_reloads = core_stat_register("proxy.process.tlsedge.reloads");
    stat_reload_failures = core_stat_register("proxy.process.tlsedge.reload_failures");
    struct core_err *err = calloc(1, sizeof(*err));
    struct net_port ports[MAX_PORTS];
    size_t nports = 0;
    if (!err)
        return 1;
    core_err_init(err);
    certcache = tls_certcache_new();
    if (!certcache) {
        free(err);
        return 1;
    }
    tls_config_set_certcache(certcache);
    tls_certcache_begin(certcache);
    struct core_snapshot *snap = build_snapshot(o.confdir, ports, &nports, err);
    if (o.check) {
        // What a reload checks: the snapshot, then the logging settings (debug tags regex,
        // log directory).
        if (snap && configure_logging(core_snapshot_records(snap), o.debug_tags, err) < 0) {
            core_snapshot_free(snap);
            snap = NULL;
        }
        print_errs(err);
        core_snapshot_free(snap);
        if (snap)
            printf("tlsedge: configuration %s is valid\n", o.confdir ? o.confdir : "(embedded)");
        free(err);
        tls_certcache_free(certcache);
        return snap ? 0 : 1;
    }
    if (snap && configure_logging(core_snapshot_records(snap), o.debug_tags, err) < 0) {
        core_snapshot_free(snap);
        snap = NULL;
    }
    core_log_errs(err);
    free(err);
    if (!snap) {
        core_log_error("configuration is invalid; not starting");
        tls_certcache_free(certcache);
        return 1;
    }
    rcu_register_thread();
    const struct bridge_config *bc = core_snapshot_part(snap, CORE_SNAP_BRIDGE);
    if (bc->lines)
        core_log_note("tls_bridge: %zu destinations", bc->n);
    core_snapshot_publish(snap);
    tls_config_apply(core_snapshot_part(snap, CORE_SNAP_TLS));
    tls_certcache_commit(certcache);
    int rc = serve(snap, &o, ports, nports);
    rcu_unregister_thread();
    tls_config_set_certcache(NULL);
    tls_certcache_free(certcache);
    return rc;
}
