/*
 * buddy: the pure buddy-allocator engine behind the kernel heap (include/mm/heap.h
 * describes the policy). It knows nothing of page tables: arenas come from an
 * arena_source, which the kernel backs with mapped frames and the host tests with
 * aligned host memory. Not locked: the caller serializes (mm/heap.c holds a lock).
 *
 * Region: every arena lies in [region_start, region_end), which is aligned to the
 * arena size and holds at most BUDDY_MAX_ARENAS arenas. The engine remembers which
 * arena slots of the region are mapped, so a pointer into a slot that is not mapped
 * is reported as foreign instead of being dereferenced.
 *
 * Sizes: a request of 0 bytes gets the smallest block (a unique pointer, like
 * malloc(0)); a request above HEAP_MAX_ALLOC_BYTES, or one no arena can back,
 * returns NULL. buddy_free(NULL) does nothing. A pointer that is not a live
 * allocation (double free, foreign, damaged header) is a panic naming it and
 * `caller`.
 *
 * Costs: alloc and free are O(HEAP_MAX_ORDER - order) with O(1) list operations
 * (one split or merge per order crossed); no list is scanned. buddy_check walks
 * every block of every arena.
 *
 * Front caches (struct buddy_cache): the kernel keeps one per CPU in front of the
 * engine for blocks of orders HEAP_MIN_ORDER..BUDDY_CACHE_MAX_ORDER, so that a
 * kmalloc/kfree pair of a small size is a list pop and a push, with no lock shared
 * between CPUs and no split or merge. A cached block is allocated as far as the
 * engine's lists and stats go, but its header says BUDDY_CACHED, with its own
 * seal: freeing it again, or asking its size, is the same double-free panic as
 * for a free block, found in O(1) from the header. buddy_cache_drain gives
 * cached blocks back to the engine (stats, heap_check and out-of-memory do).
 *
 * Interrupt context: as the caller's lock allows (the engine has no state of its
 * own beyond the region it is given; its map/unmap callbacks may not be).
 */
#ifndef EXO_MM_BUDDY_H
#define EXO_MM_BUDDY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/bitops.h"
#include "mm/heap.h"

/* Arena slots the region may hold: 32768 arenas of 2 MiB, a 64 GiB heap. */
#define BUDDY_MAX_ARENAS 32768

/* Lives in a free block, right after its header. */
struct buddy_free_node {
    struct buddy_free_node *prev, *next;
};

/*
 * The first 16 bytes of every block, free, cached or allocated. Written only when
 * the block changes hands (split, merge, alloc, free, into or out of a cache).
 *
 * The seal: a fixed magic xor-ed with the block's address and a tag of its order
 * and state (a bijection of the three, so no two (address, order, state) triples
 * share a seal). Order and state go into bits 48..63, which no two addresses of
 * one region differ in, so a header copied to another block does not pass
 * either, nor does one damaged in any bit. One compare of the seal checks
 * address, order and state at once; a change of state is one xor of the seal's
 * top byte.
 */
enum buddy_block_state {
    BUDDY_FREE = 0xf5,   /* on the engine's free list of its order */
    BUDDY_USED = 0xa3,   /* allocated: kmalloc returned it */
    BUDDY_CACHED = 0xc7, /* freed into a front cache (allocated for the engine) */
};

struct buddy_header {
    uint64_t seal;  /* buddy_seal(address, order, state) */
    uint32_t order; /* HEAP_MIN_ORDER..HEAP_MAX_ORDER */
    uint32_t state; /* enum buddy_block_state */
};
_Static_assert(sizeof(struct buddy_header) == HEAP_HEADER_BYTES, "header size");

/* Turns a USED block's seal into its CACHED one and back: an xor of the seal's
 * top byte, the state's (one instruction on a byte of memory). */
static inline void buddy_seal_flip_used_cached(struct buddy_header *header)
{
    ((uint8_t *)&header->seal)[__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? 7 : 0] ^=
        BUDDY_USED ^ BUDDY_CACHED;
}

#define BUDDY_SEAL_MAGIC 0x45786f4275646479ul /* "ExoBuddy" */

static inline uint64_t buddy_seal(uintptr_t block, unsigned order, unsigned state)
{
    uint64_t tag = (uint64_t)(order | state << 8) << 48;
    return block ^ tag ^ BUDDY_SEAL_MAGIC;
}


