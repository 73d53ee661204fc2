// SPDX-License-Identifier: Apache-2.0
// tls/p11uri.c: the RFC 7512 PKCS#11 URI parser (see tls/p11uri.h).
#include "tls/p11uri.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/mem.h>

enum attr {
    A_TOKEN,
    A_MANUFACTURER,
    A_SERIAL,
    A_MODEL,
    A_SLOT_ID,
    A_OBJECT,
    A_ID,
    A_TYPE,
    A_PIN_VALUE,
    A_PIN_SOURCE,
    A_MODULE_NAME,
    A_MODULE_PATH,
    A_IGNORED, // library-*, slot-manufacturer, slot-description, x-*
};

struct attr_def {
    const char *name;
    enum attr a;
    bool query; // belongs in the query (after '?'), RFC 7512 section 2.3
};

static const struct attr_def defs[] = {
    {"token", A_TOKEN, false},
    {"manufacturer", A_MANUFACTURER, false},
    {"serial", A_SERIAL, false},
    {"model", A_MODEL, false},
    {"slot-id", A_SLOT_ID, false},
    {"object", A_OBJECT, false},
    {"id", A_ID, false},
    {"type", A_TYPE, false},
    {"library-manufacturer", A_IGNORED, false},
    {"library-description", A_IGNORED, false},
    {"library-version", A_IGNORED, false},
    {"slot-manufacturer", A_IGNORED, false},
    {"slot-description", A_IGNORED, false},
    {"pin-value", A_PIN_VALUE, true},
    {"pin-source", A_PIN_SOURCE, true},
    {"module-name", A_MODULE_NAME, true},
    {"module-path", A_MODULE_PATH, true},
};

static void say(char *why, size_t whylen, const char *fmt, ...)
{
    if (!whylen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long tls_p11uri_decode(const char *in, size_t len, uint8_t *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] != '%') {
            out[o++] = (uint8_t)in[i];
            continue;
        }
        int hi = i + 1 < len ? hexval(in[i + 1]) : -1;
        int lo = i + 2 < len ? hexval(in[i + 2]) : -1;
        if (hi < 0 || lo < 0)
            return -1;
        out[o++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return (long)o;
}

static const struct attr_def *find_def(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
        if (strlen(defs[i].name) == len && memcmp(defs[i].name, name, len) == 0)
            return &defs[i];
    return NULL;
}

// Decodes a text value into a new string. Returns 0, -EINVAL (bad escape, embedded NUL) or
// -ENOMEM.
static int text_value(const char *v, size_t len, char **out)
{
    char *s = malloc(len + 1);
    if (!s)
        return -ENOMEM;
    long n = tls_p11uri_decode(v, len, (uint8_t *)s);
    if (n < 0 || memchr(s, '\0', (size_t)n)) {
        OPENSSL_cleanse(s, len + 1);
        free(s);
        return -EINVAL;
    }
    s[n] = '\0';
    *out = s;
    return 0;
}

static char **text_slot(struct tls_p11uri *u, enum attr a)
{
    switch (a) {
    case A_TOKEN:
        return &u->token;
    case A_MANUFACTURER:
        return &u->manufacturer;
    case A_SERIAL:
        return &u->serial;
    case A_MODEL:
        return &u->model;
    case A_OBJECT:
        return &u->object;
    case A_TYPE:
        return &u->type;
    case A_PIN_VALUE:
        return &u->pin_value;
    case A_PIN_SOURCE:
        return &u->pin_source;
    case A_MODULE_NAME:
        return &u->module_name;
    case A_MODULE_PATH:
        return &u->module_path;
    default:
        return NULL;
    }
}

static int set_slot_id(struct tls_p11uri *u, const char *v, size_t len, char *why, size_t wl)
{
    unsigned long n = 0;
    if (len == 0 || len > 19) {
        say(why, wl, "slot-id is not a decimal number");
        return -EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9') {
            say(why, wl, "slot-id is not a decimal number");
            return -EINVAL;
        }
        n = n * 10 + (unsigned long)(v[i] - '0');
    }
    u->has_slot_id = true;
    u->slot_id = n;
    return 0;
}

static int set_id(struct tls_p11uri *u, const char *v, size_t len, char *why, size_t wl)
{
    u->id = malloc(len ? len : 1);
    if (!u->id)
        return -ENOMEM;
    long n = tls_p11uri_decode(v, len, u->id);
    if (n <= 0) {
        say(why, wl, n < 0 ? "id: bad %%-escape" : "id is empty");
        return -EINVAL;
    }
    u->id_len = (size_t)n;
    return 0;
}

