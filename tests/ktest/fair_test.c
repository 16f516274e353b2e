/*
 * Suite `fair`: how the scheduler shares CPU time (include/sched/fair.h). Named
 * only: make test runs it in its own boots at 2, 4 and 8 CPUs (tests/qemu/matrix.py),
 * as each case needs a second or two of ticks.
 *
 * CPU time is what the scheduler charged (thread_cpu_ticks), never the wall clock:
 * under TCG a vCPU may stall for a while, and its threads' ticks with it, which the
 * kernel cannot help. Windows are long enough that one quantum is a small part.
 */
#include "arch/cpu.h"
#include "arch/irq.h"
#include "arch/smp.h"
#include "arch/time.h"
#include "kernel/ktest.h"
#include "lib/printf.h"
#include "sched/fair.h"
#include "sched/sync.h"
#include "sched/thread.h"

#define FAIR_MAX_WORKERS 40
#define WARMUP_NS ((uint64_t)200000000) /* threads spread and settle before the window */
/* A window lasts until its threads were charged this many ticks each on average
 * (125 nice-0 turns: one turn more or less is 0.8%), or WINDOW_MAX_NS at most. */
#define WINDOW_TICKS_PER_THREAD 500
#define WINDOW_MAX_NS ((uint64_t)25000000000)
#define WINDOW_POLL_NS ((uint64_t)10000000)
/* A thread pinned to a vCPU the host runs less gets less, whatever the kernel
 * does: fairness is judged in a window where every CPU took at least this percent
 * of the ticks of the busiest (up to MAX_WINDOWS tries, WINDOWS_MAX_NS in all). */
#define EVEN_CPUS_PERCENT 85
#define MAX_WINDOWS 4
#define WINDOWS_MAX_NS ((uint64_t)40000000000)

struct worker {
    struct thread *thread;
    const bool *stop;
    uint64_t iterations;
    uint64_t longest_gap; /* ticks of one CPU between two loop passes on it */
    uint64_t window_start_ticks, window_ticks;
};

/* The CPU this runs on and that CPU's tick count, read together. */
static void cpu_and_ticks(unsigned *cpu, uint64_t *ticks)
{
    bool irq = arch_irq_save_disable();
    *cpu = arch_cpu_index();
    *ticks = sched_ticks();
    arch_irq_restore(irq);
}

/* Spins until told to stop, noting the longest time it went without running: the
 * gap between two passes seen on the same CPU, in that CPU's ticks (a pass on
 * another CPU in between means it ran there). */
static void spin_worker(void *arg)
{
    struct worker *w = arg;
    unsigned last_cpu;
    uint64_t last_ticks;
    cpu_and_ticks(&last_cpu, &last_ticks);
    while (!__atomic_load_n(w->stop, __ATOMIC_ACQUIRE)) {
        unsigned cpu;
        uint64_t ticks;
        cpu_and_ticks(&cpu, &ticks);
        if (cpu == last_cpu && ticks - last_ticks > w->longest_gap)
            __atomic_store_n(&w->longest_gap, ticks - last_ticks, __ATOMIC_RELAXED);
        last_cpu = cpu;
        last_ticks = ticks;
        __atomic_store_n(&w->iterations, w->iterations + 1, __ATOMIC_RELAXED);
    }
}

/* Jain's fairness index of x[0..n), times 10000: (sum x)^2 / (n * sum x^2). */
static uint64_t jain_x10000(const uint64_t *x, unsigned n)
{
    uint64_t sum = 0, squares = 0;
    for (unsigned i = 0; i < n; i++) {
        sum += x[i];
        squares += x[i] * x[i];
    }
    return squares ? sum * sum * 10000 / (n * squares) : 0;
}

static void start_window(struct worker *w, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        w[i].window_start_ticks = thread_cpu_ticks(w[i].thread);
        __atomic_store_n(&w[i].longest_gap, 0, __ATOMIC_RELAXED);
    }
}

static uint64_t window_ticks_so_far(const struct worker *w, unsigned n)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < n; i++)
        total += thread_cpu_ticks(w[i].thread) - w[i].window_start_ticks;
    return total;
}

/* Sleeps until the workers were charged `ticks` in all since start_window (or the
 * cap passed); returns the wall time it took, in ms. */
