// SPDX-License-Identifier: Apache-2.0
// net/ports.c: parsing and printing proxy.config.http.server_ports descriptors (see
// net/ports.h). The splitting follows ATS's HttpProxyPort::processOptions(): descriptors are
// separated by spaces or commas, options by colons except inside brackets, and any option that
// starts with a digit is the port. Where ATS only warns and drops a descriptor (bad port,
// unknown option, family mismatch), tlsedge refuses the configuration instead, so a typo never
// silently removes a listener.
#include "net/ports.h"
#include "core/err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

// Longest part of a descriptor or option quoted back in a message.
#define QUOTE_MAX 100
// Longest address text inside ip-in= ("[" + IPv6 text + "]").
#define ADDR_TEXT_MAX 64

// struct span: a borrowed piece of the spec, not NUL-terminated.
struct span {
    const char *p;
    size_t len;
};

// struct desc: what one descriptor said, before it becomes a struct net_port.
struct desc {
    struct span text; // the whole descriptor, for messages
    long port;        // 0: none yet
    bool port_given;  // a port option was seen, valid or not
    int family;       // AF_UNSPEC unless ipv4/ipv6 was given
    bool ssl;
    bool tr_pass;
    bool have_in;               // ip-in= given
    struct sockaddr_storage in; // its address (port still 0)
};

// struct where: where the spec came from, and the error collector; for messages.
struct where {
    const char *file;
    int line;
    struct core_err *err;
    int errors; // errors recorded by this parse (err may be NULL)
};

// ATS options that tlsedge accepts and ignores: flags, then prefixes taking "=value".
static const char *const ignored_flag[] = {
    "blind", "tr-in", "tr-out", "tr-full", "pp", "allow-plain", "mptcp",
};
static const char *const ignored_prefix[] = {"proto", "ip-out", "ip-resolve"};

static int qlen(struct span s)
{
    return s.len > QUOTE_MAX ? QUOTE_MAX : (int)s.len;
}

static bool span_ieq(struct span s, const char *word)
{
    return strlen(word) == s.len && strncasecmp(s.p, word, s.len) == 0;
}

// prefix_value returns the value after "prefix=" (ATS also allows "prefix-"), or p == NULL.
static struct span prefix_value(struct span s, const char *prefix)
{
    size_t plen = strlen(prefix);
    if (s.len > plen && strncasecmp(s.p, prefix, plen) == 0 &&
        (s.p[plen] == '=' || s.p[plen] == '-'))
        return (struct span){s.p + plen + 1, s.len - plen - 1};
    return (struct span){NULL, 0};
}

static void fail(struct where *w, const struct desc *d, const char *what, struct span opt)
{
    w->errors++;
    core_err_add(w->err, w->file, w->line, "server_ports descriptor '%.*s': %s '%.*s'",
                 qlen(d->text), d->text.p, what, qlen(opt), opt.p);
}

static int parse_port(struct span s, long *port)
{
    long v = 0;
    for (size_t k = 0; k < s.len; k++) {
        if (s.p[k] < '0' || s.p[k] > '9')
            return -EINVAL;
        v = v * 10 + (s.p[k] - '0');
        if (v > 65535)
            return -ERANGE;
    }
    if (v == 0)
        return -ERANGE;
    *port = v;
    return 0;
}

// parse_addr reads an IPv4 address or a bracketed (or bare) IPv6 address into *ss.
static int parse_addr(struct span s, struct sockaddr_storage *ss)
{
    char text[ADDR_TEXT_MAX];
    if (s.len >= 2 && s.p[0] == '[' && s.p[s.len - 1] == ']') {
        s.p++;
        s.len -= 2;
    }
    if (s.len == 0 || s.len >= sizeof(text))
        return -EINVAL;
    memcpy(text, s.p, s.len);
    text[s.len] = '\0';
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        return 0;
    }
    return -EINVAL;
}

static bool is_ignored(struct span opt)
{
    for (size_t k = 0; k < sizeof(ignored_flag) / sizeof(ignored_flag[0]); k++)
        if (span_ieq(opt, ignored_flag[k]))
            return true;
    for (size_t k = 0; k < sizeof(ignored_prefix) / sizeof(ignored_prefix[0]); k++)
        if (prefix_value(opt, ignored_prefix[k]).p)
            return true;
    return false;
}

static void set_family(struct desc *d, int family, struct span opt, struct where *w)
{
    if (d->family != AF_UNSPEC && d->family != family)
        fail(w, d, "conflicting address family", opt);
    d->family = family;
}

// parse_option applies one option of a descriptor to d; problems are recorded through w.
static void parse_option(struct desc *d, struct span opt, struct where *w)
{
    struct span value;
    if (opt.len == 0)
        return; // ATS skips empty options ("443::ssl")
    if (opt.p[0] >= '0' && opt.p[0] <= '9') {
        long port = 0;
        d->port_given = true;
        if (d->port)
            fail(w, d, "more than one port", opt);
        else if (parse_port(opt, &port) < 0)
            fail(w, d, "port must be a number in 1..65535, not", opt);
        else
            d->port = port;
    } else if (span_ieq(opt, "ssl")) {
        d->ssl = true;
    } else if (span_ieq(opt, "tr-pass")) {
        d->tr_pass = true;
    } else if (span_ieq(opt, "ipv4")) {
        set_family(d, AF_INET, opt, w);
    } else if (span_ieq(opt, "ipv6")) {
        set_family(d, AF_INET6, opt, w);
    } else if ((value = prefix_value(opt, "ip-in")).p) {
        if (d->have_in)
            fail(w, d, "more than one ip-in", opt);
        else if (parse_addr(value, &d->in) < 0)
            fail(w, d, "not an IPv4 or [IPv6] address:", opt);
        else
            d->have_in = true;
    } else if (is_ignored(opt)) {
        core_err_warn(w->err, w->file, w->line,
                      "server_ports descriptor '%.*s': option '%.*s' has no effect in tlsedge, "
                      "ignored",
                      qlen(d->text), d->text.p, qlen(opt), opt.p);
    } else {
        fail(w, d, "unknown option", opt);
    }
}

