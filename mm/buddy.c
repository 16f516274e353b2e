#include "mm/buddy.h"

#include "base/panic.h"
#include "lib/string.h"

#define ARENA_BYTES (1ul << HEAP_MAX_ORDER)
#define ORDER_COUNT (HEAP_MAX_ORDER + 1)

_Static_assert(HEAP_HEADER_BYTES + sizeof(struct buddy_free_node) <= (1u << HEAP_MIN_ORDER),
               "a minimum block must hold a header and a free-list node");
_Static_assert(HEAP_MAX_ORDER < 32, "nonempty_orders is a 32-bit mask");
_Static_assert(BUDDY_MAX_ARENAS % 64 == 0, "mapped_arenas is an array of 64-bit words");

static inline struct buddy_header *header_at(uintptr_t block)
{
    return (struct buddy_header *)block;
}

/* The state field's value for a state: the engine's view (a cached block is a used one). */
static inline uint32_t state_field(enum buddy_block_state state)
{
    return state == BUDDY_CACHED ? BUDDY_USED : state;
}

static inline void header_write(uintptr_t block, unsigned order, enum buddy_block_state state)
{
    struct buddy_header *header = header_at(block);
    header->seal = buddy_seal(block, order, state);
    header->order = order;
    header->state = state_field(state);
}

/* The block at `block` stopped being one (merged into its lower buddy): its old
 * header, left in memory, must never pass for a live block's later. */
static inline void header_erase(uintptr_t block)
{
    struct buddy_header *header = header_at(block);
    header->seal = 0;
    header->order = 0;
    header->state = 0;
}

static inline bool header_is(uintptr_t block, unsigned order, enum buddy_block_state state)
{
    const struct buddy_header *header = header_at(block);
    return header->order == order && header->state == state_field(state) &&
           header->seal == buddy_seal(block, order, state);
}

static inline struct buddy_free_node *node_of(uintptr_t block)
{
    return (struct buddy_free_node *)(block + HEAP_HEADER_BYTES);
}

static inline uintptr_t block_of_node(const struct buddy_free_node *node)
{
    return (uintptr_t)node - HEAP_HEADER_BYTES;
}

static inline bool is_aligned(uintptr_t addr, unsigned order)
{
    return (addr & ((1ul << order) - 1)) == 0;
}

static inline unsigned order_for_size(size_t size)
{
    return buddy_order_for_size(size);
}

/* ---- arena slots ------------------------------------------------------------ */

static inline size_t arena_slot(const struct buddy_heap *heap, uintptr_t addr)
{
    return (addr - heap->region_start) >> HEAP_MAX_ORDER;
}

static inline bool arena_is_mapped(const struct buddy_heap *heap, size_t slot)
{
    return (heap->mapped_arenas[slot / 64] >> (slot % 64)) & 1;
}

static inline bool in_region(const struct buddy_heap *heap, uintptr_t addr)
{
    return addr >= heap->region_start && addr < heap->region_end;
}

/* ---- free lists --------------------------------------------------------------- */

/* Marks `block` free and puts it first on its list, where the next alloc finds it warm. */
static void free_list_push(struct buddy_heap *heap, uintptr_t block, unsigned order)
{
    struct buddy_free_node *head = &heap->free_lists[order];
    struct buddy_free_node *node = node_of(block);
    header_write(block, order, BUDDY_FREE);
    node->prev = head;
    node->next = head->next;
    head->next->prev = node;
    head->next = node;
    heap->nonempty_orders |= 1u << order;
    heap->stats.free_blocks[order]++;
}

/*
 * Unlinks a free block. Its neighbours must point back at it: a write through a stale
 * pointer into a free block lands on its node, and unlinking through damaged links
 * would spread the damage elsewhere.
 */
static void free_list_remove(struct buddy_heap *heap, uintptr_t block, unsigned order)
{
    struct buddy_free_node *node = node_of(block);
    if (node->prev->next != node || node->next->prev != node)
        panic("heap: free block 0x%lx (order %u) has damaged list links (use after free?)",
              (unsigned long)block, order);
    node->prev->next = node->next;
    node->next->prev = node->prev;
    if (heap->free_lists[order].next == &heap->free_lists[order])
        heap->nonempty_orders &= ~(1u << order);
    heap->stats.free_blocks[order]--;
}

/* ---- arenas ---------------------------------------------------------------------- */

