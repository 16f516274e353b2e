/*
 * unix_socket: Unix-domain sockets (AF_UNIX) of the three kinds Linux has,
 * SOCK_STREAM, SOCK_SEQPACKET and SOCK_DGRAM, as struct files: socketpair,
 * socket + bind/listen/connect/accept in the abstract namespace (a name whose
 * first byte is NUL), sendto/recvfrom/sendmsg/recvmsg and plain read/write,
 * shutdown, poll readiness, a few SOL_SOCKET options. proc/sys_socket.c reads
 * the system calls' user structures and calls these.
 *
 * Each socket receives into its own ring (include/fs/pipe_ring.h, a fixed
 * UNIX_RING_BYTES): a sender copies straight from its user buffer into the
 * receiver's ring and the receiver straight out of it to its user buffer, one
 * copy each way, as pipes do. A stream ring holds bytes; a datagram or
 * seqpacket ring holds records (a header, the sender's name, the data), so
 * message boundaries stay and a message is queued whole or not at all.
 *
 * Semantics are Linux's (unix(7), socket(2), recvmsg(2)): a stream read
 * returns what is queued, EOF once the peer has shut down or closed; a closed
 * peer that left data unread makes the next read ECONNRESET (once); a write
 * with the peer gone is EPIPE, and SIGPIPE for a stream unless MSG_NOSIGNAL. A
 * datagram sent to a name goes to the socket bound to it; a connected
 * datagram socket whose peer closed gets ECONNREFUSED once and is then
 * unconnected. A connect to a listener is complete as soon as it is queued
 * (data may flow before accept); a full backlog makes connect wait.
 *
 * Names: abstract names only. The initrd tree is read-only, so binding a
 * filesystem path answers what Linux's mknod would on a read-only mount
 * (EADDRINUSE when the name exists, ENOENT/ENOTDIR when its parent does not,
 * else EROFS), and connecting to one ENOENT or ECONNREFUSED (nothing in the
 * tree is a socket). Not supported: SCM_CREDENTIALS (EOPNOTSUPP), MSG_OOB.
 *
 * SCM_RIGHTS (unix(7)): a send's files (struct unix_fds, a reference each) are
 * queued with its data, on a list beside the receiver's ring, each entry at the
 * position in the ring of the data it came with (a record's header, or a
 * stream send's first byte), kept as the distance from the entry before, so a
 * socket with nothing in flight does no bookkeeping. A receive that
 * reaches an entry takes it with that data; a stream read stops before an
 * entry it does not take and after the bytes of one it takes (the send's
 * first piece, as Linux's), so one receive returns at most one send's files.
 * MSG_PEEK returns the data and leaves the files queued. Whatever is still
 * queued is dropped when the socket's owner lets it go.
 *
 * Cycles: a Unix socket in flight keeps its queue (and the files in it) alive,
 * so a socket sent into its own queue, or two sockets each in flight in the
 * other's, would never be released. Linux collects such cycles; Exo refuses
 * to make them (ETOOMANYREFS): a Unix socket may be sent only when its queue
 * holds no Unix socket, and not into the queue of a socket that is itself in
 * flight, nor into its own. A listener and the connections queued on it
 * (which it owns) count as one socket for both rules. So every socket in flight
 * holds only files that are not Unix sockets: no cycle, and releasing a queue
 * releases at most one more level of sockets.
 *
 * Locking: a socket's mutex serializes its ring (held across the user copies,
 * which may fault and sleep); a sender takes the receiver's mutex, a reader its
 * own, so no path holds two. Connection state (peers, names, listeners' queues)
 * is under one spinlock, taken for a few loads and stores. Waits happen with
 * both dropped, on the socket's two wait queues, with conditions that read
 * atomics only, so a wake-up between a check and a sleep is never lost; every
 * change also calls fs_poll_notify. Thread context only.
 */
#ifndef EXO_FS_UNIX_SOCKET_H
#define EXO_FS_UNIX_SOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proc/process.h"

/* Linux's values. */
#define AF_UNSPEC 0
#define AF_UNIX 1
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define SOCK_SEQPACKET 5
#define SOCK_TYPE_MASK 0xf
#define SOCK_NONBLOCK 04000     /* O_NONBLOCK */
#define SOCK_CLOEXEC 02000000   /* O_CLOEXEC */

#define MSG_OOB 0x1
#define MSG_PEEK 0x2
#define MSG_CTRUNC 0x8
#define MSG_TRUNC 0x20
#define MSG_DONTWAIT 0x40
#define MSG_WAITALL 0x100
#define MSG_NOSIGNAL 0x4000
#define MSG_CMSG_CLOEXEC 0x40000000

#define SHUT_RD 0
#define SHUT_WR 1
#define SHUT_RDWR 2

