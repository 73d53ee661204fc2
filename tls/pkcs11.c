// SPDX-License-Identifier: Apache-2.0
// tls/pkcs11.c: PKCS#11 modules, per-thread sessions and signatures (see tls/pkcs11.h). The ELF
// check that keeps OpenSSL-linked modules out of the process is in tls/pkcs11_elf.c.
#include "tls/pkcs11.h"
#include "core/err.h"
#include "core/log.h"
#include "core/stats.h"
#include "tls/keyop.h"
#include "tls/p11uri.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu-qsbr.h>

#include <openssl/bn.h>
#include <openssl/digest.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <p11-kit-1/p11-kit/pkcs11.h>

#define MODULES_MAX 8
#define THREAD_SESSIONS 16
#define THREAD_KEYS 64
#define MODULE_DIR "/usr/lib/x86_64-linux-gnu/pkcs11"

// struct p11_inst: one loaded copy of a module with its own initialisation. For
// p11-kit-client.so a copy is one connection to the p11-kit server, which serves it with one
// p11-kit-remote process answering one call at a time.
struct p11_inst {
    void *dl;
    CK_FUNCTION_LIST_PTR f;
    _Atomic unsigned gen; // initialised generation; 0 = not initialised
};

// struct p11_module: one module path. Lives until the process exits (a module is never
// unloaded: handles of its sessions may still be cached by pool threads). The thread that
// loaded it (the main thread) uses `shared`; with `copies` every other thread loads a copy of
// its own on first use (dlmopen into a new link-map namespace: the only way to have one
// process hold several independent p11-kit-client connections), so pool threads sign side by
// side instead of queueing at one p11-kit-remote process. A thread whose copy cannot be loaded
// (glibc has room for about ten namespaces) uses `shared`.
struct p11_module {
    char path[PATH_MAX];
    int idx; // in modules[]
    bool copies;
    pthread_t opener;
    struct p11_inst shared;
    _Atomic bool copy_warned;
};

// struct tls_p11key: the PKCS#11 part of a key reference. Owned by its tls_keyref.
struct tls_p11key {
    struct p11_module *mod;
    struct tls_p11uri uri; // token and object attributes (the PIN is not kept in it)
    char *pin;             // NULL: no login
    uint64_t serial;       // unique per key: the per-thread handle cache's key
    int key_type;
    RSA *rsa_pub;             // RSA keys: the certificate's public key, for PSS encoding
    bool pss_raw;             // PSS through CKM_RSA_X_509 (else CKM_RSA_PKCS_PSS)
    _Atomic bool pin_refused; // the token refused the PIN: never retry (it would lock)
};

// Per-thread session on one token, and cached key handles.
struct tsess {
    struct p11_inst *in;
    unsigned gen;
    CK_SLOT_ID slot;
    CK_SESSION_HANDLE h;
};
struct tkey {
    uint64_t serial;
    struct tsess *s;
    CK_OBJECT_HANDLE obj;
};

static struct p11_module *modules[MODULES_MAX];
static int n_modules;
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static int stat_copies = -1; // module copies held by threads (a gauge)
static __thread struct p11_inst *tinst[MODULES_MAX];
static _Atomic unsigned fork_gen = 1;
static _Atomic uint64_t next_serial;
static __thread struct tsess tsessions[THREAD_SESSIONS];
static __thread struct tkey tkeys[THREAD_KEYS];
static __thread unsigned tkey_next;

static const char *rv_name(CK_RV rv)
{
    static __thread char buf[32];
    switch (rv) {
    case CKR_OK:
        return "CKR_OK";
    case CKR_PIN_INCORRECT:
        return "CKR_PIN_INCORRECT";
    case CKR_PIN_LOCKED:
        return "CKR_PIN_LOCKED";
    case CKR_DEVICE_ERROR:
        return "CKR_DEVICE_ERROR";
    case CKR_DEVICE_REMOVED:
        return "CKR_DEVICE_REMOVED";
    case CKR_TOKEN_NOT_PRESENT:
        return "CKR_TOKEN_NOT_PRESENT";
    case CKR_SESSION_HANDLE_INVALID:
        return "CKR_SESSION_HANDLE_INVALID";
    case CKR_MECHANISM_INVALID:
        return "CKR_MECHANISM_INVALID";
    case CKR_GENERAL_ERROR:
        return "CKR_GENERAL_ERROR";
    case CKR_CRYPTOKI_NOT_INITIALIZED:
        return "CKR_CRYPTOKI_NOT_INITIALIZED";
    default:
        snprintf(buf, sizeof(buf), "CKR 0x%lx", (unsigned long)rv);
        return buf;
    }
}

