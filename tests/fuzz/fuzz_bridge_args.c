// SPDX-License-Identifier: Apache-2.0
// tests/fuzz/fuzz_bridge_args.c: the tls_bridge destination table (bridge/config.h) from
// plugin.config arguments (bridge_config_add_args) and from --file text
// (bridge_config_add_text). The first input byte picks the form: even, the rest is --file text;
// odd, the rest is split into arguments at blanks and NULs (a path after --file is replaced by
// one that does not exist, so no target reads a file).
//
// Properties checked beyond "no crash": every problem is a warning, never an error (ATS skips a
// bad pair and goes on); the count returned is the number of pairs added; each pair has a host
// that bridge_peer_parse accepts again with the same port, a non-zero port and its file:line;
// no pair is added at all exactly when a line warns "No destinations defined"; and look-ups
// (built from each pair's own pattern text and from fixed names) return a pair of the table.
#include "bridge/config.h"
#include "core/err.h"
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>

#define WORDS 64

// words splits in[0..len) into at most WORDS NUL-terminated words of buf (len + 1 bytes).
static int words(const uint8_t *in, size_t len, char *buf, const char **argv)
{
    int n = 0;
    memcpy(buf, in, len);
    buf[len] = '\0';
    for (size_t i = 0; i < len && n < WORDS;) {
        while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\0'))
            buf[i++] = '\0';
        if (i == len)
            break;
        argv[n++] = buf + i;
        while (i < len && buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\n' && buf[i] != '\0')
            i++;
    }
    for (int i = 0; i + 1 < n; i++)
        if (strcmp(argv[i], "--file") == 0)
            argv[i + 1] = "/nonexistent/tlsedge-fuzz.conf";
    return n;
}

static bool warned_no_destinations(const struct core_err *err)
{
    for (int i = 0; i < err->kept; i++)
        if (strstr(err->entry[i].reason, "No destinations defined, plugin disabled"))
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct core_err err;
    if (size == 0)
        return 0;
    core_err_init(&err);
    struct bridge_config *c = bridge_config_new("/nonexistent");
    FUZZ_CHECK(c != NULL);
    int added;
    bool args = data[0] & 1;
    if (args) {
        const char *argv[WORDS];
        char *buf = malloc(size);
        FUZZ_CHECK(buf != NULL);
        int n = words(data + 1, size - 1, buf, argv);
        added = bridge_config_add_args(c, n, argv, "plugin.config", 1, &err);
        free(buf);
        FUZZ_CHECK((added == 0) == warned_no_destinations(&err) || err.kept == CORE_ERR_KEEP);
    } else {
        added = bridge_config_add_text(c, (const char *)data + 1, size - 1, "bridge.conf", &err);
    }
    FUZZ_CHECK(added >= 0 && (size_t)added == c->n);
    FUZZ_CHECK(err.errors == 0);
    for (size_t i = 0; i < c->n; i++) {
        const struct bridge_dest *d = &c->dest[i];
        char host[256];
        uint16_t port = 0;
        FUZZ_CHECK(d->port != 0 && d->host[0] != '\0' && d->where[0] != '\0');
        FUZZ_CHECK(bridge_peer_parse(d->peer, 443, host, sizeof(host), &port) == 0);
        FUZZ_CHECK(port == d->port && strcmp(host, d->host) == 0);
        const struct bridge_dest *m = bridge_config_match(c, d->pattern, d->port);
        FUZZ_CHECK(m == NULL || (m >= c->dest && m < c->dest + c->n));
    }
    const char *names[] = {"a.service.com", "127.0.0.1", "::1", ""};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const struct bridge_dest *m = bridge_config_match(c, names[i], 443);
        FUZZ_CHECK(m == NULL || (m >= c->dest && m < c->dest + c->n));
    }
    bridge_config_free(c);
    return 0;
}
