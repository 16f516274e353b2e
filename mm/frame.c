#include "mm/frame.h"

#include <stdbool.h>

#include "arch/bitops.h"
#include "arch/cpu.h"
#include "arch/irq.h"
#include "arch/mmu.h"
#include "base/panic.h"
#include "lib/printf.h"
#include "lib/string.h"
#include "base/spinlock.h"
#include "mm/numa.h"

#define BITS 64

/*
 * One node's pool: three levels over the frames base .. base + frame_count - 1,
 * all in the block of frames found at init. Word counts: words0 = frames / 64,
 * words1 = words0 / 64, words2 = words1 / 64 (rounded up). Frame numbers inside a
 * pool's functions are relative to its base; only the node's own frames are ever
 * set, so the spans of two nodes whose ranges interleave may overlap.
 */
struct frame_bitmap {
    uint64_t *level0;  /* bit per frame: 1 = free in this pool */
    uint64_t *level1;  /* bit per level0 word: 1 = that word is non-zero */
    uint64_t *level2;  /* bit per level1 word: 1 = that word is non-zero */
    size_t words0, words1, words2;
    uint64_t frame_count; /* frames the bitmap covers */
};

/* Default rule: (L) the pool's lock; base, the bitmap's shape and the totals are
 * set at init and read-only afterwards. */
struct frame_pool {
    struct spinlock lock;
    struct frame_bitmap bitmap;
    uint64_t base;            /* first frame number the bitmap covers */
    uint64_t free;            /* (L) free frames in the bitmap (excludes caches) */
    size_t level2_hint;       /* (L) a level2 word at or before the first free frame */
    uint64_t total_frames;    /* usable frames of the node */
    uint64_t reserved_frames; /* of those, reserved at init */
} __attribute__((aligned(64)));

static struct frame_pool pools[NUMA_MAX_NODES];
static unsigned pool_count = 1;     /* numa_node_count() at init */
static uint64_t *cached_bitmap;     /* (A) bit per frame from 0: in some CPU's cache */
static uint64_t highest_frame;      /* frames 0 .. highest_frame-1 may be managed */
static uint64_t total_frames;       /* sums over the pools, set at init */
static uint64_t reserved_frames;

/* A CPU's cache of free frames. `busy` is its lock, taken only by trylock
 * (arch_bit0_test_and_set_atomic): by its CPU's fast paths, which go to the
 * pools instead when it is taken (an interrupt handler that came in while a
 * thread of this CPU held it, or a thread that runs while the holder is
 * preempted), and by frame_drain_cache. Everything else under busy; `count`
 * is also read by stats, as a snapshot. A thread that holds it and moves to
 * another CPU still holds it alone, so no interrupt masking is needed. Frame
 * numbers fit 32 bits below FRAME_MAX_PHYS (2^28 frames), halving the caches. */
struct frame_cache {
    uint64_t busy;           /* (A) bit 0: held */
    struct frame_pool *home; /* the CPU's node's pool when the cache last refilled */
    uint32_t count;
    uint32_t frames[FRAME_CACHE_SIZE];
};
_Static_assert((FRAME_MAX_PHYS >> FRAME_SHIFT) <= UINT32_MAX, "a cached frame number fits 32 bits");
_Static_assert(sizeof(struct frame_cache) == 256, "a power of two: indexing is one shift");
static struct frame_cache caches[ARCH_MAX_CPUS];

static inline bool bit_test(const uint64_t *words, uint64_t bit)
{
    return (words[bit / BITS] >> (bit % BITS)) & 1;
}

/* The pool that owns frame n (absolute). */
static inline struct frame_pool *pool_of(uint64_t n)
{
    if (pool_count == 1)
        return &pools[0];
    return &pools[numa_phys_node(n << FRAME_SHIFT)];
}

/* Marks frame `r` free in all levels. Caller holds the pool's lock. */
static void pool_set_free(struct frame_pool *p, uint64_t r)
{
    size_t w0 = r / BITS, w1 = w0 / BITS;
    p->bitmap.level0[w0] |= 1ull << (r % BITS);
    p->bitmap.level1[w1] |= 1ull << (w0 % BITS);
    p->bitmap.level2[w1 / BITS] |= 1ull << (w1 % BITS);
    if (w1 / BITS < p->level2_hint)
        p->level2_hint = w1 / BITS;
    p->free++;
}

