// SPDX-License-Identifier: Apache-2.0
// tls/clienthello.c: parses the client's first TLS flight (the ClientHello) out of tlsedge's own
// read buffer, and answers the certificate-type questions asked of it.
//
// The parser walks the input once, front to back, through a reader that hides the record
// layer: it hands out the bytes of the handshake message as if they were contiguous, opening the
// next record header (and checking it) whenever the current record runs out. Nothing is copied
// to reassemble the message, so the parser needs no buffer of its own and never allocates.
//
// Every decision is taken on the bytes read so far and on the length fields, never on how many
// bytes happen to be available: the reader answers NEED_MORE only when it is asked for a byte
// beyond `len`. Hence a strict prefix of a valid flight always gives NEED_MORE, and a violation
// is reported as soon as the byte that shows it has arrived.
#include "tls/clienthello.h"

#include <string.h>

#define CT_HANDSHAKE 22
#define HS_CLIENT_HELLO 1
#define RECORD_HEADER_LEN 5
#define HS_HEADER_LEN 4

#define EXT_SERVER_NAME 0
#define EXT_SUPPORTED_GROUPS 10
#define EXT_SIGALGS 13
#define EXT_ALPN 16
#define EXT_SESSION_TICKET 35
#define EXT_PRE_SHARED_KEY 41
#define EXT_EARLY_DATA 42
#define EXT_SUPPORTED_VERSIONS 43
#define EXT_RENEGOTIATION_INFO 0xff01

// struct reader: a cursor over the handshake message carried by the records of buf.
struct reader {
    const uint8_t *buf;
    size_t len;              // bytes available in buf
    size_t pos;              // offset in buf of the next unread byte
    size_t rec_left;         // payload bytes left in the current record
    size_t nrec;             // records opened so far
    uint16_t record_version; // version of the first record
    size_t off;              // offset in the handshake message (header included) of the next byte
    size_t limit;            // message offset where the innermost open vector ends
    enum tls_ch_result res;  // why the last failing call failed
};

static bool fail(struct reader *r, enum tls_ch_result res)
{
    r->res = res;
    return false;
}

// open_record checks the record header at r->pos byte by byte, so that "GET " is NOT_TLS and a
// bad version is MALFORMED as soon as they show, then enters the record.
static bool open_record(struct reader *r)
{
    const uint8_t *h = r->buf + r->pos;
    size_t avail = r->len - r->pos;

    // Before the ClientHello is complete only handshake records may come (RFC 8446 5.1: a
    // handshake message is never interleaved with other record types). A first byte that is not
    // a handshake record is for the passthrough decision, not an error.
    if (avail >= 1 && h[0] != CT_HANDSHAKE)
        return fail(r, r->nrec == 0 ? TLS_CH_NOT_TLS : TLS_CH_MALFORMED);
    // legacy_record_version: SSL 3.0 to TLS 1.3 (0x0300..0x0304); clients send 0x0301/0x0303.
    if (avail >= 2 && h[1] != 3)
        return fail(r, TLS_CH_MALFORMED);
    if (avail >= 3 && h[2] > 4)
        return fail(r, TLS_CH_MALFORMED);
    if (avail < RECORD_HEADER_LEN)
        return fail(r, TLS_CH_NEED_MORE);
    size_t n = (size_t)h[3] << 8 | h[4];
    // RFC 8446 5.1: at most 2^14 bytes, and zero-length handshake fragments are forbidden.
    if (n == 0 || n > TLS_CH_RECORD_MAX)
        return fail(r, TLS_CH_MALFORMED);
    if (r->nrec == 0)
        r->record_version = (uint16_t)(h[1] << 8 | h[2]);
    r->nrec++;
    r->pos += RECORD_HEADER_LEN;
    r->rec_left = n;
    return true;
}

