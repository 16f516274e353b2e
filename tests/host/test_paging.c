/*
 * Host tests of the page tables (mm/paging.c).
 *
 * The code under test runs unchanged: table pages come from the real frame
 * allocator over the shim's fake RAM, entries are real x86_64 entries built by
 * arch/x86_64/pte.c. What needs the CPU (arch/x86_64/mmu.c) is replaced below by
 * stubs that record what they were asked: the root loaded, the pages flushed.
 *
 * Every answer of paging_translate is cross-checked by ref_walk, a second walker
 * written here from the Intel SDM's description of the entry bits, sharing no code
 * with pte.c or paging.c.
 *
 * The fake machine has 64 MiB of RAM, but its memory map may claim more (8 GiB
 * and beyond): the direct map needs only table pages for that, and the frame
 * allocator hands out its lowest frames first, which lie inside the fake RAM.
 */
#include <stdlib.h>

#include "../../arch/x86_64/layout.h"
#include "arch/mmu.h"
#include "check.h"
#include "mm/frame.h"
#include "mm/heap.h"
#include "mm/paging.h"
#include "shim.h"

#define KIB 1024ull
#define MIB (1024 * KIB)
#define GIB (1024 * MIB)
#define FAKE_RAM_BYTES (64 * MIB)
#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the MMU, as the tests see it ------------------------------------------------ */

static bool mmu_1g_pages = true; /* what arch_mmu_has_1g_pages answers */
static uint64_t mmu_root;        /* the last root loaded */
static unsigned mmu_root_loads;
static unsigned mmu_flush_all_count;
#define FLUSH_LOG_MAX 4096
static uintptr_t mmu_flushed[FLUSH_LOG_MAX]; /* pages flushed, oldest first */
static size_t mmu_flush_count;

void arch_mmu_init_this_cpu(void) {}

bool arch_mmu_has_1g_pages(void)
{
    return mmu_1g_pages;
}

const char *arch_mmu_features(void)
{
    return "NX WP (host)";
}

void arch_mmu_load_root(uint64_t root_phys)
{
    mmu_root = root_phys;
    mmu_root_loads++;
}

uint64_t arch_mmu_root(void)
{
    return mmu_root;
}

void arch_tlb_flush_page(uintptr_t va)
{
    if (mmu_flush_count < FLUSH_LOG_MAX)
        mmu_flushed[mmu_flush_count] = va;
    mmu_flush_count++;
}

/* One CPU in the host tests: a shootdown is the local flush. */
void arch_tlb_shootdown(uintptr_t va)
{
    arch_tlb_flush_page(va);
}

void arch_tlb_flush_all(void)
{
    mmu_flush_all_count++;
}

void arch_tlb_shootdown_all(void)
{
    arch_tlb_flush_all();
}

/* User spaces: one CPU, so a space's shootdown is the local flush of va. */
bool arch_mmu_has_pcid(void)
{
    return false;
}

void arch_space_tlb_init(struct arch_space_tlb *t)
{
    static uint64_t next_id = 1;
    t->id = next_id++;
    memset(&t->cpus, 0, sizeof(t->cpus));
}

void arch_space_switch(uint64_t root_phys, struct arch_space_tlb *t)
{
    cpuset_set_atomic(&t->cpus, 0);
    arch_mmu_load_root(root_phys);
}

void arch_space_switch_irqs_off(uint64_t root_phys, struct arch_space_tlb *t)
{
    arch_space_switch(root_phys, t);
}

void arch_space_shootdown(struct arch_space_tlb *t, uintptr_t va)
{
    (void)t;
    arch_tlb_flush_page(va);
}

static bool flushed_since(size_t mark, uintptr_t va)
{
    for (size_t i = mark; i < mmu_flush_count && i < FLUSH_LOG_MAX; i++) {
        if (mmu_flushed[i] == va)
            return true;
    }
    return false;
}

/* ---- the rest of the kernel paging.c calls ---------------------------------------- */

void *kmalloc(size_t size)
{
    return malloc(size);
}

void kfree(void *ptr)
{
    free(ptr);
}

const struct arch_va_layout arch_va_layout = {
    .direct_map = {DIRECT_MAP_BASE, DIRECT_MAP_END},
    .heap = {HEAP_BASE, HEAP_END},
    .stacks = {STACKS_BASE, STACKS_END},
    .devices = {DEVICES_BASE, DEVICES_END},
    .kernel_image = {KERNEL_VMA, KERNEL_END},
};

/* A fake kernel image at 2 MiB physical, linked at KERNEL_VMA + physical. */
#define IMAGE_PHYS (2 * MIB)
#define TEXT_START (KERNEL_VMA + IMAGE_PHYS)
#define RODATA_START (TEXT_START + 64 * KIB)
#define DATA_START (RODATA_START + 32 * KIB)
#define BSS_END (DATA_START + 40 * KIB + 100) /* not page-aligned: rounded up */
#define IMAGE_BYTES (256 * KIB)

const struct arch_image_section arch_image_sections[ARCH_IMAGE_SECTIONS] = {
    {TEXT_START, RODATA_START, PAGE_EXEC | PAGE_GLOBAL, "text"},
    {RODATA_START, DATA_START, PAGE_GLOBAL, "rodata"},
    {DATA_START, BSS_END, PAGE_WRITE | PAGE_GLOBAL, "data+bss"},
};

/* ---- fake machines ------------------------------------------------------------------ */

/* Holes, firmware regions, RAM above 4 GiB (1 GiB-aligned, then unaligned). */
static const struct mmap_entry big_map[] = {
    {0x0, 0x9fc00, MMAP_USABLE},
    {0x9fc00, 0x400, MMAP_RESERVED},
    {0xf0000, 0x10000, MMAP_RESERVED},
    {1 * MIB, 47 * MIB, MMAP_USABLE},
    {48 * MIB, 2 * MIB, MMAP_ACPI_RECLAIMABLE},
    {0xfec00000, 0x1000, MMAP_RESERVED},
    {0xfee00000, 0x1000, MMAP_RESERVED},
    {4 * GIB, 4 * GIB, MMAP_USABLE},
    {8 * GIB, 1 * MIB, MMAP_RESERVED}, /* above 4 GiB and not RAM: left out */
    {8 * GIB + 2 * MIB + 12 * KIB, 6 * MIB - 12 * KIB, MMAP_USABLE},
};

/* All of it inside the fake RAM, so the tests can run the allocator dry. */
static const struct mmap_entry small_map[] = {
    {0x0, 0x9fc00, MMAP_USABLE},
    {1 * MIB, 15 * MIB, MMAP_USABLE},
};

static struct boot_info boot_info;

static void boot_machine(const struct mmap_entry *map, size_t count, bool gib_pages)
{
    shim_phys_fini();
    shim_phys_init(FAKE_RAM_BYTES);
    shim_clear_log();
    mmu_1g_pages = gib_pages;
    mmu_root = 0;
    mmu_root_loads = mmu_flush_all_count = 0;
    mmu_flush_count = 0;

    memset(&boot_info, 0, sizeof(boot_info));
    for (size_t i = 0; i < count; i++)
        boot_info.mmap[i] = map[i];
    boot_info.mmap_count = count;
    const struct phys_range image = {IMAGE_PHYS, IMAGE_PHYS + IMAGE_BYTES};
    int error = frame_init(map, count, &image, 1, FAKE_RAM_BYTES);
    if (error != FRAME_OK) {
        fprintf(stderr, "frame_init failed (%d)\n", error);
        abort();
    }
    paging_init(&boot_info);
}

static void boot_big(bool gib_pages)
{
    boot_machine(big_map, COUNT_OF(big_map), gib_pages);
}

static void boot_small(void)
{
    boot_machine(small_map, COUNT_OF(small_map), true);
}

static uint64_t free_frames(void)
{
    struct frame_stats s;
    frame_get_stats(&s);
    return s.free_frames;
}

/* Allocation state: what must come back exactly after freeing everything. */
struct counts {
    uint64_t tables, frames;
};

/* After a trim: the kernel half keeps its emptied tables until one (paging.h). */
static struct counts counts_now(void)
{
    paging_trim();
    return (struct counts){paging_table_pages(), free_frames()};
}

#define CHECK_COUNTS_BACK(before)                                                                  \
    do {                                                                                           \
        struct counts now_ = counts_now();                                                         \
        CHECK_EQ_U64(now_.tables, (before).tables);                                                \
        CHECK_EQ_U64(now_.frames, (before).frames);                                                \
    } while (0)

/* Every free frame but `keep`, held so paging.c finds none. */
struct hoard {
    uint64_t *frames;
    size_t count;
};

static struct hoard hoard_all_but(size_t keep)
{
    struct hoard h = {malloc((free_frames() + 1) * sizeof(uint64_t)), 0};
    for (;;) {
        phys_addr_t p = frame_alloc();
        if (!phys_is_valid(p))
            break;
        h.frames[h.count++] = p.value;
    }
    for (size_t i = 0; i < keep && h.count; i++)
        frame_free(phys(h.frames[--h.count]));
    return h;
}

static void hoard_release(struct hoard *h)
{
    while (h->count)
        frame_free(phys(h->frames[--h->count]));
    free(h->frames);
    h->frames = NULL;
}

/* ---- the reference walker ------------------------------------------------------------ */

/* x86_64 4-level entries (Intel SDM vol. 3, tables 4-15 to 4-20). */
#define X86_P (1ull << 0)
#define X86_RW (1ull << 1)
#define X86_US (1ull << 2)
#define X86_PWT (1ull << 3)
#define X86_PCD (1ull << 4)
#define X86_PS (1ull << 7) /* in a level-0 entry: the PAT bit */
#define X86_G (1ull << 8)
#define X86_NX (1ull << 63)
#define X86_ADDR 0x000ffffffffff000ull
#define X86_INDEX(va, level) (((uint64_t)(va) >> (12 + 9 * (level))) & 511)

static uint64_t *ref_table(uint64_t table_phys)
{
    if (table_phys % FRAME_SIZE || table_phys >= shim_phys_size) {
        fprintf(stderr, "ref_walk: table at 0x%" PRIx64 " outside the fake RAM\n", table_phys);
        abort();
    }
    return (uint64_t *)(shim_phys_base + table_phys);
}

