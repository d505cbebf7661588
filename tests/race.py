#!/usr/bin/env python3
"""race.py - send HTTP requests at the same instant, for the concurrency tests.

Usage: race.py REQUEST...   one round, where each REQUEST is JSON:
  {"url": "http://127.0.0.1:PORT/path", "method": "POST", "auth": "...", "body": "..."}
  ("file": PATH instead of "body" sends that file as application/octet-stream)
Every request gets its own connection, opened beforehand; a barrier then releases
all of them together. Prints one status code per request, in the order given
(000 when the connection failed), separated by spaces.
       race.py < ROUNDS         one round per line (a JSON array of REQUESTs), run one
                                after the other; one line of codes per round.
"""
import http.client
import json
import sys
import threading
import urllib.parse


def round_(reqs):
    codes = ["000"] * len(reqs)
    barrier = threading.Barrier(len(reqs))

    def run(i, q):
        u = urllib.parse.urlsplit(q["url"])
        try:
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            c.connect()
        except OSError:
            barrier.wait()
            return
        headers = {"Authorization": q["auth"]} if q.get("auth") else {}
        body = q.get("body")
        if "file" in q:
            with open(q["file"], "rb") as f:
                body = f.read()
            q.setdefault("type", "application/octet-stream")
        if body is not None:
            headers["Content-Type"] = q.get("type", "application/json")
            body = body.encode() if isinstance(body, str) else body
        path = u.path + ("?" + u.query if u.query else "")
        barrier.wait()
        try:
            c.request(q.get("method", "GET"), path, body=body, headers=headers)
            codes[i] = "%03d" % c.getresponse().status
        except OSError:
            pass

    threads = [threading.Thread(target=run, args=(i, q)) for i, q in enumerate(reqs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(" ".join(codes), flush=True)


def main():
    if len(sys.argv) > 1:
        round_([json.loads(a) for a in sys.argv[1:]])
    else:
        for line in sys.stdin:
            if line.strip():
                round_(json.loads(line))


if __name__ == "__main__":
    main()
