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
#include "mm/heap.h"
#include "proc/elf.h"
#include "proc/ustack.h"

#define USTACK_BUF_BYTES (32u * 1024)

static struct spinlock process_lock = SPINLOCK_INIT("process");
static struct process *processes; /* (process_lock) */
static int next_pid = 1;          /* (process_lock) */
static struct file *console_file; /* set once at boot */

void process_set_console(struct file *console)
{
    console_file = console;
}

struct file *process_console(void)
{
    return console_file;
}

void file_get(struct file *f)
{
    __atomic_fetch_add(&f->refs, 1, __ATOMIC_RELAXED);
}

void file_put(struct file *f)
{
    if (__atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) == 0 && f->ops->release)
        f->ops->release(f);
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

/* Interrupts off, before the stacks change (include/sched/thread.h). */
static void switch_hook(struct thread *prev, struct thread *next)
{
    struct uthread *from = prev ? prev->user : NULL, *to = next->user;
    uint64_t now = arch_time_ns();
    if (from)
        from->cpu_ns += now - from->ran_since_ns;
    if (to)
        to->ran_since_ns = now;
    arch_user_switch(from ? &from->arch : NULL, to ? &to->arch : NULL, next->stack.top,
                     to ? &to->work : NULL);
    if (to)
        vmspace_activate(to->proc->vm);
    else if (from)
        vmspace_activate(NULL); /* a kernel thread must not keep a space alive */
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
    if (work & UTHREAD_WORK_SIGNAL)
        signal_return_work(ut, regs);
    /* UTHREAD_WORK_IRET: the way back from here is IRETQ already. */
    __atomic_fetch_and(&ut->work, ~UTHREAD_WORK_IRET, __ATOMIC_RELEASE);
}

extern const arch_syscall_fn syscall_table_entries[];
extern const size_t syscall_table_size;

void process_init(void)
{
    static const struct arch_user_hooks hooks = {
        .page_fault = user_page_fault,
        .is_mapped = user_is_mapped,
        .fault = user_fault,
        .return_work = user_return_work,
    };
    sched_set_switch_hook(switch_hook);
    arch_user_set_hooks(&hooks);
    arch_set_syscall_table(syscall_table_entries, syscall_table_size, syscall_unknown_number);
}

/* ---- creation --------------------------------------------------------------------- */

static void set_name(struct process *p, const char *path)
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

static struct process *process_new(const char *path, struct process *parent)
{
    struct process *p = kcalloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->vm = vmspace_create();
    if (!p->vm) {
        kfree(p);
        return NULL;
    }
    p->parent = parent;
    p->state = PROCESS_RUNNING;
    set_name(p, path);
    wait_queue_init(&p->exit_wait, "process exit");
    signal_process_init(p);
    process_limits_init(p);
    fdtable_init(p);
    for (int fd = 0; fd < 3 && console_file; fd++) {
        file_get(console_file);
        p->fds[fd] = console_file;
    }
    return p;
}

static void close_files(struct process *p)
{
    for (int fd = 0; fd < PROCESS_MAX_FDS; fd++) {
        if (p->fds[fd]) {
            file_put(p->fds[fd]);
            p->fds[fd] = NULL;
        }
    }
}

static void uthread_free(struct uthread *ut)
{
    kfree(ut->fpu_block);
    kfree(ut);
}

/* Frees what process_new and the loader made (not yet in the list). */
static void process_free(struct process *p)
{
    close_files(p);
    if (p->main)
        uthread_free(p->main);
    vmspace_destroy(p->vm);
    kfree(p);
}

static struct uthread *uthread_new(struct process *p)
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
    ut->proc = p;
    signal_thread_init(ut, NULL, false);
    return ut;
}

/* Maps each segment with its protection and copies its file bytes; the rest of
 * its pages (bss) are fresh zero pages. */
