// SPDX-License-Identifier: Apache-2.0
// Unit tests for tls/clienthello.c: real captured ClientHellos (whole, split at every byte,
// re-framed into small records, followed by other bytes), hand-built malformed vectors, the
// certificate-type predicates, and a deterministic byte-flipping loop run under ASan.
//
// Every input is handed to the parser in a heap block of exactly its length, so that a read
// past `len` is a heap-buffer-overflow in the sanitizer build.
#include "tls/clienthello.h"

#include "tests/unit/tls/clienthello_data.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#define BIG (6 * (TLS_CH_MAX + 4) + 4096) // a largest hello framed in 1-byte records, plus room

// parse_exact parses a heap copy of buf[0..n) that has no byte to spare.
static enum tls_ch_result parse_exact(const uint8_t *buf, size_t n, struct tls_clienthello *ch)
{
    uint8_t *copy = n > 0 ? malloc(n) : NULL;
    if (n > 0) {
        cr_assert_not_null(copy);
        memcpy(copy, buf, n);
    }
    enum tls_ch_result r = tls_clienthello_parse(copy, n, ch);
    free(copy);
    return r;
}

// ---- captured hellos ----

struct capture {
    const char *name;
    const uint8_t *bytes;
    size_t len;
};

static const struct capture captures[] = {
    {"ossl13_sni_alpn", ch_ossl13_sni_alpn, sizeof(ch_ossl13_sni_alpn)},
    {"ossl12_sni_alpn", ch_ossl12_sni_alpn, sizeof(ch_ossl12_sni_alpn)},
    {"ossl13_nosni", ch_ossl13_nosni, sizeof(ch_ossl13_nosni)},
    {"ossl12_nosni", ch_ossl12_nosni, sizeof(ch_ossl12_nosni)},
    {"ossl13_ecdsa_only", ch_ossl13_ecdsa_only, sizeof(ch_ossl13_ecdsa_only)},
    {"ossl13_rsa_only", ch_ossl13_rsa_only, sizeof(ch_ossl13_rsa_only)},
    {"ossl12_ecdhe_rsa_only", ch_ossl12_ecdhe_rsa_only, sizeof(ch_ossl12_ecdhe_rsa_only)},
    {"ossl12_ecdhe_ecdsa_only", ch_ossl12_ecdhe_ecdsa_only, sizeof(ch_ossl12_ecdhe_ecdsa_only)},
    {"curl_default", ch_curl_default, sizeof(ch_curl_default)},
    {"curl_tls12", ch_curl_tls12, sizeof(ch_curl_tls12)},
};
#define N_CAPTURES (sizeof(captures) / sizeof(captures[0]))

static bool has_version(const struct tls_clienthello *ch, uint16_t v)
{
    for (size_t i = 0; i < ch->n_versions; i++)
        if (ch->versions[i] == v)
            return true;
    return false;
}

// unframe concatenates the record payloads of a well-formed capture into msg; returns its
// length.
static size_t unframe(const uint8_t *rec, size_t n, uint8_t *msg)
{
    size_t out = 0;
    for (size_t i = 0; i + 5 <= n;) {
        size_t len = (size_t)rec[i + 3] << 8 | rec[i + 4];
        memcpy(msg + out, rec + i + 5, len);
        out += len;
        i += 5 + len;
    }
    return out;
}

// frame writes msg[0..n) as handshake records of at most frag bytes, version 0x0301, into out;
// returns the framed length.
static size_t frame(const uint8_t *msg, size_t n, size_t frag, uint8_t *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += frag) {
        size_t k = n - i < frag ? n - i : frag;
        out[o++] = 22;
        out[o++] = 3;
        out[o++] = 1;
        out[o++] = (uint8_t)(k >> 8);
        out[o++] = (uint8_t)k;
        memcpy(out + o, msg + i, k);
        o += k;
    }
    return o;
}

static void assert_same_hello(const struct tls_clienthello *a, const struct tls_clienthello *b,
                              const char *what)
{
    cr_assert_eq(a->record_version, b->record_version, "%s", what);
    cr_assert_eq(a->legacy_version, b->legacy_version, "%s", what);
    cr_assert_arr_eq(a->random, b->random, sizeof(a->random), "%s", what);
    cr_assert_eq(a->session_id_len, b->session_id_len, "%s", what);
    cr_assert_arr_eq(a->session_id, b->session_id, a->session_id_len, "%s", what);
    cr_assert_eq(a->n_ciphers, b->n_ciphers, "%s", what);
    cr_assert_arr_eq(a->ciphers, b->ciphers, a->n_ciphers * 2, "%s", what);
    cr_assert_eq(a->has_extensions, b->has_extensions, "%s", what);
    cr_assert_eq(a->has_sni, b->has_sni, "%s", what);
    cr_assert_str_eq(a->sni, b->sni, "%s", what);
    cr_assert_eq(a->has_alpn, b->has_alpn, "%s", what);
    cr_assert_eq(a->alpn_len, b->alpn_len, "%s", what);
    cr_assert_arr_eq(a->alpn, b->alpn, a->alpn_len, "%s", what);
    cr_assert_eq(a->n_versions, b->n_versions, "%s", what);
    cr_assert_arr_eq(a->versions, b->versions, a->n_versions * 2, "%s", what);
    cr_assert_eq(a->n_sigalgs, b->n_sigalgs, "%s", what);
    cr_assert_arr_eq(a->sigalgs, b->sigalgs, a->n_sigalgs * 2, "%s", what);
    cr_assert_eq(a->n_groups, b->n_groups, "%s", what);
    cr_assert_arr_eq(a->groups, b->groups, a->n_groups * 2, "%s", what);
    cr_assert_eq(a->has_session_ticket, b->has_session_ticket, "%s", what);
    cr_assert_eq(a->has_psk, b->has_psk, "%s", what);
    cr_assert_eq(a->has_early_data, b->has_early_data, "%s", what);
    cr_assert_eq(a->has_renegotiation_info, b->has_renegotiation_info, "%s", what);
}

Test(tls_clienthello, every_capture_parses_whole)
{
    struct tls_clienthello ch;
    for (size_t i = 0; i < N_CAPTURES; i++) {
        const struct capture *c = &captures[i];
        cr_assert_eq(parse_exact(c->bytes, c->len, &ch), TLS_CH_DONE, "%s", c->name);
        cr_assert_eq(ch.length, c->len, "%s", c->name);
        cr_assert_eq(ch.record_version, 0x0301, "%s", c->name);
        cr_assert_eq(ch.legacy_version, 0x0303, "%s", c->name);
        cr_assert(ch.has_extensions, "%s", c->name);
        cr_assert(ch.has_sigalgs && ch.n_sigalgs > 0, "%s", c->name);
        cr_assert(ch.n_ciphers > 0 && !ch.ciphers_truncated, "%s", c->name);
    }
}

