/*
 * process: user processes, their threads, open files, and the system calls.
 *
 * A process owns an address space (include/mm/vmspace.h, shared with a vfork
 * child until it execs), a table of open files and its threads (the main thread
 * and those clone made with CLONE_THREAD, which share all of it). Each user thread is a
 * scheduler thread (include/sched/thread.h) whose `user` field points to its
 * struct uthread; the scheduler's switch hook (installed by process_init) saves
 * and loads its FPU state, TLS bases and address space. A user thread's kernel
 * stack has its user registers at the top (include/arch/user.h).
 *
 * Life: process_spawn loads an ELF file from the initrd into a new address
 * space, builds the Linux initial stack and starts the main thread in ring 3;
 * fork/clone copy a process (proc/fork.c), execve replaces its image
 * (proc/exec.c). exit ends one thread; exit_group, a fatal fault or a kill end
 * them all. When the last thread ends, the process becomes a zombie holding its
 * exit status, its children go to init (or, without one, are reaped by the
 * kernel), and its waiter collects it and frees everything: the threads, the
 * address space with every frame, the files. The waiter is the parent (wait4,
 * waitid) or, for a process the kernel started (parent NULL), process_wait (the
 * shell's `run`, the init launcher, a test).
 *
 * Exit status: the wait(2) encoding, (code & 0xff) << 8 for an exit, the signal
 * number for a kill (PROCESS_EXITED/PROCESS_SIGNAL decode it).
 *
 * Locking: process_lock (proc/process.c) protects the process list, pids, the
 * parent links, thread lists, and every process's state and exit status; it
 * nests above wait-queue and run-queue locks (a child's end wakes its parent
 * under it, so the parent cannot be freed meanwhile). fd_lock protects the file
 * table, which the process's threads share (include/fs/fdtable.h has its
 * functions). Files (struct file) are reference-counted; a call holds a
 * reference for as long as it uses one.
 *
 * A user fault never stops the kernel: it prints
 *   exo: process <pid> (<name>) killed by SIG<X> at <addr>, ip <ip>
 * and ends the process alone.
 */
#ifndef EXO_PROC_PROCESS_H
#define EXO_PROC_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/time.h"
#include "arch/user.h"
#include "mm/vmspace.h"
#include "proc/signal.h"
#include "sched/sync.h"
#include "sched/thread.h"

#define PROCESS_NAME_BYTES 16
#define PROCESS_MAX_FDS 1024       /* the fd table's size: RLIMIT_NOFILE's default soft limit */
#define PROCESS_ARG_MAX 32       /* argv or envp strings process_spawn takes */
#define PROCESS_STACK_TOP 0x7ffffff00000ull
#define PROCESS_STACK_BYTES (8ull << 20)
#define PROCESS_PIE_BASE 0x555555554000ull /* Linux's ELF_ET_DYN_BASE, unrandomised */
#define PROCESS_USTACK_BYTES (128u * 1024) /* the most the initial stack's block takes */
#define PROCESS_FD_CLOEXEC 1u              /* fd_flags: FD_CLOEXEC */

#define PROCESS_EXITED(status) (((status) & 0x7f) == 0)
#define PROCESS_EXIT_CODE(status) (((status) >> 8) & 0xff)
#define PROCESS_SIGNAL(status) ((status) & 0x7f)

/* ---- files --------------------------------------------------------------------- */

struct file;

struct kstat;

/* What a kind of file can do. NULL entries: the call answers Linux's errno for
 * a file that cannot (EINVAL for read/write, ENOTTY for ioctl, ESPIPE for
 * pread/lseek, ENOTDIR for getdents; a file without poll is always ready for
 * reading and writing). User buffers are user addresses, copied with
 * include/arch/uaccess.h; the callers have checked the access mode (O_RDONLY
 * files never see write) and that the buffer lies in the user half. */
