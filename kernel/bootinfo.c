/*
 * Multiboot2 and PVH boot-info parsers. Every field is read through a bounds-checked
 * helper against the size the loader declared, so a lying size cannot make us read
 * past the info; the result is copied into struct boot_info.
 */
#include "kernel/bootinfo.h"

#include <stdarg.h>

#include "lib/printf.h"
#include "lib/string.h"

#define DIAG_MAX 160

/* Multiboot2 tag types (Multiboot2 specification, section 3.6). */
enum {
    MB2_TAG_END = 0,
    MB2_TAG_CMDLINE = 1,
    MB2_TAG_LOADER_NAME = 2,
    MB2_TAG_MODULE = 3,
    MB2_TAG_BASIC_MEMINFO = 4,
    MB2_TAG_BOOTDEV = 5,
    MB2_TAG_MMAP = 6,
    MB2_TAG_FRAMEBUFFER = 8,
    MB2_TAG_ACPI_OLD = 14,
    MB2_TAG_ACPI_NEW = 15,
};
#define MB2_TAG_HEADER 8
#define MB2_MMAP_HEADER 16  /* tag header + entry_size + entry_version */
#define MB2_MMAP_ENTRY_MIN 24
#define MB2_FB_COMMON 31    /* bytes up to and including framebuffer_type + reserved */
#define MB2_FB_RGB_FIELDS 6
#define RSDP_V1_BYTES 20
#define RSDP_REVISION_OFFSET 15

struct reader {
    const uint8_t *base;
    size_t size;
};

