/*
 * The local APIC, the legacy PIC (masked) and the clocks: TSC for time, the APIC
 * timer for ticks. The TSC's rate comes from clock.c (the first plausible clock
 * source); the APIC timer's from the same source or measured against the TSC.
 */
#include "apic.h"

#include "acpi_boot.h"
#include "clock.h"

#include "arch/cpu.h"
#include "arch/irq.h"
#include "arch/smp.h"
#include "arch/time.h"
#include "cpu.h"
#include "base/panic.h"
#include "lib/printf.h"
#include "mm/paging.h"

#define MSR_APIC_BASE 0x1bu
#define APIC_BASE_ENABLE (1ull << 11)
#define APIC_BASE_X2APIC (1ull << 10)
#define APIC_BASE_ADDR_MASK 0x000ffffffffff000ull
#define CPUID1_ECX_X2APIC (1u << 21)
#define CPUID1_ECX_TSC_DEADLINE (1u << 24)
#define MSR_TSC_DEADLINE 0x6e0u
#define X2APIC_MSR_BASE 0x800u

/* Register offsets in the xAPIC page; the x2APIC MSR is 0x800 + offset / 16. */
#define APIC_ID 0x20
#define APIC_EOI 0xb0
#define APIC_SVR 0xf0
#define APIC_SVR_ENABLE (1u << 8)
#define APIC_ICR_LOW 0x300
#define APIC_ICR_HIGH 0x310
#define APIC_ICR_PENDING (1u << 12)
#define APIC_LVT_TIMER 0x320
#define APIC_LVT_MASKED (1u << 16)
#define APIC_LVT_PERIODIC (1u << 17)
#define APIC_LVT_TSC_DEADLINE (2u << 17)
#define APIC_TIMER_INITIAL 0x380
#define APIC_TIMER_CURRENT 0x390
#define APIC_TIMER_DIVIDE 0x3e0
#define APIC_TIMER_DIVIDE_16 0x3

/* The legacy 8259 pair: remapped out of the exception range, then masked. */
#define PIC1_COMMAND 0x20
#define PIC1_DATA 0x21
#define PIC2_COMMAND 0xa0
#define PIC2_DATA 0xa1

/* The APIC timer against the (calibrated) TSC: the median of a few short runs. */
#define APIC_MEASURE_US 1000
#define APIC_MEASURE_RUNS 3

/* Set by arch_interrupts_init on the boot CPU, read-only afterwards. */
static bool x2apic;
static volatile uint32_t *xapic_regs;
static uint64_t tsc_hz, apic_timer_hz;
static uint64_t tsc_at_init;
static uint64_t ns_per_tsc_mult; /* ns = (ticks * mult) >> 32 */

/* Handlers by vector; written while only the boot CPU runs. */
static struct {
    arch_irq_handler_fn fn;
    void *ctx;
} handlers[256];
static void (*preempt_hook)(void);
static void (*reschedule_handler)(void);
static void (*timer_tick[ARCH_MAX_CPUS])(void);

static uint32_t apic_read(uint32_t reg)
{
    if (x2apic)
        return (uint32_t)rdmsr(X2APIC_MSR_BASE + reg / 16);
    return xapic_regs[reg / 4];
}

static void apic_write(uint32_t reg, uint32_t value)
{
    if (x2apic)
        wrmsr(X2APIC_MSR_BASE + reg / 16, value);
    else
        xapic_regs[reg / 4] = value;
}

uint32_t apic_id(void)
{
    uint32_t id = apic_read(APIC_ID);
    return x2apic ? id : id >> 24;
}

void apic_eoi(void)
{
    apic_write(APIC_EOI, 0);
}

void apic_send(uint32_t dest_apic_id, uint32_t icr_low)
{
    if (x2apic) {
        wrmsr(X2APIC_MSR_BASE + APIC_ICR_LOW / 16, ((uint64_t)dest_apic_id << 32) | icr_low);
        return;
    }
    apic_write(APIC_ICR_HIGH, dest_apic_id << 24);
    apic_write(APIC_ICR_LOW, icr_low);
    while (apic_read(APIC_ICR_LOW) & APIC_ICR_PENDING)
        arch_cpu_relax();
}

