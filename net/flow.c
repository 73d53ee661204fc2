// SPDX-License-Identifier: Apache-2.0
// net/flow.c: the HTTP stage's bounded buffers and message flows: body framing (length,
// chunked, until EOF, tunnel) and the read/write loops with backpressure (see net/internal.h).
#include "net/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

// The most bytes net_flow_flush copies to send a made head and body bytes in one write: one
// TLS record's plaintext.
#define FLUSH_COALESCE 16384

// ---- buffers ----

size_t net_buf_len(const struct buf *b)
{
    return b->end - b->start;
}

void net_buf_free(struct buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

// Makes room for at least one more byte, up to max bytes in all. Returns the free space at the
// end (0: full, which is backpressure), or -ENOMEM.
ssize_t net_buf_room(struct buf *b, size_t max)
{
    if (b->start == b->end)
        b->start = b->end = 0;
    if (b->end < b->cap)
        return (ssize_t)(b->cap - b->end);
    if (b->start > 0) {
        memmove(b->data, b->data + b->start, b->end - b->start);
        b->end -= b->start;
        b->start = 0;
        return (ssize_t)(b->cap - b->end);
    }
    if (b->cap >= max)
        return 0;
    size_t ncap = b->cap ? b->cap * 2 : FLOW_BUF;
    if (ncap > max)
        ncap = max;
    char *d = realloc(b->data, ncap);
    if (!d)
        return -ENOMEM;
    b->data = d;
    b->cap = ncap;
    return (ssize_t)(b->cap - b->end);
}

int net_buf_append(struct buf *b, const char *data, size_t len)
{
    if (b->cap - b->end < len) {
        if (b->start > 0) {
            memmove(b->data, b->data + b->start, b->end - b->start);
            b->end -= b->start;
            b->start = 0;
        }
        if (b->cap - b->end < len) {
            char *d = realloc(b->data, b->end + len);
            if (!d)
                return -ENOMEM;
            b->data = d;
            b->cap = b->end + len;
        }
    }
    if (len) // an empty buffer has no data pointer to add nothing to
        memcpy(b->data + b->end, data, len);
    b->end += len;
    return 0;
}

// Idle connections keep no buffers: memory is held only while bytes wait.
void net_buf_trim(struct buf *b)
{
    if (b->data && b->start == b->end)
        net_buf_free(b);
}

void net_flow_reset(struct flow *f, bool keep_in)
{
    net_buf_free(&f->out);
    if (!keep_in)
        net_buf_free(&f->in);
    f->pass = 0;
    f->body = NET_HTTP1_BODY_NONE;
    f->left = 0;
    f->body_done = false;
    f->eof = false;
}

// Classifies the unclassified bytes of f->in as body bytes (pass) until the body ends.
// Returns 0, or a negative errno for a malformed chunked body.
int net_flow_classify(struct flow *f)
{
    if (f->body_done)
        return 0;
    size_t off = f->in.start + f->pass;
    size_t un = f->in.end - off;
    switch (f->body) {
    case NET_HTTP1_BODY_NONE:
        f->body_done = true;
        break;
    case NET_HTTP1_BODY_LENGTH: {
        uint64_t n = un < f->left ? un : f->left;
        f->pass += n;
        f->left -= n;
        f->body_done = f->left == 0;
        break;
    }
    case NET_HTTP1_BODY_CHUNKED: {
        size_t used = 0;
        int rc = net_http1_chunked_feed(&f->ch, f->in.data + off, un, &used, NULL, NULL);
        f->pass += used;
        if (rc < 0)
            return rc;
        f->body_done = rc == 1;
        break;
    }
    case NET_HTTP1_BODY_EOF:
    case NET_HTTP1_BODY_TUNNEL:
        f->pass += un;
        f->body_done = f->eof;
        break;
    }
    return 0;
}

// Reads from a source into f->in while there is room. Returns 1 on progress, 0 on none, or a
// negative errno on a read error. Sets f->eof at the end of the stream.
int net_flow_fill(struct flow *f, net_io_fn rd, void *ctx, size_t max)
{
    int progress = 0;
    while (!f->eof) {
        ssize_t room = net_buf_room(&f->in, max);
        if (room <= 0)
            return room < 0 ? (int)room : progress;
        ssize_t n = rd(ctx, f->in.data + f->in.end, (size_t)room);
        if (n == -EAGAIN || n == -EINTR) {
            net_buf_trim(&f->in); // an idle connection keeps no buffer
            return progress;
        }
        if (n < 0)
            return (int)n;
        if (n == 0)
            f->eof = true;
        f->in.end += (size_t)n;
        progress = 1;
    }
    return progress;
}

// Sends f->out, then the classified bytes of f->in, to a destination. Returns 1 on progress,
// 0 on none, or a negative errno on a write error.
int net_flow_flush(struct flow *f, net_io_fn wr, void *ctx)
{
    int progress = 0;
    // A head tlsedge made and the first body bytes go out in one write (one TLS record, one
    // send) rather than two: the bytes are copied after the head, up to FLUSH_COALESCE in all.
    size_t head = net_buf_len(&f->out);
    if (head > 0 && head < FLUSH_COALESCE && f->pass > 0) {
        size_t n = f->pass < FLUSH_COALESCE - head ? f->pass : FLUSH_COALESCE - head;
        if (net_buf_append(&f->out, f->in.data + f->in.start, n) == 0) {
            f->in.start += n;
            f->pass -= n;
        }
    }
    while (net_buf_len(&f->out) > 0) {
        ssize_t n = wr(ctx, f->out.data + f->out.start, net_buf_len(&f->out));
        if (n == -EAGAIN)
            return progress;
        if (n < 0)
            return (int)n;
        f->out.start += (size_t)n;
        progress = 1;
    }
    net_buf_trim(&f->out);
    while (f->pass > 0) {
        ssize_t n = wr(ctx, f->in.data + f->in.start, f->pass);
        if (n == -EAGAIN)
            return progress;
        if (n < 0)
            return (int)n;
        f->in.start += (size_t)n;
        f->pass -= (size_t)n;
        progress = 1;
    }
    return progress;
}

bool net_flow_drained(const struct flow *f)
{
    return net_buf_len(&f->out) == 0 && f->pass == 0;
}

