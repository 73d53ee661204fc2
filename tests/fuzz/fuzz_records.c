// SPDX-License-Identifier: Apache-2.0
// tests/fuzz/fuzz_records.c: the records.config parser (core/records.h, core_records_parse),
// with the names tlsedge's modules really declare (HTTP, TLS, origins, plugins) plus core's and
// one FLOAT.
// Seeds: the embedded default as `tlsedge --write-default-config` writes it, and hand-written
// lines of every type, suffix and error.
//
// Properties checked beyond "no crash": every error and warning formats; and whatever the input
// set, the table written back out (core_records_write) parses without an error into a fresh
// table and writes out byte for byte the same: what tlsedge accepted it can always write back
// for `--write-default-config`.
#include "core/err.h"
#include "core/records.h"
#include "hooks/hook.h"
#include "net/proxy.h"
#include "tests/fuzz/fuzz.h"
#include "tls/config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

// core/main.c declares these (static there); the FLOAT is the fuzzer's own, since no module
// declares a FLOAT yet and its parser and writer must round-trip too.
static const struct core_rec_decl extra[] = {
    {"proxy.config.exec_thread.limit", CORE_REC_INT, "0"},
    {"proxy.config.http.server_ports", CORE_REC_STRING, "8443:ssl 8081"},
    {"proxy.config.net.listen_backlog", CORE_REC_INT, "1024"},
    {"proxy.config.log.logfile_dir", CORE_REC_STRING, ""},
    {"proxy.config.diags.debug.tags", CORE_REC_STRING, ""},
    {"fuzz.float", CORE_REC_FLOAT, "0.5"},
};

// declared returns a new table with every name declared, or aborts.
static struct core_records *declared(void)
{
    struct core_records *r = core_records_new();
    FUZZ_CHECK(r != NULL);
    FUZZ_CHECK(net_http_config_declare(r) == 0);
    FUZZ_CHECK(tls_config_declare(r) == 0);
    FUZZ_CHECK(hook_config_declare(r) == 0);
    FUZZ_CHECK(core_records_declare_all(r, extra, sizeof(extra) / sizeof(extra[0])) == 0);
    return r;
}

// written returns r written out as text (malloc'd, *len bytes), or aborts.
static char *written(const struct core_records *r, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    FUZZ_CHECK(f != NULL);
    FUZZ_CHECK(core_records_write(r, f) == 0);
    FUZZ_CHECK(fclose(f) == 0);
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct core_err err;
    char line[CORE_ERR_FILE_MAX + CORE_ERR_REASON_MAX + 32];
    struct core_records *r = declared();
    core_err_init(&err);
    int rc = core_records_parse(r, (const char *)data, size, "records.config", &err);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL);
    FUZZ_CHECK((rc == -EINVAL) == core_err_failed(&err));
    for (int i = 0; i < err.kept; i++)
        FUZZ_CHECK(core_err_format(&err, i, line, sizeof(line))[0] != '\0');

    size_t len1 = 0, len2 = 0;
    char *text1 = written(r, &len1);
    struct core_records *back = declared();
    core_err_init(&err);
    FUZZ_CHECK(core_records_parse(back, text1, len1, "written", &err) == 0);
    char *text2 = written(back, &len2);
    FUZZ_CHECK(len1 == len2 && memcmp(text1, text2, len1) == 0);

    free(text2);
    free(text1);
    core_records_free(back);
    core_records_free(r);
    return 0;
}
