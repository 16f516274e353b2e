/* Suite `kstack`: kernel stacks and their guard pages. */
#include "kernel/ktest.h"
#include "mm/frame.h"
#include "mm/heap.h"
#include "mm/kstack.h"
#include "mm/paging.h"
#include "sched/thread.h"
#include "mm_test_util.h"
#include "arch/context.h"
#include "arch/fault.h"

static void kstack_is_mapped_with_a_guard_below(struct ktest *t)
{
    uint64_t frames_before = mm_free_frames();
    size_t live = kstack_count();
    struct kstack s;
    KT_ASSERT(t, kstack_alloc(16384, &s) == KSTACK_OK);
    KT_EXPECT_EQ(t, s.top - s.bottom, 16384);
    KT_EXPECT_EQ(t, s.top % 16, 0);
    KT_EXPECT_EQ(t, kstack_count(), live + 1);
    struct translation tr;
    for (uintptr_t va = s.bottom; va < s.top; va += 4096) {
        KT_EXPECT(t, paging_translate(&kernel_space, va, &tr));
        KT_EXPECT_EQ(t, tr.flags & (PAGE_WRITE | PAGE_EXEC), PAGE_WRITE);
        *(volatile uint64_t *)va = va;
    }
    KT_EXPECT(t, !paging_translate(&kernel_space, s.bottom - 1, &tr));
    KT_EXPECT(t, kstack_is_guard(s.bottom - 1));
    KT_EXPECT(t, !kstack_is_guard(s.bottom));
    mm_expect_page_fault(t, mm_read_byte, (void *)(s.bottom - 8), FAULT_ACCESS_READ, false);
    mm_expect_page_fault(t, mm_write_byte, (void *)(s.bottom - 1), FAULT_ACCESS_WRITE, false);
    kstack_free(&s);
    KT_EXPECT_EQ(t, kstack_count(), live);
    kstack_flush(); /* a freed stack may wait, mapped, in a per-CPU cache until then */
    KT_EXPECT(t, !paging_translate(&kernel_space, s.bottom, &tr));
    KT_EXPECT_EQ(t, mm_free_frames(), frames_before);
}

struct where {
    uintptr_t local_address;
};

static void note_stack(void *arg)
{
    volatile int local = 0;
    ((struct where *)arg)->local_address = (uintptr_t)&local;
}

static void kstack_runs_code_on_its_stack(struct ktest *t)
{
    struct kstack s;
    KT_ASSERT(t, kstack_alloc(8192, &s) == KSTACK_OK);
    struct where w = {0};
    arch_call_on_stack(note_stack, &w, s.top);
    KT_EXPECT(t, w.local_address >= s.bottom && w.local_address < s.top);
    kstack_free(&s);
}

/*
 * Frames free plus frames in heap arenas: what a stack's life must leave as it was.
 * kstack keeps its free slot numbers in kmalloc'd chunks, and taking the last slot
 * of a chunk kfrees it; when that empties a heap arena the heap gives the arena's
 * 512 frames back, and a later chunk may make it map one again. Counting free
 * frames alone, as this test once did, saw those arenas come and go: at 64 CPUs and
 * more the per-CPU descriptor tables fill the first arena, the chunks land in a
 * second, and the test failed with 512 frames "too many" though every frame of
 * every stack had come back.
 */
static uint64_t frames_free_or_in_heap(struct ktest *t)
{
    struct heap_stats heap;
    uint64_t free = mm_free_frames();
    heap_get_stats(&heap);
    ktest_note(t, "%lu frames free, %zu heap arenas", free, heap.arenas);
    return free + heap.arenas * ((1ull << HEAP_MAX_ORDER) / FRAME_SIZE);
}

static void kstack_sizes_and_bad_sizes(struct ktest *t)
{
    struct kstack s[6];
    size_t sizes[] = {1, 4096, 4097, 65536, 100000, KSTACK_MAX_BYTES};
    /* Their pages, and a page table or two per stack on a small guest. */
    uint64_t need_frames = 2 * 6;
    for (size_t i = 0; i < 6; i++)
        need_frames += (sizes[i] + FRAME_SIZE - 1) / FRAME_SIZE;
    if (mm_skip_unless_free(t, need_frames * FRAME_SIZE))
        return;
    uint64_t frames_before = frames_free_or_in_heap(t);
    for (size_t i = 0; i < 6; i++) {
        KT_ASSERT(t, kstack_alloc(sizes[i], &s[i]) == KSTACK_OK);
        KT_EXPECT(t, s[i].top - s[i].bottom >= sizes[i]);
        KT_EXPECT(t, kstack_is_guard(s[i].bottom - 1));
        for (size_t j = 0; j < i; j++)
            KT_EXPECT(t, s[i].top <= s[j].bottom - 4096 || s[j].top <= s[i].bottom - 4096);
    }
    for (size_t i = 0; i < 6; i++)
        kstack_free(&s[i]);
    struct kstack bad;
    KT_EXPECT_EQ(t, kstack_alloc(0, &bad), KSTACK_ERR_TOO_LARGE);
    KT_EXPECT_EQ(t, kstack_alloc(KSTACK_MAX_BYTES + 1, &bad), KSTACK_ERR_TOO_LARGE);
    KT_EXPECT_EQ(t, frames_free_or_in_heap(t), frames_before);
}

