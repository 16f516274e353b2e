#include "mm/frame.h"

#include <stdbool.h>

#include "arch/cpu.h"
#include "arch/irq.h"
#include "arch/mmu.h"
#include "base/panic.h"
#include "lib/printf.h"
#include "lib/string.h"
#include "base/spinlock.h"

#define BITS 64

/*
 * The three levels, all in one block of frames found at init. Word counts:
 * words0 = frames / 64, words1 = words0 / 64, words2 = words1 / 64 (rounded up).
 */
struct frame_bitmap {
    uint64_t *level0;  /* bit per frame: 1 = free in the shared pool */
    uint64_t *level1;  /* bit per level0 word: 1 = that word is non-zero */
    uint64_t *level2;  /* bit per level1 word: 1 = that word is non-zero */
    uint64_t *cached;  /* bit per frame: 1 = sitting in some CPU's cache (atomic ops) */
    size_t words0, words1, words2;
    uint64_t frame_count; /* frames the bitmap covers: 0 .. frame_count-1 */
};

/* Protects `bitmap` (all levels but `cached`), `pool_free` and `level2_hint`. */
static struct spinlock frame_lock = SPINLOCK_INIT("frame");
static struct frame_bitmap bitmap;
static uint64_t pool_free;      /* free frames in the bitmap (excludes caches) */
static size_t level2_hint;      /* a level2 word at or before the first free frame */
static uint64_t total_frames;   /* set at init, then read-only */
static uint64_t reserved_frames;

/* Touched only by its own CPU with interrupts off; `count` read by stats. */
struct frame_cache {
    uint32_t count;
    uint64_t frames[FRAME_CACHE_SIZE]; /* frame numbers */
};
static struct frame_cache caches[ARCH_MAX_CPUS];

static inline bool bit_test(const uint64_t *words, uint64_t bit)
{
    return (words[bit / BITS] >> (bit % BITS)) & 1;
}

/* Marks frame `n` free in all levels. Caller holds frame_lock. */
static void pool_set_free(uint64_t n)
{
    size_t w0 = n / BITS, w1 = w0 / BITS;
    bitmap.level0[w0] |= 1ull << (n % BITS);
    bitmap.level1[w1] |= 1ull << (w0 % BITS);
    bitmap.level2[w1 / BITS] |= 1ull << (w1 % BITS);
    if (w1 / BITS < level2_hint)
        level2_hint = w1 / BITS;
    pool_free++;
}

