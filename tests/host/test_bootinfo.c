/*
 * Host tests of kernel/bootinfo.c. Multiboot2 info blobs and PVH start infos are
 * built byte by byte here, then handed to the parsers from a heap buffer of exactly
 * the size under test, so any read past it is an ASan report. Malformed inputs check
 * the error and the diag text; seeded mutation loops check that nothing crashes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernel/bootinfo.h"

#define BLOB_MAX 8192
#define MAGIC MULTIBOOT2_BOOTLOADER_MAGIC
#define INFO_PHYS 0x10000ull

enum {
    TAG_END = 0,
    TAG_CMDLINE = 1,
    TAG_LOADER_NAME = 2,
    TAG_MODULE = 3,
    TAG_BASIC_MEMINFO = 4,
    TAG_BOOTDEV = 5,
    TAG_MMAP = 6,
    TAG_FRAMEBUFFER = 8,
    TAG_ACPI_OLD = 14,
    TAG_ACPI_NEW = 15,
    TAG_LOAD_BASE = 21,
};

static uint64_t rng_state = 0x853c49e6748fea9bull;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* ---- diag capture ---------------------------------------------------------- */

struct diag_log {
    char text[16384];
    int count;
};

static struct diag_log diags;

static void collect_diag(void *ctx, const char *message)
{
    struct diag_log *log = ctx;
    size_t used = strlen(log->text);
    snprintf(log->text + used, sizeof(log->text) - used, "%s\n", message);
    log->count++;
}

static bool diag_has(const char *needle)
{
    return strstr(diags.text, needle) != NULL;
}

/* ---- Multiboot2 blob builder ------------------------------------------------- */

struct blob {
    _Alignas(8) uint8_t bytes[BLOB_MAX];
    size_t len;
};

static struct blob blob;

static void put_u32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, sizeof(v));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, sizeof(v));
}

static void blob_begin(void)
{
    memset(&blob, 0, sizeof(blob));
    blob.len = 8; /* total_size, reserved */
}

/* Appends a tag of `size` bytes (zeroed, header filled); pads to 8 like loaders do. */
static uint8_t *blob_tag(uint32_t type, uint32_t size)
{
    uint8_t *tag = blob.bytes + blob.len;
    put_u32(tag, type);
    put_u32(tag + 4, size);
    blob.len += (size + 7) & ~7u;
    return tag;
}

static void blob_string_tag(uint32_t type, const char *s)
{
    uint8_t *tag = blob_tag(type, 8 + (uint32_t)strlen(s) + 1);
    memcpy(tag + 8, s, strlen(s) + 1);
}

static void blob_module(uint32_t start, uint32_t end, const char *name)
{
    uint8_t *tag = blob_tag(TAG_MODULE, 16 + (uint32_t)strlen(name) + 1);
    put_u32(tag + 8, start);
    put_u32(tag + 12, end);
    memcpy(tag + 16, name, strlen(name) + 1);
}

struct region {
    uint64_t base, length;
    uint32_t type;
};

static void blob_mmap(const struct region *regions, size_t count)
{
    uint8_t *tag = blob_tag(TAG_MMAP, 16 + 24 * (uint32_t)count);
    put_u32(tag + 8, 24);
    put_u32(tag + 12, 0);
    for (size_t i = 0; i < count; i++) {
        uint8_t *e = tag + 16 + 24 * i;
        put_u64(e, regions[i].base);
        put_u64(e + 8, regions[i].length);
        put_u32(e + 16, regions[i].type);
    }
}

static const struct region two_regions[] = {
    {0, 0x9fc00, 1},
    {0x100000, 0x1ff00000, 1},
};

static void blob_rgb_framebuffer(void)
{
    uint8_t *tag = blob_tag(TAG_FRAMEBUFFER, 38);
    put_u64(tag + 8, 0xfd000000);
    put_u32(tag + 16, 4096);
    put_u32(tag + 20, 1024);
    put_u32(tag + 24, 768);
    tag[28] = 32;
    tag[29] = 1;
    const uint8_t colours[6] = {16, 8, 8, 8, 0, 8};
    memcpy(tag + 32, colours, sizeof(colours));
}

static void fill_rsdp(uint8_t *rsdp, uint8_t revision)
{
    memcpy(rsdp, "RSD PTR ", 8);
    for (int i = 8; i < 36; i++)
        rsdp[i] = (uint8_t)(0x40 + i);
    rsdp[15] = revision;
}

static void blob_acpi(uint32_t type, uint8_t revision, uint32_t body)
{
    uint8_t rsdp[36];
    fill_rsdp(rsdp, revision);
    uint8_t *tag = blob_tag(type, 8 + body);
    memcpy(tag + 8, rsdp, body < 36 ? body : 36);
}

static void blob_finish(void)
{
    blob_tag(TAG_END, 8);
    put_u32(blob.bytes, (uint32_t)blob.len);
}

/* Parses the first `avail` bytes of the blob from an exactly-sized heap copy. */
static int parse_mb2_avail(uint32_t magic, size_t avail, struct boot_info *out)
{
    memset(&diags, 0, sizeof(diags));
    uint8_t *copy = malloc(avail ? avail : 1);
    CHECK((uintptr_t)copy % 8 == 0);
    memcpy(copy, blob.bytes, avail);
    int result = bootinfo_parse_multiboot2(magic, copy, avail, INFO_PHYS, out, collect_diag,
                                           &diags);
    free(copy);
    return result;
}

static struct boot_info info;

static int parse_mb2(void)
{
    return parse_mb2_avail(MAGIC, blob.len, &info);
}