Test(tls_clienthello, openssl_tls13_hello_has_sni_alpn_versions)
{
    struct tls_clienthello ch;
    cr_assert_eq(parse_exact(ch_ossl13_sni_alpn, sizeof(ch_ossl13_sni_alpn), &ch), TLS_CH_DONE);
    cr_assert(ch.has_sni);
    cr_assert_str_eq(ch.sni, "a.test");
    cr_assert_eq(ch.sni_len, 6);
    cr_assert(ch.has_alpn);
    cr_assert_eq(ch.alpn_len, 12);
    cr_assert_arr_eq(ch.alpn, "\x02h2\x08http/1.1", 12);
    cr_assert_not(ch.alpn_truncated);
    cr_assert(tls_clienthello_offers_alpn(&ch, "h2"));
    cr_assert(tls_clienthello_offers_alpn(&ch, "http/1.1"));
    cr_assert(ch.has_supported_versions);
    cr_assert_eq(ch.n_versions, 4);
    cr_assert_eq(ch.versions[0], 0x0304);
    cr_assert(has_version(&ch, 0x0303));
    cr_assert_eq(ch.session_id_len, 32); // RFC 8446 D.4 middlebox compatibility
    cr_assert(ch.has_groups && ch.n_groups > 0 && ch.groups[0] == 0x001d);
    cr_assert(ch.has_session_ticket);
}

Test(tls_clienthello, openssl_tls12_hello_has_no_supported_versions)
{
    struct tls_clienthello ch;
    cr_assert_eq(parse_exact(ch_ossl12_sni_alpn, sizeof(ch_ossl12_sni_alpn), &ch), TLS_CH_DONE);
    cr_assert_str_eq(ch.sni, "a.test");
    cr_assert(tls_clienthello_offers_alpn(&ch, "h2"));
    cr_assert(tls_clienthello_offers_alpn(&ch, "http/1.1"));
    cr_assert_not(ch.has_supported_versions);
    cr_assert_eq(ch.n_versions, 0);
    cr_assert_eq(ch.session_id_len, 0);
    // OpenSSL signals secure renegotiation with the SCSV, which stays a cipher suite.
    cr_assert_eq(ch.ciphers[ch.n_ciphers - 1], 0x00ff);
    cr_assert_not(ch.has_renegotiation_info);
}

Test(tls_clienthello, hellos_without_sni_have_no_name)
{
    struct tls_clienthello ch;
    cr_assert_eq(parse_exact(ch_ossl13_nosni, sizeof(ch_ossl13_nosni), &ch), TLS_CH_DONE);
    cr_assert_not(ch.has_sni);
    cr_assert_eq(ch.sni_len, 0);
    cr_assert_str_eq(ch.sni, "");
    cr_assert_not(ch.has_alpn);
    cr_assert_not(tls_clienthello_offers_alpn(&ch, "http/1.1"));
    cr_assert(has_version(&ch, 0x0304));
    cr_assert_eq(parse_exact(ch_ossl12_nosni, sizeof(ch_ossl12_nosni), &ch), TLS_CH_DONE);
    cr_assert_not(ch.has_sni);
    cr_assert_str_eq(ch.sni, "");
}

Test(tls_clienthello, curl_hellos_have_sni_and_alpn)
{
    struct tls_clienthello ch;
    cr_assert_eq(parse_exact(ch_curl_default, sizeof(ch_curl_default), &ch), TLS_CH_DONE);
    cr_assert_str_eq(ch.sni, "a.test");
    cr_assert(tls_clienthello_offers_alpn(&ch, "h2"));
    cr_assert(tls_clienthello_offers_alpn(&ch, "http/1.1"));
    cr_assert(has_version(&ch, 0x0304));
    cr_assert_eq(parse_exact(ch_curl_tls12, sizeof(ch_curl_tls12), &ch), TLS_CH_DONE);
    cr_assert_str_eq(ch.sni, "a.test");
    cr_assert_not(tls_clienthello_offers_alpn(&ch, "h2"));
    cr_assert(tls_clienthello_offers_alpn(&ch, "http/1.1"));
    cr_assert_not(ch.has_supported_versions);
}

Test(tls_clienthello, sni_split_at_every_byte)
{
    struct tls_clienthello ch;
    for (size_t i = 0; i < N_CAPTURES; i++) {
        const struct capture *c = &captures[i];
        for (size_t n = 0; n < c->len; n++)
            cr_assert_eq(parse_exact(c->bytes, n, &ch), TLS_CH_NEED_MORE, "%s: prefix %zu", c->name,
                         n);
    }
}

Test(tls_clienthello, reframed_records_parse_identically)
{
    static const size_t frags[] = {1, 2, 7, 100, 16384};
    static uint8_t msg[BIG], rec[BIG];
    struct tls_clienthello want, got;
    for (size_t i = 0; i < N_CAPTURES; i++) {
        const struct capture *c = &captures[i];
        cr_assert_eq(parse_exact(c->bytes, c->len, &want), TLS_CH_DONE);
        size_t m = unframe(c->bytes, c->len, msg);
        for (size_t f = 0; f < sizeof(frags) / sizeof(frags[0]); f++) {
            size_t n = frame(msg, m, frags[f], rec);
            cr_assert_eq(parse_exact(rec, n, &got), TLS_CH_DONE, "%s/%zu", c->name, frags[f]);
            cr_assert_eq(got.length, n, "%s/%zu", c->name, frags[f]);
            assert_same_hello(&want, &got, c->name);
        }
    }
}

Test(tls_clienthello, reframed_prefixes_need_more)
{
    static uint8_t msg[BIG], rec[BIG];
    struct tls_clienthello ch;
    for (size_t i = 0; i < N_CAPTURES; i++) {
        const struct capture *c = &captures[i];
        size_t n = frame(msg, unframe(c->bytes, c->len, msg), 7, rec);
        for (size_t k = 0; k < n; k++)
            cr_assert_eq(parse_exact(rec, k, &ch), TLS_CH_NEED_MORE, "%s: prefix %zu", c->name, k);
    }
}

Test(tls_clienthello, trailing_bytes_not_counted)
{
    // A TLS 1.3 client may follow its hello with a ChangeCipherSpec and early data records.
    static const uint8_t after[] = {0x14, 0x03, 0x03, 0x00, 0x01, 0x01, 0x17, 0x03,
                                    0x03, 0x00, 0x03, 0xaa, 0xbb, 0xcc, 'G',  'E'};
    static uint8_t buf[BIG];
    struct tls_clienthello ch;
    for (size_t i = 0; i < N_CAPTURES; i++) {
        const struct capture *c = &captures[i];
        memcpy(buf, c->bytes, c->len);
        memcpy(buf + c->len, after, sizeof(after));
        for (size_t extra = 1; extra <= sizeof(after); extra++) {
            cr_assert_eq(parse_exact(buf, c->len + extra, &ch), TLS_CH_DONE, "%s", c->name);
            cr_assert_eq(ch.length, c->len, "%s", c->name);
        }
    }
}

#include "clienthello_builder.h"

