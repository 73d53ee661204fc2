// SPDX-License-Identifier: Apache-2.0
// core/tsan.h: happens-before annotations for ThreadSanitizer (`make test SAN=thread`) where
// tlsedge synchronises through liburcu, which TSan cannot see: liburcu's atomics are inline
// assembly and its grace periods wait on futexes inside an uninstrumented library. Without them
// every field of a message, of a published snapshot or of a snapshot freed after a grace period
// would be reported as a data race.
//
// Each macro does nothing outside a TSan build. They only tell TSan about an ordering that
// liburcu already guarantees; they never add one. Any thread.
#ifndef TLSEDGE_CORE_TSAN_H
#define TLSEDGE_CORE_TSAN_H

#if defined(__SANITIZE_THREAD__)
#define CORE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CORE_TSAN 1
#endif
#endif

#ifdef CORE_TSAN
// TSan's own interface (compiler-rt's sanitizer/tsan_interface.h, which GCC does not ship).
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
// core_tsan_grace: the synchronisation object of RCU grace periods (defined in core/snapshot.c).
extern char core_tsan_grace;
// CORE_TSAN_RELEASE(p): everything the calling thread did so far happens before whatever a later
// CORE_TSAN_ACQUIRE(p) on any thread is followed by (p: any address, used as a name).
#define CORE_TSAN_RELEASE(p) __tsan_release((void *)(p))
#define CORE_TSAN_ACQUIRE(p) __tsan_acquire((void *)(p))
#else
#define CORE_TSAN_RELEASE(p) ((void)(p))
#define CORE_TSAN_ACQUIRE(p) ((void)(p))
#endif

#ifdef CORE_TSAN
// CORE_TSAN_QUIESCENT(): the calling RCU reader is about to report a quiescent state (or go
// offline): every read it made of RCU-protected objects happens before the callbacks of grace
// periods that end after this point. Call it right before rcu_quiescent_state() and
// rcu_thread_offline().
#define CORE_TSAN_QUIESCENT() __tsan_release(&core_tsan_grace)
// CORE_TSAN_GRACE_OVER(): at the start of a call_rcu callback: the readers' quiescent states
// happen before it, so freeing what they read is not a race.
#define CORE_TSAN_GRACE_OVER() __tsan_acquire(&core_tsan_grace)
#else
#define CORE_TSAN_QUIESCENT() ((void)0)
#define CORE_TSAN_GRACE_OVER() ((void)0)
#endif

#endif
