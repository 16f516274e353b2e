/*
 * clock_select: which clock source gives the TSC its rate, and whether what a
 * source says is believable. Pure (no hardware, no globals): arch/x86_64/clock.c
 * hands it the machine's sources in order of preference, each a function that
 * reads or measures the rates; host-tested in tests/host/test_clock_select.c.
 *
 * A source is either absent (it says why: "no HPET table") or reports rates. The
 * TSC's rate must lie in [CLOCK_TSC_MIN_HZ, CLOCK_TSC_MAX_HZ]: every x86-64 CPU
 * runs its TSC well above 100 MHz (QEMU's icount mode: 1 GHz), and none near
 * 10 GHz. The APIC timer's rate, when a source states it, must lie in
 * [CLOCK_APIC_TIMER_MIN_HZ, CLOCK_APIC_TIMER_MAX_HZ]: its clock is a bus or crystal
 * clock (19.2 MHz to 1 GHz seen: QEMU's is 1 GHz). A rate outside is a source
 * that lies (a PIT whose gate does not work reads as a TSC of a few hundred kHz)
 * and the next source is tried. The first plausible source wins and later ones
 * are never measured (each costs boot time). Every rejection is reported with
 * its value and the range; when no source is usable, the report lists every
 * absent one and why. (The caller names the chosen source: one boot line less,
 * where a framebuffer console has few rows.)
 *
 * For tests, one source may be told to lie (clock_test=lie-<key>): its rates are
 * divided by CLOCK_LIE_FACTOR, as the microvm PIT's were, so a boot shows the
 * rejection and the fallback.
 *
 * Interrupt context: not used from it (called once, at boot).
 */
#ifndef EXO_ARCH_X86_64_CLOCK_SELECT_H
#define EXO_ARCH_X86_64_CLOCK_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLOCK_TSC_MIN_HZ 100000000ull          /* 100 MHz */
#define CLOCK_TSC_MAX_HZ 10000000000ull        /* 10 GHz */
#define CLOCK_APIC_TIMER_MIN_HZ 1000000ull     /* 1 MHz */
#define CLOCK_APIC_TIMER_MAX_HZ 5000000000ull  /* 5 GHz */
#define CLOCK_LIE_FACTOR 10000
#define CLOCK_WHY_BYTES 96 /* a source's reason for being absent, with its NUL */
#define CLOCK_LINE_BYTES 512

struct clock_rates {
    uint64_t tsc_hz;
    uint64_t apic_timer_hz; /* 0: this source does not say */
};

/* Fills *rates and returns true, or writes why it cannot (CLOCK_WHY_BYTES) and
 * returns false. */
typedef bool (*clock_measure_fn)(void *ctx, struct clock_rates *rates, char *why);
typedef void (*clock_report_fn)(const char *line);

struct clock_source {
    const char *key;  /* for clock_test=lie-<key>: "hpet" */
    const char *name; /* for messages: "the HPET" */
    clock_measure_fn measure;
    void *ctx;
};

/* True when both rates are plausible (an APIC timer rate of 0 is not judged);
 * else false with the reason, naming the value and the range, in why. */
bool clock_rates_plausible(const struct clock_rates *rates, char *why, size_t why_bytes);

/* The index of the source whose key is `key`, or -1. */
int clock_source_index(const struct clock_source *sources, size_t count, const char *key);

/* Measures the sources in order until one is plausible; returns its index with
 * its rates in *out, or -1 when none is. `lying` is the index of the source told
 * to lie, or -1. Each rejection is one report line; so is finding none, with
 * the absent sources and why. */
int clock_select(const struct clock_source *sources, size_t count, int lying,
                 clock_report_fn report, struct clock_rates *out);

#endif
