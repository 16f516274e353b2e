/*
 * file: files of the initrd tree opened by a process (struct file, include/
 * proc/process.h), and the metadata every kind of file reports (struct kstat).
 *
 * An inode file reads a regular file's bytes from the archive at its offset,
 * lists a directory for getdents64 (".", "..", then the children; the offset
 * is the index of the next entry) and answers read on a directory with EISDIR.
 * The tree is read-only and never changes, so inode files need no lock; the
 * offset is the file's own (struct file's pos).
 *
 * Every kind of file fills a struct kstat (file_ops.stat); kstat_to_user
 * writes it in the layout of Linux x86_64's struct stat (144 bytes).
 */
#ifndef EXO_FS_FILE_H
#define EXO_FS_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "fs/initrd.h"
#include "proc/process.h"

struct kstat {
    uint64_t dev, ino, nlink, rdev;
    uint32_t mode, uid, gid;
    int64_t size;
    int64_t mtime_sec; /* also atime and ctime */
};

/* Device numbers (Linux's new encoding) that stat reports. */
#define KSTAT_DEV(major, minor) \
    ((((uint64_t)(major) & 0xfff) << 8) | ((uint64_t)(minor) & 0xff) | \
     (((uint64_t)(minor) & ~0xffull) << 12))
#define FS_INITRD_DEV KSTAT_DEV(0, 1) /* the initrd's st_dev */

/* Writes st as Linux's struct stat at user address `user`: 0 or -EFAULT. */
int kstat_to_user(uintptr_t user, const struct kstat *st) __attribute__((warn_unused_result));

/* The kstat of a node of the tree. */
void inode_kstat(const struct inode *node, struct kstat *out);

/* A new file (one reference) reading node, with O_* `flags`; NULL when out of
 * memory. The caller has checked that the access mode is O_RDONLY. */
struct file *inode_file_open(struct inode *node, uint32_t flags);

/* The node an inode file reads; NULL for any other kind of file. */
struct inode *file_inode(struct file *f);

/* Copies user memory page by page: the count of bytes copied before the first
 * fault, or -EFAULT when the very first byte faults (read(2)'s short count). */
long copy_to_user_partial(uintptr_t user_dst, const void *src, size_t n);
long copy_from_user_partial(void *dst, uintptr_t user_src, size_t n);

#endif
