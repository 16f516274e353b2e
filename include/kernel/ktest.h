/*
 * ktest: the in-kernel test framework.
 *
 * A suite is a named array of test cases registered at link time: KTEST_SUITE puts
 * a pointer to it in the .ktest_suites section, which the linker script gathers
 * between __start_ktest_suites and __stop_ktest_suites. ktest_run runs every suite
 * whose name matches a glob and prints KTAP version 1 on the console: a plan line
 * per level, one indented subtest per suite, "# <suite>: pass:P fail:F skip:S
 * total:T" after each, and "# Totals: ..." at the end.
 *
 * A case fails when any KT_EXPECT in it fails; it goes on running so one run
 * shows every failure (KT_ASSERT returns from the case instead). Each case gets its
 * own generator seeded from the run's seed and its name, so a failure reproduces
 * with seed=<n> whatever the order or selection of suites.
 *
 * Interrupt context: none; suites run on a thread. An interrupt handler a test
 * installs reports back through the test's own state, not through these calls.
 */
#ifndef EXO_KERNEL_KTEST_H
#define EXO_KERNEL_KTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/fault.h"
#include "lib/random.h"

struct ktest {
    const char *name;
    int failures;
    bool skipped;
    const char *skip_reason;
    struct rng rng; /* seeded for this case */
};

typedef void (*ktest_fn)(struct ktest *t);

struct ktest_case {
    const char *name;
    ktest_fn fn;
};

struct ktest_suite {
    const char *name;
    const struct ktest_case *cases;
    size_t case_count;
    /* Runs only when test= names it exactly: for the crash suites, whose one case
     * must bring the kernel down (tests/harness.py checks the panic), and for
     * suites that need a bigger machine than most boots have. */
    bool named_only;
};

#define KTEST(fn) {#fn, fn}

#define KTEST_SUITE_WITH(suite_name, only_when_named, ...)                              \
    static const struct ktest_case suite_name##_cases[] = {__VA_ARGS__};                 \
    static const struct ktest_suite suite_name##_suite = {                              \
        #suite_name, suite_name##_cases,                                                \
        sizeof(suite_name##_cases) / sizeof(suite_name##_cases[0]), only_when_named};   \
    static const struct ktest_suite *const suite_name##_suite_entry                     \
        __attribute__((used, section(".ktest_suites"))) = &suite_name##_suite

#define KTEST_SUITE(suite_name, ...) KTEST_SUITE_WITH(suite_name, false, __VA_ARGS__)
/* A suite whose case ends the run with a panic; see named_only. */
#define KTEST_CRASH_SUITE(suite_name, ...) KTEST_SUITE_WITH(suite_name, true, __VA_ARGS__)
/* A suite too heavy for every boot (it needs a bigger machine); see named_only. */
#define KTEST_NAMED_SUITE(suite_name, ...) KTEST_SUITE_WITH(suite_name, true, __VA_ARGS__)

/* Records a failure with its location and prints it as a KTAP diagnostic. */
void ktest_fail(struct ktest *t, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void ktest_skip(struct ktest *t, const char *reason);
/* A KTAP diagnostic line in the current case ("    # ..."). */
void ktest_note(struct ktest *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define KT_EXPECT(t, cond)                                                              \
    do {                                                                                \
        if (!(cond))                                                                    \
            ktest_fail(t, __FILE__, __LINE__, "expected %s", #cond);                    \
    } while (0)

#define KT_EXPECT_EQ(t, a, b)                                                           \
    do {                                                                                \
        uint64_t kt_a_ = (uint64_t)(a), kt_b_ = (uint64_t)(b);                          \
        if (kt_a_ != kt_b_)                                                             \
            ktest_fail(t, __FILE__, __LINE__, "expected %s == %s (0x%lx vs 0x%lx)", #a, \
                       #b, kt_a_, kt_b_);                                               \
    } while (0)

#define KT_EXPECT_STREQ(t, a, b)                                                        \
    do {                                                                                \
        const char *kt_a_ = (a), *kt_b_ = (b);                                          \
        if (strcmp(kt_a_, kt_b_) != 0)                                                  \
            ktest_fail(t, __FILE__, __LINE__, "expected %s == %s (\"%s\" vs \"%s\")",  \
                       #a, #b, kt_a_, kt_b_);                                           \
    } while (0)

#define KT_ASSERT(t, cond)                                                              \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            ktest_fail(t, __FILE__, __LINE__, "assertion %s failed", #cond);            \
            return;                                                                     \
        }                                                                               \
    } while (0)

#define KT_SKIP(t, reason)                                                              \
    do {                                                                                \
        ktest_skip(t, reason);                                                          \
        return;                                                                         \
    } while (0)

/*
 * The expect-fault hook: runs fn(arg) and returns true when it raised a CPU
 * exception, described in *fault; false when it returned normally. The caller then
 * checks the vector and address it expected.
 */
bool ktest_catch_fault(void (*fn)(void *arg), void *arg, struct fault_info *fault);

struct ktest_totals {
    int passed, failed, skipped;
};

/* Runs the matching suites and prints KTAP. Returns false when a case failed or no
 * suite matched `glob`. */
bool ktest_run(const char *glob, uint64_t seed, struct ktest_totals *totals);

#endif
