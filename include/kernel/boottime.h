/*
 * boottime: how long the boot took, phase by phase.
 *
 * kernel_main calls boottime_start first thing (a timestamp at kernel entry, in
 * arch_read_timestamp cycles), then boottime_mark at the end of each phase with the phase's name.
 * Cycles become microseconds through arch_timestamp_hz, so converting needs the clocks
 * calibrated (arch_interrupts_init); recording does not. The shell's `log` prints
 * the phases and kernel_main the total ("boot: shell ready in N us").
 *
 * Written by the boot CPU during boot only; read afterwards, no lock.
 *
 * Interrupt context: not used from it (the boot CPU, during boot).
 */
#ifndef EXO_KERNEL_BOOTTIME_H
#define EXO_KERNEL_BOOTTIME_H

#include <stdint.h>

#define BOOTTIME_MAX_PHASES 16

/* Records kernel entry. */
void boottime_start(void);
/* Records the end of the phase `name` (a string that lives for good). */
void boottime_mark(const char *name);
/* TSC cycles from kernel entry to now. Under QEMU's `-icount shift=0`, where the
 * guest TSC counts guest instructions, this is the boot's path length. */
uint64_t boottime_since_entry_cycles(void);
/* Cycles to microseconds (0 before the clocks are calibrated). */
uint64_t boottime_cycles_to_us(uint64_t cycles);
/* Microseconds from kernel entry to now. */
uint64_t boottime_since_entry_us(void);
/* How long the phase `name` took (since the previous mark), in cycles; 0 for a
 * phase not recorded. */
uint64_t boottime_phase_cycles(const char *name);
/* Prints each phase's duration and its end since entry, one line each. */
void boottime_print(void);

#endif
