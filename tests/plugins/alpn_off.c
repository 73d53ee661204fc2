// SPDX-License-Identifier: Apache-2.0
// tests/plugins/alpn_off.c: in VCONN_START, disables the ALPN protocol "http/1.1" for every
// connection (TSVConnProtocolDisable) and logs what enabling "h2", which tlsedge does not speak,
// returns (TSVConnProtocolEnable).
#include <ts/ts.h>

static int on_start(TSCont contp, TSEvent event, void *edata)
{
    TSVConn vc = edata;
    TSReturnCode off = TSVConnProtocolDisable(vc, "http/1.1");
    TSReturnCode h2 = TSVConnProtocolEnable(vc, "h2");
    TSNote("alpn_off: disable http/1.1 %s, enable h2 %s", off == TS_SUCCESS ? "ok" : "error",
           h2 == TS_SUCCESS ? "ok" : "error");
    TSVConnReenable(vc);
    return 0;
}

void TSPluginInit(int argc, const char *argv[])
{
    TSPluginRegistrationInfo info = {"alpn_off", "tlsedge tests", "dev@tlsedge"};
    TSPluginRegister(&info);
    TSHttpHookAdd(TS_VCONN_START_HOOK, TSContCreate(on_start, NULL));
}
