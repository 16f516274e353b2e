/*
 * asid: which CPUs may hold translations of a user address space, and the
 * address-space identifiers (x86_64: PCIDs) that let a CPU keep them across a
 * switch.
 *
 * Every address space carries a struct arch_space_tlb. Its `id` is unique for
 * the kernel's life (never reused, so a stale tag can never be mistaken for a
 * live space); 0 is the kernel space. Its `cpus` mask gains a CPU the first
 * time that CPU loads the space and never loses it: a shootdown goes to exactly
 * the CPUs that ever ran the space (a superset of those that cache it now). It
 * has a bit for every CPU index (a 64-bit mask once folded CPU 64+k onto CPU k,
 * and CPU k's own shootdowns then left CPU 64+k out).
 *
 * With PCID, each CPU keeps a few tagged slots (arch/x86_64/asid.c): switching
 * to a space already in a slot reloads CR3 without a flush; a miss takes the
 * oldest slot and flushes that tag. A shootdown on a CPU where the space is not
 * loaded just empties its slot, so the next switch-in flushes. Without PCID,
 * every switch to another space is a plain CR3 reload (a full non-global flush).
 *
 * Ordering, the reason no CPU misses a shootdown: a switch sets its bit with a
 * locked RMW (a full barrier) before loading CR3; a shootdown writes the entry,
 * then reads the mask after a full barrier. Either the sender sees the bit, or
 * the switching CPU's walk sees the new entry.
 *
 * All functions may run with interrupts off; arch_space_shootdown waits for
 * the other CPUs (who answer while spinning, see arch_cpu_relax).
 */
#ifndef EXO_ARCH_ASID_H
#define EXO_ARCH_ASID_H

#include <stdbool.h>
#include <stdint.h>

#include "base/cpuset.h"

struct arch_space_tlb {
    uint64_t id;        /* unique; 0: the kernel space */
    struct cpuset cpus; /* (A) each CPU that has loaded the space */
};

#define ARCH_SHOOTDOWN_ALL UINTPTR_MAX /* va of arch_space_shootdown: every page */

/* Gives t a fresh id and an empty CPU set. */
void arch_space_tlb_init(struct arch_space_tlb *t);
/* Loads the space whose root table is root_phys on this CPU (no-op when it is
 * loaded already). */
void arch_space_switch(uint64_t root_phys, struct arch_space_tlb *t);
/* The same for a caller that keeps interrupts off anyway (the scheduler's
 * switch): no interrupt flag saved and restored. */
void arch_space_switch_irqs_off(uint64_t root_phys, struct arch_space_tlb *t);
/* Makes every CPU of t->cpus forget va (or all of the space), and waits. */
void arch_space_shootdown(struct arch_space_tlb *t, uintptr_t va);
/* Does this CPU tag translations (PCID)? */
bool arch_mmu_has_pcid(void);

#endif
