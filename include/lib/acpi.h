/*
 * ACPI tables, as far as the kernel needs them: the RSDP (the boot info's copy),
 * the XSDT or RSDT, the MADT (processors, I/O APICs, ISA interrupt overrides), the
 * FADT (power management ports, reset register, DSDT, SCI), in the DSDT's AML
 * the \_S5 package (the sleep type values for soft-off), the HPET table (where
 * the High Precision Event Timer is: a clock source), and the NUMA topology
 * from the SRAT and SLIT.
 *
 * Nothing is trusted: each table's signature, length and checksum are checked
 * before it is used, a bad table is reported through `diag` and skipped, MADT
 * entries are bounded by the table's length (a zero-length entry ends the walk),
 * FADT fields are read only when the table's length covers them, and the AML scan
 * never reads past the DSDT. Every list has a fixed bound; what does not fit is
 * reported and dropped.
 *
 * The parser (lib/acpi.c) is pure and arch-neutral (an ARM64 server's firmware
 * has the same tables): physical memory is read through `read_phys`, so the host
 * tests and the fuzzer feed it fabricated tables. Finding and mapping the live
 * machine's tables is the architecture's (x86_64: arch/x86_64/acpi_boot.h).
 * Interrupt context: no state, no locks: callable from any context with its own
 * `out` (the kernel calls it once, at boot).
 */
#ifndef EXO_LIB_ACPI_H
#define EXO_LIB_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACPI_MAX_CPUS 1024  /* processors kept from the MADT, and affinities from the SRAT */
#define ACPI_MAX_NODES 64   /* proximity domains kept from the SRAT */
#define ACPI_MAX_MEM_RANGES 128 /* memory affinity ranges kept from the SRAT */
#define ACPI_MAX_IOAPICS 16
#define ACPI_ISA_IRQS 16
#define ACPI_MAX_ROOT_ENTRIES 256 /* tables listed in the XSDT/RSDT that are looked at */

/* Returns a pointer to `len` readable bytes at physical `phys`, or NULL. What it
 * returns must stay readable until acpi_read_tables returns. */
typedef const void *(*acpi_read_fn)(void *ctx, uint64_t phys, size_t len);
typedef void (*acpi_diag_fn)(const char *message);

struct acpi_ioapic {
    uint8_t id;
    uint32_t address_phys; /* its register window */
    uint32_t gsi_base;     /* the global system interrupt of its input 0 */
};

/* How an ISA IRQ reaches the I/O APIC. Without an override: GSI = IRQ, edge
 * triggered, active high (the ISA bus's own convention). */
struct acpi_isa_route {
    uint32_t gsi;
    bool active_low;
    bool level_triggered;
    bool overridden; /* an interrupt source override said so */
};

struct acpi_madt_info {
    bool found;                          /* a valid MADT was parsed */
    unsigned cpu_count;                  /* usable processors (enabled or online-capable) */
    unsigned cpus_dropped;               /* usable processors listed beyond ACPI_MAX_CPUS */
    uint32_t apic_ids[ACPI_MAX_CPUS];
    uint64_t lapic_phys;                 /* the local APIC's address */
    unsigned ioapic_count;
    struct acpi_ioapic ioapics[ACPI_MAX_IOAPICS];
    struct acpi_isa_route isa[ACPI_ISA_IRQS]; /* every ISA IRQ, defaults filled in */
};

/* A Generic Address Structure: where a register is, in which address space. */
enum acpi_address_space {
    ACPI_SPACE_MEMORY = 0,
    ACPI_SPACE_IO = 1,
    ACPI_SPACE_PCI_CONFIG = 2,
};
struct acpi_gas {
    uint8_t space; /* enum acpi_address_space, or another value the kernel cannot use */
    uint8_t bit_width, bit_offset, access_size;
    uint64_t address;
};

