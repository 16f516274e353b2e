#include "mm/paging.h"

#include "arch/mmu.h"
#include "base/panic.h"
#include "lib/printf.h"
#include "lib/string.h"
#include "mm/frame.h"
#include "mm/heap.h"

#define ROOT_LEVEL (ARCH_PT_LEVELS - 1)
#define KERNEL_ROOT_FIRST (ARCH_PT_ENTRIES / 2) /* root entries of the kernel half */

struct address_space kernel_space = {.lock = SPINLOCK_INIT("kernel_space")};

/* Page-table pages allocated, all spaces (atomic). */
static uint64_t table_pages;

/* Set once paging_init has made every kernel root entry; read-only after. */
static bool kernel_roots_done;

/* Device region: the next free address (under kernel_space.lock). */
static uintptr_t device_next;

static uint64_t *table_at(uint64_t phys)
{
    return arch_phys_to_virt(phys);
}

static phys_addr_t table_alloc(void)
{
    phys_addr_t frame = frame_alloc();
    if (phys_is_valid(frame)) {
        memset(table_at(frame.value), 0, FRAME_SIZE);
        __atomic_fetch_add(&table_pages, 1, __ATOMIC_RELAXED);
    }
    return frame;
}

static void table_free(uint64_t table_phys)
{
    __atomic_fetch_sub(&table_pages, 1, __ATOMIC_RELAXED);
    frame_free(phys(table_phys));
}

uint64_t paging_table_pages(void)
{
    return __atomic_load_n(&table_pages, __ATOMIC_RELAXED);
}

/*
 * The one place that decides who must forget a translation. The kernel half:
 * every online CPU (it is shared by all). A user space: the CPUs that have run
 * it (include/arch/asid.h). One INVLPG drops the whole page, whatever its size,
 * and the paging-structure caches of the current tag; so when kernel tables
 * were freed, every tag must go (a CPU may cache them under a user space's tag):
 * a full flush everywhere.
 */
static void tlb_invalidate(struct address_space *as, uintptr_t va, enum page_size size,
                           bool tables_freed)
{
    (void)size;
    if (!arch_va_is_kernel(va))
        arch_space_shootdown(&as->tlb, va);
    else if (tables_freed && arch_mmu_has_pcid())
        arch_tlb_shootdown_all();
    else
        arch_tlb_shootdown(va);
}

/* The kernel half is shared, so its lock is kernel_space's whatever `as` is. */
static struct spinlock *lock_for(struct address_space *as, uintptr_t va)
{
    return arch_va_is_kernel(va) ? &kernel_space.lock : &as->lock;
}

/*
 * The path of a walk: table[level] is the table at that level that the walk went
 * through (table[ROOT_LEVEL] is the root), so &table[l][arch_va_index(va, l)] is
 * va's entry at level l.
 */
struct walk {
    uint64_t *table[ARCH_PT_LEVELS];
    unsigned level; /* the lowest level whose table the walk reached */
};

/*
 * Walks from the root down to the table of level `level` for `va`, creating
 * missing tables when `create`. Returns va's entry in that table, or NULL with
 * *error set: a larger page maps va already, nothing is mapped, or no memory.
 */
static uint64_t *walk_to(struct address_space *as, uintptr_t va, unsigned level, bool create,
                         struct walk *path, int *error)
{
    uint64_t *table = table_at(as->root.value);
    for (unsigned l = ROOT_LEVEL; l > level; l--) {
        path->table[l] = table;
        path->level = l;
        uint64_t *entry = &table[arch_va_index(va, l)];
        if (!arch_pte_present(*entry)) {
            if (!create) {
                *error = PAGING_ERR_NOT_MAPPED;
                return NULL;
            }
            /* The kernel half's root entries all exist from paging_init on (every
             * space shares them): a missing one is outside every kernel region. */
            if (l == ROOT_LEVEL && arch_va_is_kernel(va) && kernel_roots_done) {
                *error = PAGING_ERR_BAD_ADDRESS;
                return NULL;
            }
            phys_addr_t frame = table_alloc();
            if (!phys_is_valid(frame)) {
                *error = PAGING_ERR_NO_MEMORY;
                return NULL;
            }
            *entry = arch_pte_table(frame.value, !arch_va_is_kernel(va));
        } else if (arch_pte_is_leaf(*entry, l)) {
            *error = create ? PAGING_ERR_EXISTS : PAGING_ERR_SIZE_MISMATCH;
            return NULL;
        }
        table = table_at(arch_pte_phys(*entry, l));
    }
    path->table[level] = table;
    path->level = level;
    return &table[arch_va_index(va, level)];
}

/* The index of the first non-zero entry of `table` in [i, end), else end. Eight
 * zero entries cost one test: the tables of a user half are mostly empty, and
 * fork and exit scan them whole. (A zero entry is never present.) */
static unsigned next_nonzero(const uint64_t *table, unsigned i, unsigned end)
{
    for (; i < end && (i & 7); i++) {
        if (table[i])
            return i;
    }
    for (; i + 8 <= end; i += 8) {
        const uint64_t *e = &table[i];
        if (e[0] | e[1] | e[2] | e[3] | e[4] | e[5] | e[6] | e[7])
            break;
    }
    for (; i < end; i++) {
        if (table[i])
            return i;
    }
    return end;
}

static bool table_is_empty(const uint64_t *table)
{
    for (unsigned i = 0; i < ARCH_PT_ENTRIES; i++) {
        if (table[i])
            return false;
    }
    return true;
}

/*
 * After va's entry at `level` was cleared: unlinks each table on the path that is
 * now empty, bottom up. The kernel half keeps the tables the root points to.
 * Returns the physical frames to free after the TLB no longer holds them.
 */
