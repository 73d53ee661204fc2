// SPDX-License-Identifier: Apache-2.0
// net/resolve.c: resolver threads and delivery through the worker mailbox (see net/resolve.h).
#include "net/resolve.h"
#include "core/mbox.h"
#include "core/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu/compiler.h>

struct net_resolve {
    struct core_msg msg; // delivery to the worker
    struct net_resolve *next;
    struct core_worker *w;
    net_resolve_fn fn;
    void *arg;
    bool cancelled; // written and read on the worker only
    uint16_t port;
    int rc;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char host[256];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct net_resolve *head, *tail;

int net_resolve_numeric(const char *host, uint16_t port, struct sockaddr_storage *addr,
                        socklen_t *addrlen)
{
    char buf[INET6_ADDRSTRLEN + 2];
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof(buf)) {
        memcpy(buf, host + 1, n - 2);
        buf[n - 2] = '\0';
        host = buf;
    }
    memset(addr, 0, sizeof(*addr));
    struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(port);
        *addrlen = sizeof(*a4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        *addrlen = sizeof(*a6);
        return 0;
    }
    return -EINVAL;
}

static void deliver(struct core_msg *msg)
{
    struct net_resolve *r = caa_container_of(msg, struct net_resolve, msg);
    if (!r->cancelled)
        r->fn(r->arg, r->rc, &r->addr, r->addrlen);
    free(r);
}

static void lookup(struct net_resolve *r)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_ADDRCONFIG};
    struct addrinfo *res = NULL;
    char port[8];
    snprintf(port, sizeof(port), "%u", r->port);
    int g = getaddrinfo(r->host, port, &hints, &res);
    if (g != 0 || !res) {
        r->rc = (g == EAI_AGAIN) ? -EAGAIN : -ENOENT;
    } else {
        memcpy(&r->addr, res->ai_addr, res->ai_addrlen);
        r->addrlen = res->ai_addrlen;
        r->rc = 0;
    }
    if (res)
        freeaddrinfo(res);
}

static void *resolver_main(void *arg)
{
    pthread_setname_np(pthread_self(), "tlsedge-dns");
    for (;;) {
        pthread_mutex_lock(&lock);
        while (!head)
            pthread_cond_wait(&cond, &lock);
        struct net_resolve *r = head;
        head = r->next;
        if (!head)
            tail = NULL;
        pthread_mutex_unlock(&lock);
        lookup(r);
        core_worker_post(r->w, &r->msg);
    }
    return NULL;
}

int net_resolver_init(int nthreads)
{
    for (int i = 0; i < nthreads; i++) {
        pthread_t t;
        int rc = pthread_create(&t, NULL, resolver_main, NULL);
        if (rc != 0)
            return -rc;
        pthread_detach(t);
    }
    return 0;
}

struct net_resolve *net_resolve_start(struct core_worker *w, const char *host, uint16_t port,
                                      net_resolve_fn fn, void *arg)
{
    struct net_resolve *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->msg.fn = deliver;
    r->w = w;
    r->fn = fn;
    r->arg = arg;
    r->port = port;
    snprintf(r->host, sizeof(r->host), "%s", host);
    pthread_mutex_lock(&lock);
    if (tail)
        tail->next = r;
    else
        head = r;
    tail = r;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
    return r;
}

void net_resolve_cancel(struct net_resolve *r)
{
    if (r)
        r->cancelled = true;
}

int net_connect_result(int fd, struct sockaddr_storage *peer)
{
    int err = 0;
    socklen_t len = sizeof(err), plen = sizeof(*peer);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -errno;
    if (err)
        return -err;
    if (getpeername(fd, (struct sockaddr *)peer, &plen) < 0)
        return errno == ENOTCONN ? -EINPROGRESS : -errno;
    return 0;
}
