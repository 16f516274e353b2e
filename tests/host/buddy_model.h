/*
 * buddy_model.h: what the buddy host test and the buddy fuzzer share.
 *
 * A fake heap region: one mmap reservation, PROT_NONE except for the arena slots
 * handed out, so a read of a given-back arena faults instead of passing silently.
 * The arena source hands out the lowest free slot, counts map and unmap calls, and
 * refuses when told to (out of memory) or when `arena_limit` slots are in use.
 *
 * A model of the live allocations: each is filled with its own byte; the model
 * checks alignment, that no two live blocks overlap, that contents survive, and that
 * the heap's stats equal what it expects. A mismatch prints what and aborts.
 */
#ifndef EXO_TESTS_HOST_BUDDY_MODEL_H
#define EXO_TESTS_HOST_BUDDY_MODEL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "mm/buddy.h"

#define MODEL_ARENA_BYTES (1ul << HEAP_MAX_ORDER)
#define MODEL_MAX_SLOTS 64
#define MODEL_MAX_LIVE 512

struct test_region {
    uint8_t *reservation; /* what mmap returned, for munmap */
    size_t reservation_bytes;
    uintptr_t start, end; /* arena-aligned bounds handed to buddy_init */
    size_t slots;
    bool slot_mapped[MODEL_MAX_SLOTS];
    size_t maps, unmaps;
    size_t arena_limit; /* refuse beyond this many mapped slots */
    bool out_of_memory; /* refuse every request while set */
};

static inline void model_fail(const char *what, uintptr_t addr)
{
    fprintf(stderr, "buddy model: %s (0x%lx)\n", what, (unsigned long)addr);
    abort();
}

static inline size_t region_mapped_count(const struct test_region *region)
{
    return region->maps - region->unmaps;
}

static inline void *region_map_arena(void *ctx)
{
    struct test_region *region = ctx;
    if (region->out_of_memory || region_mapped_count(region) >= region->arena_limit)
        return NULL;
    for (size_t slot = 0; slot < region->slots; slot++) {
        if (region->slot_mapped[slot])
            continue;
        uint8_t *arena = (uint8_t *)(region->start + slot * MODEL_ARENA_BYTES);
        if (mprotect(arena, MODEL_ARENA_BYTES, PROT_READ | PROT_WRITE) != 0)
            model_fail("mprotect of an arena failed", (uintptr_t)arena);
        region->slot_mapped[slot] = true;
        region->maps++;
        return arena;
    }
    return NULL;
}

static inline void region_unmap_arena(void *ctx, void *arena)
{
    struct test_region *region = ctx;
    uintptr_t addr = (uintptr_t)arena;
    size_t slot = (addr - region->start) / MODEL_ARENA_BYTES;
    if (addr < region->start || addr >= region->end || addr % MODEL_ARENA_BYTES != 0 ||
        !region->slot_mapped[slot])
        model_fail("unmap_arena of something map_arena did not return", addr);
    /* Access goes, contents stay: a later map of the slot sees the old bytes, as a
     * recycled frame would, so the engine cannot come to rely on zeroed arenas. */
    if (mprotect(arena, MODEL_ARENA_BYTES, PROT_NONE) != 0)
        model_fail("mprotect of an arena failed", addr);
    region->slot_mapped[slot] = false;
    region->unmaps++;
}

