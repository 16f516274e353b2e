/*
 * User address spaces: regions, demand paging, brk. include/mm/vmspace.h has the
 * model. The region list is sorted and short (a static program has a handful of
 * segments, its heap, its stack and its mmaps), so a linear walk is the right
 * structure until a process has hundreds of mappings.
 */
#include "mm/vmspace.h"

#include "base/panic.h"
#include "lib/errno.h"
#include "lib/string.h"
#include "mm/frame.h"
#include "mm/frame_ref.h"
#include "mm/heap.h"

/* mmap searches downwards from here: below the stack and its guard gap. */
#define MMAP_TOP 0x7ff000000000ull

static uintptr_t page_down(uintptr_t va)
{
    return va & ~(uintptr_t)(VMSPACE_PAGE - 1);
}

static uintptr_t page_up(uintptr_t va)
{
    return (va + VMSPACE_PAGE - 1) & ~(uintptr_t)(VMSPACE_PAGE - 1);
}

/* A PROT_NONE page keeps its frame but becomes a supervisor page: x86 has no
 * present page the user cannot read, and a not-present one would lose the
 * contents that mprotect back to PROT_READ must find again. (A kernel copy into
 * it succeeds, where Linux would say EFAULT.) */
static unsigned page_flags(unsigned prot)
{
    if (prot == 0)
        return 0;
    return PAGE_USER | (prot & VM_WRITE ? PAGE_WRITE : 0) | (prot & VM_EXEC ? PAGE_EXEC : 0);
}

/* A user range: page-aligned start, non-empty, inside the user window, not wrapping. */
static bool range_ok(uintptr_t va, size_t len)
{
    return (va & (VMSPACE_PAGE - 1)) == 0 && len > 0 && va >= VMSPACE_USER_MIN &&
           va < VMSPACE_USER_END && len <= VMSPACE_USER_END - va;
}

struct vmspace *vmspace_create(void)
{
    struct vmspace *vs = kmalloc(sizeof(*vs));
    if (!vs)
        return NULL;
    *vs = (struct vmspace){.lock = SPINLOCK_INIT("vmspace"), .mmap_top = MMAP_TOP, .refs = 1};
    vs->as = paging_create_space();
    if (!vs->as) {
        kfree(vs);
        return NULL;
    }
    return vs;
}

/* One mapping of `frame` goes: the last one frees it. */
static void release_frame(phys_addr_t frame)
{
    if (frame_ref_release(frame))
        frame_free(frame);
}

static void free_page(void *ctx, phys_addr_t pa, enum page_size size)
{
    (void)ctx;
    KASSERT(size == PAGE_4K);
    release_frame(pa);
}

void vmspace_destroy(struct vmspace *vs)
{
    paging_destroy_space_pages(vs->as, free_page, NULL);
    while (vs->vmas) {
        struct vma *v = vs->vmas;
        vs->vmas = v->next;
        kfree(v);
    }
    kfree(vs);
}

void vmspace_get(struct vmspace *vs)
{
    __atomic_fetch_add(&vs->refs, 1, __ATOMIC_RELAXED);
}

void vmspace_put(struct vmspace *vs)
{
    if (__atomic_sub_fetch(&vs->refs, 1, __ATOMIC_ACQ_REL) == 0)
        vmspace_destroy(vs);
}

/* ---- regions (lock held) ------------------------------------------------------- */

static struct vma *find_vma_locked(struct vmspace *vs, uintptr_t va)
{
    for (struct vma *v = vs->vmas; v && v->start <= va; v = v->next) {
        if (va < v->end)
            return v;
    }
    return NULL;
}

/* Makes `at` a region boundary if a region spans it. -ENOMEM without a node. */
static int split_at_locked(struct vmspace *vs, uintptr_t at)
{
    struct vma *v = find_vma_locked(vs, at);
    if (!v || v->start == at)
        return 0;
    struct vma *upper = kmalloc(sizeof(*upper));
    if (!upper)
        return -ENOMEM;
    *upper = *v;
    upper->start = at;
    v->end = at;
    v->next = upper;
    return 0;
}

static bool same_image(const struct vma_image *a, const struct vma_image *b)
{
    return a->bytes == b->bytes && a->start == b->start && a->end == b->end;
}

