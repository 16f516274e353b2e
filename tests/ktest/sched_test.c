/* Suites `sched` and `steal`, and the heavy `threads_100k`: threads on the live kernel. */
#include "arch/cpu.h"
#include "arch/irq.h"
#include "arch/smp.h"
#include "arch/time.h"
#include "kernel/ktest.h"
#include "mm_test_util.h"
#include "lib/string.h"
#include "mm/heap.h"
#include "mm/kstack.h"
#include "sched/runqueue.h"
#include "sched/sync.h"
#include "sched/thread.h"

/* ---- sched ------------------------------------------------------------------- */

struct yield_log {
    char order[32];
    unsigned len;
};

struct yielder {
    struct yield_log *log;
    char letter;
};

/* Interrupts stay off for the whole loop, so only the yields switch threads. */
static void yield_three_times(void *arg)
{
    struct yielder *y = arg;
    bool irq = arch_irq_save_disable();
    for (int i = 0; i < 3; i++) {
        y->log->order[y->log->len++] = y->letter;
        thread_yield();
    }
    arch_irq_restore(irq);
}

static void sched_yield_takes_turns_in_fifo_order(struct ktest *t)
{
    struct yield_log log = {{0}, 0};
    struct yielder ys[3] = {{&log, 'a'}, {&log, 'b'}, {&log, 'c'}};
    int cpu = (int)arch_cpu_index();
    struct thread *th[3];
    bool irq = arch_irq_save_disable(); /* none may start before all are queued */
    for (int i = 0; i < 3; i++)
        th[i] = thread_spawn(yield_three_times, &ys[i], "yielder", cpu);
    arch_irq_restore(irq);
    for (int i = 0; i < 3; i++) {
        KT_ASSERT(t, th[i] != NULL);
        thread_join(th[i]);
    }
    log.order[log.len] = 0;
    KT_EXPECT_STREQ(t, log.order, "abcabcabc");
}

static void set_flag(void *arg)
{
    __atomic_store_n((int *)arg, 1, __ATOMIC_RELEASE);
}

static void sched_join_waits_for_the_end_and_frees_everything(struct ktest *t)
{
    struct sched_stats before, after;
    sched_get_stats(&before);
    size_t stacks = kstack_count();
    int flags[20] = {0};
    struct thread *th[20];
    for (int i = 0; i < 20; i++) {
        th[i] = thread_spawn(set_flag, &flags[i], "flagger", THREAD_ANY_CPU);
        if (!th[i]) {
            /* Join what was spawned before leaving: they point into this frame. A
             * small guest may run out (a new heap arena takes 2 MiB): skip there. */
            for (int j = 0; j < i; j++)
                thread_join(th[j]);
            if (mm_skip_unless_free(t, 4ull << 20))
                return;
            KT_ASSERT(t, th[i] != NULL);
        }
    }
    for (int i = 0; i < 20; i++) {
        thread_join(th[i]);
        KT_EXPECT_EQ(t, __atomic_load_n(&flags[i], __ATOMIC_ACQUIRE), 1);
    }
    sched_get_stats(&after);
    KT_EXPECT_EQ(t, after.threads_alive, before.threads_alive);
    KT_EXPECT_EQ(t, kstack_count(), stacks);
}

/* Where a running thread stands: an address in its frame. */
static void note_frame(void *arg)
{
    volatile uintptr_t here = 0;
    *(uintptr_t *)arg = (uintptr_t)&here;
}

/* A spawned thread's control block is the top of its own stack (thread.h): the
 * thread runs below it, inside the pages it asked for, and the join frees both
 * (the stack count comes back, no heap block was taken). */
static void sched_control_block_sits_atop_its_own_stack(struct ktest *t)
{
    size_t stacks = kstack_count();
    uintptr_t frame = 0;
    struct thread *th = thread_spawn_stack(note_frame, &frame, "atop", THREAD_ANY_CPU, 4096);
    KT_ASSERT(t, th != NULL);
    KT_EXPECT_EQ(t, kstack_count(), stacks + 1);
    KT_EXPECT_EQ(t, th->stack.top, (uintptr_t)th);
    KT_EXPECT_EQ(t, th->stack.top + THREAD_CONTROL_BYTES - th->stack.bottom, 4096);
    KT_EXPECT(t, kstack_is_guard(th->stack.bottom - 1));
    uintptr_t bottom = th->stack.bottom, top = th->stack.top;
    thread_join(th);
    KT_EXPECT(t, frame >= bottom && frame < top);
    KT_EXPECT_EQ(t, kstack_count(), stacks);
}

