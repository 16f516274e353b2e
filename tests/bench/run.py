#!/usr/bin/env python3
"""`make bench`: Exo's benchmarks beside Linux, in three groups and one table.

1. Path length (deterministic). Every single-CPU figure under QEMU TCG with
   `-icount shift=0,sleep=off -smp 1` and the RTC on the virtual clock at a fixed
   date: the guest TSC then counts guest instructions and nothing from the host
   clock reaches the guest, so a TSC delta is a path length that repeats to the
   instruction. Exo runs user/bench_peer.c (the initrd's /bin/bench_peer, as
   init= with its arguments after `--`; it powers the machine off at the end), and
   its kernel benchmarks' `<name>_ticks` lines (mode=bench) and boot-to-shell ticks
   give the kernel-only rows; Debian's Linux kernel (the package linux-image-amd64 depends on, fetched
   with `apt-get download` into build/linux/, not installed) booted on the same
   QEMU with the same flags and the same bench_peer binary as /init, once with default
   mitigations and once with mitigations=off (its vulnerability files printed).
2. Wall clock, same emulator: the figures that need 2 CPUs, Exo and Linux under
   TCG with -smp 2, each booted --runs times (default 5): median and spread.
3. Topology, Exo alone under TCG: the steal speedup at 4 CPUs (the task tree of
   steal_speedup_2cpu on 1 CPU against 4; --runs boots) and the time the boot takes
   to start every CPU at -smp 64 and -smp 128 (one boot each).
4. Context: bench_peer on the host's native Linux (host TSC cycles and ns).

Writes build/bench.json (every figure, QEMU version, CPU model, flags) and
build/bench.svg (Exo beside Linux per path-length figure, log scale).
Exit status 1 when an Exo figure of a selected group is missing or FAILED.
"""
import argparse
import datetime
import fnmatch
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in tests/: generated files go under build/
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from qemu import runner
from qemu.runner import BUILD, ELF, EXIT_PASS, QEMU, ROOT, base_command, qboot_args, read_log

OUT_DIR = os.path.join(BUILD, "bench")
# The initrd's copy (user/programs.mk builds it): Exo and Linux run the same binary.
PEER_BIN = os.path.join(BUILD, "user", "bin", "bench_peer")
INITRD = os.path.join(BUILD, "initrd.cpio")
PEER_CPIO = os.path.join(OUT_DIR, "peer.cpio")
LINUX_DIR = os.path.join(BUILD, "linux")
JSON_OUT = os.path.join(BUILD, "bench.json")
SVG_OUT = os.path.join(BUILD, "bench.svg")

ICOUNT = ["-accel", "tcg", "-icount", "shift=0,sleep=off",
          "-rtc", "base=2024-01-01T00:00:00,clock=vm"]
TCG = ["-accel", "tcg"]
GUEST_MIB = 1024
LINUX_APPEND = "rdinit=/init console=ttyS0 quiet panic=-1 nokaslr"
TIMEOUT_S = 240
WALL_RUNS = 5

BENCH_RE = re.compile(r"^bench (\S+) (-?[0-9.]+) (\S+)$", re.M)
NOTE_RE = re.compile(r"^bench (\S+): (skipped|FAILED): (.*)$", re.M)
VULN_RE = re.compile(r"^vulnerability (\S+): (.*)$", re.M)
SHELL_TICKS_RE = re.compile(r"^boot: shell ready after (\d+) TSC ticks$", re.M)
SHELL_RE = re.compile(r"^boot: shell ready in (\d+) us", re.M)

