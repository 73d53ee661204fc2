// SPDX-License-Identifier: Apache-2.0
// core/timer.h: a hashed timer wheel, one per worker thread, and the timers embedded in the
// objects that worker owns (connections, handshakes, back-offs).
//
// The wheel has CORE_WHEEL_SLOTS slots of 1 ms. A timer sits in the slot of its deadline
// (deadline modulo the slot count) with its absolute deadline, so a delay longer than one
// revolution (about 4 s) needs no round counter: a slot only fires the timers whose deadline
// has come and leaves the others for a later revolution. Arm and disarm are O(1); advancing
// visits each elapsed slot at most once, and never more than one revolution of slots per call,
// so a clock that jumps by hours costs one pass over the wheel, not one step per millisecond.
// A lower bound on the earliest deadline is kept so that a call with nothing due is O(1) and
// core_wheel_next_ms() is a subtraction.
//
// Threads: a wheel and its timers belong to one thread (the worker that owns them); nothing
// here is locked or atomic, and no function may be called on a wheel from another thread.
// Other threads reach a worker's timers by mailing it (core/mbox.h).
//
// Ownership: the wheel and each timer are caller storage. The wheel never owns a timer: the
// owner must disarm a timer before freeing or reusing its storage, and before core_wheel_fini().
#ifndef TLSEDGE_CORE_TIMER_H
#define TLSEDGE_CORE_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// CORE_WHEEL_SLOTS is the number of 1 ms slots (a power of two): one revolution is 4.096 s.
#define CORE_WHEEL_SLOTS 4096

struct core_timer;

// core_timer_fn is called by core_wheel_advance() when t is due, on the wheel's thread, with
// the arg given to core_timer_init(). t is already disarmed when it runs. It may re-arm or
// disarm any timer of the same wheel (t included), and free t or any other timer it has
// disarmed; it must not call core_wheel_advance() on the same wheel.
typedef void (*core_timer_fn)(struct core_timer *t, void *arg);

// struct core_timer: embedded in the object it times (its owner); initialise with
// core_timer_init(). The fields belong to core/timer.c.
struct core_timer {
    struct core_timer *_next;   // next in the same list
    struct core_timer **_pprev; // the pointer that points here; NULL when not armed
    uint64_t _deadline;         // absolute, ms, on the wheel's clock
    core_timer_fn _fn;
    void *_arg;
};

// struct core_wheel: caller storage (about 33 KiB), normally inside the worker's own struct;
// initialise with core_wheel_init(). The fields belong to core/timer.c.
struct core_wheel {
    uint64_t _now;           // the time of the last advance: every deadline <= _now has fired
    uint64_t _next;          // when _armed > 0: at most the earliest deadline of an armed timer
    size_t _armed;           // armed timers
    struct core_timer *_due; // armed with no delay: they fire at the next advance
    uint64_t _used[CORE_WHEEL_SLOTS / 64]; // bit i set when _slot[i] is not empty
    struct core_timer *_slot[CORE_WHEEL_SLOTS];
};

// core_now_ms returns CLOCK_MONOTONIC in milliseconds: the clock workers pass to
// core_wheel_init() and core_wheel_advance(). Any thread.
uint64_t core_now_ms(void);

// core_wheel_init makes w an empty wheel whose clock reads now_ms. Owner thread.
void core_wheel_init(struct core_wheel *w, uint64_t now_ms);

// core_wheel_fini ends the use of w. It disarms nothing and touches no timer: owners disarm
// their timers first (a timer still armed would later be unlinked from a wheel that is gone).
// Owner thread.
void core_wheel_fini(struct core_wheel *w);

// core_timer_init prepares t, not armed, to call fn(t, arg) when it fires. t is the caller's
// storage; arg is passed through untouched. Must not be called on an armed timer. Any thread
// that owns t.
void core_timer_init(struct core_timer *t, core_timer_fn fn, void *arg);

// core_timer_arm (re-)arms t on w to fire delay_ms after the wheel's clock, i.e. the now_ms of
// the last core_wheel_advance() (or core_wheel_init()); a worker advances once per loop
// iteration, so the timer may fire early by the time spent since then in that iteration. An
// armed t is first disarmed. A delay of 0 fires at the next core_wheel_advance(), also when
// armed from a callback (never within the same call, so a callback re-arming itself with 0
// cannot loop). A deadline beyond 2^64 ms is clamped. O(1). t must not be armed on another
// wheel. Owner thread.
void core_timer_arm(struct core_wheel *w, struct core_timer *t, uint64_t delay_ms);

// core_timer_disarm disarms t, which then will not fire; nothing happens when t is not armed.
// O(1). t must be armed on w if armed at all. Owner thread.
void core_timer_disarm(struct core_wheel *w, struct core_timer *t);

// core_timer_armed is true while t is armed (it is false inside t's own callback unless the
// callback re-armed it). Owner thread.
bool core_timer_armed(const struct core_timer *t);

// core_wheel_advance moves w's clock to now_ms (a clock that goes backwards is taken as not
// moving) and calls every timer whose deadline is <= now_ms, each once. Timers fire in deadline
// order when the clock moved by less than one revolution; after a longer jump, in slot order.
// Callbacks may arm, disarm and free timers as core_timer_fn says: the due timers are first
// moved to a private list, and a timer disarmed there by an earlier callback does not fire.
// Returns the number of callbacks called. Owner thread.
int core_wheel_advance(struct core_wheel *w, uint64_t now_ms);

// core_wheel_next_ms returns how many ms from now_ms until the next deadline: 0 when one is
// due, -1 when no timer is armed, at most INT_MAX. It may under-estimate (the worker wakes,
// advances, finds nothing due and sleeps again) but never over-estimates, so it can be the
// epoll_wait timeout. O(1). Owner thread.
int core_wheel_next_ms(const struct core_wheel *w, uint64_t now_ms);

#endif
