/*
 * user_fpu: per-thread FPU/SSE/AVX state. Threads holding different xmm (and,
 * where the CPU has AVX, ymm upper halves) values and MXCSR/FCW keep them
 * while they spin through preemption, sched_yield and forced migration
 * between CPUs; a signal handler's FPU use does not leak into the code it
 * interrupted; a new process starts with MXCSR 0x1f80 and FCW 0x37f.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ktap.h"

extern char **environ;

static int have_avx(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d))
		return 0;
	if (!(c & bit_OSXSAVE) || !(c & bit_AVX))
		return 0;
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (lo & 6) == 6;
}

static uint32_t get_mxcsr(void)
{
	uint32_t v;
	__asm__ volatile("stmxcsr %0" : "=m"(v));
	return v;
}

static uint16_t get_fcw(void)
{
	uint16_t v;
	__asm__ volatile("fnstcw %0" : "=m"(v));
	return v;
}

static void set_mxcsr(uint32_t v)
{
	__asm__ volatile("ldmxcsr %0" : : "m"(v));
}

static void set_fcw(uint16_t v)
{
	__asm__ volatile("fldcw %0" : : "m"(v));
}

/*
 * Loads 16 xmm (or ymm) registers and MXCSR/FCW, spins for `spins` loops with
 * a sched_yield syscall every 4096, stores them back. Returns 1 if identical.
 */
static int hold_vector_state(const uint8_t *in, uint8_t *out, int avx, uint32_t mxcsr,
			     uint16_t fcw, long spins)
{
	uint32_t mx_out = 0, mx_saved;
	uint16_t fcw_out = 0, fcw_saved;

	if (avx) {
		__asm__ volatile(
			"stmxcsr %[mxs]\n\tfnstcw %[fcs]\n\tldmxcsr %[mx]\n\tfldcw %[fc]\n\t"
#define VL(n) "vmovdqu " #n "*32(%[in]), %%ymm" #n "\n\t"
			VL(0) VL(1) VL(2) VL(3) VL(4) VL(5) VL(6) VL(7)
			VL(8) VL(9) VL(10) VL(11) VL(12) VL(13) VL(14) VL(15)
			"mov %[spins], %%rdx\n"
			"1:\n\ttest $4095, %%rdx\n\tjnz 2f\n\t"
			"mov %[yield], %%eax\n\tsyscall\n"
			"2:\n\tdec %%rdx\n\tjnz 1b\n\t"
#define VS(n) "vmovdqu %%ymm" #n ", " #n "*32(%[out])\n\t"
			VS(0) VS(1) VS(2) VS(3) VS(4) VS(5) VS(6) VS(7)
			VS(8) VS(9) VS(10) VS(11) VS(12) VS(13) VS(14) VS(15)
			"stmxcsr %[mxo]\n\tfnstcw %[fco]\n\tldmxcsr %[mxs]\n\tfldcw %[fcs]\n\tvzeroupper"
			: [mxo] "=m"(mx_out), [fco] "=m"(fcw_out), [mxs] "=m"(mx_saved),
			  [fcs] "=m"(fcw_saved)
			: [in] "r"(in), [out] "r"(out), [mx] "m"(mxcsr), [fc] "m"(fcw),
			  [spins] "r"(spins), [yield] "i"(SYS_sched_yield)
			: "rax", "rcx", "rdx", "r11", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4",
			  "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
			  "xmm14", "xmm15");
		return memcmp(in, out, 16 * 32) == 0 && mx_out == mxcsr && fcw_out == fcw;
	}
	__asm__ volatile("stmxcsr %[mxs]\n\tfnstcw %[fcs]\n\tldmxcsr %[mx]\n\tfldcw %[fc]\n\t"
#define XL(n) "movdqu " #n "*32(%[in]), %%xmm" #n "\n\t"
			 XL(0) XL(1) XL(2) XL(3) XL(4) XL(5) XL(6) XL(7)
			 XL(8) XL(9) XL(10) XL(11) XL(12) XL(13) XL(14) XL(15)
			 "mov %[spins], %%rdx\n"
			 "1:\n\ttest $4095, %%rdx\n\tjnz 2f\n\t"
			 "mov %[yield], %%eax\n\tsyscall\n"
			 "2:\n\tdec %%rdx\n\tjnz 1b\n\t"
#define XS(n) "movdqu %%xmm" #n ", " #n "*32(%[out])\n\t"
			 XS(0) XS(1) XS(2) XS(3) XS(4) XS(5) XS(6) XS(7)
			 XS(8) XS(9) XS(10) XS(11) XS(12) XS(13) XS(14) XS(15)
			 "stmxcsr %[mxo]\n\tfnstcw %[fco]\n\tldmxcsr %[mxs]\n\tfldcw %[fcs]"
			 : [mxo] "=m"(mx_out), [fco] "=m"(fcw_out), [mxs] "=m"(mx_saved),
			   [fcs] "=m"(fcw_saved)
			 : [in] "r"(in), [out] "r"(out), [mx] "m"(mxcsr), [fc] "m"(fcw),
			   [spins] "r"(spins), [yield] "i"(SYS_sched_yield)
			 : "rax", "rcx", "rdx", "r11", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4",
			   "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
			   "xmm14", "xmm15");
	for (int i = 0; i < 16; i++)
		if (memcmp(in + i * 32, out + i * 32, 16) != 0)
			return 0;
	return mx_out == mxcsr && fcw_out == fcw;
}

