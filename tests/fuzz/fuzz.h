// SPDX-License-Identifier: Apache-2.0
// tests/fuzz/fuzz.h: what every fuzz target in tests/fuzz/ shares.
//
// Each tests/fuzz/fuzz_NAME.c defines LLVMFuzzerTestOneInput() for one parser and is linked two
// ways (see tests/fuzz/README.md): with libFuzzer (`make fuzz`, clang-14, ASan + UBSan) to
// search for crashes, and with tests/fuzz/replay.c and the project's normal compiler
// (`make test`) to replay the seed corpus and every crash ever found. A target checks more than
// "no crash": each states properties of its parser's documented contract (results within the
// input, round trips, prefixes of a valid input are incomplete rather than wrong) and aborts
// through FUZZ_CHECK when one breaks, which both drivers report as a failure.
//
// The targets run single-threaded and keep no state between inputs.
#ifndef TLSEDGE_TESTS_FUZZ_FUZZ_H
#define TLSEDGE_TESTS_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

// LLVMFuzzerTestOneInput is the libFuzzer entry point: it runs one input, data[0..size),
// borrowed and not NUL-terminated, and returns 0 (libFuzzer reserves other values).
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// FUZZ_CHECK aborts with the failed condition and its place when cond is false. It is for the
// parser's contract, checked on hostile input: unlike CORE_ASSERT it exists only in tests.
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

// fuzz_rng_next steps the xorshift generator *state (never 0) and returns its next value: targets
// that split their input into pieces draw the cut points from it, seeded from the input itself,
// so a replayed input takes exactly the path it took under the fuzzer.
static inline uint32_t fuzz_rng_next(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

// fuzz_rng_seed returns a non-zero seed derived from data[0..size) (FNV-1a).
static inline uint32_t fuzz_rng_seed(const uint8_t *data, size_t size)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 16777619u;
    return h != 0 ? h : 1;
}

#endif
