// SPDX-License-Identifier: Apache-2.0
// tests/fuzz/fuzz_keyless_proto.c: the keyless protocol decoders (tls/keyless_proto.h): the
// signer decodes requests from the proxy, the proxy decodes replies from the signer, each from a
// stream of frames. The input is parsed both ways, frame after frame, as a stream would be.
// Seeds: SIGN and PING requests, OK and error replies, several frames back to back.
//
// Properties checked beyond "no crash": a decoded frame lies within the input; encoding what was
// decoded gives back exactly the frame's bytes (the codec keeps nothing it cannot write back);
// every strict prefix of a frame is "need more" (0), never an error, so a peer's frame split by
// TCP is never mistaken for a bad one.
#include "tests/fuzz/fuzz.h"
#include "tls/keyless_proto.h"

#include <errno.h>
#include <string.h>

// check_request_prefixes checks that the strict prefixes of the request frame buf[0..n) are 0.
static void check_request_prefixes(const uint8_t *buf, size_t n)
{
    struct tls_keyless_request r;
    for (size_t k = 0; k < n; k++)
        FUZZ_CHECK(tls_keyless_request_decode(buf, k, &r) == 0);
}

// check_reply_prefixes samples strict prefixes of the reply frame buf[0..n) (up to 1 KiB long):
// all below the head and 32 more.
static void check_reply_prefixes(const uint8_t *buf, size_t n, uint32_t seed)
{
    static struct tls_keyless_reply r;
    for (size_t k = 0; k < n && k <= TLS_KEYLESS_LENGTH_LEN + TLS_KEYLESS_REPLY_HEAD; k++)
        FUZZ_CHECK(tls_keyless_reply_decode(buf, k, &r) == 0);
    for (int i = 0; i < 32; i++)
        FUZZ_CHECK(tls_keyless_reply_decode(buf, fuzz_rng_next(&seed) % n, &r) == 0);
}

// requests decodes data[0..size) as a stream of request frames.
static void requests(const uint8_t *data, size_t size)
{
    struct tls_keyless_request r;
    uint8_t out[TLS_KEYLESS_REQUEST_FRAME_MAX];
    size_t off = 0;
    for (;;) {
        int n = tls_keyless_request_decode(data + off, size - off, &r);
        FUZZ_CHECK(n >= 0 || n == -EBADMSG);
        if (n <= 0)
            return;
        FUZZ_CHECK((size_t)n <= size - off && (size_t)n <= sizeof(out));
        FUZZ_CHECK(r.digest_len <= TLS_KEYLESS_DIGEST_MAX);
        FUZZ_CHECK(tls_keyless_request_encode(&r, out, sizeof(out)) == n);
        FUZZ_CHECK(memcmp(out, data + off, (size_t)n) == 0);
        FUZZ_CHECK(tls_keyless_request_encode(&r, out, (size_t)n - 1) == -ENOSPC);
        check_request_prefixes(data + off, (size_t)n);
        (void)tls_keyless_sigalg_digest_len(r.sigalg);
        off += (size_t)n;
    }
}

// replies decodes data[0..size) as a stream of reply frames.
static void replies(const uint8_t *data, size_t size)
{
    static struct tls_keyless_reply r;
    static uint8_t out[TLS_KEYLESS_REPLY_FRAME_MAX];
    size_t off = 0;
    for (;;) {
        int n = tls_keyless_reply_decode(data + off, size - off, &r);
        FUZZ_CHECK(n >= 0 || n == -EBADMSG);
        if (n <= 0)
            return;
        FUZZ_CHECK((size_t)n <= size - off && (size_t)n <= sizeof(out));
        FUZZ_CHECK(r.sig_len <= TLS_KEYLESS_SIG_MAX);
        FUZZ_CHECK(r.sig_len == 0 || r.status == TLS_KEYLESS_OK);
        FUZZ_CHECK(tls_keyless_status_name(r.status)[0] != '\0');
        FUZZ_CHECK(tls_keyless_reply_encode(&r, out, sizeof(out)) == n);
        FUZZ_CHECK(memcmp(out, data + off, (size_t)n) == 0);
        check_reply_prefixes(data + off, (size_t)n, fuzz_rng_seed(data + off, (size_t)n));
        off += (size_t)n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    requests(data, size);
    replies(data, size);
    return 0;
}
