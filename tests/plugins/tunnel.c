// SPDX-License-Identifier: Apache-2.0
// tests/plugins/tunnel.c: calls TSVConnTunnel from one hook for connections whose SNI is the
// second argument (from VCONN_START, where no SNI is known yet, for every connection), then
// re-enables. Its VCONN_CLOSE hook logs the user argument it set on the tunnelled connection
// (a blind tunnel's VCONN_CLOSE runs when the tunnel ends). Arguments: start|hello|servername|cert
// NAME.
#include <ts/ts.h>

#include <string.h>

static const char *name = "";
static int arg = -1;

static int on_hook(TSCont contp, TSEvent event, void *edata)
{
    TSVConn vc = edata;
    const char *sni = TSVConnSslSniGet(vc, NULL);
    if (event == TS_EVENT_VCONN_CLOSE) {
        const char *mark = TSUserArgGet(vc, arg);
        if (mark)
            TSNote("tunnel: VCONN_CLOSE of the tunnel marked '%s' fd=%s", mark,
                   TSVConnFdGet(vc) >= 0 ? "yes" : "no");
        return 0;
    }
    if (event == TS_EVENT_VCONN_START || (sni && strcmp(sni, name) == 0)) {
        TSUserArgSet(vc, arg, (void *)"tunnelled");
        TSReturnCode rc = TSVConnTunnel(vc);
        TSNote("tunnel: %s for '%s' at event %d", rc == TS_SUCCESS ? "asked" : "refused",
               sni ? sni : "", (int)event);
    }
    if (event != TS_EVENT_SSL_SERVERNAME)
        TSVConnReenable(vc);
    return 0;
}

void TSPluginInit(int argc, const char *argv[])
{
    TSPluginRegistrationInfo info = {"tunnel", "tlsedge tests", "dev@tlsedge"};
    TSPluginRegister(&info);
    if (argc < 3) {
        TSError("tunnel: usage: tunnel.so start|hello|servername|cert NAME");
        return;
    }
    name = TSstrdup(argv[2]);
    TSHttpHookID id = strcmp(argv[1], "start") == 0        ? TS_VCONN_START_HOOK
                      : strcmp(argv[1], "hello") == 0      ? TS_SSL_CLIENT_HELLO_HOOK
                      : strcmp(argv[1], "servername") == 0 ? TS_SSL_SERVERNAME_HOOK
                                                           : TS_SSL_CERT_HOOK;
    TSUserArgIndexReserve(TS_USER_ARGS_VCONN, "tunnel", "mark", &arg);
    TSHttpHookAdd(id, TSContCreate(on_hook, NULL));
    TSHttpHookAdd(TS_VCONN_CLOSE_HOOK, TSContCreate(on_hook, NULL));
}