struct ref_page {
    uint64_t pa; /* of va, offset included */
    enum page_size size;
    unsigned flags; /* effective PAGE_* */
};

static bool ref_canonical(uintptr_t va)
{
    return (uint64_t)((int64_t)(va << 16) >> 16) == va;
}

static bool ref_walk(uint64_t root_phys, uintptr_t va, struct ref_page *out)
{
    if (!ref_canonical(va))
        return false;
    bool writable = true, user = true, executable = true;
    uint64_t table_phys = root_phys;
    for (int level = 3; level >= 0; level--) {
        uint64_t e = ref_table(table_phys)[X86_INDEX(va, level)];
        if (!(e & X86_P))
            return false;
        writable = writable && (e & X86_RW);
        user = user && (e & X86_US);
        executable = executable && !(e & X86_NX);
        CHECK(!(level == 3 && (e & X86_PS))); /* PS is reserved in a PML4 entry */
        if (level > 0 && !(e & X86_PS)) {
            table_phys = e & X86_ADDR;
            continue;
        }
        uint64_t page_bytes = 4096ull << (9 * level);
        /* Bit 12 of a large entry is PAT, 13.. up to the page size reserved: never set. */
        CHECK((e & X86_ADDR & (page_bytes - 1)) == 0);
        CHECK(level > 0 || !(e & X86_PS)); /* the PAT bit of a 4 KiB entry: never set */
        unsigned flags = (writable ? PAGE_WRITE : 0) | (executable ? PAGE_EXEC : 0) |
                         (user ? PAGE_USER : 0) | ((e & X86_G) ? PAGE_GLOBAL : 0);
        if ((e & X86_PCD) && (e & X86_PWT))
            flags |= PAGE_NOCACHE; /* PAT entry 3: UC */
        else if (e & X86_PWT)
            flags |= PAGE_WRITE_COMBINE;           /* PAT entry 1, which Exo makes WC */
        CHECK(!((e & X86_PCD) && !(e & X86_PWT))); /* PAT entry 2 (UC-) is never used */
        *out = (struct ref_page){
            .pa = (e & X86_ADDR & ~(page_bytes - 1)) | (va & (page_bytes - 1)),
            .size = (enum page_size)level,
            .flags = flags,
        };
        return true;
    }
    return false;
}

/* The raw entry for va at `level`, or NULL when the walk stops above it. */
static uint64_t *ref_entry(uint64_t root_phys, uintptr_t va, unsigned level)
{
    uint64_t *table = ref_table(root_phys);
    for (unsigned l = 3; l > level; l--) {
        uint64_t e = table[X86_INDEX(va, l)];
        if (!(e & X86_P) || (l < 3 && (e & X86_PS)))
            return NULL;
        table = ref_table(e & X86_ADDR);
    }
    return &table[X86_INDEX(va, level)];
}

/*
 * Counts the tables below the root entries [first, end) of `root_phys` (not the
 * root) and reports any that is empty: paging.c must free a table when it empties.
 */
static uint64_t ref_count_tables(uint64_t table_phys, unsigned level, unsigned first, unsigned end,
                                 unsigned *empty_tables)
{
    const uint64_t *table = ref_table(table_phys);
    uint64_t count = 0;
    for (unsigned i = first; i < end; i++) {
        uint64_t e = table[i];
        if (!(e & X86_P) || level == 0 || (level < 3 && (e & X86_PS)))
            continue;
        const uint64_t *below = ref_table(e & X86_ADDR);
        bool empty = true;
        for (unsigned j = 0; j < 512 && empty; j++)
            empty = below[j] == 0;
        if (empty)
            (*empty_tables)++;
        count += 1 + ref_count_tables(e & X86_ADDR, level - 1, 0, 512, empty_tables);
    }
    return count;
}

/* paging_translate and ref_walk agree on va, and say it is mapped as expected
 * (pa of va itself, size, flags); `mapped` false: both say unmapped. */
static bool expect_page(struct address_space *as, uintptr_t va, bool mapped, uint64_t pa,
                        enum page_size size, unsigned flags, int line)
{
    struct translation tr = {0};
    struct ref_page ref = {0};
    bool by_paging = paging_translate(as, va, &tr);
    bool by_ref = ref_walk(as->root.value, va, &ref);
    bool ok = by_paging == mapped && by_ref == mapped;
    if (ok && mapped) {
        ok = tr.pa.value == pa && tr.size == size && tr.flags == flags && ref.pa == pa &&
             ref.size == size && ref.flags == flags;
    }
    if (!ok) {
        fprintf(stderr,
                "%s:%d: va 0x%lx: want %s pa 0x%" PRIx64 " size %d flags %#x; paging_translate"
                " %s 0x%" PRIx64 " %d %#x; ref_walk %s 0x%" PRIx64 " %d %#x\n",
                __FILE__, line, (unsigned long)va, mapped ? "mapped" : "unmapped", pa, size, flags,
                by_paging ? "mapped" : "unmapped", tr.pa.value, tr.size, tr.flags,
                by_ref ? "mapped" : "unmapped", ref.pa, ref.size, ref.flags);
        check_failures_in_test++;
    }
    return ok;
}

#define EXPECT_MAPPED(as, va, pa, size, flags)                                                     \
    expect_page((as), (va), true, (pa), (size), (flags), __LINE__)
#define EXPECT_UNMAPPED(as, va) expect_page((as), (va), false, 0, PAGE_4K, 0, __LINE__)

/* Test addresses. */
#define USER_VA 0x0000040000000000ull /* 4 TiB: root entry 8 */
#define HEAP_VA HEAP_BASE

/* ---- paging_init -------------------------------------------------------------------- */

/* Does the direct map cover this region? Everything below 4 GiB, only RAM above. */
static bool region_in_direct_map(const struct mmap_entry *e)
{
    return e->base_phys < 4 * GIB || e->type == MMAP_USABLE || e->type == MMAP_ACPI_RECLAIMABLE ||
           e->type == MMAP_ACPI_NVS;
}

static void direct_map_covers_every_region(bool gib_pages)
{
    boot_big(gib_pages);
    for (size_t i = 0; i < COUNT_OF(big_map); i++) {
        const struct mmap_entry *e = &big_map[i];
        uint64_t first = e->base_phys, last = e->base_phys + e->length_bytes - 1;
        struct translation tr;
        if (!region_in_direct_map(e)) {
            EXPECT_UNMAPPED(&kernel_space, DIRECT_MAP_BASE + first);
            EXPECT_UNMAPPED(&kernel_space, DIRECT_MAP_BASE + last);
            continue;
        }
        for (uint64_t pa = first; pa <= last; pa += last - first) {
            CHECK(paging_translate(&kernel_space, DIRECT_MAP_BASE + pa, &tr));
            EXPECT_MAPPED(&kernel_space, DIRECT_MAP_BASE + pa, pa, tr.size,
                          PAGE_WRITE | PAGE_GLOBAL);
            if (last == first)
                break;
        }
    }
    /* Holes stay holes: between the ACPI region and the IOAPIC, past the top. */
    EXPECT_UNMAPPED(&kernel_space, DIRECT_MAP_BASE + 50 * MIB);
    EXPECT_UNMAPPED(&kernel_space, DIRECT_MAP_BASE + 0xfec01000);
    EXPECT_UNMAPPED(&kernel_space, DIRECT_MAP_BASE + 8 * GIB + 2 * MIB);
    EXPECT_UNMAPPED(&kernel_space, DIRECT_MAP_BASE + 8 * GIB + 8 * MIB);
}

static void test_paging_init_direct_map_covers_every_region_first_and_last_byte(void)
{
    direct_map_covers_every_region(true);
    direct_map_covers_every_region(false);
}

static void test_paging_init_direct_map_uses_1g_pages_where_aligned(void)
{
    boot_big(true);
    for (uint64_t pa = 4 * GIB; pa < 8 * GIB; pa += GIB)
        EXPECT_MAPPED(&kernel_space, DIRECT_MAP_BASE + pa + 0x1234, pa + 0x1234, PAGE_1G,
                      PAGE_WRITE | PAGE_GLOBAL);
    /* [0, 50 MiB) is 2 MiB-aligned but shorter than 1 GiB. */
    EXPECT_MAPPED(&kernel_space, DIRECT_MAP_BASE + 0, 0, PAGE_2M, PAGE_WRITE | PAGE_GLOBAL);
    EXPECT_MAPPED(&kernel_space, DIRECT_MAP_BASE + 49 * MIB, 49 * MIB, PAGE_2M,
                  PAGE_WRITE | PAGE_GLOBAL);
    /* A lone 4 KiB region, and an unaligned start: 4 KiB up to the 2 MiB boundary. */
    EXPECT_MAPPED(&kernel_space, DIRECT_MAP_BASE + 0xfec00000, 0xfec00000, PAGE_4K,
                  PAGE_WRITE | PAGE_GLOBAL);
    uint64_t odd = 8 * GIB + 2 * MIB + 12 * KIB;
    EXPECT_MAPPED(&kernel_space, DIRECT_MAP_BASE + odd, odd, PAGE_4K, PAGE_WRITE | PAGE_GLOBAL);
    EXPECT_MAPPED(&kernel_space, DIRECT_MAP_BASE + 8 * GIB + 4 * MIB - 1, 8 * GIB + 4 * MIB - 1,
                  PAGE_4K, PAGE_WRITE | PAGE_GLOBAL);
    EXPECT_MAPPED(&kernel_space, DIRECT_MAP_BASE + 8 * GIB + 4 * MIB, 8 * GIB + 4 * MIB, PAGE_2M,
                  PAGE_WRITE | PAGE_GLOBAL);
    EXPECT_MAPPED(&kernel_space, DIRECT_MAP_BASE + 8 * GIB + 6 * MIB, 8 * GIB + 6 * MIB, PAGE_2M,
                  PAGE_WRITE | PAGE_GLOBAL);
}

static void test_paging_init_direct_map_uses_2m_pages_without_1g_support(void)
{
    boot_big(false);
    for (uint64_t pa = 4 * GIB; pa < 8 * GIB; pa += 256 * MIB)
        EXPECT_MAPPED(&kernel_space, DIRECT_MAP_BASE + pa, pa, PAGE_2M, PAGE_WRITE | PAGE_GLOBAL);
    EXPECT_MAPPED(&kernel_space, DIRECT_MAP_BASE + 8 * GIB - 1, 8 * GIB - 1, PAGE_2M,
                  PAGE_WRITE | PAGE_GLOBAL);
}