// ---- modules ----

// After fork() the child must initialise every module again (PKCS#11 v2.40 section 6.7.7):
// bumping the generation invalidates every module's initialisation and every cached session.
static void after_fork(void)
{
    atomic_fetch_add(&fork_gen, 1);
    pthread_mutex_init(&init_lock, NULL);
}

// Initialises m (a module copy) for the current generation. Returns CKR_OK or the module's
// error. Any thread.
static CK_RV module_ready(struct p11_inst *m)
{
    unsigned g = atomic_load(&fork_gen);
    if (atomic_load(&m->gen) == g)
        return CKR_OK;
    pthread_mutex_lock(&init_lock);
    CK_RV rv = CKR_OK;
    if (atomic_load(&m->gen) != g) {
        CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
        rv = m->f->C_Initialize(&args);
        if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED)
            rv = CKR_OK;
        if (rv == CKR_OK)
            atomic_store(&m->gen, g);
    }
    pthread_mutex_unlock(&init_lock);
    return rv;
}

// A module that says it is not initialised is initialised again by the next caller.
static void module_reset(struct p11_inst *m)
{
    atomic_store(&m->gen, 0);
}

// Loads a copy of m's module for the calling thread. Returns it, or NULL after a warning (once
// per module) when the copy cannot be loaded.
static struct p11_inst *copy_load(struct p11_module *m)
{
    struct p11_inst *in = calloc(1, sizeof(*in));
    const char *why = "out of memory";
    if (in)
        in->dl = dlmopen(LM_ID_NEWLM, m->path, RTLD_NOW | RTLD_LOCAL);
    if (in && !in->dl)
        why = dlerror();
    CK_C_GetFunctionList gfl =
        in && in->dl ? (CK_C_GetFunctionList)dlsym(in->dl, "C_GetFunctionList") : NULL;
    if (in && in->dl && !gfl)
        why = "no C_GetFunctionList";
    if (gfl && gfl(&in->f) == CKR_OK && in->f) {
        core_stat_inc(stat_copies);
        return in;
    }
    if (!atomic_exchange(&m->copy_warned, true))
        core_log_warn("PKCS#11 module %s: cannot load a copy for a handshake thread (%s); "
                      "such threads share the main connection",
                      m->path, why ? why : "C_GetFunctionList failed");
    if (in && in->dl)
        dlclose(in->dl);
    free(in);
    return NULL;
}

// The calling thread's copy of m (see struct p11_module).
static struct p11_inst *inst_for(struct p11_module *m)
{
    struct p11_inst *in = tinst[m->idx];
    if (in)
        return in;
    in = &m->shared;
    if (m->copies && !pthread_equal(m->opener, pthread_self())) {
        pthread_mutex_lock(&init_lock);
        struct p11_inst *c = copy_load(m);
        pthread_mutex_unlock(&init_lock);
        if (c)
            in = c;
    }
    tinst[m->idx] = in;
    return in;
}

void tls_pkcs11_stats_register(void)
{
    stat_copies = core_stat_register_gauge("proxy.process.tlsedge.pkcs11_thread_connections");
}

static const char *resolve_module(const struct tls_p11uri *u, const char *deflt, char *buf,
                                  size_t len)
{
    if (u->module_path)
        return u->module_path;
    if (u->module_name) {
        snprintf(buf, len, "%s/%s.so", MODULE_DIR, u->module_name);
        return buf;
    }
    return deflt && deflt[0] ? deflt : TLS_PKCS11_DEFAULT_MODULE;
}

// True for p11-kit's RPC client (one connection per loaded copy).
static bool is_rpc_client(const char *path)
{
    const char *base = strrchr(path, '/');
    return strcmp(base ? base + 1 : path, "p11-kit-client.so") == 0;
}

