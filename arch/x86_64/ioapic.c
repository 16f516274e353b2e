/*
 * The I/O APICs the MADT lists: each input (a global system interrupt, GSI) has a
 * redirection entry that names a vector, a destination CPU, polarity and trigger
 * mode, and a mask bit. All entries start masked; arch_isa_irq_enable routes one
 * legacy ISA IRQ at a time, honouring the MADT's interrupt source overrides, to a
 * vector of its own delivered to the boot CPU.
 */
#include "ioapic.h"

#include "acpi_boot.h"
#include "apic.h"
#include "arch/cpu.h"
#include "arch/irq.h"
#include "base/panic.h"
#include "lib/printf.h"
#include "mm/paging.h"
#include "base/spinlock.h"

/* The register window: write a register's index to IOREGSEL, then read or write
 * it through IOWIN (both 32-bit). */
#define IOAPIC_WINDOW_BYTES 0x20
#define IOREGSEL 0x00
#define IOWIN 0x10
#define IOAPIC_REG_VERSION 0x01
#define IOAPIC_VERSION_MAX_ENTRY_SHIFT 16 /* bits 16-23: the last input's number */
#define IOAPIC_REG_REDIRECT 0x10          /* input n: low half 0x10 + 2n, high 0x11 + 2n */
#define REDIRECT_ACTIVE_LOW (1u << 13)
#define REDIRECT_LEVEL (1u << 15)
#define REDIRECT_MASKED (1u << 16)
#define REDIRECT_DEST_SHIFT 24 /* high half: the destination's APIC ID (physical mode) */
#define REDIRECT_DEST_MAX 0xffu

struct ioapic {
    volatile uint32_t *regs; /* the mapped window */
    uint32_t gsi_base;       /* GSI of input 0 */
    unsigned inputs;         /* redirection entries */
    uint8_t id;
};

/* Filled by ioapic_init on the boot CPU before anyone routes an IRQ; read-only
 * afterwards. */
static struct ioapic ioapics[ACPI_MAX_IOAPICS];
static unsigned ioapic_count;

/*
 * One legacy IRQ's routing. `vector`, `fn` and `ctx` change only under
 * ioapic_lock. The interrupt path (isa_dispatch) reads them without the lock, so
 * they are published by `enabled` (release on enable, after fn and ctx) and a
 * disabler waits until `running` is 0: the dispatcher sets running before it
 * reads enabled, the disabler clears enabled before it reads running (both
 * sequentially consistent), so either the dispatcher sees enabled = 0 or the
 * disabler sees it running and waits.
 */
struct isa_irq {
    unsigned vector;         /* 0 until first enabled; then kept for this IRQ */
    arch_irq_handler_fn fn;
    void *ctx;
    int enabled;             /* atomic */
    unsigned running;        /* atomic: 1 + the CPU running fn, or 0 */
};

/* Protects the I/O APICs' IOREGSEL/IOWIN pairs, isa_irqs[] and next_vector. */
static struct spinlock ioapic_lock = SPINLOCK_INIT("ioapic");
static struct isa_irq isa_irqs[ACPI_ISA_IRQS];
static unsigned next_vector = VECTOR_DEVICE_FIRST;

static uint32_t ioapic_read(const struct ioapic *io, uint32_t reg)
{
    io->regs[IOREGSEL / 4] = reg;
    return io->regs[IOWIN / 4];
}

static void ioapic_write(const struct ioapic *io, uint32_t reg, uint32_t value)
{
    io->regs[IOREGSEL / 4] = reg;
    io->regs[IOWIN / 4] = value;
}

static void mask_input(const struct ioapic *io, unsigned input)
{
    ioapic_write(io, IOAPIC_REG_REDIRECT + 2 * input, REDIRECT_MASKED);
}

void ioapic_init(void)
{
    const struct acpi_madt_info *madt = &acpi_tables()->madt;
    for (unsigned i = 0; i < madt->ioapic_count; i++) {
        const struct acpi_ioapic *found = &madt->ioapics[i];
        struct ioapic *io = &ioapics[ioapic_count];
        io->regs = paging_map_device(phys(found->address_phys), IOAPIC_WINDOW_BYTES,
                                     PAGE_WRITE | PAGE_NOCACHE);
        if (!io->regs) {
            kprintf("ioapic: cannot map I/O APIC %u at 0x%x; ignored\n", found->id,
                    found->address_phys);
            continue;
        }
        io->gsi_base = found->gsi_base;
        io->id = found->id;
        io->inputs = ((ioapic_read(io, IOAPIC_REG_VERSION) >> IOAPIC_VERSION_MAX_ENTRY_SHIFT) &
                      0xff) + 1;
        for (unsigned input = 0; input < io->inputs; input++)
            mask_input(io, input);
        ioapic_count++;
        kprintf("ioapic: id %u at 0x%x, GSIs %u-%u\n", io->id, found->address_phys,
                io->gsi_base, io->gsi_base + io->inputs - 1);
    }
    if (ioapic_count == 0)
        kprintf("ioapic: none found; ISA IRQs cannot be routed\n");
}

