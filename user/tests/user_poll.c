/*
 * user_poll: readiness through poll, ppoll, select and pselect6 over pipes,
 * regular files and closed descriptors, FIONREAD on a pipe, and their argument
 * errors. One process (no fork), so a pipe's other end is the test itself, or
 * a second thread of it where a wait must end from outside.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"
#include "ktap.h"

#define KPTR KTAP_KERNEL_PTR

static long sys_poll(struct pollfd *fds, unsigned long n, int timeout_ms)
{
	return syscall(SYS_poll, fds, n, timeout_ms);
}

static void poll_pipe_readiness(void)
{
	int p[2];
	if (EXPECT_OK(pipe2(p, O_CLOEXEC)) != 0)
		return;
	struct pollfd fds[2] = { { p[0], POLLIN, -1 }, { p[1], POLLOUT, -1 } };

	/* Empty: only the write end is ready. */
	EXPECT_EQ(sys_poll(fds, 2, 0), 1);
	EXPECT_EQ(fds[0].revents, 0);
	EXPECT_EQ(fds[1].revents, POLLOUT);
	/* Data: the read end too. */
	EXPECT_EQ(write(p[1], "abc", 3), 3);
	EXPECT_EQ(sys_poll(fds, 2, 0), 2);
	EXPECT_EQ(fds[0].revents, POLLIN);
	/* A timeout with something ready returns at once. */
	EXPECT_EQ(sys_poll(fds, 1, 10000), 1);
	char buf[8];
	EXPECT_EQ(read(p[0], buf, sizeof(buf)), 3);
	/* Drained again: a short timeout expires with nothing. */
	EXPECT_EQ(sys_poll(fds, 1, 20), 0);
	EXPECT_EQ(fds[0].revents, 0);
	/* The writer gone: POLLHUP on the read end, whatever was asked. */
	close(p[1]);
	fds[0].events = 0;
	EXPECT_EQ(sys_poll(fds, 1, 0), 1);
	EXPECT_EQ(fds[0].revents, POLLHUP);
	close(p[0]);
}

static void poll_write_end_without_reader_is_pollerr(void)
{
	int p[2];
	if (EXPECT_OK(pipe2(p, 0)) != 0)
		return;
	close(p[0]);
	struct pollfd fd = { p[1], POLLOUT, 0 };
	EXPECT_EQ(sys_poll(&fd, 1, 0), 1);
	EXPECT_TRUE(fd.revents & POLLERR);
	close(p[1]);
}

static void poll_files_and_bad_fds(void)
{
	int fd = EXPECT_OK((int)syscall(SYS_open, ktap_path(FIXTURE_DIR "/data.txt"), O_RDONLY));
	int closed = EXPECT_OK((int)syscall(SYS_dup, fd));
	close(closed);
	struct pollfd fds[3] = { { fd, POLLIN | POLLOUT, 0 }, { closed, POLLIN, 0 },
				 { -1, POLLIN, 77 } };

	/* A regular file is always ready; a closed fd is POLLNVAL; a negative one
	 * is skipped with revents 0. */
	EXPECT_EQ(sys_poll(fds, 3, 0), 2);
	EXPECT_EQ(fds[0].revents, POLLIN | POLLOUT);
	EXPECT_EQ(fds[1].revents, POLLNVAL);
	EXPECT_EQ(fds[2].revents, 0);
	/* Nothing to watch: a plain timeout. */
	EXPECT_EQ(sys_poll(NULL, 0, 1), 0);
	close(fd);
}

static void poll_bad_arguments(void)
{
	struct rlimit rl;
	struct pollfd fd = { 0, POLLIN, 0 };

	getrlimit(RLIMIT_NOFILE, &rl);
	EXPECT_ERRNO(sys_poll(&fd, rl.rlim_cur + 1, 0), EINVAL);
	EXPECT_ERRNO(sys_poll(NULL, 1, 0), EFAULT);
	EXPECT_ERRNO(sys_poll(KPTR, 1, 0), EFAULT);
	EXPECT_ERRNO(sys_poll(ktap_readonly_page(), 1, 0), EFAULT);
}

