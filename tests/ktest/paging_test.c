/* Suite `paging`: the live kernel page tables, and map/unmap/protect/translate. */
#include "arch/fault.h"
#include "arch/mmu.h"
#include "kernel/boot.h"
#include "kernel/ktest.h"
#include "lib/string.h"
#include "mm/frame.h"
#include "mm/paging.h"
#include "mm_test_util.h"

extern char __text_start[], __rodata_start[], __data_start[];

/* A byte of `ret` in a writable data page: fetching it must fault (NX). */
static volatile uint8_t data_page_code[16] __attribute__((aligned(16))) = {0xc3};
static const uint64_t rodata_word __attribute__((used)) = 0x1234;

/* A 1 GiB-aligned window at the top of the device region that nothing else uses. */
static uintptr_t scratch_va(void)
{
    return (arch_va_layout.devices.end - (2ull << 30)) & ~((1ull << 30) - 1);
}

static void expect_translation(struct ktest *t, uintptr_t va, uint64_t pa, unsigned want_flags,
                               unsigned mask)
{
    struct translation tr;
    if (!paging_translate(&kernel_space, va, &tr)) {
        ktest_fail(t, __FILE__, __LINE__, "0x%lx is not mapped", va);
        return;
    }
    KT_EXPECT_EQ(t, tr.pa.value, pa);
    KT_EXPECT_EQ(t, tr.flags & mask, want_flags);
}

static void paging_kernel_image_sections_are_w_xor_x(struct ktest *t)
{
    const unsigned rwx = PAGE_WRITE | PAGE_EXEC;
    uintptr_t text = (uintptr_t)__text_start, rodata = (uintptr_t)__rodata_start;
    uintptr_t data = (uintptr_t)__data_start;
    expect_translation(t, text, ARCH_IMAGE_PHYS(text), PAGE_EXEC, rwx);
    expect_translation(t, rodata, ARCH_IMAGE_PHYS(rodata), 0, rwx);
    expect_translation(t, data, ARCH_IMAGE_PHYS(data), PAGE_WRITE, rwx);
    uintptr_t fn = (uintptr_t)paging_kernel_image_sections_are_w_xor_x;
    expect_translation(t, fn, ARCH_IMAGE_PHYS(fn), PAGE_EXEC, rwx);
}

static void paging_direct_map_covers_usable_ram(struct ktest *t)
{
    const struct boot_info *info = boot_info();
    for (size_t i = 0; i < info->mmap_count; i++) {
        const struct mmap_entry *e = &info->mmap[i];
        if (e->type != MMAP_USABLE)
            continue;
        uint64_t first = e->base_phys, last = e->base_phys + e->length_bytes - 1;
        expect_translation(t, (uintptr_t)arch_phys_to_virt(first), first, PAGE_WRITE,
                           PAGE_WRITE | PAGE_EXEC);
        expect_translation(t, (uintptr_t)arch_phys_to_virt(last), last, PAGE_WRITE,
                           PAGE_WRITE | PAGE_EXEC);
    }
}

static void paging_page_zero_and_identity_map_are_gone(struct ktest *t)
{
    struct translation tr;
    KT_EXPECT(t, !paging_translate(&kernel_space, 0, &tr));
    KT_EXPECT(t, !paging_translate(&kernel_space, 0x1000, &tr));
    KT_EXPECT(t, !paging_translate(&kernel_space, ARCH_IMAGE_PHYS(__text_start), &tr));
    mm_expect_page_fault(t, mm_read_byte, (void *)0, FAULT_ACCESS_READ, false);
}