static void test_paging_init_maps_image_sections_w_xor_x(void)
{
    boot_big(true);
    uintptr_t data_end = (BSS_END + FRAME_SIZE - 1) & ~(FRAME_SIZE - 1);
    for (uintptr_t va = TEXT_START; va < RODATA_START; va += FRAME_SIZE)
        EXPECT_MAPPED(&kernel_space, va, va - KERNEL_VMA, PAGE_4K, PAGE_EXEC | PAGE_GLOBAL);
    for (uintptr_t va = RODATA_START; va < DATA_START; va += FRAME_SIZE)
        EXPECT_MAPPED(&kernel_space, va, va - KERNEL_VMA, PAGE_4K, PAGE_GLOBAL);
    for (uintptr_t va = DATA_START; va < data_end; va += FRAME_SIZE)
        EXPECT_MAPPED(&kernel_space, va + 0xfff, va - KERNEL_VMA + 0xfff, PAGE_4K,
                      PAGE_WRITE | PAGE_GLOBAL);
    EXPECT_UNMAPPED(&kernel_space, TEXT_START - FRAME_SIZE);
    EXPECT_UNMAPPED(&kernel_space, data_end);
}

static void test_paging_init_leaves_va_zero_and_the_user_half_empty(void)
{
    boot_big(true);
    EXPECT_UNMAPPED(&kernel_space, 0);
    EXPECT_UNMAPPED(&kernel_space, 0x1000);
    EXPECT_UNMAPPED(&kernel_space, IMAGE_PHYS); /* no identity map of the image */
    const uint64_t *root = ref_table(kernel_space.root.value);
    for (unsigned i = 0; i < 256; i++)
        CHECK_EQ_U64(root[i], 0);
}

static void test_paging_init_makes_every_kernel_root_entry(void)
{
    boot_big(true);
    const uint64_t *root = ref_table(kernel_space.root.value);
    const struct arch_va_region *regions[] = {&arch_va_layout.direct_map, &arch_va_layout.heap,
                                              &arch_va_layout.stacks, &arch_va_layout.devices,
                                              &arch_va_layout.kernel_image};
    bool wanted[512] = {false};
    for (size_t r = 0; r < COUNT_OF(regions); r++) {
        for (uint64_t i = X86_INDEX(regions[r]->start, 3); i <= X86_INDEX(regions[r]->end - 1, 3);
             i++)
            wanted[i] = true;
    }
    for (unsigned i = 256; i < 512; i++) {
        CHECK_EQ_INT((root[i] & X86_P) != 0, wanted[i]);
        if (root[i] & X86_P)
            CHECK(!(root[i] & X86_US)); /* kernel tables never let user access through */
    }
}

static void test_paging_init_audit_is_clean_and_root_loaded(void)
{
    boot_big(true);
    CHECK_EQ_INT(paging_audit_wx(&kernel_space, NULL, NULL), 0);
    CHECK(strstr(shim_log, "W^X audit clean") != NULL);
    CHECK_EQ_U64(mmu_root, kernel_space.root.value);
    CHECK_EQ_INT(mmu_root_loads, 1);
    CHECK(mmu_flush_all_count >= 1);
}

static void test_paging_init_without_memory_for_tables_panics(void)
{
    shim_phys_fini();
    shim_phys_init(FAKE_RAM_BYTES);
    const struct phys_range image = {IMAGE_PHYS, IMAGE_PHYS + IMAGE_BYTES};
    CHECK_EQ_INT(frame_init(small_map, COUNT_OF(small_map), &image, 1, FAKE_RAM_BYTES), FRAME_OK);
    memset(&boot_info, 0, sizeof(boot_info));
    boot_info.mmap[0] = small_map[1];
    boot_info.mmap_count = 1;
    struct hoard h = hoard_all_but(3);
    CHECK(SHIM_EXPECT_PANIC(paging_init(&boot_info)));
    CHECK(strstr(shim_panic_message, "paging: cannot") != NULL);
    hoard_release(&h);
}

/* ---- map, translate, protect, unmap --------------------------------------------------- */

static void map_protect_unmap_cycle(struct address_space *as, uintptr_t va, uint64_t pa,
                                    enum page_size size, unsigned flags, unsigned new_flags)
{
    struct counts before = counts_now();
    uint64_t bytes = page_size_bytes(size);
    CHECK_EQ_INT(paging_map(as, va, phys(pa), size, flags), PAGING_OK);
    EXPECT_MAPPED(as, va, pa, size, flags);
    EXPECT_MAPPED(as, va + bytes / 2 + 0x123, pa + bytes / 2 + 0x123, size, flags);
    EXPECT_MAPPED(as, va + bytes - 1, pa + bytes - 1, size, flags);
    EXPECT_UNMAPPED(as, va + bytes);
    if (va >= bytes)
        EXPECT_UNMAPPED(as, va - 1);

    size_t mark = mmu_flush_count;
    CHECK_EQ_INT(paging_protect(as, va, size, new_flags), PAGING_OK);
    CHECK(flushed_since(mark, va));
    EXPECT_MAPPED(as, va + bytes - 1, pa + bytes - 1, size, new_flags);

    mark = mmu_flush_count;
    phys_addr_t old = PHYS_INVALID;
    CHECK_EQ_INT(paging_unmap(as, va, size, &old), PAGING_OK);
    CHECK_EQ_U64(old.value, pa);
    CHECK(flushed_since(mark, va));
    EXPECT_UNMAPPED(as, va);
    EXPECT_UNMAPPED(as, va + bytes - 1);
    CHECK_COUNTS_BACK(before);
}

static void test_paging_map_protect_unmap_4k(void)
{
    boot_big(true);
    map_protect_unmap_cycle(&kernel_space, HEAP_VA + 0x5000, 0x7000, PAGE_4K, PAGE_WRITE,
                            PAGE_GLOBAL);
    struct address_space *as = paging_create_space();
    map_protect_unmap_cycle(as, USER_VA + 0x3000, 0x123456000, PAGE_4K, PAGE_USER | PAGE_WRITE,
                            PAGE_USER | PAGE_EXEC);
    map_protect_unmap_cycle(as, 0x1000, 0x9000, PAGE_4K, PAGE_USER, PAGE_USER | PAGE_WRITE);
    paging_destroy_space(as);
}

static void test_paging_map_protect_unmap_2m(void)
{
    boot_big(true);
    map_protect_unmap_cycle(&kernel_space, HEAP_VA + 6 * MIB, 10 * MIB, PAGE_2M,
                            PAGE_WRITE | PAGE_GLOBAL, PAGE_EXEC);
    struct address_space *as = paging_create_space();
    /* Odd 2 MiB frame numbers: bit 21 of the address must survive protect. */
    map_protect_unmap_cycle(as, USER_VA + 2 * MIB, 0x40000000 + 2 * MIB, PAGE_2M,
                            PAGE_USER | PAGE_EXEC, PAGE_USER | PAGE_WRITE_COMBINE | PAGE_WRITE);
    paging_destroy_space(as);
}

static void test_paging_map_protect_unmap_1g(void)
{
    boot_big(true);
    map_protect_unmap_cycle(&kernel_space, STACKS_BASE + 3 * GIB, 13 * GIB, PAGE_1G, PAGE_WRITE,
                            PAGE_NOCACHE);
    struct address_space *as = paging_create_space();
    map_protect_unmap_cycle(as, USER_VA + GIB, 5 * GIB, PAGE_1G, PAGE_USER | PAGE_WRITE, PAGE_USER);
    paging_destroy_space(as);
}

static void test_paging_1g_pages_unsupported_without_cpu_support(void)
{
    boot_big(false);
    struct counts before = counts_now();
    CHECK_EQ_INT(paging_map(&kernel_space, STACKS_BASE, phys(GIB), PAGE_1G, PAGE_WRITE),
                 PAGING_ERR_UNSUPPORTED);
    CHECK_EQ_INT(paging_unmap(&kernel_space, DIRECT_MAP_BASE + 4 * GIB, PAGE_1G, NULL),
                 PAGING_ERR_UNSUPPORTED);
    CHECK_EQ_INT(paging_protect(&kernel_space, DIRECT_MAP_BASE + 4 * GIB, PAGE_1G, 0),
                 PAGING_ERR_UNSUPPORTED);
    EXPECT_UNMAPPED(&kernel_space, STACKS_BASE);
    CHECK_COUNTS_BACK(before);
}

/* What translate reports for `flags`: uncached wins over write-combining. */
static unsigned flags_as_mapped(unsigned flags)
{
    return (flags & PAGE_NOCACHE) ? flags & ~PAGE_WRITE_COMBINE : flags;
}

static void test_paging_flags_round_trip_for_every_combination(void)
{
    boot_big(true);
    struct address_space *as = paging_create_space();
    struct counts before = counts_now();
    const unsigned all =
        PAGE_WRITE | PAGE_EXEC | PAGE_USER | PAGE_GLOBAL | PAGE_NOCACHE | PAGE_WRITE_COMBINE;
    for (unsigned flags = 0; flags <= all; flags++) {
        for (enum page_size size = PAGE_4K; size <= PAGE_1G; size++) {
            uintptr_t user_va = USER_VA + 4 * GIB * size + page_size_bytes(size) * 3;
            uint64_t pa = page_size_bytes(size) * 5;
            CHECK_EQ_INT(paging_map(as, user_va, phys(pa), size, flags), PAGING_OK);
            EXPECT_MAPPED(as, user_va + 8, pa + 8, size, flags_as_mapped(flags));
            CHECK_EQ_INT(paging_unmap(as, user_va, size, NULL), PAGING_OK);

            if ((flags & PAGE_USER) || ((flags & PAGE_WRITE) && (flags & PAGE_EXEC)))
                continue;
            uintptr_t kernel_va = HEAP_VA + 4 * GIB * size + page_size_bytes(size) * 3;
            CHECK_EQ_INT(paging_map(&kernel_space, kernel_va, phys(pa), size, flags), PAGING_OK);
            EXPECT_MAPPED(&kernel_space, kernel_va, pa, size, flags_as_mapped(flags));
            EXPECT_MAPPED(as, kernel_va, pa, size, flags_as_mapped(flags));
            CHECK_EQ_INT(paging_unmap(&kernel_space, kernel_va, size, NULL), PAGING_OK);
        }
    }
    CHECK_COUNTS_BACK(before);
    paging_destroy_space(as);
}