/* Marks frame `r` used, clearing summary bits whose word became empty. */
static void pool_set_used(struct frame_pool *p, uint64_t r)
{
    size_t w0 = r / BITS, w1 = w0 / BITS;
    p->bitmap.level0[w0] &= ~(1ull << (r % BITS));
    if (p->bitmap.level0[w0] == 0) {
        p->bitmap.level1[w1] &= ~(1ull << (w0 % BITS));
        if (p->bitmap.level1[w1] == 0)
            p->bitmap.level2[w1 / BITS] &= ~(1ull << (w1 % BITS));
    }
    p->free--;
}

/* Bits set in x (no POPCNT instruction is assumed, nor libgcc's helper). */
static unsigned count_bits(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

/* The bits of word w0 that frames [start, end) cover. */
static uint64_t word_mask(size_t w0, uint64_t start, uint64_t end)
{
    uint64_t base = (uint64_t)w0 * BITS;
    unsigned lo = start > base ? (unsigned)(start - base) : 0;
    uint64_t mask = ~0ull << lo;
    if (end - base < BITS)
        mask &= (1ull << (end - base)) - 1;
    return mask;
}

/* Sets frames [start, end) (relative) free a word at a time (boot: a large machine
 * has millions); returns how many were not free already. */
static uint64_t pool_free_range(struct frame_pool *p, uint64_t start, uint64_t end)
{
    uint64_t added = 0;
    for (uint64_t n = start; n < end; n = (n / BITS + 1) * BITS) {
        size_t w0 = n / BITS, w1 = w0 / BITS;
        uint64_t fresh = word_mask(w0, n, end) & ~p->bitmap.level0[w0];
        if (!fresh)
            continue;
        p->bitmap.level0[w0] |= fresh;
        p->bitmap.level1[w1] |= 1ull << (w0 % BITS);
        p->bitmap.level2[w1 / BITS] |= 1ull << (w1 % BITS);
        if (w1 / BITS < p->level2_hint)
            p->level2_hint = w1 / BITS;
        added += count_bits(fresh);
    }
    p->free += added;
    return added;
}

/* Marks the free frames of [start, end) (relative) used; returns how many there were. */
static uint64_t pool_use_range(struct frame_pool *p, uint64_t start, uint64_t end)
{
    uint64_t taken = 0;
    for (uint64_t n = start; n < end; n = (n / BITS + 1) * BITS) {
        size_t w0 = n / BITS, w1 = w0 / BITS;
        uint64_t hit = word_mask(w0, n, end) & p->bitmap.level0[w0];
        if (!hit)
            continue;
        p->bitmap.level0[w0] &= ~hit;
        if (p->bitmap.level0[w0] == 0) {
            p->bitmap.level1[w1] &= ~(1ull << (w0 % BITS));
            if (p->bitmap.level1[w1] == 0)
                p->bitmap.level2[w1 / BITS] &= ~(1ull << (w1 % BITS));
        }
        taken += count_bits(hit);
    }
    p->free -= taken;
    return taken;
}

/* The lowest free frame (relative), or UINT64_MAX. Caller holds the pool's lock. */
static uint64_t pool_find_first(struct frame_pool *p)
{
    const struct frame_bitmap *b = &p->bitmap;
    for (size_t w2 = p->level2_hint; w2 < b->words2; w2++) {
        if (b->level2[w2] == 0)
            continue;
        p->level2_hint = w2;
        size_t w1 = w2 * BITS + (size_t)__builtin_ctzll(b->level2[w2]);
        size_t w0 = w1 * BITS + (size_t)__builtin_ctzll(b->level1[w1]);
        return (uint64_t)w0 * BITS + (uint64_t)__builtin_ctzll(b->level0[w0]);
    }
    p->level2_hint = b->words2;
    return UINT64_MAX;
}

/* The lowest free frame at or after `from` (relative), or UINT64_MAX: for runs. */
static uint64_t pool_find_from(const struct frame_pool *p, uint64_t from)
{
    const struct frame_bitmap *b = &p->bitmap;
    for (uint64_t n = from; n < b->frame_count;) {
        size_t w0 = n / BITS;
        uint64_t word = b->level0[w0] & (~0ull << (n % BITS));
        if (word)
            return (uint64_t)w0 * BITS + (uint64_t)__builtin_ctzll(word);
        /* Jump to the next non-empty bitmap word that level 1 knows of. */
        size_t w1 = w0 / BITS, bit = w0 % BITS;
        uint64_t later = bit == BITS - 1 ? 0 : b->level1[w1] & (~0ull << (bit + 1));
        if (later)
            n = ((uint64_t)w1 * BITS + (uint64_t)__builtin_ctzll(later)) * BITS;
        else
            n = (uint64_t)(w1 + 1) * BITS * BITS;
    }
    return UINT64_MAX;
}

static __attribute__((noinline, noreturn)) void unmanaged(uint64_t n, const char *what)
{
    panic("frame: %s of 0x%lx, outside managed memory (below 0x%lx)", what, n << FRAME_SHIFT,
          highest_frame << FRAME_SHIFT);
}

/* The pool of frame n, which must lie in managed memory (else a panic). */
static inline struct frame_pool *managed_pool(uint64_t n, const char *what)
{
    struct frame_pool *p = pool_of(n);
    if (n - p->base >= p->bitmap.frame_count) /* wraps when n < base */
        unmanaged(n, what);
    return p;
}

/* ---- init ------------------------------------------------------------------ */

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

/* The end of a map region; a length that wraps past 2^64 means "to the top". */
static uint64_t region_end(const struct mmap_entry *region)
{
    uint64_t end = region->base_phys + region->length_bytes;
    return end < region->base_phys ? UINT64_MAX : end;
}

/*
 * The whole frames [*first, *end) of a usable region, clipped at FRAME_MAX_PHYS.
 * False when it holds none: a region shorter than a frame once both edges are
 * rounded inwards, or one wholly above FRAME_MAX_PHYS.
 */
static bool usable_frames(const struct mmap_entry *region, uint64_t *first, uint64_t *end)
{
    uint64_t end_phys = region_end(region);
    if (end_phys > FRAME_MAX_PHYS)
        end_phys = FRAME_MAX_PHYS;
    if (region->base_phys >= end_phys)
        return false;
    *first = align_up(region->base_phys, FRAME_SIZE) >> FRAME_SHIFT;
    *end = end_phys >> FRAME_SHIFT;
    return *first < *end;
}

static uint64_t highest_usable_end(const struct mmap_entry *map, size_t count)
{
    uint64_t highest = 0;
    for (size_t i = 0; i < count; i++) {
        uint64_t first, end;
        if (map[i].type != MMAP_USABLE)
            continue;
        if (region_end(&map[i]) > FRAME_MAX_PHYS)
            kprintf("frame: usable region at 0x%lx runs past %llu GiB; %s\n", map[i].base_phys,
                    FRAME_MAX_PHYS >> 30,
                    map[i].base_phys < FRAME_MAX_PHYS ? "clipped" : "ignored");
        if (usable_frames(&map[i], &first, &end) && end << FRAME_SHIFT > highest)
            highest = end << FRAME_SHIFT;
    }
    return highest;
}

/*
 * If [*start, *start + bytes) meets [other_start, other_end), moves *start to the
 * first frame past the other range (UINT64_MAX when there is none) and returns true.
 * Written so that no sum can wrap.
 */
static bool move_past(uint64_t *start, uint64_t bytes, uint64_t other_start, uint64_t other_end)
{
    bool meets = *start < other_end && (other_start <= *start || other_start - *start < bytes);
    if (!meets)
        return false;
    *start = other_end > UINT64_MAX - FRAME_SIZE ? UINT64_MAX : align_up(other_end, FRAME_SIZE);
    return true;
}

/* Finds `bytes` of usable memory below `limit` clear of every reserved range and of
 * every map region of another type (those frames are clipped out of the pool). */
static uint64_t place_bitmap(const struct mmap_entry *map, size_t count,
                             const struct phys_range *reserved, size_t nreserved, uint64_t bytes,
                             uint64_t limit)
{
    for (size_t i = 0; i < count; i++) {
        uint64_t first, end_frame;
        if (map[i].type != MMAP_USABLE || !usable_frames(&map[i], &first, &end_frame))
            continue;
        uint64_t start = first << FRAME_SHIFT, end = end_frame << FRAME_SHIFT;
        if (start < ARCH_PHYS_LOW_RESERVED_END)
            start = ARCH_PHYS_LOW_RESERVED_END;
        if (end > limit)
            end = limit;
        bool moved = true;
        while (moved && start < end && end - start >= bytes) {
            moved = false;
            for (size_t r = 0; r < nreserved; r++)
                moved |= move_past(&start, bytes, reserved[r].start, reserved[r].end);
            for (size_t j = 0; j < count; j++) {
                if (map[j].type != MMAP_USABLE)
                    moved |= move_past(&start, bytes, map[j].base_phys, region_end(&map[j]));
            }
        }
        if (start < end && end - start >= bytes)
            return start;
    }
    return UINT64_MAX;
}

/* Marks [start, end) (physical) used in every pool it meets; returns the count. */
static uint64_t use_phys_range(uint64_t start, uint64_t end, bool reserve)
{
    uint64_t managed_end = highest_frame << FRAME_SHIFT, taken = 0;
    if (end > managed_end)
        end = managed_end; /* first, so that rounding up cannot wrap */
    uint64_t first = start >> FRAME_SHIFT;
    uint64_t last = align_up(end, FRAME_SIZE) >> FRAME_SHIFT;
    for (unsigned k = 0; k < pool_count && first < last; k++) {
        struct frame_pool *p = &pools[k];
        uint64_t lo = first > p->base ? first : p->base;
        uint64_t hi = last < p->base + p->bitmap.frame_count ? last : p->base + p->bitmap.frame_count;
        if (lo >= hi)
            continue;
        uint64_t n = pool_use_range(p, lo - p->base, hi - p->base);
        if (reserve)
            p->reserved_frames += n;
        else
            p->total_frames -= n;
        taken += n;
    }
    return taken;
}

/*
 * Calls fn for each piece of frames [first, end) that lies in one node: splits a
 * usable region where the NUMA ranges change. Frames no range names are node 0's.
 */
static void for_each_node_piece(uint64_t first, uint64_t end,
                                void (*fn)(unsigned node, uint64_t first, uint64_t end))
{
    const struct numa_mem_range *ranges;
    size_t nranges = pool_count > 1 ? numa_mem_ranges(&ranges) : 0;
    while (first < end) {
        uint64_t piece_end = end;
        unsigned node = 0;
        for (size_t i = 0; i < nranges; i++) {
            uint64_t lo = ranges[i].start_phys >> FRAME_SHIFT, hi = ranges[i].end_phys >> FRAME_SHIFT;
            if (lo <= first && first < hi) {
                node = ranges[i].node;
                piece_end = hi < end ? hi : end;
                break;
            }
            if (lo > first && lo < piece_end)
                piece_end = lo; /* an unnamed gap, up to the next range */
        }
        fn(node, first, piece_end);
        first = piece_end;
    }
}

static void widen_span(unsigned node, uint64_t first, uint64_t end)
{
    struct frame_pool *p = &pools[node];
    if (p->bitmap.frame_count == 0) {
        p->base = first;
        p->bitmap.frame_count = end - first;
    } else {
        uint64_t lo = first < p->base ? first : p->base;
        uint64_t hi = end > p->base + p->bitmap.frame_count ? end : p->base + p->bitmap.frame_count;
        p->base = lo;
        p->bitmap.frame_count = hi - lo;
    }
}

static void free_piece(unsigned node, uint64_t first, uint64_t end)
{
    struct frame_pool *p = &pools[node];
    p->total_frames += pool_free_range(p, first - p->base, end - p->base);
}

/* Each node's span: the lowest and highest usable frame it owns. */
static void size_pools(const struct mmap_entry *map, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        uint64_t first, end;
        if (map[i].type == MMAP_USABLE && usable_frames(&map[i], &first, &end))
            for_each_node_piece(first, end, widen_span);
    }
}

