#include "gdt.h"

#include <stddef.h>

#include "lib/string.h"
#include "percpu.h"

/* Access bytes and flags of the descriptors below. */
#define SEG_PRESENT (1ull << 47)
#define SEG_DPL3 (3ull << 45)
#define SEG_CODE_DATA (1ull << 44) /* S bit: code or data, not system */
#define SEG_EXECUTABLE (1ull << 43)
#define SEG_WRITABLE (1ull << 41)  /* data: writable; code: readable */
#define SEG_LONG_MODE (1ull << 53)
#define TSS_TYPE_AVAILABLE (0x9ull << 40)

/* One CPU's tables. Only its own CPU touches them after gdt_init_this_cpu. */
struct cpu_tables {
    uint64_t gdt[7]; /* null, kcode, kdata, udata, ucode, tss (2 slots) */
    struct tss tss;
    uint8_t ist_stacks[IST_COUNT][IST_STACK_BYTES] __attribute__((aligned(16)));
};

static struct cpu_tables boot_cpu_tables __attribute__((aligned(64)));

size_t gdt_tables_bytes(void)
{
    return sizeof(struct cpu_tables);
}

struct descriptor_pointer {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

static void tss_descriptor(uint64_t slot[2], const struct tss *tss)
{
    uint64_t base = (uint64_t)tss;
    uint64_t limit = sizeof(*tss) - 1;
    slot[0] = (limit & 0xffff) | ((base & 0xffffff) << 16) | TSS_TYPE_AVAILABLE |
              SEG_PRESENT | ((limit >> 16 & 0xf) << 48) | ((base >> 24 & 0xff) << 56);
    slot[1] = base >> 32;
}

static void load_tables(const struct cpu_tables *tables)
{
    struct descriptor_pointer gdtr = {sizeof(tables->gdt) - 1, (uint64_t)tables->gdt};
    __asm__ volatile("lgdt %0" : : "m"(gdtr));
    /* A far return reloads CS; the data segments are plain moves. */
    __asm__ volatile("pushq %[code]\n\t"
                     "leaq 1f(%%rip), %%rax\n\t"
                     "pushq %%rax\n\t"
                     "lretq\n"
                     "1:\n\t"
                     "movw %w[data], %%ax\n\t"
                     "movw %%ax, %%ds\n\t"
                     "movw %%ax, %%es\n\t"
                     "movw %%ax, %%ss\n\t"
                     :
                     : [code] "i"(GDT_KERNEL_CODE), [data] "i"(GDT_KERNEL_DATA)
                     : "rax", "memory");
    __asm__ volatile("ltr %w0" : : "r"((uint16_t)GDT_TSS));
}

void gdt_init_this_cpu(void *memory)
{
    struct cpu_tables *tables = memory ? memory : &boot_cpu_tables;
    memset(tables, 0, sizeof(*tables));
    tables->gdt[GDT_KERNEL_CODE / 8] = SEG_PRESENT | SEG_CODE_DATA | SEG_EXECUTABLE |
                                       SEG_WRITABLE | SEG_LONG_MODE;
    tables->gdt[GDT_KERNEL_DATA / 8] = SEG_PRESENT | SEG_CODE_DATA | SEG_WRITABLE;
    tables->gdt[GDT_USER_DATA / 8] = SEG_PRESENT | SEG_DPL3 | SEG_CODE_DATA | SEG_WRITABLE;
    tables->gdt[GDT_USER_CODE / 8] = SEG_PRESENT | SEG_DPL3 | SEG_CODE_DATA |
                                     SEG_EXECUTABLE | SEG_WRITABLE | SEG_LONG_MODE;
    tss_descriptor(&tables->gdt[GDT_TSS / 8], &tables->tss);

    for (int i = 0; i < IST_COUNT; i++)
        tables->tss.ist[i] = (uint64_t)&tables->ist_stacks[i][IST_STACK_BYTES];
    tables->tss.iomap_base = sizeof(struct tss); /* no I/O bitmap: ring 3 may not in/out */
    this_cpu_area()->tss = &tables->tss;
    load_tables(tables);
}
