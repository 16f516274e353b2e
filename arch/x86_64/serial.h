/* COM1, a 16550 UART at 115200 8N1: the console that is always there on QEMU and
 * on PCs with a serial port. Output is polled (a panic's last words must get out);
 * input is interrupt-driven and goes to the console input queue (kernel/input.h). */
#ifndef EXO_ARCH_X86_64_SERIAL_H
#define EXO_ARCH_X86_64_SERIAL_H

#include <stdbool.h>
#include <stddef.h>

/* Programs the UART and checks it answers (loopback test). Returns false when no
 * UART is there, after which serial_write does nothing. */
bool serial_init(void);
void serial_write(const char *chars, size_t len);
/* Takes ISA IRQ 4 and turns the receive interrupt on. False when there is no
 * UART or the IRQ cannot be routed (the reason is printed). After serial_init. */
bool serial_input_start(void);

#endif
