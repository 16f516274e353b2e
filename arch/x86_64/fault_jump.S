/*
 * fault_setjmp / fault_longjmp: the two halves of arch_call_catching_fault.
 *
 * struct fault_jump_state (idt.c) holds, in this order: rbx rbp r12 r13 r14 r15
 * rsp rip, 8 bytes each: the callee-saved registers plus where to resume.
 *
 * fault_setjmp(state)        rdi = state. Saves and returns 0.
 *                            Clobbers rax, rdx.
 * fault_longjmp(state, val)  rdi = state, esi = value (non-zero). Never returns:
 *                            reappears as fault_setjmp returning val. The
 *                            exception handler enters it by rewriting the
 *                            interrupted rip, rdi and rsi and doing iretq.
 */
    .section .text
    .globl fault_setjmp
fault_setjmp:
    movq %rbx, 0(%rdi)
    movq %rbp, 8(%rdi)
    movq %r12, 16(%rdi)
    movq %r13, 24(%rdi)
    movq %r14, 32(%rdi)
    movq %r15, 40(%rdi)
    leaq 8(%rsp), %rdx          /* the caller's rsp after our ret */
    movq %rdx, 48(%rdi)
    movq (%rsp), %rdx           /* our return address */
    movq %rdx, 56(%rdi)
    xorl %eax, %eax
    ret

    .globl fault_longjmp
fault_longjmp:
    movq 0(%rdi), %rbx
    movq 8(%rdi), %rbp
    movq 16(%rdi), %r12
    movq 24(%rdi), %r13
    movq 32(%rdi), %r14
    movq 40(%rdi), %r15
    movq 48(%rdi), %rsp
    movl %esi, %eax
    jmpq *56(%rdi)

    .section .note.GNU-stack, "", @progbits
