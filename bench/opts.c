// SPDX-License-Identifier: Apache-2.0
// bench/opts.c: tlsedge-bench's command line (see bench/opts.h): getopt_long, strict number
// parsing with ranges, the --alpn, --sigalgs and --cpu lists, HOST:PORT splitting and the one
// name resolution of the run. Nothing here prints except bench_opts_usage().
#include "bench/opts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ssl.h>

#ifndef OPENSSL_IS_BORINGSSL
#error "tlsedge-bench is built against BoringSSL only"
#endif

static const char *const mode_names[] = {
    [BENCH_MODE_HANDSHAKE] = "handshake", [BENCH_MODE_RESUME] = "resume",
    [BENCH_MODE_REQUEST] = "request",     [BENCH_MODE_KEEPALIVE] = "keepalive",
    [BENCH_MODE_BULK] = "bulk",           [BENCH_MODE_IDLE] = "idle",
};

// Signature scheme names as TLS 1.3 spells them (RFC 8446 section 4.2.3), which is also what
// SSL_get_signature_algorithm_name(alg, 1) prints.
static const struct {
    const char *name;
    uint16_t value;
} sigalg_names[] = {
    {"rsa_pkcs1_sha1", SSL_SIGN_RSA_PKCS1_SHA1},
    {"rsa_pkcs1_sha256", SSL_SIGN_RSA_PKCS1_SHA256},
    {"rsa_pkcs1_sha384", SSL_SIGN_RSA_PKCS1_SHA384},
    {"rsa_pkcs1_sha512", SSL_SIGN_RSA_PKCS1_SHA512},
    {"ecdsa_sha1", SSL_SIGN_ECDSA_SHA1},
    {"ecdsa_secp256r1_sha256", SSL_SIGN_ECDSA_SECP256R1_SHA256},
    {"ecdsa_secp384r1_sha384", SSL_SIGN_ECDSA_SECP384R1_SHA384},
    {"ecdsa_secp521r1_sha512", SSL_SIGN_ECDSA_SECP521R1_SHA512},
    {"rsa_pss_rsae_sha256", SSL_SIGN_RSA_PSS_RSAE_SHA256},
    {"rsa_pss_rsae_sha384", SSL_SIGN_RSA_PSS_RSAE_SHA384},
    {"rsa_pss_rsae_sha512", SSL_SIGN_RSA_PSS_RSAE_SHA512},
    {"ed25519", SSL_SIGN_ED25519},
};

const char *bench_mode_name(enum bench_mode m)
{
    return mode_names[m];
}

bool bench_mode_uses_http(enum bench_mode m)
{
    return m == BENCH_MODE_REQUEST || m == BENCH_MODE_KEEPALIVE || m == BENCH_MODE_BULK;
}

