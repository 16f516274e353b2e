/*
 * console: where kprintf's output goes. Every registered console gets every byte,
 * in order: COM1 from the first line of kernel_main; the framebuffer console joins
 * when it exists. Output is synchronous and polled, so a panic's last words are out
 * before the machine stops.
 *
 * The first CONSOLE_EARLY_LOG_BYTES of output are kept, and a console registered
 * later is first given them, so the screen shows the boot banner printed before it
 * existed.
 */
#ifndef EXO_KERNEL_CONSOLE_H
#define EXO_KERNEL_CONSOLE_H

#include <stddef.h>

typedef void (*console_write_fn)(const char *chars, size_t len);

#define CONSOLE_MAX_SINKS 4
#define CONSOLE_EARLY_LOG_BYTES 4096

/* Adds a console, replaying the early log to it; returns 0, or -1 when CONSOLE_MAX_SINKS are registered already. */
int console_register(console_write_fn write);
void console_write(const char *chars, size_t len);

#endif