static int module_open(const char *path, bool copies, struct p11_module **out, const char *file,
                       int line, struct core_err *err)
{
    for (int i = 0; i < n_modules; i++)
        if (strcmp(modules[i]->path, path) == 0) {
            *out = modules[i];
            return 0;
        }
    char why[256];
    int rc = tls_pkcs11_module_check(path, why, sizeof(why));
    if (rc == -EPERM) {
        // Two entries: one message holds at most CORE_ERR_REASON_MAX bytes.
        core_err_add(err, file, line,
                     "PKCS#11 module %s needs %s: OpenSSL's libcrypto crashes inside tlsedge "
                     "(its symbols clash with BoringSSL's); it must run in a p11-kit server",
                     path, why);
        core_err_warn(err, file, line,
                      "run: p11-kit server -n SOCKET --provider %s \"pkcs11:token=LABEL\"; set "
                      "proxy.config.tlsedge.pkcs11.server_address unix:path=SOCKET and keep the "
                      "default module (p11-kit-client.so)",
                      path);
        return -EINVAL;
    }
    if (rc < 0) {
        core_err_add(err, file, line, "PKCS#11 module %s: %s", path,
                     rc == -ENOENT ? "cannot read it" : "not a 64-bit ELF shared object");
        return -EINVAL;
    }
    if (n_modules == MODULES_MAX) {
        core_err_add(err, file, line, "more than %d PKCS#11 modules", MODULES_MAX);
        return -EINVAL;
    }
    struct p11_module *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    snprintf(m->path, sizeof(m->path), "%s", path);
    m->shared.dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    CK_C_GetFunctionList gfl =
        m->shared.dl ? (CK_C_GetFunctionList)dlsym(m->shared.dl, "C_GetFunctionList") : NULL;
    if (!gfl || gfl(&m->shared.f) != CKR_OK || !m->shared.f) {
        const char *e = dlerror();
        core_err_add(err, file, line, "cannot load PKCS#11 module %s: %s", path,
                     e ? e : "no C_GetFunctionList");
        if (m->shared.dl)
            dlclose(m->shared.dl);
        free(m);
        return -EINVAL;
    }
    if (n_modules == 0)
        pthread_atfork(NULL, NULL, after_fork);
    m->copies = copies && is_rpc_client(path);
    m->opener = pthread_self();
    m->idx = n_modules;
    modules[n_modules++] = m;
    *out = m;
    return 0;
}

// ---- per-thread sessions ----

// field_eq compares a blank-padded CK_TOKEN_INFO field with want (NULL matches anything).
static bool field_eq(const unsigned char *f, size_t flen, const char *want)
{
    if (!want)
        return true;
    while (flen > 0 && (f[flen - 1] == ' ' || f[flen - 1] == '\0'))
        flen--;
    return strlen(want) == flen && memcmp(f, want, flen) == 0;
}

static CK_RV find_slot(struct p11_inst *m, const struct tls_p11uri *u, CK_SLOT_ID *out)
{
    CK_SLOT_ID slots[32];
    CK_ULONG n = 32;
    CK_RV rv = m->f->C_GetSlotList(CK_TRUE, slots, &n);
    if (rv != CKR_OK)
        return rv;
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO ti;
        if (u->has_slot_id && slots[i] != u->slot_id)
            continue;
        if (m->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
            continue;
        if (field_eq(ti.label, sizeof(ti.label), u->token) &&
            field_eq(ti.manufacturerID, sizeof(ti.manufacturerID), u->manufacturer) &&
            field_eq(ti.serialNumber, sizeof(ti.serialNumber), u->serial) &&
            field_eq(ti.model, sizeof(ti.model), u->model)) {
            *out = slots[i];
            return CKR_OK;
        }
    }
    return CKR_TOKEN_NOT_PRESENT;
}

static void session_drop(struct tsess *s, bool close_it)
{
    if (close_it && s->in && s->gen == atomic_load(&s->in->gen))
        s->in->f->C_CloseSession(s->h);
    for (int i = 0; i < THREAD_KEYS; i++)
        if (tkeys[i].s == s)
            tkeys[i].s = NULL;
    memset(s, 0, sizeof(*s));
}

static bool pin_refusal(CK_RV rv)
{
    return rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED || rv == CKR_PIN_EXPIRED ||
           rv == CKR_PIN_INVALID || rv == CKR_PIN_LEN_RANGE;
}

// Opens a session on slot through in and logs in with k's PIN. Returns CKR_OK with *h set, or
// the module's error (PIN refusals set k->pin_refused). Logins are made one at a time: a
// token's library in several server processes (one per connection) can fail logins that
// race each other (SoftHSM2 2.6 answers CKR_GENERAL_ERROR).
static CK_RV session_open(struct tls_p11key *k, struct p11_inst *in, CK_SLOT_ID slot,
                          CK_SESSION_HANDLE *h)
{
    static pthread_mutex_t login_lock = PTHREAD_MUTEX_INITIALIZER;
    CK_RV rv = in->f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, h);
    if (rv != CKR_OK || !k->pin)
        return rv;
    pthread_mutex_lock(&login_lock);
    rv = in->f->C_Login(*h, CKU_USER, (CK_UTF8CHAR_PTR)k->pin, strlen(k->pin));
    pthread_mutex_unlock(&login_lock);
    if (rv == CKR_USER_ALREADY_LOGGED_IN)
        rv = CKR_OK;
    if (rv != CKR_OK) {
        if (pin_refusal(rv))
            atomic_store(&k->pin_refused, true);
        in->f->C_CloseSession(*h);
    }
    return rv;
}

