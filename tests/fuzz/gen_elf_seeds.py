#!/usr/bin/env python3
"""Writes the seed images of build/fuzz/fuzz_elf into tests/fuzz/seeds/fuzz_elf/:
minimal static (ET_EXEC) and static-PIE (ET_DYN) x86_64 ELF files laid out as
musl-gcc lays them out (R, R+X, R, R+W segments; PT_GNU_STACK; PT_TLS), which
proc/elf.c accepts."""
import os
import struct

OUT = os.path.join(os.path.dirname(__file__), "seeds", "fuzz_elf")
PT_LOAD, PT_TLS, PT_GNU_STACK, PT_PHDR = 1, 7, 0x6474E551, 6
R, W, X = 4, 2, 1


def image(etype, base, with_phdr):
    phdrs = []
    if with_phdr:
        phdrs.append((PT_PHDR, R, 64, base + 64, 6 * 56, 6 * 56, 8))
    phdrs += [(PT_LOAD, R, 0, base, 0x400, 0x400, 0x1000),
              (PT_LOAD, R | X, 0x1000, base + 0x1000, 0x100, 0x100, 0x1000),
              (PT_LOAD, R | W, 0x1f00, base + 0x2f00, 0x80, 0x200, 0x1000),
              (PT_TLS, R, 0x1f00, base + 0x2f00, 0x10, 0x20, 8),
              (PT_GNU_STACK, R | W, 0, 0, 0, 0, 16)]
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    header = ident + struct.pack("<HHIQQQIHHHHHH", etype, 62, 1, base + 0x1000, 64, 0, 0, 64,
                                 56, len(phdrs), 64, 0, 0)
    table = b"".join(struct.pack("<IIQQQQQQ", t, f, o, v, v, fs, ms, a)
                     for t, f, o, v, fs, ms, a in phdrs)
    body = bytearray(0x1f80)
    body[:len(header + table)] = header + table
    body[0x1000:0x1004] = b"\x31\xc0\xc3\x90"
    return bytes(body)


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in {"static": image(2, 0x400000, False),
                       "static-phdr": image(2, 0x400000, True),
                       "pie": image(3, 0, True)}.items():
        with open(os.path.join(OUT, name + ".elf"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
