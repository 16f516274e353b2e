/*
 * The socket system calls, Linux x86_64 semantics, over Unix-domain sockets
 * (include/fs/unix_socket.h): this file reads and checks the user structures
 * (addresses, msghdr, iovecs, option values) in Linux's order and writes the
 * results back; the sockets themselves are fs/unix_socket.c's.
 *
 * Order of checks, as Linux's net/socket.c: the descriptor (EBADF, then
 * ENOTSOCK), then the address copied in (a length beyond sockaddr_storage or
 * negative: EINVAL; a fault: EFAULT), then the family's own checks
 * (unix_validate_addr: EINVAL for a length outside sun_path or another
 * family). Only AF_UNIX exists; socket() of any other family is EAFNOSUPPORT.
 */
#include <stddef.h>

#include "arch/uaccess.h"
#include "fs/fcntl.h"
#include "fs/fdtable.h"
#include "fs/unix_socket.h"
#include "lib/errno.h"
#include "lib/string.h"
#include "mm/heap.h"
#include "proc/process.h"
#include "proc/syscall.h"

#define SOCK_MAX 11               /* SOCK_PACKET + 1 */
#define SOCKADDR_STORAGE 128     /* sizeof(struct sockaddr_storage) */
#define UIO_MAXIOV 1024
#define IO_MAX_BYTES 0x7ffff000ul /* Linux's MAX_RW_COUNT */
#define SCM_RIGHTS 1
#define SCM_CREDENTIALS 2
#define OPTMEM_MAX 20480          /* Linux's net.core.optmem_max: the largest control buffer */

/* The socket behind fd with a reference, or NULL with *error set. */
static struct file *socket_get(uint64_t fd, long *error)
{
    struct file *f = fdtable_get(process_current(), fd);
    if (!f) {
        *error = -EBADF;
        return NULL;
    }
    if (!unix_socket_is(f)) {
        file_put(f);
        *error = -ENOTSOCK;
        return NULL;
    }
    return f;
}

/* Runs expr on the socket behind fd. */
#define WITH_SOCKET(fd, f, expr)                                                          \
    ({                                                                                    \
        long with_socket_error_;                                                          \
        struct file *f = socket_get((fd), &with_socket_error_);                           \
        if (f) {                                                                          \
            with_socket_error_ = (expr);                                                  \
            file_put(f);                                                                  \
        }                                                                                 \
        with_socket_error_;                                                               \
    })

/* ---- addresses -------------------------------------------------------------------- */

/* Linux's move_addr_to_kernel: the raw bytes of a user sockaddr. */
static int addr_from_user(uintptr_t user, uint64_t len, struct unix_addr *out)
{
    if ((int)len < 0 || (int)len > SOCKADDR_STORAGE)
        return -EINVAL;
    uint8_t raw[SOCKADDR_STORAGE];
    if (len && copy_from_user(raw, user, len))
        return -EFAULT;
    out->len = (uint32_t)len;
    memcpy(out->bytes, raw, len < UNIX_ADDR_MAX ? len : UNIX_ADDR_MAX);
    return 0;
}

static int family_of(const struct unix_addr *a)
{
    return a->bytes[0] | a->bytes[1] << 8;
}

/* Linux's unix_validate_addr: a name of 1..108 bytes, family AF_UNIX. */
static int unix_validate_addr(const struct unix_addr *a)
{
    if (a->len <= 2 || a->len > UNIX_ADDR_MAX || family_of(a) != AF_UNIX)
        return -EINVAL;
    return 0;
}

/* Linux's move_addr_to_user: at most *user_len bytes of a, the full length
 * written back to *user_len. */
static int addr_to_user(const struct unix_addr *a, uintptr_t user, uintptr_t user_len)
{
    int len;
    if (copy_from_user(&len, user_len, sizeof(len)))
        return -EFAULT;
    if (len > (int)a->len) /* signed, as Linux's: a negative length stays, EINVAL */
        len = (int)a->len;
    if (len < 0)
        return -EINVAL;
    if (len && copy_to_user(user, a->bytes, (size_t)len))
        return -EFAULT;
    int full = (int)a->len;
    return copy_to_user(user_len, &full, sizeof(full));
}

/* ---- creating ---------------------------------------------------------------------- */

