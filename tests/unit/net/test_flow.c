// SPDX-License-Identifier: Apache-2.0
// Unit tests for net/flow.c: net_flow_flush sends a head tlsedge made and the first body bytes
// in one write (one TLS record, one send), never reorders or loses bytes, and resumes after a
// short or refused write.
#include "net/internal.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

// A writer that records each call and takes at most `room` bytes per call (0: all; -1: EAGAIN).
struct sink {
    char data[65536];
    size_t len;
    int calls;
    size_t sizes[64];
    ssize_t room;
};

static ssize_t sink_write(void *ctx, void *buf, size_t len)
{
    struct sink *s = ctx;
    if (s->room < 0)
        return -EAGAIN;
    size_t n = s->room > 0 && (size_t)s->room < len ? (size_t)s->room : len;
    cr_assert_leq(s->len + n, sizeof(s->data));
    memcpy(s->data + s->len, buf, n);
    s->len += n;
    if (s->calls < 64)
        s->sizes[s->calls] = n;
    s->calls++;
    return (ssize_t)n;
}

// A flow holding a made head and `body` bytes of body ready to pass.
static void flow_with(struct flow *f, const char *head, size_t body)
{
    memset(f, 0, sizeof(*f));
    cr_assert_eq(net_buf_append(&f->out, head, strlen(head)), 0);
    char chunk[1024];
    for (size_t done = 0; done < body;) {
        size_t n = body - done < sizeof(chunk) ? body - done : sizeof(chunk);
        for (size_t i = 0; i < n; i++)
            chunk[i] = (char)('a' + (done + i) % 26);
        cr_assert_eq(net_buf_append(&f->in, chunk, n), 0);
        done += n;
    }
    f->pass = body;
}

static void check_bytes(const struct sink *s, const char *head, size_t body)
{
    size_t hl = strlen(head);
    cr_assert_eq(s->len, hl + body);
    cr_assert(memcmp(s->data, head, hl) == 0);
    for (size_t i = 0; i < body; i++)
        cr_assert_eq(s->data[hl + i], (char)('a' + i % 26), "byte %zu", i);
}

Test(net_flow, a_head_and_a_small_body_go_out_in_one_write)
{
    struct flow f;
    struct sink s = {0};
    flow_with(&f, "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n", 20);
    cr_assert_eq(net_flow_flush(&f, sink_write, &s), 1);
    cr_assert_eq(s.calls, 1);
    check_bytes(&s, "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n", 20);
    cr_assert(net_flow_drained(&f));
    net_buf_free(&f.in);
    net_buf_free(&f.out);
}

Test(net_flow, a_large_body_fills_the_first_record_then_streams)
{
    struct flow f;
    struct sink s = {0};
    const char *head = "HTTP/1.1 200 OK\r\n\r\n";
    flow_with(&f, head, 40000);
    cr_assert_eq(net_flow_flush(&f, sink_write, &s), 1);
    cr_assert_eq(s.sizes[0], 16384, "head + body up to one record's plaintext");
    cr_assert_eq(s.calls, 2);
    check_bytes(&s, head, 40000);
    net_buf_free(&f.in);
    net_buf_free(&f.out);
}

Test(net_flow, short_and_refused_writes_resume_where_they_stopped)
{
    struct flow f;
    struct sink s = {.room = 7};
    const char *head = "HTTP/1.1 204 No Content\r\n\r\n";
    flow_with(&f, head, 3000);
    s.room = -1;
    cr_assert_eq(net_flow_flush(&f, sink_write, &s), 0, "EAGAIN: no progress");
    s.room = 7;
    cr_assert_eq(net_flow_flush(&f, sink_write, &s), 1);
    check_bytes(&s, head, 3000);
    cr_assert(net_flow_drained(&f));
    net_buf_free(&f.in);
    net_buf_free(&f.out);
}

Test(net_flow, a_head_alone_or_a_body_alone_is_written_as_it_is)
{
    struct flow f;
    struct sink s = {0};
    flow_with(&f, "GET / HTTP/1.1\r\n\r\n", 0);
    cr_assert_eq(net_flow_flush(&f, sink_write, &s), 1);
    cr_assert_eq(s.calls, 1);
    net_buf_free(&f.out);
    struct sink s2 = {0};
    flow_with(&f, "", 5000);
    cr_assert_eq(net_flow_flush(&f, sink_write, &s2), 1);
    check_bytes(&s2, "", 5000);
    cr_assert_eq(s2.calls, 1);
    net_buf_free(&f.in);
}
