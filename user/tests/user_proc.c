/*
 * user_proc: processes: fork, vfork, clone (as fork), execve, exit,
 * exit_group, wait4, waitid, getpid, getppid, gettid; 1000 fork+exit+wait
 * cycles and 100 live children at once.
 *
 * The suite re-executes itself (/tests/user_proc under EXO_ROOT) with
 * argv[1] = "exec-child" to check what execve passes to the new image.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <time.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"
#include "ktap.h"

#define KPTR KTAP_KERNEL_PTR

extern char **environ;

static long sys_wait4(long pid, int *status, long options)
{
	return syscall(SYS_wait4, pid, status, options, NULL);
}

static void ids_are_consistent(void)
{
	pid_t pid = (pid_t)syscall(SYS_getpid);
	EXPECT_TRUE(pid > 0);
	EXPECT_EQ(syscall(SYS_gettid), pid);
	EXPECT_TRUE(syscall(SYS_getppid) >= 0);
	EXPECT_TRUE(syscall(SYS_getppid) != pid);
}

static void fork_child_sees_parent_as_ppid(void)
{
	int p[2];
	pid_t parent = getpid();

	if (EXPECT_OK(pipe2(p, 0)) != 0)
		return;
	long pid = syscall(SYS_fork);
	if (pid == 0) {
		pid_t ids[3] = { (pid_t)syscall(SYS_getpid), (pid_t)syscall(SYS_getppid),
				 (pid_t)syscall(SYS_gettid) };
		write(p[1], ids, sizeof(ids));
		syscall(SYS_exit_group, 0);
	}
	EXPECT_TRUE(pid > 0);
	pid_t ids[3] = { 0 };
	EXPECT_EQ(read(p[0], ids, sizeof(ids)), (long)sizeof(ids));
	EXPECT_EQ(ids[0], pid);
	EXPECT_EQ(ids[1], parent);
	EXPECT_EQ(ids[2], pid);
	int status = 0;
	EXPECT_EQ(sys_wait4(pid, &status, 0), pid);
	EXPECT_EXITED(status, 0);
	close(p[0]);
	close(p[1]);
}

static void exit_codes_are_masked(void)
{
	static const struct {
		long nr, code;
		int want;
	} table[] = {
		{ SYS_exit, 0, 0 },	    { SYS_exit, 3, 3 },	    { SYS_exit, 255, 255 },
		{ SYS_exit, 256, 0 },	    { SYS_exit, -1, 255 },  { SYS_exit_group, 7, 7 },
		{ SYS_exit_group, 0x1234, 0x34 },
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		long pid = syscall(SYS_fork);
		if (pid == 0)
			syscall(table[i].nr, table[i].code);
		int status = 0;
		EXPECT_EQ(sys_wait4(pid, &status, 0), pid);
		if (!EXPECT_EXITED(status, table[i].want))
			ktap_diag("case: syscall %ld with code %ld", table[i].nr, table[i].code);
	}
}

static void wait4_errors(void)
{
	int status;

	EXPECT_ERRNO(sys_wait4(-1, &status, 0), ECHILD);
	EXPECT_ERRNO(sys_wait4(1, &status, 0), ECHILD);
	EXPECT_ERRNO(sys_wait4(getpid(), &status, 0), ECHILD);
	EXPECT_ERRNO(sys_wait4(-1, &status, 0x12345678), EINVAL);
	EXPECT_ERRNO(sys_wait4(-1, &status, WNOHANG), ECHILD);

	long pid = syscall(SYS_fork);
	if (pid == 0)
		syscall(SYS_exit_group, 5);
	/* A bad status pointer is EFAULT. */
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	EXPECT_ERRNO(sys_wait4(pid, KPTR, 0), EFAULT);
	/* Whatever happened to that child, reap it now (NULL status is fine). */
	sys_wait4(pid, NULL, 0);
	EXPECT_ERRNO(sys_wait4(pid, &status, 0), ECHILD);
}

static void wait4_wnohang_and_any(void)
{
	int p[2];
	int status = -1;

	if (EXPECT_OK(pipe2(p, 0)) != 0)
		return;
	long pid = syscall(SYS_fork);
	if (pid == 0) {
		char c;
		read(p[0], &c, 1);
		syscall(SYS_exit_group, 9);
	}
	EXPECT_EQ(sys_wait4(pid, &status, WNOHANG), 0);
	EXPECT_EQ(sys_wait4(-1, &status, WNOHANG), 0);
	EXPECT_EQ(write(p[1], "x", 1), 1);
	EXPECT_EQ(sys_wait4(-1, &status, 0), pid);
	EXPECT_EXITED(status, 9);
	close(p[0]);
	close(p[1]);
}

