/*
 * user_mem: the address space calls: mmap, munmap, mprotect, brk, madvise
 * (DONTNEED). A W+X request is refused with EACCES on Exo (its policy, as on
 * OpenBSD); Linux allows it, so those cases skip there.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fixture.h"
#include "ktap.h"

#define PAGE 4096UL
#define KADDR 0xffff800000000000UL
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)

static void *sys_mmap(void *addr, size_t len, long prot, long flags, long fd, long off)
{
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

/* 1 if reading/writing addr in a child faults (SIGSEGV) */
static int probe_write(void *addr)
{
	*(volatile char *)addr = 1;
	return 0;
}

static int probe_read(void *addr)
{
	return *(volatile char *)addr == 0x5a ? 3 : 0;
}

static void mmap_anonymous_is_zeroed_and_writable(void)
{
	size_t len = 16 * PAGE;
	char *p = sys_mmap(NULL, len, PROT_READ | PROT_WRITE, ANON, -1, 0);

	if (!EXPECT_TRUE(p != MAP_FAILED))
		return;
	EXPECT_EQ((uintptr_t)p % PAGE, 0);
	EXPECT_TRUE((uintptr_t)p < 0x800000000000UL);
	for (size_t i = 0; i < len; i += 512)
		if (p[i] != 0) {
			ktap_fail_at(__FILE__, __LINE__, "byte %zu not zero", i);
			break;
		}
	memset(p, 0xab, len);
	EXPECT_EQ((unsigned char)p[len - 1], 0xab);
	EXPECT_EQ(syscall(SYS_munmap, p, len), 0);
}

static void mmap_bad_arguments(void)
{
	EXPECT_ERRNO(sys_mmap(NULL, 0, PROT_READ, ANON, -1, 0), EINVAL);
	EXPECT_ERRNO(sys_mmap(NULL, PAGE, PROT_READ, MAP_ANONYMOUS, -1, 0), EINVAL);
	EXPECT_ERRNO(sys_mmap((void *)0x10001000UL + 1, PAGE, PROT_READ, ANON | MAP_FIXED, -1, 0),
		     EINVAL);
	EXPECT_ERRNO(sys_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, -1, 0), EBADF);
	EXPECT_ERRNO(sys_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, 4000, 0), EBADF);
	EXPECT_ERRNO(sys_mmap(NULL, (size_t)-1 & ~(PAGE - 1), PROT_READ, ANON, -1, 0), ENOMEM);
	EXPECT_ERRNO(sys_mmap(NULL, 1UL << 48, PROT_READ, ANON, -1, 0), ENOMEM);
	EXPECT_ERRNO(sys_mmap((void *)KADDR, PAGE, PROT_READ, ANON | MAP_FIXED, -1, 0), ENOMEM);
	EXPECT_ERRNO(sys_mmap((void *)0x7ffffffff000UL, 2 * PAGE, PROT_READ, ANON | MAP_FIXED, -1, 0),
		     ENOMEM);
	/* A kernel-half hint without MAP_FIXED is only a hint. */
	void *p = sys_mmap((void *)KADDR, PAGE, PROT_READ, ANON, -1, 0);
	if (EXPECT_TRUE(p != MAP_FAILED)) {
		EXPECT_TRUE((uintptr_t)p < 0x800000000000UL);
		munmap(p, PAGE);
	}
}

static void mmap_fixed_replaces_and_noreplace(void)
{
	char *p = sys_mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, ANON, -1, 0);

	if (!EXPECT_TRUE(p != MAP_FAILED))
		return;
	memset(p, 7, 3 * PAGE);
	char *q = sys_mmap(p + PAGE, PAGE, PROT_READ | PROT_WRITE, ANON | MAP_FIXED, -1, 0);
	EXPECT_EQ((uintptr_t)q, (uintptr_t)(p + PAGE));
	EXPECT_EQ(p[PAGE], 0);
	EXPECT_EQ(p[0], 7);
	EXPECT_EQ(p[2 * PAGE], 7);
	EXPECT_ERRNO(sys_mmap(p, PAGE, PROT_READ, ANON | MAP_FIXED_NOREPLACE, -1, 0), EEXIST);
	munmap(p, 3 * PAGE);
}

