#!/usr/bin/env python3
"""seeds.py - write the seed corpora of fuzz targets that need made-up inputs
(attestation tokens, FWU scripts, moltd requests) into fuzz/corpus/<target>/.
Deterministic except for ECDSA signature bytes. Usage: fuzz/seeds.py [OUTDIR]
The image targets (verify, inspect) are seeded from tests/vectors/imgtool and
envelope from `molt envelope make` (fuzz/seeds.sh)."""
import hashlib, os, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(top, "fuzz", "corpus")
keys = os.path.join(top, "tests", "vectors", "imgtool", "keys")

def enc(x):
    """A minimal CBOR encoder: int, bytes, str, list, dict (definite lengths, preferred heads)."""
    if isinstance(x, int):
        return head(0, x) if x >= 0 else head(1, -1 - x)
    if isinstance(x, bytes):
        return head(2, len(x)) + x
    if isinstance(x, str):
        return head(3, len(x.encode())) + x.encode()
    if isinstance(x, list):
        return head(4, len(x)) + b"".join(enc(i) for i in x)
    return head(5, len(x)) + b"".join(enc(k) + enc(v) for k, v in x.items())

def head(major, n):
    for ai, w in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 24:
            return bytes([major << 5 | n])
        if n < 1 << (8 * w):
            return bytes([major << 5 | ai]) + n.to_bytes(w, "big")
    raise ValueError(n)

