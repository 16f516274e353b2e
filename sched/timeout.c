#include "sched/timeout.h"

#include <stddef.h>

#include "arch/time.h"
#include "base/panic.h"
#include "base/spinlock.h"
#include "sched/sync.h"
#include "sched/thread.h"

static struct spinlock timeout_lock = SPINLOCK_INIT("timeout");
static struct timeout *armed;  /* (timeout_lock) */
static uint32_t arm_count;     /* (A) bumped by every arm: wakes an idle thread */
static struct wait_queue idle_wait = WAIT_QUEUE_INIT("timeout idle");

/* Calls expire for every armed timeout whose deadline passed; true while any
 * stay armed (the thread then looks again next tick). */
static bool expire_passed(void)
{
    uint64_t now = arch_time_ns();
    bool irq = spin_lock(&timeout_lock);
    for (struct timeout *t = armed; t; t = t->next) {
        if (!t->expired && t->deadline_ns <= now) {
            t->expired = true;
            t->expire(t);
        }
    }
    bool more = armed != NULL;
    spin_unlock(&timeout_lock, irq);
    return more;
}

static bool armed_since(void *ctx)
{
    return __atomic_load_n(&arm_count, __ATOMIC_ACQUIRE) != *(uint32_t *)ctx;
}

static void timeout_main(void *arg)
{
    (void)arg;
    for (;;) {
        uint32_t seen = __atomic_load_n(&arm_count, __ATOMIC_ACQUIRE);
        if (expire_passed())
            thread_sleep_ns(SCHED_TICK_NS);
        else
            wait_queue_wait(&idle_wait, armed_since, &seen);
    }
}

void timeout_arm(struct timeout *t)
{
    t->expired = false;
    bool irq = spin_lock(&timeout_lock);
    t->next = armed;
    armed = t;
    spin_unlock(&timeout_lock, irq);
    __atomic_fetch_add(&arm_count, 1, __ATOMIC_RELEASE);
    wait_queue_wake_all(&idle_wait);
}

void timeout_disarm(struct timeout *t)
{
    bool irq = spin_lock(&timeout_lock);
    struct timeout **link = &armed;
    while (*link != t)
        link = &(*link)->next;
    *link = t->next;
    spin_unlock(&timeout_lock, irq);
}

void timeout_init(void)
{
    if (!thread_spawn(timeout_main, NULL, "timeouts", THREAD_ANY_CPU))
        panic("timeout: no memory for the timeout thread");
}
