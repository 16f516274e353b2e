#include "clock_select.h"

#include "lib/printf.h"
#include "lib/string.h"

/* "100 MHz", "10 GHz": the ranges' ends are round numbers. */
static const char *range_text(uint64_t min_hz, uint64_t max_hz, char *buf, size_t bytes)
{
    ksnprintf(buf, bytes, "%lu MHz to %lu GHz", min_hz / 1000000, max_hz / 1000000000);
    return buf;
}

static bool in_range(const char *what, uint64_t hz, uint64_t min_hz, uint64_t max_hz, char *why,
                     size_t why_bytes)
{
    if (hz >= min_hz && hz <= max_hz)
        return true;
    char range[48];
    ksnprintf(why, why_bytes, "%s %lu kHz is outside the plausible %s", what, hz / 1000,
              range_text(min_hz, max_hz, range, sizeof(range)));
    return false;
}

bool clock_rates_plausible(const struct clock_rates *rates, char *why, size_t why_bytes)
{
    if (!in_range("TSC", rates->tsc_hz, CLOCK_TSC_MIN_HZ, CLOCK_TSC_MAX_HZ, why, why_bytes))
        return false;
    return rates->apic_timer_hz == 0 ||
           in_range("APIC timer", rates->apic_timer_hz, CLOCK_APIC_TIMER_MIN_HZ,
                    CLOCK_APIC_TIMER_MAX_HZ, why, why_bytes);
}

int clock_source_index(const struct clock_source *sources, size_t count, const char *key)
{
    for (size_t i = 0; i < count; i++) {
        if (strcmp(sources[i].key, key) == 0)
            return (int)i;
    }
    return -1;
}

/* Appends "; <name>: <why>" (the first without "; ") to the absent list. */
static void note_absent(char *absent, const char *name, const char *why)
{
    size_t used = strlen(absent);
    if (used < CLOCK_LINE_BYTES)
        ksnprintf(absent + used, CLOCK_LINE_BYTES - used, "%s%s: %s", used ? "; " : "", name, why);
}

int clock_select(const struct clock_source *sources, size_t count, int lying,
                 clock_report_fn report, struct clock_rates *out)
{
    char absent[CLOCK_LINE_BYTES] = "", line[CLOCK_LINE_BYTES], why[CLOCK_WHY_BYTES];
    for (size_t i = 0; i < count; i++) {
        struct clock_rates rates = {0, 0};
        why[0] = '\0';
        if (!sources[i].measure(sources[i].ctx, &rates, why)) {
            note_absent(absent, sources[i].name, why[0] ? why : "unavailable");
            continue;
        }
        if ((int)i == lying) {
            rates.tsc_hz /= CLOCK_LIE_FACTOR;
            rates.apic_timer_hz /= CLOCK_LIE_FACTOR;
        }
        if (!clock_rates_plausible(&rates, why, sizeof(why))) {
            ksnprintf(line, sizeof(line), "clock: %s rejected: %s%s", sources[i].name, why,
                      (int)i == lying ? " (told to lie by clock_test=)" : "");
            report(line);
            continue;
        }
        *out = rates;
        return (int)i;
    }
    ksnprintf(line, sizeof(line), "clock: no source gives a plausible TSC rate%s%s%s",
              absent[0] ? " (not available: " : "", absent, absent[0] ? ")" : "");
    report(line);
    return -1;
}