static void ppoll_timeout_and_mask(void)
{
	int p[2];
	sigset_t mask;
	struct timespec zero = { 0, 0 }, bad = { 0, 1000000000 }, neg = { -1, 0 };

	if (EXPECT_OK(pipe2(p, 0)) != 0)
		return;
	struct pollfd fd = { p[0], POLLIN, 0 };
	sigemptyset(&mask);
	EXPECT_EQ(syscall(SYS_ppoll, &fd, 1, &zero, NULL, 8), 0);
	EXPECT_EQ(syscall(SYS_ppoll, &fd, 1, &zero, &mask, 8), 0);
	EXPECT_ERRNO(syscall(SYS_ppoll, &fd, 1, &bad, NULL, 8), EINVAL);
	EXPECT_ERRNO(syscall(SYS_ppoll, &fd, 1, &neg, NULL, 8), EINVAL);
	EXPECT_ERRNO(syscall(SYS_ppoll, &fd, 1, &zero, &mask, 4), EINVAL);
	EXPECT_ERRNO(syscall(SYS_ppoll, &fd, 1, KPTR, NULL, 8), EFAULT);
	EXPECT_EQ(write(p[1], "x", 1), 1);
	EXPECT_EQ(syscall(SYS_ppoll, &fd, 1, NULL, NULL, 8), 1);
	EXPECT_EQ(fd.revents, POLLIN);
	/* The caller's mask is back after the call. */
	sigset_t now;
	sigprocmask(SIG_SETMASK, NULL, &now);
	EXPECT_TRUE(!sigismember(&now, SIGUSR1));
	sigaddset(&mask, SIGUSR1);
	EXPECT_EQ(syscall(SYS_ppoll, &fd, 1, &zero, &mask, 8), 1);
	sigprocmask(SIG_SETMASK, NULL, &now);
	EXPECT_TRUE(!sigismember(&now, SIGUSR1));
	close(p[0]);
	close(p[1]);
}

static uint64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void poll_timeout_lasts_its_time(void)
{
	int p[2];
	if (EXPECT_OK(pipe2(p, 0)) != 0)
		return;
	struct pollfd fd = { p[0], POLLIN, 0 };
	/* Nothing ever comes: the call returns 0, and not before its time. */
	uint64_t start = monotonic_ms();
	EXPECT_EQ(sys_poll(&fd, 1, 60), 0);
	EXPECT_TRUE(monotonic_ms() - start >= 60);
	struct timespec ts = { 0, 40 * 1000000 };
	start = monotonic_ms();
	EXPECT_EQ(syscall(SYS_ppoll, &fd, 1, &ts, NULL, 8), 0);
	EXPECT_TRUE(monotonic_ms() - start >= 40);
	close(p[0]);
	close(p[1]);
}

struct later {
	int fd;            /* write a byte here, or */
	pthread_t target;  /* signal this thread, */
	int delay_ms;      /* after this long */
};

static void *act_later(void *arg)
{
	const struct later *l = arg;
	struct timespec ts = { 0, (long)l->delay_ms * 1000000 };
	nanosleep(&ts, NULL);
	if (l->fd >= 0)
		write(l->fd, "z", 1);
	else
		pthread_kill(l->target, SIGUSR1);
	return NULL;
}

static void on_usr1(int sig)
{
	(void)sig;
}

static void timed_poll_ends_on_an_event_or_a_signal(void)
{
	int p[2];
	if (EXPECT_OK(pipe2(p, 0)) != 0)
		return;
	struct pollfd fd = { p[0], POLLIN, 0 };
	pthread_t t;

	/* A write from another thread ends a long timed wait, with the fd ready. */
	struct later write_it = { p[1], pthread_self(), 30 };
	EXPECT_EQ(pthread_create(&t, NULL, act_later, &write_it), 0);
	EXPECT_EQ(sys_poll(&fd, 1, 60000), 1);
	EXPECT_EQ(fd.revents, POLLIN);
	pthread_join(t, NULL);

	/* A signal (handler, no SA_RESTART) ends it with EINTR; the fd is still
	 * readable afterwards, and a later short timeout still expires. */
	struct sigaction sa = { 0 };
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	char c;
	EXPECT_EQ(read(p[0], &c, 1), 1);
	struct later signal_it = { -1, pthread_self(), 30 };
	EXPECT_EQ(pthread_create(&t, NULL, act_later, &signal_it), 0);
	EXPECT_ERRNO(sys_poll(&fd, 1, 60000), EINTR);
	pthread_join(t, NULL);
	EXPECT_EQ(sys_poll(&fd, 1, 10), 0);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGUSR1, &sa, NULL);
	close(p[0]);
	close(p[1]);
}

