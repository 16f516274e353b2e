/*
 * Host tests of the frame allocator. mm/frame.c is included whole, so the tests can
 * read its bitmap, summary levels and per-CPU caches and check their invariants.
 *
 * Physical memory is the shim's fake RAM. A memory map may claim much more than
 * the fake RAM holds: the allocator writes only its own bitmap, which it places
 * below bitmap_limit_phys, and the tests pass the fake RAM's size as that limit.
 */
#include "../../mm/frame.c"

/* One node, as the host has no SRAT: pool 0 is the whole allocator, from frame 0. */
#define bitmap (pools[0].bitmap)
#define pool_free (pools[0].free)
#define level2_hint (pools[0].level2_hint)
#define frame_lock (pools[0].lock)

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "shim.h"

#define KIB 1024ull
#define MIB (1024 * KIB)
#define GIB (1024 * MIB)
#define TIB (1024 * GIB)
#define FRAMES(bytes) ((bytes) / FRAME_SIZE)
#define LOW_FRAMES FRAMES(ARCH_PHYS_LOW_RESERVED_END)

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* What a test hands to frame_init, kept so the checks can judge each frame. */
struct layout {
    const struct mmap_entry *map;
    size_t map_count;
    const struct phys_range *reserved;
    size_t reserved_count;
    uint64_t ram_bytes; /* the fake RAM's size, also bitmap_limit_phys */
};

#define LAYOUT(map_, reserved_, ram_)                                                              \
    ((struct layout){(map_), COUNT_OF(map_), (reserved_), COUNT_OF(reserved_), (ram_)})
#define LAYOUT_PLAIN(map_, ram_) ((struct layout){(map_), COUNT_OF(map_), NULL, 0, (ram_)})

static int init_layout(const struct layout *l)
{
    shim_phys_fini();
    shim_phys_init(l->ram_bytes);
    shim_clear_log();
    shim_cpu_index = 0;
    frame_lock.locked = 0; /* a panic test may have jumped out while holding it */
    return frame_init(l->map, l->map_count, l->reserved, l->reserved_count, l->ram_bytes);
}

static struct frame_stats stats_now(void)
{
    struct frame_stats s;
    frame_get_stats(&s);
    return s;
}

static uint64_t bitmap_phys(void)
{
    return (uint64_t)((uint8_t *)bitmap.level0 - shim_phys_base);
}

static uint64_t bitmap_bytes(void)
{
    return align_up((2 * bitmap.words0 + bitmap.words1 + bitmap.words2) * sizeof(uint64_t),
                    FRAME_SIZE);
}

static uint64_t end_of(uint64_t base, uint64_t length)
{
    return base + length < base ? UINT64_MAX : base + length;
}

static bool ranges_overlap(uint64_t a_start, uint64_t a_end, uint64_t b_start, uint64_t b_end)
{
    return a_start < b_end && b_start < a_end;
}

/* Whether frame `n` may ever be handed out, judged from the layout alone. */
static bool frame_may_be_handed_out(const struct layout *l, uint64_t n)
{
    uint64_t start = n * FRAME_SIZE, end = start + FRAME_SIZE;
    if (start < ARCH_PHYS_LOW_RESERVED_END || end > FRAME_MAX_PHYS)
        return false;
    if (ranges_overlap(start, end, bitmap_phys(), bitmap_phys() + bitmap_bytes()))
        return false;
    bool usable = false;
    for (size_t i = 0; i < l->map_count; i++) {
        uint64_t region_end = end_of(l->map[i].base_phys, l->map[i].length_bytes);
        if (l->map[i].type == MMAP_USABLE) {
            if (l->map[i].base_phys <= start && end <= region_end)
                usable = true;
        } else if (ranges_overlap(start, end, l->map[i].base_phys, region_end)) {
            return false;
        }
    }
    for (size_t r = 0; r < l->reserved_count; r++) {
        if (ranges_overlap(start, end, l->reserved[r].start, l->reserved[r].end))
            return false;
    }
    return usable;
}

/* ---- the invariant checker -------------------------------------------------- */

static int invariant_reports;

#define INVARIANT(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            if (invariant_reports++ < 10) {                                                        \
                fprintf(stderr, "invariant broken: " __VA_ARGS__);                                 \
                fputc('\n', stderr);                                                               \
            }                                                                                      \
            ok = false;                                                                            \
        }                                                                                          \
    } while (0)

static bool summaries_hold(void)
{
    bool ok = true;
    for (size_t w0 = 0; w0 < bitmap.words1 * BITS; w0++) {
        bool nonzero = w0 < bitmap.words0 && bitmap.level0[w0] != 0;
        INVARIANT(bit_test(bitmap.level1, w0) == nonzero, "level1 bit %zu is %d", w0,
                  bit_test(bitmap.level1, w0));
    }
    for (size_t w1 = 0; w1 < bitmap.words2 * BITS; w1++) {
        bool nonzero = w1 < bitmap.words1 && bitmap.level1[w1] != 0;
        INVARIANT(bit_test(bitmap.level2, w1) == nonzero, "level2 bit %zu is %d", w1,
                  bit_test(bitmap.level2, w1));
    }
    for (size_t w2 = 0; w2 < level2_hint && w2 < bitmap.words2; w2++)
        INVARIANT(bitmap.level2[w2] == 0, "level2 word %zu, before the hint %zu, is not empty", w2,
                  level2_hint);
    return ok;
}

static bool frames_hold(void)
{
    bool ok = true;
    uint64_t pool_bits = 0, cached_bits = 0;
    for (size_t w0 = 0; w0 < bitmap.words0; w0++) {
        INVARIANT((bitmap.level0[w0] & cached_bitmap[w0]) == 0,
                  "level0 word %zu has frames both free and cached (%#lx)", w0,
                  bitmap.level0[w0] & cached_bitmap[w0]);
        pool_bits += (uint64_t)__builtin_popcountll(bitmap.level0[w0]);
        cached_bits += (uint64_t)__builtin_popcountll(cached_bitmap[w0]);
    }
    for (uint64_t n = bitmap.frame_count; n < bitmap.words0 * BITS; n++)
        INVARIANT(!bit_test(bitmap.level0, n) && !bit_test(cached_bitmap, n),
                  "frame %#lx past the end is marked", n);
    INVARIANT(pool_bits == pool_free, "pool_free %lu, level0 has %lu bits", pool_free, pool_bits);

    uint64_t in_caches = 0;
    for (unsigned cpu = 0; cpu < ARCH_MAX_CPUS; cpu++) {
        const struct frame_cache *cache = &caches[cpu];
        INVARIANT(cache->count <= FRAME_CACHE_SIZE, "cpu %u caches %u frames", cpu, cache->count);
        for (uint32_t i = 0; i < cache->count && i < FRAME_CACHE_SIZE; i++) {
            uint64_t n = cache->frames[i];
            INVARIANT(n < bitmap.frame_count && bit_test(cached_bitmap, n),
                      "cpu %u caches frame %#lx without its cached bit", cpu, n);
        }
        in_caches += cache->count;
    }
    INVARIANT(in_caches == cached_bits, "caches hold %lu frames, the cached bitmap %lu", in_caches,
              cached_bits);
    return ok;
}

static bool invariants_hold(void)
{
    bool summaries = summaries_hold();
    return frames_hold() && summaries;
}

/* ---- allocating everything --------------------------------------------------- */

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/*
 * Allocates on CPU 0 until PHYS_INVALID, checks that every frame came once, is
 * aligned and may be handed out under `l`, frees them all and checks the stats are
 * back where they started. Returns the number of frames it got.
 */
