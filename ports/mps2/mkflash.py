#!/usr/bin/env python3
"""mkflash.py - provision the mps2 port's flash file (factory state of a device).

  mkflash.py OUT --key PUB.der [--key PUB2.der ...] [--primary IMAGE]
             [--staged IMAGE] [--device-key PRIV.pem]

Writes OUT, the persistent part of the board's flash ([KEYS_OFF, SECONDARY_OFF +
SECONDARY_SIZE) of ports/mps2/board.h, whose numbers are read from that file): all
erased (0xff), the key store sector holding the trusted public keys (SPKI DER, as
`molt getpub -e raw` prints them; format in protarea.h), the NV counter sector erased
(counter 0), and IMAGE (a signed image) at the start of PRIMARY. --staged puts an
image (padded to the slot with its trailer: `molt sign --pad`) where the update API
stages one, SECONDARY + one sector; --device-key stores the device's P-256 private
key for encrypted images ("MDK1" | scalar | CRC-32 at KEYS_OFF + DEVKEY_OFF).
Errors: one line naming the input and the reason, exit status 2.
"""
import argparse
import os
import re
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def fail(msg):
    sys.stderr.write("mkflash: %s\n" % msg)
    sys.exit(2)


def board():
    text = open(os.path.join(HERE, "board.h")).read() + open(os.path.join(HERE, "enc_port.h")).read()
    vals = {m.group(1): int(m.group(2), 0) for m in re.finditer(r"#define (\w+) (0x[0-9a-fA-F]+)u", text)}
    need = ["SECTOR_SIZE", "KEYS_OFF", "NVCNT_OFF", "PRIMARY_OFF", "PRIMARY_SIZE", "SECONDARY_OFF", "SECONDARY_SIZE"]
    missing = [n for n in need if n not in vals]
    if missing:
        fail("board.h: missing %s" % ", ".join(missing))
    return vals


def main():
    ap = argparse.ArgumentParser(description="provision the mps2 flash file")
    ap.add_argument("out")
    ap.add_argument("--key", action="append", required=True, help="trusted public key, SPKI DER")
    ap.add_argument("--primary", help="signed image for PRIMARY")
    ap.add_argument("--staged", help="signed, padded image staged in SECONDARY")
    ap.add_argument("--device-key", help="device P-256 private key (PEM) for encrypted images")
    a = ap.parse_args()
    b = board()
    base = b["KEYS_OFF"]
    flash = bytearray(b"\xff" * (b["SECONDARY_OFF"] + b["SECONDARY_SIZE"] - base))

    if len(a.key) > 4:
        fail("at most 4 keys, got %d" % len(a.key))
    store = bytearray(struct.pack("<IB3x", 0x31534B4D, len(a.key)))
    for path in a.key:
        try:
            der = open(path, "rb").read()
        except OSError as e:
            fail("%s: %s" % (path, e.strerror))
        if not der or der[0] != 0x30:
            fail("%s: not a DER public key" % path)
        store += struct.pack("<H", len(der)) + der
        store += b"\0" * (-len(store) % 4)
    store += struct.pack("<I", zlib.crc32(bytes(store)) & 0xFFFFFFFF)
    if len(store) > b["SECTOR_SIZE"]:
        fail("keys do not fit the key store sector (%d bytes)" % len(store))
    flash[0:len(store)] = store

    if a.primary:
        try:
            img = open(a.primary, "rb").read()
        except OSError as e:
            fail("%s: %s" % (a.primary, e.strerror))
        if len(img) > b["PRIMARY_SIZE"] - b["SECTOR_SIZE"]:
            fail("%s: %d bytes do not fit PRIMARY" % (a.primary, len(img)))
        off = b["PRIMARY_OFF"] - base
        flash[off:off + len(img)] = img

    if a.staged:
        try:
            img = open(a.staged, "rb").read()
        except OSError as e:
            fail("%s: %s" % (a.staged, e.strerror))
        if len(img) > b["SECONDARY_SIZE"] - b["SECTOR_SIZE"]:
            fail("%s: %d bytes do not fit the staging area" % (a.staged, len(img)))
        off = b["SECONDARY_OFF"] + b["SECTOR_SIZE"] - base
        flash[off:off + len(img)] = img

    if a.device_key:
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import load_pem_private_key
        try:
            key = load_pem_private_key(open(a.device_key, "rb").read(), None)
        except (OSError, ValueError) as e:
            fail("%s: %s" % (a.device_key, e))
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            fail("%s: not a P-256 private key" % a.device_key)
        rec = struct.pack("<I", 0x314B444D) + key.private_numbers().private_value.to_bytes(32, "big")
        rec += struct.pack("<I", zlib.crc32(rec) & 0xFFFFFFFF)
        off = b["DEVKEY_OFF"]
        if len(store) > off:
            fail("keys overlap the device key record")
        flash[off:off + len(rec)] = rec

    tmp = a.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(flash)
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
