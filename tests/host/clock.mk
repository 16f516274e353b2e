# Host test of the clock-source choice (arch/x86_64/clock_select.c): plausibility
# ranges, fallback order, lying sources, and what the console is told.
HOST_TESTS += build/host/test_clock_select

build/host/test_clock_select: build/host/tests/host/test_clock_select.o \
		build/host/arch/x86_64/clock_select.o build/host/lib/printf.o \
		build/host/tests/host/shim.o build/host/lib/string.o
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CFLAGS) $^ -o $@
