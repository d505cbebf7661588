#!/usr/bin/env python3
"""swu_flaky_mirror.py - a download mirror that drops the first connection of each file.

For tests/moltd_swu.sh (moltd --artifact-base-url pointing here): the first GET of a
file announces the whole length, sends CUT bytes and closes the connection; later
GETs honour "Range: bytes=A-" (206) so a client that resumes completes. Every
request is logged to LOG as "PATH RANGE-HEADER STATUS BYTES-SENT".

usage: swu_flaky_mirror.py PORTFILE DIR CUT LOG
"""
import os
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORTFILE, DIR, CUT, LOG = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
seen = set()


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def note(self, status, n):
        with open(LOG, "a") as f:
            f.write("%s %s %d %d\n" % (self.path, self.headers.get("Range") or "-", status, n))

    def do_GET(self):
        name = os.path.basename(self.path)
        path = os.path.join(DIR, name)
        if not re.fullmatch(r"[0-9a-f]{64}", name) or not os.path.isfile(path):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return self.note(404, 0)
        data = open(path, "rb").read()
        r = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if name not in seen:
            seen.add(name)
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            self.wfile.write(data[:CUT])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return self.note(200, CUT)
        a = int(r.group(1)) if r else 0
        self.send_response(206 if r else 200)
        if r:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (a, len(data) - 1, len(data)))
        self.send_header("Content-Length", str(len(data) - a))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.wfile.write(data[a:])
        self.note(206 if r else 200, len(data) - a)


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.replace(PORTFILE + ".tmp", PORTFILE)
srv.serve_forever()
