/*
 * ioapic: the PC's legacy ISA interrupts (1: PS/2 keyboard, 4: COM1), routed
 * through the I/O APIC (ioapic.c) as the firmware's ACPI tables say (interrupt
 * source overrides: GSI, polarity, trigger), each to a vector of its own,
 * delivered to the boot CPU. x86_64 only: the neutral kernel sees none of it.
 *
 * arch_isa_irq_enable installs fn(ctx) as the handler and unmasks the line; it
 * returns false, after printing why, when the IRQ cannot be routed (no I/O APIC,
 * the GSI on none, the IRQ already enabled). arch_isa_irq_disable masks it; when
 * it returns, fn is not running (unless the caller is fn itself) and will not be
 * called again. Both may be called from any CPU and thread; not from interrupt
 * context other than fn's own.
 */
#ifndef EXO_ARCH_X86_64_IOAPIC_H
#define EXO_ARCH_X86_64_IOAPIC_H

#include <stdbool.h>

#include "arch/irq.h"

bool arch_isa_irq_enable(unsigned isa_irq, arch_irq_handler_fn fn, void *ctx);
void arch_isa_irq_disable(unsigned isa_irq);

#endif