static inline void region_create(struct test_region *region, size_t slots)
{
    if (slots > MODEL_MAX_SLOTS)
        model_fail("too many slots", slots);
    memset(region, 0, sizeof(*region));
    region->reservation_bytes = (slots + 1) * MODEL_ARENA_BYTES;
    void *reservation = mmap(NULL, region->reservation_bytes, PROT_NONE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (reservation == MAP_FAILED)
        model_fail("cannot reserve the fake heap region", 0);
    region->reservation = reservation;
    region->start = ((uintptr_t)reservation + MODEL_ARENA_BYTES - 1) & ~(MODEL_ARENA_BYTES - 1);
    region->end = region->start + slots * MODEL_ARENA_BYTES;
    region->slots = slots;
    region->arena_limit = slots;
}

static inline void region_destroy(struct test_region *region)
{
    munmap(region->reservation, region->reservation_bytes);
    memset(region, 0, sizeof(*region));
}

/* Forgets a heap: gives back whatever it still holds, so the region can host a new one. */
static inline void region_reset(struct test_region *region)
{
    for (size_t slot = 0; slot < region->slots; slot++) {
        if (region->slot_mapped[slot])
            region_unmap_arena(region, (void *)(region->start + slot * MODEL_ARENA_BYTES));
    }
    region->maps = region->unmaps = 0;
    region->out_of_memory = false;
    region->arena_limit = region->slots;
}

static inline struct arena_source region_source(struct test_region *region)
{
    return (struct arena_source){region_map_arena, region_unmap_arena, region};
}

/* ---- the model --------------------------------------------------------------------- */

struct live_alloc {
    uint8_t *ptr;
    size_t size; /* requested */
    unsigned order;
    uint8_t fill; /* every requested byte holds it */
};

struct buddy_model {
    struct buddy_heap *heap;
    struct test_region *region;
    struct live_alloc live[MODEL_MAX_LIVE];
    size_t live_count;
    size_t bytes_in_use; /* expected: the sum of 2^order over live */
    uint8_t next_fill;
};

/* Computed by counting, not the way buddy.c does it. */
static inline unsigned model_order_for(size_t size)
{
    unsigned order = HEAP_MIN_ORDER;
    while ((1ul << order) < size + HEAP_HEADER_BYTES)
        order++;
    return order;
}

/* Every byte equals the fill: the first does, and each equals the next (one memcmp). */
static inline void model_check_contents(const struct live_alloc *alloc)
{
    if (alloc->size == 0)
        return;
    if (alloc->ptr[0] != alloc->fill || memcmp(alloc->ptr, alloc->ptr + 1, alloc->size - 1) != 0)
        model_fail("live allocation's contents changed", (uintptr_t)alloc->ptr);
}

static inline void model_check_stats(const struct buddy_model *model)
{
    const struct heap_stats *stats = &model->heap->stats;
    if (stats->blocks_in_use != model->live_count)
        model_fail("blocks_in_use differs from the model", stats->blocks_in_use);
    if (stats->bytes_in_use != model->bytes_in_use)
        model_fail("bytes_in_use differs from the model", stats->bytes_in_use);
    if (stats->arenas != region_mapped_count(model->region))
        model_fail("arenas differs from the source's count", stats->arenas);
    size_t free_bytes = 0;
    for (unsigned order = 0; order <= HEAP_MAX_ORDER; order++) {
        if (order < HEAP_MIN_ORDER && stats->free_blocks[order] != 0)
            model_fail("free blocks below the minimum order", order);
        free_bytes += stats->free_blocks[order] << order;
    }
    if (free_bytes + stats->bytes_in_use != stats->arenas * MODEL_ARENA_BYTES)
        model_fail("free + used bytes do not add up to the arenas", free_bytes);
}

static inline void model_check_placement(const struct buddy_model *model, const uint8_t *ptr,
                                         unsigned order)
{
    uintptr_t block = (uintptr_t)ptr - HEAP_HEADER_BYTES;
    if ((uintptr_t)ptr % 16 != 0)
        model_fail("pointer not 16-byte aligned", (uintptr_t)ptr);
    if (block < model->region->start || block + (1ul << order) > model->region->end)
        model_fail("block outside the region", block);
    for (size_t i = 0; i < model->live_count; i++) {
        uintptr_t other = (uintptr_t)model->live[i].ptr - HEAP_HEADER_BYTES;
        if (block < other + (1ul << model->live[i].order) && other < block + (1ul << order))
            model_fail("two live blocks overlap", block);
    }
}

/* Allocates through the heap and records it; returns the index, or -1 on NULL. */
static inline long model_alloc(struct buddy_model *model, size_t size)
{
    if (model->live_count == MODEL_MAX_LIVE)
        return -1;
    struct heap_stats before = model->heap->stats;
    uint8_t *ptr = buddy_alloc(model->heap, size, 0xa110c);
    if (!ptr) {
        bool allowed = size > HEAP_MAX_ALLOC_BYTES || model->region->out_of_memory ||
                       region_mapped_count(model->region) >= model->region->arena_limit;
        if (!allowed)
            model_fail("alloc returned NULL with memory to spare", size);
        if (memcmp(&before, &model->heap->stats, sizeof(before)) != 0)
            model_fail("a failed alloc changed the stats", size);
        return -1;
    }
    if (size > HEAP_MAX_ALLOC_BYTES)
        model_fail("alloc succeeded where it must not", size);
    unsigned order = model_order_for(size);
    if (buddy_usable_size(model->heap, ptr, 0) != (1ul << order) - HEAP_HEADER_BYTES)
        model_fail("usable size is not the block size minus the header", (uintptr_t)ptr);
    model_check_placement(model, ptr, order);
    struct live_alloc *alloc = &model->live[model->live_count++];
    *alloc = (struct live_alloc){ptr, size, order, ++model->next_fill};
    memset(ptr, alloc->fill, size);
    model->bytes_in_use += 1ul << order;
    return (long)(model->live_count - 1);
}

static inline void model_free(struct buddy_model *model, size_t index)
{
    struct live_alloc alloc = model->live[index];
    model_check_contents(&alloc);
    buddy_free(model->heap, alloc.ptr, 0xf4ee);
    model->live[index] = model->live[--model->live_count];
    model->bytes_in_use -= 1ul << alloc.order;
}

/* krealloc's way: a new block, the common prefix copied, the old block freed. On
 * failure the old block stays as it was. */
static inline void model_realloc(struct buddy_model *model, size_t index, size_t new_size)
{
    long fresh = model_alloc(model, new_size);
    if (fresh < 0)
        return;
    struct live_alloc *old = &model->live[index], *new = &model->live[fresh];
    model_check_contents(old);
    size_t common = old->size < new_size ? old->size : new_size;
    memcpy(new->ptr, old->ptr, common);
    memset(new->ptr, new->fill, new_size);
    model_free(model, index);
}

static inline void model_free_all(struct buddy_model *model)
{
    while (model->live_count)
        model_free(model, model->live_count - 1);
}

#endif
