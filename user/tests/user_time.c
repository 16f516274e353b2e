/*
 * user_time: clock_gettime, clock_getres, gettimeofday, time, nanosleep,
 * clock_nanosleep. Raw syscalls throughout: musl would use a vDSO on Linux,
 * which turns a bad pointer into SIGSEGV instead of EFAULT. Sleeps are checked
 * never to return early; how late they return is not asserted. The thread's
 * CPU time is checked to advance while it runs and only then (a sleep, or
 * another process running in its place, adds less than half of that time).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ktap.h"

#define KPTR KTAP_KERNEL_PTR
#define NS 1000000000LL

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * NS + ts->tv_nsec;
}

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts = { -1, -1 };
	if (syscall(SYS_clock_gettime, id, &ts) != 0)
		return -1;
	return ts_ns(&ts);
}

static const struct {
	clockid_t id;
	const char *name;
} clocks[] = {
	{ CLOCK_REALTIME, "CLOCK_REALTIME" },
	{ CLOCK_MONOTONIC, "CLOCK_MONOTONIC" },
	{ CLOCK_MONOTONIC_RAW, "CLOCK_MONOTONIC_RAW" },
	{ CLOCK_REALTIME_COARSE, "CLOCK_REALTIME_COARSE" },
	{ CLOCK_MONOTONIC_COARSE, "CLOCK_MONOTONIC_COARSE" },
	{ CLOCK_BOOTTIME, "CLOCK_BOOTTIME" },
};
#define NCLOCKS (sizeof(clocks) / sizeof(clocks[0]))

static void clock_gettime_every_clock(void)
{
	for (size_t i = 0; i < NCLOCKS; i++) {
		struct timespec ts = { -1, -1 };
		if (!EXPECT_EQ(syscall(SYS_clock_gettime, clocks[i].id, &ts), 0)) {
			ktap_diag("case: %s", clocks[i].name);
			continue;
		}
		if (!EXPECT_TRUE(ts.tv_sec >= 0 && ts.tv_nsec >= 0 && ts.tv_nsec < NS))
			ktap_diag("case: %s", clocks[i].name);
	}
	/* The wall clock is past 2020-01-01 (QEMU's RTC gives the host date). */
	EXPECT_TRUE(clock_ns(CLOCK_REALTIME) / NS > 1577836800);
}

/* Reads `id` `reads` times after *first: false (and a failure) if it ever went
 * back; *last is the last reading. */
static bool never_back(clockid_t id, const char *name, int reads, int64_t first, int64_t *last)
{
	int64_t prev = first;
	for (int i = 0; i < reads; i++) {
		int64_t now = clock_ns(id);
		if (now < prev) {
			ktap_fail_at(__FILE__, __LINE__, "%s went back: %lld -> %lld", name,
				     (long long)prev, (long long)now);
			return false;
		}
		prev = now;
	}
	*last = prev;
	return true;
}

static void monotonic_never_goes_back(void)
{
	int64_t last;
	if (!never_back(CLOCK_MONOTONIC, "CLOCK_MONOTONIC", 10000, clock_ns(CLOCK_MONOTONIC), &last))
		return;
	/* BOOTTIME counts from the same boot, and is at least MONOTONIC. */
	EXPECT_TRUE(clock_ns(CLOCK_BOOTTIME) >= clock_ns(CLOCK_MONOTONIC) - NS / 100);
}

static void clock_gettime_bad_arguments(void)
{
	struct timespec ts;

	EXPECT_ERRNO(syscall(SYS_clock_gettime, 12345, &ts), EINVAL);
	EXPECT_ERRNO(syscall(SYS_clock_gettime, -1L, &ts), EINVAL);
	EXPECT_ERRNO(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, NULL), EFAULT);
	EXPECT_ERRNO(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, KPTR), EFAULT);
	EXPECT_ERRNO(syscall(SYS_clock_gettime, CLOCK_REALTIME, ktap_readonly_page()), EFAULT);
	EXPECT_ERRNO(syscall(SYS_clock_gettime, CLOCK_REALTIME, ktap_mapping_end() - 8), EFAULT);
}

static void clock_getres_cases(void)
{
	struct timespec res;

	for (size_t i = 0; i < NCLOCKS; i++) {
		memset(&res, 0xff, sizeof(res));
		if (!EXPECT_EQ(syscall(SYS_clock_getres, clocks[i].id, &res), 0) ||
		    !EXPECT_TRUE(res.tv_sec == 0 && res.tv_nsec > 0 && res.tv_nsec <= 10000000))
			ktap_diag("case: %s", clocks[i].name);
	}
	/* The high-resolution clocks claim better than a millisecond. */
	syscall(SYS_clock_getres, CLOCK_MONOTONIC, &res);
	EXPECT_TRUE(res.tv_nsec <= 1000000);
	EXPECT_EQ(syscall(SYS_clock_getres, CLOCK_MONOTONIC, NULL), 0);
	EXPECT_ERRNO(syscall(SYS_clock_getres, 12345, &res), EINVAL);
	EXPECT_ERRNO(syscall(SYS_clock_getres, CLOCK_MONOTONIC, KPTR), EFAULT);
}