/* This CPU's APIC on, in x2APIC mode when the boot CPU found it. */
void apic_enable_this_cpu(void)
{
    uint64_t base = rdmsr(MSR_APIC_BASE) | APIC_BASE_ENABLE;
    if (x2apic)
        base |= APIC_BASE_X2APIC;
    wrmsr(MSR_APIC_BASE, base);
    apic_write(APIC_SVR, APIC_SVR_ENABLE | VECTOR_SPURIOUS);
    apic_write(APIC_LVT_TIMER, APIC_LVT_MASKED);
}

static void pic_remap_and_mask(void)
{
    outb(PIC1_COMMAND, 0x11); /* ICW1: initialise, ICW4 follows */
    outb(PIC2_COMMAND, 0x11);
    outb(PIC1_DATA, VECTOR_PIC_BASE);     /* ICW2: vector bases */
    outb(PIC2_DATA, VECTOR_PIC_BASE + 8);
    outb(PIC1_DATA, 4); /* ICW3: slave on IRQ2 */
    outb(PIC2_DATA, 2);
    outb(PIC1_DATA, 1); /* ICW4: 8086 mode */
    outb(PIC2_DATA, 1);
    outb(PIC1_DATA, 0xff); /* every line masked: the APICs take over */
    outb(PIC2_DATA, 0xff);
}

/* One run: APIC-timer ticks over APIC_MEASURE_US of the TSC, as a rate. */
static uint64_t apic_timer_run(void)
{
    apic_write(APIC_TIMER_DIVIDE, APIC_TIMER_DIVIDE_16);
    apic_write(APIC_TIMER_INITIAL, 0xffffffffu);
    uint64_t span = tsc_hz / 1000000 * APIC_MEASURE_US;
    uint32_t start = apic_read(APIC_TIMER_CURRENT);
    uint64_t t0 = arch_read_timestamp(), t1;
    while ((t1 = arch_read_timestamp()) - t0 < span)
        arch_cpu_relax();
    uint32_t end = apic_read(APIC_TIMER_CURRENT);
    apic_write(APIC_TIMER_INITIAL, 0);
    /* In kHz of the TSC: (2^32 x 16) x (10^10 / 1000) still fits in 64 bits. */
    return (uint64_t)(start - end) * 16 * (tsc_hz / 1000) / (t1 - t0) * 1000;
}

static uint64_t measure_apic_timer(void)
{
    uint64_t runs[APIC_MEASURE_RUNS];
    for (int i = 0; i < APIC_MEASURE_RUNS; i++) {
        runs[i] = apic_timer_run();
        for (int j = i; j > 0 && runs[j] < runs[j - 1]; j--) {
            uint64_t t = runs[j];
            runs[j] = runs[j - 1];
            runs[j - 1] = t;
        }
    }
    return runs[APIC_MEASURE_RUNS / 2];
}

static bool cpu_has_tsc_deadline(void)
{
    uint32_t eax, ebx, ecx, edx;
    cpuid(1, 0, &eax, &ebx, &ecx, &edx);
    return (ecx & CPUID1_ECX_TSC_DEADLINE) != 0;
}

/* The TSC's rate from the first plausible clock source (clock.c); the APIC
 * timer's from that source, or measured against the TSC when the tick needs it. */
static void calibrate(void)
{
    struct clock_rates rates = clock_calibrate();
    tsc_hz = rates.tsc_hz;
    apic_timer_hz = rates.apic_timer_hz;
    /* With TSC-deadline ticks the APIC timer's own rate is never used. */
    if (apic_timer_hz || cpu_has_tsc_deadline())
        return;
    apic_timer_hz = measure_apic_timer();
    char why[CLOCK_WHY_BYTES];
    if (!clock_rates_plausible(&(struct clock_rates){tsc_hz, apic_timer_hz}, why, sizeof(why)))
        panic("apic: the timer measured against the TSC: %s", why);
}

void arch_interrupts_init(void)
{
    uint32_t eax, ebx, ecx, edx;
    cpuid(1, 0, &eax, &ebx, &ecx, &edx);
    x2apic = (ecx & CPUID1_ECX_X2APIC) != 0;
    if (!x2apic) {
        uint64_t base = rdmsr(MSR_APIC_BASE) & APIC_BASE_ADDR_MASK;
        xapic_regs = paging_map_device(phys(base), 4096, PAGE_WRITE | PAGE_NOCACHE);
        if (!xapic_regs)
            panic("apic: cannot map the local APIC at 0x%lx", base);
    }
    acpi_load();
    pic_remap_and_mask();
    apic_enable_this_cpu();
    smp_set_boot_cpu(apic_id());
    smp_init_ipis();
    ioapic_init();

    calibrate();
    ns_per_tsc_mult = (1000000000ull << 32) / tsc_hz;
    tsc_at_init = arch_read_timestamp();
    kprintf("apic: %s, id %u; TSC %lu kHz (from %s), APIC timer %lu kHz%s\n",
            x2apic ? "x2APIC" : "xAPIC", apic_id(), tsc_hz / 1000, clock_source_name(),
            apic_timer_hz / 1000, apic_timer_hz ? "" : " (not needed: TSC-deadline)");
}