static void select_pipe_and_errors(void)
{
	int p[2];
	fd_set rd, wr;
	struct timeval tv = { 0, 0 };

	if (EXPECT_OK(pipe2(p, 0)) != 0)
		return;
	FD_ZERO(&rd);
	FD_ZERO(&wr);
	FD_SET(p[0], &rd);
	FD_SET(p[1], &wr);
	EXPECT_EQ(syscall(SYS_select, p[1] + 1, &rd, &wr, NULL, &tv), 1);
	EXPECT_TRUE(!FD_ISSET(p[0], &rd));
	EXPECT_TRUE(FD_ISSET(p[1], &wr));
	EXPECT_EQ(write(p[1], "y", 1), 1);
	FD_SET(p[0], &rd);
	EXPECT_EQ(syscall(SYS_select, p[0] + 1, &rd, NULL, NULL, &tv), 1);
	EXPECT_TRUE(FD_ISSET(p[0], &rd));
	/* A short timeout with nothing ready: 0, the sets cleared, the time left 0. */
	char c;
	EXPECT_EQ(read(p[0], &c, 1), 1);
	tv = (struct timeval){ 0, 20000 };
	EXPECT_EQ(syscall(SYS_select, p[0] + 1, &rd, NULL, NULL, &tv), 0);
	EXPECT_TRUE(!FD_ISSET(p[0], &rd));
	EXPECT_EQ(tv.tv_sec, 0);
	EXPECT_EQ(tv.tv_usec, 0);
	/* A closed fd in a set is EBADF; a negative nfds EINVAL. */
	int closed = EXPECT_OK((int)syscall(SYS_dup, p[0]));
	close(closed);
	FD_ZERO(&rd);
	FD_SET(closed, &rd);
	tv = (struct timeval){ 0, 0 };
	EXPECT_ERRNO(syscall(SYS_select, closed + 1, &rd, NULL, NULL, &tv), EBADF);
	EXPECT_ERRNO(syscall(SYS_select, -1, NULL, NULL, NULL, &tv), EINVAL);
	tv = (struct timeval){ -1, 0 };
	EXPECT_ERRNO(syscall(SYS_select, 0, NULL, NULL, NULL, &tv), EINVAL);
	FD_ZERO(&rd);
	FD_SET(p[0], &rd);
	EXPECT_ERRNO(syscall(SYS_select, p[0] + 1, KPTR, NULL, NULL, NULL), EFAULT);
	close(p[0]);
	close(p[1]);
}

static void pselect6_with_mask(void)
{
	int p[2];
	fd_set wr;
	struct timespec zero = { 0, 0 };
	sigset_t mask;

	if (EXPECT_OK(pipe2(p, 0)) != 0)
		return;
	sigemptyset(&mask);
	struct { const sigset_t *ss; size_t len; } arg = { &mask, 8 }, badlen = { &mask, 16 };
	FD_ZERO(&wr);
	FD_SET(p[1], &wr);
	EXPECT_EQ(syscall(SYS_pselect6, p[1] + 1, NULL, &wr, NULL, &zero, &arg), 1);
	EXPECT_TRUE(FD_ISSET(p[1], &wr));
	EXPECT_ERRNO(syscall(SYS_pselect6, p[1] + 1, NULL, &wr, NULL, &zero, &badlen), EINVAL);
	EXPECT_ERRNO(syscall(SYS_pselect6, p[1] + 1, NULL, &wr, NULL, &zero, KPTR), EFAULT);
	close(p[0]);
	close(p[1]);
}

static void fionread_counts_queued_bytes(void)
{
	int p[2], n = -1;
	if (EXPECT_OK(pipe2(p, 0)) != 0)
		return;
	EXPECT_OK(syscall(SYS_ioctl, p[0], FIONREAD, &n));
	EXPECT_EQ(n, 0);
	EXPECT_EQ(write(p[1], "hello", 5), 5);
	EXPECT_OK(syscall(SYS_ioctl, p[0], FIONREAD, &n));
	EXPECT_EQ(n, 5);
	EXPECT_ERRNO(syscall(SYS_ioctl, p[0], FIONREAD, KPTR), EFAULT);
	close(p[0]);
	close(p[1]);
}

static const struct ktap_case cases[] = {
	KTAP_CASE(poll_pipe_readiness),
	KTAP_CASE(poll_write_end_without_reader_is_pollerr),
	KTAP_CASE(poll_files_and_bad_fds),
	KTAP_CASE(poll_bad_arguments),
	KTAP_CASE(ppoll_timeout_and_mask),
	KTAP_CASE(poll_timeout_lasts_its_time),
	KTAP_CASE(timed_poll_ends_on_an_event_or_a_signal),
	KTAP_CASE(select_pipe_and_errors),
	KTAP_CASE(pselect6_with_mask),
	KTAP_CASE(fionread_counts_queued_bytes),
};

int main(int argc, char **argv)
{
	return ktap_main(argc, argv, cases, KTAP_NCASES(cases));
}
