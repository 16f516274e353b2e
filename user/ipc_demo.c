/*
 * ipc_demo: a key-value store served over Exo IPC. Forks a server process that
 * owns the table and answers calls (word 0: PUT or GET, the key in words 1-2,
 * the value as the byte buffer), then runs a client that stores and reads back
 * a few entries, prints them, and stops the server. From the shell:
 *   exo> run /bin/ipc_demo
 */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exo_ipc.h"

enum { PUT = 1, GET, STOP };
#define SLOTS 16
#define VALUE_MAX 256

static struct { uint64_t key; char value[VALUE_MAX]; size_t len; } table[SLOTS];

static void server(int fd)
{
	char in[VALUE_MAX];
	struct ipc_msg m = { { 0 } };
	struct exo_ipc_ext ext = { .recv_buf = (uint64_t)in, .recv_bytes = sizeof(in) };
	long token = ipc_recv(fd, &m, 0, &ext, 0);
	while (token > 0) {
		uint64_t op = m.w[0], key = m.w[1], slot = key % SLOTS;
		ext = (struct exo_ipc_ext){ .recv_buf = (uint64_t)in, .recv_bytes = sizeof(in) };
		m.w[0] = 0;
		if (op == PUT) {
			size_t len = m.w[2] < VALUE_MAX ? m.w[2] : VALUE_MAX;
			table[slot].key = key;
			memcpy(table[slot].value, in, len);
			table[slot].len = len;
		} else if (op == GET && table[slot].key == key && table[slot].len) {
			ext.send_buf = (uint64_t)table[slot].value;
			ext.send_bytes = table[slot].len;
		} else if (op == STOP) {
			ipc_reply_recv(token, &m, fd, EXO_IPC_NORECV, NULL, 0);
			return;
		} else {
			m.w[0] = 1; /* not found */
		}
		token = ipc_reply_recv(token, &m, fd, 0, &ext, 0);
	}
}

static void put(int c, uint64_t key, const char *value)
{
	struct ipc_msg m = { { PUT, key, strlen(value) } };
	struct exo_ipc_ext ext = { .send_buf = (uint64_t)value, .send_bytes = strlen(value) };
	if (ipc_call_ext(c, &m, 0, &ext, 0))
		perror("ipc_demo: put");
	printf("put %llu = \"%s\"\n", (unsigned long long)key, value);
}

static void get(int c, uint64_t key)
{
	char value[VALUE_MAX + 1];
	struct ipc_msg m = { { GET, key } };
	struct exo_ipc_ext ext = { .recv_buf = (uint64_t)value, .recv_bytes = VALUE_MAX };
	if (ipc_call_ext(c, &m, 0, &ext, 0)) {
		perror("ipc_demo: get");
		return;
	}
	if (m.w[0]) {
		printf("get %llu: not found\n", (unsigned long long)key);
		return;
	}
	value[ext.recv_bytes < VALUE_MAX ? ext.recv_bytes : VALUE_MAX] = 0;
	printf("get %llu = \"%s\"\n", (unsigned long long)key, value);
}

int main(void)
{
	int ep = ipc_endpoint(0);
	if (ep < 0) {
		perror("ipc_demo: ipc_endpoint (not Exo?)");
		return 1;
	}
	int c = ipc_client(ep, 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(c);
		server(ep);
		_exit(0);
	}
	close(ep);
	printf("ipc_demo: server is process %d\n", (int)pid);
	put(c, 1, "exo");
	put(c, 2, "synchronous IPC");
	get(c, 2);
	get(c, 1);
	get(c, 3);
	struct ipc_msg m = { { STOP } };
	ipc_call_ext(c, &m, 0, NULL, 0);
	waitpid(pid, NULL, 0);
	printf("ipc_demo: done\n");
	return 0;
}
