// SPDX-License-Identifier: Apache-2.0
// tests/plugins/tunnel.c: calls TSVConnTunnel from one hook for connections whose SNI is the
// second argument (from VCONN_START, where no SNI is known yet, for every connection), then
// re-enables. Arguments: start|hello|servername|cert NAME.
#include <ts/ts.h>

#include <string.h>

static const char *name = "";

static int on_hook(TSCont contp, TSEvent event, void *edata)
{
    TSVConn vc = edata;
    const char *sni = TSVConnSslSniGet(vc, NULL);
    if (event == TS_EVENT_VCONN_START || (sni && strcmp(sni, name) == 0)) {
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
    TSHttpHookAdd(id, TSContCreate(on_hook, NULL));
}
