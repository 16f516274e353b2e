/* The local APIC and the interrupt vectors Exo uses (arch/x86_64/apic.c). */
#ifndef EXO_ARCH_X86_64_APIC_H
#define EXO_ARCH_X86_64_APIC_H

#include <stdbool.h>
#include <stdint.h>

#define VECTOR_PIC_BASE 0xe0   /* the masked legacy PIC, 16 vectors: only spurious ones */
#define VECTOR_TIMER 0x20      /* local APIC timer: the scheduler tick */
#define VECTOR_RESCHEDULE 0x21 /* IPI: look at the run queue */
#define VECTOR_SHOOTDOWN 0x22  /* IPI: flush a page from the TLB (smp.c) */
#define VECTOR_DEVICE_FIRST 0x30 /* device interrupts routed by ioapic.c: 0x30-0xdf */
#define VECTOR_DEVICE_LAST 0xdf
#define VECTOR_SPURIOUS 0xff

uint32_t apic_id(void);
void apic_eoi(void);
/* Writes the interrupt command register: icr_low is vector | delivery mode bits. */
void apic_send(uint32_t dest_apic_id, uint32_t icr_low);
void apic_enable_this_cpu(void);
/* Calls fn(ctx) from the boot CPU's timer interrupt on every tick, for a device
 * whose interrupt cannot be routed. One such device; set once, at boot. */
void apic_poll_on_tick(void (*fn)(void *ctx), void *ctx);
bool apic_dispatch(unsigned vector);

/* Maps the MADT's I/O APICs and masks every input (arch/x86_64/ioapic.c); after
 * acpi_load, on the boot CPU. */
void ioapic_init(void);

/* The APIC ID of a CPU index (arch/x86_64/smp.c). */
uint32_t smp_apic_id(unsigned cpu);
void smp_set_boot_cpu(uint32_t apic_id);
/* Handles a pending TLB shootdown for this CPU, if any (cheap when none). */
void smp_service_shootdown(void);
void smp_init_ipis(void);
/* TLB shootdowns CPU `cpu` has carried out for others. */
uint64_t smp_shootdowns_handled(unsigned cpu);
/* A panic asked every other CPU to stop. */
bool smp_stop_requested(void);
/* Counts this CPU as stopped and halts it for good (the stop NMI). */
__attribute__((noreturn)) void smp_stop_this_cpu(void);

#endif
