/*
 * Futexes (include/proc/futex.h).
 */
#include "proc/futex.h"

#include "arch/time.h"
#include "arch/uaccess.h"
#include "base/panic.h"
#include "lib/errno.h"
#include "proc/process.h"
#include "sched/sync.h"
#include "sched/thread.h"
#include "sched/timeout.h"

#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_REQUEUE 3
#define FUTEX_CMP_REQUEUE 4
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAKE_BITSET 10
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_CLOCK_REALTIME 256
#define FUTEX_CMD_MASK (~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME))
#define FUTEX_BITSET_MATCH_ANY 0xffffffffu
#define NS_PER_S 1000000000ll

#define BUCKETS 64

struct waiter {
    struct waiter *next;       /* in its bucket (bucket lock) */
    struct vmspace *vm;        /* the key with uaddr (bucket lock: requeue changes it) */
    uintptr_t uaddr;
    uint32_t bitset;
    int bucket;                /* (A) where it is queued now */
    bool queued;               /* (bucket lock) */
    int result;                /* (bucket lock) 0, -ETIMEDOUT or -EINTR once dequeued */
    bool done;                 /* (A) set with result: the sleeper may go */
    uint64_t deadline_ns;      /* 0: none */
    struct timeout timeout;    /* armed while a timed wait sleeps */
    struct uthread *ut;
    struct wait_queue sleep;
};

static struct bucket {
    struct spinlock lock;
    struct waiter *head;
} __attribute__((aligned(64))) buckets[BUCKETS];


static int bucket_of(struct vmspace *vm, uintptr_t uaddr)
{
    uint64_t h = ((uint64_t)(uintptr_t)vm ^ (uaddr >> 2)) * 0x9e3779b97f4a7c15ull;
    return (int)(h >> 58); /* 64 buckets */
}
_Static_assert(BUCKETS == 64, "bucket_of takes 6 bits");

static bool matches(const struct waiter *w, struct vmspace *vm, uintptr_t uaddr)
{
    return w->vm == vm && w->uaddr == uaddr;
}

/* Unlinks w (bucket lock held). */
static void unlink_locked(struct bucket *b, struct waiter *w)
{
    struct waiter **link = &b->head;
    while (*link != w)
        link = &(*link)->next;
    *link = w->next;
    w->queued = false;
}

/* Ends w's wait with result (w's bucket lock held, w unlinked): it stays valid
 * until the lock drops, because the sleeper takes it before returning. */
static void finish_locked(struct waiter *w, int result)
{
    w->result = result;
    __atomic_store_n(&w->done, true, __ATOMIC_RELEASE);
    wait_queue_wake_all(&w->sleep);
}

/* Locks the bucket w is in now (requeue may move it meanwhile). */
static struct bucket *lock_waiter_bucket(struct waiter *w, bool *irq)
{
    for (;;) {
        int index = __atomic_load_n(&w->bucket, __ATOMIC_ACQUIRE);
        struct bucket *b = &buckets[index];
        *irq = spin_lock(&b->lock);
        if (__atomic_load_n(&w->bucket, __ATOMIC_ACQUIRE) == index)
            return b;
        spin_unlock(&b->lock, *irq);
    }
}

/* ---- timeouts --------------------------------------------------------------------- */

/* The deadline passed (include/sched/timeout.h): end the wait if it still waits. */
static void waiter_expired(struct timeout *t)
{
    struct waiter *w = (struct waiter *)((char *)t - __builtin_offsetof(struct waiter, timeout));
    bool bucket_irq;
    struct bucket *b = lock_waiter_bucket(w, &bucket_irq);
    if (w->queued) {
        unlink_locked(b, w);
        finish_locked(w, -ETIMEDOUT);
    }
    spin_unlock(&b->lock, bucket_irq);
}

void futex_init(void)
{
    for (int i = 0; i < BUCKETS; i++)
        buckets[i].lock = (struct spinlock)SPINLOCK_INIT("futex bucket");
}

/* ---- wait ------------------------------------------------------------------------ */

static bool waiter_done(void *ctx)
{
    return __atomic_load_n(&((struct waiter *)ctx)->done, __ATOMIC_ACQUIRE);
}

/* Why a wait must not start or go on: the thread is to end (-EINTR), or a
 * signal came (notify_locked in proc/signal.c sets the bit before it calls
 * futex_interrupt): restarted after a handler with SA_RESTART or none, as
 * Linux, except a timed wait, which a handler always ends with EINTR. */
static long stop_reason(struct uthread *ut, const struct waiter *w)
{
    uint32_t work = __atomic_load_n(&ut->work, __ATOMIC_SEQ_CST);
    if (work & (UTHREAD_WORK_KILL | UTHREAD_WORK_EXIT))
        return -EINTR;
    if (work & UTHREAD_WORK_SIGNAL)
        return w->deadline_ns ? -ERESTARTNOHAND : -ERESTARTSYS;
    return 0;
}

