#!/usr/bin/env bash
# bench-web.sh BUILD_DIR - the dashboard's fleet page with DEVICES (default 10000) provisioned
# devices, every one a target of an open campaign, in Debian's chromium (bench/web_fleet.cjs):
# time to first render, a search, the next page, and the API answers behind them. Figures only.
# moltd runs on 127.0.0.1 (SQLite); devices are provisioned through the management API.
set -euo pipefail
build=${1:?usage: scripts/bench-web.sh BUILD_DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "$build" && pwd)/bin
n=${DEVICES:-10000}
modules=$top/build/node/node_modules
[ -f "$modules/puppeteer-core/package.json" ] || { echo "bench-web: puppeteer-core not installed (scripts/deps.sh)" >&2; exit 2; }
work=$(mktemp -d); pid=
cleanup() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
ADMIN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'); printf '%s\n' "$ADMIN" > admin.token
"$bin/moltd" --db sqlite:moltd.db --port 0 --artifact-dir art --admin-token-file admin.token > moltd.log 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q listening moltd.log && break; sleep 0.05; done
S=$(sed -n 's/^moltd: listening on \(http:[^ ]*\) .*/\1/p' moltd.log)
[ -n "$S" ] || { echo "bench-web: moltd did not start: $(cat moltd.log)" >&2; exit 2; }
A="Authorization: Bearer $ADMIN"
api() { curl -s --max-time 120 -H "$A" "$@"; }
"$bin/molt" keygen -t ecdsa-p256 -k vendor.pem >/dev/null
"$bin/molt" getpub -k vendor.pem -e pem -o vendor.pub
"$bin/molt" keygen -t ecdsa-p256 -k iak.pem >/dev/null
"$bin/molt" getpub -k iak.pem -e pem -o iak.pub
head -c 20000 /dev/urandom > fw.bin
"$bin/molt" sign -k vendor.pem -v 2.0.0 -s auto -H 0x200 --pad-header -S 0x10000 fw.bin v2.img >/dev/null
api -d "$(jq -n --rawfile p vendor.pub '{name:"vendor",pem:$p}')" "$S/api/v1/signers" >/dev/null
api -d '{"name":"sensor","signers":["vendor"]}' "$S/api/v1/classes" >/dev/null
pkg=$(api --data-binary @v2.img "$S/api/v1/packages?class=sensor" | jq -r .id)
# Provisioning: N requests over 4 keep-alive connections (node fetch), one transaction each.
t0=$(date +%s.%N)
MOLT_URL=$S TOKEN=$ADMIN N=$n PEM_FILE=iak.pub node -e '
const pem = require("fs").readFileSync(process.env.PEM_FILE, "utf8"), n = Number(process.env.N);
let next = 0;
async function worker() {
  while (next < n) {
    const i = next++, id = `dev-${String(i).padStart(5, "0")}`;
    const r = await fetch(`${process.env.MOLT_URL}/api/v1/devices`, { method: "POST",
      headers: { Authorization: `Bearer ${process.env.TOKEN}`, "Content-Type": "application/json" },
      body: JSON.stringify({ id, class: "sensor", attestation_key: pem }) });
    if (r.status !== 201) throw new Error(`${id}: HTTP ${r.status} ${await r.text()}`);
    await r.arrayBuffer();
  }
}
Promise.all([worker(), worker(), worker(), worker()]).catch(e => { console.error(e.message); process.exit(1); });'
t1=$(date +%s.%N)
targets=$(api -d "{\"name\":\"everyone\",\"package\":$pkg,\"steps\":[10,100]}" "$S/api/v1/campaigns" | jq -r .targets)
echo "== dashboard: the fleet page at $n devices (moltd on SQLite, Debian's chromium headless) =="
printf 'provisioned %d devices through the API in %.1f s; one campaign open for %s of them\n' "$n" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$targets"
MOLT_URL=$S TOKEN=$ADMIN NODE_PATH=$modules node "$top/bench/web_fleet.cjs"
