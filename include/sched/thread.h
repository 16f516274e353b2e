/*
 * thread: kernel threads and the per-CPU scheduler.
 *
 * A thread runs fn(arg) on its own kernel stack (mm/kstack.h: guard page below)
 * and exits when fn returns or calls thread_exit. Every thread must be joined
 * once: thread_join waits for the end and frees the control block; the stack is
 * freed as soon as the thread has switched away for the last time, by the thread
 * that runs next (a thread never frees the stack it is standing on).
 *
 * Scheduling: each CPU owns a run queue (include/sched/runqueue.h). A thread
 * made runnable goes to the queue of its CPU (pinned threads: always theirs);
 * a CPU whose queue is empty steals the oldest unpinned thread from another
 * CPU's queue, and halts when there is nothing anywhere. The arch timer ticks
 * every SCHED_TICK_NS and preempts a thread when its turn's budget is spent
 * (SCHED_SLICE_TICKS ticks at nice 0); include/sched/fair.h says how CPU time is
 * shared by weight and balanced between CPUs, and what waiting it bounds.
 *
 * States: RUNNING (on a CPU), RUNNABLE (in a run queue, or about to be), BLOCKED
 * (in a wait queue or sleeping; woken by thread_wake), EXITING (switching away
 * for the last time), DEAD (stack freed, waiting for join).
 *
 * A spawned thread's control block (struct thread, THREAD_CONTROL_BYTES with its
 * alignment) is the top of its own kernel stack: one allocation for both, no heap
 * block, so that a million threads with 4 KiB stacks fit in well under 6 GiB and
 * spawning one costs a stack from the per-CPU cache and little else. The stack
 * the thread runs on is what lies below it (a request of 4 KiB leaves 3,968
 * bytes). So the stack lives until the join, which frees both; a running
 * thread's overflow goes down into the guard page, away from the block. The boot
 * and idle threads, which are never joined, have heap blocks instead.
 *
 * Every thread is also in a registry from its creation until it is joined (the
 * boot and idle threads, never joined, stay there for good), so that
 * sched_list_threads can show them all, blocked ones included.
 *
 * Interrupt context: thread_wake, thread_current and sched_ticks may be called
 * from it (the timer tick wakes sleepers); spawning, joining, sleeping, yielding,
 * blocking and exiting only from a thread.
 */
#ifndef EXO_SCHED_THREAD_H
#define EXO_SCHED_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/context.h"
#include "arch/cpu.h"
#include "mm/kstack.h"
#include "sched/runqueue.h"

#define SCHED_TICK_NS 1000000ull /* 1 ms */
#define SCHED_SLICE_TICKS 4
#define THREAD_STACK_DEFAULT 16384
#define THREAD_ANY_CPU (-1)

enum thread_state {
    THREAD_RUNNING = 1,
    THREAD_RUNNABLE,
    THREAD_BLOCKED,
    THREAD_EXITING,
    THREAD_DEAD,
};

typedef void (*thread_fn)(void *arg);

struct thread {
    struct rq_node rq;          /* run-queue link; rq.pinned = (affinity >= 0) */
    uint64_t saved_sp;          /* while not running: arch_context_switch's frame */
    struct kstack stack;        /* what it runs on: below the control block, if in_stack */
    struct thread *wait_next;   /* link in a wait queue or sleep bucket (its lock) */
    struct thread *joiner;      /* who waits in thread_join (join lock of this thread) */
    uint64_t wake_at_ns;        /* sleeping: the arch_time_ns to wake at (owner CPU only) */
    const char *name;           /* caller's string, must outlive the thread */
    uint32_t id;
    int state;                  /* enum thread_state; atomic */
    /* Its share (include/sched/fair.h): budget left in this turn, in FAIR_TICK_UNITS a
     * tick, and what a turn adds. budget: the CPU running or queueing it; quantum
     * and nice: atomic, set by thread_set_nice. */
    int32_t budget;
    int32_t quantum;
    uint32_t run_ticks;         /* ticks charged to it (the CPU running it; atomic) */
    int8_t nice;
    union {
        struct {
            int16_t affinity;   /* THREAD_ANY_CPU or the CPU it is pinned to */
            uint16_t cpu;       /* the CPU it runs on, or last ran on */
        };
        uint32_t place;         /* both, for a test of both at once (IPC's check 5) */
    };
    bool on_cpu;                /* its stack is in use by a CPU (atomic, release on clear) */
    bool in_stack;              /* this block is the top of `stack` (thread_spawn_stack) */
    /* In a CPU's sleep wheel (thread_sleep_ns), which alone may wake it: set by the
     * sleeper before it is BLOCKED, cleared by the wheel before its wake (atomic). */
    bool asleep;
    /* A user thread's state in the layers above (proc/): NULL for a kernel thread.
     * Set once by the thread itself (thread_set_user); read by the switch hook. */
    void *user;
    /* Links in the registry shard id % SCHED_REGISTRY_SHARDS (that shard's lock). */
    struct thread *registry_prev, *registry_next;
};

