# user/user.mk: the user-space KTAP suites (issue 10), included by the top Makefile.
#
# Each user/tests/user_<name>.c is one suite, built with Debian's musl-gcc as a
# static Linux x86_64 program into build/user/tests/user_<name>, together with
# the KTAP library (user/lib/) and user/tests/user_<name>.S when there is one.
# `make user-tests-host` runs every suite on the host Linux against a temporary
# root laid out like the initrd (see user/run-host-tests.sh): a suite that
# passes on Linux defines the behaviour Exo must match.

USER_CC ?= musl-gcc
USER_CFLAGS := -static -O2 -std=gnu11 -Wall -Wextra -Werror -Iuser/lib
USER_LIB_SRC := user/lib/ktap.c
USER_LIB_HDR := $(wildcard user/lib/*.h)
USER_TEST_SRC := $(wildcard user/tests/user_*.c)
USER_TESTS := $(patsubst user/tests/%.c,build/user/tests/%,$(USER_TEST_SRC))

# Per-suite extra flags. user_regs brings its own _start to see the registers
# exactly as the kernel left them at entry.
USER_CFLAGS_user_regs := -nostartfiles

build/user/tests/%: user/tests/%.c $(USER_LIB_SRC) $(USER_LIB_HDR) $(wildcard user/tests/*.S) user/user.mk
	@mkdir -p $(dir $@)
	$(USER_CC) $(USER_CFLAGS) $(USER_CFLAGS_$*) -o $@ $< $(wildcard user/tests/$*.S) $(USER_LIB_SRC)

.PHONY: user-tests user-tests-host
user-tests: $(USER_TESTS) ## build the user-space KTAP suites (musl-gcc -static)

user-tests-host: $(USER_TESTS) ## run the user-space suites on this host Linux (the reference)
	sh user/run-host-tests.sh $(USER_TESTS)
