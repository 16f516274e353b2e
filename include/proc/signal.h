/*
 * signal: POSIX signals with Linux x86_64 numbers, semantics and frames.
 *
 * State. Each process has its actions (rt_sigaction) and a set of signals
 * pending for the process as a whole (kill); each user thread has its mask, its
 * own pending set (tgkill, its faults) and its alternate stack. A pending signal
 * keeps one siginfo: standard signals do not queue (Linux neither), and neither
 * do real-time ones here (Linux queues those; Exo keeps the first one's info).
 *
 * Delivery. Sending marks the signal pending and sets UTHREAD_WORK_SIGNAL on a
 * thread that does not block it (the process's main thread when all block it),
 * and wakes that thread if it sleeps in signal_wait_interruptible. On its way
 * back to ring 3 the thread takes its lowest deliverable signal and runs its
 * action: the default (terminate, "core" (terminate, the wait status's core
 * bit set when RLIMIT_CORE allows a dump, though Exo writes none), ignore; stop and
 * continue are approximated as ignore: Exo has no job control yet), or the
 * handler, on a Linux rt_sigframe (arch/signal.h) whose rt_sigreturn brings the
 * interrupted context back. A system call that a signal interrupted returns
 * -EINTR, or restarts under SA_RESTART where Linux does (signal_restart_code).
 *
 * A fault (signal_fault) goes to the faulting thread whatever its mask: a
 * handler runs if one is installed and the signal is neither blocked nor
 * ignored; otherwise the process dies with the console line
 *   exo: process <pid> (<name>) killed by SIG<X> at <addr>, ip <ip>
 *
 * Locking: signal_lock (proc/signal.c) protects every process's and thread's
 * signal state except the alternate stack (its own thread's). It nests inside
 * process_lock and outside wait-queue locks. signal_send_* may be called from
 * interrupt context (the console's Ctrl-C); nothing else here.
 */
#ifndef EXO_PROC_SIGNAL_H
#define EXO_PROC_SIGNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/user.h"
#include "sched/sync.h"

#define SIGNAL_COUNT 64 /* 1..64, Linux's _NSIG */

/* Linux numbers the kernel itself names. */
#define SIGHUP 1
#define SIGINT 2
#define SIGQUIT 3
#define SIGILL 4
#define SIGTRAP 5
#define SIGABRT 6
#define SIGBUS 7
#define SIGFPE 8
#define SIGKILL 9
#define SIGUSR1 10
#define SIGSEGV 11
#define SIGUSR2 12
#define SIGPIPE 13
#define SIGALRM 14
#define SIGTERM 15
#define SIGCHLD 17
#define SIGCONT 18
#define SIGSTOP 19
#define SIGTSTP 20
#define SIGTTIN 21
#define SIGTTOU 22
#define SIGURG 23
#define SIGXCPU 24
#define SIGXFSZ 25
#define SIGWINCH 28
#define SIGSYS 31

/* si_code values (Linux's). */
#define SI_USER 0
#define SI_KERNEL 0x80
#define SI_TKILL (-6)
#define SEGV_MAPERR 1
#define SEGV_ACCERR 2
#define ILL_ILLOPN 2
#define FPE_INTDIV 1
#define BUS_ADRALN 1
#define BUS_ADRERR 2
#define CLD_EXITED 1
#define CLD_KILLED 2
#define CLD_DUMPED 3

/* What a pending signal carries (the fields of Linux's siginfo the kernel
 * fills). pid/uid: the sender (kill, SIGCHLD); status: SIGCHLD's; addr: a
 * fault's. */
struct kernel_siginfo {
    int32_t code;
    int32_t pid;
    int32_t status;
    uint32_t uid;
    uint64_t addr;
};

/* struct sigaction as rt_sigaction passes it on x86_64. */
struct sigaction_k {
    uint64_t handler, flags, restorer, mask;
};
#define SIG_DFL_HANDLER 0
#define SIG_IGN_HANDLER 1

/* A process's share (in struct process). (S) signal_lock. */
struct signal_shared {
    struct sigaction_k actions[SIGNAL_COUNT]; /* (S) */
    uint64_t pending;                         /* (S) bit n-1: signal n */
    struct kernel_siginfo info[SIGNAL_COUNT]; /* (S) for each pending one */
    struct uthread *receiver; /* (S) takes process-directed signals; NULL: the main thread */
};

/* A thread's share (in struct uthread). (S) signal_lock unless said. */
struct signal_thread {
    uint64_t mask;                            /* (S) written by its own thread only */
    uint64_t pending;                         /* (S) */
    struct kernel_siginfo info[SIGNAL_COUNT]; /* (S) */
    struct wait_queue *waiting_on;            /* (S) set in signal_wait_interruptible */
    uint64_t saved_mask;                      /* (S) rt_sigsuspend's caller's mask ... */
    bool restore_mask;                        /* (S) ... to restore on the way out */
    uint64_t altstack_sp, altstack_size;      /* its own thread's */
    int altstack_flags;                       /* SS_DISABLE or 0 (its own thread's) */
};

struct process;
struct uthread;

/* ---- for the other parts of proc/ ------------------------------------------------ */

/* A new process's state: every action default, nothing pending (process_new). */
void signal_process_init(struct process *p);
/* fork: the child gets the parent's actions; nothing pending. */
void signal_process_fork(struct process *child, const struct process *parent);
/* execve: handled signals go back to the default; ignored ones stay ignored;
 * pending signals and the caller's mask stay; the alternate stack is dropped. */
