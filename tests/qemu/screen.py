"""The screen boots: the framebuffer console checked for real.

A screen boot boots the ISO's normal entry with the QEMU monitor on a Unix socket,
waits until the serial port shows the lines to look for, takes `screendump`
screenshots, and passes when each of those lines is drawn at the start of a text
row, pixel for pixel in the kernel's own font (read from the generated
build/font.c). It then waits for the prompt to be drawn, types on the PS/2 keyboard
through the QEMU monitor (`sendkey`), edits with the arrow keys, and checks both the
serial answer and the edited line as drawn on the screen. Each check is a case.
"""
import os
import re
import subprocess
import time

from qemu.judges import case
from qemu.matrix import qemu_command
from qemu.runner import BUILD, ROOT, monitor_command, read_log

FONT_C = os.path.join(BUILD, "font.c")
FONT_WIDTH, FONT_HEIGHT = 8, 16
SCREENSHOT_TRIES = 10
# Typed on the PS/2 keyboard in a screen boot (QEMU sendkey names): the line
# "echo Key-Board ab", then Left Left x Right Delete: "echo Key-Board xa".
KEYBOARD_KEYS = ["e", "c", "h", "o", "spc", "shift-k", "e", "y", "minus", "shift-b", "o", "a",
                 "r", "d", "spc", "a", "b", "left", "left", "x", "right", "delete", "ret"]
KEYBOARD_LINE = "exo> echo Key-Board xa"
KEYBOARD_ANSWER = "Key-Board xa"


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
        monitor_command(boot.monitor_path(), "screendump " + boot.screenshot_path())
        image = read_ppm(boot.screenshot_path())
        missing = [l for l in lines if not text_on_screen(image, glyphs, l)]
        if not missing:
            break
    return missing, image


def wait_in_log(boot, pattern, since, timeout_s):
    """Waits until the serial log, from offset `since`, matches the regex."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if re.search(pattern, read_log(boot.log_path())[since:], re.M):
            return True
        time.sleep(0.1)
    return False


def type_on_keyboard(boot, glyphs):
    """Types KEYBOARD_KEYS on the PS/2 keyboard; returns [(case, passed, problem)]."""
    since = len(read_log(boot.log_path()))
    for key in KEYBOARD_KEYS:
        monitor_command(boot.monitor_path(), "sendkey " + key)
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
            lines = serial_lines(boot, read_log(boot.log_path()))
            time.sleep(0.05)
        if lines is None and not problems:
            problems.append("timed out waiting for serial lines matching %s" %
                            [p for _, p in boot.screen_lines])
        if lines is not None:
            glyphs = load_font()
            missing, image = screenshot_until_drawn(boot, glyphs, lines)
            for (name, _), line in zip(boot.screen_lines, lines):
                cases.append(case(name, line not in missing))
                if line in missing:
                    problems.append("not drawn on the screen (%dx%d screenshot %s): %r" % (
                        image[0], image[1], os.path.relpath(boot.screenshot_path(), ROOT), line))
            for name, passed, problem in type_on_keyboard(boot, glyphs):
                cases.append(case(name, passed))
                if not passed:
                    problems.append(problem)
    except (OSError, ValueError) as e:
        problems.append("screenshot failed: %s" % e)
    finally:
        proc.kill()
    stderr = proc.communicate()[1].decode("utf-8", "replace")
    if "PANIC:" in read_log(boot.log_path()):
        problems.append("the kernel panicked")
    return problems, cases, time.monotonic() - start, stderr