static uint64_t wait_window(const struct worker *w, unsigned n, uint64_t ticks)
{
    uint64_t start = arch_time_ns();
    while (window_ticks_so_far(w, n) < ticks && arch_time_ns() - start < WINDOW_MAX_NS)
        thread_sleep_ns(WINDOW_POLL_NS);
    return (arch_time_ns() - start) / 1000000;
}

static void end_window(struct worker *w, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        w[i].window_ticks = thread_cpu_ticks(w[i].thread) - w[i].window_start_ticks;
}

static void stop_and_join(struct worker *w, unsigned n, bool *stop)
{
    __atomic_store_n(stop, true, __ATOMIC_RELEASE);
    for (unsigned i = 0; i < n; i++)
        if (w[i].thread)
            thread_join(w[i].thread);
}

/* ---- equal weights --------------------------------------------------------------- */

/* The run both equal-weight cases judge: N = 2M + 1 threads on M CPUs, the first
 * ceil(M/2) pinned to CPUs 0, 1, ..., the rest free. */
static struct {
    bool done;
    unsigned n, cpus;
    uint64_t window_ms;
    bool cpus_even;
    uint64_t cpu_least, cpu_most;
    uint64_t ticks[FAIR_MAX_WORKERS], gaps[FAIR_MAX_WORKERS];
} equal_run;

static bool run_equal_weights(struct ktest *t)
{
    if (equal_run.done)
        return true;
    unsigned cpus = arch_cpu_count();
    if (cpus < 2) {
        ktest_skip(t, "needs 2 CPUs or more");
        return false;
    }
    unsigned n = 2 * cpus + 1, pinned = (cpus + 1) / 2;
    if (n > FAIR_MAX_WORKERS)
        n = FAIR_MAX_WORKERS;
    static struct worker w[FAIR_MAX_WORKERS];
    bool stop = false;
    for (unsigned i = 0; i < n; i++) {
        w[i] = (struct worker){.stop = &stop};
        w[i].thread = thread_spawn(spin_worker, &w[i], "fair", i < pinned ? (int)i : THREAD_ANY_CPU);
        if (!w[i].thread) {
            stop_and_join(w, i, &stop);
            ktest_fail(t, __FILE__, __LINE__, "no memory for worker %u", i);
            return false;
        }
    }
    thread_sleep_ns(WARMUP_NS);
    /* Windows until one in which the host ran the vCPUs alike (see EVEN_CPUS_PERCENT). */
    uint64_t moves, cpu_least, cpu_most, started = arch_time_ns();
    unsigned windows = 0;
    do {
        start_window(w, n);
        moves = fair_balance_moves();
        static uint64_t cpu_ticks[ARCH_MAX_CPUS];
        for (unsigned cpu = 0; cpu < cpus; cpu++)
            cpu_ticks[cpu] = sched_cpu_ticks(cpu);
        equal_run.window_ms = wait_window(w, n, (uint64_t)n * WINDOW_TICKS_PER_THREAD);
        end_window(w, n);
        cpu_least = UINT64_MAX;
        cpu_most = 0;
        for (unsigned cpu = 0; cpu < cpus; cpu++) {
            uint64_t ticks = sched_cpu_ticks(cpu) - cpu_ticks[cpu];
            cpu_least = ticks < cpu_least ? ticks : cpu_least;
            cpu_most = ticks > cpu_most ? ticks : cpu_most;
        }
        moves = fair_balance_moves() - moves;
        windows++;
    } while (cpu_least * 100 < cpu_most * EVEN_CPUS_PERCENT && windows < MAX_WINDOWS &&
             arch_time_ns() - started < WINDOWS_MAX_NS);
    stop_and_join(w, n, &stop);
    equal_run.cpus_even = cpu_least * 100 >= cpu_most * EVEN_CPUS_PERCENT;
    equal_run.cpu_least = cpu_least;
    equal_run.cpu_most = cpu_most;
    equal_run.n = n;
    equal_run.cpus = cpus;
    uint64_t least = UINT64_MAX, most = 0;
    for (unsigned i = 0; i < n; i++) {
        equal_run.ticks[i] = w[i].window_ticks;
        equal_run.gaps[i] = w[i].longest_gap;
        least = w[i].window_ticks < least ? w[i].window_ticks : least;
        most = w[i].window_ticks > most ? w[i].window_ticks : most;
    }
    ktest_note(t, "%u threads (%u pinned) on %u CPUs: %lu..%lu ticks each, %lu balancing moves; "
               "the CPUs took %lu..%lu ticks (window %u)", n, pinned, cpus, least, most, moves,
               cpu_least, cpu_most, windows);
    equal_run.done = true;
    return true;
}