enum { WORKERS = 6, ROUNDS = 40 };

struct worker {
	int id, avx;
	atomic_long tid;
	int bad_round;
	uint64_t seed;
};

static atomic_int workers_done;

static void *fpu_worker(void *arg)
{
	struct worker *w = arg;
	uint8_t in[16 * 32], out[16 * 32];
	/* Rounding control (bits 13-14), FZ and DAZ differ per worker; masks stay set. */
	uint32_t mxcsr = 0x1f80 | ((uint32_t)(w->id & 3) << 13) | (w->id & 4 ? 0x8040 : 0);
	uint16_t fcw = (uint16_t)(0x37f & ~0x300) | (uint16_t)((w->id % 3) << 8);

	atomic_store(&w->tid, syscall(SYS_gettid));
	w->bad_round = -1;
	for (int r = 0; r < ROUNDS && w->bad_round < 0; r++) {
		for (int i = 0; i < (int)sizeof(in); i++) {
			w->seed = w->seed * 6364136223846793005ULL + 1442695040888963407ULL;
			in[i] = (uint8_t)(w->seed >> 56);
		}
		memset(out, 0, sizeof(out));
		if (!hold_vector_state(in, out, w->avx, mxcsr, fcw, 200000))
			w->bad_round = r;
	}
	atomic_fetch_add(&workers_done, 1);
	return NULL;
}

static void run_workers(int avx)
{
	struct worker w[WORKERS];
	pthread_t t[WORKERS];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	atomic_store(&workers_done, 0);
	for (int i = 0; i < WORKERS; i++) {
		w[i] = (struct worker){ .id = i, .avx = avx, .seed = ktap_rand() };
		atomic_store(&w[i].tid, 0);
		pthread_create(&t[i], NULL, fpu_worker, &w[i]);
	}
	/* Move workers between CPUs while they hold their registers. */
	int moves = 0;
	while (atomic_load(&workers_done) < WORKERS && ncpu > 1) {
		int i = (int)ktap_rand_below(WORKERS);
		long tid = atomic_load(&w[i].tid);
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET((int)ktap_rand_below((uint64_t)ncpu), &set);
		if (tid && syscall(SYS_sched_setaffinity, tid, sizeof(set), &set) == 0)
			moves++;
		struct timespec ts = { 0, 200000 };
		nanosleep(&ts, NULL);
	}
	for (int i = 0; i < WORKERS; i++) {
		pthread_join(t[i], NULL);
		if (w[i].bad_round >= 0)
			ktap_fail_at(__FILE__, __LINE__, "worker %d lost its %s state in round %d", i,
				     avx ? "AVX" : "SSE", w[i].bad_round);
	}
	ktap_diag("%d workers on %ld CPUs, %d forced migrations", WORKERS, ncpu, moves);
}

static void threads_keep_sse_state(void)
{
	run_workers(0);
}

