/* vmspace: user address spaces (include/mm/vmspace.h). */
#include "arch/mmu.h"
#include "kernel/ktest.h"
#include "lib/errno.h"
#include "lib/string.h"
#include "mm/frame_ref.h"
#include "mm/heap.h"
#include "mm/vmspace.h"
#include "mm_test_util.h"
#include "sched/thread.h"

#define VA 0x400000ull

struct mm_counts {
    uint64_t frames;
    size_t heap_blocks;
    uint64_t tables;
};

static struct mm_counts counts_now(void)
{
    struct heap_stats h;
    heap_get_stats(&h);
    return (struct mm_counts){mm_free_frames(), h.blocks_in_use, paging_table_pages()};
}

/* The counts once the rest of the kernel is quiet: threads of earlier suites may
 * still be finishing on other CPUs, freeing as they go. */
static struct mm_counts counts_settled(void)
{
    struct mm_counts a = counts_now();
    for (int i = 0; i < 50; i++) {
        thread_sleep_ns(2000000);
        struct mm_counts b = counts_now();
        if (a.frames == b.frames && a.heap_blocks == b.heap_blocks && a.tables == b.tables)
            break;
        a = b;
    }
    return a;
}

static void expect_counts(struct ktest *t, struct mm_counts before)
{
    struct mm_counts after = counts_now();
    KT_EXPECT_EQ(t, after.frames, before.frames);
    KT_EXPECT_EQ(t, after.heap_blocks, before.heap_blocks);
    KT_EXPECT_EQ(t, after.tables, before.tables);
}

static void vmspace_wx_region_is_refused_with_eacces(struct ktest *t)
{
    struct vmspace *vs = vmspace_create();
    KT_ASSERT(t, vs != NULL);
    uintptr_t va = VA;
    KT_EXPECT_EQ(t, vmspace_map(vs, &va, 4096, VM_READ | VM_WRITE | VM_EXEC, VMSPACE_FIXED),
                 -EACCES);
    KT_EXPECT_EQ(t, vmspace_map(vs, &va, 4096, VM_READ | VM_WRITE, VMSPACE_FIXED), 0);
    KT_EXPECT_EQ(t, vmspace_protect(vs, va, 4096, VM_READ | VM_WRITE | VM_EXEC), -EACCES);
    KT_EXPECT_EQ(t, vmspace_protect(vs, va, 4096, VM_READ | VM_EXEC), 0);
    KT_EXPECT_EQ(t, paging_audit_wx(vs->as, NULL, NULL), 0);
    vmspace_destroy(vs);
}

static void vmspace_pages_appear_on_first_touch_with_their_rights(struct ktest *t)
{
    struct vmspace *vs = vmspace_create();
    KT_ASSERT(t, vs != NULL);
    uintptr_t va = VA;
    KT_ASSERT(t, vmspace_map(vs, &va, 3 * 4096, VM_READ | VM_WRITE, VMSPACE_FIXED) == 0);
    struct translation tr;
    KT_EXPECT(t, !paging_translate(vs->as, va, &tr));
    KT_EXPECT_EQ(t, vmspace_fault(vs, va + 4096 + 5, VM_ACCESS_WRITE), 0);
    KT_ASSERT(t, paging_translate(vs->as, va + 4096, &tr));
    KT_EXPECT_EQ(t, tr.flags & (PAGE_USER | PAGE_WRITE | PAGE_EXEC), PAGE_USER | PAGE_WRITE);
    KT_EXPECT_EQ(t, vs->resident_pages, 1);
    /* Not executable, nothing outside the region. */
    KT_EXPECT_EQ(t, vmspace_fault(vs, va, VM_ACCESS_EXEC), -EFAULT);
    KT_EXPECT_EQ(t, vmspace_fault(vs, va + 3 * 4096, VM_ACCESS_READ), -EFAULT);
    KT_EXPECT_EQ(t, vmspace_fault(vs, 0, VM_ACCESS_READ), -EFAULT);
    vmspace_destroy(vs);
}

