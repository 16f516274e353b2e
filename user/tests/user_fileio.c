/*
 * user_fileio: the read-only file tree through the Linux file calls: open,
 * openat, read, pread64, readv, lseek, fstat, stat, lstat, newfstatat,
 * getdents64, readlink, access, getcwd, chdir, and EROFS for every write or
 * change. Paths come from ktap_path() (EXO_ROOT prefix), files from fixture.h.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fixture.h"
#include "ktap.h"

#define KPTR KTAP_KERNEL_PTR

static const char *fx(const char *name)
{
	char rel[256];
	strcpy(rel, FIXTURE_DIR "/");
	strcat(rel, name);
	return ktap_path(rel);
}

static int open_ro(const char *path)
{
	return (int)syscall(SYS_open, path, O_RDONLY | O_CLOEXEC);
}

static int check_data(const char *buf, long off, long len)
{
	for (long i = 0; i < len; i++)
		if (buf[i] != fixture_byte(off + i))
			return 0;
	return 1;
}

static void open_read_hostname(void)
{
	char buf[64];
	int fd = EXPECT_OK(open_ro(ktap_path("/etc/hostname")));
	if (fd < 0)
		return;
	EXPECT_EQ(syscall(SYS_read, fd, buf, sizeof(buf)), 4);
	EXPECT_TRUE(memcmp(buf, "exo\n", 4) == 0);
	EXPECT_EQ(syscall(SYS_read, fd, buf, sizeof(buf)), 0);
	EXPECT_OK(syscall(SYS_close, fd));
}

static void open_returns_lowest_free_fd(void)
{
	int a = EXPECT_OK(open_ro(fx("data.txt")));
	int b = EXPECT_OK(open_ro(fx("data.txt")));
	EXPECT_EQ(b, a + 1);
	close(a);
	int c = EXPECT_OK(open_ro(fx("empty")));
	EXPECT_EQ(c, a);
	close(b);
	close(c);
}

static void open_bad_paths(void)
{
	char *end = ktap_mapping_end();
	char longname[300];
	char *longpath = malloc(PATH_MAX + 16);

	EXPECT_ERRNO(syscall(SYS_open, NULL, O_RDONLY), EFAULT);
	EXPECT_ERRNO(syscall(SYS_open, KPTR, O_RDONLY), EFAULT);
	EXPECT_ERRNO(syscall(SYS_open, ktap_unmapped_page(), O_RDONLY), EFAULT);
	EXPECT_ERRNO(syscall(SYS_open, "", O_RDONLY), ENOENT);
	EXPECT_ERRNO(open_ro(fx("no-such-file")), ENOENT);
	EXPECT_ERRNO(open_ro(ktap_path("/no-such-dir/file")), ENOENT);
	EXPECT_ERRNO(open_ro(fx("data.txt/x")), ENOTDIR);
	EXPECT_ERRNO(open_ro(fx("data.txt/")), ENOTDIR);
	EXPECT_ERRNO(syscall(SYS_open, fx("data.txt"), O_RDONLY | O_DIRECTORY), ENOTDIR);
	EXPECT_ERRNO(syscall(SYS_open, fx("link"), O_RDONLY | O_NOFOLLOW), ELOOP);
	EXPECT_ERRNO(open_ro(fx("dangling")), ENOENT);

	memset(longname, 'x', 256);
	longname[256] = 0;
	EXPECT_ERRNO(open_ro(fx(longname)), ENAMETOOLONG);
	memset(longpath, 'a', PATH_MAX + 8);
	longpath[0] = '/';
	longpath[PATH_MAX + 8] = 0;
	EXPECT_ERRNO(syscall(SYS_open, longpath, O_RDONLY), ENAMETOOLONG);
	free(longpath);

	/* A path whose bytes run into an unmapped page without a NUL. */
	memset(end - 8, 'a', 8);
	EXPECT_ERRNO(syscall(SYS_open, end - 8, O_RDONLY), EFAULT);
	/* A path whose NUL is the last mapped byte is fine. */
	const char *ok = ktap_path("/etc/hostname");
	size_t n = strlen(ok) + 1;
	memcpy(end - n, ok, n);
	int fd = EXPECT_OK(syscall(SYS_open, end - n, O_RDONLY));
	if (fd >= 0)
		close(fd);
}

static void open_directory(void)
{
	int fd = EXPECT_OK(syscall(SYS_open, ktap_path(FIXTURE_DIR), O_RDONLY | O_DIRECTORY));
	char buf[8];
	if (fd < 0)
		return;
	EXPECT_ERRNO(syscall(SYS_read, fd, buf, sizeof(buf)), EISDIR);
	close(fd);
	fd = EXPECT_OK(syscall(SYS_open, fx("subdir"), O_RDONLY | O_DIRECTORY));
	if (fd >= 0)
		close(fd);
}