static void threads_keep_avx_state(void)
{
	if (!have_avx()) {
		ktap_skip("CPU or kernel without AVX (CPUID/XCR0)");
		return;
	}
	run_workers(1);
}

static volatile uint32_t handler_mxcsr;
static volatile uint16_t handler_fcw;

static void clobber_fpu_handler(int sig)
{
	(void)sig;
	handler_mxcsr = get_mxcsr();
	handler_fcw = get_fcw();
	set_mxcsr(0x1f80 | (3 << 13));
	set_fcw(0x7f);
	__asm__ volatile("pcmpeqb %%xmm0, %%xmm0\n\tpcmpeqb %%xmm7, %%xmm7\n\tpcmpeqb %%xmm15, %%xmm15"
			 :
			 :
			 : "xmm0", "xmm7", "xmm15");
}

static void signal_handler_fpu_does_not_leak(void)
{
	uint8_t in[16 * 32], out[16 * 32];
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = clobber_fpu_handler;
	sigaction(SIGUSR1, &sa, NULL);
	for (int i = 0; i < (int)sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + 3);
	/* A child pokes us with SIGUSR1 repeatedly while we hold the state. */
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 20; i++) {
			struct timespec ts = { 0, 2000000 };
			nanosleep(&ts, NULL);
			kill(parent, SIGUSR1);
		}
		_exit(0);
	}
	handler_mxcsr = 0;
	int ok = hold_vector_state(in, out, 0, 0x1f80 | (1 << 13) | 0x8040, 0x27f, 20000000);
	/* The handler has no SA_RESTART: a late SIGUSR1 interrupts waitpid. */
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	EXPECT_TRUE(ok);
	/* Linux gives a handler a fresh FPU state: default MXCSR and FCW. */
	if (handler_mxcsr) {
		EXPECT_EQ(handler_mxcsr, 0x1f80);
		EXPECT_EQ(handler_fcw, 0x37f);
	} else {
		ktap_diag("no signal arrived while the state was held");
	}
	sa.sa_handler = SIG_DFL;
	sigaction(SIGUSR1, &sa, NULL);
}

static int fork_child_report(void *arg)
{
	(void)arg;
	return get_mxcsr() == (0x1f80 | (2 << 13)) && get_fcw() == 0x27f ? 0 : 1;
}

static void fork_inherits_fpu_control(void)
{
	uint32_t mx = get_mxcsr();
	uint16_t fc = get_fcw();
	set_mxcsr(0x1f80 | (2 << 13));
	set_fcw(0x27f);
	int status = ktap_run_child(fork_child_report, NULL);
	set_mxcsr(mx);
	set_fcw(fc);
	EXPECT_EXITED(status, 0);
}

static void exec_starts_with_default_fpu_control(void)
{
	uint32_t mx = get_mxcsr();
	uint16_t fc = get_fcw();
	char self[4096];

	snprintf(self, sizeof(self), "%s", ktap_path("/tests/user_fpu"));
	set_mxcsr(0x1f80 | (3 << 13) | 0x8040);
	set_fcw(0x7f);
	pid_t pid = fork();
	if (pid == 0) {
		char *argv[] = { self, "report-fpu", NULL };
		syscall(SYS_execve, self, argv, environ);
		_exit(127);
	}
	set_mxcsr(mx);
	set_fcw(fc);
	int status = 0;
	waitpid(pid, &status, 0);
	EXPECT_EXITED(status, 0);
}

static const struct ktap_case cases[] = {
	KTAP_CASE(threads_keep_sse_state),
	KTAP_CASE(threads_keep_avx_state),
	KTAP_CASE(signal_handler_fpu_does_not_leak),
	KTAP_CASE(fork_inherits_fpu_control),
	KTAP_CASE(exec_starts_with_default_fpu_control),
};

int main(int argc, char **argv)
{
	/* The exec'd image: musl's start-up code does not touch MXCSR or FCW. */
	if (argc > 1 && strcmp(argv[1], "report-fpu") == 0)
		return get_mxcsr() == 0x1f80 && get_fcw() == 0x37f ? 0 : 1;
	return ktap_main(argc, argv, cases, KTAP_NCASES(cases));
}