// Returns this thread's logged-in session on k's token (slot) through in, opening it when
// needed, or NULL with the module's error in *rv (-EACCES-worthy PIN refusals set
// k->pin_refused).
static struct tsess *session_get(struct tls_p11key *k, struct p11_inst *in, CK_SLOT_ID slot,
                                 CK_RV *rv)
{
    unsigned gen = atomic_load(&in->gen);
    struct tsess *free_one = NULL;
    for (int i = 0; i < THREAD_SESSIONS; i++) {
        struct tsess *s = &tsessions[i];
        if (s->in == in && s->gen == gen && s->slot == slot)
            return s;
        if (!free_one && (!s->in || s->gen != atomic_load(&s->in->gen)))
            free_one = s;
    }
    if (!free_one) {
        free_one = &tsessions[0];
        session_drop(free_one, true);
    }
    CK_SESSION_HANDLE h;
    if ((*rv = session_open(k, in, slot, &h)) != CKR_OK)
        return NULL;
    *free_one = (struct tsess){.in = in, .gen = gen, .slot = slot, .h = h};
    return free_one;
}

// Finds k's private key in session s: 0 with *out set, -ENOENT (none), -E2BIG (several), or
// -EIO with the module's error in *rv.
static int find_key(struct tsess *s, const struct tls_p11key *k, CK_OBJECT_HANDLE *out, CK_RV *rv)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE t[3] = {{CKA_CLASS, &cls, sizeof(cls)}};
    CK_ULONG n = 1;
    if (k->uri.object)
        t[n++] = (CK_ATTRIBUTE){CKA_LABEL, k->uri.object, strlen(k->uri.object)};
    if (k->uri.id)
        t[n++] = (CK_ATTRIBUTE){CKA_ID, k->uri.id, k->uri.id_len};
    CK_FUNCTION_LIST_PTR f = s->in->f;
    CK_OBJECT_HANDLE objs[2];
    CK_ULONG found = 0;
    *rv = f->C_FindObjectsInit(s->h, t, n);
    if (*rv != CKR_OK)
        return -EIO;
    *rv = f->C_FindObjects(s->h, objs, 2, &found);
    f->C_FindObjectsFinal(s->h);
    if (*rv != CKR_OK)
        return -EIO;
    if (found == 0)
        return -ENOENT;
    if (found > 1)
        return -E2BIG;
    *out = objs[0];
    return 0;
}

// Returns (through *out) this thread's cached handle of k (through in, the thread's copy of
// k's module), resolving it when needed: 0, -EACCES (PIN refused), -ENOENT, -E2BIG, or -EIO
// with the module's error in *rv.
static int key_resolve(struct tls_p11key *k, struct p11_inst *in, struct tkey **out, CK_RV *rv)
{
    for (int i = 0; i < THREAD_KEYS; i++)
        if (tkeys[i].serial == k->serial && tkeys[i].s && tkeys[i].s->in == in &&
            tkeys[i].s->gen == atomic_load(&in->gen)) {
            *out = &tkeys[i];
            return 0;
        }
    if (atomic_load(&k->pin_refused))
        return -EACCES;
    CK_SLOT_ID slot;
    if ((*rv = find_slot(in, &k->uri, &slot)) != CKR_OK)
        return -EIO;
    struct tsess *s = session_get(k, in, slot, rv);
    if (!s)
        return atomic_load(&k->pin_refused) ? -EACCES : -EIO;
    CK_OBJECT_HANDLE obj;
    int rc = find_key(s, k, &obj, rv);
    if (rc < 0)
        return rc;
    struct tkey *tk = &tkeys[tkey_next++ % THREAD_KEYS];
    *tk = (struct tkey){.serial = k->serial, .s = s, .obj = obj};
    *out = tk;
    return 0;
}

// Errors after which the session (or the module's connection) is worth opening again.
static bool rv_stale(CK_RV rv)
{
    switch (rv) {
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_SESSION_CLOSED:
    case CKR_DEVICE_REMOVED:
    case CKR_DEVICE_ERROR:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_OBJECT_HANDLE_INVALID:
    case CKR_KEY_HANDLE_INVALID:
    case CKR_CRYPTOKI_NOT_INITIALIZED:
    case CKR_GENERAL_ERROR:
    case CKR_FUNCTION_FAILED:
        return true;
    default:
        return false;
    }
}

// ---- signatures ----