#define SOL_SOCKET 1
#define SO_REUSEADDR 2
#define SO_TYPE 3
#define SO_ERROR 4
#define SO_DONTROUTE 5
#define SO_BROADCAST 6
#define SO_SNDBUF 7
#define SO_RCVBUF 8
#define SO_KEEPALIVE 9
#define SO_ACCEPTCONN 30
#define SO_PROTOCOL 38
#define SO_DOMAIN 39

#define UNIX_PATH_MAX 108                  /* sun_path's size */
#define UNIX_ADDR_MAX (2 + UNIX_PATH_MAX)  /* sizeof(struct sockaddr_un) */
#define UNIX_RING_BYTES 65536u             /* each socket's receive ring */
#define UNIX_BUF_DEFAULT 212992            /* SO_SNDBUF/SO_RCVBUF reported (Linux's default) */
#define UNIX_BUF_MAX 212992                /* a set value is clamped here, then doubled */
#define UNIX_SNDBUF_MIN 4608
#define UNIX_RCVBUF_MIN 2304

/* A socket address as struct sockaddr_un's bytes: family (2 bytes), then
 * sun_path's `len - 2` bytes. len 0: no address (an unbound sender). */
struct unix_addr {
    uint32_t len;
    uint8_t bytes[UNIX_ADDR_MAX];
};

#define SCM_MAX_FD 253 /* files one message may carry (Linux's) */

/* The files a send carries (SCM_RIGHTS), a reference each: kmalloc'd with
 * room for `count`. */
struct unix_fds {
    struct unix_fds *next; /* the queue's next entry */
    size_t ahead;          /* receiver's ring bytes before its data, counted from the
                              previous entry's data (the first entry: from the head) */
    size_t len;            /* a stream's: the bytes it came with */
    unsigned count;
    struct file *files[];
};

/* Drops each file's reference and frees fds (NULL: nothing). */
void unix_fds_free(struct unix_fds *fds);

/* User buffers, each range already checked with user_range_ok. */
struct unix_iov {
    uintptr_t base;
    size_t len;
};

/* One send or receive: the buffers, MSG_* flags in, and for a receive the
 * flags out (MSG_TRUNC) and the sender's address (when addr is not NULL). A
 * send's addr is its destination, or NULL. */
struct unix_msg {
    const struct unix_iov *iov;
    unsigned count;
    /* Receive: want_fds asks for the files that come with the data, left in
     * fds (the caller's to free); without it they are dropped as the data is
     * read. Send: fds are the files to attach, or NULL; set to NULL once they
     * are queued (else the caller still owns them). */
    bool want_fds;
    size_t total; /* the sum of the iov lengths */
    int flags;
    int out_flags;
    struct unix_addr *addr;
    struct unix_fds *fds;
};

/* A new unbound socket of `type` (SOCK_STREAM, _DGRAM or _SEQPACKET; the caller
 * has checked it) with SOCK_NONBLOCK from flags: 0 or -ENOMEM. */
int unix_socket_create(int type, uint32_t flags, struct file **out)
    __attribute__((warn_unused_result));
/* Two sockets of `type` connected to each other (socketpair): 0 or -ENOMEM. */
int unix_socket_pair(int type, uint32_t flags, struct file **a, struct file **b)
    __attribute__((warn_unused_result));
/* Whether f is a Unix socket (else the socket calls answer ENOTSOCK). */
bool unix_socket_is(const struct file *f);

/* The calls, on a file that unix_socket_is. Addresses have been checked for
 * length and family (unix_validate_addr in proc/sys_socket.c); a bind address
 * of just the family asks for an automatic name. Each returns 0 (or a count)
 * or Linux's -errno. */
int unix_socket_bind(struct file *f, const struct unix_addr *addr) __attribute__((warn_unused_result));
int unix_socket_listen(struct file *f, int backlog) __attribute__((warn_unused_result));
/* addr NULL: AF_UNSPEC, which unconnects a datagram socket. */
int unix_socket_connect(struct file *f, const struct unix_addr *addr) __attribute__((warn_unused_result));
/* A new file for the next queued connection (one reference), with
 * SOCK_NONBLOCK from flags; *peer gets the connecting socket's name. */
int unix_socket_accept(struct file *f, uint32_t flags, struct file **out, struct unix_addr *peer)
    __attribute__((warn_unused_result));
/* getsockname (peer false) or getpeername (true). */
int unix_socket_name(struct file *f, bool peer, struct unix_addr *out) __attribute__((warn_unused_result));
int unix_socket_shutdown(struct file *f, int how) __attribute__((warn_unused_result));
long unix_socket_send(struct file *f, struct unix_msg *m) __attribute__((warn_unused_result));
long unix_socket_recv(struct file *f, struct unix_msg *m) __attribute__((warn_unused_result));
/* SOL_SOCKET options: -ENOPROTOOPT for any other. */
int unix_socket_getopt(struct file *f, int name, int *value) __attribute__((warn_unused_result));
int unix_socket_setopt(struct file *f, int name, int value) __attribute__((warn_unused_result));

#endif
