#include "kernel/input.h"

#include "sched/sync.h"

/* `ring`, `head`, `count` and `dropped` are protected by readers.lock. */
static struct wait_queue readers = WAIT_QUEUE_INIT("input");
static char ring[INPUT_QUEUE_BYTES];
static size_t head;  /* index of the oldest byte */
static size_t count; /* bytes queued */
static uint64_t dropped;
static void (*notify)(void); /* set once at boot */
static bool (*filter)(char c); /* set once at boot */

void input_set_notify(void (*fn)(void))
{
    notify = fn;
}

size_t input_available(void)
{
    return __atomic_load_n(&count, __ATOMIC_RELAXED);
}

void input_set_filter(bool (*new_filter)(char c))
{
    filter = new_filter;
}

void input_push(const char *bytes, size_t len)
{
    bool irq = spin_lock(&readers.lock);
    for (size_t i = 0; i < len; i++) {
        if (filter && filter(bytes[i]))
            continue;
        if (count == INPUT_QUEUE_BYTES) {
            dropped += len - i;
            break;
        }
        ring[(head + count) % INPUT_QUEUE_BYTES] = bytes[i];
        count++;
    }
    spin_unlock(&readers.lock, irq);
    wait_queue_wake_all(&readers);
    if (notify)
        notify();
}

/* wait_queue_wait's condition, checked with readers.lock held. */
static bool input_ready(void *ctx)
{
    (void)ctx;
    return count > 0;
}

static int plain_wait(struct wait_queue *wq, bool (*cond)(void *ctx), void *ctx)
{
    wait_queue_wait(wq, cond, ctx);
    return 0;
}

long input_read_waiting(char *buf, size_t size, input_wait_fn wait)
{
    size_t copied = 0;
    while (copied == 0) {
        int error = wait(&readers, input_ready, NULL);
        if (error)
            return error;
        bool irq = spin_lock(&readers.lock);
        while (copied < size && count > 0) {
            buf[copied++] = ring[head];
            head = (head + 1) % INPUT_QUEUE_BYTES;
            count--;
        }
        spin_unlock(&readers.lock, irq);
    }
    return (long)copied;
}

size_t input_read(char *buf, size_t size)
{
    return (size_t)input_read_waiting(buf, size, plain_wait);
}

uint64_t input_dropped(void)
{
    bool irq = spin_lock(&readers.lock);
    uint64_t n = dropped;
    spin_unlock(&readers.lock, irq);
    return n;
}
