/*
 * Other CPUs: found in the ACPI MADT, started with INIT-SIPI-SIPI through the
 * trampoline (boot/trampoline.asm), one at a time. Also the IPIs that need every
 * CPU: TLB shootdown and stop-all.
 */
#include <stddef.h>

#include "acpi_boot.h"
#include "apic.h"
#include "arch/cpu.h"
#include "arch/irq.h"
#include "arch/smp.h"
#include "arch/time.h"
#include "arch/mmu.h"
#include "cpu.h"
#include "gdt.h"
#include "idt.h"
#include "base/panic.h"
#include "lib/printf.h"
#include "lib/string.h"
#include "mm/heap.h"
#include "mm/kstack.h"
#include "mm/numa.h"
#include "mm/paging.h"
#include "pcid.h"
#include "percpu.h"
#include "user_entry.h"
#include "arch/asid.h"
#include "base/spinlock.h"
#include "lib/spin_deadline.h"

#define TRAMPOLINE_PHYS 0x8000ul
#define AP_STACK_BYTES 16384
#define ICR_INIT 0x00004500u     /* delivery mode INIT, level assert */
#define ICR_STARTUP 0x00004600u  /* delivery mode start-up; low byte: the page */
#define ICR_NMI_ALL_OTHERS 0x000c4400u /* NMI, shorthand "all excluding self" */
/* How long the boot CPU waits for an AP to claim its start, counted in its own
 * running time (include/lib/spin_deadline.h). Under QEMU TCG on this project's
 * 2-core host, at 255 vCPUs, the boot CPU saw up to 2.8 s (52 s with other VMs
 * running) between its SIPI and the AP's claim, mostly time in which neither
 * vCPU ran: a limit on the clock alone gives up on an AP whenever the host's
 * stall outlasts it, and the boot then lacks CPUs. Gaps above AP_WAIT_STEP_NS
 * between two looks at the clock are the waiter's own stall. */
#define AP_START_TIMEOUT_NS 500000000ull
#define AP_WAIT_STEP_NS 1000000ull

/* The parameter block at the end of the trampoline (boot/trampoline.asm), which
 * explains the claim handshake. */
struct trampoline_params {
    uint64_t cr3, stack_top, entry, cpu;
    uint64_t late_until_tsc; /* CPU late_apic_id spins until the TSC reaches this */
    uint32_t late_apic_id;   /* a test's deliberately late CPU, or CLAIM_NONE */
    uint32_t claim;          /* the APIC ID expected now, or CLAIM_ARRIVED/_ABANDONED */
};
_Static_assert(offsetof(struct trampoline_params, late_until_tsc) == 32, "trampoline.asm");
_Static_assert(offsetof(struct trampoline_params, late_apic_id) == 40, "trampoline.asm");
_Static_assert(offsetof(struct trampoline_params, claim) == 44, "trampoline.asm");
#define CLAIM_ARRIVED 0xffffffffu
#define CLAIM_ABANDONED 0xfffffffeu
#define CLAIM_NONE 0xffffffffu /* late_apic_id: no CPU is late on purpose */
extern const char trampoline_start[], trampoline_end[], trampoline_params[];

/* Written by the boot CPU before it starts each AP; read-only afterwards. */
static uint32_t apic_ids[ARCH_MAX_CPUS];
_Static_assert(ARCH_MAX_CPUS <= ACPI_MAX_CPUS,
               "the MADT parser keeps at least as many CPUs as the kernel can run");
static unsigned cpus_online = 1; /* atomic */
static unsigned cpus_listed = 1; /* the MADT's count, once read */
static void (*ap_main_fn)(unsigned cpu);
static int ap_alive; /* atomic: the AP being started has reached C */
static unsigned late_cpu_for_test; /* arch_smp_make_cpu_late: CPU index, 0 = none */
static unsigned cpus_given_up;      /* written by the boot CPU during start-up */

unsigned arch_cpus_given_up(void)
{
    return cpus_given_up;
}

void smp_set_boot_cpu(uint32_t id)
{
    apic_ids[0] = id;
}

uint32_t smp_apic_id(unsigned cpu)
{
    return apic_ids[cpu];
}

unsigned arch_cpu_count(void)
{
    return __atomic_load_n(&cpus_online, __ATOMIC_ACQUIRE);
}

unsigned arch_cpus_listed(void)
{
    return __atomic_load_n(&cpus_listed, __ATOMIC_ACQUIRE);
}

static void delay_ns(uint64_t ns)
{
    uint64_t until = arch_time_ns() + ns;
    while (arch_time_ns() < until)
        arch_cpu_relax();
}

/* ---- start-up ---------------------------------------------------------------- */

