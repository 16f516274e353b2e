/*
 * arch/time: a cycle counter, a monotonic clock and a periodic tick
 * (arch/x86_64/apic.c: the TSC and the local APIC timer).
 *
 * arch_read_timestamp* count in cycles of a counter that runs at
 * arch_timestamp_hz; arch_time_ns converts it. Both are valid from
 * arch_interrupts_init on (arch_timestamp_hz is 0 before it: callers that may run
 * earlier check for that).
 *
 * Interrupt context: everything here but arch_timer_start may be called from it.
 */
#ifndef EXO_ARCH_TIME_H
#define EXO_ARCH_TIME_H

#include <stdbool.h>
#include <stdint.h>

#include "machine/time.h"

/* A cycle counter for timing, read in program order. Inline when machine/time.h
 * supplies it. */
#ifndef MACHINE_READ_TIMESTAMP_INLINE
uint64_t arch_read_timestamp(void);
#endif
/* The same counter around code being timed (benchmarks): the `before` read is
 * taken after every earlier instruction and before any later one starts; the
 * `after` read only once every earlier instruction has completed, and before any
 * later one starts. So neither end of the interval leaks into the other side. */
uint64_t arch_read_timestamp_before(void);
uint64_t arch_read_timestamp_after(void);
/* The counter's rate, in Hz (0 until the clocks are calibrated). */
uint64_t arch_timestamp_hz(void);

/* A duration in arch_read_timestamp ticks, in nanoseconds (0 before the clocks
 * are calibrated). */
uint64_t arch_timestamp_to_ns(uint64_t ticks);
/* Monotonic nanoseconds since arch_interrupts_init. */
uint64_t arch_time_ns(void);

/* For tests (clock_test=lie-<key>): the clock source `key` reports rates far too
 * low, so the calibration must reject it and fall back. Call before
 * arch_interrupts_init. False when no source has that key. */
bool arch_clock_make_source_lie(const char *key);

/* Seconds since 1970-01-01 UTC from the machine's battery clock (the CMOS
 * RTC on x86_64, which QEMU sets to the host's time), 0 when it has none.
 * Slow (port I/O, waits out an update): read it once. */
uint64_t arch_wall_clock_seconds(void);

/* Calls tick() every period_ns on this CPU, from its own timer interrupt. */
void arch_timer_start(uint64_t period_ns, void (*tick)(void));
/* How the tick is made, for the boot log: the timer's name and mode
 * ("TSC-deadline APIC", "periodic APIC"), after arch_timer_start. */
const char *arch_timer_mode(void);
/* For tests that play a timer faster than its handler, from inside tick() with
 * interrupts off: acknowledges the timer interrupt being handled, as hardware that
 * acknowledges early would, and raises the timer's interrupt on this CPU again, so
 * that another tick comes under this one as soon as interrupts are on. */
void arch_timer_refire_for_test(void);

#endif
