/* Host tests of the buddy engine (mm/buddy.c) over a fake mmap-backed heap region. */
#include <stdlib.h>
#include <string.h>

#include "buddy_model.h"
#include "check.h"
#include "mm/buddy.h"
#include "shim.h"

#define CALLER 0xc0ffee12ul
#define TEST_SLOTS 16

static struct test_region region;
static struct buddy_heap heap;
static struct buddy_model model;

static void heap_setup(void)
{
    region_create(&region, TEST_SLOTS);
    CHECK(buddy_init(&heap, region_source(&region), region.start, region.end));
    memset(&model, 0, sizeof(model));
    model.heap = &heap;
    model.region = &region;
}

static void heap_teardown(void)
{
    region_destroy(&region);
}

/* True when the last panic message contains `text`. */
static bool panic_says(const char *text)
{
    if (strstr(shim_panic_message, text))
        return true;
    fprintf(stderr, "panic message \"%s\" lacks \"%s\"\n", shim_panic_message, text);
    return false;
}

static bool panic_names(const void *addr)
{
    char hex[32];
    snprintf(hex, sizeof(hex), "0x%lx", (unsigned long)addr);
    return panic_says(hex);
}

static bool stats_equal(const struct heap_stats *a, const struct heap_stats *b)
{
    return memcmp(a, b, sizeof(*a)) == 0;
}

/* The heap as buddy_init leaves it: one arena, one free block of the largest order. */
static bool heap_is_pristine(void)
{
    struct heap_stats start = {.arenas = 1};
    start.free_blocks[HEAP_MAX_ORDER] = 1;
    return stats_equal(&heap.stats, &start) && region_mapped_count(&region) == 1;
}

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Mostly small requests, some page-sized, a few huge ones and a few too large. */
static size_t random_size(void)
{
    uint64_t pick = rng_next() % 100;
    if (pick < 70)
        return rng_next() % 300;
    if (pick < 93)
        return rng_next() % 8192;
    if (pick < 99)
        return rng_next() % (HEAP_MAX_ALLOC_BYTES + 1);
    return HEAP_MAX_ALLOC_BYTES + 1 + rng_next() % 64;
}

/* ---- allocation and sizes ---------------------------------------------------------- */

static void test_init_maps_exactly_one_arena(void)
{
    heap_setup();
    CHECK(heap_is_pristine());
    CHECK_EQ_INT(region.maps, 1);
    buddy_check(&heap);
    heap_teardown();
}

static void test_init_without_memory_returns_false(void)
{
    region_create(&region, TEST_SLOTS);
    region.out_of_memory = true;
    CHECK(!buddy_init(&heap, region_source(&region), region.start, region.end));
    CHECK_EQ_INT(region.maps, 0);
    heap_teardown();
}

static void test_every_order_boundary_gets_the_smallest_block(void)
{
    heap_setup();
    for (unsigned order = HEAP_MIN_ORDER; order <= HEAP_MAX_ORDER; order++) {
        size_t fits = (1ul << order) - HEAP_HEADER_BYTES;
        long index = model_alloc(&model, fits);
        CHECK(index >= 0);
        if (index >= 0)
            CHECK_EQ_INT(model.live[index].order, order);
        if (order < HEAP_MAX_ORDER) {
            index = model_alloc(&model, fits + 1);
            CHECK(index >= 0);
            if (index >= 0)
                CHECK_EQ_INT(model.live[index].order, order + 1);
        }
        buddy_check(&heap);
        model_check_stats(&model);
    }
    model_free_all(&model);
    buddy_check(&heap);
    CHECK(heap_is_pristine());
    heap_teardown();
}

static void test_zero_bytes_gets_a_minimum_block(void)
{
    heap_setup();
    void *a = buddy_alloc(&heap, 0, CALLER), *b = buddy_alloc(&heap, 0, CALLER);
    CHECK(a && b && a != b);
    CHECK_EQ_INT(buddy_usable_size(&heap, a, CALLER), (1 << HEAP_MIN_ORDER) - HEAP_HEADER_BYTES);
    CHECK_EQ_INT(heap.stats.bytes_in_use, 2 << HEAP_MIN_ORDER);
    buddy_free(&heap, a, CALLER);
    buddy_free(&heap, b, CALLER);
    CHECK(heap_is_pristine());
    heap_teardown();
}