struct file_ops {
    long (*read)(struct file *f, uintptr_t user_buf, size_t len);
    long (*write)(struct file *f, uintptr_t user_buf, size_t len);
    long (*ioctl)(struct file *f, unsigned long request, uintptr_t user_arg);
    void (*release)(struct file *f); /* the last reference went */
    long (*pread)(struct file *f, uintptr_t user_buf, size_t len, uint64_t offset);
    long (*lseek)(struct file *f, int64_t offset, unsigned whence);
    int (*stat)(struct file *f, struct kstat *out);
    long (*getdents)(struct file *f, uintptr_t user_buf, size_t len);
    unsigned (*poll)(struct file *f); /* POLL* bits ready now (include/fs/poll.h) */
};

struct file {
    const struct file_ops *ops;
    uint32_t refs;     /* (A) */
    uint32_t flags;    /* (A) O_* as opened; F_SETFL changes O_NONBLOCK/O_APPEND */
    uint64_t pos;      /* the offset, shared by dup'd fds (a racy update loses one) */
    void *private;     /* the kind's own */
};

/* Takes and drops references; a file whose count drops to 0 is released.
 * Inline: IPC's fastpath holds its endpoint file for each call. */
static inline void file_get(struct file *f)
{
    __atomic_fetch_add(&f->refs, 1, __ATOMIC_RELAXED);
}

static inline void file_put(struct file *f)
{
    if (__atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) == 0 && f->ops->release)
        f->ops->release(f);
}

/* The console as a file (kernel/tty.c registers it at boot); each new process
 * gets it as fds 0, 1 and 2. */
void process_set_console(struct file *console);
struct file *process_console(void);

/* ---- processes and threads ----------------------------------------------------------- */

enum process_state {
    PROCESS_RUNNING = 1,
    PROCESS_ZOMBIE,  /* ended, waiting for its waiter */
    PROCESS_REAPING, /* a waiter is freeing it */
};

struct process;
struct inode;

/* Resource limits (getrlimit, prlimit64): Linux's RLIMIT_* numbers. */
#define PROCESS_RLIMITS 16
#define RLIMIT_INFINITY UINT64_MAX
struct process_rlimit {
    uint64_t cur, max;
};
/* A new process's limits and umask (Linux's defaults; RLIMIT_NOFILE's soft
 * limit is the size of the fd table). proc/sys_misc.c. */
void process_limits_init(struct process *p);

/* Bits of struct uthread's work word: why the return to ring 3 must stop. */
#define UTHREAD_WORK_KILL (1u << 0)  /* end the process (pending_signal says why) */
#define UTHREAD_WORK_IRET (1u << 1)  /* registers were replaced: return by IRETQ */
#define UTHREAD_WORK_SIGNAL (1u << 2) /* a signal may be deliverable (proc/signal.h) */
#define UTHREAD_WORK_EXIT (1u << 3)  /* end this thread alone (another thread execs) */
#define UTHREAD_WORK_AFFINITY (1u << 4) /* cpu_mask changed: re-pin before going back */

#define UTHREAD_IPC_WAIT_WORDS 64
struct uthread {
    struct thread *thread;
    struct process *proc;
    uint32_t tid;
    uint32_t work;               /* (A) UTHREAD_WORK_*; read by the return path */
    struct arch_user_state arch; /* FPU area, TLS bases (owner, or the switch hook) */
    void *fpu_block;             /* the allocation fpu points into */
    uint64_t clear_child_tid;    /* set_tid_address */
    uint64_t robust_list;        /* set_robust_list: kept, not used yet */
    struct signal_thread sig;    /* mask, own pending signals, alternate stack */
    uint64_t entry, stack;       /* where ring 3 starts (process_spawn) */
    /* In arch_read_timestamp ticks, which the switch reads without converting. */
    /* Its CPU time in timestamp ticks, kept by the switch hook as one word:
     * while it is off a CPU, that time; while it runs, that time minus the
     * timestamp it went on at (so the time now is cpu_clock + the timestamp:
     * uthread_cpu_ticks). A switch adds the timestamp to the one going off
     * and subtracts it from the one coming on, one instruction each. */
    uint64_t cpu_clock;
    struct arch_regs start_regs; /* where ring 3 starts (clone: the parent's, changed) */
    uint64_t set_child_tid;      /* CLONE_CHILD_SETTID: the child writes its tid there */
    struct uthread *next_thread; /* the process's thread list (process_lock) */
    bool exited;                 /* its thread has ended (process_lock) */
    uint64_t cpu_mask;           /* sched_setaffinity's mask as given (bit per CPU) */
    int futex_bucket;            /* (futex bucket lock) where it waits, -1: nowhere */
    void *futex_waiter;          /* (futex bucket lock) its waiter record, or NULL */
    /* IPC's fastpath wait record (proc/ipc.c's struct ipc_wait, opaque here): a
     * thread parked there keeps no kernel frame, so its record cannot be on its
     * stack. The thread's own, or a peer's under the endpoint lock. Made by
     * ipc_thread_start as the thread starts. */
    uint64_t ipc_wait[UTHREAD_IPC_WAIT_WORDS];
};

