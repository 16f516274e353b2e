/*
 * clone, fork and vfork: a new process that copies the caller (its address
 * space copy-on-write, its files, its signal actions), or a new thread of the
 * caller's process. include/proc/process.h has the model.
 *
 * The new thread starts from a copy of the caller's user registers (taken from
 * the top of the caller's kernel stack) with rax = 0, on the stack clone was
 * given, and returns to ring 3 by IRETQ; its FPU state is the caller's live one.
 */
#include "arch/uaccess.h"
#include "base/panic.h"
#include "fs/fdtable.h"
#include "lib/errno.h"
#include "lib/string.h"
#include "mm/heap.h"
#include "proc/process.h"
#include "proc/signal.h"
#include "proc/syscall.h"

#define CSIGNAL 0x000000ff
#define CLONE_VM 0x00000100
#define CLONE_FS 0x00000200
#define CLONE_FILES 0x00000400
#define CLONE_SIGHAND 0x00000800
#define CLONE_PIDFD 0x00001000
#define CLONE_PTRACE 0x00002000
#define CLONE_VFORK 0x00004000
#define CLONE_PARENT 0x00008000
#define CLONE_THREAD 0x00010000
#define CLONE_NEWNS 0x00020000
#define CLONE_SYSVSEM 0x00040000
#define CLONE_SETTLS 0x00080000
#define CLONE_PARENT_SETTID 0x00100000
#define CLONE_CHILD_CLEARTID 0x00200000
#define CLONE_DETACHED 0x00400000
#define CLONE_UNTRACED 0x00800000
#define CLONE_CHILD_SETTID 0x01000000
#define NSIG 64

/* What Exo does with each flag: the rest (namespaces, pidfd, ptrace, io) -EINVAL. */
#define CLONE_SUPPORTED                                                                     \
    (CSIGNAL | CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_VFORK |             \
     CLONE_PARENT | CLONE_THREAD | CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID |      \
     CLONE_CHILD_CLEARTID | CLONE_DETACHED | CLONE_UNTRACED | CLONE_CHILD_SETTID)

struct clone_args_k {
    uint64_t flags, stack, parent_tid, child_tid, tls;
};

/* The first code of a cloned thread: its registers, then ring 3. */
static void clone_start(void *arg)
{
    struct uthread *ut = arg;
    __atomic_store_n(&ut->thread, thread_current(), __ATOMIC_RELEASE);
    thread_set_user(ut);
    ipc_thread_start(ut);
    if (ut->set_child_tid) {
        uint32_t tid = ut->tid;
        (void)!copy_to_user(ut->set_child_tid, &tid, sizeof(tid)); /* Linux ignores a fault too */
    }
    arch_resume_user(&ut->start_regs, thread_current()->stack.top);
}

/* The new thread's registers and TLS from the caller's (running) ones. */
static void start_like_caller(struct uthread *child, struct uthread *self,
                              const struct clone_args_k *args)
{
    arch_user_copy_current(&self->arch, &child->arch);
    child->start_regs = *arch_user_regs(self->thread->stack.top);
    child->start_regs.rax = 0;
    if (args->stack)
        child->start_regs.rsp = args->stack;
    if (args->flags & CLONE_SETTLS)
        child->arch.fs_base = args->tls;
    if (args->flags & CLONE_CHILD_SETTID)
        child->set_child_tid = args->child_tid;
    if (args->flags & CLONE_CHILD_CLEARTID)
        child->clear_child_tid = args->child_tid;
    signal_thread_init(child, self, !(args->flags & CLONE_THREAD));
    child->cpu_mask = self->cpu_mask;
}

static int start_thread(struct uthread *ut, const char *name)
{
    struct thread *t = thread_spawn(clone_start, ut, name, THREAD_ANY_CPU);
    if (!t)
        return -ENOMEM;
    __atomic_store_n(&ut->thread, t, __ATOMIC_RELEASE);
    return 0;
}

