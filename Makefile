# Exo: build, boot and test. `make help` lists the targets.

# ---- tools -----------------------------------------------------------------
# A real cross-compiler when there is one, else the host gcc with freestanding
# flags; `make CC=clang` works too. GNU ld links in every case.
ifeq ($(origin CC),default)
CC := $(if $(shell command -v x86_64-elf-gcc 2>/dev/null),x86_64-elf-gcc,gcc)
endif
CROSS_PREFIX := $(if $(findstring x86_64-elf-,$(CC)),x86_64-elf-,)
LD := $(CROSS_PREFIX)ld
NM := $(CROSS_PREFIX)nm
READELF := $(CROSS_PREFIX)readelf
NASM ?= nasm
HOST_CC ?= cc
PYTHON ?= python3
QEMU ?= qemu-system-x86_64
GDB ?= gdb
GRUB_MKRESCUE ?= grub-mkrescue
OVMF_CODE ?= /usr/share/OVMF/OVMF_CODE_4M.fd
OVMF_VARS ?= /usr/share/OVMF/OVMF_VARS_4M.fd
# The console font (include/kernel/font.h): Terminus Font, from console-setup-linux.
FONT_PSF ?= /usr/share/consolefonts/Lat15-Terminus16.psf.gz
IS_CLANG := $(shell $(CC) --version 2>/dev/null | grep -q clang && echo 1)

VERSION := 0.1.0
GIT_REV := $(shell git rev-parse --short HEAD 2>/dev/null)
FULL_VERSION := $(VERSION)$(if $(GIT_REV),+g$(GIT_REV),)

# ---- flags -----------------------------------------------------------------
# No red zone (interrupts push onto the stack below rsp), no SSE/x87 (their state
# is not saved on kernel entry), no PIC (linked at a fixed higher-half address),
# frame pointers kept for backtraces.
KERNEL_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror \
	-ffreestanding -fno-stack-protector -fno-pic -fno-pie -fno-common \
	-mno-red-zone -mgeneral-regs-only -mcmodel=kernel \
	-fno-omit-frame-pointer -mno-omit-leaf-frame-pointer \
	-fno-asynchronous-unwind-tables \
	-Iinclude -Ibuild/include -MMD -MP
ifeq ($(IS_CLANG),1)
KERNEL_CFLAGS += --target=x86_64-unknown-none-elf
endif
LDFLAGS := --fatal-warnings -nostdlib -static -z max-page-size=4096 -T linker.ld
NASMFLAGS := -f elf64 -Werror -g

HOST_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -g -O1 \
	-fsanitize=address,undefined -fno-sanitize-recover=all -Iinclude

# ---- sources, by folder ------------------------------------------------------
KERNEL_C := $(wildcard lib/*.c kernel/*.c mm/*.c sched/*.c bench/*.c arch/x86_64/*.c tests/ktest/*.c) build/font.c
KERNEL_S := $(wildcard arch/x86_64/*.S)
BOOT_ASM := $(wildcard boot/*.asm)
OBJS := $(patsubst %,build/obj/%.o,$(KERNEL_C) $(KERNEL_S) $(BOOT_ASM))

QEMU_COMMON := -no-reboot -nic none -m 512M -serial mon:stdio -display none \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04

.PHONY: all iso run run-uefi run-pvh debug gdb check fuzz test bench clean help compile_commands.json
.DEFAULT_GOAL := all

# ---- rules -----------------------------------------------------------------
build/include/exo_version.h: FORCE
	@mkdir -p $(@D)
	@echo '#define EXO_VERSION "$(FULL_VERSION)"' > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

build/obj/kernel/main.c.o: build/include/exo_version.h

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

build/obj/%.asm.o: %.asm
	@mkdir -p $(@D)
	$(NASM) $(NASMFLAGS) $< -o $@

# Two links: the first image's function symbols become the table the second one
# embeds (include/lib/ksyms.h). The table sits after all code, so both links
# must place every function identically; the recipe checks that they do.
build/ksyms-empty.S: lib/ksyms.awk
	@mkdir -p $(@D)
	awk -f lib/ksyms.awk /dev/null > $@

build/%.o: build/%.S
	$(CC) $(KERNEL_CFLAGS) -c $< -o $@

build/exo.pass1.elf: $(OBJS) build/ksyms-empty.o linker.ld
	$(LD) $(LDFLAGS) -o $@ $(OBJS) build/ksyms-empty.o

build/ksyms.S: build/exo.pass1.elf lib/ksyms.awk
	$(NM) -n --defined-only $< | awk -f lib/ksyms.awk > $@

build/exo.elf: $(OBJS) build/ksyms.o linker.ld
	$(LD) $(LDFLAGS) -o $@.tmp $(OBJS) build/ksyms.o
	@$(NM) -n build/exo.pass1.elf | grep ' [tT] ' > build/text-symbols.pass1
	@$(NM) -n $@.tmp | grep ' [tT] ' > build/text-symbols.final
	@cmp -s build/text-symbols.pass1 build/text-symbols.final || \
		{ echo "error: the symbol table moved code between the two links"; exit 1; }
	@if $(READELF) -lW $@.tmp | grep -E '^ +LOAD' | grep -q 'RWE'; then \
		echo "error: $@ has a segment that is both writable and executable"; exit 1; fi
	@grub-file --is-x86-multiboot2 $@.tmp || \
		{ echo "error: grub-file says $@ is not a Multiboot2 kernel"; exit 1; }
	mv $@.tmp $@

build/exo.iso: build/exo.elf iso/grub.cfg
	@rm -rf build/isodir && mkdir -p build/isodir/boot/grub
	cp build/exo.elf build/isodir/boot/exo.elf
	cp iso/grub.cfg build/isodir/boot/grub/grub.cfg
	$(GRUB_MKRESCUE) -o $@ build/isodir 2> build/grub-mkrescue.log || \
		{ cat build/grub-mkrescue.log; exit 1; }

include $(wildcard tests/host/*.mk)

# libFuzzer targets (tests/fuzz/*.mk add to FUZZ_TARGETS); clang builds them.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -Iinclude -Itests/host
include $(wildcard tests/fuzz/*.mk)

# ---- phony targets -----------------------------------------------------------
all: build/exo.elf build/exo.iso ## build the kernel ELF and the hybrid ISO

iso: build/exo.iso ## build the hybrid BIOS/UEFI ISO (CD or USB disk)

run: build/exo.iso ## boot the ISO in QEMU (BIOS) on this terminal's serial console
	$(QEMU) $(QEMU_COMMON) -smp 2 -cdrom build/exo.iso

run-uefi: build/exo.iso ## boot the ISO in QEMU with UEFI firmware (OVMF)
	cp $(OVMF_VARS) build/OVMF_VARS.fd
	$(QEMU) $(QEMU_COMMON) -machine q35 -smp 2 \
		-drive if=pflash,format=raw,readonly=on,file=$(OVMF_CODE) \
		-drive if=pflash,format=raw,file=build/OVMF_VARS.fd -cdrom build/exo.iso

run-pvh: build/exo.elf ## boot the ELF directly (PVH, no GRUB); APPEND="mode=test"
	$(QEMU) $(QEMU_COMMON) -smp 2 -kernel build/exo.elf -append "$(APPEND)"

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

bench: build/exo.elf ## path length (icount) and wall clock beside Linux on the same QEMU, host Linux as context; BENCH_ARGS="--groups path --only thread_switch"
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
