#!/usr/bin/env python3
"""Writes the seed inputs of build/fuzz/fuzz_bootinfo into tests/fuzz/seeds/fuzz_bootinfo/.

Each seed is a selector byte (0: Multiboot2, 1: PVH) followed by the info, laid out as
tests/fuzz/fuzz_bootinfo.c expects. Run from the repository root; the output is
checked in, so this only needs rerunning when the seeds should change.
"""
import os
import struct

OUT = "tests/fuzz/seeds/fuzz_bootinfo"


def pad8(b):
    return b + b"\0" * (-len(b) % 8)


def tag(tag_type, body):
    return pad8(struct.pack("<II", tag_type, 8 + len(body)) + body)


def mmap(regions, entry_size=24):
    body = struct.pack("<II", entry_size, 0)
    for base, length, kind in regions:
        body += struct.pack("<QQII", base, length, kind, 0).ljust(entry_size, b"\0")
    return tag(6, body)


def rsdp(revision):
    r = bytearray(b"RSD PTR " + bytes(range(8, 36)))
    r[15] = revision
    return bytes(r)


def multiboot2(tags):
    body = b"".join(tags) + struct.pack("<II", 0, 8)
    return b"\0" + struct.pack("<II", 8 + len(body), 0) + body


def pvh():
    # start info at 0, then the command line, memory map, module list and RSDP.
    cmdline = b"mode=test seed=3\0"
    regions = [(0, 0x9FC00, 1), (0x100000, 0x7F00000, 1), (0xFEFFC000, 0x4000, 2)]
    memmap = b"".join(struct.pack("<QQII", b, l, t, 0) for b, l, t in regions)
    modules = struct.pack("<QQQQ", 0x800000, 0x1000, 0, 0)
    cmd_at, map_at = 56, 56 + len(cmdline)
    mod_at = map_at + len(memmap)
    rsdp_at = mod_at + len(modules)
    header = struct.pack("<IIIIQQQQII", 0x336EC578, 1, 0, 1, mod_at, cmd_at, rsdp_at,
                         map_at, len(regions), 0)
    return b"\x01" + header + cmdline + memmap + modules + rsdp(2)


def main():
    two = [(0, 0x9FC00, 1), (0x100000, 0x1FF00000, 1)]
    seeds = {
        "mb2_minimal": multiboot2([mmap(two)]),
        "mb2_full": multiboot2([
            tag(1, b"mode=test test=mm.*\0"),
            tag(2, b"GRUB 2.06\0"),
            tag(4, struct.pack("<II", 639, 523264)),
            tag(3, struct.pack("<II", 0x200000, 0x201000) + b"initrd\0"),
            mmap(two + [(0x100000000, 0x40000000, 1), (0xFFFC0000, 0x40000, 2)]),
            tag(8, struct.pack("<QIIIBBH6B", 0xFD000000, 4096, 1024, 768, 32, 1, 0,
                               16, 8, 8, 8, 0, 8)),
            tag(14, rsdp(0)[:20]),
            tag(15, rsdp(2)),
            tag(21, struct.pack("<I", 0x100000)),
        ]),
        "mb2_wide_mmap_entries": multiboot2([mmap(two, entry_size=32)]),
        "mb2_huge_entry_size": multiboot2([tag(6, struct.pack("<II", 0xFFFFFFF8, 0))]),
        "pvh_full": pvh(),
    }
    os.makedirs(OUT, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