static void test_too_large_request_returns_null_and_maps_nothing(void)
{
    heap_setup();
    CHECK(buddy_alloc(&heap, HEAP_MAX_ALLOC_BYTES + 1, CALLER) == NULL);
    CHECK(buddy_alloc(&heap, SIZE_MAX, CALLER) == NULL);
    CHECK(buddy_alloc(&heap, SIZE_MAX - HEAP_HEADER_BYTES + 1, CALLER) == NULL);
    CHECK(heap_is_pristine());
    void *whole = buddy_alloc(&heap, HEAP_MAX_ALLOC_BYTES, CALLER);
    CHECK(whole != NULL);
    CHECK_EQ_INT(heap.stats.bytes_in_use, 1ul << HEAP_MAX_ORDER);
    buddy_free(&heap, whole, CALLER);
    CHECK(heap_is_pristine());
    heap_teardown();
}

static void test_free_null_does_nothing(void)
{
    heap_setup();
    buddy_free(&heap, NULL, CALLER);
    CHECK(heap_is_pristine());
    heap_teardown();
}

/* ---- split and coalesce ------------------------------------------------------------ */

static void test_smallest_alloc_splits_one_block_per_order(void)
{
    heap_setup();
    void *ptr = buddy_alloc(&heap, 1, CALLER);
    CHECK(ptr != NULL);
    CHECK_EQ_U64((uintptr_t)ptr, region.start + HEAP_HEADER_BYTES);
    for (unsigned order = HEAP_MIN_ORDER; order < HEAP_MAX_ORDER; order++)
        CHECK_EQ_INT(heap.stats.free_blocks[order], 1);
    CHECK_EQ_INT(heap.stats.free_blocks[HEAP_MAX_ORDER], 0);
    buddy_check(&heap);
    buddy_free(&heap, ptr, CALLER);
    buddy_check(&heap);
    CHECK(heap_is_pristine());
    heap_teardown();
}

static void test_buddies_merge_only_when_both_are_free(void)
{
    heap_setup();
    uint8_t *a = buddy_alloc(&heap, 16, CALLER), *b = buddy_alloc(&heap, 16, CALLER);
    CHECK_EQ_U64((uintptr_t)b, (uintptr_t)a + (1 << HEAP_MIN_ORDER));
    buddy_free(&heap, a, CALLER);
    CHECK_EQ_INT(heap.stats.free_blocks[HEAP_MIN_ORDER], 1);
    buddy_check(&heap);
    /* The freed lower half is reused first (LIFO, warm). */
    uint8_t *again = buddy_alloc(&heap, 16, CALLER);
    CHECK(again == a);
    buddy_free(&heap, b, CALLER);
    CHECK_EQ_INT(heap.stats.free_blocks[HEAP_MIN_ORDER], 1);
    buddy_free(&heap, again, CALLER);
    buddy_check(&heap);
    CHECK(heap_is_pristine());
    heap_teardown();
}

static void test_freeing_everything_in_any_order_restores_one_free_arena(void)
{
    heap_setup();
    rng_state = 12345;
    for (int i = 0; i < 300; i++)
        model_alloc(&model, rng_next() % 5000);
    while (model.live_count) {
        model_free(&model, rng_next() % model.live_count);
        model_check_stats(&model);
    }
    buddy_check(&heap);
    CHECK(heap_is_pristine());
    heap_teardown();
}

/* ---- randomized, against the model -------------------------------------------------- */

static void run_random_sequence(uint64_t seed, int steps)
{
    heap_setup();
    region.arena_limit = 6;
    rng_state = seed;
    for (int step = 0; step < steps; step++) {
        /* Allocating is likelier while few blocks are live: the count wanders near 100. */
        uint64_t op = rng_next() % 10;
        if (rng_next() % 200 >= model.live_count) {
            model_alloc(&model, random_size());
        } else if (op < 7) {
            model_free(&model, rng_next() % model.live_count);
        } else if (op < 9) {
            model_realloc(&model, rng_next() % model.live_count, random_size());
        } else {
            region.out_of_memory = !region.out_of_memory;
        }
        buddy_check(&heap);
        model_check_stats(&model);
    }
    region.out_of_memory = false;
    model_free_all(&model);
    buddy_check(&heap);
    CHECK(heap_is_pristine());
    CHECK_EQ_INT(region.maps - region.unmaps, 1);
    heap_teardown();
}

