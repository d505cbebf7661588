#!/usr/bin/env python3
"""mps2_size.py MAP [--objects] - linked size of an mps2 image, split by origin.

Reads a GNU ld map file (ports/mps2 links with -Wl,-Map) and sums the input
sections the linker kept (after --gc-sections) per origin:
  molt    lib/ (libmolt.a)         crypto  Mbed TLS (libcrypto.a); libsodium's verify;
                                           the port's crypto backend (crypto_direct.c,
                                           ed25519_digest.c) where it replaces lib/crypto.c
  port    ports/mps2 objects       libc    newlib-nano, libgcc, the port's libc.c
flash = .vectors + .text (code and rodata) + .ARM.exidx + .data (its load image);
RAM = .data + .bss; the stack (.stack) is reported apart. image = the bytes the
image occupies in flash, from the ELF beside the map (MAP with .elf for .map):
from the first to the last byte loaded, so with the alignment padding between
input sections that the sums leave out (what must fit the boot stage's space). --objects also lists
every object's flash bytes, largest first.

An LTO link (LTO=1, the port's default) puts all the LTO code into a few
*.ltrans.o objects, so the map cannot tell origins apart. Their bytes are then
split from the ELF beside the map (MAP with .elf for .map): code by the DWARF
line table, instruction by instruction, so code LTO inlined into another unit's
function still counts for the unit it came from; tables and other data by the
source of their definition (nm -l, or the compile unit DWARF declares them in).
What neither covers (string literals, alignment padding) is reported as "other".
"""
import os
import subprocess
import re
import sys

OUT_FLASH = {".vectors", ".text", ".ARM.exidx", ".data"}
OUT_RAM = {".data", ".bss"}


def origin(path):
    if path.endswith("/libc.o") or path == "libc.o":
        return "libc"  # ports/mps2/libc.c: newlib-nano's memcpy/memset/memcmp replaced
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


def origin_of_source(src):
    """Origin of a symbol from the source file nm -l names (LTO links)."""
    if ("mbedtls" in src or "libsodium" in src or "p256-m" in src or "crypto_direct" in src
            or "ed25519_digest" in src):
        return "crypto"
    if "ports/mps2/libc.c" in src or "newlib" in src or "libgcc" in src:
        return "libc"
    if "ports/mps2/" in src:
        return "port"
    if re.search(r"/lib/[^/]+\.[ch]:\d+$", src) or "/include/molt/" in src:
        return "molt"
    return "other"


def variable_units(elf):
    """Variable name -> the source files of the compile units that declare it (DWARF):
    nm -l names no line for LTO's data (tables, OIDs, function-local statics)."""
    out = subprocess.run(["arm-none-eabi-readelf", "--debug-dump=info", elf], check=True,
                         capture_output=True, text=True).stdout
    units, cu, comp, want, var = {}, None, None, None, False
    for ln in out.splitlines():
        if "DW_TAG_compile_unit" in ln:
            cu, comp, want, var = None, None, "cu", False
            continue
        if "DW_TAG_" in ln:
            want, var = None, "DW_TAG_variable" in ln
            continue
        m = re.match(r"^\s*<[0-9a-f]+>\s+(DW_AT_name|DW_AT_comp_dir)\s*:\s*(?:\(.*\):\s*)?(\S+)\s*$", ln)
        if not m:
            continue
        if want == "cu":
            if m.group(1) == "DW_AT_name":
                cu = m.group(2)
            else:
                comp = m.group(2)
                if cu and not cu.startswith("/"):
                    cu = comp + "/" + cu
        elif var and m.group(1) == "DW_AT_name" and cu:
            units.setdefault(m.group(2), set()).add(cu)
            var = False
    return units


def line_table(elf):
    """(address, source file) for every row of the DWARF line tables, sorted: each
    instruction's origin even where LTO inlined it into another unit's function."""
    out = subprocess.run(["arm-none-eabi-readelf", "--debug-dump=decodedline", elf], check=True,
                         capture_output=True, text=True).stdout
    rows, cur = [], None
    for ln in out.splitlines():
        m = re.match(r"^(?:CU: )?(\S.*?):(?:\[\+\+\])?$", ln)
        if m and not ln.startswith("Contents"):
            cur = m.group(1)
            if cur.startswith("./"):
                cur = "ports/mps2/" + cur[2:]  # the port compiles in its own directory
            continue
        m = re.match(r"^\S+\s+(?:\d+|-)\s+0x([0-9a-f]+)", ln)
        if m and cur:
            rows.append((int(m.group(1), 16), cur))
    rows.sort()
    return rows


def code_split(rows, start, size):
    """Bytes of [start, start + size) per origin, from the line table."""
    import bisect
    addrs = [r[0] for r in rows]
    out = {}
    i = max(bisect.bisect_right(addrs, start) - 1, 0)
    pos, end = start, start + size
    while pos < end:
        nxt = addrs[i + 1] if i + 1 < len(addrs) else end
        stop = min(max(nxt, pos + 1), end)
        o = origin_of_source(rows[i][1] + ":1") if rows and rows[i][0] <= pos else "other"
        out[o] = out.get(o, 0) + stop - pos
        pos = stop
        if nxt <= pos:
            i += 1
    return out