Test(tls_clienthello, builder_hello_is_valid)
{
    static struct hb h;
    struct tls_clienthello ch;
    hello_begin(&h);
    ext_sni(&h, "Example.COM", 11);
    hello_end(&h);
    cr_assert_eq(parse_hb(&h, 16384, &ch), TLS_CH_DONE);
    cr_assert_str_eq(ch.sni, "example.com");
    cr_assert_eq(ch.n_ciphers, 2);
    cr_assert_eq(ch.length, h.n + 5);
}

Test(tls_clienthello, hello_without_extensions_is_valid)
{
    static struct hb h;
    struct tls_clienthello ch;
    memset(&h, 0, sizeof(h));
    hb_u8(&h, 1);
    hb_begin(&h, 3);
    hello_fixed(&h);
    hb_end(&h);
    cr_assert_eq(parse_hb(&h, 16384, &ch), TLS_CH_DONE);
    cr_assert_not(ch.has_extensions);
    cr_assert_not(ch.has_sni);
    cr_assert_not(ch.has_sigalgs);
    // A trailing byte inside the message cannot start an extensions block.
    hb_u8(&h, 0);
    h.depth = 1;
    hb_end(&h);
    cr_assert_eq(parse_hb(&h, 16384, &ch), TLS_CH_MALFORMED);
}

Test(tls_clienthello, empty_and_lone_handshake_byte_need_more)
{
    static const uint8_t one[] = {0x16};
    struct tls_clienthello ch;
    cr_assert_eq(parse_exact(NULL, 0, &ch), TLS_CH_NEED_MORE);
    cr_assert_eq(parse_exact(one, 1, &ch), TLS_CH_NEED_MORE);
}

Test(tls_clienthello, plain_http_is_not_tls)
{
    static const char get[] = "GET / HTTP/1.1\r\n";
    struct tls_clienthello ch;
    cr_assert_eq(parse_exact((const uint8_t *)get, strlen(get), &ch), TLS_CH_NOT_TLS);
    cr_assert_eq(parse_exact((const uint8_t *)get, 1, &ch), TLS_CH_NOT_TLS);
}

Test(tls_clienthello, sslv2_hello_is_not_tls)
{
    // SSLv2-compatible CLIENT-HELLO: 2-byte header with the high bit set, msg type 1, version 3.1.
    static const uint8_t v2[] = {0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00};
    static const uint8_t alert[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28};
    struct tls_clienthello ch;
    cr_assert_eq(parse_exact(v2, sizeof(v2), &ch), TLS_CH_NOT_TLS);
    cr_assert_eq(parse_exact(alert, sizeof(alert), &ch), TLS_CH_NOT_TLS);
}

Test(tls_clienthello, wrong_content_type_before_completion_is_malformed)
{
    static uint8_t msg[BIG], rec[BIG];
    struct tls_clienthello ch;
    size_t m = unframe(ch_ossl13_sni_alpn, sizeof(ch_ossl13_sni_alpn), msg);
    size_t n = frame(msg, m, 100, rec);
    rec[105] = 0x17; // second record: application_data
    cr_assert_eq(parse_exact(rec, n, &ch), TLS_CH_MALFORMED);
    cr_assert_eq(parse_exact(rec, 106, &ch), TLS_CH_MALFORMED); // decided on its first byte
    rec[105] = 0x14;                                            // ChangeCipherSpec
    cr_assert_eq(parse_exact(rec, n, &ch), TLS_CH_MALFORMED);
}

Test(tls_clienthello, bad_record_version_is_malformed)
{
    static uint8_t rec[BIG];
    struct tls_clienthello ch;
    size_t n = sizeof(ch_ossl13_sni_alpn);
    static const uint8_t bad[][2] = {{2, 0}, {4, 1}, {3, 5}, {0xfe, 0xfd}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memcpy(rec, ch_ossl13_sni_alpn, n);
        rec[1] = bad[i][0];
        rec[2] = bad[i][1];
        cr_assert_eq(parse_exact(rec, n, &ch), TLS_CH_MALFORMED, "%02x%02x", bad[i][0], bad[i][1]);
        cr_assert_eq(parse_exact(rec, 3, &ch), TLS_CH_MALFORMED, "%02x%02x", bad[i][0], bad[i][1]);
    }
    // SSL 3.0 to TLS 1.3 are all acceptable record versions.
    for (uint8_t minor = 0; minor <= 4; minor++) {
        memcpy(rec, ch_ossl13_sni_alpn, n);
        rec[2] = minor;
        cr_assert_eq(parse_exact(rec, n, &ch), TLS_CH_DONE);
        cr_assert_eq(ch.record_version, 0x0300 | minor);
    }
}

Test(tls_clienthello, bad_version_in_later_record_is_malformed)
{
    static uint8_t msg[BIG], rec[BIG];
    struct tls_clienthello ch;
    size_t n = frame(msg, unframe(ch_ossl13_sni_alpn, sizeof(ch_ossl13_sni_alpn), msg), 100, rec);
    rec[107] = 5;
    cr_assert_eq(parse_exact(rec, n, &ch), TLS_CH_MALFORMED);
}

Test(tls_clienthello, zero_length_record_is_malformed)
{
    static const uint8_t empty_first[] = {0x16, 0x03, 0x01, 0x00, 0x00, 0x16, 0x03, 0x01};
    static uint8_t msg[BIG], rec[BIG];
    struct tls_clienthello ch;
    cr_assert_eq(parse_exact(empty_first, sizeof(empty_first), &ch), TLS_CH_MALFORMED);
    cr_assert_eq(parse_exact(empty_first, 5, &ch), TLS_CH_MALFORMED);
    // An empty record between two fragments of the hello.
    size_t m = unframe(ch_ossl13_sni_alpn, sizeof(ch_ossl13_sni_alpn), msg);
    size_t n = frame(msg, 100, 100, rec);
    static const uint8_t zero[] = {0x16, 0x03, 0x01, 0x00, 0x00};
    memcpy(rec + n, zero, sizeof(zero));
    n += sizeof(zero);
    n += frame(msg + 100, m - 100, 100, rec + n);
    cr_assert_eq(parse_exact(rec, n, &ch), TLS_CH_MALFORMED);
}

Test(tls_clienthello, oversize_record_is_malformed)
{
    static const uint8_t over[] = {0x16, 0x03, 0x01, 0x40, 0x01, 0x01, 0x00, 0x00, 0x30};
    static const uint8_t max[] = {0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00, 0x00, 0x30};
    struct tls_clienthello ch;
    cr_assert_eq(parse_exact(over, sizeof(over), &ch), TLS_CH_MALFORMED);
    cr_assert_eq(parse_exact(over, 5, &ch), TLS_CH_MALFORMED);
    cr_assert_eq(parse_exact(max, sizeof(max), &ch), TLS_CH_NEED_MORE);
}

Test(tls_clienthello, handshake_type_not_client_hello_is_malformed)
{
    static uint8_t rec[BIG];
    struct tls_clienthello ch;
    memcpy(rec, ch_ossl13_sni_alpn, sizeof(ch_ossl13_sni_alpn));
    rec[5] = 2; // ServerHello
    cr_assert_eq(parse_exact(rec, sizeof(ch_ossl13_sni_alpn), &ch), TLS_CH_MALFORMED);
    cr_assert_eq(parse_exact(rec, 6, &ch), TLS_CH_MALFORMED);
}

