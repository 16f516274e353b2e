/*
 * user_socket: Unix-domain sockets (AF_UNIX): socketpair of the three types,
 * data through read/write, readv/writev, send/recv and sendmsg/recvmsg across
 * two processes, blocking and wake-ups, end of file, EPIPE and SIGPIPE,
 * nonblocking EAGAIN, datagram boundaries and MSG_TRUNC, MSG_PEEK, shutdown,
 * poll readiness, names in the abstract namespace (bind, listen, connect,
 * accept, getsockname, getpeername, sendto), descriptors over fork and exec,
 * descriptors passed with SCM_RIGHTS, and every argument error with Linux's
 * errno.
 *
 * argv[1] = "exec-child" checks which socket fds an execve kept.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"
#include "ktap.h"

#define KPTR KTAP_KERNEL_PTR
#define SCM_MAX_FD_TEST 253 /* Linux's SCM_MAX_FD */

static long sys_poll(struct pollfd *fds, unsigned long n, int timeout_ms)
{
	return syscall(SYS_poll, fds, n, timeout_ms);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static int wait_child(pid_t pid)
{
	int status = -1;
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

static int pair(int type, int sv[2])
{
	return EXPECT_OK(socketpair(AF_UNIX, type, 0, sv)) == 0 ? 0 : -1;
}

static void close_pair(int sv[2])
{
	close(sv[0]);
	close(sv[1]);
}

/* An abstract address "\0exo-<tag>-<pid>", its length in *len. */
static struct sockaddr_un abstract(const char *tag, socklen_t *len)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int n = snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "exo-%s-%d", tag, (int)getpid());
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	return a;
}

/* ---- data ---------------------------------------------------------------------------- */

static uint32_t checksum(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static int write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n) {
		ssize_t r = read(fd, p, n);
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

#define ROUNDS 24
#define MAX_MSG (192 * 1024)

/* The child echoes each message back with its checksum, reversed: a header
 * (size), the bytes; back: the checksum it computed, then the bytes reversed. */
static int echo_child(int fd)
{
	uint8_t *buf = malloc(MAX_MSG);
	for (int i = 0; i < ROUNDS; i++) {
		uint32_t size;
		if (read_all(fd, &size, sizeof(size)) || size > MAX_MSG || read_all(fd, buf, size))
			return 2;
		uint32_t sum = checksum(buf, size);
		for (uint32_t j = 0; j < size / 2; j++) {
			uint8_t t = buf[j];
			buf[j] = buf[size - 1 - j];
			buf[size - 1 - j] = t;
		}
		if (write_all(fd, &sum, sizeof(sum)) || write_all(fd, buf, size))
			return 3;
	}
	return 0;
}

static void stream_data_integrity_random_sizes_both_directions(void)
{
	int sv[2];
	if (pair(SOCK_STREAM, sv))
		return;
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		_exit(echo_child(sv[1]));
	}
	close(sv[1]);
	uint8_t *out = malloc(MAX_MSG), *back = malloc(MAX_MSG);
	for (int i = 0; i < ROUNDS && ktap_case_failures() == 0; i++) {
		uint32_t size = i == 0 ? 0 : i == 1 ? 1 : (uint32_t)ktap_rand_below(MAX_MSG + 1);
		for (uint32_t j = 0; j < size; j++)
			out[j] = (uint8_t)ktap_rand();
		uint32_t sum = 0;
		EXPECT_EQ(write_all(sv[0], &size, sizeof(size)), 0);
		EXPECT_EQ(write_all(sv[0], out, size), 0);
		EXPECT_EQ(read_all(sv[0], &sum, sizeof(sum)), 0);
		EXPECT_EQ(sum, checksum(out, size));
		EXPECT_EQ(read_all(sv[0], back, size), 0);
		int same = 1;
		for (uint32_t j = 0; j < size; j++)
			same &= back[j] == out[size - 1 - j];
		if (!EXPECT_TRUE(same))
			ktap_diag("round %d, %u bytes", i, size);
	}
	EXPECT_EXITED(wait_child(pid), 0);
	close(sv[0]);
	free(out);
	free(back);
}

static void socketpair_fds_are_sockets_with_their_flags(void)
{
	int sv[2];
	if (EXPECT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv)))
		return;
	for (int i = 0; i < 2; i++) {
		struct stat st;
		EXPECT_OK(fstat(sv[i], &st));
		EXPECT_TRUE(S_ISSOCK(st.st_mode));
		EXPECT_EQ(fcntl(sv[i], F_GETFL) & (O_NONBLOCK | O_ACCMODE), O_NONBLOCK | O_RDWR);
		EXPECT_EQ(fcntl(sv[i], F_GETFD), FD_CLOEXEC);
	}
	struct stat a, b;
	fstat(sv[0], &a);
	fstat(sv[1], &b);
	EXPECT_NE(a.st_ino, b.st_ino);
	close_pair(sv);
	if (pair(SOCK_DGRAM, sv))
		return;
	EXPECT_EQ(fcntl(sv[0], F_GETFL) & O_NONBLOCK, 0);
	EXPECT_EQ(fcntl(sv[0], F_GETFD), 0);
	close_pair(sv);
	/* protocol 0 and PF_UNIX are the same. */
	EXPECT_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, PF_UNIX, sv));
	close_pair(sv);
}

static void sockopts_report_type_error_and_buffers(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET };
	for (int i = 0; i < 3; i++) {
		int sv[2], v = -1;
		socklen_t len = sizeof(v);
		if (pair(types[i], sv))
			return;
		EXPECT_OK(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &len));
		EXPECT_EQ(v, types[i]);
		EXPECT_EQ(len, sizeof(int));
		EXPECT_OK(getsockopt(sv[0], SOL_SOCKET, SO_DOMAIN, &v, &len));
		EXPECT_EQ(v, AF_UNIX);
		EXPECT_OK(getsockopt(sv[0], SOL_SOCKET, SO_ERROR, &v, &len));
		EXPECT_EQ(v, 0);
		EXPECT_OK(getsockopt(sv[0], SOL_SOCKET, SO_ACCEPTCONN, &v, &len));
		EXPECT_EQ(v, 0);
		EXPECT_OK(getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, &len));
		EXPECT_TRUE(v > 0);
		EXPECT_OK(getsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &v, &len));
		EXPECT_TRUE(v > 0);
		/* A set size is doubled (Linux keeps room for its bookkeeping). */
		v = 100000;
		EXPECT_OK(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)));
		EXPECT_OK(getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, &len));
		EXPECT_EQ(v, 200000);
		v = 50000;
		EXPECT_OK(setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)));
		EXPECT_OK(getsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &v, &len));
		EXPECT_EQ(v, 100000);
		/* On/off options that change nothing for a Unix socket are kept:
		 * off at first, on once set (any nonzero value), off again. */
		static const int flags[] = { SO_REUSEADDR, SO_KEEPALIVE, SO_BROADCAST, SO_DONTROUTE };
		for (int f = 0; f < 4; f++) {
			EXPECT_OK(getsockopt(sv[0], SOL_SOCKET, flags[f], &v, &len));
			EXPECT_EQ(v, 0);
			v = 7;
			EXPECT_OK(setsockopt(sv[0], SOL_SOCKET, flags[f], &v, sizeof(v)));
			EXPECT_OK(getsockopt(sv[0], SOL_SOCKET, flags[f], &v, &len));
			EXPECT_EQ(v, 1);
			EXPECT_OK(getsockopt(sv[1], SOL_SOCKET, flags[f], &v, &len));
			EXPECT_EQ(v, 0);
			v = 0;
			EXPECT_OK(setsockopt(sv[0], SOL_SOCKET, flags[f], &v, sizeof(v)));
			EXPECT_OK(getsockopt(sv[0], SOL_SOCKET, flags[f], &v, &len));
			EXPECT_EQ(v, 0);
		}
		/* A short length gets the value's first bytes; the length says so. */
		char c = 0x55;
		len = 1;
		EXPECT_OK(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &c, &len));
		EXPECT_EQ(len, 1);
		EXPECT_EQ(c, (char)types[i]);
		close_pair(sv);
	}
}

/* ---- blocking, wake-ups, end of file, EPIPE ----------------------------------------------- */

static void blocked_reader_is_woken_by_a_writer_in_another_process(void)
{
	int sv[2];
	if (pair(SOCK_STREAM, sv))
		return;
	pid_t pid = fork();
	if (pid == 0) {
		sleep_ms(50);
		_exit(write(sv[1], "wake", 4) == 4 ? 0 : 1);
	}
	char buf[8] = { 0 };
	EXPECT_EQ(read(sv[0], buf, sizeof(buf)), 4);
	EXPECT_TRUE(memcmp(buf, "wake", 4) == 0);
	EXPECT_EXITED(wait_child(pid), 0);
	close_pair(sv);
}

static void blocked_writer_is_woken_when_the_reader_drains(void)
{
	int sv[2];
	if (pair(SOCK_STREAM, sv))
		return;
	/* Fill the pipe of bytes without blocking, to learn its size. */
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	static char chunk[4096];
	size_t filled = 0;
	while (write(sv[0], chunk, sizeof(chunk)) > 0)
		filled += sizeof(chunk);
	EXPECT_EQ(errno, EAGAIN);
	EXPECT_TRUE(filled > 0);
	fcntl(sv[0], F_SETFL, 0);
	pid_t pid = fork();
	if (pid == 0) {
		/* The parent blocks in write until this drains everything. */
		close(sv[0]);
		sleep_ms(50);
		size_t total = 0;
		char buf[8192];
		ssize_t r;
		while ((r = read(sv[1], buf, sizeof(buf))) > 0)
			total += (size_t)r;
		_exit(total >= filled + 100000 ? 0 : 1);
	}
	close(sv[1]);
	char *big = calloc(1, 100000);
	EXPECT_EQ(write(sv[0], big, 100000), 100000);
	free(big);
	close(sv[0]);
	EXPECT_EXITED(wait_child(pid), 0);
}

static void closed_peer_gives_eof_and_econnreset_if_it_left_data(void)
{
	int sv[2];
	char c;
	if (pair(SOCK_STREAM, sv))
		return;
	EXPECT_EQ(write(sv[0], "ab", 2), 2);
	close(sv[0]);
	/* What was sent before the close is still read, then end of file. */
	EXPECT_EQ(read(sv[1], &c, 1), 1);
	EXPECT_EQ(read(sv[1], &c, 1), 1);
	EXPECT_EQ(read(sv[1], &c, 1), 0);
	close(sv[1]);

	/* The peer closes with data unread: the next read is ECONNRESET, once. */
	if (pair(SOCK_STREAM, sv))
		return;
	EXPECT_EQ(write(sv[1], "x", 1), 1);
	close(sv[0]);
	EXPECT_ERRNO(read(sv[1], &c, 1), ECONNRESET);
	EXPECT_EQ(read(sv[1], &c, 1), 0);
	close(sv[1]);

	/* A blocked reader in another process hears the close. */
	if (pair(SOCK_STREAM, sv))
		return;
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		_exit(read(sv[1], &c, 1) == 0 ? 0 : 1);
	}
	sleep_ms(30);
	close(sv[0]);
	EXPECT_EXITED(wait_child(pid), 0);
	close(sv[1]);
}