# Path-length rows: (figure, Exo's line or None, the peer's line or None, what).
# An Exo line "peer:<name>" is bench_peer's own figure on Exo (the same binary as
# Linux's column); the others are the kernel's benchmarks (mode=bench), which have
# no Linux peer.
PEER_PREFIX = "peer:"
# An Exo line "ipc:<name>" comes from the initrd's /bin/ipc_bench as init (Exo's
# own IPC calls; the Linux analogs are the rows that follow them).
IPC_PREFIX = "ipc:"
PATH_ROWS = [
    ("null_syscall", "peer:getppid", "getppid", "getppid through musl's syscall()"),
    ("thread_switch", "peer:sched_yield_switch", "sched_yield_switch",
     "switch, 2 threads yielding on 1 CPU"),
    ("ipc_rtt_same_cpu", "ipc:ipc_rtt_same_cpu", None,
     "Exo IPC: ipc_call + ipc_reply_recv, 6 register words, 2 processes, 1 CPU"),
    ("ipc_copy_4k", "ipc:ipc_copy_4k", None, "Exo IPC: the same with a 4 KiB buffer in the call"),
    ("ipc_copy_64k", "ipc:ipc_copy_64k", None, "Exo IPC: the same with 64 KiB"),
    ("ipc_page_move_2m", "ipc:ipc_page_move_2m", None,
     "Exo IPC: a populated 2 MiB region moved in the call and back in the reply"),
    ("futex_pingpong", "peer:futex_pingpong", "futex_pingpong",
     "futex ping-pong round trip between 2 threads, 1 CPU"),
    ("pipe_roundtrip", "peer:pipe_roundtrip", "pipe_roundtrip",
     "1-byte pipe round trip, 2 processes, 1 CPU"),
    ("unix_socket_roundtrip", "peer:unix_socket_roundtrip", "unix_socket_roundtrip",
     "1-byte socketpair(AF_UNIX, SOCK_STREAM) round trip, 2 processes, 1 CPU"),
    ("thread_create_join", "peer:thread_create_join", "thread_create_join",
     "pthread_create + join"),
    ("fork_exit_wait", "peer:fork_exit_wait", "fork_exit_wait", "fork + _exit + waitpid"),
    ("posix_spawn_wait", "peer:posix_spawn_wait", "posix_spawn_wait",
     "posix_spawn + waitpid"),
    ("kthread_switch", "ctx_switch_ticks", None, "kernel: 2 kernel threads yielding, 1 CPU"),
    ("kthread_spawn_join", "spawn_join_ticks", None,
     "kernel: spawn + run + join a 4 KiB-stack kernel thread"),
    ("frame_alloc_free", "frame_alloc_free_ticks", None, "frame alloc + free"),
    ("kmalloc_free_64", "kmalloc_free_64_ticks", None, "kmalloc + kfree, 64 B"),
    ("kmalloc_free_4096", "kmalloc_free_4096_ticks", None, "kmalloc + kfree, 4 KiB"),
    ("kstack_alloc_free", "kstack_alloc_free_ticks", None, "kernel stack alloc + free"),
    ("map_unmap_4k", "map_unmap_4k_ticks", None, "4 KiB map + unmap"),
    ("boot_to_shell", "boot_to_shell", None, "kernel entry to shell prompt"),
]
# Wall-clock rows (2 CPUs): (figure, Exo's line, the peer's line, unit, what).
WALL_ROWS = [
    ("cross_cpu_wake_rtt", "cross_cpu_wake_rtt_ns", "cross_cpu_futex_rtt_ns", "ns",
     "wake round trip between CPUs 0 and 1 (Exo: semaphores, Linux: futex)"),
    ("steal_speedup_2cpu", "steal_speedup_2cpu", "steal_speedup_2cpu", "x",
     "task tree of 63 threads, time on 1 CPU / on 2 (higher is better)"),
    ("ipc_rtt_cross_cpu", "ipc:ipc_rtt_cross_cpu_ns", None, "ns",
     "Exo IPC register round trip, client pinned to CPU 0, server to CPU 1"),
]
# The million-thread benchmark: Exo only, one boot with -smp 2 in a 6 GiB guest.
CROWD_FIGURES = ["threads_1m_ms", "threads_1m_bytes_per_thread", "switch_1m_vs_2_ratio"]
CROWD_MIB = 6144
# Topology (Exo only, TCG): (figure, CPUs, Exo's benchmark, its line, unit, what).
# steal_speedup_4cpu boots --runs times; each bring-up figure is one boot.
TOPOLOGY_ROWS = [
    ("steal_speedup_4cpu", 4, "steal_speedup_4cpu", "steal_speedup_4cpu", "x",
     "task tree of 63 threads, time on 1 CPU / on 4 (higher is better)"),
    ("cpu_bringup_64cpu", 64, "cpu_bringup", "cpu_bringup_ms", "ms",
     "boot's start of the 63 other CPUs, -smp 64"),
    ("cpu_bringup_128cpu", 128, "cpu_bringup", "cpu_bringup_ms", "ms",
     "boot's start of the 127 other CPUs, -smp 128"),
]
GROUPS = ["path", "wall", "topology", "context"]


def say(text=""):
    print(text, flush=True)


