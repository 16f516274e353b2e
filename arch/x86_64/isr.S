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
    jmp isr_common
    .set vec, vec + 1
    .endr

isr_common:
    cld
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, %rdi
    /* Make the interrupted frame the parent of isr_dispatch's in backtraces. */
    movq 64(%rsp), %rbp
    call isr_dispatch
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp              /* vector and error code */
    iretq

    .section .note.GNU-stack, "", @progbits
