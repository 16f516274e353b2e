/*
 * Host tests of fs/initrd.c: the tree built from an archive (implicit parents, name
 * normalisation, duplicates, hard links, skipped types, malformed archives, running
 * out of memory at every allocation) and path lookup with every error Linux gives.
 * kmalloc and friends are malloc underneath, with an injectable failure, so ASan's
 * leak check sees anything the tree forgets to free.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpio_builder.h"
#include "fs/initrd.h"
#include "lib/errno.h"
#include "mm/heap.h"
#include "shim.h"

#define MUTATION_ROUNDS 3000

/* ---- a heap that can fail ---------------------------------------------------- */

static long allocations_until_failure = -1; /* -1: never fail */
static long live_allocations;

static bool allocation_fails(void)
{
    if (allocations_until_failure < 0)
        return false;
    return allocations_until_failure-- == 0;
}

void *kmalloc(size_t size)
{
    if (allocation_fails())
        return NULL;
    void *p = malloc(size);
    if (p)
        live_allocations++;
    return p;
}

void kfree(void *ptr)
{
    if (ptr)
        live_allocations--;
    free(ptr);
}

void *krealloc(void *ptr, size_t size)
{
    if (!ptr)
        return kmalloc(size);
    if (allocation_fails())
        return NULL;
    return realloc(ptr, size);
}

/* ---- helpers ----------------------------------------------------------------- */

static uint8_t *archive; /* the exact copy the tree points into */

static int load(struct cpio_builder *b)
{
    initrd_reset();
    free(archive);
    archive = cb_exact_copy(b);
    shim_clear_log();
    return initrd_init(archive, b->len);
}

static struct inode *must_find(const char *path, unsigned flags)
{
    struct inode *node = NULL;
    int result = fs_lookup(NULL, path, flags, &node);
    if (result != 0) {
        fprintf(stderr, "lookup of %s failed: %d\n", path, result);
        check_failures_in_test++;
        return fs_root();
    }
    return node;
}

static int lookup_error(struct inode *cwd, const char *path, unsigned flags)
{
    struct inode *node = NULL;
    return fs_lookup(cwd, path, flags, &node);
}

static void sample_entries(struct cpio_builder *b)
{
    cb_entry(b, "bin", S_IFDIR | 0755, NULL);
    cb_entry(b, "bin/busybox", S_IFREG | 0755, "\x7f" "ELF busybox");
    cb_entry(b, "bin/sh", S_IFLNK | 0777, "busybox");
    cb_entry(b, "usr/bin/env", S_IFLNK | 0777, "/bin/busybox");
    cb_entry(b, "etc/motd", S_IFREG | 0644, "welcome\n");
    cb_entry(b, "lib", S_IFLNK | 0777, "usr/lib");
    cb_entry(b, "usr/lib/libc.txt", S_IFREG | 0600, "musl");
    cb_entry(b, "up", S_IFLNK | 0777, "usr/bin/..");
    cb_entry(b, "dangling", S_IFLNK | 0777, "nowhere");
    cb_entry(b, "empty", S_IFLNK | 0777, "");
    cb_entry(b, "self", S_IFLNK | 0777, "self");
    cb_entry(b, "motdlink", S_IFLNK | 0777, "/etc/motd");
}

static void sample_tree(struct cpio_builder *b)
{
    sample_entries(b);
    cb_trailer(b);
}

/* ---- building ---------------------------------------------------------------- */

