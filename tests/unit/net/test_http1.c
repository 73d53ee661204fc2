// SPDX-License-Identifier: Apache-2.0
// Unit tests for net/http1.c: request and response head parsing, request smuggling and
// strictness vectors, the chunked scanner, and the proxy head writers.
#include "net/http1.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEAD 65536

static struct net_http1_request req;
static struct net_http1_response resp;

static int parse_req(const char *s)
{
    return net_http1_request_parse(s, strlen(s), MAX_HEAD, &req);
}

static int parse_resp(const char *s, enum net_http1_method m)
{
    return net_http1_response_parse(s, strlen(s), MAX_HEAD, m, &resp);
}

// slice_is: the slice s of buf holds exactly str.
static bool slice_is(const char *buf, struct net_http1_slice s, const char *str)
{
    return s.len == strlen(str) && memcmp(buf + s.off, str, s.len) == 0;
}

static void assert_bad_req(const char *s)
{
    cr_assert_eq(parse_req(s), -NET_HTTP1_E_BAD, "accepted: %s", s);
}

// ---- good requests ----

Test(net_http1, get_origin_form_fills_every_field)
{
    const char *s = "GET /a/b?x=1 HTTP/1.1\r\nHost: example.com:8443\r\nAccept:  */* \r\n\r\n";
    cr_assert_eq(parse_req(s), (int)strlen(s));
    cr_assert_eq(req.method, NET_HTTP1_METHOD_GET);
    cr_assert(slice_is(s, req.method_name, "GET"));
    cr_assert(slice_is(s, req.target, "/a/b?x=1"));
    cr_assert(slice_is(s, req.path, "/a/b?x=1"));
    cr_assert_eq(req.form, NET_HTTP1_TARGET_ORIGIN);
    cr_assert_eq(req.version, 11);
    cr_assert(slice_is(s, req.host, "example.com:8443"));
    cr_assert(slice_is(s, req.host_name, "example.com"));
    cr_assert_eq(req.port, 8443);
    cr_assert_eq(req.nheaders, 2);
    cr_assert(slice_is(s, req.headers[1].name, "Accept"));
    cr_assert(slice_is(s, req.headers[1].value, "*/*"));
    cr_assert_eq(req.body, NET_HTTP1_BODY_NONE);
    cr_assert(req.keep_alive);
    cr_assert_not(req.expect_continue);
}

Test(net_http1, absolute_form_authority_wins_over_host)
{
    const char *s = "GET http://origin.test:81/p?q HTTP/1.1\r\nHost: other.test\r\n\r\n";
    cr_assert_eq(parse_req(s), (int)strlen(s));
    cr_assert_eq(req.form, NET_HTTP1_TARGET_ABSOLUTE);
    cr_assert(slice_is(s, req.authority, "origin.test:81"));
    cr_assert(slice_is(s, req.path, "/p?q"));
    cr_assert(slice_is(s, req.host, "origin.test:81"));
    cr_assert(slice_is(s, req.host_name, "origin.test"));
    cr_assert_eq(req.port, 81);
}

Test(net_http1, absolute_form_without_path_has_empty_path)
{
    const char *s = "GET HTTPS://[::1] HTTP/1.1\r\nHost: x\r\n\r\n";
    cr_assert_eq(parse_req(s), (int)strlen(s));
    cr_assert_eq(req.path.len, 0);
    cr_assert(slice_is(s, req.host_name, "[::1]"));
    cr_assert_eq(req.port, -1);
}

Test(net_http1, connect_takes_authority_form)
{
    const char *s = "CONNECT db.test:5432 HTTP/1.1\r\nHost: db.test:5432\r\n\r\n";
    cr_assert_eq(parse_req(s), (int)strlen(s));
    cr_assert_eq(req.method, NET_HTTP1_METHOD_CONNECT);
    cr_assert_eq(req.form, NET_HTTP1_TARGET_AUTHORITY);
    cr_assert(slice_is(s, req.authority, "db.test:5432"));
    cr_assert_eq(req.path.len, 0);
}

Test(net_http1, options_takes_asterisk_form)
{
    const char *s = "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n";
    cr_assert_eq(parse_req(s), (int)strlen(s));
    cr_assert_eq(req.form, NET_HTTP1_TARGET_ASTERISK);
    cr_assert(slice_is(s, req.path, "*"));
}

Test(net_http1, unknown_method_is_other)
{
    const char *s = "PROPFIND / HTTP/1.1\r\nHost: a\r\n\r\n";
    cr_assert_eq(parse_req(s), (int)strlen(s));
    cr_assert_eq(req.method, NET_HTTP1_METHOD_OTHER);
    cr_assert(slice_is(s, req.method_name, "PROPFIND"));
    const char *lower = "get / HTTP/1.1\r\nHost: a\r\n\r\n";
    cr_assert_eq(parse_req(lower), (int)strlen(lower));
    cr_assert_eq(req.method, NET_HTTP1_METHOD_OTHER, "methods are case-sensitive");
}

Test(net_http1, post_with_content_length_has_length_body)
{
    const char *s = "POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world";
    cr_assert_eq(parse_req(s), (int)strlen(s) - 11);
    cr_assert_eq(req.body, NET_HTTP1_BODY_LENGTH);
    cr_assert_eq(req.content_length, 11);
}

