// SPDX-License-Identifier: Apache-2.0
// net/ipallow.c: parses ip_allow.yaml (with libyaml's document loader) into an immutable rule set
// and answers "may this client use this method" (see net/ipallow.h). It owns the rules, their
// method names and two flat range arrays (IPv4, IPv6) kept in rule order, so the first range
// that contains an address belongs to the first rule that matches it.
#include "net/ipallow.h"
#include "core/file.h"

#include "core/err.h"
#include "core/yaml.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <yaml.h>

// IPALLOW_FILE_MAX bounds the size of ip_allow.yaml we agree to read.
#define IPALLOW_FILE_MAX (16u << 20)
// IPALLOW_SHOW bounds how much of a value a message quotes.
#define IPALLOW_SHOW 80
#define IPALLOW_NONE SIZE_MAX

// struct ipallow_rule: one rule. methods holds nmethods NUL-terminated names back to back (NULL
// when there are none); owned by the rule set.
struct ipallow_rule {
    int line;
    bool in;
    bool allow;
    bool all; // the methods are ALL
    size_t nmethods;
    char *methods;
    size_t methods_len;
};

// struct ipallow_range4: an inclusive IPv4 range in host byte order, for rule index rule.
struct ipallow_range4 {
    uint32_t lo, hi;
    size_t rule;
};

// struct ipallow_range6: an inclusive IPv6 range in network byte order, for rule index rule.
struct ipallow_range6 {
    uint8_t lo[16], hi[16];
    size_t rule;
};

// struct net_ipallow: owned by its builder's caller. Only `in` rules have ranges here.
struct net_ipallow {
    size_t nrules, cap_rules;
    struct ipallow_rule *rule;
    size_t n4, cap4;
    struct ipallow_range4 *r4;
    size_t n6, cap6;
    struct ipallow_range6 *r6;
};

// struct ipallow_build: parser state while one document is turned into a rule set.
struct ipallow_build {
    const char *name;
    struct core_err *err;
    int errors;
    bool nomem;
    yaml_document_t *doc;
    struct net_ipallow *a;
};

// struct ipallow_draft: a rule being read, with which keys were seen.
struct ipallow_draft {
    struct ipallow_rule rule;
    bool has_apply, has_addrs, has_action, has_methods;
};

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool eq_nocase(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (ascii_lower(*a) != ascii_lower(*b))
            return false;
    return *a == *b;
}

static int show(size_t n)
{
    return (int)(n > IPALLOW_SHOW ? IPALLOW_SHOW : n);
}

static void build_report(struct ipallow_build *b, bool warning, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void build_report(struct ipallow_build *b, bool warning, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    core_err_vreport(b->err, warning, b->name, line, fmt, ap);
    va_end(ap);
    if (!warning)
        b->errors++;
}

// grow makes room for one more element of size in *arr (holding n of cap). Returns false when
// memory ran out.
static bool grow(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *p = realloc(*arr, ncap * size);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

// ---- addresses -----------------------------------------------------------------------------

// addr_parse reads one IPv4 or IPv6 address (n bytes at s) into out (4 or 16 bytes, network
// order). Returns AF_INET, AF_INET6, or 0 when s is not an address.
static int addr_parse(const char *s, size_t n, uint8_t out[16])
{
    char buf[INET6_ADDRSTRLEN];
    if (n == 0 || n >= sizeof(buf))
        return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET, buf, out) == 1)
        return AF_INET;
    if (inet_pton(AF_INET6, buf, out) == 1)
        return AF_INET6;
    return 0;
}

static uint32_t load32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

// cidr_apply turns lo (an address of bits bits) into the first and last address of /prefix.
static void cidr_apply(uint8_t lo[16], uint8_t hi[16], size_t bytes, unsigned prefix)
{
    for (size_t i = 0; i < bytes; i++) {
        unsigned keep = prefix >= (i + 1) * 8 ? 8 : (prefix > i * 8 ? prefix - i * 8 : 0);
        uint8_t mask = (uint8_t)(keep == 0 ? 0 : 0xffu << (8 - keep));
        lo[i] &= mask;
        hi[i] = (uint8_t)(lo[i] | (uint8_t)~mask);
    }
}

