/*
 * user_ipc: Exo's synchronous IPC (include/uapi/exo_ipc.h): register messages
 * both ways, buffers of random sizes with checksums, FIFO order, many clients
 * and many server threads, the ends (server killed, endpoint closed: EPIPE),
 * timeouts, signals, every bad argument, a seeded stress and a seeded fuzzer.
 *
 * On another kernel the calls do not exist: each case skips ("not Exo") when
 * the first call answers ENOSYS. Every wait that could hang on a bug has a
 * timeout, so a lost wake-up fails instead of hanging.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exo_ipc.h"
#include "ktap.h"

#define SEC 1000000000ull
#define CASE_TIMEOUT (20 * SEC)

static int ipc_missing(void)
{
	long r = exo_ipc_raw(EXO_SYS_ipc_endpoint, 0, 0, 0, 0, 0, 0);
	if (r == -ENOSYS)
		return 1;
	if (r >= 0)
		close((int)r);
	return 0;
}

#define SKIP_UNLESS_IPC()                              \
	do {                                           \
		if (ipc_missing()) {                   \
			ktap_skip("not Exo");          \
			return;                        \
		}                                      \
	} while (0)

static void pause_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static uint32_t checksum(const uint8_t *p, size_t n, uint32_t h)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* A server loop: replies to each call with every word + 1 (word 5: the server's
 * tag); word 0 == ~0 ends it. Buffers: replies with the checksum of what came in
 * word 0, and a buffer of w[1] bytes of pattern w[2]. */
static void serve(int fd, uint64_t tag)
{
	static uint8_t in[EXO_IPC_BUF_MAX], out[EXO_IPC_BUF_MAX];
	struct ipc_msg m = { { 0 } };
	struct exo_ipc_ext ext = { 0, 0, (uint64_t)in, sizeof(in) };
	long token = ipc_recv(fd, &m, 0, &ext, CASE_TIMEOUT);
	while (token > 0) {
		if (m.w[0] == ~0ull) {
			ipc_reply_recv(token, &m, fd, EXO_IPC_NORECV, NULL, 0);
			return;
		}
		struct ipc_msg r;
		size_t got = ext.recv_bytes;
		if (m.w[3] == 1) { /* buffer mode */
			size_t n = m.w[1] % (EXO_IPC_BUF_MAX + 1);
			for (size_t i = 0; i < n; i++)
				out[i] = (uint8_t)(m.w[2] + i * 7);
			r = (struct ipc_msg){ { checksum(in, got, 2166136261u), got, n, 1, 0, tag } };
			ext = (struct exo_ipc_ext){ (uint64_t)out, n, (uint64_t)in, sizeof(in) };
		} else {
			for (int i = 0; i < 5; i++)
				r.w[i] = m.w[i] + 1;
			r.w[5] = tag;
			ext = (struct exo_ipc_ext){ 0, 0, (uint64_t)in, sizeof(in) };
		}
		m = r;
		token = ipc_reply_recv(token, &m, fd, 0, &ext, CASE_TIMEOUT);
	}
}

/* A server process on ep; the caller keeps only a client fd. */
static pid_t fork_server(int ep, uint64_t tag)
{
	pid_t pid = fork();
	if (pid == 0) {
		serve(ep, tag);
		_exit(0);
	}
	return pid;
}

static void stop_server(int client, pid_t pid)
{
	struct ipc_msg m = { { ~0ull } }, r;
	ipc_call(client, &m, &r);
	int status;
	waitpid(pid, &status, 0);
	EXPECT_EXITED(status, 0);
}

static void register_message_round_trip(void)
{
	SKIP_UNLESS_IPC();
	int ep = EXPECT_OK(ipc_endpoint(0));
	int c = EXPECT_OK(ipc_client(ep, 0));
	pid_t pid = fork_server(ep, 77);
	close(ep);
	for (int n = 0; n < 50; n++) {
		struct ipc_msg m = { { ktap_rand(), ktap_rand(), n, 0, ~0ull - 5, 0 } }, r;
		EXPECT_EQ(ipc_call(c, &m, &r), 0);
		for (int i = 0; i < 5; i++)
			EXPECT_EQ(r.w[i], m.w[i] + 1);
		EXPECT_EQ(r.w[5], 77);
	}
	stop_server(c, pid);
	close(c);
}

