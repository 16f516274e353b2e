# Host tests of the file layer (fs/): the cpio reader, the initrd tree with its
# path lookup, and the pipe ring. Archives are built in the test (tests/host/cpio_builder.h).
FS_TESTS := build/host/test_cpio build/host/test_initrd build/host/test_pipe_ring
HOST_TESTS += $(FS_TESTS)

build/host/test_cpio: build/host/tests/host/test_cpio.o build/host/fs/cpio.o $(HOST_SHIM)
build/host/test_initrd: build/host/tests/host/test_initrd.o build/host/fs/initrd.o \
	build/host/fs/cpio.o build/host/lib/printf.o $(HOST_SHIM)
build/host/test_pipe_ring: build/host/tests/host/test_pipe_ring.o build/host/fs/pipe_ring.o \
	build/host/lib/printf.o $(HOST_SHIM)

$(FS_TESTS):
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CFLAGS) $^ -o $@
