/*
 * x86_64's constants for include/arch/cpu.h. A port supplies
 * arch/<name>/include/machine/cpu.h with the same names.
 */
#ifndef EXO_MACHINE_CPU_H
#define EXO_MACHINE_CPU_H

/* The coherence unit: per-CPU data is aligned to it so that CPUs do not share
 * lines. Only a performance matter if it is wrong. */
#define ARCH_CACHE_LINE_BYTES 64

/* Where the per-CPU area (arch/x86_64/percpu.h, at the GS base) keeps the CPU's
 * index; percpu.h checks it. */
#define MACHINE_PERCPU_INDEX_OFFSET 8
/* ... and the thread it runs (arch_cpu_running). */
#define MACHINE_PERCPU_RUNNING_OFFSET 72
/* ... and the slots of include/arch/cpu.h (arch_cpu_slot), 8 bytes each. */
#define MACHINE_PERCPU_SLOTS_OFFSET 80
#define MACHINE_CPU_SLOTS 4

#if __STDC_HOSTED__ == 0
/* include/arch/cpu.h's arch_call_keeping: call_keeping.S's thunk saves the
 * scratch registers, aligns the stack, calls fn(arg) and restores them. */
static inline long arch_call_keeping(long (*fn)(void *arg), void *arg)
{
    long result;
    __asm__ volatile("call arch_call_keeping_thunk"
                     : "=a"(result)
                     : "D"(arg), "S"(fn)
                     : "memory", "cc");
    return result;
}
#define MACHINE_CALL_KEEPING_INLINE 1

/* include/arch/cpu.h's arch_cpu_relax: pause, then (arch.c) any shootdown that
 * waits for this CPU, called as arch_call_keeping calls (call_keeping.S), with
 * nothing to pass: a spin loop sets up no register for it. */
long arch_cpu_relax_call(void *unused);
static inline void arch_cpu_relax(void)
{
    __asm__ volatile("call arch_cpu_relax_thunk" : : : "memory", "cc");
}
#define MACHINE_CPU_RELAX_INLINE 1

/* arch_cpu_index, inline in the kernel (the scheduler asks on every switch); a
 * hosted build (tests/host) links its shim's. volatile: the thread may move to
 * another CPU between two calls. */
static inline unsigned arch_cpu_index(void)
{
    unsigned index;
    __asm__ volatile("movl %%gs:%c1, %0" : "=r"(index) : "i"(MACHINE_PERCPU_INDEX_OFFSET));
    return index;
}
#define MACHINE_CPU_INDEX_INLINE 1

/* One load: the running thread cannot move between reading the GS base and the
 * word, so no interrupt masking. volatile: a switch changes it under the caller. */
static inline void *arch_cpu_running(void)
{
    void *running;
    __asm__ volatile("movq %%gs:%c1, %0" : "=r"(running) : "i"(MACHINE_PERCPU_RUNNING_OFFSET));
    return running;
}

static inline void arch_cpu_set_running(void *running)
{
    __asm__ volatile("movq %0, %%gs:%c1"
                     :
                     : "r"(running), "i"(MACHINE_PERCPU_RUNNING_OFFSET)
                     : "memory");
}
#define MACHINE_CPU_RUNNING_INLINE 1

/* One load, as arch_cpu_running; a macro so that the slot is a constant the
 * instruction carries. */
#define arch_cpu_slot(slot)                                                              \
    ({                                                                                   \
        void *slot_value_;                                                               \
        __asm__ volatile("movq %%gs:%c1, %0"                                             \
                         : "=r"(slot_value_)                                             \
                         : "i"(MACHINE_PERCPU_SLOTS_OFFSET + 8 * (slot)));              \
        slot_value_;                                                                     \
    })
#define MACHINE_CPU_SLOT_INLINE 1
#endif

#endif
