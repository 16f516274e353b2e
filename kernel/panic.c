#include "base/panic.h"

#include <stdarg.h>

#include "arch/cpu.h"
#include "arch/fault.h"
#include "arch/irq.h"
#include "arch/platform.h"
#include "arch/smp.h"
#include "kernel/console.h"
#include "kernel/fbcon.h"
#include "sched/thread.h"
#include "lib/ksyms.h"
#include "lib/printf.h"

#define BACKTRACE_MAX_FRAMES 32

/* Set once at boot by kernel_main before anything can panic in test mode. */
static bool exit_vm_on_panic;
/* Set by the first panic; a second panic (say, a fault while printing) sees it. */
static volatile bool panicking;

void panic_set_test_mode(bool exit_vm)
{
    exit_vm_on_panic = exit_vm;
}

void panic_begin(void)
{
    arch_irq_save_disable();
    if (panicking) {
        kprintf("\nPANIC: nested panic; halting\n");
        if (exit_vm_on_panic)
            arch_debug_exit(false);
        arch_halt_forever();
    }
    panicking = true;
    unsigned others = arch_cpu_count() - 1;
    unsigned stopped = arch_stop_other_cpus();
    console_panic_takeover();
    fbcon_set_colour(FBCON_COLOUR_RED);
    if (others)
        kprintf("panic: stopped %u of %u other CPUs\n", stopped, others);
}

void panic_print_context(void)
{
    struct thread *t = thread_current();
    if (t)
        kprintf("  on cpu %u, thread %u '%s'\n", arch_cpu_index(), t->id, t->name);
    else
        kprintf("  on cpu %u, before the scheduler started\n", arch_cpu_index());
}

void panic_print_symbol(uint64_t addr)
{
    uint64_t offset;
    const char *name = ksym_lookup(addr, &offset);
    if (name)
        kprintf("0x%016lx <%s+0x%lx>", addr, name, offset);
    else
        kprintf("0x%016lx <?>", addr);
}

static void print_frame(void *ctx, uint64_t return_address)
{
    int *depth = ctx;
    kprintf("  [%d] ", (*depth)++);
    /* A return address points after the call: name the call's own function. */
    panic_print_symbol(return_address - 1);
    kprintf("\n");
}

void panic_backtrace_from(uint64_t ip, uint64_t frame_pointer)
{
    int depth = 0;
    kprintf("backtrace:\n");
    kprintf("  [%d] ", depth++);
    panic_print_symbol(ip);
    kprintf("\n");
    arch_backtrace(frame_pointer, BACKTRACE_MAX_FRAMES, print_frame, &depth);
}

void panic_end(void)
{
    kprintf("cpu %u stopped\n", arch_cpu_index());
    if (exit_vm_on_panic)
        arch_debug_exit(false);
    arch_halt_forever();
}

void panic(const char *fmt, ...)
{
    va_list args;
    panic_begin();
    kprintf("PANIC: ");
    va_start(args, fmt);
    kvprintf(fmt, args);
    va_end(args);
    kprintf("\n");
    panic_print_context();
    /* Start at our caller: its call site, then the frames above it. */
    const uint64_t *own_frame = __builtin_frame_address(0);
    panic_backtrace_from((uint64_t)__builtin_return_address(0), own_frame[0]);
    panic_end();
}
