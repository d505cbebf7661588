"""moltd, the deployer service, on 127.0.0.1 with a temporary database (SQLite or PostgreSQL,
the `db` fixture): start-up refusals; management flows with roles; upload verification and
R-DEPLOY-VERSION (version and security counter strictly increase per class); error cases
with exact status codes and bodies and no state change; a hawkBit DDI round trip (poll,
deploymentBase, a Range download resumed from the middle, feedback); staged rollout with a
failure threshold, cancel; campaign filters by device id and by the attributes devices
report (configData); a scheduled start (nothing before start_at, the action after it);
viewer tokens refused on pause/resume/cancel; kill -9 during 50 parallel provisionings
(every 201 kept, device rows = audit records); a schema-1 database (tests/moltd_schema1.sql)
upgraded in place; kill -9 mid-campaign then restart with nothing committed lost; the CDN
redirect; a newer schema refused. R-NOTIFY (the campaign's message is served before the
update and recorded), R-ONEPKG (one content-addressed package serves every device of its
class).
"""
import collections
import hashlib
import json
import os
import re
import subprocess
import threading
import time

from conftest import A, ADMIN, call, error, http, molt

K = os.path.join(os.environ.get("VECTORS", ""), "keys")
PL = os.path.join(os.environ.get("VECTORS", ""), "payloads")
MSG = "Maintenance tonight: sensors restart once"
SCHEMA = 7


