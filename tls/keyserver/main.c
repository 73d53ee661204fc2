// SPDX-License-Identifier: Apache-2.0
// tls/keyserver/main.c: tlsedge-keyserver's entry point: the command line, start-up (keys,
// signals, listeners, signing threads) and the exit status.
//
// Exit status: 0 after SIGTERM/SIGINT or --max-seconds, 1 when start-up fails (keys, listeners,
// threads) or the event loop breaks, 2 for a bad command line.
#include "tls/keyserver/keyserver.h"

#include "core/err.h"
#include "core/log.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DELAY_MS_MAX 600000
#define THREADS_MAX 64

static const char usage[] =
    "usage: tlsedge-keyserver --keys DIR --listen HOST:PORT|[V6ADDR]:PORT|unix:PATH\n"
    "                         [--listen ...] [--delay-ms N] [--threads N] [--max-seconds N]\n"
    "                         [--debug]\n"
    "\n"
    "The keyless signer for tlsedge (protocol: tls/keyless_proto.h): holds the private keys of\n"
    "DIR and signs the digests tlsedge sends; the keys never leave this process.\n"
    "\n"
    "  --keys DIR        load every *.key and *.pem file of DIR holding a private key\n"
    "                    (RSA 1024-8192 bits, EC P-256, P-384; unencrypted PEM)\n"
    "  --listen ADDR     listen on ADDR (up to 8 times); port 0 picks a free port; each\n"
    "                    bound address is printed to stdout as `LISTEN <addr>`\n"
    "  --delay-ms N      send each reply no earlier than N ms after its request arrived,\n"
    "                    emulating a far-away signer (0..600000, default 0)\n"
    "  --threads N       signing threads (1..64, default 2)\n"
    "  --max-seconds N   exit (status 0) after N seconds; default 0 = never\n"
    "  --debug           log every request and connection (never digests or keys)\n"
    "  --help            this text\n"
    "\n"
    "SIGTERM/SIGINT stop it (status 0); SIGUSR1 logs the counters.\n";

// bad prints what is wrong with the command line. Returns -EINVAL.
static int bad(const char *what, const char *arg)
{
    fprintf(stderr, "tlsedge-keyserver: %s%s%s (see --help)\n", what, arg ? ": " : "",
            arg ? arg : "");
    return -EINVAL;
}

// parse_int parses arg as a decimal integer in [lo, hi] into *out. Returns 0 or -EINVAL after
// printing the problem, naming the option name.
static int parse_int(const char *name, const char *arg, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || end == arg || *end || v < lo || v > hi) {
        char what[96];
        snprintf(what, sizeof(what), "%s wants an integer from %d to %d", name, lo, hi);
        return bad(what, arg);
    }
    *out = (int)v;
    return 0;
}

// parse_args fills opt from argv. Returns 0, 1 when --help was printed, or -EINVAL after
// printing the problem to stderr.
static int parse_args(int argc, char **argv, struct ks_options *opt)
{
    static const struct option longopts[] = {
        {"keys", required_argument, NULL, 'k'},
        {"listen", required_argument, NULL, 'l'},
        {"delay-ms", required_argument, NULL, 'd'},
        {"threads", required_argument, NULL, 't'},
        {"max-seconds", required_argument, NULL, 'm'},
        {"debug", no_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, rc = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'k':
            opt->keys_dir = optarg;
            break;
        case 'l':
            if (opt->n_listen == KS_LISTEN_MAX)
                return bad("too many --listen options (at most 8)", NULL);
            opt->listen[opt->n_listen++] = optarg;
            break;
        case 'd':
            rc = parse_int("--delay-ms", optarg, 0, DELAY_MS_MAX, &opt->delay_ms);
            break;
        case 't':
            rc = parse_int("--threads", optarg, 1, THREADS_MAX, &opt->threads);
            break;
        case 'm':
            rc = parse_int("--max-seconds", optarg, 0, INT_MAX, &opt->max_seconds);
            break;
        case 'D':
            opt->debug = true;
            break;
        case 'h':
            fputs(usage, stdout);
            return 1;
        default:
            return bad("unknown option or missing value", NULL); // getopt named it
        }
    }
    if (rc == 0 && optind < argc)
        return bad("unexpected argument", argv[optind]);
    if (rc == 0 && (!opt->keys_dir || opt->n_listen == 0))
        return bad("--keys and --listen are required", NULL);
    return rc;
}

static void log_keys(const struct ks_keys *keys, const char *dir)
{
    for (size_t i = 0; i < keys->n; i++) {
        char hex[2 * TLS_KEYLESS_KEY_ID_LEN + 1];
        core_log_note("key %s %s %u bits (%s)", tls_keyless_key_id_hex(keys->key[i].id, hex),
                      ks_key_type_name(keys->key[i].type), keys->key[i].bits, keys->key[i].file);
    }
    core_log_note("loaded %zu private key(s) from %s (%zu .pem file(s) without a key skipped)",
                  keys->n, dir, keys->skipped);
}

// block_signals blocks what the server reads from its signalfd, in this thread and so in every
// thread started after it, and ignores SIGPIPE (writes use MSG_NOSIGNAL anyway).
static int block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    signal(SIGPIPE, SIG_IGN);
    return -pthread_sigmask(SIG_BLOCK, &set, NULL);
}

// start loads the keys and builds the server. Returns 0 or -1 after logging every reason.
static int start(const struct ks_options *opt, struct ks_keys **keys, struct ks_server **srv)
{
    static struct core_err err; // about 13 KiB: kept off the stack
    core_err_init(&err);
    if (opt->debug && core_log_configure(true, "keyserver", NULL, &err) < 0)
        goto fail;
    *keys = ks_keys_load(opt->keys_dir, &err);
    if (!*keys)
        goto fail;
    core_log_errs(&err); // warnings (skipped duplicates, too many files)
    core_err_init(&err);
    log_keys(*keys, opt->keys_dir);
    if (block_signals() < 0) {
        core_err_add(&err, NULL, 0, "cannot block signals");
        goto fail;
    }
    *srv = ks_server_new(opt, *keys, &err);
    if (!*srv)
        goto fail;
    core_log_note("serving: threads=%d delay_ms=%d max_seconds=%d", opt->threads, opt->delay_ms,
                  opt->max_seconds);
    return 0;
fail:
    core_log_errs(&err);
    return -1;
}

int main(int argc, char **argv)
{
    struct ks_options opt = {.threads = 2};
    int rc = parse_args(argc, argv, &opt);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    struct ks_keys *keys = NULL;
    struct ks_server *srv = NULL;
    int status = 1;
    if (start(&opt, &keys, &srv) == 0 && ks_server_run(srv) == 0)
        status = 0;
    ks_server_free(srv);
    ks_keys_free(keys);
    return status;
}
