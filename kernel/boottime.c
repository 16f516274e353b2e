#include "kernel/boottime.h"

#include "arch/time.h"
#include "lib/printf.h"
#include "lib/string.h"

static uint64_t entry_cycles;
static struct {
    const char *name;
    uint64_t end_cycles;
} phases[BOOTTIME_MAX_PHASES];
static unsigned phase_count;

void boottime_start(void)
{
    entry_cycles = arch_read_timestamp();
}

void boottime_mark(const char *name)
{
    if (phase_count == BOOTTIME_MAX_PHASES)
        return;
    phases[phase_count].name = name;
    phases[phase_count].end_cycles = arch_read_timestamp();
    phase_count++;
}

static uint64_t cycles_to_us(uint64_t cycles)
{
    uint64_t hz = arch_timestamp_hz();
    if (hz == 0)
        return 0;
    /* Split to avoid overflow: whole seconds, then the remainder. */
    return cycles / hz * 1000000 + cycles % hz * 1000000 / hz;
}

uint64_t boottime_since_entry_cycles(void)
{
    return arch_read_timestamp() - entry_cycles;
}

uint64_t boottime_cycles_to_us(uint64_t cycles)
{
    return cycles_to_us(cycles);
}

uint64_t boottime_since_entry_us(void)
{
    return cycles_to_us(boottime_since_entry_cycles());
}

uint64_t boottime_phase_cycles(const char *name)
{
    for (unsigned i = 0; i < phase_count; i++) {
        if (strcmp(phases[i].name, name) == 0)
            return phases[i].end_cycles - (i ? phases[i - 1].end_cycles : entry_cycles);
    }
    return 0;
}

void boottime_print(void)
{
    kprintf("boot phases (us): %-12s %10s %10s\n", "phase", "took", "done at");
    uint64_t previous = entry_cycles;
    for (unsigned i = 0; i < phase_count; i++) {
        kprintf("                  %-12s %10lu %10lu\n", phases[i].name,
                cycles_to_us(phases[i].end_cycles - previous),
                cycles_to_us(phases[i].end_cycles - entry_cycles));
        previous = phases[i].end_cycles;
    }
}
