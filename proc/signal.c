/*
 * Signals: sending, the return path's delivery, faults, and the signal system
 * calls. include/proc/signal.h has the model; arch/signal.h builds the frames.
 */
#include "proc/signal.h"

#include "arch/signal.h"
#include "arch/time.h"
#include "arch/uaccess.h"
#include "base/panic.h"
#include "lib/errno.h"
#include "lib/printf.h"
#include "lib/string.h"
#include "proc/futex.h"
#include "proc/process.h"
#include "proc/syscall.h"

#define SIGSET_BYTES 8
#define SA_SIGINFO 0x4ul
#define SA_ONSTACK 0x08000000ul
#define SA_RESTART 0x10000000ul
#define SA_NODEFER 0x40000000ul
#define SA_RESETHAND 0x80000000ul
#define SA_RESTORER 0x04000000ul
#define SIG_BLOCK 0
#define SIG_UNBLOCK 1
#define SIG_SETMASK 2
#define SS_ONSTACK 1
#define SS_DISABLE 2
#define SS_AUTODISARM (1u << 31)
#define MINSIGSTKSZ 2048
#define RLIMIT_CORE_INDEX 4 /* Linux's RLIMIT_CORE */
#define SLEEP_SLICE_NS 2000000ull /* how often a sleeper looks for signals */

struct spinlock signal_lock = SPINLOCK_INIT("signal"); /* include/proc/process.h */
/* pause and rt_sigsuspend wait here; a send wakes them all, each checks its own. */
static struct wait_queue pause_wait = WAIT_QUEUE_INIT("signal pause");

static uint64_t sig_bit(int sig)
{
    return 1ull << (sig - 1);
}

#define UNBLOCKABLE (sig_bit(SIGKILL) | sig_bit(SIGSTOP))

static bool valid_signal(int sig)
{
    return sig >= 1 && sig <= SIGNAL_COUNT;
}

/* ---- default actions ------------------------------------------------------------- */

enum default_action { ACTION_TERMINATE, ACTION_CORE, ACTION_IGNORE };

/* Linux's table. Stop signals are ignored: Exo has no stopped state yet. */
static enum default_action default_action(int sig)
{
    switch (sig) {
    case SIGCHLD: case SIGURG: case SIGWINCH: case SIGCONT:
    case SIGSTOP: case SIGTSTP: case SIGTTIN: case SIGTTOU:
        return ACTION_IGNORE;
    case SIGQUIT: case SIGILL: case SIGTRAP: case SIGABRT: case SIGBUS: case SIGFPE:
    case SIGSEGV: case SIGXCPU: case SIGXFSZ: case SIGSYS:
        return ACTION_CORE;
    default:
        return ACTION_TERMINATE;
    }
}

/* The wait(2) status of a death by sig's default action. The core bit says a
 * core was dumped; Linux tries only under a non-zero RLIMIT_CORE (0 by
 * default, as here). Exo writes no core file: with the limit raised, the bit
 * is set as Linux would, but there is no file. */
static int death_status(int sig)
{
    struct process *p = process_current();
    bool core = default_action(sig) == ACTION_CORE && p->rlimits[RLIMIT_CORE_INDEX].cur != 0;
    return sig | (core ? SIGNAL_CORE_BIT : 0);
}

static bool ignored_locked(const struct process *p, int sig)
{
    uint64_t handler = p->sig.actions[sig - 1].handler;
    if (sig == SIGKILL || sig == SIGSTOP)
        return false;
    return handler == SIG_IGN_HANDLER ||
           (handler == SIG_DFL_HANDLER && default_action(sig) == ACTION_IGNORE);
}

/* ---- state set-up ------------------------------------------------------------------- */

void signal_process_init(struct process *p)
{
    memset(&p->sig, 0, sizeof(p->sig));
}

void signal_process_fork(struct process *child, const struct process *parent)
{
    bool irq = spin_lock(&signal_lock);
    memcpy(child->sig.actions, parent->sig.actions, sizeof(child->sig.actions));
    spin_unlock(&signal_lock, irq);
    child->sig.pending = 0;
}

