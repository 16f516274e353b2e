"""Running QEMU for the test harness (tests/harness.py) and the bench runner
(tests/bench/run.py): where the build's images and the firmware are, the arguments
every Exo boot shares, a run with a time limit whose serial port goes to a log file,
the QEMU monitor on a Unix socket, and the serial port through QEMU's stdio.

Nothing here knows what a boot should print: that is the callers' part.
"""
import os
import re
import shutil
import socket
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build")
LOG_DIR = os.path.join(BUILD, "test")
ISO = os.path.join(BUILD, "exo.iso")
ELF = os.path.join(BUILD, "exo.elf")
INITRD = os.path.join(BUILD, "initrd.cpio")
QEMU = os.environ.get("QEMU", "qemu-system-x86_64")
OVMF_CODE = os.environ.get("OVMF_CODE", "/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = os.environ.get("OVMF_VARS", "/usr/share/OVMF/OVMF_VARS_4M.fd")
QBOOT_CANDIDATES = ["/usr/share/qemu/qboot.rom", "/usr/share/seabios/qboot.rom"]
# The kernel writes 0x10 (pass) or 0x11 (fail) to isa-debug-exit; QEMU exits with
# (value << 1) | 1.
EXIT_PASS = 33
EXIT_FAIL = 35


def base_command(serial, monitor="none", no_reboot=True):
    """QEMU with no display and no network, the serial port as given (`file:<path>`
    or `stdio`), and the isa-debug-exit port the kernel ends a test or bench run on."""
    return [QEMU] + (["-no-reboot"] if no_reboot else []) + [
        "-display", "none", "-monitor", monitor, "-nic", "none", "-serial", serial,
        "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]


def uefi_args(name):
    """OVMF on q35, with a private copy of the variable store (build/test/<name>-...)."""
    vars_copy = os.path.join(LOG_DIR, name + "-OVMF_VARS.fd")
    shutil.copyfile(OVMF_VARS, vars_copy)
    return ["-machine", "q35",
            "-drive", "if=pflash,format=raw,readonly=on,file=" + OVMF_CODE,
            "-drive", "if=pflash,format=raw,file=" + vars_copy]


def usb_stick_args():
    # The ISO written as-is to a USB disk, as `dd` does to a real stick.
    return ["-drive", "if=none,id=stick,format=raw,readonly=on,file=" + ISO,
            "-device", "qemu-xhci", "-device", "usb-storage,drive=stick,bootindex=0"]


def qboot_args():
    """qboot, the fastest firmware for a direct (-kernel) boot, or [] (SeaBIOS) when
    this QEMU does not ship it."""
    for path in QBOOT_CANDIDATES:
        if os.path.exists(path):
            return ["-bios", path]
    return []


def read_log(path):
    """A serial log so far, carriage returns dropped; "" before QEMU creates it."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace").replace("\r", "")
    except FileNotFoundError:
        return ""


def run(cmd, timeout_s, log_path, stop=None, linger_s=0):
    """Runs QEMU with its serial port in log_path (removed first) until it exits, the
    time limit passes, or stop(log so far) is true; after stop, waits linger_s more and
    looks again whether QEMU exited. A QEMU still running then is killed. Returns
    (exit status, or None when killed; seconds; stderr)."""
    if os.path.exists(log_path):
        os.remove(log_path)
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    status = None
    while time.monotonic() - start < timeout_s:
        status = proc.poll()
        if status is not None:
            break
        if stop and stop(read_log(log_path)):
            time.sleep(linger_s)
            status = proc.poll()
            break
        time.sleep(0.05)
    if proc.poll() is None:
        proc.kill()
        status = None
    stderr = proc.communicate()[1].decode("utf-8", "replace")
    return status, time.monotonic() - start, stderr


def monitor_command(socket_path, command):
    """Sends one command to the QEMU monitor on a Unix socket and waits for its next
    prompt."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(socket_path)
        reply = b""
        while not reply.endswith(b"(qemu) "):
            reply += sock.recv(4096) or b"(qemu) "
        sock.sendall(command.encode() + b"\n")
        reply = b""
        while not reply.endswith(b"(qemu) "):
            reply += sock.recv(4096) or b"(qemu) "


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


def drive_serial_boot(boot, command, session):
    """Starts QEMU (`command`, its serial port on stdio) and runs session(serial,
    check, started), whose check(name, passed, problem) records each case.
    Returns (problems, cases, seconds, stderr); a kernel panic is a problem too."""
    from qemu.judges import case  # judges imports this module
    start = time.monotonic()
    problems, cases = [], []
    def check(name, passed, problem):
        cases.append(case(name, passed))
        if not passed:
            problems.append(problem)
        return bool(passed)
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    serial = SerialPipe(proc, boot.log_path())
    try:
        session(serial, check, start)
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