uint64_t arch_timestamp_hz(void)
{
    return tsc_hz;
}

uint64_t arch_timestamp_to_ns(uint64_t ticks)
{
    return (uint64_t)(((unsigned __int128)ticks * ns_per_tsc_mult) >> 32);
}

uint64_t arch_time_ns(void)
{
    if (!ns_per_tsc_mult)
        return 0;
    unsigned __int128 ticks = arch_read_timestamp() - tsc_at_init;
    return (uint64_t)((ticks * ns_per_tsc_mult) >> 32);
}

/*
 * The tick. With TSC-deadline mode (CPUID.1:ECX[24]) each tick arms the next at
 * an absolute TSC value, one period after the previous deadline, so ticks keep
 * to the TSC's time without drift; a tick that comes too late to keep up skips
 * ahead rather than firing a burst. Otherwise the APIC timer runs periodically
 * from its calibrated count.
 */
static bool tsc_deadline_mode;
static uint64_t tick_period_tsc;
static uint64_t next_deadline[ARCH_MAX_CPUS]; /* each CPU its own */

static void arm_deadline(unsigned cpu)
{
    uint64_t now = arch_read_timestamp();
    uint64_t next = next_deadline[cpu] + tick_period_tsc;
    if (next <= now)
        next = now + tick_period_tsc;
    next_deadline[cpu] = next;
    wrmsr(MSR_TSC_DEADLINE, next);
}

/* Set once at boot (apic_poll_on_tick), before or while ticks run: the boot
 * CPU's tick reads the function after the context (release/acquire). */
static void (*tick_poll_fn)(void *ctx);
static void *tick_poll_ctx;

void apic_poll_on_tick(void (*fn)(void *ctx), void *ctx)
{
    KASSERT(!tick_poll_fn);
    tick_poll_ctx = ctx;
    __atomic_store_n(&tick_poll_fn, fn, __ATOMIC_RELEASE);
}

static void timer_interrupt(void *ctx)
{
    (void)ctx;
    unsigned cpu = arch_cpu_index();
    void (*poll)(void *) = cpu == 0 ? __atomic_load_n(&tick_poll_fn, __ATOMIC_ACQUIRE) : NULL;
    if (poll)
        poll(tick_poll_ctx);
    if (tsc_deadline_mode)
        arm_deadline(cpu);
    void (*tick)(void) = timer_tick[cpu];
    if (tick)
        tick();
}

/* The local APIC holds back a vector while it is in service: the EOI ends that,
 * and the self-IPI sets it pending again. */
void arch_timer_refire_for_test(void)
{
    apic_eoi();
    apic_send(smp_apic_id(arch_cpu_index()), VECTOR_TIMER);
}

const char *arch_timer_mode(void)
{
    return tsc_deadline_mode ? "TSC-deadline APIC" : "periodic APIC";
}

void arch_timer_start(uint64_t period_ns, void (*tick)(void))
{
    unsigned cpu = arch_cpu_index();
    timer_tick[cpu] = tick;
    arch_irq_set_handler(VECTOR_TIMER, timer_interrupt, NULL);
    if (cpu_has_tsc_deadline()) {
        /* Same on every CPU: the first to start sets it for all. */
        tsc_deadline_mode = true;
        tick_period_tsc = tsc_hz / 1000 * (period_ns / 1000) / 1000;
        apic_write(APIC_LVT_TIMER, APIC_LVT_TSC_DEADLINE | VECTOR_TIMER);
        /* The LVT write must land before the MSR write (an MMIO write may be
         * buffered past a WRMSR in xAPIC mode). */
        __asm__ volatile("mfence" ::: "memory");
        next_deadline[cpu] = arch_read_timestamp();
        arm_deadline(cpu);
        return;
    }
    uint64_t count = apic_timer_hz / 16 * period_ns / 1000000000ull;
    apic_write(APIC_TIMER_DIVIDE, APIC_TIMER_DIVIDE_16);
    apic_write(APIC_LVT_TIMER, APIC_LVT_PERIODIC | VECTOR_TIMER);
    apic_write(APIC_TIMER_INITIAL, (uint32_t)(count ? count : 1));
}

