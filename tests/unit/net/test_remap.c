// SPDX-License-Identifier: Apache-2.0
// Unit tests for net/remap.c: remap.config parsing, rule matching and path rewriting, and the
// absolute-form request target splitter.
#include "net/remap.h"

#include "core/err.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct core_err err;

static void setup(void)
{
    core_err_init(&err);
}

TestSuite(net_remap, .init = setup);

static struct net_remap *parse(const char *text)
{
    return net_remap_parse(text, strlen(text), "remap.config", &err);
}

// has_entry is true when err holds an error (or a warning) at line whose reason contains needle.
static bool has_entry(bool warning, int line, const char *needle)
{
    for (int i = 0; i < err.kept; i++) {
        const struct core_err_entry *e = &err.entry[i];
        if (e->warning == warning && e->line == line && strstr(e->reason, needle) &&
            strcmp(e->file, "remap.config") == 0)
            return true;
    }
    return false;
}

// map_path looks up a plain-HTTP request on port 80 and returns the rewritten path, or NULL.
static const char *map_path(const struct net_remap *r, const char *host, const char *path)
{
    static char out[256];
    return net_remap_lookup(r, false, host, 80, path, out, sizeof(out)) ? out : NULL;
}

Test(net_remap, first_match_in_file_order_wins)
{
    struct net_remap *r = parse("map http://a.test/ http://one.test/\n"
                                "map http://a.test/api/ http://two.test/\n");
    cr_assert_not_null(r);
    cr_assert_eq(net_remap_count(r), 2);
    const struct net_remap_target *t = net_remap_lookup(r, false, "a.test", 80, "/api/x", NULL, 0);
    cr_assert_not_null(t);
    cr_assert_str_eq(t->host, "one.test");
    cr_assert_eq(t->line, 1);
    cr_assert(has_entry(true, 2, "never matches"), "the shadowed rule is reported");
    cr_assert_eq(err.errors, 0);
    net_remap_free(r);
}

Test(net_remap, specific_rule_before_general_one)
{
    struct net_remap *r = parse("map http://a.test/api/ http://two.test/\n"
                                "map http://b.test/ http://three.test/\n"
                                "map http://a.test/ http://one.test/\n");
    cr_assert_not_null(r);
    cr_assert_str_eq(net_remap_lookup(r, false, "a.test", 80, "/api/x", NULL, 0)->host, "two.test");
    cr_assert_str_eq(net_remap_lookup(r, false, "a.test", 80, "/other", NULL, 0)->host, "one.test");
    cr_assert_str_eq(net_remap_lookup(r, false, "b.test", 80, "/api/x", NULL, 0)->host,
                     "three.test");
    cr_assert_eq(err.warnings, 0);
    net_remap_free(r);
}

Test(net_remap, host_matches_case_insensitively)
{
    struct net_remap *r = parse("map http://A.Test./ http://Origin.TEST/\n");
    cr_assert_not_null(r);
    const struct net_remap_target *t = net_remap_lookup(r, false, "a.test", 80, "/", NULL, 0);
    cr_assert_not_null(t);
    cr_assert_str_eq(t->host, "origin.test");
    cr_assert_not_null(net_remap_lookup(r, false, "A.TEST", 80, "/", NULL, 0));
    cr_assert_not_null(net_remap_lookup(r, false, "a.test.", 80, "/", NULL, 0));
    cr_assert_null(net_remap_lookup(r, false, "a.tes", 80, "/", NULL, 0));
    cr_assert_null(net_remap_lookup(r, false, "a.testx", 80, "/", NULL, 0));
    cr_assert_null(net_remap_lookup(r, false, "b.test", 80, "/", NULL, 0));
    net_remap_free(r);
}