/* A complete, valid info like GRUB's: every tag the parser reads, and some it skips. */
static void build_full_blob(void)
{
    blob_begin();
    blob_string_tag(TAG_CMDLINE, "mode=test seed=7");
    blob_string_tag(TAG_LOADER_NAME, "GRUB 2.06");
    uint8_t *meminfo = blob_tag(TAG_BASIC_MEMINFO, 16);
    put_u32(meminfo + 8, 639);
    uint8_t *bootdev = blob_tag(TAG_BOOTDEV, 20);
    put_u32(bootdev + 8, 0xe0);
    blob_module(0x200000, 0x201000, "initrd");
    blob_module(0x300000, 0x300000, "");
    const struct region regions[] = {
        {0, 0x9fc00, MMAP_USABLE},
        {0x9fc00, 0x400, MMAP_RESERVED},
        {0x100000, 0x7ee0000, MMAP_USABLE},
        {0x7fe0000, 0x20000, MMAP_ACPI_RECLAIMABLE},
        {0x100000000ull, 0x40000000ull, MMAP_USABLE},
        {0xfffc0000, 0x40000, 7}, /* unknown types are kept */
    };
    blob_mmap(regions, 6);
    blob_rgb_framebuffer();
    blob_tag(TAG_LOAD_BASE, 12);
    blob_tag(0x1234, 40); /* an unknown tag */
    blob_acpi(TAG_ACPI_OLD, 0, 20);
    blob_acpi(TAG_ACPI_NEW, 2, 36);
    blob_finish();
}

static void test_mb2_full_info_parsed(void)
{
    build_full_blob();
    CHECK_EQ_INT(parse_mb2(), BOOTINFO_OK);
    CHECK_EQ_INT(diags.count, 0);
    CHECK_EQ_INT(info.protocol, BOOT_PROTOCOL_MULTIBOOT2);
    CHECK_EQ_STR(info.cmdline, "mode=test seed=7");
    CHECK_EQ_STR(info.loader_name, "GRUB 2.06");
    CHECK_EQ_U64(info.info_phys, INFO_PHYS);
    CHECK_EQ_U64(info.info_size_bytes, blob.len);

    CHECK_EQ_U64(info.module_count, 2);
    CHECK_EQ_U64(info.modules[0].start_phys, 0x200000);
    CHECK_EQ_U64(info.modules[0].end_phys, 0x201000);
    CHECK_EQ_STR(info.modules[0].name, "initrd");
    CHECK_EQ_U64(info.modules[1].start_phys, 0x300000);
    CHECK_EQ_STR(info.modules[1].name, "");

    CHECK_EQ_U64(info.mmap_count, 6);
    CHECK(!info.mmap_truncated);
    CHECK_EQ_U64(info.mmap[1].base_phys, 0x9fc00);
    CHECK_EQ_U64(info.mmap[1].length_bytes, 0x400);
    CHECK_EQ_INT(info.mmap[1].type, MMAP_RESERVED);
    CHECK_EQ_U64(info.mmap[4].base_phys, 0x100000000ull);
    CHECK_EQ_U64(info.mmap[4].length_bytes, 0x40000000ull);
    CHECK_EQ_INT(info.mmap[5].type, 7);

    CHECK_EQ_INT(info.framebuffer.kind, FB_KIND_RGB);
    CHECK_EQ_U64(info.framebuffer.addr_phys, 0xfd000000);
    CHECK_EQ_INT(info.framebuffer.pitch_bytes, 4096);
    CHECK_EQ_INT(info.framebuffer.width, 1024);
    CHECK_EQ_INT(info.framebuffer.height, 768);
    CHECK_EQ_INT(info.framebuffer.bpp, 32);
    CHECK_EQ_INT(info.framebuffer.red_shift, 16);
    CHECK_EQ_INT(info.framebuffer.red_bits, 8);
    CHECK_EQ_INT(info.framebuffer.green_shift, 8);
    CHECK_EQ_INT(info.framebuffer.blue_shift, 0);
    CHECK_EQ_INT(info.framebuffer.blue_bits, 8);

    CHECK_EQ_U64(info.rsdp_len, 36); /* the ACPI 2.0 copy wins */
    CHECK(memcmp(info.rsdp, "RSD PTR ", 8) == 0);
    CHECK_EQ_INT(info.rsdp[15], 2);
    CHECK_EQ_INT(info.rsdp[35], 0x40 + 35);
    CHECK_EQ_U64(info.rsdp_phys, 0);
}

static void test_mb2_minimal_info_has_defaults(void)
{
    blob_begin();
    blob_mmap(two_regions, 2);
    blob_finish();
    CHECK_EQ_INT(parse_mb2(), BOOTINFO_OK);
    CHECK_EQ_INT(diags.count, 0);
    CHECK_EQ_STR(info.cmdline, "");
    CHECK_EQ_STR(info.loader_name, "");
    CHECK_EQ_U64(info.module_count, 0);
    CHECK_EQ_U64(info.mmap_count, 2);
    CHECK_EQ_INT(info.framebuffer.kind, FB_KIND_NONE);
    CHECK_EQ_U64(info.rsdp_len, 0);
}

