#!/usr/bin/env python3
"""`make bench`: Exo's benchmarks beside the host Linux doing the same work.

1. Builds tests/bench/linux_bench.c (the Linux peers) into build/bench/.
2. Chooses the accelerator: KVM when /dev/kvm is there, QEMU starts with it
   (`-cpu host`, else `-cpu host,-arch-capabilities`, which some hosts need:
   "failed to set MSR 0x10a") AND a short benchmark boot finishes in time: a
   nested KVM that emulates every instruction starts fine but runs far slower
   than TCG. Otherwise TCG, with a loud warning that the figures are emulated.
3. Boots build/exo.elf directly (PVH, qboot firmware) with `mode=bench -smp 2`
   and a 6 GiB guest when the host can spare it (the million-thread benchmark
   needs one), and parses its `bench <name> <value> <unit>` lines.
4. Boots to the shell a few times for `boot: shell ready in N us`.
5. Runs the Linux peers, prints the table, writes build/bench.json.

Exit status: 1 when a kernel figure is missing (boot_to_shell_us aside: it needs
the shell), else 0.
"""
import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in tests/: generated files go under build/
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from qemu import runner
from qemu.runner import BUILD, ELF, EXIT_PASS, ROOT, base_command, qboot_args, read_log

LINUX_SRC = os.path.join(ROOT, "tests", "bench", "linux_bench.c")
LINUX_BIN = os.path.join(BUILD, "bench", "linux_bench")
JSON_OUT = os.path.join(BUILD, "bench.json")
SERIAL_LOG = os.path.join(BUILD, "bench", "serial.log")
BIG_GUEST_MIB = 6144
SMALL_GUEST_MIB = 1024
PROBE_BENCH = "frame_alloc_free"
PROBE_TIMEOUT_S = 20      # a working KVM does this boot in about a second
BOOT_TIMEOUT_S = {"kvm": 300, "tcg": 900}
SHELL_BOOTS = 3
SHELL_TIMEOUT_S = 30

BENCH_RE = re.compile(r"^bench (\S+) (-?[0-9.]+) (\S+)$", re.M)
NOTE_RE = re.compile(r"^bench (\S+): (skipped|FAILED): (.*)$", re.M)
LINUX_RE = re.compile(r"^linux (\S+) ([0-9.]+) (\S+)$", re.M)
SHELL_RE = re.compile(r"^boot: shell ready in (\d+) us", re.M)
TSC_RE = re.compile(r"^apic: .*TSC (\d+) kHz \(from ([^)]*)\)", re.M)
TSC_TOLERANCE = 0.05

# The figures of the issue, in table order: (name, unit, target, better, what).
# better: "low" means the target is an upper bound, "high" a lower bound.
FIGURES = [
    ("ctx_switch_ns", "ns", 100, "low", "thread switch, yield ping-pong on one CPU"),
    ("cross_cpu_wake_rtt_ns", "ns", None, "low", "wake round trip between 2 CPUs"),
    ("spawn_join_ns", "ns", 1000, "low", "spawn + run + join a thread"),
    ("frame_alloc_free_ns", "ns", 20, "low", "frame alloc + free"),
    ("kmalloc_free_64_ns", "ns", 20, "low", "kmalloc + kfree, 64 B"),
    ("kmalloc_free_4096_ns", "ns", None, "low", "kmalloc + kfree, 4 KiB"),
    ("threads_1m_ms", "ms", 2000, "low", "1,000,000 threads alive, then joined"),
    ("threads_1m_bytes_per_thread", "bytes", 6144, "low", "memory per thread, 1M alive"),
    ("switch_1m_vs_2_ratio", "x", 1.5, "low", "switch cost, 1M runnable vs 2"),
    ("boot_to_shell_us", "us", 10000, "low", "kernel entry to shell prompt"),
    ("steal_speedup_2cpu", "x", 1.8, "high", "task tree, 2 CPUs vs 1"),
    ("null_syscall_ns", "ns", 50, "low", "null system call (target: later)"),
]
# What Linux does in each row's place (tests/bench/linux_bench.c).
LINUX_PEERS = {
    "ctx_switch_ns": "sched_yield, 2 threads pinned to 1 CPU",
    "cross_cpu_wake_rtt_ns": "futex ping-pong, CPUs 0 and 1",
    "spawn_join_ns": "pthread_create + pthread_join",
    "frame_alloc_free_ns": "mmap 1 page + write + munmap",
    "kmalloc_free_64_ns": "glibc malloc + free, 64 B",
    "kmalloc_free_4096_ns": "glibc malloc + free, 4 KiB",
    "null_syscall_ns": "syscall(SYS_getppid)",
}