Test(net_remap, path_prefix_is_replaced)
{
    struct net_remap *r = parse("map http://a.test/api/ http://127.0.0.1:9000/v1/\n");
    char out[64];
    cr_assert_not_null(r);
    const struct net_remap_target *t =
        net_remap_lookup(r, false, "a.test", 80, "/api/x?q", out, sizeof(out));
    cr_assert_not_null(t);
    cr_assert_str_eq(out, "/v1/x?q");
    cr_assert_str_eq(t->host, "127.0.0.1");
    cr_assert_eq(t->port, 9000);
    cr_assert_not(t->tls);
    cr_assert_str_eq(t->path_prefix, "/v1/");
    cr_assert_eq(t->from_prefix_len, 5);
    cr_assert_str_eq(map_path(r, "a.test", "/api/"), "/v1/");
    cr_assert_null(map_path(r, "a.test", "/api"), "/api is not under /api/");
    cr_assert_null(map_path(r, "a.test", "/"));
    net_remap_free(r);
}

Test(net_remap, prefix_is_a_plain_string_prefix)
{
    struct net_remap *r = parse("map http://a.test/api http://b.test/v2\n");
    cr_assert_not_null(r);
    cr_assert_str_eq(map_path(r, "a.test", "/apix"), "/v2x");
    cr_assert_str_eq(map_path(r, "a.test", "/api/y"), "/v2/y");
    cr_assert_str_eq(map_path(r, "a.test", "/api?q=1"), "/v2?q=1");
    net_remap_free(r);
}

Test(net_remap, root_from_inserts_slash_like_ats)
{
    struct net_remap *r = parse("map http://a.test http://b.test/x\n"
                                "map http://c.test/ http://d.test\n");
    cr_assert_not_null(r);
    cr_assert_str_eq(map_path(r, "a.test", "/y?q"), "/x/y?q");
    cr_assert_str_eq(map_path(r, "a.test", "/"), "/x");
    cr_assert_str_eq(map_path(r, "a.test", "/?q"), "/x?q");
    cr_assert_str_eq(map_path(r, "a.test", NULL), "/x");
    cr_assert_str_eq(map_path(r, "c.test", "/y/z"), "/y/z");
    cr_assert_str_eq(map_path(r, "c.test", ""), "/");
    net_remap_free(r);
}

Test(net_remap, from_port_matters_only_when_written)
{
    struct net_remap *r = parse("map http://a.test:8080/ http://eight.test/\n"
                                "map http://a.test/ http://any.test/\n"
                                "map http://b.test:8443/ http://b-origin.test/\n");
    cr_assert_not_null(r);
    cr_assert_str_eq(net_remap_lookup(r, false, "a.test", 8080, "/", NULL, 0)->host, "eight.test");
    cr_assert_str_eq(net_remap_lookup(r, false, "a.test", 80, "/", NULL, 0)->host, "any.test");
    cr_assert_str_eq(net_remap_lookup(r, false, "a.test", 9999, "/", NULL, 0)->host, "any.test");
    cr_assert_not_null(net_remap_lookup(r, false, "b.test", 8443, "/", NULL, 0));
    cr_assert_null(net_remap_lookup(r, false, "b.test", 443, "/", NULL, 0));
    cr_assert_eq(err.warnings, 0, "a port-specific rule does not shadow a general one");
    net_remap_free(r);
}

Test(net_remap, scheme_must_match_client_tls)
{
    struct net_remap *r = parse("map https://a.test/ https://secure.test/\n"
                                "map HTTP://a.test/ http://plain.test/\n"
                                "map https://only-tls.test/ http://x.test/\n");
    cr_assert_not_null(r);
    const struct net_remap_target *t = net_remap_lookup(r, true, "a.test", 443, "/", NULL, 0);
    cr_assert_str_eq(t->host, "secure.test");
    cr_assert(t->tls);
    cr_assert_eq(t->port, 443);
    t = net_remap_lookup(r, false, "a.test", 80, "/", NULL, 0);
    cr_assert_str_eq(t->host, "plain.test");
    cr_assert_not(t->tls);
    cr_assert_eq(t->port, 80);
    cr_assert_null(net_remap_lookup(r, false, "only-tls.test", 80, "/", NULL, 0));
    cr_assert_not_null(net_remap_lookup(r, true, "only-tls.test", 8443, "/", NULL, 0));
    net_remap_free(r);
}

