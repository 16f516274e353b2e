/*
 * x86_64's constants for include/arch/mmu.h: the page-table geometry (4-level
 * paging, Intel SDM vol. 3, 4.5), the early map boot/boot.asm builds, and the
 * PC's physical ranges the memory managers must leave alone. A port supplies
 * arch/<name>/include/machine/mmu.h with the same names.
 */
#ifndef EXO_MACHINE_MMU_H
#define EXO_MACHINE_MMU_H

/* 4 KiB pages; 512 entries a table; 4 levels (2 MiB leaves at level 1, 1 GiB at
 * level 2). */
#define ARCH_PAGE_SHIFT 12
#define ARCH_PT_LEVELS 4
#define ARCH_PT_INDEX_BITS 9

/* boot/boot.asm maps the first 4 GiB of physical memory (2 MiB pages) in the
 * direct map before paging_init builds the real tables. */
#define ARCH_EARLY_DIRECT_MAP_BYTES (4ull << 30)

/* The PC's first MiB: real-mode interrupt vectors, the BIOS data area, the EBDA,
 * option ROMs, and the AP start-up trampoline (boot/trampoline.asm). Never given
 * out by the frame allocator; always in the direct map. */
#define ARCH_PHYS_LOW_RESERVED_END 0x100000ull

/* Below 4 GiB the direct map covers every region the memory map lists, reserved
 * ones too (ACPI tables and other firmware data live there); above it only RAM:
 * firmware reserves holes up there, not tables. */
#define ARCH_PHYS_DEVICE_HOLE_END (4ull << 30)

#endif