static void vmspace_unmap_and_protect_split_regions(struct ktest *t)
{
    struct vmspace *vs = vmspace_create();
    KT_ASSERT(t, vs != NULL);
    uintptr_t va = VA;
    KT_ASSERT(t, vmspace_map(vs, &va, 4 * 4096, VM_READ | VM_WRITE, VMSPACE_FIXED) == 0);
    KT_EXPECT_EQ(t, vmspace_region_count(vs), 1);
    KT_EXPECT_EQ(t, vmspace_protect(vs, va + 4096, 4096, VM_READ), 0);
    KT_EXPECT_EQ(t, vmspace_region_count(vs), 3);
    KT_EXPECT_EQ(t, vmspace_fault(vs, va + 4096, VM_ACCESS_WRITE), -EFAULT);
    KT_EXPECT_EQ(t, vmspace_protect(vs, va + 4096, 4096, VM_READ | VM_WRITE), 0);
    KT_EXPECT_EQ(t, vmspace_region_count(vs), 1); /* merged again */
    KT_EXPECT_EQ(t, vmspace_unmap(vs, va + 2 * 4096, 4096), 0);
    KT_EXPECT_EQ(t, vmspace_region_count(vs), 2);
    KT_EXPECT_EQ(t, vmspace_fault(vs, va + 2 * 4096, VM_ACCESS_READ), -EFAULT);
    /* mprotect of a range with a hole: ENOMEM, as Linux. */
    KT_EXPECT_EQ(t, vmspace_protect(vs, va, 4 * 4096, VM_READ), -ENOMEM);
    KT_EXPECT_EQ(t, vmspace_unmap(vs, va + 1, 4096), -EINVAL);
    vmspace_destroy(vs);
}

static void vmspace_mmap_without_address_finds_distinct_gaps(struct ktest *t)
{
    struct vmspace *vs = vmspace_create();
    KT_ASSERT(t, vs != NULL);
    uintptr_t a = 0, b = 0;
    KT_ASSERT(t, vmspace_map(vs, &a, 8192, VM_READ, 0) == 0);
    KT_ASSERT(t, vmspace_map(vs, &b, 4096, VM_READ, 0) == 0);
    KT_EXPECT(t, a >= VMSPACE_USER_MIN && a + 8192 <= VMSPACE_USER_END);
    KT_EXPECT(t, b + 4096 <= a || b >= a + 8192);
    KT_EXPECT_EQ(t, a & 4095, 0);
    vmspace_destroy(vs);
}

static void vmspace_brk_grows_and_shrinks(struct ktest *t)
{
    struct vmspace *vs = vmspace_create();
    KT_ASSERT(t, vs != NULL);
    vmspace_init_brk(vs, 0x600123);
    KT_EXPECT_EQ(t, vs->brk, 0x601000);
    KT_EXPECT_EQ(t, vmspace_set_brk(vs, 0), 0x601000);
    KT_EXPECT_EQ(t, vmspace_set_brk(vs, 0x603010), 0x603010);
    KT_EXPECT_EQ(t, vmspace_fault(vs, 0x603000, VM_ACCESS_WRITE), 0);
    KT_EXPECT_EQ(t, vmspace_set_brk(vs, 0x602000), 0x602000);
    KT_EXPECT_EQ(t, vmspace_fault(vs, 0x603000, VM_ACCESS_WRITE), -EFAULT);
    KT_EXPECT_EQ(t, vs->resident_pages, 0);
    vmspace_destroy(vs);
}