/* Bytes of bitmap pool p needs, with its word counts filled in. */
static uint64_t pool_bitmap_bytes(struct frame_bitmap *b)
{
    b->words0 = (b->frame_count + BITS - 1) / BITS;
    b->words1 = (b->words0 + BITS - 1) / BITS;
    b->words2 = (b->words1 + BITS - 1) / BITS;
    return (b->words0 + b->words1 + b->words2) * sizeof(uint64_t);
}

/* Sets every whole frame of the usable regions free, counting each frame once. */
static void free_usable_regions(const struct mmap_entry *map, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        uint64_t start, end;
        if (map[i].type == MMAP_USABLE && usable_frames(&map[i], &start, &end))
            for_each_node_piece(start, end, free_piece);
    }
}

/* Frames a region of another type also claims are not usable after all. */
static void clip_non_usable_regions(const struct mmap_entry *map, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (map[i].type == MMAP_USABLE)
            continue;
        uint64_t start = map[i].base_phys & ~(FRAME_SIZE - 1);
        uint64_t end = region_end(&map[i]);
        if (start >= highest_frame << FRAME_SHIFT)
            continue;
        uint64_t clipped = use_phys_range(start, end, false);
        if (clipped)
            kprintf("frame: %lu usable frames overlap a type-%u region at 0x%lx; not used\n",
                    clipped, map[i].type, map[i].base_phys);
    }
}

