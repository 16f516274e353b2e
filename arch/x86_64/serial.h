/* COM1, a 16550 UART at 115200 8N1: the console that is always there on QEMU and
 * on PCs with a serial port. Output is polled (a panic's last words must get out);
 * input is interrupt-driven and goes to the console input queue (kernel/input.h).
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
/* Takes SERIAL_COM1_ISA_IRQ for good and turns the receive interrupt on. False
 * when there is no UART or the IRQ cannot be routed (the reason is printed).
 * After serial_init. */
bool serial_input_start(void);
/* Whether serial_input_start succeeded: the IRQ then belongs to the console. */
bool serial_input_active(void);
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
