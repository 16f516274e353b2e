#!/usr/bin/env python3
"""Writes the seed inputs of build/fuzz/fuzz_acpi into tests/fuzz/seeds/fuzz_acpi/.

Each seed is a flags byte, then chunks (a 16-bit little-endian length and the bytes)
for the MADT, FADT, DSDT and one more table, bodies only: the harness writes the
headers, as tests/fuzz/fuzz_acpi.c explains. Run from the repository root; the
output is checked in, so this only needs rerunning when the seeds should change.
"""
import os
import struct

OUT = "tests/fuzz/seeds/fuzz_acpi"
XSDT = 0x01


def chunk(body):
    return struct.pack("<H", len(body)) + body


def madt(cpus, ioapics, overrides):
    body = struct.pack("<II", 0xFEE00000, 1)
    for apic_id in range(cpus):
        body += struct.pack("<BBBBI", 0, 8, apic_id, apic_id, 1)
    for i in range(ioapics):
        body += struct.pack("<BBBBII", 1, 12, i, 0, 0xFEC00000 + 0x1000 * i, 24 * i)
    for irq, gsi, flags in overrides:
        body += struct.pack("<BBBBIH", 2, 10, 0, irq, gsi, flags)
    body += struct.pack("<BBHII", 9, 16, 0, 200, 1)  # an x2APIC CPU
    return body


def fadt(length, reset):
    b = bytearray(length - 36)
    def put(offset, fmt, *v):
        struct.pack_into(fmt, b, offset - 36, *v)
    put(46, "<H", 9)
    put(48, "<I", 0xB2)
    put(52, "<B", 0xF1)
    put(64, "<I", 0x604)
    if length >= 129 and reset:
        put(112, "<I", 1 << 10)
        put(116, "<BBBBQ", 1, 8, 0, 1, 0xCF9)
        put(128, "<B", 6)
    if length >= 184:
        put(172, "<BBBBQ", 1, 16, 0, 2, 0x604)
    return bytes(b)


def s5(values, rooted=False):
    elems = b"".join(values)
    pkg = bytes([len(elems) + 2, 4]) + elems
    return b"\x08" + (b"\\" if rooted else b"") + b"_S5_" + b"\x12" + pkg


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    qemu_madt = madt(2, 1, [(0, 2, 0), (5, 5, 0xD), (9, 9, 0xD), (10, 10, 0xD), (11, 11, 0xD)])
    zero = [b"\x00", b"\x00", b"\x00", b"\x00"]
    write("xsdt_full", bytes([XSDT]) + chunk(qemu_madt) + chunk(fadt(244, True)) +
          chunk(b"\x10\x05\\___" + s5([b"\x0a\x05", b"\x0b\x05\x00", b"\x00", b"\x01"])) +
          chunk(b"SSDT" + bytes(20)))
    write("rsdt_acpi1", bytes([0]) + chunk(madt(1, 1, [])) + chunk(fadt(116, False)) +
          chunk(s5(zero, rooted=True)))
    write("many_ioapics", bytes([XSDT]) + chunk(madt(4, 18, [(4, 20, 0xF)] * 3)) +
          chunk(fadt(268, True)) + chunk(s5([b"\x0c\x07\x00\x00\x00", b"\x01"])))


if __name__ == "__main__":
    main()