static void test_tree_has_files_dirs_symlinks_and_implicit_parents(void)
{
    struct cpio_builder b = {0};
    sample_tree(&b);
    CHECK_EQ_INT(load(&b), 0);
    struct inode *root = fs_root();
    CHECK(root && S_ISDIR(root->mode) && root->parent == root && root->ino == 1);
    struct inode *busybox = must_find("/bin/busybox", 0);
    CHECK(S_ISREG(busybox->mode));
    CHECK_EQ_U64(busybox->mode & 07777, 0755);
    CHECK_EQ_U64(busybox->size, 12);
    CHECK(busybox->data >= archive && busybox->data + busybox->size <= archive + b.len);
    CHECK_EQ_U64(busybox->uid, 1000);
    CHECK_EQ_U64(busybox->gid, 100);
    CHECK_EQ_U64(busybox->mtime, 1700000000);
    CHECK_EQ_STR(busybox->name, "busybox");
    struct inode *usr_bin = must_find("/usr/bin", 0);
    CHECK(S_ISDIR(usr_bin->mode)); /* never named by an entry */
    CHECK_EQ_U64(usr_bin->mode & 07777, 0755);
    struct inode *sh = must_find("/bin/sh", 0);
    CHECK(S_ISLNK(sh->mode));
    CHECK_EQ_STR((const char *)sh->data, "busybox");
    CHECK_EQ_U64(sh->size, 7);
    CHECK_EQ_U64(root->nlink, 2 + 3); /* bin, usr, etc */
    CHECK_EQ_U64(must_find("/usr", 0)->nlink, 4);
    struct initrd_stats stats;
    initrd_get_stats(&stats);
    CHECK_EQ_U64(stats.files, 3);
    CHECK_EQ_U64(stats.symlinks, 8);
    CHECK_EQ_U64(stats.directories, 6);
    CHECK_EQ_U64(stats.skipped, 0);
    CHECK_EQ_U64(stats.archive_bytes, b.len);
    cb_free(&b);
}

static void test_inode_numbers_are_unique(void)
{
    struct cpio_builder b = {0};
    sample_tree(&b);
    CHECK_EQ_INT(load(&b), 0);
    const char *paths[] = {"/", "/bin", "/bin/busybox", "/bin/sh", "/usr", "/usr/bin",
                           "/etc/motd", "/lib", "/usr/lib/libc.txt"};
    size_t n = sizeof(paths) / sizeof(paths[0]);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++)
            CHECK(must_find(paths[i], 0)->ino != must_find(paths[j], 0)->ino);
    }
    cb_free(&b);
}

static void test_names_are_normalised(void)
{
    struct cpio_builder b = {0};
    cb_entry(&b, ".", S_IFDIR | 0700, NULL);
    cb_entry(&b, "./a/b", S_IFREG | 0644, "1");
    cb_entry(&b, "/c", S_IFREG | 0644, "2");
    cb_entry(&b, "d//e/./f", S_IFREG | 0644, "3");
    cb_entry(&b, "g/h/../i", S_IFREG | 0644, "4");
    cb_entry(&b, "../../j", S_IFREG | 0644, "5");
    cb_entry(&b, "a/", S_IFDIR | 0711, NULL);
    cb_trailer(&b);
    CHECK_EQ_INT(load(&b), 0);
    CHECK_EQ_U64(fs_root()->mode, S_IFDIR | 0700);
    CHECK_EQ_U64(must_find("/a/b", 0)->size, 1);
    CHECK_EQ_U64(must_find("/a", 0)->mode, S_IFDIR | 0711);
    CHECK(*must_find("/c", 0)->data == '2');
    CHECK(*must_find("/d/e/f", 0)->data == '3');
    CHECK(*must_find("/g/i", 0)->data == '4');
    CHECK_EQ_INT(lookup_error(NULL, "/g/h", 0), -ENOENT);
    CHECK(*must_find("/j", 0)->data == '5');
    cb_free(&b);
}

