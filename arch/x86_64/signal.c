/*
 * Signal frames on x86_64 (include/arch/signal.h): Linux's struct rt_sigframe,
 * laid out as arch/x86/kernel/signal.c does, from the top of the stack down:
 *
 *     [red zone: 128 bytes below the interrupted rsp, left alone]
 *     FPU area, 64-byte aligned: the XSAVE image (+ FP_XSTATE_MAGIC2, 4 bytes)
 *         or the FXSAVE one; sigcontext.fpstate points here
 *     struct rt_sigframe:  pretcode (sa_restorer; the handler's return address)
 *                          ucontext: flags, link, uc_stack, sigcontext, sigmask
 *                          siginfo
 *     rsp at handler entry = &pretcode, with (rsp + 8) 16-byte aligned, as after
 *     a call.
 *
 * The handler's `ret` pops pretcode and the restorer calls rt_sigreturn with rsp
 * just above it: arch_signal_pop finds the frame at rsp - 8.
 */
#include "arch/signal.h"

#include <stddef.h>

#include "arch/irq.h"
#include "arch/uaccess.h"
#include "gdt.h"
#include "lib/errno.h"
#include "lib/string.h"
#include "mm/heap.h"
#include "user_entry.h"

#define RED_ZONE_BYTES 128
#define FPU_FRAME_ALIGN 64
#define FXSAVE_BYTES 512
#define XSAVE_HEADER_BYTES 64
#define FP_XSTATE_MAGIC1 0x46505853u
#define FP_XSTATE_MAGIC2 0x46505845u
#define SW_BYTES_OFFSET 464 /* struct _fpx_sw_bytes in FXSAVE's software-reserved bytes */
#define MXCSR_OFFSET 24
#define UC_FP_XSTATE 0x1
#define UC_SIGCONTEXT_SS 0x2
#define USER_CS (GDT_USER_CODE | 3)
#define USER_SS (GDT_USER_DATA | 3)
#define VECTOR_NOT_SYSCALL 0x101 /* a user frame no restart may touch */

/* RFLAGS bits a program may change through sigreturn (Linux's FIX_EFLAGS):
 * AC OF DF TF SF ZF AF PF CF and RF. IF, IOPL, NT, VM and the rest stay. */
#define FLAGS_USER_CHANGEABLE                                                             \
    ((1u << 18) | (1u << 11) | (1u << 10) | (1u << 8) | (1u << 7) | (1u << 6) | (1u << 4) | \
     (1u << 2) | (1u << 0) | (1u << 16))
#define FLAGS_CLEARED_FOR_HANDLER ((1u << 10) | (1u << 8) | (1u << 16)) /* DF TF RF */

/* Linux's struct sigcontext (64-bit), 256 bytes. */
struct sigcontext_user {
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
    uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
    uint16_t cs, gs, fs, ss;
    uint64_t err, trapno, oldmask, cr2;
    uint64_t fpstate;
    uint64_t reserved1[8];
};
_Static_assert(sizeof(struct sigcontext_user) == 256, "Linux sigcontext");
_Static_assert(offsetof(struct sigcontext_user, rip) == 128, "REG_RIP 16");

struct ucontext_user {
    uint64_t flags;
    uint64_t link;
    struct arch_stack stack;
    struct sigcontext_user mcontext;
    uint64_t sigmask;
};
_Static_assert(sizeof(struct ucontext_user) == 304, "Linux ucontext (kernel sigset)");

struct rt_sigframe_user {
    uint64_t pretcode;
    struct ucontext_user uc;
    struct arch_siginfo info;
};
_Static_assert(sizeof(struct arch_siginfo) == 128, "Linux siginfo_t");
_Static_assert(offsetof(struct rt_sigframe_user, info) == 312, "Linux rt_sigframe");

/* Linux's struct _fpx_sw_bytes: says the area is an XSAVE image and how big. */
struct fpx_sw_bytes {
    uint32_t magic1, extended_size;
    uint64_t xfeatures;
    uint32_t xstate_size;
    uint32_t padding[7];
};
_Static_assert(sizeof(struct fpx_sw_bytes) == 48, "Linux _fpx_sw_bytes");

static size_t fpu_frame_bytes(void)
{
    return user_fpu_has_xsave() ? arch_fpu_state_bytes() + sizeof(uint32_t) : FXSAVE_BYTES;
}

