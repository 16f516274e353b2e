/*
 * futex: Linux's fast user-space mutex waits (futex(2)): WAIT, WAKE,
 * WAIT_BITSET, WAKE_BITSET, REQUEUE, CMP_REQUEUE, with or without
 * FUTEX_PRIVATE_FLAG, relative and absolute timeouts.
 *
 * A futex is named by (address space, user address). Private and shared
 * futexes are the same thing here: Exo has no shared memory between address
 * spaces (fork's pages are copy-on-write, never shared writable), so only
 * threads of one space, and a vfork child with its parent, can meet on a word.
 *
 * Waiters hash into buckets, each with its lock, and each waiter sleeps on its
 * own wait queue, so a wake-up touches only the threads it picks. The value
 * check and the enqueue happen under the bucket lock that wakers take, so no
 * wake-up is lost. Timed waits are ended by a kernel thread that checks their
 * deadlines every scheduler tick while any exists (the scheduler's sleep wheel
 * cannot take a thread back early).
 *
 * Locking: futex_timer_lock > bucket locks (two only through the ordered
 * helper) > wait-queue locks. process_lock may be held around
 * futex_interrupt. Not from interrupt context.
 */
#ifndef EXO_PROC_FUTEX_H
#define EXO_PROC_FUTEX_H

#include <stdint.h>

#include "mm/vmspace.h"

struct uthread;

/* Starts the timeout thread. Boot, once. */
void futex_init(void);
/* The system call: Linux's arguments and results (negative errno). */
long futex_call(uintptr_t uaddr, int op, uint32_t val, uintptr_t timeout, uintptr_t uaddr2,
                uint32_t val3);
/* Wakes up to n waiters on (vm, uaddr); returns how many (thread exit's
 * CLONE_CHILD_CLEARTID). */
int futex_wake_address(struct vmspace *vm, uintptr_t uaddr, int n);
/* Ends ut's futex wait, if any, with -EINTR (it is to exit or take a signal). */
void futex_interrupt(struct uthread *ut);

#endif
