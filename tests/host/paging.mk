# The page tables' host tests: mm/paging.c on the real frame allocator (mm/frame.c)
# and the real x86 entry format (arch/x86_64/pte.c), over the shim's fake RAM. The
# privileged half of the MMU (arch/x86_64/mmu.c) is replaced by recording stubs in
# the test itself.
HOST_TESTS += build/host/test_paging

build/host/test_paging: build/host/tests/host/test_paging.o build/host/mm/paging.o \
	build/host/mm/frame.o build/host/mm/numa.o build/host/arch/x86_64/pte.o $(HOST_SHIM)
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CFLAGS) $^ -o $@
