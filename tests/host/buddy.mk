# Host test of the buddy engine: mm/buddy.c over an mmap-backed fake region.
HOST_TESTS += build/host/test_buddy

# The shim objects are named here rather than through HOST_SHIM: this file sorts
# before common.mk, and prerequisites are expanded as the rule is read.
build/host/test_buddy: build/host/tests/host/test_buddy.o build/host/mm/buddy.o \
		build/host/tests/host/shim.o build/host/lib/string.o
	$(HOST_CC) $(HOST_CFLAGS) $^ -o $@
