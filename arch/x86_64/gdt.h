/*
 * Segments and the TSS. Long mode ignores segment bases and limits except for FS/GS
 * and the TSS, which holds the stacks the CPU switches to: IST1 for double faults
 * (so a kernel stack overflow still has a stack to report on), IST2 for NMIs and
 * IST3 for machine checks.
 */
#ifndef EXO_ARCH_X86_64_GDT_H
#define EXO_ARCH_X86_64_GDT_H

#include <stdint.h>

#define GDT_KERNEL_CODE 0x08
#define GDT_KERNEL_DATA 0x10
#define GDT_USER_DATA 0x18
#define GDT_USER_CODE 0x20
#define GDT_TSS 0x28

#define IST_DOUBLE_FAULT 1
#define IST_NMI 2
#define IST_MACHINE_CHECK 3
#define IST_DEBUG 4
#define IST_COUNT 4
#define IST_STACK_BYTES 8192

#include <stddef.h>

#include "percpu.h"

/* Loads a fresh GDT and TSS on the calling CPU and reloads every segment
 * register. `memory`: gdt_tables_bytes() of 16-byte aligned memory that stays
 * the CPU's for good (its GDT, TSS and IST stacks), or NULL on the boot CPU,
 * which has static tables. */
void gdt_init_this_cpu(void *memory);
size_t gdt_tables_bytes(void);
struct tss {
    uint32_t reserved0;
    uint64_t rsp[3]; /* stacks for privilege changes to rings 0..2 */
    uint64_t reserved1;
    uint64_t ist[7]; /* IST1..IST7 */
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base; /* past the limit: no I/O permission bitmap */
} __attribute__((packed));

/* Sets the TSS rsp0 of this CPU (its area c): the stack ring-3 interrupts and
 * exceptions land on. Inline: the switch between user threads sets it. */
static inline void gdt_set_ring0_stack(struct cpu_area *c, uint64_t stack_top)
{
    ((struct tss *)c->tss)->rsp[0] = stack_top;
}

#endif
