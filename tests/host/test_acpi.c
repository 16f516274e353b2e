/*
 * Host tests of lib/acpi.c. The tables (RSDP, XSDT or RSDT, MADT, FADT,
 * DSDT) are built byte by byte in a fake physical memory with their checksums
 * computed here; read_phys hands the parser an exactly-sized heap copy of what it
 * asks for, so any read past a request is an ASan report. Malformed inputs check
 * what is kept and what diag says; a seeded mutation loop checks nothing crashes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/acpi.h"
#include "check.h"

#define MEM_BYTES 0x10000
#define RSDT_PHYS 0x1000u
#define XSDT_PHYS 0x2000u
#define MADT_PHYS 0x3000u
#define FADT_PHYS 0x4000u
#define DSDT_PHYS 0x5000u
#define DSDT2_PHYS 0x6000u
#define SSDT_PHYS 0x7000u
#define SRAT_PHYS 0x8000u
#define SLIT_PHYS 0xa000u

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* ---- fake physical memory ------------------------------------------------------ */

static uint8_t mem[MEM_BYTES];
static uint8_t rsdp[36];
static size_t rsdp_len;

#define MAX_COPIES 4096
static void *copies[MAX_COPIES];
static size_t copy_count;
static size_t reads;

static const void *read_phys(void *ctx, uint64_t phys, size_t len)
{
    (void)ctx;
    reads++;
    if (phys > MEM_BYTES || len > MEM_BYTES - phys || copy_count == MAX_COPIES)
        return NULL;
    void *copy = malloc(len ? len : 1);
    memcpy(copy, mem + phys, len);
    copies[copy_count++] = copy;
    return copy;
}

static void free_copies(void)
{
    for (size_t i = 0; i < copy_count; i++)
        free(copies[i]);
    copy_count = 0;
}

static char diag_text[65536];
static int diag_count;

static void collect_diag(const char *message)
{
    size_t used = strlen(diag_text);
    if (strnlen(message, 200) >= 128)
        fprintf(stderr, "diag message too long: %s\n", message);
    snprintf(diag_text + used, sizeof(diag_text) - used, "%s\n", message);
    diag_count++;
}

static bool diag_has(const char *needle)
{
    return strstr(diag_text, needle) != NULL;
}

static struct acpi_info info;

static bool parse(void)
{
    diag_text[0] = 0;
    diag_count = 0;
    uint8_t *copy = malloc(rsdp_len ? rsdp_len : 1);
    memcpy(copy, rsdp, rsdp_len);
    bool ok = acpi_read_tables(copy, rsdp_len, read_phys, NULL, collect_diag, &info);
    free(copy);
    free_copies();
    return ok;
}

/* ---- table builders ------------------------------------------------------------ */

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

static uint8_t sum_bytes(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + p[i]);
    return sum;
}

/* Sets the checksum byte (offset 9) of the table at `phys` from its length. */
static void fix_checksum(uint32_t phys)
{
    uint8_t *t = mem + phys;
    uint32_t len = get32(t + 4);
    if (len > MEM_BYTES - phys)
        len = MEM_BYTES - phys;
    t[9] = 0;
    t[9] = (uint8_t)-sum_bytes(t, len);
}

static uint8_t *table_begin(uint32_t phys, const char *signature, uint32_t len)
{
    uint8_t *t = mem + phys;
    memset(t, 0, len);
    memcpy(t, signature, 4);
    put32(t + 4, len);
    t[8] = 1;
    memcpy(t + 10, "EXOTST", 6);
    return t;
}

static void build_rsdp(uint8_t revision, uint32_t rsdt, uint64_t xsdt)
{
    memset(rsdp, 0, sizeof(rsdp));
    memcpy(rsdp, "RSD PTR ", 8);
    memcpy(rsdp + 9, "EXOTST", 6);
    rsdp[15] = revision;
    put32(rsdp + 16, rsdt);
    rsdp[8] = (uint8_t)-sum_bytes(rsdp, 20);
    rsdp_len = 20;
    if (revision >= 2) {
        put32(rsdp + 20, 36);
        put64(rsdp + 24, xsdt);
        rsdp[32] = (uint8_t)-sum_bytes(rsdp, 36);
        rsdp_len = 36;
    }
}

static void build_root(bool xsdt, const uint32_t *tables, size_t count)
{
    uint32_t phys = xsdt ? XSDT_PHYS : RSDT_PHYS;
    uint32_t entry = xsdt ? 8 : 4;
    uint8_t *t = table_begin(phys, xsdt ? "XSDT" : "RSDT", 36 + entry * (uint32_t)count);
    for (size_t i = 0; i < count; i++) {
        if (xsdt)
            put64(t + 36 + 8 * i, tables[i]);
        else
            put32(t + 36 + 4 * i, tables[i]);
    }
    fix_checksum(phys);
}

/* MADT: entries appended with madt_add, then madt_finish. */
static uint32_t madt_len;

static void madt_begin(void)
{
    table_begin(MADT_PHYS, "APIC", 44);
    put32(mem + MADT_PHYS + 36, 0xfee00000);
    put32(mem + MADT_PHYS + 40, 1); /* PCAT_COMPAT */
    madt_len = 44;
}

static uint8_t *madt_add(uint8_t type, uint8_t len)
{
    uint8_t *e = mem + MADT_PHYS + madt_len;
    memset(e, 0, len < 2 ? 2 : len);
    e[0] = type;
    e[1] = len;
    madt_len += len < 2 ? 2 : len;
    return e;
}

static void madt_lapic(uint8_t apic_id, uint32_t flags)
{
    uint8_t *e = madt_add(0, 8);
    e[2] = apic_id; /* processor UID */
    e[3] = apic_id;
    put32(e + 4, flags);
}

static void madt_ioapic(uint8_t id, uint32_t address, uint32_t gsi_base)
{
    uint8_t *e = madt_add(1, 12);
    e[2] = id;
    put32(e + 4, address);
    put32(e + 8, gsi_base);
}

static void madt_override(uint8_t bus, uint8_t irq, uint32_t gsi, uint16_t flags)
{
    uint8_t *e = madt_add(2, 10);
    e[2] = bus;
    e[3] = irq;
    put32(e + 4, gsi);
    put16(e + 8, flags);
}

static void madt_finish(void)
{
    put32(mem + MADT_PHYS + 4, madt_len);
    fix_checksum(MADT_PHYS);
}

/* A QEMU-like MADT: two CPUs, one I/O APIC, IRQ 0 -> GSI 2, IRQ 9 level. */
static void build_madt(void)
{
    madt_begin();
    madt_lapic(0, 1);
    madt_lapic(1, 1);
    madt_ioapic(0, 0xfec00000, 0);
    madt_override(0, 0, 2, 0);
    madt_override(0, 9, 9, 0x000d); /* active high, level */
    madt_finish();
}

struct fadt_spec {
    uint32_t len;
    uint32_t dsdt;
    uint64_t x_dsdt;
    uint32_t flags;
    struct acpi_gas reset;
    uint8_t reset_value;
};

static void put_gas(uint8_t *p, const struct acpi_gas *g)
{
    p[0] = g->space;
    p[1] = g->bit_width;
    p[2] = g->bit_offset;
    p[3] = g->access_size;
    put64(p + 4, g->address);
}

static void build_fadt(const struct fadt_spec *s)
{
    uint8_t *t = table_begin(FADT_PHYS, "FACP", s->len);
    put32(t + 40, s->dsdt);
    put16(t + 46, 9);       /* SCI */
    put32(t + 48, 0xb2);    /* SMI_CMD */
    t[52] = 0xf1;           /* ACPI_ENABLE */
    put32(t + 56, 0x600);   /* PM1a_EVT */
    put32(t + 64, 0x604);   /* PM1a_CNT */
    if (s->len >= 116)
        put32(t + 112, s->flags);
    if (s->len >= 129) {
        put_gas(t + 116, &s->reset);
        t[128] = s->reset_value;
    }
    if (s->len >= 148)
        put64(t + 140, s->x_dsdt);
    fix_checksum(FADT_PHYS);
}

