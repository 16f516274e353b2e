/*
 * The local APIC, the legacy PIC (masked) and the clocks: TSC for time, the APIC
 * timer for ticks, both calibrated against the PIT (or given by CPUID).
 */
#include "apic.h"

#include "acpi_boot.h"

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

/* PIT channel 2, gated through port 0x61, as a calibration stopwatch. */
#define PIT_HZ 1193182u
#define PIT_CHANNEL2 0x42
#define PIT_COMMAND 0x43
#define PIT_GATE_PORT 0x61
#define PIT_GATE_ON 0x01
#define PIT_SPEAKER 0x02
#define PIT_OUT2 0x20
/* Calibration: the shortest of a few short runs against the PIT. A run can only
 * come out long (this CPU noticing the PIT's output late: an SMI, or a vCPU the
 * host did not schedule), never short, so the minimum is the truest. */
#define CALIBRATION_MS 2
#define CALIBRATION_RUNS 3

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

/* Spins for CALIBRATION_MS on PIT channel 2; returns the TSC and APIC-timer
 * counts that passed meanwhile. */
static void measure_against_pit(uint64_t *tsc_ticks, uint64_t *apic_ticks)
{
    uint16_t count = (uint16_t)(PIT_HZ * CALIBRATION_MS / 1000);
    uint8_t gate = inb(PIT_GATE_PORT);
    outb(PIT_GATE_PORT, (uint8_t)((gate & ~PIT_SPEAKER) & ~PIT_GATE_ON));
    outb(PIT_COMMAND, 0xb0); /* channel 2, lobyte/hibyte, mode 0, binary */
    outb(PIT_CHANNEL2, (uint8_t)count);
    outb(PIT_CHANNEL2, (uint8_t)(count >> 8));
    apic_write(APIC_TIMER_DIVIDE, APIC_TIMER_DIVIDE_16);
    apic_write(APIC_TIMER_INITIAL, 0xffffffffu);
    uint64_t tsc_start = arch_read_timestamp();
    uint32_t apic_start = apic_read(APIC_TIMER_CURRENT);
    outb(PIT_GATE_PORT, (uint8_t)((gate & ~PIT_SPEAKER) | PIT_GATE_ON)); /* start */
    while (!(inb(PIT_GATE_PORT) & PIT_OUT2))
        arch_cpu_relax();
    *tsc_ticks = arch_read_timestamp() - tsc_start;
    *apic_ticks = (uint64_t)(apic_start - apic_read(APIC_TIMER_CURRENT)) * 16;
    apic_write(APIC_TIMER_INITIAL, 0);
    outb(PIT_GATE_PORT, gate);
}

/* The TSC rate, and the local APIC timer's where stated, from CPUID: leaf 0x15
 * (TSC = crystal * ratio) or the hypervisor's leaf 0x40000010 (TSC and APIC bus
 * in kHz). Zero for what the CPU does not say. */
static void clocks_from_cpuid(uint64_t *tsc, uint64_t *apic_timer)
{
    uint32_t max, eax, ebx, ecx, edx;
    *tsc = 0;
    *apic_timer = 0;
    cpuid(0, 0, &max, &ebx, &ecx, &edx);
    if (max >= 0x15) {
        cpuid(0x15, 0, &eax, &ebx, &ecx, &edx);
        if (eax && ebx && ecx) {
            *tsc = (uint64_t)ecx * ebx / eax;
            return;
        }
    }
    cpuid(1, 0, &eax, &ebx, &ecx, &edx);
    if (ecx & CPUID1_ECX_HYPERVISOR) {
        cpuid(0x40000000u, 0, &max, &ebx, &ecx, &edx);
        if (max >= 0x40000010u) {
            cpuid(0x40000010u, 0, &eax, &ebx, &ecx, &edx);
            *tsc = (uint64_t)eax * 1000;
            *apic_timer = (uint64_t)ebx * 1000;
        }
    }
}

static bool cpu_has_tsc_deadline(void)
{
    uint32_t eax, ebx, ecx, edx;
    cpuid(1, 0, &eax, &ebx, &ecx, &edx);
    return (ecx & CPUID1_ECX_TSC_DEADLINE) != 0;
}

/* Measures against the PIT what CPUID did not give (about 10 ms of boot time). */
static void calibrate(const char **tsc_source)
{
    uint64_t tsc_cpuid, apic_cpuid;
    clocks_from_cpuid(&tsc_cpuid, &apic_cpuid);
    /* With TSC-deadline ticks the APIC timer's own rate is never used. */
    bool need_apic = !cpu_has_tsc_deadline();
    *tsc_source = "CPUID";
    if (tsc_cpuid && (!need_apic || apic_cpuid)) {
        tsc_hz = tsc_cpuid;
        apic_timer_hz = apic_cpuid;
        return;
    }
    uint64_t tsc_ticks, apic_ticks;
    measure_against_pit(&tsc_ticks, &apic_ticks);
    for (int run = 1; run < CALIBRATION_RUNS; run++) {
        uint64_t tsc_run, apic_run;
        measure_against_pit(&tsc_run, &apic_run);
        if (tsc_run < tsc_ticks) {
            tsc_ticks = tsc_run;
            apic_ticks = apic_run;
        }
    }
    apic_timer_hz = apic_cpuid ? apic_cpuid : apic_ticks * 1000 / CALIBRATION_MS;
    tsc_hz = tsc_cpuid;
    if (!tsc_hz) {
        tsc_hz = tsc_ticks * 1000 / CALIBRATION_MS;
        *tsc_source = "the PIT";
    }
    if (!tsc_hz || !apic_timer_hz)
        panic("apic: calibration failed (TSC %lu Hz, APIC timer %lu Hz)", tsc_hz, apic_timer_hz);
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

    const char *tsc_source;
    calibrate(&tsc_source);
    ns_per_tsc_mult = (1000000000ull << 32) / tsc_hz;
    tsc_at_init = arch_read_timestamp();
    kprintf("apic: %s, id %u; TSC %lu kHz (from %s), APIC timer %lu kHz%s\n",
            x2apic ? "x2APIC" : "xAPIC", apic_id(), tsc_hz / 1000, tsc_source,
            apic_timer_hz / 1000, apic_timer_hz ? "" : " (not needed: TSC-deadline)");
}

uint64_t arch_timestamp_hz(void)
{
    return tsc_hz;
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

static void timer_interrupt(void *ctx)
{
    (void)ctx;
    unsigned cpu = arch_cpu_index();
    if (tsc_deadline_mode)
        arm_deadline(cpu);
    void (*tick)(void) = timer_tick[cpu];
    if (tick)
        tick();
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

/* Called by isr_dispatch for vectors >= ARCH_IRQ_FIRST; false if nobody handles it. */
bool apic_dispatch(unsigned vector)
{
    if (vector == VECTOR_SPURIOUS || (vector >= VECTOR_PIC_BASE && vector < VECTOR_PIC_BASE + 16))
        return true; /* spurious: no EOI */
    arch_irq_handler_fn fn = __atomic_load_n(&handlers[vector].fn, __ATOMIC_ACQUIRE);
    if (!fn)
        return false;
    fn(handlers[vector].ctx);
    apic_eoi();
    if (preempt_hook)
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
