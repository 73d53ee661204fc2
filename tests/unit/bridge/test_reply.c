// SPDX-License-Identifier: Apache-2.0
// Unit tests for bridge/reply.c: the tls_bridge peer's reply parsed whole, one byte at a time and
// cut everywhere (same outcome), the seed's CR/LF table, interim 1xx heads, non-200 statuses and
// their reasons, garbage, bare LF, NUL, oversize heads and status lines, terminal states.
#include "bridge/reply.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(bridge_reply);

// struct outcome: what feeding a whole input ended with.
struct outcome {
    enum bridge_reply_state state;
    int status;
    size_t consumed;
    char reason[BRIDGE_REPLY_REASON_MAX + 1];
};

// feed_pieces feeds s (len bytes) in pieces of piece bytes (0: all at once) and stops feeding
// once the parser took less than it was given or reached a terminal state.
static struct outcome feed_pieces(const char *s, size_t len, size_t piece)
{
    struct bridge_reply r;
    struct outcome o = {0};
    bridge_reply_init(&r);
    size_t pos = 0;
    while (pos < len) {
        size_t n = piece && len - pos > piece ? piece : len - pos;
        size_t used = bridge_reply_feed(&r, (const uint8_t *)s + pos, n);
        cr_assert_leq(used, n);
        o.consumed += used;
        pos += n;
        if (used < n || (r.state != BRIDGE_REPLY_STATUS && r.state != BRIDGE_REPLY_FIELDS))
            break;
    }
    o.state = r.state;
    o.status = r.status;
    snprintf(o.reason, sizeof(o.reason), "%s", r.reason);
    return o;
}

// parse_all checks that s gives the same outcome whole, byte by byte and in pieces of 2..7
// bytes, and returns it.
static struct outcome parse_all(const char *s)
{
    size_t len = strlen(s);
    struct outcome whole = feed_pieces(s, len, 0);
    for (size_t piece = 1; piece < 8; piece++) {
        struct outcome o = feed_pieces(s, len, piece);
        cr_assert_eq(o.state, whole.state, "piece %zu: %s vs %s", piece,
                     bridge_reply_state_name(o.state), bridge_reply_state_name(whole.state));
        cr_assert_eq(o.status, whole.status, "piece %zu", piece);
        cr_assert_str_eq(o.reason, whole.reason, "piece %zu", piece);
        if (whole.state == BRIDGE_REPLY_DONE)
            cr_assert_eq(o.consumed, whole.consumed, "piece %zu", piece);
    }
    return whole;
}

Test(bridge_reply, crlf_table_is_the_seeds_machine)
{
    // State_0 --CR--> 1; 1 --LF--> 2, --CR--> 1, * --> 0; 2 --CR--> 3, * --> 0;
    // 3 --LF--> end, --CR--> 1, * --> 0.
    cr_assert_eq(bridge_crlf_next(BRIDGE_CRLF_NONE, '\r'), BRIDGE_CRLF_CR);
    cr_assert_eq(bridge_crlf_next(BRIDGE_CRLF_NONE, '\n'), BRIDGE_CRLF_NONE);
    cr_assert_eq(bridge_crlf_next(BRIDGE_CRLF_NONE, 'x'), BRIDGE_CRLF_NONE);
    cr_assert_eq(bridge_crlf_next(BRIDGE_CRLF_CR, '\n'), BRIDGE_CRLF_CRLF);
    cr_assert_eq(bridge_crlf_next(BRIDGE_CRLF_CR, '\r'), BRIDGE_CRLF_CR);
    cr_assert_eq(bridge_crlf_next(BRIDGE_CRLF_CR, 'x'), BRIDGE_CRLF_NONE);
    cr_assert_eq(bridge_crlf_next(BRIDGE_CRLF_CRLF, '\r'), BRIDGE_CRLF_CRLFCR);
    cr_assert_eq(bridge_crlf_next(BRIDGE_CRLF_CRLF, '\n'), BRIDGE_CRLF_NONE);
    cr_assert_eq(bridge_crlf_next(BRIDGE_CRLF_CRLF, 'x'), BRIDGE_CRLF_NONE);
    cr_assert_eq(bridge_crlf_next(BRIDGE_CRLF_CRLFCR, '\n'), BRIDGE_CRLF_END);
    cr_assert_eq(bridge_crlf_next(BRIDGE_CRLF_CRLFCR, '\r'), BRIDGE_CRLF_CR);
    cr_assert_eq(bridge_crlf_next(BRIDGE_CRLF_CRLFCR, 'x'), BRIDGE_CRLF_NONE);
    cr_assert_eq(bridge_crlf_next(BRIDGE_CRLF_END, 'x'), BRIDGE_CRLF_END);
    cr_assert_str_eq(bridge_crlf_name(BRIDGE_CRLF_CRLFCR), "CRLFCR");
}