def put(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

# --- attest: the IAK is sign-ecdsa-p256, the challenge 00 01 .. 1f (fuzz_attest.c)
iak = serialization.load_pem_private_key(open(os.path.join(keys, "sign-ecdsa-p256.pem"), "rb").read(), None)
pub = iak.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
ueid = b"\x01" + hashlib.sha256(pub).digest()
nonce = bytes(range(32))
PROFILE = "tag:psacertified.org,2023:psa#tfm"

def comp(t, h, v, alg="sha-256"):
    return {1: t, 2: h, 4: v, 5: hashlib.sha256(b"signer").digest()[: len(h)], 6: alg}

def claims(n=nonce, comps=None, extra=None, drop=()):
    c = {10: n, 256: ueid, 265: PROFILE, 268: b"\x5a" * 32, 2394: -1, 2395: 0x3000, 2396: b"\x11" * 32,
         2399: comps or [comp("App", b"\x22" * 32, "1.2.3+4")], -76000: 5}
    c.update(extra or {})
    return enc({k: v for k, v in c.items() if k not in drop})

def token(prot, payload):
    tbs = enc(["Signature1", prot, b"", payload])
    r, s = decode_dss_signature(iak.sign(tbs, ec.ECDSA(hashes.SHA256())))
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return b"\xd2" + head(4, 4) + head(2, len(prot)) + prot + b"\xa1\x04" + head(2, 32) + ueid[1:] + \
        head(2, len(payload)) + payload + head(2, 64) + sig

ES256 = b"\xa1\x01\x26"
payloads = {
    "one_component": claims(),
    "two_components_sha512": claims(comps=[comp("App", b"\x22" * 64, "255.255.65535+4294967295", "sha-512"),
                                           comp("App-inactive", b"\x33" * 64, "1.0.0", "sha-512")]),
    "nonce64": claims(n=bytes(range(64))),
    "no_counter_no_seed": claims(extra={}, drop=(268, -76000)),
}
for name, p in payloads.items():
    put("attest", "raw_" + name, b"\x00" + token(ES256, p))
    put("attest", "signed_" + name, b"\x01" + bytes([len(ES256)]) + ES256 + p)
put("attest", "raw_truncated", b"\x00" + token(ES256, payloads["one_component"])[:40])

# --- fwu: scripts (fuzz_fwu.c): op byte = low 4 bits op, high bits argument
START = lambda img: bytes([0x00 | img << 4])
ALL, FINISH, CANCEL, CLEAN, INSTALL, ACCEPT, REJECT, RESET, QUERY = b"\x0e", b"\x05", b"\x06", b"\x07", b"\x08", \
    b"\x09", b"\x0a", b"\x0b", b"\x0f"
cut = lambda k, seed, torn=True: bytes([0x0c if torn else 0x0d, k, seed])
for i, name in enumerate(["p03", "p24", "p26", "n01", "p08"]):
    put("fwu", "update_" + name, START(i) + ALL + FINISH + QUERY + INSTALL + ACCEPT + QUERY)
put("fwu", "reject", START(0) + ALL + FINISH + INSTALL + REJECT + QUERY)
put("fwu", "chunks_reset_resume", START(0) + b"\x01\x40\x02\x80\x03\xff" + RESET + ALL + FINISH + INSTALL + ACCEPT)
put("fwu", "cut_while_writing", START(0) + cut(5, 1) + ALL + ALL + FINISH + INSTALL + ACCEPT)
put("fwu", "cut_in_finish", START(0) + ALL + cut(1, 7) + FINISH + FINISH + QUERY + INSTALL)
put("fwu", "cut_in_install", START(0) + ALL + FINISH + cut(0, 3, False) + INSTALL + RESET + INSTALL + ACCEPT)
put("fwu", "cut_in_swap", START(0) + ALL + FINISH + b"\x08" + cut(9, 2) + RESET + RESET + ACCEPT)
put("fwu", "raw_write", START(0) + b"\x04\x00\x00\x1f" + bytes(32) + ALL + FINISH)
put("fwu", "cancel_clean_again", START(0) + b"\x02\x10" + CANCEL + CLEAN + START(0) + ALL + FINISH + INSTALL + ACCEPT)
put("fwu", "align16", bytes([0x80]) + ALL + FINISH + INSTALL + ACCEPT)

# --- moltd: requests (fuzz_moltd.c)
def req(method, path, headers=(), body=b""):
    h = "".join("%s: %s\n" % kv for kv in headers)
    return ("%s %s\n%s\n" % (method, path, h)).encode() + body

A, O, T = ("Authorization", "Bearer $A"), ("Authorization", "Bearer $O"), ("Authorization", "TargetToken $T")
J = ("Content-Type", "application/json")
SEP = b"\n---\n"
seeds = {
    "poll": [req("GET", "$D", [T])],
    "deployment_feedback": [req("GET", "$D/deploymentBase/1", [T]),
                            req("POST", "$D/deploymentBase/1/feedback", [T, J],
                                b'{"id":"1","status":{"execution":"proceeding","result":{"finished":"none"},'
                                b'"progress":{"cnt":2,"of":5}}}'),
                            req("POST", "$D/deploymentBase/1/feedback", [T, J],
                                b'{"id":"1","status":{"execution":"closed","result":{"finished":"failure"}}}')],
    "config_data": [req("PUT", "$D/configData", [T, J],
                        b'{"id":"","time":"20260101T000000","status":{"execution":"closed","result":'
                        b'{"finished":"success"}},"data":{"hw":"rev-b","serial":"0001"}}')],
    "campaigns": [req("GET", "$U/campaigns", [O]), req("GET", "$U/campaigns/1", [O]),
                  req("POST", "$U/campaigns/1/pause", [O]), req("POST", "$U/campaigns/1/resume", [O]),
                  req("POST", "$U/campaigns", [O, J],
                      b'{"name":"again","package":1,"filter":{"ids":["dev1"]},"steps":[50,100],"failure_threshold":10}'),
                  req("POST", "$U/campaigns/1/cancel", [O])],
    "package_upload_check": [req("POST", "$U/packages?class=sensor", [O, ("Content-Type", "application/octet-stream")],
                                 open(os.path.join(top, "tests/vectors/imgtool/images/p03_ecdsa_p256_seccnt.bin"), "rb").read()),
                             req("GET", "$U/packages", [O])],
    "package_bad": [req("POST", "$U/packages?class=sensor", [O, ("Content-Type", "application/octet-stream")],
                        open(os.path.join(top, "tests/vectors/imgtool/negative/n01_payload_bitflip_ecdsa.bin"), "rb").read())],
    "attestation": [req("GET", "$D/molt/attestation", [T]),
                    req("POST", "$D/molt/attestation", [T, ("Content-Type", "application/cbor")],
                        bytes.fromhex("d29a10000000")),
                    req("POST", "$D/molt/attestation", [T, ("Content-Type", "application/cbor")],
                        token(ES256, payloads["one_component"]))],
    "range": [req("GET", "$D/softwaremodules/1/artifacts/sensor-1.2.3_4.bin", [T, ("Range", "bytes=100-199")]),
              req("GET", "$D/softwaremodules/1/artifacts/sensor-1.2.3_4.bin", [T, ("Range", "bytes=-10")]),
              req("GET", "$D/softwaremodules/1/artifacts/sensor-1.2.3_4.bin", [T, ("Range", "bytes=5000-")]),
              req("GET", "$D/softwaremodules/1/artifacts", [T]),
              req("GET", "$D/softwaremodules/1/artifacts/sensor-1.2.3_4.bin", [T, ("If-Range", "\"x\""), ("Range", "bytes=1-")])],
    "mgmt_reads": [req("GET", "$U/devices", [A]), req("GET", "$U/devices/dev1", [A]), req("GET", "$U/audit?after=0", [A]),
                   req("GET", "$U/signers", [A]), req("GET", "$U/classes", [A]), req("GET", "$U/tokens", [A])],
    "auth": [req("GET", "$U/devices", []), req("GET", "$U/devices", [("Authorization", "Bearer nope")]),
             req("GET", "$D", [("Authorization", "GatewayToken $T")]), req("DELETE", "$U/devices", [A])],
    "envelope": [req("GET", "$D/molt/keyEnvelope/1", [T]), req("GET", "$D/installedBase/1", [T]),
                 req("GET", "$D/cancelAction/1", [T])],
}
for name, rs in seeds.items():
    put("moltd", name, SEP.join(rs))
