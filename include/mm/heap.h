/*
 * heap: the kernel's general-purpose allocator (kmalloc and friends).
 *
 * A binary buddy allocator. Memory comes in arenas of 2^HEAP_MAX_ORDER bytes,
 * naturally aligned in the heap's virtual region; each arena is split into
 * power-of-two blocks of order HEAP_MIN_ORDER..HEAP_MAX_ORDER. Every block starts
 * with a 16-byte header (magic, order, state), so the pointer handed out is
 * 16-byte aligned and a request of n bytes takes the smallest block of at least
 * n + 16 bytes. Buddies of order k differ only in bit k of their offset in the
 * arena: that is how kfree finds the partner to merge with.
 *
 * The heap grows by mapping a new arena when no free block is large enough, and
 * gives an arena back (unmapped, frames freed) as soon as it becomes wholly free,
 * except the last one: one arena always stays mapped (heap_init maps it), so a
 * lone kmalloc/kfree pair does not map and unmap 2 MiB each time. So freeing
 * everything returns the heap and the frame allocator to their exact starting
 * counts.
 *
 * Errors: a request above HEAP_MAX_ALLOC_BYTES or one that cannot be backed by
 * memory returns NULL (never panics). Misuse is a panic naming the address and the
 * caller: a double free, a pointer the heap never returned, a damaged header.
 *
 * NUMA (include/mm/numa.h): one such buddy engine per node that has memory, in
 * its own slice of the heap region, whose arenas are backed by that node's frames
 * (the nearest node's when its own has none left). A CPU is served by its node's
 * engine, or the nearest node's when its node has no memory; when that engine
 * can back nothing more, the other engines are tried nearest first. Each CPU keeps
 * a front cache of small blocks (include/mm/buddy.h) that holds only blocks of its
 * own engine: a block freed on a CPU of another node goes straight back to the
 * engine it came from. With one node there is one engine over the whole region.
 *
 * Locking: each engine has a spinlock (interrupts off while held); a CPU's cache
 * has its own, taken before an engine's, which the fast paths only try
 * (include/mm/buddy.h); kmalloc of a size the compiler knows goes straight to
 * its order's cache, inline in the caller (kmalloc_order), and calls out only
 * when the cache has no block or is taken.
 *
 * Interrupt context: none. kmalloc may grow the heap and kfree shrink it, which
 * maps and unmaps pages and waits for other CPUs' TLB shootdowns: threads only.
 */
#ifndef EXO_MM_HEAP_H
#define EXO_MM_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "mm/buddy.h" /* the geometry (HEAP_*), struct heap_stats, the CPU caches */

#if __STDC_HOSTED__ == 0
#include "arch/cpu.h"

/* kmalloc of a size the compiler knows when the CPU's cache has no block of the
 * order (or is taken, or its head is damaged: a panic): the engine. */
void *kmalloc_order_slow(size_t order);
/* kmalloc of any other size. */
void *kmalloc_any(size_t size);

/* A block of `order` from the CPU's cache, inline: the trylock, the pop with its
 * seal check, the unlock. No interrupt masking: kmalloc is never called from
 * interrupt context, and a thread that moves to another CPU while holding a
 * cache still holds it alone (a thread that finds it taken uses the engine). */
static inline __attribute__((always_inline)) void *kmalloc_order(size_t order)
{
    struct buddy_cache *cache = arch_cpu_slot(ARCH_CPU_SLOT_HEAP_CACHE);
    if (__builtin_expect(buddy_cache_trylock(cache), 1)) {
        void *block = buddy_cache_alloc(cache, order);
        buddy_cache_unlock(cache);
        if (__builtin_expect(block != NULL, 1))
            return block;
    }
    return kmalloc_order_slow(order);
}

/* kmalloc of a size the compiler knows, as most are (sizeof): a block of the
 * order it works out at compile time from the CPU's cache, with no size check,
 * no order lookup and no call on the way (as Linux's kmalloc does with its
 * caches, and inline as well). */
static inline __attribute__((always_inline)) void *kmalloc(size_t size)
{
    if (__builtin_constant_p(size) &&
        size <= (1ul << HEAP_CACHE_MAX_ORDER) - HEAP_HEADER_BYTES) /* no wrap at SIZE_MAX */
        return kmalloc_order(size + HEAP_HEADER_BYTES <= (1ul << HEAP_MIN_ORDER)
                                 ? HEAP_MIN_ORDER
                                 : 64 - (unsigned)__builtin_clzl(size + HEAP_HEADER_BYTES - 1));
    return kmalloc_any(size);
}
#else
void *kmalloc(size_t size);
#endif
void *kcalloc(size_t count, size_t size);
/* krealloc(NULL, n) is kmalloc(n); krealloc(p, 0) frees p and returns NULL. On
 * failure it returns NULL and p stays valid. */
void *krealloc(void *ptr, size_t size);
void kfree(void *ptr);
/* kmalloc from the engine that serves `cpu` (for memory that belongs with a
 * thread placed on another CPU); the same as kmalloc when it also serves this one. */
void *kmalloc_for_cpu(size_t size, unsigned cpu);

void heap_get_stats(struct heap_stats *out);
/* Walks the whole heap checking every free list and header; panics on damage. */
void heap_check(void);

/* Sets up the kernel heap over the paging-backed arena source (mm/heap.c): one
 * engine per node with memory; after numa_init and frame_init. */
void heap_init(void);
/* Serves `cpu` from its node's engine from now on (its cache's blocks go back to
 * the engine they came from). After numa_map_cpu(cpu), before the CPU allocates. */
void heap_bind_cpu(unsigned cpu);

#endif
