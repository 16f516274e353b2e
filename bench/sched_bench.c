/* Benchmarks of the scheduler (mode=bench; include/bench/bench.h). */
#include "arch/cpu.h"
#include "arch/irq.h"
#include "arch/smp.h"
#include "arch/time.h"
#include "bench/bench.h"
#include "kernel/boottime.h"
#include "lib/printf.h"
#include "mm/frame.h"
#include "mm/heap.h"
#include "sched/sync.h"
#include "sched/thread.h"

#define SMALLEST_STACK_BYTES 4096

/* ---- ctx_switch: two threads yielding to each other on one CPU ------------------- */

struct ping_pong {
    uint64_t rounds;
};

static void yield_rounds(void *arg)
{
    struct ping_pong *p = arg;
    for (uint64_t i = 0; i < p->rounds; i++)
        thread_yield();
}

/* 2 * iterations switches. The caller joins the second one, so it is off the run
 * queue meanwhile. */
static uint64_t ctx_switch(uint64_t iterations)
{
    int cpu = (int)arch_cpu_index();
    struct ping_pong p = {iterations};
    bool irq = arch_irq_save_disable(); /* both queued before either runs */
    struct thread *a = thread_spawn(yield_rounds, &p, "ping", cpu);
    struct thread *b = thread_spawn(yield_rounds, &p, "pong", cpu);
    uint64_t start = arch_read_timestamp_before();
    arch_irq_restore(irq);
    if (a)
        thread_join(a);
    if (b)
        thread_join(b);
    uint64_t elapsed = arch_read_timestamp_after() - start;
    if (!a || !b)
        bench_fail("no memory for two threads");
    return elapsed / 2;
}
BENCH(ctx_switch, ctx_switch, 20000);

/* ---- cross_cpu_wake_rtt: a semaphore ping-pong between two CPUs ------------------ */

struct wake_pair {
    struct semaphore to_pong, to_ping;
    uint64_t rounds;
    uint64_t cycles; /* written by ping */
};

/* Pinned to CPU 0: each round wakes pong on CPU 1 and sleeps until pong wakes it. */
static void wake_ping(void *arg)
{
    struct wake_pair *w = arg;
    uint64_t start = arch_read_timestamp_before();
    for (uint64_t i = 0; i < w->rounds; i++) {
        semaphore_up(&w->to_pong);
        semaphore_down(&w->to_ping);
    }
    w->cycles = arch_read_timestamp_after() - start;
}

static void wake_pong(void *arg)
{
    struct wake_pair *w = arg;
    for (uint64_t i = 0; i < w->rounds; i++) {
        semaphore_down(&w->to_pong);
        semaphore_up(&w->to_ping);
    }
}

static uint64_t cross_cpu_wake_rtt(uint64_t iterations)
{
    if (arch_cpu_count() < 2) {
        bench_skip("needs 2 CPUs");
        return 0;
    }
    struct wake_pair w = {.rounds = iterations};
    semaphore_init(&w.to_pong, 0, "pong");
    semaphore_init(&w.to_ping, 0, "ping");
    struct thread *pong = thread_spawn(wake_pong, &w, "pong", 1);
    struct thread *ping = pong ? thread_spawn(wake_ping, &w, "ping", 0) : NULL;
    if (!ping) {
        bench_fail("no memory for two threads");
        if (pong) /* let it finish: it waits for `rounds` permits */
            for (uint64_t i = 0; i < iterations; i++)
                semaphore_up(&w.to_pong);
    }
    if (ping)
        thread_join(ping);
    if (pong)
        thread_join(pong);
    return w.cycles;
}
BENCH(cross_cpu_wake_rtt, cross_cpu_wake_rtt, 2000);

/* ---- spawn_join: a thread with the smallest stack, spawned, run, joined ---------- */

static void nothing(void *arg)
{
    (void)arg;
}

