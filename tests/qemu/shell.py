"""The shell boots: the shell driven as a user would, over the serial port (QEMU's
stdio, through pipes).

A shell boot waits for `boot: shell ready in N us` and the prompt, types commands
and checks each answer (`cpus online: N` against -smp, `mem total` against -m, help
naming every command, threads showing the shell, line editing with backspace,
arrows and history, `test lib` passing; with shell_rerun, the scheduler and frame
suites run again in the live system), then types `shutdown` (QEMU must power off;
run without -no-reboot, so a reset would show a second banner) or `reboot` (QEMU,
run with -no-reboot, must exit). Each check is a case.
"""
import re
import subprocess
import time

from qemu.matrix import boot_memory_mib, expected_cpus, expected_numa, qemu_command
from qemu.runner import drive_serial_boot

# Every command `help` must list.
SHELL_COMMANDS = ["help", "mem", "cpus", "numa", "threads", "uptime", "log", "echo", "test",
                  "bench", "reboot", "shutdown"]
LEFT, RIGHT, UP, DOWN, BACKSPACE = "\x1b[D", "\x1b[C", "\x1b[A", "\x1b[B", "\x7f"


def shell_session(boot, serial, check, started):
    """Types the shell's commands and checks the answers through check(name, passed,
    problem); `started` is time.monotonic() when QEMU was started. Returns when the
    session is over or the shell stopped answering."""
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

    def uptime_plausible(out):
        # The kernel's clock against the host's: a calibration that believed a
        # bad clock source showed hours after a second (issue 15).
        m = re.match(r"up (\d+\.\d{3}) s", out)
        return m and 0 < float(m.group(1)) <= time.monotonic() - started + 1

    given_cpus = expected_cpus(boot)[0]
    mem_kib = boot_memory_mib(boot) * 1024
    def mem_plausible(out):
        total = re.search(r"^mem total: (\d+) KiB$", out, re.M)
        free = re.search(r"^mem free: (\d+) KiB$", out, re.M)
        return (total and free and 0.7 * mem_kib <= int(total.group(1)) <= mem_kib and
                0 < int(free.group(1)) <= int(total.group(1)))
    # Without -numa, one node of all CPUs and all memory (less what firmware keeps:
    # UEFI keeps much more than a PVH boot, hence the 70% as for `mem`).
    numa = expected_numa(boot) or (["0-%d" % (given_cpus - 1) if given_cpus > 1 else "0"],
                                   [boot_memory_mib(boot)], [[10]])
    slack_kib = 4096 if expected_numa(boot) else 0.3 * boot_memory_mib(boot) * 1024
    def numa_matches(out):
        cpus, mib, matrix = numa
        if not re.search(r"^numa: %d nodes?$" % len(cpus), out, re.M):
            return False
        for k, (c, m) in enumerate(zip(cpus, mib)):
            line = re.search(r"^node %d: cpus (\S+), mem (\d+) KiB, free (\d+) KiB$" % k, out, re.M)
            if not line or line.group(1) != (c or "none"):
                return False
            kib = int(line.group(2))
            if not (m * 1024 - slack_kib <= kib <= m * 1024 and int(line.group(3)) <= kib):
                return False
        rows = re.findall(r"^\s*(\d+):((?: +\d+)+)$", out, re.M)
        return [[int(d) for d in r[1].split()] for r in rows] == matrix
    steps = [
        ("numa_matches_qemu", "numa\r", numa_matches,
         "expected 'numa: N nodes', 'node K: cpus L, mem N KiB, free N KiB' and the distances "
         "of %r" % (numa,)),
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
        ("uptime_answers", "uptime\r", uptime_plausible,
         "expected 'up N.NNN s', no more than the time since QEMU started"),
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
    if boot.initrd:
        # The IPC demo as the README has a user run it: a key-value server in a
        # forked process, a client's puts and gets over an endpoint.
        demo = ["put 1 = \"exo\"", "put 2 = \"synchronous IPC\"", "get 2 = \"synchronous IPC\"",
                "get 1 = \"exo\"", "get 3: not found", "ipc_demo: done",
                "exo: ipc_demo exited with status 0"]
        steps.append(("ipc_demo_serves_puts_and_gets", "run /bin/ipc_demo\r",
                      lambda out: re.search(r"^ipc_demo: server is process \d+$", out, re.M) and
                      [l for l in out.splitlines() if not l.startswith("ipc_demo: server")] == demo,
                      "expected the demo's server line, then %r" % demo, 60))
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
        # QEMU has exited, but the reader thread may not have drained the pipe
        # yet (seen on a loaded host): read to the end before judging the output.
        serial.reader.join(5)
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
    return drive_serial_boot(boot, qemu_command(boot),
                             lambda serial, check, started: shell_session(boot, serial, check,
                                                                          started))