/* socket(2)'s family, type and protocol: the type without its flags, or -errno. */
static int check_socket_args(uint64_t family, uint64_t type_flags, uint64_t protocol)
{
    int type = (int)(type_flags & SOCK_TYPE_MASK);
    if ((uint32_t)type_flags & ~(uint32_t)(SOCK_TYPE_MASK | SOCK_NONBLOCK | SOCK_CLOEXEC))
        return -EINVAL;
    if ((int)family != AF_UNIX)
        return -EAFNOSUPPORT; /* the only family Exo has */
    if (type >= SOCK_MAX)
        return -EINVAL;
    if ((int)protocol != 0 && (int)protocol != AF_UNIX)
        return -EPROTONOSUPPORT;
    if (type != SOCK_STREAM && type != SOCK_DGRAM && type != SOCK_SEQPACKET)
        return type == 3 /* SOCK_RAW */ ? SOCK_DGRAM : -ESOCKTNOSUPPORT;
    return type;
}

long sys_socket(SYSCALL_ARGS)
{
    int type = check_socket_args(a0, a1, a2);
    if (type < 0)
        return type;
    struct file *f;
    int error = unix_socket_create(type, (uint32_t)a1, &f);
    if (error)
        return error;
    int fd = fdtable_install(process_current(), f, 0, a1 & SOCK_CLOEXEC);
    if (fd < 0)
        file_put(f);
    return fd;
}

long sys_socketpair(SYSCALL_ARGS)
{
    int type = check_socket_args(a0, a1, a2);
    if (type < 0)
        return type;
    struct file *f[2];
    int error = unix_socket_pair(type, (uint32_t)a1, &f[0], &f[1]);
    if (error)
        return error;
    struct process *p = process_current();
    bool cloexec = a1 & SOCK_CLOEXEC;
    int fds[2] = {fdtable_install(p, f[0], 0, cloexec), -1};
    if (fds[0] >= 0)
        fds[1] = fdtable_install(p, f[1], 0, cloexec);
    if (fds[1] < 0 || copy_to_user(a3, fds, sizeof(fds))) {
        long result = fds[1] < 0 ? -EMFILE : -EFAULT;
        for (int i = 0; i < 2; i++) {
            if (fds[i] >= 0)
                fdtable_close(p, (uint64_t)fds[i]);
            else
                file_put(f[i]);
        }
        return result;
    }
    return 0;
}

/* ---- names and connections ----------------------------------------------------------- */

static long do_bind(struct file *f, uintptr_t user, uint64_t len)
{
    struct unix_addr a;
    int error = addr_from_user(user, len, &a);
    if (error)
        return error;
    if (!(a.len == 2 && family_of(&a) == AF_UNIX) && (error = unix_validate_addr(&a)))
        return error;
    return unix_socket_bind(f, &a);
}

long sys_bind(SYSCALL_ARGS)
{
    return WITH_SOCKET(a0, f, do_bind(f, a1, a2));
}

long sys_listen(SYSCALL_ARGS)
{
    return WITH_SOCKET(a0, f, unix_socket_listen(f, (int)a1));
}

static long do_connect(struct file *f, uintptr_t user, uint64_t len)
{
    struct unix_addr a;
    int error = addr_from_user(user, len, &a);
    if (error)
        return error;
    if (a.len >= 2 && family_of(&a) == AF_UNSPEC)
        return unix_socket_connect(f, NULL);
    if ((error = unix_validate_addr(&a)))
        return error;
    return unix_socket_connect(f, &a);
}

long sys_connect(SYSCALL_ARGS)
{
    return WITH_SOCKET(a0, f, do_connect(f, a1, a2));
}

static long do_accept(struct file *f, uintptr_t user, uintptr_t user_len, uint64_t flags)
{
    if (flags & ~(uint64_t)(SOCK_NONBLOCK | SOCK_CLOEXEC))
        return -EINVAL;
    struct file *nf;
    struct unix_addr peer;
    int error = unix_socket_accept(f, (uint32_t)flags, &nf, &peer);
    if (error)
        return error;
    if (user && (error = addr_to_user(&peer, user, user_len))) {
        file_put(nf); /* Linux too drops the connection when the address cannot go out */
        return error;
    }
    int fd = fdtable_install(process_current(), nf, 0, flags & SOCK_CLOEXEC);
    if (fd < 0)
        file_put(nf);
    return fd;
}

long sys_accept(SYSCALL_ARGS)
{
    return WITH_SOCKET(a0, f, do_accept(f, a1, a2, 0));
}

long sys_accept4(SYSCALL_ARGS)
{
    return WITH_SOCKET(a0, f, do_accept(f, a1, a2, a3));
}

static long do_getname(struct file *f, uintptr_t user, uintptr_t user_len, bool peer)
{
    struct unix_addr a;
    int error = unix_socket_name(f, peer, &a);
    if (error)
        return error;
    return addr_to_user(&a, user, user_len);
}

long sys_getsockname(SYSCALL_ARGS)
{
    return WITH_SOCKET(a0, f, do_getname(f, a1, a2, false));
}

