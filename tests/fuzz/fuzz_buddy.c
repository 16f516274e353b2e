/*
 * libFuzzer target for the buddy engine (mm/buddy.c), checked against the host
 * test's model (tests/host/buddy_model.h).
 *
 * The input is a sequence of operations; each is one opcode byte and up to three
 * argument bytes (missing bytes read as 0):
 *   opcode % 16 in 0..7    alloc: size class and size from the next three bytes
 *                 8..11    free the live block (next byte) modulo the live count
 *                 12..13   realloc that block to a new size (next four bytes)
 *                 14       next byte even: toggle out-of-memory; odd: arena limit 1..8
 *                 15       free a pointer inside a live block (next three bytes):
 *                          must panic naming it, and change nothing
 * buddy_check runs after every operation; at the end everything is freed and the
 * heap must be back to one free arena.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "buddy_model.h"
#include "shim.h"

#define FUZZ_SLOTS 8

static struct test_region region;
static struct buddy_heap heap;
static struct buddy_model model;

struct input {
    const uint8_t *bytes;
    size_t size, next;
};

static uint8_t take(struct input *in)
{
    return in->next < in->size ? in->bytes[in->next++] : 0;
}

static size_t take_size(struct input *in)
{
    uint8_t size_class = take(in) % 4;
    size_t value = take(in) | (size_t)take(in) << 8;
    switch (size_class) {
    case 0:
        return value % 64;
    case 1:
        return value % 1024;
    case 2:
        return value % 65536;
    default:
        return value * 33; /* up to past HEAP_MAX_ALLOC_BYTES */
    }
}

static void free_inside_a_block(struct input *in)
{
    if (model.live_count == 0)
        return;
    const struct live_alloc *alloc = &model.live[take(in) % model.live_count];
    size_t offset = (take(in) | (size_t)take(in) << 8) % ((1ul << alloc->order) - 1) + 1;
    uint8_t *inside = alloc->ptr + offset;
    struct heap_stats before = heap.stats;
    if (!SHIM_EXPECT_PANIC(buddy_free(&heap, inside, 0xbad)))
        model_fail("free of a pointer inside a block did not panic", (uintptr_t)inside);
    char hex[32];
    snprintf(hex, sizeof(hex), "0x%lx", (unsigned long)inside);
    if (!strstr(shim_panic_message, hex))
        model_fail("panic message does not name the pointer", (uintptr_t)inside);
    if (memcmp(&before, &heap.stats, sizeof(before)) != 0)
        model_fail("a rejected free changed the stats", (uintptr_t)inside);
}

static void run_operation(struct input *in)
{
    uint8_t opcode = take(in) % 16;
    if (opcode < 8) {
        model_alloc(&model, take_size(in));
    } else if (opcode < 12) {
        uint8_t index = take(in);
        if (model.live_count)
            model_free(&model, index % model.live_count);
    } else if (opcode < 14) {
        uint8_t index = take(in);
        size_t new_size = take_size(in);
        if (model.live_count)
            model_realloc(&model, index % model.live_count, new_size);
    } else if (opcode == 14) {
        uint8_t arg = take(in);
        if (arg % 2 == 0)
            region.out_of_memory = !region.out_of_memory;
        else
            region.arena_limit = 1 + (arg >> 1) % FUZZ_SLOTS;
    } else {
        free_inside_a_block(in);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    if (!region.reservation)
        region_create(&region, FUZZ_SLOTS);
    if (!buddy_init(&heap, region_source(&region), region.start, region.end))
        model_fail("buddy_init failed", 0);
    memset(&model, 0, sizeof(model));
    model.heap = &heap;
    model.region = &region;

    struct input in = {bytes, size, 0};
    while (in.next < in.size) {
        run_operation(&in);
        buddy_check(&heap);
        model_check_stats(&model);
    }

    region.out_of_memory = false;
    model_free_all(&model);
    buddy_check(&heap);
    if (heap.stats.arenas != 1 || heap.stats.free_blocks[HEAP_MAX_ORDER] != 1 ||
        heap.stats.blocks_in_use != 0 || region_mapped_count(&region) != 1)
        model_fail("freeing everything did not leave one free arena", heap.stats.arenas);
    region_reset(&region);
    return 0;
}
