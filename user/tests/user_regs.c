/*
 * user_regs: register hygiene at the user/kernel boundary, in the style of
 * Linux's kselftests check_initial_reg_state, sysret_rip and sigreturn.
 *
 *  - At execve entry (see user_regs.S, which owns _start): all general
 *    registers but rsp are zero, rflags is 0x202, rsp is 16-byte aligned,
 *    MXCSR 0x1f80, FCW 0x37f, xmm0-15 zero, and the auxv describes the image.
 *  - Across a syscall only rax, rcx (= return address) and r11 (= rflags)
 *    change; vector registers survive too.
 *  - A syscall whose return address is the first byte past the last mapped
 *    page, and a sigreturn to a non-canonical rip, end in a SIGSEGV at that
 *    address, never in a SYSRET to a non-canonical address.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "ktap.h"

/* Filled by _start; the offsets are used by user_regs.S. */
struct entry_state {
	uint64_t gpr[15]; /* rax rbx rcx rdx rsi rdi rbp r8 r9 r10 r11 r12 r13 r14 r15 */
	uint64_t rsp, rflags;
	uint64_t cs, ss, ds, es, fs, gs;
	uint32_t mxcsr;
	uint16_t fcw;
	uint16_t pad;
	uint8_t xmm[16][16];
	uint16_t fsw;
} __attribute__((packed));

_Static_assert(offsetof(struct entry_state, rsp) == 120, "rsp");
_Static_assert(offsetof(struct entry_state, cs) == 136, "cs");
_Static_assert(offsetof(struct entry_state, mxcsr) == 184, "mxcsr");
_Static_assert(offsetof(struct entry_state, fcw) == 188, "fcw");
_Static_assert(offsetof(struct entry_state, xmm) == 192, "xmm");
_Static_assert(offsetof(struct entry_state, fsw) == 448, "fsw");

struct entry_state entry_state;
extern char _start[];
extern char syscall_probe_return[];
void syscall_probe(uint64_t out[17], long nr);

static const char *const gpr_names[15] = { "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8",
					   "r9",  "r10", "r11", "r12", "r13", "r14", "r15" };

static void gprs_zero_at_entry(void)
{
	for (int i = 0; i < 15; i++)
		if (entry_state.gpr[i] != 0)
			ktap_fail_at(__FILE__, __LINE__, "%s at entry: %#llx, expected 0", gpr_names[i],
				     (unsigned long long)entry_state.gpr[i]);
	EXPECT_EQ(entry_state.rsp % 16, 0);
}

static void rflags_at_entry(void)
{
	/* IF and the always-one bit 1; TF may be set under a debugger only. */
	EXPECT_EQ(entry_state.rflags & ~0x100UL, 0x202);
}

static void segments_at_entry(void)
{
	EXPECT_EQ(entry_state.cs & 3, 3);
	EXPECT_EQ(entry_state.ss & 3, 3);
	EXPECT_EQ(entry_state.fs, 0);
	EXPECT_EQ(entry_state.gs, 0);
	EXPECT_TRUE(entry_state.ds == 0 || entry_state.ds == entry_state.ss);
	EXPECT_TRUE(entry_state.es == 0 || entry_state.es == entry_state.ss);
	ktap_diag("cs %#llx ss %#llx ds %#llx es %#llx", (unsigned long long)entry_state.cs,
		  (unsigned long long)entry_state.ss, (unsigned long long)entry_state.ds,
		  (unsigned long long)entry_state.es);
}

static void fpu_default_at_entry(void)
{
	EXPECT_EQ(entry_state.mxcsr, 0x1f80);
	EXPECT_EQ(entry_state.fcw, 0x37f);
	EXPECT_EQ(entry_state.fsw, 0);
	for (int i = 0; i < 16; i++)
		for (int j = 0; j < 16; j++)
			if (entry_state.xmm[i][j]) {
				ktap_fail_at(__FILE__, __LINE__, "xmm%d not zero at entry", i);
				break;
			}
}

