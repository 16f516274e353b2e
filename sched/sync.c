#include "sched/sync.h"

#include "arch/irq.h"
#include "base/panic.h"
#include "sched/thread.h"

void wait_queue_init(struct wait_queue *wq, const char *name)
{
    *wq = (struct wait_queue)WAIT_QUEUE_INIT(name);
}

/* Appends the caller and marks it BLOCKED. */
static void enqueue_self_locked(struct wait_queue *wq, struct thread *self)
{
    spin_assert_held(&wq->lock);
    self->wait_next = NULL;
    if (wq->tail)
        wq->tail->wait_next = self;
    else
        wq->head = self;
    wq->tail = self;
    __atomic_store_n(&self->state, THREAD_BLOCKED, __ATOMIC_RELEASE);
}

/* Unlinks the oldest waiter. */
static struct thread *dequeue_locked(struct wait_queue *wq)
{
    spin_assert_held(&wq->lock);
    return wait_queue_unlink_oldest(wq);
}

/*
 * Sleeps on wq with its lock held on entry (taken with interrupts saved in
 * `irq`); returns with the lock released and interrupts restored. A waker that
 * dequeues us before we have switched away finds us BLOCKED and queues us; the
 * scheduler then simply keeps us running.
 */
static void sleep_locked(struct wait_queue *wq, bool irq)
{
    spin_assert_held(&wq->lock);
    enqueue_self_locked(wq, thread_current());
    spin_unlock(&wq->lock, false); /* interrupts stay off until we have switched */
    thread_block();
    arch_irq_restore(irq);
}

bool wait_queue_cancel_asleep(struct wait_queue *wq)
{
    struct thread *self = thread_current();
    spin_lock_irqs_off(&wq->lock);
    struct thread *prev = NULL, *at = wq->head;
    while (at && at != self)
        prev = at, at = at->wait_next;
    if (at) {
        if (prev)
            prev->wait_next = self->wait_next;
        else
            wq->head = self->wait_next;
        if (wq->tail == self)
            wq->tail = prev;
        self->wait_next = NULL;
        __atomic_store_n(&self->state, THREAD_RUNNING, __ATOMIC_RELEASE);
    }
    spin_unlock_irqs_off(&wq->lock);
    return at != NULL;
}

bool wait_queue_wake_one(struct wait_queue *wq)
{
    bool irq = spin_lock(&wq->lock);
    struct thread *t = dequeue_locked(wq);
    spin_unlock(&wq->lock, irq);
    if (t)
        thread_wake(t);
    return t != NULL;
}

unsigned wait_queue_wake_all(struct wait_queue *wq)
{
    bool irq = spin_lock(&wq->lock);
    struct thread *list = wq->head;
    wq->head = wq->tail = NULL;
    spin_unlock(&wq->lock, irq);
    return thread_wake_list(list);
}

void wait_queue_wait(struct wait_queue *wq, bool (*cond_fn)(void *ctx), void *ctx)
{
    bool irq = spin_lock(&wq->lock);
    if (cond_fn(ctx)) {
        spin_unlock(&wq->lock, irq);
        return;
    }
    sleep_locked(wq, irq);
}

/* ---- mutex ------------------------------------------------------------------ */

void mutex_init(struct mutex *m, const char *name)
{
    *m = (struct mutex)MUTEX_INIT(name);
}

bool mutex_trylock(struct mutex *m)
{
    struct thread *expected = NULL;
    return __atomic_compare_exchange_n(&m->owner, &expected, thread_current(), false,
                                       __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

void mutex_lock(struct mutex *m)
{
    struct thread *self = thread_current();
    if (mutex_trylock(m))
        return;
    bool irq = spin_lock(&m->waiters.lock);
    /* Retry under the lock: an unlock that found no waiter left it free. */
    struct thread *expected = NULL;
    if (__atomic_compare_exchange_n(&m->owner, &expected, self, false, __ATOMIC_ACQUIRE,
                                    __ATOMIC_RELAXED)) {
        spin_unlock(&m->waiters.lock, irq);
        return;
    }
    if (expected == self)
        panic("mutex: thread %u locks a mutex it already holds", self->id);
    /* unlock hands the mutex over before waking us: owner == self on return. */
    sleep_locked(&m->waiters, irq);
    KASSERT(__atomic_load_n(&m->owner, __ATOMIC_ACQUIRE) == self);
}

void mutex_unlock(struct mutex *m)
{
    struct thread *self = thread_current();
    if (__atomic_load_n(&m->owner, __ATOMIC_RELAXED) != self)
        panic("mutex: thread %u unlocks a mutex it does not hold", self->id);
    bool irq = spin_lock(&m->waiters.lock);
    struct thread *next = dequeue_locked(&m->waiters);
    __atomic_store_n(&m->owner, next, __ATOMIC_RELEASE); /* hand-off, or free */
    spin_unlock(&m->waiters.lock, irq);
    if (next)
        thread_wake(next);
}

/* ---- semaphore ---------------------------------------------------------------- */

void semaphore_init(struct semaphore *s, int64_t count, const char *name)
{
    s->count = count;
    wait_queue_init(&s->waiters, name);
}

bool semaphore_try_down(struct semaphore *s)
{
    bool irq = spin_lock(&s->waiters.lock);
    bool got = s->count > 0;
    if (got)
        s->count--;
    spin_unlock(&s->waiters.lock, irq);
    return got;
}

void semaphore_down(struct semaphore *s)
{
    bool irq = spin_lock(&s->waiters.lock);
    if (s->count > 0) {
        s->count--;
        spin_unlock(&s->waiters.lock, irq);
        return;
    }
    /* semaphore_up passes its permit straight to us: count stays as it is. */
    sleep_locked(&s->waiters, irq);
}

void semaphore_up(struct semaphore *s)
{
    bool irq = spin_lock(&s->waiters.lock);
    struct thread *t = dequeue_locked(&s->waiters);
    if (!t)
        s->count++;
    spin_unlock(&s->waiters.lock, irq);
    if (t)
        thread_wake(t);
}