void signal_process_exec(struct process *p, struct uthread *caller)
{
    bool irq = spin_lock(&signal_lock);
    for (int i = 0; i < SIGNAL_COUNT; i++) {
        struct sigaction_k *a = &p->sig.actions[i];
        if (a->handler != SIG_IGN_HANDLER)
            *a = (struct sigaction_k){0};
        else
            a->flags = a->mask = a->restorer = 0;
    }
    p->sig.receiver = caller; /* the only thread now */
    spin_unlock(&signal_lock, irq);
    caller->sig.altstack_sp = caller->sig.altstack_size = 0;
    caller->sig.altstack_flags = SS_DISABLE;
}

void signal_thread_init(struct uthread *ut, const struct uthread *from, bool copy_altstack)
{
    memset(&ut->sig, 0, sizeof(ut->sig));
    ut->sig.altstack_flags = SS_DISABLE;
    if (!from)
        return;
    ut->sig.mask = from->sig.mask;
    if (copy_altstack) {
        ut->sig.altstack_sp = from->sig.altstack_sp;
        ut->sig.altstack_size = from->sig.altstack_size;
        ut->sig.altstack_flags = from->sig.altstack_flags;
    }
}

/* ---- sending --------------------------------------------------------------------------- */

/* Makes ut look at its signals on its way out, and ends its interruptible wait. */
static void notify_locked(struct uthread *ut)
{
    __atomic_fetch_or(&ut->work, UTHREAD_WORK_SIGNAL, __ATOMIC_RELEASE);
    if (ut->sig.waiting_on)
        wait_queue_wake_all(ut->sig.waiting_on);
    futex_interrupt(ut); /* signal_lock, then a futex bucket's lock */
}

/* The thread that takes a process-directed signal. One thread per process for
 * now: its main thread. */
static struct uthread *pick_thread_locked(struct process *p, int sig)
{
    (void)sig;
    return p->sig.receiver ? p->sig.receiver : p->main;
}

static bool alive(const struct process *p)
{
    return __atomic_load_n(&p->state, __ATOMIC_ACQUIRE) == PROCESS_RUNNING && p->main;
}

static const struct kernel_siginfo kernel_info = {.code = SI_KERNEL};

static void send_locked(struct process *p, struct uthread *ut, int sig,
                        const struct kernel_siginfo *info)
{
    uint64_t bit = sig_bit(sig);
    struct uthread *target = ut ? ut : pick_thread_locked(p, sig);
    if (ignored_locked(p, sig) && !(target->sig.mask & bit))
        return;
    uint64_t *pending = ut ? &ut->sig.pending : &p->sig.pending;
    struct kernel_siginfo *slot = ut ? &ut->sig.info[sig - 1] : &p->sig.info[sig - 1];
    if (!(*pending & bit))
        *slot = info ? *info : kernel_info;
    *pending |= bit;
    if (!(target->sig.mask & bit))
        notify_locked(target);
}

void signal_send_process(struct process *p, int sig, const struct kernel_siginfo *info)
{
    if (!valid_signal(sig) || !alive(p))
        return;
    bool irq = spin_lock(&signal_lock);
    send_locked(p, NULL, sig, info);
    spin_unlock(&signal_lock, irq);
}

void signal_send_thread(struct uthread *ut, int sig, const struct kernel_siginfo *info)
{
    if (!valid_signal(sig) || !alive(ut->proc))
        return;
    bool irq = spin_lock(&signal_lock);
    send_locked(ut->proc, ut, sig, info);
    spin_unlock(&signal_lock, irq);
}

void signal_send_current(int sig)
{
    struct uthread *ut = uthread_current();
    struct kernel_siginfo info = {.code = SI_USER, .pid = ut->proc->pid};
    signal_send_thread(ut, sig, &info);
}

