// SPDX-License-Identifier: Apache-2.0
// bridge/config.c: the tls_bridge destination table from plugin.config arguments and --file
// files (see bridge/config.h).
#include "bridge/config.h"
#include "core/err.h"
#include "core/file.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The largest --file read (a table of a few thousand pairs is far below it).
#define BRIDGE_FILE_MAX (4 * 1024 * 1024)
// Words on one --file line that are kept for the check (a pair is two).
#define LINE_WORDS 3

struct bridge_config *bridge_config_new(const char *confdir)
{
    struct bridge_config *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    if (confdir && !(c->confdir = strdup(confdir))) {
        free(c);
        return NULL;
    }
    return c;
}

void bridge_config_free(struct bridge_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        regfree(&c->dest[i].re);
        free(c->dest[i].pattern);
        free(c->dest[i].peer);
    }
    free(c->dest);
    free(c->confdir);
    free(c);
}

int bridge_peer_parse(const char *peer, uint16_t default_port, char *host, size_t len,
                      uint16_t *port)
{
    const char *end = peer + strlen(peer), *colon = NULL;
    const char *h = peer, *hend;
    if (peer[0] == '[') {
        const char *close = strchr(peer, ']');
        if (!close || (close[1] && close[1] != ':'))
            return -EINVAL;
        h = peer + 1;
        hend = close;
        colon = close[1] ? close + 1 : NULL;
    } else {
        colon = strrchr(peer, ':');
        if (colon && strchr(peer, ':') != colon)
            return -EINVAL; // an IPv6 literal needs brackets to carry a port
        hend = colon ? colon : end;
    }
    size_t hl = (size_t)(hend - h);
    if (hl == 0 || hl >= len)
        return -EINVAL;
    for (const char *p = h; p < hend; p++)
        if (!isgraph((unsigned char)*p) || *p == '/' || *p == '@')
            return -EINVAL;
    unsigned long v = default_port;
    if (colon) {
        char *stop = NULL;
        if (!isdigit((unsigned char)colon[1]))
            return -EINVAL;
        errno = 0;
        v = strtoul(colon + 1, &stop, 10);
        if (errno || *stop || v < 1 || v > 65535)
            return -EINVAL;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (uint16_t)v;
    return 0;
}

// Adds the pair (pattern, peer) read at where. Returns 1 when added, 0 when skipped (reported
// in err), -ENOMEM.
static int add_pair(struct bridge_config *c, const char *pattern, const char *peer,
                    const char *file, int line, struct core_err *err)
{
    struct bridge_dest d = {0};
    if (bridge_peer_parse(peer, 443, d.host, sizeof(d.host), &d.port) < 0) {
        core_err_warn(err, file, line,
                      "tls_bridge: bad peer '%s' for '%s' (expected host or "
                      "host:port): pair skipped",
                      peer, pattern);
        return 0;
    }
    int rc = regcomp(&d.re, pattern, REG_EXTENDED | REG_ICASE);
    if (rc != 0) {
        char why[128];
        regerror(rc, &d.re, why, sizeof(why));
        core_err_warn(err, file, line,
                      "tls_bridge: failed to compile regular expression '%s' (%s): pair skipped",
                      pattern, why);
        return 0;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        struct bridge_dest *nd = realloc(c->dest, cap * sizeof(*nd));
        if (!nd) {
            regfree(&d.re);
            return -ENOMEM;
        }
        c->dest = nd;
        c->cap = cap;
    }
    d.pattern = strdup(pattern);
    d.peer = strdup(peer);
    if (!d.pattern || !d.peer) {
        free(d.pattern);
        free(d.peer);
        regfree(&d.re);
        return -ENOMEM;
    }
    snprintf(d.where, sizeof(d.where), "%s:%d", file ? file : "?", line);
    c->dest[c->n++] = d;
    return 1;
}

// Splits one --file line (modified) into at most LINE_WORDS words; # starts a comment.
static int split_line(char *s, char **w)
{
    int n = 0;
    char *hash = strchr(s, '#');
    if (hash)
        *hash = '\0';
    char *save = NULL;
    for (char *tok = strtok_r(s, " \t\r\v\f", &save); tok;
         tok = strtok_r(NULL, " \t\r\v\f", &save)) {
        if (n == LINE_WORDS)
            return n + 1;
        w[n++] = tok;
    }
    return n;
}

int bridge_config_add_text(struct bridge_config *c, const char *text, size_t len, const char *name,
                           struct core_err *err)
{
    int added = 0, lineno = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - (text + pos)) : len - pos;
        char *line = strndup(text + pos, ll);
        pos += ll + (nl ? 1 : 0);
        lineno++;
        if (!line)
            return -ENOMEM;
        char *w[LINE_WORDS];
        int n = strlen(line) == ll ? split_line(line, w) : -1; // -1: a NUL byte in the line
        int rc = 0;
        if (n < 0)
            core_err_warn(err, name, lineno, "tls_bridge: a NUL byte in the line: skipped");
        else if (n == 1)
            core_err_warn(err, name, lineno,
                          "tls_bridge: destination regular expression '%s' without peer: skipped",
                          w[0]);
        else if (n > 2)
            core_err_warn(err, name, lineno,
                          "tls_bridge: one 'regex peer' pair a line; extra words: skipped");
        else if (n == 2)
            rc = add_pair(c, w[0], w[1], name, lineno, err);
        free(line);
        if (rc < 0)
            return rc;
        added += rc;
    }
    return added;
}

