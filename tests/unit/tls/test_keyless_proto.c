// SPDX-License-Identifier: Apache-2.0
// Unit tests for tls/keyless_proto.c: wire layout against hand-written bytes, round trips,
// every malformed case (reported as soon as the bytes show it), frames split at every byte and
// packed back to back, a deterministic mutation loop (run under ASan), and key ids against
// SHA-256 of a known SubjectPublicKeyInfo and of the fixture certificates' SPKI.
//
// Decoders always get a heap block of exactly the bytes under test, so a read past `len` is a
// heap-buffer-overflow in the sanitizer build.
#include "tls/keyless_proto.h"

#include <openssl/bytestring.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(tls_keyless_proto);

// exact returns a heap copy of buf[0..n) with no byte to spare (NULL when n is 0); the caller
// frees it.
static uint8_t *exact(const uint8_t *buf, size_t n)
{
    if (n == 0)
        return NULL;
    uint8_t *copy = malloc(n);
    cr_assert_not_null(copy);
    memcpy(copy, buf, n);
    return copy;
}

static int req_decode_exact(const uint8_t *buf, size_t n, struct tls_keyless_request *r)
{
    uint8_t *copy = exact(buf, n);
    int rc = tls_keyless_request_decode(copy, n, r);
    free(copy);
    return rc;
}

static int rep_decode_exact(const uint8_t *buf, size_t n, struct tls_keyless_reply *r)
{
    uint8_t *copy = exact(buf, n);
    int rc = tls_keyless_reply_decode(copy, n, r);
    free(copy);
    return rc;
}

// sample_request fills r with a SIGN request whose digest is digest_len bytes of a pattern.
static void sample_request(struct tls_keyless_request *r, uint16_t digest_len)
{
    memset(r, 0, sizeof(*r));
    r->op = TLS_KEYLESS_OP_SIGN;
    r->sigalg = TLS_KEYLESS_SIGALG_ECDSA_SECP256R1_SHA256;
    r->id = 0xa1b2c3d4;
    for (int i = 0; i < TLS_KEYLESS_KEY_ID_LEN; i++)
        r->key_id[i] = (uint8_t)(0x80 + i);
    r->digest_len = digest_len;
    for (int i = 0; i < digest_len; i++)
        r->digest[i] = (uint8_t)(i * 7 + 1);
}

// sample_reply fills r with an OK reply carrying sig_len bytes of a pattern.
static void sample_reply(struct tls_keyless_reply *r, uint16_t sig_len)
{
    memset(r, 0, sizeof(*r));
    r->status = TLS_KEYLESS_OK;
    r->id = 0x01020304;
    r->sig_len = sig_len;
    for (int i = 0; i < sig_len; i++)
        r->sig[i] = (uint8_t)(i * 13 + 5);
}

static void assert_request_eq(const struct tls_keyless_request *a,
                              const struct tls_keyless_request *b)
{
    cr_assert_eq(a->op, b->op);
    cr_assert_eq(a->sigalg, b->sigalg);
    cr_assert_eq(a->id, b->id);
    cr_assert_arr_eq(a->key_id, b->key_id, TLS_KEYLESS_KEY_ID_LEN);
    cr_assert_eq(a->digest_len, b->digest_len);
    cr_assert_arr_eq(a->digest, b->digest, a->digest_len);
}

static void assert_reply_eq(const struct tls_keyless_reply *a, const struct tls_keyless_reply *b)
{
    cr_assert_eq(a->status, b->status);
    cr_assert_eq(a->id, b->id);
    cr_assert_eq(a->sig_len, b->sig_len);
    if (a->sig_len > 0)
        cr_assert_arr_eq(a->sig, b->sig, a->sig_len);
}

// ---- wire layout ----

