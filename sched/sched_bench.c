/* Benchmarks of the scheduler (mode=bench; include/kernel/bench.h). */
#include "arch/arch.h"
#include "kernel/bench.h"
#include "sched/thread.h"

struct ping_pong {
    uint64_t rounds;
};

static void yield_rounds(void *arg)
{
    struct ping_pong *p = arg;
    for (uint64_t i = 0; i < p->rounds; i++)
        thread_yield();
}

/* Two threads on one CPU yielding to each other: 2 * iterations switches. The
 * caller joins the second one, so it is off the run queue meanwhile. */
static uint64_t ctx_switch(uint64_t iterations)
{
    int cpu = (int)arch_cpu_index();
    struct ping_pong p = {iterations};
    bool irq = arch_irq_save_disable(); /* both queued before either runs */
    struct thread *a = thread_spawn(yield_rounds, &p, "ping", cpu);
    struct thread *b = thread_spawn(yield_rounds, &p, "pong", cpu);
    uint64_t start = arch_read_timestamp();
    arch_irq_restore(irq);
    if (a)
        thread_join(a);
    if (b)
        thread_join(b);
    return (arch_read_timestamp() - start) / 2;
}
BENCH(ctx_switch, ctx_switch, 20000);

static void nothing(void *arg)
{
    (void)arg;
}

static uint64_t spawn_join(uint64_t iterations)
{
    int cpu = (int)arch_cpu_index();
    uint64_t start = arch_read_timestamp();
    for (uint64_t i = 0; i < iterations; i++) {
        struct thread *t = thread_spawn_stack(nothing, NULL, "nothing", cpu, 4096);
        if (t)
            thread_join(t);
    }
    return arch_read_timestamp() - start;
}
BENCH(spawn_join, spawn_join, 5000);