static void test_later_duplicate_wins(void)
{
    struct cpio_builder b = {0};
    cb_entry(&b, "f", S_IFREG | 0644, "old");
    cb_entry(&b, "f", S_IFREG | 0600, "newer");
    cb_entry(&b, "link", S_IFLNK | 0777, "f");
    cb_entry(&b, "link", S_IFREG | 0644, "now a file");
    cb_entry(&b, "file2dir", S_IFREG | 0644, "x");
    cb_entry(&b, "file2dir", S_IFDIR | 0755, NULL);
    cb_entry(&b, "emptydir", S_IFDIR | 0755, NULL);
    cb_entry(&b, "emptydir", S_IFLNK | 0777, "f");
    cb_entry(&b, "full/x", S_IFREG | 0644, "x");
    cb_entry(&b, "full", S_IFREG | 0644, "not replacing");
    cb_entry(&b, "full", S_IFDIR | 0700, NULL);
    cb_trailer(&b);
    CHECK_EQ_INT(load(&b), 0);
    struct inode *f = must_find("/f", 0);
    CHECK_EQ_U64(f->size, 5);
    CHECK(memcmp(f->data, "newer", 5) == 0);
    CHECK_EQ_U64(f->mode, S_IFREG | 0600);
    CHECK_EQ_U64(must_find("/link", 0)->mode, S_IFREG | 0644);
    CHECK(S_ISDIR(must_find("/file2dir", 0)->mode));
    CHECK_EQ_U64(must_find("/file2dir", 0)->size, 0);
    CHECK(S_ISLNK(must_find("/emptydir", 0)->mode));
    CHECK_EQ_U64(must_find("/full", 0)->mode, S_IFDIR | 0700);
    CHECK(must_find("/full/x", 0) != NULL);
    CHECK(strstr(shim_log, "full: would replace a non-empty directory; skipped") != NULL);
    struct initrd_stats stats;
    initrd_get_stats(&stats);
    CHECK_EQ_U64(stats.files, 3);    /* f, link, full/x */
    CHECK_EQ_U64(stats.symlinks, 1); /* emptydir */
    CHECK_EQ_U64(stats.directories, 3);
    CHECK_EQ_U64(stats.skipped, 1);
    int order = 0;
    struct inode *child;
    for (size_t i = 0; fs_readdir(fs_root(), i, &child) == 1; i++)
        order++;
    CHECK_EQ_INT(order, 5); /* each name once */
    cb_free(&b);
}

static void test_other_types_and_bad_names_are_skipped_with_a_line(void)
{
    struct cpio_builder b = {0};
    cb_entry(&b, "dev/console", S_IFCHR | 0600, NULL);
    cb_entry(&b, "dev/sda", S_IFBLK | 0600, NULL);
    cb_entry(&b, "fifo", S_IFIFO | 0600, NULL);
    cb_entry(&b, "sock", S_IFSOCK | 0600, NULL);
    cb_entry(&b, "nomode", 0, NULL);
    char long_name[300];
    memset(long_name, 'n', 256);
    long_name[256] = '\0';
    cb_entry(&b, long_name, S_IFREG | 0644, "x");
    cb_entry(&b, "file", S_IFREG | 0644, "x");
    cb_entry(&b, "file/inside", S_IFREG | 0644, "x");
    cb_entry(&b, "/", S_IFREG | 0644, "x");
    cb_trailer(&b);
    CHECK_EQ_INT(load(&b), 0);
    CHECK(strstr(shim_log, "initrd: dev/console: not a file, directory or symlink; skipped"));
    CHECK(strstr(shim_log, "initrd: fifo: not a file"));
    CHECK(strstr(shim_log, "a component is longer than 255 bytes; skipped"));
    CHECK(strstr(shim_log, "initrd: file/inside: a parent is not a directory; skipped"));
    CHECK(strstr(shim_log, "initrd: /: would replace a non-empty directory"));
    struct initrd_stats stats;
    initrd_get_stats(&stats);
    CHECK_EQ_U64(stats.skipped, 8);
    CHECK_EQ_U64(stats.files, 1);
    CHECK_EQ_INT(lookup_error(NULL, "/dev/console", 0), -ENOENT);
    CHECK(S_ISDIR(must_find("/", 0)->mode));
    cb_free(&b);
}

