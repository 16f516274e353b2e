/*
 * frame: the physical frame allocator, one bit per 4 KiB frame.
 *
 * The bitmap has a bit per frame of physical memory up to the highest usable
 * address (1 = free), and two summary levels above it: bit j of level 1 says
 * "word j of the bitmap has a free frame", bit k of level 2 says the same of word
 * k of level 1. Finding a free frame reads one level-2 word, one level-1 word and
 * one bitmap word after a short scan of level 2 (64 words at 64 GiB), so it does
 * not slow down as memory grows.
 *
 * Each NUMA node (include/mm/numa.h) has its own pool: such a bitmap over its
 * own frames, with its own lock. Without NUMA there is one pool, from frame 0.
 *
 * In front of the pools each CPU keeps a small cache of free frames, so most
 * allocations and frees touch no shared state. A cache fills from its CPU's node
 * and, when that node has no free frame, from the other nodes nearest first; a
 * frame freed on a CPU of another node goes straight back to its own pool. Frames
 * in a cache count as free in the statistics; a second bitmap marks them so that
 * a double free is still caught (a panic naming the frame).
 *
 * Reserved at init, before the first allocation: the firmware's low memory
 * (below ARCH_PHYS_LOW_RESERVED_END, include/arch/mmu.h), the kernel image,
 * the boot info block, modules, and the bitmap itself; only memory-map regions of
 * type usable are ever handed out, clipped to whole frames, and a frame listed as
 * both usable and anything else is treated as reserved.
 *
 * Errors: out of memory returns PHYS_INVALID, never panics. Freeing a frame that
 * is free, or that lies outside managed memory, panics.
 *
 * Locking: each pool's lock (mm/frame.c) protects its bitmap and summaries; no
 * code holds two. Each per-CPU cache has a lock of its own that is only ever
 * tried, never waited for (frame_drain_cache aside): a fast path that finds it
 * taken, by an interrupt handler's frame_alloc on a CPU whose thread was in the
 * middle of one, or by a thread preempted while holding it, uses the pools
 * instead. So the fast paths mask no interrupts. A cache is held while it refills
 * from or drains into the pools (cache, then one pool lock).
 *
 * Interrupt context: frame_alloc, frame_free and their run variants may be
 * called from it; frame_init is for boot.
 */
#ifndef EXO_MM_FRAME_H
#define EXO_MM_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel/bootinfo.h"
#include "mm/types.h"

/* A physical range [start, end) that must never be handed out. */
struct phys_range {
    uint64_t start;
    uint64_t end;
};

#define FRAME_MAX_PHYS (1ull << 40) /* 1 TiB: memory above is ignored with a warning */
#define FRAME_CACHE_SIZE 59         /* frames each CPU may keep (the cache: 256 bytes) */
#define FRAME_CACHE_BATCH 32        /* frames moved between a cache and the bitmap */

enum frame_error {
    FRAME_OK = 0,
    FRAME_ERR_NO_USABLE_MEMORY = -1,
    FRAME_ERR_NO_ROOM_FOR_BITMAP = -2,
};

/*
 * Builds the allocator from the memory map. `reserved` lists ranges to keep out
 * besides the firmware's low memory; the bitmap is placed in usable memory below
 * bitmap_limit_phys (what the early direct map covers) and reserved too.
 */
int frame_init(const struct mmap_entry *map, size_t map_count, const struct phys_range *reserved,
               size_t reserved_count, uint64_t bitmap_limit_phys);

phys_addr_t frame_alloc(void);
void frame_free(phys_addr_t frame);

/* A frame from `node`, else from the nearest node with one, bypassing the caches
 * (for memory that belongs with a thread placed on another CPU). */
phys_addr_t frame_alloc_on_node(unsigned node);

/* The NUMA node of a managed frame. */
unsigned frame_node(phys_addr_t frame);

/* A run of nframes contiguous frames whose first frame number is a multiple of
 * align_frames (a power of two; 512 gives a 2 MiB-aligned run), from the calling
 * CPU's node or the nearest that has one; never across two nodes. Slow path: scans. */
phys_addr_t frame_alloc_run(size_t nframes, size_t align_frames);
/* The same from `node`, else the nearest node that has such a run. */
phys_addr_t frame_alloc_run_on_node(unsigned node, size_t nframes, size_t align_frames);
void frame_free_run(phys_addr_t first, size_t nframes);

struct frame_stats {
    uint64_t total_frames;    /* usable frames in the memory map, after clipping */
    uint64_t reserved_frames; /* of those, reserved at init */
    uint64_t free_frames;     /* free now (in the bitmap or in a CPU's cache) */
    uint64_t highest_phys;    /* end of the highest usable frame */
};
void frame_get_stats(struct frame_stats *out);

/* The same for one node (highest_phys: the end of its span); false past the last. */
bool frame_get_node_stats(unsigned node, struct frame_stats *out);

/* Returns every frame in this CPU's cache to the bitmap (tests, memory pressure).
 * With interrupts on it waits for a holder of the cache; with them off it leaves
 * a held cache alone. */
void frame_drain_cache(void);

#endif