Test(tls_clienthello, handshake_length_over_max_is_too_large)
{
    // The handshake header alone decides it, even split over 1-byte records.
    static const uint8_t hs[] = {0x01, 0x00, 0x40, 0x01};
    static const uint8_t huge[] = {0x01, 0xff, 0xff, 0xff};
    static const uint8_t max[] = {0x01, 0x00, 0x40, 0x00};
    static uint8_t rec[64];
    struct tls_clienthello ch;
    cr_assert_eq(parse_exact(rec, frame(hs, 4, 4, rec), &ch), TLS_CH_TOO_LARGE);
    cr_assert_eq(parse_exact(rec, frame(hs, 4, 1, rec), &ch), TLS_CH_TOO_LARGE);
    cr_assert_eq(parse_exact(rec, frame(huge, 4, 4, rec), &ch), TLS_CH_TOO_LARGE);
    cr_assert_eq(parse_exact(rec, frame(max, 4, 4, rec), &ch), TLS_CH_NEED_MORE);
}

Test(tls_clienthello, largest_hello_is_accepted)
{
    // A hello whose body is exactly TLS_CH_MAX bytes (padding extension, RFC 7685), in two
    // records because the header makes the message 4 bytes longer than one record holds.
    static struct hb h;
    struct tls_clienthello ch;
    hello_begin(&h);
    ext_sni(&h, "a.test", 6);
    ext_begin(&h, 21);
    size_t pad = TLS_CH_MAX - (h.n - 4);
    memset(h.b + h.n, 0, pad);
    h.n += pad;
    hb_end(&h);
    hello_end(&h);
    cr_assert_eq(h.n, TLS_CH_MAX + 4);
    cr_assert_eq(parse_hb(&h, TLS_CH_RECORD_MAX, &ch), TLS_CH_DONE);
    cr_assert_str_eq(ch.sni, "a.test");
    cr_assert_eq(parse_hb(&h, 1, &ch), TLS_CH_DONE);
    // One byte more is too large.
    h.b[1] = 0x00, h.b[2] = 0x40, h.b[3] = 0x01;
    cr_assert_eq(parse_hb(&h, TLS_CH_RECORD_MAX, &ch), TLS_CH_TOO_LARGE);
}

Test(tls_clienthello, truncated_extensions_block_is_malformed)
{
    // The extensions block announces more bytes than the message holds.
    static struct hb h;
    struct tls_clienthello ch;
    memset(&h, 0, sizeof(h));
    hb_u8(&h, 1);
    hb_begin(&h, 3);
    hello_fixed(&h);
    hb_u16(&h, 100);
    hb_u16(&h, 0x1234);
    hb_u16(&h, 0);
    hb_end(&h);
    cr_assert_eq(parse_hb(&h, 16384, &ch), TLS_CH_MALFORMED);
}

Test(tls_clienthello, trailing_garbage_inside_message_is_malformed)
{
    // The extensions block ends before the message does.
    static struct hb h;
    struct tls_clienthello ch;
    hello_begin(&h);
    ext_sni(&h, "a.test", 6);
    hb_end(&h);
    hb_u16(&h, 0x0000);
    hb_end(&h);
    cr_assert_eq(parse_hb(&h, 16384, &ch), TLS_CH_MALFORMED);
    // Decided as soon as the extensions length is read: record header 5, handshake header 4,
    // version 2, random 32, session id 1, suites 6, compression 2, extensions length 2.
    static uint8_t rec[BIG];
    frame(h.b, h.n, 16384, rec);
    cr_assert_eq(parse_exact(rec, 5 + 4 + 2 + 32 + 1 + 6 + 2 + 2, &ch), TLS_CH_MALFORMED);
    cr_assert_eq(parse_exact(rec, 5 + 4 + 2 + 32 + 1 + 6 + 2 + 1, &ch), TLS_CH_NEED_MORE);
}

Test(tls_clienthello, bytes_left_inside_an_extension_are_malformed)
{
    // Four bytes after the list, shaped like an empty extension 0x1234, must not be read as one.
    struct tls_clienthello ch;
    cr_assert_eq(one_ext(0,
                         "\x00\x09\x00\x00\x06"
                         "a.test\x12\x34\x00\x00",
                         15, &ch),
                 TLS_CH_MALFORMED);
    cr_assert_eq(one_ext(13, "\x00\x02\x04\x03\x12\x34\x00\x00", 8, &ch), TLS_CH_MALFORMED);
    cr_assert_eq(one_ext(13, "\x00\x02\x04\x03", 4, &ch), TLS_CH_DONE);
}

Test(tls_clienthello, extension_length_overrun_is_malformed)
{
    static struct hb h;
    struct tls_clienthello ch;
    hello_begin(&h);
    ext_sni(&h, "a.test", 6);
    hb_u16(&h, 0x1234);
    hb_u16(&h, 5); // five bytes announced, four present
    hb_u16(&h, 0);
    hb_u16(&h, 0);
    hello_end(&h);
    cr_assert_eq(parse_hb(&h, 16384, &ch), TLS_CH_MALFORMED);
}

Test(tls_clienthello, extension_header_cut_by_block_end_is_malformed)
{
    static struct hb h;
    struct tls_clienthello ch;
    hello_begin(&h);
    hb_u16(&h, 0x1234);
    hb_u8(&h, 0);
    hello_end(&h);
    cr_assert_eq(parse_hb(&h, 16384, &ch), TLS_CH_MALFORMED);
}

Test(tls_clienthello, duplicate_extension_is_malformed)
{
    static struct hb h;
    struct tls_clienthello ch;
    hello_begin(&h);
    ext_begin(&h, 0x1234);
    hb_end(&h);
    ext_sni(&h, "a.test", 6);
    ext_begin(&h, 0x1234);
    hb_end(&h);
    hello_end(&h);
    cr_assert_eq(parse_hb(&h, 16384, &ch), TLS_CH_MALFORMED);

    hello_begin(&h);
    ext_sni(&h, "a.test", 6);
    ext_sni(&h, "b.test", 6);
    hello_end(&h);
    cr_assert_eq(parse_hb(&h, 16384, &ch), TLS_CH_MALFORMED);
}

Test(tls_clienthello, sni_with_nul_is_malformed)
{
    struct tls_clienthello ch;
    cr_assert_eq(parse_sni("a.test\0.evil", 12, &ch), TLS_CH_MALFORMED);
    cr_assert_eq(parse_sni("\0", 1, &ch), TLS_CH_MALFORMED);
}

Test(tls_clienthello, sni_of_256_bytes_is_malformed)
{
    char name[256];
    struct tls_clienthello ch;
    memset(name, 'a', sizeof(name));
    cr_assert_eq(parse_sni(name, 256, &ch), TLS_CH_MALFORMED);
    cr_assert_eq(parse_sni(name, 255, &ch), TLS_CH_DONE);
    cr_assert_eq(ch.sni_len, 255);
    cr_assert_eq(strlen(ch.sni), 255);
}

