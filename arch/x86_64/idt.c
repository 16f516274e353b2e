#include "idt.h"

#include <stdbool.h>

#include "arch/cpu.h"
#include "arch/fault.h"
#include "arch/irq.h"
#include "apic.h"
#include "cpu.h"
#include "gdt.h"
#include "base/panic.h"
#include "lib/printf.h"
#include "mm/kstack.h"
#include "user_entry.h"

#define IDT_VECTORS 256
#define ISR_STUB_SIZE 16 /* isr.S lays its stubs out this far apart */
#define GATE_INTERRUPT 0xe
#define GATE_PRESENT 0x80

struct idt_gate {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attributes;
    uint16_t offset_mid;
    uint32_t offset_high;
    uint32_t reserved;
} __attribute__((packed));

/* Written once by idt_init_this_cpu on the boot CPU; shared read-only by all CPUs. */
static struct idt_gate idt[IDT_VECTORS] __attribute__((aligned(16)));

extern char isr_stubs[];

static const char *const exception_names[EXCEPTION_COUNT] = {
    [0] = "divide error",
    [1] = "debug",
    [2] = "non-maskable interrupt",
    [3] = "breakpoint",
    [4] = "overflow",
    [5] = "bound range exceeded",
    [6] = "invalid opcode",
    [7] = "device not available",
    [8] = "double fault",
    [9] = "coprocessor segment overrun",
    [10] = "invalid TSS",
    [11] = "segment not present",
    [12] = "stack-segment fault",
    [13] = "general protection fault",
    [14] = "page fault",
    [16] = "x87 floating-point error",
    [17] = "alignment check",
    [18] = "machine check",
    [19] = "SIMD floating-point error",
    [20] = "virtualization exception",
    [21] = "control protection exception",
    [28] = "hypervisor injection exception",
    [29] = "VMM communication exception",
    [30] = "security exception",
};

const char *arch_exception_name(unsigned vector)
{
    if (vector < EXCEPTION_COUNT && exception_names[vector])
        return exception_names[vector];
    return "unknown";
}

#define GATE_DPL3 0x60 /* ring 3 may raise it with an int instruction */

static void set_gate(unsigned vector, uint8_t ist)
{
    uint64_t handler = (uint64_t)(isr_stubs + vector * ISR_STUB_SIZE);
    idt[vector] = (struct idt_gate){
        .offset_low = handler & 0xffff,
        .selector = GDT_KERNEL_CODE,
        .ist = ist,
        .type_attributes = GATE_PRESENT | GATE_INTERRUPT,
        .offset_mid = (handler >> 16) & 0xffff,
        .offset_high = handler >> 32,
    };
}

void idt_load_this_cpu(void)
{
    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) idtr = {sizeof(idt) - 1, (uint64_t)idt};
    __asm__ volatile("lidt %0" : : "m"(idtr));
}

void idt_init_this_cpu(void)
{
    for (unsigned v = 0; v < IDT_VECTORS; v++)
        set_gate(v, 0);
    set_gate(VECTOR_DOUBLE_FAULT, IST_DOUBLE_FAULT);
    set_gate(2, IST_NMI);
    set_gate(18, IST_MACHINE_CHECK);
    set_gate(1, IST_DEBUG);
    idt[3].type_attributes |= GATE_DPL3; /* int3 from ring 3 is a breakpoint, not a #GP */
    idt_load_this_cpu();
}

/*
 * Fault catching (arch_call_catching_fault). One catcher per CPU, touched only
 * by its CPU; the guarded function runs with interrupts off, so its thread can
 * neither be preempted nor move to another CPU meanwhile. `armed` is set only
 * while the guarded function runs.
 */
struct fault_jump_state {
    uint64_t rbx, rbp, r12, r13, r14, r15, rsp, rip;
};

int fault_setjmp(struct fault_jump_state *state) __attribute__((returns_twice));
void fault_longjmp(struct fault_jump_state *state, int value) __attribute__((noreturn));

static struct {
    volatile bool armed;
    struct fault_info *out;
    struct fault_jump_state resume;
} catchers[ARCH_MAX_CPUS];

bool arch_call_catching_fault(void (*fn)(void *arg), void *arg, struct fault_info *out)
{
    bool irq = arch_irq_save_disable();
    /* volatile: read again after fault_setjmp returns a second time. */
    volatile bool restore_irq = irq;
    __typeof__(&catchers[0]) catcher = &catchers[arch_cpu_index()];
    if (catcher->armed)
        panic("arch_call_catching_fault: nested call from %p", __builtin_return_address(0));
    catcher->out = out;
    if (fault_setjmp(&catcher->resume) != 0) {
        arch_irq_restore(restore_irq);
        return true; /* came back through fault_longjmp; the handler disarmed */
    }
    catcher->armed = true;
    fn(arg);
    catcher->armed = false;
    arch_irq_restore(irq);
    return false;
}