void signal_child_exited(struct process *parent, int child_pid, int wait_status)
{
    struct kernel_siginfo info = {.pid = child_pid};
    if (PROCESS_EXITED(wait_status)) {
        info.code = CLD_EXITED;
        info.status = PROCESS_EXIT_CODE(wait_status);
    } else {
        info.code = wait_status & SIGNAL_CORE_BIT ? CLD_DUMPED : CLD_KILLED;
        info.status = PROCESS_SIGNAL(wait_status);
    }
    signal_send_process(parent, SIGCHLD, &info);
}

static uint64_t deliverable_locked(const struct uthread *ut)
{
    return (ut->sig.pending | ut->proc->sig.pending) & ~ut->sig.mask;
}

void signal_thread_gone(struct process *p, struct uthread *gone, struct uthread *heir)
{
    bool irq = spin_lock(&signal_lock);
    if (pick_thread_locked(p, 0) == gone) {
        p->sig.receiver = heir;
        if (p->sig.pending & ~heir->sig.mask)
            notify_locked(heir);
    }
    spin_unlock(&signal_lock, irq);
}

void signal_interrupt_wait(struct uthread *ut)
{
    bool irq = spin_lock(&signal_lock);
    if (ut->sig.waiting_on)
        wait_queue_wake_all(ut->sig.waiting_on);
    spin_unlock(&signal_lock, irq);
}

static bool must_end(const struct uthread *ut)
{
    return __atomic_load_n(&ut->work, __ATOMIC_ACQUIRE) & (UTHREAD_WORK_KILL | UTHREAD_WORK_EXIT);
}

bool signal_pending(void)
{
    struct uthread *ut = uthread_current();
    bool irq = spin_lock(&signal_lock);
    bool any = deliverable_locked(ut) != 0;
    spin_unlock(&signal_lock, irq);
    return any;
}

bool signal_discard_ignored(void)
{
    struct uthread *ut = uthread_current();
    struct process *p = ut->proc;
    bool irq = spin_lock(&signal_lock);
    uint64_t deliverable = deliverable_locked(ut);
    for (int sig = 1; sig <= SIGNAL_COUNT; sig++) {
        if ((deliverable & sig_bit(sig)) && ignored_locked(p, sig)) {
            ut->sig.pending &= ~sig_bit(sig);
            p->sig.pending &= ~sig_bit(sig);
        }
    }
    bool left = deliverable_locked(ut) != 0 || must_end(ut);
    spin_unlock(&signal_lock, irq);
    return left;
}

/* After the caller's mask changed: something may have become deliverable. */
static void recheck_locked(struct uthread *ut)
{
    if (deliverable_locked(ut))
        __atomic_fetch_or(&ut->work, UTHREAD_WORK_SIGNAL, __ATOMIC_RELEASE);
}

/* ---- waiting ------------------------------------------------------------------------------ */

struct wait_ctx {
    bool (*cond)(void *ctx);
    void *ctx;
    struct uthread *ut;
};

/* Under wq's lock (wait_queue_wait): the caller's condition, or a signal. */
static bool cond_or_signal(void *arg)
{
    struct wait_ctx *w = arg;
    return w->cond(w->ctx) || deliverable_locked(w->ut) || must_end(w->ut);
}

int signal_wait_interruptible(struct wait_queue *wq, bool (*cond)(void *ctx), void *ctx)
{
    struct uthread *ut = uthread_current();
    struct wait_ctx w = {cond, ctx, ut};
    /* Interrupts stay off from here to the end (wait_queue_wait keeps them as it
     * finds them), so the two signal_lock holds cost no flag save each. */
    bool irq = arch_irq_save_disable();
    spin_lock_irqs_off(&signal_lock);
    ut->sig.waiting_on = wq;
    spin_unlock_irqs_off(&signal_lock);
    int result = 0;
    for (;;) {
        /* A send sets pending under signal_lock before it takes wq's lock to
         * wake us, and we look at pending under wq's lock: no wake-up is lost. */
        wait_queue_wait(wq, cond_or_signal, &w);
        if (cond(ctx))
            break;
        if (signal_pending()) {
            result = -ERESTARTSYS;
            break;
        }
        if (must_end(ut)) {
            result = -EINTR;
            break;
        }
    }
    spin_lock_irqs_off(&signal_lock);
    ut->sig.waiting_on = NULL;
    if (result)
        __atomic_fetch_or(&ut->work, UTHREAD_WORK_SIGNAL, __ATOMIC_RELEASE);
    spin_unlock_irqs_off(&signal_lock);
    arch_irq_restore(irq);
    return result;
}