// Reads --file path (relative to the configuration directory) into the table.
static int add_file(struct bridge_config *c, const char *path, const char *file, int line,
                    struct core_err *err)
{
    char full[PATH_MAX];
    if (path[0] == '/' || !c->confdir)
        snprintf(full, sizeof(full), "%s", path);
    else
        snprintf(full, sizeof(full), "%s/%s", c->confdir, path);
    size_t len = 0;
    char *text = core_file_read(full, BRIDGE_FILE_MAX, &len);
    if (!text) {
        core_err_warn(err, file, line, "tls_bridge: --file %s: %s: its pairs are skipped", full,
                      strerror(errno));
        return 0;
    }
    int rc = bridge_config_add_text(c, text, len, path, err);
    free(text);
    return rc;
}

int bridge_config_add_args(struct bridge_config *c, int argc, const char *const *argv,
                           const char *file, int line, struct core_err *err)
{
    int added = 0;
    c->lines++;
    for (int i = 0; i < argc;) {
        int rc = 0;
        if (strcmp(argv[i], "--file") == 0) {
            if (i + 1 < argc)
                rc = add_file(c, argv[i + 1], file, line, err);
            else
                core_err_warn(err, file, line, "tls_bridge: --file needs a path");
            i += 2;
        } else if (i + 1 >= argc || strcmp(argv[i + 1], "--file") == 0) {
            core_err_warn(err, file, line,
                          "tls_bridge: destination regular expression '%s' without peer: "
                          "skipped",
                          argv[i]);
            i += 1;
        } else {
            rc = add_pair(c, argv[i], argv[i + 1], file, line, err);
            i += 2;
        }
        if (rc < 0)
            return rc;
        added += rc;
    }
    if (added == 0)
        core_err_warn(err, file, line, "tls_bridge: No destinations defined, plugin disabled");
    return added;
}

// Whether d's regex matches all of s (anchored at both ends: POSIX gives the leftmost-longest
// match, so a whole-string match exists exactly when the match found spans s).
static bool full_match(const struct bridge_dest *d, const char *s)
{
    regmatch_t m[1];
    return regexec(&d->re, s, 1, m, 0) == 0 && m[0].rm_so == 0 && (size_t)m[0].rm_eo == strlen(s);
}

const struct bridge_dest *bridge_config_match(const struct bridge_config *c, const char *host,
                                              uint16_t port)
{
    if (!c || !host)
        return NULL;
    char hp[300];
    snprintf(hp, sizeof(hp), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, (unsigned)port);
    for (size_t i = 0; i < c->n; i++)
        if (full_match(&c->dest[i], hp) || full_match(&c->dest[i], host))
            return &c->dest[i];
    return NULL;
}