Test(net_http1, content_length_zero_is_length_body_of_zero)
{
    cr_assert_gt(parse_req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"), 0);
    cr_assert_eq(req.body, NET_HTTP1_BODY_LENGTH);
    cr_assert_eq(req.content_length, 0);
}

Test(net_http1, content_length_max_uint64_is_accepted)
{
    cr_assert_gt(parse_req("POST / HTTP/1.1\r\nHost: a\r\n"
                           "Content-Length: 18446744073709551615\r\n\r\n"),
                 0);
    cr_assert_eq(req.content_length, UINT64_MAX);
}

Test(net_http1, chunked_post_has_chunked_body)
{
    const char *s =
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n";
    cr_assert_eq(parse_req(s), (int)strlen(s) - 10);
    cr_assert_eq(req.body, NET_HTTP1_BODY_CHUNKED);
    cr_assert_eq(req.content_length, 0);
}

Test(net_http1, pipelined_requests_parse_one_head_at_a_time)
{
    const char *s = "POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
                    "GET /2 HTTP/1.1\r\nHost: b\r\n\r\n";
    int n = parse_req(s);
    cr_assert_eq(n, (int)(strstr(s, "abc") - s));
    cr_assert_eq(req.body, NET_HTTP1_BODY_LENGTH);
    cr_assert_eq(req.content_length, 3);
    const char *next = s + n + 3;
    cr_assert_eq(parse_req(next), (int)strlen(next));
    cr_assert(slice_is(next, req.target, "/2"));
    cr_assert_eq(req.body, NET_HTTP1_BODY_NONE);
}

Test(net_http1, one_empty_line_before_request_line_is_skipped)
{
    const char *s = "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    cr_assert_eq(parse_req(s), (int)strlen(s));
    cr_assert(slice_is(s, req.method_name, "GET"));
    assert_bad_req("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
}

Test(net_http1, http10_closes_unless_keep_alive)
{
    cr_assert_gt(parse_req("GET / HTTP/1.0\r\n\r\n"), 0);
    cr_assert_eq(req.version, 10);
    cr_assert_not(req.keep_alive);
    cr_assert_eq(req.host.len, 0, "HTTP/1.0 needs no Host");
    cr_assert_gt(parse_req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), 0);
    cr_assert(req.keep_alive);
}

Test(net_http1, http11_connection_close_ends_keep_alive)
{
    cr_assert_gt(parse_req("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n"), 0);
    cr_assert_not(req.keep_alive);
}

Test(net_http1, expect_100_continue_is_flagged_in_http11_only)
{
    cr_assert_gt(parse_req("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
                           "Expect: 100-Continue\r\n\r\n"),
                 0);
    cr_assert(req.expect_continue);
    cr_assert_gt(parse_req("PUT / HTTP/1.0\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n"),
                 0);
    cr_assert_not(req.expect_continue);
}

Test(net_http1, equal_content_length_values_count_as_one)
{
    cr_assert_gt(parse_req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n"), 0);
    cr_assert_eq(req.content_length, 5);
    cr_assert_gt(parse_req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                           "content-length: 005\r\n\r\n"),
                 0);
    cr_assert_eq(req.content_length, 5);
}

Test(net_http1, value_keeps_inner_tab_and_obs_text)
{
    const char *s = "GET / HTTP/1.1\r\nHost: a\r\nX-A: \t a\tb \xe9 \t\r\nX-E:\r\n\r\n";
    cr_assert_eq(parse_req(s), (int)strlen(s));
    cr_assert(slice_is(s, req.headers[1].value, "a\tb \xe9"));
    cr_assert_eq(req.headers[2].value.len, 0);
}

Test(net_http1, header_find_ignores_case)
{
    const char *s = "GET / HTTP/1.1\r\nHost: a\r\nX-One: 1\r\nx-one: 2\r\n\r\n";
    cr_assert_gt(parse_req(s), 0);
    const struct net_http1_header *h = net_http1_header_find(req.headers, req.nheaders, s, "X-ONE");
    cr_assert_not_null(h);
    cr_assert(slice_is(s, h->value, "1"));
    size_t rest = req.nheaders - (size_t)(h + 1 - req.headers);
    h = net_http1_header_find(h + 1, rest, s, "x-one");
    cr_assert_not_null(h);
    cr_assert(slice_is(s, h->value, "2"));
    cr_assert_null(net_http1_header_find(req.headers, req.nheaders, s, "X-On"));
}

Test(net_http1, hundred_headers_fit_and_one_more_is_too_large)
{
    char buf[8192];
    size_t n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 1; i < NET_HTTP1_MAX_HEADERS; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-%d: v\r\n", i);
    snprintf(buf + n, sizeof(buf) - n, "\r\n");
    cr_assert_gt(parse_req(buf), 0);
    cr_assert_eq(req.nheaders, NET_HTTP1_MAX_HEADERS);
    snprintf(buf + n, sizeof(buf) - n, "X-Last: v\r\n\r\n");
    cr_assert_eq(parse_req(buf), -NET_HTTP1_E_TOO_LARGE);
}

// ---- smuggling and strictness ----

Test(net_http1, content_length_with_transfer_encoding_is_bad)
{
    assert_bad_req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n");
    assert_bad_req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                   "Content-Length: 0\r\n\r\n");
}

Test(net_http1, transfer_encoding_chunked_identity_is_bad)
{
    assert_bad_req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n");
    assert_bad_req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n");
}

Test(net_http1, transfer_encoding_gzip_is_bad)
{
    assert_bad_req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n");
    assert_bad_req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
    assert_bad_req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n");
}

Test(net_http1, transfer_encoding_chunked_twice_is_bad)
{
    assert_bad_req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n");
    assert_bad_req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n");
}

Test(net_http1, transfer_encoding_odd_spellings_are_bad)
{
    assert_bad_req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n");
    assert_bad_req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n");
    assert_bad_req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n");
    assert_bad_req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n");
}

Test(net_http1, differing_content_length_list_is_bad)
{
    assert_bad_req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\n");
}

Test(net_http1, differing_repeated_content_length_is_bad)
{
    assert_bad_req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
}

Test(net_http1, space_before_colon_is_bad)
{
    assert_bad_req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n");
    assert_bad_req("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n");
}

Test(net_http1, obs_fold_is_bad)
{
    assert_bad_req("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n");
    assert_bad_req("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n");
}

Test(net_http1, whitespace_before_first_header_is_bad)
{
    assert_bad_req("GET / HTTP/1.1\r\n Host: a\r\n\r\n");
}