void signal_wait_mask_set(uint64_t mask)
{
    struct uthread *ut = uthread_current();
    bool irq = spin_lock(&signal_lock);
    ut->sig.saved_mask = ut->sig.mask;
    ut->sig.restore_mask = true;
    ut->sig.mask = mask & ~UNBLOCKABLE;
    recheck_locked(ut);
    spin_unlock(&signal_lock, irq);
}

/* Puts back the mask a call such as rt_sigsuspend or ppoll replaced, if one did. */
static void restore_saved_mask(struct uthread *ut)
{
    bool irq = spin_lock(&signal_lock);
    if (ut->sig.restore_mask) {
        ut->sig.mask = ut->sig.saved_mask;
        ut->sig.restore_mask = false;
        recheck_locked(ut);
    }
    spin_unlock(&signal_lock, irq);
}

void signal_wait_mask_restore(void)
{
    restore_saved_mask(uthread_current());
}

/* The scheduler's sleep cannot be cut short from another CPU (its wheel is
 * per-CPU, touched by its owner only), so a sleeper looks for signals every
 * SLEEP_SLICE_NS: a signal ends a sleep within 2 ms. */
uint64_t signal_sleep_ns(uint64_t ns)
{
    uint64_t end = arch_time_ns() + ns;
    for (;;) {
        uint64_t now = arch_time_ns();
        if (now >= end)
            return 0;
        if (signal_pending() || must_end(uthread_current()))
            return end - now;
        uint64_t left = end - now;
        thread_sleep_ns(left < SLEEP_SLICE_NS ? left : SLEEP_SLICE_NS);
    }
}

static bool never(void *ctx)
{
    (void)ctx;
    return false;
}

/* ---- faults ----------------------------------------------------------------------------- */

__attribute__((noreturn)) static void die_of_fault(struct arch_regs *regs, int sig, uint64_t addr)
{
    struct process *p = process_current();
    kprintf("exo: process %d (%s) killed by %s at 0x%lx, ip 0x%lx\n", p->pid, p->name,
            signal_name(sig), addr, arch_regs_ip(regs));
    process_exit(death_status(sig));
}

void signal_fault(struct arch_regs *regs, int sig, int code, uint64_t addr)
{
    struct uthread *ut = uthread_current();
    struct process *p = ut->proc;
    bool irq = spin_lock(&signal_lock);
    uint64_t handler = p->sig.actions[sig - 1].handler;
    bool handled = handler != SIG_DFL_HANDLER && handler != SIG_IGN_HANDLER &&
                   !(ut->sig.mask & sig_bit(sig));
    if (handled) {
        ut->sig.info[sig - 1] = (struct kernel_siginfo){.code = code, .addr = addr};
        ut->sig.pending |= sig_bit(sig);
        __atomic_fetch_or(&ut->work, UTHREAD_WORK_SIGNAL, __ATOMIC_RELEASE);
    }
    spin_unlock(&signal_lock, irq);
    if (!handled)
        die_of_fault(regs, sig, addr); /* blocked or ignored, a fault still kills */
}

/* ---- delivery -------------------------------------------------------------------------------- */

static bool on_altstack(const struct uthread *ut, uint64_t sp)
{
    return ut->sig.altstack_size && sp > ut->sig.altstack_sp &&
           sp - ut->sig.altstack_sp <= ut->sig.altstack_size;
}

static int altstack_flags(const struct uthread *ut, uint64_t sp)
{
    if (!ut->sig.altstack_size)
        return SS_DISABLE;
    return on_altstack(ut, sp) ? SS_ONSTACK : 0;
}

