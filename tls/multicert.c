// SPDX-License-Identifier: Apache-2.0
// tls/multicert.c: the ssl_multicert.config parser (see tls/multicert.h). It turns text into
// struct tls_multicert_line rules and reports every problem with its line number; it opens no
// certificate (tls/certtable.c does).
#include "tls/multicert.h"

#include "core/err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

// A configuration file larger than this is refused: ssl_multicert.config for 10,000 certificates
// is about 1 MiB.
#define MULTICERT_MAX_FILE (64u << 20)

enum tag {
    TAG_DEST_IP,
    TAG_CERT,
    TAG_KEY,
    TAG_CA,
    TAG_TICKET_ENABLED,
    TAG_TICKET_NUMBER,
    TAG_TICKET_KEY,
    TAG_ACTION,
    TAG_KEY_DIALOG,
    TAG_COUNT,
};

// ATS matches tag names without regard to case.
static const char *const tag_names[TAG_COUNT] = {
    [TAG_DEST_IP] = "dest_ip",
    [TAG_CERT] = "ssl_cert_name",
    [TAG_KEY] = "ssl_key_name",
    [TAG_CA] = "ssl_ca_name",
    [TAG_TICKET_ENABLED] = "ssl_ticket_enabled",
    [TAG_TICKET_NUMBER] = "ssl_ticket_number",
    [TAG_TICKET_KEY] = "ticket_key_name",
    [TAG_ACTION] = "action",
    [TAG_KEY_DIALOG] = "ssl_key_dialog",
};

// struct parser: the state of one parse; lives on tls_multicert_parse's stack.
struct parser {
    const char *name;     // file name for reports
    const char *cert_dir; // base of relative certificate paths, or NULL
    const char *key_dir;  // base of relative key paths, or NULL
    struct core_err *err; // may be NULL
    int line;             // current line number
    int errors;           // errors found so far (err may be NULL, so counted here)
    bool nomem;           // an allocation failed
    size_t cap;           // capacity of m->lines
    struct tls_multicert *m;
};

// struct raw_line: the tag values of one line as written (unquoted), each owned, or NULL.
struct raw_line {
    char *val[TAG_COUNT];
};

static void line_error(struct parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

// line_error records an error about the current line.
static void line_error(struct parser *p, const char *fmt, ...)
{
    char buf[CORE_ERR_REASON_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    p->errors++;
    core_err_add(p->err, p->name, p->line, "%s", buf);
}

// dup_n returns a copy of the n bytes at s, or NULL (noting the allocation failure).
static char *dup_n(struct parser *p, const char *s, size_t n)
{
    char *d = strndup(s, n);
    if (!d)
        p->nomem = true;
    return d;
}

// is_space is true for the blanks that separate tokens.
static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

// tag_find returns the tag named by the len bytes at name, or -1.
static int tag_find(const char *name, size_t len)
{
    for (int i = 0; i < TAG_COUNT; i++)
        if (strlen(tag_names[i]) == len && strncasecmp(tag_names[i], name, len) == 0)
            return i;
    return -1;
}

// key_is_uri is true for key names handled by a key backend rather than read from a file.
static bool key_is_uri(const char *s)
{
    return strncmp(s, "pkcs11:", 7) == 0 || strncmp(s, "keyless:", 8) == 0;
}

// resolve returns name joined to dir when name is relative and dir is set, else a copy of name.
static char *resolve(struct parser *p, const char *dir, const char *name)
{
    if (name[0] == '/' || !dir || !dir[0])
        return dup_n(p, name, strlen(name));
    size_t dl = strlen(dir), nl = strlen(name);
    bool slash = dir[dl - 1] != '/';
    char *out = malloc(dl + slash + nl + 1);
    if (!out) {
        p->nomem = true;
        return NULL;
    }
    memcpy(out, dir, dl);
    if (slash)
        out[dl] = '/';
    memcpy(out + dl + slash, name, nl + 1);
    return out;
}

// parse_port reads a decimal port 1..65535 from s. Returns it, or -1.
static int parse_port(const char *s)
{
    if (!*s || strlen(s) > 5)
        return -1;
    int port = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        port = port * 10 + (*s - '0');
    }
    return port >= 1 && port <= 65535 ? port : -1;
}

// parse_addr fills ss from the IP text ip (IPv4 or IPv6) and port (0: none). Returns 0 or -1.
static int parse_addr(const char *ip, int port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        return 0;
    }
    return -1;
}