static void buffer_random_sizes_checksummed_both_ways(void)
{
	SKIP_UNLESS_IPC();
	static uint8_t out[EXO_IPC_BUF_MAX], in[EXO_IPC_BUF_MAX];
	int ep = EXPECT_OK(ipc_endpoint(0));
	int c = EXPECT_OK(ipc_client(ep, 0));
	pid_t pid = fork_server(ep, 1);
	close(ep);
	for (int n = 0; n < 16; n++) {
		size_t send = n == 0 ? 0 : n == 1 ? EXO_IPC_BUF_MAX : ktap_rand_below(EXO_IPC_BUF_MAX + 1);
		size_t back = n == 2 ? EXO_IPC_BUF_MAX : ktap_rand_below(EXO_IPC_BUF_MAX + 1);
		uint8_t seed = (uint8_t)ktap_rand();
		for (size_t i = 0; i < send; i++)
			out[i] = (uint8_t)ktap_rand();
		struct ipc_msg m = { { 0, back, seed, 1, 0, 0 } };
		struct exo_ipc_ext ext = { (uint64_t)out, send, (uint64_t)in, sizeof(in) };
		EXPECT_EQ(ipc_call_ext(c, &m, 0, &ext, CASE_TIMEOUT), 0);
		EXPECT_EQ(m.w[0], checksum(out, send, 2166136261u));
		EXPECT_EQ(m.w[1], send);
		EXPECT_EQ(ext.recv_bytes, back);
		size_t bad = 0;
		for (size_t i = 0; i < back; i++)
			bad += in[i] != (uint8_t)(seed + i * 7);
		EXPECT_EQ(bad, 0);
	}
	/* A reply larger than the room is cut; recv_bytes says how much was sent. */
	struct ipc_msg m = { { 0, 5000, 3, 1, 0, 0 } };
	struct exo_ipc_ext ext = { 0, 0, (uint64_t)in, 100 };
	EXPECT_EQ(ipc_call_ext(c, &m, 0, &ext, CASE_TIMEOUT), 0);
	EXPECT_EQ(ext.recv_bytes, 5000);
	stop_server(c, pid);
	close(c);
}

/* Callers queue in arrival order; the server takes them first come first served. */
static void callers_served_in_arrival_order(void)
{
	SKIP_UNLESS_IPC();
	int ep = EXPECT_OK(ipc_endpoint(0));
	int c = EXPECT_OK(ipc_client(ep, 0));
	enum { N = 4 };
	pid_t kids[N];
	for (int i = 0; i < N; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			close(ep);
			struct ipc_msg m = { { (uint64_t)i } }, r;
			_exit(ipc_call(c, &m, &r) == 0 && r.w[0] == (uint64_t)i + 100 ? 0 : 1);
		}
		pause_ms(40); /* so each is queued before the next comes */
	}
	for (int i = 0; i < N; i++) {
		struct ipc_msg m = { { 0 } };
		long token = EXPECT_OK(ipc_recv(ep, &m, 0, NULL, CASE_TIMEOUT));
		EXPECT_EQ(m.w[0], i);
		m.w[0] += 100;
		EXPECT_EQ(ipc_reply_recv(token, &m, ep, EXO_IPC_NORECV, NULL, 0), 0);
	}
	for (int i = 0; i < N; i++) {
		int status;
		waitpid(kids[i], &status, 0);
		EXPECT_EXITED(status, 0);
	}
	close(c);
	close(ep);
}

static int client_loop(int c, int calls, uint64_t id)
{
	for (int n = 0; n < calls; n++) {
		struct ipc_msg m = { { id, (uint64_t)n, 0, 0, 0, 0 } }, r;
		if (ipc_call(c, &m, &r) || r.w[0] != id + 1 || r.w[1] != (uint64_t)n + 1)
			return 1;
	}
	return 0;
}

static void many_clients_one_server(void)
{
	SKIP_UNLESS_IPC();
	int ep = EXPECT_OK(ipc_endpoint(0));
	int c = EXPECT_OK(ipc_client(ep, 0));
	pid_t server = fork_server(ep, 5);
	close(ep);
	enum { N = 4 };
	pid_t kids[N];
	for (int i = 0; i < N; i++) {
		kids[i] = fork();
		if (kids[i] == 0)
			_exit(client_loop(c, 30, (uint64_t)i << 32));
	}
	for (int i = 0; i < N; i++) {
		int status;
		waitpid(kids[i], &status, 0);
		EXPECT_EXITED(status, 0);
	}
	stop_server(c, server);
	close(c);
}

