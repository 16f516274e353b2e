/*
 * The kernel heap: the buddy engine (mm/buddy.c) behind one lock, fed with
 * 2 MiB arenas mapped in the heap region (arch_va_layout.heap).
 *
 * An arena is one 2 MiB page over a 2 MiB-aligned run of frames when the frame
 * allocator has one (one TLB entry, one page-table entry), else 512 separate
 * frames mapped 4 KiB apiece. Either way unmap_arena gives every frame back.
 */
#include "mm/heap.h"

#include "arch/cpu.h"
#include "arch/irq.h"
#include "arch/mmu.h"
#include "base/panic.h"
#include "lib/string.h"
#include "mm/buddy.h"
#include "mm/frame.h"
#include "mm/paging.h"
#include "base/spinlock.h"

#define ARENA_BYTES (1ull << HEAP_MAX_ORDER)
#define ARENA_FRAMES (ARENA_BYTES / FRAME_SIZE)
#define MAX_ARENAS 32768 /* slots in the heap region (64 GiB) that this bitmap tracks */

/* Protects `heap` and `arena_slots`. Taken before the frame and page-table locks. */
static struct spinlock heap_lock = SPINLOCK_INIT("heap");
static struct buddy_heap heap;
static uint64_t arena_slots[MAX_ARENAS / 64]; /* bit set: that arena slot is mapped */
/* Each CPU's front cache (include/mm/buddy.h); its own lock, taken before heap_lock. */
static struct buddy_cache caches[ARCH_MAX_CPUS];

static uintptr_t slot_address(size_t slot)
{
    return arch_va_layout.heap.start + slot * ARENA_BYTES;
}

static size_t slot_count(void)
{
    size_t in_region = (arch_va_layout.heap.end - arch_va_layout.heap.start) / ARENA_BYTES;
    return in_region < MAX_ARENAS ? in_region : MAX_ARENAS;
}

static void unmap_small_pages(uintptr_t va, size_t npages)
{
    for (size_t i = 0; i < npages; i++) {
        phys_addr_t frame;
        if (paging_unmap(&kernel_space, va + i * FRAME_SIZE, PAGE_4K, &frame) == PAGING_OK)
            frame_free(frame);
    }
}

/* Backs the arena at `va`; false (with nothing left mapped) when memory is short. */
static bool back_arena(uintptr_t va)
{
    const unsigned flags = PAGE_WRITE | PAGE_GLOBAL;
    phys_addr_t run = frame_alloc_run(ARENA_FRAMES, ARENA_FRAMES);
    if (phys_is_valid(run)) {
        if (paging_map(&kernel_space, va, run, PAGE_2M, flags) == PAGING_OK)
            return true;
        frame_free_run(run, ARENA_FRAMES);
        return false;
    }
    for (size_t i = 0; i < ARENA_FRAMES; i++) {
        phys_addr_t frame = frame_alloc();
        if (!phys_is_valid(frame) ||
            paging_map(&kernel_space, va + i * FRAME_SIZE, frame, PAGE_4K, flags) != PAGING_OK) {
            if (phys_is_valid(frame))
                frame_free(frame);
            unmap_small_pages(va, i);
            return false;
        }
    }
    return true;
}

static void *map_arena(void *ctx)
{
    (void)ctx;
    for (size_t slot = 0; slot < slot_count(); slot++) {
        if (arena_slots[slot / 64] & (1ull << (slot % 64)))
            continue;
        if (!back_arena(slot_address(slot)))
            return NULL;
        arena_slots[slot / 64] |= 1ull << (slot % 64);
        return (void *)slot_address(slot);
    }
    return NULL;
}

static void unmap_arena(void *ctx, void *arena)
{
    (void)ctx;
    uintptr_t va = (uintptr_t)arena;
    size_t slot = (va - arch_va_layout.heap.start) / ARENA_BYTES;
    KASSERT(slot < slot_count() && (arena_slots[slot / 64] & (1ull << (slot % 64))));
    phys_addr_t run;
    if (paging_unmap(&kernel_space, va, PAGE_2M, &run) == PAGING_OK)
        frame_free_run(run, ARENA_FRAMES);
    else
        unmap_small_pages(va, ARENA_FRAMES);
    arena_slots[slot / 64] &= ~(1ull << (slot % 64));
}

void heap_init(void)
{
    struct arena_source source = {.map_arena = map_arena, .unmap_arena = unmap_arena};
    for (unsigned cpu = 0; cpu < ARCH_MAX_CPUS; cpu++) {
        buddy_cache_init(&caches[cpu]);
        arch_cpu_set_slot(cpu, ARCH_CPU_SLOT_HEAP_CACHE, &caches[cpu]);
    }
    bool irq = spin_lock(&heap_lock);
    bool ok = buddy_init(&heap, source, arch_va_layout.heap.start,
                         arch_va_layout.heap.start + slot_count() * ARENA_BYTES);
    spin_unlock(&heap_lock, irq);
    if (!ok)
        panic("heap: no memory for the first %llu KiB arena", ARENA_BYTES >> 10);
}

/* Takes every CPU's cache back into the engine. With `wait`, a cache in use is
 * waited for (its holder may be a thread preempted on this CPU: the caller must
 * have interrupts on); without, it is skipped (out of memory under a lock). */