static void test_mb2_acpi_old_and_new_order(void)
{
    blob_begin();
    blob_mmap(two_regions, 2);
    blob_acpi(TAG_ACPI_OLD, 0, 20);
    blob_finish();
    CHECK_EQ_INT(parse_mb2(), BOOTINFO_OK);
    CHECK_EQ_U64(info.rsdp_len, 20);
    CHECK_EQ_INT(info.rsdp[19], 0x40 + 19);

    blob_begin(); /* new before old: the old one does not replace it */
    blob_mmap(two_regions, 2);
    blob_acpi(TAG_ACPI_NEW, 2, 36);
    blob_acpi(TAG_ACPI_OLD, 0, 20);
    blob_finish();
    CHECK_EQ_INT(parse_mb2(), BOOTINFO_OK);
    CHECK_EQ_U64(info.rsdp_len, 36);
    CHECK_EQ_INT(info.rsdp[15], 2);

    blob_begin(); /* a "new" tag holding a revision 0 RSDP: only 20 bytes are meaningful */
    blob_mmap(two_regions, 2);
    blob_acpi(TAG_ACPI_NEW, 0, 36);
    blob_finish();
    CHECK_EQ_INT(parse_mb2(), BOOTINFO_OK);
    CHECK_EQ_U64(info.rsdp_len, 20);

    blob_begin(); /* revision 2 but a short tag: never read past it */
    blob_mmap(two_regions, 2);
    blob_acpi(TAG_ACPI_NEW, 2, 24);
    blob_finish();
    CHECK_EQ_INT(parse_mb2(), BOOTINFO_OK);
    CHECK_EQ_U64(info.rsdp_len, 20);

    blob_begin();
    blob_mmap(two_regions, 2);
    blob_acpi(TAG_ACPI_OLD, 0, 19);
    blob_finish();
    CHECK_EQ_INT(parse_mb2(), BOOTINFO_ERR_BAD_TAG);
    CHECK(diag_has("tag type 14 at offset"));
}

static void test_mb2_framebuffer_kinds(void)
{
    blob_begin();
    blob_mmap(two_regions, 2);
    uint8_t *tag = blob_tag(TAG_FRAMEBUFFER, 32);
    put_u64(tag + 8, 0xb8000);
    put_u32(tag + 20, 80);
    put_u32(tag + 24, 25);
    tag[28] = 16;
    tag[29] = 2;
    blob_finish();
    CHECK_EQ_INT(parse_mb2(), BOOTINFO_OK);
    CHECK_EQ_INT(info.framebuffer.kind, FB_KIND_EGA_TEXT);
    CHECK_EQ_U64(info.framebuffer.addr_phys, 0xb8000);
    CHECK_EQ_INT(info.framebuffer.width, 80);

    blob_begin();
    blob_mmap(two_regions, 2);
    tag = blob_tag(TAG_FRAMEBUFFER, 40);
    tag[29] = 0; /* indexed (palette) */
    blob_finish();
    CHECK_EQ_INT(parse_mb2(), BOOTINFO_OK);
    CHECK_EQ_INT(info.framebuffer.kind, FB_KIND_INDEXED);

    for (uint32_t size = 8; size < 38; size++) {
        blob_begin();
        blob_mmap(two_regions, 2);
        tag = blob_tag(TAG_FRAMEBUFFER, size);
        if (size > 29)
            tag[29] = 1; /* RGB needs 38 bytes */
        blob_finish();
        CHECK_EQ_INT(parse_mb2(), BOOTINFO_ERR_BAD_TAG);
        CHECK(diag_has("tag type 8 at offset 72 is malformed"));
    }
}

static void test_mb2_unknown_and_odd_sized_tags_skipped(void)
{
    blob_begin();
    blob_tag(0xffffffff, 8);
    blob_tag(77, 13); /* padded to 16 */
    blob_string_tag(TAG_CMDLINE, "x"); /* size 10, padded */
    blob_mmap(two_regions, 2);
    blob_tag(TAG_BASIC_MEMINFO, 8); /* too short to use: ignored anyway */
    blob_finish();
    CHECK_EQ_INT(parse_mb2(), BOOTINFO_OK);
    CHECK_EQ_INT(diags.count, 0);
    CHECK_EQ_STR(info.cmdline, "x");
    CHECK_EQ_U64(info.mmap_count, 2);
}

static void test_mb2_tags_after_end_ignored(void)
{
    blob_begin();
    blob_mmap(two_regions, 2);
    blob_finish();
    size_t end = blob.len;
    blob_string_tag(TAG_CMDLINE, "after the end");
    put_u32(blob.bytes, (uint32_t)blob.len);
    CHECK_EQ_INT(parse_mb2(), BOOTINFO_OK);
    CHECK_EQ_STR(info.cmdline, "");
    CHECK(end < blob.len);
}

static void test_mb2_bad_magic_rejected(void)
{
    build_full_blob();
    CHECK_EQ_INT(parse_mb2_avail(0x2badb002, blob.len, &info), BOOTINFO_ERR_BAD_MAGIC);
    CHECK_EQ_STR(diags.text, "bad loader magic 0x2badb002\n");
}

static void test_mb2_misaligned_info_rejected(void)
{
    build_full_blob();
    uint8_t *copy = malloc(blob.len + 4);
    memcpy(copy + 4, blob.bytes, blob.len);
    memset(&diags, 0, sizeof(diags));
    CHECK_EQ_INT(bootinfo_parse_multiboot2(MAGIC, copy + 4, blob.len, 0x10004, &info,
                                           collect_diag, &diags),
                 BOOTINFO_ERR_MISALIGNED);
    CHECK_EQ_STR(diags.text, "info at 0x10004 is not 8-byte aligned\n");
    free(copy);
}