Test(tls_clienthello, empty_sni_is_malformed)
{
    struct tls_clienthello ch;
    cr_assert_eq(parse_sni("", 0, &ch), TLS_CH_MALFORMED);
    cr_assert_eq(parse_sni(".", 1, &ch), TLS_CH_MALFORMED);
}

Test(tls_clienthello, sni_lowercased_and_trailing_dot_stripped)
{
    struct tls_clienthello ch;
    cr_assert_eq(parse_sni("WWW.A.Test.", 11, &ch), TLS_CH_DONE);
    cr_assert_str_eq(ch.sni, "www.a.test");
    cr_assert_eq(ch.sni_len, 10);
}

Test(tls_clienthello, two_host_names_are_malformed)
{
    struct tls_clienthello ch;
    cr_assert_eq(one_ext(0,
                         "\x00\x12\x00\x00\x06"
                         "a.test\x00\x00\x06"
                         "b.test",
                         20, &ch),
                 TLS_CH_MALFORMED);
}

Test(tls_clienthello, sni_inner_lengths_must_agree)
{
    struct tls_clienthello ch;
    cr_assert_eq(one_ext(0,
                         "\x00\x09\x00\x00\x06"
                         "a.test",
                         11, &ch),
                 TLS_CH_DONE);
    // The list is one byte shorter than the extension body.
    cr_assert_eq(one_ext(0,
                         "\x00\x09\x00\x00\x06"
                         "a.test\x00",
                         12, &ch),
                 TLS_CH_MALFORMED);
    // The list runs past the extension body.
    cr_assert_eq(one_ext(0,
                         "\x00\x0a\x00\x00\x06"
                         "a.test",
                         11, &ch),
                 TLS_CH_MALFORMED);
    // The name runs past the list.
    cr_assert_eq(one_ext(0,
                         "\x00\x09\x00\x00\x07"
                         "a.test",
                         11, &ch),
                 TLS_CH_MALFORMED);
    // An empty list, and an empty extension body.
    cr_assert_eq(one_ext(0, "\x00\x00", 2, &ch), TLS_CH_MALFORMED);
    cr_assert_eq(one_ext(0, "", 0, &ch), TLS_CH_MALFORMED);
}

Test(tls_clienthello, unknown_name_type_is_skipped)
{
    struct tls_clienthello ch;
    cr_assert_eq(one_ext(0,
                         "\x00\x0f\x07\x00\x03xyz\x00\x00\x06"
                         "a.test",
                         17, &ch),
                 TLS_CH_DONE);
    cr_assert_str_eq(ch.sni, "a.test");
}

// alpn_hello builds a hello whose ALPN list is raw[0..n).
static enum tls_ch_result alpn_hello(const void *raw, size_t n, struct tls_clienthello *ch)
{
    static struct hb h;
    hello_begin(&h);
    ext_begin(&h, 16);
    hb_begin(&h, 2);
    hb_bytes(&h, raw, n);
    hb_end(&h);
    hb_end(&h);
    hello_end(&h);
    return parse_hb(&h, 16384, ch);
}

Test(tls_clienthello, alpn_empty_protocol_is_malformed)
{
    struct tls_clienthello ch;
    cr_assert_eq(alpn_hello("\x02h2\x00", 4, &ch), TLS_CH_MALFORMED);
    cr_assert_eq(alpn_hello("\x00\x02h2", 4, &ch), TLS_CH_MALFORMED);
    cr_assert_eq(alpn_hello("", 0, &ch), TLS_CH_MALFORMED);
    cr_assert_eq(alpn_hello("\x02h2", 3, &ch), TLS_CH_DONE);
}

Test(tls_clienthello, alpn_overrun_is_malformed)
{
    struct tls_clienthello ch;
    cr_assert_eq(alpn_hello("\x02h2\x09http/1.1", 12, &ch), TLS_CH_MALFORMED);
}

Test(tls_clienthello, alpn_long_list_keeps_whole_entries)
{
    // 3 entries of 200 bytes: two fit in 512 bytes (402), the third is dropped, and so is the
    // short "h2" after it, to keep a prefix of the client's order.
    static uint8_t raw[3 * 201 + 3];
    struct tls_clienthello ch;
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        raw[n++] = 200;
        memset(raw + n, 'a' + i, 200);
        n += 200;
    }
    memcpy(raw + n, "\x02h2", 3);
    n += 3;
    cr_assert_eq(alpn_hello(raw, n, &ch), TLS_CH_DONE);
    cr_assert(ch.alpn_truncated);
    cr_assert_eq(ch.alpn_len, 402);
    cr_assert_arr_eq(ch.alpn, raw, 402);
    cr_assert_not(tls_clienthello_offers_alpn(&ch, "h2"));
}

Test(tls_clienthello, offers_alpn_matches_whole_names_only)
{
    struct tls_clienthello ch;
    cr_assert_eq(alpn_hello("\x02h2\x08http/1.1", 12, &ch), TLS_CH_DONE);
    cr_assert(tls_clienthello_offers_alpn(&ch, "h2"));
    cr_assert(tls_clienthello_offers_alpn(&ch, "http/1.1"));
    cr_assert_not(tls_clienthello_offers_alpn(&ch, "h"));
    cr_assert_not(tls_clienthello_offers_alpn(&ch, "http/1.1x"));
    cr_assert_not(tls_clienthello_offers_alpn(&ch, "http/1.0"));
    cr_assert_not(tls_clienthello_offers_alpn(&ch, ""));
    cr_assert_not(tls_clienthello_offers_alpn(&ch, NULL));
}

// body_hello builds a hello with legacy_version and random, then session id, cipher and
// compression vectors given raw (each with its length prefix), and no extensions.
static enum tls_ch_result body_hello(const void *sid, size_t sid_n, const void *cs, size_t cs_n,
                                     const void *comp, size_t comp_n)
{
    static struct hb h;
    static const uint8_t random[32];
    struct tls_clienthello ch;
    memset(&h, 0, sizeof(h));
    hb_u8(&h, 1);
    hb_begin(&h, 3);
    hb_u16(&h, 0x0303);
    hb_bytes(&h, random, sizeof(random));
    hb_bytes(&h, sid, sid_n);
    hb_bytes(&h, cs, cs_n);
    hb_bytes(&h, comp, comp_n);
    hb_end(&h);
    return parse_hb(&h, 16384, &ch);
}

Test(tls_clienthello, odd_cipher_suites_length_is_malformed)
{
    cr_assert_eq(body_hello("\x00", 1, "\x00\x03\x13\x01\x00", 5, "\x01\x00", 2), TLS_CH_MALFORMED);
    cr_assert_eq(body_hello("\x00", 1, "\x00\x00", 2, "\x01\x00", 2), TLS_CH_MALFORMED);
    cr_assert_eq(body_hello("\x00", 1, "\x00\x02\x13\x01", 4, "\x01\x00", 2), TLS_CH_DONE);
}

