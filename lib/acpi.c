#include "lib/acpi.h"

#include <stdarg.h>

#include "lib/printf.h"
#include "lib/string.h"

#define SDT_HEADER_BYTES 36
#define SDT_MAX_BYTES (1u << 20) /* no table we read is anywhere near this */
#define RSDP_V1_BYTES 20
#define RSDP_V2_BYTES 36

#define MADT_ENTRIES_OFFSET 44
#define MADT_LOCAL_APIC 0
#define MADT_IOAPIC 1
#define MADT_SOURCE_OVERRIDE 2
#define MADT_LAPIC_OVERRIDE 5
#define MADT_LOCAL_X2APIC 9
#define MADT_CPU_ENABLED (1u << 0)
#define MADT_CPU_ONLINE_CAPABLE (1u << 1)
#define MADT_BUS_ISA 0
/* MPS INTI flags of an interrupt source override: 2 bits each, 0 = bus default. */
#define INTI_POLARITY_MASK 0x3u
#define INTI_ACTIVE_HIGH 0x1u
#define INTI_ACTIVE_LOW 0x3u
#define INTI_TRIGGER_SHIFT 2
#define INTI_TRIGGER_EDGE 0x1u
#define INTI_TRIGGER_LEVEL 0x3u

/* FADT field offsets (ACPI 6.5, table 5.9) and the length that must cover each. */
#define FADT_DSDT 40
#define FADT_SCI_INT 46
#define FADT_SMI_CMD 48
#define FADT_ACPI_ENABLE 52
#define FADT_PM1A_CNT_BLK 64
#define FADT_PM1B_CNT_BLK 68
#define FADT_PM_TMR_BLK 76
#define FADT_PM_TMR_LEN 91
#define FADT_FLAGS 112
#define FADT_RESET_REG 116
#define FADT_RESET_VALUE 128
#define FADT_X_DSDT 140
#define FADT_X_PM1A_CNT_BLK 172
#define FADT_X_PM1B_CNT_BLK 184
#define FADT_X_PM_TMR_BLK 208
#define FADT_MIN_BYTES 72 /* through PM1b_CNT_BLK: anything shorter is useless */
#define FADT_FLAG_TMR_VAL_EXT (1u << 8)
#define FADT_FLAG_RESET_REG_SUP (1u << 10)
#define FADT_FLAG_HW_REDUCED_ACPI (1u << 20)
#define PM_TMR_LEN_BYTES 4

/* The HPET table (IA-PC HPET specification 1.0a, table 3): its window's GAS. */
#define HPET_BASE_ADDRESS 40
#define HPET_MIN_BYTES (HPET_BASE_ADDRESS + GAS_BYTES)
#define GAS_BYTES 12

/* AML encodings (ACPI 6.5, section 20). */
#define AML_ZERO_OP 0x00
#define AML_ONE_OP 0x01
#define AML_NAME_OP 0x08
#define AML_BYTE_PREFIX 0x0a
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_PACKAGE_OP 0x12
#define AML_ROOT_CHAR '\\'
#define SLP_TYP_MAX 7 /* a 3-bit field of PM1_CNT */

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static bool checksum_ok(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + p[i]);
    return sum == 0;
}

