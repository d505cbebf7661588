#!/usr/bin/env bash
# bench-moltd-enc.sh BUILD_DIR [sqlite|postgresql] - what encrypted packages cost moltd, printed
# as figures (never pass/fail): the upload of a 64 KiB package plain and encrypted (the
# encrypted one is verified decrypted, through an envelope to a throw-away key), then DEVICES
# (default 200) devices fetching their key envelope over PARALLEL (default 4) keep-alive
# connections: the first round seals, stores and audits each envelope (ECDH + HKDF + AES + HMAC,
# one transaction), the second serves the stored bytes. moltd on 127.0.0.1, a fresh database
# (PostgreSQL: a throw-away cluster from scripts/pg-cluster.sh).
set -euo pipefail
build=${1:?usage: scripts/bench-moltd-enc.sh BUILD_DIR [sqlite|postgresql]}; backend=${2:-sqlite}
top=$(cd "$(dirname "$0")/.." && pwd)
devices=${DEVICES:-200}; par=${PARALLEL:-4}
work=$(mktemp -d); pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; fi
  [ "$backend" = postgresql ] && "$top/scripts/pg-cluster.sh" stop "$work/pg" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
case $backend in
  sqlite) url=sqlite:$work/moltd.sqlite; sql() { sqlite3 "$work/moltd.sqlite" "$1"; } ;;
  postgresql) url=$("$top/scripts/pg-cluster.sh" start "$work/pg"); sql() { psql -X -q -tA "$url" -c "$1"; } ;;
  *) echo "bench-moltd-enc: backend is sqlite or postgresql" >&2; exit 2 ;;
esac
molt=$build/bin/molt; K=$top/tests/vectors/imgtool/keys; P=$top/tests/vectors/imgtool/payloads
openssl rand -hex 32 >"$work/kek"
admin=bench-admin-token-0123456789
MOLTD_ADMIN_TOKEN=$admin "$build/bin/moltd" --db "$url" --port 0 --artifact-dir "$work/art" \
  --kek-file "$work/kek" --threads 4 >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q listening "$work/log" && break; sleep 0.05; done
port=$(sed -n 's/^moltd: listening on http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$work/log")
[ -n "$port" ] || { echo "bench-moltd-enc: moltd did not start: $(cat "$work/log")" >&2; exit 1; }
S=http://127.0.0.1:$port; U=$S/api/v1; A="Authorization: Bearer $admin"
post() { curl -sf -o "$work/out" -H "$A" "$@" || { echo "bench-moltd-enc: set-up failed: $*" >&2; exit 1; }; }
ms() { date +%s%3N; }
post "$U/signers" -d "$(jq -n --rawfile pem "$K/sign-ecdsa-p256.pub.pem" '{name:"vendor",pem:$pem}')"
post "$U/classes" -d '{"name":"sensor","signers":["vendor"]}'
"$molt" keygen -t x25519 -k "$work/escrow.pem" >/dev/null; "$molt" getpub -k "$work/escrow.pem" -e pem -o "$work/escrow.pub"
"$molt" sign -k "$K/sign-ecdsa-p256.pem" -v 1.0.0 -s auto -H 0x200 --pad-header -S 0x80000 "$P/payload_C_65536.bin" "$work/plain.bin" >/dev/null
"$molt" sign -k "$K/sign-ecdsa-p256.pem" -v 2.0.0 -s auto -H 0x200 --pad-header -S 0x80000 -E "$work/escrow.pub" \
  --save-content-key "$work/ck" "$P/payload_C_65536.bin" "$work/enc.bin" >/dev/null
echo "== moltd: encrypted packages ($backend; loopback, $(nproc) cores) =="
t0=$(ms); post "$U/packages?class=sensor" --data-binary "@$work/plain.bin"; t1=$(ms)
post "$U/packages?class=sensor" -H "X-Molt-Content-Key: $(xxd -p -c 64 "$work/ck")" --data-binary "@$work/enc.bin"; t2=$(ms)
echo "upload, $(stat -c %s "$work/plain.bin") bytes, verified: plain $((t1 - t0)) ms, encrypted (verified decrypted) $((t2 - t1)) ms"
"$molt" keygen -t x25519 -k "$work/dev.pem" >/dev/null; "$molt" getpub -k "$work/dev.pem" -e pem -o "$work/dev.pub"
ek=$(jq -Rs . <"$work/dev.pub" | sed 's/[\\"]/\\&/g'); ak=$(jq -Rs . <"$K/enc-ecdsa-p256.pub.pem" | sed 's/[\\"]/\\&/g')
for i in $(seq -w 1 "$devices"); do
  [ -s "$work/provision.cfg" ] && echo next >>"$work/provision.cfg"
  printf 'url = "%s/devices"\nheader = "%s"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' "$U" "$A" >>"$work/provision.cfg"
  printf 'data-binary = "{\\"id\\":\\"dev%s\\",\\"class\\":\\"sensor\\",\\"attestation_key\\":%s,\\"encryption_key\\":%s,\\"token\\":\\"bench-device-token-%s\\"}"\n' \
    "$i" "$ak" "$ek" "$i" >>"$work/provision.cfg"
done
curl -s -Z --parallel-max 8 -K "$work/provision.cfg" >"$work/codes" 2>/dev/null || true
[ "$(grep -cx 201 "$work/codes")" -eq "$devices" ] || { echo "bench-moltd-enc: provisioning failed" >&2; exit 1; }
post "$U/campaigns" -d '{"name":"enc","package":2}'
sql "SELECT device_id, id FROM actions ORDER BY device_id" | tr '|' ' ' | while read -r d aid; do
  [ -s "$work/fetch.cfg" ] && echo next >>"$work/fetch.cfg"
  printf 'url = "%s/DEFAULT/controller/v1/%s/molt/keyEnvelope/%s"\nheader = "Authorization: TargetToken bench-device-token-%s"\noutput = "/dev/null"\nwrite-out = "%%{http_code} %%{size_download}\\n"\n' \
    "$S" "$d" "$aid" "${d#dev}" >>"$work/fetch.cfg"
done
for round in "first request (sealed, stored, audited)" "second request (stored bytes)"; do
  t0=$(ms); curl -s -Z --parallel-max "$par" -K "$work/fetch.cfg" >"$work/got" 2>/dev/null || true; t1=$(ms)
  okn=$(grep -c '^200 ' "$work/got" || true); dt=$((t1 - t0 > 0 ? t1 - t0 : 1))
  echo "key envelopes, $round: $okn of $devices answered 200 ($(awk '{print $2}' "$work/got" | sort -u | tr '\n' ' ')bytes) in $dt ms over $par connections: $((okn * 1000 / dt)) envelopes/s"
done
echo "envelopes stored: $(sql 'SELECT COUNT(*) FROM envelopes'), audit records envelope.issued: $(sql "SELECT COUNT(*) FROM audit WHERE what = 'envelope.issued'")"
