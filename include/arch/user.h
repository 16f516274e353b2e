/*
 * arch/user: what the process layer (proc/) asks of the CPU to run user code:
 * the saved user registers, entry to and return from ring 3, system-call
 * dispatch, user faults, and the per-thread FPU/SIMD and TLS state. Implemented
 * in arch/x86_64/user.c and syscall.S; a port provides the same functions.
 *
 * A user thread's kernel stack holds, at its very top, the registers of its user
 * context (struct arch_regs): made by SYSCALL entry, by an interrupt or exception
 * from ring 3, or by arch_enter_user. arch_user_regs(top) finds it. The layout is
 * x86_64's; proc/ reads it through the accessors below, except where the Linux
 * x86_64 ABI itself names registers (system-call arguments, arch_prctl).
 *
 * System calls: the arch calls table[number](a0..a5) with the Linux argument
 * registers (rdi rsi rdx r10 r8 r9), interrupts on, and returns the result in
 * rax; a number outside the table goes to the unknown-call function. The table
 * is data owned by proc/ (proc/syscall_table.c) and installed once at boot.
 *
 * Hooks proc/ installs (arch_user_set_hooks), called with interrupts off:
 *   page_fault   a ring-3 page fault, or a user copy's: true when resolved
 *                (demand paging), false when it is a real fault;
 *   fault        a ring-3 exception that is not resolved: the signal it means,
 *                its si_code (Linux numbers) and the address; the hook kills,
 *                or queues a handler and returns (the return path delivers);
 *                also a return to a non-canonical rip, as the #GP that IRETQ
 *                would raise there (SIGSEGV, SI_KERNEL, address 0);
 *   return_work  before returning to ring 3 when the thread's work word is
 *                non-zero (a kill, a pending signal, registers changed).
 */
#ifndef EXO_ARCH_USER_H
#define EXO_ARCH_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The saved user context, lowest address first (arch/x86_64/isr.S draws it). */
struct arch_regs {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector;     /* ARCH_VECTOR_SYSCALL for a system call */
    uint64_t error_code; /* a system call: its number as called (orig_rax) */
    uint64_t rip, cs, rflags, rsp, ss;
};
#define ARCH_VECTOR_SYSCALL 0x100

static inline uint64_t arch_regs_ip(const struct arch_regs *r) { return r->rip; }
static inline uint64_t arch_regs_sp(const struct arch_regs *r) { return r->rsp; }
static inline uint64_t arch_regs_syscall_number(const struct arch_regs *r) { return r->error_code; }
/* A system call's argument i (0-5), as its entry saved it. */
static inline uint64_t arch_regs_syscall_arg(const struct arch_regs *r, unsigned i)
{
    switch (i) {
    case 0: return r->rdi;
    case 1: return r->rsi;
    case 2: return r->rdx;
    case 3: return r->r10;
    case 4: return r->r8;
    default: return r->r9;
    }
}

/* A system call's result, where its return loads it from. */
static inline void arch_regs_set_result(struct arch_regs *r, long result) { r->rax = (uint64_t)result; }

/* The six IPC message words (include/uapi/exo_ipc.h: rbx r12 r13 r14 r15 r9),
 * read at a call's entry and written for its return. */
#define ARCH_IPC_WORDS 6
static inline void arch_regs_ipc_words_get(const struct arch_regs *r, uint64_t w[ARCH_IPC_WORDS])
{
    w[0] = r->rbx, w[1] = r->r12, w[2] = r->r13, w[3] = r->r14, w[4] = r->r15, w[5] = r->r9;
}
static inline void arch_regs_ipc_words_set(struct arch_regs *r, const uint64_t w[ARCH_IPC_WORDS])
{
    r->rbx = w[0], r->r12 = w[1], r->r13 = w[2], r->r14 = w[3], r->r15 = w[4], r->r9 = w[5];
}

/* From one frame to another, a word at a time (the empty asm keeps each load
 * next to its store): one scratch register, where a compiler free to load all
 * six first would take callee-saved ones in IPC's fastpath and save them. */