static void mmap_file_private_read(void)
{
	int fd = (int)syscall(SYS_open, ktap_path(FIXTURE_DIR "/data.txt"), O_RDONLY);
	if (!EXPECT_TRUE(fd >= 0))
		return;
	char *p = sys_mmap(NULL, 3 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
	if (EXPECT_TRUE(p != MAP_FAILED)) {
		int ok = 1;
		for (long i = 0; i < FIXTURE_DATA_SIZE; i++)
			ok &= p[i] == fixture_byte(i);
		EXPECT_TRUE(ok);
		/* The tail of the last page past the end of file reads as zero. */
		EXPECT_EQ(p[FIXTURE_DATA_SIZE], 0);
		EXPECT_EQ(p[3 * PAGE - 1], 0);
		munmap(p, 3 * PAGE);
	}
	p = sys_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, PAGE);
	if (EXPECT_TRUE(p != MAP_FAILED)) {
		EXPECT_EQ(p[0], fixture_byte(PAGE));
		munmap(p, PAGE);
	}
	/* A private writable mapping of a read-only file is a private copy. */
	p = sys_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (EXPECT_TRUE(p != MAP_FAILED)) {
		p[0] = 'Z';
		EXPECT_EQ(p[0], 'Z');
		munmap(p, PAGE);
	}
	EXPECT_ERRNO(sys_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 1), EINVAL);
	EXPECT_ERRNO(sys_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), EACCES);
	close(fd);
}

static void munmap_cases(void)
{
	char *p = sys_mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, ANON, -1, 0);

	if (!EXPECT_TRUE(p != MAP_FAILED))
		return;
	/* Unmap a hole in the middle: both sides stay. */
	EXPECT_EQ(syscall(SYS_munmap, p + PAGE, PAGE), 0);
	p[0] = 1;
	p[2 * PAGE] = 2;
	EXPECT_KILLED_BY(ktap_run_child((int (*)(void *))probe_write, p + PAGE), SIGSEGV);
	/* Unmapping what is already unmapped is fine. */
	EXPECT_EQ(syscall(SYS_munmap, p + PAGE, PAGE), 0);
	EXPECT_ERRNO(syscall(SYS_munmap, p + 1, PAGE), EINVAL);
	EXPECT_ERRNO(syscall(SYS_munmap, p, 0), EINVAL);
	EXPECT_ERRNO(syscall(SYS_munmap, (void *)KADDR, PAGE), EINVAL);
	EXPECT_ERRNO(syscall(SYS_munmap, p, (size_t)-1 & ~(PAGE - 1)), EINVAL);
	/* A length that is not a page multiple is rounded up. */
	EXPECT_EQ(syscall(SYS_munmap, p, 1), 0);
	EXPECT_KILLED_BY(ktap_run_child((int (*)(void *))probe_write, p), SIGSEGV);
	EXPECT_EQ(syscall(SYS_munmap, p, 4 * PAGE), 0);
}

static void mprotect_cases(void)
{
	char *p = sys_mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, ANON, -1, 0);

	if (!EXPECT_TRUE(p != MAP_FAILED))
		return;
	p[PAGE] = 0x5a;
	EXPECT_EQ(syscall(SYS_mprotect, p + PAGE, PAGE, PROT_READ), 0);
	EXPECT_KILLED_BY(ktap_run_child((int (*)(void *))probe_write, p + PAGE), SIGSEGV);
	EXPECT_EXITED(ktap_run_child((int (*)(void *))probe_read, p + PAGE), 3);
	EXPECT_EXITED(ktap_run_child((int (*)(void *))probe_write, p), 0);
	EXPECT_EXITED(ktap_run_child((int (*)(void *))probe_write, p + 2 * PAGE), 0);
	EXPECT_EQ(syscall(SYS_mprotect, p + PAGE, PAGE, PROT_NONE), 0);
	EXPECT_KILLED_BY(ktap_run_child((int (*)(void *))probe_read, p + PAGE), SIGSEGV);
	EXPECT_EQ(syscall(SYS_mprotect, p + PAGE, PAGE, PROT_READ | PROT_WRITE), 0);
	EXPECT_EQ(p[PAGE], 0x5a);
	EXPECT_EQ(syscall(SYS_mprotect, p, 0, PROT_READ), 0);
	EXPECT_ERRNO(syscall(SYS_mprotect, p + 1, PAGE, PROT_READ), EINVAL);
	EXPECT_ERRNO(syscall(SYS_mprotect, p, PAGE, 0x100), EINVAL);
	EXPECT_ERRNO(syscall(SYS_mprotect, ktap_unmapped_page(), PAGE, PROT_READ), ENOMEM);
	EXPECT_ERRNO(syscall(SYS_mprotect, (void *)KADDR, PAGE, PROT_READ), ENOMEM);
	/* A range running past the mapping into a hole fails. */
	munmap(p + 2 * PAGE, PAGE);
	EXPECT_ERRNO(syscall(SYS_mprotect, p, 3 * PAGE, PROT_READ), ENOMEM);
	munmap(p, 2 * PAGE);
}