/* Takes the next deliverable signal off the pending sets: SIGKILL first, then
 * the thread's own (its faults), then the process's; the lowest number first. */
static int dequeue_locked(struct uthread *ut, struct kernel_siginfo *info)
{
    uint64_t own = ut->sig.pending & ~ut->sig.mask;
    uint64_t shared = ut->proc->sig.pending & ~ut->sig.mask;
    if ((own | shared) & sig_bit(SIGKILL)) {
        own &= sig_bit(SIGKILL);
        shared &= sig_bit(SIGKILL);
    }
    bool from_own = own != 0;
    uint64_t set = from_own ? own : shared;
    if (!set)
        return 0;
    int sig = __builtin_ctzll(set) + 1;
    if (from_own) {
        *info = ut->sig.info[sig - 1];
        ut->sig.pending &= ~sig_bit(sig);
    } else {
        *info = ut->proc->sig.info[sig - 1];
        ut->proc->sig.pending &= ~sig_bit(sig);
    }
    return sig;
}

/* The end of an interrupted system call, once it is known whether a handler
 * runs (with `flags`) or not. */
static void finish_syscall(struct arch_regs *regs, bool handler, uint64_t flags)
{
    if (!arch_regs_in_syscall(regs))
        return;
    long result = arch_regs_syscall_result(regs);
    bool restart = false;
    if (result == -ERESTARTNOINTR)
        restart = true;
    else if (result == -ERESTARTSYS)
        restart = !handler || (flags & SA_RESTART);
    else if (result == -ERESTARTNOHAND)
        restart = !handler;
    if (restart)
        arch_regs_syscall_restart(regs);
    else if (result == -ERESTARTSYS || result == -ERESTARTNOHAND)
        arch_regs_set_syscall_result(regs, -EINTR);
    arch_regs_forget_syscall(regs);
}

static void to_user_siginfo(struct arch_siginfo *out, int sig, const struct kernel_siginfo *in)
{
    memset(out, 0, sizeof(*out));
    out->signo = sig;
    out->code = in->code;
    switch (sig) {
    case SIGSEGV: case SIGBUS: case SIGILL: case SIGFPE: case SIGTRAP:
        if (in->code > 0 && in->code != SI_KERNEL) {
            out->fault.addr = in->addr;
            break;
        }
        __attribute__((fallthrough));
    default:
        out->child.pid = in->pid;
        out->child.uid = in->uid;
        out->child.status = in->status;
    }
}

/* Runs a handler: the frame, the new mask. Interrupts off (the return path). */
static void run_handler(struct uthread *ut, struct arch_regs *regs, int sig,
                        const struct sigaction_k *act, const struct kernel_siginfo *info,
                        uint64_t saved_mask)
{
    struct arch_siginfo user_info;
    to_user_siginfo(&user_info, sig, info);
    uint64_t sp = arch_regs_sp(regs);
    bool switch_stack = (act->flags & SA_ONSTACK) && ut->sig.altstack_size && !on_altstack(ut, sp);
    struct arch_signal_frame frame = {
        .handler = act->handler,
        .restorer = act->restorer,
        .stack_top = switch_stack ? ut->sig.altstack_sp + ut->sig.altstack_size : 0,
        .saved_mask = saved_mask,
        .altstack = {.sp = ut->sig.altstack_sp, .flags = altstack_flags(ut, sp),
                     .size = ut->sig.altstack_size},
        .info = &user_info,
        .signo = sig,
    };
    /* x86_64 Linux delivers only with a restorer; a handler outside the user
     * half could never start. Either way, and a frame that cannot be written,
     * the program dies of SIGSEGV. */
    if (!(act->flags & SA_RESTORER) || act->handler >= ARCH_USER_ADDR_END ||
        arch_signal_push(regs, &ut->arch, &frame))
        die_of_fault(regs, SIGSEGV, arch_regs_sp(regs));
}