static uint64_t exhaust_and_restore(const struct layout *l)
{
    struct frame_stats before = stats_now();
    uint64_t *got = malloc((before.free_frames + 1) * sizeof(uint64_t));
    uint64_t count = 0;
    for (;;) {
        phys_addr_t p = frame_alloc();
        if (!phys_is_valid(p))
            break;
        CHECK(count < before.free_frames);
        if (count >= before.free_frames)
            break;
        got[count++] = p.value;
    }
    CHECK_EQ_U64(count, before.free_frames);
    CHECK_EQ_U64(stats_now().free_frames, 0);
    CHECK(!phys_is_valid(frame_alloc_run(1, 1)));

    qsort(got, count, sizeof(uint64_t), compare_u64);
    uint64_t bad = 0;
    for (uint64_t i = 0; i < count; i++) {
        bool fine = (got[i] & (FRAME_SIZE - 1)) == 0 && (i == 0 || got[i] != got[i - 1]) &&
                    frame_may_be_handed_out(l, got[i] / FRAME_SIZE);
        if (!fine && bad++ < 5)
            fprintf(stderr, "frame 0x%lx should not have been handed out\n", got[i]);
    }
    CHECK_EQ_U64(bad, 0);

    for (uint64_t i = 0; i < count; i++)
        frame_free(phys(got[i]));
    free(got);
    struct frame_stats after = stats_now();
    CHECK_EQ_U64(after.total_frames, before.total_frames);
    CHECK_EQ_U64(after.reserved_frames, before.reserved_frames);
    CHECK_EQ_U64(after.free_frames, before.free_frames);
    CHECK_EQ_U64(after.highest_phys, before.highest_phys);
    CHECK(invariants_hold());
    return count;
}

/* Frames under `l` that may be handed out: the free count init must report. */
static uint64_t count_frames_for(const struct layout *l)
{
    uint64_t count = 0;
    for (uint64_t n = 0; n < bitmap.frame_count; n++)
        count += frame_may_be_handed_out(l, n);
    return count;
}

/* ---- init ---------------------------------------------------------------------- */