static void test_paging_effective_rights_are_what_every_level_allows(void)
{
    boot_big(true);
    struct address_space *as = paging_create_space();
    const unsigned rwxu = PAGE_WRITE | PAGE_EXEC | PAGE_USER;
    CHECK_EQ_INT(paging_map(as, USER_VA, phys(0x5000), PAGE_4K, rwxu), PAGING_OK);
    CHECK_EQ_INT(paging_audit_wx(as, NULL, NULL), 1);
    uint64_t *pd_entry = ref_entry(as->root.value, USER_VA, 1);
    uint64_t *pdpt_entry = ref_entry(as->root.value, USER_VA, 2);
    uint64_t *root_entry = ref_entry(as->root.value, USER_VA, 3);
    CHECK(pd_entry && pdpt_entry && root_entry);
    if (!pd_entry || !pdpt_entry || !root_entry)
        return;

    *pd_entry &= ~X86_RW;
    EXPECT_MAPPED(as, USER_VA, 0x5000, PAGE_4K, PAGE_EXEC | PAGE_USER);
    CHECK_EQ_INT(paging_audit_wx(as, NULL, NULL), 0); /* not writable through the PD */
    *pd_entry |= X86_RW;

    *pdpt_entry |= X86_NX;
    EXPECT_MAPPED(as, USER_VA, 0x5000, PAGE_4K, PAGE_WRITE | PAGE_USER);
    CHECK_EQ_INT(paging_audit_wx(as, NULL, NULL), 0);
    *pdpt_entry &= ~X86_NX;

    *root_entry &= ~X86_US;
    EXPECT_MAPPED(as, USER_VA, 0x5000, PAGE_4K, PAGE_WRITE | PAGE_EXEC);
    *root_entry |= X86_US;

    EXPECT_MAPPED(as, USER_VA, 0x5000, PAGE_4K, rwxu);
    CHECK_EQ_INT(paging_unmap(as, USER_VA, PAGE_4K, NULL), PAGING_OK);
    paging_destroy_space(as);
}

/* ---- every error ------------------------------------------------------------------------ */

static void test_paging_error_no_memory_leaves_counts_unchanged(void)
{
    boot_small();
    struct address_space *as = paging_create_space();
    CHECK(as != NULL);
    /* A fresh user address needs three tables, a fresh heap address two. */
    for (size_t keep = 0; keep < 3; keep++) {
        struct counts before = counts_now();
        struct hoard h = hoard_all_but(keep);
        CHECK_EQ_INT(paging_map(as, USER_VA, phys(0x5000), PAGE_4K, PAGE_USER),
                     PAGING_ERR_NO_MEMORY);
        if (keep < 2)
            CHECK_EQ_INT(paging_map(&kernel_space, HEAP_VA, phys(0x5000), PAGE_4K, 0),
                         PAGING_ERR_NO_MEMORY);
        hoard_release(&h);
        EXPECT_UNMAPPED(as, USER_VA);
        EXPECT_UNMAPPED(&kernel_space, HEAP_VA);
        CHECK_COUNTS_BACK(before);
    }
    CHECK_EQ_INT(paging_map(as, USER_VA, phys(0x5000), PAGE_4K, PAGE_USER), PAGING_OK);
    CHECK_EQ_INT(paging_unmap(as, USER_VA, PAGE_4K, NULL), PAGING_OK);
    paging_destroy_space(as);
}

static void test_paging_error_no_memory_for_a_space_or_device_returns_null(void)
{
    boot_small();
    struct counts before = counts_now();
    struct hoard h = hoard_all_but(0);
    CHECK(paging_create_space() == NULL); /* and kfree'd its struct: LeakSanitizer checks */
    CHECK(paging_map_device(phys(0xfebd0000), 0x1000, PAGE_NOCACHE) == NULL);
    hoard_release(&h);
    CHECK_COUNTS_BACK(before);
}

static void test_paging_error_misaligned(void)
{
    boot_big(true);
    struct counts before = counts_now();
    CHECK_EQ_INT(paging_map(&kernel_space, HEAP_VA + 0x800, phys(0), PAGE_4K, 0),
                 PAGING_ERR_MISALIGNED);
    CHECK_EQ_INT(paging_map(&kernel_space, HEAP_VA, phys(0x800), PAGE_4K, 0),
                 PAGING_ERR_MISALIGNED);
    CHECK_EQ_INT(paging_map(&kernel_space, HEAP_VA + 0x1000, phys(0), PAGE_2M, 0),
                 PAGING_ERR_MISALIGNED);
    CHECK_EQ_INT(paging_map(&kernel_space, HEAP_VA, phys(0x1000), PAGE_2M, 0),
                 PAGING_ERR_MISALIGNED);
    CHECK_EQ_INT(paging_map(&kernel_space, HEAP_VA + 2 * MIB, phys(0), PAGE_1G, 0),
                 PAGING_ERR_MISALIGNED);
    CHECK_EQ_INT(paging_map(&kernel_space, HEAP_VA, phys(2 * MIB), PAGE_1G, 0),
                 PAGING_ERR_MISALIGNED);
    CHECK_EQ_INT(paging_unmap(&kernel_space, DIRECT_MAP_BASE + 0x1000, PAGE_2M, NULL),
                 PAGING_ERR_MISALIGNED);
    CHECK_EQ_INT(paging_protect(&kernel_space, DIRECT_MAP_BASE + 0x10, PAGE_4K, 0),
                 PAGING_ERR_MISALIGNED);
    CHECK_COUNTS_BACK(before);
}

static void test_paging_error_exists(void)
{
    boot_big(true);
    struct counts before = counts_now();
    CHECK_EQ_INT(paging_map(&kernel_space, HEAP_VA, phys(0x5000), PAGE_4K, 0), PAGING_OK);
    CHECK_EQ_INT(paging_map(&kernel_space, HEAP_VA, phys(0x6000), PAGE_4K, 0), PAGING_ERR_EXISTS);
    /* A 2 MiB page over a table of 4 KiB pages, a 4 KiB page inside a 2 MiB one. */
    CHECK_EQ_INT(paging_map(&kernel_space, HEAP_VA, phys(0), PAGE_2M, 0), PAGING_ERR_EXISTS);
    CHECK_EQ_INT(paging_map(&kernel_space, HEAP_VA, phys(0), PAGE_1G, 0), PAGING_ERR_EXISTS);
    CHECK_EQ_INT(paging_map(&kernel_space, DIRECT_MAP_BASE + 0x3000, phys(0x3000), PAGE_4K, 0),
                 PAGING_ERR_EXISTS);
    CHECK_EQ_INT(
        paging_map(&kernel_space, DIRECT_MAP_BASE + 4 * GIB + 2 * MIB, phys(0), PAGE_2M, 0),
        PAGING_ERR_EXISTS);
    EXPECT_MAPPED(&kernel_space, HEAP_VA, 0x5000, PAGE_4K, 0);
    CHECK_EQ_INT(paging_unmap(&kernel_space, HEAP_VA, PAGE_4K, NULL), PAGING_OK);
    CHECK_COUNTS_BACK(before);
}

static void test_paging_error_not_mapped(void)
{
    boot_big(true);
    struct counts before = counts_now();
    size_t mark = mmu_flush_count;
    CHECK_EQ_INT(paging_unmap(&kernel_space, HEAP_VA, PAGE_4K, NULL), PAGING_ERR_NOT_MAPPED);
    CHECK_EQ_INT(paging_unmap(&kernel_space, HEAP_VA, PAGE_1G, NULL), PAGING_ERR_NOT_MAPPED);
    CHECK_EQ_INT(paging_protect(&kernel_space, HEAP_VA, PAGE_2M, 0), PAGING_ERR_NOT_MAPPED);
    CHECK_EQ_INT(paging_unmap(&kernel_space, 0, PAGE_4K, NULL), PAGING_ERR_NOT_MAPPED);
    /* Outside every kernel region: no root entry to walk through. */
    CHECK_EQ_INT(paging_unmap(&kernel_space, 0xffff900000000000ull, PAGE_4K, NULL),
                 PAGING_ERR_NOT_MAPPED);
    /* A table exists (the neighbour's) but the entry is empty. */
    CHECK_EQ_INT(paging_map(&kernel_space, HEAP_VA, phys(0x5000), PAGE_4K, 0), PAGING_OK);
    CHECK_EQ_INT(paging_unmap(&kernel_space, HEAP_VA + 0x1000, PAGE_4K, NULL),
                 PAGING_ERR_NOT_MAPPED);
    CHECK_EQ_INT(paging_unmap(&kernel_space, HEAP_VA, PAGE_4K, NULL), PAGING_OK);
    CHECK_EQ_U64(mmu_flush_count, mark + 1); /* only the one that unmapped something */
    CHECK_COUNTS_BACK(before);
}

static void test_paging_error_size_mismatch(void)
{
    boot_big(true);
    struct counts before = counts_now();
    /* Direct map: 1 GiB pages at 4 GiB, 2 MiB pages at 0. */
    CHECK_EQ_INT(paging_unmap(&kernel_space, DIRECT_MAP_BASE + 4 * GIB, PAGE_2M, NULL),
                 PAGING_ERR_SIZE_MISMATCH);
    CHECK_EQ_INT(paging_unmap(&kernel_space, DIRECT_MAP_BASE + 4 * GIB + 0x5000, PAGE_4K, NULL),
                 PAGING_ERR_SIZE_MISMATCH);
    CHECK_EQ_INT(paging_protect(&kernel_space, DIRECT_MAP_BASE + 2 * MIB, PAGE_4K, 0),
                 PAGING_ERR_SIZE_MISMATCH);
    CHECK_EQ_INT(paging_unmap(&kernel_space, DIRECT_MAP_BASE, PAGE_1G, NULL),
                 PAGING_ERR_SIZE_MISMATCH);
    /* 4 KiB pages under a table: asking for the 2 MiB page there. */
    CHECK_EQ_INT(paging_unmap(&kernel_space, DIRECT_MAP_BASE + 0xfec00000, PAGE_2M, NULL),
                 PAGING_ERR_SIZE_MISMATCH);
    EXPECT_MAPPED(&kernel_space, DIRECT_MAP_BASE + 4 * GIB, 4 * GIB, PAGE_1G,
                  PAGE_WRITE | PAGE_GLOBAL);
    CHECK_COUNTS_BACK(before);
}

