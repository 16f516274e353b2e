/*
 * vmspace: a user address space. The lower half of its page tables
 * (include/mm/paging.h: its own top-level table, the kernel half shared) and the
 * list of regions (VMAs) that mmap, brk, the stack and the ELF loader made.
 *
 * Pages are populated on demand: a region promises memory, and the first access
 * to a page (vmspace_fault, from the page-fault handler or a user copy) maps a
 * zeroed frame with the region's protection, or, in a region made by
 * vmspace_map_image (the ELF loader's segments), a frame filled from the bytes
 * the region was given: a program's pages are copied from its file when first
 * touched, as Linux faults them in from the page cache. vmspace_write (the stack
 * builder's way in) populates as it goes. A populated page is a frame
 * of its own until vmspace_fork shares it: both spaces then map the frame
 * read-only with one more reference (include/mm/frame_ref.h), and the first
 * write in either copies it, or simply takes it back when the other has let it
 * go. Unmapping drops a reference and frees the frame with the last one;
 * vmspace_destroy does that for every page and frees every table and region, so
 * the frame and heap counts return exactly to where they were.
 *
 * Protection: VM_READ/VM_WRITE/VM_EXEC, the same values as Linux's PROT_*. A user
 * page is no-execute unless its region has VM_EXEC, and a region that is both
 * writable and executable is refused with -EACCES (as OpenBSD does): no user page
 * can ever be W+X. A PROT_NONE page keeps its frame as a supervisor page (x86
 * has no present page a user cannot read), so its contents survive an mprotect
 * back. Addresses: [VMSPACE_USER_MIN, VMSPACE_USER_END), page-aligned;
 * the last page below the canonical hole is never mapped, so no SYSCALL there can
 * return to a non-canonical address.
 *
 * Errors are negative Linux errno values (include/lib/errno.h). Locking: one
 * spinlock per space over its regions and the population of its pages (taken
 * with interrupts off; the page-table lock nests inside it). The fault path may
 * run in interrupt context (a page fault), never holding the lock already.
 */
#ifndef EXO_MM_VMSPACE_H
#define EXO_MM_VMSPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/spinlock.h"
#include "mm/paging.h"

#define VM_READ 1u  /* PROT_READ */
#define VM_WRITE 2u /* PROT_WRITE */
#define VM_EXEC 4u  /* PROT_EXEC */

#define VMSPACE_USER_MIN 0x10000ull        /* Linux's mmap_min_addr: NULL stays unmapped */
#define VMSPACE_USER_END 0x7ffffffff000ull /* one page short of the canonical hole */
#define VMSPACE_PAGE 4096ull

/* vmspace_map flags */
#define VMSPACE_FIXED (1u << 0) /* exactly at *va, replacing what is there */
#define VMSPACE_NOREPLACE (1u << 1) /* exactly at *va, -EEXIST if anything is there */

/* The bytes a region's pages start with: the space's [start, end) reads as
 * bytes[0, end - start), the rest of each page as zeros. bytes NULL: all zeros.
 * The bytes must outlive every space (the initrd's files do: include/fs/initrd.h). */
struct vma_image {
    const uint8_t *bytes;
    uintptr_t start, end;
};

struct vma {
    uintptr_t start, end; /* [start, end), page-aligned */
    unsigned prot;        /* VM_* */
    uintptr_t bus_from;   /* 0, or where a file mapping's pages past the end of its
                           * file begin: an access there is a bus error (SIGBUS) */
    bool shared;          /* its frames are shared with another space on purpose
                           * (vmspace_transfer): a write never copies them, and
                           * fork shares them writable */
    unsigned no_prot;     /* VM_* rights it may never gain (mprotect: -EACCES): a
                           * shared region received read-only stays so */
    struct vma_image image; /* what a page holds when first populated */
    struct vma *next;     /* sorted by address, no overlaps */
};

struct vmspace {
    struct address_space *as;
    struct spinlock lock;   /* protects everything below and the population of pages */
    struct vma *vmas;
    uintptr_t brk_start;    /* the heap: [brk_start, brk) */
    uintptr_t brk;
    uintptr_t mmap_top;     /* mmap without a fixed address searches below this */
    size_t resident_pages;  /* populated pages (frames held, some perhaps shared) */
    uint32_t refs;          /* (A) holders: processes sharing it (vfork, CLONE_VM) */
};

/* NULL when out of memory. */
struct vmspace *vmspace_create(void);
/* Frees every page, table and region. No CPU may have it loaded. */
void vmspace_destroy(struct vmspace *vs);
/* Holders: vmspace_create gives the first; the last vmspace_put destroys it. */
void vmspace_get(struct vmspace *vs);
void vmspace_put(struct vmspace *vs);
/* A copy of parent for fork: the same regions, brk and pages, every populated
 * page shared copy-on-write. -ENOMEM (nothing made). */
int vmspace_fork(struct vmspace *parent, struct vmspace **out) __attribute__((warn_unused_result));

/*
 * A new anonymous, private region of len bytes (rounded up to pages) with `prot`.
 * Without VMSPACE_FIXED, *va is ignored and the highest free gap below mmap_top
 * is chosen; with it, *va must be page-aligned and whatever was there is
 * unmapped first; with VMSPACE_NOREPLACE, *va must be page-aligned and free
 * (-EEXIST). *va receives the address. -EACCES (W+X), -EINVAL, -ENOMEM.
 */
int vmspace_map(struct vmspace *vs, uintptr_t *va, size_t len, unsigned prot, unsigned flags)
    __attribute__((warn_unused_result));
/* The same for a private mapping of a file of which file_bytes lie in the region
 * (the caller copies them in): the pages wholly past them are a bus error, as in
 * Linux (vmspace_fault answers -EIO there, and vmspace_is_past_file_end says so). */
