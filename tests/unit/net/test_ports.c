// SPDX-License-Identifier: Apache-2.0
// Unit tests for net/ports.c: the proxy.config.http.server_ports grammar and formatting.
#include "core/err.h"
#include "net/ports.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#define MAXP 8

static struct net_port ports[MAXP];
static size_t n;
static struct core_err err;

static void setup(void)
{
    core_err_init(&err);
    memset(ports, 0xa5, sizeof(ports));
    n = 99;
}

static int parse(const char *spec)
{
    core_err_init(&err);
    return net_ports_parse(spec, ports, MAXP, &n, "records.config", 7, &err);
}

// text formats ports[i] (static buffer).
static const char *text(size_t i)
{
    static char buf[NET_PORT_FORMAT_MAX];
    cr_assert_gt(net_port_format(&ports[i], buf, sizeof(buf)), 0);
    return buf;
}

static const char *entry(int i)
{
    static char buf[512];
    return core_err_format(&err, i, buf, sizeof(buf));
}

TestSuite(net_ports, .init = setup);

Test(net_ports, two_descriptors_default_ipv4_any)
{
    cr_assert_eq(parse("8443:ssl 8081"), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(ports[0].port, 8443);
    cr_assert(ports[0].ssl);
    cr_assert_not(ports[0].tr_pass);
    cr_assert_eq(ports[1].port, 8081);
    cr_assert_not(ports[1].ssl);
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&ports[0].addr;
    cr_assert_eq(sin->sin_family, AF_INET);
    cr_assert_eq(sin->sin_addr.s_addr, htonl(INADDR_ANY));
    cr_assert_eq(ntohs(sin->sin_port), 8443);
    cr_assert_eq(ports[0].addrlen, sizeof(struct sockaddr_in));
    cr_assert_str_eq(text(0), "0.0.0.0:8443 ssl");
    cr_assert_str_eq(text(1), "0.0.0.0:8081");
    cr_assert_eq(err.errors + err.warnings, 0);
}

Test(net_ports, ipv6_any)
{
    cr_assert_eq(parse("443:ssl:ipv6"), 0);
    cr_assert_eq(n, 1);
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ports[0].addr;
    cr_assert_eq(sin6->sin6_family, AF_INET6);
    cr_assert(IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr));
    cr_assert_eq(ntohs(sin6->sin6_port), 443);
    cr_assert_eq(ports[0].addrlen, sizeof(struct sockaddr_in6));
    cr_assert_str_eq(text(0), "[::]:443 ssl");
}