static int write_to_closed_peer(void *arg)
{
	int fd = *(int *)arg;
	write(fd, "x", 1);
	return 0; /* SIGPIPE should have ended it before */
}

static void write_to_a_closed_peer_is_epipe_and_sigpipe(void)
{
	int sv[2];
	if (pair(SOCK_STREAM, sv))
		return;
	close(sv[1]);
	EXPECT_KILLED_BY(ktap_run_child(write_to_closed_peer, &sv[0]), SIGPIPE);
	/* MSG_NOSIGNAL: EPIPE and no signal. */
	EXPECT_ERRNO(send(sv[0], "x", 1, MSG_NOSIGNAL), EPIPE);
	/* SIGPIPE ignored: EPIPE. */
	signal(SIGPIPE, SIG_IGN);
	EXPECT_ERRNO(write(sv[0], "x", 1), EPIPE);
	EXPECT_ERRNO(sendto(sv[0], "x", 1, 0, NULL, 0), EPIPE);
	signal(SIGPIPE, SIG_DFL);
	close(sv[0]);
	/* A blocked writer is woken by the close with EPIPE. */
	if (pair(SOCK_STREAM, sv))
		return;
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[1]);
		char *big = calloc(1, 1 << 20);
		ssize_t w = send(sv[0], big, 1 << 20, MSG_NOSIGNAL);
		/* Some went before the close: a short count; else EPIPE. */
		_exit(w > 0 && w < (1 << 20) ? 0 : w < 0 && errno == EPIPE ? 0 : 1);
	}
	close(sv[0]);
	sleep_ms(50);
	close(sv[1]);
	EXPECT_EXITED(wait_child(pid), 0);
}

static void nonblocking_calls_are_eagain(void)
{
	int sv[2];
	char c;
	if (pair(SOCK_STREAM | SOCK_NONBLOCK, sv))
		return;
	EXPECT_ERRNO(read(sv[0], &c, 1), EAGAIN);
	EXPECT_ERRNO(recv(sv[0], &c, 1, 0), EAGAIN);
	static char chunk[65536];
	ssize_t w, total = 0;
	while ((w = write(sv[0], chunk, sizeof(chunk))) > 0)
		total += w;
	EXPECT_ERRNO(write(sv[0], chunk, 1), EAGAIN);
	EXPECT_TRUE(total > 0);
	close_pair(sv);
	/* MSG_DONTWAIT on a blocking socket. */
	if (pair(SOCK_SEQPACKET, sv))
		return;
	EXPECT_ERRNO(recv(sv[0], &c, 1, MSG_DONTWAIT), EAGAIN);
	int sent = 0;
	while (send(sv[0], chunk, 1000, MSG_DONTWAIT) == 1000)
		sent++;
	EXPECT_EQ(errno, EAGAIN);
	EXPECT_TRUE(sent > 0);
	close_pair(sv);
}

/* ---- messages ------------------------------------------------------------------------- */

static void datagrams_keep_boundaries_and_report_truncation(void)
{
	static const int types[] = { SOCK_DGRAM, SOCK_SEQPACKET };
	for (int t = 0; t < 2; t++) {
		int sv[2];
		char buf[64];
		if (pair(types[t], sv))
			return;
		EXPECT_EQ(send(sv[0], "one", 3, 0), 3);
		EXPECT_EQ(send(sv[0], "", 0, 0), 0);
		EXPECT_EQ(send(sv[0], "three33", 7, 0), 7);
		EXPECT_EQ(send(sv[0], "fourfour", 8, 0), 8);
		EXPECT_EQ(recv(sv[1], buf, sizeof(buf), 0), 3);
		EXPECT_TRUE(memcmp(buf, "one", 3) == 0);
		EXPECT_EQ(recv(sv[1], buf, sizeof(buf), 0), 0);
		/* A short buffer: the rest of the message is gone. */
		EXPECT_EQ(recv(sv[1], buf, 2, 0), 2);
		EXPECT_TRUE(memcmp(buf, "th", 2) == 0);
		/* MSG_TRUNC in: the real length; in recvmsg's flags out: MSG_TRUNC. */
		struct iovec iov = { buf, 4 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		EXPECT_EQ(recvmsg(sv[1], &mh, MSG_TRUNC), 8);
		EXPECT_TRUE(mh.msg_flags & MSG_TRUNC);
		EXPECT_TRUE(memcmp(buf, "four", 4) == 0);
		EXPECT_ERRNO(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
		/* Both directions. */
		EXPECT_EQ(write(sv[1], "back", 4), 4);
		EXPECT_EQ(read(sv[0], buf, sizeof(buf)), 4);
		/* Too big for any buffer. */
		char *huge = calloc(1, 1 << 20);
		EXPECT_ERRNO(send(sv[0], huge, 1 << 20, 0), EMSGSIZE);
		free(huge);
		close_pair(sv);
	}
}

static void random_datagrams_arrive_whole_and_in_order(void)
{
	int sv[2];
	if (pair(SOCK_SEQPACKET, sv))
		return;
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		static uint8_t buf[32768];
		for (int i = 0; i < 200; i++) {
			ssize_t r = recv(sv[1], buf, sizeof(buf), 0);
			if (r < 0)
				_exit(2);
			uint32_t sum = checksum(buf, (size_t)r);
			uint32_t reply[2] = { (uint32_t)r, sum };
			if (send(sv[1], reply, sizeof(reply), 0) != sizeof(reply))
				_exit(3);
		}
		_exit(0);
	}
	close(sv[1]);
	static uint8_t out[32768];
	for (int i = 0; i < 200 && ktap_case_failures() == 0; i++) {
		size_t n = ktap_rand_below(sizeof(out) + 1);
		for (size_t j = 0; j < n; j++)
			out[j] = (uint8_t)ktap_rand();
		EXPECT_EQ(send(sv[0], out, n, 0), (long)n);
		uint32_t reply[2];
		EXPECT_EQ(recv(sv[0], reply, sizeof(reply), 0), sizeof(reply));
		EXPECT_EQ(reply[0], n);
		EXPECT_EQ(reply[1], checksum(out, n));
	}
	EXPECT_EXITED(wait_child(pid), 0);
	close(sv[0]);
}

static void msg_peek_leaves_the_data(void)
{
	int sv[2];
	char buf[16] = { 0 };
	if (pair(SOCK_STREAM, sv))
		return;
	EXPECT_EQ(write(sv[0], "peekaboo", 8), 8);
	EXPECT_EQ(recv(sv[1], buf, 4, MSG_PEEK), 4);
	EXPECT_TRUE(memcmp(buf, "peek", 4) == 0);
	EXPECT_EQ(recv(sv[1], buf, sizeof(buf), MSG_PEEK), 8);
	int n = -1;
	EXPECT_OK(ioctl(sv[1], FIONREAD, &n));
	EXPECT_EQ(n, 8);
	EXPECT_EQ(read(sv[1], buf, sizeof(buf)), 8);
	EXPECT_TRUE(memcmp(buf, "peekaboo", 8) == 0);
	close_pair(sv);
	if (pair(SOCK_DGRAM, sv))
		return;
	EXPECT_EQ(send(sv[0], "first", 5, 0), 5);
	EXPECT_EQ(send(sv[0], "second", 6, 0), 6);
	EXPECT_OK(ioctl(sv[1], FIONREAD, &n));
	EXPECT_EQ(n, 5); /* a datagram socket: the next message's size */
	EXPECT_EQ(recv(sv[1], buf, sizeof(buf), MSG_PEEK), 5);
	EXPECT_EQ(recv(sv[1], buf, sizeof(buf), MSG_PEEK), 5);
	EXPECT_EQ(recv(sv[1], buf, sizeof(buf), 0), 5);
	EXPECT_EQ(recv(sv[1], buf, sizeof(buf), 0), 6);
	EXPECT_TRUE(memcmp(buf, "second", 6) == 0);
	close_pair(sv);
}

static void vectors_gather_and_scatter(void)
{
	int sv[2];
	if (pair(SOCK_STREAM, sv))
		return;
	struct iovec out[3] = { { "ab", 2 }, { "", 0 }, { "cdef", 4 } };
	EXPECT_EQ(writev(sv[0], out, 3), 6);
	struct msghdr mh = { .msg_iov = out, .msg_iovlen = 3 };
	EXPECT_EQ(sendmsg(sv[0], &mh, 0), 6);
	char a[3] = { 0 }, b[9] = { 0 };
	struct iovec in[2] = { { a, 3 }, { b, 9 } };
	EXPECT_EQ(readv(sv[1], in, 2), 12);
	EXPECT_TRUE(memcmp(a, "abc", 3) == 0 && memcmp(b, "defabcdef", 9) == 0);
	close_pair(sv);
	/* One datagram from several buffers, and into several. */
	if (pair(SOCK_DGRAM, sv))
		return;
	EXPECT_EQ(sendmsg(sv[0], &mh, 0), 6);
	memset(a, 0, sizeof(a));
	mh = (struct msghdr){ .msg_iov = in, .msg_iovlen = 2 };
	EXPECT_EQ(recvmsg(sv[1], &mh, 0), 6);
	EXPECT_TRUE(memcmp(a, "abc", 3) == 0 && memcmp(b, "def", 3) == 0);
	EXPECT_EQ(mh.msg_flags, 0);
	EXPECT_EQ(mh.msg_controllen, 0);
	close_pair(sv);
}

static void msg_waitall_waits_for_the_whole_buffer(void)
{
	int sv[2];
	if (pair(SOCK_STREAM, sv))
		return;
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 4; i++) {
			sleep_ms(10);
			write(sv[1], "xy", 2);
		}
		_exit(0);
	}
	char buf[8];
	EXPECT_EQ(recv(sv[0], buf, 8, MSG_WAITALL), 8);
	EXPECT_EXITED(wait_child(pid), 0);
	close_pair(sv);
}

/* ---- shutdown and poll ------------------------------------------------------------------ */

static void shutdown_ends_one_direction(void)
{
	int sv[2];
	char c;
	if (pair(SOCK_STREAM, sv))
		return;
	EXPECT_EQ(write(sv[0], "z", 1), 1);
	EXPECT_OK(shutdown(sv[0], SHUT_WR));
	/* The peer reads what was sent, then end of file; it can still answer. */
	EXPECT_EQ(read(sv[1], &c, 1), 1);
	EXPECT_EQ(read(sv[1], &c, 1), 0);
	EXPECT_EQ(write(sv[1], "r", 1), 1);
	EXPECT_EQ(read(sv[0], &c, 1), 1);
	EXPECT_ERRNO(send(sv[0], "x", 1, MSG_NOSIGNAL), EPIPE);
	/* SHUT_RD: reads see end of file, the peer's writes EPIPE. */
	EXPECT_OK(shutdown(sv[0], SHUT_RD));
	EXPECT_EQ(read(sv[0], &c, 1), 0);
	EXPECT_ERRNO(send(sv[1], "x", 1, MSG_NOSIGNAL), EPIPE);
	EXPECT_ERRNO(shutdown(sv[0], 3), EINVAL);
	EXPECT_ERRNO(shutdown(sv[0], -1), EINVAL);
	close_pair(sv);
	/* A reader blocked in another process is woken by the shutdown. */
	if (pair(SOCK_SEQPACKET, sv))
		return;
	pid_t pid = fork();
	if (pid == 0)
		_exit(recv(sv[1], &c, 1, 0) == 0 ? 0 : 1);
	sleep_ms(30);
	EXPECT_OK(shutdown(sv[0], SHUT_RDWR));
	EXPECT_EXITED(wait_child(pid), 0);
	close_pair(sv);
}