def say(text=""):
    print(text, flush=True)


def loud(text):
    bar = "!" * 78
    say(bar)
    for line in text.split("\n"):
        say("!! " + line)
    say(bar)


# ---- the host ------------------------------------------------------------------

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def available_mib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def other_qemus():
    try:
        out = subprocess.run(["pgrep", "-c", "qemu"], capture_output=True, text=True).stdout
        return int(out.strip() or 0)
    except (OSError, ValueError):
        return -1


def host_conditions():
    return {
        "cpu_model": cpu_model(),
        "host_cpus": os.cpu_count(),
        "host_kernel": platform.release(),
        "load_average": os.getloadavg(),
        "other_qemu_processes": other_qemus(),
    }


def build_linux_bench():
    os.makedirs(os.path.dirname(LINUX_BIN), exist_ok=True)
    cc = os.environ.get("HOST_CC", "cc")
    cmd = [cc, "-O2", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-pthread", LINUX_SRC,
           "-o", LINUX_BIN]
    subprocess.run(cmd, check=True)


# ---- QEMU ----------------------------------------------------------------------

def qboot():
    args = qboot_args()
    if not args:
        say("bench: qboot.rom not found (Debian's qemu-system-x86 ships it); using SeaBIOS")
    return args


def boot(accel_args, memory_mib, append, timeout_s, log_path, stop_re=None):
    """Boots Exo directly. Returns (exit status or None if stopped or timed out,
    seconds, serial log, stderr). stop_re: end the boot once the log matches it."""
    cmd = base_command("file:" + log_path) + accel_args + qboot() + [
        "-kernel", ELF, "-append", append, "-smp", "2", "-m", "%dM" % memory_mib]
    status, seconds, stderr = runner.run(cmd, timeout_s, log_path,
                                         stop_re.search if stop_re else None)
    return status, seconds, read_log(log_path), stderr


def probe_accelerator(forced):
    """Returns (name, QEMU arguments, notes): name is "kvm" or "tcg"."""
    tcg = ("tcg", ["-accel", "tcg"], [])
    if forced == "tcg":
        return tcg[0], tcg[1], ["TCG requested (--accel tcg)"]
    notes = []
    if not os.path.exists("/dev/kvm"):
        notes.append("/dev/kvm does not exist")
    elif not os.access("/dev/kvm", os.R_OK | os.W_OK):
        notes.append("/dev/kvm is not readable and writable by this user")
    else:
        for cpu in ["host", "host,-arch-capabilities"]:
            args = ["-accel", "kvm", "-cpu", cpu]
            with tempfile.NamedTemporaryFile(suffix=".log", delete=False) as f:
                log_path = f.name
            status, seconds, log, stderr = boot(
                args, 256, "mode=bench test=" + PROBE_BENCH, PROBE_TIMEOUT_S, log_path)
            os.remove(log_path)
            line = "bench %s_ns " % PROBE_BENCH
            if status == EXIT_PASS and line in log:
                notes.append("KVM with -cpu %s: a short benchmark boot took %.1f s" % (cpu, seconds))
                return "kvm", args, notes
            first_error = next((l for l in stderr.splitlines() if l.strip()), "")
            if status is None:
                notes.append("KVM with -cpu %s starts but did not finish a short benchmark "
                             "boot in %d s (TCG takes a few): unusable, perhaps nested KVM "
                             "emulating every instruction" % (cpu, PROBE_TIMEOUT_S))
            elif status == 0:
                notes.append("KVM with -cpu %s: the guest reset (a triple fault?) before the "
                             "benchmark finished" % cpu)
            else:
                notes.append("KVM with -cpu %s failed (exit %s): %s" % (cpu, status, first_error))
    if forced == "kvm":
        raise SystemExit("bench: --accel kvm, but KVM is unusable: " + "; ".join(notes))
    return tcg[0], tcg[1], notes


# ---- the runs -------------------------------------------------------------------

def parse_exo(log):
    figures = {m.group(1): (float(m.group(2)), m.group(3)) for m in BENCH_RE.finditer(log)}
    notes = ["%s %s: %s" % m.groups() for m in NOTE_RE.finditer(log)]
    return figures, notes


def host_cpu_khz():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return float(line.split(":", 1)[1]) * 1000
    except (OSError, ValueError):
        pass
    return None