Test(net_http1, bare_lf_is_bad)
{
    assert_bad_req("GET / HTTP/1.1\nHost: a\r\n\r\n");
    assert_bad_req("GET / HTTP/1.1\r\nHost: a\n\r\n");
    assert_bad_req("GET / HTTP/1.1\r\nHost: a\r\n\n");
    assert_bad_req("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
}

Test(net_http1, bare_cr_is_bad)
{
    assert_bad_req("GET / HTTP/1.1\r\nHost: a\rX-B: c\r\n\r\n");
    assert_bad_req("GET / HTTP/1.1\r\nHost: a\r\n\rx\r\n\r\n");
}

Test(net_http1, nul_in_value_is_bad)
{
    const char s[] = "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\0c\r\n\r\n";
    cr_assert_eq(net_http1_request_parse(s, sizeof(s) - 1, MAX_HEAD, &req), -NET_HTTP1_E_BAD);
}

Test(net_http1, control_chars_in_value_are_bad)
{
    assert_bad_req("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x01\r\n\r\n");
    assert_bad_req("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x7f\r\n\r\n");
    assert_bad_req("GET / HTTP/1.1\r\nHost: a\r\nX-A: \x1b[0m\r\n\r\n");
}

Test(net_http1, control_char_is_bad_before_the_line_ends)
{
    const char *s = "GET / HTTP/1.1\r\nHost: a\r\nX-A: \x01";
    cr_assert_eq(parse_req(s), -NET_HTTP1_E_BAD);
    cr_assert_eq(parse_req("\x16\x03\x01\x02"), -NET_HTTP1_E_BAD, "TLS on a clear port");
}

Test(net_http1, huge_content_length_is_bad)
{
    assert_bad_req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n");
    assert_bad_req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n");
}

Test(net_http1, negative_content_length_is_bad)
{
    assert_bad_req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n");
}

Test(net_http1, non_decimal_content_length_is_bad)
{
    assert_bad_req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n");
    assert_bad_req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n");
    assert_bad_req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n");
    assert_bad_req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n");
    assert_bad_req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n");
}

Test(net_http1, transfer_encoding_in_http10_is_bad)
{
    assert_bad_req("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
}

Test(net_http1, two_hosts_are_bad)
{
    assert_bad_req("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n");
    assert_bad_req("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n");
}

Test(net_http1, missing_host_in_http11_is_bad)
{
    assert_bad_req("GET / HTTP/1.1\r\n\r\n");
    assert_bad_req("GET http://a/ HTTP/1.1\r\n\r\n");
}

Test(net_http1, invalid_host_is_bad)
{
    static const char *const hosts[] = {"a b",     "a/b",  "u@a",     "a:",  "a:123456",
                                        "a:99999", "a:x",  "[::1",    "[]",  "[::1]x",
                                        "",        "a%zz", "a,b:1:2", ":80", "a\"b"};
    char buf[256];
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", hosts[i]);
        assert_bad_req(buf);
    }
}

Test(net_http1, valid_host_forms_are_accepted)
{
    static const char *const hosts[] = {"a",         "a.b-c_d~",      "a:0",      "a:65535",
                                        "[::1]:443", "[2001:db8::1]", "%41.test", "127.0.0.1:80"};
    char buf[256];
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", hosts[i]);
        cr_assert_gt(parse_req(buf), 0, "refused %s", hosts[i]);
    }
}

