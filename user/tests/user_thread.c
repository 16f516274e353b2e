/*
 * user_thread: threads through musl pthreads (clone with SETTLS,
 * PARENT_SETTID, CHILD_CLEARTID) and a raw clone() that checks those flags
 * itself; futex WAIT, WAKE, WAIT_BITSET, WAKE_BITSET, REQUEUE, CMP_REQUEUE,
 * PRIVATE and timeouts; 1000 threads alive at once; a seeded futex race.
 *
 * Nothing here asserts that a thread is already asleep in FUTEX_WAIT at some
 * moment (that would be timing): wakers loop until every waiter is accounted
 * for, and every wait has a timeout so a lost wake-up fails instead of hanging.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ktap.h"

#define KPTR KTAP_KERNEL_PTR

/* linux/futex.h (musl-gcc has no kernel headers) */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_REQUEUE 3
#define FUTEX_CMP_REQUEUE 4
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAKE_BITSET 10
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_CLOCK_REALTIME 256
#define FUTEX_WAIT_PRIVATE (FUTEX_WAIT | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_PRIVATE (FUTEX_WAKE | FUTEX_PRIVATE_FLAG)
#define FUTEX_BITSET_MATCH_ANY 0xffffffffu

static long futex(void *uaddr, int op, uint32_t val, const struct timespec *ts, void *uaddr2,
		  uint32_t val3)
{
	return syscall(SYS_futex, uaddr, op, val, ts, uaddr2, val3);
}

static void pause_ms(int ms)
{
	struct timespec ts = { 0, ms * 1000000L };
	nanosleep(&ts, NULL);
}

static void *times_two(void *arg)
{
	return (void *)((intptr_t)arg * 2);
}

static void create_and_join(void)
{
	pthread_t t[8];

	for (intptr_t i = 0; i < 8; i++)
		EXPECT_EQ(pthread_create(&t[i], NULL, times_two, (void *)i), 0);
	for (intptr_t i = 0; i < 8; i++) {
		void *ret = NULL;
		EXPECT_EQ(pthread_join(t[i], &ret), 0);
		EXPECT_EQ((intptr_t)ret, i * 2);
	}
}

static void *report_ids(void *arg)
{
	long *ids = arg;
	ids[0] = syscall(SYS_getpid);
	ids[1] = syscall(SYS_gettid);
	ids[2] = syscall(SYS_getppid);
	return NULL;
}

static void threads_share_pid_not_tid(void)
{
	long ids[4][3];
	pthread_t t[4];

	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, report_ids, ids[i]);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 4; i++) {
		EXPECT_EQ(ids[i][0], getpid());
		EXPECT_EQ(ids[i][2], getppid());
		EXPECT_NE(ids[i][1], getpid());
		for (int j = 0; j < i; j++)
			EXPECT_NE(ids[i][1], ids[j][1]);
	}
}

static pthread_mutex_t counter_lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;

static void *add_many(void *arg)
{
	for (long i = 0; i < (long)(intptr_t)arg; i++) {
		pthread_mutex_lock(&counter_lock);
		counter++;
		pthread_mutex_unlock(&counter_lock);
		if (i % 1000 == 0)
			sched_yield();
	}
	return NULL;
}

static void mutex_counts_exactly(void)
{
	pthread_t t[4];

	counter = 0;
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, add_many, (void *)(intptr_t)20000);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	EXPECT_EQ(counter, 80000);
}

enum { QSIZE = 8, ITEMS = 2000 };
static struct {
	pthread_mutex_t lock;
	pthread_cond_t not_empty, not_full;
	int buf[QSIZE];
	int head, count;
} q = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, { 0 }, 0, 0 };

static void *producer(void *arg)
{
	(void)arg;
	for (int i = 1; i <= ITEMS; i++) {
		pthread_mutex_lock(&q.lock);
		while (q.count == QSIZE)
			pthread_cond_wait(&q.not_full, &q.lock);
		q.buf[(q.head + q.count++) % QSIZE] = i;
		pthread_cond_signal(&q.not_empty);
		pthread_mutex_unlock(&q.lock);
	}
	return NULL;
}

