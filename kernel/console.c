#include "kernel/console.h"

#include <stdarg.h>

#include "kernel/printf.h"
#include "kernel/string.h"

/* Registered on the boot CPU during boot, before other CPUs run; read-only after. */
static console_write_fn sinks[CONSOLE_MAX_SINKS];
static int sink_count;

/* The start of the output, for consoles registered late; appended to by
 * console_write, whose callers serialise, until it is full. */
static char early_log[CONSOLE_EARLY_LOG_BYTES];
static size_t early_log_len;

int console_register(console_write_fn write)
{
    if (sink_count == CONSOLE_MAX_SINKS)
        return -1;
    write(early_log, early_log_len);
    sinks[sink_count++] = write;
    return 0;
}

void console_write(const char *chars, size_t len)
{
    size_t room = CONSOLE_EARLY_LOG_BYTES - early_log_len;
    size_t kept = len < room ? len : room;
    memcpy(early_log + early_log_len, chars, kept);
    early_log_len += kept;
    for (int i = 0; i < sink_count; i++)
        sinks[i](chars, len);
}

static void console_sink(void *ctx, const char *chars, size_t len)
{
    (void)ctx;
    console_write(chars, len);
}

int kvprintf(const char *fmt, va_list args)
{
    return kvprintf_to(console_sink, NULL, fmt, args);
}

int kprintf(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    int n = kvprintf(fmt, args);
    va_end(args);
    return n;
}