/* ---- interrupt dispatch ------------------------------------------------------ */

void arch_irq_set_handler(unsigned vector, arch_irq_handler_fn fn, void *ctx)
{
    KASSERT(vector >= ARCH_IRQ_FIRST && vector < 256);
    handlers[vector].ctx = ctx;
    __atomic_store_n(&handlers[vector].fn, fn, __ATOMIC_RELEASE);
}

void arch_set_preempt_hook(void (*hook)(void))
{
    preempt_hook = hook;
}

/* Interrupt handlers on each CPU's stack now, and the most there were (each CPU
 * its own, interrupts off). */
static unsigned irq_depth[ARCH_MAX_CPUS], irq_depth_max[ARCH_MAX_CPUS];

unsigned arch_irq_depth_max(unsigned cpu)
{
    return __atomic_load_n(&irq_depth_max[cpu], __ATOMIC_RELAXED);
}

void arch_irq_depth_reset(unsigned cpu)
{
    __atomic_store_n(&irq_depth_max[cpu], 0, __ATOMIC_RELAXED);
}

/* Called by isr_dispatch for vectors >= ARCH_IRQ_FIRST; false if nobody handles it.
 * The preempt hook only for the outermost interrupt (include/arch/irq.h). */
bool apic_dispatch(unsigned vector)
{
    if (vector == VECTOR_SPURIOUS || (vector >= VECTOR_PIC_BASE && vector < VECTOR_PIC_BASE + 16))
        return true; /* spurious: no EOI */
    arch_irq_handler_fn fn = __atomic_load_n(&handlers[vector].fn, __ATOMIC_ACQUIRE);
    if (!fn)
        return false;
    unsigned cpu = arch_cpu_index();
    unsigned depth = ++irq_depth[cpu];
    if (depth > irq_depth_max[cpu])
        __atomic_store_n(&irq_depth_max[cpu], depth, __ATOMIC_RELAXED);
    fn(handlers[vector].ctx);
    if (arch_irq_save_disable())
        panic("irq: the handler of vector %u returned with interrupts on (%p)", vector,
              (void *)fn);
    apic_eoi();
    irq_depth[cpu] = depth - 1;
    if (depth == 1 && preempt_hook)
        preempt_hook();
    return true;
}

void arch_cpu_idle(void)
{
    /* sti takes effect after the next instruction, so no interrupt can arrive
     * between it and hlt: a wake-up is never missed. */
    __asm__ volatile("sti; hlt; cli" ::: "memory");
}

/* ---- inter-processor interrupts ---------------------------------------------------- */

static uint64_t reschedules_handled[ARCH_MAX_CPUS]; /* each CPU writes its own */

static void reschedule_interrupt(void *ctx)
{
    (void)ctx;
    __atomic_fetch_add(&reschedules_handled[arch_cpu_index()], 1, __ATOMIC_RELAXED);
    if (reschedule_handler)
        reschedule_handler();
}

void arch_set_reschedule_handler(void (*handler)(void))
{
    reschedule_handler = handler;
    arch_irq_set_handler(VECTOR_RESCHEDULE, reschedule_interrupt, NULL);
}

void arch_send_ipi(unsigned cpu, enum arch_ipi kind)
{
    KASSERT(kind == ARCH_IPI_RESCHEDULE);
    KASSERT(cpu < arch_cpu_count());
    apic_send(smp_apic_id(cpu), VECTOR_RESCHEDULE);
}

uint64_t arch_ipi_count(unsigned cpu, enum arch_ipi kind)
{
    if (cpu >= ARCH_MAX_CPUS)
        return 0;
    if (kind == ARCH_IPI_RESCHEDULE)
        return __atomic_load_n(&reschedules_handled[cpu], __ATOMIC_RELAXED);
    if (kind == ARCH_IPI_TLB_SHOOTDOWN)
        return smp_shootdowns_handled(cpu);
    return 0;
}

uint32_t arch_cpu_hw_id(void)
{
    return apic_id();
}

uint32_t arch_cpu_hw_id_of(unsigned cpu)
{
    return cpu < arch_cpu_count() ? smp_apic_id(cpu) : UINT32_MAX;
}
