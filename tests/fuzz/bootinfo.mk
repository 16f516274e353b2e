# libFuzzer target for the boot-info parsers (kernel/bootinfo.c). Objects live under
# build/fuzz/obj/, apart from the host tests' build/host/ ones (other flags, other
# compiler). string.c is renamed to exo_* as in tests/host/common.mk, and bootinfo.c's
# strlcpy call pointed at it.

FUZZ_TARGETS += build/fuzz/fuzz_bootinfo

build/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

build/fuzz/obj/lib/string.o: lib/string.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fno-builtin -c $< -o $@.tmp
	objcopy $(foreach s,$(HOST_STRING_SYMS),--redefine-sym $(s)=exo_$(s)) $@.tmp $@
	@rm -f $@.tmp

build/fuzz/obj/kernel/bootinfo.o: kernel/bootinfo.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@.tmp
	objcopy --redefine-sym strlcpy=exo_strlcpy $@.tmp $@
	@rm -f $@.tmp

build/fuzz/fuzz_bootinfo: build/fuzz/obj/tests/fuzz/fuzz_bootinfo.o \
		build/fuzz/obj/kernel/bootinfo.o build/fuzz/obj/lib/printf.o \
		build/fuzz/obj/tests/host/shim.o build/fuzz/obj/lib/string.o
	$(FUZZ_CC) $(FUZZ_CFLAGS) $^ -o $@
