/*
 * x86_64's page-table entry bits (Intel SDM vol. 3, 4.5) and the pure entry and
 * address tests of include/arch/mmu.h that the page-table walk runs at every
 * level, inline: as calls into arch/x86_64/pte.c they cost a call and a return
 * each, several times a walk. A port supplies arch/<name>/include/machine/pte.h
 * with the same functions.
 */
#ifndef EXO_MACHINE_PTE_H
#define EXO_MACHINE_PTE_H

#include <stdbool.h>
#include <stdint.h>

#include "machine/mmu.h"

#define PTE_PRESENT (1ull << 0)
#define PTE_WRITE (1ull << 1)
#define PTE_USER (1ull << 2)
#define PTE_WRITE_THROUGH (1ull << 3) /* PWT: PAT index bit 0 */
#define PTE_CACHE_DISABLE (1ull << 4) /* PCD: PAT index bit 1 */
#define PTE_ACCESSED (1ull << 5)
#define PTE_DIRTY (1ull << 6)
#define PTE_HUGE (1ull << 7) /* PS in a level-1 or level-2 entry */
#define PTE_GLOBAL (1ull << 8)
#define PTE_NO_EXEC (1ull << 63)
#define PTE_ADDR_MASK 0x000ffffffffff000ull

static inline bool arch_pte_present(uint64_t pte)
{
    return (pte & PTE_PRESENT) != 0;
}

static inline bool arch_pte_is_leaf(uint64_t pte, unsigned level)
{
    return level == 0 || (level < 3 && (pte & PTE_HUGE));
}

static inline uint64_t arch_pte_phys(uint64_t pte, unsigned level)
{
    /* In a 2 MiB or 1 GiB entry bit 12 is the PAT bit, not part of the address. */
    if (level > 0 && (pte & PTE_HUGE))
        return pte & PTE_ADDR_MASK & ~((1ull << (12 + 9 * level)) - 1);
    return pte & PTE_ADDR_MASK;
}

static inline unsigned arch_va_index(uintptr_t va, unsigned level)
{
    return (unsigned)(va >> (ARCH_PAGE_SHIFT + ARCH_PT_INDEX_BITS * level)) &
           ((1u << ARCH_PT_INDEX_BITS) - 1);
}

static inline bool arch_va_is_canonical(uintptr_t va)
{
    /* Bits 63..47 all equal. */
    uint64_t top = va >> 47;
    return top == 0 || top == 0x1ffff;
}

static inline bool arch_va_is_kernel(uintptr_t va)
{
    return (va >> 63) != 0;
}

#endif