static void brk_grows_and_shrinks(void)
{
	uintptr_t start = (uintptr_t)syscall(SYS_brk, 0);
	EXPECT_TRUE(start != 0);
	uintptr_t want = start + 5 * PAGE + 123;
	EXPECT_EQ((uintptr_t)syscall(SYS_brk, want), want);
	EXPECT_EQ((uintptr_t)syscall(SYS_brk, 0), want);
	char *p = (char *)start;
	for (uintptr_t a = start; a < want; a += 512)
		EXPECT_EQ(*(volatile char *)a, 0);
	memset(p, 0x33, want - start);
	/* A failed brk returns the current break, not an error. */
	EXPECT_EQ((uintptr_t)syscall(SYS_brk, KADDR), want);
	EXPECT_EQ((uintptr_t)syscall(SYS_brk, 1UL << 46), want);
	EXPECT_EQ((uintptr_t)syscall(SYS_brk, 1), want);
	EXPECT_EQ((uintptr_t)syscall(SYS_brk, start), start);
	/* Shrunk pages are gone; growing again gives zeroes. */
	uintptr_t page_after = (start + PAGE - 1) & ~(PAGE - 1);
	EXPECT_KILLED_BY(ktap_run_child((int (*)(void *))probe_write, (void *)(page_after + PAGE)),
			 SIGSEGV);
	EXPECT_EQ((uintptr_t)syscall(SYS_brk, start + 2 * PAGE), start + 2 * PAGE);
	EXPECT_EQ(*(volatile char *)(page_after + PAGE), 0);
	syscall(SYS_brk, start);
}

static void madvise_dontneed_zeroes_anonymous(void)
{
	char *p = sys_mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, ANON, -1, 0);

	if (!EXPECT_TRUE(p != MAP_FAILED))
		return;
	memset(p, 0x77, 4 * PAGE);
	EXPECT_EQ(syscall(SYS_madvise, p + PAGE, 2 * PAGE, MADV_DONTNEED), 0);
	EXPECT_EQ(p[0], 0x77);
	EXPECT_EQ(p[PAGE], 0);
	EXPECT_EQ(p[3 * PAGE - 1], 0);
	EXPECT_EQ(p[3 * PAGE], 0x77);
	p[PAGE] = 1;
	EXPECT_EQ(p[PAGE], 1);
	EXPECT_EQ(syscall(SYS_madvise, p, 0, MADV_DONTNEED), 0);
	EXPECT_ERRNO(syscall(SYS_madvise, p + 1, PAGE, MADV_DONTNEED), EINVAL);
	EXPECT_ERRNO(syscall(SYS_madvise, p, PAGE, 12345), EINVAL);
	EXPECT_ERRNO(syscall(SYS_madvise, ktap_unmapped_page(), PAGE, MADV_DONTNEED), ENOMEM);
	EXPECT_ERRNO(syscall(SYS_madvise, p, (size_t)-1 & ~(PAGE - 1), MADV_DONTNEED), EINVAL);
	munmap(p, 4 * PAGE);
}

static void write_exec_mmap_is_eacces(void)
{
	KTAP_SKIP_UNLESS_EXO("exo policy: Linux allows W+X");
	EXPECT_ERRNO(sys_mmap(NULL, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC, ANON, -1, 0), EACCES);
	EXPECT_ERRNO(sys_mmap(NULL, PAGE, PROT_WRITE | PROT_EXEC, ANON, -1, 0), EACCES);
}

