// SPDX-License-Identifier: Apache-2.0
// tests/fuzz/fuzz_http1_chunked.c: the incremental chunked-body scanner (net/http1.h,
// net_http1_chunked_feed). The input is the raw bytes after a request or response head.
//
// Properties checked beyond "no crash": the scanner gives the same answer (result, bytes
// consumed, decoded total, final state) whether the body arrives in one piece, one byte at a
// time, or cut at random places; in the decoding mode the reported data runs lie within each
// piece and add up to data_total; and a finished or failed scanner stays so.
#include "net/http1.h"
#include "tests/fuzz/fuzz.h"

// struct outcome: what one scan of the whole input ended with.
struct outcome {
    int rc;          // 1 done, 0 still going, or the negative error
    size_t consumed; // bytes of the input taken by the body
    uint64_t data_total;
    enum net_http1_chunked_state state;
    uint64_t decoded; // decoding mode: the sum of the data runs reported
};

// feed_piece feeds in[0..len) to c until the piece is used up, the body ends or fails, adding to
// o. decode selects the decoding mode (it may stop early; the rest is fed again).
static void feed_piece(struct net_http1_chunked *c, const char *in, size_t len, bool decode,
                       struct outcome *o)
{
    size_t done = 0;
    do {
        size_t used = 0, doff = 0, dlen = 0;
        int rc = decode ? net_http1_chunked_feed(c, in + done, len - done, &used, &doff, &dlen)
                        : net_http1_chunked_feed(c, in + done, len - done, &used, NULL, NULL);
        FUZZ_CHECK(used <= len - done);
        FUZZ_CHECK(rc == 0 || rc == 1 || rc == -NET_HTTP1_E_BAD || rc == -NET_HTTP1_E_TOO_LARGE);
        if (decode) {
            FUZZ_CHECK(doff + dlen <= used);
            o->decoded += dlen;
        } else if (rc == 0) {
            FUZZ_CHECK(used == len - done);
        }
        // The decoding mode may stop early but must make progress while the body goes on.
        FUZZ_CHECK(rc != 0 || used > 0 || done == len);
        done += used;
        o->consumed += used;
        o->rc = rc;
    } while (o->rc == 0 && done < len);
}

// scan feeds the whole input, cut into pieces: mode 0 one piece, 1 one byte each, 2 pieces of
// random sizes drawn from seed.
static struct outcome scan(const char *in, size_t len, int mode, bool decode, uint32_t seed)
{
    struct net_http1_chunked c;
    struct outcome o = {0};
    net_http1_chunked_init(&c);
    size_t pos = 0;
    do {
        size_t piece = len - pos;
        if (mode == 1 && piece > 1)
            piece = 1;
        else if (mode == 2 && piece > 1)
            piece = 1 + fuzz_rng_next(&seed) % (piece < 64 ? piece : 64);
        feed_piece(&c, in + pos, piece, decode, &o);
        pos += piece;
    } while (o.rc == 0 && pos < len);
    o.data_total = c.data_total;
    o.state = c.state;
    FUZZ_CHECK(net_http1_chunked_state_name(c.state)[0] != '?');
    if (o.rc != 0) {
        // Terminal: a later call consumes nothing and says the same.
        size_t used = 7;
        FUZZ_CHECK(net_http1_chunked_feed(&c, in, len, &used, NULL, NULL) == o.rc && used == 0);
    }
    return o;
}

// same checks that two scans of one input ended the same way.
static void same(const struct outcome *a, const struct outcome *b)
{
    FUZZ_CHECK(a->rc == b->rc && a->consumed == b->consumed);
    FUZZ_CHECK(a->data_total == b->data_total && a->state == b->state);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    uint32_t seed = fuzz_rng_seed(data, size);
    struct outcome whole = scan(in, size, 0, false, seed);
    FUZZ_CHECK(whole.consumed <= size);
    FUZZ_CHECK((whole.rc == 1) == (whole.state == NET_HTTP1_CHUNKED_DONE));
    FUZZ_CHECK((whole.rc < 0) == (whole.state == NET_HTTP1_CHUNKED_ERROR));
    FUZZ_CHECK(whole.rc != 0 || whole.consumed == size);

    struct outcome bytes = scan(in, size, 1, false, seed);
    same(&whole, &bytes);
    struct outcome cut = scan(in, size, 2, false, seed);
    same(&whole, &cut);
    struct outcome dec = scan(in, size, 0, true, seed);
    same(&whole, &dec);
    FUZZ_CHECK(dec.decoded == dec.data_total);
    struct outcome dec_cut = scan(in, size, 2, true, seed);
    same(&whole, &dec_cut);
    FUZZ_CHECK(dec_cut.decoded == dec_cut.data_total);
    return 0;
}