Test(net_remap, ipv6_literals)
{
    struct net_remap *r = parse("map http://[::1]:8080/ https://[2001:DB8::1]/\n");
    cr_assert_not_null(r);
    const struct net_remap_target *t = net_remap_lookup(r, false, "::1", 8080, "/", NULL, 0);
    cr_assert_not_null(t);
    cr_assert_str_eq(t->host, "2001:db8::1");
    cr_assert_eq(t->port, 443);
    cr_assert(t->tls);
    net_remap_free(r);
}

Test(net_remap, no_match_returns_null)
{
    struct net_remap *r = parse("map http://a.test/x/ http://b.test/\n");
    char out[32] = "junk";
    cr_assert_not_null(r);
    cr_assert_null(net_remap_lookup(r, false, "c.test", 80, "/x/", out, sizeof(out)));
    cr_assert_str_eq(out, "");
    cr_assert_null(net_remap_lookup(r, false, "a.test", 80, "/y/", NULL, 0));
    cr_assert_null(net_remap_lookup(r, false, NULL, 80, "/x/", NULL, 0));
    cr_assert_null(net_remap_lookup(r, false, "", 80, "/x/", NULL, 0));
    cr_assert_null(net_remap_lookup(r, false, ".", 80, "/x/", NULL, 0));
    cr_assert_null(net_remap_lookup(NULL, false, "a.test", 80, "/x/", NULL, 0));
    net_remap_free(r);
}

Test(net_remap, rewritten_path_that_does_not_fit_returns_null)
{
    struct net_remap *r = parse("map http://a.test/ http://b.test/long/prefix/\n");
    char out[16] = "junk";
    cr_assert_not_null(r);
    cr_assert_null(net_remap_lookup(r, false, "a.test", 80, "/abc", out, sizeof(out)));
    cr_assert_str_eq(out, "");
    cr_assert_not_null(net_remap_lookup(r, false, "a.test", 80, "/abc", NULL, 0),
                       "a match-only call tells 'too long' from 'no rule'");
    // "/long/prefix/" + "ab" + NUL is exactly 16 bytes.
    cr_assert_not_null(net_remap_lookup(r, false, "a.test", 80, "/ab", out, sizeof(out)));
    cr_assert_str_eq(out, "/long/prefix/ab");
    net_remap_free(r);
}

Test(net_remap, every_bad_line_is_reported_with_its_line)
{
    const char *text = "map http://ok.test/ http://origin.test/\n"        // 1
                       "mapp http://a.test/ http://b.test/\n"             // 2
                       "map http//a.test/ http://b.test/\n"               // 3
                       "map http://a.test/\n"                             // 4
                       "map tunnel://a.test/ http://b.test/\n"            // 5
                       "redirect http://a.test/ http://b.test/\n"         // 6
                       "regex_map http://(.*).test/ http://b.test/\n"     // 7
                       ".include other.config\n"                          // 8
                       "map http://a.test/ http://b.test/ @action=deny\n" // 9
                       "map http://a.test:0/ http://b.test:70000/\n"      // 10
                       "map http://a.test/?q http://b.test/\n"            // 11
                       "map / http://b.test/\n"                           // 12
                       "map\n"                                            // 13
                       "map http://u@a.test/ ftp://b.test/\n"             // 14
                       "map http://a.test/ http://b.test/ extra\n"        // 15
                       "map http://a.test/ http://b.test/ \\\n";          // 16
    cr_assert_null(parse(text));
    cr_assert(has_entry(false, 2, "unknown directive 'mapp'"));
    cr_assert(has_entry(false, 3, "FROM URL 'http//a.test/' is not scheme://host"));
    cr_assert(has_entry(false, 4, "missing TO URL"));
    cr_assert(has_entry(false, 5, "scheme 'tunnel' is not supported"));
    cr_assert(has_entry(false, 6, "'redirect' is not supported"));
    cr_assert(has_entry(false, 7, "'regex_map' is not supported"));
    cr_assert(has_entry(false, 8, "'.include' is not supported"));
    cr_assert(has_entry(false, 9, "option '@action' is not supported"));
    cr_assert(has_entry(false, 10, "FROM URL 'http://a.test:0/' has a bad port"));
    cr_assert(has_entry(false, 10, "TO URL 'http://b.test:70000/' has a bad port"));
    cr_assert(has_entry(false, 11, "has a query"));
    cr_assert(has_entry(false, 12, "a FROM without a host is not supported"));
    cr_assert(has_entry(false, 13, "missing FROM and TO"));
    cr_assert(has_entry(false, 14, "user information"));
    cr_assert(has_entry(false, 14, "scheme 'ftp' is not supported"));
    cr_assert(has_entry(false, 15, "unexpected word 'extra'"));
    cr_assert(has_entry(false, 16, "line continuation is not supported"));
    cr_assert_eq(err.errors, 17);
}

