# The frame allocator's host tests. test_frame.c includes mm/frame.c itself (to
# check the bitmap's summary levels and the per-CPU caches), so frame.o is not linked.
HOST_TESTS += build/host/test_frame

build/host/test_frame: build/host/tests/host/test_frame.o build/host/mm/numa.o $(HOST_SHIM)
	$(HOST_CC) $(HOST_CFLAGS) $^ -o $@ -lpthread
