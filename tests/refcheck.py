#!/usr/bin/env python3
"""refcheck.py - an independent reference checker for MCUboot-format images.

This is a second implementation of the image rules, written from the format
description (header, TLV areas, hash, key TLVs, signatures, protected TLVs,
trailer) and not from molt's C code, so that the two can be cross-checked.
It uses only the standard library and python3-cryptography.

usage: refcheck.py --key PUB.pem [--key ...] [--hash-only]
                   [--enc-key PRIV.pem]
                   [--expect-version 1.2.3+4] [--expect-seccnt N|none]
                   [--expect-flags 0x..] [--expect-load-addr 0x..]
                   [--slot-size N --expect-trailer none|test|perm|overwrite-only
                    --align A [--max-align M]]
                   IMAGE

Prints "OK" and exits 0, or prints "FAIL: reason" and exits 1. Bad usage or an
unreadable key exits 2.

Rules (strict on purpose):
  * header: magic 0x96f3b83d, ih_hdr_size >= 32, every offset inside the file;
  * protected area (info magic 0x6908) present iff ih_protect_tlv_size != 0 and
    its total equal to it; unprotected area (0x6907) right after; every TLV
    inside its area, each area consumed exactly;
  * unprotected area: only KEYHASH, PUBKEY, SHA*, signatures, SIG_PURE, ENC_*;
    protected area: only DEPENDENCY, SEC_CNT, BOOT_RECORD, UUID_VID/CID and
    vendor types 0xXXa0-0xXXff;
  * exactly one hash TLV, equal to the hash of header + payload + protected area;
  * each signature TLV must follow its own KEYHASH/PUBKEY (exact length) naming
    a given key; every such signature must verify; at least one must unless
    --hash-only;
  * encrypted images: exactly one ENC_* TLV whose length fits the AES flag.
    Without --enc-key the payload is hashed as stored (an installed image);
    with --enc-key it is decrypted first (an upload).
"""

import argparse
import hashlib
import hmac as std_hmac
import struct
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

IMAGE_MAGIC = 0x96F3B83D
HDR_SIZE = 32
PROT_MAGIC = 0x6908
UNPROT_MAGIC = 0x6907

F_PIC = 0x01
F_AES128 = 0x04
F_AES256 = 0x08
F_NON_BOOTABLE = 0x10
F_RAM_LOAD = 0x20
F_ROM_FIXED = 0x100
F_COMPRESSED = 0x200 | 0x400 | 0x800
F_KNOWN = F_PIC | F_AES128 | F_AES256 | F_NON_BOOTABLE | F_RAM_LOAD | F_ROM_FIXED | F_COMPRESSED

T_KEYHASH, T_PUBKEY = 0x01, 0x02
T_SHA256, T_SHA384, T_SHA512 = 0x10, 0x11, 0x12
T_RSA2048, T_ECDSA224, T_ECDSA, T_RSA3072, T_ED25519, T_SIG_PURE = 0x20, 0x21, 0x22, 0x23, 0x24, 0x25
T_ENC_RSA, T_ENC_KW, T_ENC_EC256, T_ENC_X25519, T_ENC_X25519_SHA512 = 0x30, 0x31, 0x32, 0x33, 0x34
T_DEPENDENCY, T_SEC_CNT, T_BOOT_RECORD = 0x40, 0x50, 0x60
T_UUID_VID, T_UUID_CID = 0x74, 0x75

HASHES = {T_SHA256: ("SHA256", hashlib.sha256, 32),
          T_SHA384: ("SHA384", hashlib.sha384, 48),
          T_SHA512: ("SHA512", hashlib.sha512, 64)}
