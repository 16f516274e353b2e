/* Files of the initrd tree, and struct stat: see include/fs/file.h. */
#include "fs/file.h"

#include <stdbool.h>

#include "arch/uaccess.h"
#include "fs/fcntl.h"
#include "lib/errno.h"
#include "lib/string.h"
#include "mm/heap.h"

#define STAT_BLOCK_BYTES 4096

/* Linux x86_64's struct stat (arch/x86/include/uapi/asm/stat.h). */
struct stat_user {
    uint64_t dev, ino, nlink;
    uint32_t mode, uid, gid, pad0;
    uint64_t rdev;
    int64_t size, blksize, blocks;
    int64_t atime, atime_nsec, mtime, mtime_nsec, ctime, ctime_nsec;
    int64_t unused[3];
};
_Static_assert(sizeof(struct stat_user) == 144, "Linux x86_64 struct stat");

int kstat_to_user(uintptr_t user, const struct kstat *st)
{
    struct stat_user out = {
        .dev = st->dev, .ino = st->ino, .nlink = st->nlink,
        .mode = st->mode, .uid = st->uid, .gid = st->gid,
        .rdev = st->rdev, .size = st->size, .blksize = STAT_BLOCK_BYTES,
        .blocks = (st->size + 511) / 512,
        .atime = st->mtime_sec, .mtime = st->mtime_sec, .ctime = st->mtime_sec,
    };
    return copy_to_user(user, &out, sizeof(out));
}

void inode_kstat(const struct inode *node, struct kstat *out)
{
    *out = (struct kstat){
        .dev = FS_INITRD_DEV, .ino = node->ino, .nlink = node->nlink,
        .mode = node->mode, .uid = node->uid, .gid = node->gid,
        .size = (int64_t)node->size, .mtime_sec = (int64_t)node->mtime,
    };
}

/* ---- user copies that stop at the first fault --------------------------------- */

static size_t to_page_end(uintptr_t addr, size_t n)
{
    size_t room = 4096 - (addr & 4095);
    return n < room ? n : room;
}

long copy_to_user_partial(uintptr_t user_dst, const void *src, size_t n)
{
    size_t done = 0;
    while (done < n) {
        size_t chunk = to_page_end(user_dst + done, n - done);
        if (copy_to_user(user_dst + done, (const uint8_t *)src + done, chunk))
            return done ? (long)done : -EFAULT;
        done += chunk;
    }
    return (long)done;
}

long copy_from_user_partial(void *dst, uintptr_t user_src, size_t n)
{
    size_t done = 0;
    while (done < n) {
        size_t chunk = to_page_end(user_src + done, n - done);
        if (copy_from_user((uint8_t *)dst + done, user_src + done, chunk))
            return done ? (long)done : -EFAULT;
        done += chunk;
    }
    return (long)done;
}

/* ---- regular files ------------------------------------------------------------- */

static struct inode *node_of(struct file *f)
{
    return f->private;
}

static long inode_pread(struct file *f, uintptr_t buf, size_t len, uint64_t offset)
{
    struct inode *node = node_of(f);
    if (S_ISDIR(node->mode))
        return -EISDIR;
    if (offset >= node->size)
        return 0;
    size_t n = node->size - offset < len ? (size_t)(node->size - offset) : len;
    return copy_to_user_partial(buf, node->data + offset, n);
}

static long inode_read(struct file *f, uintptr_t buf, size_t len)
{
    long got = inode_pread(f, buf, len, f->pos);
    if (got > 0)
        f->pos += (uint64_t)got;
    return got;
}

static long inode_lseek(struct file *f, int64_t offset, unsigned whence)
{
    struct inode *node = node_of(f);
    int64_t base;
    switch (whence) {
    case SEEK_SET:
        base = 0;
        break;
    case SEEK_CUR:
        base = (int64_t)f->pos;
        break;
    case SEEK_END:
        if (S_ISDIR(node->mode))
            return -EINVAL;
        base = (int64_t)node->size;
        break;
    case SEEK_DATA:
    case SEEK_HOLE:
        if (S_ISDIR(node->mode))
            return -EINVAL;
        if (offset < 0 || (uint64_t)offset >= node->size)
            return -ENXIO;
        base = 0;
        if (whence == SEEK_HOLE)
            offset = (int64_t)node->size; /* the only hole is the end */
        break;
    default:
        return -EINVAL;
    }
    int64_t result;
    if (__builtin_add_overflow(base, offset, &result) || result < 0)
        return -EINVAL;
    f->pos = (uint64_t)result;
    return result;
}

static int inode_stat(struct file *f, struct kstat *out)
{
    inode_kstat(node_of(f), out);
    return 0;
}

/* ---- directories ------------------------------------------------------------- */

#define DT_DIR 4
#define DT_REG 8
#define DT_LNK 10
#define DIRENT_HEADER_BYTES 19 /* d_ino, d_off, d_reclen, d_type */

static uint8_t dirent_type(uint32_t mode)
{
    return S_ISDIR(mode) ? DT_DIR : S_ISLNK(mode) ? DT_LNK : DT_REG;
}

/* Entry `index` of dir: 0 ".", 1 "..", then the children. false past the end. */
static bool dir_entry(struct inode *dir, uint64_t index, const char **name, struct inode **node)
{
    if (index < 2) {
        *name = index ? ".." : ".";
        *node = index ? dir->parent : dir;
        return true;
    }
    if (fs_readdir(dir, index - 2, node) != 1)
        return false;
    *name = (*node)->name;
    return true;
}

static long inode_getdents(struct file *f, uintptr_t buf, size_t len)
{
    struct inode *dir = node_of(f);
    if (!S_ISDIR(dir->mode))
        return -ENOTDIR;
    uint8_t record[DIRENT_HEADER_BYTES + FS_NAME_MAX + 1 + 8];
    size_t done = 0;
    const char *name;
    struct inode *node;
    while (dir_entry(dir, f->pos, &name, &node)) {
        size_t name_len = strlen(name);
        size_t reclen = (DIRENT_HEADER_BYTES + name_len + 1 + 7) & ~(size_t)7;
        if (reclen > len - done)
            return done ? (long)done : -EINVAL;
        memset(record, 0, reclen);
        uint64_t next = f->pos + 1;
        uint16_t reclen16 = (uint16_t)reclen;
        memcpy(record, &node->ino, 8);
        memcpy(record + 8, &next, 8);
        memcpy(record + 16, &reclen16, 2);
        record[18] = dirent_type(node->mode);
        memcpy(record + DIRENT_HEADER_BYTES, name, name_len);
        if (copy_to_user(buf + done, record, reclen))
            return done ? (long)done : -EFAULT;
        done += reclen;
        f->pos = next;
    }
    return (long)done;
}

static void inode_release(struct file *f)
{
    kfree(f);
}

static const struct file_ops inode_file_ops = {
    .read = inode_read,
    .pread = inode_pread,
    .lseek = inode_lseek,
    .stat = inode_stat,
    .getdents = inode_getdents,
    .release = inode_release,
};

struct file *inode_file_open(struct inode *node, uint32_t flags)
{
    struct file *f = kcalloc(1, sizeof(*f));
    if (!f)
        return NULL;
    *f = (struct file){.ops = &inode_file_ops, .refs = 1, .flags = flags, .private = node};
    return f;
}

struct inode *file_inode(struct file *f)
{
    return f->ops == &inode_file_ops ? node_of(f) : NULL;
}