static void wait4_reports_signal_death(void)
{
	long pid = syscall(SYS_fork);
	if (pid == 0) {
		for (;;)
			pause();
	}
	int status = 0;
	EXPECT_EQ(kill(pid, SIGTERM), 0);
	EXPECT_EQ(sys_wait4(pid, &status, 0), pid);
	EXPECT_KILLED_BY(status, SIGTERM);
	pid = syscall(SYS_fork);
	if (pid == 0) {
		for (;;)
			pause();
	}
	EXPECT_EQ(kill(pid, SIGKILL), 0);
	EXPECT_EQ(sys_wait4(pid, &status, 0), pid);
	EXPECT_KILLED_BY(status, SIGKILL);
}

static void waitid_cases(void)
{
	siginfo_t si;

	long pid = syscall(SYS_fork);
	if (pid == 0)
		syscall(SYS_exit_group, 17);
	/* WNOWAIT leaves the child waitable. */
	memset(&si, 0, sizeof(si));
	EXPECT_EQ(syscall(SYS_waitid, P_PID, pid, &si, WEXITED | WNOWAIT, NULL), 0);
	EXPECT_EQ(si.si_signo, SIGCHLD);
	EXPECT_EQ(si.si_code, CLD_EXITED);
	EXPECT_EQ(si.si_pid, pid);
	EXPECT_EQ(si.si_status, 17);
	memset(&si, 0, sizeof(si));
	EXPECT_EQ(syscall(SYS_waitid, P_ALL, 0, &si, WEXITED, NULL), 0);
	EXPECT_EQ(si.si_pid, pid);
	EXPECT_EQ(si.si_status, 17);
	EXPECT_ERRNO(syscall(SYS_waitid, P_PID, pid, &si, WEXITED, NULL), ECHILD);

	pid = syscall(SYS_fork);
	if (pid == 0) {
		for (;;)
			pause();
	}
	memset(&si, 0xff, sizeof(si));
	EXPECT_EQ(syscall(SYS_waitid, P_PID, pid, &si, WEXITED | WNOHANG, NULL), 0);
	EXPECT_EQ(si.si_pid, 0);
	kill(pid, SIGKILL);
	EXPECT_EQ(syscall(SYS_waitid, P_PID, pid, &si, WEXITED, NULL), 0);
	EXPECT_EQ(si.si_code, CLD_KILLED);
	EXPECT_EQ(si.si_status, SIGKILL);

	EXPECT_ERRNO(syscall(SYS_waitid, 99, 0, &si, WEXITED, NULL), EINVAL);
	EXPECT_ERRNO(syscall(SYS_waitid, P_ALL, 0, &si, 0, NULL), EINVAL);
	EXPECT_ERRNO(syscall(SYS_waitid, P_ALL, 0, &si, WEXITED | 0x12340000, NULL), EINVAL);
	EXPECT_ERRNO(syscall(SYS_waitid, P_ALL, 0, &si, WEXITED, NULL), ECHILD);
	EXPECT_ERRNO(syscall(SYS_waitid, P_PID, 0, &si, WEXITED, NULL), EINVAL);
}

static void clone_as_fork(void)
{
	long pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	if (pid == 0)
		syscall(SYS_exit_group, 12);
	EXPECT_TRUE(pid > 0);
	int status = 0;
	EXPECT_EQ(sys_wait4(pid, &status, 0), pid);
	EXPECT_EXITED(status, 12);
	/* A child with no exit signal is only seen by __WALL or __WCLONE. */
	pid = syscall(SYS_clone, 0, 0, 0, 0, 0);
	if (pid == 0)
		syscall(SYS_exit_group, 13);
	EXPECT_TRUE(pid > 0);
	EXPECT_EQ(sys_wait4(pid, &status, __WALL), pid);
	EXPECT_EXITED(status, 13);
	EXPECT_ERRNO(syscall(SYS_clone, CLONE_THREAD, 0, 0, 0, 0), EINVAL);
}

static void vfork_shares_memory_until_exit(void)
{
	static volatile int shared;

	shared = 1;
	pid_t pid = vfork();
	if (pid == 0) {
		shared = 2;
		_exit(4);
	}
	EXPECT_EQ(shared, 2);
	int status = 0;
	EXPECT_EQ(sys_wait4(pid, &status, 0), pid);
	EXPECT_EXITED(status, 4);
}

