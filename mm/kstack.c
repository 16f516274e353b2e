#include "mm/kstack.h"

#include "arch/cpu.h"
#include "arch/mmu.h"
#include "base/panic.h"
#include "mm/frame.h"
#include "mm/heap.h"
#include "mm/numa.h"
#include "mm/paging.h"
#include "base/spinlock.h"

#define PAGE_BYTES FRAME_SIZE
#define FREE_CHUNK_SLOTS 1016 /* a chunk is 4080 bytes: with its heap header, one 4 KiB block */
#define BATCH_PAGES 16        /* pages mapped or unmapped at once, at most */
#define BATCH_STACKS 8        /* stacks made at once for a cache: half the largest one */

/* Slot numbers given back, in heap-allocated chunks (the slots are unmapped). */
struct free_chunk {
    struct free_chunk *next;
    uint32_t count;
    uint32_t slots[FREE_CHUNK_SLOTS];
};

/* One class of slots. All fields under kstack_lock. */
struct slot_class {
    uintptr_t base;            /* first slot */
    size_t slot_pages;         /* 2^(class + 1) */
    size_t slots_total;        /* slots the class's share of the region holds */
    size_t next_fresh;         /* slots below this were handed out at least once */
    struct free_chunk *freed;  /* slots given back, reused first */
};

/* Protects `classes`, `live_stacks` and the pending batch. It may be held while
 * unmapping (kernel_space's lock) and allocating heap chunks: the lock-order
 * table is at the top of sched/sched.c. */
static struct spinlock kstack_lock = SPINLOCK_INIT("kstack");
static struct slot_class classes[KSTACK_CLASSES];
static size_t live_stacks; /* (A) */
static bool classes_ready;

/*
 * Per-CPU caches of ready stacks, for the small classes (stacks of up to 15
 * pages): a freed stack stays mapped, its guard page still unmapped, and the next
 * kstack_alloc of that size on this CPU takes it back without a page-table walk, a
 * frame or a flush. A cached stack's lowest word holds cached_seal(bottom): a
 * second kstack_free of it finds the seal and is the same double-free panic as
 * for an unmapped one. kstack_flush empties every cache and trims the page
 * tables left empty (exact frame counts).
 * Each cache has its own lock, taken before kstack_lock and never with it held.
 */
#define CACHED_CLASSES 4
#define CACHE_ENTRIES 30 /* 16, 8, 4 and 2 stacks of classes 0..3: at most 98 pages */
static const uint8_t cache_first[CACHED_CLASSES + 1] = {0, 16, 24, 28, 30};
#define CACHED_MAGIC 0x4b73746b43616368ul /* "KstkCach" */

struct stack_cache {
    struct spinlock lock;
    uint8_t count[CACHED_CLASSES];
    struct kstack stacks[CACHE_ENTRIES]; /* class c: from cache_first[c] */
} __attribute__((aligned(64)));
static struct stack_cache stack_caches[ARCH_MAX_CPUS];

static uint64_t cached_seal(uintptr_t bottom)
{
    return bottom ^ CACHED_MAGIC;
}

static void drain_caches(void);

/*
 * Freed stacks wait here for one TLB flush of every CPU (paging_flush_deferred)
 * instead of one IPI round per page: their pages are unmapped at once on this
 * CPU, but another CPU may still hold a translation, so neither their frames nor
 * their slots are reused before the flush. Under kstack_lock.
 */
#define PENDING_FRAMES 4096
#define PENDING_STACKS 1024
static phys_addr_t pending_frames[PENDING_FRAMES];
static struct {
    uint8_t class_index;
    uint32_t slot;
} pending_stacks[PENDING_STACKS];
static size_t npending_frames, npending_stacks;
static struct paging_deferred pending_tables;

