// SPDX-License-Identifier: Apache-2.0
// tls/keyserver/listen.c: turns a --listen address (HOST:PORT, [V6]:PORT, unix:PATH) into a
// non-blocking listening socket.
#include "tls/keyserver/keyserver.h"

#include "core/err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define BACKLOG 1024

// split_host_port splits spec into host (caller storage of hlen bytes) and port (a pointer into
// spec). Returns 0 or -EINVAL.
static int split_host_port(const char *spec, char *host, size_t hlen, const char **port)
{
    const char *colon;
    if (spec[0] == '[') {
        const char *end = strchr(spec, ']');
        if (!end || end[1] != ':')
            return -EINVAL;
        if ((size_t)(end - spec - 1) >= hlen)
            return -EINVAL;
        memcpy(host, spec + 1, (size_t)(end - spec - 1));
        host[end - spec - 1] = '\0';
        colon = end + 1;
    } else {
        colon = strrchr(spec, ':');
        if (!colon || (size_t)(colon - spec) >= hlen || memchr(spec, ':', colon - spec))
            return -EINVAL; // a bare IPv6 address must be bracketed
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = '\0';
    }
    *port = colon + 1;
    char *end;
    long p = strtol(*port, &end, 10);
    if (!host[0] || !**port || *end || p < 0 || p > 65535)
        return -EINVAL;
    return 0;
}

// name_bound writes l->name from the address fd is bound to (with the port the kernel chose).
static void name_bound(struct ks_listener *l)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char addr[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (getsockname(l->fd, (struct sockaddr *)&ss, &sl) < 0)
        return;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &in->sin_addr, addr, sizeof(addr));
        port = ntohs(in->sin_port);
        snprintf(l->name, sizeof(l->name), "%s:%u", addr, port);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof(addr));
        port = ntohs(in6->sin6_port);
        snprintf(l->name, sizeof(l->name), "[%s]:%u", addr, port);
    }
}

// bind_listen makes fd (owned by the caller) reusable, binds it to sa and listens. Returns 0
// or a negative errno.
static int bind_listen(int fd, const struct sockaddr *sa, socklen_t len)
{
    int one = 1;
    if (sa->sa_family != AF_UNIX && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        return -errno;
    if (sa->sa_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
        return -errno;
    if (bind(fd, sa, len) < 0 || listen(fd, BACKLOG) < 0)
        return -errno;
    return 0;
}

static int open_tcp(struct ks_listener *l, const char *spec, struct core_err *err)
{
    char host[256];
    const char *port;
    if (split_host_port(spec, host, sizeof(host), &port) < 0) {
        core_err_add(err, NULL, 0, "--listen %s: expected HOST:PORT, [V6ADDR]:PORT or unix:PATH",
                     spec);
        return -EINVAL;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0) {
        core_err_add(err, NULL, 0, "--listen %s: %s", spec, gai_strerror(gai));
        return -EINVAL;
    }
    int rc = -EADDRNOTAVAIL;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        int fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            rc = -errno;
            continue;
        }
        rc = bind_listen(fd, a->ai_addr, a->ai_addrlen);
        if (rc == 0) {
            l->fd = fd;
            break;
        }
        close(fd);
    }
    freeaddrinfo(ai);
    if (rc < 0)
        core_err_add(err, NULL, 0, "--listen %s: %s", spec, strerror(-rc));
    else
        name_bound(l);
    return rc;
}

// remove_stale unlinks path when it is a socket (left by an earlier run). Returns 0, or
// -EEXIST when path is another kind of file.
static int remove_stale(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return 0;
    if (!S_ISSOCK(st.st_mode))
        return -EEXIST;
    return unlink(path) < 0 ? -errno : 0;
}

static int open_unix(struct ks_listener *l, const char *path, struct core_err *err)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (!path[0] || strlen(path) >= sizeof(sun.sun_path)) {
        core_err_add(err, NULL, 0, "--listen unix:%s: the path must have 1 to %zu bytes", path,
                     sizeof(sun.sun_path) - 1);
        return -EINVAL;
    }
    memcpy(sun.sun_path, path, strlen(path));
    int rc = remove_stale(path);
    int fd = -1;
    if (rc == 0) {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        rc = fd < 0 ? -errno : bind_listen(fd, (struct sockaddr *)&sun, sizeof(sun));
    }
    if (rc < 0) {
        core_err_add(err, path, 0, "cannot listen: %s", strerror(-rc));
        if (fd >= 0)
            close(fd);
        return rc;
    }
    struct stat st;
    if (stat(path, &st) == 0) {
        l->dev = st.st_dev;
        l->ino = st.st_ino;
    }
    l->fd = fd;
    l->is_unix = true;
    snprintf(l->path, sizeof(l->path), "%s", path);
    snprintf(l->name, sizeof(l->name), "unix:%s", path);
    return 0;
}

int ks_listener_open(struct ks_listener *l, const char *spec, struct core_err *err)
{
    memset(l, 0, sizeof(*l));
    l->fd = -1;
    if (strncmp(spec, "unix:", 5) == 0)
        return open_unix(l, spec + 5, err);
    return open_tcp(l, spec, err);
}

void ks_listener_close(struct ks_listener *l)
{
    if (l->fd < 0)
        return;
    close(l->fd);
    l->fd = -1;
    struct stat st;
    if (l->is_unix && lstat(l->path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino)
        unlink(l->path); // still ours: a newer signer's socket is left in place
}
