/*
 * Processes: creation from an ELF file of the initrd, the switch hook, user
 * faults, exit and wait. include/proc/process.h has the model.
 */
#include "proc/process.h"

#include "arch/time.h"
#include "base/panic.h"
#include "fs/fdtable.h"
#include "fs/initrd.h"
#include "lib/errno.h"
#include "lib/printf.h"
#include "lib/string.h"
#include "arch/uaccess.h"
#include "mm/frame_ref.h"
#include "mm/heap.h"
#include "proc/elf.h"
#include "proc/futex.h"
#include "proc/ustack.h"


#define SIGCHLD 17

static struct spinlock process_lock = SPINLOCK_INIT("process");
static struct process *processes; /* (process_lock) */
static int next_pid = 1;          /* (process_lock) pids and tids, one space */
static struct process *init_process; /* (process_lock) adopts orphans */
static struct file *console_file; /* set once at boot */

/* The kernel's reaper: frees orphans that ended with nobody to wait for them. */
static uint32_t orphan_events;    /* (A) bumped when an orphan becomes a zombie */
static struct wait_queue orphan_wait = WAIT_QUEUE_INIT("orphans");

void process_set_console(struct file *console)
{
    console_file = console;
}

struct file *process_console(void)
{
    return console_file;
}

struct uthread *uthread_current(void)
{
    return thread_current()->user;
}

struct process *process_current(void)
{
    struct uthread *ut = uthread_current();
    return ut ? ut->proc : NULL;
}

const char *signal_name(int signal)
{
    static const char *const names[] = {
        [1] = "SIGHUP",   [2] = "SIGINT",   [3] = "SIGQUIT", [4] = "SIGILL",
        [5] = "SIGTRAP",  [6] = "SIGABRT",  [7] = "SIGBUS",  [8] = "SIGFPE",
        [9] = "SIGKILL",  [10] = "SIGUSR1", [11] = "SIGSEGV", [12] = "SIGUSR2",
        [13] = "SIGPIPE", [14] = "SIGALRM", [15] = "SIGTERM",
    };
    if (signal > 0 && (size_t)signal < sizeof(names) / sizeof(names[0]) && names[signal])
        return names[signal];
    return "SIG?";
}

/* ---- hooks ---------------------------------------------------------------------- */

/* Interrupts off, before the stacks change (include/sched/thread.h). One call of
 * the arch does the rest: FPU, TLS bases, kernel stack and address space. */
static void switch_hook(struct thread *prev, struct thread *next)
{
    struct uthread *from = prev ? prev->user : NULL, *to = next->user;
    struct arch_user_state *from_arch = NULL;
    if (from && to) {
        uthread_switch(from, next, to);
        return;
    }
    uint64_t now = arch_read_timestamp();
    if (from) {
        from->cpu_clock += now;
        from_arch = &from->arch;
    }
    if (to) {
        to->cpu_clock -= now;
        struct address_space *as = vmspace_address_space(to->proc->vm);
        arch_user_switch(from_arch, &to->arch, next->stack.top, as->root.value, &as->tlb);
    } else if (from) {
        /* A kernel thread must not keep a space alive: it runs in the kernel's. */
        arch_user_switch(from_arch, NULL, next->stack.top, kernel_space.root.value,
                         &kernel_space.tlb);
    } else {
        arch_user_switch(NULL, NULL, next->stack.top, 0, NULL);
    }
}

static bool user_page_fault(uintptr_t addr, bool write, bool exec)
{
    struct process *p = process_current();
    if (!p)
        return false;
    enum vm_access access = exec ? VM_ACCESS_EXEC : write ? VM_ACCESS_WRITE : VM_ACCESS_READ;
    return vmspace_fault(p->vm, addr, access) == 0;
}

static bool user_is_mapped(uintptr_t addr)
{
    struct process *p = process_current();
    return p && vmspace_is_mapped(p->vm, addr);
}

static bool user_is_bus_error(uintptr_t addr)
{
    struct process *p = process_current();
    return p && vmspace_is_past_file_end(p->vm, addr);
}