static long clone_thread(struct process *p, struct uthread *self, const struct clone_args_k *args)
{
    process_collect_threads(p); /* bounds what ended threads hold */
    struct uthread *ut = uthread_new(p);
    if (!ut)
        return -ENOMEM;
    start_like_caller(ut, self, args);
    if (!process_add_thread(p, ut)) {
        uthread_free(ut);
        return -EINTR; /* the process is ending: this thread goes too */
    }
    long tid = ut->tid;
    if ((args->flags & CLONE_PARENT_SETTID) &&
        copy_to_user(args->parent_tid, &(uint32_t){(uint32_t)tid}, sizeof(uint32_t)) != 0) {
        /* Linux writes it after the thread exists and ignores a fault. */
    }
    if (start_thread(ut, p->name)) {
        process_remove_thread(p, ut);
        uthread_free(ut);
        return -ENOMEM;
    }
    return tid;
}

/* The files of the parent, each with one more reference, and its working
 * directory (include/fs/fdtable.h). */
static void copy_files(struct process *child, struct process *parent)
{
    fdtable_fork(child, parent);
}

static bool vfork_done(void *ctx)
{
    return __atomic_load_n(&((struct process *)ctx)->vfork_done, __ATOMIC_ACQUIRE);
}

static long clone_process(struct process *parent, struct uthread *self,
                          const struct clone_args_k *args)
{
    struct process *p = process_alloc(parent->name);
    if (!p)
        return -ENOMEM;
    int error = 0;
    if (args->flags & CLONE_VM) {
        vmspace_get(parent->vm);
        p->vm = parent->vm;
    } else {
        error = vmspace_fork(parent->vm, &p->vm);
    }
    p->main = error ? NULL : uthread_new(p);
    if (!error && !p->main)
        error = -ENOMEM;
    if (error) {
        process_free(p);
        return error;
    }
    copy_files(p, parent);
    signal_process_fork(p, parent);
    memcpy(p->rlimits, parent->rlimits, sizeof(p->rlimits));
    p->umask = parent->umask;
    p->exit_signal = (int)(args->flags & CSIGNAL);
    start_like_caller(p->main, self, args);
    bool irq = process_lock_acquire();
    p->parent = (args->flags & CLONE_PARENT) && parent->parent ? parent->parent : parent;
    p->pgid = parent->pgid;
    p->sid = parent->sid;
    process_lock_release(irq);
    process_publish(p);
    long pid = p->pid;
    if (args->flags & CLONE_PARENT_SETTID)
        (void)!copy_to_user(args->parent_tid, &(uint32_t){(uint32_t)pid}, sizeof(uint32_t));
    if (start_thread(p->main, p->name)) {
        process_unpublish(p);
        process_free(p);
        return -ENOMEM;
    }
    /* From here the child may end and be reaped by another thread of ours at
     * any time; vfork waits on it only while it cannot be (it cannot end
     * without releasing us first, and the release is its last touch of p
     * before the zombie state). */
    if (args->flags & CLONE_VFORK)
        while (!vfork_done(p))
            wait_queue_wait(&p->vfork_wait, vfork_done, p);
    return pid;
}

static long do_clone(const struct clone_args_k *args)
{
    uint64_t flags = args->flags;
    if (flags & ~(uint64_t)CLONE_SUPPORTED)
        return -EINVAL;
    if ((flags & CLONE_THREAD) && !(flags & CLONE_SIGHAND))
        return -EINVAL;
    if ((flags & CLONE_SIGHAND) && !(flags & CLONE_VM))
        return -EINVAL;
    if ((flags & CSIGNAL) > NSIG)
        return -EINVAL;
    /* Files and handlers live in struct process: a thread shares them, a
     * process copies them; sharing them between two processes is not offered. */
    if (!(flags & CLONE_THREAD) && (flags & (CLONE_FILES | CLONE_SIGHAND)))
        return -EINVAL;
    struct uthread *self = uthread_current();
    if (flags & CLONE_THREAD)
        return clone_thread(self->proc, self, args);
    return clone_process(self->proc, self, args);
}

long sys_clone(SYSCALL_ARGS)
{
    /* x86_64 order: flags, stack, parent_tid, child_tid, tls */
    struct clone_args_k args = {.flags = a0, .stack = a1, .parent_tid = a2, .child_tid = a3,
                                .tls = a4};
    return do_clone(&args);
}

long sys_fork(SYSCALL_ARGS)
{
    struct clone_args_k args = {.flags = SIGCHLD};
    return do_clone(&args);
}

long sys_vfork(SYSCALL_ARGS)
{
    struct clone_args_k args = {.flags = CLONE_VM | CLONE_VFORK | SIGCHLD};
    return do_clone(&args);
}
