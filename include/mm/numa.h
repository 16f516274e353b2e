/*
 * numa: which NUMA node each CPU and each range of physical memory belongs to,
 * and how far apart the nodes are. The frame allocator keeps a pool per node and
 * fills each CPU's cache from its own node, then from the others nearest first;
 * the scheduler steals from CPUs of its own node first, then by distance.
 *
 * The topology comes from the firmware (ACPI SRAT and SLIT, include/lib/acpi.h,
 * read by the architecture: arch_numa_tables in include/arch/platform.h). Without
 * an SRAT, or with `numa=off`, there is one node holding every CPU and all memory.
 * Nodes are numbered 0 .. numa_node_count()-1 in the order of the firmware's
 * proximity domains. Distances are the SLIT's: 10 is local, larger is farther.
 *
 * numa_init runs once on the boot CPU before frame_init; numa_map_cpu runs as
 * each CPU comes up (before its first allocation, ideally). Everything else is
 * read-only afterwards, so it needs no lock and may be called from interrupt
 * context. A node may have CPUs and no memory, or memory and no CPUs.
 */
#ifndef EXO_MM_NUMA_H
#define EXO_MM_NUMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/acpi.h"

#define NUMA_MAX_NODES ACPI_MAX_NODES
#define NUMA_LOCAL_DISTANCE 10

/* A physical range [start_phys, end_phys) of one node. */
struct numa_mem_range {
    uint64_t start_phys, end_phys;
    unsigned node;
};

/* Takes the topology (NULL: none); `enabled` false (numa=off) folds it into one
 * node. Copies what it needs. */
void numa_init(const struct acpi_numa_info *tables, bool enabled);

/* Records the node of CPU `cpu`, whose firmware (APIC) ID is `hw_id`; a CPU the
 * SRAT does not name joins node 0. */
void numa_map_cpu(unsigned cpu, uint32_t hw_id);

unsigned numa_node_count(void);
bool numa_enabled(void); /* more than one node */
unsigned numa_cpu_node(unsigned cpu);
unsigned numa_distance(unsigned from, unsigned to);

/* Every node, nearest to `node` first (node itself first; ties in node order). */
const uint8_t *numa_nodes_by_distance(unsigned node);

/* The memory ranges of all nodes, sorted by address, none overlapping. */
size_t numa_mem_ranges(const struct numa_mem_range **out);

/* The node whose memory holds `phys` (node 0 for memory no range names). */
unsigned numa_phys_node(uint64_t phys);

#endif
