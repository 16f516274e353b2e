/*
 * user_faults: a process that faults dies by the right signal, with the right
 * siginfo, and nothing else is hurt. Each case runs the faulting code twice
 * in forked children: once with no handler (the wait status must say killed
 * by the signal) and once with an SA_SIGINFO handler on an alternate stack
 * that reports si_signo, si_code and si_addr through a pipe.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fixture.h"
#include "ktap.h"

#define ANY_ADDR ((uintptr_t)1)
#define NO_CODE INT_MIN

struct fault_report {
	int signo, code;
	uintptr_t addr;
};

static int report_fd = -1;
static volatile uintptr_t expected_addr;

static void report_handler(int sig, siginfo_t *si, void *uc)
{
	struct fault_report r = { sig, si->si_code, (uintptr_t)si->si_addr };
	(void)uc;
	write(report_fd, &r, sizeof(r));
	_exit(0);
}

static void catch_on_altstack(int sig)
{
	static char altstack[64 * 1024];
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	struct sigaction sa;

	sigaltstack(&ss, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = report_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigaction(sig, &sa, NULL);
}

/*
 * Runs fault() in two children; checks the death by sig and the siginfo.
 * want_addr: the exact si_addr, or ANY_ADDR to not check it.
 */
static void expect_fault(void (*fault)(void), int sig, int want_code, uintptr_t want_addr)
{
	int p[2];
	int status = 0;

	pid_t pid = fork();
	if (pid == 0) {
		fault();
		_exit(99);
	}
	waitpid(pid, &status, 0);
	EXPECT_KILLED_BY(status, sig);

	if (pipe(p) != 0)
		return;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		report_fd = p[1];
		catch_on_altstack(sig);
		fault();
		_exit(99);
	}
	close(p[1]);
	struct fault_report r = { 0, 0, 0 };
	ssize_t n = read(p[0], &r, sizeof(r));
	close(p[0]);
	waitpid(pid, &status, 0);
	if (!EXPECT_EQ(n, (long)sizeof(r))) {
		ktap_diag("handler child: %s, no report", ktap_status_str(status));
		return;
	}
	EXPECT_EQ(r.signo, sig);
	if (want_code != NO_CODE)
		EXPECT_EQ(r.code, want_code);
	if (want_addr != ANY_ADDR)
		EXPECT_EQ(r.addr, want_addr);
}

extern char ud2_site[], div_site[], idiv_site[];

static void f_null_read(void)
{
	(void)*(volatile int *)0;
}

static void f_null_write(void)
{
	*(volatile int *)0 = 1;
}

static void f_null_call(void)
{
	((void (*)(void))0)();
}

static void f_write_text(void)
{
	*(volatile char *)(void *)f_null_read = 0;
}

static const char rodata_string[] = "constant";

static void f_write_rodata(void)
{
	*(volatile char *)rodata_string = 'x';
}

static void f_exec_stack(void)
{
	volatile unsigned char code[16] = { 0xc3 };
	expected_addr = (uintptr_t)code;
	((void (*)(void))(uintptr_t)code)();
}

static unsigned char *heap_code;

static void f_exec_heap(void)
{
	((void (*)(void))heap_code)();
}

static unsigned char *rw_page;

static void f_exec_rw_mapping(void)
{
	((void (*)(void))rw_page)();
}

static void *none_page;

static void f_read_prot_none(void)
{
	(void)*(volatile char *)none_page;
}

static void f_read_kernel(void)
{
	(void)*(volatile long *)0xffff800000000000UL;
}

static void f_read_kernel_text(void)
{
	(void)*(volatile long *)0xffffffff80000000UL;
}

static void f_read_noncanonical(void)
{
	(void)*(volatile long *)0x0000800000000000UL;
}

static void f_jump_noncanonical(void)
{
	((void (*)(void))0x8000000000000000UL)();
}

static void f_cli(void)
{
	__asm__ volatile("cli");
}

static void f_hlt(void)
{
	__asm__ volatile("hlt");
}

