// SPDX-License-Identifier: Apache-2.0
// hooks/plugins/async_verify: a sample plugin, the seeds' asynchronous origin verification.
// In TS_SSL_VERIFY_SERVER_HOOK it looks at the origin's leaf certificate (from
// TSVConnSslVerifyCTXGet) and
//   - fails it (TSVConnReenableEx(TS_EVENT_ERROR)) when it names a --block name,
//   - passes it only after --delay-ms when it names a --delay name: a continuation scheduled on
//     the connection's worker (TSContScheduleOnPool, TS_THREAD_POOL_NET) re-enables it later, and
//     the worker serves other connections meanwhile,
//   - passes every other certificate at once.
// "Names" means the certificate's subject CN, or a DNS name its subjectAltName covers.
// The handshake waits for the verdict only with proxy.config.ssl.client.verify.server INT 2;
// otherwise tlsedge does not pause VERIFY_SERVER hooks (ATS semantics) and a delay is moot.
//
// plugin.config: async_verify.so [--block NAME]... [--delay NAME]... [--delay-ms MS]
#include <ts/ts.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TAG "async_verify"
#define NAMES_MAX 32

struct names {
    char *v[NAMES_MAX];
    int n;
};

static struct names blocked, delayed;
static int delay_ms = 3000; // the seed's proof of concept waits 3 s

// Returns true when leaf names one of list (CN equal, or a SAN DNS name covering it).
static bool names_any(X509 *leaf, const struct names *list, const char **which)
{
    char cn[256] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn, sizeof(cn));
    for (int i = 0; i < list->n; i++) {
        const char *n = list->v[i];
        if (strcasecmp(cn, n) == 0 || X509_check_host(leaf, n, strlen(n), 0, NULL) == 1) {
            *which = n;
            return true;
        }
    }
    return false;
}

static int approve_later(TSCont cont, TSEvent ev, void *edata)
{
    TSVConn vc = TSContDataGet(cont);
    TSDebug(TAG, "delay over: re-enabling the origin handshake");
    TSVConnReenable(vc); // a connection gone meanwhile ignores it
    TSContDestroy(cont);
    return 0;
}

static int on_verify(TSCont cont, TSEvent ev, void *edata)
{
    TSVConn vc = edata;
    X509_STORE_CTX *xs = (X509_STORE_CTX *)TSVConnSslVerifyCTXGet(vc);
    X509 *leaf = xs ? X509_STORE_CTX_get0_cert(xs) : NULL;
    int len = 0;
    const char *sni = TSVConnSslSniGet(vc, &len);
    const char *which = NULL;
    if (!leaf) {
        TSError("[%s] no origin certificate to look at (SNI %.*s): failing it", TAG, len,
                sni ? sni : "");
        TSVConnReenableEx(vc, TS_EVENT_ERROR);
        return 0;
    }
    if (names_any(leaf, &blocked, &which)) {
        TSNote("[%s] origin certificate for %s is blocked (SNI %.*s)", TAG, which, len,
               sni ? sni : "");
        TSVConnReenableEx(vc, TS_EVENT_ERROR);
        return 0;
    }
    if (names_any(leaf, &delayed, &which)) {
        TSCont later = TSContCreate(approve_later, NULL);
        TSContDataSet(later, vc);
        TSNote("[%s] origin certificate for %s: approving in %d ms", TAG, which, delay_ms);
        TSContScheduleOnPool(later, delay_ms, TS_THREAD_POOL_NET);
        return 0; // the handshake waits (verify.server 2) until approve_later runs
    }
    TSDebug(TAG, "origin certificate (SNI %.*s) passes", len, sni ? sni : "");
    TSVConnReenable(vc);
    return 0;
}

static bool add(struct names *list, const char *name)
{
    if (list->n == NAMES_MAX)
        return false;
    list->v[list->n] = TSstrdup(name);
    list->n++;
    return true;
}

void TSPluginInit(int argc, const char *argv[])
{
    TSPluginRegistrationInfo info = {"async_verify", "tlsedge", "dev@tlsedge"};
    if (TSPluginRegister(&info) != TS_SUCCESS) {
        TSError("[%s] registration failed", TAG);
        return;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = v != NULL;
        if (ok && strcmp(a, "--block") == 0)
            ok = add(&blocked, v);
        else if (ok && strcmp(a, "--delay") == 0)
            ok = add(&delayed, v);
        else if (ok && strcmp(a, "--delay-ms") == 0)
            ok = (delay_ms = atoi(v)) >= 0;
        else
            ok = false;
        if (!ok) {
            TSError("[%s] bad argument '%s' (usage: async_verify.so [--block NAME]... "
                    "[--delay NAME]... [--delay-ms MS]); plugin disabled",
                    TAG, a);
            return;
        }
        i++;
    }
    TSHttpHookAdd(TS_SSL_VERIFY_SERVER_HOOK, TSContCreate(on_verify, NULL));
    TSNote("[%s] ready: %d blocked, %d delayed by %d ms", TAG, blocked.n, delayed.n, delay_ms);
}