Test(bridge_reply, a_200_ends_at_the_blank_line_one_byte_at_a_time)
{
    const char *s = "HTTP/1.1 200 Connection Established\r\nVia: x\r\n\r\nSERVICE BYTES";
    struct bridge_reply r;
    bridge_reply_init(&r);
    size_t head = strlen(s) - strlen("SERVICE BYTES");
    for (size_t i = 0; i < head; i++) {
        cr_assert_neq(r.state, BRIDGE_REPLY_DONE, "done early at byte %zu", i);
        cr_assert_eq(bridge_reply_feed(&r, (const uint8_t *)s + i, 1), 1);
    }
    cr_assert_eq(r.state, BRIDGE_REPLY_DONE);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.reason, "Connection Established");
    cr_assert_eq(r.head_len, head);
    // Terminal: the service's bytes are not taken.
    cr_assert_eq(bridge_reply_feed(&r, (const uint8_t *)s + head, 3), 0);
}

Test(bridge_reply, the_rest_after_the_head_is_left_for_the_tunnel)
{
    const char *s = "HTTP/1.0 200 OK\r\n\r\nSSH-2.0-banner\r\n\r\n";
    struct outcome o = parse_all(s);
    cr_assert_eq(o.state, BRIDGE_REPLY_DONE);
    cr_assert_eq(o.consumed, strlen("HTTP/1.0 200 OK\r\n\r\n"));
}

Test(bridge_reply, a_status_line_alone_and_no_reason)
{
    struct outcome o = parse_all("HTTP/1.1 200\r\n\r\n");
    cr_assert_eq(o.state, BRIDGE_REPLY_DONE);
    cr_assert_eq(o.status, 200);
    cr_assert_str_eq(o.reason, "");
}

Test(bridge_reply, non_200_statuses_and_reasons_are_kept)
{
    struct outcome o = parse_all("HTTP/1.1 403 Tunnel Forbidden\r\nContent-Length: 5\r\n"
                                 "Server: ATS/9.2.5\r\n\r\nnope!");
    cr_assert_eq(o.state, BRIDGE_REPLY_DONE);
    cr_assert_eq(o.status, 403);
    cr_assert_str_eq(o.reason, "Tunnel Forbidden");
    o = parse_all("HTTP/1.1 502 Bad Gateway\r\n\r\n");
    cr_assert_eq(o.status, 502);
    o = parse_all("HTTP/1.1 101 Switching Protocols\r\n\r\n"); // 101 is final, not interim
    cr_assert_eq(o.state, BRIDGE_REPLY_DONE);
    cr_assert_eq(o.status, 101);
}

Test(bridge_reply, interim_1xx_heads_are_skipped)
{
    const char *s = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                    "HTTP/1.1 200 OK\r\n\r\nX";
    struct bridge_reply r;
    bridge_reply_init(&r);
    size_t used = bridge_reply_feed(&r, (const uint8_t *)s, strlen(s));
    cr_assert_eq(r.state, BRIDGE_REPLY_DONE);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.interim, 2);
    cr_assert_eq(used, strlen(s) - 1);
    cr_assert_eq(parse_all(s).status, 200);
}

Test(bridge_reply, a_cr_cr_lf_and_long_fields_still_end_at_crlfcrlf)
{
    char s[4096];
    int n = snprintf(s, sizeof(s), "HTTP/1.1 200 OK\r\nA: \r\r\nB: ");
    memset(s + n, 'b', 3000);
    snprintf(s + n + 3000, sizeof(s) - (size_t)n - 3000, "\r\n\r\n");
    struct outcome o = parse_all(s);
    cr_assert_eq(o.state, BRIDGE_REPLY_DONE);
    cr_assert_eq(o.consumed, strlen(s));
}

Test(bridge_reply, incomplete_replies_wait_for_more)
{
    const char *pieces[] = {"",
                            "H",
                            "HTTP/1.1 2",
                            "HTTP/1.1 200 OK\r",
                            "HTTP/1.1 200 OK\r\n",
                            "HTTP/1.1 200 OK\r\nA: b\r\n\r"};
    for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
        struct outcome o = parse_all(pieces[i]);
        cr_assert(o.state == BRIDGE_REPLY_STATUS || o.state == BRIDGE_REPLY_FIELDS, "'%s': %s",
                  pieces[i], bridge_reply_state_name(o.state));
        cr_assert_eq(o.consumed, strlen(pieces[i]));
    }
}

