/*
 * paging: the kernel's page tables (ARCH_PT_LEVELS levels, include/arch/mmu.h).
 *
 * Every address space shares one kernel half: the tables the kernel's root entries
 * point to are created at boot and never freed, so copying the root's kernel
 * entries into a new space shares all present and future kernel mappings. In the
 * kernel half live (include/arch/mmu.h, arch_va_layout):
 *   - the direct map: all RAM the memory map lists, at a fixed offset, in the
 *     largest pages alignment allows (1 GiB, 2 MiB, 4 KiB), read-write, no-execute;
 *   - the kernel image by section: text R+X, rodata R, data and bss R+W;
 *   - the heap, kernel-stack and device regions, mapped page by page on demand.
 * Nothing is mapped at virtual address 0 and there is no identity map after boot.
 *
 * W^X: a kernel mapping is never both writable and executable (paging_map refuses
 * one); paging_audit_wx proves it over the live tables at boot and in the tests.
 *
 * map / unmap / protect / translate work on one page of 4 KiB, 2 MiB or 1 GiB.
 * Page-table pages come from the frame allocator. A user half's tables go back to
 * it as soon as they become empty. The kernel half's are kept when they empty:
 * they are shared by every space, and the next map there (a stack, a heap arena,
 * the same page again) wants them back, so freeing them cost a zeroed page and a
 * 512-entry scan per level on every map and unmap for nothing. What is kept is
 * bounded by the most the kernel half ever had mapped at once, and paging_trim
 * gives the empty ones back: kstack_flush and the heap's out-of-memory path call
 * it, and so does paging_map before it reports that no frame is left for a table.
 * After a trim, paging_table_pages is exact: tables in use, no more.
 * TLB invalidation goes through one function in mm/paging.c (tlb_invalidate):
 * every online CPU for the kernel half (with one CPU online, this CPU's INVLPG
 * alone), only the CPUs that ran it for a user space; paging_unmap_deferred and
 * paging_flush_deferred batch that for many pages.
 *
 * Errors are negative values of enum paging_error; out of memory never panics.
 * Locking: each address space has a spinlock over its user half; the kernel half
 * is protected by kernel_space's lock whichever space the call names (lock order:
 * sched/sched.c). Interrupt context: only paging_translate_unlocked and
 * paging_is_mapped_unlocked (the panic path); the others allocate page tables and wait for other CPUs' shootdowns,
 * and are called from threads only.
 */
#ifndef EXO_MM_PAGING_H
#define EXO_MM_PAGING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/asid.h"
#include "arch/mmu.h"
#include "kernel/bootinfo.h"
#include "mm/types.h"
#include "base/spinlock.h"

/* Permissions and memory type of a page. Readable is implied. */
#define PAGE_WRITE (1u << 0)
#define PAGE_EXEC (1u << 1)
#define PAGE_USER (1u << 2)
#define PAGE_GLOBAL (1u << 3)        /* kept in the TLB across address-space switches */
#define PAGE_NOCACHE (1u << 4)       /* uncached: device registers */
#define PAGE_WRITE_COMBINE (1u << 5) /* write-combining: framebuffers */

enum page_size {
    PAGE_4K = 0, /* the level of the table whose entry maps it */
    PAGE_2M = 1,
    PAGE_1G = 2,
};

static inline uint64_t page_size_bytes(enum page_size size)
{
    return ARCH_PAGE_SIZE << (ARCH_PT_INDEX_BITS * (unsigned)size);
}

enum paging_error {
    PAGING_OK = 0,
    PAGING_ERR_NO_MEMORY = -1,     /* no frame for a page table */
    PAGING_ERR_MISALIGNED = -2,    /* address not aligned to the page size */
    PAGING_ERR_EXISTS = -3,        /* something is mapped there already */
    PAGING_ERR_NOT_MAPPED = -4,    /* nothing is mapped there */
    PAGING_ERR_SIZE_MISMATCH = -5, /* mapped, but with another page size */
    PAGING_ERR_BAD_ADDRESS = -6,   /* not canonical, a physical address wider than an
                                      entry holds, or user flag on a kernel address */
    PAGING_ERR_WX = -7,            /* writable and executable in the kernel half */
    PAGING_ERR_UNSUPPORTED = -8,   /* 1 GiB pages on a CPU without them */
};