static void test_random_sequences_match_the_model(void)
{
    static const uint64_t seeds[] = {1, 0x9e3779b97f4a7c15ull, 0xdeadbeef, 42, 7777777};
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
        run_random_sequence(seeds[i], 4000);
}

/* ---- arenas ----------------------------------------------------------------------- */

static void test_heap_grows_by_arenas_and_gives_them_back(void)
{
    heap_setup();
    void *whole[4];
    for (int i = 0; i < 4; i++) {
        whole[i] = buddy_alloc(&heap, HEAP_MAX_ALLOC_BYTES, CALLER);
        CHECK(whole[i] != NULL);
        CHECK_EQ_INT(heap.stats.arenas, i + 1);
    }
    CHECK_EQ_INT(region.maps, 4);
    buddy_check(&heap);
    for (int i = 0; i < 4; i++) {
        buddy_free(&heap, whole[i], CALLER);
        CHECK_EQ_INT(heap.stats.arenas, i < 3 ? 3 - i : 1);
        buddy_check(&heap);
    }
    CHECK_EQ_INT(region.unmaps, 3);
    CHECK(heap_is_pristine());
    heap_teardown();
}

static void test_small_blocks_spill_into_a_second_arena(void)
{
    heap_setup();
    size_t per_arena = 1ul << (HEAP_MAX_ORDER - 12);
    uint8_t *blocks[(1 << (HEAP_MAX_ORDER - 12)) + 1];
    for (size_t i = 0; i <= per_arena; i++) {
        blocks[i] = buddy_alloc(&heap, 4000, CALLER);
        CHECK(blocks[i] != NULL);
    }
    CHECK_EQ_INT(heap.stats.arenas, 2);
    CHECK_EQ_INT(heap.stats.free_blocks[HEAP_MAX_ORDER], 0);
    buddy_check(&heap);
    /* Emptying the first arena gives it back even though it was the first. */
    for (size_t i = 0; i < per_arena; i++)
        buddy_free(&heap, blocks[i], CALLER);
    CHECK_EQ_INT(heap.stats.arenas, 1);
    CHECK_EQ_INT(region.unmaps, 1);
    buddy_check(&heap);
    buddy_free(&heap, blocks[per_arena], CALLER);
    CHECK(heap_is_pristine());
    heap_teardown();
}

static void test_out_of_memory_returns_null_and_loses_nothing(void)
{
    heap_setup();
    region.arena_limit = 2;
    long index;
    while ((index = model_alloc(&model, 60000)) >= 0)
        ;
    CHECK_EQ_INT(heap.stats.arenas, 2);
    CHECK_EQ_INT(model.live_count, 2 * 32);
    struct heap_stats full = heap.stats;
    CHECK(buddy_alloc(&heap, 100, CALLER) == NULL);
    CHECK(stats_equal(&heap.stats, &full));
    /* A small block still fits once something is freed. */
    model_free(&model, 10);
    CHECK(model_alloc(&model, 100) >= 0);
    region.arena_limit = TEST_SLOTS;
    region.out_of_memory = true;
    CHECK(model_alloc(&model, 100000) < 0);
    buddy_check(&heap);
    model_check_stats(&model);
    model_free_all(&model);
    CHECK(heap_is_pristine());
    heap_teardown();
}

/* ---- misuse ------------------------------------------------------------------------ */

static void test_double_free_panics_naming_address_order_and_caller(void)
{
    heap_setup();
    void *keep = buddy_alloc(&heap, 100, CALLER);
    void *ptr = buddy_alloc(&heap, 100, CALLER);
    buddy_free(&heap, ptr, CALLER);
    CHECK(SHIM_EXPECT_PANIC(buddy_free(&heap, ptr, CALLER)));
    CHECK(panic_says("double free"));
    CHECK(panic_names(ptr));
    CHECK(panic_says("(order 7)"));
    CHECK(panic_says("from 0xc0ffee12"));
    buddy_free(&heap, keep, CALLER);
    CHECK(heap_is_pristine());
    heap_teardown();
}

