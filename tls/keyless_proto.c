// SPDX-License-Identifier: Apache-2.0
// tls/keyless_proto.c: encodes and decodes the frames of the keyless protocol (see
// tls/keyless_proto.h), and computes key ids.
//
// The decoders are written for a stream: they look only at the bytes that have arrived, decide
// on the length fields, and check each field as soon as it is there, so a frame that is already
// known to be bad is never waited for. They copy what they decode; the result holds no pointer
// into the input.
#include "tls/keyless_proto.h"

#include <errno.h>
#include <string.h>

#include <openssl/bytestring.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/sha.h>

_Static_assert(TLS_KEYLESS_REQUEST_FRAME_MAX <= TLS_KEYLESS_LENGTH_LEN + TLS_KEYLESS_FRAME_MAX,
               "a largest request must fit in a frame");
_Static_assert(TLS_KEYLESS_REPLY_FRAME_MAX <= TLS_KEYLESS_LENGTH_LEN + TLS_KEYLESS_FRAME_MAX,
               "a largest reply must fit in a frame");

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int tls_keyless_request_encode(const struct tls_keyless_request *r, uint8_t *out, size_t len)
{
    if (r->digest_len > TLS_KEYLESS_DIGEST_MAX)
        return -EINVAL;
    size_t body = TLS_KEYLESS_REQUEST_HEAD + r->digest_len;
    if (len < TLS_KEYLESS_LENGTH_LEN + body)
        return -ENOSPC;
    uint8_t *p = out;
    put32(p, (uint32_t)body);
    p += TLS_KEYLESS_LENGTH_LEN;
    p[0] = TLS_KEYLESS_VERSION;
    p[1] = r->op;
    put16(p + 2, r->sigalg);
    put32(p + 4, r->id);
    memcpy(p + 8, r->key_id, TLS_KEYLESS_KEY_ID_LEN);
    put16(p + 40, r->digest_len);
    memcpy(p + TLS_KEYLESS_REQUEST_HEAD, r->digest, r->digest_len);
    return (int)(TLS_KEYLESS_LENGTH_LEN + body);
}

int tls_keyless_reply_encode(const struct tls_keyless_reply *r, uint8_t *out, size_t len)
{
    if (r->sig_len > TLS_KEYLESS_SIG_MAX || (r->status != TLS_KEYLESS_OK && r->sig_len != 0))
        return -EINVAL;
    size_t body = TLS_KEYLESS_REPLY_HEAD + r->sig_len;
    if (len < TLS_KEYLESS_LENGTH_LEN + body)
        return -ENOSPC;
    uint8_t *p = out;
    put32(p, (uint32_t)body);
    p += TLS_KEYLESS_LENGTH_LEN;
    p[0] = TLS_KEYLESS_VERSION;
    p[1] = r->status;
    put32(p + 2, r->id);
    put16(p + 6, r->sig_len);
    memcpy(p + TLS_KEYLESS_REPLY_HEAD, r->sig, r->sig_len);
    return (int)(TLS_KEYLESS_LENGTH_LEN + body);
}

// frame_check checks what has arrived of the frame at buf[0..len): the length prefix (not 0,
// at most TLS_KEYLESS_FRAME_MAX, at least head) and the version byte. Returns the body length
// (> 0), 0 when the prefix is not complete yet, or -EBADMSG.
static int frame_check(const uint8_t *buf, size_t len, size_t head)
{
    if (len < TLS_KEYLESS_LENGTH_LEN)
        return 0;
    uint32_t body = get32(buf);
    if (body < head || body > TLS_KEYLESS_FRAME_MAX)
        return -EBADMSG;
    if (len > TLS_KEYLESS_LENGTH_LEN && buf[TLS_KEYLESS_LENGTH_LEN] != TLS_KEYLESS_VERSION)
        return -EBADMSG;
    return (int)body;
}

int tls_keyless_request_decode(const uint8_t *buf, size_t len, struct tls_keyless_request *r)
{
    int body = frame_check(buf, len, TLS_KEYLESS_REQUEST_HEAD);
    if (body <= 0)
        return body;
    if (len < TLS_KEYLESS_LENGTH_LEN + TLS_KEYLESS_REQUEST_HEAD)
        return 0;
    const uint8_t *p = buf + TLS_KEYLESS_LENGTH_LEN;
    uint16_t digest_len = get16(p + 40);
    if (digest_len > TLS_KEYLESS_DIGEST_MAX || body != TLS_KEYLESS_REQUEST_HEAD + digest_len)
        return -EBADMSG;
    if (len < TLS_KEYLESS_LENGTH_LEN + (size_t)body)
        return 0;
    r->op = p[1];
    r->sigalg = get16(p + 2);
    r->id = get32(p + 4);
    memcpy(r->key_id, p + 8, TLS_KEYLESS_KEY_ID_LEN);
    r->digest_len = digest_len;
    memcpy(r->digest, p + TLS_KEYLESS_REQUEST_HEAD, digest_len);
    memset(r->digest + digest_len, 0, sizeof(r->digest) - digest_len);
    return TLS_KEYLESS_LENGTH_LEN + body;
}