static void poll_reports_in_out_hup_and_rdhup(void)
{
	int sv[2];
	if (pair(SOCK_STREAM, sv))
		return;
	struct pollfd p[2] = { { sv[0], POLLIN | POLLOUT | POLLRDHUP, 0 },
			       { sv[1], POLLIN | POLLOUT | POLLRDHUP, 0 } };
	EXPECT_EQ(sys_poll(p, 2, 0), 2);
	EXPECT_EQ(p[0].revents, POLLOUT);
	EXPECT_EQ(p[1].revents, POLLOUT);
	EXPECT_EQ(write(sv[0], "d", 1), 1);
	EXPECT_EQ(sys_poll(p, 2, 0), 2);
	EXPECT_EQ(p[1].revents, POLLIN | POLLOUT);
	/* The peer shuts its writing side: POLLRDHUP with POLLIN. */
	EXPECT_OK(shutdown(sv[0], SHUT_WR));
	EXPECT_EQ(sys_poll(&p[1], 1, 0), 1);
	EXPECT_EQ(p[1].revents, POLLIN | POLLOUT | POLLRDHUP);
	/* Closed: POLLHUP, whatever was asked. */
	close(sv[0]);
	p[1].events = 0;
	EXPECT_EQ(sys_poll(&p[1], 1, 0), 1);
	EXPECT_EQ(p[1].revents, POLLHUP);
	close(sv[1]);

	/* A poll sleeping in one process is woken by a write in another. */
	if (pair(SOCK_STREAM, sv))
		return;
	pid_t pid = fork();
	if (pid == 0) {
		sleep_ms(40);
		_exit(write(sv[1], "w", 1) == 1 ? 0 : 1);
	}
	struct pollfd one = { sv[0], POLLIN, 0 };
	EXPECT_EQ(sys_poll(&one, 1, 10000), 1);
	EXPECT_EQ(one.revents, POLLIN);
	EXPECT_EXITED(wait_child(pid), 0);
	close_pair(sv);

	/* A full socket is not writable. */
	if (pair(SOCK_STREAM | SOCK_NONBLOCK, sv))
		return;
	static char chunk[4096];
	while (write(sv[0], chunk, sizeof(chunk)) > 0)
		;
	one = (struct pollfd){ sv[0], POLLOUT, 0 };
	EXPECT_EQ(sys_poll(&one, 1, 0), 0);
	close_pair(sv);
	/* An unconnected stream socket: POLLOUT | POLLHUP. */
	int s = (int)EXPECT_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	one = (struct pollfd){ s, POLLIN | POLLOUT, 0 };
	EXPECT_EQ(sys_poll(&one, 1, 0), 1);
	EXPECT_EQ(one.revents, POLLOUT | POLLHUP);
	close(s);
}

/* ---- names ---------------------------------------------------------------------------- */

static void abstract_listen_connect_accept_and_names(void)
{
	socklen_t len;
	struct sockaddr_un addr = abstract("listen", &len), got;
	int l = (int)EXPECT_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	EXPECT_OK(bind(l, (struct sockaddr *)&addr, len));
	EXPECT_OK(listen(l, 4));
	int v = 0;
	socklen_t vlen = sizeof(v);
	EXPECT_OK(getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &v, &vlen));
	EXPECT_EQ(v, 1);
	socklen_t glen = sizeof(got);
	EXPECT_OK(getsockname(l, (struct sockaddr *)&got, &glen));
	EXPECT_EQ(glen, len);
	EXPECT_TRUE(memcmp(&got, &addr, len) == 0);
	/* Nothing queued: a nonblocking accept is EAGAIN. */
	fcntl(l, F_SETFL, O_NONBLOCK);
	EXPECT_ERRNO(accept(l, NULL, NULL), EAGAIN);
	fcntl(l, F_SETFL, 0);

	int c = (int)EXPECT_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	EXPECT_OK(connect(c, (struct sockaddr *)&addr, len));
	EXPECT_ERRNO(connect(c, (struct sockaddr *)&addr, len), EISCONN);
	/* Data may go before the accept. */
	EXPECT_EQ(write(c, "early", 5), 5);
	struct pollfd pl = { l, POLLIN, 0 };
	EXPECT_EQ(sys_poll(&pl, 1, 0), 1);
	glen = sizeof(got);
	int s = (int)EXPECT_OK(accept4(l, (struct sockaddr *)&got, &glen, SOCK_CLOEXEC));
	EXPECT_EQ(glen, offsetof(struct sockaddr_un, sun_path)); /* the client is unbound */
	EXPECT_EQ(fcntl(s, F_GETFD), FD_CLOEXEC);
	char buf[8];
	EXPECT_EQ(read(s, buf, sizeof(buf)), 5);
	EXPECT_EQ(write(s, "reply", 5), 5);
	EXPECT_EQ(read(c, buf, sizeof(buf)), 5);
	/* The accepted socket is named as the listener; the client's peer too. */
	glen = sizeof(got);
	EXPECT_OK(getsockname(s, (struct sockaddr *)&got, &glen));
	EXPECT_EQ(glen, len);
	glen = sizeof(got);
	EXPECT_OK(getpeername(c, (struct sockaddr *)&got, &glen));
	EXPECT_EQ(glen, len);
	EXPECT_TRUE(memcmp(got.sun_path, addr.sun_path, len - 2) == 0);
	glen = sizeof(got);
	EXPECT_OK(getpeername(s, (struct sockaddr *)&got, &glen));
	EXPECT_EQ(glen, offsetof(struct sockaddr_un, sun_path));
	EXPECT_ERRNO(getpeername(l, (struct sockaddr *)&got, &glen), ENOTCONN);

	/* The name is taken while the listener lives; freed with it. */
	int other = (int)EXPECT_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	EXPECT_ERRNO(bind(other, (struct sockaddr *)&addr, len), EADDRINUSE);
	close(s);
	close(c);
	close(l);
	EXPECT_OK(bind(other, (struct sockaddr *)&addr, len));
	EXPECT_ERRNO(bind(other, (struct sockaddr *)&addr, len), EINVAL); /* already bound */
	close(other);
	/* Nobody listens there now. */
	c = (int)EXPECT_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	EXPECT_ERRNO(connect(c, (struct sockaddr *)&addr, len), ECONNREFUSED);
	close(c);
}

static void connections_across_processes_and_backlog(void)
{
	socklen_t len;
	struct sockaddr_un addr = abstract("fork", &len);
	int l = (int)EXPECT_OK(socket(AF_UNIX, SOCK_SEQPACKET, 0));
	EXPECT_OK(bind(l, (struct sockaddr *)&addr, len));
	EXPECT_OK(listen(l, 0));
	pid_t pid = fork();
	if (pid == 0) {
		/* Three clients: with backlog 0, one waits in connect for the accept. */
		int ok = 0;
		for (int i = 0; i < 3; i++) {
			int c = socket(AF_UNIX, SOCK_SEQPACKET, 0);
			if (connect(c, (struct sockaddr *)&addr, len) == 0 && send(c, &i, sizeof(i), 0) == sizeof(i))
				ok++;
			close(c);
		}
		_exit(ok == 3 ? 0 : 1);
	}
	for (int i = 0; i < 3; i++) {
		int s = (int)EXPECT_OK(accept(l, NULL, NULL));
		int v = -1;
		EXPECT_EQ(recv(s, &v, sizeof(v), 0), sizeof(v));
		EXPECT_EQ(v, i);
		close(s);
	}
	EXPECT_EXITED(wait_child(pid), 0);
	/* A listener closed with a connection never accepted: the client reads
	 * ECONNRESET. */
	int c = (int)EXPECT_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	int ls = (int)EXPECT_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	struct sockaddr_un a2 = abstract("embryo", &len);
	EXPECT_OK(bind(ls, (struct sockaddr *)&a2, len));
	EXPECT_OK(listen(ls, 1));
	EXPECT_OK(connect(c, (struct sockaddr *)&a2, len));
	close(ls);
	char ch;
	EXPECT_ERRNO(read(c, &ch, 1), ECONNRESET);
	EXPECT_EQ(read(c, &ch, 1), 0);
	close(c);
	close(l);
}

static void autobind_names_an_unnamed_socket(void)
{
	int s = (int)EXPECT_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	struct sockaddr_un a = { .sun_family = AF_UNIX }, got;
	EXPECT_OK(bind(s, (struct sockaddr *)&a, sizeof(sa_family_t)));
	socklen_t glen = sizeof(got);
	EXPECT_OK(getsockname(s, (struct sockaddr *)&got, &glen));
	EXPECT_EQ(glen, offsetof(struct sockaddr_un, sun_path) + 6);
	EXPECT_EQ(got.sun_path[0], 0);
	/* An unbound socket's name is the family alone. */
	int u = (int)EXPECT_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	glen = sizeof(got);
	EXPECT_OK(getsockname(u, (struct sockaddr *)&got, &glen));
	EXPECT_EQ(glen, sizeof(sa_family_t));
	EXPECT_EQ(got.sun_family, AF_UNIX);
	close(u);
	close(s);
}

