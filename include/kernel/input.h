/*
 * input: what the user types, from every console, in one queue for the shell.
 *
 * Producers are interrupt handlers: the serial port's receiver passes bytes on as
 * they come; the keyboard driver first turns key presses into the bytes a terminal
 * would send (letters, '\r' for Enter, 0x7f for Backspace, ESC [ A for Up, ...), so
 * the reader sees one kind of stream whatever was typed on. The consumer is a
 * thread that blocks in input_read until there is something to read: no polling.
 *
 * The queue is a ring of INPUT_QUEUE_BYTES. When it is full, new bytes are dropped
 * and counted (input_dropped): an interrupt handler never waits for the reader.
 *
 * Locking: the wait queue's spinlock protects the ring as well, so a reader's
 * "is it empty? then sleep" and a producer's "append, then wake" never interleave
 * badly (see wait_queue_wait). It is taken with interrupts off on this CPU.
 */
#ifndef EXO_KERNEL_INPUT_H
#define EXO_KERNEL_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INPUT_QUEUE_BYTES 1024

/* Appends bytes to the queue and wakes the reader. Any context, interrupts too. */
void input_push(const char *bytes, size_t len);

/* Blocks until at least one byte is queued, then moves up to `size` bytes (size >
 * 0) into buf; returns how many. Thread context only. */
size_t input_read(char *buf, size_t size);

/* The same, waiting through `wait` (wait_queue_wait's contract, returning 0
 * when cond holds): a non-zero return ends the read with that value (the tty
 * passes signal_wait_interruptible, so a signal ends a console read). */
struct wait_queue;
typedef int (*input_wait_fn)(struct wait_queue *wq, bool (*cond)(void *ctx), void *ctx);
long input_read_waiting(char *buf, size_t size, input_wait_fn wait);

/* Bytes queued now (a hint: a reader may take them first). Any context. */
size_t input_available(void);

/* fn runs after every push, in the pusher's context (interrupts too): the
 * file layer's poll wake-up (include/fs/poll.h). Set once at boot. */
void input_set_notify(void (*fn)(void));

/* A byte the filter takes (returns true for) is not queued: the tty's signal
 * characters (Ctrl-C). Called from input_push, so in interrupt context; set
 * once at boot. */
void input_set_filter(bool (*filter)(char c));

/* Bytes dropped so far because the queue was full. */
uint64_t input_dropped(void);

#endif
