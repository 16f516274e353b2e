/*
 * The scheduler: per-CPU run queues, work stealing, blocking, sleeping,
 * preemption. include/sched/thread.h describes the model.
 *
 * The switch protocol. schedule() runs with interrupts disabled. It picks `next`,
 * waits until next->on_cpu is clear (the CPU that last ran next may still be
 * standing on its stack), marks it on this CPU, records `prev` in the per-CPU
 * area and calls arch_context_switch. Whoever runs next on this CPU, a thread
 * returning from its own schedule() or a new thread in thread_begin, calls
 * finish_switch(), which settles prev now that its stack is free: back to a run
 * queue if it was preempted or yielded, its stack freed if it exited, nothing if
 * it blocked. Only then is prev->on_cpu cleared (release), so no CPU ever runs a
 * thread whose registers are still being saved.
 *
 * Wake-ups race with blocking by design: a thread marks itself BLOCKED under the
 * lock that publishes it to its waker, and the waker's thread_wake moves it
 * BLOCKED -> RUNNABLE with one compare-and-swap, then waits for on_cpu to clear
 * before queueing it: a thread in a run queue is never still on a CPU.
 *
 * Lock order, for the whole kernel. A CPU takes a lock only while every lock it
 * already holds is above it in this table; the locks of one row never nest with
 * each other. Every spinlock keeps interrupts off while held, so interrupt
 * handlers take part in this order like any other code.
 *
 *   stack_cache.lock      mm/kstack.c        a CPU's cache of ready stacks; dropped
 *                                            before kstack_lock is taken
 *   kstack_lock           mm/kstack.c        holds while it kmallocs, unmaps, frees
 *                                            frames and flushes its batch
 *   buddy_cache.busy      mm/heap.c          a CPU's heap cache; trylock only on the
 *                                            fast path, held while draining into its
 *                                            engine's lock
 *   node_heap.lock        mm/heap.c          one per node's engine, never two at once;
 *                                            holds while growing: frame_alloc_run,
 *                                            paging_map
 *   kernel_space.lock     mm/paging.c        the kernel half, whichever space is named
 *   address_space.lock    mm/paging.c        a user half (after kernel_space's)
 *                                            two at once only in address order
 *                                            (paging_move_user)
 *   shootdown_lock        arch/<name>/smp.c  taken by tlb_invalidate under the above;
 *                                            waits for every CPU, which answer in
 *                                            arch_cpu_relax (include/arch/cpu.h)
 *   frame_cache.busy      mm/frame.c         a CPU's frame cache; trylock only (a fast
 *                                            path that finds it taken uses the pools),
 *                                            held while refilling or draining
 *   frame pool locks      mm/frame.c         one per NUMA node, never two at once
 *   timeout_lock          sched/timeout.c    expire functions run under it and take
 *                                            what follows (a futex bucket, a wait queue)
 *   futex buckets         proc/futex.c       two at once only in ascending order (requeue)
 *   run_queue.lock, join_locks[], registry[].lock, wait_queue.lock
 *                         sched/             leaves: each is dropped before a thread
 *                                            is woken, queued or switched to; two run
 *                                            queue locks never nest (runqueue.h)
 *   interrupt routing     arch/<name>/       the arch's interrupt-controller locks
 *   console_lock          kernel/console.c   last: kprintf may run under any lock above
 *                                            (recursive on one CPU, bypassed by panic)
 */
#include "sched/thread.h"

#include "arch/context.h"
#include "arch/cpu.h"
#include "arch/irq.h"
#include "arch/smp.h"
#include "arch/time.h"
#include "base/panic.h"
#include "lib/printf.h"
#include "mm/heap.h"
#include "mm/numa.h"
#include "base/cpuset.h"
#include "base/spinlock.h"
#include "sched/fair.h"
#include "internal.h"

#define SLEEP_BUCKETS 256 /* a hashed timer wheel: bucket = wake tick mod this */
#define JOIN_LOCKS 64

/* One CPU's scheduler state. Fields without a lock note are touched only by
 * their own CPU with interrupts disabled. */
struct sched_cpu {
    struct run_queue rq;         /* own lock: any CPU pushes, others steal */
    struct thread *idle;         /* runs when nothing else can; never queued */
    /* Between a switch and its finish_switch, the thread switched away from, when
     * it has something left to settle (NULL after a yield: the switch itself
     * cleared its on_cpu). The running thread is arch_cpu_running() (running()). */
    struct thread *prev;
    bool switch_scratch;         /* what the switch clears when prev has a finish_switch */
    uint64_t ticks;              /* timer interrupts taken */
    uint64_t nested_ticks;       /* refused: they came while this CPU's tick ran (atomic) */
    bool in_tick;
    uint64_t wheel_tick;         /* the last sleep-wheel slot swept (real-time ticks) */
    bool need_resched;
    /* Statistics, written by this CPU only (relaxed atomic stores, so other CPUs
     * can sum them without a shared counter bouncing between caches). switches
     * is where thread_park_switch (thread.h, inline) counts: SCHED_CPU_SWITCHES. */
    uint64_t switches, steals;
    /* The sleep wheel, SLEEP_BUCKETS lists, allocated when the CPU comes online:
     * 2 KiB each would be 2 MiB of static memory for ARCH_MAX_CPUS. */
    struct thread **sleepers;
} __attribute__((aligned(64)));

static struct sched_cpu cpus[ARCH_MAX_CPUS];
_Static_assert(__builtin_offsetof(struct sched_cpu, switches) == SCHED_CPU_SWITCHES,
               "thread_park_switch finds the switch count where it is");
_Static_assert(sizeof(struct thread) + HEAP_HEADER_BYTES <= 256,
               "a boot or idle thread's control block fits a 256-byte heap block (thread.h)");
_Static_assert(THREAD_CONTROL_BYTES <= 256 && THREAD_CONTROL_BYTES % 16 == 0,
               "a spawned thread's control block leaves most of a 4 KiB stack, 16-byte aligned");
_Static_assert(ARCH_MAX_CPUS - 1 <= INT16_MAX && ARCH_MAX_CPUS - 1 <= UINT16_MAX,
               "a thread's affinity (int16_t) and cpu (uint16_t) hold any CPU index");
static unsigned cpus_online;     /* atomic; CPUs with a scheduler */
/* The queue every idle thread's run-queue node names: it is in no list, so a
 * push of an idle thread, which is never queued, panics as a push of a linked
 * node would (the voluntary yield relies on it: yield_to_queued). */
