/*
 * user_signal: rt_sigaction, rt_sigprocmask, rt_sigreturn (handlers that
 * return, and ones that edit the saved context), sigaltstack, kill, tgkill,
 * SIGCHLD, SIGPIPE, default actions, EINTR and SA_RESTART.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "ktap.h"

#define KPTR KTAP_KERNEL_PTR
#define SIGSET_BYTES 8

/* The kernel's struct sigaction (rt_sigaction): handler, flags, restorer, mask. */
struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

static volatile sig_atomic_t hits;
static volatile int last_signo, last_code, last_pid;
static volatile uintptr_t handler_stack;
static volatile int handler_onstack_flag;

static void count_handler(int sig)
{
	hits++;
	last_signo = sig;
}

static void info_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	hits++;
	last_signo = sig;
	last_code = si->si_code;
	last_pid = si->si_pid;
}

static void install(int sig, void (*fn)(int), int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sa.sa_flags = flags;
	sigaction(sig, &sa, NULL);
}

static void install_info(int sig, void (*fn)(int, siginfo_t *, void *), int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = fn;
	sa.sa_flags = flags | SA_SIGINFO;
	sigaction(sig, &sa, NULL);
}

static void handler_runs_with_siginfo(void)
{
	hits = 0;
	install_info(SIGUSR1, info_handler, 0);
	EXPECT_EQ(syscall(SYS_kill, getpid(), SIGUSR1), 0);
	EXPECT_EQ(hits, 1);
	EXPECT_EQ(last_signo, SIGUSR1);
	EXPECT_EQ(last_code, SI_USER);
	EXPECT_EQ(last_pid, getpid());
	EXPECT_EQ(syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1), 0);
	EXPECT_EQ(hits, 2);
	EXPECT_EQ(last_code, SI_TKILL);
	install(SIGUSR1, SIG_DFL, 0);
}

static void rt_sigaction_errors(void)
{
	struct ksigaction ka = { (void *)count_handler, 0, NULL, 0 }, old;

	EXPECT_ERRNO(syscall(SYS_rt_sigaction, SIGKILL, &ka, NULL, SIGSET_BYTES), EINVAL);
	EXPECT_ERRNO(syscall(SYS_rt_sigaction, SIGSTOP, &ka, NULL, SIGSET_BYTES), EINVAL);
	/* Reading SIGKILL's action is allowed. */
	EXPECT_EQ(syscall(SYS_rt_sigaction, SIGKILL, NULL, &old, SIGSET_BYTES), 0);
	EXPECT_ERRNO(syscall(SYS_rt_sigaction, 0, &ka, NULL, SIGSET_BYTES), EINVAL);
	EXPECT_ERRNO(syscall(SYS_rt_sigaction, 65, &ka, NULL, SIGSET_BYTES), EINVAL);
	EXPECT_ERRNO(syscall(SYS_rt_sigaction, -1, &ka, NULL, SIGSET_BYTES), EINVAL);
	EXPECT_ERRNO(syscall(SYS_rt_sigaction, SIGUSR1, &ka, NULL, 4), EINVAL);
	EXPECT_ERRNO(syscall(SYS_rt_sigaction, SIGUSR1, &ka, NULL, 16), EINVAL);
	EXPECT_ERRNO(syscall(SYS_rt_sigaction, SIGUSR1, KPTR, NULL, SIGSET_BYTES), EFAULT);
	EXPECT_ERRNO(syscall(SYS_rt_sigaction, SIGUSR1, NULL, KPTR, SIGSET_BYTES), EFAULT);
	/* old action round trip */
	EXPECT_EQ(syscall(SYS_rt_sigaction, SIGUSR2, &ka, NULL, SIGSET_BYTES), 0);
	memset(&old, 0, sizeof(old));
	EXPECT_EQ(syscall(SYS_rt_sigaction, SIGUSR2, NULL, &old, SIGSET_BYTES), 0);
	EXPECT_EQ((uintptr_t)old.handler, (uintptr_t)count_handler);
	install(SIGUSR2, SIG_DFL, 0);
}