static void paging_map_translate_protect_unmap_4k(struct ktest *t)
{
    kstack_flush(); /* freed stacks and the tables they left empty: trimmed */
    uint64_t tables_before = paging_table_pages();
    uint64_t frames_before = mm_free_frames();
    uintptr_t va = scratch_va() + 0x5000;
    phys_addr_t frame = frame_alloc();
    KT_ASSERT(t, phys_is_valid(frame));
    KT_ASSERT(t, paging_map(&kernel_space, va, frame, PAGE_4K, PAGE_WRITE) == PAGING_OK);
    struct translation tr;
    KT_ASSERT(t, paging_translate(&kernel_space, va + 0x123, &tr));
    KT_EXPECT_EQ(t, tr.pa.value, frame.value + 0x123);
    KT_EXPECT_EQ(t, tr.size, PAGE_4K);
    KT_EXPECT_EQ(t, tr.flags & (PAGE_WRITE | PAGE_EXEC), PAGE_WRITE);
    *(volatile uint64_t *)(va + 8) = 0xfeedface;
    KT_EXPECT_EQ(t, ((uint64_t *)arch_phys_to_virt(frame.value))[1], 0xfeedface);

    KT_EXPECT_EQ(t, paging_protect(&kernel_space, va, PAGE_4K, 0), PAGING_OK);
    mm_expect_page_fault(t, mm_write_byte, (void *)(va + 1), FAULT_ACCESS_WRITE, true);
    KT_EXPECT_EQ(t, *(volatile uint64_t *)(va + 8), 0xfeedface);

    phys_addr_t old;
    KT_EXPECT_EQ(t, paging_unmap(&kernel_space, va, PAGE_4K, &old), PAGING_OK);
    KT_EXPECT_EQ(t, old.value, frame.value);
    KT_EXPECT(t, !paging_translate(&kernel_space, va, &tr));
    mm_expect_page_fault(t, mm_read_byte, (void *)va, FAULT_ACCESS_READ, false);
    frame_free(frame);
    /* The kernel half keeps the scratch window's two tables (PD, PT) until a trim. */
    KT_EXPECT_EQ(t, paging_table_pages(), tables_before + 2);
    KT_EXPECT_EQ(t, paging_trim(), 2);
    KT_EXPECT_EQ(t, paging_table_pages(), tables_before);
    KT_EXPECT_EQ(t, mm_free_frames(), frames_before);
}

static void paging_map_2m_page(struct ktest *t)
{
    /* A 2 MiB-aligned run of 2 MiB free frames, and its page tables (3 MiB
     * free leaves room for them and for the heap). */
    if (mm_skip_unless_free(t, 3ull << 20) || mm_skip_unless_aligned_run(t, 512, 512))
        return;
    uint64_t frames_before = mm_free_frames();
    uintptr_t va = scratch_va() + (4ull << 20);
    phys_addr_t run = frame_alloc_run(512, 512);
    KT_ASSERT(t, phys_is_valid(run));
    KT_ASSERT(t, paging_map(&kernel_space, va, run, PAGE_2M, PAGE_WRITE) == PAGING_OK);
    struct translation tr;
    KT_ASSERT(t, paging_translate(&kernel_space, va + 0x1ff008, &tr));
    KT_EXPECT_EQ(t, tr.size, PAGE_2M);
    KT_EXPECT_EQ(t, tr.pa.value, run.value + 0x1ff008);
    *(volatile uint64_t *)(va + 0x1ff008) = 77;
    KT_EXPECT_EQ(t, *(uint64_t *)arch_phys_to_virt(run.value + 0x1ff008), 77);
    /* One page of another size at the same place is refused. */
    KT_EXPECT_EQ(t, paging_unmap(&kernel_space, va + 0x1000, PAGE_4K, NULL),
                 PAGING_ERR_SIZE_MISMATCH);
    KT_EXPECT_EQ(t, paging_map(&kernel_space, va + 0x1000, run, PAGE_4K, 0), PAGING_ERR_EXISTS);
    KT_EXPECT_EQ(t, paging_protect(&kernel_space, va, PAGE_2M, 0), PAGING_OK);
    mm_expect_page_fault(t, mm_write_byte, (void *)(va + 0x1000), FAULT_ACCESS_WRITE, true);
    KT_EXPECT_EQ(t, paging_unmap(&kernel_space, va, PAGE_2M, NULL), PAGING_OK);
    mm_expect_page_fault(t, mm_read_byte, (void *)va, FAULT_ACCESS_READ, false);
    frame_free_run(run, 512);
    KT_EXPECT_EQ(t, mm_free_frames(), frames_before);
}