static struct run_queue idle_never_queued;
static struct cpuset idle_cpus;  /* (A) halted in the idle loop, or about to be */
static struct spinlock join_locks[JOIN_LOCKS]; /* protect joiner and the DEAD transition */
static uint32_t next_thread_id;  /* atomic */
static uint64_t threads_alive; /* atomic */
static sched_switch_hook_fn switch_hook; /* set once at boot, before any user thread */

/* The registry of threads (thread.h), sharded by id so that spawns on different
 * CPUs rarely meet on one lock; each lock protects its list's links. */
static struct registry_shard {
    struct spinlock lock;
    struct thread *head;
} __attribute__((aligned(64))) registry[SCHED_REGISTRY_SHARDS];

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-__builtin_offsetof(type, member)))

/* This CPU's record: one load from the per-CPU area (arch_cpu_slot). */
static inline struct sched_cpu *this_cpu(void)
{
    return arch_cpu_slot(ARCH_CPU_SLOT_SCHED);
}

static struct spinlock *join_lock(struct thread *t)
{
    return &join_locks[(t->id * 0x9e3779b1u) % JOIN_LOCKS];
}

static int load_state(struct thread *t)
{
    return __atomic_load_n(&t->state, __ATOMIC_ACQUIRE);
}

static void store_state(struct thread *t, int state)
{
    __atomic_store_n(&t->state, state, __ATOMIC_RELEASE);
}

/* The thread this CPU runs: kept in the CPU's own area, where one load reads it. */
static inline struct thread *running(void)
{
    return arch_cpu_running();
}

/* ---- run queues ------------------------------------------------------------- */

static void kick_cpu(unsigned cpu)
{
    if (cpu != arch_cpu_index())
        arch_send_ipi(cpu, ARCH_IPI_RESCHEDULE);
}

/* Wakes an idle CPU to look at the queues, once per idle period: the first to
 * kick it takes its idle bit, so a burst of threads queued while it wakes costs
 * one IPI, not one each. It sets the bit again before it next halts, and checks
 * the queues after that (idle_loop), so work queued by anyone it did not kick is
 * still seen. */
static void kick_idle_cpu(unsigned cpu)
{
    if (cpuset_test_and_clear_atomic(&idle_cpus, cpu))
        kick_cpu(cpu);
}

/* Whether this CPU goes on running its current thread: false when it is idle or
 * its thread is blocking or exiting, so it picks from its queue at once and a
 * thread just queued here needs no other CPU (waking one would move the work
 * away, with the cost of an IPI and a cold cache, for nothing). */
static bool this_cpu_stays_busy(void)
{
    struct sched_cpu *c = this_cpu();
    struct thread *current = running();
    return current != c->idle && current && load_state(current) == THREAD_RUNNING;
}

/* Wakes one idle CPU other than self, if there is one, to look for work. */
static inline __attribute__((always_inline)) void kick_some_idle_cpu(unsigned self)
{
    unsigned idle = cpuset_first_except_below_atomic(
        &idle_cpus, self, __atomic_load_n(&cpus_online, __ATOMIC_RELAXED));
    if (idle < ARCH_MAX_CPUS)
        kick_idle_cpu(idle);
}

/* The same for the yield path's rare branch, out of line. */
static __attribute__((noinline)) void kick_idle_cpu_out_of_line(unsigned self)
{
    kick_some_idle_cpu(self);
}

/* The queue a RUNNABLE thread goes to: its CPU's, pinned or last run. */
static unsigned enqueue_target(const struct thread *t, unsigned self)
{
    unsigned target = t->affinity >= 0 ? (unsigned)t->affinity : t->cpu;
    if (target >= __atomic_load_n(&cpus_online, __ATOMIC_ACQUIRE))
        target = self;
    return target;
}

/* After threads were queued on target's queue (`stealable`: some may be stolen):
 * makes sure some CPU will look. Interrupts off. */
static void kick_for_queued(unsigned target, unsigned self, bool stealable)
{
    if (cpuset_test_atomic(&idle_cpus, target)) {
        kick_idle_cpu(target);
    } else if (stealable && (target != self || this_cpu_stays_busy())) {
        /* Queued on a busy CPU while another is idle: wake that one to come and
         * steal (work conservation, include/sched/fair.h). */
        kick_some_idle_cpu(self);
    }
}

/* Puts a RUNNABLE thread in a run queue and makes sure some CPU will look. */
static void enqueue(struct thread *t)
{
    unsigned self = arch_cpu_index();
    unsigned target = enqueue_target(t, self);
    rq_push(&cpus[target].rq, &t->rq);
    kick_for_queued(target, self, !t->rq.pinned);
}

/*
 * Steal policy: a CPU with an empty queue takes one thread, the oldest unpinned
 * one, from the first other CPU that has any. It looks at the CPUs of its own
 * NUMA node first, then at each other node's, nearest first (include/mm/numa.h),
 * so a thread leaves its node, and the memory it allocated there, only when its
 * whole node has nothing to run. Within a node, CPUs self+1, self+2, ... in turn.
 *   - One thread, not half the queue: the thief runs it at once and comes back
 *     when it runs dry, so work moves only as fast as idle CPUs ask for it and
 *     a busy CPU keeps the rest of its queue (and its cache) to itself.
 *   - The oldest: it has waited longest (FIFO fairness holds across CPUs) and is
 *     the coldest in the victim's cache, so moving it costs the victim least.
 *   - Starting after self: thieves spread over victims instead of all hitting
 *     CPU 0's lock at once.
 *   - The lock-free stealable count is read first (rq_stealable_count): an empty
 *     or all-pinned victim costs one shared cache line, not its lock, and the
 *     owner's lock stays uncontended (the figures are in runqueue.h). rq_steal
 *     checks again under the victim's lock, so a stale count only costs a look.
 *   - Pinned threads are never taken (rq_steal looks only at the stealable list).
 *   - Cost: one pass over the online CPUs per node, each look a byte (the CPU's
 *     node) and, for a CPU of the node being searched, a shared count: linear in
 *     the CPU count, and a single pass without NUMA.
 * make bench's steal_speedup_2cpu measures what stealing buys on two CPUs.
 */