static void write_exec_mprotect_is_eacces(void)
{
	KTAP_SKIP_UNLESS_EXO("exo policy: Linux allows W+X");
	char *p = sys_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, ANON, -1, 0);
	if (!EXPECT_TRUE(p != MAP_FAILED))
		return;
	EXPECT_ERRNO(syscall(SYS_mprotect, p, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC), EACCES);
	/* W then X separately is allowed. */
	EXPECT_EQ(syscall(SYS_mprotect, p, PAGE, PROT_READ | PROT_EXEC), 0);
	EXPECT_ERRNO(syscall(SYS_mprotect, p, PAGE, PROT_WRITE | PROT_EXEC), EACCES);
	munmap(p, PAGE);
}

/* Write code, flip it to R+X, run it: the JIT pattern that W^X still allows. */
static void write_then_exec_runs(void)
{
	static const unsigned char ret42[] = { 0xb8, 42, 0, 0, 0, 0xc3 }; /* mov $42,%eax; ret */
	char *p = sys_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, ANON, -1, 0);

	if (!EXPECT_TRUE(p != MAP_FAILED))
		return;
	memcpy(p, ret42, sizeof(ret42));
	EXPECT_EQ(syscall(SYS_mprotect, p, PAGE, PROT_READ | PROT_EXEC), 0);
	int (*fn)(void) = (int (*)(void))(void *)p;
	EXPECT_EQ(fn(), 42);
	munmap(p, PAGE);
}

static void fork_copy_on_write_isolates(void)
{
	char *p = sys_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, ANON, -1, 0);
	static volatile int global = 5;
	int pfd[2];

	if (!EXPECT_TRUE(p != MAP_FAILED) || EXPECT_OK(pipe2(pfd, 0)) != 0)
		return;
	p[0] = 'A';
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		int ok = p[0] == 'A' && global == 5;
		p[0] = 'C';
		global = 6;
		/* Wait for the parent's writes; they must not show here. */
		if (read(pfd[0], &c, 1) != 1)
			_exit(9);
		_exit(ok && p[0] == 'C' && global == 6 ? 0 : 1);
	}
	p[0] = 'P';
	global = 7;
	EXPECT_EQ(write(pfd[1], "x", 1), 1);
	int status = 0;
	waitpid(pid, &status, 0);
	EXPECT_EXITED(status, 0);
	EXPECT_EQ(p[0], 'P');
	EXPECT_EQ(global, 7);
	global = 5;
	close(pfd[0]);
	close(pfd[1]);
	munmap(p, PAGE);
}

static void many_mappings_random(void)
{
	enum { N = 64 };
	char *maps[N] = { 0 };
	size_t lens[N] = { 0 };

	for (int round = 0; round < 2000; round++) {
		int i = (int)ktap_rand_below(N);
		if (maps[i]) {
			if (maps[i][0] != (char)i || maps[i][lens[i] - 1] != (char)i) {
				ktap_fail_at(__FILE__, __LINE__, "mapping %d lost its data", i);
				break;
			}
			EXPECT_EQ(syscall(SYS_munmap, maps[i], lens[i]), 0);
			maps[i] = NULL;
		} else {
			lens[i] = (1 + ktap_rand_below(8)) * PAGE;
			maps[i] = sys_mmap(NULL, lens[i], PROT_READ | PROT_WRITE, ANON, -1, 0);
			if (!EXPECT_TRUE(maps[i] != MAP_FAILED)) {
				maps[i] = NULL;
				break;
			}
			maps[i][0] = (char)i;
			maps[i][lens[i] - 1] = (char)i;
		}
	}
	for (int i = 0; i < N; i++)
		if (maps[i])
			munmap(maps[i], lens[i]);
}

static const struct ktap_case cases[] = {
	KTAP_CASE(mmap_anonymous_is_zeroed_and_writable),
	KTAP_CASE(mmap_bad_arguments),
	KTAP_CASE(mmap_fixed_replaces_and_noreplace),
	KTAP_CASE(mmap_file_private_read),
	KTAP_CASE(munmap_cases),
	KTAP_CASE(mprotect_cases),
	KTAP_CASE(brk_grows_and_shrinks),
	KTAP_CASE(madvise_dontneed_zeroes_anonymous),
	KTAP_CASE(write_exec_mmap_is_eacces),
	KTAP_CASE(write_exec_mprotect_is_eacces),
	KTAP_CASE(write_then_exec_runs),
	KTAP_CASE(fork_copy_on_write_isolates),
	KTAP_CASE(many_mappings_random),
};

int main(int argc, char **argv)
{
	return ktap_main(argc, argv, cases, KTAP_NCASES(cases));
}