/* The top of a spawned thread's stack that its control block takes. */
#define THREAD_CONTROL_BYTES ((sizeof(struct thread) + 63) & ~(size_t)63)

/* Starts the scheduler on the boot CPU: the caller becomes thread "main". */
void sched_init(void);
/* Each AP's arch entry ends here; never returns. */
__attribute__((noreturn)) void sched_ap_main(unsigned cpu);
/* Starts the per-CPU timer tick (after arch_smp_init, on each CPU). */
void sched_start_ticks(void);

/* NULL when out of memory. cpu: THREAD_ANY_CPU or a CPU index to pin it to. */
struct thread *thread_spawn(thread_fn fn, void *arg, const char *name, int cpu);
struct thread *thread_spawn_stack(thread_fn fn, void *arg, const char *name, int cpu,
                                  size_t stack_bytes);
void thread_yield(void);
/* Pins the calling thread to `cpu` (THREAD_ANY_CPU: lets it run anywhere). It
 * moves there at once: pinned to another online CPU, it is switched away and
 * queued there before this returns, so a running thread's pin, if any, is the
 * CPU it runs on (IPC's check 5 relies on it). Only the thread itself may change
 * its pinning: a queued thread's pinning decides which list holds it. */
void thread_set_own_affinity(int cpu);
__attribute__((noreturn)) void thread_exit(void);
/* Waits until t has ended, then frees it (its control block and stack). Each
 * thread is joined exactly once; joining one that is not a thread any more (a
 * second join while its stack is still cached) panics. */
void thread_join(struct thread *t);
/* Sleeps at least ns. Only the sleep's deadline ends it: a thread_wake of a
 * sleeping thread is a stray wake-up of some other wait's (its caller's bug) and
 * panics, naming the caller, for it would otherwise leave the sleeper linked in the
 * wheel while it runs, and its next sleep would unlink the sleepers behind it, who
 * would then sleep forever. */
void thread_sleep_ns(uint64_t ns);
/* Inline: one load from this CPU's area (arch_cpu_running). */
static inline struct thread *thread_current(void)
{
    return (struct thread *)arch_cpu_running();
}

/*
 * Blocking, for wait queues and locks: the caller marks itself BLOCKED while
 * holding the lock that publishes it to its waker, drops that lock (keeping
 * interrupts off) and calls thread_block. thread_wake makes a BLOCKED thread
 * runnable; waking one that is not blocked does nothing and returns false.
 */
void thread_block(void);
bool thread_wake(struct thread *t);
/* thread_wake of every thread of a list linked through wait_next (each link is
 * cleared), queueing those bound for one CPU in batches, under one hold of its
 * queue's lock each; returns how many threads the list held. */
unsigned thread_wake_list(struct thread *list);

/*
 * Parking: blocking without keeping a kernel frame (IPC's fastpath). A parked
 * thread is BLOCKED like any other, in a wait queue its wakers reach, and any
 * of them may wake it with thread_wake; but the function that parked it never
 * returns. When a CPU next switches to it, it starts afresh in its park's
 * resume(arg), on its stack below stack_top, once the switch is finished and
 * with interrupts on, as a new thread starts; resume must not return (it leaves
 * for user mode). A struct thread_park is filled once (thread_park_init) and
 * kept, off the thread's stack, while the thread lives.
 * The three ways to park the calling thread (BLOCKED and published, interrupts
 * off; they stay off):
 *   thread_park_handoff  runs next (BLOCKED, taken from its queue by the caller)
 *                        at once on this CPU with the rest of the caller's time
 *                        slice (thread_wake(next) and thread_park_block when
 *                        next is pinned elsewhere);
 *   thread_park_block    runs whatever is next here, as thread_block does;
 *       either returns only when the caller did not switch away at all (it
 *       was woken meanwhile and nothing else runs: RUNNING again); it then
 *       calls its resume itself;
 *   thread_park_switch   switches (the calling thread prev) without a stack
 *                        switch to next, which last
 *                        ran on this CPU and may run here (the caller checks
 *                        both: IPC's check 5), BLOCKED in a
 *                        park of its own (in its wait queue or not: the caller
 *                        ended its wait, so no waker of that queue finds it
 *                        BLOCKED any more): next becomes this CPU's running
 *                        thread and the caller is settled as by a handoff; the
 *                        switch hook is not called: the caller, which knows
 *                        both are threads of the layer above, does that work
 *                        next (inline). The caller, still standing on its own stack,
 *                        must leave it for next's context at once, then clear
 *                        its on_cpu (arch_syscall_return does both): it
 *                        finishes next's wait on next's behalf instead of next
 *                        resuming. false: nothing done; next cannot run
 *                        here now (someone else woke it first): the caller
 *                        parks with thread_park_handoff(next) instead, which
 *                        sorts that out.
 * A thread is in one park at a time; the park's resume decides from its own
 * records what woke it (include/proc: IPC's park_resume).
 */