static void user_fault(struct arch_regs *regs, int signal, int code, uint64_t addr)
{
    KASSERT(process_current());
    signal_fault(regs, signal, code, addr);
}

static void user_return_work(struct arch_regs *regs)
{
    struct uthread *ut = uthread_current();
    uint32_t work = __atomic_load_n(&ut->work, __ATOMIC_ACQUIRE);
    if (work & UTHREAD_WORK_KILL) {
        bool irq = spin_lock(&process_lock);
        int signal = ut->proc->pending_signal;
        spin_unlock(&process_lock, irq);
        process_exit(signal);
    }
    if (work & UTHREAD_WORK_EXIT)
        uthread_exit(0);
    if (work & UTHREAD_WORK_AFFINITY) {
        __atomic_fetch_and(&ut->work, ~UTHREAD_WORK_AFFINITY, __ATOMIC_ACQ_REL);
        uthread_apply_affinity(ut);
    }
    if (work & UTHREAD_WORK_SIGNAL)
        signal_return_work(ut, regs);
    /* UTHREAD_WORK_IRET: the way back from here is IRETQ already. */
    __atomic_fetch_and(&ut->work, ~UTHREAD_WORK_IRET, __ATOMIC_RELEASE);
}

extern const arch_syscall_fn syscall_table_entries[];
extern const size_t syscall_table_size;

static void reaper_main(void *arg);

void process_init(void)
{
    static const struct arch_user_hooks hooks = {
        .page_fault = user_page_fault,
        .is_mapped = user_is_mapped,
        .is_bus_error = user_is_bus_error,
        .fault = user_fault,
        .return_work = user_return_work,
    };
    if (frame_ref_init())
        panic("process: no memory for the frame reference counts");
    futex_init();
    if (!thread_spawn(reaper_main, NULL, "reaper", THREAD_ANY_CPU))
        panic("process: no memory for the reaper thread");
    sched_set_switch_hook(switch_hook);
    arch_user_set_hooks(&hooks);
    arch_set_syscall_table(syscall_table_entries, syscall_table_size, syscall_unknown_number);
}

/* ---- the list --------------------------------------------------------------------- */

bool process_lock_acquire(void)
{
    return spin_lock(&process_lock);
}

void process_lock_release(bool irq)
{
    spin_unlock(&process_lock, irq);
}

struct process *process_first_locked(void)
{
    spin_assert_held(&process_lock);
    return processes;
}

struct process *process_find_locked(int pid)
{
    spin_assert_held(&process_lock);
    for (struct process *p = processes; p; p = p->next) {
        if (p->pid == pid && p->state != PROCESS_REAPING)
            return p;
    }
    return NULL;
}

struct uthread *uthread_find_locked(int tid)
{
    spin_assert_held(&process_lock);
    for (struct process *p = processes; p; p = p->next) {
        for (struct uthread *ut = p->threads; ut && p->state == PROCESS_RUNNING; ut = ut->next_thread) {
            if ((int)ut->tid == tid && !ut->exited)
                return ut;
        }
    }
    return NULL;
}

void process_set_init(struct process *p)
{
    bool irq = spin_lock(&process_lock);
    init_process = p;
    spin_unlock(&process_lock, irq);
}

/* ---- creation --------------------------------------------------------------------- */

void process_set_name(struct process *p, const char *path)
{
    const char *base = path;
    for (const char *c = path; *c; c++) {
        if (*c == '/' && c[1])
            base = c + 1;
    }
    size_t i = 0;
    for (; base[i] && base[i] != '/' && i + 1 < sizeof(p->name); i++)
        p->name[i] = base[i];
    p->name[i] = 0;
}

struct process *process_alloc(const char *name)
{
    struct process *p = kcalloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->state = PROCESS_RUNNING;
    p->exit_signal = SIGCHLD;
    process_set_name(p, name);
    wait_queue_init(&p->exit_wait, "process exit");
    wait_queue_init(&p->child_wait, "wait4");
    wait_queue_init(&p->vfork_wait, "vfork");
    fdtable_init(p);
    return p;
}

