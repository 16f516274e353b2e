/* ktap.c: the KTAP version 1 runner and helpers; see ktap.h. */
#define _GNU_SOURCE
#include "ktap.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static int case_failures;
static int case_skipped;
static const char *skip_reason;
static uint64_t seed_value;
static uint64_t rand_state;

static void write_all(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(1, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

static void vprint(const char *prefix, const char *fmt, va_list ap)
{
	char line[1024];
	size_t used = strlen(prefix);

	memcpy(line, prefix, used);
	int n = vsnprintf(line + used, sizeof(line) - used - 1, fmt, ap);
	if (n < 0)
		n = 0;
	used += (size_t)n < sizeof(line) - used - 1 ? (size_t)n : sizeof(line) - used - 2;
	if (used == 0 || line[used - 1] != '\n')
		line[used++] = '\n';
	write_all(line, used);
}

void ktap_print(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprint("", fmt, ap);
	va_end(ap);
}

void ktap_diag(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprint("# ", fmt, ap);
	va_end(ap);
}

void ktap_fail_at(const char *file, int line, const char *fmt, ...)
{
	char where[160];
	va_list ap;

	const char *base = strrchr(file, '/');
	snprintf(where, sizeof(where), "# %s:%d: ", base ? base + 1 : file, line);
	va_start(ap, fmt);
	vprint(where, fmt, ap);
	va_end(ap);
	case_failures++;
}

void ktap_skip(const char *reason)
{
	case_skipped = 1;
	skip_reason = reason;
}

int ktap_case_failures(void)
{
	return case_failures;
}

static const char *const errno_names[] = {
	[0] = "0 (no error)", [EPERM] = "EPERM", [ENOENT] = "ENOENT", [ESRCH] = "ESRCH",
	[EINTR] = "EINTR", [EIO] = "EIO", [ENXIO] = "ENXIO", [E2BIG] = "E2BIG",
	[ENOEXEC] = "ENOEXEC", [EBADF] = "EBADF", [ECHILD] = "ECHILD", [EAGAIN] = "EAGAIN",
	[ENOMEM] = "ENOMEM", [EACCES] = "EACCES", [EFAULT] = "EFAULT", [ENOTBLK] = "ENOTBLK",
	[EBUSY] = "EBUSY", [EEXIST] = "EEXIST", [EXDEV] = "EXDEV", [ENODEV] = "ENODEV",
	[ENOTDIR] = "ENOTDIR", [EISDIR] = "EISDIR", [EINVAL] = "EINVAL", [ENFILE] = "ENFILE",
	[EMFILE] = "EMFILE", [ENOTTY] = "ENOTTY", [ETXTBSY] = "ETXTBSY", [EFBIG] = "EFBIG",
	[ENOSPC] = "ENOSPC", [ESPIPE] = "ESPIPE", [EROFS] = "EROFS", [EMLINK] = "EMLINK",
	[EPIPE] = "EPIPE", [EDOM] = "EDOM", [ERANGE] = "ERANGE", [EDEADLK] = "EDEADLK",
	[ENAMETOOLONG] = "ENAMETOOLONG", [ENOLCK] = "ENOLCK", [ENOSYS] = "ENOSYS",
	[ENOTEMPTY] = "ENOTEMPTY", [ELOOP] = "ELOOP", [ENOMSG] = "ENOMSG",
	[EOVERFLOW] = "EOVERFLOW", [EOPNOTSUPP] = "EOPNOTSUPP", [ETIMEDOUT] = "ETIMEDOUT",
	[EBADFD] = "EBADFD", [ERESTART] = "ERESTART", [ENOTSOCK] = "ENOTSOCK",
	[EDESTADDRREQ] = "EDESTADDRREQ", [EMSGSIZE] = "EMSGSIZE", [EPROTOTYPE] = "EPROTOTYPE",
	[ENOPROTOOPT] = "ENOPROTOOPT", [EPROTONOSUPPORT] = "EPROTONOSUPPORT",
	[ESOCKTNOSUPPORT] = "ESOCKTNOSUPPORT", [EAFNOSUPPORT] = "EAFNOSUPPORT",
	[EADDRINUSE] = "EADDRINUSE", [EADDRNOTAVAIL] = "EADDRNOTAVAIL",
	[ECONNRESET] = "ECONNRESET", [EISCONN] = "EISCONN", [ENOTCONN] = "ENOTCONN",
	[ECONNREFUSED] = "ECONNREFUSED", [ETOOMANYREFS] = "ETOOMANYREFS", [ENOBUFS] = "ENOBUFS",
};

const char *ktap_errno_name(int err)
{
	static char buf[4][24];
	static unsigned next;

	if (err >= 0 && (size_t)err < sizeof(errno_names) / sizeof(errno_names[0]) &&
	    errno_names[err])
		return errno_names[err];
	char *b = buf[next++ % 4];
	snprintf(b, sizeof(buf[0]), "errno %d", err);
	return b;
}

static const char *const signal_names[] = {
	[SIGHUP] = "SIGHUP", [SIGINT] = "SIGINT", [SIGQUIT] = "SIGQUIT",
	[SIGILL] = "SIGILL", [SIGTRAP] = "SIGTRAP", [SIGABRT] = "SIGABRT",
	[SIGBUS] = "SIGBUS", [SIGFPE] = "SIGFPE", [SIGKILL] = "SIGKILL",
	[SIGUSR1] = "SIGUSR1", [SIGSEGV] = "SIGSEGV", [SIGUSR2] = "SIGUSR2",
	[SIGPIPE] = "SIGPIPE", [SIGALRM] = "SIGALRM", [SIGTERM] = "SIGTERM",
	[SIGSTKFLT] = "SIGSTKFLT", [SIGCHLD] = "SIGCHLD", [SIGCONT] = "SIGCONT",
	[SIGSTOP] = "SIGSTOP", [SIGTSTP] = "SIGTSTP", [SIGTTIN] = "SIGTTIN",
	[SIGTTOU] = "SIGTTOU", [SIGURG] = "SIGURG", [SIGXCPU] = "SIGXCPU",
	[SIGXFSZ] = "SIGXFSZ", [SIGVTALRM] = "SIGVTALRM", [SIGPROF] = "SIGPROF",
	[SIGWINCH] = "SIGWINCH", [SIGIO] = "SIGIO", [SIGPWR] = "SIGPWR", [SIGSYS] = "SIGSYS",
};

const char *ktap_signal_name(int sig)
{
	static char buf[4][24];
	static unsigned next;

	if (sig > 0 && (size_t)sig < sizeof(signal_names) / sizeof(signal_names[0]) &&
	    signal_names[sig])
		return signal_names[sig];
	char *b = buf[next++ % 4];
	snprintf(b, sizeof(buf[0]), "signal %d", sig);
	return b;
}

const char *ktap_status_str(int status)
{
	static char buf[4][64];
	static unsigned next;
	char *b = buf[next++ % 4];

	if (WIFEXITED(status))
		snprintf(b, sizeof(buf[0]), "exited %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(b, sizeof(buf[0]), "killed by %s%s", ktap_signal_name(WTERMSIG(status)),
			 WCOREDUMP(status) ? " (core)" : "");
	else if (WIFSTOPPED(status))
		snprintf(b, sizeof(buf[0]), "stopped by %s", ktap_signal_name(WSTOPSIG(status)));
	else
		snprintf(b, sizeof(buf[0]), "status %#x", status);
	return b;
}

uint64_t ktap_seed(void)
{
	return seed_value;
}

uint64_t ktap_rand(void)
{
	uint64_t z = (rand_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t ktap_rand_below(uint64_t bound)
{
	return bound ? ktap_rand() % bound : 0;
}

int ktap_on_exo(void)
{
	static int cached = -1;
	struct utsname u;

	if (cached < 0)
		cached = uname(&u) == 0 && strcmp(u.sysname, "Exo") == 0;
	return cached;
}

const char *ktap_path(const char *path)
{
	static char ring[8][4096];
	static unsigned next;
	const char *root = getenv("EXO_ROOT");
	char *b = ring[next++ % 8];

	snprintf(b, sizeof(ring[0]), "%s%s", root ? root : "", path);
	return b;
}

void *ktap_unmapped_page(void)
{
	void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return (void *)0x10000;
	munmap(p, 4096);
	return p;
}

char *ktap_mapping_end(void)
{
	char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	munmap(p + 4096, 4096);
	return p + 4096;
}

void *ktap_readonly_page(void)
{
	void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

int ktap_run_child(int (*fn)(void *), void *arg)
{
	int status = -1;
	pid_t pid = fork();

	if (pid == 0)
		_exit(fn(arg));
	if (pid < 0) {
		ktap_diag("fork: %s", ktap_errno_name(errno));
		return -1;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

int64_t ktap_now_ns(void)
{
	struct timespec ts;
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t parse_seed(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strncmp(argv[i], "seed=", 5) == 0)
			return strtoull(argv[i] + 5, NULL, 0);
	const char *env = getenv("SEED");
	if (env && *env)
		return strtoull(env, NULL, 0);
	return (uint64_t)ktap_now_ns() ^ ((uint64_t)getpid() << 32);
}

/* A case filter: `case=NAME` runs only that case (the others are skipped). */
static const char *parse_filter(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strncmp(argv[i], "case=", 5) == 0)
			return argv[i] + 5;
	return NULL;
}

int ktap_main(int argc, char **argv, const struct ktap_case *cases, size_t ncases)
{
	int pass = 0, fail = 0, skip = 0;
	const char *filter = parse_filter(argc, argv);

	/* Fault cases kill children on purpose: no core files (errors ignored). */
	struct rlimit no_core = { 0, 0 };
	setrlimit(RLIMIT_CORE, &no_core);
	seed_value = parse_seed(argc, argv);
	rand_state = seed_value;
	ktap_print("KTAP version 1");
	ktap_diag("seed: %llu", (unsigned long long)seed_value);
	ktap_print("1..%zu", ncases);
	for (size_t i = 0; i < ncases; i++) {
		case_failures = 0;
		case_skipped = 0;
		skip_reason = NULL;
		if (filter && strcmp(filter, cases[i].name) != 0)
			ktap_skip("not selected");
		else
			cases[i].fn();
		if (case_failures) {
			ktap_print("not ok %zu %s", i + 1, cases[i].name);
			fail++;
		} else if (case_skipped) {
			ktap_print("ok %zu %s # SKIP %s", i + 1, cases[i].name, skip_reason);
			skip++;
		} else {
			ktap_print("ok %zu %s", i + 1, cases[i].name);
			pass++;
		}
	}
	ktap_diag("Totals: pass:%d fail:%d skip:%d total:%zu", pass, fail, skip, ncases);
	return fail ? 1 : 0;
}