static void test_double_free_after_merge_panics(void)
{
    heap_setup();
    void *ptr = buddy_alloc(&heap, 100, CALLER);
    buddy_free(&heap, ptr, CALLER);
    CHECK(SHIM_EXPECT_PANIC(buddy_free(&heap, ptr, CALLER)));
    CHECK(panic_says("double free"));
    CHECK(panic_names(ptr));
    CHECK(heap_is_pristine());
    heap_teardown();
}

/* Found by the fuzzer: a small block freed and merged left its used header in
 * memory; a larger block later allocated over it (and not written there) made a
 * free of the pointer inside it look like a free of that old small block. */
static void test_stale_header_inside_a_larger_block_is_not_a_block(void)
{
    heap_setup();
    void *low = buddy_alloc(&heap, 100, CALLER);   /* order 7 at the arena start */
    void *high = buddy_alloc(&heap, 100, CALLER);  /* its buddy, 128 bytes up */
    buddy_free(&heap, low, CALLER);
    buddy_free(&heap, high, CALLER);               /* merges down into `low` */
    uint8_t *big = buddy_alloc(&heap, 200, CALLER); /* order 8: covers both */
    CHECK((void *)big == low);
    CHECK(SHIM_EXPECT_PANIC(buddy_free(&heap, high, CALLER)));
    CHECK(panic_names(high));
    buddy_free(&heap, big, CALLER);
    CHECK(heap_is_pristine());
    heap_teardown();
}

static void test_foreign_pointers_panic(void)
{
    heap_setup();
    int on_stack = 0;
    void *from_libc = malloc(64);
    uint8_t *big = buddy_alloc(&heap, 1000, CALLER);
    memset(big, 0, 1000);
    void *unmapped_slot = (void *)(region.start + 5 * MODEL_ARENA_BYTES + HEAP_HEADER_BYTES);
    struct {
        void *ptr;
        const char *why;
    } foreign[] = {
        {&on_stack, "outside the heap region"},
        {from_libc, "outside the heap region"},
        {big + 1, "misaligned"},
        {big + 8, "misaligned"},
        {big + 16, "misaligned"},
        {big + 32, "not a pointer the heap"},
        {big + 512, "not a pointer the heap"},
        {unmapped_slot, "not mapped"},
        {(void *)(region.end + HEAP_HEADER_BYTES), "outside the heap region"},
        {(void *)region.start, "outside the heap region"},
    };
    for (size_t i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++) {
        CHECK(SHIM_EXPECT_PANIC(buddy_free(&heap, foreign[i].ptr, CALLER)));
        CHECK(panic_names(foreign[i].ptr));
        CHECK(panic_says(foreign[i].why));
        CHECK(panic_says("from 0xc0ffee12"));
    }
    CHECK(SHIM_EXPECT_PANIC(buddy_usable_size(&heap, big + 32, CALLER)));
    CHECK(panic_says("usable_size of"));
    free(from_libc);
    buddy_free(&heap, big, CALLER);
    buddy_check(&heap);
    CHECK(heap_is_pristine());
    heap_teardown();
}

static void test_free_into_a_given_back_arena_panics(void)
{
    heap_setup();
    void *first = buddy_alloc(&heap, HEAP_MAX_ALLOC_BYTES, CALLER);
    void *second = buddy_alloc(&heap, HEAP_MAX_ALLOC_BYTES, CALLER);
    buddy_free(&heap, second, CALLER);
    CHECK_EQ_INT(region.unmaps, 1);
    CHECK(SHIM_EXPECT_PANIC(buddy_free(&heap, second, CALLER)));
    CHECK(panic_names(second));
    CHECK(panic_says("not mapped"));
    buddy_free(&heap, first, CALLER);
    CHECK(heap_is_pristine());
    heap_teardown();
}