int frame_init(const struct mmap_entry *map, size_t map_count, const struct phys_range *reserved,
               size_t reserved_count, uint64_t bitmap_limit_phys)
{
    uint64_t highest = highest_usable_end(map, map_count);
    if (highest <= ARCH_PHYS_LOW_RESERVED_END)
        return FRAME_ERR_NO_USABLE_MEMORY;

    memset(pools, 0, sizeof(pools));
    pool_count = numa_node_count();
    highest_frame = highest >> FRAME_SHIFT;
    if (pool_count == 1) {
        pools[0].bitmap.frame_count = highest_frame; /* from frame 0, as tests expect */
    } else {
        size_pools(map, map_count);
    }
    uint64_t cached_bytes = (highest_frame + BITS - 1) / BITS * sizeof(uint64_t);
    uint64_t bytes = cached_bytes;
    for (unsigned k = 0; k < pool_count; k++)
        bytes += pool_bitmap_bytes(&pools[k].bitmap);
    bytes = align_up(bytes, FRAME_SIZE);
    uint64_t at = place_bitmap(map, map_count, reserved, reserved_count, bytes, bitmap_limit_phys);
    if (at == UINT64_MAX)
        return FRAME_ERR_NO_ROOM_FOR_BITMAP;

    uint64_t *words = arch_phys_to_virt(at);
    memset(words, 0, bytes);
    for (unsigned k = 0; k < pool_count; k++) {
        struct frame_bitmap *b = &pools[k].bitmap;
        b->level0 = words;
        b->level1 = b->level0 + b->words0;
        b->level2 = b->level1 + b->words1;
        words = b->level2 + b->words2;
        pools[k].lock = (struct spinlock)SPINLOCK_INIT("frame pool");
    }
    cached_bitmap = words;

    free_usable_regions(map, map_count);
    clip_non_usable_regions(map, map_count);
    use_phys_range(0, ARCH_PHYS_LOW_RESERVED_END, true);
    for (size_t r = 0; r < reserved_count; r++)
        use_phys_range(reserved[r].start, reserved[r].end, true);
    use_phys_range(at, at + bytes, true);
    uint64_t free = 0;
    total_frames = reserved_frames = 0;
    for (unsigned k = 0; k < pool_count; k++) {
        total_frames += pools[k].total_frames;
        reserved_frames += pools[k].reserved_frames;
        free += pools[k].free;
    }
    memset(caches, 0, sizeof(caches));
    for (unsigned cpu = 0; cpu < ARCH_MAX_CPUS; cpu++) {
        caches[cpu].home = &pools[0]; /* until its first refill says otherwise */
        arch_cpu_set_slot(cpu, ARCH_CPU_SLOT_FRAME_CACHE, &caches[cpu]);
    }
    return free ? FRAME_OK : FRAME_ERR_NO_USABLE_MEMORY;
}

