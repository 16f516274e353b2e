/*
 * arch/mmu: what mm/paging.c asks of the MMU. The page-table walk itself is
 * arch-neutral (mm/paging.c); the entry format, the TLB and the root register are
 * the architecture's, implemented in arch/x86_64/pte.c (pure bit manipulation,
 * also built into the host tests) and arch/x86_64/mmu.c (privileged instructions).
 *
 * Levels count up from the leaf: level 0 tables map 4 KiB pages, level 1 entries
 * may map 2 MiB pages, level 2 entries 1 GiB pages, level ARCH_PT_LEVELS-1 is the
 * root. Permissions are the PAGE_* flags of include/mm/paging.h.
 */
#ifndef EXO_ARCH_MMU_H
#define EXO_ARCH_MMU_H

#include <stdbool.h>
#include <stdint.h>

#define ARCH_PT_LEVELS 4
#define ARCH_PT_ENTRIES 512
#define ARCH_PT_INDEX_BITS 9

/* ---- entries (arch/x86_64/pte.c) ------------------------------------------ */

/* An entry mapping a page of level `level` (0: 4 KiB, 1: 2 MiB, 2: 1 GiB). */
uint64_t arch_pte_leaf(uint64_t phys, unsigned page_flags, unsigned level);
/* An entry pointing to a next-level table; `user` lets user pages sit below it. */
uint64_t arch_pte_table(uint64_t table_phys, bool user);
bool arch_pte_present(uint64_t pte);
/* Does this present entry at `level` map a page (rather than point to a table)? */
bool arch_pte_is_leaf(uint64_t pte, unsigned level);
/* The physical address the entry points to (a page or a table). */
uint64_t arch_pte_phys(uint64_t pte, unsigned level);
/* The PAGE_* flags a leaf entry grants. */
unsigned arch_pte_flags(uint64_t pte);
/* What a table entry lets through to the entries below it (PAGE_WRITE, PAGE_EXEC,
 * PAGE_USER): the effective rights of a page are the intersection along its walk. */
unsigned arch_pte_table_rights(uint64_t pte);

/* The index of `va` in a table of level `level`. */
unsigned arch_va_index(uintptr_t va, unsigned level);
bool arch_va_is_canonical(uintptr_t va);
/* Kernel half: shared by every address space. */
bool arch_va_is_kernel(uintptr_t va);
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
/* Invalidates va on this CPU and every other online CPU, waiting until all have. */
void arch_tlb_shootdown(uintptr_t va);
/* Invalidates every translation, global ones included, on every online CPU: one
 * IPI round for a batch of unmappings (mm/kstack.c). */
void arch_tlb_shootdown_all(void);

#endif
