/*
 * The TSC's rate, from the first clock source that is present and plausible.
 *
 * The order:
 *  1. CPUID leaf 0x15 (TSC = crystal x ratio; the crystal from leaf 0x16's base
 *     frequency when 0x15 does not name it): architectural and exact, and free:
 *     nothing is measured, so no SMI or descheduled vCPU can skew it.
 *  2. The hypervisor's leaf 0x40000010 (TSC and APIC bus in kHz): exact as the
 *     hypervisor states it, also free, and it gives the APIC timer's rate too.
 *  3. The HPET: a measured reference, but a precise one (its period is stated by
 *     the hardware in femtoseconds, >= 10 MHz) read through one MMIO load.
 *  4. The ACPI PM timer: a fixed 3.579545 MHz by specification, but read through
 *     a slow I/O port and absent on hardware-reduced machines (microvm).
 *  5. The PIT's channel 2, gated through port 0x61: the classic, but it needs a
 *     PC speaker port that newer machines and microvm lack, and the PIT may be
 *     clock-gated. The gate and OUT2 are checked before the PIT is believed.
 *  6. The RTC's seconds: on every PC-like machine, microvm with pit=off
 *     included, but a measurement takes a whole second (up to two).
 * The counters (HPET, PM timer, PIT channel 0) take the median of
 * CALIBRATION_RUNS runs of about CALIBRATION_MS each; OUT2, a threshold, says
 * at its function how it keeps lateness out; the RTC is one second long. Every wait is bounded by a count of reads and by a TSC
 * budget (WAIT_TSC_MAX, 50 ms even at 10 GHz), and a counter that has not moved
 * at all in STUCK_READS reads (each of its ticks is under 1 us) is given up at
 * once: a reference that never moves is reported as absent, never a hang.
 */
#include "clock.h"

#include "acpi_boot.h"
#include "arch/cpu.h"
#include "arch/time.h"
#include "cpu.h"
#include "base/panic.h"
#include "lib/printf.h"
#include "mm/paging.h"

#define CALIBRATION_MS 2
#define CALIBRATION_RUNS 3
#define WAIT_READS_MAX 20000000u      /* reads of a reference before giving up */
#define WAIT_TSC_MAX 500000000ull     /* TSC ticks before giving up: 50 ms at 10 GHz */
#define STUCK_READS 10000u /* a counter that has not moved in this many reads is stopped */

/* The HPET's registers (IA-PC HPET specification 1.0a, section 2.3). */
#define HPET_WINDOW_BYTES 1024
#define HPET_CAPABILITIES 0x00
#define HPET_CAP_PERIOD_SHIFT 32        /* bits 63:32: the counter's period in fs */
#define HPET_CAP_COUNT_64 (1ull << 13)
#define HPET_PERIOD_MAX_FS 100000000ull /* 100 ns: the specification's bound */
#define HPET_PERIOD_MIN_FS 1000000ull   /* 1 ns: no HPET counts faster than 1 GHz */
#define HPET_CONFIG 0x10
#define HPET_CONFIG_ENABLE 1ull
#define HPET_COUNTER 0xf0
#define FS_PER_S 1000000000000000ull

#define PM_TIMER_HZ 3579545ull

/* PIT channel 2, gated through port 0x61 (the PC speaker's control port). */
#define PIT_HZ 1193182ull
#define PIT_CHANNEL2 0x42
#define PIT_COMMAND 0x43
#define PIT_CH2_MODE0_LOHI 0xb0 /* channel 2, lobyte/hibyte, mode 0, binary */
#define PIT_GATE_PORT 0x61
#define PIT_GATE_ON 0x01
#define PIT_SPEAKER 0x02
#define PIT_OUT2 0x20

/* The MC146818 RTC through the CMOS index/data ports. Bit 7 of the index keeps
 * NMIs off while a register is selected. */
