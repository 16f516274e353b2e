/*
 * arch/cpu: the processor itself: which CPU this is, how many there may be, how
 * to wait, how to stop. A port writes these first: the console lock
 * (base/spinlock.h) and everything above it need arch_cpu_index and
 * arch_cpu_relax.
 *
 * include/arch/ is what the architecture-neutral kernel (kernel/, mm/, sched/)
 * may ask of the machine, one header per concern: cpu.h, irq.h, time.h, mmu.h,
 * context.h, smp.h, fault.h, platform.h. arch/<name>/ implements them all, and
 * arch/<name>/include/machine/ supplies the constants they take in. No function
 * here takes or returns a register name.
 *
 * Interrupt context: every function here may be called from it.
 */
#ifndef EXO_ARCH_CPU_H
#define EXO_ARCH_CPU_H

#include <stdbool.h>

#include "machine/cpu.h"

/*
 * fn(arg), called so that the caller keeps every register but the result:
 * the call is then no call to the caller's register allocation. For the rare
 * branches of fast paths (a spin loop's body, a last reference's release), so
 * that the caller keeps its values in scratch registers around them instead of
 * saving callee-saved ones on the common path that never takes them. A port
 * without such a call (machine/cpu.h: MACHINE_CALL_KEEPING_INLINE) makes it a
 * plain call.
 */
#ifndef MACHINE_CALL_KEEPING_INLINE
static inline long arch_call_keeping(long (*fn)(void *arg), void *arg)
{
    return fn(arg);
}
#endif

/* The most CPUs the kernel runs on: per-CPU arrays, CPU sets (base/cpuset.h) and
 * the CPU fields of a thread are sized by it, and _Static_asserts where each is
 * declared check that it fits. CPUs the firmware lists beyond it stay offline.
 * The one place to change it. */
#define ARCH_MAX_CPUS 1024

/* The calling CPU's index, 0 .. ARCH_MAX_CPUS-1 (0 until other CPUs start).
 * Inline when machine/cpu.h supplies it. */
#ifndef MACHINE_CPU_INDEX_INLINE
unsigned arch_cpu_index(void);
#endif

/* The thread this CPU runs, as the scheduler last set it (opaque here; NULL
 * before the scheduler starts on it). Reading it needs no interrupt masking: it is
 * one load from the calling CPU's own area, which a migration cannot split. Set
 * only by the scheduler, on its own CPU, interrupts off. Inline when
 * machine/cpu.h supplies them. */
#ifndef MACHINE_CPU_RUNNING_INLINE
void *arch_cpu_running(void);
void arch_cpu_set_running(void *running);
#endif

/* Slots: words of each CPU's own area kept for the floors above, each holding
 * the address of one subsystem's record for that CPU, so that a fast path finds
 * its CPU's record in one load, with no index arithmetic and no interrupt
 * masking (the load cannot be split by a migration; what the caller does with
 * the record afterwards is its own affair, as with arch_cpu_index). Each owner
 * fills its slot for every CPU with arch_cpu_set_slot when it initializes,
 * before its first use, and never changes it afterwards. */
enum arch_cpu_slot_owner {
    ARCH_CPU_SLOT_FRAME_CACHE, /* mm/frame.c: the CPU's cache of free frames */
    ARCH_CPU_SLOT_HEAP_CACHE,  /* mm/heap.c: the CPU's cache of heap blocks */
    ARCH_CPU_SLOT_SCHED,       /* sched/sched.c: the CPU's scheduler record */
    ARCH_CPU_SLOTS
};
_Static_assert(ARCH_CPU_SLOTS <= MACHINE_CPU_SLOTS, "the per-CPU area has a word per slot");

/* The calling CPU's value of `slot` (a constant); NULL before its owner set it. */
#ifndef MACHINE_CPU_SLOT_INLINE
void *arch_cpu_slot(unsigned slot);
#endif
/* Sets `slot` of CPU `cpu` (any CPU, online or not yet): for initialization. */
void arch_cpu_set_slot(unsigned cpu, unsigned slot, void *value);

/* Bring up this CPU's descriptor tables and exception handlers (boot CPU, once). */
void arch_cpu_init(void);

/*
 * The body of every spin loop (x86: pause). Besides the hint, it is where a CPU
 * that spins with interrupts disabled answers what other CPUs wait on: a pending
 * TLB shootdown (include/arch/mmu.h, arch_tlb_shootdown) is carried out here, so
 * two CPUs each spinning on the other, one of them shooting down, cannot deadlock.
 * A spinner that waits without calling it, interrupts off, can hang the machine.
 * Inline where a port makes it a call that keeps every register
 * (arch_call_keeping): a spin loop then costs its caller no register saves.
 */
#ifndef MACHINE_CPU_RELAX_INLINE
void arch_cpu_relax(void);
#endif

/* Enables interrupts and halts until one arrives, atomically (no wake-up can slip
 * in between); returns with interrupts disabled, after the interrupt's handler. */
void arch_cpu_idle(void);

/* Stop this CPU for good (interrupts off). */
__attribute__((noreturn)) void arch_halt_forever(void);

#endif