/* Asks the source for an arena and files it as one free block of the largest order. */
static bool arena_add(struct buddy_heap *heap)
{
    void *arena = heap->source.map_arena(heap->source.ctx);
    if (!arena)
        return false;
    uintptr_t base = (uintptr_t)arena;
    if (!is_aligned(base, HEAP_MAX_ORDER) || !in_region(heap, base) ||
        arena_is_mapped(heap, arena_slot(heap, base)))
        panic("heap: arena source returned 0x%lx, not a free 2 MiB slot of [0x%lx, 0x%lx)",
              (unsigned long)base, (unsigned long)heap->region_start,
              (unsigned long)heap->region_end);
    size_t slot = arena_slot(heap, base);
    heap->mapped_arenas[slot / 64] |= 1ul << (slot % 64);
    heap->stats.arenas++;
    free_list_push(heap, base, HEAP_MAX_ORDER);
    return true;
}

static void arena_release(struct buddy_heap *heap, uintptr_t base)
{
    size_t slot = arena_slot(heap, base);
    heap->mapped_arenas[slot / 64] &= ~(1ul << (slot % 64));
    heap->stats.arenas--;
    heap->source.unmap_arena(heap->source.ctx, (void *)base);
}

/* ---- public operations ---------------------------------------------------------- */

bool buddy_init(struct buddy_heap *heap, struct arena_source source, uintptr_t region_start,
                uintptr_t region_end)
{
    KASSERT(is_aligned(region_start, HEAP_MAX_ORDER) && is_aligned(region_end, HEAP_MAX_ORDER));
    KASSERT(region_start < region_end);
    KASSERT((region_end - region_start) / ARENA_BYTES <= BUDDY_MAX_ARENAS);
    memset(heap, 0, sizeof(*heap));
    heap->source = source;
    heap->region_start = region_start;
    heap->region_end = region_end;
    heap->region_min_blocks = (region_end - region_start) >> HEAP_MIN_ORDER;
    for (unsigned order = 0; order < ORDER_COUNT; order++) {
        heap->free_lists[order].prev = &heap->free_lists[order];
        heap->free_lists[order].next = &heap->free_lists[order];
    }
    return arena_add(heap);
}

void *buddy_alloc(struct buddy_heap *heap, size_t size, uintptr_t caller)
{
    if (size > HEAP_MAX_ALLOC_BYTES)
        return NULL;
    unsigned order = order_for_size(size);
    uint32_t candidates = heap->nonempty_orders >> order << order;
    if (candidates == 0) {
        if (!arena_add(heap))
            return NULL;
        candidates = 1u << HEAP_MAX_ORDER;
    }
    unsigned found = (unsigned)__builtin_ctz(candidates);
    uintptr_t block = block_of_node(heap->free_lists[found].next);
    if (!header_is(block, found, BUDDY_FREE))
        panic("heap: free block 0x%lx on the order %u list has a damaged header "
              "(found by an alloc from 0x%lx; use after free?)",
              (unsigned long)block, found, (unsigned long)caller);
    free_list_remove(heap, block, found);
    /* Split: the upper half of each level goes back on the list of its order. */
    while (found > order) {
        found--;
        free_list_push(heap, block + (1ul << found), found);
    }
    header_write(block, order, BUDDY_USED);
    heap->stats.blocks_in_use++;
    heap->stats.bytes_in_use += 1ul << order;
    return (void *)(block + HEAP_HEADER_BYTES);
}

/*
 * The order of the live block behind `ptr`, or a panic naming what is wrong with it.
 * Checks cheapest first and never reads memory outside a mapped arena: region bounds,
 * alignment to the smallest block, the arena slot, then the header itself.
 */
