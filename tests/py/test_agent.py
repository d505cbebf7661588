"""molt-agent against a real moltd on 127.0.0.1 (SQLite or PostgreSQL, the `db` fixture), on
simulated devices: the hawkBit DDI round trip to UPDATED with the attested version recorded,
a dropped connection resumed with HTTP Range from psa_fwu_query's offset, a power cut during
the activation then the power coming back, a health-check failure reverted with failure
feedback, cancels between and during downloads, and a rogue mirror (moltd
--artifact-base-url): an oversized copy is never taken beyond the declared size, a tampered
copy is refused by the device at finish; an encrypted package taken by devices with their
own key envelopes (staging holds only ciphertext), refused by a device whose key store is
not the one its envelope was made for; an unreachable server: back-off delays that grow
within their documented jitter ranges, then giving up.
  R-NOTIFY: the campaign's message is shown before the download starts.
  R-BACKGROUND: the download resumes from the device's own progress record.
  R-ATTEST: every update ends with a fresh token verified by moltd.
  R-EASY: one command per device, no operator step on the device.

Outcomes are asserted on moltd's records (API and database) and on the device's state
(`molt sim state --json`). What only the agent knows (the order of the message and the
download, a resumed Range, a back-off delay, a power cut, a cancel) is asserted on its NDJSON
event stream (`--events`, docs/agent.md): exact event names and field values, and their order
where it matters; never on its English progress lines. Its one-line errors on stderr (exit 2)
are the error contract and are checked exactly.
"""
import functools
import http.server
import json
import os
import re
import subprocess
import threading
import time

import pytest

from conftest import A, call, molt

FW = ["-H", "0x200", "--pad-header", "-S", "0x10000", "--align", "8"]


