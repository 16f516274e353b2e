#!/usr/bin/env python3
"""`make topology`: Exo's view of a NUMA machine beside Linux's, on the same QEMU.

For each NUMA machine of the self-test's matrix (tests/qemu/matrix.py: the boots
named numa-*, each given by its -smp, -m, -object and -numa arguments), two boots
under TCG with exactly those machine arguments:
- Exo, with mode=shell: the harness types `numa` and reads the CPU list, memory
  and distances of every node (kernel/shell.c);
- Debian's Linux (the kernel `make bench` fetches into build/linux/), with a
  busybox-static script as /init that mounts sysfs and prints each
  /sys/devices/system/node/node*/{cpulist,distance} and the MemTotal line of its
  meminfo, then powers off.
Both must agree on the node count, each node's CPUs and the distance matrix.
Memory is printed side by side, not judged: Linux's MemTotal leaves out what its
own kernel image and page structures reserve, Exo's counts every usable frame
the firmware reported for the node.

Exit status 0 when every machine agrees, 1 otherwise. Needs busybox-static
(/bin/busybox) and, the first time, the Debian archive (about 70 MB).
"""
import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from qemu.matrix import all_boots
from qemu.runner import BUILD, ELF, SerialPipe, base_command, qboot_args, read_log
import run as bench  # linux_kernel(), write_cpio(), LINUX_APPEND

OUT_DIR = os.path.join(BUILD, "topology")
BUSYBOX = "/bin/busybox"
TIMEOUT_S = 240

# /init for Linux: sysfs's view of the nodes, one line per fact, on ttyS0.
LINUX_INIT = b"""#!/bin/busybox sh
B=/bin/busybox
$B mount -t devtmpfs dev /dev
$B mount -t sysfs sys /sys
exec >/dev/ttyS0 2>&1
for d in /sys/devices/system/node/node*; do
  n=${d##*/node}
  echo "topo node $n cpus $($B cat $d/cpulist)"
  echo "topo node $n distance $($B cat $d/distance)"
  echo "topo node $n memtotal $($B awk '/MemTotal/ {print $4}' $d/meminfo)"
done
echo "topo done"
$B poweroff -f
"""


def cpu_set(text):
    """The CPUs of a list like "0-3,8" (Linux's cpulist, Exo's `numa`); "" or
    "none" is the empty set."""
    cpus = set()
    for part in text.strip().split(","):
        if part in ("", "none"):
            continue
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def machine_args(boot):
    """The boot's arguments up to its -kernel: the machine itself."""
    args = boot.args
    return args[:args.index("-kernel")] if "-kernel" in args else list(args)


