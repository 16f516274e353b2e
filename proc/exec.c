/*
 * execve: replaces the calling process's image with a program from the initrd.
 *
 * Everything that can fail happens before the point of no return: the path and
 * the argument strings are copied in, the file is checked (EACCES for what is
 * not an executable regular file, ENOEXEC for what is neither ELF nor a #!
 * script) and the new image is built in a fresh address space. Only then are
 * the other threads ended, the space swapped, close-on-exec files closed,
 * handled signals reset to their default, the FPU/TLS state and registers set
 * to a new program's, and a vfork parent released.
 *
 * Arguments: argv and envp together take at most EXEC_ARG_BYTES (strings and
 * pointers), which must fit in the initial-stack buffer; beyond that E2BIG
 * (Linux allows more: a quarter of the stack limit).
 */
#include "arch/uaccess.h"
#include "fs/fdtable.h"
#include "fs/initrd.h"
#include "fs/stat.h"
#include "lib/errno.h"
#include "lib/string.h"
#include "mm/heap.h"
#include "proc/process.h"
#include "proc/signal.h"
#include "proc/syscall.h"

#define EXEC_ARG_BYTES (96u * 1024)
#define EXEC_MAX_STRINGS (EXEC_ARG_BYTES / 16)
#define EXEC_SCRIPT_DEPTH 4  /* #! interpreters that are scripts themselves */
#define EXEC_LINE_BYTES 256  /* Linux's BINPRM_BUF_SIZE: the #! line read */

/* argv then envp, copied in: pointers into `strings`. */
struct exec_args {
    const char **argv, **envp; /* NULL-terminated, inside `block` */
    size_t argc, envc;
    char *strings;             /* next free byte */
    size_t room;               /* bytes left for strings and pointers */
    void *block;               /* the one allocation */
};

static int args_init(struct exec_args *a)
{
    a->block = kmalloc(EXEC_ARG_BYTES + 2 * EXEC_MAX_STRINGS * sizeof(char *));
    if (!a->block)
        return -ENOMEM;
    a->argv = a->block;
    a->envp = a->argv + EXEC_MAX_STRINGS;
    a->strings = (char *)(a->envp + EXEC_MAX_STRINGS);
    a->room = EXEC_ARG_BYTES;
    a->argc = a->envc = 0;
    return 0;
}

/* Copies a kernel string into the block; NULL when it does not fit. */
static const char *keep_string(struct exec_args *a, const char *s, size_t len)
{
    if (len + 1 + sizeof(char *) > a->room)
        return NULL;
    char *copy = a->strings;
    memcpy(copy, s, len);
    copy[len] = 0;
    a->strings += len + 1;
    a->room -= len + 1 + sizeof(char *);
    return copy;
}

/* Copies a user vector of strings (NULL: empty) into vec. */
static int copy_vector(struct exec_args *a, uintptr_t user_vec, const char **vec, size_t *count)
{
    vec[0] = NULL;
    for (size_t i = 0; user_vec; i++) {
        uint64_t ptr;
        if (copy_from_user(&ptr, user_vec + i * sizeof(ptr), sizeof(ptr)))
            return -EFAULT;
        if (!ptr)
            return 0;
        if (*count + 1 >= EXEC_MAX_STRINGS || a->room <= sizeof(char *) + 1)
            return -E2BIG;
        long len = strncpy_from_user(a->strings, ptr, a->room - sizeof(char *));
        if (len < 0)
            return -EFAULT;
        if ((size_t)len >= a->room - sizeof(char *))
            return -E2BIG;
        vec[(*count)++] = a->strings;
        vec[*count] = NULL;
        a->strings += len + 1;
        a->room -= (size_t)len + 1 + sizeof(char *);
    }
    return 0;
}