// Builds the mechanism and the input for sigalg; in (cap bytes) receives the input. Returns
// its length, or -ENOTSUP / -EINVAL.
static int sign_input(const struct tls_p11key *k, uint16_t sigalg, const uint8_t *digest,
                      size_t dlen, CK_MECHANISM *mech, CK_RSA_PKCS_PSS_PARAMS *pss, uint8_t *in,
                      size_t cap)
{
    const EVP_MD *md = SSL_get_signature_algorithm_digest(sigalg);
    if (!md || dlen != EVP_MD_size(md) || dlen > cap)
        return -EINVAL;
    memset(mech, 0, sizeof(*mech));
    if (k->key_type == EVP_PKEY_EC) {
        mech->mechanism = CKM_ECDSA;
        memcpy(in, digest, dlen);
        return (int)dlen;
    }
    if (!SSL_is_signature_algorithm_rsa_pss(sigalg)) {
        mech->mechanism = CKM_RSA_PKCS;
        return tls_pkcs11_digestinfo(md, digest, dlen, in, cap);
    }
    if (k->pss_raw) {
        mech->mechanism = CKM_RSA_X_509;
        return tls_pkcs11_pss_encode(k->rsa_pub, md, digest, dlen, in, cap);
    }
    int nid = EVP_MD_type(md);
    pss->hashAlg = nid == NID_sha256 ? CKM_SHA256 : nid == NID_sha384 ? CKM_SHA384 : CKM_SHA512;
    pss->mgf = nid == NID_sha256   ? CKG_MGF1_SHA256
               : nid == NID_sha384 ? CKG_MGF1_SHA384
                                   : CKG_MGF1_SHA512;
    pss->sLen = dlen;
    mech->mechanism = CKM_RSA_PKCS_PSS;
    mech->pParameter = pss;
    mech->ulParameterLen = sizeof(*pss);
    memcpy(in, digest, dlen);
    return (int)dlen;
}

// One signature with the cached handle tk. Returns 0 (sig, *sig_len set) or a negative errno
// with the module's error in *rv.
static int sign_once(const struct tls_p11key *k, struct tkey *tk, uint16_t sigalg,
                     const uint8_t *digest, size_t dlen, uint8_t *sig, size_t *sig_len, size_t cap,
                     CK_RV *rv)
{
    CK_MECHANISM mech;
    CK_RSA_PKCS_PSS_PARAMS pss;
    uint8_t in[1024], raw[1024];
    int inlen = sign_input(k, sigalg, digest, dlen, &mech, &pss, in, sizeof(in));
    if (inlen < 0)
        return inlen;
    CK_FUNCTION_LIST_PTR f = tk->s->in->f;
    CK_ULONG rawlen = sizeof(raw);
    *rv = f->C_SignInit(tk->s->h, &mech, tk->obj);
    if (*rv == CKR_OK)
        *rv = f->C_Sign(tk->s->h, in, (CK_ULONG)inlen, raw, &rawlen);
    OPENSSL_cleanse(in, sizeof(in));
    if (*rv != CKR_OK)
        return *rv == CKR_MECHANISM_INVALID ? -ENOTSUP : -EIO;
    if (k->key_type == EVP_PKEY_EC) {
        int n = tls_pkcs11_ecdsa_der(raw, rawlen, sig, cap);
        if (n < 0)
            return -EIO;
        *sig_len = (size_t)n;
        return 0;
    }
    size_t want = RSA_size(k->rsa_pub);
    if (rawlen > want || want > cap)
        return -EIO;
    // A raw RSA result may come back without its leading zero bytes: TLS wants the full size.
    memset(sig, 0, want - rawlen);
    memcpy(sig + (want - rawlen), raw, rawlen);
    *sig_len = want;
    return 0;
}

// Signs with k on this thread, reopening a stale session once. Returns 0 or a negative errno,
// with the module's last error in *rv.
static int p11_sign(struct tls_p11key *k, uint16_t sigalg, const uint8_t *digest, size_t dlen,
                    uint8_t *sig, size_t *sig_len, size_t cap, CK_RV *rv)
{
    int rc = -EIO;
    *rv = CKR_OK;
    struct p11_inst *in = inst_for(k->mod);
    for (int attempt = 0; attempt < 2; attempt++) {
        if ((*rv = module_ready(in)) != CKR_OK)
            return -EIO;
        struct tkey *tk = NULL;
        rc = key_resolve(k, in, &tk, rv);
        if (rc == 0)
            rc = sign_once(k, tk, sigalg, digest, dlen, sig, sig_len, cap, rv);
        if (rc == 0 || rc == -EACCES || rc == -ENOENT || rc == -E2BIG || rc == -ENOTSUP ||
            !rv_stale(*rv))
            return rc;
        if (tk && tk->s)
            session_drop(tk->s, true);
        if (*rv == CKR_CRYPTOKI_NOT_INITIALIZED)
            module_reset(in);
    }
    return rc;
}

