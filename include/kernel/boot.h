/*
 * boot: turns what the entry code handed to kernel_main into the boot info and the
 * kernel options, once, on the boot CPU; afterwards both are read-only and any
 * subsystem may read them.
 *
 * Interrupt context: the read-only accessors may be called from it; the
 * parsing runs once, at boot.
 */
#ifndef EXO_KERNEL_BOOT_H
#define EXO_KERNEL_BOOT_H

#include <stdint.h>

#include "kernel/bootinfo.h"
#include "kernel/cmdline.h"

/* Parses the loader's info (panicking with a precise message when it is unusable)
 * and the command line (reporting and ignoring bad options). */
void boot_load(uint32_t protocol, uint64_t info_phys, uint32_t magic);

const struct boot_info *boot_info(void);
const struct kernel_options *boot_options(void);

/* Prints the boot info in a few lines (protocol, loader, memory map, ...). */
void boot_print_summary(void);

/* Kernel image bounds from the linker script, physical. */
extern char __kernel_phys_start[], __kernel_phys_end[];

#endif