static uint64_t spawn_join(uint64_t iterations)
{
    int cpu = (int)arch_cpu_index();
    uint64_t start = arch_read_timestamp_before();
    for (uint64_t i = 0; i < iterations; i++) {
        struct thread *t = thread_spawn_stack(nothing, NULL, "nothing", cpu, SMALLEST_STACK_BYTES);
        if (!t) {
            bench_fail("no memory for a thread");
            break;
        }
        thread_join(t);
    }
    return arch_read_timestamp_after() - start;
}
BENCH(spawn_join, spawn_join, 2000);

/* ---- steal_speedup_2cpu, _4cpu: a divide-and-conquer sum, 1 CPU against 2 or 4 ----- */

#define SUM_ITEMS (1ull << 24)
#define SUM_LEAF_ITEMS (1ull << 18) /* 64 leaves, 63 spawned threads */
#define SUM_REPETITIONS 5

struct sum_task {
    uint64_t first, count;
    int cpu;         /* where its children go: a CPU, or THREAD_ANY_CPU */
    uint64_t result;
};

/* The leaf's work: a 64-bit mix of each item (splitmix64's finalizer), summed. */
static uint64_t sum_leaf(uint64_t first, uint64_t count)
{
    uint64_t sum = 0;
    for (uint64_t i = first; i < first + count; i++) {
        uint64_t z = i * 0x9e3779b97f4a7c15ull;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        sum += z ^ (z >> 31);
    }
    return sum;
}

/* Halves the range: a child thread takes the lower half, this one the upper. */
static void sum_task_run(void *arg)
{
    struct sum_task *task = arg;
    if (task->count <= SUM_LEAF_ITEMS) {
        task->result = sum_leaf(task->first, task->count);
        return;
    }
    uint64_t half = task->count / 2;
    struct sum_task lower = {task->first, half, task->cpu, 0};
    struct sum_task upper = {task->first + half, task->count - half, task->cpu, 0};
    struct thread *child = thread_spawn(sum_task_run, &lower, "sum", task->cpu);
    if (!child) {
        bench_fail("no memory for a task thread");
        sum_task_run(&lower);
    }
    sum_task_run(&upper);
    if (child)
        thread_join(child);
    task->result = lower.result + upper.result;
}

/* The whole tree's cycles, its root in a thread of its own (pinned with the rest
 * when cpu is a CPU: the boot thread is unpinned and could be stolen). */
static uint64_t sum_tree_cycles(int cpu, uint64_t *result)
{
    struct sum_task root = {0, SUM_ITEMS, cpu, 0};
    uint64_t start = arch_read_timestamp_before();
    struct thread *t = thread_spawn(sum_task_run, &root, "sum", cpu);
    if (!t) {
        bench_fail("no memory for the root task");
        return 1;
    }
    thread_join(t);
    uint64_t elapsed = arch_read_timestamp_after() - start;
    *result = root.result;
    return elapsed;
}

/* The tree on one CPU against the tree on all `ncpus`, which must be every CPU
 * online (THREAD_ANY_CPU spreads it over them all): boot with -smp N or smp=N. */
static void steal_speedup(unsigned ncpus, const char *many_ms, const char *steals_name,
                          const char *speedup_name)
{
    if (arch_cpu_count() != ncpus) {
        bench_skip(ncpus == 2 ? "needs exactly 2 CPUs online (-smp 2 or smp=2)"
                              : "needs exactly 4 CPUs online (-smp 4 or smp=4)");
        return;
    }
    uint64_t one[SUM_REPETITIONS], many[SUM_REPETITIONS], expected = 0, result, steals = 0;
    struct sched_stats before, after;
    sum_tree_cycles(0, &expected); /* warm-up, and the reference result */
    for (int r = 0; r < SUM_REPETITIONS; r++) {
        one[r] = sum_tree_cycles(0, &result);
        if (result != expected)
            bench_fail("the 1-CPU sum differs from the reference");
        sched_get_stats(&before);
        many[r] = sum_tree_cycles(THREAD_ANY_CPU, &result);
        sched_get_stats(&after);
        steals += after.steals - before.steals;
        if (result != expected)
            bench_fail("the many-CPU sum differs from the reference");
    }
    if (bench_stopped())
        return;
    uint64_t one_cycles = bench_median(one, SUM_REPETITIONS);
    uint64_t many_cycles = bench_median(many, SUM_REPETITIONS);
    bench_print("steal_tree_1cpu_ms", bench_cycles_to_ns(one_cycles) / 10000, "ms");
    bench_print(many_ms, bench_cycles_to_ns(many_cycles) / 10000, "ms");
    bench_print(steals_name, steals * 100 / SUM_REPETITIONS, "threads");
    bench_print(speedup_name, one_cycles * 100 / many_cycles, "x");
}

