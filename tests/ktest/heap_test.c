/* Suite `heap`: kmalloc and friends over the live buddy heap. */
#include "kernel/ktest.h"
#include "lib/string.h"
#include "mm/heap.h"
#include "mm_test_util.h"

static bool heap_stats_equal(const struct heap_stats *a, const struct heap_stats *b)
{
    return memcmp(a, b, sizeof(*a)) == 0;
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 31);
}

static bool intact(const uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != (uint8_t)(seed + i * 31))
            return false;
    }
    return true;
}

static void heap_every_size_class_is_written_and_verified(struct ktest *t)
{
    /* Blocks up to an arena (2 MiB), each order in a fresh arena at worst. */
    if (mm_skip_unless_free(t, 6ull << 20))
        return;
    struct heap_stats before, after;
    heap_get_stats(&before);
    for (unsigned order = HEAP_MIN_ORDER; order <= HEAP_MAX_ORDER; order++) {
        size_t sizes[] = {(1ul << order) - HEAP_HEADER_BYTES, (1ul << (order - 1)) + 1};
        for (size_t k = 0; k < 2; k++) {
            size_t n = sizes[k];
            uint8_t *p = kmalloc(n);
            KT_ASSERT(t, p != NULL);
            KT_EXPECT_EQ(t, (uintptr_t)p % 16, 0);
            fill(p, n, (uint8_t)order);
            KT_EXPECT(t, intact(p, n, (uint8_t)order));
            kfree(p);
        }
    }
    heap_check();
    heap_get_stats(&after);
    KT_EXPECT(t, heap_stats_equal(&before, &after));
}

static void heap_exhaust_then_free_restores_counts(struct ktest *t)
{
    struct heap_stats before, after;
    heap_get_stats(&before);
    uint64_t frames_before = mm_free_frames();
    void *list = NULL;
    size_t blocks = 0;
    for (;;) {
        void **p = kmalloc((1ul << (HEAP_MAX_ORDER - 1)) - HEAP_HEADER_BYTES);
        if (!p)
            break;
        *p = list;
        list = p;
        blocks++;
    }
    KT_EXPECT(t, blocks > 0);
    /* Small requests still fail or succeed cleanly when memory is gone. */
    void *small = kmalloc(64);
    while (list) {
        void *next = *(void **)list;
        kfree(list);
        list = next;
    }
    kfree(small);
    heap_check();
    heap_get_stats(&after);
    KT_EXPECT(t, heap_stats_equal(&before, &after));
    KT_EXPECT_EQ(t, mm_free_frames(), frames_before);
    ktest_note(t, "%zu blocks of %lu KiB before memory ran out", blocks,
               (1ul << (HEAP_MAX_ORDER - 1)) >> 10);
}

static void heap_random_sequence_keeps_contents(struct ktest *t)
{
    /* Up to 256 live blocks, a quarter of them up to 1 MiB. */
    if (mm_skip_unless_free(t, 12ull << 20))
        return;
    enum { SLOTS = 256, STEPS = 4000 };
    static uint8_t *blocks[SLOTS];
    static size_t sizes[SLOTS];
    struct heap_stats before, after;
    heap_get_stats(&before);
    for (int step = 0; step < STEPS; step++) {
        size_t i = (size_t)rng_below(&t->rng, SLOTS);
        if (blocks[i]) {
            KT_EXPECT(t, intact(blocks[i], sizes[i], (uint8_t)i));
            kfree(blocks[i]);
            blocks[i] = NULL;
            continue;
        }
        /* Mostly small, sometimes large: sizes spread over every order. */
        unsigned order = 1 + (unsigned)rng_below(&t->rng, rng_below(&t->rng, 4) ? 12 : 20);
        sizes[i] = 1 + (size_t)rng_below(&t->rng, 1ul << order);
        blocks[i] = kmalloc(sizes[i]);
        KT_ASSERT(t, blocks[i] != NULL);
        fill(blocks[i], sizes[i], (uint8_t)i);
        if (step % 500 == 0)
            heap_check();
    }
    for (size_t i = 0; i < SLOTS; i++) {
        if (blocks[i]) {
            KT_EXPECT(t, intact(blocks[i], sizes[i], (uint8_t)i));
            kfree(blocks[i]);
            blocks[i] = NULL;
        }
    }
    heap_check();
    heap_get_stats(&after);
    KT_EXPECT(t, heap_stats_equal(&before, &after));
}

static void heap_kcalloc_zeroes_and_refuses_overflow(struct ktest *t)
{
    uint8_t *dirty = kmalloc(800);
    KT_ASSERT(t, dirty != NULL);
    memset(dirty, 0xee, 800);
    kfree(dirty);
    uint64_t *zeroed = kcalloc(100, 8);
    KT_ASSERT(t, zeroed != NULL);
    bool all_zero = true;
    for (int i = 0; i < 100; i++)
        all_zero &= zeroed[i] == 0;
    KT_EXPECT(t, all_zero);
    kfree(zeroed);
    KT_EXPECT(t, kcalloc(SIZE_MAX / 2, 4) == NULL);
}