#define RESET_SUP (1u << 10)
static const struct acpi_gas cf9 = {ACPI_SPACE_IO, 8, 0, 1, 0xcf9};

static void build_modern_fadt(void)
{
    build_fadt(&(struct fadt_spec){.len = 244, .dsdt = 0, .x_dsdt = DSDT_PHYS,
                                   .flags = RESET_SUP, .reset = cf9, .reset_value = 6});
}

static void build_dsdt_at(uint32_t phys, const uint8_t *aml, size_t aml_len)
{
    uint8_t *t = table_begin(phys, "DSDT", 36 + (uint32_t)aml_len);
    memcpy(t + 36, aml, aml_len);
    fix_checksum(phys);
}

/* Scope (\) { Name (_S5, Package (0x04) { 0x05, 0x05, Zero, Zero }) } */
static const uint8_t s5_bytes[] = {
    0x10, 0x0e, 0x5c, 0x00,                   /* ScopeOp, PkgLength 14, \ (root) */
    0x08, '_', 'S', '5', '_',                 /* NameOp _S5_ */
    0x12, 0x08, 0x04,                         /* PackageOp, PkgLength 8, 4 elements */
    0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00,
};

static void build_dsdt(void)
{
    build_dsdt_at(DSDT_PHYS, s5_bytes, sizeof(s5_bytes));
}

/* The whole machine: RSDP v2 -> XSDT -> MADT, FADT -> DSDT. */
static void build_machine(bool xsdt)
{
    memset(mem, 0, sizeof(mem));
    build_madt();
    build_modern_fadt();
    build_dsdt();
    uint32_t tables[] = {FADT_PHYS, MADT_PHYS};
    build_root(xsdt, tables, 2);
    build_rsdp(xsdt ? 2 : 0, RSDT_PHYS, xsdt ? XSDT_PHYS : 0);
}

/* ---- whole machines --------------------------------------------------------------- */

static void test_xsdt_machine_parsed_completely(void)
{
    build_machine(true);
    CHECK(parse());
    CHECK(info.root_found);
    CHECK(info.xsdt);
    CHECK(info.madt.found);
    CHECK_EQ_INT(info.madt.cpu_count, 2);
    CHECK_EQ_U64(info.madt.lapic_phys, 0xfee00000);
    CHECK_EQ_INT(info.madt.ioapic_count, 1);
    CHECK_EQ_INT(info.madt.ioapics[0].id, 0);
    CHECK_EQ_U64(info.madt.ioapics[0].address_phys, 0xfec00000);
    CHECK_EQ_INT(info.madt.ioapics[0].gsi_base, 0);
    CHECK_EQ_INT(info.madt.isa[0].gsi, 2);
    CHECK(info.madt.isa[0].overridden);
    CHECK(!info.madt.isa[0].active_low && !info.madt.isa[0].level_triggered);
    CHECK_EQ_INT(info.madt.isa[9].gsi, 9);
    CHECK(info.madt.isa[9].level_triggered && !info.madt.isa[9].active_low);
    CHECK(info.fadt.found);
    CHECK_EQ_INT(info.fadt.sci_irq, 9);
    CHECK_EQ_INT(info.fadt.pm1a_cnt_port, 0x604);
    CHECK_EQ_INT(info.fadt.pm1b_cnt_port, 0);
    CHECK_EQ_INT(info.fadt.smi_cmd_port, 0xb2);
    CHECK_EQ_INT(info.fadt.acpi_enable_value, 0xf1);
    CHECK(info.fadt.reset_supported);
    CHECK_EQ_INT(info.fadt.reset_reg.space, ACPI_SPACE_IO);
    CHECK_EQ_U64(info.fadt.reset_reg.address, 0xcf9);
    CHECK_EQ_INT(info.fadt.reset_value, 6);
    CHECK_EQ_U64(info.fadt.dsdt_phys, DSDT_PHYS);
    CHECK(info.s5.found);
    CHECK_EQ_INT(info.s5.slp_typ_a, 5);
    CHECK_EQ_INT(info.s5.slp_typ_b, 5);
    CHECK_EQ_INT(diag_count, 0);
}

static void test_rsdt_only_acpi1_machine(void)
{
    build_machine(false);
    /* An ACPI 1.0 FADT: 116 bytes, no reset register, no X_ fields. */
    build_fadt(&(struct fadt_spec){.len = 116, .dsdt = DSDT_PHYS, .flags = RESET_SUP});
    CHECK(parse());
    CHECK(!info.xsdt);
    CHECK_EQ_INT(info.madt.cpu_count, 2);
    CHECK(info.fadt.found);
    CHECK_EQ_INT(info.fadt.pm1a_cnt_port, 0x604);
    CHECK(!info.fadt.reset_supported);
    CHECK_EQ_U64(info.fadt.dsdt_phys, DSDT_PHYS);
    CHECK(info.s5.found);
}

static void test_rsdp_v2_with_bad_extended_checksum_uses_rsdt(void)
{
    build_machine(false);
    build_rsdp(2, RSDT_PHYS, XSDT_PHYS);
    rsdp[32] ^= 1;
    CHECK(parse());
    CHECK(!info.xsdt);
    CHECK(info.madt.found && info.fadt.found && info.s5.found);
}

static void test_x_dsdt_preferred_over_dsdt(void)
{
    build_machine(true);
    static const uint8_t other[] = {0x08, '_', 'S', '5', '_', 0x12, 0x05, 0x02, 0x0a, 0x07, 0x01};
    build_dsdt_at(DSDT2_PHYS, other, sizeof(other));
    build_fadt(&(struct fadt_spec){.len = 244, .dsdt = DSDT_PHYS, .x_dsdt = DSDT2_PHYS});
    CHECK(parse());
    CHECK_EQ_U64(info.fadt.dsdt_phys, DSDT2_PHYS);
    CHECK_EQ_INT(info.s5.slp_typ_a, 7);
    CHECK_EQ_INT(info.s5.slp_typ_b, 1);
    /* A zero X_DSDT falls back to the 32-bit one. */
    build_fadt(&(struct fadt_spec){.len = 244, .dsdt = DSDT2_PHYS, .x_dsdt = 0});
    CHECK(parse());
    CHECK_EQ_U64(info.fadt.dsdt_phys, DSDT2_PHYS);
    CHECK(info.s5.found);
}

/* ---- broken roots ------------------------------------------------------------------ */

static void test_bad_rsdp_rejected(void)
{
    build_machine(true);
    rsdp[8] ^= 0x55;
    CHECK(!parse());
    CHECK(diag_has("no valid RSDP"));
    CHECK(!info.madt.found && !info.fadt.found);
    build_machine(true);
    memcpy(rsdp, "RSD PTX ", 8);
    CHECK(!parse());
    rsdp_len = 19;
    build_machine(true);
    rsdp_len = 19;
    CHECK(!parse());
    CHECK_EQ_INT(info.madt.isa[4].gsi, 4); /* defaults still filled in */
}