def check_tsc(log, accel):
    """Under TCG the guest's TSC is the host's: a calibration far from the host's
    clock rate (a host preempting the guest during the PIT measurement) scales
    every ns figure. Returns (kernel kHz, source, a warning or None)."""
    m = TSC_RE.search(log)
    if not m:
        return None, None, None
    khz, source = int(m.group(1)), m.group(2)
    host = host_cpu_khz()
    if accel == "tcg" and host and abs(khz - host) > TSC_TOLERANCE * host:
        return khz, source, ("the kernel calibrated its TSC at %d kHz (from %s) but the host "
                             "runs at %.0f kHz: every ns/ms figure reads %.2f times its true value "
                             "(a loaded host delays the guest during calibration); rerun on "
                             "a quieter host" % (khz, source, host, host / khz))
    return khz, source, None


def run_exo(accel_args, accel, memory_mib, glob):
    say("bench: booting Exo (mode=bench, -smp 2, -m %dM, %s); under TCG this takes minutes"
        % (memory_mib, accel.upper()))
    append = "mode=bench" + (" test=" + glob if glob else "")
    status, seconds, log, stderr = boot(accel_args, memory_mib, append,
                                        BOOT_TIMEOUT_S[accel], SERIAL_LOG)
    figures, notes = parse_exo(log)
    if status != EXIT_PASS:
        notes.append("the benchmark boot ended with %s" % (
            "a timeout" if status is None else "exit status %d" % status))
        if "PANIC:" in log:
            notes.append("the kernel panicked: see " + os.path.relpath(SERIAL_LOG, ROOT))
        if stderr.strip():
            notes.append("QEMU: " + stderr.strip().splitlines()[-1])
    say("bench: the benchmark boot took %.0f s (serial log: %s)"
        % (seconds, os.path.relpath(SERIAL_LOG, ROOT)))
    return figures, notes, seconds


def run_shell_boots(accel_args, memory_mib):
    """Median of `boot: shell ready in N us` over a few boots, or (None, why)."""
    values, why = [], None
    log_path = os.path.join(BUILD, "bench", "shell.log")
    stop = re.compile(SHELL_RE.pattern + r"|is not available in this build|PANIC:", re.M)
    for _ in range(SHELL_BOOTS):
        status, seconds, log, stderr = boot(accel_args, memory_mib, "mode=shell",
                                            SHELL_TIMEOUT_S, log_path, stop_re=stop)
        m = SHELL_RE.search(log)
        if not m:
            if "is not available in this build" in log:
                why = "this kernel has no shell yet (mode=shell is not available)"
            else:
                why = "no 'boot: shell ready in N us' line within %d s" % SHELL_TIMEOUT_S
            return None, why
        values.append(int(m.group(1)))
    return statistics.median(values), None


def run_linux(filter_text):
    out = subprocess.run([LINUX_BIN] + ([filter_text] if filter_text else []),
                         capture_output=True, text=True, check=True).stdout
    return {m.group(1): (float(m.group(2)), m.group(3)) for m in LINUX_RE.finditer(out)}


# ---- the report -----------------------------------------------------------------

def met(value, target, better):
    if value is None or target is None:
        return None
    return value <= target if better == "low" else value >= target


def fmt(value):
    if value is None:
        return "—"
    if value >= 100:
        return "{:,.0f}".format(value)
    return "{:.2f}".format(value)


def build_rows(exo, linux, boot_us):
    rows = []
    for name, unit, target, better, what in FIGURES:
        exo_value = exo.get(name, (None,))[0]
        if name == "boot_to_shell_us":
            exo_value = boot_us
        linux_value = linux.get(name, (None,))[0]
        ratio = linux_value / exo_value if exo_value and linux_value else None
        rows.append({
            "metric": name, "unit": unit, "what": what, "exo": exo_value,
            "linux": linux_value, "linux_peer": LINUX_PEERS.get(name),
            "linux_over_exo": ratio, "target": target,
            "target_kind": "<=" if better == "low" else ">=",
            "met": met(exo_value, target, better),
        })
    return rows