// desc_finish turns a parsed descriptor into *p; false when it cannot be one.
static bool desc_finish(const struct desc *d, struct net_port *p, struct where *w)
{
    int family = d->have_in ? d->in.ss_family : (d->family ? d->family : AF_INET);
    if (d->have_in && d->family != AF_UNSPEC && d->family != family) {
        w->errors++;
        core_err_add(w->err, w->file, w->line,
                     "server_ports descriptor '%.*s': the ip-in address is not %s", qlen(d->text),
                     d->text.p, d->family == AF_INET ? "IPv4" : "IPv6");
        return false;
    }
    if (!d->port_given) { // a bad port was reported already
        w->errors++;
        core_err_add(w->err, w->file, w->line, "server_ports descriptor '%.*s' has no port",
                     qlen(d->text), d->text.p);
        return false;
    }
    if (!d->port)
        return false;
    memset(p, 0, sizeof(*p));
    p->port = (uint16_t)d->port;
    p->ssl = d->ssl;
    p->tr_pass = d->tr_pass;
    if (d->have_in)
        p->addr = d->in;
    p->addr.ss_family = (sa_family_t)family;
    if (family == AF_INET) {
        ((struct sockaddr_in *)&p->addr)->sin_port = htons(p->port);
        p->addrlen = sizeof(struct sockaddr_in);
    } else { // in6addr_any is all zeros, as memset left it
        ((struct sockaddr_in6 *)&p->addr)->sin6_port = htons(p->port);
        p->addrlen = sizeof(struct sockaddr_in6);
    }
    return true;
}

// parse_desc splits one descriptor at the colons outside brackets and fills *p.
static bool parse_desc(struct span text, struct net_port *p, struct where *w)
{
    struct desc d = {.text = text, .family = AF_UNSPEC};
    int errors = w->errors;
    size_t start = 0;
    bool bracket = false;
    for (size_t k = 0; k <= text.len; k++) {
        if (k < text.len && bracket) {
            bracket = text.p[k] != ']';
        } else if (k == text.len && bracket) {
            fail(w, &d, "'[' without ']' in", (struct span){text.p + start, text.len - start});
            return false;
        } else if (k == text.len || text.p[k] == ':') {
            parse_option(&d, (struct span){text.p + start, k - start}, w);
            start = k + 1;
        } else if (text.p[k] == '[') {
            bracket = true;
        }
    }
    return desc_finish(&d, p, w) && w->errors == errors;
}

static bool same_addr(const struct net_port *a, const struct net_port *b)
{
    return a->addrlen == b->addrlen && memcmp(&a->addr, &b->addr, a->addrlen) == 0;
}

static bool is_separator(char c)
{
    return c == ' ' || c == ',' || c == '\t' || c == '\n' || c == '\r';
}

int net_ports_parse(const char *spec, struct net_port *out, size_t max, size_t *n, const char *file,
                    int line, struct core_err *err)
{
    struct where w = {.file = file, .line = line, .err = err};
    size_t count = 0;
    const char *s = spec ? spec : "";
    *n = 0;
    while (*s) {
        size_t len = 0;
        while (s[len] && !is_separator(s[len]))
            len++;
        struct net_port p;
        if (len > 0 && parse_desc((struct span){s, len}, &p, &w)) {
            for (size_t k = 0; k < count && k < max; k++) {
                if (same_addr(&out[k], &p)) {
                    w.errors++;
                    core_err_add(err, file, line, "server_ports descriptor '%.*s': %s",
                                 len > QUOTE_MAX ? QUOTE_MAX : (int)len, s,
                                 "the same address and port are listed twice");
                    break;
                }
            }
            if (count < max)
                out[count] = p;
            count++;
        }
        s += len;
        while (*s && is_separator(*s))
            s++;
    }
    if (w.errors > 0)
        return -EINVAL;
    if (count > max) {
        core_err_add(err, file, line, "server_ports lists %zu ports, at most %zu are supported",
                     count, max);
        return -ENOSPC;
    }
    *n = count;
    return 0;
}

int net_port_format(const struct net_port *p, char *buf, size_t len)
{
    char addr[INET6_ADDRSTRLEN];
    const void *raw;
    int family = p->addr.ss_family;
    if (family == AF_INET)
        raw = &((const struct sockaddr_in *)&p->addr)->sin_addr;
    else if (family == AF_INET6)
        raw = &((const struct sockaddr_in6 *)&p->addr)->sin6_addr;
    else
        return -EINVAL;
    if (!inet_ntop(family, raw, addr, sizeof(addr)))
        return -EINVAL;
    int w = snprintf(buf, len, "%s%s%s:%u%s%s", family == AF_INET6 ? "[" : "", addr,
                     family == AF_INET6 ? "]" : "", (unsigned)p->port, p->ssl ? " ssl" : "",
                     p->tr_pass ? " tr-pass" : "");
    if (w < 0)
        return -EINVAL;
    return (size_t)w < len ? w : -ENOSPC;
}
