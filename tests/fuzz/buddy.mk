# libFuzzer target for the buddy engine. Its objects live under build/fuzz/obj/buddy/
# and its variables start with BUDDY_, so other targets' rules cannot collide with it.
FUZZ_TARGETS += build/fuzz/fuzz_buddy

BUDDY_FUZZ_C := tests/fuzz/fuzz_buddy.c mm/buddy.c tests/host/shim.c
BUDDY_FUZZ_OBJS := $(patsubst %.c,build/fuzz/obj/buddy/%.o,$(BUDDY_FUZZ_C)) \
	build/fuzz/obj/buddy/lib/string.o

$(patsubst %.c,build/fuzz/obj/buddy/%.o,$(BUDDY_FUZZ_C)): build/fuzz/obj/buddy/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

# The kernel's string functions, renamed to exo_* as for the host tests (common.mk).
build/fuzz/obj/buddy/lib/string.o: lib/string.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fno-builtin -c $< -o $@.tmp
	objcopy $(foreach s,$(HOST_STRING_SYMS),--redefine-sym $(s)=exo_$(s)) $@.tmp $@
	@rm -f $@.tmp

build/fuzz/fuzz_buddy: $(BUDDY_FUZZ_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $^ -o $@

-include $(BUDDY_FUZZ_OBJS:.o=.d)
