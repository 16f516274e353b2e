/*
 * include/base/ holds the primitives every floor uses (this lock, panic and
 * KASSERT). They sit just above lib/ and use only the arch CPU primitives
 * (interrupt flag, relax), which is why arch/ itself may take these locks.
 *
 * spinlock: a test-and-test-and-set lock that disables interrupts on this CPU
 * while held, so an interrupt handler on the same CPU can never spin on a lock its
 * own CPU holds.
 *
 * Memory order: acquire on lock, release on unlock, so everything done under the
 * lock is visible to the next holder. Holders must not sleep. A spinner waits in
 * arch_cpu_relax, which answers TLB shootdowns (include/arch/cpu.h), so spinning
 * with interrupts off never blocks another CPU's shootdown.
 *
 * Which lock may be taken while holding which: the one lock-order table, at the
 * top of sched/sched.c. Every function whose name ends in _locked starts with
 * spin_assert_held on the lock its caller must hold.
 *
 * Interrupt context: all of these may be used from it (the lock keeps
 * interrupts off while held, so a handler cannot deadlock with its own CPU).
 */
#ifndef EXO_BASE_SPINLOCK_H
#define EXO_BASE_SPINLOCK_H

#include <stdbool.h>

#include "arch/cpu.h"
#include "arch/irq.h"
#include "base/panic.h"

struct spinlock {
    volatile int locked; /* 0 free, 1 held; changed only by the __atomic builtins */
    const char *name;    /* for messages */
};

#define SPINLOCK_INIT(lock_name) {0, lock_name}

/* Returns the interrupt state to hand back to spin_unlock. */
static inline bool spin_lock(struct spinlock *lock)
{
    bool irq_were_enabled = arch_irq_save_disable();
    for (;;) {
        if (!__atomic_exchange_n(&lock->locked, 1, __ATOMIC_ACQUIRE))
            return irq_were_enabled;
        while (__atomic_load_n(&lock->locked, __ATOMIC_RELAXED))
            arch_cpu_relax();
    }
}

static inline void spin_unlock(struct spinlock *lock, bool irq_were_enabled)
{
    __atomic_store_n(&lock->locked, 0, __ATOMIC_RELEASE);
    arch_irq_restore(irq_were_enabled);
}

/* The same lock for a caller that already runs with interrupts disabled and keeps
 * them so (the scheduler's switch path): no flag to save or restore. */
static inline void spin_lock_irqs_off(struct spinlock *lock)
{
    while (__atomic_exchange_n(&lock->locked, 1, __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(&lock->locked, __ATOMIC_RELAXED))
            arch_cpu_relax();
    }
}

static inline void spin_unlock_irqs_off(struct spinlock *lock)
{
    __atomic_store_n(&lock->locked, 0, __ATOMIC_RELEASE);
}

/* Two locks of one kind (two address spaces, say), the lower address first, so
 * that two CPUs taking the same pair never wait for each other; one lock when a
 * and b are the same. Returns the interrupt state for spin_unlock_two. */
static inline bool spin_lock_two(struct spinlock *a, struct spinlock *b)
{
    struct spinlock *first = a < b ? a : b, *second = a < b ? b : a;
    bool irq = spin_lock(first);
    if (second != first)
        spin_lock_irqs_off(second);
    return irq;
}

static inline void spin_unlock_two(struct spinlock *a, struct spinlock *b, bool irq_were_enabled)
{
    struct spinlock *first = a < b ? a : b, *second = a < b ? b : a;
    if (second != first)
        spin_unlock_irqs_off(second);
    spin_unlock(first, irq_were_enabled);
}

/* Panics, naming the lock and the function, unless `lock` is held. The lock keeps
 * no owner (that would cost a store on every acquire), so this catches a lock not
 * taken at all, not one taken by another CPU. */
#define spin_assert_held(lock)                                                          \
    do {                                                                                \
        if (!__atomic_load_n(&(lock)->locked, __ATOMIC_RELAXED))                        \
            panic("spinlock '%s' not held in %s", (lock)->name, __func__);              \
    } while (0)

#endif