static void openat_dirfd(void)
{
	char buf[4];
	int dir = EXPECT_OK(syscall(SYS_open, ktap_path(FIXTURE_DIR), O_RDONLY | O_DIRECTORY));
	int file = EXPECT_OK(open_ro(fx("data.txt")));

	int fd = EXPECT_OK(syscall(SYS_openat, dir, "data.txt", O_RDONLY));
	if (fd >= 0) {
		EXPECT_EQ(syscall(SYS_read, fd, buf, 4), 4);
		EXPECT_TRUE(check_data(buf, 0, 4));
		close(fd);
	}
	fd = EXPECT_OK(syscall(SYS_openat, dir, "sub/one.txt", O_RDONLY));
	if (fd >= 0)
		close(fd);
	fd = EXPECT_OK(syscall(SYS_openat, dir, "subdir/../data.txt", O_RDONLY));
	if (fd >= 0)
		close(fd);
	/* An absolute path ignores the dirfd, even a bad one. */
	fd = EXPECT_OK(syscall(SYS_openat, -1, ktap_path("/etc/hostname"), O_RDONLY));
	if (fd >= 0)
		close(fd);
	EXPECT_ERRNO(syscall(SYS_openat, -1, "data.txt", O_RDONLY), EBADF);
	EXPECT_ERRNO(syscall(SYS_openat, 4000, "data.txt", O_RDONLY), EBADF);
	EXPECT_ERRNO(syscall(SYS_openat, file, "x", O_RDONLY), ENOTDIR);
	EXPECT_ERRNO(syscall(SYS_openat, dir, NULL, O_RDONLY), EFAULT);
	EXPECT_ERRNO(syscall(SYS_openat, dir, KPTR, O_RDONLY), EFAULT);
	close(dir);
	close(file);
}

static void read_bad_arguments(void)
{
	char buf[16];
	int p[2];
	int fd = EXPECT_OK(open_ro(fx("data.txt")));
	char *end = ktap_mapping_end();

	EXPECT_ERRNO(syscall(SYS_read, -1, buf, 1), EBADF);
	EXPECT_ERRNO(syscall(SYS_read, 4000, buf, 1), EBADF);
	EXPECT_ERRNO(syscall(SYS_read, INT_MAX, buf, 1), EBADF);
	EXPECT_ERRNO(syscall(SYS_read, fd, NULL, 1), EFAULT);
	EXPECT_ERRNO(syscall(SYS_read, fd, KPTR, 1), EFAULT);
	EXPECT_ERRNO(syscall(SYS_read, fd, KTAP_NONCANONICAL_PTR, 1), EFAULT);
	EXPECT_ERRNO(syscall(SYS_read, fd, ktap_unmapped_page(), 1), EFAULT);
	EXPECT_ERRNO(syscall(SYS_read, fd, ktap_readonly_page(), 16), EFAULT);
	EXPECT_ERRNO(syscall(SYS_read, fd, end, 16), EFAULT);
	EXPECT_ERRNO(syscall(SYS_read, fd, buf, (size_t)-1), EFAULT);
	EXPECT_ERRNO(syscall(SYS_read, fd, end - 4096, 0x800000000000UL), EFAULT);
	/* None of the failures moved the offset. */
	EXPECT_EQ(syscall(SYS_lseek, fd, 0, SEEK_CUR), 0);
	EXPECT_EQ(syscall(SYS_read, fd, buf, 0), 0);
	EXPECT_EQ(syscall(SYS_read, fd, NULL, 0), 0);
	if (EXPECT_OK(pipe2(p, O_CLOEXEC)) == 0) {
		EXPECT_ERRNO(syscall(SYS_read, p[1], buf, 1), EBADF);
		close(p[0]);
		close(p[1]);
	}
	close(fd);
}

/*
 * A destination that runs into an unmapped page: Linux copies up to the hole
 * and returns that short count; the offset advances by the same amount.
 */
static void read_straddling_end_of_mapping_is_short(void)
{
	char *end = ktap_mapping_end();
	int fd = EXPECT_OK(open_ro(fx("data.txt")));

	EXPECT_EQ(syscall(SYS_read, fd, end - 100, 300), 100);
	EXPECT_TRUE(check_data(end - 100, 0, 100));
	EXPECT_EQ(syscall(SYS_lseek, fd, 0, SEEK_CUR), 100);
	close(fd);
}

/* The count only bounds the copy: a small file fits a small buffer. */
static void read_huge_count_small_file(void)
{
	char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd = EXPECT_OK(open_ro(ktap_path("/etc/hostname")));

	EXPECT_EQ(syscall(SYS_read, fd, page, 1UL << 30), 4);
	EXPECT_TRUE(memcmp(page, "exo\n", 4) == 0);
	close(fd);
	munmap(page, 4096);
}

