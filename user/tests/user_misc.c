/*
 * user_misc: uname, getrandom, the uid/gid calls, process groups and
 * sessions, umask, prlimit64/getrlimit, set_robust_list, sysinfo,
 * sched_yield and affinity, sync and reboot's argument checks, and ENOSYS for
 * numbers nobody implements.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "ktap.h"

/* linux/random.h values (musl declares them only with sys/random.h) */
#ifndef GRND_NONBLOCK
#define GRND_NONBLOCK 0x1
#define GRND_RANDOM 0x2
#endif
#define GRND_INSECURE_BIT 0x4

#define KPTR KTAP_KERNEL_PTR

static void uname_fields(void)
{
	struct utsname u;

	memset(&u, 0, sizeof(u));
	EXPECT_EQ(syscall(SYS_uname, &u), 0);
	EXPECT_TRUE(strcmp(u.sysname, "Exo") == 0 || strcmp(u.sysname, "Linux") == 0);
	EXPECT_TRUE(strcmp(u.machine, "x86_64") == 0);
	EXPECT_TRUE(u.release[0] != 0);
	EXPECT_TRUE(memchr(u.nodename, 0, sizeof(u.nodename)) != NULL);
	ktap_diag("uname: %s %s %s %s", u.sysname, u.nodename, u.release, u.machine);
	EXPECT_ERRNO(syscall(SYS_uname, NULL), EFAULT);
	EXPECT_ERRNO(syscall(SYS_uname, KPTR), EFAULT);
	EXPECT_ERRNO(syscall(SYS_uname, ktap_readonly_page()), EFAULT);
	EXPECT_ERRNO(syscall(SYS_uname, ktap_mapping_end() - 100), EFAULT);
}

static void getrandom_cases(void)
{
	unsigned char a[64], b[64];

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	EXPECT_EQ(syscall(SYS_getrandom, a, sizeof(a), 0), 64);
	EXPECT_EQ(syscall(SYS_getrandom, b, sizeof(b), GRND_NONBLOCK), 64);
	EXPECT_TRUE(memcmp(a, b, sizeof(a)) != 0);
	int zeros = 0;
	for (int i = 0; i < 64; i++)
		zeros += a[i] == 0;
	EXPECT_TRUE(zeros < 16);
	EXPECT_EQ(syscall(SYS_getrandom, a, 0, 0), 0);
	EXPECT_EQ(syscall(SYS_getrandom, NULL, 0, 0), 0);
	EXPECT_ERRNO(syscall(SYS_getrandom, a, sizeof(a), 0x100), EINVAL);
	EXPECT_ERRNO(syscall(SYS_getrandom, a, sizeof(a), GRND_RANDOM | GRND_INSECURE_BIT), EINVAL);
	EXPECT_ERRNO(syscall(SYS_getrandom, NULL, 16, 0), EFAULT);
	EXPECT_ERRNO(syscall(SYS_getrandom, KPTR, 16, 0), EFAULT);
	EXPECT_ERRNO(syscall(SYS_getrandom, ktap_readonly_page(), 16, 0), EFAULT);
	/* A buffer straddling a hole: the part before it is filled. */
	char *end = ktap_mapping_end();
	EXPECT_EQ(syscall(SYS_getrandom, end - 32, 64, 0), 32);
}

static void uid_gid_calls(void)
{
	long uid = syscall(SYS_getuid), euid = syscall(SYS_geteuid);
	long gid = syscall(SYS_getgid), egid = syscall(SYS_getegid);

	EXPECT_TRUE(uid >= 0 && euid >= 0 && gid >= 0 && egid >= 0);
	EXPECT_EQ(uid, euid);
	EXPECT_EQ(gid, egid);
	ktap_diag("uid %ld gid %ld", uid, gid);
}

static void process_groups(void)
{
	pid_t me = getpid();
	long pgid = syscall(SYS_getpgid, 0);

	EXPECT_TRUE(pgid > 0);
	EXPECT_EQ(syscall(SYS_getpgid, me), pgid);
	EXPECT_ERRNO(syscall(SYS_getpgid, -1), ESRCH);
	EXPECT_ERRNO(syscall(SYS_getpgid, 0x3ffffff0), ESRCH);
	EXPECT_TRUE(syscall(SYS_getsid, 0) > 0);
	EXPECT_ERRNO(syscall(SYS_getsid, 0x3ffffff0), ESRCH);

	int p[2];
	if (EXPECT_OK(pipe2(p, 0)) != 0)
		return;
	pid_t child = fork();
	if (child == 0) {
		char c;
		read(p[0], &c, 1);
		_exit(syscall(SYS_getpgid, 0) == getpid() ? 0 : 1);
	}
	/* The parent moves its child into a new group named after the child. */
	EXPECT_EQ(syscall(SYS_setpgid, child, 0), 0);
	EXPECT_EQ(syscall(SYS_getpgid, child), child);
	EXPECT_ERRNO(syscall(SYS_setpgid, child, -1), EINVAL);
	EXPECT_ERRNO(syscall(SYS_setpgid, 0x3ffffff0, 0), ESRCH);
	EXPECT_ERRNO(syscall(SYS_setpgid, 0, 0x3ffffff0), EPERM);
	write(p[1], "x", 1);
	int status = 0;
	waitpid(child, &status, 0);
	EXPECT_EXITED(status, 0);
	close(p[0]);
	close(p[1]);
}