static void condvar_queue_in_order(void)
{
	pthread_t t;
	int expect = 1, bad = 0;

	pthread_create(&t, NULL, producer, NULL);
	for (int i = 0; i < ITEMS; i++) {
		pthread_mutex_lock(&q.lock);
		while (q.count == 0)
			pthread_cond_wait(&q.not_empty, &q.lock);
		int v = q.buf[q.head];
		q.head = (q.head + 1) % QSIZE;
		q.count--;
		pthread_cond_signal(&q.not_full);
		pthread_mutex_unlock(&q.lock);
		bad += v != expect++;
	}
	pthread_join(t, NULL);
	EXPECT_EQ(bad, 0);
}

static pthread_barrier_t barrier;
static atomic_int phase_arrivals[50];

static void *barrier_rounds(void *arg)
{
	(void)arg;
	for (int r = 0; r < 50; r++) {
		atomic_fetch_add(&phase_arrivals[r], 1);
		pthread_barrier_wait(&barrier);
		/* Past the barrier, everyone has arrived at this round. */
		if (atomic_load(&phase_arrivals[r]) != 4)
			return (void *)1;
		pthread_barrier_wait(&barrier);
	}
	return NULL;
}

static void barrier_rounds_hold(void)
{
	pthread_t t[4];
	void *ret;
	int bad = 0;

	memset(phase_arrivals, 0, sizeof(phase_arrivals));
	pthread_barrier_init(&barrier, NULL, 4);
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, barrier_rounds, NULL);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], &ret);
		bad += ret != NULL;
	}
	pthread_barrier_destroy(&barrier);
	EXPECT_EQ(bad, 0);
}

static pthread_barrier_t all_alive;
static atomic_int alive_count;

static void *wait_for_all(void *arg)
{
	(void)arg;
	atomic_fetch_add(&alive_count, 1);
	pthread_barrier_wait(&all_alive);
	return NULL;
}

static void thousand_threads_alive(void)
{
	enum { N = 1000 };
	static pthread_t t[N];
	pthread_attr_t attr;
	int made = 0;

	atomic_store(&alive_count, 0);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 16384);
	pthread_barrier_init(&all_alive, NULL, N + 1);
	for (; made < N; made++) {
		int err = pthread_create(&t[made], &attr, wait_for_all, NULL);
		if (err) {
			ktap_fail_at(__FILE__, __LINE__, "pthread_create #%d: %s", made,
				     ktap_errno_name(err));
			break;
		}
	}
	if (made < N) {
		/* Cannot release a barrier that will never fill: leave them be. */
		return;
	}
	pthread_barrier_wait(&all_alive);
	EXPECT_EQ(atomic_load(&alive_count), N);
	for (int i = 0; i < made; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&all_alive);
	pthread_attr_destroy(&attr);
}

/* Raw clone(): the kernel's side of what pthread_create relies on. */
static volatile uintptr_t child_fs0, child_tid_seen;
static uintptr_t tls_block[8];

static int raw_thread(void *arg)
{
	uintptr_t fs0;
	(void)arg;
	__asm__ volatile("mov %%fs:0, %0" : "=r"(fs0));
	child_fs0 = fs0;
	child_tid_seen = (uintptr_t)syscall(SYS_gettid);
	return 0;
}

