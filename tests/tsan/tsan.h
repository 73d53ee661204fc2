// SPDX-License-Identifier: Apache-2.0
// tests/tsan/tsan.h: what the cross-thread stress programs in tests/tsan/ share.
//
// Each tests/tsan/NAME.c is a plain C program with main() that drives one cross-thread piece of
// tlsedge (mailbox, snapshot publication and deferred free, worker stop/defer/hold, handshake
// pool hand-off) hard from several threads, checks the outcome, prints "NAME: ok ..." and exits
// 0 (1 on a failed check). They are built into $(BUILD)/tsan/NAME for every build and run by
// tests/integration/24-threads.sh; under `make test SAN=thread` they are how ThreadSanitizer
// sees those pieces, since Criterion cannot run under TSan (tests/tsan/README.md). Every wait is
// bounded: a program that hangs fails its check after a deadline instead.
#ifndef TLSEDGE_TESTS_TSAN_TSAN_H
#define TLSEDGE_TESTS_TSAN_TSAN_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

// TSAN_CHECK prints the failed condition and exits 1 when cond is false.
#define TSAN_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

// tsan_now_ms returns the monotonic clock in milliseconds.
static inline uint64_t tsan_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

// tsan_sleep_ms sleeps ms milliseconds.
static inline void tsan_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

#endif
