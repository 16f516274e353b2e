/* The per-CPU area the GS base points at (arch/x86_64/arch.c). */
#ifndef EXO_ARCH_X86_64_PERCPU_H
#define EXO_ARCH_X86_64_PERCPU_H

#include <stdbool.h>
#include <stdint.h>

#include "machine/cpu.h"

#define MSR_GS_BASE 0xc0000101u

struct pcid_cpu;

/* Only its own CPU touches its area. The fields syscall.S reads have their
 * offsets checked in user.c. */
struct cpu_area {
    struct cpu_area *self; /* %gs:0, so the area's address is one load away */
    unsigned index;        /* arch_cpu_index() */
    uint64_t kernel_rsp;   /* the running user thread's kernel stack top (SYSCALL) */
    uint64_t user_rsp;     /* the user rsp, for a moment at SYSCALL entry */
    const uint32_t *user_work; /* the running user thread's work word */
    void *tss;             /* this CPU's TSS (gdt.c) */
    uint64_t fs_base, user_gs_base; /* what the MSRs hold for the user now */
    struct arch_user_state *user_state; /* the running user thread's, or NULL */
    void *running;         /* arch_cpu_running(): the scheduler's current thread */
    void *slots[MACHINE_CPU_SLOTS]; /* arch_cpu_slot() (include/arch/cpu.h) */
    struct pcid_cpu *pcid; /* &pcid_cpus[index] (pcid.h) */
    bool *switch_released; /* IPC's direct switch (arch_user_switch_return): the on_cpu
                            * of the thread it switched from, cleared once off its stack */
};
_Static_assert(__builtin_offsetof(struct cpu_area, index) == MACHINE_PERCPU_INDEX_OFFSET,
               "machine/cpu.h's arch_cpu_index reads the index there");
_Static_assert(__builtin_offsetof(struct cpu_area, running) == MACHINE_PERCPU_RUNNING_OFFSET,
               "machine/cpu.h's arch_cpu_running reads the thread there");

_Static_assert(__builtin_offsetof(struct cpu_area, slots) == MACHINE_PERCPU_SLOTS_OFFSET,
               "machine/cpu.h's arch_cpu_slot reads the slots there");

static inline struct cpu_area *this_cpu_area(void)
{
    struct cpu_area *area;
    __asm__ volatile("movq %%gs:0, %0" : "=r"(area));
    return area;
}

/* Points this CPU's GS base at area `cpu`. */
void percpu_init_this_cpu(unsigned cpu);

#endif