static void drain_caches(bool wait)
{
    for (unsigned cpu = 0; cpu < ARCH_MAX_CPUS; cpu++) {
        struct buddy_cache *cache = &caches[cpu];
        bool held = buddy_cache_trylock(cache);
        while (!held && wait) {
            arch_cpu_relax();
            held = buddy_cache_trylock(cache);
        }
        if (!held)
            continue;
        bool irq = spin_lock(&heap_lock);
        buddy_cache_drain(&heap, cache);
        spin_unlock(&heap_lock, irq);
        buddy_cache_unlock(cache);
    }
}

static bool interrupts_enabled(void)
{
    bool irq = arch_irq_save_disable();
    arch_irq_restore(irq);
    return irq;
}

/* kmalloc's tail call (a jump at -O2, with gcc and clang), so that its return
 * address is kmalloc's caller: kmalloc's fast path then needs no frame to find it. */
static __attribute__((noinline)) void *alloc_slow(size_t size)
{
    uintptr_t caller = (uintptr_t)__builtin_return_address(0);
    bool irq = spin_lock(&heap_lock);
    void *block = buddy_alloc(&heap, size, caller);
    spin_unlock(&heap_lock, irq);
    if (block || size > HEAP_MAX_ALLOC_BYTES)
        return block;
    drain_caches(false); /* cached blocks may be what the request lacks */
    paging_trim();       /* and empty page tables the frames for an arena */
    irq = spin_lock(&heap_lock);
    block = buddy_alloc(&heap, size, caller);
    spin_unlock(&heap_lock, irq);
    return block;
}

static __attribute__((noinline)) void free_slow(void *ptr, uintptr_t caller)
{
    bool irq = spin_lock(&heap_lock);
    buddy_free(&heap, ptr, caller);
    spin_unlock(&heap_lock, irq);
}

/* This CPU's cache: one load from the per-CPU area (arch_cpu_slot). */
static inline struct buddy_cache *this_cpu_cache(void)
{
    return arch_cpu_slot(ARCH_CPU_SLOT_HEAP_CACHE);
}

/* The fast paths: this CPU's cache, when the size is cached and the cache is free
 * (a thread preempted while holding it leaves it to the engine meanwhile). No
 * interrupt masking: kmalloc is never called from interrupt context, and a thread
 * that moves to another CPU while holding a cache still holds it alone. */
void *kmalloc_cached_order(size_t order)
{
    struct buddy_cache *cache = this_cpu_cache();
    if (buddy_cache_trylock(cache)) {
        void *block = buddy_cache_alloc(cache, order);
        buddy_cache_unlock(cache);
        if (block)
            return block;
    }
    return alloc_slow((1ul << order) - HEAP_HEADER_BYTES);
}

void *kmalloc_any(size_t size)
{
    if (size <= BUDDY_CACHE_MAX_BYTES) {
        struct buddy_cache *cache = this_cpu_cache();
        if (buddy_cache_trylock(cache)) {
            void *block = buddy_cache_alloc(cache, buddy_small_order(size));
            buddy_cache_unlock(cache);
            if (block)
                return block;
        }
    }
    return alloc_slow(size);
}

/* The block is checked before the cache is taken (buddy_cacheable_order reads
 * only the block and the region map); NULL fails the region check and goes to
 * the engine, which ignores it. */
void kfree(void *ptr)
{
    size_t order;
    if (__builtin_expect(buddy_cacheable(&heap, ptr, &order), 1)) {
        struct buddy_cache *cache = this_cpu_cache();
        if (buddy_cache_trylock(cache)) {
            bool cached = buddy_cache_push(cache, ptr, order);
            buddy_cache_unlock(cache);
            if (cached)
                return;
        }
    }
    free_slow(ptr, (uintptr_t)__builtin_return_address(0));
}

void *kcalloc(size_t count, size_t size)
{
    size_t bytes;
    if (__builtin_mul_overflow(count, size, &bytes))
        return NULL;
    void *block = kmalloc(bytes);
    if (block)
        memset(block, 0, bytes);
    return block;
}

void *krealloc(void *ptr, size_t size)
{
    if (!ptr)
        return kmalloc(size);
    uintptr_t caller = (uintptr_t)__builtin_return_address(0);
    if (size == 0) {
        free_slow(ptr, caller);
        return NULL;
    }
    bool irq = spin_lock(&heap_lock);
    size_t usable = buddy_usable_size(&heap, ptr, caller);
    spin_unlock(&heap_lock, irq);
    if (size <= usable)
        return ptr;
    void *moved = kmalloc(size);
    if (!moved)
        return NULL;
    memcpy(moved, ptr, usable);
    kfree(ptr);
    return moved;
}

/* Stats and checks see the engine with every cache drained, so that freeing
 * everything shows the exact starting counts. */
void heap_get_stats(struct heap_stats *out)
{
    drain_caches(interrupts_enabled());
    bool irq = spin_lock(&heap_lock);
    *out = heap.stats;
    spin_unlock(&heap_lock, irq);
}

void heap_check(void)
{
    drain_caches(interrupts_enabled());
    bool irq = spin_lock(&heap_lock);
    buddy_check(&heap);
    spin_unlock(&heap_lock, irq);
}