Test(tls_keyless_proto, request_wire_layout_matches_the_spec)
{
    struct tls_keyless_request r;
    sample_request(&r, 3);
    r.sigalg = TLS_KEYLESS_SIGALG_RSA_PSS_RSAE_SHA384;
    uint8_t want[4 + 42 + 3] = {0, 0, 0, 45, 1, 1, 0x08, 0x05, 0xa1, 0xb2, 0xc3, 0xd4};
    for (int i = 0; i < 32; i++)
        want[12 + i] = (uint8_t)(0x80 + i);
    want[44] = 0;
    want[45] = 3;
    want[46] = 1;
    want[47] = 8;
    want[48] = 15;
    uint8_t out[TLS_KEYLESS_REQUEST_FRAME_MAX];
    cr_assert_eq(tls_keyless_request_encode(&r, out, sizeof(out)), (int)sizeof(want));
    cr_assert_arr_eq(out, want, sizeof(want));
}

Test(tls_keyless_proto, reply_wire_layout_matches_the_spec)
{
    struct tls_keyless_reply r;
    sample_reply(&r, 2);
    const uint8_t want[] = {0, 0, 0, 10, 1, 0, 1, 2, 3, 4, 0, 2, 5, 18};
    uint8_t out[TLS_KEYLESS_REPLY_FRAME_MAX];
    cr_assert_eq(tls_keyless_reply_encode(&r, out, sizeof(out)), (int)sizeof(want));
    cr_assert_arr_eq(out, want, sizeof(want));

    const uint8_t unknown_key[] = {0, 0, 0, 8, 1, 1, 0xff, 0xff, 0xff, 0xfe, 0, 0};
    struct tls_keyless_reply d;
    cr_assert_eq(rep_decode_exact(unknown_key, sizeof(unknown_key), &d), 12);
    cr_assert_eq(d.status, TLS_KEYLESS_UNKNOWN_KEY);
    cr_assert_eq(d.id, 0xfffffffe);
    cr_assert_eq(d.sig_len, 0);
}

Test(tls_keyless_proto, ping_is_a_request_with_an_empty_digest)
{
    struct tls_keyless_request r = {.op = TLS_KEYLESS_OP_PING, .id = 7};
    uint8_t out[TLS_KEYLESS_REQUEST_FRAME_MAX];
    cr_assert_eq(tls_keyless_request_encode(&r, out, sizeof(out)), 46);
    uint8_t want[46] = {0, 0, 0, 42, 1, 2, 0, 0, 0, 0, 0, 7};
    cr_assert_arr_eq(out, want, sizeof(want));
    struct tls_keyless_request d;
    cr_assert_eq(req_decode_exact(out, 46, &d), 46);
    assert_request_eq(&r, &d);
}

// ---- round trips and encoder limits ----

Test(tls_keyless_proto, request_round_trips_at_every_digest_length)
{
    for (uint16_t n = 0; n <= TLS_KEYLESS_DIGEST_MAX; n++) {
        struct tls_keyless_request r, d;
        sample_request(&r, n);
        uint8_t out[TLS_KEYLESS_REQUEST_FRAME_MAX];
        int len = tls_keyless_request_encode(&r, out, sizeof(out));
        cr_assert_eq(len, 46 + n);
        memset(&d, 0xee, sizeof(d));
        cr_assert_eq(req_decode_exact(out, (size_t)len, &d), len);
        assert_request_eq(&r, &d);
    }
}

Test(tls_keyless_proto, reply_round_trips_for_every_status_and_signature_size)
{
    static const uint16_t sizes[] = {0, 1, 70, 71, 72, 103, 104, 256, 512, 1023, 1024};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct tls_keyless_reply r, d;
        sample_reply(&r, sizes[i]);
        uint8_t out[TLS_KEYLESS_REPLY_FRAME_MAX];
        int len = tls_keyless_reply_encode(&r, out, sizeof(out));
        cr_assert_eq(len, 12 + sizes[i]);
        cr_assert_eq(rep_decode_exact(out, (size_t)len, &d), len);
        assert_reply_eq(&r, &d);
    }
    for (uint8_t st = TLS_KEYLESS_UNKNOWN_KEY; st <= TLS_KEYLESS_INTERNAL; st++) {
        struct tls_keyless_reply r = {.status = st, .id = st}, d;
        uint8_t out[TLS_KEYLESS_REPLY_FRAME_MAX];
        cr_assert_eq(tls_keyless_reply_encode(&r, out, sizeof(out)), 12);
        cr_assert_eq(rep_decode_exact(out, 12, &d), 12);
        assert_reply_eq(&r, &d);
    }
}