static void paging_map_1g_page(struct ktest *t)
{
    uintptr_t va = scratch_va();
    if (!arch_mmu_has_1g_pages()) {
        KT_EXPECT_EQ(t, paging_map(&kernel_space, va, phys(0), PAGE_1G, 0),
                     PAGING_ERR_UNSUPPORTED);
        KT_SKIP(t, "this CPU has no 1 GiB pages");
    }
    /* Physical 0..1 GiB again, read-only: RAM the direct map shows too. */
    KT_ASSERT(t, paging_map(&kernel_space, va, phys(0), PAGE_1G, 0) == PAGING_OK);
    struct translation tr;
    KT_ASSERT(t, paging_translate(&kernel_space, va + 0x123456, &tr));
    KT_EXPECT_EQ(t, tr.size, PAGE_1G);
    KT_EXPECT_EQ(t, tr.pa.value, 0x123456);
    uint64_t through_direct = *(volatile uint64_t *)arch_phys_to_virt(0x100000);
    KT_EXPECT_EQ(t, *(volatile uint64_t *)(va + 0x100000), through_direct);
    mm_expect_page_fault(t, mm_write_byte, (void *)(va + 0x100000), FAULT_ACCESS_WRITE, true);
    KT_EXPECT_EQ(t, paging_unmap(&kernel_space, va, PAGE_1G, NULL), PAGING_OK);
    KT_EXPECT(t, !paging_translate(&kernel_space, va, &tr));
}

static void paging_bad_requests_get_errors(struct ktest *t)
{
    uintptr_t va = scratch_va() + 0x10000;
    phys_addr_t frame = frame_alloc();
    KT_ASSERT(t, phys_is_valid(frame));
    KT_EXPECT_EQ(t, paging_map(&kernel_space, va + 1, frame, PAGE_4K, 0), PAGING_ERR_MISALIGNED);
    KT_EXPECT_EQ(t, paging_map(&kernel_space, va, phys(frame.value + 8), PAGE_4K, 0),
                 PAGING_ERR_MISALIGNED);
    KT_EXPECT_EQ(t, paging_map(&kernel_space, va, frame, PAGE_2M, 0), PAGING_ERR_MISALIGNED);
    KT_EXPECT_EQ(t, paging_map(&kernel_space, va, frame, PAGE_4K, PAGE_WRITE | PAGE_EXEC),
                 PAGING_ERR_WX);
    KT_EXPECT_EQ(t, paging_map(&kernel_space, va, frame, PAGE_4K, PAGE_USER),
                 PAGING_ERR_BAD_ADDRESS);
    KT_EXPECT_EQ(t, paging_map(&kernel_space, 0x0000900000000000ull, frame, PAGE_4K, 0),
                 PAGING_ERR_BAD_ADDRESS);
    KT_EXPECT_EQ(t, paging_unmap(&kernel_space, va, PAGE_4K, NULL), PAGING_ERR_NOT_MAPPED);
    KT_EXPECT_EQ(t, paging_protect(&kernel_space, va, PAGE_4K, 0), PAGING_ERR_NOT_MAPPED);
    KT_ASSERT(t, paging_map(&kernel_space, va, frame, PAGE_4K, 0) == PAGING_OK);
    KT_EXPECT_EQ(t, paging_map(&kernel_space, va, frame, PAGE_4K, 0), PAGING_ERR_EXISTS);
    KT_EXPECT_EQ(t, paging_protect(&kernel_space, va, PAGE_4K, PAGE_WRITE | PAGE_EXEC),
                 PAGING_ERR_WX);
    KT_EXPECT_EQ(t, paging_unmap(&kernel_space, va, PAGE_2M, NULL),
                 PAGING_ERR_MISALIGNED);
    KT_EXPECT_EQ(t, paging_unmap(&kernel_space, va, PAGE_4K, NULL), PAGING_OK);
    frame_free(frame);
    /* A kernel address outside every region has no top-level table to share. */
    KT_EXPECT_EQ(t, paging_map(&kernel_space, 0xffffe00000000000ull, frame, PAGE_4K, 0),
                 PAGING_ERR_BAD_ADDRESS);
}