static void datagrams_by_name_and_connected(void)
{
	socklen_t la, lb;
	struct sockaddr_un a = abstract("dga", &la), b = abstract("dgb", &lb), from;
	int sa = (int)EXPECT_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	int sb = (int)EXPECT_OK(socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0));
	EXPECT_OK(bind(sa, (struct sockaddr *)&a, la));
	EXPECT_OK(bind(sb, (struct sockaddr *)&b, lb));
	char buf[16];
	/* Unconnected without an address: ENOTCONN. */
	EXPECT_ERRNO(send(sa, "x", 1, 0), ENOTCONN);
	EXPECT_EQ(sendto(sa, "hello", 5, 0, (struct sockaddr *)&b, lb), 5);
	socklen_t flen = sizeof(from);
	EXPECT_EQ(recvfrom(sb, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen), 5);
	EXPECT_EQ(flen, la);
	EXPECT_TRUE(memcmp(from.sun_path, a.sun_path, la - 2) == 0);
	/* From an unbound sender: no name (length 0). */
	int u = (int)EXPECT_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	EXPECT_EQ(sendto(u, "anon", 4, 0, (struct sockaddr *)&b, lb), 4);
	flen = sizeof(from);
	EXPECT_EQ(recvfrom(sb, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen), 4);
	EXPECT_EQ(flen, 0);
	/* Connected: send without an address; getpeername answers. */
	EXPECT_OK(connect(sa, (struct sockaddr *)&b, lb));
	EXPECT_EQ(send(sa, "c", 1, 0), 1);
	EXPECT_EQ(recv(sb, buf, sizeof(buf), 0), 1);
	flen = sizeof(from);
	EXPECT_OK(getpeername(sa, (struct sockaddr *)&from, &flen));
	EXPECT_EQ(flen, lb);
	/* sb connected to sa: others may not send to it (EPERM). */
	EXPECT_OK(connect(sb, (struct sockaddr *)&a, la));
	EXPECT_ERRNO(sendto(u, "no", 2, 0, (struct sockaddr *)&b, lb), EPERM);
	/* AF_UNSPEC unconnects. */
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	EXPECT_OK(connect(sb, &unspec, sizeof(unspec)));
	EXPECT_EQ(sendto(u, "ok", 2, 0, (struct sockaddr *)&b, lb), 2);
	/* The peer closed: ECONNREFUSED once, then not connected. */
	close(sb);
	EXPECT_ERRNO(send(sa, "x", 1, 0), ECONNREFUSED);
	EXPECT_ERRNO(send(sa, "x", 1, 0), ENOTCONN);
	/* A name nobody holds. Abstract names are per type (Linux hashes the
	 * type in): a stream socket finds no datagram socket's name, and may take
	 * the same name itself. */
	EXPECT_ERRNO(sendto(u, "x", 1, 0, (struct sockaddr *)&b, lb), ECONNREFUSED);
	int st = (int)EXPECT_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	EXPECT_ERRNO(connect(st, (struct sockaddr *)&a, la), ECONNREFUSED);
	EXPECT_OK(bind(st, (struct sockaddr *)&a, la));
	close(st);
	close(u);
	close(sa);
}

static void filesystem_names_follow_the_tree(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int s = (int)EXPECT_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	/* A file that is not a socket refuses; a missing one does not exist. */
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", ktap_path(FIXTURE_DIR "/data.txt"));
	EXPECT_ERRNO(connect(s, (struct sockaddr *)&a, sizeof(a)), ECONNREFUSED);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", ktap_path(FIXTURE_DIR "/no-such-socket"));
	EXPECT_ERRNO(connect(s, (struct sockaddr *)&a, sizeof(a)), ENOENT);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", ktap_path("/no/such/dir/sock"));
	EXPECT_ERRNO(bind(s, (struct sockaddr *)&a, sizeof(a)), ENOENT);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", ktap_path(FIXTURE_DIR "/data.txt"));
	EXPECT_ERRNO(bind(s, (struct sockaddr *)&a, sizeof(a)), EADDRINUSE);
	close(s);
	/* Exo's tree is read-only: no new names in it. */
	KTAP_SKIP_UNLESS_EXO("the host's tree is writable");
	s = (int)EXPECT_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	snprintf(a.sun_path, sizeof(a.sun_path), "/tmp-sock");
	EXPECT_ERRNO(bind(s, (struct sockaddr *)&a, sizeof(a)), EROFS);
	close(s);
}

/* ---- descriptors over fork and exec ------------------------------------------------------- */

static int exec_child_main(int argc, char **argv)
{
	if (argc != 3)
		return 10;
	int kept = atoi(argv[2]) & 0xffff, dropped = atoi(argv[2]) >> 16;
	if (fcntl(dropped, F_GETFD) != -1 || errno != EBADF)
		return 11;
	struct stat st;
	if (fstat(kept, &st) != 0 || !S_ISSOCK(st.st_mode))
		return 12;
	if (write(kept, "exec", 4) != 4)
		return 13;
	return 42;
}

static void sockets_are_inherited_and_closed_on_exec(void)
{
	int kept[2], dropped[2];
	if (pair(SOCK_STREAM, kept) || EXPECT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, dropped)))
		return;
	char self[4096], fds[32], root[4200];
	const char *r = getenv("EXO_ROOT");
	snprintf(self, sizeof(self), "%s", ktap_path("/tests/user_socket"));
	snprintf(fds, sizeof(fds), "%d", kept[1] | (dropped[1] << 16));
	snprintf(root, sizeof(root), "EXO_ROOT=%s", r ? r : "");
	char *argv[] = { self, "exec-child", fds, NULL };
	char *envp[] = { root, NULL };
	pid_t pid = fork();
	if (pid == 0) {
		/* Both are open across fork. */
		if (fcntl(dropped[1], F_GETFD) != FD_CLOEXEC || write(dropped[1], "fork", 4) != 4)
			_exit(9);
		syscall(SYS_execve, self, argv, envp);
		_exit(127);
	}
	EXPECT_EXITED(wait_child(pid), 42);
	char buf[8];
	EXPECT_EQ(read(dropped[0], buf, sizeof(buf)), 4);
	EXPECT_EQ(read(kept[0], buf, sizeof(buf)), 4);
	EXPECT_TRUE(memcmp(buf, "exec", 4) == 0);
	/* The parent's copies are still the only other ends: closing them gives
	 * end of file, the child's copies having gone with it. */
	close(kept[1]);
	close(dropped[1]);
	EXPECT_EQ(read(kept[0], buf, sizeof(buf)), 0);
	EXPECT_EQ(read(dropped[0], buf, sizeof(buf)), 0);
	close(kept[0]);
	close(dropped[0]);
}

/* ---- errors ------------------------------------------------------------------------ */

static void socket_creation_errors(void)
{
	int sv[2];
	EXPECT_ERRNO(socket(1000, SOCK_STREAM, 0), EAFNOSUPPORT);
	EXPECT_ERRNO(socket(-1, SOCK_STREAM, 0), EAFNOSUPPORT);
	EXPECT_ERRNO(socket(AF_UNIX, SOCK_STREAM, 7), EPROTONOSUPPORT);
	EXPECT_ERRNO(socket(AF_UNIX, 4 /* SOCK_RDM */, 0), ESOCKTNOSUPPORT);
	EXPECT_ERRNO(socket(AF_UNIX, 10 /* SOCK_PACKET */, 0), ESOCKTNOSUPPORT);
	EXPECT_ERRNO(socket(AF_UNIX, 11, 0), EINVAL);
	EXPECT_ERRNO(socket(AF_UNIX, SOCK_STREAM | 0x100, 0), EINVAL);
	EXPECT_ERRNO(socketpair(AF_UNIX, SOCK_STREAM, 0, (int *)KPTR), EFAULT);
	EXPECT_ERRNO(socketpair(AF_UNIX, SOCK_STREAM, 0, NULL), EFAULT);
	EXPECT_ERRNO(socketpair(1000, SOCK_STREAM, 0, sv), EAFNOSUPPORT);
	EXPECT_ERRNO(socketpair(AF_UNIX, SOCK_STREAM | 0x100, 0, sv), EINVAL);
	/* SOCK_RAW is a datagram socket for AF_UNIX, as in Linux. */
	int raw = (int)EXPECT_OK(socket(AF_UNIX, SOCK_RAW, 0));
	int v = 0;
	socklen_t len = sizeof(v);
	EXPECT_OK(getsockopt(raw, SOL_SOCKET, SO_TYPE, &v, &len));
	EXPECT_EQ(v, SOCK_DGRAM);
	close(raw);
	if (ktap_on_exo()) /* the host has these families */
		EXPECT_ERRNO(socket(AF_INET, SOCK_STREAM, 0), EAFNOSUPPORT);
}

static void calls_on_wrong_descriptors(void)
{
	int p[2];
	char c;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	socklen_t len = sizeof(a);
	EXPECT_OK(pipe(p));
	EXPECT_ERRNO(send(p[1], "x", 1, 0), ENOTSOCK);
	EXPECT_ERRNO(recv(p[0], &c, 1, 0), ENOTSOCK);
	EXPECT_ERRNO(bind(p[0], (struct sockaddr *)&a, 3), ENOTSOCK);
	EXPECT_ERRNO(listen(p[0], 1), ENOTSOCK);
	EXPECT_ERRNO(accept(p[0], NULL, NULL), ENOTSOCK);
	EXPECT_ERRNO(connect(p[0], (struct sockaddr *)&a, 3), ENOTSOCK);
	EXPECT_ERRNO(getsockname(p[0], (struct sockaddr *)&a, &len), ENOTSOCK);
	EXPECT_ERRNO(shutdown(p[0], SHUT_RD), ENOTSOCK);
	EXPECT_ERRNO(getsockopt(p[0], SOL_SOCKET, SO_TYPE, &c, &len), ENOTSOCK);
	close(p[0]);
	close(p[1]);
	EXPECT_ERRNO(send(p[0], "x", 1, 0), EBADF);
	EXPECT_ERRNO(shutdown(-1, SHUT_RD), EBADF);
	EXPECT_ERRNO(listen(9999, 1), EBADF);
}

static void state_errors(void)
{
	int sv[2];
	char c;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	socklen_t len = sizeof(a);
	int s = (int)EXPECT_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	/* Unconnected stream: reads EINVAL, writes ENOTCONN, no peer. */
	EXPECT_ERRNO(read(s, &c, 1), EINVAL);
	EXPECT_ERRNO(write(s, "x", 1), ENOTCONN);
	EXPECT_ERRNO(getpeername(s, (struct sockaddr *)&a, &len), ENOTCONN);
	/* listen needs a name; accept needs listen. */
	EXPECT_ERRNO(listen(s, 1), EINVAL);
	EXPECT_ERRNO(accept(s, NULL, NULL), EINVAL);
	close(s);
	s = (int)EXPECT_OK(socket(AF_UNIX, SOCK_SEQPACKET, 0));
	EXPECT_ERRNO(recv(s, &c, 1, 0), ENOTCONN);
	EXPECT_ERRNO(send(s, "x", 1, 0), ENOTCONN);
	close(s);
	/* Datagram sockets neither listen nor accept. */
	if (pair(SOCK_DGRAM, sv))
		return;
	EXPECT_ERRNO(listen(sv[0], 1), EOPNOTSUPP);
	EXPECT_ERRNO(accept(sv[0], NULL, NULL), EOPNOTSUPP);
	close_pair(sv);
	/* A connected stream: an address in send is EISCONN; listen EINVAL. */
	if (pair(SOCK_STREAM, sv))
		return;
	socklen_t al;
	struct sockaddr_un to = abstract("nobody", &al);
	EXPECT_ERRNO(sendto(sv[0], "x", 1, 0, (struct sockaddr *)&to, al), EISCONN);
	EXPECT_ERRNO(listen(sv[0], 1), EINVAL);
	EXPECT_ERRNO(accept4(sv[0], NULL, NULL, 0x1), EINVAL);
	close_pair(sv);
	/* Out-of-band data: none for messages; Exo has none for streams either
	 * (Linux's CONFIG_AF_UNIX_OOB sends one byte). */
	if (pair(SOCK_SEQPACKET, sv))
		return;
	EXPECT_ERRNO(send(sv[0], "x", 1, MSG_OOB), EOPNOTSUPP);
	close_pair(sv);
	KTAP_SKIP_UNLESS_EXO("Linux has MSG_OOB on streams");
	if (pair(SOCK_STREAM, sv))
		return;
	EXPECT_ERRNO(send(sv[0], "x", 1, MSG_OOB), EOPNOTSUPP);
	close_pair(sv);
}

