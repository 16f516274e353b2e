/*
 * User mode on x86_64 (include/arch/user.h): SYSCALL set-up, the C half of the
 * ring-3 entry and exit paths (syscall.S, isr.S), user-copy fixups, FPU/SIMD
 * state (XSAVE when the CPU has it, FXSAVE otherwise), TLS bases, random seeds.
 */
#include "arch/user.h"

#include <stddef.h>

#include "arch/irq.h"
#include "arch/time.h"
#include "cpu.h"
#include "gdt.h"
#include "idt.h"
#include "lib/string.h"
#include "mmu_bits.h"
#include "pcid.h"
#include "percpu.h"
#include "user_entry.h"

#define MSR_STAR 0xc0000081u
#define MSR_LSTAR 0xc0000082u
#define MSR_FMASK 0xc0000084u
#define MSR_FS_BASE 0xc0000100u
#define MSR_KERNEL_GS_BASE 0xc0000102u
#define EFER_SCE (1ull << 0)

/* RFLAGS bits SYSCALL clears: TF IF DF IOPL NT AC. */
#define SYSCALL_FMASK ((1u << 8) | (1u << 9) | (1u << 10) | (3u << 12) | (1u << 14) | (1u << 18))

#define CR0_MP (1ull << 1)
#define CR0_EM (1ull << 2)
#define CR0_TS (1ull << 3)
#define CR0_NE (1ull << 5)
#define CR4_OSFXSR (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)
#define CR4_OSXSAVE (1ull << 18)
#define CPUID1_ECX_XSAVE (1u << 26)
#define CPUID1_ECX_RDRAND (1u << 30)
#define CPUID7_EBX_RDSEED (1u << 18)
/* XCR0 components Exo saves: x87, SSE, AVX, and AVX-512 (opmask, ZMM_Hi256,
 * Hi16_ZMM). Not MPX (deprecated) nor PKRU (needs CR4.PKE). */
#define XCR0_WANTED 0xe7ull
#define FXSAVE_BYTES 512
#define FPU_DEFAULT_FCW 0x37f
#define FPU_DEFAULT_MXCSR 0x1f80

