/*
 * printf: the kernel's own formatter.
 *
 * Supported conversions: %d %i %u %x %X %p %s %c %%, with the length modifiers
 * l, ll and z (and h, hh, which narrow like C's). Flags '-' (left-justify), '0'
 * (zero-pad numbers), '+' and ' ' (sign of signed conversions), '#' (0x prefix on
 * %x/%X); a field width and a precision, each either a number or '*'. %p prints
 * "0x" followed by 16 hex digits. %s of NULL prints "(null)". An unknown conversion
 * is copied to the output as-is, so a bad format string is visible, not silent.
 *
 * kvsnprintf is pure (no kernel state) and is unit-tested on the host against the C
 * library's snprintf. kprintf sends its output through the hook the console installs.
 *
 * Interrupt context: kvsnprintf and ksnprintf anywhere; kprintf as the
 * installed hook allows (the console's may be used from interrupt handlers).
 */
#ifndef EXO_LIB_PRINTF_H
#define EXO_LIB_PRINTF_H

#include <stdarg.h>
#include <stddef.h>

/*
 * Formats into buf (of buf_size bytes, always NUL-terminated when buf_size > 0).
 * Returns the length the complete output would have, like C's vsnprintf, so a
 * result >= buf_size means the output was truncated.
 */
int kvsnprintf(char *buf, size_t buf_size, const char *fmt, va_list args)
    __attribute__((format(printf, 3, 0)));
int ksnprintf(char *buf, size_t buf_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Streams formatted output through a callback, without a length limit: kprintf uses
 * it with the console's write function. Returns the number of characters produced.
 */
typedef void (*kprintf_sink_fn)(void *ctx, const char *chars, size_t len);
int kvprintf_to(kprintf_sink_fn sink, void *ctx, const char *fmt, va_list args)
    __attribute__((format(printf, 3, 0)));

/*
 * Print to every console (serial, and the screen once it exists). The library
 * does not know the consoles: kprintf hands the format to the output installed
 * with kprintf_set_output (kernel/console.c installs its own first thing in
 * kernel_main); before that, or with none, the text is dropped and 0 returned.
 */
int kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kvprintf(const char *fmt, va_list args) __attribute__((format(printf, 1, 0)));
typedef int (*kprintf_output_fn)(const char *fmt, va_list args);
void kprintf_set_output(kprintf_output_fn output);

#endif
