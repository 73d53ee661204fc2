// SPDX-License-Identifier: Apache-2.0
// net/splice.c: the byte relay of a tunnel whose two ends are plain TCP sockets, with splice(2):
// the bytes go socket -> pipe -> socket inside the kernel and never reach a user-space buffer.
// One pipe per direction, made when the tunnel switches to splicing (see net/tunnel.c) and
// closed with its origin side. Owning worker only.
#include "net/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

// Rounds of one direction per call: with a 64 KiB pipe about 1 MiB before the pump yields to
// the worker's other connections.
#define SPLICE_ROUNDS 16
// The pipe size asked for: pipe pages hold references to socket buffers while bytes wait, and
// nothing at all otherwise.
#define SPLICE_PIPE_SIZE (256 * 1024)

// struct splice_dir: one direction's pipe and the bytes in it.
struct splice_dir {
    int p[2];      // p[0] read end, p[1] write end
    size_t queued; // bytes spliced into the pipe and not yet out of it
    size_t cap;    // the pipe's capacity
    bool eof;      // the source ended (splice returned 0)
    bool moved;    // bytes went through at least once (a late EINVAL is an error, not a fallback)
};

struct net_splice {
    struct splice_dir d[2];
};

struct net_splice *net_splice_new(void)
{
    struct net_splice *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->d[0].p[0] = s->d[0].p[1] = s->d[1].p[0] = s->d[1].p[1] = -1;
    for (int i = 0; i < 2; i++) {
        if (pipe2(s->d[i].p, O_NONBLOCK | O_CLOEXEC) < 0) {
            net_splice_free(s);
            return NULL;
        }
        // A larger pipe means fewer system calls per byte (best effort: the default stays when
        // the limit, /proc/sys/fs/pipe-max-size, is lower).
        (void)fcntl(s->d[i].p[1], F_SETPIPE_SZ, SPLICE_PIPE_SIZE);
        int cap = fcntl(s->d[i].p[1], F_GETPIPE_SZ);
        s->d[i].cap = cap > 0 ? (size_t)cap : 65536;
    }
    return s;
}

void net_splice_free(struct net_splice *s)
{
    if (!s)
        return;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            if (s->d[i].p[j] >= 0)
                close(s->d[i].p[j]);
    free(s);
}

size_t net_splice_queued(const struct net_splice *s)
{
    return s ? s->d[0].queued + s->d[1].queued : 0;
}

// Moves what the pipe holds to the destination. Returns bytes moved, 0, or a negative errno.
static ssize_t drain(struct splice_dir *d, int to)
{
    if (d->queued == 0)
        return 0;
    ssize_t n = splice(d->p[0], NULL, to, NULL, d->queued, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
        d->queued -= (size_t)n;
        d->moved = true;
        return n;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR)
        return -errno;
    return 0;
}

// Takes what the source has, as far as the pipe has room. Returns bytes taken, 0, or a negative
// errno; sets eof at the end of the source. EAGAIN may also mean that the pipe ran out of slots
// before bytes (each socket segment takes one): the caller drains and tries again.
static ssize_t fill(struct splice_dir *d, int from)
{
    if (d->eof || d->queued >= d->cap)
        return 0;
    ssize_t n =
        splice(from, NULL, d->p[1], NULL, d->cap - d->queued, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
        d->queued += (size_t)n;
        return n;
    }
    if (n == 0) {
        d->eof = true;
        return 0;
    }
    if (errno == EAGAIN || errno == EINTR)
        return 0;
    return -errno;
}

int net_splice_step(struct net_splice *s, int dir, int from, int to, uint64_t *moved)
{
    struct splice_dir *d = &s->d[dir];
    int progress = 0;
    for (int round = 0; round < SPLICE_ROUNDS; round++) {
        ssize_t out = drain(d, to);
        bool was_eof = d->eof;
        ssize_t in = out < 0 ? 0 : fill(d, from);
        ssize_t out2 = out < 0 || in < 0 ? 0 : drain(d, to);
        ssize_t bad = out < 0 ? out : in < 0 ? in : out2 < 0 ? out2 : 0;
        if (bad < 0)
            // EINVAL before any byte went through: these sockets cannot be spliced.
            return bad == -EINVAL && !d->moved && d->queued == 0 ? -EINVAL
                   : bad == -EINVAL                              ? -EIO
                                                                 : (int)bad;
        *moved += (uint64_t)(out + out2);
        if (out > 0 || in > 0 || out2 > 0 || d->eof != was_eof)
            progress = 1;
        else
            break;
    }
    if (d->eof && d->queued == 0)
        return NET_SPLICE_ENDED;
    return progress;
}
