/*
 * arch/smp: starting the other CPUs, and the inter-processor interrupts between
 * them (arch/x86_64/smp.c and apic.c; the CPUs are those the firmware lists,
 * through ACPI's MADT on x86_64).
 *
 * Interrupt context: arch_cpu_count, arch_send_ipi, arch_ipi_count,
 * arch_cpu_hw_id(_of) and arch_stop_other_cpus may be called from it;
 * arch_smp_start and arch_set_reschedule_handler are for boot.
 */
#ifndef EXO_ARCH_SMP_H
#define EXO_ARCH_SMP_H

#include <stdint.h>

/* CPUs online (1 until other CPUs are started). */
unsigned arch_cpu_count(void);
/* Starts the other CPUs the firmware lists, up to max_cpus in all (0: no limit),
 * one by one: each gets its descriptor tables, per-CPU area, MMU features,
 * interrupt controller and a kernel stack, then runs ap_main(index) with
 * interrupts off (ap_main never returns). Returns the CPUs online. */
unsigned arch_smp_start(unsigned max_cpus, void (*ap_main)(unsigned cpu));
/* For tests (the command line's late_cpu=): CPU index `cpu` (>= 1) will arrive
 * twice as late as arch_smp_start waits for it, so that the give-up path runs
 * deterministically. Call before arch_smp_start. */
void arch_smp_make_cpu_late(unsigned cpu);
/* CPUs arch_smp_start gave up on (did not arrive in time; parked). */
unsigned arch_cpus_given_up(void);
/* Stops every other CPU (NMI), for panic: the first caller only. Returns how
 * many stopped (waiting briefly for each to answer). */
unsigned arch_stop_other_cpus(void);
enum arch_ipi {
    ARCH_IPI_RESCHEDULE,    /* runs the handler set by arch_set_reschedule_handler */
    ARCH_IPI_TLB_SHOOTDOWN, /* sent by the paging code's invalidation (not by hand) */
    ARCH_IPI_KINDS,
};
/* Sends a reschedule IPI (the only kind sent by name). */
void arch_send_ipi(unsigned cpu, enum arch_ipi kind);
void arch_set_reschedule_handler(void (*handler)(void));
/* How many IPIs of a kind CPU `cpu` has handled since boot (for tests and the
 * shell; a TLB shootdown answered while spinning counts too). */
uint64_t arch_ipi_count(unsigned cpu, enum arch_ipi kind);

/* Processors the firmware lists, usable or not by this kernel; 1 when it lists
 * none. The smp= limit and ARCH_MAX_CPUS cut the CPUs online. */
unsigned arch_cpus_listed(void);
/* The interrupt controller's ID of the calling CPU, read from the hardware, and
 * the one recorded for CPU index `cpu` when it was started. */
uint32_t arch_cpu_hw_id(void);
uint32_t arch_cpu_hw_id_of(unsigned cpu);

#endif
