/*
 * libFuzzer target for the ACPI table parser (lib/acpi.c).
 *
 * The input describes a machine rather than being one, so the fuzzer does not have
 * to guess checksums: byte 0 holds flags, then come up to four chunks, each a
 * 16-bit little-endian length and that many bytes. Chunk 0 becomes the body of a
 * MADT, chunk 1 of a FADT, chunk 2 of a DSDT, chunk 3 of a table whose signature
 * is its first four bytes. The harness writes their headers (length, checksum) and
 * a root table listing them; the flags say which of those to get wrong. Every
 * read_phys answer is a heap copy of exactly the size asked for, so ASan flags any
 * read past it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/acpi.h"

#define FLAG_XSDT 0x01
#define FLAG_BAD_RSDP 0x02
#define FLAG_KEEP_DSDT_POINTERS 0x04 /* else the FADT's DSDT and X_DSDT name chunk 2 */
#define FLAG_BAD_CHECKSUMS 0x08
#define FLAG_FUZZ_LENGTHS 0x10       /* a table's length field is off by a chunk byte */
#define FLAG_ROOT_ON_MISSING 0x20    /* the root lists an address past the memory too */
#define CHUNKS 4
#define SLOT_BYTES 0x10000u          /* a chunk is at most 0xffff bytes + its header */
#define HEADER_BYTES 36
#define ROOT_PHYS 0x100u
#define DIAG_LIMIT 128

struct fake_memory {
    uint8_t *bytes;
    size_t size;
    void *copies[64];
    size_t copy_count;
};

static const void *read_phys(void *ctx, uint64_t phys, size_t len)
{
    struct fake_memory *m = ctx;
    if (phys > m->size || len > m->size - phys || m->copy_count == 64)
        return NULL;
    void *copy = malloc(len ? len : 1);
    if (!copy)
        return NULL;
    memcpy(copy, m->bytes + phys, len);
    m->copies[m->copy_count++] = copy;
    return copy;
}

static void check_diag(const char *message)
{
    if (strnlen(message, DIAG_LIMIT) >= DIAG_LIMIT)
        __builtin_trap(); /* unterminated or longer than the parser's buffer */
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static uint8_t sum(const uint8_t *p, size_t len)
{
    uint8_t s = 0;
    for (size_t i = 0; i < len; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

static void check_result(bool ok, const struct acpi_info *info)
{
    if (ok != info->root_found)
        __builtin_trap();
    if (info->madt.cpu_count > ACPI_MAX_CPUS || info->madt.ioapic_count > ACPI_MAX_IOAPICS)
        __builtin_trap();
    if (info->s5.found && (info->s5.slp_typ_a > 7 || info->s5.slp_typ_b > 7 || !info->fadt.found))
        __builtin_trap();
    for (unsigned irq = 0; irq < ACPI_ISA_IRQS; irq++) {
        if (!info->madt.isa[irq].overridden && info->madt.isa[irq].gsi != irq)
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct acpi_info info;
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    size_t pos = 1;
    struct fake_memory m = {0};
    m.size = SLOT_BYTES * (CHUNKS + 1);
    m.bytes = calloc(1, m.size);
    if (!m.bytes)
        return 0;
    static const char *const signatures[CHUNKS] = {"APIC", "FACP", "DSDT", NULL};
    uint64_t table_phys[CHUNKS + 1];
    unsigned tables = 0;
    for (unsigned i = 0; i < CHUNKS && pos + 2 <= size; i++) {
        size_t len = data[pos] | (size_t)data[pos + 1] << 8;
        pos += 2;
        if (len > size - pos)
            len = size - pos;
        uint64_t phys = SLOT_BYTES * (i + 1);
        uint8_t *t = m.bytes + phys;
        memcpy(t + HEADER_BYTES, data + pos, len);
        if (signatures[i])
            memcpy(t, signatures[i], 4);
        else if (len >= 4)
            memcpy(t, data + pos, 4);
        uint32_t length = (uint32_t)(HEADER_BYTES + len);
        if ((flags & FLAG_FUZZ_LENGTHS) && len > 0)
            length += (uint32_t)(int8_t)data[pos]; /* a little off, either way */
        put32(t + 4, length);
        if (i == 1 && !(flags & FLAG_KEEP_DSDT_POINTERS) && len >= 148 - HEADER_BYTES) {
            put32(t + 40, SLOT_BYTES * 3);
            put64(t + 140, SLOT_BYTES * 3);
        } else if (i == 1 && !(flags & FLAG_KEEP_DSDT_POINTERS) && len >= 44 - HEADER_BYTES) {
            put32(t + 40, SLOT_BYTES * 3);
        }
        uint32_t summed = length <= SLOT_BYTES ? length : SLOT_BYTES;
        if (!(flags & FLAG_BAD_CHECKSUMS) && summed >= 10)
            t[9] = (uint8_t)-sum(t, summed);
        table_phys[tables++] = phys;
        pos += len;
    }
    if (flags & FLAG_ROOT_ON_MISSING)
        table_phys[tables++] = m.size + 0x1000;

    /* The root table in slot 0, then the RSDP pointing at it. */
    bool xsdt = flags & FLAG_XSDT;
    uint8_t *root = m.bytes + ROOT_PHYS;
    memcpy(root, xsdt ? "XSDT" : "RSDT", 4);
    uint32_t root_len = HEADER_BYTES + tables * (xsdt ? 8 : 4);
    put32(root + 4, root_len);
    for (unsigned i = 0; i < tables; i++) {
        if (xsdt)
            put64(root + HEADER_BYTES + 8 * i, table_phys[i]);
        else
            put32(root + HEADER_BYTES + 4 * i, (uint32_t)table_phys[i]);
    }
    root[9] = (uint8_t)-sum(root, root_len);
    uint8_t *rsdp = malloc(36);
    if (!rsdp) {
        free(m.bytes);
        return 0;
    }
    memset(rsdp, 0, 36);
    memcpy(rsdp, "RSD PTR ", 8);
    rsdp[15] = xsdt ? 2 : 0;
    put32(rsdp + 16, ROOT_PHYS);
    put64(rsdp + 24, ROOT_PHYS);
    rsdp[8] = (uint8_t)-sum(rsdp, 20);
    if (xsdt) {
        put32(rsdp + 20, 36);
        rsdp[32] = (uint8_t)-sum(rsdp, 36);
    }
    if (flags & FLAG_BAD_RSDP)
        rsdp[8] ^= 1;

    bool ok = acpi_read_tables(rsdp, xsdt ? 36 : 20, read_phys, &m, check_diag, &info);
    check_result(ok, &info);
    /* The AML scanner on its own, over the DSDT chunk exactly. */
    if (size > pos) {
        struct acpi_s5_info s5;
        size_t aml_len = size - pos;
        uint8_t *aml = malloc(aml_len);
        if (aml) {
            memcpy(aml, data + pos, aml_len);
            if (acpi_find_s5(aml, aml_len, check_diag, &s5) != s5.found)
                __builtin_trap();
            free(aml);
        }
    }
    for (size_t i = 0; i < m.copy_count; i++)
        free(m.copies[i]);
    free(rsdp);
    free(m.bytes);
    return 0;
}