/* Joins neighbours that touch and share a protection (and a file end, and an
 * image: the pieces of one split region). */
static void merge_locked(struct vmspace *vs)
{
    for (struct vma *v = vs->vmas; v && v->next;) {
        struct vma *n = v->next;
        if (v->end == n->start && v->prot == n->prot && v->bus_from == n->bus_from &&
            v->shared == n->shared && v->no_prot == n->no_prot &&
            same_image(&v->image, &n->image)) {
            v->end = n->end;
            v->next = n->next;
            kfree(n);
        } else {
            v = n;
        }
    }
}

static void insert_locked(struct vmspace *vs, struct vma *node)
{
    struct vma **link = &vs->vmas;
    while (*link && (*link)->start < node->start)
        link = &(*link)->next;
    node->next = *link;
    *link = node;
    merge_locked(vs);
}

static bool overlaps_locked(struct vmspace *vs, uintptr_t start, uintptr_t end)
{
    for (struct vma *v = vs->vmas; v && v->start < end; v = v->next) {
        if (v->end > start)
            return true;
    }
    return false;
}

/* Unmaps and frees the populated pages of [start, end). */
static void drop_pages_locked(struct vmspace *vs, uintptr_t start, uintptr_t end)
{
    for (uintptr_t va = paging_next_present(vs->as, start, end); va < end;
         va = paging_next_present(vs->as, va + VMSPACE_PAGE, end)) {
        phys_addr_t old;
        if (paging_unmap(vs->as, va, PAGE_4K, &old) == PAGING_OK) {
            release_frame(old);
            vs->resident_pages--;
        }
    }
}

static int unmap_locked(struct vmspace *vs, uintptr_t start, uintptr_t end)
{
    int error = split_at_locked(vs, start);
    if (!error)
        error = split_at_locked(vs, end);
    if (error)
        return error;
    struct vma **link = &vs->vmas;
    while (*link) {
        struct vma *v = *link;
        if (v->start >= start && v->end <= end) {
            drop_pages_locked(vs, v->start, v->end);
            *link = v->next;
            kfree(v);
        } else {
            link = &v->next;
        }
    }
    return 0;
}

/* The highest gap of len bytes below mmap_top, or 0. */
static uintptr_t find_gap_locked(struct vmspace *vs, size_t len)
{
    uintptr_t best = 0, gap_start = VMSPACE_USER_MIN;
    for (struct vma *v = vs->vmas;; v = v->next) {
        uintptr_t gap_end = v ? v->start : VMSPACE_USER_END;
        if (gap_end > vs->mmap_top)
            gap_end = vs->mmap_top;
        if (gap_end > gap_start && gap_end - gap_start >= len)
            best = gap_end - len;
        if (!v || v->end >= vs->mmap_top)
            break;
        if (v->end > gap_start)
            gap_start = v->end;
    }
    return best;
}

static int map_region(struct vmspace *vs, uintptr_t *va, size_t len, unsigned prot,
                      unsigned flags, size_t file_bytes, const struct vma_image *image)
{
    if ((prot & VM_WRITE) && (prot & VM_EXEC))
        return -EACCES;
    if (prot & ~(VM_READ | VM_WRITE | VM_EXEC))
        return -EINVAL;
    if (len == 0 || len > VMSPACE_USER_END)
        return -EINVAL;
    len = page_up(len);
    struct vma *node = kmalloc(sizeof(*node));
    if (!node)
        return -ENOMEM;
    bool irq = spin_lock(&vs->lock);
    int error = 0;
    uintptr_t start = *va;
    if (flags & VMSPACE_NOREPLACE) {
        error = !range_ok(start, len)                       ? -EINVAL
                : overlaps_locked(vs, start, start + len) ? -EEXIST
                                                          : 0;
    } else if (flags & VMSPACE_FIXED) {
        error = range_ok(start, len) ? unmap_locked(vs, start, start + len) : -EINVAL;
    } else {
        start = find_gap_locked(vs, len);
        if (!start)
            error = -ENOMEM;
    }
    if (!error) {
        uintptr_t file_end = file_bytes < len ? start + page_up(file_bytes) : 0;
        *node = (struct vma){.start = start,
                             .end = start + len,
                             .prot = prot,
                             .bus_from = file_end < start + len ? file_end : 0,
                             .image = image && image->start < image->end
                                          ? *image
                                          : (struct vma_image){0}};
        insert_locked(vs, node);
        *va = start;
    }
    spin_unlock(&vs->lock, irq);
    if (error)
        kfree(node);
    return error;
}

