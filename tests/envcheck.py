#!/usr/bin/env python3
"""envcheck.py - an independent check of molt's encrypted images and key envelopes.

Written from docs/encryption.md with python3-cryptography, not from molt's C
code. It recovers an encrypted image's content key, either from the image's key
TLV (ECIES as imgtool makes it; the unwrap is refcheck.py's) or from a molt key
envelope (opened here from the format description), checks that the envelope
is bound to the image's hash TLV, decrypts the payload and checks the image's
hash over the plaintext.

usage: envcheck.py --enc-key PRIV.pem [--envelope ENV] [--payload-out FILE] IMAGE
Prints "OK key=<hex>" and exits 0, or "FAIL: reason" and exits 1.
"""

import argparse
import hashlib
import hmac
import struct
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import refcheck

HASHES = {0x10: hashlib.sha256, 0x11: hashlib.sha384, 0x12: hashlib.sha512}


def fail(msg):
    raise refcheck.Fail(msg)


def tlvs(d, off, magic):
    m, tot = struct.unpack_from("<HH", d, off)
    if m != magic:
        fail("TLV info magic 0x%x" % m)
    out, p = [], off + 4
    while p < off + tot:
        t, n = struct.unpack_from("<HH", d, p)
        out.append((t, p + 4, n))
        p += 4 + n
    return out, off + tot


def open_envelope(priv, env, hash_type, digest):
    """The envelope format of docs/encryption.md, version 1."""
    if len(env) < 8 or env[:4] != b"MENV" or env[4] != 1:
        fail("envelope: bad magic or version")
    scheme, klen, htype = env[5], env[6], env[7]
    eph_len = {0x32: 65, 0x33: 32}.get(scheme)
    dlen = {0x10: 32, 0x11: 48, 0x12: 64}.get(htype)
    if eph_len is None or dlen is None or klen not in (16, 32) or len(env) != 8 + dlen + eph_len + klen + 32:
        fail("envelope: malformed")
    if htype != hash_type or env[8:8 + dlen] != digest:
        fail("envelope: bound to another image")
    eph = env[8 + dlen:8 + dlen + eph_len]
    wrapped = env[8 + dlen + eph_len:8 + dlen + eph_len + klen]
    tag = env[-32:]
    if scheme == 0x32:
        if not isinstance(priv, ec.EllipticCurvePrivateKey):
            fail("envelope: P-256 envelope, device key is not P-256")
        shared = priv.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), eph))
    else:
        if not isinstance(priv, x25519.X25519PrivateKey):
            fail("envelope: X25519 envelope, device key is not X25519")
        shared = priv.exchange(x25519.X25519PublicKey.from_public_bytes(eph))
    info = b"molt-envelope-v1" + env[:8 + dlen]
    okm = HKDF(algorithm=hashes.SHA256(), length=klen + 32, salt=None, info=info).derive(shared)
    if not hmac.compare_digest(hmac.new(okm[klen:], env[:-32], "sha256").digest(), tag):
        fail("envelope: tag mismatch (another device's envelope, or altered)")
    dec = Cipher(algorithms.AES(okm[:klen]), modes.CTR(bytes(16))).decryptor()
    return dec.update(wrapped) + dec.finalize()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--enc-key", required=True)
    ap.add_argument("--envelope")
    ap.add_argument("--payload-out")
    ap.add_argument("image")
    a = ap.parse_args()
    priv = serialization.load_pem_private_key(open(a.enc_key, "rb").read(), password=None)
    d = open(a.image, "rb").read()
    try:
        magic, _, hdr, prot, size, flags = struct.unpack_from("<IIHHII", d, 0)
        if magic != 0x96F3B83D:
            fail("bad magic")
        klen = {0x04: 16, 0x08: 32}.get(flags & 0x0C)
        if klen is None:
            fail("not encrypted (flags 0x%x)" % flags)
        off = hdr + size
        if prot:
            _, off = tlvs(d, off, 0x6908)
        unprot, _ = tlvs(d, off, 0x6907)
        hashes_ = [(t, o, n) for t, o, n in unprot if t in HASHES]
        encs = [(t, o, n) for t, o, n in unprot if 0x30 <= t <= 0x34]
        if len(hashes_) != 1 or len(encs) != 1:
            fail("want one hash TLV and one key TLV")
        ht, ho, hn = hashes_[0]
        digest = d[ho:ho + hn]
        if a.envelope:
            key = open_envelope(priv, open(a.envelope, "rb").read(), ht, digest)
            if len(key) != klen:
                fail("envelope key size differs from the image's AES flag")
        else:
            t, o, n = encs[0]
            key = refcheck.unwrap_key(priv, t, d[o:o + n], klen)
        dec = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).decryptor()
        plain = dec.update(d[hdr:hdr + size]) + dec.finalize()
        if HASHES[ht](d[:hdr] + plain + d[hdr + size:hdr + size + prot]).digest() != digest:
            fail("hash over the decrypted image does not match")
        if a.payload_out:
            open(a.payload_out, "wb").write(plain)
        print("OK key=" + key.hex())
        return 0
    except (refcheck.Fail, ValueError) as e:
        print("FAIL: %s" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
