#include "bench/bench.h"

#include "arch/smp.h"
#include "arch/time.h"
#include "lib/printf.h"
#include "lib/string.h"
#include "mm/frame.h"

extern const struct bench *const __start_benchmarks[];
extern const struct bench *const __stop_benchmarks[];

/* The outcome of the running benchmark. Only the boot thread runs benchmarks,
 * one at a time, so no lock: threads a benchmark spawns never touch these. */
enum outcome { OUTCOME_OK, OUTCOME_FAILED, OUTCOME_SKIPPED };
static enum outcome outcome;
static const char *outcome_reason;

void bench_fail(const char *reason)
{
    if (outcome == OUTCOME_OK) {
        outcome = OUTCOME_FAILED;
        outcome_reason = reason;
    }
}

void bench_skip(const char *reason)
{
    if (outcome == OUTCOME_OK) {
        outcome = OUTCOME_SKIPPED;
        outcome_reason = reason;
    }
}

bool bench_stopped(void)
{
    return outcome != OUTCOME_OK;
}

uint64_t bench_median(uint64_t *values, int count)
{
    for (int i = 1; i < count; i++) {
        uint64_t v = values[i];
        int j = i;
        for (; j > 0 && values[j - 1] > v; j--)
            values[j] = values[j - 1];
        values[j] = v;
    }
    return values[count / 2];
}

uint64_t bench_cycles_to_ns(uint64_t cycles)
{
    /* In two parts, as 128-bit division is not in a freestanding kernel: the
     * remainder is below the frequency (a few 1e9), so times 1e9 it fits. */
    uint64_t hz = arch_timestamp_hz();
    return cycles / hz * 1000000000u + cycles % hz * 1000000000u / hz;
}

void bench_print(const char *name, uint64_t hundredths, const char *unit)
{
    kprintf("bench %s %lu.%02lu %s\n", name, hundredths / 100, hundredths % 100, unit);
}

/* A timed benchmark: the median over the repetitions, per operation, printed twice:
 * in hundredths of a TSC tick (`<name>_ticks`; under QEMU's `-icount shift=0` a tick
 * is one guest instruction, so the figure is a path length) and in hundredths of a
 * ns (`<name>_ns`, through the calibrated TSC rate). */
static void measure(const struct bench *b)
{
    uint64_t per_op[BENCH_REPETITIONS];
    b->run(b->iterations); /* warm caches, TLB, allocator caches */
    for (int r = 0; r < BENCH_REPETITIONS && !bench_stopped(); r++)
        per_op[r] = b->run(b->iterations) * 100 / b->iterations;
    if (bench_stopped())
        return;
    uint64_t ticks = bench_median(per_op, BENCH_REPETITIONS);
    char name[64];
    ksnprintf(name, sizeof(name), "%s_ticks", b->name);
    bench_print(name, ticks, "ticks");
    ksnprintf(name, sizeof(name), "%s_ns", b->name);
    bench_print(name, bench_cycles_to_ns(ticks), "ns");
}

static bool enough_memory(const struct bench *b)
{
    struct frame_stats stats;
    frame_get_stats(&stats);
    uint64_t free_bytes = stats.free_frames * FRAME_SIZE;
    if (free_bytes >= b->min_free_bytes)
        return true;
    kprintf("bench %s: skipped: needs %lu MiB of free memory, this machine has %lu MiB "
            "(boot the guest with -m 6G)\n",
            b->name, b->min_free_bytes >> 20, free_bytes >> 20);
    return false;
}

/* Runs one benchmark; false when it failed. */
static bool run_one(const struct bench *b)
{
    if (!enough_memory(b))
        return true;
    outcome = OUTCOME_OK;
    outcome_reason = NULL;
    if (b->run)
        measure(b);
    else
        b->report();
    if (outcome == OUTCOME_FAILED)
        kprintf("bench %s: FAILED: %s\n", b->name, outcome_reason);
    else if (outcome == OUTCOME_SKIPPED)
        kprintf("bench %s: skipped: %s\n", b->name, outcome_reason);
    return outcome != OUTCOME_FAILED;
}

bool bench_run(const char *glob)
{
    bool any = false, all_ok = true;
    kprintf("bench: TSC %lu kHz, %u CPUs\n", arch_timestamp_hz() / 1000, arch_cpu_count());
    for (const struct bench *const *b = __start_benchmarks; b < __stop_benchmarks; b++) {
        if (!glob_list_match(glob, (*b)->name))
            continue;
        any = true;
        if (!run_one(*b))
            all_ok = false;
    }
    if (!any)
        kprintf("bench: no benchmark matches '%s'\n", glob);
    return any && all_ok;
}