static void auxv_describes_image(void)
{
	extern const Elf64_Ehdr __ehdr_start;
	const Elf64_Ehdr *eh = &__ehdr_start;

	EXPECT_EQ(getauxval(AT_PAGESZ), 4096);
	EXPECT_EQ(getauxval(AT_ENTRY), (uintptr_t)_start);
	EXPECT_EQ(getauxval(AT_PHDR), (uintptr_t)eh + eh->e_phoff);
	EXPECT_EQ(getauxval(AT_PHENT), sizeof(Elf64_Phdr));
	EXPECT_EQ(getauxval(AT_PHNUM), eh->e_phnum);
	EXPECT_EQ(getauxval(AT_SECURE), 0);
	const unsigned char *rnd = (const unsigned char *)getauxval(AT_RANDOM);
	if (EXPECT_TRUE(rnd != NULL)) {
		int nonzero = 0;
		for (int i = 0; i < 16; i++)
			nonzero |= rnd[i];
		EXPECT_TRUE(nonzero);
		EXPECT_TRUE((uintptr_t)rnd < 0x800000000000UL);
	}
	errno = 0;
	getauxval(AT_HWCAP);
	EXPECT_EQ(errno, 0);
}

static void syscall_preserves_other_registers(void)
{
	static const uint64_t pattern[15] = {
		0, 0x1111111111111111, 0, 0x3333333333333333, 0x4444444444444444,
		0x5555555555555555, 0x6666666666666666, 0x7777777777777777, 0x8888888888888888,
		0x9999999999999999, 0, 0xbbbbbbbbbbbbbbbb, 0xcccccccccccccccc, 0xdddddddddddddddd,
		0xeeeeeeeeeeeeeeee,
	};
	uint64_t out[17];
	long nrs[] = { SYS_getppid, SYS_getpid, SYS_sched_yield, 100000 /* ENOSYS path */ };

	for (size_t k = 0; k < sizeof(nrs) / sizeof(nrs[0]); k++) {
		memset(out, 0, sizeof(out));
		syscall_probe(out, nrs[k]);
		for (int i = 0; i < 15; i++) {
			if (i == 0 || i == 2 || i == 10)
				continue;
			if (out[i] != pattern[i])
				ktap_fail_at(__FILE__, __LINE__,
					     "syscall %ld changed %s: %#llx -> %#llx", nrs[k],
					     gpr_names[i], (unsigned long long)pattern[i],
					     (unsigned long long)out[i]);
		}
		EXPECT_EQ(out[2], (uintptr_t)syscall_probe_return);
		EXPECT_EQ(out[10], out[16] & ~0x10000UL);
		EXPECT_EQ(out[15], out[16]);
	}
	EXPECT_EQ((long)out[0], -ENOSYS);
}

static void syscall_preserves_vector_registers(void)
{
	uint8_t in[16][16], back[16][16];

	for (int i = 0; i < 16; i++)
		for (int j = 0; j < 16; j++)
			in[i][j] = (uint8_t)(i * 16 + j + 1);
	memset(back, 0, sizeof(back));
	uint32_t mxcsr_in = 0x3f80 | 0x8040, mxcsr_out = 0, mxcsr_saved;
	__asm__ volatile("stmxcsr %[saved]\n\t"
			 "ldmxcsr %[min]\n\t"
#define LD(n) "movdqu " #n "*16(%[in]), %%xmm" #n "\n\t"
			 LD(0) LD(1) LD(2) LD(3) LD(4) LD(5) LD(6) LD(7)
			 LD(8) LD(9) LD(10) LD(11) LD(12) LD(13) LD(14) LD(15)
			 "mov %[nr], %%eax\n\t"
			 "syscall\n\t"
#define ST(n) "movdqu %%xmm" #n ", " #n "*16(%[back])\n\t"
			 ST(0) ST(1) ST(2) ST(3) ST(4) ST(5) ST(6) ST(7)
			 ST(8) ST(9) ST(10) ST(11) ST(12) ST(13) ST(14) ST(15)
			 "stmxcsr %[mout]\n\t"
			 "ldmxcsr %[saved]"
			 : [mout] "=m"(mxcsr_out), [saved] "=m"(mxcsr_saved)
			 : [in] "r"(in), [back] "r"(back), [min] "m"(mxcsr_in), [nr] "i"(SYS_getppid)
			 : "rax", "rcx", "r11", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",
			   "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
			   "xmm15");
	for (int i = 0; i < 16; i++)
		if (memcmp(in[i], back[i], 16) != 0)
			ktap_fail_at(__FILE__, __LINE__, "xmm%d changed across getppid", i);
	EXPECT_EQ(mxcsr_out, mxcsr_in);
}