SIG_TYPES = {T_RSA2048, T_ECDSA, T_RSA3072, T_ED25519}
ENC_TYPES = {T_ENC_RSA, T_ENC_KW, T_ENC_EC256, T_ENC_X25519, T_ENC_X25519_SHA512}
UNPROT_ALLOWED = {T_KEYHASH, T_PUBKEY, T_SIG_PURE} | set(HASHES) | SIG_TYPES | ENC_TYPES
# ENC TLV length for a 16-byte and for a 32-byte content key.
ENC_LEN = {T_ENC_RSA: (256, 256), T_ENC_KW: (24, 40), T_ENC_EC256: (113, 129),
           T_ENC_X25519: (80, 96), T_ENC_X25519_SHA512: (112, 128)}

MAGIC_MAX_ALIGN_8 = bytes.fromhex("77c295f360d2ef7f3552500f2cb67980")
MAGIC_TAIL = bytes.fromhex("2de15d29410b8d77679c110f1f8a")


class Fail(Exception):
    pass


def fail(msg):
    raise Fail(msg)


def u16(d, o):
    return struct.unpack_from("<H", d, o)[0]


def u32(d, o):
    return struct.unpack_from("<I", d, o)[0]


# ---------------------------------------------------------------- keys

class Key:
    def __init__(self, path, obj):
        self.path = path
        self.obj = obj
        if isinstance(obj, rsa.RSAPublicKey):
            self.kind = "rsa-%d" % obj.key_size
            self.der = obj.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
        elif isinstance(obj, ec.EllipticCurvePublicKey):
            names = {"secp256r1": "ecdsa-p256", "secp384r1": "ecdsa-p384"}
            if obj.curve.name not in names:
                raise ValueError("unsupported curve " + obj.curve.name)
            self.kind = names[obj.curve.name]
            self.der = obj.public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
        elif isinstance(obj, ed25519.Ed25519PublicKey):
            self.kind = "ed25519"
            self.der = obj.public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
        else:
            raise ValueError("unsupported signing key type")


def load_pub(path):
    raw = open(path, "rb").read()
    obj = None
    for loader in (serialization.load_pem_public_key, serialization.load_der_public_key):
        try:
            obj = loader(raw)
            break
        except ValueError:
            pass
    if obj is None:  # a private key: use its public half
        for loader in (serialization.load_pem_private_key, serialization.load_der_private_key):
            try:
                obj = loader(raw, password=None).public_key()
                break
            except (ValueError, TypeError):
                pass
    if obj is None:
        raise ValueError("cannot read a public key")
    return Key(path, obj)


def load_priv(path):
    raw = open(path, "rb").read()
    try:
        return serialization.load_pem_private_key(raw, password=None)
    except ValueError:
        return serialization.load_der_private_key(raw, password=None)


# ---------------------------------------------------------------- TLVs

def walk_area(d, start, total, end_limit, what):
    """TLVs of the area [start, start+total): (type, off, len) with off the value offset."""
    if total < 4:
        fail("%s TLV info total %d smaller than its header" % (what, total))
    end = start + total
    if end > end_limit:
        fail("%s TLV area (0x%x..0x%x) runs past the end of data (0x%x)" % (what, start, end, end_limit))
    out = []
    pos = start + 4
    while pos < end:
        if pos + 4 > end:
            fail("%s: TLV header at 0x%x overruns its area" % (what, pos))
        t, ln = u16(d, pos), u16(d, pos + 2)
        if pos + 4 + ln > end:
            fail("%s: TLV 0x%x length %d overruns its area" % (what, t, ln))
        out.append((t, pos + 4, ln))
        pos += 4 + ln
    return out


def is_vendor(t):
    return 0xA0 <= (t & 0xFF) <= 0xFF and t != 0xFFFF


# ---------------------------------------------------------------- CBOR (boot record)

