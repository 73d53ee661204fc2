// SPDX-License-Identifier: Apache-2.0
// net/remap.c: parses remap.config into an immutable rule set and maps requests through it (see
// net/remap.h). It owns the rule array and every string in it. Rules are kept sorted by FROM host
// and, within one host, in file order, so a lookup is a binary search on the host followed by a
// short scan in file order; nothing on the lookup side allocates.
#include "net/remap.h"
#include "core/file.h"

#include "core/err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// REMAP_HOST_MAX bounds a host name: 253 bytes is the DNS limit (RFC 1035 section 2.3.4), plus
// one trailing dot.
#define REMAP_HOST_MAX 254
// REMAP_FILE_MAX bounds the size of remap.config we agree to read.
#define REMAP_FILE_MAX (64u << 20)
// REMAP_SHOW bounds how much of a word a message quotes.
#define REMAP_SHOW 80

// struct remap_rule: one `map` line. Owned by the rule set; to.host, to.path_prefix, from_host
// and from_prefix are heap strings it owns.
struct remap_rule {
    struct net_remap_target to;
    size_t to_prefix_len;
    char *from_host; // lower-case, no brackets, no trailing dot
    char *from_prefix;
    bool from_tls;
    uint16_t from_port; // 0: any port
};

// struct net_remap: owned by its builder's caller; rule is sorted by (from_host, line).
struct net_remap {
    size_t n;
    struct remap_rule *rule;
};

enum url_status {
    URL_OK,
    URL_FORM,     // not scheme://...
    URL_SCHEME,   // a scheme other than http or https
    URL_USERINFO, // user@host
    URL_HOST,     // empty or malformed host
    URL_PORT,     // not 1..65535
    URL_QUERY,    // a query where none is allowed
    URL_FRAGMENT, // '#...'
    URL_BYTE,     // a control byte or space
};

// struct url_parts: pointers into the URL text that url_split() was given.
struct url_parts {
    const char *scheme;
    size_t scheme_len;
    bool tls;
    const char *host; // without IPv6 brackets
    size_t host_len;
    uint16_t port;    // 0: absent or empty
    const char *path; // from the first '/' or '?' after the authority to the end
    size_t path_len;
};

// struct remap_build: parser state while one text is being turned into rules.
struct remap_build {
    const char *name;
    struct core_err *err;
    int errors;
    bool nomem;
    struct remap_rule *rule;
    size_t n, cap;
};

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

// word_eq compares the n bytes at w with the C string s, ignoring ASCII case.
static bool word_eq(const char *w, size_t n, const char *s)
{
    size_t i = 0;
    for (; i < n && s[i]; i++)
        if (ascii_lower(w[i]) != ascii_lower(s[i]))
            return false;
    return i == n && s[i] == '\0';
}

static int show(size_t n)
{
    return (int)(n > REMAP_SHOW ? REMAP_SHOW : n);
}

// ---- URLs ----------------------------------------------------------------------------------

// url_scheme reads "scheme://" at the start of s (RFC 3986 section 3.1). Returns the length up to
// and including "://", or 0 when s does not start that way.
static size_t url_scheme(const char *s, size_t len)
{
    size_t i = 0;
    if (len == 0 || !is_alpha(s[0]))
        return 0;
    while (i < len &&
           (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
        i++;
    if (len - i < 3 || memcmp(s + i, "://", 3) != 0)
        return 0;
    return i + 3;
}

// host_name_ok accepts a reg-name made of unreserved characters (RFC 3986 section 3.2.2);
// percent-encoding and sub-delimiters are not used in host names we can reach.
static bool host_name_ok(const char *h, size_t n)
{
    if (n == 0 || n > REMAP_HOST_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '.' && c != '_' && c != '~')
            return false;
    }
    return true;
}

static bool host_ip6_ok(const char *h, size_t n)
{
    char buf[INET6_ADDRSTRLEN];
    struct in6_addr a;
    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, h, n);
    buf[n] = '\0';
    return inet_pton(AF_INET6, buf, &a) == 1;
}

