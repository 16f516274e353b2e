/*
 * Host tests of include/base/cpuset.h's searches: the lowest CPU other than one,
 * over the whole set and over the CPUs below a limit (the scheduler's idle search).
 */
#include "base/cpuset.h"
#include "check.h"

static void test_cpuset_first_except_skips_the_excepted_cpu(void)
{
    struct cpuset set = {0};
    cpuset_set_atomic(&set, 3);
    cpuset_set_atomic(&set, 70);
    CHECK_EQ_INT(cpuset_first_except_atomic(&set, 0), 3);
    CHECK_EQ_INT(cpuset_first_except_atomic(&set, 3), 70);
    cpuset_clear_atomic(&set, 70);
    CHECK_EQ_INT(cpuset_first_except_atomic(&set, 3), ARCH_MAX_CPUS);
}

static void test_cpuset_first_except_below_reads_only_the_words_under_the_limit(void)
{
    struct cpuset set = {0};
    cpuset_set_atomic(&set, 1);
    cpuset_set_atomic(&set, 64);
    CHECK_EQ_INT(cpuset_first_except_below_atomic(&set, 0, 2), 1);
    CHECK_EQ_INT(cpuset_first_except_below_atomic(&set, 1, 2), ARCH_MAX_CPUS);
    CHECK_EQ_INT(cpuset_first_except_below_atomic(&set, 1, 64), ARCH_MAX_CPUS);
    CHECK_EQ_INT(cpuset_first_except_below_atomic(&set, 1, 65), 64);
    CHECK_EQ_INT(cpuset_first_except_below_atomic(&set, 64, 65), 1);
    CHECK_EQ_INT(cpuset_first_except_below_atomic(&set, 1, 0), ARCH_MAX_CPUS);
}

static void test_cpuset_first_except_below_a_limit_past_the_set_stops_at_its_end(void)
{
    struct cpuset set = {0};
    cpuset_set_atomic(&set, ARCH_MAX_CPUS - 1);
    CHECK_EQ_INT(cpuset_first_except_below_atomic(&set, 0, ARCH_MAX_CPUS + 64),
                 ARCH_MAX_CPUS - 1);
    CHECK_EQ_INT(cpuset_first_except_below_atomic(&set, ARCH_MAX_CPUS - 1, ~0u - 64),
                 ARCH_MAX_CPUS);
}

int main(void)
{
    check_program = "test_cpuset";
    RUN(test_cpuset_first_except_skips_the_excepted_cpu);
    RUN(test_cpuset_first_except_below_reads_only_the_words_under_the_limit);
    RUN(test_cpuset_first_except_below_a_limit_past_the_set_stops_at_its_end);
    return check_summary();
}
