/*
 * x86_64's include/arch/bitops.h: BT, BTS and BTR with the bit number in a
 * register address the whole bitmap (the instruction finds the word), so a test
 * is one instruction and its result a flag the caller branches on. Plain C works
 * in hosted builds too (the host is x86_64), so these are not guarded.
 */
#ifndef EXO_MACHINE_BITOPS_H
#define EXO_MACHINE_BITOPS_H

#include <stdbool.h>
#include <stdint.h>

/* The operand names the bitmap's first word (so the compiler may address it as
 * it likes, rip-relative for a static bitmap) and the "memory" clobber the rest:
 * the word the instruction touches is not known until it runs. */
static inline bool arch_bit_test(const uint64_t *bitmap, uint64_t bit)
{
    bool set;
    __asm__("btq %2, %1" : "=@ccc"(set) : "m"(*bitmap), "r"(bit) : "memory");
    return set;
}

static inline bool arch_bit_test_and_set_atomic(uint64_t *bitmap, uint64_t bit)
{
    bool was_set;
    __asm__ volatile("lock btsq %2, %1" : "=@ccc"(was_set), "+m"(*bitmap) : "r"(bit) : "memory");
    return was_set;
}

static inline bool arch_bit_test_and_clear_atomic(uint64_t *bitmap, uint64_t bit)
{
    bool was_set;
    __asm__ volatile("lock btrq %2, %1" : "=@ccc"(was_set), "+m"(*bitmap) : "r"(bit) : "memory");
    return was_set;
}

/* Bit 0 of one word, as a trylock: the immediate form, no register to load. */
static inline bool arch_bit0_test_and_set_atomic(uint64_t *word)
{
    bool was_set;
    __asm__ volatile("lock btsq $0, %1" : "=@ccc"(was_set), "+m"(*word) : : "memory");
    return was_set;
}

#endif
