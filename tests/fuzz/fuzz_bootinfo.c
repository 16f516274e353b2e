/*
 * libFuzzer target for kernel/bootinfo.c.
 *
 * Input: one selector byte, then the info. An even selector parses the rest as a
 * Multiboot2 info (with the right magic, so the fuzzer reaches the tags); an odd one
 * parses it as a PVH start info, and the same bytes are the "physical memory" its
 * pointers refer to (address = offset into the input). The copy handed to a parser is
 * a heap block of exactly the input's size, so ASan flags any read past it; after each
 * parse the result's invariants are checked.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/bootinfo.h"

#define DIAG_LIMIT 160 /* the parser's message buffer, NUL included */

struct fake_phys {
    const uint8_t *bytes;
    size_t size;
};

static const void *read_input_as_phys(void *ctx, uint64_t phys, size_t len)
{
    const struct fake_phys *mem = ctx;
    if (phys > mem->size || len > mem->size - phys)
        return NULL;
    return mem->bytes + phys;
}

static void check_diag(void *ctx, const char *message)
{
    (void)ctx;
    if (strnlen(message, DIAG_LIMIT) >= DIAG_LIMIT)
        __builtin_trap(); /* an unterminated or overlong message */
}

static void check_result(int result, const struct boot_info *info)
{
    if (result > 0 || result < BOOTINFO_ERR_NO_MEMORY_MAP)
        __builtin_trap();
    if (info->mmap_count > BOOTINFO_MAX_MMAP || info->module_count > BOOTINFO_MAX_MODULES)
        __builtin_trap();
    if (!memchr(info->cmdline, 0, sizeof(info->cmdline)) ||
        !memchr(info->loader_name, 0, sizeof(info->loader_name)))
        __builtin_trap();
    for (size_t i = 0; i < info->module_count; i++) {
        if (!memchr(info->modules[i].name, 0, sizeof(info->modules[i].name)))
            __builtin_trap();
    }
    if (info->rsdp_len != 0 && info->rsdp_len != 20 && info->rsdp_len != 36)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct boot_info info;
    if (size < 1)
        return 0;
    uint8_t selector = data[0];
    size_t len = size - 1;
    uint8_t *copy = malloc(len ? len : 1); /* malloc: 16-byte aligned, as the parsers want */
    if (!copy)
        return 0;
    memcpy(copy, data + 1, len);
    int result;
    if (selector % 2 == 0) {
        result = bootinfo_parse_multiboot2(MULTIBOOT2_BOOTLOADER_MAGIC, copy, len, 0x10000,
                                           &info, check_diag, NULL);
    } else {
        struct fake_phys mem = {copy, len};
        result = bootinfo_parse_pvh(copy, len, 0, read_input_as_phys, &mem, &info, check_diag,
                                    NULL);
    }
    check_result(result, &info);
    free(copy);
    return 0;
}