// url_port parses the n digits at s (n may be 0: empty port). Returns false when malformed.
static bool url_port(const char *s, size_t n, uint16_t *port)
{
    unsigned v = 0;
    *port = 0;
    if (n > 5)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (n > 0 && (v == 0 || v > 65535))
        return false;
    *port = (uint16_t)v;
    return true;
}

// url_authority splits host[:port] (n bytes at a) into u.
static enum url_status url_authority(const char *a, size_t n, struct url_parts *u)
{
    const char *colon;
    if (memchr(a, '@', n))
        return URL_USERINFO;
    if (n > 0 && a[0] == '[') {
        const char *close = memchr(a, ']', n);
        if (!close || !host_ip6_ok(a + 1, (size_t)(close - a - 1)))
            return URL_HOST;
        u->host = a + 1;
        u->host_len = (size_t)(close - a - 1);
        colon = close + 1 < a + n ? close + 1 : NULL;
        if (colon && *colon != ':')
            return URL_HOST;
    } else {
        colon = memchr(a, ':', n);
        u->host = a;
        u->host_len = colon ? (size_t)(colon - a) : n;
        if (!host_name_ok(u->host, u->host_len))
            return URL_HOST;
    }
    if (colon && !url_port(colon + 1, (size_t)(a + n - colon - 1), &u->port))
        return URL_PORT;
    return URL_OK;
}

// url_split splits an absolute http(s) URL of len bytes at s into u (pointers into s). A query
// is accepted here; callers that forbid one check u->path.
static enum url_status url_split(const char *s, size_t len, struct url_parts *u)
{
    memset(u, 0, sizeof(*u));
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
            return URL_BYTE;
    size_t skip = url_scheme(s, len);
    if (skip == 0)
        return URL_FORM;
    u->scheme = s;
    u->scheme_len = skip - 3;
    if (word_eq(s, u->scheme_len, "https"))
        u->tls = true;
    else if (!word_eq(s, u->scheme_len, "http"))
        return URL_SCHEME;
    const char *a = s + skip, *end = s + len, *p = a;
    while (p < end && *p != '/' && *p != '?' && *p != '#')
        p++;
    enum url_status st = url_authority(a, (size_t)(p - a), u);
    if (st != URL_OK)
        return st;
    u->path = p;
    u->path_len = (size_t)(end - p);
    if (memchr(p, '#', u->path_len))
        return URL_FRAGMENT;
    return URL_OK;
}

static const char *url_reason(enum url_status st)
{
    switch (st) {
    case URL_FORM:
        return "is not scheme://host[:port][/path]";
    case URL_USERINFO:
        return "has user information, which is not allowed";
    case URL_HOST:
        return "has an empty or malformed host";
    case URL_PORT:
        return "has a bad port (1-65535)";
    case URL_QUERY:
        return "has a query, which is not allowed";
    case URL_FRAGMENT:
        return "has a fragment, which is not allowed";
    case URL_BYTE:
        return "contains a control byte";
    default:
        return "is malformed";
    }
}

// ---- building ------------------------------------------------------------------------------