static void setup_classes(void)
{
    uintptr_t share = (arch_va_layout.stacks.end - arch_va_layout.stacks.start) / KSTACK_CLASSES;
    for (unsigned c = 0; c < KSTACK_CLASSES; c++) {
        classes[c].base = arch_va_layout.stacks.start + c * share;
        classes[c].slot_pages = 2ul << c;
        classes[c].slots_total = share / (classes[c].slot_pages * PAGE_BYTES);
    }
    for (unsigned cpu = 0; cpu < ARCH_MAX_CPUS; cpu++)
        stack_caches[cpu].lock.name = "kstack cache";
    classes_ready = true;
}

/* Takes a slot number of class c; false when the class is full. */
static bool take_slot_locked(struct slot_class *cls, size_t *slot)
{
    spin_assert_held(&kstack_lock);
    struct free_chunk *chunk = cls->freed;
    if (chunk) {
        *slot = chunk->slots[--chunk->count];
        if (chunk->count == 0) {
            cls->freed = chunk->next;
            kfree(chunk);
        }
        return true;
    }
    if (cls->next_fresh == cls->slots_total)
        return false;
    *slot = cls->next_fresh++;
    return true;
}

/* Gives a slot back; false when a chunk to record it could not be allocated
 * (the slot is then leaked: address space, not memory). */
static bool give_slot_locked(struct slot_class *cls, size_t slot)
{
    spin_assert_held(&kstack_lock);
    struct free_chunk *chunk = cls->freed;
    if (!chunk || chunk->count == FREE_CHUNK_SLOTS) {
        chunk = kmalloc(sizeof(*chunk));
        if (!chunk)
            return false;
        chunk->next = cls->freed;
        chunk->count = 0;
        cls->freed = chunk;
    }
    chunk->slots[chunk->count++] = (uint32_t)slot;
    return true;
}

/* Flushes every CPU's TLB once, then frees what the pending stacks held. */
static void flush_pending_locked(void)
{
    spin_assert_held(&kstack_lock);
    if (npending_stacks == 0)
        return;
    paging_flush_deferred(&pending_tables);
    for (size_t i = 0; i < npending_frames; i++)
        frame_free(pending_frames[i]);
    for (size_t i = 0; i < npending_stacks; i++)
        give_slot_locked(&classes[pending_stacks[i].class_index], pending_stacks[i].slot);
    npending_frames = 0;
    npending_stacks = 0;
}

void kstack_flush(void)
{
    drain_caches();
    bool irq = spin_lock(&kstack_lock);
    flush_pending_locked();
    spin_unlock(&kstack_lock, irq);
    paging_trim(); /* the page tables the unmapped stacks leave empty */
}

static void unmap_pages(uintptr_t start, size_t npages)
{
    for (size_t i = 0; i < npages; i++) {
        phys_addr_t frame;
        if (paging_unmap(&kernel_space, start + i * PAGE_BYTES, PAGE_4K, &frame) == PAGING_OK)
            frame_free(frame);
    }
}

/* Maps npages fresh frames at start: from this CPU's node (its frame cache first),
 * or from `node` and then the nearest ones when node is not KSTACK_ANY_NODE. */
static bool map_pages(uintptr_t start, size_t npages, unsigned node)
{
    for (size_t i = 0; i < npages; i++) {
        phys_addr_t frame = node == KSTACK_ANY_NODE ? frame_alloc() : frame_alloc_on_node(node);
        if (!phys_is_valid(frame) ||
            paging_map(&kernel_space, start + i * PAGE_BYTES, frame, PAGE_4K,
                       PAGE_WRITE | PAGE_GLOBAL) != PAGING_OK) {
            if (phys_is_valid(frame))
                frame_free(frame);
            unmap_pages(start, i);
            return false;
        }
    }
    return true;
}

/* A cached stack of class c and exactly npages for *out; false when there is none. */
static bool cache_take(unsigned c, size_t npages, struct kstack *out)
{
    struct stack_cache *cache = &stack_caches[arch_cpu_index()];
    bool found = false;
    bool irq = spin_lock(&cache->lock);
    unsigned n = cache->count[c];
    struct kstack *last = &cache->stacks[cache_first[c] + n - 1];
    if (n && last->top - last->bottom == npages * PAGE_BYTES) {
        *out = *last;
        cache->count[c]--;
        found = true;
    }
    spin_unlock(&cache->lock, irq);
    if (!found)
        return false;
    *(uint64_t *)out->bottom = 0;
    __atomic_fetch_add(&live_stacks, 1, __ATOMIC_RELAXED);
    return true;
}