// take reads n message bytes into dst (or skips them when dst is NULL). Reading past the open
// vector is MALFORMED; reading past len is NEED_MORE.
static bool take(struct reader *r, uint8_t *dst, size_t n)
{
    if (n > r->limit - r->off)
        return fail(r, TLS_CH_MALFORMED);
    while (n > 0) {
        if (r->rec_left == 0 && !open_record(r))
            return false;
        size_t k = r->len - r->pos;
        if (k == 0)
            return fail(r, TLS_CH_NEED_MORE);
        if (k > r->rec_left)
            k = r->rec_left;
        if (k > n)
            k = n;
        if (dst != NULL) {
            memcpy(dst, r->buf + r->pos, k);
            dst += k;
        }
        r->pos += k;
        r->rec_left -= k;
        r->off += k;
        n -= k;
    }
    return true;
}

static bool take_u8(struct reader *r, uint8_t *v)
{
    return take(r, v, 1);
}

static bool take_u16(struct reader *r, uint16_t *v)
{
    uint8_t b[2];
    if (!take(r, b, 2))
        return false;
    *v = (uint16_t)(b[0] << 8 | b[1]);
    return true;
}

static size_t left(const struct reader *r)
{
    return r->limit - r->off;
}

// open_vec reads a vector's length prefix of width bytes (1 or 2), checks that the vector fits
// in the enclosing one and makes it the innermost; *outer keeps the enclosing limit for
// close_vec, *n receives the vector's length.
static bool open_vec(struct reader *r, size_t width, size_t *outer, size_t *n)
{
    uint8_t b[2];
    if (!take(r, b, width))
        return false;
    *n = width == 1 ? b[0] : (size_t)b[0] << 8 | b[1];
    if (*n > left(r))
        return fail(r, TLS_CH_MALFORMED);
    *outer = r->limit;
    r->limit = r->off + *n;
    return true;
}

// close_vec requires the innermost vector to be consumed exactly (no bytes left over inside an
// extension or a list) and returns to the enclosing one.
static bool close_vec(struct reader *r, size_t outer)
{
    if (r->off != r->limit)
        return fail(r, TLS_CH_MALFORMED);
    r->limit = outer;
    return true;
}

