/*
 * arch/platform: the machine around the CPU: the first console, the consoles'
 * input, reboot and power-off, and the emulator's exit port (arch/x86_64: arch.c,
 * serial.c, ps2.c, console_input.c, power.c).
 *
 * Interrupt context: arch_debug_exit may be called from it (a panic in test
 * mode); the others are for boot or for the shell's thread.
 */
#ifndef EXO_ARCH_PLATFORM_H
#define EXO_ARCH_PLATFORM_H

#include <stdbool.h>

/* The first console (COM1 on x86_64), registered with kernel/console.c. Returns
 * false when the machine has none; kernel_main goes on without it. */
bool arch_early_console_init(void);

/* The consoles' input (x86_64: the PS/2 keyboard and COM1's receiver), on: from
 * now on what the user types arrives through input_push (kernel/input.h), from
 * interrupt handlers. Prints which inputs work. After arch_interrupts_init. */
void arch_input_start(void);

/* Under an emulator's exit device (QEMU's isa-debug-exit on x86_64), end the VM
 * with a pass or fail status; elsewhere this has no effect, so it then halts. */
__attribute__((noreturn)) void arch_debug_exit(bool success);

/*
 * arch_reboot tries each way the machine offers in turn (x86_64: the ACPI reset
 * register when the FADT says it is supported, the keyboard controller's reset
 * line, a triple fault). arch_power_off powers the machine off (x86_64: ACPI S5);
 * it returns false, after printing why, when the firmware describes no way to do
 * so or the machine is still running a moment later.
 */
__attribute__((noreturn)) void arch_reboot(void);
bool arch_power_off(void);

/* The firmware's NUMA topology (x86_64: ACPI SRAT and SLIT, acpi_boot.c), read on
 * the first call, which may come before paging and the heap: a valid topology
 * always, one node when the firmware describes none. Boot CPU, then read-only. */
struct acpi_numa_info;
const struct acpi_numa_info *arch_numa_tables(void);

#endif
