/*
 * Host tests of arch/x86_64/clock_select.c: which clock source calibrates the TSC.
 * Sources are fakes that report fixed rates or say why they are absent, and count
 * how often they were measured.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../arch/x86_64/clock_select.h"
#include "check.h"

struct fake {
    bool present;
    const char *why;
    struct clock_rates rates;
    int measured;
};

static bool fake_measure(void *ctx, struct clock_rates *rates, char *why)
{
    struct fake *f = ctx;
    f->measured++;
    if (!f->present) {
        snprintf(why, CLOCK_WHY_BYTES, "%s", f->why);
        return false;
    }
    *rates = f->rates;
    return true;
}

static char report_text[8192];
static int report_lines;

static void collect(const char *line)
{
    size_t used = strlen(report_text);
    CHECK(strlen(line) < CLOCK_LINE_BYTES);
    snprintf(report_text + used, sizeof(report_text) - used, "%s\n", line);
    report_lines++;
}

static bool reported(const char *needle)
{
    if (strstr(report_text, needle))
        return true;
    fprintf(stderr, "not reported: '%s'; the report was:\n%s", needle, report_text);
    return false;
}

/* The kernel's order, with fakes behind each. */
static struct fake fakes[6];
static struct clock_source sources[6] = {
    {"cpuid", "CPUID 0x15/0x16", fake_measure, &fakes[0]},
    {"hypervisor", "the hypervisor leaf 0x40000010", fake_measure, &fakes[1]},
    {"hpet", "the HPET", fake_measure, &fakes[2]},
    {"pmtimer", "the ACPI PM timer", fake_measure, &fakes[3]},
    {"pit", "the PIT", fake_measure, &fakes[4]},
    {"rtc", "the RTC", fake_measure, &fakes[5]},
};

static void reset(void)
{
    for (int i = 0; i < 6; i++)
        fakes[i] = (struct fake){.present = false, .why = "not here"};
    report_text[0] = '\0';
    report_lines = 0;
}

static void give(int i, uint64_t tsc_hz, uint64_t apic_hz)
{
    fakes[i] = (struct fake){.present = true, .rates = {tsc_hz, apic_hz}};
}

static void test_plausible_ranges(void)
{
    char why[CLOCK_WHY_BYTES];
    struct clock_rates r = {2600000000ull, 0};
    CHECK(clock_rates_plausible(&r, why, sizeof(why)));
    r.tsc_hz = CLOCK_TSC_MIN_HZ;
    CHECK(clock_rates_plausible(&r, why, sizeof(why)));
    r.tsc_hz = CLOCK_TSC_MAX_HZ;
    CHECK(clock_rates_plausible(&r, why, sizeof(why)));
    r.tsc_hz = CLOCK_TSC_MIN_HZ - 1;
    CHECK(!clock_rates_plausible(&r, why, sizeof(why)));
    r.tsc_hz = 169000; /* what the microvm PIT said */
    CHECK(!clock_rates_plausible(&r, why, sizeof(why)));
    CHECK_EQ_STR(why, "TSC 169 kHz is outside the plausible 100 MHz to 10 GHz");
    r.tsc_hz = CLOCK_TSC_MAX_HZ + 1;
    CHECK(!clock_rates_plausible(&r, why, sizeof(why)));
    r.tsc_hz = 0;
    CHECK(!clock_rates_plausible(&r, why, sizeof(why)));
    CHECK_EQ_STR(why, "TSC 0 kHz is outside the plausible 100 MHz to 10 GHz");
    /* The APIC timer is judged only when a source states it. */
    r = (struct clock_rates){2600000000ull, 1000000000ull};
    CHECK(clock_rates_plausible(&r, why, sizeof(why)));
    r.apic_timer_hz = CLOCK_APIC_TIMER_MIN_HZ;
    CHECK(clock_rates_plausible(&r, why, sizeof(why)));
    r.apic_timer_hz = 80000;
    CHECK(!clock_rates_plausible(&r, why, sizeof(why)));
    CHECK_EQ_STR(why, "APIC timer 80 kHz is outside the plausible 1 MHz to 5 GHz");
    r.apic_timer_hz = CLOCK_APIC_TIMER_MAX_HZ + 1;
    CHECK(!clock_rates_plausible(&r, why, sizeof(why)));
}

/* The first plausible source wins; later ones are never measured. */
static void test_first_plausible_source_wins(void)
{
    reset();
    give(2, 2600000000ull, 0);
    give(3, 2500000000ull, 0);
    struct clock_rates out = {0, 0};
    CHECK_EQ_INT(clock_select(sources, 6, -1, collect, &out), 2);
    CHECK_EQ_U64(out.tsc_hz, 2600000000ull);
    CHECK_EQ_INT(fakes[3].measured, 0);
    CHECK_EQ_INT(fakes[5].measured, 0);
    CHECK_EQ_INT(report_lines, 0); /* the caller names the choice */
}