static int server_fd;
static atomic_int served[3];

static void *server_thread(void *arg)
{
	int me = (int)(intptr_t)arg;
	struct ipc_msg m = { { 0 } };
	long token = ipc_recv(server_fd, &m, 0, NULL, CASE_TIMEOUT);
	while (token > 0 && m.w[0] != ~0ull) {
		for (int i = 0; i < 5; i++)
			m.w[i]++;
		atomic_fetch_add(&served[me], 1);
		token = ipc_reply_recv(token, &m, server_fd, 0, NULL, CASE_TIMEOUT);
	}
	if (token > 0)
		ipc_reply_recv(token, &m, server_fd, EXO_IPC_NORECV, NULL, 0);
	return NULL;
}

static void many_server_threads_one_endpoint(void)
{
	SKIP_UNLESS_IPC();
	server_fd = EXPECT_OK(ipc_endpoint(0));
	int c = EXPECT_OK(ipc_client(server_fd, 0));
	pthread_t t[3];
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, server_thread, (void *)(intptr_t)i);
	enum { N = 3, CALLS = 20 };
	pid_t kids[N];
	for (int i = 0; i < N; i++) {
		kids[i] = fork();
		if (kids[i] == 0)
			_exit(client_loop(c, CALLS, (uint64_t)i << 32));
	}
	for (int i = 0; i < N; i++) {
		int status;
		waitpid(kids[i], &status, 0);
		EXPECT_EXITED(status, 0);
	}
	for (int i = 0; i < 3; i++) {
		struct ipc_msg m = { { ~0ull } }, r;
		EXPECT_EQ(ipc_call(c, &m, &r), 0);
	}
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	EXPECT_EQ(served[0] + served[1] + served[2], N * CALLS);
	close(c);
	close(server_fd);
}

static void server_killed_mid_call_gives_epipe(void)
{
	SKIP_UNLESS_IPC();
	int ep = EXPECT_OK(ipc_endpoint(0));
	int c = EXPECT_OK(ipc_client(ep, 0));
	int note = EXPECT_OK(ipc_endpoint(0)); /* the server says "received" here */
	pid_t server = fork();
	if (server == 0) {
		struct ipc_msg m = { { 0 } };
		if (ipc_recv(ep, &m, 0, NULL, CASE_TIMEOUT) > 0)
			ipc_send(note, &m, 0, NULL, CASE_TIMEOUT);
		for (;;)
			pause();
	}
	close(ep);
	pid_t client = fork();
	if (client == 0) {
		close(note);
		struct ipc_msg m = { { 1 } }, r;
		_exit(ipc_call(c, &m, &r) == -1 ? errno : 0);
	}
	struct ipc_msg m = { { 0 } }, r;
	EXPECT_EQ(ipc_recv(note, &m, 0, NULL, CASE_TIMEOUT), 0);
	EXPECT_EQ(m.w[0], 1);
	kill(server, SIGKILL);
	int status;
	waitpid(client, &status, 0);
	EXPECT_EXITED(status, EPIPE);
	waitpid(server, &status, 0);
	EXPECT_KILLED_BY(status, SIGKILL);
	/* And later calls fail at once. */
	EXPECT_ERRNO(ipc_call(c, &m, &r), EPIPE);
	close(c);
	close(note);
}

static void endpoint_closed_while_callers_wait(void)
{
	SKIP_UNLESS_IPC();
	int ep = EXPECT_OK(ipc_endpoint(0));
	int c = EXPECT_OK(ipc_client(ep, 0));
	enum { N = 3 };
	pid_t kids[N];
	for (int i = 0; i < N; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			close(ep);
			struct ipc_msg m = { { 1 } }, r;
			_exit(ipc_call_ext(c, &r, 0, NULL, CASE_TIMEOUT) == -1 ? errno : (m.w[0] = 0));
		}
	}
	pause_ms(50);
	close(ep);
	for (int i = 0; i < N; i++) {
		int status;
		waitpid(kids[i], &status, 0);
		EXPECT_EXITED(status, EPIPE);
	}
	close(c);
}