static void test_hard_links_share_data_and_inode(void)
{
    struct cpio_builder b = {0};
    cb_entry_full(&b, "a", S_IFREG | 0755, 42, 3, NULL, 0);
    cb_entry_full(&b, "b", S_IFREG | 0755, 42, 3, NULL, 0);
    cb_entry_full(&b, "c", S_IFREG | 0755, 42, 3, "shared", 6);
    cb_entry_full(&b, "other", S_IFREG | 0644, 43, 2, NULL, 0);
    cb_trailer(&b);
    CHECK_EQ_INT(load(&b), 0);
    struct inode *a = must_find("/a", 0), *bb = must_find("/b", 0), *c = must_find("/c", 0);
    CHECK_EQ_U64(a->size, 6);
    CHECK(a->data == c->data && bb->data == c->data);
    CHECK(a->ino == c->ino && bb->ino == c->ino);
    CHECK_EQ_U64(a->nlink, 3);
    CHECK_EQ_U64(must_find("/other", 0)->size, 0); /* its data never came */
    cb_free(&b);
}

static void test_symlink_target_stops_at_nul(void)
{
    struct cpio_builder b = {0};
    cb_entry(&b, "target", S_IFREG | 0644, "x");
    cb_entry_full(&b, "link", S_IFLNK | 0777, 0, 1, "target\0junk", 11);
    cb_trailer(&b);
    CHECK_EQ_INT(load(&b), 0);
    CHECK_EQ_U64(must_find("/link", 0)->size, 6);
    CHECK(must_find("/link", FS_LOOKUP_FOLLOW) == must_find("/target", 0));
    cb_free(&b);
}

static void test_malformed_archive_leaves_no_tree(void)
{
    struct cpio_builder b = {0};
    sample_tree(&b);
    b.buf[b.len - 124] = 'z'; /* the trailer's magic */
    CHECK_EQ_INT(load(&b), -EINVAL);
    CHECK(fs_root() == NULL);
    CHECK(strstr(shim_log, "initrd: bad cpio archive at byte ") != NULL);
    CHECK(strstr(shim_log, "bad magic") != NULL);
    CHECK_EQ_INT(lookup_error(NULL, "/", 0), -ENOENT);
    CHECK_EQ_INT(live_allocations, 0);
    struct initrd_stats stats;
    initrd_get_stats(&stats);
    CHECK_EQ_U64(stats.files + stats.directories, 0);
    cb_free(&b);
}

static void test_out_of_memory_at_each_allocation_cleans_up(void)
{
    struct cpio_builder b = {0};
    sample_entries(&b);
    cb_entry_full(&b, "h1", S_IFREG | 0755, 9, 2, NULL, 0);
    cb_entry_full(&b, "h2", S_IFREG | 0755, 9, 2, "x", 1);
    cb_trailer(&b);
    int failures = 0;
    for (long n = 0;; n++) {
        allocations_until_failure = n;
        int result = load(&b);
        allocations_until_failure = -1;
        if (result == 0)
            break;
        CHECK_EQ_INT(result, -ENOMEM);
        CHECK(fs_root() == NULL);
        CHECK_EQ_INT(live_allocations, 0);
        CHECK(strstr(shim_log, "initrd: out of memory") != NULL);
        failures++;
    }
    CHECK(failures > 10);
    CHECK(must_find("/h1", 0)->data == must_find("/h2", 0)->data);
    initrd_reset();
    CHECK_EQ_INT(live_allocations, 0);
    cb_free(&b);
}

/* ---- lookup ------------------------------------------------------------------ */

