/*
 * user_fuzz: a seeded system-call fuzzer. Random call numbers with random
 * arguments (small numbers, -1, flags-like bits, pointers into a scratch area
 * of random bytes, kernel-half, non-canonical and unmapped pointers, huge
 * lengths) are thrown at the kernel from forked children, in batches: a child
 * runs one batch and exits; one that dies of a signal (it may well unmap its
 * own stack or install a handler at a garbage address) or is still blocked in
 * some call at the batch's deadline (SIGKILL) just ends its batch early. The
 * checks: every child ends, the suite process and a fresh child still work, and
 * (from the kernel side, tests/ktest/user_test.c) frame and heap counts return
 * exactly after the suite.
 *
 * Kept out of the draw, because they end the experiment rather than test the
 * kernel: exit/exit_group, the fork family (an unwatched grandchild would fuzz
 * on), signals to other processes (kill/tkill/tgkill/sigqueue could hit the
 * suite or init), pause and sigsuspend (they only wait for the deadline),
 * execve (garbage could name a real program), reboot. prlimit64, setpriority
 * and the sched_set* calls act on the child itself (pid 0).
 *
 * It runs on Exo only: on a host, random calls by root could set its clock or
 * its name. calls=N on the command line sets the number of calls (default 20,000, a few
 * seconds under TCG); the million is calls=1000000. seed=N repeats a run.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ktap.h"

#define BATCH_CALLS 500
#define BATCH_DEADLINE_NS 1000000000LL
#define SCRATCH_BYTES (64 * 1024)
#define MAX_NR 460

static long total_calls = 20000;

/* The child's own generator: no libc state, so a garbage arch_prctl(SET_FS)
 * cannot break it. */
static uint64_t fuzz_state;