struct victim_walk {
    unsigned self, online, nodes;
    const uint8_t *node_order; /* nodes by distance from self's */
    unsigned pass, step;       /* node order[pass]; CPU self + step */
};

static void victim_walk_start(struct victim_walk *w, unsigned self)
{
    *w = (struct victim_walk){
        .self = self,
        .online = __atomic_load_n(&cpus_online, __ATOMIC_ACQUIRE),
        .nodes = numa_node_count(),
        .node_order = numa_nodes_by_distance(numa_cpu_node(self)),
    };
}

/* The next CPU to look at, or false when every one has been. */
static bool victim_walk_next(struct victim_walk *w, unsigned *victim)
{
    while (w->pass < w->nodes) {
        while (++w->step < w->online) {
            unsigned cpu = (w->self + w->step) % w->online;
            if (w->nodes == 1 || numa_cpu_node(cpu) == w->node_order[w->pass]) {
                *victim = cpu;
                return true;
            }
        }
        w->pass++;
        w->step = 0;
    }
    return false;
}

unsigned sched_steal_order(unsigned cpu, uint16_t *out, unsigned max)
{
    struct victim_walk w;
    unsigned victim, n = 0;
    victim_walk_start(&w, cpu);
    while (n < max && victim_walk_next(&w, &victim))
        out[n++] = (uint16_t)victim;
    return n;
}

static struct thread *steal(unsigned self)
{
    struct victim_walk w;
    unsigned victim;
    victim_walk_start(&w, self);
    while (victim_walk_next(&w, &victim)) {
        if (rq_stealable_count(&cpus[victim].rq) == 0)
            continue;
        struct rq_node *node = rq_steal(&cpus[victim].rq);
        if (node) {
            __atomic_store_n(&cpus[self].steals, cpus[self].steals + 1, __ATOMIC_RELAXED);
            return container_of(node, struct thread, rq);
        }
    }
    return NULL;
}

/*
 * A thread picked with its budget spent (a quantum under one tick: fair.h) sits
 * out this turn: it gets its quantum and goes to the back of this CPU's queue, and
 * the next one is taken, until one has budget. Ends: each pass adds a positive
 * quantum to the thread it passes over. May return the thread it was given (the
 * only one here), one that is still on this CPU (yield_to_queued's prev), or
 * NULL when a thief emptied the queue between the push and the pop.
 */
static __attribute__((noinline)) struct thread *skip_spent(struct sched_cpu *c, struct thread *t)
{
    while (t->budget <= 0) {
        t->budget += __atomic_load_n(&t->quantum, __ATOMIC_RELAXED);
        rq_push(&c->rq, &t->rq);
        struct rq_node *node = rq_pop(&c->rq);
        if (!node)
            return NULL; /* a thief took it meanwhile */
        t = container_of(node, struct thread, rq);
    }
    return t;
}

static inline __attribute__((always_inline)) struct thread *pick_next(struct sched_cpu *c,
                                                                    unsigned self)
{
    struct rq_node *node = rq_pop(&c->rq);
    struct thread *t = node ? container_of(node, struct thread, rq) : steal(self);
    if (t && t->budget <= 0)
        t = skip_spent(c, t);
    return t;
}

/* ---- switching ---------------------------------------------------------------- */

/* An exited thread is off its stack for good: it is DEAD, and its joiner may
 * free it (a control block on its stack goes with the stack, at the join). */
static void release_stack_and_mark_dead(struct thread *t)
{
    if (!t->in_stack)
        kstack_free(&t->stack);
    __atomic_store_n(&t->on_cpu, false, __ATOMIC_RELEASE);
    struct spinlock *lock = join_lock(t);
    bool irq = spin_lock(lock);
    struct thread *joiner = t->joiner;
    store_state(t, THREAD_DEAD); /* from here t belongs to its joiner */
    spin_unlock(lock, irq);
    if (joiner)
        thread_wake(joiner);
}

/* finish_switch's cases other than a thread already queued by yield_to_queued. */
static __attribute__((noinline)) void finish_switch_slow(struct sched_cpu *c, struct thread *prev,
                                                         int state)
{
    if (state == THREAD_EXITING) {
        release_stack_and_mark_dead(prev);
        return;
    }
    if (state == THREAD_RUNNING && prev != c->idle) {
        store_state(prev, THREAD_RUNNABLE);
        __atomic_store_n(&prev->on_cpu, false, __ATOMIC_RELEASE);
        enqueue(prev);
        return;
    }
    __atomic_store_n(&prev->on_cpu, false, __ATOMIC_RELEASE);
}

/* Settles the thread this CPU just switched away from (see the top comment),
 * unless the switch did (a yield: nothing left to settle, c->prev is NULL). A
 * RUNNABLE one was queued before the switch (yield_to_queued), a BLOCKED one
 * sleeps in a queue of its waker's: its stack is free now, which is all that is
 * left to say. */
static inline void finish_switch(void)
{
    struct sched_cpu *c = this_cpu();
    struct thread *prev = c->prev;
    if (__builtin_expect(!prev, 1))
        return;
    c->prev = NULL;
    int state = load_state(prev);
    if (state == THREAD_RUNNABLE || state == THREAD_BLOCKED)
        __atomic_store_n(&prev->on_cpu, false, __ATOMIC_RELEASE);
    else
        finish_switch_slow(c, prev, state);
}

/* The CPU that last ran t has not finished saving it yet: wait until it clears
 * on_cpu, then take it (switch_to's rare branch, out of line). */
static __attribute__((noinline)) void wait_and_take_cpu(struct thread *t)
{
    do {
        while (__atomic_load_n(&t->on_cpu, __ATOMIC_ACQUIRE))
            arch_cpu_relax();
    } while (__atomic_exchange_n(&t->on_cpu, true, __ATOMIC_ACQUIRE));
}

/* Makes next this CPU's running thread in prev's place: all of a switch but
 * the stacks. Interrupts disabled. */
static inline __attribute__((always_inline)) void switch_in(struct sched_cpu *c,
                                                            struct thread *prev,
                                                            struct thread *next, unsigned self)
{
    /* Taken with one exchange; set already, the CPU that last ran next has not
     * finished saving it yet. */
    if (__builtin_expect(__atomic_exchange_n(&next->on_cpu, true, __ATOMIC_ACQUIRE), 0))
        wait_and_take_cpu(next);
    next->cpu = (uint16_t)self;
    store_state(next, THREAD_RUNNING);
    arch_cpu_set_running(next);
    __atomic_fetch_add(&c->switches, 1, __ATOMIC_RELAXED);
    if (__builtin_expect(((uintptr_t)prev->user | (uintptr_t)next->user) != 0, 0))
        switch_hook(prev, next); /* user threads: one indirect call */
}

