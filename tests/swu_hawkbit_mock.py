#!/usr/bin/env python3
"""swu_hawkbit_mock.py - a plain hawkBit-shaped DDI server for tests/moltd_swu_agent.sh.

Not moltd: it speaks DDI the way hawkBit does, so molt-agent is tested against a
server that says "2.0.0" (not "2.0.0+0"), lists several chunks and artifacts in
its own order, and serves download/update modes, maintenanceWindow and
confirmationBase. One device, one action at a time, described by the JSON file
STATE (re-read on every request, so the test changes it between agent runs):
  {"action": 1, "version": "2.0.0", "chunks": [{"part", "name", "artifacts": [file names]}],
   "download": "forced", "update": "forced", "maintenanceWindow": null, "confirm": false}
Artifacts are the files of DIR with those names (Range requests served). Every
feedback is appended as one JSON line to LOG, with "kind" (deployment or
confirmation) and "action"; a closed deployment feedback or a confirmation is
remembered in STATE.done / STATE.confirmed.

usage: swu_hawkbit_mock.py PORTFILE STATE DIR LOG
"""
import json
import os
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORTFILE, STATE, DIR, LOG = sys.argv[1:5]


def load():
    with open(STATE) as f:
        return json.load(f)


def save(st):
    tmp = STATE + ".tmp"
    with open(tmp, "w") as f:
        json.dump(st, f)
    os.replace(tmp, STATE)


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, code, obj=None, raw=None, headers=()):
        body = raw if raw is not None else (json.dumps(obj).encode() if obj is not None else b"")
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        if obj is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def base(self):
        return "http://%s/DEFAULT/controller/v1/dev" % self.headers.get("Host")

    def deployment(self, st, key):
        chunks = []
        for c in st["chunks"]:
            arts = []
            for name in c["artifacts"]:
                size = os.path.getsize(os.path.join(DIR, name))
                url = "%s/softwaremodules/1/artifacts/%s" % (self.base(), name)
                arts.append({"filename": name, "hashes": {"sha1": "0" * 40, "md5": "0" * 32}, "size": size,
                             "_links": {"download-http": {"href": url}, "md5sum-http": {"href": url + ".MD5SUM"}}})
            chunks.append({"part": c["part"], "version": st["version"], "name": c["name"], "artifacts": arts})
        dep = {"download": st.get("download", "forced"), "update": st.get("update", "forced"), "chunks": chunks}
        if st.get("maintenanceWindow"):
            dep["maintenanceWindow"] = st["maintenanceWindow"]
        return {"id": str(st["action"]), key: dep}

    def do_GET(self):
        st = load()
        path = self.path.split("?")[0]
        if not path.startswith("/DEFAULT/controller/v1/dev"):
            return self.reply(404, {"message": "no such target"})
        sub = path[len("/DEFAULT/controller/v1/dev"):]
        open_ = st["action"] and st.get("done") != st["action"]
        waits = open_ and st.get("confirm") and st.get("confirmed") != st["action"]
        if sub == "":
            links = {}
            if waits:
                links["confirmationBase"] = {"href": "%s/confirmationBase/%d" % (self.base(), st["action"])}
            elif open_:
                links["deploymentBase"] = {"href": "%s/deploymentBase/%d?c=1" % (self.base(), st["action"])}
            return self.reply(200, {"config": {"polling": {"sleep": "00:00:01"}}, "_links": links})
        if sub == "/deploymentBase/%d" % st["action"] and open_ and not waits:
            return self.reply(200, self.deployment(st, "deployment"))
        if sub == "/confirmationBase/%d" % st["action"] and waits:
            return self.reply(200, self.deployment(st, "confirmation"))
        m = re.fullmatch(r"/softwaremodules/1/artifacts/([A-Za-z0-9._-]+)", sub)
        if m and os.path.isfile(os.path.join(DIR, m.group(1))):
            with open(os.path.join(DIR, m.group(1)), "rb") as f:
                data = f.read()
            r = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range") or "")
            if r:
                a = int(r.group(1))
                b = int(r.group(2)) if r.group(2) else len(data) - 1
                part = data[a:b + 1]
                return self.reply(206, raw=part, headers=[("Content-Range", "bytes %d-%d/%d" % (a, a + len(part) - 1, len(data)))])
            return self.reply(200, raw=data)
        return self.reply(404, {"message": "not found"})

    do_HEAD = do_GET

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")

    def do_POST(self):
        st = load()
        b = self.body()
        m = re.fullmatch(r"/DEFAULT/controller/v1/dev/(deploymentBase|confirmationBase)/(\d+)/feedback", self.path)
        if not m:
            return self.reply(404, {"message": "not found"})
        kind = "deployment" if m.group(1) == "deploymentBase" else "confirmation"
        action = int(m.group(2))
        with open(LOG, "a") as f:
            f.write(json.dumps({"kind": kind, "action": action, "body": b}) + "\n")
        if kind == "deployment" and b.get("status", {}).get("execution") == "closed":
            st["done"] = action
        if kind == "confirmation" and b.get("confirmation") == "confirmed":
            st["confirmed"] = action
        save(st)
        return self.reply(200)

    def do_PUT(self):
        self.body()
        return self.reply(200)


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.replace(PORTFILE + ".tmp", PORTFILE)
srv.serve_forever()
