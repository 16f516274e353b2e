/*
 * user_fd: the descriptor table: close, dup, dup2, dup3, fcntl, pipe2, and
 * ioctl (ENOTTY off the console; the console requests when fd 1 is a tty).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "fixture.h"
#include "ktap.h"

#define KPTR KTAP_KERNEL_PTR

static int open_data(void)
{
	return (int)syscall(SYS_open, ktap_path(FIXTURE_DIR "/data.txt"), O_RDONLY);
}

static int fd_is_open(int fd)
{
	return syscall(SYS_fcntl, fd, F_GETFD) != -1;
}

static void close_cases(void)
{
	int fd = EXPECT_OK(open_data());

	EXPECT_EQ(syscall(SYS_close, fd), 0);
	EXPECT_ERRNO(syscall(SYS_close, fd), EBADF);
	EXPECT_ERRNO(syscall(SYS_close, -1), EBADF);
	EXPECT_ERRNO(syscall(SYS_close, 4000), EBADF);
	EXPECT_ERRNO(syscall(SYS_close, 0x7fffffff), EBADF);
	EXPECT_ERRNO(syscall(SYS_read, fd, &fd, 1), EBADF);
}

static void dup_shares_offset(void)
{
	char buf[8];
	int fd = EXPECT_OK(open_data());
	int d = EXPECT_OK(syscall(SYS_dup, fd));

	EXPECT_EQ(d, fd + 1);
	EXPECT_EQ(syscall(SYS_read, fd, buf, 5), 5);
	EXPECT_EQ(syscall(SYS_lseek, d, 0, SEEK_CUR), 5);
	EXPECT_EQ(syscall(SYS_read, d, buf, 1), 1);
	EXPECT_EQ(buf[0], fixture_byte(5));
	/* dup clears FD_CLOEXEC on the copy */
	EXPECT_OK(syscall(SYS_fcntl, fd, F_SETFD, FD_CLOEXEC));
	int e = EXPECT_OK(syscall(SYS_dup, fd));
	EXPECT_EQ(syscall(SYS_fcntl, e, F_GETFD), 0);
	close(fd);
	/* The copies survive closing the original. */
	EXPECT_EQ(syscall(SYS_read, d, buf, 1), 1);
	close(d);
	close(e);
	EXPECT_ERRNO(syscall(SYS_dup, -1), EBADF);
	EXPECT_ERRNO(syscall(SYS_dup, 4000), EBADF);
}

static void dup2_cases(void)
{
	int fd = EXPECT_OK(open_data());
	int other = EXPECT_OK(open_data());
	struct rlimit rl;

	EXPECT_EQ(syscall(SYS_dup2, fd, 100), 100);
	EXPECT_EQ(syscall(SYS_lseek, 100, 7, SEEK_SET), 7);
	EXPECT_EQ(syscall(SYS_lseek, fd, 0, SEEK_CUR), 7);
	/* dup2 onto an open fd closes it silently */
	EXPECT_EQ(syscall(SYS_dup2, other, 100), 100);
	EXPECT_EQ(syscall(SYS_lseek, 100, 0, SEEK_CUR), 0);
	/* same fd: returns it when valid, EBADF when not */
	EXPECT_EQ(syscall(SYS_dup2, fd, fd), fd);
	EXPECT_ERRNO(syscall(SYS_dup2, 4000, 4000), EBADF);
	EXPECT_ERRNO(syscall(SYS_dup2, -1, 101), EBADF);
	EXPECT_TRUE(!fd_is_open(101));
	EXPECT_ERRNO(syscall(SYS_dup2, fd, -1), EBADF);
	getrlimit(RLIMIT_NOFILE, &rl);
	EXPECT_ERRNO(syscall(SYS_dup2, fd, (long)rl.rlim_cur), EBADF);
	EXPECT_ERRNO(syscall(SYS_dup2, fd, 0x7fffffff), EBADF);
	close(100);
	close(fd);
	close(other);
}

static void dup3_cases(void)
{
	int fd = EXPECT_OK(open_data());

	EXPECT_EQ(syscall(SYS_dup3, fd, 50, O_CLOEXEC), 50);
	EXPECT_EQ(syscall(SYS_fcntl, 50, F_GETFD), FD_CLOEXEC);
	EXPECT_EQ(syscall(SYS_dup3, fd, 50, 0), 50);
	EXPECT_EQ(syscall(SYS_fcntl, 50, F_GETFD), 0);
	EXPECT_ERRNO(syscall(SYS_dup3, fd, fd, 0), EINVAL);
	EXPECT_ERRNO(syscall(SYS_dup3, fd, 51, O_NONBLOCK), EINVAL);
	EXPECT_ERRNO(syscall(SYS_dup3, fd, 51, 1), EINVAL);
	EXPECT_ERRNO(syscall(SYS_dup3, -1, 51, 0), EBADF);
	EXPECT_ERRNO(syscall(SYS_dup3, fd, -1, 0), EBADF);
	EXPECT_TRUE(!fd_is_open(51));
	close(50);
	close(fd);
}

