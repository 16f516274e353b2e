/*
 * Suite `acpi`: the firmware tables the kernel read at boot describe the machine it
 * runs on, and the I/O APIC really delivers a legacy interrupt routed through them:
 * COM1's transmitter-empty interrupt (ISA IRQ 4) must reach the handler on the
 * boot CPU. It lives in arch/x86_64 because the MADT, the FADT's I/O ports and the
 * 16550 are x86's. Named-only suites `power_off` and `reboot` end the machine (the
 * harness checks how).
 */
#include "acpi_boot.h"
#include "apic.h"
#include "cpu.h"
#include "ioapic.h"
#include "kernel/ktest.h"
#include "serial.h"
#include "arch/cpu.h"
#include "arch/irq.h"
#include "arch/platform.h"
#include "arch/smp.h"
#include "arch/time.h"

#define IRQ_WAIT_MS 200 /* an interrupt that has not come by now will not */
#define QUIET_WAIT_MS 20

/* Without ACPI tables (QEMU's acpi=off) there is nothing to describe and no I/O
 * APIC is known, so nothing can be routed: the tests skip, saying so. A machine
 * with tables is held to them in full (a MADT without an I/O APIC fails). */
#define SKIP_WITHOUT_ACPI(t)                                                              \
    do {                                                                                  \
        if (!acpi_tables()->root_found)                                                   \
            KT_SKIP(t, "no ACPI tables (acpi=off?)");                                     \
    } while (0)
#define SKIP_WITHOUT_MADT(t)                                                              \
    do {                                                                                  \
        SKIP_WITHOUT_ACPI(t);                                                             \
        if (!acpi_tables()->madt.found)                                                   \
            KT_SKIP(t, "no MADT: no I/O APIC is known, ISA IRQs cannot be routed");       \
    } while (0)

static void acpi_tables_describe_this_machine(struct ktest *t)
{
    SKIP_WITHOUT_ACPI(t);
    const struct acpi_info *acpi = acpi_tables();
    KT_ASSERT(t, acpi->madt.found);
    KT_EXPECT(t, acpi->madt.cpu_count >= arch_cpu_count());
    bool boot_cpu_listed = false;
    for (unsigned i = 0; i < acpi->madt.cpu_count; i++)
        boot_cpu_listed |= acpi->madt.apic_ids[i] == smp_apic_id(0);
    KT_EXPECT(t, boot_cpu_listed);
    KT_EXPECT(t, acpi->madt.ioapic_count >= 1);
    ktest_note(t, "%u CPUs, %u I/O APIC(s), %s", acpi->madt.cpu_count, acpi->madt.ioapic_count,
               acpi->xsdt ? "XSDT" : "RSDT");
}

static void acpi_fadt_names_real_power_ports(struct ktest *t)
{
    SKIP_WITHOUT_ACPI(t);
    const struct acpi_info *acpi = acpi_tables();
    KT_ASSERT(t, acpi->fadt.found);
    if (acpi->fadt.hardware_reduced)
        KT_SKIP(t, "hardware-reduced ACPI (microvm): no PM1 control block, no SCI");
    KT_ASSERT(t, acpi->fadt.pm1a_cnt_port != 0);
    /* A port with nothing behind it reads as all ones. */
    KT_EXPECT(t, inw(acpi->fadt.pm1a_cnt_port) != 0xffff);
    KT_EXPECT(t, acpi->fadt.dsdt_phys != 0);
    KT_EXPECT(t, acpi->fadt.sci_irq != 0);
    ktest_note(t, "PM1a_CNT 0x%x, SCI %u, S5 sleep types %u/%u, reset register %s",
               acpi->fadt.pm1a_cnt_port, acpi->fadt.sci_irq, acpi->s5.slp_typ_a,
               acpi->s5.slp_typ_b, acpi->fadt.reset_supported ? "yes" : "no");
    /* SeaBIOS builds its own minimal tables when QEMU gives none (q35,acpi=off),
     * with no \_S5. QEMU's own DSDT has one: the power-off boots prove it is found. */
    if (!acpi->s5.found)
        KT_SKIP(t, "the DSDT has no \\_S5 (a firmware's own minimal tables?): no soft-off");
}

struct irq_probe {
    unsigned count;   /* atomic: handler runs */
    unsigned cpu;     /* the CPU of the last run */
    bool tx_empty;    /* the UART said it was its transmitter-empty interrupt */
};

static void serial_tx_empty_handler(void *ctx)
{
    struct irq_probe *probe = ctx;
    probe->tx_empty = serial_ack_tx_empty_interrupt();
    serial_set_tx_empty_interrupt(false); /* once is enough: quiet the line */
    probe->cpu = arch_cpu_index();
    __atomic_fetch_add(&probe->count, 1, __ATOMIC_RELEASE);
}

