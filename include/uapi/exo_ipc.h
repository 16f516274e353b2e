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
 * A message is six 64-bit words carried in registers, plus, described by
 * struct exo_ipc_ext, optionally:
 *   - a byte buffer of up to EXO_IPC_BUF_MAX bytes, copied once, directly from
 *     the sender's pages into the receiver's;
 *   - one page-aligned region of up to EXO_IPC_PAGES_MAX bytes transferred by
 *     mapping, never copied: moved (its page-table entries go to the receiver
 *     and the sender's range is unmapped) or shared (both map the same frames,
 *     a write by either is seen by the other; the receiver never gets a right
 *     the sender lacks: read-only stays read-only, and mprotect cannot add it);
 *   - up to EXO_IPC_FDS_MAX file descriptors: the receiver gets new fds (the
 *     lowest free, not close-on-exec) for the same open files, as SCM_RIGHTS.
 * The receiver says how much it accepts: room for bytes (what does not fit is
 * cut off, and it learns the size sent), and for a region or fds room that
 * must hold all of it: an offer it has no room for is never cut, the offering
 * side gets EMSGSIZE and nothing is delivered (its peer goes on waiting).
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
 * Errors: EBADF (not an open fd, or a client fd asked to receive or reply; an
 * fd to send that is not open), EINVAL (not an endpoint fd; unknown flags; a
 * region or receiving address not page-aligned, a region of 0 bytes with an
 * address, an unknown page mode), EFAULT (a bad pointer, an unmapped or
 * kernel-half buffer or region: a region must lie wholly in mappings),
 * EMSGSIZE (a buffer over EXO_IPC_BUF_MAX, a region over EXO_IPC_PAGES_MAX,
 * more than EXO_IPC_FDS_MAX fds, an offer the receiver has no room for), and
 * for the receiver: EEXIST (the address it chose is taken), ENOMEM (no gap for
 * the region), EMFILE (its fd table cannot take them all: none is installed),
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
#define EXO_IPC_PAGES_MAX (16u << 20) /* bytes in a transferred region */
#define EXO_IPC_FDS_MAX 8
#define EXO_IPC_PAGE_SIZE 4096u

/* flags */
#define EXO_IPC_NONBLOCK 1u  /* send, recv: EAGAIN instead of waiting for the other side */
#define EXO_IPC_NORECV 2u    /* reply_recv: reply only; returns 0, or EPIPE when the caller is gone */
#define EXO_IPC_CLOEXEC 4u   /* ipc_endpoint, ipc_client: the new fd is close-on-exec */

/* exo_ipc_ext.pages_mode */
#define EXO_IPC_PAGES_MOVE 1u
#define EXO_IPC_PAGES_SHARE 2u
/* exo_ipc_ext.recv_pages: the kernel chooses where (as mmap without an address) */
#define EXO_IPC_PAGES_ANYWHERE 1ull

/*
 * What a message carries besides its words. send_* is what this call sends
 * (call, send: the message; reply_recv: the reply); recv_* is what it accepts
 * and, on success, what came (call: with the reply; recv and reply_recv: with
 * the next message). Zero-initialise it: 0 everywhere sends and accepts nothing.
 *   send_buf, send_bytes   bytes to send
 *   recv_buf, recv_bytes   in: room for bytes; out: the size the other side
 *                          sent (larger than the room: the rest was cut off)
 *   send_pages, send_pages_bytes, pages_mode
 *                          a region to send (bytes 0: none): page-aligned,
 *                          wholly mapped, EXO_IPC_PAGES_MOVE or _SHARE
 *   recv_pages             in: 0 (no region accepted), EXO_IPC_PAGES_ANYWHERE,
 *                          or a page-aligned address where a free range takes
 *                          it; out: where it was mapped (0: none came)
 *   recv_pages_bytes       in: the largest region accepted; out: its size
 *   send_fds, send_nfds    fds to send (their files stay open here too)
 *   recv_fds, recv_nfds    in: recv_nfds is the room (how many accepted); out:
 *                          how many came, their numbers in recv_fds
 * The out fields are written only when the call succeeds, and recv_pages* and
 * recv_fds/recv_nfds only when the call accepted a region or fds.
 */
struct exo_ipc_ext {
    uint64_t send_buf;
    uint64_t send_bytes;
    uint64_t recv_buf;
    uint64_t recv_bytes;
    uint64_t send_pages;
    uint64_t send_pages_bytes;
    uint64_t pages_mode;
    uint64_t recv_pages;
    uint64_t recv_pages_bytes;
    uint32_t send_nfds;
    uint32_t recv_nfds;
    int32_t send_fds[EXO_IPC_FDS_MAX];
    int32_t recv_fds[EXO_IPC_FDS_MAX];
};

#endif
