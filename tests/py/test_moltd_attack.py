"""The attacks of a device, a low-privilege token or a client address against moltd, each
with the exact refusal and no state change (issue 15), on SQLite and PostgreSQL (`db`):
 1. release rules on every action endpoint: an action of an unreleased step, of a paused
    campaign or before start_at is 404 on deploymentBase, feedback and keyEnvelope alike
    (nothing recorded); a started action goes on through a pause (R-AVAIL, R-DEPLOY-VERSION);
 2. a device's attributes are bounded (keys, bytes) and every change is audited;
 3. role and upload parameters are refused from the headers, before a byte is stored;
 4. token revocation (gateway tokens included); malformed ids are 404 on both backends;
 5. one client address cannot hold more than --per-ip-connections, and a connection that
    does not finish its headers within --header-timeout is closed however it trickles;
 6. at start-up, unfinished uploads of dead processes and artifacts no package names are
    swept (others' fresh ones kept);
 7. a full disk (tests/fault_enospc.c, an LD_PRELOAD fault injector) is 507 with the real
    cause, for an upload and for a database commit (SQLite only), and nothing is half-stored.
"""
import hashlib
import json
import os
import socket
import time

import pytest

from conftest import A, Db, call, error, http, molt

K = os.path.join(os.environ.get("VECTORS", ""), "keys")
PL = os.path.join(os.environ.get("VECTORS", ""), "payloads")
BASE = ("--max-json", "8192", "--max-package", "262144", "--header-timeout", "2", "--per-ip-connections", "8")


def rd(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def T(d):
    return "TargetToken tok-%s-0123456789" % d


def cur(e, fin):
    return {"status": {"execution": e, "result": {"finished": fin}}}


def sign(work, version, payload, out):
    molt("sign", "-k", K + "/sign-ecdsa-p256.pem", "-v", version, "-s", "auto", "-H", "0x200", "--pad-header",
         "-S", "0x80000", PL + "/" + payload, work / out)
    return rd(work / out, "rb")


def dev(id, cls):
    return {"id": id, "class": cls, "attestation_key": rd(K + "/enc-ecdsa-p256.pub.pem"),
            "token": "tok-%s-0123456789" % id}


def signer():
    return {"name": "vendor", "pem": rd(K + "/sign-ecdsa-p256.pub.pem")}


def cls(name):
    return {"name": name, "signers": ["vendor"], "kind": "mcuboot"}


def provisioned(d, c):
    return {"id": d, "class": c, "token": "tok-%s-0123456789" % d}


def compact(obj):
    """jq -cS: sorted keys, no spaces (the oracle for moltd's byte counts)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def keys(n, p):
    return {"%s%d" % (p, i): "v" for i in range(n)}


def early(port, auth, query, art):
    """Headers and 1,000 of 200,000 announced bytes, then waiting: the answer (status line,
    body) and the number of .upload files in the store."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(("POST /api/v1/packages?%s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
               "Content-Type: application/octet-stream\r\nContent-Length: 200000\r\n\r\n" % (query, auth)).encode()
              + b"\0" * 1000)
    s.settimeout(2)
    data = b""
    try:
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < int(
                [x for x in data.split(b"\r\n") if x.lower().startswith(b"content-length:")][0].split(b":")[1]):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, IndexError):
        pass
    s.close()
    head, _, payload = data.partition(b"\r\n\r\n")
    return (head.split(b"\r\n")[0].decode() if head else "no answer", payload.decode(),
            len([n for n in os.listdir(art) if n.startswith(".upload")]))