static unsigned prune_empty_tables(uintptr_t va, unsigned level, struct walk *path,
                                   uint64_t freed[ARCH_PT_LEVELS])
{
    unsigned nfreed = 0;
    unsigned top = arch_va_is_kernel(va) ? ROOT_LEVEL - 1 : ROOT_LEVEL;
    for (unsigned l = level; l < top; l++) {
        if (!table_is_empty(path->table[l]))
            break;
        uint64_t *parent_entry = &path->table[l + 1][arch_va_index(va, l + 1)];
        freed[nfreed++] = arch_pte_phys(*parent_entry, l + 1);
        *parent_entry = 0;
    }
    return nfreed;
}

static int check_page(uintptr_t va, uint64_t pa, enum page_size size)
{
    if (size > PAGE_1G)
        return PAGING_ERR_UNSUPPORTED;
    if (size == PAGE_1G && !arch_mmu_has_1g_pages())
        return PAGING_ERR_UNSUPPORTED;
    if (!arch_va_is_canonical(va))
        return PAGING_ERR_BAD_ADDRESS;
    uint64_t mask = page_size_bytes(size) - 1;
    if ((va & mask) || (pa & mask))
        return PAGING_ERR_MISALIGNED;
    /* An entry keeps only the address bits the MMU has: a wider address would
     * silently become another page's. */
    if (arch_pte_phys(arch_pte_leaf(pa, 0, size), size) != pa)
        return PAGING_ERR_BAD_ADDRESS;
    return PAGING_OK;
}

/* The kernel half: no user pages, and never writable and executable at once. */
static int check_flags(uintptr_t va, unsigned flags)
{
    if (!arch_va_is_kernel(va))
        return PAGING_OK;
    if (flags & PAGE_USER)
        return PAGING_ERR_BAD_ADDRESS;
    if ((flags & PAGE_WRITE) && (flags & PAGE_EXEC))
        return PAGING_ERR_WX;
    return PAGING_OK;
}

static int map_once(struct address_space *as, uintptr_t va, phys_addr_t pa, enum page_size size,
                    unsigned flags)
{
    int error = PAGING_OK;
    struct spinlock *lock = lock_for(as, va);
    struct walk path;
    uint64_t freed[ARCH_PT_LEVELS];
    unsigned nfreed = 0;
    bool irq = spin_lock(lock);
    uint64_t *entry = walk_to(as, va, size, true, &path, &error);
    if (entry && arch_pte_present(*entry)) {
        error = PAGING_ERR_EXISTS; /* a page, or a table of smaller pages */
    } else if (entry) {
        *entry = arch_pte_leaf(pa.value, flags, size);
    } else if (error == PAGING_ERR_NO_MEMORY) {
        /* The tables this walk created before running dry are empty: give them back,
         * or they would stay forever (nothing maps there to prune them later). */
        nfreed = prune_empty_tables(va, path.level, &path, freed);
        if (nfreed)
            tlb_invalidate(as, va, size, true);
    }
    spin_unlock(lock, irq);
    for (unsigned i = 0; i < nfreed; i++)
        table_free(freed[i]);
    /* A not-present entry is never cached, so a new mapping needs no flush. */
    return error;
}

int paging_map(struct address_space *as, uintptr_t va, phys_addr_t pa, enum page_size size,
               unsigned flags)
{
    int error = check_page(va, pa.value, size);
    if (error)
        return error;
    error = check_flags(va, flags);
    if (error)
        return error;
    error = map_once(as, va, pa, size, flags);
    /* Short of a frame for a table: the kernel half's kept empty tables are frames
     * too. One trim, one more try. */
    if (error == PAGING_ERR_NO_MEMORY && arch_va_is_kernel(va) && paging_trim() > 0)
        error = map_once(as, va, pa, size, flags);
    return error;
}

/* Finds va's leaf of exactly `size`; NULL with *error otherwise. Lock held. */
static uint64_t *find_leaf(struct address_space *as, uintptr_t va, enum page_size size,
                           struct walk *path, int *error)
{
    uint64_t *entry = walk_to(as, va, size, false, path, error);
    if (!entry)
        return NULL;
    if (!arch_pte_present(*entry)) {
        *error = PAGING_ERR_NOT_MAPPED;
        return NULL;
    }
    if (!arch_pte_is_leaf(*entry, size)) {
        *error = PAGING_ERR_SIZE_MISMATCH; /* smaller pages under a table */
        return NULL;
    }
    return entry;
}

/*
 * Clears va's leaf. In a user half it also unlinks the tables that leaves empty,
 * returning them in freed[] (to be freed once no TLB can hold them); the kernel
 * half keeps them (paging.h: paging_trim). `everywhere`: invalidate on every CPU
 * now (tlb_invalidate); else on this CPU only, the caller flushing the others
 * later (paging_unmap_deferred).
 */
static int unmap_leaf(struct address_space *as, uintptr_t va, enum page_size size,
                      phys_addr_t *old, bool everywhere, uint64_t freed[ARCH_PT_LEVELS],
                      unsigned *nfreed)
{
    *nfreed = 0;
    int error = check_page(va, 0, size);
    if (error)
        return error;
    struct spinlock *lock = lock_for(as, va);
    struct walk path;
    bool irq = spin_lock(lock);
    uint64_t *entry = find_leaf(as, va, size, &path, &error);
    if (entry) {
        if (old)
            *old = phys(arch_pte_phys(*entry, size));
        *entry = 0;
        if (!arch_va_is_kernel(va))
            *nfreed = prune_empty_tables(va, size, &path, freed);
        if (everywhere)
            tlb_invalidate(as, va, size, *nfreed > 0);
        else
            arch_tlb_flush_page(va);
    }
    spin_unlock(lock, irq);
    return error;
}

int paging_unmap(struct address_space *as, uintptr_t va, enum page_size size, phys_addr_t *old)
{
    uint64_t freed[ARCH_PT_LEVELS];
    unsigned nfreed;
    int error = unmap_leaf(as, va, size, old, true, freed, &nfreed);
    for (unsigned i = 0; i < nfreed; i++)
        table_free(freed[i]);
    return error;
}

