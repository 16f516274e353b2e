/*
 * bench: in-kernel microbenchmarks, registered at link time like test suites.
 *
 * A benchmark function performs its operation `iterations` times and returns the
 * cycles that took (arch_read_timestamp, around the loop only, so set-up is not
 * counted). bench_run calls each selected benchmark BENCH_REPETITIONS times after
 * a warm-up run and prints the median as
 *     bench <name>_cycles <cycles per operation> cycles
 * one line per benchmark, for people and for tests/bench to parse.
 */
#ifndef EXO_KERNEL_BENCH_H
#define EXO_KERNEL_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#define BENCH_REPETITIONS 9

struct bench {
    const char *name;
    uint64_t (*run)(uint64_t iterations); /* returns elapsed cycles */
    uint64_t iterations;                   /* per repetition */
};

#define BENCH(bench_name, fn, iters)                                                    \
    static const struct bench bench_name##_bench = {#bench_name, fn, iters};            \
    static const struct bench *const bench_name##_bench_entry                           \
        __attribute__((used, section(".benchmarks"))) = &bench_name##_bench

/* Runs the benchmarks whose name matches `glob`; false when none matched. */
bool bench_run(const char *glob);

#endif
