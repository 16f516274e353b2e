/*
 * arch/signal: the architecture's half of signal delivery (proc/signal.c has
 * the rest): building the signal frame a handler runs on, taking it back at
 * rt_sigreturn, and the system-call bookkeeping a restart needs. On x86_64 the
 * frame is Linux's struct rt_sigframe (pretcode, ucontext with a sigcontext
 * and the saved XSAVE/FXSAVE area, siginfo), so musl's and hand-written
 * handlers and restorers work unchanged (arch/x86_64/signal.c).
 *
 * Everything read back from user memory is validated there: only the
 * user-changeable flags, the user code selector, a sanitised FPU image (a state
 * XRSTOR/FXRSTOR would refuse is corrected, never loaded). A non-canonical rip
 * is left in place: the return path turns it into the program's SIGSEGV
 * (include/arch/user.h) instead of returning there.
 *
 * Thread context of the thread concerned; push expects interrupts off (the
 * return path), pop may run with them on (the system call).
 */
#ifndef EXO_ARCH_SIGNAL_H
#define EXO_ARCH_SIGNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/user.h"

/* Linux's siginfo_t as user space sees it (128 bytes). */
struct arch_siginfo {
    int32_t signo, err, code, pad;
    union {
        struct {
            int32_t pid;
            uint32_t uid;
            int32_t status;
            int32_t pad;
            int64_t utime, stime;
        } child; /* kill, tgkill and SIGCHLD use pid, uid (and status) */
        struct {
            uint64_t addr;
        } fault;
        uint8_t bytes[112];
    };
};

/* Linux's stack_t. */
struct arch_stack {
    uint64_t sp;
    int32_t flags;
    int32_t pad;
    uint64_t size;
};

struct arch_signal_frame {
    uint64_t handler, restorer; /* where the handler starts, what it returns to */
    uint64_t stack_top;         /* 0: below the interrupted sp; else this top */
    uint64_t saved_mask;        /* uc_sigmask: the mask rt_sigreturn restores */
    struct arch_stack altstack; /* uc_stack */
    const struct arch_siginfo *info;
    int signo;
};

/* Builds the frame on the user stack and points regs at the handler with the
 * signal number, &siginfo and &ucontext as arguments and a fresh FPU state
 * (FCW 0x37f, MXCSR 0x1f80). The interrupted FPU state is the live one of the
 * calling thread (state->fpu). -EFAULT when the frame cannot be written. */
int arch_signal_push(struct arch_regs *regs, struct arch_user_state *state,
                     const struct arch_signal_frame *frame) __attribute__((warn_unused_result));

/* rt_sigreturn: restores regs and the live FPU state from the frame that
 * regs' stack pointer shows, and gives the saved mask and uc_stack. -EFAULT
 * (unreadable) or -EINVAL (a bad selector) leave regs unchanged: the program
 * gets SIGSEGV. */
int arch_signal_pop(struct arch_regs *regs, struct arch_user_state *state, uint64_t *mask,
                    struct arch_stack *altstack) __attribute__((warn_unused_result));

/* Is regs a system call's entry frame whose result is still pending a restart
 * decision? Its result, and the two ways it ends. */
bool arch_regs_in_syscall(const struct arch_regs *regs);
long arch_regs_syscall_result(const struct arch_regs *regs);
void arch_regs_set_syscall_result(struct arch_regs *regs, long value);
/* Makes the return go back to the system-call instruction with the original
 * number, so it runs again. */
void arch_regs_syscall_restart(struct arch_regs *regs);
/* Forgets that regs came from a system call (after a restart decision, and at
 * rt_sigreturn, whose frame is no call to restart). */
void arch_regs_forget_syscall(struct arch_regs *regs);

#endif