def run_text(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout
    except OSError:
        return ""


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


def conditions():
    return {
        "cpu_model": cpu_model(),
        "host_cpus": os.cpu_count(),
        "host_kernel": platform.release(),
        "qemu": (run_text([QEMU, "--version"]).splitlines() or ["unknown"])[0],
        "load_average": os.getloadavg(),
    }


# ---- the peer and Linux ------------------------------------------------------------

def build_peer():
    """Linux's initramfs around the initrd's bench_peer (make builds both)."""
    os.makedirs(OUT_DIR, exist_ok=True)
    if not os.path.exists(PEER_BIN) or not os.path.exists(INITRD):
        raise SystemExit("bench: %s or %s is missing: run make first (it needs musl-tools)"
                         % (os.path.relpath(PEER_BIN, ROOT), os.path.relpath(INITRD, ROOT)))
    write_cpio(PEER_CPIO, [("dev", 0o40755, b""), ("sys", 0o40755, b""),
                           ("init", 0o100755, open(PEER_BIN, "rb").read())])


def write_cpio(path, entries):
    """A cpio archive in the newc format: (name, mode, contents) each, then the
    trailer; headers and contents padded to 4 bytes."""
    def pad(blob):
        return blob + b"\0" * (-len(blob) % 4)
    out = b""
    for ino, (name, mode, data) in enumerate(entries + [("TRAILER!!!", 0, b"")], 1):
        name_bytes = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name_bytes), 0]
        out += pad(b"070701" + "".join("%08X" % v for v in fields).encode() + name_bytes)
        out += pad(data)
    with open(path, "wb") as f:
        f.write(out)


def linux_kernel():
    """The vmlinuz of the package linux-image-amd64 depends on today, fetched and
    unpacked into build/linux/ when it is not there yet. Returns (path, package)."""
    depends = run_text(["apt-cache", "depends", "linux-image-amd64"])
    m = re.search(r"Depends: (linux-image-\S+)", depends)
    if not m:
        raise SystemExit("bench: `apt-cache depends linux-image-amd64` names no kernel "
                         "package (run apt-get update?)")
    package = m.group(1)
    vmlinuz = os.path.join(LINUX_DIR, "boot", "vmlinuz-" + package[len("linux-image-"):])
    if not os.path.exists(vmlinuz):
        debs = os.path.join(LINUX_DIR, "deb")
        os.makedirs(debs, exist_ok=True)
        say("bench: fetching %s (apt-get download, about 70 MB; not installed)" % package)
        subprocess.run(["apt-get", "download", package], cwd=debs, check=True)
        deb = [f for f in os.listdir(debs) if f.startswith(package + "_")][0]
        subprocess.run(["dpkg-deb", "-x", os.path.join(debs, deb), LINUX_DIR], check=True)
    return vmlinuz, package


# ---- boots ---------------------------------------------------------------------------

def boot(name, args, stop_re=None):
    """One QEMU run; returns (status, seconds, serial log)."""
    log_path = os.path.join(OUT_DIR, name + ".log")
    cmd = base_command("file:" + log_path) + args
    status, seconds, stderr = runner.run(cmd, TIMEOUT_S, log_path,
                                         stop_re.search if stop_re else None)
    log = read_log(log_path)
    if stderr.strip():
        log += "\nqemu: " + stderr.strip().splitlines()[-1]
    return status, seconds, log


def parse(log):
    figures = {m.group(1): float(m.group(2)) for m in BENCH_RE.finditer(log)}
    notes = ["%s %s: %s" % m.groups() for m in NOTE_RE.finditer(log)]
    return figures, notes


def exo_boot(name, accel, smp, append, stop_re=None):
    args = accel + qboot_args() + ["-kernel", ELF, "-append", append, "-smp", str(smp),
                                   "-m", "%dM" % GUEST_MIB]
    status, seconds, log = boot(name, args, stop_re)
    figures, notes = parse(log)
    if stop_re is None and status != EXIT_PASS:
        notes.append("Exo's %s boot ended with %s" % (
            name, "a timeout" if status is None else "exit status %s" % status))
    if "PANIC:" in log:
        notes.append("Exo panicked in the %s boot: see build/bench/%s.log" % (name, name))
    return figures, notes, seconds, args


