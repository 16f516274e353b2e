# Host unit tests of the kernel library: string, printf, command line, boot info.
# Each program links its test file, the kernel sources it exercises, and HOST_SHIM.

LIB_TESTS := build/host/test_string build/host/test_printf build/host/test_cmdline
HOST_TESTS += $(LIB_TESTS)

build/host/test_string: build/host/tests/host/test_string.o $(HOST_SHIM)
build/host/test_printf: build/host/tests/host/test_printf.o build/host/kernel/printf.o \
	$(HOST_SHIM)
build/host/test_cmdline: build/host/tests/host/test_cmdline.o build/host/kernel/cmdline.o \
	build/host/kernel/printf.o $(HOST_SHIM)
build/host/test_bootinfo: build/host/tests/host/test_bootinfo.o build/host/kernel/bootinfo.o \
	build/host/kernel/printf.o $(HOST_SHIM)

$(LIB_TESTS):
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CFLAGS) $^ -o $@
