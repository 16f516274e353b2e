#!/usr/bin/env python3
"""Exo's QEMU test harness: boots the kernel under each firmware path and judges
what it prints on the serial port.

The parts, in tests/qemu/: runner.py runs QEMU (command lines, time limits, the
serial log, the monitor socket, the serial pipe; tests/bench/run.py uses it too);
matrix.py lists the boots; judges.py judges the boots that only print (self-test
with its KTAP output, bad input, crash, power, bench); shell.py drives the shell
over serial; screen.py checks the framebuffer console and the PS/2 keyboard. Each
module's docstring says what its kind of boot must show.

Every test case of every boot counts as one result (each check of a shell or screen
boot is one), and so does every boot's own verdict. A KTAP case reported `# SKIP`
counts as skipped, never as passed. The last line is `N passed, N failed, N skipped`.
"""
import argparse
import concurrent.futures
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in tests/: generated files go under build/
from qemu.judges import (FAIL, PASS, SKIP, failing_lines, judge_bench, judge_cpu_count,
                          judge_peer,
                         judge_end, judge_message, judge_panic, judge_selftest)
from qemu.matrix import all_boots, big_boots, qemu_command
from qemu.runner import LOG_DIR, ROOT, read_log, run
from qemu.busybox import run_busybox_boot
from qemu.screen import run_screen_boot
from qemu.shell import run_shell_boot

READY_RE = re.compile(r"^boot: shell ready in (\d+) us$", re.M)


def missing_lines(boot, log):
    return ["the log lacks a line matching %r" % pattern for pattern in boot.log_lines
            if not re.search(pattern, log, re.M)]


def run_boot(boot):
    if os.path.exists(boot.log_path()):
        os.remove(boot.log_path())
    if boot.screen_lines:
        problems, cases, seconds, stderr = run_screen_boot(boot)
        return boot, problems, cases, seconds, stderr, read_log(boot.log_path())
    if boot.shell_end:
        problems, cases, seconds, stderr = run_shell_boot(boot)
        log = read_log(boot.log_path())
        return boot, problems + missing_lines(boot, log), cases, seconds, stderr, log
    if boot.busybox:
        problems, cases, seconds, stderr = run_busybox_boot(boot)
        return boot, problems, cases, seconds, stderr, read_log(boot.log_path())
    # A bad-input boot stops once its message is there, and the kernel must then
    # stay halted, not reset.
    stop = (lambda log: boot.expect_message in log) if boot.expect_message else None
    status, seconds, stderr = run(qemu_command(boot), boot.timeout_s, boot.log_path(), stop,
                                  linger_s=0.5)
    log = read_log(boot.log_path())
    if boot.expect_message:
        problems, cases = judge_message(boot, log, status), []
    elif boot.expect_panic:
        problems, cases = judge_panic(boot, log, status), []
    elif boot.expect_end:
        problems, cases = judge_end(boot, log, status), []
    elif boot.expect_bench:
        problems, cases = judge_bench(boot, log, status)
    elif boot.expect_peer:
        problems, cases = judge_peer(boot, log, status)
    else:
        problems, cases = judge_selftest(log, status)
        problems += judge_cpu_count(boot, log)
        problems += missing_lines(boot, log)
    return boot, problems, cases, seconds, stderr, log


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="run only the boots whose name contains this")
    parser.add_argument("--seed", type=int, help="seed for the randomized tests")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--big", action="store_true",
                        help="the slow boots of `make test-big` (many CPUs) instead of `make test`'s")
    opts = parser.parse_args()

    os.makedirs(LOG_DIR, exist_ok=True)
    if opts.big:
        matrix = [b for b in all_boots(opts.seed) if b.big] + big_boots(opts.seed)
    else:
        matrix = [b for b in all_boots(opts.seed) if not b.big]
    boots = [b for b in matrix if not opts.only or opts.only in b.name]
    passed = failed = skipped = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=opts.jobs) as pool:
        for boot, problems, cases, seconds, stderr, log in pool.map(run_boot, boots):
            verdicts = [v for _, v in cases]
            passed += verdicts.count(PASS) + (0 if problems else 1)
            failed += verdicts.count(FAIL) + (1 if problems else 0)
            skipped += verdicts.count(SKIP)
            verdict = "FAIL" if problems else "PASS"
            ready = READY_RE.search(log)
            ready = ", shell ready in %s us" % ready.group(1) if ready else ""
            if boot.screen_lines:
                detail = "%d screen and keyboard checks%s" % (len(cases), ready)
            elif boot.shell_end:
                detail = "%d shell checks%s" % (len(cases), ready)
            elif boot.busybox:
                detail = "%d busybox shell checks" % len(cases)
            elif boot.expect_message:
                detail = "message seen"
            elif boot.expect_panic:
                detail = "panic seen"
            elif boot.expect_end:
                detail = boot.expect_end + " seen"
            elif boot.expect_bench or boot.expect_peer:
                detail = "%d figures" % verdicts.count(PASS)
            else:
                detail = "%d cases" % len(cases)
                if verdicts.count(SKIP):
                    detail += " (%d skipped)" % verdicts.count(SKIP)
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
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
