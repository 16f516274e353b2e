/*
 * random: a seeded pseudo-random generator for randomized tests (not for secrets).
 * splitmix64 expands the seed into xoshiro256** state; the same seed gives the same
 * sequence on every machine, so a failing seed printed by a test reproduces it.
 *
 * Interrupt context: anywhere, with state of the caller's own.
 */
#ifndef EXO_LIB_RANDOM_H
#define EXO_LIB_RANDOM_H

#include <stdint.h>

struct rng {
    uint64_t state[4];
};

void rng_seed(struct rng *rng, uint64_t seed);
uint64_t rng_next(struct rng *rng);
/* Uniform in [0, bound), bound > 0, without modulo bias. */
uint64_t rng_below(struct rng *rng, uint64_t bound);

#endif
