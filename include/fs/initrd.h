/*
 * initrd: the initial ramdisk as Exo's read-only file tree, and path lookup in it.
 *
 * initrd_init reads a newc cpio archive (include/fs/cpio.h) once, at boot, into a
 * tree of struct inode: directories (made implicitly for every parent an entry
 * names), regular files and symbolic links. Names are normalised as the archive
 * tools write them: a leading "./" or "/", empty and "." components are dropped and
 * ".." removes the component before it (at the top it stays at the top). A name
 * that occurs twice is the later entry's, as in Linux's initramfs (but a non-empty
 * directory is never replaced by a file). Hard links (regular files sharing
 * devmajor/devminor/ino with nlink > 1, whose data cpio stores with one of them)
 * share that data and an inode number. Device nodes, fifos and sockets are skipped
 * with one console line each.
 *
 * A regular file's data points into the archive, whose memory must stay mapped and
 * reserved for good; a symlink's target is a kmalloc'd NUL-terminated copy. Nodes
 * come from kmalloc. Once initrd_init returns, the tree never changes, so readers
 * need no lock: fs_lookup and fs_readdir may run on any CPU at once (not from
 * interrupt context: symlinks recurse on the stack, at most FS_MAX_SYMLINKS deep).
 *
 * Path lookup follows Linux: absolute and relative paths, "." and "..", ".." at the
 * root stays there, a symlink's target relative to the symlink's directory, at most
 * FS_MAX_SYMLINKS links per lookup, and Linux's errors (see fs_lookup).
 */
#ifndef EXO_FS_INITRD_H
#define EXO_FS_INITRD_H

#include <stddef.h>
#include <stdint.h>

#include "fs/stat.h"

#define FS_PATH_MAX 4096    /* a path, its NUL included (Linux's PATH_MAX) */
#define FS_NAME_MAX 255     /* a component (Linux's NAME_MAX) */
#define FS_MAX_SYMLINKS 40  /* links followed in one lookup (Linux's MAXSYMLINKS) */

struct inode {
    uint32_t mode; /* S_IF* | permission bits, Linux values (fs/stat.h) */
    uint64_t ino;  /* unique in the tree (hard links share one); the root is 1 */
    uint64_t size; /* bytes of a file, length of a symlink's target; 0 for a directory */
    uint32_t nlink, uid, gid; /* a directory's nlink is 2 + its subdirectories */
    uint64_t mtime; /* seconds since 1970 */
    const uint8_t *data; /* file contents, or the symlink target (NUL-terminated) */
    const char *name;    /* the last component; "" for the root */
    struct inode *parent; /* the root's parent is the root */
    struct inode *first_child, *next_sibling; /* in archive order */
};

/* Counts of the tree initrd_init built. */
struct initrd_stats {
    size_t files, directories, symlinks; /* the root counts as a directory */
    size_t skipped;       /* entries not added (device nodes, bad names, ...) */
    size_t archive_bytes; /* the archive's size */
};

/*
 * Builds the tree from the archive [archive, archive + size). Returns 0, or (with
 * one console line saying why and where, and no tree left) -EINVAL for a malformed
 * archive, -ENOMEM when the heap runs out. A second call replaces the tree (tests).
 */
int initrd_init(const void *archive, size_t size) __attribute__((warn_unused_result));

/* Frees the tree (host tests and the leak check; nothing may hold a node). */
void initrd_reset(void);

void initrd_get_stats(struct initrd_stats *out);

/* The root directory; NULL when no initrd was loaded. */
struct inode *fs_root(void);

#define FS_LOOKUP_FOLLOW 0x1u /* follow a symlink in the last component too */

/*
 * Finds `path` (NUL-terminated), relative to `cwd` (the root when NULL) unless it
 * starts with '/'. Symlinks in the middle are always followed, a final one only with
 * FS_LOOKUP_FOLLOW or a trailing slash. Returns 0 with *out set, or:
 *   -ENOENT        a component does not exist, the path is empty, no initrd, or a
 *                  symlink's target is empty;
 *   -ENOTDIR       a component before the last is not a directory, or a path ending
 *                  in '/' names something that is not one;
 *   -ELOOP         more than FS_MAX_SYMLINKS links to follow;
 *   -ENAMETOOLONG  the path is FS_PATH_MAX bytes or longer, or a component is longer
 *                  than FS_NAME_MAX.
 */
int fs_lookup(struct inode *cwd, const char *path, unsigned flags, struct inode **out)
    __attribute__((warn_unused_result));

/*
 * The index-th entry of a directory, in archive order, not counting "." and ".."
 * (getdents makes those from dir and dir->parent). Returns 1 with *out set, 0 past
 * the last entry, -ENOTDIR when dir is not a directory.
 */
int fs_readdir(struct inode *dir, size_t index, struct inode **out)
    __attribute__((warn_unused_result));

#endif