int tls_pkcs11_sign(struct tls_keyop *op, bool offline_rcu)
{
    static __thread time_t last_warn;
    struct tls_p11key *k = op->key->p11;
    CK_RV rv = CKR_OK;
    size_t len = 0;
    if (!k)
        return -EINVAL;
    if (offline_rcu)
        rcu_thread_offline(); // the module call blocks (an RPC, a TPM command)
    int rc =
        p11_sign(k, op->sigalg, op->digest, op->digest_len, op->sig, &len, sizeof(op->sig), &rv);
    if (offline_rcu)
        rcu_thread_online();
    if (rc == 0) {
        op->sig_len = len;
        return 0;
    }
    time_t now = time(NULL);
    if (now != last_warn) { // at most one line per second and thread while a token is down
        last_warn = now;
        core_log_warn("PKCS#11 key %s: signature failed: %s", op->key->name,
                      rc == -EACCES   ? "the token refused the PIN"
                      : rc == -ENOENT ? "the key is no longer on the token"
                                      : rv_name(rv));
    }
    return rc;
}

void tls_pkcs11_thread_fini(void)
{
    for (int i = 0; i < THREAD_SESSIONS; i++)
        if (tsessions[i].in)
            session_drop(&tsessions[i], true);
    for (int i = 0; i < MODULES_MAX; i++) {
        struct p11_inst *in = tinst[i];
        tinst[i] = NULL;
        if (!in || in == &modules[i]->shared)
            continue;
        if (atomic_load(&in->gen) == atomic_load(&fork_gen))
            in->f->C_Finalize(NULL); // closes the connection; the copy stays mapped
        core_stat_add(stat_copies, -1);
        free(in);
    }
}

void tls_pkcs11_key_free(struct tls_p11key *k)
{
    if (!k)
        return;
    if (k->pin) {
        OPENSSL_cleanse(k->pin, strlen(k->pin));
        free(k->pin);
    }
    RSA_free(k->rsa_pub);
    tls_p11uri_fini(&k->uri);
    free(k);
}

// ---- encodings ----

int tls_pkcs11_ecdsa_der(const uint8_t *rs, size_t rs_len, uint8_t *out, size_t cap)
{
    if (rs_len == 0 || rs_len % 2 || rs_len > 2 * 66)
        return -EINVAL;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(rs, rs_len / 2, NULL), *s = BN_bin2bn(rs + rs_len / 2, rs_len / 2, NULL);
    uint8_t *der = NULL;
    size_t len = 0;
    int rc = -EINVAL;
    if (!sig || !r || !s || !ECDSA_SIG_set0(sig, r, s)) {
        BN_free(r);
        BN_free(s);
        goto out;
    }
    if (ECDSA_SIG_to_bytes(&der, &len, sig) && len <= cap) {
        memcpy(out, der, len);
        rc = (int)len;
    }
out:
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
    return rc;
}

int tls_pkcs11_digestinfo(const EVP_MD *md, const uint8_t *digest, size_t dlen, uint8_t *out,
                          size_t cap)
{
    uint8_t *msg = NULL;
    size_t len = 0;
    int alloced = 0;
    if (!md || dlen != EVP_MD_size(md) ||
        !RSA_add_pkcs1_prefix(&msg, &len, &alloced, EVP_MD_type(md), digest, dlen))
        return -EINVAL;
    int rc = len <= cap ? (int)len : -EINVAL;
    if (rc > 0)
        memcpy(out, msg, len);
    if (alloced)
        OPENSSL_free(msg);
    return rc;
}

int tls_pkcs11_pss_encode(const RSA *rsa, const EVP_MD *md, const uint8_t *digest, size_t dlen,
                          uint8_t *out, size_t cap)
{
    if (!rsa || !md || dlen != EVP_MD_size(md) || RSA_size(rsa) > cap)
        return -EINVAL;
    // sLen -1: a salt as long as the digest (RFC 8446 section 4.2.3).
    if (!RSA_padding_add_PKCS1_PSS_mgf1(rsa, out, digest, md, md, -1))
        return -EINVAL;
    return (int)RSA_size(rsa);
}

// ---- loading a key (main thread) ----