def lto_split(elf, lto_flash, lto_ram):
    """Split the bytes of the *.ltrans.o objects by symbol (nm -S -l)."""
    out = subprocess.run(["arm-none-eabi-nm", "-S", "-l", "--defined-only", elf], check=True,
                         capture_output=True, text=True).stdout
    flash, ram = {}, {}
    units = rows = None
    for ln in out.splitlines():
        m = re.match(r"^([0-9a-f]+) ([0-9a-f]+) ([tTrRdDbB]) (\S+)\t?(\S*)", ln)
        if not m:
            continue
        size, kind, src = int(m.group(2), 16), m.group(3).lower(), m.group(5)
        has_line = bool(src)  # code; tables and statics in .text have none
        if not src:  # a table or static: the unit that declares it, if only one does
            units = variable_units(elf) if units is None else units
            cus = {origin_of_source(u + ":1") for u in units.get(m.group(4).split(".")[0], ())}
            src = (next(iter(cus)) if len(cus) == 1 else "") and next(iter(units[m.group(4).split(".")[0]])) + ":1"
        o = origin_of_source(src)
        if kind == "t" and has_line and o not in ("libc", "other"):  # code: by line, instruction by instruction
            rows = line_table(elf) if rows is None else rows
            for k, v in code_split(rows, int(m.group(1), 16) & ~1, size).items():
                flash[k] = flash.get(k, 0) + v
            continue
        if o == "libc" and "ports/mps2/libc.c" not in src:
            continue  # newlib and libgcc: not LTO objects, counted from the map
        if "ports/mps2/libc.c" in src:
            continue  # compiled without LTO: counted from the map
        if kind in "trd":
            flash[o] = flash.get(o, 0) + size
        if kind in "db":
            ram[o] = ram.get(o, 0) + size
    for tot, part in ((lto_flash, flash), (lto_ram, ram)):
        rest = tot - sum(part.values())
        part["other"] = part.get("other", 0) + rest
    return flash, ram


def image_bytes(elf):
    """First to last byte of the loadable sections' load addresses (objdump -h)."""
    out = subprocess.run(["arm-none-eabi-objdump", "-h", elf], check=True, capture_output=True, text=True).stdout
    lines = out.splitlines()
    lo, hi = None, None
    for i, ln in enumerate(lines):
        m = re.match(r"^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s", ln)
        if not m or i + 1 >= len(lines) or "LOAD" not in lines[i + 1]:
            continue
        size, lma = int(m.group(2), 16), int(m.group(3), 16)
        if size == 0:
            continue
        lo = lma if lo is None else min(lo, lma)
        hi = lma + size if hi is None else max(hi, lma + size)
    return 0 if lo is None else hi - lo


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: mps2_size.py MAP [--objects]")
    items, stack = parse(sys.argv[1])
    flash, ram, per_obj = {}, {}, {}
    lto_flash = lto_ram = 0
    for out, obj, size in items:
        if ".ltrans" in obj:
            lto_flash += size if out in OUT_FLASH else 0
            lto_ram += size if out in OUT_RAM else 0
            continue
        o = origin(obj)
        if out in OUT_FLASH:
            flash[o] = flash.get(o, 0) + size
            name = re.sub(r".*/", "", obj)
            per_obj[name] = per_obj.get(name, 0) + size
        if out in OUT_RAM:
            ram[o] = ram.get(o, 0) + size
    if lto_flash or lto_ram:
        elf = re.sub(r"\.map$", ".elf", sys.argv[1])
        if not os.path.exists(elf):
            sys.exit("mps2_size: %s: an LTO link; its ELF %s is needed to split it" % (sys.argv[1], elf))
        lf, lr = lto_split(elf, lto_flash, lto_ram)
        for k, v in lf.items():
            flash[k] = flash.get(k, 0) + v
        for k, v in lr.items():
            ram[k] = ram.get(k, 0) + v
    groups = ["molt", "crypto", "port", "libc", "other"]
    image = ""
    elf = re.sub(r"\.map$", ".elf", sys.argv[1])
    if os.path.exists(elf):
        image = " image=%d" % image_bytes(elf)
    print("flash " + " ".join("%s=%d" % (g, flash.get(g, 0)) for g in groups) + " total=%d" % sum(flash.values())
          + image)
    print("ram   " + " ".join("%s=%d" % (g, ram.get(g, 0)) for g in groups) + " total=%d stack=%d" % (sum(ram.values()), stack))
    if "--objects" in sys.argv:
        for name, size in sorted(per_obj.items(), key=lambda kv: -kv[1]):
            if size:
                print("  %6d  %s" % (size, name))


if __name__ == "__main__":
    main()
