// SPDX-License-Identifier: Apache-2.0
// tests/fuzz/fuzz_clienthello.c: the ClientHello peeker (tls/clienthello.h), the first parser to
// see a client's bytes. Seeds: real first flights of `openssl s_client` and `curl`.
//
// Properties checked beyond "no crash": a DONE parse covers no more than the input, its strings
// are bounded and NUL-terminated, parsing exactly ch.length bytes gives the same result, and
// (the header's promise that a caller can parse again as bytes arrive) every strict prefix of a
// DONE flight is NEED_MORE; NEED_MORE itself never turns into NOT_TLS by adding bytes.
#include "tests/fuzz/fuzz.h"
#include "tls/clienthello.h"

#include <string.h>

// check_done checks the fields of a DONE parse of data[0..size) in ch.
static void check_done(const uint8_t *data, size_t size, const struct tls_clienthello *ch)
{
    FUZZ_CHECK(ch->length > 0 && ch->length <= size);
    FUZZ_CHECK(ch->sni_len <= TLS_CH_SNI_MAX);
    FUZZ_CHECK(ch->sni[ch->sni_len] == '\0' && strlen(ch->sni) == ch->sni_len);
    FUZZ_CHECK(!ch->has_sni || ch->sni_len > 0);
    FUZZ_CHECK(ch->alpn_len <= TLS_CH_ALPN_MAX);
    FUZZ_CHECK(ch->session_id_len <= TLS_CH_SESSION_ID_MAX);
    FUZZ_CHECK(ch->n_ciphers <= TLS_CH_CIPHERS_MAX);
    FUZZ_CHECK(ch->n_versions <= TLS_CH_VERSIONS_MAX);
    FUZZ_CHECK(ch->n_sigalgs <= TLS_CH_SIGALGS_MAX);
    FUZZ_CHECK(ch->n_groups <= TLS_CH_GROUPS_MAX);
    // The kept ALPN list is whole entries: walking it by their length bytes ends exactly at
    // alpn_len, so tls_clienthello_offers_alpn() never reads a partial name.
    size_t off = 0;
    while (off < ch->alpn_len)
        off += 1 + (size_t)ch->alpn[off];
    FUZZ_CHECK(off == ch->alpn_len);
    (void)tls_clienthello_offers_alpn(ch, "http/1.1");
    (void)tls_clienthello_offers_alpn(ch, "h2");
    (void)tls_clienthello_accepts_ecdsa(ch, TLS_CH_VERSION_TLS13);
    (void)tls_clienthello_accepts_ecdsa(ch, TLS_CH_VERSION_TLS12);
    (void)tls_clienthello_accepts_rsa(ch, TLS_CH_VERSION_TLS13);
    (void)tls_clienthello_accepts_rsa(ch, TLS_CH_VERSION_TLS12);
}

// check_prefixes checks that strict prefixes of the DONE flight data[0..length) are NEED_MORE:
// all of them for a short flight, 48 drawn at random (plus the longest) for a long one, which
// keeps a run fast while the fuzzer still reaches every length over many inputs.
static void check_prefixes(const uint8_t *data, size_t length, uint32_t seed)
{
    static struct tls_clienthello ch;
    if (length <= 256) {
        for (size_t k = 0; k < length; k++)
            FUZZ_CHECK(tls_clienthello_parse(data, k, &ch) == TLS_CH_NEED_MORE);
        return;
    }
    FUZZ_CHECK(tls_clienthello_parse(data, length - 1, &ch) == TLS_CH_NEED_MORE);
    for (int i = 0; i < 48; i++) {
        size_t k = fuzz_rng_next(&seed) % length;
        FUZZ_CHECK(tls_clienthello_parse(data, k, &ch) == TLS_CH_NEED_MORE);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    // Static: the struct is 1.6 KiB and the parser itself takes 9 KiB of stack.
    static struct tls_clienthello ch, again;
    enum tls_ch_result r = tls_clienthello_parse(data, size, &ch);
    FUZZ_CHECK(tls_ch_result_name(r)[0] != '\0');
    if (r == TLS_CH_NOT_TLS)
        FUZZ_CHECK(size > 0 && data[0] != 22);
    if (r == TLS_CH_NEED_MORE && size > 0)
        FUZZ_CHECK(data[0] == 22);
    if (r != TLS_CH_DONE)
        return 0;
    check_done(data, size, &ch);
    FUZZ_CHECK(tls_clienthello_parse(data, ch.length, &again) == TLS_CH_DONE);
    FUZZ_CHECK(memcmp(&ch, &again, sizeof(ch)) == 0);
    check_prefixes(data, ch.length, fuzz_rng_seed(data, size));
    return 0;
}
