/* Readiness and the poll wait: see include/fs/poll.h. */
#include "fs/poll.h"

#include "arch/time.h"
#include "lib/errno.h"
#include "proc/signal.h"
#include "sched/sync.h"
#include "sched/thread.h"

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

int fs_poll_wait(uint64_t seen, uint64_t deadline_ns)
{
    if (deadline_ns == UINT64_MAX)
        return signal_wait_interruptible(&pollers, generation_moved, &seen) ? -ERESTARTNOHAND : 0;
    uint64_t now = arch_time_ns();
    if (now >= deadline_ns)
        return 1;
    if (signal_pending())
        return -ERESTARTNOHAND;
    if (fs_poll_generation() == seen) {
        uint64_t left = deadline_ns - now;
        thread_sleep_ns(left < SCHED_TICK_NS ? left : SCHED_TICK_NS);
    }
    return arch_time_ns() >= deadline_ns;
}
