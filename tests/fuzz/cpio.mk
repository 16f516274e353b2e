# libFuzzer target for the cpio reader and the initrd tree (fs/). Seeds: small
# archives from tests/fuzz/gen_cpio_seeds.py in tests/fuzz/seeds/fuzz_cpio/.
FUZZ_TARGETS += build/fuzz/fuzz_cpio

build/fuzz/fuzz_cpio: build/fuzz/obj/tests/fuzz/fuzz_cpio.o build/fuzz/obj/fs/cpio.o \
		build/fuzz/obj/fs/initrd.o build/fuzz/obj/lib/printf.o \
		build/fuzz/obj/tests/host/shim.o build/fuzz/obj/lib/string.o
	$(FUZZ_CC) $(FUZZ_CFLAGS) $^ -o $@
