/*
 * cpuset: a set of CPU indexes, 0 .. ARCH_MAX_CPUS-1, as an array of 64-bit words
 * (one word up to 64 CPUs, so the loops below compile to a single access).
 *
 * The *_atomic operations are sequentially consistent per word: a CPU that sets
 * its bit and then reads shared state, and another that writes that state and
 * then tests the bit, cannot both miss each other (the scheduler's idle protocol,
 * sched/sched.c). A scan of several words is not one atomic snapshot: a bit may
 * change while later words are read, which is fine for hints like "some CPU is
 * idle".
 *
 * Interrupt context: everything here, interrupts on or off.
 */
#ifndef EXO_BASE_CPUSET_H
#define EXO_BASE_CPUSET_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/cpu.h"

#define CPUSET_WORD_BITS 64
#define CPUSET_WORDS ((ARCH_MAX_CPUS + CPUSET_WORD_BITS - 1) / CPUSET_WORD_BITS)

_Static_assert(ARCH_MAX_CPUS >= 1 && CPUSET_WORDS * CPUSET_WORD_BITS >= ARCH_MAX_CPUS,
               "a cpuset has a bit for every CPU index");

struct cpuset {
    uint64_t words[CPUSET_WORDS]; /* (A) changed only by the __atomic builtins */
};

static inline void cpuset_set_atomic(struct cpuset *set, unsigned cpu)
{
    __atomic_fetch_or(&set->words[cpu / CPUSET_WORD_BITS], 1ull << (cpu % CPUSET_WORD_BITS),
                      __ATOMIC_SEQ_CST);
}

static inline void cpuset_clear_atomic(struct cpuset *set, unsigned cpu)
{
    __atomic_fetch_and(&set->words[cpu / CPUSET_WORD_BITS], ~(1ull << (cpu % CPUSET_WORD_BITS)),
                       __ATOMIC_SEQ_CST);
}

/* Clears `cpu` and says whether it was set, in one atomic step. */
static inline bool cpuset_test_and_clear_atomic(struct cpuset *set, unsigned cpu)
{
    uint64_t bit = 1ull << (cpu % CPUSET_WORD_BITS);
    return (__atomic_fetch_and(&set->words[cpu / CPUSET_WORD_BITS], ~bit, __ATOMIC_SEQ_CST) &
            bit) != 0;
}

static inline bool cpuset_test_atomic(const struct cpuset *set, unsigned cpu)
{
    uint64_t word = __atomic_load_n(&set->words[cpu / CPUSET_WORD_BITS], __ATOMIC_SEQ_CST);
    return (word >> (cpu % CPUSET_WORD_BITS)) & 1;
}

/* The lowest CPU below `limit` in the set other than `except`, or ARCH_MAX_CPUS when
 * there is none; only the words that hold CPUs below limit are read (the
 * scheduler's wake-ups pass the CPUs online: one word on a small machine, not
 * ARCH_MAX_CPUS / 64 of them). Bits at or above limit in the last word read count. */
static inline unsigned cpuset_first_except_below_atomic(const struct cpuset *set,
                                                        unsigned except, unsigned limit)
{
    unsigned words = (limit + CPUSET_WORD_BITS - 1) / CPUSET_WORD_BITS;
    for (unsigned w = 0; w < words && w < CPUSET_WORDS; w++) {
        uint64_t word = __atomic_load_n(&set->words[w], __ATOMIC_SEQ_CST);
        if (except / CPUSET_WORD_BITS == w)
            word &= ~(1ull << (except % CPUSET_WORD_BITS));
        if (word)
            return w * CPUSET_WORD_BITS + (unsigned)__builtin_ctzll(word);
    }
    return ARCH_MAX_CPUS;
}

/* The lowest CPU in the set other than `except`, or ARCH_MAX_CPUS when there is none. */
static inline unsigned cpuset_first_except_atomic(const struct cpuset *set, unsigned except)
{
    return cpuset_first_except_below_atomic(set, except, ARCH_MAX_CPUS);
}

#endif