/* The file at path, if it may be executed: 0, or Linux's errno. */
static int find_executable(const char *path, struct inode **out)
{
    int error = fs_lookup(NULL, path, FS_LOOKUP_FOLLOW, out);
    if (error)
        return error;
    if (((*out)->mode & S_IFMT) != S_IFREG || !((*out)->mode & (S_IXUSR | S_IXGRP | S_IXOTH)))
        return -EACCES;
    return 0;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/*
 * A #! script: argv becomes interpreter [argument] path argv[1..]. *interp
 * receives the interpreter's path (in `a`). -ENOEXEC when the line names none.
 */
static int script_args(struct exec_args *a, const struct inode *file, const char *path,
                       const char **interp)
{
    char line[EXEC_LINE_BYTES];
    size_t n = file->size < sizeof(line) - 1 ? file->size : sizeof(line) - 1;
    memcpy(line, file->data, n);
    line[n] = 0;
    size_t end = 2;
    while (end < n && line[end] != '\n')
        end++;
    line[end] = 0;
    char *name = line + 2;
    while (is_blank(*name))
        name++;
    char *arg = name;
    while (*arg && !is_blank(*arg))
        arg++;
    if (arg == name)
        return -ENOEXEC;
    if (*arg)
        *arg++ = 0;
    while (is_blank(*arg))
        arg++;
    size_t arg_len = strlen(arg);
    while (arg_len && is_blank(arg[arg_len - 1]))
        arg[--arg_len] = 0;
    /* argv[0] gives way to the prefix; the old strings stay in the block. */
    const char *prefix[3] = {name, arg_len ? arg : NULL, path};
    size_t k = arg_len ? 3 : 2, rest = a->argc ? a->argc - 1 : 0;
    if (k + rest + 1 >= EXEC_MAX_STRINGS)
        return -E2BIG;
    memmove(a->argv + k, a->argv + (a->argc ? 1 : 0), (rest + 1) * sizeof(char *));
    for (size_t i = 0, j = 0; i < 3; i++) {
        if (!prefix[i])
            continue;
        a->argv[j] = keep_string(a, prefix[i], strlen(prefix[i]));
        if (!a->argv[j++])
            return -E2BIG;
    }
    a->argc = k + rest;
    a->argv[a->argc] = NULL;
    *interp = a->argv[0];
    return 0;
}

static bool is_script(const struct inode *file)
{
    return file->size >= 2 && file->data[0] == '#' && file->data[1] == '!';
}

/* Resolves scripts to their final interpreter and builds its image in *vm. */
static int build_image(struct exec_args *a, const char *path, struct vmspace **vm,
                       uint64_t *entry, uint64_t *stack)
{
    struct inode *file;
    for (int depth = 0;; depth++) {
        int error = find_executable(path, &file);
        if (error)
            return error;
        if (!is_script(file))
            break;
        if (depth == EXEC_SCRIPT_DEPTH)
            return -ELOOP;
        error = script_args(a, file, path, &path);
        if (error)
            return error;
    }
    static const uint8_t elf_magic[4] = {0x7f, 'E', 'L', 'F'};
    if (file->size < 4 || memcmp(file->data, elf_magic, 4) != 0)
        return -ENOEXEC;
    *vm = vmspace_create();
    if (!*vm)
        return -ENOMEM;
    int error = process_load(*vm, file, path, a->argv, a->envp, entry, stack);
    if (error) {
        vmspace_put(*vm);
        return error;
    }
    return 0;
}

/* Past the point of no return: the process takes the new image. */
static void commit(struct process *p, struct uthread *ut, const char *path, struct vmspace *vm,
                   uint64_t entry, uint64_t stack)
{
    bool irq = process_lock_acquire();
    struct vmspace *old = p->vm;
    p->vm = vm;
    p->did_exec = true;
    process_lock_release(irq);
    vmspace_activate(vm); /* interrupts on: a switch in between loads p->vm anyway */
    vmspace_put(old);     /* a vfork parent may still hold it */
    fdtable_close_on_exec(p);
    signal_process_exec(p, ut);
    process_set_name(p, path);
    ut->clear_child_tid = 0;
    ut->robust_list = 0;
    arch_user_reset_current(&ut->arch);
    struct arch_regs *regs = arch_user_regs(ut->thread->stack.top);
    uint64_t cs = regs->cs, ss = regs->ss, vector = regs->vector, number = regs->error_code;
    *regs = (struct arch_regs){.rip = entry, .rsp = stack, .rflags = 0x202, .cs = cs, .ss = ss,
                               .vector = vector, .error_code = number};
    __atomic_fetch_or(&ut->work, UTHREAD_WORK_IRET, __ATOMIC_RELEASE);
    process_release_vfork(p);
}

long sys_execve(SYSCALL_ARGS)
{
    char *path = kmalloc(FS_PATH_MAX);
    if (!path)
        return -ENOMEM;
    long len = strncpy_from_user(path, a0, FS_PATH_MAX);
    int error = len < 0 ? -EFAULT : len >= FS_PATH_MAX ? -ENAMETOOLONG : 0;
    struct inode *file;
    if (!error)
        error = find_executable(path, &file); /* Linux's order: the file, then the strings */
    struct exec_args a = {0};
    if (!error)
        error = args_init(&a);
    if (!error)
        error = copy_vector(&a, a1, a.argv, &a.argc);
    if (!error)
        error = copy_vector(&a, a2, a.envp, &a.envc);
    struct vmspace *vm = NULL;
    uint64_t entry = 0, stack = 0;
    if (!error)
        error = build_image(&a, path, &vm, &entry, &stack);
    if (!error && !process_single_thread()) {
        vmspace_put(vm);
        error = -EINTR; /* the process is ending: the return path ends us */
    }
    if (!error)
        commit(process_current(), uthread_current(), path, vm, entry, stack);
    if (a.block)
        kfree(a.block);
    kfree(path);
    return error;
}