static uint64_t fuzz_rand(void)
{
	uint64_t z = (fuzz_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A raw system call: no errno, no TLS. */
static long raw_syscall6(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
	long ret;
	register long r10 __asm__("r10") = a3;
	register long r8 __asm__("r8") = a4;
	register long r9 __asm__("r9") = a5;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

static int excluded(long nr)
{
	switch (nr) {
	case SYS_rt_sigreturn: /* fine for the kernel, but almost always a SIGSEGV here */
	case SYS_pause:
	case SYS_clone:
	case SYS_fork:
	case SYS_vfork:
	case SYS_execve:
	case SYS_exit:
	case SYS_kill:
	case SYS_rt_sigsuspend:
	case SYS_rt_sigqueueinfo:
	case SYS_reboot:
	case SYS_tkill:
	case SYS_exit_group:
	case SYS_tgkill:
	case SYS_rt_tgsigqueueinfo:
	case SYS_execveat:
	case 435: /* clone3 */
		return 1;
	default:
		return 0;
	}
}

static char *scratch;

static long random_arg(void)
{
	uint64_t r = fuzz_rand();
	switch (r % 12) {
	case 0:
		return 0;
	case 1:
		return -1;
	case 2:
		return (long)(r >> 8) % 64; /* small: fds, flags, counts */
	case 3:
		return (long)(r >> 8) % 4096;
	case 4:
		return 1L << ((r >> 8) % 64); /* one flag bit */
	case 5:
	case 6:
	case 7: /* inside the scratch area, sometimes near its end */
		return (long)(scratch + (r >> 8) % SCRATCH_BYTES);
	case 8:
		return (long)KTAP_KERNEL_PTR + (long)((r >> 8) % 4096);
	case 9:
		return (long)KTAP_NONCANONICAL_PTR - (long)((r >> 8) % 8);
	case 10:
		return (long)0x7ffffffff000UL - (long)((r >> 8) % 16); /* the last user bytes */
	default:
		return (long)fuzz_rand();
	}
}

static long random_nr(void)
{
	uint64_t r = fuzz_rand();
	if (r % 64 == 0)
		return (long)fuzz_rand(); /* any number at all */
	return (long)((r >> 8) % MAX_NR);
}

static void fill_scratch(void)
{
	for (size_t i = 0; i < SCRATCH_BYTES; i += 8) {
		uint64_t v = fuzz_rand();
		/* A quarter small values: plausible lengths, times, fds inside structs. */
		if (v % 4 == 0)
			v = (v >> 8) % 256;
		memcpy(scratch + i, &v, 8);
	}
}

static int run_batch(void *arg)
{
	fuzz_state = (uint64_t)(uintptr_t)arg;
	/* Garbage written to fd 1 would garble the suite's KTAP output. */
	close(0);
	close(1);
	close(2);
	scratch = mmap(NULL, SCRATCH_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	if (scratch == MAP_FAILED)
		return 3;
	fill_scratch();
	for (int i = 0; i < BATCH_CALLS; i++) {
		long nr = random_nr();
		if (excluded(nr))
			continue;
		long a[6];
		for (int k = 0; k < 6; k++)
			a[k] = random_arg();
		if (nr == SYS_prlimit64 || nr == SYS_setpriority || nr == SYS_sched_setaffinity ||
		    nr == SYS_sched_setparam || nr == SYS_sched_setscheduler || nr == SYS_setpgid)
			a[nr == SYS_setpriority ? 1 : 0] = 0; /* itself, never another process */
		raw_syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	}
	return 0;
}

/* Waits for pid until the deadline, then SIGKILLs it; its wait status. */
static int wait_with_deadline(pid_t pid)
{
	int64_t deadline = ktap_now_ns() + BATCH_DEADLINE_NS;
	int status = 0;
	for (;;) {
		pid_t got = waitpid(pid, &status, WNOHANG);
		if (got == pid)
			return status;
		if (got < 0)
			return -1;
		if (ktap_now_ns() > deadline) {
			kill(pid, SIGKILL);
			return waitpid(pid, &status, 0) == pid ? status : -1;
		}
		struct timespec ms = {0, 1000000};
		nanosleep(&ms, NULL);
	}
}

static void random_syscalls_leave_the_kernel_up(void)
{
	KTAP_SKIP_UNLESS_EXO("random calls could change the host (its clock, its name...)");
	long batches = (total_calls + BATCH_CALLS - 1) / BATCH_CALLS;
	long exited = 0, signalled = 0, killed_at_deadline = 0;
	ktap_diag("%ld calls in %ld batches of %d", batches * BATCH_CALLS, batches, BATCH_CALLS);
	for (long b = 0; b < batches; b++) {
		uint64_t batch_seed = ktap_rand();
		pid_t pid = fork();
		if (pid == 0)
			_exit(run_batch((void *)(uintptr_t)batch_seed));
		if (!EXPECT_TRUE(pid > 0))
			return;
		int64_t start = ktap_now_ns();
		int status = wait_with_deadline(pid);
		if (!EXPECT_TRUE(status != -1))
			return;
		if (WIFEXITED(status))
			exited++;
		else if (WTERMSIG(status) == SIGKILL && ktap_now_ns() - start >= BATCH_DEADLINE_NS)
			killed_at_deadline++;
		else
			signalled++;
	}
	ktap_diag("batches: %ld ran to the end, %ld died of a signal, %ld were stopped at "
		  "the deadline",
		  exited, signalled, killed_at_deadline);
	/* The suite and a fresh child still work. */
	EXPECT_EQ(getppid() >= 0, 1);
	pid_t pid = fork();
	if (pid == 0)
		_exit(42);
	int status = 0;
	EXPECT_EQ(waitpid(pid, &status, 0), pid);
	EXPECT_EXITED(status, 42);
	/* No child is left behind. */
	EXPECT_ERRNO(waitpid(-1, &status, WNOHANG), ECHILD);
}

static const struct ktap_case cases[] = {
	KTAP_CASE(random_syscalls_leave_the_kernel_up),
};

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strncmp(argv[i], "calls=", 6) == 0)
			total_calls = strtol(argv[i] + 6, NULL, 0);
	return ktap_main(argc, argv, cases, KTAP_NCASES(cases));
}
