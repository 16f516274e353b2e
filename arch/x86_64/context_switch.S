/*
 * Thread switching (include/arch/context.h: arch_context_switch, arch_thread_stack_init).
 *
 * A thread that is not running keeps its callee-saved registers on its own
 * stack, and the stack pointer in its thread control block. The saved frame,
 * from the saved stack pointer upwards:
 *
 *      saved_sp ->  r15
 *                   r14
 *                   r13
 *                   r12
 *                   rbx
 *                   rbp
 *                   return address  (into the caller of arch_context_switch, or
 *                                    arch_thread_trampoline for a new thread)
 *
 * The caller-saved registers need no saving: arch_context_switch is an ordinary
 * call, so the compiler already assumes they are clobbered. RFLAGS is not saved:
 * the scheduler always switches with interrupts disabled. No FPU/SSE state: the
 * kernel is compiled for general registers only.
 */
    .text

/*
 * void arch_context_switch(uint64_t *save_sp, uint64_t load_sp)
 * In: rdi = where to store the outgoing thread's stack pointer,
 *     rsi = the incoming thread's saved stack pointer.
 * Returns on the incoming thread's stack, into whatever that thread was doing.
 */
    .globl arch_context_switch
    .type arch_context_switch, @function
arch_context_switch:
    push %rbp
    push %rbx
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, (%rdi)        /* the outgoing thread is now wholly described by its stack */
    mov %rsi, %rsp          /* from here on we run on the incoming thread's stack */
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbx
    pop %rbp
    ret
    .size arch_context_switch, . - arch_context_switch

/*
 * Where a new thread's first switch "returns" to. arch_thread_stack_init left
 * r12 = entry, r13 = arg, r14 = begin, r15 = end (callee-saved, so they survive
 * the calls). Runs begin(), entry(arg), end() with a 16-byte aligned stack and
 * rbp = 0, which ends backtraces here. end must not return.
 */
    .globl arch_thread_trampoline
    .type arch_thread_trampoline, @function
arch_thread_trampoline:
    xor %ebp, %ebp
    and $-16, %rsp          /* the ABI wants rsp = 0 mod 16 at each call */
    call *%r14              /* begin: the scheduler finishes the switch */
    mov %r13, %rdi
    call *%r12              /* entry(arg): the thread's work */
    call *%r15              /* end: the thread exits */
    ud2                     /* end returned: a bug, caught as #UD */
    .size arch_thread_trampoline, . - arch_thread_trampoline

    .section .note.GNU-stack, "", @progbits
