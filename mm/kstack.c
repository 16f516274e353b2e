#include "mm/kstack.h"

#include "arch/arch.h"
#include "kernel/panic.h"
#include "mm/frame.h"
#include "mm/heap.h"
#include "mm/paging.h"
#include "sched/spinlock.h"

#define PAGE_BYTES 4096ul
#define FREE_CHUNK_SLOTS 1016 /* a chunk is 4080 bytes: with its heap header, one 4 KiB block */

/* Slot numbers given back, in heap-allocated chunks (the slots are unmapped). */
struct free_chunk {
    struct free_chunk *next;
    uint32_t count;
    uint32_t slots[FREE_CHUNK_SLOTS];
};

/* One class of slots. All fields under kstack_lock. */
struct slot_class {
    uintptr_t base;            /* first slot */
    size_t slot_pages;         /* 2^(class + 1) */
    size_t slots_total;        /* slots the class's share of the region holds */
    size_t next_fresh;         /* slots below this were handed out at least once */
    struct free_chunk *freed;  /* slots given back, reused first */
};

/* Protects `classes` and `live_stacks`; never held while mapping pages. */
static struct spinlock kstack_lock = SPINLOCK_INIT("kstack");
static struct slot_class classes[KSTACK_CLASSES];
static size_t live_stacks;
static bool classes_ready;

static void setup_classes(void)
{
    uintptr_t share = (arch_va_layout.stacks.end - arch_va_layout.stacks.start) / KSTACK_CLASSES;
    for (unsigned c = 0; c < KSTACK_CLASSES; c++) {
        classes[c].base = arch_va_layout.stacks.start + c * share;
        classes[c].slot_pages = 2ul << c;
        classes[c].slots_total = share / (classes[c].slot_pages * PAGE_BYTES);
    }
    classes_ready = true;
}

/* Takes a slot number of class c; false when the class is full. Lock held. */
static bool take_slot(struct slot_class *cls, size_t *slot)
{
    struct free_chunk *chunk = cls->freed;
    if (chunk) {
        *slot = chunk->slots[--chunk->count];
        if (chunk->count == 0) {
            cls->freed = chunk->next;
            kfree(chunk);
        }
        return true;
    }
    if (cls->next_fresh == cls->slots_total)
        return false;
    *slot = cls->next_fresh++;
    return true;
}

/* Gives a slot back; false when a chunk to record it could not be allocated
 * (the slot is then leaked: address space, not memory). Lock held. */
static bool give_slot(struct slot_class *cls, size_t slot)
{
    struct free_chunk *chunk = cls->freed;
    if (!chunk || chunk->count == FREE_CHUNK_SLOTS) {
        chunk = kmalloc(sizeof(*chunk));
        if (!chunk)
            return false;
        chunk->next = cls->freed;
        chunk->count = 0;
        cls->freed = chunk;
    }
    chunk->slots[chunk->count++] = (uint32_t)slot;
    return true;
}

static void unmap_pages(uintptr_t start, size_t npages)
{
    for (size_t i = 0; i < npages; i++) {
        phys_addr_t frame;
        if (paging_unmap(&kernel_space, start + i * PAGE_BYTES, PAGE_4K, &frame) == PAGING_OK)
            frame_free(frame);
    }
}

static bool map_pages(uintptr_t start, size_t npages)
{
    for (size_t i = 0; i < npages; i++) {
        phys_addr_t frame = frame_alloc();
        if (!phys_is_valid(frame) ||
            paging_map(&kernel_space, start + i * PAGE_BYTES, frame, PAGE_4K,
                       PAGE_WRITE | PAGE_GLOBAL) != PAGING_OK) {
            if (phys_is_valid(frame))
                frame_free(frame);
            unmap_pages(start, i);
            return false;
        }
    }
    return true;
}

int kstack_alloc(size_t size_bytes, struct kstack *out)
{
    if (size_bytes == 0 || size_bytes > KSTACK_MAX_BYTES)
        return KSTACK_ERR_TOO_LARGE;
    size_t npages = (size_bytes + PAGE_BYTES - 1) / PAGE_BYTES;
    unsigned c = 0;
    while ((2ul << c) < npages + 1) /* class c has slots of 2^(c+1) pages */
        c++;

    size_t slot;
    bool irq = spin_lock(&kstack_lock);
    if (!classes_ready)
        setup_classes();
    struct slot_class *cls = &classes[c];
    bool got = take_slot(cls, &slot);
    spin_unlock(&kstack_lock, irq);
    if (!got)
        return KSTACK_ERR_NO_MEMORY;

    uintptr_t top = cls->base + (slot + 1) * cls->slot_pages * PAGE_BYTES;
    uintptr_t bottom = top - npages * PAGE_BYTES;
    if (!map_pages(bottom, npages)) {
        irq = spin_lock(&kstack_lock);
        give_slot(cls, slot);
        spin_unlock(&kstack_lock, irq);
        return KSTACK_ERR_NO_MEMORY;
    }
    irq = spin_lock(&kstack_lock);
    live_stacks++;
    spin_unlock(&kstack_lock, irq);
    *out = (struct kstack){.bottom = bottom, .top = top};
    return KSTACK_OK;
}

/* The class of an address in the region, or KSTACK_CLASSES when outside it. */
static unsigned class_of(uintptr_t addr)
{
    if (!classes_ready || addr < arch_va_layout.stacks.start || addr >= arch_va_layout.stacks.end)
        return KSTACK_CLASSES;
    uintptr_t share = (arch_va_layout.stacks.end - arch_va_layout.stacks.start) / KSTACK_CLASSES;
    return (unsigned)((addr - arch_va_layout.stacks.start) / share);
}

void kstack_free(const struct kstack *stack)
{
    unsigned c = class_of(stack->bottom);
    size_t npages = (stack->top - stack->bottom) / PAGE_BYTES;
    struct translation t;
    if (c == KSTACK_CLASSES || stack->top <= stack->bottom ||
        (stack->top - classes[c].base) % (classes[c].slot_pages * PAGE_BYTES) != 0 ||
        npages >= classes[c].slot_pages || (stack->bottom & (PAGE_BYTES - 1)))
        panic("kstack: free of [0x%lx, 0x%lx), which is not a stack kstack_alloc made",
              stack->bottom, stack->top);
    if (!paging_translate(&kernel_space, stack->bottom, &t))
        panic("kstack: double free of the stack at [0x%lx, 0x%lx)", stack->bottom, stack->top);
    unmap_pages(stack->bottom, npages);

    struct slot_class *cls = &classes[c];
    size_t slot = (stack->top - cls->base) / (cls->slot_pages * PAGE_BYTES) - 1;
    bool irq = spin_lock(&kstack_lock);
    give_slot(cls, slot);
    live_stacks--;
    spin_unlock(&kstack_lock, irq);
}

bool kstack_is_guard(uintptr_t addr)
{
    struct translation t;
    /* Unlocked: the page-fault panic asks, and may have interrupted a lock holder. */
    return class_of(addr) < KSTACK_CLASSES && !paging_translate_unlocked(&kernel_space, addr, &t);
}

size_t kstack_count(void)
{
    bool irq = spin_lock(&kstack_lock);
    size_t n = live_stacks;
    spin_unlock(&kstack_lock, irq);
    return n;
}
