/*
 * frame_ref: how many address spaces map a user frame, for copy-on-write.
 *
 * Kept beside the frame allocator, not inside it: one 32-bit counter per frame
 * number, in an array sized at boot from the highest usable physical address
 * (4 bytes per 4 KiB frame, 0.1% of RAM) and taken from the frame allocator in
 * one run, so it costs nothing per allocation and never moves.
 *
 * A counter holds the number of *extra* mappings: 0 means the frame has one
 * owner (or none), which is what every fresh frame has, so populating a page
 * never touches this array; fork adds one per page it shares; unmapping removes
 * one, and the mapping that finds 0 is the last and frees the frame. The sum of
 * all counters (frame_ref_shared_total) is 0 whenever nothing is shared: tests
 * check it returns exactly to its start.
 *
 * Locking: the counters are atomic; a release races safely with another
 * release (compare-and-swap). Only a holder of a mapping adds one, so a count
 * of 0 seen by a holder cannot grow behind its back. Any context.
 */
#ifndef EXO_MM_FRAME_REF_H
#define EXO_MM_FRAME_REF_H

#include <stdbool.h>
#include <stdint.h>

#include "mm/types.h"

/* Sizes and allocates the counters (boot, once, after frame_init). -ENOMEM. */
int frame_ref_init(void) __attribute__((warn_unused_result));
/* One more mapping of `frame` (which the caller maps already). */
void frame_ref_share(phys_addr_t frame);
/* One mapping fewer: true when it was the last, and the caller frees the frame. */
bool frame_ref_release(phys_addr_t frame) __attribute__((warn_unused_result));
/* Does some other mapping hold `frame`? */
bool frame_ref_is_shared(phys_addr_t frame);
/* Extra mappings over all frames (0 when nothing is shared). */
uint64_t frame_ref_shared_total(void);

#endif