static int run_busybox(char *const argv[], int use_vfork)
{
	const char *bb = ktap_path("/bin/busybox");
	pid_t pid = use_vfork ? vfork() : fork();
	if (pid == 0) {
		syscall(SYS_execve, bb, argv, environ);
		_exit(127);
	}
	int status = -1;
	sys_wait4(pid, &status, 0);
	return status;
}

static void execve_busybox(void)
{
	char *t[] = { "true", NULL }, *f[] = { "false", NULL };
	char *sh[] = { "sh", "-c", "exit 3", NULL };

	EXPECT_EXITED(run_busybox(t, 0), 0);
	EXPECT_EXITED(run_busybox(f, 0), 1);
	EXPECT_EXITED(run_busybox(sh, 0), 3);
	EXPECT_EXITED(run_busybox(t, 1), 0);
	EXPECT_EXITED(run_busybox(sh, 1), 3);
}

/* The exec'd image of this suite: checks argv, envp, fds; exit 42 when all hold. */
static int exec_child_main(int argc, char **argv)
{
	if (argc != 5 || strcmp(argv[2], "two words") != 0 || strcmp(argv[3], "") != 0)
		return 10;
	const char *v = getenv("KTAP_EXEC_VAR");
	if (!v || strcmp(v, "value=with=equals") != 0)
		return 11;
	int kept = atoi(argv[4]) & 0xffff, dropped = atoi(argv[4]) >> 16;
	if (syscall(SYS_fcntl, kept, F_GETFD) != 0)
		return 12;
	if (syscall(SYS_fcntl, dropped, F_GETFD) != -1 || errno != EBADF)
		return 13;
	char c;
	if (read(kept, &c, 1) != 1 || c != 'x')
		return 14;
	return 42;
}

static void execve_passes_argv_envp_and_drops_cloexec(void)
{
	int kept = (int)syscall(SYS_open, ktap_path("/etc/hostname"), O_RDONLY);
	int dropped = (int)syscall(SYS_open, ktap_path("/etc/hostname"), O_RDONLY | O_CLOEXEC);
	char fds[32], self[4096], root[4200];
	const char *r = getenv("EXO_ROOT");

	EXPECT_TRUE(kept >= 0 && dropped >= 0);
	/* The child reads 'x' at offset 1: the offset is shared across exec. */
	lseek(kept, 1, SEEK_SET);
	snprintf(fds, sizeof(fds), "%d", kept | (dropped << 16));
	snprintf(self, sizeof(self), "%s", ktap_path("/tests/user_proc"));
	snprintf(root, sizeof(root), "EXO_ROOT=%s", r ? r : "");
	char *argv[] = { self, "exec-child", "two words", "", fds, NULL };
	char *envp[] = { "KTAP_EXEC_VAR=value=with=equals", root, NULL };
	pid_t pid = fork();
	if (pid == 0) {
		syscall(SYS_execve, self, argv, envp);
		_exit(127);
	}
	int status = 0;
	EXPECT_EQ(sys_wait4(pid, &status, 0), pid);
	EXPECT_EXITED(status, 42);
	close(kept);
	close(dropped);
}

static void execve_errors(void)
{
	char *argv[] = { "x", NULL };
	char *bad_argv[] = { "x", KPTR, NULL };

	EXPECT_ERRNO(syscall(SYS_execve, ktap_path("/no/such"), argv, environ), ENOENT);
	EXPECT_ERRNO(syscall(SYS_execve, ktap_path(FIXTURE_DIR "/data.txt"), argv, environ),
		     EACCES);
	EXPECT_ERRNO(syscall(SYS_execve, ktap_path(FIXTURE_DIR "/notelf"), argv, environ), ENOEXEC);
	EXPECT_ERRNO(syscall(SYS_execve, ktap_path(FIXTURE_DIR "/empty"), argv, environ), EACCES);
	EXPECT_ERRNO(syscall(SYS_execve, ktap_path(FIXTURE_DIR), argv, environ), EACCES);
	EXPECT_ERRNO(syscall(SYS_execve, ktap_path(FIXTURE_DIR "/data.txt/x"), argv, environ),
		     ENOTDIR);
	EXPECT_ERRNO(syscall(SYS_execve, NULL, argv, environ), EFAULT);
	EXPECT_ERRNO(syscall(SYS_execve, KPTR, argv, environ), EFAULT);
	const char *bb = ktap_path("/bin/busybox");
	EXPECT_ERRNO(syscall(SYS_execve, bb, KPTR, environ), EFAULT);
	EXPECT_ERRNO(syscall(SYS_execve, bb, bad_argv, environ), EFAULT);
	EXPECT_ERRNO(syscall(SYS_execve, bb, argv, KPTR), EFAULT);
	EXPECT_ERRNO(syscall(SYS_execve, bb, argv, bad_argv), EFAULT);
	/* Still here, still ourselves. */
	EXPECT_EQ(syscall(SYS_gettid), getpid());
}