static void read_random_chunks_match_file(void)
{
	char buf[5000];
	long off = 0;
	int fd = EXPECT_OK(open_ro(fx("data.txt")));

	while (off < FIXTURE_DATA_SIZE) {
		long want = 1 + (long)ktap_rand_below(sizeof(buf));
		long got = syscall(SYS_read, fd, buf, want);
		long left = FIXTURE_DATA_SIZE - off;
		if (!EXPECT_EQ(got, want < left ? want : left))
			break;
		if (!EXPECT_TRUE(check_data(buf, off, got))) {
			ktap_diag("read at offset %ld, %ld bytes: wrong data", off, got);
			break;
		}
		off += got;
	}
	EXPECT_EQ(syscall(SYS_read, fd, buf, sizeof(buf)), 0);
	close(fd);
}

static void pread64_offsets(void)
{
	char buf[64];
	int p[2];
	int fd = EXPECT_OK(open_ro(fx("data.txt")));

	for (int i = 0; i < 20; i++) {
		long off = (long)ktap_rand_below(FIXTURE_DATA_SIZE);
		long left = FIXTURE_DATA_SIZE - off;
		long got = syscall(SYS_pread64, fd, buf, sizeof(buf), off);
		EXPECT_EQ(got, left < 64 ? left : 64);
		if (got > 0 && !check_data(buf, off, got))
			ktap_fail_at(__FILE__, __LINE__, "pread64 at %ld: wrong data", off);
	}
	EXPECT_EQ(syscall(SYS_lseek, fd, 0, SEEK_CUR), 0);
	EXPECT_EQ(syscall(SYS_pread64, fd, buf, sizeof(buf), FIXTURE_DATA_SIZE), 0);
	EXPECT_EQ(syscall(SYS_pread64, fd, buf, sizeof(buf), 1L << 40), 0);
	EXPECT_ERRNO(syscall(SYS_pread64, fd, buf, sizeof(buf), -1L), EINVAL);
	EXPECT_ERRNO(syscall(SYS_pread64, -1, buf, sizeof(buf), 0), EBADF);
	EXPECT_ERRNO(syscall(SYS_pread64, fd, NULL, sizeof(buf), 0), EFAULT);
	EXPECT_ERRNO(syscall(SYS_pread64, fd, KPTR, sizeof(buf), 0), EFAULT);
	if (pipe2(p, 0) == 0) {
		EXPECT_ERRNO(syscall(SYS_pread64, p[0], buf, 1, 0), ESPIPE);
		close(p[0]);
		close(p[1]);
	}
	close(fd);
}

static void readv_vectors(void)
{
	char a[10], b[1], c[100];
	struct iovec iov[3] = { { a, sizeof(a) }, { b, 0 }, { c, sizeof(c) } };
	int fd = EXPECT_OK(open_ro(fx("data.txt")));

	EXPECT_EQ(syscall(SYS_readv, fd, iov, 3), 110);
	EXPECT_TRUE(check_data(a, 0, 10));
	EXPECT_TRUE(check_data(c, 10, 100));
	EXPECT_EQ(syscall(SYS_readv, fd, iov, 0), 0);
	EXPECT_ERRNO(syscall(SYS_readv, fd, iov, -1), EINVAL);
	EXPECT_ERRNO(syscall(SYS_readv, fd, iov, 1025), EINVAL);
	EXPECT_ERRNO(syscall(SYS_readv, fd, NULL, 1), EFAULT);
	EXPECT_ERRNO(syscall(SYS_readv, fd, KPTR, 1), EFAULT);
	EXPECT_ERRNO(syscall(SYS_readv, -1, iov, 1), EBADF);
	/* A negative (as ssize_t) length is EINVAL; a huge one that leaves the
	 * user half is EFAULT (Linux clamps the total, then checks the range). */
	struct iovec neg[1] = { { a, (size_t)-1 } };
	EXPECT_ERRNO(syscall(SYS_readv, fd, neg, 1), EINVAL);
	struct iovec huge[2] = { { a, SSIZE_MAX }, { c, SSIZE_MAX } };
	EXPECT_ERRNO(syscall(SYS_readv, fd, huge, 2), EFAULT);
	struct iovec knl[1] = { { KPTR, 10 } };
	EXPECT_ERRNO(syscall(SYS_readv, fd, knl, 1), EFAULT);
	/* A bad second vector after a good first one: a short count. */
	EXPECT_OK(syscall(SYS_lseek, fd, 0, SEEK_SET));
	struct iovec half[2] = { { a, sizeof(a) }, { NULL, 10 } };
	EXPECT_EQ(syscall(SYS_readv, fd, half, 2), 10);
	EXPECT_EQ(syscall(SYS_lseek, fd, 0, SEEK_CUR), 10);
	close(fd);
}

