# The run queue's host tests, built three ways from the same sources:
#   build/host/test_runqueue        ASan + UBSan, like every host test;
#   build/host/test_runqueue_tsan   ThreadSanitizer (+ UBSan), objects under build/host-tsan/
#                                   so they never mix with the ASan ones;
#   build/host-bench/test_runqueue  -O2 without sanitizers, for `make bench-runqueue`.
RUNQUEUE_SOURCES := tests/host/test_runqueue.c sched/runqueue.c tests/host/shim.c
HOST_TESTS += build/host/test_runqueue build/host/test_runqueue_tsan

HOST_TSAN_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -g -O1 \
	-fsanitize=thread,undefined -fno-sanitize-recover=all -Iinclude $(ARCH_INCLUDE)
HOST_BENCH_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -O2 -Iinclude $(ARCH_INCLUDE)

build/host/test_runqueue: build/host/tests/host/test_runqueue.o build/host/sched/runqueue.o \
		$(HOST_SHIM)
	$(HOST_CC) $(HOST_CFLAGS) $^ -o $@ -lpthread

build/host-tsan/%.o: %.c
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_TSAN_CFLAGS) -MMD -MP -c $< -o $@

build/host/test_runqueue_tsan: $(patsubst %.c,build/host-tsan/%.o,$(RUNQUEUE_SOURCES))
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_TSAN_CFLAGS) $^ -o $@ -lpthread

build/host-bench/%.o: %.c
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_BENCH_CFLAGS) -MMD -MP -c $< -o $@

build/host-bench/test_runqueue: $(patsubst %.c,build/host-bench/%.o,$(RUNQUEUE_SOURCES))
	$(HOST_CC) $(HOST_BENCH_CFLAGS) $^ -o $@ -lpthread

.PHONY: bench-runqueue
bench-runqueue: build/host-bench/test_runqueue ## time the run queue's push, pop and steal (host)
	./$< --bench

-include $(shell find build/host-tsan build/host-bench -name '*.d' 2>/dev/null)
