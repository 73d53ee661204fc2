// SPDX-License-Identifier: Apache-2.0
// tests/fuzz/fuzz_ipallow.c: the ip_allow.yaml parser (net/ipallow.h, net_ipallow_parse, on
// libyaml) and the check on what it built. Seeds: ATS's default file, the README's example,
// flow and block styles, ranges of every form.
//
// Properties checked beyond "no crash": a rule set exists exactly when no error was recorded;
// checks of IPv4, IPv6 and IPv4-mapped clients, with and without a method, run on every rule set,
// and a client of another family is always refused.
#include "core/err.h"
#include "net/ipallow.h"
#include "tests/fuzz/fuzz.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

// checks runs the client checks against a: IPv4, IPv6 and IPv4-mapped clients, each with no
// method (the accept-time question) and with a few methods; a client of another family is
// refused whatever the rules say.
static void checks(const struct net_ipallow *a)
{
    static const char *const v4[] = {"127.0.0.1", "10.1.2.3", "192.0.2.200", "0.0.0.0",
                                     "255.255.255.255"};
    static const char *const methods[] = {NULL, "GET", "purge", "CONNECT"};
    for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
        struct sockaddr_in sin = {.sin_family = AF_INET};
        struct sockaddr_in6 mapped = {.sin6_family = AF_INET6};
        char text[64];
        FUZZ_CHECK(inet_pton(AF_INET, v4[i], &sin.sin_addr) == 1);
        snprintf(text, sizeof(text), "::ffff:%s", v4[i]);
        FUZZ_CHECK(inet_pton(AF_INET6, text, &mapped.sin6_addr) == 1);
        for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
            (void)net_ipallow_check(a, (const struct sockaddr *)&sin, methods[m]);
            (void)net_ipallow_check(a, (const struct sockaddr *)&mapped, methods[m]);
        }
    }
    struct sockaddr_in6 six = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    (void)net_ipallow_check(a, (const struct sockaddr *)&six, "GET");
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    FUZZ_CHECK(!net_ipallow_check(a, (const struct sockaddr *)&un, NULL));
    FUZZ_CHECK(!net_ipallow_check(a, NULL, "GET"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct core_err err;
    char line[CORE_ERR_FILE_MAX + CORE_ERR_REASON_MAX + 32];
    core_err_init(&err);
    struct net_ipallow *a = net_ipallow_parse((const char *)data, size, "ip_allow.yaml", &err);
    FUZZ_CHECK((a == NULL) == core_err_failed(&err));
    for (int i = 0; i < err.kept; i++)
        FUZZ_CHECK(core_err_format(&err, i, line, sizeof(line))[0] != '\0');
    if (a == NULL)
        return 0;
    checks(a);
    net_ipallow_free(a);
    return 0;
}
