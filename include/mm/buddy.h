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
 * between CPUs and no split or merge. A cache takes only blocks of its own
 * engine (`engine`), each checked on the way in as buddy_free checks it (region,
 * alignment, mapped arena, order, seal). A cached block is allocated as far as the
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

/* The heap's geometry (include/mm/heap.h says what each means for kmalloc). */
#define HEAP_MIN_ORDER 5  /* 32-byte blocks: a header and two free-list links */
#define HEAP_MAX_ORDER 21 /* 2 MiB: the arena size */
#define HEAP_HEADER_BYTES 16
#define HEAP_MAX_ALLOC_BYTES ((1ul << HEAP_MAX_ORDER) - HEAP_HEADER_BYTES)
/* Blocks up to this order (8 KiB: a 4 KiB request and its header) come from
 * per-CPU caches in front of the buddy engine (struct buddy_cache). */
#define HEAP_CACHE_MAX_ORDER 13

struct heap_stats {
    size_t arenas;          /* arenas currently mapped */
    size_t blocks_in_use;   /* allocated blocks */
    size_t bytes_in_use;    /* sum of the allocated blocks' sizes (headers included) */
    size_t free_blocks[HEAP_MAX_ORDER + 1]; /* free blocks per order */
};

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
 * The seal: a fixed magic xor-ed with the block's address (as the pointer
 * kmalloc hands out, past the header: the fast paths hold that one) and a tag of
 * its order and state (a bijection of the three, so no two (address, order,
 * state) triples share a seal). Order and state go into bits 48..63, which no two addresses of
 * one region differ in, so a header copied to another block does not pass
 * either, nor does one damaged in any bit. One compare of the seal checks
 * address, order and state at once; a change of state is one xor of the seal's
 * top byte.
 *
 * The state field is the engine's view, FREE or USED: a cached block is
 * allocated as far as the engine goes, so its field says USED and only its
 * seal says CACHED; moving a block into a cache or out of it is then the one
 * xor of the seal (header_is checks the field against the state's engine view).
 */
enum buddy_block_state {
    BUDDY_FREE = 0xf5,   /* on the engine's free list of its order */
    BUDDY_USED = 0xa3,   /* allocated: kmalloc returned it */
    BUDDY_CACHED = 0xc7, /* freed into a front cache (allocated for the engine) */
};

struct buddy_header {
    uint64_t seal;  /* buddy_seal(address, order, state) */
    uint32_t order; /* HEAP_MIN_ORDER..HEAP_MAX_ORDER */
    uint32_t state; /* BUDDY_FREE or BUDDY_USED (also for a cached block) */
};
_Static_assert(sizeof(struct buddy_header) == HEAP_HEADER_BYTES, "header size");

/* Turns a USED block's seal into its CACHED one and back: an xor of the seal's
 * top byte, the state's (one instruction on a byte of memory). */
static inline void buddy_seal_flip_used_cached(struct buddy_header *header)
{
    ((uint8_t *)&header->seal)[__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? 7 : 0] ^=
        BUDDY_USED ^ BUDDY_CACHED;
}

/* The header of the block kmalloc returned as `ptr`. */
static inline struct buddy_header *buddy_header_of(void *ptr)
{
    return (struct buddy_header *)ptr - 1;
}

#define BUDDY_SEAL_MAGIC 0x45786f4275646479ul /* "ExoBuddy" */

static inline uint64_t buddy_seal(uintptr_t block, unsigned order, unsigned state)
{
    uint64_t tag = (uint64_t)(order | state << 8) << 48;
    return (block + HEAP_HEADER_BYTES) ^ tag ^ BUDDY_SEAL_MAGIC;
}


/* buddy_seal's tag and magic, precomputed for the states the front caches use:
 * the fast paths then check a seal with one xor of the pointer they hold. */
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
 * after each header, and the engine whose blocks it takes. `busy` is the cache's
 * lock, only ever tried (buddy_cache_trylock): by its owner CPU on the fast path,
 * which falls back to the engine when it is taken, and by a drainer. Everything
 * else under `busy`.
 */
#define BUDDY_CACHE_MAX_ORDER HEAP_CACHE_MAX_ORDER
#define BUDDY_CACHE_MAX_BYTES ((1ul << BUDDY_CACHE_MAX_ORDER) - HEAP_HEADER_BYTES)
/* Blocks a cache keeps per order: 64 of the small orders, fewer of the larger,
 * at most 128 KiB per order. */
#define BUDDY_CACHE_LIMIT(order) ((order) <= 11 ? 64u : (1u << (17 - (order))))

/* Where an empty list of a cache points: past a header whose seal is 0, which
 * no seal check accepts (a seal at this address would have the magic's bits in
 * it; buddy_cache_init asserts so). Popping then needs no empty test of its own:
 * the seal check fails, and only then is the list's end told from damage. */
extern const struct buddy_header buddy_cache_end;
#define BUDDY_CACHE_END ((uintptr_t)&buddy_cache_end + HEAP_HEADER_BYTES)

struct buddy_cache {
    uint64_t busy;                   /* (A) bit 0: held */
    const struct buddy_heap *engine; /* whose blocks buddy_cache_free takes */
    /* By order; those below HEAP_MIN_ORDER stay empty with no room (indexing by
     * the order itself saves the fast path a subtraction). Two arrays, so that
     * the fast path indexes each with a scaled register. */
    uintptr_t heads[BUDDY_CACHE_MAX_ORDER + 1]; /* the last block cached, as the
                                                 * pointer kmalloc returned it as;
                                                 * BUDDY_CACHE_END: none */
    int32_t rooms[BUDDY_CACHE_MAX_ORDER + 1];   /* LIMIT(order) - blocks cached */
} __attribute__((aligned(64)));

/* An empty cache of `engine`'s blocks, with room for BUDDY_CACHE_LIMIT blocks of
 * each cached order. */
void buddy_cache_init(struct buddy_cache *cache, const struct buddy_heap *engine);

static inline bool buddy_cache_trylock(struct buddy_cache *cache)
{
    return !arch_bit0_test_and_set_atomic(&cache->busy);
}

static inline void buddy_cache_unlock(struct buddy_cache *cache)
{
    __atomic_store_n(&cache->busy, 0, __ATOMIC_RELEASE);
}

/* A panic naming the head of `order`'s list when it is a damaged cached block
 * (for when buddy_cache_alloc returned NULL). Cache held. */
void buddy_cache_check_head(const struct buddy_cache *cache, size_t order);

/* Undoes the take of a room that was not there, when buddy_cache_free returned
 * -1 for `ptr`. Cache held. */
__attribute__((cold)) void buddy_cache_full(struct buddy_cache *cache, void *ptr);

/* buddy_order_for_size for a size of at most BUDDY_CACHE_MAX_BYTES: one load. */
static inline unsigned buddy_small_order(size_t size)
{
    return buddy_small_orders[(size + 15) >> 4];
}

/*
 * A block of `order` (at most BUDDY_CACHE_MAX_ORDER) from the cache, marked
 * BUDDY_USED; NULL when the head of its list fails the seal check: the list's
 * end (BUDDY_CACHE_END), or a damaged cached block, which the caller tells
 * apart with buddy_cache_check_head before it leaves the cache for the engine
 * (so the inline fast path is one seal check and a branch). Cache held.
 */
static inline void *buddy_cache_alloc(struct buddy_cache *cache, size_t order)
{
    uintptr_t ptr = cache->heads[order];
    struct buddy_header *header = buddy_header_of((void *)ptr);
    if (__builtin_expect(header->seal != (ptr ^ buddy_cached_keys[order]), 0))
        return NULL;
    cache->heads[order] = *(uintptr_t *)ptr;
    cache->rooms[order]++;
    buddy_seal_flip_used_cached(header);
    return (void *)ptr;
}

/*
 * Takes `ptr` into the cache when it is a live block of the cache's engine of a
 * cached order and the cache has room for it (1). Otherwise the caller hands it
 * to buddy_free, which tells misuse (double free, foreign, damaged, NULL) from a
 * block the cache does not take: 0 when it is not such a block, nothing changed;
 * -1 when it is one but its order's room is used up, where the caller first
 * calls buddy_cache_full (the fast path only subtracts one from the room and
 * tests the sign; the undo is out of line). Cache held.
 * The checks are buddy_free's, cheapest first, one compare each: inside the
 * region and aligned to the smallest block (one compare: rotated right by the
 * smallest block's order, an offset with low bits set becomes larger than any
 * in the region, which starts aligned to an arena), its arena mapped (so the
 * header may be read), then the seal (address, order and state in one).
 */
static inline int buddy_cache_free(struct buddy_cache *cache, void *ptr)
{
    const struct buddy_heap *heap = cache->engine;
    uintptr_t offset = (uintptr_t)ptr - HEAP_HEADER_BYTES - heap->region_start;
    uintptr_t slots = (offset >> HEAP_MIN_ORDER) | (offset << (64 - HEAP_MIN_ORDER));
    if (slots >= heap->region_min_blocks)
        return 0;
    /* slots is offset >> HEAP_MIN_ORDER now: its low bits were clear */
    if (!arch_bit_test(heap->mapped_arenas, slots >> (HEAP_MAX_ORDER - HEAP_MIN_ORDER)))
        return 0;
    struct buddy_header *header = buddy_header_of(ptr);
    size_t order = header->order; /* below HEAP_MIN_ORDER only in a bad seal */
    if (order > BUDDY_CACHE_MAX_ORDER || header->seal != ((uintptr_t)ptr ^ buddy_used_keys[order]))
        return 0;
    if (__builtin_expect(--cache->rooms[order] < 0, 0))
        return -1;
    buddy_seal_flip_used_cached(header);
    *(uintptr_t *)ptr = cache->heads[order];
    cache->heads[order] = (uintptr_t)ptr;
    return 1;
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