// Reads the PIN named by the URI into k->pin. Returns 0 or -EINVAL after an error (the message
// names the file, never its contents).
static int read_pin(struct tls_p11key *k, const char *file, int line, struct core_err *err)
{
    if (k->uri.pin_value) {
        k->pin = strdup(k->uri.pin_value);
        return k->pin ? 0 : -ENOMEM;
    }
    const char *src = k->uri.pin_source;
    if (!src)
        return 0; // a token without login
    if (strncmp(src, "file://", 7) == 0)
        src += 7;
    else if (strncmp(src, "file:", 5) == 0)
        src += 5;
    if (src[0] != '/') {
        core_err_add(err, file, line, "pin-source must be an absolute path or a file: URI");
        return -EINVAL;
    }
    FILE *f = fopen(src, "re");
    char buf[256];
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    int e = errno;
    if (f)
        fclose(f);
    if (!f) {
        core_err_add(err, file, line, "cannot read the PIN file %s: %s", src, strerror(e));
        return -EINVAL;
    }
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    k->pin = buf[0] ? strdup(buf) : NULL;
    OPENSSL_cleanse(buf, sizeof(buf));
    if (!k->pin) {
        core_err_add(err, file, line, "the PIN file %s is empty", src);
        return -EINVAL;
    }
    return 0;
}

// Limits key's signature algorithms to what the token's mechanisms allow. Returns 0, or
// -ENOTSUP when the token can do none of them.
static int pick_sigalgs(struct tls_keyref *key, struct tls_p11key *k, struct tsess *s)
{
    CK_MECHANISM_TYPE mechs[256];
    CK_ULONG n = 256;
    bool ecdsa = false, pkcs1 = false, x509 = false, pss = false;
    if (s->in->f->C_GetMechanismList(s->slot, mechs, &n) != CKR_OK)
        n = 0;
    for (CK_ULONG i = 0; i < n; i++) {
        ecdsa |= mechs[i] == CKM_ECDSA;
        pkcs1 |= mechs[i] == CKM_RSA_PKCS;
        x509 |= mechs[i] == CKM_RSA_X_509;
        pss |= mechs[i] == CKM_RSA_PKCS_PSS;
    }
    size_t m = 0;
    if (k->key_type == EVP_PKEY_EC) {
        if (ecdsa)
            key->sigalgs[m++] = key->ec_nid == NID_secp384r1 ? SSL_SIGN_ECDSA_SECP384R1_SHA384
                                                             : SSL_SIGN_ECDSA_SECP256R1_SHA256;
    } else {
        k->pss_raw = x509;
        if (x509 || pss) {
            key->sigalgs[m++] = SSL_SIGN_RSA_PSS_RSAE_SHA256;
            key->sigalgs[m++] = SSL_SIGN_RSA_PSS_RSAE_SHA384;
            key->sigalgs[m++] = SSL_SIGN_RSA_PSS_RSAE_SHA512;
        }
        if (pkcs1) {
            key->sigalgs[m++] = SSL_SIGN_RSA_PKCS1_SHA256;
            key->sigalgs[m++] = SSL_SIGN_RSA_PKCS1_SHA384;
            key->sigalgs[m++] = SSL_SIGN_RSA_PKCS1_SHA512;
        }
    }
    key->n_sigalgs = m;
    return m ? 0 : -ENOTSUP;
}

// Verifies sig over digest with leaf's public key. Returns true when it is valid.
static bool verify(X509 *leaf, uint16_t sigalg, const uint8_t *digest, size_t dlen,
                   const uint8_t *sig, size_t slen)
{
    EVP_PKEY *pub = X509_get_pubkey(leaf);
    const EVP_MD *md = SSL_get_signature_algorithm_digest(sigalg);
    bool ok = false;
    if (pub && md && EVP_PKEY_id(pub) == EVP_PKEY_EC)
        ok = ECDSA_verify(0, digest, dlen, sig, slen, EVP_PKEY_get0_EC_KEY(pub)) == 1;
    else if (pub && md && SSL_is_signature_algorithm_rsa_pss(sigalg))
        ok = RSA_verify_pss_mgf1(EVP_PKEY_get0_RSA(pub), digest, dlen, md, md, -1, sig, slen) == 1;
    else if (pub && md)
        ok = RSA_verify(EVP_MD_type(md), digest, dlen, sig, slen, EVP_PKEY_get0_RSA(pub)) == 1;
    EVP_PKEY_free(pub);
    return ok;
}