Test(tls_clienthello, missing_null_compression_is_malformed)
{
    cr_assert_eq(body_hello("\x00", 1, "\x00\x02\x13\x01", 4, "\x01\x01", 2), TLS_CH_MALFORMED);
    cr_assert_eq(body_hello("\x00", 1, "\x00\x02\x13\x01", 4, "\x00", 1), TLS_CH_MALFORMED);
    cr_assert_eq(body_hello("\x00", 1, "\x00\x02\x13\x01", 4, "\x02\x01\x00", 3), TLS_CH_DONE);
}

Test(tls_clienthello, session_id_over_32_bytes_is_malformed)
{
    uint8_t sid[34] = {33};
    cr_assert_eq(body_hello(sid, 34, "\x00\x02\x13\x01", 4, "\x01\x00", 2), TLS_CH_MALFORMED);
    sid[0] = 32;
    cr_assert_eq(body_hello(sid, 33, "\x00\x02\x13\x01", 4, "\x01\x00", 2), TLS_CH_DONE);
}

Test(tls_clienthello, bytes_after_hello_in_its_record_are_malformed)
{
    static uint8_t rec[BIG];
    struct tls_clienthello ch;
    size_t n = sizeof(ch_ossl13_sni_alpn);
    memcpy(rec, ch_ossl13_sni_alpn, n);
    rec[n] = 0x0b; // the start of another handshake message in the same record
    size_t rl = ((size_t)rec[3] << 8 | rec[4]) + 1;
    rec[3] = (uint8_t)(rl >> 8);
    rec[4] = (uint8_t)rl;
    cr_assert_eq(parse_exact(rec, n + 1, &ch), TLS_CH_MALFORMED);
    cr_assert_eq(parse_exact(rec, n, &ch), TLS_CH_MALFORMED);
}

Test(tls_clienthello, grease_values_are_skipped)
{
    static struct hb h;
    static const uint16_t versions[] = {0x7a7a, 0x0304, 0x0303};
    static const uint16_t groups[] = {0xdada, 0x001d};
    static const uint8_t random[32];
    struct tls_clienthello ch;
    memset(&h, 0, sizeof(h));
    hb_u8(&h, 1);
    hb_begin(&h, 3);
    hb_u16(&h, 0x0303);
    hb_bytes(&h, random, sizeof(random));
    hb_u8(&h, 0);
    hb_begin(&h, 2);
    hb_u16(&h, 0x0a0a);
    hb_u16(&h, 0x1301);
    hb_end(&h);
    hb_begin(&h, 1);
    hb_u8(&h, 0);
    hb_end(&h);
    hb_begin(&h, 2);
    ext_begin(&h, 0x2a2a);
    hb_end(&h);
    ext_u16s(&h, 43, 1, versions, 3);
    ext_u16s(&h, 10, 2, groups, 2);
    hello_end(&h);
    cr_assert_eq(parse_hb(&h, 16384, &ch), TLS_CH_DONE);
    cr_assert_eq(ch.n_ciphers, 1);
    cr_assert_eq(ch.ciphers[0], 0x1301);
    cr_assert_eq(ch.n_versions, 2);
    cr_assert_eq(ch.versions[0], 0x0304);
    cr_assert_eq(ch.n_groups, 1);
    cr_assert_eq(ch.groups[0], 0x001d);
}

Test(tls_clienthello, bad_u16_lists_are_malformed)
{
    struct tls_clienthello ch;
    // supported_versions: odd length, empty, a byte left over, and a good one.
    cr_assert_eq(one_ext(43, "\x03\x03\x04\x03", 4, &ch), TLS_CH_MALFORMED);
    cr_assert_eq(one_ext(43, "\x00", 1, &ch), TLS_CH_MALFORMED);
    cr_assert_eq(one_ext(43, "\x02\x03\x04\x00", 4, &ch), TLS_CH_MALFORMED);
    cr_assert_eq(one_ext(43, "\x02\x03\x04", 3, &ch), TLS_CH_DONE);
    // signature_algorithms and supported_groups the same way.
    cr_assert_eq(one_ext(13, "\x00\x03\x04\x03\x05", 5, &ch), TLS_CH_MALFORMED);
    cr_assert_eq(one_ext(13, "\x00\x00", 2, &ch), TLS_CH_MALFORMED);
    cr_assert_eq(one_ext(10, "\x00\x04\x00\x17", 4, &ch), TLS_CH_MALFORMED);
    cr_assert_eq(one_ext(10, "\x00\x02\x00\x17", 4, &ch), TLS_CH_DONE);
}

// ext_psk writes a pre_shared_key extension with one identity and n_binders binders of
// binder_len bytes.
static void ext_psk(struct hb *h, size_t n_binders, size_t binder_len)
{
    static const uint8_t binder[255];
    ext_begin(h, 41);
    hb_begin(h, 2);
    hb_begin(h, 2);
    hb_bytes(h, "ticket", 6);
    hb_end(h);
    hb_bytes(h, "\0\0\0\0", 4);
    hb_end(h);
    hb_begin(h, 2);
    for (size_t i = 0; i < n_binders; i++) {
        hb_begin(h, 1);
        hb_bytes(h, binder, binder_len);
        hb_end(h);
    }
    hb_end(h);
    hb_end(h);
}

static enum tls_ch_result psk_hello(size_t n_binders, size_t binder_len, bool psk_first,
                                    struct tls_clienthello *ch)
{
    static struct hb h;
    hello_begin(&h);
    if (!psk_first)
        ext_sni(&h, "a.test", 6);
    ext_psk(&h, n_binders, binder_len);
    if (psk_first)
        ext_sni(&h, "a.test", 6);
    hello_end(&h);
    return parse_hb(&h, 16384, ch);
}

Test(tls_clienthello, psk_must_be_last_extension)
{
    struct tls_clienthello ch;
    cr_assert_eq(psk_hello(1, 32, false, &ch), TLS_CH_DONE);
    cr_assert(ch.has_psk);
    cr_assert_eq(psk_hello(1, 32, true, &ch), TLS_CH_MALFORMED);
}

Test(tls_clienthello, psk_needs_one_binder_per_identity)
{
    struct tls_clienthello ch;
    cr_assert_eq(psk_hello(2, 32, false, &ch), TLS_CH_MALFORMED);
    cr_assert_eq(psk_hello(0, 32, false, &ch), TLS_CH_MALFORMED);
    cr_assert_eq(psk_hello(1, 31, false, &ch), TLS_CH_MALFORMED);
    cr_assert_eq(psk_hello(1, 48, false, &ch), TLS_CH_DONE);
}

Test(tls_clienthello, early_data_must_be_empty)
{
    struct tls_clienthello ch;
    cr_assert_eq(one_ext(42, "", 0, &ch), TLS_CH_DONE);
    cr_assert(ch.has_early_data);
    cr_assert_eq(one_ext(42, "\x00", 1, &ch), TLS_CH_MALFORMED);
}

