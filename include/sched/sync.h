/*
 * sync: blocking synchronization for threads (include/sched/thread.h).
 *
 * A wait queue is a FIFO of blocked threads behind a spinlock. A mutex has an
 * owner and a wait queue; unlock hands the mutex straight to the first waiter
 * (no barging), so a waiter can never starve. A semaphore counts permits; up
 * wakes the first waiter. A blocked thread costs no CPU time: it is in no run
 * queue until woken.
 *
 * Spinlocks (include/base/spinlock.h) are for short sections and interrupt
 * handlers; these are for anything that may wait. Never block while holding a
 * spinlock.
 *
 * Interrupt context: the wake-up side (wait_queue_wake_one and _all,
 * semaphore_up, semaphore_try_down) may be called from it; anything that may
 * block (wait_queue_wait, mutex_lock, semaphore_down) and the mutex, which has
 * an owning thread, only from a thread.
 */
#ifndef EXO_SCHED_SYNC_H
#define EXO_SCHED_SYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "base/spinlock.h"
#include "sched/thread.h"

struct thread;

struct wait_queue {
    struct spinlock lock;  /* protects head and tail */
    struct thread *head, *tail;
};
#define WAIT_QUEUE_INIT(name) {SPINLOCK_INIT(name), 0, 0}

void wait_queue_init(struct wait_queue *wq, const char *name);
/* Wakes the oldest waiter; false if there was none. */
bool wait_queue_wake_one(struct wait_queue *wq);
/* Wakes every waiter; returns how many. */
unsigned wait_queue_wake_all(struct wait_queue *wq);
/* Blocks until woken through wq, if cond_fn(ctx) is still false with wq's lock
 * held (so a wake-up between the check and the sleep is never lost). */
void wait_queue_wait(struct wait_queue *wq, bool (*cond_fn)(void *ctx), void *ctx);

/* Unlinks the oldest waiter of wq, whose lock the caller holds (NULL: none). */
static inline struct thread *wait_queue_unlink_oldest(struct wait_queue *wq)
{
    struct thread *t = wq->head;
    if (t) {
        wq->head = t->wait_next;
        if (!wq->head)
            wq->tail = NULL;
        t->wait_next = NULL;
    }
    return t;
}

/* Unlinks the oldest waiter without waking it (NULL: none); the caller must
 * thread_wake it or give it the CPU (thread_park_handoff). Interrupts
 * disabled (IPC's fastpath runs so from end to end). Inline: the fastpath takes
 * its peer with it. */
static inline struct thread *wait_queue_take_one(struct wait_queue *wq)
{
    spin_lock_irqs_off(&wq->lock);
    struct thread *t = wait_queue_unlink_oldest(wq);
    spin_unlock_irqs_off(&wq->lock);
    return t;
}

/* For a sleeper that publishes its own wq only after it is in it (IPC's
 * fastpath): wq, initialized once (WAIT_QUEUE_INIT) and reachable by nobody
 * until published again (so its lock is free and is left as it is), is made to
 * hold just the calling thread `self` (thread_current(), which the caller has
 * at hand), marked BLOCKED. The caller then publishes wq to its wakers and
 * blocks (thread_block, thread_park_*), or takes itself back out with
 * wait_queue_cancel_asleep. Interrupts disabled from here to the block. */
static inline void wait_queue_reuse_asleep(struct wait_queue *wq, struct thread *self)
{
    wq->head = wq->tail = self;
    self->wait_next = NULL;
    __atomic_store_n(&self->state, THREAD_BLOCKED, __ATOMIC_RELEASE);
}
/* Takes the calling thread out of wq (wait_queue_reuse_asleep) unless a waker
 * has already taken it: true, and it is RUNNING again; false, it is RUNNABLE and
 * its waker waits for it to switch away before queueing it, so it must still
 * block. Interrupts disabled. */
bool wait_queue_cancel_asleep(struct wait_queue *wq);

struct mutex {
    struct thread *owner;  /* atomic; NULL when free */
    struct wait_queue waiters;
};
#define MUTEX_INIT(name) {0, WAIT_QUEUE_INIT(name)}
void mutex_init(struct mutex *m, const char *name);
void mutex_lock(struct mutex *m);
bool mutex_trylock(struct mutex *m);
/* Panics if the caller does not own m. */
void mutex_unlock(struct mutex *m);

struct semaphore {
    int64_t count; /* under waiters.lock */
    struct wait_queue waiters;
};
void semaphore_init(struct semaphore *s, int64_t count, const char *name);
void semaphore_down(struct semaphore *s);
bool semaphore_try_down(struct semaphore *s);
void semaphore_up(struct semaphore *s);

#endif