static int load_segments(struct vmspace *vm, const struct elf_image *img, const uint8_t *file,
                         uint64_t bias)
{
    for (size_t i = 0; i < img->nsegments; i++) {
        const struct elf_segment *s = &img->segments[i];
        uintptr_t start = (s->vaddr + bias) & ~(VMSPACE_PAGE - 1);
        uintptr_t end = (s->vaddr + bias + s->memsz + VMSPACE_PAGE - 1) & ~(VMSPACE_PAGE - 1);
        int error = vmspace_map(vm, &start, end - start, s->prot, VMSPACE_FIXED);
        if (!error)
            error = vmspace_write(vm, s->vaddr + bias, file + s->file_offset, s->filesz);
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
    if (args.argc > PROCESS_ARG_MAX || args.envc > PROCESS_ARG_MAX)
        return -E2BIG;
    uint8_t *buf = kmalloc(USTACK_BUF_BYTES);
    if (!buf)
        return -ENOMEM;
    error = ustack_build(buf, USTACK_BUF_BYTES, PROCESS_STACK_TOP, &args, rsp);
    uint64_t buf_base = PROCESS_STACK_TOP - USTACK_BUF_BYTES;
    if (!error)
        error = vmspace_write(vm, *rsp, buf + (*rsp - buf_base), PROCESS_STACK_TOP - *rsp);
    kfree(buf);
    return error;
}

/* Loads the ELF file into p's space; ut gets the entry and stack pointer. */
static int load_program(struct process *p, struct uthread *ut, const struct inode *file,
                        const char *path, const char *const *argv, const char *const *envp)
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
            error = load_segments(p->vm, img, file->data, bias);
        if (!error)
            error = build_stack(p->vm, img, bias, argv, envp, path, &ut->stack);
        if (!error) {
            vmspace_init_brk(p->vm, img->highest_vaddr + bias);
            ut->entry = img->entry + bias;
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
    }
    p->main = uthread_new(p);
    *error = p->main ? load_program(p, p->main, file, path, argv, envp) : -ENOMEM;
    if (*error) {
        process_free(p);
        return NULL;
    }
    bool irq = spin_lock(&process_lock);
    p->pid = next_pid++;
    p->main->tid = (uint32_t)p->pid;
    p->next = processes;
    processes = p;
    spin_unlock(&process_lock, irq);
    /* The thread may run at once: everything it reads is ready. */
    struct thread *t = thread_spawn(user_thread_start, p->main, p->name, THREAD_ANY_CPU);
    if (!t) {
        irq = spin_lock(&process_lock);
        processes = p->next;
        spin_unlock(&process_lock, irq);
        process_free(p);
        *error = -ENOMEM;
        return NULL;
    }
    p->main->thread = t;
    return p;
}

/* ---- the end ------------------------------------------------------------------------ */

void process_exit(int status)
{
    struct uthread *ut = uthread_current();
    struct process *p = ut->proc;
    close_files(p);
    bool irq = spin_lock(&process_lock);
    p->state = PROCESS_ZOMBIE;
    p->exit_status = status;
    spin_unlock(&process_lock, irq);
    if (p->parent)
        signal_child_exited(p->parent, p->pid, status);
    wait_queue_wake_all(&p->exit_wait);
    thread_exit();
}

static bool is_zombie(void *ctx)
{
    struct process *p = ctx;
    return __atomic_load_n(&p->state, __ATOMIC_ACQUIRE) == PROCESS_ZOMBIE;
}

int process_wait(struct process *p)
{
    wait_queue_wait(&p->exit_wait, is_zombie, p);
    /* Zombie, but perhaps still switching away: join waits until it is off the
     * CPU for good, so its space is loaded nowhere when destroyed. */
    while (!p->main->thread)
        thread_yield(); /* process_spawn has not stored it yet (it died that fast) */
    thread_join(p->main->thread);
    bool irq = spin_lock(&process_lock);
    struct process **link = &processes;
    while (*link != p)
        link = &(*link)->next;
    *link = p->next;
    int status = p->exit_status;
    spin_unlock(&process_lock, irq);
    process_free(p);
    return status;
}

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