static void lseek_whence(void)
{
	char buf[4];
	int p[2];
	int fd = EXPECT_OK(open_ro(fx("data.txt")));

	EXPECT_EQ(syscall(SYS_lseek, fd, 100, SEEK_SET), 100);
	EXPECT_EQ(syscall(SYS_lseek, fd, 10, SEEK_CUR), 110);
	EXPECT_EQ(syscall(SYS_lseek, fd, -10L, SEEK_CUR), 100);
	EXPECT_EQ(syscall(SYS_lseek, fd, 0, SEEK_END), FIXTURE_DATA_SIZE);
	EXPECT_EQ(syscall(SYS_lseek, fd, -2L, SEEK_END), FIXTURE_DATA_SIZE - 2);
	EXPECT_EQ(syscall(SYS_read, fd, buf, 4), 2);
	EXPECT_TRUE(check_data(buf, FIXTURE_DATA_SIZE - 2, 2));
	EXPECT_EQ(syscall(SYS_lseek, fd, 100000, SEEK_SET), 100000);
	EXPECT_EQ(syscall(SYS_read, fd, buf, 4), 0);
	EXPECT_ERRNO(syscall(SYS_lseek, fd, -1L, SEEK_SET), EINVAL);
	EXPECT_ERRNO(syscall(SYS_lseek, fd, -200000L, SEEK_CUR), EINVAL);
	EXPECT_ERRNO(syscall(SYS_lseek, fd, -FIXTURE_DATA_SIZE - 1L, SEEK_END), EINVAL);
	EXPECT_ERRNO(syscall(SYS_lseek, fd, 0, 5), EINVAL);
	EXPECT_ERRNO(syscall(SYS_lseek, fd, 0L, -1), EINVAL);
	/* The failures left the offset alone. */
	EXPECT_EQ(syscall(SYS_lseek, fd, 0, SEEK_CUR), 100000);
	EXPECT_ERRNO(syscall(SYS_lseek, -1, 0, SEEK_SET), EBADF);
	if (pipe2(p, 0) == 0) {
		EXPECT_ERRNO(syscall(SYS_lseek, p[0], 0, SEEK_CUR), ESPIPE);
		close(p[0]);
		close(p[1]);
	}
	close(fd);
}

static void fstat_kinds_and_bad_buffers(void)
{
	struct stat st;
	int p[2];
	int fd = EXPECT_OK(open_ro(fx("data.txt")));
	int dir = EXPECT_OK(open_ro(ktap_path(FIXTURE_DIR)));
	char *end = ktap_mapping_end();

	EXPECT_OK(syscall(SYS_fstat, fd, &st));
	EXPECT_TRUE(S_ISREG(st.st_mode));
	EXPECT_EQ(st.st_size, FIXTURE_DATA_SIZE);
	EXPECT_EQ(st.st_nlink >= 1, 1);
	EXPECT_OK(syscall(SYS_fstat, dir, &st));
	EXPECT_TRUE(S_ISDIR(st.st_mode));
	if (pipe2(p, 0) == 0) {
		EXPECT_OK(syscall(SYS_fstat, p[0], &st));
		EXPECT_TRUE(S_ISFIFO(st.st_mode));
		close(p[0]);
		close(p[1]);
	}
	EXPECT_ERRNO(syscall(SYS_fstat, -1, &st), EBADF);
	EXPECT_ERRNO(syscall(SYS_fstat, 4000, &st), EBADF);
	EXPECT_ERRNO(syscall(SYS_fstat, fd, NULL), EFAULT);
	EXPECT_ERRNO(syscall(SYS_fstat, fd, KPTR), EFAULT);
	EXPECT_ERRNO(syscall(SYS_fstat, fd, ktap_unmapped_page()), EFAULT);
	EXPECT_ERRNO(syscall(SYS_fstat, fd, ktap_readonly_page()), EFAULT);
	EXPECT_ERRNO(syscall(SYS_fstat, fd, end - 16), EFAULT);
	close(fd);
	close(dir);
}

static void stat_and_lstat_symlinks(void)
{
	struct stat st;

	EXPECT_OK(syscall(SYS_stat, fx("link"), &st));
	EXPECT_TRUE(S_ISREG(st.st_mode));
	EXPECT_EQ(st.st_size, FIXTURE_DATA_SIZE);
	EXPECT_OK(syscall(SYS_lstat, fx("link"), &st));
	EXPECT_TRUE(S_ISLNK(st.st_mode));
	EXPECT_EQ(st.st_size, 8);
	EXPECT_OK(syscall(SYS_stat, fx("subdir"), &st));
	EXPECT_TRUE(S_ISDIR(st.st_mode));
	EXPECT_OK(syscall(SYS_stat, fx("notelf"), &st));
	EXPECT_EQ(st.st_mode & 0777, 0755);
	EXPECT_OK(syscall(SYS_stat, fx("empty"), &st));
	EXPECT_EQ(st.st_size, 0);
	EXPECT_ERRNO(syscall(SYS_stat, fx("dangling"), &st), ENOENT);
	EXPECT_OK(syscall(SYS_lstat, fx("dangling"), &st));
	EXPECT_TRUE(S_ISLNK(st.st_mode));
	EXPECT_ERRNO(syscall(SYS_stat, fx("nope"), &st), ENOENT);
	EXPECT_ERRNO(syscall(SYS_stat, fx("data.txt/x"), &st), ENOTDIR);
	EXPECT_ERRNO(syscall(SYS_stat, NULL, &st), EFAULT);
	EXPECT_ERRNO(syscall(SYS_lstat, KPTR, &st), EFAULT);
	EXPECT_ERRNO(syscall(SYS_stat, fx("data.txt"), NULL), EFAULT);
	EXPECT_ERRNO(syscall(SYS_lstat, fx("data.txt"), ktap_readonly_page()), EFAULT);
}

