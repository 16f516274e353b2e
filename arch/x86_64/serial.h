/* COM1, a 16550 UART at 115200 8N1: the console that is always there on QEMU and
 * on PCs with a serial port. Output is polled (a panic's last words must get out);
 * input is interrupt-driven, or polled by the boot CPU's tick when its IRQ cannot
 * be routed, and goes to the console input queue (kernel/input.h).
 * The transmitter-empty interrupt is off except while a test turns it on. */
#ifndef EXO_ARCH_X86_64_SERIAL_H
#define EXO_ARCH_X86_64_SERIAL_H

#include <stdbool.h>
#include <stddef.h>

/* Programs the UART and checks it answers (loopback test). Returns false when no
 * UART is there, after which serial_write does nothing. */
bool serial_init(void);
void serial_write(const char *chars, size_t len);

/* COM1's legacy ISA IRQ line. */
#define SERIAL_COM1_ISA_IRQ 4
/* Takes SERIAL_COM1_ISA_IRQ for good and turns the receive interrupt on; when the
 * IRQ cannot be routed (the reason is printed), has the boot CPU's tick poll the
 * UART instead. False only when there is no UART. After serial_init, before the
 * ticks start or with them running. */
bool serial_input_start(void);
/* Whether input is interrupt-driven: the IRQ then belongs to the console. */
bool serial_input_active(void);
/* Whether input is polled by the tick (the IRQ could not be routed). */
bool serial_input_polled(void);
/* Turns the transmitter-empty interrupt on or off (IER bit 1; the receive
 * interrupt stays as serial_input_start left it, the others off). On, the UART
 * raises its IRQ whenever the transmit register is empty, at once if it is. For
 * the I/O APIC test: polled output works either way. */
void serial_set_tx_empty_interrupt(bool on);
/* Reads the interrupt identification register, which acknowledges a pending
 * transmitter-empty interrupt; true when that was the one pending. */
bool serial_ack_tx_empty_interrupt(void);
/* Whether serial_init found a UART. */
bool serial_present(void);

#endif