def exo_init_boot(name, accel, smp, program, words, done, prefix, stop_at_done):
    """An initrd program as Exo's init, with `words` as its arguments: bench_peer
    (it powers off) or ipc_bench (stopped at its last line, stop_at_done). `done`:
    the line it ends with; its figures come back under `prefix`."""
    append = " ".join(["mode=shell", "init=/bin/" + program] + (["--"] + words if words else []))
    args = accel + qboot_args() + ["-kernel", ELF, "-initrd", INITRD, "-append", append,
                                   "-smp", str(smp), "-m", "%dM" % GUEST_MIB]
    done_re = re.compile(r"^%s$" % re.escape(done), re.M)
    status, seconds, log = boot(name, args, re.compile(r"^%s$|PANIC:" % re.escape(done), re.M)
                                if stop_at_done else None)
    figures, notes = parse(log)
    if not done_re.search(log):
        notes.append("%s on Exo (%s) did not finish (status %s): see build/bench/%s.log"
                     % (program, name, status, name))
    if "PANIC:" in log:
        notes.append("Exo panicked in the %s boot: see build/bench/%s.log" % (name, name))
    return {prefix + k: v for k, v in figures.items()}, notes, seconds, args


def exo_peer_boot(name, accel, smp, words):
    return exo_init_boot(name, accel, smp, "bench_peer", words, "peer: done", PEER_PREFIX, False)


def exo_ipc_boot(name, accel, smp, words):
    return exo_init_boot(name, accel, smp, "ipc_bench", words, "ipc_bench: done", IPC_PREFIX,
                         True)


def linux_boot(name, vmlinuz, accel, smp, extra, words):
    append = " ".join([LINUX_APPEND] + extra + ["--"] + words)
    args = accel + ["-kernel", vmlinuz, "-initrd", PEER_CPIO, "-append", append,
                    "-smp", str(smp), "-m", "%dM" % GUEST_MIB]
    status, seconds, log = boot(name, args)
    figures, notes = parse(log)
    if "peer: done" not in log:
        notes.append("Linux's %s boot did not finish (status %s): see build/bench/%s.log"
                     % (name, status, name))
    vulns = {m.group(1): m.group(2) for m in VULN_RE.finditer(log)}
    return figures, notes, seconds, vulns, args


def peer_words(group, only):
    return [group] + (["figures=" + ",".join(only)] if only else [])


# ---- the groups ----------------------------------------------------------------------

def selected(figure, only):
    return not only or any(fnmatch.fnmatch(figure, g) for g in only)


def path_group(vmlinuz, only, skip_linux):
    rows = [r for r in PATH_ROWS if selected(r[0], only)]
    exo_globs = sorted({r[1][:-len("_ticks")] for r in rows
                        if r[1] and r[1].endswith("_ticks")})
    exo_peer_names = [r[1][len(PEER_PREFIX):] for r in rows
                      if r[1] and r[1].startswith(PEER_PREFIX)]
    peer_names = [r[2] for r in rows if r[2]]
    result = {"rows": rows, "exo": {}, "linux": {}, "linux_mitigations_off": {},
              "notes": [], "vulnerabilities": {}, "seconds": {}, "qemu_args": {}}
    if exo_globs:
        say("bench: path length: Exo, mode=bench, -smp 1, icount")
        # The kernel takes globs of up to 63 characters: all of them are "*" (the
        # 2-CPU and 6 GiB benchmarks then skip themselves; their notes are dropped).
        globs = ",".join(exo_globs)
        figs, notes, secs, args = exo_boot("path-exo", ICOUNT, 1, "mode=bench test=" +
                                           (globs if len(globs) < 64 else "*"))
        result["exo"].update(figs)
        result["notes"] += [n for n in notes if " skipped: " not in n
                            or n.split()[0] in exo_globs]
        result["seconds"]["exo"] = round(secs, 1)
        result["qemu_args"]["exo"] = args
    if exo_peer_names:
        say("bench: path length: Exo, bench_peer as init, -smp 1, icount")
        figs, notes, secs, args = exo_peer_boot(
            "path-exo-peer", ICOUNT, 1, peer_words("path", exo_peer_names if only else None))
        result["exo"].update(figs)
        result["notes"] += notes
        result["seconds"]["exo_peer"] = round(secs, 1)
        result["qemu_args"]["exo_peer"] = args
    if any(r[1] and r[1].startswith(IPC_PREFIX) for r in rows):
        say("bench: path length: Exo, ipc_bench as init, -smp 1, icount")
        figs, notes, secs, args = exo_ipc_boot("path-exo-ipc", ICOUNT, 1, [])
        result["exo"].update(figs)
        result["notes"] += notes
        result["seconds"]["exo_ipc"] = round(secs, 1)
        result["qemu_args"]["exo_ipc"] = args
    if any(r[1] == "boot_to_shell" for r in rows):
        say("bench: path length: Exo, boot to the shell, -smp 1, icount")
        stop = re.compile(SHELL_RE.pattern + r"|PANIC:", re.M)
        _, notes, secs, _ = exo_boot("path-exo-shell", ICOUNT, 1, "mode=shell", stop)
        m = SHELL_TICKS_RE.search(read_log(os.path.join(OUT_DIR, "path-exo-shell.log")))
        if m:
            result["exo"]["boot_to_shell"] = float(m.group(1))
        else:
            notes.append("no 'boot: shell ready after N TSC ticks' line")
        result["notes"] += notes
        result["seconds"]["exo_shell"] = round(secs, 1)
    if peer_names and not skip_linux:
        only_peer = peer_names if only else None
        for key, extra in [("linux", []), ("linux_mitigations_off", ["mitigations=off"])]:
            say("bench: path length: Linux%s, bench_peer as /init, -smp 1, icount"
                % (" " + extra[0] if extra else ""))
            figs, notes, secs, vulns, args = linux_boot(
                "path-" + key.replace("_", "-"), vmlinuz, ICOUNT, 1, extra,
                peer_words("path", only_peer))
            result[key].update(figs)
            result["notes"] += notes
            result["vulnerabilities"][key] = vulns
            result["seconds"][key] = round(secs, 1)
            result["qemu_args"][key] = args
    return result


