/* COM1, a 16550 UART at 115200 8N1: the console that is always there on QEMU and
 * on PCs with a serial port. Output only for now; polled. */
#ifndef EXO_ARCH_X86_64_SERIAL_H
#define EXO_ARCH_X86_64_SERIAL_H

#include <stdbool.h>
#include <stddef.h>

/* Programs the UART and checks it answers (loopback test). Returns false when no
 * UART is there, after which serial_write does nothing. */
bool serial_init(void);
void serial_write(const char *chars, size_t len);

#endif
