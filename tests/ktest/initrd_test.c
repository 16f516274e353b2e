/* Suite `initrd`: the file tree the kernel built from the real boot initrd (make's
 * build/initrd.cpio): our programs and busybox are there, are ELF programs elf_parse
 * accepts, the applet links resolve, and lookups fail as Linux's do. Skips, saying
 * so, when the kernel booted without an initrd (a PVH boot without -initrd). */
#include "fs/initrd.h"
#include "kernel/ktest.h"
#include "lib/errno.h"
#include "lib/string.h"
#include "proc/elf.h"

#define NO_INITRD "booted without an initrd (PVH: add -initrd build/initrd.cpio)"

static struct inode *find(struct ktest *t, const char *path, unsigned flags)
{
    struct inode *node = NULL;
    int result = fs_lookup(NULL, path, flags, &node);
    if (result != 0)
        ktest_fail(t, __FILE__, __LINE__, "lookup of %s: %d", path, result);
    return result == 0 ? node : NULL;
}

static void check_program(struct ktest *t, const char *path)
{
    struct inode *node = find(t, path, FS_LOOKUP_FOLLOW);
    if (!node)
        return;
    KT_EXPECT(t, S_ISREG(node->mode));
    KT_EXPECT(t, node->mode & S_IXUSR);
    KT_ASSERT(t, node->size > 4 && memcmp(node->data, "\x7f" "ELF", 4) == 0);
    struct elf_image image;
    int result = elf_parse(node->data, node->size, &image);
    if (result != 0)
        ktest_fail(t, __FILE__, __LINE__, "elf_parse(%s): %d (%s)", path, result, image.error);
    else
        KT_EXPECT(t, image.nsegments > 0 && image.entry != 0);
}

static void hello_is_an_elf_program_elf_parse_accepts(struct ktest *t)
{
    if (!fs_root())
        KT_SKIP(t, NO_INITRD);
    check_program(t, "/bin/hello");
}

static void busybox_is_an_elf_program_elf_parse_accepts(struct ktest *t)
{
    if (!fs_root())
        KT_SKIP(t, NO_INITRD);
    check_program(t, "/bin/busybox");
}

static void applet_links_resolve_to_busybox(struct ktest *t)
{
    if (!fs_root())
        KT_SKIP(t, NO_INITRD);
    struct inode *busybox = find(t, "/bin/busybox", 0);
    struct inode *sh = find(t, "/bin/sh", 0);
    KT_ASSERT(t, busybox && sh);
    KT_EXPECT(t, S_ISLNK(sh->mode));
    KT_EXPECT(t, find(t, "/bin/sh", FS_LOOKUP_FOLLOW) == busybox);
    KT_EXPECT(t, find(t, "/usr/bin/env", FS_LOOKUP_FOLLOW) == busybox);
    KT_EXPECT(t, find(t, "/bin/../bin/./cat", FS_LOOKUP_FOLLOW) == busybox);
}

static void standard_directories_exist(struct ktest *t)
{
    if (!fs_root())
        KT_SKIP(t, NO_INITRD);
    const char *dirs[] = {"/", "/bin", "/etc", "/tmp", "/dev", "/usr/bin"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        struct inode *dir = find(t, dirs[i], 0);
        KT_EXPECT(t, dir && S_ISDIR(dir->mode));
    }
    struct inode *child = NULL;
    KT_EXPECT_EQ(t, fs_readdir(find(t, "/bin", 0), 0, &child), 1);
}

static void lookup_errors_are_linuxs(struct ktest *t)
{
    if (!fs_root())
        KT_SKIP(t, NO_INITRD);
    struct inode *node;
    KT_EXPECT_EQ(t, fs_lookup(NULL, "/no/such/file", 0, &node), -ENOENT);
    KT_EXPECT_EQ(t, fs_lookup(NULL, "", 0, &node), -ENOENT);
    KT_EXPECT_EQ(t, fs_lookup(NULL, "/bin/busybox/", 0, &node), -ENOTDIR);
    KT_EXPECT_EQ(t, fs_lookup(NULL, "/bin/busybox/x", 0, &node), -ENOTDIR);
    KT_EXPECT_EQ(t, fs_lookup(NULL, "/bin/sh/", 0, &node), -ENOTDIR);
    char long_name[300];
    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[0] = '/';
    long_name[sizeof(long_name) - 1] = '\0';
    KT_EXPECT_EQ(t, fs_lookup(NULL, long_name, 0, &node), -ENAMETOOLONG);
    KT_EXPECT_EQ(t, fs_lookup(NULL, "/..", 0, &node), 0);
    KT_EXPECT(t, node == fs_root());
}

KTEST_SUITE(initrd, KTEST(hello_is_an_elf_program_elf_parse_accepts),
            KTEST(busybox_is_an_elf_program_elf_parse_accepts),
            KTEST(applet_links_resolve_to_busybox), KTEST(standard_directories_exist),
            KTEST(lookup_errors_are_linuxs));
