/*
 * panic: the end of the line for a broken invariant.
 *
 * panic() prints "PANIC: " and the message, the CPU, and a symbolized backtrace on
 * every console, then stops the machine. In test mode (panic_set_test_mode) it also
 * ends the QEMU run with the failure status, so the harness does not wait for a
 * timeout. The arch exception handler composes its own report from the same
 * pieces: panic_begin, its lines, panic_backtrace_from, panic_end.
 * A panic while panicking prints one line and halts.
 *
 * Declared here, on the base floor, so that every floor (lib/ users, arch/, mm/,
 * sched/) can stop the machine; implemented in kernel/panic.c, which may use the
 * consoles and the scheduler's idea of the current thread.
 *
 * Interrupt context: everything here may be called from it (exception handlers
 * report through panic_begin .. panic_end).
 */
#ifndef EXO_BASE_PANIC_H
#define EXO_BASE_PANIC_H

#include <stdbool.h>
#include <stdint.h>

__attribute__((noreturn, format(printf, 1, 2))) void panic(const char *fmt, ...);

/* Interrupts off, recursion guard. */
void panic_begin(void);
/* Prints "  on cpu N, thread T 'name'". */
void panic_print_context(void);
/* Prints "0x<addr> <symbol+0xoff>". */
void panic_print_symbol(uint64_t addr);
/* Prints "backtrace:" with ip first, then the return addresses of the fp chain. */
void panic_backtrace_from(uint64_t ip, uint64_t frame_pointer);
__attribute__((noreturn)) void panic_end(void);

void panic_set_test_mode(bool exit_vm_on_panic);

/* Assertions stay on in every build. */
#define KASSERT(cond)                                                                   \
    do {                                                                                \
        if (!(cond))                                                                    \
            panic("assertion failed: %s at %s:%d", #cond, __FILE__, __LINE__);          \
    } while (0)

#endif
