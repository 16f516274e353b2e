/*
 * cmdline: the kernel command line, parsed once at boot into struct kernel_options.
 *
 * Options are space-separated `key=value` words:
 *   mode=shell|test|bench   what the kernel does after boot (default shell)
 *   test=<globs>            with mode=test, run only suites whose name matches
 *                           (a comma list, !glob excluding: lib/string.h)
 *   seed=<n>                seed of the randomized tests (decimal or 0x hex)
 *   smp=<n>                 use at most n CPUs (0: no limit, the default)
 *   console=serial,fb       which consoles to use (a comma list; default both)
 *   init=<path>             run that program of the initrd as PID 1 on the console
 *                           instead of the kernel shell (an absolute path)
 *   smp_late_cpu=<n>        for tests: CPU n (>= 1) arrives after its start-up
 *                           deadline, so the kernel must give it up safely
 *   clock_test=lie-<source> for tests: that clock source (arch_clock_make_source_lie)
 *                           reports rates far too low, so the kernel must reject it
 *   numa=on|off             use the firmware's NUMA topology (default on)
 *   numa_expect=<spec>      for tests: the topology the numa suite must find
 *                           (tests/ktest/numa_test.c gives the syntax)
 * An unknown option or a bad value is reported through the diag callback and
 * ignored, leaving the default; the reported word is escaped (str_escape), so
 * control bytes from the loader never reach a terminal raw. A first word that is a path (starts with '/') is the
 * loader echoing the kernel's file name and is skipped. Pure: host-tested.
 *
 * Interrupt context: not used from it (parsed once at boot; the options are
 * read-only afterwards and may be read anywhere).
 */
#ifndef EXO_KERNEL_CMDLINE_H
#define EXO_KERNEL_CMDLINE_H

#include <stdbool.h>
#include <stdint.h>

enum kernel_mode {
    MODE_SHELL = 0,
    MODE_TEST = 1,
    MODE_BENCH = 2,
};

#define CONSOLE_SERIAL (1u << 0)
#define CONSOLE_FB (1u << 1)

#define CMDLINE_GLOB_MAX 64
#define CMDLINE_EXPECT_MAX 256
#define CMDLINE_INIT_MAX 128

struct kernel_options {
    enum kernel_mode mode;
    char test_glob[CMDLINE_GLOB_MAX]; /* "*" unless test= was given */
    bool seed_given;
    uint64_t seed;
    uint32_t smp_max_cpus; /* 0: no limit */
    uint32_t consoles;     /* CONSOLE_* bits */
    uint32_t smp_late_cpu; /* 0, or the CPU made late on purpose */
    bool numa;             /* numa=on (the default) or off */
    char numa_expect[CMDLINE_EXPECT_MAX]; /* "" unless numa_expect= was given */
    char init_path[CMDLINE_INIT_MAX]; /* "" unless init=<path>: run it as PID 1 */
    char init_args[CMDLINE_INIT_MAX]; /* the words after "--", one space apart: init's
                                         argv[1..] (Linux's rule) */
    char clock_lie[16];    /* "", or the clock source told to lie */
    int problems;          /* unknown options and bad values reported */
};

typedef void (*cmdline_diag_fn)(void *ctx, const char *message);

/* Fills *out with the defaults, then applies every valid option of `cmdline`.
 * Returns the number of problems reported (0 when everything was understood). */
int cmdline_parse(const char *cmdline, struct kernel_options *out, cmdline_diag_fn diag,
                  void *diag_ctx);

const char *cmdline_mode_name(enum kernel_mode mode);

#endif
