/*
 * The kernel heap: one buddy engine (mm/buddy.c) per NUMA node that has memory,
 * each behind its own lock and fed with 2 MiB arenas mapped in its own slice of
 * the heap region (arch_va_layout.heap), backed by its node's frames (the nearest
 * node's when its own has none left). include/mm/heap.h says which engine serves
 * whom.
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
#include "mm/numa.h"
#include "mm/paging.h"
#include "base/spinlock.h"

#define ARENA_BYTES (1ull << HEAP_MAX_ORDER)
#define ARENA_FRAMES (ARENA_BYTES / FRAME_SIZE)
#define MAX_ARENAS 32768 /* slots in the heap region (64 GiB) that this bitmap tracks */
/* A slice is a whole number of arena_slots words, so no word is shared by two locks. */
#define SLICE_ALIGN_SLOTS 64

/* One node's engine. Default rule: (L) its lock, which is taken after a CPU
 * cache's and before the frame and page-table locks. */
struct node_heap {
    struct spinlock lock;
    struct buddy_heap engine;
    struct paging_deferred unmap_batch; /* tables of an arena's unmap, until the flush */
    unsigned node;               /* (I) whose frames back its arenas first */
    size_t first_slot, end_slot; /* (I) its slice of the region, in arenas; and those
                                  * words of arena_slots (L) */
};

/* Set by heap_init, read-only afterwards (I). The first engine is static (the heap
 * cannot allocate itself); the others live in frames of their own node. */
static struct node_heap boot_heap;
static struct node_heap *heaps[NUMA_MAX_NODES]; /* heap_count engines, in node order */
static unsigned heap_count;
static size_t slice_slots;                          /* arenas in each engine's slice */
static struct node_heap *node_home[NUMA_MAX_NODES]; /* a node's engine: its own, else the
                                                     * nearest node's that has memory */
static uint64_t arena_slots[MAX_ARENAS / 64]; /* bit set: that arena slot is mapped */
/* Each CPU's front cache (include/mm/buddy.h); its own lock, taken before an
 * engine's. cache_heap[cpu]: the engine whose blocks it holds (the cache's
 * `engine` is its buddy engine), both changed only under the cache's lock
 * (heap_bind_cpu). */
static struct buddy_cache caches[ARCH_MAX_CPUS];
static struct node_heap *cache_heap[ARCH_MAX_CPUS];

static uintptr_t slot_address(size_t slot)
{
    return arch_va_layout.heap.start + slot * ARENA_BYTES;
}

static size_t slot_count(void)
{
    size_t in_region = (arch_va_layout.heap.end - arch_va_layout.heap.start) / ARENA_BYTES;
    return in_region < MAX_ARENAS ? in_region : MAX_ARENAS;
}

#define CHAIN_END UINT64_MAX

/* Unmaps the first npages pages of an arena mapped 4 KiB apiece with one TLB
 * flush of every CPU, not one per page (at 255 CPUs under TCG, 512 shootdowns per
 * arena given back were most of the heap suite's time), then frees the frames.
 * Until the flush they wait chained through their first words in the direct map:
 * the arena is wholly free, so nothing reads or writes them through a stale
 * translation. Engine held (its unmap batch). */
static void unmap_small_pages(struct node_heap *h, uintptr_t va, size_t npages)
{
    uint64_t chain = CHAIN_END;
    for (size_t i = 0; i < npages; i++) {
        phys_addr_t frame;
        uintptr_t page = va + i * FRAME_SIZE;
        int error = paging_unmap_deferred(&kernel_space, page, PAGE_4K, &frame, &h->unmap_batch);
        if (error == PAGING_ERR_NO_MEMORY) { /* the batch is full of tables */
            paging_flush_deferred(&h->unmap_batch);
            error = paging_unmap_deferred(&kernel_space, page, PAGE_4K, &frame, &h->unmap_batch);
        }
        if (error != PAGING_OK)
            continue;
        *(uint64_t *)arch_phys_to_virt(frame.value) = chain;
        chain = frame.value;
    }
    if (chain != CHAIN_END || h->unmap_batch.ntables)
        paging_flush_deferred(&h->unmap_batch);
    while (chain != CHAIN_END) {
        uint64_t next = *(uint64_t *)arch_phys_to_virt(chain);
        frame_free(phys(chain));
        chain = next;
    }
}

/* Backs the arena at `va` with frames of h's node, else of the nearest node that
 * has them; false (with nothing left mapped) when memory is short. Engine held. */