static uint32_t read_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static uint64_t read_u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static void diag_printf(bootinfo_diag_fn diag, void *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void diag_printf(bootinfo_diag_fn diag, void *ctx, const char *fmt, ...)
{
    char message[DIAG_MAX];
    va_list args;
    if (!diag)
        return;
    va_start(args, fmt);
    kvsnprintf(message, sizeof(message), fmt, args);
    va_end(args);
    diag(ctx, message);
}

/* Copies a string that must end with a NUL inside [s, s + max). */
static bool copy_string(char *dst, size_t dst_size, const uint8_t *s, size_t max,
                        bootinfo_diag_fn diag, void *ctx, const char *what)
{
    size_t len = strnlen((const char *)s, max);
    if (len == max) {
        diag_printf(diag, ctx, "%s is not NUL-terminated inside its tag", what);
        return false;
    }
    if (len >= dst_size)
        diag_printf(diag, ctx, "%s truncated to %zu bytes", what, dst_size - 1);
    strlcpy(dst, (const char *)s, dst_size);
    return true;
}

static void add_mmap_entry(struct boot_info *out, uint64_t base, uint64_t length,
                           uint32_t type, bootinfo_diag_fn diag, void *ctx)
{
    if (length == 0)
        return;
    if (out->mmap_count == BOOTINFO_MAX_MMAP) {
        if (!out->mmap_truncated)
            diag_printf(diag, ctx, "memory map has more than %d regions; the rest ignored",
                        BOOTINFO_MAX_MMAP);
        out->mmap_truncated = true;
        return;
    }
    out->mmap[out->mmap_count++] = (struct mmap_entry){base, length, type};
}

static int mb2_mmap(const uint8_t *tag, uint32_t size, struct boot_info *out,
                    bootinfo_diag_fn diag, void *ctx)
{
    if (size < MB2_MMAP_HEADER)
        return BOOTINFO_ERR_BAD_TAG;
    uint32_t entry_size = read_u32(tag + 8);
    if (entry_size < MB2_MMAP_ENTRY_MIN || entry_size % 8 != 0) {
        diag_printf(diag, ctx, "memory map entry size %u is invalid", entry_size);
        return BOOTINFO_ERR_BAD_TAG;
    }
    /* Written as size - off so a huge entry_size cannot wrap the sum past 2^32. */
    for (uint32_t off = MB2_MMAP_HEADER; entry_size <= size - off; off += entry_size) {
        const uint8_t *e = tag + off;
        add_mmap_entry(out, read_u64(e), read_u64(e + 8), read_u32(e + 16), diag, ctx);
    }
    return BOOTINFO_OK;
}

static int mb2_module(const uint8_t *tag, uint32_t size, struct boot_info *out,
                      bootinfo_diag_fn diag, void *ctx)
{
    if (size < 17)
        return BOOTINFO_ERR_BAD_TAG;
    uint32_t start = read_u32(tag + 8), end = read_u32(tag + 12);
    if (end < start) {
        diag_printf(diag, ctx, "module ends (0x%x) before it starts (0x%x)", end, start);
        return BOOTINFO_ERR_BAD_TAG;
    }
    if (out->module_count == BOOTINFO_MAX_MODULES) {
        diag_printf(diag, ctx, "more than %d modules; the rest ignored", BOOTINFO_MAX_MODULES);
        return BOOTINFO_OK;
    }
    struct boot_module *m = &out->modules[out->module_count];
    if (!copy_string(m->name, sizeof(m->name), tag + 16, size - 16, diag, ctx, "module name"))
        return BOOTINFO_ERR_BAD_TAG;
    m->start_phys = start;
    m->end_phys = end;
    out->module_count++;
    return BOOTINFO_OK;
}

static int mb2_framebuffer(const uint8_t *tag, uint32_t size, struct boot_info *out)
{
    if (size < MB2_FB_COMMON)
        return BOOTINFO_ERR_BAD_TAG;
    struct boot_framebuffer *fb = &out->framebuffer;
    uint8_t type = tag[29];
    fb->addr_phys = read_u64(tag + 8);
    fb->pitch_bytes = read_u32(tag + 16);
    fb->width = read_u32(tag + 20);
    fb->height = read_u32(tag + 24);
    fb->bpp = tag[28];
    if (type == 1) {
        if (size < MB2_FB_COMMON + 1 + MB2_FB_RGB_FIELDS)
            return BOOTINFO_ERR_BAD_TAG;
        const uint8_t *c = tag + 32; /* after the u16 reserved field */
        fb->kind = FB_KIND_RGB;
        fb->red_shift = c[0];
        fb->red_bits = c[1];
        fb->green_shift = c[2];
        fb->green_bits = c[3];
        fb->blue_shift = c[4];
        fb->blue_bits = c[5];
    } else if (type == 2) {
        fb->kind = FB_KIND_EGA_TEXT;
    } else {
        fb->kind = FB_KIND_INDEXED;
    }
    return BOOTINFO_OK;
}

static void copy_rsdp(struct boot_info *out, const uint8_t *rsdp, size_t avail)
{
    size_t len = RSDP_V1_BYTES;
    if (avail >= BOOTINFO_RSDP_MAX && rsdp[RSDP_REVISION_OFFSET] >= 2)
        len = BOOTINFO_RSDP_MAX;
    memcpy(out->rsdp, rsdp, len);
    out->rsdp_len = len;
}

/* Handles one tag whose header has been checked to lie inside the info. */
static int mb2_tag(const uint8_t *tag, uint32_t type, uint32_t size, struct boot_info *out,
                   bool *have_new_rsdp, bootinfo_diag_fn diag, void *ctx)
{
    const uint8_t *body = tag + MB2_TAG_HEADER;
    size_t body_size = size - MB2_TAG_HEADER;
    switch (type) {
    case MB2_TAG_CMDLINE:
        return copy_string(out->cmdline, sizeof(out->cmdline), body, body_size, diag, ctx,
                           "command line")
                   ? BOOTINFO_OK
                   : BOOTINFO_ERR_BAD_TAG;
    case MB2_TAG_LOADER_NAME:
        return copy_string(out->loader_name, sizeof(out->loader_name), body, body_size, diag,
                           ctx, "boot loader name")
                   ? BOOTINFO_OK
                   : BOOTINFO_ERR_BAD_TAG;
    case MB2_TAG_MODULE:
        return mb2_module(tag, size, out, diag, ctx);
    case MB2_TAG_MMAP:
        return mb2_mmap(tag, size, out, diag, ctx);
    case MB2_TAG_FRAMEBUFFER:
        return mb2_framebuffer(tag, size, out);
    case MB2_TAG_ACPI_OLD:
        if (body_size < RSDP_V1_BYTES)
            return BOOTINFO_ERR_BAD_TAG;
        if (!*have_new_rsdp)
            copy_rsdp(out, body, RSDP_V1_BYTES);
        return BOOTINFO_OK;
    case MB2_TAG_ACPI_NEW:
        if (body_size < RSDP_V1_BYTES)
            return BOOTINFO_ERR_BAD_TAG;
        copy_rsdp(out, body, body_size);
        *have_new_rsdp = true;
        return BOOTINFO_OK;
    case MB2_TAG_BASIC_MEMINFO:
    case MB2_TAG_BOOTDEV:
        return BOOTINFO_OK;
    default:
        return BOOTINFO_OK; /* unknown or unused: skipped by design */
    }
}

int bootinfo_parse_multiboot2(uint32_t magic, const void *info, size_t avail,
                              uint64_t info_phys, struct boot_info *out,
                              bootinfo_diag_fn diag, void *diag_ctx)
{
    const uint8_t *base = info;
    memset(out, 0, sizeof(*out));
    out->protocol = BOOT_PROTOCOL_MULTIBOOT2;
    if (magic != MULTIBOOT2_BOOTLOADER_MAGIC) {
        diag_printf(diag, diag_ctx, "bad loader magic 0x%x", magic);
        return BOOTINFO_ERR_BAD_MAGIC;
    }
    if ((uintptr_t)info % 8 != 0) {
        diag_printf(diag, diag_ctx, "info at 0x%lx is not 8-byte aligned", (unsigned long)info_phys);
        return BOOTINFO_ERR_MISALIGNED;
    }
    if (avail < 8)
        return BOOTINFO_ERR_TRUNCATED;
    uint32_t total = read_u32(base);
    if (total < 16 || total > avail || total % 8 != 0) {
        diag_printf(diag, diag_ctx, "total_size %u is invalid (available %zu)", total, avail);
        return BOOTINFO_ERR_TRUNCATED;
    }
    out->info_phys = info_phys;
    out->info_size_bytes = total;

    bool have_mmap = false, have_new_rsdp = false;
    for (uint32_t off = 8; off + MB2_TAG_HEADER <= total;) {
        uint32_t type = read_u32(base + off), size = read_u32(base + off + 4);
        if (size < MB2_TAG_HEADER || size > total - off) {
            diag_printf(diag, diag_ctx, "tag type %u at offset %u has size %u, outside the info",
                        type, off, size);
            return BOOTINFO_ERR_TRUNCATED;
        }
        if (type == MB2_TAG_END)
            return have_mmap ? BOOTINFO_OK : BOOTINFO_ERR_NO_MEMORY_MAP;
        int error = mb2_tag(base + off, type, size, out, &have_new_rsdp, diag, diag_ctx);
        if (error != BOOTINFO_OK) {
            diag_printf(diag, diag_ctx, "tag type %u at offset %u is malformed", type, off);
            return error;
        }
        have_mmap |= type == MB2_TAG_MMAP;
        off += (size + 7) & ~7u; /* the next tag starts 8-byte aligned */
    }
    diag_printf(diag, diag_ctx, "no end tag within total_size %u", total);
    return BOOTINFO_ERR_NO_END_TAG;
}

/* struct hvm_start_info (Xen's public header hvm/start_info.h), by offset. */
#define PVH_OFF_VERSION 4
#define PVH_OFF_NR_MODULES 12
#define PVH_OFF_MODLIST 16
#define PVH_OFF_CMDLINE 24
#define PVH_OFF_RSDP 32
#define PVH_OFF_MEMMAP 40
#define PVH_OFF_MEMMAP_ENTRIES 48
#define PVH_SIZE_V0 40
#define PVH_SIZE_V1 56
#define PVH_MEMMAP_ENTRY 24
#define PVH_MODLIST_ENTRY 32

static int pvh_cmdline(uint64_t phys, bootinfo_phys_reader_fn read_phys, void *read_ctx,
                       struct boot_info *out, bootinfo_diag_fn diag, void *ctx)
{
    if (phys == 0)
        return BOOTINFO_OK;
    /* Read the largest readable prefix up to the buffer size, shrinking on refusal
     * so a command line near the end of readable memory still works. */
    size_t len = BOOTINFO_CMDLINE_MAX;
    const uint8_t *s = NULL;
    while (len > 0 && !(s = read_phys(read_ctx, phys, len)))
        len /= 2;
    if (!s) {
        diag_printf(diag, ctx, "command line at 0x%lx is unreadable", (unsigned long)phys);
        return BOOTINFO_ERR_TRUNCATED;
    }
    size_t n = strnlen((const char *)s, len);
    if (n == len && len < BOOTINFO_CMDLINE_MAX) {
        diag_printf(diag, ctx, "command line at 0x%lx is not terminated", (unsigned long)phys);
        return BOOTINFO_ERR_TRUNCATED;
    }
    if (n == len)
        diag_printf(diag, ctx, "command line truncated to %d bytes", BOOTINFO_CMDLINE_MAX - 1);
    n = n < sizeof(out->cmdline) - 1 ? n : sizeof(out->cmdline) - 1;
    memcpy(out->cmdline, s, n);
    out->cmdline[n] = '\0';
    return BOOTINFO_OK;
}

static int pvh_memmap(uint64_t phys, uint32_t entries, bootinfo_phys_reader_fn read_phys,
                      void *read_ctx, struct boot_info *out, bootinfo_diag_fn diag, void *ctx)
{
    if (entries == 0 || phys == 0) {
        diag_printf(diag, ctx, "no memory map in the PVH start info");
        return BOOTINFO_ERR_NO_MEMORY_MAP;
    }
    if (entries > 4096) {
        diag_printf(diag, ctx, "memory map claims %u entries", entries);
        return BOOTINFO_ERR_BAD_TAG;
    }
    const uint8_t *map = read_phys(read_ctx, phys, (size_t)entries * PVH_MEMMAP_ENTRY);
    if (!map) {
        diag_printf(diag, ctx, "memory map at 0x%lx is unreadable", (unsigned long)phys);
        return BOOTINFO_ERR_TRUNCATED;
    }
    for (uint32_t i = 0; i < entries; i++) {
        const uint8_t *e = map + (size_t)i * PVH_MEMMAP_ENTRY;
        add_mmap_entry(out, read_u64(e), read_u64(e + 8), read_u32(e + 16), diag, ctx);
    }
    return BOOTINFO_OK;
}

static void pvh_modules(uint64_t phys, uint32_t count, bootinfo_phys_reader_fn read_phys,
                        void *read_ctx, struct boot_info *out, bootinfo_diag_fn diag, void *ctx)
{
    if (count == 0)
        return;
    if (count > BOOTINFO_MAX_MODULES) {
        diag_printf(diag, ctx, "%u modules; only %d kept", count, BOOTINFO_MAX_MODULES);
        count = BOOTINFO_MAX_MODULES;
    }
    const uint8_t *list = read_phys(read_ctx, phys, (size_t)count * PVH_MODLIST_ENTRY);
    if (!list) {
        diag_printf(diag, ctx, "module list at 0x%lx is unreadable", (unsigned long)phys);
        return;
    }
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *e = list + (size_t)i * PVH_MODLIST_ENTRY;
        uint64_t start = read_u64(e), size = read_u64(e + 8);
        if (start + size < start) {
            diag_printf(diag, ctx, "module %u wraps around the address space", i);
            continue;
        }
        struct boot_module *m = &out->modules[out->module_count++];
        m->start_phys = start;
        m->end_phys = start + size;
        m->name[0] = '\0';
    }
}

