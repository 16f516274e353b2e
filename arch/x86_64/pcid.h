/* The arch-internal side of include/arch/asid.h (asid.c, smp.c, mmu.c). */
#ifndef EXO_ARCH_X86_64_PCID_H
#define EXO_ARCH_X86_64_PCID_H

#include <stdint.h>

#include "base/cpuset.h"

/* Called by arch_mmu_init_this_cpu on the boot CPU once CR4.PCIDE is set. */
void pcid_enable(void);
/* This CPU's part of a shootdown of space `id` (interrupts off). */
void pcid_flush_local(uint64_t id, uintptr_t va);
/* Has each CPU of `cpus` but this one run pcid_flush_local(id, va), and waits
 * (smp.c). */
void smp_shootdown_space(const struct cpuset *cpus, uint64_t id, uintptr_t va);

#endif
