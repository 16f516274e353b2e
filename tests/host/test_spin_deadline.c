/*
 * Host tests of include/lib/spin_deadline.h: a busy wait's limit counts the time
 * its waiter ran, and a stall of the waiter (a gap between two looks) only up to
 * one step.
 */
#include "lib/spin_deadline.h"
#include "check.h"

#define MS 1000000ull

/* Looks every 10 us from `from` for `ms` milliseconds; whether it passed. */
static bool spin_for(struct spin_deadline *d, uint64_t *now, uint64_t ms)
{
    bool passed = false;
    for (uint64_t end = *now + ms * MS; *now < end;) {
        *now += 10000;
        passed = spin_deadline_passed(d, *now);
    }
    return passed;
}

static void test_spin_deadline_passes_after_its_budget_of_running(void)
{
    struct spin_deadline d;
    uint64_t now = 5 * MS;
    spin_deadline_start(&d, now, 500 * MS, 1 * MS);
    CHECK(!spin_for(&d, &now, 499));
    CHECK(spin_for(&d, &now, 2));
    CHECK(spin_deadline_passed(&d, now)); /* and stays passed */
}

/* The waiter stood still for 3 s (the host did not run it): that counts 1 ms, so
 * the 500 ms wait is not over (a plain deadline would be). */
static void test_spin_deadline_a_stall_of_the_waiter_counts_one_step(void)
{
    struct spin_deadline d;
    uint64_t now = 0;
    spin_deadline_start(&d, now, 500 * MS, 1 * MS);
    CHECK(!spin_for(&d, &now, 100));
    now += 3000 * MS;
    CHECK(!spin_deadline_passed(&d, now));
    CHECK(!spin_for(&d, &now, 398));
    CHECK(spin_for(&d, &now, 2));
}

static void test_spin_deadline_a_clock_going_back_counts_nothing(void)
{
    struct spin_deadline d;
    spin_deadline_start(&d, 100 * MS, 2 * MS, 1 * MS);
    CHECK(!spin_deadline_passed(&d, 50 * MS));
    CHECK(!spin_deadline_passed(&d, 101 * MS));
    CHECK(spin_deadline_passed(&d, 102 * MS));
}

static void test_spin_deadline_of_zero_has_passed_at_the_first_look(void)
{
    struct spin_deadline d;
    spin_deadline_start(&d, 7, 0, 1 * MS);
    CHECK(spin_deadline_passed(&d, 7));
}

int main(void)
{
    check_program = "test_spin_deadline";
    RUN(test_spin_deadline_passes_after_its_budget_of_running);
    RUN(test_spin_deadline_a_stall_of_the_waiter_counts_one_step);
    RUN(test_spin_deadline_a_clock_going_back_counts_nothing);
    RUN(test_spin_deadline_of_zero_has_passed_at_the_first_look);
    return check_summary();
}