#define CMOS_INDEX 0x70
#define CMOS_DATA 0x71
#define CMOS_NMI_OFF 0x80
#define RTC_SECONDS 0x00
#define RTC_REG_A 0x0a
#define RTC_READS_MAX 50000000u
#define RTC_WAIT_TSC_MAX 20000000000ull /* 2 s even at 10 GHz: a second must pass */
#define RTC_A_DIVIDER_MASK 0x70
#define RTC_A_DIVIDER_32K 0x20 /* the 32.768 kHz time base */

static int lying_source = -1;
static const char *chosen_name = "nothing";

/* ---- waiting on a reference ---------------------------------------------------- */

static uint64_t median3(uint64_t a, uint64_t b, uint64_t c)
{
    if (a > b) { uint64_t t = a; a = b; b = t; }
    if (b > c) b = c;
    return a > b ? a : b;
}

/* A free-running counter of known rate and width (HPET, PM timer). */
struct counter {
    uint64_t (*read)(const struct counter *c);
    uint64_t hz, mask;
    volatile uint64_t *mmio; /* the HPET's counter register */
    uint16_t port;           /* the PM timer's */
};

/* One run: TSC ticks over CALIBRATION_MS of the counter, as a TSC rate; 0, with
 * why, when the counter does not get there within the bounds. */
static uint64_t tsc_hz_against(const struct counter *c, char *why)
{
    uint64_t want = c->hz * CALIBRATION_MS / 1000, elapsed = 0;
    uint64_t t0 = arch_read_timestamp(), c0 = c->read(c), t1 = t0;
    for (uint32_t reads = 0; elapsed < want; reads++) {
        if (reads == WAIT_READS_MAX || t1 - t0 > WAIT_TSC_MAX ||
            (reads == STUCK_READS && elapsed == 0)) {
            ksnprintf(why, CLOCK_WHY_BYTES, "its counter moved %lu of %lu ticks, then stopped",
                      elapsed, want);
            return 0;
        }
        elapsed = (c->read(c) - c0) & c->mask;
        t1 = arch_read_timestamp();
    }
    /* (t1 - t0) is bounded near WAIT_TSC_MAX and hz by a GHz: no overflow. */
    return (t1 - t0) * c->hz / elapsed;
}

static bool measure_against(const struct counter *c, struct clock_rates *rates, char *why)
{
    uint64_t runs[CALIBRATION_RUNS];
    for (int i = 0; i < CALIBRATION_RUNS; i++) {
        runs[i] = tsc_hz_against(c, why);
        if (!runs[i])
            return false;
    }
    rates->tsc_hz = median3(runs[0], runs[1], runs[2]);
    return true;
}

/* ---- 1, 2: CPUID ------------------------------------------------------------------ */

static bool from_cpuid_15(void *ctx, struct clock_rates *rates, char *why)
{
    (void)ctx;
    uint32_t max, eax, ebx, ecx, edx;
    cpuid(0, 0, &max, &ebx, &ecx, &edx);
    if (max < 0x15) {
        ksnprintf(why, CLOCK_WHY_BYTES, "this CPU's highest leaf is 0x%x", max);
        return false;
    }
    uint32_t denominator, numerator, crystal_hz;
    cpuid(0x15, 0, &denominator, &numerator, &crystal_hz, &edx);
    if (!denominator || !numerator) {
        ksnprintf(why, CLOCK_WHY_BYTES, "leaf 0x15 gives no TSC/crystal ratio");
        return false;
    }
    if (crystal_hz) {
        rates->tsc_hz = (uint64_t)crystal_hz * numerator / denominator;
        return true;
    }
    /* No crystal stated: the TSC runs at the base frequency leaf 0x16 gives. */
    if (max >= 0x16) {
        cpuid(0x16, 0, &eax, &ebx, &ecx, &edx);
        if (eax & 0xffff) {
            rates->tsc_hz = (uint64_t)(eax & 0xffff) * 1000000;
            return true;
        }
    }
    ksnprintf(why, CLOCK_WHY_BYTES, "neither leaf 0x15 nor 0x16 names a frequency");
    return false;
}

