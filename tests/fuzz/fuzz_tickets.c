// SPDX-License-Identifier: Apache-2.0
// tests/fuzz/fuzz_tickets.c: the session ticket key file parser (tls/tickets.h,
// tls_ticket_keys_parse): ATS's binary format, N x 48-byte keys. Seeds: one, two and 64+ keys,
// short files and files with a remainder.
//
// Properties checked beyond "no crash": a block exists exactly when at least one whole key is
// there; it holds min(len / 48, TLS_TICKET_KEYS_MAX) keys, each the very bytes of its entry in
// file order; and no message about the file carries key bytes (the header's promise): neither a
// key name, nor a secret, in raw bytes or in hex.
#include "core/err.h"
#include "tests/fuzz/fuzz.h"
#include "tls/tickets.h"

#include <stdbool.h>
#include <string.h>

// hex writes the n bytes of p as lower-case hex into out (2n + 1 bytes).
static void hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

// no_secret_in checks that no message in err holds the 16 bytes at p in hex (either case), or
// raw when they are not plain text (printable bytes could spell a piece of the message itself).
static void no_secret_in(const struct core_err *err, const uint8_t *p)
{
    char h[33];
    bool text = true;
    hex(p, 16, h);
    for (int i = 0; i < 16; i++)
        text = text && p[i] >= 0x20 && p[i] < 0x7f;
    for (int i = 0; i < err->kept; i++) {
        const char *reason = err->entry[i].reason;
        FUZZ_CHECK(text || memmem(reason, strlen(reason), p, 16) == NULL);
        FUZZ_CHECK(strcasestr(reason, h) == NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct core_err err;
    char line[CORE_ERR_FILE_MAX + CORE_ERR_REASON_MAX + 32];
    core_err_init(&err);
    struct tls_ticket_keys *k = tls_ticket_keys_parse(data, size, "ticket.key", &err);
    for (int i = 0; i < err.kept; i++)
        FUZZ_CHECK(core_err_format(&err, i, line, sizeof(line))[0] != '\0');
    FUZZ_CHECK((k != NULL) == (size >= TLS_TICKET_KEY_LEN));
    FUZZ_CHECK((k == NULL) == core_err_failed(&err));
    for (size_t off = 0; off + 16 <= size && off < 4 * TLS_TICKET_KEY_LEN; off += 16)
        no_secret_in(&err, data + off);
    if (k == NULL)
        return 0;
    size_t n = size / TLS_TICKET_KEY_LEN;
    if (n > TLS_TICKET_KEYS_MAX)
        n = TLS_TICKET_KEYS_MAX;
    FUZZ_CHECK(tls_ticket_keys_count(k) == n);
    for (size_t i = 0; i < n; i++) {
        const struct tls_ticket_key *key = tls_ticket_keys_get0(k, i);
        const uint8_t *entry = data + i * TLS_TICKET_KEY_LEN;
        FUZZ_CHECK(key != NULL);
        FUZZ_CHECK(memcmp(key->name, entry, 16) == 0);
        FUZZ_CHECK(memcmp(key->hmac_secret, entry + 16, 16) == 0);
        FUZZ_CHECK(memcmp(key->aes_key, entry + 32, 16) == 0);
    }
    FUZZ_CHECK(tls_ticket_keys_get0(k, n) == NULL);
    FUZZ_CHECK(tls_ticket_keys_ref(k) == k);
    tls_ticket_keys_unref(k);
    tls_ticket_keys_unref(k);
    return 0;
}
