// SPDX-License-Identifier: Apache-2.0
// tests/plugins/verify_client.c: a VERIFY_CLIENT hook that reads the client's verified chain
// through TSVConnSslVerifyCTXGet, logs the leaf's CN and the chain length, and refuses the CN
// given as the first argument (TSVConnReenableEx with TS_EVENT_ERROR). An optional second
// argument delays the verdict by that many ms on a task thread (for verify_client_async 1).
#include <ts/ts.h>

#include <openssl/x509.h>

#include <stdlib.h>
#include <string.h>

static const char *blocked = "";
static int delay_ms;

struct verdict {
    TSVConn vc;
    TSEvent event;
};

static int later(TSCont contp, TSEvent event, void *edata)
{
    struct verdict *v = TSContDataGet(contp);
    TSVConnReenableEx(v->vc, v->event);
    TSfree(v);
    TSContDestroy(contp);
    return 0;
}

static int on_verify(TSCont contp, TSEvent event, void *edata)
{
    TSVConn vc = edata;
    X509_STORE_CTX *xs = (X509_STORE_CTX *)TSVConnSslVerifyCTXGet(vc);
    X509 *leaf = xs ? X509_STORE_CTX_get0_cert(xs) : NULL;
    STACK_OF(X509) *chain = xs ? X509_STORE_CTX_get0_chain(xs) : NULL;
    char cn[128] = "";
    if (leaf)
        X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn, sizeof(cn));
    TSEvent verdict = strcmp(cn, blocked) == 0 ? TS_EVENT_ERROR : TS_EVENT_CONTINUE;
    TSNote("verify_client: CN=%s chain=%zu verdict=%s", cn, chain ? sk_X509_num(chain) : 0,
           verdict == TS_EVENT_ERROR ? "refuse" : "accept");
    if (delay_ms > 0) {
        struct verdict *v = TSmalloc(sizeof(*v));
        v->vc = vc;
        v->event = verdict;
        TSCont k = TSContCreate(later, NULL);
        TSContDataSet(k, v);
        TSContScheduleOnPool(k, delay_ms, TS_THREAD_POOL_TASK);
        return 0;
    }
    TSVConnReenableEx(vc, verdict);
    return 0;
}

void TSPluginInit(int argc, const char *argv[])
{
    TSPluginRegistrationInfo info = {"verify_client", "tlsedge tests", "dev@tlsedge"};
    TSPluginRegister(&info);
    if (argc > 1)
        blocked = TSstrdup(argv[1]);
    if (argc > 2)
        delay_ms = atoi(argv[2]);
    TSHttpHookAdd(TS_SSL_VERIFY_CLIENT_HOOK, TSContCreate(on_verify, NULL));
}