def spread(values):
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": values}


def wall_group(vmlinuz, only, skip_linux, runs):
    rows = [r for r in WALL_ROWS if selected(r[0], only)]
    result = {"rows": rows, "exo": {}, "linux": {}, "notes": [], "qemu_args": {}}
    if not rows:
        return result
    exo_runs = {r[0]: [] for r in rows}
    linux_runs = {r[0]: [] for r in rows}
    kernel_rows = [r for r in rows if not r[1].startswith(IPC_PREFIX)]
    ipc_rows = [r for r in rows if r[1].startswith(IPC_PREFIX)]
    exo_globs = ",".join(sorted({r[1].rsplit("_ns", 1)[0] for r in kernel_rows}))
    peer_names = [r[2] for r in rows if r[2]]
    for run in range(runs):
        say("bench: wall clock, run %d of %d: Exo and Linux, -smp 2, TCG" % (run + 1, runs))
        figs = {}
        if kernel_rows:
            figs, notes, _, args = exo_boot("wall-exo", TCG, 2, "mode=bench test=" + exo_globs)
            result["notes"] += notes
            result["qemu_args"]["exo"] = args
        if ipc_rows:
            ipc_figs, notes, _, args = exo_ipc_boot("wall-exo-ipc", TCG, 2, ["cross"])
            figs.update(ipc_figs)
            result["notes"] += notes
            result["qemu_args"]["exo_ipc"] = args
        for r in rows:
            if r[1] in figs:
                exo_runs[r[0]].append(figs[r[1]])
        if skip_linux or not peer_names:
            continue
        figs, notes, _, _, args = linux_boot("wall-linux", vmlinuz, TCG, 2, [],
                                             peer_words("wall", peer_names if only else None))
        result["notes"] += notes
        result["qemu_args"]["linux"] = args
        for r in rows:
            if r[2] and r[2] in figs:
                linux_runs[r[0]].append(figs[r[2]])
    result["exo"] = {k: spread(v) for k, v in exo_runs.items()}
    result["linux"] = {k: spread(v) for k, v in linux_runs.items()}
    return result


def topology_group(only, runs):
    """Exo alone under TCG: the steal speedup at 4 CPUs (--runs boots) and the time
    to start every CPU at 64 and 128 (one boot each)."""
    rows = [r for r in TOPOLOGY_ROWS if selected(r[0], only)]
    result = {"rows": rows, "exo": {}, "notes": [], "qemu_args": {}}
    for figure, cpus, bench, line, unit, _ in rows:
        boots = runs if bench.startswith("steal") else 1
        values = []
        for run in range(boots):
            say("bench: topology: Exo's %s, -smp %d, TCG, boot %d of %d"
                % (bench, cpus, run + 1, boots))
            figs, notes, _, args = exo_boot("topology-%s" % figure, TCG, cpus,
                                            "mode=bench test=" + bench)
            result["notes"] += notes
            result["qemu_args"][figure] = args
            if line in figs:
                values.append(figs[line])
            if "cpu_bringup_per_cpu_us" in figs:
                result.setdefault("per_cpu_us", {})[figure] = figs["cpu_bringup_per_cpu_us"]
        result["exo"][figure] = spread(values)
    return result


def available_mib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    return 0