int bootinfo_parse_pvh(const void *start_info, size_t avail, uint64_t info_phys,
                       bootinfo_phys_reader_fn read_phys, void *read_ctx,
                       struct boot_info *out, bootinfo_diag_fn diag, void *diag_ctx)
{
    const uint8_t *si = start_info;
    memset(out, 0, sizeof(*out));
    out->protocol = BOOT_PROTOCOL_PVH;
    if (avail < PVH_SIZE_V0)
        return BOOTINFO_ERR_TRUNCATED;
    if (read_u32(si) != PVH_START_MAGIC) {
        diag_printf(diag, diag_ctx, "bad start info magic 0x%x", read_u32(si));
        return BOOTINFO_ERR_BAD_MAGIC;
    }
    uint32_t version = read_u32(si + PVH_OFF_VERSION);
    if (version < 1) {
        diag_printf(diag, diag_ctx, "start info version 0 has no memory map");
        return BOOTINFO_ERR_NO_MEMORY_MAP;
    }
    if (avail < PVH_SIZE_V1)
        return BOOTINFO_ERR_TRUNCATED;
    out->info_phys = info_phys;
    out->info_size_bytes = PVH_SIZE_V1;

    int error = pvh_cmdline(read_u64(si + PVH_OFF_CMDLINE), read_phys, read_ctx, out, diag,
                            diag_ctx);
    if (error == BOOTINFO_OK)
        error = pvh_memmap(read_u64(si + PVH_OFF_MEMMAP), read_u32(si + PVH_OFF_MEMMAP_ENTRIES),
                           read_phys, read_ctx, out, diag, diag_ctx);
    if (error != BOOTINFO_OK)
        return error;
    pvh_modules(read_u64(si + PVH_OFF_MODLIST), read_u32(si + PVH_OFF_NR_MODULES), read_phys,
                read_ctx, out, diag, diag_ctx);

