#!/usr/bin/env python3
"""Writes the seed archives of build/fuzz/fuzz_cpio into tests/fuzz/seeds/fuzz_cpio/:
small newc archives (user/mkinitrd.py's writer) with files, directories, symlinks,
odd names and duplicates, and one in the 070702 checksum format."""
import os
import stat
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "user"))
from mkinitrd import Archive  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "seeds", "fuzz_cpio")


def archive(entries):
    a = Archive(0)
    for path, mode, data in entries:
        a.entries[path] = (mode, data)  # as given: odd names and no parents on purpose
    chunks = [a.entry(i + 1, m, d, p.encode()) for i, (p, (m, d)) in enumerate(a.entries.items())]
    chunks.append(a.entry(0, 0, b"", b"TRAILER!!!"))
    return b"".join(chunks)


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {
        "tree": archive([("bin", stat.S_IFDIR | 0o755, b""),
                         ("bin/busybox", stat.S_IFREG | 0o755, b"\x7fELF..."),
                         ("bin/sh", stat.S_IFLNK | 0o777, b"busybox"),
                         ("usr/bin/env", stat.S_IFLNK | 0o777, b"/bin/busybox")]),
        "odd-names": archive([("./a/../b", stat.S_IFREG | 0o644, b"x"),
                              ("/c//d/.", stat.S_IFDIR | 0o755, b""),
                              ("loop", stat.S_IFLNK | 0o777, b"loop"),
                              ("dev/console", stat.S_IFCHR | 0o600, b"")]),
        "empty": archive([]),
    }
    crc = bytearray(archive([("f", stat.S_IFREG | 0o644, b"\x01\x02")]))
    crc[5:6] = b"2"
    crc[6 + 12 * 8:6 + 13 * 8] = b"%08x" % 3
    seeds["crc"] = bytes(crc)
    for name, data in seeds.items():
        with open(os.path.join(OUT, name + ".cpio"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