struct address_space {
    phys_addr_t root;     /* the top-level table; fixed for the space's life */
    struct spinlock lock; /* protects the user half's tables */
    struct arch_space_tlb tlb; /* its tag and the CPUs that ran it (arch/asid.h) */
};

extern struct address_space kernel_space;

/* Builds the kernel's tables (direct map, image by section, root entries of the
 * other regions), switches to them and runs the W^X audit. Needs frame_init. */
void paging_init(const struct boot_info *info);

int paging_map(struct address_space *as, uintptr_t va, phys_addr_t pa, enum page_size size,
               unsigned flags);
/* On success *old (if not NULL) receives the physical page that was mapped. */
int paging_unmap(struct address_space *as, uintptr_t va, enum page_size size, phys_addr_t *old);
/*
 * Unmaps like paging_unmap but invalidates only this CPU's TLB: other CPUs may
 * still translate va until paging_flush_deferred, so the caller must neither
 * reuse va nor free the frame before that. A user half's tables emptied on the
 * way are kept in the batch and freed by the flush. For batches (kernel stacks): one flush of
 * every CPU instead of one IPI round per page. PAGING_ERR_NO_MEMORY: the batch
 * has no room left for a walk's tables; flush it first.
 */
#define PAGING_DEFERRED_TABLES 64
struct paging_deferred {
    uint64_t tables[PAGING_DEFERRED_TABLES]; /* physical addresses */
    unsigned ntables;
};
int paging_unmap_deferred(struct address_space *as, uintptr_t va, enum page_size size,
                          phys_addr_t *old, struct paging_deferred *batch);
void paging_flush_deferred(struct paging_deferred *batch);
/*
 * Batches of 4 KiB pages in the kernel half (kernel stacks fill and drain their
 * caches so), under one hold of the kernel half's lock and with one walk per
 * leaf table instead of one per page. paging_map_pages maps va[i] -> pa[i] for i
 * below n, each checked as paging_map checks it, and stops at the first error
 * (*error; PAGING_ERR_BAD_ADDRESS for a user address): it returns how many it
 * mapped, the first ones. Tables a failed walk created stay, empty, until
 * paging_trim. paging_unmap_pages_deferred unmaps every va[i] that is mapped,
 * setting old[i] to its frame, or to PHYS_INVALID when nothing was mapped there
 * (or va[i] is not a kernel 4 KiB page), and returns how many it unmapped; as
 * paging_unmap_deferred, only this CPU's TLB is invalidated, so neither the
 * addresses nor the frames may be reused before a paging_flush_deferred.
 */
size_t paging_map_pages(const uintptr_t *va, const phys_addr_t *pa, size_t n, unsigned flags,
                        int *error);
size_t paging_unmap_pages_deferred(const uintptr_t *va, size_t n, phys_addr_t *old);
int paging_protect(struct address_space *as, uintptr_t va, enum page_size size, unsigned flags);

/* Points the present 4 KiB page at va to another frame with `flags` (*old, if
 * not NULL, receives the frame it had) and invalidates it where the space ran:
 * copy-on-write's replacement of a shared page by a private copy. */
int paging_remap(struct address_space *as, uintptr_t va, phys_addr_t pa, unsigned flags,
                 phys_addr_t *old);
/*
 * Fork's copy of page tables: every present 4 KiB page of src's user half in
 * [start, end) is mapped at the same address in dst with the flags fn returns
 * (fn sees its frame and present flags, and counts the new mapping); when those
 * differ, src's page takes them too (write access removed for copy-on-write),
 * and src's stale translations are shot down once at the end. dst must be a new
 * space no other CPU uses: its lock is not taken. PAGING_ERR_NO_MEMORY leaves
 * dst partly filled (the caller destroys it).
 */