static void paging_new_space_shares_the_kernel_half(struct ktest *t)
{
    kstack_flush(); /* freed stacks and the tables they left empty: trimmed */
    uint64_t tables_before = paging_table_pages();
    struct address_space *as = paging_create_space();
    KT_ASSERT(t, as != NULL);
    struct translation a, b;
    uintptr_t text = (uintptr_t)__text_start;
    KT_EXPECT(t, paging_translate(as, text, &a) && paging_translate(&kernel_space, text, &b) &&
                     a.pa.value == b.pa.value);
    phys_addr_t frame = frame_alloc();
    KT_ASSERT(t, phys_is_valid(frame));
    KT_EXPECT_EQ(t, paging_map(as, 0x400000, frame, PAGE_4K, PAGE_USER | PAGE_WRITE), PAGING_OK);
    KT_EXPECT(t, paging_translate(as, 0x400000, &a));
    KT_EXPECT_EQ(t, a.flags & (PAGE_USER | PAGE_WRITE | PAGE_EXEC), PAGE_USER | PAGE_WRITE);
    KT_EXPECT(t, !paging_translate(&kernel_space, 0x400000, &b));
    /* A kernel mapping made now, through either space, shows in both. */
    uintptr_t kva = scratch_va() + 0x20000;
    KT_EXPECT_EQ(t, paging_map(as, kva, frame, PAGE_4K, 0), PAGING_OK);
    KT_EXPECT(t, paging_translate(&kernel_space, kva, &b) && b.pa.value == frame.value);
    KT_EXPECT_EQ(t, paging_unmap(&kernel_space, kva, PAGE_4K, NULL), PAGING_OK);
    KT_EXPECT_EQ(t, paging_unmap(as, 0x400000, PAGE_4K, NULL), PAGING_OK);
    paging_destroy_space(as);
    frame_free(frame);
    /* The user half's three tables went with the unmap, the root with the space;
     * the kernel half keeps its two until a trim. */
    KT_EXPECT_EQ(t, paging_table_pages(), tables_before + 2);
    KT_EXPECT_EQ(t, paging_trim(), 2);
    KT_EXPECT_EQ(t, paging_table_pages(), tables_before);
}

static void paging_audit_finds_no_wx_page_in_live_tables(struct ktest *t)
{
    KT_EXPECT_EQ(t, paging_audit_wx(&kernel_space, NULL, NULL), 0);
}

struct wx_seen {
    size_t count;
    uintptr_t va;
};

static void note_wx(void *ctx, uintptr_t va, enum page_size size)
{
    struct wx_seen *seen = ctx;
    (void)size;
    seen->count++;
    seen->va = va;
}

static void paging_audit_reports_a_wx_user_page(struct ktest *t)
{
    struct address_space *as = paging_create_space();
    KT_ASSERT(t, as != NULL);
    phys_addr_t frame = frame_alloc();
    KT_ASSERT(t, phys_is_valid(frame));
    const uintptr_t user_va = 0x7f0000200000ull;
    KT_ASSERT(t, paging_map(as, user_va, frame, PAGE_4K, PAGE_USER | PAGE_WRITE | PAGE_EXEC) ==
                     PAGING_OK);
    struct wx_seen seen = {0, 0};
    KT_EXPECT_EQ(t, paging_audit_wx(as, note_wx, &seen), 1);
    KT_EXPECT_EQ(t, seen.count, 1);
    KT_EXPECT_EQ(t, seen.va, user_va);
    KT_EXPECT_EQ(t, paging_protect(as, user_va, PAGE_4K, PAGE_USER | PAGE_EXEC), PAGING_OK);
    KT_EXPECT_EQ(t, paging_audit_wx(as, NULL, NULL), 0);
    KT_EXPECT_EQ(t, paging_unmap(as, user_va, PAGE_4K, NULL), PAGING_OK);
    paging_destroy_space(as);
    frame_free(frame);
}

