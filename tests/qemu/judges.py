"""The judges of the boots that only print: each reads a boot's serial log and QEMU's
exit status and returns the problems it finds (a boot passes when there are none),
and for some, cases: (name, verdict), each counted as one result.

A self-test boot passes only when all of these hold: the banner `exo <version>
booting` appears; the KTAP output has its version line and plan; every suite the
plan announces reports a result; no result is `not ok`; the `# Totals:` line is
there with fail:0; nothing prints `PANIC:`; QEMU exits with status 33 (the kernel
wrote 0x10 to isa-debug-exit). Exit status 0 means a triple fault (-no-reboot), 35
a failed self-test. A boot that runs past its time limit fails. Each KTAP test case
is a case: `ok` passes, `not ok` fails, and `ok ... # SKIP <reason>` is skipped
(never a pass).

A bad-input boot (a CPU without long mode, say) passes when the expected message
appears on the serial port and the kernel then stays halted instead of resetting.

A crash boot runs one deliberately fatal test (a double free, say: `test=<suite>`
names a suite that runs only when named exactly) and passes when the kernel
panics with every expected piece of text and exits with the failure status 35.

A power boot runs a named suite that ends the machine: `power_off` must stop QEMU
through ACPI S5 (run without -no-reboot, so a reset would boot the kernel again and
show a second banner), `reboot` must reset it (QEMU exits on the reset), without the
kernel saying that the method it announced failed.

A bench boot runs `mode=bench` in a small guest and passes when every figure it
can measure there is printed as `bench <name> <value> <unit>` with a positive value
(each figure a case; the values themselves are not judged: no wall-clock
assertions), the million-thread benchmark says the guest is too small, nothing
failed, and QEMU exits with 33.
"""
import re

from qemu.matrix import expected_cpus
from qemu.runner import EXIT_FAIL, EXIT_PASS

# A case's verdict.
PASS, FAIL, SKIP = "pass", "fail", "skip"


def case(name, passed):
    """A case that passed or failed (a check of a shell or screen boot, say)."""
    return name, PASS if passed else FAIL


CASE_RE = re.compile(r"^    (not )?ok (\d+) (\S+)(.*)$")
SKIP_RE = re.compile(r"^\s*#\s*SKIP\b", re.I)
SUITE_RE = re.compile(r"^(not )?ok (\d+) (\S+)")
SUBTEST_RE = re.compile(r"^    # Subtest: (\S+)")
PLAN_RE = re.compile(r"^1\.\.(\d+)$")
TOTALS_RE = re.compile(r"^# Totals: pass:(\d+) fail:(\d+) skip:(\d+) total:(\d+)$")


def ktap_verdict(m):
    """The verdict of a CASE_RE match: a `not ok` fails even with a SKIP directive."""
    if m.group(1):
        return FAIL
    return SKIP if SKIP_RE.match(m.group(4)) else PASS


def judge_selftest(log, status):
    """Returns (problems, cases): a case per KTAP test case."""
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
                cases.append(("%s.%s" % (suite, m.group(3)), ktap_verdict(m)))
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


BENCH_SKIPPED = "bench threads_1m: skipped: needs "


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
        cases.append(case("bench." + name, m is not None and float(m.group(1)) > 0))
    if BENCH_SKIPPED not in log:
        problems.append("no %r line (the guest is too small for it)" % BENCH_SKIPPED)
    for m in re.finditer(r"^bench \S+: FAILED: .*$", log, re.M):
        problems.append(m.group(0))
    if status is None:
        problems.append("timed out")
    elif status != EXIT_PASS:
        problems.append("QEMU exited with %d instead of 33 (benchmarks done)" % status)
    return problems, cases


def judge_peer(boot, log, status):
    """bench_peer as init: (problems, cases), a case per expected figure, passed when
    its line is there with a positive value; it must finish and power off."""
    problems, cases = [], []
    if "PANIC:" in log:
        problems.append("the kernel panicked")
    for name in boot.expect_peer:
        m = re.search(r"^bench %s ([0-9]+\.[0-9]{2}) \S+$" % re.escape(name), log, re.M)
        cases.append(case("peer." + name, m is not None and float(m.group(1)) > 0))
    for m in re.finditer(r"^bench \S+: FAILED: .*$", log, re.M):
        problems.append(m.group(0))
    if not re.search(r"^peer: done$", log, re.M):
        problems.append("no 'peer: done' line")
    if "power: entering ACPI S5" not in log:
        problems.append("bench_peer's reboot(RB_POWER_OFF) did not power off")
    if status is None:
        problems.append("timed out")
    elif status != 0:
        problems.append("QEMU exited with %d instead of 0 (power-off)" % status)
    return problems, cases


def failing_lines(log, limit=60):
    """The lines of a log worth printing under a failed boot: from a little before the
    first failure mark (`not ok`, `PANIC`, a failed expectation), else its end."""
    lines = log.rstrip("\n").split("\n")
    marks = [i for i, l in enumerate(lines)
             if "not ok" in l or "PANIC" in l or re.match(r"^\s+# .*:\d+: ", l)]
    if not marks:
        return lines[-limit:]
    first = max(0, marks[0] - 5)
    return lines[first:first + limit]