static void sigprocmask_blocks_then_delivers(void)
{
	uint64_t set = 1UL << (SIGUSR1 - 1), old = 0, cur = 0;

	hits = 0;
	install(SIGUSR1, count_handler, 0);
	EXPECT_EQ(syscall(SYS_rt_sigprocmask, SIG_BLOCK, &set, &old, SIGSET_BYTES), 0);
	EXPECT_EQ(syscall(SYS_kill, getpid(), SIGUSR1), 0);
	EXPECT_EQ(syscall(SYS_kill, getpid(), SIGUSR1), 0);
	EXPECT_EQ(hits, 0);
	uint64_t pending = 0;
	EXPECT_EQ(syscall(SYS_rt_sigpending, &pending, SIGSET_BYTES), 0);
	EXPECT_TRUE(pending & set);
	/* Standard signals do not queue: two sends, one delivery. */
	EXPECT_EQ(syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &set, &cur, SIGSET_BYTES), 0);
	EXPECT_EQ(hits, 1);
	EXPECT_TRUE(cur & set);
	/* SIGKILL and SIGSTOP cannot be blocked: silently dropped from the mask. */
	uint64_t all = ~0UL;
	EXPECT_EQ(syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, SIGSET_BYTES), 0);
	EXPECT_EQ(syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, &cur, SIGSET_BYTES), 0);
	EXPECT_EQ(cur & (1UL << (SIGKILL - 1)), 0);
	EXPECT_EQ(cur & (1UL << (SIGSTOP - 1)), 0);
	EXPECT_ERRNO(syscall(SYS_rt_sigprocmask, 3, &set, NULL, SIGSET_BYTES), EINVAL);
	EXPECT_ERRNO(syscall(SYS_rt_sigprocmask, SIG_BLOCK, &set, NULL, 4), EINVAL);
	EXPECT_ERRNO(syscall(SYS_rt_sigprocmask, SIG_BLOCK, KPTR, NULL, SIGSET_BYTES), EFAULT);
	EXPECT_ERRNO(syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, KPTR, SIGSET_BYTES), EFAULT);
	/* A NULL set only reads the mask, whatever `how` says. */
	EXPECT_EQ(syscall(SYS_rt_sigprocmask, 3, NULL, &cur, SIGSET_BYTES), 0);
	install(SIGUSR1, SIG_DFL, 0);
}

static volatile uint64_t mask_in_handler;

static void mask_handler(int sig)
{
	(void)sig;
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &mask_in_handler, SIGSET_BYTES);
	hits++;
}

static void handler_mask_and_sigreturn_restore(void)
{
	struct sigaction sa;
	uint64_t before = 0, after = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = mask_handler;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	sigaction(SIGUSR1, &sa, NULL);
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &before, SIGSET_BYTES);
	hits = 0;
	kill(getpid(), SIGUSR1);
	EXPECT_EQ(hits, 1);
	EXPECT_TRUE(mask_in_handler & (1UL << (SIGUSR1 - 1)));
	EXPECT_TRUE(mask_in_handler & (1UL << (SIGUSR2 - 1)));
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &after, SIGSET_BYTES);
	EXPECT_EQ(after, before);
	/* SA_NODEFER leaves the signal itself unblocked. */
	sa.sa_flags = SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	kill(getpid(), SIGUSR1);
	EXPECT_EQ(mask_in_handler & (1UL << (SIGUSR1 - 1)), 0);
	/* SA_RESETHAND: one shot, then the default. */
	sa.sa_flags = SA_RESETHAND;
	sigaction(SIGUSR1, &sa, NULL);
	kill(getpid(), SIGUSR1);
	struct sigaction now;
	sigaction(SIGUSR1, NULL, &now);
	EXPECT_TRUE(now.sa_handler == SIG_DFL);
	install(SIGUSR1, SIG_DFL, 0);
}

static void alt_handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	volatile int local;
	(void)sig;
	(void)si;
	handler_stack = (uintptr_t)&local;
	stack_t ss;
	syscall(SYS_sigaltstack, NULL, &ss);
	handler_onstack_flag = (ss.ss_flags & SS_ONSTACK) != 0;
	(void)uc;
	hits++;
}

static void sigaltstack_cases(void)
{
	static char stack[64 * 1024];
	stack_t ss = { .ss_sp = stack, .ss_size = sizeof(stack), .ss_flags = 0 }, old;

	EXPECT_EQ(syscall(SYS_sigaltstack, &ss, &old), 0);
	install_info(SIGUSR1, alt_handler, SA_ONSTACK);
	hits = 0;
	kill(getpid(), SIGUSR1);
	EXPECT_EQ(hits, 1);
	EXPECT_TRUE(handler_stack >= (uintptr_t)stack && handler_stack < (uintptr_t)stack + sizeof(stack));
	EXPECT_EQ(handler_onstack_flag, 1);
	/* Without SA_ONSTACK the handler stays on the normal stack. */
	install_info(SIGUSR1, alt_handler, 0);
	kill(getpid(), SIGUSR1);
	EXPECT_TRUE(handler_stack < (uintptr_t)stack || handler_stack >= (uintptr_t)stack + sizeof(stack));
	EXPECT_EQ(handler_onstack_flag, 0);
	stack_t cur;
	EXPECT_EQ(syscall(SYS_sigaltstack, NULL, &cur), 0);
	EXPECT_EQ((uintptr_t)cur.ss_sp, (uintptr_t)stack);
	EXPECT_EQ(cur.ss_size, sizeof(stack));
	stack_t small = { .ss_sp = stack, .ss_size = 1024, .ss_flags = 0 };
	EXPECT_ERRNO(syscall(SYS_sigaltstack, &small, NULL), ENOMEM);
	stack_t badflags = { .ss_sp = stack, .ss_size = sizeof(stack), .ss_flags = 0x1234 };
	EXPECT_ERRNO(syscall(SYS_sigaltstack, &badflags, NULL), EINVAL);
	EXPECT_ERRNO(syscall(SYS_sigaltstack, KPTR, NULL), EFAULT);
	EXPECT_ERRNO(syscall(SYS_sigaltstack, NULL, KPTR), EFAULT);
	stack_t off = { .ss_flags = SS_DISABLE };
	EXPECT_EQ(syscall(SYS_sigaltstack, &off, NULL), 0);
	EXPECT_EQ(syscall(SYS_sigaltstack, NULL, &cur), 0);
	EXPECT_EQ(cur.ss_flags, SS_DISABLE);
	install(SIGUSR1, SIG_DFL, 0);
}