def cbor_item(b, pos):
    """Decode one definite-length CBOR item of major type 0, 2, 3 or 5."""
    if pos >= len(b):
        fail("boot record: CBOR truncated")
    ib = b[pos]
    major, ai = ib >> 5, ib & 0x1F
    pos += 1
    if ai < 24:
        val = ai
    elif ai in (24, 25, 26, 27):
        n = 1 << (ai - 24)
        if pos + n > len(b):
            fail("boot record: CBOR truncated")
        val = int.from_bytes(b[pos:pos + n], "big")
        pos += n
    else:
        fail("boot record: CBOR indefinite or reserved length (0x%02x)" % ib)
    if major == 0:
        return ("uint", val), pos
    if major in (2, 3):
        if pos + val > len(b):
            fail("boot record: CBOR string runs past the TLV")
        s = bytes(b[pos:pos + val])
        pos += val
        if major == 3:
            try:
                return ("text", s.decode("utf-8")), pos
            except UnicodeDecodeError:
                fail("boot record: CBOR text is not UTF-8")
        return ("bytes", s), pos
    if major == 5:
        m = {}
        for _ in range(val):
            k, pos = cbor_item(b, pos)
            v, pos = cbor_item(b, pos)
            if k[0] != "uint":
                fail("boot record: map key is not an unsigned integer")
            if k[1] in m:
                fail("boot record: duplicate map key %d" % k[1])
            m[k[1]] = v
        return ("map", m), pos
    fail("boot record: unexpected CBOR major type %d" % major)


def check_boot_record(val, hdr_version, hash_name, hash_len, signer_hash):
    item, pos = cbor_item(val, 0)
    if pos != len(val):
        fail("boot record: %d trailing bytes after the CBOR map" % (len(val) - pos))
    if item[0] != "map":
        fail("boot record: not a CBOR map")
    m = item[1]
    if set(m) != {1, 2, 4, 5, 6}:
        fail("boot record: map keys %s, expected 1,2,4,5,6" % sorted(m))
    kind, sw_type = m[1]
    if kind != "text" or not 0 < len(sw_type) <= 12:
        fail("boot record: software type (key 1) must be a text of 1..12 characters")
    kind, meas = m[2]
    if kind != "bytes" or meas != bytes(hash_len):
        fail("boot record: measurement value (key 2) must be %d zero bytes" % hash_len)
    kind, ver = m[4]
    want = "%d.%d.%d" % hdr_version[:3]
    if kind != "text" or ver != want:
        fail("boot record: version (key 4) %r, header says %r" % (ver, want))
    kind, signer = m[5]
    if kind != "bytes" or len(signer) != hash_len:
        fail("boot record: signer id (key 5) must be %d bytes" % hash_len)
    if signer != (signer_hash if signer_hash is not None else bytes(hash_len)):
        fail("boot record: signer id (key 5) is not the signer's key hash")
    kind, desc = m[6]
    if kind != "text" or desc != hash_name:
        fail("boot record: measurement description (key 6) %r, expected %r" % (desc, hash_name))


# ---------------------------------------------------------------- decryption

