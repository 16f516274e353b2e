/*
 * check.h: the host unit tests' tiny assertion kit.
 *
 * A test program defines functions `static void test_xxx(void)` that use CHECK*,
 * lists them in main() with RUN(test_xxx), and returns check_summary(). A failed
 * CHECK prints file:line, the expression and (for the _EQ forms) both values, and
 * the test goes on so one run shows every failure. The summary line is
 * "<program>: N passed, M failed" and the exit status is non-zero on any failure.
 */
#ifndef EXO_TESTS_HOST_CHECK_H
#define EXO_TESTS_HOST_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int check_failures_in_test;
static int check_tests_passed;
static int check_tests_failed;
static const char *check_program = "host-test";

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);    \
            check_failures_in_test++;                                                   \
        }                                                                               \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                              \
    do {                                                                                \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                 \
        if (check_a_ != check_b_) {                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld vs %lld)\n", __FILE__, \
                    __LINE__, #a, #b, check_a_, check_b_);                              \
            check_failures_in_test++;                                                   \
        }                                                                               \
    } while (0)

#define CHECK_EQ_U64(a, b)                                                              \
    do {                                                                                \
        uint64_t check_a_ = (uint64_t)(a), check_b_ = (uint64_t)(b);                    \
        if (check_a_ != check_b_) {                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (0x%" PRIx64 " vs 0x%" PRIx64 \
                            ")\n",                                                      \
                    __FILE__, __LINE__, #a, #b, check_a_, check_b_);                    \
            check_failures_in_test++;                                                   \
        }                                                                               \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                              \
    do {                                                                                \
        const char *check_a_ = (a), *check_b_ = (b);                                    \
        if (strcmp(check_a_, check_b_) != 0) {                                          \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" vs \"%s\")\n",       \
                    __FILE__, __LINE__, #a, #b, check_a_, check_b_);                    \
            check_failures_in_test++;                                                   \
        }                                                                               \
    } while (0)

#define RUN(test_fn)                                                                    \
    do {                                                                                \
        check_failures_in_test = 0;                                                     \
        test_fn();                                                                      \
        if (check_failures_in_test) {                                                   \
            fprintf(stderr, "FAIL %s\n", #test_fn);                                     \
            check_tests_failed++;                                                       \
        } else {                                                                        \
            check_tests_passed++;                                                       \
        }                                                                               \
    } while (0)

static inline int check_summary(void)
{
    printf("%s: %d passed, %d failed\n", check_program, check_tests_passed,
           check_tests_failed);
    return check_tests_failed ? 1 : 0;
}

#endif
