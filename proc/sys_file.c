/*
 * The file system calls, Linux x86_64 semantics: descriptors (include/fs/
 * fdtable.h), the read-only initrd tree (include/fs/initrd.h, fs/file.h),
 * pipes (fs/pipe.h) and readiness (fs/poll.h).
 *
 * Each handler checks its arguments in Linux's order, since that order decides
 * which errno a call with several faults gets: the user pointers that Linux
 * checks first (paths are copied before dirfds are looked at), then the fds,
 * then the file. The tree is read-only: every change to it answers EROFS, but
 * after the checks Linux makes first (a missing parent is ENOENT, an existing
 * name given to mkdir or O_CREAT|O_EXCL is EEXIST, a directory opened for
 * writing is EISDIR).
 */
#include <stddef.h>

#include "arch/time.h"
#include "arch/uaccess.h"
#include "fs/fcntl.h"
#include "fs/fdtable.h"
#include "fs/file.h"
#include "fs/initrd.h"
#include "fs/pipe.h"
#include "fs/poll.h"
#include "lib/errno.h"
#include "lib/string.h"
#include "mm/heap.h"
#include "proc/process.h"
#include "proc/signal.h"
#include "proc/syscall.h"

#define IO_MAX_BYTES 0x7ffff000ul /* Linux's MAX_RW_COUNT */
#define IOV_MAX 1024

/* ---- descriptors and files ----------------------------------------------------- */

static struct process *self(void)
{
    return process_current();
}

static bool may_read(const struct file *f)
{
    uint32_t mode = f->flags & (O_ACCMODE | O_PATH);
    return mode == O_RDONLY || mode == O_RDWR;
}

static bool may_write(const struct file *f)
{
    uint32_t mode = f->flags & (O_ACCMODE | O_PATH);
    return mode == O_WRONLY || mode == O_RDWR;
}

/* Runs one call on the file behind fd, holding a reference meanwhile. */
#define WITH_FILE(fd, f, expr)                                                            \
    ({                                                                                    \
        struct file *f = fdtable_get(self(), (fd));                                       \
        long with_file_result_ = -EBADF;                                                  \
        if (f) {                                                                          \
            with_file_result_ = (expr);                                                   \
            file_put(f);                                                                  \
        }                                                                                 \
        with_file_result_;                                                                \
    })

/* read(2) and write(2) on an open file: its mode, the buffer, then the operation. */
static long do_io(struct file *f, uintptr_t buf, size_t len, bool write)
{
    if (write ? !may_write(f) : !may_read(f))
        return -EBADF;
    if (!user_range_ok(buf, len))
        return -EFAULT;
    long (*op)(struct file *, uintptr_t, size_t) = write ? f->ops->write : f->ops->read;
    if (!op)
        return -EINVAL;
    return op(f, buf, len > IO_MAX_BYTES ? IO_MAX_BYTES : len);
}

long sys_read(SYSCALL_ARGS)
{
    return WITH_FILE(a0, f, do_io(f, a1, a2, false));
}

long sys_write(SYSCALL_ARGS)
{
    return WITH_FILE(a0, f, do_io(f, a1, a2, true));
}

static long do_pread(struct file *f, uintptr_t buf, size_t len, int64_t offset)
{
    if (!may_read(f))
        return -EBADF;
    if (offset < 0)
        return -EINVAL;
    if (!f->ops->pread)
        return -ESPIPE;
    if (!user_range_ok(buf, len))
        return -EFAULT;
    return f->ops->pread(f, buf, len > IO_MAX_BYTES ? IO_MAX_BYTES : len, (uint64_t)offset);
}

long sys_pread64(SYSCALL_ARGS)
{
    return WITH_FILE(a0, f, do_pread(f, a1, a2, (int64_t)a3));
}

/* No file of the tree is writable: only the checks before EBADF remain. */
long sys_pwrite64(SYSCALL_ARGS)
{
    return WITH_FILE(a0, f, may_write(f) ? ((int64_t)a3 < 0 ? -EINVAL : -ESPIPE) : -EBADF);
}

long sys_close(SYSCALL_ARGS)
{
    return fdtable_close(self(), a0);
}

struct iovec_user {
    uint64_t base, len;
};

/* readv/writev: the vectors are read and checked first (a negative length
 * EINVAL, the total clamped to MAX_RW_COUNT, then each range EFAULT), then done
 * one after the other, stopping at the first short one or failure. */
static long vector_io(struct file *f, uintptr_t user_iov, uint64_t count, bool write)
{
    if (write ? !may_write(f) : !may_read(f))
        return -EBADF;
    if (count > IOV_MAX)
        return -EINVAL;
    if (count == 0)
        return 0;
    struct iovec_user *iov = kmalloc(count * sizeof(*iov));
    if (!iov)
        return -ENOMEM;
    long result = copy_from_user(iov, user_iov, count * sizeof(*iov)) ? -EFAULT : 0;
    uint64_t total = 0;
    for (uint64_t i = 0; i < count && result == 0; i++) {
        if ((int64_t)iov[i].len < 0)
            result = -EINVAL;
        else if (iov[i].len > IO_MAX_BYTES - total)
            iov[i].len = IO_MAX_BYTES - total;
        total += iov[i].len;
    }
    for (uint64_t i = 0; i < count && result == 0; i++) {
        if (!user_range_ok(iov[i].base, iov[i].len))
            result = -EFAULT;
    }
    for (uint64_t i = 0; i < count && result >= 0; i++) {
        if (iov[i].len == 0)
            continue;
        long done = do_io(f, iov[i].base, iov[i].len, write);
        if (done < 0) {
            result = result ? result : done;
            break;
        }
        result += done;
        if ((uint64_t)done < iov[i].len)
            break;
    }
    kfree(iov);
    return result;
}