/* buddy_seal's tag and magic, precomputed for the states the front caches use:
 * the fast paths then check a seal with one xor. */
#define BUDDY_SEAL_KEY(order, state) (((uint64_t)((order) | (state) << 8) << 48) ^ BUDDY_SEAL_MAGIC)
extern const uint64_t buddy_used_keys[HEAP_MAX_ORDER + 1], buddy_cached_keys[HEAP_MAX_ORDER + 1];

/* Orders of the sizes up to BUDDY_CACHE_MAX_BYTES, by (size + 15) / 16. */
extern const uint8_t buddy_small_orders[];

/* The smallest order whose block holds `size` bytes after the header. */
static inline unsigned buddy_order_for_size(size_t size)
{
    size_t block_bytes = size + HEAP_HEADER_BYTES;
    if (block_bytes <= (1ul << HEAP_MIN_ORDER))
        return HEAP_MIN_ORDER;
    return 64 - (unsigned)__builtin_clzl(block_bytes - 1);
}

struct arena_source {
    /* Returns a new arena of 2^HEAP_MAX_ORDER bytes aligned to its size, inside the
     * region and not already mapped, or NULL when memory is short. */
    void *(*map_arena)(void *ctx);
    /* Gives back an arena that map_arena returned, now wholly free. */
    void (*unmap_arena)(void *ctx, void *arena);
    void *ctx;
};

/* Every field is changed only by the buddy_* functions, under the caller's lock. */
struct buddy_heap {
    struct arena_source source;
    /* Circular doubly-linked lists of free blocks, one per order, with sentinels. */
    struct buddy_free_node free_lists[HEAP_MAX_ORDER + 1];
    /* Bit k set exactly when free_lists[k] is not empty: alloc finds a block in O(1). */
    uint32_t nonempty_orders;
    struct heap_stats stats;
    uintptr_t region_start, region_end; /* where arenas may lie: bounds for kfree checks */
    uint64_t region_min_blocks;         /* (region_end - region_start) >> HEAP_MIN_ORDER */
    /* Bit i set when the arena at region_start + i * 2^HEAP_MAX_ORDER is mapped. */
    uint64_t mapped_arenas[BUDDY_MAX_ARENAS / 64];
};

/*
 * A front cache: a LIFO list of cached blocks per order, linked through the word
 * after each header. `busy` is the cache's lock, only ever tried
 * (buddy_cache_trylock): by its owner CPU on the fast path, which falls back to
 * the engine when it is taken, and by a drainer. Everything else under `busy`.
 */
#define BUDDY_CACHE_MAX_ORDER HEAP_CACHE_MAX_ORDER
#define BUDDY_CACHE_MAX_BYTES ((1ul << BUDDY_CACHE_MAX_ORDER) - HEAP_HEADER_BYTES)
/* Blocks a cache keeps per order: 64 of the small orders, fewer of the larger,
 * at most 128 KiB per order. */
#define BUDDY_CACHE_LIMIT(order) ((order) <= 11 ? 64u : (1u << (17 - (order))))

struct buddy_cache {
    uint64_t busy; /* (A) bit 0: held */
    /* By order; those below HEAP_MIN_ORDER stay empty with no room (indexing by
     * the order itself saves the fast path a subtraction). Two arrays, so that
     * the fast path indexes each with a scaled register. */
    uintptr_t heads[BUDDY_CACHE_MAX_ORDER + 1]; /* the last block cached; 0: none */
    uint32_t rooms[BUDDY_CACHE_MAX_ORDER + 1];  /* LIMIT(order) - blocks cached */
} __attribute__((aligned(64)));

/* An empty cache, with room for BUDDY_CACHE_LIMIT blocks of each cached order. */
void buddy_cache_init(struct buddy_cache *cache);

static inline bool buddy_cache_trylock(struct buddy_cache *cache)
{
    return !arch_bit0_test_and_set_atomic(&cache->busy);
}

static inline void buddy_cache_unlock(struct buddy_cache *cache)
{
    __atomic_store_n(&cache->busy, 0, __ATOMIC_RELEASE);
}

/* Panics naming a damaged cached block (out of line: the fast path only tests). */
__attribute__((noreturn, cold)) void buddy_cache_damaged(uintptr_t block, unsigned order);