struct process {
    int pid;
    struct process *parent;      /* NULL: started by the kernel */
    char name[PROCESS_NAME_BYTES];
    struct vmspace *vm;
    struct uthread *main;        /* the first thread; freed with the process */
    struct uthread *threads;     /* every thread not yet collected (process_lock) */
    int live_threads;            /* threads not yet ended (process_lock) */
    int state;                   /* enum process_state (process_lock) */
    int exit_status;             /* wait(2) encoding, once a zombie (process_lock) */
    int pending_signal;          /* with UTHREAD_WORK_KILL (process_lock) */
    bool group_exit;             /* every thread is ending; exit_status set (process_lock) */
    bool orphan;                 /* parent ended with no init to adopt it: the kernel reaps */
    bool did_exec;               /* execve succeeded once (setpgid's EACCES) */
    int exit_signal;             /* sent to the parent at the end: SIGCHLD, or 0 */
    int pgid, sid;               /* process group and session (process_lock) */
    uint32_t child_events;       /* (A) bumped when a child ends: wait4's wake-up test */
    struct wait_queue child_wait;/* wait4/waitid sleep here */
    bool vfork_done;             /* (A) the vfork child execed or ended: its parent goes on */
    struct wait_queue vfork_wait;/* the vfork parent sleeps here */
    struct spinlock fd_lock;     /* protects fds, fd_flags, fd_end (include/fs/fdtable.h) */
    struct file *fds[PROCESS_MAX_FDS];
    unsigned fd_end;             /* (L) fd_lock, (A) read: every fd at or above it is closed */
    uint8_t fd_flags[PROCESS_MAX_FDS]; /* PROCESS_FD_CLOEXEC per fd (with fds) */
    struct inode *cwd;           /* the working directory (initrd nodes live for good) */
    struct signal_shared sig;    /* actions, process-wide pending signals */
    struct process_rlimit rlimits[PROCESS_RLIMITS]; /* (process_lock); fork copies them */
    uint32_t umask;              /* file-mode creation mask; fork copies it */
    struct wait_queue exit_wait; /* process_wait sleeps here */
    struct process *next;        /* the process list (process_lock) */
};

/* Installs the switch hook, the user hooks and the system-call table. Boot, once. */
void process_init(void);

/*
 * Starts `path` from the initrd as a new process with argv/envp (NULL-terminated
 * arrays of kernel strings, at most PROCESS_ARG_MAX each; envp may be NULL) and
 * parent `parent` (NULL: the kernel). Returns the process, running, or NULL with
 * *error: -ENOENT, -ENOEXEC (with a console line saying why), -ENOMEM, -E2BIG.
 */
struct process *process_spawn(const char *path, const char *const *argv, const char *const *envp,
                              struct process *parent, int *error);

/* The same with `output` (when not NULL) as fds 1 and 2 instead of the console:
 * the self-test captures a user suite's KTAP this way. */
struct process *process_spawn_output(const char *path, const char *const *argv,
                                     const char *const *envp, struct process *parent,
                                     struct file *output, int *error);

