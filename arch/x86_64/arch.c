/* The arch_* functions of include/arch/ that need no subsystem of their own. */
#include "arch/context.h"
#include "arch/cpu.h"
#include "arch/fault.h"
#include "arch/irq.h"
#include "arch/mmu.h"
#include "arch/platform.h"
#include "arch/time.h"

#include "base/panic.h"

#include "apic.h"
#include "cpu.h"
#include "kernel/console.h"
#include "serial.h"
#include "gdt.h"
#include "idt.h"
#include "layout.h"
#include "pcid.h"
#include "percpu.h"
#include "user_entry.h"
#include "mm/paging.h"

#define QEMU_DEBUG_EXIT_PORT 0xf4
#define QEMU_DEBUG_EXIT_PASS 0x10 /* QEMU exits with (value << 1) | 1 = 33 */
#define QEMU_DEBUG_EXIT_FAIL 0x11 /* ... = 35 */
#define BACKTRACE_MIN_ADDR KERNEL_VMA

/* Each CPU's GS base points at its area (arch/x86_64/percpu.h). Only its own
 * CPU reads it; the boot CPU's is set first thing, before anything asks
 * arch_cpu_index (the console lock does). */
static struct cpu_area cpu_areas[ARCH_MAX_CPUS];

void percpu_init_this_cpu(unsigned cpu)
{
    cpu_areas[cpu].self = &cpu_areas[cpu];
    cpu_areas[cpu].index = cpu;
    cpu_areas[cpu].pcid = &pcid_cpus[cpu];
    wrmsr(MSR_GS_BASE, (uint64_t)&cpu_areas[cpu]);
}

void arch_cpu_set_slot(unsigned cpu, unsigned slot, void *value)
{
    KASSERT(cpu < ARCH_MAX_CPUS && slot < ARCH_CPU_SLOTS);
    __atomic_store_n(&cpu_areas[cpu].slots[slot], value, __ATOMIC_RELEASE);
}

bool arch_early_console_init(void)
{
    percpu_init_this_cpu(0);
    if (!serial_init())
        return false;
    return console_register(serial_write) == 0;
}

void arch_cpu_init(void)
{
    gdt_init_this_cpu(NULL);
    idt_init_this_cpu();
    user_cpu_init();
}

long arch_cpu_relax_call(void *unused)
{
    (void)unused;
    __asm__ volatile("pause");
    /* Spinners answer TLB shootdowns even with interrupts off (smp.c). */
    smp_service_shootdown();
    return 0;
}

void arch_halt_forever(void)
{
    for (;;) {
        cli();
        hlt();
    }
}

uint64_t arch_read_timestamp_before(void)
{
    uint32_t low, high;
    /* The first lfence waits for the code before; the second keeps the timed
     * code from starting before the counter is read. */
    __asm__ volatile("lfence; rdtsc; lfence" : "=a"(low), "=d"(high) : : "memory");
    return ((uint64_t)high << 32) | low;
}

#define CPUID_EXT1_EDX_RDTSCP (1u << 27)

/* 1 when the CPU has rdtscp, 2 when not, 0 until asked (any CPU may set it: all
 * CPUs agree, so a race writes the same value). */
static int rdtscp_support;

static bool has_rdtscp(void)
{
    int known = __atomic_load_n(&rdtscp_support, __ATOMIC_RELAXED);
    if (!known) {
        uint32_t max_ext, eax, ebx, ecx, edx = 0;
        cpuid(0x80000000u, 0, &max_ext, &ebx, &ecx, &edx);
        edx = 0;
        if (max_ext >= 0x80000001u)
            cpuid(0x80000001u, 0, &eax, &ebx, &ecx, &edx);
        known = (edx & CPUID_EXT1_EDX_RDTSCP) ? 1 : 2;
        __atomic_store_n(&rdtscp_support, known, __ATOMIC_RELAXED);
    }
    return known == 1;
}