/* The first C code of an AP, on its own stack, with the kernel's page tables. */
__attribute__((noreturn)) void smp_ap_entry(unsigned cpu);
void smp_ap_entry(unsigned cpu)
{
    percpu_init_this_cpu(cpu);
    void *tables = kmalloc(gdt_tables_bytes());
    if (!tables)
        panic("smp: no memory for cpu %u's descriptor tables", cpu);
    gdt_init_this_cpu(tables);
    idt_load_this_cpu();
    arch_mmu_init_this_cpu();
    user_cpu_init();
    apic_enable_this_cpu();
    __atomic_store_n(&ap_alive, 1, __ATOMIC_RELEASE);
    ap_main_fn(cpu);
    panic("smp: cpu %u's main function returned", cpu);
}

/* The wait between INIT and the first SIPI. The MP specification's 10 ms is for
 * the external APICs of old processors; CPUs with an integrated APIC of the P6
 * family on (and any hypervisor's virtual CPUs) need none, which saves 10 ms of
 * boot time per AP. */
static uint64_t init_delay_ns(void)
{
    uint32_t eax, ebx, ecx, edx;
    cpuid(1, 0, &eax, &ebx, &ecx, &edx);
    unsigned family = (eax >> 8) & 0xf;
    if (family == 0xf)
        family += (eax >> 20) & 0xff;
    bool hypervisor = (ecx & CPUID1_ECX_HYPERVISOR) != 0;
    return (hypervisor || family >= 6) ? 0 : 10000000;
}

void arch_smp_make_cpu_late(unsigned cpu)
{
    late_cpu_for_test = cpu;
}

/*
 * Gives up on an AP that has not claimed its slot, unless it claims it at this
 * very moment (then it is ours after all: returns false). An AP given up on
 * halts in the trampoline when it arrives, before it touches the stack or
 * anything else of the kernel's, and INIT parks it meanwhile (wait-for-SIPI), so
 * later SIPIs for other CPUs and the stop-all NMI leave it alone.
 */