static void report(acpi_diag_fn diag, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(acpi_diag_fn diag, const char *fmt, ...)
{
    char message[128];
    va_list args;
    va_start(args, fmt);
    kvsnprintf(message, sizeof(message), fmt, args);
    va_end(args);
    diag(message);
}

/* The whole table at `phys` if its header, length and checksum are sound. */
static const uint8_t *read_table(uint64_t phys, acpi_read_fn read_phys, void *ctx,
                                 acpi_diag_fn diag)
{
    const uint8_t *header = read_phys(ctx, phys, SDT_HEADER_BYTES);
    if (!header) {
        report(diag, "acpi: table at 0x%lx is not readable; skipped", phys);
        return NULL;
    }
    uint32_t length = le32(header + 4);
    if (length < SDT_HEADER_BYTES || length > SDT_MAX_BYTES) {
        report(diag, "acpi: table at 0x%lx has an impossible length (%u); skipped", phys, length);
        return NULL;
    }
    const uint8_t *table = read_phys(ctx, phys, length);
    if (!table || le32(table + 4) != length || !checksum_ok(table, length)) {
        report(diag, "acpi: table at 0x%lx is unreadable or fails its checksum; skipped", phys);
        return NULL;
    }
    return table;
}

/* ---- MADT ------------------------------------------------------------------- */

/* APIC IDs below this are checked for duplicates in a bitmap, so the walk stays
 * linear in the CPU count; a larger ID (rare) is compared with every CPU kept. */
#define MADT_SEEN_IDS 4096

static void add_cpu(struct acpi_madt_info *out, uint64_t *seen, uint32_t apic_id, uint32_t flags)
{
    if (!(flags & (MADT_CPU_ENABLED | MADT_CPU_ONLINE_CAPABLE)))
        return;
    if (apic_id < MADT_SEEN_IDS) {
        if ((seen[apic_id / 64] >> (apic_id % 64)) & 1)
            return; /* listed twice (xAPIC and x2APIC entries) */
        seen[apic_id / 64] |= 1ull << (apic_id % 64);
    } else {
        for (unsigned i = 0; i < out->cpu_count; i++) {
            if (out->apic_ids[i] == apic_id)
                return;
        }
    }
    if (out->cpu_count < ACPI_MAX_CPUS)
        out->apic_ids[out->cpu_count++] = apic_id;
    else
        out->cpus_dropped++;
}

static void add_ioapic(struct acpi_madt_info *out, const uint8_t *e, acpi_diag_fn diag)
{
    if (out->ioapic_count == ACPI_MAX_IOAPICS) {
        report(diag, "acpi: more than %d I/O APICs; the rest are ignored", ACPI_MAX_IOAPICS);
        return;
    }
    out->ioapics[out->ioapic_count++] = (struct acpi_ioapic){
        .id = e[2],
        .address_phys = le32(e + 4),
        .gsi_base = le32(e + 8),
    };
}

/* An interrupt source override: ISA IRQ e[3] arrives at GSI le32(e + 4). */
static void add_override(struct acpi_madt_info *out, const uint8_t *e, acpi_diag_fn diag)
{
    uint8_t bus = e[2], irq = e[3];
    uint16_t flags = le16(e + 8);
    unsigned polarity = flags & INTI_POLARITY_MASK;
    unsigned trigger = (flags >> INTI_TRIGGER_SHIFT) & INTI_POLARITY_MASK;
    if (bus != MADT_BUS_ISA || irq >= ACPI_ISA_IRQS) {
        report(diag, "acpi: override of bus %u IRQ %u is not an ISA IRQ; ignored", bus, irq);
        return;
    }
    if (out->isa[irq].overridden) {
        report(diag, "acpi: ISA IRQ %u overridden twice; the first one stands", irq);
        return;
    }
    if (polarity == 2 || trigger == 2) {
        report(diag, "acpi: override of ISA IRQ %u has reserved flags 0x%x; ignored", irq, flags);
        return;
    }
    out->isa[irq] = (struct acpi_isa_route){
        .gsi = le32(e + 4),
        .active_low = polarity == INTI_ACTIVE_LOW,
        .level_triggered = trigger == INTI_TRIGGER_LEVEL,
        .overridden = true,
    };
}

static void parse_madt(const uint8_t *madt, acpi_diag_fn diag, struct acpi_madt_info *out)
{
    uint32_t length = le32(madt + 4);
    if (length < MADT_ENTRIES_OFFSET) {
        diag("acpi: MADT too short; ignored");
        return;
    }
    out->found = true;
    out->lapic_phys = le32(madt + SDT_HEADER_BYTES);
    uint64_t seen[MADT_SEEN_IDS / 64] = {0};
    for (uint32_t off = MADT_ENTRIES_OFFSET; off + 2 <= length;) {
        uint8_t type = madt[off], entry_len = madt[off + 1];
        if (entry_len < 2 || off + entry_len > length) {
            report(diag, "acpi: MADT entry at offset %u is malformed; the rest is ignored", off);
            return;
        }
        const uint8_t *e = madt + off;
        if (type == MADT_LOCAL_APIC && entry_len >= 8)
            add_cpu(out, seen, e[3], le32(e + 4));
        else if (type == MADT_LOCAL_X2APIC && entry_len >= 16)
            add_cpu(out, seen, le32(e + 4), le32(e + 8));
        else if (type == MADT_LAPIC_OVERRIDE && entry_len >= 12)
            out->lapic_phys = le64(e + 4);
        else if (type == MADT_IOAPIC && entry_len >= 12)
            add_ioapic(out, e, diag);
        else if (type == MADT_SOURCE_OVERRIDE && entry_len >= 10)
            add_override(out, e, diag);
        off += entry_len;
    }
    if (out->cpus_dropped)
        report(diag, "acpi: the MADT lists %u more CPUs than the %d kept; %u dropped",
               out->cpus_dropped, ACPI_MAX_CPUS, out->cpus_dropped);
}

/* ---- FADT ------------------------------------------------------------------- */

static struct acpi_gas read_gas(const uint8_t *p)
{
    return (struct acpi_gas){
        .space = p[0],
        .bit_width = p[1],
        .bit_offset = p[2],
        .access_size = p[3],
        .address = le64(p + 4),
    };
}

/* A fixed register block's I/O port (PM1 control, PM timer): the X_ field when it
 * names an I/O port, else the 32-bit field; 0 when neither is a port. */
static uint16_t pm1_cnt_port(const uint8_t *fadt, uint32_t length, uint32_t legacy_off,
                             uint32_t extended_off)
{
    if (length >= extended_off + GAS_BYTES) {
        struct acpi_gas gas = read_gas(fadt + extended_off);
        if (gas.space == ACPI_SPACE_IO && gas.address != 0 && gas.address <= 0xffff)
            return (uint16_t)gas.address;
    }
    uint32_t port = le32(fadt + legacy_off);
    return port <= 0xffff ? (uint16_t)port : 0;
}

/* The PM timer's port: X_PM_TMR_BLK when it names an I/O port, else PM_TMR_BLK, when
 * PM_TMR_LEN says the block is there (4 bytes); 0 otherwise. */
static uint16_t pm_timer_port(const uint8_t *fadt, uint32_t length)
{
    if (length <= FADT_PM_TMR_LEN || fadt[FADT_PM_TMR_LEN] != PM_TMR_LEN_BYTES)
        return 0;
    return pm1_cnt_port(fadt, length, FADT_PM_TMR_BLK, FADT_X_PM_TMR_BLK);
}

static void parse_fadt(const uint8_t *fadt, acpi_diag_fn diag, struct acpi_fadt_info *out)
{
    uint32_t length = le32(fadt + 4);
    if (length < FADT_MIN_BYTES) {
        report(diag, "acpi: FADT too short (%u bytes); ignored", length);
        return;
    }
    out->found = true;
    out->sci_irq = le16(fadt + FADT_SCI_INT);
    out->smi_cmd_port = le32(fadt + FADT_SMI_CMD);
    out->acpi_enable_value = fadt[FADT_ACPI_ENABLE];
    out->pm1a_cnt_port = pm1_cnt_port(fadt, length, FADT_PM1A_CNT_BLK, FADT_X_PM1A_CNT_BLK);
    out->pm1b_cnt_port = pm1_cnt_port(fadt, length, FADT_PM1B_CNT_BLK, FADT_X_PM1B_CNT_BLK);
    uint32_t flags = length >= FADT_FLAGS + 4 ? le32(fadt + FADT_FLAGS) : 0;
    out->hardware_reduced = (flags & FADT_FLAG_HW_REDUCED_ACPI) != 0;
    out->pm_timer_port = out->hardware_reduced ? 0 : pm_timer_port(fadt, length);
    out->pm_timer_32bit = (flags & FADT_FLAG_TMR_VAL_EXT) != 0;
    if (length > FADT_RESET_VALUE) {
        out->reset_reg = read_gas(fadt + FADT_RESET_REG);
        out->reset_value = fadt[FADT_RESET_VALUE];
        bool usable_space = out->reset_reg.space <= ACPI_SPACE_PCI_CONFIG;
        out->reset_supported = (flags & FADT_FLAG_RESET_REG_SUP) && usable_space &&
                               out->reset_reg.address != 0;
    }
    out->dsdt_phys = le32(fadt + FADT_DSDT);
    if (length >= FADT_X_DSDT + 8 && le64(fadt + FADT_X_DSDT) != 0)
        out->dsdt_phys = le64(fadt + FADT_X_DSDT);
}

/* ---- HPET ------------------------------------------------------------------- */

static void parse_hpet(const uint8_t *hpet, acpi_diag_fn diag, struct acpi_hpet_info *out)
{
    uint32_t length = le32(hpet + 4);
    if (length < HPET_MIN_BYTES) {
        report(diag, "acpi: HPET table too short (%u bytes); ignored", length);
        return;
    }
    struct acpi_gas base = read_gas(hpet + HPET_BASE_ADDRESS);
    if (base.space != ACPI_SPACE_MEMORY || base.address == 0) {
        report(diag, "acpi: the HPET is not in memory space (space %u, 0x%lx); ignored",
               base.space, base.address);
        return;
    }
    out->found = true;
    out->address_phys = base.address;
}

/* ---- \_S5 in AML ---------------------------------------------------------------- */

/* Decodes the integer at aml[*pos] (before `end`), advancing *pos. */
static bool aml_integer(const uint8_t *aml, size_t end, size_t *pos, uint32_t *value)
{
    size_t p = *pos;
    if (p >= end)
        return false;
    uint8_t op = aml[p++];
    size_t bytes = op == AML_BYTE_PREFIX ? 1 : op == AML_WORD_PREFIX ? 2
                                             : op == AML_DWORD_PREFIX ? 4 : 0;
    if (op == AML_ZERO_OP || op == AML_ONE_OP) {
        *value = op;
    } else if (bytes == 0 || bytes > end - p) {
        return false;
    } else {
        *value = bytes == 1 ? aml[p] : bytes == 2 ? le16(aml + p) : le32(aml + p);
        p += bytes;
    }
    *pos = p;
    return true;
}

/* Decodes the package that starts at aml[pos] (its PackageOp). */
static bool decode_s5_package(const uint8_t *aml, size_t aml_len, size_t pos,
                              acpi_diag_fn diag, struct acpi_s5_info *out)
{
    if (pos >= aml_len || aml[pos] != AML_PACKAGE_OP)
        return false; /* a name, but not of a package: not the one we want */
    size_t p = pos + 1;
    if (p >= aml_len)
        goto truncated;
    /* PkgLength: bits 7-6 of the lead byte count the bytes that follow it. */
    uint8_t lead = aml[p];
    size_t follow = lead >> 6;
    if (follow > aml_len - p - 1)
        goto truncated;
    uint32_t pkg_len = follow ? lead & 0x0fu : lead & 0x3fu;
    for (size_t i = 0; i < follow; i++)
        pkg_len |= (uint32_t)aml[p + 1 + i] << (4 + 8 * i);
    if (follow && (lead & 0x30)) {
        diag("acpi: _S5 package length is malformed");
        return false;
    }
    if (pkg_len > aml_len - p) /* the length counts from its own first byte */
        goto truncated;
    size_t end = p + pkg_len;
    p += 1 + follow;
    if (p >= end || aml[p] < 2) {
        diag("acpi: _S5 package is empty or has fewer than two elements");
        return false;
    }
    p++;
    uint32_t a, b;
    if (!aml_integer(aml, end, &p, &a) || !aml_integer(aml, end, &p, &b)) {
        diag("acpi: _S5 package does not start with two integers");
        return false;
    }
    if (a > SLP_TYP_MAX || b > SLP_TYP_MAX) {
        report(diag, "acpi: _S5 sleep types %u, %u do not fit SLP_TYP", a, b);
        return false;
    }
    *out = (struct acpi_s5_info){.found = true, .slp_typ_a = (uint8_t)a, .slp_typ_b = (uint8_t)b};
    return true;
truncated:
    diag("acpi: _S5 package runs past the end of the DSDT");
    return false;
}

bool acpi_find_s5(const uint8_t *aml, size_t aml_len, acpi_diag_fn diag,
                  struct acpi_s5_info *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 1; i + 4 <= aml_len; i++) {
        if (memcmp(aml + i, "_S5_", 4) != 0)
            continue;
        /* NameOp, then the name itself or rooted: 08 '_S5_' or 08 '\' '_S5_'. */
        bool named = aml[i - 1] == AML_NAME_OP ||
                     (i >= 2 && aml[i - 1] == AML_ROOT_CHAR && aml[i - 2] == AML_NAME_OP);
        if (named && decode_s5_package(aml, aml_len, i + 4, diag, out))
            return true;
    }
    diag("acpi: no usable \\_S5 package in the DSDT: soft-off is not available");
    return false;
}