/* One signal off the pending sets and its action. False when none was left. */
static bool deliver_one(struct uthread *ut, struct arch_regs *regs)
{
    struct process *p = ut->proc;
    struct kernel_siginfo info;
    bool irq = spin_lock(&signal_lock);
    int sig = dequeue_locked(ut, &info);
    if (!sig) {
        __atomic_fetch_and(&ut->work, ~UTHREAD_WORK_SIGNAL, __ATOMIC_RELEASE);
        spin_unlock(&signal_lock, irq);
        return false;
    }
    struct sigaction_k act = p->sig.actions[sig - 1];
    if (sig == SIGKILL || act.handler == SIG_DFL_HANDLER) {
        spin_unlock(&signal_lock, irq);
        if (default_action(sig) != ACTION_IGNORE)
            process_exit(death_status(sig));
        return true;
    }
    if (act.handler == SIG_IGN_HANDLER) {
        spin_unlock(&signal_lock, irq);
        return true;
    }
    uint64_t saved_mask = ut->sig.mask;
    ut->sig.mask |= act.mask & ~UNBLOCKABLE;
    if (!(act.flags & SA_NODEFER))
        ut->sig.mask |= sig_bit(sig);
    if (act.flags & SA_RESETHAND)
        p->sig.actions[sig - 1] = (struct sigaction_k){0};
    if (ut->sig.restore_mask) {
        saved_mask = ut->sig.saved_mask; /* rt_sigsuspend's caller's mask */
        ut->sig.restore_mask = false;
    }
    spin_unlock(&signal_lock, irq);
    finish_syscall(regs, true, act.flags);
    run_handler(ut, regs, sig, &act, &info, saved_mask);
    return true;
}

void signal_return_work(struct uthread *ut, struct arch_regs *regs)
{
    while (deliver_one(ut, regs)) {
    }
    finish_syscall(regs, false, 0);
    restore_saved_mask(ut);
}

/* ---- system calls ------------------------------------------------------------------------------ */

long sys_rt_sigaction(SYSCALL_ARGS)
{
    int sig = (int)a0;
    if (a3 != SIGSET_BYTES || !valid_signal(sig))
        return -EINVAL;
    if (a1 && (sig == SIGKILL || sig == SIGSTOP))
        return -EINVAL;
    struct sigaction_k act;
    if (a1 && copy_from_user(&act, a1, sizeof(act)))
        return -EFAULT;
    struct process *p = process_current();
    bool irq = spin_lock(&signal_lock);
    struct sigaction_k old = p->sig.actions[sig - 1];
    if (a1) {
        act.mask &= ~UNBLOCKABLE;
        p->sig.actions[sig - 1] = act;
        /* POSIX: setting a pending signal to be ignored discards it. */
        if (ignored_locked(p, sig)) {
            p->sig.pending &= ~sig_bit(sig);
            p->main->sig.pending &= ~sig_bit(sig);
        }
    }
    spin_unlock(&signal_lock, irq);
    if (a2 && copy_to_user(a2, &old, sizeof(old)))
        return -EFAULT;
    return 0;
}

long sys_rt_sigprocmask(SYSCALL_ARGS)
{
    if (a3 != SIGSET_BYTES)
        return -EINVAL;
    struct uthread *ut = uthread_current();
    uint64_t set = 0;
    if (a1) {
        if (a0 > SIG_SETMASK)
            return -EINVAL;
        if (copy_from_user(&set, a1, sizeof(set)))
            return -EFAULT;
    }
    bool irq = spin_lock(&signal_lock);
    uint64_t old = ut->sig.mask;
    if (a1) {
        uint64_t mask = a0 == SIG_BLOCK ? old | set : a0 == SIG_UNBLOCK ? old & ~set : set;
        ut->sig.mask = mask & ~UNBLOCKABLE;
        recheck_locked(ut);
    }
    spin_unlock(&signal_lock, irq);
    if (a2 && copy_to_user(a2, &old, sizeof(old)))
        return -EFAULT;
    return 0;
}

