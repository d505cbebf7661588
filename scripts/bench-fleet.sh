#!/usr/bin/env bash
# bench-fleet.sh BUILD_DIR [sqlite|postgresql] [DEVICES] [INSTANCES] [POLL_S] - one campaign to a
# simulated fleet, end to end, printed as figures (never pass/fail).
# Starts INSTANCES (default 1; PostgreSQL only above 1) moltd processes on 127.0.0.1 sharing a
# fresh database and artifact directory, provisions DEVICES (default 1000) devices, uploads one
# signed package (64 KiB payload) and starts one campaign to all of them (one step, failure
# threshold 100 %), then bench/bench_fleet runs the fleet: each device polls every POLL_S seconds
# (default 60, first poll at a random moment of the first interval), fetches its deployment,
# downloads it in two Range requests (FLEET_DROP_PCT, default 5 %, of the downloads drop and
# resume on a new connection), verifies it through lib/'s molt_verify() and reports success, or
# failure for FLEET_FAIL_PCT (default 1 %) of the devices (an injected health-check failure).
# At the end the campaign's action counts from moltd and the audit records are printed beside the
# simulator's figures, so every device is accounted for.
#
# FLEET_TLS=1: the instances sit behind HAProxy terminating TLS (scripts/tls-proxy.sh, a test PKI
# made for the run, round robin, moltd trusting the proxy's address only); the simulator speaks
# HTTPS to the proxy and verifies its certificate (bench_fleet --ca-file).
#
# scripts/bench-fleet.sh BUILD_DIR matrix [DEVICES...] [-- POLL_S]: the side-by-side table of
# docs/bench.md in one run: for each DEVICES (default 1000 10000), SQLite, PostgreSQL with one
# instance, and PostgreSQL with two and four instances behind the TLS proxy; one line each, with
# the load average before and after the run.
set -euo pipefail
build=${1:?usage: scripts/bench-fleet.sh BUILD_DIR [sqlite|postgresql|matrix] [DEVICES] [INSTANCES] [POLL_S]}
if [ "${2:-}" = matrix ]; then
  shift 2; sizes=(); mpoll=60
  while [ $# -gt 0 ]; do
    if [ "$1" = -- ]; then mpoll=${2:-60}; break; fi
    sizes+=("$1"); shift
  done
  [ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000)
  echo "== fleet matrix: poll ${mpoll} s, $(nproc) cores; figures, not limits =="
  printf '%-28s %8s %10s %9s %8s %16s %16s %-22s %s\n' setup devices campaign devices/s polls/s \
    "poll p50/p99 ms" "upd p50/p99 ms" "accounted for" "load before/after"
  for n in "${sizes[@]}"; do
    for cfg in "sqlite 1 0" "postgresql 1 0" "postgresql 2 1" "postgresql 4 1"; do
      set -- $cfg
      l0=$(cut -d' ' -f1 /proc/loadavg)
      out=$(FLEET_TLS=$3 "$0" "$build" "$1" "$n" "$2" "$mpoll" 2>/dev/null) || { echo "$1 x$2: failed" >&2; continue; }
      l1=$(cut -d' ' -f1 /proc/loadavg)
      line=$(grep '^fleet ' <<<"$out")
      acc=$(sed -n 's/^moltd: audit update.success \([0-9]*\), update.failure \([0-9]*\),.*/\1 + \2/p' <<<"$out")
      acc="$acc, $(sed -n 's/.*; \([0-9]*\) errors.*/\1/p' <<<"$line") errors"
      setup="$1 x$2$([ "$3" = 1 ] && echo ' (TLS proxy)' || true)"
      camp=$(sed -n 's/.*campaign \([0-9.]*\) s;.*/\1 s/p' <<<"$line")
      dps=$(sed -n 's/.*; \([0-9.]*\) devices\/s;.*/\1/p' <<<"$line")
      pps=$(sed -n 's/.*; \([0-9.]*\) polls\/s;.*/\1/p' <<<"$line")
      pl=$(sed -n 's/.*poll p50 \([0-9.]*\) ms p99 \([0-9.]*\) ms;.*/\1 \/ \2/p' <<<"$line")
      ul=$(sed -n 's/.*update p50 \([0-9.]*\) ms p99 \([0-9.]*\) ms;.*/\1 \/ \2/p' <<<"$line")
      printf '%-28s %8s %10s %9s %8s %16s %16s %-22s %s\n' "$setup" "$n" "$camp" "$dps" "$pps" "$pl" "$ul" "$acc" "$l0 / $l1"
    done
  done
  exit 0
fi
backend=${2:-sqlite}; devices=${3:-1000}; instances=${4:-1}; poll=${5:-60}
fail_pct=${FLEET_FAIL_PCT:-1}; drop_pct=${FLEET_DROP_PCT:-5}; threads=${FLEET_THREADS:-16}
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d); pids=()
cleanup() {
  "$top/scripts/tls-proxy.sh" stop "$work/pki" >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
  [ "$backend" = postgresql ] && "$top/scripts/pg-cluster.sh" stop "$work/pg" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
case $backend in
  sqlite) url=sqlite:$work/moltd.sqlite; [ "$instances" -eq 1 ] || { echo "bench-fleet: SQLite serves one instance" >&2; exit 2; } ;;
  postgresql) url=$("$top/scripts/pg-cluster.sh" start "$work/pg") ;;
  *) echo "bench-fleet: backend is sqlite or postgresql" >&2; exit 2 ;;
