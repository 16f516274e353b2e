/* The arch-internal side of include/arch/user.h (user.c), for idt.c and syscall.S. */
#ifndef EXO_ARCH_X86_64_USER_ENTRY_H
#define EXO_ARCH_X86_64_USER_ENTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "idt.h"

/* SYSCALL MSRs, FPU/SSE/XSAVE enabling, on the calling CPU (each CPU, once). */
void user_cpu_init(void);
/* An exception raised in ring 3 (not NMI, #DF, #MC): demand paging, or the
 * fault hook. */
void user_exception(struct interrupt_frame *frame);
/* Before returning to ring 3 from an interrupt: the thread's pending work. */
void user_return_check(struct interrupt_frame *frame);
/* A kernel page fault at a listed user-copy instruction: demand paging, else
 * resume at its fixup. False when rip is not a user copy. */
bool uaccess_fixup(struct interrupt_frame *frame);

/* The calling thread's live FPU/SIMD registers to and from an area of
 * arch_fpu_state_bytes() (interrupts off), and what the area's format is:
 * XSAVE with the components of xcr0, or FXSAVE's 512 bytes. */
void user_fpu_save(void *fpu);
void user_fpu_restore(const void *fpu);
bool user_fpu_has_xsave(void);
uint64_t user_fpu_xcr0(void);
uint32_t user_fpu_mxcsr_mask(void);

#endif