/* ---- the root table -------------------------------------------------------------- */

static void read_dsdt(uint64_t phys, acpi_read_fn read_phys, void *ctx, acpi_diag_fn diag,
                      struct acpi_s5_info *out)
{
    if (phys == 0) {
        diag("acpi: the FADT names no DSDT");
        return;
    }
    const uint8_t *dsdt = read_table(phys, read_phys, ctx, diag);
    if (!dsdt)
        return;
    if (memcmp(dsdt, "DSDT", 4) != 0) {
        report(diag, "acpi: the table at 0x%lx is not the DSDT; ignored", phys);
        return;
    }
    uint32_t length = le32(dsdt + 4);
    acpi_find_s5(dsdt + SDT_HEADER_BYTES, length - SDT_HEADER_BYTES, diag, out);
}

/* Parses the table at `phys` if it is the first valid MADT, FADT or HPET seen. */
static void visit_table(uint64_t phys, acpi_read_fn read_phys, void *ctx, acpi_diag_fn diag,
                        struct acpi_info *out)
{
    const uint8_t *header = read_phys(ctx, phys, SDT_HEADER_BYTES);
    if (!header) {
        report(diag, "acpi: table at 0x%lx is not readable; skipped", phys);
        return;
    }
    bool madt = memcmp(header, "APIC", 4) == 0 && !out->madt.found;
    bool fadt = memcmp(header, "FACP", 4) == 0 && !out->fadt.found;
    bool hpet = memcmp(header, "HPET", 4) == 0 && !out->hpet.found;
    if (!madt && !fadt && !hpet)
        return;
    const uint8_t *table = read_table(phys, read_phys, ctx, diag);
    if (!table)
        return;
    if (madt)
        parse_madt(table, diag, &out->madt);
    else if (fadt)
        parse_fadt(table, diag, &out->fadt);
    else
        parse_hpet(table, diag, &out->hpet);
}

