/*
 * Address types of the memory manager. A physical address is a struct, so passing
 * one where a pointer (a virtual address) is expected, or the reverse, does not
 * compile: the classic way to triple-fault a kernel is a physical address
 * dereferenced as if it were mapped.
 *
 * Interrupt context: constants and inline helpers, safe anywhere.
 */
#ifndef EXO_MM_TYPES_H
#define EXO_MM_TYPES_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/mmu.h"

/* A frame is the architecture's smallest page (ARCH_PAGE_SIZE). */
#define FRAME_SIZE ((uint64_t)ARCH_PAGE_SIZE)
#define FRAME_SHIFT ARCH_PAGE_SHIFT

typedef struct {
    uint64_t value;
} phys_addr_t;

/* What allocators return when they cannot satisfy a request. */
#define PHYS_INVALID ((phys_addr_t){UINT64_MAX})

static inline phys_addr_t phys(uint64_t value)
{
    return (phys_addr_t){value};
}

static inline bool phys_is_valid(phys_addr_t p)
{
    return p.value != UINT64_MAX;
}

#endif
