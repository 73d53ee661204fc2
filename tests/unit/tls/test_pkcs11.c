// SPDX-License-Identifier: Apache-2.0
// Unit tests for the pure parts of tls/pkcs11.c and tls/pkcs11_elf.c: ECDSA r||s -> DER
// (checked by verifying real signatures), the PKCS#1 DigestInfo, the local PSS encoding that
// goes out through CKM_RSA_X_509 (a raw RSA operation on it must verify as RSASSA-PSS), and the
// DT_NEEDED check against real system libraries. Token round trips are in
// tests/integration/08-pkcs11.sh.
#include "tls/pkcs11.h"

#include <openssl/bn.h>
#include <openssl/digest.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/nid.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

TestSuite(tls_pkcs11);

// rs_of signs digest with key and writes the fixed-width r||s a token returns (2 * width bytes).
static void rs_of(EC_KEY *key, const uint8_t *digest, size_t dlen, uint8_t *rs, size_t width)
{
    ECDSA_SIG *sig = ECDSA_do_sign(digest, dlen, key);
    cr_assert_not_null(sig);
    const BIGNUM *r, *s;
    ECDSA_SIG_get0(sig, &r, &s);
    cr_assert(BN_bn2bin_padded(rs, width, r));
    cr_assert(BN_bn2bin_padded(rs + width, width, s));
    ECDSA_SIG_free(sig);
}

static void ecdsa_round_trip(int nid, size_t width)
{
    EC_KEY *key = EC_KEY_new_by_curve_name(nid);
    cr_assert(key && EC_KEY_generate_key(key));
    uint8_t digest[SHA384_DIGEST_LENGTH], rs[132], der[160];
    for (int i = 0; i < 32; i++) {
        SHA384((const uint8_t *)&i, sizeof(i), digest);
        rs_of(key, digest, width == 32 ? 32 : 48, rs, width);
        int n = tls_pkcs11_ecdsa_der(rs, 2 * width, der, sizeof(der));
        cr_assert_gt(n, 0);
        cr_assert_eq(ECDSA_verify(0, digest, width == 32 ? 32 : 48, der, (size_t)n, key), 1,
                     "signature %d does not verify after conversion", i);
    }
    EC_KEY_free(key);
}

Test(tls_pkcs11, ecdsa_p256_rs_to_der_verifies)
{
    ecdsa_round_trip(NID_X9_62_prime256v1, 32);
}

Test(tls_pkcs11, ecdsa_p384_rs_to_der_verifies)
{
    ecdsa_round_trip(NID_secp384r1, 48);
}

Test(tls_pkcs11, ecdsa_der_known_bytes_and_leading_zeros)
{
    // r = 1, s = 0x80 (needs a leading zero in DER to stay positive), 32-byte fields.
    uint8_t rs[64] = {0}, der[16];
    rs[31] = 0x01;
    rs[63] = 0x80;
    static const uint8_t want[] = {0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x02, 0x00, 0x80};
    int n = tls_pkcs11_ecdsa_der(rs, sizeof(rs), der, sizeof(der));
    cr_assert_eq(n, (int)sizeof(want));
    cr_assert(memcmp(der, want, sizeof(want)) == 0);
}

Test(tls_pkcs11, ecdsa_der_rejects_odd_empty_and_small_buffers)
{
    uint8_t rs[64], der[160];
    memset(rs, 0x7f, sizeof(rs));
    cr_assert_eq(tls_pkcs11_ecdsa_der(rs, 63, der, sizeof(der)), -EINVAL);
    cr_assert_eq(tls_pkcs11_ecdsa_der(rs, 0, der, sizeof(der)), -EINVAL);
    cr_assert_eq(tls_pkcs11_ecdsa_der(rs, 64, der, 8), -EINVAL);
}

static RSA *rsa_2048(void)
{
    RSA *rsa = RSA_new();
    BIGNUM *e = BN_new();
    cr_assert(rsa && e && BN_set_word(e, RSA_F4) && RSA_generate_key_ex(rsa, 2048, e, NULL));
    BN_free(e);
    return rsa;
}