Test(tls_keyless_proto, encoders_need_room_for_the_whole_frame)
{
    struct tls_keyless_request r;
    sample_request(&r, 32);
    uint8_t out[TLS_KEYLESS_REPLY_FRAME_MAX];
    memset(out, 0x5a, sizeof(out));
    cr_assert_eq(tls_keyless_request_encode(&r, out, 77), -ENOSPC);
    cr_assert_eq(tls_keyless_request_encode(&r, NULL, 0), -ENOSPC);
    for (size_t i = 0; i < sizeof(out); i++)
        cr_assert_eq(out[i], 0x5a, "byte %zu written on -ENOSPC", i);
    cr_assert_eq(tls_keyless_request_encode(&r, out, 78), 78);

    struct tls_keyless_reply p;
    sample_reply(&p, TLS_KEYLESS_SIG_MAX);
    cr_assert_eq(tls_keyless_reply_encode(&p, out, TLS_KEYLESS_REPLY_FRAME_MAX - 1), -ENOSPC);
    cr_assert_eq(tls_keyless_reply_encode(&p, out, TLS_KEYLESS_REPLY_FRAME_MAX),
                 TLS_KEYLESS_REPLY_FRAME_MAX);
}

Test(tls_keyless_proto, encoders_refuse_what_decoders_would_refuse)
{
    uint8_t out[TLS_KEYLESS_REPLY_FRAME_MAX + 64];
    struct tls_keyless_request r;
    sample_request(&r, 32);
    r.digest_len = TLS_KEYLESS_DIGEST_MAX + 1;
    cr_assert_eq(tls_keyless_request_encode(&r, out, sizeof(out)), -EINVAL);

    struct tls_keyless_reply p;
    sample_reply(&p, 16);
    p.sig_len = TLS_KEYLESS_SIG_MAX + 1;
    cr_assert_eq(tls_keyless_reply_encode(&p, out, sizeof(out)), -EINVAL);
    p.sig_len = 16;
    p.status = TLS_KEYLESS_INTERNAL;
    cr_assert_eq(tls_keyless_reply_encode(&p, out, sizeof(out)), -EINVAL);
}

Test(tls_keyless_proto, unknown_op_and_sigalg_decode_as_received)
{
    struct tls_keyless_request r, d;
    sample_request(&r, 5);
    r.op = 0xee;
    r.sigalg = 0x0807; // ed25519: framed correctly, refused later by the signer
    uint8_t out[TLS_KEYLESS_REQUEST_FRAME_MAX];
    int len = tls_keyless_request_encode(&r, out, sizeof(out));
    cr_assert_eq(req_decode_exact(out, (size_t)len, &d), len);
    assert_request_eq(&r, &d);

    struct tls_keyless_reply p = {.status = 200, .id = 9}, q;
    cr_assert_eq(tls_keyless_reply_encode(&p, out, sizeof(out)), 12);
    cr_assert_eq(rep_decode_exact(out, 12, &q), 12);
    cr_assert_eq(q.status, 200);
}

// ---- streams ----

Test(tls_keyless_proto, every_strict_prefix_needs_more_and_leaves_the_result_alone)
{
    struct tls_keyless_request r, d;
    sample_request(&r, 48);
    uint8_t out[TLS_KEYLESS_REQUEST_FRAME_MAX];
    int len = tls_keyless_request_encode(&r, out, sizeof(out));
    for (int n = 0; n < len; n++) {
        memset(&d, 0xee, sizeof(d));
        cr_assert_eq(req_decode_exact(out, (size_t)n, &d), 0, "prefix %d", n);
        cr_assert_eq(d.id, 0xeeeeeeee, "prefix %d wrote the result", n);
    }
    cr_assert_eq(req_decode_exact(out, (size_t)len, &d), len);

    struct tls_keyless_reply p, q;
    sample_reply(&p, 300);
    uint8_t rout[TLS_KEYLESS_REPLY_FRAME_MAX];
    int rlen = tls_keyless_reply_encode(&p, rout, sizeof(rout));
    for (int n = 0; n < rlen; n++)
        cr_assert_eq(rep_decode_exact(rout, (size_t)n, &q), 0, "prefix %d", n);
    cr_assert_eq(rep_decode_exact(rout, (size_t)rlen, &q), rlen);
    assert_reply_eq(&p, &q);
}