def crowd_group(only):
    """threads_1m, once: Exo only (Linux has no peer for it), wall clock under TCG."""
    if not selected("threads_1m", only):
        return None
    if available_mib() < CROWD_MIB + 1024:
        return {"figures": {}, "notes": ["threads_1m not run: the host cannot spare a "
                                         "%d MiB guest" % CROWD_MIB]}
    say("bench: wall clock: Exo's threads_1m, -smp 2 -m %dM, TCG, one boot" % CROWD_MIB)
    args = TCG + qboot_args() + ["-kernel", ELF, "-append", "mode=bench test=threads_1m",
                                 "-smp", "2", "-m", "%dM" % CROWD_MIB]
    status, seconds, log = boot("wall-exo-threads-1m", args)
    figs, notes = parse(log)
    if status != EXIT_PASS:
        notes.append("the threads_1m boot ended with status %s" % status)
    return {"figures": {k: figs[k] for k in CROWD_FIGURES if k in figs}, "notes": notes,
            "seconds": round(seconds, 1), "qemu_args": args}


def context_group(only):
    names = [r[2] for r in PATH_ROWS + [(w[0], w[1], w[2]) for w in WALL_ROWS]
             if r[2] and selected(r[0], only)]
    say("bench: context: bench_peer on this host's native Linux")
    out = subprocess.run([PEER_BIN, "all", "figures=" + ",".join(names)],
                         capture_output=True, text=True, timeout=TIMEOUT_S).stdout
    figs, notes = parse(out)
    return {"figures": figs, "notes": notes}


# ---- the report -----------------------------------------------------------------------

def fmt(value, unit=""):
    if value is None:
        return "—"
    if unit == "x":
        return "{:.2f}".format(value)
    if value >= 100:
        return "{:,.0f}".format(value)
    return "{:.2f}".format(value).rstrip("0").rstrip(".")


def ratio(linux, exo):
    return linux / exo if linux is not None and exo else None


def table(header, lines):
    widths = [max(len(l[i]) for l in [header] + lines) for i in range(len(header))]
    def row(cells):
        return "  ".join(c.ljust(widths[j]) if j == 0 else c.rjust(widths[j])
                         for j, c in enumerate(cells))
    return [row(header), "  ".join("-" * w for w in widths)] + [row(l) for l in lines]


def path_lines(path, context):
    out = []
    for figure, exo_key, linux_key, what in path["rows"]:
        exo = path["exo"].get(exo_key) if exo_key else None
        linux = path["linux"].get(linux_key) if linux_key else None
        off = path["linux_mitigations_off"].get(linux_key) if linux_key else None
        host = context["figures"].get(linux_key) if context and linux_key else None
        out.append((figure, fmt(exo), fmt(linux), fmt(off), fmt(ratio(linux, exo)),
                    fmt(host)))
    return out


def wall_lines(wall, context):
    out = []
    for figure, _, linux_key, unit, _ in wall["rows"]:
        cells = [figure + " (%s)" % unit]
        for side in ("exo", "linux"):
            s = wall[side].get(figure)
            cells.append("%s [%s–%s] n=%d" % (fmt(s["median"], unit), fmt(s["min"], unit),
                                              fmt(s["max"], unit), len(s["runs"]))
                         if s else "—")
        e, l = wall["exo"].get(figure), wall["linux"].get(figure)
        r = None
        if e and l:
            r = e["median"] / l["median"] if unit == "x" else ratio(l["median"], e["median"])
        cells.append(fmt(r, "x"))
        host = context["figures"].get(linux_key) if context else None
        cells.append(fmt(host, unit))
        out.append(tuple(cells))
    return out


