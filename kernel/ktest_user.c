/*
 * The user-space suites: programs in the initrd's /tests (user/tests/, built
 * with musl) that print KTAP of their own. Each runs as a process whose output
 * (fds 1 and 2) goes to a capture file instead of the console: the capture
 * indents every line into the kernel's KTAP as one nested suite, counts the
 * results itself, and replaces the program's own header and totals with the
 * kernel's, so the harness and kunit.py see one report.
 *
 * A suite fails, beyond its own `not ok` lines, when the program is killed, exits
 * with a non-zero status while reporting no failure, prints no plan, or reports
 * fewer or more results than its plan.
 */
#include "kernel/ktest_user.h"

#include "arch/uaccess.h"
#include "fs/initrd.h"
#include "fs/stat.h"
#include "lib/printf.h"
#include "mm/frame.h"
#include "lib/string.h"
#include "proc/process.h"
#include "sched/sync.h"

#define SUBTEST_INDENT "    "
#define LINE_BYTES 256
#define DEFAULT_LIST "/tests/default"
/* The suites are sized, like the in-kernel ones, for a machine of 32 MiB (1,000
 * threads, 100 live processes); below that each is skipped saying so. */
#define USER_SUITES_MIN_RAM_BYTES (32ull << 20)

struct capture {
    struct mutex lock; /* the suite and its children may write at once */
    char line[LINE_BYTES];
    size_t len;
    int planned; /* -1 until the plan line */
    struct ktest_totals totals;
};

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* KTAP's directive: `ok N name # SKIP reason`. */
static bool is_skip(const char *l)
{
    for (; *l; l++) {
        if (starts_with(l, "# SKIP"))
            return true;
    }
    return false;
}

static void capture_line(struct capture *c)
{
    c->line[c->len] = '\0';
    const char *l = c->line;
    c->len = 0;
    if (strcmp(l, "KTAP version 1") == 0 || starts_with(l, "# Totals:"))
        return; /* the kernel prints its own header and count */
    if (starts_with(l, "1..") && c->planned < 0) {
        unsigned long long n;
        if (parse_u64(l + 3, strlen(l + 3), &n) && n < 100000)
            c->planned = (int)n;
    } else if (starts_with(l, "not ok ")) {
        c->totals.failed++;
    } else if (starts_with(l, "ok ")) {
        if (is_skip(l))
            c->totals.skipped++;
        else
            c->totals.passed++;
    }
    char escaped[4 * LINE_BYTES];
    str_escape(escaped, sizeof(escaped), l, strlen(l));
    kprintf(SUBTEST_INDENT "%s\n", escaped);
}

static void capture_bytes(struct capture *c, const char *bytes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (bytes[i] == '\n' || c->len == LINE_BYTES - 1) {
            capture_line(c);
            if (bytes[i] == '\n')
                continue;
        }
        c->line[c->len++] = bytes[i];
    }
}

static long capture_write(struct file *f, uintptr_t user_buf, size_t len)
{
    struct capture *c = f->private;
    char chunk[128];
    size_t done = 0;
    while (done < len) {
        size_t n = len - done < sizeof(chunk) ? len - done : sizeof(chunk);
        if (copy_from_user(chunk, user_buf + done, n))
            return done ? (long)done : -EFAULT;
        mutex_lock(&c->lock);
        capture_bytes(c, chunk, n);
        mutex_unlock(&c->lock);
        done += n;
    }
    return (long)done;
}

static const struct file_ops capture_ops = {.write = capture_write};

/* Whether `name` is a line of the default list (a file of names, one per line). */
static bool listed(const struct inode *list, const char *name)
{
    size_t n = strlen(name);
    const char *p = (const char *)list->data, *end = p + list->size;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        if ((size_t)(line_end - p) == n && memcmp(p, name, n) == 0)
            return true;
        p = line_end + 1;
    }
    return false;
}

/*
 * "*" (everything, the default, perhaps with exclusions: "*,!user_fuzz") takes
 * the suites named in /tests/default: those Exo is expected to pass. Any other
 * glob list takes every suite it matches, so `test=user_*` runs them all.
 */
static bool selected(const char *glob, const char *name, const struct inode *default_list)
{
    if (!glob_list_match(glob, name))
        return false;
    if (glob_list_is_everything(glob))
        return default_list && listed(default_list, name);
    return true;
}