static bool is_grease(uint16_t v)
{
    return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

// take_u16_list reads a vector (length prefix of width bytes) of u16 values that must hold at
// least one value (every such list in a ClientHello has a minimum of 2 bytes: RFC 8446 4.1.2,
// 4.2.1, 4.2.3, 4.2.7). Non-GREASE values are kept in out[0..cap); *truncated (may be NULL) is
// set when some did not fit.
static bool take_u16_list(struct reader *r, size_t width, uint16_t *out, size_t cap, size_t *n,
                          bool *truncated)
{
    size_t outer, len;
    if (!open_vec(r, width, &outer, &len))
        return false;
    if (len < 2 || len % 2 != 0)
        return fail(r, TLS_CH_MALFORMED);
    *n = 0;
    while (left(r) > 0) {
        uint16_t v;
        if (!take_u16(r, &v))
            return false;
        if (is_grease(v))
            continue;
        if (*n < cap)
            out[(*n)++] = v;
        else if (truncated != NULL)
            *truncated = true;
    }
    return close_vec(r, outer);
}

// take_host_name reads one HostName of the server_name list (RFC 6066 3) into ch->sni.
static bool take_host_name(struct reader *r, struct tls_clienthello *ch)
{
    size_t outer, len;
    if (!open_vec(r, 2, &outer, &len))
        return false;
    // RFC 6066 3: HostName<1..2^16-1>, and "The ServerNameList MUST NOT contain more than one
    // name of the same name_type". A DNS name is at most 255 bytes (RFC 1035 2.3.4), and a NUL
    // would let "a.test\0.evil" match "a.test" in C string code (BoringSSL rejects it too).
    if (ch->has_sni || len == 0 || len > TLS_CH_SNI_MAX)
        return fail(r, TLS_CH_MALFORMED);
    if (!take(r, (uint8_t *)ch->sni, len))
        return false;
    if (memchr(ch->sni, '\0', len) != NULL)
        return fail(r, TLS_CH_MALFORMED);
    // Names compare case-insensitively (RFC 4343) and "a.test." is "a.test" (RFC 6066 3 says no
    // trailing dot; clients that send one mean the same host).
    for (size_t i = 0; i < len; i++) {
        char c = ch->sni[i];
        if (c >= 'A' && c <= 'Z')
            ch->sni[i] = (char)(c - 'A' + 'a');
    }
    if (ch->sni[len - 1] == '.')
        len--;
    if (len == 0)
        return fail(r, TLS_CH_MALFORMED);
    ch->sni[len] = '\0';
    ch->sni_len = len;
    ch->has_sni = true;
    return close_vec(r, outer);
}

// take_server_name reads the server_name extension body: ServerNameList<1..2^16-1>, which must
// fill the body exactly. Other name types than host_name (none is defined) are skipped with the
// u16 length that RFC 6066 3 suggests servers assume.
static bool take_server_name(struct reader *r, struct tls_clienthello *ch)
{
    size_t outer, len;
    if (!open_vec(r, 2, &outer, &len))
        return false;
    if (len == 0)
        return fail(r, TLS_CH_MALFORMED);
    while (left(r) > 0) {
        uint8_t type;
        if (!take_u8(r, &type))
            return false;
        if (type == 0) {
            if (!take_host_name(r, ch))
                return false;
            continue;
        }
        size_t inner, skip;
        if (!open_vec(r, 2, &inner, &skip) || !take(r, NULL, skip) || !close_vec(r, inner))
            return false;
    }
    return close_vec(r, outer);
}

// take_alpn reads the ALPN extension body (RFC 7301 3.1): ProtocolNameList<2..2^16-1> of
// ProtocolName<1..2^8-1>. Whole entries are copied while they fit in ch->alpn.
static bool take_alpn(struct reader *r, struct tls_clienthello *ch)
{
    size_t outer, len;
    if (!open_vec(r, 2, &outer, &len))
        return false;
    if (len < 2)
        return fail(r, TLS_CH_MALFORMED);
    ch->has_alpn = true;
    while (left(r) > 0) {
        uint8_t plen;
        if (!take_u8(r, &plen))
            return false;
        if (plen == 0 || plen > left(r))
            return fail(r, TLS_CH_MALFORMED);
        // Keep a prefix of the client's preference order: once one entry is dropped, the later
        // ones are dropped too even if they would fit.
        if (!ch->alpn_truncated && ch->alpn_len + 1 + plen <= sizeof(ch->alpn)) {
            ch->alpn[ch->alpn_len] = plen;
            if (!take(r, ch->alpn + ch->alpn_len + 1, plen))
                return false;
            ch->alpn_len += 1 + (size_t)plen;
            continue;
        }
        ch->alpn_truncated = true;
        if (!take(r, NULL, plen))
            return false;
    }
    return close_vec(r, outer);
}

// take_psk_list walks one of the two pre_shared_key vectors (RFC 8446 4.2.11): identities
// (PskIdentity: identity<1..2^16-1>, obfuscated_ticket_age u32) when width is 2, binders
// (PskBinderEntry<32..255>) when width is 1, counting entries into *count.
static bool take_psk_list(struct reader *r, size_t width, size_t min, size_t *count)
{
    size_t outer, len;
    if (!open_vec(r, 2, &outer, &len))
        return false;
    if (len < min)
        return fail(r, TLS_CH_MALFORMED);
    *count = 0;
    while (left(r) > 0) {
        size_t inner, n;
        if (!open_vec(r, width, &inner, &n))
            return false;
        if (n < (width == 1 ? 32u : 1u))
            return fail(r, TLS_CH_MALFORMED);
        if (!take(r, NULL, n) || !close_vec(r, inner))
            return false;
        if (width == 2 && !take(r, NULL, 4))
            return false;
        (*count)++;
    }
    return close_vec(r, outer);
}

// take_psk reads OfferedPsks: identities<7..2^16-1> then binders<33..2^16-1>, one binder per
// identity.
static bool take_psk(struct reader *r, struct tls_clienthello *ch)
{
    size_t identities, binders;
    if (!take_psk_list(r, 2, 7, &identities) || !take_psk_list(r, 1, 33, &binders))
        return false;
    if (identities != binders)
        return fail(r, TLS_CH_MALFORMED);
    ch->has_psk = true;
    return true;
}

// take_ext_body parses the body of one extension of type type, whose vector is open. Unknown
// extensions are skipped.
static bool take_ext_body(struct reader *r, uint16_t type, struct tls_clienthello *ch)
{
    size_t outer, n;
    switch (type) {
    case EXT_SERVER_NAME:
        return take_server_name(r, ch);
    case EXT_ALPN:
        return take_alpn(r, ch);
    case EXT_SUPPORTED_VERSIONS:
        ch->has_supported_versions = true;
        return take_u16_list(r, 1, ch->versions, TLS_CH_VERSIONS_MAX, &ch->n_versions, NULL);
    case EXT_SIGALGS:
        ch->has_sigalgs = true;
        return take_u16_list(r, 2, ch->sigalgs, TLS_CH_SIGALGS_MAX, &ch->n_sigalgs, NULL);
    case EXT_SUPPORTED_GROUPS:
        ch->has_groups = true;
        return take_u16_list(r, 2, ch->groups, TLS_CH_GROUPS_MAX, &ch->n_groups, NULL);
    case EXT_SESSION_TICKET:
        ch->has_session_ticket = true;
        ch->session_ticket_len = left(r);
        return take(r, NULL, left(r));
    case EXT_PRE_SHARED_KEY:
        return take_psk(r, ch);
    case EXT_EARLY_DATA:
        // RFC 8446 4.2.10: in a ClientHello, EarlyDataIndication is an empty struct.
        ch->has_early_data = true;
        return left(r) == 0 || fail(r, TLS_CH_MALFORMED);
    case EXT_RENEGOTIATION_INFO:
        // RFC 5746 3.2: renegotiated_connection<0..255> filling the body exactly.
        ch->has_renegotiation_info = true;
        return open_vec(r, 1, &outer, &n) && take(r, NULL, n) && close_vec(r, outer);
    default:
        return take(r, NULL, left(r));
    }
}

// take_extensions reads the extensions block, which must end exactly where the handshake
// message ends.
static bool take_extensions(struct reader *r, struct tls_clienthello *ch)
{
    // One bit per extension type to find duplicates (RFC 8446 4.2: "There MUST NOT be more than
    // one extension of the same type"): 8 KiB of stack rather than a quadratic scan that a
    // 16 KiB hello of 4,000 empty extensions could make costly.
    uint64_t seen[65536 / 64];
    size_t outer, len;

    memset(seen, 0, sizeof(seen));
    if (!open_vec(r, 2, &outer, &len))
        return false;
    if (r->limit != outer)
        return fail(r, TLS_CH_MALFORMED);
    ch->has_extensions = true;
    while (left(r) > 0) {
        uint16_t type;
        size_t inner, n;
        // RFC 8446 4.2.11: pre_shared_key MUST be the last extension in the ClientHello.
        if (ch->has_psk)
            return fail(r, TLS_CH_MALFORMED);
        if (!take_u16(r, &type))
            return false;
        if (seen[type / 64] & (UINT64_C(1) << (type % 64)))
            return fail(r, TLS_CH_MALFORMED);
        seen[type / 64] |= UINT64_C(1) << (type % 64);
        if (!open_vec(r, 2, &inner, &n) || !take_ext_body(r, type, ch) || !close_vec(r, inner))
            return false;
    }
    return close_vec(r, outer);
}

// take_hello reads the ClientHello body (RFC 8446 4.1.2, RFC 5246 7.4.1.2); the message vector
// is open.
static bool take_hello(struct reader *r, struct tls_clienthello *ch)
{
    size_t outer, n;
    uint8_t method;
    bool null_method = false;

    if (!take_u16(r, &ch->legacy_version) || !take(r, ch->random, sizeof(ch->random)))
        return false;
    // legacy_session_id<0..32>
    if (!open_vec(r, 1, &outer, &n))
        return false;
    if (n > TLS_CH_SESSION_ID_MAX)
        return fail(r, TLS_CH_MALFORMED);
    if (!take(r, ch->session_id, n) || !close_vec(r, outer))
        return false;
    ch->session_id_len = n;
    // cipher_suites<2..2^16-2>
    if (!take_u16_list(r, 2, ch->ciphers, TLS_CH_CIPHERS_MAX, &ch->n_ciphers,
                       &ch->ciphers_truncated))
        return false;
    // legacy_compression_methods<1..2^8-1>, which must offer null (RFC 5246 7.4.1.2).
    if (!open_vec(r, 1, &outer, &n))
        return false;
    if (n == 0)
        return fail(r, TLS_CH_MALFORMED);
    while (left(r) > 0) {
        if (!take_u8(r, &method))
            return false;
        null_method |= method == 0;
    }
    if (!close_vec(r, outer))
        return false;
    if (!null_method)
        return fail(r, TLS_CH_MALFORMED);
    // RFC 5246 7.4.1.2: a hello may end here (no extensions) — TLS 1.0 era clients.
    if (left(r) == 0)
        return true;
    return take_extensions(r, ch);
}

enum tls_ch_result tls_clienthello_parse(const uint8_t *buf, size_t len, struct tls_clienthello *ch)
{
    struct reader r = {.buf = buf, .len = buf != NULL ? len : 0, .limit = HS_HEADER_LEN};
    uint8_t hs[HS_HEADER_LEN];
    size_t outer;

    memset(ch, 0, sizeof(*ch));
    if (!take(&r, hs, 1))
        return r.res;
    if (hs[0] != HS_CLIENT_HELLO)
        return TLS_CH_MALFORMED;
    if (!take(&r, hs + 1, 3))
        return r.res;
    size_t body = (size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3];
    if (body > TLS_CH_MAX)
        return TLS_CH_TOO_LARGE;
    outer = r.limit;
    r.limit = r.off + body;
    if (!take_hello(&r, ch) || !close_vec(&r, outer))
        return r.res;
    // The ClientHello must end its record: nothing else of the handshake may follow it before
    // the server answers, and in TLS 1.3 it precedes a key change when early data follows, so
    // it must end on a record boundary (RFC 8446 5.1).
    if (r.rec_left != 0)
        return TLS_CH_MALFORMED;
    ch->length = r.pos;
    ch->record_version = r.record_version;
    return TLS_CH_DONE;
}

const char *tls_ch_result_name(enum tls_ch_result r)
{
    switch (r) {
    case TLS_CH_DONE:
        return "done";
    case TLS_CH_NEED_MORE:
        return "need_more";
    case TLS_CH_NOT_TLS:
        return "not_tls";
    case TLS_CH_MALFORMED:
        return "malformed";
    case TLS_CH_TOO_LARGE:
        return "too_large";
    }
    return "unknown";
}

bool tls_clienthello_offers_alpn(const struct tls_clienthello *ch, const char *proto)
{
    size_t plen = proto != NULL ? strlen(proto) : 0;
    if (!ch->has_alpn || plen == 0 || plen > 255)
        return false;
    for (size_t i = 0; i < ch->alpn_len; i += 1 + (size_t)ch->alpn[i]) {
        size_t n = ch->alpn[i];
        if (n == plen && i + 1 + n <= ch->alpn_len && memcmp(ch->alpn + i + 1, proto, n) == 0)
            return true;
    }
    return false;
}

static bool has_u16(const uint16_t *v, size_t n, uint16_t x)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == x)
            return true;
    return false;
}