static void raw_clone_settls_settid_cleartid(void)
{
	size_t stack_size = 64 * 1024;
	char *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			   -1, 0);
	volatile pid_t ptid = 0, ctid = -1;
	int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
		    CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;

	tls_block[0] = (uintptr_t)tls_block; /* x86_64 TLS ABI: %fs:0 points to itself */
	child_fs0 = 0;
	int tid = clone(raw_thread, stack + stack_size, flags, NULL, &ptid, tls_block, &ctid);
	if (!EXPECT_TRUE(tid > 0))
		return;
	EXPECT_EQ(ptid, tid);
	/* CHILD_CLEARTID: the kernel zeroes ctid at exit and wakes its futex. */
	struct timespec one_s = { 1, 0 };
	for (int i = 0; i < 10 && ctid != 0; i++) {
		pid_t v = ctid;
		if (v != 0)
			futex((void *)&ctid, FUTEX_WAIT, (uint32_t)v, &one_s, NULL, 0);
	}
	EXPECT_EQ(ctid, 0);
	EXPECT_EQ(child_fs0, (uintptr_t)tls_block);
	EXPECT_EQ(child_tid_seen, (uintptr_t)tid);
	/* The parent's own TLS is untouched. */
	uintptr_t fs0;
	__asm__ volatile("mov %%fs:0, %0" : "=r"(fs0));
	EXPECT_EQ(fs0, (uintptr_t)pthread_self());
	munmap(stack, stack_size);
	EXPECT_ERRNO(syscall(SYS_clone, CLONE_THREAD, 0, 0, 0, 0), EINVAL);
	EXPECT_ERRNO(syscall(SYS_clone, CLONE_SIGHAND, 0, 0, 0, 0), EINVAL);
}

static void futex_errors_and_timeouts(void)
{
	static uint32_t word = 5;
	struct timespec short_ts = { 0, 10 * 1000 * 1000 }, bad_ts = { 0, 1000000000 };

	EXPECT_ERRNO(futex(&word, FUTEX_WAIT, 4, NULL, NULL, 0), EAGAIN);
	EXPECT_ERRNO(futex(&word, FUTEX_WAIT_PRIVATE, 4, NULL, NULL, 0), EAGAIN);
	int64_t t0 = ktap_now_ns();
	EXPECT_ERRNO(futex(&word, FUTEX_WAIT, 5, &short_ts, NULL, 0), ETIMEDOUT);
	EXPECT_TRUE(ktap_now_ns() - t0 >= 10 * 1000 * 1000);
	EXPECT_ERRNO(futex(&word, FUTEX_WAIT_PRIVATE, 5, &short_ts, NULL, 0), ETIMEDOUT);
	/* WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline. */
	struct timespec abs;
	clock_gettime(CLOCK_MONOTONIC, &abs);
	abs.tv_nsec += 10 * 1000 * 1000;
	if (abs.tv_nsec >= 1000000000) {
		abs.tv_sec++;
		abs.tv_nsec -= 1000000000;
	}
	EXPECT_ERRNO(futex(&word, FUTEX_WAIT_BITSET, 5, &abs, NULL, FUTEX_BITSET_MATCH_ANY),
		     ETIMEDOUT);
	struct timespec past = { 0, 0 };
	EXPECT_ERRNO(futex(&word, FUTEX_WAIT_BITSET | FUTEX_CLOCK_REALTIME, 5, &past, NULL, ~0u),
		     ETIMEDOUT);
	EXPECT_ERRNO(futex(&word, FUTEX_WAIT, 5, &bad_ts, NULL, 0), EINVAL);
	EXPECT_ERRNO(futex(&word, FUTEX_WAIT_BITSET, 5, NULL, NULL, 0), EINVAL);
	EXPECT_ERRNO(futex(&word, FUTEX_WAKE_BITSET, 1, NULL, NULL, 0), EINVAL);
	EXPECT_EQ(futex(&word, FUTEX_WAKE, 1, NULL, NULL, 0), 0);
	EXPECT_EQ(futex(&word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0), 0);
	EXPECT_ERRNO(futex((char *)&word + 1, FUTEX_WAIT, 5, NULL, NULL, 0), EINVAL);
	EXPECT_ERRNO(futex((char *)&word + 2, FUTEX_WAKE, 1, NULL, NULL, 0), EINVAL);
	EXPECT_ERRNO(futex(NULL, FUTEX_WAIT, 0, NULL, NULL, 0), EFAULT);
	EXPECT_ERRNO(futex(KPTR, FUTEX_WAIT, 0, NULL, NULL, 0), EFAULT);
	EXPECT_ERRNO(futex(ktap_unmapped_page(), FUTEX_WAIT, 0, NULL, NULL, 0), EFAULT);
	EXPECT_ERRNO(futex(&word, FUTEX_WAIT, 5, KPTR, NULL, 0), EFAULT);
	EXPECT_ERRNO(futex(&word, 99, 0, NULL, NULL, 0), ENOSYS);
	EXPECT_ERRNO(futex(&word, FUTEX_CMP_REQUEUE, 1, (void *)1, &word + 1, 4), EAGAIN);
}