static void f_rdmsr(void)
{
	__asm__ volatile("rdmsr" : : "c"(0x10) : "rax", "rdx");
}

static void f_wrmsr(void)
{
	__asm__ volatile("wrmsr" : : "c"(0xc0000080), "a"(0), "d"(0));
}

static void f_in(void)
{
	__asm__ volatile("inb $0x80, %%al" : : : "rax");
}

static void f_out(void)
{
	__asm__ volatile("outb %%al, $0x80" : : "a"(0));
}

static void f_lgdt(void)
{
	static char desc[10];
	__asm__ volatile("lgdt %0" : : "m"(desc));
}

static void f_mov_cr3(void)
{
	__asm__ volatile("mov %%cr3, %%rax" : : : "rax");
}

static void f_int_0x81(void)
{
	__asm__ volatile("int $0x81");
}

static void f_int3(void)
{
	__asm__ volatile("int3");
}

static void f_ud2(void)
{
	__asm__ volatile(".globl ud2_site\nud2_site: ud2");
}

static void f_div_zero(void)
{
	__asm__ volatile(".globl div_site\n\txor %%edx, %%edx\n\tmov $1, %%eax\n\t"
			 "xor %%ecx, %%ecx\ndiv_site: divl %%ecx"
			 :
			 :
			 : "rax", "rcx", "rdx");
}

static void f_idiv_overflow(void)
{
	__asm__ volatile(".globl idiv_site\n\tmov $0x80000000, %%eax\n\tcltd\n\t"
			 "mov $-1, %%ecx\nidiv_site: idivl %%ecx"
			 :
			 :
			 : "rax", "rcx", "rdx");
}

static volatile int recursion_sink, recursion_stop;

static int recurse(int n)
{
	volatile char pad[512];
	pad[0] = (char)n;
	recursion_sink += pad[0];
	/* recursion_stop is never set: it only hides the recursion from -Werror */
	if (recursion_stop)
		return 0;
	return recurse(n + 1) + pad[0];
}

static void f_stack_overflow(void)
{
	recurse(0);
}

static void *bus_map;

static void f_read_past_file_end(void)
{
	(void)*(volatile char *)((char *)bus_map + 3 * 4096);
}

static void null_read(void)
{
	expect_fault(f_null_read, SIGSEGV, SEGV_MAPERR, 0);
}

static void null_write(void)
{
	expect_fault(f_null_write, SIGSEGV, SEGV_MAPERR, 0);
}

static void null_call(void)
{
	expect_fault(f_null_call, SIGSEGV, SEGV_MAPERR, 0);
}

static void write_to_text(void)
{
	expect_fault(f_write_text, SIGSEGV, SEGV_ACCERR, (uintptr_t)f_null_read);
}

static void write_to_rodata(void)
{
	expect_fault(f_write_rodata, SIGSEGV, SEGV_ACCERR, (uintptr_t)rodata_string);
}

static void exec_from_stack(void)
{
	/* The address is only known inside the child: check the code, not si_addr. */
	expect_fault(f_exec_stack, SIGSEGV, SEGV_ACCERR, ANY_ADDR);
}

static void exec_from_heap(void)
{
	heap_code = malloc(64);
	heap_code[0] = 0xc3;
	expect_fault(f_exec_heap, SIGSEGV, SEGV_ACCERR, (uintptr_t)heap_code);
	free(heap_code);
}

static void exec_from_rw_mapping(void)
{
	rw_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	rw_page[0] = 0xc3;
	expect_fault(f_exec_rw_mapping, SIGSEGV, SEGV_ACCERR, (uintptr_t)rw_page);
	munmap(rw_page, 4096);
}

static void read_prot_none(void)
{
	none_page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	expect_fault(f_read_prot_none, SIGSEGV, SEGV_ACCERR, (uintptr_t)none_page);
	munmap(none_page, 4096);
}

/* The kernel half is never the process's: a plain SEGV_MAPERR at that address. */
static void read_kernel_half(void)
{
	expect_fault(f_read_kernel, SIGSEGV, SEGV_MAPERR, 0xffff800000000000UL);
	expect_fault(f_read_kernel_text, SIGSEGV, SEGV_MAPERR, 0xffffffff80000000UL);
}