Test(tls_clienthello, session_ticket_and_renegotiation_info_are_seen)
{
    struct tls_clienthello ch;
    cr_assert_eq(one_ext(35, "opaque-ticket", 13, &ch), TLS_CH_DONE);
    cr_assert(ch.has_session_ticket);
    cr_assert_eq(ch.session_ticket_len, 13);
    cr_assert_eq(one_ext(35, "", 0, &ch), TLS_CH_DONE);
    cr_assert(ch.has_session_ticket);
    cr_assert_eq(ch.session_ticket_len, 0);
    cr_assert_eq(one_ext(0xff01, "\x00", 1, &ch), TLS_CH_DONE);
    cr_assert(ch.has_renegotiation_info);
    cr_assert_eq(one_ext(0xff01, "\x01", 1, &ch), TLS_CH_MALFORMED);
    cr_assert_eq(one_ext(0xff01, "", 0, &ch), TLS_CH_MALFORMED);
}

Test(tls_clienthello, result_names)
{
    cr_assert_str_eq(tls_ch_result_name(TLS_CH_DONE), "done");
    cr_assert_str_eq(tls_ch_result_name(TLS_CH_NEED_MORE), "need_more");
    cr_assert_str_eq(tls_ch_result_name(TLS_CH_NOT_TLS), "not_tls");
    cr_assert_str_eq(tls_ch_result_name(TLS_CH_MALFORMED), "malformed");
    cr_assert_str_eq(tls_ch_result_name(TLS_CH_TOO_LARGE), "too_large");
    cr_assert_str_eq(tls_ch_result_name((enum tls_ch_result)42), "unknown");
}

// ---- certificate-type predicates ----

static void parse_capture(const uint8_t *b, size_t n, struct tls_clienthello *ch)
{
    cr_assert_eq(parse_exact(b, n, ch), TLS_CH_DONE);
}

// expect_types asserts which chain types a captured hello accepts from a TLS 1.3 and a TLS 1.2
// server.
static void expect_types(const uint8_t *b, size_t n, bool ec13, bool rsa13, bool ec12, bool rsa12)
{
    struct tls_clienthello ch;
    parse_capture(b, n, &ch);
    cr_assert_eq(tls_clienthello_accepts_ecdsa(&ch, TLS_CH_VERSION_TLS13), ec13);
    cr_assert_eq(tls_clienthello_accepts_rsa(&ch, TLS_CH_VERSION_TLS13), rsa13);
    cr_assert_eq(tls_clienthello_accepts_ecdsa(&ch, TLS_CH_VERSION_TLS12), ec12);
    cr_assert_eq(tls_clienthello_accepts_rsa(&ch, TLS_CH_VERSION_TLS12), rsa12);
}

Test(tls_clienthello, ecdsa_only_tls13_hello_accepts_ecdsa_only)
{
    // On a TLS 1.2 server the ECDHE_ECDSA suites it also offers decide.
    expect_types(ch_ossl13_ecdsa_only, sizeof(ch_ossl13_ecdsa_only), true, false, true, false);
}

Test(tls_clienthello, rsa_only_tls13_hello_accepts_rsa_only)
{
    expect_types(ch_ossl13_rsa_only, sizeof(ch_ossl13_rsa_only), false, true, false, true);
}

Test(tls_clienthello, tls12_ecdhe_rsa_only_hello_accepts_rsa_only)
{
    expect_types(ch_ossl12_ecdhe_rsa_only, sizeof(ch_ossl12_ecdhe_rsa_only), false, true, false,
                 true);
}

Test(tls_clienthello, tls12_ecdhe_ecdsa_only_hello_accepts_ecdsa_only)
{
    struct tls_clienthello ch;
    parse_capture(ch_ossl12_ecdhe_ecdsa_only, sizeof(ch_ossl12_ecdhe_ecdsa_only), &ch);
    cr_assert(tls_clienthello_accepts_ecdsa(&ch, TLS_CH_VERSION_TLS12));
    cr_assert_not(tls_clienthello_accepts_rsa(&ch, TLS_CH_VERSION_TLS12));
}

Test(tls_clienthello, default_hellos_accept_both)
{
    // ossl13_sni_alpn, ossl12_sni_alpn, curl_default, curl_tls12
    static const size_t both[] = {0, 1, 8, 9};
    struct tls_clienthello ch;
    for (size_t i = 0; i < sizeof(both) / sizeof(both[0]); i++) {
        const struct capture *c = &captures[both[i]];
        parse_capture(c->bytes, c->len, &ch);
        for (uint16_t v = TLS_CH_VERSION_TLS12; v <= TLS_CH_VERSION_TLS13; v++) {
            cr_assert(tls_clienthello_accepts_ecdsa(&ch, v), "%s", c->name);
            cr_assert(tls_clienthello_accepts_rsa(&ch, v), "%s", c->name);
        }
    }
}

// pred_hello builds a hello offering suites cs, and (when non-NULL) the given sigalgs, groups
// and supported_versions.
static void pred_hello(struct tls_clienthello *ch, const uint16_t *cs, size_t n_cs,
                       const uint16_t *sig, size_t n_sig, const uint16_t *grp, size_t n_grp,
                       const uint16_t *ver, size_t n_ver)
{
    static struct hb h;
    static const uint8_t random[32];
    memset(&h, 0, sizeof(h));
    hb_u8(&h, 1);
    hb_begin(&h, 3);
    hb_u16(&h, 0x0303);
    hb_bytes(&h, random, sizeof(random));
    hb_u8(&h, 0);
    hb_begin(&h, 2);
    for (size_t i = 0; i < n_cs; i++)
        hb_u16(&h, cs[i]);
    hb_end(&h);
    hb_bytes(&h, "\x01\x00", 2);
    hb_begin(&h, 2);
    if (sig != NULL)
        ext_u16s(&h, 13, 2, sig, n_sig);
    if (grp != NULL)
        ext_u16s(&h, 10, 2, grp, n_grp);
    if (ver != NULL)
        ext_u16s(&h, 43, 1, ver, n_ver);
    hello_end(&h);
    cr_assert_eq(parse_hb(&h, 16384, ch), TLS_CH_DONE);
}

static const uint16_t ecdsa_gcm[] = {0xc02b};
static const uint16_t static_rsa[] = {0x002f};
static const uint16_t tls13_suite[] = {0x1301};
static const uint16_t sig_rsa_only[] = {0x0401, 0x0804};
static const uint16_t sig_ecdsa_sha1[] = {0x0203};
static const uint16_t sig_ecdsa_sha224[] = {0x0303};
static const uint16_t grp_x25519_p384[] = {0x001d, 0x0018};
static const uint16_t grp_p256[] = {0x0017};
static const uint16_t v13[] = {0x0304};

Test(tls_clienthello, tls12_without_sigalgs_takes_sha1_default)
{
    struct tls_clienthello ch;
    pred_hello(&ch, ecdsa_gcm, 1, NULL, 0, NULL, 0, NULL, 0);
    cr_assert(tls_clienthello_accepts_ecdsa(&ch, TLS_CH_VERSION_TLS13));
    cr_assert_not(tls_clienthello_accepts_rsa(&ch, TLS_CH_VERSION_TLS13));
    pred_hello(&ch, static_rsa, 1, NULL, 0, NULL, 0, NULL, 0);
    cr_assert(tls_clienthello_accepts_rsa(&ch, TLS_CH_VERSION_TLS12));
    cr_assert_not(tls_clienthello_accepts_ecdsa(&ch, TLS_CH_VERSION_TLS12));
}

