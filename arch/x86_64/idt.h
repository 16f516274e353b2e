/*
 * The interrupt descriptor table and the C side of interrupt entry.
 * isr.S documents how struct interrupt_frame is laid out on the stack.
 */
#ifndef EXO_ARCH_X86_64_IDT_H
#define EXO_ARCH_X86_64_IDT_H

#include <stdint.h>

struct interrupt_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector;
    uint64_t error_code;
    uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};

#define EXCEPTION_COUNT 32
#define VECTOR_PAGE_FAULT 14
#define VECTOR_DOUBLE_FAULT 8
#define VECTOR_NMI 2
#define VECTOR_MACHINE_CHECK 18

/* Page-fault error code bits (Intel SDM vol. 3, 4.7). */
#define PF_ERROR_PRESENT (1u << 0) /* 0: the page was not present */
#define PF_ERROR_WRITE (1u << 1)
#define PF_ERROR_USER (1u << 2)
#define PF_ERROR_FETCH (1u << 4) /* an instruction fetch (with NX) */

/* Fills the IDT (all 256 vectors) and loads it on the calling CPU. */
void idt_init_this_cpu(void);

/* Called by isr.S for every interrupt and exception. */
void isr_dispatch(struct interrupt_frame *frame);
/* Loads the (shared, already built) IDT on another CPU. */
void idt_load_this_cpu(void);

#endif