static void test_bad_root_table_rejected(void)
{
    build_machine(true);
    mem[XSDT_PHYS + 20] ^= 1; /* breaks its checksum */
    CHECK(!parse());
    CHECK(diag_has("fails its checksum"));
    CHECK(diag_has("no usable XSDT or RSDT"));
    build_machine(true);
    memcpy(mem + XSDT_PHYS, "RSDT", 4); /* the wrong kind for a v2 RSDP */
    fix_checksum(XSDT_PHYS);
    CHECK(!parse());
    build_machine(true);
    put64(rsdp + 24, MEM_BYTES - 10); /* runs off the end of memory */
    rsdp[32] = 0;
    rsdp[32] = (uint8_t)-sum_bytes(rsdp, 36);
    CHECK(!parse());
    CHECK(diag_has("not readable"));
}

static void test_root_entry_count_bounded(void)
{
    build_machine(false);
    uint32_t tables[300];
    for (int i = 0; i < 300; i++)
        tables[i] = MEM_BYTES + 0x1000u * (uint32_t)i; /* nothing there */
    tables[299] = MADT_PHYS;
    build_root(false, tables, 300);
    CHECK(parse());
    CHECK(diag_has("only the first 256"));
    CHECK(!info.madt.found); /* it was entry 300 */
    CHECK_EQ_INT(diag_count, 1 + 256 + 2); /* the bound, each unreadable table, no MADT/FADT */
}

/* ---- broken tables ----------------------------------------------------------------- */

static void test_madt_with_bad_checksum_skipped(void)
{
    build_machine(true);
    mem[MADT_PHYS + 50] ^= 0x80;
    CHECK(parse());
    CHECK(!info.madt.found);
    CHECK_EQ_INT(info.madt.cpu_count, 0);
    CHECK(diag_has("fails its checksum"));
    CHECK(diag_has("no MADT"));
    CHECK(info.fadt.found); /* the rest still read */
    CHECK(info.s5.found);
}

static void test_table_lengths_checked(void)
{
    /* Shorter than a header. */
    build_machine(true);
    put32(mem + MADT_PHYS + 4, 20);
    fix_checksum(MADT_PHYS);
    CHECK(parse());
    CHECK(!info.madt.found);
    CHECK(diag_has("impossible length"));
    /* Longer than the memory holding it: unreadable. */
    build_machine(true);
    put32(mem + FADT_PHYS + 4, MEM_BYTES);
    CHECK(parse());
    CHECK(!info.fadt.found);
    CHECK(!info.s5.found);
    CHECK(diag_has("no FADT"));
    /* Absurdly long. */
    build_machine(true);
    put32(mem + DSDT_PHYS + 4, 0x7fffffff);
    CHECK(parse());
    CHECK(!info.s5.found);
    CHECK(diag_has("impossible length"));
    /* A FADT too short to hold the PM1 control blocks. */
    build_machine(true);
    build_fadt(&(struct fadt_spec){.len = 60});
    CHECK(parse());
    CHECK(!info.fadt.found);
    CHECK(diag_has("FADT too short"));
    /* A MADT with a header but not its two fixed fields. */
    build_machine(true);
    table_begin(MADT_PHYS, "APIC", 40);
    fix_checksum(MADT_PHYS);
    CHECK(parse());
    CHECK(!info.madt.found);
    CHECK(diag_has("MADT too short"));
}

static void test_missing_madt_and_fadt_reported(void)
{
    build_machine(true);
    build_root(true, NULL, 0);
    CHECK(parse());
    CHECK(!info.madt.found && !info.fadt.found && !info.s5.found);
    CHECK(diag_has("no MADT"));
    CHECK(diag_has("no FADT"));
    /* Other tables are passed over without complaint. */
    table_begin(SSDT_PHYS, "SSDT", 40);
    fix_checksum(SSDT_PHYS);
    uint32_t tables[] = {SSDT_PHYS, MADT_PHYS};
    build_root(true, tables, 2);
    CHECK(parse());
    CHECK(info.madt.found && !info.fadt.found);
    CHECK_EQ_INT(diag_count, 1);
}

static void test_first_valid_table_of_a_kind_wins(void)
{
    build_machine(true);
    /* A broken MADT listed first, then the good one. */
    memcpy(mem + SSDT_PHYS, mem + MADT_PHYS, madt_len);
    mem[SSDT_PHYS + 44] = 7;
    uint32_t tables[] = {SSDT_PHYS, MADT_PHYS, FADT_PHYS};
    build_root(true, tables, 3);
    CHECK(parse());
    CHECK(info.madt.found);
    CHECK_EQ_INT(info.madt.cpu_count, 2);
}

static void test_fadt_without_dsdt_reported(void)
{
    build_machine(true);
    build_fadt(&(struct fadt_spec){.len = 244});
    CHECK(parse());
    CHECK(info.fadt.found);
    CHECK(!info.s5.found);
    CHECK(diag_has("names no DSDT"));
    /* A DSDT pointer at something else. */
    build_fadt(&(struct fadt_spec){.len = 244, .x_dsdt = MADT_PHYS});
    CHECK(parse());
    CHECK(!info.s5.found);
    CHECK(diag_has("is not the DSDT"));
}

/* ---- MADT entries ------------------------------------------------------------------ */

static void test_madt_zero_length_entry_ends_walk(void)
{
    build_machine(true);
    madt_begin();
    madt_lapic(0, 1);
    madt_add(0, 0); /* zero length: would loop forever if trusted */
    madt_lapic(1, 1);
    madt_finish();
    CHECK(parse());
    CHECK(info.madt.found);
    CHECK_EQ_INT(info.madt.cpu_count, 1);
    CHECK(diag_has("MADT entry at offset 52 is malformed"));
}

static void test_madt_entry_past_end_ignored(void)
{
    build_machine(true);
    madt_begin();
    madt_lapic(0, 1);
    madt_ioapic(0, 0xfec00000, 0);
    madt_finish();
    put32(mem + MADT_PHYS + 4, madt_len - 4); /* the I/O APIC entry now overhangs */
    fix_checksum(MADT_PHYS);
    CHECK(parse());
    CHECK_EQ_INT(info.madt.cpu_count, 1);
    CHECK_EQ_INT(info.madt.ioapic_count, 0);
    CHECK(diag_has("malformed"));
}

static void test_madt_short_entries_and_cpu_flags(void)
{
    build_machine(true);
    madt_begin();
    madt_lapic(0, 1);
    madt_lapic(1, 0);          /* disabled: not usable */
    madt_lapic(2, 2);          /* online-capable */
    madt_lapic(0, 1);          /* listed again */
    madt_add(1, 8);            /* an I/O APIC entry too short to hold its fields */
    madt_add(2, 6);            /* likewise an override */
    uint8_t *x2 = madt_add(9, 16);
    put32(x2 + 4, 300);        /* an x2APIC CPU */
    put32(x2 + 8, 1);
    uint8_t *lo = madt_add(5, 12);
    put64(lo + 4, 0xfee10000ull);
    madt_add(0x7f, 4);         /* unknown type: skipped */
    madt_finish();
    CHECK(parse());
    CHECK_EQ_INT(info.madt.cpu_count, 3);
    CHECK_EQ_INT(info.madt.apic_ids[0], 0);
    CHECK_EQ_INT(info.madt.apic_ids[1], 2);
    CHECK_EQ_INT(info.madt.apic_ids[2], 300);
    CHECK_EQ_INT(info.madt.ioapic_count, 0);
    CHECK(!info.madt.isa[0].overridden);
    CHECK_EQ_U64(info.madt.lapic_phys, 0xfee10000ull);
    CHECK_EQ_INT(diag_count, 0);
}