static void save_context(struct sigcontext_user *sc, const struct arch_regs *r,
                         const struct arch_user_state *state)
{
    *sc = (struct sigcontext_user){
        .r8 = r->r8, .r9 = r->r9, .r10 = r->r10, .r11 = r->r11,
        .r12 = r->r12, .r13 = r->r13, .r14 = r->r14, .r15 = r->r15,
        .rdi = r->rdi, .rsi = r->rsi, .rbp = r->rbp, .rbx = r->rbx,
        .rdx = r->rdx, .rax = r->rax, .rcx = r->rcx, .rsp = r->rsp,
        .rip = r->rip, .eflags = r->rflags,
        .cs = (uint16_t)r->cs, .ss = (uint16_t)r->ss,
        .err = state->fault_error, .trapno = state->fault_trapno, .cr2 = state->fault_addr,
    };
}

/* The live FPU state into the user's area at fp (64-byte aligned), with the
 * software bytes and trailing magic that mark an XSAVE image. */
static int write_fpu(uintptr_t fp, struct arch_user_state *state)
{
    user_fpu_save(state->fpu);
    size_t bytes = arch_fpu_state_bytes();
    if (!user_fpu_has_xsave())
        return copy_to_user(fp, state->fpu, FXSAVE_BYTES);
    struct fpx_sw_bytes sw = {
        .magic1 = FP_XSTATE_MAGIC1,
        .extended_size = (uint32_t)(bytes + sizeof(uint32_t)),
        .xfeatures = user_fpu_xcr0(),
        .xstate_size = (uint32_t)bytes,
    };
    uint32_t magic2 = FP_XSTATE_MAGIC2;
    if (copy_to_user(fp, state->fpu, bytes) ||
        copy_to_user(fp + SW_BYTES_OFFSET, &sw, sizeof(sw)) ||
        copy_to_user(fp + bytes, &magic2, sizeof(magic2)))
        return -EFAULT;
    return 0;
}

int arch_signal_push(struct arch_regs *regs, struct arch_user_state *state,
                     const struct arch_signal_frame *f)
{
    uint64_t top = f->stack_top ? f->stack_top : regs->rsp - RED_ZONE_BYTES;
    uint64_t fp = (top - fpu_frame_bytes()) & ~(uint64_t)(FPU_FRAME_ALIGN - 1);
    uint64_t at = ((fp - sizeof(struct rt_sigframe_user)) & ~(uint64_t)15) - 8;
    if (top > ARCH_USER_ADDR_END || at >= top)
        return -EFAULT;
    struct rt_sigframe_user frame = {
        .pretcode = f->restorer,
        .uc = {
            .flags = (user_fpu_has_xsave() ? UC_FP_XSTATE : 0) | UC_SIGCONTEXT_SS,
            .stack = f->altstack,
            .sigmask = f->saved_mask,
        },
        .info = *f->info,
    };
    save_context(&frame.uc.mcontext, regs, state);
    frame.uc.mcontext.fpstate = fp;
    frame.uc.mcontext.oldmask = f->saved_mask;
    bool irq = arch_irq_save_disable();
    int error = write_fpu(fp, state);
    if (!error)
        error = copy_to_user(at, &frame, sizeof(frame));
    if (!error) {
        arch_fpu_state_init(state->fpu);
        user_fpu_restore(state->fpu);
    }
    arch_irq_restore(irq);
    if (error)
        return -EFAULT;
    regs->rip = f->handler;
    regs->rsp = at;
    regs->rdi = (uint64_t)f->signo;
    regs->rsi = at + offsetof(struct rt_sigframe_user, info);
    regs->rdx = at + offsetof(struct rt_sigframe_user, uc);
    regs->rax = 0;
    regs->rflags &= ~(uint64_t)FLAGS_CLEARED_FOR_HANDLER;
    regs->cs = USER_CS;
    regs->ss = USER_SS;
    return 0;
}

/* Makes a user-supplied FPU image one XRSTOR/FXRSTOR accepts, keeping what it
 * says: MXCSR cut to the supported bits; for XSAVE, only enabled components,
 * the standard (non-compacted) format and a zero header otherwise. An image
 * without the XSAVE markers is taken as FXSAVE's: x87 and SSE from it, every
 * other component in its initial state. */
static void sanitize_fpu(uint8_t *area, bool xsave_image)
{
    uint32_t mxcsr;
    memcpy(&mxcsr, area + MXCSR_OFFSET, sizeof(mxcsr));
    mxcsr &= user_fpu_mxcsr_mask();
    memcpy(area + MXCSR_OFFSET, &mxcsr, sizeof(mxcsr));
    memset(area + SW_BYTES_OFFSET, 0, FXSAVE_BYTES - SW_BYTES_OFFSET);
    if (!user_fpu_has_xsave())
        return;
    uint64_t xstate_bv = 3; /* x87 | SSE: what an FXSAVE image holds */
    if (xsave_image)
        memcpy(&xstate_bv, area + FXSAVE_BYTES, sizeof(xstate_bv));
    xstate_bv &= user_fpu_xcr0();
    memset(area + FXSAVE_BYTES, 0, XSAVE_HEADER_BYTES);
    memcpy(area + FXSAVE_BYTES, &xstate_bv, sizeof(xstate_bv));
}