static bool has_any_u16(const uint16_t *v, size_t n, const uint16_t *set, size_t nset)
{
    for (size_t i = 0; i < nset; i++)
        if (has_u16(v, n, set[i]))
            return true;
    return false;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

// The TLS 1.2 suites BoringSSL implements (ssl/ssl_cipher.cc kCiphers), by certificate type.
// Suites no BoringSSL build negotiates (RC4, CAMELLIA, ARIA, CCM, NULL, DHE) are left out on
// purpose: an exotic offer must not steer the choice to a chain the server then cannot use.
static const uint16_t ecdsa_suites[] = {0xc009, 0xc00a, 0xc02b, 0xc02c, 0xcca9};
static const uint16_t rsa_suites[] = {0xc013, 0xc014, 0xc02f, 0xc030, 0xcca8,  // ECDHE_RSA
                                      0x000a, 0x002f, 0x0035, 0x009c, 0x009d}; // RSA
// TLS 1.2 signature pairs BoringSSL signs with (no MD5, no SHA-224).
static const uint16_t ecdsa_sigalgs12[] = {0x0203, 0x0403, 0x0503, 0x0603};
static const uint16_t rsa_sigalgs12[] = {0x0201, 0x0401, 0x0501, 0x0601, 0x0804, 0x0805, 0x0806};
static const uint16_t rsa_pss_rsae[] = {0x0804, 0x0805, 0x0806};
#define ECDSA_SECP256R1_SHA256 0x0403
#define GROUP_SECP256R1 0x0017

// negotiates_tls13 is true when the handshake with ch will be TLS 1.3: the client offers it in
// supported_versions (RFC 8446 4.2.1; legacy_version never says 1.3) and the server allows it.
static bool negotiates_tls13(const struct tls_clienthello *ch, uint16_t max_version)
{
    return max_version >= TLS_CH_VERSION_TLS13 && ch->has_supported_versions &&
           has_u16(ch->versions, ch->n_versions, TLS_CH_VERSION_TLS13);
}

bool tls_clienthello_accepts_ecdsa(const struct tls_clienthello *ch, uint16_t max_version)
{
    // TLS 1.3 suites do not name the certificate type; signature_algorithms alone decides
    // (RFC 8446 4.4.2.2), and for a P-256 key only ecdsa_secp256r1_sha256 will do.
    if (negotiates_tls13(ch, max_version))
        return ch->has_sigalgs && has_u16(ch->sigalgs, ch->n_sigalgs, ECDSA_SECP256R1_SHA256);
    if (!has_any_u16(ch->ciphers, ch->n_ciphers, ecdsa_suites, COUNT(ecdsa_suites)))
        return false;
    // RFC 5246 7.4.1.4.1: without the extension the client is taken to support SHA-1 pairs.
    if (ch->has_sigalgs &&
        !has_any_u16(ch->sigalgs, ch->n_sigalgs, ecdsa_sigalgs12, COUNT(ecdsa_sigalgs12)))
        return false;
    // RFC 8422 5.1: with supported_groups present the certificate's curve must be listed;
    // without it the client supports any curve.
    if (ch->has_groups && !has_u16(ch->groups, ch->n_groups, GROUP_SECP256R1))
        return false;
    return true;
}

bool tls_clienthello_accepts_rsa(const struct tls_clienthello *ch, uint16_t max_version)
{
    if (negotiates_tls13(ch, max_version))
        return ch->has_sigalgs &&
               has_any_u16(ch->sigalgs, ch->n_sigalgs, rsa_pss_rsae, COUNT(rsa_pss_rsae));
    if (!has_any_u16(ch->ciphers, ch->n_ciphers, rsa_suites, COUNT(rsa_suites)))
        return false;
    if (ch->has_sigalgs &&
        !has_any_u16(ch->sigalgs, ch->n_sigalgs, rsa_sigalgs12, COUNT(rsa_sigalgs12)))
        return false;
    return true;
}
