#!/usr/bin/env python3
"""mps2_profile.py LOG ELF MAP [STOP] - where the boot stage's instructions go.

LOG is QEMU's `-d in_asm,exec,nochain` log of one boot: in_asm gives each
translation block's instruction count, exec each execution of a block. Blocks are
counted until the first one at or above STOP (hex, default 0x20000 = PRIMARY: the
jump into the application). Each block's instructions are charged to the function
containing it (arm-none-eabi-nm on ELF) and to its origin - molt (lib/), crypto
(Mbed TLS), port, libc - from the link MAP; in an LTO link (the port's default)
from the source file of the function's definition (nm -l): code LTO inlined counts
for the function it was inlined into. Prints the totals and the top functions.
"""
import os
import bisect
import collections
import re
import subprocess
import sys


def intervals_from_map(path):
    text = open(path).read()
    text = text[text.find("Linker script and memory map"):]
    out = []
    pend = False
    for ln in text.splitlines():
        m = re.match(r"^ \.(text|rodata)[\w.]*\s*(?:(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(\S.*))?$", ln)
        if m:
            if m.group(2):
                out.append((int(m.group(2), 16), int(m.group(3), 16), m.group(4)))
                pend = False
            else:
                pend = True
            continue
        if pend:
            mm = re.match(r"^\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(\S.*)$", ln)
            if mm:
                out.append((int(mm.group(1), 16), int(mm.group(2), 16), mm.group(3)))
            pend = False
    out = [o for o in out if o[1] > 0]
    out.sort()
    return out


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mps2_size import origin_of_source  # noqa: E402


def origin(obj):
    if obj.endswith("/libc.o"):
        return "libc"  # ports/mps2/libc.c
    if "libmolt.a" in obj:
        return "molt"
    if "libcrypto.a" in obj:
        return "crypto"
    if "libc_nano.a" in obj or "libgcc.a" in obj:
        return "libc"
    return "port"


def lookup(table, starts, pc):
    i = bisect.bisect_right(starts, pc) - 1
    if i >= 0 and pc < table[i][0] + table[i][1]:
        return table[i]
    return None


def main():
    if len(sys.argv) < 4:
        sys.exit("usage: mps2_profile.py LOG ELF MAP [STOP]")
    log, elf, mapf = sys.argv[1:4]
    stop = int(sys.argv[4], 16) if len(sys.argv) > 4 else 0x20000
    syms = []
    nm = subprocess.run(["arm-none-eabi-nm", "-n", "-S", "-l", elf], capture_output=True, text=True,
                        check=True).stdout
    for ln in nm.splitlines():
        p = ln.split()
        if len(p) >= 4 and p[2] in "tT":
            syms.append((int(p[0], 16), int(p[1], 16), p[3], p[4] if len(p) > 4 else ""))
    sstart = [s[0] for s in syms]
    objs = intervals_from_map(mapf)
    ostart = [o[0] for o in objs]

    size, count = {}, collections.Counter()
    rx_in = re.compile(r"^0x([0-9a-f]{8}):")
    rx_ex = re.compile(r"^Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")
    with open(log, errors="replace") as f:
        first, n, inblk = None, 0, False
        for ln in f:
            if ln.startswith("IN:"):
                inblk, first, n = True, None, 0
                continue
            if inblk:
                m = rx_in.match(ln)
                if m:
                    if first is None:
                        first = int(m.group(1), 16)
                    n += 1
                    continue
                if first is not None:
                    size[first] = n
                inblk = False
            m = rx_ex.match(ln)
            if m:
                pc = int(m.group(1), 16)
                if pc >= stop:
                    break
                count[pc] += 1
    by_fn, by_origin = collections.Counter(), collections.Counter()
    for pc, c in count.items():
        k = c * size.get(pc, 0)
        s = lookup(syms, sstart, pc)
        o = lookup(objs, ostart, pc)
        by_fn[s[2] if s else "?"] += k
        if o and ".ltrans" in o[2]:
            by_origin[origin_of_source(s[3]) if s else "?"] += k
        else:
            by_origin[origin(o[2]) if o else "?"] += k
    total = sum(by_origin.values())
    if total == 0:
        sys.exit("mps2_profile: %s: no executed block below 0x%x" % (log, stop))
    print("instructions %d: " % total + ", ".join(
        "%s %d (%.1f %%)" % (g, by_origin[g], 100.0 * by_origin[g] / total) for g in ["crypto", "molt", "port", "libc"]))
    for name, k in by_fn.most_common(12):
        print("  %10d %5.1f %%  %s" % (k, 100.0 * k / total, name))


if __name__ == "__main__":
    main()