static void bad_addresses_and_lengths(void)
{
	int s = (int)EXPECT_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	a.sun_path[1] = 'q';
	struct sockaddr_un inet = { .sun_family = AF_INET };
	EXPECT_ERRNO(bind(s, (struct sockaddr *)&a, 1), EINVAL);
	EXPECT_ERRNO(bind(s, (struct sockaddr *)&a, sizeof(a) + 1), EINVAL);
	EXPECT_ERRNO(bind(s, (struct sockaddr *)&a, -1), EINVAL);
	EXPECT_ERRNO(bind(s, (struct sockaddr *)&inet, 4), EINVAL);
	EXPECT_ERRNO(bind(s, (struct sockaddr *)KPTR, 4), EFAULT);
	EXPECT_ERRNO(bind(s, NULL, 4), EFAULT);
	EXPECT_ERRNO(connect(s, (struct sockaddr *)&a, 2), EINVAL);
	EXPECT_ERRNO(connect(s, (struct sockaddr *)&a, 200), EINVAL);
	EXPECT_ERRNO(connect(s, (struct sockaddr *)KPTR, 8), EFAULT);
	EXPECT_ERRNO(sendto(s, "x", 1, 0, (struct sockaddr *)&inet, 4), EINVAL);
	EXPECT_ERRNO(sendto(s, "x", 1, 0, (struct sockaddr *)KPTR, 4), EFAULT);
	socklen_t len = sizeof(a);
	EXPECT_ERRNO(getsockname(s, (struct sockaddr *)KPTR, &len), EFAULT);
	EXPECT_ERRNO(getsockname(s, (struct sockaddr *)&a, (socklen_t *)KPTR), EFAULT);
	EXPECT_ERRNO(getsockname(s, (struct sockaddr *)&a, NULL), EFAULT);
	int neg = -1;
	EXPECT_ERRNO(getsockname(s, (struct sockaddr *)&a, (socklen_t *)&neg), EINVAL);
	close(s);
}

static void bad_buffers_and_messages(void)
{
	int sv[2];
	char c;
	if (pair(SOCK_STREAM, sv))
		return;
	EXPECT_ERRNO(send(sv[0], KPTR, 1, 0), EFAULT);
	EXPECT_ERRNO(write(sv[0], ktap_unmapped_page(), 8), EFAULT);
	EXPECT_EQ(write(sv[0], "xyz", 3), 3);
	EXPECT_ERRNO(recv(sv[1], KPTR, 1, 0), EFAULT);
	EXPECT_ERRNO(read(sv[1], ktap_readonly_page(), 1), EFAULT);
	/* Nothing was lost to the faults. */
	EXPECT_EQ(recv(sv[1], &c, 1, 0), 1);
	EXPECT_EQ(c, 'x');
	struct iovec iov = { "ab", 2 }, bad_iov = { KPTR, 1 }, neg_iov = { "a", (size_t)-1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	/* Raw calls: musl's wrappers copy the msghdr themselves. */
	EXPECT_ERRNO(syscall(SYS_sendmsg, sv[0], KPTR, 0), EFAULT);
	EXPECT_ERRNO(syscall(SYS_recvmsg, sv[1], KPTR, 0), EFAULT);
	mh.msg_iov = &bad_iov;
	EXPECT_ERRNO(sendmsg(sv[0], &mh, 0), EFAULT);
	mh.msg_iov = &neg_iov;
	EXPECT_ERRNO(sendmsg(sv[0], &mh, 0), EINVAL);
	mh.msg_iov = (struct iovec *)KPTR;
	EXPECT_ERRNO(sendmsg(sv[0], &mh, 0), EFAULT);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1025;
	EXPECT_ERRNO(sendmsg(sv[0], &mh, 0), EMSGSIZE);
	EXPECT_ERRNO(recvmsg(sv[1], &mh, 0), EMSGSIZE);
	mh.msg_iovlen = 1;
	mh.msg_namelen = -1;
	mh.msg_name = &c;
	EXPECT_ERRNO(sendmsg(sv[0], &mh, 0), EINVAL);
	/* Options. */
	int v;
	socklen_t len = sizeof(v), neg = (socklen_t)-1;
	EXPECT_ERRNO(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &neg), EINVAL);
	EXPECT_ERRNO(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, KPTR, &len), EFAULT);
	EXPECT_ERRNO(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, (socklen_t *)KPTR), EFAULT);
	EXPECT_ERRNO(getsockopt(sv[0], SOL_SOCKET, 9999, &v, &len), ENOPROTOOPT);
	EXPECT_ERRNO(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, 2), EINVAL);
	EXPECT_ERRNO(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, KPTR, sizeof(v)), EFAULT);
	EXPECT_ERRNO(setsockopt(sv[0], SOL_SOCKET, 9999, &v, sizeof(v)), ENOPROTOOPT);
	EXPECT_ERRNO(getsockopt(sv[0], SOL_SOCKET + 100, SO_TYPE, &v, &len), EOPNOTSUPP);
	close_pair(sv);
}

/* ---- passing descriptors (SCM_RIGHTS) ------------------------------------------------- */

/* Sends `n` bytes of data with fds[0..nfds) in one SCM_RIGHTS message. */
static long send_fds(int sock, const void *data, size_t n, const int *fds, int nfds, int flags)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * 300)];
	} u;
	struct iovec iov = { (void *)data, n };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	memset(&u, 0, sizeof(u)); /* cmsg_len's upper half is musl's padding */
	if (nfds > 0) {
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	return syscall(SYS_sendmsg, sock, &mh, flags); /* musl's copies at most 1,024 control bytes */
}

/* Receives into buf with a control buffer of `room` bytes: the byte count;
 * the fds of an SCM_RIGHTS message in fds[], their number in *nfds, the flags
 * out in *mflags. */
static long recv_fds(int sock, void *buf, size_t n, int *fds, int *nfds, size_t room, int flags,
		     int *mflags)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * 300)];
	} u;
	struct iovec iov = { buf, n };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = room ? u.buf : NULL,
			     .msg_controllen = room };
	*nfds = 0;
	long got = recvmsg(sock, &mh, flags);
	if (got < 0)
		return got;
	*mflags = mh.msg_flags;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (!EXPECT_TRUE(c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS))
			break;
		int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		memcpy(fds + *nfds, CMSG_DATA(c), sizeof(int) * (size_t)k);
		*nfds += k;
	}
	return got;
}

static int same_file(int a, int b)
{
	struct stat sa, sb;
	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev;
}

/* Whether the pipe whose read end is r has no writer left (read: end of file). */
static int pipe_writers_gone(int r)
{
	char c;
	int fl = fcntl(r, F_GETFL);
	fcntl(r, F_SETFL, fl | O_NONBLOCK);
	long n = read(r, &c, 1);
	fcntl(r, F_SETFL, fl);
	return n == 0;
}

static void scm_rights_pass_a_pipe_to_another_process(void)
{
	int sv[2], p[2];
	if (pair(SOCK_STREAM, sv) || EXPECT_OK(pipe(p)))
		return;
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		close(p[0]);
		close(p[1]);
		char buf[8] = { 0 }, msg[8] = { 0 };
		int fds[4], nfds, flags, low = dup(0);
		close(low);
		long got = recv_fds(sv[1], buf, sizeof(buf), fds, &nfds, CMSG_SPACE(sizeof(int)), 0, &flags);
		if (got != 1 || buf[0] != 'p' || nfds != 1 || (flags & MSG_CTRUNC))
			_exit(1);
		if (fds[0] != low) /* the lowest free number */
			_exit(2);
		if (read(fds[0], msg, 5) != 5 || strcmp(msg, "hello"))
			_exit(3);
		_exit(0);
	}
	close(sv[1]);
	EXPECT_EQ(send_fds(sv[0], "p", 1, &p[0], 1, 0), 1);
	close(p[0]); /* the message holds it now */
	EXPECT_EQ(write(p[1], "hello", 5), 5);
	EXPECT_EQ(wait_child(pid), 0);
	close(p[1]);
	close(sv[0]);
}

/* Three descriptors in two cmsgs of one message arrive as one, in order, on
 * every socket type; MSG_CMSG_CLOEXEC sets close-on-exec on them. */
static void scm_rights_several_fds_every_type_and_cloexec(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET };
	for (int t = 0; t < 3; t++) {
		int sv[2], p[2];
		if (pair(types[t], sv) || EXPECT_OK(pipe(p)))
			return;
		int three[3] = { p[0], p[1], sv[0] };
		union {
			struct cmsghdr h;
			char buf[2 * CMSG_SPACE(2 * sizeof(int))];
		} u;
		memset(&u, 0, sizeof(u));
		struct iovec iov = { "xyz", 3 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
				     .msg_controllen = CMSG_SPACE(2 * sizeof(int)) + CMSG_SPACE(sizeof(int)) };
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		*c = (struct cmsghdr){ .cmsg_len = CMSG_LEN(2 * sizeof(int)), .cmsg_level = SOL_SOCKET,
				       .cmsg_type = SCM_RIGHTS };
		memcpy(CMSG_DATA(c), three, 2 * sizeof(int));
		c = CMSG_NXTHDR(&mh, c);
		*c = (struct cmsghdr){ .cmsg_len = CMSG_LEN(sizeof(int)), .cmsg_level = SOL_SOCKET,
				       .cmsg_type = SCM_RIGHTS };
		memcpy(CMSG_DATA(c), three + 2, sizeof(int));
		for (int round = 0; round < 2; round++) {
			EXPECT_EQ(sendmsg(sv[0], &mh, 0), 3);
			char buf[8];
			int fds[8], nfds, flags;
			EXPECT_EQ(recv_fds(sv[1], buf, sizeof(buf), fds, &nfds, CMSG_SPACE(3 * sizeof(int)),
					   round ? MSG_CMSG_CLOEXEC : 0, &flags), 3);
			if (!EXPECT_EQ(nfds, 3))
				break;
			EXPECT_EQ(flags & MSG_CTRUNC, 0);
			for (int i = 0; i < 3; i++) {
				EXPECT_TRUE(fds[i] != three[i] && same_file(fds[i], three[i]));
				EXPECT_EQ(fcntl(fds[i], F_GETFD) & FD_CLOEXEC, round ? FD_CLOEXEC : 0);
			}
			/* The received pipe ends are the pipe. */
			EXPECT_EQ(write(fds[1], "q", 1), 1);
			EXPECT_EQ(read(p[0], buf, 1), 1);
			for (int i = 0; i < 3; i++)
				close(fds[i]);
		}
		close_pair(sv);
		close(p[0]);
		close(p[1]);
	}
}

/* A control buffer too small: what fits is installed, the rest closed,
 * MSG_CTRUNC; none at all without a buffer. */