static void test_mb2_total_size_checked(void)
{
    build_full_blob();
    size_t full = blob.len;
    for (size_t avail = 0; avail < 8; avail++)
        CHECK_EQ_INT(parse_mb2_avail(MAGIC, avail, &info), BOOTINFO_ERR_TRUNCATED);

    /* Bigger than what the caller can read. */
    char expected[128];
    CHECK_EQ_INT(parse_mb2_avail(MAGIC, full - 8, &info), BOOTINFO_ERR_TRUNCATED);
    snprintf(expected, sizeof(expected), "total_size %zu is invalid (available %zu)\n", full,
             full - 8);
    CHECK_EQ_STR(diags.text, expected);

    const uint32_t bad_totals[] = {0, 8, 15, (uint32_t)full + 1, 0xfffffff8};
    for (size_t i = 0; i < sizeof(bad_totals) / sizeof(bad_totals[0]); i++) {
        put_u32(blob.bytes, bad_totals[i]);
        CHECK_EQ_INT(parse_mb2_avail(MAGIC, full, &info), BOOTINFO_ERR_TRUNCATED);
        snprintf(expected, sizeof(expected), "total_size %u is invalid (available %zu)\n",
                 bad_totals[i], full);
        CHECK_EQ_STR(diags.text, expected);
    }

    /* Smaller than the tags: the end tag now lies outside, or is cut off. */
    put_u32(blob.bytes, (uint32_t)full - 8);
    CHECK_EQ_INT(parse_mb2_avail(MAGIC, full, &info), BOOTINFO_ERR_NO_END_TAG);
    snprintf(expected, sizeof(expected), "no end tag within total_size %zu\n", full - 8);
    CHECK_EQ_STR(diags.text, expected);

    /* avail larger than total_size is fine: the rest is not read. */
    put_u32(blob.bytes, (uint32_t)full);
    CHECK_EQ_INT(parse_mb2_avail(MAGIC, full + 64, &info), BOOTINFO_OK);
}

static void test_mb2_tag_past_total_size_rejected(void)
{
    blob_begin();
    blob_mmap(two_regions, 2);
    uint8_t *tag = blob_tag(TAG_CMDLINE, 16);
    blob_finish();
    put_u32(tag + 4, 4000);
    CHECK_EQ_INT(parse_mb2(), BOOTINFO_ERR_TRUNCATED);
    CHECK_EQ_STR(diags.text, "tag type 1 at offset 72 has size 4000, outside the info\n");

    put_u32(tag + 4, 25); /* one byte past the end tag's end */
    CHECK_EQ_INT(parse_mb2(), BOOTINFO_ERR_TRUNCATED);
    CHECK(diag_has("has size 25, outside the info"));

    put_u32(tag + 4, 0xffffffff); /* off + size would wrap 32 bits */
    CHECK_EQ_INT(parse_mb2(), BOOTINFO_ERR_TRUNCATED);
}

static void test_mb2_zero_and_short_tag_sizes_rejected(void)
{
    for (uint32_t size = 0; size < 8; size++) {
        blob_begin();
        blob_mmap(two_regions, 2);
        uint8_t *tag = blob_tag(TAG_CMDLINE, 8);
        blob_finish();
        put_u32(tag + 4, size);
        CHECK_EQ_INT(parse_mb2(), BOOTINFO_ERR_TRUNCATED);
        char expected[96];
        snprintf(expected, sizeof(expected), "tag type 1 at offset 72 has size %u, outside the info\n",
                 size);
        CHECK_EQ_STR(diags.text, expected);
    }
}

static void test_mb2_missing_end_tag_rejected(void)
{
    blob_begin();
    blob_mmap(two_regions, 2);
    blob_string_tag(TAG_CMDLINE, "abc");
    put_u32(blob.bytes, (uint32_t)blob.len);
    CHECK_EQ_INT(parse_mb2(), BOOTINFO_ERR_NO_END_TAG);
    char expected[64];
    snprintf(expected, sizeof(expected), "no end tag within total_size %zu\n", blob.len);
    CHECK_EQ_STR(diags.text, expected);
}

static void test_mb2_missing_memory_map_rejected(void)
{
    blob_begin();
    blob_string_tag(TAG_CMDLINE, "abc");
    blob_finish();
    CHECK_EQ_INT(parse_mb2(), BOOTINFO_ERR_NO_MEMORY_MAP);
    CHECK_EQ_STR(bootinfo_strerror(BOOTINFO_ERR_NO_MEMORY_MAP), "no memory map");
}

static void test_mb2_bad_mmap_entry_sizes_rejected(void)
{
    const uint32_t bad[] = {0, 8, 16, 20, 23, 25, 28};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        blob_begin();
        blob_mmap(two_regions, 2);
        blob_finish();
        put_u32(blob.bytes + 16, bad[i]);
        CHECK_EQ_INT(parse_mb2(), BOOTINFO_ERR_BAD_TAG);
        char expected[128];
        snprintf(expected, sizeof(expected),
                 "memory map entry size %u is invalid\ntag type 6 at offset 8 is malformed\n",
                 bad[i]);
        CHECK_EQ_STR(diags.text, expected);
    }
    blob_begin(); /* a tag too short for its own header */
    blob_tag(TAG_MMAP, 12);
    blob_finish();
    CHECK_EQ_INT(parse_mb2(), BOOTINFO_ERR_BAD_TAG);
    CHECK_EQ_STR(diags.text, "tag type 6 at offset 8 is malformed\n");
}

/*
 * An entry_size near 2^32 made `off + entry_size` wrap, so the entry loop read past
 * the tag (and past the info when the tag was last). Such a map now has no entries.
 */
static void test_mb2_huge_mmap_entry_size_does_not_wrap(void)
{
    const uint32_t huge[] = {0xfffffff0, 0xfffffff8};
    for (size_t i = 0; i < 2; i++) {
        blob_begin();
        uint8_t *tag = blob_tag(TAG_MMAP, 16);
        put_u32(tag + 8, huge[i]);
        blob_finish();
        CHECK_EQ_INT(parse_mb2(), BOOTINFO_OK);
        CHECK_EQ_U64(info.mmap_count, 0);
    }
}