static void test_paging_error_bad_address(void)
{
    boot_big(true);
    struct counts before = counts_now();
    const uintptr_t non_canonical = 0x0000800000000000ull;
    CHECK_EQ_INT(paging_map(&kernel_space, non_canonical, phys(0), PAGE_4K, 0),
                 PAGING_ERR_BAD_ADDRESS);
    CHECK_EQ_INT(paging_unmap(&kernel_space, non_canonical, PAGE_4K, NULL), PAGING_ERR_BAD_ADDRESS);
    CHECK_EQ_INT(paging_protect(&kernel_space, 0xfff0000000000000ull, PAGE_4K, 0),
                 PAGING_ERR_BAD_ADDRESS);
    struct translation tr;
    CHECK(!paging_translate(&kernel_space, non_canonical, &tr));
    CHECK(!paging_translate_unlocked(&kernel_space, non_canonical, &tr));
    /* A user page in the kernel half. */
    CHECK_EQ_INT(paging_map(&kernel_space, HEAP_VA, phys(0), PAGE_4K, PAGE_USER),
                 PAGING_ERR_BAD_ADDRESS);
    CHECK_EQ_INT(paging_protect(&kernel_space, DIRECT_MAP_BASE, PAGE_2M, PAGE_USER | PAGE_WRITE),
                 PAGING_ERR_BAD_ADDRESS);
    /* Kernel half, but in no region: its root entry does not exist. */
    CHECK_EQ_INT(paging_map(&kernel_space, 0xffff900000000000ull, phys(0), PAGE_4K, 0),
                 PAGING_ERR_BAD_ADDRESS);
    EXPECT_MAPPED(&kernel_space, DIRECT_MAP_BASE, 0, PAGE_2M, PAGE_WRITE | PAGE_GLOBAL);
    CHECK_COUNTS_BACK(before);
}

/* x86 entries hold 52 physical address bits: a larger one must not be cut down to
 * another page's address (1 << 52 would become page 0). */
static void test_paging_error_bad_address_for_a_physical_address_too_wide(void)
{
    boot_big(true);
    struct counts before = counts_now();
    for (enum page_size size = PAGE_4K; size <= PAGE_1G; size++) {
        CHECK_EQ_INT(paging_map(&kernel_space, HEAP_VA, phys(1ull << 52), size, 0),
                     PAGING_ERR_BAD_ADDRESS);
        CHECK_EQ_INT(paging_map(&kernel_space, HEAP_VA, phys(1ull << 63), size, 0),
                     PAGING_ERR_BAD_ADDRESS);
        EXPECT_UNMAPPED(&kernel_space, HEAP_VA);
    }
    uint64_t top = (1ull << 52) - GIB;
    CHECK_EQ_INT(paging_map(&kernel_space, HEAP_VA, phys(top), PAGE_1G, 0), PAGING_OK);
    EXPECT_MAPPED(&kernel_space, HEAP_VA + GIB - 1, top + GIB - 1, PAGE_1G, 0);
    CHECK_EQ_INT(paging_unmap(&kernel_space, HEAP_VA, PAGE_1G, NULL), PAGING_OK);
    CHECK(paging_map_device(phys(1ull << 52), 0x1000, PAGE_NOCACHE) == NULL);
    CHECK_COUNTS_BACK(before);
}

static void test_paging_error_wx_in_the_kernel_half(void)
{
    boot_big(true);
    struct counts before = counts_now();
    CHECK_EQ_INT(paging_map(&kernel_space, HEAP_VA, phys(0), PAGE_4K, PAGE_WRITE | PAGE_EXEC),
                 PAGING_ERR_WX);
    CHECK_EQ_INT(paging_protect(&kernel_space, DIRECT_MAP_BASE, PAGE_2M, PAGE_WRITE | PAGE_EXEC),
                 PAGING_ERR_WX);
    CHECK_EQ_INT(paging_protect(&kernel_space, TEXT_START, PAGE_4K, PAGE_WRITE | PAGE_EXEC),
                 PAGING_ERR_WX);
    EXPECT_UNMAPPED(&kernel_space, HEAP_VA);
    EXPECT_MAPPED(&kernel_space, TEXT_START, IMAGE_PHYS, PAGE_4K, PAGE_EXEC | PAGE_GLOBAL);
    /* The user half may have W+X pages (the audit reports them). */
    struct address_space *as = paging_create_space();
    CHECK_EQ_INT(paging_map(as, USER_VA, phys(0), PAGE_4K, PAGE_USER | PAGE_WRITE | PAGE_EXEC),
                 PAGING_OK);
    CHECK_EQ_INT(paging_unmap(as, USER_VA, PAGE_4K, NULL), PAGING_OK);
    paging_destroy_space(as);
    CHECK_COUNTS_BACK(before);
}

static void test_paging_error_unsupported_page_size(void)
{
    boot_big(true);
    enum page_size bogus = (enum page_size)3;
    CHECK_EQ_INT(paging_map(&kernel_space, HEAP_VA, phys(0), bogus, 0), PAGING_ERR_UNSUPPORTED);
    CHECK_EQ_INT(paging_unmap(&kernel_space, HEAP_VA, bogus, NULL), PAGING_ERR_UNSUPPORTED);
    CHECK_EQ_INT(paging_protect(&kernel_space, HEAP_VA, bogus, 0), PAGING_ERR_UNSUPPORTED);
}

/* ---- tables come and go ------------------------------------------------------------------ */

static void test_paging_unmap_frees_emptied_user_tables(void)
{
    boot_big(true);
    struct address_space *as = paging_create_space();
    struct counts before = counts_now();
    CHECK_EQ_INT(paging_map(as, USER_VA, phys(0x5000), PAGE_4K, PAGE_USER), PAGING_OK);
    CHECK_EQ_U64(paging_table_pages(), before.tables + 3); /* PDPT, PD, PT */
    CHECK_EQ_INT(paging_map(as, USER_VA + 0x1000, phys(0x6000), PAGE_4K, PAGE_USER), PAGING_OK);
    CHECK_EQ_INT(paging_map(as, USER_VA + 2 * MIB, phys(0), PAGE_2M, PAGE_USER), PAGING_OK);
    CHECK_EQ_U64(paging_table_pages(), before.tables + 3);

    CHECK_EQ_INT(paging_unmap(as, USER_VA, PAGE_4K, NULL), PAGING_OK);
    CHECK_EQ_U64(paging_table_pages(), before.tables + 3); /* the PT still holds a page */
    CHECK_EQ_INT(paging_unmap(as, USER_VA + 0x1000, PAGE_4K, NULL), PAGING_OK);
    CHECK_EQ_U64(paging_table_pages(), before.tables + 2); /* the PT went */
    CHECK_EQ_INT(paging_unmap(as, USER_VA + 2 * MIB, PAGE_2M, NULL), PAGING_OK);
    CHECK_COUNTS_BACK(before);
    CHECK_EQ_U64(ref_table(as->root.value)[X86_INDEX(USER_VA, 3)], 0);
    paging_destroy_space(as);
}

static void test_paging_kernel_half_keeps_emptied_tables_until_a_trim(void)
{
    boot_big(true);
    uint64_t heap_root_entry = ref_table(kernel_space.root.value)[X86_INDEX(HEAP_VA, 3)];
    struct counts before = counts_now();
    CHECK_EQ_INT(paging_map(&kernel_space, HEAP_VA, phys(0x5000), PAGE_4K, 0), PAGING_OK);
    CHECK_EQ_U64(paging_table_pages(), before.tables + 2); /* PD, PT; the PDPT exists */
    size_t mark = mmu_flush_count;
    CHECK_EQ_INT(paging_unmap(&kernel_space, HEAP_VA, PAGE_4K, NULL), PAGING_OK);
    CHECK(flushed_since(mark, HEAP_VA));
    EXPECT_UNMAPPED(&kernel_space, HEAP_VA);
    /* Kept, empty: the next map there allocates nothing. */
    CHECK_EQ_U64(paging_table_pages(), before.tables + 2);
    CHECK_EQ_U64(free_frames(), before.frames - 2);
    CHECK_EQ_INT(paging_map(&kernel_space, HEAP_VA + 0x1000, phys(0x6000), PAGE_4K, 0), PAGING_OK);
    CHECK_EQ_U64(paging_table_pages(), before.tables + 2);
    /* A trim frees none that holds a page. */
    unsigned all_before = mmu_flush_all_count;
    CHECK_EQ_INT(paging_trim(), 0);
    CHECK_EQ_INT(mmu_flush_all_count, all_before);
    CHECK_EQ_INT(paging_unmap(&kernel_space, HEAP_VA + 0x1000, PAGE_4K, NULL), PAGING_OK);
    /* Then both, bottom up, with one flush of every TLB; the top-level table stays. */
    CHECK_EQ_INT(paging_trim(), 2);
    CHECK_EQ_INT(mmu_flush_all_count, all_before + 1);
    CHECK_EQ_U64(paging_table_pages(), before.tables);
    CHECK_EQ_U64(free_frames(), before.frames);
    CHECK_EQ_U64(ref_table(kernel_space.root.value)[X86_INDEX(HEAP_VA, 3)], heap_root_entry);
    CHECK_EQ_U64(ref_table(heap_root_entry & X86_ADDR)[X86_INDEX(HEAP_VA, 2)], 0);

    CHECK_EQ_INT(paging_map(&kernel_space, HEAP_VA, phys(GIB), PAGE_1G, 0), PAGING_OK);
    CHECK_EQ_U64(paging_table_pages(), before.tables);
    CHECK_EQ_INT(paging_unmap(&kernel_space, HEAP_VA, PAGE_1G, NULL), PAGING_OK);
    CHECK_EQ_U64(ref_table(kernel_space.root.value)[X86_INDEX(HEAP_VA, 3)], heap_root_entry);
    CHECK_COUNTS_BACK(before);
}

