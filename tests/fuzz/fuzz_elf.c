/*
 * libFuzzer target for proc/elf.c: the input is an ELF file, copied into a heap block
 * of exactly its size (ASan flags any read past it). An accepted image must keep
 * every promise of include/proc/elf.h; a refused one must say why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/errno.h"
#include "proc/elf.h"

static void check_image(const struct elf_image *im, size_t size)
{
    if (im->nsegments == 0 || im->nsegments > ELF_MAX_SEGMENTS || im->error)
        __builtin_trap();
    int entry_ok = 0;
    for (size_t i = 0; i < im->nsegments; i++) {
        const struct elf_segment *s = &im->segments[i];
        if (s->memsz == 0 || s->filesz > s->memsz || s->file_offset > size ||
            s->filesz > size - s->file_offset || s->vaddr >= ELF_USER_END ||
            s->memsz > ELF_USER_END - s->vaddr ||
            ((s->prot & ELF_PROT_WRITE) && (s->prot & ELF_PROT_EXEC)))
            __builtin_trap();
        if (i > 0 && s->vaddr / ELF_PAGE_SIZE <=
                         (im->segments[i - 1].vaddr + im->segments[i - 1].memsz - 1) /
                             ELF_PAGE_SIZE)
            __builtin_trap();
        if ((s->prot & ELF_PROT_EXEC) && im->entry >= s->vaddr && im->entry - s->vaddr < s->memsz)
            entry_ok = 1;
    }
    if (!entry_ok || (!im->pie && im->lowest_vaddr < ELF_MIN_VADDR))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    struct elf_image im;
    int result = elf_parse(copy, size, &im);
    if (result == 0)
        check_image(&im, size);
    else if (result != -ENOEXEC || !im.error)
        __builtin_trap();
    free(copy);
    return 0;
}
