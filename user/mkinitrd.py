#!/usr/bin/env python3
"""Writes Exo's initial ramdisk: a cpio archive in the "new ASCII" format (newc,
magic 070701), the format Linux's initramfs uses and fs/cpio.c reads.

The archive holds, in this order of precedence (the first to claim a path keeps it):
  - user/rootfs/ as it is (files, directories, symlinks; modes kept);
  - Exo's own programs (--program /bin/hello=build/user/bin/hello);
  - every file of the test-suite directory (--tests build/user/tests) as /tests/<name>;
  - Debian's busybox-static binary as /bin/busybox, and for each applet it lists
    (`busybox --list-full`) a symlink to /bin/busybox;
  - the directories /etc, /tmp and /dev.
Every parent directory gets its own entry. Owner root, a fixed mtime (--mtime), and
entries sorted by path, so the same inputs give the same bytes.

Python 3 standard library only; no cpio tool.
"""
import argparse
import os
import stat
import subprocess
import sys

NEWC_MAGIC = b"070701"


def pad4(length):
    return (4 - length % 4) % 4


class Archive:
    def __init__(self, mtime):
        self.mtime = mtime
        self.entries = {}  # path without the leading '/' -> (mode, data)

    def has(self, path):
        return path.strip("/") in self.entries

    def add(self, path, mode, data=b""):
        """Adds an entry unless the path is taken; makes its parents. True if added."""
        path = path.strip("/")
        if path in self.entries:
            return False
        parts = path.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent not in self.entries:
                self.entries[parent] = (stat.S_IFDIR | 0o755, b"")
            elif not stat.S_ISDIR(self.entries[parent][0]):
                sys.exit("mkinitrd: %s needs %s to be a directory" % (path, parent))
        self.entries[path] = (mode, data)
        return True

    def add_file(self, path, source):
        with open(source, "rb") as f:
            data = f.read()
        perms = 0o755 if os.stat(source).st_mode & 0o111 else 0o644
        return self.add(path, stat.S_IFREG | perms, data)

    def add_tree(self, root):
        """Copies a host directory tree under / (files, directories, symlinks)."""
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(dirnames) + sorted(filenames):
                source = os.path.join(dirpath, name)
                path = os.path.relpath(source, root)
                st = os.lstat(source)
                if stat.S_ISLNK(st.st_mode):
                    self.add(path, stat.S_IFLNK | 0o777, os.readlink(source).encode())
                elif stat.S_ISDIR(st.st_mode):
                    self.add(path, stat.S_IFDIR | (st.st_mode & 0o7777))
                elif stat.S_ISREG(st.st_mode):
                    with open(source, "rb") as f:
                        self.add(path, stat.S_IFREG | (st.st_mode & 0o7777), f.read())
                else:
                    print("mkinitrd: %s: not a file, directory or symlink; skipped" % source,
                          file=sys.stderr)

    def header(self, ino, mode, nlink, size, name):
        fields = [ino, mode, 0, 0, nlink, self.mtime, size, 0, 0, 0, 0, len(name) + 1, 0]
        return NEWC_MAGIC + b"".join(b"%08x" % f for f in fields)

    def entry(self, ino, mode, data, name):
        nlink = 2 if stat.S_ISDIR(mode) else 1
        out = self.header(ino, mode, nlink, len(data), name) + name + b"\0"
        out += b"\0" * pad4(len(out))
        out += data + b"\0" * pad4(len(data))
        return out

    def write(self, output):
        chunks = []
        for ino, path in enumerate(sorted(self.entries), start=1):
            mode, data = self.entries[path]
            chunks.append(self.entry(ino, mode, data, path.encode()))
        chunks.append(self.entry(0, 0, b"", b"TRAILER!!!"))
        with open(output, "wb") as f:
            f.write(b"".join(chunks))


def busybox_applets(busybox):
    try:
        listing = subprocess.run([busybox, "--list-full"], check=True, capture_output=True,
                                 text=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        sys.exit("mkinitrd: cannot list the applets of %s: %s" % (busybox, error))
    return sorted(line.strip() for line in listing.splitlines() if line.strip())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True)
    parser.add_argument("--mtime", type=int, default=0)
    parser.add_argument("--program", action="append", default=[],
                        help="/path/in/initrd=host/file")
    parser.add_argument("--tests", help="directory whose files go to /tests/")
    parser.add_argument("--rootfs", help="directory copied as it is")
    parser.add_argument("--busybox", default="/bin/busybox")
    args = parser.parse_args()

    if not os.path.isfile(args.busybox):
        sys.exit("mkinitrd: %s is missing: apt-get install busybox-static "
                 "(Debian's statically linked busybox)" % args.busybox)

    archive = Archive(args.mtime)
    if args.rootfs and os.path.isdir(args.rootfs):
        archive.add_tree(args.rootfs)
    for spec in args.program:
        path, _, source = spec.partition("=")
        if not path.startswith("/") or not source:
            sys.exit("mkinitrd: --program wants /path=file, not %r" % spec)
        archive.add_file(path, source)
    if args.tests and os.path.isdir(args.tests):
        for name in sorted(os.listdir(args.tests)):
            source = os.path.join(args.tests, name)
            if os.path.isfile(source) and os.access(source, os.X_OK):
                archive.add_file("/tests/" + name, source)
    archive.add_file("/bin/busybox", args.busybox)
    for applet in busybox_applets(args.busybox):
        archive.add(applet, stat.S_IFLNK | 0o777, b"/bin/busybox")
    for directory in ("etc", "tmp", "dev"):
        archive.add(directory, stat.S_IFDIR | (0o1777 if directory == "tmp" else 0o755))
    archive.write(args.output)


if __name__ == "__main__":
    main()