/* CLOCK_THREAD_CPUTIME_ID: never back, forward while spinning; asleep (the
 * switch to and from the idle thread) or waiting while a child runs (on one
 * CPU, a switch between two user threads), it does not count. getrusage's
 * user time is the same clock. The waits are timed around the blocking call
 * alone: under TCG the timestamp runs on while the host deschedules QEMU, so
 * the parent's own work (the fork, the reap in waitpid: milliseconds) would
 * count whatever a loaded host stalls it for. */
static void thread_cpu_time_counts_running_only(void)
{
	int64_t t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), prev;
	EXPECT_TRUE(t0 >= 0);
	if (!never_back(CLOCK_THREAD_CPUTIME_ID, "thread CPU time", 2000, t0, &prev))
		return;
	EXPECT_TRUE(prev > t0);

	int64_t before = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	struct timespec req = { 0, 50000000 };
	EXPECT_EQ(syscall(SYS_nanosleep, &req, NULL), 0);
	int64_t asleep = clock_ns(CLOCK_THREAD_CPUTIME_ID) - before;
	if (!EXPECT_TRUE(asleep >= 0 && asleep < 25000000))
		ktap_diag("a 50 ms sleep added %lld ns of CPU time", (long long)asleep);

	int done[2];
	if (!EXPECT_EQ(pipe(done), 0))
		return;
	pid_t child = fork();
	if (child == 0) {
		int64_t until = clock_ns(CLOCK_MONOTONIC) + 50000000;
		while (clock_ns(CLOCK_MONOTONIC) < until)
			;
		_exit(write(done[1], "x", 1) == 1 ? 0 : 1);
	}
	char c;
	before = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	EXPECT_EQ(read(done[0], &c, 1), 1);
	int64_t waited = clock_ns(CLOCK_THREAD_CPUTIME_ID) - before;
	if (!EXPECT_TRUE(waited >= 0 && waited < 25000000))
		ktap_diag("waiting for a 50 ms child added %lld ns of CPU time", (long long)waited);
	int status = -1;
	EXPECT_EQ(waitpid(child, &status, 0), child);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(done[0]);
	close(done[1]);

	int64_t seen = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	struct rusage ru;
	EXPECT_EQ(syscall(SYS_getrusage, RUSAGE_SELF, &ru), 0);
	int64_t ru_ns = ((int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec) * 1000;
	EXPECT_TRUE(ru_ns >= seen - 1000 && ru_ns <= seen + 25000000);
}

static void gettimeofday_and_time_agree(void)
{
	struct timeval tv;
	time_t t = 0;

	int64_t before = clock_ns(CLOCK_REALTIME) / 1000;
	EXPECT_EQ(syscall(SYS_gettimeofday, &tv, NULL), 0);
	int64_t after = clock_ns(CLOCK_REALTIME) / 1000;
	int64_t us = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
	EXPECT_TRUE(tv.tv_usec >= 0 && tv.tv_usec < 1000000);
	EXPECT_TRUE(us >= before - 1000 && us <= after + 1000);
	EXPECT_EQ(syscall(SYS_gettimeofday, NULL, NULL), 0);
	EXPECT_ERRNO(syscall(SYS_gettimeofday, KPTR, NULL), EFAULT);
	EXPECT_ERRNO(syscall(SYS_gettimeofday, ktap_readonly_page(), NULL), EFAULT);

	long r = syscall(SYS_time, &t);
	EXPECT_EQ(r, (long)t);
	EXPECT_TRUE(r >= before / 1000000 && r <= after / 1000000 + 1);
	EXPECT_TRUE(syscall(SYS_time, NULL) >= r);
	EXPECT_ERRNO(syscall(SYS_time, KPTR), EFAULT);
	EXPECT_ERRNO(syscall(SYS_time, ktap_readonly_page()), EFAULT);
}

static void nanosleep_sleeps_at_least(void)
{
	struct timespec req = { 0, 20 * 1000 * 1000 }, rem = { 7, 7 };

	int64_t t0 = ktap_now_ns();
	EXPECT_EQ(syscall(SYS_nanosleep, &req, &rem), 0);
	int64_t took = ktap_now_ns() - t0;
	EXPECT_TRUE(took >= 20 * 1000 * 1000);
	ktap_diag("nanosleep(20 ms) took %lld us", (long long)(took / 1000));
	struct timespec zero = { 0, 0 };
	EXPECT_EQ(syscall(SYS_nanosleep, &zero, NULL), 0);
}