static volatile uintptr_t expected_rip;

static void segv_rip_handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	(void)sig;
	(void)si;
	_exit(uc->uc_mcontext.gregs[REG_RIP] == (greg_t)expected_rip ? 0 : 1);
}

static void on_segv_check_rip(void)
{
	static char altstack[32768];
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	struct sigaction sa;

	sigaltstack(&ss, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = segv_rip_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigaction(SIGSEGV, &sa, NULL);
}

/* Child: map the page at `page`, put `syscall` in its last two bytes, run it. */
static int syscall_at_page_end(void *arg)
{
	uintptr_t page = (uintptr_t)arg;
	char *p = mmap((void *)page, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED || (uintptr_t)p != page)
		return 77;
	p[4094] = 0x0f;
	p[4095] = 0x05;
	if (mprotect(p, 4096, PROT_READ | PROT_EXEC) != 0)
		return 78;
	expected_rip = page + 4096;
	on_segv_check_rip();
	__asm__ volatile("mov %0, %%eax\n\tjmp *%1" : : "i"(SYS_getppid), "r"(p + 4094) : "rax");
	return 2;
}

static void syscall_in_last_bytes_below_user_top(void)
{
	int status = ktap_run_child(syscall_at_page_end, (void *)0x7fffffffe000UL);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		ktap_skip("page 0x7fffffffe000 is taken (stack?)");
		return;
	}
	EXPECT_EXITED(status, 0);
}

/* The return address would be 0x800000000000: non-canonical, SYSRET unsafe. */
static void syscall_returning_to_noncanonical(void)
{
	int status = ktap_run_child(syscall_at_page_end, (void *)0x7ffffffff000UL);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		ktap_skip("host limit: the page below 0x800000000000 cannot be mapped (Linux TASK_SIZE)");
		return;
	}
	EXPECT_EXITED(status, 0);
}

static void set_noncanonical_rip(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	(void)sig;
	(void)si;
	uc->uc_mcontext.gregs[REG_RIP] = (greg_t)expected_rip;
}

static int sigreturn_to_rip_child(void *arg)
{
	struct sigaction sa;

	expected_rip = (uintptr_t)arg;
	on_segv_check_rip();
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = set_noncanonical_rip;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR1, &sa, NULL);
	raise(SIGUSR1);
	return 3;
}

static void sigreturn_to_noncanonical_rip(void)
{
	static const uintptr_t rips[] = { 0x800000000000UL, 0x8000000000000000UL,
					  0xffff7fffffffffffUL, 0x7ffffffff000UL };
	for (size_t i = 0; i < sizeof(rips) / sizeof(rips[0]); i++) {
		int status = ktap_run_child(sigreturn_to_rip_child, (void *)rips[i]);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			/* Linux may report the fault with the rip it could not return to
			 * or kill outright; anything but a SIGSEGV is wrong. */
			if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV))
				ktap_fail_at(__FILE__, __LINE__, "sigreturn to rip %#lx: %s",
					     (unsigned long)rips[i], ktap_status_str(status));
			else
				ktap_diag("sigreturn to rip %#lx: %s", (unsigned long)rips[i],
					  ktap_status_str(status));
		}
	}
}

static const struct ktap_case cases[] = {
	KTAP_CASE(gprs_zero_at_entry),
	KTAP_CASE(rflags_at_entry),
	KTAP_CASE(segments_at_entry),
	KTAP_CASE(fpu_default_at_entry),
	KTAP_CASE(auxv_describes_image),
	KTAP_CASE(syscall_preserves_other_registers),
	KTAP_CASE(syscall_preserves_vector_registers),
	KTAP_CASE(syscall_in_last_bytes_below_user_top),
	KTAP_CASE(syscall_returning_to_noncanonical),
	KTAP_CASE(sigreturn_to_noncanonical_rip),
};

int main(int argc, char **argv)
{
	return ktap_main(argc, argv, cases, KTAP_NCASES(cases));
}
