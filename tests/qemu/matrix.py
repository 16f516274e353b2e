"""The boot matrix: every QEMU boot `make test` runs, its arguments and what it
must show, and the QEMU command line of each.

The kinds of boot, each judged by its own module:
- a self-test boot (`mode=test`, or the ISO's self-test entry chosen through the
  SMBIOS product name) on every firmware path, machine, memory size and CPU count
  (judges.py: the KTAP judge);
- a bad-input boot (a CPU without long mode or NX) and a crash boot (one crash
  suite, named exactly) (judges.py);
- a power boot (`power_off`, `reboot`), a bench boot (`mode=bench`) and a peer
  boot (user/bench_peer.c's quick mode as init) (judges.py);
- a screen boot (screen.py) and a shell boot (shell.py).
"""
import os
import re

from qemu.runner import ELF, INITRD, ISO, LOG_DIR, base_command, uefi_args, usb_stick_args

SELFTEST_SMBIOS = ["-smbios", "type=1,product=exo-selftest"]
# include/arch/cpu.h's ARCH_MAX_CPUS: the kernel starts no more CPUs than this.
ARCH_MAX_CPUS = int(re.search(r"^#define ARCH_MAX_CPUS (\d+)", open(os.path.join(
    os.path.dirname(ELF), "..", "include", "arch", "cpu.h")).read(), re.M).group(1))
# Serial lines a screen boot expects to see drawn: the banner (printed before the
# screen console exists, so drawn by the console's replay) and the console's own line.
SCREEN_LINES = [("banner_drawn", r"^exo \S+ booting$"),
                ("fbcon_line_drawn", r"^fbcon: .* columns x \d+ rows$"),
                ("prompt_drawn", r"^exo> ")]
# What a bench boot in a small guest must print: each figure as `bench <name> <value>
# <unit>`, and the million-thread benchmark's note that the guest is too small.
# What the peer boot (bench_peer's path group, quick mode, as init) must print.
# pipe_roundtrip and posix_spawn_wait (musl's posix_spawn reports through a pipe)
# join the list when pipes land on main.
PEER_FIGURES = ["getppid", "sched_yield_switch", "futex_pingpong", "pipe_roundtrip",
                "fork_exit_wait", "posix_spawn_wait", "thread_create_join"]
BENCH_FIGURES = ["ctx_switch_ns", "cross_cpu_wake_rtt_ns", "spawn_join_ns", "frame_alloc_free_ns",
                 "kmalloc_free_64_ns", "kmalloc_free_4096_ns", "steal_speedup_2cpu",
                 "cpu_bringup_ms"]


def numa_machine(nodes, dist=None):
    """QEMU arguments for NUMA nodes [(cpus "0-1" or "", MiB), ...], and the
    numa_expect= word the numa suite checks them with (tests/ktest/numa_test.c).
    dist: {(src, dst): distance} for -numa dist (QEMU's default: 10 and 20)."""
    args = []
    for i, (cpus, mib) in enumerate(nodes):
        node = "node,nodeid=%d" % i
        if cpus:
            node += ",cpus=" + cpus
        if mib:
            args += ["-object", "memory-backend-ram,id=m%d,size=%dM" % (i, mib)]
            node += ",memdev=m%d" % i
        args += ["-numa", node]
    for (src, dst), val in sorted((dist or {}).items()):
        args += ["-numa", "dist,src=%d,dst=%d,val=%d" % (src, dst, val)]
    matrix = [[10 if a == b else (dist or {}).get((a, b), 20) for b in range(len(nodes))]
              for a in range(len(nodes))]
    expect = "numa_expect=%s:%s:%s" % ("/".join(c for c, _ in nodes),
                                       "/".join(str(m) for _, m in nodes),
                                       ",".join(str(d) for row in matrix for d in row))
    return args, expect