/* ---- single frames, through the per-CPU cache ------------------------------- */

static inline void set_cached(uint64_t n)
{
    __atomic_fetch_or(&cached_bitmap[n / BITS], 1ull << (n % BITS), __ATOMIC_RELAXED);
}

static inline void clear_cached(uint64_t n)
{
    __atomic_fetch_and(&cached_bitmap[n / BITS], ~(1ull << (n % BITS)), __ATOMIC_RELAXED);
}

/* Moves up to `want` free frames of pool p into the cache. */
static void cache_take_from(struct frame_cache *cache, struct frame_pool *p, uint32_t want)
{
    bool irq = spin_lock(&p->lock);
    while (cache->count < want) {
        uint64_t r = pool_find_first(p);
        if (r == UINT64_MAX)
            break;
        pool_set_used(p, r);
        set_cached(p->base + r);
        cache->frames[cache->count++] = (uint32_t)(p->base + r);
    }
    spin_unlock(&p->lock, irq);
}

/* Fills the cache from this CPU's node, else from the nearest node that has frames. */
static __attribute__((noinline)) void cache_refill(struct frame_cache *cache, unsigned cpu)
{
    unsigned node = numa_cpu_node(cpu);
    cache->home = &pools[node];
    const uint8_t *order = numa_nodes_by_distance(node);
    for (unsigned i = 0; i < pool_count && cache->count == 0; i++)
        cache_take_from(cache, &pools[order[i]], FRAME_CACHE_BATCH);
}

/* Moves all but `keep` cached frames back to their pools, holding one pool's lock
 * at a time (a cache holds other nodes' frames only after a fallback). */
static __attribute__((noinline)) void cache_drain(struct frame_cache *cache, uint32_t keep)
{
    struct frame_pool *held = NULL;
    bool irq = false;
    while (cache->count > keep) {
        uint64_t n = cache->frames[--cache->count];
        struct frame_pool *p = pool_of(n);
        if (p != held) {
            if (held)
                spin_unlock(&held->lock, irq);
            irq = spin_lock(&p->lock);
            held = p;
        }
        clear_cached(n);
        pool_set_free(p, n - p->base);
    }
    if (held)
        spin_unlock(&held->lock, irq);
}

