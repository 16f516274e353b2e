/*
 * x86_64's arch_context_switch (include/arch/context.h): a call of
 * arch_context_switch_bare (context_switch.S) that clobbers, as far as the
 * compiler knows, every general register but rsp and rbp. The compiler then
 * saves the callee-saved ones its function uses in that function's prologue and
 * keeps nothing in a register across the switch, so the switch itself saves only
 * rbp and rsp. The kernel is built without a red zone (-mno-red-zone), so a call
 * from an asm statement does not overwrite the caller's locals.
 */
#ifndef EXO_MACHINE_CONTEXT_H
#define EXO_MACHINE_CONTEXT_H

#include <stdbool.h>
#include <stdint.h>

/* The words a parked thread resumes from (arch_park_init): rbp, the return
 * address, begin, entry, arg, stack. */
#define ARCH_PARK_WORDS 6

#if __STDC_HOSTED__ == 0
static inline __attribute__((always_inline)) void arch_context_switch(uint64_t *save_sp,
                                                                      uint64_t load_sp,
                                                                      bool *saved)
{
    __asm__ volatile("call arch_context_switch_bare"
                     : "+D"(save_sp), "+S"(load_sp), "+d"(saved)
                     :
                     : "rax", "rbx", "rcx", "r8", "r9", "r10", "r11", "r12", "r13",
                       "r14", "r15", "memory", "cc");
}
#else
void arch_context_switch(uint64_t *save_sp, uint64_t load_sp, bool *saved);
#endif

#endif