static void paging_fetch_from_data_page_faults(struct ktest *t)
{
    mm_expect_page_fault(t, (void (*)(void *))(uintptr_t)data_page_code,
                         (void *)data_page_code, FAULT_ACCESS_EXEC, true);
}

static void paging_write_to_rodata_faults(struct ktest *t)
{
    mm_expect_page_fault(t, mm_write_byte, (void *)&rodata_word, FAULT_ACCESS_WRITE, true);
    extern char __rodata_end[];
    KT_EXPECT(t, (uintptr_t)&rodata_word >= (uintptr_t)__rodata_start &&
              (uintptr_t)&rodata_word < (uintptr_t)__rodata_end);
    KT_EXPECT_EQ(t, *(const volatile uint64_t *)&rodata_word, 0x1234);
}

static void paging_write_to_text_faults(struct ktest *t)
{
    mm_expect_page_fault(t, mm_write_byte, (void *)(uintptr_t)mm_read_byte, FAULT_ACCESS_WRITE,
                         true);
}

/* A page of the kernel's bss stands in for a device's registers. */
static uint8_t fake_device[4096] __attribute__((aligned(4096)));

static void paging_device_mapping_reaches_the_frame(struct ktest *t)
{
    phys_addr_t page = phys(ARCH_IMAGE_PHYS(fake_device));
    volatile uint32_t *regs = paging_map_device(phys(page.value + 0x40), 64,
                                                PAGE_WRITE | PAGE_NOCACHE);
    KT_ASSERT(t, regs != NULL);
    KT_EXPECT_EQ(t, (uintptr_t)regs & 0xfff, 0x40);
    regs[3] = 0xc0ffee;
    KT_EXPECT_EQ(t, ((volatile uint32_t *)(fake_device + 0x40))[3], 0xc0ffee);
    struct translation tr;
    KT_ASSERT(t, paging_translate(&kernel_space, (uintptr_t)regs, &tr));
    KT_EXPECT_EQ(t, tr.pa.value, page.value + 0x40);
    KT_EXPECT(t, tr.flags & PAGE_NOCACHE);
    KT_EXPECT(t, !(tr.flags & PAGE_EXEC));
    KT_EXPECT(t, paging_map_device(page, 0, PAGE_NOCACHE) == NULL);
}

/* ---- paging_move_user ---------------------------------------------------- */

#define MOVE_SRC 0x10000000ull                   /* 2 MiB-aligned */
#define MOVE_DST (0x7e0000000000ull + 0x1ff000)  /* one page below a 2 MiB boundary */
#define MOVE_PAGES 1600                          /* over four 2 MiB tables of dst */
/* Populated pages of the source range (the rest are holes): two source tables;
 * in dst, page 0 lands in one table, 1..10 in the next, 513 in a third. */
static const unsigned move_populated[] = {0, 1, 2, 10, 513};
#define MOVE_NPOPULATED (sizeof(move_populated) / sizeof(move_populated[0]))
#define MOVE_READ_ONLY 10 /* the page whose flags the callback takes write from */

struct move_seen {
    unsigned calls;
    uintptr_t va[MOVE_NPOPULATED];
    uint64_t pa[MOVE_NPOPULATED];
};

static unsigned move_note(void *ctx, uintptr_t va, phys_addr_t pa, unsigned flags)
{
    struct move_seen *seen = ctx;
    if (seen->calls < MOVE_NPOPULATED) {
        seen->va[seen->calls] = va;
        seen->pa[seen->calls] = pa.value;
    }
    seen->calls++;
    return va == MOVE_SRC + MOVE_READ_ONLY * ARCH_PAGE_SIZE ? flags & ~PAGE_WRITE : flags;
}

/* A space with move_populated mapped at MOVE_SRC, read-write, frames in frames[];
 * NULL if there was no memory for it. */
