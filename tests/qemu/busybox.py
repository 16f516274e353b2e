"""The busybox boots: init=/bin/sh gives busybox's shell as PID 1 on the console,
driven over the serial port as a user would (QEMU's stdio, through pipes).

The harness waits for the shell's first prompt, sets a prompt of its own (so the
answers are cut at a known line), then types commands and checks each answer: a
pipe (`echo hello | cat`), a directory listing of the initrd (`ls /bin`), `wc` of
an initrd file against its known counts, and an exit status through `sh -c` and
`$?`, and Ctrl-C ending a running `sleep`. Each check is a case; a kernel panic or a killed process line fails the boot.
"""
import re
import time

from qemu.matrix import qemu_command
from qemu.runner import drive_serial_boot

PROMPT = "bb-ready> "
# busybox's line editor asks the terminal where the cursor is (ESC [ 6 n) after
# each prompt; no terminal answers on a serial pipe, and it does not wait.
CURSOR_QUERY = r"(?:\x1b\[6n)?"
# user/rootfs/etc/hostname is "exo\n": 1 line, 1 word, 4 bytes.
HOSTNAME_WC = r"^\s*1\s+1\s+4 /etc/hostname$"


def busybox_command(serial, keys, timeout_s=30):
    """Types keys (ending with Enter) and waits for the harness prompt; returns what
    the command printed (after the echoed line, before the prompt), or None."""
    since = len(serial.snapshot())
    serial.type(keys)
    m = serial.wait_for(r"^%s%s\Z" % (re.escape(PROMPT), CURSOR_QUERY), since, timeout_s)
    if m is None:
        return None
    echoed, _, output = serial.snapshot()[since:m.start()].partition("\n")
    return output


def busybox_session(boot, serial, check):
    first = serial.wait_for(r"[#$] %s\Z" % CURSOR_QUERY, 0, boot.timeout_s)
    if not check("sh_prompt", first is not None, "no busybox shell prompt after init=/bin/sh"):
        return
    out = busybox_command(serial, "PS1='%s'\r" % PROMPT)
    if not check("sh_sets_prompt", out is not None, "the shell did not show PS1 after setting it"):
        return
    steps = [
        ("echo_through_pipe", "echo hello | cat\r", lambda out: out == "hello\n",
         "expected 'hello' through the pipe"),
        ("ls_bin", "ls /bin\r",
         lambda out: all(re.search(r"(^|\s)%s(\s|$)" % n, out) for n in ("busybox", "sh", "cat")),
         "expected busybox, sh and cat in /bin"),
        ("wc_of_initrd_file", "wc /etc/hostname\r", lambda out: re.search(HOSTNAME_WC, out, re.M),
         "expected '1 1 4 /etc/hostname'"),
        ("exit_status_through_sh_c", "sh -c 'exit 3'; echo $?\r", lambda out: out == "3\n",
         "expected 3"),
        ("pipeline_of_three", "echo a b c | tr ' ' '\\n' | wc -l\r",
         lambda out: out.strip() == "3", "expected 3 lines through two pipes"),
    ]
    for name, keys, judge, problem in steps:
        out = busybox_command(serial, keys)
        if out is None:
            check(name, False, "%s: no prompt after %r" % (name, keys))
            return
        check(name, bool(judge(out)), "%s: %s; got:\n%s" % (name, problem, out.rstrip()[-1500:]))
    interrupt_a_command(serial, check)


def interrupt_a_command(serial, check):
    """Ctrl-C at the console ends the foreground command (SIGINT from the console's
    line discipline), the shell prompts again, and $? is 128 + SIGINT."""
    since = len(serial.snapshot())
    serial.type("sleep 1000\r")
    started = serial.wait_for(r"sleep 1000\r?\n", since, 10)
    if not check("ctrl_c_started", started is not None, "the shell did not echo 'sleep 1000'"):
        return
    time.sleep(1)  # let sleep reach its nanosleep: the interrupt must end a wait
    since = len(serial.snapshot())
    serial.type("\x03")
    back = serial.wait_for(r"%s%s\Z" % (re.escape(PROMPT), CURSOR_QUERY), since, 20)
    if not check("ctrl_c_ends_sleep", back is not None, "no prompt within 20 s of Ctrl-C during 'sleep 1000'"):
        return
    out = busybox_command(serial, "echo $?\r")
    check("ctrl_c_status_is_130", out == "130\n", "expected $? = 130 after Ctrl-C; got %r" % out)


def run_busybox_boot(boot):
    """Boots init=/bin/sh and drives it. Returns (problems, cases, seconds, stderr)."""
    def session(serial, check, started):
        busybox_session(boot, serial, check)
        killed = re.search(r"^exo: process \d+ \(\S+\) killed by", serial.snapshot(), re.M)
        check("no_process_killed", not killed, "a process was killed by a signal")
    return drive_serial_boot(boot, qemu_command(boot), session)
