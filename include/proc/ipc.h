/*
 * ipc: synchronous IPC between processes (proc/ipc.c, whose top comment is the
 * design: the rendezvous, the copy, the ends, and the fastpath's checks).
 *
 * Endpoints are reached through file descriptors; the system calls and their
 * register convention are the user ABI of include/uapi/exo_ipc.h. A call blocks
 * its thread until the reply, the end of the server (EPIPE), a signal (EINTR) or
 * its timeout (ETIMEDOUT); nothing here blocks without one of those ways out.
 *
 * Locking: one spinlock per endpoint over its lists and its waiters' states;
 * it nests above wait-queue and run-queue locks. Thread context only.
 */
#ifndef EXO_PROC_IPC_H
#define EXO_PROC_IPC_H

/* Starts the timeout thread. Boot, once (process_init). */
void ipc_init(void);

#endif