int vmspace_map(struct vmspace *vs, uintptr_t *va, size_t len, unsigned prot, unsigned flags)
{
    return map_region(vs, va, len, prot, flags, SIZE_MAX, NULL);
}

int vmspace_map_file(struct vmspace *vs, uintptr_t *va, size_t len, unsigned prot,
                     unsigned flags, size_t file_bytes)
{
    return map_region(vs, va, len, prot, flags, file_bytes, NULL);
}

int vmspace_map_image(struct vmspace *vs, uintptr_t va, size_t len, unsigned prot,
                      const struct vma_image *image)
{
    if (image->start > image->end || image->start < va || len > UINTPTR_MAX - va ||
        image->end > va + len || (!image->bytes && image->start != image->end))
        return -EINVAL;
    return map_region(vs, &va, len, prot, VMSPACE_FIXED, SIZE_MAX, image);
}

bool vmspace_is_past_file_end(struct vmspace *vs, uintptr_t va)
{
    if (va < VMSPACE_USER_MIN || va >= VMSPACE_USER_END)
        return false;
    bool irq = spin_lock(&vs->lock);
    struct vma *v = find_vma_locked(vs, va);
    bool past = v && v->bus_from && va >= v->bus_from;
    spin_unlock(&vs->lock, irq);
    return past;
}

int vmspace_unmap(struct vmspace *vs, uintptr_t va, size_t len)
{
    if (len == 0 || (va & (VMSPACE_PAGE - 1)) || len > VMSPACE_USER_END ||
        va >= VMSPACE_USER_END || page_up(len) > VMSPACE_USER_END - va)
        return -EINVAL;
    bool irq = spin_lock(&vs->lock);
    int error = unmap_locked(vs, va, va + page_up(len));
    spin_unlock(&vs->lock, irq);
    return error;
}

/* Is [start, end) wholly inside regions? */
static bool covered_locked(struct vmspace *vs, uintptr_t start, uintptr_t end)
{
    uintptr_t at = start;
    for (struct vma *v = vs->vmas; v && at < end; v = v->next) {
        if (v->end <= at)
            continue;
        if (v->start > at)
            return false;
        at = v->end;
    }
    return at >= end;
}

/* The page flags for `frame` in region v with `prot`: a frame still shared
 * after fork stays read-only (its first write copies it), unless the region
 * shares it on purpose. */
static unsigned frame_flags(const struct vma *v, unsigned prot, phys_addr_t frame)
{
    unsigned flags = page_flags(prot);
    if (!v->shared && frame_ref_is_shared(frame))
        flags &= ~PAGE_WRITE;
    return flags;
}

/* Gives a populated page at va of region v the rights of `prot`. */
static void protect_page_locked(struct vmspace *vs, struct vma *v, uintptr_t va, unsigned prot)
{
    struct translation tr;
    if (!paging_translate(vs->as, va, &tr))
        return;
    unsigned flags = frame_flags(v, prot, phys(tr.pa.value & ~(VMSPACE_PAGE - 1)));
    (void)paging_protect(vs->as, va, PAGE_4K, flags);
}

int vmspace_protect(struct vmspace *vs, uintptr_t va, size_t len, unsigned prot)
{
    if ((prot & VM_WRITE) && (prot & VM_EXEC))
        return -EACCES;
    if ((prot & ~(VM_READ | VM_WRITE | VM_EXEC)) || (va & (VMSPACE_PAGE - 1)))
        return -EINVAL;
    if (len == 0)
        return 0;
    if (va < VMSPACE_USER_MIN || va >= VMSPACE_USER_END || page_up(len) > VMSPACE_USER_END - va)
        return -ENOMEM;
    uintptr_t end = va + page_up(len);
    bool irq = spin_lock(&vs->lock);
    int error = covered_locked(vs, va, end) ? 0 : -ENOMEM;
    for (struct vma *v = vs->vmas; !error && v && v->start < end; v = v->next) {
        if (v->end > va && (prot & v->no_prot))
            error = -EACCES;
    }
    if (!error)
        error = split_at_locked(vs, va);
    if (!error)
        error = split_at_locked(vs, end);
    for (struct vma *v = vs->vmas; !error && v && v->start < end; v = v->next) {
        if (v->start < va)
            continue;
        v->prot = prot;
        for (uintptr_t p = paging_next_present(vs->as, v->start, v->end); p < v->end;
             p = paging_next_present(vs->as, p + VMSPACE_PAGE, v->end))
            protect_page_locked(vs, v, p, prot); /* populated pages take the new rights */
    }
    if (!error)
        merge_locked(vs);
    spin_unlock(&vs->lock, irq);
    return error;
}

