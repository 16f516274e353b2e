/* Helpers shared by the memory suites (frame, paging, heap, kstack). */
#ifndef EXO_TESTS_KTEST_MM_TEST_UTIL_H
#define EXO_TESTS_KTEST_MM_TEST_UTIL_H

#include "arch/fault.h"
#include "arch/mmu.h"
#include "kernel/ktest.h"
#include "lib/printf.h"
#include "mm/frame.h"
#include "mm/kstack.h"

#define MM_TEST_HELPER static __attribute__((unused, noinline))

MM_TEST_HELPER void mm_read_byte(void *arg)
{
    uint8_t value = *(volatile uint8_t *)arg;
    (void)value;
}

MM_TEST_HELPER void mm_write_byte(void *arg)
{
    *(volatile uint8_t *)arg = 0xa5;
}

/* Runs fn(addr) and expects a page fault at addr of the given kind. */
MM_TEST_HELPER void mm_expect_page_fault(struct ktest *t, void (*fn)(void *), void *addr,
                                         enum fault_access want_access, bool want_present)
{
    struct fault_info fault;
    enum fault_access access;
    bool present;
    if (!ktest_catch_fault(fn, addr, &fault)) {
        ktest_fail(t, __FILE__, __LINE__, "no fault accessing %p", addr);
        return;
    }
    if (!arch_fault_is_page_fault(&fault, &access, &present)) {
        ktest_fail(t, __FILE__, __LINE__, "%s instead of a page fault at %p",
                   arch_exception_name(fault.vector), addr);
        return;
    }
    KT_EXPECT_EQ(t, fault.fault_addr, (uint64_t)addr);
    KT_EXPECT_EQ(t, access, want_access);
    KT_EXPECT_EQ(t, present, want_present);
}

/* Frames free, with this CPU's cache emptied so counts compare exactly. */
MM_TEST_HELPER uint64_t mm_free_frames(void)
{
    struct frame_stats stats;
    kstack_flush(); /* freed stacks' frames come back in batches */
    frame_drain_cache();
    frame_get_stats(&stats);
    return stats.free_frames;
}

/*
 * For a test that needs `need_bytes` of free memory to mean anything: true when
 * there is that much; else the test is skipped saying how much it needs and how
 * much there is (a small guest, -m 16M, is not a failure of the kernel). The
 * reason lives in a static buffer: tests run one at a time.
 */
MM_TEST_HELPER bool mm_skip_unless_free(struct ktest *t, uint64_t need_bytes)
{
    static char reason[96];
    uint64_t free_bytes = mm_free_frames() * FRAME_SIZE;
    if (free_bytes >= need_bytes)
        return false;
    ksnprintf(reason, sizeof(reason), "needs %lu KiB of free memory, %lu KiB free",
              need_bytes >> 10, free_bytes >> 10);
    ktest_skip(t, reason);
    return true;
}

/* Below this much free memory a guest may be too fragmented for a large aligned run. */
#define MM_SMALL_GUEST_FREE_BYTES (64ull << 20)

/*
 * For a test that needs a free run of nframes frames aligned to `align` frames (a
 * 2 MiB page: 512 and 512): false when there is one; else, on a small guest, the
 * test is skipped saying so. Free memory of 10 MiB may hold no free, aligned 2 MiB
 * anywhere (the kernel image, the bitmap and the boot allocations sit across the
 * few 2 MiB boundaries there are). The allocator is asked (one run taken and given
 * back) only below MM_SMALL_GUEST_FREE_BYTES: on a bigger guest a missing run is a
 * failure of the test, not a reason to skip it.
 */
MM_TEST_HELPER bool mm_skip_unless_aligned_run(struct ktest *t, size_t nframes, size_t align)
{
    static char reason[128];
    uint64_t need = (uint64_t)nframes * FRAME_SIZE;
    if (mm_skip_unless_free(t, need))
        return true;
    uint64_t free_bytes = mm_free_frames() * FRAME_SIZE;
    if (free_bytes >= MM_SMALL_GUEST_FREE_BYTES)
        return false;
    frame_drain_cache(); /* cached single frames may be what breaks a run */
    phys_addr_t run = frame_alloc_run(nframes, align);
    if (phys_is_valid(run)) {
        frame_free_run(run, nframes);
        return false;
    }
    ksnprintf(reason, sizeof(reason),
              "no free run of %lu KiB aligned to %lu KiB in %lu KiB free (a small guest)",
              need >> 10, (uint64_t)align * FRAME_SIZE >> 10, free_bytes >> 10);
    ktest_skip(t, reason);
    return true;
}

/* Takes every free frame, linked through their first words; returns the list's
 * head (PHYS_INVALID when none was free) and the count in *taken if asked. */
MM_TEST_HELPER phys_addr_t mm_take_all_frames(uint64_t *taken)
{
    phys_addr_t list = PHYS_INVALID;
    uint64_t n = 0;
    for (;; n++) {
        phys_addr_t f = frame_alloc();
        if (!phys_is_valid(f))
            break;
        *(uint64_t *)arch_phys_to_virt(f.value) = list.value;
        list = f;
    }
    if (taken)
        *taken = n;
    return list;
}

/* The first frame of a list of mm_take_all_frames, given back; returns the rest. */
MM_TEST_HELPER phys_addr_t mm_give_back_one(phys_addr_t list)
{
    phys_addr_t next = phys(*(uint64_t *)arch_phys_to_virt(list.value));
    frame_free(list);
    return next;
}

/* Gives back every frame of a list of mm_take_all_frames. */
MM_TEST_HELPER void mm_give_back_all(phys_addr_t list)
{
    while (phys_is_valid(list))
        list = mm_give_back_one(list);
}

#endif
