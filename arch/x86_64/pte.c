/*
 * x86_64 page-table entry format (4-level paging), for include/arch/mmu.h.
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

bool arch_pte_present(uint64_t pte)
{
    return (pte & PTE_PRESENT) != 0;
}

bool arch_pte_is_leaf(uint64_t pte, unsigned level)
{
    return level == 0 || (level < 3 && (pte & PTE_HUGE));
}

uint64_t arch_pte_phys(uint64_t pte, unsigned level)
{
    /* In a 2 MiB or 1 GiB entry bit 12 is the PAT bit, not part of the address. */
    if (level > 0 && (pte & PTE_HUGE))
        return pte & PTE_ADDR_MASK & ~((1ull << (12 + 9 * level)) - 1);
    return pte & PTE_ADDR_MASK;
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

unsigned arch_va_index(uintptr_t va, unsigned level)
{
    return (unsigned)(va >> (12 + ARCH_PT_INDEX_BITS * level)) & (ARCH_PT_ENTRIES - 1);
}

bool arch_va_is_canonical(uintptr_t va)
{
    /* Bits 63..47 all equal. */
    uint64_t top = va >> 47;
    return top == 0 || top == 0x1ffff;
}

bool arch_va_is_kernel(uintptr_t va)
{
    return (va >> 63) != 0;
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
