/*
 * timeout: deadlines for waits that also end another way (a futex wake, an IPC
 * reply). A waiter arms a struct timeout before it sleeps and disarms it after;
 * if the deadline passes meanwhile, one kernel thread calls its expire function
 * once, which ends the wait its own way (dequeue with -ETIMEDOUT, set a flag and
 * wake). The thread looks every tick while timeouts are armed and sleeps while
 * none are, so the resolution is one tick (SCHED_TICK_NS).
 *
 * Locking: expire runs under the timeout lock, which it may nest its own locks
 * inside (lock order: sched/sched.c); timeout_disarm takes the lock, so once it
 * returns expire is not running and will not run. Threads only (not interrupt
 * context); the struct lives where the waiter does (its stack is fine).
 */
#ifndef EXO_SCHED_TIMEOUT_H
#define EXO_SCHED_TIMEOUT_H

#include <stdbool.h>
#include <stdint.h>

struct timeout {
    uint64_t deadline_ns;               /* arch_time_ns at which it expires */
    void (*expire)(struct timeout *t);  /* called once, under the timeout lock */
    bool expired;                       /* (timeout lock) expire has been called */
    struct timeout *next;               /* (timeout lock) the armed list */
};

void timeout_arm(struct timeout *t);
void timeout_disarm(struct timeout *t);
/* Starts the timeout thread. Boot, once, after the scheduler. */
void timeout_init(void);

#endif