static const struct ioapic *ioapic_for_gsi(uint32_t gsi, unsigned *input)
{
    for (unsigned i = 0; i < ioapic_count; i++) {
        if (gsi >= ioapics[i].gsi_base && gsi - ioapics[i].gsi_base < ioapics[i].inputs) {
            *input = gsi - ioapics[i].gsi_base;
            return &ioapics[i];
        }
    }
    return NULL;
}

static void isa_dispatch(void *ctx)
{
    struct isa_irq *irq = ctx;
    __atomic_store_n(&irq->running, arch_cpu_index() + 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&irq->enabled, __ATOMIC_SEQ_CST))
        irq->fn(irq->ctx);
    __atomic_store_n(&irq->running, 0, __ATOMIC_RELEASE);
}

/* Under ioapic_lock: the routed IRQ's vector, allocating one the first time. */
static unsigned vector_for(struct isa_irq *irq)
{
    if (!irq->vector && next_vector <= VECTOR_DEVICE_LAST)
        irq->vector = next_vector++;
    return irq->vector;
}

bool arch_isa_irq_enable(unsigned isa_irq, arch_irq_handler_fn fn, void *ctx)
{
    KASSERT(fn != NULL);
    if (isa_irq >= ACPI_ISA_IRQS) {
        kprintf("ioapic: ISA IRQ %u does not exist\n", isa_irq);
        return false;
    }
    const struct acpi_isa_route *route = &acpi_tables()->madt.isa[isa_irq];
    unsigned input;
    const struct ioapic *io = ioapic_for_gsi(route->gsi, &input);
    if (!io) {
        kprintf("ioapic: ISA IRQ %u (GSI %u) is on no I/O APIC%s\n", isa_irq, route->gsi,
                ioapic_count ? "" : " (there is none)");
        return false;
    }
    uint32_t dest = smp_apic_id(0);
    if (dest > REDIRECT_DEST_MAX) {
        kprintf("ioapic: the boot CPU's APIC ID %u is beyond an I/O APIC's reach\n", dest);
        return false;
    }
    struct isa_irq *irq = &isa_irqs[isa_irq];
    bool were_enabled = spin_lock(&ioapic_lock);
    const char *refusal = __atomic_load_n(&irq->enabled, __ATOMIC_RELAXED) ? "is already enabled"
                          : !vector_for(irq)                                ? "has no free vector"
                                                                             : NULL;
    if (!refusal) {
        irq->fn = fn;
        irq->ctx = ctx;
        __atomic_store_n(&irq->enabled, 1, __ATOMIC_SEQ_CST);
        arch_irq_set_handler(irq->vector, isa_dispatch, irq);
        uint32_t low = irq->vector | (route->active_low ? REDIRECT_ACTIVE_LOW : 0) |
                       (route->level_triggered ? REDIRECT_LEVEL : 0);
        ioapic_write(io, IOAPIC_REG_REDIRECT + 2 * input + 1, dest << REDIRECT_DEST_SHIFT);
        ioapic_write(io, IOAPIC_REG_REDIRECT + 2 * input, low); /* unmasked */
    }
    spin_unlock(&ioapic_lock, were_enabled);
    if (refusal) {
        kprintf("ioapic: ISA IRQ %u %s\n", isa_irq, refusal);
        return false;
    }
    return true;
}

void arch_isa_irq_disable(unsigned isa_irq)
{
    if (isa_irq >= ACPI_ISA_IRQS)
        return;
    struct isa_irq *irq = &isa_irqs[isa_irq];
    unsigned input;
    const struct ioapic *io = ioapic_for_gsi(acpi_tables()->madt.isa[isa_irq].gsi, &input);
    bool were_enabled = spin_lock(&ioapic_lock);
    if (io)
        mask_input(io, input);
    __atomic_store_n(&irq->enabled, 0, __ATOMIC_SEQ_CST);
    spin_unlock(&ioapic_lock, were_enabled);
    /* An interrupt taken before the mask may still be running its handler. */
    unsigned self = arch_cpu_index() + 1, running;
    while ((running = __atomic_load_n(&irq->running, __ATOMIC_SEQ_CST)) != 0 && running != self)
        arch_cpu_relax();
}
