"""A key rotation carried from moltd to a fleet through molt-agent (issue 18, docs/keys.md
"Delivery"): two simulated devices with a boot chain (their key set, `molt sim chain`) take
key-update 1 (adds key B) and, once they run an image signed by B, key-update 2 (retires the
factory key A). Afterwards an image signed by A, uploaded before the retirement, is refused by
both devices at finish (`KEY_RETIRED`: the agent's `verify` event and moltd's recorded failure),
an image signed by B installs, a key-update sent again is refused by the devices (`KU_REPLAY`),
an under-signed one and a new image by A are refused by moltd at upload, and the class's
rotation keys can no longer be changed. Outcomes are asserted on moltd's API and database, the
agent's NDJSON events and the device's own key set (`molt sim keyupdate --json` offering it
the applied key-update again: a refusal that names the sequence number in force).
"""
import json
import os

from conftest import A, call, molt

FW = ["-H", "0x200", "--pad-header", "-S", "0x10000", "--align", "8"]


def rd(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def keypair(work, name):
    molt("keygen", "-t", "ecdsa-p256", "-k", work / (name + ".pem"))
    molt("getpub", "-k", work / (name + ".pem"), "-e", "pem", "-o", work / (name + ".pub"))
    return str(work / (name + ".pub"))


def image(work, key, version, size):
    (work / ("fw-%s.bin" % version)).write_bytes(os.urandom(size))
    out = work / ("%s-%s.img" % (key, version))
    molt("sign", "-k", work / (key + ".pem"), "-v", version, "-s", "auto", *FW, work / ("fw-%s.bin" % version), out)
    return out


def of(evs, name, **fields):
    return [{k: v for k, v in e.items() if k not in ("event", "device")} for e in evs
            if e["event"] == name and all(e.get(k) == v for k, v in fields.items())]


def test_fleet_rotation(db, moltd_factory, device, agent, tmp_path):
    w = tmp_path
    a_pub, b_pub = keypair(w, "keyA"), keypair(w, "keyB")
    roots = [keypair(w, "root%d" % i) for i in range(3)]
    R = sum((["-r", r] for r in roots), [])
    v1 = image(w, "keyA", "1.0.0+1", 20000)
    molt("keyupdate", "make", "--seq", "1", "--add", b_pub, *R, "-k", w / "root0.pem", "-k", w / "root1.pem",
         "-o", w / "ku1")
    molt("keyupdate", "make", "--seq", "2", "--retire", a_pub, *R, "-k", w / "root1.pem", "-k", w / "root2.pem",
         "-o", w / "ku2")
    molt("keyupdate", "make", "--seq", "3", "--add", roots[0], *R, "-k", w / "root2.pem", "-o", w / "ku3-one")

    m = moltd_factory("--poll-sleep", "1").start()
    call(201, "POST", m.U + "/signers", A, {"name": "keyA", "pem": rd(a_pub)})
    call(201, "POST", m.U + "/classes", A, {"name": "meter", "signers": ["keyA"]})
    call(201, "POST", m.U + "/packages?class=meter", A, rd(v1, "rb"))

    # --- the class's rotation keys: admin only, exact refusals, nothing stored by a refusal
    rot = {"roots": [rd(r) for r in roots], "threshold": 2}
    call(409, "POST", m.U + "/packages?class=meter&filename=ku1.mku", A, rd(w / "ku1", "rb"),
         body={"error": "class meter has no rotation keys (PUT /api/v1/classes/meter/rotation)"})
    call(400, "PUT", m.U + "/classes/meter/rotation", A, dict(rot, threshold=4),
         body={"error": "threshold: an integer from 1 to 4, at most the number of roots"})
    call(400, "PUT", m.U + "/classes/meter/rotation", A, {"roots": [rd(roots[0])], "threshold": 1, "extra": 1},
         body={"error": "extra: unknown field (rotation has roots, threshold)"})
    call(400, "PUT", m.U + "/classes/meter/rotation", A, {"roots": ["not a key"], "threshold": 1},
         body={"error": "roots[0]: not an ECDSA P-256 public key (PEM)"})
    call(404, "PUT", m.U + "/classes/nosuch/rotation", A, rot, body={"error": "no device class named nosuch"})
    call(201, "POST", m.U + "/classes", A, {"name": "gw", "signers": ["keyA"], "kind": "swu"})
    call(422, "PUT", m.U + "/classes/gw/rotation", A, rot,
         body={"error": "class gw: key rotation needs an mcuboot class of at most 8 signers"})
    assert m.db.val("SELECT COUNT(*) FROM class_roots") == "0"
    ops = "Bearer " + call(201, "POST", m.U + "/tokens", A, {"name": "ops", "role": "operator"}).json()["token"]
    call(403, "PUT", m.U + "/classes/meter/rotation", ops, rot)
    r = call(200, "PUT", m.U + "/classes/meter/rotation", A, rot).json()
    assert (r["class"], r["threshold"], [x["index"] for x in r["roots"]], r["seq"]) == ("meter", 2, [0, 1, 2], 0)
    assert call(200, "GET", m.U + "/classes/meter/rotation", ops).json()["seq"] == 0
    assert [x["what"] for x in call(200, "GET", m.U + "/audit", A).json()].count("rotation.set") == 1

    # --- key-updates on upload: lib/'s verdict, with the class's roots and threshold
    gap = call(422, "POST", m.U + "/packages?class=meter", A, rd(w / "ku2", "rb")).json()
    assert gap["reason"] == "KU_GAP", gap
    ku1 = call(201, "POST", m.U + "/packages?class=meter&filename=ku1.mku", A, rd(w / "ku1", "rb")).json()
    assert (ku1["kind"], ku1["sequence"], ku1["version"], ku1["security_counter"]) == ("keyupdate", 1, "keyset-1", 0)
    assert call(422, "POST", m.U + "/packages?class=meter", A, rd(w / "ku1", "rb")).json()["reason"] == "KU_REPLAY"
    call(409, "PUT", m.U + "/classes/meter/rotation", A, rot,
         body={"error": "the rotation keys of class meter are fixed: it has taken a key-update"})

    sims, tok = {}, {}
    for d in ("m1", "m2"):
        sims[d], iak = device(d, v1)
        molt("sim", "chain", "-f", sims[d])
        tok[d] = call(201, "POST", m.U + "/devices", A, {"id": d, "class": "meter", "attestation_key": iak}).json()["token"]

    def run(d):
        rc, out, evs = agent("-f", sims[d], "-k", a_pub, "--root", roots[0], "--root", roots[1], "--root", roots[2],
                             "--threshold", "2", "--server", m.S, "--id", d, "--token", tok[d], "--backoff-ms", "50",
                             "--max-sleep", "1", "--once")
        assert rc == 0, out
        return evs

    def campaign(pkg):
        c = call(201, "POST", m.U + "/campaigns", A, {"name": "c%d" % pkg, "package": pkg}).json()
        assert c["targets"] == 2, c
        return c["id"]

    def device_keyset(d):
        """The device's own key set, read by `molt sim keyupdate` offering it ku2 again: a
        refusal that changes nothing and names the sequence number in force."""
        p = molt("sim", "keyupdate", "-f", sims[d], "-k", a_pub, *R, "--threshold", "2", "--json", w / "ku2",
                 check=False)
        j = json.loads(p.stdout)
        assert (p.returncode, j["applied"], j["error"]) == (1, False, "KU_REPLAY"), p.stdout
        return j["seq"]

    def last_action(d):
        return call(200, "GET", m.U + "/devices/" + d, A).json()

    # key-update 1 (adds B) through an ordinary campaign
    campaign(ku1["id"])
    for d in sims:
        evs = run(d)
        assert of(evs, "keyset") == [{"action": of(evs, "offer")[0]["action"], "ok": True, "from": 0, "seq": 1}]
        assert of(evs, "offer")[0]["chunk"] == "meter"
        dv = last_action(d)
        assert (dv["keyset_seq"], dv["version"], dv["action"]["state"]) == (1, None, "success")
    # B's image: moltd accepts it with the key set in force; it installs on both
    v2 = image(w, "keyB", "2.0.0", 21000)
    p2 = call(201, "POST", m.U + "/packages?class=meter", A, rd(v2, "rb")).json()
    assert p2["signer"].startswith("key-set key "), p2
    # A's image, uploaded while A is still in force
    v3 = image(w, "keyA", "3.0.0", 22000)
    p3 = call(201, "POST", m.U + "/packages?class=meter", A, rd(v3, "rb")).json()
    assert p3["signer"] == "keyA"
    campaign(p2["id"])
    for d in sims:
        run(d)
        assert last_action(d)["version"] == "2.0.0+0"

    # key-update 2 retires A
    ku2 = call(201, "POST", m.U + "/packages?class=meter", A, rd(w / "ku2", "rb")).json()
    assert ku2["sequence"] == 2
    campaign(ku2["id"])
    for d in sims:
        evs = run(d)
        assert [(e["ok"], e["from"], e["seq"]) for e in of(evs, "keyset")] == [(True, 1, 2)]
        assert last_action(d)["keyset_seq"] == 2
        assert device_keyset(d) == 2

    # A's image is refused by every device: KEY_RETIRED at finish, recorded by moltd
    c3 = campaign(p3["id"])
    for d in sims:
        evs = run(d)
        v = of(evs, "verify")
        assert v == [{"action": v[0]["action"], "ok": False, "status": "INVALID_SIGNATURE", "error": "KEY_RETIRED"}], v
        dv = last_action(d)
        assert (dv["version"], dv["action"]["state"]) == ("2.0.0+0", "failure")
        fails = [a for a in call(200, "GET", m.U + "/audit", A).json() if a["what"] == "update.failure" and a["object"] == d]
        assert fails[-1]["detail"] == "the device refused the package at finish: INVALID_SIGNATURE (KEY_RETIRED)", fails
    assert call(200, "GET", m.U + "/campaigns/%d" % c3, A).json()["actions"].get("failure") == 2

    # a new image by A is refused by moltd itself now
    v5 = image(w, "keyA", "5.0.0", 20000)
    assert call(422, "POST", m.U + "/packages?class=meter", A, rd(v5, "rb")).json()["reason"] == "KEY_UNTRUSTED"
    # B's next image installs
    v4 = image(w, "keyB", "4.0.0", 23000)
    p4 = call(201, "POST", m.U + "/packages?class=meter", A, rd(v4, "rb")).json()
    campaign(p4["id"])
    for d in sims:
        run(d)
        assert (last_action(d)["version"], last_action(d)["action"]["state"]) == ("4.0.0+0", "success")

    # the same key-update again: the devices refuse it as a replay, their key set unchanged
    campaign(ku2["id"])
    for d in sims:
        evs = run(d)
        assert [(e["ok"], e["at"], e["error"], e["seq"]) for e in of(evs, "keyset")] == \
            [(False, "finish", "KU_REPLAY", 2)]
        dv = last_action(d)
        assert (dv["keyset_seq"], dv["action"]["state"]) == (2, "failure")
        fails = [a for a in call(200, "GET", m.U + "/audit", A).json() if a["what"] == "update.failure" and a["object"] == d]
        assert fails[-1]["detail"] == "the device refused the key-update at finish: NOT_PERMITTED (KU_REPLAY); keyset 2 in force"
        assert device_keyset(d) == 2
    # an under-signed key-update is refused at upload; nothing stored
    n = m.db.val("SELECT COUNT(*) FROM packages")
    assert call(422, "POST", m.U + "/packages?class=meter", A, rd(w / "ku3-one", "rb")).json()["reason"] == "KU_SIG"
    assert m.db.val("SELECT COUNT(*) FROM packages") == n
    assert call(200, "GET", m.U + "/classes/meter/rotation", A).json()["seq"] == 2


def test_upload_oracle(db, moltd_factory, tmp_path):
    """moltd's key-update check at upload against a model of the documented rules that knows
    nothing of lib/: 24 key-updates (each adding a fresh key and retiring the last one added)
    with random sequence numbers (the next one, the one in
    force, older, skipping) and random sets of root signers (1 to 3 of 3, threshold 2), fixed
    seed. The model: fewer than 2 distinct roots is KU_SIG whatever the number says; then the
    one in force KU_REPLAY, older KU_ROLLBACK, beyond the next KU_GAP; else accepted and the
    class moves on by one. Every refusal stores nothing (packages, audit, the class's seq)."""
    import random
    rnd = random.Random(1806)
    w = tmp_path
    a_pub = keypair(w, "keyA")
    roots = [keypair(w, "root%d" % i) for i in range(3)]
    R = sum((["-r", r] for r in roots), [])
    m = moltd_factory().start()
    call(201, "POST", m.U + "/signers", A, {"name": "keyA", "pem": rd(a_pub)})
    call(201, "POST", m.U + "/classes", A, {"name": "c", "signers": ["keyA"]})
    call(200, "PUT", m.U + "/classes/c/rotation", A, {"roots": [rd(r) for r in roots], "threshold": 2})
    last = None
    cur, seen = 0, {"accepted": 0, "KU_SIG": 0, "KU_REPLAY": 0, "KU_ROLLBACK": 0, "KU_GAP": 0}
    for i in range(24):
        seq = max(1, cur + rnd.choice([1, 1, 1, 0, -1, 2, 3]))
        signers = rnd.sample(range(3), rnd.choice([1, 2, 2, 3]))
        new = keypair(w, "k%d" % i)
        # each adds a fresh key and retires the one the last accepted update added, so the set
        # stays within the device's limits (4 added keys in force) over the whole run
        retire = ["--retire", last] if last else []
        molt("keyupdate", "make", "--seq", seq, "--add", new, *retire, *R, *sum((["-k", w / ("root%d.pem" % s)] for s in signers), []),
             "-o", w / ("ku%d" % i))
        want = ("KU_SIG" if len(signers) < 2 else "KU_REPLAY" if seq == cur else "KU_ROLLBACK" if seq < cur
                else "KU_GAP" if seq > cur + 1 else None)
        before = (m.db.val("SELECT COUNT(*) FROM packages"), m.db.val("SELECT COUNT(*) FROM audit"))
        r = http_upload(m, w / ("ku%d" % i))
        if want is None:
            assert r.status == 201, (i, seq, cur, signers, r.body)
            assert (r.json()["sequence"], r.json()["kind"]) == (seq, "keyupdate")
            cur, last = cur + 1, new
            seen["accepted"] += 1
        else:
            assert (r.status, r.json()["reason"]) == (422, want), (i, seq, cur, signers, r.body)
            assert (m.db.val("SELECT COUNT(*) FROM packages"), m.db.val("SELECT COUNT(*) FROM audit")) == before
            seen[want] += 1
        assert call(200, "GET", m.U + "/classes/c/rotation", A).json()["seq"] == cur
    assert all(n > 0 for n in seen.values()), seen  # the seed reaches every outcome


def http_upload(m, path):
    from conftest import http
    return http("POST", m.U + "/packages?class=c", A, rd(path, "rb"))