int paging_unmap_deferred(struct address_space *as, uintptr_t va, enum page_size size,
                          phys_addr_t *old, struct paging_deferred *batch)
{
    if (batch->ntables + ARCH_PT_LEVELS > PAGING_DEFERRED_TABLES)
        return PAGING_ERR_NO_MEMORY; /* the caller flushes the batch first */
    unsigned nfreed;
    int error = unmap_leaf(as, va, size, old, false, &batch->tables[batch->ntables], &nfreed);
    batch->ntables += nfreed;
    return error;
}

void paging_flush_deferred(struct paging_deferred *batch)
{
    arch_tlb_shootdown_all();
    for (unsigned i = 0; i < batch->ntables; i++)
        table_free(batch->tables[i]);
    batch->ntables = 0;
}

/* The 4 KiB leaf entry of kernel address va, walking only when va is outside the
 * leaf table of the last call (*table, which maps from *table_base): a batch of
 * nearby pages costs one walk per 2 MiB. NULL with *error when there is none (and
 * !create). kernel_space's lock held. */
static uint64_t *kernel_leaf_entry(uintptr_t va, bool create, uint64_t **table,
                                   uintptr_t *table_base, int *error)
{
    uintptr_t base = va & ~(((uintptr_t)ARCH_PT_ENTRIES << ARCH_PAGE_SHIFT) - 1);
    if (*table && base == *table_base)
        return &(*table)[arch_va_index(va, 0)];
    struct walk path;
    uint64_t *entry = walk_to(&kernel_space, va, PAGE_4K, create, &path, error);
    if (entry) {
        *table = path.table[0];
        *table_base = base;
    }
    return entry;
}

size_t paging_map_pages(const uintptr_t *va, const phys_addr_t *pa, size_t n, unsigned flags,
                        int *error)
{
    uint64_t *table = NULL;
    uintptr_t table_base = 0;
    size_t done = 0;
    *error = PAGING_OK;
    bool irq = spin_lock(&kernel_space.lock);
    for (; done < n; done++) {
        int e = arch_va_is_kernel(va[done]) ? check_page(va[done], pa[done].value, PAGE_4K)
                                             : PAGING_ERR_BAD_ADDRESS;
        if (!e)
            e = check_flags(va[done], flags);
        uint64_t *entry = e ? NULL : kernel_leaf_entry(va[done], true, &table, &table_base, &e);
        if (entry && arch_pte_present(*entry))
            e = PAGING_ERR_EXISTS;
        if (e) {
            *error = e;
            break;
        }
        *entry = arch_pte_leaf(pa[done].value, flags, PAGE_4K);
    }
    spin_unlock(&kernel_space.lock, irq);
    /* A not-present entry is never cached, so new mappings need no flush. */
    return done;
}

size_t paging_unmap_pages_deferred(const uintptr_t *va, size_t n, phys_addr_t *old)
{
    uint64_t *table = NULL;
    uintptr_t table_base = 0;
    size_t unmapped = 0;
    bool irq = spin_lock(&kernel_space.lock);
    for (size_t i = 0; i < n; i++) {
        int error = arch_va_is_kernel(va[i]) ? check_page(va[i], 0, PAGE_4K)
                                             : PAGING_ERR_BAD_ADDRESS;
        uint64_t *entry =
            error ? NULL : kernel_leaf_entry(va[i], false, &table, &table_base, &error);
        old[i] = PHYS_INVALID;
        if (!entry || !arch_pte_present(*entry))
            continue;
        old[i] = phys(arch_pte_phys(*entry, PAGE_4K));
        *entry = 0;
        arch_tlb_flush_page(va[i]);
        unmapped++;
    }
    spin_unlock(&kernel_space.lock, irq);
    return unmapped;
}

int paging_protect(struct address_space *as, uintptr_t va, enum page_size size, unsigned flags)
{
    int error = check_page(va, 0, size);
    if (error)
        return error;
    error = check_flags(va, flags);
    if (error)
        return error;
    struct spinlock *lock = lock_for(as, va);
    struct walk path;
    bool irq = spin_lock(lock);
    uint64_t *entry = find_leaf(as, va, size, &path, &error);
    if (entry) {
        *entry = arch_pte_leaf(arch_pte_phys(*entry, size), flags, size);
        tlb_invalidate(as, va, size, false);
    }
    spin_unlock(lock, irq);
    return error;
}

int paging_remap(struct address_space *as, uintptr_t va, phys_addr_t pa, unsigned flags,
                 phys_addr_t *old)
{
    int error = check_page(va, pa.value, PAGE_4K);
    if (!error)
        error = check_flags(va, flags);
    if (error)
        return error;
    struct spinlock *lock = lock_for(as, va);
    struct walk path;
    bool irq = spin_lock(lock);
    uint64_t *entry = find_leaf(as, va, PAGE_4K, &path, &error);
    if (entry) {
        if (old)
            *old = phys(arch_pte_phys(*entry, PAGE_4K));
        *entry = arch_pte_leaf(pa.value, flags, PAGE_4K);
        tlb_invalidate(as, va, PAGE_4K, false);
    }
    spin_unlock(lock, irq);
    return error;
}

/* The state of one paging_share_user walk. */
struct share {
    struct address_space *src, *dst;
    uintptr_t start, end;
    paging_share_fn fn;
    void *ctx;
    uint64_t *dst_table; /* dst's level-0 table that maps dst_base (NULL: none yet) */
    uintptr_t dst_base;
    bool src_changed;
};

static void range_indexes(uintptr_t base, unsigned level, uintptr_t start, uintptr_t end,
                          unsigned *first, unsigned *last);

/* Shares the present pages of src's level-0 table `table` (mapping from `base`)
 * with indexes in [first, last): the hot loop, one walk of dst per table. */