def expected_numa(boot):
    """(cpu lists, MiB, distance matrix) QEMU's -numa arguments give, or None."""
    args = boot.args
    nodes, dist, sizes = [], {}, {}
    for i, a in enumerate(args[:-1]):
        if a == "-object" and args[i + 1].startswith("memory-backend-ram"):
            fields = dict(f.split("=") for f in args[i + 1].split(",")[1:])
            sizes[fields["id"]] = int(fields["size"].rstrip("M"))
        if a != "-numa":
            continue
        kind, _, rest = args[i + 1].partition(",")
        fields = dict(f.split("=") for f in rest.split(","))
        if kind == "node":
            nodes.append((fields.get("cpus", ""), sizes.get(fields.get("memdev"), 0)))
        elif kind == "dist":
            dist[(int(fields["src"]), int(fields["dst"]))] = int(fields["val"])
    if not nodes:
        return None
    matrix = [[10 if a == b else dist.get((a, b), 20) for b in range(len(nodes))]
              for a in range(len(nodes))]
    return [c for c, _ in nodes], [m for _, m in nodes], matrix


class Boot:
    """One QEMU run: its arguments and what counts as success."""

    def __init__(self, name, args, timeout_s, expect_message=None, expect_panic=None,
                 screen_lines=None, expect_end=None, expect_bench=None, shell_end=None,
                 shell_rerun=False, initrd=True, log_lines=None, big=False, busybox=False,
                 expect_peer=None):
        self.name = name
        self.args = args
        self.timeout_s = timeout_s
        self.expect_message = expect_message  # a bad-input boot: this text, then halt
        self.expect_panic = expect_panic  # a crash boot: PANIC with all these texts
        self.screen_lines = screen_lines  # regexes: a screen boot (see screen.py)
        self.expect_end = expect_end  # a power boot: "power-off" or "reset"
        self.expect_bench = expect_bench  # a bench boot: these figures, each as a case
        self.expect_peer = expect_peer  # a peer boot: bench_peer's figures, each a case
        self.shell_end = shell_end  # a shell boot: its last command, "shutdown" or "reboot"
        self.shell_rerun = shell_rerun  # a shell boot that also reruns suites (see shell.py)
        self.busybox = busybox  # an init=/bin/sh boot driven over serial (see busybox.py)
        self.initrd = initrd  # a direct (-kernel) boot gets build/initrd.cpio as -initrd
        self.log_lines = log_lines or []  # regexes the serial log must also match (self-test)
        self.big = big  # slow: run by `make test-big` (harness --big) only

    def log_path(self):
        return os.path.join(LOG_DIR, self.name + ".log")

    def monitor_path(self):
        return os.path.join(LOG_DIR, self.name + ".monitor")

    def screenshot_path(self):
        return os.path.join(LOG_DIR, self.name + ".ppm")


