// SPDX-License-Identifier: Apache-2.0
// tls/keyless_proto.h: the keyless protocol, how tlsedge asks a remote signer (the seeds'
// "CryptoProxy"; tlsedge-keyserver in tls/keyserver/) to sign a handshake digest with a private
// key that never leaves the signer.
//
// Transport: a TCP or unix stream connection. The proxy may have many requests in flight on one
// connection; each carries an id chosen by the proxy, and the signer may answer in any order.
// Every message is one frame:
//
//   u32 length (big-endian: the bytes of body that follow, 1..TLS_KEYLESS_FRAME_MAX) | body
//
//   request body: u8 version (1) | u8 op | u16 sigalg | u32 id | u8 key_id[32] |
//                 u16 digest_len | u8 digest[digest_len]                    (42 + digest_len)
//   reply body:   u8 version (1) | u8 status | u32 id | u16 sig_len | u8 sig[sig_len]
//                                                                            (8 + sig_len)
//
// All integers are big-endian. op SIGN asks for a signature of digest, the hash of the message
// to sign under the hash of sigalg (a TLS SignatureScheme, RFC 8446 4.2.3), with the key whose
// id is key_id: the SHA-256 of the DER SubjectPublicKeyInfo of the key's certificate. The
// signer applies the rest of the scheme: PKCS#1 v1.5 DigestInfo and padding (rsa_pkcs1_*), PSS
// with MGF1 of the same hash and a salt as long as the hash (rsa_pss_rsae_*), or ECDSA over the
// digest (ecdsa_*, which also binds the key's curve, as RFC 8446 4.2.3 does for TLS 1.3). A
// reply with status OK carries the signature as TLS sends it: a DER ECDSA-Sig-Value, or the
// RSA signature of the modulus size. op PING (id only: sigalg 0, key_id zeros, digest_len 0) is
// answered with OK and an empty signature; it is the health check. A reply whose status is not
// OK carries no signature.
//
// Two kinds of errors: a frame that breaks the framing rules above (the decoders below answer
// -EBADMSG) makes the receiver close the connection, because nothing after it can be trusted;
// a well-framed request the signer cannot serve (unknown op, key or sigalg, a digest of the
// wrong length) is answered with a status under its id, and the connection goes on.
//
// Everything here is pure and stateless: any thread may call it and no RCU context is needed.
// The codec uses only libc and allocates nothing; tls_keyless_key_id() uses BoringSSL (and a
// transient heap buffer).
#ifndef TLSEDGE_TLS_KEYLESS_PROTO_H
#define TLSEDGE_TLS_KEYLESS_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/base.h>

// TLS_KEYLESS_VERSION is the protocol version in every body's first byte.
#define TLS_KEYLESS_VERSION 1
// TLS_KEYLESS_FRAME_MAX is the largest body length a frame may announce.
#define TLS_KEYLESS_FRAME_MAX 4096
// TLS_KEYLESS_LENGTH_LEN is the size of the length prefix in front of each body.
#define TLS_KEYLESS_LENGTH_LEN 4
// TLS_KEYLESS_KEY_ID_LEN is the size of a key id (a SHA-256 hash).
#define TLS_KEYLESS_KEY_ID_LEN 32
// TLS_KEYLESS_DIGEST_MAX is the longest digest a request may carry (SHA-512).
#define TLS_KEYLESS_DIGEST_MAX 64
// TLS_KEYLESS_SIG_MAX is the longest signature a reply may carry (an 8192-bit RSA key).
#define TLS_KEYLESS_SIG_MAX 1024
// TLS_KEYLESS_REQUEST_HEAD and TLS_KEYLESS_REPLY_HEAD are the fixed parts of the bodies.
#define TLS_KEYLESS_REQUEST_HEAD 42
#define TLS_KEYLESS_REPLY_HEAD 8
// TLS_KEYLESS_REQUEST_FRAME_MAX and TLS_KEYLESS_REPLY_FRAME_MAX are the largest whole frames
// (length prefix included) of each kind: output buffers of these sizes never give -ENOSPC.
#define TLS_KEYLESS_REQUEST_FRAME_MAX                                                              \
    (TLS_KEYLESS_LENGTH_LEN + TLS_KEYLESS_REQUEST_HEAD + TLS_KEYLESS_DIGEST_MAX)