static void steal_speedup_2cpu(void)
{
    steal_speedup(2, "steal_tree_2cpu_ms", "steal_tree_steals_per_run", "steal_speedup_2cpu");
}

static void steal_speedup_4cpu(void)
{
    steal_speedup(4, "steal_tree_4cpu_ms", "steal_tree_4cpu_steals_per_run",
                  "steal_speedup_4cpu");
}
BENCH_REPORT(steal_speedup_2cpu, steal_speedup_2cpu, 0);
BENCH_REPORT(steal_speedup_4cpu, steal_speedup_4cpu, 0);

/* ---- threads_1m: a million threads alive at once; switching among them ----------- */

#define CROWD_THREADS 1000000u
#define CROWD_CHUNK 4096u /* handles per chunk: one array of a million is above kmalloc's limit */
#define CROWD_MIN_FREE_BYTES (5ull << 30)
#define SWITCH_REPETITIONS_2 5
#define SWITCH_ROUNDS_2 3000u   /* yield rounds of the two-thread crowd: */
#define SWITCH_FIRST_2 1000u    /* the clock is read at its start of round 1000 */
#define SWITCH_STRIDE_2 1000u   /* and 1000 rounds later */
#define SWITCH_ROUNDS_1M 5u     /* the million-thread crowd: each of rounds 1 to 3 timed */

/*
 * A crowd: threads that check in, wait at a gate until the last one is spawned,
 * then yield `rounds` times and end. Its first member is the timekeeper: it
 * reads the TSC and the switch count when it comes back from yield number
 * mark_first + k * mark_stride, which is after every other member of its run
 * queue has had as many turns as the timekeeper. Reading only at marks keeps the
 * reading's own cost out of the short rounds of a small crowd.
 */
struct crowd {
    struct wait_queue gate;
    int open;               /* atomic: the gate is open */
    uint64_t arrived;       /* atomic: members past their check-in */
    uint64_t passed;        /* atomic: members through the open gate */
    uint64_t rounds;        /* yields per member after the gate */
    uint64_t mark_first, mark_stride;
    uint64_t marks;           /* timekeeper: marks taken */
    uint64_t *mark_cycles;    /* timekeeper: TSC at each mark (rounds + 1 slots) */
    uint64_t *mark_switches;  /* timekeeper: the switch count then */
    struct thread ***handles; /* nchunks chunks of CROWD_CHUNK thread pointers */
    uint32_t nchunks;
    uint32_t size;            /* members; after the spawns, those spawned */
};

static bool crowd_gate_open(void *ctx)
{
    return __atomic_load_n(&((struct crowd *)ctx)->open, __ATOMIC_ACQUIRE) != 0;
}

static void crowd_member(void *arg)
{
    struct crowd *c = arg;
    __atomic_fetch_add(&c->arrived, 1, __ATOMIC_RELAXED);
    wait_queue_wait(&c->gate, crowd_gate_open, c);
    __atomic_fetch_add(&c->passed, 1, __ATOMIC_RELAXED);
    for (uint64_t r = 0; r < c->rounds; r++)
        thread_yield();
}