static void test_ioapic_count_bounded(void)
{
    build_machine(true);
    madt_begin();
    madt_lapic(0, 1);
    for (int i = 0; i < ACPI_MAX_IOAPICS + 3; i++)
        madt_ioapic((uint8_t)i, 0xfec00000u + 0x1000u * (uint32_t)i, 24u * (uint32_t)i);
    madt_finish();
    CHECK(parse());
    CHECK_EQ_INT(info.madt.ioapic_count, ACPI_MAX_IOAPICS);
    CHECK_EQ_INT(info.madt.ioapics[ACPI_MAX_IOAPICS - 1].gsi_base, 24 * (ACPI_MAX_IOAPICS - 1));
    CHECK(diag_has("more than 16 I/O APICs"));
}

static void test_overrides_checked(void)
{
    build_machine(true);
    madt_begin();
    madt_lapic(0, 1);
    madt_ioapic(3, 0xfec00000, 0);
    madt_override(0, 4, 20, 0x000f);  /* active low, level */
    madt_override(0, 4, 21, 0);       /* twice: the first stands */
    madt_override(1, 5, 22, 0);       /* not the ISA bus */
    madt_override(0, 16, 23, 0);      /* not an ISA IRQ */
    madt_override(0, 6, 17, 0x0002);  /* reserved polarity */
    madt_override(0, 7, 18, 0x0008);  /* reserved trigger */
    madt_override(0, 1, 1, 0x0005);   /* explicit active high, edge */
    madt_finish();
    CHECK(parse());
    CHECK_EQ_INT(info.madt.ioapics[0].id, 3);
    CHECK_EQ_INT(info.madt.isa[4].gsi, 20);
    CHECK(info.madt.isa[4].active_low && info.madt.isa[4].level_triggered);
    CHECK(diag_has("ISA IRQ 4 overridden twice"));
    CHECK(diag_has("bus 1 IRQ 5 is not an ISA IRQ"));
    CHECK(diag_has("bus 0 IRQ 16 is not an ISA IRQ"));
    CHECK(diag_has("ISA IRQ 6 has reserved flags 0x2"));
    CHECK(diag_has("ISA IRQ 7 has reserved flags 0x8"));
    CHECK_EQ_INT(diag_count, 5);
    CHECK_EQ_INT(info.madt.isa[5].gsi, 5);
    CHECK_EQ_INT(info.madt.isa[6].gsi, 6);
    CHECK(!info.madt.isa[6].overridden);
    CHECK(info.madt.isa[1].overridden);
    CHECK(!info.madt.isa[1].active_low && !info.madt.isa[1].level_triggered);
    for (unsigned irq = 8; irq < ACPI_ISA_IRQS; irq++) {
        CHECK_EQ_INT(info.madt.isa[irq].gsi, irq);
        CHECK(!info.madt.isa[irq].active_low && !info.madt.isa[irq].level_triggered);
    }
}

/* ---- FADT fields ------------------------------------------------------------------- */

static void test_fadt_reset_register_needs_flag_and_address(void)
{
    build_machine(true);
    build_fadt(&(struct fadt_spec){.len = 244, .x_dsdt = DSDT_PHYS, .flags = 0, .reset = cf9,
                                   .reset_value = 6});
    CHECK(parse());
    CHECK(!info.fadt.reset_supported);
    build_fadt(&(struct fadt_spec){.len = 244, .x_dsdt = DSDT_PHYS, .flags = RESET_SUP,
                                   .reset = {ACPI_SPACE_IO, 8, 0, 1, 0}});
    CHECK(parse());
    CHECK(!info.fadt.reset_supported);
    build_fadt(&(struct fadt_spec){.len = 244, .x_dsdt = DSDT_PHYS, .flags = RESET_SUP,
                                   .reset = {0x7f, 8, 0, 1, 0xcf9}}); /* functional fixed hw */
    CHECK(parse());
    CHECK(!info.fadt.reset_supported);
    build_fadt(&(struct fadt_spec){.len = 244, .x_dsdt = DSDT_PHYS, .flags = RESET_SUP,
                                   .reset = {ACPI_SPACE_MEMORY, 8, 0, 1, 0xfed00000},
                                   .reset_value = 0x0e});
    CHECK(parse());
    CHECK(info.fadt.reset_supported);
    CHECK_EQ_INT(info.fadt.reset_reg.space, ACPI_SPACE_MEMORY);
    CHECK_EQ_INT(info.fadt.reset_value, 0x0e);
    /* 128 bytes: the reset value does not fit, so neither does reset support. */
    build_fadt(&(struct fadt_spec){.len = 128, .dsdt = DSDT_PHYS, .flags = RESET_SUP,
                                   .reset = cf9});
    CHECK(parse());
    CHECK(info.fadt.found && !info.fadt.reset_supported);
}

static void test_fadt_extended_pm1_blocks(void)
{
    build_machine(true);
    build_modern_fadt();
    struct acpi_gas x_a = {ACPI_SPACE_IO, 16, 0, 2, 0xb004};
    struct acpi_gas x_b = {ACPI_SPACE_IO, 16, 0, 2, 0xb008};
    put_gas(mem + FADT_PHYS + 172, &x_a);
    put_gas(mem + FADT_PHYS + 184, &x_b);
    fix_checksum(FADT_PHYS);
    CHECK(parse());
    CHECK_EQ_INT(info.fadt.pm1a_cnt_port, 0xb004);
    CHECK_EQ_INT(info.fadt.pm1b_cnt_port, 0xb008);
    /* Memory-mapped X_ blocks: the 32-bit port fields stand. */
    x_a.space = ACPI_SPACE_MEMORY;
    put_gas(mem + FADT_PHYS + 172, &x_a);
    put32(mem + FADT_PHYS + 68, 0x70000); /* not a port */
    x_b.address = 0;
    put_gas(mem + FADT_PHYS + 184, &x_b);
    fix_checksum(FADT_PHYS);
    CHECK(parse());
    CHECK_EQ_INT(info.fadt.pm1a_cnt_port, 0x604);
    CHECK_EQ_INT(info.fadt.pm1b_cnt_port, 0);
}

/* The PM timer: PM_TMR_BLK when PM_TMR_LEN is 4, the X_ block when it is a port,
 * 32 bits with TMR_VAL_EXT; none on a hardware-reduced machine (microvm). */
static void test_fadt_pm_timer(void)
{
    build_machine(true);
    CHECK(parse());
    CHECK_EQ_INT(info.fadt.pm_timer_port, 0); /* PM_TMR_LEN 0: no timer */
    put32(mem + FADT_PHYS + 76, 0x608);
    mem[FADT_PHYS + 91] = 4;
    fix_checksum(FADT_PHYS);
    CHECK(parse());
    CHECK_EQ_INT(info.fadt.pm_timer_port, 0x608);
    CHECK(!info.fadt.pm_timer_32bit);
    CHECK(!info.fadt.hardware_reduced);
    struct acpi_gas x_tmr = {ACPI_SPACE_IO, 32, 0, 3, 0xb008};
    put_gas(mem + FADT_PHYS + 208, &x_tmr);
    put32(mem + FADT_PHYS + 112, RESET_SUP | (1u << 8)); /* TMR_VAL_EXT */
    fix_checksum(FADT_PHYS);
    CHECK(parse());
    CHECK_EQ_INT(info.fadt.pm_timer_port, 0xb008);
    CHECK(info.fadt.pm_timer_32bit);
    put32(mem + FADT_PHYS + 112, RESET_SUP | (1u << 20)); /* HW_REDUCED_ACPI */
    fix_checksum(FADT_PHYS);
    CHECK(parse());
    CHECK(info.fadt.hardware_reduced);
    CHECK_EQ_INT(info.fadt.pm_timer_port, 0);
    /* A FADT too short to hold PM_TMR_LEN has no timer. */
    build_fadt(&(struct fadt_spec){.len = 80, .dsdt = DSDT_PHYS});
    put32(mem + FADT_PHYS + 76, 0x608);
    fix_checksum(FADT_PHYS);
    CHECK(parse());
    CHECK(info.fadt.found);
    CHECK_EQ_INT(info.fadt.pm_timer_port, 0);
}

