/*
 * ktest_user: the user-space KTAP suites of the initrd (/tests/user_*, built from
 * user/tests/ with musl) run by the self-test as nested suites of its report,
 * after the in-kernel ones (kernel/ktest.c calls these).
 *
 * Selection: the default "*" (perhaps with exclusions, "*,!user_fuzz") runs the
 * suites named in /tests/default (one name per line: the suites Exo passes
 * today, user/rootfs/tests/default); any other glob list runs every suite it
 * matches, so `test=user_*` runs them all, `test=user_signal` one, and
 * `test=*,!user_*` none. Without an initrd, or without /tests, there are none.
 *
 * Each suite runs as a process with seed=<the run's seed> on its command line;
 * its output is captured (never shown raw: control bytes are escaped) and
 * counted by the kernel. Threads only: these spawn processes and wait for them.
 */
#ifndef EXO_KERNEL_KTEST_USER_H
#define EXO_KERNEL_KTEST_USER_H

#include <stddef.h>
#include <stdint.h>

#include "kernel/ktest.h"

/* How many user suites `glob` selects. */
size_t ktest_user_count(const char *glob);

/* Runs them, numbering each from ++*number, and adds their results to *totals. */
void ktest_user_run(const char *glob, uint64_t seed, size_t *number, struct ktest_totals *totals);

#endif