uint64_t arch_read_timestamp_after(void)
{
    uint32_t low, high, aux;
    /* rdtscp waits until every earlier instruction has executed; the lfence
     * keeps later ones from starting before it. Without rdtscp, an lfence first
     * does the waiting. */
    if (has_rdtscp())
        __asm__ volatile("rdtscp; lfence" : "=a"(low), "=d"(high), "=c"(aux) : : "memory");
    else
        __asm__ volatile("lfence; rdtsc; lfence" : "=a"(low), "=d"(high) : : "memory");
    return ((uint64_t)high << 32) | low;
}

void arch_debug_exit(bool success)
{
    outl(QEMU_DEBUG_EXIT_PORT, success ? QEMU_DEBUG_EXIT_PASS : QEMU_DEBUG_EXIT_FAIL);
    /* Under TCG the exit happens a little later: wait for it here. */
    arch_halt_forever();
}

const struct arch_va_layout arch_va_layout = {
    .direct_map = {DIRECT_MAP_BASE, DIRECT_MAP_END},
    .heap = {HEAP_BASE, HEAP_END},
    .stacks = {STACKS_BASE, STACKS_END},
    .devices = {DEVICES_BASE, DEVICES_END},
    .kernel_image = {KERNEL_VMA, KERNEL_END},
};

extern char __text_start[], __text_end[], __rodata_start[], __rodata_end[];
extern char __data_start[], __bss_end[];

const struct arch_image_section arch_image_sections[ARCH_IMAGE_SECTIONS] = {
    {(uintptr_t)__text_start, (uintptr_t)__text_end, PAGE_EXEC | PAGE_GLOBAL, "text"},
    {(uintptr_t)__rodata_start, (uintptr_t)__rodata_end, PAGE_GLOBAL, "rodata"},
    {(uintptr_t)__data_start, (uintptr_t)__bss_end, PAGE_WRITE | PAGE_GLOBAL, "data+bss"},
};

void *arch_phys_to_virt(uint64_t phys)
{
    return (void *)(DIRECT_MAP_BASE + phys);
}

/*
 * With frame pointers, each frame starts with the caller's saved rbp, then the
 * return address. The walk only follows pointers that go up the stack and stay in
 * the kernel's half, so a corrupt chain ends the walk instead of faulting.
 */
void arch_backtrace(uint64_t frame_pointer, int max_frames, arch_backtrace_fn visit, void *ctx)
{
    const uint64_t *frame =
        (const uint64_t *)(frame_pointer ? frame_pointer : read_frame_pointer());
    for (int i = 0; i < max_frames; i++) {
        uint64_t addr = (uint64_t)frame;
        if (addr < DIRECT_MAP_BASE || (addr & 7) != 0)
            return;
        uint64_t return_address = frame[1];
        if (return_address < BACKTRACE_MIN_ADDR)
            return;
        visit(ctx, return_address);
        const uint64_t *next = (const uint64_t *)frame[0];
        if (next <= frame)
            return;
        frame = next;
    }
}

void arch_thread_trampoline(void);
void arch_park_trampoline(void);

uint64_t arch_thread_stack_init(uintptr_t top, const struct arch_thread_start *start)
{
    /* The frame arch_context_switch_bare pops (context_switch.S): rbp, then the
     * return address; above it the trampoline's four words. Six words: the frame
     * stays 16-byte aligned below a 16-byte aligned top. */
    uint64_t *sp = (uint64_t *)top;
    *--sp = (uint64_t)start->end;
    *--sp = (uint64_t)start->arg;
    *--sp = (uint64_t)start->entry;
    *--sp = (uint64_t)start->begin;
    *--sp = (uint64_t)arch_thread_trampoline;
    *--sp = 0; /* rbp */
    return (uint64_t)sp;
}

uint64_t arch_park_init(uint64_t words[ARCH_PARK_WORDS], const struct arch_thread_start *start,
                        uintptr_t stack_top)
{
    /* What arch_context_load pops (rbp, the return address), then what
     * arch_park_trampoline pops (context_switch.S). */
    words[0] = 0;
    words[1] = (uint64_t)arch_park_trampoline;
    words[2] = (uint64_t)start->begin;
    words[3] = (uint64_t)start->entry;
    words[4] = (uint64_t)start->arg;
    words[5] = (uint64_t)stack_top;
    return (uint64_t)words;
}
