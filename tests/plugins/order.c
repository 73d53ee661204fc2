// SPDX-License-Identifier: Apache-2.0
// tests/plugins/order.c: a test plugin that records every TLS hook it sees, inbound and
// outbound, and can pause, delay or fail any of them. Loaded by tests/integration/10-hooks.sh
// and 26-outbound-hooks.sh; several instances (one plugin.config line each, same file) keep
// their state apart in their continuations.
//
// plugin.config: order.so NAME [hooks=LIST] [pause=LIST] [error=LIST] [delay=MS] [match=SNI]
//                [via=thread|task|net]
//   LIST is a comma list of START, HELLO, SNI (SERVERNAME), CERT, CLOSE, and the outbound
//   OUT_START, VERIFY_SERVER, OUT_CLOSE (their connections have ID 0: no VCONN_START).
//   pause: re-enable later (after delay ms, default 300) instead of in the callback: from a
//     thread of the plugin's own (via=thread, default), a TS_THREAD_POOL_TASK continuation
//     (via=task) or a TS_THREAD_POOL_NET one (via=net).
//   error: re-enable with TS_EVENT_ERROR (inline, or later when also paused).
//   match: pause/error only connections whose SNI is this name (VCONN_START has no SNI yet).
// Each call logs "order NAME #ID HOOK sni=..." and each delayed re-enable
// "order NAME #ID HOOK reenable": ID numbers connections in VCONN_START order (0 without it).
#include <ts/ts.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

enum { H_START, H_HELLO, H_SNI, H_CERT, H_CLOSE, H_OSTART, H_VERIFY, H_OCLOSE, H_N };
static const char *const hname[H_N] = {"START", "HELLO",     "SNI",          "CERT",
                                       "CLOSE", "OUT_START", "VERIFY_SERVER", "OUT_CLOSE"};
static const TSHttpHookID hid[H_N] = {
    TS_VCONN_START_HOOK, TS_SSL_CLIENT_HELLO_HOOK,  TS_SSL_SERVERNAME_HOOK,
    TS_SSL_CERT_HOOK,    TS_VCONN_CLOSE_HOOK,       TS_VCONN_OUTBOUND_START_HOOK,
    TS_SSL_VERIFY_SERVER_HOOK, TS_VCONN_OUTBOUND_CLOSE_HOOK};

enum via { VIA_THREAD, VIA_TASK, VIA_NET };

struct inst {
    char name[32];
    unsigned hooks, pause, error; // bit per H_*
    int delay_ms;
    char match[256];
    enum via via;
    int arg; // user arg slot for the connection id
};

struct later {
    struct inst *in;
    TSVConn vc;
    int id, h;
    TSEvent ev;
};

static _Atomic int next_id;

static unsigned parse_list(const char *s)
{
    unsigned bits = 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        int i = 0;
        while (i < H_N && !(strlen(hname[i]) == n && strncmp(s, hname[i], n) == 0))
            i++;
        if (i < H_N)
            bits |= 1u << i;
        else
            TSError("order: unknown hook '%.*s'", (int)n, s);
        s += n + (s[n] == ',');
    }
    return bits;
}

static int hook_index(TSEvent ev)
{
    switch (ev) {
    case TS_EVENT_VCONN_START:
        return H_START;
    case TS_EVENT_SSL_CLIENT_HELLO:
        return H_HELLO;
    case TS_EVENT_SSL_SERVERNAME:
        return H_SNI;
    case TS_EVENT_SSL_CERT:
        return H_CERT;
    case TS_EVENT_VCONN_CLOSE:
        return H_CLOSE;
    case TS_EVENT_VCONN_OUTBOUND_START:
        return H_OSTART;
    case TS_EVENT_SSL_VERIFY_SERVER:
        return H_VERIFY;
    case TS_EVENT_VCONN_OUTBOUND_CLOSE:
        return H_OCLOSE;
    default:
        return -1;
    }
}

static void finish(struct later *l)
{
    TSNote("order %s #%d %s reenable%s", l->in->name, l->id, hname[l->h],
           l->ev == TS_EVENT_ERROR ? " error" : "");
    TSVConnReenableEx(l->vc, l->ev);
    TSfree(l);
}