def unwrap_key(enc_priv, t, val, keylen):
    if t == T_ENC_RSA:
        if not isinstance(enc_priv, rsa.RSAPrivateKey):
            fail("ENC_RSA2048 needs an RSA decryption key")
        try:
            key = enc_priv.decrypt(val, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                                     algorithm=hashes.SHA256(), label=None))
        except ValueError:
            fail("cannot unwrap content key: RSA-OAEP failed")
        if len(key) != keylen:
            fail("unwrapped content key has %d bytes, flags say %d" % (len(key), keylen))
        return key
    if t == T_ENC_EC256:
        if not isinstance(enc_priv, ec.EllipticCurvePrivateKey):
            fail("ENC_EC256 needs a P-256 decryption key")
        eph_len, hfn = 65, hashes.SHA256
        try:
            eph = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), val[:65])
            shared = enc_priv.exchange(ec.ECDH(), eph)
        except ValueError:
            fail("cannot unwrap content key: bad ephemeral point")
    elif t in (T_ENC_X25519, T_ENC_X25519_SHA512):
        if not isinstance(enc_priv, x25519.X25519PrivateKey):
            fail("ENC_X25519 needs an X25519 decryption key")
        eph_len = 32
        hfn = hashes.SHA256 if t == T_ENC_X25519 else hashes.SHA512
        try:
            shared = enc_priv.exchange(x25519.X25519PublicKey.from_public_bytes(val[:32]))
        except ValueError:
            fail("cannot unwrap content key: bad ephemeral key")
    else:
        fail("ENC TLV 0x%x is not supported by this checker" % t)
    dlen = hfn.digest_size
    tag = val[eph_len:eph_len + dlen]
    wrapped = val[eph_len + dlen:]
    okm = HKDF(algorithm=hfn(), length=keylen + dlen, salt=None,
               info=b"MCUBoot_ECIES_v1").derive(shared)
    mac = std_hmac.new(okm[keylen:], wrapped, hfn.name).digest()
    if not std_hmac.compare_digest(mac, tag):
        fail("cannot unwrap content key: ECIES HMAC tag mismatch")
    dec = Cipher(algorithms.AES(okm[:keylen]), modes.CTR(bytes(16))).decryptor()
    return dec.update(wrapped) + dec.finalize()


# ---------------------------------------------------------------- signatures

def verify_sig(key, t, sig, hash_type, digest, region, pure):
    """Raise Fail unless sig verifies. region is the whole hashed region (pure mode)."""
    hname = HASHES[hash_type][0]
    try:
        if t in (T_RSA2048, T_RSA3072):
            want = "rsa-2048" if t == T_RSA2048 else "rsa-3072"
            if key.kind != want:
                fail("signature TLV 0x%x but the key is %s" % (t, key.kind))
            if len(sig) != (256 if t == T_RSA2048 else 384):
                fail("RSA signature TLV has length %d" % len(sig))
            if hash_type != T_SHA256:
                fail("RSA-PSS signs a SHA256 digest, image hash is %s" % hname)
            key.obj.verify(sig, digest,
                           padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                           utils.Prehashed(hashes.SHA256()))
        elif t == T_ECDSA:
            if key.kind == "ecdsa-p256":
                need, h = T_SHA256, hashes.SHA256()
            elif key.kind == "ecdsa-p384":
                need, h = T_SHA384, hashes.SHA384()
            else:
                fail("ECDSA signature TLV but the key is %s" % key.kind)
            if hash_type != need:
                fail("%s needs the %s hash, image hash is %s" % (key.kind, HASHES[need][0], hname))
            key.obj.verify(sig, digest, ec.ECDSA(utils.Prehashed(h)))
        elif t == T_ED25519:
            if key.kind != "ed25519":
                fail("Ed25519 signature TLV but the key is %s" % key.kind)
            if len(sig) != 64:
                fail("Ed25519 signature TLV has length %d" % len(sig))
            if pure:
                if hash_type != T_SHA512:
                    fail("pure Ed25519 requires the SHA512 hash TLV")
                key.obj.verify(sig, region)
            else:
                if hash_type not in (T_SHA256, T_SHA512):
                    fail("Ed25519 signs a SHA256 or SHA512 digest, image hash is %s" % hname)
                key.obj.verify(sig, digest)
        else:
            fail("unsupported signature TLV 0x%x" % t)
    except InvalidSignature:
        fail("signature TLV 0x%x does not verify under %s" % (t, key.path))
    if pure and t != T_ED25519:
        fail("SIG_PURE with a non-Ed25519 signature")


# ---------------------------------------------------------------- the check

def parse_version(s):
    main, _, build = s.partition("+")
    parts = main.split(".")
    if not 1 <= len(parts) <= 3:
        raise ValueError(s)
    parts = [int(p) for p in parts] + [0] * (3 - len(parts))
    return (parts[0], parts[1], parts[2], int(build) if build else 0)