#define TLS_KEYLESS_REPLY_FRAME_MAX                                                                \
    (TLS_KEYLESS_LENGTH_LEN + TLS_KEYLESS_REPLY_HEAD + TLS_KEYLESS_SIG_MAX)

// The signature schemes a signer serves (RFC 8446 4.2.3 code points). Ed25519 and the
// rsa_pss_pss_* schemes are not served: the first signs the whole message, not a digest, and
// the second needs PSS-only keys.
#define TLS_KEYLESS_SIGALG_RSA_PKCS1_SHA256 0x0401
#define TLS_KEYLESS_SIGALG_RSA_PKCS1_SHA384 0x0501
#define TLS_KEYLESS_SIGALG_RSA_PKCS1_SHA512 0x0601
#define TLS_KEYLESS_SIGALG_ECDSA_SECP256R1_SHA256 0x0403
#define TLS_KEYLESS_SIGALG_ECDSA_SECP384R1_SHA384 0x0503
#define TLS_KEYLESS_SIGALG_RSA_PSS_RSAE_SHA256 0x0804
#define TLS_KEYLESS_SIGALG_RSA_PSS_RSAE_SHA384 0x0805
#define TLS_KEYLESS_SIGALG_RSA_PSS_RSAE_SHA512 0x0806

// enum tls_keyless_op: what a request asks for (the op byte).
enum tls_keyless_op {
    TLS_KEYLESS_OP_SIGN = 1, // sign digest with the key key_id under sigalg
    TLS_KEYLESS_OP_PING = 2, // health check: answered OK with an empty signature
};

// enum tls_keyless_status: the outcome of one request (the status byte of its reply).
enum tls_keyless_status {
    TLS_KEYLESS_OK = 0,              // signed (SIGN) or alive (PING)
    TLS_KEYLESS_UNKNOWN_KEY = 1,     // the signer holds no key with this key_id
    TLS_KEYLESS_BAD_REQUEST = 2,     // unknown op, digest_len not the sigalg's hash length, ...
    TLS_KEYLESS_UNSUPPORTED_ALG = 3, // sigalg unknown, or not usable with this key's type/curve
    TLS_KEYLESS_INTERNAL = 4,        // the signer failed (out of memory, signing error)
};

// struct tls_keyless_request: one request, decoded or to encode. Caller storage, no pointers.
// op and sigalg are kept as received, so a signer can answer values it does not know with a
// status; only digest[0..digest_len) is meaningful.
struct tls_keyless_request {
    uint8_t op;      // an enum tls_keyless_op value
    uint16_t sigalg; // TLS SignatureScheme; 0 for PING
    uint32_t id;     // chosen by the requester, echoed in the reply
    uint8_t key_id[TLS_KEYLESS_KEY_ID_LEN];
    uint16_t digest_len; // 0..TLS_KEYLESS_DIGEST_MAX
    uint8_t digest[TLS_KEYLESS_DIGEST_MAX];
};

// struct tls_keyless_reply: one reply, decoded or to encode. Caller storage (about 1 KiB), no
// pointers; only sig[0..sig_len) is meaningful, and sig_len is 0 unless status is OK.
struct tls_keyless_reply {
    uint8_t status; // an enum tls_keyless_status value
    uint32_t id;    // the id of the request this answers
    uint16_t sig_len;
    uint8_t sig[TLS_KEYLESS_SIG_MAX];
};

// tls_keyless_request_encode writes r (borrowed) as one whole frame, length prefix included,
// into out[0..len) (borrowed; may be NULL when len is 0). Returns the number of bytes written
// (42 + 4 + r->digest_len), -EINVAL when r->digest_len exceeds TLS_KEYLESS_DIGEST_MAX, or
// -ENOSPC when len is too small (nothing is then written). op and sigalg are written as given.
int tls_keyless_request_encode(const struct tls_keyless_request *r, uint8_t *out, size_t len);

