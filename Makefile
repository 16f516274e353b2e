# Exo: build, boot and test. `make help` lists the targets.

# ---- tools -----------------------------------------------------------------
# The target architecture; arch/$(ARCH)/arch.mk picks its toolchain, flags,
# sources and boot image (it documents the variables a port must define).
ARCH ?= x86_64
ifeq ($(wildcard arch/$(ARCH)/arch.mk),)
$(error ARCH=$(ARCH): there is no arch/$(ARCH)/arch.mk)
endif
include arch/$(ARCH)/arch.mk

# The arch's compiler unless CC is given; `make CC=clang` works too. GNU ld links
# in every case.
ifeq ($(origin CC),default)
CC := $(ARCH_CC_DEFAULT)
endif
LD := $(CROSS_PREFIX)ld
NM := $(CROSS_PREFIX)nm
READELF := $(CROSS_PREFIX)readelf
HOST_CC ?= cc
PYTHON ?= python3
GDB ?= gdb
# The console font (include/kernel/font.h): Terminus Font, from console-setup-linux.
FONT_PSF ?= /usr/share/consolefonts/Lat15-Terminus16.psf.gz
IS_CLANG := $(shell $(CC) --version 2>/dev/null | grep -q clang && echo 1)

VERSION := 0.1.0
GIT_REV := $(shell git rev-parse --short HEAD 2>/dev/null)
FULL_VERSION := $(VERSION)$(if $(GIT_REV),+g$(GIT_REV),)

# ---- flags -----------------------------------------------------------------
# Freestanding, no PIC (linked at a fixed higher-half address), frame pointers kept
# for backtraces; the arch adds its code model and register limits (ARCH_CFLAGS).
# arch/$(ARCH)/include holds the arch's constants (page geometry, reserved physical
# ranges) that the neutral headers in include/arch/ take in.
ARCH_INCLUDE := -Iarch/$(ARCH)/include
KERNEL_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror \
	-ffreestanding -fno-stack-protector -fno-pic -fno-pie -fno-common \
	$(ARCH_CFLAGS) \
	-fno-omit-frame-pointer -mno-omit-leaf-frame-pointer \
	-fno-asynchronous-unwind-tables \
	-Iinclude $(ARCH_INCLUDE) -Ibuild/include -MMD -MP
ifeq ($(IS_CLANG),1)
KERNEL_CFLAGS += $(ARCH_CLANG_TARGET)
endif
LDFLAGS := --fatal-warnings -nostdlib -static $(ARCH_LDFLAGS)

HOST_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -g -O1 \
	-fsanitize=address,undefined -fno-sanitize-recover=all -Iinclude $(ARCH_INCLUDE)