/* Keeps a freed (still mapped) stack of class c in this CPU's cache; false when full. */
static bool cache_put(unsigned c, const struct kstack *stack)
{
    struct stack_cache *cache = &stack_caches[arch_cpu_index()];
    bool irq = spin_lock(&cache->lock);
    unsigned n = cache->count[c];
    bool room = n < (unsigned)(cache_first[c + 1] - cache_first[c]);
    if (room) {
        *(uint64_t *)stack->bottom = cached_seal(stack->bottom);
        cache->stacks[cache_first[c] + n] = *stack;
        cache->count[c]++;
    }
    spin_unlock(&cache->lock, irq);
    return room;
}

/* Caches n fresh stacks of class c (mapped, never used) in this CPU's cache, as
 * many as there is room for, the first ones; returns how many. */
static size_t cache_put_many(unsigned c, const struct kstack *stacks, size_t n)
{
    struct stack_cache *cache = &stack_caches[arch_cpu_index()];
    unsigned room_total = (unsigned)(cache_first[c + 1] - cache_first[c]);
    size_t put = 0;
    bool irq = spin_lock(&cache->lock);
    for (; put < n && cache->count[c] < room_total; put++) {
        *(uint64_t *)stacks[put].bottom = cached_seal(stacks[put].bottom);
        cache->stacks[cache_first[c] + cache->count[c]++] = stacks[put];
    }
    spin_unlock(&cache->lock, irq);
    return put;
}

/* Takes the older half of this CPU's cache of class c out into `out` (their seals
 * cleared: they are about to be unmapped); returns how many. */
static size_t cache_take_older_half(unsigned c, struct kstack *out)
{
    struct stack_cache *cache = &stack_caches[arch_cpu_index()];
    bool irq = spin_lock(&cache->lock);
    unsigned n = cache->count[c] / 2;
    struct kstack *first = &cache->stacks[cache_first[c]];
    for (unsigned i = 0; i < n; i++)
        out[i] = first[i];
    for (unsigned i = n; i < cache->count[c]; i++)
        first[i - n] = first[i];
    cache->count[c] -= n;
    spin_unlock(&cache->lock, irq);
    for (unsigned i = 0; i < n; i++)
        *(uint64_t *)out[i].bottom = 0;
    return n;
}

static void free_unmapping(const struct kstack *stack, unsigned c);
static void free_unmapping_batch(const struct kstack *stacks, size_t n, unsigned c, bool live);

/* Unmaps every cached stack (into the pending batch). */
static void drain_caches(void)
{
    for (unsigned cpu = 0; cpu < ARCH_MAX_CPUS; cpu++) {
        struct stack_cache *cache = &stack_caches[cpu];
        for (unsigned c = 0; c < CACHED_CLASSES; c++) {
            for (;;) {
                struct kstack stack;
                bool irq = spin_lock(&cache->lock);
                unsigned n = cache->count[c];
                if (n)
                    stack = cache->stacks[cache_first[c] + --cache->count[c]];
                spin_unlock(&cache->lock, irq);
                if (!n)
                    break;
                *(uint64_t *)stack.bottom = 0;
                __atomic_fetch_add(&live_stacks, 1, __ATOMIC_RELAXED); /* free_unmapping counts it */
                free_unmapping(&stack, c);
            }
        }
    }
}

/* Takes up to n slots of class c (fewer when the class runs out). */
static size_t take_slots(unsigned c, size_t *slots, size_t n)
{
    size_t got = 0;
    bool irq = spin_lock(&kstack_lock);
    if (!classes_ready)
        setup_classes();
    for (; got < n; got++) {
        if (take_slot_locked(&classes[c], &slots[got]))
            continue;
        if (!npending_stacks)
            break;
        flush_pending_locked(); /* slots waiting for the flush may be all that is left */
        if (!take_slot_locked(&classes[c], &slots[got]))
            break;
    }
    spin_unlock(&kstack_lock, irq);
    return got;
}

