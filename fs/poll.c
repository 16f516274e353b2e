/* Readiness and the poll wait: see include/fs/poll.h. */
#include "fs/poll.h"

#include "arch/time.h"
#include "lib/errno.h"
#include "proc/signal.h"
#include "sched/sync.h"
#include "sched/thread.h"
#include "sched/timeout.h"

static uint64_t generation;                                  /* (A) */
static struct wait_queue pollers = WAIT_QUEUE_INIT("poll");

void fs_poll_notify(void)
{
    __atomic_fetch_add(&generation, 1, __ATOMIC_RELEASE);
    wait_queue_wake_all(&pollers);
}

uint64_t fs_poll_generation(void)
{
    return __atomic_load_n(&generation, __ATOMIC_ACQUIRE);
}

static bool generation_moved(void *ctx)
{
    return fs_poll_generation() != *(uint64_t *)ctx;
}

/* A timed poll's deadline (include/sched/timeout.h): it wakes every poller, as a
 * notify would, and marks its own poller's wait as over. */
struct poll_deadline {
    struct timeout timeout;
    bool passed; /* (A) */
};

static void deadline_passed(struct timeout *t)
{
    struct poll_deadline *d =
        (struct poll_deadline *)((char *)t - __builtin_offsetof(struct poll_deadline, timeout));
    __atomic_store_n(&d->passed, true, __ATOMIC_RELEASE);
    wait_queue_wake_all(&pollers);
}

struct poll_wake {
    uint64_t seen;
    const struct poll_deadline *deadline;
};

static bool moved_or_passed(void *ctx)
{
    const struct poll_wake *w = ctx;
    return fs_poll_generation() != w->seen || __atomic_load_n(&w->deadline->passed, __ATOMIC_ACQUIRE);
}

int fs_poll_wait(uint64_t seen, uint64_t deadline_ns)
{
    if (deadline_ns == UINT64_MAX)
        return signal_wait_interruptible(&pollers, generation_moved, &seen) ? -ERESTARTNOHAND : 0;
    if (arch_time_ns() >= deadline_ns)
        return 1;
    struct poll_deadline d = {.timeout = {.deadline_ns = deadline_ns, .expire = deadline_passed}};
    struct poll_wake w = {.seen = seen, .deadline = &d};
    timeout_arm(&d.timeout);
    bool interrupted = signal_wait_interruptible(&pollers, moved_or_passed, &w);
    timeout_disarm(&d.timeout);
    if (interrupted)
        return -ERESTARTNOHAND;
    return __atomic_load_n(&d.passed, __ATOMIC_ACQUIRE) || arch_time_ns() >= deadline_ns;
}
