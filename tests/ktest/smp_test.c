/* Suites `smp` (CPUs, per-CPU data, IPIs, TLB shootdown) and `locktorture`. */
#include "arch/asid.h"
#include "arch/cpu.h"
#include "arch/fault.h"
#include "arch/irq.h"
#include "arch/mmu.h"
#include "arch/smp.h"
#include "arch/time.h"
#include "kernel/boot.h"
#include "kernel/ktest.h"
#include "lib/spin_deadline.h"
#include "mm/frame.h"
#include "mm/heap.h"
#include "mm/paging.h"
#include "mm_test_util.h"
#include "base/spinlock.h"
#include "sched/sync.h"
#include "sched/thread.h"

/* A wait for another CPU that must end: a bound against hangs, not a timing test.
 * It counts this CPU's own running time (include/lib/spin_deadline.h): under TCG
 * on a loaded host both vCPUs may stand still for seconds, which is no hang. */
#define LIVENESS_NS 2000000000ull
#define LIVENESS_STEP_NS 1000000ull

static bool wait_until_nonzero(const int *flag)
{
    struct spin_deadline wait;
    spin_deadline_start(&wait, arch_time_ns(), LIVENESS_NS, LIVENESS_STEP_NS);
    while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE)) {
        if (spin_deadline_passed(&wait, arch_time_ns()))
            return false;
        arch_cpu_relax();
    }
    return true;
}

/* ---- smp ------------------------------------------------------------------------ */

static void smp_cpus_online_match_the_madt(struct ktest *t)
{
    unsigned listed = arch_cpus_listed();
    unsigned expected = listed < ARCH_MAX_CPUS ? listed : ARCH_MAX_CPUS;
    unsigned limit = boot_options()->smp_max_cpus;
    if (limit && limit < expected)
        expected = limit;
    /* smp_late_cpu=n: the n-th CPU arrives after its deadline and must be given
     * up (parked), the others started; the slot goes to the next CPU listed. */
    unsigned late = boot_options()->smp_late_cpu;
    if (late && late < expected && expected == listed)
        expected--;
    KT_EXPECT_EQ(t, arch_cpus_given_up(), late && late < listed && late < ARCH_MAX_CPUS &&
                                              (!limit || late < limit) ? 1u : 0u);
    ktest_note(t, "%u CPUs listed by the firmware, smp=%u, smp_late_cpu=%u, %u online, %u given up",
               listed, limit, late, arch_cpu_count(), arch_cpus_given_up());
    KT_EXPECT_EQ(t, arch_cpu_count(), expected);
}

struct cpu_report {
    unsigned index;   /* arch_cpu_index() as seen on that CPU */
    uint32_t hw_id;   /* the APIC ID the hardware reports there */
    unsigned thread_cpu;
    int done;         /* atomic */
};

static void report_cpu(void *arg)
{
    struct cpu_report *r = arg;
    r->index = arch_cpu_index();
    r->hw_id = arch_cpu_hw_id();
    r->thread_cpu = thread_current()->cpu;
    __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
}

static void smp_every_cpu_has_its_own_per_cpu_data(struct ktest *t)
{
    static struct cpu_report reports[ARCH_MAX_CPUS];
    unsigned n = arch_cpu_count();
    for (unsigned cpu = 0; cpu < n; cpu++) {
        reports[cpu] = (struct cpu_report){.index = ~0u};
        struct thread *th = thread_spawn(report_cpu, &reports[cpu], "report", (int)cpu);
        KT_ASSERT(t, th != NULL);
        thread_join(th);
    }
    for (unsigned cpu = 0; cpu < n; cpu++) {
        KT_EXPECT_EQ(t, reports[cpu].done, 1);
        KT_EXPECT_EQ(t, reports[cpu].index, cpu);
        KT_EXPECT_EQ(t, reports[cpu].thread_cpu, cpu);
        KT_EXPECT_EQ(t, reports[cpu].hw_id, arch_cpu_hw_id_of(cpu));
        for (unsigned other = 0; other < cpu; other++)
            KT_EXPECT(t, reports[cpu].hw_id != reports[other].hw_id);
    }
}

