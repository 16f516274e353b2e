/*
 * exo_ipc.h: Exo's synchronous IPC, the user ABI. Shared by the kernel
 * (proc/ipc.c) and user space (user/lib/exo_ipc.h); plain C, stdint only.
 *
 * An endpoint is a kernel object reached through file descriptors. ipc_endpoint
 * makes one and returns a *server* fd (receive, reply, and call); ipc_client
 * makes a *client* fd for the same endpoint (call and send only). Like a pipe's
 * two ends: when the last server fd of an endpoint is closed (or the processes
 * holding it end), every caller waiting on it fails with EPIPE, and so does
 * every later call. fds are inherited by fork and closed at exit.
 *
 * A message is six 64-bit words carried in registers, plus optionally a byte
 * buffer of up to EXO_IPC_BUF_MAX bytes described by struct exo_ipc_ext (copied
 * once, directly from the sender's pages into the receiver's).
 *
 * Register convention (x86_64, SYSCALL):
 *   in   rax = number
 *        rdi = fd (ipc_reply_recv: the reply token, 0 for none)
 *        rsi = flags (EXO_IPC_*)
 *        rdx = struct exo_ipc_ext * or 0
 *        r10 = timeout in ns, 0 for none
 *        r8  = ipc_reply_recv only: the fd to receive on
 *        rbx r12 r13 r14 r15 r9 = message words 0..5 (call, send, reply)
 *   out  rax = result: 0, a reply token (ipc_recv, ipc_reply_recv: > 0 for a
 *              call, 0 for a one-way send), or -errno
 *        rbx r12 r13 r14 r15 r9 = the words received (call: the reply;
 *              recv: the message); unchanged when the result is an error
 *        rcx r11 clobbered (SYSCALL); every other register preserved
 * The words avoid rdi rsi rdx r10 r8 so that the control arguments are the
 * Linux ones (a plain syscall(2) reaches every call), and use registers the C
 * ABI preserves so a wrapper saves them once around the SYSCALL.
 *
 * Errors: EBADF (not an open fd, or a client fd asked to receive or reply),
 * EINVAL (not an endpoint fd; unknown flags), EFAULT (a bad pointer, an
 * unmapped or kernel-half buffer), EMSGSIZE (a buffer over EXO_IPC_BUF_MAX),
 * EPIPE (no server any more: closed or ended, before or during the call; a
 * reply whose caller gave up), EAGAIN (EXO_IPC_NONBLOCK and nobody waiting),
 * EINTR (a signal whose handler runs, or the process ending; a signal whose
 * action is to ignore it never ends a wait), ETIMEDOUT (the timeout passed).
 */
#ifndef EXO_UAPI_EXO_IPC_H
#define EXO_UAPI_EXO_IPC_H

#include <stdint.h>

/* System-call numbers: unused by Linux x86_64 (its table ends near 462; x32
 * takes 512..547). */
#define EXO_SYS_ipc_endpoint 600   /* (flags) -> server fd */
#define EXO_SYS_ipc_client 601     /* (server or client fd) -> client fd */
#define EXO_SYS_ipc_call 602       /* (fd, flags, ext, timeout_ns) words -> 0, reply words */
#define EXO_SYS_ipc_send 603       /* (fd, flags, ext, timeout_ns) words -> 0 */
#define EXO_SYS_ipc_recv 604       /* (fd, flags, ext, timeout_ns) -> token, words */
#define EXO_SYS_ipc_reply_recv 605 /* (token, flags, ext, timeout_ns, fd) words -> token, words */

#define EXO_IPC_WORDS 6
#define EXO_IPC_BUF_MAX 65536u

/* flags */
#define EXO_IPC_NONBLOCK 1u  /* send, recv: EAGAIN instead of waiting for the other side */
#define EXO_IPC_NORECV 2u    /* reply_recv: reply only; returns 0, or EPIPE when the caller is gone */
#define EXO_IPC_CLOEXEC 4u   /* ipc_endpoint, ipc_client: the new fd is close-on-exec */

/*
 * The optional buffer. send_* is what this call sends (call, send: the
 * message; reply_recv: the reply). recv_* is where the bytes received go (call:
 * the reply; recv and reply_recv: the next message); recv_bytes is the room on
 * the way in and, on success, the size the other side sent: larger than the
 * room means the rest was cut off.
 */
struct exo_ipc_ext {
    uint64_t send_buf;
    uint64_t send_bytes;
    uint64_t recv_buf;
    uint64_t recv_bytes;
};

#endif
