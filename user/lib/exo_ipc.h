/*
 * exo_ipc.h: the user side of Exo's IPC (include/uapi/exo_ipc.h is the ABI:
 * numbers, flags, the buffer descriptor and the register convention). Header
 * only, for musl static programs: each call is one SYSCALL with the six message
 * words in rbx r12 r13 r14 r15 r9 both ways (the asm block names them, so the
 * compiler saves what the C ABI needs saved). The functions return like libc:
 * -1 with errno set on failure.
 */
#ifndef EXO_USER_EXO_IPC_H
#define EXO_USER_EXO_IPC_H

#include <errno.h>
#include <stdint.h>

#include "../../include/uapi/exo_ipc.h"

struct ipc_msg {
	uint64_t w[EXO_IPC_WORDS];
};

/* One IPC system call: control arguments in rdi rsi rdx r10 r8, words in and
 * out through m (may be NULL: zeros in, nothing out). Returns rax. */
static inline long exo_ipc_raw(long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
			       uint64_t a4, struct ipc_msg *m)
{
	register uint64_t r10 __asm__("r10") = a3;
	register uint64_t r8 __asm__("r8") = a4;
	register uint64_t w0 __asm__("rbx") = m ? m->w[0] : 0;
	register uint64_t w1 __asm__("r12") = m ? m->w[1] : 0;
	register uint64_t w2 __asm__("r13") = m ? m->w[2] : 0;
	register uint64_t w3 __asm__("r14") = m ? m->w[3] : 0;
	register uint64_t w4 __asm__("r15") = m ? m->w[4] : 0;
	register uint64_t w5 __asm__("r9") = m ? m->w[5] : 0;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret), "+r"(w0), "+r"(w1), "+r"(w2), "+r"(w3), "+r"(w4), "+r"(w5),
			   "+r"(r10), "+r"(r8)
			 : "a"(nr), "D"(a0), "S"(a1), "d"(a2)
			 : "rcx", "r11", "memory");
	if (m && ret >= 0) {
		m->w[0] = w0, m->w[1] = w1, m->w[2] = w2;
		m->w[3] = w3, m->w[4] = w4, m->w[5] = w5;
	}
	return ret;
}

static inline long exo_ipc_ret(long r)
{
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/* A new endpoint: its server fd. */
static inline int ipc_endpoint(unsigned flags)
{
	return (int)exo_ipc_ret(exo_ipc_raw(EXO_SYS_ipc_endpoint, flags, 0, 0, 0, 0, 0));
}

/* A client fd (call and send only) for the endpoint of fd. */
static inline int ipc_client(int fd, unsigned flags)
{
	return (int)exo_ipc_ret(exo_ipc_raw(EXO_SYS_ipc_client, (uint64_t)fd, flags, 0, 0, 0, 0));
}

/* Sends *m and waits for the reply, which replaces *m. ext: a buffer (or NULL). */
static inline long ipc_call_ext(int fd, struct ipc_msg *m, unsigned flags,
				struct exo_ipc_ext *ext, uint64_t timeout_ns)
{
	return exo_ipc_ret(exo_ipc_raw(EXO_SYS_ipc_call, (uint64_t)fd, flags, (uint64_t)ext,
				       timeout_ns, 0, m));
}

static inline long ipc_call(int fd, const struct ipc_msg *msg, struct ipc_msg *reply)
{
	*reply = *msg;
	return ipc_call_ext(fd, reply, 0, 0, 0);
}

/* One-way: returns once received (EXO_IPC_NONBLOCK: EAGAIN when nobody waits). */
static inline long ipc_send(int fd, const struct ipc_msg *msg, unsigned flags,
			    struct exo_ipc_ext *ext, uint64_t timeout_ns)
{
	struct ipc_msg m = *msg;
	return exo_ipc_ret(exo_ipc_raw(EXO_SYS_ipc_send, (uint64_t)fd, flags, (uint64_t)ext,
				       timeout_ns, 0, &m));
}

/* Waits for a message into *m; returns its reply token (0: a send, no reply). */
static inline long ipc_recv(int fd, struct ipc_msg *m, unsigned flags, struct exo_ipc_ext *ext,
			    uint64_t timeout_ns)
{
	return exo_ipc_ret(exo_ipc_raw(EXO_SYS_ipc_recv, (uint64_t)fd, flags, (uint64_t)ext,
				       timeout_ns, 0, m));
}

/* Replies *m to `token` (0: no reply), then waits for the next message into *m
 * and returns its token. EXO_IPC_NORECV: reply only. */
static inline long ipc_reply_recv(long token, struct ipc_msg *m, int fd, unsigned flags,
				  struct exo_ipc_ext *ext, uint64_t timeout_ns)
{
	return exo_ipc_ret(exo_ipc_raw(EXO_SYS_ipc_reply_recv, (uint64_t)token, flags,
				       (uint64_t)ext, timeout_ns, (uint64_t)fd, m));
}

#endif
