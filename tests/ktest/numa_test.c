/*
 * The NUMA topology and what the allocators and the scheduler do with it.
 *
 * The boot's command line may say what QEMU was given, and the first case checks
 * the kernel found exactly that:
 *   numa_expect=<cpus of node 0>/<cpus of node 1>/...:<MiB of node 0>/...:<distances>
 * CPU lists as in Linux's cpulist ("0-1,4", empty for none), MiB as QEMU's -numa
 * node sizes, distances row-major, comma-separated. For example, two nodes:
 *   numa_expect=0-1/2-3:128/128:10,20,20,10
 * A node's usable memory is its size less what the firmware keeps (the first MiB,
 * ACPI tables): the check allows NODE_SLACK_KIB below the size, nothing above.
 */
#include "arch/cpu.h"
#include "arch/mmu.h"
#include "arch/smp.h"
#include "kernel/boot.h"
#include "kernel/ktest.h"
#include "lib/string.h"
#include "mm/frame.h"
#include "mm/heap.h"
#include "mm/kstack.h"
#include "mm/numa.h"
#include "mm/paging.h"
#include "sched/thread.h"

#define NODE_SLACK_KIB (4 * 1024)
#define EXHAUST_LIMIT_FRAMES (1u << 20) /* 4 GiB: bigger nodes are not run dry */

struct expectation {
    unsigned nodes;
    int16_t cpu_node[ARCH_MAX_CPUS]; /* -1: the line names no node for it */
    uint64_t mib[NUMA_MAX_NODES];
    unsigned distance[NUMA_MAX_NODES * NUMA_MAX_NODES];
    unsigned ndistances;
};

static bool read_number(const char **p, unsigned *out)
{
    if (**p < '0' || **p > '9')
        return false;
    unsigned v = 0;
    while (**p >= '0' && **p <= '9')
        v = v * 10 + (unsigned)(*(*p)++ - '0');
    *out = v;
    return true;
}

/* Parses the CPU lists, up to ':'. */
static bool parse_cpus(const char **p, struct expectation *e)
{
    e->nodes = 1;
    while (**p && **p != ':') {
        unsigned lo, hi;
        if (**p == '/') {
            if (++e->nodes > NUMA_MAX_NODES)
                return false;
            (*p)++;
            continue;
        }
        if (**p == ',') {
            (*p)++;
            continue;
        }
        if (!read_number(p, &lo))
            return false;
        hi = lo;
        if (**p == '-' && (++*p, !read_number(p, &hi)))
            return false;
        for (unsigned c = lo; c <= hi && c < ARCH_MAX_CPUS; c++)
            e->cpu_node[c] = (int16_t)(e->nodes - 1);
    }
    return **p == ':';
}

static bool parse_expectation(const char *line, struct expectation *e)
{
    for (unsigned c = 0; c < ARCH_MAX_CPUS; c++)
        e->cpu_node[c] = -1;
    const char *p = line;
    if (!parse_cpus(&p, e))
        return false;
    p++;
    for (unsigned node = 0; node < e->nodes; node++) {
        unsigned mib;
        if (!read_number(&p, &mib) || (node + 1 < e->nodes && *p++ != '/'))
            return false;
        e->mib[node] = mib;
    }
    e->ndistances = 0;
    if (*p == ':') {
        p++;
        while (e->ndistances < e->nodes * e->nodes && read_number(&p, &e->distance[e->ndistances])) {
            e->ndistances++;
            if (*p == ',')
                p++;
        }
    }
    return *p == 0 && (e->ndistances == 0 || e->ndistances == e->nodes * e->nodes);
}

