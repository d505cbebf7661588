"""Fixtures of the moltd and molt-agent protocol suites (tests/README.md).

Python's standard library and pytest only. The binaries come from the environment CTest
sets (tests/CMakeLists.txt): MOLT, MOLTD, MOLT_AGENT, VECTORS, MOLT_SRC, MOLT_BUILD,
MOLT_FAULT_ENOSPC.

- `db`: a fresh, empty database, parametrized over `sqlite` and `pg` so both backends run
  through the same test code (`pytest -k sqlite` / `-k pg`). PostgreSQL is a throw-away
  cluster on loopback made by the project's scripts/pg-cluster.sh, one per session.
- `moltd_factory`: moltd on a free loopback port with a temporary state directory.
- `device`: a simulated device made with `molt sim`; `agent`: runs molt-agent for one with
  `--events`, and `read_events()` parses that NDJSON stream.
- `http()`: one HTTP/1.1 exchange; the status, headers and body are returned as they came.
"""
import json
import os
import re
import select
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.parse

import pytest

ADMIN = "admin-token-0123456789abcdef"
A = "Bearer " + ADMIN


def env(name):
    v = os.environ.get(name)
    if not v:
        pytest.fail("%s is not set (run through ctest, or export it: tests/README.md)" % name)
    return v


# --------------------------------------------------------------------------- HTTP

class Resp:
    def __init__(self, status, reason, headers, body):
        self.status, self.reason, self.headers, self.body = status, reason, headers, body

    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode()

    def __repr__(self):
        return "%d %s" % (self.status, self.body[:300])