/* Waits until p has ended, frees it and returns its exit status (wait(2)
 * encoding). Each process is waited for exactly once. */
int process_wait(struct process *p);

/* Makes p the process that adopts orphans (init=); NULL: the kernel reaps them. */
void process_set_init(struct process *p);

/* Sends `signal` (a Linux number) to the process with that pid, as kill(2)
 * from the kernel would. Returns -ESRCH when no running process has that pid. */
int process_kill(int pid, int signal);

/* Calls fn(p, ctx) for each process, zombies too, under process_lock (fn may
 * send signals, nothing that sleeps), until fn returns non-zero; returns that. */
int process_for_each(int (*fn)(struct process *p, void *ctx), void *ctx);

/* The calling user thread's uthread and process (NULL in a kernel thread). */
struct uthread *uthread_current(void);
struct process *process_current(void);

/* Ends the calling process (every thread) with a wait(2) status. */
__attribute__((noreturn)) void process_exit(int status);
/* Ends the calling thread alone (exit(2)); the last one ends the process with
 * `status`. Clears and wakes its CLONE_CHILD_CLEARTID word. */
__attribute__((noreturn)) void uthread_exit(int status);

/* ---- for fork.c and exec.c (proc/) ----------------------------------------------- */

/* A process without threads or pid, sharing nothing yet; NULL without memory. */
struct process *process_alloc(const char *name);
/* Loads an ELF file into vm with its initial stack: entry and stack pointer.
 * -ENOEXEC (with a console line), -ENOMEM, -E2BIG. */
int process_load(struct vmspace *vm, const struct inode *file, const char *path,
                 const char *const *argv, const char *const *envp, uint64_t *entry,
                 uint64_t *stack) __attribute__((warn_unused_result));
/* p's name from a path's last component. */
void process_set_name(struct process *p, const char *path);
/* Has p ended (a zombie, not yet taken by a waiter)? */
bool process_is_zombie(const struct process *p);
/* A thread of p with a fresh FPU state, not in p's list yet; NULL without memory. */
struct uthread *uthread_new(struct process *p);
void uthread_free(struct uthread *ut);
/* Frees what process_alloc and later steps made, for a process never started. */
void process_free(struct process *p);
/* Gives p a pid (and tid to its main thread) and puts it in the list. */
void process_publish(struct process *p);
/* Gives ut a tid and adds it to p's threads; false when p is ending. */
bool process_add_thread(struct process *p, struct uthread *ut);
/* Undoes process_publish / process_add_thread when the thread cannot start. */
void process_unpublish(struct process *p);
void process_remove_thread(struct process *p, struct uthread *ut);
/* Frees threads of p that have ended (not the main one); they are joined. */
void process_collect_threads(struct process *p);
/* Frees a zombie child wait4 took (state PROCESS_REAPING); its status. */
int process_reap_child(struct process *child);
/* The CPU the thread is to be pinned to for a sched_setaffinity mask
 * (0: anywhere); applied by the thread itself. */
void uthread_apply_affinity(struct uthread *ut);
/* The vfork parent may go on (exec or exit of the child). */
void process_release_vfork(struct process *p);
/* Ends every other thread of the caller's process and waits until they have
 * (execve). false when the process is ending anyway. */
bool process_single_thread(void);
/* Sets UTHREAD_WORK_* bits on ut and interrupts a futex wait. */
void uthread_signal_work(struct uthread *ut, uint32_t work);
/* The process lock, for the lookups of proc/ (process.h's Locking). */
bool process_lock_acquire(void);
void process_lock_release(bool irq);
/* The process with that pid, or NULL (lock held). Zombies included. */
struct process *process_find_locked(int pid);
/* The thread with that tid in any process, or NULL (lock held). */
struct uthread *uthread_find_locked(int tid);
/* Every process, for scans (lock held). */
struct process *process_first_locked(void);

