# libFuzzer target for the ELF reader (proc/elf.c). Seeds in tests/fuzz/seeds/fuzz_elf/:
# small hand-made static and PIE images from tests/fuzz/gen_elf_seeds.py.
FUZZ_TARGETS += build/fuzz/fuzz_elf

build/fuzz/fuzz_elf: build/fuzz/obj/tests/fuzz/fuzz_elf.o build/fuzz/obj/proc/elf.o \
		build/fuzz/obj/lib/string.o
	$(FUZZ_CC) $(FUZZ_CFLAGS) $^ -o $@