struct waiter {
	uint32_t *word;
	int op;
	uint32_t bitset;
	atomic_int done;
	int result;
};

static void *futex_waiter(void *arg)
{
	struct waiter *w = arg;
	struct timespec limit = { 5, 0 };
	struct timespec abs;

	if (w->op == FUTEX_WAIT_BITSET) {
		clock_gettime(CLOCK_MONOTONIC, &abs);
		abs.tv_sec += 5;
		w->result = (int)futex(w->word, FUTEX_WAIT_BITSET, 0, &abs, NULL, w->bitset);
	} else {
		w->result = (int)futex(w->word, w->op, 0, &limit, NULL, 0);
	}
	if (w->result != 0)
		w->result = errno;
	atomic_store(&w->done, 1);
	return NULL;
}

/* Wakes word (op) one waiter at a time until want threads were woken. */
static int wake_until(uint32_t *word, int op, uint32_t bitset, int want)
{
	int woken = 0;
	for (int tries = 0; woken < want && tries < 5000; tries++) {
		long r = futex(word, op, 1, NULL, NULL, bitset);
		if (r < 0 || r > 1) {
			ktap_fail_at(__FILE__, __LINE__, "wake one returned %ld (%s)", r,
				     ktap_errno_name(errno));
			return woken;
		}
		woken += (int)r;
		if (!r)
			pause_ms(1);
	}
	return woken;
}

static void futex_wake_counts(void)
{
	static uint32_t word;
	struct waiter w[4];
	pthread_t t[4];

	for (int i = 0; i < 4; i++) {
		w[i] = (struct waiter){ &word, FUTEX_WAIT, 0, 0, -1 };
		pthread_create(&t[i], NULL, futex_waiter, &w[i]);
	}
	EXPECT_EQ(wake_until(&word, FUTEX_WAKE, 0, 4), 4);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		EXPECT_EQ(w[i].result, 0);
	}
	/* Private flavour */
	for (int i = 0; i < 2; i++) {
		w[i] = (struct waiter){ &word, FUTEX_WAIT_PRIVATE, 0, 0, -1 };
		pthread_create(&t[i], NULL, futex_waiter, &w[i]);
	}
	EXPECT_EQ(wake_until(&word, FUTEX_WAKE_PRIVATE, 0, 2), 2);
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		EXPECT_EQ(w[i].result, 0);
	}
}

static void futex_bitset_selects(void)
{
	static uint32_t word;
	struct waiter a = { &word, FUTEX_WAIT_BITSET, 0x1, 0, -1 };
	struct waiter b = { &word, FUTEX_WAIT_BITSET, 0x2, 0, -1 };
	pthread_t ta, tb;

	pthread_create(&ta, NULL, futex_waiter, &a);
	pthread_create(&tb, NULL, futex_waiter, &b);
	EXPECT_EQ(wake_until(&word, FUTEX_WAKE_BITSET, 0x2, 1), 1);
	pthread_join(tb, NULL);
	EXPECT_EQ(b.result, 0);
	pause_ms(5);
	EXPECT_EQ(atomic_load(&a.done), 0);
	EXPECT_EQ(wake_until(&word, FUTEX_WAKE_BITSET, 0x1, 1), 1);
	pthread_join(ta, NULL);
	EXPECT_EQ(a.result, 0);
}