/* The HPET table: its window's address when in memory space; a short table or an
 * I/O-space window is reported and ignored. */
static void test_hpet_table(void)
{
    build_machine(true);
    CHECK(parse());
    CHECK(!info.hpet.found);
    uint8_t *t = table_begin(SSDT_PHYS, "HPET", 56);
    put32(t + 36, 0x8086a201);
    put_gas(t + 40, &(struct acpi_gas){ACPI_SPACE_MEMORY, 0, 0, 0, 0xfed00000});
    fix_checksum(SSDT_PHYS);
    uint32_t tables[] = {FADT_PHYS, MADT_PHYS, SSDT_PHYS};
    build_root(true, tables, 3);
    CHECK(parse());
    CHECK(info.hpet.found);
    CHECK_EQ_U64(info.hpet.address_phys, 0xfed00000);
    t[40] = ACPI_SPACE_IO;
    fix_checksum(SSDT_PHYS);
    CHECK(parse());
    CHECK(!info.hpet.found);
    CHECK(diag_has("the HPET is not in memory space"));
    put32(t + 4, 44);
    fix_checksum(SSDT_PHYS);
    CHECK(parse());
    CHECK(!info.hpet.found);
    CHECK(diag_has("HPET table too short (44 bytes)"));
}

/* More usable CPUs than ACPI_MAX_CPUS: the first ones are kept, the rest counted
 * and reported (QEMU at -smp 288: 256 xAPIC entries, then x2APIC ones). */
static void test_madt_cpus_beyond_limit_counted(void)
{
    build_machine(true);
    madt_begin();
    for (unsigned id = 0; id < 256; id++)
        madt_lapic((uint8_t)id, 1);
    /* x2APIC entries for the rest: 32 more processors than the parser keeps. */
    for (unsigned id = 256; id < ACPI_MAX_CPUS + 32; id++) {
        uint8_t *e = madt_add(9, 16);
        put32(e + 4, id);
        put32(e + 8, 1);
        put32(e + 12, id);
    }
    madt_finish();
    CHECK(parse());
    CHECK_EQ_INT(info.madt.cpu_count, ACPI_MAX_CPUS);
    CHECK_EQ_INT(info.madt.cpus_dropped, 32);
    char expected[128];
    snprintf(expected, sizeof(expected),
             "acpi: the MADT lists 32 more CPUs than the %d kept; 32 dropped", ACPI_MAX_CPUS);
    CHECK(diag_has(expected));
    build_machine(true);
    CHECK(parse());
    CHECK_EQ_INT(info.madt.cpus_dropped, 0);
}

/* ---- \_S5 -------------------------------------------------------------------------- */

static bool find_s5(const uint8_t *aml, size_t len)
{
    diag_text[0] = 0;
    diag_count = 0;
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, aml, len);
    struct acpi_s5_info s5;
    bool found = acpi_find_s5(copy, len, collect_diag, &s5);
    free(copy);
    if (found != s5.found)
        fprintf(stderr, "acpi_find_s5: result and found disagree\n");
    info.s5 = s5;
    return found && s5.found;
}

static void test_s5_integer_encodings(void)
{
    static const uint8_t zero_one[] = {0x08, '_', 'S', '5', '_', 0x12, 0x04, 0x02, 0x00, 0x01};
    CHECK(find_s5(zero_one, sizeof(zero_one)));
    CHECK_EQ_INT(info.s5.slp_typ_a, 0);
    CHECK_EQ_INT(info.s5.slp_typ_b, 1);
    static const uint8_t words[] = {0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04,
                                    0x0b, 0x06, 0x00, 0x0b, 0x03, 0x00, 0x00, 0x00};
    CHECK(find_s5(words, sizeof(words)));
    CHECK_EQ_INT(info.s5.slp_typ_a, 6);
    CHECK_EQ_INT(info.s5.slp_typ_b, 3);
    static const uint8_t dwords[] = {0x08, '_', 'S', '5', '_', 0x12, 0x0c, 0x02,
                                     0x0c, 0x02, 0, 0, 0, 0x0c, 0x04, 0, 0, 0};
    CHECK(find_s5(dwords, sizeof(dwords)));
    CHECK_EQ_INT(info.s5.slp_typ_a, 2);
    CHECK_EQ_INT(info.s5.slp_typ_b, 4);
    /* Rooted name, two-byte PkgLength (0x40 | low nibble, then the next 8 bits). */
    static const uint8_t rooted[] = {0x08, '\\', '_', 'S', '5', '_', 0x12, 0x47, 0x00, 0x02,
                                     0x0a, 0x07, 0x0a, 0x01};
    CHECK(find_s5(rooted, sizeof(rooted)));
    CHECK_EQ_INT(info.s5.slp_typ_a, 7);
    CHECK_EQ_INT(info.s5.slp_typ_b, 1);
}

static void test_s5_false_matches_skipped(void)
{
    /* "_S5_" inside a string, then as a method name, then the real package. */
    static const uint8_t aml[] = {
        0x0d, 'x', '_', 'S', '5', '_', 0x12, 0x04, 0x02, 0x01, 0x01, 0x00, /* String */
        0x14, 0x08, '_', 'S', '5', '_', 0x00, 0xa4, 0x00,                /* Method */
        0x08, '_', 'S', '5', '_', 0x0a, 0x03,                            /* Name: a byte */
        0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x02, 0x0a, 0x02, 0x0a, 0x03,
    };
    CHECK(find_s5(aml, sizeof(aml)));
    CHECK_EQ_INT(info.s5.slp_typ_a, 2);
    CHECK_EQ_INT(info.s5.slp_typ_b, 3);
    static const uint8_t none[] = {0x10, 0x05, 0x5c, '_', 'S', 'B', '_'};
    CHECK(!find_s5(none, sizeof(none)));
    CHECK(diag_has("no usable \\_S5 package"));
    CHECK(!find_s5(none, 0));
    CHECK(!find_s5((const uint8_t *)"_S5_", 4)); /* no room for a NameOp before it */
}

static void test_s5_malformed_packages_rejected(void)
{
    static const uint8_t too_big[] = {0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x02,
                                      0x0a, 0x08, 0x0a, 0x01};
    CHECK(!find_s5(too_big, sizeof(too_big)));
    CHECK(diag_has("do not fit SLP_TYP"));
    static const uint8_t ones[] = {0x08, '_', 'S', '5', '_', 0x12, 0x04, 0x02, 0xff, 0x00};
    CHECK(!find_s5(ones, sizeof(ones)));
    CHECK(diag_has("does not start with two integers"));
    static const uint8_t one_element[] = {0x08, '_', 'S', '5', '_', 0x12, 0x04, 0x01, 0x0a,
                                          0x05};
    CHECK(!find_s5(one_element, sizeof(one_element)));
    CHECK(diag_has("fewer than two elements"));
    static const uint8_t empty[] = {0x08, '_', 'S', '5', '_', 0x12, 0x00, 0x02, 0x00, 0x00};
    CHECK(!find_s5(empty, sizeof(empty)));
    /* The package length claims more than the DSDT holds. */
    static const uint8_t overlong[] = {0x08, '_', 'S', '5', '_', 0x12, 0x3f, 0x02, 0x00, 0x00};
    CHECK(!find_s5(overlong, sizeof(overlong)));
    CHECK(diag_has("runs past the end"));
    /* The second integer lies outside the package's own length. */
    static const uint8_t short_pkg[] = {0x08, '_', 'S', '5', '_', 0x12, 0x04, 0x02,
                                        0x0a, 0x05, 0x0a, 0x05};
    CHECK(!find_s5(short_pkg, sizeof(short_pkg)));
    /* Multi-byte PkgLength with the reserved bits 4-5 set. */
    static const uint8_t reserved[] = {0x08, '_', 'S', '5', '_', 0x12, 0x75, 0x00, 0x02,
                                       0x00, 0x00};
    CHECK(!find_s5(reserved, sizeof(reserved)));
    CHECK(diag_has("length is malformed"));
}

