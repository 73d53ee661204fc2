// SPDX-License-Identifier: Apache-2.0
// Unit tests for net/ipallow.c: ip_allow.yaml parsing, address and method checks.
#include "net/ipallow.h"

#include "core/err.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static struct core_err err;

static void setup(void)
{
    core_err_init(&err);
}

TestSuite(net_ipallow, .init = setup);

static struct net_ipallow *parse(const char *text)
{
    return net_ipallow_parse(text, strlen(text), "ip_allow.yaml", &err);
}

static bool has_entry(bool warning, int line, const char *needle)
{
    for (int i = 0; i < err.kept; i++) {
        const struct core_err_entry *e = &err.entry[i];
        if (e->warning == warning && e->line == line && strstr(e->reason, needle) &&
            strcmp(e->file, "ip_allow.yaml") == 0)
            return true;
    }
    return false;
}

// check asks a whether the client at the IPv4 or IPv6 literal ip may use method.
static bool check(const struct net_ipallow *a, const char *ip, const char *method)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(12345);
    } else {
        cr_assert_eq(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1, "bad test address %s", ip);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(12345);
    }
    return net_ipallow_check(a, (const struct sockaddr *)&ss, method);
}

Test(net_ipallow, first_matching_rule_decides)
{
    struct net_ipallow *a = parse("ip_allow:\n"
                                  "  - apply: in\n"
                                  "    ip_addrs: 10.0.0.5\n"
                                  "    action: deny\n"
                                  "  - apply: in\n"
                                  "    ip_addrs: 10.0.0.0/8\n"
                                  "    action: allow\n"
                                  "  - apply: in\n"
                                  "    ip_addrs: 10.0.0.6\n"
                                  "    action: deny\n");
    cr_assert_not_null(a);
    cr_assert_eq(net_ipallow_count(a), 3);
    cr_assert_not(check(a, "10.0.0.5", "GET"));
    cr_assert_not(check(a, "10.0.0.5", NULL));
    cr_assert(check(a, "10.0.0.6", "GET"), "the earlier allow rule wins");
    cr_assert(check(a, "10.255.255.255", NULL));
    net_ipallow_free(a);
}

Test(net_ipallow, ipv4_cidr_boundaries)
{
    struct net_ipallow *a = parse("ip_allow:\n"
                                  "  - {apply: in, ip_addrs: 192.168.1.0/24, action: allow}\n"
                                  "  - {apply: in, ip_addrs: 10.1.2.3/8, action: allow}\n"
                                  "  - {apply: in, ip_addrs: 172.16.0.1/32, action: allow}\n");
    cr_assert_not_null(a);
    cr_assert(check(a, "192.168.1.0", "GET"));
    cr_assert(check(a, "192.168.1.255", "GET"));
    cr_assert_not(check(a, "192.168.0.255", "GET"));
    cr_assert_not(check(a, "192.168.2.0", "GET"));
    cr_assert(check(a, "10.0.0.0", "GET"), "host bits of a CIDR are ignored");
    cr_assert(check(a, "10.255.255.255", "GET"));
    cr_assert_not(check(a, "11.0.0.0", "GET"));
    cr_assert(check(a, "172.16.0.1", "GET"));
    cr_assert_not(check(a, "172.16.0.2", "GET"));
    cr_assert_not(check(a, "172.16.0.0", "GET"));
    net_ipallow_free(a);
}