def _read_head(f):
    line = f.readline()
    if not line:
        raise ConnectionError("no answer")
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ?(.*)\r\n$", line)
    if not m:
        raise ConnectionError("bad status line %r" % line)
    headers = {}
    while True:
        h = f.readline()
        if h in (b"\r\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(m.group(1)), m.group(2).decode("latin-1"), headers


def _read_body(f, method, status, headers):
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return b""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        out = b""
        while True:
            n = int(f.readline().split(b";")[0], 16)
            if n == 0:
                while f.readline() not in (b"\r\n", b""):
                    pass
                return out
            out += f.read(n)
            f.readline()
    if "content-length" in headers:
        return f.read(int(headers["content-length"]))
    return f.read()


def http(method, url, auth=None, data=None, headers=None, chunked=False, timeout=30, source=None):
    """One request on its own connection, as curl sends it: `Expect: 100-continue` before a
    body over 1 KiB (an answer that comes first is taken and the body not sent). `data`: a
    dict or list (sent as JSON), str or bytes. Returns Resp; headers are lower-cased."""
    u = urllib.parse.urlsplit(url)
    path = (u.path or "/") + ("?" + u.query if u.query else "")
    if isinstance(data, (dict, list)):
        data = json.dumps(data)
    if isinstance(data, str):
        data = data.encode()
    hdr = {"Host": "%s:%d" % (u.hostname, u.port), "Connection": "close"}
    if auth:
        hdr["Authorization"] = auth
    if data is not None:
        hdr["Content-Type"] = "application/json" if data[:1] in (b"{", b"[") else "application/octet-stream"
        if chunked:
            hdr["Transfer-Encoding"] = "chunked"
        else:
            hdr["Content-Length"] = str(len(data))
    elif method in ("POST", "PUT"):
        hdr["Content-Length"] = "0"
    expect = data is not None and (chunked or len(data) > 1024)
    if expect:
        hdr["Expect"] = "100-continue"
    hdr.update(headers or {})
    head = "%s %s HTTP/1.1\r\n%s\r\n" % (method, path, "".join("%s: %s\r\n" % kv for kv in hdr.items()))
    sock = socket.create_connection((u.hostname, u.port), timeout,
                                    source_address=(source, 0) if source else None)
    try:
        f = sock.makefile("rb")
        sock.sendall(head.encode("latin-1"))
        early = None
        if data is not None:
            if expect and select.select([sock], [], [], 1.0)[0]:
                early = _read_head(f)
                if early[0] == 100:
                    early = None
                else:
                    data = None
            if data is not None:
                body = (b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data)) if chunked and data else \
                       (b"0\r\n\r\n" if chunked else data)
                try:
                    sock.sendall(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass
        status, reason, rh = early or _read_head(f)
        while 100 <= status < 200:
            status, reason, rh = _read_head(f)
        return Resp(status, reason, rh, _read_body(f, method, status, rh))
    finally:
        sock.close()


def call(status, method, url, auth=None, data=None, body=None, **kw):
    """The request, asserting its exact status and, with `body`, its exact body (bytes or
    str: byte for byte; a dict or list: the JSON value); returns the Resp."""
    r = http(method, url, auth, data, **kw)
    assert r.status == status, "%s %s -> %d, expected %d (%s)" % (method, url, r.status, status, r.body[:300])
    if isinstance(body, (dict, list)):
        assert r.json() == body, "%s %s: %s" % (method, url, r.body[:300])
    elif body is not None:
        assert r.body == (body.encode() if isinstance(body, str) else body), "%s %s: %s" % (method, url, r.body[:300])
    return r


def error(r):
    """The exact body of a refusal: {"error": ...} and nothing else; returns the message."""
    j = r.json()
    assert list(j) == ["error"], r.body
    return j["error"]


# --------------------------------------------------------------------------- databases

class Db:
    """One database: `url` for moltd --db; `rows`/`col`/`val` for the test's own reads
    (every value as a string, NULL as '', as sqlite3 and psql -tA print them)."""

    def __init__(self, backend, url, path=None, factory=None):
        self.backend, self.url, self.path, self._factory = backend, url, path, factory

    def new(self, name):
        """Another empty database of the same backend."""
        return self._factory(name)

    def rows(self, q):
        if self.backend == "sqlite":
            c = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            try:
                return [tuple("" if v is None else str(v) for v in r) for r in c.execute(q).fetchall()]
            finally:
                c.close()
        p = subprocess.run(["psql", "-X", "-q", "-tA", "-F", "\x1f", "-R", "\x1e", self.url, "-c", q],
                           capture_output=True, text=True)
        assert p.returncode == 0, "psql %s: %s" % (q, p.stderr)
        out = p.stdout.rstrip("\n")
        return [tuple(r.split("\x1f")) for r in out.split("\x1e")] if out else []

    def col(self, q):
        return [r[0] for r in self.rows(q)]

    def val(self, q):
        r = self.rows(q)
        assert len(r) == 1 and len(r[0]) == 1, "%s: %r" % (q, r)
        return r[0][0]

    def refused(self, q):
        """Runs a statement that must fail; returns the error text."""
        if self.backend == "sqlite":
            c = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            try:
                c.execute(q)
            except sqlite3.Error as e:
                return str(e)
            finally:
                c.close()
            pytest.fail("%s succeeded" % q)
        p = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", self.url, "-c", q],
                           capture_output=True, text=True)
        assert p.returncode != 0, "%s succeeded" % q
        return p.stderr

    def script(self, text):
        if self.backend == "sqlite":
            c = sqlite3.connect(self.path, isolation_level=None)
            try:
                c.executescript(text)
            finally:
                c.close()
        else:
            p = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", self.url],
                               input=text, capture_output=True, text=True)
            assert p.returncode == 0, p.stderr


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory):
    """A throw-away PostgreSQL cluster (scripts/pg-cluster.sh); its base URL."""
    script = os.path.join(env("MOLT_SRC"), "scripts", "pg-cluster.sh")
    state = str(tmp_path_factory.mktemp("pg"))
    p = subprocess.run([script, "start", state], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.fail("no PostgreSQL cluster: %s" % p.stderr.strip())
    yield p.stdout.strip()
    subprocess.run([script, "stop", state], capture_output=True)


_dbs = [0]


@pytest.fixture(params=["sqlite", "pg"])
def db(request, tmp_path):
    if request.param == "sqlite":
        def make(name):
            path = str(tmp_path / (name + ".sqlite"))
            return Db("sqlite", "sqlite:" + path, path, make)
    else:
        base = request.getfixturevalue("pg_cluster")

        def make(name):
            _dbs[0] += 1
            dbname = "%s_%d" % (name, _dbs[0])
            p = subprocess.run(["psql", "-X", "-q", base, "-c", "CREATE DATABASE " + dbname],
                               capture_output=True, text=True)
            assert p.returncode == 0, p.stderr
            return Db("postgresql", base.rsplit("/", 1)[0] + "/" + dbname, None, make)
    return make("moltd")


def pytest_collection_modifyitems(items):
    # `-k sqlite` / `-k pg` select a backend: no test's own name may contain either word.
    for it in items:
        bare = it.name.split("[")[0]
        assert "pg" not in bare.lower() and "sqlite" not in bare.lower(), \
            "%s: a test name must not contain 'pg' or 'sqlite' (ctest selects with -k)" % it.nodeid


# --------------------------------------------------------------------------- moltd

class Moltd:
    """moltd on 127.0.0.1, an ephemeral port; the state (log, artifacts, admin token) in `dir`."""
    LISTEN = re.compile(r"^moltd: listening on http://127\.0\.0\.1:(\d+) \((\w+) database, schema (\d+)\)", re.M)

    def __init__(self, dir, db, base_args):
        self.dir, self.db, self.base_args = str(dir), db, list(base_args)
        self.art = os.path.join(self.dir, "artifacts")
        self.token_file = os.path.join(self.dir, "admin.token")
        with open(self.token_file, "w") as f:
            f.write(ADMIN + "\n")
        self.logfile = os.path.join(self.dir, "moltd.log")
        self.proc = None

    def start(self, *extra, url=None, art=None, env=None):
        assert self.proc is None, "moltd already running"
        args = [os.environ["MOLTD"], "--db", url or self.db.url, "--port", "0",
                "--artifact-dir", art or self.art, "--admin-token-file", self.token_file]
        args += self.base_args + list(extra)
        e = dict(os.environ, **(env or {}))
        with open(self.logfile, "w") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=e)
        deadline = time.time() + 30
        while time.time() < deadline:
            m = self.LISTEN.search(self.log)
            if m:
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        if not m:
            self.kill9()
            pytest.fail("moltd did not start: %s" % self.log)
        self.port, self.backend, self.schema = int(m.group(1)), m.group(2), int(m.group(3))
        self.pid = self.proc.pid
        self.S = "http://127.0.0.1:%d" % self.port
        self.U = self.S + "/api/v1"
        self.D = self.S + "/DEFAULT/controller/v1"
        return self

    @property
    def log(self):
        with open(self.logfile) as f:
            return f.read()

    def stop(self):
        """SIGTERM; returns the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(30)
        self.proc = None
        return rc

    def kill9(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait(30)
            self.proc = None

    def restart(self, *extra, **kw):
        self.stop()
        return self.start(*extra, **kw)


@pytest.fixture
def moltd_factory(tmp_path, db):
    """moltd_factory(*base_args): a Moltd (not started) on the test's `db`."""
    made = []

    def make(*base_args):
        m = Moltd(tmp_path, db, base_args)
        made.append(m)
        return m
    yield make
    for m in made:
        m.kill9()


