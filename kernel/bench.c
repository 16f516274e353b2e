#include "kernel/bench.h"

#include "arch/arch.h"
#include "kernel/printf.h"
#include "kernel/string.h"

extern const struct bench *const __start_benchmarks[];
extern const struct bench *const __stop_benchmarks[];

static void sort(uint64_t *values, int count)
{
    for (int i = 1; i < count; i++) {
        uint64_t v = values[i];
        int j = i;
        for (; j > 0 && values[j - 1] > v; j--)
            values[j] = values[j - 1];
        values[j] = v;
    }
}

/* Cycles per operation, in hundredths, median of the repetitions. */
static uint64_t measure(const struct bench *b)
{
    uint64_t per_op[BENCH_REPETITIONS];
    b->run(b->iterations); /* warm caches, TLB, allocator caches */
    for (int r = 0; r < BENCH_REPETITIONS; r++)
        per_op[r] = b->run(b->iterations) * 100 / b->iterations;
    sort(per_op, BENCH_REPETITIONS);
    return per_op[BENCH_REPETITIONS / 2];
}

bool bench_run(const char *glob)
{
    bool any = false;
    for (const struct bench *const *b = __start_benchmarks; b < __stop_benchmarks; b++) {
        if (!glob_match(glob, (*b)->name))
            continue;
        any = true;
        uint64_t hundredths = measure(*b);
        kprintf("bench %s_cycles %lu.%02lu cycles\n", (*b)->name, hundredths / 100,
                hundredths % 100);
    }
    if (!any)
        kprintf("bench: no benchmark matches '%s'\n", glob);
    return any;
}