static void numa_topology_matches_the_machine(struct ktest *t)
{
    static struct expectation e;
    const char *line = boot_options()->numa_expect;
    if (!line[0])
        KT_SKIP(t, "no numa_expect= on the command line");
    KT_ASSERT(t, parse_expectation(line, &e));
    if (!boot_options()->numa)
        e.nodes = 1;
    ktest_note(t, "%u nodes expected, %u found", e.nodes, numa_node_count());
    KT_ASSERT(t, numa_node_count() == e.nodes);
    for (unsigned cpu = 0; cpu < arch_cpu_count(); cpu++) {
        unsigned want = e.nodes == 1 || e.cpu_node[cpu] < 0 ? 0 : (unsigned)e.cpu_node[cpu];
        KT_EXPECT_EQ(t, numa_cpu_node(cpu), want);
    }
    for (unsigned node = 0; node < e.nodes; node++) {
        struct frame_stats s;
        KT_ASSERT(t, frame_get_node_stats(node, &s));
        uint64_t kib = s.total_frames * FRAME_SIZE / 1024, want = e.mib[node] * 1024;
        if (boot_options()->numa) {
            ktest_note(t, "node %u: %lu KiB usable, %lu KiB given", node, kib, want);
            KT_EXPECT(t, kib <= want && kib + NODE_SLACK_KIB >= want);
        }
    }
    for (unsigned a = 0; e.ndistances && a < e.nodes; a++) {
        for (unsigned b = 0; b < e.nodes; b++)
            KT_EXPECT_EQ(t, numa_distance(a, b), e.distance[a * e.nodes + b]);
    }
}

/* The node a frame for `cpu` should come from: its own, else the nearest with free
 * memory (a memory-less node's CPUs). */
static unsigned home_node(unsigned cpu)
{
    const uint8_t *order = numa_nodes_by_distance(numa_cpu_node(cpu));
    for (unsigned i = 0; i < numa_node_count(); i++) {
        struct frame_stats s;
        frame_get_node_stats(order[i], &s);
        if (s.free_frames > 0)
            return order[i];
    }
    return 0;
}

/* The node of the frame behind a kernel address; ~0u when it is not mapped. */
static unsigned node_of_address(const void *va)
{
    struct translation tr;
    return paging_translate(&kernel_space, (uintptr_t)va, &tr) ? frame_node(tr.pa) : ~0u;
}

/* Heap sizes placed: a cached small block, a cached page-sized one, and one that
 * only the engine serves. */
static const size_t heap_sizes[] = {64, 4000, 256 * 1024};
#define HEAP_SIZES (sizeof(heap_sizes) / sizeof(heap_sizes[0]))

struct placement {
    unsigned cpu;
    unsigned frame_node, stack_node, want;
    unsigned heap_node[HEAP_SIZES];
    bool ok;
};

/* kmalloc on this CPU, freed and asked again (the second comes from the CPU's
 * cache for the small sizes): where both lie. */
static void place_heap_blocks(struct placement *p)
{
    for (size_t i = 0; i < HEAP_SIZES; i++) {
        void *first = kmalloc(heap_sizes[i]);
        p->heap_node[i] = first ? node_of_address(first) : ~0u;
        kfree(first);
        void *again = kmalloc(heap_sizes[i]);
        if (!again || node_of_address(again) != p->heap_node[i])
            p->heap_node[i] = ~0u;
        kfree(again);
    }
}

static void place_on_this_cpu(void *arg)
{
    struct placement *p = arg;
    struct kstack stack;
    struct translation tr;
    frame_drain_cache(); /* frames freed here by threads of other nodes' CPUs: go home */
    p->want = home_node(p->cpu);
    phys_addr_t f = frame_alloc();
    p->ok = phys_is_valid(f) && kstack_alloc(8192, &stack) == KSTACK_OK;
    if (!p->ok) {
        if (phys_is_valid(f))
            frame_free(f);
        return;
    }
    p->frame_node = frame_node(f);
    p->ok = paging_translate(&kernel_space, stack.bottom, &tr);
    p->stack_node = p->ok ? frame_node(tr.pa) : ~0u;
    kstack_free(&stack);
    frame_free(f);
    place_heap_blocks(p);
}

static void numa_frames_stacks_and_heap_come_from_the_cpus_node(struct ktest *t)
{
    static struct placement places[ARCH_MAX_CPUS];
    for (unsigned cpu = 0; cpu < arch_cpu_count(); cpu++) {
        places[cpu] = (struct placement){.cpu = cpu};
        struct thread *th = thread_spawn(place_on_this_cpu, &places[cpu], "numa place", (int)cpu);
        KT_ASSERT(t, th != NULL);
        thread_join(th);
        KT_EXPECT(t, places[cpu].ok);
        KT_EXPECT_EQ(t, places[cpu].frame_node, places[cpu].want);
        KT_EXPECT_EQ(t, places[cpu].stack_node, places[cpu].want);
        for (size_t i = 0; i < HEAP_SIZES; i++) {
            if (places[cpu].heap_node[i] != places[cpu].want)
                ktest_note(t, "CPU %u: kmalloc(%zu) on node %u, its node is %u", cpu,
                           heap_sizes[i], places[cpu].heap_node[i], places[cpu].want);
            KT_EXPECT_EQ(t, places[cpu].heap_node[i], places[cpu].want);
        }
    }
    kstack_flush();
}

