/* The scheduler's sharing policy: weights, balancing, the conservation checker
 * (include/sched/fair.h). */
#include "sched/fair.h"

#include "arch/cpu.h"
#include "mm/numa.h"
#include "internal.h"
#include "sched/thread.h"

/* Linux's sched_prio_to_weight (kernel/sched/core.c): each nice level is about
 * 1.25 times the next, so one level apart is about 10% of CPU time. */
static const uint32_t nice_weights[FAIR_NICE_MAX - FAIR_NICE_MIN + 1] = {
    /* -20 */ 88761, 71755, 56483, 46273, 36291,
    /* -15 */ 29154, 23254, 18705, 14949, 11916,
    /* -10 */ 9548,  7620,  6100,  4904,  3906,
    /*  -5 */ 3121,  2501,  1991,  1586,  1277,
    /*   0 */ 1024,  820,   655,   526,   423,
    /*   5 */ 335,   272,   215,   172,   137,
    /*  10 */ 110,   87,    70,    56,    45,
    /*  15 */ 36,    29,    23,    18,    15,
};

/* One CPU's fair state: written by that CPU in its tick (interrupts off); the
 * clock and the runnable count are read by other CPUs (relaxed atomics). */
struct fair_cpu {
    uint64_t vclock;        /* (A) service per nice-0 thread, FAIR_VCLOCK_UNIT a tick */
    uint32_t runnable;      /* (A) threads running or queued, as of the last tick */
    uint32_t idle_run;      /* (O) idle ticks in a row that saw stealable work */
    uint32_t scan_start;    /* (O) where the next balancing pass starts */
    uint32_t ticks;         /* (O) ticks since the last balancing pass */
    uint64_t moves;         /* (A) threads this CPU took by balancing */
    /* The checker's counts for this CPU (O; summed by the report). */
    uint64_t checked, with_work, violations, longest;
} __attribute__((aligned(64)));

static struct fair_cpu fair_cpus[ARCH_MAX_CPUS];
static bool checker_on; /* (A) */

uint32_t fair_nice_to_weight(int nice)
{
    if (nice < FAIR_NICE_MIN)
        nice = FAIR_NICE_MIN;
    if (nice > FAIR_NICE_MAX)
        nice = FAIR_NICE_MAX;
    return nice_weights[nice - FAIR_NICE_MIN];
}

int32_t fair_quantum(uint32_t weight)
{
    return (int32_t)(weight * SCHED_SLICE_TICKS * FAIR_TICK_UNITS / FAIR_WEIGHT_NICE0);
}

