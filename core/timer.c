// SPDX-License-Identifier: Apache-2.0
// core/timer.c: the hashed timer wheel (see core/timer.h).
//
// Lists are intrusive and singly headed with a back pointer (`_pprev` points at whatever
// points at the timer), so a timer unlinks itself in O(1) from any list: a slot, the list of
// timers armed with no delay, or the private list core_wheel_advance() fires from. Invariant:
// every timer in a slot has a deadline later than _now; the due list holds the ones whose
// deadline is _now or earlier. _next is a lower bound on every armed deadline; it only ever
// needs to be recomputed after firing, from the bitmap of non-empty slots.
#include "core/timer.h"
#include "core/assert.h"

#include <limits.h>
#include <string.h>
#include <time.h>

#define SLOT_MASK ((uint64_t)CORE_WHEEL_SLOTS - 1)
#define WORDS (CORE_WHEEL_SLOTS / 64)

_Static_assert((CORE_WHEEL_SLOTS & (CORE_WHEEL_SLOTS - 1)) == 0, "slots: a power of two");
_Static_assert(CORE_WHEEL_SLOTS % 64 == 0, "slots: whole bitmap words");

uint64_t core_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void core_wheel_init(struct core_wheel *w, uint64_t now_ms)
{
    memset(w, 0, sizeof(*w));
    w->_now = now_ms;
}

void core_wheel_fini(struct core_wheel *w)
{
    // Disarms nothing (see the header); forget the lists so a stray use shows up as an empty
    // wheel rather than a walk through timers that may be gone.
    w->_armed = 0;
    w->_due = NULL;
}

void core_timer_init(struct core_timer *t, core_timer_fn fn, void *arg)
{
    t->_next = NULL;
    t->_pprev = NULL;
    t->_deadline = 0;
    t->_fn = fn;
    t->_arg = arg;
}

bool core_timer_armed(const struct core_timer *t)
{
    return t->_pprev != NULL;
}

static void list_push(struct core_timer **head, struct core_timer *t)
{
    t->_next = *head;
    if (t->_next)
        t->_next->_pprev = &t->_next;
    *head = t;
    t->_pprev = head;
}

// unlink_timer takes t out of its list; the slot of its deadline loses its bit if now empty
// (when t was on another list that slot's bit is merely re-checked, which is harmless).
static void unlink_timer(struct core_wheel *w, struct core_timer *t)
{
    *t->_pprev = t->_next;
    if (t->_next)
        t->_next->_pprev = t->_pprev;
    t->_next = NULL;
    t->_pprev = NULL;
    size_t slot = (size_t)(t->_deadline & SLOT_MASK);
    if (!w->_slot[slot])
        w->_used[slot / 64] &= ~((uint64_t)1 << (slot % 64));
}

void core_timer_disarm(struct core_wheel *w, struct core_timer *t)
{
    if (!t->_pprev)
        return;
    unlink_timer(w, t);
    CORE_ASSERT(w->_armed > 0);
    w->_armed--;
}

void core_timer_arm(struct core_wheel *w, struct core_timer *t, uint64_t delay_ms)
{
    core_timer_disarm(w, t);
    uint64_t deadline = delay_ms > UINT64_MAX - w->_now ? UINT64_MAX : w->_now + delay_ms;
    t->_deadline = deadline;
    if (deadline <= w->_now) {
        list_push(&w->_due, t);
    } else {
        size_t slot = (size_t)(deadline & SLOT_MASK);
        list_push(&w->_slot[slot], t);
        w->_used[slot / 64] |= (uint64_t)1 << (slot % 64);
    }
    if (w->_armed == 0 || deadline < w->_next)
        w->_next = deadline;
    w->_armed++;
}

// first_used_tick returns the first tick after _now whose slot is not empty (the wheel must
// hold at least one timer in a slot): no timer in a slot can be due before it.
static uint64_t first_used_tick(const struct core_wheel *w)
{
    uint64_t from = w->_now + 1;
    size_t start = (size_t)(from & SLOT_MASK);
    size_t word = start / 64;
    uint64_t bits = w->_used[word] & (~(uint64_t)0 << (start % 64));
    for (size_t k = 0; k <= WORDS; k++) {
        if (bits) {
            size_t slot = word * 64 + (size_t)__builtin_ctzll(bits);
            return from + (((uint64_t)slot - start) & SLOT_MASK);
        }
        word = (word + 1) % WORDS;
        bits = w->_used[word];
    }
    return from; // not reached while a slot holds a timer; still a valid lower bound
}

// collect_slot moves the timers of slot that are due at now to the end of the run list.
static void collect_slot(struct core_wheel *w, size_t slot, uint64_t now, struct core_timer ***tail)
{
    struct core_timer *t = w->_slot[slot];
    while (t) {
        struct core_timer *next = t->_next;
        if (t->_deadline <= now) {
            unlink_timer(w, t);
            t->_pprev = *tail;
            **tail = t;
            *tail = &t->_next;
        }
        t = next;
    }
}

// collect moves every timer due at now to the run list *tail, earliest slots first.
static void collect(struct core_wheel *w, uint64_t now, struct core_timer ***tail)
{
    while (w->_due) {
        struct core_timer *t = w->_due;
        unlink_timer(w, t);
        t->_pprev = *tail;
        **tail = t;
        *tail = &t->_next;
    }
    // Nothing in a slot is due before _next or at/before _now; one revolution covers all slots.
    uint64_t first = w->_next > w->_now ? w->_next : w->_now + 1;
    if (now < first)
        return;
    uint64_t ticks = now - first + 1;
    if (ticks > CORE_WHEEL_SLOTS)
        ticks = CORE_WHEEL_SLOTS;
    for (uint64_t k = 0; k < ticks; k++) {
        size_t slot = (size_t)((first + k) & SLOT_MASK);
        if (w->_used[slot / 64] & ((uint64_t)1 << (slot % 64)))
            collect_slot(w, slot, now, tail);
    }
}

int core_wheel_advance(struct core_wheel *w, uint64_t now_ms)
{
    if (now_ms < w->_now)
        now_ms = w->_now;
    if (w->_armed == 0 || (!w->_due && now_ms < w->_next)) {
        w->_now = now_ms; // nothing due: O(1)
        return 0;
    }
    struct core_timer *run = NULL;
    struct core_timer **tail = &run;
    collect(w, now_ms, &tail);
    w->_now = now_ms; // before the callbacks, so that they arm relative to the new time
    int fired = 0;
    // A callback may disarm (unlink) any timer still on the run list, so always take the head.
    while (run) {
        struct core_timer *t = run;
        unlink_timer(w, t);
        w->_armed--;
        fired++;
        t->_fn(t, t->_arg); // t may be re-armed or freed from here on
    }
    if (w->_armed > 0)
        w->_next = w->_due ? w->_now : first_used_tick(w);
    return fired;
}

int core_wheel_next_ms(const struct core_wheel *w, uint64_t now_ms)
{
    if (w->_armed == 0)
        return -1;
    if (w->_next <= now_ms)
        return 0;
    uint64_t left = w->_next - now_ms;
    return left > INT_MAX ? INT_MAX : (int)left;
}
