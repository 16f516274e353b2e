/*
 * arch/mmu: what the memory managers ask of the MMU and of the machine's physical
 * memory. The page-table walk itself is arch-neutral (mm/paging.c); the entry
 * format, the TLB and the root register are the architecture's, implemented in
 * arch/x86_64/pte.c (pure bit manipulation, also built into the host tests) and
 * arch/x86_64/mmu.c (privileged instructions). The numbers (page geometry, the
 * early map, the reserved physical ranges) come from the arch's
 * machine/mmu.h (arch/x86_64/include/machine/mmu.h).
 *
 * Levels count up from the leaf: level 0 tables map ARCH_PAGE_SIZE pages, level 1
 * entries may map 2 MiB pages, level 2 entries 1 GiB pages (with 4 KiB pages and
 * 512-entry tables), level ARCH_PT_LEVELS-1 is the root. Permissions are the
 * PAGE_* flags of include/mm/paging.h.
 *
 * Interrupt context: the pure entry and address functions, arch_phys_to_virt and
 * arch_tlb_flush_* may be called from it. arch_tlb_shootdown(_all) wait until
 * every other online CPU has answered: they may be called with interrupts
 * disabled (spinners answer in arch_cpu_relax), not from an interrupt handler.
 */
#ifndef EXO_ARCH_MMU_H
#define EXO_ARCH_MMU_H

#include <stdbool.h>
#include <stdint.h>

#include "machine/mmu.h"
#include "machine/pte.h"

/* ---- geometry and physical memory (machine/mmu.h) ------------------------- */

/* A port's machine/mmu.h defines: ARCH_PAGE_SHIFT (the smallest page),
 * ARCH_PT_LEVELS and ARCH_PT_INDEX_BITS (entries a table = 1 << bits), and: */
#define ARCH_PAGE_SIZE (1ull << ARCH_PAGE_SHIFT)
#define ARCH_PT_ENTRIES (1u << ARCH_PT_INDEX_BITS)
/* ARCH_EARLY_DIRECT_MAP_BYTES: physical memory below it is reachable through
 *   arch_phys_to_virt before paging_init (the boot code's early tables);
 * ARCH_PHYS_LOW_RESERVED_END: physical memory below it is the firmware's (x86:
 *   the first MiB): never given out by the frame allocator, always direct-mapped;
 * ARCH_PHYS_DEVICE_HOLE_END: below it the direct map covers every region of the
 *   memory map, reserved ones too; above it only RAM. */

/* The virtual address of a physical address in the direct map. Valid for
 * physical memory the early tables cover (ARCH_EARLY_DIRECT_MAP_BYTES) at boot,
 * for all RAM after paging_init. */
void *arch_phys_to_virt(uint64_t phys);

/* The kernel half's virtual regions (arch/x86_64/layout.h has the numbers). Each
 * starts on a top-level table boundary, so regions share no page tables. */
struct arch_va_region {
    uintptr_t start, end; /* [start, end) */
};
struct arch_va_layout {
    struct arch_va_region direct_map;   /* all RAM, at start + physical */
    struct arch_va_region heap;         /* kmalloc arenas (mm/heap.c) */
    struct arch_va_region stacks;       /* kernel stacks with guard pages (mm/kstack.c) */
    struct arch_va_region devices;      /* MMIO and framebuffers */
    struct arch_va_region kernel_image; /* the linked kernel */
};
extern const struct arch_va_layout arch_va_layout;

/* The kernel image's sections, page-aligned (linker.ld). */
struct arch_image_section {
    uintptr_t start, end;
    unsigned page_flags; /* PAGE_* of include/mm/paging.h */
    const char *name;
};
#define ARCH_IMAGE_SECTIONS 3
extern const struct arch_image_section arch_image_sections[ARCH_IMAGE_SECTIONS];
/* The virtual address of the image's physical address: image VA - offset = PA. */
#define ARCH_IMAGE_PHYS(va) ((uint64_t)(va) - arch_va_layout.kernel_image.start)

/* ---- entries (arch/x86_64/pte.c) ------------------------------------------ */

/* Inline in machine/pte.h, as the walk runs them at every level:
 *   bool arch_pte_present(uint64_t pte);
 *   bool arch_pte_is_leaf(uint64_t pte, unsigned level): does this present entry
 *     at `level` map a page (rather than point to a table)?
 *   uint64_t arch_pte_phys(uint64_t pte, unsigned level): the physical address
 *     the entry points to (a page or a table);
 *   unsigned arch_va_index(uintptr_t va, unsigned level): the index of `va` in a
 *     table of level `level`;
 *   bool arch_va_is_canonical(uintptr_t va);
 *   bool arch_va_is_kernel(uintptr_t va): the kernel half, shared by every
 *     address space. */

/* An entry mapping a page of level `level` (0: 4 KiB, 1: 2 MiB, 2: 1 GiB). */
uint64_t arch_pte_leaf(uint64_t phys, unsigned page_flags, unsigned level);
/* An entry pointing to a next-level table; `user` lets user pages sit below it. */
uint64_t arch_pte_table(uint64_t table_phys, bool user);
/* The PAGE_* flags a leaf entry grants. */
unsigned arch_pte_flags(uint64_t pte);
/* What a table entry lets through to the entries below it (PAGE_WRITE, PAGE_EXEC,
 * PAGE_USER): the effective rights of a page are the intersection along its walk. */
unsigned arch_pte_table_rights(uint64_t pte);

/* Rebuilds a canonical address from table indexes (the inverse of the walk). */
uintptr_t arch_va_from_indexes(const unsigned index[ARCH_PT_LEVELS]);

/* ---- the MMU itself (arch/x86_64/mmu.c) ------------------------------------- */

/* Turns on what the CPU offers: no-execute, write protection in the kernel,
 * global pages, SMEP/SMAP/UMIP, write-combining memory type. Each CPU, once. */
void arch_mmu_init_this_cpu(void);
bool arch_mmu_has_1g_pages(void);
/* A short list of the protections enabled, for the boot log ("NX WP SMEP"). */
const char *arch_mmu_features(void);

void arch_mmu_load_root(uint64_t root_phys);
uint64_t arch_mmu_root(void);
/* Invalidates this CPU's translation of one page (and the paging-structure
 * caches), or of everything including global pages. Local only: mm/paging.c's
 * tlb_invalidate is the one place that decides which CPUs must do it. */
void arch_tlb_flush_page(uintptr_t va);
void arch_tlb_flush_all(void);
/* Invalidates va on this CPU and every other online CPU, waiting until all have.
 * Another CPU answers from its interrupt handler, or from arch_cpu_relax when it
 * spins with interrupts off (include/arch/cpu.h): so a spinner must relax. */
void arch_tlb_shootdown(uintptr_t va);
/* Invalidates every translation, global ones included, on every online CPU: one
 * IPI round for a batch of unmappings (mm/kstack.c). */
void arch_tlb_shootdown_all(void);

#endif