static unsigned live_block_order(const struct buddy_heap *heap, const void *ptr, uintptr_t caller,
                                 const char *operation)
{
    uintptr_t addr = (uintptr_t)ptr, block = addr - HEAP_HEADER_BYTES;
    if (addr < heap->region_start + HEAP_HEADER_BYTES || addr >= heap->region_end)
        panic("heap: %s of 0x%lx from 0x%lx: not a heap pointer (outside the heap region)",
              operation, (unsigned long)addr, (unsigned long)caller);
    if (!is_aligned(block, HEAP_MIN_ORDER))
        panic("heap: %s of 0x%lx from 0x%lx: not a pointer the heap returned (misaligned)",
              operation, (unsigned long)addr, (unsigned long)caller);
    if (!arena_is_mapped(heap, arena_slot(heap, block)))
        panic("heap: %s of 0x%lx from 0x%lx: not a pointer the heap returned (its arena is "
              "not mapped)",
              operation, (unsigned long)addr, (unsigned long)caller);
    const struct buddy_header *header = header_at(block);
    unsigned order = header->order;
    bool order_fits =
        order >= HEAP_MIN_ORDER && order <= HEAP_MAX_ORDER && is_aligned(block, order);
    if (order_fits && header_is(block, order, BUDDY_USED))
        return order;
    if (order_fits && (header_is(block, order, BUDDY_FREE) || header_is(block, order, BUDDY_CACHED)))
        panic("heap: %s of 0x%lx (order %u) from 0x%lx: the block is already free "
              "(double free?)",
              operation, (unsigned long)addr, order, (unsigned long)caller);
    if (order_fits && (header->state == BUDDY_USED || header->state == BUDDY_FREE))
        panic("heap: %s of 0x%lx (order %u) from 0x%lx: damaged header (seal 0x%lx)", operation,
              (unsigned long)addr, order, (unsigned long)caller, (unsigned long)header->seal);
    panic("heap: %s of 0x%lx from 0x%lx: not a pointer the heap returned, or its header is "
          "damaged (order %u, state 0x%x)",
          operation, (unsigned long)addr, (unsigned long)caller, order, header->state);
}

void buddy_free(struct buddy_heap *heap, void *ptr, uintptr_t caller)
{
    if (!ptr)
        return;
    uintptr_t block = (uintptr_t)ptr - HEAP_HEADER_BYTES;
    unsigned order = live_block_order(heap, ptr, caller, "free");
    heap->stats.blocks_in_use--;
    heap->stats.bytes_in_use -= 1ul << order;
    /*
     * Buddies of order k differ only in bit k of their offset in the arena; arenas are
     * aligned to 2^HEAP_MAX_ORDER, so that is also bit k of the address. The buddy's
     * address always starts a block (the buddy itself, or the first piece of it), so
     * its header is real; merge while it says "free, same order".
     */
    while (order < HEAP_MAX_ORDER) {
        uintptr_t buddy = block ^ (1ul << order);
        const struct buddy_header *buddy_header = header_at(buddy);
        if (buddy_header->state != BUDDY_FREE || buddy_header->order != order)
            break;
        if (buddy_header->seal != buddy_seal(buddy, order, BUDDY_FREE))
            panic("heap: free of 0x%lx from 0x%lx: its buddy 0x%lx (order %u) has a damaged "
                  "header",
                  (unsigned long)ptr, (unsigned long)caller, (unsigned long)buddy, order);
        free_list_remove(heap, buddy, order);
        header_erase(block | (1ul << order)); /* the upper half is no block any more */
        block &= ~(1ul << order);
        order++;
    }
    /* A wholly free arena goes back, unless it is the only one. */
    if (order == HEAP_MAX_ORDER && heap->stats.arenas > 1) {
        arena_release(heap, block);
        return;
    }
    free_list_push(heap, block, order);
}

/* ---- front caches ---------------------------------------------------------------- */

#define KEYS(state)                                                                        \
    {BUDDY_SEAL_KEY(0, state),  BUDDY_SEAL_KEY(1, state),  BUDDY_SEAL_KEY(2, state),        \
     BUDDY_SEAL_KEY(3, state),  BUDDY_SEAL_KEY(4, state),  BUDDY_SEAL_KEY(5, state),        \
     BUDDY_SEAL_KEY(6, state),  BUDDY_SEAL_KEY(7, state),  BUDDY_SEAL_KEY(8, state),        \
     BUDDY_SEAL_KEY(9, state),  BUDDY_SEAL_KEY(10, state), BUDDY_SEAL_KEY(11, state),       \
     BUDDY_SEAL_KEY(12, state), BUDDY_SEAL_KEY(13, state), BUDDY_SEAL_KEY(14, state),       \
     BUDDY_SEAL_KEY(15, state), BUDDY_SEAL_KEY(16, state), BUDDY_SEAL_KEY(17, state),       \
     BUDDY_SEAL_KEY(18, state), BUDDY_SEAL_KEY(19, state), BUDDY_SEAL_KEY(20, state),       \
     BUDDY_SEAL_KEY(21, state)}
_Static_assert(HEAP_MAX_ORDER == 21, "KEYS lists orders 0..21");
const uint64_t buddy_used_keys[HEAP_MAX_ORDER + 1] = KEYS(BUDDY_USED);
const uint64_t buddy_cached_keys[HEAP_MAX_ORDER + 1] = KEYS(BUDDY_CACHED);