static int setsid_child(void *arg)
{
	(void)arg;
	pid_t me = getpid();
	if (syscall(SYS_setsid) != me)
		return 1;
	if (syscall(SYS_getsid, 0) != me || syscall(SYS_getpgid, 0) != me)
		return 2;
	/* A session leader cannot make another session. */
	if (syscall(SYS_setsid) != -1 || errno != EPERM)
		return 3;
	/* A session leader cannot change its group. */
	if (syscall(SYS_setpgid, 0, 1) != -1 || errno != EPERM)
		return 4;
	return 0;
}

static int group_leader_setsid_child(void *arg)
{
	(void)arg;
	if (syscall(SYS_setpgid, 0, 0) != 0)
		return 1;
	return syscall(SYS_setsid) == -1 && errno == EPERM ? 0 : 2;
}

static void sessions(void)
{
	EXPECT_EXITED(ktap_run_child(setsid_child, NULL), 0);
	EXPECT_EXITED(ktap_run_child(group_leader_setsid_child, NULL), 0);
}

static void umask_returns_previous(void)
{
	long old = syscall(SYS_umask, 027);
	EXPECT_TRUE(old >= 0 && old <= 0777);
	EXPECT_EQ(syscall(SYS_umask, 0777 | 07000), 027);
	EXPECT_EQ(syscall(SYS_umask, old), 0777);
}

static void rlimits(void)
{
	struct rlimit rl, old, got;

	EXPECT_EQ(syscall(SYS_getrlimit, RLIMIT_NOFILE, &rl), 0);
	EXPECT_TRUE(rl.rlim_cur > 3 && rl.rlim_cur <= rl.rlim_max);
	EXPECT_EQ(syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &old), 0);
	EXPECT_EQ(old.rlim_cur, rl.rlim_cur);
	EXPECT_EQ(syscall(SYS_prlimit64, getpid(), RLIMIT_STACK, NULL, &got), 0);
	EXPECT_TRUE(got.rlim_cur >= 65536);
	struct rlimit lower = { 100, old.rlim_max };
	EXPECT_EQ(syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &lower, &got), 0);
	EXPECT_EQ(got.rlim_cur, old.rlim_cur);
	EXPECT_EQ(syscall(SYS_getrlimit, RLIMIT_NOFILE, &got), 0);
	EXPECT_EQ(got.rlim_cur, 100);
	struct rlimit inverted = { 200, 100 };
	EXPECT_ERRNO(syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &inverted, NULL), EINVAL);
	EXPECT_EQ(syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &old, NULL), 0);
	EXPECT_ERRNO(syscall(SYS_getrlimit, 999, &rl), EINVAL);
	EXPECT_ERRNO(syscall(SYS_prlimit64, 0, 999, NULL, &rl), EINVAL);
	EXPECT_ERRNO(syscall(SYS_prlimit64, 0x3ffffff0, RLIMIT_NOFILE, NULL, &rl), ESRCH);
	EXPECT_ERRNO(syscall(SYS_getrlimit, RLIMIT_NOFILE, NULL), EFAULT);
	EXPECT_ERRNO(syscall(SYS_getrlimit, RLIMIT_NOFILE, KPTR), EFAULT);
	EXPECT_ERRNO(syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, KPTR, NULL), EFAULT);
	EXPECT_ERRNO(syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, ktap_readonly_page()), EFAULT);
}

static void set_robust_list_len(void)
{
	static struct {
		void *next;
		long offset;
		void *pending;
	} head = { &head, 0, NULL };

	EXPECT_EQ(syscall(SYS_set_robust_list, &head, sizeof(head)), 0);
	EXPECT_ERRNO(syscall(SYS_set_robust_list, &head, sizeof(head) + 8), EINVAL);
	EXPECT_ERRNO(syscall(SYS_set_robust_list, &head, 0), EINVAL);
}

static void sysinfo_fields(void)
{
	struct sysinfo si;

	memset(&si, 0, sizeof(si));
	EXPECT_EQ(syscall(SYS_sysinfo, &si), 0);
	EXPECT_TRUE(si.mem_unit >= 1);
	EXPECT_TRUE(si.totalram > 0);
	EXPECT_TRUE(si.freeram <= si.totalram);
	EXPECT_TRUE(si.procs >= 1);
	ktap_diag("sysinfo: %lu x %u bytes ram, %lu free, %u procs, up %ld s", si.totalram,
		  si.mem_unit, si.freeram, si.procs, si.uptime);
	EXPECT_ERRNO(syscall(SYS_sysinfo, NULL), EFAULT);
	EXPECT_ERRNO(syscall(SYS_sysinfo, KPTR), EFAULT);
}

