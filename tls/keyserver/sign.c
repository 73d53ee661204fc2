// SPDX-License-Identifier: Apache-2.0
// tls/keyserver/sign.c: what each signature scheme means for a key, and the signing itself.
//
// A request carries the digest, so each scheme reduces to a hash (for its length, its DigestInfo
// or its PSS parameters) and a padding: RSASSA-PKCS1-v1_5 (RFC 8017 8.2), RSASSA-PSS with MGF1
// of the same hash and a salt as long as the hash (RFC 8446 4.2.3 for rsa_pss_rsae_*), or ECDSA
// over the digest with a DER ECDSA-Sig-Value (RFC 8446 4.2.3, RFC 4492 5.4).
#include "tls/keyserver/keyserver.h"

#include <string.h>

#include <openssl/digest.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/nid.h>
#include <openssl/rsa.h>

enum padding {
    PAD_PKCS1,
    PAD_PSS,
    PAD_ECDSA,
};

// struct scheme: one served TLS SignatureScheme.
struct scheme {
    uint16_t sigalg;
    enum padding pad;
    int hash_nid;
    enum ks_key_type ec_type; // the curve an ECDSA scheme is bound to
};

static const struct scheme schemes[] = {
    {TLS_KEYLESS_SIGALG_RSA_PKCS1_SHA256, PAD_PKCS1, NID_sha256, KS_KEY_RSA},
    {TLS_KEYLESS_SIGALG_RSA_PKCS1_SHA384, PAD_PKCS1, NID_sha384, KS_KEY_RSA},
    {TLS_KEYLESS_SIGALG_RSA_PKCS1_SHA512, PAD_PKCS1, NID_sha512, KS_KEY_RSA},
    {TLS_KEYLESS_SIGALG_RSA_PSS_RSAE_SHA256, PAD_PSS, NID_sha256, KS_KEY_RSA},
    {TLS_KEYLESS_SIGALG_RSA_PSS_RSAE_SHA384, PAD_PSS, NID_sha384, KS_KEY_RSA},
    {TLS_KEYLESS_SIGALG_RSA_PSS_RSAE_SHA512, PAD_PSS, NID_sha512, KS_KEY_RSA},
    {TLS_KEYLESS_SIGALG_ECDSA_SECP256R1_SHA256, PAD_ECDSA, NID_sha256, KS_KEY_EC_P256},
    {TLS_KEYLESS_SIGALG_ECDSA_SECP384R1_SHA384, PAD_ECDSA, NID_sha384, KS_KEY_EC_P384},
};

static const struct scheme *find_scheme(uint16_t sigalg)
{
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
        if (schemes[i].sigalg == sigalg)
            return &schemes[i];
    return NULL;
}

// fits tells whether key can sign under s. ECDSA schemes are bound to their curve, as TLS 1.3
// requires (RFC 8446 4.2.3); PSS needs emLen >= hLen + sLen + 2 with sLen = hLen (RFC 8017
// 9.1.1), which a 1024-bit key misses for SHA-512.
static bool fits(const struct ks_key *key, const struct scheme *s, size_t hash_len)
{
    if (s->pad == PAD_ECDSA)
        return key->type == s->ec_type;
    if (key->type != KS_KEY_RSA)
        return false;
    if (s->pad == PAD_PSS)
        return RSA_size(key->rsa) >= 2 * hash_len + 2;
    return true;
}

uint8_t ks_sign_check(const struct ks_keys *keys, const struct tls_keyless_request *req,
                      const struct ks_key **key)
{
    *key = NULL;
    if (req->op == TLS_KEYLESS_OP_PING)
        return req->digest_len == 0 ? TLS_KEYLESS_OK : TLS_KEYLESS_BAD_REQUEST;
    if (req->op != TLS_KEYLESS_OP_SIGN)
        return TLS_KEYLESS_BAD_REQUEST;
    const struct ks_key *k = ks_keys_find(keys, req->key_id);
    if (!k)
        return TLS_KEYLESS_UNKNOWN_KEY;
    const struct scheme *s = find_scheme(req->sigalg);
    int hash_len = tls_keyless_sigalg_digest_len(req->sigalg);
    if (!s || hash_len < 0)
        return TLS_KEYLESS_UNSUPPORTED_ALG;
    if (req->digest_len != hash_len)
        return TLS_KEYLESS_BAD_REQUEST;
    if (!fits(k, s, (size_t)hash_len))
        return TLS_KEYLESS_UNSUPPORTED_ALG;
    *key = k;
    return TLS_KEYLESS_OK;
}

// sign_with fills rep->sig and rep->sig_len for s. Returns 1 on success, 0 on a BoringSSL
// failure.
static int sign_with(const struct ks_key *key, const struct scheme *s,
                     const struct tls_keyless_request *req, struct tls_keyless_reply *rep)
{
    switch (s->pad) {
    case PAD_ECDSA: {
        unsigned len = 0;
        if (ECDSA_size(key->ec) > sizeof(rep->sig) ||
            !ECDSA_sign(0, req->digest, req->digest_len, rep->sig, &len, key->ec))
            return 0;
        rep->sig_len = (uint16_t)len;
        return 1;
    }
    case PAD_PKCS1: {
        unsigned len = 0;
        if (RSA_size(key->rsa) > sizeof(rep->sig) ||
            !RSA_sign(s->hash_nid, req->digest, req->digest_len, rep->sig, &len, key->rsa))
            return 0;
        rep->sig_len = (uint16_t)len;
        return 1;
    }
    case PAD_PSS: {
        size_t len = 0;
        const EVP_MD *md = EVP_get_digestbynid(s->hash_nid);
        // salt_len -1: the salt is as long as the hash (RFC 8446 4.2.3).
        if (!md || !RSA_sign_pss_mgf1(key->rsa, &len, rep->sig, sizeof(rep->sig), req->digest,
                                      req->digest_len, md, md, -1))
            return 0;
        rep->sig_len = (uint16_t)len;
        return 1;
    }
    }
    return 0;
}

void ks_sign_run(const struct ks_key *key, const struct tls_keyless_request *req,
                 struct tls_keyless_reply *rep)
{
    const struct scheme *s = find_scheme(req->sigalg);
    rep->id = req->id;
    rep->sig_len = 0;
    if (s && sign_with(key, s, req, rep)) {
        rep->status = TLS_KEYLESS_OK;
        return;
    }
    rep->status = TLS_KEYLESS_INTERNAL;
    rep->sig_len = 0;
    ERR_clear_error();
}