static void scm_rights_ctrunc_closes_what_does_not_fit(void)
{
	int sv[2], p[2];
	if (pair(SOCK_DGRAM, sv) || EXPECT_OK(pipe(p)))
		return;
	int three[3] = { p[0], p[0], p[1] };
	EXPECT_EQ(send_fds(sv[0], "a", 1, three, 3, 0), 1);
	EXPECT_EQ(send_fds(sv[0], "b", 1, three + 2, 1, 0), 1);
	close(p[1]);
	char buf[4];
	int fds[8], nfds, flags;
	/* Room for two (Linux counts the ints after one header). */
	EXPECT_EQ(recv_fds(sv[1], buf, sizeof(buf), fds, &nfds, CMSG_SPACE(sizeof(int)), 0, &flags), 1);
	EXPECT_EQ(nfds, 2);
	EXPECT_EQ(flags & MSG_CTRUNC, MSG_CTRUNC);
	for (int i = 0; i < nfds; i++) {
		EXPECT_TRUE(same_file(fds[i], p[0]));
		close(fds[i]);
	}
	/* The next has its write end: no control buffer, so it is closed. */
	EXPECT_EQ(recv_fds(sv[1], buf, sizeof(buf), fds, &nfds, 0, 0, &flags), 1);
	EXPECT_EQ(nfds, 0);
	EXPECT_EQ(flags & MSG_CTRUNC, MSG_CTRUNC);
	EXPECT_TRUE(pipe_writers_gone(p[0]));
	close(p[0]);
	close_pair(sv);
}

/* Files not received are closed: by a plain read of their data, and with the
 * socket that queued them. */
static void scm_rights_unreceived_fds_are_closed(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET };
	for (int t = 0; t < 3; t++) {
		int sv[2], p[2];
		char buf[8];
		if (pair(types[t], sv) || EXPECT_OK(pipe(p)))
			return;
		EXPECT_EQ(send_fds(sv[0], "r", 1, &p[1], 1, 0), 1);
		EXPECT_EQ(send_fds(sv[0], "s", 1, &p[1], 1, 0), 1);
		close(p[1]);
		EXPECT_TRUE(!pipe_writers_gone(p[0]));
		EXPECT_EQ(read(sv[1], buf, sizeof(buf)), 1); /* drops the first */
		EXPECT_EQ(buf[0], 'r');
		EXPECT_TRUE(!pipe_writers_gone(p[0]));
		/* MSG_PEEK leaves the second queued. */
		int fds[4], nfds, flags;
		EXPECT_EQ(recv_fds(sv[1], buf, sizeof(buf), fds, &nfds, 0, MSG_PEEK, &flags), 1);
		EXPECT_EQ(buf[0], 's');
		close(sv[1]); /* drops the second */
		EXPECT_TRUE(pipe_writers_gone(p[0]));
		close(sv[0]);
		close(p[0]);
	}
}

/* A stream receive that brings descriptors ends with the bytes they came
 * with; the bytes before and after come in other receives. */
static void scm_rights_stream_reads_stop_at_the_attached_bytes(void)
{
	int sv[2], p[2];
	if (pair(SOCK_STREAM, sv) || EXPECT_OK(pipe(p)))
		return;
	EXPECT_EQ(send(sv[0], "ab", 2, 0), 2);
	EXPECT_EQ(send_fds(sv[0], "cd", 2, &p[0], 1, 0), 2);
	EXPECT_EQ(send(sv[0], "ef", 2, 0), 2);
	EXPECT_EQ(send_fds(sv[0], "gh", 2, &p[1], 1, 0), 2);
	EXPECT_EQ(send_fds(sv[0], "ij", 2, &p[0], 1, 0), 2);
	char all[12] = { 0 }, buf[12];
	int at = 0, fd_from[3] = { -1, -1, -1 }, fd_to[3] = { -1, -1, -1 }, seen = 0;
	while (at < 10) {
		int fds[4], nfds, flags;
		long got = recv_fds(sv[1], buf, sizeof(buf), fds, &nfds, CMSG_SPACE(4 * sizeof(int)),
				    MSG_DONTWAIT, &flags);
		if (!EXPECT_TRUE(got > 0))
			break;
		memcpy(all + at, buf, (size_t)got);
		if (nfds && EXPECT_EQ(nfds, 1) && EXPECT_TRUE(seen < 3)) {
			EXPECT_TRUE(same_file(fds[0], p[seen == 1]));
			close(fds[0]);
			fd_from[seen] = at;
			fd_to[seen++] = at + (int)got;
		}
		at += (int)got;
	}
	EXPECT_EQ(strcmp(all, "abcdefghij"), 0);
	/* Each read that brings fds ends with their bytes; Linux's starts with
	 * the plain bytes before them ("abcd"), Exo's with their own ("cd"). */
	EXPECT_EQ(seen, 3);
	EXPECT_TRUE(fd_from[0] >= 0 && fd_from[0] <= 2);
	EXPECT_EQ(fd_to[0], 4);
	EXPECT_TRUE(fd_from[1] >= 4 && fd_from[1] <= 6);
	EXPECT_EQ(fd_to[1], 8);
	EXPECT_EQ(fd_from[2], 8);
	EXPECT_EQ(fd_to[2], 10);
	close_pair(sv);
	close(p[0]);
	close(p[1]);
}