static bool back_arena(struct node_heap *h, uintptr_t va)
{
    const unsigned flags = PAGE_WRITE | PAGE_GLOBAL;
    phys_addr_t run = frame_alloc_run_on_node(h->node, ARENA_FRAMES, ARENA_FRAMES);
    if (phys_is_valid(run)) {
        if (paging_map(&kernel_space, va, run, PAGE_2M, flags) == PAGING_OK)
            return true;
        frame_free_run(run, ARENA_FRAMES);
        return false;
    }
    for (size_t i = 0; i < ARENA_FRAMES; i++) {
        phys_addr_t frame = frame_alloc_on_node(h->node);
        if (!phys_is_valid(frame) ||
            paging_map(&kernel_space, va + i * FRAME_SIZE, frame, PAGE_4K, flags) != PAGING_OK) {
            if (phys_is_valid(frame))
                frame_free(frame);
            unmap_small_pages(h, va, i);
            return false;
        }
    }
    return true;
}

static void *map_arena(void *ctx)
{
    struct node_heap *h = ctx;
    for (size_t slot = h->first_slot; slot < h->end_slot; slot++) {
        if (arena_slots[slot / 64] & (1ull << (slot % 64)))
            continue;
        if (!back_arena(h, slot_address(slot)))
            return NULL;
        arena_slots[slot / 64] |= 1ull << (slot % 64);
        return (void *)slot_address(slot);
    }
    return NULL;
}

static void unmap_arena(void *ctx, void *arena)
{
    struct node_heap *h = ctx;
    uintptr_t va = (uintptr_t)arena;
    size_t slot = (va - arch_va_layout.heap.start) / ARENA_BYTES;
    KASSERT(slot >= h->first_slot && slot < h->end_slot &&
            (arena_slots[slot / 64] & (1ull << (slot % 64))));
    phys_addr_t run;
    if (paging_unmap(&kernel_space, va, PAGE_2M, &run) == PAGING_OK)
        frame_free_run(run, ARENA_FRAMES);
    else
        unmap_small_pages(h, va, ARENA_FRAMES);
    arena_slots[slot / 64] &= ~(1ull << (slot % 64));
}

/* The engine of `node` (whose memory backs it), in its slice; its first arena mapped. */
static struct node_heap *node_heap_new(unsigned node, unsigned index)
{
    struct node_heap *h = &boot_heap;
    if (index > 0) {
        size_t nframes = (sizeof(*h) + FRAME_SIZE - 1) / FRAME_SIZE;
        phys_addr_t where = frame_alloc_run_on_node(node, nframes, 1);
        if (!phys_is_valid(where))
            panic("heap: no memory for node %u's heap (%zu frames)", node, nframes);
        h = arch_phys_to_virt(where.value);
    }
    *h = (struct node_heap){.lock = SPINLOCK_INIT("heap"),
                            .node = node,
                            .first_slot = index * slice_slots,
                            .end_slot = (index + 1) * slice_slots};
    struct arena_source source = {.map_arena = map_arena, .unmap_arena = unmap_arena, .ctx = h};
    bool irq = spin_lock(&h->lock);
    bool ok = buddy_init(&h->engine, source, slot_address(h->first_slot),
                         slot_address(h->end_slot));
    spin_unlock(&h->lock, irq);
    if (!ok)
        panic("heap: no memory for node %u's first %llu KiB arena", node, ARENA_BYTES >> 10);
    return h;
}

void heap_init(void)
{
    unsigned nodes = numa_node_count();
    static struct node_heap *by_node[NUMA_MAX_NODES]; /* NULL: a node without memory */
    bool has_memory[NUMA_MAX_NODES];
    unsigned with_memory = 0;
    for (unsigned node = 0; node < nodes; node++) {
        struct frame_stats s;
        has_memory[node] = frame_get_node_stats(node, &s) && s.total_frames > 0;
        with_memory += has_memory[node];
    }
    if (with_memory == 0) { /* frame_init found memory, so this is one node's machine */
        has_memory[0] = true;
        with_memory = 1;
    }
    slice_slots = slot_count() / with_memory;
    if (with_memory > 1)
        slice_slots -= slice_slots % SLICE_ALIGN_SLOTS;
    KASSERT(slice_slots > 0);
    for (unsigned node = 0; node < nodes; node++) {
        by_node[node] = NULL;
        if (has_memory[node]) {
            by_node[node] = node_heap_new(node, heap_count);
            heaps[heap_count++] = by_node[node];
        }
    }
    for (unsigned node = 0; node < nodes; node++) {
        const uint8_t *order = numa_nodes_by_distance(node);
        for (unsigned i = 0; i < nodes && !node_home[node]; i++)
            node_home[node] = by_node[order[i]];
    }
    for (unsigned cpu = 0; cpu < ARCH_MAX_CPUS; cpu++) {
        cache_heap[cpu] = node_home[numa_cpu_node(cpu)];
        buddy_cache_init(&caches[cpu], &cache_heap[cpu]->engine);
        arch_cpu_set_slot(cpu, ARCH_CPU_SLOT_HEAP_CACHE, &caches[cpu]);
    }
}

