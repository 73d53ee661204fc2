// SPDX-License-Identifier: Apache-2.0
// tests/tools/capture_listener.c: a throwaway loopback listener that records the first flight
// of one client (its ClientHello) for tests/fixtures/capture_clienthello.sh.
//
// Usage: capture_listener PORTFILE OUTFILE [SECONDS]
// It listens on 127.0.0.1 on a port the kernel picks, writes that port number to PORTFILE
// (atomically, by rename), accepts one connection, and reads until the client has been quiet
// for 300 ms (a TLS client sends its ClientHello and then waits for the server) or closes. It
// writes the bytes to OUTFILE, closes without answering, and exits 0. It exits 1 on any error
// or when nothing arrived within SECONDS (default 5), so it never outlives a failed script.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define QUIET_MS 300
#define CAPTURE_MAX 65536

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

// wait_readable polls fd until it is readable or ms pass: 1 readable, 0 timed out, -1 error.
static int wait_readable(int fd, long ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int rc;
    if (ms < 0)
        ms = 0;
    do {
        rc = poll(&p, 1, (int)ms);
    } while (rc < 0 && errno == EINTR);
    return rc;
}

// listen_loopback opens the listener and writes its port to portfile; returns the fd or -1.
static int listen_loopback(const char *portfile)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    char tmp[4096];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
        goto fail;
    snprintf(tmp, sizeof(tmp), "%s.tmp", portfile);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        goto fail;
    fprintf(f, "%u\n", (unsigned)ntohs(sa.sin_port));
    if (fclose(f) != 0 || rename(tmp, portfile) != 0)
        goto fail;
    return fd;
fail:
    perror("capture_listener: listen");
    if (fd >= 0)
        close(fd);
    return -1;
}

// capture reads from c until the client is quiet or gone, or the deadline passes; returns the
// number of bytes in buf.
static size_t capture(int c, unsigned char *buf, long deadline)
{
    size_t n = 0;
    while (n < CAPTURE_MAX) {
        long wait = n == 0 ? deadline - now_ms() : QUIET_MS;
        if (wait_readable(c, wait) <= 0)
            break;
        ssize_t k = read(c, buf + n, CAPTURE_MAX - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    return n;
}

int main(int argc, char **argv)
{
    static unsigned char buf[CAPTURE_MAX];
    int lfd = -1, c = -1, rc = 1;
    long secs = argc > 3 ? strtol(argv[3], NULL, 10) : 5;

    if (argc < 3) {
        fprintf(stderr, "usage: capture_listener PORTFILE OUTFILE [SECONDS]\n");
        return 2;
    }
    long deadline = now_ms() + (secs > 0 ? secs : 5) * 1000L;
    lfd = listen_loopback(argv[1]);
    if (lfd < 0 || wait_readable(lfd, deadline - now_ms()) <= 0)
        goto out;
    c = accept(lfd, NULL, NULL);
    if (c < 0)
        goto out;
    size_t n = capture(c, buf, deadline);
    FILE *f = n > 0 ? fopen(argv[2], "wb") : NULL;
    if (f == NULL)
        goto out;
    bool written = fwrite(buf, 1, n, f) == n;
    if (fclose(f) == 0 && written)
        rc = 0;
out:
    if (rc != 0)
        fprintf(stderr, "capture_listener: nothing captured\n");
    if (c >= 0)
        close(c);
    if (lfd >= 0)
        close(lfd);
    return rc;
}