Test(net_remap, comments_and_blank_lines_are_skipped)
{
    const char *text = "# remap rules\r\n"
                       "\r\n"
                       "   # indented comment\n"
                       "\t\n"
                       "map http://a.test/ http://b.test/  # trailing comment\r\n"
                       "MAP http://c.test/ http://d.test/\n"
                       "# map http://e.test/ nothing\n";
    struct net_remap *r = parse(text);
    cr_assert_not_null(r);
    cr_assert_eq(net_remap_count(r), 2);
    cr_assert_eq(err.errors + err.warnings, 0);
    cr_assert_eq(net_remap_lookup(r, false, "a.test", 80, "/", NULL, 0)->line, 5);
    cr_assert_eq(net_remap_lookup(r, false, "c.test", 80, "/", NULL, 0)->line, 6);
    net_remap_free(r);
}

Test(net_remap, plugins_and_reverse_map_are_warnings)
{
    struct net_remap *r = parse("map http://a.test/ http://b.test/ @plugin=conf_remap.so "
                                "@pparam=x.config\n"
                                "reverse_map http://b.test/ http://a.test/\n");
    cr_assert_not_null(r);
    cr_assert_eq(net_remap_count(r), 1);
    cr_assert_eq(err.errors, 0);
    cr_assert(has_entry(true, 1, "@plugin"));
    cr_assert(has_entry(true, 2, "reverse_map ignored"));
    net_remap_free(r);
}

Test(net_remap, empty_text_gives_empty_rule_set)
{
    struct net_remap *r = net_remap_parse(NULL, 0, "remap.config", &err);
    cr_assert_not_null(r);
    cr_assert_eq(net_remap_count(r), 0);
    cr_assert_null(net_remap_lookup(r, false, "a.test", 80, "/", NULL, 0));
    net_remap_free(r);
    net_remap_free(NULL);
    cr_assert_eq(net_remap_count(NULL), 0);
}

Test(net_remap, load_reads_file_and_reports_missing_file)
{
    char dir[] = "/tmp/tlsedge-remap-XXXXXX";
    char path[PATH_MAX];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/remap.config", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("# test\nmap https://a.test/ http://127.0.0.1:8080/\nbogus\n", f);
    fclose(f);

    cr_assert_null(net_remap_load(path, &err));
    cr_assert_eq(err.errors, 1);
    cr_assert_eq(err.entry[0].line, 3);
    cr_assert_str_eq(err.entry[0].file, path);

    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("map https://a.test/ http://127.0.0.1:8080/\n", f);
    fclose(f);
    core_err_init(&err);
    struct net_remap *r = net_remap_load(path, &err);
    cr_assert_not_null(r);
    cr_assert_eq(net_remap_lookup(r, true, "a.test", 443, "/", NULL, 0)->port, 8080);
    net_remap_free(r);

    unlink(path);
    cr_assert_null(net_remap_load(path, &err));
    cr_assert_eq(err.entry[0].line, 0);
    cr_assert(strstr(err.entry[0].reason, "cannot read"));
    rmdir(dir);
}

