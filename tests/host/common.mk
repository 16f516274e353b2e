# Host builds of the kernel's pure code, for `make check` (see tests/host/shim.h).
# Each tests/host/<name>.mk adds its program to HOST_TESTS and lists its objects;
# every object is built with HOST_CFLAGS (ASan + UBSan) under build/host/.

build/host/%.o: %.c
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CFLAGS) -MMD -MP -c $< -o $@

# lib/string.c defines memcpy, strlen and friends: renamed to exo_* here so
# the host's libc (and ASan's interceptors) keep theirs. Tests call exo_memcpy etc.
HOST_STRING_SYMS := memcpy memmove memset memcmp memchr strlen strnlen strcmp strncmp strchr strlcpy
build/host/lib/string.o: lib/string.c
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CFLAGS) -fno-builtin -c $< -o $@.tmp
	objcopy $(foreach s,$(HOST_STRING_SYMS),--redefine-sym $(s)=exo_$(s)) $@.tmp $@
	@rm -f $@.tmp

HOST_SHIM := build/host/tests/host/shim.o build/host/lib/string.o

-include $(shell find build/host -name '*.d' 2>/dev/null)