static void test_mb2_partial_mmap_entry_ignored(void)
{
    blob_begin();
    uint8_t *tag = blob_tag(TAG_MMAP, 16 + 24 + 23);
    put_u32(tag + 8, 24);
    put_u64(tag + 16, 0x100000);
    put_u64(tag + 24, 0x1000);
    put_u32(tag + 32, 1);
    memset(tag + 40, 0xee, 23); /* a truncated second entry */
    blob_finish();
    CHECK_EQ_INT(parse_mb2(), BOOTINFO_OK);
    CHECK_EQ_U64(info.mmap_count, 1);
    CHECK_EQ_U64(info.mmap[0].base_phys, 0x100000);

    blob_begin(); /* larger entries than we know (newer loaders): stride honoured */
    tag = blob_tag(TAG_MMAP, 16 + 2 * 32);
    put_u32(tag + 8, 32);
    put_u64(tag + 16, 0x1000);
    put_u64(tag + 24, 0x2000);
    put_u32(tag + 32, 1);
    put_u64(tag + 48, 0x5000);
    put_u64(tag + 56, 0x6000);
    put_u32(tag + 64, 2);
    blob_finish();
    CHECK_EQ_INT(parse_mb2(), BOOTINFO_OK);
    CHECK_EQ_U64(info.mmap_count, 2);
    CHECK_EQ_U64(info.mmap[1].base_phys, 0x5000);
    CHECK_EQ_INT(info.mmap[1].type, 2);
}

static void test_mb2_mmap_overflow_and_empty_regions(void)
{
    static struct region many[BOOTINFO_MAX_MMAP + 10];
    for (size_t i = 0; i < BOOTINFO_MAX_MMAP + 10; i++)
        many[i] = (struct region){i * 0x10000, i % 5 == 4 ? 0 : 0x1000, 1};
    blob_begin();
    blob_mmap(many, BOOTINFO_MAX_MMAP + 10);
    blob_finish();
    CHECK_EQ_INT(parse_mb2(), BOOTINFO_OK);
    /* 138 regions, 27 of length zero (dropped): 111 fit. */
    CHECK_EQ_U64(info.mmap_count, 111);
    CHECK(!info.mmap_truncated);
    for (size_t i = 0; i < info.mmap_count; i++)
        CHECK(info.mmap[i].length_bytes != 0);

    for (size_t i = 0; i < BOOTINFO_MAX_MMAP + 10; i++)
        many[i].length = 0x1000;
    blob_begin();
    blob_mmap(many, BOOTINFO_MAX_MMAP + 10);
    blob_finish();
    CHECK_EQ_INT(parse_mb2(), BOOTINFO_OK);
    CHECK_EQ_U64(info.mmap_count, BOOTINFO_MAX_MMAP);
    CHECK(info.mmap_truncated);
    CHECK_EQ_STR(diags.text, "memory map has more than 128 regions; the rest ignored\n");
}

static void test_mb2_strings_checked(void)
{
    blob_begin();
    blob_mmap(two_regions, 2);
    uint8_t *tag = blob_tag(TAG_CMDLINE, 8 + 5);
    memcpy(tag + 8, "abcde", 5); /* no NUL inside the tag */
    blob_finish();
    CHECK_EQ_INT(parse_mb2(), BOOTINFO_ERR_BAD_TAG);
    CHECK_EQ_STR(diags.text, "command line is not NUL-terminated inside its tag\n"
                             "tag type 1 at offset 72 is malformed\n");

    blob_begin();
    blob_mmap(two_regions, 2);
    blob_tag(TAG_LOADER_NAME, 8); /* empty body */
    blob_finish();
    CHECK_EQ_INT(parse_mb2(), BOOTINFO_ERR_BAD_TAG);
    CHECK(diag_has("boot loader name is not NUL-terminated"));

    char long_line[BOOTINFO_CMDLINE_MAX + 100];
    memset(long_line, 'c', sizeof(long_line) - 1);
    long_line[sizeof(long_line) - 1] = '\0';
    blob_begin();
    blob_mmap(two_regions, 2);
    blob_string_tag(TAG_CMDLINE, long_line);
    blob_finish();
    CHECK_EQ_INT(parse_mb2(), BOOTINFO_OK);
    CHECK_EQ_STR(diags.text, "command line truncated to 511 bytes\n");
    CHECK_EQ_U64(strlen(info.cmdline), BOOTINFO_CMDLINE_MAX - 1);
}

static void test_mb2_modules_checked(void)
{
    blob_begin();
    blob_mmap(two_regions, 2);
    blob_module(0x5000, 0x4fff, "backwards");
    blob_finish();
    CHECK_EQ_INT(parse_mb2(), BOOTINFO_ERR_BAD_TAG);
    CHECK_EQ_STR(diags.text, "module ends (0x4fff) before it starts (0x5000)\n"
                             "tag type 3 at offset 72 is malformed\n");

    blob_begin();
    blob_mmap(two_regions, 2);
    blob_tag(TAG_MODULE, 16); /* no room for even an empty name */
    blob_finish();
    CHECK_EQ_INT(parse_mb2(), BOOTINFO_ERR_BAD_TAG);

    char long_name[100];
    memset(long_name, 'n', 99);
    long_name[99] = '\0';
    blob_begin();
    blob_mmap(two_regions, 2);
    for (int i = 0; i < BOOTINFO_MAX_MODULES + 2; i++)
        blob_module(0x1000u * (uint32_t)i, 0x1000u * (uint32_t)i + 1, i == 0 ? long_name : "m");
    blob_finish();
    CHECK_EQ_INT(parse_mb2(), BOOTINFO_OK);
    CHECK_EQ_U64(info.module_count, BOOTINFO_MAX_MODULES);
    CHECK_EQ_U64(strlen(info.modules[0].name), BOOTINFO_MODULE_NAME_MAX - 1);
    CHECK_EQ_STR(diags.text, "module name truncated to 63 bytes\n"
                             "more than 16 modules; the rest ignored\n"
                             "more than 16 modules; the rest ignored\n");
}