static void *later_thread(void *arg)
{
    struct later *l = arg;
    struct timespec ts = {l->in->delay_ms / 1000, (long)(l->in->delay_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    finish(l);
    return NULL;
}

static int later_cont(TSCont cont, TSEvent ev, void *edata)
{
    finish(TSContDataGet(cont));
    TSContDestroy(cont);
    return 0;
}

static void reenable_later(struct later *l)
{
    if (l->in->via == VIA_THREAD) {
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &a, later_thread, l) != 0)
            finish(l);
        pthread_attr_destroy(&a);
        return;
    }
    TSCont c = TSContCreate(later_cont, NULL);
    TSContDataSet(c, l);
    TSContScheduleOnPool(c, l->in->delay_ms,
                         l->in->via == VIA_TASK ? TS_THREAD_POOL_TASK : TS_THREAD_POOL_NET);
}

static int on_hook(TSCont cont, TSEvent ev, void *edata)
{
    struct inst *in = TSContDataGet(cont);
    TSVConn vc = edata;
    int h = hook_index(ev);
    if (h < 0)
        return 0;
    if (h == H_START)
        TSUserArgSet(vc, in->arg, (void *)(intptr_t)(atomic_fetch_add(&next_id, 1) + 1));
    int id = (int)(intptr_t)TSUserArgGet(vc, in->arg);
    int len = 0;
    const char *sni = TSVConnSslSniGet(vc, &len);
    TSSslVerifyCTX xs = h == H_VERIFY ? TSVConnSslVerifyCTXGet(vc) : NULL;
    X509 *leaf = xs ? X509_STORE_CTX_get0_cert((X509_STORE_CTX *)xs) : NULL;
    char subject[128] = "";
    if (leaf)
        X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, subject,
                                  sizeof(subject));
    TSNote("order %s #%d %s sni=%.*s ssl=%s fd=%s%s%s", in->name, id, hname[h], len,
           sni ? sni : "", TSVConnSslConnectionGet(vc) ? "yes" : "no",
           TSVConnFdGet(vc) >= 0 ? "yes" : "no", h == H_VERIFY ? " cn=" : "", subject);
    bool matches = !in->match[0] || (sni && strcmp(sni, in->match) == 0);
    TSEvent out = matches && (in->error & (1u << h)) ? TS_EVENT_ERROR : TS_EVENT_CONTINUE;
    if (matches && (in->pause & (1u << h)) && h != H_CLOSE && h != H_OCLOSE) {
        struct later *l = TSmalloc(sizeof(*l));
        *l = (struct later){in, vc, id, h, out};
        reenable_later(l);
        return 0;
    }
    TSVConnReenableEx(vc, out);
    return 0;
}

void TSPluginInit(int argc, const char *argv[])
{
    TSPluginRegistrationInfo info = {"order", "tlsedge tests", "dev@tlsedge"};
    struct inst *in = TSmalloc(sizeof(*in));
    memset(in, 0, sizeof(*in));
    in->hooks = (1u << H_N) - 1;
    in->delay_ms = 300;
    snprintf(in->name, sizeof(in->name), "%s", argc > 1 ? argv[1] : "order");
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "hooks=", 6) == 0)
            in->hooks = parse_list(a + 6);
        else if (strncmp(a, "pause=", 6) == 0)
            in->pause = parse_list(a + 6);
        else if (strncmp(a, "error=", 6) == 0)
            in->error = parse_list(a + 6);
        else if (strncmp(a, "delay=", 6) == 0)
            in->delay_ms = atoi(a + 6);
        else if (strncmp(a, "match=", 6) == 0)
            snprintf(in->match, sizeof(in->match), "%s", a + 6);
        else if (strcmp(a, "via=task") == 0)
            in->via = VIA_TASK;
        else if (strcmp(a, "via=net") == 0)
            in->via = VIA_NET;
        else if (strcmp(a, "via=thread") != 0)
            TSError("order: unknown argument '%s'", a);
    }
    if (TSPluginRegister(&info) != TS_SUCCESS)
        TSError("order: registration failed");
    if (TSUserArgIndexReserve(TS_USER_ARGS_VCONN, in->name, "connection id", &in->arg) !=
        TS_SUCCESS) {
        TSError("order %s: no user argument slot", in->name);
        return;
    }
    for (int h = 0; h < H_N; h++) {
        if (!(in->hooks & (1u << h)))
            continue;
        TSCont c = TSContCreate(on_hook, NULL);
        TSContDataSet(c, in);
        TSHttpHookAdd(hid[h], c);
    }
    TSNote("order %s ready: hooks %#x pause %#x error %#x delay %d ms", in->name, in->hooks,
           in->pause, in->error, in->delay_ms);
}
