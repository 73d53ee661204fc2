// SPDX-License-Identifier: Apache-2.0
// Unit tests for core/timer.c: the hashed timer wheel.
#include "core/timer.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define T0 1000000u // an arbitrary start time, far from 0
#define HOUR (3600u * 1000u)

static struct core_wheel wheel;
static uint64_t now; // the time last passed to the wheel

// struct tt: a test object that owns a timer.
struct tt {
    struct core_timer timer;
    int id;
    int fired;
    uint64_t deadline;    // expected, as the test computed it
    uint64_t fired_at;    // the wheel time when it fired
    struct tt *victim;    // disarmed (and freed when heap) by this timer's callback
    uint64_t rearm_delay; // re-armed with this delay from its callback when nonzero...
    int rearm_times;      // ...this many times
};

static int order[64];
static int norder;

static void setup(void)
{
    now = T0;
    core_wheel_init(&wheel, now);
    norder = 0;
}

static void teardown(void)
{
    core_wheel_fini(&wheel);
}

static void on_fire(struct core_timer *t, void *arg)
{
    struct tt *x = arg;
    cr_assert_eq(&x->timer, t);
    cr_assert_not(core_timer_armed(t));
    x->fired++;
    x->fired_at = now;
    if (norder < 64)
        order[norder++] = x->id;
    if (x->victim) {
        core_timer_disarm(&wheel, &x->victim->timer);
        x->victim = NULL;
    }
    if (x->rearm_times > 0) {
        x->rearm_times--;
        core_timer_arm(&wheel, t, x->rearm_delay);
    }
}

static void arm(struct tt *x, int id, uint64_t delay)
{
    x->id = id;
    core_timer_init(&x->timer, on_fire, x);
    core_timer_arm(&wheel, &x->timer, delay);
    x->deadline = now + delay;
}

static int advance_to(uint64_t t)
{
    now = t;
    return core_wheel_advance(&wheel, t);
}

TestSuite(core_timer, .init = setup, .fini = teardown);

Test(core_timer, empty_wheel)
{
    cr_assert_eq(core_wheel_next_ms(&wheel, now), -1);
    cr_assert_eq(advance_to(now + 10), 0);
    cr_assert_eq(core_wheel_next_ms(&wheel, now), -1);
}

Test(core_timer, fires_in_deadline_order_across_slots)
{
    struct tt x[5] = {0};
    uint64_t delays[5] = {5, 1, 3, 100, 2};
    for (int k = 0; k < 5; k++)
        arm(&x[k], k, delays[k]);
    cr_assert_eq(advance_to(T0 + 200), 5);
    int want[5] = {1, 4, 2, 0, 3};
    cr_assert_eq(norder, 5);
    for (int k = 0; k < 5; k++)
        cr_assert_eq(order[k], want[k], "position %d", k);
}

Test(core_timer, fires_exactly_at_deadline_step_by_step)
{
    struct tt x[3] = {0};
    arm(&x[0], 0, 1);
    arm(&x[1], 1, 3);
    arm(&x[2], 2, 3);
    cr_assert_eq(advance_to(T0), 0);
    cr_assert_eq(advance_to(T0 + 1), 1);
    cr_assert_eq(x[0].fired, 1);
    cr_assert_eq(advance_to(T0 + 2), 0);
    cr_assert_eq(advance_to(T0 + 3), 2);
    cr_assert_eq(advance_to(T0 + 100), 0);
    cr_assert_eq(x[1].fired + x[2].fired, 2);
}

Test(core_timer, rearm_moves_the_deadline_and_disarm_cancels)
{
    struct tt a = {0}, b = {0};
    arm(&a, 0, 10);
    arm(&b, 1, 10);
    cr_assert(core_timer_armed(&a.timer));
    core_timer_arm(&wheel, &a.timer, 50);
    core_timer_disarm(&wheel, &b.timer);
    cr_assert_not(core_timer_armed(&b.timer));
    core_timer_disarm(&wheel, &b.timer); // no-op when not armed
    cr_assert_eq(advance_to(T0 + 49), 0);
    cr_assert_eq(advance_to(T0 + 50), 1);
    cr_assert_eq(a.fired, 1);
    cr_assert_eq(b.fired, 0);
    cr_assert_eq(core_wheel_next_ms(&wheel, now), -1);
}

Test(core_timer, zero_delay_fires_at_next_advance_even_without_time_moving)
{
    struct tt a = {0};
    arm(&a, 0, 0);
    cr_assert_eq(core_wheel_next_ms(&wheel, now), 0);
    cr_assert_eq(advance_to(now), 1);
    cr_assert_eq(a.fired, 1);
}