static void crowd_timekeeper(void *arg)
{
    struct crowd *c = arg;
    struct sched_stats stats;
    __atomic_fetch_add(&c->arrived, 1, __ATOMIC_RELAXED);
    wait_queue_wait(&c->gate, crowd_gate_open, c);
    __atomic_fetch_add(&c->passed, 1, __ATOMIC_RELAXED);
    /* The opener may still be waking the others (from another CPU): the rounds
     * count only once the whole crowd is runnable. */
    while (__atomic_load_n(&c->passed, __ATOMIC_RELAXED) < c->size)
        thread_yield();
    uint64_t next_mark = c->mark_first;
    for (uint64_t r = 0; r < c->rounds; r++) {
        if (r == next_mark) {
            sched_get_stats(&stats);
            c->mark_switches[c->marks] = stats.switches;
            c->mark_cycles[c->marks++] = arch_read_timestamp_after();
            next_mark += c->mark_stride;
        }
        thread_yield();
    }
}

static void crowd_free_handles(struct crowd *c)
{
    for (uint32_t i = 0; c->handles && i < c->nchunks; i++)
        kfree(c->handles[i]);
    kfree(c->handles);
    kfree(c->mark_cycles);
    kfree(c->mark_switches);
}

static bool crowd_init(struct crowd *c, uint32_t size, uint64_t rounds, uint64_t mark_first,
                       uint64_t mark_stride)
{
    uint32_t nchunks = (size + CROWD_CHUNK - 1) / CROWD_CHUNK;
    *c = (struct crowd){.gate = WAIT_QUEUE_INIT("crowd"),
                        .rounds = rounds,
                        .mark_first = mark_first,
                        .mark_stride = mark_stride,
                        .nchunks = nchunks,
                        .size = size};
    c->handles = kcalloc(nchunks, sizeof(*c->handles));
    c->mark_cycles = kcalloc(rounds + 1, sizeof(uint64_t));
    c->mark_switches = kcalloc(rounds + 1, sizeof(uint64_t));
    bool ok = c->handles && c->mark_cycles && c->mark_switches;
    for (uint32_t i = 0; ok && i < nchunks; i++) {
        c->handles[i] = kmalloc(CROWD_CHUNK * sizeof(struct thread *));
        ok = c->handles[i] != NULL;
    }
    if (!ok)
        crowd_free_handles(c);
    return ok;
}
/* Spawns the crowd (all pinned to `cpu`, or spread when THREAD_ANY_CPU) and waits
 * until every member is blocked at the gate. Returns how many were spawned. */
static uint32_t crowd_gather(struct crowd *c, int cpu)
{
    uint32_t spawned = 0;
    for (; spawned < c->size; spawned++) {
        thread_fn fn = spawned == 0 ? crowd_timekeeper : crowd_member;
        struct thread *t = thread_spawn_stack(fn, c, "crowd", cpu, SMALLEST_STACK_BYTES);
        if (!t)
            break;
        c->handles[spawned / CROWD_CHUNK][spawned % CROWD_CHUNK] = t;
    }
    c->size = spawned; /* the timekeeper waits for this many at the gate */
    while (__atomic_load_n(&c->arrived, __ATOMIC_RELAXED) < spawned)
        thread_sleep_ns(1000000);
    return spawned;
}

static void crowd_open_gate(struct crowd *c)
{
    bool irq = spin_lock(&c->gate.lock);
    __atomic_store_n(&c->open, 1, __ATOMIC_RELEASE);
    spin_unlock(&c->gate.lock, irq);
    wait_queue_wake_all(&c->gate);
}

/* Opens the gate and joins the first `spawned` members. */
static void crowd_release(struct crowd *c, uint32_t spawned)
{
    crowd_open_gate(c);
    for (uint32_t i = 0; i < spawned; i++)
        thread_join(c->handles[i / CROWD_CHUNK][i % CROWD_CHUNK]);
}

static uint64_t free_bytes(void)
{
    struct frame_stats stats;
    frame_get_stats(&stats);
    return stats.free_frames * FRAME_SIZE;
}

/* One CPU's share of the million: handles [first, first + count); `spawned` of
 * them were (the rest failed for want of memory). */
struct crowd_share {
    struct crowd *c;
    uint32_t first, count, spawned;
};