static void timeouts_and_nonblocking(void)
{
	SKIP_UNLESS_IPC();
	int ep = EXPECT_OK(ipc_endpoint(0));
	struct ipc_msg m = { { 1 } };
	int64_t t0 = ktap_now_ns();
	EXPECT_ERRNO(ipc_call_ext(ep, &m, 0, NULL, 20000000), ETIMEDOUT);
	EXPECT_TRUE(ktap_now_ns() - t0 >= 20000000);
	EXPECT_ERRNO(ipc_recv(ep, &m, 0, NULL, 20000000), ETIMEDOUT);
	EXPECT_ERRNO(ipc_recv(ep, &m, EXO_IPC_NONBLOCK, NULL, 0), EAGAIN);
	EXPECT_ERRNO(ipc_send(ep, &m, EXO_IPC_NONBLOCK, NULL, 0), EAGAIN);
	EXPECT_ERRNO(ipc_call_ext(ep, &m, EXO_IPC_NONBLOCK, NULL, 0), EAGAIN);
	/* A one-way send is received with token 0. */
	pid_t kid = fork();
	if (kid == 0) {
		struct ipc_msg s = { { 42 } };
		_exit(ipc_send(ep, &s, 0, NULL, CASE_TIMEOUT) == 0 ? 0 : 1);
	}
	EXPECT_EQ(ipc_recv(ep, &m, 0, NULL, CASE_TIMEOUT), 0);
	EXPECT_EQ(m.w[0], 42);
	int status;
	waitpid(kid, &status, 0);
	EXPECT_EXITED(status, 0);
	close(ep);
}

static void on_usr1(int sig)
{
	(void)sig;
}

static void signal_interrupts_a_wait(void)
{
	SKIP_UNLESS_IPC();
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigaction(SIGUSR1, &sa, NULL);
	int ep = EXPECT_OK(ipc_endpoint(0));
	pid_t self = getpid();
	pid_t kid = fork();
	if (kid == 0) {
		pause_ms(50);
		kill(self, SIGUSR1);
		pause_ms(50);
		kill(self, SIGUSR1);
		_exit(0);
	}
	struct ipc_msg m = { { 1 } };
	EXPECT_ERRNO(ipc_recv(ep, &m, 0, NULL, CASE_TIMEOUT), EINTR);
	EXPECT_ERRNO(ipc_call_ext(ep, &m, 0, NULL, CASE_TIMEOUT), EINTR);
	int status;
	waitpid(kid, &status, 0);
	signal(SIGUSR1, SIG_DFL);
	close(ep);
}

/*
 * The same ends for waits on the fastpath (registers only, no timeout, the peer
 * waiting on the same CPU: everything runs pinned to CPU 0), whose sleep is its
 * own. Each wait without a timeout has a watchdog: a lost wake-up ends in a
 * failed expectation, not a hang.
 */
static cpu_set_t pin_to_cpu0(void)
{
	cpu_set_t old, one;
	sched_getaffinity(0, sizeof(old), &old);
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	sched_setaffinity(0, sizeof(one), &one);
	return old;
}

/* Reaps kid within 20 s; false if it is still alive then. */
static bool reaped_within_timeout(pid_t kid, int *status)
{
	for (int ms = 0; ms < 20000; ms += 10) {
		if (waitpid(kid, status, WNOHANG) == kid)
			return true;
		pause_ms(10);
	}
	return false;
}

static void signal_ends_a_register_call(void)
{
	SKIP_UNLESS_IPC();
	cpu_set_t old = pin_to_cpu0();
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigaction(SIGUSR1, &sa, NULL);
	int ep = EXPECT_OK(ipc_endpoint(0));
	int c = EXPECT_OK(ipc_client(ep, 0));
	pid_t server = fork();
	if (server == 0) {
		struct ipc_msg m = { { 0 } }, n = { { 0 } };
		long first = ipc_recv(ep, &m, 0, NULL, CASE_TIMEOUT);
		kill(getppid(), SIGUSR1);
		/* The caller, interrupted, calls again; if the signal was lost it
		 * still waits for `first`, and gets an answer instead of EINTR. */
		long second = ipc_recv(ep, &n, 0, NULL, CASE_TIMEOUT);
		m.w[0] = ipc_reply_recv(first, &m, ep, EXO_IPC_NORECV, NULL, 0) == -1 ? errno : 0;
		if (second > 0)
			ipc_reply_recv(second, &m, ep, EXO_IPC_NORECV, NULL, 0);
		_exit(first > 0 && second > 0 ? 0 : 1);
	}
	close(ep);
	pause_ms(50); /* the server waits: the call takes the fastpath */
	struct ipc_msg m = { { 1 } }, r = { { 0 } };
	EXPECT_ERRNO(ipc_call(c, &m, &r), EINTR);
	EXPECT_EQ(ipc_call(c, &m, &r), 0);
	EXPECT_EQ(r.w[0], EPIPE); /* the interrupted call's token answers EPIPE */
	int status;
	waitpid(server, &status, 0);
	EXPECT_EXITED(status, 0);
	signal(SIGUSR1, SIG_DFL);
	close(c);
	sched_setaffinity(0, sizeof(old), &old);
}

