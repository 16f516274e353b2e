/*
 * fair: how the scheduler shares CPU time: weights, budgets, balancing, and the
 * work-conservation checker.
 *
 * Within a CPU: deficit round robin over the run queue's FIFO lists. Each thread
 * has a weight from its nice level (Linux's table, -20..19, nice 0 = 1024) and a
 * budget in weighted units: every tick charges the running thread FAIR_TICK_UNITS,
 * and a thread whose budget runs out gets its quantum (weight * SCHED_SLICE_TICKS
 * units) added and goes to the back of the queue. A nice-0 thread thus runs
 * SCHED_SLICE_TICKS ticks per turn, a nice -5 thread 3121/1024 times as many, and a
 * thread whose quantum is under one tick (nice 7 and above) runs one tick every few
 * turns: when it comes to the head with a budget of zero or less, it gets its
 * quantum added and goes back without running (sched.c's pick). Over any window a
 * thread's ticks are its weight's share to within one quantum plus one tick. The
 * budget lives in the thread, so it travels with it when it moves to another CPU:
 * a moved thread carries how far it is through its turn, never a clock of the CPU
 * it left. A budget never exceeds one quantum, so sleeping earns no credit.
 *
 * Between CPUs: each CPU keeps a virtual clock that advances on each tick by the
 * service one nice-0 thread gets there (FAIR_VCLOCK_UNIT / runnable threads; an
 * idle CPU's advances by the whole unit). Every FAIR_BALANCE_TICKS ticks a CPU looks
 * at the CPUs of its own NUMA node (at most FAIR_BALANCE_SCAN of them, from a
 * rotating start) and, when its clock is ahead of the slowest one holding a
 * stealable thread by more than FAIR_BALANCE_GAP and its own threads are no more
 * than that CPU's, takes that CPU's oldest stealable thread and puts it at the head
 * of its own queue (it had waited longest there, it comes next here); when that CPU
 * is more than FAIR_FAR_BEHIND behind (it hardly runs: under an emulator its vCPU
 * may not be scheduled), it takes one even if it has more threads itself. The clocks
 * then keep step, so that where N threads on M CPUs cannot be spread evenly (N not a
 * multiple of M, or pinned threads crowding a CPU) threads rotate between the
 * crowded and the quiet CPUs instead of staying put. Clocks more than
 * FAIR_CLOCK_SPREAD apart are pulled together, so that imbalance nobody could fix
 * (all pinned) is not remembered for ever. Balancing counts threads, not weights.
 *
 * Waiting bound (equal weights, S = SCHED_SLICE_TICKS, B = FAIR_BALANCE_TICKS): a
 * runnable thread with k threads ahead of it in its CPU's queue runs within
 *     W <= (k + 1) * (S + 1) * B / (B - S - 1)  ticks of that CPU.
 * Each thread ahead runs at most S ticks of budget plus the tick it was dispatched
 * in; only the CPU's own balancing puts a thread ahead of a queued one, at most
 * once per B ticks, each costing at most S + 1 more, so W <= (k + W/B + 1)(S + 1).
 * With S = 4 and B = 16, W <= 7.3 (k + 1) ticks; a thread moved to another CPU
 * goes to that queue's head, so moving never lengthens the wait it had left.
 *
 * Work conservation: a thread queued stealable on a busy CPU wakes an idle CPU
 * (sched.c's enqueue), and each tick of a busy CPU with stealable threads queued
 * wakes one again, in case a wake-up was lost to a CPU going idle meanwhile. The
 * checker, off by default (tests turn it on), counts on each tick of an idle CPU
 * whether some CPU has a stealable thread queued: more than FAIR_IDLE_GRACE_TICKS
 * such ticks in a row is one violation.
 *
 * Locking: a CPU's fair state is written by that CPU only, in its tick, with
 * interrupts off; other CPUs read its clock with relaxed atomic loads. Interrupt
 * context: fair_tick runs in the tick; the others from threads.
 */
#ifndef EXO_SCHED_FAIR_H
#define EXO_SCHED_FAIR_H

#include <stdbool.h>
#include <stdint.h>

#define FAIR_NICE_MIN (-20)
#define FAIR_NICE_MAX 19
#define FAIR_WEIGHT_NICE0 1024u
#define FAIR_TICK_UNITS 1024     /* what one tick costs a budget */
#define FAIR_BALANCE_TICKS 16
#define FAIR_BALANCE_SCAN 16     /* CPUs looked at per balancing pass */
#define FAIR_VCLOCK_UNIT 65536u
#define FAIR_BALANCE_GAP FAIR_VCLOCK_UNIT
#define FAIR_FAR_BEHIND (8 * FAIR_VCLOCK_UNIT)
#define FAIR_CLOCK_SPREAD (16 * FAIR_VCLOCK_UNIT)
#define FAIR_IDLE_GRACE_TICKS 3

/* Linux's sched_prio_to_weight for nice (clamped to -20..19). */
uint32_t fair_nice_to_weight(int nice);
/* The budget a thread of this weight gets per turn, in FAIR_TICK_UNITS per tick. */
int32_t fair_quantum(uint32_t weight);

/* Called by sched.c on every tick of `cpu`, interrupts off: busy says whether a
 * thread other than the idle one runs, runnable is how many threads the CPU has
 * (running and queued). Moves the clock, counts the checker, and balances; returns
 * true when it queued a thread here that the caller should consider at once. */
bool fair_tick(unsigned cpu, bool busy, unsigned runnable);

/* The work-conservation checker (see above). */
struct fair_conservation {
    uint64_t idle_ticks_checked; /* idle ticks seen while on */
    uint64_t idle_ticks_with_work; /* of which some CPU had stealable work */
    uint64_t violations;         /* runs longer than FAIR_IDLE_GRACE_TICKS */
    uint64_t longest_run;        /* the longest run of such ticks, on any CPU */
};
/* Turns the checker on (counters zeroed) or off. */
void fair_check_conservation(bool on);
void fair_conservation_report(struct fair_conservation *out);

/* Threads moved by balancing, all CPUs. */
uint64_t fair_balance_moves(void);

#endif