static uint64_t load_relaxed(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* ---- the checker --------------------------------------------------------------- */

static bool stealable_work_anywhere(void)
{
    unsigned online = sched_cpus_online();
    for (unsigned cpu = 0; cpu < online; cpu++) {
        if (rq_stealable_count(sched_cpu_run_queue(cpu)) > 0)
            return true;
    }
    return false;
}

static void check_idle_tick(struct fair_cpu *f)
{
    __atomic_store_n(&f->checked, f->checked + 1, __ATOMIC_RELAXED);
    if (!stealable_work_anywhere()) {
        f->idle_run = 0;
        return;
    }
    __atomic_store_n(&f->with_work, f->with_work + 1, __ATOMIC_RELAXED);
    f->idle_run++;
    if (f->idle_run == FAIR_IDLE_GRACE_TICKS + 1)
        __atomic_store_n(&f->violations, f->violations + 1, __ATOMIC_RELAXED);
    if (f->idle_run > f->longest)
        __atomic_store_n(&f->longest, f->idle_run, __ATOMIC_RELAXED);
}

void fair_check_conservation(bool on)
{
    __atomic_store_n(&checker_on, false, __ATOMIC_SEQ_CST);
    if (!on)
        return;
    for (unsigned cpu = 0; cpu < ARCH_MAX_CPUS; cpu++) {
        struct fair_cpu *f = &fair_cpus[cpu];
        __atomic_store_n(&f->checked, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&f->with_work, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&f->violations, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&f->longest, 0, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&checker_on, true, __ATOMIC_SEQ_CST);
}

void fair_conservation_report(struct fair_conservation *out)
{
    *out = (struct fair_conservation){0};
    for (unsigned cpu = 0; cpu < ARCH_MAX_CPUS; cpu++) {
        const struct fair_cpu *f = &fair_cpus[cpu];
        out->idle_ticks_checked += load_relaxed(&f->checked);
        out->idle_ticks_with_work += load_relaxed(&f->with_work);
        out->violations += load_relaxed(&f->violations);
        uint64_t longest = load_relaxed(&f->longest);
        if (longest > out->longest_run)
            out->longest_run = longest;
    }
}

/* ---- balancing ------------------------------------------------------------------- */

/* Whether one of up to FAIR_BALANCE_SCAN other CPUs, from a rotating start, has a
 * stealable thread queued: an idle CPU's own look, for when the busy CPU that
 * should have woken it cannot (its wake-up raced with the halt, or, under an
 * emulator, its vCPU is not running). All of them each tick up to that many CPUs. */
static bool stealable_work_nearby(unsigned self, struct fair_cpu *f)
{
    unsigned online = sched_cpus_online();
    if (online < 2)
        return false;
    unsigned scan = online - 1 < FAIR_BALANCE_SCAN ? online - 1 : FAIR_BALANCE_SCAN;
    unsigned start = f->scan_start;
    f->scan_start = (start + scan) % (online - 1);
    for (unsigned i = 0; i < scan; i++) {
        unsigned cpu = (self + 1 + (start + i) % (online - 1)) % online;
        if (rq_stealable_count(sched_cpu_run_queue(cpu)) > 0)
            return true;
    }
    return false;
}

/* The slowest clock among the same-node CPUs that have a stealable thread, or
 * `self` if none; also pulls self's clock to within FAIR_CLOCK_SPREAD of the others. */
static unsigned slowest_victim(unsigned self, struct fair_cpu *f)
{
    unsigned online = sched_cpus_online(), node = numa_cpu_node(self);
    unsigned scan = online - 1 < FAIR_BALANCE_SCAN ? online - 1 : FAIR_BALANCE_SCAN;
    unsigned best = self;
    uint64_t best_clock = 0, min_clock = f->vclock, max_clock = f->vclock;
    for (unsigned i = 0; i < scan; i++) {
        unsigned cpu = (self + 1 + (f->scan_start + i) % (online - 1)) % online;
        if (numa_cpu_node(cpu) != node)
            continue;
        uint64_t clock = load_relaxed(&fair_cpus[cpu].vclock);
        if (clock < min_clock)
            min_clock = clock;
        if (clock > max_clock)
            max_clock = clock;
        if (rq_stealable_count(sched_cpu_run_queue(cpu)) == 0)
            continue;
        if (best == self || clock < best_clock) {
            best = cpu;
            best_clock = clock;
        }
    }
    f->scan_start = (f->scan_start + scan) % (online > 1 ? online - 1 : 1);
    uint64_t clock = f->vclock;
    if (clock > min_clock + FAIR_CLOCK_SPREAD)
        clock = min_clock + FAIR_CLOCK_SPREAD;
    if (clock + FAIR_CLOCK_SPREAD < max_clock)
        clock = max_clock - FAIR_CLOCK_SPREAD;
    __atomic_store_n(&f->vclock, clock, __ATOMIC_RELAXED);
    return best;
}

/* Takes the slowest neighbour's oldest stealable thread when this CPU is ahead. */
static bool balance(unsigned self, struct fair_cpu *f)
{
    if (sched_cpus_online() < 2)
        return false;
    unsigned victim = slowest_victim(self, f);
    if (victim == self)
        return false;
    const struct fair_cpu *v = &fair_cpus[victim];
    uint64_t victim_clock = load_relaxed(&v->vclock);
    if (f->vclock <= victim_clock + FAIR_BALANCE_GAP)
        return false;
    /* Taking one from a CPU with fewer threads than here would only turn the gap
     * round, unless that CPU is far behind (it hardly runs at all: under an
     * emulator, its vCPU may not be scheduled). */
    if (f->runnable > __atomic_load_n(&v->runnable, __ATOMIC_RELAXED) &&
        f->vclock <= victim_clock + FAIR_FAR_BEHIND)
        return false;
    struct rq_node *node = rq_steal(sched_cpu_run_queue(victim));
    if (!node)
        return false;
    rq_push_head(sched_cpu_run_queue(self), node);
    __atomic_store_n(&f->moves, f->moves + 1, __ATOMIC_RELAXED);
    return true;
}

bool fair_tick(unsigned cpu, bool busy, unsigned runnable)
{
    struct fair_cpu *f = &fair_cpus[cpu];
    __atomic_store_n(&f->runnable, runnable, __ATOMIC_RELAXED);
    uint64_t step = busy && runnable > 1 ? FAIR_VCLOCK_UNIT / runnable : FAIR_VCLOCK_UNIT;
    __atomic_store_n(&f->vclock, f->vclock + step, __ATOMIC_RELAXED);
    if (!busy && __atomic_load_n(&checker_on, __ATOMIC_RELAXED))
        check_idle_tick(f);
    if (!busy && stealable_work_nearby(cpu, f))
        return true;
    if (++f->ticks < FAIR_BALANCE_TICKS)
        return false;
    f->ticks = 0;
    return balance(cpu, f);
}

uint64_t fair_balance_moves(void)
{
    uint64_t moves = 0;
    for (unsigned cpu = 0; cpu < ARCH_MAX_CPUS; cpu++)
        moves += load_relaxed(&fair_cpus[cpu].moves);
    return moves;
}