Test(tls_clienthello, tls12_sigalgs_must_hold_a_matching_pair)
{
    struct tls_clienthello ch;
    pred_hello(&ch, ecdsa_gcm, 1, sig_rsa_only, 2, NULL, 0, NULL, 0);
    cr_assert_not(tls_clienthello_accepts_ecdsa(&ch, TLS_CH_VERSION_TLS12));
    pred_hello(&ch, ecdsa_gcm, 1, sig_ecdsa_sha1, 1, NULL, 0, NULL, 0);
    cr_assert(tls_clienthello_accepts_ecdsa(&ch, TLS_CH_VERSION_TLS12));
    // BoringSSL does not sign with SHA-224.
    pred_hello(&ch, ecdsa_gcm, 1, sig_ecdsa_sha224, 1, NULL, 0, NULL, 0);
    cr_assert_not(tls_clienthello_accepts_ecdsa(&ch, TLS_CH_VERSION_TLS12));
    pred_hello(&ch, static_rsa, 1, sig_ecdsa_sha1, 1, NULL, 0, NULL, 0);
    cr_assert_not(tls_clienthello_accepts_rsa(&ch, TLS_CH_VERSION_TLS12));
    pred_hello(&ch, static_rsa, 1, sig_rsa_only, 2, NULL, 0, NULL, 0);
    cr_assert(tls_clienthello_accepts_rsa(&ch, TLS_CH_VERSION_TLS12));
}

Test(tls_clienthello, tls12_ecdsa_needs_p256_when_groups_listed)
{
    struct tls_clienthello ch;
    pred_hello(&ch, ecdsa_gcm, 1, NULL, 0, grp_x25519_p384, 2, NULL, 0);
    cr_assert_not(tls_clienthello_accepts_ecdsa(&ch, TLS_CH_VERSION_TLS12));
    pred_hello(&ch, ecdsa_gcm, 1, NULL, 0, grp_p256, 1, NULL, 0);
    cr_assert(tls_clienthello_accepts_ecdsa(&ch, TLS_CH_VERSION_TLS12));
}

Test(tls_clienthello, tls13_decides_by_sigalgs_alone)
{
    struct tls_clienthello ch;
    // A TLS 1.3-only client without signature_algorithms can use neither chain.
    pred_hello(&ch, tls13_suite, 1, NULL, 0, NULL, 0, v13, 1);
    cr_assert_not(tls_clienthello_accepts_ecdsa(&ch, TLS_CH_VERSION_TLS13));
    cr_assert_not(tls_clienthello_accepts_rsa(&ch, TLS_CH_VERSION_TLS13));
    // ECDHE_ECDSA suites and SHA-1 ECDSA do not help a TLS 1.3 handshake.
    pred_hello(&ch, ecdsa_gcm, 1, sig_ecdsa_sha1, 1, NULL, 0, v13, 1);
    cr_assert_not(tls_clienthello_accepts_ecdsa(&ch, TLS_CH_VERSION_TLS13));
    // rsa_pss_rsae without any TLS 1.2 RSA suite is enough under TLS 1.3 only.
    pred_hello(&ch, tls13_suite, 1, sig_rsa_only, 2, NULL, 0, v13, 1);
    cr_assert(tls_clienthello_accepts_rsa(&ch, TLS_CH_VERSION_TLS13));
    cr_assert_not(tls_clienthello_accepts_rsa(&ch, TLS_CH_VERSION_TLS12));
}

// ---- robustness ----

static uint32_t xorshift32(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

// check_result checks that r is a valid result and, for DONE, that ch stays within its bounds.
static void check_result(size_t n, enum tls_ch_result r, const struct tls_clienthello *ch)
{
    cr_assert(r >= TLS_CH_DONE && r <= TLS_CH_TOO_LARGE, "result %d", (int)r);
    if (r != TLS_CH_DONE)
        return;
    cr_assert(ch->length >= 9 && ch->length <= n);
    cr_assert(ch->sni_len <= TLS_CH_SNI_MAX && strlen(ch->sni) == ch->sni_len);
    cr_assert(ch->alpn_len <= TLS_CH_ALPN_MAX);
    cr_assert(ch->n_versions <= TLS_CH_VERSIONS_MAX && ch->n_sigalgs <= TLS_CH_SIGALGS_MAX);
    cr_assert(ch->n_groups <= TLS_CH_GROUPS_MAX && ch->n_ciphers <= TLS_CH_CIPHERS_MAX);
    cr_assert(ch->session_id_len <= TLS_CH_SESSION_ID_MAX);
    (void)tls_clienthello_offers_alpn(ch, "h2");
    (void)tls_clienthello_accepts_ecdsa(ch, TLS_CH_VERSION_TLS13);
    (void)tls_clienthello_accepts_rsa(ch, TLS_CH_VERSION_TLS12);
}

Test(tls_clienthello, byte_flips_stay_in_bounds)
{
    static uint8_t msg[BIG], rec[BIG];
    uint32_t seed = 0x7e15ed9e;
    struct tls_clienthello ch, pre;
    size_t seen[TLS_CH_TOO_LARGE + 1] = {0};
    for (int iter = 0; iter < 20000; iter++) {
        const struct capture *c = &captures[iter % N_CAPTURES];
        size_t frag = (size_t[]){16384, 1, 7, 100}[(iter / N_CAPTURES) % 4];
        size_t n = frame(msg, unframe(c->bytes, c->len, msg), frag, rec);
        int flips = 1 + (int)(xorshift32(&seed) % 4);
        for (int f = 0; f < flips; f++)
            rec[xorshift32(&seed) % n] ^= (uint8_t)(1 + xorshift32(&seed) % 255);
        uint8_t *copy = malloc(n);
        cr_assert_not_null(copy);
        memcpy(copy, rec, n);
        enum tls_ch_result r = tls_clienthello_parse(copy, n, &ch);
        check_result(n, r, &ch);
        seen[r]++;
        // A decision taken on a prefix is never revised by more bytes.
        size_t k = xorshift32(&seed) % (n + 1);
        enum tls_ch_result rk = parse_exact(copy, k, &pre);
        check_result(k, rk, &pre);
        if (rk != TLS_CH_NEED_MORE) {
            cr_assert_eq(r, rk, "iteration %d: prefix %zu of %zu", iter, k, n);
            if (r == TLS_CH_DONE)
                cr_assert_eq(pre.length, ch.length);
        }
        free(copy);
    }
    // The flips reach deep into the hello: many still parse, many are caught.
    cr_assert_gt(seen[TLS_CH_DONE], 1000);
    cr_assert_gt(seen[TLS_CH_MALFORMED], 1000);
    cr_assert_gt(seen[TLS_CH_NOT_TLS] + seen[TLS_CH_TOO_LARGE] + seen[TLS_CH_NEED_MORE], 0);
}
