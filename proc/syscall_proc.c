/*
 * The process-life system calls: wait4, waitid, exit, exit_group, identity,
 * process groups and sessions, set_tid_address, futex, sched_yield and CPU
 * affinity. clone/fork/vfork are in proc/fork.c, execve in proc/exec.c.
 */
#include "arch/smp.h"
#include "arch/uaccess.h"
#include "lib/errno.h"
#include "lib/string.h"
#include "proc/futex.h"
#include "proc/process.h"
#include "proc/syscall.h"

#define WNOHANG 0x00000001
#define WUNTRACED 0x00000002
#define WSTOPPED WUNTRACED
#define WEXITED 0x00000004
#define WCONTINUED 0x00000008
#define WNOWAIT 0x01000000
#define __WNOTHREAD 0x20000000
#define __WALL 0x40000000
#define __WCLONE 0x80000000u
#define P_ALL 0
#define P_PID 1
#define P_PGID 2
#define SIGCHLD 17
#define CLD_EXITED 1
#define CLD_KILLED 2
#define RUSAGE_BYTES 144

/* ---- wait4 and waitid ------------------------------------------------------------- */

struct wait_request {
    int kind;         /* P_ALL, P_PID, P_PGID */
    int id;
    unsigned options;
};

/* Linux's eligible_child: the id, and __WCLONE/__WALL against the exit signal. */
static bool eligible(const struct wait_request *w, const struct process *c)
{
    if (c->state == PROCESS_REAPING)
        return false;
    if (w->kind == P_PID && c->pid != w->id)
        return false;
    if (w->kind == P_PGID && c->pgid != w->id)
        return false;
    if (w->options & __WALL)
        return true;
    return (c->exit_signal != SIGCHLD) == ((w->options & __WCLONE) != 0);
}

/*
 * One look at the caller's children: a zombie it may take (state REAPING
 * unless WNOWAIT), or NULL with *any telling whether an eligible child exists.
 */
static struct process *find_zombie(struct process *self, const struct wait_request *w, bool *any,
                                   int *pid, int *status)
{
    *any = false;
    bool irq = process_lock_acquire();
    struct process *found = NULL;
    for (struct process *c = process_first_locked(); c && !found; c = c->next) {
        if (c->parent != self || !eligible(w, c))
            continue;
        *any = true;
        if (c->state != PROCESS_ZOMBIE)
            continue;
        found = c;
        *pid = c->pid;
        *status = c->exit_status;
        if (!(w->options & WNOWAIT))
            c->state = PROCESS_REAPING;
    }
    process_lock_release(irq);
    return found;
}

static bool child_event(void *ctx)
{
    uint32_t *seen = ctx;
    return __atomic_load_n(&process_current()->child_events, __ATOMIC_ACQUIRE) != seen[0] ||
           (__atomic_load_n(&uthread_current()->work, __ATOMIC_ACQUIRE) &
            (UTHREAD_WORK_KILL | UTHREAD_WORK_EXIT));
}

/* Waits for a child as w asks: its pid (0: none yet, WNOHANG), or -ECHILD/-EINTR. */
static long wait_child(const struct wait_request *w, int *status)
{
    struct process *self = process_current();
    for (;;) {
        uint32_t seen = __atomic_load_n(&self->child_events, __ATOMIC_ACQUIRE);
        bool any;
        int pid = 0;
        struct process *c = find_zombie(self, w, &any, &pid, status);
        if (c) {
            if (!(w->options & WNOWAIT))
                (void)process_reap_child(c);
            return pid;
        }
        if (!any)
            return -ECHILD;
        if (w->options & WNOHANG)
            return 0;
        if (__atomic_load_n(&uthread_current()->work, __ATOMIC_ACQUIRE) &
            (UTHREAD_WORK_KILL | UTHREAD_WORK_EXIT))
            return -EINTR;
        wait_queue_wait(&self->child_wait, child_event, &seen);
    }
}

long sys_wait4(SYSCALL_ARGS)
{
    int pid = (int)a0;
    unsigned options = (unsigned)a2;
    if (options & ~(unsigned)(WNOHANG | WUNTRACED | WCONTINUED | __WNOTHREAD | __WCLONE | __WALL))
        return -EINVAL;
    if (pid == INT32_MIN)
        return -ESRCH;
    struct wait_request w = {.kind = P_PID, .id = pid, .options = options | WEXITED};
    if (pid == -1) {
        w.kind = P_ALL;
    } else if (pid <= 0) {
        w.kind = P_PGID;
        w.id = pid == 0 ? process_current()->pgid : -pid;
    }
    int status = 0;
    long got = wait_child(&w, &status);
    if (got > 0 && a1 && copy_to_user(a1, &status, sizeof(status)))
        return -EFAULT; /* Linux has reaped it all the same */
    if (got >= 0 && a3) {
        static const uint8_t zero_rusage[RUSAGE_BYTES];
        if (copy_to_user(a3, zero_rusage, sizeof(zero_rusage)))
            return -EFAULT;
    }
    return got;
}

