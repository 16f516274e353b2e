# libFuzzer target for the ACPI table parser (lib/acpi.c). Objects live under
# build/fuzz/obj/acpi/ and variables start with ACPI_, apart from other targets'.
FUZZ_TARGETS += build/fuzz/fuzz_acpi

ACPI_FUZZ_C := tests/fuzz/fuzz_acpi.c lib/acpi.c lib/printf.c
ACPI_FUZZ_OBJS := $(patsubst %.c,build/fuzz/obj/acpi/%.o,$(ACPI_FUZZ_C))

$(ACPI_FUZZ_OBJS): build/fuzz/obj/acpi/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

build/fuzz/fuzz_acpi: $(ACPI_FUZZ_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $^ -o $@

-include $(ACPI_FUZZ_OBJS:.o=.d)