static void heap_krealloc_moves_and_keeps_contents(struct ktest *t)
{
    uint8_t *p = krealloc(NULL, 40);
    KT_ASSERT(t, p != NULL);
    fill(p, 40, 7);
    uint8_t *same = krealloc(p, 30); /* fits: stays */
    KT_EXPECT(t, same == p);
    uint8_t *bigger = krealloc(p, 5000);
    KT_ASSERT(t, bigger != NULL);
    KT_EXPECT(t, intact(bigger, 30, 7));
    KT_EXPECT(t, krealloc(bigger, HEAP_MAX_ALLOC_BYTES + 1) == NULL);
    KT_EXPECT(t, intact(bigger, 30, 7)); /* a failed krealloc leaves the block alone */
    KT_EXPECT(t, krealloc(bigger, 0) == NULL);
    heap_check();
}

static void heap_largest_size_works_and_beyond_fails(struct ktest *t)
{
    /* A whole arena (2 MiB) and the heap's own. */
    if (mm_skip_unless_free(t, 4ull << 20))
        return;
    void *big = kmalloc(HEAP_MAX_ALLOC_BYTES);
    KT_ASSERT(t, big != NULL);
    memset(big, 0x11, HEAP_MAX_ALLOC_BYTES);
    KT_EXPECT(t, kmalloc(HEAP_MAX_ALLOC_BYTES + 1) == NULL);
    KT_EXPECT(t, kmalloc(SIZE_MAX) == NULL);
    kfree(big);
    kfree(NULL);
    void *zero = kmalloc(0);
    KT_EXPECT(t, zero != NULL);
    kfree(zero);
}

/* More blocks of one order freed than a CPU's cache has room for: the cache
 * takes its room's worth and the rest go to the engine, and nothing is lost. */
static void heap_frees_past_the_cache_room_go_to_the_engine(struct ktest *t)
{
    enum { COUNT = 3 * 64 };
    static uint8_t *blocks[COUNT];
    struct heap_stats before, after;
    heap_get_stats(&before);
    for (unsigned round = 0; round < 2; round++) {
        for (size_t i = 0; i < COUNT; i++) {
            blocks[i] = kmalloc(100);
            KT_ASSERT(t, blocks[i] != NULL);
            fill(blocks[i], 100, (uint8_t)i);
        }
        for (size_t i = 0; i < COUNT; i++) {
            KT_EXPECT(t, intact(blocks[i], 100, (uint8_t)i));
            kfree(blocks[i]);
        }
    }
    heap_check();
    heap_get_stats(&after);
    KT_EXPECT(t, heap_stats_equal(&before, &after));
}

KTEST_SUITE(heap, KTEST(heap_every_size_class_is_written_and_verified),
            KTEST(heap_frees_past_the_cache_room_go_to_the_engine),
            KTEST(heap_exhaust_then_free_restores_counts),
            KTEST(heap_random_sequence_keeps_contents),
            KTEST(heap_kcalloc_zeroes_and_refuses_overflow),
            KTEST(heap_krealloc_moves_and_keeps_contents),
            KTEST(heap_largest_size_works_and_beyond_fails));

/* ---- misuse: each must end in a panic naming the block ---------------------- */

static void crash_heap_double_free(struct ktest *t)
{
    void *p = kmalloc(100);
    KT_ASSERT(t, p != NULL);
    kfree(p);
    kfree(p);
    ktest_fail(t, __FILE__, __LINE__, "the second kfree(%p) went unnoticed", p);
}
KTEST_CRASH_SUITE(crash_heap_double_free, KTEST(crash_heap_double_free));

static void crash_heap_foreign_free(struct ktest *t)
{
    static uint64_t not_from_the_heap[4];
    kfree(&not_from_the_heap[2]);
    ktest_fail(t, __FILE__, __LINE__, "kfree of a static object went unnoticed");
}
KTEST_CRASH_SUITE(crash_heap_foreign_free, KTEST(crash_heap_foreign_free));

static void crash_heap_damaged_header(struct ktest *t)
{
    uint8_t *p = kmalloc(100);
    KT_ASSERT(t, p != NULL);
    p[-5] ^= 0x40; /* an underrun from the block before */
    kfree(p);
    ktest_fail(t, __FILE__, __LINE__, "a damaged header went unnoticed");
}
KTEST_CRASH_SUITE(crash_heap_damaged_header, KTEST(crash_heap_damaged_header));

static void crash_heap_damaged_cached_block(struct ktest *t)
{
    uint8_t *p = kmalloc(100);
    KT_ASSERT(t, p != NULL);
    kfree(p);                          /* into this CPU's cache, first on its list */
    p[-HEAP_HEADER_BYTES + 2] ^= 0x20; /* a write after the free lands on its seal */
    void *q = kmalloc(100);
    ktest_fail(t, __FILE__, __LINE__, "kmalloc returned %p past a damaged cached block", q);
}
KTEST_CRASH_SUITE(crash_heap_damaged_cached_block, KTEST(crash_heap_damaged_cached_block));
