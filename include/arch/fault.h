/*
 * arch/fault: backtraces, and catching a CPU exception on purpose, for the panic
 * report and for tests that must provoke a fault (arch/x86_64: idt.c,
 * fault_jump.S).
 *
 * Interrupt context: all of these may be called from it (the panic path does).
 */
#ifndef EXO_ARCH_FAULT_H
#define EXO_ARCH_FAULT_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Frame-pointer backtrace: calls `visit` with each return address found by walking
 * the chain of saved frame pointers, starting at `frame_pointer` (0 means the
 * caller's own frame), stopping after max_frames or at an implausible pointer.
 */
typedef void (*arch_backtrace_fn)(void *ctx, uint64_t return_address);
void arch_backtrace(uint64_t frame_pointer, int max_frames, arch_backtrace_fn visit, void *ctx);

/* What a caught fault looked like. */
struct fault_info {
    unsigned vector;     /* exception number (x86: 0..31) */
    uint64_t error_code; /* 0 where the exception has none */
    uint64_t fault_addr; /* the faulting data address, for page faults; else 0 */
    uint64_t ip;         /* instruction pointer at the fault */
};

/*
 * Runs fn(arg) with fault recovery armed on this CPU: if fn raises a CPU exception,
 * execution resumes here instead of panicking, *out describes the fault, and the
 * result is true. If fn returns normally, the result is false. Faults are caught
 * only while fn runs, one level deep (a nested call panics). For tests that must
 * provoke a fault; never a way to "fix" one.
 */
bool arch_call_catching_fault(void (*fn)(void *arg), void *arg, struct fault_info *out);

/* Is the caught fault a page fault? If so: the kind of access, and whether the
 * page was present (a protection violation) or not. */
enum fault_access {
    FAULT_ACCESS_READ,
    FAULT_ACCESS_WRITE,
    FAULT_ACCESS_EXEC,
};
bool arch_fault_is_page_fault(const struct fault_info *fault, enum fault_access *access,
                              bool *was_present);

/* The exception's name ("page fault"), or "unknown". */
const char *arch_exception_name(unsigned vector);

#endif
