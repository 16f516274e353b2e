/*
 * Ring 3 <-> ring 0 for system calls (include/arch/user.h).
 *
 * The frame every way in builds at the top of the thread's kernel stack is
 * struct arch_regs (= struct interrupt_frame, isr.S draws it): 15 registers,
 * vector, error code, then rip cs rflags rsp ss. user.c checks each offset used
 * here with _Static_assert.
 *
 * SYSCALL fastpath. It checks, in order, and leaves for the general path on any
 * "no":
 *   1. the number, its low 32 bits as on Linux, is in the table (else the
 *      unknown-call function: -ENOSYS);
 *   2. the thread's work word is zero (no kill, signal or changed registers:
 *      those need the C return path and IRETQ);
 *   3. the return rip is canonical (SYSRET to a non-canonical rcx would fault
 *      in ring 0 on Intel CPUs with the user's rsp: the SYSRET hazard).
 * SYSRET restores rip from rcx and rflags from r11, which is why the frame's
 * rip and rflags are loaded into them; every other register is reloaded from the
 * frame, so a call may return values there (IPC does). Anything that changes rip,
 * rflags or the segments (exec, signals) sets the work word and so goes back by
 * IRETQ.
 */
    .set R15, 0
    .set R14, 8
    .set R13, 16
    .set R12, 24
    .set R11, 32
    .set R10, 40
    .set R9, 48
    .set R8, 56
    .set RBP, 64
    .set RDI, 72
    .set RSI, 80
    .set RDX, 88
    .set RCX, 96
    .set RBX, 104
    .set RAX, 112
    .set RIP, 136
    .set RFLAGS, 152
    .set RSP, 160
    .set FRAME_BYTES, 176

    /* struct cpu_area (percpu.h) */
    .set CPU_KERNEL_RSP, 16
    .set CPU_USER_RSP, 24
    .set CPU_USER_WORK, 32
    .set CPU_SWITCH_RELEASED, 120

    .set USER_CS, 0x23          /* GDT_USER_CODE | 3 */
    .set USER_SS, 0x1b          /* GDT_USER_DATA | 3 */
    .set VECTOR_SYSCALL, 0x100  /* ARCH_VECTOR_SYSCALL */

#include "entry_macros.inc"

    .text
/*
 * syscall_entry: the CPU comes here (LSTAR) on SYSCALL from ring 3 with
 *   rax = number; rdi rsi rdx r10 r8 r9 = arguments 1-6;
 *   rcx = the user rip to return to; r11 = the user rflags;
 *   rsp = the user stack; GS base = the user's; interrupts off (FMASK clears
 *   IF TF DF AC NT IOPL).
 * Returns to ring 3 with rax = the result, rcx = rip, r11 = rflags, every
 * other register as it was.
 */
    .globl syscall_entry
    .type syscall_entry, @function
syscall_entry:
    swapgs                              /* GS base: this CPU's area */
    movq %rsp, %gs:CPU_USER_RSP
    movq %gs:CPU_KERNEL_RSP, %rsp       /* the thread's kernel stack top */
    pushq $USER_SS
    pushq %gs:CPU_USER_RSP
    pushq %r11                          /* rflags */
    pushq $USER_CS
    pushq %rcx                          /* rip */
    pushq %rax                          /* error code slot: the number as called */
    pushq $VECTOR_SYSCALL
    PUSH_GENERAL_REGISTERS
    xorl %ebp, %ebp                     /* ends kernel backtraces here */
    sti
    movq %r10, %rcx                     /* 4th argument: the C ABI's rcx */
    movl %eax, %eax                     /* Linux reads the number as a 32-bit int */
    cmpq syscall_count(%rip), %rax
    jae .Lunknown
    sbbq %r11, %r11                     /* -1 here; 0 if the jae was mispredicted */
    andq %r11, %rax                     /* so a speculated index is 0, not rax */
    movq syscall_table(%rip), %r11
    call *(%r11,%rax,8)
/* rax = the result, rsp = the frame (arch_syscall_return comes here too). */
.Lresult:
    movq %rax, RAX(%rsp)
    cli
.Lresult_irqs_off:                      /* (arch_syscall_switch_return: rax stored) */
    movq %gs:CPU_USER_WORK, %rcx
    cmpl $0, (%rcx)
    jne .Lslow
    movq RIP(%rsp), %rcx
    movq %rcx, %r11
    shrq $47, %r11
    jnz .Lslow                          /* non-canonical (or kernel) rip */
    movq RFLAGS(%rsp), %r11
    /* Every register comes back from the frame: the frame is what the call
     * returns, and a call may return values in it (IPC's message words go out in
     * rbx, r12-r15 and r9). Only rip and rflags changing beyond rcx/r11's reach
     * (exec, signals) sets the work word and takes IRETQ. */
    movq R15(%rsp), %r15
    movq R14(%rsp), %r14
    movq R13(%rsp), %r13
    movq R12(%rsp), %r12
    movq RBX(%rsp), %rbx
    movq R10(%rsp), %r10
    movq R9(%rsp), %r9
    movq R8(%rsp), %r8
    movq RBP(%rsp), %rbp
    movq RDI(%rsp), %rdi
    movq RSI(%rsp), %rsi
    movq RDX(%rsp), %rdx
    movq RSP(%rsp), %rsp                /* the user stack, still in ring 0 (NMIs use IST) */
    swapgs
    sysretq