/* Bad control data: nothing is sent. */
static void scm_rights_bad_fds_and_control_errors(void)
{
	int sv[2], p[2];
	if (pair(SOCK_SEQPACKET, sv) || EXPECT_OK(pipe(p)))
		return;
	int closed = dup(0), bad[2] = { p[0], -1 };
	close(closed);
	EXPECT_ERRNO(send_fds(sv[0], "x", 1, &closed, 1, 0), EBADF);
	EXPECT_ERRNO(send_fds(sv[0], "x", 1, bad, 2, 0), EBADF);
	int many[SCM_MAX_FD_TEST + 1];
	for (int i = 0; i <= SCM_MAX_FD_TEST; i++)
		many[i] = p[1];
	EXPECT_ERRNO(send_fds(sv[0], "x", 1, many, SCM_MAX_FD_TEST + 1, 0), EINVAL);
	char buf[4];
	EXPECT_ERRNO(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	/* A malformed cmsg: a length below the header, or past the buffer. */
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { "x", 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	/* Raw calls: musl's wrapper copies the control data itself. */
	u.h = (struct cmsghdr){ .cmsg_len = sizeof(struct cmsghdr) - 1, .cmsg_level = SOL_SOCKET,
				.cmsg_type = SCM_RIGHTS };
	memcpy(CMSG_DATA(&u.h), &p[0], sizeof(int));
	EXPECT_ERRNO(syscall(SYS_sendmsg, sv[0], &mh, 0), EINVAL);
	u.h.cmsg_len = sizeof(u.buf) + 1;
	EXPECT_ERRNO(syscall(SYS_sendmsg, sv[0], &mh, 0), EINVAL);
	u.h.cmsg_len = CMSG_LEN(sizeof(int));
	u.h.cmsg_type = 99; /* no such SOL_SOCKET type */
	EXPECT_ERRNO(syscall(SYS_sendmsg, sv[0], &mh, 0), EINVAL);
	mh.msg_control = KPTR;
	EXPECT_ERRNO(syscall(SYS_sendmsg, sv[0], &mh, 0), EFAULT);
	mh.msg_control = u.buf;
	mh.msg_controllen = 1u << 20; /* past net.core.optmem_max */
	EXPECT_ERRNO(syscall(SYS_sendmsg, sv[0], &mh, 0), ENOBUFS);
	EXPECT_ERRNO(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	/* The most a message carries: SCM_MAX_FD, dropped with the socket. */
	EXPECT_EQ(send_fds(sv[0], "x", 1, many, SCM_MAX_FD_TEST, 0), 1);
	close(p[1]);
	EXPECT_TRUE(!pipe_writers_gone(p[0]));
	close_pair(sv);
	EXPECT_TRUE(pipe_writers_gone(p[0]));
	close(p[0]);
}

/* Exo refuses what could make a cycle of sockets in flight (Linux collects
 * them): ETOOMANYREFS; anything else passes. SCM_CREDENTIALS is not built. */
static void scm_rights_refuses_cycles(void)
{
	KTAP_SKIP_UNLESS_EXO("exo policy: no in-flight socket cycles");
	int ab[2], cd[2], p[2];
	if (pair(SOCK_STREAM, ab) || pair(SOCK_DGRAM, cd) || EXPECT_OK(pipe(p)))
		return;
	/* Into its own queue, either end. */
	EXPECT_ERRNO(send_fds(ab[1], "x", 1, &ab[0], 1, 0), ETOOMANYREFS);
	EXPECT_ERRNO(send_fds(ab[0], "x", 1, &ab[1], 1, 0), ETOOMANYREFS);
	/* c into a's queue is fine; then no socket goes into c's queue (other
	 * files do), and a (which holds c) goes nowhere. */
	int ef[2];
	if (pair(SOCK_STREAM, ef))
		return;
	EXPECT_EQ(send_fds(ab[1], "c", 1, &cd[0], 1, 0), 1);
	EXPECT_ERRNO(send_fds(cd[1], "x", 1, &ab[1], 1, 0), ETOOMANYREFS);
	EXPECT_ERRNO(send_fds(cd[1], "x", 1, &ef[0], 1, 0), ETOOMANYREFS);
	EXPECT_EQ(send_fds(cd[1], "p", 1, &p[0], 1, 0), 1);
	EXPECT_ERRNO(send_fds(ef[1], "x", 1, &ab[0], 1, 0), ETOOMANYREFS);
	EXPECT_EQ(send_fds(ef[1], "x", 1, &ab[1], 1, 0), 1); /* b holds nothing */
	/* Received, c is an ordinary socket again. */
	char buf[4];
	int fds[4], nfds, flags;
	EXPECT_EQ(recv_fds(ab[0], buf, sizeof(buf), fds, &nfds, CMSG_SPACE(sizeof(int)), 0, &flags), 1);
	EXPECT_EQ(nfds, 1);
	EXPECT_EQ(send_fds(cd[1], "x", 1, &p[0], 1, 0), 1);
	EXPECT_EQ(send_fds(ef[1], "y", 1, &ab[0], 1, 0), 1);
	close(fds[0]);
	/* A listener into a connection it has queued (which it owns). */
	socklen_t len;
	struct sockaddr_un a = abstract("scm", &len);
	int l = socket(AF_UNIX, SOCK_STREAM, 0), c = socket(AF_UNIX, SOCK_STREAM, 0);
	EXPECT_OK(bind(l, (struct sockaddr *)&a, len));
	EXPECT_OK(listen(l, 4));
	EXPECT_OK(connect(c, (struct sockaddr *)&a, len));
	EXPECT_ERRNO(send_fds(c, "x", 1, &l, 1, 0), ETOOMANYREFS);
	EXPECT_EQ(send_fds(c, "x", 1, &ab[0], 1, 0), 1); /* a holds nothing now */
	/* SCM_CREDENTIALS is not built. */
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(struct ucred))];
	} u;
	struct ucred cred = { getpid(), getuid(), getgid() };
	struct iovec iov = { "x", 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	u.h = (struct cmsghdr){ .cmsg_len = CMSG_LEN(sizeof(cred)), .cmsg_level = SOL_SOCKET,
				.cmsg_type = SCM_CREDENTIALS };
	memcpy(CMSG_DATA(&u.h), &cred, sizeof(cred));
	EXPECT_ERRNO(sendmsg(c, &mh, 0), EOPNOTSUPP);
	/* Everything still queued goes with the sockets (counts: the user suite). */
	close(l);
	close(c);
	close_pair(ab);
	close_pair(cd);
	close_pair(ef);
	close(p[0]);
	close(p[1]);
}

/* ---- stress ------------------------------------------------------------------------ */

/* One seeded round of the ways a socket ends: pairs closed with data unread,
 * listeners closed with connections never accepted, datagrams left queued,
 * ends held by a child that exits. The kernel's `user` suite runs this case
 * and checks that frame and heap counts come back exactly. */
static void stress_round(int round)
{
	static const int types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET };
	static char data[6000];
	int type = types[ktap_rand_below(3)];
	int sv[2];
	switch (ktap_rand_below(5)) {
	case 0: { /* a pair, data each way, closed in either order */
		if (socketpair(AF_UNIX, type | SOCK_NONBLOCK, 0, sv))
			break;
		for (int i = (int)ktap_rand_below(8); i > 0; i--)
			send(sv[ktap_rand_below(2)], data, ktap_rand_below(sizeof(data)), MSG_NOSIGNAL);
		if (ktap_rand_below(2))
			shutdown(sv[0], (int)ktap_rand_below(3));
		char buf[100];
		recv(sv[1], buf, sizeof(buf), 0);
		int first = (int)ktap_rand_below(2);
		close(sv[first]);
		send(sv[!first], "late", 4, MSG_NOSIGNAL);
		close(sv[!first]);
		break;
	}
	case 1: { /* a listener, some connections accepted, the rest dropped */
		if (type == SOCK_DGRAM)
			type = SOCK_STREAM;
		socklen_t len;
		char tag[16];
		snprintf(tag, sizeof(tag), "st%d", round);
		struct sockaddr_un a = abstract(tag, &len);
		int l = socket(AF_UNIX, type | SOCK_NONBLOCK, 0), c[4], n = 0;
		if (bind(l, (struct sockaddr *)&a, len) || listen(l, 8)) {
			EXPECT_TRUE(0);
			close(l);
			break;
		}
		for (int i = (int)ktap_rand_below(5); i > 0; i--) {
			c[n] = socket(AF_UNIX, type, 0);
			if (connect(c[n], (struct sockaddr *)&a, len) == 0)
				send(c[n], data, ktap_rand_below(100), MSG_NOSIGNAL);
			n++;
		}
		for (int i = (int)ktap_rand_below((uint64_t)n + 1); i > 0; i--) {
			int s = accept(l, NULL, NULL);
			if (s >= 0 && ktap_rand_below(2))
				send(s, "hi", 2, MSG_NOSIGNAL);
			close(s);
		}
		close(l);
		while (n > 0)
			close(c[--n]);
		break;
	}
	case 2: { /* named datagrams left queued */
		socklen_t len;
		char tag[16];
		snprintf(tag, sizeof(tag), "dg%d", round);
		struct sockaddr_un a = abstract(tag, &len);
		int r = socket(AF_UNIX, SOCK_DGRAM, 0), w = socket(AF_UNIX, SOCK_DGRAM, 0);
		EXPECT_OK(bind(r, (struct sockaddr *)&a, len));
		for (int i = (int)ktap_rand_below(6); i > 0; i--)
			sendto(w, data, ktap_rand_below(sizeof(data)), MSG_DONTWAIT, (struct sockaddr *)&a, len);
		if (ktap_rand_below(2))
			connect(w, (struct sockaddr *)&a, len);
		close(r);
		close(w);
		break;
	}
	case 4: { /* descriptors in flight: some received, the rest dropped with
		   * the sockets (some sends refused: cycles), or by a child's exit */
		int x[2], p[2];
		if (socketpair(AF_UNIX, type | SOCK_NONBLOCK, 0, sv))
			break;
		if (socketpair(AF_UNIX, types[ktap_rand_below(3)] | SOCK_NONBLOCK, 0, x)) {
			close_pair(sv);
			break;
		}
		if (pipe(p)) {
			close_pair(sv);
			close_pair(x);
			break;
		}
		int pool[6] = { p[0], p[1], sv[0], sv[1], x[0], x[1] };
		pid_t pid = ktap_rand_below(4) ? -1 : fork();
		if (pid == 0) { /* the child sends, then exits with its ends */
			for (int i = (int)ktap_rand_below(5); i > 0; i--) {
				int fds[4];
				for (int k = 0; k < 4; k++)
					fds[k] = pool[ktap_rand_below(6)];
				send_fds(pool[2 + ktap_rand_below(4)], data, 1 + ktap_rand_below(100), fds,
					 1 + (int)ktap_rand_below(4), MSG_DONTWAIT | MSG_NOSIGNAL);
			}
			_exit(0);
		}
		for (int i = (int)ktap_rand_below(8); i > 0; i--) {
			int fds[4], got[300], n, flags;
			char buf[128];
			for (int k = 0; k < 4; k++)
				fds[k] = pool[ktap_rand_below(6)];
			if (ktap_rand_below(3)) {
				send_fds(pool[2 + ktap_rand_below(4)], data, ktap_rand_below(100), fds,
					 1 + (int)ktap_rand_below(4), MSG_DONTWAIT | MSG_NOSIGNAL);
			} else if (recv_fds(pool[2 + ktap_rand_below(4)], buf, sizeof(buf), got, &n,
					    ktap_rand_below(2) ? CMSG_SPACE(ktap_rand_below(5) * sizeof(int)) : 0,
					    MSG_DONTWAIT | (ktap_rand_below(4) ? 0 : MSG_PEEK), &flags) >= 0) {
				while (n > 0)
					close(got[--n]);
			}
		}
		if (pid > 0)
			waitpid(pid, NULL, 0);
		for (int i = 0; i < 6; i++) { /* in a random order */
			int k = i + (int)ktap_rand_below((uint64_t)(6 - i)), t = pool[i];
			pool[i] = pool[k];
			pool[k] = t;
			close(pool[i]);
		}
		break;
	}
	default: { /* a child holds one end and exits mid-conversation */
		if (socketpair(AF_UNIX, type, 0, sv))
			break;
		pid_t pid = fork();
		if (pid == 0) {
			close(sv[0]);
			send(sv[1], data, ktap_rand_below(sizeof(data)), MSG_NOSIGNAL);
			_exit(0);
		}
		close(sv[1]);
		char buf[8192];
		recv(sv[0], buf, sizeof(buf), 0);
		waitpid(pid, NULL, 0);
		close(sv[0]);
		break;
	}
	}
}

static void seeded_stress_of_sockets_leaves_nothing_open(void)
{
	int before = (int)EXPECT_OK(dup(0));
	close(before);
	for (int i = 0; i < 300 && ktap_case_failures() == 0; i++)
		stress_round(i);
	/* Every descriptor went: the lowest free number is where it was. */
	int after = (int)EXPECT_OK(dup(0));
	EXPECT_EQ(after, before);
	close(after);
}

/* ---- a seeded fuzzer over the socket calls ---------------------------------------------- */

#define FUZZ_BATCHES 12
#define FUZZ_CALLS 400
#define FUZZ_FDS 24
#define FUZZ_SCRATCH 16384

static uint8_t *fuzz_scratch;
static int fuzz_fds[FUZZ_FDS];

/* A pointer argument: into the scratch area (random bytes, or a built
 * structure), or NULL, kernel-half, unmapped, read-only. */
static long fuzz_ptr(void)
{
	switch (ktap_rand_below(8)) {
	case 0: return 0;
	case 1: return (long)KPTR;
	case 2: return (long)ktap_unmapped_page();
	case 3: return (long)ktap_readonly_page();
	case 4: return (long)(ktap_mapping_end() - ktap_rand_below(16));
	default: return (long)(fuzz_scratch + ktap_rand_below(FUZZ_SCRATCH - 256));
	}
}

static long fuzz_int(void)
{
	static const long special[] = { 0, 1, 2, 3, 5, -1, 110, 111, 128, 1 << 20, 0x7fffffff,
					MSG_PEEK | MSG_DONTWAIT, MSG_TRUNC | MSG_DONTWAIT, MSG_WAITALL };
	if (ktap_rand_below(2))
		return special[ktap_rand_below(sizeof(special) / sizeof(special[0]))];
	return (long)ktap_rand();
}

static long fuzz_fd(void)
{
	return ktap_rand_below(8) ? fuzz_fds[ktap_rand_below(FUZZ_FDS)] : fuzz_int();
}

/* An address in the scratch area: abstract, the family alone, another family,
 * or a path in a directory that does not exist; its length in *len. */
static long fuzz_addr(long *len)
{
	struct sockaddr_un *a = (struct sockaddr_un *)(fuzz_scratch + ktap_rand_below(64) * 128);
	a->sun_family = ktap_rand_below(6) ? AF_UNIX : (sa_family_t)ktap_rand_below(50);
	a->sun_path[0] = 0;
	a->sun_path[1] = (char)('a' + ktap_rand_below(4)); /* a few names, so some meet */
	*len = (long)(offsetof(struct sockaddr_un, sun_path) + 2);
	switch (ktap_rand_below(5)) {
	case 0: *len = sizeof(sa_family_t); break;
	case 1: strcpy(a->sun_path, "/no-such-dir-exo/s"); *len = sizeof(*a); break;
	case 2: *len = fuzz_int(); break;
	default: break;
	}
	return ktap_rand_below(10) ? (long)a : fuzz_ptr();
}