// usage_text is the --help text.
static const char usage_text[] =
    "usage: tlsedge-bench MODE [options] HOST:PORT\n"
    "       tlsedge-bench idle N [options] HOST:PORT\n"
    "\n"
    "A TLS load generator (BoringSSL, one epoll loop per thread). HOST is an IPv4 address,\n"
    "[IPv6] in brackets, or a name resolved once at start.\n"
    "\n"
    "modes (what one operation is):\n"
    "  handshake     connect, full handshake, close (no session offered)\n"
    "  resume        connect, handshake offering a session from an earlier handshake\n"
    "                (TLS 1.3 ticket or TLS 1.2 session), close; reports the resumed ratio\n"
    "  request       connect, handshake, one GET PATH, read the whole response, close\n"
    "  keepalive     one GET PATH over -c persistent connections (HTTP/1.1 keep-alive,\n"
    "                one request in flight per connection)\n"
    "  bulk          like keepalive for a large PATH (e.g. /size/1048576); reports MB/s\n"
    "  idle N        open N connections (-c at once), hold them -d seconds, report the\n"
    "                server's RSS growth per connection (needs --server-pid)\n"
    "\n"
    "load:\n"
    "  -c N          concurrent connections (default 32); idle: connecting at once\n"
    "  -t N          threads, each with its own epoll loop and share of -c (default 1)\n"
    "  -d SECONDS    measured duration (default 10); idle: how long to hold\n"
    "  --warmup S    seconds run before the measured window, not counted (default 1)\n"
    "  --rate N      total new connections (handshake, resume, request, idle) or requests\n"
    "                (keepalive, bulk) per second, spread evenly; default: as fast as\n"
    "                possible\n"
    "  --max N       stop after N successful operations in the window (a bound for tests)\n"
    "  --timeout MS  per-operation timeout (default 5000); counted as error 'timeout'\n"
    "  --ticket-wait MS  after a TLS 1.3 handshake, read at most this long for the\n"
    "                server's session tickets (default 250; 0 = never wait); each thread\n"
    "                learns whether the server sends them unprompted (bench/README.md)\n"
    "  --src-ips N   bind each connection to 127.0.0.1 .. 127.0.0.N in turn\n"
    "                (IP_BIND_ADDRESS_NO_PORT; IPv4 loopback targets only): N times the\n"
    "                ephemeral ports; default: no bind (relies on net.ipv4.tcp_tw_reuse)\n"
    "TLS:\n"
    "  --tls12 | --tls13   the only protocol version offered (default --tls13)\n"
    "  --sni NAME    server_name to send (default: HOST when it is a name, else none)\n"
    "  --alpn LIST   ALPN protocols, comma-separated (default: none)\n"
    "  --groups LIST key exchange groups, BoringSSL curves list (default X25519;\n"
    "                with --tls12 X25519:P-256, which P-256 ECDSA certificates need)\n"
    "  --sigalgs LIST  signature algorithms accepted from the server, comma-separated\n"
    "                (e.g. ecdsa_secp256r1_sha256 or rsa_pss_rsae_sha256, or 0xNNNN): steers\n"
    "                a server with an ECDSA and an RSA certificate\n"
    "  --cipher LIST TLS 1.2 cipher list (BoringSSL syntax)\n"
    "  --verify CAFILE  verify the chain and the name (SNI, else HOST) against CAFILE;\n"
    "                default off (the CertificateVerify signature is always checked)\n"
    "  --count-certs count handshakes per served leaf certificate (SHA-256 of the DER)\n"
    "HTTP:\n"
    "  --path PATH   request target (default /)\n"
    "  --host VALUE  Host header (default: SNI or HOST, with :PORT unless 443)\n"
    "measuring and output:\n"
    "  --server-pid PID  the server's CPU over the window (/proc/PID/stat, all threads;\n"
    "                idle: while opening) and, in idle mode, its VmRSS before and after\n"
    "  --cpu LIST    pin every thread of the bench to these CPUs (e.g. 1 or 2-3)\n"
    "  --json        the final report as one JSON object on stdout\n"
    "  --quiet       no progress lines (one per second on stderr by default)\n"
    "  --debug       log every connection state change on stderr (slow)\n"
    "  --help        this text\n"
    "  --version     the version and the BoringSSL build linked\n"
    "\n"
    "Exit status: 0 when the run completed (even with errors), 1 when no connection\n"
    "could be established at all, 2 for a usage error.\n";

void bench_opts_usage(FILE *f)
{
    fputs(usage_text, f);
}

// The Makefile describes the BoringSSL it links (config.mk's BSSL_DESC); a build without it
// still names the API version.
#ifndef TLSEDGE_BSSL_DESC
#define TLSEDGE_BSSL_DESC "unknown build"
#endif

void bench_opts_version(FILE *f)
{
    fprintf(f, "tlsedge-bench %s\nBoringSSL: %s, API version %d\n", BENCH_VERSION,
            TLSEDGE_BSSL_DESC, BORINGSSL_API_VERSION);
}