static void free_other(struct core_timer *t, void *arg)
{
    struct tt **pair = arg; // pair[0] is this timer's owner, pair[1] the other one
    (void)t;
    if (pair[1]) {
        core_timer_disarm(&wheel, &pair[1]->timer);
        free(pair[1]);
    }
    free(pair[0]);
    norder++;
}

Test(core_timer, callback_disarms_and_frees_another_timer_in_the_same_slot)
{
    // Each of two heap timers with the same deadline disarms and frees the other: whichever
    // runs first, exactly one fires and nothing is touched after being freed (ASan checks).
    struct tt *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    struct tt *pa[2] = {a, b}, *pb[2] = {b, a};
    core_timer_init(&a->timer, free_other, pa);
    core_timer_init(&b->timer, free_other, pb);
    core_timer_arm(&wheel, &a->timer, 7);
    core_timer_arm(&wheel, &b->timer, 7);
    cr_assert_eq(advance_to(T0 + 7), 1);
    cr_assert_eq(norder, 1);
    cr_assert_eq(core_wheel_next_ms(&wheel, now), -1);
}

Test(core_timer, callback_disarms_another_timer_due_in_the_same_call)
{
    struct tt a = {0}, b = {0}, c = {0};
    arm(&a, 0, 5);
    arm(&b, 1, 6);
    arm(&c, 2, 4);
    a.victim = &b; // a fires before b in the same advance and cancels it
    cr_assert_eq(advance_to(T0 + 10), 2);
    cr_assert_eq(b.fired, 0);
    cr_assert_eq(c.fired, 1);
}

Test(core_timer, self_rearm_from_callback)
{
    struct tt p = {0};
    arm(&p, 0, 10);
    p.rearm_delay = 10;
    p.rearm_times = 9;
    int total = 0;
    for (uint64_t t = T0 + 1; t <= T0 + 200; t++)
        total += advance_to(t);
    cr_assert_eq(total, 10);
    cr_assert_eq(p.fired, 10);
    cr_assert_eq(p.fired_at, T0 + 100);
    cr_assert_not(core_timer_armed(&p.timer));
}

Test(core_timer, self_rearm_with_zero_delay_does_not_loop)
{
    struct tt p = {0};
    arm(&p, 0, 1);
    p.rearm_delay = 0;
    p.rearm_times = 1000;
    cr_assert_eq(advance_to(T0 + 1), 1);
    cr_assert_eq(core_wheel_next_ms(&wheel, now), 0);
    cr_assert_eq(advance_to(T0 + 1), 1);
    cr_assert_eq(p.fired, 2);
    core_timer_disarm(&wheel, &p.timer);
}

static void free_self(struct core_timer *t, void *arg)
{
    (void)arg;
    free(t);
    norder++;
}

Test(core_timer, callback_frees_its_own_timer)
{
    for (int k = 0; k < 10; k++) {
        struct core_timer *t = malloc(sizeof(*t));
        core_timer_init(t, free_self, NULL);
        core_timer_arm(&wheel, t, 3);
    }
    cr_assert_eq(advance_to(T0 + 3), 10);
    cr_assert_eq(norder, 10);
}

Test(core_timer, long_delays_beyond_one_revolution)
{
    struct tt x[4] = {0};
    uint64_t delays[4] = {CORE_WHEEL_SLOTS + 5, 5, 2 * CORE_WHEEL_SLOTS + 5, 10000};
    for (int k = 0; k < 4; k++)
        arm(&x[k], k, delays[k]); // three of them share a slot
    for (uint64_t t = T0 + 1; t <= T0 + 12000; t++)
        advance_to(t);
    for (int k = 0; k < 4; k++) {
        cr_assert_eq(x[k].fired, 1, "timer %d", k);
        cr_assert_eq(x[k].fired_at, x[k].deadline, "timer %d", k);
    }
}

Test(core_timer, long_delays_with_coarse_steps)
{
    struct tt x[3] = {0};
    arm(&x[0], 0, 5000);
    arm(&x[1], 1, 9000);
    arm(&x[2], 2, 13000);
    for (uint64_t t = T0 + 333; t <= T0 + 14000; t += 333) {
        advance_to(t);
        for (int k = 0; k < 3; k++)
            cr_assert_eq(x[k].fired, x[k].deadline <= t, "timer %d at +%llu", k,
                         (unsigned long long)(t - T0));
    }
}