static void test_paging_is_mapped_agrees_with_translate(void)
{
    boot_big(true);
    struct address_space *as = paging_create_space();
    CHECK_EQ_INT(paging_map(as, USER_VA, phys(0x5000), PAGE_4K, PAGE_USER), PAGING_OK);
    CHECK_EQ_INT(paging_map(&kernel_space, HEAP_VA + 2 * MIB, phys(0), PAGE_2M, 0), PAGING_OK);
    const uintptr_t vas[] = {0, USER_VA, USER_VA + 0xfff, USER_VA + 0x1000, HEAP_VA,
                             HEAP_VA + 2 * MIB + 0x1234, TEXT_START, DIRECT_MAP_BASE + 5 * GIB,
                             0x0000800000000000ull /* not canonical */};
    for (size_t i = 0; i < COUNT_OF(vas); i++) {
        struct translation t;
        CHECK_EQ_INT(paging_is_mapped_unlocked(as, vas[i]), paging_translate(as, vas[i], &t));
    }
    CHECK(paging_is_mapped_unlocked(as, USER_VA) && !paging_is_mapped_unlocked(as, HEAP_VA));
    CHECK_EQ_INT(paging_unmap(as, USER_VA, PAGE_4K, NULL), PAGING_OK);
    CHECK(!paging_is_mapped_unlocked(as, USER_VA));
    CHECK_EQ_INT(paging_unmap(&kernel_space, HEAP_VA + 2 * MIB, PAGE_2M, NULL), PAGING_OK);
    paging_destroy_space(as);
}

/* The kept tables never cost a mapping: short of frames, paging_map trims first. */
static void test_paging_map_trims_kept_tables_when_no_frame_is_left(void)
{
    boot_big(true);
    struct counts before = counts_now();
    CHECK_EQ_INT(paging_map(&kernel_space, HEAP_VA, phys(0x5000), PAGE_4K, 0), PAGING_OK);
    CHECK_EQ_INT(paging_unmap(&kernel_space, HEAP_VA, PAGE_4K, NULL), PAGING_OK);
    struct hoard h = hoard_all_but(0);
    /* A stack address needs a PD and a PT of its own: the two kept ones. */
    CHECK_EQ_INT(paging_map(&kernel_space, STACKS_BASE, phys(0x6000), PAGE_4K, 0), PAGING_OK);
    EXPECT_MAPPED(&kernel_space, STACKS_BASE, 0x6000, PAGE_4K, 0);
    EXPECT_UNMAPPED(&kernel_space, HEAP_VA);
    CHECK_EQ_U64(paging_table_pages(), before.tables + 2);
    /* Nothing left to trim: out of memory, as before. */
    CHECK_EQ_INT(paging_map(&kernel_space, HEAP_VA, phys(0x5000), PAGE_4K, 0),
                 PAGING_ERR_NO_MEMORY);
    hoard_release(&h);
    CHECK_EQ_INT(paging_unmap(&kernel_space, STACKS_BASE, PAGE_4K, NULL), PAGING_OK);
    CHECK_COUNTS_BACK(before);
}

/* A deferred unmap: the page is gone and flushed here at once; a user half's
 * emptied tables wait in the batch (others may have them cached) until the
 * caller's flush, which is total and frees them. The kernel half keeps its own. */
static void test_paging_unmap_deferred_frees_tables_at_the_flush(void)
{
    boot_big(true);
    struct address_space *as = paging_create_space();
    struct counts before = counts_now();
    CHECK_EQ_INT(paging_map(as, USER_VA, phys(0x5000), PAGE_4K, PAGE_USER | PAGE_WRITE),
                 PAGING_OK);
    size_t mark = mmu_flush_count;
    unsigned all_before = mmu_flush_all_count;
    struct paging_deferred batch = {.ntables = 0};
    phys_addr_t old = phys(0);
    CHECK_EQ_INT(paging_unmap_deferred(as, USER_VA, PAGE_4K, &old, &batch), PAGING_OK);
    CHECK_EQ_U64(old.value, 0x5000);
    CHECK(flushed_since(mark, USER_VA));
    struct translation t;
    CHECK(!paging_translate(as, USER_VA, &t));
    CHECK_EQ_INT(batch.ntables, 3); /* PT, PD and PDPT, unlinked but not yet free */
    CHECK_EQ_U64(paging_table_pages(), before.tables + 3);
    CHECK_EQ_INT(mmu_flush_all_count, all_before);
    CHECK_EQ_INT(paging_unmap_deferred(as, USER_VA, PAGE_4K, NULL, &batch),
                 PAGING_ERR_NOT_MAPPED);
    paging_flush_deferred(&batch);
    CHECK_EQ_INT(mmu_flush_all_count, all_before + 1);
    CHECK_EQ_INT(batch.ntables, 0);
    CHECK_COUNTS_BACK(before);

    /* The kernel half: nothing goes into the batch. */
    CHECK_EQ_INT(paging_map(&kernel_space, HEAP_VA, phys(0x5000), PAGE_4K, PAGE_WRITE),
                 PAGING_OK);
    mark = mmu_flush_count;
    CHECK_EQ_INT(paging_unmap_deferred(&kernel_space, HEAP_VA, PAGE_4K, NULL, &batch), PAGING_OK);
    CHECK(flushed_since(mark, HEAP_VA));
    CHECK(!paging_translate(&kernel_space, HEAP_VA, &t));
    CHECK_EQ_INT(batch.ntables, 0);
    paging_flush_deferred(&batch);
    CHECK_COUNTS_BACK(before);

    /* A batch without room for a walk's tables is refused, and nothing changes. */
    CHECK_EQ_INT(paging_map(&kernel_space, HEAP_VA, phys(0x6000), PAGE_4K, 0), PAGING_OK);
    batch.ntables = PAGING_DEFERRED_TABLES - 1;
    CHECK_EQ_INT(paging_unmap_deferred(&kernel_space, HEAP_VA, PAGE_4K, NULL, &batch),
                 PAGING_ERR_NO_MEMORY);
    CHECK(paging_translate(&kernel_space, HEAP_VA, &t));
    batch.ntables = 0;
    CHECK_EQ_INT(paging_unmap(&kernel_space, HEAP_VA, PAGE_4K, NULL), PAGING_OK);
    CHECK_COUNTS_BACK(before);
    paging_destroy_space(as);
}

/* ---- address spaces ------------------------------------------------------------------------ */

static void test_paging_spaces_share_the_kernel_half(void)
{
    boot_big(true);
    struct address_space *a = paging_create_space();
    struct address_space *b = paging_create_space();
    CHECK(a && b && a->root.value != b->root.value);
    EXPECT_MAPPED(a, TEXT_START, IMAGE_PHYS, PAGE_4K, PAGE_EXEC | PAGE_GLOBAL);
    EXPECT_MAPPED(b, DIRECT_MAP_BASE + 5 * GIB, 5 * GIB, PAGE_1G, PAGE_WRITE | PAGE_GLOBAL);
    /* Made after the spaces, through either: seen by all. */
    CHECK_EQ_INT(paging_map(&kernel_space, HEAP_VA, phys(0x5000), PAGE_4K, PAGE_WRITE), PAGING_OK);
    CHECK_EQ_INT(paging_map(a, STACKS_BASE + 0x3000, phys(0x6000), PAGE_4K, PAGE_WRITE), PAGING_OK);
    struct address_space *spaces[] = {&kernel_space, a, b};
    for (size_t i = 0; i < COUNT_OF(spaces); i++) {
        EXPECT_MAPPED(spaces[i], HEAP_VA, 0x5000, PAGE_4K, PAGE_WRITE);
        EXPECT_MAPPED(spaces[i], STACKS_BASE + 0x3000, 0x6000, PAGE_4K, PAGE_WRITE);
    }
    CHECK_EQ_INT(paging_unmap(b, HEAP_VA, PAGE_4K, NULL), PAGING_OK);
    EXPECT_UNMAPPED(a, HEAP_VA);
    EXPECT_UNMAPPED(&kernel_space, HEAP_VA);
    CHECK_EQ_INT(paging_unmap(&kernel_space, STACKS_BASE + 0x3000, PAGE_4K, NULL), PAGING_OK);
    paging_destroy_space(a);
    paging_destroy_space(b);
}

static void test_paging_space_user_mappings_are_private(void)
{
    boot_big(true);
    struct address_space *a = paging_create_space();
    struct address_space *b = paging_create_space();
    CHECK_EQ_INT(paging_map(a, USER_VA, phys(0x5000), PAGE_4K, PAGE_USER), PAGING_OK);
    CHECK_EQ_INT(paging_map(b, USER_VA, phys(0x9000), PAGE_4K, PAGE_USER | PAGE_WRITE), PAGING_OK);
    EXPECT_MAPPED(a, USER_VA, 0x5000, PAGE_4K, PAGE_USER);
    EXPECT_MAPPED(b, USER_VA, 0x9000, PAGE_4K, PAGE_USER | PAGE_WRITE);
    EXPECT_UNMAPPED(&kernel_space, USER_VA);
    CHECK_EQ_INT(paging_unmap(a, USER_VA, PAGE_4K, NULL), PAGING_OK);
    EXPECT_MAPPED(b, USER_VA, 0x9000, PAGE_4K, PAGE_USER | PAGE_WRITE);
    paging_destroy_space(a);
    paging_destroy_space(b);
}

static void test_paging_destroy_space_frees_every_user_table(void)
{
    boot_big(true);
    struct counts before = counts_now();
    struct address_space *as = paging_create_space();
    const uintptr_t vas[] = {0x1000, 0x7ffffffff000ull, USER_VA, USER_VA + 0x1000 * 511,
                             USER_VA + 3 * GIB + 5 * MIB};
    for (size_t i = 0; i < COUNT_OF(vas); i++)
        CHECK_EQ_INT(paging_map(as, vas[i], phys(0x5000), PAGE_4K, PAGE_USER), PAGING_OK);
    CHECK_EQ_INT(paging_map(as, USER_VA + 10 * MIB, phys(0), PAGE_2M, PAGE_USER), PAGING_OK);
    CHECK_EQ_INT(paging_map(as, 0x300000000000ull, phys(GIB), PAGE_1G, PAGE_USER), PAGING_OK);
    CHECK(paging_table_pages() > before.tables + 8);
    paging_destroy_space(as);
    CHECK_COUNTS_BACK(before);
    EXPECT_MAPPED(&kernel_space, TEXT_START, IMAGE_PHYS, PAGE_4K, PAGE_EXEC | PAGE_GLOBAL);
}