static void newfstatat_flags(void)
{
	struct stat st;
	int dir = EXPECT_OK(open_ro(ktap_path(FIXTURE_DIR)));
	int fd = EXPECT_OK(open_ro(fx("data.txt")));

	EXPECT_OK(syscall(SYS_newfstatat, dir, "link", &st, 0));
	EXPECT_TRUE(S_ISREG(st.st_mode));
	EXPECT_OK(syscall(SYS_newfstatat, dir, "link", &st, AT_SYMLINK_NOFOLLOW));
	EXPECT_TRUE(S_ISLNK(st.st_mode));
	EXPECT_OK(syscall(SYS_newfstatat, AT_FDCWD, fx("data.txt"), &st, 0));
	EXPECT_EQ(st.st_size, FIXTURE_DATA_SIZE);
	EXPECT_OK(syscall(SYS_newfstatat, fd, "", &st, AT_EMPTY_PATH));
	EXPECT_EQ(st.st_size, FIXTURE_DATA_SIZE);
	EXPECT_ERRNO(syscall(SYS_newfstatat, fd, "", &st, 0), ENOENT);
	EXPECT_ERRNO(syscall(SYS_newfstatat, dir, "link", &st, 0x1), EINVAL);
	EXPECT_ERRNO(syscall(SYS_newfstatat, dir, "link", &st, 0x80000000), EINVAL);
	EXPECT_ERRNO(syscall(SYS_newfstatat, -1, "link", &st, 0), EBADF);
	EXPECT_ERRNO(syscall(SYS_newfstatat, fd, "link", &st, 0), ENOTDIR);
	EXPECT_ERRNO(syscall(SYS_newfstatat, dir, NULL, &st, 0), EFAULT);
	EXPECT_ERRNO(syscall(SYS_newfstatat, dir, "link", KPTR, 0), EFAULT);
	close(dir);
	close(fd);
}

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static const struct {
	const char *name;
	unsigned char type;
} fixture_entries[] = {
	{ ".", DT_DIR },	{ "..", DT_DIR },	 { "data.txt", DT_REG },
	{ "link", DT_LNK },	{ "dangling", DT_LNK }, { "sub", DT_DIR },
	{ "subdir", DT_LNK }, { "notelf", DT_REG },	 { "empty", DT_REG },
};
#define NENTRIES (sizeof(fixture_entries) / sizeof(fixture_entries[0]))

/* Lists the fixture directory with a buffer of bufsize; returns the count seen. */
static int list_fixture(int dir, size_t bufsize, int *seen)
{
	char *buf = malloc(bufsize);
	int total = 0;

	for (;;) {
		long n = syscall(SYS_getdents64, dir, buf, bufsize);
		if (n <= 0) {
			EXPECT_EQ(n, 0);
			break;
		}
		for (long pos = 0; pos < n;) {
			struct linux_dirent64 *d = (void *)(buf + pos);
			EXPECT_EQ(d->d_reclen % 8, 0);
			EXPECT_TRUE(d->d_reclen >= 19 + strlen(d->d_name) + 1);
			size_t i;
			for (i = 0; i < NENTRIES; i++)
				if (strcmp(d->d_name, fixture_entries[i].name) == 0)
					break;
			if (i == NENTRIES) {
				ktap_fail_at(__FILE__, __LINE__, "getdents64: unexpected entry '%s'",
					     d->d_name);
			} else {
				seen[i]++;
				if (d->d_type != fixture_entries[i].type)
					ktap_fail_at(__FILE__, __LINE__,
						     "getdents64: '%s' d_type %d, expected %d",
						     d->d_name, d->d_type, fixture_entries[i].type);
			}
			if (d->d_reclen == 0)
				break;
			pos += d->d_reclen;
			total++;
		}
	}
	free(buf);
	return total;
}

static void getdents64_lists_fixture(void)
{
	int seen[NENTRIES];
	int dir = EXPECT_OK(syscall(SYS_open, ktap_path(FIXTURE_DIR), O_RDONLY | O_DIRECTORY));

	for (int pass = 0; pass < 2; pass++) {
		memset(seen, 0, sizeof(seen));
		/* A big buffer, then one that fits a single entry at a time. */
		EXPECT_EQ(list_fixture(dir, pass ? 40 : 4096, seen), (long)NENTRIES);
		for (size_t i = 0; i < NENTRIES; i++)
			if (seen[i] != 1)
				ktap_fail_at(__FILE__, __LINE__, "getdents64: '%s' seen %d times",
					     fixture_entries[i].name, seen[i]);
		EXPECT_EQ(syscall(SYS_lseek, dir, 0, SEEK_SET), 0);
	}
	close(dir);
}

