// SPDX-License-Identifier: Apache-2.0
// tests/fuzz/fuzz_bridge_reply.c: the tls_bridge peer's reply parser (bridge/reply.h,
// bridge_reply_feed). The input is what a peer sends after tlsedge replayed a CONNECT.
//
// Properties checked beyond "no crash": the same outcome (state, status, reason, interim heads,
// bytes taken) whether the reply arrives in one piece, one byte at a time, or cut at random
// places; bytes taken never exceed the input nor BRIDGE_REPLY_HEAD_MAX; a parse still going
// took everything; DONE means a final status (not an interim 1xx) and a head that ends in
// CR LF CR LF; refusals carry no status; terminal states take nothing more.
#include "bridge/reply.h"
#include "tests/fuzz/fuzz.h"

#include <string.h>

// struct outcome: what one parse of the whole input ended with.
struct outcome {
    struct bridge_reply r;
    size_t taken;
};

// parse feeds the input in pieces: mode 0 one piece, 1 one byte each, 2 random sizes from seed.
static struct outcome parse(const uint8_t *in, size_t len, int mode, uint32_t seed)
{
    struct outcome o = {0};
    bridge_reply_init(&o.r);
    size_t pos = 0;
    while (pos < len) {
        size_t piece = len - pos;
        if (mode == 1)
            piece = 1;
        else if (mode == 2 && piece > 1)
            piece = 1 + fuzz_rng_next(&seed) % (piece < 64 ? piece : 64);
        size_t used = bridge_reply_feed(&o.r, in + pos, piece);
        FUZZ_CHECK(used <= piece);
        o.taken += used;
        pos += piece;
        if (used < piece)
            break;
    }
    FUZZ_CHECK(bridge_reply_state_name(o.r.state)[0] != '?');
    FUZZ_CHECK(bridge_crlf_name(o.r.crlf)[0] != '?');
    return o;
}

static void same(const struct outcome *a, const struct outcome *b)
{
    FUZZ_CHECK(a->r.state == b->r.state && a->r.status == b->r.status);
    FUZZ_CHECK(a->r.interim == b->r.interim && a->taken == b->taken);
    FUZZ_CHECK(strcmp(a->r.reason, b->r.reason) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t seed = fuzz_rng_seed(data, size);
    struct outcome whole = parse(data, size, 0, seed);
    const struct bridge_reply *r = &whole.r;
    FUZZ_CHECK(whole.taken <= size && whole.taken <= BRIDGE_REPLY_HEAD_MAX);
    FUZZ_CHECK(whole.taken == r->head_len);
    FUZZ_CHECK(memchr(r->reason, '\0', sizeof(r->reason)) != NULL);
    switch (r->state) {
    case BRIDGE_REPLY_STATUS:
    case BRIDGE_REPLY_FIELDS:
        FUZZ_CHECK(whole.taken == size); // still going: it took everything
        break;
    case BRIDGE_REPLY_DONE:
        FUZZ_CHECK(r->status >= 100 && r->status <= 999);
        FUZZ_CHECK(r->status >= 200 || r->status == 101);
        FUZZ_CHECK(whole.taken >= 16 && memcmp(data + whole.taken - 4, "\r\n\r\n", 4) == 0);
        FUZZ_CHECK(memcmp(data, "HTTP/1.", 7) == 0);
        break;
    case BRIDGE_REPLY_INVALID:
    case BRIDGE_REPLY_TOO_BIG:
        FUZZ_CHECK(r->status == 0);
        break;
    }
    if (r->state != BRIDGE_REPLY_STATUS && r->state != BRIDGE_REPLY_FIELDS) {
        struct bridge_reply again = *r;
        FUZZ_CHECK(bridge_reply_feed(&again, data, size) == 0 && again.state == r->state);
    }
    struct outcome bytes = parse(data, size, 1, seed);
    same(&whole, &bytes);
    struct outcome cut = parse(data, size, 2, seed);
    same(&whole, &cut);
    return 0;
}
