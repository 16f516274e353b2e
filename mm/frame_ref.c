/*
 * Reference counts of shared user frames (include/mm/frame_ref.h).
 */
#include "mm/frame_ref.h"

#include "arch/mmu.h"
#include "base/panic.h"
#include "lib/errno.h"
#include "lib/string.h"
#include "mm/frame.h"

static uint32_t *extra_refs;   /* [frame number]; set once at boot */
static uint64_t frames_covered; /* entries in extra_refs */
static uint64_t shared_total;  /* (A) sum of extra_refs */

int frame_ref_init(void)
{
    struct frame_stats stats;
    frame_get_stats(&stats);
    uint64_t count = stats.highest_phys / FRAME_SIZE;
    uint64_t bytes = count * sizeof(uint32_t);
    size_t nframes = (size_t)((bytes + FRAME_SIZE - 1) / FRAME_SIZE);
    phys_addr_t run = frame_alloc_run(nframes, 1);
    if (!phys_is_valid(run))
        return -ENOMEM;
    extra_refs = arch_phys_to_virt(run.value);
    memset(extra_refs, 0, nframes * FRAME_SIZE);
    frames_covered = count;
    return 0;
}

static uint32_t *counter(phys_addr_t frame)
{
    uint64_t number = frame.value / FRAME_SIZE;
    if (number >= frames_covered)
        panic("frame_ref: frame 0x%lx beyond the %lu counted", frame.value, frames_covered);
    return &extra_refs[number];
}

void frame_ref_share(phys_addr_t frame)
{
    if (__atomic_add_fetch(counter(frame), 1, __ATOMIC_RELAXED) == 0)
        panic("frame_ref: count of 0x%lx overflowed", frame.value);
    __atomic_fetch_add(&shared_total, 1, __ATOMIC_RELAXED);
}

bool frame_ref_release(phys_addr_t frame)
{
    uint32_t *c = counter(frame);
    uint32_t seen = __atomic_load_n(c, __ATOMIC_ACQUIRE);
    do {
        if (seen == 0)
            return true; /* the only mapping: the caller frees */
    } while (!__atomic_compare_exchange_n(c, &seen, seen - 1, false, __ATOMIC_ACQ_REL,
                                          __ATOMIC_ACQUIRE));
    __atomic_fetch_sub(&shared_total, 1, __ATOMIC_RELAXED);
    return false;
}

bool frame_ref_is_shared(phys_addr_t frame)
{
    return __atomic_load_n(counter(frame), __ATOMIC_ACQUIRE) != 0;
}

uint64_t frame_ref_shared_total(void)
{
    return __atomic_load_n(&shared_total, __ATOMIC_RELAXED);
}