static void kstack_many_stacks_reuse_slots(struct ktest *t)
{
    enum { COUNT = 3000 };
    static struct kstack stacks[COUNT];
    /* A one-page stack takes a frame (its guard is unmapped), and every 256
     * two-page slots a page table; a little to spare for the rest. */
    if (mm_skip_unless_free(t, (uint64_t)(COUNT + COUNT / 256 + 64) * FRAME_SIZE))
        return;
    for (int round = 0; round < 2; round++) {
        int made = 0;
        while (made < COUNT && kstack_alloc(4096, &stacks[made]) == KSTACK_OK)
            made++;
        KT_EXPECT_EQ(t, made, COUNT);
        for (int i = 0; i < made; i++)
            kstack_free(&stacks[i]); /* all of them, even after a failure */
        if (made < COUNT)
            return;
    }
}

static bool is_mapped(uintptr_t va)
{
    struct translation tr;
    return paging_translate(&kernel_space, va, &tr);
}

/* Frames free, this CPU's frame cache drained, the stack caches left as they are
 * (mm_free_frames empties them). */
static uint64_t free_frames_keeping_stack_caches(void)
{
    struct frame_stats stats;
    frame_drain_cache();
    frame_get_stats(&stats);
    return stats.free_frames;
}

/* Pinned, so that every call sees one CPU's cache; emptied first (kstack_flush). */
static void pin_and_empty_caches(void)
{
    thread_set_own_affinity((int)arch_cpu_index());
    thread_yield();
    kstack_flush();
}

/* A miss of an empty cache maps a batch of stacks at once: the next allocation
 * of that size takes one of them, without a frame. */
static void kstack_cache_miss_maps_a_batch(struct ktest *t)
{
    struct kstack first, second;
    pin_and_empty_caches();
    uint64_t frames_before = mm_free_frames();
    KT_ASSERT(t, kstack_alloc(4096, &first) == KSTACK_OK);
    uint64_t frames_after_first = free_frames_keeping_stack_caches();
    KT_EXPECT(t, frames_before - frames_after_first >= 3); /* its frame and 2+ cached */
    KT_ASSERT(t, kstack_alloc(4096, &second) == KSTACK_OK);
    KT_EXPECT_EQ(t, free_frames_keeping_stack_caches(), frames_after_first);
    KT_EXPECT(t, is_mapped(second.bottom) && kstack_is_guard(second.bottom - 1));
    KT_EXPECT(t, second.bottom != first.bottom);
    kstack_free(&first);
    kstack_free(&second);
    kstack_flush();
    KT_EXPECT_EQ(t, mm_free_frames(), frames_before);
    thread_set_own_affinity(THREAD_ANY_CPU);
}

/* Frees past a full cache unmap the older half of it with the stack freed, in one
 * batch: what stays mapped is at most a cache's worth, the rest are guard pages. */
static void kstack_full_cache_unmaps_in_batches(struct ktest *t)
{
    enum { COUNT = 40 };
    struct kstack s[COUNT];
    pin_and_empty_caches();
    uint64_t frames_before = mm_free_frames();
    for (int i = 0; i < COUNT; i++)
        KT_ASSERT(t, kstack_alloc(4096, &s[i]) == KSTACK_OK);
    uint64_t live = kstack_count();
    for (int i = 0; i < COUNT; i++)
        kstack_free(&s[i]);
    KT_EXPECT_EQ(t, kstack_count(), live - COUNT);
    int mapped = 0;
    for (int i = 0; i < COUNT; i++)
        mapped += is_mapped(s[i].bottom);
    KT_EXPECT(t, mapped > 0 && mapped <= 16);
    KT_EXPECT(t, !is_mapped(s[0].bottom) && kstack_is_guard(s[0].bottom));
    kstack_flush();
    for (int i = 0; i < COUNT; i++)
        KT_EXPECT(t, !is_mapped(s[i].bottom));
    KT_EXPECT_EQ(t, mm_free_frames(), frames_before);
    thread_set_own_affinity(THREAD_ANY_CPU);
}

