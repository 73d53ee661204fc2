// SPDX-License-Identifier: Apache-2.0
/*
 * tests/tools/origin/main.c: the origin test server's process: command line, listening socket,
 * accepting connections, timers and the epoll loop that drives everything.
 *
 * It owns `origin` (the process state) and the event log. Connections themselves are conn.c's;
 * endpoints, command line and log format are described in tests/tools/README.md.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "origin.h"

#define MAX_CONNS 4096
#define ACCEPT_PAUSE_MS 100

struct origin_state origin;

uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 1, 2))) void log_line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(origin.log, fmt, ap);
    va_end(ap);
    fputc('\n', origin.log);
    fflush(origin.log);
}

/* ---- accepting ---- */

static void accept_one(int fd, const struct sockaddr_storage *peer)
{
    int one = 1;
    struct conn *c = origin.nconns < MAX_CONNS ? conn_new(fd, peer) : NULL;
    if (!c) {
        log_line("err 0 accept: too many connections or out of memory");
        close(fd);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct epoll_event e = {.events = c->events, .data.ptr = c};
    if (epoll_ctl(origin.epfd, EPOLL_CTL_ADD, fd, &e) != 0) {
        close(fd);
        free(c->in.data);
        free(c->out.data);
        free(c);
        return;
    }
    c->next = origin.conns;
    if (origin.conns)
        origin.conns->prev = c;
    origin.conns = c;
    origin.nconns++;
    log_line("conn %" PRIu64 " open %s", c->id, c->peer);
}

static void listener_set(uint32_t events)
{
    struct epoll_event e = {.events = events, .data.ptr = NULL};
    epoll_ctl(origin.epfd, EPOLL_CTL_MOD, origin.lfd, &e);
}

static void accept_all(void)
{
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int fd = accept4(origin.lfd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            accept_one(fd, &peer);
            continue;
        }
        int err = errno;
        if (err == EINTR || err == ECONNABORTED)
            continue;
        if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
            log_line("err 0 accept: %s (pausing)", strerror(err));
            listener_set(0);
            origin.accept_resume = now_ms() + ACCEPT_PAUSE_MS;
        }
        return;
    }
}

/* ---- main loop ---- */

static void run_timers(uint64_t now)
{
    if (origin.accept_resume && now >= origin.accept_resume) {
        origin.accept_resume = 0;
        listener_set(EPOLLIN);
    }
    struct conn *next;
    for (struct conn *c = origin.conns; c; c = next) {
        next = c->next;
        if (c->wake_at && now >= c->wake_at) {
            c->wake_at = 0;
            conn_run(c);
        }
    }
}

/* next_timeout: milliseconds until the earliest timer, -1 when none is armed. */
static int next_timeout(uint64_t now)
{
    uint64_t first = origin.deadline;
    if (origin.accept_resume && (!first || origin.accept_resume < first))
        first = origin.accept_resume;
    for (struct conn *c = origin.conns; c; c = c->next)
        if (c->wake_at && (!first || c->wake_at < first))
            first = c->wake_at;
    if (!first)
        return -1;
    return first <= now ? 0 : (int)min_size(first - now, 60000);
}

static int event_loop(void)
{
    struct epoll_event evs[256];
    for (;;) {
        uint64_t now = now_ms();
        if (origin.deadline && now >= origin.deadline) {
            log_line("exit max-seconds");
            return 0;
        }
        run_timers(now);
        int n = epoll_wait(origin.epfd, evs, 256, next_timeout(now_ms()));
        if (n < 0 && errno != EINTR) {
            perror("origin: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL)
                accept_all();
            else
                conn_event(evs[i].data.ptr, evs[i].events);
        }
    }
}

/* ---- startup ---- */

static int parse_addr(const char *addr, unsigned port, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[INET6_ADDRSTRLEN + 2];
    size_t n = strlen(addr);
    if (n >= sizeof(host))
        return -1;
    memcpy(host, addr, n + 1);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        memmove(host, host + 1, n - 2);
        host[n - 2] = '\0';
    }
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof(*a4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a6);
        return 0;
    }
    return -1;
}

/* listen_on binds the listening socket and prints "PORT <n>"; the fd, or -1 after a message. */
static int listen_on(const char *addr, unsigned port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1, fd = -1;
    if (parse_addr(addr, port, &ss, &len) != 0) {
        fprintf(stderr, "origin: bad address '%s'\n", addr);
        return -1;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, SOMAXCONN) != 0)
        goto fail;
    len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        goto fail;
    port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
    printf("PORT %u\n", port);
    fflush(stdout);
    return fd;
fail:
    fprintf(stderr, "origin: listen on %s port %u: %s\n", addr, port, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: origin -p PORT [-a ADDR] [-l LOGFILE] [--max-seconds N]\n"
               "  -p PORT           port to listen on; 0 picks a free one (see the PORT line)\n"
               "  -a ADDR           address to listen on (default 127.0.0.1; ::1 works)\n"
               "  -l LOGFILE        append the event log there instead of stdout\n"
               "  --max-seconds N   exit after N seconds (default 600; 0 = never)\n");
}

struct options {
    const char *addr, *logfile;
    long port;
    uint64_t max_seconds;
};

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"max-seconds", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    char *end;
    *o = (struct options){.addr = "127.0.0.1", .port = -1, .max_seconds = 600};
    while ((opt = getopt_long(argc, argv, "p:a:l:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'p':
            o->port = strtol(optarg, &end, 10);
            if (*end || end == optarg || o->port < 0 || o->port > 65535)
                return -1;
            break;
        case 'a':
            o->addr = optarg;
            break;
        case 'l':
            o->logfile = optarg;
            break;
        case 'm':
            if (parse_u64(optarg, strlen(optarg), UINT64_C(1) << 40, &o->max_seconds) != 0)
                return -1;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            return -1;
        }
    }
    return (o->port < 0 || optind != argc) ? -1 : 0;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    struct options o;
    if (parse_options(argc, argv, &o) != 0) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    origin.log = stdout;
    if (o.logfile && !(origin.log = fopen(o.logfile, "a"))) {
        fprintf(stderr, "origin: %s: %s\n", o.logfile, strerror(errno));
        return 1;
    }
    origin.lfd = listen_on(o.addr, (unsigned)o.port);
    if (origin.lfd < 0)
        return 1;
    origin.epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
    if (origin.epfd < 0 || epoll_ctl(origin.epfd, EPOLL_CTL_ADD, origin.lfd, &e) != 0) {
        perror("origin: epoll");
        return 1;
    }
    if (o.max_seconds)
        origin.deadline = now_ms() + o.max_seconds * 1000;
    return event_loop();
}