/* Switches from prev, this CPU's current thread, to next. Interrupts disabled.
 * Nothing the caller computed is used after arch_context_switch returns (finish_switch
 * finds its CPU again), so the yield path keeps no value across it and saves no
 * register of its own besides the flags. `settled`: prev is RUNNABLE and queued
 * (a yield), or BLOCKED or RUNNABLE by its waker (a handoff), so the switch
 * clears its on_cpu as soon as its registers are saved and finish_switch has
 * nothing to do; otherwise finish_switch settles it. */
static inline __attribute__((always_inline)) void switch_to(struct sched_cpu *c,
                                                            struct thread *prev,
                                                            struct thread *next, unsigned self,
                                                            bool settled)
{
    if (!settled)
        c->prev = prev;
    switch_in(c, prev, next, self);
    arch_context_switch(&prev->saved_sp, next->saved_sp,
                        settled ? &prev->on_cpu : &c->switch_scratch);
    /* prev runs again here, on whichever CPU picked it. */
    finish_switch();
}

/* Switches to the next thread that should run here. Interrupts disabled. */
static void schedule(void)
{
    struct sched_cpu *c = this_cpu();
    unsigned self = arch_cpu_index();
    struct thread *prev = running();
    c->need_resched = false;
    struct thread *next = pick_next(c, self);
    int prev_state = load_state(prev);
    if (!next) {
        if ((prev_state == THREAD_RUNNING && prev != c->idle) || prev == c->idle)
            return; /* nothing else to run: carry on */
        next = c->idle;
    }
    if (next == prev) {
        /* Woken before it could switch away, or the only one with budget. */
        store_state(prev, THREAD_RUNNING);
        return;
    }
    switch_to(c, prev, next, self, false);
}

/*
 * The yield fastpath, for a thread that stays runnable and gives its CPU to the
 * next thread in line here: thread_yield and preemption. One hold of the run
 * queue's lock queues the current thread at the back and takes the oldest
 * (rq_exchange), where the general path takes it twice (pop, then finish_switch's
 * push) and goes through enqueue's placement and idle-CPU checks. It checks:
 *   - the current thread is RUNNING (blocking and exiting threads are settled by
 *     finish_switch, in schedule), and, when preempting, not the idle thread
 *     (never queued). A voluntary yield never comes from the idle thread
 *     (idle_loop calls schedule; interrupt handlers do not yield), so it does not
 *     test: the idle thread's run-queue node names a queue of its own
 *     (idle_never_queued), so that a push of it is the "still linked" panic;
 *   - this CPU's own queue holds a thread (rq_exchange says so): otherwise the
 *     general path steals, or goes on with the current thread.
 * The current thread runs here, so its own queue is where enqueue would put it
 * (a pinned thread runs only on its CPU). It is queued before its registers are
 * saved, with on_cpu still set: finish_switch then only clears on_cpu. Nobody runs
 * it too early: this CPU pops it only after that finish_switch, and a thief that
 * steals it meanwhile waits for on_cpu in switch_to. That wait ends: this path
 * waits for no other CPU (its next comes from its own queue, where the only thread
 * ever queued while on a CPU is one this CPU has finished switching away from).
 * When the exchange leaves more stealable work here than before (an unpinned
 * thread queued for a pinned one), wake an idle CPU, as enqueue would; an
 * unpinned one for an unpinned one adds none (each was offered when queued, and
 * the tick offers it again while it waits).
 * A thread whose budget is spent sits out its turn (skip_spent, fair.h) when the
 * tick preempts; a voluntary yield hands the CPU to the oldest as it is, which
 * keeps that check off the yield path and costs nothing in the long run: the
 * turn it gets is charged to its budget, whose debt the next picks pay back.
 */
static inline __attribute__((always_inline)) bool yield_to_queued(struct sched_cpu *c,
                                                                   unsigned self,
                                                                   bool skip_spent_next)
{
    struct thread *prev = running();
    if ((skip_spent_next && prev == c->idle) || load_state(prev) != THREAD_RUNNING)
        return false;
    store_state(prev, THREAD_RUNNABLE);
    struct rq_node *node = rq_exchange(&c->rq, &prev->rq);
    if (!node) {
        store_state(prev, THREAD_RUNNING);
        return false;
    }
    if (!prev->rq.pinned && __builtin_expect(node->pinned, 0))
        kick_idle_cpu_out_of_line(self);
    c->need_resched = false;
    struct thread *next = container_of(node, struct thread, rq);
    if (skip_spent_next && next->budget <= 0) {
        /* prev is queued: it runs on only if it comes back here; if a thief took
         * it and everything else, this CPU idles until prev's switch is done. */
        next = skip_spent(c, next);
        if (next == prev) {
            store_state(prev, THREAD_RUNNING);
            return true;
        }
        if (!next)
            next = c->idle;
    }
    switch_to(c, prev, next, self, true);
    return true;
}

void thread_yield(void)
{
    arch_irq_flags_t flags = arch_irq_flags_save_disable();
    if (!yield_to_queued(this_cpu(), arch_cpu_index(), false))
        schedule();
    arch_irq_flags_restore(flags);
}

void sched_set_switch_hook(sched_switch_hook_fn hook)
{
    switch_hook = hook;
}

void thread_set_user(void *user)
{
    bool irq = arch_irq_save_disable();
    struct thread *self = running();
    KASSERT(switch_hook && !self->user);
    self->user = user;
    switch_hook(NULL, self);
    arch_irq_restore(irq);
}

void thread_set_own_affinity(int cpu)
{
    KASSERT(cpu >= THREAD_ANY_CPU && cpu < (int)ARCH_MAX_CPUS);
    bool irq = arch_irq_save_disable();
    struct thread *self = running();
    self->affinity = (int16_t)cpu; /* running, so in no queue: the counts stay right */
    self->rq.pinned = cpu >= 0;
    unsigned here = arch_cpu_index();
    if (cpu >= 0 && (unsigned)cpu != here &&
        (unsigned)cpu < __atomic_load_n(&cpus_online, __ATOMIC_ACQUIRE)) {
        /* Pinned elsewhere: off this CPU at once. It stays RUNNING through the
         * switch, so finish_switch queues it where enqueue_target says: there.
         * (A yield would queue it here, where it could run on for good.) */
        struct sched_cpu *c = this_cpu();
        struct thread *next = pick_next(c, here);
        switch_to(c, self, next ? next : c->idle, here, false);
    }
    arch_irq_restore(irq);
}

