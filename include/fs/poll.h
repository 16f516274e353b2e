/*
 * poll: readiness of files, and the waiting behind poll/ppoll/select/pselect6.
 *
 * A file says what it is ready for with file_ops.poll (POLL* bits below, Linux
 * values); a file without poll is always readable and writable, as regular
 * files are in Linux. Every change that can make a file ready (data into a
 * pipe, room in it, an end closed, console input) calls fs_poll_notify, which
 * bumps one global generation and wakes every poller: a poller scans its files,
 * and when none is ready sleeps until the generation moves or its timeout ends.
 * One global queue keeps the files free of per-poller bookkeeping; the cost is
 * that a change wakes every poller to rescan, which is cheap with the few
 * pollers a console system has.
 *
 * A timed wait (a finite timeout) sleeps in slices of one scheduler tick
 * between scans, since wait queues have no timeout; an untimed one sleeps on
 * the queue until notified. Both end when a signal is pending
 * (include/proc/signal.h).
 *
 * fs_poll_notify may be called from interrupt context (console input does).
 */
#ifndef EXO_FS_POLL_H
#define EXO_FS_POLL_H

#include <stdbool.h>
#include <stdint.h>

#define POLLIN 0x001u
#define POLLPRI 0x002u
#define POLLOUT 0x004u
#define POLLERR 0x008u
#define POLLHUP 0x010u
#define POLLNVAL 0x020u
#define POLLRDNORM 0x040u
#define POLLRDBAND 0x080u
#define POLLWRNORM 0x100u
#define POLLWRBAND 0x200u
#define POLLRDHUP 0x2000u

/* What a file that cannot block is ready for. */
#define POLL_ALWAYS (POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM)

/* Something may have become ready: wake every poller. Any context. */
void fs_poll_notify(void);

/* The generation now; a poller reads it before scanning. */
uint64_t fs_poll_generation(void);

/*
 * Sleeps until the generation differs from `seen`, or until arch_time_ns()
 * reaches deadline_ns (UINT64_MAX: no deadline; else a struct timeout ends the
 * sleep, within a tick of the deadline), or a signal is pending for the caller. Returns 0 (scan again), 1 (the deadline has passed), or
 * -ERESTARTNOHAND (a signal: poll and select end with EINTR, as in Linux).
 * Thread context.
 */
int fs_poll_wait(uint64_t seen, uint64_t deadline_ns) __attribute__((warn_unused_result));

#endif
