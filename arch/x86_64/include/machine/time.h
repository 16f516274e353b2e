/*
 * x86_64's inline part of include/arch/time.h. A port supplies
 * arch/<name>/include/machine/time.h (it may be empty).
 */
#ifndef EXO_MACHINE_TIME_H
#define EXO_MACHINE_TIME_H

#include <stdint.h>

#if __STDC_HOSTED__ == 0
/* arch_read_timestamp, inline in the kernel (the switch between user threads
 * reads it for their CPU time); a hosted build (tests/host) links its shim's.
 * lfence keeps rdtsc from running ahead of the code before it. */
static inline uint64_t arch_read_timestamp(void)
{
    uint64_t t, high;
    /* rdtsc clears the upper halves: the halves join without a zero-extension. */
    __asm__ volatile("lfence; rdtsc; shlq $32, %%rdx; orq %%rdx, %%rax"
                     : "=a"(t), "=d"(high)
                     :
                     : "memory");
    return t;
}
#define MACHINE_READ_TIMESTAMP_INLINE 1
#endif

#endif
