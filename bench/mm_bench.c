/* Benchmarks of the memory manager (mode=bench; include/bench/bench.h). */
#include "arch/mmu.h"
#include "arch/time.h"
#include "bench/bench.h"
#include "mm/frame.h"
#include "mm/heap.h"
#include "mm/kstack.h"
#include "mm/paging.h"

/* One frame allocated and freed: the per-CPU cache's fast path. */
static uint64_t frame_alloc_free(uint64_t iterations)
{
    uint64_t start = arch_read_timestamp_before();
    for (uint64_t i = 0; i < iterations; i++) {
        phys_addr_t frame = frame_alloc();
        if (!phys_is_valid(frame)) {
            bench_fail("no free frame");
            break;
        }
        frame_free(frame);
    }
    return arch_read_timestamp_after() - start;
}
BENCH(frame_alloc_free, frame_alloc_free, 100000);

/* Inline, so that each figure's kmalloc sees its size as a constant, as a
 * kmalloc(sizeof(...)) does: the path most callers take. */
static inline __attribute__((always_inline)) uint64_t kmalloc_free(uint64_t iterations,
                                                                   size_t size)
{
    /* A live neighbour, as in a heap in use: the pair then neither splits nor
     * merges the whole arena each time. */
    void *neighbour = kmalloc(size);
    if (!neighbour) {
        bench_fail("no memory for the neighbour block");
        return 0;
    }
    uint64_t start = arch_read_timestamp_before();
    for (uint64_t i = 0; i < iterations; i++) {
        void *p = kmalloc(size);
        if (!p) {
            bench_fail("kmalloc returned NULL");
            break;
        }
        __asm__ volatile("" : : "r"(p) : "memory");
        kfree(p);
    }
    uint64_t elapsed = arch_read_timestamp_after() - start;
    kfree(neighbour);
    return elapsed;
}

static uint64_t kmalloc_free_64(uint64_t iterations)
{
    return kmalloc_free(iterations, 64);
}
BENCH(kmalloc_free_64, kmalloc_free_64, 100000);

static uint64_t kmalloc_free_4096(uint64_t iterations)
{
    return kmalloc_free(iterations, 4096);
}
BENCH(kmalloc_free_4096, kmalloc_free_4096, 100000);

/* A 4 KiB page mapped and unmapped in the device region's scratch window. */
static uint64_t map_unmap_4k(uint64_t iterations)
{
    uintptr_t va = (arch_va_layout.devices.end - (4ull << 30)) & ~((1ull << 30) - 1);
    phys_addr_t frame = frame_alloc();
    if (!phys_is_valid(frame)) {
        bench_fail("no free frame to map");
        return 0;
    }
    uint64_t start = arch_read_timestamp_before();
    for (uint64_t i = 0; i < iterations; i++) {
        if (paging_map(&kernel_space, va, frame, PAGE_4K, PAGE_WRITE) != PAGING_OK) {
            bench_fail("paging_map failed in the scratch window");
            break;
        }
        if (paging_unmap(&kernel_space, va, PAGE_4K, NULL) != PAGING_OK) {
            bench_fail("paging_unmap failed in the scratch window");
            break;
        }
    }
    uint64_t elapsed = arch_read_timestamp_after() - start;
    frame_free(frame);
    return elapsed;
}
BENCH(map_unmap_4k, map_unmap_4k, 2000);

static uint64_t kstack_alloc_free(uint64_t iterations)
{
    struct kstack stack;
    uint64_t start = arch_read_timestamp_before();
    for (uint64_t i = 0; i < iterations; i++) {
        if (kstack_alloc(4096, &stack) != KSTACK_OK) {
            bench_fail("no memory for a stack");
            break;
        }
        kstack_free(&stack);
    }
    return arch_read_timestamp_after() - start;
}
BENCH(kstack_alloc_free, kstack_alloc_free, 2000);