static void smp_reschedule_ipis_reach_every_cpu(struct ktest *t)
{
    unsigned n = arch_cpu_count();
    if (n < 2)
        KT_SKIP(t, "one CPU");
    unsigned self_cpu;
    bool irq = arch_irq_save_disable(); /* stay on one CPU while sending */
    self_cpu = arch_cpu_index();
    unsigned failures = 0;
    for (unsigned cpu = 0; cpu < n; cpu++) {
        if (cpu == self_cpu)
            continue;
        for (int round = 0; round < 20; round++) {
            uint64_t before = arch_ipi_count(cpu, ARCH_IPI_RESCHEDULE);
            arch_send_ipi(cpu, ARCH_IPI_RESCHEDULE);
            struct spin_deadline wait;
            spin_deadline_start(&wait, arch_time_ns(), LIVENESS_NS, LIVENESS_STEP_NS);
            while (arch_ipi_count(cpu, ARCH_IPI_RESCHEDULE) == before &&
                   !spin_deadline_passed(&wait, arch_time_ns()))
                arch_cpu_relax();
            if (arch_ipi_count(cpu, ARCH_IPI_RESCHEDULE) == before) {
                failures++;
                break;
            }
        }
    }
    arch_irq_restore(irq);
    KT_EXPECT_EQ(t, failures, 0);
}

/* The other CPU's side of the shootdown test. */
struct tlb_probe {
    uintptr_t va;
    int loaded;       /* atomic: it has read the page, so its TLB holds the entry */
    int changed;      /* atomic: the page was unmapped or write-protected meanwhile */
    bool write;       /* probe with a write (after protect) instead of a read */
    bool faulted;
    struct fault_info fault;
    uint64_t value;
};

static void probe_page(void *arg)
{
    struct tlb_probe *p = arg;
    p->value = *(volatile uint64_t *)p->va;
    if (p->write)
        *(volatile uint64_t *)p->va = p->value; /* caches a writable entry */
    __atomic_store_n(&p->loaded, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&p->changed, __ATOMIC_ACQUIRE))
        arch_cpu_relax();
    p->faulted = ktest_catch_fault(p->write ? mm_write_byte : mm_read_byte, (void *)p->va,
                                   &p->fault);
}

/* A 1 GiB-aligned window below the paging suite's, which nothing else uses. */
static uintptr_t smp_scratch_va(void)
{
    return (arch_va_layout.devices.end - (4ull << 30)) & ~((1ull << 30) - 1);
}

/* Maps a page, lets CPU `cpu` cache it in its TLB, then unmaps it (or takes its
 * write permission) here: the other CPU's next access must fault. Without the
 * shootdown its stale TLB entry would let the access through. */
static void check_change_reaches(struct ktest *t, unsigned cpu, bool protect)
{
    uintptr_t va = smp_scratch_va() + cpu * 0x1000;
    phys_addr_t frame = frame_alloc();
    KT_ASSERT(t, phys_is_valid(frame));
    KT_ASSERT(t, paging_map(&kernel_space, va, frame, PAGE_4K, PAGE_WRITE) == PAGING_OK);
    *(volatile uint64_t *)va = 0x5eed0000 + cpu;
    static struct tlb_probe probe;
    probe = (struct tlb_probe){.va = va, .write = protect};
    uint64_t shootdowns = arch_ipi_count(cpu, ARCH_IPI_TLB_SHOOTDOWN);
    struct thread *th = thread_spawn(probe_page, &probe, "tlb-probe", (int)cpu);
    KT_ASSERT(t, th != NULL);
    bool loaded = wait_until_nonzero(&probe.loaded);
    if (!loaded) {
        /* The page stays as it is: the probe still writes it when it runs (a
         * change now would make that write a fault nothing catches). */
        __atomic_store_n(&probe.changed, 1, __ATOMIC_RELEASE);
        thread_join(th);
        ktest_fail(t, __FILE__, __LINE__, "cpu %u did not run its probe in %llu ms", cpu,
                   LIVENESS_NS / 1000000);
        KT_EXPECT_EQ(t, paging_unmap(&kernel_space, va, PAGE_4K, NULL), PAGING_OK);
        frame_free(frame);
        return;
    }
    if (protect)
        KT_EXPECT_EQ(t, paging_protect(&kernel_space, va, PAGE_4K, 0), PAGING_OK);
    else
        KT_EXPECT_EQ(t, paging_unmap(&kernel_space, va, PAGE_4K, NULL), PAGING_OK);
    __atomic_store_n(&probe.changed, 1, __ATOMIC_RELEASE);
    thread_join(th);
    KT_EXPECT_EQ(t, probe.value, 0x5eed0000 + cpu);
    KT_EXPECT(t, arch_ipi_count(cpu, ARCH_IPI_TLB_SHOOTDOWN) > shootdowns);
    if (!probe.faulted) {
        ktest_fail(t, __FILE__, __LINE__, "cpu %u %s page 0x%lx after it was %s", cpu,
                   protect ? "wrote to" : "read", va, protect ? "made read-only" : "unmapped");
    } else {
        enum fault_access access;
        bool present;
        KT_EXPECT(t, arch_fault_is_page_fault(&probe.fault, &access, &present));
        KT_EXPECT_EQ(t, probe.fault.fault_addr, va);
        KT_EXPECT_EQ(t, present, protect);
    }
    if (protect)
        KT_EXPECT_EQ(t, paging_unmap(&kernel_space, va, PAGE_4K, NULL), PAGING_OK);
    frame_free(frame);
}

