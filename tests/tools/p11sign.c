// SPDX-License-Identifier: Apache-2.0
// tests/tools/p11sign.c: a token's own signing rate, measured alone (no TLS): loads a PKCS#11
// module (p11-kit-client.so by default, talking to the p11-kit server named by
// P11_KIT_SERVER_ADDRESS), and has THREADS threads, each with its own logged-in session, sign
// SHA-256 digests with one private key for SECONDS seconds, the way tlsedge's handshake pool
// does (CKM_ECDSA for EC keys, CKM_RSA_PKCS over a DigestInfo for RSA). Prints one JSON line:
//   {"signs":N,"seconds":S,"rate":R,"threads":T,"errors":E}
// bench/keystores.sh compares tlsedge's handshake rate on that key against it.
//
// With -c each thread loads its own copy of the module (dlmopen, a link-map namespace of its
// own): for p11-kit-client.so that is one connection, and one serving p11-kit-remote process,
// per thread, as tlsedge's pool threads have; without it the threads share one connection.
//
// p11sign [-c] [-m MODULE] -t TOKEN -l LABEL -p PINFILE [-n THREADS] [-d SECONDS]
// Exit status: 0, 1 when the key cannot be used, 2 on a bad command line.
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit-1/p11-kit/pkcs11.h>

#define THREADS_MAX 64

static __thread CK_FUNCTION_LIST_PTR f;
static CK_FUNCTION_LIST_PTR shared_f;
static const char *module = "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so";
static bool per_thread;
static const char *token, *label;
static char pin[256];
static double seconds = 5;
static _Atomic long signs, errors;
static _Atomic bool failed;

// The SHA-256 DigestInfo prefix (RFC 8017 section 9.2, note 1).
static const unsigned char sha256_prefix[19] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                                0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                                0x01, 0x05, 0x00, 0x04, 0x20};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool blank_eq(const unsigned char *field, size_t len, const char *want)
{
    while (len > 0 && field[len - 1] == ' ')
        len--;
    return strlen(want) == len && memcmp(field, want, len) == 0;
}

static CK_SLOT_ID find_slot(void)
{
    CK_SLOT_ID slots[32];
    CK_ULONG n = 32;
    if (f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
        return (CK_SLOT_ID)-1;
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO ti;
        if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
            blank_eq(ti.label, sizeof(ti.label), token))
            return slots[i];
    }
    return (CK_SLOT_ID)-1;
}

// Opens a logged-in session and finds the key; returns false on any failure.
static bool open_key(CK_SESSION_HANDLE *h, CK_OBJECT_HANDLE *key, CK_KEY_TYPE *type)
{
    CK_SLOT_ID slot = find_slot();
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE t[2] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_LABEL, (void *)label, strlen(label)}};
    CK_ULONG found = 0;
    if (slot == (CK_SLOT_ID)-1 || f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, h))
        return false;
    CK_RV rv = f->C_Login(*h, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
    if ((rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) || f->C_FindObjectsInit(*h, t, 2))
        return false;
    rv = f->C_FindObjects(*h, key, 1, &found);
    f->C_FindObjectsFinal(*h);
    CK_ATTRIBUTE kt = {CKA_KEY_TYPE, type, sizeof(*type)};
    return rv == CKR_OK && found == 1 && f->C_GetAttributeValue(*h, *key, &kt, 1) == CKR_OK;
}