long sys_getpeername(SYSCALL_ARGS)
{
    return WITH_SOCKET(a0, f, do_getname(f, a1, a2, true));
}

long sys_shutdown(SYSCALL_ARGS)
{
    return WITH_SOCKET(a0, f, unix_socket_shutdown(f, (int)a1));
}

/* ---- options --------------------------------------------------------------------- */

static long do_getsockopt(struct file *f, int level, int name, uintptr_t user, uintptr_t user_len)
{
    if (level != SOL_SOCKET)
        return -EOPNOTSUPP; /* AF_UNIX has no options of its own level */
    int len;
    if (copy_from_user(&len, user_len, sizeof(len)))
        return -EFAULT;
    if (len < 0)
        return -EINVAL;
    int value;
    int error = unix_socket_getopt(f, name, &value);
    if (error)
        return error;
    if ((size_t)len > sizeof(value))
        len = sizeof(value);
    if (copy_to_user(user, &value, (size_t)len))
        return -EFAULT;
    return copy_to_user(user_len, &len, sizeof(len));
}

long sys_getsockopt(SYSCALL_ARGS)
{
    return WITH_SOCKET(a0, f, do_getsockopt(f, (int)a1, (int)a2, a3, a4));
}

static long do_setsockopt(struct file *f, int level, int name, uintptr_t user, uint64_t len)
{
    if (level != SOL_SOCKET)
        return -EOPNOTSUPP;
    if ((int)len < (int)sizeof(int))
        return -EINVAL;
    int value;
    if (copy_from_user(&value, user, sizeof(value)))
        return -EFAULT;
    return unix_socket_setopt(f, name, value);
}

long sys_setsockopt(SYSCALL_ARGS)
{
    return WITH_SOCKET(a0, f, do_setsockopt(f, (int)a1, (int)a2, a3, a4));
}

/* ---- sending and receiving ------------------------------------------------------------ */

struct iovec_user {
    uint64_t base, len;
};

/* Reads and checks count user iovecs into a kmalloc'd array (*out, to kfree):
 * a negative length EINVAL, the total clamped to MAX_RW_COUNT, a bad range
 * EFAULT. */
static long iov_from_user(uintptr_t user, uint64_t count, struct unix_iov **out, size_t *total)
{
    if (count > UIO_MAXIOV)
        return -EMSGSIZE;
    struct unix_iov *iov = kmalloc((count ? count : 1) * sizeof(*iov));
    if (!iov)
        return -ENOMEM;
    long error = 0;
    size_t sum = 0;
    for (uint64_t i = 0; i < count && !error; i++) {
        struct iovec_user u;
        if (copy_from_user(&u, user + i * sizeof(u), sizeof(u))) {
            error = -EFAULT;
        } else if ((int64_t)u.len < 0) {
            error = -EINVAL;
        } else {
            if (u.len > IO_MAX_BYTES - sum)
                u.len = IO_MAX_BYTES - sum;
            if (!user_range_ok(u.base, u.len))
                error = -EFAULT;
            iov[i] = (struct unix_iov){u.base, u.len};
            sum += u.len;
        }
    }
    if (error) {
        kfree(iov);
        return error;
    }
    *out = iov;
    *total = sum;
    return 0;
}

/* send, sendto and sendmsg after their structures: one buffer set, a
 * destination or none, files to pass or none (freed here unless queued). */
static long send_common(struct file *f, const struct unix_iov *iov, unsigned count, size_t total,
                        int flags, uintptr_t user_addr, uint64_t addr_len, struct unix_fds *fds)
{
    struct unix_addr to;
    struct unix_msg m = {.iov = iov, .count = count, .total = total, .flags = flags, .fds = fds};
    long result = 0;
    if (user_addr && addr_len) {
        if (!(result = addr_from_user(user_addr, addr_len, &to)))
            result = unix_validate_addr(&to);
        m.addr = &to;
    }
    if (!result)
        result = unix_socket_send(f, &m);
    unix_fds_free(m.fds); /* not queued: the send failed, or a stream sent no bytes */
    return result;
}

static long do_sendto(struct file *f, uintptr_t buf, size_t len, int flags, uintptr_t addr,
                      uint64_t addr_len)
{
    if (len > IO_MAX_BYTES)
        len = IO_MAX_BYTES;
    if (!user_range_ok(buf, len))
        return -EFAULT;
    struct unix_iov iov = {buf, len};
    return send_common(f, &iov, 1, len, flags, addr, addr_len, NULL);
}

long sys_sendto(SYSCALL_ARGS)
{
    return WITH_SOCKET(a0, f, do_sendto(f, a1, a2, (int)a3, a4, a5));
}