def all_boots(seed):
    test_args = "mode=test" + (" seed=%d" % seed if seed is not None else "")
    two_nodes, two_expect = numa_machine([("0-1", 128), ("2-3", 128)])
    asym = {(0, 1): 30, (0, 2): 15, (0, 3): 40, (1, 0): 31, (1, 2): 20, (1, 3): 25,
            (2, 0): 16, (2, 1): 21, (2, 3): 35, (3, 0): 41, (3, 1): 26, (3, 2): 36}
    four_nodes, four_expect = numa_machine([("0", 64), ("1", 64), ("2", 64), ("3", 64)], asym)
    memless, memless_expect = numa_machine([("0-1", 256), ("2-3", 0)])
    high, high_expect = numa_machine([("0", 2048), ("1", 2048)])
    boots = [
        Boot("bios-cd-1cpu", ["-smp", "1", "-cdrom", ISO] + SELFTEST_SMBIOS, 180),
        Boot("bios-cd-4cpu", ["-smp", "4", "-cdrom", ISO] + SELFTEST_SMBIOS, 180),
        Boot("bios-usb", ["-smp", "2"] + usb_stick_args() + SELFTEST_SMBIOS, 240),
        Boot("uefi-cd", uefi_args("uefi-cd") + ["-smp", "2", "-cdrom", ISO] + SELFTEST_SMBIOS,
             180),
        Boot("pvh", ["-smp", "2", "-kernel", ELF, "-append", test_args], 180),
        # Without an initrd the kernel runs on; the suites that need one skip.
        Boot("pvh-no-initrd", ["-smp", "1", "-kernel", ELF, "-append", test_args], 60,
             initrd=False),
        Boot("pvh-q35-64m", ["-machine", "q35", "-m", "64M", "-smp", "1", "-kernel", ELF,
                             "-append", test_args], 180),
        # Memory from 64 MiB up: split around the PCI hole, above 4 GiB, 1 GiB pages.
        Boot("pvh-3584m", ["-m", "3584M", "-smp", "1", "-kernel", ELF, "-append", test_args],
             90),
        Boot("pvh-q35-8g-1g-pages", ["-machine", "q35", "-m", "8G", "-smp", "2", "-cpu",
                                     "qemu64,+pdpe1gb,+smep,+smap,+umip", "-kernel", ELF,
                                     "-append", test_args], 120),
        # Eight CPUs, and a limit below what the machine has; the latter on every
        # feature TCG has (-cpu max: XSAVE and XSAVEOPT for the FPU switch, RDRAND,
        # SMEP and SMAP...), where the others run on qemu64 (FXSAVE).
        Boot("pvh-q35-8cpu", ["-machine", "q35", "-smp", "8", "-kernel", ELF, "-append",
                              test_args], 240),
        Boot("pvh-smp-limit", ["-smp", "4", "-cpu", "max", "-kernel", ELF, "-append",
                               test_args + " smp=3"], 150),
        # NUMA (always with cpus=: without it QEMU puts a socket's CPUs on node 0).
        # The numa suite checks the CPU-to-node map, each node's memory and the
        # distances against numa_expect=, where frames and stacks come from, the
        # fallback when a node runs dry, and the steal order. Two nodes run every suite.
        Boot("numa-2-nodes", ["-smp", "4,sockets=2", "-m", "256M"] + two_nodes +
             ["-kernel", ELF, "-append", test_args + " " + two_expect], 240),
        Boot("numa-4-nodes-asymmetric", ["-smp", "4,sockets=4", "-m", "256M"] + four_nodes +
             ["-kernel", ELF, "-append", test_args + " test=numa " + four_expect], 60),
        Boot("numa-memoryless-node", ["-smp", "4,sockets=2", "-m", "256M"] + memless +
             ["-kernel", ELF, "-append", test_args + " test=numa " + memless_expect], 60),
        Boot("numa-node-above-4g", ["-machine", "q35", "-smp", "2,sockets=2", "-m", "4G"] + high +
             ["-kernel", ELF, "-append", test_args + " test=numa " + high_expect], 90),
        Boot("numa-no-srat", ["-smp", "2", "-m", "256M", "-kernel", ELF, "-append",
                              test_args + " test=numa numa_expect=0-1:256"], 60),
        Boot("numa-off", ["-smp", "4,sockets=2", "-m", "256M"] + two_nodes +
             ["-kernel", ELF, "-append", test_args + " test=numa numa=off numa_expect=0-3:256"], 60),
        # A hundred thousand threads alive at once (a named-only suite: it needs 1 GiB).
        Boot("pvh-100k-threads", ["-m", "1G", "-smp", "2", "-kernel", ELF, "-append",
                                  test_args + " test=threads_100k"], 120),
        # Fairness, work conservation, weights and starvation (the named suite `fair`,
        # tests/ktest/fair_test.c) at 2, 4 and 8 CPUs.
        Boot("fair-2cpu", ["-smp", "2", "-kernel", ELF, "-append", test_args + " test=fair"], 120),
        Boot("fair-4cpu", ["-smp", "4", "-kernel", ELF, "-append", test_args + " test=fair"], 150),
        Boot("fair-8cpu", ["-machine", "q35", "-smp", "8", "-kernel", ELF, "-append",
                           test_args + " test=fair"], 180),
        # mode=bench prints every figure a small guest can measure (values not judged).
        Boot("pvh-bench", ["-smp", "2", "-kernel", ELF, "-append", "mode=bench"], 120,
             expect_bench=BENCH_FIGURES),
        # make bench's peer program on Exo, as init, in quick mode: every path-length
        # figure is printed (values not judged), then it powers the machine off.
        Boot("pvh-bench-peer", ["-smp", "1", "-kernel", ELF, "-append",
                                "init=/bin/bench_peer -- path quick figures=" +
                                ",".join(PEER_FIGURES)], 120,
             expect_peer=PEER_FIGURES),
        Boot("no-long-mode", ["-cpu", "qemu32", "-cdrom", ISO] + SELFTEST_SMBIOS, 60,
             expect_message="this CPU does not support 64-bit long mode"),
        Boot("no-nx", ["-cpu", "qemu64,-nx", "-kernel", ELF, "-append", test_args], 60,
             expect_message="lacks the NX (no-execute) page bit"),
        # The x86_64 baseline the compiled kernel relies on, checked before any of it
        # runs: each missing feature is named.
        Boot("no-cmov", ["-cpu", "qemu64,-cmov", "-kernel", ELF, "-append", test_args], 60,
             expect_message="this CPU lacks CMOV"),
        Boot("no-apic", ["-cpu", "qemu64,-apic", "-kernel", ELF, "-append", test_args], 60,
             expect_message="this CPU lacks a local APIC"),
        # A CPU that arrives after its start-up deadline is given up and parked; the
        # smp suite checks that exactly one was, and everything else still passes.
        Boot("pvh-late-cpu", ["-smp", "3", "-kernel", ELF, "-append",
                              test_args + " smp_late_cpu=1"], 60),
        # Options the kernel reports and ignores must not make the self-test fail:
        # unknown keys, bad values, tabs, control and non-ASCII bytes, a long word.
        Boot("pvh-bad-options", ["-smp", "2", "-kernel", ELF, "-append",
                                 test_args + " foo=bar seed=-1 smp=abc console=nothing\tsmp=0"
                                 " \x1b[2J caf\xe9=1 " + "x" * 4000], 60),
        # A panic before the suites start still ends QEMU with the failure status:
        # 5 MiB holds the image (about 2.5 MiB with its static per-CPU state) but not
        # the heap's first 2 MiB arena.
        Boot("early-panic-5m", ["-m", "5M", "-kernel", ELF, "-append", "mode=test"], 30,
             expect_panic=["heap: no memory"], initrd=False),
        Boot("bios-screen", ["-smp", "1", "-cdrom", ISO], 60, screen_lines=SCREEN_LINES),
        Boot("uefi-screen", uefi_args("uefi-screen") + ["-smp", "1", "-cdrom", ISO], 180,
             screen_lines=SCREEN_LINES),
        # The shell, driven over serial, on every firmware path (the ISO's default
        # entry), with CPU and memory sizes its answers must match.
        Boot("shell-bios-cd", ["-smp", "4", "-m", "512M", "-cdrom", ISO], 120,
             shell_end="shutdown"),
        Boot("shell-uefi-cd", uefi_args("shell-uefi-cd") + ["-smp", "1", "-cdrom", ISO], 180,
             shell_end="shutdown"),
        Boot("shell-uefi-usb", uefi_args("shell-uefi-usb") + ["-smp", "2", "-m", "1G"] +
             usb_stick_args(), 180, shell_end="shutdown"),
        # busybox's shell as PID 1 (init=/bin/sh), driven over serial (busybox.py).
        Boot("busybox-pvh-1cpu", ["-smp", "1", "-kernel", ELF, "-append", "init=/bin/sh"], 90,
             busybox=True),
        Boot("busybox-pvh-2cpu", ["-smp", "2", "-kernel", ELF, "-append", "init=/bin/sh"], 90,
             busybox=True),
        Boot("shell-pvh", ["-smp", "2", "-kernel", ELF], 90, shell_end="reboot",
             shell_rerun=True),
        # The extremes of the range: 64 MiB and 8 GiB, one CPU and eight.
        Boot("shell-pvh-64m", ["-machine", "q35", "-smp", "1", "-m", "64M", "-kernel", ELF], 90,
             shell_end="shutdown"),
        Boot("shell-pvh-8g-8cpu", ["-machine", "q35", "-smp", "8", "-m", "8G", "-kernel", ELF],
             120, shell_end="shutdown"),
        # `numa` and `mem` on an asymmetric four-node machine, one node without memory.
        Boot("shell-pvh-numa", ["-smp", "4,sockets=4", "-m", "256M"] + numa_machine(
            [("0", 96), ("1", 96), ("2", 64), ("3", 0)], asym)[0] + ["-kernel", ELF], 90,
             shell_end="shutdown"),
    ]
    # The machine ends as asked: ACPI S5 on both chipsets; reset through the ACPI reset
    # register (q35 has one) or the keyboard controller (i440fx's FADT offers none).
    for machine in ("pc", "q35"):
        for suite, end in (("power_off", "power-off"), ("reboot", "reset")):
            boots.append(Boot("pvh-%s-%s" % (machine, suite.replace("_", "-")),
                              ["-machine", machine, "-smp", "2", "-kernel", ELF, "-append",
                               "mode=test test=" + suite], 60, expect_end=end))
    # Misuse the kernel must catch: each crash suite provokes one, and the panic
    # must name what went wrong and where.
    crashes = [
        ("crash_heap_double_free", ["heap: free of 0xffffc0", "already free",
                                    "crash_heap_double_free"]),
        ("crash_heap_foreign_free", ["heap: free of 0xffffffff8", "not a heap pointer",
                                     "crash_heap_foreign_free"]),
        ("crash_heap_damaged_header", ["heap: free of 0xffffc0", "header is damaged",
                                       "crash_heap_damaged_header"]),
        ("crash_heap_damaged_cached_block", ["heap: cached block 0xffffc0", "damaged header",
                                             "crash_heap_damaged_cached_block"]),
        ("crash_frame_double_free", ["frame: double free of frame 0x"]),
        ("crash_kstack_double_free", ["kstack: double free of the stack at"]),
        ("crash_kstack_double_free_large", ["kstack: double free of the stack at"]),
        ("crash_kstack_double_free_after_batch", ["kstack: double free of the stack at"]),
        ("crash_sched_idle_thread_queued", ["runqueue", "that is still linked",
                                            "crash_sched_idle_thread_queued"]),
        ("crash_sched_join_twice", ["sched: join of 0xffffc8", "joined twice?",
                                    "crash_sched_join_twice"]),
        ("crash_sched_stray_wake_of_sleeper", ["sched: stray wake-up of thread",
                                               "asleep in thread_sleep_ns",
                                               "crash_sched_stray_wake_of_sleeper"]),
        ("crash_stack_overflow", ["double fault", "kernel stack overflow: CR2=0xffffc8",
                                  "crash_stack_overflow"]),
    ]
    for suite, texts in crashes:
        boots.append(Boot(suite.replace("_", "-"), ["-kernel", ELF, "-append",
                                                    "mode=test test=" + suite], 60,
                          expect_panic=texts))
    # A panic on one of several CPUs stops all the others.
    boots.append(Boot("crash-stack-overflow-4cpu", ["-smp", "4", "-kernel", ELF, "-append",
                                                    "mode=test test=crash_stack_overflow"], 60,
                      expect_panic=["kernel stack overflow", "panic: stopped 3 of 3 other CPUs"]))
    # Machines unlike QEMU's PC defaults (issue 15). microvm: PVH through its own
    # firmware (qboot), no PCI, a PIT without the port-0x61 gate, hardware-reduced
    # ACPI (no PM timer, no HPET): the clock comes from the PIT's channel 0, or
    # with pit=off from the RTC; with acpi=off there is no MADT (one CPU) and COM1
    # is polled.
    clock_from = lambda source: r"^apic: .*; TSC \d+ kHz \(from %s\)" % source
    boots += [
        Boot("microvm", ["-M", "microvm", "-smp", "2", "-kernel", ELF, "-append", test_args], 180,
             log_lines=[clock_from("the PIT"), r"^clock: the PIT: OUT2 is high before the "
                        r"count starts \(port 0x61 reads 0xff\): no working gate"]),
        Boot("microvm-acpi-off", ["-M", "microvm,acpi=off", "-smp", "1", "-kernel", ELF,
                                  "-append", test_args], 60, log_lines=[clock_from("the PIT")]),
        Boot("microvm-pit-off", ["-M", "microvm,pit=off", "-smp", "2", "-kernel", ELF,
                                 "-append", test_args], 60,
             log_lines=[clock_from("the RTC")]),
        Boot("shell-microvm", ["-M", "microvm", "-smp", "2", "-kernel", ELF], 60,
             shell_end="reboot"),
        Boot("shell-microvm-acpi-off", ["-M", "microvm,acpi=off", "-kernel", ELF], 60,
             shell_end="reboot"),
        # acpi=off on the PC chipsets: the acpi suite skips, the clock comes from
        # the PIT (no HPET or PM timer without tables), and the shell answers (over
        # a polled COM1 when no table names an I/O APIC).
        Boot("pvh-pc-acpi-off", ["-machine", "pc,acpi=off", "-kernel", ELF, "-append",
                                 test_args], 60,
             log_lines=[clock_from("the PIT"), r"# SKIP no ACPI tables \(acpi=off\?\)"]),
        # (On q35 SeaBIOS then builds minimal tables of its own, without \_S5.)
        Boot("pvh-q35-acpi-off", ["-machine", "q35,acpi=off", "-kernel", ELF, "-append",
                                  test_args], 60, log_lines=[r"# SKIP the DSDT has no \\_S5"]),
        Boot("shell-pc-acpi-off", ["-machine", "pc,acpi=off", "-kernel", ELF], 60,
             shell_end="reboot", log_lines=[r"^input: COM1, polled on every tick \(its IRQ "
                                            r"cannot be routed\)$"]),
        Boot("shell-q35-acpi-off", ["-machine", "q35,acpi=off", "-kernel", ELF], 60,
             shell_end="reboot"),
        # A clock source made to lie is rejected with its value, and the next one used.
        Boot("pvh-clock-lie-hpet", ["-kernel", ELF, "-append", test_args + " clock_test=lie-hpet"],
             60, log_lines=[r"^clock: the HPET rejected: TSC \d+ kHz is outside the plausible "
                            r"100 MHz to 10 GHz \(told to lie by clock_test=\)$",
                            clock_from("the ACPI PM timer")]),
        Boot("pvh-clock-lie-pit", ["-machine", "pc,acpi=off", "-kernel", ELF, "-append",
                                   test_args + " clock_test=lie-pit"], 60,
             log_lines=[r"^clock: the PIT rejected: TSC \d+ kHz is outside", clock_from("the RTC")]),
        # Below the 32 MiB the self-test is sized for, the memory-hungry cases skip
        # saying what they need (8 MiB: no room for the initrd).
        Boot("pvh-16m", ["-m", "16M", "-kernel", ELF, "-append", test_args], 60,
             log_lines=[r"# SKIP needs \d+ KiB of free memory, \d+ KiB free"]),
        Boot("pvh-8m", ["-m", "8M", "-kernel", ELF, "-append", test_args], 60, initrd=False,
             log_lines=[r"# SKIP needs \d+ KiB of free memory, \d+ KiB free"]),
        # 10 MiB: no free 2 MiB-aligned run is left; the cases that need one skip.
        Boot("pvh-10m", ["-m", "10M", "-kernel", ELF, "-append", test_args], 60, initrd=False,
             log_lines=[r"# SKIP no free run of 2048 KiB aligned to 2048 KiB in \d+ KiB free"]),
    ]
    return boots