// Loads and initialises module (a new copy in a namespace of its own when fresh); NULL on failure.
static CK_FUNCTION_LIST_PTR load(bool fresh)
{
    void *dl = fresh ? dlmopen(LM_ID_NEWLM, module, RTLD_NOW | RTLD_LOCAL)
                     : dlopen(module, RTLD_NOW | RTLD_LOCAL);
    CK_C_GetFunctionList gfl = dl ? (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList") : NULL;
    CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
    CK_FUNCTION_LIST_PTR fl = NULL;
    if (!gfl || gfl(&fl) != CKR_OK || fl->C_Initialize(&args) != CKR_OK) {
        fprintf(stderr, "p11sign: cannot load or initialise %s%s%s\n", module, dl ? "" : ": ",
                dl ? "" : dlerror());
        return NULL;
    }
    return fl;
}

static void *signer(void *arg)
{
    // One thread at a time loads and logs in, as tlsedge does: logins racing in several
    // p11-kit-remote processes can fail (SoftHSM2 answers CKR_GENERAL_ERROR).
    static pthread_mutex_t setup = PTHREAD_MUTEX_INITIALIZER;
    CK_SESSION_HANDLE h;
    CK_OBJECT_HANDLE key;
    CK_KEY_TYPE type;
    pthread_mutex_lock(&setup);
    f = per_thread ? load(true) : shared_f;
    bool ok = f && open_key(&h, &key, &type);
    pthread_mutex_unlock(&setup);
    if (!ok) {
        atomic_store(&failed, true);
        return NULL;
    }
    unsigned char in[19 + 32], sig[1024];
    memcpy(in, sha256_prefix, sizeof(sha256_prefix));
    CK_MECHANISM mech = {type == CKK_EC ? CKM_ECDSA : CKM_RSA_PKCS, NULL, 0};
    unsigned char *data = type == CKK_EC ? in + 19 : in;
    CK_ULONG dlen = type == CKK_EC ? 32 : sizeof(in);
    double end = now() + seconds;
    for (unsigned long i = 0; now() < end; i++) {
        memcpy(in + 19, &i, sizeof(i)); // a different "digest" each time
        CK_ULONG slen = sizeof(sig);
        if (f->C_SignInit(h, &mech, key) == CKR_OK &&
            f->C_Sign(h, data, dlen, sig, &slen) == CKR_OK)
            atomic_fetch_add(&signs, 1);
        else
            atomic_fetch_add(&errors, 1);
    }
    f->C_CloseSession(h);
    if (per_thread)
        f->C_Finalize(NULL);
    return NULL;
}

static int usage(void)
{
    fprintf(stderr, "usage: p11sign [-c] [-m MODULE] -t TOKEN -l LABEL -p PINFILE [-n THREADS] "
                    "[-d SECONDS]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *pinfile = NULL;
    int threads = 1, c;
    while ((c = getopt(argc, argv, "cm:t:l:p:n:d:")) != -1) {
        switch (c) {
        case 'c':
            per_thread = true;
            break;
        case 'm':
            module = optarg;
            break;
        case 't':
            token = optarg;
            break;
        case 'l':
            label = optarg;
            break;
        case 'p':
            pinfile = optarg;
            break;
        case 'n':
            threads = atoi(optarg);
            break;
        case 'd':
            seconds = atof(optarg);
            break;
        default:
            return usage();
        }
    }
    if (!token || !label || !pinfile || threads < 1 || threads > THREADS_MAX || seconds <= 0)
        return usage();
    FILE *pf = fopen(pinfile, "r");
    if (!pf || !fgets(pin, sizeof(pin), pf)) {
        fprintf(stderr, "p11sign: cannot read %s\n", pinfile);
        return 1;
    }
    fclose(pf);
    pin[strcspn(pin, "\r\n")] = '\0';
    if (!per_thread && !(shared_f = load(false)))
        return 1;
    pthread_t t[THREADS_MAX];
    double start = now();
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, signer, NULL);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    double took = now() - start;
    if (shared_f)
        shared_f->C_Finalize(NULL);
    if (atomic_load(&failed)) {
        fprintf(stderr, "p11sign: cannot open token '%s' key '%s'\n", token, label);
        return 1;
    }
    printf("{\"signs\":%ld,\"seconds\":%.3f,\"rate\":%.1f,\"threads\":%d,\"errors\":%ld}\n",
           atomic_load(&signs), took, (double)atomic_load(&signs) / took, threads,
           atomic_load(&errors));
    return 0;
}
