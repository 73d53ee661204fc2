// SPDX-License-Identifier: Apache-2.0
// core/records.c: the records.config table: declarations, the line parser, value syntax, lookups
// and the writer for --write-default-config (see core/records.h).
//
// The table is an array of records kept sorted by name, searched by bisection: declarations
// are few (hundreds), made once at start-up, and the sorted order is also the order that
// core_records_write() needs. Parsing works on (pointer, length) spans of the caller's text, so
// the text need not be NUL-terminated and is never modified.
#include "core/records.h"
#include "core/file.h"
#include "core/assert.h"
#include "core/err.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// A file larger than this is not a records.config (ATS's own are a few KiB).
#define RECORDS_FILE_MAX (16u << 20)
// Longest part of a bad value quoted back in an error message.
#define QUOTE_MAX 64

// struct rec: one declared record; owned by its table. s is the STRING value (never NULL for
// a STRING, NULL otherwise).
struct rec {
    char *name;
    enum core_rec_type type;
    bool set;
    int64_t i;
    double f;
    char *s;
};

// struct core_records: owned by whoever called core_records_new()/core_records_dup().
struct core_records {
    struct rec *rec; // sorted by name
    size_t n;
    size_t cap;
};

// struct span: a borrowed piece of text, not NUL-terminated.
struct span {
    const char *p;
    size_t len;
};

// struct value: a parsed value; s is heap-allocated for a STRING and owned by the holder.
struct value {
    int64_t i;
    double f;
    char *s;
};

// struct seen: the names already warned about during one parse (open addressing, power-of-two
// capacity); owned by that parse.
struct seen {
    char **slot;
    size_t cap;
    size_t n;
};

static const char *const type_name[] = {
    [CORE_REC_INT] = "INT",
    [CORE_REC_STRING] = "STRING",
    [CORE_REC_FLOAT] = "FLOAT",
};

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static struct span span_of(const char *s)
{
    return (struct span){s, strlen(s)};
}

static bool span_eq(struct span a, const char *s)
{
    return strlen(s) == a.len && memcmp(a.p, s, a.len) == 0;
}

static struct span span_trim(struct span a)
{
    while (a.len > 0 && is_blank(a.p[0])) {
        a.p++;
        a.len--;
    }
    while (a.len > 0 && is_blank(a.p[a.len - 1]))
        a.len--;
    return a;
}

// next_word cuts the first blank-separated word off *rest; an empty span when none is left.
static struct span next_word(struct span *rest)
{
    *rest = span_trim(*rest);
    size_t k = 0;
    while (k < rest->len && !is_blank(rest->p[k]))
        k++;
    struct span w = {rest->p, k};
    rest->p += k;
    rest->len -= k;
    return w;
}

static int quote_len(struct span a)
{
    return a.len > QUOTE_MAX ? QUOTE_MAX : (int)a.len;
}

// ---- value syntax ----

static int parse_hex(struct span a, int64_t *out)
{
    uint64_t v = 0;
    if (a.len == 0)
        return -EINVAL;
    for (size_t k = 0; k < a.len; k++) {
        char c = a.p[k];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return -EINVAL;
        if (v > ((uint64_t)INT64_MAX >> 4))
            return -ERANGE;
        v = v << 4 | d;
    }
    *out = (int64_t)v;
    return 0;
}

static int suffix_shift(char c)
{
    // ATS (ink_atoi64) accepts exactly these upper-case multipliers, as powers of 1024.
    switch (c) {
    case 'K':
        return 10;
    case 'M':
        return 20;
    case 'G':
        return 30;
    case 'T':
        return 40;
    default:
        return -1;
    }
}