static void test_s5_truncated_anywhere_never_overreads(void)
{
    static const uint8_t aml[] = {0x08, '\\', '_', 'S', '5', '_', 0x12, 0x4c, 0x00, 0x04,
                                  0x0b, 0x05, 0x00, 0x0c, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00};
    CHECK(find_s5(aml, sizeof(aml)));
    CHECK_EQ_INT(info.s5.slp_typ_a, 5);
    for (size_t len = 0; len < sizeof(aml); len++) {
        bool found = find_s5(aml, len);
        /* The package's own length (12 from its PkgLength) must be there whole. */
        CHECK(found == (len >= 7 + 12));
    }
}

static void test_s5_in_dsdt_with_bad_checksum_not_used(void)
{
    build_machine(true);
    mem[DSDT_PHYS + 40] ^= 1;
    CHECK(parse());
    CHECK(info.fadt.found);
    CHECK(!info.s5.found);
    CHECK(diag_has("fails its checksum"));
}

/* ---- SRAT and SLIT ------------------------------------------------------------------ */

static struct acpi_numa_info numa;

static bool parse_numa(void)
{
    diag_text[0] = 0;
    diag_count = 0;
    uint8_t *copy = malloc(rsdp_len ? rsdp_len : 1);
    memcpy(copy, rsdp, rsdp_len);
    bool ok = acpi_read_numa(copy, rsdp_len, read_phys, NULL, collect_diag, &numa);
    free(copy);
    free_copies();
    return ok;
}

static uint32_t srat_len;

static void srat_begin(void)
{
    table_begin(SRAT_PHYS, "SRAT", 48);
    put32(mem + SRAT_PHYS + 36, 1); /* table revision */
    srat_len = 48;
}

static uint8_t *srat_add(uint8_t type, uint8_t len)
{
    uint8_t *e = mem + SRAT_PHYS + srat_len;
    memset(e, 0, len < 2 ? 2 : len);
    e[0] = type;
    e[1] = len;
    srat_len += len < 2 ? 2 : len;
    return e;
}

static void srat_lapic(uint8_t apic_id, uint32_t domain, uint32_t flags)
{
    uint8_t *e = srat_add(0, 16);
    e[2] = (uint8_t)domain;
    e[3] = apic_id;
    put32(e + 4, flags);
    e[9] = (uint8_t)(domain >> 8);
    e[10] = (uint8_t)(domain >> 16);
    e[11] = (uint8_t)(domain >> 24);
}

static void srat_x2apic(uint32_t apic_id, uint32_t domain, uint32_t flags)
{
    uint8_t *e = srat_add(2, 24);
    put32(e + 4, domain);
    put32(e + 8, apic_id);
    put32(e + 12, flags);
}

#define MEM_ENABLED 1u
#define MEM_HOTPLUG 2u

static void srat_memory(uint64_t base, uint64_t length, uint32_t domain, uint32_t flags)
{
    uint8_t *e = srat_add(1, 40);
    put32(e + 2, domain);
    put64(e + 8, base);
    put64(e + 16, length);
    put32(e + 28, flags);
}

static void srat_finish(void)
{
    put32(mem + SRAT_PHYS + 4, srat_len);
    fix_checksum(SRAT_PHYS);
}

/* A SLIT over `count` domains, row-major. */
static void build_slit(uint64_t count, const uint8_t *matrix)
{
    uint8_t *t = table_begin(SLIT_PHYS, "SLIT", (uint32_t)(44 + count * count));
    put64(t + 36, count);
    memcpy(t + 44, matrix, count * count);
    fix_checksum(SLIT_PHYS);
}

/* The root lists the SRAT, and the SLIT when `slit`. */
static void numa_root(bool slit)
{
    uint32_t tables[] = {SRAT_PHYS, SLIT_PHYS};
    build_root(true, tables, slit ? 2 : 1);
    build_rsdp(2, 0, XSDT_PHYS);
}

static unsigned node_of_apic(uint32_t apic_id)
{
    for (unsigned i = 0; i < numa.cpu_count; i++) {
        if (numa.cpus[i].apic_id == apic_id)
            return numa.cpus[i].node;
    }
    return 999;
}

static void test_srat_several_ranges_per_node(void)
{
    memset(mem, 0, sizeof(mem));
    srat_begin();
    srat_lapic(0, 0, 1);
    srat_lapic(1, 1, 1);
    srat_memory(0, 0xa0000, 0, MEM_ENABLED);
    srat_memory(0x100000, 0x7f00000, 0, MEM_ENABLED);
    srat_memory(0x8000000, 0x8000000, 1, MEM_ENABLED);
    srat_memory(0x100000000ull, 0x40000000, 1, MEM_ENABLED);
    srat_finish();
    numa_root(false);
    CHECK(parse_numa());
    CHECK(numa.srat_found);
    CHECK(!numa.slit_found);
    CHECK_EQ_INT(numa.node_count, 2);
    CHECK_EQ_INT(numa.mem_count, 4);
    CHECK_EQ_INT(numa.mem[0].node, 0);
    CHECK_EQ_INT(numa.mem[1].node, 0);
    CHECK_EQ_INT(numa.mem[2].node, 1);
    CHECK_EQ_INT(numa.mem[3].node, 1);
    CHECK_EQ_U64(numa.mem[3].base_phys, 0x100000000ull);
    CHECK_EQ_U64(numa.mem[3].length_bytes, 0x40000000);
    CHECK_EQ_INT(node_of_apic(0), 0);
    CHECK_EQ_INT(node_of_apic(1), 1);
    /* No SLIT: 10 local, 20 remote. */
    CHECK_EQ_INT(numa.distance[0][0], 10);
    CHECK_EQ_INT(numa.distance[0][1], 20);
    CHECK_EQ_INT(numa.distance[1][0], 20);
}

static void test_srat_memoryless_and_cpuless_nodes(void)
{
    memset(mem, 0, sizeof(mem));
    srat_begin();
    srat_lapic(0, 0, 1);
    srat_lapic(1, 2, 1); /* node 2: CPUs, no memory */
    srat_memory(0, 0x8000000, 0, MEM_ENABLED);
    srat_memory(0x8000000, 0x8000000, 1, MEM_ENABLED); /* node 1: memory, no CPUs */
    srat_finish();
    numa_root(false);
    CHECK(parse_numa());
    CHECK_EQ_INT(numa.node_count, 3);
    CHECK_EQ_INT(numa.cpu_count, 2);
    CHECK_EQ_INT(node_of_apic(1), 2);
    CHECK_EQ_INT(numa.mem_count, 2);
    CHECK_EQ_INT(numa.mem[1].node, 1);
}