// fail_msg writes a reason into err and returns -EINVAL.
static int fail_msg(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_msg(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

// parse_u64 parses a decimal integer in [lo, hi]. Returns 0 or -EINVAL.
static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (*s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return -EINVAL;
    *out = v;
    return 0;
}

// parse_unsigned is parse_u64 for an unsigned int.
static int parse_unsigned(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
    uint64_t v;

    if (parse_u64(s, lo, hi, &v) != 0)
        return -EINVAL;
    *out = (unsigned)v;
    return 0;
}

// parse_seconds parses a non-negative decimal number of seconds (at most a day).
static int parse_seconds(const char *s, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= 0) || v > 86400)
        return -EINVAL;
    *out = v;
    return 0;
}

// parse_alpn turns "h2,http/1.1" into the wire format in o->alpn.
static int parse_alpn(struct bench_opts *o, const char *list)
{
    const char *p = list;

    o->alpn_len = 0;
    while (*p != '\0') {
        size_t n = strcspn(p, ",");

        if (n == 0 || n > 255 || o->alpn_len + 1 + n > sizeof(o->alpn))
            return -EINVAL;
        o->alpn[o->alpn_len++] = (uint8_t)n;
        memcpy(o->alpn + o->alpn_len, p, n);
        o->alpn_len += n;
        p += n;
        if (*p == ',' && *++p == '\0')
            return -EINVAL;
    }
    return o->alpn_len > 0 ? 0 : -EINVAL;
}

// sigalg_value maps one --sigalgs entry (n bytes at s) to its value. Returns 0 or -EINVAL.
static int sigalg_value(const char *s, size_t n, uint16_t *out)
{
    char buf[64];
    char *end;
    unsigned long v;

    if (n == 0 || n >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s, n);
    buf[n] = '\0';
    for (size_t i = 0; i < sizeof(sigalg_names) / sizeof(sigalg_names[0]); i++) {
        if (strcasecmp(buf, sigalg_names[i].name) == 0) {
            *out = sigalg_names[i].value;
            return 0;
        }
    }
    if (strncasecmp(buf, "0x", 2) != 0)
        return -EINVAL;
    v = strtoul(buf + 2, &end, 16);
    if (*end != '\0' || end == buf + 2 || v == 0 || v > 0xffff)
        return -EINVAL;
    *out = (uint16_t)v;
    return 0;
}

// parse_sigalgs fills o->sigalgs from a comma (or colon) separated list.
static int parse_sigalgs(struct bench_opts *o, const char *list)
{
    const char *p = list;

    o->n_sigalgs = 0;
    while (*p != '\0') {
        size_t n = strcspn(p, ",:");

        if (o->n_sigalgs == BENCH_MAX_SIGALGS || sigalg_value(p, n, &o->sigalgs[o->n_sigalgs]) != 0)
            return -EINVAL;
        o->n_sigalgs++;
        p += n;
        if (*p != '\0' && *++p == '\0')
            return -EINVAL;
    }
    return o->n_sigalgs > 0 ? 0 : -EINVAL;
}

// parse_cpus fills set from a list such as "1", "0-3" or "1,3-4".
static int parse_cpus(cpu_set_t *set, const char *list)
{
    const char *p = list;

    CPU_ZERO(set);
    while (*p != '\0') {
        char *end;
        unsigned long a, b;

        if (*p < '0' || *p > '9')
            return -EINVAL;
        a = b = strtoul(p, &end, 10);
        if (*end == '-') {
            p = end + 1;
            if (*p < '0' || *p > '9')
                return -EINVAL;
            b = strtoul(p, &end, 10);
        }
        if (a > b || b >= CPU_SETSIZE)
            return -EINVAL;
        for (unsigned long c = a; c <= b; c++)
            CPU_SET(c, set);
        p = end;
        if (*p == ',' && *++p == '\0')
            return -EINVAL;
        if (*p != '\0' && (*p < '0' || *p > '9'))
            return -EINVAL;
    }
    return CPU_COUNT(set) > 0 ? 0 : -EINVAL;
}