// parse_int reads [+-]digits[KMGT] or 0xHEX; 0, -EINVAL (syntax) or -ERANGE (overflow).
static int parse_int(struct span a, int64_t *out)
{
    if (a.len > 1 && a.p[0] == '0' && (a.p[1] == 'x' || a.p[1] == 'X'))
        return parse_hex((struct span){a.p + 2, a.len - 2}, out);
    size_t k = 0;
    bool neg = false;
    if (k < a.len && (a.p[k] == '+' || a.p[k] == '-'))
        neg = a.p[k++] == '-';
    if (k == a.len || a.p[k] < '0' || a.p[k] > '9')
        return -EINVAL;
    uint64_t v = 0;
    for (; k < a.len && a.p[k] >= '0' && a.p[k] <= '9'; k++) {
        unsigned d = (unsigned)(a.p[k] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    int shift = 0;
    if (k < a.len && (shift = suffix_shift(a.p[k])) < 0)
        return -EINVAL;
    if (k < a.len && ++k != a.len)
        return -EINVAL;
    if (v > (UINT64_MAX >> shift))
        return -ERANGE;
    v <<= shift;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (v > limit)
        return -ERANGE;
    *out = neg ? (v == 0 ? 0 : -(int64_t)(v - 1) - 1) : (int64_t)v;
    return 0;
}

// parse_float reads what strtod() reads, completely; infinities and NaN are refused.
static int parse_float(struct span a, double *out)
{
    char buf[128];
    if (a.len == 0 || a.len >= sizeof(buf) || is_blank(a.p[0]))
        return -EINVAL;
    memcpy(buf, a.p, a.len);
    buf[a.len] = '\0';
    char *end = NULL;
    errno = 0;
    double v = strtod(buf, &end);
    if (end != buf + a.len)
        return -EINVAL;
    if ((errno == ERANGE && fabs(v) == HUGE_VAL) || !isfinite(v))
        return -ERANGE;
    *out = v;
    return 0;
}

// parse_value parses a (trimmed) value of type into *out; a STRING is copied to the heap.
// 0, -EINVAL, -ERANGE or -ENOMEM.
static int parse_value(enum core_rec_type type, struct span a, struct value *out)
{
    switch (type) {
    case CORE_REC_INT:
        return parse_int(a, &out->i);
    case CORE_REC_FLOAT:
        return parse_float(a, &out->f);
    case CORE_REC_STRING:
        if (memchr(a.p, '\n', a.len) || memchr(a.p, '\0', a.len))
            return -EINVAL;
        if (span_eq(a, "NULL")) // ATS: the value NULL stands for the empty string
            a.len = 0;
        out->s = strndup(a.p, a.len);
        return out->s ? 0 : -ENOMEM;
    }
    return -EINVAL;
}

// rec_assign moves v into rec (taking ownership of v->s).
static void rec_assign(struct rec *rec, struct value *v)
{
    switch (rec->type) {
    case CORE_REC_INT:
        rec->i = v->i;
        break;
    case CORE_REC_FLOAT:
        rec->f = v->f;
        break;
    case CORE_REC_STRING:
        free(rec->s);
        rec->s = v->s;
        v->s = NULL;
        break;
    }
}

// ---- the table ----

static int name_cmp(struct span name, const char *other)
{
    int c = strncmp(name.p, other, name.len);
    if (c != 0)
        return c;
    return other[name.len] == '\0' ? 0 : -1;
}

// rec_find returns the index where name is, or where it would be inserted (*found false).
static size_t rec_find(const struct core_records *r, struct span name, bool *found)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(name, r->rec[mid].name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    *found = false;
    return lo;
}

static struct rec *rec_get(const struct core_records *r, struct span name)
{
    bool found;
    size_t at = rec_find(r, name, &found);
    return found ? &r->rec[at] : NULL;
}

struct core_records *core_records_new(void)
{
    return calloc(1, sizeof(struct core_records));
}

void core_records_free(struct core_records *r)
{
    if (!r)
        return;
    for (size_t k = 0; k < r->n; k++) {
        free(r->rec[k].name);
        free(r->rec[k].s);
    }
    free(r->rec);
    free(r);
}

static int rec_reserve(struct core_records *r)
{
    if (r->n < r->cap)
        return 0;
    size_t cap = r->cap ? r->cap * 2 : 64;
    struct rec *grown = realloc(r->rec, cap * sizeof(*grown));
    if (!grown)
        return -ENOMEM;
    r->rec = grown;
    r->cap = cap;
    return 0;
}

static bool name_valid(const char *name)
{
    if (!name || !*name)
        return false;
    for (const char *c = name; *c; c++)
        if (is_blank(*c) || *c == '\n' || *c == '#')
            return false;
    return true;
}

int core_records_declare(struct core_records *r, const char *name, enum core_rec_type type,
                         const char *default_value)
{
    if (!name_valid(name) || (unsigned)type > CORE_REC_FLOAT)
        return -EINVAL;
    bool found;
    size_t at = rec_find(r, span_of(name), &found);
    if (found)
        return -EEXIST;
    struct value v = {0};
    struct span text = span_trim(span_of(default_value ? default_value : "NULL"));
    int rc = parse_value(type, text, &v);
    if (rc < 0)
        return rc == -ENOMEM ? rc : -EINVAL;
    struct rec rec = {.name = strdup(name), .type = type};
    if (!rec.name || rec_reserve(r) < 0) {
        free(rec.name);
        free(v.s);
        return -ENOMEM;
    }
    rec_assign(&rec, &v);
    memmove(&r->rec[at + 1], &r->rec[at], (r->n - at) * sizeof(struct rec));
    r->rec[at] = rec;
    r->n++;
    return 0;
}

struct core_records *core_records_dup(const struct core_records *r)
{
    struct core_records *d = core_records_new();
    if (!d)
        return NULL;
    d->rec = calloc(r->cap ? r->cap : 1, sizeof(struct rec));
    if (!d->rec)
        goto fail;
    d->cap = r->cap;
    for (size_t k = 0; k < r->n; k++) {
        struct rec *to = &d->rec[k];
        *to = r->rec[k];
        to->s = NULL;
        to->name = strdup(r->rec[k].name);
        d->n = k + 1; // from here on core_records_free() releases this entry
        if (!to->name)
            goto fail;
        if (r->rec[k].s && !(to->s = strdup(r->rec[k].s)))
            goto fail;
    }
    return d;
fail:
    core_records_free(d);
    return NULL;
}

// rec_lookup finds a record a caller of the getters promised is declared as type.
static const struct rec *rec_lookup(const struct core_records *r, const char *name,
                                    enum core_rec_type type)
{
    const struct rec *rec = rec_get(r, span_of(name));
    if (!rec || rec->type != type) // name the culprit: the assertion alone only says where
        core_log_error("records: %s is not declared as %s", name, type_name[type]);
    CORE_ASSERT(rec != NULL);
    CORE_ASSERT(rec->type == type);
    return rec;
}

int64_t core_records_get_int(const struct core_records *r, const char *name)
{
    return rec_lookup(r, name, CORE_REC_INT)->i;
}

double core_records_get_float(const struct core_records *r, const char *name)
{
    return rec_lookup(r, name, CORE_REC_FLOAT)->f;
}

const char *core_records_get_str(const struct core_records *r, const char *name)
{
    return rec_lookup(r, name, CORE_REC_STRING)->s;
}

bool core_records_is_set(const struct core_records *r, const char *name)
{
    const struct rec *rec = rec_get(r, span_of(name));
    CORE_ASSERT(rec != NULL);
    return rec->set;
}

// value_error records why value could not be used for rec.
static void value_error(struct core_err *err, const char *file, int line, const struct rec *rec,
                        struct span value, int rc)
{
    if (rc == -ERANGE)
        core_err_add(err, file, line, "%s: %s value '%.*s' out of range", rec->name,
                     type_name[rec->type], quote_len(value), value.p);
    else if (rc == -ENOMEM)
        core_err_add(err, file, line, "%s: out of memory", rec->name);
    else if (rec->type == CORE_REC_STRING) // never quote a string: it may be a secret
        core_err_add(err, file, line, "%s: STRING value holds a line break or NUL byte", rec->name);
    else
        core_err_add(err, file, line, "%s: bad %s value '%.*s'", rec->name, type_name[rec->type],
                     quote_len(value), value.p);
}

int core_records_set(struct core_records *r, const char *name, const char *value,
                     struct core_err *err)
{
    struct rec *rec = name ? rec_get(r, span_of(name)) : NULL;
    if (!rec) {
        core_err_add(err, NULL, 0, "unknown record name '%s'", name ? name : "(null)");
        return -ENOENT;
    }
    struct span text = span_trim(span_of(value ? value : "NULL"));
    struct value v = {0};
    int rc = parse_value(rec->type, text, &v);
    if (rc < 0) {
        value_error(err, NULL, 0, rec, text, rc);
        return rc == -ENOMEM ? rc : -EINVAL;
    }
    rec_assign(rec, &v);
    rec->set = true;
    return 0;
}

// ---- the parser ----

static uint64_t span_hash(struct span a)
{
    uint64_t h = 14695981039346656037u; // FNV-1a
    for (size_t k = 0; k < a.len; k++)
        h = (h ^ (unsigned char)a.p[k]) * 1099511628211u;
    return h;
}

static int seen_grow(struct seen *s)
{
    size_t cap = s->cap ? s->cap * 2 : 16;
    char **slot = calloc(cap, sizeof(*slot));
    if (!slot)
        return -ENOMEM;
    for (size_t k = 0; k < s->cap; k++) {
        if (!s->slot[k])
            continue;
        size_t at = span_hash(span_of(s->slot[k])) & (cap - 1);
        while (slot[at])
            at = (at + 1) & (cap - 1);
        slot[at] = s->slot[k];
    }
    free(s->slot);
    s->slot = slot;
    s->cap = cap;
    return 0;
}

// seen_add returns 1 when name was added, 0 when it was there already, or -ENOMEM.
static int seen_add(struct seen *s, struct span name)
{
    if ((s->n + 1) * 2 > s->cap && seen_grow(s) < 0)
        return -ENOMEM;
    size_t at = span_hash(name) & (s->cap - 1);
    for (; s->slot[at]; at = (at + 1) & (s->cap - 1))
        if (name_cmp(name, s->slot[at]) == 0)
            return 0;
    if (!(s->slot[at] = strndup(name.p, name.len)))
        return -ENOMEM;
    s->n++;
    return 1;
}

static void seen_fini(struct seen *s)
{
    for (size_t k = 0; k < s->cap; k++)
        free(s->slot[k]);
    free(s->slot);
}

static bool type_parse(struct span word, enum core_rec_type *type)
{
    for (unsigned t = CORE_REC_INT; t <= CORE_REC_FLOAT; t++) {
        if (span_eq(word, type_name[t])) {
            *type = (enum core_rec_type)t;
            return true;
        }
    }
    return false;
}

// parse_line applies one line (without its newline). Problems go to err; returns -ENOMEM only.
static int parse_line(struct core_records *r, struct span line, const char *file, int lineno,
                      struct seen *seen, struct core_err *err)
{
    struct span rest = span_trim(line);
    if (rest.len == 0 || rest.p[0] == '#')
        return 0;
    if (memchr(rest.p, '\0', rest.len)) {
        core_err_add(err, file, lineno, "NUL byte in line");
        return 0;
    }
    struct span kind = next_word(&rest);
    struct span name = next_word(&rest);
    struct span tword = next_word(&rest);
    struct span value = span_trim(rest);
    enum core_rec_type type;
    if (!span_eq(kind, "CONFIG") && !span_eq(kind, "LOCAL")) {
        core_err_add(err, file, lineno, "unknown record class '%.*s' (expected CONFIG or LOCAL)",
                     quote_len(kind), kind.p);
    } else if (value.len == 0) {
        core_err_add(err, file, lineno, "too few fields (expected CONFIG name TYPE value)");
    } else if (!type_parse(tword, &type)) {
        core_err_add(err, file, lineno, "unknown type '%.*s' (expected INT, STRING or FLOAT)",
                     quote_len(tword), tword.p);
    } else {
        struct rec *rec = rec_get(r, name);
        if (!rec) {
            int added = seen_add(seen, name);
            if (added > 0)
                core_err_warn(err, file, lineno, "unknown record name '%.*s', ignored",
                              quote_len(name), name.p);
            return added < 0 ? added : 0;
        }
        if (rec->type != type) {
            core_err_add(err, file, lineno, "%s is declared %s, not %s", rec->name,
                         type_name[rec->type], type_name[type]);
            return 0;
        }
        struct value v = {0};
        int rc = parse_value(type, value, &v);
        if (rc < 0) {
            value_error(err, file, lineno, rec, value, rc);
            return rc == -ENOMEM ? rc : 0;
        }
        rec_assign(rec, &v);
        rec->set = true;
    }
    return 0;
}

int core_records_parse(struct core_records *r, const char *text, size_t len, const char *name,
                       struct core_err *err)
{
    struct seen seen = {0};
    struct core_err local;
    int rc = 0;
    int lineno = 0;
    if (!err) { // still count errors, to return -EINVAL
        core_err_init(&local);
        err = &local;
    }
    int errors_before = err->errors;
    for (size_t at = 0; at < len && rc == 0;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len;
        lineno++;
        rc = parse_line(r, (struct span){text + at, end - at}, name, lineno, &seen, err);
        at = end + 1;
    }
    seen_fini(&seen);
    if (rc < 0) {
        core_err_add(err, name, lineno, "out of memory");
        return rc;
    }
    return err->errors > errors_before ? -EINVAL : 0;
}

int core_records_declare_all(struct core_records *r, const struct core_rec_decl *decls, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = core_records_declare(r, decls[i].name, decls[i].type, decls[i].default_value);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int core_records_load(struct core_records *r, const char *path, struct core_err *err)
{
    size_t len = 0;
    char *text = core_file_read(path, RECORDS_FILE_MAX, &len);
    if (!text) {
        int rc = -errno;
        if (rc != -ENOENT)
            core_err_add(err, path, 0, "cannot read: %s", strerror(-rc));
        return rc;
    }
    int rc;
    rc = core_records_parse(r, text, len, path, err);
    free(text);
    return rc;
}

// float_format writes v with the fewest significant digits that read back to v.
static void float_format(double v, char *buf, size_t len)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

int core_records_write(const struct core_records *r, FILE *out)
{
    for (size_t k = 0; k < r->n; k++) {
        const struct rec *rec = &r->rec[k];
        char num[64];
        const char *value = num;
        if (rec->type == CORE_REC_INT)
            snprintf(num, sizeof(num), "%" PRId64, rec->i);
        else if (rec->type == CORE_REC_FLOAT)
            float_format(rec->f, num, sizeof(num));
        else
            value = rec->s[0] ? rec->s : "NULL";
        if (fprintf(out, "CONFIG %s %s %s\n", rec->name, type_name[rec->type], value) < 0)
            return -EIO;
    }
    return fflush(out) == 0 && !ferror(out) ? 0 : -EIO;
}

int core_records_format(const struct core_records *r, const char *name, char *buf, size_t len)
{
    const struct rec *rec = rec_get(r, span_of(name));
    if (!rec)
        return -ENOENT;
    if (rec->type == CORE_REC_INT)
        snprintf(buf, len, "%" PRId64, rec->i);
    else if (rec->type == CORE_REC_FLOAT)
        float_format(rec->f, buf, len);
    else
        snprintf(buf, len, "%s", rec->s);
    return 0;
}