# --------------------------------------------------------------------------- devices and the agent

def run(*args, cwd=None, check=True, **kw):
    """A command; stdout and stderr together as text. check: exit 0 asserted."""
    p = subprocess.run([str(a) for a in args], cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, **kw)
    if check:
        assert p.returncode == 0, "%s -> %d: %s" % (" ".join(map(str, args)), p.returncode, p.stdout)
    return p


def molt(*args, **kw):
    return run(os.environ["MOLT"], *args, **kw)


@pytest.fixture
def device(tmp_path):
    """device(name, image): a simulated device NAME.sim in tmp_path (4 KiB sectors, 16-sector
    slots, align 8) with IMAGE in its primary slot; returns (sim path, IAK public key PEM)."""
    def make(name, image, sector=4096, slot_sectors=16, align=8):
        sim = tmp_path / (name + ".sim")
        molt("sim", "create", "-f", sim, "--sector-size", sector, "--slot-sectors", slot_sectors, "--align", align)
        molt("sim", "write", "-f", sim, "--slot", "primary", image)
        molt("sim", "iak", "-f", sim, "-o", tmp_path / (name + ".iak"))
        return str(sim), (tmp_path / (name + ".iak")).read_text()
    return make


def read_events(path, device=None):
    """molt-agent's NDJSON event stream (docs/agent.md): a list of dicts, in order. Every line
    must be one JSON object with the fixed fields (`t` a non-decreasing integer, `event`,
    `device` = DEVICE when given); `t` is dropped from the result so events compare exactly."""
    out, last = [], 0
    with open(path) as f:
        text = f.read()
    assert text == "" or text.endswith("\n"), "events: the last line is cut: %r" % text[-200:]
    for n, line in enumerate(text.splitlines(), 1):
        e = json.loads(line)
        assert isinstance(e, dict) and list(e)[:3] == ["t", "event", "device"], "events line %d: %s" % (n, line)
        assert isinstance(e["t"], int) and e["t"] >= last, "events line %d: t goes back: %s" % (n, line)
        last = e.pop("t")
        if device is not None:
            assert e["device"] == device, "events line %d: %s" % (n, line)
        out.append(e)
    return out


@pytest.fixture
def agent(tmp_path):
    """agent(*args, background=False): molt-agent in tmp_path with `--events` to a file of its
    own; (exit status, output, events) where events is read_events()'s list (checked against
    the `--id` given), or the Popen with background=True (output in p.logfile, p.events() reads
    the stream once it has exited)."""
    def go(*args, background=False):
        args = [str(a) for a in args]
        dev = args[args.index("--id") + 1] if "--id" in args else None
        evf = tmp_path / ("agent-%d.ev" % time.monotonic_ns())
        argv = [os.environ["MOLT_AGENT"]] + args + ["--events", str(evf)]
        if background:
            log = open(tmp_path / ("agent-%d.log" % time.monotonic_ns()), "w+")
            p = subprocess.Popen(argv, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, text=True)
            p.logfile = log
            p.events = lambda: read_events(evf, dev)
            return p
        p = run(*argv, cwd=tmp_path, check=False, timeout=300)
        return p.returncode, p.stdout, read_events(evf, dev)
    return go