static void test_lookup_absolute_relative_dot_and_dotdot(void)
{
    struct cpio_builder b = {0};
    sample_tree(&b);
    CHECK_EQ_INT(load(&b), 0);
    struct inode *root = fs_root(), *bin = must_find("/bin", 0);
    struct inode *node;
    CHECK_EQ_INT(fs_lookup(bin, "busybox", 0, &node), 0);
    CHECK(node == must_find("/bin/busybox", 0));
    CHECK_EQ_INT(fs_lookup(bin, "../etc/motd", 0, &node), 0);
    CHECK(node == must_find("/etc/motd", 0));
    CHECK_EQ_INT(fs_lookup(bin, "/", 0, &node), 0);
    CHECK(node == root);
    CHECK_EQ_INT(fs_lookup(bin, ".", 0, &node), 0);
    CHECK(node == bin);
    CHECK_EQ_INT(fs_lookup(NULL, "/../../..", 0, &node), 0);
    CHECK(node == root);
    CHECK_EQ_INT(fs_lookup(NULL, "..//./bin//", 0, &node), 0);
    CHECK(node == bin);
    CHECK_EQ_INT(fs_lookup(NULL, "bin/./busybox", 0, &node), 0);
    CHECK(node == must_find("/bin/busybox", 0));
    CHECK_EQ_INT(fs_lookup(root, "usr/bin/../../bin/.", 0, &node), 0);
    CHECK(node == bin);
    cb_free(&b);
}

static void test_lookup_follows_symlinks_like_linux(void)
{
    struct cpio_builder b = {0};
    sample_tree(&b);
    CHECK_EQ_INT(load(&b), 0);
    struct inode *busybox = must_find("/bin/busybox", 0);
    CHECK(S_ISLNK(must_find("/bin/sh", 0)->mode));              /* final link kept */
    CHECK(must_find("/bin/sh", FS_LOOKUP_FOLLOW) == busybox);    /* relative to /bin */
    CHECK(must_find("/usr/bin/env", FS_LOOKUP_FOLLOW) == busybox); /* absolute */
    CHECK(must_find("/lib/libc.txt", 0) == must_find("/usr/lib/libc.txt", 0)); /* middle */
    CHECK(must_find("/lib/", 0) == must_find("/usr/lib", 0)); /* trailing slash follows */
    CHECK(S_ISLNK(must_find("/lib", 0)->mode));
    CHECK(must_find("/lib/..", 0) == must_find("/usr", 0)); /* .. of the target */
    CHECK(must_find("/up", FS_LOOKUP_FOLLOW) == must_find("/usr", 0));
    struct inode *bin = must_find("/bin", 0), *node;
    CHECK_EQ_INT(fs_lookup(bin, "sh", FS_LOOKUP_FOLLOW, &node), 0);
    CHECK(node == busybox);
    CHECK_EQ_INT(lookup_error(NULL, "/dangling", FS_LOOKUP_FOLLOW), -ENOENT);
    CHECK_EQ_INT(lookup_error(NULL, "/dangling", 0), 0);
    CHECK_EQ_INT(lookup_error(NULL, "/empty", FS_LOOKUP_FOLLOW), -ENOENT);
    CHECK_EQ_INT(lookup_error(NULL, "/empty/x", 0), -ENOENT);
    CHECK_EQ_INT(lookup_error(NULL, "/self", FS_LOOKUP_FOLLOW), -ELOOP);
    CHECK_EQ_INT(lookup_error(NULL, "/self", 0), 0);
    CHECK_EQ_INT(lookup_error(NULL, "/self/x", 0), -ELOOP);
    CHECK_EQ_INT(lookup_error(NULL, "/motdlink/", 0), -ENOTDIR);
    CHECK_EQ_INT(lookup_error(NULL, "/motdlink/x", 0), -ENOTDIR);
    cb_free(&b);
}

static void test_forty_links_resolve_and_forty_one_loop(void)
{
    struct cpio_builder b = {0};
    cb_entry(&b, "target", S_IFREG | 0644, "x");
    char name[16], target[16];
    for (int i = 1; i <= 41; i++) {
        snprintf(name, sizeof(name), "l%d", i);
        snprintf(target, sizeof(target), i == 1 ? "target" : "l%d", i - 1);
        cb_entry(&b, name, S_IFLNK | 0777, target);
    }
    cb_trailer(&b);
    CHECK_EQ_INT(load(&b), 0);
    CHECK(must_find("/l40", FS_LOOKUP_FOLLOW) == must_find("/target", 0));
    CHECK_EQ_INT(lookup_error(NULL, "/l41", FS_LOOKUP_FOLLOW), -ELOOP);
    CHECK_EQ_INT(lookup_error(NULL, "/l41", 0), 0);
    cb_free(&b);
}