/* Index (size + 15) / 16: sizes 16k-15..16k share an order (16 | the header). */
#define SMALL_ORDER(i) ((i) <= 1 ? HEAP_MIN_ORDER : 64 - __builtin_clzl((i) * 16 + HEAP_HEADER_BYTES - 1))
const uint8_t buddy_small_orders[(BUDDY_CACHE_MAX_BYTES + 15) / 16 + 1] = {
#define O4(i) SMALL_ORDER(i), SMALL_ORDER((i) + 1), SMALL_ORDER((i) + 2), SMALL_ORDER((i) + 3)
#define O16(i) O4(i), O4((i) + 4), O4((i) + 8), O4((i) + 12)
#define O64(i) O16(i), O16((i) + 16), O16((i) + 32), O16((i) + 48)
    O64(0), O64(64), O64(128), O64(192), O64(256), O64(320), O64(384), O64(448),
#undef O64
#undef O16
#undef O4
};
_Static_assert(sizeof(buddy_small_orders) == 512, "one order per 16 bytes up to 8 KiB");

static __attribute__((noreturn)) void cache_damaged(uintptr_t block, unsigned order)
{
    panic("heap: cached block 0x%lx (order %u) has a damaged header (use after free?)",
          (unsigned long)block, order);
}

void buddy_cache_check_head(const struct buddy_cache *cache, size_t order)
{
    uintptr_t block = cache->heads[order] - HEAP_HEADER_BYTES;
    if (cache->heads[order] != BUDDY_CACHE_END && !header_is(block, order, BUDDY_CACHED))
        cache_damaged(block, (unsigned)order);
}

const struct buddy_header buddy_cache_end = {.seal = 0};

void buddy_cache_full(struct buddy_cache *cache, void *ptr)
{
    uint32_t order = buddy_header_of(ptr)->order;
    KASSERT(order <= BUDDY_CACHE_MAX_ORDER && cache->rooms[order] == -1);
    cache->rooms[order] = 0;
}

void buddy_cache_init(struct buddy_cache *cache, const struct buddy_heap *engine)
{
    memset(cache, 0, sizeof(*cache));
    cache->engine = engine;
    for (unsigned order = 0; order <= BUDDY_CACHE_MAX_ORDER; order++) {
        KASSERT(buddy_cache_end.seal != (BUDDY_CACHE_END ^ buddy_cached_keys[order]));
        cache->heads[order] = BUDDY_CACHE_END;
        if (order >= HEAP_MIN_ORDER)
            cache->rooms[order] = BUDDY_CACHE_LIMIT(order);
    }
}

void buddy_cache_drain(struct buddy_heap *heap, struct buddy_cache *cache)
{
    KASSERT(cache->engine == heap);
    for (unsigned order = HEAP_MIN_ORDER; order <= BUDDY_CACHE_MAX_ORDER; order++) {
        while (cache->heads[order] != BUDDY_CACHE_END) {
            uintptr_t block = cache->heads[order] - HEAP_HEADER_BYTES;
            if (!header_is(block, order, BUDDY_CACHED))
                cache_damaged(block, order);
            cache->heads[order] = *(uintptr_t *)(block + HEAP_HEADER_BYTES);
            cache->rooms[order]++;
            header_write(block, order, BUDDY_USED);
            buddy_free(heap, (void *)(block + HEAP_HEADER_BYTES), 0);
        }
    }
}

size_t buddy_usable_size(struct buddy_heap *heap, void *ptr, uintptr_t caller)
{
    unsigned order = live_block_order(heap, ptr, caller, "usable_size");
    return (1ul << order) - HEAP_HEADER_BYTES;
}

/* ---- consistency check ----------------------------------------------------------- */

/* Checks that a free-list node may be dereferenced: a minimum-block slot of a mapped arena. */
static void check_node_address(const struct buddy_heap *heap, const struct buddy_free_node *node,
                               unsigned order)
{
    uintptr_t block = block_of_node(node);
    if (!in_region(heap, block) || !is_aligned(block, order) ||
        !arena_is_mapped(heap, arena_slot(heap, block)))
        panic("heap check: order %u free list links to 0x%lx, not a block of a mapped arena", order,
              (unsigned long)node);
}