static void fcntl_cases(void)
{
	int fd = EXPECT_OK(open_data());
	int p[2];

	EXPECT_EQ(syscall(SYS_fcntl, fd, F_GETFD), 0);
	EXPECT_EQ(syscall(SYS_fcntl, fd, F_SETFD, FD_CLOEXEC), 0);
	EXPECT_EQ(syscall(SYS_fcntl, fd, F_GETFD), FD_CLOEXEC);
	EXPECT_EQ(syscall(SYS_fcntl, fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	int d = EXPECT_OK(syscall(SYS_fcntl, fd, F_DUPFD, 20));
	EXPECT_EQ(d, 20);
	EXPECT_EQ(syscall(SYS_fcntl, d, F_GETFD), 0);
	int e = EXPECT_OK(syscall(SYS_fcntl, fd, F_DUPFD, 20));
	EXPECT_EQ(e, 21);
	int f = EXPECT_OK(syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 20));
	EXPECT_EQ(f, 22);
	EXPECT_EQ(syscall(SYS_fcntl, f, F_GETFD), FD_CLOEXEC);
	EXPECT_ERRNO(syscall(SYS_fcntl, fd, F_DUPFD, -1L), EINVAL);
	EXPECT_ERRNO(syscall(SYS_fcntl, fd, F_DUPFD, 0x7fffffffL), EINVAL);
	EXPECT_ERRNO(syscall(SYS_fcntl, -1, F_GETFD), EBADF);
	EXPECT_ERRNO(syscall(SYS_fcntl, 4000, F_GETFL), EBADF);
	EXPECT_ERRNO(syscall(SYS_fcntl, fd, 9999), EINVAL);
	close(d);
	close(e);
	close(f);
	close(fd);

	if (EXPECT_OK(pipe2(p, 0)) == 0) {
		char c;
		EXPECT_EQ(syscall(SYS_fcntl, p[0], F_GETFL) & O_ACCMODE, O_RDONLY);
		EXPECT_EQ(syscall(SYS_fcntl, p[1], F_GETFL) & O_ACCMODE, O_WRONLY);
		EXPECT_EQ(syscall(SYS_fcntl, p[0], F_SETFL, O_NONBLOCK), 0);
		EXPECT_TRUE(syscall(SYS_fcntl, p[0], F_GETFL) & O_NONBLOCK);
		EXPECT_ERRNO(syscall(SYS_read, p[0], &c, 1), EAGAIN);
		/* F_SETFL ignores the access mode bits */
		EXPECT_EQ(syscall(SYS_fcntl, p[0], F_SETFL, O_RDWR), 0);
		EXPECT_EQ(syscall(SYS_fcntl, p[0], F_GETFL) & (O_ACCMODE | O_NONBLOCK), O_RDONLY);
		close(p[0]);
		close(p[1]);
	}
}

static void pipe2_data_and_eof(void)
{
	int p[2] = { -1, -1 };
	char buf[16];

	if (EXPECT_OK(syscall(SYS_pipe2, p, 0)) != 0)
		return;
	EXPECT_EQ(syscall(SYS_write, p[1], "hello", 5), 5);
	EXPECT_EQ(syscall(SYS_read, p[0], buf, 2), 2);
	EXPECT_EQ(syscall(SYS_read, p[0], buf + 2, sizeof(buf)), 3);
	EXPECT_TRUE(memcmp(buf, "hello", 5) == 0);
	close(p[1]);
	EXPECT_EQ(syscall(SYS_read, p[0], buf, sizeof(buf)), 0);
	close(p[0]);
}

static void pipe2_flags(void)
{
	int p[2];

	if (EXPECT_OK(syscall(SYS_pipe2, p, O_CLOEXEC | O_NONBLOCK)) == 0) {
		EXPECT_EQ(syscall(SYS_fcntl, p[0], F_GETFD), FD_CLOEXEC);
		EXPECT_EQ(syscall(SYS_fcntl, p[1], F_GETFD), FD_CLOEXEC);
		EXPECT_TRUE(syscall(SYS_fcntl, p[1], F_GETFL) & O_NONBLOCK);
		close(p[0]);
		close(p[1]);
	}
	EXPECT_ERRNO(syscall(SYS_pipe2, p, 1), EINVAL);
	EXPECT_ERRNO(syscall(SYS_pipe2, p, O_RDWR), EINVAL);
	EXPECT_ERRNO(syscall(SYS_pipe2, p, 0x80000000L), EINVAL);
}

/* A bad destination fails without leaking two descriptors. */
static void pipe2_bad_pointer_leaks_nothing(void)
{
	int probe = EXPECT_OK(syscall(SYS_dup, 0));
	close(probe);
	EXPECT_ERRNO(syscall(SYS_pipe2, NULL, 0), EFAULT);
	EXPECT_ERRNO(syscall(SYS_pipe2, KPTR, 0), EFAULT);
	EXPECT_ERRNO(syscall(SYS_pipe2, ktap_readonly_page(), 0), EFAULT);
	EXPECT_ERRNO(syscall(SYS_pipe2, ktap_mapping_end() - 4, 0), EFAULT);
	int again = EXPECT_OK(syscall(SYS_dup, 0));
	EXPECT_EQ(again, probe);
	close(again);
}

/* A nonblocking writer fills the pipe, then gets EAGAIN; PIPE_BUF writes are whole. */
static void pipe_fills_then_eagain(void)
{
	int p[2];
	static char chunk[4096];
	long total = 0;

	if (EXPECT_OK(syscall(SYS_pipe2, p, O_NONBLOCK)) != 0)
		return;
	for (int i = 0; i < 1024; i++) {
		long n = syscall(SYS_write, p[1], chunk, sizeof(chunk));
		if (n < 0) {
			EXPECT_EQ(errno, EAGAIN);
			break;
		}
		EXPECT_EQ(n, (long)sizeof(chunk));
		total += n;
	}
	EXPECT_TRUE(total >= 4096 && total <= (4L << 20));
	ktap_diag("pipe capacity: %ld bytes", total);
	EXPECT_ERRNO(syscall(SYS_write, p[1], chunk, 1), EAGAIN);
	close(p[0]);
	close(p[1]);
}

static void pipe_write_without_reader_is_epipe(void)
{
	int p[2];
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;

	sigaction(SIGPIPE, &ign, &old);
	if (EXPECT_OK(syscall(SYS_pipe2, p, 0)) == 0) {
		close(p[0]);
		EXPECT_ERRNO(syscall(SYS_write, p[1], "x", 1), EPIPE);
		close(p[1]);
	}
	sigaction(SIGPIPE, &old, NULL);
}

static void pipe_bad_buffers(void)
{
	int p[2];
	char buf[8];

	if (EXPECT_OK(syscall(SYS_pipe2, p, O_NONBLOCK)) != 0)
		return;
	EXPECT_ERRNO(syscall(SYS_write, p[1], NULL, 1), EFAULT);
	EXPECT_ERRNO(syscall(SYS_write, p[1], KPTR, 1), EFAULT);
	EXPECT_ERRNO(syscall(SYS_write, p[1], ktap_unmapped_page(), 8), EFAULT);
	EXPECT_EQ(syscall(SYS_write, p[1], "abcdefgh", 8), 8);
	EXPECT_ERRNO(syscall(SYS_read, p[0], NULL, 8), EFAULT);
	EXPECT_ERRNO(syscall(SYS_read, p[0], KPTR, 8), EFAULT);
	EXPECT_ERRNO(syscall(SYS_read, p[0], ktap_readonly_page(), 8), EFAULT);
	/* the failed reads consumed nothing */
	EXPECT_EQ(syscall(SYS_read, p[0], buf, 8), 8);
	EXPECT_TRUE(memcmp(buf, "abcdefgh", 8) == 0);
	close(p[0]);
	close(p[1]);
}

static void fd_table_exhaustion_is_emfile(void)
{
	struct rlimit old, rl;
	int fds[64];
	int n = 0;

	getrlimit(RLIMIT_NOFILE, &old);
	rl.rlim_cur = 32;
	rl.rlim_max = old.rlim_max;
	if (EXPECT_OK(setrlimit(RLIMIT_NOFILE, &rl)) != 0)
		return;
	for (; n < 64; n++) {
		fds[n] = (int)syscall(SYS_dup, 0);
		if (fds[n] < 0)
			break;
	}
	EXPECT_TRUE(n < 32);
	EXPECT_EQ(errno, EMFILE);
	int p[2];
	EXPECT_ERRNO(syscall(SYS_pipe2, p, 0), EMFILE);
	EXPECT_ERRNO(open_data(), EMFILE);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	setrlimit(RLIMIT_NOFILE, &old);
}

static void ioctl_not_a_tty_is_enotty(void)
{
	struct termios t;
	struct winsize ws;
	int pgrp;
	int p[2];
	int fd = EXPECT_OK(open_data());

	EXPECT_ERRNO(syscall(SYS_ioctl, fd, TCGETS, &t), ENOTTY);
	EXPECT_ERRNO(syscall(SYS_ioctl, fd, TIOCGWINSZ, &ws), ENOTTY);
	EXPECT_ERRNO(syscall(SYS_ioctl, fd, TIOCGPGRP, &pgrp), ENOTTY);
	if (EXPECT_OK(pipe2(p, 0)) == 0) {
		EXPECT_ERRNO(syscall(SYS_ioctl, p[0], TCGETS, &t), ENOTTY);
		EXPECT_ERRNO(syscall(SYS_ioctl, p[1], TIOCGWINSZ, &ws), ENOTTY);
		close(p[0]);
		close(p[1]);
	}
	EXPECT_ERRNO(syscall(SYS_ioctl, -1, TCGETS, &t), EBADF);
	EXPECT_ERRNO(syscall(SYS_ioctl, 4000, TCGETS, &t), EBADF);
	close(fd);
}

static void ioctl_console(void)
{
	struct termios t;
	struct winsize ws;
	int pgrp = -1;

	if (syscall(SYS_ioctl, 1, TCGETS, &t) != 0) {
		ktap_skip("fd 1 is not a terminal");
		return;
	}
	EXPECT_OK(syscall(SYS_ioctl, 1, TIOCGWINSZ, &ws));
	EXPECT_ERRNO(syscall(SYS_ioctl, 1, TCGETS, NULL), EFAULT);
	EXPECT_ERRNO(syscall(SYS_ioctl, 1, TCGETS, KPTR), EFAULT);
	EXPECT_ERRNO(syscall(SYS_ioctl, 1, TIOCGWINSZ, KPTR), EFAULT);
	if (syscall(SYS_ioctl, 1, TIOCGPGRP, &pgrp) == 0) {
		EXPECT_TRUE(pgrp > 0);
		EXPECT_OK(syscall(SYS_ioctl, 1, TIOCSPGRP, &pgrp));
	} else {
		ktap_diag("TIOCGPGRP: %s (not our controlling terminal)", ktap_errno_name(errno));
	}
}

static int cloexec_child(void *arg)
{
	(void)arg;
	return 0;
}

static void cloexec_survives_fork(void)
{
	int fd = EXPECT_OK(syscall(SYS_open, ktap_path("/etc/hostname"), O_RDONLY | O_CLOEXEC));
	EXPECT_EQ(syscall(SYS_fcntl, fd, F_GETFD), FD_CLOEXEC);
	/* fork keeps close-on-exec descriptors; execve (user_proc) drops them */
	EXPECT_EXITED(ktap_run_child(cloexec_child, NULL), 0);
	EXPECT_TRUE(fd_is_open(fd));
	close(fd);
}

static int high_fd_child(void *arg)
{
	int fd = *(int *)arg;
	/* Inherited (fork copies up to the highest open fd); left open for exit to close. */
	return write(fd, "x", 1) == 1 ? 0 : 1;
}

/* A descriptor high in the table is copied by fork and closed by exit: the pipe's
 * only write end lives at fd 900 of the parent, then of the child alone. */
static void high_fd_survives_fork_and_closes_at_exit(void)
{
	int p[2];
	char c;
	if (EXPECT_OK(pipe2(p, O_NONBLOCK)) != 0)
		return;
	int high = 900;
	EXPECT_EQ(syscall(SYS_dup2, p[1], high), high);
	close(p[1]);
	EXPECT_EXITED(ktap_run_child(high_fd_child, &high), 0);
	close(high);
	EXPECT_EQ(read(p[0], &c, 1), 1);
	EXPECT_EQ(c, 'x');
	EXPECT_EQ(read(p[0], &c, 1), 0); /* EOF: no write end is left anywhere */
	close(p[0]);
}

static const struct ktap_case cases[] = {
	KTAP_CASE(close_cases),
	KTAP_CASE(dup_shares_offset),
	KTAP_CASE(dup2_cases),
	KTAP_CASE(dup3_cases),
	KTAP_CASE(fcntl_cases),
	KTAP_CASE(pipe2_data_and_eof),
	KTAP_CASE(pipe2_flags),
	KTAP_CASE(pipe2_bad_pointer_leaks_nothing),
	KTAP_CASE(pipe_fills_then_eagain),
	KTAP_CASE(pipe_write_without_reader_is_epipe),
	KTAP_CASE(pipe_bad_buffers),
	KTAP_CASE(fd_table_exhaustion_is_emfile),
	KTAP_CASE(ioctl_not_a_tty_is_enotty),
	KTAP_CASE(ioctl_console),
	KTAP_CASE(cloexec_survives_fork),
	KTAP_CASE(high_fd_survives_fork_and_closes_at_exit),
};

int main(int argc, char **argv)
{
	return ktap_main(argc, argv, cases, KTAP_NCASES(cases));
}
