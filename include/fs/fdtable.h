/*
 * fdtable: a process's file descriptors (struct process's fds and fd_flags;
 * include/proc/process.h).
 *
 * A descriptor is an index into p->fds holding one reference to a struct file,
 * and a close-on-exec bit. Numbers are handed out lowest-free-first, below the
 * process's RLIMIT_NOFILE (fdtable_limit). p->fd_end is a high-water mark: no
 * fd at or above it is open, so fork, exec and exit visit the table only up to
 * it (every install goes through here and raises it). Descriptors are
 * shared by the threads of a process, so every function takes p->fd_lock (a
 * spinlock, held for a few loads and stores); a file's last reference is
 * dropped after the lock is released, so a release may sleep.
 *
 * fdtable_get returns a new reference: the caller holds the file for the
 * duration of its call even if another thread closes the descriptor meanwhile,
 * and drops it with file_put.
 *
 * Errors are Linux's: -EBADF for a descriptor not open (or out of range),
 * -EMFILE when no number below the limit is free. Thread context only.
 */
#ifndef EXO_FS_FDTABLE_H
#define EXO_FS_FDTABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "proc/process.h"

/* A new process's empty table (the lock, no descriptors) and working
 * directory (the root). */
void fdtable_init(struct process *p);

/* The file behind fd with a reference taken, or NULL when fd is not open. */
struct file *fdtable_get(struct process *p, uint64_t fd);

/* Installs f (the caller's reference passes to the table) at the lowest free
 * number >= min. Returns the number, or -EMFILE (the reference stays the caller's). */
int fdtable_install(struct process *p, struct file *f, unsigned min, bool cloexec)
    __attribute__((warn_unused_result));

/* Installs n files (a new reference each) at the n lowest free numbers, all or
 * none, close-on-exec or not: fds[i] receives f[i]'s number. -EMFILE when fewer
 * are free (IPC's and SCM_RIGHTS' fd passing: nothing half-done to undo). */
int fdtable_install_many(struct process *p, struct file *const *f, unsigned n, int *fds,
                         bool cloexec)
    __attribute__((warn_unused_result));
/* Closes fd only if it still holds f (undoing fdtable_install_many when the
 * rest of a transfer failed; a number the process reused meanwhile stays). */
void fdtable_remove_if(struct process *p, uint64_t fd, struct file *f);

/* Installs f (taking a new reference) at exactly `fd`, closing what was there
 * (dup2/dup3). -EBADF when fd >= the limit. */
int fdtable_install_at(struct process *p, struct file *f, uint64_t fd, bool cloexec)
    __attribute__((warn_unused_result));

/* Closes fd: 0 or -EBADF. */
int fdtable_close(struct process *p, uint64_t fd);

/* FD_CLOEXEC of an open fd: 0 or 1, or -EBADF; set_cloexec: 0 or -EBADF. */
int fdtable_get_cloexec(struct process *p, uint64_t fd);
int fdtable_set_cloexec(struct process *p, uint64_t fd, bool cloexec);

/* Closes every fd marked close-on-exec (execve calls this once the new image
 * is certain). */
void fdtable_close_on_exec(struct process *p);

/* Closes every fd (exit). */
void fdtable_close_all(struct process *p);

/* Gives child a copy of parent's table (fork): the same files with a reference
 * each, the close-on-exec bits, and the working directory. */
void fdtable_fork(struct process *child, struct process *parent);

/* The descriptors new numbers stay below: RLIMIT_NOFILE's soft limit (struct
 * process's rlimits, proc/sys_misc.c), at most PROCESS_MAX_FDS. Open fds at or
 * above a lowered limit stay open, as in Linux. */
unsigned fdtable_limit(struct process *p);

#endif