static void vmspace_two_spaces_hold_different_data_at_one_address(struct ktest *t)
{
    struct vmspace *a = vmspace_create(), *b = vmspace_create();
    KT_ASSERT(t, a && b);
    uintptr_t va = VA;
    KT_ASSERT(t, vmspace_map(a, &va, 4096, VM_READ | VM_WRITE, VMSPACE_FIXED) == 0);
    KT_ASSERT(t, vmspace_map(b, &va, 4096, VM_READ | VM_WRITE, VMSPACE_FIXED) == 0);
    KT_EXPECT_EQ(t, vmspace_write(a, va + 8, "alpha", 6), 0);
    KT_EXPECT_EQ(t, vmspace_write(b, va + 8, "beta", 5), 0);
    char got[8];
    KT_EXPECT_EQ(t, vmspace_read(a, va + 8, got, 6), 0);
    KT_EXPECT_STREQ(t, got, "alpha");
    KT_EXPECT_EQ(t, vmspace_read(b, va + 8, got, 5), 0);
    KT_EXPECT_STREQ(t, got, "beta");
    KT_EXPECT_EQ(t, vmspace_write(a, va + 4090, "straddles", 9), -EFAULT);
    vmspace_destroy(a);
    vmspace_destroy(b);
}

static void vmspace_activation_records_the_cpu(struct ktest *t)
{
    struct vmspace *vs = vmspace_create();
    KT_ASSERT(t, vs != NULL);
    bool irq = arch_irq_save_disable(); /* stay on this CPU */
    unsigned self = arch_cpu_index();
    KT_EXPECT_EQ(t, cpuset_first_except_atomic(&vs->as->tlb.cpus, self), ARCH_MAX_CPUS);
    KT_EXPECT(t, !cpuset_test_atomic(&vs->as->tlb.cpus, self));
    vmspace_activate(vs);
    KT_EXPECT_EQ(t, arch_mmu_root(), vs->as->root.value);
    KT_EXPECT(t, cpuset_test_atomic(&vs->as->tlb.cpus, self));
    KT_EXPECT_EQ(t, cpuset_first_except_atomic(&vs->as->tlb.cpus, self), ARCH_MAX_CPUS);
    vmspace_activate(NULL);
    KT_EXPECT_EQ(t, arch_mmu_root(), kernel_space.root.value);
    arch_irq_restore(irq);
    KT_EXPECT(t, vs->as->tlb.id != 0);
    vmspace_destroy(vs);
}

static void vmspace_destroy_restores_frame_heap_and_table_counts(struct ktest *t)
{
    struct mm_counts before = counts_settled();
    struct vmspace *vs = vmspace_create();
    KT_ASSERT(t, vs != NULL);
    for (unsigned i = 0; i < 8; i++) {
        uintptr_t va = 0;
        KT_ASSERT(t, vmspace_map(vs, &va, 5 * 4096, VM_READ | VM_WRITE, 0) == 0);
        KT_EXPECT_EQ(t, vmspace_write(vs, va + 4096 * (i % 5), &i, sizeof(i)), 0);
    }
    uintptr_t far = 0x7000000000ull;
    KT_ASSERT(t, vmspace_map(vs, &far, 4096, VM_READ | VM_WRITE, VMSPACE_FIXED) == 0);
    KT_EXPECT_EQ(t, vmspace_fault(vs, far, VM_ACCESS_WRITE), 0);
    KT_EXPECT_EQ(t, vs->resident_pages, 9);
    vmspace_destroy(vs);
    expect_counts(t, before);
}

/* The frame mapped at va, or 0. */
static uint64_t frame_at(struct vmspace *vs, uintptr_t va)
{
    struct translation tr;
    return paging_translate(vs->as, va, &tr) ? tr.pa.value & ~0xfffull : 0;
}

static bool writable_at(struct vmspace *vs, uintptr_t va)
{
    struct translation tr;
    return paging_translate(vs->as, va, &tr) && (tr.flags & PAGE_WRITE);
}