esac
admin=bench-admin-token-0123456789
ports=; tlsopt=()
if [ "${FLEET_TLS:-0}" = 1 ]; then
  "$top/scripts/tls-proxy.sh" pki "$work/pki" >/dev/null
  tlsopt=(--trusted-proxy 127.0.0.2 --client-cert-issuer "$(cat "$work/pki/issuer")")
fi
for i in $(seq "$instances"); do
  # every simulated device connects from 127.0.0.1: no per-address limit here
  MOLTD_ADMIN_TOKEN=$admin "$build/bin/moltd" --db "$url" --port 0 --artifact-dir "$work/art" --threads 4 \
    --per-ip-connections 0 --poll-sleep "$poll" "${tlsopt[@]}" >"$work/log.$i" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do grep -q listening "$work/log.$i" && break; sleep 0.05; done
  p=$(sed -n 's/^moltd: listening on http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$work/log.$i")
  [ -n "$p" ] || { echo "bench-fleet: moltd did not start: $(cat "$work/log.$i")" >&2; exit 1; }
  ports=${ports:+$ports,}$p
done
U=http://127.0.0.1:${ports%%,*}/api/v1; A="Authorization: Bearer $admin"
fleet_ports=$ports; fleet_ca=()
if [ "${FLEET_TLS:-0}" = 1 ]; then
  fleet_ports=$("$top/scripts/tls-proxy.sh" start "$work/pki" 0 ${ports//,/ })
  fleet_ca=(--ca-file "$work/pki/ca.pem")
fi
K=$top/tests/vectors/imgtool/keys
post() { curl -sf -o "$work/out" -H "$A" "$@" || { echo "bench-fleet: set-up failed: $*" >&2; exit 1; }; }
post "$U/signers" -d "$(jq -n --rawfile pem "$K/sign-ecdsa-p256.pub.pem" '{name:"vendor",pem:$pem}')"
post "$U/classes" -d '{"name":"sensor","signers":["vendor"]}'
"$build/bin/molt" sign -k "$K/sign-ecdsa-p256.pem" -v 1.0.0 -s auto -H 0x200 --pad-header -S 0x80000 \
  "$top/tests/vectors/imgtool/payloads/payload_C_65536.bin" "$work/v1.bin" >/dev/null
post "$U/packages?class=sensor" --data-binary "@$work/v1.bin"
ak=$(jq -Rs . <"$K/enc-ecdsa-p256.pub.pem" | sed 's/[\\"]/\\&/g')
t_prov=$(date +%s.%N)
for i in $(seq -w 1 "$devices"); do
  printf 'dev%s fleet-device-token-%s\n' "$i" "$i" >>"$work/tokens"
  [ -s "$work/provision.cfg" ] && echo next >>"$work/provision.cfg"
  printf 'url = "%s/devices"\nheader = "%s"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' "$U" "$A" \
    >>"$work/provision.cfg"
  printf 'data-binary = "{\\"id\\":\\"dev%s\\",\\"class\\":\\"sensor\\",\\"attestation_key\\":%s,\\"token\\":\\"fleet-device-token-%s\\"}"\n' \
    "$i" "$ak" "$i" >>"$work/provision.cfg"
done
curl -s -Z --parallel-max 8 -K "$work/provision.cfg" >"$work/codes" 2>"$work/curl.err" || true
[ "$(grep -cx 201 "$work/codes")" -eq "$devices" ] \
  || { echo "bench-fleet: set-up failed: $(sort "$work/codes" | uniq -c | tr '\n' ' ')" >&2; exit 1; }
t_camp=$(date +%s.%N)
post "$U/campaigns" -d '{"name":"fleet","package":1,"failure_threshold":100,"message":"bench"}'
t_made=$(date +%s.%N)
openssl pkey -pubin -in "$K/sign-ecdsa-p256.pub.pem" -outform DER -out "$work/key.der"
echo "== fleet campaign ($backend, $devices devices, $instances instance(s)$([ -n "${fleet_ca[*]}" ] && echo ' behind the TLS proxy'), poll ${poll} s; loopback, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)) =="
awk -v a="$t_prov" -v b="$t_camp" -v c="$t_made" -v n="$devices" \
  'BEGIN { printf "provisioning %d devices: %.1f s (%.0f/s); campaign creation: %.2f s\n", n, b - a, n / (b - a), c - b }'
"$build/bench/bench_fleet" "${fleet_ca[@]}" "$fleet_ports" "$work/tokens" "$work/key.der" "$threads" "$poll" $((poll * 4 + 120)) \
  "$fail_pct" "$drop_pct" 2>"$work/progress"
tr '\r' '\n' <"$work/progress" | grep -v '^$' | tail -n 1 >&2
curl -s -H "$A" "$U/campaigns/1" |
  jq -r '"moltd: campaign " + .state + ", actions " + (.actions | to_entries | map("\(.key) \(.value)") | join(", "))'
case $backend in
  sqlite) q() { sqlite3 "$work/moltd.sqlite" "$1"; } ;;
  *) q() { psql -X -q -tA "$url" -c "$1"; } ;;
esac
echo "moltd: audit update.success $(q "SELECT COUNT(*) FROM audit WHERE what = 'update.success'"), update.failure $(q "SELECT COUNT(*) FROM audit WHERE what = 'update.failure'"), devices at 1.0.0 $(q "SELECT COUNT(*) FROM devices WHERE version = '1.0.0+0'")"