static void kill_and_tgkill_errors(void)
{
	EXPECT_EQ(syscall(SYS_kill, getpid(), 0), 0);
	EXPECT_ERRNO(syscall(SYS_kill, 0x3ffffff0, 0), ESRCH);
	EXPECT_ERRNO(syscall(SYS_kill, 0x3ffffff0, SIGTERM), ESRCH);
	EXPECT_ERRNO(syscall(SYS_kill, getpid(), 65), EINVAL);
	EXPECT_ERRNO(syscall(SYS_kill, getpid(), -1), EINVAL);
	long tid = syscall(SYS_gettid);
	EXPECT_EQ(syscall(SYS_tgkill, getpid(), tid, 0), 0);
	EXPECT_ERRNO(syscall(SYS_tgkill, getpid(), 0x3ffffff0, 0), ESRCH);
	EXPECT_ERRNO(syscall(SYS_tgkill, 0x3ffffff0, tid, 0), ESRCH);
	EXPECT_ERRNO(syscall(SYS_tgkill, getpid(), 0, 0), EINVAL);
	EXPECT_ERRNO(syscall(SYS_tgkill, 0, tid, 0), EINVAL);
	EXPECT_ERRNO(syscall(SYS_tgkill, -1, tid, 0), EINVAL);
	EXPECT_ERRNO(syscall(SYS_tgkill, getpid(), tid, 65), EINVAL);
}

static void sigchld_on_child_exit(void)
{
	hits = 0;
	install_info(SIGCHLD, info_handler, 0);
	pid_t pid = fork();
	if (pid == 0)
		_exit(6);
	int status;
	/* The signal arrives before (or while) wait4 returns. */
	while (hits == 0) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	EXPECT_EQ(last_signo, SIGCHLD);
	EXPECT_EQ(last_code, CLD_EXITED);
	EXPECT_EQ(last_pid, pid);
	EXPECT_EQ(waitpid(pid, &status, 0), pid);
	EXPECT_EXITED(status, 6);
	install(SIGCHLD, SIG_DFL, 0);
}

static int sigpipe_child(void *arg)
{
	(void)arg;
	int p[2];
	if (pipe(p) != 0)
		return 1;
	close(p[0]);
	syscall(SYS_write, p[1], "x", 1);
	return 2; /* not reached: SIGPIPE kills by default */
}

static void sigpipe_default_kills(void)
{
	EXPECT_KILLED_BY(ktap_run_child(sigpipe_child, NULL), SIGPIPE);
}

static int raise_child(void *arg)
{
	int sig = (int)(intptr_t)arg;
	syscall(SYS_kill, getpid(), sig);
	return 100;
}

static void default_actions(void)
{
	const int kills[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGALRM,
				     SIGKILL, SIGQUIT, SIGABRT, SIGSEGV, SIGSYS, 40 /* a real-time signal */ };
	static const int ignored[] = { SIGCHLD, SIGURG, SIGWINCH, SIGCONT };

	for (size_t i = 0; i < sizeof(kills) / sizeof(kills[0]); i++)
		EXPECT_KILLED_BY(ktap_run_child(raise_child, (void *)(intptr_t)kills[i]), kills[i]);
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		if (!EXPECT_EXITED(ktap_run_child(raise_child, (void *)(intptr_t)ignored[i]), 100))
			ktap_diag("case: %s", ktap_signal_name(ignored[i]));
}