static void nanosleep_bad_arguments(void)
{
	struct timespec bad_ns = { 0, NS }, neg_ns = { 0, -1 }, neg_s = { -1, 0 };

	EXPECT_ERRNO(syscall(SYS_nanosleep, &bad_ns, NULL), EINVAL);
	EXPECT_ERRNO(syscall(SYS_nanosleep, &neg_ns, NULL), EINVAL);
	EXPECT_ERRNO(syscall(SYS_nanosleep, &neg_s, NULL), EINVAL);
	EXPECT_ERRNO(syscall(SYS_nanosleep, NULL, NULL), EFAULT);
	EXPECT_ERRNO(syscall(SYS_nanosleep, KPTR, NULL), EFAULT);
	EXPECT_ERRNO(syscall(SYS_nanosleep, ktap_mapping_end() - 8, NULL), EFAULT);
}

static void clock_nanosleep_relative_and_absolute(void)
{
	struct timespec req = { 0, 10 * 1000 * 1000 }, abs;

	int64_t t0 = ktap_now_ns();
	EXPECT_EQ(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &req, NULL), 0);
	EXPECT_TRUE(ktap_now_ns() - t0 >= 10 * 1000 * 1000);

	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &abs);
	int64_t target = ts_ns(&abs) + 15 * 1000 * 1000;
	abs.tv_sec = target / NS;
	abs.tv_nsec = target % NS;
	EXPECT_EQ(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL), 0);
	EXPECT_TRUE(ktap_now_ns() >= target);
	/* An absolute time in the past returns at once. */
	struct timespec past = { 1, 0 };
	EXPECT_EQ(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME, &past, NULL), 0);
	syscall(SYS_clock_gettime, CLOCK_REALTIME, &abs);
	abs.tv_nsec = (abs.tv_nsec + 5 * 1000 * 1000) % NS;
	abs.tv_sec += abs.tv_nsec < 5 * 1000 * 1000;
	EXPECT_EQ(syscall(SYS_clock_nanosleep, CLOCK_REALTIME, TIMER_ABSTIME, &abs, NULL), 0);
}

static void clock_nanosleep_bad_arguments(void)
{
	struct timespec req = { 0, 1000 }, bad = { 0, NS };

	EXPECT_ERRNO(syscall(SYS_clock_nanosleep, 12345, 0, &req, NULL), EINVAL);
	/* Sleeping on a thread CPU clock is refused with EOPNOTSUPP, not EINVAL. */
	EXPECT_ERRNO(syscall(SYS_clock_nanosleep, CLOCK_THREAD_CPUTIME_ID, 0, &req, NULL), EOPNOTSUPP);
	EXPECT_ERRNO(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &bad, NULL), EINVAL);
	EXPECT_ERRNO(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, NULL, NULL), EFAULT);
	EXPECT_ERRNO(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, KPTR, NULL), EFAULT);
	/* Unknown flag bits are ignored: only TIMER_ABSTIME means anything. */
	EXPECT_EQ(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0x100, &req, NULL), 0);
	/* The libc wrapper returns the error number instead of setting errno. */
	EXPECT_EQ(clock_nanosleep(CLOCK_MONOTONIC, 0, &bad, NULL), EINVAL);
}

static void wake(int sig)
{
	(void)sig;
}

static void clock_nanosleep_interrupted_reports_remaining(void)
{
	struct sigaction sa;
	struct timespec req = { 3, 0 }, rem = { 0, 0 };
	pid_t parent = getpid();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = wake;
	sigaction(SIGUSR1, &sa, NULL);
	pid_t pid = fork();
	if (pid == 0) {
		struct timespec d = { 0, 30 * 1000 * 1000 };
		nanosleep(&d, NULL);
		kill(parent, SIGUSR1);
		_exit(0);
	}
	EXPECT_ERRNO(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &req, &rem), EINTR);
	EXPECT_TRUE(rem.tv_sec >= 1 && rem.tv_sec <= 3 && rem.tv_nsec >= 0 && rem.tv_nsec < NS);
	waitpid(pid, NULL, 0);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGUSR1, &sa, NULL);
}

static const struct ktap_case cases[] = {
	KTAP_CASE(clock_gettime_every_clock),
	KTAP_CASE(monotonic_never_goes_back),
	KTAP_CASE(clock_gettime_bad_arguments),
	KTAP_CASE(clock_getres_cases),
	KTAP_CASE(gettimeofday_and_time_agree),
	KTAP_CASE(thread_cpu_time_counts_running_only),
	KTAP_CASE(nanosleep_sleeps_at_least),
	KTAP_CASE(nanosleep_bad_arguments),
	KTAP_CASE(clock_nanosleep_relative_and_absolute),
	KTAP_CASE(clock_nanosleep_bad_arguments),
	KTAP_CASE(clock_nanosleep_interrupted_reports_remaining),
};

int main(int argc, char **argv)
{
	return ktap_main(argc, argv, cases, KTAP_NCASES(cases));
}
