/* The per-CPU area the GS base points at (arch/x86_64/arch.c). */
#ifndef EXO_ARCH_X86_64_PERCPU_H
#define EXO_ARCH_X86_64_PERCPU_H

#include <stdint.h>

#include "machine/cpu.h"

#define MSR_GS_BASE 0xc0000101u

struct cpu_area {
    struct cpu_area *self; /* %gs:0, so the area's address is one load away */
    unsigned index;        /* arch_cpu_index() */
};
_Static_assert(__builtin_offsetof(struct cpu_area, index) == MACHINE_PERCPU_INDEX_OFFSET,
               "machine/cpu.h's arch_cpu_index reads the index there");

/* Points this CPU's GS base at area `cpu`. */
void percpu_init_this_cpu(unsigned cpu);

#endif