static void test_damaged_header_panics(void)
{
    heap_setup();
    uint8_t *ptr = buddy_alloc(&heap, 200, CALLER);
    uint8_t saved[HEAP_HEADER_BYTES];
    memcpy(saved, ptr - HEAP_HEADER_BYTES, sizeof(saved));
    /* Any one flipped bit of the header is caught: seal, order or state. */
    for (size_t bit = 0; bit < 8 * HEAP_HEADER_BYTES; bit++) {
        ptr[-HEAP_HEADER_BYTES + bit / 8] ^= (uint8_t)(1u << (bit % 8));
        CHECK(SHIM_EXPECT_PANIC(buddy_free(&heap, ptr, CALLER)));
        CHECK(panic_names(ptr));
        memcpy(ptr - HEAP_HEADER_BYTES, saved, sizeof(saved));
    }
    /* A seal damaged while order and state look right is named as damage. */
    ptr[-HEAP_HEADER_BYTES] ^= 0x40;
    CHECK(SHIM_EXPECT_PANIC(buddy_free(&heap, ptr, CALLER)));
    CHECK(panic_says("damaged header"));
    CHECK(panic_says("(order 8)"));
    memcpy(ptr - HEAP_HEADER_BYTES, saved, sizeof(saved));
    buddy_free(&heap, ptr, CALLER);
    CHECK(heap_is_pristine());
    heap_teardown();
}

static void test_header_copied_to_another_block_panics(void)
{
    heap_setup();
    uint8_t *a = buddy_alloc(&heap, 40, CALLER), *b = buddy_alloc(&heap, 40, CALLER);
    uint8_t saved[HEAP_HEADER_BYTES];
    memcpy(saved, b - HEAP_HEADER_BYTES, sizeof(saved));
    memcpy(b - HEAP_HEADER_BYTES, a - HEAP_HEADER_BYTES, HEAP_HEADER_BYTES);
    CHECK(SHIM_EXPECT_PANIC(buddy_free(&heap, b, CALLER)));
    CHECK(panic_names(b));
    memcpy(b - HEAP_HEADER_BYTES, saved, sizeof(saved));
    buddy_free(&heap, a, CALLER);
    buddy_free(&heap, b, CALLER);
    CHECK(heap_is_pristine());
    heap_teardown();
}

static void test_check_and_alloc_catch_a_damaged_free_block(void)
{
    heap_setup();
    uint8_t *keep = buddy_alloc(&heap, 40, CALLER), *freed = buddy_alloc(&heap, 40, CALLER);
    buddy_free(&heap, freed, CALLER);
    /* A write through a stale pointer lands on the free-list node... */
    struct buddy_free_node *node = (struct buddy_free_node *)freed, saved_node = *node;
    node->prev = (struct buddy_free_node *)keep;
    CHECK(SHIM_EXPECT_PANIC(buddy_check(&heap)));
    CHECK(panic_says("broken back link"));
    CHECK(SHIM_EXPECT_PANIC(buddy_alloc(&heap, 40, CALLER)));
    CHECK(panic_says("damaged list links"));
    CHECK(panic_names(freed - HEAP_HEADER_BYTES));
    *node = saved_node;
    /* ...or on its header. */
    freed[-HEAP_HEADER_BYTES + 3] ^= 0x10;
    CHECK(SHIM_EXPECT_PANIC(buddy_check(&heap)));
    CHECK(panic_says("damaged header"));
    CHECK(SHIM_EXPECT_PANIC(buddy_alloc(&heap, 40, CALLER)));
    CHECK(panic_says("damaged header"));
    CHECK(panic_says("from 0xc0ffee12"));
    freed[-HEAP_HEADER_BYTES + 3] ^= 0x10;
    buddy_check(&heap);
    buddy_free(&heap, keep, CALLER);
    CHECK(heap_is_pristine());
    heap_teardown();
}

static void test_check_catches_damaged_stats(void)
{
    heap_setup();
    void *ptr = buddy_alloc(&heap, 40, CALLER);
    heap.stats.bytes_in_use++;
    CHECK(SHIM_EXPECT_PANIC(buddy_check(&heap)));
    CHECK(panic_says("in use"));
    heap.stats.bytes_in_use--;
    heap.stats.free_blocks[9]++;
    CHECK(SHIM_EXPECT_PANIC(buddy_check(&heap)));
    heap.stats.free_blocks[9]--;
    buddy_free(&heap, ptr, CALLER);
    buddy_check(&heap);
    heap_teardown();
}

static void *bad_source_map(void *ctx)
{
    return (void *)(((struct test_region *)ctx)->start + 4096);
}

