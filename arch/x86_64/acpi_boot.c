/*
 * The live machine's ACPI tables: read once through the direct map (or, for tables
 * outside the memory map, a device mapping), kept for the rest of the kernel's life.
 */
#include "acpi_boot.h"

#include "arch/mmu.h"
#include "kernel/boot.h"
#include "base/panic.h"
#include "lib/printf.h"
#include "mm/paging.h"
#include "arch/platform.h"

/* Written once by acpi_load on the boot CPU before any other CPU starts;
 * read-only afterwards, so readers need no lock. */
static struct acpi_info tables;
static bool loaded;

static const void *read_acpi(void *ctx, uint64_t table_phys, size_t len)
{
    (void)ctx;
    struct translation t;
    uint64_t last = table_phys + len - 1;
    if (len == 0 || last < table_phys)
        return NULL;
    uint64_t direct_bytes = arch_va_layout.direct_map.end - arch_va_layout.direct_map.start;
    uintptr_t va = (uintptr_t)arch_phys_to_virt(table_phys);
    if (last < direct_bytes && paging_translate(&kernel_space, va, &t) &&
        paging_translate(&kernel_space, (uintptr_t)arch_phys_to_virt(last), &t))
        return (const void *)va;
    /* Outside the memory map: map it like a device (read-only, left mapped). */
    return paging_map_device(phys(table_phys), len, PAGE_NOCACHE);
}

static void print_diag(const char *message)
{
    kprintf("%s\n", message);
}

void acpi_load(void)
{
    KASSERT(!loaded);
    const struct boot_info *info = boot_info();
    loaded = true;
    if (!acpi_read_tables(info->rsdp, info->rsdp_len, read_acpi, NULL, print_diag, &tables))
        return;
    const struct acpi_madt_info *madt = &tables.madt;
    const struct acpi_fadt_info *fadt = &tables.fadt;
    kprintf("acpi: %s; MADT: %u CPUs, %u I/O APICs; FADT: %s",
            tables.xsdt ? "XSDT" : "RSDT (ACPI 1.0)", madt->cpu_count, madt->ioapic_count,
            fadt->found ? "" : "none");
    if (fadt->found)
        kprintf("PM1a_CNT 0x%x, SCI %u, reset %s; _S5 %s", fadt->pm1a_cnt_port, fadt->sci_irq,
                fadt->reset_supported ? "register" : "none", tables.s5.found ? "found" : "none");
    kprintf("\n");
}

const struct acpi_info *acpi_tables(void)
{
    return &tables;
}

/* Before paging: the early map covers the low 4 GiB, where firmware keeps its
 * tables on every PC we know of; a table above it is reported and skipped. */
static const void *read_early(void *ctx, uint64_t phys, size_t len)
{
    (void)ctx;
    if (len == 0 || phys >= ARCH_EARLY_DIRECT_MAP_BYTES || len > ARCH_EARLY_DIRECT_MAP_BYTES - phys)
        return NULL;
    return arch_phys_to_virt(phys);
}

const struct acpi_numa_info *arch_numa_tables(void)
{
    static struct acpi_numa_info numa; /* boot CPU only, then read-only */
    static bool numa_loaded;
    if (!numa_loaded) {
        const struct boot_info *info = boot_info();
        numa_loaded = true;
        acpi_read_numa(info->rsdp, info->rsdp_len, read_early, NULL, print_diag, &numa);
    }
    return &numa;
}