static void sched_sleep_lasts_at_least_as_asked(struct ktest *t)
{
    struct sched_stats before, after;
    sched_get_stats(&before);
    uint64_t start = arch_time_ns();
    thread_sleep_ns(20000000); /* 20 ms */
    uint64_t slept = arch_time_ns() - start;
    sched_get_stats(&after);
    /* A sleeper wakes only once its deadline has passed on the TSC clock, and it
     * blocks meanwhile (a switch away at least) rather than spinning. */
    KT_EXPECT(t, slept >= 20000000);
    KT_EXPECT(t, after.switches > before.switches);
}

struct tick_count {
    uint64_t ticks, ns;
};

/* Busy on one CPU (pinned, so the per-CPU tick count is one CPU's) for 30 ms,
 * and on until the first tick if none came by then (at most 2 s): an emulator
 * on a loaded host can leave a vCPU's timer unserved for tens of milliseconds
 * while its clock runs on, which says nothing about the kernel. */
static void count_ticks(void *arg)
{
    struct tick_count *c = arg;
    uint64_t start = arch_time_ns(), first = sched_ticks();
    while (arch_time_ns() - start < 30000000 ||
           (sched_ticks() == first && arch_time_ns() - start < 2000000000))
        arch_cpu_relax();
    c->ticks = sched_ticks() - first;
    c->ns = arch_time_ns() - start;
}

/* The tick runs at its period as measured by the TSC clock: not stopped, not
 * off by a factor (a wrong unit in the timer's count). Loose bounds: a busy host
 * may delay ticks, and TSC-deadline mode skips ahead rather than bunching. */
static void sched_tick_follows_the_clock(struct ktest *t)
{
    struct tick_count c = {0, 0};
    struct thread *th = thread_spawn(count_ticks, &c, "ticks", (int)arch_cpu_index());
    KT_ASSERT(t, th != NULL);
    thread_join(th);
    uint64_t expected = c.ns / SCHED_TICK_NS;
    ktest_note(t, "%lu ticks in %lu us (%s)", c.ticks, c.ns / 1000, arch_timer_mode());
    KT_EXPECT(t, c.ticks >= 1);
    KT_EXPECT(t, c.ticks <= 2 * expected + 2);
}

/* ---- ticks that outlast their period ---------------------------------------------- */

#define SLOW_TICKS 12
static unsigned slow_tick_cpu;
static int slow_ticks_left; /* atomic */

/* Plays a host too slow for the tick: on slow_tick_cpu, the next SLOW_TICKS ticks
 * each spend three periods with interrupts on, having acknowledged their interrupt
 * early and raised another, so the timer fires again under each of them. */
static void slow_tick_hook(void)
{
    if (arch_cpu_index() != slow_tick_cpu || __atomic_load_n(&slow_ticks_left, __ATOMIC_ACQUIRE) <= 0)
        return;
    __atomic_fetch_sub(&slow_ticks_left, 1, __ATOMIC_ACQ_REL);
    uint64_t start = arch_time_ns();
    arch_timer_refire_for_test();
    arch_irq_restore(true);
    while (arch_time_ns() - start < 3 * SCHED_TICK_NS)
        arch_cpu_relax();
    arch_irq_save_disable();
}

/*
 * Ticks that take longer than their period, with interrupts opened under them and
 * the next tick already raised (a host too slow for the tick, at its worst):
 * interrupts never nest more than two deep on the CPU's stack (the double
 * fault in tick), and the CPU goes on taking ticks. Left to itself, the x86 LAPIC
 * would hold the timer back while its vector is in service (acknowledged after the
 * handler); the hook acknowledges early and raises the timer again, so a tick does
 * come under every slow one, and only the tick's own guard (sched.c, tick) keeps
 * them from piling up: without it they nest SLOW_TICKS + 1 deep.
 */