struct thread_park {
    uint64_t sp;                          /* what a switch to it loads */
    uint64_t words[ARCH_PARK_WORDS];      /* arch_park_init's */
};
void thread_park_init(struct thread_park *park, void (*resume)(void *arg), void *arg,
                      uintptr_t stack_top);
void thread_park_handoff(const struct thread_park *park, struct thread *next);
void thread_park_block(const struct thread_park *park);
/* Inline (IPC's fastpath keeps its values in registers across it): prev is the
 * calling thread. It does switch_in's work without the hook and without a wait:
 * next last ran on this CPU, so its cpu is ours already and its on_cpu is clear
 * (this CPU finished switching it away before it ran prev), and only we can set
 * that once the compare-and-swap has made next ours. The switch is counted in
 * this CPU's scheduler record (sched/sched.c, whose struct is private: the
 * count's offset is SCHED_CPU_SWITCHES, which it asserts; its run queue stays
 * first, where the scheduler's own paths reach it for free). */
#define SCHED_CPU_SWITCHES 256
static inline __attribute__((always_inline)) bool
thread_park_switch(const struct thread_park *park, struct thread *prev, struct thread *next)
{
    int expected = THREAD_BLOCKED;
    if (!__atomic_compare_exchange_n(&next->state, &expected, THREAD_RUNNING, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return false;
    __atomic_store_n(&next->on_cpu, true, __ATOMIC_RELAXED);
    arch_cpu_set_running(next);
    __atomic_fetch_add((uint64_t *)((char *)arch_cpu_slot(ARCH_CPU_SLOT_SCHED) +
                                    SCHED_CPU_SWITCHES),
                       1, __ATOMIC_RELAXED);
    prev->saved_sp = park->sp;
    return true;
}

struct sched_stats {
    uint64_t threads_alive;  /* spawned and not yet joined */
    uint64_t switches;       /* context switches, all CPUs */
    uint64_t steals;         /* threads taken from another CPU's queue */
};
void sched_get_stats(struct sched_stats *out);

/* One thread as sched_list_threads saw it. */
#define THREAD_INFO_NAME_BYTES 24
struct thread_info {
    uint32_t id;
    int state;    /* enum thread_state */
    unsigned cpu; /* the CPU it runs on, or last ran on */
    int affinity; /* THREAD_ANY_CPU or the CPU it is pinned to */
    char name[THREAD_INFO_NAME_BYTES]; /* cut to fit */
};
#define SCHED_REGISTRY_SHARDS 16
/* Copies up to `max` registered threads (see above) into out, in no particular
 * order, and returns how many there are in all (more than max when out was too
 * small). Each thread's fields are read under its shard's lock; the listing as a
 * whole is not one instant (threads come and go meanwhile). */
size_t sched_list_threads(struct thread_info *out, size_t max);
/* The name of an enum thread_state ("running", ...). */
const char *thread_state_name(int state);
/*
 * User threads. The scheduler knows nothing of processes: a thread with a
 * non-NULL `user` gets the switch hook called around every switch from or to it
 * (interrupts off, before the stacks change), where the layer above saves and
 * loads what a kernel thread does not have (FPU state, address space, TLS).
 * thread_set_user makes the calling thread such a thread and runs the hook's
 * "switch in" half for it (prev NULL) at once.
 */
typedef void (*sched_switch_hook_fn)(struct thread *prev, struct thread *next);
void sched_set_switch_hook(sched_switch_hook_fn hook);
void thread_set_user(void *user);

/* A thread's nice level, -20..19 (clamped), and the weight it gives it
 * (include/sched/fair.h); it takes effect from its next turn. Any thread may set
 * any other's, until it is joined. */
void thread_set_nice(struct thread *t, int nice);
int thread_get_nice(const struct thread *t);
/* The ticks charged to t so far: the ticks it was running at (a sample of its CPU
 * time, SCHED_TICK_NS each). */
uint64_t thread_cpu_ticks(const struct thread *t);

/* For tests: a function every CPU's tick calls at its end (interrupt context,
 * interrupts off; it may turn them on for a while if it turns them off again), or
 * NULL; and the ticks `cpu` dropped because they came while its tick still ran. */
void sched_set_tick_test_hook(void (*hook)(void));
uint64_t sched_nested_ticks(unsigned cpu);

/* Ticks `cpu` has taken since boot, as a snapshot from any CPU. */
uint64_t sched_cpu_ticks(unsigned cpu);

/* `cpu`'s idle thread (never queued: its run-queue node names a queue of its own,
 * so a push of it panics). For tests. */
struct thread *sched_idle_thread(unsigned cpu);

/* Ticks since boot on this CPU (SCHED_TICK_NS each). */
uint64_t sched_ticks(void);

/* The CPUs `cpu` would look at to steal, in order (its own node's first, then
 * by distance); writes at most max of them and returns how many. For tests. */
unsigned sched_steal_order(unsigned cpu, uint16_t *out, unsigned max);

#endif