Test(net_ipallow, ipv6_cidr_boundaries)
{
    struct net_ipallow *a = parse("ip_allow:\n"
                                  "  - apply: in\n"
                                  "    ip_addrs: ['2001:db8::/32', \"fd00::10/127\", '::1/128']\n"
                                  "    action: allow\n");
    cr_assert_not_null(a);
    cr_assert(check(a, "2001:db8::", "GET"));
    cr_assert(check(a, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "GET"));
    cr_assert_not(check(a, "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "GET"));
    cr_assert_not(check(a, "2001:db9::", "GET"));
    cr_assert(check(a, "fd00::10", "GET"));
    cr_assert(check(a, "fd00::11", "GET"));
    cr_assert_not(check(a, "fd00::f", "GET"));
    cr_assert_not(check(a, "fd00::12", "GET"));
    cr_assert(check(a, "::1", "GET"));
    cr_assert_not(check(a, "::2", "GET"));
    cr_assert_not(check(a, "127.0.0.1", "GET"), "IPv6 rules never match IPv4 clients");
    net_ipallow_free(a);
}

Test(net_ipallow, ranges_are_inclusive)
{
    struct net_ipallow *a = parse("ip_allow:\n"
                                  "  - apply: in\n"
                                  "    ip_addrs:\n"
                                  "      - 1.2.3.4-1.2.3.20\n"
                                  "      - 2001:db8::5-2001:db8::1:0\n"
                                  "      - 0.0.0.0-0.0.0.0\n"
                                  "    action: allow\n");
    cr_assert_not_null(a);
    cr_assert(check(a, "1.2.3.4", "GET"));
    cr_assert(check(a, "1.2.3.20", "GET"));
    cr_assert_not(check(a, "1.2.3.3", "GET"));
    cr_assert_not(check(a, "1.2.3.21", "GET"));
    cr_assert(check(a, "2001:db8::5", "GET"));
    cr_assert(check(a, "2001:db8::ffff", "GET"));
    cr_assert(check(a, "2001:db8::1:0", "GET"));
    cr_assert_not(check(a, "2001:db8::4", "GET"));
    cr_assert_not(check(a, "2001:db8::1:1", "GET"));
    cr_assert(check(a, "0.0.0.0", "GET"));
    net_ipallow_free(a);
}

Test(net_ipallow, mapped_ipv6_clients_match_ipv4_rules)
{
    struct net_ipallow *a = parse("ip_allow:\n"
                                  "  - {apply: in, ip_addrs: 1.2.3.0/24, action: allow}\n"
                                  "  - {apply: in, ip_addrs: '::ffff:0:0/96', action: deny}\n"
                                  "  - {apply: in, ip_addrs: 5.6.7.8, action: allow}\n");
    cr_assert_not_null(a);
    cr_assert(check(a, "::ffff:1.2.3.4", "GET"));
    cr_assert(check(a, "1.2.3.4", "GET"));
    cr_assert_not(check(a, "::ffff:5.6.7.8", "GET"), "the earlier IPv6 rule matches first");
    cr_assert(check(a, "5.6.7.8", "GET"));
    cr_assert_not(check(a, "::ffff:9.9.9.9", NULL));
    net_ipallow_free(a);
}

Test(net_ipallow, allow_with_methods_denies_the_rest)
{
    struct net_ipallow *a = parse("ip_allow:\n"
                                  "  - apply: in\n"
                                  "    ip_addrs: 0.0.0.0/0\n"
                                  "    action: allow\n"
                                  "    methods: [GET, head, X-CUSTOM]\n");
    cr_assert_not_null(a);
    cr_assert(check(a, "8.8.8.8", "GET"));
    cr_assert(check(a, "8.8.8.8", "get"), "method names compare case-insensitively as in ATS");
    cr_assert(check(a, "8.8.8.8", "HEAD"));
    cr_assert(check(a, "8.8.8.8", "X-Custom"));
    cr_assert_not(check(a, "8.8.8.8", "POST"));
    cr_assert_not(check(a, "8.8.8.8", "GE"));
    cr_assert(check(a, "8.8.8.8", NULL), "some method is allowed, so the client may connect");
    net_ipallow_free(a);
}

Test(net_ipallow, deny_with_methods_allows_the_rest)
{
    struct net_ipallow *a = parse("ip_allow:\n"
                                  "  apply: in\n"
                                  "  ip_addrs: ::/0\n"
                                  "  action: deny\n"
                                  "  methods:\n"
                                  "    - PURGE\n"
                                  "    - DELETE\n");
    cr_assert_not_null(a);
    cr_assert_eq(net_ipallow_count(a), 1);
    cr_assert(check(a, "2001:db8::1", "GET"));
    cr_assert(check(a, "2001:db8::1", "PUSH"));
    cr_assert_not(check(a, "2001:db8::1", "PURGE"));
    cr_assert_not(check(a, "2001:db8::1", "delete"));
    cr_assert(check(a, "2001:db8::1", NULL));
    net_ipallow_free(a);
}

Test(net_ipallow, deny_without_methods_denies_everything)
{
    struct net_ipallow *a = parse("ip_allow:\n"
                                  "  - {apply: in, ip_addrs: 10.0.0.0/8, action: deny}\n"
                                  "  - {apply: in, ip_addrs: 10.0.0.0/8, action: allow}\n"
                                  "  - {apply: in, ip_addrs: 11.0.0.0/8, action: set_deny,"
                                  " methods: [GET, ALL]}\n"
                                  "  - {apply: in, ip_addrs: 12.0.0.0/8, action: set_allow,"
                                  " methods: []}\n");
    cr_assert_not_null(a);
    cr_assert_not(check(a, "10.1.1.1", NULL));
    cr_assert_not(check(a, "10.1.1.1", "GET"));
    cr_assert_not(check(a, "11.1.1.1", NULL), "ALL overrides the other names");
    cr_assert_not(check(a, "11.1.1.1", "POST"));
    cr_assert_not(check(a, "12.1.1.1", NULL), "an allow rule with no methods allows none");
    cr_assert(has_entry(true, 5, "empty list"));
    net_ipallow_free(a);
}

Test(net_ipallow, no_matching_rule_denies)
{
    struct net_ipallow *a = parse("ip_allow:\n"
                                  "  - {apply: in, ip_addrs: 10.0.0.0/8, action: allow}\n"
                                  "  - {apply: out, ip_addrs: 0/0, action: allow}\n");
    cr_assert_not_null(a);
    cr_assert(has_entry(true, 3, "out rules are not evaluated"));
    cr_assert_not(check(a, "11.0.0.1", "GET"), "apply: out rules do not admit clients");
    cr_assert_not(check(a, "11.0.0.1", NULL));
    cr_assert_not(check(a, "::1", NULL));
    cr_assert_not(net_ipallow_check(a, NULL, NULL));
    cr_assert_not(net_ipallow_check(NULL, NULL, "GET"));
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    cr_assert_not(net_ipallow_check(a, (const struct sockaddr *)&sun, "GET"));
    net_ipallow_free(a);
}

Test(net_ipallow, empty_rule_list_denies_with_a_warning)
{
    struct net_ipallow *a = parse("ip_allow: []\n");
    cr_assert_not_null(a);
    cr_assert_eq(err.errors, 0);
    cr_assert(has_entry(true, 0, "every client is denied"));
    cr_assert_not(check(a, "127.0.0.1", NULL));
    net_ipallow_free(a);
}

Test(net_ipallow, loopback_only_default)
{
    struct net_ipallow *a = net_ipallow_new_loopback_only();
    cr_assert_not_null(a);
    cr_assert(check(a, "127.0.0.1", "DELETE"));
    cr_assert(check(a, "127.255.255.254", NULL));
    cr_assert(check(a, "::1", "PURGE"));
    cr_assert(check(a, "::ffff:127.0.0.1", "GET"));
    cr_assert_not(check(a, "128.0.0.1", NULL));
    cr_assert_not(check(a, "10.0.0.1", "GET"));
    cr_assert_not(check(a, "::2", NULL));
    cr_assert_not(check(a, "::", NULL));
    net_ipallow_free(a);
    net_ipallow_free(NULL);
}

Test(net_ipallow, yaml_syntax_error_names_its_line)
{
    cr_assert_null(parse("ip_allow:\n"
                         "  - apply: in\n"
                         "    ip_addrs: [1.2.3.4\n"
                         "    action: allow\n"));
    cr_assert_eq(err.errors, 1);
    cr_assert_str_eq(err.entry[0].file, "ip_allow.yaml");
    cr_assert(strstr(err.entry[0].reason, "YAML"), "%s", err.entry[0].reason);
    cr_assert_geq(err.entry[0].line, 3, "line %d", err.entry[0].line);

    core_err_init(&err);
    cr_assert_null(parse("ip_allow:\n"
                         "  - apply: in\n"
                         "     action: allow\n"));
    cr_assert(has_entry(false, 3, "YAML"), "%s at %d", err.entry[0].reason, err.entry[0].line);
}

Test(net_ipallow, every_bad_value_is_reported_with_its_line)
{
    const char *text = "ip_allow:\n"                // 1
                       "  - apply: in\n"            // 2
                       "    ip_addrs:\n"            // 3
                       "      - 10.0.0.0/33\n"      // 4
                       "      - 10.0.0.1-9.0.0.1\n" // 5
                       "      - 1.2.3.4-::1\n"      // 6
                       "      - 10/8\n"             // 7
                       "      - not-an-ip\n"        // 8
                       "    action: permit\n"       // 9
                       "  - apply: sideways\n"      // 10
                       "    ip_addrs: ::1/129\n"    // 11
                       "    action: allow\n"        // 12
                       "    method: GET\n"          // 13
                       "  - ip_addrs: 1.1.1.1\n"    // 14
                       "    methods: GET|HEAD\n"    // 15
                       "    ip_addrs: 2.2.2.2\n"    // 16
                       "ip_categories: []\n";       // 17
    cr_assert_null(parse(text));
    cr_assert(has_entry(false, 4, "'10.0.0.0/33' is not an address"));
    cr_assert(has_entry(false, 5, "'10.0.0.1-9.0.0.1'"));
    cr_assert(has_entry(false, 6, "'1.2.3.4-::1'"));
    cr_assert(has_entry(false, 7, "'10/8'"));
    cr_assert(has_entry(false, 8, "'not-an-ip'"));
    cr_assert(has_entry(false, 9, "action: 'permit' is not allow or deny"));
    cr_assert(has_entry(false, 10, "apply: must be 'in' or 'out'"));
    cr_assert(has_entry(false, 11, "'::1/129'"));
    cr_assert(has_entry(false, 13, "unknown key 'method'"));
    cr_assert(has_entry(false, 14, "no 'apply' key"));
    cr_assert(has_entry(false, 14, "no 'action' key"));
    cr_assert(has_entry(false, 15, "write a YAML list"));
    cr_assert(has_entry(false, 16, "duplicate key 'ip_addrs'"));
    cr_assert(has_entry(false, 17, "unknown key 'ip_categories'"));
    cr_assert_eq(err.errors, 14);
}

Test(net_ipallow, structural_errors)
{
    cr_assert_null(parse(""));
    cr_assert(has_entry(false, 0, "top level"));
    core_err_init(&err);
    cr_assert_null(parse("other: 1\n"));
    cr_assert(has_entry(false, 1, "unknown key 'other'"));
    cr_assert(has_entry(false, 1, "no 'ip_allow' key"));
    core_err_init(&err);
    cr_assert_null(parse("ip_allow: yes\n"));
    cr_assert(has_entry(false, 1, "a rule or a list of rules"));
    core_err_init(&err);
    cr_assert_null(parse("ip_allow:\n  - just a string\n"
                         "  - {apply: in, ip_addrs: {a: b}, action: allow, methods: {c: d}}\n"));
    cr_assert(has_entry(false, 2, "must be a mapping"));
    cr_assert(has_entry(false, 3, "ip_addrs: expected"));
    cr_assert(has_entry(false, 3, "methods: expected"));
}

// The rules and layout of the ip_allow.yaml that ATS 9.2 ships (its comments are not copied).
static const char ats92_sample[] =
    "# YAML\n"
    "#\n"
    "# Sample in the ATS 9.2 layout: loopback may do anything, everyone else\n"
    "# may not use the destructive or debugging methods.\n"
    "ip_allow:\n"
    "  - apply: in\n"
    "    ip_addrs: 127.0.0.1\n"
    "    action: allow\n"
    "    methods: ALL\n"
    "  - apply: in\n"
    "    ip_addrs: ::1\n"
    "    action: allow\n"
    "    methods: ALL\n"
    "  - apply: in\n"
    "    ip_addrs: 0/0\n"
    "    action: deny\n"
    "    methods:\n"
    "      - PURGE\n"
    "      - PUSH\n"
    "      - DELETE\n"
    "      - TRACE\n"
    "  - apply: in\n"
    "    ip_addrs: ::/0\n"
    "    action: deny\n"
    "    methods:\n"
    "      - PURGE\n"
    "      - PUSH\n"
    "      - DELETE\n"
    "      - TRACE\n";

Test(net_ipallow, ats_92_default_file_parses)
{
    struct net_ipallow *a = parse(ats92_sample);
    cr_assert_not_null(a);
    cr_assert_eq(err.errors + err.warnings, 0);
    cr_assert_eq(net_ipallow_count(a), 4);
    cr_assert(check(a, "127.0.0.1", "PURGE"));
    cr_assert(check(a, "::1", "DELETE"));
    cr_assert(check(a, "203.0.113.9", "GET"));
    cr_assert(check(a, "203.0.113.9", NULL));
    cr_assert_not(check(a, "203.0.113.9", "PURGE"));
    cr_assert_not(check(a, "127.0.0.2", "TRACE"), "only 127.0.0.1 is listed, as in ATS");
    cr_assert(check(a, "2001:db8::1", "POST"));
    cr_assert_not(check(a, "2001:db8::1", "DELETE"));
    cr_assert_not(check(a, "::ffff:203.0.113.9", "PUSH"));
    net_ipallow_free(a);
}

Test(net_ipallow, load_reads_file_and_reports_missing_file)
{
    char dir[] = "/tmp/tlsedge-ipallow-XXXXXX";
    char path[PATH_MAX];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/ip_allow.yaml", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(ats92_sample, f);
    fclose(f);
    struct net_ipallow *a = net_ipallow_load(path, &err);
    cr_assert_not_null(a);
    cr_assert_eq(net_ipallow_count(a), 4);
    net_ipallow_free(a);

    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("ip_allow:\n  - apply: in\n    ip_addrs: 300.1.1.1\n    action: allow\n", f);
    fclose(f);
    cr_assert_null(net_ipallow_load(path, &err));
    cr_assert_eq(err.entry[0].line, 3);
    cr_assert_str_eq(err.entry[0].file, path);

    unlink(path);
    core_err_init(&err);
    cr_assert_null(net_ipallow_load(path, &err));
    cr_assert_eq(err.entry[0].line, 0);
    cr_assert(strstr(err.entry[0].reason, "cannot read"));
    rmdir(dir);
}