/* struct msghdr, Linux x86_64. */
struct msghdr_user {
    uint64_t name;
    int32_t name_len;
    uint32_t pad;
    uint64_t iov;
    uint64_t iov_len;
    uint64_t control;
    uint64_t control_len;
    int32_t flags;
    uint32_t pad2;
};
_Static_assert(sizeof(struct msghdr_user) == 56, "struct msghdr is 56 bytes");

static long msghdr_from_user(uintptr_t user, struct msghdr_user *h)
{
    if (copy_from_user(h, user, sizeof(*h)))
        return -EFAULT;
    if (h->name_len < 0)
        return -EINVAL;
    if (h->name_len > SOCKADDR_STORAGE)
        h->name_len = SOCKADDR_STORAGE;
    if (h->iov_len > UIO_MAXIOV)
        return -EMSGSIZE;
    return 0;
}

/* struct cmsghdr, Linux x86_64; its data starts at the next 8-byte boundary. */
struct cmsghdr_user {
    uint64_t len; /* the header's and the data's bytes, without the padding after */
    int32_t level;
    int32_t type;
};
_Static_assert(sizeof(struct cmsghdr_user) == 16, "struct cmsghdr is 16 bytes");

static uint64_t cmsg_align(uint64_t len)
{
    return (len + 7) & ~(uint64_t)7;
}

/* Adds the n descriptors of one SCM_RIGHTS message at `data` to *fds (a file
 * reference each): 0, -EINVAL past SCM_MAX_FD in all, -EBADF for a closed one. */
static long rights_from(const uint8_t *data, uint64_t n, struct unix_fds **fds)
{
    if (!*fds) {
        *fds = kmalloc(sizeof(**fds) + SCM_MAX_FD * sizeof((*fds)->files[0]));
        if (!*fds)
            return -ENOMEM;
        (*fds)->count = 0;
    }
    struct unix_fds *to = *fds;
    if (n > SCM_MAX_FD - to->count)
        return -EINVAL;
    struct process *p = process_current();
    for (uint64_t i = 0; i < n; i++) {
        int fd;
        memcpy(&fd, data + i * sizeof(fd), sizeof(fd));
        struct file *file = fd < 0 ? NULL : fdtable_get(p, (uint64_t)fd);
        if (!file)
            return -EBADF;
        to->files[to->count++] = file;
    }
    return 0;
}

/* Linux's __scm_send for a Unix socket: the control buffer's messages, each
 * checked (a length below the header or past the buffer: EINVAL); SCM_RIGHTS
 * gathers files, SCM_CREDENTIALS is EOPNOTSUPP (Exo sends no credentials), any
 * other SOL_SOCKET type EINVAL; other levels are skipped, as Linux skips
 * them. *out: the files (NULL for none), or on error nothing held. */
static long control_from_user(uintptr_t user, uint64_t len, struct unix_fds **out)
{
    *out = NULL;
    if (!len)
        return 0;
    if (len > OPTMEM_MAX)
        return -ENOBUFS;
    uint8_t *buf = kmalloc(len);
    if (!buf)
        return -ENOMEM;
    long error = copy_from_user(buf, user, len) ? -EFAULT : 0;
    struct unix_fds *fds = NULL;
    for (uint64_t at = 0; !error && at + sizeof(struct cmsghdr_user) <= len;) {
        struct cmsghdr_user c;
        memcpy(&c, buf + at, sizeof(c));
        if (c.len < sizeof(c) || c.len > len - at) {
            error = -EINVAL;
        } else if (c.level == SOL_SOCKET) {
            if (c.type == SCM_RIGHTS)
                error = rights_from(buf + at + sizeof(c), (c.len - sizeof(c)) / sizeof(int), &fds);
            else
                error = c.type == SCM_CREDENTIALS ? -EOPNOTSUPP : -EINVAL;
        }
        at += cmsg_align(c.len);
    }
    kfree(buf);
    if (error || (fds && !fds->count)) {
        unix_fds_free(fds);
        return error;
    }
    *out = fds;
    return 0;
}

static long do_sendmsg(struct file *f, uintptr_t user_msg, int flags)
{
    struct msghdr_user h;
    long error = msghdr_from_user(user_msg, &h);
    if (error)
        return error;
    struct unix_iov *iov;
    size_t total;
    if ((error = iov_from_user(h.iov, h.iov_len, &iov, &total)))
        return error;
    struct unix_fds *fds;
    if ((error = control_from_user(h.control, h.control_len, &fds))) {
        kfree(iov);
        return error;
    }
    long result = send_common(f, iov, (unsigned)h.iov_len, total, flags, h.name,
                              h.name ? (uint64_t)h.name_len : 0, fds);
    kfree(iov);
    return result;
}