static void signal_ends_a_register_reply_recv(void)
{
	SKIP_UNLESS_IPC();
	cpu_set_t old = pin_to_cpu0();
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigaction(SIGUSR1, &sa, NULL);
	int ep = EXPECT_OK(ipc_endpoint(0));
	int c = EXPECT_OK(ipc_client(ep, 0));
	pid_t self = getpid();
	pid_t caller = fork();
	if (caller == 0) {
		struct ipc_msg m = { { 1 } }, r;
		pause_ms(50); /* the server waits in ipc_recv */
		if (ipc_call(c, &m, &r) != 0)
			_exit(1);
		kill(self, SIGUSR1);
		pause_ms(100); /* the interrupted server leaves its wait */
		/* Answered by ipc_recv below; by the reply_recv if the signal was lost. */
		_exit(ipc_call_ext(c, &m, 0, NULL, CASE_TIMEOUT) == 0 ? 0 : 2);
	}
	struct ipc_msg m = { { 0 } };
	long token = ipc_recv(ep, &m, 0, NULL, CASE_TIMEOUT);
	EXPECT_TRUE(token > 0);
	/* The reply goes straight to the waiting caller; we wait on the fastpath. */
	EXPECT_ERRNO(ipc_reply_recv(token, &m, ep, 0, NULL, 0), EINTR);
	token = ipc_recv(ep, &m, 0, NULL, CASE_TIMEOUT);
	if (token > 0)
		ipc_reply_recv(token, &m, ep, EXO_IPC_NORECV, NULL, 0);
	int status;
	waitpid(caller, &status, 0);
	EXPECT_EXITED(status, 0);
	signal(SIGUSR1, SIG_DFL);
	close(c);
	close(ep);
	sched_setaffinity(0, sizeof(old), &old);
}

static void kill_ends_a_register_call(void)
{
	SKIP_UNLESS_IPC();
	cpu_set_t old = pin_to_cpu0();
	int ep = EXPECT_OK(ipc_endpoint(0));
	int c = EXPECT_OK(ipc_client(ep, 0));
	pid_t caller = fork();
	if (caller == 0) {
		struct ipc_msg m = { { 1 } }, r;
		pause_ms(50); /* the server waits: the call takes the fastpath */
		_exit(ipc_call(c, &m, &r) == 0 ? 0 : 1);
	}
	struct ipc_msg m = { { 0 } };
	long token = ipc_recv(ep, &m, 0, NULL, CASE_TIMEOUT);
	EXPECT_TRUE(token > 0);
	kill(caller, SIGKILL);
	int status = 0;
	bool died = reaped_within_timeout(caller, &status);
	EXPECT_TRUE(died);
	/* Gone: its token answers EPIPE (a lost kill gets the reply and dies then). */
	EXPECT_ERRNO(ipc_reply_recv(token, &m, ep, EXO_IPC_NORECV, NULL, 0), EPIPE);
	if (!died)
		waitpid(caller, &status, 0);
	EXPECT_KILLED_BY(status, SIGKILL);
	close(c);
	close(ep);
	sched_setaffinity(0, sizeof(old), &old);
}