def linux_topology(vmlinuz, cpio, name, machine):
    log_path = os.path.join(OUT_DIR, name + "-linux.log")
    cmd = base_command("file:" + log_path, no_reboot=True) + ["-accel", "tcg"] + machine + [
        "-kernel", vmlinuz, "-initrd", cpio, "-append", bench.LINUX_APPEND]
    if "-m" not in machine:
        cmd += ["-m", "256M"]
    subprocess.run(cmd, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = read_log(log_path)
    if "topo done" not in log:
        return None, "Linux did not finish: see %s" % os.path.relpath(log_path)
    nodes = {}
    for m in re.finditer(r"^topo node (\d+) (cpus|distance|memtotal) ?(.*)$", log, re.M):
        node = nodes.setdefault(int(m.group(1)), {})
        node[m.group(2)] = m.group(3).strip()
    ids = sorted(nodes)
    return [{"cpus": cpu_set(nodes[i].get("cpus", "")),
             "distance": [int(d) for d in nodes[i].get("distance", "").split()],
             "kib": int(nodes[i].get("memtotal") or 0)} for i in ids], None


def exo_topology(name, machine):
    log_path = os.path.join(OUT_DIR, name + "-exo.log")
    cmd = base_command("stdio", no_reboot=False) + ["-accel", "tcg"] + qboot_args() + machine + [
        "-kernel", ELF, "-append", "mode=shell"]
    if "-m" not in machine:
        cmd += ["-m", "256M"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    serial = SerialPipe(proc, log_path)
    out = None
    try:
        if serial.wait_for(r"\nexo> \Z", 0, TIMEOUT_S) is None:
            return None, "Exo reached no shell prompt: see %s" % os.path.relpath(log_path)
        out = serial.command("numa\r", 60)
        serial.type("shutdown\r")
        proc.wait(30)
    except (OSError, subprocess.TimeoutExpired):
        pass  # typing into a QEMU that ended, or no power-off: judged by what was read
    finally:
        if proc.poll() is None:
            proc.kill()
        serial.reader.join(2)
        serial.log.close()
    if out is None:
        return None, "Exo did not answer `numa`: see %s" % os.path.relpath(log_path)
    nodes = []
    for m in re.finditer(r"^node (\d+): cpus (\S+), mem (\d+) KiB, free \d+ KiB$", out, re.M):
        nodes.append({"cpus": cpu_set(m.group(2)), "distance": [], "kib": int(m.group(3))})
    for m in re.finditer(r"^\s*(\d+):((?: +\d+)+)$", out, re.M):
        if int(m.group(1)) < len(nodes):
            nodes[int(m.group(1))]["distance"] = [int(d) for d in m.group(2).split()]
    return nodes, None


def fmt_cpus(cpus):
    return ",".join(str(c) for c in sorted(cpus)) or "none"


def compare(exo, linux):
    """Problems, as text lines (empty: they agree)."""
    problems = []
    if len(exo) != len(linux):
        problems.append("node count: Exo %d, Linux %d" % (len(exo), len(linux)))
    for k, (e, l) in enumerate(zip(exo, linux)):
        if e["cpus"] != l["cpus"]:
            problems.append("node %d cpus: Exo %s, Linux %s" % (k, fmt_cpus(e["cpus"]),
                                                                fmt_cpus(l["cpus"])))
        if e["distance"] != l["distance"]:
            problems.append("node %d distances: Exo %s, Linux %s" % (k, e["distance"],
                                                                     l["distance"]))
    return problems


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    if not os.path.exists(BUSYBOX):
        raise SystemExit("topology: %s is missing (apt-get install busybox-static)" % BUSYBOX)
    vmlinuz, package = bench.linux_kernel()
    cpio = os.path.join(OUT_DIR, "init.cpio")
    bench.write_cpio(cpio, [("dev", 0o40755, b""), ("sys", 0o40755, b""),
                            ("bin", 0o40755, b""),
                            ("bin/busybox", 0o100755, open(BUSYBOX, "rb").read()),
                            ("init", 0o100755, LINUX_INIT)])
    machines = [b for b in all_boots(None) if b.name.startswith("numa-") and
                "numa=off" not in " ".join(b.args)]
    print("topology: Exo's `numa` beside Linux's /sys/devices/system/node (%s), QEMU TCG"
          % package)
    failed = 0
    for boot in machines:
        machine = machine_args(boot)
        start = time.monotonic()
        exo, exo_error = exo_topology(boot.name, machine)
        linux, linux_error = linux_topology(vmlinuz, cpio, boot.name, machine)
        errors = [e for e in (exo_error, linux_error) if e]
        problems = errors or compare(exo, linux)
        failed += bool(problems)
        print("\n%s %s  (%s; %.0f s)" % ("FAIL" if problems else "ok  ", boot.name,
                                          " ".join(machine), time.monotonic() - start))
        if not errors:
            print("  node  cpus            distances         Exo mem KiB  Linux MemTotal KiB")
            for k in range(max(len(exo), len(linux))):
                e = exo[k] if k < len(exo) else None
                l = linux[k] if k < len(linux) else None
                side = e or l
                print("  %4d  %-14s  %-16s  %11s  %18s" % (
                    k, fmt_cpus(side["cpus"]), " ".join(str(d) for d in side["distance"]),
                    e["kib"] if e else "-", l["kib"] if l else "-"))
        for p in problems:
            print("  " + p)
    print("\ntopology: %d of %d machines agree" % (len(machines) - failed, len(machines)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