static void build_report(struct remap_build *b, bool warning, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void build_report(struct remap_build *b, bool warning, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    core_err_vreport(b->err, warning, b->name, line, fmt, ap);
    va_end(ap);
    if (!warning)
        b->errors++;
}

// rule_url parses the FROM or TO word of a map line (which names it in messages).
static bool rule_url(struct remap_build *b, int line, const char *which, const char *w, size_t n,
                     struct url_parts *u)
{
    enum url_status st = url_split(w, n, u);
    if (st == URL_OK && memchr(u->path, '?', u->path_len))
        st = URL_QUERY;
    if (st == URL_OK)
        return true;
    if (st == URL_SCHEME)
        build_report(b, false, line,
                     "%s URL '%.*s': scheme '%.*s' is not supported (http or https)", which,
                     show(n), w, show(u->scheme_len), u->scheme);
    else if (st == URL_FORM && w[0] == '/' && strcmp(which, "FROM") == 0)
        build_report(b, false, line, "%s URL '%.*s': a FROM without a host is not supported", which,
                     show(n), w);
    else
        build_report(b, false, line, "%s URL '%.*s' %s", which, show(n), w, url_reason(st));
    return false;
}

static char *copy_lower(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    for (size_t i = 0; i < n; i++)
        d[i] = ascii_lower(s[i]);
    d[n] = '\0';
    return d;
}

static char *copy_path(const char *s, size_t n)
{
    if (n == 0)
        return strdup("/");
    return strndup(s, n);
}

static void rule_fini(struct remap_rule *r)
{
    free((char *)r->to.host);
    free((char *)r->to.path_prefix);
    free(r->from_host);
    free(r->from_prefix);
}

// rule_fill builds rule from the parsed FROM and TO. Returns false when memory ran out (rule is
// then released).
static bool rule_fill(struct remap_rule *rule, const struct url_parts *from,
                      const struct url_parts *to, int line)
{
    size_t fh = from->host_len;
    if (fh > 1 && from->host[fh - 1] == '.')
        fh--;
    memset(rule, 0, sizeof(*rule));
    rule->from_tls = from->tls;
    rule->from_port = from->port;
    rule->from_host = copy_lower(from->host, fh);
    rule->from_prefix = copy_path(from->path, from->path_len);
    rule->to.tls = to->tls;
    rule->to.host = copy_lower(to->host, to->host_len);
    rule->to.port = to->port ? to->port : (to->tls ? 443 : 80);
    rule->to.path_prefix = copy_path(to->path, to->path_len);
    rule->to.line = line;
    if (!rule->from_host || !rule->from_prefix || !rule->to.host || !rule->to.path_prefix) {
        rule_fini(rule);
        return false;
    }
    rule->to.from_prefix_len = strlen(rule->from_prefix);
    rule->to_prefix_len = strlen(rule->to.path_prefix);
    return true;
}

static void build_add(struct remap_build *b, const struct url_parts *from,
                      const struct url_parts *to, int line)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        struct remap_rule *grown = realloc(b->rule, cap * sizeof(*grown));
        if (!grown) {
            b->nomem = true;
            return;
        }
        b->rule = grown;
        b->cap = cap;
    }
    if (!rule_fill(&b->rule[b->n], from, to, line)) {
        b->nomem = true;
        return;
    }
    b->n++;
}

// ---- lines ---------------------------------------------------------------------------------

// struct words: a cursor over the words of one line.
struct words {
    const char *p, *end;
};

// words_next yields the next word, or false at the end of the line or at a word starting a
// '#' comment.
static bool words_next(struct words *w, const char **word, size_t *n)
{
    while (w->p < w->end && is_blank(*w->p))
        w->p++;
    if (w->p == w->end || *w->p == '#')
        return false;
    *word = w->p;
    while (w->p < w->end && !is_blank(*w->p))
        w->p++;
    *n = (size_t)(w->p - *word);
    return true;
}

// map_options checks the words after FROM and TO. Returns false after an error.
static bool map_options(struct remap_build *b, struct words *w, int line)
{
    const char *o;
    size_t n;
    bool ok = true, plugin = false;
    while (words_next(w, &o, &n)) {
        const char *eq = memchr(o, '=', n);
        size_t key = eq ? (size_t)(eq - o) : n;
        if (o[0] != '@') {
            build_report(b, false, line, "unexpected word '%.*s'%s", show(n), o,
                         (n == 1 && o[0] == '\\') ? " (line continuation is not supported)"
                                                  : " after FROM and TO");
            ok = false;
        } else if (word_eq(o, key, "@plugin") || word_eq(o, key, "@pparam")) {
            plugin = true;
        } else {
            build_report(b, false, line,
                         "option '%.*s' is not supported (put access rules in ip_allow.yaml)",
                         show(key), o);
            ok = false;
        }
    }
    if (plugin)
        build_report(b, true, line, "remap plugins are not supported: @plugin/@pparam ignored");
    return ok;
}