// Feeds a stream of back-to-back requests in chunks of every size from 1 to 97 bytes, as a
// reader would: append, decode every whole frame, keep the rest.
Test(tls_keyless_proto, back_to_back_frames_decode_in_order_from_any_chunking)
{
    uint8_t stream[16 * TLS_KEYLESS_REQUEST_FRAME_MAX];
    size_t total = 0;
    for (int i = 0; i < 16; i++) {
        struct tls_keyless_request r;
        sample_request(&r, (uint16_t)(i * 4));
        r.id = (uint32_t)i;
        total += (size_t)tls_keyless_request_encode(&r, stream + total, sizeof(stream) - total);
    }
    for (size_t chunk = 1; chunk <= 97; chunk++) {
        uint8_t buf[sizeof(stream)];
        size_t have = 0, fed = 0;
        uint32_t next = 0;
        while (fed < total) {
            size_t n = total - fed < chunk ? total - fed : chunk;
            memcpy(buf + have, stream + fed, n);
            have += n;
            fed += n;
            struct tls_keyless_request d;
            int rc;
            while ((rc = req_decode_exact(buf, have, &d)) > 0) {
                cr_assert_eq(d.id, next, "chunk %zu", chunk);
                cr_assert_eq(d.digest_len, next * 4);
                next++;
                memmove(buf, buf + rc, have - (size_t)rc);
                have -= (size_t)rc;
            }
            cr_assert_eq(rc, 0, "chunk %zu", chunk);
        }
        cr_assert_eq(next, 16, "chunk %zu", chunk);
        cr_assert_eq(have, 0);
    }
}

// ---- malformed frames ----

// bad_request is a valid 32-byte-digest request frame that a test then breaks.
static int bad_request(uint8_t out[TLS_KEYLESS_REQUEST_FRAME_MAX])
{
    struct tls_keyless_request r;
    sample_request(&r, 32);
    return tls_keyless_request_encode(&r, out, TLS_KEYLESS_REQUEST_FRAME_MAX);
}

Test(tls_keyless_proto, request_lengths_out_of_range_are_malformed_at_four_bytes)
{
    static const uint32_t lengths[] = {0, 1, 41, 4097, 0x10000, 0xffffffff};
    struct tls_keyless_request d;
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        uint8_t b[4] = {(uint8_t)(lengths[i] >> 24), (uint8_t)(lengths[i] >> 16),
                        (uint8_t)(lengths[i] >> 8), (uint8_t)lengths[i]};
        cr_assert_eq(req_decode_exact(b, 4, &d), -EBADMSG, "length %u", lengths[i]);
        cr_assert_eq(req_decode_exact(b, 3, &d), 0);
    }
}

Test(tls_keyless_proto, request_with_bad_version_is_malformed_at_its_first_byte)
{
    uint8_t out[TLS_KEYLESS_REQUEST_FRAME_MAX];
    int len = bad_request(out);
    struct tls_keyless_request d;
    for (int v = 0; v < 256; v++) {
        if (v == TLS_KEYLESS_VERSION)
            continue;
        out[4] = (uint8_t)v;
        cr_assert_eq(req_decode_exact(out, 5, &d), -EBADMSG, "version %d", v);
        cr_assert_eq(req_decode_exact(out, (size_t)len, &d), -EBADMSG, "version %d", v);
    }
}