static void cache_lock_wait(struct buddy_cache *cache)
{
    while (!buddy_cache_trylock(cache))
        arch_cpu_relax();
}

/* Gives the cache's blocks back to the engine they came from. Cache held. */
static void cache_drain_locked(unsigned cpu)
{
    struct node_heap *h = cache_heap[cpu];
    bool irq = spin_lock(&h->lock);
    buddy_cache_drain(&h->engine, &caches[cpu]);
    spin_unlock(&h->lock, irq);
}

void heap_bind_cpu(unsigned cpu)
{
    struct node_heap *home = node_home[numa_cpu_node(cpu)];
    struct buddy_cache *cache = &caches[cpu];
    cache_lock_wait(cache);
    if (cache_heap[cpu] != home) {
        cache_drain_locked(cpu);
        cache_heap[cpu] = home;
        cache->engine = &home->engine;
    }
    buddy_cache_unlock(cache);
}

/* Takes every CPU's cache back into its engine. With `wait`, a cache in use is
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
        cache_drain_locked(cpu);
        buddy_cache_unlock(cache);
    }
}

static bool interrupts_enabled(void)
{
    bool irq = arch_irq_save_disable();
    arch_irq_restore(irq);
    return irq;
}

static void *engine_alloc(struct node_heap *h, size_t size, uintptr_t caller)
{
    bool irq = spin_lock(&h->lock);
    void *block = buddy_alloc(&h->engine, size, caller);
    spin_unlock(&h->lock, irq);
    return block;
}

/* A block from `home`, else from the other engines, nearest first. */
static void *alloc_near(struct node_heap *home, size_t size, uintptr_t caller)
{
    void *block = engine_alloc(home, size, caller);
    const uint8_t *order = numa_nodes_by_distance(home->node);
    for (unsigned i = 0; !block && i < numa_node_count(); i++) {
        struct node_heap *h = node_home[order[i]];
        if (h != home && h->node == order[i])
            block = engine_alloc(h, size, caller);
    }
    return block;
}

static void *alloc_from(struct node_heap *home, size_t size, uintptr_t caller)
{
    void *block = alloc_near(home, size, caller);
    if (block || size > HEAP_MAX_ALLOC_BYTES)
        return block;
    drain_caches(false); /* cached blocks may be what the request lacks */
    paging_trim();       /* and empty page tables the frames for an arena */
    return alloc_near(home, size, caller);
}

/* kmalloc's tail call (a jump at -O2, with gcc and clang), so that its return
 * address is kmalloc's caller: kmalloc's fast path then needs no frame to find it.
 * Any engine will do if the thread moves between the read and the lock. */
static __attribute__((noinline)) void *alloc_slow(size_t size)
{
    uintptr_t caller = (uintptr_t)__builtin_return_address(0);
    return alloc_from(cache_heap[arch_cpu_index()], size, caller);
}

/* The engine whose slice holds `ptr`; the first for a pointer outside them all,
 * whose buddy_free then reports it as foreign. */
static struct node_heap *heap_of(const void *ptr)
{
    size_t slot = ((uintptr_t)ptr - arch_va_layout.heap.start) / ARENA_BYTES;
    size_t index = slot / slice_slots;
    return (uintptr_t)ptr >= arch_va_layout.heap.start && index < heap_count ? heaps[index]
                                                                             : heaps[0];
}

static __attribute__((noinline)) void free_slow(void *ptr, uintptr_t caller)
{
    struct node_heap *h = heap_of(ptr);
    bool irq = spin_lock(&h->lock);
    buddy_free(&h->engine, ptr, caller);
    spin_unlock(&h->lock, irq);
}

/* kfree's tail call when the cache has no room for the block's order (the
 * return address is still kfree's caller's). Cache held. */
