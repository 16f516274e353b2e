/*
 * ipc_bench: Exo's IPC figures, as `bench <name> <value> <unit>` lines.
 *   ipc_rtt_same_cpu  ipc_call + ipc_reply_recv round trip, six register words,
 *                     between two processes on one CPU (the fastpath)
 *   ipc_copy_4k       the same with a 4 KiB buffer in the call (the general path)
 *   ipc_copy_64k      the same with 64 KiB
 *   ipc_page_move_2m  the same with a populated 2 MiB region moved by mapping in
 *                     the call and moved back in the reply (two moves a round
 *                     trip; the region's address is wherever the kernel put it)
 * Each is the median of 9 repetitions of 2,000 round trips (200 for the region),
 * in TSC ticks per round trip (lfence;rdtsc;lfence around the loop). Under
 *   qemu -icount shift=0,sleep=off -smp 1 ... -append "init=/bin/ipc_bench"
 * the guest TSC counts guest instructions, so the figures are instructions,
 * exactly repeatable.
 *   ipc_bench cross   (init=/bin/ipc_bench -- cross, 2 or more CPUs)
 *   ipc_rtt_cross_cpu_ns  the register round trip with the client pinned to
 *                     CPU 0 and the server to CPU 1: wall clock, ns per round
 *                     trip from CLOCK_MONOTONIC, median of 9 repetitions
 * It ends with `ipc_bench: done`. On another kernel it prints that IPC is absent.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exo_ipc.h"

#define ROUNDS 2000
#define PAGE_ROUNDS 200
#define REPS 9
#define REGION (2u << 20)
#define MODE_PAGES 2 /* word 3 of a call: the region comes back in the reply */

static uint64_t ticks(void)
{
	uint32_t lo, hi;
	__asm__ volatile("lfence; rdtsc; lfence" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static uint8_t buf[EXO_IPC_BUF_MAX], room[EXO_IPC_BUF_MAX];

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Pins the calling process to one CPU (cross mode); -1 when it cannot. */
static int pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

static void server(int fd)
{
	struct ipc_msg m = { { 0 } };
	const struct exo_ipc_ext room_only = { .recv_buf = (uint64_t)room, .recv_bytes = sizeof(room),
					       .recv_pages = EXO_IPC_PAGES_ANYWHERE,
					       .recv_pages_bytes = REGION };
	struct exo_ipc_ext ext = room_only;
	long token = ipc_recv(fd, &m, 0, &ext, 0);
	while (token > 0 && m.w[0] != ~0ull) {
		m.w[1]++;
		if (m.w[3] == MODE_PAGES) { /* the region goes back as it came */
			uint64_t at = ext.recv_pages, bytes = ext.recv_pages_bytes;
			ext = room_only;
			ext.send_pages = at, ext.send_pages_bytes = bytes;
			ext.pages_mode = EXO_IPC_PAGES_MOVE;
			token = ipc_reply_recv(token, &m, fd, 0, &ext, 0);
		} else if (m.w[2]) {
			ext = room_only;
			token = ipc_reply_recv(token, &m, fd, 0, &ext, 0);
		} else {
			token = ipc_reply_recv(token, &m, fd, 0, NULL, 0);
		}
	}
	if (token > 0)
		ipc_reply_recv(token, &m, fd, EXO_IPC_NORECV, NULL, 0);
}

static int compare(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *name, uint64_t *per, bool wall)
{
	qsort(per, REPS, sizeof(per[0]), compare);
	printf("bench %s %llu.00 %s\n", name, (unsigned long long)per[REPS / 2],
	       wall ? "ns" : "instructions_or_ticks");
	fflush(stdout);
}

static void figure(int c, const char *name, size_t bytes, bool wall)
{
	uint64_t per[REPS];
	struct exo_ipc_ext ext = { .send_buf = (uint64_t)buf, .send_bytes = bytes, .recv_buf = (uint64_t)room };
	for (int rep = -1; rep < REPS; rep++) {
		struct ipc_msg m = { { 0, 0, bytes, 3, 4, 5 } };
		uint64_t start = wall ? now_ns() : ticks();
		for (int i = 0; i < ROUNDS; i++) {
			if (bytes ? ipc_call_ext(c, &m, 0, &ext, 0) : ipc_call_ext(c, &m, 0, NULL, 0)) {
				printf("bench %s: FAILED: call\n", name);
				return;
			}
		}
		uint64_t end = wall ? now_ns() : ticks();
		if (rep >= 0)
			per[rep] = (end - start) / ROUNDS;
	}
	report(name, per, wall);
}

/* A populated 2 MiB region moved to the server in each call and back in each
 * reply: two moves a round trip, no copy. */
static void page_figure(int c)
{
	uint64_t per[REPS];
	uint8_t *region = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);
	if (region == MAP_FAILED) {
		printf("bench ipc_page_move_2m: FAILED: mmap\n");
		return;
	}
	for (size_t i = 0; i < REGION; i += 4096)
		region[i] = (uint8_t)(i >> 12);
	for (int rep = -1; rep < REPS; rep++) {
		uint64_t start = ticks();
		for (int i = 0; i < PAGE_ROUNDS; i++) {
			struct ipc_msg m = { { 0, 0, 0, MODE_PAGES, 4, 5 } };
			struct exo_ipc_ext ext = { .send_pages = (uint64_t)region,
						   .send_pages_bytes = REGION,
						   .pages_mode = EXO_IPC_PAGES_MOVE,
						   .recv_pages = EXO_IPC_PAGES_ANYWHERE,
						   .recv_pages_bytes = REGION };
			if (ipc_call_ext(c, &m, 0, &ext, 0) || ext.recv_pages_bytes != REGION) {
				printf("bench ipc_page_move_2m: FAILED: call\n");
				return;
			}
			region = (uint8_t *)ext.recv_pages;
		}
		uint64_t end = ticks();
		if (rep >= 0)
			per[rep] = (end - start) / PAGE_ROUNDS;
	}
	/* Every page came back with what it held. */
	for (size_t i = 0; i < REGION; i += 4096) {
		if (region[i] != (uint8_t)(i >> 12)) {
			printf("bench ipc_page_move_2m: FAILED: page %zu changed\n", i >> 12);
			return;
		}
	}
	munmap(region, REGION);
	report("ipc_page_move_2m", per, false);
}

int main(int argc, char **argv)
{
	bool cross = argc > 1 && strcmp(argv[1], "cross") == 0;
	int ep = ipc_endpoint(0);
	if (ep < 0) {
		printf("ipc_bench: no Exo IPC here\n");
		return 0;
	}
	if (cross && pin(0) != 0) {
		printf("bench ipc_rtt_cross_cpu_ns: skipped: needs CPUs 0 and 1\n");
		printf("ipc_bench: done\n");
		return 0;
	}
	int c = ipc_client(ep, 0);
	pid_t pid = fork();
	if (pid == 0) {
		if (cross && pin(1) != 0)
			_exit(1);
		server(ep);
		_exit(0);
	}
	close(ep);
	if (cross) {
		figure(c, "ipc_rtt_cross_cpu_ns", 0, true);
	} else {
		figure(c, "ipc_rtt_same_cpu", 0, false);
		figure(c, "ipc_copy_4k", 4096, false);
		figure(c, "ipc_copy_64k", 65536, false);
		page_figure(c);
	}
	struct ipc_msg m = { { ~0ull } };
	ipc_call_ext(c, &m, 0, NULL, 0);
	waitpid(pid, NULL, 0);
	printf("ipc_bench: done\n");
	return 0;
}