    uint64_t rsdp_phys = read_u64(si + PVH_OFF_RSDP);
    if (rsdp_phys) {
        const uint8_t *rsdp = read_phys(read_ctx, rsdp_phys, BOOTINFO_RSDP_MAX);
        if (rsdp) {
            copy_rsdp(out, rsdp, BOOTINFO_RSDP_MAX);
            out->rsdp_phys = rsdp_phys;
        } else {
            diag_printf(diag, diag_ctx, "RSDP at 0x%lx is unreadable", (unsigned long)rsdp_phys);
        }
    }
    return BOOTINFO_OK;
}

const char *bootinfo_strerror(int error)
{
    switch (error) {
    case BOOTINFO_OK:
        return "ok";
    case BOOTINFO_ERR_BAD_MAGIC:
        return "bad magic number";
    case BOOTINFO_ERR_TRUNCATED:
        return "truncated or out-of-bounds data";
    case BOOTINFO_ERR_MISALIGNED:
        return "misaligned structure";
    case BOOTINFO_ERR_BAD_TAG:
        return "malformed tag";
    case BOOTINFO_ERR_NO_END_TAG:
        return "no end tag";
    case BOOTINFO_ERR_NO_MEMORY_MAP:
        return "no memory map";
    default:
        return "unknown error";
    }
}
