/*
 * arch_call_keeping_thunk (machine/cpu.h: arch_call_keeping, from inline asm)
 *
 * In: rdi = arg, rsi = fn (long fn(void *arg)). Out: rax = fn(arg); every other
 * register as it was (flags aside). The inline asm that calls it tells the
 * compiler so, which is the point: its caller needs no callee-saved register
 * for values that live across it. The caller's rsp may have any 8-byte
 * alignment here (a call from inline asm), so the thunk aligns it for fn.
 */
    .text
    .globl arch_call_keeping_thunk
    .type arch_call_keeping_thunk, @function
arch_call_keeping_thunk:
    push %rbp
    mov %rsp, %rbp          /* frame pointer (backtraces), and the way back */
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %r8
    push %r9
    push %r10
    push %r11
    and $-16, %rsp
    call *%rsi
    lea -64(%rbp), %rsp
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbp
    ret
    .size arch_call_keeping_thunk, . - arch_call_keeping_thunk

/* arch_cpu_relax (machine/cpu.h): arch_cpu_relax_call(NULL) through the thunk
 * above, rax, rsi and rdi kept as well. */
    .globl arch_cpu_relax_thunk
    .type arch_cpu_relax_thunk, @function
arch_cpu_relax_thunk:
    push %rax
    push %rsi
    push %rdi
    xor %edi, %edi
    mov $arch_cpu_relax_call, %rsi
    call arch_call_keeping_thunk
    pop %rdi
    pop %rsi
    pop %rax
    ret
    .size arch_cpu_relax_thunk, . - arch_cpu_relax_thunk

    .section .note.GNU-stack, "", @progbits