static void vmspace_fork_then_both_write_gives_different_frames(struct ktest *t)
{
    struct mm_counts before = counts_settled();
    uint64_t shared_before = frame_ref_shared_total();
    struct vmspace *parent = vmspace_create(), *child = NULL;
    KT_ASSERT(t, parent != NULL);
    uintptr_t va = VA;
    KT_ASSERT(t, vmspace_map(parent, &va, 2 * 4096, VM_READ | VM_WRITE, VMSPACE_FIXED) == 0);
    KT_EXPECT_EQ(t, vmspace_write(parent, va, "parent", 7), 0);
    KT_ASSERT(t, vmspace_fork(parent, &child) == 0);
    /* After fork: one frame, mapped read-only in both, one extra reference. */
    uint64_t frame = frame_at(parent, va);
    KT_EXPECT(t, frame != 0);
    KT_EXPECT_EQ(t, frame_at(child, va), frame);
    KT_EXPECT(t, !writable_at(parent, va) && !writable_at(child, va));
    KT_EXPECT(t, frame_ref_is_shared(phys(frame)));
    KT_EXPECT_EQ(t, frame_ref_shared_total(), shared_before + 1);
    /* The child's write copies; the parent's then takes the frame back. */
    KT_EXPECT_EQ(t, vmspace_fault(child, va, VM_ACCESS_WRITE), 0);
    KT_EXPECT_EQ(t, vmspace_write(child, va, "child", 6), 0);
    uint64_t child_frame = frame_at(child, va);
    KT_EXPECT(t, child_frame != 0 && child_frame != frame);
    KT_EXPECT_EQ(t, frame_ref_shared_total(), shared_before);
    KT_EXPECT_EQ(t, vmspace_fault(parent, va, VM_ACCESS_WRITE), 0);
    KT_EXPECT_EQ(t, frame_at(parent, va), frame);
    KT_EXPECT(t, writable_at(parent, va) && writable_at(child, va));
    char got[8];
    KT_EXPECT_EQ(t, vmspace_read(parent, va, got, 7), 0);
    KT_EXPECT_STREQ(t, got, "parent");
    KT_EXPECT_EQ(t, vmspace_read(child, va, got, 6), 0);
    KT_EXPECT_STREQ(t, got, "child");
    /* A page never populated before fork is private to whoever touches it. */
    KT_EXPECT_EQ(t, vmspace_fault(child, va + 4096, VM_ACCESS_WRITE), 0);
    KT_EXPECT_EQ(t, frame_at(parent, va + 4096), 0);
    vmspace_destroy(child);
    vmspace_destroy(parent);
    KT_EXPECT_EQ(t, frame_ref_shared_total(), shared_before);
    expect_counts(t, before);
}

/* Two regions side by side across a 1 GiB boundary (so over two of each table
 * below the root), with holes: the child maps exactly the parent's present pages,
 * to the same frames, with as many tables as the parent (none for a hole). */
static void vmspace_fork_copies_present_pages_across_tables_and_no_holes(struct ktest *t)
{
    struct mm_counts before = counts_settled();
    const uintptr_t gib = 1ull << 30, page = 4096;
    struct vmspace *parent = vmspace_create(), *child = NULL;
    KT_ASSERT(t, parent != NULL);
    uintptr_t a = gib - 3 * page, b = gib + 3 * page;
    KT_ASSERT(t, vmspace_map(parent, &a, 6 * page, VM_READ | VM_WRITE, VMSPACE_FIXED) == 0);
    KT_ASSERT(t, vmspace_map(parent, &b, 2 * page, VM_READ, VMSPACE_FIXED) == 0);
    static const bool touched[8] = {true, false, true, false, true, true, false, true};
    for (unsigned i = 0; i < 8; i++) {
        if (touched[i])
            KT_EXPECT_EQ(t, vmspace_fault(parent, a + i * page,
                                          i < 6 ? VM_ACCESS_WRITE : VM_ACCESS_READ), 0);
    }
    uint64_t parent_tables = paging_table_pages() - before.tables;
    KT_ASSERT(t, vmspace_fork(parent, &child) == 0);
    KT_EXPECT_EQ(t, paging_table_pages() - before.tables, 2 * parent_tables);
    for (unsigned i = 0; i < 8; i++) {
        uintptr_t va = a + i * page;
        KT_EXPECT_EQ(t, frame_at(child, va), frame_at(parent, va));
        KT_EXPECT_EQ(t, frame_at(child, va) != 0, touched[i]);
        KT_EXPECT(t, !writable_at(parent, va) && !writable_at(child, va));
    }
    KT_EXPECT_EQ(t, frame_at(child, a - page), 0);
    KT_EXPECT_EQ(t, frame_at(child, b + 2 * page), 0);
    vmspace_destroy(child);
    vmspace_destroy(parent);
    expect_counts(t, before);
}