static void futex_requeue_moves_waiters(void)
{
	static uint32_t from, to;
	struct waiter w[3];
	pthread_t t[3];
	long moved = 0;

	for (int i = 0; i < 3; i++) {
		w[i] = (struct waiter){ &from, FUTEX_WAIT, 0, 0, -1 };
		pthread_create(&t[i], NULL, futex_waiter, &w[i]);
	}
	for (int tries = 0; moved < 3 && tries < 5000; tries++) {
		long r = futex(&from, FUTEX_REQUEUE, 0, (void *)(intptr_t)INT_MAX, &to, 0);
		if (!EXPECT_TRUE(r >= 0))
			break;
		moved += r;
		if (moved < 3)
			pause_ms(1);
	}
	EXPECT_EQ(moved, 3);
	/* Nobody is left on `from`; all three wake from `to`. */
	EXPECT_EQ(futex(&from, FUTEX_WAKE, INT_MAX, NULL, NULL, 0), 0);
	EXPECT_EQ(futex(&to, FUTEX_WAKE, INT_MAX, NULL, NULL, 0), 3);
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		EXPECT_EQ(w[i].result, 0);
	}
}

/* A seeded race: futex-based lock and ping-pong with random yields. */
static atomic_uint race_lock;
static long race_counter;
static atomic_uint turn;
static atomic_int race_timeouts;

static void race_lock_acquire(void)
{
	unsigned c = 0;
	if (atomic_compare_exchange_strong(&race_lock, &c, 1))
		return;
	if (c != 2)
		c = atomic_exchange(&race_lock, 2);
	while (c != 0) {
		struct timespec limit = { 2, 0 };
		if (futex(&race_lock, FUTEX_WAIT_PRIVATE, 2, &limit, NULL, 0) != 0 &&
		    errno == ETIMEDOUT)
			atomic_fetch_add(&race_timeouts, 1);
		c = atomic_exchange(&race_lock, 2);
	}
}

