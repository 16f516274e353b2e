/*
 * PCID slots and targeted shootdowns for include/arch/asid.h.
 *
 * PCID 0 is the kernel space's (its mappings are global anyway). A CPU has
 * PCID_SLOTS further tags, 1..PCID_SLOTS; slot s holds the id of the space
 * tagged s + 1 on this CPU, or 0. Eight slots: enough for a shell, a few
 * programs and their children to switch back and forth without flushing, and a
 * lookup that is one short loop. Slots are touched only by their own CPU with
 * interrupts off (switch and the shootdown handler).
 */
#include "arch/asid.h"

#include "arch/cpu.h"
#include "arch/irq.h"
#include "arch/mmu.h"
#include "arch/mmu.h"
#include "lib/string.h"
#include "cpu.h"
#include "mmu_bits.h"
#include "pcid.h"

struct pcid_cpu pcid_cpus[ARCH_MAX_CPUS];

static uint64_t next_space_id = 1; /* atomic */
bool pcid_enabled;

void pcid_enable(void)
{
    pcid_enabled = true;
}

bool arch_mmu_has_pcid(void)
{
    return pcid_enabled;
}

void arch_space_tlb_init(struct arch_space_tlb *t)
{
    t->id = __atomic_fetch_add(&next_space_id, 1, __ATOMIC_RELAXED);
    memset(&t->cpus, 0, sizeof(t->cpus));
}

static inline void write_cr3(uint64_t value)
{
    __asm__ volatile("mov %0, %%cr3" : : "r"(value) : "memory");
}

/* CR3 for space `id` on this CPU: its slot's tag, flushing when it had none. */
static uint64_t pcid_cr3_bits(struct pcid_cpu *c, uint64_t id)
{
    for (unsigned s = 0; s < PCID_SLOTS; s++) {
        if (c->slot_id[s] == id)
            return CR3_NOFLUSH | (s + 1);
    }
    unsigned victim = c->next_victim;
    c->next_victim = (victim + 1) % PCID_SLOTS;
    c->slot_id[victim] = id;
    return victim + 1; /* no NOFLUSH: drop what the tag's previous space left */
}

void pcid_load_tagged(struct pcid_cpu *c, uint64_t root_phys, uint64_t id)
{
    write_cr3(root_phys | (id == 0 ? CR3_NOFLUSH : pcid_cr3_bits(c, id)));
    c->current_id = id;
}

void arch_space_switch(uint64_t root_phys, struct arch_space_tlb *t)
{
    bool irq = arch_irq_save_disable();
    arch_space_switch_irqs_off(root_phys, t);
    arch_irq_restore(irq);
}

void arch_space_switch_irqs_off(uint64_t root_phys, struct arch_space_tlb *t)
{
    unsigned cpu = arch_cpu_index();
    pcid_space_switch(cpu, &pcid_cpus[cpu], root_phys, t);
}

void pcid_flush_local(uint64_t id, uintptr_t va)
{
    struct pcid_cpu *c = &pcid_cpus[arch_cpu_index()];
    if (c->current_id == id) {
        if (va == ARCH_SHOOTDOWN_ALL)
            write_cr3(read_cr3() & ~CR3_NOFLUSH); /* flushes the current tag */
        else
            arch_tlb_flush_page(va);
        return;
    }
    for (unsigned s = 0; s < PCID_SLOTS; s++) {
        if (c->slot_id[s] == id)
            c->slot_id[s] = 0; /* the next switch-in flushes the tag */
    }
}

void arch_space_shootdown(struct arch_space_tlb *t, uintptr_t va)
{
    /* The entry was written before: order that store before reading the mask. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    bool irq = arch_irq_save_disable();
    unsigned self = arch_cpu_index();
    if (cpuset_test_atomic(&t->cpus, self))
        pcid_flush_local(t->id, va);
    arch_irq_restore(irq);
    if (cpuset_first_except_atomic(&t->cpus, self) < ARCH_MAX_CPUS)
        smp_shootdown_space(&t->cpus, t->id, va);
}