struct own_stack {
    unsigned cpu, want, stack_node, tcb_node;
    bool ok;
};

/* Where the stack this thread runs on and its control block lie (its creator
 * chose). */
static void find_own_stack(void *arg)
{
    struct own_stack *o = arg;
    uint64_t here = 0;
    o->stack_node = node_of_address(&here);
    o->tcb_node = node_of_address(thread_current());
    o->ok = o->stack_node != ~0u && o->tcb_node != ~0u;
}

/* A thread spawned on CPU 0 but pinned to another CPU gets its stack and its
 * control block from that CPU's node, not its creator's. */
static void numa_a_pinned_threads_stack_and_tcb_come_from_its_cpus_node(struct ktest *t)
{
    thread_set_own_affinity(0);
    thread_yield();
    unsigned others = 0;
    for (unsigned cpu = 0; cpu < arch_cpu_count(); cpu++) {
        struct own_stack o = {.cpu = cpu, .want = home_node(cpu)};
        others += o.want != home_node(0);
        struct thread *th = thread_spawn(find_own_stack, &o, "numa stack", (int)cpu);
        KT_EXPECT(t, th != NULL);
        if (!th)
            break;
        thread_join(th);
        KT_EXPECT(t, o.ok);
        if (o.stack_node != o.want)
            ktest_note(t, "CPU %u: stack on node %u, its node is %u", cpu, o.stack_node, o.want);
        KT_EXPECT_EQ(t, o.stack_node, o.want);
        if (o.tcb_node != o.want)
            ktest_note(t, "CPU %u: control block on node %u, its node is %u", cpu, o.tcb_node,
                       o.want);
        KT_EXPECT_EQ(t, o.tcb_node, o.want);
    }
    thread_set_own_affinity(THREAD_ANY_CPU);
    kstack_flush();
    if (!others)
        KT_SKIP(t, "every CPU's memory is on CPU 0's node");
}

struct exhaust {
    unsigned home, fallback, expected_fallback, heap_fallback;
    uint64_t taken;
    bool too_big;
};

/* Takes this CPU's node dry, up to the first frame from elsewhere, then gives
 * everything back. The frames are chained through their own first words. */
static void exhaust_home_node(void *arg)
{
    struct exhaust *x = arg;
    x->home = home_node(arch_cpu_index());
    struct frame_stats s;
    frame_get_node_stats(x->home, &s);
    if (s.free_frames > EXHAUST_LIMIT_FRAMES) {
        x->too_big = true;
        return;
    }
    /* The nearest other node with free memory is where the next frame must come from. */
    const uint8_t *order = numa_nodes_by_distance(numa_cpu_node(arch_cpu_index()));
    x->expected_fallback = ~0u;
    for (unsigned i = 0; i < numa_node_count() && x->expected_fallback == ~0u; i++) {
        struct frame_stats o;
        frame_get_node_stats(order[i], &o);
        if (order[i] != x->home && o.free_frames > 0)
            x->expected_fallback = order[i];
    }
    /* An arena's worth: after it, the node's engine has no wholly free arena left
     * (it keeps at most one), so the next such block needs a new one. */
    void *near = kmalloc(HEAP_MAX_ALLOC_BYTES);
    uint64_t *chain = NULL;
    x->fallback = ~0u;
    for (;;) {
        phys_addr_t f = frame_alloc();
        if (!phys_is_valid(f))
            break;
        uint64_t *page = arch_phys_to_virt(f.value);
        *page = (uint64_t)chain;
        chain = page;
        x->taken++;
        if (frame_node(f) != x->home) {
            x->fallback = frame_node(f);
            break;
        }
    }
    void *far = kmalloc(HEAP_MAX_ALLOC_BYTES); /* its node is dry now */
    x->heap_fallback = far ? node_of_address(far) : ~0u;
    kfree(far);
    kfree(near);
    while (chain) {
        uint64_t *next = (uint64_t *)*chain;
        frame_free(phys((uintptr_t)chain - arch_va_layout.direct_map.start));
        chain = next;
    }
    frame_drain_cache();
}

