// SPDX-License-Identifier: Apache-2.0
// tests/plugins/ticket_keys.c: hands tlsedge session-ticket keys through TSSslTicketKeyUpdate,
// as a plugin that distributes one key set to a fleet would. Arguments: a key file in ATS's
// format (N x 48 bytes) read at start-up, and optionally a delay in ms after which a second key
// file is read and handed over from a task-thread continuation.
#include <ts/ts.h>

#include <stdio.h>
#include <stdlib.h>

static char *later_path;

// update reads path and hands its bytes over; never logs them.
static void update(const char *path)
{
    char buf[4096];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;
    if (f)
        fclose(f);
    if (TSSslTicketKeyUpdate(buf, (int)n) == TS_SUCCESS)
        TSNote("ticket_keys: %zu bytes handed over from %s", n, path);
    else
        TSError("ticket_keys: %s refused (%zu bytes)", path, n);
}

static int later(TSCont contp, TSEvent event, void *edata)
{
    update(later_path);
    TSContDestroy(contp);
    return 0;
}

void TSPluginInit(int argc, const char *argv[])
{
    TSPluginRegistrationInfo info = {"ticket_keys", "tlsedge tests", "dev@tlsedge"};
    TSPluginRegister(&info);
    if (argc < 2) {
        TSError("ticket_keys: usage: ticket_keys.so KEYFILE [DELAY_MS KEYFILE2]");
        return;
    }
    update(argv[1]);
    if (argc >= 4) {
        later_path = TSstrdup(argv[3]);
        TSContScheduleOnPool(TSContCreate(later, NULL), atoi(argv[2]), TS_THREAD_POOL_TASK);
    }
}