struct siginfo_wait {
    int32_t signo, errno_value, code, pad;
    int32_t pid, uid, status;
};

long sys_waitid(SYSCALL_ARGS)
{
    int kind = (int)a0, id = (int)a1;
    unsigned options = (unsigned)a3;
    if (options & ~(unsigned)(WNOHANG | WNOWAIT | WEXITED | WSTOPPED | WCONTINUED | __WNOTHREAD |
                              __WCLONE | __WALL))
        return -EINVAL;
    if (!(options & (WEXITED | WSTOPPED | WCONTINUED)))
        return -EINVAL;
    struct wait_request w = {.kind = kind, .id = id, .options = options};
    if (kind == P_PID || kind == P_PGID) {
        if (id < 0 || (kind == P_PID && id == 0))
            return -EINVAL;
        if (kind == P_PGID && id == 0)
            w.id = process_current()->pgid;
    } else if (kind != P_ALL) {
        return -EINVAL;
    }
    if (!(options & WEXITED)) {
        /* Only stops and continues asked for: Exo has neither, so no child ever
         * reports; the eligibility check still answers ECHILD. */
        w.options |= WNOHANG;
    }
    int status = 0;
    long got = wait_child(&w, &status);
    if (got < 0)
        return got;
    struct siginfo_wait info = {0};
    if (got > 0) {
        bool killed = !PROCESS_EXITED(status);
        info = (struct siginfo_wait){.signo = SIGCHLD, .code = killed ? CLD_KILLED : CLD_EXITED,
                                     .pid = (int32_t)got,
                                     .status = killed ? PROCESS_SIGNAL(status)
                                                      : PROCESS_EXIT_CODE(status)};
    }
    if (a2 && copy_to_user(a2, &info, sizeof(info)))
        return -EFAULT;
    if (a4) {
        static const uint8_t zero_rusage[RUSAGE_BYTES];
        if (copy_to_user(a4, zero_rusage, sizeof(zero_rusage)))
            return -EFAULT;
    }
    return 0;
}

/* ---- exit ------------------------------------------------------------------------ */

long sys_exit(SYSCALL_ARGS)
{
    uthread_exit((int)((a0 & 0xff) << 8));
}

long sys_exit_group(SYSCALL_ARGS)
{
    process_exit((int)((a0 & 0xff) << 8));
}

/* ---- identity --------------------------------------------------------------------- */

long sys_getpid(SYSCALL_ARGS)
{
    return process_current()->pid;
}

/* The null system call of the benchmarks: no lock, no allocation. The parent
 * pointer is read once; a reparenting writes it under process_lock. */
long sys_getppid(SYSCALL_ARGS)
{
    struct process *parent = __atomic_load_n(&process_current()->parent, __ATOMIC_RELAXED);
    return parent ? parent->pid : 0;
}

long sys_gettid(SYSCALL_ARGS)
{
    return uthread_current()->tid;
}

long sys_set_tid_address(SYSCALL_ARGS)
{
    struct uthread *ut = uthread_current();
    ut->clear_child_tid = a0;
    return ut->tid;
}

/* ---- process groups and sessions --------------------------------------------------- */

/* The process pid names (0: the caller), lock held. */
static struct process *target_locked(int pid)
{
    return pid == 0 ? process_current() : process_find_locked(pid);
}

long sys_getpgid(SYSCALL_ARGS)
{
    bool irq = process_lock_acquire();
    struct process *p = (int)a0 < 0 ? NULL : target_locked((int)a0);
    long result = p ? p->pgid : -ESRCH;
    process_lock_release(irq);
    return result;
}

long sys_getpgrp(SYSCALL_ARGS)
{
    return sys_getpgid(0, 0, 0, 0, 0, 0);
}

long sys_getsid(SYSCALL_ARGS)
{
    bool irq = process_lock_acquire();
    struct process *p = (int)a0 < 0 ? NULL : target_locked((int)a0);
    long result = p ? p->sid : -ESRCH;
    process_lock_release(irq);
    return result;
}