static void numa_an_exhausted_node_falls_back_to_the_nearest(struct ktest *t)
{
    if (numa_node_count() < 2)
        KT_SKIP(t, "one NUMA node");
    static struct exhaust x;
    x = (struct exhaust){0};
    struct thread *th = thread_spawn(exhaust_home_node, &x, "numa exhaust", 0);
    KT_ASSERT(t, th != NULL);
    thread_join(th);
    if (x.too_big)
        KT_SKIP(t, "CPU 0's node is too large to run dry here");
    if (x.fallback == ~0u)
        ktest_note(t, "node %u ran dry after %lu frames; no other node had any", x.home, x.taken);
    else
        ktest_note(t, "node %u ran dry after %lu frames; the next came from node %u", x.home,
                   x.taken, x.fallback);
    KT_EXPECT_EQ(t, x.fallback, x.expected_fallback);
    if (x.heap_fallback == ~0u)
        ktest_note(t, "with node %u dry, the heap had no new arena", x.home);
    else
        ktest_note(t, "with node %u dry, a new heap arena came from node %u", x.home,
                   x.heap_fallback);
    KT_EXPECT_EQ(t, x.heap_fallback, x.expected_fallback);
}

static void numa_steal_order_is_own_node_first_then_by_distance(struct ktest *t)
{
    static uint16_t order[ARCH_MAX_CPUS];
    unsigned online = arch_cpu_count();
    for (unsigned cpu = 0; cpu < online; cpu++) {
        unsigned n = sched_steal_order(cpu, order, ARCH_MAX_CPUS);
        KT_EXPECT_EQ(t, n, online - 1);
        unsigned home = numa_cpu_node(cpu), last = NUMA_LOCAL_DISTANCE;
        for (unsigned i = 0; i < n; i++) {
            unsigned d = numa_distance(home, numa_cpu_node(order[i]));
            KT_EXPECT(t, order[i] != cpu && order[i] < online);
            KT_EXPECT(t, d >= last); /* never nearer than one already looked at */
            if (i > 0 && numa_cpu_node(order[i]) != numa_cpu_node(order[i - 1]))
                KT_EXPECT(t, d > last || numa_cpu_node(order[i]) > numa_cpu_node(order[i - 1]));
            last = d;
        }
        if (t->failures)
            return;
    }
}

static void do_nothing(void *arg)
{
    (void)arg;
}

/* A thread pinned to another node's CPU, joined from CPU 0: the join frees its
 * stack there, and CPU 0's cache, which holds its own node's stacks only, does
 * not keep it: it is unmapped (once the batch is flushed, its frames are back on
 * their node). */
static void numa_a_stack_freed_on_another_node_is_not_cached_there(struct ktest *t)
{
    thread_set_own_affinity(0);
    thread_yield();
    unsigned tried = 0;
    for (unsigned cpu = 1; cpu < arch_cpu_count(); cpu++) {
        if (home_node(cpu) == home_node(0))
            continue;
        kstack_flush();
        struct thread *th = thread_spawn_stack(do_nothing, NULL, "numa far", (int)cpu, 4096);
        KT_ASSERT(t, th != NULL);
        uintptr_t bottom = th->stack.bottom;
        KT_EXPECT_EQ(t, node_of_address((void *)bottom), home_node(cpu));
        thread_join(th);
        struct translation tr;
        KT_EXPECT(t, !paging_translate(&kernel_space, bottom, &tr));
        tried++;
    }
    thread_set_own_affinity(THREAD_ANY_CPU);
    kstack_flush();
    if (!tried)
        KT_SKIP(t, "every CPU's memory is on CPU 0's node");
}

KTEST_SUITE(numa, KTEST(numa_topology_matches_the_machine),
            KTEST(numa_frames_stacks_and_heap_come_from_the_cpus_node),
            KTEST(numa_a_pinned_threads_stack_and_tcb_come_from_its_cpus_node),
            KTEST(numa_an_exhausted_node_falls_back_to_the_nearest),
            KTEST(numa_steal_order_is_own_node_first_then_by_distance),
            KTEST(numa_a_stack_freed_on_another_node_is_not_cached_there));