static void give_slots(unsigned c, const size_t *slots, size_t n)
{
    bool irq = spin_lock(&kstack_lock);
    for (size_t i = 0; i < n; i++)
        give_slot_locked(&classes[c], slots[i]);
    spin_unlock(&kstack_lock, irq);
}

/*
 * A cache miss for a stack of class c: makes a batch of fresh stacks of npages
 * (half the class's cache, at most BATCH_PAGES pages) with one hold of kstack_lock
 * for the slots and one of the kernel half's lock for the mappings, hands out one
 * and caches the rest. False when any of it fails: everything is given back and
 * the caller takes the one-stack path, which retries after a flush.
 */
static bool refill_and_take(unsigned c, size_t npages, struct kstack *out)
{
    size_t n = (size_t)(cache_first[c + 1] - cache_first[c]) / 2;
    if (n > BATCH_PAGES / npages)
        n = BATCH_PAGES / npages;
    if (n > BATCH_STACKS)
        n = BATCH_STACKS;
    if (n < 2)
        return false; /* no batch to gain: the one-stack path */
    size_t slots[BATCH_STACKS];
    uintptr_t va[BATCH_PAGES];
    phys_addr_t frames[BATCH_PAGES];
    n = take_slots(c, slots, n);
    size_t pages = 0;
    for (; pages < n * npages; pages++) {
        frames[pages] = frame_alloc();
        if (!phys_is_valid(frames[pages]))
            break;
        size_t slot = slots[pages / npages];
        uintptr_t top = classes[c].base + (slot + 1) * classes[c].slot_pages * PAGE_BYTES;
        va[pages] = top - (npages - pages % npages) * PAGE_BYTES;
    }
    int error = PAGING_ERR_NO_MEMORY;
    size_t mapped = 0;
    if (n && pages == n * npages)
        mapped = paging_map_pages(va, frames, pages, PAGE_WRITE | PAGE_GLOBAL, &error);
    if (!n || mapped < n * npages) { /* short of frames (even the first) or of tables */
        for (size_t i = 0; i < mapped; i++)
            paging_unmap(&kernel_space, va[i], PAGE_4K, NULL);
        for (size_t i = 0; i < pages; i++)
            frame_free(frames[i]);
        give_slots(c, slots, n);
        return false;
    }
    *out = (struct kstack){.bottom = va[0], .top = va[0] + npages * PAGE_BYTES};
    __atomic_fetch_add(&live_stacks, 1, __ATOMIC_RELAXED);
    struct kstack rest[BATCH_STACKS];
    for (size_t i = 1; i < n; i++)
        rest[i - 1] = (struct kstack){.bottom = va[i * npages],
                                      .top = va[i * npages] + npages * PAGE_BYTES};
    size_t cached = cache_put_many(c, rest, n - 1);
    if (cached < n - 1) /* moved to another CPU meanwhile, whose cache was fuller */
        free_unmapping_batch(rest + cached, n - 1 - cached, c, false);
    return true;
}

int kstack_alloc(size_t size_bytes, struct kstack *out)
{
    return kstack_alloc_on_node(size_bytes, KSTACK_ANY_NODE, out);
}