def print_report(report):
    path, wall, context = report.get("path"), report.get("wall"), report.get("context")
    if path:
        say()
        say("PATH LENGTH: guest instructions per operation, QEMU %s TCG -icount "
            "shift=0,sleep=off -smp 1 (exact)" % report["conditions"]["qemu"].split()[3])
        for l in table(("figure", "Exo", "Linux", "Linux mit=off", "Linux/Exo",
                        "host cycles*"), path_lines(path, context)):
            say("  " + l)
    if wall and wall["rows"]:
        say()
        say("WALL CLOCK: the same TCG, -smp 2, median [min–max] of %d boots each"
            % report["wall_runs"])
        for l in table(("figure", "Exo", "Linux", "Exo adv.", "host*"),
                       wall_lines(wall, context)):
            say("  " + l)
        say("  Exo adv.: Linux/Exo for times, Exo/Linux for speedups (> 1: Exo ahead).")
    topology = report.get("topology")
    if topology and topology["rows"]:
        say()
        say("TOPOLOGY: Exo alone, TCG, -m %dM; median [min–max] of the boots" % GUEST_MIB)
        lines = []
        for figure, cpus, _, _, unit, _ in topology["rows"]:
            s = topology["exo"].get(figure)
            per_cpu = topology.get("per_cpu_us", {}).get(figure)
            lines.append((figure + " (%s)" % unit, "%s [%s–%s] n=%d" % (
                fmt(s["median"], unit), fmt(s["min"], unit), fmt(s["max"], unit),
                len(s["runs"])) if s else "—", fmt(per_cpu, "us") if per_cpu else "—"))
        for l in table(("figure", "Exo", "per CPU (us)"), lines):
            say("  " + l)
    crowd = report.get("crowd")
    if crowd and crowd["figures"]:
        say("  Exo alone, one boot, -smp 2 -m %dM: " % CROWD_MIB + ", ".join(
            "%s %s" % (k, fmt(v, "x" if k.endswith("ratio") else "")) for k, v in
            crowd["figures"].items()))
    if context:
        say()
        say("* CONTEXT: bench_peer on this host's native Linux %s (%s): TSC cycles, not "
            "instructions; not comparable with the columns beside it."
            % (report["conditions"]["host_kernel"], report["conditions"]["cpu_model"]))
    if path:
        say("Rows with both columns: the same bench_peer binary on each kernel, as PID 1; "
            "the others are Exo's kernel benchmarks (mode=bench):")
        for figure, exo_key, linux_key, what in path["rows"]:
            say("  %s: %s" % (figure, what))
    if path and path["vulnerabilities"]:
        say("Linux's /sys/devices/system/cpu/vulnerabilities (files reading 'Not affected' "
            "left out):")
        for key, vulns in path["vulnerabilities"].items():
            say("  %s:" % ("mitigations=off" if key.endswith("off") else "default mitigations"))
            for name, text in sorted(vulns.items()):
                if text != "Not affected":
                    say("    %s: %s" % (name, text))
    if topology:
        for figure, _, _, _, _, what in topology["rows"]:
            say("  %s: %s" % (figure, what))
    for group in (path, wall, report.get("crowd"), topology, context):
        for note in (group or {}).get("notes", []):
            say("note: " + note)


def svg(report):
    """Horizontal bars, log scale: per path-length figure, Exo beside Linux."""
    path = report.get("path")
    if not path:
        return None
    series = [("exo", "Exo", "#1f77b4"), ("linux", "Linux 6.1", "#d62728"),
              ("linux_mitigations_off", "Linux, mitigations=off", "#ff9896")]
    rows = []
    for figure, exo_key, linux_key, _ in path["rows"]:
        keys = {"exo": exo_key, "linux": linux_key, "linux_mitigations_off": linux_key}
        values = [(label, color, path[s].get(keys[s]) if keys[s] else None)
                  for s, label, color in series]
        rows.append((figure, values))
    top = max([v for _, vs in rows for _, _, v in vs if v] or [10])
    decades = max(1, math.ceil(math.log10(top)))
    left, width, bar, gap = 190, 560, 9, 10
    height_of_row = bar * len(series) + gap
    height = 60 + len(rows) * height_of_row + 40
    def x(v):
        return left + width * math.log10(max(v, 1)) / decades
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="11">' % (left + width + 90, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="10" y="18" font-size="13">Path length: guest instructions per operation '
           '(QEMU TCG -icount shift=0, -smp 1), log scale</text>']
    for d in range(decades + 1):
        gx = left + width * d / decades
        out.append('<line x1="%.1f" y1="30" x2="%.1f" y2="%d" stroke="#ddd"/>'
                   % (gx, gx, height - 35))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'
                   % (gx, height - 22, "{:,}".format(10 ** d)))
    y = 40
    for figure, values in rows:
        out.append('<text x="%d" y="%d" text-anchor="end">%s</text>'
                   % (left - 6, y + bar * len(series) / 2 + 4, figure))
        for i, (label, color, v) in enumerate(values):
            if v:
                out.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>'
                           % (left, y + i * bar, x(v) - left, bar - 1, color))
                out.append('<text x="%.1f" y="%d" font-size="9">%s</text>'
                           % (x(v) + 3, y + i * bar + bar - 2, fmt(v)))
        y += height_of_row
    for i, (_, label, color) in enumerate(series):
        lx = 10 + i * 190
        out.append('<rect x="%d" y="%d" width="10" height="10" fill="%s"/>'
                   % (lx, height - 14, color))
        out.append('<text x="%d" y="%d">%s</text>' % (lx + 14, height - 5, label))
    out.append("</svg>")
    with open(SVG_OUT, "w") as f:
        f.write("\n".join(out) + "\n")
    return SVG_OUT


