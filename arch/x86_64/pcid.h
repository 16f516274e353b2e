/* The arch-internal side of include/arch/asid.h (asid.c, smp.c, mmu.c). */
#ifndef EXO_ARCH_X86_64_PCID_H
#define EXO_ARCH_X86_64_PCID_H

#include <stdbool.h>
#include <stdint.h>

#include "base/cpuset.h"
#include "arch/asid.h"
#include "cpu.h"
#include "machine/cpu.h"
#include "mmu_bits.h"

#define PCID_SLOTS 8
#define CR3_NOFLUSH (1ull << 63)

/* Slot s holds the id of the space tagged s + 1 on this CPU, or 0 (asid.c).
 * Line-aligned: each CPU writes its own on every switch between spaces, and
 * its size (a power of two) makes the lookup one shift. */
struct pcid_cpu {
    uint64_t slot_id[PCID_SLOTS];
    unsigned next_victim;
    uint64_t current_id; /* the space loaded now */
} __attribute__((aligned(ARCH_CACHE_LINE_BYTES)));
extern struct pcid_cpu pcid_cpus[];
extern bool pcid_enabled; /* set by the boot CPU before any user space */

/* Called by arch_mmu_init_this_cpu on the boot CPU once CR4.PCIDE is set. */
void pcid_enable(void);
/* This CPU's part of a shootdown of space `id` (interrupts off). */
void pcid_flush_local(uint64_t id, uintptr_t va);
/* Has each CPU of `cpus` but this one run pcid_flush_local(id, va), and waits
 * (smp.c). */
void smp_shootdown_space(const struct cpuset *cpus, uint64_t id, uintptr_t va);

/* Loads root_phys tagged for space `id` on this CPU (c), when PCID is on: out of
 * line, so that pcid_space_switch's caller keeps no value across a call. */
void pcid_load_tagged(struct pcid_cpu *c, uint64_t root_phys, uint64_t id);

/* cpuset_test_atomic(set, cpu) in one instruction: bt takes the CPU index as a
 * bit offset from the set's first word (a plain load, as cpuset_test_atomic's
 * is on x86), where the C version shifts, masks and indexes. */
static inline bool pcid_cpu_in(const struct cpuset *set, unsigned cpu)
{
    bool in;
    __asm__("btq %2, %1" : "=@ccc"(in) : "m"(*set), "r"((uint64_t)cpu));
    return in;
}

/* cpuset_set_atomic(set, cpu) the same way (lock bts, an atomic read-modify-
 * write as the builtin's is): no shift, so the switch
 * keeps no copy of the index in rcx for it. */
static inline void pcid_cpu_add(struct cpuset *set, unsigned cpu)
{
    __asm__ volatile("lock btsq %1, %0" : "+m"(*set) : "r"((uint64_t)cpu) : "memory", "cc");
}

/* pcid_space_switch (below) but for a tagged load (PCID on), which it leaves to
 * its caller: true when one is needed (pcid_load_tagged(c, root_phys, t->id)). */
static inline __attribute__((always_inline, warn_unused_result)) bool
pcid_space_switch_untagged(unsigned cpu, struct pcid_cpu *c, uint64_t root_phys,
                           struct arch_space_tlb *t)
{
    uint64_t id = t->id;
    if (!pcid_cpu_in(&t->cpus, cpu))
        pcid_cpu_add(&t->cpus, cpu);
    if (c->current_id != id || (read_cr3() & PTE_ADDR_MASK) != root_phys) {
        if (pcid_enabled)
            return true;
        __asm__ volatile("mov %0, %%cr3" : : "r"(root_phys) : "memory");
        c->current_id = id;
    }
    return false;
}

/* arch_space_switch_irqs_off's body on CPU `cpu` (this one), whose record is c
 * (&pcid_cpus[cpu]: the per-CPU area keeps its address, so the switch computes
 * no index), inline also at the end of arch_user_switch (user.c), so a switch
 * between processes loads the space without a call of its own. */
static inline __attribute__((always_inline)) void pcid_space_switch(unsigned cpu,
                                                                    struct pcid_cpu *c,
                                                                    uint64_t root_phys,
                                                                    struct arch_space_tlb *t)
{
    if (pcid_space_switch_untagged(cpu, c, root_phys, t))
        pcid_load_tagged(c, root_phys, t->id);
}

#endif
