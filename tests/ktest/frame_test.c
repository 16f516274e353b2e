/* Suite `frame`: the physical frame allocator on the live machine. */
#include "kernel/boot.h"
#include "kernel/ktest.h"
#include "base/panic.h"
#include "mm/frame.h"
#include "mm_test_util.h"
#include "arch/mmu.h"

extern char __kernel_phys_start[], __kernel_phys_end[];

static bool in_usable_region(uint64_t start, uint64_t end)
{
    const struct boot_info *info = boot_info();
    for (size_t i = 0; i < info->mmap_count; i++) {
        const struct mmap_entry *e = &info->mmap[i];
        if (e->type == MMAP_USABLE && start >= e->base_phys &&
            end <= e->base_phys + e->length_bytes)
            return true;
    }
    return false;
}

static bool overlaps_kernel(uint64_t start, uint64_t end)
{
    return start < (uint64_t)__kernel_phys_end && (uint64_t)__kernel_phys_start < end;
}

/* Each frame holds its own address, so overlapping handouts would overwrite one. */
static void frame_alloc_returns_distinct_usable_frames(struct ktest *t)
{
    /* 2000 frames, and room for the rest of the kernel meanwhile. */
    if (mm_skip_unless_free(t, (2000 + 256) * FRAME_SIZE))
        return;
    enum { COUNT = 2000 };
    uint64_t before = mm_free_frames();
    phys_addr_t first = PHYS_INVALID;
    for (int i = 0; i < COUNT; i++) {
        phys_addr_t f = frame_alloc();
        KT_ASSERT(t, phys_is_valid(f));
        KT_EXPECT_EQ(t, f.value & (FRAME_SIZE - 1), 0);
        KT_EXPECT(t, f.value >= 0x100000);
        KT_EXPECT(t, in_usable_region(f.value, f.value + FRAME_SIZE));
        KT_EXPECT(t, !overlaps_kernel(f.value, f.value + FRAME_SIZE));
        uint64_t *words = arch_phys_to_virt(f.value);
        words[0] = f.value;
        words[1] = first.value; /* a list through the frames */
        first = f;
    }
    int seen = 0;
    while (phys_is_valid(first)) {
        uint64_t *words = arch_phys_to_virt(first.value);
        KT_EXPECT_EQ(t, words[0], first.value);
        phys_addr_t next = phys(words[1]);
        frame_free(first);
        first = next;
        seen++;
    }
    KT_EXPECT_EQ(t, seen, COUNT);
    KT_EXPECT_EQ(t, mm_free_frames(), before);
}

static void frame_exhaust_then_free_restores_count(struct ktest *t)
{
    uint64_t before = mm_free_frames();
    uint64_t taken = 0;
    phys_addr_t list = mm_take_all_frames(&taken);
    KT_EXPECT_EQ(t, taken, before);
    struct frame_stats empty;
    frame_get_stats(&empty);
    KT_EXPECT_EQ(t, empty.free_frames, 0);
    KT_EXPECT(t, !phys_is_valid(frame_alloc_run(1, 1)));
    mm_give_back_all(list);
    KT_EXPECT_EQ(t, mm_free_frames(), before);
    ktest_note(t, "%lu frames taken and given back", taken);
}

static void frame_runs_are_contiguous_and_aligned(struct ktest *t)
{
    /* 632 frames in runs (2.5 MiB), one of them 2 MiB-aligned. */
    if (mm_skip_unless_free(t, 3ull << 20) || mm_skip_unless_aligned_run(t, 512, 512))
        return;
    static const struct {
        size_t nframes, align;
    } runs[] = {{1, 1}, {3, 8}, {16, 16}, {512, 512}, {100, 256}};
    phys_addr_t got[sizeof(runs) / sizeof(runs[0])];
    uint64_t before = mm_free_frames();
    for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
        got[i] = frame_alloc_run(runs[i].nframes, runs[i].align);
        KT_ASSERT(t, phys_is_valid(got[i]));
        KT_EXPECT_EQ(t, (got[i].value >> FRAME_SHIFT) % runs[i].align, 0);
        uint64_t end = got[i].value + runs[i].nframes * FRAME_SIZE;
        KT_EXPECT(t, in_usable_region(got[i].value, end));
        KT_EXPECT(t, !overlaps_kernel(got[i].value, end));
        for (size_t j = 0; j < i; j++) {
            uint64_t other_end = got[j].value + runs[j].nframes * FRAME_SIZE;
            KT_EXPECT(t, end <= got[j].value || other_end <= got[i].value);
        }
    }
    for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++)
        frame_free_run(got[i], runs[i].nframes);
    KT_EXPECT_EQ(t, mm_free_frames(), before);
}

static void frame_impossible_runs_fail_cleanly(struct ktest *t)
{
    struct frame_stats stats;
    uint64_t before = mm_free_frames();
    frame_get_stats(&stats);
    KT_EXPECT(t, !phys_is_valid(frame_alloc_run(stats.total_frames + 1, 1)));
    KT_EXPECT(t, !phys_is_valid(frame_alloc_run(0, 1)));
    KT_EXPECT(t, !phys_is_valid(frame_alloc_run(4, 3)));
    KT_EXPECT(t, !phys_is_valid(frame_alloc_run(4, 0)));
    KT_EXPECT_EQ(t, mm_free_frames(), before);
}

static void frame_cached_frames_count_as_free(struct ktest *t)
{
    struct frame_stats a, b;
    frame_get_stats(&a);
    phys_addr_t f = frame_alloc(); /* may refill the cache from the bitmap */
    KT_ASSERT(t, phys_is_valid(f));
    frame_get_stats(&b);
    KT_EXPECT_EQ(t, b.free_frames, a.free_frames - 1);
    frame_free(f);
    frame_get_stats(&b);
    KT_EXPECT_EQ(t, b.free_frames, a.free_frames);
    frame_drain_cache();
    frame_get_stats(&b);
    KT_EXPECT_EQ(t, b.free_frames, a.free_frames);
}

static void frame_stats_are_consistent(struct ktest *t)
{
    struct frame_stats s;
    frame_get_stats(&s);
    KT_EXPECT(t, s.total_frames > 0);
    KT_EXPECT(t, s.reserved_frames < s.total_frames);
    KT_EXPECT(t, s.free_frames <= s.total_frames - s.reserved_frames);
    KT_EXPECT(t, s.highest_phys >= s.total_frames * FRAME_SIZE);
    uint64_t kernel_frames = ((uint64_t)__kernel_phys_end - (uint64_t)__kernel_phys_start) >>
                             FRAME_SHIFT;
    KT_EXPECT(t, s.reserved_frames >= kernel_frames);
}

KTEST_SUITE(frame, KTEST(frame_alloc_returns_distinct_usable_frames),
            KTEST(frame_exhaust_then_free_restores_count),
            KTEST(frame_runs_are_contiguous_and_aligned),
            KTEST(frame_impossible_runs_fail_cleanly), KTEST(frame_cached_frames_count_as_free),
            KTEST(frame_stats_are_consistent));

static void crash_frame_double_free(struct ktest *t)
{
    phys_addr_t f = frame_alloc();
    KT_ASSERT(t, phys_is_valid(f));
    frame_free(f);
    frame_free(f); /* must panic: "frame: double free of frame 0x..." */
    ktest_fail(t, __FILE__, __LINE__, "the second free of 0x%lx went unnoticed", f.value);
}

KTEST_CRASH_SUITE(crash_frame_double_free, KTEST(crash_frame_double_free));
