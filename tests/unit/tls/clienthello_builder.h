// SPDX-License-Identifier: Apache-2.0
// tests/unit/tls/clienthello_builder.h: builds synthetic ClientHellos, record by record and
// extension by extension, for tests/unit/tls/test_clienthello.c's malformed vectors. Included by
// that file only (static helpers, no separate object).
#ifndef TLSEDGE_TESTS_CLIENTHELLO_BUILDER_H
#define TLSEDGE_TESTS_CLIENTHELLO_BUILDER_H

// ---- hand-built hellos ----

// struct hb builds a handshake message; begin/end pairs write vector length prefixes.
struct hb {
    uint8_t b[BIG];
    size_t n;
    size_t at[8], width[8];
    size_t depth;
};

static void hb_bytes(struct hb *h, const void *p, size_t n)
{
    memcpy(h->b + h->n, p, n);
    h->n += n;
}

static void hb_u8(struct hb *h, unsigned v)
{
    h->b[h->n++] = (uint8_t)v;
}

static void hb_u16(struct hb *h, unsigned v)
{
    hb_u8(h, v >> 8);
    hb_u8(h, v);
}

static void hb_begin(struct hb *h, size_t width)
{
    h->at[h->depth] = h->n;
    h->width[h->depth++] = width;
    h->n += width;
}

static void hb_end(struct hb *h)
{
    size_t d = --h->depth, len = h->n - h->at[d] - h->width[d];
    for (size_t i = 0; i < h->width[d]; i++)
        h->b[h->at[d] + i] = (uint8_t)(len >> (8 * (h->width[d] - 1 - i)));
}

// hello_fixed writes legacy_version, random, an empty session id, two suites and null
// compression.
static void hello_fixed(struct hb *h)
{
    static const uint8_t random[32] = {0x11, 0x22, 0x33};
    hb_u16(h, 0x0303);
    hb_bytes(h, random, sizeof(random));
    hb_begin(h, 1);
    hb_end(h);
    hb_begin(h, 2);
    hb_u16(h, 0x1301);
    hb_u16(h, 0xc02b);
    hb_end(h);
    hb_begin(h, 1);
    hb_u8(h, 0);
    hb_end(h);
}

// hello_begin starts a ClientHello and opens its extensions block; hello_end closes both.
static void hello_begin(struct hb *h)
{
    memset(h, 0, sizeof(*h));
    hb_u8(h, 1);
    hb_begin(h, 3);
    hello_fixed(h);
    hb_begin(h, 2);
}

static void hello_end(struct hb *h)
{
    hb_end(h);
    hb_end(h);
}

static void ext_begin(struct hb *h, unsigned type)
{
    hb_u16(h, type);
    hb_begin(h, 2);
}

// ext_sni writes a server_name extension with one host_name entry name[0..n).
static void ext_sni(struct hb *h, const char *name, size_t n)
{
    ext_begin(h, 0);
    hb_begin(h, 2);
    hb_u8(h, 0);
    hb_begin(h, 2);
    hb_bytes(h, name, n);
    hb_end(h);
    hb_end(h);
    hb_end(h);
}

// ext_u16s writes extension type with a u16 list (prefix width 1 or 2).
static void ext_u16s(struct hb *h, unsigned type, size_t width, const uint16_t *v, size_t n)
{
    ext_begin(h, type);
    hb_begin(h, width);
    for (size_t i = 0; i < n; i++)
        hb_u16(h, v[i]);
    hb_end(h);
    hb_end(h);
}

// parse_hb frames the message of h in records of at most frag bytes and parses them.
static enum tls_ch_result parse_hb(const struct hb *h, size_t frag, struct tls_clienthello *ch)
{
    static uint8_t rec[BIG];
    return parse_exact(rec, frame(h->b, h->n, frag, rec), ch);
}

static enum tls_ch_result parse_sni(const char *name, size_t n, struct tls_clienthello *ch)
{
    static struct hb h;
    hello_begin(&h);
    ext_sni(&h, name, n);
    hello_end(&h);
    return parse_hb(&h, 16384, ch);
}

// one_ext parses a hello whose only extension is type with the raw body raw[0..n).
static enum tls_ch_result one_ext(unsigned type, const void *raw, size_t n,
                                  struct tls_clienthello *ch)
{
    static struct hb h;
    hello_begin(&h);
    ext_begin(&h, type);
    hb_bytes(&h, raw, n);
    hb_end(&h);
    hello_end(&h);
    return parse_hb(&h, 16384, ch);
}

#endif