// range_cidr parses "addr/prefix" (slash points at the '/'). Returns the family or 0.
static int range_cidr(const char *s, size_t n, const char *slash, uint8_t lo[16], uint8_t hi[16])
{
    size_t an = (size_t)(slash - s), pn = n - an - 1;
    unsigned prefix = 0;
    int family = addr_parse(s, an, lo);
    if (family == 0 && an == 1 && s[0] == '0') { // ATS's "0/0"
        memset(lo, 0, 16);
        family = AF_INET;
    }
    if (family == 0 || pn == 0 || pn > 3)
        return 0;
    for (size_t i = 0; i < pn; i++) {
        if (slash[1 + i] < '0' || slash[1 + i] > '9')
            return 0;
        prefix = prefix * 10 + (unsigned)(slash[1 + i] - '0');
    }
    size_t bytes = family == AF_INET ? 4 : 16;
    if (prefix > bytes * 8)
        return 0;
    cidr_apply(lo, hi, bytes, prefix);
    return family;
}

// range_parse reads one range: an address, addr/prefix, or addr-addr. Returns the family, or 0
// when malformed.
static int range_parse(const char *s, uint8_t lo[16], uint8_t hi[16])
{
    size_t n = strlen(s);
    const char *slash = memchr(s, '/', n), *dash = memchr(s, '-', n);
    if (slash && !dash)
        return range_cidr(s, n, slash, lo, hi);
    if (dash && !slash) {
        int f1 = addr_parse(s, (size_t)(dash - s), lo);
        int f2 = addr_parse(dash + 1, n - (size_t)(dash - s) - 1, hi);
        size_t bytes = f1 == AF_INET ? 4 : 16;
        if (f1 == 0 || f1 != f2 || memcmp(lo, hi, bytes) > 0)
            return 0;
        return f1;
    }
    if (slash || dash)
        return 0;
    int family = addr_parse(s, n, lo);
    memcpy(hi, lo, 16);
    return family;
}

static void range_add(struct ipallow_build *b, int family, const uint8_t lo[16],
                      const uint8_t hi[16])
{
    struct net_ipallow *a = b->a;
    size_t rule = a->nrules;
    if (family == AF_INET) {
        if (!grow((void **)&a->r4, &a->cap4, a->n4, sizeof(*a->r4))) {
            b->nomem = true;
            return;
        }
        a->r4[a->n4++] = (struct ipallow_range4){load32(lo), load32(hi), rule};
    } else {
        if (!grow((void **)&a->r6, &a->cap6, a->n6, sizeof(*a->r6))) {
            b->nomem = true;
            return;
        }
        struct ipallow_range6 *r = &a->r6[a->n6++];
        memcpy(r->lo, lo, 16);
        memcpy(r->hi, hi, 16);
        r->rule = rule;
    }
}

// ---- rule keys -----------------------------------------------------------------------------

static void addr_one(struct ipallow_build *b, const yaml_node_t *n)
{
    uint8_t lo[16] = {0}, hi[16] = {0};
    const char *s = core_yaml_text(n);
    if (!s) {
        build_report(b, false, core_yaml_line(n),
                     "ip_addrs: expected an address range or a list of them");
        return;
    }
    int family = range_parse(s, lo, hi);
    if (family == 0) {
        build_report(b, false, core_yaml_line(n), "ip_addrs: '%.*s' is not an address, CIDR or range",
                     show(strlen(s)), s);
        return;
    }
    range_add(b, family, lo, hi);
}

static void key_addrs(struct ipallow_build *b, struct ipallow_draft *d, const yaml_node_t *v)
{
    d->has_addrs = true;
    if (v->type != YAML_SEQUENCE_NODE) {
        addr_one(b, v);
        return;
    }
    if (v->data.sequence.items.start == v->data.sequence.items.top)
        build_report(b, false, core_yaml_line(v), "ip_addrs: empty list");
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++)
        addr_one(b, yaml_document_get_node(b->doc, *i));
}

// method_ok accepts an HTTP method token (RFC 9110 section 5.6.2). '|' is a token character
// but is refused: it is ip_allow.config's separator, never part of a real method.
static bool method_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        char c = *s;
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && !strchr("!#$%&'*+-.^_`~", c))
            return false;
    }
    return true;
}