def rd(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def firmware(work):
    """The vendor key and the signed v1 and v2 (swap mode, 64 KiB slots)."""
    molt("keygen", "-t", "ecdsa-p256", "-k", work / "vendor.pem")
    molt("getpub", "-k", work / "vendor.pem", "-e", "pem", "-o", work / "vendor.pub")
    (work / "fw1.bin").write_bytes(os.urandom(24576))
    (work / "fw2.bin").write_bytes(os.urandom(28000))
    molt("sign", "-k", work / "vendor.pem", "-v", "1.0.0+1", "-s", "auto", *FW, work / "fw1.bin", work / "v1.img")
    molt("sign", "-k", work / "vendor.pem", "-v", "2.0.0", "-s", "auto", *FW, work / "fw2.bin", work / "v2.img")


def names(evs):
    return [e["event"] for e in evs]


def matches(e, name, fields):
    return e["event"] == name and all(e.get(k) == v for k, v in fields.items())


def of(evs, name, **fields):
    """The events called NAME whose fields include FIELDS, without `event` and `device`."""
    return [{k: v for k, v in e.items() if k not in ("event", "device")} for e in evs if matches(e, name, fields)]


def at(evs, name, **fields):
    """The index of the first event called NAME whose fields include FIELDS (None: none)."""
    return next((i for i, e in enumerate(evs) if matches(e, name, fields)), None)


def before(evs, a, b):
    """The first event A (a name, or (name, fields)) comes before the first B; both exist."""
    ia, ib = (at(evs, x[0], **x[1]) if isinstance(x, tuple) else at(evs, x) for x in (a, b))
    return ia is not None and ib is not None and ia < ib


# the steps of one deployment on the device, in order (without polls, progress, attestation)
STEPS = ("reboot", "boot", "revert", "power_cut", "offer", "envelope", "download_start", "download_interrupted",
         "download_done", "verify", "install", "trial", "health", "confirm", "reject", "cancel", "backoff",
         "give_up", "error", "exit")


def steps(evs):
    return [e["event"] for e in evs if e["event"] in STEPS]


class Mirror:
    """A static HTTP server on 127.0.0.1 serving one directory (the rogue mirror)."""

    def __init__(self, root):
        h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
        h.log_message = lambda *a: None
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), h)
        self.port = self.srv.server_address[1]
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def test_agent_updates(db, moltd_factory, device, agent, tmp_path):
    work = tmp_path
    firmware(work)
    v2size = os.path.getsize(work / "v2.img")
    m = moltd_factory("--poll-sleep", "1").start()
    vendor = str(work / "vendor.pub")
    call(201, "POST", m.U + "/signers", A, {"name": "vendor", "pem": rd(vendor)},
         body={"name": "vendor", "type": "ecdsa-p256"})
    call(201, "POST", m.U + "/classes", A, {"name": "sensor", "signers": ["vendor"]},
         body={"name": "sensor", "signers": ["vendor"], "kind": "mcuboot"})
    r = call(201, "POST", m.U + "/packages?class=sensor&filename=v1.img", A, rd(work / "v1.img", "rb")).json()
    assert r["version"] == "1.0.0+1"
    p2 = call(201, "POST", m.U + "/packages?class=sensor&filename=v2.img", A, rd(work / "v2.img", "rb")).json()
    assert p2["version"] == "2.0.0+0"
    tok, sims = {}, {}

    def provision(d, enc=None):
        sims[d], iak = device(d, work / "v1.img")
        body = {"id": d, "class": "sensor", "attestation_key": iak}
        if enc:
            body["encryption_key"] = rd(enc)
        tok[d] = call(201, "POST", m.U + "/devices", A, body).json()["token"]
    for d in ["d1", "d2", "d3", "d4"]:
        provision(d)
    msg = "Update to 2.0.0 tonight: the sensor restarts once"
    c = call(201, "POST", m.U + "/campaigns", A, {"name": "v2", "package": p2["id"], "message": msg}).json()
    assert c["targets"] == 4

    def run(d, *args, background=False):
        return agent("-f", sims[d], "-k", vendor, "--server", m.S, "--id", d, "--token", tok[d],
                     "--backoff-ms", "50", "--max-sleep", "1", *args, background=background)

    def dev(d):
        return call(200, "GET", m.U + "/devices/" + d, A).json()

    def outcome(d):
        r = dev(d)
        return (r.get("version"), r.get("attested_version"), r["action"]["state"])

    def simver(d):
        w = json.loads(molt("sim", "state", "-f", sims[d], "-k", vendor, "--json").stdout)["would_boot"]
        return (w["version"], w["trial"])

    def closed(evs):
        """The closing feedback the agent sent: [(finished, detail)] (HTTP 200 each)."""
        return [(f["finished"], f["detail"]) for f in of(evs, "feedback_sent", execution="closed", status=200)]

    def offer(d, action, to="2.0.0+0", size=v2size, message="", continued=False, frm="1.0.0+1"):
        return {"action": action, "from": frm, "to": to, "message": message, "continued": continued,
                "artifact": "v%s.img" % to[0], "chunk": "sensor", "size": size, "download": "forced",
                "update": "forced", "maintenance_window": None}

    def failure_detail(d):
        return [a["detail"] for a in call(200, "GET", m.U + "/audit", A).json()
                if a["what"] == "update.failure" and a["object"] == d]

    # --- d1: the round trip to UPDATED, attested
    hc = 'test "$MOLT_VERSION" = 2.0.0+0 && test "$MOLT_DEVICE" = d1'
    rc, log, evs = run("d1", "--once", "--health-cmd", hc)
    assert rc == 0, log
    assert outcome("d1") == ("2.0.0+0", "2.0.0+0", "success")
    assert simver("d1") == ("2.0.0+0", False)                      # runs v2, confirmed
    assert db.val("SELECT attested_hash FROM devices WHERE id = 'd1'") == \
        json.loads(molt("inspect", "--json", work / "v2.img").stdout)["hash"]["value"]
    a1 = str(dev("d1")["action"]["id"])                           # the events spell it as the DDI API: "1"
    assert steps(evs) == ["reboot", "boot", "offer", "download_start", "download_done", "verify", "install",
                          "reboot", "boot", "trial", "health", "confirm", "exit"], evs
    assert of(evs, "offer") == [offer("d1", a1, message=msg)]     # R-NOTIFY: the user's message...
    assert before(evs, "offer", "download_start") and before(evs, "offer", "feedback_sent")   # ...first
    assert of(evs, "download_start") == [{"action": a1, "url": m.D + "/d1/softwaremodules/%d/artifacts/v2.img"
                                          % p2["id"], "offset": 0, "size": v2size, "resume": False}]
    prog = of(evs, "download_progress", action=a1)
    assert prog[-1] == {"action": a1, "offset": v2size, "size": v2size, "percent": 100}, prog
    assert [x["offset"] for x in prog] == sorted({x["offset"] for x in prog}) and len(prog) >= 4, prog
    assert all(x["percent"] == x["offset"] * 100 // v2size for x in prog), prog
    assert of(evs, "download_done") == [{"action": a1, "size": v2size}]
    assert of(evs, "verify") == [{"action": a1, "ok": True, "status": "SUCCESS"}]
    assert of(evs, "install") == [{"action": a1, "version": "2.0.0+0", "status": "SUCCESS_REBOOT"}]
    assert [x["reason"] for x in of(evs, "reboot")] == ["power_on", "activate"]
    assert [(x["running"], x["trial"]) for x in of(evs, "boot")] == [("1.0.0+1", False), ("2.0.0+0", True)]
    # the health check ran the command with MOLT_VERSION and MOLT_DEVICE set (else status 1)
    assert of(evs, "health") == [{"ok": True, "version": "2.0.0+0", "check": "command", "command": hc, "status": 0}]
    assert before(evs, "trial", "health") and before(evs, "health", "confirm")
    assert of(evs, "confirm") == [{"action": a1, "version": "2.0.0+0"}]
    assert [(f["execution"], f["detail"]) for f in of(evs, "feedback_sent")] == [
        ("proceeding", "download started"), ("downloaded", "downloaded and verified"),
        ("proceeding", "installed, restarting to activate"),
        ("closed", "2.0.0+0 running, health check passed, accepted; security counter 33554432")]
    assert closed(evs) == [("success", "2.0.0+0 running, health check passed, accepted; security counter 33554432")]
    # R-ATTEST: a fresh token verified by moltd after the update is closed
    assert before(evs, ("feedback_sent", {"execution": "closed"}), ("attest", {"ok": True, "stage": "verify",
                                                                              "status": 200}))
    assert evs[-1] == {"event": "exit", "device": "d1", "code": 0}

    # --- d2: the connection drops after 10000 bytes; the download resumes at psa_fwu_query's offset
    rc, log, evs = run("d2", "--once", "--drop-after", "10000")
    assert rc == 0, log
    assert outcome("d2") == ("2.0.0+0", "2.0.0+0", "success")
    a2 = str(dev("d2")["action"]["id"])
    # the drop, a back-off, then the same offer continued and a Range request from byte 10000
    assert steps(evs) == ["reboot", "boot", "offer", "download_start", "download_interrupted", "backoff", "offer",
                          "download_start", "download_done", "verify", "install", "reboot", "boot", "trial",
                          "health", "confirm", "exit"], evs
    assert of(evs, "download_interrupted") == [{"action": a2, "reason": "dropped", "offset": 10000, "size": v2size,
                                                "detail": "connection dropped after 10000 bytes (fault injected)"}]
    bo = of(evs, "backoff")
    assert len(bo) == 1 and bo[0]["errors"] == 1 and 25 <= bo[0]["ms"] < 50, bo   # --backoff-ms 50: [25, 50)
    assert [x["continued"] for x in of(evs, "offer")] == [False, True]
    assert [(x["offset"], x["resume"], x["size"]) for x in of(evs, "download_start")] == \
        [(0, False, v2size), (10000, True, v2size)]               # Range: bytes=10000-(size-1)
    assert of(evs, "download_progress")[-1]["offset"] == v2size
    assert closed(evs) == [("success", "2.0.0+0 running, health check passed, accepted; security counter 33554432")]

    # --- d4: a power cut in the middle of the activation; the next power-on completes it
    rc, log, evs = run("d4", "--once", "--power-cut-at", "20")
    assert rc == 3, log
    assert dev("d4")["action"]["state"] == "running"               # the action open after the cut
    assert steps(evs) == ["reboot", "boot", "offer", "download_start", "download_done", "verify", "install",
                          "reboot", "power_cut", "exit"], evs
    assert of(evs, "reboot") == [{"reason": "power_on", "cut_at": -1}, {"reason": "activate", "cut_at": 20}]
    assert of(evs, "power_cut") == [{"at": 20, "boot": "FLASH"}]  # the boot stopped by the flash going away
    assert evs[-1] == {"event": "exit", "device": "d4", "code": 3}
    assert closed(evs) == []
    rc, log, evs = run("d4", "--once")
    assert rc == 0, log
    # the power comes back: the boot code completes the interrupted activation; no new download
    assert of(evs, "boot") == [{"running": "2.0.0+0", "trial": True, "resumed": True, "reverted": False,
                                "recovery": False, "slot": 0}]
    assert steps(evs) == ["reboot", "boot", "offer", "trial", "health", "confirm", "exit"], evs
    assert of(evs, "offer") == [offer("d4", str(dev("d4")["action"]["id"]), message=msg, frm="2.0.0+0")]
    assert outcome("d4") == ("2.0.0+0", "2.0.0+0", "success")
    assert simver("d4") == ("2.0.0+0", False)

    # --- d3: v2 fails its health check: rejected, reverted, failure feedback with the reason
    rc, log, evs = run("d3", "--once", "--health-fail")
    assert rc == 0, log
    a3 = str(dev("d3")["action"]["id"])
    assert steps(evs) == ["reboot", "boot", "offer", "download_start", "download_done", "verify", "install",
                          "reboot", "boot", "trial", "health", "reject", "reboot", "boot", "revert", "exit"], evs
    assert of(evs, "health") == [{"ok": False, "version": "2.0.0+0", "check": "--health-fail"}]
    assert of(evs, "reject") == [{"action": a3, "version": "2.0.0+0", "detail": "health check failed (--health-fail)"}]
    assert [x["reason"] for x in of(evs, "reboot")] == ["power_on", "activate", "revert"]
    assert of(evs, "boot")[-1] == {"running": "1.0.0+1", "trial": False, "resumed": False, "reverted": True,
                                   "recovery": False, "slot": 0}
    assert of(evs, "revert") == [{"running": "1.0.0+1"}]
    assert closed(evs) == [("failure", "health check failed (--health-fail) on 2.0.0+0; rejected; FWU_REVERTED; "
                                       "running 1.0.0+1")]
    assert outcome("d3") == (None, "1.0.0+1", "failure")
    assert simver("d3") == ("1.0.0+1", False)
    assert failure_detail("d3") == [
        "health check failed (--health-fail) on 2.0.0+0; rejected; FWU_REVERTED; running 1.0.0+1"]
    # one token per device after its update (d4: its first power-on ended in the cut)
    assert [a["object"] for a in call(200, "GET", m.U + "/audit", A).json() if a["what"] == "attest.verified"] == \
        ["d1", "d2", "d4", "d3"]

    # --- a second run finds nothing to do and leaves the device as it is
    rc, log, evs = run("d1", "--once")
    assert rc == 0, log
    assert steps(evs) == ["reboot", "boot", "exit"], evs          # no offer, no download, no feedback
    assert of(evs, "poll") == [{"sleep": 1, "offer": "none", "action": None}]
    assert of(evs, "feedback_sent") == [] and of(evs, "feedback_failed") == []
    assert simver("d1") == ("2.0.0+0", False)
    assert call(200, "GET", m.U + "/campaigns/%d" % c["id"], A).json()["state"] == "finished"

    # --- a rogue mirror: moltd redirects downloads to a static server (R-ONEPKG: the mirror is untrusted)
    (work / "mirror").mkdir()
    copy = work / "mirror" / p2["sha256"]
    v2 = rd(work / "v2.img", "rb")
    copy.write_bytes(v2 + b"\0" * 100)                             # first: 100 bytes too many
    mirror = Mirror(work / "mirror")
    try:
        m.restart("--artifact-base-url", "http://127.0.0.1:%d" % mirror.port)
        provision("d5")
        assert call(201, "POST", m.U + "/campaigns", A, {"name": "mirror", "package": p2["id"],
                                                         "filter": {"ids": ["d5"]}}).json()["targets"] == 1
        rc, log, evs = run("d5", "--once", "--max-errors", "2")
        assert rc == 4, log                                        # gives up on the oversized copy
        a5 = str(dev("d5")["action"]["id"])
        assert steps(evs) == ["reboot", "boot", "offer", "download_start", "download_interrupted", "backoff", "offer",
                              "download_start", "download_interrupted", "give_up", "exit"], evs
        url5 = "http://127.0.0.1:%d/DEFAULT/controller/v1/d5/softwaremodules/%d/artifacts/v2.img" % (m.port, p2["id"])
        assert [x["url"] for x in of(evs, "download_start")] == [url5, url5]   # moltd's link; curl follows it
        # refused from the declared length: not one byte of the oversized copy written, twice
        assert of(evs, "download_interrupted") == 2 * [{"action": a5, "reason": "oversize", "offset": 0, "size": v2size,
                                                        "detail": "the server sent more than the declared %d bytes"
                                                        % v2size}]
        assert of(evs, "download_progress") == [] and of(evs, "download_done") == []
        assert of(evs, "give_up") == [{"errors": 2}] and evs[-1]["code"] == 4
        copy.write_bytes(v2[:8192] + b"\x5a" + v2[8193:])          # now: tampered
        rc, log, evs = run("d5", "--once")
        assert rc == 0, log
        assert outcome("d5") == (None, "1.0.0+1", "failure")
        assert simver("d5") == ("1.0.0+1", False)
        assert failure_detail("d5") == ["the device refused the package at finish: INVALID_SIGNATURE (HASH_MISMATCH)"]
        assert of(evs, "download_done") == [{"action": a5, "size": v2size}]   # every byte taken...
        assert of(evs, "verify") == [{"action": a5, "ok": False, "status": "INVALID_SIGNATURE",
                                      "error": "HASH_MISMATCH"}]  # ...and refused by the device at finish
        assert "install" not in names(evs) and "reboot" not in names(evs)[1:]
        assert closed(evs) == [("failure", "the device refused the package at finish: INVALID_SIGNATURE (HASH_MISMATCH)")]
    finally:
        mirror.stop()

    # --- cancel: a download interrupted, the campaign cancelled, the device stops and cleans up
    m.restart()
    provision("d6")
    c6 = call(201, "POST", m.U + "/campaigns", A, {"name": "cancel", "package": p2["id"],
                                                   "filter": {"ids": ["d6"]}}).json()["id"]
    rc, log, evs = run("d6", "--once", "--drop-after", "5000", "--max-errors", "1")
    assert rc == 4, log                                            # stops after the drop
    a6 = str(dev("d6")["action"]["id"])
    assert of(evs, "download_interrupted") == [{"action": a6, "reason": "dropped", "offset": 5000, "size": v2size,
                                                "detail": "connection dropped after 5000 bytes (fault injected)"}]
    assert of(evs, "give_up") == [{"errors": 1}] and of(evs, "backoff") == []
    assert dev("d6")["action"]["state"] == "running"
    assert call(200, "POST", m.U + "/campaigns/%d/cancel" % c6, A).json()["state"] == "cancelled"
    assert dev("d6")["action"]["state"] == "cancelling"            # asked to stop
    rc, log, evs = run("d6", "--once")
    assert rc == 0, log
    assert steps(evs) == ["reboot", "boot", "cancel", "exit"], evs   # no offer, no download: cancelled
    assert of(evs, "poll") == [{"sleep": 1, "offer": "cancel", "action": a6}]
    assert of(evs, "cancel") == [{"action": a6, "result": "done", "status": 200}]
    assert outcome("d6") == (None, "1.0.0+1", "cancelled")
    assert simver("d6") == ("1.0.0+1", False)

    # --- cancel during a (slow, background) download: the agent keeps polling and stops the download
    provision("d7")
    c7 = call(201, "POST", m.U + "/campaigns", A, {"name": "cancel2", "package": p2["id"],
                                                   "filter": {"ids": ["d7"]}}).json()["id"]
    p = run("d7", "--once", "--rate", "4000", background=True)
    for _ in range(100):
        if dev("d7")["action"]["state"] == "running":
            break
        time.sleep(0.05)
    assert call(200, "POST", m.U + "/campaigns/%d/cancel" % c7, A).json()["state"] == "cancelled"
    assert p.wait(120) == 0
    p.logfile.seek(0)
    log = p.logfile.read()                                        # shown when a check fails
    evs = p.events()
    a7 = str(dev("d7")["action"]["id"])
    # the polling thread sees the cancel during the download, the download stops short, the cancel is done
    assert of(evs, "cancel") == [{"action": a7, "result": "stopping_download"},
                                 {"action": a7, "result": "done", "status": 200}], (evs, log)
    st = steps(evs)
    assert st[:4] == ["reboot", "boot", "offer", "download_start"] and st[-2:] == ["cancel", "exit"], evs
    assert st.index("cancel") < st.index("download_interrupted") < len(st) - 2, evs
    stop = of(evs, "download_interrupted")
    assert len(stop) == 1 and stop[0]["reason"] == "cancelled" and 0 < stop[0]["offset"] < v2size, stop
    assert stop[0]["detail"] == "the deployer cancels the update (after %d bytes)" % stop[0]["offset"], stop
    assert of(evs, "download_done") == [] and all(x["offset"] <= stop[0]["offset"] for x in of(evs, "download_progress"))
    assert "verify" not in names(evs) and closed(evs) == [] and evs[-1]["code"] == 0
    assert dev("d7")["action"]["state"] == "cancelled"
    assert simver("d7") == ("1.0.0+1", False)

    # --- an encrypted package (R-CONF, R-ONEPKG, R-CHANNEL): one ciphertext for the class,
    # a key envelope for each device, fetched before the download; staging holds ciphertext only
    (work / "kek").write_text(os.urandom(32).hex() + "\n")
    m.restart("--kek-file", str(work / "kek"))
    molt("keygen", "-t", "x25519", "-k", work / "fleet.pem")      # no device holds it
    molt("getpub", "-k", work / "fleet.pem", "-e", "pem", "-o", work / "fleet.pub")
    (work / "fw3.bin").write_bytes(os.urandom(30000))
    molt("sign", "-k", work / "vendor.pem", "-v", "3.0.0", "-s", "auto", *FW, "-E", work / "fleet.pub",
         "--save-content-key", work / "v3.key", work / "fw3.bin", work / "v3.img")
    p3 = call(201, "POST", m.U + "/packages?class=sensor&filename=v3.img", A, rd(work / "v3.img", "rb"),
              headers={"X-Molt-Content-Key": rd(work / "v3.key", "rb").hex()}).json()
    assert (p3["version"], p3["encryption"]) == ("3.0.0+0", "aes-128-ctr")
    for k, t in [("e1", "x25519"), ("e2", "ecdsa-p256"), ("e3", "x25519"), ("e3.stolen", "x25519"), ("e4", "x25519")]:
        molt("keygen", "-t", t, "-k", work / (k + ".pem"))
    for d in ["e1", "e2", "e3", "e4"]:
        molt("getpub", "-k", work / (d + ".pem"), "-e", "pem", "-o", work / (d + ".pub"))
        provision(d, work / (d + ".pub"))
    assert call(201, "POST", m.U + "/campaigns", A, {"name": "v3", "package": p3["id"], "filter": {
        "ids": ["e1", "e2", "e3", "e4"]}}).json()["targets"] == 4
    # e1: the connection drops mid-download; what the staging slot holds is ciphertext
    rc, log, evs = run("e1", "--enc-key", work / "e1.pem", "--require-encryption", "--once", "--drop-after", "12000",
                       "--max-errors", "1")
    assert rc == 4, log
    ae1 = str(dev("e1")["action"]["id"])
    v3size = os.path.getsize(work / "v3.img")
    assert of(evs, "offer") == [offer("e1", ae1, to="3.0.0+0", size=v3size)]
    # the envelope (X25519: 120 bytes) is fetched before the download starts
    assert steps(evs) == ["reboot", "boot", "offer", "envelope", "download_start", "download_interrupted", "give_up",
                          "exit"], evs
    assert of(evs, "envelope") == [{"action": ae1, "ok": True, "bytes": 120, "status": 200, "detail": ""}]
    assert before(evs, "envelope", "feedback_sent")                # before "download started" too
    assert of(evs, "download_interrupted") == [{"action": ae1, "reason": "dropped", "offset": 12000, "size": v3size,
                                                "detail": "connection dropped after 12000 bytes (fault injected)"}]
    envs = sorted(os.listdir(work / "e1.sim.envelopes"))
    env1 = rd(work / "e1.sim.envelopes" / envs[0], "rb")
    assert envs == [env1[8:40].hex() + ".env"]                    # named by the image hash it is bound to
    tlvs = json.loads(molt("inspect", "--json", work / "v3.img").stdout)["unprotected_tlvs"]
    assert [t["value"] for t in tlvs if t["name"] == "SHA256"] == [env1[8:40].hex()]   # bound to v3's hash TLV
    sim, img, fw = rd(sims["e1"], "rb"), rd(work / "v3.img", "rb"), rd(work / "fw3.bin", "rb")
    hdr = 0x200
    assert img[hdr + 4096:hdr + 4096 + 64] in sim                 # received ciphertext is in the device
    for off in range(0, 12000 - hdr - 16, 16):                    # no 16-byte plaintext block received
        assert fw[off:off + 16] not in sim, "plaintext at payload offset %d" % off
    rc, log, evs = run("e1", "--enc-key", work / "e1.pem", "--require-encryption", "--once")
    assert rc == 0, log
    # a new power-on: the envelope is fetched again, then the download resumes from the device's
    # own checkpoint (the FWU record, saved every 16 KiB and at the drop: at most the 12000 received)
    assert steps(evs) == ["reboot", "boot", "offer", "envelope", "download_start", "download_done", "verify", "install",
                          "reboot", "boot", "trial", "health", "confirm", "exit"], evs
    ds = of(evs, "download_start")
    assert len(ds) == 1 and ds[0]["resume"] is True and 0 < ds[0]["offset"] <= 12000 and ds[0]["size"] == v3size, ds
    assert of(evs, "verify") == [{"action": ae1, "ok": True, "status": "SUCCESS"}]
    assert closed(evs) == [("success", "3.0.0+0 running, health check passed, accepted; security counter 50331648")]
    assert outcome("e1") == ("3.0.0+0", "3.0.0+0", "success")
    assert simver("e1") == ("3.0.0+0", False)
    # e2 (P-256): the same package bytes, its own envelope
    rc, log, evs = run("e2", "--enc-key", work / "e2.pem", "--once")
    assert rc == 0, log
    ae2 = str(dev("e2")["action"]["id"])
    assert of(evs, "envelope") == [{"action": ae2, "ok": True, "bytes": 153, "status": 200, "detail": ""}]   # P-256
    assert before(evs, "envelope", "download_start")
    assert closed(evs) == [("success", "3.0.0+0 running, health check passed, accepted; security counter 50331648")]
    assert outcome("e2") == ("3.0.0+0", "3.0.0+0", "success")
    env2 = [rd(work / "e2.sim.envelopes" / n, "rb") for n in os.listdir(work / "e2.sim.envelopes")]
    assert len(env2) == 1 and env2[0] != env1
    # e3: its envelope, but a key store with another key (a device that is not e3): refused at finish
    rc, log, evs = run("e3", "--enc-key", work / "e3.stolen.pem", "--once")
    assert rc == 0, log
    ae3 = str(dev("e3")["action"]["id"])
    assert steps(evs) == ["reboot", "boot", "offer", "envelope", "download_start", "download_done", "verify",
                          "exit"], evs
    assert of(evs, "envelope") == [{"action": ae3, "ok": True, "bytes": 120, "status": 200, "detail": ""}]
    assert of(evs, "verify") == [{"action": ae3, "ok": False, "status": "INVALID_SIGNATURE", "error": "ENV_AUTH"}]
    assert closed(evs) == [("failure", "the device refused the package at finish: INVALID_SIGNATURE (ENV_AUTH)")]
    r = dev("e3")
    assert (r.get("attested_version"), r["action"]["state"]) == ("1.0.0+1", "failure")
    assert failure_detail("e3") == ["the device refused the package at finish: INVALID_SIGNATURE (ENV_AUTH)"]
    assert simver("e3") == ("1.0.0+1", False)
    # e4: no key store at all: refused before any download
    rc, log, evs = run("e4", "--once")
    assert rc == 0, log
    assert failure_detail("e4") == ["an encrypted package, and this device has no key store (--enc-key)"]
    why = "an encrypted package, and this device has no key store (--enc-key)"
    assert steps(evs) == ["reboot", "boot", "offer", "error", "exit"], evs
    assert of(evs, "error") == [{"code": "no_keystore", "detail": why}]
    assert [n for n in names(evs) if n.startswith("download") or n in ("envelope", "verify")] == [], evs   # none
    assert [(f["execution"], f["finished"], f["detail"]) for f in of(evs, "feedback_sent")] == \
        [("closed", "failure", why)]                              # not even "download started"
    assert db.val("SELECT COUNT(*) FROM envelopes") == "3"        # e1, e2, e3
    assert [a["object"] for a in call(200, "GET", m.U + "/audit", A).json() if a["what"] == "envelope.issued"] == \
        ["e1", "e2", "e3"]                                        # audited once each
    # --require-encryption (PSA_FWU_FLAG_ENCRYPTION): an unencrypted package is refused at finish
    molt("keygen", "-t", "x25519", "-k", work / "e5.pem")
    molt("getpub", "-k", work / "e5.pem", "-e", "pem", "-o", work / "e5.pub")
    provision("e5", work / "e5.pub")
    assert call(201, "POST", m.U + "/campaigns", A, {"name": "plain-to-e5", "package": p2["id"],
                                                   "filter": {"ids": ["e5"]}}).json()["targets"] == 1
    rc, log, evs = run("e5", "--enc-key", work / "e5.pem", "--require-encryption", "--once")
    assert rc == 0, log
    ae5 = str(dev("e5")["action"]["id"])
    assert "envelope" not in names(evs)                           # a plain package has none
    assert of(evs, "download_done") == [{"action": ae5, "size": v2size}]
    assert of(evs, "verify") == [{"action": ae5, "ok": False, "status": "NOT_PERMITTED", "error": "ENC_REQUIRED"}]
    assert closed(evs) == [("failure", "the device refused the package at finish: NOT_PERMITTED (ENC_REQUIRED)")]
    assert failure_detail("e5") == ["the device refused the package at finish: NOT_PERMITTED (ENC_REQUIRED)"]
    assert simver("e5") == ("1.0.0+1", False)
    p = subprocess.run([os.environ["MOLT_AGENT"], "-f", sims["e5"], "-k", vendor, "--server", m.S, "--id", "e5",
                        "--token", "x", "--require-encryption"], capture_output=True, text=True)
    assert (p.returncode, p.stderr) == (2, "molt-agent: --require-encryption needs --enc-key (the device's "
                                           "decryption key)\n")


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_backoff_unreachable(db, device, agent, tmp_path):
    """Nothing listens on 127.0.0.1:1: every poll is an error. agent/main.c backoff(): the
    delay after error k is base * 2^(k-1) times a random factor in [0.5, 1), so with
    --backoff-ms 50 errors 1, 2, 3 wait [25, 50), [50, 100), [100, 200) ms: disjoint ranges,
    each delay above the last; the run lasts at least their sum; the 4th error gives up (exit 4).
    (No database is involved: `db` only names the run.)"""
    firmware(tmp_path)
    sim, _ = device("d8", tmp_path / "v1.img")
    t0 = time.time()
    rc, log, evs = agent("-f", sim, "-k", tmp_path / "vendor.pub", "--server", "http://127.0.0.1:1", "--id", "d8",
                         "--token", "none", "--backoff-ms", "50", "--max-sleep", "1", "--once", "--max-errors", "4")
    ran = (time.time() - t0) * 1000
    assert rc == 4, log
    # four failed polls (curl's own message), a back-off after each of the first three, then giving up
    err = {"code": "transport", "method": "GET", "url": "http://127.0.0.1:1/DEFAULT/controller/v1/d8",
           "detail": "Couldn't connect to server"}
    assert of(evs, "error") == 4 * [err], evs
    assert steps(evs) == ["reboot", "boot"] + 3 * ["error", "backoff"] + ["error", "give_up", "exit"], evs
    bo = [(x["errors"], x["ms"]) for x in of(evs, "backoff")]
    prev = -1
    for n, (errs, delay) in enumerate(bo):
        hi = 50 << n
        assert errs == n + 1 and hi // 2 <= delay < hi, (n, bo)
        assert delay > prev, bo
        prev = delay
    assert ran >= sum(d for _, d in bo), (ran, bo)
    assert of(evs, "give_up") == [{"errors": 4}]
    assert evs[-1] == {"event": "exit", "device": "d8", "code": 4}
    assert "poll" not in names(evs) and "attest" not in names(evs)


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_agent_bad_options(db, device, tmp_path):
    """Bad options: one line on stderr, exit 2; --help: the usage on stdout, exit 0. (No database
    is involved.)"""
    firmware(tmp_path)
    sim, _ = device("d1", tmp_path / "v1.img")
    ag = os.environ["MOLT_AGENT"]
    good = ["-f", sim, "-k", tmp_path / "vendor.pub", "--server", "http://127.0.0.1:1", "--id", "x", "--token", "y"]
    p = subprocess.run([ag, "-f", tmp_path / "nosuch.sim", "-k", tmp_path / "vendor.pub", "--server",
                        "http://127.0.0.1:1", "--id", "x", "--token", "y"], capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and p.stderr.startswith("molt-agent: "), p.stderr
    p = subprocess.run([ag, "-f", sim, "--server", "http://127.0.0.1:1", "--id", "x", "--token", "y"],
                       capture_output=True, text=True)
    assert (p.returncode, p.stderr) == (2, "molt-agent: -k PUB is required (the device's trusted signing keys)\n")
    # --help: exit 0, the usage on stdout (every option of docs/agent.md's table named), nothing on stderr
    p = subprocess.run([ag, "--help"], capture_output=True, text=True)
    assert (p.returncode, p.stderr) == (0, ""), p.stderr
    assert p.stdout.startswith("usage: molt-agent -f DEV -k PUB "), p.stdout
    table = rd(os.path.join(os.environ["MOLT_SRC"], "docs", "agent.md")).split("## Options", 1)[1].split("\n\n", 1)[0]
    documented = {o for row in table.splitlines() if row.startswith("| `")
                  for o in re.findall(r"`(--[a-z-]+)", row.split(" | ")[0])} - {"--help"}
    assert len(documented) > 25 and {o for o in documented if o not in p.stdout} == set(), p.stdout
    # an --events file that cannot be made: one line on stderr, exit 2, before the device is touched
    before_sim = rd(sim, "rb")
    bad = tmp_path / "no-such-dir" / "ev.ndjson"
    p = subprocess.run([ag, *good, "--once", "--events", bad], capture_output=True, text=True)
    assert (p.returncode, p.stdout, p.stderr) == (2, "", "molt-agent: %s: No such file or directory\n" % bad)
    assert not (tmp_path / "no-such-dir").exists() and rd(sim, "rb") == before_sim
    p = subprocess.run([ag, *good, "--events"], capture_output=True, text=True)   # no FILE at all
    assert (p.returncode, p.stdout) == (2, "") and "option '--events' requires an argument\nusage: molt-agent " \
        in p.stderr, p.stderr                                     # getopt's line, then the usage


@pytest.mark.parametrize("db", ["pg"], indirect=True)
def test_attest_enc_scripts(db):
    """tests/moltd_attest.sh and tests/moltd_enc.sh on PostgreSQL, one database each (their
    SQLite runs are ctests of their own): kept from the shell agent_pg test they rode with."""
    src = os.environ["MOLT_SRC"]
    for script in ["moltd_attest.sh", "moltd_enc.sh"]:
        p = subprocess.run(["bash", os.path.join(src, "tests", script)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, env=dict(os.environ, MOLTD_TEST_DB=db.new("s").url))
        assert p.returncode == 0, "%s:\n%s" % (script, p.stdout)
