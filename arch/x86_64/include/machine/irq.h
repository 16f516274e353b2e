/*
 * x86_64's interrupt flag for include/arch/irq.h: inline in the kernel, where
 * every spinlock and every scheduler path saves and restores it (a call each
 * way was a third of a kmalloc's instructions). A hosted build (tests/host)
 * gets the prototypes and links its shim's versions instead.
 */
#ifndef EXO_MACHINE_IRQ_H
#define EXO_MACHINE_IRQ_H

#include <stdbool.h>

#if __STDC_HOSTED__ == 0

#define MACHINE_RFLAGS_IF_BIT 9

/* "memory": nothing done under the disabled flag may move out past it. */
static inline bool arch_irq_save_disable(void)
{
    unsigned long flags;
    __asm__ volatile("pushfq\n\tpopq %0\n\tcli" : "=r"(flags) : : "memory");
    return (flags >> MACHINE_RFLAGS_IF_BIT) & 1;
}

static inline void arch_irq_restore(bool were_enabled)
{
    if (were_enabled)
        __asm__ volatile("sti" : : : "memory");
}

/* For a path that knows interrupts are on when it starts (a system call's
 * function: the entry turns them on before the call). */
static inline void arch_irq_disable(void)
{
    __asm__ volatile("cli" : : : "memory");
}

static inline void arch_irq_enable(void)
{
    __asm__ volatile("sti" : : : "memory");
}

/* The whole flags word, for the hottest paths (the scheduler's yield): saving it
 * needs no bit extracted, restoring it no test (popf puts IF back as it was). */
typedef unsigned long arch_irq_flags_t;

static inline arch_irq_flags_t arch_irq_flags_save_disable(void)
{
    arch_irq_flags_t flags;
    __asm__ volatile("pushfq\n\tpopq %0\n\tcli" : "=r"(flags) : : "memory");
    return flags;
}

static inline void arch_irq_flags_restore(arch_irq_flags_t flags)
{
    __asm__ volatile("pushq %0\n\tpopfq" : : "g"(flags) : "memory", "cc");
}

#else

bool arch_irq_save_disable(void);
void arch_irq_restore(bool were_enabled);
static inline void arch_irq_disable(void)
{
    (void)arch_irq_save_disable();
}
static inline void arch_irq_enable(void)
{
    arch_irq_restore(true);
}
typedef bool arch_irq_flags_t;
static inline arch_irq_flags_t arch_irq_flags_save_disable(void)
{
    return arch_irq_save_disable();
}
static inline void arch_irq_flags_restore(arch_irq_flags_t flags)
{
    arch_irq_restore(flags);
}

#endif
#endif