// tls_keyless_reply_encode writes r (borrowed) as one whole frame into out[0..len) (borrowed;
// may be NULL when len is 0). Returns the number of bytes written (8 + 4 + r->sig_len), -EINVAL
// when r->sig_len exceeds TLS_KEYLESS_SIG_MAX or is not 0 while r->status is not OK, or -ENOSPC
// when len is too small (nothing is then written).
int tls_keyless_reply_encode(const struct tls_keyless_reply *r, uint8_t *out, size_t len);

// tls_keyless_request_decode reads the frame at the start of buf[0..len) (borrowed; the bytes
// received so far on a stream, may be NULL when len is 0) into r (caller storage, overwritten
// only when a whole frame is returned). Returns the size of that frame, length prefix included
// (> 0: the caller drops that many bytes and calls again for the next frame); 0 when buf holds
// a valid prefix of a frame and more bytes are needed; or -EBADMSG when the frame is malformed:
// a length under 42 or over TLS_KEYLESS_FRAME_MAX, a version other than TLS_KEYLESS_VERSION, a
// digest_len over TLS_KEYLESS_DIGEST_MAX, or a length other than 42 + digest_len. A violation is
// reported as soon as the bytes that show it have arrived, so a peer cannot make the caller wait
// for a frame that is already bad.
// After -EBADMSG the connection must be closed. Unknown op or sigalg values are not framing
// errors: they are decoded as received. The frame's first 5 bytes decide the length and the
// version checks; the first 46 the digest_len checks.
int tls_keyless_request_decode(const uint8_t *buf, size_t len, struct tls_keyless_request *r);

// tls_keyless_reply_decode is tls_keyless_request_decode for replies: -EBADMSG for a length under
// 8 or over TLS_KEYLESS_FRAME_MAX, a bad version, a sig_len over TLS_KEYLESS_SIG_MAX, a length
// other than 8 + sig_len, or a sig_len other than 0 with a status other than OK. Any status
// value is decoded as received; the requester treats every one but OK as a failed request.
int tls_keyless_reply_decode(const uint8_t *buf, size_t len, struct tls_keyless_reply *r);

// tls_keyless_sigalg_digest_len returns the digest length (32, 48 or 64) that a SIGN request
// with sigalg must carry, or -ENOTSUP when sigalg is not one of the TLS_KEYLESS_SIGALG_* schemes.
int tls_keyless_sigalg_digest_len(uint16_t sigalg);

// tls_keyless_status_name returns a static name for status ("ok", "unknown_key", "bad_request",
// "unsupported_alg", "internal"; "unknown" for any other value), for logs.
const char *tls_keyless_status_name(uint8_t status);

// tls_keyless_key_id computes the key id of pkey (borrowed; a public or private key) into out:
// the SHA-256 of its public key marshalled as DER SubjectPublicKeyInfo (EVP_marshal_public_key),
// which equals the SHA-256 of the SubjectPublicKeyInfo in the key's certificate when that one is
// DER in the usual form (named curve, uncompressed point). Both ends call this very function on
// the EVP_PKEY they hold (the proxy on X509_get_pubkey() of the certificate), so they agree even
// on unusual encodings. Returns 0, -EINVAL when pkey is NULL or of a type BoringSSL cannot
// marshal, or -ENOMEM. Pure: any thread; the BoringSSL error queue may hold entries on failure.
int tls_keyless_key_id(const EVP_PKEY *pkey, uint8_t out[TLS_KEYLESS_KEY_ID_LEN]);

// tls_keyless_key_id_hex writes id as 64 lower-case hex digits and a NUL into out, for logs
// (a key id is a hash of public data: it may be logged). Returns out.
char *tls_keyless_key_id_hex(const uint8_t id[TLS_KEYLESS_KEY_ID_LEN],
                             char out[2 * TLS_KEYLESS_KEY_ID_LEN + 1]);

#endif
