/*
 * arch/irq: the interrupt flag, interrupt handlers and the preemption hook
 * (arch/x86_64: idt.c, apic.c).
 *
 * Vectors below ARCH_IRQ_FIRST are exceptions (include/arch/fault.h). A handler
 * runs with interrupts disabled on the CPU that took the interrupt and must
 * return with them disabled; the arch acknowledges the interrupt after it
 * returns and then calls the preempt hook, which may switch threads (it runs on
 * the interrupted thread's stack, so that is safe).
 *
 * Nesting: interrupts nest only if a handler turns them on. The preempt hook runs
 * only for the outermost interrupt of its CPU (depth 0 once this one is counted
 * out), never from a nested one, so an interrupt that came in the middle of
 * another never switches threads while the outer handler's frame is still on the
 * stack; and it runs with interrupts off, so nothing nests under it. A CPU's
 * deepest nesting since the last reset is kept, for tests.
 *
 * Interrupt context: arch_irq_save_disable and arch_irq_restore may be called
 * anywhere; the set_* functions are for init, before the vector can fire.
 */
#ifndef EXO_ARCH_IRQ_H
#define EXO_ARCH_IRQ_H

#include <stdbool.h>

/* Interrupt flag: bool arch_irq_save_disable(void) disables interrupts and
 * returns whether they were enabled; void arch_irq_restore(bool were_enabled)
 * re-enables them if they were. Inline, from the arch's machine/irq.h.
 * arch_irq_flags_t arch_irq_flags_save_disable(void) and
 * arch_irq_flags_restore(flags) do the same with the whole flags word, where a
 * path counts its instructions (no bit to extract or test). arch_irq_disable
 * and arch_irq_enable, for a path that knows they were on (a system call's
 * function), save nothing. */
#include "machine/irq.h"

#define ARCH_IRQ_FIRST 32
typedef void (*arch_irq_handler_fn)(void *ctx);
void arch_irq_set_handler(unsigned vector, arch_irq_handler_fn fn, void *ctx);
void arch_set_preempt_hook(void (*hook)(void));
/* How many interrupt handlers were at most on `cpu`'s stack at once since the last
 * reset (1: never nested), and the reset. */
unsigned arch_irq_depth_max(unsigned cpu);
void arch_irq_depth_reset(unsigned cpu);

/* The boot CPU's interrupt controller and clocks (x86_64: local APIC, legacy
 * controllers masked, the clocks calibrated, include/arch/time.h). After paging. */
void arch_interrupts_init(void);

#endif