# ---- sources, by folder ------------------------------------------------------
KERNEL_C := $(wildcard lib/*.c kernel/*.c mm/*.c sched/*.c fs/*.c proc/*.c bench/*.c) $(ARCH_C) \
	$(wildcard tests/ktest/*.c) build/font.c
KERNEL_S := $(ARCH_S)
OBJS := $(patsubst %,build/obj/%.o,$(KERNEL_C) $(KERNEL_S)) $(ARCH_BOOT_OBJS)

.PHONY: all iso run run-uefi run-pvh debug gdb check fuzz test test-big topology bench clean help compile_commands.json
.DEFAULT_GOAL := all

# ---- rules -----------------------------------------------------------------
build/include/exo_version.h: FORCE
	@mkdir -p $(@D)
	@echo '#define EXO_VERSION "$(FULL_VERSION)"' > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

build/obj/kernel/main.c.o build/obj/proc/syscall.c.o: build/include/exo_version.h

build/font.c: kernel/font/psf2c.py $(FONT_PSF)
	@mkdir -p $(@D)
	$(PYTHON) kernel/font/psf2c.py $(FONT_PSF) $@

$(FONT_PSF):
	@echo "error: the console font $@ is missing: apt-get install console-setup-linux"; exit 1

# string.c implements memcpy and memset: stop the compiler from turning its loops
# back into calls to them.
build/obj/lib/string.c.o: KERNEL_CFLAGS += -fno-builtin $(if $(IS_CLANG),,-fno-tree-loop-distribute-patterns)

build/obj/%.c.o: %.c
	@mkdir -p $(@D)
	$(CC) $(KERNEL_CFLAGS) -c $< -o $@

build/obj/%.S.o: %.S
	@mkdir -p $(@D)
	$(CC) $(KERNEL_CFLAGS) -c $< -o $@

# Two links: the first image's function symbols become the table the second one
# embeds (include/lib/ksyms.h). The table sits after all code, so both links
# must place every function identically; the recipe checks that they do.
build/ksyms-empty.S: lib/ksyms.awk
	@mkdir -p $(@D)
	awk -f lib/ksyms.awk /dev/null > $@

build/%.o: build/%.S
	$(CC) $(KERNEL_CFLAGS) -c $< -o $@

build/exo.pass1.elf: $(OBJS) build/ksyms-empty.o $(ARCH_LINK_DEPS)
	$(LD) $(LDFLAGS) -o $@ $(OBJS) build/ksyms-empty.o

build/ksyms.S: build/exo.pass1.elf lib/ksyms.awk
	$(NM) -n --defined-only $< | awk -f lib/ksyms.awk > $@

build/exo.elf: $(OBJS) build/ksyms.o $(ARCH_LINK_DEPS)
	$(LD) $(LDFLAGS) -o $@.tmp $(OBJS) build/ksyms.o
	@$(NM) -n build/exo.pass1.elf | grep ' [tT] ' > build/text-symbols.pass1
	@$(NM) -n $@.tmp | grep ' [tT] ' > build/text-symbols.final
	@cmp -s build/text-symbols.pass1 build/text-symbols.final || \
		{ echo "error: the symbol table moved code between the two links"; exit 1; }
	@if $(READELF) -lW $@.tmp | grep -E '^ +LOAD' | grep -q 'RWE'; then \
		echo "error: $@ has a segment that is both writable and executable"; exit 1; fi
	@$(call ARCH_CHECK_ELF,$@.tmp)
	mv $@.tmp $@

# User test suites (user/user.mk and any other user/*.mk), then the programs and
# the initrd, whose archive takes every suite those defined in USER_TESTS.
include $(filter-out user/programs.mk,$(wildcard user/*.mk)) user/programs.mk

include $(wildcard tests/host/*.mk)

# libFuzzer targets (tests/fuzz/*.mk add to FUZZ_TARGETS); clang builds them.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -Iinclude $(ARCH_INCLUDE) -Itests/host
include $(wildcard tests/fuzz/*.mk)

# ---- phony targets -----------------------------------------------------------
all: build/exo.elf build/initrd.cpio $(ARCH_IMAGE) ## build the kernel ELF, the initrd and the boot image (x86_64: hybrid ISO)

iso: build/exo.iso ## build the hybrid BIOS/UEFI ISO (CD or USB disk)

run: build/exo.iso ## boot the ISO in QEMU (BIOS) on this terminal's serial console
	$(QEMU) $(QEMU_COMMON) -smp 2 -cdrom build/exo.iso

run-uefi: build/exo.iso ## boot the ISO in QEMU with UEFI firmware (OVMF)
	cp $(OVMF_VARS) build/OVMF_VARS.fd
	$(QEMU) $(QEMU_COMMON) -machine q35 -smp 2 \
		-drive if=pflash,format=raw,readonly=on,file=$(OVMF_CODE) \
		-drive if=pflash,format=raw,file=build/OVMF_VARS.fd -cdrom build/exo.iso

run-pvh: build/exo.elf build/initrd.cpio ## boot the ELF directly (PVH, no GRUB) with the initrd; APPEND="mode=test"
	$(QEMU) $(QEMU_COMMON) -smp 2 -kernel build/exo.elf -initrd build/initrd.cpio \
		-append "$(APPEND)"

debug: build/exo.iso ## boot the ISO with QEMU stopped, waiting for gdb on :1234
	$(QEMU) $(QEMU_COMMON) -smp 2 -cdrom build/exo.iso -s -S

gdb: build/exo.elf ## attach gdb, with symbols, to `make debug`
	$(GDB) build/exo.elf -ex 'target remote localhost:1234' -ex 'hbreak kernel_main' \
		-ex 'continue'

check: $(HOST_TESTS) ## host unit tests of the pure code, with ASan and UBSan
	@set -e; for t in $(HOST_TESTS); do ./$$t; done

fuzz: $(FUZZ_TARGETS) ## run each libFuzzer target for FUZZ_SECONDS (default 60)
	@set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/corpus/$$(basename $$t); \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
		./$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			build/fuzz/corpus/$$(basename $$t) \
			$$(ls -d tests/fuzz/seeds/$$(basename $$t) 2>/dev/null); \
	done

test: check all ## check, then boot the kernel in QEMU under every firmware path
	$(PYTHON) tests/harness.py

test-big: check all ## the slow boots: 16-128 CPUs and 255 CPUs with two seeds each, a 128-CPU NUMA machine
	$(PYTHON) tests/harness.py --big

topology: build/exo.elf ## Exo's `numa` beside Linux's /sys/devices/system/node on each NUMA machine of the self-test (same QEMU flags)
	QEMU=$(QEMU) $(PYTHON) tests/bench/topology.py

bench: build/exo.elf build/initrd.cpio ## path length (icount) and wall clock beside Linux on the same QEMU, host Linux as context; BENCH_ARGS="--groups path --only thread_switch"
	QEMU=$(QEMU) $(PYTHON) tests/bench/run.py $(BENCH_ARGS)

compile_commands.json: ## the compilation database for clangd and clang-tidy
	@{ echo '['; sep=''; for f in $(KERNEL_C); do \
		printf '%s{"directory":"%s","file":"%s","command":"%s %s -c %s"}\n' \
			"$$sep" "$(CURDIR)" "$$f" "$(CC)" "$(KERNEL_CFLAGS)" "$$f"; sep=','; \
	done; echo ']'; } > $@

clean: ## remove everything the build made
	rm -rf build compile_commands.json

help: ## list the targets
	@grep -hE '^[a-z_.-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([^:]*):.*## /  \1\t/' | \
		expand -t 28

FORCE:

-include $(OBJS:.o=.d)