static void test_frame_init_simple_map_counts_every_usable_frame(void)
{
    const struct mmap_entry map[] = {
        {0, 640 * KIB, MMAP_USABLE},
        {640 * KIB, 384 * KIB, MMAP_RESERVED},
        {1 * MIB, 31 * MIB, MMAP_USABLE},
    };
    struct layout l = LAYOUT_PLAIN(map, 32 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    struct frame_stats s = stats_now();
    CHECK_EQ_U64(s.total_frames, FRAMES(640 * KIB) + FRAMES(31 * MIB));
    CHECK_EQ_U64(s.highest_phys, 32 * MIB);
    /* 8192 frames: 128 + 128 + 2 + 1 words, one frame of bitmap. */
    CHECK_EQ_U64(bitmap_bytes(), FRAME_SIZE);
    CHECK_EQ_U64(s.reserved_frames, FRAMES(640 * KIB) + 1);
    CHECK_EQ_U64(s.free_frames, s.total_frames - s.reserved_frames);
    CHECK_EQ_U64(s.free_frames, count_frames_for(&l));
    CHECK(invariants_hold());
    CHECK_EQ_U64(exhaust_and_restore(&l), s.free_frames);
}

static void test_frame_init_reserves_the_first_mib(void)
{
    const struct mmap_entry map[] = {{0, 16 * MIB, MMAP_USABLE}};
    struct layout l = LAYOUT_PLAIN(map, 16 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    for (uint64_t n = 0; n < LOW_FRAMES; n++)
        CHECK(!bit_test(bitmap.level0, n));
    CHECK(bitmap_phys() >= ARCH_PHYS_LOW_RESERVED_END);
    CHECK_EQ_U64(stats_now().reserved_frames, LOW_FRAMES + bitmap_bytes() / FRAME_SIZE);
    CHECK_EQ_U64(exhaust_and_restore(&l), count_frames_for(&l));
}

static void test_frame_init_keeps_reserved_ranges_out(void)
{
    const struct mmap_entry map[] = {{0, 32 * MIB, MMAP_USABLE}};
    /* A kernel image at 1 MiB with an unaligned end, a module, boot info. */
    const struct phys_range reserved[] = {
        {1 * MIB, 3 * MIB + 100},
        {8 * MIB + 512, 9 * MIB},
        {20 * MIB, 20 * MIB + 1},
    };
    struct layout l = LAYOUT(map, reserved, 32 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    CHECK(bitmap_phys() >= 3 * MIB + FRAME_SIZE);
    for (size_t r = 0; r < COUNT_OF(reserved); r++)
        CHECK(!ranges_overlap(bitmap_phys(), bitmap_phys() + bitmap_bytes(), reserved[r].start,
                              reserved[r].end));
    uint64_t in_reserved = (FRAMES(2 * MIB) + 1) + FRAMES(1 * MIB) + 1;
    CHECK_EQ_U64(stats_now().reserved_frames, LOW_FRAMES + in_reserved + 1);
    CHECK_EQ_U64(stats_now().free_frames, count_frames_for(&l));
    CHECK_EQ_U64(exhaust_and_restore(&l), count_frames_for(&l));
}

static void test_frame_init_never_hands_out_the_bitmap(void)
{
    /* 16 GiB: the bitmap takes 259 frames, all of them in the one usable region. */
    const struct mmap_entry map[] = {{1 * MIB, 16 * GIB - 1 * MIB, MMAP_USABLE}};
    struct layout l = LAYOUT_PLAIN(map, 8 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    uint64_t first = bitmap_phys() / FRAME_SIZE, frames = bitmap_bytes() / FRAME_SIZE;
    CHECK(frames > 1);
    CHECK_EQ_U64(stats_now().reserved_frames, frames);
    for (uint64_t n = first; n < first + frames; n++)
        CHECK(!bit_test(bitmap.level0, n));
    /* A refill takes the lowest free frames, those right after the bitmap, and the
     * cache hands out the last one it took first. */
    phys_addr_t p = frame_alloc();
    CHECK_EQ_U64(caches[0].frames[0], first + frames);
    CHECK_EQ_U64(p.value, (first + frames + FRAME_CACHE_BATCH - 1) * FRAME_SIZE);
    frame_free(p);
    CHECK(invariants_hold());
}

static void test_frame_init_holes_are_never_handed_out(void)
{
    const struct mmap_entry map[] = {
        {1 * MIB, 7 * MIB, MMAP_USABLE},
        {16 * MIB, 8 * MIB, MMAP_USABLE},
        {30 * MIB, 2 * MIB, MMAP_USABLE},
    };
    struct layout l = LAYOUT_PLAIN(map, 32 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    CHECK_EQ_U64(stats_now().total_frames, FRAMES(17 * MIB));
    CHECK_EQ_U64(exhaust_and_restore(&l), FRAMES(17 * MIB) - 1);
}

static void test_frame_init_counts_overlapping_usable_regions_once(void)
{
    const struct mmap_entry map[] = {
        {1 * MIB, 15 * MIB, MMAP_USABLE},
        {8 * MIB, 16 * MIB, MMAP_USABLE},
        {2 * MIB, 1 * MIB, MMAP_USABLE},
    };
    struct layout l = LAYOUT_PLAIN(map, 32 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    CHECK_EQ_U64(stats_now().total_frames, FRAMES(23 * MIB));
    CHECK_EQ_U64(exhaust_and_restore(&l), FRAMES(23 * MIB) - 1);
}

static void test_frame_init_excludes_usable_frames_another_region_claims(void)
{
    const struct mmap_entry map[] = {
        {1 * MIB, 31 * MIB, MMAP_USABLE},
        {4 * MIB + 100, 64 * KIB, MMAP_ACPI_NVS}, /* touches 17 frames */
    };
    struct layout l = LAYOUT_PLAIN(map, 32 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    CHECK_EQ_U64(stats_now().total_frames, FRAMES(31 * MIB) - 17);
    CHECK(strstr(shim_log, "17 usable frames overlap a type-4 region at 0x400064") != NULL);
    CHECK_EQ_U64(exhaust_and_restore(&l), FRAMES(31 * MIB) - 17 - 1);
}

static void test_frame_init_puts_the_bitmap_outside_regions_of_other_types(void)
{
    /* ACPI tables over the start of the usable region: the bitmap must not land on them. */
    const struct mmap_entry map[] = {
        {1 * MIB, 31 * MIB, MMAP_USABLE},
        {1 * MIB, 1 * MIB, MMAP_ACPI_RECLAIMABLE},
    };
    struct layout l = LAYOUT_PLAIN(map, 32 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    CHECK(bitmap_phys() >= 2 * MIB);
    struct frame_stats s = stats_now();
    CHECK_EQ_U64(s.total_frames, FRAMES(30 * MIB));
    CHECK_EQ_U64(s.reserved_frames, 1);
    CHECK_EQ_U64(exhaust_and_restore(&l), FRAMES(30 * MIB) - 1);
}

static void test_frame_init_clips_unaligned_edges_to_whole_frames(void)
{
    const struct mmap_entry map[] = {
        {1 * MIB + 100, 7 * MIB, MMAP_USABLE},                /* [1 MiB + 4 KiB, 8 MiB) */
        {16 * MIB - 1, 4 * MIB + 2, MMAP_USABLE},             /* [16 MiB, 20 MiB) */
        {24 * MIB + 2048, 1024, MMAP_USABLE},                 /* no whole frame */
        {28 * MIB + FRAME_SIZE - 1, FRAME_SIZE, MMAP_USABLE}, /* no whole frame either */
        {30 * MIB, 2 * MIB - 1, MMAP_USABLE},                 /* [30 MiB, 32 MiB - 4 KiB) */
    };
    struct layout l = LAYOUT_PLAIN(map, 32 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    uint64_t expected = FRAMES(7 * MIB) - 1 + FRAMES(4 * MIB) + FRAMES(2 * MIB) - 1;
    CHECK_EQ_U64(stats_now().total_frames, expected);
    CHECK_EQ_U64(stats_now().highest_phys, 32 * MIB - FRAME_SIZE);
    CHECK_EQ_U64(exhaust_and_restore(&l), expected - 1);
}

static void test_frame_init_uses_regions_above_4gib(void)
{
    const struct mmap_entry map[] = {
        {1 * MIB, 15 * MIB, MMAP_USABLE},
        {3 * GIB, 1 * GIB, MMAP_RESERVED},
        {4 * GIB, 16 * MIB, MMAP_USABLE},
    };
    struct layout l = LAYOUT_PLAIN(map, 16 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    struct frame_stats s = stats_now();
    CHECK_EQ_U64(s.total_frames, FRAMES(31 * MIB));
    CHECK_EQ_U64(s.highest_phys, 4 * GIB + 16 * MIB);
    CHECK(bitmap_phys() < 16 * MIB);
    CHECK_EQ_U64(exhaust_and_restore(&l), s.free_frames);
    CHECK_EQ_U64(s.free_frames, count_frames_for(&l));
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void test_frame_64gib_map_allocates_without_full_scans(void)
{
    const struct mmap_entry map[] = {
        {0, 640 * KIB, MMAP_USABLE},
        {1 * MIB, 3 * GIB - 1 * MIB, MMAP_USABLE},
        {3 * GIB, 1 * GIB, MMAP_RESERVED},
        {4 * GIB, 60 * GIB, MMAP_USABLE},
    };
    struct layout l = LAYOUT_PLAIN(map, 32 * MIB);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    double init_s = seconds_since(&start);
    struct frame_stats s = stats_now();
    CHECK_EQ_U64(s.total_frames, FRAMES(640 * KIB + 63 * GIB - 1 * MIB));
    CHECK_EQ_U64(s.highest_phys, 64 * GIB);
    CHECK(invariants_hold());

    /* Use up the first GiB from the bottom, so each later search starts past it,
     * then churn: a scan of the 2 MiB bitmap per allocation would take minutes. */
    enum { HELD = FRAMES(1 * GIB), CHURN = 1000000 };
    uint64_t *held = malloc(HELD * sizeof(uint64_t));
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (uint64_t i = 0; i < HELD; i++)
        held[i] = frame_alloc().value;
    for (uint64_t i = 0; i < CHURN; i++) {
        phys_addr_t p = frame_alloc();
        frame_free(p);
        shim_cpu_index = (unsigned)(i % 3);
    }
    shim_cpu_index = 0;
    for (uint64_t i = 0; i < HELD; i++)
        frame_free(phys(held[i]));
    double ops_s = seconds_since(&start);
    free(held);
    for (unsigned cpu = 0; cpu < 3; cpu++) {
        shim_cpu_index = cpu;
        frame_drain_cache();
    }
    shim_cpu_index = 0;
    CHECK_EQ_U64(stats_now().free_frames, s.free_frames);
    CHECK_EQ_U64(pool_free, s.free_frames);
    CHECK(invariants_hold());
    if (init_s > 5.0 || ops_s > 5.0)
        fprintf(stderr, "64 GiB: init %.2f s, %d operations %.2f s\n", init_s, 2 * HELD + 2 * CHURN,
                ops_s);
    CHECK(init_s < 5.0);
    CHECK(ops_s < 5.0);
}

static void test_frame_init_clips_a_region_past_frame_max_phys(void)
{
    const struct mmap_entry map[] = {
        {1 * MIB, 79 * MIB, MMAP_USABLE},
        {TIB - 16 * MIB, 32 * MIB, MMAP_USABLE},
    };
    struct layout l = LAYOUT_PLAIN(map, 80 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    struct frame_stats s = stats_now();
    CHECK_EQ_U64(s.highest_phys, FRAME_MAX_PHYS);
    CHECK_EQ_U64(s.total_frames, FRAMES(79 * MIB) + FRAMES(16 * MIB));
    CHECK(strstr(shim_log, "runs past 1024 GiB") != NULL);
    CHECK_EQ_U64(exhaust_and_restore(&l), s.free_frames);
}

static void test_frame_init_ignores_a_region_wholly_above_frame_max_phys(void)
{
    const struct mmap_entry map[] = {
        {1 * MIB, 31 * MIB, MMAP_USABLE},
        {2 * TIB, 1 * GIB, MMAP_USABLE},
    };
    struct layout l = LAYOUT_PLAIN(map, 32 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    struct frame_stats s = stats_now();
    CHECK_EQ_U64(s.highest_phys, 32 * MIB);
    CHECK_EQ_U64(s.total_frames, FRAMES(31 * MIB));
    CHECK(strstr(shim_log, "0x20000000000") != NULL);
}

static void test_frame_init_without_usable_memory_fails(void)
{
    const struct mmap_entry empty[1] = {{0, 0, MMAP_USABLE}};
    struct layout l = LAYOUT_PLAIN(empty, 4 * MIB);
    l.map_count = 0;
    CHECK_EQ_INT(init_layout(&l), FRAME_ERR_NO_USABLE_MEMORY);

    const struct mmap_entry low_only[] = {
        {0, 640 * KIB, MMAP_USABLE},
        {1 * MIB, 64 * MIB, MMAP_RESERVED},
    };
    l = LAYOUT_PLAIN(low_only, 4 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_ERR_NO_USABLE_MEMORY);

    /* Usable above 1 MiB, but all of it taken by the bitmap and the reserved list. */
    const struct mmap_entry tiny[] = {{0, 1 * MIB + 8 * KIB, MMAP_USABLE}};
    const struct phys_range kernel[] = {{1 * MIB + 4 * KIB, 1 * MIB + 8 * KIB}};
    l = LAYOUT(tiny, kernel, 4 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_ERR_NO_USABLE_MEMORY);
}

static void test_frame_init_without_room_for_the_bitmap_fails(void)
{
    /* 64 GiB needs a 4 MiB bitmap; only 2 MiB are usable below the limit. */
    const struct mmap_entry map[] = {{1 * MIB, 64 * GIB, MMAP_USABLE}};
    struct layout l = LAYOUT_PLAIN(map, 3 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_ERR_NO_ROOM_FOR_BITMAP);

    /* Room enough, but the reserved list covers it. */
    const struct mmap_entry small[] = {{1 * MIB, 15 * MIB, MMAP_USABLE}};
    const struct phys_range reserved[] = {{0, 8 * MIB}, {8 * MIB, 16 * MIB}};
    l = LAYOUT(small, reserved, 16 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_ERR_NO_ROOM_FOR_BITMAP);
}

static void test_frame_init_honours_ranges_that_reach_the_top(void)
{
    /* A reserved range to the end of the address space, and a map entry whose
     * length wraps: both keep everything above them out. */
    const struct mmap_entry map[] = {
        {1 * MIB, 31 * MIB, MMAP_USABLE},
        {24 * MIB, UINT64_MAX - 4 * MIB, MMAP_RESERVED},
    };
    const struct phys_range reserved[] = {{16 * MIB, UINT64_MAX}};
    struct layout l = LAYOUT(map, reserved, 32 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    struct frame_stats s = stats_now();
    CHECK_EQ_U64(s.total_frames, FRAMES(23 * MIB));
    CHECK_EQ_U64(s.free_frames, FRAMES(15 * MIB) - 1);
    CHECK_EQ_U64(exhaust_and_restore(&l), FRAMES(15 * MIB) - 1);
}

/* ---- exhaustion ------------------------------------------------------------- */

/* Holes, an unaligned edge, a type-3 region over usable memory, reserved ranges. */
static const struct mmap_entry busy_map[] = {
    {0, 639 * KIB, MMAP_USABLE},
    {1 * MIB, 5 * MIB + 300, MMAP_USABLE},
    {7 * MIB, 9 * MIB, MMAP_USABLE},
    {12 * MIB, 256 * KIB, MMAP_ACPI_RECLAIMABLE},
    {20 * MIB + 1, 12 * MIB - 1, MMAP_USABLE},
};
static const struct phys_range busy_reserved[] = {{1 * MIB, 2 * MIB}, {21 * MIB, 21 * MIB + 5}};

static void test_frame_exhaust_then_free_restores_count(void)
{
    struct layout l = LAYOUT(busy_map, busy_reserved, 32 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    struct frame_stats start = stats_now();
    CHECK_EQ_U64(start.free_frames, count_frames_for(&l));
    uint64_t first = exhaust_and_restore(&l);
    CHECK_EQ_U64(first, start.free_frames);
    /* Frames now sit in CPU 0's cache; a second round must find them all again. */
    CHECK_EQ_U64(exhaust_and_restore(&l), first);
    frame_drain_cache();
    CHECK_EQ_U64(pool_free, start.free_frames);
    CHECK(invariants_hold());
}

/* ---- per-CPU caches ----------------------------------------------------------- */

static void test_frame_alloc_refills_the_cache_by_a_batch(void)
{
    struct layout l = LAYOUT(busy_map, busy_reserved, 32 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    uint64_t start_free = stats_now().free_frames;
    phys_addr_t p = frame_alloc();
    CHECK(phys_is_valid(p));
    CHECK_EQ_INT(caches[0].count, FRAME_CACHE_BATCH - 1);
    CHECK_EQ_U64(pool_free, start_free - FRAME_CACHE_BATCH);
    CHECK_EQ_U64(stats_now().free_frames, start_free - 1);
    CHECK(!bit_test(cached_bitmap, p.value / FRAME_SIZE));
    CHECK(invariants_hold());
    frame_free(p);
    CHECK_EQ_INT(caches[0].count, FRAME_CACHE_BATCH);
    CHECK_EQ_U64(stats_now().free_frames, start_free);
}

static void test_frame_caches_are_per_cpu(void)
{
    struct layout l = LAYOUT(busy_map, busy_reserved, 32 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    uint64_t start_free = stats_now().free_frames;
    enum { CPUS = 4, PER_CPU = 40 };
    phys_addr_t got[CPUS][PER_CPU];
    for (int i = 0; i < PER_CPU; i++) {
        for (unsigned cpu = 0; cpu < CPUS; cpu++) {
            shim_cpu_index = cpu;
            got[cpu][i] = frame_alloc();
        }
    }
    for (unsigned cpu = 0; cpu < CPUS; cpu++)
        CHECK_EQ_INT(caches[cpu].count, 2 * FRAME_CACHE_BATCH - PER_CPU);
    CHECK_EQ_U64(stats_now().free_frames, start_free - CPUS * PER_CPU);
    CHECK_EQ_U64(pool_free, start_free - CPUS * 2 * FRAME_CACHE_BATCH);
    CHECK(invariants_hold());

    /* All distinct: the cached bitmap would catch a frame in two places, and so would
     * freeing each once. */
    for (unsigned cpu = 0; cpu < CPUS; cpu++) {
        shim_cpu_index = (cpu + 1) % CPUS;
        for (int i = 0; i < PER_CPU; i++)
            frame_free(got[cpu][i]);
    }
    CHECK_EQ_U64(stats_now().free_frames, start_free);
    for (unsigned cpu = 0; cpu < CPUS; cpu++) {
        shim_cpu_index = cpu;
        frame_drain_cache();
        CHECK_EQ_INT(caches[cpu].count, 0);
    }
    shim_cpu_index = 0;
    CHECK_EQ_U64(pool_free, start_free);
    CHECK(invariants_hold());
}

static void test_frame_free_into_a_full_cache_drains_a_batch(void)
{
    struct layout l = LAYOUT(busy_map, busy_reserved, 32 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    uint64_t start_free = stats_now().free_frames;
    enum { N = FRAME_CACHE_SIZE + 1 };
    phys_addr_t got[N];
    for (int i = 0; i < N; i++)
        got[i] = frame_alloc();
    frame_drain_cache();
    CHECK_EQ_U64(pool_free, start_free - N);

    shim_cpu_index = 5;
    for (int i = 0; i < FRAME_CACHE_SIZE; i++)
        frame_free(got[i]);
    CHECK_EQ_INT(caches[5].count, FRAME_CACHE_SIZE);
    CHECK_EQ_U64(pool_free, start_free - N);
    frame_free(got[FRAME_CACHE_SIZE]);
    CHECK_EQ_INT(caches[5].count, FRAME_CACHE_SIZE - FRAME_CACHE_BATCH + 1);
    CHECK_EQ_U64(pool_free, start_free - N + FRAME_CACHE_BATCH);
    CHECK_EQ_U64(stats_now().free_frames, start_free);
    CHECK(invariants_hold());

    frame_drain_cache();
    CHECK_EQ_INT(caches[5].count, 0);
    CHECK_EQ_U64(pool_free, start_free);
    shim_cpu_index = 0;
    CHECK(invariants_hold());
}

static void test_frame_alloc_takes_from_the_pool_not_other_caches(void)
{
    /* Few frames: CPU 1's cache holds most of them after one allocation. */
    const struct mmap_entry map[] = {{1 * MIB, 48 * KIB, MMAP_USABLE}};
    struct layout l = LAYOUT_PLAIN(map, 4 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    CHECK_EQ_U64(stats_now().free_frames, 11);
    shim_cpu_index = 1;
    phys_addr_t held = frame_alloc();
    CHECK_EQ_INT(caches[1].count, 10);
    shim_cpu_index = 0;
    CHECK(!phys_is_valid(frame_alloc()));
    CHECK_EQ_U64(stats_now().free_frames, 10);
    shim_cpu_index = 1;
    frame_drain_cache();
    shim_cpu_index = 0;
    CHECK(phys_is_valid(frame_alloc()));
    frame_free(held);
    CHECK(invariants_hold());
}

/* ---- runs ------------------------------------------------------------------ */

static bool run_is_taken(phys_addr_t first, size_t nframes)
{
    for (uint64_t n = first.value / FRAME_SIZE; n < first.value / FRAME_SIZE + nframes; n++) {
        if (bit_test(bitmap.level0, n) || bit_test(cached_bitmap, n))
            return false;
    }
    return true;
}

static void test_frame_alloc_run_honours_alignment(void)
{
    const struct mmap_entry map[] = {{1 * MIB + 12 * KIB, 31 * MIB, MMAP_USABLE}};
    struct layout l = LAYOUT_PLAIN(map, 32 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    struct frame_stats start = stats_now();
    const size_t aligns[] = {1, 8, 512};
    const size_t sizes[] = {3, 8, 512};
    phys_addr_t runs[3][3];
    for (size_t a = 0; a < 3; a++) {
        for (size_t s = 0; s < 3; s++) {
            phys_addr_t p = frame_alloc_run(sizes[s], aligns[a]);
            runs[a][s] = p;
            CHECK(phys_is_valid(p));
            CHECK_EQ_U64(p.value % (aligns[a] * FRAME_SIZE), 0);
            CHECK(p.value >= 1 * MIB + 16 * KIB);
            CHECK(p.value + sizes[s] * FRAME_SIZE <= 32 * MIB);
            CHECK(run_is_taken(p, sizes[s]));
        }
    }
    /* Lowest first: the first run right after the bitmap, the first 2 MiB-aligned
     * one on the first 2 MiB boundary past the runs before it (which end at 5 MiB +
     * 128 KiB). */
    CHECK_EQ_U64(runs[0][0].value, 1 * MIB + 16 * KIB);
    CHECK_EQ_U64(runs[2][0].value, 6 * MIB);
    CHECK_EQ_U64(stats_now().free_frames, start.free_frames - 3 * (3 + 8 + 512));
    CHECK(invariants_hold());
    for (size_t a = 0; a < 3; a++) {
        for (size_t s = 0; s < 3; s++)
            frame_free_run(runs[a][s], sizes[s]);
    }
    CHECK_EQ_U64(stats_now().free_frames, start.free_frames);
    CHECK_EQ_U64(pool_free, start.free_frames);
    CHECK(invariants_hold());
}

static void test_frame_alloc_run_skips_runs_across_a_hole(void)
{
    /* One missing frame at 3 MiB and a reserved frame at 6 MiB + 8 KiB. */
    const struct mmap_entry map[] = {
        {1 * MIB, 2 * MIB, MMAP_USABLE},
        {3 * MIB + 4 * KIB, 13 * MIB - 4 * KIB, MMAP_USABLE},
    };
    const struct phys_range reserved[] = {{6 * MIB + 8 * KIB, 6 * MIB + 12 * KIB}};
    struct layout l = LAYOUT(map, reserved, 16 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    CHECK_EQ_U64(bitmap_phys(), 1 * MIB);
    /* [2 MiB, 4 MiB) has the hole, [6 MiB, 8 MiB) the reserved frame. */
    CHECK_EQ_U64(frame_alloc_run(512, 512).value, 4 * MIB);
    CHECK_EQ_U64(frame_alloc_run(512, 512).value, 8 * MIB);
    CHECK(invariants_hold());
    /* 511 frames fit before the hole, 600 do not. */
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    CHECK_EQ_U64(frame_alloc_run(600, 1).value, 3 * MIB + 4 * KIB);
    CHECK_EQ_U64(frame_alloc_run(511, 1).value, 1 * MIB + 4 * KIB);
    CHECK(invariants_hold());
}

static void test_frame_alloc_run_takes_an_exact_fit(void)
{
    const struct mmap_entry map[] = {
        {1 * MIB, 8 * KIB, MMAP_USABLE},
        {4 * MIB, 64 * KIB, MMAP_USABLE},
    };
    struct layout l = LAYOUT_PLAIN(map, 8 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    CHECK(!phys_is_valid(frame_alloc_run(17, 1)));
    phys_addr_t run = frame_alloc_run(16, 16);
    CHECK_EQ_U64(run.value, 4 * MIB);
    CHECK_EQ_U64(stats_now().free_frames, 1);
    CHECK(!phys_is_valid(frame_alloc_run(16, 1)));
    CHECK(!phys_is_valid(frame_alloc_run(2, 1)));
    CHECK_EQ_U64(frame_alloc_run(1, 1).value, 1 * MIB + 4 * KIB);
    CHECK_EQ_U64(stats_now().free_frames, 0);
    frame_free_run(run, 16);
    frame_free_run(phys(1 * MIB + 4 * KIB), 1);
    CHECK_EQ_U64(stats_now().free_frames, 17);
    CHECK(invariants_hold());
}

static void test_frame_alloc_run_impossible_or_bad_requests_return_invalid(void)
{
    struct layout l = LAYOUT(busy_map, busy_reserved, 32 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    struct frame_stats start = stats_now();
    CHECK(!phys_is_valid(frame_alloc_run(0, 1)));
    CHECK(!phys_is_valid(frame_alloc_run(4, 0)));
    CHECK(!phys_is_valid(frame_alloc_run(4, 3)));
    CHECK(!phys_is_valid(frame_alloc_run(4, 24)));
    CHECK(!phys_is_valid(frame_alloc_run(start.free_frames + 1, 1)));
    CHECK(!phys_is_valid(frame_alloc_run(bitmap.frame_count + 1, 1)));
    CHECK(!phys_is_valid(frame_alloc_run(SIZE_MAX, 1)));
    CHECK(!phys_is_valid(frame_alloc_run(SIZE_MAX / 2, 1)));
    CHECK(!phys_is_valid(frame_alloc_run(1, (size_t)1 << 40)));
    CHECK(!phys_is_valid(frame_alloc_run(1, (size_t)1 << 63)));
    /* The longest stretch is [20 MiB + 4 KiB, 32 MiB) less one reserved frame. */
    CHECK(!phys_is_valid(frame_alloc_run(FRAMES(11 * MIB), 1)));
    CHECK_EQ_U64(frame_alloc_run(FRAMES(11 * MIB) - 1, 1).value, 21 * MIB + FRAME_SIZE);
    frame_free_run(phys(21 * MIB + FRAME_SIZE), FRAMES(11 * MIB) - 1);
    CHECK_EQ_U64(stats_now().free_frames, start.free_frames);
    CHECK(invariants_hold());
}

/* ---- mistakes that panic -------------------------------------------------------- */

static bool panic_says(const char *what)
{
    if (strstr(shim_panic_message, what))
        return true;
    fprintf(stderr, "panic message \"%s\" lacks \"%s\"\n", shim_panic_message, what);
    return false;
}

static void test_frame_double_free_of_a_pool_frame_panics(void)
{
    struct layout l = LAYOUT(busy_map, busy_reserved, 32 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    phys_addr_t p = frame_alloc();
    frame_free(p);
    frame_drain_cache();
    CHECK(SHIM_EXPECT_PANIC(frame_free(p)));
    CHECK(panic_says("double free of frame 0x"));
    /* A free frame nobody ever allocated. */
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    CHECK(SHIM_EXPECT_PANIC(frame_free(phys(31 * MIB))));
    CHECK(panic_says("double free of frame 0x1f00000"));
}

static void test_frame_double_free_of_a_cached_frame_panics(void)
{
    struct layout l = LAYOUT(busy_map, busy_reserved, 32 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    phys_addr_t p = frame_alloc();
    frame_free(p);
    CHECK(bit_test(cached_bitmap, p.value / FRAME_SIZE));
    CHECK(SHIM_EXPECT_PANIC(frame_free(p)));
    CHECK(panic_says("double free"));

    /* The same from another CPU than the one whose cache has it. */
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    const phys_addr_t q = frame_alloc();
    frame_free(q);
    shim_cpu_index = 3;
    CHECK(SHIM_EXPECT_PANIC(frame_free(q)));
    CHECK(panic_says("double free"));
    shim_cpu_index = 0;
}

/* A cache taken (by an interrupt handler's caller on this CPU, or a thread
 * preempted while holding it): alloc and free go to the pool and leave the cache
 * alone, the counts stay right, and a double free is still caught. */
static void test_frame_taken_cache_sends_alloc_and_free_to_the_pool(void)
{
    struct layout l = LAYOUT(busy_map, busy_reserved, 32 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    uint64_t start_free = stats_now().free_frames;
    phys_addr_t warm = frame_alloc(); /* fills the cache by a batch */
    uint32_t cached = caches[0].count;
    uint64_t in_pool = pool_free;
    CHECK(cache_trylock(&caches[0]));
    phys_addr_t p = frame_alloc();
    CHECK(phys_is_valid(p));
    CHECK_EQ_INT(caches[0].count, cached);   /* untouched */
    CHECK_EQ_U64(pool_free, in_pool - 1);    /* from the pool */
    CHECK(!bit_test(cached_bitmap, p.value / FRAME_SIZE));
    frame_free(p);
    CHECK_EQ_INT(caches[0].count, cached);
    CHECK_EQ_U64(pool_free, in_pool);        /* back to the pool */
    CHECK(SHIM_EXPECT_PANIC(frame_free(p)));
    CHECK(panic_says("double free"));
    CHECK(!bit_test(cached_bitmap, p.value / FRAME_SIZE)); /* the check left it as it was */
    cache_unlock(&caches[0]);
    frame_free(warm);
    CHECK_EQ_INT(caches[0].count, cached + 1); /* the cache again */
    CHECK_EQ_U64(stats_now().free_frames, start_free);
    CHECK(invariants_hold());
}

static void test_frame_unaligned_free_panics(void)
{
    struct layout l = LAYOUT(busy_map, busy_reserved, 32 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    phys_addr_t p = frame_alloc();
    CHECK(SHIM_EXPECT_PANIC(frame_free(phys(p.value + 8))));
    CHECK(panic_says("not frame-aligned"));
    CHECK(SHIM_EXPECT_PANIC(frame_free_run(phys(p.value + 1), 1)));
    CHECK(panic_says("not frame-aligned"));
}

static void test_frame_free_beyond_managed_memory_panics(void)
{
    struct layout l = LAYOUT(busy_map, busy_reserved, 32 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    CHECK(SHIM_EXPECT_PANIC(frame_free(phys(32 * MIB))));
    CHECK(panic_says("outside managed memory"));
    CHECK(SHIM_EXPECT_PANIC(frame_free(phys(UINT64_MAX & ~(FRAME_SIZE - 1)))));
    CHECK(panic_says("outside managed memory"));
    CHECK(SHIM_EXPECT_PANIC(frame_free_run(phys(31 * MIB), 1024)));
    CHECK(panic_says("outside managed memory"));
    CHECK_EQ_U64(stats_now().free_frames, count_frames_for(&l));
}

static void test_frame_double_free_within_a_run_panics(void)
{
    struct layout l = LAYOUT(busy_map, busy_reserved, 32 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    const phys_addr_t run = frame_alloc_run(8, 8);
    CHECK(phys_is_valid(run));
    /* One frame of the run freed alone sits in the cache... */
    frame_free(phys(run.value + 3 * FRAME_SIZE));
    CHECK(SHIM_EXPECT_PANIC(frame_free_run(run, 8)));
    CHECK(panic_says("double free of frame"));
    char expected[64];
    snprintf(expected, sizeof(expected), "0x%" PRIx64 " (in a run of 8",
             (uint64_t)(run.value + 3 * FRAME_SIZE));
    CHECK(panic_says(expected));

    /* ...or, drained, in the pool. */
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    const phys_addr_t drained_run = frame_alloc_run(8, 8);
    frame_free(phys(drained_run.value + 7 * FRAME_SIZE));
    frame_drain_cache();
    CHECK(SHIM_EXPECT_PANIC(frame_free_run(drained_run, 8)));
    snprintf(expected, sizeof(expected), "0x%" PRIx64 " (in a run of 8",
             (uint64_t)(drained_run.value + 7 * FRAME_SIZE));
    CHECK(panic_says(expected));
}

/* ---- random operations against a model ------------------------------------------ */

/* xorshift64*: the same sequence on every host for a given seed. */
static uint64_t next_random(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 0x2545f4914f6cdd1dull;
}

struct run_held {
    uint64_t first; /* frame number */
    size_t nframes;
};

/* The run frame_alloc_run must return: the lowest aligned stretch free in the pool. */
static uint64_t lowest_fitting_run(size_t nframes, size_t align)
{
    for (uint64_t start = 0; start + nframes <= bitmap.frame_count;) {
        uint64_t n = start;
        while (n < start + nframes && bit_test(bitmap.level0, n))
            n++;
        if (n == start + nframes)
            return start;
        start = align_up(n + 1, align);
    }
    return UINT64_MAX;
}

static void test_frame_random_operations_match_a_model(void)
{
    struct layout l = LAYOUT(busy_map, busy_reserved, 32 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    const uint64_t available = count_frames_for(&l);
    CHECK_EQ_U64(stats_now().free_frames, available);

    uint8_t *taken = calloc(bitmap.frame_count, 1); /* the model: 1 = handed out */
    uint64_t *singles = malloc(available * sizeof(uint64_t));
    struct run_held *runs = malloc(available * sizeof(struct run_held));
    size_t nsingles = 0, nruns = 0;
    uint64_t in_use = 0, seed = 0x5eed0f4a11ull;
    int failures_before = check_failures_in_test;

    for (int step = 0; step < 30000 && check_failures_in_test == failures_before; step++) {
        uint64_t r = next_random(&seed);
        unsigned op = (unsigned)(r % 100);
        /* Lean towards allocation in the first third, then towards freeing. */
        bool grow = (step / 10000) % 2 == 0;
        if (op < (grow ? 45u : 30u)) {
            bool expect = caches[shim_cpu_index].count > 0 || pool_free > 0;
            phys_addr_t p = frame_alloc();
            CHECK_EQ_INT(phys_is_valid(p), expect);
            if (phys_is_valid(p)) {
                uint64_t n = p.value / FRAME_SIZE;
                CHECK(p.value % FRAME_SIZE == 0 && frame_may_be_handed_out(&l, n) && !taken[n]);
                taken[n] = 1;
                singles[nsingles++] = n;
                in_use++;
            }
        } else if (op < 60) {
            if (nsingles == 0)
                continue;
            size_t i = (size_t)(r >> 32) % nsingles;
            uint64_t n = singles[i];
            singles[i] = singles[--nsingles];
            frame_free(phys(n * FRAME_SIZE));
            taken[n] = 0;
            in_use--;
        } else if (op < (grow ? 72u : 66u)) {
            size_t nframes = 1 + (size_t)((r >> 16) % 40);
            size_t align = (size_t)1 << ((r >> 24) % 7);
            uint64_t expect = lowest_fitting_run(nframes, align);
            phys_addr_t p = frame_alloc_run(nframes, align);
            CHECK_EQ_U64(p.value, expect == UINT64_MAX ? UINT64_MAX : expect * FRAME_SIZE);
            if (phys_is_valid(p)) {
                uint64_t first = p.value / FRAME_SIZE;
                for (uint64_t n = first; n < first + nframes; n++) {
                    CHECK(frame_may_be_handed_out(&l, n) && !taken[n]);
                    taken[n] = 1;
                }
                runs[nruns++] = (struct run_held){first, nframes};
                in_use += nframes;
            }
        } else if (op < 85) {
            if (nruns == 0)
                continue;
            size_t i = (size_t)(r >> 32) % nruns;
            struct run_held run = runs[i];
            runs[i] = runs[--nruns];
            if (r & (1ull << 20)) {
                frame_free_run(phys(run.first * FRAME_SIZE), run.nframes);
            } else {
                for (uint64_t n = run.first; n < run.first + run.nframes; n++)
                    frame_free(phys(n * FRAME_SIZE));
            }
            for (uint64_t n = run.first; n < run.first + run.nframes; n++)
                taken[n] = 0;
            in_use -= run.nframes;
        } else if (op < 97) {
            shim_cpu_index = (unsigned)((r >> 40) % 4);
        } else {
            frame_drain_cache();
        }
        CHECK_EQ_U64(stats_now().free_frames, available - in_use);
        if (!invariants_hold()) {
            fprintf(stderr, "after step %d (operation %u)\n", step, op);
            CHECK(false);
        }
    }

    while (nsingles > 0)
        frame_free(phys(singles[--nsingles] * FRAME_SIZE));
    while (nruns > 0) {
        nruns--;
        frame_free_run(phys(runs[nruns].first * FRAME_SIZE), runs[nruns].nframes);
    }
    for (unsigned cpu = 0; cpu < 4; cpu++) {
        shim_cpu_index = cpu;
        frame_drain_cache();
    }
    shim_cpu_index = 0;
    CHECK_EQ_U64(pool_free, available);
    CHECK(invariants_hold());
    free(taken);
    free(singles);
    free(runs);
}

/* ---- threads as CPUs ------------------------------------------------------------- */

enum { STRESS_THREADS = 4, STRESS_HELD = 300, STRESS_STEPS = 40000 };

static uint8_t *stress_owner; /* per frame: 0, or 1 + the thread holding it */
static int stress_errors;     /* atomic */

static void stress_take(uint64_t n, uint8_t me)
{
    uint8_t expected = 0;
    if (!__atomic_compare_exchange_n(&stress_owner[n], &expected, me, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        __atomic_fetch_add(&stress_errors, 1, __ATOMIC_RELAXED);
}

static void stress_give_back(uint64_t n, uint8_t me)
{
    if (__atomic_exchange_n(&stress_owner[n], 0, __ATOMIC_ACQ_REL) != me)
        __atomic_fetch_add(&stress_errors, 1, __ATOMIC_RELAXED);
}

static void *stress_cpu(void *arg)
{
    unsigned cpu = (unsigned)(uintptr_t)arg;
    uint8_t me = (uint8_t)(cpu + 1);
    shim_cpu_index = cpu;
    uint64_t seed = 0x9e3779b97f4a7c15ull * (cpu + 1), held[STRESS_HELD];
    struct run_held run = {0, 0};
    size_t nheld = 0;
    for (int step = 0; step < STRESS_STEPS; step++) {
        uint64_t r = next_random(&seed);
        if (r % 100 < 55 && nheld < STRESS_HELD) {
            phys_addr_t p = frame_alloc();
            if (phys_is_valid(p)) {
                held[nheld++] = p.value / FRAME_SIZE;
                stress_take(p.value / FRAME_SIZE, me);
            }
        } else if (r % 100 < 95 && nheld > 0) {
            size_t i = (size_t)(r >> 32) % nheld;
            stress_give_back(held[i], me);
            frame_free(phys(held[i] * FRAME_SIZE));
            held[i] = held[--nheld];
        } else if (run.nframes == 0) {
            phys_addr_t p = frame_alloc_run(4, 4);
            if (phys_is_valid(p))
                run = (struct run_held){p.value / FRAME_SIZE, 4};
            for (uint64_t n = run.first; n < run.first + run.nframes; n++)
                stress_take(n, me);
        } else {
            for (uint64_t n = run.first; n < run.first + run.nframes; n++)
                stress_give_back(n, me);
            frame_free_run(phys(run.first * FRAME_SIZE), run.nframes);
            run.nframes = 0;
            if (r & 1)
                frame_drain_cache();
        }
    }
    while (nheld > 0) {
        stress_give_back(held[--nheld], me);
        frame_free(phys(held[nheld] * FRAME_SIZE));
    }
    for (uint64_t n = run.first; n < run.first + run.nframes; n++)
        stress_give_back(n, me);
    if (run.nframes)
        frame_free_run(phys(run.first * FRAME_SIZE), run.nframes);
    return NULL;
}

static void test_frame_threads_as_cpus_account_for_every_frame_once(void)
{
    /* 1024 frames, less than the threads could hold together: exhaustion happens. */
    const struct mmap_entry map[] = {{1 * MIB, 4 * MIB + 4 * KIB, MMAP_USABLE}};
    struct layout l = LAYOUT_PLAIN(map, 8 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    uint64_t start_free = stats_now().free_frames;
    CHECK_EQ_U64(start_free, 1024);
    stress_owner = calloc(bitmap.frame_count, 1);
    stress_errors = 0;

    pthread_t threads[STRESS_THREADS];
    for (uintptr_t i = 0; i < STRESS_THREADS; i++)
        CHECK_EQ_INT(pthread_create(&threads[i], NULL, stress_cpu, (void *)i), 0);
    for (int i = 0; i < STRESS_THREADS; i++)
        pthread_join(threads[i], NULL);

    CHECK_EQ_INT(stress_errors, 0);
    CHECK_EQ_U64(stats_now().free_frames, start_free);
    CHECK(invariants_hold());
    for (unsigned cpu = 0; cpu < STRESS_THREADS; cpu++) {
        shim_cpu_index = cpu;
        frame_drain_cache();
    }
    shim_cpu_index = 0;
    CHECK_EQ_U64(pool_free, start_free);
    CHECK(invariants_hold());
    CHECK_EQ_U64(exhaust_and_restore(&l), start_free);
    free(stress_owner);
}

/* ---- NUMA pools ---------------------------------------------------------------- */

/* Three nodes of 16 MiB, node 0's nearest neighbour being node 2; node 1's memory
 * comes in two ranges around node 2's. CPU k is on node k. */
static void init_three_nodes(void)
{
    static struct acpi_numa_info t;
    memset(&t, 0, sizeof(t));
    t.srat_found = true;
    t.node_count = 3;
    t.mem_count = 4;
    t.mem[0] = (struct acpi_mem_affinity){0, 16 * MIB, 0};
    t.mem[1] = (struct acpi_mem_affinity){16 * MIB, 8 * MIB, 1};
    t.mem[2] = (struct acpi_mem_affinity){24 * MIB, 16 * MIB, 2};
    t.mem[3] = (struct acpi_mem_affinity){40 * MIB, 8 * MIB, 1};
    t.cpu_count = 3;
    for (unsigned c = 0; c < 3; c++)
        t.cpus[c] = (struct acpi_cpu_affinity){100 + c, c};
    const uint8_t d[3][3] = {{10, 30, 15}, {30, 10, 20}, {15, 20, 10}};
    memcpy(t.distance[0], d[0], 3);
    memcpy(t.distance[1], d[1], 3);
    memcpy(t.distance[2], d[2], 3);
    numa_init(&t, true);
    for (unsigned c = 0; c < 3; c++)
        numa_map_cpu(c, 100 + c);
}

static unsigned node_of(phys_addr_t f)
{
    uint64_t p = f.value;
    if (p < 16 * MIB)
        return 0;
    return p >= 24 * MIB && p < 40 * MIB ? 2 : 1;
}

static void test_frame_numa_caches_fill_from_their_node_then_by_distance(void)
{
    init_three_nodes();
    const struct mmap_entry map[] = {{1 * MIB, 47 * MIB, MMAP_USABLE}};
    struct layout l = LAYOUT_PLAIN(map, 8 * MIB);
    CHECK_EQ_INT(init_layout(&l), FRAME_OK);
    CHECK_EQ_INT(pool_count, 3);
    struct frame_stats s0, s1, s2, all;
    CHECK(frame_get_node_stats(0, &s0) && frame_get_node_stats(1, &s1) &&
          frame_get_node_stats(2, &s2));
    CHECK(!frame_get_node_stats(3, &s0));
    CHECK_EQ_U64(s1.total_frames, FRAMES(16 * MIB));
    CHECK_EQ_U64(s2.total_frames, FRAMES(16 * MIB));
    CHECK_EQ_U64(s0.total_frames, FRAMES(15 * MIB));
    frame_get_stats(&all);
    CHECK_EQ_U64(all.total_frames, FRAMES(47 * MIB));
    CHECK_EQ_U64(all.free_frames, s0.free_frames + s1.free_frames + s2.free_frames);

    /* CPU 0 takes node 0 dry, then node 2 (distance 15), then node 1 (30). */
    shim_cpu_index = 0;
    static phys_addr_t got[FRAMES(48 * MIB)];
    size_t n = 0;
    unsigned last_node = 0, switches = 0;
    for (phys_addr_t f; phys_is_valid(f = frame_alloc()); n++) {
        got[n] = f;
        CHECK_EQ_INT(frame_node(f), node_of(f));
        if (node_of(f) != last_node) {
            CHECK_EQ_INT(node_of(f), switches == 0 ? 2 : 1);
            switches++;
            last_node = node_of(f);
        }
        if (check_failures_in_test)
            return;
    }
    CHECK_EQ_INT(switches, 2);
    CHECK_EQ_U64(n, all.free_frames);
    for (size_t i = 0; i < n; i++)
        frame_free(got[i]);
    frame_drain_cache();
    frame_get_stats(&all);
    CHECK_EQ_U64(all.free_frames, n);

    /* CPU 1's cache fills from node 1; a node-1 frame freed on CPU 0 goes home. */
    shim_cpu_index = 1;
    phys_addr_t f = frame_alloc();
    CHECK_EQ_INT(node_of(f), 1);
    uint64_t pool1 = pools[1].free, cache0 = caches[0].count;
    shim_cpu_index = 0;
    frame_free(f);
    CHECK_EQ_U64(pools[1].free, pool1 + 1);
    CHECK_EQ_INT(caches[0].count, cache0);
    /* Explicit placement, and runs from the caller's node. */
    phys_addr_t g = frame_alloc_on_node(2);
    CHECK_EQ_INT(node_of(g), 2);
    frame_free(g);
    phys_addr_t run = frame_alloc_run(512, 512);
    CHECK(phys_is_valid(run) && node_of(run) == 0);
    frame_free_run(run, 512);
    shim_cpu_index = 1;
    run = frame_alloc_run(1024, 512);
    CHECK(phys_is_valid(run) && node_of(run) == 1 && node_of(phys(run.value + 4 * MIB - 1)) == 1);
    frame_free_run(run, 1024);
    shim_cpu_index = 0;
    /* Runs for another node: from it while it has one, then from its nearest (node
     * 2's is node 0, at 15; node 1, at 20, also has an 8 MiB range). */
    struct frame_stats before;
    frame_get_stats(&before);
    run = frame_alloc_run_on_node(2, 512, 512);
    CHECK(phys_is_valid(run) && node_of(run) == 2);
    phys_addr_t big = frame_alloc_run_on_node(2, 2048, 512);
    CHECK(phys_is_valid(big) && node_of(big) == 2);
    phys_addr_t spill = frame_alloc_run_on_node(2, 2048, 512);
    CHECK(phys_is_valid(spill) && node_of(spill) == 0 &&
          node_of(phys(spill.value + 8 * MIB - 1)) == 0);
    CHECK(!phys_is_valid(frame_alloc_run_on_node(2, 0, 1)));
    frame_free_run(spill, 2048);
    frame_free_run(big, 2048);
    frame_free_run(run, 512);
    frame_get_stats(&all);
    CHECK_EQ_U64(all.free_frames, before.free_frames);
    numa_init(NULL, false);
}

int main(void)
{
    check_program = "test_frame";
    RUN(test_frame_init_simple_map_counts_every_usable_frame);
    RUN(test_frame_init_reserves_the_first_mib);
    RUN(test_frame_init_keeps_reserved_ranges_out);
    RUN(test_frame_init_never_hands_out_the_bitmap);
    RUN(test_frame_init_holes_are_never_handed_out);
    RUN(test_frame_init_counts_overlapping_usable_regions_once);
    RUN(test_frame_init_excludes_usable_frames_another_region_claims);
    RUN(test_frame_init_puts_the_bitmap_outside_regions_of_other_types);
    RUN(test_frame_init_clips_unaligned_edges_to_whole_frames);
    RUN(test_frame_init_uses_regions_above_4gib);
    RUN(test_frame_64gib_map_allocates_without_full_scans);
    RUN(test_frame_init_clips_a_region_past_frame_max_phys);
    RUN(test_frame_init_ignores_a_region_wholly_above_frame_max_phys);
    RUN(test_frame_init_without_usable_memory_fails);
    RUN(test_frame_init_without_room_for_the_bitmap_fails);
    RUN(test_frame_init_honours_ranges_that_reach_the_top);
    RUN(test_frame_exhaust_then_free_restores_count);
    RUN(test_frame_alloc_refills_the_cache_by_a_batch);
    RUN(test_frame_caches_are_per_cpu);
    RUN(test_frame_free_into_a_full_cache_drains_a_batch);
    RUN(test_frame_alloc_takes_from_the_pool_not_other_caches);
    RUN(test_frame_alloc_run_honours_alignment);
    RUN(test_frame_alloc_run_skips_runs_across_a_hole);
    RUN(test_frame_alloc_run_takes_an_exact_fit);
    RUN(test_frame_alloc_run_impossible_or_bad_requests_return_invalid);
    RUN(test_frame_double_free_of_a_pool_frame_panics);
    RUN(test_frame_double_free_of_a_cached_frame_panics);
    RUN(test_frame_taken_cache_sends_alloc_and_free_to_the_pool);
    RUN(test_frame_unaligned_free_panics);
    RUN(test_frame_free_beyond_managed_memory_panics);
    RUN(test_frame_double_free_within_a_run_panics);
    RUN(test_frame_random_operations_match_a_model);
    RUN(test_frame_threads_as_cpus_account_for_every_frame_once);
    RUN(test_frame_numa_caches_fill_from_their_node_then_by_distance);
    shim_phys_fini();
    return check_summary();
}
