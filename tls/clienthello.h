// SPDX-License-Identifier: Apache-2.0
// tls/clienthello.h: the ClientHello peeker, a strict parser of the client's first TLS flight.
//
// tlsedge reads the first bytes of a client connection into its own buffer and parses the
// ClientHello before any SSL object exists: the SNI picks the certificate context, ALPN and the
// offered versions/algorithms pick among contexts and chains, and a blind tunnel replays the very
// bytes counted in `length`. The parser is plain C over bytes (it does not use BoringSSL),
// stateless and allocation-free: the caller calls it again with its whole buffer each time more
// bytes arrive, until it answers anything other than TLS_CH_NEED_MORE.
//
// Every function here is pure: any thread may call it, no RCU context is needed. The parser never
// reads past `len` and the result owns no memory and holds no pointer into the input: every
// field is copied into the caller's `struct tls_clienthello` and bounded.
#ifndef TLSEDGE_TLS_CLIENTHELLO_H
#define TLSEDGE_TLS_CLIENTHELLO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// TLS_CH_MAX is the largest ClientHello handshake message body (the 24-bit length field) that is
// accepted; a larger one is TLS_CH_TOO_LARGE. Real hellos are below 2 KiB, post-quantum key
// shares below 4 KiB.
#define TLS_CH_MAX 16384
// TLS_CH_RECORD_MAX is the largest TLSPlaintext.length (RFC 8446 5.1).
#define TLS_CH_RECORD_MAX 16384

// Capacities of struct tls_clienthello: the longest host_name (RFC 1035 2.3.4 bounds a DNS name
// to 255 bytes; a longer one is malformed), then how much of each list is kept (what does not
// fit is dropped, not an error).
#define TLS_CH_SNI_MAX 255
#define TLS_CH_ALPN_MAX 512
#define TLS_CH_SESSION_ID_MAX 32
#define TLS_CH_VERSIONS_MAX 16
#define TLS_CH_SIGALGS_MAX 64
#define TLS_CH_GROUPS_MAX 32
#define TLS_CH_CIPHERS_MAX 128

// Protocol versions as they appear on the wire.
#define TLS_CH_VERSION_TLS12 0x0303
#define TLS_CH_VERSION_TLS13 0x0304

enum tls_ch_result {
    TLS_CH_DONE,      // a complete ClientHello was parsed; the struct is filled
    TLS_CH_NEED_MORE, // the bytes so far are a valid prefix of a ClientHello; read more
    TLS_CH_NOT_TLS,   // the first byte is not a TLS handshake record (plain HTTP, SSLv2, ...)
    TLS_CH_MALFORMED, // a TLS record or handshake that violates RFC 8446/5246 framing or rules
    TLS_CH_TOO_LARGE, // the ClientHello handshake message is longer than TLS_CH_MAX
};

// struct tls_clienthello: what the parser copied out of one ClientHello. Caller storage (about
// 1.6 KiB, no heap, no pointers); filled by tls_clienthello_parse(). Lists drop GREASE values
// (RFC 8701: both bytes equal, low nibble 0xa) and keep the first entries that fit, in the
// client's order. A `has_*` flag tells whether the extension was present at all, since an empty
// list and an absent extension mean different things (RFC 5246 7.4.1.4.1).
struct tls_clienthello {
    size_t length;           // bytes of the input (whole records) that carry the ClientHello
    uint16_t record_version; // TLSPlaintext.legacy_record_version of the first record
    uint16_t legacy_version; // ClientHello.legacy_version (client_version before TLS 1.3)
    uint8_t random[32];
    uint8_t session_id[TLS_CH_SESSION_ID_MAX];
    size_t session_id_len;

    uint16_t ciphers[TLS_CH_CIPHERS_MAX]; // cipher suites offered, GREASE skipped
    size_t n_ciphers;
    bool ciphers_truncated; // more suites were offered than ciphers[] holds

    bool has_extensions; // false for a hello that ends after compression_methods (old clients)

    bool has_sni;                 // a server_name extension carried a host_name entry
    char sni[TLS_CH_SNI_MAX + 1]; // host_name, ASCII lower-cased, one trailing dot removed,
    size_t sni_len;               // NUL-terminated; sni_len excludes the NUL

    bool has_alpn;                 // the ALPN extension was present
    uint8_t alpn[TLS_CH_ALPN_MAX]; // raw protocol_name_list (u8 length + name, ...)
    size_t alpn_len;               // without the list's own u16 length prefix
    bool alpn_truncated;           // entries from the first one that did not fit were dropped

    bool has_supported_versions;
    uint16_t versions[TLS_CH_VERSIONS_MAX];
    size_t n_versions;

    bool has_sigalgs; // signature_algorithms present
    uint16_t sigalgs[TLS_CH_SIGALGS_MAX];
    size_t n_sigalgs;