static void sched_ticks_never_nest_on_one_stack(struct ktest *t)
{
    slow_tick_cpu = arch_cpu_count() - 1;
    uint64_t nested_before = sched_nested_ticks(slow_tick_cpu);
    uint64_t done = 0;
    arch_irq_depth_reset(slow_tick_cpu);
    __atomic_store_n(&slow_ticks_left, SLOW_TICKS, __ATOMIC_RELEASE);
    sched_set_tick_test_hook(slow_tick_hook);
    uint64_t start = arch_time_ns();
    while (__atomic_load_n(&slow_ticks_left, __ATOMIC_ACQUIRE) > 0 &&
           arch_time_ns() - start < 5000000000ull)
        thread_sleep_ns(2 * SCHED_TICK_NS);
    done = SLOW_TICKS - (uint64_t)__atomic_load_n(&slow_ticks_left, __ATOMIC_ACQUIRE);
    sched_set_tick_test_hook(NULL);
    __atomic_store_n(&slow_ticks_left, 0, __ATOMIC_RELEASE);
    thread_sleep_ns(5 * SCHED_TICK_NS); /* a hook still running finishes */
    uint64_t nested = sched_nested_ticks(slow_tick_cpu) - nested_before;
    unsigned depth = arch_irq_depth_max(slow_tick_cpu);
    ktest_note(t, "CPU %u: %lu slow ticks, %lu dropped as nested, interrupts at most %u deep",
               slow_tick_cpu, done, nested, depth);
    KT_EXPECT_EQ(t, done, SLOW_TICKS); /* the CPU kept taking ticks */
    KT_EXPECT(t, nested >= done);      /* a tick came under each slow one */
    KT_EXPECT(t, depth >= 1 && depth <= 2);
}

struct counter_run {
    struct mutex lock;
    uint64_t value;      /* under lock, updated non-atomically on purpose */
    int inside;          /* threads inside the critical section (atomic) */
    int worst;           /* the most ever seen inside at once (atomic max) */
    unsigned rounds;
};

static void count_under_mutex(void *arg)
{
    struct counter_run *run = arg;
    for (unsigned i = 0; i < run->rounds; i++) {
        mutex_lock(&run->lock);
        int now = __atomic_add_fetch(&run->inside, 1, __ATOMIC_ACQ_REL);
        if (now > __atomic_load_n(&run->worst, __ATOMIC_RELAXED))
            __atomic_store_n(&run->worst, now, __ATOMIC_RELAXED);
        uint64_t v = run->value;
        for (volatile int spin = 0; spin < 50; spin++) {
        } /* widen the window for preemption */
        run->value = v + 1;
        __atomic_sub_fetch(&run->inside, 1, __ATOMIC_ACQ_REL);
        mutex_unlock(&run->lock);
    }
}

static void sched_mutex_excludes_under_preemption(struct ktest *t)
{
    enum { THREADS = 8 };
    static struct counter_run run;
    run = (struct counter_run){.lock = MUTEX_INIT("test"), .rounds = 3000};
    struct thread *th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        th[i] = thread_spawn(count_under_mutex, &run, "counter", THREAD_ANY_CPU);
        KT_ASSERT(t, th[i] != NULL);
    }
    for (int i = 0; i < THREADS; i++)
        thread_join(th[i]);
    KT_EXPECT_EQ(t, run.value, (uint64_t)THREADS * run.rounds);
    KT_EXPECT_EQ(t, run.worst, 1);
}

struct sem_run {
    struct semaphore sem;
    int inside, worst, done;
};

static void hold_a_permit(void *arg)
{
    struct sem_run *run = arg;
    for (int i = 0; i < 50; i++) {
        semaphore_down(&run->sem);
        int now = __atomic_add_fetch(&run->inside, 1, __ATOMIC_ACQ_REL);
        int worst = __atomic_load_n(&run->worst, __ATOMIC_RELAXED);
        while (now > worst && !__atomic_compare_exchange_n(&run->worst, &worst, now, false,
                                                            __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
        }
        thread_yield();
        __atomic_sub_fetch(&run->inside, 1, __ATOMIC_ACQ_REL);
        semaphore_up(&run->sem);
    }
    __atomic_add_fetch(&run->done, 1, __ATOMIC_RELEASE);
}

static void sched_semaphore_limits_holders(struct ktest *t)
{
    enum { THREADS = 10 };
    static struct sem_run run;
    run = (struct sem_run){0};
    semaphore_init(&run.sem, 3, "test");
    struct thread *th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        th[i] = thread_spawn(hold_a_permit, &run, "permit", THREAD_ANY_CPU);
        KT_ASSERT(t, th[i] != NULL);
    }
    for (int i = 0; i < THREADS; i++)
        thread_join(th[i]);
    KT_EXPECT_EQ(t, run.done, THREADS);
    KT_EXPECT(t, run.worst >= 1 && run.worst <= 3);
    KT_EXPECT(t, semaphore_try_down(&run.sem) && semaphore_try_down(&run.sem) &&
                     semaphore_try_down(&run.sem));
    KT_EXPECT(t, !semaphore_try_down(&run.sem)); /* exactly 3 permits left */
}

