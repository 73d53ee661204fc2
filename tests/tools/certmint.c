// SPDX-License-Identifier: Apache-2.0
// tests/tools/certmint.c: mints many self-signed ECDSA P-256 certificates fast, for reload
// benches and tests (10,000 `openssl req` runs take minutes; this takes seconds).
//
// Usage: certmint [--one-key] [--format FMT] [--first I] [--cn CN] DIR N
//   writes DIR/cI.pem (the certificate) and DIR/cI.key (its PKCS#8 key, mode 0600) for
//   I = first .. first+N-1, each certificate naming sprintf(FMT, I) as its only SAN DNS name
//   (default FMT "n%05d.bench.test"; FMT must hold exactly one integer conversion, or none to
//   give every certificate the same name), and prints one ssl_multicert.config line per
//   certificate on stdout (`ssl_cert_name=cI.pem ssl_key_name=cI.key`).
//   --one-key  one key for every certificate (faster; the key files are still one per
//              certificate, so a loader parses each of them)
//   --cn CN    the subject CN (default: the SAN name), e.g. to tell two sets apart
// Exit status 0, 1 on any failure (with a message), 2 on a usage error. Uses BoringSSL only.
#include <openssl/bn.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct opts {
    bool one_key;
    const char *format;
    const char *cn;
    long first;
    long count;
    const char *dir;
};

static int usage(void)
{
    fprintf(stderr, "usage: certmint [--one-key] [--format FMT] [--first I] [--cn CN] DIR N\n");
    return 2;
}

// new_key makes a P-256 key, or NULL.
static EVP_PKEY *new_key(void)
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

// new_cert returns a self-signed certificate for name (SAN DNS) with subject CN cn, or NULL.
static X509 *new_cert(EVP_PKEY *pkey, const char *name, const char *cn)
{
    char san[300];
    uint8_t serial[16];
    snprintf(san, sizeof(san), "DNS:%s", name);
    RAND_bytes(serial, sizeof(serial));
    serial[0] &= 0x7f; // positive
    X509 *x = X509_new();
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    ASN1_INTEGER *sn = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, NULL, NID_subject_alt_name, san);
    X509_NAME *subj = x ? X509_get_subject_name(x) : NULL;
    bool ok =
        x && sn && ext && X509_set_version(x, X509_VERSION_3) && X509_set_serialNumber(x, sn) &&
        X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
        X509_gmtime_adj(X509_getm_notAfter(x), 30L * 24 * 3600) &&
        X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC, (const uint8_t *)cn, -1, -1, 0) &&
        X509_set_issuer_name(x, subj) && X509_add_ext(x, ext, -1) && X509_set_pubkey(x, pkey) &&
        X509_sign(x, pkey, EVP_sha256());
    X509_EXTENSION_free(ext);
    ASN1_INTEGER_free(sn);
    BN_free(bn);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

// write_pem writes x, or else pkey, as PEM to path (created with mode). Returns 0 or -1 after
// a message.
static int write_pem(const char *path, int mode, X509 *x, EVP_PKEY *pkey)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        fprintf(stderr, "certmint: %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int ok = x ? PEM_write_X509(f, x) : PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL);
    if (fclose(f) != 0 || !ok) {
        fprintf(stderr, "certmint: %s: cannot write\n", path);
        return -1;
    }
    return 0;
}

// mint_one writes certificate number i (and its key) into o->dir.
static int mint_one(const struct opts *o, long i, EVP_PKEY *shared)
{
    char name[256], path[PATH_MAX];
    snprintf(name, sizeof(name), o->format, (int)i);
    EVP_PKEY *pkey = shared ? shared : new_key();
    X509 *x = pkey ? new_cert(pkey, name, o->cn ? o->cn : name) : NULL;
    int rc = -1;
    if (!x) {
        fprintf(stderr, "certmint: cannot make the certificate for %s\n", name);
        goto out;
    }
    snprintf(path, sizeof(path), "%s/c%ld.pem", o->dir, i);
    if (write_pem(path, 0644, x, NULL) < 0)
        goto out;
    snprintf(path, sizeof(path), "%s/c%ld.key", o->dir, i);
    if (write_pem(path, 0600, NULL, pkey) < 0)
        goto out;
    printf("ssl_cert_name=c%ld.pem ssl_key_name=c%ld.key\n", i, i);
    rc = 0;
out:
    X509_free(x);
    if (pkey != shared)
        EVP_PKEY_free(pkey);
    return rc;
}

// format_ok is true when fmt has at most one conversion, a %d with width or flags.
static bool format_ok(const char *fmt)
{
    int convs = 0;
    for (const char *p = fmt; *p; p++) {
        if (*p != '%')
            continue;
        if (p[1] == '%') {
            p++;
            continue;
        }
        p++;
        while (*p && strchr("0123456789-", *p))
            p++;
        if (*p != 'd')
            return false;
        convs++;
    }
    return convs <= 1 && strlen(fmt) < 200;
}

static int parse(int argc, char **argv, struct opts *o)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--one-key") == 0)
            o->one_key = true;
        else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc)
            o->format = argv[++i];
        else if (strcmp(argv[i], "--cn") == 0 && i + 1 < argc)
            o->cn = argv[++i];
        else if (strcmp(argv[i], "--first") == 0 && i + 1 < argc)
            o->first = strtol(argv[++i], NULL, 10);
        else
            return -1;
    }
    if (argc - i != 2)
        return -1;
    o->dir = argv[i];
    o->count = strtol(argv[i + 1], NULL, 10);
    if (o->count <= 0 || o->count > 1000000 || o->first < 0)
        return -1;
    return format_ok(o->format) ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct opts o = {.format = "n%05d.bench.test"};
    if (parse(argc, argv, &o) < 0)
        return usage();
    EVP_PKEY *shared = o.one_key ? new_key() : NULL;
    if (o.one_key && !shared) {
        fprintf(stderr, "certmint: cannot make a key\n");
        return 1;
    }
    int rc = 0;
    for (long i = o.first; rc == 0 && i < o.first + o.count; i++)
        rc = mint_one(&o, i, shared);
    EVP_PKEY_free(shared);
    if (fflush(stdout) != 0)
        rc = -1;
    return rc == 0 ? 0 : 1;
}