int vmspace_advise(struct vmspace *vs, uintptr_t va, size_t len, bool discard)
{
    if ((va & (VMSPACE_PAGE - 1)) || len > UINTPTR_MAX - va - VMSPACE_PAGE)
        return -EINVAL;
    if (len == 0)
        return 0;
    uintptr_t end = va + page_up(len);
    if (va < VMSPACE_USER_MIN || end > VMSPACE_USER_END)
        return -ENOMEM;
    bool irq = spin_lock(&vs->lock);
    int error = covered_locked(vs, va, end) ? 0 : -ENOMEM;
    if (discard)
        drop_pages_locked(vs, va, end);
    spin_unlock(&vs->lock, irq);
    return error;
}

/* ---- pages ---------------------------------------------------------------------- */

/* What [va, va + n) of region v holds before its page is populated: the part of
 * v's image it covers, zeros around. */
static void fill_unpopulated(const struct vma *v, uintptr_t va, uint8_t *dst, size_t n)
{
    uintptr_t from = v->image.start > va ? v->image.start : va;
    uintptr_t to = v->image.end < va + n ? v->image.end : va + n;
    if (!v->image.bytes || from >= to) {
        memset(dst, 0, n);
        return;
    }
    memset(dst, 0, from - va);
    memcpy(dst + (from - va), v->image.bytes + (from - v->image.start), to - from);
    memset(dst + (to - va), 0, va + n - to);
}

/* Maps a new frame at va (page-aligned, in region v) unless a page is there. */
static int populate_locked(struct vmspace *vs, struct vma *v, uintptr_t va, phys_addr_t *out)
{
    struct translation tr;
    if (paging_translate(vs->as, va, &tr)) {
        *out = phys(tr.pa.value & ~(VMSPACE_PAGE - 1));
        return 0;
    }
    phys_addr_t frame = frame_alloc();
    if (!phys_is_valid(frame))
        return -ENOMEM;
    fill_unpopulated(v, va, arch_phys_to_virt(frame.value), VMSPACE_PAGE);
    if (paging_map(vs->as, va, frame, PAGE_4K, page_flags(v->prot)) != PAGING_OK) {
        frame_free(frame);
        return -ENOMEM;
    }
    vs->resident_pages++;
    *out = frame;
    return 0;
}

/*
 * The write fault on a page of writable region v that fork left read-only: a
 * frame nobody else maps any more is simply made writable; a shared one is
 * copied into a fresh frame that replaces it here. *out receives the frame now
 * mapped. va page-aligned.
 */
static int break_cow_locked(struct vmspace *vs, struct vma *v, uintptr_t va, phys_addr_t *out)
{
    struct translation tr;
    if (!paging_translate(vs->as, va, &tr))
        return -EFAULT;
    phys_addr_t old = phys(tr.pa.value & ~(VMSPACE_PAGE - 1));
    *out = old;
    if (v->shared || !frame_ref_is_shared(old))
        return paging_protect(vs->as, va, PAGE_4K, page_flags(v->prot)) ? -ENOMEM : 0;
    phys_addr_t copy = frame_alloc();
    if (!phys_is_valid(copy))
        return -ENOMEM;
    memcpy(arch_phys_to_virt(copy.value), arch_phys_to_virt(old.value), VMSPACE_PAGE);
    if (paging_remap(vs->as, va, copy, page_flags(v->prot), NULL) != PAGING_OK) {
        frame_free(copy);
        return -ENOMEM;
    }
    release_frame(old); /* the others may all have gone meanwhile: then it is freed */
    *out = copy;
    return 0;
}