static void check_free_list(const struct buddy_heap *heap, unsigned order)
{
    const struct buddy_free_node *head = &heap->free_lists[order];
    const struct buddy_free_node *prev = head;
    size_t count = 0;
    for (const struct buddy_free_node *node = head->next; node != head; node = node->next) {
        if (++count > heap->stats.free_blocks[order])
            panic("heap check: order %u free list is longer than its count %zu (a cycle?)", order,
                  heap->stats.free_blocks[order]);
        check_node_address(heap, node, order);
        uintptr_t block = block_of_node(node);
        if (!header_is(block, order, BUDDY_FREE))
            panic("heap check: free block 0x%lx on the order %u list has a damaged header",
                  (unsigned long)block, order);
        if (node->prev != prev)
            panic("heap check: free block 0x%lx (order %u) has a broken back link",
                  (unsigned long)block, order);
        prev = node;
    }
    if (head->prev != prev)
        panic("heap check: order %u free list sentinel has a broken back link", order);
    if (count != heap->stats.free_blocks[order])
        panic("heap check: order %u free list holds %zu blocks, stats say %zu", order, count,
              heap->stats.free_blocks[order]);
    bool nonempty = (heap->nonempty_orders >> order) & 1;
    if (nonempty != (count != 0))
        panic("heap check: order %u non-empty bit is %d with %zu free blocks", order, (int)nonempty,
              count);
}

struct block_census {
    size_t free_blocks[ORDER_COUNT];
    size_t used_blocks, used_bytes, arenas;
};

/* Walks one arena block by block: every block starts with a valid header. */
static void check_arena(const struct buddy_heap *heap, uintptr_t base, struct block_census *census)
{
    for (uintptr_t block = base; block < base + ARENA_BYTES;) {
        const struct buddy_header *header = header_at(block);
        unsigned order = header->order;
        if (order < HEAP_MIN_ORDER || order > HEAP_MAX_ORDER || !is_aligned(block, order))
            panic("heap check: block 0x%lx has a damaged header (order %u)", (unsigned long)block,
                  order);
        if (header_is(block, order, BUDDY_USED) || header_is(block, order, BUDDY_CACHED)) {
            census->used_blocks++;
            census->used_bytes += 1ul << order;
        } else if (header_is(block, order, BUDDY_FREE)) {
            census->free_blocks[order]++;
            uintptr_t buddy = block ^ (1ul << order);
            if (order < HEAP_MAX_ORDER && header_is(buddy, order, BUDDY_FREE))
                panic("heap check: free buddies 0x%lx and 0x%lx (order %u) not merged",
                      (unsigned long)block, (unsigned long)buddy, order);
            if (order == HEAP_MAX_ORDER && heap->stats.arenas > 1)
                panic("heap check: arena 0x%lx is wholly free but %zu arenas are mapped",
                      (unsigned long)block, heap->stats.arenas);
        } else {
            panic("heap check: block 0x%lx (order %u) has a damaged header (seal 0x%lx)",
                  (unsigned long)block, order, (unsigned long)header->seal);
        }
        block += 1ul << order;
    }
    census->arenas++;
}

void buddy_check(struct buddy_heap *heap)
{
    for (unsigned order = 0; order < ORDER_COUNT; order++)
        check_free_list(heap, order);
    struct block_census census = {0};
    size_t slots = (heap->region_end - heap->region_start) / ARENA_BYTES;
    for (size_t word = 0; word * 64 < slots; word++) {
        for (uint64_t bits = heap->mapped_arenas[word]; bits; bits &= bits - 1) {
            size_t slot = word * 64 + (size_t)__builtin_ctzl(bits);
            check_arena(heap, heap->region_start + slot * ARENA_BYTES, &census);
        }
    }
    const struct heap_stats *stats = &heap->stats;
    if (census.arenas != stats->arenas || census.arenas == 0)
        panic("heap check: %zu arenas mapped, stats say %zu", census.arenas, stats->arenas);
    if (census.used_blocks != stats->blocks_in_use || census.used_bytes != stats->bytes_in_use)
        panic("heap check: %zu blocks (%zu bytes) in use, stats say %zu (%zu bytes)",
              census.used_blocks, census.used_bytes, stats->blocks_in_use, stats->bytes_in_use);
    for (unsigned order = 0; order < ORDER_COUNT; order++) {
        if (census.free_blocks[order] != stats->free_blocks[order])
            panic("heap check: %zu free blocks of order %u in the arenas, %zu on the list",
                  census.free_blocks[order], order, stats->free_blocks[order]);
    }
}