def big_boots(seed):
    """`make test-big`: many CPUs, several seeds each, and a NUMA machine of 128 CPUs.
    Every suite runs; the harness's seed, when given, replaces the fixed ones."""
    seeds = [seed] if seed is not None else [1, 2]
    boots = []
    for cpus, mem, timeout in ((16, "1G", 300), (32, "1G", 400), (64, "2G", 600),
                               (128, "2G", 1200)):
        for s in seeds:
            boots.append(Boot("big-%dcpu-seed%d" % (cpus, s),
                              ["-smp", str(cpus), "-m", mem, "-kernel", ELF, "-append",
                               "mode=test seed=%d" % s], timeout))
    # Small guests, 7 to 32 MiB without an initrd (6 MiB leaves about 200 KiB free
    # after boot, under what any case needs: every case skips there).
    for mib in (7, 9, 11, 12, 13, 14, 18, 20, 24, 28, 32):
        boots.append(Boot("big-pvh-%dm" % mib, ["-m", "%dM" % mib, "-kernel", ELF, "-append",
                                                "mode=test seed=%d" % seeds[0]], 120,
                          initrd=False))
    # The largest count QEMU 7.2 takes under TCG: 255 CPUs (the limit of pc, and of
    # q35 without an IOMMU), every in-kernel suite, two seeds. About 8.5 minutes
    # each on a 2-core host with other work (much more with two at once): the
    # locktorture (1,530 threads) and the exhaustion cases (a shootdown to every
    # CPU per arena given back) take most.
    # The harness runs two boots at a time in list order: the first 255-CPU boot
    # goes first, beside the smaller ones, and the second after the 128-CPU ones,
    # so that two of them never share the host's cores.
    big255 = [Boot("big-255cpu-seed%d" % s, ["-smp", "255", "-m", "2G", "-kernel", ELF,
                                             "-append", "mode=test seed=%d" % s], 1800)
              for s in seeds]
    after_128 = next(i for i, b in enumerate(boots) if b.name.startswith("big-pvh-"))
    boots[after_128:after_128] = big255[1:]
    boots[0:0] = big255[:1]
    # Past 255 CPUs (x2APIC IDs above 255) QEMU 7.2 wants KVM's in-kernel irqchip with
    # its X2APIC API: with q35,kernel-irqchip=split and intel-iommu,intremap=on,eim=on,
    # -smp 288 stops at "current -smp configuration requires kernel irqchip and X2APIC
    # API support" under TCG, so no boot here goes past 255.
    nodes = [("%d-%d" % (32 * k, 32 * k + 31), 512) for k in range(4)]
    numa_args, expect = numa_machine(nodes)
    boots.append(Boot("big-128cpu-4-nodes", ["-smp", "128,sockets=4", "-m", "2G"] + numa_args +
                      ["-kernel", ELF, "-append", "mode=test test=numa %s" % expect], 900))
    return boots


