// SPDX-License-Identifier: Apache-2.0
// tls/keyserver/keys.c: loads the signer's private keys from a directory into a table sorted by
// key id, and finds a key by id.
//
// The table is built once at start-up and never changes, so the signing threads read it without
// locks. Nothing here ever prints or records key material: reasons name the file and the
// BoringSSL reason string only.
#include "tls/keyserver/keyserver.h"

#include "core/err.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/obj.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

// A signature must fit in a reply: RSA_size() <= TLS_KEYLESS_SIG_MAX.
#define RSA_BITS_MIN 1024
#define RSA_BITS_MAX (8 * TLS_KEYLESS_SIG_MAX)
#define NAMES_MAX 4096

const char *ks_key_type_name(enum ks_key_type type)
{
    switch (type) {
    case KS_KEY_RSA:
        return "rsa";
    case KS_KEY_EC_P256:
        return "ec-p256";
    case KS_KEY_EC_P384:
        return "ec-p384";
    }
    return "unknown";
}

// no_password refuses to decrypt: keys for an unattended signer are stored unencrypted (with
// file permissions protecting them), and BoringSSL must never prompt on a terminal.
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return 0;
}

// ssl_reason returns the reason string of the oldest queued BoringSSL error (no key data), and
// clears the queue.
static const char *ssl_reason(void)
{
    uint32_t e = ERR_peek_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return r ? r : "unknown error";
}

static bool has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    return n > s && strcmp(name + n - s, suffix) == 0;
}

// classify fills key's type, bits, rsa and ec from key->pkey. Returns 0, or -ENOTSUP with the
// reason in err.
static int classify(struct ks_key *key, const char *path, struct core_err *err)
{
    switch (EVP_PKEY_id(key->pkey)) {
    case EVP_PKEY_RSA:
        key->rsa = EVP_PKEY_get0_RSA(key->pkey);
        key->bits = RSA_bits(key->rsa);
        key->type = KS_KEY_RSA;
        if (key->bits < RSA_BITS_MIN || key->bits > RSA_BITS_MAX) {
            core_err_add(err, path, 0, "RSA key of %u bits: only %d to %d bits are served",
                         key->bits, RSA_BITS_MIN, RSA_BITS_MAX);
            return -ENOTSUP;
        }
        return 0;
    case EVP_PKEY_EC: {
        key->ec = EVP_PKEY_get0_EC_KEY(key->pkey);
        int nid = EC_GROUP_get_curve_name(EC_KEY_get0_group(key->ec));
        if (nid == NID_X9_62_prime256v1) {
            key->type = KS_KEY_EC_P256;
            key->bits = 256;
            return 0;
        }
        if (nid == NID_secp384r1) {
            key->type = KS_KEY_EC_P384;
            key->bits = 384;
            return 0;
        }
        core_err_add(err, path, 0, "EC key on curve %s: only P-256 and P-384 are served",
                     nid == NID_undef ? "(explicit parameters)" : OBJ_nid2sn(nid));
        return -ENOTSUP;
    }
    default: {
        const char *name = OBJ_nid2sn(EVP_PKEY_id(key->pkey));
        core_err_add(err, path, 0, "%s key: only RSA and EC keys are served",
                     name ? name : "unknown");
        return -ENOTSUP;
    }
    }
}

// no_key explains why no private key came out of path (named name). Returns 0 for a `.pem`
// file that simply holds none (a certificate: skipped), or -EINVAL with the reason in err.
static int no_key(const char *path, const char *name, struct core_err *err)
{
    uint32_t e = ERR_peek_last_error();
    bool pem = ERR_GET_LIB(e) == ERR_LIB_PEM;
    if (pem && ERR_GET_REASON(e) == PEM_R_NO_START_LINE && has_suffix(name, ".pem")) {
        ERR_clear_error();
        return 0;
    }
    if (pem && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
        core_err_add(err, path, 0, "no PEM private key in the file");
    else if (pem && ERR_GET_REASON(e) == PEM_R_BAD_PASSWORD_READ)
        core_err_add(err, path, 0,
                     "encrypted keys are not supported: store the key unencrypted, readable "
                     "by the signer's user only");
    else
        core_err_add(err, path, 0, "cannot parse the private key: %s", ssl_reason());
    ERR_clear_error();
    return -EINVAL;
}

// read_key reads the private key of path into key. Returns 1 when a key was loaded, 0 when a
// `.pem` file holds no private key (skipped), or a negative errno with the reason in err.
static int read_key(const char *path, const char *name, struct ks_key *key, struct core_err *err)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        int e = errno;
        core_err_add(err, path, 0, "cannot open: %s", strerror(e));
        return -e;
    }
    ERR_clear_error();
    key->pkey = PEM_read_PrivateKey(f, NULL, no_password, NULL);
    fclose(f);
    if (!key->pkey)
        return no_key(path, name, err);
    snprintf(key->file, sizeof(key->file), "%s", name);
    int rc = classify(key, path, err);
    if (rc == 0)
        rc = tls_keyless_key_id(key->pkey, key->id);
    if (rc == -EINVAL || rc == -ENOMEM)
        core_err_add(err, path, 0, "cannot compute the key id: %s", ssl_reason());
    if (rc < 0) {
        EVP_PKEY_free(key->pkey);
        key->pkey = NULL;
        return rc;
    }
    return 1;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_key(const void *a, const void *b)
{
    return memcmp(((const struct ks_key *)a)->id, ((const struct ks_key *)b)->id,
                  TLS_KEYLESS_KEY_ID_LEN);
}

