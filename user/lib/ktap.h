/*
 * ktap.h: a tiny KTAP version 1 library for the user-space ABI suites.
 *
 * A suite is one static musl program: a table of cases, each a function
 * that makes EXPECT_* checks. ktap_main() prints
 *
 *     KTAP version 1
 *     # seed: N
 *     1..N
 *     ok 1 name                      (every EXPECT held)
 *     not ok 2 name                  (after `# ` lines naming call, case, got/expected)
 *     ok 3 name # SKIP reason
 *     # Totals: pass:P fail:F skip:S total:T
 *
 * and exits 0 when nothing failed, 1 otherwise. Output goes straight to fd 1
 * with write(2), never through stdio, so a crashing or forking child cannot
 * lose or duplicate buffered lines.
 *
 * Each case runs in the suite process itself. A case that needs a fault or a
 * dying process forks and checks the wait status (ktap_run_child()).
 *
 * Seed: `seed=N` on the command line, else the environment variable SEED, else
 * the clock; always printed, so a failure is reproducible.
 *
 * Paths: the suites read files laid out like the initrd (user/rootfs/ plus
 * /bin/busybox and /tests/). ktap_path("/etc/hostname") prefixes EXO_ROOT from
 * the environment (default ""), so the suites run on a host Linux against a
 * temporary directory populated the same way.
 *
 * Linux vs Exo: a test that passes on Linux defines what Exo must do, except
 * where Exo's policy differs on purpose (W+X refused); such cases call
 * KTAP_SKIP_UNLESS_EXO("exo policy"), which skips them on any other kernel.
 */
#ifndef EXO_USER_KTAP_H
#define EXO_USER_KTAP_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>

struct ktap_case {
	const char *name;
	void (*fn)(void);
};

#define KTAP_CASE(fn) { #fn, fn }
#define KTAP_NCASES(table) (sizeof(table) / sizeof((table)[0]))

/* Runs every case of the table; returns the exit status (0 or 1). */
int ktap_main(int argc, char **argv, const struct ktap_case *cases, size_t ncases);