int tls_keyless_reply_decode(const uint8_t *buf, size_t len, struct tls_keyless_reply *r)
{
    int body = frame_check(buf, len, TLS_KEYLESS_REPLY_HEAD);
    if (body <= 0)
        return body;
    if (len < TLS_KEYLESS_LENGTH_LEN + TLS_KEYLESS_REPLY_HEAD)
        return 0;
    const uint8_t *p = buf + TLS_KEYLESS_LENGTH_LEN;
    uint16_t sig_len = get16(p + 6);
    if (sig_len > TLS_KEYLESS_SIG_MAX || body != TLS_KEYLESS_REPLY_HEAD + sig_len)
        return -EBADMSG;
    if (p[1] != TLS_KEYLESS_OK && sig_len != 0)
        return -EBADMSG;
    if (len < TLS_KEYLESS_LENGTH_LEN + (size_t)body)
        return 0;
    r->status = p[1];
    r->id = get32(p + 2);
    r->sig_len = sig_len;
    memcpy(r->sig, p + TLS_KEYLESS_REPLY_HEAD, sig_len);
    return TLS_KEYLESS_LENGTH_LEN + body;
}

int tls_keyless_sigalg_digest_len(uint16_t sigalg)
{
    switch (sigalg) {
    case TLS_KEYLESS_SIGALG_RSA_PKCS1_SHA256:
    case TLS_KEYLESS_SIGALG_ECDSA_SECP256R1_SHA256:
    case TLS_KEYLESS_SIGALG_RSA_PSS_RSAE_SHA256:
        return 32;
    case TLS_KEYLESS_SIGALG_RSA_PKCS1_SHA384:
    case TLS_KEYLESS_SIGALG_ECDSA_SECP384R1_SHA384:
    case TLS_KEYLESS_SIGALG_RSA_PSS_RSAE_SHA384:
        return 48;
    case TLS_KEYLESS_SIGALG_RSA_PKCS1_SHA512:
    case TLS_KEYLESS_SIGALG_RSA_PSS_RSAE_SHA512:
        return 64;
    default:
        return -ENOTSUP;
    }
}

const char *tls_keyless_status_name(uint8_t status)
{
    switch (status) {
    case TLS_KEYLESS_OK:
        return "ok";
    case TLS_KEYLESS_UNKNOWN_KEY:
        return "unknown_key";
    case TLS_KEYLESS_BAD_REQUEST:
        return "bad_request";
    case TLS_KEYLESS_UNSUPPORTED_ALG:
        return "unsupported_alg";
    case TLS_KEYLESS_INTERNAL:
        return "internal";
    default:
        return "unknown";
    }
}

int tls_keyless_key_id(const EVP_PKEY *pkey, uint8_t out[TLS_KEYLESS_KEY_ID_LEN])
{
    CBB cbb;
    uint8_t *der = NULL;
    size_t der_len = 0;
    int rc = -EINVAL;

    if (!pkey)
        return -EINVAL;
    if (!CBB_init(&cbb, 256))
        return -ENOMEM;
    if (!EVP_marshal_public_key(&cbb, pkey))
        goto out;
    rc = -ENOMEM;
    if (!CBB_finish(&cbb, &der, &der_len))
        goto out;
    SHA256(der, der_len, out);
    rc = 0;
out:
    OPENSSL_free(der);
    CBB_cleanup(&cbb);
    return rc;
}

char *tls_keyless_key_id_hex(const uint8_t id[TLS_KEYLESS_KEY_ID_LEN],
                             char out[2 * TLS_KEYLESS_KEY_ID_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < TLS_KEYLESS_KEY_ID_LEN; i++) {
        out[2 * i] = digits[id[i] >> 4];
        out[2 * i + 1] = digits[id[i] & 15];
    }
    out[2 * TLS_KEYLESS_KEY_ID_LEN] = '\0';
    return out;
}
