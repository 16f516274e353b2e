#include "acpi.h"

#include "kernel/printf.h"
#include "kernel/string.h"

#define SDT_HEADER_BYTES 36
#define SDT_MAX_BYTES (1u << 20) /* no table we read is anywhere near this */
#define RSDP_V1_BYTES 20
#define RSDP_V2_BYTES 36
#define MADT_ENTRIES_OFFSET 44
#define MADT_LOCAL_APIC 0
#define MADT_LAPIC_OVERRIDE 5
#define MADT_LOCAL_X2APIC 9
#define MADT_CPU_ENABLED (1u << 0)
#define MADT_CPU_ONLINE_CAPABLE (1u << 1)

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

static void report(acpi_diag_fn diag, const char *fmt, uint64_t value)
{
    char message[128];
    ksnprintf(message, sizeof(message), fmt, value);
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
        report(diag, "acpi: table at 0x%lx has an impossible length; skipped", phys);
        return NULL;
    }
    const uint8_t *table = read_phys(ctx, phys, length);
    if (!table || !checksum_ok(table, length)) {
        report(diag, "acpi: table at 0x%lx is unreadable or fails its checksum; skipped", phys);
        return NULL;
    }
    return table;
}

static void add_cpu(struct acpi_madt_info *out, uint32_t apic_id, uint32_t flags)
{
    if (!(flags & (MADT_CPU_ENABLED | MADT_CPU_ONLINE_CAPABLE)))
        return;
    for (unsigned i = 0; i < out->cpu_count; i++) {
        if (out->apic_ids[i] == apic_id)
            return; /* listed twice (xAPIC and x2APIC entries) */
    }
    if (out->cpu_count < ACPI_MAX_CPUS)
        out->apic_ids[out->cpu_count++] = apic_id;
}

static void parse_madt(const uint8_t *madt, acpi_diag_fn diag, struct acpi_madt_info *out)
{
    uint32_t length = le32(madt + 4);
    if (length < MADT_ENTRIES_OFFSET) {
        diag("acpi: MADT too short; ignored");
        return;
    }
    out->lapic_phys = le32(madt + SDT_HEADER_BYTES);
    for (uint32_t off = MADT_ENTRIES_OFFSET; off + 2 <= length;) {
        uint8_t type = madt[off], entry_len = madt[off + 1];
        if (entry_len < 2 || off + entry_len > length) {
            report(diag, "acpi: MADT entry at offset %lu is malformed; the rest is ignored", off);
            return;
        }
        const uint8_t *e = madt + off;
        if (type == MADT_LOCAL_APIC && entry_len >= 8)
            add_cpu(out, e[3], le32(e + 4));
        else if (type == MADT_LOCAL_X2APIC && entry_len >= 16)
            add_cpu(out, le32(e + 4), le32(e + 8));
        else if (type == MADT_LAPIC_OVERRIDE && entry_len >= 12)
            out->lapic_phys = le64(e + 4);
        off += entry_len;
    }
}

bool acpi_read_madt(const uint8_t *rsdp, size_t rsdp_len, acpi_read_fn read_phys, void *ctx,
                    acpi_diag_fn diag, struct acpi_madt_info *out)
{
    memset(out, 0, sizeof(*out));
    if (rsdp_len < RSDP_V1_BYTES || memcmp(rsdp, "RSD PTR ", 8) != 0 ||
        !checksum_ok(rsdp, RSDP_V1_BYTES)) {
        diag("acpi: no valid RSDP from the boot loader");
        return false;
    }
    bool xsdt = rsdp[15] >= 2 && rsdp_len >= RSDP_V2_BYTES && checksum_ok(rsdp, RSDP_V2_BYTES) &&
                le64(rsdp + 24) != 0;
    uint64_t root_phys = xsdt ? le64(rsdp + 24) : le32(rsdp + 16);
    const uint8_t *root = read_table(root_phys, read_phys, ctx, diag);
    if (!root || memcmp(root, xsdt ? "XSDT" : "RSDT", 4) != 0) {
        diag("acpi: no usable XSDT or RSDT");
        return false;
    }
    uint32_t entry_bytes = xsdt ? 8 : 4;
    uint32_t entries = (le32(root + 4) - SDT_HEADER_BYTES) / entry_bytes;
    for (uint32_t i = 0; i < entries; i++) {
        const uint8_t *p = root + SDT_HEADER_BYTES + i * entry_bytes;
        uint64_t phys = xsdt ? le64(p) : le32(p);
        const uint8_t *header = read_phys(ctx, phys, SDT_HEADER_BYTES);
        if (!header || memcmp(header, "APIC", 4) != 0)
            continue;
        const uint8_t *madt = read_table(phys, read_phys, ctx, diag);
        if (!madt)
            continue;
        parse_madt(madt, diag, out);
        return out->cpu_count > 0;
    }
    diag("acpi: no MADT");
    return false;
}