def print_table(rows, accel):
    header = ("metric", "Exo", "Linux", "Linux/Exo", "target", "met?")
    lines = [header]
    for r in rows:
        target = "%s %s" % (r["target_kind"], fmt(r["target"])) if r["target"] is not None else "—"
        if r["met"] is None:
            verdict = "missing" if r["exo"] is None else "—"
        else:
            verdict = "yes" if r["met"] else "no"
        lines.append((r["metric"], fmt(r["exo"]), fmt(r["linux"]), fmt(r["linux_over_exo"]),
                      target, verdict))
    widths = [max(len(l[i]) for l in lines) for i in range(len(header))]
    say()
    for i, l in enumerate(lines):
        say("  ".join(c.ljust(widths[j]) if j == 0 else c.rjust(widths[j])
                      for j, c in enumerate(l)))
        if i == 0:
            say("  ".join("-" * w for w in widths))
    say()
    say("Units: the metric's suffix (ns, us, ms, bytes; x is a ratio). Linux/Exo > 1: Exo "
        "is faster.")
    if accel == "tcg":
        say("Accelerator: TCG. EMULATED figures: the targets are for KVM and do not apply.")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accel", choices=["auto", "kvm", "tcg"], default="auto")
    parser.add_argument("--memory-mib", type=int, default=None,
                        help="guest memory (default: 6144 when the host can spare it)")
    parser.add_argument("--only", default=None,
                        help="a glob of kernel benchmarks to run (default: all)")
    parser.add_argument("--skip-linux", action="store_true")
    parser.add_argument("--skip-shell", action="store_true")
    args = parser.parse_args()

    if not os.path.exists(ELF):
        raise SystemExit("bench: %s is missing: run make first" % ELF)
    started = time.monotonic()
    os.makedirs(os.path.dirname(SERIAL_LOG), exist_ok=True)
    conditions = host_conditions()
    say("bench: host %s, %s CPUs, Linux %s, load average %.2f, %d other QEMU processes"
        % (conditions["cpu_model"], conditions["host_cpus"], conditions["host_kernel"],
           conditions["load_average"][0], conditions["other_qemu_processes"]))
    if not args.skip_linux:
        build_linux_bench()

    accel, accel_args, accel_notes = probe_accelerator(args.accel)
    for note in accel_notes:
        say("bench: " + note)
    if accel == "tcg":
        loud("KVM is not usable here: running under TCG, QEMU's emulator.\n"
             "Every Exo figure below is EMULATED: it says little about real hardware,\n"
             "and the performance targets (set for KVM) do not apply to it.")

    memory_mib = args.memory_mib
    if memory_mib is None:
        spare = available_mib()
        memory_mib = BIG_GUEST_MIB if spare >= BIG_GUEST_MIB + 1024 else SMALL_GUEST_MIB
        if memory_mib != BIG_GUEST_MIB:
            loud("The host has %d MiB available: the guest gets %d MiB, too little for the\n"
                 "million-thread benchmark (it needs a 6 GiB guest)." % (spare, memory_mib))

    exo, exo_notes, exo_seconds = run_exo(accel_args, accel, memory_mib, args.only)
    tsc_khz, tsc_source, tsc_warning = check_tsc(read_log(SERIAL_LOG), accel)
    if tsc_warning:
        loud(tsc_warning)
        exo_notes.append(tsc_warning)
    boot_us, boot_why = (None, "skipped (--skip-shell)") if args.skip_shell else \
        run_shell_boots(accel_args, memory_mib)
    if boot_why:
        exo_notes.append("boot_to_shell_us missing: " + boot_why)
    linux = {} if args.skip_linux else run_linux(None)

    rows = build_rows(exo, linux, boot_us)
    print_table(rows, accel)
    listed = {r["metric"] for r in rows}
    extra = {k: v for k, v in exo.items() if k not in listed}
    if extra:
        say("Other Exo figures: " + ", ".join("%s %s %s" % (k, fmt(v[0]), v[1])
                                               for k, v in sorted(extra.items())))
    for note in exo_notes:
        say("note: " + note)
    # null_syscall_ns has no Exo side yet (no system calls); boot_to_shell_us comes
    # from the shell, reported above when it is not there.
    missing = [r["metric"] for r in rows if r["exo"] is None and r["metric"] != "null_syscall_ns"]
    if missing:
        say("MISSING Exo figures: " + ", ".join(missing))
    failed = [m for m in missing if m != "boot_to_shell_us"]

    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "accelerator": accel,
        "accelerator_args": accel_args,
        "accelerator_notes": accel_notes,
        "emulated": accel == "tcg",
        "guest": {"smp": 2, "memory_mib": memory_mib, "boot": "PVH direct boot, qboot"},
        "host": conditions,
        "host_load_after": os.getloadavg(),
        "guest_tsc_khz": tsc_khz,
        "guest_tsc_source": tsc_source,
        "figures": rows,
        "exo_other_figures": {k: {"value": v[0], "unit": v[1]} for k, v in extra.items()},
        "notes": exo_notes,
        "missing": missing,
        "exo_boot_seconds": round(exo_seconds, 1),
        "total_seconds": round(time.monotonic() - started, 1),
    }
    with open(JSON_OUT, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    say("bench: wrote %s in %.0f s" % (os.path.relpath(JSON_OUT, ROOT), report["total_seconds"]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