int kstack_alloc_on_node(size_t size_bytes, unsigned node, struct kstack *out)
{
    if (size_bytes == 0 || size_bytes > KSTACK_MAX_BYTES)
        return KSTACK_ERR_TOO_LARGE;
    if (node != KSTACK_ANY_NODE && node == numa_cpu_node(arch_cpu_index()))
        node = KSTACK_ANY_NODE; /* this CPU's own: its cache of stacks serves it */
    size_t npages = (size_bytes + PAGE_BYTES - 1) / PAGE_BYTES;
    unsigned c = 0;
    while ((2ul << c) < npages + 1) /* class c has slots of 2^(c+1) pages */
        c++;

    /* The cache holds stacks of this CPU's node only. */
    if (node == KSTACK_ANY_NODE && c < CACHED_CLASSES &&
        (cache_take(c, npages, out) || refill_and_take(c, npages, out)))
        return KSTACK_OK;

    size_t slot;
    bool irq = spin_lock(&kstack_lock);
    if (!classes_ready)
        setup_classes();
    struct slot_class *cls = &classes[c];
    bool got = take_slot_locked(cls, &slot);
    if (!got && npending_stacks) {
        flush_pending_locked(); /* slots waiting for the flush may be all that is left */
        got = take_slot_locked(cls, &slot);
    }
    spin_unlock(&kstack_lock, irq);
    if (!got)
        return KSTACK_ERR_NO_MEMORY;

    uintptr_t top = cls->base + (slot + 1) * cls->slot_pages * PAGE_BYTES;
    uintptr_t bottom = top - npages * PAGE_BYTES;
    bool mapped = map_pages(bottom, npages, node);
    if (!mapped) {
        kstack_flush(); /* frames waiting for the flush, then one more try */
        mapped = map_pages(bottom, npages, node);
    }
    if (!mapped) {
        irq = spin_lock(&kstack_lock);
        give_slot_locked(cls, slot);
        spin_unlock(&kstack_lock, irq);
        return KSTACK_ERR_NO_MEMORY;
    }
    __atomic_fetch_add(&live_stacks, 1, __ATOMIC_RELAXED);
    *out = (struct kstack){.bottom = bottom, .top = top};
    return KSTACK_OK;
}

/* The class of an address in the region, or KSTACK_CLASSES when outside it. */
static unsigned class_of(uintptr_t addr)
{
    if (!classes_ready || addr < arch_va_layout.stacks.start || addr >= arch_va_layout.stacks.end)
        return KSTACK_CLASSES;
    uintptr_t share = (arch_va_layout.stacks.end - arch_va_layout.stacks.start) / KSTACK_CLASSES;
    return (unsigned)((addr - arch_va_layout.stacks.start) / share);
}

static void panic_double_free(const struct kstack *stack)
{
    panic("kstack: double free of the stack at [0x%lx, 0x%lx)", stack->bottom, stack->top);
}

/* Are a mapped stack's frames on this CPU's node? (Always, with one node.) */
static bool on_this_cpus_node(const struct kstack *stack)
{
    if (numa_node_count() == 1)
        return true;
    struct translation tr;
    /* Unlocked, as kstack_free's own check: the caller owns the stack. */
    return paging_translate_unlocked(&kernel_space, stack->bottom, &tr) &&
           frame_node(phys(tr.pa.value & ~(uint64_t)(PAGE_BYTES - 1))) ==
               numa_cpu_node(arch_cpu_index());
}

void kstack_free(const struct kstack *stack)
{
    unsigned c = class_of(stack->bottom);
    size_t npages = (stack->top - stack->bottom) / PAGE_BYTES;
    if (c == KSTACK_CLASSES || stack->top <= stack->bottom ||
        (stack->top - classes[c].base) % (classes[c].slot_pages * PAGE_BYTES) != 0 ||
        npages >= classes[c].slot_pages || (stack->bottom & (PAGE_BYTES - 1)))
        panic("kstack: free of [0x%lx, 0x%lx), which is not a stack kstack_alloc made",
              stack->bottom, stack->top);
    if (c < CACHED_CLASSES) {
        /* Mapped (else freed and unmapped already), then not sealed as cached.
         * Unlocked: the caller owns this stack, and only its own free unmaps it. */
        if (!paging_is_mapped_unlocked(&kernel_space, stack->bottom) ||
            *(uint64_t *)stack->bottom == cached_seal(stack->bottom))
            panic_double_free(stack);
        if (!on_this_cpus_node(stack)) {
            free_unmapping(stack, c); /* the cache holds this node's stacks only */
            return;
        }
        if (cache_put(c, stack)) {
            __atomic_fetch_sub(&live_stacks, 1, __ATOMIC_RELAXED);
            return;
        }
        /* Full: this stack and the older half of the cache are unmapped in one
         * batch, so the next frees find room. */
        struct kstack batch[CACHE_ENTRIES / 2 + 1];
        size_t n = cache_take_older_half(c, batch);
        __atomic_fetch_add(&live_stacks, n, __ATOMIC_RELAXED); /* counted off below */
        batch[n++] = *stack;
        free_unmapping_batch(batch, n, c, true);
        return;
    }
    free_unmapping(stack, c);
}

