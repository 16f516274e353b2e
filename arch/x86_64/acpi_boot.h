/*
 * acpi_boot: the live machine's ACPI tables, found through the boot info's RSDP
 * copy and read with the pure parser (include/lib/acpi.h) through the direct map,
 * or a device mapping for tables outside the memory map.
 *
 * acpi_load runs once on the boot CPU, after paging, before the I/O APIC and the
 * other CPUs need the tables; acpi_tables returns the kept result (all zero before
 * acpi_load or on a machine without ACPI) for smp.c, ioapic.c and power.c. It is
 * read-only afterwards, so readers need no lock and may be in interrupt context.
 */
#ifndef EXO_ARCH_X86_64_ACPI_BOOT_H
#define EXO_ARCH_X86_64_ACPI_BOOT_H

#include "lib/acpi.h"

void acpi_load(void);
const struct acpi_info *acpi_tables(void);

#endif