static struct thread **crowd_handle(struct crowd *c, uint32_t i)
{
    return &c->handles[i / CROWD_CHUNK][i % CROWD_CHUNK];
}

/* Spawns a share, unpinned: each member is queued on the spawner's CPU and runs
 * there unless another CPU runs out of work and steals it. */
static void crowd_spawn_share(void *arg)
{
    struct crowd_share *share = arg;
    for (; share->spawned < share->count; share->spawned++) {
        uint32_t i = share->first + share->spawned;
        thread_fn fn = i == 0 ? crowd_timekeeper : crowd_member;
        struct thread *t = thread_spawn_stack(fn, share->c, "crowd", THREAD_ANY_CPU,
                                              SMALLEST_STACK_BYTES);
        if (!t)
            break;
        *crowd_handle(share->c, i) = t;
    }
}

static void crowd_join_share(void *arg)
{
    struct crowd_share *share = arg;
    for (uint32_t i = 0; i < share->spawned; i++)
        thread_join(*crowd_handle(share->c, share->first + i));
}

/* Runs fn(&shares[cpu]) on every CPU at once, in a thread pinned there, and waits
 * for them all; false when a thread could not be spawned (nothing ran then). */
static bool crowd_on_each_cpu(thread_fn fn, struct crowd_share *shares, unsigned ncpus)
{
    struct thread **workers = kcalloc(ncpus, sizeof(*workers));
    if (!workers)
        return false;
    unsigned n = 0;
    for (; n < ncpus; n++) {
        workers[n] = thread_spawn(fn, &shares[n], "crowd worker", (int)n);
        if (!workers[n])
            break;
    }
    for (unsigned i = 0; i < n; i++)
        thread_join(workers[i]);
    kfree(workers);
    return n == ncpus;
}

/* A million threads spread over the CPUs: each CPU spawns a share (as a program
 * with a thread per CPU would), all wait alive at the gate, the gate opens, each
 * CPU joins its share. Sets the time in cycles and the memory they held while
 * alive. */
static bool crowd_life(uint64_t *cycles, uint64_t *bytes_per_thread)
{
    struct crowd c;
    unsigned ncpus = arch_cpu_count();
    struct crowd_share *shares = kcalloc(ncpus, sizeof(*shares));
    if (!shares || !crowd_init(&c, CROWD_THREADS, 0, 0, 1)) {
        kfree(shares);
        bench_fail("no memory for a million thread handles");
        return false;
    }
    for (unsigned cpu = 0; cpu < ncpus; cpu++) {
        uint32_t first = (uint32_t)((uint64_t)CROWD_THREADS * cpu / ncpus);
        uint32_t end = (uint32_t)((uint64_t)CROWD_THREADS * (cpu + 1) / ncpus);
        shares[cpu] = (struct crowd_share){.c = &c, .first = first, .count = end - first};
    }
    uint64_t free_before = free_bytes();
    uint64_t start = arch_read_timestamp_before();
    bool workers = crowd_on_each_cpu(crowd_spawn_share, shares, ncpus);
    uint32_t spawned = 0;
    for (unsigned cpu = 0; cpu < ncpus; cpu++)
        spawned += shares[cpu].spawned;
    c.size = spawned; /* the timekeeper waits for this many at the gate */
    while (__atomic_load_n(&c.arrived, __ATOMIC_RELAXED) < spawned)
        thread_sleep_ns(1000000);
    uint64_t free_during = free_bytes();
    crowd_open_gate(&c);
    workers = crowd_on_each_cpu(crowd_join_share, shares, ncpus) && workers;
    *cycles = arch_read_timestamp_after() - start;
    *bytes_per_thread = spawned ? (free_before - free_during) / spawned : 0;
    crowd_free_handles(&c);
    kfree(shares);
    if (!workers) {
        bench_fail("no memory for a worker thread per CPU");
        return false;
    }
    if (spawned < CROWD_THREADS) {
        kprintf("bench threads_1m: only %u threads could be spawned\n", spawned);
        bench_fail("out of memory before a million threads");
    }
    return spawned == CROWD_THREADS;
}

