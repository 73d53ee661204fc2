// SPDX-License-Identifier: Apache-2.0
// Unit tests for bridge/config.c: tls_bridge arguments (pairs in order, first match wins,
// anchored regexes on host:port or host), peers with and without ports, --file relative to the
// configuration directory in argument order, and the problems ATS logs and skips (bad regex,
// regex without peer, bad peer, missing file, no pair at all).
#include "bridge/config.h"

#include "core/err.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct core_err err;
static struct bridge_config *cfg;
static char dir[] = "/tmp/tlsedge-bridge-XXXXXX";

static void setup(void)
{
    core_err_init(&err);
    cr_assert_not_null(mkdtemp(dir));
    cfg = bridge_config_new(dir);
    cr_assert_not_null(cfg);
}

static void teardown(void)
{
    bridge_config_free(cfg);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(bridge_config, .init = setup, .fini = teardown);

// args adds one plugin.config line's arguments (a NULL-terminated list) as line 7.
static int args(const char *first, ...)
{
    const char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && argc < 32; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    return bridge_config_add_args(cfg, argc, argv, "plugin.config", 7, &err);
}

static const char *msg(int i)
{
    static char buf[512];
    return i < err.kept ? core_err_format(&err, i, buf, sizeof(buf)) : "";
}

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static const char *peer_of(const char *host, uint16_t port)
{
    const struct bridge_dest *d = bridge_config_match(cfg, host, port);
    return d ? d->peer : "-";
}

Test(bridge_config, pairs_in_order_first_match_wins)
{
    cr_assert_eq(args(".*[.]service[.]com", "peer1.example:4443", "db[.]service[.]com",
                      "peer2.example", NULL),
                 2);
    cr_assert_eq(err.warnings, 0);
    cr_assert_eq(cfg->n, 2);
    cr_assert_str_eq(cfg->dest[0].host, "peer1.example");
    cr_assert_eq(cfg->dest[0].port, 4443);
    cr_assert_str_eq(cfg->dest[1].host, "peer2.example");
    cr_assert_eq(cfg->dest[1].port, 443, "no port: 443");
    cr_assert_str_eq(peer_of("db.service.com", 5432), "peer1.example:4443");
    cr_assert_str_eq(cfg->dest[0].where, "plugin.config:7");
}

Test(bridge_config, regexes_are_anchored_at_both_ends)
{
    cr_assert_eq(args("service[.]com", "p:1", NULL), 1);
    cr_assert_str_eq(peer_of("service.com", 443), "p:1");
    cr_assert_str_eq(peer_of("www.service.com", 443), "-", "not a suffix match");
    cr_assert_str_eq(peer_of("service.com.evil", 443), "-", "not a prefix match");
    cr_assert_str_eq(peer_of("SERVICE.COM", 443), "p:1", "host names ignore case");
}

Test(bridge_config, a_regex_may_name_the_port)
{
    cr_assert_eq(args("db[.]internal:5432", "p:1", "[^:]*:22", "ssh:2222", NULL), 2);
    cr_assert_str_eq(peer_of("db.internal", 5432), "p:1");
    cr_assert_str_eq(peer_of("db.internal", 5433), "-");
    cr_assert_str_eq(peer_of("any.host", 22), "ssh:2222");
    cr_assert_str_eq(peer_of("::1", 22), "-", "an IPv6 host is matched as [::1]:22");
    cr_assert_eq(args("\\[::1\\]:22", "v6peer", NULL), 1);
    cr_assert_str_eq(peer_of("::1", 22), "v6peer");
    cr_assert_null(bridge_config_match(NULL, "a", 1));
}

Test(bridge_config, peers_with_addresses_and_bad_peers)
{
    cr_assert_eq(args("a", "127.0.0.1:8443", "b", "[::1]:9443", "c", "[::1]", NULL), 3);
    cr_assert_str_eq(cfg->dest[1].host, "::1");
    cr_assert_eq(cfg->dest[1].port, 9443);
    cr_assert_eq(cfg->dest[2].port, 443);
    const char *bad[] = {":443",    "host:", "host:0", "host:65536", "host:44x",
                         "::1:443", "[::1",  "[::1]x", "a/b",        "[]:1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        core_err_init(&err);
        cr_assert_eq(args("x", bad[i], NULL), 0, "%s", bad[i]);
        cr_assert(strstr(msg(0), "bad peer"), "%s: %s", bad[i], msg(0));
        cr_assert(strstr(msg(0), "plugin.config:7:"), "%s", msg(0));
    }
    cr_assert_eq(cfg->n, 3);
}

Test(bridge_config, a_bad_regex_is_logged_and_its_pair_skipped)
{
    cr_assert_eq(args("ok[.]test", "p1:1", "bad(", "p2:2", "also[.]ok", "p3:3", NULL), 2);
    cr_assert_eq(err.errors, 0, "warnings only: the rest of the configuration loads");
    cr_assert_eq(err.warnings, 1);
    cr_assert(strstr(msg(0), "plugin.config:7: tls_bridge: failed to compile regular expression "
                             "'bad('"),
              "%s", msg(0));
    cr_assert_str_eq(cfg->dest[1].peer, "p3:3");
}

Test(bridge_config, a_regex_without_peer_is_skipped)
{
    cr_assert_eq(args("a", "p:1", "lonely", NULL), 1);
    cr_assert(strstr(msg(0), "'lonely' without peer"), "%s", msg(0));
    core_err_init(&err);
    cr_assert_eq(args("x", "--file", "missing.conf", NULL), 0);
    cr_assert(strstr(msg(0), "'x' without peer"), "%s", msg(0));
}

Test(bridge_config, no_pair_disables_the_plugin)
{
    cr_assert_eq(args(NULL), 0);
    cr_assert_eq(err.warnings, 1);
    cr_assert_str_eq(msg(0), "plugin.config:7: tls_bridge: No destinations defined, plugin "
                             "disabled");
    cr_assert_eq(cfg->lines, 1);
    core_err_init(&err);
    cr_assert_eq(args("bad(", "p", NULL), 0);
    cr_assert_eq(err.warnings, 2);
    cr_assert(strstr(msg(1), "No destinations defined, plugin disabled"), "%s", msg(1));
}

Test(bridge_config, file_pairs_come_in_argument_order)
{
    write_file("bridge.conf", "# destinations\n"
                              "  first[.]test   pf1:1   # trailing comment\n"
                              "\n"
                              "second[.]test\tpf2:2\r\n"
                              "lonely[.]test\n"
                              "three words here\n"
                              "bad( pf3:3\n"
                              "last[.]test pf4:4");
    cr_assert_eq(args("zero[.]test", "p0:0", NULL), 0); // port 0: a bad peer
    core_err_init(&err);
    cr_assert_eq(args("a[.]test", "pa:1", "--file", "bridge.conf", "z[.]test", "pz:9", NULL), 5);
    cr_assert_eq(cfg->n, 5);
    const char *want[] = {"pa:1", "pf1:1", "pf2:2", "pf4:4", "pz:9"};
    for (size_t i = 0; i < 5; i++)
        cr_assert_str_eq(cfg->dest[i].peer, want[i]);
    cr_assert_str_eq(cfg->dest[1].where, "bridge.conf:2");
    cr_assert_str_eq(cfg->dest[3].where, "bridge.conf:8");
    cr_assert_eq(err.warnings, 3);
    cr_assert(strstr(msg(0), "bridge.conf:5: tls_bridge: destination regular expression "
                             "'lonely[.]test' without peer"),
              "%s", msg(0));
    cr_assert(strstr(msg(1), "bridge.conf:6:"), "%s", msg(1));
    cr_assert(strstr(msg(2), "bridge.conf:7: tls_bridge: failed to compile"), "%s", msg(2));
}

Test(bridge_config, an_absolute_file_and_a_missing_one)
{
    write_file("abs.conf", "abs[.]test peer-abs:7\n");
    char path[256];
    snprintf(path, sizeof(path), "%s/abs.conf", dir);
    cr_assert_eq(args("--file", path, NULL), 1);
    cr_assert_str_eq(peer_of("abs.test", 1), "peer-abs:7");
    cr_assert_eq(args("--file", "nope.conf", "x", "p:1", NULL), 1);
    cr_assert(strstr(msg(0), "plugin.config:7: tls_bridge: --file "), "%s", msg(0));
    cr_assert(strstr(msg(0), "nope.conf: No such file or directory"), "%s", msg(0));
    core_err_init(&err);
    cr_assert_eq(args("--file", NULL), 0);
    cr_assert(strstr(msg(0), "--file needs a path"), "%s", msg(0));
}

Test(bridge_config, file_text_with_a_nul_byte)
{
    const char text[] = "a[.]test p:1\nb\0c p:2\nd[.]test p:3\n";
    cr_assert_eq(bridge_config_add_text(cfg, text, sizeof(text) - 1, "t.conf", &err), 2);
    cr_assert(strstr(msg(0), "t.conf:2: tls_bridge: a NUL byte"), "%s", msg(0));
}

Test(bridge_config, several_lines_add_to_one_table)
{
    cr_assert_eq(args("a", "pa", NULL), 1);
    cr_assert_eq(
        bridge_config_add_args(cfg, 2, (const char *[]){"b", "pb"}, "plugin.config", 9, &err), 1);
    cr_assert_eq(cfg->lines, 2);
    cr_assert_str_eq(cfg->dest[1].where, "plugin.config:9");
}