static int ignore_child(void *arg)
{
	(void)arg;
	signal(SIGTERM, SIG_IGN);
	syscall(SYS_kill, getpid(), SIGTERM);
	/* SIGKILL cannot be ignored */
	signal(SIGKILL, SIG_IGN);
	syscall(SYS_kill, getpid(), SIGKILL);
	return 100;
}

static void ignored_and_unignorable(void)
{
	EXPECT_KILLED_BY(ktap_run_child(ignore_child, NULL), SIGKILL);
}

/* A child that sleeps, then signals its parent, then writes to a pipe. */
static pid_t poke_parent_later(int sig, int fd)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		struct timespec ts = { 0, 30 * 1000000 };
		nanosleep(&ts, NULL);
		kill(parent, sig);
		nanosleep(&ts, NULL);
		if (fd >= 0)
			write(fd, "r", 1);
		_exit(0);
	}
	return pid;
}

static void blocking_read_eintr_and_restart(void)
{
	int p[2];
	char c;

	if (EXPECT_OK(pipe(p)) != 0)
		return;
	install(SIGUSR1, count_handler, 0);
	hits = 0;
	pid_t pid = poke_parent_later(SIGUSR1, p[1]);
	EXPECT_ERRNO(syscall(SYS_read, p[0], &c, 1), EINTR);
	EXPECT_EQ(hits, 1);
	waitpid(pid, NULL, 0);
	EXPECT_EQ(read(p[0], &c, 1), 1);

	install(SIGUSR1, count_handler, SA_RESTART);
	hits = 0;
	pid = poke_parent_later(SIGUSR1, p[1]);
	EXPECT_EQ(syscall(SYS_read, p[0], &c, 1), 1);
	EXPECT_EQ(hits, 1);
	waitpid(pid, NULL, 0);

	/* nanosleep is never restarted; it reports the time left. */
	struct timespec req = { 5, 0 }, rem = { 0, 0 };
	pid = poke_parent_later(SIGUSR1, -1);
	EXPECT_ERRNO(syscall(SYS_nanosleep, &req, &rem), EINTR);
	EXPECT_TRUE(rem.tv_sec >= 3 && rem.tv_sec <= 5);
	waitpid(pid, NULL, 0);
	install(SIGUSR1, SIG_DFL, 0);
	close(p[0]);
	close(p[1]);
}

/* The handler moves RIP past a ud2: sigreturn resumes at the edited context. */
static void skip_ud2_handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	(void)sig;
	(void)si;
	uc->uc_mcontext.gregs[REG_RIP] += 2;
	uc->uc_mcontext.gregs[REG_RBX] = 0x1234;
	hits++;
}

static void sigreturn_uses_edited_context(void)
{
	long rbx = 0;

	install_info(SIGILL, skip_ud2_handler, 0);
	hits = 0;
	__asm__ volatile("xor %%ebx, %%ebx\n\tud2\n\tmov %%rbx, %0" : "=r"(rbx) : : "rbx");
	EXPECT_EQ(hits, 1);
	EXPECT_EQ(rbx, 0x1234);
	install(SIGILL, SIG_DFL, 0);
}

static volatile char order[8];
static volatile int order_len;

static void inner_handler(int sig)
{
	(void)sig;
	order[order_len++] = 'i';
}

static void outer_handler(int sig)
{
	(void)sig;
	order[order_len++] = '(';
	kill(getpid(), SIGUSR2);
	order[order_len++] = ')';
}

/* A handler interrupted by another signal's handler: both frames unwind. */
static void nested_handlers(void)
{
	order_len = 0;
	install(SIGUSR2, inner_handler, 0);
	install(SIGUSR1, outer_handler, 0);
	kill(getpid(), SIGUSR1);
	EXPECT_EQ(order_len, 3);
	EXPECT_TRUE(memcmp((const char *)order, "(i)", 3) == 0);
	install(SIGUSR1, SIG_DFL, 0);
	install(SIGUSR2, SIG_DFL, 0);
}

static const struct ktap_case cases[] = {
	KTAP_CASE(handler_runs_with_siginfo),
	KTAP_CASE(rt_sigaction_errors),
	KTAP_CASE(sigprocmask_blocks_then_delivers),
	KTAP_CASE(handler_mask_and_sigreturn_restore),
	KTAP_CASE(sigaltstack_cases),
	KTAP_CASE(kill_and_tgkill_errors),
	KTAP_CASE(sigchld_on_child_exit),
	KTAP_CASE(sigpipe_default_kills),
	KTAP_CASE(default_actions),
	KTAP_CASE(ignored_and_unignorable),
	KTAP_CASE(blocking_read_eintr_and_restart),
	KTAP_CASE(sigreturn_uses_edited_context),
	KTAP_CASE(nested_handlers),
};

int main(int argc, char **argv)
{
	return ktap_main(argc, argv, cases, KTAP_NCASES(cases));
}
