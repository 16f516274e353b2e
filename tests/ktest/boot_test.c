/* Suite `boot`: the boot info and command line as the kernel parsed them. */
#include "kernel/boot.h"
#include "kernel/ktest.h"
#include "lib/string.h"

static void boot_protocol_is_multiboot2_or_pvh(struct ktest *t)
{
    enum boot_protocol p = boot_info()->protocol;
    KT_EXPECT(t, p == BOOT_PROTOCOL_MULTIBOOT2 || p == BOOT_PROTOCOL_PVH);
    KT_EXPECT(t, boot_info()->info_phys != 0);
    KT_EXPECT(t, boot_info()->info_size_bytes >= 16);
}

static void memory_map_regions_are_well_formed(struct ktest *t)
{
    const struct boot_info *info = boot_info();
    KT_ASSERT(t, info->mmap_count > 0);
    for (size_t i = 0; i < info->mmap_count; i++) {
        const struct mmap_entry *e = &info->mmap[i];
        KT_EXPECT(t, e->length_bytes > 0);
        KT_EXPECT(t, e->base_phys + e->length_bytes > e->base_phys); /* no wrap-around */
    }
}

static void memory_map_has_usable_ram_above_1mib(struct ktest *t)
{
    uint64_t usable = 0;
    const struct boot_info *info = boot_info();
    for (size_t i = 0; i < info->mmap_count; i++) {
        const struct mmap_entry *e = &info->mmap[i];
        if (e->type == MMAP_USABLE && e->base_phys >= 0x100000)
            usable += e->length_bytes;
    }
    KT_EXPECT(t, usable > 0);
    /* The suites exhaust and refill memory on a scale that needs 32 MiB; on a
     * smaller machine say so instead of failing (the kernel itself runs in less). */
    if (usable < (32ull << 20))
        KT_SKIP(t, "the self-test needs 32 MiB of RAM above 1 MiB");
}

static void kernel_image_lies_in_usable_ram(struct ktest *t)
{
    uint64_t start = (uint64_t)__kernel_phys_start, end = (uint64_t)__kernel_phys_end;
    const struct boot_info *info = boot_info();
    bool inside = false;
    for (size_t i = 0; i < info->mmap_count; i++) {
        const struct mmap_entry *e = &info->mmap[i];
        if (e->type == MMAP_USABLE && e->base_phys <= start &&
            end <= e->base_phys + e->length_bytes)
            inside = true;
    }
    KT_EXPECT(t, start < end);
    KT_EXPECT(t, inside);
}

static void command_line_reparses_to_the_same_options(struct ktest *t)
{
    struct kernel_options again;
    int problems = cmdline_parse(boot_info()->cmdline, &again, NULL, NULL);
    const struct kernel_options *booted = boot_options();
    /* Whatever the line held (unknown options, bad values, tabs, odd bytes), the
     * parse is a function of it: the same problems and the same options. */
    KT_EXPECT_EQ(t, problems, booted->problems);
    KT_EXPECT_EQ(t, again.problems, booted->problems);
    KT_EXPECT_EQ(t, again.mode, booted->mode);
    KT_EXPECT_STREQ(t, again.test_glob, booted->test_glob);
    KT_EXPECT_EQ(t, again.seed_given, booted->seed_given);
    KT_EXPECT_EQ(t, again.seed, booted->seed);
    KT_EXPECT_EQ(t, again.smp_max_cpus, booted->smp_max_cpus);
    KT_EXPECT_EQ(t, again.consoles, booted->consoles);
    KT_EXPECT_EQ(t, again.numa, booted->numa);
    KT_EXPECT_STREQ(t, again.numa_expect, booted->numa_expect);
}

/* True when `word` appears in `line` as a whole word, separated as the command
 * line parser separates them (spaces and tabs). */
static bool has_word(const char *line, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = line; *p;) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *end = p;
        while (*end && *end != ' ' && *end != '\t')
            end++;
        if ((size_t)(end - p) == n && memcmp(p, word, n) == 0)
            return true;
        p = end;
    }
    return false;
}

static void command_line_selected_test_mode(struct ktest *t)
{
    if (boot_options()->mode == MODE_SHELL)
        KT_SKIP(t, "run from the shell's test command");
    KT_EXPECT_EQ(t, boot_options()->mode, MODE_TEST);
    KT_EXPECT(t, has_word(boot_info()->cmdline, "mode=test"));
}

static void acpi_rsdp_copy_is_valid_when_given(struct ktest *t)
{
    const struct boot_info *info = boot_info();
    if (info->rsdp_len == 0)
        KT_SKIP(t, "the loader gave no ACPI RSDP");
    KT_ASSERT(t, info->rsdp_len == 20 || info->rsdp_len == 36);
    KT_EXPECT(t, memcmp(info->rsdp, "RSD PTR ", 8) == 0);
    uint8_t sum = 0;
    for (size_t i = 0; i < 20; i++)
        sum += info->rsdp[i];
    KT_EXPECT_EQ(t, sum, 0);
}

static void framebuffer_geometry_is_consistent_when_given(struct ktest *t)
{
    const struct boot_framebuffer *fb = &boot_info()->framebuffer;
    if (fb->kind == FB_KIND_NONE)
        KT_SKIP(t, "the loader gave no framebuffer");
    KT_EXPECT(t, fb->width > 0 && fb->height > 0);
    if (fb->kind == FB_KIND_RGB) {
        KT_EXPECT(t, fb->bpp == 15 || fb->bpp == 16 || fb->bpp == 24 || fb->bpp == 32);
        KT_EXPECT(t, fb->pitch_bytes >= fb->width * ((fb->bpp + 7u) / 8u));
    }
}

KTEST_SUITE(boot,
            KTEST(boot_protocol_is_multiboot2_or_pvh),
            KTEST(memory_map_regions_are_well_formed),
            KTEST(memory_map_has_usable_ram_above_1mib),
            KTEST(kernel_image_lies_in_usable_ram),
            KTEST(command_line_reparses_to_the_same_options),
            KTEST(command_line_selected_test_mode),
            KTEST(acpi_rsdp_copy_is_valid_when_given),
            KTEST(framebuffer_geometry_is_consistent_when_given));