static inline struct frame_cache *this_cpu_cache(void)
{
    return arch_cpu_slot(ARCH_CPU_SLOT_FRAME_CACHE);
}

static inline bool cache_trylock(struct frame_cache *cache)
{
    return !arch_bit0_test_and_set_atomic(&cache->busy);
}

static inline void cache_unlock(struct frame_cache *cache)
{
    __atomic_store_n(&cache->busy, 0, __ATOMIC_RELEASE);
}

static __attribute__((noinline, noreturn, cold)) void cached_without_bit(uint64_t n)
{
    panic("frame: frame 0x%lx was in a cache without its cached bit", n << FRAME_SHIFT);
}

/* A cached frame leaves the cache: its bit must have been set (one lock btr). */
static inline void take_cached(uint64_t n)
{
    if (!arch_bit_test_and_clear_atomic(cached_bitmap, n))
        cached_without_bit(n);
}

/* frame_alloc when the cache is taken (see struct frame_cache) or empty: the
 * pools, or a refill of the cache from them. */
static __attribute__((noinline)) phys_addr_t alloc_slow(struct frame_cache *cache, bool held)
{
    if (!held)
        return frame_alloc_on_node(numa_cpu_node(arch_cpu_index()));
    cache_refill(cache, arch_cpu_index());
    phys_addr_t result = PHYS_INVALID;
    if (cache->count > 0) {
        uint64_t n = cache->frames[--cache->count];
        take_cached(n);
        result = phys(n << FRAME_SHIFT);
    }
    cache_unlock(cache);
    return result;
}

/* The fast path: pop this CPU's cache under its trylock. Everything else is out
 * of line. */
phys_addr_t frame_alloc(void)
{
    struct frame_cache *cache = this_cpu_cache();
    if (__builtin_expect(!cache_trylock(cache), 0))
        return alloc_slow(cache, false);
    uint32_t count = cache->count;
    if (__builtin_expect(count == 0, 0))
        return alloc_slow(cache, true);
    uint64_t n = cache->frames[--count];
    cache->count = count;
    cache_unlock(cache);
    take_cached(n);
    return phys(n << FRAME_SHIFT);
}

/* A frame of another node goes straight back to its own pool, so that a cache
 * hands out its CPU's node's frames (unless a fallback brought others in). The
 * same for any frame while the cache is taken. */
static __attribute__((noinline)) void free_to_pool(struct frame_pool *p, uint64_t n)
{
    bool irq = spin_lock(&p->lock);
    clear_cached(n);
    pool_set_free(p, n - p->base);
    spin_unlock(&p->lock, irq);
}

/* frame_free when the cache is full; cache held. */
static __attribute__((noinline)) void free_to_full_cache(struct frame_cache *cache, uint64_t n)
{
    cache_drain(cache, FRAME_CACHE_SIZE - FRAME_CACHE_BATCH);
    cache->frames[cache->count++] = (uint32_t)n;
    cache_unlock(cache);
}

/* frame_free of a frame that check_free refused: panics, naming what is wrong. Not
 * marked noreturn, so that frame_free reaches it with a jump and needs no frame. */
static __attribute__((noinline, cold)) void bad_free(phys_addr_t frame)
{
    uint64_t n = frame.value >> FRAME_SHIFT;
    if (frame.value & (FRAME_SIZE - 1))
        panic("frame: free of 0x%lx, which is not frame-aligned", frame.value);
    struct frame_pool *p = managed_pool(n, "free");
    panic("frame: double free of frame 0x%lx%s", frame.value,
          arch_bit_test(p->bitmap.level0, n - p->base) ? "" : " (it is in a CPU's cache)");
}

/*
 * Whether `frame` may be freed into pool p, whose first frame number is `base`
 * (a constant where the caller knows it): aligned and in the pool (one compare:
 * rotated right by the frame shift, an address with low bits set is larger than
 * any frame number), and free in neither a cache nor the pool (its cached bit
 * set on the way, with one lock bts whose old value is the first check; the pool
 * bit is read without the lock: only a racing double free could change it). On
 * false, bad_free says which. *n is its frame number.
 */