/* The microvm case: the PIT's gate does not work and it reports a tiny TSC; it is
 * rejected with its value, and the RTC is used. */
static void test_implausible_source_rejected_and_next_used(void)
{
    reset();
    give(4, 169000, 0);
    give(5, 2600000000ull, 0);
    struct clock_rates out = {0, 0};
    CHECK_EQ_INT(clock_select(sources, 6, -1, collect, &out), 5);
    CHECK_EQ_U64(out.tsc_hz, 2600000000ull);
    CHECK_EQ_INT(report_lines, 1);
    CHECK(reported("clock: the PIT rejected: TSC 169 kHz is outside the plausible 100 MHz to "
                   "10 GHz\n"));
    /* A plausible TSC with an implausible APIC timer is rejected too. */
    reset();
    give(1, 2600000000ull, 80000);
    give(2, 2600000000ull, 0);
    CHECK_EQ_INT(clock_select(sources, 6, -1, collect, &out), 2);
    CHECK(reported("clock: the hypervisor leaf 0x40000010 rejected: APIC timer 80 kHz"));
    CHECK_EQ_U64(out.apic_timer_hz, 0);
}

/* A source told to lie reports 1/CLOCK_LIE_FACTOR of its rates, is rejected
 * saying so, and the next source is used; a liar that is absent changes nothing. */
static void test_lying_source_rejected(void)
{
    reset();
    give(4, 2600000000ull, 0);
    give(5, 2590000000ull, 0);
    struct clock_rates out = {0, 0};
    int pit = clock_source_index(sources, 6, "pit");
    CHECK_EQ_INT(pit, 4);
    CHECK_EQ_INT(clock_select(sources, 6, pit, collect, &out), 5);
    CHECK_EQ_U64(out.tsc_hz, 2590000000ull);
    CHECK(reported("clock: the PIT rejected: TSC 260 kHz is outside the plausible 100 MHz to "
                   "10 GHz (told to lie by clock_test=)"));
    CHECK_EQ_INT(report_lines, 1);
    reset();
    give(2, 2600000000ull, 1000000000ull);
    CHECK_EQ_INT(clock_select(sources, 6, clock_source_index(sources, 6, "hypervisor"), collect,
                              &out), 2);
    CHECK_EQ_U64(out.apic_timer_hz, 1000000000ull);
    CHECK_EQ_INT(report_lines, 0);
}

static void test_no_plausible_source(void)
{
    reset();
    give(4, 169000, 0);
    struct clock_rates out = {7, 7};
    CHECK_EQ_INT(clock_select(sources, 6, -1, collect, &out), -1);
    CHECK_EQ_U64(out.tsc_hz, 7); /* untouched */
    CHECK(reported("clock: the PIT rejected"));
    CHECK(reported("clock: no source gives a plausible TSC rate (not available: CPUID "));
    CHECK(reported("the RTC: not here)"));
    for (int i = 0; i < 6; i++)
        CHECK_EQ_INT(fakes[i].measured, 1);
}

static void test_source_index(void)
{
    CHECK_EQ_INT(clock_source_index(sources, 6, "cpuid"), 0);
    CHECK_EQ_INT(clock_source_index(sources, 6, "rtc"), 5);
    CHECK_EQ_INT(clock_source_index(sources, 6, "pi"), -1);
    CHECK_EQ_INT(clock_source_index(sources, 6, ""), -1);
}

/* Long reasons from every source still make one bounded line. */
static void test_long_reasons_stay_bounded(void)
{
    reset();
    static char longwhy[CLOCK_WHY_BYTES];
    memset(longwhy, 'x', sizeof(longwhy) - 1);
    for (int i = 0; i < 6; i++)
        fakes[i].why = longwhy;
    struct clock_rates out;
    CHECK_EQ_INT(clock_select(sources, 6, -1, collect, &out), -1);
    CHECK_EQ_INT(report_lines, 1);
}

int main(void)
{
    check_program = "test_clock_select";
    RUN(test_plausible_ranges);
    RUN(test_first_plausible_source_wins);
    RUN(test_implausible_source_rejected_and_next_used);
    RUN(test_lying_source_rejected);
    RUN(test_no_plausible_source);
    RUN(test_source_index);
    RUN(test_long_reasons_stay_bounded);
    return check_summary();
}
