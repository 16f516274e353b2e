/* The byte ring under a pipe: see include/fs/pipe_ring.h. */
#include "fs/pipe_ring.h"

#include "base/panic.h"

void pipe_ring_init(struct pipe_ring *r, uint8_t *buf, size_t capacity)
{
    *r = (struct pipe_ring){.buf = buf, .capacity = capacity};
}

size_t pipe_ring_read_span(const struct pipe_ring *r, const uint8_t **out)
{
    size_t to_end = r->capacity - r->head;
    *out = r->buf + r->head;
    return r->len < to_end ? r->len : to_end;
}

size_t pipe_ring_peek_span(const struct pipe_ring *r, size_t offset, const uint8_t **out)
{
    if (offset >= r->len) {
        *out = r->buf;
        return 0;
    }
    size_t at = (r->head + offset) % r->capacity;
    size_t to_end = r->capacity - at;
    *out = r->buf + at;
    return r->len - offset < to_end ? r->len - offset : to_end;
}

void pipe_ring_consume(struct pipe_ring *r, size_t n)
{
    KASSERT(n <= r->len);
    r->head = (r->head + n) % r->capacity;
    r->len -= n;
    if (r->len == 0)
        r->head = 0; /* keeps the next write contiguous */
}

size_t pipe_ring_write_span(const struct pipe_ring *r, uint8_t **out)
{
    size_t tail = (r->head + r->len) % r->capacity;
    *out = r->buf + tail;
    size_t to_end = r->capacity - tail;
    size_t free = pipe_ring_free(r);
    return free < to_end ? free : to_end;
}

void pipe_ring_commit(struct pipe_ring *r, size_t n)
{
    KASSERT(n <= pipe_ring_free(r));
    r->len += n;
}
