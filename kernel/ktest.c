#include "kernel/ktest.h"

#include <stdarg.h>

#include "kernel/ktest_user.h"
#include "lib/printf.h"
#include "lib/string.h"
#include "mm/frame.h"

extern const struct ktest_suite *const __start_ktest_suites[];
extern const struct ktest_suite *const __stop_ktest_suites[];

#define SUBTEST_INDENT "    "

void ktest_fail(struct ktest *t, const char *file, int line, const char *fmt, ...)
{
    va_list args;
    t->failures++;
    kprintf(SUBTEST_INDENT "# %s: %s:%d: ", t->name, file, line);
    va_start(args, fmt);
    kvprintf(fmt, args);
    va_end(args);
    kprintf("\n");
}

void ktest_skip(struct ktest *t, const char *reason)
{
    t->skipped = true;
    t->skip_reason = reason;
}

void ktest_note(struct ktest *t, const char *fmt, ...)
{
    va_list args;
    kprintf(SUBTEST_INDENT "# %s: ", t->name);
    va_start(args, fmt);
    kvprintf(fmt, args);
    va_end(args);
    kprintf("\n");
}

bool ktest_catch_fault(void (*fn)(void *arg), void *arg, struct fault_info *fault)
{
    memset(fault, 0, sizeof(*fault));
    return arch_call_catching_fault(fn, arg, fault);
}

/* FNV-1a, to give each case a seed of its own derived from the run's seed. */
static uint64_t hash_name(uint64_t h, const char *s)
{
    while (*s) {
        h ^= (uint8_t)*s++;
        h *= 0x100000001b3ull;
    }
    return h;
}

/* test= is a glob list (lib/string.h: "sched,steal", "*,!user_*"); a named-only
 * suite runs only when one of the list's items is its exact name. */
static bool named_exactly(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list;;) {
        size_t len = 0;
        while (p[len] && p[len] != ',')
            len++;
        if (len == n && memcmp(p, name, n) == 0)
            return true;
        if (p[len] == '\0')
            return false;
        p += len + 1;
    }
}

static bool selected(const struct ktest_suite *suite, const char *glob)
{
    if (suite->named_only)
        return named_exactly(glob, suite->name);
    return glob_list_match(glob, suite->name);
}

/* Below this much free memory no case can spawn a thread or map a page with any
 * certainty (a guest of 6 MiB has about 200 KiB left after boot): every case is
 * skipped, saying so, rather than failing for want of memory. */
#define KTEST_MIN_FREE_BYTES (768ull << 10)

/* Skips t when memory is below KTEST_MIN_FREE_BYTES; true if it did. */
static bool skip_when_memory_is_short(struct ktest *t)
{
    static char reason[80];
    struct frame_stats stats;
    frame_get_stats(&stats);
    uint64_t free_bytes = stats.free_frames * FRAME_SIZE;
    if (free_bytes >= KTEST_MIN_FREE_BYTES)
        return false;
    ksnprintf(reason, sizeof(reason), "the self-test needs %lu KiB of free memory, %lu KiB free",
              (uint64_t)(KTEST_MIN_FREE_BYTES >> 10), free_bytes >> 10);
    ktest_skip(t, reason);
    return true;
}

static void run_case(const struct ktest_suite *suite, size_t index, uint64_t seed,
                     struct ktest_totals *suite_totals)
{
    const struct ktest_case *tc = &suite->cases[index];
    struct ktest t = {.name = tc->name};
    rng_seed(&t.rng, hash_name(hash_name(seed ^ 0xcbf29ce484222325ull, suite->name), tc->name));
    if (!skip_when_memory_is_short(&t))
        tc->fn(&t);
    if (t.failures) {
        kprintf(SUBTEST_INDENT "not ok %zu %s\n", index + 1, tc->name);
        suite_totals->failed++;
    } else if (t.skipped) {
        kprintf(SUBTEST_INDENT "ok %zu %s # SKIP %s\n", index + 1, tc->name, t.skip_reason);
        suite_totals->skipped++;
    } else {
        kprintf(SUBTEST_INDENT "ok %zu %s\n", index + 1, tc->name);
        suite_totals->passed++;
    }
}

static void run_suite(const struct ktest_suite *suite, size_t number, uint64_t seed,
                      struct ktest_totals *totals)
{
    struct ktest_totals suite_totals = {0, 0, 0};
    kprintf(SUBTEST_INDENT "KTAP version 1\n");
    kprintf(SUBTEST_INDENT "# Subtest: %s\n", suite->name);
    kprintf(SUBTEST_INDENT "1..%zu\n", suite->case_count);
    for (size_t i = 0; i < suite->case_count; i++)
        run_case(suite, i, seed, &suite_totals);
    kprintf("# %s: pass:%d fail:%d skip:%d total:%zu\n", suite->name, suite_totals.passed,
            suite_totals.failed, suite_totals.skipped, suite->case_count);
    if (suite_totals.failed)
        kprintf("not ok %zu %s\n", number, suite->name);
    else if (suite_totals.passed == 0 && suite_totals.skipped > 0)
        kprintf("ok %zu %s # SKIP all cases skipped\n", number, suite->name);
    else
        kprintf("ok %zu %s\n", number, suite->name);
    totals->passed += suite_totals.passed;
    totals->failed += suite_totals.failed;
    totals->skipped += suite_totals.skipped;
}

bool ktest_run(const char *glob, uint64_t seed, struct ktest_totals *totals)
{
    size_t matching = 0, number = 0;
    for (const struct ktest_suite *const *s = __start_ktest_suites; s < __stop_ktest_suites; s++)
        matching += selected(*s, glob);
    matching += ktest_user_count(glob);

    *totals = (struct ktest_totals){0, 0, 0};
    kprintf("KTAP version 1\n");
    kprintf("# seed: %lu\n", seed);
    kprintf("1..%zu\n", matching);
    if (matching == 0)
        kprintf("# no test suite matches '%s'\n", glob);
    for (const struct ktest_suite *const *s = __start_ktest_suites; s < __stop_ktest_suites; s++) {
        if (selected(*s, glob))
            run_suite(*s, ++number, seed, totals);
    }
    ktest_user_run(glob, seed, &number, totals);
    kprintf("# Totals: pass:%d fail:%d skip:%d total:%d\n", totals->passed, totals->failed,
            totals->skipped, totals->passed + totals->failed + totals->skipped);
    return matching > 0 && totals->failed == 0;
}