static int share_leaves(struct share *s, uint64_t *table, uintptr_t base, unsigned first,
                        unsigned last)
{
    for (unsigned i = next_nonzero(table, first, last); i < last;
         i = next_nonzero(table, i + 1, last)) {
        uint64_t pte = table[i];
        if (!arch_pte_present(pte))
            continue;
        uintptr_t va = base + (uintptr_t)i * ARCH_PAGE_SIZE;
        if (!s->dst_table || base != s->dst_base) {
            struct walk path;
            int error = PAGING_OK;
            if (!walk_to(s->dst, va, 0, true, &path, &error))
                return error;
            s->dst_table = path.table[0];
            s->dst_base = base;
        }
        uint64_t pa = arch_pte_phys(pte, 0);
        unsigned flags = arch_pte_flags(pte);
        unsigned shared_flags = s->fn(s->ctx, va, phys(pa), flags);
        uint64_t shared = shared_flags == flags ? pte : arch_pte_leaf(pa, shared_flags, 0);
        s->dst_table[i] = shared;
        if (shared != pte) {
            table[i] = shared;
            s->src_changed = true;
        }
    }
    return PAGING_OK;
}

/* Shares the 4 KiB pages of src's table `table` (level `level`, mapping from
 * `base`) that lie in [start, end), visiting only the entries that overlap it.
 * src's lock held; dst is private. */
static int share_table(struct share *s, uint64_t *table, unsigned level, uintptr_t base)
{
    unsigned first, last;
    range_indexes(base, level, s->start, s->end, &first, &last);
    if (level == 0)
        return share_leaves(s, table, base, first, last);
    uint64_t span = page_size_bytes((enum page_size)level);
    for (unsigned i = next_nonzero(table, first, last); i < last;
         i = next_nonzero(table, i + 1, last)) {
        if (!arch_pte_present(table[i]))
            continue;
        if (arch_pte_is_leaf(table[i], level))
            return PAGING_ERR_SIZE_MISMATCH; /* user spaces hold 4 KiB pages only */
        int error = share_table(s, table_at(arch_pte_phys(table[i], level)), level - 1,
                                base + i * span);
        if (error)
            return error;
    }
    return PAGING_OK;
}

int paging_share_user(struct address_space *src, struct address_space *dst, uintptr_t start,
                      uintptr_t end, paging_share_fn fn, void *ctx)
{
    if (arch_va_is_kernel(start) || arch_va_is_kernel(end - 1) || start >= end)
        return PAGING_ERR_BAD_ADDRESS;
    struct share s = {.src = src, .dst = dst, .start = start, .end = end, .fn = fn, .ctx = ctx};
    bool irq = spin_lock(&src->lock);
    int error = share_table(&s, table_at(src->root.value), ROOT_LEVEL, 0);
    if (s.src_changed)
        arch_space_shootdown(&src->tlb, ARCH_SHOOTDOWN_ALL);
    spin_unlock(&src->lock, irq);
    return error;
}

/*
 * ---- paging_move_user: IPC's move of pages between live spaces ----
 *
 * Three walks, all under both spaces' locks. The first follows src's tables
 * over the range and makes the destination tables every present page will
 * need (only those: a hole stays without tables); it is the only one that
 * allocates, so running dry there leaves both spaces as they were. The second
 * moves each present entry: a store in dst, a clear in src, the frame's
 * references untouched. The third unlinks the src tables the move emptied,
 * which go back to the frame allocator after the one shootdown of src: until
 * then a CPU's paging-structure cache may still point into them.
 */
struct move {
    struct address_space *src, *dst;
    uintptr_t start, end; /* the source range */
    uintptr_t delta;      /* dst address - src address (modulo 2^64) */
    paging_share_fn fn;
    void *ctx;
    uint64_t *dst_table;  /* the level-0 table of dst that maps dst_base */
    uintptr_t dst_base;
    size_t moved;
};

/* The indexes of the entries of a table (level `level`, mapping from `base`)
 * that overlap [start, end), as [*first, *last). */
static void range_indexes(uintptr_t base, unsigned level, uintptr_t start, uintptr_t end,
                          unsigned *first, unsigned *last)
{
    uint64_t span = page_size_bytes((enum page_size)level);
    *first = start > base ? (unsigned)((start - base) / span) : 0;
    uint64_t reach = end - base; /* end > base: the caller only visits overlapping tables */
    *last = reach >= span * ARCH_PT_ENTRIES ? ARCH_PT_ENTRIES : (unsigned)((reach + span - 1) / span);
}

/* Makes the level-0 table of dst that will hold the page moved from va. */
static int move_make_table(struct move *m, uintptr_t va)
{
    struct walk path;
    int error = PAGING_OK;
    uint64_t *entry = walk_to(m->dst, va + m->delta, 0, true, &path, &error);
    return entry ? PAGING_OK : error;
}

/* The first walk over src's table at `level` (>= 1): dst's tables for every
 * present page; PAGING_ERR_SIZE_MISMATCH for a large page (a user half holds
 * 4 KiB pages only). A level-0 table's present pages in range lie between its
 * first and its last one, which two dst tables at most receive: making the
 * tables of those two makes them all. */
static int move_prepare(struct move *m, uint64_t *table, unsigned level, uintptr_t base)
{
    uint64_t span = page_size_bytes((enum page_size)level);
    unsigned first, last;
    range_indexes(base, level, m->start, m->end, &first, &last);
    for (unsigned i = first; i < last; i++) {
        if (!arch_pte_present(table[i]))
            continue;
        if (arch_pte_is_leaf(table[i], level))
            return PAGING_ERR_SIZE_MISMATCH;
        uintptr_t va = base + i * span;
        uint64_t *child = table_at(arch_pte_phys(table[i], level));
        int error = PAGING_OK;
        if (level > 1) {
            error = move_prepare(m, child, level - 1, va);
        } else {
            unsigned lo, hi;
            range_indexes(va, 0, m->start, m->end, &lo, &hi);
            while (lo < hi && !arch_pte_present(child[lo]))
                lo++;
            while (hi > lo && !arch_pte_present(child[hi - 1]))
                hi--;
            if (lo < hi)
                error = move_make_table(m, va + lo * ARCH_PAGE_SIZE);
            if (!error && lo < hi)
                error = move_make_table(m, va + (hi - 1) * ARCH_PAGE_SIZE);
        }
        if (error)
            return error;
    }
    return PAGING_OK;
}