long sys_readv(SYSCALL_ARGS)
{
    return WITH_FILE(a0, f, vector_io(f, a1, a2, false));
}

long sys_writev(SYSCALL_ARGS)
{
    return WITH_FILE(a0, f, vector_io(f, a1, a2, true));
}

long sys_ioctl(SYSCALL_ARGS)
{
    return WITH_FILE(a0, f, f->ops->ioctl ? f->ops->ioctl(f, (unsigned long)a1, a2) : -ENOTTY);
}

static long do_lseek(struct file *f, int64_t offset, uint64_t whence)
{
    if (!f->ops->lseek)
        return -ESPIPE;
    if (whence > SEEK_HOLE)
        return -EINVAL;
    return f->ops->lseek(f, offset, (unsigned)whence);
}

long sys_lseek(SYSCALL_ARGS)
{
    return WITH_FILE(a0, f, do_lseek(f, (int64_t)a1, (uint32_t)a2));
}

static long do_fstat(struct file *f, uintptr_t buf)
{
    struct kstat st;
    if (!f->ops->stat)
        return -EINVAL;
    int error = f->ops->stat(f, &st);
    return error ? error : kstat_to_user(buf, &st);
}

long sys_fstat(SYSCALL_ARGS)
{
    return WITH_FILE(a0, f, do_fstat(f, a1));
}

static long do_getdents(struct file *f, uintptr_t buf, size_t len)
{
    if (!user_range_ok(buf, len))
        return -EFAULT;
    if (!f->ops->getdents)
        return -ENOTDIR;
    return f->ops->getdents(f, buf, len > IO_MAX_BYTES ? IO_MAX_BYTES : len);
}

long sys_getdents64(SYSCALL_ARGS)
{
    return WITH_FILE(a0, f, do_getdents(f, a1, (uint32_t)a2));
}

static long do_ftruncate(struct file *f, int64_t length)
{
    if (length < 0 || !may_write(f))
        return -EINVAL;
    return file_inode(f) ? -EROFS : -EINVAL;
}

long sys_ftruncate(SYSCALL_ARGS)
{
    return WITH_FILE(a0, f, do_ftruncate(f, (int64_t)a1));
}

/* ---- paths --------------------------------------------------------------------- */

/* A path copied in from user space (kmalloc'd FS_PATH_MAX bytes). */
struct kpath {
    char *name;
};

static long path_get(struct kpath *out, uintptr_t user)
{
    out->name = kmalloc(FS_PATH_MAX);
    if (!out->name)
        return -ENOMEM;
    long len = strncpy_from_user(out->name, user, FS_PATH_MAX);
    if (len < 0 || len == FS_PATH_MAX) {
        kfree(out->name);
        out->name = NULL;
        return len < 0 ? -EFAULT : -ENAMETOOLONG;
    }
    return len;
}

static void path_put(struct kpath *path)
{
    kfree(path->name);
}

/* The directory a relative path starts from: the cwd for AT_FDCWD, else the
 * directory open at dirfd (EBADF, ENOTDIR). */
static int start_dir(int64_t dirfd, const char *name, struct inode **out)
{
    struct process *p = self();
    if (name[0] == '/' || dirfd == AT_FDCWD) {
        *out = p->cwd;
        return 0;
    }
    struct file *f = fdtable_get(p, (uint64_t)(int)dirfd);
    if (!f)
        return -EBADF;
    struct inode *node = file_inode(f);
    file_put(f);
    if (!node || !S_ISDIR(node->mode))
        return -ENOTDIR;
    *out = node;
    return 0;
}

/* Looks up a user path relative to dirfd. An empty path is ENOENT before the
 * dirfd is looked at, as in Linux. */
static int lookup_at(int64_t dirfd, const char *name, unsigned flags, struct inode **out)
{
    if (name[0] == '\0')
        return -ENOENT;
    struct inode *dir;
    int error = start_dir(dirfd, name, &dir);
    return error ? error : fs_lookup(dir, name, flags, out);
}

/* The parent of a path's last component must exist and be a directory; the
 * answer for a call that would create or remove that name (0: it does). The
 * last component itself is looked up into *last (NULL when absent). */
static int lookup_parent(int64_t dirfd, const char *name, struct inode **last)
{
    *last = NULL;
    if (name[0] == '\0')
        return -ENOENT;
    struct inode *dir;
    int error = start_dir(dirfd, name, &dir);
    if (error)
        return error;
    size_t len = strlen(name);
    while (len > 1 && name[len - 1] == '/')
        len--;
    size_t cut = len;
    while (cut > 0 && name[cut - 1] != '/')
        cut--;
    if (len - cut > FS_NAME_MAX)
        return -ENAMETOOLONG;
    struct inode *parent = dir;
    if (cut > 0) {
        char *head = kmalloc(cut + 1);
        if (!head)
            return -ENOMEM;
        memcpy(head, name, cut);
        head[cut] = '\0';
        error = fs_lookup(dir, head, FS_LOOKUP_FOLLOW, &parent);
        kfree(head);
        if (error)
            return error;
    }
    if (!S_ISDIR(parent->mode))
        return -ENOTDIR;
    if (fs_lookup(dir, name, 0, last) != 0)
        *last = NULL;
    return 0;
}

/* ---- open ---------------------------------------------------------------------- */

