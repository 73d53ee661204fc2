// SPDX-License-Identifier: Apache-2.0
// tests/fuzz/fuzz_remap.c: the remap.config parser (net/remap.h, net_remap_parse), the lookup
// on what it built, and the absolute-form target splitter (net_remap_parse_absolute) on the
// same bytes. Seeds: the README's rules, ATS-style files with comments, options, IPv6 hosts.
//
// Properties checked beyond "no crash": a rule set exists exactly when no error was recorded;
// lookups of the hosts the rules name never write past the path buffer and always terminate it;
// a split target's host is NUL-terminated within its buffer and its path lies inside the input.
#include "core/err.h"
#include "net/remap.h"
#include "tests/fuzz/fuzz.h"

#include <string.h>

// lookups runs lookups against r for a few hosts, paths and both schemes, with a small path
// buffer so the "does not fit" branch is reached too.
static void lookups(const struct net_remap *r)
{
    static const char *const hosts[] = {"www.example.com", "a.test", "127.0.0.1", "::1", ""};
    static const char *const paths[] = {"/", "/api/v1/x?q=1", "", "?q", "/a/b/c/d/e/f/g/h"};
    char out[24];
    for (size_t h = 0; h < sizeof(hosts) / sizeof(hosts[0]); h++) {
        for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]); p++) {
            for (int tls = 0; tls < 2; tls++) {
                memset(out, 'x', sizeof(out));
                const struct net_remap_target *t =
                    net_remap_lookup(r, tls, hosts[h], 8080, paths[p], out, sizeof(out));
                FUZZ_CHECK(memchr(out, '\0', sizeof(out)) != NULL);
                if (t != NULL)
                    FUZZ_CHECK(net_remap_lookup(r, tls, hosts[h], 8080, paths[p], NULL, 0) == t);
            }
        }
    }
}

// split checks net_remap_parse_absolute on data[0..size).
static void split(const char *data, size_t size)
{
    char host[64];
    bool tls = false;
    uint16_t port = 0;
    const char *path = NULL;
    memset(host, 'x', sizeof(host));
    if (net_remap_parse_absolute(data, size, &tls, host, sizeof(host), &port, &path) != 0)
        return;
    FUZZ_CHECK(memchr(host, '\0', sizeof(host)) != NULL && host[0] != '\0');
    FUZZ_CHECK(port != 0);
    FUZZ_CHECK(path >= data && path <= data + size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct core_err err;
    char line[CORE_ERR_FILE_MAX + CORE_ERR_REASON_MAX + 32];
    core_err_init(&err);
    struct net_remap *r = net_remap_parse((const char *)data, size, "remap.config", &err);
    FUZZ_CHECK((r == NULL) == core_err_failed(&err));
    for (int i = 0; i < err.kept; i++)
        FUZZ_CHECK(core_err_format(&err, i, line, sizeof(line))[0] != '\0');
    if (r != NULL) {
        lookups(r);
        net_remap_free(r);
    }
    split((const char *)data, size);
    return 0;
}
