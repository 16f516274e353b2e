# Host tests of the process layer's pure parts (proc/): the ELF reader and the
# initial user stack builder. The ELF test also reads real programs, built here by
# Debian's musl-gcc: static, static-PIE, and a dynamic one it must refuse.
PROC_TESTS := build/host/test_elf build/host/test_ustack
HOST_TESTS += $(PROC_TESTS)

ELF_SAMPLES := build/host/elf-samples
ELF_SAMPLE_SRC := user/hello.c

$(ELF_SAMPLES)/static: $(ELF_SAMPLE_SRC)
	@mkdir -p $(@D)
	$(USER_CC) -static -O2 -o $@ $<

# Debian's musl-gcc would add PT_INTERP to -static-pie without --no-dynamic-linker.
$(ELF_SAMPLES)/static-pie: $(ELF_SAMPLE_SRC)
	@mkdir -p $(@D)
	$(USER_CC) -fPIE -static-pie -Wl,--no-dynamic-linker -O2 -o $@ $<

$(ELF_SAMPLES)/dynamic: $(ELF_SAMPLE_SRC)
	@mkdir -p $(@D)
	$(USER_CC) -O2 -o $@ $<

build/host/test_elf: build/host/tests/host/test_elf.o build/host/proc/elf.o $(HOST_SHIM) \
	| $(ELF_SAMPLES)/static $(ELF_SAMPLES)/static-pie $(ELF_SAMPLES)/dynamic
build/host/test_ustack: build/host/tests/host/test_ustack.o build/host/proc/ustack.o \
	$(HOST_SHIM)

$(PROC_TESTS):
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CFLAGS) $(filter %.o,$^) -o $@