static void getdents64_bad_arguments(void)
{
	char buf[512];
	int dir = EXPECT_OK(syscall(SYS_open, ktap_path(FIXTURE_DIR), O_RDONLY | O_DIRECTORY));
	int fd = EXPECT_OK(open_ro(fx("data.txt")));

	EXPECT_ERRNO(syscall(SYS_getdents64, -1, buf, sizeof(buf)), EBADF);
	EXPECT_ERRNO(syscall(SYS_getdents64, fd, buf, sizeof(buf)), ENOTDIR);
	EXPECT_ERRNO(syscall(SYS_getdents64, dir, buf, 1), EINVAL);
	EXPECT_ERRNO(syscall(SYS_getdents64, dir, buf, 0), EINVAL);
	EXPECT_ERRNO(syscall(SYS_getdents64, dir, NULL, sizeof(buf)), EFAULT);
	EXPECT_ERRNO(syscall(SYS_getdents64, dir, KPTR, sizeof(buf)), EFAULT);
	EXPECT_ERRNO(syscall(SYS_getdents64, dir, ktap_readonly_page(), 4096), EFAULT);
	/* Nothing was consumed by the failures. */
	EXPECT_TRUE(syscall(SYS_getdents64, dir, buf, sizeof(buf)) > 0);
	close(dir);
	close(fd);
}

static void readlink_cases(void)
{
	char buf[64];

	memset(buf, '#', sizeof(buf));
	EXPECT_EQ(syscall(SYS_readlink, fx("link"), buf, sizeof(buf)), 8);
	EXPECT_TRUE(memcmp(buf, "data.txt#", 9) == 0);
	EXPECT_EQ(syscall(SYS_readlink, fx("dangling"), buf, sizeof(buf)), 14);
	EXPECT_TRUE(memcmp(buf, "does-not-exist", 14) == 0);
	memset(buf, '#', sizeof(buf));
	EXPECT_EQ(syscall(SYS_readlink, fx("link"), buf, 3), 3);
	EXPECT_TRUE(memcmp(buf, "dat#", 4) == 0);
	EXPECT_ERRNO(syscall(SYS_readlink, fx("data.txt"), buf, sizeof(buf)), EINVAL);
	EXPECT_ERRNO(syscall(SYS_readlink, ktap_path(FIXTURE_DIR), buf, sizeof(buf)), EINVAL);
	EXPECT_ERRNO(syscall(SYS_readlink, fx("nope"), buf, sizeof(buf)), ENOENT);
	EXPECT_ERRNO(syscall(SYS_readlink, fx("link"), buf, 0), EINVAL);
	EXPECT_ERRNO(syscall(SYS_readlink, fx("link"), buf, -1), EINVAL);
	EXPECT_ERRNO(syscall(SYS_readlink, fx("link"), NULL, sizeof(buf)), EFAULT);
	EXPECT_ERRNO(syscall(SYS_readlink, fx("link"), KPTR, sizeof(buf)), EFAULT);
	EXPECT_ERRNO(syscall(SYS_readlink, fx("link"), ktap_readonly_page(), 64), EFAULT);
	EXPECT_ERRNO(syscall(SYS_readlink, NULL, buf, sizeof(buf)), EFAULT);
}

static void access_modes(void)
{
	EXPECT_EQ(syscall(SYS_access, fx("data.txt"), F_OK), 0);
	EXPECT_EQ(syscall(SYS_access, fx("data.txt"), R_OK), 0);
	EXPECT_EQ(syscall(SYS_access, fx("notelf"), X_OK), 0);
	EXPECT_EQ(syscall(SYS_access, ktap_path("/bin/busybox"), R_OK | X_OK), 0);
	EXPECT_EQ(syscall(SYS_access, ktap_path(FIXTURE_DIR), X_OK), 0);
	EXPECT_ERRNO(syscall(SYS_access, fx("data.txt"), X_OK), EACCES);
	EXPECT_ERRNO(syscall(SYS_access, fx("nope"), F_OK), ENOENT);
	EXPECT_ERRNO(syscall(SYS_access, fx("dangling"), F_OK), ENOENT);
	EXPECT_ERRNO(syscall(SYS_access, fx("data.txt/x"), F_OK), ENOTDIR);
	EXPECT_ERRNO(syscall(SYS_access, fx("data.txt"), 8), EINVAL);
	EXPECT_ERRNO(syscall(SYS_access, fx("data.txt"), -1), EINVAL);
	EXPECT_ERRNO(syscall(SYS_access, NULL, F_OK), EFAULT);
	EXPECT_ERRNO(syscall(SYS_access, KPTR, F_OK), EFAULT);
}

