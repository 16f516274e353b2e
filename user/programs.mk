# user/programs.mk: Exo's own user programs and the initrd, included by the top
# Makefile (beside user/user.mk, the user-space test suites).
#
# Each user/<name>.c is one program, built with Debian's musl-gcc as a static Linux
# x86_64 binary into build/user/bin/<name> and put in the initrd as /bin/<name>.
# build/initrd.cpio (user/mkinitrd.py) holds those programs, the test suites of
# user/user.mk as /tests/<name>, user/rootfs/ as it is, and Debian's busybox-static
# with a link per applet.

USER_CC ?= musl-gcc
USER_PROGRAM_CFLAGS := -static -O2 -std=gnu11 -Wall -Wextra -Werror -Iuser/lib
USER_PROGRAMS := $(patsubst user/%.c,build/user/bin/%,$(wildcard user/*.c))
BUSYBOX ?= /bin/busybox
# The mtime of every initrd entry: a fixed one, so the archive is reproducible.
SOURCE_DATE_EPOCH ?= 0

build/user/bin/%: user/%.c user/programs.mk $(wildcard user/lib/*.h) include/uapi/exo_ipc.h
	@mkdir -p $(@D)
	@command -v $(USER_CC) >/dev/null || \
		{ echo "error: $(USER_CC) is missing: apt-get install musl-tools"; exit 1; }
	$(USER_CC) $(USER_PROGRAM_CFLAGS) -o $@ $<

build/initrd.cpio: user/mkinitrd.py $(USER_PROGRAMS) $(USER_TESTS) \
		$(shell find user/rootfs -type f -o -type d 2>/dev/null) $(wildcard $(BUSYBOX)) FORCE
	$(PYTHON) user/mkinitrd.py --output $@.tmp --mtime $(SOURCE_DATE_EPOCH) \
		--busybox $(BUSYBOX) --rootfs user/rootfs --tests build/user/tests \
		$(foreach p,$(USER_PROGRAMS),--program /bin/$(notdir $(p))=$(p))
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

.PHONY: user-programs initrd
user-programs: $(USER_PROGRAMS) ## build Exo's own user programs (musl-gcc -static)

initrd: build/initrd.cpio ## build the initial ramdisk (cpio newc) the ISO and run-pvh load
