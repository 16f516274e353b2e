/* The per-CPU area the GS base points at (arch/x86_64/arch.c). */
#ifndef EXO_ARCH_X86_64_PERCPU_H
#define EXO_ARCH_X86_64_PERCPU_H

#include <stdint.h>

#define MSR_GS_BASE 0xc0000101u

struct cpu_area {
    struct cpu_area *self; /* %gs:0, so the area's address is one load away */
    unsigned index;        /* arch_cpu_index() */
};

/* Points this CPU's GS base at area `cpu`. */
void percpu_init_this_cpu(unsigned cpu);

#endif
