/* A process's file descriptors: see include/fs/fdtable.h. */
#include "fs/fdtable.h"

#include "fs/initrd.h"
#include "lib/errno.h"

static bool cloexec_bit(const struct process *p, unsigned fd)
{
    return p->fd_flags[fd] & PROCESS_FD_CLOEXEC;
}

static void set_cloexec_bit(struct process *p, unsigned fd, bool on)
{
    p->fd_flags[fd] = on ? PROCESS_FD_CLOEXEC : 0;
}

/* Stores f at fd (fd_lock held), keeping every open fd below fd_end. */
static void occupy(struct process *p, unsigned fd, struct file *f, bool cloexec)
{
    p->fds[fd] = f;
    set_cloexec_bit(p, fd, cloexec);
    if (fd >= p->fd_end)
        __atomic_store_n(&p->fd_end, fd + 1, __ATOMIC_RELEASE);
}

void fdtable_init(struct process *p)
{
    p->fd_lock = (struct spinlock)SPINLOCK_INIT("fd table");
    p->cwd = fs_root();
}

struct file *fdtable_get(struct process *p, uint64_t fd)
{
    if (fd >= PROCESS_MAX_FDS)
        return NULL;
    bool irq = spin_lock(&p->fd_lock);
    struct file *f = p->fds[fd];
    if (f)
        file_get(f);
    spin_unlock(&p->fd_lock, irq);
    return f;
}

int fdtable_install(struct process *p, struct file *f, unsigned min, bool cloexec)
{
    int result = -EMFILE;
    unsigned limit = fdtable_limit(p);
    bool irq = spin_lock(&p->fd_lock);
    for (unsigned fd = min; fd < limit; fd++) {
        if (!p->fds[fd]) {
            occupy(p, fd, f, cloexec);
            result = (int)fd;
            break;
        }
    }
    spin_unlock(&p->fd_lock, irq);
    return result;
}

int fdtable_install_many(struct process *p, struct file *const *f, unsigned n, int *fds,
                         bool cloexec)
{
    unsigned limit = fdtable_limit(p), found = 0;
    bool irq = spin_lock(&p->fd_lock);
    for (unsigned fd = 0; fd < limit && found < n; fd++) {
        if (!p->fds[fd])
            fds[found++] = (int)fd;
    }
    if (found < n) {
        spin_unlock(&p->fd_lock, irq);
        return -EMFILE;
    }
    for (unsigned i = 0; i < n; i++) {
        file_get(f[i]);
        occupy(p, (unsigned)fds[i], f[i], cloexec);
    }
    spin_unlock(&p->fd_lock, irq);
    return 0;
}

void fdtable_remove_if(struct process *p, uint64_t fd, struct file *f)
{
    bool irq = spin_lock(&p->fd_lock);
    bool ours = fd < PROCESS_MAX_FDS && p->fds[fd] == f;
    if (ours)
        p->fds[fd] = NULL;
    spin_unlock(&p->fd_lock, irq);
    if (ours)
        file_put(f);
}

int fdtable_install_at(struct process *p, struct file *f, uint64_t fd, bool cloexec)
{
    bool irq = spin_lock(&p->fd_lock);
    if (fd >= fdtable_limit(p)) {
        spin_unlock(&p->fd_lock, irq);
        return -EBADF;
    }
    struct file *old = p->fds[fd];
    file_get(f);
    occupy(p, (unsigned)fd, f, cloexec);
    spin_unlock(&p->fd_lock, irq);
    if (old)
        file_put(old);
    return (int)fd;
}

int fdtable_close(struct process *p, uint64_t fd)
{
    if (fd >= PROCESS_MAX_FDS)
        return -EBADF;
    bool irq = spin_lock(&p->fd_lock);
    struct file *f = p->fds[fd];
    p->fds[fd] = NULL;
    spin_unlock(&p->fd_lock, irq);
    if (!f)
        return -EBADF;
    file_put(f);
    return 0;
}

int fdtable_get_cloexec(struct process *p, uint64_t fd)
{
    if (fd >= PROCESS_MAX_FDS)
        return -EBADF;
    bool irq = spin_lock(&p->fd_lock);
    int result = p->fds[fd] ? cloexec_bit(p, (unsigned)fd) : -EBADF;
    spin_unlock(&p->fd_lock, irq);
    return result;
}

int fdtable_set_cloexec(struct process *p, uint64_t fd, bool cloexec)
{
    if (fd >= PROCESS_MAX_FDS)
        return -EBADF;
    bool irq = spin_lock(&p->fd_lock);
    int result = -EBADF;
    if (p->fds[fd]) {
        set_cloexec_bit(p, (unsigned)fd, cloexec);
        result = 0;
    }
    spin_unlock(&p->fd_lock, irq);
    return result;
}

/* Closes every fd whose cloexec bit is set (all of them when `all`), one at a
 * time so that no file is released under the lock. */
static void close_matching(struct process *p, bool all)
{
    for (unsigned fd = 0; fd < __atomic_load_n(&p->fd_end, __ATOMIC_ACQUIRE); fd++) {
        bool irq = spin_lock(&p->fd_lock);
        struct file *f = p->fds[fd];
        if (f && (all || cloexec_bit(p, fd)))
            p->fds[fd] = NULL;
        else
            f = NULL;
        set_cloexec_bit(p, fd, false);
        spin_unlock(&p->fd_lock, irq);
        if (f)
            file_put(f);
    }
}

void fdtable_close_on_exec(struct process *p)
{
    close_matching(p, false);
}

void fdtable_close_all(struct process *p)
{
    close_matching(p, true);
}

void fdtable_fork(struct process *child, struct process *parent)
{
    bool irq = spin_lock(&parent->fd_lock);
    for (unsigned fd = 0; fd < parent->fd_end; fd++) {
        child->fds[fd] = parent->fds[fd];
        if (child->fds[fd])
            file_get(child->fds[fd]);
        child->fd_flags[fd] = parent->fd_flags[fd];
    }
    child->fd_end = parent->fd_end;
    spin_unlock(&parent->fd_lock, irq);
    child->cwd = parent->cwd;
}

#define RLIMIT_NOFILE 7

unsigned fdtable_limit(struct process *p)
{
    /* Written under process_lock by prlimit; one aligned load needs no lock. */
    uint64_t soft = __atomic_load_n(&p->rlimits[RLIMIT_NOFILE].cur, __ATOMIC_RELAXED);
    return soft < PROCESS_MAX_FDS ? (unsigned)soft : PROCESS_MAX_FDS;
}