static void method_one(struct ipallow_build *b, struct ipallow_draft *d, const yaml_node_t *n)
{
    struct ipallow_rule *r = &d->rule;
    const char *s = core_yaml_text(n);
    if (!s) {
        build_report(b, false, core_yaml_line(n), "methods: expected a method name or a list of them");
        return;
    }
    if (!method_ok(s)) {
        build_report(b, false, core_yaml_line(n), "methods: '%.*s' is not a method name%s",
                     show(strlen(s)), s, strchr(s, '|') ? " (write a YAML list, not A|B)" : "");
        return;
    }
    if (eq_nocase(s, "ALL")) {
        r->all = true;
        return;
    }
    size_t n_s = strlen(s) + 1;
    char *grown = realloc(r->methods, r->methods_len + n_s);
    if (!grown) {
        b->nomem = true;
        return;
    }
    memcpy(grown + r->methods_len, s, n_s);
    r->methods = grown;
    r->methods_len += n_s;
    r->nmethods++;
}

static void key_methods(struct ipallow_build *b, struct ipallow_draft *d, const yaml_node_t *v)
{
    d->has_methods = true;
    d->rule.all = false;
    if (v->type != YAML_SEQUENCE_NODE) {
        method_one(b, d, v);
        return;
    }
    if (v->data.sequence.items.start == v->data.sequence.items.top)
        build_report(b, true, core_yaml_line(v), "methods: empty list: the rule applies to no method");
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++)
        method_one(b, d, yaml_document_get_node(b->doc, *i));
}

static void key_apply(struct ipallow_build *b, struct ipallow_draft *d, const yaml_node_t *v)
{
    const char *s = core_yaml_text(v);
    d->has_apply = true;
    if (s && eq_nocase(s, "in"))
        d->rule.in = true;
    else if (!s || !eq_nocase(s, "out"))
        build_report(b, false, core_yaml_line(v), "apply: must be 'in' or 'out'");
}

static void key_action(struct ipallow_build *b, struct ipallow_draft *d, const yaml_node_t *v)
{
    const char *s = core_yaml_text(v);
    d->has_action = true;
    if (s && (eq_nocase(s, "allow") || eq_nocase(s, "set_allow")))
        d->rule.allow = true;
    else if (!s || !(eq_nocase(s, "deny") || eq_nocase(s, "set_deny")))
        build_report(b, false, core_yaml_line(v), "action: '%.*s' is not allow or deny",
                     show(s ? strlen(s) : 0), s ? s : "");
}

// ---- rules ---------------------------------------------------------------------------------

static void rule_key(struct ipallow_build *b, struct ipallow_draft *d, const yaml_node_pair_t *p)
{
    const yaml_node_t *k = yaml_document_get_node(b->doc, p->key);
    const yaml_node_t *v = yaml_document_get_node(b->doc, p->value);
    const char *key = core_yaml_text(k);
    struct {
        const char *name;
        bool *seen;
        void (*parse)(struct ipallow_build *, struct ipallow_draft *, const yaml_node_t *);
    } keys[] = {{"apply", &d->has_apply, key_apply},
                {"ip_addrs", &d->has_addrs, key_addrs},
                {"action", &d->has_action, key_action},
                {"methods", &d->has_methods, key_methods}};
    for (size_t i = 0; key && i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (!eq_nocase(key, keys[i].name))
            continue;
        if (*keys[i].seen)
            build_report(b, false, core_yaml_line(k), "duplicate key '%s'", keys[i].name);
        else
            keys[i].parse(b, d, v);
        return;
    }
    build_report(b, false, core_yaml_line(k), "unknown key '%.*s' in an ip_allow rule",
                 show(key ? strlen(key) : 0), key ? key : "");
}

// rule_check reports missing required keys.
static void rule_check(struct ipallow_build *b, const struct ipallow_draft *d, int line)
{
    static const char *const what[] = {"apply", "ip_addrs", "action"};
    const bool have[] = {d->has_apply, d->has_addrs, d->has_action};
    for (size_t i = 0; i < 3; i++)
        if (!have[i])
            build_report(b, false, line, "ip_allow rule has no '%s' key", what[i]);
}

