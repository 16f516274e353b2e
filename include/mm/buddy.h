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
 * Interrupt context: as the caller's lock allows (the engine has no state of its
 * own beyond the region it is given; its map/unmap callbacks may not be).
 */
#ifndef EXO_MM_BUDDY_H
#define EXO_MM_BUDDY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/heap.h"

/* Arena slots the region may hold: 32768 arenas of 2 MiB, a 64 GiB heap. */
#define BUDDY_MAX_ARENAS 32768

/* Lives in a free block, right after its header. */
struct buddy_free_node {
    struct buddy_free_node *prev, *next;
};

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
    /* Bit i set when the arena at region_start + i * 2^HEAP_MAX_ORDER is mapped. */
    uint64_t mapped_arenas[BUDDY_MAX_ARENAS / 64];
};

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
