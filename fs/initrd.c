/* The initrd file tree and path lookup: see include/fs/initrd.h. */
#include "fs/initrd.h"

#include <stdbool.h>

#include "fs/cpio.h"
#include "lib/errno.h"
#include "lib/printf.h"
#include "lib/string.h"
#include "mm/heap.h"

static struct inode *root;
static struct initrd_stats stats;
static uint64_t next_ino;

/* A regular file that may be one of several hard links (nlink > 1). */
struct hardlink {
    uint32_t devmajor, devminor;
    uint64_t archive_ino;
    struct inode *node;
};

/* What one initrd_init call is building. */
struct build {
    struct hardlink *links;
    size_t nlinks, links_capacity;
};

/* ---- nodes ------------------------------------------------------------------- */

/* A node with its name stored right after it, linked as dir's last child. */
static struct inode *node_new(struct inode *dir, const char *name, size_t name_len,
                              uint32_t mode)
{
    struct inode *node = kmalloc(sizeof(*node) + name_len + 1);
    if (!node)
        return NULL;
    char *name_copy = (char *)(node + 1);
    memcpy(name_copy, name, name_len);
    name_copy[name_len] = '\0';
    *node = (struct inode){.mode = mode, .ino = next_ino++, .nlink = 1, .name = name_copy};
    node->parent = dir ? dir : node;
    if (dir) {
        struct inode **link = &dir->first_child;
        while (*link)
            link = &(*link)->next_sibling;
        *link = node;
    }
    return node;
}

static struct inode *find_child(const struct inode *dir, const char *name, size_t len)
{
    for (struct inode *c = dir->first_child; c; c = c->next_sibling) {
        if (strncmp(c->name, name, len) == 0 && c->name[len] == '\0')
            return c;
    }
    return NULL;
}

/* Drops what a node owns (a symlink's target), leaving it an empty node. */
static void node_clear_data(struct inode *node)
{
    if (S_ISLNK(node->mode))
        kfree((void *)node->data);
    node->data = NULL;
    node->size = 0;
}

static void free_tree(struct inode *node)
{
    struct inode *child = node->first_child;
    while (child) {
        struct inode *next = child->next_sibling;
        free_tree(child);
        child = next;
    }
    node_clear_data(node);
    kfree(node);
}

/* ---- names ------------------------------------------------------------------- */

/* The next component of name[*pos..len), skipping separators; false at the end. */
static bool next_component(const char *name, size_t len, size_t *pos, const char **comp,
                           size_t *comp_len)
{
    while (*pos < len && name[*pos] == '/')
        (*pos)++;
    if (*pos == len)
        return false;
    size_t start = *pos;
    while (*pos < len && name[*pos] != '/')
        (*pos)++;
    *comp = name + start;
    *comp_len = *pos - start;
    return true;
}

static bool is_dot(const char *comp, size_t len)
{
    return len == 1 && comp[0] == '.';
}

static bool is_dotdot(const char *comp, size_t len)
{
    return len == 2 && comp[0] == '.' && comp[1] == '.';
}

static void skip_entry(const struct cpio_entry *e, const char *why)
{
    kprintf("initrd: %s: %s; skipped\n", e->name, why);
    stats.skipped++;
}

/*
 * Resolves an archive name lexically: *dir is the directory the last component goes
 * in (parents made as needed), *last the component (NULL when the name is a
 * directory already walked, such as "." or "a/b/.."). Returns 0, 1 when the entry is
 * skipped (said on the console), -ENOMEM.
 */
static int resolve_parent(const struct cpio_entry *e, struct inode **dir, const char **last,
                          size_t *last_len)
{
    struct inode *cur = root;
    const char *pending = NULL, *comp;
    size_t pending_len = 0, comp_len, pos = 0;
    while (next_component(e->name, e->name_len, &pos, &comp, &comp_len)) {
        if (is_dot(comp, comp_len))
            continue;
        if (comp_len > FS_NAME_MAX) {
            skip_entry(e, "a component is longer than 255 bytes");
            return 1;
        }
        if (is_dotdot(comp, comp_len)) {
            if (pending)
                pending = NULL;
            else
                cur = cur->parent;
            continue;
        }
        if (pending) {
            struct inode *next = find_child(cur, pending, pending_len);
            if (!next) {
                next = node_new(cur, pending, pending_len, S_IFDIR | 0755);
                if (!next)
                    return -ENOMEM;
                stats.directories++;
            } else if (!S_ISDIR(next->mode)) {
                skip_entry(e, "a parent is not a directory");
                return 1;
            }
            cur = next;
        }
        pending = comp;
        pending_len = comp_len;
    }
    *dir = cur;
    *last = pending;
    *last_len = pending_len;
    return 0;
}

