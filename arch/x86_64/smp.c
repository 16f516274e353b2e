/* CPUs: their APIC IDs by index. Only the boot CPU runs so far. */
#include "apic.h"
#include "arch/arch.h"

/* Written by the boot CPU before any other runs; read-only afterwards. */
static uint32_t apic_ids[ARCH_MAX_CPUS];
static unsigned cpus_online = 1;

void smp_set_boot_cpu(uint32_t id)
{
    apic_ids[0] = id;
}

uint32_t smp_apic_id(unsigned cpu)
{
    return apic_ids[cpu];
}

unsigned arch_cpu_count(void)
{
    return __atomic_load_n(&cpus_online, __ATOMIC_ACQUIRE);
}