// parse_dest fills l's destination from v: `*`, `a.b.c.d[:port]`, `[v6][:port]` or bare v6.
// A bare IPv6 address cannot carry a port: its last group would be ambiguous.
static int parse_dest(const char *v, struct tls_multicert_line *l)
{
    char ip[INET6_ADDRSTRLEN + 1];
    const char *port_s = NULL, *ip_s = v;
    size_t ip_len = strlen(v);
    if (strcmp(v, "*") == 0) {
        l->has_dest = l->dest_any = true;
        return 0;
    }
    if (v[0] == '[') {
        const char *close = strchr(v, ']');
        if (!close || (close[1] && close[1] != ':'))
            return -1;
        ip_s = v + 1;
        ip_len = (size_t)(close - ip_s);
        port_s = close[1] ? close + 2 : NULL;
    } else {
        const char *colon = strchr(v, ':');
        if (colon && !strchr(colon + 1, ':')) { // exactly one colon: IPv4 with a port
            ip_len = (size_t)(colon - v);
            port_s = colon + 1;
        }
    }
    if (ip_len == 0 || ip_len >= sizeof(ip))
        return -1;
    memcpy(ip, ip_s, ip_len);
    ip[ip_len] = '\0';
    int port = port_s ? parse_port(port_s) : 0;
    if (port < 0 || parse_addr(ip, port, &l->dest) < 0)
        return -1;
    if (v[0] == '[' && l->dest.ss_family != AF_INET6)
        return -1;
    l->has_dest = true;
    l->dest_has_port = port_s != NULL;
    return 0;
}

// parse_int reads a non-negative decimal int from v. Returns it, or -1.
static int parse_int(const char *v)
{
    if (!*v)
        return -1;
    long n = 0;
    for (const char *s = v; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        n = n * 10 + (*s - '0');
        if (n > INT_MAX)
            return -1;
    }
    return (int)n;
}

// split_list splits the comma list v into at most TLS_MULTICERT_MAX_CHAINS resolved paths in out
// (keys that are URIs are kept verbatim when is_key). Returns the count, or -1 after reporting.
static int split_list(struct parser *p, enum tag t, const char *v, const char *dir, bool is_key,
                      char **out)
{
    int n = 0;
    for (const char *s = v;; n++) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (len == 0) {
            line_error(p, "%s: empty name in the list", tag_names[t]);
            return -1;
        }
        if (n == TLS_MULTICERT_MAX_CHAINS) {
            line_error(p, "%s: more than %d names", tag_names[t], TLS_MULTICERT_MAX_CHAINS);
            return -1;
        }
        char *one = dup_n(p, s, len);
        if (!one)
            return -1;
        out[n] = is_key && key_is_uri(one) ? one : resolve(p, dir, one);
        if (out[n] != one)
            free(one);
        if (!out[n])
            return -1;
        if (!comma)
            return n + 1;
        s = comma + 1;
    }
}

// convert_lists fills l's certificate, key and CA names from raw, checking their counts.
static void convert_lists(struct parser *p, struct raw_line *raw, struct tls_multicert_line *l)
{
    int n_keys = 0, n_ca = 0;
    if (raw->val[TAG_CERT])
        l->n_certs = split_list(p, TAG_CERT, raw->val[TAG_CERT], p->cert_dir, false, l->cert);
    if (raw->val[TAG_KEY])
        n_keys = split_list(p, TAG_KEY, raw->val[TAG_KEY], p->key_dir, true, l->key);
    if (raw->val[TAG_CA])
        n_ca = split_list(p, TAG_CA, raw->val[TAG_CA], p->cert_dir, false, l->ca);
    if (l->n_certs < 0 || n_keys < 0 || n_ca < 0) {
        l->n_certs = l->n_certs < 0 ? 0 : l->n_certs;
        return;
    }
    if (raw->val[TAG_KEY] && n_keys != l->n_certs)
        line_error(p, "ssl_key_name names %d keys but ssl_cert_name names %d certificates", n_keys,
                   l->n_certs);
    if (n_ca > 1 && n_ca != l->n_certs)
        line_error(p, "ssl_ca_name names %d files; expected 1 or %d (one per certificate)", n_ca,
                   l->n_certs);
    // One CA file serves every chain: give each chain its own copy so ownership stays per slot.
    for (int i = 1; n_ca == 1 && i < l->n_certs; i++) {
        l->ca[i] = dup_n(p, l->ca[0], strlen(l->ca[0]));
        if (!l->ca[i])
            return;
    }
}

