#!/usr/bin/env python3
"""mps2_size.py MAP [--objects] - linked size of an mps2 image, split by origin.

Reads a GNU ld map file (ports/mps2 links with -Wl,-Map) and sums the input
sections the linker kept (after --gc-sections) per origin:
  molt    lib/ (libmolt.a)         crypto  Mbed TLS (libcrypto.a); libsodium's verify;
                                           the port's crypto backend (crypto_direct.c,
                                           ed25519_digest.c) where it replaces lib/crypto.c
  port    ports/mps2 objects       libc    newlib-nano, libgcc
flash = .vectors + .text (code and rodata) + .ARM.exidx + .data (its load image);
RAM = .data + .bss; the stack (.stack) is reported apart. --objects also lists
every object's flash bytes, largest first.
"""
import re
import sys

OUT_FLASH = {".vectors", ".text", ".ARM.exidx", ".data"}
OUT_RAM = {".data", ".bss"}


def origin(path):
    if "libmolt.a" in path:
        return "molt"
    if ("libcrypto.a" in path or "libsodium-ed25519.a" in path or "crypto_direct" in path
            or "ed25519_digest" in path):
        return "crypto"
    if "libc_nano.a" in path or "libgcc.a" in path or "libc.a" in path:
        return "libc"
    return "port"


def parse(path):
    text = open(path).read()
    start = text.find("Linker script and memory map")
    if start < 0:
        sys.exit("mps2_size: %s: not a GNU ld map file" % path)
    lines = text[start:].splitlines()
    out = None
    pending = None
    items = []  # (output section, object, size)
    stack = 0
    row = re.compile(r"^\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(\S.*)$")
    for ln in lines:
        m = re.match(r"^(\.[\w.]+)\s", ln + " ")
        if m and not ln.startswith(" "):
            out = m.group(1)
            pending = None
            if out == ".stack":
                mm = re.match(r"^\.stack\s+0x[0-9a-f]+\s+(0x[0-9a-f]+)", ln)
                if mm:
                    stack = int(mm.group(1), 16)
            continue
        m = re.match(r"^ (\.[\w.]+|COMMON)\s*(.*)$", ln)
        if m and out is not None:
            rest = m.group(2)
            mm = re.match(r"^(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(\S.*)$", rest)
            if mm:
                items.append((out, mm.group(3), int(mm.group(2), 16)))
                pending = None
            else:
                pending = True
            continue
        if pending:
            mm = row.match(ln)
            if mm:
                items.append((out, mm.group(3), int(mm.group(2), 16)))
            pending = None
    return items, stack


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: mps2_size.py MAP [--objects]")
    items, stack = parse(sys.argv[1])
    flash, ram, per_obj = {}, {}, {}
    for out, obj, size in items:
        o = origin(obj)
        if out in OUT_FLASH:
            flash[o] = flash.get(o, 0) + size
            name = re.sub(r".*/", "", obj)
            per_obj[name] = per_obj.get(name, 0) + size
        if out in OUT_RAM:
            ram[o] = ram.get(o, 0) + size
    groups = ["molt", "crypto", "port", "libc"]
    print("flash " + " ".join("%s=%d" % (g, flash.get(g, 0)) for g in groups) + " total=%d" % sum(flash.values()))
    print("ram   " + " ".join("%s=%d" % (g, ram.get(g, 0)) for g in groups) + " total=%d stack=%d" % (sum(ram.values()), stack))
    if "--objects" in sys.argv:
        for name, size in sorted(per_obj.items(), key=lambda kv: -kv[1]):
            if size:
                print("  %6d  %s" % (size, name))


if __name__ == "__main__":
    main()
