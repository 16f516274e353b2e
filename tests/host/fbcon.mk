# Host test of the framebuffer console, drawing into host buffers (tests/host/test_fbcon.c).
HOST_TESTS += build/host/test_fbcon

build/host/test_fbcon: build/host/tests/host/test_fbcon.o build/host/kernel/fbcon.o \
		build/host/build/font.o $(HOST_SHIM)
	$(HOST_CC) $(HOST_CFLAGS) $^ -o $@
