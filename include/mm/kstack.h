/*
 * kstack: kernel stacks, each with unmapped guard pages below it.
 *
 * Stacks live in their own virtual region (arch_va_layout.stacks), cut into
 * KSTACK_CLASSES classes of equal share; class c holds slots of 2^(c+1) pages. A
 * stack of n pages takes a slot of the smallest class with room for n + 1 pages
 * and is mapped at the top of it, so at least one page below the stack is never
 * mapped: running off the bottom is a page fault at a known address
 * (kstack_is_guard), never a silent overwrite of a neighbour.
 *
 * Errors: out of memory or an oversized request returns an error, never panics.
 * Freeing something kstack_alloc did not return, or freeing twice, panics.
 * Locking: one spinlock over the slot bookkeeping (kstack_lock in mm/kstack.c);
 * pages are mapped outside it. A freed stack of up to 15 pages goes, still mapped,
 * into a small per-CPU cache (its own lock), from which the next kstack_alloc of
 * that size on the CPU takes it: no page-table work, no frame. A miss of that
 * cache makes a batch of stacks (half a cache) with one slot-lock hold and one
 * page-table walk per 2 MiB (paging_map_pages); a free into a full cache unmaps
 * the older half of it with the freed stack, in one batch too. Other freed stacks
 * are unmapped at once but their frames and slots are reused only after a batched
 * TLB flush of every CPU.
 *
 * Interrupt context: kstack_is_guard anywhere (the page-fault panic asks it,
 * without a lock). kstack_alloc and kstack_flush only from a thread; kstack_free
 * also from the scheduler's switch path, which may follow an interrupt (the
 * preempt hook) but never runs inside a handler.
 */
#ifndef EXO_MM_KSTACK_H
#define EXO_MM_KSTACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/mmu.h"

#define KSTACK_CLASSES 8 /* slots of 2, 4, ... 256 pages: stacks up to 255 pages */
#define KSTACK_MAX_BYTES (((1ul << KSTACK_CLASSES) - 1) * ARCH_PAGE_SIZE)

struct kstack {
    uintptr_t bottom; /* lowest mapped byte; the guard page is just below */
    uintptr_t top;    /* one past the highest byte: the initial stack pointer */
};

enum kstack_error {
    KSTACK_OK = 0,
    KSTACK_ERR_NO_MEMORY = -1,
    KSTACK_ERR_TOO_LARGE = -2, /* above KSTACK_MAX_BYTES, or 0 */
};

/* Allocates a stack of at least size_bytes (rounded up to pages), its frames from
 * the calling CPU's NUMA node (then the nearest, as frame_alloc). */
int kstack_alloc(size_t size_bytes, struct kstack *out);
/* The same with frames from `node` (then the nearest with memory), for a thread
 * placed on another node's CPU; KSTACK_ANY_NODE: as kstack_alloc. A stack for
 * another node bypasses the per-CPU cache, whose stacks are the CPU's node's. A
 * freed stack goes to the cache of the CPU that frees it when its frames are of
 * that CPU's node (a thread's stack is freed by its joiner, who may run on
 * another node than the thread did); another is unmapped. */
#define KSTACK_ANY_NODE (~0u)
int kstack_alloc_on_node(size_t size_bytes, unsigned node, struct kstack *out);
void kstack_free(const struct kstack *stack);

/* Freed stacks' frames and slots come back in batches, after one TLB flush of
 * every CPU (mm/kstack.c); this unmaps every cached stack and flushes the batch
 * now, so that the frame counts are exact (tests, memory pressure). */
void kstack_flush(void);

/* Is `addr` in the stack region but not in a mapped stack (a guard page hit)? */
bool kstack_is_guard(uintptr_t addr);

/* Stacks allocated now, for tests and `mem`. */
size_t kstack_count(void);

#endif
