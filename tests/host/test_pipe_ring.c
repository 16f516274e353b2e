/*
 * Host tests of fs/pipe_ring.c: spans at the wrap point, consume/commit
 * accounting, and a seeded random sequence of partial reads and writes checked
 * byte for byte against a simple FIFO model, over odd capacities.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fs/pipe_ring.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static void test_empty_ring_has_no_read_span_and_all_room(void)
{
    uint8_t buf[16];
    struct pipe_ring r;
    const uint8_t *rp;
    uint8_t *wp;
    pipe_ring_init(&r, buf, sizeof(buf));
    CHECK_EQ_INT(pipe_ring_read_span(&r, &rp), 0);
    CHECK_EQ_INT(pipe_ring_write_span(&r, &wp), 16);
    CHECK(wp == buf);
    CHECK_EQ_INT(pipe_ring_free(&r), 16);
}

static void test_full_ring_has_no_write_span(void)
{
    uint8_t buf[8];
    struct pipe_ring r;
    uint8_t *wp;
    const uint8_t *rp;
    pipe_ring_init(&r, buf, sizeof(buf));
    CHECK_EQ_INT(pipe_ring_write_span(&r, &wp), 8);
    memcpy(wp, "abcdefgh", 8);
    pipe_ring_commit(&r, 8);
    CHECK_EQ_INT(pipe_ring_write_span(&r, &wp), 0);
    CHECK_EQ_INT(pipe_ring_read_span(&r, &rp), 8);
    CHECK(memcmp(rp, "abcdefgh", 8) == 0);
}

static void test_spans_split_at_the_wrap(void)
{
    uint8_t buf[8];
    struct pipe_ring r;
    uint8_t *wp;
    const uint8_t *rp;
    pipe_ring_init(&r, buf, sizeof(buf));
    pipe_ring_write_span(&r, &wp);
    memcpy(wp, "012345", 6);
    pipe_ring_commit(&r, 6);
    pipe_ring_read_span(&r, &rp);
    pipe_ring_consume(&r, 4); /* holds "45" at 4..5 */
    CHECK_EQ_INT(pipe_ring_write_span(&r, &wp), 2); /* 6..7, then the wrap */
    CHECK(wp == buf + 6);
    memcpy(wp, "67", 2);
    pipe_ring_commit(&r, 2);
    CHECK_EQ_INT(pipe_ring_write_span(&r, &wp), 4); /* 0..3 */
    CHECK(wp == buf);
    memcpy(wp, "89", 2);
    pipe_ring_commit(&r, 2);
    CHECK_EQ_INT(pipe_ring_read_span(&r, &rp), 4); /* "4567" up to the end */
    CHECK(memcmp(rp, "4567", 4) == 0);
    pipe_ring_consume(&r, 4);
    CHECK_EQ_INT(pipe_ring_read_span(&r, &rp), 2);
    CHECK(memcmp(rp, "89", 2) == 0);
}

static void test_draining_resets_the_head(void)
{
    uint8_t buf[8];
    struct pipe_ring r;
    uint8_t *wp;
    pipe_ring_init(&r, buf, sizeof(buf));
    pipe_ring_write_span(&r, &wp);
    pipe_ring_commit(&r, 5);
    pipe_ring_consume(&r, 5);
    CHECK_EQ_INT(pipe_ring_write_span(&r, &wp), 8); /* one contiguous span again */
    CHECK(wp == buf);
}

/* A peek sees the bytes at any offset from the head, in spans that stop at
 * the wrap, and leaves them in place. */
static void test_peek_spans_follow_the_offset_across_the_wrap(void)
{
    uint8_t buf[8];
    struct pipe_ring r;
    uint8_t *wp;
    const uint8_t *rp;
    pipe_ring_init(&r, buf, sizeof(buf));
    pipe_ring_write_span(&r, &wp);
    memcpy(wp, "012345", 6);
    pipe_ring_commit(&r, 6);
    pipe_ring_consume(&r, 4); /* "45" at 4..5 */
    pipe_ring_write_span(&r, &wp);
    memcpy(wp, "67", 2);
    pipe_ring_commit(&r, 2);
    pipe_ring_write_span(&r, &wp);
    memcpy(wp, "89", 2);
    pipe_ring_commit(&r, 2); /* "4567" at 4..7, "89" at 0..1 */
    CHECK_EQ_INT(pipe_ring_peek_span(&r, 0, &rp), 4);
    CHECK(rp == buf + 4);
    CHECK_EQ_INT(pipe_ring_peek_span(&r, 3, &rp), 1);
    CHECK(*rp == '7');
    CHECK_EQ_INT(pipe_ring_peek_span(&r, 4, &rp), 2);
    CHECK(rp == buf && memcmp(rp, "89", 2) == 0);
    CHECK_EQ_INT(pipe_ring_peek_span(&r, 5, &rp), 1);
    CHECK(*rp == '9');
    CHECK_EQ_INT(pipe_ring_peek_span(&r, 6, &rp), 0);
    CHECK_EQ_INT(pipe_ring_peek_span(&r, 100, &rp), 0);
    CHECK_EQ_U64(r.len, 6);
}

/* Random partial writes and reads against a byte-counter model. */
static void test_random_sequences_match_a_fifo_model(void)
{
    static const size_t capacities[] = {1, 3, 7, 64, 4096, 65536};
    for (size_t c = 0; c < sizeof(capacities) / sizeof(capacities[0]); c++) {
        size_t cap = capacities[c];
        uint8_t *buf = malloc(cap);
        struct pipe_ring r;
        pipe_ring_init(&r, buf, cap);
        uint64_t written = 0, read = 0;
        for (int step = 0; step < 20000; step++) {
            if (rng() % 2) {
                uint8_t *wp;
                size_t span = pipe_ring_write_span(&r, &wp);
                CHECK(span <= pipe_ring_free(&r));
                CHECK(span > 0 || pipe_ring_free(&r) == 0);
                size_t n = span ? rng() % (span + 1) : 0;
                for (size_t i = 0; i < n; i++)
                    wp[i] = (uint8_t)(written + i);
                pipe_ring_commit(&r, n);
                written += n;
            } else {
                const uint8_t *rp;
                size_t span = pipe_ring_read_span(&r, &rp);
                CHECK(span <= r.len);
                CHECK(span > 0 || r.len == 0);
                size_t n = span ? rng() % (span + 1) : 0;
                for (size_t i = 0; i < n; i++) {
                    if (rp[i] != (uint8_t)(read + i)) {
                        CHECK_EQ_INT(rp[i], (uint8_t)(read + i));
                        break;
                    }
                }
                size_t off = r.len ? rng() % r.len : 0;
                const uint8_t *pp;
                size_t peek = pipe_ring_peek_span(&r, off, &pp);
                CHECK(r.len == 0 ? peek == 0 : peek > 0 && peek <= r.len - off);
                if (peek)
                    CHECK_EQ_INT(pp[0], (uint8_t)(read + off));
                pipe_ring_consume(&r, n);
                read += n;
            }
            CHECK_EQ_U64(r.len, written - read);
        }
        free(buf);
    }
}

int main(void)
{
    check_program = "test_pipe_ring";
    RUN(test_empty_ring_has_no_read_span_and_all_room);
    RUN(test_full_ring_has_no_write_span);
    RUN(test_spans_split_at_the_wrap);
    RUN(test_draining_resets_the_head);
    RUN(test_peek_spans_follow_the_offset_across_the_wrap);
    RUN(test_random_sequences_match_a_fifo_model);
    return check_summary();
}