/* A non-canonical address is a #GP, not a page fault: SI_KERNEL, si_addr 0. */
static void read_noncanonical(void)
{
	expect_fault(f_read_noncanonical, SIGSEGV, SI_KERNEL, 0);
}

static void jump_noncanonical(void)
{
	expect_fault(f_jump_noncanonical, SIGSEGV, NO_CODE, ANY_ADDR);
}

static void privileged_instructions(void)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} table[] = {
		{ "cli", f_cli },     { "hlt", f_hlt },	    { "rdmsr", f_rdmsr },
		{ "wrmsr", f_wrmsr }, { "inb", f_in },	    { "outb", f_out },
		{ "lgdt", f_lgdt },   { "mov cr3", f_mov_cr3 }, { "int $0x81", f_int_0x81 },
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		int before = ktap_case_failures();
		expect_fault(table[i].fn, SIGSEGV, SI_KERNEL, 0);
		if (ktap_case_failures() != before)
			ktap_diag("case: %s", table[i].name);
	}
}

static void int3_is_sigtrap(void)
{
	expect_fault(f_int3, SIGTRAP, SI_KERNEL, 0);
}

static void ud2_is_sigill(void)
{
	expect_fault(f_ud2, SIGILL, ILL_ILLOPN, (uintptr_t)ud2_site);
}

static void divide_by_zero_is_sigfpe(void)
{
	expect_fault(f_div_zero, SIGFPE, FPE_INTDIV, (uintptr_t)div_site);
}

static void idiv_overflow_is_sigfpe(void)
{
	expect_fault(f_idiv_overflow, SIGFPE, FPE_INTDIV, (uintptr_t)idiv_site);
}

static void stack_overflow_is_sigsegv(void)
{
	expect_fault(f_stack_overflow, SIGSEGV, NO_CODE, ANY_ADDR);
}

/* A private file mapping past the end of the file: touching it is SIGBUS. */
static void read_past_end_of_file_mapping_is_sigbus(void)
{
	int fd = (int)syscall(SYS_open, ktap_path(FIXTURE_DIR "/data.txt"), O_RDONLY);
	if (!EXPECT_TRUE(fd >= 0))
		return;
	bus_map = mmap(NULL, 4 * 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (!EXPECT_TRUE(bus_map != MAP_FAILED))
		return;
	expect_fault(f_read_past_file_end, SIGBUS, BUS_ADRERR, (uintptr_t)bus_map + 3 * 4096);
	munmap(bus_map, 4 * 4096);
}

/* After all that, this process and its new children still work. */
static void survivors_still_run(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(7);
	int status = 0;
	EXPECT_EQ(waitpid(pid, &status, 0), pid);
	EXPECT_EXITED(status, 7);
}

static const struct ktap_case cases[] = {
	KTAP_CASE(null_read),
	KTAP_CASE(null_write),
	KTAP_CASE(null_call),
	KTAP_CASE(write_to_text),
	KTAP_CASE(write_to_rodata),
	KTAP_CASE(exec_from_stack),
	KTAP_CASE(exec_from_heap),
	KTAP_CASE(exec_from_rw_mapping),
	KTAP_CASE(read_prot_none),
	KTAP_CASE(read_kernel_half),
	KTAP_CASE(read_noncanonical),
	KTAP_CASE(jump_noncanonical),
	KTAP_CASE(privileged_instructions),
	KTAP_CASE(int3_is_sigtrap),
	KTAP_CASE(ud2_is_sigill),
	KTAP_CASE(divide_by_zero_is_sigfpe),
	KTAP_CASE(idiv_overflow_is_sigfpe),
	KTAP_CASE(stack_overflow_is_sigsegv),
	KTAP_CASE(read_past_end_of_file_mapping_is_sigbus),
	KTAP_CASE(survivors_still_run),
};

int main(int argc, char **argv)
{
	return ktap_main(argc, argv, cases, KTAP_NCASES(cases));
}