static void set_isa_defaults(struct acpi_madt_info *madt)
{
    for (unsigned irq = 0; irq < ACPI_ISA_IRQS; irq++)
        madt->isa[irq] = (struct acpi_isa_route){.gsi = irq};
}

/* The root table (XSDT or RSDT) the RSDP names, or NULL; *xsdt and *entries say
 * how to read its list. */
static const uint8_t *read_root(const uint8_t *rsdp, size_t rsdp_len, acpi_read_fn read_phys,
                                void *ctx, acpi_diag_fn diag, bool *xsdt, uint32_t *entries)
{
    if (rsdp_len < RSDP_V1_BYTES || memcmp(rsdp, "RSD PTR ", 8) != 0 ||
        !checksum_ok(rsdp, RSDP_V1_BYTES)) {
        diag("acpi: no valid RSDP from the boot loader");
        return NULL;
    }
    *xsdt = rsdp[15] >= 2 && rsdp_len >= RSDP_V2_BYTES && checksum_ok(rsdp, RSDP_V2_BYTES) &&
            le64(rsdp + 24) != 0;
    uint64_t root_phys = *xsdt ? le64(rsdp + 24) : le32(rsdp + 16);
    const uint8_t *root = read_table(root_phys, read_phys, ctx, diag);
    if (!root || memcmp(root, *xsdt ? "XSDT" : "RSDT", 4) != 0) {
        diag("acpi: no usable XSDT or RSDT");
        return NULL;
    }
    *entries = (le32(root + 4) - SDT_HEADER_BYTES) / (*xsdt ? 8 : 4);
    if (*entries > ACPI_MAX_ROOT_ENTRIES) {
        report(diag, "acpi: the root table lists %u tables; only the first %d are read",
               *entries, ACPI_MAX_ROOT_ENTRIES);
        *entries = ACPI_MAX_ROOT_ENTRIES;
    }
    return root;
}

