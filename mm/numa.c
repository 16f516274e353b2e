#include "mm/numa.h"

#include "arch/cpu.h"
#include "lib/string.h"

/* CPU-to-node lookups go through a hash of the firmware IDs (open addressing,
 * at most half full), so mapping every CPU at boot is linear in their count. */
#define HW_SLOTS (2 * ACPI_MAX_CPUS)
_Static_assert((HW_SLOTS & (HW_SLOTS - 1)) == 0, "a power of two");
_Static_assert(NUMA_MAX_NODES <= 255, "node numbers fit a byte");

/* All written by numa_init and numa_map_cpu at boot, read-only afterwards. */
static unsigned node_count = 1;
static uint8_t distance[NUMA_MAX_NODES][NUMA_MAX_NODES] = {{NUMA_LOCAL_DISTANCE}};
static uint8_t by_distance[NUMA_MAX_NODES][NUMA_MAX_NODES];
static struct numa_mem_range ranges[ACPI_MAX_MEM_RANGES];
static size_t range_count;
static uint8_t cpu_node[ARCH_MAX_CPUS];
static struct {
    uint32_t hw_id_plus_one; /* 0: an empty slot */
    uint8_t node;
} hw_slots[HW_SLOTS];

static unsigned hw_hash(uint32_t hw_id)
{
    return (hw_id * 0x9e3779b1u) >> 11 & (HW_SLOTS - 1);
}

static void hw_insert(uint32_t hw_id, unsigned node)
{
    for (unsigned i = hw_hash(hw_id);; i = (i + 1) & (HW_SLOTS - 1)) {
        if (hw_slots[i].hw_id_plus_one == hw_id + 1)
            return; /* listed twice (LAPIC and x2APIC entries): the first stands */
        if (hw_slots[i].hw_id_plus_one == 0) {
            hw_slots[i].hw_id_plus_one = hw_id + 1;
            hw_slots[i].node = (uint8_t)node;
            return;
        }
    }
}

static unsigned hw_node(uint32_t hw_id)
{
    for (unsigned i = hw_hash(hw_id); hw_slots[i].hw_id_plus_one; i = (i + 1) & (HW_SLOTS - 1)) {
        if (hw_slots[i].hw_id_plus_one == hw_id + 1)
            return hw_slots[i].node;
    }
    return 0;
}

/* Each node's list of nodes by distance: a stable insertion sort of at most 64. */
static void sort_by_distance(void)
{
    for (unsigned from = 0; from < node_count; from++) {
        uint8_t *order = by_distance[from];
        for (unsigned i = 0; i < node_count; i++) {
            unsigned j = i;
            for (; j > 0 && distance[from][order[j - 1]] > distance[from][i]; j--)
                order[j] = order[j - 1];
            order[j] = (uint8_t)i;
        }
    }
}

static void sort_ranges(void)
{
    for (size_t i = 1; i < range_count; i++) {
        struct numa_mem_range r = ranges[i];
        size_t j = i;
        for (; j > 0 && ranges[j - 1].start_phys > r.start_phys; j--)
            ranges[j] = ranges[j - 1];
        ranges[j] = r;
    }
}

void numa_init(const struct acpi_numa_info *tables, bool enabled)
{
    memset(hw_slots, 0, sizeof(hw_slots));
    memset(cpu_node, 0, sizeof(cpu_node));
    range_count = 0;
    node_count = 1;
    if (enabled && tables && tables->srat_found && tables->node_count > 1) {
        node_count = tables->node_count;
        for (unsigned i = 0; i < tables->cpu_count; i++)
            hw_insert(tables->cpus[i].apic_id, tables->cpus[i].node);
        for (unsigned i = 0; i < tables->mem_count; i++) {
            const struct acpi_mem_affinity *m = &tables->mem[i];
            ranges[range_count++] = (struct numa_mem_range){
                m->base_phys, m->base_phys + m->length_bytes, m->node};
        }
        sort_ranges();
    }
    for (unsigned a = 0; a < node_count; a++) {
        for (unsigned b = 0; b < node_count; b++)
            distance[a][b] = node_count > 1 ? tables->distance[a][b] : NUMA_LOCAL_DISTANCE;
    }
    sort_by_distance();
}

void numa_map_cpu(unsigned cpu, uint32_t hw_id)
{
    if (cpu < ARCH_MAX_CPUS)
        cpu_node[cpu] = (uint8_t)hw_node(hw_id);
}

unsigned numa_node_count(void)
{
    return node_count;
}

bool numa_enabled(void)
{
    return node_count > 1;
}

unsigned numa_cpu_node(unsigned cpu)
{
    return cpu < ARCH_MAX_CPUS ? cpu_node[cpu] : 0;
}

unsigned numa_distance(unsigned from, unsigned to)
{
    return from < node_count && to < node_count ? distance[from][to] : 255;
}

const uint8_t *numa_nodes_by_distance(unsigned node)
{
    return by_distance[node < node_count ? node : 0];
}

size_t numa_mem_ranges(const struct numa_mem_range **out)
{
    *out = ranges;
    return range_count;
}

unsigned numa_phys_node(uint64_t phys)
{
    size_t lo = 0, hi = range_count;
    while (lo < hi) { /* the last range starting at or below phys */
        size_t mid = (lo + hi) / 2;
        if (ranges[mid].start_phys <= phys)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0 && phys < ranges[lo - 1].end_phys)
        return ranges[lo - 1].node;
    return 0;
}