/* A region made from an image: nothing is populated until touched; each page then
 * holds the image where it covers it and zeros around, also after a split, a
 * discard and a fork; an image outside its region is refused. */
static void vmspace_image_pages_are_filled_on_first_touch(struct ktest *t)
{
    struct mm_counts before = counts_settled();
    static uint8_t bytes[5000];
    for (size_t i = 0; i < sizeof(bytes); i++)
        bytes[i] = (uint8_t)(i * 7 + 1);
    struct vmspace *vs = vmspace_create(), *child = NULL;
    KT_ASSERT(t, vs != NULL);
    const uintptr_t page = 4096, va = VA;
    struct vma_image image = {.bytes = bytes, .start = va + 100, .end = va + 100 + sizeof(bytes)};
    struct vma_image outside = {.bytes = bytes, .start = va - 1, .end = va + 100};
    KT_EXPECT_EQ(t, vmspace_map_image(vs, va, 3 * page, VM_READ | VM_WRITE, &outside), -EINVAL);
    outside = (struct vma_image){.bytes = bytes, .start = va, .end = va + 3 * page + 1};
    KT_EXPECT_EQ(t, vmspace_map_image(vs, va, 3 * page, VM_READ | VM_WRITE, &outside), -EINVAL);
    KT_ASSERT(t, vmspace_map_image(vs, va, 3 * page, VM_READ | VM_WRITE, &image) == 0);
    for (unsigned i = 0; i < 3; i++)
        KT_EXPECT_EQ(t, frame_at(vs, va + i * page), 0);
    /* Split the region: the pieces keep their part of the image. */
    KT_EXPECT_EQ(t, vmspace_protect(vs, va + page, page, VM_READ), 0);
    KT_EXPECT_EQ(t, vmspace_fault(vs, va + page, VM_ACCESS_READ), 0);
    KT_EXPECT_EQ(t, vmspace_fault(vs, va, VM_ACCESS_WRITE), 0);
    KT_ASSERT(t, vmspace_fork(vs, &child) == 0);
    static uint8_t got[3 * 4096];
    struct vmspace *spaces[] = {vs, child};
    for (unsigned s = 0; s < 2; s++) {
        KT_EXPECT_EQ(t, vmspace_read(spaces[s], va, got, sizeof(got)), 0);
        bool ok = true;
        for (size_t i = 0; i < sizeof(got); i++) {
            uint8_t want = i >= 100 && i < 100 + sizeof(bytes) ? bytes[i - 100] : 0;
            ok = ok && got[i] == want;
        }
        KT_EXPECT(t, ok);
    }
    /* The third page, first touched in the child, and a discarded page, refilled. */
    KT_EXPECT_EQ(t, vmspace_fault(child, va + 2 * page, VM_ACCESS_WRITE), 0);
    KT_EXPECT(t, frame_at(child, va + 2 * page) != 0 && frame_at(vs, va + 2 * page) == 0);
    KT_EXPECT_EQ(t, vmspace_advise(vs, va, page, true), 0);
    KT_EXPECT_EQ(t, vmspace_fault(vs, va, VM_ACCESS_READ), 0);
    KT_EXPECT_EQ(t, vmspace_read(vs, va + 100, got, 8), 0);
    KT_EXPECT_EQ(t, memcmp(got, bytes, 8), 0);
    KT_EXPECT_EQ(t, vmspace_read(child, va + 2 * page, got, page), 0);
    bool ok = true;
    for (size_t i = 0; i < page; i++)
        ok = ok && got[i] == (2 * page + i < 100 + sizeof(bytes) ? bytes[2 * page + i - 100] : 0);
    KT_EXPECT(t, ok);
    vmspace_destroy(child);
    vmspace_destroy(vs);
    expect_counts(t, before);
}