def skipped_on_exo(path, exo_key):
    """Whether Exo's run said it cannot measure this figure (a facility it lacks,
    e.g. socketpair): its column then shows a dash, which is the honest figure."""
    name = exo_key.split(":", 1)[-1]
    return any(n.startswith(name + " skipped: ") for n in path["notes"])


def missing_exo(report):
    """Exo figures of the selected groups that are not there (and not skipped)."""
    missing = []
    path = report.get("path")
    for figure, exo_key, _, _ in (path or {}).get("rows", []):
        if exo_key and exo_key not in path["exo"] and not skipped_on_exo(path, exo_key):
            missing.append(figure)
    for group in ("wall", "topology"):
        rows = report.get(group)
        for figure, *_ in (rows or {}).get("rows", []):
            if not rows["exo"].get(figure):
                missing.append(figure)
    return missing


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--groups", default=",".join(GROUPS),
                        help="comma list of path, wall, topology, context (default: all four)")
    parser.add_argument("--only", default=None,
                        help="comma list of figure globs, e.g. 'thread_switch,kmalloc*'")
    parser.add_argument("--runs", type=int, default=WALL_RUNS,
                        help="boots per side for the wall-clock group and for "
                             "steal_speedup_4cpu (default 5)")
    parser.add_argument("--skip-linux", action="store_true",
                        help="Exo only (no Linux boots)")
    args = parser.parse_args()
    groups = [g for g in args.groups.split(",") if g]
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise SystemExit("bench: unknown group %s (groups: %s)" % (unknown, ", ".join(GROUPS)))
    only = [g for g in args.only.split(",") if g] if args.only else None
    if not os.path.exists(ELF):
        raise SystemExit("bench: %s is missing: run make first" % ELF)

    started = time.monotonic()
    report = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "conditions": conditions(), "groups": groups, "only": only,
              "wall_runs": args.runs,
              "qemu_flags": {"path_length": ICOUNT + ["-smp", "1", "-m", "%dM" % GUEST_MIB],
                             "wall_clock": TCG + ["-smp", "2", "-m", "%dM" % GUEST_MIB]}}
    c = report["conditions"]
    say("bench: host %s, %s CPUs, Linux %s, %s, load average %.2f"
        % (c["cpu_model"], c["host_cpus"], c["host_kernel"], c["qemu"], c["load_average"][0]))
    build_peer()
    vmlinuz = None
    if not args.skip_linux and ("path" in groups or "wall" in groups):
        vmlinuz, package = linux_kernel()
        report["linux_package"] = package
        report["linux_append"] = LINUX_APPEND
    if "path" in groups:
        report["path"] = path_group(vmlinuz, only, args.skip_linux)
    if "wall" in groups:
        report["wall"] = wall_group(vmlinuz, only, args.skip_linux, args.runs)
        report["crowd"] = crowd_group(only)
    if "topology" in groups:
        report["topology"] = topology_group(only, args.runs)
    if "context" in groups:
        report["context"] = context_group(only)

    print_report(report)
    if report.get("path"):
        p = report["path"]
        report["path_length"] = {
            figure: {"exo": p["exo"].get(e) if e else None,
                     "linux": p["linux"].get(l) if l else None,
                     "linux_mitigations_off": p["linux_mitigations_off"].get(l) if l else None,
                     "what": what}
            for figure, e, l, what in p["rows"]}
    if report.get("wall"):
        w = report["wall"]
        report["wall_clock"] = {figure: {"unit": unit, "what": what,
                                         "exo": w["exo"].get(figure),
                                         "linux": w["linux"].get(figure)}
                                for figure, _, _, unit, what in w["rows"]}
    report["missing"] = missing_exo(report)
    if report["missing"]:
        say("MISSING Exo figures: " + ", ".join(report["missing"]))
    drawn = svg(report)
    report["total_seconds"] = round(time.monotonic() - started, 1)
    with open(JSON_OUT, "w") as f:
        json.dump(report, f, indent=2, default=list)
        f.write("\n")
    say("bench: wrote %s%s in %.0f s" % (os.path.relpath(JSON_OUT, ROOT),
                                         " and " + os.path.relpath(drawn, ROOT) if drawn else "",
                                         report["total_seconds"]))
    return 1 if report["missing"] else 0


if __name__ == "__main__":
    sys.exit(main())