#define ARCH_REGS_COPY_ONE(to, from, reg)                                                \
    do {                                                                                 \
        (to)->reg = (from)->reg;                                                         \
        __asm__ volatile("" : : : "memory");                                             \
    } while (0)
static inline void arch_regs_ipc_words_copy(struct arch_regs *to, const struct arch_regs *from)
{
    ARCH_REGS_COPY_ONE(to, from, rbx);
    ARCH_REGS_COPY_ONE(to, from, r12);
    ARCH_REGS_COPY_ONE(to, from, r13);
    ARCH_REGS_COPY_ONE(to, from, r14);
    ARCH_REGS_COPY_ONE(to, from, r15);
    ARCH_REGS_COPY_ONE(to, from, r9);
}
#undef ARCH_REGS_COPY_ONE

/* Where a user thread's registers sit on its kernel stack. */
static inline struct arch_regs *arch_user_regs(uintptr_t kernel_stack_top)
{
    return (struct arch_regs *)kernel_stack_top - 1;
}

/* Per user thread: what a switch saves and restores besides the stack. */
struct arch_user_state {
    uint64_t fs_base;  /* TLS pointer (ARCH_SET_FS) */
    uint64_t gs_base;  /* ARCH_SET_GS */
    void *fpu;         /* arch_fpu_state_bytes(), ARCH_FPU_ALIGN-aligned */
    const uint32_t *work; /* the thread's work word, which the way back to ring 3
                           * checks (non-zero: return_work); set once, as it is made */
    /* The last ring-3 exception (a signal frame's sigcontext reports them). */
    uint64_t fault_trapno, fault_error, fault_addr;
};
#define ARCH_FPU_ALIGN 64

/* Bytes of FPU/SIMD state (XSAVE area for the enabled features, or 512). */
size_t arch_fpu_state_bytes(void);
/* A fresh thread's state: every register zero, FCW 0x37f, MXCSR 0x1f80. */
void arch_fpu_state_init(void *fpu);

struct arch_space_tlb;

/*
 * Called by the scheduler hook around a switch, interrupts off: everything a
 * switch between processes does to the machine, in one call. prev (NULL for a
 * kernel thread) has its FPU state saved; next (NULL for a kernel thread) has
 * its FPU and TLS bases loaded, and its kernel stack (next_stack_top) becomes the
 * one ring-3 entries use on this CPU, and its work word (next->work) the one the
 * return path checks (non-zero: call return_work). space (NULL: keep the loaded one) is the
 * address space to load, as arch_space_switch_irqs_off would (include/arch/asid.h),
 * its top-level table at root_phys.
 */
void arch_user_switch(struct arch_user_state *prev, struct arch_user_state *next,
                      uintptr_t next_stack_top, uint64_t root_phys, struct arch_space_tlb *space);
/* The same between two user threads (prev, next and space all given): the
 * common case, without the tests for the others. */
void arch_user_switch_between(struct arch_user_state *prev, struct arch_user_state *next,
                              uintptr_t next_stack_top, uint64_t root_phys,
                              struct arch_space_tlb *space);

/* arch_user_switch_between, then the end of next's system call on its frame at
 * the top of next_stack_top, its result already there (arch_regs_set_result),
 * as arch_syscall_switch_return: IPC's direct switch, which stands on the
 * stack of the thread it switched from (released: that thread's on_cpu,
 * cleared once off its stack). */
__attribute__((noreturn)) void arch_user_switch_return(struct arch_user_state *prev,
                                                       struct arch_user_state *next,
                                                       uintptr_t next_stack_top,
                                                       bool *released,
                                                       uint64_t root_phys,
                                                       struct arch_space_tlb *space);

/* Fork and clone: copy (its fpu area allocated) receives the running thread's
 * live FPU/SIMD registers and the TLS bases of `current`, its state. */
void arch_user_copy_current(const struct arch_user_state *current, struct arch_user_state *copy);
/* Exec: the running thread's FPU/SIMD registers and TLS bases to a new
 * thread's defaults (arch_fpu_state_init), in `state` and in the CPU. */