static uint64_t root_entry(const uint8_t *root, bool xsdt, uint32_t i)
{
    const uint8_t *p = root + SDT_HEADER_BYTES + i * (xsdt ? 8 : 4);
    return xsdt ? le64(p) : le32(p);
}

bool acpi_read_tables(const uint8_t *rsdp, size_t rsdp_len, acpi_read_fn read_phys, void *ctx,
                      acpi_diag_fn diag, struct acpi_info *out)
{
    memset(out, 0, sizeof(*out));
    set_isa_defaults(&out->madt);
    bool xsdt;
    uint32_t entries;
    const uint8_t *root = read_root(rsdp, rsdp_len, read_phys, ctx, diag, &xsdt, &entries);
    if (!root)
        return false;
    out->root_found = true;
    out->xsdt = xsdt;
    for (uint32_t i = 0; i < entries; i++)
        visit_table(root_entry(root, xsdt, i), read_phys, ctx, diag, out);
    if (!out->madt.found)
        diag("acpi: no MADT");
    if (!out->fadt.found)
        diag("acpi: no FADT");
    else
        read_dsdt(out->fadt.dsdt_phys, read_phys, ctx, diag, &out->s5);
    return true;
}

/* ---- SRAT and SLIT ------------------------------------------------------------- */

#define SRAT_ENTRIES_OFFSET 48
#define SRAT_LAPIC_AFFINITY 0
#define SRAT_MEMORY_AFFINITY 1
#define SRAT_X2APIC_AFFINITY 2
#define SRAT_ENABLED (1u << 0)
#define SRAT_MEM_HOT_PLUGGABLE (1u << 1)
#define SLIT_MATRIX_OFFSET 44
#define SLIT_LOCAL 10
#define DEFAULT_REMOTE 20