static void parse_rule(struct ipallow_build *b, const yaml_node_t *n)
{
    struct net_ipallow *a = b->a;
    struct ipallow_draft d = {.rule = {.line = core_yaml_line(n), .all = true}};
    size_t n4 = a->n4, n6 = a->n6;
    int errors = b->errors;
    if (n->type != YAML_MAPPING_NODE) {
        build_report(b, false, core_yaml_line(n), "an ip_allow rule must be a mapping");
        return;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
        rule_key(b, &d, p);
    rule_check(b, &d, d.rule.line);
    bool ok = b->errors == errors && !b->nomem;
    if (!ok || !d.rule.in) { // only `in` rules are evaluated, so only they keep ranges
        a->n4 = n4;
        a->n6 = n6;
    }
    if (ok && !d.rule.in)
        build_report(b, true, d.rule.line, "apply: out rules are not evaluated by tlsedge");
    if (ok && !grow((void **)&a->rule, &a->cap_rules, a->nrules, sizeof(*a->rule))) {
        b->nomem = true;
        ok = false;
    }
    if (!ok) {
        free(d.rule.methods);
        return;
    }
    a->rule[a->nrules++] = d.rule;
}

static void parse_root(struct ipallow_build *b, const yaml_node_t *root)
{
    const yaml_node_t *rules = NULL;
    if (!root || root->type != YAML_MAPPING_NODE) {
        build_report(b, false, root ? core_yaml_line(root) : 0,
                     "the top level must be a mapping with "
                     "the key 'ip_allow'");
        return;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = yaml_document_get_node(b->doc, p->key);
        const char *key = core_yaml_text(k);
        if (key && eq_nocase(key, "ip_allow") && !rules)
            rules = yaml_document_get_node(b->doc, p->value);
        else
            build_report(b, false, core_yaml_line(k), "%s key '%.*s' at the top level",
                         rules && key && eq_nocase(key, "ip_allow") ? "duplicate" : "unknown",
                         show(key ? strlen(key) : 0), key ? key : "");
    }
    if (!rules) {
        build_report(b, false, core_yaml_line(root), "no 'ip_allow' key");
    } else if (rules->type == YAML_MAPPING_NODE) {
        parse_rule(b, rules);
    } else if (rules->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *i = rules->data.sequence.items.start;
             i < rules->data.sequence.items.top && !b->nomem; i++)
            parse_rule(b, yaml_document_get_node(b->doc, *i));
    } else {
        build_report(b, false, core_yaml_line(rules), "ip_allow must hold a rule or a list of rules");
    }
}

// ---- life cycle ----------------------------------------------------------------------------

void net_ipallow_free(struct net_ipallow *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->nrules; i++)
        free(a->rule[i].methods);
    free(a->rule);
    free(a->r4);
    free(a->r6);
    free(a);
}

// parse_document loads the YAML at text into b. Returns false when the YAML itself is bad (the
// error is recorded).
static bool parse_document(struct ipallow_build *b, const char *text, size_t len)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        b->nomem = true;
        return false;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)(text ? text : ""), len);
    if (!yaml_parser_load(&parser, &doc)) {
        if (parser.error == YAML_MEMORY_ERROR)
            b->nomem = true;
        else
            build_report(b, false, (int)parser.problem_mark.line + 1, "YAML: %s%s%s",
                         parser.problem ? parser.problem : "syntax error",
                         parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return false;
    }
    b->doc = &doc;
    parse_root(b, yaml_document_get_root_node(&doc));
    b->doc = NULL;
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return true;
}

struct net_ipallow *net_ipallow_parse(const char *text, size_t len, const char *name_for_errors,
                                      struct core_err *err)
{
    struct ipallow_build b = {.name = name_for_errors, .err = err};
    b.a = calloc(1, sizeof(*b.a));
    if (b.a)
        parse_document(&b, text, len);
    else
        b.nomem = true;
    if (b.nomem)
        build_report(&b, false, 0, "out of memory");
    if (b.errors > 0) {
        net_ipallow_free(b.a);
        return NULL;
    }
    if (b.a->nrules == 0)
        build_report(&b, true, 0, "no ip_allow rules: every client is denied");
    return b.a;
}

