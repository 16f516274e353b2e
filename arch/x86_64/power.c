/*
 * Reboot and power-off, as the FADT describes them: the ACPI reset register, and
 * the S5 (soft-off) sleep state entered by writing the \_S5 sleep type with
 * SLP_EN to the PM1 control registers. The older ways remain as fallbacks for
 * reboot: the 8042 keyboard controller's reset line, then a triple fault.
 */
#include "acpi_boot.h"
#include "arch/cpu.h"
#include "arch/irq.h"
#include "arch/platform.h"
#include "arch/time.h"
#include "cpu.h"
#include "lib/printf.h"
#include "mm/paging.h"

/* PM1 control register bits (ACPI 6.5, table 4.13). */
#define PM1_SCI_EN (1u << 0)
#define PM1_SLP_TYP_SHIFT 10
#define PM1_SLP_TYP_MASK (7u << PM1_SLP_TYP_SHIFT)
#define PM1_SLP_EN (1u << 13)

/* The 8042: status and command share port 0x64; 0xfe pulses the CPU reset line. */
#define KBC_STATUS_PORT 0x64
#define KBC_COMMAND_PORT 0x64
#define KBC_STATUS_INPUT_FULL 0x02
#define KBC_PULSE_RESET 0xfe

/* PCI configuration mechanism #1, for a reset register in PCI config space. */
#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA 0xcfc
#define PCI_CONFIG_ENABLE 0x80000000u

#define POST_CODE_PORT 0x80 /* a write takes about 1 us: a delay before the TSC works */
#define RESET_WAIT_NS 500000000ull     /* for a reset to take effect */
#define POWER_OFF_WAIT_MS 1000 /* for the power to go */
#define ACPI_MODE_WAIT_NS 1000000000ull /* for the firmware to hand over ACPI mode */

static uint64_t now_ns(void)
{
    return arch_time_ns();
}

static void wait_ns(uint64_t ns)
{
    if (arch_timestamp_hz() == 0) { /* before the clocks are calibrated */
        for (uint64_t us = 0; us < ns / 1000; us++)
            outb(POST_CODE_PORT, 0);
        return;
    }
    uint64_t until = now_ns() + ns;
    while (now_ns() < until)
        arch_cpu_relax();
}

/* Writes the reset value to the FADT's reset register; false if its address
 * space or address is unusable. */
static bool write_reset_register(const struct acpi_gas *reg, uint8_t value)
{
    if (reg->space == ACPI_SPACE_IO && reg->address <= 0xffff) {
        outb((uint16_t)reg->address, value);
        return true;
    }
    if (reg->space == ACPI_SPACE_MEMORY) {
        volatile uint8_t *byte = paging_map_device(phys(reg->address), 1,
                                                   PAGE_WRITE | PAGE_NOCACHE);
        if (!byte)
            return false;
        *byte = value;
        return true;
    }
    if (reg->space == ACPI_SPACE_PCI_CONFIG) {
        /* Bus 0; the address holds device (bits 32-47), function (16-31), offset. */
        uint32_t device = (uint32_t)(reg->address >> 32) & 0x1f;
        uint32_t function = (uint32_t)(reg->address >> 16) & 0x7;
        uint32_t offset = (uint32_t)reg->address & 0xff;
        outl(PCI_CONFIG_ADDRESS,
             PCI_CONFIG_ENABLE | device << 11 | function << 8 | (offset & 0xfc));
        outb((uint16_t)(PCI_CONFIG_DATA + (offset & 3)), value);
        return true;
    }
    return false;
}

static void pulse_keyboard_controller_reset(void)
{
    for (int i = 0; i < 100000 && (inb(KBC_STATUS_PORT) & KBC_STATUS_INPUT_FULL); i++)
        outb(POST_CODE_PORT, 0);
    outb(KBC_COMMAND_PORT, KBC_PULSE_RESET);
}

/* With no valid IDT, the breakpoint raises #GP, then #DF, then a shutdown: the
 * chipset resets the machine. */
