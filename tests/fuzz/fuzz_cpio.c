/*
 * libFuzzer target for fs/cpio.c and fs/initrd.c: the input is an archive, copied
 * into a heap block of exactly its size (ASan flags any read past it). Every entry
 * cpio_next returns must lie inside the archive; then initrd_init builds a tree from
 * it (kmalloc is malloc here) and a few lookups walk it; initrd_reset frees it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs/cpio.h"
#include "fs/initrd.h"
#include "lib/errno.h"

void *kmalloc(size_t size) { return malloc(size); }
void kfree(void *ptr) { free(ptr); }
void *krealloc(void *ptr, size_t size) { return realloc(ptr, size); }

static const char *const paths[] = {"/", "/bin/sh", "a/b/../c", "/x/", "..", "/bin/busybox/"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    size_t offset = 0;
    struct cpio_entry e;
    int result;
    while ((result = cpio_next(copy, size, &offset, &e)) == 1) {
        if (offset > size || e.data + e.size > copy + size || strlen(e.name) != e.name_len)
            __builtin_trap();
    }
    if (result != 0 && (result != -EINVAL || !e.error))
        __builtin_trap();
    result = initrd_init(copy, size);
    if (result != 0 && result != -EINVAL)
        __builtin_trap();
    for (size_t i = 0; result == 0 && i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct inode *node;
        int r = fs_lookup(NULL, paths[i], i % 2 ? FS_LOOKUP_FOLLOW : 0, &node);
        if (r != 0 && r != -ENOENT && r != -ENOTDIR && r != -ELOOP)
            __builtin_trap();
    }
    initrd_reset();
    free(copy);
    return 0;
}