static void parse_map(struct remap_build *b, struct words *w, int line)
{
    const char *from, *to;
    size_t fn, tn;
    struct url_parts fu, tu;
    if (!words_next(w, &from, &fn)) {
        build_report(b, false, line, "map: missing FROM and TO URLs");
        return;
    }
    if (!words_next(w, &to, &tn)) {
        build_report(b, false, line, "map: missing TO URL");
        return;
    }
    bool ok = rule_url(b, line, "FROM", from, fn, &fu);
    ok = rule_url(b, line, "TO", to, tn, &tu) && ok;
    ok = map_options(b, w, line) && ok;
    if (ok)
        build_add(b, &fu, &tu, line);
}

// directive_unsupported names the ATS directives tlsedge knows of but does not implement.
static bool directive_unsupported(const char *d, size_t n)
{
    static const char *const names[] = {"map_with_recv_port", "map_with_referer", "redirect",
                                        "redirect_temporary"};
    if (d[0] == '.' || (n > 6 && word_eq(d, 6, "regex_")))
        return true;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (word_eq(d, n, names[i]))
            return true;
    return false;
}

static void parse_line(struct remap_build *b, const char *start, const char *end, int line)
{
    struct words w = {start, end};
    const char *d;
    size_t n;
    if (memchr(start, '\0', (size_t)(end - start))) {
        build_report(b, false, line, "NUL byte in line");
        return;
    }
    if (!words_next(&w, &d, &n))
        return; // blank or comment
    if (word_eq(d, n, "map"))
        parse_map(b, &w, line);
    else if (word_eq(d, n, "reverse_map"))
        build_report(b, true, line, "reverse_map ignored: tlsedge does not rewrite Location yet");
    else if (directive_unsupported(d, n))
        build_report(b, false, line, "'%.*s' is not supported", show(n), d);
    else
        build_report(b, false, line, "unknown directive '%.*s'", show(n), d);
}

// ---- finishing -----------------------------------------------------------------------------

static int rule_cmp(const void *a, const void *b)
{
    const struct remap_rule *x = a, *y = b;
    int c = strcmp(x->from_host, y->from_host);
    if (c != 0)
        return c;
    return (x->to.line > y->to.line) - (x->to.line < y->to.line);
}

// rule_shadows is true when every request that later rule b matches is matched by a first.
static bool rule_shadows(const struct remap_rule *a, const struct remap_rule *b)
{
    return a->from_tls == b->from_tls && (a->from_port == 0 || a->from_port == b->from_port) &&
           strncmp(b->from_prefix, a->from_prefix, a->to.from_prefix_len) == 0;
}

// warn_shadowed warns about rules that can never match; r is sorted, so the rules of one host
// are adjacent and in file order.
static void warn_shadowed(const struct net_remap *r, struct remap_build *b)
{
    size_t first = 0;
    for (size_t j = 1; j < r->n; j++) {
        if (strcmp(r->rule[first].from_host, r->rule[j].from_host) != 0) {
            first = j;
            continue;
        }
        for (size_t i = first; i < j; i++) {
            if (rule_shadows(&r->rule[i], &r->rule[j])) {
                build_report(b, true, r->rule[j].to.line,
                             "rule never matches: the rule at line %d always matches first",
                             r->rule[i].to.line);
                break;
            }
        }
    }
}

static void build_release(struct remap_build *b)
{
    for (size_t i = 0; i < b->n; i++)
        rule_fini(&b->rule[i]);
    free(b->rule);
    b->rule = NULL;
    b->n = 0;
}

static struct net_remap *build_finish(struct remap_build *b)
{
    struct net_remap *r = NULL;
    if (!b->nomem && b->errors == 0)
        r = calloc(1, sizeof(*r));
    if (!r) {
        if (b->nomem || b->errors == 0)
            build_report(b, false, 0, "out of memory");
        build_release(b);
        return NULL;
    }
    r->rule = b->rule;
    r->n = b->n;
    if (r->n > 1)
        qsort(r->rule, r->n, sizeof(*r->rule), rule_cmp);
    warn_shadowed(r, b);
    return r;
}

struct net_remap *net_remap_parse(const char *text, size_t len, const char *name_for_errors,
                                  struct core_err *err)
{
    struct remap_build b = {.name = name_for_errors, .err = err};
    const char *p = text, *end = len > 0 ? text + len : text;
    int line = 0;
    while (p < end && !b.nomem) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        parse_line(&b, p, eol, ++line);
        p = eol < end ? eol + 1 : end;
    }
    return build_finish(&b);
}