/* dst's level-0 table for the page moved to dva; made by move_prepare. */
static uint64_t *move_dst_table(struct move *m, uintptr_t dva)
{
    uintptr_t base = dva & ~(uintptr_t)(page_size_bytes(PAGE_2M) - 1);
    if (!m->dst_table || base != m->dst_base) {
        struct walk path;
        int error = PAGING_OK;
        if (!walk_to(m->dst, dva, 0, false, &path, &error))
            panic("paging: move's destination table for 0x%lx is gone (%d)", (unsigned long)dva,
                  error);
        m->dst_table = path.table[0];
        m->dst_base = base;
    }
    return m->dst_table;
}

/* Moves the present pages of src's level-0 table `table` (mapping from `base`)
 * with indexes in [first, last). The hot loop: a store and a clear a page, and
 * an entry rebuilt only when fn changes its flags. */
static void move_leaves(struct move *m, uint64_t *table, uintptr_t base, unsigned first,
                        unsigned last)
{
    for (unsigned i = first; i < last; i++) {
        uint64_t pte = table[i];
        if (!pte || !arch_pte_present(pte))
            continue;
        uintptr_t va = base + (uintptr_t)i * ARCH_PAGE_SIZE, dva = va + m->delta;
        uint64_t *dst_table = move_dst_table(m, dva);
        uint64_t *entry = &dst_table[(dva - m->dst_base) / ARCH_PAGE_SIZE];
        if (*entry) /* never cleared: the caller's range was not free */
            panic("paging: move onto the mapped page 0x%lx", (unsigned long)dva);
        uint64_t pa = arch_pte_phys(pte, 0);
        unsigned flags = arch_pte_flags(pte);
        unsigned new_flags = m->fn(m->ctx, va, phys(pa), flags);
        *entry = new_flags == flags ? pte : arch_pte_leaf(pa, new_flags, 0);
        table[i] = 0;
        m->moved++;
    }
}

/* The second walk: moves the present pages under src's table at `level`. */
static void move_pages(struct move *m, uint64_t *table, unsigned level, uintptr_t base)
{
    uint64_t span = page_size_bytes((enum page_size)level);
    unsigned first, last;
    range_indexes(base, level, m->start, m->end, &first, &last);
    if (level == 0) {
        move_leaves(m, table, base, first, last);
        return;
    }
    for (unsigned i = first; i < last; i++) {
        if (arch_pte_present(table[i]))
            move_pages(m, table_at(arch_pte_phys(table[i], level)), level - 1, base + i * span);
    }
}

/*
 * Unlinks the tables under `table` (level >= 1) over [start, end) that are
 * empty, bottom up, and chains them on *freed through their entry 0 (a table's
 * address is 4 KiB-aligned, so that entry reads not-present to a walker that
 * still caches the table). Returns how many. A user half has no empty table
 * otherwise, so every one found was emptied by the caller.
 */
static size_t prune_range(uint64_t *table, unsigned level, uintptr_t base, uintptr_t start,
                          uintptr_t end, uint64_t *freed)
{
    uint64_t span = page_size_bytes((enum page_size)level);
    unsigned first, last;
    range_indexes(base, level, start, end, &first, &last);
    size_t n = 0;
    for (unsigned i = first; i < last; i++) {
        if (!arch_pte_present(table[i]) || arch_pte_is_leaf(table[i], level))
            continue;
        uint64_t child_phys = arch_pte_phys(table[i], level);
        uint64_t *child = table_at(child_phys);
        if (level > 1)
            n += prune_range(child, level - 1, base + i * span, start, end, freed);
        if (!table_is_empty(child))
            continue;
        table[i] = 0;
        child[0] = *freed;
        *freed = child_phys;
        n++;
    }
    return n;
}

static void free_table_chain(uint64_t chain)
{
    while (chain) {
        uint64_t next = table_at(chain)[0];
        table_at(chain)[0] = 0;
        table_free(chain);
        chain = next;
    }
}

/* A user range: page-aligned, non-empty, in the user half, not wrapping. */
static bool user_range_ok(uintptr_t va, size_t len)
{
    return (va & (ARCH_PAGE_SIZE - 1)) == 0 && len > 0 && (len & (ARCH_PAGE_SIZE - 1)) == 0 &&
           va + len > va && !arch_va_is_kernel(va) && !arch_va_is_kernel(va + len - 1);
}

int paging_move_user(struct address_space *src, uintptr_t src_va, struct address_space *dst,
                     uintptr_t dst_va, size_t len, paging_share_fn fn, void *ctx, size_t *moved)
{
    *moved = 0;
    if (!user_range_ok(src_va, len) || !user_range_ok(dst_va, len))
        return PAGING_ERR_BAD_ADDRESS;
    if (src == dst && src_va < dst_va + len && dst_va < src_va + len)
        return PAGING_ERR_BAD_ADDRESS; /* overlapping ranges of one space */
    struct move m = {.src = src, .dst = dst, .start = src_va, .end = src_va + len,
                     .delta = dst_va - src_va, .fn = fn, .ctx = ctx};
    uint64_t freed = 0;
    bool irq = spin_lock_two(&src->lock, &dst->lock);
    int error = move_prepare(&m, table_at(src->root.value), ROOT_LEVEL, 0);
    if (error) {
        /* The tables made so far are empty: give them back. A CPU running dst may
         * have cached a link to one meanwhile. */
        if (prune_range(table_at(dst->root.value), ROOT_LEVEL, 0, dst_va, dst_va + len, &freed))
            arch_space_shootdown(&dst->tlb, ARCH_SHOOTDOWN_ALL);
    } else {
        move_pages(&m, table_at(src->root.value), ROOT_LEVEL, 0);
        size_t pruned = prune_range(table_at(src->root.value), ROOT_LEVEL, 0, m.start, m.end,
                                    &freed);
        if (m.moved || pruned)
            arch_space_shootdown(&src->tlb, ARCH_SHOOTDOWN_ALL);
    }
    spin_unlock_two(&src->lock, &dst->lock, irq);
    free_table_chain(freed);
    *moved = m.moved;
    return error;
}