static void test_error_names(void)
{
    CHECK_EQ_STR(bootinfo_strerror(BOOTINFO_OK), "ok");
    CHECK_EQ_STR(bootinfo_strerror(BOOTINFO_ERR_TRUNCATED), "truncated or out-of-bounds data");
    CHECK_EQ_STR(bootinfo_strerror(BOOTINFO_ERR_BAD_TAG), "malformed tag");
    CHECK_EQ_STR(bootinfo_strerror(-99), "unknown error");
}

/* What must hold after any parse, whatever the input and the result. */
static void check_invariants(const struct boot_info *b)
{
    CHECK(b->mmap_count <= BOOTINFO_MAX_MMAP);
    CHECK(b->module_count <= BOOTINFO_MAX_MODULES);
    CHECK(memchr(b->cmdline, 0, sizeof(b->cmdline)) != NULL);
    CHECK(memchr(b->loader_name, 0, sizeof(b->loader_name)) != NULL);
    for (size_t i = 0; i < b->module_count; i++)
        CHECK(memchr(b->modules[i].name, 0, sizeof(b->modules[i].name)) != NULL);
    CHECK(b->rsdp_len == 0 || b->rsdp_len == 20 || b->rsdp_len == 36);
}

static void test_mb2_mutations_never_crash(void)
{
    struct blob original;
    build_full_blob();
    original = blob;
    int ok = 0;
    for (int round = 0; round < 20000; round++) {
        blob = original;
        int flips = 1 + (int)(rng() % 8);
        for (int i = 0; i < flips; i++) {
            size_t at = rng() % original.len;
            if (rng() % 4 == 0) /* hit the size fields and low bytes harder */
                at &= ~(size_t)3;
            blob.bytes[at] = (uint8_t)rng();
        }
        size_t avail = rng() % 4 ? original.len : rng() % (original.len + 1);
        int result = parse_mb2_avail(MAGIC, avail, &info);
        CHECK(result <= 0 && result >= BOOTINFO_ERR_NO_MEMORY_MAP);
        ok += result == BOOTINFO_OK;
        check_invariants(&info);
        if (check_failures_in_test)
            return;
    }
    CHECK(ok > 0); /* some mutations stay valid (e.g. in string bodies) */
}

/* ---- PVH ------------------------------------------------------------------ */

/* Fake physical memory for the phys-reader callback; its size is the test's bound. */
struct phys_memory {
    uint8_t *bytes;
    size_t size;
    int reads;
};

static const void *read_fake_phys(void *ctx, uint64_t phys, size_t len)
{
    struct phys_memory *mem = ctx;
    mem->reads++;
    if (phys > mem->size || len > mem->size - phys)
        return NULL;
    return mem->bytes + phys;
}

#define PVH_MEM_SIZE 0x5000
#define PVH_CMDLINE 0x1000
#define PVH_MEMMAP 0x2000
#define PVH_MODLIST 0x3000
#define PVH_RSDP 0x4000

static _Alignas(8) uint8_t start_info[64];
static _Alignas(8) uint8_t pvh_image[PVH_MEM_SIZE];

/* A version 1 start info with a command line, 3 regions, 2 modules and an RSDP. */
static void build_pvh(void)
{
    memset(start_info, 0, sizeof(start_info));
    memset(pvh_image, 0, sizeof(pvh_image));
    put_u32(start_info, PVH_START_MAGIC);
    put_u32(start_info + 4, 1);
    put_u32(start_info + 12, 2);
    put_u64(start_info + 16, PVH_MODLIST);
    put_u64(start_info + 24, PVH_CMDLINE);
    put_u64(start_info + 32, PVH_RSDP);
    put_u64(start_info + 40, PVH_MEMMAP);
    put_u32(start_info + 48, 3);
    strcpy((char *)pvh_image + PVH_CMDLINE, "mode=bench smp=2");
    const struct region regions[] = {
        {0, 0x9fc00, 1}, {0x100000, 0x1fee0000, 1}, {0xfeffc000, 0x4000, 2}};
    for (int i = 0; i < 3; i++) {
        uint8_t *e = pvh_image + PVH_MEMMAP + 24 * i;
        put_u64(e, regions[i].base);
        put_u64(e + 8, regions[i].length);
        put_u32(e + 16, regions[i].type);
    }
    put_u64(pvh_image + PVH_MODLIST, 0x800000);
    put_u64(pvh_image + PVH_MODLIST + 8, 0x2000);
    put_u64(pvh_image + PVH_MODLIST + 32, 0x900000);
    put_u64(pvh_image + PVH_MODLIST + 40, 0);
    fill_rsdp(pvh_image + PVH_RSDP, 2);
}

/* Parses from exactly-sized heap copies of the start info and the fake memory. */
static int parse_pvh_sized(size_t avail, size_t mem_size)
{
    memset(&diags, 0, sizeof(diags));
    uint8_t *si = malloc(avail ? avail : 1);
    memcpy(si, start_info, avail < sizeof(start_info) ? avail : sizeof(start_info));
    struct phys_memory mem = {malloc(mem_size ? mem_size : 1), mem_size, 0};
    memcpy(mem.bytes, pvh_image, mem_size < PVH_MEM_SIZE ? mem_size : PVH_MEM_SIZE);
    int result = bootinfo_parse_pvh(si, avail, 0x7000, read_fake_phys, &mem, &info,
                                    collect_diag, &diags);
    free(mem.bytes);
    free(si);
    return result;
}

static int parse_pvh(void)
{
    return parse_pvh_sized(56, PVH_MEM_SIZE);
}

