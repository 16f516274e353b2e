/*
 * ipc_bench: Exo's IPC figures, as `bench <name> <value> <unit>` lines.
 *   ipc_rtt_same_cpu  ipc_call + ipc_reply_recv round trip, six register words,
 *                     between two processes on one CPU (the fastpath)
 *   ipc_copy_4k       the same with a 4 KiB buffer in the call (the general path)
 *   ipc_copy_64k      the same with 64 KiB
 * Each is the median of 9 repetitions of 2,000 round trips, in TSC ticks per
 * round trip (lfence;rdtsc;lfence around the loop). Under
 *   qemu -icount shift=0,sleep=off -smp 1 ... -append "init=/bin/ipc_bench"
 * the guest TSC counts guest instructions, so the figures are instructions,
 * exactly repeatable. On another kernel it prints that IPC is absent.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exo_ipc.h"

#define ROUNDS 2000
#define REPS 9

static uint64_t ticks(void)
{
	uint32_t lo, hi;
	__asm__ volatile("lfence; rdtsc; lfence" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static uint8_t buf[EXO_IPC_BUF_MAX], room[EXO_IPC_BUF_MAX];

static void server(int fd)
{
	struct ipc_msg m = { { 0 } };
	struct exo_ipc_ext ext = { .recv_buf = (uint64_t)room, .recv_bytes = sizeof(room) };
	long token = ipc_recv(fd, &m, 0, &ext, 0);
	while (token > 0 && m.w[0] != ~0ull) {
		m.w[1]++;
		token = m.w[2] ? ipc_reply_recv(token, &m, fd, 0, &ext, 0)
			       : ipc_reply_recv(token, &m, fd, 0, NULL, 0);
	}
	if (token > 0)
		ipc_reply_recv(token, &m, fd, EXO_IPC_NORECV, NULL, 0);
}

static int compare(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void figure(int c, const char *name, size_t bytes)
{
	uint64_t per[REPS];
	struct exo_ipc_ext ext = { .send_buf = (uint64_t)buf, .send_bytes = bytes, .recv_buf = (uint64_t)room };
	for (int rep = -1; rep < REPS; rep++) {
		struct ipc_msg m = { { 0, 0, bytes, 3, 4, 5 } };
		uint64_t start = ticks();
		for (int i = 0; i < ROUNDS; i++) {
			if (bytes ? ipc_call_ext(c, &m, 0, &ext, 0) : ipc_call_ext(c, &m, 0, NULL, 0)) {
				printf("bench %s: FAILED: call\n", name);
				return;
			}
		}
		uint64_t end = ticks();
		if (rep >= 0)
			per[rep] = (end - start) / ROUNDS;
	}
	qsort(per, REPS, sizeof(per[0]), compare);
	printf("bench %s %llu.00 instructions_or_ticks\n", name, (unsigned long long)per[REPS / 2]);
	fflush(stdout);
}

int main(void)
{
	int ep = ipc_endpoint(0);
	if (ep < 0) {
		printf("ipc_bench: no Exo IPC here\n");
		return 0;
	}
	int c = ipc_client(ep, 0);
	pid_t pid = fork();
	if (pid == 0) {
		server(ep);
		_exit(0);
	}
	close(ep);
	figure(c, "ipc_rtt_same_cpu", 0);
	figure(c, "ipc_copy_4k", 4096);
	figure(c, "ipc_copy_64k", 65536);
	struct ipc_msg m = { { ~0ull } };
	ipc_call_ext(c, &m, 0, NULL, 0);
	waitpid(pid, NULL, 0);
	return 0;
}
