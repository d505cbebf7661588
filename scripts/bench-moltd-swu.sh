#!/usr/bin/env bash
# bench-moltd-swu.sh BUILD_DIR - what checking an SWUpdate package costs moltd on upload,
# printed as figures (never pass/fail): .swu archives of 1, 16 and 60 MiB (one random image,
# sw-description signed with a CMS EC P-256 certificate) uploaded to an swu class; the upload
# time includes receiving the body, the cpio parse, the CMS check, the image's SHA-256, the
# archive's SHA-256/SHA-1/MD5 and the commit. For scale: sha256sum over the same file.
# moltd on 127.0.0.1, a fresh SQLite database.
set -euo pipefail
build=$(cd "${1:?usage: scripts/bench-moltd-swu.sh BUILD_DIR}" && pwd)
work=$(mktemp -d); pid=
cleanup() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
admin=bench-admin-token-0123456789
MOLTD_ADMIN_TOKEN=$admin "$build/bin/moltd" --db sqlite:moltd.sqlite --port 0 --artifact-dir art \
  --max-package $((128 << 20)) >log 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q listening log && break; sleep 0.05; done
port=$(sed -n 's/^moltd: listening on http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' log)
[ -n "$port" ] || { echo "bench-moltd-swu: moltd did not start: $(cat log)" >&2; exit 1; }
U=http://127.0.0.1:$port/api/v1; A="Authorization: Bearer $admin"
post() { curl -sf -o out -H "$A" "$@" || { echo "bench-moltd-swu: failed: $* $(cat out 2>/dev/null)" >&2; exit 1; }; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout s.key -out s.crt -subj /CN=bench -days 2 2>/dev/null
post "$U/signers" -d "$(jq -n --rawfile pem s.crt '{name:"vendor",pem:$pem}')"
post "$U/classes" -d '{"name":"gw","signers":["vendor"],"kind":"swu"}'
ms() { date +%s%3N; }
echo "== moltd: swu packages checked on upload (SQLite; loopback, $(nproc) cores) =="
printf '%-10s %12s %10s %10s %16s\n' package bytes upload_ms MiB/s sha256sum_ms
v=0
for mib in 1 16 60; do
  v=$((v + 1)); d=p$mib; mkdir -p $d
  head -c $((mib << 20)) /dev/urandom > $d/image.bin
  h=$(sha256sum < $d/image.bin | cut -d' ' -f1)
  printf 'software = { version = "%s.0.0"; images: ( { filename = "image.bin"; type = "raw"; device = "/dev/null"; sha256 = "%s"; } ); }\n' $v "$h" > $d/sw-description
  (cd $d && openssl cms -sign -in sw-description -out sw-description.sig -signer ../s.crt -inkey ../s.key -outform DER -nosmimecap -binary \
     && printf 'sw-description\nsw-description.sig\nimage.bin\n' | cpio -o -H crc --quiet > ../$d.swu)
  t0=$(ms); sha256sum $d.swu >/dev/null; t1=$(ms)
  post "$U/packages?class=gw&filename=$d.swu" --data-binary "@$d.swu"; t2=$(ms)
  size=$(stat -c %s $d.swu)
  printf '%-10s %12s %10s %10s %16s\n' "$d.swu" "$size" "$((t2 - t1))" "$(awk -v s="$size" -v t="$((t2 - t1))" 'BEGIN { printf "%.0f", t ? s / 1048576 / (t / 1000) : 0 }')" "$((t1 - t0))"
done
