/*
 * arch/context: threads' saved register state, and running a function on another
 * stack (arch/x86_64/context_switch.S and call_on_stack.S, each drawing the frame
 * it saves).
 *
 * void arch_context_switch(uint64_t *save_sp, uint64_t load_sp, bool *saved)
 * saves what the outgoing thread needs on the current stack, stores the stack
 * pointer in *save_sp, then stores false to *saved (a release: from then on
 * another CPU may resume the outgoing thread, which the switch no longer
 * touches), loads load_sp and resumes the thread that was saved there. Call with
 * interrupts disabled (sched/sched.c's schedule(), from thread or interrupt
 * context alike). Inline, from the arch's machine/context.h: to the compiler it
 * clobbers every register the ABI lets it keep values in, so the caller keeps
 * none across it (x86_64: see context_switch.S).
 * arch_thread_stack_init prepares a new stack (top = highest address, 16-byte
 * aligned) so that switching to the returned stack pointer runs begin(), then
 * entry(arg), then end(), which must not return.
 */
#ifndef EXO_ARCH_CONTEXT_H
#define EXO_ARCH_CONTEXT_H

#include <stdbool.h>
#include <stdint.h>

#include "machine/context.h"

struct arch_thread_start {
    void (*begin)(void);
    void (*entry)(void *arg);
    void *arg;
    __attribute__((noreturn)) void (*end)(void);
};
uint64_t arch_thread_stack_init(uintptr_t top, const struct arch_thread_start *start);

/*
 * Parking: a thread that blocks keeping nothing on its kernel stack (IPC's
 * fastpath, include/sched/thread.h). arch_park_init fills words (ARCH_PARK_WORDS,
 * memory that outlives the park, not on the thread's stack) so that a switch to
 * the returned stack pointer runs begin(), then entry(arg), which must not
 * return (start->end is not used), on the stack below stack_top (16-byte
 * aligned). The words are not changed by a resume: filled once, they serve
 * every park of the thread. arch_context_load is the switch away of a thread
 * that parks: it loads load_sp (as arch_context_switch does for its incoming
 * thread) and clears *released once off the outgoing stack, saving nothing.
 * Interrupts disabled.
 */
uint64_t arch_park_init(uint64_t words[ARCH_PARK_WORDS], const struct arch_thread_start *start,
                        uintptr_t stack_top);
__attribute__((noreturn)) void arch_context_load(uint64_t load_sp, bool *released);

/*
 * Runs fn(arg) on another stack (stack_top: 16-byte aligned, the stack grows down
 * from it) and comes back to the caller's stack when fn returns.
 */
void arch_call_on_stack(void (*fn)(void *arg), void *arg, uintptr_t stack_top);

#endif