static struct address_space *move_source(struct ktest *t, uint64_t frames[MOVE_NPOPULATED])
{
    struct address_space *as = paging_create_space();
    if (!as)
        return NULL;
    for (unsigned i = 0; i < MOVE_NPOPULATED; i++) {
        phys_addr_t frame = frame_alloc();
        if (!phys_is_valid(frame))
            return NULL; /* the test fails at once: nothing to give back */
        frames[i] = frame.value;
        KT_EXPECT_EQ(t, paging_map(as, MOVE_SRC + move_populated[i] * ARCH_PAGE_SIZE, frame,
                                   PAGE_4K, PAGE_USER | PAGE_WRITE),
                     PAGING_OK);
    }
    return as;
}

/* Unmaps the populated pages at `base` of `as`, frees their frames and the space. */
static void move_cleanup(struct ktest *t, struct address_space *as, uintptr_t base,
                         const uint64_t frames[MOVE_NPOPULATED])
{
    for (unsigned i = 0; i < MOVE_NPOPULATED; i++) {
        phys_addr_t old;
        KT_EXPECT_EQ(t, paging_unmap(as, base + move_populated[i] * ARCH_PAGE_SIZE, PAGE_4K, &old),
                     PAGING_OK);
        KT_EXPECT_EQ(t, old.value, frames[i]);
        frame_free(phys(frames[i]));
    }
    paging_destroy_space(as);
}

/* Each populated page of `base` in `as` has its frame, and everything else in
 * the MOVE_PAGES range is a hole. */
static void expect_populated(struct ktest *t, struct address_space *as, uintptr_t base,
                             const uint64_t frames[MOVE_NPOPULATED], bool read_only_one)
{
    uintptr_t end = base + MOVE_PAGES * ARCH_PAGE_SIZE;
    uintptr_t va = paging_next_present(as, base, end);
    for (unsigned i = 0; i < MOVE_NPOPULATED; i++) {
        uintptr_t want = base + move_populated[i] * ARCH_PAGE_SIZE;
        KT_EXPECT_EQ(t, va, want);
        struct translation tr;
        KT_ASSERT(t, paging_translate(as, want, &tr));
        KT_EXPECT_EQ(t, tr.pa.value, frames[i]);
        unsigned want_flags = PAGE_USER | PAGE_WRITE;
        if (read_only_one && move_populated[i] == MOVE_READ_ONLY)
            want_flags = PAGE_USER;
        KT_EXPECT_EQ(t, tr.flags & (PAGE_USER | PAGE_WRITE | PAGE_EXEC), want_flags);
        va = paging_next_present(as, want + ARCH_PAGE_SIZE, end);
    }
    KT_EXPECT_EQ(t, va, end);
}

static void paging_move_user_moves_present_pages_into_new_tables(struct ktest *t)
{
    kstack_flush();
    uint64_t tables_before = paging_table_pages();
    uint64_t frames[MOVE_NPOPULATED];
    struct address_space *src = move_source(t, frames);
    KT_ASSERT(t, src != NULL);
    struct address_space *dst = paging_create_space();
    KT_ASSERT(t, dst != NULL);
    /* Two roots; src: a level-2, a level-1 and two level-0 tables. */
    KT_EXPECT_EQ(t, paging_table_pages(), tables_before + 2 + 4);
    struct move_seen seen = {0};
    size_t moved = 99;
    KT_EXPECT_EQ(t, paging_move_user(src, MOVE_SRC, dst, MOVE_DST, MOVE_PAGES * ARCH_PAGE_SIZE,
                                     move_note, &seen, &moved),
                 PAGING_OK);
    KT_EXPECT_EQ(t, moved, MOVE_NPOPULATED);
    KT_EXPECT_EQ(t, seen.calls, MOVE_NPOPULATED);
    for (unsigned i = 0; i < MOVE_NPOPULATED && i < seen.calls; i++) {
        KT_EXPECT_EQ(t, seen.va[i], MOVE_SRC + move_populated[i] * ARCH_PAGE_SIZE);
        KT_EXPECT_EQ(t, seen.pa[i], frames[i]);
    }
    expect_populated(t, dst, MOVE_DST, frames, true);
    KT_EXPECT_EQ(t, paging_next_present(src, MOVE_SRC, MOVE_SRC + MOVE_PAGES * ARCH_PAGE_SIZE),
                 MOVE_SRC + MOVE_PAGES * ARCH_PAGE_SIZE);
    /* src's four tables went; dst made a level-2, a level-1 and three level-0
     * tables: none for the holes past page 513. */
    KT_EXPECT_EQ(t, paging_table_pages(), tables_before + 2 + 5);
    paging_destroy_space(src);
    move_cleanup(t, dst, MOVE_DST, frames);
    KT_EXPECT_EQ(t, paging_table_pages(), tables_before);
}