/* ---- parking (thread.h) --------------------------------------------------------- */

static void thread_begin(void);

void thread_park_init(struct thread_park *park, void (*resume)(void *arg), void *arg,
                      uintptr_t stack_top)
{
    struct arch_thread_start start = {.begin = thread_begin, .entry = resume, .arg = arg};
    park->sp = arch_park_init(park->words, &start, stack_top);
}

/* switch_to for a caller that parks, its registers not saved. It is settled by
 * the switch itself, as a yield is: it is BLOCKED, or RUNNABLE if a waker took
 * it meanwhile (that waker then waits for on_cpu), and nothing else can make it
 * anything else before on_cpu clears; for both, finish_switch would only clear
 * on_cpu, which the switch does once it is off the caller's stack. */
static __attribute__((noreturn)) void park_switch_to(struct sched_cpu *c, struct thread *prev,
                                                     struct thread *next, unsigned self,
                                                     const struct thread_park *park)
{
    switch_in(c, prev, next, self);
    prev->saved_sp = park->sp;
    arch_context_load(next->saved_sp, &prev->on_cpu);
}

void thread_park_block(const struct thread_park *park)
{
    struct sched_cpu *c = this_cpu();
    unsigned self = arch_cpu_index();
    struct thread *prev = running();
    c->need_resched = false;
    struct thread *next = pick_next(c, self);
    if (!next)
        next = c->idle;
    if (next == prev) {
        store_state(prev, THREAD_RUNNING); /* as schedule(): it runs on itself */
        return;
    }
    park_switch_to(c, prev, next, self, park);
}

/* After a compare-and-swap took t from BLOCKED (acquire: it sees what t stored before
 * it blocked): panics if t sleeps in a sleep wheel, which only that wheel may wake
 * (thread_sleep_ns in thread.h says why). The backtrace names the stray waker. */
static inline void check_not_asleep(struct thread *t)
{
    if (__builtin_expect(__atomic_load_n(&t->asleep, __ATOMIC_RELAXED), 0))
        panic("sched: stray wake-up of thread %u (%s), asleep in thread_sleep_ns until "
              "%lu ns: only its deadline may end that sleep",
              t->id, t->name ? t->name : "?", (unsigned long)t->wake_at_ns);
}

/* The caller gives its CPU, and what is left of its time slice, straight to
 * next: no run queue is touched. A next pinned to another CPU, or that someone
 * else woke meanwhile, is left to the general path (thread_wake, schedule). */