// split_target splits HOST:PORT or [V6]:PORT into o->host and o->port.
static int split_target(struct bench_opts *o, const char *t)
{
    const char *colon, *h = t;
    size_t hn;
    unsigned port;

    if (*t == '[') {
        const char *close = strchr(t, ']');

        if (close == NULL || close[1] != ':')
            return -EINVAL;
        h = t + 1;
        hn = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(t, ':');
        if (colon == NULL || memchr(t, ':', (size_t)(colon - t)) != NULL)
            return -EINVAL; // a bare IPv6 address needs brackets
        hn = (size_t)(colon - t);
    }
    if (hn == 0 || hn >= sizeof(o->host) || parse_unsigned(colon + 1, 1, 65535, &port) != 0)
        return -EINVAL;
    memcpy(o->host, h, hn);
    o->host[hn] = '\0';
    o->port = (uint16_t)port;
    return 0;
}

// resolve_target resolves o->host once (the first address getaddrinfo returns).
static int resolve_target(struct bench_opts *o, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    struct in6_addr a6;
    struct in_addr a4;
    char port[8];
    int rc;

    o->host_is_ip = inet_pton(AF_INET, o->host, &a4) == 1 || inet_pton(AF_INET6, o->host, &a6) == 1;
    snprintf(port, sizeof(port), "%u", o->port);
    rc = getaddrinfo(o->host, port, &hints, &res);
    if (rc != 0)
        return fail_msg(err, errlen, "cannot resolve '%s': %s", o->host, gai_strerror(rc));
    memcpy(&o->addr, res->ai_addr, res->ai_addrlen);
    o->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

// finish_target derives the SNI and Host defaults once the target is known.
static void finish_target(struct bench_opts *o, bool sni_set, const char *host_opt)
{
    const char *name;
    bool v6;

    if (!sni_set)
        o->sni = o->host_is_ip ? NULL : o->host;
    if (host_opt != NULL) {
        snprintf(o->host_header, sizeof(o->host_header), "%s", host_opt);
        return;
    }
    name = o->sni != NULL ? o->sni : o->host;
    v6 = o->sni == NULL && strchr(o->host, ':') != NULL;
    if (o->port == 443)
        snprintf(o->host_header, sizeof(o->host_header), v6 ? "[%s]" : "%s", name);
    else
        snprintf(o->host_header, sizeof(o->host_header), v6 ? "[%s]:%u" : "%s:%u", name, o->port);
}

enum {
    OPT_WARMUP = 256,
    OPT_RATE,
    OPT_MAX,
    OPT_TLS12,
    OPT_TLS13,
    OPT_SNI,
    OPT_ALPN,
    OPT_GROUPS,
    OPT_SIGALGS,
    OPT_CIPHER,
    OPT_VERIFY,
    OPT_COUNT_CERTS,
    OPT_SERVER_PID,
    OPT_JSON,
    OPT_QUIET,
    OPT_CPU,
    OPT_TIMEOUT,
    OPT_TICKET_WAIT,
    OPT_SRC_IPS,
    OPT_PATH,
    OPT_HOST,
    OPT_DEBUG,
    OPT_HELP,
    OPT_VERSION,
};

static const struct option long_opts[] = {
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"rate", required_argument, NULL, OPT_RATE},
    {"max", required_argument, NULL, OPT_MAX},
    {"tls12", no_argument, NULL, OPT_TLS12},
    {"tls13", no_argument, NULL, OPT_TLS13},
    {"sni", required_argument, NULL, OPT_SNI},
    {"alpn", required_argument, NULL, OPT_ALPN},
    {"groups", required_argument, NULL, OPT_GROUPS},
    {"sigalgs", required_argument, NULL, OPT_SIGALGS},
    {"cipher", required_argument, NULL, OPT_CIPHER},
    {"verify", required_argument, NULL, OPT_VERIFY},
    {"count-certs", no_argument, NULL, OPT_COUNT_CERTS},
    {"server-pid", required_argument, NULL, OPT_SERVER_PID},
    {"json", no_argument, NULL, OPT_JSON},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"cpu", required_argument, NULL, OPT_CPU},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"ticket-wait", required_argument, NULL, OPT_TICKET_WAIT},
    {"src-ips", required_argument, NULL, OPT_SRC_IPS},
    {"path", required_argument, NULL, OPT_PATH},
    {"host", required_argument, NULL, OPT_HOST},
    {"debug", no_argument, NULL, OPT_DEBUG},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