/* Unmaps a stack into the pending batch (its frames and slot wait for the flush). */
static void free_unmapping(const struct kstack *stack, unsigned c)
{
    free_unmapping_batch(stack, 1, c, true);
}

/* Unmaps the pages gathered so far (va[0..n)) and files their frames and their
 * stacks' slots in the pending batch; a stack whose lowest page was not mapped
 * is a double free. kstack_lock held; dropped only to panic. */
static void unmap_gathered_locked(const uintptr_t *va, const struct kstack *const *stack_of,
                                  size_t n, unsigned c, bool irq)
{
    spin_assert_held(&kstack_lock);
    phys_addr_t old[BATCH_PAGES];
    struct slot_class *cls = &classes[c];
    paging_unmap_pages_deferred(va, n, old);
    for (size_t i = 0; i < n; i++) {
        const struct kstack *stack = stack_of[i];
        if (va[i] == stack->bottom) {
            /* Unmapped already: a racing second free got here first (both passed
             * kstack_free's unlocked check), or an uncached stack is freed twice.
             * Under the lock, so exactly one of two racing frees wins. */
            if (!phys_is_valid(old[i])) {
                spin_unlock(&kstack_lock, irq);
                panic_double_free(stack);
            }
            pending_stacks[npending_stacks].class_index = (uint8_t)c;
            pending_stacks[npending_stacks].slot =
                (uint32_t)((stack->top - cls->base) / (cls->slot_pages * PAGE_BYTES) - 1);
            npending_stacks++;
        }
        if (phys_is_valid(old[i]))
            pending_frames[npending_frames++] = old[i];
    }
}

/*
 * Unmaps n stacks of class c into the pending batch (their frames and slots wait
 * for the flush) under one hold of kstack_lock, BATCH_PAGES pages per hold of the
 * kernel half's lock. `live`: they were counted in live_stacks.
 */
static void free_unmapping_batch(const struct kstack *stacks, size_t n, unsigned c, bool live)
{
    uintptr_t va[BATCH_PAGES];
    const struct kstack *stack_of[BATCH_PAGES];
    size_t gathered = 0, gathered_stacks = 0;
    bool irq = spin_lock(&kstack_lock);
    for (size_t s = 0; s < n; s++) {
        size_t npages = (stacks[s].top - stacks[s].bottom) / PAGE_BYTES;
        if (npending_stacks + gathered_stacks == PENDING_STACKS ||
            npending_frames + gathered + npages > PENDING_FRAMES) {
            unmap_gathered_locked(va, stack_of, gathered, c, irq);
            gathered = gathered_stacks = 0;
            flush_pending_locked();
        }
        gathered_stacks++;
        for (size_t i = 0; i < npages; i++) {
            if (gathered == BATCH_PAGES) {
                unmap_gathered_locked(va, stack_of, gathered, c, irq);
                gathered = gathered_stacks = 0;
            }
            va[gathered] = stacks[s].bottom + i * PAGE_BYTES;
            stack_of[gathered++] = &stacks[s];
        }
    }
    unmap_gathered_locked(va, stack_of, gathered, c, irq);
    spin_unlock(&kstack_lock, irq);
    if (live)
        __atomic_fetch_sub(&live_stacks, n, __ATOMIC_RELAXED);
}

bool kstack_is_guard(uintptr_t addr)
{
    /* Unlocked: the page-fault panic asks, and may have interrupted a lock holder. */
    return class_of(addr) < KSTACK_CLASSES && !paging_is_mapped_unlocked(&kernel_space, addr);
}

size_t kstack_count(void)
{
    return __atomic_load_n(&live_stacks, __ATOMIC_RELAXED);
}