static void fair_equal_weights_get_equal_cpu_time(struct ktest *t)
{
    if (!run_equal_weights(t))
        return;
    uint64_t jain = jain_x10000(equal_run.ticks, equal_run.n);
    ktest_note(t, "Jain's index %lu.%04lu over %lu ms", jain / 10000, jain % 10000,
               equal_run.window_ms);
    if (!equal_run.cpus_even) {
        static char reason[120];
        ksnprintf(reason, sizeof(reason),
                  "the host ran the vCPUs unevenly in every window (the last: %lu..%lu ticks "
                  "per CPU, under %u%%)", equal_run.cpu_least, equal_run.cpu_most,
                  EVEN_CPUS_PERCENT);
        KT_SKIP(t, reason);
    }
    KT_EXPECT(t, jain >= 9900);
}

/* fair.h's bound with k + 1 = every thread of the run on one CPU, the worst case. */
static void fair_no_thread_waits_longer_than_the_bound(struct ktest *t)
{
    if (!run_equal_weights(t))
        return;
    uint64_t s = SCHED_SLICE_TICKS, b = FAIR_BALANCE_TICKS;
    uint64_t bound = equal_run.n * (s + 1) * b / (b - s - 1) + 1;
    uint64_t longest = 0;
    for (unsigned i = 0; i < equal_run.n; i++)
        longest = equal_run.gaps[i] > longest ? equal_run.gaps[i] : longest;
    ktest_note(t, "longest wait %lu ticks, bound %lu", longest, bound);
    KT_EXPECT(t, longest <= bound);
}

/* ---- weights ----------------------------------------------------------------------- */

/* Nice -1, 4 and 10 pinned to the last CPU: ticks in proportion 1277 : 423 : 110
 * each share within 5% of its weight's. */
static void fair_nice_levels_share_by_weight(struct ktest *t)
{
    static const int nices[] = {-1, 4, 10}; /* 10: a quantum under one tick */
    enum { N = sizeof(nices) / sizeof(nices[0]) };
    int cpu = (int)arch_cpu_count() - 1;
    struct worker w[N];
    bool stop = false;
    uint64_t weight_sum = 0;
    bool irq = arch_irq_save_disable(); /* all weighted before any runs */
    for (unsigned i = 0; i < N; i++) {
        w[i] = (struct worker){.stop = &stop};
        w[i].thread = thread_spawn(spin_worker, &w[i], "nice", cpu);
        if (w[i].thread)
            thread_set_nice(w[i].thread, nices[i]);
        weight_sum += fair_nice_to_weight(nices[i]);
    }
    arch_irq_restore(irq);
    for (unsigned i = 0; i < N; i++) {
        if (!w[i].thread) {
            stop_and_join(w, N, &stop);
            KT_ASSERT(t, w[i].thread != NULL);
        }
        KT_EXPECT_EQ(t, thread_get_nice(w[i].thread), nices[i]);
    }
    thread_sleep_ns(WARMUP_NS);
    start_window(w, N);
    uint64_t ms = wait_window(w, N, 4 * WINDOW_TICKS_PER_THREAD);
    end_window(w, N);
    stop_and_join(w, N, &stop);
    uint64_t total = 0;
    for (unsigned i = 0; i < N; i++)
        total += w[i].window_ticks;
    KT_ASSERT(t, total > 0);
    for (unsigned i = 0; i < N; i++) {
        /* share / expected, in per-mille: (ticks / total) / (weight / weight_sum) */
        uint64_t weight = fair_nice_to_weight(nices[i]);
        uint64_t ratio = w[i].window_ticks * weight_sum * 1000 / (total * weight);
        ktest_note(t, "nice %d: %lu of %lu ticks in %lu ms, %lu.%lu%% of its weight's share",
                   nices[i], w[i].window_ticks, total, ms, ratio / 10, ratio % 10);
        KT_EXPECT(t, ratio >= 950 && ratio <= 1050);
    }
}