/* Calls visit for each selected suite, in the directory's (sorted) order. */
static size_t for_each_suite(const char *glob, void (*visit)(void *ctx, const struct inode *),
                             void *ctx)
{
    struct inode *dir, *default_list = NULL, *entry;
    if (fs_lookup(NULL, "/tests", FS_LOOKUP_FOLLOW, &dir) != 0)
        return 0;
    if (fs_lookup(NULL, DEFAULT_LIST, FS_LOOKUP_FOLLOW, &default_list) != 0 ||
        (default_list->mode & S_IFMT) != S_IFREG)
        default_list = NULL;
    size_t count = 0;
    for (size_t i = 0; fs_readdir(dir, i, &entry) == 1; i++) {
        if ((entry->mode & S_IFMT) != S_IFREG || !starts_with(entry->name, "user_") ||
            !selected(glob, entry->name, default_list))
            continue;
        count++;
        if (visit)
            visit(ctx, entry);
    }
    return count;
}

size_t ktest_user_count(const char *glob)
{
    return for_each_suite(glob, NULL, NULL);
}

struct run {
    uint64_t seed;
    size_t *number;
    struct ktest_totals *totals;
};

static void judge(struct capture *c, const char *name, int status, int spawn_error)
{
    if (spawn_error) {
        kprintf(SUBTEST_INDENT "# %s: cannot start it (error %d)\n", name, spawn_error);
        c->totals.failed++;
        return;
    }
    if (!PROCESS_EXITED(status)) {
        kprintf(SUBTEST_INDENT "# %s: killed by signal %d\n", name, PROCESS_SIGNAL(status));
        c->totals.failed++;
    } else if (PROCESS_EXIT_CODE(status) != 0 && c->totals.failed == 0) {
        kprintf(SUBTEST_INDENT "# %s: exited with status %d but reported no failure\n", name,
                PROCESS_EXIT_CODE(status));
        c->totals.failed++;
    }
    int reported = c->totals.passed + c->totals.failed + c->totals.skipped;
    if (c->planned < 0) {
        kprintf(SUBTEST_INDENT "# %s: no plan line\n", name);
        c->totals.failed++;
    } else if (reported < c->planned) {
        kprintf(SUBTEST_INDENT "# %s: %d of %d planned results missing\n", name,
                c->planned - reported, c->planned);
        c->totals.failed += c->planned - reported;
    } else if (reported > c->planned) {
        kprintf(SUBTEST_INDENT "# %s: %d results, more than the %d planned\n", name, reported,
                c->planned);
        c->totals.failed++;
    }
}

static bool too_little_ram(void)
{
    struct frame_stats stats;
    frame_get_stats(&stats);
    return stats.total_frames * FRAME_SIZE < USER_SUITES_MIN_RAM_BYTES;
}

static void run_suite(void *ctx, const struct inode *suite)
{
    struct run *r = ctx;
    if (too_little_ram()) {
        kprintf("ok %zu %s # SKIP needs %lu MiB of RAM\n", ++*r->number, suite->name,
                (uint64_t)(USER_SUITES_MIN_RAM_BYTES >> 20));
        r->totals->skipped++;
        return;
    }
    static struct capture capture;
    capture = (struct capture){.planned = -1};
    mutex_init(&capture.lock, "ktest capture");
    struct file out = {.ops = &capture_ops, .refs = 1, .flags = 1 /* O_WRONLY */, .private = &capture};

    char path[8 + FS_NAME_MAX], seed_arg[32];
    ksnprintf(path, sizeof(path), "/tests/%s", suite->name);
    ksnprintf(seed_arg, sizeof(seed_arg), "seed=%lu", r->seed);
    const char *argv[] = {path, seed_arg, NULL};
    kprintf(SUBTEST_INDENT "KTAP version 1\n");
    kprintf(SUBTEST_INDENT "# Subtest: %s\n", suite->name);
    int error = 0, status = 0;
    struct process *p = process_spawn_output(path, argv, NULL, NULL, &out, &error);
    if (p)
        status = process_wait(p);
    mutex_lock(&capture.lock);
    if (capture.len)
        capture_line(&capture);
    mutex_unlock(&capture.lock);
    judge(&capture, suite->name, status, p ? 0 : error);

    struct ktest_totals *t = &capture.totals;
    size_t number = ++*r->number;
    kprintf("# %s: pass:%d fail:%d skip:%d total:%d\n", suite->name, t->passed, t->failed,
            t->skipped, t->passed + t->failed + t->skipped);
    if (t->failed)
        kprintf("not ok %zu %s\n", number, suite->name);
    else if (t->passed == 0 && t->skipped > 0)
        kprintf("ok %zu %s # SKIP all cases skipped\n", number, suite->name);
    else
        kprintf("ok %zu %s\n", number, suite->name);
    r->totals->passed += t->passed;
    r->totals->failed += t->failed;
    r->totals->skipped += t->skipped;
}

void ktest_user_run(const char *glob, uint64_t seed, size_t *number, struct ktest_totals *totals)
{
    struct run r = {seed, number, totals};
    for_each_suite(glob, run_suite, &r);
}
