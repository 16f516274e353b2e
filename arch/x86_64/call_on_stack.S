/*
 * void arch_call_on_stack(void (*fn)(void *arg), void *arg, uintptr_t stack_top)
 *
 * Calls fn(arg) with rsp = stack_top, then returns on the caller's stack.
 * In: rdi = fn, rsi = arg, rdx = stack_top (16-byte aligned).
 * The caller's rsp is kept in rbp, which fn preserves (callee-saved); rbp also
 * chains fn's frame back to ours, so a backtrace from fn crosses the switch.
 */
    .text
    .globl arch_call_on_stack
    .type arch_call_on_stack, @function
arch_call_on_stack:
    push %rbp
    mov %rsp, %rbp          /* frame pointer, and the way back */
    mov %rdx, %rsp          /* the other stack; `call` leaves rsp = 8 mod 16 in fn */
    mov %rdi, %rax
    mov %rsi, %rdi          /* fn's argument */
    call *%rax
    mov %rbp, %rsp          /* back to the caller's stack */
    pop %rbp
    ret
    .size arch_call_on_stack, . - arch_call_on_stack

    .section .note.GNU-stack, "", @progbits