// set_defaults fills o with every default.
static void set_defaults(struct bench_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->conns = 32;
    o->threads = 1;
    o->duration_s = 10;
    o->warmup_s = 1;
    o->tls_version = TLS1_3_VERSION;
    o->timeout_ms = 5000;
    o->ticket_wait_ms = 250;
    o->path = "/";
}

// parse_numeric_opt handles the options that take a number. Returns 0, -EINVAL (bad value) or
// -ENOENT (not a numeric option).
static int parse_numeric_opt(struct bench_opts *o, int c, const char *arg)
{
    uint64_t v;

    switch (c) {
    case 'c':
        return parse_unsigned(arg, 1, 1000000, &o->conns);
    case 't':
        return parse_unsigned(arg, 1, 256, &o->threads);
    case 'd':
        return parse_seconds(arg, &o->duration_s);
    case OPT_WARMUP:
        return parse_seconds(arg, &o->warmup_s);
    case OPT_RATE:
        if (parse_u64(arg, 1, 100000000, &v) != 0)
            return -EINVAL;
        o->rate = (double)v;
        return 0;
    case OPT_MAX:
        return parse_u64(arg, 1, UINT64_MAX / 2, &o->max_ops);
    case OPT_SERVER_PID:
        if (parse_u64(arg, 1, 0x3fffffff, &v) != 0)
            return -EINVAL;
        o->server_pid = (pid_t)v;
        return 0;
    case OPT_TIMEOUT:
        return parse_unsigned(arg, 1, 3600000, &o->timeout_ms);
    case OPT_TICKET_WAIT:
        return parse_unsigned(arg, 0, 60000, &o->ticket_wait_ms);
    case OPT_SRC_IPS:
        return parse_unsigned(arg, 1, 254, &o->src_ips);
    }
    return -ENOENT;
}

// parse_list_opt handles the options that take a list or a string. Returns 0, -EINVAL or
// -ENOENT (not such an option).
static int parse_list_opt(struct bench_opts *o, int c, const char *arg)
{
    switch (c) {
    case OPT_SNI:
        if (*arg == '\0')
            return -EINVAL;
        o->sni = arg;
        return 0;
    case OPT_ALPN:
        return parse_alpn(o, arg);
    case OPT_GROUPS:
        o->groups = arg;
        return *arg != '\0' ? 0 : -EINVAL;
    case OPT_SIGALGS:
        return parse_sigalgs(o, arg);
    case OPT_CIPHER:
        o->cipher = arg;
        return *arg != '\0' ? 0 : -EINVAL;
    case OPT_VERIFY:
        o->verify_ca = arg;
        return *arg != '\0' ? 0 : -EINVAL;
    case OPT_CPU:
        o->pin = true;
        return parse_cpus(&o->cpus, arg);
    case OPT_PATH:
        o->path = arg;
        return (*arg == '/' && strpbrk(arg, " \r\n") == NULL) ? 0 : -EINVAL;
    }
    return -ENOENT;
}

// parse_flag_opt handles the options without an argument. Returns 0 or -ENOENT.
static int parse_flag_opt(struct bench_opts *o, int c)
{
    switch (c) {
    case OPT_TLS12:
        o->tls_version = TLS1_2_VERSION;
        return 0;
    case OPT_TLS13:
        o->tls_version = TLS1_3_VERSION;
        return 0;
    case OPT_COUNT_CERTS:
        o->count_certs = true;
        return 0;
    case OPT_JSON:
        o->json = true;
        return 0;
    case OPT_QUIET:
        o->quiet = true;
        return 0;
    case OPT_DEBUG:
        o->debug = true;
        return 0;
    }
    return -ENOENT;
}