long sys_rt_sigpending(SYSCALL_ARGS)
{
    if (a1 > SIGSET_BYTES)
        return -EINVAL;
    struct uthread *ut = uthread_current();
    bool irq = spin_lock(&signal_lock);
    uint64_t pending = (ut->sig.pending | ut->proc->sig.pending) & ut->sig.mask;
    spin_unlock(&signal_lock, irq);
    return copy_to_user(a0, &pending, a1);
}

/* Waits for any signal with `mask` in force; the handler's frame restores the
 * caller's mask (Linux's saved_sigmask). */
long sys_rt_sigsuspend(SYSCALL_ARGS)
{
    if (a1 != SIGSET_BYTES)
        return -EINVAL;
    uint64_t mask;
    if (copy_from_user(&mask, a0, sizeof(mask)))
        return -EFAULT;
    struct uthread *ut = uthread_current();
    bool irq = spin_lock(&signal_lock);
    ut->sig.saved_mask = ut->sig.mask;
    ut->sig.restore_mask = true;
    ut->sig.mask = mask & ~UNBLOCKABLE;
    spin_unlock(&signal_lock, irq);
    int interrupted = signal_wait_interruptible(&pause_wait, never, NULL);
    KASSERT(interrupted); /* `never` holds only a signal ends the wait */
    return -ERESTARTNOHAND;
}

long sys_pause(SYSCALL_ARGS)
{
    int interrupted = signal_wait_interruptible(&pause_wait, never, NULL);
    KASSERT(interrupted);
    return -ERESTARTNOHAND;
}

long sys_rt_sigreturn(SYSCALL_ARGS)
{
    struct uthread *ut = uthread_current();
    struct arch_regs *regs = arch_user_regs(thread_current()->stack.top);
    uint64_t mask;
    struct arch_stack altstack;
    if (arch_signal_pop(regs, &ut->arch, &mask, &altstack)) {
        /* An unreadable or invalid frame: the program's SIGSEGV, as Linux. */
        arch_regs_forget_syscall(regs);
        signal_fault(regs, SIGSEGV, SI_KERNEL, 0);
        return arch_regs_syscall_result(regs);
    }
    bool irq = spin_lock(&signal_lock);
    ut->sig.mask = mask & ~UNBLOCKABLE;
    recheck_locked(ut);
    spin_unlock(&signal_lock, irq);
    /* uc_stack, as Linux's restore_altstack: only when not running on it. */
    if (!on_altstack(ut, arch_regs_sp(regs)) && !(altstack.flags & ~(int)(SS_DISABLE | SS_AUTODISARM))) {
        bool disable = (altstack.flags & SS_DISABLE) || altstack.size < MINSIGSTKSZ;
        ut->sig.altstack_sp = disable ? 0 : altstack.sp;
        ut->sig.altstack_size = disable ? 0 : altstack.size;
        ut->sig.altstack_flags = disable ? SS_DISABLE : 0;
    }
    __atomic_fetch_or(&ut->work, UTHREAD_WORK_IRET, __ATOMIC_RELEASE);
    return arch_regs_syscall_result(regs); /* the restored rax, which the entry stores back */
}

long sys_sigaltstack(SYSCALL_ARGS)
{
    struct uthread *ut = uthread_current();
    uint64_t sp = arch_regs_sp(arch_user_regs(thread_current()->stack.top));
    struct arch_stack old = {
        .sp = ut->sig.altstack_sp,
        .flags = altstack_flags(ut, sp),
        .size = ut->sig.altstack_size,
    };
    if (a0) {
        struct arch_stack ss;
        if (copy_from_user(&ss, a0, sizeof(ss)))
            return -EFAULT;
        if (on_altstack(ut, sp))
            return -EPERM;
        int mode = ss.flags & ~(int)SS_AUTODISARM;
        if (mode != SS_DISABLE && mode != SS_ONSTACK && mode != 0)
            return -EINVAL;
        if (mode == SS_DISABLE) {
            ss.sp = ss.size = 0;
        } else if (ss.size < MINSIGSTKSZ) {
            return -ENOMEM;
        }
        ut->sig.altstack_sp = ss.sp;
        ut->sig.altstack_size = ss.size;
        ut->sig.altstack_flags = mode == SS_DISABLE ? SS_DISABLE : 0;
    }
    if (a1 && copy_to_user(a1, &old, sizeof(old)))
        return -EFAULT;
    return 0;
}