/* ---- entries ----------------------------------------------------------------- */

static void count(uint32_t mode, int delta)
{
    if (S_ISDIR(mode))
        stats.directories += delta;
    else if (S_ISLNK(mode))
        stats.symlinks += delta;
    else
        stats.files += delta;
}

static int remember_hardlink(struct build *b, const struct cpio_entry *e, struct inode *node)
{
    if (b->nlinks == b->links_capacity) {
        size_t capacity = b->links_capacity ? 2 * b->links_capacity : 16;
        struct hardlink *grown = krealloc(b->links, capacity * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        b->links = grown;
        b->links_capacity = capacity;
    }
    b->links[b->nlinks++] = (struct hardlink){e->devmajor, e->devminor, e->ino, node};
    return 0;
}

/* Gives a node the entry's type, metadata and contents. */
static int fill_node(struct build *b, struct inode *node, const struct cpio_entry *e)
{
    uint32_t type = e->mode & S_IFMT;
    uint8_t *target = NULL;
    size_t size = 0;
    if (type == S_IFLNK) {
        size = strnlen((const char *)e->data, e->size); /* a NUL ends it, as in Linux */
        target = kmalloc(size + 1);
        if (!target)
            return -ENOMEM;
        memcpy(target, e->data, size);
        target[size] = '\0';
    } else if (type == S_IFREG) {
        size = e->size;
        if (e->nlink > 1 && remember_hardlink(b, e, node) != 0)
            return -ENOMEM;
    }
    count(node->mode, -1);
    node_clear_data(node);
    node->mode = e->mode & (S_IFMT | S_IALLUGO);
    count(node->mode, 1);
    node->uid = e->uid;
    node->gid = e->gid;
    node->mtime = e->mtime;
    node->nlink = type == S_IFREG && e->nlink > 1 ? e->nlink : 1;
    node->size = size;
    node->data = type == S_IFLNK ? target : type == S_IFREG ? e->data : NULL;
    return 0;
}

/* Adds one archive entry to the tree: 0 (added or skipped), -ENOMEM. */
static int add_entry(struct build *b, const struct cpio_entry *e)
{
    uint32_t type = e->mode & S_IFMT;
    if (type != S_IFDIR && type != S_IFREG && type != S_IFLNK) {
        skip_entry(e, "not a file, directory or symlink");
        return 0;
    }
    if (e->name_len >= FS_PATH_MAX) {
        skip_entry(e, "the name is 4096 bytes or longer");
        return 0;
    }
    if (type == S_IFLNK && strnlen((const char *)e->data, e->size) >= FS_PATH_MAX) {
        skip_entry(e, "the symlink target is 4096 bytes or longer");
        return 0;
    }
    struct inode *dir;
    const char *last;
    size_t last_len;
    int result = resolve_parent(e, &dir, &last, &last_len);
    if (result != 0)
        return result < 0 ? result : 0;
    struct inode *node = last ? find_child(dir, last, last_len) : dir;
    if (node && S_ISDIR(node->mode) && type != S_IFDIR && (node->first_child || node == root)) {
        skip_entry(e, "would replace a non-empty directory");
        return 0;
    }
    if (!node) {
        node = node_new(dir, last, last_len, type);
        if (!node)
            return -ENOMEM;
        count(node->mode, 1);
    }
    return fill_node(b, node, e);
}

/* Each hard link without data takes the data of one with data, and its inode number. */
static void join_hardlinks(struct build *b)
{
    for (size_t i = 0; i < b->nlinks; i++) {
        struct hardlink *with_data = &b->links[i];
        if (!S_ISREG(with_data->node->mode) || with_data->node->size == 0)
            continue;
        for (size_t j = 0; j < b->nlinks; j++) {
            struct hardlink *other = &b->links[j];
            if (j == i || other->devmajor != with_data->devmajor ||
                other->devminor != with_data->devminor ||
                other->archive_ino != with_data->archive_ino ||
                !S_ISREG(other->node->mode) || other->node->size != 0)
                continue;
            other->node->data = with_data->node->data;
            other->node->size = with_data->node->size;
            other->node->ino = with_data->node->ino;
        }
    }
}

static void count_subdirectories(struct inode *dir)
{
    dir->nlink = 2;
    for (struct inode *c = dir->first_child; c; c = c->next_sibling) {
        if (S_ISDIR(c->mode)) {
            dir->nlink++;
            count_subdirectories(c);
        }
    }
}

void initrd_reset(void)
{
    if (root)
        free_tree(root);
    root = NULL;
    stats = (struct initrd_stats){0};
}

static int build_tree(struct build *b, const uint8_t *archive, size_t size)
{
    size_t offset = 0;
    for (;;) {
        struct cpio_entry e;
        size_t entry_offset = offset;
        int result = cpio_next(archive, size, &offset, &e);
        if (result == 0)
            return 0;
        if (result < 0) {
            kprintf("initrd: bad cpio archive at byte %zu of %zu: %s\n", entry_offset, size,
                    e.error);
            return result;
        }
        if (add_entry(b, &e) != 0) {
            kprintf("initrd: out of memory at entry %s\n", e.name);
            return -ENOMEM;
        }
    }
}

int initrd_init(const void *archive, size_t size)
{
    initrd_reset();
    next_ino = 1;
    root = node_new(NULL, "", 0, S_IFDIR | 0755);
    if (!root) {
        kprintf("initrd: out of memory for the root directory\n");
        return -ENOMEM;
    }
    stats.directories = 1;
    struct build b = {0};
    int result = build_tree(&b, archive, size);
    if (result == 0) {
        join_hardlinks(&b);
        count_subdirectories(root);
        stats.archive_bytes = size;
    }
    kfree(b.links);
    if (result != 0)
        initrd_reset();
    return result;
}

void initrd_get_stats(struct initrd_stats *out)
{
    *out = stats;
}

struct inode *fs_root(void)
{
    return root;
}

/* ---- lookup ------------------------------------------------------------------ */

static int walk(struct inode *start, const char *path, unsigned flags, int *links_followed,
                struct inode **out);

static int follow(struct inode *link, int *links_followed, struct inode **out)
{
    if (++*links_followed > FS_MAX_SYMLINKS)
        return -ELOOP;
    if (link->size == 0)
        return -ENOENT;
    return walk(link->parent, (const char *)link->data, FS_LOOKUP_FOLLOW, links_followed, out);
}

static int walk(struct inode *start, const char *path, unsigned flags, int *links_followed,
                struct inode **out)
{
    struct inode *cur = path[0] == '/' ? root : start;
    const char *p = path;
    for (;;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *comp = p;
        while (*p && *p != '/')
            p++;
        size_t len = (size_t)(p - comp);
        const char *rest = p;
        while (*rest == '/')
            rest++;
        bool last = *rest == '\0', trailing_slash = *p == '/';
        if (!S_ISDIR(cur->mode))
            return -ENOTDIR;
        if (len > FS_NAME_MAX)
            return -ENAMETOOLONG;
        struct inode *next = cur;
        if (is_dotdot(comp, len))
            next = cur->parent;
        else if (!is_dot(comp, len) && !(next = find_child(cur, comp, len)))
            return -ENOENT;
        if (S_ISLNK(next->mode) && (!last || trailing_slash || (flags & FS_LOOKUP_FOLLOW))) {
            int result = follow(next, links_followed, &next);
            if (result != 0)
                return result;
        }
        if (last && trailing_slash && !S_ISDIR(next->mode))
            return -ENOTDIR;
        cur = next;
    }
    *out = cur;
    return 0;
}

int fs_lookup(struct inode *cwd, const char *path, unsigned flags, struct inode **out)
{
    if (strnlen(path, FS_PATH_MAX) == FS_PATH_MAX)
        return -ENAMETOOLONG;
    if (!root || path[0] == '\0')
        return -ENOENT;
    int links_followed = 0;
    return walk(cwd ? cwd : root, path, flags, &links_followed, out);
}

int fs_readdir(struct inode *dir, size_t index, struct inode **out)
{
    if (!S_ISDIR(dir->mode))
        return -ENOTDIR;
    struct inode *c = dir->first_child;
    while (c && index--)
        c = c->next_sibling;
    if (!c)
        return 0;
    *out = c;
    return 1;
}