// parse_positional reads MODE [N] HOST:PORT from the operands left after the options.
static int parse_positional(struct bench_opts *o, int n, char **args, char *err, size_t errlen)
{
    size_t m;
    int want;

    if (n < 1)
        return fail_msg(err, errlen, "missing MODE (see --help)");
    for (m = 0; m < sizeof(mode_names) / sizeof(mode_names[0]); m++)
        if (strcmp(args[0], mode_names[m]) == 0)
            break;
    if (m == sizeof(mode_names) / sizeof(mode_names[0]))
        return fail_msg(err, errlen, "unknown mode '%s'", args[0]);
    o->mode = (enum bench_mode)m;
    want = o->mode == BENCH_MODE_IDLE ? 3 : 2;
    if (n != want)
        return fail_msg(err, errlen, "%s: expected %sHOST:PORT", args[0],
                        o->mode == BENCH_MODE_IDLE ? "N and " : "");
    if (o->mode == BENCH_MODE_IDLE && parse_u64(args[1], 1, 10000000, &o->idle_n) != 0)
        return fail_msg(err, errlen, "idle: bad connection count '%s'", args[1]);
    if (o->mode == BENCH_MODE_IDLE && o->max_ops > 0)
        return fail_msg(err, errlen, "idle: --max does not apply (N bounds the run)");
    o->target = args[want - 1];
    if (split_target(o, o->target) != 0)
        return fail_msg(err, errlen, "bad target '%s' (HOST:PORT or [IPv6]:PORT)", o->target);
    return 0;
}

int bench_opts_parse(struct bench_opts *o, int argc, char **argv, char *err, size_t errlen)
{
    const char *host_opt = NULL;
    bool sni_set = false;
    int c, rc;

    set_defaults(o);
    err[0] = '\0';
    opterr = 0;
    optind = 1;
    // GNU getopt_long permutes argv: options may come before, between or after the operands,
    // which end up in argv[optind..].
    while ((c = getopt_long(argc, argv, ":c:t:d:", long_opts, NULL)) != -1) {
        if (c == OPT_HELP)
            return 1;
        if (c == OPT_VERSION)
            return 2;
        if (c == '?' || c == ':')
            return fail_msg(err, errlen, "unknown option or missing value: '%s'", argv[optind - 1]);
        if (c == OPT_HOST) {
            host_opt = optarg;
            continue;
        }
        sni_set |= c == OPT_SNI;
        rc = parse_numeric_opt(o, c, optarg);
        if (rc == -ENOENT)
            rc = parse_list_opt(o, c, optarg);
        if (rc == -ENOENT)
            rc = parse_flag_opt(o, c);
        if (rc != 0)
            return fail_msg(err, errlen, "bad value for '%s'", argv[optind - 1]);
    }
    rc = parse_positional(o, argc - optind, argv + optind, err, errlen);
    if (rc != 0)
        return rc;
    rc = resolve_target(o, err, errlen);
    if (rc != 0)
        return rc;
    if (o->src_ips > 0 && (o->addr.ss_family != AF_INET ||
                           (ntohl(((struct sockaddr_in *)&o->addr)->sin_addr.s_addr) >> 24) != 127))
        return fail_msg(err, errlen, "--src-ips needs an IPv4 loopback (127.x) target");
    finish_target(o, sni_set, host_opt);
    // In TLS 1.2 the client's groups also bound the curve of the server's ECDSA certificate
    // (RFC 8422 section 5.1): X25519 alone would rule out every P-256 certificate. X25519 stays
    // first, so the key exchange is the same.
    if (o->groups == NULL)
        o->groups = o->tls_version == TLS1_2_VERSION ? "X25519:P-256" : "X25519";
    return 0;
}
