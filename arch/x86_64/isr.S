/*
 * Interrupt entry stubs and the common path into C.
 *
 * There are 256 stubs, each ISR_STUB_SIZE bytes apart starting at isr_stubs, so
 * that idt.c computes a vector's stub address instead of reading a table. Each stub
 * makes the stack look the same whatever the vector: the CPU pushes an error code
 * for some exceptions only, so the others push a 0 in its place. Then it pushes
 * its vector number and joins isr_common.
 *
 * isr_common saves every general register, calls isr_dispatch(frame) and returns
 * with iretq. The frame it passes (struct interrupt_frame in idt.h), from the
 * lowest address up:
 *
 *     rsp+0    r15 r14 r13 r12 r11 r10 r9 r8     saved by isr_common
 *     rsp+64   rbp rdi rsi rdx rcx rbx rax
 *     rsp+120  vector
 *     rsp+128  error code (or 0)                 stub, or the CPU
 *     rsp+136  rip cs rflags rsp ss              pushed by the CPU
 *
 * The CPU aligns the stack to 16 bytes before pushing its 5 words; 2 more from the
 * stub and 15 registers make 22 words, so the call into C is 16-byte aligned as the
 * ABI wants. isr_dispatch may change the saved registers (the fault-catching path
 * rewrites rip, rdi and rsi).
 *
 * GS. In ring 3 the GS base is the user's; the kernel's (this CPU's area) waits
 * in KERNEL_GS_BASE. isr_common swaps them when the interrupted context was ring 3
 * (the saved CS says so) and swaps back before iretq to ring 3. That is not safe
 * for NMI, #MC, #DB and #DF, which can arrive anywhere, even between a swapgs and
 * the sysretq after it (ring 0 with the user's GS base): their stubs go to
 * isr_paranoid instead, which reads the GS base itself (a kernel address has bit
 * 63 set; arch_prctl never gives the user one) and swaps only if it must. They
 * also run on IST stacks, so they never stand on a user stack.
 *
 * SMAP: an interrupt inside a user copy would inherit AC=1 (user memory open);
 * both paths clear it (clac) and iretq restores the interrupted flags.
 */
    .set ISR_STUB_SIZE, 16
    .section .text
    .globl isr_stubs
    .balign ISR_STUB_SIZE
isr_stubs:
    .set vec, 0
    .rept 256
    .balign ISR_STUB_SIZE
    /* Exceptions with a CPU-pushed error code: #DF #TS #NP #SS #GP #PF #AC #CP #VC #SX */
    .if (vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || (vec == 13) || (vec == 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    .else
    pushq $0
    .endif
    pushq $vec
    /* #DB NMI #DF #MC: the GS base cannot be judged from CS (see above). */
    .if (vec == 1) || (vec == 2) || (vec == 8) || (vec == 18)
    jmp isr_paranoid
    .else
    jmp isr_common
    .endif
    .set vec, vec + 1
    .endr

#include "entry_macros.inc"

isr_common:
    cld
    testb $3, 24(%rsp)          /* saved CS (rsp+0 vector, +8 error, +16 rip) */
    jz 1f
    swapgs                      /* from ring 3 */
1:
    CLAC_IF_SMAP
    PUSH_GENERAL_REGISTERS
    movq %rsp, %rdi
    /* Make the interrupted frame the parent of isr_dispatch's in backtraces. */
    movq 64(%rsp), %rbp
    call isr_dispatch
    POP_GENERAL_REGISTERS
    addq $16, %rsp              /* vector and error code */
    testb $3, 8(%rsp)           /* the CS we return to */
    jz 2f
    swapgs
2:
    iretq

/* The same for #DB, NMI, #DF, #MC; ebx remembers whether it swapped (callee-saved,
 * so it survives isr_dispatch; the interrupted rbx is restored from the frame). */
isr_paranoid:
    cld
    PUSH_GENERAL_REGISTERS
    CLAC_IF_SMAP
    movl $0xc0000101, %ecx      /* MSR_GS_BASE */
    rdmsr
    xorl %ebx, %ebx
    testl %edx, %edx
    js 1f                       /* a kernel address: GS is the kernel's already */
    swapgs
    movl $1, %ebx
1:
    movq %rsp, %rdi
    movq 64(%rsp), %rbp
    call isr_dispatch
    testl %ebx, %ebx
    jz 2f
    swapgs
2:
    POP_GENERAL_REGISTERS
    addq $16, %rsp
    iretq

    .section .note.GNU-stack, "", @progbits
