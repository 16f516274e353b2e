/*
 * x86_64 page-table entry format (4-level paging), for include/arch/mmu.h (the
 * tests a walk runs at every level are inline, in machine/pte.h).
 * Pure bit manipulation: the host tests build this file too.
 */
#include "arch/mmu.h"
#include "mm/paging.h"
#include "mmu_bits.h"

uint64_t arch_pte_leaf(uint64_t phys, unsigned page_flags, unsigned level)
{
    uint64_t pte = PTE_PRESENT | (phys & PTE_ADDR_MASK);
    if (level > 0)
        pte |= PTE_HUGE;
    if (page_flags & PAGE_WRITE)
        pte |= PTE_WRITE;
    if (!(page_flags & PAGE_EXEC))
        pte |= PTE_NO_EXEC;
    if (page_flags & PAGE_USER)
        pte |= PTE_USER;
    if (page_flags & PAGE_GLOBAL)
        pte |= PTE_GLOBAL;
    if (page_flags & PAGE_NOCACHE)
        pte |= PTE_CACHE_DISABLE | PTE_WRITE_THROUGH; /* PAT entry 3: UC */
    else if (page_flags & PAGE_WRITE_COMBINE)
        pte |= PTE_WRITE_THROUGH; /* PAT entry 1, set to WC by arch_mmu_init_this_cpu */
    return pte;
}

uint64_t arch_pte_table(uint64_t table_phys, bool user)
{
    /* Tables grant everything; the leaf decides. */
    return PTE_PRESENT | PTE_WRITE | (user ? PTE_USER : 0) | (table_phys & PTE_ADDR_MASK);
}

unsigned arch_pte_flags(uint64_t pte)
{
    unsigned flags = 0;
    if (pte & PTE_WRITE)
        flags |= PAGE_WRITE;
    if (!(pte & PTE_NO_EXEC))
        flags |= PAGE_EXEC;
    if (pte & PTE_USER)
        flags |= PAGE_USER;
    if (pte & PTE_GLOBAL)
        flags |= PAGE_GLOBAL;
    if ((pte & (PTE_CACHE_DISABLE | PTE_WRITE_THROUGH)) == (PTE_CACHE_DISABLE | PTE_WRITE_THROUGH))
        flags |= PAGE_NOCACHE;
    else if (pte & PTE_WRITE_THROUGH)
        flags |= PAGE_WRITE_COMBINE;
    return flags;
}

unsigned arch_pte_table_rights(uint64_t pte)
{
    unsigned rights = 0;
    if (pte & PTE_WRITE)
        rights |= PAGE_WRITE;
    if (!(pte & PTE_NO_EXEC))
        rights |= PAGE_EXEC;
    if (pte & PTE_USER)
        rights |= PAGE_USER;
    return rights;
}

uintptr_t arch_va_from_indexes(const unsigned index[ARCH_PT_LEVELS])
{
    uint64_t va = 0;
    for (unsigned level = 0; level < ARCH_PT_LEVELS; level++)
        va |= (uint64_t)index[level] << (12 + ARCH_PT_INDEX_BITS * level);
    if (va & (1ull << 47))
        va |= 0xffffull << 48; /* sign-extend bit 47 */
    return (uintptr_t)va;
}