static inline __attribute__((always_inline)) bool check_free(phys_addr_t frame,
                                                              struct frame_pool *p, uint64_t base,
                                                              uint64_t *n)
{
    uint64_t offset = frame.value - (base << FRAME_SHIFT);
    uint64_t r = (offset >> FRAME_SHIFT) | (offset << (64 - FRAME_SHIFT));
    if (r >= p->bitmap.frame_count)
        return false;
    *n = base + r;
    if (arch_bit_test_and_set_atomic(cached_bitmap, base + r))
        return false;
    if (arch_bit_test(p->bitmap.level0, r)) {
        clear_cached(base + r); /* as it was, for bad_free's message */
        return false;
    }
    return true;
}

/* frame_free on a machine of several nodes: the frame's pool is its node's; one
 * of another node than this CPU's goes back to it. */
static __attribute__((noinline)) void free_numa(phys_addr_t frame)
{
    struct frame_pool *p = pool_of(frame.value >> FRAME_SHIFT);
    uint64_t n;
    if (!check_free(frame, p, p->base, &n)) {
        bad_free(frame);
        return;
    }
    struct frame_cache *cache = this_cpu_cache();
    if (!cache_trylock(cache)) {
        free_to_pool(p, n);
        return;
    }
    if (p != cache->home) {
        cache_unlock(cache);
        free_to_pool(p, n);
    } else if (cache->count == FRAME_CACHE_SIZE) {
        free_to_full_cache(cache, n);
    } else {
        cache->frames[cache->count++] = (uint32_t)n;
        cache_unlock(cache);
    }
}

static __attribute__((noinline)) void free_when_busy(uint64_t n)
{
    free_to_pool(&pools[0], n);
}

/* One pool, from frame 0 (frame_init), whose frames every cache holds. */
void frame_free(phys_addr_t frame)
{
    if (__builtin_expect(pool_count != 1, 0)) {
        free_numa(frame);
        return;
    }
    uint64_t n;
    if (__builtin_expect(!check_free(frame, &pools[0], 0, &n), 0)) {
        bad_free(frame);
        return;
    }
    struct frame_cache *cache = this_cpu_cache();
    if (__builtin_expect(!cache_trylock(cache), 0)) {
        free_when_busy(n);
        return;
    }
    uint32_t count = cache->count;
    if (__builtin_expect(count == FRAME_CACHE_SIZE, 0)) {
        free_to_full_cache(cache, n);
        return;
    }
    cache->frames[count] = (uint32_t)n;
    cache->count = count + 1;
    cache_unlock(cache);
}

/* Waits for the cache with interrupts on (its holder may be a thread preempted
 * on this CPU); with them off it drains only a cache nobody holds. */
void frame_drain_cache(void)
{
    bool irq = arch_irq_save_disable();
    arch_irq_restore(irq);
    struct frame_cache *cache = this_cpu_cache();
    bool held = cache_trylock(cache);
    while (!held && irq) {
        arch_cpu_relax();
        held = cache_trylock(cache);
    }
    if (!held)
        return;
    cache_drain(cache, 0);
    cache_unlock(cache);
}

phys_addr_t frame_alloc_on_node(unsigned node)
{
    if (node >= pool_count)
        node = 0;
    const uint8_t *order = numa_nodes_by_distance(node);
    for (unsigned i = 0; i < pool_count; i++) {
        struct frame_pool *p = &pools[order[i]];
        bool irq = spin_lock(&p->lock);
        uint64_t r = pool_find_first(p);
        if (r != UINT64_MAX)
            pool_set_used(p, r);
        spin_unlock(&p->lock, irq);
        if (r != UINT64_MAX)
            return phys((p->base + r) << FRAME_SHIFT);
    }
    return PHYS_INVALID;
}

unsigned frame_node(phys_addr_t frame)
{
    return pool_count == 1 ? 0 : numa_phys_node(frame.value);
}

/* ---- contiguous runs ------------------------------------------------------- */

/* The first frame in [start, start + n) (relative) that is not free, or UINT64_MAX. */
static uint64_t first_used_in(const struct frame_pool *p, uint64_t start, uint64_t n)
{
    const uint64_t *level0 = p->bitmap.level0;
    for (uint64_t f = start; f < start + n;) {
        if (f % BITS == 0 && start + n - f >= BITS) {
            uint64_t word = level0[f / BITS];
            if (word != ~0ull)
                return f + (uint64_t)__builtin_ctzll(~word);
            f += BITS;
            continue;
        }
        if (!bit_test(level0, f))
            return f;
        f++;
    }
    return UINT64_MAX;
}