// Reaches the token now: finds the key, limits its algorithms, and checks one signature of
// each kind against the certificate. Returns 0, 1 (warned: not reachable) or -EINVAL.
static int probe(struct tls_keyref *key, struct tls_p11key *k, X509 *leaf, const char *file,
                 int line, struct core_err *err)
{
    struct p11_inst *in = inst_for(k->mod);
    CK_RV rv = module_ready(in);
    struct tkey *tk = NULL;
    int rc = rv == CKR_OK ? key_resolve(k, in, &tk, &rv) : -EIO;
    if (rc == -EACCES || rc == -ENOENT || rc == -E2BIG) {
        core_err_add(err, file, line, "PKCS#11 key %s: %s", key->name,
                     rc == -EACCES   ? "the token refused the PIN"
                     : rc == -ENOENT ? "no such private key on the token"
                                     : "the URI matches more than one private key");
        return -EINVAL;
    }
    if (rc < 0) {
        core_err_warn(err, file, line,
                      "PKCS#11 key %s is not reachable now (%s); handshakes that need it fail "
                      "until it is",
                      key->name, rv_name(rv));
        return 1;
    }
    if (pick_sigalgs(key, k, tk->s) < 0) {
        core_err_add(err, file, line,
                     "PKCS#11 key %s: the token offers no usable signature "
                     "mechanism (CKM_ECDSA, CKM_RSA_PKCS, CKM_RSA_X_509 or "
                     "CKM_RSA_PKCS_PSS)",
                     key->name);
        return -EINVAL;
    }
    static const char probe_text[] = "tlsedge: PKCS#11 key check";
    for (size_t i = 0; i < key->n_sigalgs; i += (key->key_type == EVP_PKEY_EC ? 1 : 3)) {
        uint8_t digest[64], sig[1024];
        unsigned dlen = 0;
        size_t slen = 0;
        const EVP_MD *md = SSL_get_signature_algorithm_digest(key->sigalgs[i]);
        EVP_Digest(probe_text, sizeof(probe_text) - 1, digest, &dlen, md, NULL);
        rc = p11_sign(k, key->sigalgs[i], digest, dlen, sig, &slen, sizeof(sig), &rv);
        if (rc < 0 || !verify(leaf, key->sigalgs[i], digest, dlen, sig, slen)) {
            core_err_add(err, file, line, "PKCS#11 key %s %s", key->name,
                         rc < 0 ? "cannot sign" : "does not match its certificate");
            return -EINVAL;
        }
    }
    return 0;
}

// The URI without its query (which may hold the PIN), for messages.
static void public_name(char *out, size_t len, const char *uri)
{
    size_t n = strcspn(uri, "?");
    snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), uri);
}

int tls_pkcs11_key_load(struct tls_keyref *key, const char *uri,
                        const struct tls_pkcs11_opts *o, X509 *leaf, const char *file, int line,
                        struct core_err *err)
{
    char why[160], buf[PATH_MAX];
    struct tls_p11key *k = calloc(1, sizeof(*k));
    if (!k)
        return -ENOMEM;
    public_name(key->name, sizeof(key->name), uri);
    int rc = tls_p11uri_parse(uri, &k->uri, why, sizeof(why));
    if (rc < 0) {
        core_err_add(err, file, line, "bad PKCS#11 URI %s: %s", key->name, why);
        goto fail;
    }
    if ((rc = read_pin(k, file, line, err)) < 0)
        goto fail;
    // Before any module copy is loaded: a copy's C library takes the environment as it is then.
    if (o->server_address && o->server_address[0])
        setenv("P11_KIT_SERVER_ADDRESS", o->server_address, 0); // an address already set wins
    const char *path = resolve_module(&k->uri, o->module, buf, sizeof(buf));
    if ((rc = module_open(path, o->copies, &k->mod, file, line, err)) < 0)
        goto fail;
    if (key->key_type == EVP_PKEY_EC && key->ec_nid != NID_X9_62_prime256v1 &&
        key->ec_nid != NID_secp384r1) {
        core_err_add(err, file, line, "PKCS#11 key %s: EC keys must be on P-256 or P-384",
                     key->name);
        rc = -EINVAL;
        goto fail;
    }
    k->serial = atomic_fetch_add(&next_serial, 1) + 1;
    k->key_type = key->key_type;
    k->pss_raw = true;
    if (k->key_type == EVP_PKEY_RSA) {
        EVP_PKEY *pub = X509_get_pubkey(leaf);
        k->rsa_pub = pub ? EVP_PKEY_get1_RSA(pub) : NULL;
        EVP_PKEY_free(pub);
        if (!k->rsa_pub) {
            rc = -ENOMEM;
            goto fail;
        }
    }
    key->p11 = k;
    return probe(key, k, leaf, file, line, err);
fail:
    tls_pkcs11_key_free(k);
    return rc == -ENOMEM ? -ENOMEM : -EINVAL;
}