/* Waits up to timeout_ms, interrupts enabled, for the probe to count past `seen`. */
static bool wait_for_interrupt(struct irq_probe *probe, unsigned seen, unsigned timeout_ms)
{
    bool were_enabled = arch_irq_save_disable();
    arch_irq_restore(true);
    uint64_t deadline = arch_time_ns() + timeout_ms * 1000000ull;
    while (__atomic_load_n(&probe->count, __ATOMIC_ACQUIRE) == seen && arch_time_ns() < deadline)
        arch_cpu_relax();
    arch_irq_restore(were_enabled);
    return __atomic_load_n(&probe->count, __ATOMIC_ACQUIRE) != seen;
}

static void acpi_ioapic_delivers_com1_interrupt(struct ktest *t)
{
    SKIP_WITHOUT_MADT(t);
    if (!serial_present())
        KT_SKIP(t, "no UART at COM1");
    if (serial_input_active())
        KT_SKIP(t, "COM1's IRQ is the console's input (run from the shell)");
    struct irq_probe probe = {0, ~0u, false};
    KT_ASSERT(t, arch_isa_irq_enable(SERIAL_COM1_ISA_IRQ, serial_tx_empty_handler, &probe));
    serial_set_tx_empty_interrupt(true); /* the transmitter is empty by now: fires at once */
    bool fired = wait_for_interrupt(&probe, 0, IRQ_WAIT_MS);
    serial_set_tx_empty_interrupt(false);
    arch_isa_irq_disable(SERIAL_COM1_ISA_IRQ);
    serial_ack_tx_empty_interrupt(); /* in case it came after the mask */
    if (!fired)
        ktest_fail(t, __FILE__, __LINE__, "no interrupt from COM1 within %d ms",
                   IRQ_WAIT_MS);
    KT_EXPECT(t, probe.tx_empty);
    KT_EXPECT_EQ(t, probe.cpu, 0);
}

static void acpi_masked_irq_stays_quiet(struct ktest *t)
{
    SKIP_WITHOUT_MADT(t);
    if (!serial_present())
        KT_SKIP(t, "no UART at COM1");
    if (serial_input_active())
        KT_SKIP(t, "COM1's IRQ is the console's input (run from the shell)");
    struct irq_probe probe = {0, ~0u, false};
    KT_ASSERT(t, arch_isa_irq_enable(SERIAL_COM1_ISA_IRQ, serial_tx_empty_handler, &probe));
    arch_isa_irq_disable(SERIAL_COM1_ISA_IRQ);
    serial_set_tx_empty_interrupt(true);
    bool fired = wait_for_interrupt(&probe, 0, QUIET_WAIT_MS);
    serial_set_tx_empty_interrupt(false);
    serial_ack_tx_empty_interrupt();
    KT_EXPECT(t, !fired);
    /* Enabled again, with the UART quiet, it takes a fresh interrupt. */
    KT_ASSERT(t, arch_isa_irq_enable(SERIAL_COM1_ISA_IRQ, serial_tx_empty_handler, &probe));
    unsigned seen = __atomic_load_n(&probe.count, __ATOMIC_ACQUIRE);
    serial_set_tx_empty_interrupt(true);
    KT_EXPECT(t, wait_for_interrupt(&probe, seen, IRQ_WAIT_MS));
    serial_set_tx_empty_interrupt(false);
    arch_isa_irq_disable(SERIAL_COM1_ISA_IRQ);
    serial_ack_tx_empty_interrupt();
}

static void ignore_interrupt(void *ctx)
{
    (void)ctx;
}

static void acpi_isa_irq_enable_refuses_misuse(struct ktest *t)
{
    KT_EXPECT(t, !arch_isa_irq_enable(16, ignore_interrupt, NULL));
    SKIP_WITHOUT_MADT(t);
    /* IRQ 3 (COM2) is quiet on QEMU: safe to route and leave masked. */
    KT_ASSERT(t, arch_isa_irq_enable(3, ignore_interrupt, NULL));
    KT_EXPECT(t, !arch_isa_irq_enable(3, ignore_interrupt, NULL));
    arch_isa_irq_disable(3);
    KT_EXPECT(t, arch_isa_irq_enable(3, ignore_interrupt, NULL));
    arch_isa_irq_disable(3);
}

KTEST_SUITE(acpi, KTEST(acpi_tables_describe_this_machine),
            KTEST(acpi_fadt_names_real_power_ports), KTEST(acpi_ioapic_delivers_com1_interrupt),
            KTEST(acpi_masked_irq_stays_quiet), KTEST(acpi_isa_irq_enable_refuses_misuse));

/* Must not return: the harness expects QEMU to end by power-off. */
static void power_off_ends_the_machine(struct ktest *t)
{
    bool returned = !arch_power_off();
    KT_EXPECT(t, !returned);
}

static void reboot_resets_the_machine(struct ktest *t)
{
    (void)t;
    arch_reboot();
}

KTEST_NAMED_SUITE(power_off, KTEST(power_off_ends_the_machine));
KTEST_NAMED_SUITE(reboot, KTEST(reboot_resets_the_machine));