struct acpi_fadt_info {
    bool found;
    uint16_t sci_irq;           /* the SCI's ISA IRQ (or GSI) */
    uint32_t smi_cmd_port;      /* 0: the machine is always in ACPI mode */
    uint8_t acpi_enable_value;  /* written to smi_cmd_port to enter ACPI mode */
    uint16_t pm1a_cnt_port;     /* 0: none */
    uint16_t pm1b_cnt_port;     /* 0: none (the usual case) */
    bool reset_supported;       /* the FADT's RESET_REG_SUP flag, and a usable register */
    struct acpi_gas reset_reg;
    uint8_t reset_value;
    uint64_t dsdt_phys;         /* X_DSDT when valid, else DSDT; 0: none */
    uint16_t pm_timer_port;     /* the ACPI PM timer (3.579545 MHz) in I/O space; 0: none */
    bool pm_timer_32bit;        /* TMR_VAL_EXT: the PM timer counts 32 bits, not 24 */
    bool hardware_reduced;      /* HW_REDUCED_ACPI: no PM1 blocks, no PM timer, no SCI */
};

/* The HPET table: the first timer block's register window. */
struct acpi_hpet_info {
    bool found;            /* a valid HPET table whose window is in memory space */
    uint64_t address_phys; /* 1 KiB of registers */
};

struct acpi_s5_info {
    bool found;
    uint8_t slp_typ_a, slp_typ_b; /* for PM1a_CNT and PM1b_CNT, 3 bits each */
};

struct acpi_info {
    bool root_found; /* a valid RSDP and XSDT/RSDT */
    bool xsdt;       /* the root table is the XSDT (ACPI 2.0+), not the RSDT */
    struct acpi_madt_info madt;
    struct acpi_fadt_info fadt;
    struct acpi_s5_info s5;
    struct acpi_hpet_info hpet;
};

/* A range of memory and the NUMA node it belongs to (an index into the domains). */
struct acpi_mem_affinity {
    uint64_t base_phys;
    uint64_t length_bytes;
    uint32_t node;
};

struct acpi_cpu_affinity {
    uint32_t apic_id; /* local APIC or x2APIC ID */
    uint32_t node;
};

/*
 * The SRAT and SLIT. Proximity domains, which firmware may number sparsely, become
 * node indexes 0 .. node_count-1 in ascending domain order (domains[] maps back).
 * A domain counts when an enabled CPU or a usable memory range names it, so a node
 * may have memory and no CPUs, or CPUs and no memory. Memory ranges that are
 * disabled, hot-pluggable, empty or that overlap an earlier range are dropped
 * (reported). Distances: the SLIT's when it is present and sane (10 on the
 * diagonal, more elsewhere, covering every domain), else 10 local and 20 remote.
 * Without a valid SRAT there is one node (srat_found false, node_count 1).
 */
struct acpi_numa_info {
    bool srat_found;
    bool slit_found; /* and used */
    unsigned node_count;
    uint32_t domains[ACPI_MAX_NODES];
    unsigned mem_count;
    struct acpi_mem_affinity mem[ACPI_MAX_MEM_RANGES];
    unsigned cpu_count;
    struct acpi_cpu_affinity cpus[ACPI_MAX_CPUS];
    uint8_t distance[ACPI_MAX_NODES][ACPI_MAX_NODES];
};

/* Reads the SRAT and SLIT from the RSDP copy (only those: the kernel needs them
 * before it has a heap). Always fills *out with a usable topology; returns
 * srat_found. */
bool acpi_read_numa(const uint8_t *rsdp, size_t rsdp_len, acpi_read_fn read_phys, void *ctx,
                    acpi_diag_fn diag, struct acpi_numa_info *out);

/* The node index of a proximity domain the SRAT named (node_count otherwise). */
unsigned acpi_node_of_domain(const struct acpi_numa_info *info, uint32_t domain);

/* Reads everything above from the RSDP copy. Parts that are missing or malformed
 * are reported through diag and left zeroed (found = false); the result is
 * root_found. */
bool acpi_read_tables(const uint8_t *rsdp, size_t rsdp_len, acpi_read_fn read_phys, void *ctx,
                      acpi_diag_fn diag, struct acpi_info *out);

/* Scans AML (a DSDT's body) for `Name (_S5, Package () { a, b, ... })` and decodes
 * its first two integers. False, with a message, when there is none usable. */
bool acpi_find_s5(const uint8_t *aml, size_t aml_len, acpi_diag_fn diag,
                  struct acpi_s5_info *out);

#endif
