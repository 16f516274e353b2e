# Host tests of the ACPI table parser (lib/acpi.c): tables are built in the
# test, in a fake physical memory read through exactly-sized heap copies.
HOST_TESTS += build/host/test_acpi

build/host/test_acpi: build/host/tests/host/test_acpi.o build/host/lib/acpi.o \
	build/host/lib/printf.o
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CFLAGS) $^ -o $@