/* A page at va (page-aligned, in region v) that may be written: populated,
 * and private. */
static int writable_page_locked(struct vmspace *vs, struct vma *v, uintptr_t va, phys_addr_t *out)
{
    struct translation tr;
    if (paging_translate(vs->as, va, &tr) && !(tr.flags & PAGE_WRITE) && (v->prot & VM_WRITE))
        return break_cow_locked(vs, v, va, out);
    return populate_locked(vs, v, va, out);
}

int vmspace_fault(struct vmspace *vs, uintptr_t va, enum vm_access access)
{
    if (va < VMSPACE_USER_MIN || va >= VMSPACE_USER_END)
        return -EFAULT;
    bool irq = spin_lock(&vs->lock);
    struct vma *v = find_vma_locked(vs, va);
    unsigned need = access == VM_ACCESS_WRITE ? VM_WRITE
                    : access == VM_ACCESS_EXEC ? VM_EXEC
                                               : VM_READ;
    int error = -EFAULT;
    struct translation tr;
    if (v && v->bus_from && va >= v->bus_from) {
        error = -EIO; /* past the end of the mapped file */
    } else if (v && (v->prot & need)) {
        /* Present already: a fault on it is a protection violation (or another
         * CPU populated it meanwhile, and the access will now succeed). */
        phys_addr_t frame;
        if (paging_translate(vs->as, page_down(va), &tr)) {
            if ((tr.flags & page_flags(v->prot)) == page_flags(v->prot))
                error = 0;
            else if (access == VM_ACCESS_WRITE && !(tr.flags & PAGE_WRITE))
                error = break_cow_locked(vs, v, page_down(va), &frame) ? -EFAULT : 0;
        } else {
            error = populate_locked(vs, v, page_down(va), &frame) ? -EFAULT : 0;
        }
    }
    spin_unlock(&vs->lock, irq);
    return error;
}

bool vmspace_is_mapped(struct vmspace *vs, uintptr_t va)
{
    if (va < VMSPACE_USER_MIN || va >= VMSPACE_USER_END)
        return false;
    bool irq = spin_lock(&vs->lock);
    bool mapped = find_vma_locked(vs, va) != NULL;
    spin_unlock(&vs->lock, irq);
    return mapped;
}

/* Copies between kernel memory and [va, va + len) through the direct map. */
static int copy_pages(struct vmspace *vs, uintptr_t va, void *buf, size_t len, bool to_user)
{
    if (len == 0)
        return 0;
    if (va < VMSPACE_USER_MIN || va >= VMSPACE_USER_END || len > VMSPACE_USER_END - va)
        return -EFAULT;
    bool irq = spin_lock(&vs->lock);
    int error = 0;
    uint8_t *kbuf = buf;
    while (len && !error) {
        struct vma *v = find_vma_locked(vs, va);
        size_t chunk = VMSPACE_PAGE - (va & (VMSPACE_PAGE - 1));
        if (chunk > len)
            chunk = len;
        struct translation tr;
        if (!v) {
            error = -EFAULT;
        } else if (to_user) {
            phys_addr_t frame;
            error = writable_page_locked(vs, v, page_down(va), &frame);
            if (!error)
                memcpy((uint8_t *)arch_phys_to_virt(frame.value) + (va & (VMSPACE_PAGE - 1)),
                       kbuf, chunk);
        } else if (paging_translate(vs->as, va, &tr)) {
            memcpy(kbuf, arch_phys_to_virt(tr.pa.value), chunk);
        } else {
            fill_unpopulated(v, va, kbuf, chunk);
        }
        va += chunk;
        kbuf += chunk;
        len -= chunk;
    }
    spin_unlock(&vs->lock, irq);
    return error;
}

int vmspace_write(struct vmspace *vs, uintptr_t va, const void *src, size_t len)
{
    return copy_pages(vs, va, (void *)src, len, true);
}

int vmspace_read(struct vmspace *vs, uintptr_t va, void *dst, size_t len)
{
    return copy_pages(vs, va, dst, len, false);
}

/*
 * Pins the page holding va for another thread's copy through the direct map:
 * the page is populated (and, for a write, made private and writable) like a
 * fault by the space's own thread would, then the frame gets one more
 * reference (frame_ref), so an munmap meanwhile cannot free it under the copy.
 * The region must allow the access: a read needs VM_READ, a write VM_WRITE.
 */
