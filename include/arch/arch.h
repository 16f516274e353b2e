/*
 * arch: what the architecture-neutral kernel (kernel/, mm/, sched/) may ask of the
 * CPU. Everything here is implemented in arch/x86_64/; a port replaces that folder
 * and keeps this header. No function here takes or returns a register name.
 */
#ifndef EXO_ARCH_ARCH_H
#define EXO_ARCH_ARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The first console (COM1 on x86_64), registered with kernel/console.c. Returns
 * false when the machine has none; kernel_main goes on without it. */
bool arch_early_console_init(void);

/* The consoles' input (x86_64: the PS/2 keyboard and COM1's receiver), on: from
 * now on what the user types arrives through input_push (kernel/input.h), from
 * interrupt handlers. Prints which inputs work. After arch_interrupts_init. */
void arch_input_start(void);

/* Bring up this CPU's descriptor tables and exception handlers (boot CPU, once). */
void arch_cpu_init(void);

/* Interrupt flag: save-and-disable, restore. Returns the previous state. */
bool arch_irq_save_disable(void);
void arch_irq_restore(bool were_enabled);

/* A hint inside spin loops (x86: pause). */
void arch_cpu_relax(void);

/* The calling CPU's index, 0 .. ARCH_MAX_CPUS-1 (0 until other CPUs start). */
unsigned arch_cpu_index(void);
#define ARCH_MAX_CPUS 64

/* Stop this CPU for good (interrupts off). */
__attribute__((noreturn)) void arch_halt_forever(void);

/* A cycle counter for timing (the TSC on x86_64), read in program order. */
uint64_t arch_read_timestamp(void);
/* The same counter around code being timed (benchmarks): the `before` read is
 * taken after every earlier instruction and before any later one starts; the
 * `after` read only once every earlier instruction has completed, and before any
 * later one starts. So neither end of the interval leaks into the other side. */
uint64_t arch_read_timestamp_before(void);
uint64_t arch_read_timestamp_after(void);

/* Under QEMU's isa-debug-exit device, end the VM with a pass or fail status;
 * elsewhere this has no effect, so it then halts. */
__attribute__((noreturn)) void arch_debug_exit(bool success);

/* The physical address a virtual address of the direct map stands for, and back.
 * Valid for physical memory the early tables cover (the first 4 GiB at boot). */
void *arch_phys_to_virt(uint64_t phys);
#define ARCH_EARLY_DIRECT_MAP_BYTES (4ull << 30)

/* The kernel half's virtual regions (arch/x86_64/layout.h has the numbers). Each
 * starts on a top-level table boundary, so regions share no page tables. */
struct arch_va_region {
    uintptr_t start, end; /* [start, end) */
};
struct arch_va_layout {
    struct arch_va_region direct_map;   /* all RAM, at start + physical */
    struct arch_va_region heap;         /* kmalloc arenas (mm/heap.c) */
    struct arch_va_region stacks;       /* kernel stacks with guard pages (mm/kstack.c) */
    struct arch_va_region devices;      /* MMIO and framebuffers */
    struct arch_va_region kernel_image; /* the linked kernel */
};
extern const struct arch_va_layout arch_va_layout;

/* The kernel image's sections, page-aligned (linker.ld). */
struct arch_image_section {
    uintptr_t start, end;
    unsigned page_flags; /* PAGE_* of include/mm/paging.h */
    const char *name;
};
#define ARCH_IMAGE_SECTIONS 3
extern const struct arch_image_section arch_image_sections[ARCH_IMAGE_SECTIONS];
/* The virtual address of the image's physical address: image VA - offset = PA. */
#define ARCH_IMAGE_PHYS(va) ((uint64_t)(va) - arch_va_layout.kernel_image.start)

/*
 * Frame-pointer backtrace: calls `visit` with each return address found by walking
 * the chain of saved frame pointers, starting at `frame_pointer` (0 means the
 * caller's own frame), stopping after max_frames or at an implausible pointer.
 */
typedef void (*arch_backtrace_fn)(void *ctx, uint64_t return_address);
void arch_backtrace(uint64_t frame_pointer, int max_frames, arch_backtrace_fn visit, void *ctx);

/* What a caught fault looked like. */
struct fault_info {
    unsigned vector;     /* exception number (x86: 0..31) */
    uint64_t error_code; /* 0 where the exception has none */
    uint64_t fault_addr; /* the faulting data address, for page faults; else 0 */
    uint64_t ip;         /* instruction pointer at the fault */
};

/*
 * Runs fn(arg) with fault recovery armed on this CPU: if fn raises a CPU exception,
 * execution resumes here instead of panicking, *out describes the fault, and the
 * result is true. If fn returns normally, the result is false. Faults are caught
 * only while fn runs, one level deep (a nested call panics). For tests that must
 * provoke a fault; never a way to "fix" one.
 */
bool arch_call_catching_fault(void (*fn)(void *arg), void *arg, struct fault_info *out);

/* Is the caught fault a page fault? If so: the kind of access, and whether the
 * page was present (a protection violation) or not. */
enum fault_access {
    FAULT_ACCESS_READ,
    FAULT_ACCESS_WRITE,
    FAULT_ACCESS_EXEC,
};
bool arch_fault_is_page_fault(const struct fault_info *fault, enum fault_access *access,
                              bool *was_present);

/*
 * Runs fn(arg) on another stack (stack_top: 16-byte aligned, the stack grows down
 * from it) and comes back to the caller's stack when fn returns.
 */
void arch_call_on_stack(void (*fn)(void *arg), void *arg, uintptr_t stack_top);

