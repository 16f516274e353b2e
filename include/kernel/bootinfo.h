/*
 * bootinfo: what the loader told us, in one structure, whichever entry ran.
 *
 * Two entries reach kernel_main: Multiboot2 (GRUB, from the ISO) and PVH (QEMU's
 * -kernel direct boot). Each has its own parser here; both fill a struct boot_info
 * by value, copying every string and table into it, so that nothing after
 * bootinfo_parse_* knows which entry ran or points into loader memory.
 *
 * The parsers trust nothing: every read is bounded by the size the loader declared
 * (and by the caller's `avail` bound), tags must be 8-byte aligned and lie wholly
 * inside the info, unknown tags are skipped, and anything malformed is rejected with
 * a message through the diag callback. They are pure functions of their input (no
 * kernel state), which is how the host tests and the fuzzer run them.
 *
 * Memory the parsers read is given as a host pointer plus a translation callback for
 * the physical addresses found inside PVH's structure (PVH stores pointers, Multiboot2
 * stores everything inline).
 *
 * Interrupt context: not used from it (boot only), though as pure functions
 * they would be safe.
 */
#ifndef EXO_KERNEL_BOOTINFO_H
#define EXO_KERNEL_BOOTINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BOOTINFO_MAX_MMAP 128
#define BOOTINFO_MAX_MODULES 16
#define BOOTINFO_CMDLINE_MAX 512
#define BOOTINFO_MODULE_NAME_MAX 64
#define BOOTINFO_LOADER_NAME_MAX 64
#define BOOTINFO_RSDP_MAX 36 /* ACPI 2.0+ RSDP size; ACPI 1.0 uses the first 20 bytes */

/* Which entry ran: recorded for the log only, never branched on after parsing. */
enum boot_protocol {
    BOOT_PROTOCOL_MULTIBOOT2 = 1,
    BOOT_PROTOCOL_PVH = 2,
};

/* Memory region types, numbered as in the E820 / Multiboot2 / PVH memory maps. */
enum mmap_type {
    MMAP_USABLE = 1,
    MMAP_RESERVED = 2,
    MMAP_ACPI_RECLAIMABLE = 3,
    MMAP_ACPI_NVS = 4,
    MMAP_BAD = 5,
};

struct mmap_entry {
    uint64_t base_phys;
    uint64_t length_bytes;
    uint32_t type; /* enum mmap_type; other values are kept and treated as reserved */
};

struct boot_module {
    uint64_t start_phys;
    uint64_t end_phys; /* exclusive */
    char name[BOOTINFO_MODULE_NAME_MAX];
};

enum fb_kind {
    FB_KIND_NONE = 0,
    FB_KIND_RGB = 1,      /* direct colour: a linear framebuffer */
    FB_KIND_EGA_TEXT = 2, /* VGA text mode: 2 bytes per cell at addr_phys */
    FB_KIND_INDEXED = 3,  /* palette modes: recorded, not drawn on */
};

struct boot_framebuffer {
    enum fb_kind kind;
    uint64_t addr_phys;
    uint32_t pitch_bytes;
    uint32_t width; /* pixels, or characters for EGA text */
    uint32_t height;
    uint8_t bpp;
    uint8_t red_shift, red_bits;
    uint8_t green_shift, green_bits;
    uint8_t blue_shift, blue_bits;
};

struct boot_info {
    enum boot_protocol protocol;
    char cmdline[BOOTINFO_CMDLINE_MAX];
    char loader_name[BOOTINFO_LOADER_NAME_MAX]; /* empty when the loader gave none */

    size_t mmap_count;
    struct mmap_entry mmap[BOOTINFO_MAX_MMAP];
    bool mmap_truncated; /* the loader listed more than BOOTINFO_MAX_MMAP regions */

    size_t module_count;
    struct boot_module modules[BOOTINFO_MAX_MODULES];

    struct boot_framebuffer framebuffer;

    /* A copy of the ACPI RSDP (Multiboot2 hands over a copy, PVH its address). */
    size_t rsdp_len; /* 0: none given */
    uint8_t rsdp[BOOTINFO_RSDP_MAX];
    uint64_t rsdp_phys; /* where the loader said it is; 0 when only a copy was given */

    /* The loader's own info block, so the frame allocator can reserve it. */
    uint64_t info_phys;
    uint64_t info_size_bytes;
};

enum bootinfo_error {
    BOOTINFO_OK = 0,
    BOOTINFO_ERR_BAD_MAGIC = -1,
    BOOTINFO_ERR_TRUNCATED = -2, /* a size runs past the end of the info or of avail */
    BOOTINFO_ERR_MISALIGNED = -3,
    BOOTINFO_ERR_BAD_TAG = -4,   /* a tag whose own fields are inconsistent */
    BOOTINFO_ERR_NO_END_TAG = -5,
    BOOTINFO_ERR_NO_MEMORY_MAP = -6,
};

/* Receives one human-readable line (no trailing newline) per problem found. */
typedef void (*bootinfo_diag_fn)(void *ctx, const char *message);

/*
 * Multiboot2: `info` points at the boot information (its first u32 is total_size),
 * readable for `avail` bytes (the caller's upper bound; the kernel passes what its
 * early mapping covers). `magic` is the value the loader left in EAX. Returns
 * BOOTINFO_OK or the first fatal error; non-fatal oddities (an unknown tag, a memory
 * map longer than BOOTINFO_MAX_MMAP) are reported through diag and parsing goes on.
 */
int bootinfo_parse_multiboot2(uint32_t magic, const void *info, size_t avail,
                              uint64_t info_phys, struct boot_info *out,
                              bootinfo_diag_fn diag, void *diag_ctx);

#define MULTIBOOT2_BOOTLOADER_MAGIC 0x36d76289u
#define PVH_START_MAGIC 0x336ec578u

/*
 * Translates a physical range named inside the PVH start info into a readable
 * pointer, or NULL if the range is not readable (the parser then reports it).
 */
typedef const void *(*bootinfo_phys_reader_fn)(void *ctx, uint64_t phys, size_t len);

/* PVH: `start_info` is the hvm_start_info the loader pointed EBX at. */
int bootinfo_parse_pvh(const void *start_info, size_t avail, uint64_t info_phys,
                       bootinfo_phys_reader_fn read_phys, void *read_ctx,
                       struct boot_info *out, bootinfo_diag_fn diag, void *diag_ctx);

/* A short name for an error code, for messages. */
const char *bootinfo_strerror(int error);

#endif