int vmspace_pin_page(struct vmspace *vs, uintptr_t va, bool write, phys_addr_t *frame)
{
    if (va < VMSPACE_USER_MIN || va >= VMSPACE_USER_END)
        return -EFAULT;
    bool irq = spin_lock(&vs->lock);
    struct vma *v = find_vma_locked(vs, va);
    int error = -EFAULT;
    if (v && (v->prot & (write ? VM_WRITE : VM_READ))) {
        error = write ? writable_page_locked(vs, v, page_down(va), frame)
                      : populate_locked(vs, v, page_down(va), frame);
        if (!error)
            frame_ref_share(*frame);
    }
    spin_unlock(&vs->lock, irq);
    return error;
}

void vmspace_unpin_page(phys_addr_t frame)
{
    if (frame_ref_release(frame))
        frame_free(frame); /* the space let it go meanwhile: ours was the last hold */
}

/* ---- page transfer (IPC) ----------------------------------------------------------- */

/* Share: every page of v in [start, end) populated and private (a page fork
 * left shared is copied first), so that the frames given away are v's own. */
static int prepare_share_locked(struct vmspace *vs, struct vma *v, uintptr_t start, uintptr_t end)
{
    for (uintptr_t va = start; va < end; va += VMSPACE_PAGE) {
        phys_addr_t frame;
        int error = populate_locked(vs, v, va, &frame);
        if (!error && !v->shared && frame_ref_is_shared(frame))
            error = break_cow_locked(vs, v, va, &frame);
        if (error)
            return error;
    }
    return 0;
}

/* Unmaps [start, end) of `to`, which only this transfer mapped (a rollback). */
static void unmap_new_locked(struct vmspace *to, uintptr_t start, uintptr_t end)
{
    for (uintptr_t va = paging_next_present(to->as, start, end); va < end;
         va = paging_next_present(to->as, va + VMSPACE_PAGE, end)) {
        phys_addr_t frame;
        if (paging_unmap(to->as, va, PAGE_4K, &frame) == PAGING_OK)
            release_frame(frame);
    }
}

/* Maps from's frames of piece v in [start, end) at `delta` further in `to`,
 * one more reference each. Counts the pages mapped. -ENOMEM (no page table). */
static int map_piece_locked(struct vmspace *from, struct vma *v, uintptr_t start, uintptr_t end,
                            struct vmspace *to, uintptr_t delta, struct vma *as_in_to,
                            size_t *mapped)
{
    for (uintptr_t va = paging_next_present(from->as, start, end); va < end;
         va = paging_next_present(from->as, va + VMSPACE_PAGE, end)) {
        struct translation tr;
        if (!paging_translate(from->as, va, &tr))
            continue;
        phys_addr_t frame = phys(tr.pa.value & ~(VMSPACE_PAGE - 1));
        frame_ref_share(frame);
        unsigned flags = frame_flags(as_in_to, v->prot, frame);
        if (paging_map(to->as, va + delta, frame, PAGE_4K, flags) != PAGING_OK) {
            release_frame(frame);
            return -ENOMEM;
        }
        (*mapped)++;
    }
    return 0;
}

/* Move: the flags of a page in its piece of `to` (the pieces in address
 * order, as paging_move_user visits the pages). */
struct move_cursor {
    struct vma *piece;
    uintptr_t delta; /* to's address - from's */
};

static unsigned moved_page_flags(void *ctx, uintptr_t va, phys_addr_t pa, unsigned flags)
{
    (void)flags;
    struct move_cursor *c = ctx;
    while (va + c->delta >= c->piece->end)
        c->piece = c->piece->next;
    return frame_flags(c->piece, c->piece->prot, pa);
}

/* Move: from's pages in [src, end) go to `to` at `at`; no frame reference is
 * taken or dropped (a frame changes mapping, not how many map it). -ENOMEM with
 * nothing moved when `to` lacks a page table and no frame is left for one. */
