#include "kernel/console.h"

#include <stdarg.h>

#include "arch/cpu.h"
#include "arch/irq.h"
#include "lib/printf.h"
#include "lib/string.h"
#include "base/spinlock.h"

#define NO_CPU (~0u)

/* Registered on the boot CPU during boot, before other CPUs run; read-only after. */
static console_write_fn sinks[CONSOLE_MAX_SINKS];
static int sink_count;

/*
 * console_lock protects `log`, `log_total` and the consoles' own state. It is
 * re-entrant on one CPU (lock_owner): an exception while printing, or a panic
 * from inside a write, must still reach the screen rather than deadlock.
 */
static struct spinlock console_lock = SPINLOCK_INIT("console");
static unsigned lock_owner = NO_CPU; /* atomic */
static unsigned lock_depth;          /* owner only */
static bool panic_mode;              /* set once by the panicking CPU */

static char log[CONSOLE_LOG_BYTES];
static size_t log_total; /* bytes ever written; log[i % size] holds byte i */

static bool console_lock_take(void)
{
    bool irq = arch_irq_save_disable();
    unsigned self = arch_cpu_index();
    if (__atomic_load_n(&lock_owner, __ATOMIC_RELAXED) == self || panic_mode) {
        lock_depth++;
        return irq;
    }
    spin_lock(&console_lock);
    __atomic_store_n(&lock_owner, self, __ATOMIC_RELAXED);
    lock_depth = 1;
    return irq;
}

static void console_lock_give(bool irq)
{
    if (--lock_depth == 0 && !panic_mode) {
        __atomic_store_n(&lock_owner, NO_CPU, __ATOMIC_RELAXED);
        spin_unlock(&console_lock, false);
    }
    arch_irq_restore(irq);
}

void console_panic_takeover(void)
{
    arch_irq_save_disable();
    panic_mode = true;
    __atomic_store_n(&lock_owner, arch_cpu_index(), __ATOMIC_RELAXED);
}

/* The ring's contents, oldest first, in at most two pieces. Lock held. */
static void log_pieces(const char **first, size_t *first_len, const char **second,
                       size_t *second_len)
{
    size_t held = log_total < CONSOLE_LOG_BYTES ? log_total : CONSOLE_LOG_BYTES;
    size_t start = (log_total - held) % CONSOLE_LOG_BYTES;
    *first = log + start;
    *first_len = held < CONSOLE_LOG_BYTES - start ? held : CONSOLE_LOG_BYTES - start;
    *second = log;
    *second_len = held - *first_len;
}

int console_register(console_write_fn write)
{
    bool irq = console_lock_take();
    int result = -1;
    if (sink_count < CONSOLE_MAX_SINKS) {
        const char *a, *b;
        size_t a_len, b_len;
        log_pieces(&a, &a_len, &b, &b_len);
        write(a, a_len);
        write(b, b_len);
        sinks[sink_count++] = write;
        result = 0;
    }
    console_lock_give(irq);
    return result;
}

static void log_append(const char *chars, size_t len)
{
    for (size_t i = 0; i < len; i++)
        log[(log_total + i) % CONSOLE_LOG_BYTES] = chars[i];
    log_total += len;
}

void console_write(const char *chars, size_t len)
{
    bool irq = console_lock_take();
    log_append(chars, len);
    for (int i = 0; i < sink_count; i++)
        sinks[i](chars, len);
    console_lock_give(irq);
}

size_t console_log_read(char *buf, size_t size)
{
    if (size == 0)
        return 0;
    bool irq = console_lock_take();
    const char *a, *b;
    size_t a_len, b_len;
    log_pieces(&a, &a_len, &b, &b_len);
    size_t copied = 0;
    /* The newest bytes matter most: skip the oldest when buf is small. */
    size_t skip = a_len + b_len > size - 1 ? a_len + b_len - (size - 1) : 0;
    size_t a_skip = skip < a_len ? skip : a_len;
    memcpy(buf, a + a_skip, a_len - a_skip);
    copied = a_len - a_skip;
    size_t b_skip = skip - a_skip;
    memcpy(buf + copied, b + b_skip, b_len - b_skip);
    copied += b_len - b_skip;
    buf[copied] = 0;
    console_lock_give(irq);
    return copied;
}

static void console_sink(void *ctx, const char *chars, size_t len)
{
    (void)ctx;
    console_write(chars, len);
}

int console_vprintf(const char *fmt, va_list args)
{
    bool irq = console_lock_take(); /* the whole message at once */
    int n = kvprintf_to(console_sink, NULL, fmt, args);
    console_lock_give(irq);
    return n;
}
