/*
 * bench: in-kernel benchmarks, registered at link time like test suites.
 *
 * Every figure is printed as one line
 *     bench <name> <value> <unit>
 * (value with two decimals), for people and for tests/bench/run.py to parse.
 *
 * Two kinds of benchmark:
 *  - timed (BENCH): run(iterations) performs one operation `iterations` times and
 *    returns the timestamp cycles that took, read with arch_read_timestamp_before and
 *    _after around the loop only, so set-up is not counted. bench_run calls it once to
 *    warm caches, then BENCH_REPETITIONS times, and prints the median twice:
 *    `bench <name>_ticks <TSC ticks per operation> ticks` (under QEMU's
 *    `-icount shift=0` the guest TSC counts guest instructions, so this is the
 *    path length, exactly repeatable) and `bench <name>_ns <ns per operation> ns`,
 *    converted with the calibrated timestamp frequency (arch_timestamp_hz).
 *  - reporting (BENCH_REPORT): report() measures what it likes, takes its own
 *    medians and prints its figures with bench_print; it may print several.
 *
 * A benchmark that cannot do its work (out of memory, one CPU where it needs two)
 * calls bench_fail or bench_skip with the reason; bench_run prints
 *     bench <name>: FAILED: <reason>       or       bench <name>: skipped: <reason>
 * A failure makes bench_run return false; a skip does not.
 *
 * Heavy benchmarks state min_free_bytes: with less free memory than that they are
 * skipped with a line that says how much they need (a million threads need a
 * 6 GiB guest). Benchmarks run one at a time, from the boot thread.
 *
 * Interrupt context: none; benchmarks run on a thread (mode=bench or the shell).
 */
#ifndef EXO_BENCH_BENCH_H
#define EXO_BENCH_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#define BENCH_REPETITIONS 9

struct bench {
    const char *name;
    uint64_t (*run)(uint64_t iterations); /* timed: returns elapsed cycles */
    uint64_t iterations;                   /* timed: per repetition */
    void (*report)(void);                  /* reporting: prints its own figures */
    uint64_t min_free_bytes;               /* skipped below this much free memory */
};

#define BENCH_ENTRY(bench_name, ...)                                                    \
    static const struct bench bench_name##_bench = {#bench_name, __VA_ARGS__};          \
    static const struct bench *const bench_name##_bench_entry                           \
        __attribute__((used, section(".benchmarks"))) = &bench_name##_bench

#define BENCH(bench_name, fn, iters) BENCH_ENTRY(bench_name, fn, iters, 0, 0)
#define BENCH_REPORT(bench_name, fn, min_free) BENCH_ENTRY(bench_name, 0, 0, fn, min_free)

/* Runs the benchmarks whose name matches `glob` (several globs: separated by
 * commas, e.g. "cross*,steal*"); false when none matched or one failed. */
bool bench_run(const char *glob);

/* Prints `bench <name> <hundredths/100> <unit>`. */
void bench_print(const char *name, uint64_t hundredths, const char *unit);
/* The running benchmark could not measure: why (printed by bench_run). */
void bench_fail(const char *reason);
void bench_skip(const char *reason);
/* Has the running benchmark failed or been skipped? Lets it stop early. */
bool bench_stopped(void);

/* TSC cycles to nanoseconds. Linear: hundredths of a cycle give hundredths of a ns. */
uint64_t bench_cycles_to_ns(uint64_t cycles);
/* The median of `count` values; sorts them in place. */
uint64_t bench_median(uint64_t *values, int count);

#endif