void arch_user_reset_current(struct arch_user_state *state);

/* Loads a new TLS base for the running thread (and records it in state). */
void arch_user_set_fs(struct arch_user_state *state, uint64_t base);
void arch_user_set_gs(struct arch_user_state *state, uint64_t base);

/*
 * Leaves the kernel for ring 3 at ip with stack pointer sp: the registers at the
 * top of kernel_stack_top become a user frame with every general register zero,
 * flags = IF only, then IRETQ. The caller's stack is abandoned.
 */
__attribute__((noreturn)) void arch_enter_user(uint64_t ip, uint64_t sp, uintptr_t kernel_stack_top);

/* Resumes the user context saved at the top of the current kernel stack (after
 * its registers were changed, as exec does), by IRETQ. */
__attribute__((noreturn)) void arch_return_to_user(struct arch_regs *regs);

/* Starts a new thread in ring 3 with a copy of *regs (kept elsewhere, as
 * clone does), placed at the top of its kernel stack, by IRETQ. The caller's
 * stack, which a new thread has at that same top, is abandoned. */
__attribute__((noreturn)) void arch_resume_user(const struct arch_regs *regs,
                                                uintptr_t kernel_stack_top);

/* Ends the running thread's system call with `result` (its user frame regs at
 * the top of its kernel stack) from anywhere in the kernel, as the return from
 * its table function would: the work word is checked, then SYSRET or IRETQ. The
 * caller's stack is abandoned; *released (NULL: none) is cleared once it is,
 * for a caller standing on another thread's stack (IPC's direct switch,
 * include/sched/thread.h: thread_park_switch). */
__attribute__((noreturn)) void arch_syscall_return(struct arch_regs *regs, long result,
                                                   bool *released);

typedef long (*arch_syscall_fn)(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
                                uint64_t a5);
void arch_set_syscall_table(const arch_syscall_fn *table, size_t count,
                            long (*unknown)(uint64_t number));

struct arch_user_hooks {
    bool (*page_fault)(uintptr_t addr, bool write, bool exec);
    bool (*is_mapped)(uintptr_t addr); /* a user fault's SEGV_ACCERR vs SEGV_MAPERR */
    bool (*is_bus_error)(uintptr_t addr); /* past a mapped file's end: SIGBUS BUS_ADRERR */
    void (*fault)(struct arch_regs *regs, int signal, int code, uint64_t addr);
    void (*return_work)(struct arch_regs *regs);
};
void arch_user_set_hooks(const struct arch_user_hooks *hooks);

/* Linux signal numbers the arch's faults map to. */
#define ARCH_SIGILL 4
#define ARCH_SIGTRAP 5
#define ARCH_SIGBUS 7
#define ARCH_SIGFPE 8
#define ARCH_SIGSEGV 11
/* and si_codes */
#define ARCH_SI_KERNEL 0x80
#define ARCH_SEGV_MAPERR 1
#define ARCH_SEGV_ACCERR 2
#define ARCH_ILL_ILLOPN 2
#define ARCH_FPE_INTDIV 1
#define ARCH_BUS_ADRALN 1
#define ARCH_BUS_ADRERR 2
/* The page-fault hook's answer when it cannot resolve the fault: is there a
 * region at the address at all (ACCERR) or not (MAPERR)? proc/ says. */

/* A random 64-bit value from the CPU's generator (RDSEED, else RDRAND) mixed
 * with the time-stamp counter; the counter alone when the CPU has neither. */
uint64_t arch_random_u64(void);

/* AT_HWCAP: on x86_64, CPUID leaf 1's EDX, as Linux gives it. */
uint64_t arch_user_hwcap(void);

/* Whether user addresses end below this (exclusive): the canonical lower half. */
#define ARCH_USER_ADDR_END 0x800000000000ull

/* Is the CPU denying kernel access to user pages (SMAP)? For tests. */
bool arch_user_has_smap(void);

#endif
