/*
 * arch/bitops: one bit of a bitmap of 64-bit words, tested, set or cleared, the
 * bit numbered from the bitmap's start (word bit / 64, bit bit % 64). The atomic
 * ones return the bit's old value and order like a relaxed read-modify-write
 * followed by a full barrier (x86: a locked instruction); the double-free checks
 * of the frame allocator and the per-CPU caches' trylocks use them, where the
 * path length counts: each is one instruction and a branch on x86.
 *
 * Interrupt context: all of them.
 */
#ifndef EXO_ARCH_BITOPS_H
#define EXO_ARCH_BITOPS_H

#include <stdbool.h>
#include <stdint.h>

#include "machine/bitops.h"

/* Declared by machine/bitops.h, with these contracts:
 *   bool arch_bit_test(const uint64_t *bitmap, uint64_t bit);
 *   bool arch_bit_test_and_set_atomic(uint64_t *bitmap, uint64_t bit);
 *   bool arch_bit_test_and_clear_atomic(uint64_t *bitmap, uint64_t bit);
 *   bool arch_bit0_test_and_set_atomic(uint64_t *word);  -- a trylock's take; the
 *        release is an __atomic_store_n of 0 with __ATOMIC_RELEASE. */

#endif