static void smp_unmapped_page_faults_on_every_other_cpu(struct ktest *t)
{
    unsigned n = arch_cpu_count();
    if (n < 2)
        KT_SKIP(t, "one CPU");
    for (unsigned cpu = 0; cpu < n; cpu++)
        if (cpu != arch_cpu_index())
            check_change_reaches(t, cpu, false);
}

static void smp_write_protected_page_faults_on_every_other_cpu(struct ktest *t)
{
    unsigned n = arch_cpu_count();
    if (n < 2)
        KT_SKIP(t, "one CPU");
    for (unsigned cpu = 0; cpu < n; cpu++)
        if (cpu != arch_cpu_index())
            check_change_reaches(t, cpu, true);
}

struct space_visit {
    struct address_space *as;
    bool shoot; /* also shoot the space down, then load the kernel's again */
};

static void visit_space(void *arg)
{
    struct space_visit *v = arg;
    paging_activate(v->as);
    if (v->shoot)
        arch_space_shootdown(&v->as->tlb, ARCH_SHOOTDOWN_ALL);
    paging_activate(&kernel_space);
}

/*
 * A user space loaded on CPU 65 and on CPU 1: a shootdown from CPU 1 reaches CPU
 * 65. (With a 64-bit mask of the CPUs that ran a space, CPU 64 + k shared CPU k's
 * bit, and CPU k left both out of its own shootdowns: CPU 65 kept stale
 * translations of the space.)
 */
static void smp_space_shootdowns_reach_cpus_past_64(struct ktest *t)
{
    const unsigned far = 65, near = far % 64;
    if (arch_cpu_count() <= far)
        KT_SKIP(t, "needs more than 65 CPUs");
    struct space_visit v = {.as = paging_create_space()};
    KT_ASSERT(t, v.as != NULL);
    struct thread *th = thread_spawn(visit_space, &v, "space far", (int)far);
    KT_ASSERT(t, th != NULL);
    thread_join(th);
    uint64_t before = arch_ipi_count(far, ARCH_IPI_TLB_SHOOTDOWN);
    v.shoot = true;
    th = thread_spawn(visit_space, &v, "space near", (int)near);
    KT_ASSERT(t, th != NULL);
    thread_join(th);
    uint64_t after = arch_ipi_count(far, ARCH_IPI_TLB_SHOOTDOWN);
    ktest_note(t, "CPU %u handled %lu shootdowns while CPU %u shot the space down", far,
               after - before, near);
    KT_EXPECT(t, after > before);
    paging_destroy_space(v.as);
}

KTEST_SUITE(smp, KTEST(smp_cpus_online_match_the_madt),
            KTEST(smp_every_cpu_has_its_own_per_cpu_data),
            KTEST(smp_reschedule_ipis_reach_every_cpu),
            KTEST(smp_unmapped_page_faults_on_every_other_cpu),
            KTEST(smp_write_protected_page_faults_on_every_other_cpu),
            KTEST(smp_space_shootdowns_reach_cpus_past_64));

/* ---- locktorture ------------------------------------------------------------------ */

/*
 * Many threads per CPU take seeded random choices of spinlocks, mutexes and
 * semaphores and check, inside, that nobody else is: each lock guards a record
 * whose two counters are bumped apart with a random pause between them and whose
 * holder field must be empty on entry. Any overlap, lost update or stuck thread
 * is an error; the run reports the seed to replay it.
 */
#define TORTURE_SPINLOCKS 3
#define TORTURE_MUTEXES 3
#define TORTURE_SEM_PERMITS 2
#define TORTURE_THREADS_PER_CPU 6
#define TORTURE_OPS 600

struct guarded {
    uint64_t a, b;  /* bumped one after the other under the lock */
    uint32_t holder; /* thread id inside, 0 when free */
};

struct torture {
    struct spinlock spin[TORTURE_SPINLOCKS];
    struct mutex mutex[TORTURE_MUTEXES];
    struct semaphore sem;
    struct guarded spin_rec[TORTURE_SPINLOCKS], mutex_rec[TORTURE_MUTEXES];
    int sem_inside;   /* atomic: holders of a permit */
    uint64_t sem_ops; /* atomic */
    uint64_t errors;  /* atomic */
};

struct torturer {
    struct torture *run;
    uint64_t seed;
    uint32_t id;
};

static void pause_for(struct rng *rng, unsigned most)
{
    for (volatile unsigned i = rng_below(rng, most); i > 0; i--) {
    }
}

