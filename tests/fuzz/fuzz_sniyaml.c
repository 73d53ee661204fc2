// SPDX-License-Identifier: Apache-2.0
// tests/fuzz/fuzz_sniyaml.c: the sni.yaml parser (tls/sni.h, tls_sni_config_parse, on libyaml),
// the first-match look-up and the route expansion on what it built. CA paths resolve against a
// directory that does not exist, so a relative verify_client_ca_certs is an error, not a read.
// Seeds: the files of the integration tests (mutual TLS, tunnel and forward routes), ATS-style
// entries with every key.
//
// Properties checked beyond "no crash": a configuration exists exactly when no error was
// recorded; its entries keep their invariants (rising lines, lower-case names, wildcard suffixes
// starting with '.', version ranges in order); a look-up returns the first entry that the name
// matches; a route expansion into a small buffer either fits, terminated, or is -ENOSPC.
#include "core/err.h"
#include "tests/fuzz/fuzz.h"
#include "tls/sni.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

// check_entry checks entry e; prev is the line of the entry before it.
static void check_entry(const struct tls_sni_entry *e, int prev)
{
    FUZZ_CHECK(e->line > prev && e->fqdn != NULL);
    for (const char *p = e->fqdn; *p; p++)
        FUZZ_CHECK(!isupper((unsigned char)*p));
    FUZZ_CHECK(!e->wildcard || e->fqdn[0] == '.');
    FUZZ_CHECK(e->verify_client >= TLS_VERIFY_CLIENT_UNSET &&
               e->verify_client <= TLS_VERIFY_CLIENT_STRICT);
    FUZZ_CHECK(e->min_version <= e->max_version || e->max_version == 0);
}

// lookups checks that names built from the entries find the first entry they match.
static void lookups(const struct tls_sni_config *c)
{
    char name[300], out[32];
    for (size_t i = 0; i < c->n && i < 8; i++) {
        const struct tls_sni_entry *e = &c->entry[i];
        if (strlen(e->fqdn) + 2 > sizeof(name))
            continue; // longer than any SNI a ClientHello can carry (TLS_CH_SNI_MAX)
        snprintf(name, sizeof(name), "%s%s", e->wildcard ? "x" : "", e->fqdn);
        const struct tls_sni_entry *found = tls_sni_lookup(c, name);
        FUZZ_CHECK(found != NULL && found <= e); // e matches, so the first match is e or earlier
        for (int r = 0; r < 3; r++) {
            const char *route = r == 0   ? e->tunnel_route
                                : r == 1 ? e->forward_route
                                         : e->partial_blind_route;
            if (route == NULL)
                continue;
            memset(out, 'x', sizeof(out));
            int rc = tls_sni_route_expand(e, route, name, 8443, out, sizeof(out));
            FUZZ_CHECK(rc == 0 || rc == -ENOSPC);
            if (rc == 0)
                FUZZ_CHECK(memchr(out, '\0', sizeof(out)) != NULL);
        }
    }
    FUZZ_CHECK(tls_sni_lookup(c, NULL) == NULL && tls_sni_lookup(c, "") == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct core_err err;
    char line[CORE_ERR_FILE_MAX + CORE_ERR_REASON_MAX + 32];
    core_err_init(&err);
    struct tls_sni_config *c =
        tls_sni_config_parse((const char *)data, size, "sni.yaml", "/nonexistent-fuzz", &err);
    FUZZ_CHECK((c == NULL) == core_err_failed(&err));
    for (int i = 0; i < err.kept; i++)
        FUZZ_CHECK(core_err_format(&err, i, line, sizeof(line))[0] != '\0');
    if (c == NULL)
        return 0;
    FUZZ_CHECK(c->n == 0 || c->entry != NULL);
    for (size_t i = 0; i < c->n; i++)
        check_entry(&c->entry[i], i == 0 ? 0 : c->entry[i - 1].line);
    lookups(c);
    tls_sni_config_free(c);
    return 0;
}