Test(net_http1, request_line_needs_single_spaces)
{
    assert_bad_req("GET  / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_bad_req("GET /  HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_bad_req("GET / HTTP/1.1 \r\nHost: a\r\n\r\n");
    assert_bad_req(" GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_bad_req("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n");
}

Test(net_http1, version_other_than_10_or_11_is_bad)
{
    assert_bad_req("GET / HTTP/1.2\r\nHost: a\r\n\r\n");
    assert_bad_req("GET / HTTP/2.0\r\nHost: a\r\n\r\n");
    assert_bad_req("GET / http/1.1\r\nHost: a\r\n\r\n");
    assert_bad_req("GET / HTTP/1.10\r\nHost: a\r\n\r\n");
    assert_bad_req("GET /\r\n\r\n");
}

Test(net_http1, http2_preface_is_bad)
{
    assert_bad_req("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
}

Test(net_http1, method_must_be_token)
{
    assert_bad_req("G(T / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_bad_req("GE\x80T / HTTP/1.1\r\nHost: a\r\n\r\n");
}

Test(net_http1, target_with_control_or_non_ascii_is_bad)
{
    assert_bad_req("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_bad_req("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_bad_req("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n");
}

Test(net_http1, field_name_must_be_token)
{
    assert_bad_req("GET / HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n");
    assert_bad_req("GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n");
    assert_bad_req("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n");
}

Test(net_http1, target_form_must_suit_method)
{
    assert_bad_req("CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_bad_req("CONNECT a HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_bad_req("GET * HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_bad_req("GET a.test:80 HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_bad_req("GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_bad_req("GET http:///p HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_bad_req("GET http://user@a/ HTTP/1.1\r\nHost: a\r\n\r\n");
}

// ---- incremental input and limits ----

Test(net_http1, request_split_at_every_byte_needs_more_then_completes)
{
    const char *s = "\r\nPOST http://a.test/x HTTP/1.1\r\nHost: a.test\r\nContent-Length: 2\r\n"
                    "X-Tab:\tv\r\n\r\n";
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(net_http1_request_parse(s, i, MAX_HEAD, &req), 0, "prefix %zu", i);
    cr_assert_eq(net_http1_request_parse(s, n, MAX_HEAD, &req), (int)n);
    cr_assert_eq(req.content_length, 2);
}

Test(net_http1, incomplete_head_at_max_head_is_too_large)
{
    const char *s = "GET / HTTP/1.1\r\nHost: a\r\nX-A: bbbbbbbbbb";
    size_t n = strlen(s);
    cr_assert_eq(net_http1_request_parse(s, n, n + 1, &req), 0);
    cr_assert_eq(net_http1_request_parse(s, n, n, &req), -NET_HTTP1_E_TOO_LARGE);
    cr_assert_eq(net_http1_request_parse(s, n, 10, &req), -NET_HTTP1_E_TOO_LARGE);
}

Test(net_http1, head_longer_than_max_head_is_too_large)
{
    const char *s = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    size_t n = strlen(s);
    cr_assert_eq(net_http1_request_parse(s, n, n, &req), (int)n, "a head of max_head fits");
    cr_assert_eq(net_http1_request_parse(s, n, n - 1, &req), -NET_HTTP1_E_TOO_LARGE);
}

Test(net_http1, parse_status_maps_errors_to_400_and_431)
{
    cr_assert_eq(net_http1_parse_status(-NET_HTTP1_E_BAD), 400);
    cr_assert_eq(net_http1_parse_status(-NET_HTTP1_E_TOO_LARGE), 431);
    cr_assert_eq(net_http1_parse_status(0), 0);
    cr_assert_eq(net_http1_parse_status(42), 0);
}

// ---- responses ----

Test(net_http1, response_with_content_length)
{
    const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody";
    cr_assert_eq(parse_resp(s, NET_HTTP1_METHOD_GET), (int)strlen(s) - 4);
    cr_assert_eq(resp.status, 200);
    cr_assert_eq(resp.version, 11);
    cr_assert(slice_is(s, resp.reason, "OK"));
    cr_assert_eq(resp.body, NET_HTTP1_BODY_LENGTH);
    cr_assert_eq(resp.content_length, 4);
    cr_assert(resp.keep_alive);
    cr_assert_not(resp.interim);
}

Test(net_http1, response_chunked)
{
    cr_assert_gt(
        parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", NET_HTTP1_METHOD_GET),
        0);
    cr_assert_eq(resp.body, NET_HTTP1_BODY_CHUNKED);
}

Test(net_http1, response_without_length_is_eof_delimited)
{
    cr_assert_gt(parse_resp("HTTP/1.1 200 OK\r\nX: y\r\n\r\n", NET_HTTP1_METHOD_GET), 0);
    cr_assert_eq(resp.body, NET_HTTP1_BODY_EOF);
    cr_assert_not(resp.keep_alive);
}

Test(net_http1, response_204_and_304_have_no_body)
{
    cr_assert_gt(parse_resp("HTTP/1.1 204 No Content\r\n\r\n", NET_HTTP1_METHOD_GET), 0);
    cr_assert_eq(resp.body, NET_HTTP1_BODY_NONE);
    cr_assert(resp.keep_alive);
    cr_assert_gt(
        parse_resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", NET_HTTP1_METHOD_GET),
        0);
    cr_assert_eq(resp.body, NET_HTTP1_BODY_NONE);
    cr_assert_eq(resp.content_length, 0);
}

Test(net_http1, response_to_head_has_no_body)
{
    cr_assert_gt(
        parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", NET_HTTP1_METHOD_HEAD), 0);
    cr_assert_eq(resp.body, NET_HTTP1_BODY_NONE);
    cr_assert_gt(parse_resp("HTTP/1.1 200 OK\r\n\r\n", NET_HTTP1_METHOD_HEAD), 0);
    cr_assert_eq(resp.body, NET_HTTP1_BODY_NONE);
    cr_assert(resp.keep_alive);
}

Test(net_http1, informational_response_is_interim)
{
    const char *s = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    int n = parse_resp(s, NET_HTTP1_METHOD_POST);
    cr_assert_eq(n, 25);
    cr_assert(resp.interim);
    cr_assert_eq(resp.body, NET_HTTP1_BODY_NONE);
    cr_assert_eq(parse_resp(s + n, NET_HTTP1_METHOD_POST), (int)strlen(s + n));
    cr_assert_eq(resp.status, 200);
    cr_assert_not(resp.interim);
}

Test(net_http1, connect_2xx_and_101_are_tunnels)
{
    cr_assert_gt(
        parse_resp("HTTP/1.1 200 Connection established\r\n\r\n", NET_HTTP1_METHOD_CONNECT), 0);
    cr_assert_eq(resp.body, NET_HTTP1_BODY_TUNNEL);
    cr_assert_not(resp.keep_alive);
    cr_assert_gt(parse_resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
                            NET_HTTP1_METHOD_GET),
                 0);
    cr_assert_eq(resp.body, NET_HTTP1_BODY_TUNNEL);
    cr_assert_not(resp.interim);
    cr_assert_gt(
        parse_resp("HTTP/1.1 407 Auth\r\nContent-Length: 0\r\n\r\n", NET_HTTP1_METHOD_CONNECT), 0);
    cr_assert_eq(resp.body, NET_HTTP1_BODY_LENGTH);
}

Test(net_http1, response_http10_closes_unless_keep_alive)
{
    cr_assert_gt(parse_resp("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", NET_HTTP1_METHOD_GET),
                 0);
    cr_assert_not(resp.keep_alive);
    cr_assert_gt(
        parse_resp("HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n",
                   NET_HTTP1_METHOD_GET),
        0);
    cr_assert(resp.keep_alive);
}

Test(net_http1, response_without_reason_is_accepted)
{
    const char *s = "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n";
    cr_assert_eq(parse_resp(s, NET_HTTP1_METHOD_GET), (int)strlen(s));
    cr_assert_eq(resp.status, 404);
    cr_assert_eq(resp.reason.len, 0);
    cr_assert_gt(parse_resp("HTTP/1.1 404 \r\n\r\n", NET_HTTP1_METHOD_GET), 0);
}

Test(net_http1, response_smuggling_vectors_are_bad)
{
    static const char *const bad[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 204 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n",
        "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
        "HTTP/1.1 200 OK\nContent-Length: 1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(parse_resp(bad[i], NET_HTTP1_METHOD_GET), -NET_HTTP1_E_BAD, "accepted %s",
                     bad[i]);
}

Test(net_http1, malformed_status_line_is_bad)
{
    static const char *const bad[] = {
        "HTTP/1.1 20 OK\r\n\r\n",  "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1 099 X\r\n\r\n",
        "HTTP/1.1 600 X\r\n\r\n",  "HTTP/2 200 OK\r\n\r\n",    "HTTP/1.1  200 OK\r\n\r\n",
        "HTTP/1.1 2x0 OK\r\n\r\n", "ICY 200 OK\r\n\r\n",       "HTTP/1.1 200 O\x01K\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(parse_resp(bad[i], NET_HTTP1_METHOD_GET), -NET_HTTP1_E_BAD, "accepted %s",
                     bad[i]);
}

Test(net_http1, response_split_at_every_byte_needs_more_then_completes)
{
    const char *s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX: y\r\n\r\n";
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(net_http1_response_parse(s, i, MAX_HEAD, NET_HTTP1_METHOD_GET, &resp), 0,
                     "prefix %zu", i);
    cr_assert_eq(net_http1_response_parse(s, n, MAX_HEAD, NET_HTTP1_METHOD_GET, &resp), (int)n);
    cr_assert_eq(resp.body, NET_HTTP1_BODY_CHUNKED);
    cr_assert_eq(net_http1_response_parse(s, n, n - 1, NET_HTTP1_METHOD_GET, &resp),
                 -NET_HTTP1_E_TOO_LARGE);
}

// ---- chunked bodies ----

// feed_steps feeds s[0, n) to c in pieces of at most step bytes (raw mode) until the body ends
// or fails; *used is the count of bytes consumed. Returns the last result.
static int feed_steps(struct net_http1_chunked *c, const char *s, size_t n, size_t step,
                      size_t *used)
{
    size_t off = 0;
    int rc = 0;
    while (off < n) {
        size_t k = n - off < step ? n - off : step, got = 0;
        rc = net_http1_chunked_feed(c, s + off, k, &got, NULL, NULL);
        off += got;
        if (rc != 0)
            break;
        cr_assert_eq(got, k, "raw mode consumes everything while the body goes on");
    }
    *used = off;
    return rc;
}

static int chunked_rc(const char *s)
{
    struct net_http1_chunked c;
    size_t used;
    net_http1_chunked_init(&c);
    return feed_steps(&c, s, strlen(s), strlen(s) + 1, &used);
}

static const char body[] = "5\r\nhello\r\n1;a=b\r\n \r\n6 ; x=\"q r\"\r\nworld!\r\n"
                           "0\r\nX-Sum: abc\r\nY:\r\n\r\n";

Test(net_http1, chunked_body_in_one_feed_ends_before_the_next_message)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%sGET / HTTP/1.1\r\n", body);
    struct net_http1_chunked c;
    size_t used;
    net_http1_chunked_init(&c);
    cr_assert_eq(net_http1_chunked_feed(&c, buf, strlen(buf), &used, NULL, NULL), 1);
    cr_assert_eq(used, strlen(body));
    cr_assert_eq(c.data_total, 12);
    cr_assert_eq(c.state, NET_HTTP1_CHUNKED_DONE);
}

Test(net_http1, chunked_body_split_at_every_byte_boundary_completes)
{
    size_t n = strlen(body), used;
    struct net_http1_chunked c;
    net_http1_chunked_init(&c);
    cr_assert_eq(feed_steps(&c, body, n, 1, &used), 1, "one byte per call");
    cr_assert_eq(used, n);
    for (size_t i = 0; i <= n; i++) {
        size_t a = 0, b = 0;
        net_http1_chunked_init(&c);
        cr_assert_eq(net_http1_chunked_feed(&c, body, i, &a, NULL, NULL), i == n ? 1 : 0);
        cr_assert_eq(a, i);
        cr_assert_eq(net_http1_chunked_feed(&c, body + i, n - i, &b, NULL, NULL), 1, "split %zu",
                     i);
        cr_assert_eq(a + b, n);
        cr_assert_eq(c.data_total, 12);
    }
}

Test(net_http1, chunked_decoding_reports_data_at_every_split)
{
    size_t n = strlen(body);
    for (size_t step = 1; step <= n; step++) {
        struct net_http1_chunked c;
        char out[64];
        size_t off = 0, outn = 0;
        int rc = 0;
        net_http1_chunked_init(&c);
        while (rc == 0 && off < n) {
            size_t k = n - off < step ? n - off : step, got, d_off, d_len;
            rc = net_http1_chunked_feed(&c, body + off, k, &got, &d_off, &d_len);
            cr_assert_leq(d_off + d_len, got);
            memcpy(out + outn, body + off + d_off, d_len);
            outn += d_len;
            off += got;
        }
        cr_assert_eq(rc, 1, "step %zu", step);
        cr_assert_eq(off, n);
        cr_assert_eq(outn, 12);
        cr_assert_eq(memcmp(out, "hello world!", 12), 0, "step %zu", step);
    }
}

Test(net_http1, chunked_decoding_stops_after_one_data_run)
{
    struct net_http1_chunked c;
    size_t got, d_off, d_len;
    net_http1_chunked_init(&c);
    cr_assert_eq(net_http1_chunked_feed(&c, body, strlen(body), &got, &d_off, &d_len), 0);
    cr_assert_eq(d_off, 3);
    cr_assert_eq(d_len, 5);
    cr_assert_eq(got, strlen("5\r\nhello\r\n1;a=b\r\n"));
}

Test(net_http1, sixteen_hex_digits_are_accepted)
{
    cr_assert_eq(chunked_rc("000000000000000A\r\n0123456789\r\n0000000000000000\r\n\r\n"), 1);
}

Test(net_http1, chunk_size_not_hex_is_bad)
{
    cr_assert_eq(chunked_rc("zz\r\n"), -NET_HTTP1_E_BAD);
    cr_assert_eq(chunked_rc("0x5\r\nhello\r\n"), -NET_HTTP1_E_BAD);
    cr_assert_eq(chunked_rc("\r\n"), -NET_HTTP1_E_BAD);
    cr_assert_eq(chunked_rc(" 5\r\n"), -NET_HTTP1_E_BAD);
}

Test(net_http1, chunk_size_of_17_hex_digits_is_bad)
{
    cr_assert_eq(chunked_rc("00000000000000005\r\nhello\r\n0\r\n\r\n"), -NET_HTTP1_E_BAD);
    cr_assert_eq(chunked_rc("10000000000000000\r\n"), -NET_HTTP1_E_BAD);
}

Test(net_http1, negative_chunk_size_is_bad)
{
    cr_assert_eq(chunked_rc("-1\r\n"), -NET_HTTP1_E_BAD);
}

Test(net_http1, whitespace_after_chunk_size_needs_extension)
{
    cr_assert_eq(chunked_rc("5 \r\nhello\r\n"), -NET_HTTP1_E_BAD);
    cr_assert_eq(chunked_rc("5 x\r\nhello\r\n"), -NET_HTTP1_E_BAD);
}

Test(net_http1, missing_crlf_after_chunk_data_is_bad)
{
    struct net_http1_chunked c;
    size_t used;
    net_http1_chunked_init(&c);
    const char *s = "5\r\nhelloX\r\n0\r\n\r\n";
    cr_assert_eq(net_http1_chunked_feed(&c, s, strlen(s), &used, NULL, NULL), -NET_HTTP1_E_BAD);
    cr_assert_eq(used, 8, "consumed stops before the offending byte");
    cr_assert_eq(chunked_rc("5\r\nhello\r0\r\n\r\n"), -NET_HTTP1_E_BAD);
    cr_assert_eq(chunked_rc("3\r\nhello\r\n"), -NET_HTTP1_E_BAD);
}

Test(net_http1, bare_lf_in_chunked_body_is_bad)
{
    cr_assert_eq(chunked_rc("5\nhello\r\n"), -NET_HTTP1_E_BAD);
    cr_assert_eq(chunked_rc("5\r\nhello\n0\r\n\r\n"), -NET_HTTP1_E_BAD);
    cr_assert_eq(chunked_rc("0\r\n\n"), -NET_HTTP1_E_BAD);
    cr_assert_eq(chunked_rc("0\r\nX: y\n\r\n"), -NET_HTTP1_E_BAD);
    cr_assert_eq(chunked_rc("5;a\nhello\r\n"), -NET_HTTP1_E_BAD);
}

Test(net_http1, control_char_in_chunk_extension_is_bad)
{
    cr_assert_eq(chunked_rc("5;a=\x01\r\nhello\r\n"), -NET_HTTP1_E_BAD);
    struct net_http1_chunked c;
    size_t used;
    net_http1_chunked_init(&c);
    cr_assert_eq(net_http1_chunked_feed(&c, "5;a\0b\r\n", 7, &used, NULL, NULL), -NET_HTTP1_E_BAD);
}

Test(net_http1, malformed_trailer_is_bad)
{
    cr_assert_eq(chunked_rc("0\r\nX: a\r\n b\r\n\r\n"), -NET_HTTP1_E_BAD, "obs-fold");
    cr_assert_eq(chunked_rc("0\r\nX : a\r\n\r\n"), -NET_HTTP1_E_BAD);
    cr_assert_eq(chunked_rc("0\r\n: a\r\n\r\n"), -NET_HTTP1_E_BAD);
    cr_assert_eq(chunked_rc("0\r\nX: a\x7f\r\n\r\n"), -NET_HTTP1_E_BAD);
}

Test(net_http1, trailer_section_over_limit_is_too_large)
{
    size_t n = NET_HTTP1_TRAILER_MAX + 64;
    char *s = malloc(n + 1);
    cr_assert_not_null(s);
    size_t k = (size_t)sprintf(s, "0\r\nX: ");
    memset(s + k, 'a', n - k);
    s[n] = '\0';
    cr_assert_eq(chunked_rc(s), -NET_HTTP1_E_TOO_LARGE);
    // A trailer section of exactly the limit fits.
    k = (size_t)sprintf(s, "0\r\nX: ");
    size_t fill = NET_HTTP1_TRAILER_MAX - strlen("X: \r\n\r\n");
    memset(s + k, 'a', fill);
    strcpy(s + k + fill, "\r\n\r\n");
    cr_assert_eq(chunked_rc(s), 1);
    free(s);
}

Test(net_http1, chunk_size_line_over_limit_is_too_large)
{
    char s[NET_HTTP1_CHUNK_LINE_MAX + 16];
    memset(s, 'x', sizeof(s));
    memcpy(s, "5;", 2);
    s[sizeof(s) - 1] = '\0';
    cr_assert_eq(chunked_rc(s), -NET_HTTP1_E_TOO_LARGE);
}

Test(net_http1, chunked_end_and_error_are_sticky)
{
    struct net_http1_chunked c;
    size_t used = 99;
    net_http1_chunked_init(&c);
    cr_assert_eq(net_http1_chunked_feed(&c, "0\r\n\r\n", 5, &used, NULL, NULL), 1);
    cr_assert_eq(net_http1_chunked_feed(&c, "1\r\n", 3, &used, NULL, NULL), 1);
    cr_assert_eq(used, 0);
    net_http1_chunked_init(&c);
    cr_assert_eq(net_http1_chunked_feed(&c, "g", 1, &used, NULL, NULL), -NET_HTTP1_E_BAD);
    cr_assert_eq(net_http1_chunked_feed(&c, "0\r\n\r\n", 5, &used, NULL, NULL), -NET_HTTP1_E_BAD);
    cr_assert_eq(used, 0);
    cr_assert_eq(c.state, NET_HTTP1_CHUNKED_ERROR);
    cr_assert_eq(net_http1_chunked_feed(&c, NULL, 0, &used, NULL, NULL), -NET_HTTP1_E_BAD);
}

Test(net_http1, chunked_state_names_are_printable)
{
    cr_assert_str_eq(net_http1_chunked_state_name(NET_HTTP1_CHUNKED_DATA), "data");
    cr_assert_str_eq(net_http1_chunked_state_name(NET_HTTP1_CHUNKED_DONE), "done");
    cr_assert_str_eq(net_http1_chunked_state_name((enum net_http1_chunked_state)99), "?");
}

Test(net_http1, chunk_head_write_makes_scannable_chunks)
{
    char buf[64];
    cr_assert_eq(net_http1_chunk_head_write(255, buf, sizeof(buf)), 4);
    cr_assert_eq(memcmp(buf, "ff\r\n", 4), 0);
    cr_assert_eq(net_http1_chunk_head_write(UINT64_MAX, buf, sizeof(buf)), 18);
    cr_assert_eq(net_http1_chunk_head_write(255, buf, 3), -ENOSPC);
    int n = net_http1_chunk_head_write(3, buf, sizeof(buf));
    memcpy(buf + n, "abc\r\n", 5);
    n += 5;
    n += net_http1_chunk_head_write(0, buf + n, sizeof(buf) - (size_t)n);
    memcpy(buf + n, "\r\n", 2);
    n += 2;
    struct net_http1_chunked c;
    size_t used;
    net_http1_chunked_init(&c);
    cr_assert_eq(net_http1_chunked_feed(&c, buf, (size_t)n, &used, NULL, NULL), 1);
    cr_assert_eq(used, (size_t)n);
}

// ---- proxy heads ----

// write_req parses s as a request and writes it for the origin with o into out.
static int write_req(const char *s, const struct net_http1_proxy_opts *o, char *out, size_t n)
{
    cr_assert_eq(parse_req(s), (int)strlen(s), "parse %s", s);
    int w = net_http1_request_write_proxy(s, &req, o, out, n);
    if (w >= 0 && (size_t)w < n)
        out[w] = '\0';
    return w;
}

static int write_resp(const char *s, enum net_http1_method m, const struct net_http1_resp_opts *o,
                      char *out, size_t n)
{
    cr_assert_eq(parse_resp(s, m), (int)strlen(s), "parse %s", s);
    int w = net_http1_response_write_proxy(s, &resp, o, out, n);
    if (w >= 0 && (size_t)w < n)
        out[w] = '\0';
    return w;
}

Test(net_http1, request_write_drops_hop_by_hop_headers)
{
    const char *s = "GET /x HTTP/1.1\r\nHost: a.test\r\nConnection: keep-alive, X-Secret\r\n"
                    "Keep-Alive: 300\r\nX-Secret: s\r\nTE: trailers\r\nTrailer: X\r\n"
                    "Upgrade: h2c\r\nProxy-Connection: x\r\nProxy-Authorization: Basic eA==\r\n"
                    "Accept: */*\r\n\r\n";
    struct net_http1_proxy_opts o = {.via_name = "tlsedge", .client_ip = "192.0.2.1"};
    char out[512];
    int n = write_req(s, &o, out, sizeof(out));
    cr_assert_str_eq(out, "GET /x HTTP/1.1\r\nHost: a.test\r\nAccept: */*\r\n"
                          "Via: 1.1 tlsedge\r\nX-Forwarded-For: 192.0.2.1\r\n\r\n");
    cr_assert_eq(n, (int)strlen(out));
}

Test(net_http1, request_write_keeps_framing_headers_named_in_connection)
{
    const char *s = "POST / HTTP/1.1\r\nHost: a\r\nConnection: Content-Length, X-A\r\n"
                    "Content-Length: 3\r\nX-A: 1\r\n\r\n";
    struct net_http1_proxy_opts o = {0};
    char out[256];
    cr_assert_gt(write_req(s, &o, out, sizeof(out)), 0);
    cr_assert_str_eq(out, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n");
    s = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
        "Connection: transfer-encoding\r\n\r\n";
    cr_assert_gt(write_req(s, &o, out, sizeof(out)), 0);
    cr_assert_str_eq(out, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
}

Test(net_http1, request_write_appends_to_via_and_xff)
{
    const char *s =
        "GET / HTTP/1.1\r\nVia: 1.0 a, 1.1 b\r\nHost: h\r\nX-Forwarded-For: 10.0.0.1\r\n"
        "via: 2 c\r\nx-forwarded-for: 10.0.0.2\r\n\r\n";
    struct net_http1_proxy_opts o = {.via_name = "edge", .client_ip = "2001:db8::1"};
    char out[512];
    cr_assert_gt(write_req(s, &o, out, sizeof(out)), 0);
    cr_assert_str_eq(out, "GET / HTTP/1.1\r\nHost: h\r\nVia: 1.0 a, 1.1 b, 2 c, 1.1 edge\r\n"
                          "X-Forwarded-For: 10.0.0.1, 10.0.0.2, 2001:db8::1\r\n\r\n");
    struct net_http1_proxy_opts none = {0};
    cr_assert_gt(write_req(s, &none, out, sizeof(out)), 0);
    cr_assert_str_eq(out, "GET / HTTP/1.1\r\nHost: h\r\nVia: 1.0 a, 1.1 b, 2 c\r\n"
                          "X-Forwarded-For: 10.0.0.1, 10.0.0.2\r\n\r\n");
}

Test(net_http1, request_write_via_names_the_client_version)
{
    struct net_http1_proxy_opts o = {.via_name = "edge"};
    char out[256];
    cr_assert_gt(write_req("GET / HTTP/1.0\r\nHost: h\r\n\r\n", &o, out, sizeof(out)), 0);
    cr_assert_str_eq(out, "GET / HTTP/1.1\r\nHost: h\r\nVia: 1.0 edge\r\n\r\n");
}

Test(net_http1, request_write_replaces_host_and_path)
{
    const char *s = "GET /old?q HTTP/1.1\r\nHost: client.test\r\nX: y\r\n\r\n";
    struct net_http1_proxy_opts o = {
        .host = "backend:8080", .path = "/new?x=1", .origin_close = true};
    char out[256];
    cr_assert_gt(write_req(s, &o, out, sizeof(out)), 0);
    cr_assert_str_eq(out, "GET /new?x=1 HTTP/1.1\r\nHost: backend:8080\r\nX: y\r\n"
                          "Connection: close\r\n\r\n");
}

Test(net_http1, request_write_turns_absolute_form_into_origin_form)
{
    struct net_http1_proxy_opts o = {0};
    char out[256];
    cr_assert_gt(
        write_req("GET http://a.test:81/p?q HTTP/1.1\r\nHost: b\r\n\r\n", &o, out, sizeof(out)), 0);
    cr_assert_str_eq(out, "GET /p?q HTTP/1.1\r\nHost: a.test:81\r\n\r\n");
    cr_assert_gt(write_req("GET http://a.test?q HTTP/1.1\r\nHost: b\r\n\r\n", &o, out, sizeof(out)),
                 0);
    cr_assert_str_eq(out, "GET /?q HTTP/1.1\r\nHost: a.test\r\n\r\n");
    cr_assert_gt(write_req("OPTIONS * HTTP/1.1\r\nHost: b\r\n\r\n", &o, out, sizeof(out)), 0);
    cr_assert_str_eq(out, "OPTIONS * HTTP/1.1\r\nHost: b\r\n\r\n");
}

Test(net_http1, request_write_output_parses_again)
{
    const char *s = "PUT /u HTTP/1.0\r\nHost: h\r\nContent-Length: 7\r\nConnection: close\r\n\r\n";
    struct net_http1_proxy_opts o = {.via_name = "edge", .client_ip = "192.0.2.9"};
    char out[256];
    int n = write_req(s, &o, out, sizeof(out));
    struct net_http1_request again;
    cr_assert_eq(net_http1_request_parse(out, (size_t)n, MAX_HEAD, &again), n);
    cr_assert_eq(again.version, 11);
    cr_assert_eq(again.body, NET_HTTP1_BODY_LENGTH);
    cr_assert_eq(again.content_length, 7);
    cr_assert(again.keep_alive);
}

Test(net_http1, request_write_overflow_is_enospc)
{
    const char *s = "GET /x HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nVia: v\r\n\r\n";
    struct net_http1_proxy_opts o = {
        .via_name = "edge", .client_ip = "192.0.2.1", .origin_close = true};
    char out[256];
    int full = write_req(s, &o, out, sizeof(out));
    cr_assert_gt(full, 0);
    for (int n = 0; n < full; n++)
        cr_assert_eq(net_http1_request_write_proxy(s, &req, &o, out, (size_t)n), -ENOSPC,
                     "out_len %d", n);
    cr_assert_eq(net_http1_request_write_proxy(s, &req, &o, out, (size_t)full), full);
}

Test(net_http1, request_write_refuses_connect_and_unsafe_options)
{
    char out[256];
    struct net_http1_proxy_opts o = {0};
    cr_assert_eq(write_req("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", &o, out, sizeof(out)),
                 -EINVAL);
    const char *s = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    o.host = "a\r\nX-Injected: 1";
    cr_assert_eq(write_req(s, &o, out, sizeof(out)), -EINVAL);
    o.host = NULL;
    o.path = "no-slash";
    cr_assert_eq(write_req(s, &o, out, sizeof(out)), -EINVAL);
    o.path = "/a b";
    cr_assert_eq(write_req(s, &o, out, sizeof(out)), -EINVAL);
    o.path = NULL;
    o.client_ip = "";
    cr_assert_eq(write_req(s, &o, out, sizeof(out)), -EINVAL);
}

Test(net_http1, response_write_drops_hop_by_hop_and_adds_via)
{
    const char *s = "HTTP/1.1 200 OK\r\nConnection: X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\n"
                    "Proxy-Authenticate: Basic\r\nContent-Length: 2\r\nVia: 1.1 origin\r\n\r\n";
    struct net_http1_resp_opts o = {.via_name = "edge"};
    char out[256];
    cr_assert_gt(write_resp(s, NET_HTTP1_METHOD_GET, &o, out, sizeof(out)), 0);
    cr_assert_str_eq(out,
                     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nVia: 1.1 origin, 1.1 edge\r\n\r\n");
}

Test(net_http1, response_write_sets_connection_for_the_client)
{
    const char *s = "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    struct net_http1_resp_opts o = {.client_close = true};
    char out[256];
    cr_assert_gt(write_resp(s, NET_HTTP1_METHOD_GET, &o, out, sizeof(out)), 0);
    cr_assert_str_eq(out,
                     "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    struct net_http1_resp_opts ka10 = {.client_http10 = true};
    cr_assert_gt(write_resp(s, NET_HTTP1_METHOD_GET, &ka10, out, sizeof(out)), 0);
    cr_assert_str_eq(out, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                          "Connection: keep-alive\r\n\r\n");
}

Test(net_http1, response_write_rechunks_eof_body)
{
    const char *s = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n";
    struct net_http1_resp_opts o = {.rechunk = true};
    char out[256];
    cr_assert_gt(write_resp(s, NET_HTTP1_METHOD_GET, &o, out, sizeof(out)), 0);
    cr_assert_str_eq(out, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n");
    struct net_http1_resp_opts close = {.client_close = true};
    cr_assert_gt(write_resp(s, NET_HTTP1_METHOD_GET, &close, out, sizeof(out)), 0);
    cr_assert_str_eq(out,
                     "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n");
}

Test(net_http1, response_write_refuses_framing_that_cannot_work)
{
    char out[256];
    struct net_http1_resp_opts keep = {0}, rechunk = {.rechunk = true},
                               rechunk10 = {.rechunk = true, .client_http10 = true};
    cr_assert_eq(
        write_resp("HTTP/1.1 200 OK\r\n\r\n", NET_HTTP1_METHOD_GET, &keep, out, sizeof(out)),
        -EINVAL, "an EOF body on a kept connection");
    cr_assert_eq(write_resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n", NET_HTTP1_METHOD_GET,
                            &rechunk, out, sizeof(out)),
                 -EINVAL);
    cr_assert_eq(
        write_resp("HTTP/1.1 200 OK\r\n\r\n", NET_HTTP1_METHOD_GET, &rechunk10, out, sizeof(out)),
        -EINVAL);
    cr_assert_eq(write_resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
                            NET_HTTP1_METHOD_GET, &keep, out, sizeof(out)),
                 -EINVAL);
}

Test(net_http1, response_write_interim_has_no_connection_line)
{
    struct net_http1_resp_opts o = {.client_close = true, .via_name = "edge"};
    char out[256];
    cr_assert_gt(
        write_resp("HTTP/1.1 100 Continue\r\n\r\n", NET_HTTP1_METHOD_POST, &o, out, sizeof(out)),
        0);
    cr_assert_str_eq(out, "HTTP/1.1 100 Continue\r\nVia: 1.1 edge\r\n\r\n");
}

Test(net_http1, response_write_overflow_is_enospc)
{
    const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX: y\r\n\r\n";
    struct net_http1_resp_opts o = {.via_name = "edge", .client_close = true};
    char out[256];
    int full = write_resp(s, NET_HTTP1_METHOD_GET, &o, out, sizeof(out));
    cr_assert_gt(full, 0);
    for (int n = 0; n < full; n++)
        cr_assert_eq(net_http1_response_write_proxy(s, &resp, &o, out, (size_t)n), -ENOSPC);
}

Test(net_http1, error_write_makes_a_complete_response)
{
    char out[256];
    int n = net_http1_error_write(400, NULL, true, out, sizeof(out));
    cr_assert_gt(n, 0);
    out[n] = '\0';
    cr_assert_str_eq(out, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                          "Content-Length: 12\r\nConnection: close\r\n\r\nBad Request\n");
    n = net_http1_error_write(503, "busy", false, out, sizeof(out));
    out[n] = '\0';
    cr_assert_str_eq(out, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                          "Content-Length: 4\r\n\r\nbusy");
    struct net_http1_response r;
    cr_assert_eq(net_http1_response_parse(out, (size_t)n, MAX_HEAD, NET_HTTP1_METHOD_GET, &r),
                 n - 4);
    cr_assert_eq(r.content_length, 4);
}

Test(net_http1, error_write_refuses_non_errors_and_small_buffers)
{
    char out[256];
    cr_assert_eq(net_http1_error_write(200, NULL, true, out, sizeof(out)), -EINVAL);
    cr_assert_eq(net_http1_error_write(600, NULL, true, out, sizeof(out)), -EINVAL);
    int full = net_http1_error_write(431, NULL, true, out, sizeof(out));
    for (int n = 0; n < full; n++)
        cr_assert_eq(net_http1_error_write(431, NULL, true, out, (size_t)n), -ENOSPC);
}

Test(net_http1, status_reason_knows_standard_codes)
{
    cr_assert_str_eq(net_http1_status_reason(431), "Request Header Fields Too Large");
    cr_assert_str_eq(net_http1_status_reason(502), "Bad Gateway");
    cr_assert_str_eq(net_http1_status_reason(599), "Unknown");
}
