/*
 * ACPI tables, as far as SMP needs them: the RSDP (the boot info's copy), the
 * XSDT or RSDT, and the MADT's local APIC entries. Nothing is trusted: each
 * table's signature, length and checksum are checked before it is used, a bad
 * table is reported through `diag` and skipped, and MADT entries are bounded by
 * the table's length (a zero-length entry ends the walk).
 *
 * Pure: physical memory is read through `read_phys`, so the host tests can feed
 * it fabricated tables.
 */
#ifndef EXO_ARCH_X86_64_ACPI_H
#define EXO_ARCH_X86_64_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACPI_MAX_CPUS 256

typedef const void *(*acpi_read_fn)(void *ctx, uint64_t phys, size_t len);
typedef void (*acpi_diag_fn)(const char *message);

struct acpi_madt_info {
    unsigned cpu_count;                  /* usable processors (enabled or online-capable) */
    uint32_t apic_ids[ACPI_MAX_CPUS];
    uint64_t lapic_phys;                 /* the local APIC's address */
};

/* Finds the MADT from the RSDP copy; false (with a message) when there is none
 * usable, in which case the caller runs on the boot CPU alone. */
bool acpi_read_madt(const uint8_t *rsdp, size_t rsdp_len, acpi_read_fn read_phys, void *ctx,
                    acpi_diag_fn diag, struct acpi_madt_info *out);

#endif