static long futex_wait(struct vmspace *vm, uintptr_t uaddr, uint32_t val, uint64_t deadline_ns,
                       uint32_t bitset)
{
    struct uthread *ut = uthread_current();
    struct waiter w = {.vm = vm, .uaddr = uaddr, .bitset = bitset, .deadline_ns = deadline_ns,
                       .ut = ut, .bucket = bucket_of(vm, uaddr)};
    wait_queue_init(&w.sleep, "futex");
    uint32_t current;
    if (copy_from_user(&current, uaddr, sizeof(current))) /* fault it in outside the lock */
        return -EFAULT;
    struct bucket *b = &buckets[w.bucket];
    bool irq = spin_lock(&b->lock);
    long error = copy_from_user(&current, uaddr, sizeof(current)) ? -EFAULT : 0;
    if (!error && current != val)
        error = -EAGAIN;
    if (!error) {
        w.next = b->head; /* order among waiters is not promised; LIFO is cheapest */
        b->head = &w;
        w.queued = true;
        ut->futex_waiter = &w;
        __atomic_store_n(&ut->futex_bucket, w.bucket, __ATOMIC_SEQ_CST);
        error = stop_reason(ut, &w); /* futex_interrupt may have looked before we were here */
        if (error)
            unlink_locked(b, &w);
    }
    spin_unlock(&b->lock, irq);
    if (error) {
        ut->futex_waiter = NULL;
        __atomic_store_n(&ut->futex_bucket, -1, __ATOMIC_SEQ_CST);
        return error;
    }
    if (deadline_ns) {
        w.timeout = (struct timeout){.deadline_ns = deadline_ns, .expire = waiter_expired};
        timeout_arm(&w.timeout);
    }
    while (!waiter_done(&w))
        wait_queue_wait(&w.sleep, waiter_done, &w);
    if (deadline_ns)
        timeout_disarm(&w.timeout);
    b = lock_waiter_bucket(&w, &irq);
    KASSERT(!w.queued);
    ut->futex_waiter = NULL;
    __atomic_store_n(&ut->futex_bucket, -1, __ATOMIC_SEQ_CST);
    spin_unlock(&b->lock, irq);
    return w.result;
}

void futex_interrupt(struct uthread *ut)
{
    for (;;) {
        int index = __atomic_load_n(&ut->futex_bucket, __ATOMIC_SEQ_CST);
        if (index < 0)
            return;
        struct bucket *b = &buckets[index];
        bool irq = spin_lock(&b->lock);
        bool here = __atomic_load_n(&ut->futex_bucket, __ATOMIC_ACQUIRE) == index;
        struct waiter *w = ut->futex_waiter;
        if (here && w && w->queued) {
            long reason = stop_reason(ut, w);
            unlink_locked(b, w);
            finish_locked(w, reason ? reason : -EINTR);
        }
        spin_unlock(&b->lock, irq);
        if (here)
            return;
    }
}

/* ---- wake and requeue ------------------------------------------------------------ */

static int wake_locked(struct bucket *b, struct vmspace *vm, uintptr_t uaddr, int n,
                       uint32_t bitset)
{
    int woken = 0;
    for (struct waiter *w = b->head, *next; w && woken < n; w = next) {
        next = w->next;
        if (!matches(w, vm, uaddr) || !(w->bitset & bitset))
            continue;
        unlink_locked(b, w);
        finish_locked(w, 0);
        woken++;
    }
    return woken;
}

int futex_wake_address(struct vmspace *vm, uintptr_t uaddr, int n)
{
    struct bucket *b = &buckets[bucket_of(vm, uaddr)];
    bool irq = spin_lock(&b->lock);
    int woken = wake_locked(b, vm, uaddr, n, FUTEX_BITSET_MATCH_ANY);
    spin_unlock(&b->lock, irq);
    return woken;
}

/* Moves up to n waiters of (vm, from) to `to` (both buckets held). */
static int requeue_locked(struct vmspace *vm, uintptr_t from, int from_index, uintptr_t to,
                          int to_index, int n)
{
    struct bucket *src = &buckets[from_index], *dst = &buckets[to_index];
    int moved = 0;
    for (struct waiter *w = src->head, *next; w && moved < n; w = next) {
        next = w->next;
        if (!matches(w, vm, from))
            continue;
        unlink_locked(src, w);
        w->uaddr = to;
        w->next = dst->head;
        dst->head = w;
        w->queued = true;
        __atomic_store_n(&w->bucket, to_index, __ATOMIC_RELEASE);
        __atomic_store_n(&w->ut->futex_bucket, to_index, __ATOMIC_SEQ_CST);
        moved++;
    }
    return moved;
}