bool paging_translate(struct address_space *as, uintptr_t va, struct translation *out)
{
    if (!arch_va_is_canonical(va))
        return false;
    struct spinlock *lock = lock_for(as, va);
    bool irq = spin_lock(lock);
    bool found = paging_translate_unlocked(as, va, out);
    spin_unlock(lock, irq);
    return found;
}

bool paging_translate_unlocked(struct address_space *as, uintptr_t va, struct translation *out)
{
    if (!arch_va_is_canonical(va) || as->root.value == 0)
        return false;
    bool found = false;
    unsigned rights = PAGE_WRITE | PAGE_EXEC | PAGE_USER;
    uint64_t *table = table_at(as->root.value);
    for (int l = ROOT_LEVEL; l >= 0; l--) {
        uint64_t entry = table[arch_va_index(va, (unsigned)l)];
        if (!arch_pte_present(entry))
            break;
        if (arch_pte_is_leaf(entry, (unsigned)l)) {
            uint64_t offset = va & (page_size_bytes((enum page_size)l) - 1);
            unsigned flags = arch_pte_flags(entry);
            *out = (struct translation){
                .pa = phys(arch_pte_phys(entry, (unsigned)l) + offset),
                .size = (enum page_size)l,
                .flags = (flags & ~(PAGE_WRITE | PAGE_EXEC | PAGE_USER)) | (flags & rights),
            };
            found = true;
            break;
        }
        rights &= arch_pte_table_rights(entry);
        table = table_at(arch_pte_phys(entry, (unsigned)l));
    }
    return found;
}

uintptr_t paging_next_present(struct address_space *as, uintptr_t va, uintptr_t end)
{
    if (arch_va_is_kernel(va) || va >= end || as->root.value == 0)
        return end;
    struct spinlock *lock = lock_for(as, va);
    bool irq = spin_lock(lock);
    while (va < end) {
        uint64_t *table = table_at(as->root.value);
        uintptr_t skip_to = 0;
        for (unsigned l = ROOT_LEVEL;; l--) {
            uint64_t entry = table[arch_va_index(va, l)];
            uint64_t span = page_size_bytes((enum page_size)l);
            if (!arch_pte_present(entry)) {
                skip_to = (va & ~(span - 1)) + span; /* the next entry at this level */
                break;
            }
            if (arch_pte_is_leaf(entry, l))
                break;
            table = table_at(arch_pte_phys(entry, l));
        }
        if (!skip_to)
            break;
        va = skip_to > va ? skip_to : end; /* past the top of the half: done */
    }
    spin_unlock(lock, irq);
    return va < end ? va & ~(uintptr_t)(ARCH_PAGE_SIZE - 1) : end;
}

bool paging_is_mapped_unlocked(struct address_space *as, uintptr_t va)
{
    if (!arch_va_is_canonical(va) || as->root.value == 0)
        return false;
    uint64_t *table = table_at(as->root.value);
    for (unsigned l = ROOT_LEVEL;; l--) {
        uint64_t entry = table[arch_va_index(va, l)];
        if (!arch_pte_present(entry))
            return false;
        if (arch_pte_is_leaf(entry, l))
            return true;
        table = table_at(arch_pte_phys(entry, l));
    }
}

/* ---- trimming the kernel half ---------------------------------------------- */

/* The frames of up to this many tables are freed per shootdown; a trim that finds
 * more goes round again. */
#define TRIM_BATCH 64

struct trim {
    uint64_t freed[TRIM_BATCH];
    unsigned nfreed;
};

/*
 * Unlinks the empty tables below `table` (of level `level`, above the 4 KiB
 * level), bottom up, into t->freed until it is full. Returns whether `table`
 * itself is empty now. kernel_space.lock held.
 */
static bool trim_table(uint64_t *table, unsigned level, struct trim *t)
{
    for (unsigned i = 0; i < ARCH_PT_ENTRIES && t->nfreed < TRIM_BATCH; i++) {
        uint64_t entry = table[i];
        if (!arch_pte_present(entry) || arch_pte_is_leaf(entry, level))
            continue;
        uint64_t below = arch_pte_phys(entry, level);
        bool empty = level - 1 == 0 ? table_is_empty(table_at(below))
                                    : trim_table(table_at(below), level - 1, t);
        if (empty && t->nfreed < TRIM_BATCH) {
            table[i] = 0;
            t->freed[t->nfreed++] = below;
        }
    }
    return table_is_empty(table);
}

size_t paging_trim(void)
{
    size_t total = 0;
    for (;;) {
        struct trim t = {.nfreed = 0};
        bool irq = spin_lock(&kernel_space.lock);
        uint64_t *root = table_at(kernel_space.root.value);
        for (unsigned i = KERNEL_ROOT_FIRST; i < ARCH_PT_ENTRIES && t.nfreed < TRIM_BATCH; i++) {
            if (arch_pte_present(root[i]) && !arch_pte_is_leaf(root[i], ROOT_LEVEL))
                trim_table(table_at(arch_pte_phys(root[i], ROOT_LEVEL)), ROOT_LEVEL - 1, &t);
        }
        /* Every CPU may cache the unlinked tables, under any address-space tag. */
        if (t.nfreed)
            arch_tlb_shootdown_all();
        spin_unlock(&kernel_space.lock, irq);
        for (unsigned i = 0; i < t.nfreed; i++)
            table_free(t.freed[i]);
        total += t.nfreed;
        if (t.nfreed < TRIM_BATCH)
            return total;
    }
}