struct handed_pages {
    uint64_t pa[64];
    size_t n;
};

static void record_page(void *ctx, phys_addr_t pa, enum page_size size)
{
    struct handed_pages *h = ctx;
    CHECK_EQ_INT(size, PAGE_4K);
    if (h->n < COUNT_OF(h->pa))
        h->pa[h->n] = pa.value;
    h->n++;
}

/* Pages on either side of every eight-entry block edge of one table, and in two
 * other tables: destroy hands each to page_fn once, and frees every table. */
static void test_paging_destroy_space_pages_hands_over_every_page_once(void)
{
    boot_big(true);
    struct counts before = counts_now();
    struct address_space *as = paging_create_space();
    static const unsigned indexes[] = {0, 1, 7, 8, 9, 15, 16, 63, 64, 255, 256, 500, 510, 511};
    uint64_t expected = 0;
    size_t n = 0;
    for (size_t i = 0; i < COUNT_OF(indexes); i++) {
        uint64_t pa = 0x100000 + i * 0x1000;
        CHECK_EQ_INT(paging_map(as, USER_VA + indexes[i] * 0x1000ull, phys(pa), PAGE_4K,
                                PAGE_USER), PAGING_OK);
        expected += pa;
        n++;
    }
    const uintptr_t others[] = {0x10000, 0x7ffffffff000ull};
    for (size_t i = 0; i < COUNT_OF(others); i++) {
        uint64_t pa = 0x200000 + i * 0x1000;
        CHECK_EQ_INT(paging_map(as, others[i], phys(pa), PAGE_4K, PAGE_USER), PAGING_OK);
        expected += pa;
        n++;
    }
    struct handed_pages handed = {.n = 0};
    paging_destroy_space_pages(as, record_page, &handed);
    CHECK_EQ_INT(handed.n, n);
    uint64_t sum = 0;
    for (size_t i = 0; i < handed.n && i < COUNT_OF(handed.pa); i++) {
        sum += handed.pa[i];
        for (size_t j = 0; j < i; j++)
            CHECK(handed.pa[j] != handed.pa[i]);
    }
    CHECK(sum == expected);
    CHECK_COUNTS_BACK(before);
}

static void test_paging_activate_loads_the_root_and_destroying_the_active_space_panics(void)
{
    boot_big(true);
    struct address_space *as = paging_create_space();
    paging_activate(as);
    CHECK_EQ_U64(mmu_root, as->root.value);
    CHECK(SHIM_EXPECT_PANIC(paging_destroy_space(as)));
    CHECK(strstr(shim_panic_message, "assertion failed") != NULL);
    CHECK(SHIM_EXPECT_PANIC(paging_destroy_space(&kernel_space)));
    paging_activate(&kernel_space);
    CHECK_EQ_U64(mmu_root, kernel_space.root.value);
    paging_destroy_space(as);
}

/* ---- the W^X audit ------------------------------------------------------------------------- */

struct wx_report {
    size_t count;
    uintptr_t va[8];
    enum page_size size[8];
};

static void record_wx(void *ctx, uintptr_t va, enum page_size size)
{
    struct wx_report *r = ctx;
    if (r->count < 8) {
        r->va[r->count] = va;
        r->size[r->count] = size;
    }
    r->count++;
}

static void test_paging_audit_reports_user_wx_pages_with_va_and_size(void)
{
    boot_big(true);
    struct address_space *as = paging_create_space();
    const unsigned wx = PAGE_USER | PAGE_WRITE | PAGE_EXEC;
    CHECK_EQ_INT(paging_map(as, USER_VA + 0x7000, phys(0x5000), PAGE_4K, wx), PAGING_OK);
    CHECK_EQ_INT(paging_map(as, USER_VA + 0x8000, phys(0x6000), PAGE_4K, PAGE_USER | PAGE_WRITE),
                 PAGING_OK);
    CHECK_EQ_INT(paging_map(as, 0x7fff80000000ull + 4 * MIB, phys(0), PAGE_2M, wx), PAGING_OK);
    CHECK_EQ_INT(paging_map(as, USER_VA + 7 * GIB, phys(0), PAGE_1G, wx), PAGING_OK);
    struct wx_report r = {0};
    CHECK_EQ_INT(paging_audit_wx(as, record_wx, &r), 3);
    CHECK_EQ_INT(r.count, 3);
    /* The audit walks in address order. */
    CHECK_EQ_U64(r.va[0], USER_VA + 0x7000);
    CHECK_EQ_INT(r.size[0], PAGE_4K);
    CHECK_EQ_U64(r.va[1], USER_VA + 7 * GIB);
    CHECK_EQ_INT(r.size[1], PAGE_1G);
    CHECK_EQ_U64(r.va[2], 0x7fff80000000ull + 4 * MIB);
    CHECK_EQ_INT(r.size[2], PAGE_2M);
    CHECK_EQ_INT(paging_audit_wx(&kernel_space, NULL, NULL), 0); /* private to `as` */
    paging_destroy_space(as);
}

static void test_paging_audit_reports_kernel_half_pages_at_canonical_addresses(void)
{
    boot_big(true);
    CHECK_EQ_INT(paging_map(&kernel_space, HEAP_VA + 0x3000, phys(0x5000), PAGE_4K, PAGE_WRITE),
                 PAGING_OK);
    /* paging_map refuses W+X here, so forge one the way a stray write would. */
    uint64_t *leaf = ref_entry(kernel_space.root.value, HEAP_VA + 0x3000, 0);
    CHECK(leaf != NULL);
    if (!leaf)
        return;
    *leaf &= ~X86_NX;
    uint64_t *big = ref_entry(kernel_space.root.value, DIRECT_MAP_BASE + 6 * GIB, 2);
    *big &= ~X86_NX;
    struct wx_report r = {0};
    CHECK_EQ_INT(paging_audit_wx(&kernel_space, record_wx, &r), 2);
    CHECK_EQ_U64(r.va[0], DIRECT_MAP_BASE + 6 * GIB);
    CHECK_EQ_INT(r.size[0], PAGE_1G);
    CHECK_EQ_U64(r.va[1], HEAP_VA + 0x3000);
    CHECK_EQ_INT(r.size[1], PAGE_4K);
    struct address_space *as = paging_create_space();
    CHECK_EQ_INT(paging_audit_wx(as, NULL, NULL), 2); /* shared */
    paging_destroy_space(as);
    *leaf |= X86_NX;
    *big |= X86_NX;
    CHECK_EQ_INT(paging_audit_wx(&kernel_space, NULL, NULL), 0);
    CHECK_EQ_INT(paging_unmap(&kernel_space, HEAP_VA + 0x3000, PAGE_4K, NULL), PAGING_OK);
}

/* ---- devices --------------------------------------------------------------------------------- */

static void test_paging_map_device_keeps_offsets_and_cache_flags(void)
{
    boot_big(true);
    void *regs = paging_map_device(phys(0xfebd0123), 0x2000, PAGE_NOCACHE | PAGE_WRITE);
    CHECK(regs != NULL);
    uintptr_t va = (uintptr_t)regs;
    CHECK(va >= DEVICES_BASE && va < DEVICES_END);
    CHECK_EQ_U64(va & 0xfff, 0x123);
    const unsigned uc = PAGE_NOCACHE | PAGE_WRITE | PAGE_GLOBAL;
    EXPECT_MAPPED(&kernel_space, va, 0xfebd0123, PAGE_4K, uc);
    EXPECT_MAPPED(&kernel_space, va - 0x123, 0xfebd0000, PAGE_4K, uc);
    EXPECT_MAPPED(&kernel_space, va + 0x1fff, 0xfebd2122, PAGE_4K, uc); /* the third page */
    EXPECT_UNMAPPED(&kernel_space, va - 0x124);
    EXPECT_UNMAPPED(&kernel_space, va - 0x123 + 0x3000);

    /* Never executable nor user, whatever the caller asks. */
    void *fb = paging_map_device(phys(0xfd000000), 0x1000,
                                 PAGE_WRITE_COMBINE | PAGE_WRITE | PAGE_EXEC | PAGE_USER);
    CHECK(fb != NULL);
    EXPECT_MAPPED(&kernel_space, (uintptr_t)fb, 0xfd000000, PAGE_4K,
                  PAGE_WRITE_COMBINE | PAGE_WRITE | PAGE_GLOBAL);
    CHECK_EQ_INT(paging_audit_wx(&kernel_space, NULL, NULL), 0);
}

static void test_paging_map_device_separates_mappings_by_an_unmapped_page(void)
{
    boot_big(true);
    uintptr_t previous_end = 0;
    for (unsigned i = 0; i < 4; i++) {
        size_t bytes = 0x1000 * (i + 1) - 0x10;
        uintptr_t va =
            (uintptr_t)paging_map_device(phys(0xfe000000 + 0x10000 * i), bytes, PAGE_NOCACHE);
        CHECK(va != 0);
        CHECK_EQ_U64(va & 0xfff, 0);
        if (previous_end) {
            CHECK(va > previous_end);
            EXPECT_UNMAPPED(&kernel_space, previous_end);
            EXPECT_UNMAPPED(&kernel_space, va - 1);
        }
        EXPECT_MAPPED(&kernel_space, va + bytes - 1, 0xfe000000 + 0x10000 * i + bytes - 1, PAGE_4K,
                      PAGE_NOCACHE | PAGE_GLOBAL);
        previous_end = va + ((bytes + 0xfff) & ~0xfffull);
    }
}

static void test_paging_map_device_of_zero_bytes_is_null(void)
{
    boot_big(true);
    struct counts before = counts_now();
    CHECK(paging_map_device(phys(0xfebd0000), 0, PAGE_NOCACHE) == NULL);
    CHECK(paging_map_device(phys(0xfffffffffffff000ull), 0x2000, PAGE_NOCACHE) == NULL);
    CHECK_COUNTS_BACK(before);
}

/* ---- against a model ------------------------------------------------------------------------- */