static bool from_hypervisor(void *ctx, struct clock_rates *rates, char *why)
{
    (void)ctx;
    uint32_t max, eax, ebx, ecx, edx;
    cpuid(1, 0, &eax, &ebx, &ecx, &edx);
    if (!(ecx & CPUID1_ECX_HYPERVISOR)) {
        ksnprintf(why, CLOCK_WHY_BYTES, "no hypervisor");
        return false;
    }
    cpuid(0x40000000u, 0, &max, &ebx, &ecx, &edx);
    if (max < 0x40000010u || max > 0x400000ffu) {
        ksnprintf(why, CLOCK_WHY_BYTES, "the hypervisor's highest leaf is 0x%x", max);
        return false;
    }
    cpuid(0x40000010u, 0, &eax, &ebx, &ecx, &edx);
    if (!eax) {
        ksnprintf(why, CLOCK_WHY_BYTES, "the leaf gives no TSC rate");
        return false;
    }
    rates->tsc_hz = (uint64_t)eax * 1000;
    rates->apic_timer_hz = (uint64_t)ebx * 1000;
    return true;
}

/* ---- 3: the HPET ------------------------------------------------------------------- */

static uint64_t hpet_read(const struct counter *c)
{
    return *c->mmio;
}

static bool from_hpet(void *ctx, struct clock_rates *rates, char *why)
{
    (void)ctx;
    const struct acpi_hpet_info *hpet = &acpi_tables()->hpet;
    if (!hpet->found) {
        ksnprintf(why, CLOCK_WHY_BYTES, "no ACPI HPET table");
        return false;
    }
    volatile uint64_t *regs = paging_map_device(phys(hpet->address_phys), HPET_WINDOW_BYTES,
                                                PAGE_WRITE | PAGE_NOCACHE);
    if (!regs) {
        ksnprintf(why, CLOCK_WHY_BYTES, "cannot map it at 0x%lx", hpet->address_phys);
        return false;
    }
    uint64_t caps = regs[HPET_CAPABILITIES / 8];
    uint64_t period_fs = caps >> HPET_CAP_PERIOD_SHIFT;
    if (period_fs < HPET_PERIOD_MIN_FS || period_fs > HPET_PERIOD_MAX_FS) {
        ksnprintf(why, CLOCK_WHY_BYTES, "it states a period of %lu fs", period_fs);
        return false;
    }
    struct counter c = {
        .read = hpet_read, .hz = FS_PER_S / period_fs,
        .mask = caps & HPET_CAP_COUNT_64 ? ~0ull : 0xffffffffull,
        .mmio = &regs[HPET_COUNTER / 8],
    };
    uint64_t config = regs[HPET_CONFIG / 8];
    regs[HPET_CONFIG / 8] = config | HPET_CONFIG_ENABLE;
    bool measured = measure_against(&c, rates, why);
    regs[HPET_CONFIG / 8] = config;
    return measured;
}

/* ---- 4: the ACPI PM timer ------------------------------------------------------------- */

static uint64_t pm_timer_read(const struct counter *c)
{
    return inl(c->port);
}

static bool from_pm_timer(void *ctx, struct clock_rates *rates, char *why)
{
    (void)ctx;
    const struct acpi_fadt_info *fadt = &acpi_tables()->fadt;
    if (!fadt->pm_timer_port) {
        ksnprintf(why, CLOCK_WHY_BYTES, "%s",
                  !fadt->found ? "no ACPI FADT"
                  : fadt->hardware_reduced ? "none on hardware-reduced ACPI"
                                           : "the FADT names none");
        return false;
    }
    struct counter c = {
        .read = pm_timer_read, .hz = PM_TIMER_HZ,
        .mask = fadt->pm_timer_32bit ? 0xffffffffull : 0xffffffull, .port = fadt->pm_timer_port,
    };
    return measure_against(&c, rates, why);
}

/* ---- 5: the PIT ------------------------------------------------------------------------ */