static struct process *process_new(const char *path, struct process *parent)
{
    struct process *p = process_alloc(path);
    if (!p)
        return NULL;
    p->vm = vmspace_create();
    if (!p->vm) {
        kfree(p);
        return NULL;
    }
    p->parent = parent;
    signal_process_init(p);
    process_limits_init(p);
    for (int fd = 0; fd < 3 && console_file; fd++) {
        file_get(console_file);
        p->fds[fd] = console_file;
        p->fd_end = fd + 1;
    }
    return p;
}

static void close_files(struct process *p)
{
    unsigned end = __atomic_load_n(&p->fd_end, __ATOMIC_ACQUIRE);
    for (unsigned fd = 0; fd < end; fd++) {
        struct file *f = __atomic_exchange_n(&p->fds[fd], NULL, __ATOMIC_ACQ_REL);
        if (f)
            file_put(f);
    }
}

void uthread_free(struct uthread *ut)
{
    kfree(ut->fpu_block);
    kfree(ut);
}

void process_free(struct process *p)
{
    close_files(p);
    while (p->threads) {
        struct uthread *ut = p->threads;
        p->threads = ut->next_thread;
        if (ut != p->main)
            uthread_free(ut);
    }
    if (p->main)
        uthread_free(p->main);
    if (p->vm)
        vmspace_put(p->vm);
    kfree(p);
}

struct uthread *uthread_new(struct process *p)
{
    struct uthread *ut = kcalloc(1, sizeof(*ut));
    if (!ut)
        return NULL;
    ut->fpu_block = kmalloc(arch_fpu_state_bytes() + ARCH_FPU_ALIGN);
    if (!ut->fpu_block) {
        kfree(ut);
        return NULL;
    }
    uintptr_t aligned = ((uintptr_t)ut->fpu_block + ARCH_FPU_ALIGN - 1) & ~(uintptr_t)(ARCH_FPU_ALIGN - 1);
    ut->arch.fpu = (void *)aligned;
    arch_fpu_state_init(ut->arch.fpu);
    ut->arch.work = &ut->work;
    ut->proc = p;
    ut->futex_bucket = -1;
    signal_thread_init(ut, NULL, false);
    return ut;
}

void process_publish(struct process *p)
{
    bool irq = spin_lock(&process_lock);
    p->pid = next_pid++;
    if (!p->parent)
        p->pgid = p->sid = p->pid; /* the kernel's: each leads its own session */
    p->main->tid = (uint32_t)p->pid;
    p->main->next_thread = NULL;
    p->threads = p->main;
    p->live_threads = 1;
    p->next = processes;
    processes = p;
    spin_unlock(&process_lock, irq);
}

void process_unpublish(struct process *p)
{
    bool irq = spin_lock(&process_lock);
    struct process **link = &processes;
    while (*link != p)
        link = &(*link)->next;
    *link = p->next;
    spin_unlock(&process_lock, irq);
}

bool process_add_thread(struct process *p, struct uthread *ut)
{
    bool irq = spin_lock(&process_lock);
    bool ok = !p->group_exit && p->state == PROCESS_RUNNING;
    if (ok) {
        ut->tid = (uint32_t)next_pid++;
        ut->next_thread = p->threads;
        p->threads = ut;
        p->live_threads++;
    }
    spin_unlock(&process_lock, irq);
    return ok;
}

void process_remove_thread(struct process *p, struct uthread *ut)
{
    bool irq = spin_lock(&process_lock);
    struct uthread **link = &p->threads;
    while (*link != ut)
        link = &(*link)->next_thread;
    *link = ut->next_thread;
    p->live_threads--;
    spin_unlock(&process_lock, irq);
}

void process_collect_threads(struct process *p)
{
    for (;;) {
        struct uthread *dead = NULL;
        bool irq = spin_lock(&process_lock);
        for (struct uthread **link = &p->threads; *link; link = &(*link)->next_thread) {
            if ((*link)->exited && *link != p->main) {
                dead = *link;
                *link = dead->next_thread;
                break;
            }
        }
        spin_unlock(&process_lock, irq);
        if (!dead)
            return;
        thread_join(dead->thread); /* off its CPU for good before its FPU area goes */
        uthread_free(dead);
    }
}