static void getcwd_and_chdir(void)
{
	char buf[4096];
	const char *dir = ktap_path(FIXTURE_DIR);
	size_t len = strlen(dir);

	if (EXPECT_OK(syscall(SYS_chdir, dir)) != 0)
		return;
	/* The raw call returns the length including the NUL. */
	EXPECT_EQ(syscall(SYS_getcwd, buf, sizeof(buf)), (long)len + 1);
	EXPECT_TRUE(strcmp(buf, dir) == 0);
	int fd = EXPECT_OK(open_ro("data.txt"));
	if (fd >= 0)
		close(fd);
	EXPECT_OK(syscall(SYS_chdir, "subdir"));
	EXPECT_EQ(syscall(SYS_getcwd, buf, sizeof(buf)), (long)len + 5);
	EXPECT_TRUE(strcmp(buf + len, "/sub") == 0);
	fd = EXPECT_OK(open_ro("one.txt"));
	if (fd >= 0)
		close(fd);
	EXPECT_OK(syscall(SYS_chdir, ".."));
	EXPECT_EQ(syscall(SYS_getcwd, buf, len + 1), (long)len + 1);
	EXPECT_ERRNO(syscall(SYS_getcwd, buf, len), ERANGE);
	EXPECT_ERRNO(syscall(SYS_getcwd, buf, 0), ERANGE);
	EXPECT_ERRNO(syscall(SYS_getcwd, NULL, sizeof(buf)), EFAULT);
	EXPECT_ERRNO(syscall(SYS_getcwd, KPTR, sizeof(buf)), EFAULT);
	EXPECT_ERRNO(syscall(SYS_getcwd, ktap_readonly_page(), 4096), EFAULT);
	EXPECT_ERRNO(syscall(SYS_chdir, "data.txt"), ENOTDIR);
	EXPECT_ERRNO(syscall(SYS_chdir, "nope"), ENOENT);
	EXPECT_ERRNO(syscall(SYS_chdir, "dangling"), ENOENT);
	EXPECT_ERRNO(syscall(SYS_chdir, ""), ENOENT);
	EXPECT_ERRNO(syscall(SYS_chdir, NULL), EFAULT);
	EXPECT_ERRNO(syscall(SYS_chdir, KPTR), EFAULT);
	/* Failures left the directory alone. */
	EXPECT_EQ(syscall(SYS_getcwd, buf, sizeof(buf)), (long)len + 1);
	EXPECT_OK(syscall(SYS_chdir, "/"));
	EXPECT_EQ(syscall(SYS_getcwd, buf, sizeof(buf)), 2);
	EXPECT_TRUE(strcmp(buf, "/") == 0);
}

static void write_to_read_only_fd_is_ebadf(void)
{
	char buf[4] = "abc";
	struct iovec iov = { buf, 3 };
	int fd = EXPECT_OK(open_ro(fx("data.txt")));

	EXPECT_ERRNO(syscall(SYS_write, fd, buf, 3), EBADF);
	EXPECT_ERRNO(syscall(SYS_writev, fd, &iov, 1), EBADF);
	EXPECT_ERRNO(syscall(SYS_pwrite64, fd, buf, 3, 0), EBADF);
	EXPECT_ERRNO(syscall(SYS_write, -1, buf, 3), EBADF);
	EXPECT_ERRNO(syscall(SYS_ftruncate, fd, 0), EINVAL);
	close(fd);
}

static void write_and_writev_to_stdout(void)
{
	const char *a = "# write: ", *b = "writev", *c = " ok\n";
	struct iovec iov[3] = { { (void *)a, strlen(a) }, { (void *)b, strlen(b) },
				{ (void *)c, strlen(c) } };

	EXPECT_EQ(syscall(SYS_write, 1, "", 0), 0);
	EXPECT_EQ(syscall(SYS_writev, 1, iov, 3), (long)(strlen(a) + strlen(b) + strlen(c)));
	EXPECT_ERRNO(syscall(SYS_write, 1, NULL, 5), EFAULT);
	EXPECT_ERRNO(syscall(SYS_write, 1, KPTR, 5), EFAULT);
	EXPECT_ERRNO(syscall(SYS_writev, 1, NULL, 1), EFAULT);
	EXPECT_ERRNO(syscall(SYS_writev, 1, iov, -1), EINVAL);
}

static int root_is_read_only(void)
{
	struct statvfs sv;

	if (ktap_on_exo())
		return 1;
	return statvfs(ktap_path("/"), &sv) == 0 && (sv.f_flag & ST_RDONLY);
}

#define SKIP_UNLESS_READ_ONLY()                                                            \
	do {                                                                               \
		if (!root_is_read_only()) {                                                \
			ktap_skip("host limit: EXO_ROOT is not mounted read-only");        \
			return;                                                            \
		}                                                                          \
	} while (0)