/* Output: printf-style, through write(2) on fd 1. ktap_diag prefixes "# ". */
void ktap_print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ktap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Marks the running case failed, with a diagnostic saying where. */
void ktap_fail_at(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Marks the running case skipped; the caller returns right after. */
void ktap_skip(const char *reason);

/* How many checks failed so far in the running case. */
int ktap_case_failures(void);

const char *ktap_errno_name(int err);
/* A description of a wait status: "exited 3", "killed by SIGSEGV". */
const char *ktap_status_str(int status);
const char *ktap_signal_name(int sig);

/* Seeded PRNG (splitmix64) */
uint64_t ktap_seed(void);
uint64_t ktap_rand(void);
/* Uniform in [0, bound) */
uint64_t ktap_rand_below(uint64_t bound);

/* 1 when uname(2) says "Exo" */
int ktap_on_exo(void);

/* EXO_ROOT prefix + path, in a static ring of buffers (8 live at a time). */
const char *ktap_path(const char *path);

/* Addresses for bad-pointer cases. */
#define KTAP_KERNEL_PTR ((void *)0xffff800000000000UL)
#define KTAP_NONCANONICAL_PTR ((void *)0x0000800000000000UL)
/* One page that is certainly unmapped (mapped, then unmapped). */
void *ktap_unmapped_page(void);
/* Two pages; the second is unmapped: the result is the end of the first page. */
char *ktap_mapping_end(void);
/* One read-only, zero-filled page. */
void *ktap_readonly_page(void);

/*
 * Runs fn(arg) in a forked child and returns the child's wait status.
 * The child _exit()s with fn's return value.
 */
int ktap_run_child(int (*fn)(void *), void *arg);

/* Monotonic nanoseconds (raw syscall, no vDSO) */
int64_t ktap_now_ns(void);

#define KTAP_SKIP_UNLESS_EXO(reason)                                     \
	do {                                                             \
		if (!ktap_on_exo()) {                                    \
			ktap_skip(reason);                               \
			return;                                          \
		}                                                        \
	} while (0)

/*
 * The call must fail with -1 and errno == err. Works with musl wrappers and
 * with syscall(), which turns a -errno return into -1 and errno.
 */
#define EXPECT_ERRNO(call, err)                                                  \
	({                                                                       \
		errno = 0;                                                       \
		long ktap_r_ = (long)(call);                                     \
		int ktap_e_ = errno;                                             \
		int ktap_ok_ = (ktap_r_ == -1 && ktap_e_ == (err));              \
		if (!ktap_ok_) {                                                 \
			if (ktap_r_ != -1)                                       \
				ktap_fail_at(__FILE__, __LINE__,                 \
					     "%s: expected %s, got %ld (success)", \
					     #call, ktap_errno_name(err), ktap_r_); \
			else                                                     \
				ktap_fail_at(__FILE__, __LINE__,                 \
					     "%s: expected %s, got %s", #call,   \
					     ktap_errno_name(err),               \
					     ktap_errno_name(ktap_e_));          \
		}                                                                \
		ktap_ok_;                                                        \
	})

/* The call must not return -1; evaluates to its result. */
#define EXPECT_OK(call)                                                          \
	({                                                                       \
		errno = 0;                                                       \
		long ktap_r_ = (long)(call);                                     \
		if (ktap_r_ == -1)                                               \
			ktap_fail_at(__FILE__, __LINE__,                         \
				     "%s: expected success, got %s", #call,      \
				     ktap_errno_name(errno));                    \
		ktap_r_;                                                         \
	})

#define EXPECT_EQ(got, want)                                                     \
	({                                                                       \
		long long ktap_g_ = (long long)(got);                            \
		long long ktap_w_ = (long long)(want);                           \
		if (ktap_g_ != ktap_w_)                                          \
			ktap_fail_at(__FILE__, __LINE__,                         \
				     "%s: expected %s = %lld (%#llx), got %lld (%#llx)", \
				     #got, #want, ktap_w_, (unsigned long long)ktap_w_, \
				     ktap_g_, (unsigned long long)ktap_g_);      \
		ktap_g_ == ktap_w_;                                              \
	})

#define EXPECT_NE(got, bad)                                                      \
	({                                                                       \
		long long ktap_g_ = (long long)(got);                            \
		long long ktap_b_ = (long long)(bad);                            \
		if (ktap_g_ == ktap_b_)                                          \
			ktap_fail_at(__FILE__, __LINE__, "%s: expected not %s (%lld)", \
				     #got, #bad, ktap_b_);                       \
		ktap_g_ != ktap_b_;                                              \
	})

#define EXPECT_TRUE(cond)                                                        \
	({                                                                       \
		int ktap_c_ = !!(cond);                                          \
		if (!ktap_c_)                                                    \
			ktap_fail_at(__FILE__, __LINE__, "expected %s", #cond);  \
		ktap_c_;                                                         \
	})

/* The wait status must say: killed by signal sig. */
#define EXPECT_KILLED_BY(status, sig)                                            \
	({                                                                       \
		int ktap_s_ = (status);                                          \
		int ktap_k_ = WIFSIGNALED(ktap_s_) && WTERMSIG(ktap_s_) == (sig); \
		if (!ktap_k_)                                                    \
			ktap_fail_at(__FILE__, __LINE__,                         \
				     "%s: expected killed by %s, got %s", #status, \
				     ktap_signal_name(sig), ktap_status_str(ktap_s_)); \
		ktap_k_;                                                         \
	})

/* The wait status must say: exited with code. */
#define EXPECT_EXITED(status, code)                                              \
	({                                                                       \
		int ktap_s_ = (status);                                          \
		int ktap_x_ = WIFEXITED(ktap_s_) && WEXITSTATUS(ktap_s_) == (code); \
		if (!ktap_x_)                                                    \
			ktap_fail_at(__FILE__, __LINE__,                         \
				     "%s: expected exited %d, got %s", #status,  \
				     (int)(code), ktap_status_str(ktap_s_));     \
		ktap_x_;                                                         \
	})

#endif