struct net_remap *net_remap_load(const char *path, struct core_err *err)
{
    size_t len = 0;
    char *text = core_file_read(path, REMAP_FILE_MAX, &len);
    if (!text) {
        core_err_add(err, path, 0, "cannot read: %s", strerror(errno));
        return NULL;
    }
    struct net_remap *r = net_remap_parse(text, len, path, err);
    free(text);
    return r;
}

void net_remap_free(struct net_remap *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        rule_fini(&r->rule[i]);
    free(r->rule);
    free(r);
}

size_t net_remap_count(const struct net_remap *r)
{
    return r ? r->n : 0;
}

// ---- lookup --------------------------------------------------------------------------------

// host_cmp orders the stored (lower-case) host against the n request bytes at h, lower-cased.
static int host_cmp(const char *stored, const char *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char a = (unsigned char)stored[i], c = (unsigned char)ascii_lower(h[i]);
        if (a != c)
            return a < c ? -1 : 1; // a NUL in stored sorts first
    }
    return stored[n] == '\0' ? 0 : 1;
}

// host_first returns the index of the first rule whose host is not below h (n bytes).
static size_t host_first(const struct net_remap *r, const char *h, size_t n)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (host_cmp(r->rule[mid].from_host, h, n) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

// path_rewrite writes TO's prefix and the rest of path into out. Returns false when it does not
// fit in len bytes.
static bool path_rewrite(const struct remap_rule *rule, const char *path, char *out, size_t len)
{
    const char *rest = path + rule->to.from_prefix_len;
    size_t tn = rule->to_prefix_len, rn = strlen(rest);
    // ATS (url_rewrite_remap_request) adds a '/' when FROM has no path of its own and TO's
    // path does not end in one, so that `map http://a/ http://b/x` maps /y to /x/y.
    bool slash = rule->to.from_prefix_len == 1 && tn > 1 && rule->to.path_prefix[tn - 1] != '/' &&
                 rn > 0 && rest[0] != '?';
    if (tn + (slash ? 1 : 0) + rn + 1 > len)
        return false;
    memcpy(out, rule->to.path_prefix, tn);
    if (slash)
        out[tn++] = '/';
    memcpy(out + tn, rest, rn + 1);
    return true;
}

const struct net_remap_target *net_remap_lookup(const struct net_remap *r, bool scheme_tls,
                                                const char *host, uint16_t port, const char *path,
                                                char *out_path, size_t out_len)
{
    if (out_path && out_len > 0)
        out_path[0] = '\0';
    if (!r || !host)
        return NULL;
    size_t hn = strlen(host);
    if (hn > 0 && host[hn - 1] == '.')
        hn--;
    if (hn == 0)
        return NULL;
    if (!path || !*path)
        path = "/";
    for (size_t i = host_first(r, host, hn);
         i < r->n && host_cmp(r->rule[i].from_host, host, hn) == 0; i++) {
        const struct remap_rule *rule = &r->rule[i];
        if (rule->from_tls != scheme_tls || (rule->from_port && rule->from_port != port) ||
            strncmp(path, rule->from_prefix, rule->to.from_prefix_len) != 0)
            continue;
        if (out_path && !path_rewrite(rule, path, out_path, out_len)) {
            if (out_len > 0)
                out_path[0] = '\0';
            return NULL;
        }
        return &rule->to;
    }
    return NULL;
}

int net_remap_parse_absolute(const char *uri, size_t len, bool *tls, char *host, size_t host_len,
                             uint16_t *port, const char **path)
{
    struct url_parts u;
    if (!uri || url_split(uri, len, &u) != URL_OK || u.host_len + 1 > host_len)
        return -EINVAL;
    for (size_t i = 0; i < u.host_len; i++)
        host[i] = ascii_lower(u.host[i]);
    host[u.host_len] = '\0';
    *tls = u.tls;
    *port = u.port ? u.port : (u.tls ? 443 : 80);
    *path = u.path;
    return 0;
}