static void vmspace_fork_frame_freed_by_the_last_space_out(struct ktest *t)
{
    struct mm_counts before = counts_settled();
    uint64_t shared_before = frame_ref_shared_total();
    struct vmspace *a = vmspace_create(), *b = NULL, *c = NULL;
    KT_ASSERT(t, a != NULL);
    uintptr_t va = VA;
    KT_ASSERT(t, vmspace_map(a, &va, 4096, VM_READ | VM_WRITE, VMSPACE_FIXED) == 0);
    KT_EXPECT_EQ(t, vmspace_write(a, va, "x", 2), 0);
    KT_ASSERT(t, vmspace_fork(a, &b) == 0);
    KT_ASSERT(t, vmspace_fork(b, &c) == 0);
    KT_EXPECT_EQ(t, frame_ref_shared_total(), shared_before + 2);
    vmspace_destroy(a); /* the frame stays for b and c */
    char got[2];
    KT_EXPECT_EQ(t, vmspace_read(c, va, got, 2), 0);
    KT_EXPECT_STREQ(t, got, "x");
    vmspace_destroy(c);
    KT_EXPECT_EQ(t, frame_ref_shared_total(), shared_before);
    /* b is the only holder now: its write takes the frame over, no copy. */
    uint64_t frame = frame_at(b, va);
    KT_EXPECT_EQ(t, vmspace_fault(b, va, VM_ACCESS_WRITE), 0);
    KT_EXPECT_EQ(t, frame_at(b, va), frame);
    vmspace_destroy(b);
    expect_counts(t, before);
}

static void vmspace_prot_none_keeps_the_data_for_mprotect_back(struct ktest *t)
{
    struct vmspace *vs = vmspace_create();
    KT_ASSERT(t, vs != NULL);
    uintptr_t va = VA;
    KT_ASSERT(t, vmspace_map(vs, &va, 4096, VM_READ | VM_WRITE, VMSPACE_FIXED) == 0);
    KT_EXPECT_EQ(t, vmspace_write(vs, va, "kept", 5), 0);
    KT_EXPECT_EQ(t, vmspace_protect(vs, va, 4096, 0), 0);
    KT_EXPECT_EQ(t, vmspace_fault(vs, va, VM_ACCESS_READ), -EFAULT);
    struct translation tr;
    KT_EXPECT(t, !paging_translate(vs->as, va, &tr) || !(tr.flags & PAGE_USER));
    KT_EXPECT_EQ(t, vmspace_protect(vs, va, 4096, VM_READ), 0);
    char got[5];
    KT_EXPECT_EQ(t, vmspace_read(vs, va, got, 5), 0);
    KT_EXPECT_STREQ(t, got, "kept");
    vmspace_destroy(vs);
}

/* Unmapping, protecting and discarding cost what is populated, not the range:
 * these would walk 2^35 pages one by one. */
/* A file mapping of 1.5 pages of file in 4 pages of region: the second page holds
 * the file's tail (zero-filled after it), the last two are a bus error; a split
 * keeps that, and an anonymous neighbour does not merge into it. */