/* A msghdr in the scratch area with fields random or plausible. */
static long fuzz_msghdr(void)
{
	struct msghdr *m = (struct msghdr *)(fuzz_scratch + FUZZ_SCRATCH - 128);
	struct iovec *iov = (struct iovec *)(fuzz_scratch + FUZZ_SCRATCH - 256);
	for (int i = 0; i < 4; i++)
		iov[i] = (struct iovec){ (void *)fuzz_ptr(), ktap_rand_below(3) ? ktap_rand_below(9000)
										    : (size_t)fuzz_int() };
	long len;
	m->msg_name = ktap_rand_below(2) ? (void *)fuzz_addr(&len) : NULL;
	m->msg_namelen = (socklen_t)len;
	m->msg_iov = ktap_rand_below(8) ? iov : (struct iovec *)fuzz_ptr();
	m->msg_iovlen = ktap_rand_below(8) ? ktap_rand_below(5) : (size_t)fuzz_int();
	m->msg_control = ktap_rand_below(8) ? NULL : (void *)fuzz_ptr();
	m->msg_controllen = m->msg_control ? ktap_rand_below(64) : 0;
	if (ktap_rand_below(3) == 0) { /* SCM_RIGHTS, one or two cmsgs, fds of the batch's */
		uint8_t *c = fuzz_scratch + FUZZ_SCRATCH - 2048;
		size_t at = 0;
		memset(c, 0, 1792);
		for (int msgs = 1 + (int)ktap_rand_below(2); msgs > 0; msgs--) {
			size_t n = ktap_rand_below(8) ? ktap_rand_below(6) : ktap_rand_below(260);
			if (at + CMSG_SPACE(n * sizeof(int)) > 1792)
				break;
			struct cmsghdr h = { .cmsg_len = CMSG_LEN(n * sizeof(int)), .cmsg_level = SOL_SOCKET,
					     .cmsg_type = SCM_RIGHTS };
			if (ktap_rand_below(10) == 0)
				h.cmsg_len = (socklen_t)fuzz_int();
			if (ktap_rand_below(10) == 0)
				h.cmsg_type = (int)ktap_rand_below(4);
			if (ktap_rand_below(10) == 0)
				h.cmsg_level = (int)fuzz_int();
			memcpy(c + at, &h, sizeof(h));
			for (size_t i = 0; i < n; i++) {
				int fd = (int)fuzz_fd();
				memcpy(c + at + CMSG_LEN(i * sizeof(int)), &fd, sizeof(fd));
			}
			at += CMSG_SPACE(n * sizeof(int));
		}
		m->msg_control = c;
		m->msg_controllen = ktap_rand_below(8) ? at : ktap_rand_below(1792);
	}
	m->msg_flags = (int)fuzz_int();
	return ktap_rand_below(10) ? (long)m : fuzz_ptr();
}

static void fuzz_keep(long fd)
{
	if (fd >= 0)
		fuzz_fds[ktap_rand_below(FUZZ_FDS)] = (int)fd;
}

static void fuzz_one_call(void)
{
	static const int families[] = { AF_UNIX, AF_UNIX, AF_UNIX, AF_INET, 0, -1 };
	long len, fd = fuzz_fd();
	int type = (int)(ktap_rand_below(6) | (ktap_rand_below(2) ? SOCK_NONBLOCK : 0));
	switch (ktap_rand_below(17)) {
	case 0: fuzz_keep(syscall(SYS_socket, families[ktap_rand_below(6)], type, ktap_rand_below(3))); break;
	case 1: {
		int *sv = (int *)(fuzz_scratch + 64);
		long p = ktap_rand_below(8) ? (long)sv : fuzz_ptr();
		if (syscall(SYS_socketpair, AF_UNIX, type, 0, p) == 0 && p == (long)sv) {
			fuzz_keep(sv[0]);
			fuzz_keep(sv[1]);
		}
		break;
	}
	case 2: { long a = fuzz_addr(&len); syscall(SYS_bind, fd, a, len); break; }
	case 3: syscall(SYS_listen, fd, fuzz_int()); break;
	case 4: { long a = fuzz_addr(&len); syscall(SYS_connect, fd, a, len); break; }
	case 5: {
		socklen_t *l = (socklen_t *)(fuzz_scratch + 128);
		*l = (socklen_t)fuzz_int();
		fuzz_keep(syscall(SYS_accept4, fd, fuzz_ptr(), ktap_rand_below(4) ? (long)l : fuzz_ptr(),
				  SOCK_NONBLOCK | (ktap_rand_below(8) ? 0 : fuzz_int())));
		break;
	}
	case 6:
	case 7: {
		socklen_t *l = (socklen_t *)(fuzz_scratch + 128);
		*l = (socklen_t)(ktap_rand_below(2) ? 110 : fuzz_int());
		syscall(ktap_rand_below(2) ? SYS_getsockname : SYS_getpeername, fd, fuzz_ptr(),
			ktap_rand_below(4) ? (long)l : fuzz_ptr());
		break;
	}
	case 8: syscall(SYS_shutdown, fd, ktap_rand_below(4) ? (long)ktap_rand_below(3) : fuzz_int()); break;
	case 9: {
		socklen_t *l = (socklen_t *)(fuzz_scratch + 128);
		*l = (socklen_t)(ktap_rand_below(2) ? 4 : fuzz_int());
		syscall(SYS_getsockopt, fd, ktap_rand_below(4) ? SOL_SOCKET : fuzz_int(),
			ktap_rand_below(45), fuzz_ptr(), ktap_rand_below(4) ? (long)l : fuzz_ptr());
		break;
	}
	case 10: syscall(SYS_setsockopt, fd, ktap_rand_below(4) ? SOL_SOCKET : fuzz_int(),
			 ktap_rand_below(45), fuzz_ptr(), ktap_rand_below(2) ? 4 : fuzz_int()); break;
	case 11: {
		long a = fuzz_addr(&len);
		syscall(SYS_sendto, fd, fuzz_ptr(), ktap_rand_below(9000), fuzz_int() | MSG_DONTWAIT,
			ktap_rand_below(2) ? a : 0, len);
		break;
	}
	case 12: {
		socklen_t *l = (socklen_t *)(fuzz_scratch + 128);
		*l = (socklen_t)fuzz_int();
		syscall(SYS_recvfrom, fd, fuzz_ptr(), ktap_rand_below(9000), fuzz_int() | MSG_DONTWAIT,
			fuzz_ptr(), ktap_rand_below(2) ? (long)l : fuzz_ptr());
		break;
	}
	case 13: syscall(SYS_sendmsg, fd, fuzz_msghdr(), fuzz_int() | MSG_DONTWAIT); break;
	case 14: syscall(SYS_recvmsg, fd, fuzz_msghdr(), fuzz_int() | MSG_DONTWAIT); break;
	case 15: {
		struct pollfd p = { (int)fd, POLLIN | POLLOUT, 0 };
		syscall(SYS_poll, &p, 1, 0);
		syscall(ktap_rand_below(2) ? SYS_read : SYS_write, fd, fuzz_ptr(), ktap_rand_below(9000));
		break;
	}
	default: close((int)fd); break;
	}
}

static int fuzz_batch(void)
{
	signal(SIGPIPE, SIG_IGN);
	/* Random fds include 0 to 2: a random write there would put bytes in the
	 * KTAP stream on the console. The batch prints nothing, so it drops them
	 * (the sockets it makes then take those numbers). */
	for (int i = 0; i < 3; i++)
		close(i);
	for (int i = 0; i < FUZZ_FDS; i++)
		fuzz_fds[i] = -1;
	for (int i = 0; i < FUZZ_CALLS; i++)
		fuzz_one_call();
	return 0;
}

/* Random arguments to every socket call, on sockets of every kind and state,
 * from forked children in batches: a batch blocked at its deadline (a random
 * blocking socket) is killed. The deadline is short (300 ms; a batch that does
 * not block ends in a few): a long one made the case's time, and with it the
 * boots', depend on how many batches the seed happened to block. The checks: each child ends, the suite still
 * works after, and (tests/ktest/user_test.c) frame and heap counts come back
 * exactly. Exo only: on a host a random path could name a real file. */
static void seeded_fuzz_of_socket_calls(void)
{
	KTAP_SKIP_UNLESS_EXO("random socket calls on the host");
	fuzz_scratch = mmap(NULL, FUZZ_SCRATCH, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!EXPECT_TRUE(fuzz_scratch != MAP_FAILED))
		return;
	for (int i = 0; i < FUZZ_SCRATCH; i++)
		fuzz_scratch[i] = (uint8_t)ktap_rand();
	for (int b = 0; b < FUZZ_BATCHES; b++) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(fuzz_batch());
		int status = 0, waited = 0;
		for (int ms = 0; ms < 300 && !waited; ms += 10) {
			waited = waitpid(pid, &status, WNOHANG) == pid;
			if (!waited)
				sleep_ms(10);
		}
		if (!waited) {
			kill(pid, SIGKILL);
			EXPECT_EQ(waitpid(pid, &status, 0), pid);
		}
		ktap_rand(); /* each batch its own draw */
	}
	munmap(fuzz_scratch, FUZZ_SCRATCH);
	/* The kernel still serves sockets. */
	int sv[2];
	char c;
	if (pair(SOCK_STREAM, sv))
		return;
	EXPECT_EQ(write(sv[0], "k", 1), 1);
	EXPECT_EQ(read(sv[1], &c, 1), 1);
	close_pair(sv);
}

static const struct ktap_case cases[] = {
	KTAP_CASE(stream_data_integrity_random_sizes_both_directions),
	KTAP_CASE(socketpair_fds_are_sockets_with_their_flags),
	KTAP_CASE(sockopts_report_type_error_and_buffers),
	KTAP_CASE(blocked_reader_is_woken_by_a_writer_in_another_process),
	KTAP_CASE(blocked_writer_is_woken_when_the_reader_drains),
	KTAP_CASE(closed_peer_gives_eof_and_econnreset_if_it_left_data),
	KTAP_CASE(write_to_a_closed_peer_is_epipe_and_sigpipe),
	KTAP_CASE(nonblocking_calls_are_eagain),
	KTAP_CASE(datagrams_keep_boundaries_and_report_truncation),
	KTAP_CASE(random_datagrams_arrive_whole_and_in_order),
	KTAP_CASE(msg_peek_leaves_the_data),
	KTAP_CASE(vectors_gather_and_scatter),
	KTAP_CASE(msg_waitall_waits_for_the_whole_buffer),
	KTAP_CASE(shutdown_ends_one_direction),
	KTAP_CASE(poll_reports_in_out_hup_and_rdhup),
	KTAP_CASE(abstract_listen_connect_accept_and_names),
	KTAP_CASE(connections_across_processes_and_backlog),
	KTAP_CASE(autobind_names_an_unnamed_socket),
	KTAP_CASE(datagrams_by_name_and_connected),
	KTAP_CASE(filesystem_names_follow_the_tree),
	KTAP_CASE(sockets_are_inherited_and_closed_on_exec),
	KTAP_CASE(socket_creation_errors),
	KTAP_CASE(calls_on_wrong_descriptors),
	KTAP_CASE(state_errors),
	KTAP_CASE(bad_addresses_and_lengths),
	KTAP_CASE(bad_buffers_and_messages),
	KTAP_CASE(scm_rights_pass_a_pipe_to_another_process),
	KTAP_CASE(scm_rights_several_fds_every_type_and_cloexec),
	KTAP_CASE(scm_rights_ctrunc_closes_what_does_not_fit),
	KTAP_CASE(scm_rights_unreceived_fds_are_closed),
	KTAP_CASE(scm_rights_stream_reads_stop_at_the_attached_bytes),
	KTAP_CASE(scm_rights_bad_fds_and_control_errors),
	KTAP_CASE(scm_rights_refuses_cycles),
	KTAP_CASE(seeded_stress_of_sockets_leaves_nothing_open),
	KTAP_CASE(seeded_fuzz_of_socket_calls),
};

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "exec-child") == 0)
		return exec_child_main(argc, argv);
	return ktap_main(argc, argv, cases, KTAP_NCASES(cases));
}
