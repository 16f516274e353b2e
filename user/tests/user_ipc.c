/*
 * user_ipc: Exo's synchronous IPC (include/uapi/exo_ipc.h): register messages
 * both ways, buffers of random sizes with checksums, FIFO order, many clients
 * and many server threads, the ends (server killed, endpoint closed: EPIPE),
 * timeouts, signals, the fastpath's parked waiter resumed each way it can be
 * (registers kept), every bad argument, a seeded stress and a seeded fuzzer.
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
#include <sys/resource.h>
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
	struct exo_ipc_ext ext = { .recv_buf = (uint64_t)in, .recv_bytes = sizeof(in) };
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
			ext = (struct exo_ipc_ext){ .send_buf = (uint64_t)out, .send_bytes = n, .recv_buf = (uint64_t)in, .recv_bytes = sizeof(in) };
		} else {
			for (int i = 0; i < 5; i++)
				r.w[i] = m.w[i] + 1;
			r.w[5] = tag;
			ext = (struct exo_ipc_ext){ .recv_buf = (uint64_t)in, .recv_bytes = sizeof(in) };
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
		struct exo_ipc_ext ext = { .send_buf = (uint64_t)out, .send_bytes = send, .recv_buf = (uint64_t)in, .recv_bytes = sizeof(in) };
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
	struct exo_ipc_ext ext = { .recv_buf = (uint64_t)in, .recv_bytes = 100 };
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
static long server_end[3]; /* the last token (> 0: the stop message), or -errno */

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
	server_end[me] = token > 0 ? token : -errno;
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
	for (int i = 0; i < 3; i++) { /* a server thread that quit early: ETIMEDOUT */
		struct ipc_msg m = { { ~0ull } };
		EXPECT_EQ(ipc_call_ext(c, &m, 0, NULL, CASE_TIMEOUT), 0);
	}
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		EXPECT_TRUE(server_end[i] > 0); /* each ended by its stop message */
	}
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

/* A signal whose action is to ignore it never ends a wait: a thread that blocks
 * it (as musl's fork blocks every signal around the system call) leaves it
 * pending for the whole process, where any other thread's wait sees it. Linux
 * drops it on the way out and restarts the call; a call already received by
 * its server cannot be repeated, so IPC drops it inside the wait and goes on.
 * Both waits here, a call being served and a receive, used to end with EINTR
 * (user_ipc then hung on 8 CPUs: a server thread quit on a child's SIGCHLD). */
static int ignored_client, ignored_own;
static atomic_int ignored_phase;
static long ignored_results[2];

static void wait_phase(int phase)
{
	while (atomic_load(&ignored_phase) != phase) {
	} /* no system call here: it could take the pending signal away */
}

static void *ignored_signal_thread(void *arg)
{
	(void)arg;
	wait_phase(1);
	struct ipc_msg m = { { 41 } }, r;
	ignored_results[0] = ipc_call(ignored_client, &m, &r) ? -errno : (long)r.w[0];
	atomic_store(&ignored_phase, 2);
	wait_phase(3);
	struct ipc_msg in = { { 0 } };
	long token = ipc_recv(ignored_own, &in, 0, NULL, CASE_TIMEOUT);
	ignored_results[1] = token < 0 ? -errno : (long)in.w[0];
	if (token > 0)
		ipc_reply_recv(token, &in, ignored_own, EXO_IPC_NORECV, NULL, 0);
	return NULL;
}

