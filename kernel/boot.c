#include "kernel/boot.h"

#include "arch/mmu.h"
#include "base/panic.h"
#include "lib/printf.h"
#include "lib/string.h"

/* Written by boot_load on the boot CPU before anything else reads them. */
static struct boot_info info;
static struct kernel_options options;

const struct boot_info *boot_info(void)
{
    return &info;
}

const struct kernel_options *boot_options(void)
{
    return &options;
}

static void print_diag(void *ctx, const char *message)
{
    kprintf("%s: %s\n", (const char *)ctx, message);
}

/* The early tables map the first ARCH_EARLY_DIRECT_MAP_BYTES; nothing above is
 * readable yet, so ranges beyond it are refused rather than faulted on. */
static size_t readable_from(uint64_t phys)
{
    return phys < ARCH_EARLY_DIRECT_MAP_BYTES ? ARCH_EARLY_DIRECT_MAP_BYTES - phys : 0;
}

static const void *read_phys(void *ctx, uint64_t phys, size_t len)
{
    (void)ctx;
    if (len > readable_from(phys))
        return NULL;
    return arch_phys_to_virt(phys);
}

void boot_load(uint32_t protocol, uint64_t info_phys, uint32_t magic)
{
    int error;
    size_t avail = readable_from(info_phys);
    if (avail == 0)
        panic("boot: the loader's info at 0x%lx is beyond the early mapping", info_phys);
    const void *raw = arch_phys_to_virt(info_phys);
    if (protocol == BOOT_PROTOCOL_PVH) {
        error = bootinfo_parse_pvh(raw, avail, info_phys, read_phys, NULL, &info, print_diag,
                                   "boot: pvh");
    } else {
        error = bootinfo_parse_multiboot2(magic, raw, avail, info_phys, &info, print_diag,
                                          "boot: multiboot2");
    }
    /* The options first, even from boot information that failed later on (the
     * parsers fill cmdline as they meet it; otherwise it is empty): a self-test
     * boot must end QEMU with the failure status from here on, not halt. */
    cmdline_parse(info.cmdline, &options, print_diag, "boot");
    if (options.mode != MODE_SHELL)
        panic_set_test_mode(true);
    if (error != BOOTINFO_OK) {
        panic("boot: unusable %s boot information at 0x%lx: %s",
              protocol == BOOT_PROTOCOL_PVH ? "PVH" : "Multiboot2", info_phys,
              bootinfo_strerror(error));
    }
}

static const char *mmap_type_name(uint32_t type)
{
    switch (type) {
    case MMAP_USABLE:
        return "usable";
    case MMAP_RESERVED:
        return "reserved";
    case MMAP_ACPI_RECLAIMABLE:
        return "ACPI reclaimable";
    case MMAP_ACPI_NVS:
        return "ACPI NVS";
    case MMAP_BAD:
        return "bad";
    default:
        return "unknown";
    }
}

void boot_print_summary(void)
{
    uint64_t usable_bytes = 0;
    /* Both strings come from the loader: escaped (up to 4 bytes each), so they
     * cannot drive a terminal. Static: boot runs once, on one CPU. */
    static char loader[4 * sizeof(info.loader_name)], cmdline[4 * sizeof(info.cmdline)];
    str_escape(loader, sizeof(loader), info.loader_name, strlen(info.loader_name));
    str_escape(cmdline, sizeof(cmdline), info.cmdline, strlen(info.cmdline));
    kprintf("boot: via %s%s%s, command line '%s'\n",
            info.protocol == BOOT_PROTOCOL_PVH ? "PVH" : "Multiboot2",
            loader[0] ? " from " : "", loader, cmdline);
    for (size_t i = 0; i < info.mmap_count; i++) {
        const struct mmap_entry *e = &info.mmap[i];
        kprintf("boot: memory %016lx-%016lx %s\n", e->base_phys,
                e->base_phys + e->length_bytes - 1, mmap_type_name(e->type));
        if (e->type == MMAP_USABLE)
            usable_bytes += e->length_bytes;
    }
    kprintf("boot: %lu MiB usable in %zu regions\n", usable_bytes >> 20, info.mmap_count);
    if (info.framebuffer.kind != FB_KIND_NONE) {
        kprintf("boot: framebuffer %ux%u, %u bpp, at 0x%lx\n", info.framebuffer.width,
                info.framebuffer.height, info.framebuffer.bpp, info.framebuffer.addr_phys);
    }
    kprintf("boot: mode=%s\n", cmdline_mode_name(options.mode));
}