# The self-test boots that also run the user-space suites (the initrd's
# /tests/default), beside the ISO boots, whose self-test entry runs everything:
# BIOS with 1 and 4 CPUs, UEFI and USB with 2 (the ISO), PVH with 1, 2 and 8,
# microvm, PVH with 4 CPUs on two NUMA nodes, and make test-big's 128 CPUs. The other direct boots check
# something else (memory layouts, topology, clocks, bad options) and run the
# in-kernel suites only, with `test=*,!user_*`, which keeps make test within its
# time.
USER_SUITE_BOOTS = {"pvh", "pvh-q35-64m", "pvh-q35-8cpu", "microvm", "numa-2-nodes",
                    "big-128cpu-seed1", "big-128cpu-seed2"}


def with_kernel_suites_only(boot, args):
    if boot.name in USER_SUITE_BOOTS or "-append" not in args:
        return args
    i = args.index("-append") + 1
    words = args[i].split()
    if "mode=test" not in words or any(w.startswith("test=") for w in words):
        return args
    # First: a long command line may be cut at the loader's limit.
    return args[:i] + ["test=*,!user_* " + args[i]] + args[i + 1:]


def qemu_command(boot):
    monitor = "unix:%s,server=on,wait=off" % boot.monitor_path() if boot.screen_lines else "none"
    # A power boot that must power off, and a shell boot that ends with shutdown, run
    # without -no-reboot: a reset instead would boot the kernel again, not end QEMU.
    powers_off = (boot.expect_end == "power-off" or boot.shell_end == "shutdown" or
                  bool(boot.expect_peer))
    serial = "stdio" if boot.shell_end or boot.busybox else "file:" + boot.log_path()
    cmd = base_command(serial, monitor, no_reboot=not powers_off)
    if "-m" not in boot.args:
        cmd += ["-m", "256M"]
    if boot.initrd and "-kernel" in boot.args:
        cmd += ["-initrd", INITRD]
    return cmd + with_kernel_suites_only(boot, boot.args)


def expected_cpus(boot):
    """(CPUs QEMU gives the guest, CPUs the kernel should use) from the arguments:
    the last valid smp=N limits them (0: no limit), and smp_late_cpu=N gives one up
    when that CPU would have been started."""
    args = boot.args
    given = int(args[args.index("-smp") + 1].split(",")[0]) if "-smp" in args else 1
    used = given
    if "-append" in args:
        words = args[args.index("-append") + 1].split()
        limits = [int(w[4:]) for w in words if re.fullmatch(r"smp=\d+", w)]
        if limits and limits[-1]:
            used = min(given, limits[-1])
        late = [int(w[13:]) for w in words if re.fullmatch(r"smp_late_cpu=\d+", w)]
        if late and 0 < late[-1] < used:
            used = min(used, given - 1)
    return given, min(used, ARCH_MAX_CPUS)


def boot_memory_mib(boot):
    args = qemu_command(boot)
    size = args[args.index("-m") + 1]
    return int(size[:-1]) * (1024 if size.endswith("G") else 1)