Test(net_ports, ip_in_bracketed_ipv6_sets_family)
{
    cr_assert_eq(parse("8443:ssl:ip-in=[::1]"), 0);
    cr_assert_eq(n, 1);
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ports[0].addr;
    cr_assert_eq(sin6->sin6_family, AF_INET6);
    cr_assert(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
    cr_assert_str_eq(text(0), "[::1]:8443 ssl");
    cr_assert_eq(parse("443:ip-in=[2001:db8::5]:ipv6:ssl"), 0);
    cr_assert_str_eq(text(0), "[2001:db8::5]:443 ssl");
}

Test(net_ports, ip_in_ipv4_and_tr_pass)
{
    cr_assert_eq(parse("80:ip-in=127.0.0.1:tr-pass"), 0);
    cr_assert_eq(n, 1);
    cr_assert(ports[0].tr_pass);
    cr_assert_not(ports[0].ssl);
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&ports[0].addr;
    cr_assert_eq(sin->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    cr_assert_eq(ntohs(sin->sin_port), 80);
    cr_assert_str_eq(text(0), "127.0.0.1:80 tr-pass");
}

Test(net_ports, options_in_any_order_and_any_case)
{
    cr_assert_eq(parse("ssl:8443 IPV6:SSL:ip-in=[::1]:9443 Tr-Pass:ip-in-10.0.0.1:81"), 0);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(text(0), "0.0.0.0:8443 ssl");
    cr_assert_str_eq(text(1), "[::1]:9443 ssl");
    cr_assert_str_eq(text(2), "10.0.0.1:81 tr-pass");
}

Test(net_ports, commas_and_extra_separators)
{
    cr_assert_eq(parse("  8443:ssl,8081 ,, 8082\t443::ssl:  "), 0);
    cr_assert_eq(n, 4);
    cr_assert_eq(ports[0].port, 8443);
    cr_assert_eq(ports[1].port, 8081);
    cr_assert_eq(ports[2].port, 8082);
    cr_assert_eq(ports[3].port, 443);
    cr_assert(ports[3].ssl);
}

Test(net_ports, empty_spec_gives_no_ports)
{
    cr_assert_eq(parse(""), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(parse(" , "), 0);
    cr_assert_eq(n, 0);
}

Test(net_ports, ignored_ats_options_warn)
{
    cr_assert_eq(parse("8080:proto=http:blind:tr-full:tr-in:tr-out:pp:ip-out=1.2.3.4:"
                       "ip-resolve=ipv4;ipv6:allow-plain:mptcp"),
                 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(ports[0].port, 8080);
    cr_assert_eq(err.errors, 0);
    cr_assert_eq(err.warnings, 10);
    cr_assert(err.entry[0].warning);
    cr_assert_eq(err.entry[0].line, 7);
    cr_assert(strstr(entry(0), "option 'proto=http' has no effect"), "%s", entry(0));
    cr_assert(strstr(entry(6), "'ip-out=1.2.3.4'"), "%s", entry(6));
}

Test(net_ports, bad_ports_are_errors)
{
    static const char *const bad[] = {"0",         "65536", "99999999999", "80x", "ssl",
                                      "8080:8081", "-1",    "+80",         "0x50"};
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        cr_assert_eq(parse(bad[k]), -EINVAL, "'%s' accepted", bad[k]);
        cr_assert_eq(n, 0);
        cr_assert_geq(err.errors, 1, "'%s'", bad[k]);
        cr_assert_str_eq(err.entry[0].file, "records.config");
        cr_assert_eq(err.entry[0].line, 7);
    }
    cr_assert_eq(parse("65535 1"), 0);
    cr_assert_eq(n, 2);
}

Test(net_ports, bad_options_and_addresses_are_errors)
{
    static const char *const bad[] = {
        "443:tls",
        "443:fd=3",
        "443:quic",
        "443:ip-in=::1",
        "443:ip-in=[::1",
        "443:ip-in=1.2.3",
        "443:ip-in=",
        "443:ipv4:ip-in=[::1]",
        "443:ipv6:ipv4",
        "443:ip-inx=1.2.3.4",
        "443:ip-in=localhost",
        "443:ipv6:ip-in=10.0.0.1",
        "443:ip-in=1.2.3.4:ip-in=1.2.3.5",
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        cr_assert_eq(parse(bad[k]), -EINVAL, "'%s' accepted", bad[k]);
        cr_assert_geq(err.errors, 1);
    }
    cr_assert_eq(parse("443:ip-in=[::1"), -EINVAL);
    cr_assert_eq(err.errors, 1);
    cr_assert(strstr(entry(0), "'[' without ']'"), "%s", entry(0));
    parse("443:tls");
    cr_assert_str_eq(entry(0), "records.config:7: server_ports descriptor '443:tls': unknown "
                               "option 'tls'");
}

Test(net_ports, every_bad_descriptor_is_reported)
{
    cr_assert_eq(parse("0 8080 443:bogus 70000:ssl"), -EINVAL);
    cr_assert_eq(n, 0);
    cr_assert_eq(err.errors, 3);
}

Test(net_ports, duplicate_address_and_port_is_an_error)
{
    cr_assert_eq(parse("8080 8080:ssl"), -EINVAL);
    cr_assert_eq(parse("8080 8080:ipv6 8080:ip-in=127.0.0.1"), 0);
    cr_assert_eq(n, 3);
}

Test(net_ports, more_than_max_is_enospc)
{
    struct net_port two[2];
    core_err_init(&err);
    cr_assert_eq(net_ports_parse("1 2 3", two, 2, &n, NULL, 0, &err), -ENOSPC);
    cr_assert_eq(n, 0);
    cr_assert_eq(err.errors, 1);
    cr_assert_eq(net_ports_parse("1 2", two, 2, &n, NULL, 0, NULL), 0);
    cr_assert_eq(n, 2);
    // A bad descriptor wins over too many.
    cr_assert_eq(net_ports_parse("1 2 x", two, 2, &n, NULL, 0, NULL), -EINVAL);
}

Test(net_ports, format_reports_truncation)
{
    char buf[8];
    cr_assert_eq(parse("8443:ssl:ip-in=127.0.0.1"), 0);
    cr_assert_eq(net_port_format(&ports[0], buf, sizeof(buf)), -ENOSPC);
    cr_assert_eq(strlen(buf), sizeof(buf) - 1);
    char big[NET_PORT_FORMAT_MAX];
    cr_assert_eq(net_port_format(&ports[0], big, sizeof(big)), (int)strlen("127.0.0.1:8443 ssl"));
    struct net_port odd = {.port = 1};
    cr_assert_eq(net_port_format(&odd, big, sizeof(big)), -EINVAL);
}

Test(net_ports, longest_format_fits)
{
    char big[NET_PORT_FORMAT_MAX];
    cr_assert_eq(parse("65535:ssl:tr-pass:ip-in=[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]"),
                 0);
    cr_assert_gt(net_port_format(&ports[0], big, sizeof(big)), 0);
}
