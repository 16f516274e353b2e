# Host tests of the console input's pure parts: the PS/2 scancode decoder
# (arch/x86_64/ps2_keymap.c) and the shell's line editor (lib/line_edit.c).
INPUT_TESTS := build/host/test_ps2_keymap build/host/test_line_edit
HOST_TESTS += $(INPUT_TESTS)

build/host/test_ps2_keymap: build/host/tests/host/test_ps2_keymap.o \
	build/host/arch/x86_64/ps2_keymap.o $(HOST_SHIM)
build/host/test_line_edit: build/host/tests/host/test_line_edit.o \
	build/host/lib/line_edit.o $(HOST_SHIM)

$(INPUT_TESTS):
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CFLAGS) $^ -o $@