long sys_sendmsg(SYSCALL_ARGS)
{
    return WITH_SOCKET(a0, f, do_sendmsg(f, a1, (int)a2));
}

static long do_recvfrom(struct file *f, uintptr_t buf, size_t len, int flags, uintptr_t addr,
                        uintptr_t addr_len)
{
    if (len > IO_MAX_BYTES)
        len = IO_MAX_BYTES;
    if (!user_range_ok(buf, len))
        return -EFAULT;
    struct unix_iov iov = {buf, len};
    struct unix_addr from = {0};
    struct unix_msg m = {.iov = &iov, .count = 1, .total = len, .flags = flags, .addr = &from};
    long got = unix_socket_recv(f, &m);
    if (got >= 0 && addr) {
        int error = addr_to_user(&from, addr, addr_len);
        if (error)
            return error;
    }
    return got;
}

long sys_recvfrom(SYSCALL_ARGS)
{
    return WITH_SOCKET(a0, f, do_recvfrom(f, a1, a2, (int)a3, a4, a5));
}

/* Linux's scm_detach_fds: installs as many of the files as the control buffer
 * has room for (all or none: -EMFILE installs none), writes their cmsg and
 * returns the control bytes used; the rest are closed and *out_flags gets
 * MSG_CTRUNC. A control buffer that faults takes none. */
static uint64_t rights_to_user(const struct unix_fds *fds, uintptr_t control, uint64_t control_len,
                               bool cloexec, int32_t *out_flags)
{
    uint64_t room = control_len > sizeof(struct cmsghdr_user)
                        ? (control_len - sizeof(struct cmsghdr_user)) / sizeof(int) : 0;
    unsigned n = room < fds->count ? (unsigned)room : fds->count;
    uint64_t used = 0;
    int *numbers = n ? kmalloc(n * sizeof(int)) : NULL; /* not on the 4 KiB kernel stack */
    struct process *p = process_current();
    if (numbers && fdtable_install_many(p, fds->files, n, numbers, cloexec) == 0) {
        struct cmsghdr_user c = {.len = sizeof(c) + n * sizeof(int), .level = SOL_SOCKET,
                                 .type = SCM_RIGHTS};
        if (copy_to_user(control, &c, sizeof(c)) ||
            copy_to_user(control + sizeof(c), numbers, n * sizeof(int))) {
            for (unsigned i = 0; i < n; i++)
                fdtable_remove_if(p, (uint64_t)numbers[i], fds->files[i]);
        } else {
            used = cmsg_align(c.len) < control_len ? cmsg_align(c.len) : control_len;
        }
    }
    kfree(numbers);
    if (!used)
        n = 0;
    if (n < fds->count)
        *out_flags |= MSG_CTRUNC;
    return used;
}

static long do_recvmsg(struct file *f, uintptr_t user_msg, int flags)
{
    struct msghdr_user h;
    long error = msghdr_from_user(user_msg, &h);
    if (error)
        return error;
    struct unix_iov *iov;
    size_t total;
    if ((error = iov_from_user(h.iov, h.iov_len, &iov, &total)))
        return error;
    struct unix_addr from = {0};
    struct unix_msg m = {.iov = iov, .count = (unsigned)h.iov_len, .total = total,
                         .flags = flags & ~MSG_CMSG_CLOEXEC, .addr = &from, .want_fds = true};
    long got = unix_socket_recv(f, &m);
    kfree(iov);
    if (got < 0)
        return got;
    /* Linux writes back the name (when asked for), the control data, and the
     * flags. */
    if (h.name && (error = addr_to_user(&from, h.name, user_msg + offsetof(struct msghdr_user,
                                                                           name_len)))) {
        unix_fds_free(m.fds);
        return error;
    }
    uint64_t control_len = 0;
    int32_t out_flags = m.out_flags;
    if (m.fds) {
        control_len = rights_to_user(m.fds, h.control, h.control_len, flags & MSG_CMSG_CLOEXEC,
                                     &out_flags);
        unix_fds_free(m.fds);
    }
    if (copy_to_user(user_msg + offsetof(struct msghdr_user, control_len), &control_len,
                     sizeof(control_len)) ||
        copy_to_user(user_msg + offsetof(struct msghdr_user, flags), &out_flags, sizeof(out_flags)))
        return -EFAULT;
    return got;
}

long sys_recvmsg(SYSCALL_ARGS)
{
    return WITH_SOCKET(a0, f, do_recvmsg(f, a1, (int)a2));
}