static __attribute__((noinline, cold)) void free_no_room(struct buddy_cache *cache, void *ptr)
{
    buddy_cache_full(cache, ptr);
    buddy_cache_unlock(cache);
    free_slow(ptr, (uintptr_t)__builtin_return_address(0));
}

/* This CPU's cache: one load from the per-CPU area (arch_cpu_slot). */
static inline struct buddy_cache *this_cpu_cache(void)
{
    return arch_cpu_slot(ARCH_CPU_SLOT_HEAP_CACHE);
}

/* A block of `order` from this CPU's cache, or NULL: none there, or the cache
 * is taken (its holder, a thread preempted while holding it, leaves it to the
 * engine meanwhile). A damaged head of the list is a panic. */
static void *cache_alloc(size_t order)
{
    struct buddy_cache *cache = this_cpu_cache();
    if (!buddy_cache_trylock(cache))
        return NULL;
    void *block = buddy_cache_alloc(cache, order);
    if (!block)
        buddy_cache_check_head(cache, order);
    buddy_cache_unlock(cache);
    return block;
}

/* kmalloc_order's slow path (include/mm/heap.h), called from its caller: the
 * cache again (a thread may have freed into it, or its head is damaged), then
 * the engine. */
void *kmalloc_order_slow(size_t order)
{
    void *block = cache_alloc(order);
    if (block)
        return block;
    uintptr_t caller = (uintptr_t)__builtin_return_address(0);
    return alloc_from(cache_heap[arch_cpu_index()], (1ul << order) - HEAP_HEADER_BYTES, caller);
}

void *kmalloc_any(size_t size)
{
    if (size <= BUDDY_CACHE_MAX_BYTES) {
        void *block = cache_alloc(buddy_small_order(size));
        if (block)
            return block;
    }
    return alloc_slow(size);
}

/* kmalloc_for_cpu's tail call, as alloc_slow is kmalloc's. */
static __attribute__((noinline)) void *alloc_for(struct node_heap *home, size_t size)
{
    return alloc_from(home, size, (uintptr_t)__builtin_return_address(0));
}

void *kmalloc_for_cpu(size_t size, unsigned cpu)
{
    struct node_heap *home = cache_heap[cpu < ARCH_MAX_CPUS ? cpu : 0];
    if (home == cache_heap[arch_cpu_index()])
        return kmalloc(size);
    return alloc_for(home, size);
}

/* The block is checked under the cache's lock, against the engine whose blocks
 * the cache holds (which heap_bind_cpu changes under that lock): a block of
 * another engine fails the region check and goes back to its own (free_slow),
 * so a cache holds its node's blocks only; NULL fails it too and the engine
 * ignores it. */
void kfree(void *ptr)
{
    struct buddy_cache *cache = this_cpu_cache();
    if (__builtin_expect(buddy_cache_trylock(cache), 1)) {
        int taken = buddy_cache_free(cache, ptr);
        if (__builtin_expect(taken > 0, 1)) {
            buddy_cache_unlock(cache);
            return;
        }
        if (taken < 0) {
            free_no_room(cache, ptr);
            return;
        }
        buddy_cache_unlock(cache);
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
    struct node_heap *h = heap_of(ptr);
    bool irq = spin_lock(&h->lock);
    size_t usable = buddy_usable_size(&h->engine, ptr, caller);
    spin_unlock(&h->lock, irq);
    if (size <= usable)
        return ptr;
    void *moved = kmalloc(size);
    if (!moved)
        return NULL;
    memcpy(moved, ptr, usable);
    kfree(ptr);
    return moved;
}

/* Stats and checks see the engines with every cache drained, so that freeing
 * everything shows the exact starting counts. The stats are the engines' sums. */
void heap_get_stats(struct heap_stats *out)
{
    drain_caches(interrupts_enabled());
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < heap_count; i++) {
        bool irq = spin_lock(&heaps[i]->lock);
        const struct heap_stats *s = &heaps[i]->engine.stats;
        out->arenas += s->arenas;
        out->blocks_in_use += s->blocks_in_use;
        out->bytes_in_use += s->bytes_in_use;
        for (unsigned order = 0; order <= HEAP_MAX_ORDER; order++)
            out->free_blocks[order] += s->free_blocks[order];
        spin_unlock(&heaps[i]->lock, irq);
    }
}

void heap_check(void)
{
    drain_caches(interrupts_enabled());
    for (unsigned i = 0; i < heap_count; i++) {
        bool irq = spin_lock(&heaps[i]->lock);
        buddy_check(&heaps[i]->engine);
        spin_unlock(&heaps[i]->lock, irq);
    }
}