def check(d, args, keys, enc_priv):
    size = len(d)
    # --- header, field by field
    if size < HDR_SIZE:
        fail("file shorter than the 32-byte header (%d bytes)" % size)
    magic, load_addr = u32(d, 0), u32(d, 4)
    hdr_size, prot_size = u16(d, 8), u16(d, 10)
    img_size, flags = u32(d, 12), u32(d, 16)
    version = (d[20], d[21], u16(d, 22), u32(d, 24))
    pad1 = u32(d, 28)
    if magic != IMAGE_MAGIC:
        fail("bad header magic 0x%08x" % magic)
    if hdr_size < HDR_SIZE:
        fail("ih_hdr_size 0x%x below 32" % hdr_size)
    if pad1 != 0:
        fail("header _pad1 is 0x%x, not 0" % pad1)
    prot_off = hdr_size + img_size  # Python ints do not wrap; compare with the size
    if prot_off > size:
        fail("ih_hdr_size + ih_img_size (0x%x) past the end of data (0x%x)" % (prot_off, size))
    if prot_off > 0xFFFFFFFF:
        fail("ih_hdr_size + ih_img_size wraps 32 bits")

    # --- protected area
    prot = []
    if prot_off + 4 <= size and u16(d, prot_off) == PROT_MAGIC:
        ptot = u16(d, prot_off + 2)
        if ptot != prot_size:
            fail("ih_protect_tlv_size 0x%x != protected TLV info total 0x%x" % (prot_size, ptot))
        prot = walk_area(d, prot_off, ptot, size, "protected")
    elif prot_size != 0:
        fail("ih_protect_tlv_size 0x%x but no protected TLV info (0x6908)" % prot_size)
    unprot_off = prot_off + prot_size
    if unprot_off + 4 > size:
        fail("no unprotected TLV info at 0x%x (end of data 0x%x)" % (unprot_off, size))
    if u16(d, unprot_off) != UNPROT_MAGIC:
        fail("bad TLV info magic 0x%04x" % u16(d, unprot_off))
    unprot = walk_area(d, unprot_off, u16(d, unprot_off + 2), size, "unprotected")
    end = unprot_off + u16(d, unprot_off + 2)

    # --- area contents
    for t, _, _ in unprot:
        if t not in UNPROT_ALLOWED:
            fail("TLV 0x%x not allowed outside the protected area" % t)
    for t, _, _ in prot:
        if t in UNPROT_ALLOWED or t == T_ECDSA224:
            fail("TLV 0x%x (hash/key/signature/encryption) inside the protected area" % t)
        if t not in (T_DEPENDENCY, T_SEC_CNT, T_BOOT_RECORD, T_UUID_VID, T_UUID_CID) and not is_vendor(t):
            fail("unknown TLV 0x%x in the protected area" % t)

    # --- flags and encryption
    if flags & ~F_KNOWN:
        fail("unknown header flags 0x%x" % (flags & ~F_KNOWN))
    if flags & F_PIC:
        fail("PIC flag is unsupported")
    if flags & F_COMPRESSED:
        fail("compressed images are unsupported")
    if flags & F_RAM_LOAD and flags & F_ROM_FIXED:
        fail("RAM_LOAD and ROM_FIXED both set")
    if (flags & F_AES128) and (flags & F_AES256):
        fail("both AES-128 and AES-256 flags set")
    encs = [(t, o, n) for t, o, n in unprot if t in ENC_TYPES]
    payload = bytes(d[hdr_size:prot_off])
    if flags & (F_AES128 | F_AES256):
        keylen = 16 if flags & F_AES128 else 32
        if len(encs) != 1:
            fail("encrypted flag set but %d key TLVs" % len(encs))
        t, o, n = encs[0]
        if n != ENC_LEN[t][0 if keylen == 16 else 1]:
            fail("ENC TLV 0x%x length %d does not fit a %d-bit key" % (t, n, keylen * 8))
        if img_size % 16:
            fail("encrypted payload size %d is not a multiple of 16" % img_size)
        if enc_priv is not None:
            ck = unwrap_key(enc_priv, t, bytes(d[o:o + n]), keylen)
            dec = Cipher(algorithms.AES(ck), modes.CTR(bytes(16))).decryptor()
            payload = dec.update(payload) + dec.finalize()
    elif encs:
        fail("ENC TLV present but no encrypted flag")

    # --- hash
    hash_tlvs = [(t, o, n) for t, o, n in unprot if t in HASHES]
    if len(hash_tlvs) != 1:
        fail("%d hash TLVs (exactly one required)" % len(hash_tlvs))
    htype, hoff, hlen = hash_tlvs[0]
    hname, hfn, hsize = HASHES[htype]
    if hlen != hsize:
        fail("%s TLV has length %d" % (hname, hlen))
    region = bytes(d[:hdr_size]) + payload + bytes(d[prot_off:unprot_off])
    digest = hfn(region).digest()
    if digest != bytes(d[hoff:hoff + hlen]):
        fail("hash TLV 0x%x does not match computed hash" % htype)

    # --- keys and signatures, in file order
    pures = [(t, o, n) for t, o, n in unprot if t == T_SIG_PURE]
    if len(pures) > 1:
        fail("more than one SIG_PURE TLV")
    if pures and (pures[0][2] != 1 or d[pures[0][1]] != 0x01):
        fail("SIG_PURE TLV must be one byte 0x01")
    pure = bool(pures)
    cur = None          # key selected by the last KEYHASH/PUBKEY, not yet used
    verified = 0
    signer_hash = None
    for t, o, n in unprot:
        val = bytes(d[o:o + n])
        if t == T_KEYHASH:
            if n != hsize:
                fail("KEYHASH length %d, expected %d" % (n, hsize))
            match = [k for k in keys if hfn(k.der).digest() == val]
            if not match:
                fail("KEYHASH names no trusted key")
            cur = match[0]
        elif t == T_PUBKEY:
            match = [k for k in keys if k.der == val]
            if not match:
                fail("PUBKEY is not a trusted key")
            cur = match[0]
        elif t in SIG_TYPES:
            if cur is None:
                fail("signature TLV 0x%x not preceded by a KEYHASH/PUBKEY" % t)
            verify_sig(cur, t, val, htype, digest, region, pure)
            verified += 1
            signer_hash = hfn(cur.der).digest()
            cur = None
        elif t == T_ECDSA224:
            fail("ECDSA224 is unsupported")
    if pure and not verified:
        fail("SIG_PURE without a verified Ed25519 signature")
    if not verified and not args.hash_only:
        fail("no signature TLV" if not any(t in SIG_TYPES for t, _, _ in unprot)
             else "no signature verifies under a trusted key")

    # --- protected TLVs
    seccnt = None
    for t, o, n in prot:
        val = bytes(d[o:o + n])
        if t == T_SEC_CNT:
            if n != 4:
                fail("SEC_CNT length %d, expected 4" % n)
            if seccnt is not None:
                fail("more than one SEC_CNT TLV")
            seccnt = u32(val, 0)
        elif t == T_DEPENDENCY:
            if n != 12:
                fail("DEPENDENCY length %d, expected 12" % n)
            if val[1:4] != bytes(3):
                fail("DEPENDENCY padding bytes are not zero")
        elif t in (T_UUID_VID, T_UUID_CID):
            if n != 16:
                fail("UUID TLV 0x%x length %d, expected 16" % (t, n))
        elif t == T_BOOT_RECORD:
            check_boot_record(val, version, hname, hsize, signer_hash)

    # --- expectations
    if args.expect_version is not None and version != args.expect_version:
        fail("version %d.%d.%d+%d, expected %d.%d.%d+%d" % (version + args.expect_version))
    if args.expect_seccnt is not None:
        if args.expect_seccnt == "none":
            if seccnt is not None:
                fail("SEC_CNT %d present, expected none" % seccnt)
        elif seccnt != int(args.expect_seccnt, 0):
            fail("SEC_CNT %s, expected %s" % (seccnt, args.expect_seccnt))
    if args.expect_flags is not None and flags != args.expect_flags:
        fail("flags 0x%x, expected 0x%x" % (flags, args.expect_flags))
    if args.expect_load_addr is not None and load_addr != args.expect_load_addr:
        fail("load address 0x%x, expected 0x%x" % (load_addr, args.expect_load_addr))

    # --- trailer
    if args.slot_size is not None:
        check_trailer(d, end, args)
    elif args.expect_trailer is not None:
        fail("--expect-trailer needs --slot-size")