/*
 * Hundredths of a cycle per switch among `size` runnable threads all on CPU 0,
 * between the marks of one crowd (struct crowd); the median of the intervals
 * between consecutive marks. Returns 0 on failure.
 */
static uint64_t crowd_switch_cycles(uint32_t size, uint64_t rounds, uint64_t mark_first,
                                    uint64_t mark_stride)
{
    struct crowd c;
    if (!crowd_init(&c, size, rounds, mark_first, mark_stride)) {
        bench_fail("no memory for the crowd's handles");
        return 0;
    }
    uint32_t spawned = crowd_gather(&c, 0);
    crowd_release(&c, spawned);
    uint64_t per_switch[SWITCH_ROUNDS_1M];
    int n = 0;
    for (uint64_t m = 0; m + 1 < c.marks && n < (int)SWITCH_ROUNDS_1M; m++) {
        uint64_t switches = c.mark_switches[m + 1] - c.mark_switches[m];
        if (switches)
            per_switch[n++] = (c.mark_cycles[m + 1] - c.mark_cycles[m]) * 100 / switches;
    }
    crowd_free_handles(&c);
    if (spawned < size) {
        kprintf("bench threads_1m: %u of a crowd of %u could be spawned\n", spawned, size);
        bench_fail("out of memory before the crowd was complete");
        return 0;
    }
    if (n == 0) {
        kprintf("bench threads_1m: a crowd of %u left %lu time marks\n", size, c.marks);
        bench_fail("no switch was timed");
        return 0;
    }
    return bench_median(per_switch, n);
}

static void threads_1m(void)
{
    uint64_t cycles, bytes_per_thread;
    if (!crowd_life(&cycles, &bytes_per_thread))
        return;
    bench_print("threads_1m_ms", bench_cycles_to_ns(cycles) / 10000, "ms");
    bench_print("threads_1m_bytes_per_thread", bytes_per_thread * 100, "bytes");

    uint64_t two_runs[SWITCH_REPETITIONS_2];
    for (int r = 0; r < SWITCH_REPETITIONS_2; r++)
        two_runs[r] = crowd_switch_cycles(2, SWITCH_ROUNDS_2, SWITCH_FIRST_2, SWITCH_STRIDE_2);
    uint64_t two = bench_median(two_runs, SWITCH_REPETITIONS_2);
    uint64_t million = crowd_switch_cycles(CROWD_THREADS, SWITCH_ROUNDS_1M, 1, 1);
    if (bench_stopped() || !two || !million)
        return;
    bench_print("switch_2_ns", bench_cycles_to_ns(two), "ns");
    bench_print("switch_1m_ns", bench_cycles_to_ns(million), "ns");
    bench_print("switch_1m_vs_2_ratio", million * 100 / two, "x");
}
BENCH_REPORT(threads_1m, threads_1m, CROWD_MIN_FREE_BYTES);

/* ---- cpu_bringup: the boot's "cpus" phase ------------------------------------------ */

/* How long the boot took to start every other CPU (kernel/main.c's "cpus" phase:
 * the scheduler's set-up, then the INIT-SIPI-SIPI and start-up of each CPU in
 * turn), measured once at boot: one figure per boot, no repetitions. */
static void cpu_bringup(void)
{
    uint64_t cycles = boottime_phase_cycles("cpus");
    if (cycles == 0) {
        bench_fail("the boot recorded no \"cpus\" phase");
        return;
    }
    unsigned cpus = arch_cpu_count();
    bench_print("cpu_bringup_ms", bench_cycles_to_ns(cycles) / 10000, "ms");
    bench_print("cpu_bringup_cpus", (uint64_t)cpus * 100, "cpus");
    if (cpus > 1)
        bench_print("cpu_bringup_per_cpu_us", bench_cycles_to_ns(cycles) / 10 / (cpus - 1), "us");
}
BENCH_REPORT(cpu_bringup, cpu_bringup, 0);