/* Records `domain` among the nodes (unsorted while parsing); false when full. */
static bool note_domain(struct acpi_numa_info *out, uint32_t domain, acpi_diag_fn diag)
{
    for (unsigned i = 0; i < out->node_count; i++) {
        if (out->domains[i] == domain)
            return true;
    }
    if (out->node_count == ACPI_MAX_NODES) {
        report(diag, "acpi: SRAT: more than %d proximity domains; domain %u ignored",
               ACPI_MAX_NODES, domain);
        return false;
    }
    out->domains[out->node_count++] = domain;
    return true;
}

static void srat_cpu(struct acpi_numa_info *out, uint32_t apic_id, uint32_t domain,
                     uint32_t flags, acpi_diag_fn diag)
{
    if (!(flags & SRAT_ENABLED) || !note_domain(out, domain, diag))
        return;
    if (out->cpu_count == ACPI_MAX_CPUS) {
        report(diag, "acpi: SRAT: more than %d CPU affinities; APIC ID %u ignored",
               ACPI_MAX_CPUS, apic_id);
        return;
    }
    out->cpus[out->cpu_count++] = (struct acpi_cpu_affinity){apic_id, domain};
}

static void srat_memory(struct acpi_numa_info *out, const uint8_t *e, acpi_diag_fn diag)
{
    uint32_t domain = le32(e + 2), flags = le32(e + 28);
    uint64_t base = le64(e + 8), length = le64(e + 16);
    if (!(flags & SRAT_ENABLED) || length == 0)
        return;
    if (flags & SRAT_MEM_HOT_PLUGGABLE) {
        report(diag, "acpi: SRAT: hot-pluggable memory at 0x%lx not used", base);
        return;
    }
    if (base + length < base) {
        report(diag, "acpi: SRAT: memory at 0x%lx wraps past 2^64; ignored", base);
        return;
    }
    for (unsigned i = 0; i < out->mem_count; i++) {
        const struct acpi_mem_affinity *m = &out->mem[i];
        if (base < m->base_phys + m->length_bytes && m->base_phys < base + length) {
            report(diag, "acpi: SRAT: memory at 0x%lx overlaps an earlier range; ignored", base);
            return;
        }
    }
    if (out->mem_count == ACPI_MAX_MEM_RANGES) {
        report(diag, "acpi: SRAT: more than %d memory ranges; 0x%lx ignored",
               ACPI_MAX_MEM_RANGES, base);
        return;
    }
    if (!note_domain(out, domain, diag))
        return;
    out->mem[out->mem_count++] = (struct acpi_mem_affinity){base, length, domain};
}