/* Turns the interrupted context into a call of fault_longjmp(&resume, 1). */
static bool try_catch_fault(struct interrupt_frame *frame)
{
    __typeof__(&catchers[0]) catcher = &catchers[arch_cpu_index()];
    if (!catcher->armed)
        return false;
    catcher->armed = false;
    *catcher->out = (struct fault_info){
        .vector = (unsigned)frame->vector,
        .error_code = frame->error_code,
        .fault_addr = frame->vector == VECTOR_PAGE_FAULT ? read_cr2() : 0,
        .ip = frame->rip,
    };
    frame->rip = (uint64_t)fault_longjmp;
    frame->rdi = (uint64_t)&catcher->resume;
    frame->rsi = 1;
    return true;
}

static void print_register_row(const char *n1, uint64_t v1, const char *n2, uint64_t v2,
                               const char *n3, uint64_t v3)
{
    kprintf("  %-3s %016lx  %-3s %016lx  %-3s %016lx\n", n1, v1, n2, v2, n3, v3);
}

__attribute__((noreturn)) static void exception_panic(struct interrupt_frame *frame)
{
    unsigned vector = (unsigned)frame->vector;
    panic_begin();
    kprintf("PANIC: %s (vector %u), error code 0x%lx\n", arch_exception_name(vector), vector,
            frame->error_code);
    kprintf("  RIP ");
    panic_print_symbol(frame->rip);
    kprintf("\n");
    panic_print_context();
    if (vector == VECTOR_PAGE_FAULT) {
        uint64_t code = frame->error_code;
        kprintf("  CR2 %016lx (%s, %s, %s%s)\n", read_cr2(),
                code & PF_ERROR_PRESENT ? "protection violation" : "page not present",
                code & PF_ERROR_WRITE ? "write" : "read", code & PF_ERROR_USER ? "user" : "kernel",
                code & PF_ERROR_FETCH ? ", instruction fetch" : "");
    }
    /* A fault in a guard page (a #PF, or the #DF it becomes when the CPU cannot
     * push the #PF's frame on the overflowed stack) is a stack overflow. The check
     * reads the page tables without their lock: this CPU is about to stop. */
    if ((vector == VECTOR_PAGE_FAULT || vector == VECTOR_DOUBLE_FAULT) &&
        kstack_is_guard(read_cr2())) {
        kprintf("  kernel stack overflow: CR2=0x%lx is in the guard page below a kernel stack\n",
                read_cr2());
    }
    print_register_row("RAX", frame->rax, "RBX", frame->rbx, "RCX", frame->rcx);
    print_register_row("RDX", frame->rdx, "RSI", frame->rsi, "RDI", frame->rdi);
    print_register_row("RBP", frame->rbp, "RSP", frame->rsp, "R8", frame->r8);
    print_register_row("R9", frame->r9, "R10", frame->r10, "R11", frame->r11);
    print_register_row("R12", frame->r12, "R13", frame->r13, "R14", frame->r14);
    print_register_row("R15", frame->r15, "CS", frame->cs, "SS", frame->ss);
    print_register_row("RFL", frame->rflags, "CR0", read_cr0(), "CR3", read_cr3());
    kprintf("  CR4 %016lx\n", read_cr4());
    panic_backtrace_from(frame->rip, frame->rbp);
    panic_end();
}

bool arch_fault_is_page_fault(const struct fault_info *fault, enum fault_access *access,
                              bool *was_present)
{
    if (fault->vector != VECTOR_PAGE_FAULT)
        return false;
    *access = fault->error_code & PF_ERROR_FETCH   ? FAULT_ACCESS_EXEC
              : fault->error_code & PF_ERROR_WRITE ? FAULT_ACCESS_WRITE
                                                   : FAULT_ACCESS_READ;
    *was_present = (fault->error_code & PF_ERROR_PRESENT) != 0;
    return true;
}

/* Exceptions that say something about the interrupted code, not the machine. */
static bool is_program_exception(uint64_t vector)
{
    return vector < EXCEPTION_COUNT && vector != VECTOR_NMI && vector != VECTOR_DOUBLE_FAULT &&
           vector != VECTOR_MACHINE_CHECK;
}

void isr_dispatch(struct interrupt_frame *frame)
{
    if (frame->vector == VECTOR_NMI && smp_stop_requested())
        smp_stop_this_cpu(); /* another CPU panicked: stop here, quietly */
    bool from_user = (frame->cs & 3) != 0;
    if (from_user && is_program_exception(frame->vector)) {
        user_exception(frame); /* the process's fault, not the kernel's */
        user_return_check(frame);
        return;
    }
    if (frame->vector < EXCEPTION_COUNT) {
        if (frame->vector == VECTOR_PAGE_FAULT && uaccess_fixup(frame))
            return;
        if (try_catch_fault(frame))
            return;
        exception_panic(frame);
    }
    if (apic_dispatch((unsigned)frame->vector)) {
        if (from_user)
            user_return_check(frame);
        return;
    }
    panic("unexpected interrupt, vector %lu", frame->vector);
}
