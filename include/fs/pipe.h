/*
 * pipe: an anonymous pipe, a read end and a write end (two struct files) over
 * one ring of PIPE_CAPACITY bytes (include/fs/pipe_ring.h), as pipe2(2) makes.
 *
 * Linux semantics: a read blocks while the pipe is empty and a writer remains,
 * returns what is there (at most len) once something is, and 0 (end of file)
 * when the pipe is empty and no writer is left. A write blocks until all of it
 * is written; a write of at most PIPE_BUF bytes is never interleaved with
 * another (it waits for room for all of it at once). With no reader left a
 * write fails with EPIPE and the writer gets SIGPIPE. O_NONBLOCK (either end,
 * its own flag) turns each wait into EAGAIN, or a short count once something
 * moved.
 *
 * Locking: the pipe's mutex serializes readers and writers over the ring and
 * is held across the user copies (which may fault and sleep); waits happen
 * with the mutex dropped, on two wait queues, whose conditions read the
 * counts atomically, so a wake-up between a check and a sleep is never lost.
 * Every change of state also calls fs_poll_notify.
 */
#ifndef EXO_FS_PIPE_H
#define EXO_FS_PIPE_H

#include <stdint.h>

#include "proc/process.h"

#define PIPE_CAPACITY 65536u /* Linux's default pipe size */
#define PIPE_BUF 4096u       /* writes up to this size are atomic */

/* Makes a pipe: *read_end and *write_end (one reference each), with the
 * O_NONBLOCK of `flags` on both. 0 or -ENOMEM. */
int pipe_create(uint32_t flags, struct file **read_end, struct file **write_end)
    __attribute__((warn_unused_result));

/* Bytes waiting in the pipe behind f (FIONREAD); -1 when f is not a pipe end. */
long pipe_bytes_queued(struct file *f);

#endif
