# The x86_64 build: toolchain, flags, sources and the boot image. The top-level
# Makefile includes arch/$(ARCH)/arch.mk after choosing ARCH; a port supplies one of
# these defining the same variables:
#   ARCH_CC_DEFAULT  the compiler `make` uses when CC is not given
#   CROSS_PREFIX     prefix of ld, nm, readelf (empty: the host's)
#   ARCH_CFLAGS      code-model and register flags for kernel C and .S files
#   ARCH_LDFLAGS     linker flags (the linker script included)
#   ARCH_C, ARCH_S   the arch's C and assembler sources
#   ARCH_BOOT_OBJS   other boot objects, with rules to build them
#   ARCH_CHECK_ELF   a shell command run on the linked image ($(1): its path),
#                    failing when a boot loader would refuse it
#   ARCH_IMAGE       the bootable image `make all` builds beside the ELF, with its rule
#   QEMU, QEMU_COMMON  the emulator and the machine `make run` boots

# ---- tools -------------------------------------------------------------------
# A real cross-compiler when there is one, else the host gcc with freestanding
# flags; `make CC=clang` works too (--target below). GNU ld links in every case.
ARCH_CC_DEFAULT := $(if $(shell command -v x86_64-elf-gcc 2>/dev/null),x86_64-elf-gcc,gcc)
CROSS_PREFIX = $(if $(findstring x86_64-elf-,$(CC)),x86_64-elf-,)
NASM ?= nasm
QEMU ?= qemu-system-x86_64
GRUB_MKRESCUE ?= grub-mkrescue
GRUB_FILE ?= grub-file
OVMF_CODE ?= /usr/share/OVMF/OVMF_CODE_4M.fd
OVMF_VARS ?= /usr/share/OVMF/OVMF_VARS_4M.fd

# The run targets' machine: serial on this terminal, and the isa-debug-exit port
# that ends a test boot with its verdict (include/arch/platform.h, arch_debug_exit).
QEMU_COMMON := -no-reboot -nic none -m 512M -serial mon:stdio -display none \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04

# ---- flags -------------------------------------------------------------------
# No red zone (interrupts push onto the stack below rsp), no SSE/x87 (their state
# is not saved on kernel entry), linked in the top 2 GiB (-mcmodel=kernel).
ARCH_CFLAGS := -mno-red-zone -mgeneral-regs-only -mcmodel=kernel
ARCH_CLANG_TARGET := --target=x86_64-unknown-none-elf
ARCH_LDFLAGS := -z max-page-size=4096 -T linker.ld
NASMFLAGS := -f elf64 -Werror -g

# ---- sources -----------------------------------------------------------------
ARCH_C := $(wildcard arch/x86_64/*.c)
ARCH_S := $(wildcard arch/x86_64/*.S)
# NASM: the Multiboot2 header and PVH note, the 32-bit entry, the AP trampoline.
BOOT_ASM := $(wildcard boot/*.asm)
ARCH_BOOT_OBJS := $(patsubst %,build/obj/%.o,$(BOOT_ASM))
ARCH_LINK_DEPS := linker.ld

build/obj/%.asm.o: %.asm
	@mkdir -p $(@D)
	$(NASM) $(NASMFLAGS) $< -o $@

# ---- the boot image ------------------------------------------------------------
# GRUB must accept the ELF as Multiboot2; the ISO is hybrid (BIOS and UEFI, CD or
# USB disk), made by grub-mkrescue.
ARCH_CHECK_ELF = $(GRUB_FILE) --is-x86-multiboot2 $(1) || \
	{ echo "error: grub-file says $(1) is not a Multiboot2 kernel"; exit 1; }
ARCH_IMAGE := build/exo.iso

build/exo.iso: build/exo.elf build/initrd.cpio iso/grub.cfg
	@rm -rf build/isodir && mkdir -p build/isodir/boot/grub
	cp build/exo.elf build/isodir/boot/exo.elf
	cp build/initrd.cpio build/isodir/boot/initrd.cpio
	cp iso/grub.cfg build/isodir/boot/grub/grub.cfg
	$(GRUB_MKRESCUE) -o $@ build/isodir 2> build/grub-mkrescue.log || \
		{ cat build/grub-mkrescue.log; exit 1; }