static bool abandon_ap(struct trampoline_params *params, uint32_t apic_id)
{
    uint32_t expected = apic_id;
    if (!__atomic_compare_exchange_n(&params->claim, &expected, CLAIM_ABANDONED, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return false;
    apic_send(apic_id, ICR_INIT);
    return true;
}


/* "smp: N of M CPUs online (why not all)": M counts every CPU the firmware
 * lists, also those the MADT parser had no room for, and each limit that applied
 * is named with its value. */
static void print_cpus_online(const struct acpi_madt_info *madt, unsigned max_cpus)
{
    unsigned listed = madt->cpu_count + madt->cpus_dropped, online = arch_cpu_count();
    char why[224];
    size_t used = 0;
    why[0] = '\0';
    if (max_cpus && max_cpus < listed)
        used += ksnprintf(why + used, sizeof(why) - used, "; limited by smp=%u", max_cpus);
    if (listed > ARCH_MAX_CPUS && (!max_cpus || max_cpus > ARCH_MAX_CPUS))
        used += ksnprintf(why + used, sizeof(why) - used,
                          "; the kernel's limit, ARCH_MAX_CPUS, is %d", ARCH_MAX_CPUS);
    if (madt->cpus_dropped)
        used += ksnprintf(why + used, sizeof(why) - used,
                          "; the MADT parser kept %u entries, %u dropped", madt->cpu_count,
                          madt->cpus_dropped);
    if (cpus_given_up)
        ksnprintf(why + used, sizeof(why) - used, "; %u given up", cpus_given_up);
    kprintf("smp: %u of %u CPUs online (%s)\n", online, listed, why[0] ? why + 2 : "all");
}
/* Starts the AP with APIC ID `apic_id` as CPU `cpu`; false if it never arrived. */
static bool start_ap(unsigned cpu, uint32_t apic_id)
{
    struct kstack stack;
    if (kstack_alloc(AP_STACK_BYTES, &stack) != KSTACK_OK) {
        kprintf("smp: no memory for cpu %u's stack\n", cpu);
        return false;
    }
    struct trampoline_params *params =
        arch_phys_to_virt(TRAMPOLINE_PHYS + (uint64_t)(trampoline_params - trampoline_start));
    *params = (struct trampoline_params){
        .cr3 = kernel_space.root.value,
        .stack_top = stack.top,
        .entry = (uint64_t)smp_ap_entry,
        .cpu = cpu,
        .late_apic_id = cpu == late_cpu_for_test && !cpus_given_up ? apic_id : CLAIM_NONE,
        /* Far past the boot CPU's wait, which may run slower than the clock;
         * the boot CPU parks the late CPU with INIT as soon as it gives up. */
        .late_until_tsc = arch_read_timestamp() +
                          20 * AP_START_TIMEOUT_NS / 1000 * arch_timestamp_hz() / 1000000,
        .claim = apic_id,
    };
    apic_ids[cpu] = apic_id;
    numa_map_cpu(cpu, apic_id); /* before its first allocation */
    heap_bind_cpu(cpu);
    __atomic_store_n(&ap_alive, 0, __ATOMIC_RELEASE);
    apic_send(apic_id, ICR_INIT);
    delay_ns(init_delay_ns());
    for (int attempt = 0; attempt < 2; attempt++) {
        apic_send(apic_id, ICR_STARTUP | (uint32_t)(TRAMPOLINE_PHYS >> 12));
        delay_ns(200000);
        if (__atomic_load_n(&ap_alive, __ATOMIC_ACQUIRE))
            break;
    }
    struct spin_deadline wait;
    spin_deadline_start(&wait, arch_time_ns(), AP_START_TIMEOUT_NS, AP_WAIT_STEP_NS);
    while (__atomic_load_n(&params->claim, __ATOMIC_ACQUIRE) == apic_id &&
           !spin_deadline_passed(&wait, arch_time_ns()))
        arch_cpu_relax();
    if (abandon_ap(params, apic_id)) {
        kprintf("smp: cpu with APIC ID %u did not start within %lu ms; parked and skipped\n",
                apic_id, (uint64_t)(AP_START_TIMEOUT_NS / 1000000));
        kstack_free(&stack); /* it lost the claim: it never touches the stack */
        cpus_given_up++;
        return false;
    }
    /* Claimed: the CPU is ours and on its way from the trampoline to C, which
     * takes no time worth a deadline; the parameters stay as they are until then. */
    spin_deadline_start(&wait, arch_time_ns(), 10 * AP_START_TIMEOUT_NS, AP_WAIT_STEP_NS);
    while (!__atomic_load_n(&ap_alive, __ATOMIC_ACQUIRE)) {
        if (spin_deadline_passed(&wait, arch_time_ns()))
            panic("smp: cpu %u (APIC ID %u) claimed its start but never reached the kernel",
                  cpu, apic_id);
        arch_cpu_relax();
    }
    return true;
}

unsigned arch_smp_start(unsigned max_cpus, void (*ap_main)(unsigned cpu))
{
    const struct acpi_madt_info *madt = &acpi_tables()->madt;
    if (!madt->found || madt->cpu_count == 0) {
        kprintf("smp: 1 of 1 CPUs online (no ACPI MADT lists any other: the boot CPU only)\n");
        return 1;
    }
    __atomic_store_n(&cpus_listed, madt->cpu_count, __ATOMIC_RELEASE);
    KASSERT(kernel_space.root.value < (1ull << 32)); /* the trampoline loads CR3 in 32-bit mode */
    size_t size = (size_t)(trampoline_end - trampoline_start);
    memcpy(arch_phys_to_virt(TRAMPOLINE_PHYS), trampoline_start, size);
    if (paging_map(&kernel_space, TRAMPOLINE_PHYS, phys(TRAMPOLINE_PHYS), PAGE_4K, PAGE_EXEC) !=
        PAGING_OK)
        panic("smp: cannot identity-map the trampoline");
    ap_main_fn = ap_main;

    unsigned limit = max_cpus && max_cpus < ARCH_MAX_CPUS ? max_cpus : ARCH_MAX_CPUS;
    uint32_t self = apic_ids[0];
    for (unsigned i = 0; i < madt->cpu_count && arch_cpu_count() < limit; i++) {
        if (madt->apic_ids[i] == self)
            continue;
        unsigned cpu = arch_cpu_count();
        if (start_ap(cpu, madt->apic_ids[i]))
            __atomic_store_n(&cpus_online, cpu + 1, __ATOMIC_RELEASE);
    }
    paging_unmap(&kernel_space, TRAMPOLINE_PHYS, PAGE_4K, NULL);
    print_cpus_online(madt, max_cpus);
    return arch_cpu_count();
}

/* ---- TLB shootdown -------------------------------------------------------------- */

/*
 * One request at a time (shootdown_lock). The sender publishes the address, sets
 * each target's pending flag, sends the IPI and waits for every flag to clear.
 * Targets clear theirs in the IPI handler, and also in arch_cpu_relax: a CPU that
 * spins on a lock with interrupts off (perhaps one the sender holds) still
 * answers, so the wait can never deadlock.
 */
static struct spinlock shootdown_lock = SPINLOCK_INIT("shootdown");
static uintptr_t shootdown_va;             /* under shootdown_lock; read by targets */
static uint64_t shootdown_space;           /* the same: 0 kernel half, else a user space's id */
#define SHOOTDOWN_EVERYTHING UINTPTR_MAX   /* shootdown_va: flush the whole TLB */
static int shootdown_pending[ARCH_MAX_CPUS]; /* atomic: 1 = flush shootdown_va */
static uint64_t shootdowns_handled[ARCH_MAX_CPUS]; /* each CPU writes its own */

uint64_t smp_shootdowns_handled(unsigned cpu)
{
    return cpu < ARCH_MAX_CPUS ? __atomic_load_n(&shootdowns_handled[cpu], __ATOMIC_RELAXED) : 0;
}

void smp_service_shootdown(void)
{
    unsigned self = arch_cpu_index();
    if (__atomic_load_n(&shootdown_pending[self], __ATOMIC_ACQUIRE)) {
        uintptr_t va = __atomic_load_n(&shootdown_va, __ATOMIC_RELAXED);
        uint64_t space = __atomic_load_n(&shootdown_space, __ATOMIC_RELAXED);
        if (space != 0)
            pcid_flush_local(space, va);
        else if (va == SHOOTDOWN_EVERYTHING)
            arch_tlb_flush_all();
        else
            arch_tlb_flush_page(va);
        __atomic_fetch_add(&shootdowns_handled[self], 1, __ATOMIC_RELAXED);
        __atomic_store_n(&shootdown_pending[self], 0, __ATOMIC_RELEASE);
    }
}

static void shootdown_interrupt(void *ctx)
{
    (void)ctx;
    smp_service_shootdown();
}

static void shoot_down(const struct cpuset *targets, uint64_t space, uintptr_t va);

void arch_tlb_shootdown(uintptr_t va)
{
    arch_tlb_flush_page(va);
    shoot_down(NULL, 0, va);
}

void arch_tlb_shootdown_all(void)
{
    arch_tlb_flush_all();
    shoot_down(NULL, 0, SHOOTDOWN_EVERYTHING);
}

void smp_shootdown_space(const struct cpuset *cpus, uint64_t id, uintptr_t va)
{
    shoot_down(cpus, id, va == ARCH_SHOOTDOWN_ALL ? SHOOTDOWN_EVERYTHING : va);
}

/* Has every other online CPU of `targets` (NULL: all) do what this one just did
 * for `va` (of user space `space`, or of the kernel half when 0), and waits for
 * the CPUs it signalled. */
static void shoot_down(const struct cpuset *targets, uint64_t space, uintptr_t va)
{
    unsigned online = arch_cpu_count();
    if (online == 1)
        return;
    unsigned self = arch_cpu_index();
    bool irq = spin_lock(&shootdown_lock);
    __atomic_store_n(&shootdown_va, va, __ATOMIC_RELAXED);
    __atomic_store_n(&shootdown_space, space, __ATOMIC_RELAXED);
    for (unsigned cpu = 0; cpu < online; cpu++) {
        if (cpu != self && (!targets || cpuset_test_atomic(targets, cpu))) {
            __atomic_store_n(&shootdown_pending[cpu], 1, __ATOMIC_RELEASE);
            apic_send(apic_ids[cpu], VECTOR_SHOOTDOWN);
        }
    }
    /* Only the CPUs signalled above have their flag set (under the lock). */
    for (unsigned cpu = 0; cpu < online; cpu++) {
        while (cpu != self && __atomic_load_n(&shootdown_pending[cpu], __ATOMIC_ACQUIRE))
            arch_cpu_relax();
    }
    spin_unlock(&shootdown_lock, irq);
}

void smp_init_ipis(void)
{
    arch_irq_set_handler(VECTOR_SHOOTDOWN, shootdown_interrupt, NULL);
}

/* ---- stop ------------------------------------------------------------------------ */

#define STOP_WAIT_NS 100000000ull /* how long a panic waits for the others to stop */

static bool stopping;          /* set once, by the panicking CPU */
static unsigned cpus_stopped;  /* atomic: CPUs halted by the stop NMI */

unsigned arch_stop_other_cpus(void)
{
    unsigned others = arch_cpu_count() - 1;
    if (others == 0 || __atomic_exchange_n(&stopping, true, __ATOMIC_ACQ_REL))
        return 0;
    apic_send(0, ICR_NMI_ALL_OTHERS);
    /* An NMI gets through disabled interrupts, so only a CPU that is itself dead
     * or in a stuck NMI handler fails to answer; don't wait forever for it. */
    uint64_t start = arch_read_timestamp(), limit = arch_timestamp_hz() / (1000000000ull / STOP_WAIT_NS);
    while (__atomic_load_n(&cpus_stopped, __ATOMIC_ACQUIRE) < others &&
           arch_read_timestamp() - start < limit)
        __asm__ volatile("pause");
    return __atomic_load_n(&cpus_stopped, __ATOMIC_ACQUIRE);
}

__attribute__((noreturn)) void smp_stop_this_cpu(void)
{
    __atomic_fetch_add(&cpus_stopped, 1, __ATOMIC_ACQ_REL);
    arch_halt_forever();
}

bool smp_stop_requested(void)
{
    return __atomic_load_n(&stopping, __ATOMIC_ACQUIRE);
}