/* One process as process_list saw it. */
struct process_info {
    int pid, parent_pid;
    char name[PROCESS_NAME_BYTES];
    int state;
    size_t resident_pages;
    uint32_t tid;
    unsigned cpu;
};
/* Copies up to max processes into out; returns how many exist. */
size_t process_list(struct process_info *out, size_t max);
/* Processes alive or zombie, for tests. */
size_t process_count(void);

/* "SIGSEGV" for 11, ..., "SIG?" for an unknown number. */
const char *signal_name(int signal);

/* A user thread's IPC fastpath record (struct uthread's ipc_wait): made by the
 * thread itself as it starts, once it is ut's (ut->thread, thread_set_user). */
void ipc_thread_start(struct uthread *ut);

/* The system-call table's size and unknown-call handler (proc/syscall_table.c). */
long syscall_unknown_number(uint64_t number);

/* include/proc/signal.h has their contract; inline for IPC's fastpath. */
extern struct spinlock signal_lock;

/* The CPU time of ut, the calling thread (it runs), in timestamp ticks. The
 * word and the timestamp are read with no switch between them: one in between
 * would count the time the thread was off the CPU (or take it off). */
static inline uint64_t uthread_cpu_ticks(const struct uthread *ut)
{
    bool irq = arch_irq_save_disable();
    uint64_t ticks = ut->cpu_clock + arch_read_timestamp();
    arch_irq_restore(irq);
    return ticks;
}

/* A switch's CPU time (cpu_clock) between two user threads: from goes off the
 * CPU, to comes on, one timestamp for both. Interrupts off. (The hook's switches
 * to and from kernel threads do the half that applies.) */
static inline __attribute__((always_inline)) void uthread_switch_time(struct uthread *from,
                                                                      struct uthread *to)
{
    uint64_t now = arch_read_timestamp();
    from->cpu_clock += now;
    to->cpu_clock -= now;
}

/* The switch hook's work for a switch from user thread `from` (running) to user
 * thread `next` (to: next->user, which the caller has at hand): CPU time, then
 * the machine (arch_user_switch_between). Interrupts off. */
static inline __attribute__((always_inline)) void uthread_switch(struct uthread *from,
                                                                 struct thread *next,
                                                                 struct uthread *to)
{
    uthread_switch_time(from, to);
    struct address_space *as = to->proc->vm->as; /* a process always has one (exec swaps it) */
    arch_user_switch_between(&from->arch, &to->arch, next->stack.top, as->root.value,
                             &as->tlb);
}

/* The same for IPC's direct switch, which then ends next's system call on its
 * frame (its result there already): arch_user_switch_return. released: the
 * on_cpu of from's thread, which the caller stands on. */
static inline __attribute__((always_inline, noreturn)) void
uthread_switch_return(struct uthread *from, struct thread *next, struct uthread *to,
                      bool *released)
{
    uthread_switch_time(from, to);
    struct address_space *as = to->proc->vm->as;
    arch_user_switch_return(&from->arch, &to->arch, next->stack.top, released, as->root.value,
                            &as->tlb);
}

static inline __attribute__((warn_unused_result)) bool
signal_wait_publish(struct uthread *ut, struct wait_queue *wq)
{
    (void)__atomic_exchange_n(&ut->sig.waiting_on, wq, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&ut->work, __ATOMIC_ACQUIRE))
        return false;
    uint64_t pending = __atomic_load_n(&ut->sig.pending, __ATOMIC_RELAXED) |
                       __atomic_load_n(&ut->proc->sig.pending, __ATOMIC_RELAXED);
    return !(pending & ~__atomic_load_n(&ut->sig.mask, __ATOMIC_RELAXED));
}

static inline void signal_wait_withdraw(struct uthread *ut)
{
    (void)__atomic_exchange_n(&ut->sig.waiting_on, NULL, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&signal_lock.locked, __ATOMIC_ACQUIRE)) { /* rarely: one test */
        do
            arch_cpu_relax();
        while (__atomic_load_n(&signal_lock.locked, __ATOMIC_ACQUIRE));
    }
}

#endif