static void parse_srat(const uint8_t *srat, acpi_diag_fn diag, struct acpi_numa_info *out)
{
    uint32_t length = le32(srat + 4);
    if (length < SRAT_ENTRIES_OFFSET) {
        diag("acpi: SRAT too short; ignored");
        return;
    }
    for (uint32_t off = SRAT_ENTRIES_OFFSET; off + 2 <= length;) {
        uint8_t type = srat[off], entry_len = srat[off + 1];
        if (entry_len < 2 || off + entry_len > length) {
            report(diag, "acpi: SRAT entry at offset %u is malformed; the rest is ignored", off);
            break;
        }
        const uint8_t *e = srat + off;
        if (type == SRAT_LAPIC_AFFINITY && entry_len >= 16) {
            uint32_t domain = e[2] | (uint32_t)e[9] << 8 | (uint32_t)e[10] << 16 |
                              (uint32_t)e[11] << 24;
            srat_cpu(out, e[3], domain, le32(e + 4), diag);
        } else if (type == SRAT_X2APIC_AFFINITY && entry_len >= 24) {
            srat_cpu(out, le32(e + 8), le32(e + 4), le32(e + 12), diag);
        } else if (type == SRAT_MEMORY_AFFINITY && entry_len >= 40) {
            srat_memory(out, e, diag);
        }
        off += entry_len;
    }
    out->srat_found = out->node_count > 0;
    if (!out->srat_found)
        diag("acpi: SRAT names no enabled CPU or memory; one node");
}

/* Sorts the domains and turns every domain number into its node index. */
static void number_nodes(struct acpi_numa_info *out)
{
    for (unsigned i = 1; i < out->node_count; i++) {
        uint32_t d = out->domains[i];
        unsigned j = i;
        for (; j > 0 && out->domains[j - 1] > d; j--)
            out->domains[j] = out->domains[j - 1];
        out->domains[j] = d;
    }
    for (unsigned i = 0; i < out->cpu_count; i++)
        out->cpus[i].node = acpi_node_of_domain(out, out->cpus[i].node);
    for (unsigned i = 0; i < out->mem_count; i++)
        out->mem[i].node = acpi_node_of_domain(out, out->mem[i].node);
}