static int move_pages_locked(struct vmspace *from, uintptr_t src, uintptr_t end,
                             struct vmspace *to, uintptr_t at, struct vma *pieces)
{
    struct move_cursor cursor = {.piece = pieces, .delta = at - src};
    size_t moved;
    int error = paging_move_user(from->as, src, to->as, at, end - src, moved_page_flags, &cursor,
                                 &moved);
    if (error == PAGING_ERR_NO_MEMORY)
        return -ENOMEM;
    if (error) /* the ranges were checked, and user spaces hold 4 KiB pages only */
        panic("vmspace: moving 0x%lx..0x%lx to 0x%lx: paging error %d", (unsigned long)src,
              (unsigned long)end, (unsigned long)at, error);
    from->resident_pages -= moved;
    to->resident_pages += moved;
    return 0;
}

/* The regions of `to` for the pieces of `from` in [src, end), at dst. NULL:
 * out of memory (none made). */
static struct vma *pieces_for_locked(struct vmspace *from, uintptr_t src, uintptr_t end,
                                     uintptr_t dst, bool share)
{
    struct vma *list = NULL, **tail = &list;
    for (struct vma *v = from->vmas; v && v->start < end; v = v->next) {
        if (v->end <= src)
            continue;
        struct vma *node = kmalloc(sizeof(*node));
        if (!node) {
            while (list) {
                struct vma *n = list->next;
                kfree(list);
                list = n;
            }
            return NULL;
        }
        *node = *v;
        node->start = v->start - src + dst;
        node->end = v->end - src + dst;
        node->bus_from = v->bus_from ? v->bus_from - src + dst : 0;
        if (v->image.bytes) {
            node->image.start = v->image.start - src + dst;
            node->image.end = v->image.end - src + dst;
        }
        if (share) {
            node->shared = true;
            node->no_prot |= ~v->prot & (VM_READ | VM_WRITE | VM_EXEC);
        }
        node->next = NULL;
        *tail = node;
        tail = &node->next;
    }
    return list;
}

static int transfer_locked(struct vmspace *from, uintptr_t src, size_t len, struct vmspace *to,
                           uintptr_t *dst, bool share, bool *to_side)
{
    uintptr_t end = src + len;
    *to_side = false;
    if (!range_ok(src, len) || !covered_locked(from, src, end))
        return -EFAULT;
    int error = split_at_locked(from, src);
    if (!error)
        error = split_at_locked(from, end);
    if (error)
        return error;
    *to_side = true;
    uintptr_t at = *dst;
    if (at == VMSPACE_ANYWHERE) {
        at = find_gap_locked(to, len);
        if (!at)
            return -ENOMEM;
    } else if (!range_ok(at, len)) {
        return -EINVAL;
    } else if (overlaps_locked(to, at, at + len)) {
        return -EEXIST;
    }
    struct vma *pieces = pieces_for_locked(from, src, end, at, share);
    if (!pieces)
        return -ENOMEM;
    size_t mapped = 0;
    struct vma *piece = pieces;
    for (struct vma *v = from->vmas; share && !error && v && v->start < end; v = v->next) {
        if (v->end <= src)
            continue;
        *to_side = false;
        error = prepare_share_locked(from, v, v->start, v->end);
        if (!error) {
            v->shared = true;
            *to_side = true;
            error = map_piece_locked(from, v, v->start, v->end, to, at - src, piece, &mapped);
        }
        piece = piece->next;
    }
    if (!share)
        error = move_pages_locked(from, src, end, to, at, pieces);
    if (error) {
        if (share)
            unmap_new_locked(to, at, at + len);
        while (pieces) {
            struct vma *n = pieces->next;
            kfree(pieces);
            pieces = n;
        }
        return error;
    }
    to->resident_pages += mapped;
    if (!share) {
        struct vma **link = &from->vmas;
        while (*link) {
            struct vma *v = *link;
            if (v->start >= src && v->end <= end) {
                *link = v->next;
                kfree(v);
            } else {
                link = &v->next;
            }
        }
    } else {
        merge_locked(from);
    }
    while (pieces) {
        struct vma *n = pieces->next;
        insert_locked(to, pieces);
        pieces = n;
    }
    *dst = at;
    return 0;
}

int vmspace_transfer(struct vmspace *from, uintptr_t src, size_t len, struct vmspace *to,
                     uintptr_t *dst, bool share, bool *to_side)
{
    bool irq = spin_lock_two(&from->lock, &to->lock);
    int error = transfer_locked(from, src, len, to, dst, share, to_side);
    spin_unlock_two(&from->lock, &to->lock, irq);
    return error;
}

