// SPDX-License-Identifier: Apache-2.0
// tests/fuzz/fuzz_multicert.c: the ssl_multicert.config parser (tls/multicert.h,
// tls_multicert_parse); no file is read, no certificate loaded. Seeds: the README's examples,
// ATS-style lines with every tag, quoting and comments.
//
// Properties checked beyond "no crash": a result exists exactly when no error was recorded; every
// rule in it keeps the documented invariants (line numbers rising, 1 to 4 chains unless a
// tunnel, every named file resolved against its directory); every problem formats.
#include "core/err.h"
#include "tests/fuzz/fuzz.h"
#include "tls/multicert.h"

#include <string.h>
#include <sys/socket.h>

// check_line checks one parsed rule l; prev is the line number of the rule before it.
static void check_line(const struct tls_multicert_line *l, int prev)
{
    FUZZ_CHECK(l->line > prev);
    FUZZ_CHECK(l->n_certs >= 0 && l->n_certs <= TLS_MULTICERT_MAX_CHAINS);
    FUZZ_CHECK(l->tunnel ? l->has_dest : l->n_certs > 0);
    FUZZ_CHECK(!l->dest_any || l->has_dest);
    if (l->has_dest && !l->dest_any)
        FUZZ_CHECK(l->dest.ss_family == AF_INET || l->dest.ss_family == AF_INET6);
    FUZZ_CHECK(l->ticket_enabled >= -1 && l->ticket_enabled <= 1 && l->ticket_number >= -1);
    for (int i = 0; i < l->n_certs; i++) {
        FUZZ_CHECK(l->cert[i] != NULL && l->cert[i][0] != '\0');
        // A relative name was joined to cert_dir ("/c"), an absolute one kept.
        FUZZ_CHECK(l->cert[i][0] == '/');
        const char *k = l->key[i];
        if (k != NULL && strncmp(k, "pkcs11:", 7) != 0 && strncmp(k, "keyless:", 8) != 0)
            FUZZ_CHECK(k[0] == '/');
    }
    for (int i = l->n_certs; i < TLS_MULTICERT_MAX_CHAINS; i++)
        FUZZ_CHECK(l->cert[i] == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct core_err err;
    char line[CORE_ERR_FILE_MAX + CORE_ERR_REASON_MAX + 32];
    core_err_init(&err);
    struct tls_multicert *m =
        tls_multicert_parse((const char *)data, size, "ssl_multicert.config", "/c", "/k", &err);
    FUZZ_CHECK((m == NULL) == core_err_failed(&err));
    for (int i = 0; i < err.kept; i++)
        FUZZ_CHECK(core_err_format(&err, i, line, sizeof(line))[0] != '\0');
    if (m == NULL)
        return 0;
    FUZZ_CHECK(m->n == 0 || m->lines != NULL);
    for (size_t i = 0; i < m->n; i++)
        check_line(&m->lines[i], i == 0 ? 0 : m->lines[i - 1].line);
    tls_multicert_free(m);
    return 0;
}