static long futex_requeue(struct vmspace *vm, uintptr_t uaddr, int nr_wake, int nr_requeue,
                          uintptr_t uaddr2, bool compare, uint32_t val3)
{
    if (nr_wake < 0 || nr_requeue < 0)
        return -EINVAL;
    if (uaddr2 & 3)
        return -EINVAL;
    uint32_t current;
    if (compare && copy_from_user(&current, uaddr, sizeof(current)))
        return -EFAULT;
    int from = bucket_of(vm, uaddr), to = bucket_of(vm, uaddr2);
    bool irq = spin_lock_two(&buckets[from].lock, &buckets[to].lock); /* lower index first */
    long result = 0;
    if (compare && copy_from_user(&current, uaddr, sizeof(current)))
        result = -EFAULT;
    else if (compare && current != val3)
        result = -EAGAIN;
    if (!result) {
        result = wake_locked(&buckets[from], vm, uaddr, nr_wake, FUTEX_BITSET_MATCH_ANY);
        result += requeue_locked(vm, uaddr, from, uaddr2, to, nr_requeue);
    }
    spin_unlock_two(&buckets[from].lock, &buckets[to].lock, irq);
    return result;
}

/* ---- the call ------------------------------------------------------------------- */

struct timespec_user {
    int64_t sec, nsec;
};

/* The deadline in arch_time_ns terms (Exo's realtime clock is its monotonic
 * one, include/proc/syscall.h's clocks); 0 for none. */
static long read_deadline(uintptr_t timeout, bool absolute, uint64_t *deadline_ns)
{
    *deadline_ns = 0;
    if (!timeout)
        return 0;
    struct timespec_user ts;
    if (copy_from_user(&ts, timeout, sizeof(ts)))
        return -EFAULT;
    if (ts.sec < 0 || ts.nsec < 0 || ts.nsec >= NS_PER_S)
        return -EINVAL;
    uint64_t ns = ts.sec > (int64_t)(UINT64_MAX / NS_PER_S / 2) ? UINT64_MAX / 2
                                                                : (uint64_t)ts.sec * NS_PER_S +
                                                                      (uint64_t)ts.nsec;
    *deadline_ns = absolute ? ns : arch_time_ns() + ns;
    if (*deadline_ns == 0)
        *deadline_ns = 1; /* the epoch itself: long past */
    return 0;
}

long futex_call(uintptr_t uaddr, int op, uint32_t val, uintptr_t timeout, uintptr_t uaddr2,
                uint32_t val3)
{
    int cmd = op & FUTEX_CMD_MASK;
    if ((op & FUTEX_CLOCK_REALTIME) && cmd != FUTEX_WAIT_BITSET)
        return -ENOSYS;
    struct vmspace *vm = process_current()->vm;
    bool wait = cmd == FUTEX_WAIT || cmd == FUTEX_WAIT_BITSET;
    uint64_t deadline = 0;
    if (wait) {
        long error = read_deadline(timeout, cmd == FUTEX_WAIT_BITSET, &deadline);
        if (error)
            return error;
    }
    switch (cmd) {
    case FUTEX_WAIT:
    case FUTEX_WAIT_BITSET:
    case FUTEX_WAKE:
    case FUTEX_WAKE_BITSET:
    case FUTEX_REQUEUE:
    case FUTEX_CMP_REQUEUE:
        break;
    default:
        return -ENOSYS;
    }
    if (uaddr & 3)
        return -EINVAL;
    if (!user_range_ok(uaddr, sizeof(uint32_t)))
        return -EFAULT;
    uint32_t bitset = cmd == FUTEX_WAIT_BITSET || cmd == FUTEX_WAKE_BITSET ? val3
                                                                           : FUTEX_BITSET_MATCH_ANY;
    if (bitset == 0)
        return -EINVAL;
    switch (cmd) {
    case FUTEX_WAIT:
    case FUTEX_WAIT_BITSET:
        return futex_wait(vm, uaddr, val, deadline, bitset);
    case FUTEX_WAKE:
    case FUTEX_WAKE_BITSET: {
        struct bucket *b = &buckets[bucket_of(vm, uaddr)];
        bool irq = spin_lock(&b->lock);
        int woken = wake_locked(b, vm, uaddr, (int)val, bitset);
        spin_unlock(&b->lock, irq);
        return woken;
    }
    default:
        return futex_requeue(vm, uaddr, (int)val, (int)timeout, uaddr2, cmd == FUTEX_CMP_REQUEUE,
                             val3);
    }
}