def align_up(n, a):
    return (n + a - 1) // a * a


def check_trailer(d, end, args):
    slot = args.slot_size
    mode = args.expect_trailer or "none"
    align = args.align or 1
    max_align = args.max_align or max(8, align)
    if end > slot:
        fail("image (0x%x bytes) larger than the slot (0x%x)" % (end, slot))
    if mode == "none":
        if len(d) != end:
            fail("%d bytes after the image, expected no trailer" % (len(d) - end))
        return
    if len(d) != slot:
        fail("padded image is 0x%x bytes, slot is 0x%x" % (len(d), slot))
    magic = MAGIC_MAX_ALIGN_8 if max_align == 8 else struct.pack("<H", max_align) + MAGIC_TAIL
    if bytes(d[slot - 16:]) != magic:
        fail("trailer magic %s, expected %s (max-align %d)" % (bytes(d[slot - 16:]).hex(), magic.hex(), max_align))
    ok_off = slot - align_up(16, max_align) - max_align
    want_ok = 0x01 if mode == "perm" else 0xFF
    if d[ok_off] != want_ok:
        fail("image_ok at slot-0x%x is 0x%02x, expected 0x%02x" % (slot - ok_off, d[ok_off], want_ok))
    rest = bytearray(d[end:slot - 16])
    rest[ok_off - end] = 0xFF
    if any(b != 0xFF for b in rest):
        first = next(i for i, b in enumerate(rest) if b != 0xFF)
        fail("non-erased byte 0x%02x at 0x%x between image and trailer magic" % (rest[first], end + first))