struct gate {
    struct wait_queue wq;
    int open;    /* atomic */
    int passed;  /* atomic */
};

static bool gate_is_open(void *ctx)
{
    return __atomic_load_n(&((struct gate *)ctx)->open, __ATOMIC_ACQUIRE) != 0;
}

static void pass_gate(void *arg)
{
    struct gate *g = arg;
    wait_queue_wait(&g->wq, gate_is_open, g);
    __atomic_add_fetch(&g->passed, 1, __ATOMIC_RELEASE);
}

static void sched_blocked_threads_wait_for_their_wake_up(struct ktest *t)
{
    enum { THREADS = 6 };
    static struct gate g;
    g = (struct gate){.wq = WAIT_QUEUE_INIT("gate")};
    struct thread *th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        th[i] = thread_spawn(pass_gate, &g, "gate", THREAD_ANY_CPU);
        KT_ASSERT(t, th[i] != NULL);
    }
    thread_sleep_ns(10000000);
    KT_EXPECT_EQ(t, __atomic_load_n(&g.passed, __ATOMIC_ACQUIRE), 0);
    bool irq = spin_lock(&g.wq.lock);
    __atomic_store_n(&g.open, 1, __ATOMIC_RELEASE);
    spin_unlock(&g.wq.lock, irq);
    wait_queue_wake_all(&g.wq);
    for (int i = 0; i < THREADS; i++)
        thread_join(th[i]);
    KT_EXPECT_EQ(t, g.passed, THREADS);
}

/* A gate passer pinned to a CPU notes where it ran once through. */
struct pinned_passer {
    struct gate *g;
    unsigned ran_on; /* atomic */
};

static void pass_gate_pinned(void *arg)
{
    struct pinned_passer *p = arg;
    pass_gate(p->g);
    __atomic_store_n(&p->ran_on, arch_cpu_index(), __ATOMIC_RELEASE);
}

/* More waiters than one wake-up batch (sched.c: WAKE_BATCH), pinned to the CPUs
 * in turn, so that the batches change queue at every thread and fill up on one
 * CPU: wake_all counts them all, and each runs past the gate on its own CPU. */
static void sched_wake_all_wakes_every_waiter_onto_its_cpu(struct ktest *t)
{
    enum { THREADS = 100 };
    static struct gate g;
    static struct pinned_passer passers[THREADS];
    struct thread *th[THREADS];
    unsigned cpus = arch_cpu_count();
    g = (struct gate){.wq = WAIT_QUEUE_INIT("gate")};
    for (int i = 0; i < THREADS; i++) {
        /* The first half alternate between CPUs, the rest all on the last one. */
        unsigned cpu = i < THREADS / 2 ? (unsigned)i % cpus : cpus - 1;
        passers[i] = (struct pinned_passer){.g = &g, .ran_on = ARCH_MAX_CPUS};
        th[i] = thread_spawn_stack(pass_gate_pinned, &passers[i], "gate", (int)cpu, 4096);
        KT_ASSERT(t, th[i] != NULL);
    }
    for (int i = 0; i < THREADS; i++) {
        while (__atomic_load_n(&th[i]->state, __ATOMIC_ACQUIRE) != THREAD_BLOCKED)
            thread_sleep_ns(1000000);
    }
    bool irq = spin_lock(&g.wq.lock);
    __atomic_store_n(&g.open, 1, __ATOMIC_RELEASE);
    spin_unlock(&g.wq.lock, irq);
    KT_EXPECT_EQ(t, wait_queue_wake_all(&g.wq), THREADS);
    KT_EXPECT_EQ(t, wait_queue_wake_all(&g.wq), 0);
    for (int i = 0; i < THREADS; i++)
        thread_join(th[i]);
    KT_EXPECT_EQ(t, g.passed, THREADS);
    for (int i = 0; i < THREADS; i++)
        KT_EXPECT_EQ(t, passers[i].ran_on, i < THREADS / 2 ? (unsigned)i % cpus : cpus - 1);
}

