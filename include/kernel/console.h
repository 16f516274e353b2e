/*
 * console: where kprintf's output goes. Every registered console gets every byte,
 * in order: COM1 from the first line of kernel_main; the framebuffer console joins
 * when it exists. Output is synchronous and polled, so a panic's last words are out
 * before the machine stops.
 *
 * The log: the last CONSOLE_LOG_BYTES of output stay in a ring buffer (the shell's
 * `log`); a console registered later is first given what the ring holds, so the
 * screen shows the boot banner printed before it existed.
 *
 * Locking: console_lock serialises writers, so one kprintf's text is never cut by
 * another CPU's; kprintf holds it for the whole message. It is taken with
 * interrupts off. A panic takes the console over (console_panic_takeover): other
 * CPUs are stopped by then and the lock may be held by one of them.
 *
 * Interrupt context: kprintf and console_write may be called from it (the lock
 * keeps interrupts off; a handler on the CPU holding it nests, see console.c);
 * console_register is for boot.
 */
#ifndef EXO_KERNEL_CONSOLE_H
#define EXO_KERNEL_CONSOLE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef void (*console_write_fn)(const char *chars, size_t len);

#define CONSOLE_MAX_SINKS 4
#define CONSOLE_LOG_BYTES 65536

/* Adds a console, replaying the log to it; returns 0, or -1 when
 * CONSOLE_MAX_SINKS are registered already. */
int console_register(console_write_fn write);
/* Writes to every console (takes console_lock). */
void console_write(const char *chars, size_t len);
/* Formats to every console as one message (console_lock held throughout);
 * kernel_main installs it as kprintf's output (lib/printf.h). */
int console_vprintf(const char *fmt, va_list args);

/* Copies the log's oldest-first contents that fit in buf (NUL-terminated);
 * returns the bytes copied. */
size_t console_log_read(char *buf, size_t size);

/* From now on writers on this CPU ignore console_lock (the panicking CPU). */
void console_panic_takeover(void);

#endif