static void test_srat_sparse_domains_and_x2apic(void)
{
    memset(mem, 0, sizeof(mem));
    srat_begin();
    srat_lapic(0, 0x10007, 1);        /* a domain that needs the high bytes */
    srat_x2apic(300, 7, 1);           /* an x2APIC ID above 255 */
    srat_x2apic(0x12345, 0x10007, 1);
    srat_x2apic(301, 99, 0);          /* disabled: names no node */
    srat_memory(0, 0x1000000, 7, MEM_ENABLED);
    srat_memory(0x1000000, 0x1000000, 0x10007, MEM_ENABLED);
    srat_finish();
    numa_root(false);
    CHECK(parse_numa());
    CHECK_EQ_INT(numa.node_count, 2);
    CHECK_EQ_INT(numa.domains[0], 7);
    CHECK_EQ_INT(numa.domains[1], 0x10007);
    CHECK_EQ_INT(node_of_apic(0), 1);
    CHECK_EQ_INT(node_of_apic(300), 0);
    CHECK_EQ_INT(node_of_apic(0x12345), 1);
    CHECK_EQ_INT(node_of_apic(301), 999);
    CHECK_EQ_INT(numa.mem[0].node, 0);
    CHECK_EQ_INT(numa.mem[1].node, 1);
    CHECK_EQ_INT(acpi_node_of_domain(&numa, 99), 2); /* not a node */
}

static void test_srat_hotplug_disabled_empty_and_overlapping_ranges_dropped(void)
{
    memset(mem, 0, sizeof(mem));
    srat_begin();
    srat_lapic(0, 0, 1);
    srat_memory(0, 0x8000000, 0, MEM_ENABLED);
    srat_memory(0x8000000, 0x8000000, 0, MEM_ENABLED | MEM_HOTPLUG);
    srat_memory(0x10000000, 0x8000000, 0, 0);
    srat_memory(0x18000000, 0, 0, MEM_ENABLED);
    srat_memory(0x4000000, 0x8000000, 1, MEM_ENABLED); /* overlaps the first */
    srat_memory(0xfffffffffffff000ull, 0x2000, 0, MEM_ENABLED); /* wraps */
    srat_finish();
    numa_root(false);
    CHECK(parse_numa());
    CHECK_EQ_INT(numa.mem_count, 1);
    CHECK_EQ_INT(numa.node_count, 1); /* domain 1 only named by a dropped range */
    CHECK(diag_has("hot-pluggable"));
    CHECK(diag_has("overlaps"));
    CHECK(diag_has("wraps"));
}

static void test_srat_zero_length_entry_ends_walk(void)
{
    memset(mem, 0, sizeof(mem));
    srat_begin();
    srat_lapic(0, 0, 1);
    srat_memory(0, 0x8000000, 0, MEM_ENABLED);
    srat_add(1, 0); /* length 0: a loop that trusted it would never advance */
    srat_memory(0x8000000, 0x8000000, 1, MEM_ENABLED);
    srat_finish();
    numa_root(false);
    CHECK(parse_numa());
    CHECK_EQ_INT(numa.mem_count, 1);
    CHECK_EQ_INT(numa.node_count, 1);
    CHECK(diag_has("SRAT entry at offset"));
}

static void test_srat_entry_past_the_end_and_short_entries(void)
{
    memset(mem, 0, sizeof(mem));
    srat_begin();
    srat_lapic(0, 0, 1);
    srat_add(1, 20); /* a memory entry too short to hold its fields: skipped */
    srat_memory(0, 0x8000000, 0, MEM_ENABLED);
    srat_finish();
    put32(mem + SRAT_PHYS + 4, srat_len - 8); /* the last entry runs past the end */
    fix_checksum(SRAT_PHYS);
    numa_root(false);
    CHECK(parse_numa());
    CHECK_EQ_INT(numa.mem_count, 0);
    CHECK(diag_has("malformed"));
}

static void test_srat_bad_checksum_or_length_means_one_node(void)
{
    memset(mem, 0, sizeof(mem));
    srat_begin();
    srat_lapic(0, 0, 1);
    srat_lapic(1, 1, 1);
    srat_finish();
    mem[SRAT_PHYS + 9] ^= 1;
    numa_root(false);
    CHECK(!parse_numa());
    CHECK_EQ_INT(numa.node_count, 1);
    CHECK(diag_has("checksum"));
    srat_finish();
    put32(mem + SRAT_PHYS + 4, 20); /* shorter than a header */
    CHECK(!parse_numa());
    CHECK_EQ_INT(numa.node_count, 1);
    CHECK(diag_has("impossible length"));
    put32(mem + SRAT_PHYS + 4, 40); /* a header, but no room for the SRAT's own fields */
    fix_checksum(SRAT_PHYS);
    CHECK(!parse_numa());
    CHECK(diag_has("SRAT too short"));
}

static void test_no_srat_one_node(void)
{
    build_machine(true);
    CHECK(!parse_numa());
    CHECK(!numa.srat_found);
    CHECK_EQ_INT(numa.node_count, 1);
    CHECK_EQ_INT(numa.distance[0][0], 10);
    build_rsdp(2, 0, 0x1234567); /* no root table at all */
    CHECK(!parse_numa());
    CHECK_EQ_INT(numa.node_count, 1);
}

static void four_node_srat(void)
{
    memset(mem, 0, sizeof(mem));
    srat_begin();
    for (uint8_t n = 0; n < 4; n++) {
        srat_lapic(n, n, 1);
        srat_memory((uint64_t)n << 27, 1u << 27, n, MEM_ENABLED);
    }
    srat_finish();
}

static void test_slit_asymmetric_distances(void)
{
    four_node_srat();
    const uint8_t matrix[16] = {10, 20, 30, 40, 21, 10, 22, 33, 31, 23, 10, 15, 41, 34, 16, 10};
    build_slit(4, matrix);
    numa_root(true);
    CHECK(parse_numa());
    CHECK(numa.slit_found);
    for (unsigned a = 0; a < 4; a++) {
        for (unsigned b = 0; b < 4; b++)
            CHECK_EQ_INT(numa.distance[a][b], matrix[a * 4 + b]);
    }
}

static void test_slit_indexed_by_sparse_domain(void)
{
    memset(mem, 0, sizeof(mem));
    srat_begin();
    srat_lapic(0, 1, 1);
    srat_lapic(1, 3, 1);
    srat_finish();
    uint8_t matrix[16];
    for (unsigned a = 0; a < 4; a++) {
        for (unsigned b = 0; b < 4; b++)
            matrix[a * 4 + b] = a == b ? 10 : (uint8_t)(10 + 10 * a + b);
    }
    build_slit(4, matrix);
    numa_root(true);
    CHECK(parse_numa());
    CHECK(numa.slit_found);
    CHECK_EQ_INT(numa.node_count, 2);
    CHECK_EQ_INT(numa.distance[0][1], matrix[1 * 4 + 3]);
    CHECK_EQ_INT(numa.distance[1][0], matrix[3 * 4 + 1]);
}

static void test_bad_slits_give_default_distances(void)
{
    four_node_srat();
    uint8_t matrix[16] = {10, 20, 30, 40, 21, 10, 22, 33, 31, 23, 10, 15, 41, 34, 16, 10};
    matrix[5] = 11; /* not 10 on the diagonal */
    build_slit(4, matrix);
    numa_root(true);
    CHECK(parse_numa());
    CHECK(!numa.slit_found);
    CHECK_EQ_INT(numa.distance[1][2], 20);
    CHECK(diag_has("invalid"));
    matrix[5] = 10;
    matrix[1] = 5; /* remote nearer than local */
    build_slit(4, matrix);
    CHECK(parse_numa());
    CHECK(!numa.slit_found);
    matrix[1] = 20;
    build_slit(3, matrix); /* does not cover domain 3 */
    CHECK(parse_numa());
    CHECK(!numa.slit_found);
    CHECK(diag_has("does not cover"));
    build_slit(4, matrix);
    put32(mem + SLIT_PHYS + 4, 44 + 10); /* shorter than its matrix */
    fix_checksum(SLIT_PHYS);
    CHECK(parse_numa());
    CHECK(!numa.slit_found);
    CHECK(diag_has("SLIT size"));
}

