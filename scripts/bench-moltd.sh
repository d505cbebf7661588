#!/usr/bin/env bash
# bench-moltd.sh BUILD_DIR [sqlite|postgresql] - moltd's DDI poll throughput and how many idle
# device connections it holds, printed as figures. Never pass/fail.
# Starts moltd on 127.0.0.1 with a fresh database (PostgreSQL: a throw-away cluster from
# scripts/pg-cluster.sh), provisions as many devices as the largest held step (so every held
# connection is a device of its own) with one campaign open for every second device, then
# bench_ddi_poll polls the first DEVICES (default 200) for SECONDS_PER_RUN (default 5) over 1, 4
# and 16 keep-alive connections. Then the ramp, in one bench_ddi_poll process: HELD_STEPS
# (default 500 1000 2000 4000) idle connections, one per device; each step opens the connections
# it adds (each polls once), runs 4 connections over all the devices for RAMP_SECONDS (default 2)
# while the held ones stay open, then polls every held one again. The ramp stops after the first
# step not fully served (a held connection refused, dropped or answered other than 200) and the
# largest step that was is printed. Steps above moltd's connection limit
# (MHD_OPTION_CONNECTION_LIMIT in moltd/http.c) less the 4 active connections, or above the fd
# limit (ulimit -n) less a margin, are skipped and said so.
set -euo pipefail
build=${1:?usage: scripts/bench-moltd.sh BUILD_DIR [sqlite|postgresql]}; backend=${2:-sqlite}
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${SECONDS_PER_RUN:-5}; ramp_secs=${RAMP_SECONDS:-2}; steps=${HELD_STEPS:-500 1000 2000 4000}
poll_devices=${DEVICES:-200}; top_step=$(tr ' ' '\n' <<<"$steps" | sort -n | tail -n 1)
devices=$((top_step > poll_devices ? top_step : poll_devices))
conn_limit=$(sed -n 's/.*MHD_OPTION_CONNECTION_LIMIT, (unsigned)\([0-9]*\).*/\1/p' "$top/moltd/http.c")
conn_limit=${conn_limit:-4096}; fd_limit=$(ulimit -n)
work=$(mktemp -d); pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; fi
  [ "$backend" = postgresql ] && "$top/scripts/pg-cluster.sh" stop "$work/pg" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
t_start=$(date +%s)
case $backend in
  sqlite) url=sqlite:$work/moltd.sqlite ;;
  postgresql) url=$("$top/scripts/pg-cluster.sh" start "$work/pg") ;;
  *) echo "bench-moltd: backend is sqlite or postgresql" >&2; exit 2 ;;
esac
admin=bench-admin-token-0123456789
MOLTD_ADMIN_TOKEN=$admin "$build/bin/moltd" --db "$url" --port 0 --artifact-dir "$work/art" \
  --threads 4 --per-ip-connections 0 >"$work/log" 2>&1 &  # every bench connection comes from 127.0.0.1
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
# Devices: the token is chosen here (POST /devices takes one), so one curl does them all in
# parallel, from a config file (where a quoted string needs its \ and " escaped).
ak=$(jq -Rs . <"$K/enc-ecdsa-p256.pub.pem" | sed 's/[\\"]/\\&/g')
for i in $(seq -w 1 "$devices"); do
  printf 'dev%s bench-device-token-%s\n' "$i" "$i" >>"$work/tokens"
  [ -s "$work/provision.cfg" ] && echo next >>"$work/provision.cfg"
  printf 'url = "%s/devices"\nheader = "%s"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' "$U" "$A" \
    >>"$work/provision.cfg"
  printf 'data-binary = "{\\"id\\":\\"dev%s\\",\\"class\\":\\"sensor\\",\\"attestation_key\\":%s,\\"token\\":\\"bench-device-token-%s\\"}"\n' \
    "$i" "$ak" "$i" >>"$work/provision.cfg"
done
curl -s -Z --parallel-max 8 -K "$work/provision.cfg" >"$work/codes" 2>"$work/curl.err" || true
[ "$(grep -cx 201 "$work/codes")" -eq "$devices" ] \
  || { echo "bench-moltd: set-up failed: $(sort "$work/codes" | uniq -c | tr '\n' ' ')" >&2; exit 1; }
post "$U/campaigns" -d "$(awk 'NR % 2 {print $1}' "$work/tokens" | jq -Rn '{name:"bench",package:1,message:"bench",filter:{ids:[inputs]}}')"
head -n "$poll_devices" "$work/tokens" >"$work/tokens.poll"
echo "== moltd DDI base poll ($backend, $poll_devices devices, half with an open deployment; loopback, $(nproc) cores) =="
for c in 1 4 16; do "$build/bench/bench_ddi_poll" "$port" "$work/tokens.poll" "$c" "$secs"; done
echo "== moltd idle device connections held ($backend, $devices devices; connection limit $conn_limit, fd limit $fd_limit) =="
ramp=
for h in $steps; do
  if [ "$h" -gt $((conn_limit - 4)) ] || [ "$h" -gt $((fd_limit - 64)) ]; then
    echo "held $h: skipped (above the connection limit less 4 active, or the fd limit less 64)"
  else
    ramp=${ramp:+$ramp,}$h
  fi
done
best=0
if [ -n "$ramp" ]; then
  "$build/bench/bench_ddi_poll" "$port" "$work/tokens" 4 "$ramp_secs" "$ramp" | tee "$work/ramp"
  best=$(sed -n 's/.*held \([0-9]*\): \1 served before, \1 after$/\1/p' "$work/ramp" | tail -n 1)
fi
echo "largest idle device connections fully served ($backend): ${best:-0} ($(( $(date +%s) - t_start )) s for this backend)"
