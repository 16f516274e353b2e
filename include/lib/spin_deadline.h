/*
 * spin_deadline: a time limit for a busy wait that counts only the time the
 * waiter saw pass while it was running.
 *
 * A waiter looks at the clock on every turn of its loop, microseconds apart on
 * hardware. A gap between two looks longer than max_step_ns means the waiter
 * itself was not running (a hypervisor or an emulator's host did not schedule
 * it), and counts as max_step_ns only: under QEMU TCG on a busy host a vCPU may
 * stand still for seconds, and the vCPU it waits for stood still with it, so the
 * wait must not give up on the other for what was the host's delay. On hardware,
 * and whenever the waiter runs, this is a plain deadline.
 *
 * Pure and lock-free: the caller owns the struct.
 */
#ifndef EXO_LIB_SPIN_DEADLINE_H
#define EXO_LIB_SPIN_DEADLINE_H

#include <stdbool.h>
#include <stdint.h>

struct spin_deadline {
    uint64_t last_ns;     /* the clock at the last look */
    uint64_t left_ns;     /* running time still allowed */
    uint64_t max_step_ns; /* the most one gap between looks counts for */
};

static inline void spin_deadline_start(struct spin_deadline *d, uint64_t now_ns,
                                       uint64_t budget_ns, uint64_t max_step_ns)
{
    *d = (struct spin_deadline){now_ns, budget_ns, max_step_ns};
}

/* True once the waiter has run for the budget; `now_ns` from a monotonic clock
 * (a clock that went back counts nothing). */
static inline bool spin_deadline_passed(struct spin_deadline *d, uint64_t now_ns)
{
    uint64_t step = now_ns > d->last_ns ? now_ns - d->last_ns : 0;
    if (step > d->max_step_ns)
        step = d->max_step_ns;
    d->last_ns = now_ns > d->last_ns ? now_ns : d->last_ns;
    d->left_ns = step < d->left_ns ? d->left_ns - step : 0;
    return d->left_ns == 0;
}

#endif