static void enter_record(struct torture *run, struct guarded *g, uint32_t id)
{
    if (g->holder != 0 || g->a != g->b)
        __atomic_fetch_add(&run->errors, 1, __ATOMIC_RELAXED);
    g->holder = id;
    g->a++;
}

static void leave_record(struct torture *run, struct guarded *g, uint32_t id)
{
    g->b++;
    if (g->holder != id || g->a != g->b)
        __atomic_fetch_add(&run->errors, 1, __ATOMIC_RELAXED);
    g->holder = 0;
}

static void torture_thread(void *arg)
{
    struct torturer *me = arg;
    struct torture *run = me->run;
    struct rng rng;
    rng_seed(&rng, me->seed);
    for (unsigned op = 0; op < TORTURE_OPS; op++) {
        switch (rng_below(&rng, 3)) {
        case 0: {
            unsigned i = (unsigned)rng_below(&rng, TORTURE_SPINLOCKS);
            bool irq = spin_lock(&run->spin[i]);
            enter_record(run, &run->spin_rec[i], me->id);
            pause_for(&rng, 64);
            leave_record(run, &run->spin_rec[i], me->id);
            spin_unlock(&run->spin[i], irq);
            break;
        }
        case 1: {
            unsigned i = (unsigned)rng_below(&rng, TORTURE_MUTEXES);
            mutex_lock(&run->mutex[i]);
            enter_record(run, &run->mutex_rec[i], me->id);
            if (rng_below(&rng, 8) == 0)
                thread_yield(); /* sleep-capable locks may be held across a switch */
            pause_for(&rng, 256);
            leave_record(run, &run->mutex_rec[i], me->id);
            mutex_unlock(&run->mutex[i]);
            break;
        }
        default: {
            semaphore_down(&run->sem);
            int inside = __atomic_add_fetch(&run->sem_inside, 1, __ATOMIC_ACQ_REL);
            if (inside > TORTURE_SEM_PERMITS)
                __atomic_fetch_add(&run->errors, 1, __ATOMIC_RELAXED);
            pause_for(&rng, 128);
            __atomic_fetch_add(&run->sem_ops, 1, __ATOMIC_RELAXED);
            __atomic_sub_fetch(&run->sem_inside, 1, __ATOMIC_ACQ_REL);
            semaphore_up(&run->sem);
            break;
        }
        }
        if (rng_below(&rng, 16) == 0)
            thread_yield();
    }
}

static void locktorture_many_threads_per_cpu_find_no_overlap(struct ktest *t)
{
    static struct torture run;
    run = (struct torture){0};
    for (int i = 0; i < TORTURE_SPINLOCKS; i++)
        run.spin[i] = (struct spinlock)SPINLOCK_INIT("torture");
    for (int i = 0; i < TORTURE_MUTEXES; i++)
        run.mutex[i] = (struct mutex)MUTEX_INIT("torture");
    semaphore_init(&run.sem, TORTURE_SEM_PERMITS, "torture");

    unsigned n = arch_cpu_count() * TORTURE_THREADS_PER_CPU;
    struct torturer *who = kcalloc(n, sizeof(*who));
    struct thread **th = kcalloc(n, sizeof(*th));
    KT_ASSERT(t, who && th);
    for (unsigned i = 0; i < n; i++) {
        who[i] = (struct torturer){&run, rng_next(&t->rng), i + 1};
        /* Half pinned round-robin, half free to be stolen. */
        int cpu = (i % 2) ? (int)(i / 2 % arch_cpu_count()) : THREAD_ANY_CPU;
        th[i] = thread_spawn(torture_thread, &who[i], "torture", cpu);
        KT_ASSERT(t, th[i] != NULL);
    }
    for (unsigned i = 0; i < n; i++)
        thread_join(th[i]);

    uint64_t ops = run.sem_ops;
    for (int i = 0; i < TORTURE_SPINLOCKS; i++) {
        KT_EXPECT_EQ(t, run.spin_rec[i].a, run.spin_rec[i].b);
        ops += run.spin_rec[i].a;
    }
    for (int i = 0; i < TORTURE_MUTEXES; i++) {
        KT_EXPECT_EQ(t, run.mutex_rec[i].a, run.mutex_rec[i].b);
        ops += run.mutex_rec[i].a;
    }
    ktest_note(t, "%u threads on %u CPUs, %lu lock operations, %lu errors", n,
               arch_cpu_count(), ops, run.errors);
    KT_EXPECT_EQ(t, ops, (uint64_t)n * TORTURE_OPS);
    KT_EXPECT_EQ(t, run.errors, 0);
    KT_EXPECT_EQ(t, run.sem_inside, 0);
    kfree(who);
    kfree(th);
}

KTEST_SUITE(locktorture, KTEST(locktorture_many_threads_per_cpu_find_no_overlap));