static void test_pvh_full_start_info_parsed(void)
{
    build_pvh();
    CHECK_EQ_INT(parse_pvh(), BOOTINFO_OK);
    CHECK_EQ_INT(diags.count, 0);
    CHECK_EQ_INT(info.protocol, BOOT_PROTOCOL_PVH);
    CHECK_EQ_STR(info.cmdline, "mode=bench smp=2");
    CHECK_EQ_STR(info.loader_name, "");
    CHECK_EQ_U64(info.info_phys, 0x7000);
    CHECK_EQ_U64(info.info_size_bytes, 56);
    CHECK_EQ_U64(info.mmap_count, 3);
    CHECK_EQ_U64(info.mmap[1].base_phys, 0x100000);
    CHECK_EQ_U64(info.mmap[1].length_bytes, 0x1fee0000);
    CHECK_EQ_INT(info.mmap[2].type, MMAP_RESERVED);
    CHECK_EQ_U64(info.module_count, 2);
    CHECK_EQ_U64(info.modules[0].start_phys, 0x800000);
    CHECK_EQ_U64(info.modules[0].end_phys, 0x802000);
    CHECK_EQ_U64(info.modules[1].start_phys, 0x900000);
    CHECK_EQ_U64(info.modules[1].end_phys, 0x900000);
    CHECK_EQ_STR(info.modules[0].name, "");
    CHECK_EQ_U64(info.rsdp_len, 36);
    CHECK_EQ_U64(info.rsdp_phys, PVH_RSDP);
    CHECK(memcmp(info.rsdp, pvh_image + PVH_RSDP, 36) == 0);
}

static void test_pvh_header_checked(void)
{
    build_pvh();
    for (size_t avail = 0; avail < 40; avail += 8)
        CHECK_EQ_INT(parse_pvh_sized(avail, PVH_MEM_SIZE), BOOTINFO_ERR_TRUNCATED);
    for (size_t avail = 40; avail < 56; avail++) /* a v1 header needs 56 bytes */
        CHECK_EQ_INT(parse_pvh_sized(avail, PVH_MEM_SIZE), BOOTINFO_ERR_TRUNCATED);

    put_u32(start_info, 0x336ec579);
    CHECK_EQ_INT(parse_pvh(), BOOTINFO_ERR_BAD_MAGIC);
    CHECK_EQ_STR(diags.text, "bad start info magic 0x336ec579\n");

    build_pvh();
    put_u32(start_info + 4, 0);
    CHECK_EQ_INT(parse_pvh_sized(40, PVH_MEM_SIZE), BOOTINFO_ERR_NO_MEMORY_MAP);
    CHECK_EQ_STR(diags.text, "start info version 0 has no memory map\n");

    build_pvh();
    put_u32(start_info + 4, 7); /* a newer version parses as v1 */
    CHECK_EQ_INT(parse_pvh(), BOOTINFO_OK);
}

static void test_pvh_cmdline_cases(void)
{
    build_pvh();
    put_u64(start_info + 24, 0);
    CHECK_EQ_INT(parse_pvh(), BOOTINFO_OK);
    CHECK_EQ_STR(info.cmdline, "");

    build_pvh();
    put_u64(start_info + 24, 0x100000);
    CHECK_EQ_INT(parse_pvh(), BOOTINFO_ERR_TRUNCATED);
    CHECK_EQ_STR(diags.text, "command line at 0x100000 is unreadable\n");

    /* Near the end of readable memory: the parser halves its read until it fits
     * (so the string must end within the largest power of two that is readable). */
    build_pvh();
    put_u64(start_info + 24, PVH_MEM_SIZE - 40);
    memcpy(pvh_image + PVH_MEM_SIZE - 40, "end=1", 6);
    CHECK_EQ_INT(parse_pvh(), BOOTINFO_OK);
    CHECK_EQ_STR(info.cmdline, "end=1");

    memset(pvh_image + PVH_MEM_SIZE - 40, 'u', 40);
    CHECK_EQ_INT(parse_pvh(), BOOTINFO_ERR_TRUNCATED);
    char expected[64];
    snprintf(expected, sizeof(expected), "command line at 0x%x is not terminated\n",
             PVH_MEM_SIZE - 40);
    CHECK_EQ_STR(diags.text, expected);

    build_pvh();
    memset(pvh_image + PVH_CMDLINE, 'L', 700);
    CHECK_EQ_INT(parse_pvh(), BOOTINFO_OK);
    CHECK_EQ_STR(diags.text, "command line truncated to 511 bytes\n");
    CHECK_EQ_U64(strlen(info.cmdline), 511);
}

static void test_pvh_memmap_cases(void)
{
    build_pvh();
    put_u32(start_info + 48, 0);
    CHECK_EQ_INT(parse_pvh(), BOOTINFO_ERR_NO_MEMORY_MAP);
    CHECK_EQ_STR(diags.text, "no memory map in the PVH start info\n");

    build_pvh();
    put_u64(start_info + 40, 0);
    CHECK_EQ_INT(parse_pvh(), BOOTINFO_ERR_NO_MEMORY_MAP);

    build_pvh();
    put_u32(start_info + 48, 4097);
    CHECK_EQ_INT(parse_pvh(), BOOTINFO_ERR_BAD_TAG);
    CHECK_EQ_STR(diags.text, "memory map claims 4097 entries\n");

    build_pvh();
    put_u32(start_info + 48, 600); /* runs past the fake memory */
    CHECK_EQ_INT(parse_pvh(), BOOTINFO_ERR_TRUNCATED);
    CHECK_EQ_STR(diags.text, "memory map at 0x2000 is unreadable\n");

    build_pvh(); /* 150 entries of which 130 are non-empty: capped at 128 */
    put_u32(start_info + 48, 150);
    for (int i = 0; i < 150; i++) {
        uint8_t *e = pvh_image + PVH_MEMMAP + 24 * i;
        put_u64(e, 0x1000ull * (uint64_t)i);
        put_u64(e + 8, i < 20 ? 0 : 0x1000);
        put_u32(e + 16, 1);
    }
    CHECK_EQ_INT(parse_pvh(), BOOTINFO_OK);
    CHECK_EQ_U64(info.mmap_count, BOOTINFO_MAX_MMAP);
    CHECK(info.mmap_truncated);
    CHECK_EQ_U64(info.mmap[0].base_phys, 0x14000);
}