/* ---- address spaces -------------------------------------------------------- */

struct address_space *paging_create_space(void)
{
    struct address_space *as = kmalloc(sizeof(*as));
    if (!as)
        return NULL;
    phys_addr_t root = table_alloc();
    if (!phys_is_valid(root)) {
        kfree(as);
        return NULL;
    }
    *as = (struct address_space){.root = root, .lock = SPINLOCK_INIT("address_space")};
    arch_space_tlb_init(&as->tlb);
    uint64_t *mine = table_at(root.value);
    const uint64_t *kernel_root = table_at(kernel_space.root.value);
    for (unsigned i = KERNEL_ROOT_FIRST; i < ARCH_PT_ENTRIES; i++)
        mine[i] = kernel_root[i];
    return as;
}

/* Frees the tables below `table_phys` (a table of level `level`), handing each
 * page they map to page_fn when it is not NULL. */
static void free_user_tables(uint64_t table_phys, unsigned level, paging_page_fn page_fn,
                             void *ctx)
{
    uint64_t *table = table_at(table_phys);
    for (unsigned i = next_nonzero(table, 0, ARCH_PT_ENTRIES); i < ARCH_PT_ENTRIES;
         i = next_nonzero(table, i + 1, ARCH_PT_ENTRIES)) {
        if (!arch_pte_present(table[i]))
            continue;
        if (arch_pte_is_leaf(table[i], level)) {
            if (page_fn)
                page_fn(ctx, phys(arch_pte_phys(table[i], level)), (enum page_size)level);
        } else {
            free_user_tables(arch_pte_phys(table[i], level), level - 1, page_fn, ctx);
        }
    }
    table_free(table_phys);
}

void paging_destroy_space_pages(struct address_space *as, paging_page_fn page_fn, void *ctx)
{
    KASSERT(as != &kernel_space);
    KASSERT(arch_mmu_root() != as->root.value);
    uint64_t *root = table_at(as->root.value);
    for (unsigned i = next_nonzero(root, 0, KERNEL_ROOT_FIRST); i < KERNEL_ROOT_FIRST;
         i = next_nonzero(root, i + 1, KERNEL_ROOT_FIRST)) {
        if (arch_pte_present(root[i]))
            free_user_tables(arch_pte_phys(root[i], ROOT_LEVEL), ROOT_LEVEL - 1, page_fn, ctx);
    }
    table_free(as->root.value);
    kfree(as);
}

void paging_destroy_space(struct address_space *as)
{
    paging_destroy_space_pages(as, NULL, NULL);
}

void paging_activate(struct address_space *as)
{
    arch_space_switch(as->root.value, &as->tlb);
}

/* ---- the W^X audit ---------------------------------------------------------- */

struct audit {
    paging_wx_report_fn report;
    void *ctx;
    size_t violations;
    unsigned index[ARCH_PT_LEVELS];
};

static void audit_table(struct audit *a, const uint64_t *table, unsigned level, unsigned rights,
                        unsigned first, unsigned end)
{
    for (unsigned i = first; i < end; i++) {
        uint64_t entry = table[i];
        if (!arch_pte_present(entry))
            continue;
        a->index[level] = i;
        if (arch_pte_is_leaf(entry, level)) {
            unsigned effective = arch_pte_flags(entry) & rights;
            if ((effective & PAGE_WRITE) && (effective & PAGE_EXEC)) {
                for (unsigned l = 0; l < level; l++)
                    a->index[l] = 0;
                a->violations++;
                if (a->report)
                    a->report(a->ctx, arch_va_from_indexes(a->index), (enum page_size)level);
            }
        } else {
            audit_table(a, table_at(arch_pte_phys(entry, level)), level - 1,
                        rights & arch_pte_table_rights(entry), 0, ARCH_PT_ENTRIES);
        }
    }
}

size_t paging_audit_wx(struct address_space *as, paging_wx_report_fn report, void *ctx)
{
    struct audit a = {.report = report, .ctx = ctx};
    bool irq = spin_lock(&kernel_space.lock);
    bool irq_user = as == &kernel_space ? false : spin_lock(&as->lock);
    audit_table(&a, table_at(as->root.value), ROOT_LEVEL, PAGE_WRITE | PAGE_EXEC | PAGE_USER, 0,
                ARCH_PT_ENTRIES);
    if (as != &kernel_space)
        spin_unlock(&as->lock, irq_user);
    spin_unlock(&kernel_space.lock, irq);
    return a.violations;
}

/* ---- devices ------------------------------------------------------------------ */

void *paging_map_device(phys_addr_t pa, size_t bytes, unsigned flags)
{
    uint64_t first = pa.value & ~(FRAME_SIZE - 1);
    uint64_t end = (pa.value + bytes + FRAME_SIZE - 1) & ~(FRAME_SIZE - 1);
    if (bytes == 0 || end < first)
        return NULL;
    bool irq = spin_lock(&kernel_space.lock);
    uintptr_t va = device_next;
    bool fits = va + (end - first) <= arch_va_layout.devices.end && va + (end - first) > va;
    if (fits)
        device_next += end - first + FRAME_SIZE; /* an unmapped page between mappings */
    spin_unlock(&kernel_space.lock, irq);
    if (!fits)
        return NULL;
    for (uint64_t off = 0; off < end - first; off += FRAME_SIZE) {
        int error = paging_map(&kernel_space, va + off, phys(first + off), PAGE_4K,
                               (flags & (PAGE_WRITE | PAGE_NOCACHE | PAGE_WRITE_COMBINE)) |
                                   PAGE_GLOBAL);
        if (error) {
            for (uint64_t undo = 0; undo < off; undo += FRAME_SIZE)
                paging_unmap(&kernel_space, va + undo, PAGE_4K, NULL);
            return NULL;
        }
    }
    return (void *)(va + (pa.value - first));
}