// split runs net_remap_parse_absolute on a C string.
static int split(const char *uri, bool *tls, char *host, size_t host_len, uint16_t *port,
                 const char **path)
{
    return net_remap_parse_absolute(uri, strlen(uri), tls, host, host_len, port, path);
}

Test(net_remap, absolute_uri_is_split)
{
    bool tls = true;
    char host[64];
    uint16_t port = 0;
    const char *path = NULL;
    const char *uri = "HTTP://Example.COM/a/b?c=d";
    cr_assert_eq(split(uri, &tls, host, sizeof(host), &port, &path), 0);
    cr_assert_not(tls);
    cr_assert_str_eq(host, "example.com");
    cr_assert_eq(port, 80);
    cr_assert_str_eq(path, "/a/b?c=d");

    cr_assert_eq(split("https://h.test:8443", &tls, host, sizeof(host), &port, &path), 0);
    cr_assert(tls);
    cr_assert_eq(port, 8443);
    cr_assert_str_eq(path, "", "no path: the caller sends /");

    cr_assert_eq(split("https://h.test?x", &tls, host, sizeof(host), &port, &path), 0);
    cr_assert_eq(port, 443);
    cr_assert_str_eq(path, "?x");

    cr_assert_eq(split("http://h.test:/p", &tls, host, sizeof(host), &port, &path), 0);
    cr_assert_eq(port, 80, "an empty port is the default port");
}

Test(net_remap, absolute_uri_with_ipv6_literal)
{
    bool tls = false;
    char host[64];
    uint16_t port = 0;
    const char *path = NULL;
    cr_assert_eq(split("http://[::1]:8080/x", &tls, host, sizeof(host), &port, &path), 0);
    cr_assert_str_eq(host, "::1");
    cr_assert_eq(port, 8080);
    cr_assert_str_eq(path, "/x");
    cr_assert_eq(split("https://[2001:DB8::1]/", &tls, host, sizeof(host), &port, &path), 0);
    cr_assert_str_eq(host, "2001:db8::1");
    cr_assert_eq(port, 443);
    cr_assert(tls);

    // The path is bounded by len, not by a NUL.
    const char buf[] = "http://a.test/abc/def";
    cr_assert_eq(net_remap_parse_absolute(buf, 17, &tls, host, sizeof(host), &port, &path), 0);
    cr_assert_eq(path, buf + 13);
    cr_assert_eq((size_t)(buf + 17 - path), 4);
}

Test(net_remap, absolute_uri_rejects_bad_input)
{
    static const char *const bad[] = {
        "ftp://a.test/",     "tunnel://a.test:443",
        "http://",           "http:///x",
        "http://a:0/",       "http://a:65536/",
        "http://a:8x/",      "http://u@a/",
        "http://a/#frag",    "http://[::1/",
        "http://[::1]x/",    "http://a b/",
        "/relative/path",    "http://[fe80::1%25eth0]/",
        "http://a\x01/",     "a.test:443",
        "http://[1.2.3.4]/", "http://a%2e/",
    };
    bool tls;
    char host[64];
    uint16_t port;
    const char *path;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(split(bad[i], &tls, host, sizeof(host), &port, &path), -EINVAL, "%s", bad[i]);
    cr_assert_eq(split("http://abcd/", &tls, host, 5, &port, &path), 0);
    cr_assert_eq(split("http://abcde/", &tls, host, 5, &port, &path), -EINVAL,
                 "the host must fit host_len with its NUL");
    cr_assert_eq(net_remap_parse_absolute(NULL, 0, &tls, host, 5, &port, &path), -EINVAL);
}