static void fair_nice_levels_follow_linux_weights(struct ktest *t)
{
    KT_EXPECT_EQ(t, fair_nice_to_weight(0), 1024);
    KT_EXPECT_EQ(t, fair_nice_to_weight(-20), 88761);
    KT_EXPECT_EQ(t, fair_nice_to_weight(19), 15);
    KT_EXPECT_EQ(t, fair_nice_to_weight(-21), 88761);
    KT_EXPECT_EQ(t, fair_nice_to_weight(20), 15);
    /* Each level is about 1.25 times the next. */
    for (int nice = FAIR_NICE_MIN; nice < FAIR_NICE_MAX; nice++) {
        uint64_t ratio = fair_nice_to_weight(nice) * 100ull / fair_nice_to_weight(nice + 1);
        KT_EXPECT(t, ratio >= 120 && ratio <= 130);
    }
}

/* ---- work conservation ----------------------------------------------------------- */

struct burst {
    uint64_t spin_ns;
};

static void burst_worker(void *arg)
{
    const struct burst *b = arg;
    uint64_t start = arch_time_ns();
    while (arch_time_ns() - start < b->spin_ns)
        arch_cpu_relax();
}

/* A producer on CPU 0 spawns waves of short CPU-bound threads, which queue on its
 * own CPU while it keeps running; sleepers wake onto busy CPUs. The checker must see
 * idle ticks while work was waiting, and no CPU idle for more than
 * FAIR_IDLE_GRACE_TICKS such ticks in a row. */
static void fair_no_cpu_idles_while_work_is_stealable(struct ktest *t)
{
    unsigned cpus = arch_cpu_count();
    if (cpus < 2) {
        ktest_skip(t, "needs 2 CPUs or more");
        return;
    }
    static struct burst burst = {3 * SCHED_TICK_NS};
    struct thread *th[FAIR_MAX_WORKERS];
    unsigned wave = cpus + 1 < FAIR_MAX_WORKERS ? cpus + 1 : FAIR_MAX_WORKERS;
    thread_set_own_affinity(0);
    thread_yield();
    fair_check_conservation(true);
    uint64_t start = arch_time_ns();
    unsigned waves = 0;
    while (arch_time_ns() - start < WINDOW_MAX_NS / 40) {
        bool irq = arch_irq_save_disable(); /* the whole wave queued here at once */
        for (unsigned i = 0; i < wave; i++)
            th[i] = thread_spawn(burst_worker, &burst, "burst", THREAD_ANY_CPU);
        arch_irq_restore(irq);
        burst_worker(&burst); /* busy here meanwhile */
        for (unsigned i = 0; i < wave; i++) {
            if (th[i])
                thread_join(th[i]);
        }
        waves++;
        thread_sleep_ns((waves % 3) * SCHED_TICK_NS);
    }
    struct fair_conservation r;
    fair_conservation_report(&r);
    fair_check_conservation(false);
    thread_set_own_affinity(THREAD_ANY_CPU);
    ktest_note(t, "%u waves of %u: %lu idle ticks checked, %lu with stealable work, "
               "longest run %lu, %lu violations",
               waves, wave, r.idle_ticks_checked, r.idle_ticks_with_work, r.longest_run,
               r.violations);
    KT_EXPECT(t, r.idle_ticks_checked > 0);
    KT_EXPECT_EQ(t, r.violations, 0);
}

/* ---- starvation (after LTP's sched/cfs-scheduler/starvation.c) ----------------------- */

struct ping_pong {
    struct semaphore ping, pong;
    const bool *stop;
    uint64_t rounds;
};

static void pinger(void *arg)
{
    struct ping_pong *p = arg;
    while (!__atomic_load_n(p->stop, __ATOMIC_ACQUIRE)) {
        semaphore_up(&p->pong);
        semaphore_down(&p->ping);
        p->rounds++;
    }
    semaphore_up(&p->pong);
}