def main():
    ap = argparse.ArgumentParser(description="independent MCUboot image checker")
    ap.add_argument("--key", action="append", default=[], help="trusted public key (PEM or DER)")
    ap.add_argument("--hash-only", action="store_true", help="no signature required")
    ap.add_argument("--enc-key", help="device decryption key: decrypt an encrypted payload (upload)")
    ap.add_argument("--expect-version", type=parse_version)
    ap.add_argument("--expect-seccnt", help="N, or 'none' for no SEC_CNT")
    ap.add_argument("--expect-flags", type=lambda s: int(s, 0))
    ap.add_argument("--expect-load-addr", type=lambda s: int(s, 0))
    ap.add_argument("--slot-size", type=lambda s: int(s, 0))
    ap.add_argument("--expect-trailer", choices=["none", "test", "perm", "overwrite-only"])
    ap.add_argument("--align", type=int, choices=[1, 2, 4, 8, 16, 32])
    ap.add_argument("--max-align", type=int)
    ap.add_argument("image")
    args = ap.parse_args()
    if not args.key and not args.hash_only:
        ap.error("at least one --key (or --hash-only) is required")
    try:
        keys = [load_pub(p) for p in args.key]
        enc_priv = load_priv(args.enc_key) if args.enc_key else None
        data = open(args.image, "rb").read()
    except (OSError, ValueError, TypeError) as e:
        print("refcheck: %s" % e, file=sys.stderr)
        return 2
    try:
        check(data, args, keys, enc_priv)
    except Fail as e:
        print("FAIL: %s" % e)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