/* ---- kill, tgkill, tkill --------------------------------------------------------------------- */

int signal_kill_one(struct process *p, int sig, int code)
{
    if (!valid_signal(sig))
        return sig == 0 ? 0 : -EINVAL;
    struct process *self = process_current();
    struct kernel_siginfo info = {.code = code, .pid = self ? self->pid : 0};
    signal_send_process(p, sig, &info);
    return 0;
}

struct kill_ctx {
    int pid, sig, found, self;
};

/* A process's group: itself until process groups exist (then its pgid). */
static int group_of(const struct process *p)
{
    return p->pid;
}

struct group_ctx {
    int pgrp, sig;
};

static int send_to_group(struct process *p, void *arg)
{
    struct group_ctx *g = arg;
    if (group_of(p) == g->pgrp)
        signal_send_process(p, g->sig, &kernel_info);
    return 0;
}

void signal_send_group(int pgrp, int sig)
{
    struct group_ctx g = {pgrp, sig};
    process_for_each(send_to_group, &g);
}

/* kill(-1): every process but init and the caller; kill(0) and kill(-pgrp):
 * the group, where a process is its own group until process groups exist. */
static int kill_matching(struct process *p, void *arg)
{
    struct kill_ctx *k = arg;
    bool match = k->pid == -1  ? p->pid != 1 && p->pid != k->self
                 : k->pid > 0 ? p->pid == k->pid
                              : group_of(p) == -k->pid;
    if (match && p->state == PROCESS_RUNNING) {
        k->found++;
        signal_kill_one(p, k->sig, SI_USER);
    } else if (match && k->pid > 0) {
        k->found++; /* a zombie: exists, takes nothing */
    }
    return 0;
}

long sys_kill(SYSCALL_ARGS)
{
    int pid = (int)a0, sig = (int)a1;
    if (sig < 0 || sig > SIGNAL_COUNT)
        return -EINVAL;
    struct kill_ctx k = {.pid = pid, .sig = sig, .self = process_current()->pid};
    if (pid == 0)
        k.pid = -k.self;
    if (pid == (int)0x80000000)
        return -ESRCH; /* -INT_MIN has no group */
    process_for_each(kill_matching, &k);
    return k.found ? 0 : -ESRCH;
}

struct tkill_ctx {
    int tgid, tid, sig, found;
};

static int tkill_matching(struct process *p, void *arg)
{
    struct tkill_ctx *k = arg;
    if (k->tgid > 0 && p->pid != k->tgid)
        return 0;
    struct uthread *ut = p->threads;
    while (ut && ((int)ut->tid != k->tid || ut->exited))
        ut = ut->next_thread;
    if (!ut)
        return 0;
    k->found = 1;
    if (k->sig && alive(p)) {
        struct kernel_siginfo info = {.code = SI_TKILL, .pid = process_current()->pid};
        signal_send_thread(ut, k->sig, &info);
    }
    return 1;
}

static long tkill(int tgid, int tid, int sig)
{
    if (tid <= 0 || sig < 0 || sig > SIGNAL_COUNT)
        return -EINVAL;
    struct tkill_ctx k = {tgid, tid, sig, 0};
    process_for_each(tkill_matching, &k);
    return k.found ? 0 : -ESRCH;
}

long sys_tgkill(SYSCALL_ARGS)
{
    if ((int)a0 <= 0)
        return -EINVAL;
    return tkill((int)a0, (int)a1, (int)a2);
}

long sys_tkill(SYSCALL_ARGS)
{
    return tkill(0, (int)a0, (int)a1);
}
