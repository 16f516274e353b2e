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
 * lock is visible to the next holder. Holders must not sleep.
 */
#ifndef EXO_BASE_SPINLOCK_H
#define EXO_BASE_SPINLOCK_H

#include <stdbool.h>

#include "arch/cpu.h"
#include "arch/irq.h"

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

#endif