// Stores one attribute (name=value, len bytes). seen is a bit set of attributes already given.
static int set_attr(struct tls_p11uri *u, const char *s, size_t len, bool query, unsigned *seen,
                    char *why, size_t wl)
{
    const char *eq = memchr(s, '=', len);
    size_t nlen = eq ? (size_t)(eq - s) : len;
    if (!eq || nlen == 0) {
        say(why, wl, "attribute without a name or '='");
        return -EINVAL;
    }
    const char *v = eq + 1;
    size_t vlen = len - nlen - 1;
    const struct attr_def *d = find_def(s, nlen);
    if (!d && nlen > 2 && s[0] == 'x' && s[1] == '-')
        return 0; // vendor-specific (section 2.3): not ours
    if (!d || d->query != query) {
        say(why, wl, "unknown %s attribute '%.*s'", query ? "query" : "path", (int)nlen, s);
        return -EINVAL;
    }
    if (d->a == A_IGNORED)
        return 0;
    if (*seen & (1u << d->a)) {
        say(why, wl, "attribute '%s' given twice", d->name);
        return -EINVAL;
    }
    *seen |= 1u << d->a;
    if (d->a == A_SLOT_ID)
        return set_slot_id(u, v, vlen, why, wl);
    if (d->a == A_ID)
        return set_id(u, v, vlen, why, wl);
    int rc = text_value(v, vlen, text_slot(u, d->a));
    if (rc == -EINVAL)
        say(why, wl, "%s: bad %%-escape", d->name);
    return rc;
}

// Splits the len bytes at s on sep and stores each attribute.
static int parse_part(struct tls_p11uri *u, const char *s, size_t len, char sep, bool query,
                      unsigned *seen, char *why, size_t wl)
{
    while (len > 0) {
        const char *end = memchr(s, sep, len);
        size_t one = end ? (size_t)(end - s) : len;
        if (one > 0) {
            int rc = set_attr(u, s, one, query, seen, why, wl);
            if (rc < 0)
                return rc;
        }
        if (!end)
            break;
        len -= one + 1;
        s = end + 1;
    }
    return 0;
}

static int check(const struct tls_p11uri *u, char *why, size_t wl)
{
    if (u->type && strcmp(u->type, "private") != 0) {
        say(why, wl, "type must be 'private' for a server key");
        return -EINVAL;
    }
    if (u->pin_value && u->pin_source) {
        say(why, wl, "pin-value and pin-source exclude each other");
        return -EINVAL;
    }
    if (u->module_name && u->module_path) {
        say(why, wl, "module-name and module-path exclude each other");
        return -EINVAL;
    }
    if (!u->object && !u->id) {
        say(why, wl, "the URI names no key (object= or id=)");
        return -EINVAL;
    }
    return 0;
}

int tls_p11uri_parse(const char *uri, struct tls_p11uri *u, char *why, size_t whylen)
{
    memset(u, 0, sizeof(*u));
    if (whylen)
        why[0] = '\0';
    if (strncmp(uri, "pkcs11:", 7) != 0) {
        say(why, whylen, "not a pkcs11: URI");
        return -EINVAL;
    }
    const char *path = uri + 7;
    const char *q = strchr(path, '?');
    size_t plen = q ? (size_t)(q - path) : strlen(path);
    unsigned seen = 0;
    int rc = parse_part(u, path, plen, ';', false, &seen, why, whylen);
    if (rc == 0 && q)
        rc = parse_part(u, q + 1, strlen(q + 1), '&', true, &seen, why, whylen);
    if (rc == 0)
        rc = check(u, why, whylen);
    if (rc == -ENOMEM)
        say(why, whylen, "out of memory");
    if (rc < 0)
        tls_p11uri_fini(u);
    return rc;
}

static void wipe_free(char *s)
{
    if (s)
        OPENSSL_cleanse(s, strlen(s));
    free(s);
}

void tls_p11uri_fini(struct tls_p11uri *u)
{
    free(u->token);
    free(u->manufacturer);
    free(u->serial);
    free(u->model);
    free(u->object);
    free(u->id);
    free(u->type);
    wipe_free(u->pin_value);
    free(u->pin_source);
    free(u->module_name);
    free(u->module_path);
    memset(u, 0, sizeof(*u));
}