void signal_process_exec(struct process *p, struct uthread *caller);
/* A new thread: mask from `from` (NULL: empty), nothing pending, no alternate
 * stack unless copy_altstack (fork's child thread keeps it; a clone'd thread
 * does not). */
void signal_thread_init(struct uthread *ut, const struct uthread *from, bool copy_altstack);

/*
 * Sends sig to p (process-directed) or to one thread. info NULL: SI_KERNEL from
 * the kernel. sig 0 checks nothing and sends nothing. An ignored signal (and a
 * default-ignored one) is discarded unless blocked. SIGKILL ends the process.
 * Zombies take nothing. Never blocks; interrupt context allowed.
 */
void signal_send_process(struct process *p, int sig, const struct kernel_siginfo *info);
void signal_send_thread(struct uthread *ut, int sig, const struct kernel_siginfo *info);
/* Sends sig (SI_KERNEL) to every process of group pgrp: the console's Ctrl-C.
 * Interrupt context allowed. */
void signal_send_group(int pgrp, int sig);
/* The calling thread sends itself sig (SI_USER, its own pid): SIGPIPE on a
 * write to a pipe without readers. */
void signal_send_current(int sig);
/* SIGCHLD to parent for a child that ended with wait(2) status wait_status
 * (CLD_EXITED, CLD_KILLED or CLD_DUMPED, with the child's pid and status). */
void signal_child_exited(struct process *parent, int child_pid, int wait_status);

/* Is a signal pending that the calling thread does not block (what ends an
 * interruptible wait)? */
bool signal_pending(void);

/* Drops the calling thread's deliverable pending signals whose action is to
 * ignore them, as their delivery would. A signal stays pending while the thread
 * it went to blocks it, even one ignored by default (SIGCHLD), and then ends
 * every other thread's interruptible wait; Linux restarts such a call once the
 * signal is dropped, which a wait that cannot be repeated (an IPC call already
 * received) instead does by going on waiting. True when the wait must still
 * end: a signal that acts is deliverable, or the thread is to end. */
bool signal_discard_ignored(void);

/* Thread `gone` of p has ended and `heir` lives on: process-directed signals go
 * to heir from now on if they went to gone (and what is pending wakes it).
 * process_lock held (the order is process_lock, then signal_lock). */
void signal_thread_gone(struct process *p, struct uthread *gone, struct uthread *heir);
/* Ends ut's interruptible wait (signal_wait_interruptible, signal_sleep_ns) for
 * UTHREAD_WORK_KILL or _EXIT already set on it: another thread execs or ends
 * the process. */
void signal_interrupt_wait(struct uthread *ut);

/*
 * Blocks on wq until cond(ctx) holds (0) or a signal is pending for the caller
 * (-ERESTARTSYS: return it from the system call; the return path turns it into
 * -EINTR or a restart) or the thread is to end (UTHREAD_WORK_KILL/_EXIT: -EINTR). cond is checked under wq's lock as wait_queue_wait does;
 * the caller must keep wq alive until this returns. Thread context only.
 */
int signal_wait_interruptible(struct wait_queue *wq, bool (*cond)(void *ctx), void *ctx)
    __attribute__((warn_unused_result));

/*
 * ppoll/pselect6's mask: the calling thread waits under `mask` (SIGKILL and
 * SIGSTOP stay unblocked) as rt_sigsuspend does, and its own mask comes back on
 * the way to ring 3, after a handler the wait let through has been set up.
 * signal_wait_mask_restore brings it back at once instead (the call ended
 * without a signal: nothing it unblocked is delivered, as in Linux).
 */
void signal_wait_mask_set(uint64_t mask);
void signal_wait_mask_restore(void);


/*
 * An interruptible sleep without signal_lock's two holds, for IPC's fastpath.
 * The caller (interrupts off) is already in wq, BLOCKED (wait_queue_reuse_asleep),
 * and wq is published to its wakers. signal_wait_publish makes wq the caller's
 * interruptible wait with one exchange (a full barrier), then looks for anything
 * that must end the wait: work on the thread (a signal, kill, exit) or a
 * deliverable signal pending for the process; false: there is some, do not
 * sleep. A sender sets the work word (a locked read-modify-write) before it
 * reads waiting_on under signal_lock, so either it finds wq and wakes the
 * caller there or the caller sees the work: no wake-up is lost.
 * signal_wait_withdraw takes wq back and returns once no sender can still be
 * using it (signal_lock is free). Both are called by the waiting thread only.
 * Inline, in include/proc/process.h (after the structs they read).
 */

/* Sleeps ns, ending early when a signal is pending: returns the nanoseconds
 * left then (0: slept fully). */
uint64_t signal_sleep_ns(uint64_t ns);

/*
 * A fault of the calling thread (the arch's fault hook): handler or death, as
 * the top says. Returns when a handler will run (the return path builds its
 * frame); never returns otherwise.
 */
void signal_fault(struct arch_regs *regs, int sig, int code, uint64_t addr);

/* The return path's work (UTHREAD_WORK_SIGNAL): delivers what is deliverable,
 * finishes an interrupted system call's restart; may end the process. */
void signal_return_work(struct uthread *ut, struct arch_regs *regs);

/* The wait(2) status bit a core-dumping default action sets. */
#define SIGNAL_CORE_BIT 0x80

/* kill(2)'s check and send for one process, under process_lock: 0, -EINVAL. */
int signal_kill_one(struct process *p, int sig, int code);

#endif