/* With no frame free at all, a cache miss fails cleanly: KSTACK_ERR_NO_MEMORY, no
 * stack counted, every slot and frame back (the batch's refill once took its
 * first failed frame for a whole mapped batch and wrote through garbage). */
static void kstack_alloc_without_frames_fails_cleanly(struct ktest *t)
{
    pin_and_empty_caches();
    uint64_t before = mm_free_frames();
    uint64_t live = kstack_count();
    phys_addr_t list = mm_take_all_frames(NULL);
    struct kstack s;
    int small = kstack_alloc(4096, &s), large = kstack_alloc(16384, &s);
    mm_give_back_all(list);
    KT_EXPECT_EQ(t, small, KSTACK_ERR_NO_MEMORY);
    KT_EXPECT_EQ(t, large, KSTACK_ERR_NO_MEMORY);
    KT_EXPECT_EQ(t, kstack_count(), live);
    KT_ASSERT(t, kstack_alloc(4096, &s) == KSTACK_OK); /* and the slots still serve */
    kstack_free(&s);
    kstack_flush();
    KT_EXPECT_EQ(t, mm_free_frames(), before);
    thread_set_own_affinity(THREAD_ANY_CPU);
}

KTEST_SUITE(kstack, KTEST(kstack_is_mapped_with_a_guard_below),
            KTEST(kstack_runs_code_on_its_stack), KTEST(kstack_sizes_and_bad_sizes),
            KTEST(kstack_many_stacks_reuse_slots), KTEST(kstack_cache_miss_maps_a_batch),
            KTEST(kstack_full_cache_unmaps_in_batches),
            KTEST(kstack_alloc_without_frames_fails_cleanly));

static void crash_kstack_double_free(struct ktest *t)
{
    struct kstack s;
    KT_ASSERT(t, kstack_alloc(4096, &s) == KSTACK_OK);
    kstack_free(&s);
    kstack_free(&s);
    ktest_fail(t, __FILE__, __LINE__, "the second kstack_free went unnoticed");
}
KTEST_CRASH_SUITE(crash_kstack_double_free, KTEST(crash_kstack_double_free));

/* A stack too large for the per-CPU caches is unmapped at once: the second free
 * finds its lowest page unmapped (free_unmapping, under the lock). */
static void crash_kstack_double_free_large(struct ktest *t)
{
    struct kstack s;
    KT_ASSERT(t, kstack_alloc(64 * 1024, &s) == KSTACK_OK);
    kstack_free(&s);
    kstack_free(&s);
    ktest_fail(t, __FILE__, __LINE__, "the second kstack_free went unnoticed");
}
KTEST_CRASH_SUITE(crash_kstack_double_free_large, KTEST(crash_kstack_double_free_large));

/* The oldest stack freed into a full cache was unmapped with its batch: freeing
 * it again is the double-free panic. */
static void crash_kstack_double_free_after_batch(struct ktest *t)
{
    enum { COUNT = 40 };
    struct kstack s[COUNT];
    pin_and_empty_caches();
    for (int i = 0; i < COUNT; i++)
        KT_ASSERT(t, kstack_alloc(4096, &s[i]) == KSTACK_OK);
    for (int i = 0; i < COUNT; i++)
        kstack_free(&s[i]);
    kstack_free(&s[0]);
    ktest_fail(t, __FILE__, __LINE__, "the second kstack_free went unnoticed");
}
KTEST_CRASH_SUITE(crash_kstack_double_free_after_batch,
                  KTEST(crash_kstack_double_free_after_batch));

/* Recurses until `limit` (far beyond any stack): the guard page stops it first. */
static __attribute__((noinline)) unsigned recurse_deeply(unsigned depth, unsigned limit)
{
    volatile uint8_t frame[256];
    frame[0] = (uint8_t)depth;
    if (depth == limit)
        return frame[0];
    return recurse_deeply(depth + 1, limit) + frame[0];
}

static void overflow(void *arg)
{
    (void)arg;
    recurse_deeply(0, 1u << 30);
}

static void crash_stack_overflow(struct ktest *t)
{
    struct kstack s;
    KT_ASSERT(t, kstack_alloc(8192, &s) == KSTACK_OK);
    arch_call_on_stack(overflow, NULL, s.top);
    ktest_fail(t, __FILE__, __LINE__, "running off the stack went unnoticed");
}
KTEST_CRASH_SUITE(crash_stack_overflow, KTEST(crash_stack_overflow));