/* Pinning oneself to another CPU moves the caller there before it returns, and
 * back, each time, even with nothing else to run here (a yield would queue it on
 * this CPU, where it could run on for good). */
struct pin_hops {
    unsigned ran_on[6];
};

static void pin_and_hop(void *arg)
{
    struct pin_hops *h = arg;
    unsigned last = arch_cpu_count() - 1;
    for (int i = 0; i < 6; i++) {
        thread_set_own_affinity(i % 2 ? 0 : (int)last);
        h->ran_on[i] = arch_cpu_index();
    }
    thread_set_own_affinity(THREAD_ANY_CPU);
}

static void sched_pinning_oneself_moves_there_at_once(struct ktest *t)
{
    unsigned cpus = arch_cpu_count();
    if (cpus < 2) {
        ktest_skip(t, "needs 2 CPUs");
        return;
    }
    struct pin_hops hops;
    struct thread *th = thread_spawn(pin_and_hop, &hops, "pin hops", 0);
    KT_ASSERT(t, th != NULL);
    thread_join(th);
    for (int i = 0; i < 6; i++)
        KT_EXPECT_EQ(t, hops.ran_on[i], i % 2 ? 0 : cpus - 1);
}

KTEST_SUITE(sched, KTEST(sched_yield_takes_turns_in_fifo_order),
            KTEST(sched_join_waits_for_the_end_and_frees_everything),
            KTEST(sched_sleep_lasts_at_least_as_asked), KTEST(sched_tick_follows_the_clock),
            KTEST(sched_mutex_excludes_under_preemption), KTEST(sched_semaphore_limits_holders),
            KTEST(sched_blocked_threads_wait_for_their_wake_up),
            KTEST(sched_ticks_never_nest_on_one_stack),
            KTEST(sched_control_block_sits_atop_its_own_stack),
            KTEST(sched_wake_all_wakes_every_waiter_onto_its_cpu),
            KTEST(sched_pinning_oneself_moves_there_at_once));

/* ---- steal -------------------------------------------------------------------- */

/*
 * Workers that keep marking the CPU they run on, and keep it busy, until every
 * CPU has been marked (or a generous deadline passes). So the test needs no
 * timing luck: a CPU is only idle while others hold queued, stealable workers,
 * and the test fails only if some CPU never runs one in all that time. (The old
 * version ran each worker for 2 ms and noted only the CPU it finished on: a
 * worker preempted and stolen finished elsewhere, and with 16 or more vCPUs on a
 * 2-core host a CPU could run workers without any of them finishing there.)
 * There are twice as many workers as CPUs: with fewer workers than CPUs (64 on
 * 128, as the test once had), every worker runs alone on a CPU, none is ever
 * queued, so nothing is stealable and the other CPUs rightly stay idle.
 */
struct spread {
    int seen[ARCH_MAX_CPUS]; /* atomic: a worker ran on that CPU */
    unsigned nseen;          /* atomic */
    unsigned ncpus;
    uint64_t deadline_ns;
    uint64_t sum; /* atomic */
};

/* The CPU is read on every turn: a preempted worker may go on elsewhere. */
static void busy_until_every_cpu_is_seen(void *arg)
{
    struct spread *s = arg;
    while (__atomic_load_n(&s->nseen, __ATOMIC_ACQUIRE) < s->ncpus &&
           arch_time_ns() < s->deadline_ns) {
        unsigned cpu = arch_cpu_index();
        if (!__atomic_load_n(&s->seen[cpu], __ATOMIC_RELAXED) &&
            !__atomic_exchange_n(&s->seen[cpu], 1, __ATOMIC_RELAXED))
            __atomic_fetch_add(&s->nseen, 1, __ATOMIC_RELEASE);
        arch_cpu_relax();
    }
    __atomic_fetch_add(&s->sum, 1, __ATOMIC_RELAXED);
}

