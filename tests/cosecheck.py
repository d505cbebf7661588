#!/usr/bin/env python3
"""cosecheck.py - an independent check that a molt attestation token is a
standard COSE_Sign1 (RFC 9052) PSA token (RFC 9783), written from the RFCs with
Debian's python3-cbor2 and python3-cryptography; it shares no code with molt.

R-ATTEST: the token must be CBOR tag 18 around [protected, unprotected,
payload, signature]; protected = {1: -7} (ES256); the signature is the raw
64-byte r || s over the CBOR Sig_structure ["Signature1", protected, h'',
payload], verified here from scratch with the IAK's public key.

usage: cosecheck.py --iak PUB.pem --nonce HEX TOKEN
       cosecheck.py --tamper-version TOKEN OUT   (re-encode the payload with a
                                                  changed version, keep the signature)
Exit 0 and one JSON line of the checked claims; exit 1 and a one-line reason.
"""
import hashlib
import json
import sys

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

PROFILE = "tag:psacertified.org,2023:psa#tfm"


def fail(msg):
    print("cosecheck: " + msg, file=sys.stderr)
    sys.exit(1)


def check(iak_path, nonce_hex, token_path):
    with open(iak_path, "rb") as f:
        pub = serialization.load_pem_public_key(f.read())
    if not isinstance(pub, ec.EllipticCurvePublicKey) or pub.curve.name != "secp256r1":
        fail("IAK is not a P-256 key")
    point = pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    nonce = bytes.fromhex(nonce_hex)
    with open(token_path, "rb") as f:
        raw = f.read()
    try:
        tok = cbor2.loads(raw)
    except Exception as e:  # truncated or malformed
        fail("malformed or truncated CBOR: %s" % e)
    if cbor2.dumps(tok) != raw:
        fail("trailing bytes or non-preferred encoding")
    if not isinstance(tok, cbor2.CBORTag) or tok.tag != 18:
        fail("not tag 18 (COSE_Sign1)")
    if not isinstance(tok.value, list) or len(tok.value) != 4:
        fail("not a 4-element array")
    prot, unprot, payload, sig = tok.value
    if not isinstance(prot, bytes) or cbor2.loads(prot) != {1: -7}:
        fail("protected header is not {1: -7}")
    if not isinstance(unprot, dict) or set(unprot) - {4}:
        fail("unprotected header is not empty or {4: kid}")
    if not isinstance(payload, bytes) or not isinstance(sig, bytes) or len(sig) != 64:
        fail("payload or signature of the wrong type or size")
    tbs = cbor2.dumps(["Signature1", prot, b"", payload])
    der = utils.encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        pub.verify(der, tbs, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        fail("signature does not verify")
    kid = hashlib.sha256(point).digest()
    if unprot.get(4, kid) != kid:
        fail("kid is not SHA-256 of the IAK")
    claims = cbor2.loads(payload)
    # Deterministic encoding: re-encoding canonically gives the same bytes.
    if cbor2.dumps(claims, canonical=True) != payload:
        fail("payload is not deterministically encoded")
    if claims.get(10) != nonce:
        fail("nonce differs")
    if claims.get(265) != PROFILE:
        fail("profile differs")
    if claims.get(256) != b"\x01" + kid:
        fail("instance id is not 0x01 || SHA-256(IAK)")
    for key, typ in ((2394, int), (2395, int), (2396, bytes), (2399, list)):
        if not isinstance(claims.get(key), typ):
            fail("claim %d missing or of the wrong type" % key)
    if len(claims[2396]) != 32 or claims[2394] == 0 or not claims[2399]:
        fail("implementation id, client id or software components invalid")
    comps = []
    for c in claims[2399]:
        if not isinstance(c.get(2), bytes) or len(c[2]) not in (32, 48, 64):
            fail("measurement value invalid")
        if not isinstance(c.get(5), bytes) or len(c[5]) not in (32, 48, 64):
            fail("signer id invalid")
        comps.append({"type": c.get(1), "value": c[2].hex(), "version": c.get(4),
                      "signer_id": c[5].hex(), "desc": c.get(6)})
    out = {"valid": True, "nonce": nonce.hex(), "lifecycle": claims[2395],
           "client_id": claims[2394], "boot_seed": claims.get(268, b"").hex(),
           "security_counter": claims.get(-76000), "components": comps}
    print(json.dumps(out, sort_keys=True))


def tamper_version(token_path, out_path):
    with open(token_path, "rb") as f:
        tok = cbor2.loads(f.read())
    claims = cbor2.loads(tok.value[2])
    claims[2399][0][4] = "9.9.9+9"
    tok.value[2] = cbor2.dumps(claims, canonical=True)
    with open(out_path, "wb") as f:
        f.write(cbor2.dumps(tok))


def main(argv):
    if len(argv) == 4 and argv[1] == "--tamper-version":
        return tamper_version(argv[2], argv[3])
    if len(argv) == 6 and argv[1] == "--iak" and argv[3] == "--nonce":
        return check(argv[2], argv[4], argv[5])
    print(__doc__, file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    main(sys.argv)