int vmspace_map_file(struct vmspace *vs, uintptr_t *va, size_t len, unsigned prot,
                     unsigned flags, size_t file_bytes) __attribute__((warn_unused_result));
bool vmspace_is_past_file_end(struct vmspace *vs, uintptr_t va);
/* The same as vmspace_map with VMSPACE_FIXED at va, for a region whose pages,
 * when first touched, hold image->bytes over [image->start, image->end) (inside
 * the region) and zeros elsewhere: nothing is copied now. -EINVAL for an image
 * outside the region, and vmspace_map's errors. */
int vmspace_map_image(struct vmspace *vs, uintptr_t va, size_t len, unsigned prot,
                      const struct vma_image *image) __attribute__((warn_unused_result));
/* Removes [va, va + len) from every region (splitting them) and frees its pages.
 * Unmapped parts are fine (Linux's munmap). -EINVAL for a bad range. */
int vmspace_unmap(struct vmspace *vs, uintptr_t va, size_t len) __attribute__((warn_unused_result));
/* Changes the protection of [va, va + len), which must be wholly mapped
 * (-ENOMEM otherwise, as Linux). -EACCES for W+X or a right a region may never
 * gain (vma.no_prot), -EINVAL for a bad range. */
int vmspace_protect(struct vmspace *vs, uintptr_t va, size_t len, unsigned prot)
    __attribute__((warn_unused_result));

/* madvise: [va, va + len) (len rounded up to pages) with `discard`, its
 * populated pages freed (they read as zeros again). -EINVAL for an unaligned
 * or wrapping range, -ENOMEM when part of it is not mapped (the mapped parts are
 * still done, as Linux). len 0 is 0. */
int vmspace_advise(struct vmspace *vs, uintptr_t va, size_t len, bool discard)
    __attribute__((warn_unused_result));

/* Sets the end of the heap region; returns the break now in effect (unchanged
 * when `requested` is below brk_start, collides with a region or lacks memory). */
uintptr_t vmspace_set_brk(struct vmspace *vs, uintptr_t requested);
/* Where the heap starts (the loader calls this once, after the last segment). */
void vmspace_init_brk(struct vmspace *vs, uintptr_t start);

enum vm_access { VM_ACCESS_READ, VM_ACCESS_WRITE, VM_ACCESS_EXEC };
/* Resolves a fault at va: 0 when a page is now there that allows `access`,
 * -EFAULT when no region allows it (the access is a real fault). */
int vmspace_fault(struct vmspace *vs, uintptr_t va, enum vm_access access)
    __attribute__((warn_unused_result));

/* Does a region cover va (whatever its protection)? A fault there is a
 * protection fault (SEGV_ACCERR), elsewhere a missing mapping (SEGV_MAPERR). */
bool vmspace_is_mapped(struct vmspace *vs, uintptr_t va);

/* Copies len bytes to va whatever the regions' protections (the loader's and
 * the stack builder's way in), populating pages; the range must lie in regions.
 * -EFAULT otherwise, -ENOMEM. */
int vmspace_write(struct vmspace *vs, uintptr_t va, const void *src, size_t len)
    __attribute__((warn_unused_result));
/* Copies len bytes from va, populating nothing (a hole reads as what its first
 * touch would put there: its region's image, or zeros). For tests and debugging. -EFAULT outside every region. */
int vmspace_read(struct vmspace *vs, uintptr_t va, void *dst, size_t len)
    __attribute__((warn_unused_result));

/* Pins the frame behind va for a copy by a thread of another space (IPC):
 * populated, and for `write` private and writable, as the space's own access
 * would make it; it cannot be freed until vmspace_unpin_page. -EFAULT when no
 * region allows the access, -ENOMEM. */
int vmspace_pin_page(struct vmspace *vs, uintptr_t va, bool write, phys_addr_t *frame)
    __attribute__((warn_unused_result));
void vmspace_unpin_page(phys_addr_t frame);

/*
 * IPC's page transfer: the region [src, src + len) of `from` (page-aligned,
 * wholly inside regions) goes to `to` at *dst, which must be free there, or,
 * with *dst == VMSPACE_ANYWHERE, at a gap chosen as mmap chooses; *dst
 * receives the address. Each part keeps its rights.
 *   move:  the page-table entries move (no copy, no frame reference changes:
 *          paging_move_user, one walk of from's tables and one shootdown):
 *          the frames leave `from`, whose region is unmapped; pages never
 *          touched stay untouched.
 *   share: every page is populated and made private first, then both spaces
 *          map the same frames in regions marked shared (writes never copy,
 *          both ways); `to` may never gain a right `from` lacks.
 * Both locks are held throughout (in address order; from == to is one). Errors
 * leave both spaces as they were, except that a share may leave from's pages
 * populated and its region marked shared: -EFAULT (the source is not wholly
 * mapped), -EEXIST (*dst is taken) and -ENOMEM (no gap, no page table); *to_side
 * says whether the error is to's (the destination) or from's.
 */
#define VMSPACE_ANYWHERE 1ull
int vmspace_transfer(struct vmspace *from, uintptr_t src, size_t len, struct vmspace *to,
                     uintptr_t *dst, bool share, bool *to_side) __attribute__((warn_unused_result));

/* Loads vs on this CPU, or the kernel's own space (vs NULL). */
void vmspace_activate(struct vmspace *vs);
/* The address space vmspace_activate(vs) loads, for the switch hook, which hands
 * it to arch_user_switch with the rest of a switch's machine state. */
static inline struct address_space *vmspace_address_space(struct vmspace *vs)
{
    return vs ? vs->as : &kernel_space;
}

/* Regions, for `ps` and tests. */
size_t vmspace_region_count(struct vmspace *vs);

#endif
