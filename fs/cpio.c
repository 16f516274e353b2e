/* The newc cpio reader: see include/fs/cpio.h. */
#include "fs/cpio.h"

#include <stdbool.h>

#include "lib/errno.h"
#include "lib/string.h"

enum cpio_field {
    F_INO, F_MODE, F_UID, F_GID, F_NLINK, F_MTIME, F_FILESIZE,
    F_DEVMAJOR, F_DEVMINOR, F_RDEVMAJOR, F_RDEVMINOR, F_NAMESIZE, F_CHECK,
    F_COUNT
};

/* Eight hexadecimal digits, either case; false on anything else. */
static bool parse_hex8(const uint8_t *text, uint32_t *out)
{
    uint32_t value = 0;
    for (int i = 0; i < 8; i++) {
        uint8_t c = text[i];
        uint32_t digit;
        if (c >= '0' && c <= '9')
            digit = c - '0';
        else if (c >= 'a' && c <= 'f')
            digit = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            digit = c - 'A' + 10;
        else
            return false;
        value = value << 4 | digit;
    }
    *out = value;
    return true;
}

/* `pos` rounded up to a multiple of 4, in *out; false when that passes `limit`. */
static bool align4_within(size_t pos, size_t limit, size_t *out)
{
    size_t aligned = (pos + 3) & ~(size_t)3;
    if (aligned < pos || aligned > limit)
        return false;
    *out = aligned;
    return true;
}

static uint32_t byte_sum(const uint8_t *data, size_t size)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < size; i++)
        sum += data[i];
    return sum;
}

static int fail(struct cpio_entry *out, const char *why)
{
    out->error = why;
    return -EINVAL;
}

int cpio_next(const void *archive, size_t size, size_t *offset, struct cpio_entry *out)
{
    const uint8_t *bytes = archive;
    size_t pos = *offset;
    if (pos > size || size - pos < CPIO_HEADER_BYTES)
        return fail(out, pos == size ? "the archive ends without TRAILER!!!"
                                     : "a header runs past the end");
    const uint8_t *header = bytes + pos;
    bool checksummed;
    if (memcmp(header, "070701", 6) == 0)
        checksummed = false;
    else if (memcmp(header, "070702", 6) == 0)
        checksummed = true;
    else
        return fail(out, "bad magic (not 070701 or 070702)");
    uint32_t field[F_COUNT];
    for (int i = 0; i < F_COUNT; i++) {
        if (!parse_hex8(header + 6 + 8 * i, &field[i]))
            return fail(out, "a header field is not 8 hexadecimal digits");
    }

    /* The name: namesize bytes after the header, its last one the only NUL. */
    size_t name_pos = pos + CPIO_HEADER_BYTES;
    size_t name_size = field[F_NAMESIZE];
    if (name_size == 0)
        return fail(out, "an empty name (namesize 0)");
    if (name_size > size - name_pos)
        return fail(out, "a name runs past the end");
    const char *name = (const char *)bytes + name_pos;
    if (memchr(name, 0, name_size) != name + name_size - 1)
        return fail(out, "a name is not one NUL-terminated string of namesize bytes");
    size_t data_pos;
    if (!align4_within(name_pos + name_size, size, &data_pos))
        return fail(out, "a name's padding runs past the end");

    size_t data_size = field[F_FILESIZE];
    if (data_size > size - data_pos)
        return fail(out, "file data runs past the end");
    size_t next;
    if (!align4_within(data_pos + data_size, size, &next))
        return fail(out, "file data's padding runs past the end");
    if (checksummed && byte_sum(bytes + data_pos, data_size) != field[F_CHECK])
        return fail(out, "file data does not match its 070702 checksum");

    *out = (struct cpio_entry){
        .name = name,
        .name_len = name_size - 1,
        .mode = field[F_MODE],
        .uid = field[F_UID],
        .gid = field[F_GID],
        .nlink = field[F_NLINK],
        .mtime = field[F_MTIME],
        .ino = field[F_INO],
        .devmajor = field[F_DEVMAJOR],
        .devminor = field[F_DEVMINOR],
        .rdevmajor = field[F_RDEVMAJOR],
        .rdevminor = field[F_RDEVMINOR],
        .data = bytes + data_pos,
        .size = data_size,
        .error = NULL,
    };
    *offset = next;
    if (out->name_len == sizeof(CPIO_TRAILER_NAME) - 1 &&
        memcmp(name, CPIO_TRAILER_NAME, out->name_len) == 0)
        return 0;
    return 1;
}
