/*
 * Thread switching (include/arch/context.h: arch_context_switch, arch_thread_stack_init).
 *
 * arch_context_switch (machine/context.h) is an inline asm statement that calls
 * arch_context_switch_bare below and tells the compiler that every general
 * register but rsp and rbp is clobbered. So the compiler itself saves whatever
 * callee-saved registers the calling function uses, once, in that function's
 * prologue (it would save them anyway, to use them), and keeps no value in a
 * register across the switch; the switch saves only rbp (the frame pointer,
 * which the compiler does not let an asm statement clobber) and the stack
 * pointer. A thread that is not running keeps, from its saved stack pointer
 * upwards:
 *
 *      saved_sp ->  rbp
 *                   return address  (into the caller's asm statement, or
 *                                    arch_thread_trampoline for a new thread)
 *
 * and above that, for a thread that never ran, the trampoline's four words
 * (begin, entry, arg, end: arch_thread_stack_init). RFLAGS is not saved: the
 * scheduler always switches with interrupts disabled. No FPU/SSE state: the
 * kernel is compiled for general registers only.
 */
    .text

/*
 * arch_context_switch_bare
 * In: rdi = where to store the outgoing thread's stack pointer,
 *     rsi = the incoming thread's saved stack pointer,
 *     rdx = a byte to clear once the outgoing thread is saved (x86 stores are
 *           released in order: whoever sees it clear sees the saved stack).
 * Clobbers every register but rsp and rbp (the caller's asm statement says so).
 * Returns on the incoming thread's stack, into whatever that thread was doing.
 */
    .globl arch_context_switch_bare
    .type arch_context_switch_bare, @function
arch_context_switch_bare:
    push %rbp
    mov %rsp, (%rdi)        /* the outgoing thread is now wholly described by its stack */
    movb $0, (%rdx)         /* which it may run on elsewhere: we no longer touch it */
    mov %rsi, %rsp          /* from here on we run on the incoming thread's stack */
    pop %rbp
    ret
    .size arch_context_switch_bare, . - arch_context_switch_bare

/*
 * Where a new thread's first switch "returns" to, with rsp at the four words
 * arch_thread_stack_init left: begin, entry, arg, end. They go into callee-saved
 * registers (r12 = entry, r13 = arg, r15 = end survive the calls). Runs begin(),
 * entry(arg), end() with a 16-byte aligned stack and rbp = 0, which ends
 * backtraces here. end must not return.
 */
    .globl arch_thread_trampoline
    .type arch_thread_trampoline, @function
arch_thread_trampoline:
    pop %r14                /* begin */
    pop %r12                /* entry */
    pop %r13                /* arg */
    pop %r15                /* end */
    xor %ebp, %ebp
    and $-16, %rsp          /* the ABI wants rsp = 0 mod 16 at each call */
    call *%r14              /* begin: the scheduler finishes the switch */
    mov %r13, %rdi
    call *%r12              /* entry(arg): the thread's work */
    call *%r15              /* end: the thread exits */
    ud2                     /* end returned: a bug, caught as #UD */
    .size arch_thread_trampoline, . - arch_thread_trampoline

/*
 * arch_context_load
 * In: rdi = the incoming thread's saved stack pointer,
 *     rsi = a byte to clear once off the outgoing stack (the outgoing thread's
 *           on_cpu: it keeps nothing on its stack, which is free from then on).
 * The switch of a thread that parks (arch_park_init): nothing of the outgoing
 * thread is saved. Never returns; resumes the incoming thread as
 * arch_context_switch_bare would.
 */
    .globl arch_context_load
    .type arch_context_load, @function
arch_context_load:
    mov %rdi, %rsp          /* from here on we run on the incoming thread's stack */
    movb $0, (%rsi)
    pop %rbp
    ret
    .size arch_context_load, . - arch_context_load

/*
 * Where a parked thread's next switch "returns" to (arch_park_init), with rsp
 * at the words it left: begin, entry, arg, stack. They are not on the thread's
 * stack (which was in use until the thread switched away), so the last one is
 * the stack to run on: the thread's kernel stack below its user frame. Then as
 * arch_thread_trampoline: begin(), entry(arg), which must not return.
 */
    .globl arch_park_trampoline
    .type arch_park_trampoline, @function
arch_park_trampoline:
    pop %r14                /* begin */
    pop %r12                /* entry */
    pop %r13                /* arg */
    pop %rsp                /* the thread's own stack */
    xor %ebp, %ebp
    and $-16, %rsp
    call *%r14              /* begin: the scheduler finishes the switch */
    mov %r13, %rdi
    call *%r12              /* entry(arg): never returns */
    ud2
    .size arch_park_trampoline, . - arch_park_trampoline

    .section .note.GNU-stack, "", @progbits