/* Marks frame `n` used, clearing summary bits whose word became empty. */
static void pool_set_used(uint64_t n)
{
    size_t w0 = n / BITS, w1 = w0 / BITS;
    bitmap.level0[w0] &= ~(1ull << (n % BITS));
    if (bitmap.level0[w0] == 0) {
        bitmap.level1[w1] &= ~(1ull << (w0 % BITS));
        if (bitmap.level1[w1] == 0)
            bitmap.level2[w1 / BITS] &= ~(1ull << (w1 % BITS));
    }
    pool_free--;
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

/* Sets frames [start, end) free a word at a time (boot: a large machine has
 * millions); returns how many were not free already. */
static uint64_t pool_free_range(uint64_t start, uint64_t end)
{
    uint64_t added = 0;
    for (uint64_t n = start; n < end; n = (n / BITS + 1) * BITS) {
        size_t w0 = n / BITS, w1 = w0 / BITS;
        uint64_t fresh = word_mask(w0, n, end) & ~bitmap.level0[w0];
        if (!fresh)
            continue;
        bitmap.level0[w0] |= fresh;
        bitmap.level1[w1] |= 1ull << (w0 % BITS);
        bitmap.level2[w1 / BITS] |= 1ull << (w1 % BITS);
        if (w1 / BITS < level2_hint)
            level2_hint = w1 / BITS;
        added += count_bits(fresh);
    }
    pool_free += added;
    return added;
}

/* Marks the free frames of [start, end) used; returns how many there were. */
static uint64_t pool_use_range(uint64_t start, uint64_t end)
{
    uint64_t taken = 0;
    for (uint64_t n = start; n < end; n = (n / BITS + 1) * BITS) {
        size_t w0 = n / BITS, w1 = w0 / BITS;
        uint64_t hit = word_mask(w0, n, end) & bitmap.level0[w0];
        if (!hit)
            continue;
        bitmap.level0[w0] &= ~hit;
        if (bitmap.level0[w0] == 0) {
            bitmap.level1[w1] &= ~(1ull << (w0 % BITS));
            if (bitmap.level1[w1] == 0)
                bitmap.level2[w1 / BITS] &= ~(1ull << (w1 % BITS));
        }
        taken += count_bits(hit);
    }
    pool_free -= taken;
    return taken;
}

/* The lowest free frame, or UINT64_MAX. Caller holds frame_lock. */
static uint64_t pool_find_first(void)
{
    for (size_t w2 = level2_hint; w2 < bitmap.words2; w2++) {
        if (bitmap.level2[w2] == 0)
            continue;
        level2_hint = w2;
        size_t w1 = w2 * BITS + (size_t)__builtin_ctzll(bitmap.level2[w2]);
        size_t w0 = w1 * BITS + (size_t)__builtin_ctzll(bitmap.level1[w1]);
        return (uint64_t)w0 * BITS + (uint64_t)__builtin_ctzll(bitmap.level0[w0]);
    }
    level2_hint = bitmap.words2;
    return UINT64_MAX;
}

/* The lowest free frame at or after `from`, or UINT64_MAX: for run searches. */
static uint64_t pool_find_from(uint64_t from)
{
    for (uint64_t n = from; n < bitmap.frame_count;) {
        size_t w0 = n / BITS;
        uint64_t word = bitmap.level0[w0] & (~0ull << (n % BITS));
        if (word)
            return (uint64_t)w0 * BITS + (uint64_t)__builtin_ctzll(word);
        /* Jump to the next non-empty bitmap word that level 1 knows of. */
        size_t w1 = w0 / BITS, bit = w0 % BITS;
        uint64_t later = bit == BITS - 1 ? 0 : bitmap.level1[w1] & (~0ull << (bit + 1));
        if (later)
            n = ((uint64_t)w1 * BITS + (uint64_t)__builtin_ctzll(later)) * BITS;
        else
            n = (uint64_t)(w1 + 1) * BITS * BITS;
    }
    return UINT64_MAX;
}

static void check_managed(uint64_t n, const char *what)
{
    if (n >= bitmap.frame_count)
        panic("frame: %s of 0x%lx, outside managed memory (below 0x%lx)", what,
              n << FRAME_SHIFT, bitmap.frame_count << FRAME_SHIFT);
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

static void mark_range_used(uint64_t start, uint64_t end)
{
    uint64_t managed_end = bitmap.frame_count << FRAME_SHIFT;
    if (end > managed_end)
        end = managed_end; /* first, so that rounding up cannot wrap */
    uint64_t first = start >> FRAME_SHIFT;
    uint64_t last = align_up(end, FRAME_SIZE) >> FRAME_SHIFT;
    if (first < last)
        reserved_frames += pool_use_range(first, last);
}

/* Sets every whole frame of the usable regions free, counting each frame once. */
static void free_usable_regions(const struct mmap_entry *map, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        uint64_t start, end;
        if (map[i].type != MMAP_USABLE || !usable_frames(&map[i], &start, &end))
            continue;
        total_frames += pool_free_range(start, end);
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
        if (start >= bitmap.frame_count << FRAME_SHIFT)
            continue;
        /* Frames n with n * FRAME_SIZE < end: end rounded up, without wrapping. */
        uint64_t last = (end >> FRAME_SHIFT) + ((end & (FRAME_SIZE - 1)) != 0);
        if (last > bitmap.frame_count)
            last = bitmap.frame_count;
        uint64_t clipped = start >> FRAME_SHIFT < last ? pool_use_range(start >> FRAME_SHIFT, last) : 0;
        total_frames -= clipped;
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

    struct frame_bitmap b = {.frame_count = highest >> FRAME_SHIFT};
    b.words0 = (b.frame_count + BITS - 1) / BITS;
    b.words1 = (b.words0 + BITS - 1) / BITS;
    b.words2 = (b.words1 + BITS - 1) / BITS;
    uint64_t bytes = align_up((2 * b.words0 + b.words1 + b.words2) * sizeof(uint64_t), FRAME_SIZE);
    uint64_t at = place_bitmap(map, map_count, reserved, reserved_count, bytes, bitmap_limit_phys);
    if (at == UINT64_MAX)
        return FRAME_ERR_NO_ROOM_FOR_BITMAP;

    uint64_t *words = arch_phys_to_virt(at);
    memset(words, 0, bytes);
    b.level0 = words;
    b.cached = b.level0 + b.words0;
    b.level1 = b.cached + b.words0;
    b.level2 = b.level1 + b.words1;

    bool irq = spin_lock(&frame_lock);
    bitmap = b;
    pool_free = total_frames = reserved_frames = 0;
    level2_hint = 0;
    free_usable_regions(map, map_count);
    clip_non_usable_regions(map, map_count);
    mark_range_used(0, ARCH_PHYS_LOW_RESERVED_END);
    for (size_t r = 0; r < reserved_count; r++)
        mark_range_used(reserved[r].start, reserved[r].end);
    mark_range_used(at, at + bytes);
    spin_unlock(&frame_lock, irq);
    memset(caches, 0, sizeof(caches));
    return pool_free ? FRAME_OK : FRAME_ERR_NO_USABLE_MEMORY;
}

/* ---- single frames, through the per-CPU cache ------------------------------- */

static void cache_refill(struct frame_cache *cache)
{
    bool irq = spin_lock(&frame_lock);
    while (cache->count < FRAME_CACHE_BATCH) {
        uint64_t n = pool_find_first();
        if (n == UINT64_MAX)
            break;
        pool_set_used(n);
        __atomic_fetch_or(&bitmap.cached[n / BITS], 1ull << (n % BITS), __ATOMIC_RELAXED);
        cache->frames[cache->count++] = n;
    }
    spin_unlock(&frame_lock, irq);
}

/* Moves all but `keep` cached frames back to the bitmap. */
static void cache_drain(struct frame_cache *cache, uint32_t keep)
{
    bool irq = spin_lock(&frame_lock);
    while (cache->count > keep) {
        uint64_t n = cache->frames[--cache->count];
        __atomic_fetch_and(&bitmap.cached[n / BITS], ~(1ull << (n % BITS)), __ATOMIC_RELAXED);
        pool_set_free(n);
    }
    spin_unlock(&frame_lock, irq);
}

phys_addr_t frame_alloc(void)
{
    bool irq = arch_irq_save_disable();
    struct frame_cache *cache = &caches[arch_cpu_index()];
    if (cache->count == 0)
        cache_refill(cache);
    phys_addr_t result = PHYS_INVALID;
    if (cache->count > 0) {
        uint64_t n = cache->frames[--cache->count];
        __atomic_fetch_and(&bitmap.cached[n / BITS], ~(1ull << (n % BITS)), __ATOMIC_RELAXED);
        result = phys(n << FRAME_SHIFT);
    }
    arch_irq_restore(irq);
    return result;
}

void frame_free(phys_addr_t frame)
{
    uint64_t n = frame.value >> FRAME_SHIFT;
    if (frame.value & (FRAME_SIZE - 1))
        panic("frame: free of 0x%lx, which is not frame-aligned", frame.value);
    check_managed(n, "free");
    /* Free in the pool or already in a cache: a double free either way. The pool
     * bit is read without the lock: only a racing double free could change it. */
    uint64_t was_cached = __atomic_fetch_or(&bitmap.cached[n / BITS], 1ull << (n % BITS),
                                            __ATOMIC_RELAXED);
    if ((was_cached >> (n % BITS)) & 1 || bit_test(bitmap.level0, n))
        panic("frame: double free of frame 0x%lx", frame.value);

    bool irq = arch_irq_save_disable();
    struct frame_cache *cache = &caches[arch_cpu_index()];
    if (cache->count == FRAME_CACHE_SIZE)
        cache_drain(cache, FRAME_CACHE_SIZE - FRAME_CACHE_BATCH);
    cache->frames[cache->count++] = n;
    arch_irq_restore(irq);
}

void frame_drain_cache(void)
{
    bool irq = arch_irq_save_disable();
    cache_drain(&caches[arch_cpu_index()], 0);
    arch_irq_restore(irq);
}

/* ---- contiguous runs ------------------------------------------------------- */

/* The first frame in [start, start + n) that is not free in the pool, or UINT64_MAX. */
static uint64_t first_used_in(uint64_t start, uint64_t n)
{
    for (uint64_t f = start; f < start + n;) {
        if (f % BITS == 0 && start + n - f >= BITS) {
            uint64_t word = bitmap.level0[f / BITS];
            if (word != ~0ull)
                return f + (uint64_t)__builtin_ctzll(~word);
            f += BITS;
            continue;
        }
        if (!bit_test(bitmap.level0, f))
            return f;
        f++;
    }
    return UINT64_MAX;
}

phys_addr_t frame_alloc_run(size_t nframes, size_t align_frames)
{
    if (nframes == 0 || align_frames == 0 || (align_frames & (align_frames - 1)))
        return PHYS_INVALID;
    bool irq = spin_lock(&frame_lock);
    uint64_t found = UINT64_MAX;
    for (uint64_t candidate = 0; candidate + nframes <= bitmap.frame_count;) {
        uint64_t free_at = pool_find_from(candidate);
        if (free_at == UINT64_MAX)
            break;
        uint64_t start = align_up(free_at, align_frames);
        if (start + nframes > bitmap.frame_count)
            break;
        uint64_t used = first_used_in(start, nframes);
        if (used == UINT64_MAX) {
            found = start;
            break;
        }
        candidate = used + 1;
    }
    if (found != UINT64_MAX) {
        for (uint64_t n = found; n < found + nframes; n++)
            pool_set_used(n);
    }
    spin_unlock(&frame_lock, irq);
    return found == UINT64_MAX ? PHYS_INVALID : phys(found << FRAME_SHIFT);
}

void frame_free_run(phys_addr_t first, size_t nframes)
{
    uint64_t start = first.value >> FRAME_SHIFT;
    if (first.value & (FRAME_SIZE - 1))
        panic("frame: free of run 0x%lx, which is not frame-aligned", first.value);
    check_managed(start + nframes - 1, "run free");
    bool irq = spin_lock(&frame_lock);
    for (uint64_t n = start; n < start + nframes; n++) {
        if (bit_test(bitmap.level0, n) || bit_test(bitmap.cached, n))
            panic("frame: double free of frame 0x%lx (in a run of %zu from 0x%lx)",
                  n << FRAME_SHIFT, nframes, first.value);
        pool_set_free(n);
    }
    spin_unlock(&frame_lock, irq);
}

void frame_get_stats(struct frame_stats *out)
{
    bool irq = spin_lock(&frame_lock);
    uint64_t cached = 0;
    for (unsigned cpu = 0; cpu < ARCH_MAX_CPUS; cpu++)
        cached += __atomic_load_n(&caches[cpu].count, __ATOMIC_RELAXED);
    *out = (struct frame_stats){
        .total_frames = total_frames,
        .reserved_frames = reserved_frames,
        .free_frames = pool_free + cached,
        .highest_phys = bitmap.frame_count << FRAME_SHIFT,
    };
    spin_unlock(&frame_lock, irq);
}