// convert_action checks action and key dialog, and drops certificates from a tunnel line.
static void convert_action(struct parser *p, struct raw_line *raw, struct tls_multicert_line *l)
{
    const char *action = raw->val[TAG_ACTION], *dialog = raw->val[TAG_KEY_DIALOG];
    if (action && strcasecmp(action, "tunnel") != 0)
        line_error(p, "action '%s' is not supported (only action=tunnel)", action);
    l->tunnel = action && strcasecmp(action, "tunnel") == 0;
    // Pass-phrase dialogs would need a terminal or a helper program at every reload; tlsedge
    // reads unencrypted keys (or uses a key backend) only.
    if (dialog && strcasecmp(dialog, "builtin") != 0)
        line_error(p, "ssl_key_dialog '%s' is not supported (only builtin)", dialog);
    if (l->tunnel && !l->has_dest && raw->val[TAG_DEST_IP] == NULL)
        line_error(p, "action=tunnel needs dest_ip: a tunnel is chosen by the local address");
    if (!l->tunnel && !raw->val[TAG_CERT])
        line_error(p, "ssl_cert_name is missing (required unless action=tunnel)");
    if (l->tunnel && raw->val[TAG_CERT]) {
        core_err_warn(p->err, p->name, p->line,
                      "action=tunnel: ssl_cert_name and the key options are ignored");
        for (int i = 0; i < TLS_MULTICERT_MAX_CHAINS; i++) {
            free(l->cert[i]);
            free(l->key[i]);
            free(l->ca[i]);
            l->cert[i] = l->key[i] = l->ca[i] = NULL;
        }
        l->n_certs = 0;
    }
}

// convert_scalars fills l's destination and ticket options from raw.
static void convert_scalars(struct parser *p, struct raw_line *raw, struct tls_multicert_line *l)
{
    const char *v;
    if ((v = raw->val[TAG_DEST_IP]) && parse_dest(v, l) < 0)
        line_error(p, "dest_ip '%s' is not `*`, an IPv4 or an IPv6 address (optional :port)", v);
    if ((v = raw->val[TAG_TICKET_ENABLED])) {
        if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
            line_error(p, "ssl_ticket_enabled '%s' is not 0 or 1", v);
        else
            l->ticket_enabled = v[0] - '0';
    }
    if ((v = raw->val[TAG_TICKET_NUMBER])) {
        l->ticket_number = parse_int(v);
        if (l->ticket_number < 0)
            line_error(p, "ssl_ticket_number '%s' is not an integer >= 0", v);
    }
    if ((v = raw->val[TAG_TICKET_KEY]))
        l->ticket_key_name = resolve(p, p->cert_dir, v);
}

// line_fini frees the strings of l.
static void line_fini(struct tls_multicert_line *l)
{
    for (int i = 0; i < TLS_MULTICERT_MAX_CHAINS; i++) {
        free(l->cert[i]);
        free(l->key[i]);
        free(l->ca[i]);
    }
    free(l->ticket_key_name);
}

// line_add converts raw into a new rule appended to p->m. Errors are reported; the rule is
// dropped when it has any.
static void line_add(struct parser *p, struct raw_line *raw)
{
    struct tls_multicert_line l = {.line = p->line, .ticket_enabled = -1, .ticket_number = -1};
    int before = p->errors;
    convert_scalars(p, raw, &l);
    convert_lists(p, raw, &l);
    convert_action(p, raw, &l);
    if (p->errors != before || p->nomem)
        goto drop;
    if (p->m->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        struct tls_multicert_line *grown = realloc(p->m->lines, cap * sizeof(*grown));
        if (!grown) {
            p->nomem = true;
            goto drop;
        }
        p->m->lines = grown;
        p->cap = cap;
    }
    p->m->lines[p->m->n++] = l;
    return;
drop:
    line_fini(&l);
}