def test_attacks(db, moltd_factory, tmp_path):
    m = moltd_factory(*BASE).start()
    U, D = m.U, m.D
    ops = "Bearer " + call(201, "POST", U + "/tokens", A, {"name": "ops", "role": "operator"}).json()["token"]
    view = "Bearer " + call(201, "POST", U + "/tokens", A, {"name": "watch", "role": "viewer"}).json()["token"]
    gw = call(201, "POST", U + "/tokens", A, {"name": "gw", "role": "gateway"}).json()["token"]
    call(201, "POST", U + "/signers", A, signer(), body={"name": "vendor", "type": "ecdsa-p256"})
    call(201, "POST", U + "/classes", A, {"name": "sensor", "signers": ["vendor"]}, body=cls("sensor"))
    call(201, "POST", U + "/classes", A, {"name": "box", "signers": ["vendor"]}, body=cls("box"))
    s1 = sign(tmp_path, "1.0.0", "payload_C_65536.bin", "s1.bin")
    b1 = sign(tmp_path, "1.0.0", "payload_A_1000.bin", "b1.bin")
    ps = call(201, "POST", U + "/packages?class=sensor", ops, s1).json()["id"]
    pb = call(201, "POST", U + "/packages?class=box", ops, b1).json()["id"]
    for d in ["dev1", "dev2", "dev3", "dev4"]:
        call(201, "POST", U + "/devices", ops, dev(d, "sensor"), body=provisioned(d, "sensor"))
    call(201, "POST", U + "/devices", ops, dev("box1", "box"), body=provisioned("box1", "box"))

    def audit_count():
        return int(db.val("SELECT COUNT(*) FROM audit"))

    def aid(d, c):
        return int(db.val("SELECT id FROM actions WHERE device_id = '%s' AND campaign_id = %d" % (d, c)))

    # ==== 1. release rules on every action endpoint ====
    # steps [50, 100] over dev1..dev4: dev1, dev2 in step 1; dev3, dev4 wait for it.
    c1 = call(201, "POST", U + "/campaigns", ops, {"name": "staged", "package": ps, "steps": [50, 100]}).json()["id"]
    a1, a2, a3 = aid("dev1", c1), aid("dev2", c1), aid("dev3", c1)
    assert a3 == a2 + 1                                   # action ids are sequential (so guessable)
    n0 = audit_count()
    none3 = "no action %d for dev3" % a3
    assert error(call(404, "GET", "%s/dev3/deploymentBase/%d" % (D, a3), T("dev3"))) == none3
    assert error(call(404, "POST", "%s/dev3/deploymentBase/%d/feedback" % (D, a3), T("dev3"),
                      cur("closed", "success"))) == none3
    assert error(call(404, "GET", "%s/dev3/molt/keyEnvelope/%d" % (D, a3), T("dev3"))) == none3
    # a gateway token obeys the same rule
    assert error(call(404, "GET", "%s/dev3/deploymentBase/%d" % (D, a3), "GatewayToken " + gw)) == none3
    assert db.val("SELECT state || ',' || COALESCE(notified, 0) FROM actions WHERE id = %d" % a3) == "assigned,0"
    assert db.val("SELECT COALESCE(version, 'none') FROM devices WHERE id = 'dev3'") == "none"
    assert audit_count() == n0                            # unreleased: nothing audited
    # dev2 starts (its deployment is served), then the campaign is paused: dev2 goes on, dev1 may not start.
    assert call(200, "GET", "%s/dev2/deploymentBase/%d" % (D, a2), T("dev2")).json()["id"] == str(a2)
    assert call(200, "POST", U + "/campaigns/%d/pause" % c1, ops).json()["state"] == "paused"
    none1 = "no action %d for dev1" % a1
    assert error(call(404, "GET", "%s/dev1/deploymentBase/%d" % (D, a1), T("dev1"))) == none1
    assert error(call(404, "POST", "%s/dev1/deploymentBase/%d/feedback" % (D, a1), T("dev1"),
                      cur("closed", "success"))) == none1
    r = call(200, "GET", D + "/dev1", T("dev1")).json()
    assert "deploymentBase" not in r["_links"], r         # paused: no link for an unstarted device
    r = call(200, "GET", D + "/dev2", T("dev2")).json()   # paused: the started device keeps its link
    assert r["_links"]["deploymentBase"]["href"].split("?")[0] == "%s/dev2/deploymentBase/%d" % (D, a2)
    call(200, "POST", "%s/dev2/deploymentBase/%d/feedback" % (D, a2), T("dev2"), cur("proceeding", "none"), body=b"")
    assert call(200, "POST", U + "/campaigns/%d/resume" % c1, ops).json()["state"] == "running"
    assert call(200, "GET", "%s/dev1/deploymentBase/%d" % (D, a1), T("dev1")).json()["id"] == str(a1)
    call(200, "POST", "%s/dev1/deploymentBase/%d/feedback" % (D, a1), T("dev1"), cur("closed", "success"), body=b"")
    call(200, "POST", "%s/dev2/deploymentBase/%d/feedback" % (D, a2), T("dev2"), cur("closed", "success"), body=b"")
    # step 2 released: dev3's deployment
    assert call(200, "GET", "%s/dev3/deploymentBase/%d" % (D, a3), T("dev3")).json()["id"] == str(a3)
    # start_at in the future: nothing before it.
    c2 = call(201, "POST", U + "/campaigns", ops, {"name": "later", "package": pb,
                                                     "start_at": int(time.time()) * 1000 + 3600000}).json()["id"]
    ab = aid("box1", c2)
    n0 = audit_count()
    noneb = "no action %d for box1" % ab
    assert error(call(404, "GET", "%s/box1/deploymentBase/%d" % (D, ab), T("box1"))) == noneb
    assert error(call(404, "POST", "%s/box1/deploymentBase/%d/feedback" % (D, ab), T("box1"),
                      cur("closed", "failure"))) == noneb
    assert error(call(404, "GET", "%s/box1/molt/keyEnvelope/%d" % (D, ab), T("box1"))) == noneb
    assert (db.val("SELECT state FROM actions WHERE id = %d" % ab), audit_count()) == ("assigned", n0)

    # ==== 2. attributes: bounded, every change audited ====
    call(200, "PUT", D + "/dev4/configData", T("dev4"), {"data": keys(60, "a")}, body=b"")
    assert db.val("SELECT COUNT(*) FROM audit WHERE what = 'device.attributes' AND object = 'dev4' "
                  "AND actor = 'device:dev4'") == "1"
    # the audit detail: the attributes after
    assert db.val("SELECT detail FROM audit WHERE what = 'device.attributes' ORDER BY id DESC LIMIT 1") == \
        compact(keys(60, "a"))
    # the same: no change, no record
    call(200, "PUT", D + "/dev4/configData", T("dev4"), {"data": keys(60, "a")}, body=b"")
    assert db.val("SELECT COUNT(*) FROM audit WHERE what = 'device.attributes'") == "1"
    before = db.val("SELECT attributes FROM devices WHERE id = 'dev4'")
    n0 = audit_count()
    nb = len(compact(dict(keys(60, "a"), **keys(5, "b"))))
    assert error(call(413, "PUT", D + "/dev4/configData", T("dev4"), {"data": keys(5, "b")})) == \
        "attributes of dev4 would hold 65 keys, %d bytes (at most 64 keys, 4096 bytes)" % nb
    big = "x" * 1000
    call(200, "PUT", D + "/dev1/configData", "GatewayToken " + gw, {"data": {"k1": big, "k2": big, "k3": big}},
         body=b"")
    assert db.val("SELECT actor FROM audit WHERE what = 'device.attributes' AND object = 'dev1'") == "gateway:gw"
    nb = len(compact({"k%d" % i: big for i in range(1, 6)}))
    assert error(call(413, "PUT", D + "/dev1/configData", T("dev1"), {"data": {"k4": big, "k5": big}})) == \
        "attributes of dev1 would hold 5 keys, %d bytes (at most 64 keys, 4096 bytes)" % nb
    for i in range(1, 31):
        http("PUT", D + "/dev1/configData", T("dev1"), {"data": {"g%d" % i: big}})
    # attributes stay bounded; the refusals changed nothing
    assert db.val("SELECT LENGTH(attributes) <= 4096 FROM devices WHERE id = 'dev1'") == \
        ("1" if db.backend == "sqlite" else "t")
    assert db.val("SELECT attributes FROM devices WHERE id = 'dev4'") == before
    call(200, "PUT", D + "/dev4/configData", T("dev4"), {"mode": "remove", "data": {"a0": "", "a1": ""}}, body=b"")
    assert db.val("SELECT COUNT(*) FROM audit WHERE what = 'device.attributes' AND object = 'dev4'") == "2"

    # ==== 3. role and parameters from the headers, before any body byte is stored ====
    # A client sends the headers and 1,000 of 200,000 announced bytes, then waits: the refusal
    # must come at once, and no temporary file may exist in the store.
    assert early(m.port, view, "class=sensor", m.art) == (
        "HTTP/1.1 403 Forbidden", '{"error":"needs the operator role (this token is viewer)"}', 0)
    assert early(m.port, ops, "class=nosuch", m.art) == (
        "HTTP/1.1 400 Bad Request", '{"error":"class: no device class named nosuch"}', 0)
    assert early(m.port, ops, "class=sensor&filename=../x", m.art) == (
        "HTTP/1.1 400 Bad Request", '{"error":"filename: [A-Za-z0-9._-]{1,128}"}', 0)
    assert early(m.port, view, "class=sensor", m.art) == (   # again: the connection was not wedged
        "HTTP/1.1 403 Forbidden", '{"error":"needs the operator role (this token is viewer)"}', 0)

    # ==== 4. token revocation; malformed ids ====
    assert "_links" in call(200, "GET", D + "/dev1", "GatewayToken " + gw).json()
    assert error(call(403, "DELETE", U + "/tokens/gw", ops)) == "needs the admin role (this token is operator)"
    assert call(200, "DELETE", U + "/tokens/gw", A).json() == {"name": "gw", "role": "gateway", "revoked": True}
    assert error(call(401, "GET", D + "/dev1", "GatewayToken " + gw)) == "bad gateway token"
    assert error(call(404, "DELETE", U + "/tokens/gw", A)) == "no token gw"
    assert db.val("SELECT actor || ' ' || object || ' ' || detail FROM audit WHERE what = 'token.revoke'") == \
        "admin gw gateway"
    call(200, "DELETE", U + "/tokens/watch", A, body={"name": "watch", "role": "viewer", "revoked": True})
    assert error(call(401, "GET", U + "/devices", view)) == "unknown token"
    for i in ["abc", "99999999999999999999", "-1"]:
        assert error(call(404, "GET", U + "/packages/" + i, A)) == "no package " + i
    for i in ["x1", "1e3", "99999999999999999999"]:
        assert error(call(404, "GET", U + "/campaigns/" + i, A)) == "no campaign " + i
    assert error(call(404, "POST", U + "/campaigns/1x/pause", ops)) == "no campaign 1x"
    assert error(call(404, "GET", U + "/devices/%ff%fe", A)) == "no device (malformed id)"
    assert error(call(404, "GET", D + "/dev1/deploymentBase/99999999999999999999", T("dev1"))) == "no such resource"
    assert error(call(404, "GET", D + "/dev1/softwaremodules/9x/artifacts", T("dev1"))) == "no such resource"

    # ==== 5. per-address connection limit and header deadline ====
    # 8 connections from 127.0.0.1 trickle one header byte every 0.3 s; a 9th from the same
    # address is closed unanswered; a device on 127.0.0.2 is served; after --header-timeout
    # (2 s) the 8 are closed by moltd although they never stopped sending.
    def poll(src):
        s = socket.socket()
        s.bind((src, 0))
        s.connect(("127.0.0.1", m.port))
        s.settimeout(3)
        s.sendall(("GET /DEFAULT/controller/v1/dev2 HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
                   "Connection: close\r\n\r\n" % T("dev2")).encode())
        try:
            d = s.recv(100)
        except (ConnectionResetError, socket.timeout):
            d = b""
        s.close()
        return d.split(b"\r\n")[0].decode() if d else "closed"
    time.sleep(0.5)   # the requests above are closed on moltd's side too: the 8 are all 127.0.0.1 holds
    t0 = time.time()
    slow = []
    for _ in range(8):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.connect(("127.0.0.1", m.port))
        s.setblocking(False)
        s.send(b"GET / HTTP/1.1\r\n")
        slow.append(s)
    time.sleep(0.3)
    ninth, other = poll("127.0.0.1"), poll("127.0.0.2")
    closed = {}
    while time.time() - t0 < 5 and len(closed) < len(slow):
        for i, s in enumerate(slow):
            if i in closed:
                continue
            try:
                s.send(b"X")
                if s.recv(1) == b"":
                    closed[i] = time.time() - t0
            except BlockingIOError:
                pass
            except OSError:
                closed[i] = time.time() - t0
        time.sleep(0.3)
    for s in slow:
        s.close()
    late = [t for t in closed.values() if 1.5 <= t <= 4.5]
    assert (ninth, other, len(late)) == ("closed", "HTTP/1.1 200 OK", 8), sorted(closed.items())
    # and 127.0.0.1 is served again once they are gone
    assert "_links" in call(200, "GET", D + "/dev2", T("dev2")).json()

    # ==== 6. start-up sweep of the store ====
    # An upload in progress when moltd is killed; a stale and a fresh upload of another host;
    # an old and a fresh artifact that no package names.
    up = socket.create_connection(("127.0.0.1", m.port))
    up.sendall(("POST /api/v1/packages?class=sensor HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
                "Content-Length: 100000\r\n\r\n" % ops).encode() + b"\0" * 50000)
    mine = ".upload.%s.%d." % (socket.gethostname(), m.pid)
    for _ in range(100):
        ups = [n for n in os.listdir(m.art) if n.startswith(".upload.")]
        if ups:
            break
        time.sleep(0.05)
    assert len(ups) == 1 and ups[0].startswith(mine), ups   # named by host and process
    m.kill9()
    up.close()
    art = m.art

    def put(name, data, age=0):
        p = os.path.join(art, name)
        with open(p, "w") as fh:
            fh.write(data)
        if age:
            t = time.time() - age
            os.utime(p, (t, t))
    put(".upload.elsewhere.42.AbCdEf", "x", 7200)
    put(".upload.elsewhere.43.GhIjKl", "x")
    orphan_old, orphan_new = hashlib.sha256(b"old").hexdigest(), hashlib.sha256(b"new").hexdigest()
    put(orphan_old, "old", 3600)
    put(orphan_new, "new")
    m.start()
    assert [x for x in m.log.splitlines() if x.startswith("moltd: store:")] == [
        "moltd: store: removed 2 unfinished uploads and 1 artifact no package names "
        "(newer unnamed artifacts kept: another instance may be committing them)"]
    names = os.listdir(art)
    assert [n for n in names if n.startswith(".upload")] == [".upload.elsewhere.43.GhIjKl"]
    assert orphan_old not in names and orphan_new in names
    assert len([n for n in names if not n.startswith(".")]) == 3   # the two packages and the fresh orphan
    assert call(200, "GET", m.U + "/packages/%d" % ps, A).json()["sha256"] == hashlib.sha256(s1).hexdigest()
    assert m.stop() == 0


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_full_disk(db, moltd_factory, tmp_path):
    """A full disk: 507 with the real cause, for an upload and for a database commit; reads
    still served; nothing half-stored. SQLite only (PostgreSQL's disk is the server's)."""
    full = tmp_path / "fulldisk"
    full.mkdir()
    fdb = Db("sqlite", "sqlite:%s/moltd.sqlite" % full, "%s/moltd.sqlite" % full)
    flag = str(tmp_path / "disk-is-full")
    asan = os.environ.get("ASAN_OPTIONS")
    m = moltd_factory(*BASE).start(url=fdb.url, art=str(full / "artifacts"), env={
        "MOLT_FAULT_DIR": str(full), "MOLT_FAULT_FLAG": flag,
        "LD_PRELOAD": os.environ["MOLT_FAULT_ENOSPC"],
        "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"})
    s2 = sign(tmp_path, "1.1.0", "payload_B_4113.bin", "s2.bin")
    call(201, "POST", m.U + "/signers", A, signer(), body={"name": "vendor", "type": "ecdsa-p256"})
    call(201, "POST", m.U + "/classes", A, {"name": "sensor", "signers": ["vendor"]}, body=cls("sensor"))
    n0 = fdb.val("SELECT COUNT(*) FROM audit")
    open(flag, "w").close()
    assert error(call(507, "POST", m.U + "/packages?class=sensor", A, s2)) == \
        "cannot store the upload: No space left on device"
    # a commit on a full disk: the cause, not the rollback's
    assert error(call(507, "POST", m.U + "/devices", A, dev("dev9", "sensor"))) == \
        "database: sqlite: database or disk is full"
    assert call(200, "GET", m.U + "/devices", A).json() == []   # reads still served
    os.unlink(flag)
    arts = full / "artifacts"
    assert (os.listdir(arts) if arts.exists() else [], fdb.val("SELECT COUNT(*) FROM audit"),
            fdb.val("SELECT COUNT(*) FROM packages"), fdb.val("SELECT COUNT(*) FROM devices")) == ([], n0, "0", "0")
    assert call(201, "POST", m.U + "/packages?class=sensor", A, s2).json()["sha256"] == hashlib.sha256(s2).hexdigest()
    call(201, "POST", m.U + "/devices", A, dev("dev9", "sensor"), body=provisioned("dev9", "sensor"))
