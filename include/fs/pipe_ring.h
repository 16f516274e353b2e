/*
 * pipe_ring: the byte ring under a pipe (fs/pipe.c) and a Unix socket (fs/unix_socket.c), pure code with no lock and
 * no allocation of its own, so the host tests check it against a model.
 *
 * A ring of `capacity` bytes (any size > 0) holds `len` bytes starting at
 * `head`. Readers and writers work in spans, contiguous pieces of the buffer,
 * so that a copy to or from user memory goes straight between the ring and the
 * user buffer and is committed only when it succeeded: a failed copy consumes
 * or adds nothing.
 *
 *   read:  span = pipe_ring_read_span(r, &p); copy out of p[0..n), n <= span;
 *          pipe_ring_consume(r, n).
 *   write: span = pipe_ring_write_span(r, &p); copy into p[0..n), n <= span;
 *          pipe_ring_commit(r, n).
 *   peek:  span = pipe_ring_peek_span(r, offset, &p): the bytes at offset from
 *          the head, left in place (Unix sockets' MSG_PEEK and their records).
 *
 * Locking is the caller's (fs/pipe.c holds the pipe's mutex around both).
 */
#ifndef EXO_FS_PIPE_RING_H
#define EXO_FS_PIPE_RING_H

#include <stddef.h>
#include <stdint.h>

struct pipe_ring {
    uint8_t *buf;
    size_t capacity;
    size_t head; /* index of the oldest byte */
    size_t len;  /* bytes held */
};

void pipe_ring_init(struct pipe_ring *r, uint8_t *buf, size_t capacity);

static inline size_t pipe_ring_free(const struct pipe_ring *r)
{
    return r->capacity - r->len;
}

/* The contiguous bytes readable at the head (0 when empty). */
size_t pipe_ring_read_span(const struct pipe_ring *r, const uint8_t **out);
/* The contiguous bytes readable from `offset` (< len) bytes past the head,
 * without consuming them (a peek, or a record read in pieces); 0 when offset
 * is at or past len. */
size_t pipe_ring_peek_span(const struct pipe_ring *r, size_t offset, const uint8_t **out);
/* Drops n (<= len) bytes from the head. */
void pipe_ring_consume(struct pipe_ring *r, size_t n);
/* The contiguous free bytes after the tail (0 when full). */
size_t pipe_ring_write_span(const struct pipe_ring *r, uint8_t **out);
/* Adds n (<= the write span) bytes at the tail. */
void pipe_ring_commit(struct pipe_ring *r, size_t n);

#endif
