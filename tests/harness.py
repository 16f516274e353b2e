#!/usr/bin/env python3
"""Exo's QEMU test harness: boots the kernel under each firmware path and judges
what it prints on the serial port.

A self-test boot passes only when all of these hold: the banner `exo <version>
booting` appears; the KTAP output has its version line and plan; every suite the
plan announces reports a result; no result is `not ok`; the `# Totals:` line is
there with fail:0; nothing prints `PANIC:`; QEMU exits with status 33 (the kernel
wrote 0x10 to isa-debug-exit). Exit status 0 means a triple fault (-no-reboot), 35
a failed self-test. A boot that runs past its time limit fails.

A bad-input boot (a CPU without long mode, say) passes when the expected message
appears on the serial port and the kernel then stays halted instead of resetting.

A crash boot runs one deliberately fatal test (a double free, say: `test=<suite>`
names a suite that runs only when named exactly) and passes when the kernel
panics with every expected piece of text and exits with the failure status 35.

A screen boot checks the framebuffer console for real: it boots the ISO's normal
entry with the QEMU monitor on a Unix socket, waits until the serial port shows the
lines to look for, takes `screendump` screenshots, and passes when each of those lines
is drawn at the start of a text row, pixel for pixel in the kernel's own font (read
from the generated build/font.c).

A shell boot drives the shell as a user would, over the serial port (QEMU's stdio,
through pipes): it waits for `boot: shell ready in N us` and the prompt, types
commands and checks each answer (`cpus online: N` against -smp, `mem total` against
-m, help naming every command, threads showing the shell, line editing with
backspace, arrows and history, `test lib` passing), then types `shutdown` (QEMU
must power off; run without -no-reboot, so a reset would show a second banner) or
`reboot` (QEMU, run with -no-reboot, must exit). The screen
boots also wait for the prompt to be drawn, then type on the PS/2 keyboard through
the QEMU monitor (`sendkey`), edit with the arrow keys, and check both the serial
answer and the edited line as drawn on the screen.

A power boot runs a named suite that ends the machine: `power_off` must stop QEMU
through ACPI S5 (run without -no-reboot, so a reset would boot the kernel again and
show a second banner), `reboot` must reset it (QEMU exits on the reset), without the
kernel saying that the method it announced failed.

A bench boot runs `mode=bench` in a small guest and passes when every figure it
can measure there is printed as `bench <name> <value> <unit>` with a positive value
(each figure a case; the values themselves are not judged: no wall-clock
assertions), the million-thread benchmark says the guest is too small, nothing
failed, and QEMU exits with 33.

Every test case of every boot counts as one result (each check of a shell or screen
boot is one), and so does every boot's own verdict; the last line is
`N passed, N failed`.
"""
import argparse
import concurrent.futures
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
LOG_DIR = os.path.join(BUILD, "test")
ISO = os.path.join(BUILD, "exo.iso")
ELF = os.path.join(BUILD, "exo.elf")
QEMU = os.environ.get("QEMU", "qemu-system-x86_64")
OVMF_CODE = os.environ.get("OVMF_CODE", "/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = os.environ.get("OVMF_VARS", "/usr/share/OVMF/OVMF_VARS_4M.fd")
EXIT_PASS = 33
EXIT_FAIL = 35
SELFTEST_SMBIOS = ["-smbios", "type=1,product=exo-selftest"]
FONT_C = os.path.join(BUILD, "font.c")
FONT_WIDTH, FONT_HEIGHT = 8, 16
# Serial lines a screen boot expects to see drawn: the banner (printed before the
# screen console exists, so drawn by the console's replay) and the console's own line.
SCREEN_LINES = [("banner_drawn", r"^exo \S+ booting$"),
                ("fbcon_line_drawn", r"^fbcon: .* columns x \d+ rows$"),
                ("prompt_drawn", r"^exo> ")]
SCREENSHOT_TRIES = 10
# Typed on the PS/2 keyboard in a screen boot (QEMU sendkey names): the line
# "echo Key-Board ab", then Left Left x Right Delete: "echo Key-Board xa".
KEYBOARD_KEYS = ["e", "c", "h", "o", "spc", "shift-k", "e", "y", "minus", "shift-b", "o", "a",
                 "r", "d", "spc", "a", "b", "left", "left", "x", "right", "delete", "ret"]
KEYBOARD_LINE = "exo> echo Key-Board xa"
KEYBOARD_ANSWER = "Key-Board xa"
# Every command `help` must list.
SHELL_COMMANDS = ["help", "mem", "cpus", "threads", "uptime", "log", "echo", "test", "bench",
                  "reboot", "shutdown"]
READY_RE = re.compile(r"^boot: shell ready in (\d+) us$", re.M)
# What a bench boot in a small guest must print: each figure as `bench <name> <value>
# <unit>`, and the million-thread benchmark's note that the guest is too small.
BENCH_FIGURES = ["ctx_switch_ns", "cross_cpu_wake_rtt_ns", "spawn_join_ns", "frame_alloc_free_ns",
                 "kmalloc_free_64_ns", "kmalloc_free_4096_ns", "steal_speedup_2cpu"]
BENCH_SKIPPED = "bench threads_1m: skipped: needs "


class Boot:
    """One QEMU run: its arguments and what counts as success."""

    def __init__(self, name, args, timeout_s, expect_message=None, expect_panic=None,
                 screen_lines=None, expect_end=None, expect_bench=None, shell_end=None,
                 shell_rerun=False):
        self.name = name
        self.args = args
        self.timeout_s = timeout_s
        self.expect_message = expect_message  # a bad-input boot: this text, then halt
        self.expect_panic = expect_panic  # a crash boot: PANIC with all these texts
        self.screen_lines = screen_lines  # regexes: a screen boot (see the docstring)
        self.expect_end = expect_end  # a power boot: "power-off" or "reset"
        self.expect_bench = expect_bench  # a bench boot: these figures, each as a case
        self.shell_end = shell_end  # a shell boot: its last command, "shutdown" or "reboot"
        self.shell_rerun = shell_rerun  # a shell boot that also reruns suites (see steps)

    def log_path(self):
        return os.path.join(LOG_DIR, self.name + ".log")

    def monitor_path(self):
        return os.path.join(LOG_DIR, self.name + ".monitor")

    def screenshot_path(self):
        return os.path.join(LOG_DIR, self.name + ".ppm")


def uefi_args(name):
    vars_copy = os.path.join(LOG_DIR, name + "-OVMF_VARS.fd")
    shutil.copyfile(OVMF_VARS, vars_copy)
    return ["-machine", "q35",
            "-drive", "if=pflash,format=raw,readonly=on,file=" + OVMF_CODE,
            "-drive", "if=pflash,format=raw,file=" + vars_copy]


def usb_stick_args():
    # The ISO written as-is to a USB disk, as `dd` does to a real stick.
    return ["-drive", "if=none,id=stick,format=raw,readonly=on,file=" + ISO,
            "-device", "qemu-xhci", "-device", "usb-storage,drive=stick,bootindex=0"]


def all_boots(seed):
    test_args = "mode=test" + (" seed=%d" % seed if seed is not None else "")
    boots = [
        Boot("bios-cd-1cpu", ["-smp", "1", "-cdrom", ISO] + SELFTEST_SMBIOS, 60),
        Boot("bios-cd-4cpu", ["-smp", "4", "-cdrom", ISO] + SELFTEST_SMBIOS, 60),
        Boot("bios-usb", ["-smp", "2"] + usb_stick_args() + SELFTEST_SMBIOS, 90),
        Boot("uefi-cd", uefi_args("uefi-cd") + ["-smp", "2", "-cdrom", ISO] + SELFTEST_SMBIOS,
             180),
        Boot("pvh", ["-smp", "2", "-kernel", ELF, "-append", test_args], 60),
        Boot("pvh-q35-64m", ["-machine", "q35", "-m", "64M", "-smp", "1", "-kernel", ELF,
                             "-append", test_args], 60),
        # Memory from 64 MiB up: split around the PCI hole, above 4 GiB, 1 GiB pages.
        Boot("pvh-3584m", ["-m", "3584M", "-smp", "1", "-kernel", ELF, "-append", test_args],
             90),
        Boot("pvh-q35-8g-1g-pages", ["-machine", "q35", "-m", "8G", "-smp", "2", "-cpu",
                                     "qemu64,+pdpe1gb,+smep,+smap,+umip", "-kernel", ELF,
                                     "-append", test_args], 120),
        # Eight CPUs, and a limit below what the machine has.
        Boot("pvh-q35-8cpu", ["-machine", "q35", "-smp", "8", "-kernel", ELF, "-append",
                              test_args], 120),
        Boot("pvh-smp-limit", ["-smp", "4", "-kernel", ELF, "-append", test_args + " smp=3"],
             90),
        # A hundred thousand threads alive at once (a named-only suite: it needs 1 GiB).
        Boot("pvh-100k-threads", ["-m", "1G", "-smp", "2", "-kernel", ELF, "-append",
                                  test_args + " test=threads_100k"], 120),
        # mode=bench prints every figure a small guest can measure (values not judged).
        Boot("pvh-bench", ["-smp", "2", "-kernel", ELF, "-append", "mode=bench"], 120,
             expect_bench=BENCH_FIGURES),
        Boot("no-long-mode", ["-cpu", "qemu32", "-cdrom", ISO] + SELFTEST_SMBIOS, 60,
             expect_message="this CPU does not support 64-bit long mode"),
        Boot("no-nx", ["-cpu", "qemu64,-nx", "-kernel", ELF, "-append", test_args], 60,
             expect_message="lacks the NX (no-execute) page bit"),
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
        Boot("shell-pvh", ["-smp", "2", "-kernel", ELF], 90, shell_end="reboot",
             shell_rerun=True),
        # The extremes of the range: 64 MiB and 8 GiB, one CPU and eight.
        Boot("shell-pvh-64m", ["-machine", "q35", "-smp", "1", "-m", "64M", "-kernel", ELF], 90,
             shell_end="shutdown"),
        Boot("shell-pvh-8g-8cpu", ["-machine", "q35", "-smp", "8", "-m", "8G", "-kernel", ELF],
             120, shell_end="shutdown"),
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
        ("crash_frame_double_free", ["frame: double free of frame 0x"]),
        ("crash_kstack_double_free", ["kstack: double free of the stack at"]),
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
    return boots


def qemu_command(boot):
    monitor = "unix:%s,server=on,wait=off" % boot.monitor_path() if boot.screen_lines else "none"
    # A power boot that must power off, and a shell boot that ends with shutdown, run
    # without -no-reboot: a reset instead would boot the kernel again, not end QEMU.
    powers_off = boot.expect_end == "power-off" or boot.shell_end == "shutdown"
    no_reboot = [] if powers_off else ["-no-reboot"]
    serial = "stdio" if boot.shell_end else "file:" + boot.log_path()
    cmd = [QEMU] + no_reboot + ["-display", "none", "-monitor", monitor, "-nic", "none",
           "-serial", serial,
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    if "-m" not in boot.args:
        cmd += ["-m", "256M"]
    return cmd + boot.args


def read_log(boot):
    try:
        with open(boot.log_path(), "rb") as f:
            return f.read().decode("utf-8", "replace").replace("\r", "")
    except FileNotFoundError:
        return ""


def run_qemu(boot):
    """Runs QEMU; returns (exit status or None on timeout, seconds, stderr)."""
    start = time.monotonic()
    proc = subprocess.Popen(qemu_command(boot), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    status = None
    while time.monotonic() - start < boot.timeout_s:
        status = proc.poll()
        if status is not None:
            break
        if boot.expect_message and boot.expect_message in read_log(boot):
            time.sleep(0.5)  # the kernel must stay halted, not reset
            status = proc.poll()
            break
        time.sleep(0.05)
    if proc.poll() is None:
        proc.kill()
    stderr = proc.communicate()[1].decode("utf-8", "replace")
    return status, time.monotonic() - start, stderr


CASE_RE = re.compile(r"^    (not )?ok (\d+) (\S+)(.*)$")
SUITE_RE = re.compile(r"^(not )?ok (\d+) (\S+)")
SUBTEST_RE = re.compile(r"^    # Subtest: (\S+)")
PLAN_RE = re.compile(r"^1\.\.(\d+)$")
TOTALS_RE = re.compile(r"^# Totals: pass:(\d+) fail:(\d+) skip:(\d+) total:(\d+)$")


def judge_selftest(log, status):
    """Returns (problems, cases): cases is a list of (name, passed)."""
    problems, cases = [], []
    lines = log.split("\n")
    if not re.search(r"^exo \S+ booting$", log, re.M):
        problems.append("no 'exo <version> booting' banner")
    if "PANIC:" in log:
        problems.append("the kernel panicked")
    try:
        start = lines.index("KTAP version 1")
    except ValueError:
        problems.append("no 'KTAP version 1' line")
        start = None
    if start is not None:
        plan = next((PLAN_RE.match(l) for l in lines[start:] if PLAN_RE.match(l)), None)
        suite = None
        suites_seen = 0
        for line in lines[start:]:
            m = SUBTEST_RE.match(line)
            if m:
                suite = m.group(1)
            m = CASE_RE.match(line)
            if m:
                cases.append(("%s.%s" % (suite, m.group(3)), m.group(1) is None))
            m = SUITE_RE.match(line)
            if m:
                suites_seen += 1
                if m.group(1):
                    problems.append("suite %s: not ok" % m.group(3))
        if plan is None:
            problems.append("no KTAP plan line")
        elif int(plan.group(1)) == 0:
            problems.append("the plan announces no suites")
        elif suites_seen != int(plan.group(1)):
            problems.append("plan announces %s suites, %d reported" % (plan.group(1), suites_seen))
        totals = next((TOTALS_RE.match(l) for l in lines if TOTALS_RE.match(l)), None)
        if totals is None:
            problems.append("no '# Totals:' line")
        elif int(totals.group(2)) != 0:
            problems.append("totals report %s failed" % totals.group(2))
    if status is None:
        problems.append("timed out")
    elif status == 0:
        problems.append("QEMU exited with 0: a triple fault")
    elif status == EXIT_FAIL:
        problems.append("the kernel reported failure (exit 35)")
    elif status != EXIT_PASS:
        problems.append("QEMU exited with %d" % status)
    return problems, cases


SMP_LINE_RE = re.compile(r"^smp: (\d+) of (\d+) CPUs online", re.M)


def expected_cpus(boot):
    """(CPUs QEMU gives the guest, CPUs the kernel should use) from the arguments."""
    args = boot.args
    given = int(args[args.index("-smp") + 1]) if "-smp" in args else 1
    used = given
    if "-append" in args:
        m = re.search(r"(?:^| )smp=(\d+)", args[args.index("-append") + 1])
        if m:
            used = min(given, int(m.group(1)))
    return given, used


def judge_cpu_count(boot, log):
    """The kernel's count of CPUs online and listed must match -smp and smp=."""
    given, used = expected_cpus(boot)
    m = SMP_LINE_RE.search(log)
    if not m:
        return ["no 'smp: N of M CPUs online' line"]
    online, listed = int(m.group(1)), int(m.group(2))
    if (online, listed) != (used, given):
        return ["%d of %d CPUs online, expected %d of %d" % (online, listed, used, given)]
    return []


def judge_message(boot, log, status):
    problems = []
    if boot.expect_message not in log:
        problems.append("expected message not printed: %r" % boot.expect_message)
    if status == 0:
        problems.append("QEMU exited with 0: a triple fault")
    elif status is not None:
        problems.append("QEMU exited with %d instead of staying halted" % status)
    if "PANIC:" in log:
        problems.append("the kernel panicked")
    return problems


def judge_panic(boot, log, status):
    problems = []
    if "PANIC:" not in log:
        problems.append("the kernel did not panic")
    for text in boot.expect_panic:
        if text not in log:
            problems.append("the panic report lacks %r" % text)
    if status is None:
        problems.append("timed out")
    elif status != EXIT_FAIL:
        problems.append("QEMU exited with %d instead of 35 (panic in test mode)" % status)
    return problems


POWER_FAILURES = ["cannot power off", "did not reset the machine"]


def judge_end(boot, log, status):
    problems = []
    banners = len(re.findall(r"^exo \S+ booting$", log, re.M))
    if banners != 1:
        problems.append("the kernel booted %d times" % banners)
    if "PANIC:" in log:
        problems.append("the kernel panicked")
    announced = {"power-off": "power: entering ACPI S5", "reset": "power: rebooting through"}
    if announced[boot.expect_end] not in log:
        problems.append("no %r line" % announced[boot.expect_end])
    for text in POWER_FAILURES:
        if text in log:
            problems.append("the kernel says it %s" % text)
    if status is None:
        problems.append("timed out: the machine did not end")
    elif status != 0:
        problems.append("QEMU exited with %d instead of 0 (%s)" % (status, boot.expect_end))
    return problems


def judge_bench(boot, log, status):
    """Returns (problems, cases): a case per expected figure, passed when its line is
    there with a positive value."""
    problems, cases = [], []
    if not re.search(r"^exo \S+ booting$", log, re.M):
        problems.append("no 'exo <version> booting' banner")
    if "PANIC:" in log:
        problems.append("the kernel panicked")
    for name in boot.expect_bench:
        m = re.search(r"^bench %s ([0-9]+\.[0-9]{2}) \S+$" % re.escape(name), log, re.M)
        cases.append(("bench." + name, m is not None and float(m.group(1)) > 0))
    if BENCH_SKIPPED not in log:
        problems.append("no %r line (the guest is too small for it)" % BENCH_SKIPPED)
    for m in re.finditer(r"^bench \S+: FAILED: .*$", log, re.M):
        problems.append(m.group(0))
    if status is None:
        problems.append("timed out")
    elif status != EXIT_PASS:
        problems.append("QEMU exited with %d instead of 33 (benchmarks done)" % status)
    return problems, cases


def failing_lines(log, limit=60):
    lines = log.rstrip("\n").split("\n")
    marks = [i for i, l in enumerate(lines)
             if "not ok" in l or "PANIC" in l or re.match(r"^\s+# .*:\d+: ", l)]
    if not marks:
        return lines[-limit:]
    first = max(0, marks[0] - 5)
    return lines[first:first + limit]


def load_font():
    """The kernel's glyphs from the generated build/font.c: {code: [row bits, ...]}."""
    with open(FONT_C) as f:
        text = f.read()
    glyphs = {}
    for m in re.finditer(r"^\s*\[0x([0-9a-f]+)\] = \{([^}]*)\}", text, re.M):
        glyphs[int(m.group(1), 16)] = [int(b, 16) for b in m.group(2).split(",")]
    return glyphs


def read_ppm(path):
    """Returns (width, height, rgb bytes) of a binary PPM as QEMU's screendump writes it."""
    with open(path, "rb") as f:
        data = f.read()
    fields, pos = [], 0
    while len(fields) < 4:  # magic, width, height, maxval, separated by whitespace
        while data[pos:pos + 1].isspace():
            pos += 1
        start = pos
        while not data[pos:pos + 1].isspace():
            pos += 1
        fields.append(data[start:pos])
    if fields[0] != b"P6" or fields[3] != b"255":
        raise ValueError("not an 8-bit binary PPM")
    width, height = int(fields[1]), int(fields[2])
    return width, height, data[pos + 1:pos + 1 + width * height * 3]


def text_at_row(image, glyphs, row, text):
    """Whether text row `row` begins with `text`: each pixel of each cell lit exactly
    where the glyph has ink (lit: not background black)."""
    width, height, rgb = image
    for column, ch in enumerate(text[:width // FONT_WIDTH]):
        glyph = glyphs.get(ord(ch), glyphs[0])
        for y in range(FONT_HEIGHT):
            offset = ((row * FONT_HEIGHT + y) * width + column * FONT_WIDTH) * 3
            for x in range(FONT_WIDTH):
                lit = sum(rgb[offset + 3 * x:offset + 3 * x + 3]) > 96
                if lit != bool(glyph[y] & (0x80 >> x)):
                    return False
    return True


def text_on_screen(image, glyphs, text):
    return any(text_at_row(image, glyphs, row, text) for row in range(image[1] // FONT_HEIGHT))


def monitor_command(boot, command):
    """Sends one command to the QEMU monitor and waits for its next prompt."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(boot.monitor_path())
        reply = b""
        while not reply.endswith(b"(qemu) "):
            reply += sock.recv(4096) or b"(qemu) "
        sock.sendall(command.encode() + b"\n")
        reply = b""
        while not reply.endswith(b"(qemu) "):
            reply += sock.recv(4096) or b"(qemu) "


def serial_lines(boot, log):
    """The serial lines matching each of the boot's patterns, or None until all do."""
    found = [re.search(p, log, re.M) for _, p in boot.screen_lines]
    return [m.group(0) for m in found] if all(found) else None


def screenshot_until_drawn(boot, glyphs, lines):
    """Takes screenshots until each line is drawn at the start of a text row (the screen
    is drawn just after serial). Returns the lines missing from the last one, and it."""
    missing, image = list(lines), None
    for _ in range(SCREENSHOT_TRIES):
        time.sleep(0.5)
        if os.path.exists(boot.screenshot_path()):
            os.remove(boot.screenshot_path())
        monitor_command(boot, "screendump " + boot.screenshot_path())
        image = read_ppm(boot.screenshot_path())
        missing = [l for l in lines if not text_on_screen(image, glyphs, l)]
        if not missing:
            break
    return missing, image


def wait_in_log(boot, pattern, since, timeout_s):
    """Waits until the serial log, from offset `since`, matches the regex."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if re.search(pattern, read_log(boot)[since:], re.M):
            return True
        time.sleep(0.1)
    return False


def type_on_keyboard(boot, glyphs):
    """Types KEYBOARD_KEYS on the PS/2 keyboard; returns [(case, passed, problem)]."""
    since = len(read_log(boot))
    for key in KEYBOARD_KEYS:
        monitor_command(boot, "sendkey " + key)
    answered = wait_in_log(boot, "^%s$" % re.escape(KEYBOARD_ANSWER), since, 30)
    results = [("keyboard_line_answered", answered,
                "typed on the PS/2 keyboard, no %r answer on serial" % KEYBOARD_ANSWER)]
    # The edited line as the screen shows it: the editor must have overwritten what
    # it deleted, so the row goes on blank after it.
    drawn = [KEYBOARD_LINE + " " * 4, KEYBOARD_ANSWER + " " * 4]
    missing, image = screenshot_until_drawn(boot, glyphs, drawn) if answered else (drawn, None)
    results.append(("keyboard_edit_drawn", not missing,
                    "not drawn on the screen: %r" % missing))
    return results


def run_screen_boot(boot):
    """Boots, waits for the serial lines, looks for them in screenshots, then types on
    the keyboard. Returns (problems, cases, seconds, stderr)."""
    start = time.monotonic()
    problems, cases, lines = [], [], None
    proc = subprocess.Popen(qemu_command(boot), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while lines is None and time.monotonic() - start < boot.timeout_s:
            if proc.poll() is not None:
                problems.append("QEMU exited with %d before the screenshot" % proc.returncode)
                break
            lines = serial_lines(boot, read_log(boot))
            time.sleep(0.05)
        if lines is None and not problems:
            problems.append("timed out waiting for serial lines matching %s" %
                            [p for _, p in boot.screen_lines])
        if lines is not None:
            glyphs = load_font()
            missing, image = screenshot_until_drawn(boot, glyphs, lines)
            for (name, _), line in zip(boot.screen_lines, lines):
                cases.append((name, line not in missing))
                if line in missing:
                    problems.append("not drawn on the screen (%dx%d screenshot %s): %r" % (
                        image[0], image[1], os.path.relpath(boot.screenshot_path(), ROOT), line))
            for name, passed, problem in type_on_keyboard(boot, glyphs):
                cases.append((name, passed))
                if not passed:
                    problems.append(problem)
    except (OSError, ValueError) as e:
        problems.append("screenshot failed: %s" % e)
    finally:
        proc.kill()
    stderr = proc.communicate()[1].decode("utf-8", "replace")
    if "PANIC:" in read_log(boot):
        problems.append("the kernel panicked")
    return problems, cases, time.monotonic() - start, stderr


class SerialPipe:
    """A running QEMU's serial port, through its stdio: what it printed so far (with
    carriage returns dropped, also copied to the boot's log file) and a way to type."""

    def __init__(self, proc, log_path):
        self.proc = proc
        self.text = ""
        self.lock = threading.Lock()
        self.log = open(log_path, "wb")
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        fd = self.proc.stdout.fileno()
        while True:
            data = os.read(fd, 4096)
            if not data:
                break
            self.log.write(data)
            self.log.flush()
            with self.lock:
                self.text += data.decode("utf-8", "replace").replace("\r", "")

    def snapshot(self):
        with self.lock:
            return self.text

    def type(self, keys):
        self.proc.stdin.write(keys.encode())
        self.proc.stdin.flush()

    def wait_for(self, pattern, since, timeout_s):
        """The first match of the regex after offset `since`, or None at the deadline or
        when QEMU has exited."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            m = re.compile(pattern, re.M).search(self.snapshot(), since)
            if m:
                return m
            if self.proc.poll() is not None:
                self.reader.join(1)
                return re.compile(pattern, re.M).search(self.snapshot(), since)
            time.sleep(0.02)
        return None

    def command(self, keys, timeout_s=30):
        """Types keys (ending with Enter) and waits for the next prompt; returns what the
        command printed (after the echoed line, before the prompt), or None."""
        since = len(self.snapshot())
        self.type(keys)
        while True:
            # The prompt ends the text, and nothing follows it for a moment (`log`
            # prints earlier prompts too, but never pauses right after one).
            m = self.wait_for(r"\nexo> \Z", since, timeout_s)
            if m is None:
                return None
            time.sleep(0.1)
            text = self.snapshot()
            if len(text) == m.end():
                echoed, _, output = text[since:m.start() + 1].partition("\n")
                return output


LEFT, RIGHT, UP, DOWN, BACKSPACE = "\x1b[D", "\x1b[C", "\x1b[A", "\x1b[B", "\x7f"


def boot_memory_mib(boot):
    args = qemu_command(boot)
    size = args[args.index("-m") + 1]
    return int(size[:-1]) * (1024 if size.endswith("G") else 1)


def shell_session(boot, serial, check):
    """Types the shell's commands and checks the answers through check(name, passed,
    problem). Returns when the session is over or the shell stopped answering."""
    m = serial.wait_for(r"^boot: shell ready in \d+ us\nexo> ", 0, boot.timeout_s)
    if not check("shell_ready", m is not None, "no 'boot: shell ready in N us' and prompt"):
        return
    def run(name, keys, judge, problem, timeout_s=30):
        out = serial.command(keys, timeout_s)
        if out is None:
            check(name, False, "%s: no prompt after %r" % (name, keys))
            return False
        passed = bool(judge(out))
        check(name, passed, "%s: %s; got:\n%s" % (name, problem, out.rstrip()[-1500:]))
        return True

    given_cpus = expected_cpus(boot)[0]
    mem_kib = boot_memory_mib(boot) * 1024
    def mem_plausible(out):
        total = re.search(r"^mem total: (\d+) KiB$", out, re.M)
        free = re.search(r"^mem free: (\d+) KiB$", out, re.M)
        return (total and free and 0.7 * mem_kib <= int(total.group(1)) <= mem_kib and
                0 < int(free.group(1)) <= int(total.group(1)))
    steps = [
        ("help_lists_every_command", "help\r",
         lambda out: all(re.search(r"^  %s\b" % c, out, re.M) for c in SHELL_COMMANDS),
         "help does not list all of %s" % SHELL_COMMANDS),
        ("cpus_online_matches_smp", "cpus\r",
         lambda out: re.search(r"^cpus online: %d$" % given_cpus, out, re.M) and
         len(re.findall(r"^cpu \d+: online", out, re.M)) == given_cpus,
         "expected %d 'cpu N: online' lines and 'cpus online: %d'" % (given_cpus, given_cpus)),
        ("mem_total_plausible", "mem\r", mem_plausible,
         "expected 'mem total: N KiB' within 70-100%% of %d KiB and 'mem free' below it" % mem_kib),
        ("threads_lists_the_shell", "threads\r",
         lambda out: re.search(r"^\s*\d+\s+running\s+\d+\s+\S+\s+shell$", out, re.M) and
         re.search(r"^threads: \d+$", out, re.M),
         "expected the shell thread, running, and a 'threads: N' line"),
        ("echo_echoes", "echo hello   exo\r", lambda out: out == "hello   exo\n",
         "expected 'hello   exo'"),
        ("unknown_command_is_one_line_error", "frobnicate\r",
         lambda out: re.fullmatch(r"exo: unknown command 'frobnicate'[^\n]*\n", out),
         "expected one line 'exo: unknown command ...'"),
        # "echo hlelo", three left, backspace (the first l), right, l: "echo hello".
        ("line_edit_arrows_backspace", "echo hlelo" + LEFT * 3 + BACKSPACE + RIGHT + "l\r",
         lambda out: out == "hello\n", "expected the edited line to say 'hello'"),
        ("history_up_up_down", UP + UP + DOWN + "\r", lambda out: out == "hello\n",
         "up, up, down should recall 'echo hello'"),
        ("history_up_up", UP + UP + "\r",
         lambda out: out.startswith("exo: unknown command 'frobnicate'"),
         "up, up should recall 'frobnicate'"),
        ("uptime_answers", "uptime\r", lambda out: re.match(r"up \d+\.\d{3} s", out),
         "expected 'up N.NNN s'"),
        ("log_has_boot_and_phases", "log\r",
         lambda out: re.search(r"^exo \S+ booting$", out, re.M) and "boot phases (us)" in out,
         "expected the boot banner and the boot phases"),
        ("test_lib_passes", "test lib\r",
         lambda out: re.search(r"^# Totals: pass:[1-9]\d* fail:0 skip:\d+ total:\d+$", out,
                               re.M) and re.search(r"^test: passed$", out, re.M),
         "expected KTAP totals with fail:0 and 'test: passed'", 120),
        ("bench_without_match", "bench no-such-bench\r",
         lambda out: "no benchmark matches 'no-such-bench'" in out,
         "expected 'no benchmark matches'"),
    ]
    if boot.shell_rerun:
        # Suites run again in a live system: the scheduler's threads ran on every
        # CPU, then the frame suite must still reach every free frame.
        totals_ok = r"^# Totals: pass:[1-9]\d* fail:0 skip:\d+ total:\d+$"
        steps += [
            ("test_sched_from_shell", "test sched\r",
             lambda out: re.search(totals_ok, out, re.M), "expected KTAP totals with fail:0", 120),
            ("test_frame_after_threads_elsewhere", "test frame\r",
             lambda out: re.search(totals_ok, out, re.M), "expected KTAP totals with fail:0", 120),
        ]
    for step in steps:
        if not run(*step):
            return
    since = len(serial.snapshot())
    serial.type(boot.shell_end + "\r")
    try:
        status = serial.proc.wait(30)
    except subprocess.TimeoutExpired:
        status = None
    if boot.shell_end == "shutdown":
        said = re.search(r"power: entering ACPI S5", serial.snapshot()[since:])
        # After shutdown, a banner would mean the machine reset and booted again.
        rebooted = re.search(r"^exo \S+ booting$", serial.snapshot()[since:], re.M)
        check("shutdown_powers_off", said and status == 0 and not rebooted,
              "shutdown: QEMU %s%s" % ("still running" if status is None else "exit %d" % status,
                                       ", after booting again" if rebooted else ""))
    else:
        check("reboot_resets", status == 0,
              "reboot: QEMU (-no-reboot) %s" % ("still running" if status is None
                                                else "exit %d" % status))


def run_shell_boot(boot):
    """Boots to the shell and drives it. Returns (problems, cases, seconds, stderr)."""
    start = time.monotonic()
    problems, cases = [], []
    def check(name, passed, problem):
        cases.append((name, bool(passed)))
        if not passed:
            problems.append(problem)
        return bool(passed)
    proc = subprocess.Popen(qemu_command(boot), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    serial = SerialPipe(proc, boot.log_path())
    try:
        shell_session(boot, serial, check)
    except OSError as e:
        problems.append("typing failed: %s" % e)
    finally:
        if proc.poll() is None:
            proc.kill()
        stderr = proc.communicate()[1].decode("utf-8", "replace")
        serial.reader.join(2)
        serial.log.close()
    if "PANIC:" in serial.snapshot():
        problems.append("the kernel panicked")
    return problems, cases, time.monotonic() - start, stderr


def run_boot(boot):
    if os.path.exists(boot.log_path()):
        os.remove(boot.log_path())
    if boot.screen_lines:
        problems, cases, seconds, stderr = run_screen_boot(boot)
        return boot, problems, cases, seconds, stderr, read_log(boot)
    if boot.shell_end:
        problems, cases, seconds, stderr = run_shell_boot(boot)
        return boot, problems, cases, seconds, stderr, read_log(boot)
    status, seconds, stderr = run_qemu(boot)
    log = read_log(boot)
    if boot.expect_message:
        problems, cases = judge_message(boot, log, status), []
    elif boot.expect_panic:
        problems, cases = judge_panic(boot, log, status), []
    elif boot.expect_end:
        problems, cases = judge_end(boot, log, status), []
    elif boot.expect_bench:
        problems, cases = judge_bench(boot, log, status)
    else:
        problems, cases = judge_selftest(log, status)
        problems += judge_cpu_count(boot, log)
    return boot, problems, cases, seconds, stderr, log


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="run only the boots whose name contains this")
    parser.add_argument("--seed", type=int, help="seed for the randomized tests")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    opts = parser.parse_args()

    os.makedirs(LOG_DIR, exist_ok=True)
    boots = [b for b in all_boots(opts.seed) if not opts.only or opts.only in b.name]
    passed = failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=opts.jobs) as pool:
        for boot, problems, cases, seconds, stderr, log in pool.map(run_boot, boots):
            ok_cases = sum(1 for _, ok in cases if ok)
            passed += ok_cases + (0 if problems else 1)
            failed += (len(cases) - ok_cases) + (1 if problems else 0)
            verdict = "FAIL" if problems else "PASS"
            ready = READY_RE.search(log)
            ready = ", shell ready in %s us" % ready.group(1) if ready else ""
            if boot.screen_lines:
                detail = "%d screen and keyboard checks%s" % (len(cases), ready)
            elif boot.shell_end:
                detail = "%d shell checks%s" % (len(cases), ready)
            elif boot.expect_message:
                detail = "message seen"
            elif boot.expect_panic:
                detail = "panic seen"
            elif boot.expect_end:
                detail = boot.expect_end + " seen"
            elif boot.expect_bench:
                detail = "%d figures" % sum(1 for _, ok in cases if ok)
            else:
                detail = "%d cases" % len(cases)
            print("%s %-14s %s, %.1f s" % (verdict, boot.name, detail, seconds), flush=True)
            if problems:
                for p in problems:
                    print("     - " + p)
                print("     command: " + " ".join(qemu_command(boot)))
                print("     log (%s):" % os.path.relpath(boot.log_path(), ROOT))
                for line in failing_lines(log):
                    print("     | " + line)
                if stderr.strip():
                    print("     qemu stderr: " + stderr.strip()[-2000:])
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