    bool has_groups; // supported_groups present
    uint16_t groups[TLS_CH_GROUPS_MAX];
    size_t n_groups;

    bool has_session_ticket;     // session_ticket extension present (RFC 5077)
    size_t session_ticket_len;   // 0: the client asks for a ticket; > 0: it offers one
    bool has_psk;                // pre_shared_key present (it was the last extension)
    bool has_early_data;         // early_data present (empty, as RFC 8446 4.2.10 requires)
    bool has_renegotiation_info; // the renegotiation_info extension (not the SCSV, which stays
                                 // in ciphers[] as 0x00ff)
};

// tls_clienthello_parse parses the first TLS flight of a connection held in buf[0..len) into
// ch. buf is borrowed and may be NULL when len is 0; ch is caller storage that is overwritten
// (zeroed first). Call it again with the whole buffer each time more bytes arrive. It uses
// about 9 KiB of stack (a bitmap of the extension types seen) and no heap.
//
// Returns TLS_CH_DONE when buf starts with whole handshake records (type 22, version 3.0 to
// 3.4, length 1..16384) that carry exactly one complete ClientHello (which may span several
// records); ch->length then counts those records, and the bytes after them (a
// ChangeCipherSpec, early data) are not part of it. A record whose payload goes on past the end
// of the ClientHello is malformed. Returns TLS_CH_NEED_MORE while the bytes are a valid prefix
// of such a flight (every strict prefix of a valid flight gives NEED_MORE, never anything else);
// TLS_CH_NOT_TLS when the first byte is not 22 (the handshake content type); TLS_CH_MALFORMED
// for any violation of record or ClientHello framing, of the extension rules (duplicate
// extension types, pre_shared_key not last, non-empty early_data, a bad server_name or ALPN
// list), or a record of another content type before the ClientHello is complete; and
// TLS_CH_TOO_LARGE as soon as the handshake header announces more than TLS_CH_MAX bytes. For
// every result but DONE the contents of ch are unspecified.
//
// A caller that bounds its read buffer must give up (as TOO_LARGE) when the buffer is full and
// the answer is still NEED_MORE: a 16 KiB hello split into 1-byte records takes 6 bytes per byte.
enum tls_ch_result tls_clienthello_parse(const uint8_t *buf, size_t len,
                                         struct tls_clienthello *ch);

// tls_ch_result_name returns a static lower-case name for r ("done", "need_more", "not_tls",
// "malformed", "too_large"; "unknown" for any other value), for logs.
const char *tls_ch_result_name(enum tls_ch_result r);

// tls_clienthello_offers_alpn is true when the ALPN list of ch (borrowed, filled by a DONE
// parse) contains the protocol named by the NUL-terminated string proto (e.g. "http/1.1"), by
// exact byte comparison. False when ch has no ALPN extension, when proto is NULL, empty or
// longer than 255 bytes, or when the entry was among those dropped by alpn_truncated.
bool tls_clienthello_offers_alpn(const struct tls_clienthello *ch, const char *proto);

// tls_clienthello_accepts_ecdsa is true when the client of ch (borrowed, filled by a DONE parse)
// can complete a handshake with a P-256 ECDSA certificate chain, given max_version, the highest
// version the server will negotiate (TLS_CH_VERSION_TLS13 or TLS_CH_VERSION_TLS12). It is used to
// choose between the ECDSA and the RSA chain of one ssl_multicert line.
// - TLS 1.3 (ch offers 0x0304 in supported_versions and max_version >= 0x0304): true only when
//   signature_algorithms holds ecdsa_secp256r1_sha256 (0x0403).
// - Otherwise TLS 1.2 rules: an ECDHE_ECDSA suite that BoringSSL implements must be offered; if
//   signature_algorithms is present it must hold an ECDSA pair BoringSSL can sign with (SHA-1,
//   SHA-256, -384 or -512; absent means the RFC 5246 7.4.1.4.1 default, SHA-1, allowed); and if
//   supported_groups is present it must hold secp256r1, the certificate's curve (RFC 8422 5.1).
bool tls_clienthello_accepts_ecdsa(const struct tls_clienthello *ch, uint16_t max_version);

// tls_clienthello_accepts_rsa is the RSA counterpart of tls_clienthello_accepts_ecdsa:
// - TLS 1.3: true when signature_algorithms holds an rsa_pss_rsae scheme (0x0804, 0x0805,
//   0x0806).
// - TLS 1.2: an ECDHE_RSA or static-RSA suite that BoringSSL implements must be offered and, if
//   signature_algorithms is present, it must hold an RSA PKCS#1 pair BoringSSL can sign with
//   (SHA-1, -256, -384, -512) or an rsa_pss_rsae scheme.
bool tls_clienthello_accepts_rsa(const struct tls_clienthello *ch, uint16_t max_version);

#endif