/*
 * The window: four 1 GiB slots, two under each of two root entries, so emptied
 * tables are freed at every level. Within a slot, four 2 MiB slots of eight 4 KiB
 * slots: small enough that pages of different sizes collide often.
 */
#define WINDOW_BASE USER_VA
#define MODEL_MAX 512

struct model_page {
    uintptr_t va;
    uint64_t pa;
    enum page_size size;
    unsigned flags;
};

struct model {
    struct model_page page[MODEL_MAX];
    size_t count;
};

static uint64_t rng_state;
/* How often each operation (map, unmap, protect) gave each result (0 .. -8). */
static unsigned outcomes[3][9];

static uint64_t rng_next(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static uintptr_t window_va(unsigned gib, unsigned mib2, unsigned kib4)
{
    return WINDOW_BASE + (uintptr_t)(gib / 2) * 512 * GIB + (uintptr_t)(gib % 2) * GIB +
           (uintptr_t)mib2 * 2 * MIB + (uintptr_t)kib4 * 4 * KIB;
}

static bool overlaps(uintptr_t a, uint64_t a_bytes, uintptr_t b, uint64_t b_bytes)
{
    return a < b + b_bytes && b < a + a_bytes;
}

static struct model_page *model_at(struct model *m, uintptr_t va)
{
    for (size_t i = 0; i < m->count; i++) {
        if (overlaps(m->page[i].va, page_size_bytes(m->page[i].size), va, 1))
            return &m->page[i];
    }
    return NULL;
}

/* OK when (va, size) is a page of the model; else what unmap and protect say. */
static int model_find(struct model *m, uintptr_t va, enum page_size size, size_t *index)
{
    bool overlap = false;
    for (size_t i = 0; i < m->count; i++) {
        if (m->page[i].va == va && m->page[i].size == size) {
            *index = i;
            return PAGING_OK;
        }
        overlap |=
            overlaps(m->page[i].va, page_size_bytes(m->page[i].size), va, page_size_bytes(size));
    }
    return overlap ? PAGING_ERR_SIZE_MISMATCH : PAGING_ERR_NOT_MAPPED;
}

/* Both walkers agree with the model over the whole window; tables match exactly. */
static bool model_holds(struct address_space *as, struct model *m, uint64_t tables_base)
{
    int failures = check_failures_in_test;
    for (size_t i = 0; i < m->count; i++) {
        const struct model_page *p = &m->page[i];
        uint64_t last = page_size_bytes(p->size) - 1;
        EXPECT_MAPPED(as, p->va, p->pa, p->size, flags_as_mapped(p->flags));
        EXPECT_MAPPED(as, p->va + last, p->pa + last, p->size, flags_as_mapped(p->flags));
    }
    for (unsigned g = 0; g < 4; g++) {
        for (unsigned k = 0; k < 4 * 8 + 1; k++) {
            uintptr_t va = window_va(g, k / 8, k % 8) + 0x10 * k;
            const struct model_page *p = model_at(m, va);
            if (p)
                EXPECT_MAPPED(as, va, p->pa + (va - p->va), p->size, flags_as_mapped(p->flags));
            else
                EXPECT_UNMAPPED(as, va);
        }
    }
    unsigned empty_tables = 0;
    uint64_t tables = ref_count_tables(as->root.value, 3, 0, 256, &empty_tables);
    CHECK_EQ_INT(empty_tables, 0);
    CHECK_EQ_U64(paging_table_pages() - tables_base, tables);
    return check_failures_in_test == failures;
}

static void random_step(struct address_space *as, struct model *m, unsigned step)
{
    uint64_t r = rng_next();
    enum page_size size = (r & 7) < 4 ? PAGE_4K : (r & 7) < 7 ? PAGE_2M : PAGE_1G;
    unsigned g = (r >> 3) & 3, mib2 = (r >> 5) & 3, kib4 = (r >> 7) & 7;
    uintptr_t va = size == PAGE_1G   ? window_va(g, 0, 0)
                   : size == PAGE_2M ? window_va(g, mib2, 0)
                                     : window_va(g, mib2, kib4);
    unsigned flags = (unsigned)(r >> 10) & 63;
    unsigned op = (unsigned)(r >> 16) % 3;
    int want, got;
    size_t index = 0, mark = mmu_flush_count;
    const char *name;
    if (op == 0) {
        name = "map";
        uint64_t pa = ((r >> 20) % 4096) * page_size_bytes(size);
        bool taken = false;
        for (size_t i = 0; i < m->count; i++)
            taken |= overlaps(m->page[i].va, page_size_bytes(m->page[i].size), va,
                              page_size_bytes(size));
        want = taken ? PAGING_ERR_EXISTS : PAGING_OK;
        got = paging_map(as, va, phys(pa), size, flags);
        if (got == PAGING_OK && m->count < MODEL_MAX)
            m->page[m->count++] = (struct model_page){va, pa, size, flags};
    } else if (op == 1) {
        name = "unmap";
        want = model_find(m, va, size, &index);
        phys_addr_t old = PHYS_INVALID;
        got = paging_unmap(as, va, size, &old);
        if (got == PAGING_OK && want == PAGING_OK) {
            CHECK_EQ_U64(old.value, m->page[index].pa);
            CHECK(flushed_since(mark, va));
            m->page[index] = m->page[--m->count];
        }
    } else {
        name = "protect";
        want = model_find(m, va, size, &index);
        got = paging_protect(as, va, size, flags);
        if (got == PAGING_OK && want == PAGING_OK) {
            CHECK(flushed_since(mark, va));
            m->page[index].flags = flags;
        }
    }
    if (got <= 0 && got > -9)
        outcomes[op][-got]++;
    if (got != want) {
        fprintf(stderr, "step %u: %s 0x%lx size %d flags %#x: got %d, want %d\n", step, name,
                (unsigned long)va, size, flags, got, want);
        check_failures_in_test++;
    }
}

static void test_paging_random_operations_match_a_model(void)
{
    boot_big(true);
    const char *seed_env = getenv("PAGING_SEED");
    uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) : 0x5eed0fe10ull;
    rng_state = seed ? seed : 1;
    struct counts start = counts_now();
    struct address_space *as = paging_create_space();
    struct counts after_create = counts_now();
    static struct model m;
    m.count = 0;
    memset(outcomes, 0, sizeof(outcomes));
    for (unsigned step = 0; step < 4000; step++) {
        random_step(as, &m, step);
        if (!model_holds(as, &m, after_create.tables) || check_failures_in_test) {
            fprintf(stderr, "model diverged at step %u (PAGING_SEED=0x%" PRIx64 ")\n", step, seed);
            break;
        }
    }
    while (m.count) {
        const struct model_page *p = &m.page[m.count - 1];
        CHECK_EQ_INT(paging_unmap(as, p->va, p->size, NULL), PAGING_OK);
        m.count--;
    }
    model_holds(as, &m, after_create.tables);
    CHECK_COUNTS_BACK(after_create);
    /* The sequence did reach every case the model distinguishes. */
    CHECK(outcomes[0][0] > 100 && outcomes[0][-PAGING_ERR_EXISTS] > 100);
    for (unsigned op = 1; op < 3; op++) {
        CHECK(outcomes[op][0] > 100);
        CHECK(outcomes[op][-PAGING_ERR_NOT_MAPPED] > 100);
        CHECK(outcomes[op][-PAGING_ERR_SIZE_MISMATCH] > 100);
    }
    paging_destroy_space(as);
    CHECK_COUNTS_BACK(start);
}

int main(void)
{
    check_program = "test_paging";
    RUN(test_paging_init_direct_map_covers_every_region_first_and_last_byte);
    RUN(test_paging_init_direct_map_uses_1g_pages_where_aligned);
    RUN(test_paging_init_direct_map_uses_2m_pages_without_1g_support);
    RUN(test_paging_init_maps_image_sections_w_xor_x);
    RUN(test_paging_init_leaves_va_zero_and_the_user_half_empty);
    RUN(test_paging_init_makes_every_kernel_root_entry);
    RUN(test_paging_init_audit_is_clean_and_root_loaded);
    RUN(test_paging_init_without_memory_for_tables_panics);
    RUN(test_paging_map_protect_unmap_4k);
    RUN(test_paging_map_protect_unmap_2m);
    RUN(test_paging_map_protect_unmap_1g);
    RUN(test_paging_1g_pages_unsupported_without_cpu_support);
    RUN(test_paging_flags_round_trip_for_every_combination);
    RUN(test_paging_effective_rights_are_what_every_level_allows);
    RUN(test_paging_error_no_memory_leaves_counts_unchanged);
    RUN(test_paging_error_no_memory_for_a_space_or_device_returns_null);
    RUN(test_paging_error_misaligned);
    RUN(test_paging_error_exists);
    RUN(test_paging_error_not_mapped);
    RUN(test_paging_error_size_mismatch);
    RUN(test_paging_error_bad_address);
    RUN(test_paging_error_bad_address_for_a_physical_address_too_wide);
    RUN(test_paging_error_wx_in_the_kernel_half);
    RUN(test_paging_error_unsupported_page_size);
    RUN(test_paging_unmap_frees_emptied_user_tables);
    RUN(test_paging_kernel_half_keeps_emptied_tables_until_a_trim);
    RUN(test_paging_map_trims_kept_tables_when_no_frame_is_left);
    RUN(test_paging_is_mapped_agrees_with_translate);
    RUN(test_paging_unmap_deferred_frees_tables_at_the_flush);
    RUN(test_paging_spaces_share_the_kernel_half);
    RUN(test_paging_space_user_mappings_are_private);
    RUN(test_paging_destroy_space_frees_every_user_table);
    RUN(test_paging_destroy_space_pages_hands_over_every_page_once);
    RUN(test_paging_activate_loads_the_root_and_destroying_the_active_space_panics);
    RUN(test_paging_audit_reports_user_wx_pages_with_va_and_size);
    RUN(test_paging_audit_reports_kernel_half_pages_at_canonical_addresses);
    RUN(test_paging_map_device_keeps_offsets_and_cache_flags);
    RUN(test_paging_map_device_separates_mappings_by_an_unmapped_page);
    RUN(test_paging_map_device_of_zero_bytes_is_null);
    RUN(test_paging_random_operations_match_a_model);
    shim_phys_fini();
    return check_summary();
}