/* ---- boot ------------------------------------------------------------------- */

/* Maps [pa, pa + bytes) at va with the largest pages alignment allows. */
static int map_range(uintptr_t va, uint64_t pa, uint64_t bytes, unsigned flags)
{
    while (bytes) {
        enum page_size size = PAGE_4K;
        for (enum page_size s = PAGE_1G; s > PAGE_4K; s--) {
            uint64_t b = page_size_bytes(s);
            if ((s != PAGE_1G || arch_mmu_has_1g_pages()) && !(va & (b - 1)) &&
                !(pa & (b - 1)) && bytes >= b) {
                size = s;
                break;
            }
        }
        int error = paging_map(&kernel_space, va, phys(pa), size, flags);
        if (error)
            return error;
        va += page_size_bytes(size);
        pa += page_size_bytes(size);
        bytes -= page_size_bytes(size);
    }
    return PAGING_OK;
}

struct phys_span {
    uint64_t start, end;
};

/* What the direct map covers: the firmware's low memory, and the memory map's
 * regions (any type below ARCH_PHYS_DEVICE_HOLE_END, only RAM above it),
 * page-rounded, sorted and merged. Returns the number of spans. */
static size_t direct_map_spans(const struct boot_info *info, struct phys_span *spans)
{
    uint64_t limit = arch_va_layout.direct_map.end - arch_va_layout.direct_map.start;
    size_t n = 0;
    spans[n++] = (struct phys_span){0, ARCH_PHYS_LOW_RESERVED_END};
    for (size_t i = 0; i < info->mmap_count; i++) {
        bool ram = info->mmap[i].type == MMAP_USABLE ||
                   info->mmap[i].type == MMAP_ACPI_RECLAIMABLE ||
                   info->mmap[i].type == MMAP_ACPI_NVS;
        if (!ram && info->mmap[i].base_phys >= ARCH_PHYS_DEVICE_HOLE_END)
            continue;
        uint64_t start = info->mmap[i].base_phys & ~(FRAME_SIZE - 1);
        uint64_t end = info->mmap[i].base_phys + info->mmap[i].length_bytes;
        if (end < start || end > limit)
            end = limit;
        end = (end + FRAME_SIZE - 1) & ~(FRAME_SIZE - 1);
        if (start >= end)
            continue;
        size_t j = n++;
        while (j > 0 && spans[j - 1].start > start) {
            spans[j] = spans[j - 1];
            j--;
        }
        spans[j] = (struct phys_span){start, end};
    }
    size_t merged = 0;
    for (size_t i = 0; i < n; i++) {
        if (merged && spans[i].start <= spans[merged - 1].end) {
            if (spans[i].end > spans[merged - 1].end)
                spans[merged - 1].end = spans[i].end;
        } else {
            spans[merged++] = spans[i];
        }
    }
    return merged;
}

static void boot_fail(const char *what, int error)
{
    panic("paging: cannot %s (error %d): not enough memory for page tables?", what, error);
}

static void report_wx(void *ctx, uintptr_t va, enum page_size size)
{
    (void)ctx;
    kprintf("paging: W^X violation: 0x%lx (%lu KiB page) is writable and executable\n", va,
            page_size_bytes(size) >> 10);
}

void paging_init(const struct boot_info *info)
{
    static struct phys_span spans[BOOTINFO_MAX_MMAP + 1];
    arch_mmu_init_this_cpu();
    phys_addr_t root = table_alloc();
    if (!phys_is_valid(root))
        boot_fail("allocate the root table", PAGING_ERR_NO_MEMORY);
    kernel_space.root = root;

    /* Every root entry of a kernel region now, so new spaces can share them. */
    const struct arch_va_region *regions[] = {
        &arch_va_layout.direct_map, &arch_va_layout.heap, &arch_va_layout.stacks,
        &arch_va_layout.devices, &arch_va_layout.kernel_image};
    uint64_t *root_table = table_at(root.value);
    for (size_t r = 0; r < sizeof(regions) / sizeof(regions[0]); r++) {
        unsigned first = arch_va_index(regions[r]->start, ROOT_LEVEL);
        unsigned last = arch_va_index(regions[r]->end - 1, ROOT_LEVEL);
        for (unsigned i = first; i <= last; i++) {
            phys_addr_t table = table_alloc();
            if (!phys_is_valid(table))
                boot_fail("create the kernel's top-level tables", PAGING_ERR_NO_MEMORY);
            root_table[i] = arch_pte_table(table.value, false);
        }
    }
    kernel_roots_done = true;

    size_t nspans = direct_map_spans(info, spans);
    for (size_t i = 0; i < nspans; i++) {
        int error = map_range(arch_va_layout.direct_map.start + spans[i].start, spans[i].start,
                              spans[i].end - spans[i].start, PAGE_WRITE | PAGE_GLOBAL);
        if (error)
            boot_fail("build the direct map", error);
    }
    for (unsigned s = 0; s < ARCH_IMAGE_SECTIONS; s++) {
        const struct arch_image_section *sec = &arch_image_sections[s];
        uintptr_t end = (sec->end + FRAME_SIZE - 1) & ~(uintptr_t)(FRAME_SIZE - 1);
        for (uintptr_t va = sec->start; va < end; va += FRAME_SIZE) {
            int error = paging_map(&kernel_space, va, phys(ARCH_IMAGE_PHYS(va)), PAGE_4K,
                                   sec->page_flags);
            if (error)
                boot_fail("map the kernel image", error);
        }
    }
    device_next = arch_va_layout.devices.start;

    arch_mmu_load_root(kernel_space.root.value);
    arch_tlb_flush_all();
    size_t violations = paging_audit_wx(&kernel_space, report_wx, NULL);
    if (violations)
        panic("paging: %zu pages are both writable and executable", violations);
    kprintf("paging: %zu direct-map spans, %lu table pages, W^X audit clean; %s\n", nspans,
            paging_table_pages(), arch_mmu_features());
}