// read_value reads one value starting at s (quoted or bare) up to end. Sets *next past it.
// Returns the value, or NULL after reporting a syntax error or on allocation failure.
static char *read_value(struct parser *p, const char *s, const char *end, const char **next)
{
    const char *v = s, *ve;
    if (s < end && *s == '"') {
        v = s + 1;
        ve = memchr(v, '"', (size_t)(end - v));
        if (!ve) {
            line_error(p, "unterminated quoted value");
            return NULL;
        }
        *next = ve + 1;
        if (*next < end && !is_space(**next)) {
            line_error(p, "text right after a closing quote");
            return NULL;
        }
    } else {
        for (ve = s; ve < end && !is_space(*ve); ve++)
            ;
        *next = ve;
    }
    if (ve == v) {
        line_error(p, "empty value");
        return NULL;
    }
    return dup_n(p, v, (size_t)(ve - v));
}

// read_pair reads one `tag=value` at s into raw. Returns the position after it, or NULL when the
// rest of the line must be skipped (after reporting).
static const char *read_pair(struct parser *p, const char *s, const char *end, struct raw_line *raw)
{
    const char *k = s, *next;
    while (s < end && *s != '=' && !is_space(*s))
        s++;
    if (s == end || *s != '=' || s == k) {
        line_error(p, "expected tag=value, found '%.*s'", (int)(s - k), k);
        return NULL;
    }
    int t = tag_find(k, (size_t)(s - k));
    char *v = read_value(p, s + 1, end, &next);
    if (!v)
        return NULL;
    if (t < 0) {
        // The value is not quoted: it may be a key URI that carries a PIN.
        core_err_warn(p->err, p->name, p->line, "unknown tag '%.*s' ignored", (int)(s - k), k);
        free(v);
    } else if (raw->val[t]) {
        line_error(p, "%s given twice", tag_names[t]);
        free(v);
    } else {
        raw->val[t] = v;
    }
    return next;
}

// parse_line parses the physical line [s, end).
static void parse_line(struct parser *p, const char *s, const char *end)
{
    struct raw_line raw = {{NULL}};
    bool any = false;
    int before = p->errors;
    while (s && s < end) {
        while (s < end && is_space(*s))
            s++;
        if (s == end || *s == '#')
            break;
        any = true;
        s = read_pair(p, s, end, &raw);
    }
    if (any && p->errors == before && !p->nomem)
        line_add(p, &raw);
    for (int i = 0; i < TAG_COUNT; i++)
        free(raw.val[i]);
}

void tls_multicert_free(struct tls_multicert *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        line_fini(&m->lines[i]);
    free(m->lines);
    free(m->path);
    free(m);
}

struct tls_multicert *tls_multicert_parse(const char *text, size_t len, const char *name,
                                          const char *cert_dir, const char *key_dir,
                                          struct core_err *err)
{
    struct parser p = {.name = name, .cert_dir = cert_dir, .key_dir = key_dir, .err = err};
    p.m = calloc(1, sizeof(*p.m));
    if (!p.m || !(p.m->path = strdup(name ? name : ""))) {
        core_err_add(err, name, 0, "out of memory");
        tls_multicert_free(p.m);
        return NULL;
    }
    const char *s = text, *end = text + len;
    while (s < end && !p.nomem) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *le = nl ? nl : end;
        p.line++;
        if (memchr(s, '\0', (size_t)(le - s)))
            line_error(&p, "NUL byte in line");
        else
            parse_line(&p, s, le);
        s = nl ? nl + 1 : end;
    }
    if (p.nomem)
        core_err_add(err, name, p.line, "out of memory");
    if (p.errors || p.nomem) {
        tls_multicert_free(p.m);
        return NULL;
    }
    return p.m;
}

// read_file reads path into a new buffer (*out, *len). Returns 0 or a negative errno.
static int read_file(const char *path, char **out, size_t *len)
{
    int rc = 0;
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            char *grown = cap >= MULTICERT_MAX_FILE ? NULL : realloc(buf, cap ? cap * 2 : 4096);
            if (!grown) {
                rc = cap >= MULTICERT_MAX_FILE ? -EFBIG : -ENOMEM;
                goto out;
            }
            buf = grown;
            cap = cap ? cap * 2 : 4096;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f))
        rc = -EIO;
out:
    fclose(f);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = n;
    return 0;
}

struct tls_multicert *tls_multicert_load(const char *path, const char *cert_dir,
                                         const char *key_dir, struct core_err *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc = read_file(path, &text, &len);
    if (rc < 0) {
        core_err_add(err, path, 0, "cannot read: %s", strerror(-rc));
        return NULL;
    }
    struct tls_multicert *m = tls_multicert_parse(text, len, path, cert_dir, key_dir, err);
    free(text);
    return m;
}