typedef unsigned (*paging_share_fn)(void *ctx, uintptr_t va, phys_addr_t pa, unsigned flags);
int paging_share_user(struct address_space *src, struct address_space *dst, uintptr_t start,
                      uintptr_t end, paging_share_fn fn, void *ctx);
/*
 * IPC's move of pages between two live spaces (or two ranges of one): every
 * present 4 KiB page of src's [src_va, src_va + len) goes to the same offset
 * from dst_va in dst, with the flags fn returns (fn sees the page's source
 * address, its frame and its flags); src's entry is cleared. The frame changes
 * mapping, not owner count: no reference is taken or dropped. Holes stay
 * holes, in dst without tables. dst's range must have nothing mapped (the
 * caller's regions say so; a mapped page there is a panic), and the ranges of
 * one space must not overlap. One walk of src's tables makes every table dst
 * will need before anything moves, so PAGING_ERR_NO_MEMORY (or a large page in
 * either range) leaves both spaces as they were; then one walk moves, src's
 * tables left empty are freed, and src is shot down once. *moved: how many
 * pages. Takes both spaces' locks, in address order (sched/sched.c).
 */
int paging_move_user(struct address_space *src, uintptr_t src_va, struct address_space *dst,
                     uintptr_t dst_va, size_t len, paging_share_fn fn, void *ctx,
                     size_t *moved) __attribute__((warn_unused_result));
struct translation {
    phys_addr_t pa;      /* of va itself, offset included */
    enum page_size size; /* of the page that maps va */
    unsigned flags;      /* effective: what every level of the walk allows */
};
bool paging_translate(struct address_space *as, uintptr_t va, struct translation *out);
/* The same without the lock, for panic reports (the tables may be changing) and
 * for a caller that owns va's mapping, so that nobody else changes it (kstack). */
bool paging_translate_unlocked(struct address_space *as, uintptr_t va, struct translation *out);
/* Whether va is mapped, without the lock and without working out the rights: for
 * a caller that owns va's mapping (kstack_free's double-free check) or a panic. */
bool paging_is_mapped_unlocked(struct address_space *as, uintptr_t va);
/* The first page at or above va (rounded down to its page) that is present in
 * the user half, or end when none is below end: skips whole empty tables, so
 * walking the populated pages of a huge, sparse range costs what is there. */
uintptr_t paging_next_present(struct address_space *as, uintptr_t va, uintptr_t end);

/* A new space: empty user half, the shared kernel half. NULL when out of memory. */
struct address_space *paging_create_space(void);
/* Frees the user half's tables (not the pages they map) and the space. No CPU
 * may have it loaded (switch to kernel_space first). */
void paging_destroy_space(struct address_space *as);
/* The same, handing every page still mapped in the user half to page_fn first
 * (which frees it). No TLB work: no CPU has the space loaded, and its tag is
 * never reused. */
typedef void (*paging_page_fn)(void *ctx, phys_addr_t pa, enum page_size size);
void paging_destroy_space_pages(struct address_space *as, paging_page_fn page_fn, void *ctx);
/* Loads the space on this CPU (with its address-space tag when the CPU has them). */
void paging_activate(struct address_space *as);

/* Maps `bytes` of device memory (MMIO, framebuffer) in the device region with
 * PAGE_NOCACHE or PAGE_WRITE_COMBINE (and PAGE_WRITE) in `flags`; returns the
 * virtual address of `pa` or NULL. Never unmapped. */
void *paging_map_device(phys_addr_t pa, size_t bytes, unsigned flags);

/* Calls `report` for every page both writable and executable (effective rights)
 * and returns how many there were. `report` may be NULL. */
typedef void (*paging_wx_report_fn)(void *ctx, uintptr_t va, enum page_size size);
size_t paging_audit_wx(struct address_space *as, paging_wx_report_fn report, void *ctx);

/* Frees the kernel half's empty page tables (those below its top-level tables),
 * with one shootdown of every CPU's TLB per 64 tables; returns how many it freed.
 * From a thread, no paging lock held. */
size_t paging_trim(void);

/* Page-table pages currently allocated (all spaces), for tests and `mem`. */
uint64_t paging_table_pages(void);

#endif