/* A run in pool p whose absolute first frame is aligned; relative, or UINT64_MAX. */
static uint64_t pool_alloc_run(struct frame_pool *p, size_t nframes, size_t align_frames)
{
    uint64_t count = p->bitmap.frame_count, found = UINT64_MAX;
    bool irq = spin_lock(&p->lock);
    for (uint64_t candidate = 0; candidate + nframes <= count;) {
        uint64_t free_at = pool_find_from(p, candidate);
        if (free_at == UINT64_MAX)
            break;
        uint64_t start = align_up(p->base + free_at, align_frames) - p->base;
        if (start + nframes > count)
            break;
        uint64_t used = first_used_in(p, start, nframes);
        if (used == UINT64_MAX) {
            found = start;
            break;
        }
        candidate = used + 1;
    }
    if (found != UINT64_MAX) {
        for (uint64_t r = found; r < found + nframes; r++)
            pool_set_used(p, r);
    }
    spin_unlock(&p->lock, irq);
    return found;
}

phys_addr_t frame_alloc_run(size_t nframes, size_t align_frames)
{
    bool irq = arch_irq_save_disable();
    unsigned node = numa_cpu_node(arch_cpu_index());
    arch_irq_restore(irq);
    return frame_alloc_run_on_node(node, nframes, align_frames);
}

phys_addr_t frame_alloc_run_on_node(unsigned node, size_t nframes, size_t align_frames)
{
    if (nframes == 0 || align_frames == 0 || (align_frames & (align_frames - 1)))
        return PHYS_INVALID;
    const uint8_t *order = numa_nodes_by_distance(node < pool_count ? node : 0);
    for (unsigned i = 0; i < pool_count; i++) {
        struct frame_pool *p = &pools[order[i]];
        uint64_t r = pool_alloc_run(p, nframes, align_frames);
        if (r != UINT64_MAX)
            return phys((p->base + r) << FRAME_SHIFT);
    }
    return PHYS_INVALID;
}

void frame_free_run(phys_addr_t first, size_t nframes)
{
    uint64_t start = first.value >> FRAME_SHIFT;
    if (first.value & (FRAME_SIZE - 1))
        panic("frame: free of run 0x%lx, which is not frame-aligned", first.value);
    struct frame_pool *p = managed_pool(start, "run free");
    if (managed_pool(start + nframes - 1, "run free") != p)
        panic("frame: free of run 0x%lx (%zu frames), which spans two nodes", first.value,
              nframes);
    bool irq = spin_lock(&p->lock);
    for (uint64_t n = start; n < start + nframes; n++) {
        if (bit_test(p->bitmap.level0, n - p->base) || bit_test(cached_bitmap, n))
            panic("frame: double free of frame 0x%lx (in a run of %zu from 0x%lx)",
                  n << FRAME_SHIFT, nframes, first.value);
        pool_set_free(p, n - p->base);
    }
    spin_unlock(&p->lock, irq);
}

/* Frames of `node` (all nodes: NUMA_MAX_NODES) sitting in CPU caches. A snapshot:
 * other CPUs' caches change as it reads. */
static uint64_t cached_frames(unsigned node)
{
    uint64_t cached = 0;
    for (unsigned cpu = 0; cpu < ARCH_MAX_CPUS; cpu++) {
        uint32_t count = __atomic_load_n(&caches[cpu].count, __ATOMIC_RELAXED);
        if (node == NUMA_MAX_NODES || pool_count == 1) {
            cached += count;
            continue;
        }
        for (uint32_t i = 0; i < count && i < FRAME_CACHE_SIZE; i++) {
            uint32_t n = __atomic_load_n(&caches[cpu].frames[i], __ATOMIC_RELAXED);
            cached += pool_of(n) == &pools[node];
        }
    }
    return cached;
}

void frame_get_stats(struct frame_stats *out)
{
    uint64_t free = cached_frames(NUMA_MAX_NODES);
    for (unsigned k = 0; k < pool_count; k++) {
        bool irq = spin_lock(&pools[k].lock);
        free += pools[k].free;
        spin_unlock(&pools[k].lock, irq);
    }
    *out = (struct frame_stats){
        .total_frames = total_frames,
        .reserved_frames = reserved_frames,
        .free_frames = free,
        .highest_phys = highest_frame << FRAME_SHIFT,
    };
}

bool frame_get_node_stats(unsigned node, struct frame_stats *out)
{
    if (node >= pool_count)
        return false;
    struct frame_pool *p = &pools[node];
    uint64_t cached = cached_frames(node);
    bool irq = spin_lock(&p->lock);
    *out = (struct frame_stats){
        .total_frames = p->total_frames,
        .reserved_frames = p->reserved_frames,
        .free_frames = p->free + cached,
        .highest_phys = (p->base + p->bitmap.frame_count) << FRAME_SHIFT,
    };
    spin_unlock(&p->lock, irq);
    return true;
}