void thread_park_handoff(const struct thread_park *park, struct thread *next)
{
    unsigned self = arch_cpu_index();
    int expected = THREAD_BLOCKED;
    if (next->affinity >= 0 && next->affinity != (int)self) {
        thread_wake(next);
        thread_park_block(park);
        return;
    }
    if (!__atomic_compare_exchange_n(&next->state, &expected, THREAD_RUNNABLE, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        thread_park_block(park);
        return;
    }
    check_not_asleep(next);
    park_switch_to(this_cpu(), running(), next, self, park);
}

void thread_block(void)
{
    schedule();
}

/* Makes a BLOCKED thread RUNNABLE, for the caller to queue; false when it was not
 * blocked. It may still be switching away on its CPU: it is the caller's to queue
 * only once its stack is free, so this waits for that. So a queued thread is
 * never on a CPU, and schedule() never waits for one while it is itself in the
 * middle of a switch (two CPUs doing that for each other's threads would wait
 * forever). */
static bool claim_to_wake(struct thread *t)
{
    int expected = THREAD_BLOCKED;
    if (!__atomic_compare_exchange_n(&t->state, &expected, THREAD_RUNNABLE, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return false;
    check_not_asleep(t);
    while (__atomic_load_n(&t->on_cpu, __ATOMIC_ACQUIRE))
        arch_cpu_relax();
    return true;
}

bool thread_wake(struct thread *t)
{
    if (!claim_to_wake(t))
        return false;
    bool irq = arch_irq_save_disable();
    enqueue(t);
    arch_irq_restore(irq);
    return true;
}

/* Threads thread_wake_list queues under one hold of a run queue's lock. */
#define WAKE_BATCH 32

/* A batch of claimed threads bound for one queue. */
struct wake_batch {
    struct rq_node *nodes[WAKE_BATCH];
    size_t n;
    unsigned target;
    bool stealable;
};

static void wake_batch_flush(struct wake_batch *b)
{
    if (!b->n)
        return;
    bool irq = arch_irq_save_disable();
    rq_push_many(&cpus[b->target].rq, b->nodes, b->n);
    kick_for_queued(b->target, arch_cpu_index(), b->stealable);
    arch_irq_restore(irq);
    b->n = 0;
    b->stealable = false;
}

/*
 * thread_wake of a whole list, for a wake-up of many (wait_queue_wake_all): the
 * threads bound for one CPU's queue, up to WAKE_BATCH in a row, are queued under
 * one hold of its lock, with one look for an idle CPU to kick, instead of one
 * each. A claimed thread waits in the batch, RUNNABLE and in no queue, until its
 * batch is queued (a few dozen claims later, by this same call): nothing waits
 * for a RUNNABLE thread to be queued, so this only delays it.
 */
unsigned thread_wake_list(struct thread *list)
{
    if (!list)
        return 0;
    if (!list->wait_next) { /* one waiter, the common case (a pipe's reader): no batch */
        thread_wake(list);
        return 1;
    }
    struct wake_batch batch = {.n = 0};
    unsigned listed = 0;
    for (; list; listed++) {
        struct thread *t = list;
        list = t->wait_next;
        t->wait_next = NULL;
        if (!claim_to_wake(t))
            continue; /* not blocked: woken by someone else already */
        bool irq = arch_irq_save_disable();
        unsigned target = enqueue_target(t, arch_cpu_index());
        arch_irq_restore(irq);
        if (batch.n == WAKE_BATCH || (batch.n && target != batch.target))
            wake_batch_flush(&batch);
        batch.target = target;
        batch.nodes[batch.n++] = &t->rq;
        batch.stealable |= !t->rq.pinned;
    }
    wake_batch_flush(&batch);
    return listed;
}

/* ---- the registry ------------------------------------------------------------- */

static struct registry_shard *registry_shard(const struct thread *t)
{
    return &registry[t->id % SCHED_REGISTRY_SHARDS];
}

static void registry_add(struct thread *t)
{
    struct registry_shard *shard = registry_shard(t);
    bool irq = spin_lock(&shard->lock);
    t->registry_prev = NULL;
    t->registry_next = shard->head;
    if (shard->head)
        shard->head->registry_prev = t;
    shard->head = t;
    spin_unlock(&shard->lock, irq);
}

static void registry_remove(struct thread *t)
{
    struct registry_shard *shard = registry_shard(t);
    bool irq = spin_lock(&shard->lock);
    if (t->registry_prev)
        t->registry_prev->registry_next = t->registry_next;
    else
        shard->head = t->registry_next;
    if (t->registry_next)
        t->registry_next->registry_prev = t->registry_prev;
    spin_unlock(&shard->lock, irq);
}

static void copy_info(struct thread *t, struct thread_info *out)
{
    out->id = t->id;
    out->state = load_state(t);
    out->cpu = __atomic_load_n(&t->cpu, __ATOMIC_RELAXED);
    out->affinity = t->affinity;
    size_t i = 0;
    for (; t->name && t->name[i] && i + 1 < sizeof(out->name); i++)
        out->name[i] = t->name[i];
    out->name[i] = 0;
}

size_t sched_list_threads(struct thread_info *out, size_t max)
{
    size_t total = 0;
    for (unsigned s = 0; s < SCHED_REGISTRY_SHARDS; s++) {
        bool irq = spin_lock(&registry[s].lock);
        for (struct thread *t = registry[s].head; t; t = t->registry_next, total++) {
            if (total < max)
                copy_info(t, &out[total]);
        }
        spin_unlock(&registry[s].lock, irq);
    }
    return total;
}

const char *thread_state_name(int state)
{
    switch (state) {
    case THREAD_RUNNING: return "running";
    case THREAD_RUNNABLE: return "runnable";
    case THREAD_BLOCKED: return "blocked";
    case THREAD_EXITING: return "exiting";
    case THREAD_DEAD: return "dead";
    default: return "?";
    }
}

/* ---- thread life -------------------------------------------------------------- */

/* The first thing a new thread runs (arch_thread_trampoline). */
static void thread_begin(void)
{
    finish_switch();
    arch_irq_restore(true);
}

void thread_exit(void)
{
    arch_irq_save_disable();
    struct sched_cpu *c = this_cpu();
    KASSERT(running() != c->idle);
    store_state(running(), THREAD_EXITING);
    schedule();
    panic("sched: exited thread %u ran again", running()->id);
}

/* Fills in a new control block and registers it. */
static void thread_init(struct thread *t, const char *name, int cpu)
{
    *t = (struct thread){
        .name = name,
        .id = __atomic_add_fetch(&next_thread_id, 1, __ATOMIC_RELAXED),
        .state = THREAD_RUNNABLE,
        .budget = fair_quantum(FAIR_WEIGHT_NICE0),
        .quantum = fair_quantum(FAIR_WEIGHT_NICE0),
        .affinity = (int16_t)cpu,
        .cpu = (uint16_t)(cpu >= 0 ? (unsigned)cpu : arch_cpu_index()),
    };
    t->rq.pinned = cpu >= 0;
    registry_add(t);
}

/* A control block on the heap, for the boot and idle threads: a pinned thread's
 * from its CPU's node. */
static struct thread *thread_new(const char *name, int cpu)
{
    struct thread *t = cpu >= 0 ? kmalloc_for_cpu(sizeof(*t), (unsigned)cpu) : kmalloc(sizeof(*t));
    if (t)
        thread_init(t, name, cpu);
    return t;
}

struct thread *thread_spawn_stack(thread_fn fn, void *arg, const char *name, int cpu,
                                  size_t stack_bytes)
{
    if (cpu >= (int)ARCH_MAX_CPUS || cpu < THREAD_ANY_CPU)
        return NULL;
    /* A pinned thread's stack from its CPU's node; another from this CPU's, where
     * enqueue puts it and where it stays unless its node runs out of work. Its
     * control block is the stack's top (thread.h). */
    unsigned node = cpu >= 0 ? numa_cpu_node((unsigned)cpu) : KSTACK_ANY_NODE;
    struct kstack stack;
    if (kstack_alloc_on_node(stack_bytes, node, &stack) != KSTACK_OK)
        return NULL;
    struct thread *t = (struct thread *)(stack.top - THREAD_CONTROL_BYTES);
    thread_init(t, name, cpu);
    t->stack = (struct kstack){.bottom = stack.bottom, .top = (uintptr_t)t};
    t->in_stack = true;
    struct arch_thread_start start = {
        .begin = thread_begin, .entry = fn, .arg = arg, .end = thread_exit};
    t->saved_sp = arch_thread_stack_init(t->stack.top, &start);
    __atomic_fetch_add(&threads_alive, 1, __ATOMIC_RELAXED);
    bool irq = arch_irq_save_disable();
    enqueue(t);
    arch_irq_restore(irq);
    return t;
}

struct thread *thread_spawn(thread_fn fn, void *arg, const char *name, int cpu)
{
    return thread_spawn_stack(fn, arg, name, cpu, THREAD_STACK_DEFAULT);
}

void thread_join(struct thread *t)
{
    struct thread *self = thread_current();
    KASSERT(t != self);
    struct spinlock *lock = join_lock(t);
    for (;;) {
        bool irq = spin_lock(lock);
        int state = load_state(t);
        if (state == THREAD_DEAD) {
            spin_unlock(lock, irq);
            break;
        }
        if (state < THREAD_RUNNING || state > THREAD_DEAD) {
            spin_unlock(lock, irq);
            panic("sched: join of %p, which is not a thread (state %d): joined twice?",
                  (void *)t, state);
        }
        t->joiner = self;
        store_state(self, THREAD_BLOCKED);
        spin_unlock(lock, false); /* interrupts stay off until we have switched */
        thread_block();
        arch_irq_restore(irq);
    }
    registry_remove(t);
    __atomic_fetch_sub(&threads_alive, 1, __ATOMIC_RELAXED);
    if (!t->in_stack) {
        kfree(t);
        return;
    }
    struct kstack stack = {.bottom = t->stack.bottom, .top = t->stack.top + THREAD_CONTROL_BYTES};
    t->state = 0; /* not a thread any more: a second join panics, if the stack is still cached */
    kstack_free(&stack);
}

/* ---- time --------------------------------------------------------------------- */

/* Sleepers wait in a hashed wheel keyed by the tick of their deadline in real
 * time (arch_time_ns / SCHED_TICK_NS), so a tick that comes early or late never
 * wakes anyone before its deadline, nor much after it. */
static uint64_t time_tick(uint64_t ns)
{
    return ns / SCHED_TICK_NS;
}

void thread_sleep_ns(uint64_t ns)
{
    bool irq = arch_irq_save_disable();
    struct sched_cpu *c = this_cpu();
    struct thread *self = running();
    self->wake_at_ns = arch_time_ns() + (ns ? ns : 1);
    uint64_t deadline_tick = time_tick(self->wake_at_ns + SCHED_TICK_NS - 1);
    if (deadline_tick <= c->wheel_tick)
        deadline_tick = c->wheel_tick + 1; /* that slot has been swept already */
    struct thread **bucket = &c->sleepers[deadline_tick % SLEEP_BUCKETS];
    self->wait_next = *bucket;
    *bucket = self;
    __atomic_store_n(&self->asleep, true, __ATOMIC_RELAXED); /* published by the store below */
    store_state(self, THREAD_BLOCKED);
    thread_block();
    arch_irq_restore(irq);
}

/* Wakes the sleepers of one wheel slot whose deadline has passed. */
static void wake_bucket(struct sched_cpu *c, uint64_t slot, uint64_t now)
{
    struct thread **link = &c->sleepers[slot % SLEEP_BUCKETS];
    while (*link) {
        struct thread *t = *link;
        if (t->wake_at_ns <= now) {
            *link = t->wait_next;
            t->wait_next = NULL;
            __atomic_store_n(&t->asleep, false, __ATOMIC_RELAXED); /* before the wake's CAS */
            thread_wake(t);
        } else {
            link = &t->wait_next;
        }
    }
}

/* Sweeps the wheel slots from the last one swept up to the present. Interrupt
 * context. A slot's late sleepers (a later round of the wheel) stay put. */
static void wake_sleepers(struct sched_cpu *c)
{
    uint64_t now = arch_time_ns();
    uint64_t upto = time_tick(now);
    uint64_t from = c->wheel_tick + 1;
    if (upto >= from + SLEEP_BUCKETS)
        from = upto - SLEEP_BUCKETS + 1; /* a long stall: each slot once is enough */
    for (uint64_t slot = from; slot <= upto; slot++)
        wake_bucket(c, slot, now);
    if (upto > c->wheel_tick)
        c->wheel_tick = upto;
}

/* Charges the running thread one tick of its budget (include/sched/fair.h); a
 * spent one gets its next quantum and gives way. With nobody waiting here it
 * owes nobody: its budget starts afresh, so that no debt builds up while alone. */
static void charge_tick(struct sched_cpu *c, struct thread *t, size_t queued)
{
    __atomic_store_n(&t->run_ticks, t->run_ticks + 1, __ATOMIC_RELAXED);
    t->budget -= FAIR_TICK_UNITS;
    if (t->budget > 0)
        return;
    int32_t quantum = __atomic_load_n(&t->quantum, __ATOMIC_RELAXED);
    t->budget = queued ? t->budget + quantum : quantum;
    c->need_resched = true;
}

static void (*tick_test_hook)(void); /* (A) */

void sched_set_tick_test_hook(void (*hook)(void))
{
    __atomic_store_n(&tick_test_hook, hook, __ATOMIC_RELEASE);
}

struct thread *sched_idle_thread(unsigned cpu)
{
    return cpus[cpu].idle;
}

uint64_t sched_cpu_ticks(unsigned cpu)
{
    return __atomic_load_n(&cpus[cpu].ticks, __ATOMIC_RELAXED);
}

uint64_t sched_nested_ticks(unsigned cpu)
{
    return __atomic_load_n(&cpus[cpu].nested_ticks, __ATOMIC_RELAXED);
}

/* One tick's work, with this CPU's tick marked running. */
static void tick_work(struct sched_cpu *c)
{
    unsigned self = arch_cpu_index();
    __atomic_store_n(&c->ticks, c->ticks + 1, __ATOMIC_RELAXED);
    wake_sleepers(c);
    size_t queued = rq_count(&c->rq);
    bool busy = running() != c->idle;
    if (busy)
        charge_tick(c, running(), queued);
    if (fair_tick(self, busy, (unsigned)queued + busy) || (!busy && queued))
        c->need_resched = true;
    /* A thread waiting here that an idle CPU could run: wake that CPU again, in
     * case the wake-up at queueing time went to a CPU that was just leaving idle. */
    if (busy && rq_stealable_count(&c->rq))
        kick_some_idle_cpu(self);
}

/*
 * The tick is not reentrant on its CPU: one that comes while the last is still
 * running (something under it turned interrupts on, as the test hook does to
 * play a host too slow for the period) is counted and dropped, so ticks never
 * pile up on one stack, whatever the timer does. The arch runs the preempt hook
 * only for the outermost interrupt (include/arch/irq.h), so neither does a
 * nested interrupt switch threads.
 */
static void tick(void)
{
    struct sched_cpu *c = this_cpu();
    if (c->in_tick) {
        __atomic_store_n(&c->nested_ticks, c->nested_ticks + 1, __ATOMIC_RELAXED);
        return;
    }
    c->in_tick = true;
    tick_work(c);
    void (*hook)(void) = __atomic_load_n(&tick_test_hook, __ATOMIC_ACQUIRE);
    if (hook)
        hook();
    c->in_tick = false;
}

/* After every interrupt, before returning to the interrupted code (arch). */
static void preempt_check(void)
{
    unsigned self = arch_cpu_index();
    struct sched_cpu *c = &cpus[self];
    if (c->need_resched && running() && !yield_to_queued(c, self, true))
        schedule();
}

static void reschedule_ipi(void)
{
    this_cpu()->need_resched = true;
}

uint64_t sched_ticks(void)
{
    bool irq = arch_irq_save_disable();
    uint64_t t = this_cpu()->ticks;
    arch_irq_restore(irq);
    return t;
}

void sched_start_ticks(void)
{
    arch_timer_start(SCHED_TICK_NS, tick);
}

/* ---- idle and start-up ----------------------------------------------------------- */

static __attribute__((noreturn)) void idle_loop(void)
{
    for (;;) {
        arch_irq_save_disable();
        struct sched_cpu *c = this_cpu();
        unsigned self = arch_cpu_index();
        cpuset_set_atomic(&idle_cpus, self);
        /* Checked after the idle bit is visible: a thread queued for us from now
         * on comes with a reschedule IPI, which ends the halt below. Other CPUs'
         * pinned threads are not work for us: counting them would spin here with
         * interrupts off, deaf to the IPIs (a TLB shootdown) of the CPU that owns
         * them. */
        bool work = rq_count(&c->rq) > 0;
        unsigned online = __atomic_load_n(&cpus_online, __ATOMIC_ACQUIRE);
        for (unsigned i = 0; !work && i < online; i++)
            work = rq_stealable_count(&cpus[i].rq) > 0;
        if (!work)
            arch_cpu_idle();
        cpuset_clear_atomic(&idle_cpus, self);
        schedule();
        /* Back here when the work was gone before we got to it: open a window
         * for pending interrupts before looking again. */
        arch_irq_restore(true);
        arch_cpu_relax();
    }
}

static void idle_entry(void *arg)
{
    (void)arg;
    arch_irq_save_disable();
    idle_loop();
}

/* The running context of a CPU as a thread (its stack is not a kstack). */
static struct thread *adopt_current_context(unsigned cpu, const char *name)
{
    struct thread *t = thread_new(name, (int)cpu);
    if (!t)
        panic("sched: no memory for CPU %u's first thread", cpu);
    t->state = THREAD_RUNNING;
    t->on_cpu = true;
    arch_cpu_set_running(t);
    return t;
}

static void sched_cpu_setup(unsigned cpu)
{
    struct sched_cpu *c = &cpus[cpu];
    arch_cpu_set_slot(cpu, ARCH_CPU_SLOT_SCHED, c);
    rq_init(&c->rq);
    c->wheel_tick = time_tick(arch_time_ns());
}

/* The CPU's sleep wheel, before it takes part in scheduling (only it uses it). */
static void sched_cpu_alloc_wheel(struct sched_cpu *c, unsigned cpu)
{
    c->sleepers = kcalloc(SLEEP_BUCKETS, sizeof(*c->sleepers));
    if (!c->sleepers)
        panic("sched: no memory for cpu %u's sleep wheel", cpu);
}

void sched_init(void)
{
    for (unsigned i = 0; i < JOIN_LOCKS; i++)
        join_locks[i] = (struct spinlock)SPINLOCK_INIT("join");
    for (unsigned i = 0; i < SCHED_REGISTRY_SHARDS; i++)
        registry[i].lock = (struct spinlock)SPINLOCK_INIT("thread registry");
    for (unsigned cpu = 0; cpu < ARCH_MAX_CPUS; cpu++)
        sched_cpu_setup(cpu);
    unsigned self = arch_cpu_index();
    struct sched_cpu *c = &cpus[self];
    sched_cpu_alloc_wheel(c, self);
    adopt_current_context(self, "main");
    running()->affinity = THREAD_ANY_CPU; /* main may move; its stack is the boot stack */
    running()->rq.pinned = false;
    __atomic_store_n(&cpus_online, 1, __ATOMIC_RELEASE);
    arch_set_reschedule_handler(reschedule_ipi);
    arch_set_preempt_hook(preempt_check);

    /* The boot CPU's idle thread needs a stack of its own: main keeps the boot one. */
    struct thread *idle = thread_new("idle", (int)self);
    if (!idle || kstack_alloc(THREAD_STACK_DEFAULT, &idle->stack) != KSTACK_OK)
        panic("sched: no memory for the idle thread");
    idle->rq.queue = &idle_never_queued;
    struct arch_thread_start start = {
        .begin = thread_begin, .entry = idle_entry, .arg = NULL, .end = thread_exit};
    idle->saved_sp = arch_thread_stack_init(idle->stack.top, &start);
    c->idle = idle;
}

void sched_ap_main(unsigned cpu)
{
    struct sched_cpu *c = &cpus[cpu];
    sched_cpu_alloc_wheel(c, cpu);
    c->idle = adopt_current_context(cpu, "idle");
    c->idle->rq.queue = &idle_never_queued;
    __atomic_fetch_add(&cpus_online, 1, __ATOMIC_ACQ_REL);
    sched_start_ticks();
    idle_loop();
}

void thread_set_nice(struct thread *t, int nice)
{
    uint32_t weight = fair_nice_to_weight(nice);
    __atomic_store_n(&t->nice, (int8_t)(nice < FAIR_NICE_MIN ? FAIR_NICE_MIN
                                        : nice > FAIR_NICE_MAX ? FAIR_NICE_MAX : nice),
                     __ATOMIC_RELAXED);
    __atomic_store_n(&t->quantum, fair_quantum(weight), __ATOMIC_RELAXED);
}

int thread_get_nice(const struct thread *t)
{
    return __atomic_load_n(&t->nice, __ATOMIC_RELAXED);
}

uint64_t thread_cpu_ticks(const struct thread *t)
{
    return __atomic_load_n(&t->run_ticks, __ATOMIC_RELAXED);
}

unsigned sched_cpus_online(void)
{
    return __atomic_load_n(&cpus_online, __ATOMIC_ACQUIRE);
}

struct run_queue *sched_cpu_run_queue(unsigned cpu)
{
    return &cpus[cpu].rq;
}

void sched_get_stats(struct sched_stats *out)
{
    *out = (struct sched_stats){
        .threads_alive = __atomic_load_n(&threads_alive, __ATOMIC_RELAXED),
    };
    for (unsigned cpu = 0; cpu < ARCH_MAX_CPUS; cpu++) {
        out->switches += __atomic_load_n(&cpus[cpu].switches, __ATOMIC_RELAXED);
        out->steals += __atomic_load_n(&cpus[cpu].steals, __ATOMIC_RELAXED);
    }
}