static bool group_exists_locked(int pgid, int sid)
{
    for (struct process *q = process_first_locked(); q; q = q->next) {
        if (q->pgid == pgid && q->sid == sid && q->state != PROCESS_REAPING)
            return true;
    }
    return false;
}

/* Linux's setpgid: the caller or a child of it not yet exec'd (EACCES), in the
 * caller's session and not its leader (EPERM), into a group of that session. */
long sys_setpgid(SYSCALL_ARGS)
{
    int pid = (int)a0, pgid = (int)a1;
    if (pgid < 0)
        return -EINVAL;
    struct process *self = process_current();
    bool irq = process_lock_acquire();
    struct process *p = pid < 0 ? NULL : target_locked(pid);
    long error = 0;
    if (!p || (p != self && p->parent != self))
        error = -ESRCH;
    else if (p != self && p->did_exec)
        error = -EACCES;
    else if (p->sid == p->pid || p->sid != self->sid)
        error = -EPERM;
    if (!error && pgid == 0)
        pgid = p->pid;
    if (!error && pgid != p->pid && !group_exists_locked(pgid, self->sid))
        error = -EPERM;
    if (!error)
        p->pgid = pgid;
    process_lock_release(irq);
    return error;
}

long sys_setsid(SYSCALL_ARGS)
{
    struct process *self = process_current();
    bool irq = process_lock_acquire();
    long result = self->pid;
    for (struct process *q = process_first_locked(); q; q = q->next) {
        if (q->pgid == self->pid && q->state != PROCESS_REAPING)
            result = -EPERM; /* a group with our pid exists: we would not lead it alone */
    }
    if (result > 0)
        self->pgid = self->sid = self->pid;
    process_lock_release(irq);
    return result;
}

/* ---- futex, scheduling ----------------------------------------------------------- */

long sys_futex(SYSCALL_ARGS)
{
    return futex_call(a0, (int)a1, (uint32_t)a2, a3, a4, (uint32_t)a5);
}

long sys_sched_yield(SYSCALL_ARGS)
{
    thread_yield();
    return 0;
}

/* Linux's cpumask as the user sees it: whole longs covering the CPUs online. */
static size_t mask_bytes(void)
{
    return (arch_cpu_count() + 63) / 64 * 8;
}

static uint64_t online_mask(void)
{
    unsigned n = arch_cpu_count();
    return n >= 64 ? ~0ull : (1ull << n) - 1;
}

/* The thread tid names (0: the caller), lock held. */
static struct uthread *thread_target_locked(int tid)
{
    return tid == 0 ? uthread_current() : tid < 0 ? NULL : uthread_find_locked(tid);
}

long sys_sched_getaffinity(SYSCALL_ARGS)
{
    size_t bytes = mask_bytes();
    if (a1 < bytes || (a1 & 7))
        return -EINVAL;
    bool irq = process_lock_acquire();
    struct uthread *ut = thread_target_locked((int)a0);
    uint64_t mask = ut ? (ut->cpu_mask ? ut->cpu_mask : online_mask()) : 0;
    process_lock_release(irq);
    if (!ut)
        return -ESRCH;
    uint64_t out[ARCH_MAX_CPUS / 64 + 1] = {mask};
    return copy_to_user(a2, out, bytes) ? -EFAULT : (long)bytes;
}

/*
 * Exo pins a thread to one CPU or lets it run anywhere: a mask of every CPU
 * online means anywhere, any other the lowest CPU in it. The mask is kept as
 * given, for sched_getaffinity.
 */
long sys_sched_setaffinity(SYSCALL_ARGS)
{
    uint64_t mask = 0;
    size_t take = a1 < sizeof(mask) ? a1 : sizeof(mask);
    if (copy_from_user(&mask, a2, take))
        return -EFAULT;
    mask &= online_mask();
    if (!mask)
        return -EINVAL;
    bool irq = process_lock_acquire();
    struct uthread *ut = thread_target_locked((int)a0);
    if (ut) {
        __atomic_store_n(&ut->cpu_mask, mask == online_mask() ? 0 : mask, __ATOMIC_RELEASE);
        if (ut != uthread_current())
            __atomic_fetch_or(&ut->work, UTHREAD_WORK_AFFINITY, __ATOMIC_RELEASE);
    }
    process_lock_release(irq);
    if (!ut)
        return -ESRCH;
    if (ut == uthread_current())
        uthread_apply_affinity(ut); /* off to the chosen CPU now */
    return 0;
}