static void test_pvh_module_cases(void)
{
    build_pvh();
    put_u64(start_info + 16, 0x9000000);
    CHECK_EQ_INT(parse_pvh(), BOOTINFO_OK); /* modules are optional */
    CHECK_EQ_U64(info.module_count, 0);
    CHECK_EQ_STR(diags.text, "module list at 0x9000000 is unreadable\n");

    build_pvh();
    put_u64(pvh_image + PVH_MODLIST + 32, 0xfffffffffffff000ull);
    put_u64(pvh_image + PVH_MODLIST + 40, 0x2000);
    CHECK_EQ_INT(parse_pvh(), BOOTINFO_OK);
    CHECK_EQ_U64(info.module_count, 1);
    CHECK_EQ_STR(diags.text, "module 1 wraps around the address space\n");

    build_pvh();
    put_u32(start_info + 12, 40);
    CHECK_EQ_INT(parse_pvh(), BOOTINFO_OK);
    CHECK_EQ_U64(info.module_count, BOOTINFO_MAX_MODULES);
    CHECK_EQ_STR(diags.text, "40 modules; only 16 kept\n");

    build_pvh();
    put_u32(start_info + 12, 0xffffffff);
    put_u64(start_info + 16, 0);
    CHECK_EQ_INT(parse_pvh(), BOOTINFO_OK);
    CHECK(info.module_count <= BOOTINFO_MAX_MODULES);
}

static void test_pvh_rsdp_cases(void)
{
    build_pvh();
    put_u64(start_info + 32, 0);
    CHECK_EQ_INT(parse_pvh(), BOOTINFO_OK);
    CHECK_EQ_U64(info.rsdp_len, 0);
    CHECK_EQ_U64(info.rsdp_phys, 0);

    build_pvh();
    put_u64(start_info + 32, PVH_MEM_SIZE - 20); /* only 20 readable bytes */
    CHECK_EQ_INT(parse_pvh(), BOOTINFO_OK);
    CHECK_EQ_U64(info.rsdp_len, 0);
    CHECK_EQ_STR(diags.text, "RSDP at 0x4fec is unreadable\n");

    build_pvh();
    fill_rsdp(pvh_image + PVH_RSDP, 0);
    CHECK_EQ_INT(parse_pvh(), BOOTINFO_OK);
    CHECK_EQ_U64(info.rsdp_len, 20);
    CHECK_EQ_U64(info.rsdp_phys, PVH_RSDP);
}

static void test_pvh_mutations_never_crash(void)
{
    uint8_t info_copy[64], image_copy[PVH_MEM_SIZE];
    build_pvh();
    memcpy(info_copy, start_info, sizeof(info_copy));
    memcpy(image_copy, pvh_image, sizeof(image_copy));
    for (int round = 0; round < 5000; round++) {
        memcpy(start_info, info_copy, sizeof(info_copy));
        memcpy(pvh_image, image_copy, sizeof(image_copy));
        int flips = 1 + (int)(rng() % 6);
        for (int i = 0; i < flips; i++) {
            if (rng() % 2)
                start_info[rng() % 56] = (uint8_t)rng();
            else
                pvh_image[0x1000 * (1 + rng() % 4) + rng() % 128] = (uint8_t)rng();
        }
        if (rng() % 3 == 0) /* small addresses and counts, so they often land inside */
            put_u64(start_info + 8 * (2 + rng() % 4), rng() % (PVH_MEM_SIZE + 64));
        size_t avail = rng() % 4 ? 56 : rng() % 64;
        int result = parse_pvh_sized(avail, PVH_MEM_SIZE);
        CHECK(result <= 0 && result >= BOOTINFO_ERR_NO_MEMORY_MAP);
        check_invariants(&info);
        if (check_failures_in_test)
            return;
    }
}

int main(void)
{
    check_program = "test_bootinfo";
    RUN(test_mb2_full_info_parsed);
    RUN(test_mb2_minimal_info_has_defaults);
    RUN(test_mb2_acpi_old_and_new_order);
    RUN(test_mb2_framebuffer_kinds);
    RUN(test_mb2_unknown_and_odd_sized_tags_skipped);
    RUN(test_mb2_tags_after_end_ignored);
    RUN(test_mb2_bad_magic_rejected);
    RUN(test_mb2_misaligned_info_rejected);
    RUN(test_mb2_total_size_checked);
    RUN(test_mb2_tag_past_total_size_rejected);
    RUN(test_mb2_zero_and_short_tag_sizes_rejected);
    RUN(test_mb2_missing_end_tag_rejected);
    RUN(test_mb2_missing_memory_map_rejected);
    RUN(test_mb2_bad_mmap_entry_sizes_rejected);
    RUN(test_mb2_huge_mmap_entry_size_does_not_wrap);
    RUN(test_mb2_partial_mmap_entry_ignored);
    RUN(test_mb2_mmap_overflow_and_empty_regions);
    RUN(test_mb2_strings_checked);
    RUN(test_mb2_modules_checked);
    RUN(test_error_names);
    RUN(test_mb2_mutations_never_crash);
    RUN(test_pvh_full_start_info_parsed);
    RUN(test_pvh_header_checked);
    RUN(test_pvh_cmdline_cases);
    RUN(test_pvh_memmap_cases);
    RUN(test_pvh_module_cases);
    RUN(test_pvh_rsdp_cases);
    RUN(test_pvh_mutations_never_crash);
    return check_summary();
}