static void open_for_writing_is_erofs(void)
{
	SKIP_UNLESS_READ_ONLY();
	EXPECT_ERRNO(syscall(SYS_open, fx("data.txt"), O_WRONLY), EROFS);
	EXPECT_ERRNO(syscall(SYS_open, fx("data.txt"), O_RDWR), EROFS);
	EXPECT_ERRNO(syscall(SYS_open, fx("data.txt"), O_RDONLY | O_TRUNC), EROFS);
	EXPECT_ERRNO(syscall(SYS_open, fx("data.txt"), O_WRONLY | O_APPEND), EROFS);
	EXPECT_ERRNO(syscall(SYS_open, fx("new-file"), O_WRONLY | O_CREAT, 0644), EROFS);
	EXPECT_ERRNO(syscall(SYS_open, fx("new-file"), O_RDONLY | O_CREAT, 0644), EROFS);
	EXPECT_ERRNO(syscall(SYS_creat, fx("new-file"), 0644), EROFS);
	EXPECT_ERRNO(syscall(SYS_openat, AT_FDCWD, fx("new-file"), O_RDWR | O_CREAT | O_EXCL, 0644),
		     EROFS);
	/* An existing file with O_CREAT|O_EXCL: EEXIST wins over EROFS. */
	EXPECT_ERRNO(syscall(SYS_open, fx("data.txt"), O_WRONLY | O_CREAT | O_EXCL, 0644), EEXIST);
	/* A directory opened for writing: EISDIR wins. */
	EXPECT_ERRNO(syscall(SYS_open, ktap_path(FIXTURE_DIR), O_WRONLY), EISDIR);
	/* O_CREAT on an existing file without write access is a plain open. */
	int fd = EXPECT_OK(syscall(SYS_open, fx("data.txt"), O_RDONLY | O_CREAT, 0644));
	if (fd >= 0)
		close(fd);
	EXPECT_ERRNO(syscall(SYS_access, fx("data.txt"), W_OK), EROFS);
}

static void fs_changes_are_erofs(void)
{
	SKIP_UNLESS_READ_ONLY();
	EXPECT_ERRNO(syscall(SYS_mkdir, fx("newdir"), 0755), EROFS);
	EXPECT_ERRNO(syscall(SYS_mkdir, fx("sub"), 0755), EEXIST);
	EXPECT_ERRNO(syscall(SYS_rmdir, fx("sub")), EROFS);
	EXPECT_ERRNO(syscall(SYS_unlink, fx("data.txt")), EROFS);
	/* unlink and rmdir check the mount before the name: EROFS even when absent. */
	EXPECT_ERRNO(syscall(SYS_unlink, fx("nope")), EROFS);
	EXPECT_ERRNO(syscall(SYS_rmdir, fx("nope")), EROFS);
	EXPECT_ERRNO(syscall(SYS_rename, fx("data.txt"), fx("renamed")), EROFS);
	EXPECT_ERRNO(syscall(SYS_symlink, "data.txt", fx("newlink")), EROFS);
	EXPECT_ERRNO(syscall(SYS_link, fx("data.txt"), fx("newlink")), EROFS);
	EXPECT_ERRNO(syscall(SYS_chmod, fx("data.txt"), 0600), EROFS);
	EXPECT_ERRNO(syscall(SYS_chown, fx("data.txt"), 0, 0), EROFS);
	EXPECT_ERRNO(syscall(SYS_truncate, fx("data.txt"), 0), EROFS);
	EXPECT_ERRNO(syscall(SYS_utimensat, AT_FDCWD, fx("data.txt"), NULL, 0), EROFS);
	EXPECT_ERRNO(syscall(SYS_mknod, fx("fifo"), S_IFIFO | 0644, 0), EROFS);
}

static const struct ktap_case cases[] = {
	KTAP_CASE(open_read_hostname),
	KTAP_CASE(open_returns_lowest_free_fd),
	KTAP_CASE(open_bad_paths),
	KTAP_CASE(open_directory),
	KTAP_CASE(openat_dirfd),
	KTAP_CASE(read_bad_arguments),
	KTAP_CASE(read_straddling_end_of_mapping_is_short),
	KTAP_CASE(read_huge_count_small_file),
	KTAP_CASE(read_random_chunks_match_file),
	KTAP_CASE(pread64_offsets),
	KTAP_CASE(readv_vectors),
	KTAP_CASE(lseek_whence),
	KTAP_CASE(fstat_kinds_and_bad_buffers),
	KTAP_CASE(stat_and_lstat_symlinks),
	KTAP_CASE(newfstatat_flags),
	KTAP_CASE(getdents64_lists_fixture),
	KTAP_CASE(getdents64_bad_arguments),
	KTAP_CASE(readlink_cases),
	KTAP_CASE(access_modes),
	KTAP_CASE(getcwd_and_chdir),
	KTAP_CASE(write_to_read_only_fd_is_ebadf),
	KTAP_CASE(write_and_writev_to_stdout),
	KTAP_CASE(open_for_writing_is_erofs),
	KTAP_CASE(fs_changes_are_erofs),
};

int main(int argc, char **argv)
{
	return ktap_main(argc, argv, cases, KTAP_NCASES(cases));
}