Test(core_timer, jump_of_ten_hours)
{
    struct tt x[4] = {0};
    arm(&x[0], 0, 1);
    arm(&x[1], 1, 5000);
    arm(&x[2], 2, HOUR);
    arm(&x[3], 3, 20 * (uint64_t)HOUR);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    cr_assert_eq(advance_to(T0 + 10 * (uint64_t)HOUR), 3);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    cr_assert_lt(ms, 50.0, "a 10 h jump took %.1f ms", ms);
    cr_assert_eq(x[3].fired, 0);
    int next = core_wheel_next_ms(&wheel, now);
    cr_assert(next >= 0 && (uint64_t)next <= 10 * (uint64_t)HOUR, "next %d", next);
    // The wheel keeps working normally after the jump.
    struct tt y = {0};
    arm(&y, 9, 5);
    cr_assert_eq(advance_to(now + 4), 0);
    cr_assert_eq(advance_to(now + 1), 1);
    cr_assert_eq(advance_to(T0 + 20 * (uint64_t)HOUR), 1);
    cr_assert_eq(x[3].fired, 1);
}

Test(core_timer, clock_going_backwards_is_ignored)
{
    struct tt a = {0};
    arm(&a, 0, 10);
    cr_assert_eq(core_wheel_advance(&wheel, T0 - 500), 0);
    cr_assert_eq(advance_to(T0 + 9), 0);
    cr_assert_eq(advance_to(T0 + 10), 1);
}

Test(core_timer, next_ms_basics)
{
    struct tt a = {0}, b = {0};
    arm(&a, 0, 100);
    int next = core_wheel_next_ms(&wheel, now);
    cr_assert(next > 0 && next <= 100, "next %d", next);
    arm(&b, 1, 30);
    next = core_wheel_next_ms(&wheel, now);
    cr_assert(next > 0 && next <= 30, "next %d", next);
    cr_assert_eq(core_wheel_next_ms(&wheel, now + 1000), 0);
    advance_to(T0 + 30);
    next = core_wheel_next_ms(&wheel, now);
    cr_assert(next > 0 && next <= 70, "next %d", next);
    cr_assert_eq(next, 70); // after a firing the bound is exact when the slot is this revolution
    core_timer_disarm(&wheel, &a.timer);
    cr_assert_eq(core_wheel_next_ms(&wheel, now), -1);
}

// ---- randomised check of next_ms and firing times ----

#define RN 200

static struct tt rt[RN];
static uint64_t rng = 0x9e3779b97f4a7c15u; // fixed seed: reproducible

static uint64_t rnd(void)
{
    rng ^= rng << 13; // xorshift64
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void on_random_fire(struct core_timer *t, void *arg)
{
    struct tt *x = arg;
    (void)t;
    cr_assert_leq(x->deadline, now, "timer %d fired early", x->id);
    x->fired++;
}

static uint64_t random_delay(void)
{
    switch (rnd() % 4) {
    case 0:
        return rnd() % 8;
    case 1:
        return rnd() % 100;
    case 2:
        return rnd() % 5000;
    default:
        return rnd() % 30000;
    }
}

static void random_step(void)
{
    struct tt *x = &rt[rnd() % RN];
    switch (rnd() % 5) {
    case 0:
    case 1:
        core_timer_arm(&wheel, &x->timer, x->rearm_delay = random_delay());
        x->deadline = now + x->rearm_delay;
        break;
    case 2:
        core_timer_disarm(&wheel, &x->timer);
        break;
    default:
        advance_to(now + (rnd() % 16 == 0 ? rnd() % 20000 : rnd() % 40));
        break;
    }
}

// check_bound verifies that nothing due is left armed and next_ms does not over-estimate.
static void check_bound(void)
{
    uint64_t min = UINT64_MAX;
    for (int k = 0; k < RN; k++) {
        if (!core_timer_armed(&rt[k].timer))
            continue;
        cr_assert(rt[k].deadline > now || rt[k].rearm_delay == 0, "timer %d overdue", k);
        if (rt[k].deadline < min)
            min = rt[k].deadline;
    }
    int next = core_wheel_next_ms(&wheel, now);
    if (min == UINT64_MAX) {
        cr_assert_eq(next, -1);
        return;
    }
    uint64_t exact = min > now ? min - now : 0;
    cr_assert(next >= 0 && (uint64_t)next <= exact, "next %d > %llu", next,
              (unsigned long long)exact);
}

Test(core_timer, next_ms_never_overestimates_randomised)
{
    for (int k = 0; k < RN; k++) {
        rt[k].id = k;
        core_timer_init(&rt[k].timer, on_random_fire, &rt[k]);
    }
    for (int step = 0; step < 200000; step++) {
        random_step();
        check_bound();
    }
    for (int k = 0; k < RN; k++)
        core_timer_disarm(&wheel, &rt[k].timer);
}

Test(core_timer, now_ms_is_monotonic)
{
    uint64_t a = core_now_ms();
    uint64_t b = core_now_ms();
    cr_assert_gt(a, 0);
    cr_assert_geq(b, a);
}