/* buddy_order_for_size for a size of at most BUDDY_CACHE_MAX_BYTES: one load. */
static inline unsigned buddy_small_order(size_t size)
{
    return buddy_small_orders[(size + 15) >> 4];
}

/*
 * A block of `order` (at most BUDDY_CACHE_MAX_ORDER) from the cache, marked
 * BUDDY_USED, or NULL when the cache has none. Cache held.
 */
static inline void *buddy_cache_alloc(struct buddy_cache *cache, size_t order)
{
    uintptr_t block = cache->heads[order];
    if (!block)
        return NULL;
    struct buddy_header *header = (struct buddy_header *)block;
    if (header->seal != (block ^ buddy_cached_keys[order]))
        buddy_cache_damaged(block, order);
    cache->heads[order] = *(uintptr_t *)(block + HEAP_HEADER_BYTES);
    cache->rooms[order]++;
    buddy_seal_flip_used_cached(header);
    header->state = BUDDY_USED;
    return (void *)(block + HEAP_HEADER_BYTES);
}

/*
 * Whether `ptr` is a live block of the heap of a cached order (then *order is
 * its order); if not, the caller hands it to buddy_free, which tells misuse
 * (double free, foreign, damaged, NULL) from a block the cache does not take.
 * The checks are buddy_free's, cheapest first, one compare each: inside the
 * region and aligned to the smallest block (one compare: rotated right by the
 * smallest block's order, an offset with low bits set becomes larger than any
 * in the region, which starts aligned to an arena), its arena mapped, then the
 * seal (address, order and state in one). Reads only the block and the heap's
 * region map: no cache need be held.
 */
static inline bool buddy_cacheable(const struct buddy_heap *heap, void *ptr, size_t *order)
{
    uintptr_t block = (uintptr_t)ptr - HEAP_HEADER_BYTES;
    uintptr_t offset = block - heap->region_start;
    uintptr_t slots = (offset >> HEAP_MIN_ORDER) | (offset << (64 - HEAP_MIN_ORDER));
    if (slots >= heap->region_min_blocks)
        return false;
    if (!arch_bit_test(heap->mapped_arenas, offset >> HEAP_MAX_ORDER))
        return false;
    const struct buddy_header *header = (const struct buddy_header *)block;
    size_t block_order = header->order; /* below HEAP_MIN_ORDER only in a bad seal */
    if (block_order > BUDDY_CACHE_MAX_ORDER ||
        header->seal != (block ^ buddy_used_keys[block_order]))
        return false;
    *order = block_order;
    return true;
}

/* Takes a block that buddy_cacheable accepted (of that order) into the cache;
 * false, with nothing changed, when the cache has no room. Cache held. */
static inline bool buddy_cache_push(struct buddy_cache *cache, void *ptr, size_t order)
{
    if (cache->rooms[order] == 0)
        return false;
    uintptr_t block = (uintptr_t)ptr - HEAP_HEADER_BYTES;
    struct buddy_header *header = (struct buddy_header *)block;
    buddy_seal_flip_used_cached(header);
    header->state = BUDDY_CACHED;
    *(uintptr_t *)ptr = cache->heads[order];
    cache->heads[order] = block;
    cache->rooms[order]--;
    return true;
}

/* Gives every cached block back to the engine (as buddy_free would). Cache held,
 * and the caller's lock over the engine. */
void buddy_cache_drain(struct buddy_heap *heap, struct buddy_cache *cache);

/* Maps the first arena; returns false when the source could not provide it. The
 * region must be aligned to the arena size and hold 1..BUDDY_MAX_ARENAS arenas
 * (panics otherwise: that is a kernel configuration bug). */
bool buddy_init(struct buddy_heap *heap, struct arena_source source, uintptr_t region_start,
                uintptr_t region_end);
/* `caller` is the return address of kmalloc's caller, for messages. The result is
 * 16-byte aligned. */
void *buddy_alloc(struct buddy_heap *heap, size_t size, uintptr_t caller);
void buddy_free(struct buddy_heap *heap, void *ptr, uintptr_t caller);
/* The usable size of an allocated block (its block size minus the header). */
size_t buddy_usable_size(struct buddy_heap *heap, void *ptr, uintptr_t caller);
/* Walks every free list checking links and headers, then every block of every
 * arena checking headers, coalescing and the stats; panics on damage. */
void buddy_check(struct buddy_heap *heap);

#endif