Test(bridge_reply, garbage_is_refused_at_once)
{
    const char *bad[] = {
        "\x16\x03\x01\x02\x00",        // a TLS record, not HTTP
        "SSH-2.0-OpenSSH\r\n\r\n",     // another protocol
        "http/1.1 200 OK\r\n\r\n",     // the name is case-sensitive
        "HTTP/2 200\r\n\r\n",          // not HTTP/1.x
        "HTTP/1.1 20 OK\r\n\r\n",      // two digits
        "HTTP/1.1 2000 OK\r\n\r\n",    // four digits
        "HTTP/1.1 099 Low\r\n\r\n",    // below 100
        "HTTP/1.1 200 OK\n\n",         // bare LF
        "HTTP/1.1 200 O\rK\r\n\r\n",   // CR inside the line
        "HTTP/1.1 200 O\x00K\r\n\r\n", // NUL (strlen stops: see below)
        "\r\n\r\n",                    // an empty status line
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct outcome o = parse_all(bad[i]);
        if (i == 9) { // the NUL: feed the bytes with their length
            const char nul[] = "HTTP/1.1 200 O\0K\r\n\r\n";
            o = feed_pieces(nul, sizeof(nul) - 1, 1);
        }
        cr_assert_eq(o.state, BRIDGE_REPLY_INVALID, "case %zu: %s", i,
                     bridge_reply_state_name(o.state));
        cr_assert_eq(o.status, 0);
    }
    // Garbage is seen by its first bytes, without waiting for a line end.
    struct bridge_reply r;
    bridge_reply_init(&r);
    bridge_reply_feed(&r, (const uint8_t *)"HTTQ", 4);
    cr_assert_eq(r.state, BRIDGE_REPLY_INVALID);
    cr_assert_eq(bridge_reply_feed(&r, (const uint8_t *)"x", 1), 0, "terminal takes nothing");
}

Test(bridge_reply, oversize_heads_and_status_lines_are_refused)
{
    size_t len = BRIDGE_REPLY_HEAD_MAX + 64;
    char *s = malloc(len + 1);
    cr_assert_not_null(s);
    int n = snprintf(s, len + 1, "HTTP/1.1 200 OK\r\nX: ");
    memset(s + n, 'x', len - (size_t)n);
    s[len] = '\0';
    struct outcome o = parse_all(s);
    cr_assert_eq(o.state, BRIDGE_REPLY_TOO_BIG);
    cr_assert_eq(o.consumed, BRIDGE_REPLY_HEAD_MAX);
    // Exactly at the limit is fine.
    n = snprintf(s, len + 1, "HTTP/1.1 200 OK\r\nX: ");
    memset(s + n, 'x', BRIDGE_REPLY_HEAD_MAX - (size_t)n - 4);
    memcpy(s + BRIDGE_REPLY_HEAD_MAX - 4, "\r\n\r\n", 5);
    o = parse_all(s);
    cr_assert_eq(o.state, BRIDGE_REPLY_DONE);
    cr_assert_eq(o.consumed, BRIDGE_REPLY_HEAD_MAX);
    // A status line longer than BRIDGE_REPLY_LINE_MAX.
    n = snprintf(s, len + 1, "HTTP/1.1 200 ");
    memset(s + n, 'r', BRIDGE_REPLY_LINE_MAX);
    s[n + BRIDGE_REPLY_LINE_MAX] = '\0';
    o = parse_all(s);
    cr_assert_eq(o.state, BRIDGE_REPLY_TOO_BIG);
    free(s);
}

Test(bridge_reply, many_interim_heads_count_against_the_head_limit)
{
    const char *one = "HTTP/1.1 100 Continue\r\n\r\n";
    size_t n1 = strlen(one), count = BRIDGE_REPLY_HEAD_MAX / n1 + 2;
    char *s = malloc(count * n1 + 1);
    cr_assert_not_null(s);
    for (size_t i = 0; i < count; i++)
        memcpy(s + i * n1, one, n1);
    s[count * n1] = '\0';
    cr_assert_eq(parse_all(s).state, BRIDGE_REPLY_TOO_BIG);
    free(s);
}

Test(bridge_reply, a_long_reason_is_cut)
{
    char s[BRIDGE_REPLY_LINE_MAX + 32];
    int n = snprintf(s, sizeof(s), "HTTP/1.1 403 ");
    memset(s + n, 'w', 300);
    snprintf(s + n + 300, sizeof(s) - (size_t)n - 300, "\r\n\r\n");
    struct outcome o = parse_all(s);
    cr_assert_eq(o.state, BRIDGE_REPLY_DONE);
    cr_assert_eq(strlen(o.reason), BRIDGE_REPLY_REASON_MAX);
}