static void test_source_returning_a_bad_arena_panics(void)
{
    region_create(&region, TEST_SLOTS);
    struct arena_source bad = {bad_source_map, region_unmap_arena, &region};
    CHECK(SHIM_EXPECT_PANIC(buddy_init(&heap, bad, region.start, region.end)));
    CHECK(panic_says("arena source returned"));
    heap_teardown();
}

/* ---- front caches ------------------------------------------------------------------ */

#define CACHE_ORDER 7 /* a 100-byte request */

static void test_cache_takes_its_room_then_refuses_and_pops_last_in_first_out(void)
{
    heap_setup();
    static struct buddy_cache cache;
    buddy_cache_init(&cache, &heap);
    const size_t room = BUDDY_CACHE_LIMIT(CACHE_ORDER);
    void *blocks[BUDDY_CACHE_LIMIT(CACHE_ORDER) + 1];
    for (size_t i = 0; i <= room; i++)
        blocks[i] = buddy_alloc(&heap, 100, CALLER);
    for (size_t i = 0; i < room; i++)
        CHECK_EQ_INT(buddy_cache_free(&cache, blocks[i]), 1);
    CHECK_EQ_INT(cache.rooms[CACHE_ORDER], 0);
    /* One more: the room taken is given back out of line, the block goes to the engine. */
    CHECK_EQ_INT(buddy_cache_free(&cache, blocks[room]), -1);
    CHECK_EQ_INT(cache.rooms[CACHE_ORDER], -1);
    buddy_cache_full(&cache, blocks[room]);
    CHECK_EQ_INT(cache.rooms[CACHE_ORDER], 0);
    buddy_free(&heap, blocks[room], CALLER);
    /* Cached blocks count as used for the engine; freeing one again is a double free. */
    CHECK_EQ_INT(heap.stats.blocks_in_use, room);
    buddy_check(&heap);
    CHECK(SHIM_EXPECT_PANIC(buddy_free(&heap, blocks[3], CALLER)));
    CHECK(panic_says("double free"));
    CHECK(panic_names(blocks[3]));
    CHECK_EQ_INT(buddy_cache_free(&cache, blocks[3]), 0);
    /* Half come back last in, first out, as live blocks; the rest drain to the engine. */
    for (size_t i = room; i-- > room / 2;) {
        CHECK(buddy_cache_alloc(&cache, CACHE_ORDER) == blocks[i]);
        CHECK_EQ_INT(buddy_usable_size(&heap, blocks[i], CALLER), 128 - HEAP_HEADER_BYTES);
        buddy_free(&heap, blocks[i], CALLER);
    }
    buddy_cache_drain(&heap, &cache);
    CHECK_EQ_INT(cache.rooms[CACHE_ORDER], room);
    /* An empty list's end fails the seal check too, and is no damage. */
    CHECK(buddy_cache_alloc(&cache, CACHE_ORDER) == NULL);
    buddy_cache_check_head(&cache, CACHE_ORDER);
    CHECK(heap_is_pristine());
    heap_teardown();
}

static void test_cache_refuses_all_but_its_engines_live_cached_orders(void)
{
    heap_setup();
    static struct buddy_cache cache;
    buddy_cache_init(&cache, &heap);
    struct test_region other_region;
    static struct buddy_heap other;
    region_create(&other_region, TEST_SLOTS);
    CHECK(buddy_init(&other, region_source(&other_region), other_region.start,
                     other_region.end));
    int on_stack = 0;
    uint8_t *big = buddy_alloc(&heap, 1000, CALLER);
    uint8_t *large = buddy_alloc(&heap, BUDDY_CACHE_MAX_BYTES + 1, CALLER);
    uint8_t *freed = buddy_alloc(&heap, 100, CALLER);
    uint8_t *damaged = buddy_alloc(&heap, 100, CALLER);
    uint8_t *huge_order = buddy_alloc(&heap, 100, CALLER);
    uint8_t *elsewhere = buddy_alloc(&other, 100, CALLER);
    buddy_free(&heap, freed, CALLER);
    damaged[-HEAP_HEADER_BYTES + 8] ^= 0x01;    /* order 6: not what the seal says */
    huge_order[-HEAP_HEADER_BYTES + 9] ^= 0x01; /* order 263: past the cache's orders */
    void *refused[] = {
        NULL, &on_stack, big + 8, big + 16, big + 32, large, freed, damaged, huge_order, elsewhere,
        (void *)(region.start + 5 * MODEL_ARENA_BYTES + HEAP_HEADER_BYTES), /* not mapped */
        (void *)(region.end + HEAP_HEADER_BYTES), (void *)region.start,
    };
    struct buddy_cache before = cache;
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        CHECK_EQ_INT(buddy_cache_free(&cache, refused[i]), 0);
        CHECK(memcmp(&cache, &before, sizeof(cache)) == 0);
    }
    damaged[-HEAP_HEADER_BYTES + 8] ^= 0x01;
    huge_order[-HEAP_HEADER_BYTES + 9] ^= 0x01;
    buddy_free(&heap, damaged, CALLER);
    buddy_free(&heap, huge_order, CALLER);
    buddy_free(&other, elsewhere, CALLER);
    buddy_free(&heap, large, CALLER);
    buddy_free(&heap, big, CALLER);
    buddy_check(&other);
    region_destroy(&other_region);
    CHECK(heap_is_pristine());
    heap_teardown();
}

