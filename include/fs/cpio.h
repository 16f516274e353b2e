/*
 * cpio: a reader for the "new ASCII" cpio format (newc, magic "070701") and its
 * checksummed twin ("070702"), the format of Linux initramfs archives and of Exo's
 * initrd.
 *
 * An entry is a 110-byte header of ASCII fields (the magic, then thirteen 8-digit
 * hexadecimal numbers), the name (namesize bytes, NUL included), zero padding to a
 * multiple of 4 from the start of the archive, the data (filesize bytes), and zero
 * padding to a multiple of 4 again. The entry named "TRAILER!!!" ends the archive.
 *
 * The archive is hostile input: cpio_next reads nothing outside [archive,
 * archive + size), whatever the bytes say. It rejects, with -EINVAL, a bad magic, a
 * field with a non-hexadecimal digit, a name or data (or their padding) running past
 * the end, a name that is empty, not NUL-terminated or has a NUL inside, and (in the
 * "070702" format) data whose byte sum differs from the header's check field. The
 * reader is pure (no kernel state, no allocation) and reentrant.
 */
#ifndef EXO_FS_CPIO_H
#define EXO_FS_CPIO_H

#include <stddef.h>
#include <stdint.h>

#define CPIO_HEADER_BYTES 110
#define CPIO_TRAILER_NAME "TRAILER!!!"

struct cpio_entry {
    const char *name;  /* points into the archive; NUL-terminated */
    size_t name_len;   /* without the NUL */
    uint32_t mode, uid, gid, nlink;
    uint64_t mtime, ino;
    uint32_t devmajor, devminor;   /* the device holding the file (hard links) */
    uint32_t rdevmajor, rdevminor; /* the device a device node stands for */
    const uint8_t *data; /* points into the archive */
    size_t size;
    const char *error; /* after -EINVAL: why, a static string; NULL otherwise */
};

/*
 * Reads the entry at *offset (0 for the first). Returns 1 and fills *out, with
 * *offset moved past the entry and its padding; 0 at the trailer (*out describes
 * it, *offset moves past it); -EINVAL for malformed input, with *offset unchanged
 * and only out->error written. *offset must be a multiple of 4 for the padding
 * rules to hold.
 */
int cpio_next(const void *archive, size_t size, size_t *offset, struct cpio_entry *out)
    __attribute__((warn_unused_result));

#endif