static __attribute__((noreturn)) void triple_fault(void)
{
    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) empty_idt = {0, 0};
    __asm__ volatile("lidt %0; int3" : : "m"(empty_idt) : "memory");
    arch_halt_forever();
}

void arch_reboot(void)
{
    arch_irq_save_disable(); /* for good: nothing runs on this CPU any more */
    const struct acpi_fadt_info *fadt = &acpi_tables()->fadt;
    if (fadt->reset_supported) {
        kprintf("power: rebooting through the ACPI reset register (space %u, 0x%lx <- 0x%x)\n",
                fadt->reset_reg.space, fadt->reset_reg.address, fadt->reset_value);
        if (write_reset_register(&fadt->reset_reg, fadt->reset_value))
            wait_ns(RESET_WAIT_NS);
        kprintf("power: the ACPI reset register did not reset the machine\n");
    } else {
        kprintf("power: the FADT offers no reset register\n");
    }
    kprintf("power: rebooting through the keyboard controller\n");
    pulse_keyboard_controller_reset();
    wait_ns(RESET_WAIT_NS);
    kprintf("power: the keyboard controller did not reset the machine; forcing a triple fault\n");
    triple_fault();
}

/* The firmware may still own the power management registers (SMM, legacy mode);
 * ask it for ACPI mode, as the FADT says how. */
static void enter_acpi_mode(const struct acpi_fadt_info *fadt)
{
    if (inw(fadt->pm1a_cnt_port) & PM1_SCI_EN)
        return;
    if (fadt->smi_cmd_port == 0 || fadt->smi_cmd_port > 0xffff || fadt->acpi_enable_value == 0)
        return; /* no legacy mode to leave */
    outb((uint16_t)fadt->smi_cmd_port, fadt->acpi_enable_value);
    uint64_t waited = 0;
    while (!(inw(fadt->pm1a_cnt_port) & PM1_SCI_EN) && waited < ACPI_MODE_WAIT_NS) {
        wait_ns(1000000);
        waited += 1000000;
    }
    if (!(inw(fadt->pm1a_cnt_port) & PM1_SCI_EN))
        kprintf("power: the firmware did not hand over ACPI mode; trying S5 anyway\n");
}

static void write_sleep_type(uint16_t port, uint8_t slp_typ, bool enable)
{
    uint16_t value = (uint16_t)((inw(port) & ~PM1_SLP_TYP_MASK & ~PM1_SLP_EN) |
                                (unsigned)slp_typ << PM1_SLP_TYP_SHIFT);
    outw(port, (uint16_t)(value | (enable ? PM1_SLP_EN : 0)));
}

bool arch_power_off(void)
{
    const struct acpi_info *acpi = acpi_tables();
    const struct acpi_fadt_info *fadt = &acpi->fadt;
    if (!fadt->found || fadt->pm1a_cnt_port == 0) {
        kprintf("power: cannot power off: no ACPI FADT with a PM1a control port\n");
        return false;
    }
    if (!acpi->s5.found) {
        kprintf("power: cannot power off: the DSDT has no usable \\_S5 (soft-off) package\n");
        return false;
    }
    enter_acpi_mode(fadt);
    kprintf("power: entering ACPI S5 (soft-off)\n");
    bool were_enabled = arch_irq_save_disable();
    /* Sleep type first, then SLP_EN, as some chipsets need two writes. */
    write_sleep_type(fadt->pm1a_cnt_port, acpi->s5.slp_typ_a, false);
    if (fadt->pm1b_cnt_port)
        write_sleep_type(fadt->pm1b_cnt_port, acpi->s5.slp_typ_b, false);
    write_sleep_type(fadt->pm1a_cnt_port, acpi->s5.slp_typ_a, true);
    if (fadt->pm1b_cnt_port)
        write_sleep_type(fadt->pm1b_cnt_port, acpi->s5.slp_typ_b, true);
    wait_ns(POWER_OFF_WAIT_MS * 1000000ull);
    arch_irq_restore(were_enabled);
    kprintf("power: cannot power off: the machine still runs %d ms after the S5 request\n",
            POWER_OFF_WAIT_MS);
    return false;
}