struct net_ipallow *net_ipallow_load(const char *path, struct core_err *err)
{
    size_t len = 0;
    char *text = core_file_read(path, IPALLOW_FILE_MAX, &len);
    if (!text) {
        core_err_add(err, path, 0, "cannot read: %s", strerror(errno));
        return NULL;
    }
    struct net_ipallow *a = net_ipallow_parse(text, len, path, err);
    free(text);
    return a;
}

struct net_ipallow *net_ipallow_from_list(const char *list, const char *file, int line,
                                          struct core_err *err)
{
    struct net_ipallow *a = calloc(1, sizeof(*a));
    struct ipallow_build b = {.name = file, .err = err, .a = a};
    char *copy = list ? strdup(list) : NULL;
    if (!a || !copy || !grow((void **)&a->rule, &a->cap_rules, 0, sizeof(*a->rule))) {
        build_report(&b, false, line, "out of memory");
        goto fail;
    }
    size_t n = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        for (char *e = tok + strlen(tok); e > tok && (e[-1] == ' ' || e[-1] == '\t');)
            *--e = '\0';
        uint8_t lo[16] = {0}, hi[16] = {0};
        int family = range_parse(tok, lo, hi);
        if (family == 0) {
            build_report(&b, false, line, "ip_allow: '%.*s' is not an address, CIDR or range",
                         show(strlen(tok)), tok);
            goto fail;
        }
        range_add(&b, family, lo, hi);
        n++;
    }
    if (n == 0 || b.nomem) {
        build_report(&b, false, line, n == 0 ? "ip_allow: no address range" : "out of memory");
        goto fail;
    }
    a->rule[0] = (struct ipallow_rule){.line = line, .in = true, .allow = true, .all = true};
    a->nrules = 1;
    free(copy);
    return a;
fail:
    free(copy);
    net_ipallow_free(a);
    return NULL;
}

struct net_ipallow *net_ipallow_new_loopback_only(void)
{
    // Block style: in a YAML 1.1 flow collection, libyaml reads "::1" as a ':' indicator.
    static const char text[] = "ip_allow:\n"
                               "  - apply: in\n"
                               "    ip_addrs: 127.0.0.0/8\n"
                               "    action: allow\n"
                               "  - apply: in\n"
                               "    ip_addrs: ::1\n"
                               "    action: allow\n";
    return net_ipallow_parse(text, sizeof(text) - 1, "(built-in ip_allow)", NULL);
}

size_t net_ipallow_count(const struct net_ipallow *a)
{
    return a ? a->nrules : 0;
}

// ---- checks --------------------------------------------------------------------------------

static size_t first4(const struct net_ipallow *a, uint32_t addr)
{
    for (size_t i = 0; i < a->n4; i++)
        if (a->r4[i].lo <= addr && addr <= a->r4[i].hi)
            return a->r4[i].rule;
    return IPALLOW_NONE;
}

static size_t first6(const struct net_ipallow *a, const uint8_t addr[16])
{
    for (size_t i = 0; i < a->n6; i++)
        if (memcmp(a->r6[i].lo, addr, 16) <= 0 && memcmp(addr, a->r6[i].hi, 16) <= 0)
            return a->r6[i].rule;
    return IPALLOW_NONE;
}

static bool method_listed(const struct ipallow_rule *r, const char *method)
{
    const char *m = r->methods;
    for (size_t i = 0; i < r->nmethods; i++, m += strlen(m) + 1)
        if (eq_nocase(m, method))
            return true;
    return false;
}

static bool rule_permits(const struct ipallow_rule *r, const char *method)
{
    if (!method) // could any method be allowed?
        return r->allow ? (r->all || r->nmethods > 0) : !r->all;
    bool listed = r->all || method_listed(r, method);
    return r->allow == listed;
}

bool net_ipallow_check(const struct net_ipallow *a, const struct sockaddr *client,
                       const char *method)
{
    size_t rule = IPALLOW_NONE;
    if (!a || !client)
        return false;
    if (client->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)client;
        rule = first4(a, ntohl(sin->sin_addr.s_addr));
    } else if (client->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)client;
        const uint8_t *b = sin6->sin6_addr.s6_addr;
        rule = first6(a, b);
        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            size_t r4 = first4(a, load32(b + 12));
            rule = r4 < rule ? r4 : rule;
        }
    } else {
        return false;
    }
    return rule != IPALLOW_NONE && rule_permits(&a->rule[rule], method);
}
