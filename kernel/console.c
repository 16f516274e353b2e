#include "kernel/console.h"

#include <stdarg.h>

#include "kernel/printf.h"

/* Registered on the boot CPU during boot, before other CPUs run; read-only after. */
static console_write_fn sinks[CONSOLE_MAX_SINKS];
static int sink_count;

int console_register(console_write_fn write)
{
    if (sink_count == CONSOLE_MAX_SINKS)
        return -1;
    sinks[sink_count++] = write;
    return 0;
}

void console_write(const char *chars, size_t len)
{
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