static void sched_yield_and_affinity(void)
{
	unsigned long mask[16];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	EXPECT_EQ(syscall(SYS_sched_yield), 0);
	memset(mask, 0, sizeof(mask));
	/* The raw call returns how many bytes of mask it wrote. */
	long n = syscall(SYS_sched_getaffinity, 0, sizeof(mask), mask);
	EXPECT_TRUE(n >= 8 && n % 8 == 0 && n <= (long)sizeof(mask));
	int count = 0;
	for (int i = 0; i < 64 * 16; i++)
		count += (mask[i / 64] >> (i % 64)) & 1;
	EXPECT_TRUE(count >= 1);
	ktap_diag("%d CPUs in the affinity mask, %ld online", count, ncpu);
	EXPECT_ERRNO(syscall(SYS_sched_getaffinity, 0, 0, mask), EINVAL);
	EXPECT_ERRNO(syscall(SYS_sched_getaffinity, 0, 7, mask), EINVAL);
	EXPECT_ERRNO(syscall(SYS_sched_getaffinity, 0, sizeof(mask), NULL), EFAULT);
	EXPECT_ERRNO(syscall(SYS_sched_getaffinity, 0, sizeof(mask), KPTR), EFAULT);
	EXPECT_ERRNO(syscall(SYS_sched_getaffinity, 0x3ffffff0, sizeof(mask), mask), ESRCH);

	unsigned long saved[16];
	memcpy(saved, mask, sizeof(mask));
	int first = -1;
	for (int i = 0; i < 64 * 16 && first < 0; i++)
		if ((mask[i / 64] >> (i % 64)) & 1)
			first = i;
	unsigned long one[16] = { 0 };
	one[first / 64] = 1UL << (first % 64);
	EXPECT_EQ(syscall(SYS_sched_setaffinity, 0, sizeof(one), one), 0);
	memset(mask, 0, sizeof(mask));
	EXPECT_TRUE(syscall(SYS_sched_getaffinity, 0, sizeof(mask), mask) > 0);
	EXPECT_TRUE(memcmp(mask, one, sizeof(one)) == 0);
	unsigned long none[16] = { 0 };
	EXPECT_ERRNO(syscall(SYS_sched_setaffinity, 0, sizeof(none), none), EINVAL);
	unsigned long absent[16] = { 0 };
	absent[15] = 1UL << 63; /* CPU 1023 */
	EXPECT_ERRNO(syscall(SYS_sched_setaffinity, 0, sizeof(absent), absent), EINVAL);
	EXPECT_ERRNO(syscall(SYS_sched_setaffinity, 0, sizeof(one), NULL), EFAULT);
	EXPECT_ERRNO(syscall(SYS_sched_setaffinity, 0x3ffffff0, sizeof(one), one), ESRCH);
	EXPECT_EQ(syscall(SYS_sched_setaffinity, 0, sizeof(saved), saved), 0);
}

/*
 * Numbers Linux x86_64 leaves unused (inside the gap 337..423; 335 and 336 are
 * now uretprobe/uprobe, which raise SIGILL or fail outside a trampoline; the
 * 0x40000000 x32 bit) and numbers far past the table: ENOSYS, nothing else.
 * Linux reads the number as a 32-bit int, so no case sets bits above 31
 * except -1 and -100 (all ones above).
 */
static void unknown_syscall_is_enosys(void)
{
	static const long numbers[] = { 350, 400, 420, 1000, 4096, 0x3fffffff,
					0x40000000 + 500, 0x7fffffff, -1L, -100L };
	for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++)
		if (!EXPECT_ERRNO(syscall(numbers[i], 1, 2, 3, 4, 5, 6), ENOSYS))
			ktap_diag("case: syscall number %#lx", numbers[i]);
}

/* reboot(2) refuses wrong magic numbers and unknown commands (EPERM first when
 * not root, as Linux checks the capability before the rest); never a real command
 * here. sync(2) always succeeds. */
static void sync_and_reboot_argument_checks(void)
{
	int refused = geteuid() == 0 ? EINVAL : EPERM;
	EXPECT_EQ(syscall(SYS_sync), 0);
	EXPECT_ERRNO(syscall(SYS_reboot, 0x12345678, 672274793, 0x4321fedc, 0), refused);
	EXPECT_ERRNO(syscall(SYS_reboot, 0xfee1dead, 1, 0x4321fedc, 0), refused);
	EXPECT_ERRNO(syscall(SYS_reboot, 0xfee1dead, 672274793, 0x7777, 0), refused);
}

static const struct ktap_case cases[] = {
	KTAP_CASE(uname_fields),
	KTAP_CASE(getrandom_cases),
	KTAP_CASE(uid_gid_calls),
	KTAP_CASE(process_groups),
	KTAP_CASE(sessions),
	KTAP_CASE(umask_returns_previous),
	KTAP_CASE(rlimits),
	KTAP_CASE(set_robust_list_len),
	KTAP_CASE(sysinfo_fields),
	KTAP_CASE(sched_yield_and_affinity),
	KTAP_CASE(sync_and_reboot_argument_checks),
	KTAP_CASE(unknown_syscall_is_enosys),
};

int main(int argc, char **argv)
{
	return ktap_main(argc, argv, cases, KTAP_NCASES(cases));
}