Test(tls_pkcs11, digestinfo_signed_raw_verifies_as_pkcs1)
{
    RSA *rsa = rsa_2048();
    uint8_t digest[SHA256_DIGEST_LENGTH], di[128], sig[256];
    SHA256((const uint8_t *)"tlsedge", 7, digest);
    int n = tls_pkcs11_digestinfo(EVP_sha256(), digest, sizeof(digest), di, sizeof(di));
    cr_assert_eq(n, 19 + 32); // the SHA-256 DigestInfo prefix is 19 bytes
    size_t slen = 0;
    // What CKM_RSA_PKCS does on the token: PKCS#1 type 1 padding of the DigestInfo.
    cr_assert(RSA_sign_raw(rsa, &slen, sig, sizeof(sig), di, (size_t)n, RSA_PKCS1_PADDING));
    cr_assert_eq(RSA_verify(NID_sha256, digest, sizeof(digest), sig, slen, rsa), 1);
    cr_assert_eq(tls_pkcs11_digestinfo(EVP_sha256(), digest, 20, di, sizeof(di)), -EINVAL);
    cr_assert_eq(tls_pkcs11_digestinfo(EVP_sha256(), digest, 32, di, 40), -EINVAL);
    RSA_free(rsa);
}

Test(tls_pkcs11, pss_encoding_signed_with_raw_rsa_verifies)
{
    RSA *rsa = rsa_2048();
    const EVP_MD *mds[] = {EVP_sha256(), EVP_sha384(), EVP_sha512()};
    for (size_t i = 0; i < 3; i++) {
        uint8_t digest[64], em[256], sig[256];
        unsigned dlen = 0;
        EVP_Digest("handshake transcript", 20, digest, &dlen, mds[i], NULL);
        int n = tls_pkcs11_pss_encode(rsa, mds[i], digest, dlen, em, sizeof(em));
        cr_assert_eq(n, 256);
        size_t slen = 0;
        // What CKM_RSA_X_509 does on the token: the bare RSA private-key operation.
        cr_assert(RSA_sign_raw(rsa, &slen, sig, sizeof(sig), em, (size_t)n, RSA_NO_PADDING));
        cr_assert_eq(RSA_verify_pss_mgf1(rsa, digest, dlen, mds[i], mds[i], (int)dlen, sig, slen),
                     1, "PSS with digest %zu does not verify", i);
    }
    uint8_t digest[32] = {0}, em[256];
    cr_assert_eq(tls_pkcs11_pss_encode(rsa, EVP_sha256(), digest, 32, em, 255), -EINVAL);
    cr_assert_eq(tls_pkcs11_pss_encode(rsa, EVP_sha384(), digest, 32, em, 256), -EINVAL);
    RSA_free(rsa);
}

Test(tls_pkcs11, module_check_refuses_openssl_dependents)
{
    char why[256];
    const char *libssl = "/usr/lib/x86_64-linux-gnu/libssl.so.3";
    if (access(libssl, R_OK) != 0)
        cr_skip_test("%s is not installed", libssl);
    cr_assert_eq(tls_pkcs11_module_check(libssl, why, sizeof(why)), -EPERM);
    cr_assert(strstr(why, "libcrypto.so"), "reason '%s'", why);
    // libcurl needs OpenSSL only through its own dependencies (libssh2, ...) or directly.
    const char *curl = "/usr/lib/x86_64-linux-gnu/libcurl.so.4";
    if (access(curl, R_OK) == 0)
        cr_assert_eq(tls_pkcs11_module_check(curl, why, sizeof(why)), -EPERM);
}

Test(tls_pkcs11, module_check_accepts_clean_libraries_and_rejects_non_elf)
{
    char why[256];
    cr_assert_eq(tls_pkcs11_module_check("/lib/x86_64-linux-gnu/libc.so.6", why, sizeof(why)), 0);
    const char *client = TLS_PKCS11_DEFAULT_MODULE;
    if (access(client, R_OK) == 0)
        cr_assert_eq(tls_pkcs11_module_check(client, why, sizeof(why)), 0, "%s: %s", client, why);
    cr_assert_eq(tls_pkcs11_module_check("/etc/hostname", why, sizeof(why)), -ENOEXEC);
    cr_assert_eq(tls_pkcs11_module_check("/nonexistent/x.so", why, sizeof(why)), -ENOENT);
}