/*
 * Threads (arch/x86_64/context_switch.S documents the saved frame).
 * arch_context_switch saves the callee-saved registers on the current stack,
 * stores the stack pointer in *save_sp, loads load_sp and resumes the thread that
 * was saved there. Call with interrupts disabled.
 * arch_thread_stack_init prepares a new stack (top = highest address, 16-byte
 * aligned) so that switching to the returned stack pointer runs begin(), then
 * entry(arg), then end(), which must not return.
 */
void arch_context_switch(uint64_t *save_sp, uint64_t load_sp);
struct arch_thread_start {
    void (*begin)(void);
    void (*entry)(void *arg);
    void *arg;
    __attribute__((noreturn)) void (*end)(void);
};
uint64_t arch_thread_stack_init(uintptr_t top, const struct arch_thread_start *start);

/*
 * Interrupts and timers (arch/x86_64/apic.c). Vectors below ARCH_IRQ_FIRST are
 * exceptions. A handler runs with interrupts disabled; the arch acknowledges the
 * interrupt after it returns and then calls the preempt hook, which may switch
 * threads (it runs on the interrupted thread's stack, so that is safe).
 */
#define ARCH_IRQ_FIRST 32
typedef void (*arch_irq_handler_fn)(void *ctx);
void arch_irq_set_handler(unsigned vector, arch_irq_handler_fn fn, void *ctx);
void arch_set_preempt_hook(void (*hook)(void));

/* Enables interrupts and halts until one arrives, atomically (no wake-up can slip
 * in between); returns with interrupts disabled, after the interrupt's handler. */
void arch_cpu_idle(void);

/* The boot CPU's interrupt controller and clocks: local APIC (x2APIC when the
 * CPU has it), legacy PIC masked, TSC and APIC timer calibrated. After paging. */
void arch_interrupts_init(void);
/* Monotonic nanoseconds since arch_interrupts_init, from the TSC. */
uint64_t arch_time_ns(void);
uint64_t arch_tsc_hz(void);
/* Calls tick() every period_ns on this CPU, from its local APIC timer. */
void arch_timer_start(uint64_t period_ns, void (*tick)(void));
/* How the tick is made: "TSC-deadline" or "periodic" (after arch_timer_start). */
const char *arch_timer_mode(void);

/*
 * Legacy ISA interrupts (1: PS/2 keyboard, 4: COM1), routed through the I/O APIC
 * (arch/x86_64/ioapic.c) as the firmware's ACPI tables say (interrupt source
 * overrides: GSI, polarity, trigger), each to a vector of its own, delivered to
 * the boot CPU. arch_isa_irq_enable installs fn(ctx) as the handler and unmasks
 * the line; it returns false, after printing why, when the IRQ cannot be routed
 * (no I/O APIC, the GSI on none, the IRQ already enabled). arch_isa_irq_disable
 * masks it; when it returns, fn is not running (unless the caller is fn itself)
 * and will not be called again. Both may be called from any CPU and thread.
 */
bool arch_isa_irq_enable(unsigned isa_irq, arch_irq_handler_fn fn, void *ctx);
void arch_isa_irq_disable(unsigned isa_irq);

/*
 * Power (arch/x86_64/power.c). arch_reboot tries the ACPI reset register (when
 * the FADT says it is supported), then the keyboard controller's reset line, then
 * a triple fault, each in turn. arch_power_off enters ACPI S5 (soft-off); it
 * returns false, after printing why, when the firmware describes no way to do so
 * or the machine is still running a moment later.
 */
__attribute__((noreturn)) void arch_reboot(void);
bool arch_power_off(void);

/* CPUs online (1 until other CPUs are started). */
unsigned arch_cpu_count(void);
/* Starts the other CPUs the ACPI MADT lists, up to max_cpus in all (0: no
 * limit), one by one: each gets its descriptor tables, per-CPU area, MMU
 * features, local APIC and a kernel stack, then runs ap_main(index) with
 * interrupts off (ap_main never returns). Returns the CPUs online. */
unsigned arch_smp_start(unsigned max_cpus, void (*ap_main)(unsigned cpu));
/* For tests (the command line's late_cpu=): CPU index `cpu` (>= 1) will arrive
 * twice as late as arch_smp_start waits for it, so that the give-up path runs
 * deterministically. Call before arch_smp_start. */
void arch_smp_make_cpu_late(unsigned cpu);
/* CPUs arch_smp_start gave up on (did not arrive in time; parked). */
unsigned arch_cpus_given_up(void);
/* Stops every other CPU (NMI), for panic: the first caller only. Returns how
 * many stopped (waiting briefly for each to answer). */
unsigned arch_stop_other_cpus(void);
enum arch_ipi {
    ARCH_IPI_RESCHEDULE,    /* runs the handler set by arch_set_reschedule_handler */
    ARCH_IPI_TLB_SHOOTDOWN, /* sent by the paging code's invalidation (not by hand) */
    ARCH_IPI_KINDS,
};
/* Sends a reschedule IPI (the only kind sent by name). */
void arch_send_ipi(unsigned cpu, enum arch_ipi kind);
void arch_set_reschedule_handler(void (*handler)(void));
/* How many IPIs of a kind CPU `cpu` has handled since boot (for tests and the
 * shell; a TLB shootdown answered while spinning counts too). */
uint64_t arch_ipi_count(unsigned cpu, enum arch_ipi kind);

/* Processors the firmware lists (the MADT), usable or not by this kernel; 1
 * when there is no MADT. The smp= limit and ARCH_MAX_CPUS cut the CPUs online. */
unsigned arch_cpus_listed(void);
/* The interrupt controller's ID of the calling CPU, read from the hardware, and
 * the one recorded for CPU index `cpu` when it was started. */
uint32_t arch_cpu_hw_id(void);
uint32_t arch_cpu_hw_id_of(unsigned cpu);

/* The exception's name ("page fault"), or "unknown". */
const char *arch_exception_name(unsigned vector);

#endif