Test(tls_keyless_proto, request_digest_len_must_agree_with_the_frame_length)
{
    uint8_t out[TLS_KEYLESS_REQUEST_FRAME_MAX + 8];
    struct tls_keyless_request d;
    // digest_len over the maximum, with a length that agrees: still malformed.
    int len = bad_request(out);
    out[3] = 42 + 65;
    out[44] = 0;
    out[45] = 65;
    cr_assert_eq(req_decode_exact(out, 46, &d), -EBADMSG);
    // digest_len 31 and 33 in a frame whose length says 32.
    for (int dl = 31; dl <= 33; dl += 2) {
        len = bad_request(out);
        out[45] = (uint8_t)dl;
        cr_assert_eq(req_decode_exact(out, 46, &d), -EBADMSG, "digest_len %d", dl);
        cr_assert_eq(req_decode_exact(out, (size_t)len, &d), -EBADMSG, "digest_len %d", dl);
    }
    // A trailing byte inside the frame: length 75 for a 32-byte digest.
    len = bad_request(out);
    out[3] = 75;
    out[len] = 0;
    cr_assert_eq(req_decode_exact(out, (size_t)len + 1, &d), -EBADMSG);
    // digest_len 0xffff.
    len = bad_request(out);
    out[44] = 0xff;
    out[45] = 0xff;
    cr_assert_eq(req_decode_exact(out, 46, &d), -EBADMSG);
}

Test(tls_keyless_proto, reply_malformations_are_refused)
{
    struct tls_keyless_reply p, q;
    uint8_t out[TLS_KEYLESS_REPLY_FRAME_MAX + 8];
    sample_reply(&p, 10);
    int len = tls_keyless_reply_encode(&p, out, sizeof(out));
    cr_assert_eq(len, 22);

    uint8_t b[TLS_KEYLESS_REPLY_FRAME_MAX + 8];
    static const uint32_t lengths[] = {0, 7, 4097, 0xffffffff};
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        memcpy(b, out, (size_t)len);
        b[0] = (uint8_t)(lengths[i] >> 24);
        b[1] = (uint8_t)(lengths[i] >> 16);
        b[2] = (uint8_t)(lengths[i] >> 8);
        b[3] = (uint8_t)lengths[i];
        cr_assert_eq(rep_decode_exact(b, 4, &q), -EBADMSG, "length %u", lengths[i]);
    }
    memcpy(b, out, (size_t)len);
    b[4] = 2; // version
    cr_assert_eq(rep_decode_exact(b, 5, &q), -EBADMSG);
    memcpy(b, out, (size_t)len);
    b[11] = 11; // sig_len disagrees with the length
    cr_assert_eq(rep_decode_exact(b, 12, &q), -EBADMSG);
    memcpy(b, out, (size_t)len);
    b[5] = TLS_KEYLESS_INTERNAL; // an error status with a signature
    cr_assert_eq(rep_decode_exact(b, 12, &q), -EBADMSG);
    // sig_len over the maximum with an agreeing length.
    const uint8_t big[] = {0, 0, 0x04, 0x09, 1, 0, 0, 0, 0, 1, 0x04, 0x01};
    cr_assert_eq(rep_decode_exact(big, sizeof(big), &q), -EBADMSG);
}

// ---- mutation loop ----

static uint64_t rng_state;

static uint32_t rng_next(void)
{
    // xorshift64*: a fixed seed gives the same run every time.
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1DULL) >> 32);
}

// mutate flips 1 to 3 random bytes of buf[0..len) and, one time in four, cuts it short.
static size_t mutate(uint8_t *buf, size_t len)
{
    int flips = 1 + (int)(rng_next() % 3);
    for (int i = 0; i < flips; i++)
        buf[rng_next() % len] ^= (uint8_t)(1 + rng_next() % 255);
    if (rng_next() % 4 == 0)
        len = rng_next() % (len + 1);
    return len;
}