def rd(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def pem(name, path):
    return {"name": name, "pem": rd(path)}


def dev(id, cls):
    return {"id": id, "class": cls, "attestation_key": rd(os.path.join(K, "enc-ecdsa-p256.pub.pem")),
            "encryption_key": rd(os.path.join(K, "enc-x25519.pub.pem"))}


def moltd_err(*args, env=None):
    p = subprocess.run([os.environ["MOLTD"]] + [str(a) for a in args], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, env=dict(os.environ, **(env or {})))
    return p.returncode, p.stderr


def test_options(db, tmp_path):
    """Start-up refusals: one line on stderr, exit 2."""
    art = tmp_path / "art"
    assert moltd_err("--db", db.url, "--port", "0", "--artifact-dir", art) == (2, (
        "moltd: a bootstrap admin token of at least 16 characters is required "
        "(--admin-token-file FILE or MOLTD_ADMIN_TOKEN)\n"))
    tok = {"MOLTD_ADMIN_TOKEN": ADMIN}
    rc, err = moltd_err("--db", "postgresql://molt@127.0.0.1:1/molt", "--port", "0", "--artifact-dir", art, env=tok)
    assert rc == 2 and err.count("\n") == 1, err
    assert err.startswith('moltd: postgresql: connection to server at "127.0.0.1", port 1 failed'), err
    assert moltd_err("--db", "mysql://x", "--port", "0", "--artifact-dir", art, env=tok) == (
        2, "moltd: mysql://x: unknown database scheme (want sqlite:PATH or postgresql://...)\n")
    assert moltd_err("--port", "70000", "--artifact-dir", art, env=tok) == (2, "moltd: 70000: bad value for --port\n")


class Fleet:
    """What the flow below builds up, step by step."""


def audit(m, after=None):
    return call(200, "GET", m.U + "/audit" + ("?after=%d" % after if after is not None else ""), A).json()


def sign(work, key, version, seccnt, payload, out):
    molt("sign", "-k", os.path.join(K, key), "-v", version, "-s", seccnt, "-H", "0x200", "--pad-header",
         "-S", "0x80000", payload, work / out)
    return rd(work / out, "rb")


def links(r):
    return sorted(r.json()["_links"])


def dbase(r):
    return r.json()["_links"].get("deploymentBase", {}).get("href", "none")


def test_deployer_flow(db, moltd_factory, tmp_path):
    m = moltd_factory("--poll-sleep", "30", "--max-json", "8192", "--max-package", "262144").start()
    f = Fleet()
    assert (m.backend, m.schema) == (db.backend, SCHEMA), m.log
    if db.backend == "sqlite":
        assert db.val("PRAGMA journal_mode") == "wal"
    assert db.val("SELECT version FROM schema_version") == str(SCHEMA)
    step_roles(m, f)
    step_signers_classes(m, f, db)
    step_packages(m, f, tmp_path)
    step_devices(m, f, db)
    step_ddi_auth(m, f)
    step_campaign(m, f, db)
    step_download(m, f)
    step_feedback(m, f, db)
    step_threshold(m, f, db)
    step_kill_mid_campaign(m, f, db)
    step_cancel(m, f, db)
    step_append_only(m, f, db)
    step_scheduled_polls(m, f)
    step_attribute_filters(m, f, db)
    step_scheduled_start(m, f, db)
    step_viewer_refusals(m, f, db)
    step_kill_during_provisioning(m, f, db)
    # SIGTERM: exit 0 and the last line
    assert m.stop() == 0
    assert "moltd: stopped" in m.log.splitlines(), m.log
    step_redirect(m, f)
    # versioned schema: a database newer than this moltd is refused, and nothing is touched
    m.stop()
    db.rows("UPDATE schema_version SET version = 99")
    assert moltd_err("--db", db.url, "--port", "0", "--artifact-dir", m.art, env={"MOLTD_ADMIN_TOKEN": ADMIN}) == (
        2, "moltd: schema migration failed: schema version 99 is newer than this moltd (%d)\n" % SCHEMA)
    assert db.val("SELECT version FROM schema_version") == "99"


def step_roles(m, f):
    U = m.U
    assert error(call(401, "GET", U + "/devices")) == "a bearer token is required"
    assert error(call(401, "GET", U + "/devices", "Bearer not-a-token")) == "unknown token"
    assert error(call(401, "GET", U + "/devices", "Basic " + ADMIN)) == "a bearer token is required"
    r = call(201, "POST", U + "/tokens", A, {"name": "ops", "role": "operator"}).json()
    assert (r["name"], r["role"], len(r["token"])) == ("ops", "operator", 32), r
    f.OPS = "Bearer " + r["token"]
    f.VIEW = "Bearer " + call(201, "POST", U + "/tokens", A, {"name": "watch", "role": "viewer"}).json()["token"]
    f.GW = call(201, "POST", U + "/tokens", A, {"name": "gw", "role": "gateway"}).json()["token"]
    assert error(call(409, "POST", U + "/tokens", A, {"name": "ops", "role": "viewer"})) == "token ops exists"
    assert error(call(400, "POST", U + "/tokens", A, {"name": "x", "role": "root"})) == \
        "want {\"name\": [A-Za-z0-9._-]{1,64}, \"role\": admin|operator|viewer|gateway}"
    assert error(call(403, "POST", U + "/tokens", f.OPS, {"name": "y", "role": "admin"})) == \
        "needs the admin role (this token is operator)"
    assert error(call(401, "GET", U + "/devices", "Bearer " + f.GW)) == "unknown token"   # devices only
    assert len(audit(m)) == 3


def step_signers_classes(m, f, db):
    U, OPS = m.U, f.OPS
    assert error(call(403, "POST", U + "/signers", OPS, pem("vendor", K + "/sign-ecdsa-p256.pub.pem"))) == \
        "needs the admin role (this token is operator)"
    r = call(201, "POST", U + "/signers", A, pem("vendor", K + "/sign-ecdsa-p256.pub.pem")).json()
    assert (r["name"], r["type"]) == ("vendor", "ecdsa-p256")
    r = call(201, "POST", U + "/signers", A, pem("backup", K + "/sign-ed25519.pub.pem")).json()
    assert (r["name"], r["type"]) == ("backup", "ed25519")
    assert error(call(409, "POST", U + "/signers", A, pem("vendor", K + "/sign-ed25519.pub.pem"))) == \
        "signer vendor exists"
    assert error(call(400, "POST", U + "/signers", A,
                      '{"name":"junk","pem":"-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----\\n"}')) == \
        "pem: not a signing public key (ecdsa-p256/p384, ed25519, rsa-2048/3072) or a certificate of one"
    assert error(call(400, "POST", U + "/signers", A, pem("enc", K + "/enc-x25519.pub.pem"))) == \
        "pem: not a signing public key (ecdsa-p256/p384, ed25519, rsa-2048/3072) or a certificate of one"
    assert error(call(400, "POST", U + "/signers", A, '{"name":"x", "pem": ')) == \
        "malformed JSON: unexpected token near end of file"
    assert error(call(400, "POST", U + "/signers", A, '["not","an","object"]')) == \
        "malformed JSON: the body must be an object"
    assert error(call(413, "POST", U + "/signers", A, '{"name":"big","pem":"%s"}' % ("A" * 9000))) == \
        "body larger than 8192 bytes"
    call(201, "POST", U + "/classes", A, {"name": "sensor", "signers": ["vendor", "backup"]},
         body={"name": "sensor", "signers": ["vendor", "backup"], "kind": "mcuboot"})
    call(201, "POST", U + "/classes", A, {"name": "gateway-box", "signers": ["backup"]},
         body={"name": "gateway-box", "signers": ["backup"], "kind": "mcuboot"})
    assert error(call(400, "POST", U + "/classes", A, {"name": "other", "signers": ["nobody"]})) == \
        "signers: no signer key named nobody"
    assert error(call(409, "POST", U + "/classes", A, {"name": "sensor", "signers": ["vendor"]})) == \
        "device class sensor exists"
    r = call(200, "GET", U + "/classes", f.VIEW).json()
    assert [c["class"] + ":" + c["signer"] for c in r] == ["gateway-box:backup", "sensor:backup", "sensor:vendor"]
    assert len(audit(m)) == 7            # only successful changes recorded
    assert db.val("SELECT COUNT(*) FROM device_classes") == "2"   # no half-made class


def step_packages(m, f, work):
    """Packages: verified on upload with the class's signers (lib/ molt_verify)."""
    U, OPS = m.U, f.OPS
    v1 = sign(work, "sign-ecdsa-p256.pem", "1.0.0+1", "auto", PL + "/payload_C_65536.bin", "v1.bin")
    v09 = sign(work, "sign-ecdsa-p256.pem", "0.9.0", "auto", PL + "/payload_A_1000.bin", "v09.bin")
    v1b = sign(work, "sign-ecdsa-p256.pem", "1.0.0+1", "auto", PL + "/payload_A_1000.bin", "v1b.bin")
    v11 = sign(work, "sign-ecdsa-p256.pem", "1.1.0", "16777217", PL + "/payload_A_1000.bin", "v11.bin")
    v2 = sign(work, "sign-ed25519.pem", "2.0.0", "auto", PL + "/payload_B_4113.bin", "v2.bin")
    rogue = sign(work, "untrusted-ecdsa-p256.pem", "3.0.0", "auto", PL + "/payload_A_1000.bin", "rogue.bin")
    tampered = v1[:4096] + b"X" + v1[4097:]
    huge = os.urandom(300000)
    f.v1 = v1

    def up(status, cls, auth, data):
        return call(status, "POST", U + "/packages?class=" + cls, auth, data)
    assert error(up(403, "sensor", f.VIEW, v1)) == "needs the operator role (this token is viewer)"
    r = up(201, "sensor", OPS, v1).json()
    f.SHA1 = hashlib.sha256(v1).hexdigest()
    f.SIZE1 = len(v1)
    assert (r["id"], r["sha256"], r["sha1"], r["md5"], r["size"]) == (
        1, f.SHA1, hashlib.sha1(v1).hexdigest(), hashlib.md5(v1).hexdigest(), f.SIZE1)
    assert (r["version"], r["security_counter"], r["signer"], r["filename"], r["class"]) == (
        "1.0.0+1", 16777216, "vendor", "sensor-1.0.0_1.bin", "sensor")
    assert rd(os.path.join(m.art, f.SHA1), "rb") == v1        # stored content-addressed
    assert up(200, "sensor", OPS, v1).json()["id"] == 1        # same bytes: the same package, stored once
    r = up(422, "gateway-box", OPS, v1).json()                 # verified with the class's own signers
    assert r["reason"] == "KEY_UNTRUSTED", r
    r = up(201, "gateway-box", OPS, v2).json()
    assert (r["id"], r["signer"]) == (2, "backup")             # second class, second signer
    assert error(up(409, "sensor", OPS, v2)) == "these bytes are already package 2 of class gateway-box"
    assert up(422, "sensor", OPS, rogue).json()["reason"] == "KEY_UNTRUSTED"
    assert up(422, "sensor", OPS, tampered).json()["reason"] == "HASH_MISMATCH"
    r = up(409, "sensor", OPS, v09).json()                     # R-DEPLOY-VERSION: older
    assert r == {"error": "version is not above the latest of this class", "detail": "1.0.0+1"}, r
    r = up(409, "sensor", OPS, v1b).json()                     # R-DEPLOY-VERSION: equal
    assert r == {"error": "version is not above the latest of this class", "detail": "1.0.0+1"}, r
    assert up(201, "sensor", OPS, v11).json()["security_counter"] == 16777217   # counter of 1.0.0+1 plus 1
    v12 = sign(work, "sign-ecdsa-p256.pem", "1.2.0", "16777217", PL + "/payload_B_4113.bin", "v12.bin")
    r = up(409, "sensor", OPS, v12).json()                     # R-DEPLOY-VERSION: counter
    assert r["error"] == "security counter is not above the latest of this class", r
    assert error(up(400, "nosuch", OPS, v2)) == "class: no device class named nosuch"
    assert error(up(413, "sensor", OPS, huge)) == "body larger than 262144 bytes"
    # no length: counted while read
    assert error(call(413, "POST", U + "/packages?class=sensor", OPS, huge, chunked=True)) == \
        "body larger than 262144 bytes"
    assert error(call(401, "POST", U + "/packages?class=sensor", None, huge)) == \
        "a bearer token is required"                  # refused before the body is read
    assert error(call(400, "POST", U + "/packages?class=sensor", OPS, b"")) == \
        "empty body: send the signed image as application/octet-stream"
    names = os.listdir(m.art)
    assert [n for n in names if n.startswith(".upload")] == []  # no upload left behind
    assert len(names) == 3                                      # three packages stored
    f.np = len(audit(m))


def step_devices(m, f, db):
    """Devices (operator): the token is returned once, kept hashed."""
    U, OPS = m.U, f.OPS
    f.TOK = {}
    for d in ["dev1", "dev2", "dev3", "dev4", "dev5"]:
        f.TOK[d] = call(201, "POST", U + "/devices", OPS, dev(d, "sensor")).json()["token"]
        assert re.fullmatch(r"[A-Za-z0-9]{32}", f.TOK[d]), f.TOK[d]
    f.TOK["box1"] = call(201, "POST", U + "/devices", OPS, dev("box1", "gateway-box")).json()["token"]
    assert error(call(409, "POST", U + "/devices", OPS, dev("dev1", "sensor"))) == "device dev1 exists"
    assert error(call(400, "POST", U + "/devices", OPS, dev("dev9", "nosuch"))) == "class: no device class named nosuch"
    assert error(call(400, "POST", U + "/devices", OPS,
                      {"id": "dev9", "class": "sensor", "attestation_key": "nope"})) == \
        "attestation_key: not a PEM public key"
    assert error(call(400, "POST", U + "/devices", OPS,
                      {"id": "../etc", "class": "sensor", "attestation_key": "nope"})) == "id: [A-Za-z0-9._-]{1,64}"
    assert error(call(403, "POST", U + "/devices", f.VIEW, dev("dev9", "sensor"))) == \
        "needs the operator role (this token is viewer)"
    dump = repr(db.rows("SELECT * FROM devices")) + repr(db.rows("SELECT * FROM api_tokens"))
    assert "dev1" in dump and f.TOK["dev1"] not in dump and f.OPS[7:] not in dump, "a token is stored in clear"
    assert db.val("SELECT COUNT(*) FROM devices") == "6"


def T(f, d):
    return "TargetToken " + f.TOK[d]


def step_ddi_auth(m, f):
    """The device API: authentication; first contact; configData; the empty endpoints."""
    D = m.D
    assert error(call(401, "GET", D + "/dev1")) == "Authorization: TargetToken or GatewayToken is required"
    assert error(call(401, "GET", D + "/dev1", T(f, "dev2"))) == "bad target token"   # another device's token
    assert error(call(401, "GET", D + "/nosuch", T(f, "dev1"))) == "bad target token"  # unknown device: the same
    assert error(call(401, "GET", D + "/dev1", "GatewayToken " + f.TOK["dev1"])) == "bad gateway token"
    assert error(call(404, "GET", m.S + "/OTHER/controller/v1/dev1", T(f, "dev1"))) == "no tenant OTHER"
    assert error(call(404, "GET", D + "/nosuch", "GatewayToken " + f.GW)) == "no controller nosuch"
    call(200, "GET", D + "/dev1", "GatewayToken " + f.GW, body={
        "config": {"polling": {"sleep": "00:00:30"}}, "_links": {"configData": {"href": D + "/dev1/configData"}}})
    r = call(200, "GET", D + "/dev1", T(f, "dev1")).json()
    assert r == {"config": {"polling": {"sleep": "00:00:30"}},
                 "_links": {"configData": {"href": D + "/dev1/configData"}}}, r   # first contact: configData only
    call(200, "PUT", D + "/dev1/configData", T(f, "dev1"),
         '{"id":"","time":"20260101T000000","status":{"execution":"closed","result":{"finished":"success"}},'
         '"data":{"hw":"rev-b","serial":"0001"}}', body=b"")
    assert error(call(400, "PUT", D + "/dev1/configData", T(f, "dev1"), {"data": {"n": 1}})) == \
        "want {\"mode\": merge|replace|remove, \"data\": {\"key\": \"string\", ...}}"
    assert error(call(400, "PUT", D + "/dev1/configData", T(f, "dev1"), {"mode": "bogus", "data": {}})) == \
        "want {\"mode\": merge|replace|remove, \"data\": {\"key\": \"string\", ...}}"
    assert call(200, "GET", D + "/dev1", T(f, "dev1")).json()["_links"] == {}   # no links after configData
    assert call(200, "GET", m.U + "/devices/dev1", f.VIEW).json()["attributes"] == {"hw": "rev-b", "serial": "0001"}
    assert error(call(404, "GET", D + "/dev1/molt/keyEnvelope/1", T(f, "dev1"))) == "no action 1 for dev1"
    assert error(call(404, "GET", D + "/dev1/installedBase/1", T(f, "dev1"))) == "no action 1 for dev1"
    assert error(call(404, "PUT", D + "/dev1/installedBase", T(f, "dev1"), {"name": "x", "version": "1"})) == \
        "no package x 1 for dev1"
    assert call(200, "GET", D + "/dev1/confirmationBase", T(f, "dev1")).json() == \
        {"autoConfirm": {"active": False}, "_links": {}}        # nothing waits
    assert error(call(404, "GET", D + "/dev1/nosuch", T(f, "dev1"))) == "no such resource"
    assert error(call(405, "POST", D + "/dev1", T(f, "dev1"), {})) == "method POST not allowed here"


def camp(p, ids, steps, t):
    return {"name": "rollout", "package": p, "message": MSG, "filter": {"ids": ids}, "steps": steps,
            "failure_threshold": t}


def step_campaign(m, f, db):
    """A staged campaign: 4 sensors (dev5 excluded by the filter), steps 25 % then 100 %,
    pause when more than 20 % of the released devices failed. R-NOTIFY: the message."""
    U, D, OPS = m.U, m.D, f.OPS
    assert error(call(400, "POST", U + "/campaigns", OPS, camp(1, ["dev1"], [50, 40, 100], 20))) == \
        "steps: 1 to 20 increasing percentages ending at 100"
    assert error(call(400, "POST", U + "/campaigns", OPS, camp(1, ["dev1"], [50], 20))) == \
        "steps: 1 to 20 increasing percentages ending at 100"
    assert error(call(400, "POST", U + "/campaigns", OPS, camp(99, ["dev1"], [100], 20))) == "package: no package 99"
    assert error(call(409, "POST", U + "/campaigns", OPS, camp(1, ["box1"], [100], 20))) == \
        "no device to update: none of class sensor matches the filter without 1.0.0+1 or an open update"
    assert error(call(403, "POST", U + "/campaigns", f.VIEW, camp(1, ["dev1"], [100], 20))) == \
        "needs the operator role (this token is viewer)"
    r = call(201, "POST", U + "/campaigns", OPS, camp(1, ["dev1", "dev2", "dev3", "dev4"], [25, 100], 20)).json()
    assert (r["id"], r["targets"]) == (1, 4)
    f.DB1 = dbase(call(200, "GET", D + "/dev1", T(f, "dev1")))
    assert f.DB1.startswith(D + "/dev1/deploymentBase/1?c="), f.DB1
    assert dbase(call(200, "GET", D + "/dev2", T(f, "dev2"))) == "none"   # dev2 waits for step 2
    assert dbase(call(200, "GET", D + "/dev5", T(f, "dev5"))) == "none"   # dev5 not targeted
    assert error(call(404, "GET", D + "/dev2/deploymentBase/1", T(f, "dev2"))) == "no action 1 for dev2"
    r = call(200, "GET", f.DB1, T(f, "dev1")).json()
    chunk = r["deployment"]["chunks"][0]
    assert (r["id"], r["deployment"]["update"], chunk["version"]) == ("1", "forced", "1.0.0+1")
    assert [x["value"] for x in chunk["metadata"] if x["key"] == "molt.message"] == [MSG]   # R-NOTIFY
    art = chunk["artifacts"][0]
    assert (art["hashes"]["sha256"], art["hashes"]["sha1"], art["size"]) == (
        f.SHA1, hashlib.sha1(f.v1).hexdigest(), f.SIZE1)
    f.DL = art["_links"]["download-http"]["href"]
    assert f.DL == D + "/dev1/softwaremodules/1/artifacts/sensor-1.0.0_1.bin"
    served = [(a["object"], a["detail"]) for a in audit(m, f.np) if a["what"] == "notify.served"]
    assert served[0] == ("dev1", MSG)                       # R-NOTIFY recorded


def step_download(m, f):
    """A cut connection at 20000 bytes, resumed with Range from the middle."""
    D, DL, t, v1 = m.D, f.DL, T(f, "dev1"), f.v1
    r = call(206, "GET", DL, t, headers={"Range": "bytes=0-19999"})
    assert len(r.body) == 20000
    assert r.headers["content-range"] == "bytes 0-19999/%d" % f.SIZE1
    assert r.headers["etag"] == '"%s"' % f.SHA1
    r2 = call(206, "GET", DL, t, headers={"Range": "bytes=20000-", "If-Range": '"%s"' % f.SHA1})
    assert r2.headers["content-range"] == "bytes 20000-%d/%d" % (f.SIZE1 - 1, f.SIZE1)
    assert r.body + r2.body == v1                        # the resumed download
    r = call(200, "GET", DL, t, headers={"Range": "bytes=100-", "If-Range": '"stale"'})
    assert r.body == v1                                  # If-Range mismatch: the whole file
    assert call(304, "GET", DL, t, headers={"If-None-Match": '"%s"' % f.SHA1}).body == b""
    r = call(416, "GET", DL, t, headers={"Range": "bytes=%d-" % f.SIZE1})
    assert r.headers["content-range"] == "bytes */%d" % f.SIZE1
    assert call(206, "GET", DL, t, headers={"Range": "bytes=-100"}).body == v1[-100:]   # suffix range
    assert call(200, "GET", DL + ".MD5SUM", t).text == "%s  sensor-1.0.0_1.bin\n" % hashlib.md5(v1).hexdigest()
    assert error(call(401, "GET", DL)) == "Authorization: TargetToken or GatewayToken is required"
    assert error(call(404, "GET", D + "/box1/softwaremodules/1/artifacts/sensor-1.0.0_1.bin", T(f, "box1"))) == \
        "no artifact 1/sensor-1.0.0_1.bin for box1"                  # not its class
    assert error(call(404, "GET", D + "/dev1/softwaremodules/1/artifacts/other.bin", t)) == \
        "no artifact 1/other.bin for dev1"


def cur(e, fin):
    return {"timestamp": 1795334400000, "status": {"execution": e, "result": {"finished": fin, "progress": {
        "cnt": 1, "of": 1}}, "code": 200, "details": ["x"]}}


def legacy(id, e, fin, d):
    return {"id": id, "time": "20261122T080000", "status": {"result": {"finished": fin}, "execution": e,
                                                           "details": [d]}}


def step_feedback(m, f, db):
    """Bad bodies change nothing; then the suricatta sequence (legacy id and time)."""
    U, D, t = m.U, m.D, T(f, "dev1")
    na = len(audit(m))
    FB = D + "/dev1/deploymentBase/1/feedback"
    assert error(call(400, "POST", FB, t, '{"status":{"execution":"closed"')) == \
        "malformed JSON: '}' expected near end of file"
    assert error(call(400, "POST", FB, t, {"status": {"execution": "exploded", "result": {"finished": "success"}}})) \
        == "status.execution: closed, proceeding, canceled, scheduled, rejected, resumed, downloaded or download"
    assert error(call(400, "POST", FB, t, {"status": {"execution": "closed", "result": {"finished": "maybe"}}})) == \
        "status.result.finished: success, failure or none"
    assert error(call(400, "POST", FB, t, {"id": 1, "status": "closed"})) == "status: an object is required"
    ok = {"status": {"execution": "closed", "result": {"finished": "success"}}}
    assert error(call(401, "POST", FB, T(f, "dev2"), ok)) == "bad target token"
    assert error(call(404, "POST", D + "/dev2/deploymentBase/1/feedback", T(f, "dev2"), ok)) == "no action 1 for dev2"
    assert len(audit(m)) == na                                          # refused feedback leaves no record
    assert db.val("SELECT state FROM actions WHERE id = 1") == "assigned"
    call(200, "POST", FB, t, legacy(1, "proceeding", "none", "Installing Update Chunk Artifacts."), body=b"")
    assert db.val("SELECT state FROM actions WHERE id = 1") == "running"
    call(200, "POST", FB, t, legacy(1, "closed", "success", "Update Installed."), body=b"")
    assert error(call(410, "POST", FB, t, legacy(1, "closed", "success", "again"))) == "action 1 is closed (success)"
    r = call(200, "GET", U + "/devices/dev1", f.VIEW).json()
    assert (r["version"], r["action"]["state"]) == ("1.0.0+1", "success")
    s = [a for a in audit(m, na) if a["what"] == "update.success"][0]
    assert (s["actor"], s["object"], s.get("version_before"), s["version_after"], s["detail"]) == (
        "device:dev1", "dev1", None, "1.0.0+1", "Update Installed.")     # who, what, before, after
    r = call(200, "GET", U + "/campaigns/1", f.VIEW).json()
    assert (r["state"], r["step"]) == ("running", 1)                    # step 2 released after step 1
    r = call(200, "GET", D + "/dev1", t)
    assert links(r) == ["configData", "installedBase"]                  # configData asked after an update
    # hawkBit's installedBase: the deployment the device installed, in deploymentBase's shape
    assert r.json()["_links"]["installedBase"]["href"] == D + "/dev1/installedBase/1"
    dep = call(200, "GET", D + "/dev1/deploymentBase/1", t).json()
    inst = call(200, "GET", D + "/dev1/installedBase/1", t).json()
    assert inst == dep
    c = inst["deployment"]["chunks"][0]
    assert (inst["id"], c["version"], c["artifacts"][0]["hashes"]["sha256"]) == ("1", "1.0.0+1", f.SHA1)
    assert error(call(404, "GET", D + "/dev2/installedBase/1", T(f, "dev2"))) == "no action 1 for dev2"
    assert error(call(405, "POST", D + "/dev1/installedBase/1", t, {})) == "method POST not allowed here"
    # the artifact list of a software module (the package), for devices of its class only
    r = call(200, "GET", D + "/dev1/softwaremodules/1/artifacts", t).json()
    assert [(a["filename"], a["size"], a["hashes"]["sha256"], a["_links"]["download"]["href"]) for a in r] == [
        ("sensor-1.0.0_1.bin", f.SIZE1, f.SHA1, D + "/dev1/softwaremodules/1/artifacts/sensor-1.0.0_1.bin")]
    assert error(call(404, "GET", D + "/dev1/softwaremodules/2/artifacts", t)) == \
        "no software module 2 for dev1"                                 # gateway-box's package
    assert error(call(405, "POST", D + "/dev1/softwaremodules/1/artifacts", t, {})) == "method POST not allowed here"


def step_threshold(m, f, db):
    """Step 2: dev2 succeeds (current fields), dev3 fails -> 1 of 4 > 20 %: paused."""
    U, D = m.U, m.D
    for d in ["dev2", "dev3"]:
        assert call(200, "GET", dbase(call(200, "GET", D + "/" + d, T(f, d))), T(f, d)).json()["deployment"][
            "chunks"][0]["version"] == "1.0.0+1"
    a2 = db.val("SELECT id FROM actions WHERE device_id = 'dev2'")
    a3 = db.val("SELECT id FROM actions WHERE device_id = 'dev3'")
    call(200, "POST", "%s/dev2/deploymentBase/%s/feedback" % (D, a2), T(f, "dev2"), cur("closed", "success"),
         body=b"")
    call(200, "POST", "%s/dev3/deploymentBase/%s/feedback" % (D, a3), T(f, "dev3"), cur("closed", "failure"),
         body=b"")
    r = call(200, "GET", U + "/campaigns/1", f.VIEW).json()
    assert (r["state"], r["state_reason"]) == ("paused", "failure threshold 20% exceeded: 1 of 4 failed")
    assert r["actions"] == {"assigned": 1, "failure": 1, "success": 2}
    assert dbase(call(200, "GET", D + "/dev4", T(f, "dev4"))) == "none"   # paused: dev4 not started
    assert error(call(409, "POST", U + "/campaigns/1/pause", f.OPS)) == "cannot pause a campaign that is paused"
    assert call(200, "POST", U + "/campaigns/1/resume", f.OPS).json()["state"] == "running"
    f.A4 = db.val("SELECT id FROM actions WHERE device_id = 'dev4'")
    href = dbase(call(200, "GET", D + "/dev4", T(f, "dev4")))
    assert href.split("?")[0] == "%s/dev4/deploymentBase/%s" % (D, f.A4)   # dev4 offered after resume
    assert call(200, "GET", href, T(f, "dev4")).json()["id"] == f.A4
    call(200, "POST", "%s/dev4/deploymentBase/%s/feedback" % (D, f.A4), T(f, "dev4"), cur("downloaded", "none"),
         body=b"")


def devices_seen(m):
    return [{k: v for k, v in d.items() if k != "last_seen"} for d in call(200, "GET", m.U + "/devices", A).json()]


def step_kill_mid_campaign(m, f, db):
    """kill -9 mid-campaign: everything committed survives the restart."""
    before = (audit(m), devices_seen(m))
    m.kill9()
    m.start()
    assert (audit(m), devices_seen(m)) == before
    assert db.val("SELECT state FROM actions WHERE id = %s" % f.A4) == "downloaded"
    call(200, "POST", "%s/dev4/deploymentBase/%s/feedback" % (m.D, f.A4), T(f, "dev4"), cur("closed", "success"),
         body=b"")
    assert call(200, "GET", m.U + "/campaigns/1", f.VIEW).json()["state"] == "finished"
    r = call(200, "GET", m.U + "/devices", f.VIEW).json()
    assert [(d["id"], d.get("version")) for d in r] == [
        ("box1", None), ("dev1", "1.0.0+1"), ("dev2", "1.0.0+1"), ("dev3", None), ("dev4", "1.0.0+1"), ("dev5", None)]
    assert error(call(409, "POST", m.U + "/campaigns/1/resume", f.OPS)) == "cannot resume a campaign that is finished"


def step_cancel(m, f, db):
    """R-ONEPKG and cancel: one package for the whole class; a started device is asked to stop."""
    U, D, t = m.U, m.D, T(f, "dev1")
    assert call(201, "POST", U + "/campaigns", f.OPS, {"name": "v1.1", "package": 3, "failure_threshold": 100}) \
        .json()["targets"] == 5                          # every sensor targeted
    assert db.val("SELECT COUNT(DISTINCT c.package_id) FROM actions a JOIN campaigns c ON c.id = a.campaign_id "
                  "WHERE c.id = 2") == "1"               # one package
    href = dbase(call(200, "GET", D + "/dev1", t))
    b1 = db.val("SELECT id FROM actions WHERE device_id = 'dev1' AND campaign_id = 2")
    assert call(200, "GET", href, t).json()["deployment"]["chunks"][0]["version"] == "1.1.0+0"
    call(200, "POST", "%s/dev1/deploymentBase/%s/feedback" % (D, b1), t, cur("proceeding", "none"), body=b"")
    assert error(call(404, "GET", "%s/dev1/cancelAction/%s" % (D, b1), t)) == "no cancel request %s for dev1" % b1
    assert call(200, "POST", U + "/campaigns/2/cancel", f.OPS).json()["state"] == "cancelled"
    assert error(call(409, "POST", U + "/campaigns/2/cancel", f.OPS)) == "cannot cancel a campaign that is cancelled"
    r = call(200, "GET", D + "/dev1", t).json()
    assert r["_links"]["cancelAction"]["href"] == "%s/dev1/cancelAction/%s" % (D, b1)
    assert call(200, "GET", "%s/dev1/cancelAction/%s" % (D, b1), t).json() == \
        {"id": b1, "cancelAction": {"stopId": b1}}
    # an unstarted device: no deployment (its last install linked)
    assert links(call(200, "GET", D + "/dev2", T(f, "dev2"))) == ["configData", "installedBase"]
    call(200, "POST", "%s/dev1/cancelAction/%s/feedback" % (D, b1), t,
         {"id": b1, "status": {"execution": "closed", "result": {"finished": "success"}}}, body=b"")
    assert error(call(410, "POST", "%s/dev1/cancelAction/%s/feedback" % (D, b1), t,
                      {"status": {"execution": "closed", "result": {"finished": "success"}}})) == \
        "action %s is not being cancelled" % b1
    assert call(200, "GET", U + "/campaigns/2", f.VIEW).json()["actions"] == {"cancelled": 5}


def step_append_only(m, f, db):
    """The audit log is append-only, in the database itself."""
    assert "append-only" in db.refused("UPDATE audit SET actor = 'x' WHERE id = 1")
    assert "append-only" in db.refused("DELETE FROM audit")
    whats = collections.Counter(a["what"] for a in call(200, "GET", m.U + "/audit", f.VIEW).json())
    assert dict(whats) == {
        "campaign.cancel": 1, "campaign.create": 2, "campaign.finish": 1, "campaign.pause": 1, "campaign.resume": 1,
        "campaign.step": 1, "class.create": 2, "device.attributes": 1, "device.provision": 6, "notify.served": 5,
        "package.upload": 3, "signer.create": 2, "token.create": 3, "update.cancelled": 1, "update.downloaded": 1,
        "update.failure": 1, "update.running": 2, "update.success": 3}


def parallel(fns):
    """Runs the callables at once on threads; their results in order."""
    out = [None] * len(fns)

    def go(i):
        out[i] = fns[i]()
    ts = [threading.Thread(target=go, args=(i,)) for i in range(len(fns))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def step_scheduled_polls(m, f):
    """A scheduled campaign offers nothing before its start; many devices poll at once."""
    r = call(201, "POST", m.U + "/campaigns", f.OPS,
             {"name": "later", "package": 3, "start_at": int(time.time()) * 1000 + 3600000}).json()
    assert r["targets"] == 5
    polls = [lambda d=d: http("GET", m.D + "/" + d, T(f, d)).status
             for d in ["dev1", "dev2", "dev3", "dev4", "dev5"] for _ in range(4)]
    assert parallel(polls) == [200] * 20                 # 20 concurrent polls
    assert dbase(call(200, "GET", m.D + "/dev2", T(f, "dev2"))) == "none"   # not before start_at
    assert call(200, "POST", m.U + "/campaigns/3/cancel", f.OPS).json()["state"] == "cancelled"


def acamp(flt):
    return {"name": "by-attributes", "package": 3, "filter": flt}


def step_attribute_filters(m, f, db):
    """Devices report attributes with DDI PUT configData; filter.attributes targets exactly
    the devices of the class holding every key with that value, ANDed with filter.ids.
    Refused filters: 400 naming the field, no campaign, no action, no audit record."""
    U, D, OPS = m.U, m.D, f.OPS
    for d, data in [("dev2", {"hw": "rev-b", "site": "north"}), ("dev3", {"hw": "rev-a", "site": "north"}),
                    ("dev4", {"hw": "rev-b", "site": "south"})]:
        call(200, "PUT", D + "/%s/configData" % d, T(f, d), {"mode": "replace", "data": data}, body=b"")
    r = call(200, "GET", U + "/devices", f.VIEW).json()
    # dev1 still has {"hw":"rev-b","serial":"0001"}; dev5 reported nothing
    assert [(d["id"], d["attributes"]) for d in r] == [
        ("box1", {}), ("dev1", {"hw": "rev-b", "serial": "0001"}), ("dev2", {"hw": "rev-b", "site": "north"}),
        ("dev3", {"hw": "rev-a", "site": "north"}), ("dev4", {"hw": "rev-b", "site": "south"}), ("dev5", {})]

    def acted(c):
        return db.col("SELECT device_id FROM actions WHERE campaign_id = %s ORDER BY device_id" % c)
    for flt, targets in [({"attributes": {"hw": "rev-b"}}, ["dev1", "dev2", "dev4"]),
                         ({"attributes": {"hw": "rev-b", "site": "north"}}, ["dev2"]),
                         ({"attributes": {"site": "north"}}, ["dev2", "dev3"]),
                         ({"attributes": {"serial": "0001"}}, ["dev1"]),
                         ({"ids": ["dev1", "dev3", "dev4"], "attributes": {"hw": "rev-b"}}, ["dev1", "dev4"]),
                         ({"attributes": {}}, ["dev1", "dev2", "dev3", "dev4", "dev5"])]:   # the whole class
        r = call(201, "POST", U + "/campaigns", OPS, acamp(flt)).json()
        assert (r["targets"], acted(r["id"])) == (len(targets), targets), flt
        assert db.val("SELECT filter FROM campaigns WHERE id = %d" % r["id"]) == \
            json.dumps(flt, sort_keys=True, separators=(",", ":"))
        assert call(200, "POST", U + "/campaigns/%d/cancel" % r["id"], OPS).json()["state"] == "cancelled"
    # a matching campaign is offered to its targets only
    c = call(201, "POST", U + "/campaigns", OPS, acamp({"attributes": {"hw": "rev-a"}})).json()["id"]
    assert dbase(call(200, "GET", D + "/dev3", T(f, "dev3"))).split("?")[0] == \
        "%s/dev3/deploymentBase/%s" % (D, db.val("SELECT id FROM actions WHERE campaign_id = %d" % c))
    assert dbase(call(200, "GET", D + "/dev2", T(f, "dev2"))) == "none"   # dev2 (hw rev-b) not offered
    assert call(200, "POST", U + "/campaigns/%d/cancel" % c, OPS).json()["state"] == "cancelled"

    def counts():
        return (len(audit(m)), db.val("SELECT COUNT(*) FROM campaigns"), db.val("SELECT COUNT(*) FROM actions"))
    before = counts()
    nomatch = "no device to update: none of class sensor matches the filter without 1.1.0+0 or an open update"
    assert error(call(409, "POST", U + "/campaigns", OPS, acamp({"attributes": {"hw": "rev-z"}}))) == nomatch
    assert error(call(409, "POST", U + "/campaigns", OPS, acamp({"ids": ["dev3"], "attributes": {"hw": "rev-b"}}))) \
        == nomatch                                        # ids AND attributes
    assert error(call(409, "POST", U + "/campaigns", OPS, acamp({"ids": ["box1"], "attributes": {}}))) == nomatch
    for flt, msg in [({"attributes": ["hw", "rev-b"]}, "filter.attributes: an object of string values"),
                     ({"attributes": "hw=rev-b"}, "filter.attributes: an object of string values"),
                     ({"attributes": {"hw": "rev-b", "rev": 2}}, "filter.attributes.rev: not a string"),
                     ({"attributes": {"hw": None}}, "filter.attributes.hw: not a string"),
                     # a typo must not widen the campaign
                     ({"attribute": {"hw": "rev-b"}}, "filter.attribute: unknown key (want ids, attributes)"),
                     ({"ids": "dev1"}, "filter.ids: an array of device ids"),
                     (["dev1"], 'filter: an object {"ids"?: [...], "attributes"?: {...}}')]:
        assert error(call(400, "POST", U + "/campaigns", OPS, acamp(flt))) == msg, flt
    assert counts() == before                             # refused filters change nothing


def ms():
    return int(time.time() * 1000)   # the clock moltd uses (same host, CLOCK_REALTIME)


def step_scheduled_start(m, f, db):
    """start_at 3 s ahead: every poll that ended before start_at offers nothing, the first
    poll that began after it offers the action (polled every 0.2 s; the loop ends at the first
    offer or at the first poll begun after start_at without one)."""
    sa = ms() + 3000
    f.CS = call(201, "POST", m.U + "/campaigns", f.OPS,
                {"name": "soon", "package": 3, "filter": {"ids": ["dev5"]}, "start_at": sa}).json()["id"]
    a = db.val("SELECT id FROM actions WHERE campaign_id = %d" % f.CS)
    early = 0
    while True:
        t0 = ms()
        href = dbase(call(200, "GET", m.D + "/dev5", T(f, "dev5")))
        t1 = ms()
        if href != "none":
            assert t1 >= sa, "offered by a poll that ended at %d, before start_at %d" % (t1, sa)
            break
        assert t0 < sa, "not offered by a poll begun at %d, after start_at %d" % (t0, sa)
        early += 1
        time.sleep(0.2)
    assert early >= 1                                     # a poll before start_at (under load one can take 0.6 s)
    assert href.split("?")[0] == "%s/dev5/deploymentBase/%s" % (m.D, a)


def step_viewer_refusals(m, f, db):
    """A viewer token may read a campaign but not pause, resume or cancel it: 403, state kept."""
    U, c = m.U, f.CS

    def acts():
        return (db.val("SELECT state FROM campaigns WHERE id = %d" % c),
                db.rows("SELECT id, state FROM actions WHERE campaign_id = %d" % c))
    viewer = "needs the operator role (this token is viewer)"
    na, before = len(audit(m)), acts()
    assert error(call(403, "POST", U + "/campaigns/%d/pause" % c, f.VIEW)) == viewer
    assert acts() == before
    assert call(200, "POST", U + "/campaigns/%d/pause" % c, f.OPS).json()["state"] == "paused"
    na, before = na + 1, acts()
    assert error(call(403, "POST", U + "/campaigns/%d/resume" % c, f.VIEW)) == viewer
    assert acts() == before                               # still paused
    assert error(call(403, "POST", U + "/campaigns/%d/cancel" % c, f.VIEW)) == viewer
    assert acts() == before                               # still paused, the action still assigned
    assert len(audit(m)) == na                            # viewer refusals leave no audit record
    r = call(200, "GET", U + "/campaigns/%d" % c, f.VIEW).json()
    assert (r["state"], r["actions"]) == ("paused", {"assigned": 1})
    assert call(200, "POST", U + "/campaigns/%d/cancel" % c, f.OPS).json()["state"] == "cancelled"


def step_kill_during_provisioning(m, f, db):
    """kill -9 while 50 provisionings run in parallel, then restart: every request answered
    201 is there, no answer is anything but 201 or none, and the device rows and their
    device.provision audit records match one for one (a change and its record commit together)."""
    names = ["crash%02d" % i for i in range(1, 51)]
    codes = {}

    def prov(n):
        try:
            codes[n] = http("POST", m.U + "/devices", f.OPS, dev(n, "sensor"), timeout=10).status
        except OSError:
            codes[n] = None
    ts = [threading.Thread(target=prov, args=(n,)) for n in names]
    for t in ts:
        t.start()
    for _ in range(500):
        if sum(1 for c in list(codes.values()) if c == 201) >= 5:
            break
        time.sleep(0.002)
    m.kill9()
    for t in ts:
        t.join()
    m.start()
    assert len(codes) == 50 and set(codes.values()) <= {201, None}, codes
    answered = sorted(n for n, c in codes.items() if c == 201)
    rows = sorted(db.col("SELECT id FROM devices WHERE id LIKE 'crash%'"))
    recs = sorted(db.col("SELECT object FROM audit WHERE what = 'device.provision' AND object LIKE 'crash%'"))
    assert set(answered) <= set(rows)                     # every 201 survived
    assert recs == rows                                   # device rows = device.provision records
    print("moltd: kill -9 during 50 provisionings: %d answered, %d committed" % (len(answered), len(rows)))
    if db.backend == "sqlite":
        assert db.val("PRAGMA integrity_check") == "ok"
    for n in names:   # the lost ones can be provisioned again; the committed ones exist
        if n in rows:
            assert error(call(409, "POST", m.U + "/devices", f.OPS, dev(n, "sensor"))) == "device %s exists" % n
        else:
            r = call(201, "POST", m.U + "/devices", f.OPS, dev(n, "sensor")).json()
            assert (r["id"], r["class"], len(r["token"])) == (n, "sensor", 32), r
    assert (db.val("SELECT COUNT(*) FROM devices WHERE id LIKE 'crash%'"),
            db.val("SELECT COUNT(*) FROM audit WHERE what = 'device.provision' AND object LIKE 'crash%'")) == ("50", "50")


def step_redirect(m, f):
    """The CDN redirect: downloads sent to --artifact-base-url, by content address."""
    m.start("--artifact-base-url", "http://mirror.invalid/molt")
    r = call(302, "GET", m.D + "/dev1/softwaremodules/1/artifacts/sensor-1.0.0_1.bin", T(f, "dev1"))
    assert r.headers["location"] == "http://mirror.invalid/molt/" + f.SHA1


SQLITE_AO = """CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'append-only'); END;
"""
PG_AO = """CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RAISE EXCEPTION ''append-only''; END';
CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only();
"""


def test_schema1_migrated(db, moltd_factory):
    """A database at schema 1 (tests/moltd_schema1.sql, step 1 as released) is migrated to
    the latest schema on start, in place, with every row of it kept and usable."""
    m = moltd_factory()
    db1 = db.new("schema1")
    sql = rd(os.path.join(os.environ["MOLT_SRC"], "tests", "moltd_schema1.sql"))
    if db.backend == "sqlite":
        db1.script(sql.replace("@SERIAL@", "INTEGER PRIMARY KEY AUTOINCREMENT") + SQLITE_AO)
    else:
        db1.script(sql.replace("@SERIAL@", "BIGSERIAL PRIMARY KEY") + PG_AO)
    assert db1.val("SELECT version FROM schema_version") == "1"

    def dump1():  # the schema-1 columns of every table (later steps may add columns), in a fixed order
        return [db1.rows(q) for q in [
            "SELECT hash, name, role, created FROM api_tokens ORDER BY hash",
            "SELECT name, pem, der_hex, key_type, created FROM signers ORDER BY name",
            "SELECT name, created FROM device_classes ORDER BY name",
            "SELECT class, signer FROM class_signers ORDER BY class, signer",
            "SELECT id, sha256, sha1, md5, size, class, version, version_key, security_counter, filename, signer, "
            "uploaded_by, created FROM packages ORDER BY id",
            "SELECT id, class, attest_key, enc_key, token_hash, version, attested_version, attributes, config_wanted, "
            "last_seen, created FROM devices ORDER BY id",
            "SELECT id, name, package_id, filter, steps, step, failure_threshold, message, start_at, state, "
            "state_reason, created_by, created FROM campaigns ORDER BY id",
            "SELECT id, campaign_id, device_id, step, state, version_before, notified, detail, updated FROM actions "
            "ORDER BY id",
            "SELECT id, at, actor, what, object, version_before, version_after, detail FROM audit ORDER BY id"]]
    d1 = dump1()
    m.start(url=db1.url)
    assert (m.backend, m.schema) == (db.backend, SCHEMA), m.log
    assert db1.val("SELECT version FROM schema_version") == str(SCHEMA)
    assert dump1() == d1                                  # the migration kept every row
    # step 2 objects added
    assert (db1.val("SELECT COUNT(*) FROM devices WHERE attested_hash IS NULL AND attested_at IS NULL"),
            db1.val("SELECT COUNT(*) FROM attest_challenges")) == ("1", "0")
    # step 6 objects added (no step released after creation: no release time)
    assert (db1.val("SELECT COUNT(*) FROM campaign_steps WHERE released IS NULL"),
            db1.val("SELECT COUNT(*) FROM ticket_policies"),
            db1.val("SELECT COUNT(*) FROM device_quarantine")) == ("1", "0", "0")
    oldv, oldt = "Bearer legacy-viewer-token-0001", "TargetToken legacy-device-token-0001"
    r = call(200, "GET", m.U + "/devices", oldv).json()
    assert [(d["id"], d["class"], d["version"], d["attributes"]["hw"], d["action"]["state"]) for d in r] == \
        [("old1", "legacy", "0.9.0+0", "rev-a", "success")]
    r = call(200, "GET", m.U + "/campaigns/1", oldv).json()
    assert (r["name"], r["state"], r["actions"]) == ("first", "finished", {"success": 1})
    r = call(200, "GET", m.U + "/audit", oldv).json()
    assert ["%d:%s" % (a["id"], a["what"]) for a in r] == [
        "1:signer.create", "2:class.create", "3:package.upload", "4:device.provision", "5:campaign.create",
        "6:update.success", "7:campaign.finish"]
    # the old device token polls (its schema-1 install linked)
    assert links(call(200, "GET", m.D + "/old1", oldt)) == ["installedBase"]
    r = call(200, "GET", m.D + "/old1/molt/attestation", oldt).json()
    assert re.fullmatch(r"[0-9a-f]{64}", r["nonce"]), r   # an attestation challenge on a migrated device
    assert db1.val("SELECT COUNT(*) FROM attest_challenges WHERE device_id = 'old1'") == "1"
    r = call(201, "POST", m.U + "/devices", A, dev("new1", "legacy")).json()
    assert (r["id"], r["class"], len(r["token"])) == ("new1", "legacy", 32), r
    assert db1.val("SELECT id FROM audit WHERE what = 'device.provision' AND object = 'new1'") == "8"
    assert "append-only" in db1.refused("DELETE FROM audit WHERE id = 1")   # still append-only