static void race_lock_release(void)
{
	if (atomic_fetch_sub(&race_lock, 1) != 1) {
		atomic_store(&race_lock, 0);
		futex(&race_lock, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	}
}

struct racer {
	uint64_t rng;
	int id;
};

static uint64_t racer_rand(struct racer *r)
{
	r->rng ^= r->rng << 13;
	r->rng ^= r->rng >> 7;
	r->rng ^= r->rng << 17;
	return r->rng;
}

static void *race_worker(void *arg)
{
	struct racer *r = arg;
	for (int i = 0; i < 3000; i++) {
		race_lock_acquire();
		long v = race_counter;
		if (racer_rand(r) % 16 == 0)
			sched_yield();
		race_counter = v + 1;
		race_lock_release();
		if (racer_rand(r) % 8 == 0)
			sched_yield();
	}
	return NULL;
}

static void *ping_pong(void *arg)
{
	struct racer *r = arg;
	unsigned me = (unsigned)r->id;
	for (int i = 0; i < 500; i++) {
		while (atomic_load(&turn) != me) {
			struct timespec limit = { 2, 0 };
			if (futex(&turn, FUTEX_WAIT_PRIVATE, 1 - me, &limit, NULL, 0) != 0 &&
			    errno == ETIMEDOUT)
				atomic_fetch_add(&race_timeouts, 1);
		}
		if (racer_rand(r) % 4 == 0)
			sched_yield();
		atomic_store(&turn, 1 - me);
		futex(&turn, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	}
	return NULL;
}

static void futex_seeded_race(void)
{
	struct racer r[4];
	pthread_t t[4];

	race_counter = 0;
	atomic_store(&race_lock, 0);
	atomic_store(&race_timeouts, 0);
	for (int i = 0; i < 4; i++) {
		r[i] = (struct racer){ ktap_rand() | 1, i };
		pthread_create(&t[i], NULL, race_worker, &r[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	EXPECT_EQ(race_counter, 4 * 3000);
	atomic_store(&turn, 0);
	for (int i = 0; i < 2; i++) {
		r[i] = (struct racer){ ktap_rand() | 1, i };
		pthread_create(&t[i], NULL, ping_pong, &r[i]);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	/* A 2 s timeout firing means a wake-up was lost. */
	EXPECT_EQ(atomic_load(&race_timeouts), 0);
}

static void *exit_group_from_thread(void *arg)
{
	(void)arg;
	syscall(SYS_exit_group, 5);
	return NULL;
}

static int exit_group_child(void *arg)
{
	pthread_t t;
	(void)arg;
	pthread_create(&t, NULL, exit_group_from_thread, NULL);
	for (;;)
		pause();
	return 1;
}

/* musl's pthread_exit ends in SYS_exit (a raw one would skip musl's bookkeeping). */
static void *exit_only_self(void *arg)
{
	(void)arg;
	pthread_exit(NULL);
}

static int exit_thread_child(void *arg)
{
	pthread_t t;
	(void)arg;
	pthread_create(&t, NULL, exit_only_self, NULL);
	pthread_join(t, NULL);
	return 6;
}

static void thread_exit_vs_exit_group(void)
{
	EXPECT_EXITED(ktap_run_child(exit_group_child, NULL), 5);
	EXPECT_EXITED(ktap_run_child(exit_thread_child, NULL), 6);
}

static volatile long handler_tid;

static void note_tid(int sig)
{
	(void)sig;
	handler_tid = syscall(SYS_gettid);
}

static void *sleep_until_signalled(void *arg)
{
	volatile long *tid = arg;
	*tid = syscall(SYS_gettid);
	while (handler_tid == 0)
		pause_ms(1);
	return NULL;
}

static void tgkill_targets_one_thread(void)
{
	volatile long tid = 0;
	pthread_t t;
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = note_tid;
	sigaction(SIGUSR1, &sa, NULL);
	handler_tid = 0;
	pthread_create(&t, NULL, sleep_until_signalled, (void *)&tid);
	while (tid == 0)
		pause_ms(1);
	EXPECT_EQ(syscall(SYS_tgkill, getpid(), tid, SIGUSR1), 0);
	pthread_join(t, NULL);
	EXPECT_EQ(handler_tid, tid);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGUSR1, &sa, NULL);
}

static void *spin_forever(void *arg)
{
	(void)arg;
	for (;;)
		pause_ms(10);
	return NULL;
}

static int fork_in_threaded_child(void *arg)
{
	pthread_t t;
	(void)arg;
	pthread_create(&t, NULL, spin_forever, NULL);
	pid_t pid = fork();
	if (pid == 0)
		_exit(8); /* only the forking thread exists here */
	int status = 0;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

static void fork_from_threaded_process(void)
{
	EXPECT_EXITED(ktap_run_child(fork_in_threaded_child, NULL), 8);
}

static const struct ktap_case cases[] = {
	KTAP_CASE(create_and_join),
	KTAP_CASE(threads_share_pid_not_tid),
	KTAP_CASE(mutex_counts_exactly),
	KTAP_CASE(condvar_queue_in_order),
	KTAP_CASE(barrier_rounds_hold),
	KTAP_CASE(thousand_threads_alive),
	KTAP_CASE(raw_clone_settls_settid_cleartid),
	KTAP_CASE(futex_errors_and_timeouts),
	KTAP_CASE(futex_wake_counts),
	KTAP_CASE(futex_bitset_selects),
	KTAP_CASE(futex_requeue_moves_waiters),
	KTAP_CASE(futex_seeded_race),
	KTAP_CASE(thread_exit_vs_exit_group),
	KTAP_CASE(tgkill_targets_one_thread),
	KTAP_CASE(fork_from_threaded_process),
};

int main(int argc, char **argv)
{
	return ktap_main(argc, argv, cases, KTAP_NCASES(cases));
}