static void paging_move_user_within_one_space_and_bad_ranges(struct ktest *t)
{
    kstack_flush();
    uint64_t tables_before = paging_table_pages();
    uint64_t frames[MOVE_NPOPULATED];
    struct address_space *as = move_source(t, frames);
    KT_ASSERT(t, as != NULL);
    size_t len = MOVE_PAGES * ARCH_PAGE_SIZE, moved = 99;
    struct move_seen seen = {0};
    /* Overlapping ranges of one space, misaligned, empty, wrapping or kernel ranges. */
    KT_EXPECT_EQ(t, paging_move_user(as, MOVE_SRC, as, MOVE_SRC + len - ARCH_PAGE_SIZE, len,
                                     move_note, &seen, &moved),
                 PAGING_ERR_BAD_ADDRESS);
    KT_EXPECT_EQ(t, moved, 0);
    KT_EXPECT_EQ(t, paging_move_user(as, MOVE_SRC + 1, as, MOVE_DST, len, move_note, &seen, &moved),
                 PAGING_ERR_BAD_ADDRESS);
    KT_EXPECT_EQ(t, paging_move_user(as, MOVE_SRC, as, MOVE_DST, 100, move_note, &seen, &moved),
                 PAGING_ERR_BAD_ADDRESS);
    KT_EXPECT_EQ(t, paging_move_user(as, MOVE_SRC, as, MOVE_DST, 0, move_note, &seen, &moved),
                 PAGING_ERR_BAD_ADDRESS);
    KT_EXPECT_EQ(t, paging_move_user(as, MOVE_SRC, as, scratch_va(), len, move_note, &seen, &moved),
                 PAGING_ERR_BAD_ADDRESS);
    KT_EXPECT_EQ(t, paging_move_user(as, MOVE_SRC, as, MOVE_DST, (size_t)0 - MOVE_SRC, move_note,
                                     &seen, &moved),
                 PAGING_ERR_BAD_ADDRESS);
    KT_EXPECT_EQ(t, seen.calls, 0);
    expect_populated(t, as, MOVE_SRC, frames, false);
    /* Disjoint ranges of one space: there and back. */
    KT_EXPECT_EQ(t, paging_move_user(as, MOVE_SRC, as, MOVE_DST, len, move_note, &seen, &moved),
                 PAGING_OK);
    KT_EXPECT_EQ(t, moved, MOVE_NPOPULATED);
    expect_populated(t, as, MOVE_DST, frames, true);
    KT_EXPECT_EQ(t, paging_next_present(as, MOVE_SRC, MOVE_SRC + len), MOVE_SRC + len);
    KT_EXPECT_EQ(t, paging_move_user(as, MOVE_DST, as, MOVE_SRC, len, move_note, &seen, &moved),
                 PAGING_OK);
    KT_EXPECT_EQ(t, moved, MOVE_NPOPULATED);
    KT_EXPECT_EQ(t, paging_next_present(as, MOVE_DST, MOVE_DST + len), MOVE_DST + len);
    /* Back where they were, in as many tables as before. */
    KT_EXPECT_EQ(t, paging_table_pages(), tables_before + 1 + 4);
    move_cleanup(t, as, MOVE_SRC, frames);
    KT_EXPECT_EQ(t, paging_table_pages(), tables_before);
}

