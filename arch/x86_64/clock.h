/*
 * clock: the TSC's rate (and the APIC timer's, where a source states it), from
 * the first of the machine's clock sources that is present and plausible
 * (clock_select.h judges; clock.c reads the hardware). The order, and why, is
 * at the top of clock.c. Each wait on hardware is bounded, so a source that
 * never counts costs a bounded delay and is reported, never a hang.
 *
 * clock_calibrate runs once on the boot CPU, after acpi_load and paging (the HPET
 * is found in the ACPI tables and mapped), with interrupts off. It prints which
 * source was used and why any was rejected, and panics when none is usable.
 * clock_make_source_lie (tests: clock_test=lie-<key>) must come before it.
 *
 * Interrupt context: not used from it.
 */
#ifndef EXO_ARCH_X86_64_CLOCK_H
#define EXO_ARCH_X86_64_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "clock_select.h"

/* The rates; apic_timer_hz is 0 when the chosen source does not state it. */
struct clock_rates clock_calibrate(void);
/* The name of the source clock_calibrate used ("the HPET"). */
const char *clock_source_name(void);

#endif