// list_names returns the sorted names of the `*.key` and `*.pem` entries of dir (at most
// NAMES_MAX) in a new array of n new strings, or NULL with the reason in err.
static char **list_names(const char *dir, size_t *n, struct core_err *err)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        core_err_add(err, dir, 0, "cannot read the key directory: %s", strerror(errno));
        return NULL;
    }
    char **names = calloc(NAMES_MAX, sizeof(*names));
    struct dirent *de;
    while (names && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' ||
            !(has_suffix(de->d_name, ".key") || has_suffix(de->d_name, ".pem")))
            continue;
        if (*n == NAMES_MAX) {
            core_err_warn(err, dir, 0, "more than %d key files: the rest are ignored", NAMES_MAX);
            break;
        }
        if (!(names[*n] = strdup(de->d_name)))
            break;
        (*n)++;
    }
    closedir(d);
    if (!names)
        core_err_add(err, dir, 0, "out of memory");
    else
        qsort(names, *n, sizeof(*names), cmp_name);
    return names;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

// add_key appends key (the table takes its pkey) to keys unless its id is already there.
static void add_key(struct ks_keys *keys, struct ks_key *key, const char *path,
                    struct core_err *err)
{
    for (size_t i = 0; i < keys->n; i++) {
        if (memcmp(keys->key[i].id, key->id, TLS_KEYLESS_KEY_ID_LEN) == 0) {
            core_err_warn(err, path, 0, "same key as %s: skipped", keys->key[i].file);
            EVP_PKEY_free(key->pkey);
            return;
        }
    }
    keys->key[keys->n++] = *key;
}

struct ks_keys *ks_keys_load(const char *dir, struct core_err *err)
{
    size_t n = 0;
    char **names = list_names(dir, &n, err);
    struct ks_keys *keys = calloc(1, sizeof(*keys));
    if (keys && n > 0)
        keys->key = calloc(n, sizeof(*keys->key));
    if (!names || !keys || (n > 0 && !keys->key)) {
        if (names)
            core_err_add(err, dir, 0, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        struct ks_key key = {0};
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        int rc = read_key(path, names[i], &key, err);
        if (rc == 1)
            add_key(keys, &key, path, err);
        else if (rc == 0)
            keys->skipped++;
    }
    if (keys->n == 0 && !core_err_failed(err))
        core_err_add(err, dir, 0, "no private key found (*.key, *.pem)");
    if (core_err_failed(err))
        goto fail;
    qsort(keys->key, keys->n, sizeof(*keys->key), cmp_key);
    free_names(names, n);
    return keys;
fail:
    ks_keys_free(keys);
    free_names(names, n);
    return NULL;
}

void ks_keys_free(struct ks_keys *keys)
{
    if (!keys)
        return;
    for (size_t i = 0; i < keys->n; i++)
        EVP_PKEY_free(keys->key[i].pkey);
    free(keys->key);
    free(keys);
}

const struct ks_key *ks_keys_find(const struct ks_keys *keys,
                                  const uint8_t id[TLS_KEYLESS_KEY_ID_LEN])
{
    struct ks_key probe;
    memcpy(probe.id, id, TLS_KEYLESS_KEY_ID_LEN);
    return bsearch(&probe, keys->key, keys->n, sizeof(*keys->key), cmp_key);
}