/*
 * Channel 2 through the gate at port 0x61, judged by OUT2 (mode 0: OUT2 is low
 * from when the count is written until it runs out). That is a threshold: a CPU
 * that notices it late (an SMI, a vCPU the host did not run) measures long, never
 * short. So the start and the end are each bracketed by two TSC reads, a run
 * whose brackets are wider than 1/PIT_BRACKET_SHARE of it is discarded, and the
 * shortest good run is kept. A port 0x61 with no gate behind it (microvm: it
 * reads 0xff) shows OUT2 high before the count starts; then channel 0, whose
 * gate is always on, is read back as a 16-bit down-counter instead.
 */
#define PIT_CHANNEL0 0x40
#define PIT_CH0_MODE2_LOHI 0x34 /* channel 0, lobyte/hibyte, mode 2 (rate), binary */
#define PIT_CH0_LATCH 0x00
#define PIT_BRACKET_SHARE 64
/* Runs tried before the PIT is given up as "every run was interrupted": a run
 * is 2 ms, and a vCPU on a loaded host (or a CPU taking SMIs) can lose a dozen
 * in a row, so give it about 100 ms; a quiet machine stops after three good runs. */
#define PIT_ATTEMPTS 48

/* One run: TSC ticks while channel 2 counts CALIBRATION_MS down; 0 with why
 * (*no_gate when that is the reason), 1 for a run to discard. */
static uint64_t pit_gated_run(char *why, bool *no_gate)
{
    uint16_t count = (uint16_t)(PIT_HZ * CALIBRATION_MS / 1000);
    uint8_t gate = inb(PIT_GATE_PORT), off = (uint8_t)(gate & ~(PIT_SPEAKER | PIT_GATE_ON));
    outb(PIT_GATE_PORT, off);
    outb(PIT_COMMAND, PIT_CH2_MODE0_LOHI);
    outb(PIT_CHANNEL2, (uint8_t)count);
    outb(PIT_CHANNEL2, (uint8_t)(count >> 8));
    uint8_t before = inb(PIT_GATE_PORT);
    if (before & PIT_OUT2) {
        outb(PIT_GATE_PORT, gate);
        ksnprintf(why, CLOCK_WHY_BYTES, "OUT2 is high before the count starts (port 0x61 "
                  "reads 0x%x): no working gate", before);
        *no_gate = true;
        return 0;
    }
    uint64_t start_lo = arch_read_timestamp();
    outb(PIT_GATE_PORT, (uint8_t)(off | PIT_GATE_ON));
    uint64_t start_hi = arch_read_timestamp(), low_seen = start_hi, now = start_hi;
    bool ended = false;
    for (uint32_t reads = 0; !ended && reads < WAIT_READS_MAX && now - start_lo <= WAIT_TSC_MAX;
         reads++) {
        low_seen = now;
        ended = inb(PIT_GATE_PORT) & PIT_OUT2;
        now = arch_read_timestamp();
    }
    outb(PIT_GATE_PORT, gate);
    if (!ended) {
        ksnprintf(why, CLOCK_WHY_BYTES, "OUT2 never rose: channel 2 does not count");
        return 0;
    }
    uint64_t run = now - start_lo, brackets = (start_hi - start_lo) + (now - low_seen);
    if (brackets * PIT_BRACKET_SHARE > run)
        return 1;
    return run * 1000 / CALIBRATION_MS;
}

static uint64_t pit_channel0_read(const struct counter *c)
{
    (void)c;
    outb(PIT_COMMAND, PIT_CH0_LATCH);
    uint8_t low = inb(PIT_CHANNEL0);
    uint8_t high = inb(PIT_CHANNEL0);
    return (uint64_t)(0x10000 - (low | high << 8)); /* counts down: turned into up */
}

static bool pit_channel0(struct clock_rates *rates, char *why)
{
    outb(PIT_COMMAND, PIT_CH0_MODE2_LOHI);
    outb(PIT_CHANNEL0, 0); /* 0: a period of 65536, about 55 ms */
    outb(PIT_CHANNEL0, 0);
    struct counter c = {.read = pit_channel0_read, .hz = PIT_HZ, .mask = 0xffff};
    return measure_against(&c, rates, why);
}