static void ignored_signal_never_ends_a_wait(void)
{
	SKIP_UNLESS_IPC();
	int ep = EXPECT_OK(ipc_endpoint(0));
	ignored_client = EXPECT_OK(ipc_client(ep, 0));
	ignored_own = EXPECT_OK(ipc_endpoint(0));
	int own_client = EXPECT_OK(ipc_client(ignored_own, 0));
	pid_t server = fork_server(ep, 5);
	close(ep);
	atomic_store(&ignored_phase, 0);
	pthread_t t;
	pthread_create(&t, NULL, ignored_signal_thread, NULL);
	sigset_t urg, old;
	sigemptyset(&urg);
	sigaddset(&urg, SIGURG); /* ignored by default */
	pthread_sigmask(SIG_BLOCK, &urg, &old);
	pause_ms(20); /* the server waits in its receive */
	kill(getpid(), SIGURG);
	atomic_store(&ignored_phase, 1);
	wait_phase(2);
	EXPECT_EQ(ignored_results[0], 42);
	kill(getpid(), SIGURG);
	atomic_store(&ignored_phase, 3);
	pause_ms(20); /* the thread waits in its receive */
	struct ipc_msg m = { { 7 } };
	EXPECT_EQ(ipc_call_ext(own_client, &m, 0, NULL, CASE_TIMEOUT), 0);
	EXPECT_EQ(m.w[0], 7);
	pthread_join(t, NULL);
	EXPECT_EQ(ignored_results[1], 7);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	stop_server(ignored_client, server);
	close(own_client);
	close(ignored_own);
	close(ignored_client);
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

/* The fastpath cases' start: pinned to CPU 0 (the old set returned), SIGUSR1
 * caught when asked, and an endpoint with a client fd. */
static cpu_set_t pinned_endpoint(int *ep, int *c, bool catch_usr1)
{
	cpu_set_t old = pin_to_cpu0();
	if (catch_usr1) {
		struct sigaction sa = { .sa_handler = on_usr1 };
		sigaction(SIGUSR1, &sa, NULL);
	}
	*ep = EXPECT_OK(ipc_endpoint(0));
	*c = EXPECT_OK(ipc_client(*ep, 0));
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
	int ep, c;
	cpu_set_t old = pinned_endpoint(&ep, &c, true);
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
	int ep, c;
	cpu_set_t old = pinned_endpoint(&ep, &c, true);
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
	int ep, c;
	cpu_set_t old = pinned_endpoint(&ep, &c, false);
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

/*
 * The parked waiter (proc/ipc.c): a thread that waits on the fastpath keeps no
 * kernel frame; a fastpath peer resumes it straight in user mode on its saved
 * registers, anything else (a general-path peer, a signal, kill, the server's
 * end) through the scheduler, which starts it in a continuation that ends the
 * system call. These cases drive each way in and check what the ABI promises
 * on the way out: the words, the result, and every other register but rax,
 * rcx and r11 kept.
 */
struct raw_call {
	uint64_t words[EXO_IPC_WORDS]; /* in: the message; out: what came back */
	uint64_t rbp_in, rbp_out;
	uint64_t rdi, rsi, rdx, r10, r8; /* after the call */
};

/* A register-only ipc_call(fd) by hand, with rbp and r8 (which a call does not
 * read) set to known values and the argument registers read back after it. */
static long raw_call_keeping(int fd, struct raw_call *io)
{
	register uint64_t r10 __asm__("r10") = 0;
	register uint64_t r8 __asm__("r8") = (uint64_t)io;
	uint64_t rdi = (uint64_t)fd, rsi = 0, rdx = 0;
	long rax = EXO_SYS_ipc_call;
	__asm__ volatile("sub $128, %%rsp\n\t" /* the red zone */
			 "push %%rbp\n\t"
			 "mov 0(%%r8), %%rbx\n\t"
			 "mov 8(%%r8), %%r12\n\t"
			 "mov 16(%%r8), %%r13\n\t"
			 "mov 24(%%r8), %%r14\n\t"
			 "mov 32(%%r8), %%r15\n\t"
			 "mov 40(%%r8), %%r9\n\t"
			 "mov 48(%%r8), %%rbp\n\t"
			 "syscall\n\t"
			 "mov %%rbx, 0(%%r8)\n\t"
			 "mov %%r12, 8(%%r8)\n\t"
			 "mov %%r13, 16(%%r8)\n\t"
			 "mov %%r14, 24(%%r8)\n\t"
			 "mov %%r15, 32(%%r8)\n\t"
			 "mov %%r9, 40(%%r8)\n\t"
			 "mov %%rbp, 56(%%r8)\n\t"
			 "pop %%rbp\n\t"
			 "add $128, %%rsp"
			 : "+a"(rax), "+D"(rdi), "+S"(rsi), "+d"(rdx), "+r"(r10), "+r"(r8)
			 :
			 : "rbx", "r12", "r13", "r14", "r15", "r9", "rcx", "r11", "memory");
	io->rdi = rdi, io->rsi = rsi, io->rdx = rdx, io->r10 = r10, io->r8 = r8;
	return rax;
}

/* A raw call of words `in` on fd: its result; the registers it must keep are
 * checked, and the words that came back are in out. */
static long raw_call_checked(int fd, const uint64_t in[EXO_IPC_WORDS],
			     uint64_t out[EXO_IPC_WORDS])
{
	struct raw_call io;
	memcpy(io.words, in, sizeof(io.words));
	io.rbp_in = 0x5eed0000bb0bull ^ ktap_rand();
	io.rbp_out = 0;
	long result = raw_call_keeping(fd, &io);
	EXPECT_EQ(io.rdi, (uint64_t)fd);
	EXPECT_EQ(io.rsi, 0);
	EXPECT_EQ(io.rdx, 0);
	EXPECT_EQ(io.r10, 0);
	EXPECT_EQ(io.r8, (uint64_t)&io);
	EXPECT_EQ(io.rbp_out, io.rbp_in);
	memcpy(out, io.words, sizeof(io.words));
	return result;
}

/* A server on ep (a forked child, pinned where its parent was): words + 1 back
 * to each call, until word 0 is ~0. Replies alternate between the fastpath (a
 * parked caller resumed in user mode, the server parked) and the general path
 * (a timeout: the caller resumed by the scheduler in its continuation, the
 * server asleep in its C frame), when `alternate`; all on the fastpath
 * otherwise. SIGALRM ends a server that waits too long: its callers get EPIPE
 * instead of hanging. */
static void word_server(int ep, bool alternate)
{
	alarm(20);
	struct ipc_msg m = { { 0 } };
	long token = ipc_recv(ep, &m, 0, NULL, CASE_TIMEOUT);
	for (int i = 0; token > 0; i++) {
		if (m.w[0] == ~0ull) {
			ipc_reply_recv(token, &m, ep, EXO_IPC_NORECV, NULL, 0);
			_exit(0);
		}
		for (int k = 0; k < EXO_IPC_WORDS; k++)
			m.w[k] += 1;
		token = ipc_reply_recv(token, &m, ep, 0, NULL, alternate && i % 2 ? CASE_TIMEOUT : 0);
	}
	_exit(1);
}

static void check_plus_one(const uint64_t in[EXO_IPC_WORDS], const uint64_t out[EXO_IPC_WORDS])
{
	for (int k = 0; k < EXO_IPC_WORDS; k++)
		EXPECT_EQ(out[k], in[k] + 1);
}

/* Forks a word_server on ep and lets go of the parent's ep (the calls go through
 * a client fd); returns the server's pid. */
static pid_t start_word_server(int ep, bool alternate)
{
	pid_t server = fork();
	if (server == 0)
		word_server(ep, alternate);
	close(ep);
	return server;
}

static void parked_caller_keeps_registers_both_ways_back(void)
{
	SKIP_UNLESS_IPC();
	int ep, c;
	cpu_set_t old = pinned_endpoint(&ep, &c, false);
	pid_t server = start_word_server(ep, true);
	for (int n = 0; n < 40; n++) {
		uint64_t in[EXO_IPC_WORDS], out[EXO_IPC_WORDS];
		for (int k = 0; k < EXO_IPC_WORDS; k++)
			in[k] = ktap_rand() << 8;
		EXPECT_EQ(raw_call_checked(c, in, out), 0);
		check_plus_one(in, out);
	}
	stop_server(c, server);
	close(c);
	sched_setaffinity(0, sizeof(old), &old);
}

static void general_path_caller_resumes_a_parked_server(void)
{
	SKIP_UNLESS_IPC();
	int ep, c;
	cpu_set_t old = pinned_endpoint(&ep, &c, false);
	pid_t server = start_word_server(ep, false);
	static uint8_t bytes[100];
	for (int n = 0; n < 20; n++) {
		struct ipc_msg m = { { n, ktap_rand(), 3, 4, 5, 6 } }, sent = m;
		if (n % 2) {
			/* A buffer (which the register-only server has no room for: cut
			 * to nothing) and a timeout: the general path, to a server parked
			 * on the fastpath since its last reply. */
			struct exo_ipc_ext ext = { .send_buf = (uint64_t)bytes, .send_bytes = sizeof(bytes) };
			EXPECT_EQ(ipc_call_ext(c, &m, 0, &ext, CASE_TIMEOUT), 0);
			check_plus_one(sent.w, m.w);
		} else {
			uint64_t out[EXO_IPC_WORDS];
			EXPECT_EQ(raw_call_checked(c, sent.w, out), 0);
			check_plus_one(sent.w, out);
		}
	}
	stop_server(c, server);
	close(c);
	sched_setaffinity(0, sizeof(old), &old);
}

static void kill_ends_a_parked_server(void)
{
	SKIP_UNLESS_IPC();
	int ep, c;
	cpu_set_t old = pinned_endpoint(&ep, &c, false);
	pid_t server = start_word_server(ep, false);
	struct ipc_msg m = { { 1 } }, r;
	EXPECT_EQ(ipc_call(c, &m, &r), 0); /* the server now waits parked in reply_recv */
	pause_ms(20);
	kill(server, SIGKILL);
	int status = 0;
	bool died = reaped_within_timeout(server, &status);
	EXPECT_TRUE(died);
	if (!died) {
		stop_server(c, server);
	} else {
		EXPECT_KILLED_BY(status, SIGKILL);
		EXPECT_ERRNO(ipc_call(c, &m, &r), EPIPE); /* its server fd went with it */
	}
	close(c);
	sched_setaffinity(0, sizeof(old), &old);
}

static void server_fd_closed_under_a_parked_caller_gives_epipe(void)
{
	SKIP_UNLESS_IPC();
	int ep, c;
	cpu_set_t old = pinned_endpoint(&ep, &c, false);
	pid_t server = fork();
	if (server == 0) {
		alarm(20);
		struct ipc_msg m = { { 0 } };
		long token = ipc_recv(ep, &m, 0, NULL, CASE_TIMEOUT);
		/* The reply resumes the caller; the next call finds us parked. */
		token = token > 0 ? ipc_reply_recv(token, &m, ep, 0, NULL, 0) : token;
		close(ep); /* the call being served, with its caller parked, fails */
		_exit(token > 0 ? 0 : 1);
	}
	close(ep);
	uint64_t in[EXO_IPC_WORDS] = { 1, 2, 3, 4, 5, 6 }, out[EXO_IPC_WORDS];
	EXPECT_EQ(raw_call_checked(c, in, out), 0);
	EXPECT_EQ(raw_call_checked(c, in, out), -EPIPE);
	for (int k = 0; k < EXO_IPC_WORDS; k++)
		EXPECT_EQ(out[k], in[k]); /* an error leaves the words as they were */
	int status;
	waitpid(server, &status, 0);
	EXPECT_EXITED(status, 0);
	close(c);
	sched_setaffinity(0, sizeof(old), &old);
}

static volatile sig_atomic_t usr1_seen;

static void count_usr1(int sig)
{
	(void)sig;
	usr1_seen++;
}

static void signal_handler_runs_for_a_parked_caller(void)
{
	SKIP_UNLESS_IPC();
	int ep, c;
	cpu_set_t old = pinned_endpoint(&ep, &c, false);
	struct sigaction sa = { .sa_handler = count_usr1 };
	sigaction(SIGUSR1, &sa, NULL);
	usr1_seen = 0;
	pid_t server = fork();
	if (server == 0) {
		alarm(20);
		struct ipc_msg m = { { 0 } }, n = { { 0 } };
		long first = ipc_recv(ep, &m, 0, NULL, CASE_TIMEOUT);
		kill(getppid(), SIGUSR1); /* the caller waits parked for our reply */
		long second = ipc_recv(ep, &n, 0, NULL, CASE_TIMEOUT);
		if (second > 0)
			ipc_reply_recv(second, &n, ep, EXO_IPC_NORECV, NULL, 0);
		_exit(first > 0 && second > 0 ? 0 : 1);
	}
	close(ep);
	pause_ms(50); /* the server waits: the call takes the fastpath and parks */
	uint64_t in[EXO_IPC_WORDS] = { 7, 8, 9, 10, 11, 12 }, out[EXO_IPC_WORDS];
	EXPECT_EQ(raw_call_checked(c, in, out), -EINTR);
	EXPECT_EQ(usr1_seen, 1);
	for (int k = 0; k < EXO_IPC_WORDS; k++)
		EXPECT_EQ(out[k], in[k]);
	struct ipc_msg m = { { 1 } }, r;
	EXPECT_EQ(ipc_call(c, &m, &r), 0);
	int status;
	waitpid(server, &status, 0);
	EXPECT_EXITED(status, 0);
	signal(SIGUSR1, SIG_DFL);
	close(c);
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
	struct exo_ipc_ext big = { .send_buf = (uint64_t)&m, .send_bytes = EXO_IPC_BUF_MAX + 1 };
	EXPECT_ERRNO(ipc_call_ext(c, &m, 0, &big, 0), EMSGSIZE);
	struct exo_ipc_ext kbuf = { .send_buf = (uint64_t)KTAP_KERNEL_PTR, .send_bytes = 16 };
	EXPECT_ERRNO(ipc_call_ext(c, &m, 0, &kbuf, 0), EFAULT);
	struct exo_ipc_ext kroom = { .recv_buf = (uint64_t)KTAP_NONCANONICAL_PTR, .recv_bytes = 16 };
	EXPECT_ERRNO(ipc_recv(ep, &m, EXO_IPC_NONBLOCK, &kroom, 0), EFAULT);
	EXPECT_ERRNO(ipc_reply_recv(12345, &m, ep, EXO_IPC_NORECV, NULL, 0), EPIPE);
	/* An unmapped buffer is found when copied: the sender's EFAULT. */
	pid_t server = fork_server(ep, 2);
	struct exo_ipc_ext hole = { .send_buf = (uint64_t)ktap_unmapped_page(), .send_bytes = 100 };
	m = (struct ipc_msg){ { 0, 0, 0, 1, 0, 0 } };
	EXPECT_ERRNO(ipc_call_ext(c, &m, 0, &hole, CASE_TIMEOUT), EFAULT);
	/* A reply into a read-only page: the caller's EFAULT. */
	struct exo_ipc_ext ro = { .recv_buf = (uint64_t)ktap_readonly_page(), .recv_bytes = 4096 };
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
				struct exo_ipc_ext ext = { .send_buf = (uint64_t)out, .send_bytes = send, .recv_buf = (uint64_t)in, .recv_bytes = sizeof(in) };
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

/* ---- page regions and fds -------------------------------------------------------- */

#define REGION (2u << 20)
enum { OP_SUM = 1, OP_SHARE_WRITE, OP_SHARED_READ, OP_READ_ONLY, OP_NEXT_AT, OP_REFUSE,
       OP_FDS, OP_FDS_KEEP };

static uint8_t *map_anon(size_t len, int prot)
{
	void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* Nothing is mapped in [addr, addr + len)? */
static int range_is_free(void *addr, size_t len)
{
	void *p = mmap(addr, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		       -1, 0);
	if (p == MAP_FAILED)
		return 0;
	munmap(p, len);
	return p == addr;
}

/* The page server: each message names its op in word 0 (~0: stop); it accepts
 * a region anywhere (or where OP_NEXT_AT said, or none after OP_REFUSE) and up
 * to 8 fds, and answers as each op below says. */
static void page_server(int ep)
{
	uint64_t *shared = NULL;
	uint64_t next_at = EXO_IPC_PAGES_ANYWHERE;
	int kept[EXO_IPC_FDS_MAX * 4], nkept = 0;
	signal(SIGPIPE, SIG_IGN); /* a pipe passed by a client killed meanwhile: EPIPE */
	for (;;) {
		struct ipc_msg m = { { 0 } };
		struct exo_ipc_ext ext = { .recv_pages = next_at, .recv_pages_bytes = REGION,
					   .recv_nfds = EXO_IPC_FDS_MAX };
		next_at = EXO_IPC_PAGES_ANYWHERE;
		long token = ipc_recv(ep, &m, 0, &ext, CASE_TIMEOUT);
		if (token < 0)
			_exit(10);
		if (token == 0) { /* a one-way send: what it carried goes */
			if (ext.recv_pages)
				munmap((void *)ext.recv_pages, ext.recv_pages_bytes);
			for (uint32_t i = 0; i < ext.recv_nfds; i++)
				close(ext.recv_fds[i]);
			continue;
		}
		uint8_t *region = (uint8_t *)ext.recv_pages;
		struct ipc_msg r = { { 0 } };
		switch (m.w[0]) {
		case OP_SUM: /* the region's checksum, address and size; then gone */
			r.w[0] = checksum(region, ext.recv_pages_bytes, 2166136261u);
			r.w[1] = (uint64_t)region, r.w[2] = ext.recv_pages_bytes;
			if (region)
				munmap(region, ext.recv_pages_bytes);
			break;
		case OP_SHARE_WRITE: /* read word 0, write w1 to word 1, keep it */
			shared = (uint64_t *)region;
			r.w[1] = shared[0];
			shared[1] = m.w[1];
			break;
		case OP_SHARED_READ:
			r.w[0] = shared[2];
			break;
		case OP_READ_ONLY: { /* readable; a write kills; mprotect cannot add it */
			r.w[0] = checksum(region, ext.recv_pages_bytes, 2166136261u);
			pid_t kid = fork();
			if (kid == 0) {
				region[0] = 1;
				_exit(0);
			}
			int status;
			waitpid(kid, &status, 0);
			r.w[1] = WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
			r.w[2] = mprotect(region, ext.recv_pages_bytes, PROT_READ | PROT_WRITE) ? errno : 0;
			munmap(region, ext.recv_pages_bytes);
			break;
		}
		case OP_NEXT_AT:
			next_at = m.w[1];
			break;
		case OP_REFUSE:
			next_at = 0;
			break;
		case OP_FDS: /* call through fd 0 with w1, write 'x' to fd 1, close them */
		case OP_FDS_KEEP:
			r.w[2] = ext.recv_nfds;
			if (ext.recv_nfds >= 1 && m.w[0] == OP_FDS) {
				struct ipc_msg c = { { m.w[1] } };
				r.w[3] = ipc_call_ext(ext.recv_fds[0], &c, 0, NULL, CASE_TIMEOUT) ? errno : 0;
				r.w[0] = c.w[0], r.w[1] = c.w[5];
			}
			if (ext.recv_nfds >= 2 && m.w[0] == OP_FDS)
				r.w[4] = write(ext.recv_fds[1], "x", 1);
			for (uint32_t i = 0; i < ext.recv_nfds; i++) {
				if (m.w[0] == OP_FDS || nkept == (int)(sizeof(kept) / sizeof(kept[0])))
					close(ext.recv_fds[i]);
				else
					kept[nkept++] = ext.recv_fds[i];
			}
			break;
		case ~0ull:
			ipc_reply_recv(token, &r, ep, EXO_IPC_NORECV, NULL, 0);
			_exit(0);
		}
		if (ipc_reply_recv(token, &r, ep, EXO_IPC_NORECV, NULL, 0) && errno != EPIPE)
			_exit(11); /* EPIPE: the caller was killed meanwhile */
	}
}

static pid_t fork_page_server(int *client)
{
	int ep = ipc_endpoint(0);
	*client = ipc_client(ep, 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(*client);
		page_server(ep);
	}
	close(ep);
	return pid;
}

/* A call carrying a region (mode) and/or fds; the reply in *m. */
static long call_with(int c, struct ipc_msg *m, void *region, size_t bytes, unsigned mode,
		      const int *fds, unsigned nfds)
{
	struct exo_ipc_ext ext = { .send_pages = (uint64_t)region, .send_pages_bytes = bytes,
				   .pages_mode = mode, .send_nfds = nfds };
	for (unsigned i = 0; i < nfds && i < EXO_IPC_FDS_MAX; i++)
		ext.send_fds[i] = fds[i];
	return ipc_call_ext(c, m, 0, &ext, CASE_TIMEOUT);
}

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i += 64)
		p[i] = (uint8_t)(seed + i / 4096 * 13 + i);
}

static void page_move_2m_is_received_and_gone_from_the_sender(void)
{
	SKIP_UNLESS_IPC();
	int c;
	pid_t server = fork_page_server(&c);
	uint8_t *region = map_anon(REGION, PROT_READ | PROT_WRITE);
	EXPECT_TRUE(region != NULL);
	fill(region, REGION - (256u << 10), 5); /* the last 256 KiB never touched */
	uint32_t sum = checksum(region, REGION, 2166136261u);
	struct ipc_msg m = { { OP_SUM } };
	EXPECT_EQ(call_with(c, &m, region, REGION, EXO_IPC_PAGES_MOVE, NULL, 0), 0);
	EXPECT_EQ(m.w[0], sum);
	EXPECT_EQ(m.w[2], REGION);
	EXPECT_TRUE(range_is_free(region, REGION)); /* gone from here */
	/* Where the receiver chose; then a receiver that takes none: EMSGSIZE, kept. */
	uint8_t *again = map_anon(8 * 4096, PROT_READ | PROT_WRITE);
	fill(again, 8 * 4096, 9);
	sum = checksum(again, 8 * 4096, 2166136261u);
	m = (struct ipc_msg){ { OP_NEXT_AT, 0x6f0000000000ull } };
	EXPECT_EQ(call_with(c, &m, NULL, 0, 0, NULL, 0), 0);
	m = (struct ipc_msg){ { OP_SUM } };
	EXPECT_EQ(call_with(c, &m, again, 8 * 4096, EXO_IPC_PAGES_MOVE, NULL, 0), 0);
	EXPECT_EQ(m.w[1], 0x6f0000000000ull);
	EXPECT_EQ(m.w[0], sum);
	uint8_t *kept = map_anon(4096, PROT_READ | PROT_WRITE);
	kept[0] = 42;
	m = (struct ipc_msg){ { OP_REFUSE } };
	EXPECT_EQ(call_with(c, &m, NULL, 0, 0, NULL, 0), 0);
	m = (struct ipc_msg){ { OP_SUM } };
	EXPECT_ERRNO(ipc_call_ext(c, &m, 0,
				  &(struct exo_ipc_ext){ .send_pages = (uint64_t)kept,
							 .send_pages_bytes = 4096,
							 .pages_mode = EXO_IPC_PAGES_MOVE },
				  CASE_TIMEOUT),
		     EMSGSIZE); /* the receiver took no region: nothing delivered */
	EXPECT_EQ(kept[0], 42);
	stop_server(c, server);
	close(c);
	munmap(kept, 4096);
}

static void page_share_is_coherent_both_ways(void)
{
	SKIP_UNLESS_IPC();
	int c;
	pid_t server = fork_page_server(&c);
	uint64_t *shared = (uint64_t *)map_anon(2 * 4096, PROT_READ | PROT_WRITE);
	shared[0] = 0x1111;
	struct ipc_msg m = { { OP_SHARE_WRITE, 0x2222 } };
	EXPECT_EQ(call_with(c, &m, shared, 2 * 4096, EXO_IPC_PAGES_SHARE, NULL, 0), 0);
	EXPECT_EQ(m.w[1], 0x1111); /* it read ours */
	EXPECT_EQ(shared[1], 0x2222); /* we see its write */
	shared[2] = 0x3333;
	m = (struct ipc_msg){ { OP_SHARED_READ } };
	EXPECT_EQ(call_with(c, &m, NULL, 0, 0, NULL, 0), 0);
	EXPECT_EQ(m.w[0], 0x3333); /* it sees ours */
	stop_server(c, server);
	EXPECT_EQ(shared[1], 0x2222); /* still ours after the server's end */
	munmap(shared, 2 * 4096);
	close(c);
}

static void page_share_read_only_stays_read_only(void)
{
	SKIP_UNLESS_IPC();
	int c;
	pid_t server = fork_page_server(&c);
	uint8_t *ro = map_anon(3 * 4096, PROT_READ | PROT_WRITE);
	fill(ro, 3 * 4096, 3);
	EXPECT_EQ(mprotect(ro, 3 * 4096, PROT_READ), 0);
	struct ipc_msg m = { { OP_READ_ONLY } };
	EXPECT_EQ(call_with(c, &m, ro, 3 * 4096, EXO_IPC_PAGES_SHARE, NULL, 0), 0);
	EXPECT_EQ(m.w[0], checksum(ro, 3 * 4096, 2166136261u));
	EXPECT_EQ(m.w[1], 1);      /* its write faulted */
	EXPECT_EQ(m.w[2], EACCES); /* and mprotect cannot add the right */
	stop_server(c, server);
	close(c);
	munmap(ro, 3 * 4096);
}

static void fds_passed_to_a_third_process_work_there(void)
{
	SKIP_UNLESS_IPC();
	int ep = EXPECT_OK(ipc_endpoint(0));
	int c2 = EXPECT_OK(ipc_client(ep, 0));
	pid_t b = fork_server(ep, 33);
	close(ep);
	int c;
	pid_t server = fork_page_server(&c);
	int p[2];
	EXPECT_EQ(pipe(p), 0);
	int fds[2] = { c2, p[1] };
	struct ipc_msg m = { { OP_FDS, 5 } };
	EXPECT_EQ(call_with(c, &m, NULL, 0, 0, fds, 2), 0);
	EXPECT_EQ(m.w[2], 2);  /* it got both */
	EXPECT_EQ(m.w[3], 0);  /* its call through the endpoint fd worked */
	EXPECT_EQ(m.w[0], 6);  /* answered by b */
	EXPECT_EQ(m.w[1], 33);
	EXPECT_EQ(m.w[4], 1);  /* and its write to the pipe */
	close(p[1]);
	char got[2] = { 0 };
	EXPECT_EQ(read(p[0], got, 2), 1);
	EXPECT_EQ(got[0], 'x');
	EXPECT_EQ(read(p[0], got, 2), 0); /* every copy of the write end is closed */
	close(p[0]);
	stop_server(c, server);
	stop_server(c2, b);
	close(c2);
	close(c);
}

static void fds_are_closed_with_the_process_holding_them(void)
{
	SKIP_UNLESS_IPC();
	int ep = EXPECT_OK(ipc_endpoint(0));
	int c3 = EXPECT_OK(ipc_client(ep, 0));
	int c;
	pid_t server = fork_page_server(&c);
	struct ipc_msg m = { { OP_FDS_KEEP } };
	EXPECT_EQ(call_with(c, &m, NULL, 0, 0, &ep, 1), 0); /* the only server fd */
	EXPECT_EQ(m.w[2], 1);
	close(ep);
	m = (struct ipc_msg){ { 1 } };
	EXPECT_ERRNO(ipc_send(c3, &m, EXO_IPC_NONBLOCK, NULL, 0), EAGAIN); /* a server, idle */
	kill(server, SIGKILL);
	int status;
	waitpid(server, &status, 0);
	EXPECT_ERRNO(ipc_send(c3, &m, EXO_IPC_NONBLOCK, NULL, 0), EPIPE); /* gone with it */
	close(c3);
	close(c);
}

/* Every error of the region and fd parts, and a receiver whose table is full:
 * EMFILE there, nothing installed, nothing leaked (the pipe still sees EOF). */
static void page_and_fd_errors(void)
{
	SKIP_UNLESS_IPC();
	int c;
	pid_t server = fork_page_server(&c);
	uint8_t *page = map_anon(2 * 4096, PROT_READ | PROT_WRITE);
	struct ipc_msg m = { { OP_SUM } };
	EXPECT_ERRNO(call_with(c, &m, page + 1, 4096, EXO_IPC_PAGES_MOVE, NULL, 0), EINVAL);
	EXPECT_ERRNO(call_with(c, &m, page, 100, EXO_IPC_PAGES_MOVE, NULL, 0), EINVAL);
	EXPECT_ERRNO(call_with(c, &m, page, 4096, 3, NULL, 0), EINVAL);
	EXPECT_ERRNO(call_with(c, &m, KTAP_KERNEL_PTR, 4096, EXO_IPC_PAGES_MOVE, NULL, 0), EFAULT);
	EXPECT_ERRNO(call_with(c, &m, ktap_unmapped_page(), 4096, EXO_IPC_PAGES_SHARE, NULL, 0),
		     EFAULT);
	EXPECT_ERRNO(call_with(c, &m, page, 4 * 4096, EXO_IPC_PAGES_MOVE, NULL, 0), EFAULT);
	EXPECT_ERRNO(call_with(c, &m, page, EXO_IPC_PAGES_MAX + 4096, EXO_IPC_PAGES_MOVE, NULL, 0),
		     EMSGSIZE);
	EXPECT_ERRNO(call_with(c, &m, page, REGION + 4096, EXO_IPC_PAGES_MOVE, NULL, 0),
		     EMSGSIZE); /* over the receiver's room */
	int bad = 1000, nine[9] = { 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	m = (struct ipc_msg){ { OP_FDS_KEEP } };
	EXPECT_ERRNO(call_with(c, &m, NULL, 0, 0, &bad, 1), EBADF);
	EXPECT_ERRNO(call_with(c, &m, NULL, 0, 0, nine, 9), EMSGSIZE);
	EXPECT_EQ(page[0], 0); /* nothing moved by any of them */
	stop_server(c, server);
	close(c);
	/* A receiver with a full table. */
	int ep = EXPECT_OK(ipc_endpoint(0));
	int client = EXPECT_OK(ipc_client(ep, 0));
	int p[2];
	EXPECT_EQ(pipe(p), 0);
	pid_t full = fork();
	if (full == 0) {
		struct rlimit few = { 16, 16 };
		setrlimit(RLIMIT_NOFILE, &few);
		while (dup(0) >= 0) {
		}
		struct ipc_msg in;
		struct exo_ipc_ext ext = { .recv_nfds = EXO_IPC_FDS_MAX };
		long r = ipc_recv(ep, &in, 0, &ext, CASE_TIMEOUT);
		_exit(r < 0 ? errno : 100);
	}
	close(ep);
	m = (struct ipc_msg){ { 1 } };
	struct exo_ipc_ext ext = { .send_nfds = 1, .send_fds = { p[1] } };
	/* The receiver's wait ends with EMFILE; the send waits on until the
	 * receiver's end takes the last server fd with it. */
	EXPECT_ERRNO(ipc_send(client, &m, 0, &ext, CASE_TIMEOUT), EPIPE);
	int status;
	waitpid(full, &status, 0);
	EXPECT_EXITED(status, EMFILE);
	close(p[1]);
	char byte;
	EXPECT_EQ(read(p[0], &byte, 1), 0); /* no copy of the write end was left anywhere */
	close(p[0]);
	close(client);
	munmap(page, 2 * 4096);
}

/* A caller that passed no descriptor (registers only: the fastpath when the
 * server waits on its CPU) accepts no region and no fds: a reply carrying
 * either fails with EMSGSIZE for the server, and the caller waits on for a
 * reply it can take. */
static void reply_with_fds_or_pages_to_a_register_caller_is_refused(void)
{
	SKIP_UNLESS_IPC();
	int ep = EXPECT_OK(ipc_endpoint(0));
	int c = EXPECT_OK(ipc_client(ep, 0));
	pid_t pid = fork();
	if (pid == 0) {
		uint8_t *page = map_anon(4096, PROT_READ | PROT_WRITE);
		for (int round = 0; round < 20; round++) {
			struct ipc_msg m = { { 0 } };
			long token = ipc_recv(ep, &m, 0, NULL, CASE_TIMEOUT);
			if (token <= 0)
				_exit(10);
			struct ipc_msg r = { { 0 } };
			struct exo_ipc_ext fds = { .send_nfds = 1, .send_fds = { 0 } };
			struct exo_ipc_ext pages = { .send_pages = (uint64_t)page, .send_pages_bytes = 4096,
						     .pages_mode = round % 2 ? EXO_IPC_PAGES_SHARE
									     : EXO_IPC_PAGES_MOVE };
			r.w[0] = ipc_reply_recv(token, &r, ep, EXO_IPC_NORECV, &fds, 0) ? errno : 0;
			r.w[1] = ipc_reply_recv(token, &r, ep, EXO_IPC_NORECV, &pages, 0) ? errno : 0;
			r.w[2] = page[0] == (uint8_t)round; /* still ours after the refusal */
			r.w[3] = m.w[0] + 1;
			if (ipc_reply_recv(token, &r, ep, EXO_IPC_NORECV, NULL, 0))
				_exit(11);
			page[0] = (uint8_t)(round + 1);
		}
		_exit(0);
	}
	close(ep);
	for (int round = 0; round < 20; round++) {
		struct ipc_msg m = { { (uint64_t)round * 3 } }, r;
		if (!EXPECT_EQ(ipc_call(c, &m, &r), 0))
			break;
		EXPECT_EQ(r.w[0], EMSGSIZE);
		EXPECT_EQ(r.w[1], EMSGSIZE);
		EXPECT_EQ(r.w[2], 1);
		EXPECT_EQ(r.w[3], (uint64_t)round * 3 + 1);
	}
	int status;
	waitpid(pid, &status, 0);
	EXPECT_EXITED(status, 0);
	close(c);
}

/* Seeded random IPC from several processes at once: calls with and without
 * buffers, regions moved and shared, fds passed, clients closed and reopened,
 * non-blocking sends, and a client killed mid-way. The in-kernel suite user
 * runs this case alone and checks the frame, heap and table counts after it. */
static void seeded_stress_with_pages_fds_and_kills(void)
{
	SKIP_UNLESS_IPC();
	int c;
	pid_t server = fork_page_server(&c);
	int ep2 = EXPECT_OK(ipc_endpoint(0));
	int c2 = EXPECT_OK(ipc_client(ep2, 0));
	pid_t plain = fork_server(ep2, 9);
	close(ep2);
	enum { N = 4 };
	pid_t kids[N];
	uint64_t seed = ktap_rand();
	for (int i = 0; i < N; i++) {
		kids[i] = fork();
		if (kids[i] != 0)
			continue;
		uint64_t s = seed + (uint64_t)i * 0x9e3779b97f4a7c15ull;
		for (int n = 0; n < 40; n++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			unsigned op = (unsigned)(s >> 40) % 5, npages = 1 + (unsigned)(s >> 20) % 16;
			struct ipc_msg m = { { OP_SUM } };
			if (op <= 1) { /* a region, moved or shared */
				uint8_t *r = map_anon(npages * 4096, PROT_READ | PROT_WRITE);
				fill(r, npages * 4096, s);
				uint32_t sum = checksum(r, npages * 4096, 2166136261u);
				if (call_with(c, &m, r, npages * 4096,
					      op ? EXO_IPC_PAGES_SHARE : EXO_IPC_PAGES_MOVE, NULL, 0) ||
				    m.w[0] != sum)
					_exit(2);
				munmap(r, npages * 4096); /* a moved one is gone already */
			} else if (op == 2) { /* fds: a pipe's ends and a client fd */
				int p[2];
				if (pipe(p))
					_exit(3);
				int fds[3] = { p[0], p[1], c2 };
				m.w[0] = OP_FDS_KEEP + (s & 1) * (OP_FDS - OP_FDS_KEEP);
				m.w[1] = 1;
				if (m.w[0] == OP_FDS)
					fds[0] = c2, fds[2] = p[0]; /* it calls through fds[0] */
				if (call_with(c, &m, NULL, 0, 0, fds, 1 + (unsigned)(s >> 8) % 3) ||
				    m.w[2] < 1)
					_exit(4);
				close(p[0]);
				close(p[1]);
			} else if (op == 3) { /* a fresh client fd, used once, closed */
				int mine = ipc_client(c2, 0);
				struct ipc_msg r = { { 0, n } };
				if (mine < 0 || ipc_call_ext(mine, &r, 0, NULL, CASE_TIMEOUT) ||
				    r.w[1] != (uint64_t)n + 1)
					_exit(5);
				close(mine);
			} else { /* non-blocking: received or EAGAIN, never another error */
				struct ipc_msg r = { { OP_SUM } };
				if (ipc_send(c, &r, EXO_IPC_NONBLOCK, NULL, 0) && errno != EAGAIN)
					_exit(6);
			}
		}
		_exit(0);
	}
	pause_ms(5 + (int)(seed % 20));
	kill(kids[N - 1], SIGKILL); /* mid-way, whatever it was doing */
	for (int i = 0; i < N; i++) {
		int status;
		waitpid(kids[i], &status, 0);
		if (i < N - 1)
			EXPECT_EXITED(status, 0);
	}
	stop_server(c, server);
	stop_server(c2, plain);
	close(c);
	close(c2);
}

/* Random arguments to every call: each must answer one of its errnos (or
 * succeed), never hang (short timeouts) or crash. */
static void seeded_fuzz_of_arguments(void)
{
	SKIP_UNLESS_IPC();
	int ep = EXPECT_OK(ipc_endpoint(0));
	int c = EXPECT_OK(ipc_client(ep, 0));
	static uint8_t buf[4096];
	struct exo_ipc_ext good = { .send_buf = (uint64_t)buf, .send_bytes = 64, .recv_buf = (uint64_t)buf, .recv_bytes = sizeof(buf) };
	void *ptrs[] = { NULL, &good, KTAP_KERNEL_PTR, ktap_unmapped_page(), KTAP_NONCANONICAL_PTR,
			 (void *)1 };
	long fds[] = { ep, c, 1, -1, 63, 1 << 20 };
	uint8_t *scratch = map_anon(2 * 4096, PROT_READ | PROT_WRITE);
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
		/* The region and fd parts: good, bad and absurd values alike. */
		uint64_t regions[] = { 0, (uint64_t)scratch, (uint64_t)scratch + 1,
				       (uint64_t)KTAP_KERNEL_PTR, (uint64_t)ktap_unmapped_page(),
				       ktap_rand() };
		uint64_t sizes[] = { 0, 4096, 8192, 100, EXO_IPC_PAGES_MAX + 4096, ktap_rand() };
		good.send_pages = regions[ktap_rand_below(6)];
		good.send_pages_bytes = sizes[ktap_rand_below(6)];
		good.pages_mode = ktap_rand_below(4);
		good.recv_pages = ktap_rand_below(2) ? regions[ktap_rand_below(6)] : EXO_IPC_PAGES_ANYWHERE;
		good.recv_pages_bytes = sizes[ktap_rand_below(6)];
		good.send_nfds = ktap_rand_below(3) ? ktap_rand_below(EXO_IPC_FDS_MAX + 1)
						    : (uint32_t)ktap_rand();
		for (int i = 0; i < EXO_IPC_FDS_MAX; i++)
			good.send_fds[i] = (int32_t)fds[ktap_rand_below(6)];
		good.recv_nfds = (uint32_t)ktap_rand();
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
		case ETIMEDOUT: case EPIPE: case EMFILE: case EEXIST: case ENOMEM:
			break;
		default:
			if (!unexpected++)
				ktap_diag("call %ld: unexpected %s", nr, ktap_errno_name((int)-r));
		}
	}
	EXPECT_EQ(unexpected, 0);
	close(c);
	close(ep);
	munmap(scratch, 2 * 4096);
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
	KTAP_CASE(ignored_signal_never_ends_a_wait),
	KTAP_CASE(signal_ends_a_register_call),
	KTAP_CASE(signal_ends_a_register_reply_recv),
	KTAP_CASE(kill_ends_a_register_call),
	KTAP_CASE(parked_caller_keeps_registers_both_ways_back),
	KTAP_CASE(general_path_caller_resumes_a_parked_server),
	KTAP_CASE(kill_ends_a_parked_server),
	KTAP_CASE(server_fd_closed_under_a_parked_caller_gives_epipe),
	KTAP_CASE(signal_handler_runs_for_a_parked_caller),
	KTAP_CASE(bad_arguments_have_their_errno),
	KTAP_CASE(seeded_random_stress),
	KTAP_CASE(page_move_2m_is_received_and_gone_from_the_sender),
	KTAP_CASE(page_share_is_coherent_both_ways),
	KTAP_CASE(page_share_read_only_stays_read_only),
	KTAP_CASE(fds_passed_to_a_third_process_work_there),
	KTAP_CASE(fds_are_closed_with_the_process_holding_them),
	KTAP_CASE(page_and_fd_errors),
	KTAP_CASE(reply_with_fds_or_pages_to_a_register_caller_is_refused),
	KTAP_CASE(seeded_stress_with_pages_fds_and_kills),
	KTAP_CASE(seeded_fuzz_of_arguments),
};

int main(int argc, char **argv)
{
	return ktap_main(argc, argv, cases, KTAP_NCASES(cases));
}