static bool wants_write(uint32_t flags)
{
    return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

/* What opening `node` with `flags` answers before any file is made. */
static int open_checks(struct inode *node, uint32_t flags)
{
    if (S_ISLNK(node->mode))
        return (flags & O_PATH) ? 0 : -ELOOP;
    if ((flags & O_DIRECTORY) && !S_ISDIR(node->mode))
        return -ENOTDIR;
    if (flags & O_PATH)
        return 0;
    if (S_ISDIR(node->mode) && (wants_write(flags) || (flags & O_CREAT)))
        return -EISDIR;
    if (wants_write(flags))
        return -EROFS;
    return 0;
}

/* The node to open: the lookup with O_CREAT's twists. */
static int open_lookup(int64_t dirfd, const char *name, uint32_t flags, struct inode **out)
{
    bool follow = !(flags & O_NOFOLLOW) && (flags & (O_CREAT | O_EXCL)) != (O_CREAT | O_EXCL);
    if (!(flags & O_CREAT))
        return lookup_at(dirfd, name, follow ? FS_LOOKUP_FOLLOW : 0, out);
    struct inode *last;
    int error = lookup_parent(dirfd, name, &last);
    if (error)
        return error;
    if (last && (flags & O_EXCL))
        return -EEXIST;
    if (name[strlen(name) - 1] == '/')
        return -EISDIR;
    if (last && follow)
        error = lookup_at(dirfd, name, FS_LOOKUP_FOLLOW, &last);
    if (!last || error)
        return -EROFS; /* the name (or a dangling link's target) would be created */
    *out = last;
    return 0;
}

static long do_openat(int64_t dirfd, uintptr_t user_path, uint64_t flags64)
{
    uint32_t flags = (uint32_t)flags64;
    if ((flags & O_TMPFILE) == O_TMPFILE)
        return -EROFS;
    struct kpath path;
    long error = path_get(&path, user_path);
    if (error < 0)
        return error;
    struct inode *node;
    error = open_lookup(dirfd, path.name, flags, &node);
    path_put(&path);
    if (!error)
        error = open_checks(node, flags);
    if (error)
        return error;
    uint32_t kept = (flags & (O_ACCMODE | O_APPEND | O_NONBLOCK | O_DIRECTORY | O_NOFOLLOW |
                              O_PATH | O_DSYNC | O_NOATIME)) |
                    O_LARGEFILE;
    struct file *f = inode_file_open(node, kept);
    if (!f)
        return -ENOMEM;
    int fd = fdtable_install(self(), f, 0, flags & O_CLOEXEC);
    if (fd < 0)
        file_put(f);
    return fd;
}

long sys_open(SYSCALL_ARGS)
{
    return do_openat(AT_FDCWD, a0, a1);
}

long sys_openat(SYSCALL_ARGS)
{
    return do_openat((int64_t)(int)a0, a1, a2);
}

long sys_creat(SYSCALL_ARGS)
{
    return do_openat(AT_FDCWD, a0, O_CREAT | O_WRONLY | O_TRUNC);
}

/* ---- stat, readlink, access ----------------------------------------------------- */

static long do_fstatat(int64_t dirfd, uintptr_t user_path, uintptr_t buf, uint64_t flags)
{
    if (flags & ~(uint64_t)(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH))
        return -EINVAL;
    struct kpath path;
    long error = path_get(&path, user_path);
    if (error < 0)
        return error;
    if (path.name[0] == '\0' && (flags & AT_EMPTY_PATH)) {
        path_put(&path);
        if (dirfd == AT_FDCWD) {
            struct kstat st;
            inode_kstat(self()->cwd, &st);
            return kstat_to_user(buf, &st);
        }
        return WITH_FILE((uint64_t)(int)dirfd, f, do_fstat(f, buf));
    }
    struct inode *node;
    error = lookup_at(dirfd, path.name, (flags & AT_SYMLINK_NOFOLLOW) ? 0 : FS_LOOKUP_FOLLOW, &node);
    path_put(&path);
    if (error)
        return error;
    struct kstat st;
    inode_kstat(node, &st);
    return kstat_to_user(buf, &st);
}

long sys_stat(SYSCALL_ARGS)
{
    return do_fstatat(AT_FDCWD, a0, a1, 0);
}

long sys_lstat(SYSCALL_ARGS)
{
    return do_fstatat(AT_FDCWD, a0, a1, AT_SYMLINK_NOFOLLOW);
}

long sys_newfstatat(SYSCALL_ARGS)
{
    return do_fstatat((int64_t)(int)a0, a1, a2, a3);
}

/* The inode a user path names (from dirfd, as lookup_at's flags say), or its error:
 * the path copied in, looked up, and let go. */
static long lookup_user(int64_t dirfd, uintptr_t user_path, unsigned lookup_flags,
                        struct inode **node)
{
    struct kpath path;
    long error = path_get(&path, user_path);
    if (error < 0)
        return error;
    error = lookup_at(dirfd, path.name, lookup_flags, node);
    path_put(&path);
    return error;
}

static long do_readlinkat(int64_t dirfd, uintptr_t user_path, uintptr_t buf, int64_t size)
{
    if (size <= 0)
        return -EINVAL;
    struct inode *node;
    long error = lookup_user(dirfd, user_path, 0, &node);
    if (error)
        return error;
    if (!S_ISLNK(node->mode))
        return -EINVAL;
    size_t n = node->size < (uint64_t)size ? node->size : (size_t)size;
    return copy_to_user(buf, node->data, n) ? -EFAULT : (long)n;
}

long sys_readlink(SYSCALL_ARGS)
{
    return do_readlinkat(AT_FDCWD, a0, a1, (int)a2);
}

long sys_readlinkat(SYSCALL_ARGS)
{
    return do_readlinkat((int64_t)(int)a0, a1, a2, (int)a3);
}

/* Permission for root (Exo's only user): read and write always (write then
 * meets the read-only tree), execute when some x bit is set or for a directory. */
static long do_faccessat(int64_t dirfd, uintptr_t user_path, uint64_t mode, uint64_t flags)
{
    if (mode & ~(uint64_t)(R_OK | W_OK | X_OK))
        return -EINVAL;
    if (flags & ~(uint64_t)(AT_SYMLINK_NOFOLLOW | AT_EACCESS | AT_EMPTY_PATH))
        return -EINVAL;
    struct inode *node;
    long error = lookup_user(dirfd, user_path,
                             (flags & AT_SYMLINK_NOFOLLOW) ? 0 : FS_LOOKUP_FOLLOW, &node);
    if (error)
        return error;
    if (mode & W_OK)
        return -EROFS;
    if ((mode & X_OK) && !S_ISDIR(node->mode) && !(node->mode & (S_IXUSR | S_IXGRP | S_IXOTH)))
        return -EACCES;
    return 0;
}

long sys_access(SYSCALL_ARGS)
{
    return do_faccessat(AT_FDCWD, a0, a1, 0);
}

long sys_faccessat(SYSCALL_ARGS)
{
    return do_faccessat((int64_t)(int)a0, a1, a2, 0);
}

long sys_faccessat2(SYSCALL_ARGS)
{
    return do_faccessat((int64_t)(int)a0, a1, a2, a3);
}

/* ---- the working directory -------------------------------------------------------- */

/* Writes the absolute path of dir into buf (size bytes, NUL included), from
 * the end backwards; returns its start, or NULL when it does not fit. */
static char *path_of(struct inode *dir, char *buf, size_t size)
{
    char *at = buf + size;
    *--at = '\0';
    if (dir == fs_root() || dir->parent == dir) {
        if (at == buf)
            return NULL;
        *--at = '/';
        return at;
    }
    for (struct inode *node = dir; node->parent != node; node = node->parent) {
        size_t len = strlen(node->name);
        if ((size_t)(at - buf) < len + 1)
            return NULL;
        at -= len;
        memcpy(at, node->name, len);
        *--at = '/';
    }
    return at;
}

long sys_getcwd(SYSCALL_ARGS)
{
    char *buf = kmalloc(FS_PATH_MAX);
    if (!buf)
        return -ENOMEM;
    struct inode *cwd = self()->cwd;
    char *path = cwd ? path_of(cwd, buf, FS_PATH_MAX) : NULL;
    long result;
    if (!path) {
        result = -ENAMETOOLONG;
    } else {
        size_t len = (size_t)(buf + FS_PATH_MAX - path); /* NUL included */
        if (len > a1)
            result = -ERANGE;
        else
            result = copy_to_user(a0, path, len) ? -EFAULT : (long)len;
    }
    kfree(buf);
    return result;
}

long sys_chdir(SYSCALL_ARGS)
{
    struct inode *node;
    long error = lookup_user(AT_FDCWD, a0, FS_LOOKUP_FOLLOW, &node);
    if (error)
        return error;
    if (!S_ISDIR(node->mode))
        return -ENOTDIR;
    self()->cwd = node;
    return 0;
}

static long do_fchdir(struct file *f)
{
    struct inode *node = file_inode(f);
    if (!node || !S_ISDIR(node->mode))
        return -ENOTDIR;
    self()->cwd = node;
    return 0;
}

long sys_fchdir(SYSCALL_ARGS)
{
    return WITH_FILE(a0, f, do_fchdir(f));
}

/* ---- changes to the tree: EROFS after Linux's earlier checks ---------------------------- */

/* A call that makes a name (mkdir, mknod, symlink, link's new name): the parent
 * must exist, the name must not (EEXIST), then EROFS. */
static long make_name(int64_t dirfd, uintptr_t user_path)
{
    struct kpath path;
    long error = path_get(&path, user_path);
    if (error < 0)
        return error;
    struct inode *last;
    error = lookup_parent(dirfd, path.name, &last);
    path_put(&path);
    if (error)
        return error;
    return last ? -EEXIST : -EROFS;
}

/* A call that removes or renames a name: the parent must exist, then EROFS
 * (Linux asks the mount before looking the name up). */
static long remove_name(int64_t dirfd, uintptr_t user_path)
{
    struct kpath path;
    long error = path_get(&path, user_path);
    if (error < 0)
        return error;
    struct inode *last;
    error = lookup_parent(dirfd, path.name, &last);
    path_put(&path);
    return error ? error : -EROFS;
}

/* A call that changes an existing file (chmod, chown, truncate, utimes): it
 * must exist, then EROFS. */
static long change_node(int64_t dirfd, uintptr_t user_path, unsigned lookup_flags, bool truncate)
{
    struct inode *node;
    long error = lookup_user(dirfd, user_path, lookup_flags, &node);
    if (error)
        return error;
    if (truncate && S_ISDIR(node->mode))
        return -EISDIR;
    return -EROFS;
}

long sys_mkdir(SYSCALL_ARGS)
{
    return make_name(AT_FDCWD, a0);
}

long sys_mkdirat(SYSCALL_ARGS)
{
    return make_name((int64_t)(int)a0, a1);
}

long sys_mknod(SYSCALL_ARGS)
{
    return make_name(AT_FDCWD, a0);
}

long sys_mknodat(SYSCALL_ARGS)
{
    return make_name((int64_t)(int)a0, a1);
}

long sys_symlink(SYSCALL_ARGS)
{
    struct kpath target;
    long error = path_get(&target, a0);
    if (error < 0)
        return error;
    path_put(&target);
    return make_name(AT_FDCWD, a1);
}

long sys_symlinkat(SYSCALL_ARGS)
{
    struct kpath target;
    long error = path_get(&target, a0);
    if (error < 0)
        return error;
    path_put(&target);
    return make_name((int64_t)(int)a1, a2);
}

static long do_linkat(int64_t old_dirfd, uintptr_t old_path, int64_t new_dirfd,
                      uintptr_t new_path, unsigned lookup_flags)
{
    long error = change_node(old_dirfd, old_path, lookup_flags, false);
    return error == -EROFS ? make_name(new_dirfd, new_path) : error;
}

long sys_link(SYSCALL_ARGS)
{
    return do_linkat(AT_FDCWD, a0, AT_FDCWD, a1, 0);
}

long sys_linkat(SYSCALL_ARGS)
{
    if (a4 & ~(uint64_t)(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH))
        return -EINVAL;
    return do_linkat((int64_t)(int)a0, a1, (int64_t)(int)a2, a3,
                     (a4 & AT_SYMLINK_FOLLOW) ? FS_LOOKUP_FOLLOW : 0);
}

long sys_unlink(SYSCALL_ARGS)
{
    return remove_name(AT_FDCWD, a0);
}

long sys_rmdir(SYSCALL_ARGS)
{
    return remove_name(AT_FDCWD, a0);
}

long sys_unlinkat(SYSCALL_ARGS)
{
    if (a2 & ~(uint64_t)AT_REMOVEDIR)
        return -EINVAL;
    return remove_name((int64_t)(int)a0, a1);
}

static long do_renameat(int64_t old_dirfd, uintptr_t old_path, int64_t new_dirfd,
                        uintptr_t new_path)
{
    long error = remove_name(old_dirfd, old_path);
    return error == -EROFS ? remove_name(new_dirfd, new_path) : error;
}

long sys_rename(SYSCALL_ARGS)
{
    return do_renameat(AT_FDCWD, a0, AT_FDCWD, a1);
}

long sys_renameat(SYSCALL_ARGS)
{
    return do_renameat((int64_t)(int)a0, a1, (int64_t)(int)a2, a3);
}

long sys_renameat2(SYSCALL_ARGS)
{
    if (a4 & ~7ull) /* RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT */
        return -EINVAL;
    return do_renameat((int64_t)(int)a0, a1, (int64_t)(int)a2, a3);
}

long sys_chmod(SYSCALL_ARGS)
{
    return change_node(AT_FDCWD, a0, FS_LOOKUP_FOLLOW, false);
}

long sys_fchmodat(SYSCALL_ARGS)
{
    return change_node((int64_t)(int)a0, a1, FS_LOOKUP_FOLLOW, false);
}

long sys_chown(SYSCALL_ARGS)
{
    return change_node(AT_FDCWD, a0, FS_LOOKUP_FOLLOW, false);
}

long sys_lchown(SYSCALL_ARGS)
{
    return change_node(AT_FDCWD, a0, 0, false);
}

long sys_fchownat(SYSCALL_ARGS)
{
    if (a4 & ~(uint64_t)(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
        return -EINVAL;
    return change_node((int64_t)(int)a0, a1, (a4 & AT_SYMLINK_NOFOLLOW) ? 0 : FS_LOOKUP_FOLLOW,
                       false);
}

long sys_truncate(SYSCALL_ARGS)
{
    if ((int64_t)a1 < 0)
        return -EINVAL;
    return change_node(AT_FDCWD, a0, FS_LOOKUP_FOLLOW, true);
}

/* A file's own metadata through its fd: the tree's files are read-only; the
 * console and pipes keep theirs as they are. */
static long change_file(struct file *f)
{
    return file_inode(f) ? -EROFS : 0;
}

long sys_fchmod(SYSCALL_ARGS)
{
    return WITH_FILE(a0, f, change_file(f));
}

long sys_fchown(SYSCALL_ARGS)
{
    return WITH_FILE(a0, f, change_file(f));
}

long sys_utimensat(SYSCALL_ARGS)
{
    if (a3 & ~(uint64_t)(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
        return -EINVAL;
    if (a1 == 0) /* futimens: the fd itself */
        return WITH_FILE((uint64_t)(int)a0, f, change_file(f));
    return change_node((int64_t)(int)a0, a1, (a3 & AT_SYMLINK_NOFOLLOW) ? 0 : FS_LOOKUP_FOLLOW,
                       false);
}

/* ---- descriptors ------------------------------------------------------------------- */

long sys_dup(SYSCALL_ARGS)
{
    struct process *p = self();
    struct file *f = fdtable_get(p, a0);
    if (!f)
        return -EBADF;
    int fd = fdtable_install(p, f, 0, false);
    if (fd < 0)
        file_put(f);
    return fd;
}

static long do_dup3(uint64_t oldfd, uint64_t newfd, uint64_t flags)
{
    if (flags & ~(uint64_t)O_CLOEXEC)
        return -EINVAL;
    if (oldfd == newfd)
        return -EINVAL;
    struct process *p = self();
    if (newfd >= fdtable_limit(p))
        return -EBADF;
    struct file *f = fdtable_get(p, oldfd);
    if (!f)
        return -EBADF;
    int fd = fdtable_install_at(p, f, newfd, flags & O_CLOEXEC);
    file_put(f);
    return fd;
}

long sys_dup2(SYSCALL_ARGS)
{
    if ((uint32_t)a0 == (uint32_t)a1)
        return WITH_FILE((uint32_t)a0, f, (long)(uint32_t)a0);
    return do_dup3((uint32_t)a0, (uint32_t)a1, 0);
}

long sys_dup3(SYSCALL_ARGS)
{
    return do_dup3((uint32_t)a0, (uint32_t)a1, a2);
}

static long dup_from(struct file *f, uint64_t min, bool cloexec)
{
    struct process *p = self();
    if (min >= fdtable_limit(p))
        return -EINVAL;
    file_get(f);
    int fd = fdtable_install(p, f, (unsigned)min, cloexec);
    if (fd < 0)
        file_put(f);
    return fd;
}

static long do_fcntl(struct file *f, uint64_t fd, uint64_t cmd, uint64_t arg)
{
    switch (cmd) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC:
        return dup_from(f, arg, cmd == F_DUPFD_CLOEXEC);
    case F_GETFD:
        return fdtable_get_cloexec(self(), fd) > 0 ? FD_CLOEXEC : 0;
    case F_SETFD:
        return fdtable_set_cloexec(self(), fd, arg & FD_CLOEXEC);
    case F_GETFL:
        return __atomic_load_n(&f->flags, __ATOMIC_RELAXED);
    case F_SETFL: {
        uint32_t old = __atomic_load_n(&f->flags, __ATOMIC_RELAXED), new;
        do {
            new = (old & ~FILE_SETFL_MASK) | ((uint32_t)arg & FILE_SETFL_MASK);
        } while (!__atomic_compare_exchange_n(&f->flags, &old, new, false, __ATOMIC_RELAXED,
                                              __ATOMIC_RELAXED));
        return 0;
    }
    default:
        return -EINVAL;
    }
}

long sys_fcntl(SYSCALL_ARGS)
{
    return WITH_FILE((uint32_t)a0, f, do_fcntl(f, (uint32_t)a0, (uint32_t)a1, a2));
}

long sys_pipe2(SYSCALL_ARGS)
{
    if (a1 & ~(uint64_t)(O_CLOEXEC | O_NONBLOCK))
        return -EINVAL;
    struct file *r, *w;
    int error = pipe_create((uint32_t)a1, &r, &w);
    if (error)
        return error;
    struct process *p = self();
    bool cloexec = a1 & O_CLOEXEC;
    int fds[2] = {fdtable_install(p, r, 0, cloexec), -1};
    if (fds[0] >= 0)
        fds[1] = fdtable_install(p, w, 0, cloexec);
    if (fds[1] < 0 || copy_to_user(a0, fds, sizeof(fds))) {
        long result = fds[1] < 0 ? -EMFILE : -EFAULT;
        /* Undo: the table's references go with close, the rest by hand. */
        if (fds[0] >= 0)
            fdtable_close(p, (uint64_t)fds[0]);
        else
            file_put(r);
        if (fds[1] >= 0)
            fdtable_close(p, (uint64_t)fds[1]);
        else
            file_put(w);
        return result;
    }
    return 0;
}

long sys_pipe(SYSCALL_ARGS)
{
    return sys_pipe2(a0, 0, 0, 0, 0, 0);
}

/* ---- poll and select ------------------------------------------------------------------ */

struct pollfd_user {
    int32_t fd;
    int16_t events, revents;
};

/* What fd is ready for now, or POLLNVAL when it is not open. */
static unsigned poll_fd(struct process *p, int fd)
{
    struct file *f = fdtable_get(p, (uint64_t)(uint32_t)fd);
    if (!f)
        return POLLNVAL;
    unsigned mask = f->ops->poll ? f->ops->poll(f) : POLL_ALWAYS;
    file_put(f);
    return mask;
}

/* One scan of the array: revents filled, the count of fds with any. */
static int poll_scan(struct process *p, struct pollfd_user *fds, uint64_t n)
{
    int ready = 0;
    for (uint64_t i = 0; i < n; i++) {
        fds[i].revents = 0;
        if (fds[i].fd < 0)
            continue;
        unsigned want = (uint16_t)fds[i].events | POLLERR | POLLHUP | POLLNVAL;
        fds[i].revents = (int16_t)(poll_fd(p, fds[i].fd) & want);
        if (fds[i].revents)
            ready++;
    }
    return ready;
}

/* The absolute deadline of a relative timeout in ns (UINT64_MAX: none). */
static uint64_t deadline_after(uint64_t ns)
{
    if (ns == UINT64_MAX)
        return UINT64_MAX;
    uint64_t now = arch_time_ns();
    return ns > UINT64_MAX - 1 - now ? UINT64_MAX - 1 : now + ns;
}

static long do_poll(uintptr_t user_fds, uint64_t n, uint64_t timeout_ns)
{
    struct process *p = self();
    if (n > fdtable_limit(p))
        return -EINVAL;
    struct pollfd_user *fds = kmalloc(n ? n * sizeof(*fds) : 1);
    if (!fds)
        return -ENOMEM;
    long result = copy_from_user(fds, user_fds, n * sizeof(*fds)) ? -EFAULT : 0;
    uint64_t deadline = deadline_after(timeout_ns);
    while (result == 0) {
        uint64_t seen = fs_poll_generation();
        result = poll_scan(p, fds, n);
        int waited = result ? 1 : fs_poll_wait(seen, deadline);
        if (waited) {
            result = waited < 0 ? waited : result;
            break;
        }
    }
    if (result >= 0 && n) {
        for (uint64_t i = 0; i < n; i++) {
            if (copy_to_user(user_fds + i * sizeof(*fds) + offsetof(struct pollfd_user, revents),
                             &fds[i].revents, sizeof(fds[i].revents))) {
                result = -EFAULT;
                break;
            }
        }
    }
    kfree(fds);
    return result;
}

long sys_poll(SYSCALL_ARGS)
{
    int timeout_ms = (int)a2;
    return do_poll(a0, a1, timeout_ms < 0 ? UINT64_MAX : (uint64_t)timeout_ms * 1000000u);
}

struct timespec_k {
    int64_t sec, nsec;
};

/* A user timespec as ns (NULL: UINT64_MAX, no timeout); -EINVAL, -EFAULT. */
static int timeout_from_user(uintptr_t user, uint64_t *ns)
{
    *ns = UINT64_MAX;
    if (!user)
        return 0;
    struct timespec_k ts;
    if (copy_from_user(&ts, user, sizeof(ts)))
        return -EFAULT;
    if (ts.sec < 0 || ts.nsec < 0 || ts.nsec >= 1000000000)
        return -EINVAL;
    *ns = (uint64_t)ts.sec > (UINT64_MAX - 1) / 1000000000u - 1
              ? UINT64_MAX - 1
              : (uint64_t)ts.sec * 1000000000u + (uint64_t)ts.nsec;
    return 0;
}

#define SIGSET_BYTES 8

/* The mask ppoll/pselect6 wait under (include/proc/signal.h): read and
 * installed for the wait; *installed says whether one was. */
static int wait_mask_from_user(uintptr_t user_mask, uint64_t size, bool *installed)
{
    *installed = false;
    if (!user_mask)
        return 0;
    if (size != SIGSET_BYTES)
        return -EINVAL;
    uint64_t mask;
    if (copy_from_user(&mask, user_mask, sizeof(mask)))
        return -EFAULT;
    signal_wait_mask_set(mask);
    *installed = true;
    return 0;
}

/* After the wait: a signal's end leaves the mask for the return path to put
 * back after the handler is set up; any other end puts it back now. */
static long wait_mask_done(long result, bool installed)
{
    if (installed && result != -ERESTARTNOHAND)
        signal_wait_mask_restore();
    return result;
}

long sys_ppoll(SYSCALL_ARGS)
{
    uint64_t ns;
    bool masked;
    int error = timeout_from_user(a2, &ns);
    if (!error)
        error = wait_mask_from_user(a3, a4, &masked);
    if (error)
        return error;
    return wait_mask_done(do_poll(a0, a1, ns), masked);
}

/* select's fd sets: nfds bits each, in longs. */
#define FDSET_BITS 64

struct fd_sets {
    uint64_t in[PROCESS_MAX_FDS / FDSET_BITS], out[PROCESS_MAX_FDS / FDSET_BITS],
        ex[PROCESS_MAX_FDS / FDSET_BITS];
};

static int fdset_get(uint64_t *set, uintptr_t user, size_t bytes)
{
    memset(set, 0, PROCESS_MAX_FDS / 8);
    return user && copy_from_user(set, user, bytes) ? -EFAULT : 0;
}

static bool bit(const uint64_t *set, unsigned fd)
{
    return set[fd / FDSET_BITS] >> (fd % FDSET_BITS) & 1;
}

/* One scan: the result sets in *out, the count of bits set, or -EBADF. */
static int select_scan(struct process *p, unsigned nfds, const struct fd_sets *want,
                       struct fd_sets *out)
{
    int ready = 0;
    memset(out, 0, sizeof(*out));
    for (unsigned fd = 0; fd < nfds; fd++) {
        bool in = bit(want->in, fd), wr = bit(want->out, fd), ex = bit(want->ex, fd);
        if (!in && !wr && !ex)
            continue;
        unsigned mask = poll_fd(p, (int)fd);
        if (mask & POLLNVAL)
            return -EBADF;
        uint64_t b = 1ull << (fd % FDSET_BITS);
        if (in && (mask & (POLLIN | POLLRDNORM | POLLHUP | POLLERR))) {
            out->in[fd / FDSET_BITS] |= b;
            ready++;
        }
        if (wr && (mask & (POLLOUT | POLLWRNORM | POLLERR))) {
            out->out[fd / FDSET_BITS] |= b;
            ready++;
        }
        if (ex && (mask & POLLPRI)) {
            out->ex[fd / FDSET_BITS] |= b;
            ready++;
        }
    }
    return ready;
}

static long do_select(int64_t nfds, uintptr_t in, uintptr_t out, uintptr_t ex, uint64_t timeout_ns)
{
    if (nfds < 0 || nfds > INT32_MAX)
        return -EINVAL;
    if (nfds > PROCESS_MAX_FDS)
        nfds = PROCESS_MAX_FDS;
    size_t bytes = ((size_t)nfds + FDSET_BITS - 1) / FDSET_BITS * 8;
    struct fd_sets *sets = kmalloc(2 * sizeof(*sets));
    if (!sets)
        return -ENOMEM;
    struct fd_sets *want = &sets[0], *got = &sets[1];
    long result = fdset_get(want->in, in, bytes);
    if (!result)
        result = fdset_get(want->out, out, bytes);
    if (!result)
        result = fdset_get(want->ex, ex, bytes);
    uint64_t deadline = deadline_after(timeout_ns);
    struct process *p = self();
    while (result == 0) {
        uint64_t seen = fs_poll_generation();
        result = select_scan(p, (unsigned)nfds, want, got);
        int waited = result ? 1 : fs_poll_wait(seen, deadline);
        if (waited) {
            result = waited < 0 ? waited : result;
            break;
        }
    }
    if (result >= 0 && ((in && copy_to_user(in, got->in, bytes)) ||
                        (out && copy_to_user(out, got->out, bytes)) ||
                        (ex && copy_to_user(ex, got->ex, bytes))))
        result = -EFAULT;
    kfree(sets);
    return result;
}

struct timeval_k {
    int64_t sec, usec;
};

long sys_select(SYSCALL_ARGS)
{
    uint64_t ns = UINT64_MAX;
    struct timeval_k tv;
    if (a4) {
        if (copy_from_user(&tv, a4, sizeof(tv)))
            return -EFAULT;
        if (tv.sec < 0 || tv.usec < 0)
            return -EINVAL;
        uint64_t sec = (uint64_t)tv.sec + (uint64_t)tv.usec / 1000000u;
        ns = sec > 1000000000000ull ? UINT64_MAX - 1
                                    : sec * 1000000000u + (uint64_t)tv.usec % 1000000u * 1000u;
    }
    uint64_t start = arch_time_ns();
    long result = do_select((int)a0, a1, a2, a3, ns);
    if (a4 && result >= 0) {
        /* Linux writes back the time left. */
        uint64_t spent = arch_time_ns() - start;
        uint64_t left = ns > spent ? ns - spent : 0;
        tv = (struct timeval_k){(int64_t)(left / 1000000000u), (int64_t)(left % 1000000000u / 1000u)};
        if (copy_to_user(a4, &tv, sizeof(tv)))
            return -EFAULT;
    }
    return result;
}

/* pselect6's sixth argument: {const sigset_t *ss; size_t ss_len}. */
struct sigset_arg {
    uint64_t mask, size;
};

long sys_pselect6(SYSCALL_ARGS)
{
    uint64_t ns;
    int error = timeout_from_user(a4, &ns);
    struct sigset_arg sig = {0, 0};
    if (!error && a5 && copy_from_user(&sig, a5, sizeof(sig)))
        error = -EFAULT;
    bool masked;
    if (!error)
        error = wait_mask_from_user(sig.mask, sig.size, &masked);
    if (error)
        return error;
    return wait_mask_done(do_select((int)a0, a1, a2, a3, ns), masked);
}

/* ---- mmap of a file ------------------------------------------------------------------- */

#define MAP_SHARED 0x01u
#define MAP_PRIVATE 0x02u
#define MAP_SHARED_VALIDATE 0x03u
#define MAP_TYPE 0x0fu
#define MAP_FIXED 0x10u
#define MAP_FIXED_NOREPLACE 0x100000u

/*
 * The initrd never changes, so a mapping of one of its files is its bytes
 * copied into fresh private pages at mmap time: a private mapping (PROT_WRITE
 * or not) is then exactly Linux's copy-on-write one as the process sees it, and
 * a shared read-only mapping sees the same bytes a shared one would. The part
 * of the last page past the end of the file reads as zeros; pages wholly past
 * it read as zeros too (Linux raises SIGBUS there). A shared mapping cannot be
 * writable: the file is not open for writing (EACCES).
 */
static long map_file(struct file *f, uintptr_t addr, uint64_t len, unsigned prot, unsigned flags,
                     uint64_t offset)
{
    struct inode *node = file_inode(f);
    unsigned type = flags & MAP_TYPE;
    if (type != MAP_PRIVATE && type != MAP_SHARED && type != MAP_SHARED_VALIDATE)
        return -EINVAL;
    if (len == 0 || (offset & (VMSPACE_PAGE - 1)))
        return -EINVAL;
    if (!node || !S_ISREG(node->mode))
        return -ENODEV;
    if (!may_read(f) || (type != MAP_PRIVATE && (prot & VM_WRITE)))
        return -EACCES;
    if (len > VMSPACE_USER_END || offset > INT64_MAX - len)
        return -ENOMEM;
    unsigned vm_flags = 0;
    if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
        if (addr & (VMSPACE_PAGE - 1))
            return -EINVAL;
        /* NOREPLACE wins over FIXED, as in Linux: -EEXIST if anything is there. */
        vm_flags = (flags & MAP_FIXED_NOREPLACE) ? VMSPACE_NOREPLACE : VMSPACE_FIXED;
    }
    struct vmspace *vm = self()->vm;
    /* Pages wholly past the end of the file are a bus error, as in Linux. */
    size_t file_bytes = offset < node->size ? (size_t)(node->size - offset) : 0;
    int error = vmspace_map_file(vm, &addr, len, prot, vm_flags, file_bytes);
    if (error)
        return error;
    if (offset < node->size) {
        size_t n = node->size - offset < len ? (size_t)(node->size - offset) : len;
        error = vmspace_write(vm, addr, node->data + offset, n);
        if (error) {
            int undo = vmspace_unmap(vm, addr, len); /* the region just made: cannot fail */
            return undo ? undo : error;
        }
    }
    return (long)addr;
}

long file_mmap(uintptr_t addr, uint64_t len, unsigned prot, unsigned flags, uint64_t fd,
               uint64_t offset)
{
    return WITH_FILE((uint32_t)fd, f, map_file(f, addr, len, prot, flags, offset));
}

/* ---- sendfile ------------------------------------------------------------------------- */

/*
 * Exo's files move data between themselves and user memory only (file_ops take
 * user buffers), so no pair of files can splice: after Linux's descriptor
 * checks sendfile answers EINVAL, Linux's answer for files that cannot, and
 * callers such as busybox's cat fall back to read and write.
 */
static long sendfile_checks(struct file *in, uint64_t out_fd)
{
    if (!may_read(in))
        return -EBADF;
    return WITH_FILE(out_fd, out, may_write(out) ? -EINVAL : -EBADF);
}

long sys_sendfile(SYSCALL_ARGS)
{
    return WITH_FILE((uint32_t)a1, in, sendfile_checks(in, (uint32_t)a0));
}