static bool from_pit(void *ctx, struct clock_rates *rates, char *why)
{
    (void)ctx;
    uint64_t best = 0;
    for (int attempt = 0, good = 0; attempt < PIT_ATTEMPTS && good < CALIBRATION_RUNS;
         attempt++) {
        bool no_gate = false;
        uint64_t run = pit_gated_run(why, &no_gate);
        if (no_gate) {
            kprintf("clock: the PIT: %s; channel 0 read back instead\n", why);
            return pit_channel0(rates, why);
        }
        if (run == 0)
            return false;
        if (run > 1 && (!best || run < best))
            best = run;
        good += run > 1;
    }
    if (!best) {
        ksnprintf(why, CLOCK_WHY_BYTES, "every run was interrupted");
        return false;
    }
    rates->tsc_hz = best;
    return true;
}

/* ---- 6: the RTC -------------------------------------------------------------------------- */

static uint8_t cmos_read(uint8_t reg)
{
    outb(CMOS_INDEX, CMOS_NMI_OFF | reg);
    return inb(CMOS_DATA);
}

/* Waits until the seconds register differs from `from`; false after the bounds.
 * *now is the TSC when the change was seen. */
static bool rtc_wait_second(uint8_t from, uint64_t start, uint64_t *now)
{
    for (uint32_t reads = 0; reads < RTC_READS_MAX; reads++) {
        uint8_t seconds = cmos_read(RTC_SECONDS);
        *now = arch_read_timestamp();
        if (seconds != from)
            return true;
        if (*now - start > RTC_WAIT_TSC_MAX)
            return false;
    }
    return false;
}

/*
 * TSC ticks over one second of the RTC, from one change of its seconds register
 * to the next. Its periodic interrupt flag would be quicker, but an emulator
 * raises that flag from a host timer that runs late under load (QEMU's did by up
 * to 70%), while the seconds are the clock itself. It costs up to two seconds:
 * the last resort.
 */
static bool from_rtc(void *ctx, struct clock_rates *rates, char *why)
{
    (void)ctx;
    uint8_t a = cmos_read(RTC_REG_A);
    if ((a & RTC_A_DIVIDER_MASK) != RTC_A_DIVIDER_32K) {
        ksnprintf(why, CLOCK_WHY_BYTES, "register A reads 0x%x: no RTC on a 32.768 kHz base", a);
        return false;
    }
    uint64_t start = arch_read_timestamp(), t0, t1;
    if (!rtc_wait_second(cmos_read(RTC_SECONDS), start, &t0) ||
        !rtc_wait_second(cmos_read(RTC_SECONDS), t0, &t1)) {
        ksnprintf(why, CLOCK_WHY_BYTES, "its seconds do not advance");
        return false;
    }
    rates->tsc_hz = t1 - t0;
    return true;
}

/* ---- the choice ---------------------------------------------------------------------------- */

static const struct clock_source sources[] = {
    {"cpuid", "CPUID 0x15/0x16", from_cpuid_15, NULL},
    {"hypervisor", "the hypervisor leaf 0x40000010", from_hypervisor, NULL},
    {"hpet", "the HPET", from_hpet, NULL},
    {"pmtimer", "the ACPI PM timer", from_pm_timer, NULL},
    {"pit", "the PIT", from_pit, NULL},
    {"rtc", "the RTC", from_rtc, NULL},
};
#define SOURCE_COUNT (sizeof(sources) / sizeof(sources[0]))

bool arch_clock_make_source_lie(const char *key)
{
    lying_source = clock_source_index(sources, SOURCE_COUNT, key);
    return lying_source >= 0;
}

static void print_line(const char *line)
{
    kprintf("%s\n", line);
}

struct clock_rates clock_calibrate(void)
{
    struct clock_rates rates = {0, 0};
    int chosen = clock_select(sources, SOURCE_COUNT, lying_source, print_line, &rates);
    if (chosen < 0)
        panic("clock: no clock source gives a plausible TSC rate (see above)");
    chosen_name = sources[chosen].name;
    return rates;
}

const char *clock_source_name(void)
{
    return chosen_name;
}