static void test_lookup_errors(void)
{
    struct cpio_builder b = {0};
    sample_tree(&b);
    CHECK_EQ_INT(load(&b), 0);
    struct inode *motd = must_find("/etc/motd", 0);
    CHECK_EQ_INT(lookup_error(NULL, "", 0), -ENOENT);
    CHECK_EQ_INT(lookup_error(NULL, "/nope", 0), -ENOENT);
    CHECK_EQ_INT(lookup_error(NULL, "/nope/x", 0), -ENOENT);
    CHECK_EQ_INT(lookup_error(NULL, "/etc/motd/", 0), -ENOTDIR);
    CHECK_EQ_INT(lookup_error(NULL, "/etc/motd/.", 0), -ENOTDIR);
    CHECK_EQ_INT(lookup_error(NULL, "/etc/motd/..", 0), -ENOTDIR);
    CHECK_EQ_INT(lookup_error(NULL, "/etc/motd/x", 0), -ENOTDIR);
    CHECK_EQ_INT(lookup_error(motd, "x", 0), -ENOTDIR);
    CHECK_EQ_INT(lookup_error(motd, "/etc", 0), 0);
    char name[300];
    memset(name, 'a', 256);
    name[0] = '/';
    name[256] = '\0'; /* a 255-byte component */
    CHECK_EQ_INT(lookup_error(NULL, name, 0), -ENOENT);
    name[256] = 'a';
    name[257] = '\0'; /* 256 bytes */
    CHECK_EQ_INT(lookup_error(NULL, name, 0), -ENAMETOOLONG);
    char *path = malloc(FS_PATH_MAX + 1);
    for (int i = 0; i < FS_PATH_MAX; i += 2)
        memcpy(path + i, "./", 2);
    path[FS_PATH_MAX - 1] = '\0'; /* 4095 bytes: allowed */
    CHECK_EQ_INT(lookup_error(NULL, path, 0), 0);
    path[FS_PATH_MAX - 1] = '.';
    path[FS_PATH_MAX] = '\0'; /* 4096 bytes */
    CHECK_EQ_INT(lookup_error(NULL, path, 0), -ENAMETOOLONG);
    free(path);
    initrd_reset();
    CHECK_EQ_INT(lookup_error(NULL, "/", 0), -ENOENT);
    CHECK(fs_root() == NULL);
    cb_free(&b);
}

static void test_readdir_lists_children_in_archive_order(void)
{
    struct cpio_builder b = {0};
    sample_tree(&b);
    CHECK_EQ_INT(load(&b), 0);
    const char *expected[] = {"bin", "usr", "etc", "lib", "up", "dangling", "empty", "self",
                              "motdlink"};
    struct inode *child;
    size_t i = 0;
    int result;
    while ((result = fs_readdir(fs_root(), i, &child)) == 1) {
        if (i < sizeof(expected) / sizeof(expected[0]))
            CHECK_EQ_STR(child->name, expected[i]);
        CHECK(child->parent == fs_root());
        i++;
    }
    CHECK_EQ_INT(result, 0);
    CHECK_EQ_U64(i, sizeof(expected) / sizeof(expected[0]));
    CHECK_EQ_INT(fs_readdir(must_find("/etc/motd", 0), 0, &child), -ENOTDIR);
    CHECK_EQ_INT(fs_readdir(must_find("/bin/sh", 0), 0, &child), -ENOTDIR);
    CHECK_EQ_INT(fs_readdir(must_find("/usr/lib", 0), 1, &child), 0);
    cb_free(&b);
}

/* ---- random archives --------------------------------------------------------- */

static uint64_t rng_state = 0x13198a2e03707344ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* Every node of a built tree: a typed inode, a proper name, data inside the archive
 * (files) or a NUL-terminated target (links), found again by lookup from its parent. */