static void paging_move_user_out_of_memory_moves_nothing(struct ktest *t)
{
    kstack_flush();
    uint64_t tables_before = paging_table_pages();
    uint64_t frames[MOVE_NPOPULATED];
    struct address_space *src = move_source(t, frames);
    KT_ASSERT(t, src != NULL);
    struct address_space *dst = paging_create_space();
    KT_ASSERT(t, dst != NULL);
    uint64_t free_before = mm_free_frames();
    /* Every frame taken but three: dst's level-2, level-1 and first level-0 table
     * (for page 0) are made, the second level-0 (pages 1..10) is not. A move that
     * made tables as it went would have moved page 0 by then. */
    phys_addr_t list = mm_take_all_frames(NULL);
    for (int i = 0; i < 3; i++)
        list = mm_give_back_one(list);
    struct move_seen seen = {0};
    size_t moved = 99;
    int error = paging_move_user(src, MOVE_SRC, dst, MOVE_DST, MOVE_PAGES * ARCH_PAGE_SIZE,
                                 move_note, &seen, &moved);
    /* The tables it made came back: the three spare frames are there to take again. */
    phys_addr_t again[3];
    bool spare_back = true;
    for (int i = 0; i < 3; i++) {
        again[i] = frame_alloc();
        spare_back = spare_back && phys_is_valid(again[i]);
    }
    for (int i = 0; i < 3; i++) {
        if (phys_is_valid(again[i]))
            frame_free(again[i]);
    }
    mm_give_back_all(list);
    KT_EXPECT_EQ(t, error, PAGING_ERR_NO_MEMORY);
    KT_EXPECT_EQ(t, moved, 0);
    KT_EXPECT_EQ(t, seen.calls, 0);
    KT_EXPECT(t, spare_back);
    KT_EXPECT_EQ(t, mm_free_frames(), free_before);
    expect_populated(t, src, MOVE_SRC, frames, false);
    KT_EXPECT_EQ(t, paging_next_present(dst, MOVE_DST, MOVE_DST + MOVE_PAGES * ARCH_PAGE_SIZE),
                 MOVE_DST + MOVE_PAGES * ARCH_PAGE_SIZE);
    KT_EXPECT_EQ(t, paging_table_pages(), tables_before + 2 + 4);
    /* With memory back, the same move goes through. */
    KT_EXPECT_EQ(t, paging_move_user(src, MOVE_SRC, dst, MOVE_DST, MOVE_PAGES * ARCH_PAGE_SIZE,
                                     move_note, &seen, &moved),
                 PAGING_OK);
    KT_EXPECT_EQ(t, moved, MOVE_NPOPULATED);
    expect_populated(t, dst, MOVE_DST, frames, true);
    paging_destroy_space(src);
    move_cleanup(t, dst, MOVE_DST, frames);
    KT_EXPECT_EQ(t, paging_table_pages(), tables_before);
}

KTEST_SUITE(paging, KTEST(paging_kernel_image_sections_are_w_xor_x),
            KTEST(paging_direct_map_covers_usable_ram),
            KTEST(paging_page_zero_and_identity_map_are_gone),
            KTEST(paging_map_translate_protect_unmap_4k), KTEST(paging_map_2m_page),
            KTEST(paging_map_1g_page), KTEST(paging_bad_requests_get_errors),
            KTEST(paging_new_space_shares_the_kernel_half),
            KTEST(paging_audit_finds_no_wx_page_in_live_tables),
            KTEST(paging_audit_reports_a_wx_user_page), KTEST(paging_fetch_from_data_page_faults),
            KTEST(paging_write_to_rodata_faults), KTEST(paging_write_to_text_faults),
            KTEST(paging_device_mapping_reaches_the_frame),
            KTEST(paging_move_user_moves_present_pages_into_new_tables),
            KTEST(paging_move_user_within_one_space_and_bad_ranges),
            KTEST(paging_move_user_out_of_memory_moves_nothing));