static void test_cache_pop_and_drain_catch_a_damaged_cached_block(void)
{
    heap_setup();
    static struct buddy_cache cache;
    buddy_cache_init(&cache, &heap);
    uint8_t *keep = buddy_alloc(&heap, 100, CALLER), *ptr = buddy_alloc(&heap, 100, CALLER);
    CHECK_EQ_INT(buddy_cache_free(&cache, keep), 1);
    CHECK_EQ_INT(buddy_cache_free(&cache, ptr), 1);
    /* A write through a stale pointer lands on the cached block's seal. */
    ptr[-HEAP_HEADER_BYTES + 2] ^= 0x20;
    CHECK(buddy_cache_alloc(&cache, CACHE_ORDER) == NULL);
    CHECK(SHIM_EXPECT_PANIC(buddy_cache_check_head(&cache, CACHE_ORDER)));
    CHECK(panic_says("cached block"));
    CHECK(panic_says("damaged header"));
    CHECK(panic_names(ptr - HEAP_HEADER_BYTES));
    CHECK(SHIM_EXPECT_PANIC(buddy_cache_drain(&heap, &cache)));
    CHECK(panic_names(ptr - HEAP_HEADER_BYTES));
    ptr[-HEAP_HEADER_BYTES + 2] ^= 0x20;
    buddy_cache_check_head(&cache, CACHE_ORDER);
    buddy_cache_drain(&heap, &cache);
    CHECK(heap_is_pristine());
    heap_teardown();
}

int main(void)
{
    check_program = "test_buddy";
    RUN(test_init_maps_exactly_one_arena);
    RUN(test_init_without_memory_returns_false);
    RUN(test_every_order_boundary_gets_the_smallest_block);
    RUN(test_zero_bytes_gets_a_minimum_block);
    RUN(test_too_large_request_returns_null_and_maps_nothing);
    RUN(test_free_null_does_nothing);
    RUN(test_smallest_alloc_splits_one_block_per_order);
    RUN(test_buddies_merge_only_when_both_are_free);
    RUN(test_freeing_everything_in_any_order_restores_one_free_arena);
    RUN(test_random_sequences_match_the_model);
    RUN(test_heap_grows_by_arenas_and_gives_them_back);
    RUN(test_small_blocks_spill_into_a_second_arena);
    RUN(test_out_of_memory_returns_null_and_loses_nothing);
    RUN(test_double_free_panics_naming_address_order_and_caller);
    RUN(test_double_free_after_merge_panics);
    RUN(test_stale_header_inside_a_larger_block_is_not_a_block);
    RUN(test_foreign_pointers_panic);
    RUN(test_free_into_a_given_back_arena_panics);
    RUN(test_damaged_header_panics);
    RUN(test_header_copied_to_another_block_panics);
    RUN(test_check_and_alloc_catch_a_damaged_free_block);
    RUN(test_check_catches_damaged_stats);
    RUN(test_source_returning_a_bad_arena_panics);
    RUN(test_cache_takes_its_room_then_refuses_and_pops_last_in_first_out);
    RUN(test_cache_refuses_all_but_its_engines_live_cached_orders);
    RUN(test_cache_pop_and_drain_catch_a_damaged_cached_block);
    return check_summary();
}