/* Reads the FPU image at fp into a kernel copy, sanitises it and loads it as
 * the thread's live state. */
static int read_fpu(uint64_t fp, struct arch_user_state *state)
{
    size_t bytes = arch_fpu_state_bytes();
    uint8_t *block = kmalloc(bytes + FPU_FRAME_ALIGN);
    if (!block)
        return -ENOMEM;
    uint8_t *area = (uint8_t *)(((uintptr_t)block + FPU_FRAME_ALIGN - 1) &
                                ~(uintptr_t)(FPU_FRAME_ALIGN - 1));
    memset(area, 0, bytes);
    struct fpx_sw_bytes sw;
    uint32_t magic2 = 0;
    int error = copy_from_user(area, fp, FXSAVE_BYTES);
    if (!error)
        error = copy_from_user(&sw, fp + SW_BYTES_OFFSET, sizeof(sw));
    bool xsave_image = !error && user_fpu_has_xsave() && sw.magic1 == FP_XSTATE_MAGIC1 &&
                       sw.xstate_size == bytes && !copy_from_user(&magic2, fp + bytes, 4) &&
                       magic2 == FP_XSTATE_MAGIC2;
    if (xsave_image)
        error = copy_from_user(area + FXSAVE_BYTES, fp + FXSAVE_BYTES, bytes - FXSAVE_BYTES);
    if (!error) {
        sanitize_fpu(area, xsave_image);
        bool irq = arch_irq_save_disable();
        memcpy(state->fpu, area, bytes);
        user_fpu_restore(state->fpu);
        arch_irq_restore(irq);
    }
    kfree(block);
    return error;
}

int arch_signal_pop(struct arch_regs *regs, struct arch_user_state *state, uint64_t *mask,
                    struct arch_stack *altstack)
{
    uint64_t at = regs->rsp - 8;
    struct ucontext_user uc;
    if (copy_from_user(&uc, at + offsetof(struct rt_sigframe_user, uc), sizeof(uc)))
        return -EFAULT;
    const struct sigcontext_user *sc = &uc.mcontext;
    if ((sc->cs | 3) != USER_CS)
        return -EINVAL;
    if (sc->fpstate) {
        int error = read_fpu(sc->fpstate, state);
        if (error)
            return error;
    } else {
        /* No FPU image: Linux then resets the FPU to its initial state. */
        bool irq = arch_irq_save_disable();
        arch_fpu_state_init(state->fpu);
        user_fpu_restore(state->fpu);
        arch_irq_restore(irq);
    }
    *regs = (struct arch_regs){
        .r15 = sc->r15, .r14 = sc->r14, .r13 = sc->r13, .r12 = sc->r12,
        .r11 = sc->r11, .r10 = sc->r10, .r9 = sc->r9, .r8 = sc->r8,
        .rbp = sc->rbp, .rdi = sc->rdi, .rsi = sc->rsi, .rdx = sc->rdx,
        .rcx = sc->rcx, .rbx = sc->rbx, .rax = sc->rax,
        .vector = VECTOR_NOT_SYSCALL,
        .rip = sc->rip, .cs = USER_CS,
        .rflags = (regs->rflags & ~(uint64_t)FLAGS_USER_CHANGEABLE) |
                  (sc->eflags & FLAGS_USER_CHANGEABLE),
        .rsp = sc->rsp, .ss = USER_SS,
    };
    *mask = uc.sigmask;
    *altstack = uc.stack;
    return 0;
}

bool arch_regs_in_syscall(const struct arch_regs *regs)
{
    return regs->vector == ARCH_VECTOR_SYSCALL;
}

long arch_regs_syscall_result(const struct arch_regs *regs)
{
    return (long)regs->rax;
}

void arch_regs_set_syscall_result(struct arch_regs *regs, long value)
{
    regs->rax = (uint64_t)value;
}

void arch_regs_syscall_restart(struct arch_regs *regs)
{
    regs->rax = regs->error_code; /* the number as called */
    regs->rip -= 2;               /* the SYSCALL instruction: 0f 05 */
    regs->rcx = regs->rip;        /* as SYSCALL will set it again */
}

void arch_regs_forget_syscall(struct arch_regs *regs)
{
    regs->vector = VECTOR_NOT_SYSCALL;
}
