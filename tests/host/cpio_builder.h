/*
 * cpio_builder.h: writes newc cpio archives in memory for the host tests of
 * fs/cpio.c and fs/initrd.c, entry by entry, with every header field settable so a
 * test can write exactly the malformed entry it wants.
 */
#ifndef EXO_TESTS_HOST_CPIO_BUILDER_H
#define EXO_TESTS_HOST_CPIO_BUILDER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    CB_INO, CB_MODE, CB_UID, CB_GID, CB_NLINK, CB_MTIME, CB_FILESIZE, CB_DEVMAJOR,
    CB_DEVMINOR, CB_RDEVMAJOR, CB_RDEVMINOR, CB_NAMESIZE, CB_CHECK, CB_FIELDS
};

struct cpio_builder {
    uint8_t *buf;
    size_t len, cap;
};

static inline void cb_bytes(struct cpio_builder *b, const void *bytes, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->buf = realloc(b->buf, b->cap);
        if (!b->buf)
            abort();
    }
    if (n)
        memcpy(b->buf + b->len, bytes, n);
    b->len += n;
}

static inline void cb_pad4(struct cpio_builder *b)
{
    static const uint8_t zeros[4];
    cb_bytes(b, zeros, (4 - b->len % 4) % 4);
}

/* One entry with the given header fields, name bytes and data, padded as newc wants. */
static inline void cb_raw(struct cpio_builder *b, const char *magic,
                          const uint32_t fields[CB_FIELDS], const void *name, size_t name_bytes,
                          const void *data, size_t data_bytes)
{
    char header[111];
    int n = snprintf(header, sizeof(header), "%s", magic);
    for (int i = 0; i < CB_FIELDS; i++)
        n += snprintf(header + n, sizeof(header) - n, "%08X", fields[i]);
    cb_bytes(b, header, 110);
    cb_bytes(b, name, name_bytes);
    cb_pad4(b);
    cb_bytes(b, data, data_bytes);
    cb_pad4(b);
}

static inline void cb_entry_full(struct cpio_builder *b, const char *name, uint32_t mode,
                                 uint32_t ino, uint32_t nlink, const void *data, size_t size)
{
    uint32_t f[CB_FIELDS] = {0};
    f[CB_INO] = ino;
    f[CB_MODE] = mode;
    f[CB_UID] = 1000;
    f[CB_GID] = 100;
    f[CB_NLINK] = nlink;
    f[CB_MTIME] = 1700000000;
    f[CB_FILESIZE] = (uint32_t)size;
    f[CB_NAMESIZE] = (uint32_t)strlen(name) + 1;
    cb_raw(b, "070701", f, name, strlen(name) + 1, data, size);
}

static inline void cb_entry(struct cpio_builder *b, const char *name, uint32_t mode,
                            const char *data)
{
    cb_entry_full(b, name, mode, 0, 1, data, data ? strlen(data) : 0);
}

static inline void cb_trailer(struct cpio_builder *b)
{
    cb_entry(b, "TRAILER!!!", 0, NULL);
}

/* A heap copy of exactly the archive's size, so ASan flags any read past it. */
static inline uint8_t *cb_exact_copy(const struct cpio_builder *b)
{
    uint8_t *copy = malloc(b->len ? b->len : 1);
    if (!copy)
        abort();
    memcpy(copy, b->buf, b->len);
    return copy;
}

static inline void cb_free(struct cpio_builder *b)
{
    free(b->buf);
    *b = (struct cpio_builder){0};
}

#endif