static void fork_exit_wait_1000_cycles(void)
{
	for (int i = 0; i < 1000; i++) {
		long pid = syscall(SYS_fork);
		if (pid == 0)
			syscall(SYS_exit_group, i & 0xff);
		if (pid < 0) {
			ktap_fail_at(__FILE__, __LINE__, "fork #%d: %s", i, ktap_errno_name(errno));
			return;
		}
		int status = 0;
		if (sys_wait4(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != (i & 0xff)) {
			ktap_fail_at(__FILE__, __LINE__, "cycle %d: pid %ld, %s", i, pid,
				     ktap_status_str(status));
			return;
		}
	}
	EXPECT_ERRNO(sys_wait4(-1, NULL, WNOHANG), ECHILD);
}

static void hundred_live_children(void)
{
	enum { N = 100 };
	pid_t pids[N];
	int p[2];
	int n;

	if (EXPECT_OK(pipe2(p, 0)) != 0)
		return;
	for (n = 0; n < N; n++) {
		pids[n] = fork();
		if (pids[n] == 0) {
			char c;
			close(p[1]);
			/* Blocks until the parent closes the write end: all alive at once. */
			_exit(read(p[0], &c, 1) == 0 ? 0 : 1);
		}
		if (pids[n] < 0) {
			ktap_fail_at(__FILE__, __LINE__, "fork #%d: %s", n, ktap_errno_name(errno));
			break;
		}
	}
	/* All alive: signal 0 reaches each one. */
	for (int i = 0; i < n; i++)
		if (kill(pids[i], 0) != 0)
			ktap_fail_at(__FILE__, __LINE__, "child %d not alive", pids[i]);
	EXPECT_EQ(sys_wait4(-1, NULL, WNOHANG), 0);
	close(p[1]);
	close(p[0]);
	int reaped = 0, bad = 0;
	for (int i = 0; i < n; i++) {
		int status = 0;
		long got = sys_wait4(-1, &status, 0);
		if (got <= 0)
			break;
		reaped++;
		bad += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	EXPECT_EQ(reaped, N);
	EXPECT_EQ(bad, 0);
	EXPECT_ERRNO(sys_wait4(-1, NULL, WNOHANG), ECHILD);
}

static void zombie_stays_until_reaped(void)
{
	long pid = syscall(SYS_fork);
	if (pid == 0)
		syscall(SYS_exit_group, 0);
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	EXPECT_EQ(syscall(SYS_waitid, P_PID, pid, &si, WEXITED | WNOWAIT, NULL), 0);
	/* A zombie still exists for kill(pid, 0). */
	EXPECT_EQ(kill((pid_t)pid, 0), 0);
	EXPECT_EQ(sys_wait4(pid, NULL, 0), pid);
	EXPECT_ERRNO(kill((pid_t)pid, 0), ESRCH);
}

static const struct ktap_case cases[] = {
	KTAP_CASE(ids_are_consistent),
	KTAP_CASE(fork_child_sees_parent_as_ppid),
	KTAP_CASE(exit_codes_are_masked),
	KTAP_CASE(wait4_errors),
	KTAP_CASE(wait4_wnohang_and_any),
	KTAP_CASE(wait4_reports_signal_death),
	KTAP_CASE(waitid_cases),
	KTAP_CASE(clone_as_fork),
	KTAP_CASE(vfork_shares_memory_until_exit),
	KTAP_CASE(execve_busybox),
	KTAP_CASE(execve_passes_argv_envp_and_drops_cloexec),
	KTAP_CASE(execve_errors),
	KTAP_CASE(fork_exit_wait_1000_cycles),
	KTAP_CASE(hundred_live_children),
	KTAP_CASE(zombie_stays_until_reaped),
};

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "exec-child") == 0)
		return exec_child_main(argc, argv);
	return ktap_main(argc, argv, cases, KTAP_NCASES(cases));
}