/* The frame is one layout under two names. */
_Static_assert(sizeof(struct arch_regs) == sizeof(struct interrupt_frame), "frame size");
_Static_assert(sizeof(struct arch_regs) == 176, "syscall.S FRAME_BYTES");
#define SAME_OFFSET(field, value)                                                     \
    _Static_assert(offsetof(struct arch_regs, field) == (value), #field " offset");   \
    _Static_assert(offsetof(struct interrupt_frame, field) == (value), #field " offset")
SAME_OFFSET(r15, 0);
SAME_OFFSET(r14, 8);
SAME_OFFSET(r13, 16);
SAME_OFFSET(r12, 24);
SAME_OFFSET(r11, 32);
SAME_OFFSET(r10, 40);
SAME_OFFSET(r9, 48);
SAME_OFFSET(r8, 56);
SAME_OFFSET(rbp, 64);
SAME_OFFSET(rdi, 72);
SAME_OFFSET(rsi, 80);
SAME_OFFSET(rdx, 88);
SAME_OFFSET(rcx, 96);
SAME_OFFSET(rbx, 104);
SAME_OFFSET(rax, 112);
SAME_OFFSET(vector, 120);
SAME_OFFSET(error_code, 128);
SAME_OFFSET(rip, 136);
SAME_OFFSET(cs, 144);
SAME_OFFSET(rflags, 152);
SAME_OFFSET(rsp, 160);
SAME_OFFSET(ss, 168);
_Static_assert(offsetof(struct cpu_area, self) == 0, "%gs:0");
_Static_assert(offsetof(struct cpu_area, kernel_rsp) == 16, "syscall.S CPU_KERNEL_RSP");
_Static_assert(offsetof(struct cpu_area, user_rsp) == 24, "syscall.S CPU_USER_RSP");
_Static_assert(offsetof(struct cpu_area, user_work) == 32, "syscall.S CPU_USER_WORK");
_Static_assert(offsetof(struct cpu_area, switch_released) == 120, "syscall.S CPU_SWITCH_RELEASED");
_Static_assert(GDT_USER_CODE == 0x20 && GDT_USER_DATA == 0x18, "syscall.S USER_CS/USER_SS, STAR");

void syscall_entry(void);

/* Read by syscall.S; written once by arch_set_syscall_table before any user code. */
static long no_syscalls(uint64_t number)
{
    (void)number;
    return -38; /* ENOSYS */
}
const arch_syscall_fn *syscall_table;
uint64_t syscall_count;
long (*syscall_unknown)(uint64_t number) = no_syscalls;

extern uint8_t uaccess_smap; /* uaccess.S */
static struct arch_user_hooks hooks;
static const uint32_t no_work; /* the work word of kernel threads */

/* Boot CPU's findings; every CPU is configured the same. */
static bool has_xsave, has_xsaveopt, has_rdrand, has_rdseed;
static uint64_t xcr0;
static size_t fpu_bytes = FXSAVE_BYTES;
static uint32_t mxcsr_mask = 0xffbf; /* FXSAVE's MXCSR_MASK; this if it says 0 */

void arch_set_syscall_table(const arch_syscall_fn *table, size_t count,
                            long (*unknown)(uint64_t number))
{
    syscall_table = table;
    syscall_unknown = unknown;
    __atomic_store_n(&syscall_count, count, __ATOMIC_RELEASE);
}

void arch_user_set_hooks(const struct arch_user_hooks *new_hooks)
{
    hooks = *new_hooks;
}

bool arch_user_has_smap(void)
{
    return (read_cr4() & CR4_SMAP) != 0;
}

/* ---- per-CPU set-up -------------------------------------------------------------- */

static inline void write_cr0(uint64_t value)
{
    __asm__ volatile("mov %0, %%cr0" : : "r"(value) : "memory");
}

static inline void write_cr4(uint64_t value)
{
    __asm__ volatile("mov %0, %%cr4" : : "r"(value) : "memory");
}

static inline void xsetbv(uint32_t index, uint64_t value)
{
    __asm__ volatile("xsetbv" : : "c"(index), "a"((uint32_t)value), "d"((uint32_t)(value >> 32)));
}

/* The MXCSR bits FXRSTOR/XRSTOR accept (a signal frame's MXCSR is cut to it).
 * Read once, on the boot CPU (every CPU is the same). */
static void read_mxcsr_mask(void)
{
    static uint8_t area[FXSAVE_BYTES] __attribute__((aligned(16)));
    static bool done;
    if (done)
        return;
    done = true;
    __asm__ volatile("fxsave64 %0" : "=m"(area));
    uint32_t mask;
    memcpy(&mask, area + 28, sizeof(mask));
    if (mask)
        mxcsr_mask = mask;
}

static void fpu_cpu_init(void)
{
    uint32_t eax, ebx, ecx, edx, ebx7 = 0, max_leaf;
    cpuid(0, 0, &max_leaf, &ebx, &ecx, &edx);
    cpuid(1, 0, &eax, &ebx, &ecx, &edx);
    if (max_leaf >= 7)
        cpuid(7, 0, &eax, &ebx7, &eax, &edx);
    has_rdrand = (ecx & CPUID1_ECX_RDRAND) != 0;
    has_rdseed = (ebx7 & CPUID7_EBX_RDSEED) != 0;
    write_cr0((read_cr0() | CR0_MP | CR0_NE) & ~(CR0_EM | CR0_TS));
    uint64_t cr4 = read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT;
    has_xsave = (ecx & CPUID1_ECX_XSAVE) && max_leaf >= 0xd;
    write_cr4(cr4);
    read_mxcsr_mask();
    if (!has_xsave)
        return;
    write_cr4(cr4 | CR4_OSXSAVE);
    uint32_t supported_low, supported_high;
    cpuid(0xd, 0, &supported_low, &ebx, &ecx, &supported_high);
    xcr0 = (((uint64_t)supported_high << 32) | supported_low) & XCR0_WANTED;
    if (!(xcr0 & 4))
        xcr0 &= 3; /* AVX-512 needs AVX */
    xsetbv(0, xcr0);
    cpuid(0xd, 0, &eax, &ebx, &ecx, &edx);
    fpu_bytes = ebx; /* the standard-format area for what XCR0 enables */
    cpuid(0xd, 1, &eax, &ebx, &ecx, &edx);
    has_xsaveopt = (eax & 1) != 0;
}

void user_cpu_init(void)
{
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
    /* SYSCALL: CS = 0x08, SS = 0x10. SYSRET (64-bit): CS = 0x10 + 16 = user code,
     * SS = 0x10 + 8 = user data, both with RPL 3. */
    wrmsr(MSR_STAR, ((uint64_t)0x10 << 48) | ((uint64_t)GDT_KERNEL_CODE << 32));
    wrmsr(MSR_LSTAR, (uint64_t)syscall_entry);
    wrmsr(MSR_FMASK, SYSCALL_FMASK);
    wrmsr(MSR_KERNEL_GS_BASE, 0);
    wrmsr(MSR_FS_BASE, 0);
    struct cpu_area *c = this_cpu_area();
    c->user_work = &no_work;
    c->fs_base = c->user_gs_base = 0;
    uaccess_smap = (read_cr4() & CR4_SMAP) != 0;
    fpu_cpu_init();
}

/* ---- FPU state ----------------------------------------------------------------- */

size_t arch_fpu_state_bytes(void)
{
    return fpu_bytes;
}

void arch_fpu_state_init(void *fpu)
{
    uint8_t *area = fpu;
    memset(area, 0, fpu_bytes);
    /* The legacy region: FCW at 0, MXCSR at 24. With XSAVE, XSTATE_BV = 0 (the
     * header at 512 stays zero) puts every component in its initial state on
     * XRSTOR, except MXCSR, which is always read from here. */
    uint16_t fcw = FPU_DEFAULT_FCW;
    uint32_t mxcsr = FPU_DEFAULT_MXCSR;
    memcpy(area, &fcw, sizeof(fcw));
    memcpy(area + 24, &mxcsr, sizeof(mxcsr));
}

/* The XSAVE halves of user_fpu_save and _restore (has_xsave), inline also in
 * the switch (switch_between), which tests has_xsave once for both. */
static inline __attribute__((always_inline)) void xsave_save(void *fpu)
{
    uint32_t low = (uint32_t)xcr0, high = (uint32_t)(xcr0 >> 32);
    if (has_xsaveopt)
        __asm__ volatile("xsaveopt64 (%0)" : : "r"(fpu), "a"(low), "d"(high) : "memory");
    else
        __asm__ volatile("xsave64 (%0)" : : "r"(fpu), "a"(low), "d"(high) : "memory");
}

static inline __attribute__((always_inline)) void xsave_restore(const void *fpu)
{
    uint32_t low = (uint32_t)xcr0, high = (uint32_t)(xcr0 >> 32);
    __asm__ volatile("xrstor64 (%0)" : : "r"(fpu), "a"(low), "d"(high) : "memory");
}

/* xsaveopt implies xsave: one test settles a CPU without either (fxsave), and
 * XCR0 is read only for the instructions that take it. */
void user_fpu_save(void *fpu)
{
    if (!has_xsave)
        __asm__ volatile("fxsave64 (%0)" : : "r"(fpu) : "memory");
    else
        xsave_save(fpu);
}

void user_fpu_restore(const void *fpu)
{
    if (!has_xsave)
        __asm__ volatile("fxrstor64 (%0)" : : "r"(fpu) : "memory");
    else
        xsave_restore(fpu);
}

bool user_fpu_has_xsave(void)
{
    return has_xsave;
}

uint64_t user_fpu_xcr0(void)
{
    return xcr0;
}

uint32_t user_fpu_mxcsr_mask(void)
{
    return mxcsr_mask;
}

/* ---- switching ---------------------------------------------------------------- */

/* The ring-0 stacks and the work word of user thread next. */
static inline __attribute__((always_inline)) void load_user_stack(struct cpu_area *c,
                                                                  uintptr_t next_stack_top,
                                                                  const struct arch_user_state *next)
{
    c->kernel_rsp = next_stack_top;
    gdt_set_ring0_stack(c, next_stack_top);
    c->user_work = next->work;
}

/* The TLS bases of user thread next. */
static inline __attribute__((always_inline)) void load_user_tls(struct cpu_area *c,
                                                                struct arch_user_state *next)
{
    if (c->fs_base != next->fs_base) {
        wrmsr(MSR_FS_BASE, next->fs_base);
        c->fs_base = next->fs_base;
    }
    if (c->user_gs_base != next->gs_base) {
        wrmsr(MSR_KERNEL_GS_BASE, next->gs_base); /* swapgs makes it the user's */
        c->user_gs_base = next->gs_base;
    }
}

/* arch_user_switch_between's work but a tagged load of the space (PCID on),
 * which it leaves to its caller: true when one is needed. The stacks first:
 * their arguments are then dead before the FPU and MSR instructions, which take
 * rax, rcx and rdx (no register moves). */
static inline __attribute__((always_inline, warn_unused_result)) bool
switch_between(struct cpu_area *c, struct arch_user_state *prev, struct arch_user_state *next,
               uintptr_t next_stack_top, uint64_t root_phys, struct arch_space_tlb *space)
{
    load_user_stack(c, next_stack_top, next);
    if (!has_xsave) { /* one test for both (user_fpu_save and _restore test it each) */
        __asm__ volatile("fxsave64 (%0)" : : "r"(prev->fpu) : "memory");
        __asm__ volatile("fxrstor64 (%0)" : : "r"(next->fpu) : "memory");
    } else {
        xsave_save(prev->fpu);
        xsave_restore(next->fpu);
    }
    c->user_state = next;
    load_user_tls(c, next);
    return pcid_space_switch_untagged(c->index, c->pcid, root_phys, space);
}

void arch_user_switch_between(struct arch_user_state *prev, struct arch_user_state *next,
                              uintptr_t next_stack_top, uint64_t root_phys,
                              struct arch_space_tlb *space)
{
    struct cpu_area *c = this_cpu_area();
    if (switch_between(c, prev, next, next_stack_top, root_phys, space))
        pcid_load_tagged(c->pcid, root_phys, space->id);
}

/* arch_user_switch_return's way out when the space is loaded tagged (PCID on),
 * jumped to, so that arch_user_switch_return makes no call (and so needs no
 * frame): the load, then the way out. */
__attribute__((noreturn, used)) void user_switch_return_tagged(uint64_t root_phys,
                                                               struct arch_space_tlb *space);
void user_switch_return_tagged(uint64_t root_phys, struct arch_space_tlb *space)
{
    pcid_load_tagged(this_cpu_area()->pcid, root_phys, space->id);
    __asm__ volatile("jmp arch_syscall_switch_return" : : : "memory");
    __builtin_unreachable();
}

/* Nothing is live after the switch (released waits in the CPU's area, the frame
 * is found again from the ring-0 stack just loaded), and every way out is a
 * jump (arch_syscall_switch_return never returns): so the common path keeps no
 * register and needs no frame. */
void arch_user_switch_return(struct arch_user_state *prev, struct arch_user_state *next,
                             uintptr_t next_stack_top, bool *released, uint64_t root_phys,
                             struct arch_space_tlb *space)
{
    struct cpu_area *c = this_cpu_area();
    c->switch_released = released;
    if (switch_between(c, prev, next, next_stack_top, root_phys, space))
        /* Its arguments through the stack, wherever the compiler keeps them,
         * so that this rare branch puts no constraint on the common one. */
        __asm__ volatile("push %0\n\tpush %1\n\tpop %%rsi\n\tpop %%rdi\n\t"
                         "jmp user_switch_return_tagged"
                         :
                         : "r"(root_phys), "r"(space)
                         : "memory");
    __asm__ volatile("jmp arch_syscall_switch_return" : : : "memory");
    __builtin_unreachable();
}

void arch_user_switch(struct arch_user_state *prev, struct arch_user_state *next,
                      uintptr_t next_stack_top, uint64_t root_phys, struct arch_space_tlb *space)
{
    struct cpu_area *c = this_cpu_area();
    if (prev)
        user_fpu_save(prev->fpu);
    c->user_state = next;
    if (next) {
        user_fpu_restore(next->fpu);
        load_user_tls(c, next);
        load_user_stack(c, next_stack_top, next);
    } else {
        c->user_work = &no_work;
    }
    /* Last: its rare branch (PCID) is a call, which then holds no value of ours. */
    if (space)
        pcid_space_switch(c->index, c->pcid, root_phys, space);
}

void arch_user_copy_current(const struct arch_user_state *current, struct arch_user_state *copy)
{
    bool irq = arch_irq_save_disable();
    user_fpu_save(copy->fpu);
    arch_irq_restore(irq);
    copy->fs_base = current->fs_base;
    copy->gs_base = current->gs_base;
}

void arch_user_reset_current(struct arch_user_state *state)
{
    arch_fpu_state_init(state->fpu);
    bool irq = arch_irq_save_disable();
    user_fpu_restore(state->fpu);
    arch_irq_restore(irq);
    arch_user_set_fs(state, 0);
    arch_user_set_gs(state, 0);
}

void arch_user_set_fs(struct arch_user_state *state, uint64_t base)
{
    bool irq = arch_irq_save_disable();
    state->fs_base = base;
    wrmsr(MSR_FS_BASE, base);
    this_cpu_area()->fs_base = base;
    arch_irq_restore(irq);
}

void arch_user_set_gs(struct arch_user_state *state, uint64_t base)
{
    bool irq = arch_irq_save_disable();
    state->gs_base = base;
    wrmsr(MSR_KERNEL_GS_BASE, base);
    this_cpu_area()->user_gs_base = base;
    arch_irq_restore(irq);
}

/* ---- faults and the way back ---------------------------------------------------- */

/* The signal and si_code of a ring-3 exception, as Linux's traps.c gives them. */
static int signal_of(unsigned vector, int *code)
{
    *code = ARCH_SI_KERNEL;
    switch (vector) {
    case 0: *code = ARCH_FPE_INTDIV; return ARCH_SIGFPE; /* #DE */
    case 16: case 19: return ARCH_SIGFPE;                /* #MF #XM */
    case 1: case 3: return ARCH_SIGTRAP;                 /* #DB #BP */
    case 6: *code = ARCH_ILL_ILLOPN; return ARCH_SIGILL; /* #UD */
    case 17: *code = ARCH_BUS_ADRALN; return ARCH_SIGBUS; /* #AC */
    case 11: case 12: return ARCH_SIGBUS;                /* #NP #SS */
    default: return ARCH_SIGSEGV;                        /* #GP and the rest */
    }
}

void user_exception(struct interrupt_frame *frame)
{
    struct arch_regs *regs = (struct arch_regs *)frame;
    unsigned vector = (unsigned)frame->vector;
    int code;
    int signal = signal_of(vector, &code);
    /* #DE, #UD: the faulting instruction's address (Linux's si_addr); the
     * other traps report none. */
    uint64_t addr = vector == 0 || vector == 6 ? frame->rip : 0;
    if (vector == VECTOR_PAGE_FAULT) {
        addr = read_cr2();
        bool write = (frame->error_code & PF_ERROR_WRITE) != 0;
        bool exec = (frame->error_code & PF_ERROR_FETCH) != 0;
        if (addr < ARCH_USER_ADDR_END && hooks.page_fault && hooks.page_fault(addr, write, exec))
            return; /* a page now; the instruction runs again */
        code = addr < ARCH_USER_ADDR_END && hooks.is_mapped && hooks.is_mapped(addr)
                   ? ARCH_SEGV_ACCERR
                   : ARCH_SEGV_MAPERR;
        if (addr < ARCH_USER_ADDR_END && hooks.is_bus_error && hooks.is_bus_error(addr)) {
            signal = ARCH_SIGBUS;
            code = ARCH_BUS_ADRERR;
        }
    }
    struct arch_user_state *state = this_cpu_area()->user_state;
    if (state) {
        state->fault_trapno = vector;
        state->fault_error = frame->error_code;
        state->fault_addr = vector == VECTOR_PAGE_FAULT ? addr : 0;
    }
    if (hooks.fault)
        hooks.fault(regs, signal, code, addr);
}

void arch_user_return_slow(struct arch_regs *regs);
void arch_user_return_slow(struct arch_regs *regs)
{
    for (;;) {
        if (__atomic_load_n(this_cpu_area()->user_work, __ATOMIC_ACQUIRE) && hooks.return_work) {
            hooks.return_work(regs); /* may deliver a signal: rip changes */
            continue;
        }
        if (regs->rip >= ARCH_USER_ADDR_END) {
            /* SYSRET or IRETQ there would fault in ring 0: it is the program's
             * general-protection fault, as on Linux, with that rip in its
             * context. The hook kills, or queues SIGSEGV for the work above. */
            if (hooks.fault)
                hooks.fault(regs, ARCH_SIGSEGV, ARCH_SI_KERNEL, 0);
            continue;
        }
        return;
    }
}

void user_return_check(struct interrupt_frame *frame)
{
    if (__atomic_load_n(this_cpu_area()->user_work, __ATOMIC_ACQUIRE) ||
        frame->rip >= ARCH_USER_ADDR_END)
        arch_user_return_slow((struct arch_regs *)frame);
}

struct ex_entry {
    uint64_t insn, fixup;
};
extern const struct ex_entry __start_ex_table[], __stop_ex_table[];

bool uaccess_fixup(struct interrupt_frame *frame)
{
    const struct ex_entry *e = __start_ex_table;
    while (e < __stop_ex_table && e->insn != frame->rip)
        e++;
    if (e == __stop_ex_table)
        return false;
    uint64_t addr = read_cr2();
    bool write = (frame->error_code & PF_ERROR_WRITE) != 0;
    /* Not present: perhaps a page not populated yet. A protection fault (SMAP
     * off, a read-only page) cannot be paged in. */
    if (addr < ARCH_USER_ADDR_END && hooks.page_fault && hooks.page_fault(addr, write, false))
        return true;
    frame->rip = e->fixup;
    return true;
}

/* ---- randomness ------------------------------------------------------------------ */

static bool rdseed64(uint64_t *out)
{
    bool ok;
    __asm__ volatile("rdseed %0; setc %1" : "=r"(*out), "=qm"(ok) : : "cc");
    return ok;
}

static bool rdrand64(uint64_t *out)
{
    bool ok;
    __asm__ volatile("rdrand %0; setc %1" : "=r"(*out), "=qm"(ok) : : "cc");
    return ok;
}

uint64_t arch_random_u64(void)
{
    uint64_t value = 0, tsc = arch_read_timestamp();
    for (int i = 0; i < 10; i++) {
        if ((has_rdseed && rdseed64(&value)) || (has_rdrand && rdrand64(&value)))
            break;
    }
    /* splitmix64's finaliser over the mix, so even the TSC alone looks random. */
    uint64_t z = value ^ (tsc * 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t arch_user_hwcap(void)
{
    uint32_t eax, ebx, ecx, edx;
    cpuid(1, 0, &eax, &ebx, &ecx, &edx);
    return edx;
}
