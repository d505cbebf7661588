#!/usr/bin/env bash
# bench-moltd.sh BUILD_DIR [sqlite|postgresql] - moltd's DDI poll throughput, printed as figures.
# Starts moltd on 127.0.0.1 with a fresh database (PostgreSQL: a throw-away cluster from
# scripts/pg-cluster.sh), provisions DEVICES devices (default 200) with one open campaign,
# then bench_ddi_poll polls for SECONDS (default 5) over 1, 4 and 16 keep-alive connections,
# and once more while HELD (default 500) idle connections stay open. Never pass/fail.
set -euo pipefail
build=${1:?usage: scripts/bench-moltd.sh BUILD_DIR [sqlite|postgresql]}; backend=${2:-sqlite}
top=$(cd "$(dirname "$0")/.." && pwd)
devices=${DEVICES:-200}; secs=${SECONDS_PER_RUN:-5}; held=${HELD:-500}
work=$(mktemp -d); pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; fi
  [ "$backend" = postgresql ] && "$top/scripts/pg-cluster.sh" stop "$work/pg" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
case $backend in
  sqlite) url=sqlite:$work/moltd.sqlite ;;
  postgresql) url=$("$top/scripts/pg-cluster.sh" start "$work/pg") ;;
  *) echo "bench-moltd: backend is sqlite or postgresql" >&2; exit 2 ;;
esac
admin=bench-admin-token-0123456789
MOLTD_ADMIN_TOKEN=$admin "$build/bin/moltd" --db "$url" --port 0 --artifact-dir "$work/art" \
  --threads 4 >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q listening "$work/log" && break; sleep 0.05; done
port=$(sed -n 's/^moltd: listening on http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$work/log")
[ -n "$port" ] || { echo "bench-moltd: moltd did not start: $(cat "$work/log")" >&2; exit 1; }
U=http://127.0.0.1:$port/api/v1; A="Authorization: Bearer $admin"
K=$top/tests/vectors/imgtool/keys
post() { curl -sf -o "$work/out" -H "$A" "$@" || { echo "bench-moltd: set-up failed: $*" >&2; exit 1; }; }
post "$U/signers" -d "$(jq -n --rawfile pem "$K/sign-ecdsa-p256.pub.pem" '{name:"vendor",pem:$pem}')"
post "$U/classes" -d '{"name":"sensor","signers":["vendor"]}'
"$build/bin/molt" sign -k "$K/sign-ecdsa-p256.pem" -v 1.0.0 -s auto -H 0x200 --pad-header -S 0x80000 \
  "$top/tests/vectors/imgtool/payloads/payload_C_65536.bin" "$work/v1.bin" >/dev/null
post "$U/packages?class=sensor" --data-binary "@$work/v1.bin"
body=$(jq -n --rawfile ak "$K/enc-ecdsa-p256.pub.pem" '{class:"sensor",attestation_key:$ak}')
for i in $(seq -w 1 "$devices"); do
  post "$U/devices" -d "$(jq -c --arg id "dev$i" '. + {id:$id}' <<<"$body")"
  printf 'dev%s %s\n' "$i" "$(jq -r .token "$work/out")" >> "$work/tokens"
done
post "$U/campaigns" -d '{"name":"bench","package":1,"steps":[50,100],"message":"bench"}'
echo "== moltd DDI base poll ($backend, $devices devices, half with an open deployment; loopback, $(nproc) cores) =="
for c in 1 4 16; do "$build/bench/bench_ddi_poll" "$port" "$work/tokens" "$c" "$secs"; done
"$build/bench/bench_ddi_poll" "$port" "$work/tokens" 4 "$secs" "$held"