static void steal_work_spawned_on_one_cpu_reaches_every_cpu(struct ktest *t)
{
    unsigned ncpus = arch_cpu_count();
    if (ncpus < 2)
        KT_SKIP(t, "one CPU");
    unsigned threads = 2 * ncpus > 64 ? 2 * ncpus : 64;
    static struct spread s;
    memset(&s, 0, sizeof(s));
    s.ncpus = ncpus;
    s.deadline_ns = arch_time_ns() + 20000000000ull;
    static struct thread *th[2 * ARCH_MAX_CPUS];
    for (unsigned i = 0; i < threads; i++) {
        th[i] = thread_spawn(busy_until_every_cpu_is_seen, &s, "worker", THREAD_ANY_CPU);
        KT_ASSERT(t, th[i] != NULL);
    }
    for (unsigned i = 0; i < threads; i++)
        thread_join(th[i]);
    KT_EXPECT_EQ(t, s.sum, threads);
    KT_EXPECT_EQ(t, s.nseen, ncpus);
}

struct pinned_check {
    int cpu;
    int moved; /* atomic */
};

static void stay_on_my_cpu(void *arg)
{
    struct pinned_check *p = arg;
    for (int i = 0; i < 200; i++) {
        if ((int)arch_cpu_index() != p->cpu)
            __atomic_store_n(&p->moved, 1, __ATOMIC_RELAXED);
        if (i % 8 == 0)
            thread_yield();
    }
}

static void steal_never_moves_pinned_threads(struct ktest *t)
{
    unsigned ncpus = arch_cpu_count();
    enum { PER_CPU = 4 };
    static struct pinned_check checks[ARCH_MAX_CPUS * PER_CPU];
    static struct thread *th[ARCH_MAX_CPUS * PER_CPU];
    unsigned n = ncpus * PER_CPU;
    for (unsigned i = 0; i < n; i++) {
        checks[i] = (struct pinned_check){(int)(i % ncpus), 0};
        th[i] = thread_spawn(stay_on_my_cpu, &checks[i], "pinned", checks[i].cpu);
        KT_ASSERT(t, th[i] != NULL);
    }
    for (unsigned i = 0; i < n; i++) {
        thread_join(th[i]);
        KT_EXPECT_EQ(t, checks[i].moved, 0);
    }
}

static void add_one(void *arg)
{
    __atomic_fetch_add((uint64_t *)arg, 1, __ATOMIC_RELAXED);
}

static void steal_thousands_of_threads_sum_exactly(struct ktest *t)
{
    enum { THREADS = 4000, BATCH = 500 };
    static uint64_t counter;
    static struct thread *th[BATCH];
    /* A batch alive at once: each thread a one-page stack and its own record. */
    if (mm_skip_unless_free(t, (uint64_t)BATCH * 2 * FRAME_SIZE + (1ull << 20)))
        return;
    counter = 0;
    for (int done = 0; done < THREADS; done += BATCH) {
        for (int i = 0; i < BATCH; i++) {
            th[i] = thread_spawn_stack(add_one, &counter, "adder", THREAD_ANY_CPU, 4096);
            if (!th[i]) {
                ktest_fail(t, __FILE__, __LINE__, "no memory for thread %d of a batch", i);
                while (i-- > 0)
                    thread_join(th[i]); /* what did start is not left behind */
                return;
            }
        }
        for (int i = 0; i < BATCH; i++)
            thread_join(th[i]);
    }
    KT_EXPECT_EQ(t, counter, THREADS);
}

/* The idle thread is never queued, and the voluntary yield relies on a push of it
 * being caught (sched.c: yield_to_queued). */
static void crash_sched_idle_thread_queued(struct ktest *t)
{
    static struct run_queue queue;
    rq_init(&queue);
    rq_push(&queue, &sched_idle_thread(arch_cpu_index())->rq);
    ktest_fail(t, __FILE__, __LINE__, "the idle thread was queued");
}
KTEST_CRASH_SUITE(crash_sched_idle_thread_queued, KTEST(crash_sched_idle_thread_queued));

/* A joined thread's control block went with its stack, which this CPU keeps
 * cached (it has room: emptied first): a second join finds no thread there. */
static void crash_sched_join_twice(struct ktest *t)
{
    thread_set_own_affinity((int)arch_cpu_index());
    thread_yield();
    kstack_flush();
    uintptr_t frame = 0;
    struct thread *th = thread_spawn_stack(note_frame, &frame, "joined twice",
                                           (int)arch_cpu_index(), 4096);
    KT_ASSERT(t, th != NULL);
    thread_join(th);
    thread_join(th);
    ktest_fail(t, __FILE__, __LINE__, "the second join went unnoticed");
}
KTEST_CRASH_SUITE(crash_sched_join_twice, KTEST(crash_sched_join_twice));