static void vmspace_file_mapping_past_the_file_end_is_a_bus_error(struct ktest *t)
{
    struct vmspace *vs = vmspace_create();
    KT_ASSERT(t, vs != NULL);
    uintptr_t va = VA;
    KT_ASSERT(t, vmspace_map_file(vs, &va, 4 * 4096, VM_READ, VMSPACE_FIXED, 4096 + 2048) == 0);
    KT_EXPECT_EQ(t, vmspace_fault(vs, va + 4096 + 3000, VM_ACCESS_READ), 0);
    KT_EXPECT(t, !vmspace_is_past_file_end(vs, va + 4096 + 4095));
    KT_EXPECT_EQ(t, vmspace_fault(vs, va + 2 * 4096, VM_ACCESS_READ), -EIO);
    KT_EXPECT(t, vmspace_is_past_file_end(vs, va + 3 * 4096 + 8));
    KT_EXPECT_EQ(t, vmspace_protect(vs, va + 3 * 4096, 4096, VM_READ | VM_WRITE), 0);
    KT_EXPECT_EQ(t, vmspace_fault(vs, va + 3 * 4096, VM_ACCESS_WRITE), -EIO);
    uintptr_t after = va + 4 * 4096;
    KT_ASSERT(t, vmspace_map(vs, &after, 4096, VM_READ, VMSPACE_FIXED) == 0);
    KT_EXPECT_EQ(t, vmspace_fault(vs, after, VM_ACCESS_READ), 0);
    KT_EXPECT(t, !vmspace_is_past_file_end(vs, after));
    /* A whole file (no tail past it) has no bus-error part. */
    uintptr_t whole = VA + 64 * 4096;
    KT_ASSERT(t, vmspace_map_file(vs, &whole, 2 * 4096, VM_READ, VMSPACE_FIXED, 2 * 4096) == 0);
    KT_EXPECT(t, !vmspace_is_past_file_end(vs, whole + 4096));
    vmspace_destroy(vs);
}

static void vmspace_huge_sparse_ranges_are_quick(struct ktest *t)
{
    struct mm_counts before = counts_settled();
    struct vmspace *vs = vmspace_create();
    KT_ASSERT(t, vs != NULL);
    uintptr_t va = VMSPACE_USER_MIN;
    size_t len = VMSPACE_USER_END - VMSPACE_USER_MIN;
    KT_ASSERT(t, vmspace_map(vs, &va, len, VM_READ | VM_WRITE, VMSPACE_FIXED) == 0);
    KT_EXPECT_EQ(t, vmspace_write(vs, 0x7000000000ull, "a", 1), 0);
    KT_EXPECT_EQ(t, vmspace_advise(vs, va, len, true), 0);
    KT_EXPECT_EQ(t, vs->resident_pages, 0);
    KT_EXPECT_EQ(t, vmspace_write(vs, 0x7000000000ull, "a", 1), 0);
    KT_EXPECT_EQ(t, vmspace_protect(vs, va, len, VM_READ), 0);
    KT_EXPECT_EQ(t, vmspace_protect(vs, va, len, 0), 0);
    KT_EXPECT_EQ(t, vmspace_unmap(vs, va, len), 0);
    KT_EXPECT_EQ(t, vs->resident_pages, 0);
    KT_EXPECT_EQ(t, vmspace_region_count(vs), 0);
    vmspace_destroy(vs);
    expect_counts(t, before);
}

KTEST_SUITE(vmspace,
            KTEST(vmspace_wx_region_is_refused_with_eacces),
            KTEST(vmspace_pages_appear_on_first_touch_with_their_rights),
            KTEST(vmspace_unmap_and_protect_split_regions),
            KTEST(vmspace_mmap_without_address_finds_distinct_gaps),
            KTEST(vmspace_brk_grows_and_shrinks),
            KTEST(vmspace_two_spaces_hold_different_data_at_one_address),
            KTEST(vmspace_activation_records_the_cpu),
            KTEST(vmspace_destroy_restores_frame_heap_and_table_counts),
            KTEST(vmspace_fork_then_both_write_gives_different_frames),
            KTEST(vmspace_fork_copies_present_pages_across_tables_and_no_holes),
            KTEST(vmspace_image_pages_are_filled_on_first_touch),
            KTEST(vmspace_fork_frame_freed_by_the_last_space_out),
            KTEST(vmspace_prot_none_keeps_the_data_for_mprotect_back),
            KTEST(vmspace_file_mapping_past_the_file_end_is_a_bus_error),
            KTEST(vmspace_huge_sparse_ranges_are_quick));