static void check_tree(struct inode *dir, const uint8_t *a, size_t len, int depth)
{
    CHECK(depth < 64);
    struct inode *child;
    for (size_t i = 0; fs_readdir(dir, i, &child) == 1; i++) {
        CHECK(child->parent == dir);
        CHECK(child->name[0] != '\0' && strchr(child->name, '/') == NULL);
        CHECK(strcmp(child->name, ".") != 0 && strcmp(child->name, "..") != 0);
        if (S_ISREG(child->mode))
            CHECK(child->size == 0 || (child->data >= a && child->data + child->size <= a + len));
        else if (S_ISLNK(child->mode))
            CHECK(strlen((const char *)child->data) == child->size);
        else
            CHECK(S_ISDIR(child->mode));
        struct inode *found;
        CHECK_EQ_INT(fs_lookup(dir, child->name, 0, &found), 0);
        CHECK(found == child);
        if (S_ISDIR(child->mode))
            check_tree(child, a, len, depth + 1);
    }
}

static void test_random_archives_build_consistent_trees(void)
{
    static const char *parts[] = {"a", "b", ".", "..", "", "c/d", "/", "x", "bin", "./"};
    static const uint32_t types[] = {S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFIFO};
    for (int round = 0; round < MUTATION_ROUNDS; round++) {
        struct cpio_builder b = {0};
        int entries = 1 + (int)(rng() % 12);
        for (int i = 0; i < entries; i++) {
            char name[64] = "";
            int nparts = 1 + (int)(rng() % 4);
            for (int p = 0; p < nparts; p++) {
                strcat(name, parts[rng() % 10]);
                if (p + 1 < nparts)
                    strcat(name, "/");
            }
            if (!name[0])
                strcpy(name, "e");
            char data[16];
            snprintf(data, sizeof(data), "%s", parts[rng() % 10]);
            cb_entry_full(&b, name, types[rng() % 5] | 0644, (uint32_t)(rng() % 4),
                          (uint32_t)(1 + rng() % 3), data, rng() % 2 ? strlen(data) : 0);
        }
        cb_trailer(&b);
        if (rng() % 3 == 0)
            b.buf[rng() % b.len] ^= (uint8_t)(1 + rng() % 255);
        int result = load(&b);
        CHECK(result == 0 || result == -EINVAL);
        if (result == 0) {
            check_tree(fs_root(), archive, b.len, 0);
            struct inode *node;
            for (int i = 0; i < 8; i++) {
                char path[32];
                snprintf(path, sizeof(path), "%s/%s", parts[rng() % 10], parts[rng() % 10]);
                int r = fs_lookup(NULL, path, rng() % 2 ? FS_LOOKUP_FOLLOW : 0, &node);
                CHECK(r == 0 || r == -ENOENT || r == -ENOTDIR || r == -ELOOP);
            }
        }
        cb_free(&b);
    }
    initrd_reset();
    CHECK_EQ_INT(live_allocations, 0);
}

int main(void)
{
    check_program = "test_initrd";
    RUN(test_tree_has_files_dirs_symlinks_and_implicit_parents);
    RUN(test_inode_numbers_are_unique);
    RUN(test_names_are_normalised);
    RUN(test_later_duplicate_wins);
    RUN(test_other_types_and_bad_names_are_skipped_with_a_line);
    RUN(test_hard_links_share_data_and_inode);
    RUN(test_symlink_target_stops_at_nul);
    RUN(test_malformed_archive_leaves_no_tree);
    RUN(test_out_of_memory_at_each_allocation_cleans_up);
    RUN(test_lookup_absolute_relative_dot_and_dotdot);
    RUN(test_lookup_follows_symlinks_like_linux);
    RUN(test_forty_links_resolve_and_forty_one_loop);
    RUN(test_lookup_errors);
    RUN(test_readdir_lists_children_in_archive_order);
    RUN(test_random_archives_build_consistent_trees);
    initrd_reset();
    free(archive);
    return check_summary();
}
