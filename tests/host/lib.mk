# Host unit tests of the kernel library: string, printf, command line, boot info, cpusets.
# Each program links its test file, the kernel sources it exercises, and HOST_SHIM.

LIB_TESTS := build/host/test_string build/host/test_printf build/host/test_cmdline \
	build/host/test_bootinfo build/host/test_spin_deadline build/host/test_cpuset
HOST_TESTS += $(LIB_TESTS)

build/host/test_string: build/host/tests/host/test_string.o $(HOST_SHIM)
build/host/test_spin_deadline: build/host/tests/host/test_spin_deadline.o $(HOST_SHIM)
build/host/test_cpuset: build/host/tests/host/test_cpuset.o $(HOST_SHIM)
build/host/test_printf: build/host/tests/host/test_printf.o build/host/lib/printf.o \
	$(HOST_SHIM)
build/host/test_cmdline: build/host/tests/host/test_cmdline.o build/host/kernel/cmdline.o \
	build/host/lib/printf.o $(HOST_SHIM)
build/host/test_bootinfo: build/host/tests/host/test_bootinfo.o build/host/kernel/bootinfo.o \
	build/host/lib/printf.o $(HOST_SHIM)

$(LIB_TESTS):
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CFLAGS) $^ -o $@

# bootinfo.c calls strlcpy, which this host's libc may lack: point it at the
# kernel's own (exo_strlcpy, from the renamed string.o).
build/host/kernel/bootinfo.o: kernel/bootinfo.c
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CFLAGS) -MMD -MP -c $< -o $@.tmp
	objcopy --redefine-sym strlcpy=exo_strlcpy $@.tmp $@
	@rm -f $@.tmp