// Every decoded frame must re-encode to the very bytes it came from: the wire form is canonical,
// so nothing malformed can slip through as "something close".
Test(tls_keyless_proto, mutated_frames_are_refused_or_decode_canonically)
{
    rng_state = 0x6b65796c657373ULL;
    int accepted = 0, refused = 0, need_more = 0;
    for (int iter = 0; iter < 200000; iter++) {
        uint8_t buf[TLS_KEYLESS_REPLY_FRAME_MAX], re[TLS_KEYLESS_REPLY_FRAME_MAX];
        size_t len;
        int rc;
        if (iter % 2 == 0) {
            struct tls_keyless_request r;
            sample_request(&r, (uint16_t)(rng_next() % (TLS_KEYLESS_DIGEST_MAX + 1)));
            len = mutate(buf, (size_t)tls_keyless_request_encode(&r, buf, sizeof(buf)));
            rc = req_decode_exact(buf, len, &r);
            if (rc > 0)
                cr_assert_eq(tls_keyless_request_encode(&r, re, sizeof(re)), rc);
        } else {
            struct tls_keyless_reply p;
            sample_reply(&p, (uint16_t)(rng_next() % 300));
            len = mutate(buf, (size_t)tls_keyless_reply_encode(&p, buf, sizeof(buf)));
            rc = rep_decode_exact(buf, len, &p);
            if (rc > 0)
                cr_assert_eq(tls_keyless_reply_encode(&p, re, sizeof(re)), rc);
        }
        cr_assert(rc == -EBADMSG || (rc >= 0 && (size_t)rc <= len), "rc %d len %zu", rc, len);
        if (rc > 0) {
            cr_assert_arr_eq(re, buf, (size_t)rc, "iteration %d", iter);
            accepted++;
        } else if (rc == 0) {
            need_more++;
        } else {
            refused++;
        }
    }
    // The loop must have exercised all three outcomes.
    cr_assert_gt(accepted, 1000);
    cr_assert_gt(refused, 1000);
    cr_assert_gt(need_more, 1000);
}

// ---- small helpers ----

Test(tls_keyless_proto, sigalg_digest_lengths)
{
    cr_assert_eq(tls_keyless_sigalg_digest_len(0x0403), 32);
    cr_assert_eq(tls_keyless_sigalg_digest_len(0x0503), 48);
    cr_assert_eq(tls_keyless_sigalg_digest_len(0x0804), 32);
    cr_assert_eq(tls_keyless_sigalg_digest_len(0x0805), 48);
    cr_assert_eq(tls_keyless_sigalg_digest_len(0x0806), 64);
    cr_assert_eq(tls_keyless_sigalg_digest_len(0x0401), 32);
    cr_assert_eq(tls_keyless_sigalg_digest_len(0x0501), 48);
    cr_assert_eq(tls_keyless_sigalg_digest_len(0x0601), 64);
    cr_assert_eq(tls_keyless_sigalg_digest_len(0x0807), -ENOTSUP); // ed25519
    cr_assert_eq(tls_keyless_sigalg_digest_len(0x0603), -ENOTSUP); // P-521
    cr_assert_eq(tls_keyless_sigalg_digest_len(0x0809), -ENOTSUP); // rsa_pss_pss
    cr_assert_eq(tls_keyless_sigalg_digest_len(0x0201), -ENOTSUP); // SHA-1
    cr_assert_eq(tls_keyless_sigalg_digest_len(0), -ENOTSUP);
}

Test(tls_keyless_proto, status_names)
{
    cr_assert_str_eq(tls_keyless_status_name(TLS_KEYLESS_OK), "ok");
    cr_assert_str_eq(tls_keyless_status_name(TLS_KEYLESS_UNKNOWN_KEY), "unknown_key");
    cr_assert_str_eq(tls_keyless_status_name(TLS_KEYLESS_BAD_REQUEST), "bad_request");
    cr_assert_str_eq(tls_keyless_status_name(TLS_KEYLESS_UNSUPPORTED_ALG), "unsupported_alg");
    cr_assert_str_eq(tls_keyless_status_name(TLS_KEYLESS_INTERNAL), "internal");
    cr_assert_str_eq(tls_keyless_status_name(5), "unknown");
}

// ---- key ids ----