static void bad_arguments_have_their_errno(void)
{
	SKIP_UNLESS_IPC();
	int ep = EXPECT_OK(ipc_endpoint(0));
	int c = EXPECT_OK(ipc_client(ep, 0));
	struct ipc_msg m = { { 1 } };
	EXPECT_ERRNO(ipc_call_ext(63, &m, 0, NULL, 0), EBADF);
	EXPECT_ERRNO(ipc_call_ext(-1, &m, 0, NULL, 0), EBADF);
	EXPECT_ERRNO(ipc_call_ext(1000, &m, 0, NULL, 0), EBADF);
	EXPECT_ERRNO(ipc_call_ext(1, &m, 0, NULL, 0), EINVAL); /* stdout: not an endpoint */
	EXPECT_ERRNO(ipc_client(1, 0), EINVAL);
	EXPECT_ERRNO(ipc_recv(c, &m, EXO_IPC_NONBLOCK, NULL, 0), EBADF); /* a client fd */
	EXPECT_ERRNO(ipc_reply_recv(1, &m, c, 0, NULL, 0), EBADF);
	EXPECT_ERRNO(ipc_endpoint(0x80), EINVAL);
	EXPECT_ERRNO(ipc_call_ext(c, &m, 0x80, NULL, 0), EINVAL);
	EXPECT_ERRNO(ipc_recv(ep, &m, 0x80, NULL, 0), EINVAL);
	EXPECT_ERRNO(ipc_reply_recv(0, &m, ep, 0x80, NULL, 0), EINVAL);
	EXPECT_ERRNO(ipc_call_ext(c, &m, 0, KTAP_KERNEL_PTR, 0), EFAULT);
	EXPECT_ERRNO(ipc_call_ext(c, &m, 0, ktap_unmapped_page(), 0), EFAULT);
	struct exo_ipc_ext big = { (uint64_t)&m, EXO_IPC_BUF_MAX + 1, 0, 0 };
	EXPECT_ERRNO(ipc_call_ext(c, &m, 0, &big, 0), EMSGSIZE);
	struct exo_ipc_ext kbuf = { (uint64_t)KTAP_KERNEL_PTR, 16, 0, 0 };
	EXPECT_ERRNO(ipc_call_ext(c, &m, 0, &kbuf, 0), EFAULT);
	struct exo_ipc_ext kroom = { 0, 0, (uint64_t)KTAP_NONCANONICAL_PTR, 16 };
	EXPECT_ERRNO(ipc_recv(ep, &m, EXO_IPC_NONBLOCK, &kroom, 0), EFAULT);
	EXPECT_ERRNO(ipc_reply_recv(12345, &m, ep, EXO_IPC_NORECV, NULL, 0), EPIPE);
	/* An unmapped buffer is found when copied: the sender's EFAULT. */
	pid_t server = fork_server(ep, 2);
	struct exo_ipc_ext hole = { (uint64_t)ktap_unmapped_page(), 100, 0, 0 };
	m = (struct ipc_msg){ { 0, 0, 0, 1, 0, 0 } };
	EXPECT_ERRNO(ipc_call_ext(c, &m, 0, &hole, CASE_TIMEOUT), EFAULT);
	/* A reply into a read-only page: the caller's EFAULT. */
	struct exo_ipc_ext ro = { 0, 0, (uint64_t)ktap_readonly_page(), 4096 };
	m = (struct ipc_msg){ { 0, 100, 0, 1, 0, 0 } };
	EXPECT_ERRNO(ipc_call_ext(c, &m, 0, &ro, CASE_TIMEOUT), EFAULT);
	stop_server(c, server);
	close(c);
	close(ep);
}

/* Several processes doing seeded random calls, sends and buffer sizes against
 * a two-thread server; every reply checked. */
static void seeded_random_stress(void)
{
	SKIP_UNLESS_IPC();
	server_fd = EXPECT_OK(ipc_endpoint(0));
	int c = EXPECT_OK(ipc_client(server_fd, 0));
	pid_t server = fork_server(server_fd, 9);
	pid_t server2 = fork_server(server_fd, 9);
	close(server_fd);
	enum { N = 3 };
	pid_t kids[N];
	uint64_t seed = ktap_rand();
	for (int i = 0; i < N; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			static uint8_t out[EXO_IPC_BUF_MAX], in[EXO_IPC_BUF_MAX];
			uint64_t s = seed + (uint64_t)i * 0x9e3779b97f4a7c15ull;
			for (int n = 0; n < 20; n++) {
				s = s * 6364136223846793005ull + 1442695040888963407ull;
				size_t send = (s >> 33) % 9000, back = (s >> 17) % 9000;
				memset(out, (int)(s >> 8), send);
				int with_buffer = (s >> 40) & 1;
				struct ipc_msg m = { { 0, back, (uint8_t)s, (uint64_t)with_buffer, 0, 0 } };
				struct exo_ipc_ext ext = { (uint64_t)out, send, (uint64_t)in, sizeof(in) };
				if (ipc_call_ext(c, &m, 0, with_buffer ? &ext : NULL, CASE_TIMEOUT))
					_exit(2);
				if (with_buffer && (m.w[1] != send || ext.recv_bytes != back ||
						    m.w[0] != checksum(out, send, 2166136261u)))
					_exit(3);
				if (!with_buffer && (m.w[1] != back + 1 || m.w[5] != 9))
					_exit(4);
			}
			_exit(0);
		}
	}
	for (int i = 0; i < N; i++) {
		int status;
		waitpid(kids[i], &status, 0);
		EXPECT_EXITED(status, 0);
	}
	stop_server(c, server);
	stop_server(c, server2);
	close(c);
}