static void default_distances(struct acpi_numa_info *out)
{
    for (unsigned a = 0; a < ACPI_MAX_NODES; a++) {
        for (unsigned b = 0; b < ACPI_MAX_NODES; b++)
            out->distance[a][b] = a == b ? SLIT_LOCAL : DEFAULT_REMOTE;
    }
}

/* Takes the SLIT's distances when they cover every domain and are sane. */
static void parse_slit(const uint8_t *slit, acpi_diag_fn diag, struct acpi_numa_info *out)
{
    uint32_t length = le32(slit + 4);
    uint64_t count = length >= SLIT_MATRIX_OFFSET ? le64(slit + SDT_HEADER_BYTES) : 0;
    if (count == 0 || count > 256 || SLIT_MATRIX_OFFSET + count * count > length) {
        diag("acpi: SLIT size does not match its length; default distances");
        return;
    }
    const uint8_t *matrix = slit + SLIT_MATRIX_OFFSET;
    for (unsigned a = 0; a < out->node_count; a++) {
        for (unsigned b = 0; b < out->node_count; b++) {
            uint32_t da = out->domains[a], db = out->domains[b];
            if (da >= count || db >= count) {
                report(diag, "acpi: SLIT does not cover domain %u; default distances",
                       da >= count ? da : db);
                return;
            }
            uint8_t d = matrix[da * count + db];
            if ((a == b) != (d == SLIT_LOCAL) || d < SLIT_LOCAL) {
                report(diag, "acpi: SLIT distance %u from domain %u to %u is invalid; "
                             "default distances", d, da, db);
                return;
            }
        }
    }
    for (unsigned a = 0; a < out->node_count; a++) {
        for (unsigned b = 0; b < out->node_count; b++)
            out->distance[a][b] = matrix[out->domains[a] * count + out->domains[b]];
    }
    out->slit_found = true;
}

unsigned acpi_node_of_domain(const struct acpi_numa_info *info, uint32_t domain)
{
    unsigned lo = 0, hi = info->node_count;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (info->domains[mid] < domain)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < info->node_count && info->domains[lo] == domain ? lo : info->node_count;
}

/* The first valid table with this signature, or NULL. */
static const uint8_t *find_table(const uint8_t *root, bool xsdt, uint32_t entries,
                                 const char *signature, acpi_read_fn read_phys, void *ctx,
                                 acpi_diag_fn diag)
{
    for (uint32_t i = 0; i < entries; i++) {
        uint64_t phys = root_entry(root, xsdt, i);
        const uint8_t *header = read_phys(ctx, phys, SDT_HEADER_BYTES);
        if (!header || memcmp(header, signature, 4) != 0)
            continue;
        const uint8_t *table = read_table(phys, read_phys, ctx, diag);
        if (table)
            return table;
    }
    return NULL;
}

bool acpi_read_numa(const uint8_t *rsdp, size_t rsdp_len, acpi_read_fn read_phys, void *ctx,
                    acpi_diag_fn diag, struct acpi_numa_info *out)
{
    memset(out, 0, sizeof(*out));
    default_distances(out);
    bool xsdt;
    uint32_t entries;
    const uint8_t *root = read_root(rsdp, rsdp_len, read_phys, ctx, diag, &xsdt, &entries);
    const uint8_t *srat =
        root ? find_table(root, xsdt, entries, "SRAT", read_phys, ctx, diag) : NULL;
    if (srat)
        parse_srat(srat, diag, out);
    if (!out->srat_found) {
        memset(out, 0, sizeof(*out));
        default_distances(out);
        out->node_count = 1;
        return false;
    }
    number_nodes(out);
    const uint8_t *slit = find_table(root, xsdt, entries, "SLIT", read_phys, ctx, diag);
    if (slit)
        parse_slit(slit, diag, out);
    return true;
}