/* Maps each segment with its protection, its pages to be filled from its file
 * bytes when first touched (the rest, bss, are zeros); nothing is copied now.
 * The file is the initrd's, which lives for good. */
static int load_segments(struct vmspace *vm, const struct elf_image *img, const uint8_t *file,
                         uint64_t bias)
{
    for (size_t i = 0; i < img->nsegments; i++) {
        const struct elf_segment *s = &img->segments[i];
        uintptr_t start = (s->vaddr + bias) & ~(VMSPACE_PAGE - 1);
        uintptr_t end = (s->vaddr + bias + s->memsz + VMSPACE_PAGE - 1) & ~(VMSPACE_PAGE - 1);
        struct vma_image image = {.bytes = file + s->file_offset, .start = s->vaddr + bias,
                                  .end = s->vaddr + bias + s->filesz};
        int error = vmspace_map_image(vm, start, end - start, s->prot, &image);
        if (error)
            return error;
    }
    return 0;
}

static size_t count_strings(const char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

/* The stack region and the initial stack (argv, envp, auxv) at its top. */
static int build_stack(struct vmspace *vm, const struct elf_image *img, uint64_t bias,
                       const char *const *argv, const char *const *envp, const char *path,
                       uint64_t *rsp)
{
    uintptr_t low = PROCESS_STACK_TOP - PROCESS_STACK_BYTES;
    int error = vmspace_map(vm, &low, PROCESS_STACK_BYTES, VM_READ | VM_WRITE, VMSPACE_FIXED);
    if (error)
        return error;
    uint64_t random[2] = {arch_random_u64(), arch_random_u64()};
    struct ustack_args args = {
        .argv = argv, .argc = count_strings(argv),
        .envp = envp, .envc = count_strings(envp),
        .random16 = (const uint8_t *)random,
        .phdr = img->phdr_vaddr + bias, .phent = img->phentsize, .phnum = img->phnum,
        .entry = img->entry + bias, .base = 0,
        .hwcap = arch_user_hwcap(), .pagesz = VMSPACE_PAGE, .clktck = 100,
        .execfn = path,
    };
    uint8_t *buf = kmalloc(PROCESS_USTACK_BYTES);
    if (!buf)
        return -ENOMEM;
    error = ustack_build(buf, PROCESS_USTACK_BYTES, PROCESS_STACK_TOP, &args, rsp);
    uint64_t buf_base = PROCESS_STACK_TOP - PROCESS_USTACK_BYTES;
    if (!error)
        error = vmspace_write(vm, *rsp, buf + (*rsp - buf_base), PROCESS_STACK_TOP - *rsp);
    kfree(buf);
    return error;
}

int process_load(struct vmspace *vm, const struct inode *file, const char *path,
                 const char *const *argv, const char *const *envp, uint64_t *entry,
                 uint64_t *stack)
{
    struct elf_image *img = kmalloc(sizeof(*img));
    if (!img)
        return -ENOMEM;
    int error = elf_parse(file->data, file->size, img);
    if (error) {
        kprintf("exec: %s: not a program Exo runs: %s\n", path, img->error);
    } else {
        uint64_t bias = img->pie ? PROCESS_PIE_BASE : 0;
        if (img->pie && !elf_bias_fits(img, bias))
            error = -ENOEXEC;
        if (!error)
            error = load_segments(vm, img, file->data, bias);
        if (!error)
            error = build_stack(vm, img, bias, argv, envp, path, stack);
        if (!error) {
            vmspace_init_brk(vm, img->highest_vaddr + bias);
            *entry = img->entry + bias;
        }
    }
    kfree(img);
    return error;
}

static void user_thread_start(void *arg)
{
    struct uthread *ut = arg;
    ut->thread = thread_current();
    thread_set_user(ut);
    ipc_thread_start(ut);
    arch_enter_user(ut->entry, ut->stack, thread_current()->stack.top);
}

struct process *process_spawn(const char *path, const char *const *argv, const char *const *envp,
                              struct process *parent, int *error)
{
    return process_spawn_output(path, argv, envp, parent, NULL, error);
}

struct process *process_spawn_output(const char *path, const char *const *argv,
                                     const char *const *envp, struct process *parent,
                                     struct file *output, int *error)
{
    struct inode *file;
    *error = fs_lookup(NULL, path, FS_LOOKUP_FOLLOW, &file);
    if (*error)
        return NULL;
    if ((file->mode & S_IFMT) != S_IFREG) {
        *error = -EACCES;
        return NULL;
    }
    if (count_strings(argv) > PROCESS_ARG_MAX || count_strings(envp) > PROCESS_ARG_MAX) {
        *error = -E2BIG;
        return NULL;
    }
    struct process *p = process_new(path, parent);
    if (!p) {
        *error = -ENOMEM;
        return NULL;
    }
    for (int fd = 1; fd <= 2 && output; fd++) {
        if (p->fds[fd])
            file_put(p->fds[fd]);
        file_get(output);
        p->fds[fd] = output;
        if ((unsigned)fd >= p->fd_end)
            p->fd_end = fd + 1; /* not yet published: no lock */
    }
    p->main = uthread_new(p);
    *error = p->main ? process_load(p->vm, file, path, argv, envp, &p->main->entry,
                                    &p->main->stack)
                     : -ENOMEM;
    if (*error) {
        process_free(p);
        return NULL;
    }
    process_publish(p);
    /* The thread may run at once: everything it reads is ready. */
    struct thread *t = thread_spawn(user_thread_start, p->main, p->name, THREAD_ANY_CPU);
    if (!t) {
        process_unpublish(p);
        process_free(p);
        *error = -ENOMEM;
        return NULL;
    }
    p->main->thread = t;
    return p;
}

/* ---- the end ------------------------------------------------------------------------ */

void uthread_signal_work(struct uthread *ut, uint32_t work)
{
    __atomic_fetch_or(&ut->work, work, __ATOMIC_RELEASE);
    futex_interrupt(ut);
}

/* Every thread of p but `self` is to end (lock held): the list is walked again
 * for futex waits once the lock is dropped. */
static void stop_other_threads_locked(struct process *p, struct uthread *self, uint32_t work)
{
    for (struct uthread *ut = p->threads; ut; ut = ut->next_thread) {
        if (ut != self && !ut->exited)
            __atomic_fetch_or(&ut->work, work, __ATOMIC_RELEASE);
    }
}

/* Gets the other threads out of their waits: futexes, wait4, and (`kill`:
 * the process is ending) interruptible sleeps, through a SIGKILL to each. */
static void interrupt_other_threads(struct process *p, struct uthread *self, bool kill)
{
    bool irq = spin_lock(&process_lock);
    for (struct uthread *ut = p->threads; ut; ut = ut->next_thread) {
        if (ut == self || ut->exited)
            continue;
        futex_interrupt(ut);
        if (kill)
            signal_send_thread(ut, SIGKILL, NULL);
        else
            signal_interrupt_wait(ut); /* UTHREAD_WORK_EXIT is set: it ends the wait */
    }
    __atomic_fetch_add(&p->child_events, 1, __ATOMIC_RELEASE); /* out of wait4 too */
    wait_queue_wake_all(&p->child_wait);
    spin_unlock(&process_lock, irq);
}

void process_release_vfork(struct process *p)
{
    if (!__atomic_exchange_n(&p->vfork_done, true, __ATOMIC_ACQ_REL))
        wait_queue_wake_all(&p->vfork_wait);
}

/* Where orphans go: init if it runs (and is not the one ending), else the
 * kernel's reaper. Lock held. */
static void reparent_children_locked(struct process *dying)
{
    struct process *adopter = init_process;
    if (adopter && (adopter == dying || adopter->state != PROCESS_RUNNING))
        adopter = NULL;
    bool adopted_zombie = false, orphaned_zombie = false;
    for (struct process *c = processes; c; c = c->next) {
        if (c->parent != dying)
            continue;
        c->parent = adopter;
        c->orphan = adopter == NULL;
        adopted_zombie |= adopter && c->state == PROCESS_ZOMBIE;
        orphaned_zombie |= !adopter && c->state == PROCESS_ZOMBIE;
    }
    if (adopted_zombie) {
        __atomic_fetch_add(&adopter->child_events, 1, __ATOMIC_RELEASE);
        wait_queue_wake_all(&adopter->child_wait);
    }
    if (orphaned_zombie) {
        __atomic_fetch_add(&orphan_events, 1, __ATOMIC_RELEASE);
        wait_queue_wake_all(&orphan_wait);
    }
}

/*
 * The last thread of p has ended its user life (it still runs, on p's space):
 * p becomes a zombie, its children find a new parent, and whoever waits for p
 * is woken. The parent is woken under process_lock, so it cannot be freed
 * between reading p->parent and the wake-up.
 */
static void process_end(struct process *p)
{
    close_files(p);
    process_release_vfork(p);
    bool irq = spin_lock(&process_lock);
    reparent_children_locked(p);
    __atomic_store_n(&p->state, PROCESS_ZOMBIE, __ATOMIC_RELEASE);
    struct process *parent = p->parent;
    if (parent) {
        __atomic_fetch_add(&parent->child_events, 1, __ATOMIC_RELEASE);
        wait_queue_wake_all(&parent->child_wait);
        if (p->exit_signal == SIGCHLD)
            signal_child_exited(parent, p->pid, p->exit_status);
    } else if (p->orphan) {
        __atomic_fetch_add(&orphan_events, 1, __ATOMIC_RELEASE);
        wait_queue_wake_all(&orphan_wait);
    }
    wait_queue_wake_all(&p->exit_wait);
    spin_unlock(&process_lock, irq);
}

/* CLONE_CHILD_CLEARTID / set_tid_address: zero the word, wake one waiter. */
static void clear_child_tid(struct uthread *ut)
{
    if (!ut->clear_child_tid)
        return;
    uint32_t zero = 0;
    if (copy_to_user(ut->clear_child_tid, &zero, sizeof(zero)) == 0)
        futex_wake_address(ut->proc->vm, ut->clear_child_tid, 1);
}

/* The calling thread's end; `group`: the whole process goes with `status`. */
static __attribute__((noreturn)) void thread_end(int status, bool group)
{
    struct uthread *ut = uthread_current();
    struct process *p = ut->proc;
    if (group) {
        bool irq = spin_lock(&process_lock);
        if (!p->group_exit) {
            p->group_exit = true;
            p->exit_status = status;
        }
        stop_other_threads_locked(p, ut, UTHREAD_WORK_KILL);
        spin_unlock(&process_lock, irq);
        interrupt_other_threads(p, ut, true);
    }
    clear_child_tid(ut);
    bool irq = spin_lock(&process_lock);
    ut->exited = true;
    bool last = --p->live_threads == 0;
    if (last && !p->group_exit)
        p->exit_status = status;
    for (struct uthread *heir = p->threads; !last && heir; heir = heir->next_thread) {
        if (!heir->exited) {
            signal_thread_gone(p, ut, heir);
            break;
        }
    }
    spin_unlock(&process_lock, irq);
    wait_queue_wake_all(&p->exit_wait); /* execve may wait for the others to go */
    if (last)
        process_end(p);
    thread_exit();
}

void process_exit(int status)
{
    thread_end(status, true);
}

void uthread_exit(int status)
{
    thread_end(status, false);
}

static bool only_self_left(void *ctx)
{
    struct process *p = ctx;
    return __atomic_load_n(&p->live_threads, __ATOMIC_ACQUIRE) == 1;
}

bool process_single_thread(void)
{
    struct uthread *self = uthread_current();
    struct process *p = self->proc;
    bool irq = spin_lock(&process_lock);
    bool ending = p->group_exit;
    if (!ending)
        stop_other_threads_locked(p, self, UTHREAD_WORK_EXIT);
    spin_unlock(&process_lock, irq);
    if (ending)
        return false;
    interrupt_other_threads(p, self, false);
    while (!only_self_left(p))
        wait_queue_wait(&p->exit_wait, only_self_left, p);
    process_collect_threads(p);
    return true;
}

/* ---- reaping ------------------------------------------------------------------------ */

/* Frees p, a zombie its caller took (state PROCESS_REAPING): its threads are
 * joined first, so no CPU still stands on its stacks or has its space loaded. */
static int reap(struct process *p)
{
    for (struct uthread *ut = p->threads; ut; ut = ut->next_thread) {
        while (!__atomic_load_n(&ut->thread, __ATOMIC_ACQUIRE))
            thread_yield(); /* its creator has not stored it yet (it died that fast) */
        thread_join(ut->thread);
    }
    process_unpublish(p);
    int status = p->exit_status;
    process_free(p);
    return status;
}

static bool zombie_cond(void *ctx)
{
    return process_is_zombie(ctx);
}

int process_reap_child(struct process *child)
{
    return reap(child);
}

void uthread_apply_affinity(struct uthread *ut)
{
    uint64_t mask = __atomic_load_n(&ut->cpu_mask, __ATOMIC_ACQUIRE);
    thread_set_own_affinity(mask ? __builtin_ctzll(mask) : THREAD_ANY_CPU); /* there now */
}

int process_wait(struct process *p)
{
    while (!zombie_cond(p)) /* exit_wait also hears threads end one by one */
        wait_queue_wait(&p->exit_wait, zombie_cond, p);
    bool irq = spin_lock(&process_lock);
    p->state = PROCESS_REAPING;
    spin_unlock(&process_lock, irq);
    return reap(p);
}

bool process_is_zombie(const struct process *p)
{
    return __atomic_load_n(&p->state, __ATOMIC_ACQUIRE) == PROCESS_ZOMBIE;
}

static bool orphans_changed(void *ctx)
{
    return __atomic_load_n(&orphan_events, __ATOMIC_ACQUIRE) != *(uint32_t *)ctx;
}

/* Takes one orphan zombie to reap, or NULL. */
static struct process *take_orphan(void)
{
    struct process *found = NULL;
    bool irq = spin_lock(&process_lock);
    for (struct process *p = processes; p && !found; p = p->next) {
        if (p->orphan && !p->parent && p->state == PROCESS_ZOMBIE) {
            p->state = PROCESS_REAPING;
            found = p;
        }
    }
    spin_unlock(&process_lock, irq);
    return found;
}

static void reaper_main(void *arg)
{
    (void)arg;
    for (;;) {
        uint32_t seen = __atomic_load_n(&orphan_events, __ATOMIC_ACQUIRE);
        struct process *p;
        while ((p = take_orphan()))
            (void)reap(p);
        wait_queue_wait(&orphan_wait, orphans_changed, &seen);
    }
}

/* ---- kill and lists -------------------------------------------------------------- */

int process_kill(int pid, int signal)
{
    int error = -ESRCH;
    struct kernel_siginfo info = {.code = SI_USER};
    bool irq = spin_lock(&process_lock);
    for (struct process *p = processes; p; p = p->next) {
        if (p->pid == pid && p->state == PROCESS_RUNNING) {
            signal_send_process(p, signal, &info);
            error = 0;
        }
    }
    spin_unlock(&process_lock, irq);
    return error;
}

int process_for_each(int (*fn)(struct process *p, void *ctx), void *ctx)
{
    int result = 0;
    bool irq = spin_lock(&process_lock);
    for (struct process *p = processes; p && !result; p = p->next)
        result = fn(p, ctx);
    spin_unlock(&process_lock, irq);
    return result;
}

size_t process_list(struct process_info *out, size_t max)
{
    size_t n = 0;
    bool irq = spin_lock(&process_lock);
    for (struct process *p = processes; p; p = p->next, n++) {
        if (n >= max)
            continue;
        out[n] = (struct process_info){
            .pid = p->pid,
            .parent_pid = p->parent ? p->parent->pid : 0,
            .state = p->state,
            .resident_pages = p->vm->resident_pages,
            .tid = p->main->tid,
            .cpu = p->main->thread ? p->main->thread->cpu : 0,
        };
        memcpy(out[n].name, p->name, sizeof(out[n].name));
    }
    spin_unlock(&process_lock, irq);
    return n;
}

size_t process_count(void)
{
    return process_list(NULL, 0);
}