static void ponger(void *arg)
{
    struct ping_pong *p = arg;
    while (!__atomic_load_n(p->stop, __ATOMIC_ACQUIRE)) {
        semaphore_down(&p->pong);
        semaphore_up(&p->ping);
    }
    semaphore_up(&p->ping);
}

static void napper(void *arg)
{
    const bool *stop = arg;
    while (!__atomic_load_n(stop, __ATOMIC_ACQUIRE))
        thread_sleep_ns(1); /* wakes on every tick */
}

struct hog {
    const bool *stop;
    uint64_t first_tick, last_tick; /* its CPU's ticks at the window's ends */
    uint64_t first_charged, last_charged;
    bool window_open, window_closed;
};

/* A CPU-bound thread that times its own window in its CPU's ticks. */
static void hog(void *arg)
{
    struct hog *h = arg;
    struct thread *self = thread_current();
    while (!__atomic_load_n(h->stop, __ATOMIC_ACQUIRE)) {
        if (__atomic_load_n(&h->window_open, __ATOMIC_ACQUIRE) && !h->first_tick) {
            h->first_tick = sched_ticks();
            h->first_charged = thread_cpu_ticks(self);
        }
        if (__atomic_load_n(&h->window_closed, __ATOMIC_ACQUIRE) && !h->last_tick) {
            h->last_tick = sched_ticks();
            h->last_charged = thread_cpu_ticks(self);
        }
    }
}

/* On one CPU, a ping-pong pair wakes each other as fast as it can and a napper
 * wakes on every tick, beside a CPU-bound thread: it must still get at least a
 * third of its CPU's ticks (its fair share among the three that can be runnable at
 * once, the pair taking turns), however often the others wake. */
static void fair_wake_up_storm_does_not_starve_a_cpu_bound_thread(struct ktest *t)
{
    int cpu = (int)arch_cpu_count() - 1;
    bool stop = false;
    static struct ping_pong pp;
    pp = (struct ping_pong){.stop = &stop};
    semaphore_init(&pp.ping, 0, "ping");
    semaphore_init(&pp.pong, 0, "pong");
    struct hog h = {.stop = &stop};
    struct thread *th[4] = {
        thread_spawn(hog, &h, "hog", cpu), thread_spawn(pinger, &pp, "ping", cpu),
        thread_spawn(ponger, &pp, "pong", cpu), thread_spawn(napper, &stop, "nap", cpu)};
    bool spawned = true;
    for (unsigned i = 0; i < 4; i++)
        spawned &= th[i] != NULL;
    if (spawned) {
        thread_sleep_ns(WARMUP_NS);
        __atomic_store_n(&h.window_open, true, __ATOMIC_RELEASE);
        uint64_t start = arch_time_ns(), at_open = thread_cpu_ticks(th[0]);
        while (thread_cpu_ticks(th[0]) < at_open + WINDOW_TICKS_PER_THREAD &&
               arch_time_ns() - start < WINDOW_MAX_NS)
            thread_sleep_ns(WINDOW_POLL_NS);
        __atomic_store_n(&h.window_closed, true, __ATOMIC_RELEASE);
        thread_sleep_ns(50000000);
    }
    __atomic_store_n(&stop, true, __ATOMIC_RELEASE);
    for (unsigned i = 0; i < 4; i++)
        if (th[i])
            thread_join(th[i]);
    KT_ASSERT(t, spawned);
    KT_ASSERT(t, h.first_tick && h.last_tick > h.first_tick);
    uint64_t window = h.last_tick - h.first_tick, got = h.last_charged - h.first_charged;
    ktest_note(t, "hog: %lu of %lu ticks on CPU %d; %lu ping-pong rounds", got, window, cpu,
               pp.rounds);
    KT_EXPECT(t, pp.rounds > 0);
    KT_EXPECT(t, got * 3 >= window);
}

KTEST_NAMED_SUITE(fair, KTEST(fair_nice_levels_follow_linux_weights),
                  KTEST(fair_equal_weights_get_equal_cpu_time),
                  KTEST(fair_no_thread_waits_longer_than_the_bound),
                  KTEST(fair_nice_levels_share_by_weight),
                  KTEST(fair_no_cpu_idles_while_work_is_stealable),
                  KTEST(fair_wake_up_storm_does_not_starve_a_cpu_bound_thread));