// A P-256 SubjectPublicKeyInfo made with `openssl pkey -pubout -outform DER` (public data).
static const uint8_t p256_spki[] = {
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04, 0xca, 0xa9, 0xe1, 0x59, 0xeb,
    0xed, 0x7c, 0xe7, 0x93, 0x3a, 0x62, 0xed, 0xd8, 0x97, 0x99, 0x57, 0xcd, 0xad, 0xc6, 0xf9, 0xc7,
    0xc4, 0xb3, 0xc6, 0x1c, 0x59, 0x20, 0x50, 0x3e, 0x26, 0xcb, 0xa9, 0x7a, 0x6e, 0x7a, 0xf6, 0x5a,
    0xdc, 0xe2, 0xd7, 0xe5, 0x2d, 0x64, 0x7e, 0x29, 0x37, 0x91, 0x73, 0x8f, 0x3a, 0xe3, 0x0a, 0x25,
    0xd5, 0x0b, 0xbc, 0xb9, 0x94, 0xe4, 0x29, 0x91, 0xef, 0x40, 0x55};
// `sha256sum` of those bytes.
static const char p256_spki_sha256[] =
    "702bf4c97db548a4a0680afaecb2d85b8b1768344659ad6159d894974eb9292e";

Test(tls_keyless_proto, key_id_is_the_sha256_of_the_spki_der)
{
    CBS cbs;
    CBS_init(&cbs, p256_spki, sizeof(p256_spki));
    EVP_PKEY *pkey = EVP_parse_public_key(&cbs);
    cr_assert_not_null(pkey);
    uint8_t id[TLS_KEYLESS_KEY_ID_LEN];
    char hex[2 * TLS_KEYLESS_KEY_ID_LEN + 1];
    cr_assert_eq(tls_keyless_key_id(pkey, id), 0);
    cr_assert_str_eq(tls_keyless_key_id_hex(id, hex), p256_spki_sha256);
    EVP_PKEY_free(pkey);
    cr_assert_eq(tls_keyless_key_id(NULL, id), -EINVAL);
}

// load_pem reads dir/name: its first private key when want_key, else its first certificate.
// The caller frees the result.
static void *load_pem(const char *dir, const char *name, int want_key)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    void *obj = want_key ? (void *)PEM_read_PrivateKey(f, NULL, NULL, NULL)
                         : (void *)PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    cr_assert_not_null(obj, "cannot parse %s", path);
    return obj;
}

// The signer hashes the public half of a private key file; the proxy the certificate's key.
// Both must equal SHA-256 of the SPKI bytes as they sit inside the certificate.
Test(tls_keyless_proto, key_id_of_a_private_key_equals_sha256_of_its_certificate_spki)
{
    const char *dir = getenv("TLSEDGE_FIXTURES");
    if (!dir)
        cr_skip_test("TLSEDGE_FIXTURES is not set (make unit sets it)");
    static const char *const names[] = {"a.test", "rsa"};
    for (size_t i = 0; i < 2; i++) {
        char pem[64], key[64];
        snprintf(pem, sizeof(pem), "%s.pem", names[i]);
        snprintf(key, sizeof(key), "%s.key", names[i]);
        X509 *x = load_pem(dir, pem, 0);
        EVP_PKEY *priv = load_pem(dir, key, 1);
        EVP_PKEY *pub = X509_get_pubkey(x);
        cr_assert_not_null(pub);

        uint8_t *der = NULL;
        int der_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
        cr_assert_gt(der_len, 0);
        uint8_t want[SHA256_DIGEST_LENGTH], a[TLS_KEYLESS_KEY_ID_LEN], b[TLS_KEYLESS_KEY_ID_LEN];
        SHA256(der, (size_t)der_len, want);
        cr_assert_eq(tls_keyless_key_id(priv, a), 0);
        cr_assert_eq(tls_keyless_key_id(pub, b), 0);
        cr_assert_arr_eq(a, want, sizeof(want), "%s", names[i]);
        cr_assert_arr_eq(b, want, sizeof(want), "%s", names[i]);

        OPENSSL_free(der);
        EVP_PKEY_free(pub);
        EVP_PKEY_free(priv);
        X509_free(x);
    }
}