static void sleep_one_second(void *arg)
{
    (void)arg;
    thread_sleep_ns(1000000000ull);
}

/* Only its deadline ends a sleep (thread.h): a thread_wake of a sleeper, a wake-up
 * meant for some other wait of that thread's, would leave it linked in the sleep
 * wheel while it runs, and its next sleep would cut off the sleepers behind it, who
 * would sleep forever. It panics, naming the waker. */
static void crash_sched_stray_wake_of_sleeper(struct ktest *t)
{
    struct thread *th = thread_spawn(sleep_one_second, NULL, "sleeper", THREAD_ANY_CPU);
    KT_ASSERT(t, th != NULL);
    while (__atomic_load_n(&th->state, __ATOMIC_ACQUIRE) != THREAD_BLOCKED)
        thread_yield();
    thread_wake(th);
    ktest_fail(t, __FILE__, __LINE__, "the stray wake-up of a sleeper went unnoticed");
}
KTEST_CRASH_SUITE(crash_sched_stray_wake_of_sleeper, KTEST(crash_sched_stray_wake_of_sleeper));

KTEST_SUITE(steal, KTEST(steal_work_spawned_on_one_cpu_reaches_every_cpu),
            KTEST(steal_never_moves_pinned_threads),
            KTEST(steal_thousands_of_threads_sum_exactly));

/* ---- threads_100k: a hundred thousand threads alive at once -------------------- */

struct crowd {
    struct wait_queue gate;
    int open;      /* atomic */
    uint64_t arrived, left; /* atomic */
};

static bool crowd_gate_open(void *ctx)
{
    return __atomic_load_n(&((struct crowd *)ctx)->open, __ATOMIC_ACQUIRE) != 0;
}

static void wait_in_crowd(void *arg)
{
    struct crowd *c = arg;
    __atomic_fetch_add(&c->arrived, 1, __ATOMIC_RELAXED);
    wait_queue_wait(&c->gate, crowd_gate_open, c);
    __atomic_fetch_add(&c->left, 1, __ATOMIC_RELAXED);
}

static void threads_100k_alive_at_once(struct ktest *t)
{
    enum { THREADS = 100000 };
    static struct crowd c;
    c = (struct crowd){.gate = WAIT_QUEUE_INIT("crowd")};
    struct thread **th = NULL;
    size_t chunk = 4096, nchunks = (THREADS + chunk - 1) / chunk;
    /* The handles in chunks: one array of 100,000 pointers is more than kmalloc's limit. */
    struct thread ***chunks = kcalloc(nchunks, sizeof(*chunks));
    KT_ASSERT(t, chunks != NULL);
    for (size_t i = 0; i < nchunks; i++) {
        chunks[i] = kmalloc(chunk * sizeof(*th));
        KT_ASSERT(t, chunks[i] != NULL);
    }
    uint64_t start = arch_time_ns();
    for (size_t i = 0; i < THREADS; i++) {
        struct thread *one = thread_spawn_stack(wait_in_crowd, &c, "crowd", THREAD_ANY_CPU, 4096);
        KT_ASSERT(t, one != NULL);
        chunks[i / chunk][i % chunk] = one;
    }
    while (__atomic_load_n(&c.arrived, __ATOMIC_RELAXED) < THREADS)
        thread_sleep_ns(1000000);
    struct sched_stats stats;
    sched_get_stats(&stats);
    KT_EXPECT(t, stats.threads_alive >= THREADS);
    ktest_note(t, "%d threads alive after %lu ms", THREADS, (arch_time_ns() - start) / 1000000);
    bool irq = spin_lock(&c.gate.lock);
    __atomic_store_n(&c.open, 1, __ATOMIC_RELEASE);
    spin_unlock(&c.gate.lock, irq);
    wait_queue_wake_all(&c.gate);
    for (size_t i = 0; i < THREADS; i++)
        thread_join(chunks[i / chunk][i % chunk]);
    KT_EXPECT_EQ(t, c.left, THREADS);
    for (size_t i = 0; i < nchunks; i++)
        kfree(chunks[i]);
    kfree(chunks);
    ktest_note(t, "all joined after %lu ms", (arch_time_ns() - start) / 1000000);
}

KTEST_NAMED_SUITE(threads_100k, KTEST(threads_100k_alive_at_once));