.Lunknown:
    movq %rax, %rdi
    call *syscall_unknown(%rip)
    jmp .Lresult

.Lslow:
    movq %rsp, %rdi
    call arch_user_return_slow          /* returns with interrupts off */
    jmp user_return_iret
    .size syscall_entry, . - syscall_entry

/*
 * void arch_syscall_return(struct arch_regs *regs, long result, bool *released)
 * In: rdi = the running thread's frame (the top of its kernel stack), rsi = the
 * system call's result, rdx = a byte to clear once off the caller's stack, or
 * NULL. Ends the system call as syscall_entry does after the call (rax, the
 * work word, SYSRET or the slow way), abandoning the caller's stack: from the
 * continuation of a parked thread (its own stack) or from IPC's direct switch,
 * which stands on the stack of the thread it switched from (rdx: its on_cpu).
 */
    .globl arch_syscall_return
    .type arch_syscall_return, @function
arch_syscall_return:
    cli
    movq %rdi, %rsp
    testq %rdx, %rdx
    jz 1f
    movb $0, (%rdx)                     /* the old stack is free */
1:  movq %rsi, %rax
    jmp .Lresult
    .size arch_syscall_return, . - arch_syscall_return

/*
 * arch_syscall_switch_return: arch_syscall_return for IPC's direct switch,
 * jumped to by arch_user_switch_return: interrupts are off already, the frame
 * is at the top of the ring-0 stack just loaded for the thread switched to,
 * with its result in it, and the switched-from thread's on_cpu is in the CPU's
 * area (never NULL).
 */
    .globl arch_syscall_switch_return
    .type arch_syscall_switch_return, @function
arch_syscall_switch_return:
    movq %gs:CPU_KERNEL_RSP, %rsp
    subq $FRAME_BYTES, %rsp
    movq %gs:CPU_SWITCH_RELEASED, %rdi
    movb $0, (%rdi)                     /* the old stack is free */
    movq RAX(%rsp), %rax
    jmp .Lresult_irqs_off
    .size arch_syscall_switch_return, . - arch_syscall_switch_return

/*
 * user_return_iret: rsp = a user frame (struct arch_regs); interrupts off.
 * Restores every register from it and returns to ring 3 by IRETQ.
 */
    .globl user_return_iret
    .type user_return_iret, @function
user_return_iret:
    POP_GENERAL_REGISTERS
    addq $16, %rsp                      /* vector and error code */
    swapgs
    iretq
    .size user_return_iret, . - user_return_iret

/*
 * void arch_enter_user(uint64_t ip, uint64_t sp, uintptr_t kernel_stack_top)
 * In: rdi = user rip, rsi = user rsp, rdx = the thread's kernel stack top.
 * Builds a frame with every general register zero and rflags = IF, and leaves.
 */
    .globl arch_enter_user
    .type arch_enter_user, @function
arch_enter_user:
    cli
    movq %rdx, %rsp
    pushq $USER_SS
    pushq %rsi
    pushq $0x202                        /* IF, and bit 1 (always set) */
    pushq $USER_CS
    pushq %rdi
    pushq $0
    pushq $0
    .rept 15
    pushq $0
    .endr
    jmp user_return_iret
    .size arch_enter_user, . - arch_enter_user

/* void arch_return_to_user(struct arch_regs *regs): rdi = the frame. */
    .globl arch_return_to_user
    .type arch_return_to_user, @function
arch_return_to_user:
    cli
    movq %rdi, %rsp
    jmp user_return_iret
    .size arch_return_to_user, . - arch_return_to_user

/*
 * void arch_resume_user(const struct arch_regs *regs, uintptr_t kernel_stack_top)
 * In: rdi = a user frame anywhere but the top of this stack (a new thread's
 * copy of its creator's), rsi = the thread's kernel stack top. Copies it to the
 * top (where every way in expects it), abandoning the caller's stack, and
 * returns to ring 3 by IRETQ.
 */
    .globl arch_resume_user
    .type arch_resume_user, @function
arch_resume_user:
    cli
    leaq -FRAME_BYTES(%rsi), %rsp
    movq %rdi, %rsi
    movq %rsp, %rdi
    movl $(FRAME_BYTES / 8), %ecx
    cld
    rep movsq
    jmp user_return_iret
    .size arch_resume_user, . - arch_resume_user

    .section .note.GNU-stack, "", @progbits