/* ---- brk ---------------------------------------------------------------------- */

void vmspace_init_brk(struct vmspace *vs, uintptr_t start)
{
    bool irq = spin_lock(&vs->lock);
    vs->brk_start = vs->brk = page_up(start);
    spin_unlock(&vs->lock, irq);
}

/* Linux's overcommit heuristic for a heap that grows: no more at once than the
 * machine has memory (brk(1 << 46) fails there as here). */
static bool growth_fits(uintptr_t old_end, uintptr_t new_end)
{
    struct frame_stats stats;
    frame_get_stats(&stats);
    return new_end <= old_end || (new_end - old_end) / VMSPACE_PAGE <= stats.total_frames;
}

uintptr_t vmspace_set_brk(struct vmspace *vs, uintptr_t requested)
{
    bool irq = spin_lock(&vs->lock);
    uintptr_t old_end = page_up(vs->brk), new_end = page_up(requested);
    uintptr_t result = vs->brk;
    if (requested < vs->brk_start || requested >= vs->mmap_top || new_end < requested ||
        !growth_fits(old_end, new_end)) {
        /* out of range: the break stays */
    } else if (new_end > old_end) {
        struct vma *node = overlaps_locked(vs, old_end, new_end) ? NULL : kmalloc(sizeof(*node));
        if (node) {
            *node = (struct vma){.start = old_end, .end = new_end, .prot = VM_READ | VM_WRITE};
            insert_locked(vs, node);
            vs->brk = result = requested;
        }
    } else {
        if (new_end < old_end && unmap_locked(vs, new_end, old_end) != 0)
            new_end = old_end;
        if (new_end == page_up(requested))
            vs->brk = result = requested;
    }
    spin_unlock(&vs->lock, irq);
    return result;
}

/* ---- fork ------------------------------------------------------------------------ */

/* Per shared page: one more mapping of its frame; write access goes from both
 * spaces when the region is writable (copy-on-write). */
static unsigned share_page(void *ctx, uintptr_t va, phys_addr_t pa, unsigned flags)
{
    (void)va;
    size_t *count = ctx;
    frame_ref_share(pa);
    (*count)++;
    return flags & ~PAGE_WRITE;
}

/* The same in a region shared on purpose: both keep writing to the one frame. */
static unsigned share_page_writable(void *ctx, uintptr_t va, phys_addr_t pa, unsigned flags)
{
    (void)va;
    size_t *count = ctx;
    frame_ref_share(pa);
    (*count)++;
    return flags;
}

static int copy_regions_locked(struct vmspace *parent, struct vmspace *child)
{
    struct vma **tail = &child->vmas;
    for (struct vma *v = parent->vmas; v; v = v->next) {
        struct vma *copy = kmalloc(sizeof(*copy));
        if (!copy)
            return -ENOMEM;
        *copy = *v;
        copy->next = NULL;
        *tail = copy;
        tail = &copy->next;
        int error = paging_share_user(parent->as, child->as, v->start, v->end,
                                      v->shared ? share_page_writable : share_page,
                                      &child->resident_pages);
        if (error)
            return -ENOMEM;
    }
    return 0;
}

int vmspace_fork(struct vmspace *parent, struct vmspace **out)
{
    struct vmspace *child = vmspace_create();
    if (!child)
        return -ENOMEM;
    bool irq = spin_lock(&parent->lock);
    child->brk_start = parent->brk_start;
    child->brk = parent->brk;
    child->mmap_top = parent->mmap_top;
    int error = copy_regions_locked(parent, child);
    spin_unlock(&parent->lock, irq);
    if (error) {
        vmspace_destroy(child);
        return error;
    }
    *out = child;
    return 0;
}

/* ---- the rest -------------------------------------------------------------------- */

void vmspace_activate(struct vmspace *vs)
{
    paging_activate(vmspace_address_space(vs));
}

size_t vmspace_region_count(struct vmspace *vs)
{
    bool irq = spin_lock(&vs->lock);
    size_t n = 0;
    for (struct vma *v = vs->vmas; v; v = v->next)
        n++;
    spin_unlock(&vs->lock, irq);
    return n;
}