/* Random arguments to every call: each must answer one of its errnos (or
 * succeed), never hang (short timeouts) or crash. */
static void seeded_fuzz_of_arguments(void)
{
	SKIP_UNLESS_IPC();
	int ep = EXPECT_OK(ipc_endpoint(0));
	int c = EXPECT_OK(ipc_client(ep, 0));
	static uint8_t buf[4096];
	struct exo_ipc_ext good = { (uint64_t)buf, 64, (uint64_t)buf, sizeof(buf) };
	void *ptrs[] = { NULL, &good, KTAP_KERNEL_PTR, ktap_unmapped_page(), KTAP_NONCANONICAL_PTR,
			 (void *)1 };
	long fds[] = { ep, c, 1, -1, 63, 1 << 20 };
	int unexpected = 0;
	for (int n = 0; n < 200; n++) {
		long nr = EXO_SYS_ipc_endpoint + (long)ktap_rand_below(6);
		uint64_t a0 = fds[ktap_rand_below(6)];
		if (nr == EXO_SYS_ipc_reply_recv)
			a0 = ktap_rand_below(3) ? ktap_rand() : ktap_rand_below(4);
		uint64_t flags = ktap_rand_below(4) ? ktap_rand_below(8) : ktap_rand();
		if (nr == EXO_SYS_ipc_endpoint || nr == EXO_SYS_ipc_client)
			flags &= ~(uint64_t)EXO_IPC_CLOEXEC;
		good.send_bytes = ktap_rand_below(3) ? ktap_rand_below(5000) : ktap_rand();
		good.send_buf = ktap_rand_below(4) ? (uint64_t)buf : ktap_rand();
		uint64_t ext = (uint64_t)ptrs[ktap_rand_below(6)];
		uint64_t timeout = 1000000 + ktap_rand_below(1000000);
		struct ipc_msg m = { { ktap_rand(), ktap_rand(), 0, 0, 0, ktap_rand() } };
		long r = exo_ipc_raw(nr, a0, flags, ext, timeout, fds[ktap_rand_below(6)], &m);
		if (r >= 0) {
			if ((nr == EXO_SYS_ipc_endpoint || nr == EXO_SYS_ipc_client) && r > 2 &&
			    r != ep && r != c)
				close((int)r);
			continue;
		}
		switch (-r) {
		case EBADF: case EINVAL: case EFAULT: case EMSGSIZE: case EAGAIN:
		case ETIMEDOUT: case EPIPE: case EMFILE:
			break;
		default:
			if (!unexpected++)
				ktap_diag("call %ld: unexpected %s", nr, ktap_errno_name((int)-r));
		}
	}
	EXPECT_EQ(unexpected, 0);
	close(c);
	close(ep);
}

static const struct ktap_case cases[] = {
	KTAP_CASE(register_message_round_trip),
	KTAP_CASE(buffer_random_sizes_checksummed_both_ways),
	KTAP_CASE(callers_served_in_arrival_order),
	KTAP_CASE(many_clients_one_server),
	KTAP_CASE(many_server_threads_one_endpoint),
	KTAP_CASE(server_killed_mid_call_gives_epipe),
	KTAP_CASE(endpoint_closed_while_callers_wait),
	KTAP_CASE(timeouts_and_nonblocking),
	KTAP_CASE(signal_interrupts_a_wait),
	KTAP_CASE(signal_ends_a_register_call),
	KTAP_CASE(signal_ends_a_register_reply_recv),
	KTAP_CASE(kill_ends_a_register_call),
	KTAP_CASE(bad_arguments_have_their_errno),
	KTAP_CASE(seeded_random_stress),
	KTAP_CASE(seeded_fuzz_of_arguments),
};

int main(int argc, char **argv)
{
	return ktap_main(argc, argv, cases, KTAP_NCASES(cases));
}