static void check_numa_invariants(void)
{
    CHECK(numa.node_count >= 1 && numa.node_count <= ACPI_MAX_NODES);
    CHECK(numa.cpu_count <= ACPI_MAX_CPUS && numa.mem_count <= ACPI_MAX_MEM_RANGES);
    for (unsigned i = 0; i < numa.cpu_count; i++)
        CHECK(numa.cpus[i].node < numa.node_count);
    for (unsigned i = 0; i < numa.mem_count; i++) {
        CHECK(numa.mem[i].node < numa.node_count && numa.mem[i].length_bytes > 0);
        for (unsigned j = 0; j < i; j++) {
            const struct acpi_mem_affinity *a = &numa.mem[i], *b = &numa.mem[j];
            CHECK(a->base_phys >= b->base_phys + b->length_bytes ||
                  b->base_phys >= a->base_phys + a->length_bytes);
        }
    }
    for (unsigned a = 0; a < numa.node_count; a++) {
        CHECK_EQ_INT(numa.distance[a][a], 10);
        for (unsigned b = 0; b < numa.node_count; b++)
            CHECK(a == b || numa.distance[a][b] > 10);
    }
}

static void test_srat_slit_mutations_never_crash(void)
{
    const uint8_t matrix[16] = {10, 20, 30, 40, 21, 10, 22, 33, 31, 23, 10, 15, 41, 34, 16, 10};
    for (int round = 0; round < 5000; round++) {
        four_node_srat();
        srat_x2apic(400, 2, 1);
        srat_finish();
        build_slit(4, matrix);
        numa_root(true);
        int mutations = 1 + (int)(rng() % 6);
        for (int m = 0; m < mutations; m++) {
            uint32_t phys = rng() % 2 ? SRAT_PHYS : SLIT_PHYS;
            uint32_t len = get32(mem + phys + 4);
            if (len < 8 || len > 0x1000)
                len = 0x100;
            uint64_t r = rng();
            if ((r >> 32) % 5 == 0)
                put32(mem + phys + 4, (uint32_t)(r >> 40) % 0x300);
            else
                mem[phys + (uint32_t)(r % len)] = (uint8_t)(r >> 48);
            if (rng() % 4)
                fix_checksum(phys);
            parse_numa();
            check_numa_invariants();
            if (check_failures_in_test)
                return;
        }
    }
}

/* ---- mutations -------------------------------------------------------------------- */

static void check_invariants(void)
{
    CHECK(info.madt.cpu_count <= ACPI_MAX_CPUS);
    CHECK(info.madt.ioapic_count <= ACPI_MAX_IOAPICS);
    CHECK(!info.s5.found || (info.s5.slp_typ_a <= 7 && info.s5.slp_typ_b <= 7));
    CHECK(info.root_found || (!info.madt.found && !info.fadt.found && !info.s5.found));
    CHECK(info.fadt.found || !info.s5.found);
    for (unsigned i = 0; i < info.madt.cpu_count; i++) {
        for (unsigned j = 0; j < i; j++)
            CHECK(info.madt.apic_ids[i] != info.madt.apic_ids[j]);
    }
}

static const uint32_t table_addresses[] = {XSDT_PHYS, RSDT_PHYS, MADT_PHYS, FADT_PHYS,
                                           DSDT_PHYS};

static void mutate_once(void)
{
    uint32_t phys = table_addresses[rng() % 5];
    uint32_t len = get32(mem + phys + 4);
    if (len < 8 || len > 0x1000)
        len = 0x100;
    int flips = 1 + (int)(rng() % 8);
    for (int i = 0; i < flips; i++) {
        uint64_t r = rng();
        uint32_t at = (uint32_t)(r % len);
        switch ((r >> 32) % 4) {
        case 0: mem[phys + at] ^= (uint8_t)(1u << ((r >> 40) % 8)); break;
        case 1: mem[phys + at] = (uint8_t)(r >> 48); break;
        case 2: mem[phys + at] = (uint8_t)((r >> 48) % 3 ? 0 : 0xff); break;
        default: put32(mem + phys + 4, (uint32_t)(r >> 40) % 0x200); break; /* a new length */
        }
    }
    if (rng() % 4) /* mostly keep the checksum right, to get past it */
        fix_checksum(phys);
}

static void test_mutations_never_crash(void)
{
    for (int round = 0; round < 10000; round++) {
        build_machine(round % 2 == 0);
        /* Some rounds build up on earlier mutations of the same machine. */
        int mutations = 1 + (int)(rng() % 6);
        for (int m = 0; m < mutations; m++) {
            mutate_once();
            parse();
            check_invariants();
            if (check_failures_in_test)
                return;
        }
    }
    for (int round = 0; round < 20000; round++) {
        uint8_t aml[48];
        memcpy(aml, s5_bytes, sizeof(s5_bytes));
        size_t len = sizeof(s5_bytes) + rng() % (sizeof(aml) - sizeof(s5_bytes));
        for (size_t i = sizeof(s5_bytes); i < len; i++)
            aml[i] = (uint8_t)rng();
        for (int i = (int)(rng() % 4); i >= 0; i--)
            aml[rng() % len] = (uint8_t)rng();
        if (find_s5(aml, rng() % (len + 1)))
            CHECK(info.s5.slp_typ_a <= 7 && info.s5.slp_typ_b <= 7);
        if (check_failures_in_test)
            return;
    }
}

int main(void)
{
    check_program = "test_acpi";
    RUN(test_xsdt_machine_parsed_completely);
    RUN(test_rsdt_only_acpi1_machine);
    RUN(test_rsdp_v2_with_bad_extended_checksum_uses_rsdt);
    RUN(test_x_dsdt_preferred_over_dsdt);
    RUN(test_bad_rsdp_rejected);
    RUN(test_bad_root_table_rejected);
    RUN(test_root_entry_count_bounded);
    RUN(test_madt_with_bad_checksum_skipped);
    RUN(test_table_lengths_checked);
    RUN(test_missing_madt_and_fadt_reported);
    RUN(test_first_valid_table_of_a_kind_wins);
    RUN(test_fadt_without_dsdt_reported);
    RUN(test_madt_zero_length_entry_ends_walk);
    RUN(test_madt_entry_past_end_ignored);
    RUN(test_madt_short_entries_and_cpu_flags);
    RUN(test_ioapic_count_bounded);
    RUN(test_overrides_checked);
    RUN(test_fadt_reset_register_needs_flag_and_address);
    RUN(test_fadt_extended_pm1_blocks);
    RUN(test_fadt_pm_timer);
    RUN(test_hpet_table);
    RUN(test_madt_cpus_beyond_limit_counted);
    RUN(test_s5_integer_encodings);
    RUN(test_s5_false_matches_skipped);
    RUN(test_s5_malformed_packages_rejected);
    RUN(test_s5_truncated_anywhere_never_overreads);
    RUN(test_s5_in_dsdt_with_bad_checksum_not_used);
    RUN(test_mutations_never_crash);
    RUN(test_srat_several_ranges_per_node);
    RUN(test_srat_memoryless_and_cpuless_nodes);
    RUN(test_srat_sparse_domains_and_x2apic);
    RUN(test_srat_hotplug_disabled_empty_and_overlapping_ranges_dropped);
    RUN(test_srat_zero_length_entry_ends_walk);
    RUN(test_srat_entry_past_the_end_and_short_entries);
    RUN(test_srat_bad_checksum_or_length_means_one_node);
    RUN(test_no_srat_one_node);
    RUN(test_slit_asymmetric_distances);
    RUN(test_slit_indexed_by_sparse_domain);
    RUN(test_bad_slits_give_default_distances);
    RUN(test_srat_slit_mutations_never_crash);
    return check_summary();
}
