// SPDX-License-Identifier: Apache-2.0
// tls/selfsigned.c: in-memory self-signed certificate for the embedded default
// (see tls/selfsigned.h).
#include "tls/selfsigned.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#ifndef OPENSSL_IS_BORINGSSL
#error "tlsedge builds against BoringSSL"
#endif

static EVP_PKEY *make_key(void)
{
    EVP_PKEY *pkey = EVP_PKEY_new();
    EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
    if (!pkey || !ec || !EC_KEY_generate_key(ec) || !EVP_PKEY_assign_EC_KEY(pkey, ec)) {
        EC_KEY_free(ec);
        EVP_PKEY_free(pkey);
        return NULL;
    }
    return pkey;
}

static int fill_cert(X509 *x, EVP_PKEY *pkey)
{
    uint8_t serial[16];
    RAND_bytes(serial, sizeof(serial));
    serial[0] &= 0x7f; // positive
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    ASN1_INTEGER *sn = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    X509_NAME *name = X509_get_subject_name(x);
    X509_EXTENSION *san = X509V3_EXT_nconf_nid(NULL, NULL, NID_subject_alt_name,
                                               "DNS:localhost,IP:127.0.0.1,IP:::1");
    int ok = sn && san && X509_set_version(x, X509_VERSION_3) && X509_set_serialNumber(x, sn) &&
             X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
             X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600) &&
             X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                        (const unsigned char *)"localhost", -1, -1, 0) &&
             X509_set_issuer_name(x, name) && X509_add_ext(x, san, -1) &&
             X509_set_pubkey(x, pkey) && X509_sign(x, pkey, EVP_sha256());
    X509_EXTENSION_free(san);
    ASN1_INTEGER_free(sn);
    BN_free(bn);
    return ok ? 0 : -EIO;
}

static char *bio_to_string(BIO *b, size_t *len)
{
    const uint8_t *data;
    size_t n;
    if (!BIO_mem_contents(b, &data, &n))
        return NULL;
    char *s = malloc(n + 1);
    if (!s)
        return NULL;
    memcpy(s, data, n);
    s[n] = '\0';
    *len = n;
    return s;
}

int tls_selfsigned_make(char **cert_pem, size_t *cert_len, char **key_pem, size_t *key_len)
{
    int rc = -EIO;
    EVP_PKEY *pkey = make_key();
    X509 *x = X509_new();
    BIO *cb = BIO_new(BIO_s_mem());
    BIO *kb = BIO_new(BIO_s_mem());
    *cert_pem = *key_pem = NULL;
    if (!pkey || !x || !cb || !kb)
        goto out;
    if (fill_cert(x, pkey) < 0 || !PEM_write_bio_X509(cb, x) ||
        !PEM_write_bio_PrivateKey(kb, pkey, NULL, NULL, 0, NULL, NULL))
        goto out;
    *cert_pem = bio_to_string(cb, cert_len);
    *key_pem = bio_to_string(kb, key_len);
    if (!*cert_pem || !*key_pem) {
        free(*cert_pem);
        free(*key_pem);
        *cert_pem = *key_pem = NULL;
        rc = -ENOMEM;
        goto out;
    }
    rc = 0;
out:
    BIO_free(kb); // BIO_s_mem frees its buffer; key bytes in it are not wiped by BoringSSL
    BIO_free(cb);
    X509_free(x);
    EVP_PKEY_free(pkey);
    return rc;
}
