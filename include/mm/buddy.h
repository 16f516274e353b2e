/*
 * buddy: the pure buddy-allocator engine behind the kernel heap (include/mm/heap.h
 * describes the policy). It knows nothing of page tables: arenas come from an
 * arena_source, which the kernel backs with mapped frames and the host tests with
 * aligned host memory. Not locked: the caller serializes (mm/heap.c holds a lock).
 */
#ifndef EXO_MM_BUDDY_H
#define EXO_MM_BUDDY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/heap.h"

struct buddy_free_node {
    struct buddy_free_node *prev, *next;
};

struct arena_source {
    /* Returns a new arena of 2^HEAP_MAX_ORDER bytes aligned to its size, or NULL. */
    void *(*map_arena)(void *ctx);
    /* Gives back an arena that map_arena returned, now wholly free. */
    void (*unmap_arena)(void *ctx, void *arena);
    void *ctx;
};

struct buddy_heap {
    struct arena_source source;
    /* Circular doubly-linked lists of free blocks, one per order, with sentinels. */
    struct buddy_free_node free_lists[HEAP_MAX_ORDER + 1];
    struct heap_stats stats;
    uintptr_t region_start, region_end; /* where arenas may lie: bounds for kfree checks */
};

/* Maps the first arena; returns false when the source could not provide it. */
bool buddy_init(struct buddy_heap *heap, struct arena_source source, uintptr_t region_start,
                uintptr_t region_end);
/* `caller` is the return address of kmalloc's caller, for messages. */
void *buddy_alloc(struct buddy_heap *heap, size_t size, uintptr_t caller);
void buddy_free(struct buddy_heap *heap, void *ptr, uintptr_t caller);
/* The usable size of an allocated block (its block size minus the header). */
size_t buddy_usable_size(struct buddy_heap *heap, void *ptr, uintptr_t caller);
/* Walks every free list checking links and headers; panics on damage. */
void buddy_check(struct buddy_heap *heap);

#endif
