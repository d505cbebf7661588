#!/usr/bin/env bash
# moltd.sh - the deployer service on 127.0.0.1 with a temporary SQLite database:
# management flows, error cases with exact status codes and no state change, a
# hawkBit DDI round trip with curl (poll, deploymentBase, Range download resumed
# from the middle, feedback), staged rollout with a failure threshold, cancel,
# campaign filters by device id and by the attributes devices report (configData),
# a scheduled start (nothing before start_at, the action after it), viewer tokens refused
# on pause/resume/cancel, kill -9 during 50 parallel provisionings (every 201 kept, device
# rows = audit records), a schema-1 database (tests/moltd_schema1.sql) upgraded in place,
# kill -9 mid-campaign then restart with nothing committed lost, and the CDN redirect.
# R-DEPLOY-VERSION (version and security counter strictly increase per class),
# R-NOTIFY (the campaign's message is served before the update and recorded),
# R-ONEPKG (one content-addressed package serves every device of its class).
# With MOLTD_TEST_DB=postgresql://... (tests/moltd_pg.sh) the same test runs on PostgreSQL.
set -uo pipefail
: "${MOLT:?}" "${MOLTD:?}" "${VECTORS:?}"
work=$(mktemp -d)
pid=
cleanup() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi; rm -rf "$work"; }
trap cleanup EXIT
pass=0; fail=0
curl() { command curl --max-time 30 "$@"; }   # a hung moltd fails the test instead of hanging it
ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }
eq() { [ "$1" == "$2" ] && ok || bad "$3: got '$1', expected '$2'"; }

K=$VECTORS/keys; PL=$VECTORS/payloads
ADMIN=admin-token-0123456789abcdef
printf '%s\n' "$ADMIN" > "$work/admin.token"
DB=$work/moltd.sqlite; ART=$work/artifacts
DBURL=${MOLTD_TEST_DB:-sqlite:$DB}
case $DBURL in
  postgresql://*) backend=postgresql; sql() { psql -X -q -tA "$DBURL" -c "$1"; } ;;
  *)              backend=sqlite;     sql() { sqlite3 "$DB" "$1"; } ;;
esac

start() {  # start [extra options]: moltd on an ephemeral port; sets pid, port, U, D
  : > "$work/log"
  "$MOLTD" --db "$DBURL" --port 0 --artifact-dir "$ART" --admin-token-file "$work/admin.token" \
           --poll-sleep 30 --max-json 8192 --max-package 262144 "$@" >"$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q listening "$work/log" && break; sleep 0.05; done
  port=$(sed -n 's/^moltd: listening on http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$work/log")
  [ -n "$port" ] || { echo "moltd did not start: $(cat "$work/log")"; exit 1; }
  U=http://127.0.0.1:$port/api/v1
  D=http://127.0.0.1:$port/DEFAULT/controller/v1
}

# call CODE METHOD URL AUTH [curl args...]: exact status; the body is in $work/body.
call() {
  local want=$1 m=$2 url=$3 auth=$4; shift 4
  local got; got=$(curl -s -o "$work/body" -w '%{http_code}' -X "$m" ${auth:+-H "Authorization: $auth"} "$@" "$url")
  [ "$got" == "$want" ] && ok || bad "$m $url -> $got, expected $want ($(head -c 200 "$work/body"))"
}
A="Bearer $ADMIN"
js() { jq -r "$1" "$work/body"; }
audit_count() { curl -s -H "Authorization: $A" "$U/audit" | jq length; }

# --- options: one-line errors, exit 2
"$MOLTD" --db "sqlite:$DB" --port 0 --artifact-dir "$ART" >/dev/null 2>"$work/err"; eq "$?" 2 "no admin token exit"
grep -qx "moltd: a bootstrap admin token of at least 16 characters is required (--admin-token-file FILE or MOLTD_ADMIN_TOKEN)" "$work/err" && ok || bad "no token msg: $(cat "$work/err")"
MOLTD_ADMIN_TOKEN=$ADMIN "$MOLTD" --db postgresql://molt@127.0.0.1:1/molt --port 0 --artifact-dir "$ART" >/dev/null 2>"$work/err"; eq "$?" 2 "postgresql down exit"
grep -q '^moltd: postgresql: connection to server at "127.0.0.1", port 1 failed' "$work/err" && [ "$(wc -l < "$work/err")" -eq 1 ] && ok || bad "pg msg: $(cat "$work/err")"
MOLTD_ADMIN_TOKEN=$ADMIN "$MOLTD" --db mysql://x --port 0 --artifact-dir "$ART" >/dev/null 2>"$work/err"; eq "$?" 2 "unknown scheme exit"
grep -qx "moltd: mysql://x: unknown database scheme (want sqlite:PATH or postgresql://...)" "$work/err" && ok || bad "scheme msg: $(cat "$work/err")"
MOLTD_ADMIN_TOKEN=$ADMIN "$MOLTD" --port 70000 --artifact-dir "$ART" >/dev/null 2>"$work/err"; eq "$?" 2 "bad port exit"
grep -qx "moltd: 70000: bad value for --port" "$work/err" && ok || bad "port msg: $(cat "$work/err")"

start
grep -q "($backend database, schema 6)" "$work/log" && ok || bad "start line: $(cat "$work/log")"
[ $backend = sqlite ] && eq "$(sql 'PRAGMA journal_mode')" wal "WAL mode"
eq "$(sql 'SELECT version FROM schema_version')" 6 "schema_version"

# --- authentication and roles
call 401 GET "$U/devices" ""
call 401 GET "$U/devices" "Bearer not-a-token"
call 401 GET "$U/devices" "Basic $ADMIN"
call 201 POST "$U/tokens" "$A" -d '{"name":"ops","role":"operator"}'; OPS="Bearer $(js .token)"
call 201 POST "$U/tokens" "$A" -d '{"name":"watch","role":"viewer"}'; VIEW="Bearer $(js .token)"
call 201 POST "$U/tokens" "$A" -d '{"name":"gw","role":"gateway"}'; GW=$(js .token)
call 409 POST "$U/tokens" "$A" -d '{"name":"ops","role":"viewer"}'
call 400 POST "$U/tokens" "$A" -d '{"name":"x","role":"root"}'
call 403 POST "$U/tokens" "$OPS" -d '{"name":"y","role":"admin"}'
call 401 GET "$U/devices" "Bearer $GW"          # a gateway token is for devices only
n0=$(audit_count); eq "$n0" 3 "audit after tokens"

# --- signer keys and device classes (admin)
pem() { jq -n --arg name "$1" --rawfile pem "$2" '{name:$name,pem:$pem}'; }
call 403 POST "$U/signers" "$OPS" -d "$(pem vendor "$K/sign-ecdsa-p256.pub.pem")"
call 201 POST "$U/signers" "$A" -d "$(pem vendor "$K/sign-ecdsa-p256.pub.pem")"; eq "$(js .type)" ecdsa-p256 "signer type"
call 201 POST "$U/signers" "$A" -d "$(pem backup "$K/sign-ed25519.pub.pem")"; eq "$(js .type)" ed25519 "signer type 2"
call 409 POST "$U/signers" "$A" -d "$(pem vendor "$K/sign-ed25519.pub.pem")"
call 400 POST "$U/signers" "$A" -d '{"name":"junk","pem":"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}'
call 400 POST "$U/signers" "$A" -d "$(pem enc "$K/enc-x25519.pub.pem")"      # x25519 cannot sign
call 400 POST "$U/signers" "$A" -d '{"name":"x", "pem": '                     # malformed JSON
call 400 POST "$U/signers" "$A" -d '["not","an","object"]'
call 413 POST "$U/signers" "$A" -d "{\"name\":\"big\",\"pem\":\"$(head -c 9000 /dev/zero | tr '\0' A)\"}"
call 201 POST "$U/classes" "$A" -d '{"name":"sensor","signers":["vendor","backup"]}'
call 201 POST "$U/classes" "$A" -d '{"name":"gateway-box","signers":["backup"]}'
call 400 POST "$U/classes" "$A" -d '{"name":"other","signers":["nobody"]}'
call 409 POST "$U/classes" "$A" -d '{"name":"sensor","signers":["vendor"]}'
call 200 GET "$U/classes" "$VIEW"; eq "$(js 'map(.class + ":" + .signer) | join(",")')" "gateway-box:backup,sensor:backup,sensor:vendor" "classes"
eq "$(audit_count)" 7 "audit: only successful changes recorded"
eq "$(sql 'SELECT COUNT(*) FROM device_classes')" 2 "no half-made class"

# --- packages: verified on upload with the class's signers (lib/ molt_verify)
sign() { "$MOLT" sign -k "$K/$1" -v "$2" -s "$3" -H 0x200 --pad-header -S 0x80000 "$4" "$work/$5" >/dev/null || bad "sign $5"; }
sign sign-ecdsa-p256.pem 1.0.0+1 auto "$PL/payload_C_65536.bin" v1.bin
sign sign-ecdsa-p256.pem 0.9.0 auto "$PL/payload_A_1000.bin" v09.bin
sign sign-ecdsa-p256.pem 1.0.0+1 auto "$PL/payload_A_1000.bin" v1b.bin
sign sign-ecdsa-p256.pem 1.1.0 16777217 "$PL/payload_A_1000.bin" v11_lowcnt.bin   # counter of 1.0.0+1 plus 1 ...
sign sign-ed25519.pem 2.0.0 auto "$PL/payload_B_4113.bin" v2.bin                 # the second signer of the class
sign untrusted-ecdsa-p256.pem 3.0.0 auto "$PL/payload_A_1000.bin" rogue.bin
cp "$work/v1.bin" "$work/tampered.bin"; printf 'X' | dd of="$work/tampered.bin" bs=1 seek=4096 conv=notrunc 2>/dev/null
head -c 300000 /dev/urandom > "$work/huge.bin"
up() { call "$1" POST "$U/packages?class=$2" "$3" --data-binary "@$work/$4" -H 'Content-Type: application/octet-stream'; }
up 403 sensor "$VIEW" v1.bin
up 201 sensor "$OPS" v1.bin
eq "$(js .sha256)" "$(sha256sum < "$work/v1.bin" | cut -d' ' -f1)" "package sha256"
eq "$(js .sha1)" "$(sha1sum < "$work/v1.bin" | cut -d' ' -f1)" "package sha1"
eq "$(js .md5)" "$(md5sum < "$work/v1.bin" | cut -d' ' -f1)" "package md5"
eq "$(js '.version + " " + (.security_counter|tostring) + " " + .signer + " " + .filename')" \
   "1.0.0+1 16777216 vendor sensor-1.0.0_1.bin" "package facts"
SHA1=$(js .sha256); SIZE1=$(stat -c %s "$work/v1.bin")
cmp -s "$ART/$SHA1" "$work/v1.bin" && ok || bad "stored content-addressed"
up 200 sensor "$OPS" v1.bin; eq "$(js .id)" 1 "same bytes: the same package (stored once)"
up 422 gateway-box "$OPS" v1.bin; eq "$(js .reason)" KEY_UNTRUSTED "verified with the class's own signers"
up 201 gateway-box "$OPS" v2.bin; eq "$(js '(.id|tostring) + " " + .signer')" "2 backup" "second class, second signer"
up 409 sensor "$OPS" v2.bin; eq "$(js .error)" "these bytes are already package 2 of class gateway-box" "same bytes, other class"
up 422 sensor "$OPS" rogue.bin; eq "$(js .reason)" KEY_UNTRUSTED "rogue reason"
up 422 sensor "$OPS" tampered.bin; eq "$(js .reason)" HASH_MISMATCH "tampered reason"
up 409 sensor "$OPS" v09.bin; eq "$(js .error)" "version is not above the latest of this class" "R-DEPLOY-VERSION older"
up 409 sensor "$OPS" v1b.bin; eq "$(js .detail)" "1.0.0+1" "R-DEPLOY-VERSION equal"
up 201 sensor "$OPS" v11_lowcnt.bin; eq "$(js .security_counter)" 16777217 "counter +1 accepted"
sign sign-ecdsa-p256.pem 1.2.0 16777217 "$PL/payload_B_4113.bin" v12_samecnt.bin
up 409 sensor "$OPS" v12_samecnt.bin; eq "$(js .error)" "security counter is not above the latest of this class" "R-DEPLOY-VERSION counter"
up 400 nosuch "$OPS" v2.bin
up 413 sensor "$OPS" huge.bin
call 413 POST "$U/packages?class=sensor" "$OPS" --data-binary "@$work/huge.bin" -H 'Transfer-Encoding: chunked'  # no length: counted while read
call 401 POST "$U/packages?class=sensor" "" --data-binary "@$work/huge.bin"    # refused before the body is read
call 400 POST "$U/packages?class=sensor" "$OPS" --data-binary ''
eq "$(ls -A "$ART" | grep -c '^\.upload')" 0 "no upload left behind"
eq "$(ls "$ART" | wc -l)" 3 "three packages stored"
np=$(audit_count)

# --- devices (operator): the token is returned once, kept hashed
dev() { jq -n --arg id "$1" --arg c "$2" --rawfile ak "$K/enc-ecdsa-p256.pub.pem" --rawfile ek "$K/enc-x25519.pub.pem" \
          '{id:$id,class:$c,attestation_key:$ak,encryption_key:$ek}'; }
declare -A TOK
for d in dev1 dev2 dev3 dev4 dev5; do
  call 201 POST "$U/devices" "$OPS" -d "$(dev $d sensor)"; TOK[$d]=$(js .token)
  [[ ${TOK[$d]} =~ ^[A-Za-z0-9]{32}$ ]] && ok || bad "token format ${TOK[$d]}"
done
call 201 POST "$U/devices" "$OPS" -d "$(dev box1 gateway-box)"; TOK[box1]=$(js .token)
call 409 POST "$U/devices" "$OPS" -d "$(dev dev1 sensor)"
call 400 POST "$U/devices" "$OPS" -d "$(dev dev9 nosuch)"
call 400 POST "$U/devices" "$OPS" -d '{"id":"dev9","class":"sensor","attestation_key":"nope"}'
call 400 POST "$U/devices" "$OPS" -d '{"id":"../etc","class":"sensor","attestation_key":"nope"}'
call 403 POST "$U/devices" "$VIEW" -d "$(dev dev9 sensor)"
{ sql "SELECT * FROM devices"; sql "SELECT * FROM api_tokens"; } > "$work/dump"
[ -s "$work/dump" ] && ! grep -q "${TOK[dev1]}" "$work/dump" && ! grep -q "${OPS#Bearer }" "$work/dump" && ok || bad "a token is stored in clear"
eq "$(sql 'SELECT COUNT(*) FROM devices')" 6 "devices"

# --- the device API: authentication
T() { echo "TargetToken ${TOK[$1]}"; }
call 401 GET "$D/dev1" ""
call 401 GET "$D/dev1" "TargetToken ${TOK[dev2]}"       # another device's token
call 401 GET "$D/nosuch" "TargetToken ${TOK[dev1]}"     # unknown device: same answer as a wrong token
call 401 GET "$D/dev1" "GatewayToken ${TOK[dev1]}"
call 404 GET "http://127.0.0.1:$port/OTHER/controller/v1/dev1" "$(T dev1)"
call 404 GET "$D/nosuch" "GatewayToken $GW"
call 200 GET "$D/dev1" "GatewayToken $GW"
call 200 GET "$D/dev1" "$(T dev1)"
eq "$(js .config.polling.sleep)" "00:00:30" "poll sleep"
eq "$(js '._links | keys | join(",")')" "configData" "first contact: configData only"
call 200 PUT "$D/dev1/configData" "$(T dev1)" -d '{"id":"","time":"20260101T000000","status":{"execution":"closed","result":{"finished":"success"}},"data":{"hw":"rev-b","serial":"0001"}}'
call 400 PUT "$D/dev1/configData" "$(T dev1)" -d '{"data":{"n":1}}'
call 400 PUT "$D/dev1/configData" "$(T dev1)" -d '{"mode":"bogus","data":{}}'
call 200 GET "$D/dev1" "$(T dev1)"; eq "$(js '._links | length')" 0 "no links after configData"
call 200 GET "$U/devices/dev1" "$VIEW"; eq "$(jq -c .attributes "$work/body")" '{"hw":"rev-b","serial":"0001"}' "attributes"
call 404 GET "$D/dev1/molt/keyEnvelope/1" "$(T dev1)"; eq "$(js .error)" "no action 1 for dev1" "no envelope without an action"  # tests/moltd_enc.sh
call 404 GET "$D/dev1/installedBase/1" "$(T dev1)"; eq "$(js .error)" "no action 1 for dev1" "installedBase before any action"
call 404 PUT "$D/dev1/installedBase" "$(T dev1)" -d '{"name":"x","version":"1"}'; eq "$(js .error)" "no package x 1 for dev1" "installedBase: unknown package"
call 200 GET "$D/dev1/confirmationBase" "$(T dev1)"; eq "$(jq -c . "$work/body")" '{"autoConfirm":{"active":false},"_links":{}}' "confirmationBase: nothing waits"
call 404 GET "$D/dev1/nosuch" "$(T dev1)"
call 405 POST "$D/dev1" "$(T dev1)" -d '{}'

# --- a staged campaign: 4 sensors (dev5 excluded by the filter), steps 25 % then 100 %,
# pause when more than 20 % of the released devices failed. R-NOTIFY: the message.
MSG="Maintenance tonight: sensors restart once"
camp() { jq -n --arg m "$MSG" --argjson p "$1" --argjson ids "$2" --argjson steps "$3" --argjson t "$4" \
           '{name:"rollout",package:$p,message:$m,filter:{ids:$ids},steps:$steps,failure_threshold:$t}'; }
call 400 POST "$U/campaigns" "$OPS" -d "$(camp 1 '["dev1"]' '[50,40,100]' 20)"
call 400 POST "$U/campaigns" "$OPS" -d "$(camp 1 '["dev1"]' '[50]' 20)"
call 400 POST "$U/campaigns" "$OPS" -d "$(camp 99 '["dev1"]' '[100]' 20)"
call 409 POST "$U/campaigns" "$OPS" -d "$(camp 1 '["box1"]' '[100]' 20)"   # box1 is not a sensor
call 403 POST "$U/campaigns" "$VIEW" -d "$(camp 1 '["dev1"]' '[100]' 20)"
call 201 POST "$U/campaigns" "$OPS" -d "$(camp 1 '["dev1","dev2","dev3","dev4"]' '[25,100]' 20)"
eq "$(js '.id, .targets' | paste -sd' ')" "1 4" "campaign created"
call 200 GET "$D/dev1" "$(T dev1)"; DB1=$(js ._links.deploymentBase.href)
[[ $DB1 == "$D/dev1/deploymentBase/1?c="* ]] && ok || bad "deploymentBase link $DB1"
call 200 GET "$D/dev2" "$(T dev2)"; eq "$(js '._links.deploymentBase // "none"')" none "dev2 waits for step 2"
call 200 GET "$D/dev5" "$(T dev5)"; eq "$(js '._links.deploymentBase // "none"')" none "dev5 not targeted"
call 404 GET "$D/dev2/deploymentBase/1" "$(T dev2)"        # dev1's action
call 200 GET "$DB1" "$(T dev1)"
eq "$(js '.id + " " + .deployment.update + " " + .deployment.chunks[0].version')" "1 forced 1.0.0+1" "deployment"
eq "$(js '.deployment.chunks[0].metadata[] | select(.key == "molt.message") | .value')" "$MSG" "R-NOTIFY message"
eq "$(js '.deployment.chunks[0].artifacts[0] | .hashes.sha256 + " " + (.size|tostring)')" "$SHA1 $SIZE1" "artifact hash and size"
eq "$(js '.deployment.chunks[0].artifacts[0].hashes.sha1')" "$(sha1sum < "$work/v1.bin" | cut -d' ' -f1)" "artifact sha1"
DL=$(js '.deployment.chunks[0].artifacts[0]._links["download-http"].href')
eq "$DL" "$D/dev1/softwaremodules/1/artifacts/sensor-1.0.0_1.bin" "download link"
eq "$(curl -s -H "Authorization: $A" "$U/audit?after=$np" | jq -r 'map(select(.what == "notify.served")) | .[0] | .object + "|" + .detail')" "dev1|$MSG" "R-NOTIFY recorded"

# Download: a cut connection at 20000 bytes, resumed with Range from the middle.
curl -s -o "$work/dl" -D "$work/h1" -w '%{http_code}' -H "Authorization: $(T dev1)" -r 0-19999 "$DL" > "$work/code"; eq "$(cat "$work/code")" 206 "first range"
eq "$(stat -c %s "$work/dl")" 20000 "first part size"
grep -qi "^content-range: bytes 0-19999/$SIZE1" "$work/h1" && ok || bad "content-range 1"
grep -qi "^etag: \"$SHA1\"" "$work/h1" && ok || bad "etag"
curl -s -D "$work/h2" -w '%{http_code}' -H "Authorization: $(T dev1)" -H "If-Range: \"$SHA1\"" -r 20000- "$DL" >> "$work/dl" 2>/dev/null
code2=$(tail -c 3 "$work/dl"); head -c -3 "$work/dl" > "$work/dl2"; eq "$code2" 206 "resume"
grep -qi "^content-range: bytes 20000-$((SIZE1 - 1))/$SIZE1" "$work/h2" && ok || bad "content-range 2"
eq "$(sha256sum < "$work/dl2" | cut -d' ' -f1)" "$SHA1" "resumed download sha256"
curl -s -o "$work/x" -w '%{http_code}' -H "Authorization: $(T dev1)" -H 'If-Range: "stale"' -r 100- "$DL" > "$work/code"
eq "$(cat "$work/code") $(stat -c %s "$work/x")" "200 $SIZE1" "If-Range mismatch: whole file"
rm -f "$work/x"; touch "$work/x"; curl -s -o "$work/x" -w '%{http_code}' -H "Authorization: $(T dev1)" -H "If-None-Match: \"$SHA1\"" "$DL" > "$work/code"
eq "$(cat "$work/code") $(stat -c %s "$work/x")" "304 0" "If-None-Match"
curl -s -o "$work/x" -D "$work/h3" -w '%{http_code}' -H "Authorization: $(T dev1)" -r "$SIZE1-" "$DL" > "$work/code"
eq "$(cat "$work/code")" 416 "range past the end"
grep -qi "^content-range: bytes \*/$SIZE1" "$work/h3" && ok || bad "416 content-range"
curl -s -o "$work/x" -w '%{http_code}' -H "Authorization: $(T dev1)" -r -100 "$DL" > "$work/code"
eq "$(cat "$work/code") $(cmp -s "$work/x" <(tail -c 100 "$work/v1.bin") && echo same)" "206 same" "suffix range"
call 200 GET "$DL.MD5SUM" "$(T dev1)"; eq "$(cat "$work/body")" "$(md5sum < "$work/v1.bin" | cut -d' ' -f1)  sensor-1.0.0_1.bin" "MD5SUM"
call 401 GET "$DL" ""
call 404 GET "$D/box1/softwaremodules/1/artifacts/sensor-1.0.0_1.bin" "$(T box1)"   # not its class
call 404 GET "$D/dev1/softwaremodules/1/artifacts/other.bin" "$(T dev1)"

# Feedback: bad bodies change nothing; then the suricatta sequence (legacy id and time).
na=$(audit_count)
FB=$D/dev1/deploymentBase/1/feedback
call 400 POST "$FB" "$(T dev1)" -d '{"status":{"execution":"closed"'
call 400 POST "$FB" "$(T dev1)" -d '{"status":{"execution":"exploded","result":{"finished":"success"}}}'
call 400 POST "$FB" "$(T dev1)" -d '{"status":{"execution":"closed","result":{"finished":"maybe"}}}'
call 400 POST "$FB" "$(T dev1)" -d '{"id":1,"status":"closed"}'   # (a legacy id is ignored, as hawkBit does: tests/moltd_swu.sh)
call 401 POST "$FB" "$(T dev2)" -d '{"status":{"execution":"closed","result":{"finished":"success"}}}'
call 404 POST "$D/dev2/deploymentBase/1/feedback" "$(T dev2)" -d '{"status":{"execution":"closed","result":{"finished":"success"}}}'
eq "$(audit_count)" "$na" "refused feedback leaves no record"
eq "$(sql 'SELECT state FROM actions WHERE id = 1')" assigned "refused feedback leaves the action"
legacy() { jq -n --argjson id "$1" --arg e "$2" --arg f "$3" --arg d "$4" \
  '{id:$id,time:"20261122T080000",status:{result:{finished:$f},execution:$e,details:[$d]}}'; }
call 200 POST "$FB" "$(T dev1)" -d "$(legacy 1 proceeding none 'Installing Update Chunk Artifacts.')"
eq "$(sql 'SELECT state FROM actions WHERE id = 1')" running "proceeding"
call 200 POST "$FB" "$(T dev1)" -d "$(legacy 1 closed success 'Update Installed.')"
call 410 POST "$FB" "$(T dev1)" -d "$(legacy 1 closed success 'again')"
call 200 GET "$U/devices/dev1" "$VIEW"
eq "$(js '.version + " " + .action.state')" "1.0.0+1 success" "dev1 after the update"
eq "$(curl -s -H "Authorization: $A" "$U/audit?after=$na" | jq -r 'map(select(.what == "update.success"))[0] | .actor + " " + .object + " " + (.version_before // "none") + " " + .version_after + " " + .detail')" \
   "device:dev1 dev1 none 1.0.0+1 Update Installed." "audit: who, what, before, after"
call 200 GET "$U/campaigns/1" "$VIEW"; eq "$(js '.state + " " + (.step|tostring)')" "running 1" "step 2 released after step 1"
call 200 GET "$D/dev1" "$(T dev1)"; eq "$(js '._links | keys | join(",")')" "configData,installedBase" "configData asked after an update"
# hawkBit's installedBase: the deployment the device installed, in deploymentBase's shape
eq "$(js ._links.installedBase.href)" "$D/dev1/installedBase/1" "installedBase link"
call 200 GET "$D/dev1/deploymentBase/1" "$(T dev1)"; jq -S . "$work/body" > "$work/dep1"
call 200 GET "$D/dev1/installedBase/1" "$(T dev1)"
jq -S . "$work/body" | cmp -s - "$work/dep1" && ok || bad "installedBase differs from deploymentBase: $(head -c 300 "$work/body")"
eq "$(js '.id + " " + .deployment.chunks[0].version + " " + .deployment.chunks[0].artifacts[0].hashes.sha256')" "1 1.0.0+1 $SHA1" "installedBase body"
call 404 GET "$D/dev2/installedBase/1" "$(T dev2)"
call 405 POST "$D/dev1/installedBase/1" "$(T dev1)" -d '{}'
# the artifact list of a software module (the package), for devices of its class only
call 200 GET "$D/dev1/softwaremodules/1/artifacts" "$(T dev1)"
eq "$(js 'map("\(.filename) \(.size) \(.hashes.sha256) \(._links.download.href)") | join(",")')" \
   "sensor-1.0.0_1.bin $SIZE1 $SHA1 $D/dev1/softwaremodules/1/artifacts/sensor-1.0.0_1.bin" "artifact list"
call 404 GET "$D/dev1/softwaremodules/2/artifacts" "$(T dev1)"     # gateway-box's package
call 405 POST "$D/dev1/softwaremodules/1/artifacts" "$(T dev1)" -d '{}'

# Step 2: dev2 succeeds (current fields), dev3 fails -> 1 of 4 > 20 %: paused.
cur() { jq -n --arg e "$1" --arg f "$2" '{timestamp:1795334400000,status:{execution:$e,result:{finished:$f,progress:{cnt:1,of:1}},code:200,details:["x"]}}'; }
for d in dev2 dev3; do call 200 GET "$D/$d" "$(T $d)"; call 200 GET "$(js ._links.deploymentBase.href)" "$(T $d)"; done
A2=$(sql "SELECT id FROM actions WHERE device_id = 'dev2'"); A3=$(sql "SELECT id FROM actions WHERE device_id = 'dev3'")
call 200 POST "$D/dev2/deploymentBase/$A2/feedback" "$(T dev2)" -d "$(cur closed success)"
call 200 POST "$D/dev3/deploymentBase/$A3/feedback" "$(T dev3)" -d "$(cur closed failure)"
call 200 GET "$U/campaigns/1" "$VIEW"
eq "$(js '.state + " | " + .state_reason')" "paused | failure threshold 20% exceeded: 1 of 4 failed" "paused by threshold"
eq "$(js '.actions | to_entries | map("\(.key)=\(.value)") | join(",")')" "assigned=1,failure=1,success=2" "action counts"
call 200 GET "$D/dev4" "$(T dev4)"; eq "$(js '._links.deploymentBase // "none"')" none "paused: dev4 not started"
call 409 POST "$U/campaigns/1/pause" "$OPS"
call 200 POST "$U/campaigns/1/resume" "$OPS"; eq "$(js .state)" running "resumed"
call 200 GET "$D/dev4" "$(T dev4)"; A4=$(sql "SELECT id FROM actions WHERE device_id = 'dev4'")
eq "$(js ._links.deploymentBase.href | sed 's/?.*//')" "$D/dev4/deploymentBase/$A4" "dev4 offered after resume"
call 200 GET "$(js ._links.deploymentBase.href)" "$(T dev4)"
call 200 POST "$D/dev4/deploymentBase/$A4/feedback" "$(T dev4)" -d "$(cur downloaded none)"

# --- kill -9 mid-campaign: everything committed survives the restart
before_audit=$(curl -s -H "Authorization: $A" "$U/audit" | sha256sum)
before_devs=$(curl -s -H "Authorization: $A" "$U/devices" | jq -c 'map(del(.last_seen))' | sha256sum)
kill -9 "$pid"; wait "$pid" 2>/dev/null; pid=
start
eq "$(curl -s -H "Authorization: $A" "$U/audit" | sha256sum)" "$before_audit" "audit after kill -9"
eq "$(curl -s -H "Authorization: $A" "$U/devices" | jq -c 'map(del(.last_seen))' | sha256sum)" "$before_devs" "devices after kill -9"
eq "$(sql "SELECT state FROM actions WHERE id = $A4")" downloaded "dev4's action after kill -9"
call 200 POST "$D/dev4/deploymentBase/$A4/feedback" "$(T dev4)" -d "$(cur closed success)"
call 200 GET "$U/campaigns/1" "$VIEW"; eq "$(js .state)" finished "campaign finished"
call 200 GET "$U/devices" "$VIEW"
eq "$(js 'map(.id + "=" + (.version // "none")) | join(",")')" "box1=none,dev1=1.0.0+1,dev2=1.0.0+1,dev3=none,dev4=1.0.0+1,dev5=none" "fleet versions"
call 409 POST "$U/campaigns/1/resume" "$OPS"

# --- R-ONEPKG and cancel: one package for the whole class; a started device is asked to stop.
call 201 POST "$U/campaigns" "$OPS" -d '{"name":"v1.1","package":3,"failure_threshold":100}'
eq "$(js .targets)" 5 "every sensor targeted"
eq "$(sql 'SELECT COUNT(DISTINCT c.package_id) FROM actions a JOIN campaigns c ON c.id = a.campaign_id WHERE c.id = 2')" 1 "one package"
call 200 GET "$D/dev1" "$(T dev1)"; B1=$(sql "SELECT id FROM actions WHERE device_id = 'dev1' AND campaign_id = 2")
call 200 GET "$(js ._links.deploymentBase.href)" "$(T dev1)"; eq "$(js .deployment.chunks[0].version)" 1.1.0+0 "campaign 2 serves 1.1.0"
call 200 POST "$D/dev1/deploymentBase/$B1/feedback" "$(T dev1)" -d "$(cur proceeding none)"
call 404 GET "$D/dev1/cancelAction/$B1" "$(T dev1)"
call 200 POST "$U/campaigns/2/cancel" "$OPS"; eq "$(js .state)" cancelled "cancelled"
call 409 POST "$U/campaigns/2/cancel" "$OPS"
call 200 GET "$D/dev1" "$(T dev1)"; eq "$(js ._links.cancelAction.href)" "$D/dev1/cancelAction/$B1" "cancelAction link"
call 200 GET "$D/dev1/cancelAction/$B1" "$(T dev1)"; eq "$(jq -c . "$work/body")" "{\"id\":\"$B1\",\"cancelAction\":{\"stopId\":\"$B1\"}}" "cancelAction body"
call 200 GET "$D/dev2" "$(T dev2)"; eq "$(js '._links | keys | join(",")')" configData,installedBase "unstarted device: no deployment (its last install linked)"
call 200 POST "$D/dev1/cancelAction/$B1/feedback" "$(T dev1)" -d '{"id":"'$B1'","status":{"execution":"closed","result":{"finished":"success"}}}'
call 410 POST "$D/dev1/cancelAction/$B1/feedback" "$(T dev1)" -d '{"status":{"execution":"closed","result":{"finished":"success"}}}'
call 200 GET "$U/campaigns/2" "$VIEW"; eq "$(js '.actions | to_entries | map("\(.key)=\(.value)") | join(",")')" "cancelled=5" "all cancelled"

# --- the audit log is append-only, in the database itself
sql "UPDATE audit SET actor = 'x' WHERE id = 1" 2>"$work/err"; [ $? -ne 0 ] && grep -q append-only "$work/err" && ok || bad "audit update refused"
sql "DELETE FROM audit" 2>"$work/err"; [ $? -ne 0 ] && grep -q append-only "$work/err" && ok || bad "audit delete refused"
call 200 GET "$U/audit" "$VIEW"
eq "$(js 'map(.what) | group_by(.) | map("\(.[0])=\(length)") | join(",")')" \
   "campaign.cancel=1,campaign.create=2,campaign.finish=1,campaign.pause=1,campaign.resume=1,campaign.step=1,class.create=2,device.attributes=1,device.provision=6,notify.served=5,package.upload=3,signer.create=2,token.create=3,update.cancelled=1,update.downloaded=1,update.failure=1,update.running=2,update.success=3" "audit summary"

# --- a scheduled campaign offers nothing before its start; many devices poll at once
call 201 POST "$U/campaigns" "$OPS" -d "{\"name\":\"later\",\"package\":3,\"start_at\":$(( $(date +%s) * 1000 + 3600000 ))}"
eq "$(js .targets)" 5 "scheduled campaign targets"
polls=()
for d in dev1 dev2 dev3 dev4 dev5; do
  for i in 1 2 3 4; do curl -s -o /dev/null -w '%{http_code}\n' -H "Authorization: $(T $d)" "$D/$d" >> "$work/codes" & polls+=($!); done
done
wait "${polls[@]}"   # not moltd
eq "$(sort "$work/codes" | uniq -c | awk '{print $1 "x" $2}')" "20x200" "20 concurrent polls"
call 200 GET "$D/dev2" "$(T dev2)"; eq "$(js '._links.deploymentBase // "none"')" none "not before start_at"
call 200 POST "$U/campaigns/3/cancel" "$OPS"

# ==== fleet-extras: campaign filter by device attributes (begin) ====
# Devices report attributes with DDI PUT configData; filter.attributes targets exactly the
# devices of the class holding every key with that value, ANDed with filter.ids. Refused
# filters: 400 naming the field, no campaign, no action, no audit record.
cfg() { call 200 PUT "$D/$1/configData" "$(T "$1")" -d "{\"mode\":\"replace\",\"data\":$2}"; }
cfg dev2 '{"hw":"rev-b","site":"north"}'
cfg dev3 '{"hw":"rev-a","site":"north"}'
cfg dev4 '{"hw":"rev-b","site":"south"}'
call 200 GET "$U/devices" "$VIEW"   # dev1 still has {"hw":"rev-b","serial":"0001"}; dev5 reported nothing
eq "$(js 'map(.id + "=" + (.attributes | to_entries | map(.key + ":" + .value) | join("/"))) | join(",")')" \
   "box1=,dev1=hw:rev-b/serial:0001,dev2=hw:rev-b/site:north,dev3=hw:rev-a/site:north,dev4=hw:rev-b/site:south,dev5=" "attributes reported"
acted() { sql "SELECT device_id FROM actions WHERE campaign_id = $1 ORDER BY device_id" | paste -sd, -; }
acamp() { jq -n --argjson f "$1" '{name:"by-attributes",package:3,filter:$f}'; }
# afilter FILTER TARGETS: a campaign with FILTER targets exactly TARGETS (its action rows), then is cancelled
afilter() {
  call 201 POST "$U/campaigns" "$OPS" -d "$(acamp "$1")"; local c; c=$(js .id)
  eq "$(js .targets) $(acted "$c")" "$(echo "$2" | tr ',' '\n' | grep -c .) $2" "filter $1"
  eq "$(sql "SELECT filter FROM campaigns WHERE id = $c")" "$(jq -cS . <<< "$1")" "filter $1 stored"
  call 200 POST "$U/campaigns/$c/cancel" "$OPS"
}
afilter '{"attributes":{"hw":"rev-b"}}' dev1,dev2,dev4
afilter '{"attributes":{"hw":"rev-b","site":"north"}}' dev2
afilter '{"attributes":{"site":"north"}}' dev2,dev3
afilter '{"attributes":{"serial":"0001"}}' dev1
afilter '{"ids":["dev1","dev3","dev4"],"attributes":{"hw":"rev-b"}}' dev1,dev4
afilter '{"attributes":{}}' dev1,dev2,dev3,dev4,dev5          # no condition: the whole class
# a matching campaign is offered to its targets only
call 201 POST "$U/campaigns" "$OPS" -d "$(acamp '{"attributes":{"hw":"rev-a"}}')"; C=$(js .id)
call 200 GET "$D/dev3" "$(T dev3)"; eq "$(js ._links.deploymentBase.href | sed 's/?.*//')" \
   "$D/dev3/deploymentBase/$(sql "SELECT id FROM actions WHERE campaign_id = $C")" "dev3 (hw rev-a) offered"
call 200 GET "$D/dev2" "$(T dev2)"; eq "$(js '._links.deploymentBase // "none"')" none "dev2 (hw rev-b) not offered"
call 200 POST "$U/campaigns/$C/cancel" "$OPS"
na=$(audit_count); nc=$(sql 'SELECT COUNT(*) FROM campaigns'); nact=$(sql 'SELECT COUNT(*) FROM actions')
call 409 POST "$U/campaigns" "$OPS" -d "$(acamp '{"attributes":{"hw":"rev-z"}}')"
eq "$(js .error)" "no device to update: none of class sensor matches the filter without 1.1.0+0 or an open update" "no match: 409"
call 409 POST "$U/campaigns" "$OPS" -d "$(acamp '{"ids":["dev3"],"attributes":{"hw":"rev-b"}}')"   # ids AND attributes
call 409 POST "$U/campaigns" "$OPS" -d "$(acamp '{"ids":["box1"],"attributes":{}}')"               # still the package's class only
call 400 POST "$U/campaigns" "$OPS" -d "$(acamp '{"attributes":["hw","rev-b"]}')"
eq "$(js .error)" "filter.attributes: an object of string values" "attributes not an object"
call 400 POST "$U/campaigns" "$OPS" -d "$(acamp '{"attributes":"hw=rev-b"}')"
eq "$(js .error)" "filter.attributes: an object of string values" "attributes a string"
call 400 POST "$U/campaigns" "$OPS" -d "$(acamp '{"attributes":{"hw":"rev-b","rev":2}}')"
eq "$(js .error)" "filter.attributes.rev: not a string" "attribute value a number"
call 400 POST "$U/campaigns" "$OPS" -d "$(acamp '{"attributes":{"hw":null}}')"
eq "$(js .error)" "filter.attributes.hw: not a string" "attribute value null"
call 400 POST "$U/campaigns" "$OPS" -d "$(acamp '{"attribute":{"hw":"rev-b"}}')"     # a typo must not widen the campaign
eq "$(js .error)" "filter.attribute: unknown key (want ids, attributes)" "unknown filter key"
call 400 POST "$U/campaigns" "$OPS" -d "$(acamp '{"ids":"dev1"}')"
eq "$(js .error)" "filter.ids: an array of device ids" "ids not an array"
call 400 POST "$U/campaigns" "$OPS" -d "$(acamp '["dev1"]')"
eq "$(js .error)" 'filter: an object {"ids"?: [...], "attributes"?: {...}}' "filter not an object"
eq "$(audit_count) $(sql 'SELECT COUNT(*) FROM campaigns') $(sql 'SELECT COUNT(*) FROM actions')" "$na $nc $nact" "refused filters change nothing"
# ==== fleet-extras: campaign filter by device attributes (end) ====

# ==== fleet-extras: scheduled start, viewer refusals, kill -9 under concurrent writes, schema upgrade (begin) ====
ms() { date +%s%3N; }   # the clock moltd uses (same host, CLOCK_REALTIME)
# (a) start_at 3 s ahead: every poll that ended before start_at offers nothing, the first poll
# that began after it offers the action (polled every 0.2 s; the loop ends at the first offer
# or at the first poll begun after start_at without one).
SA=$(( $(ms) + 3000 ))
call 201 POST "$U/campaigns" "$OPS" -d "{\"name\":\"soon\",\"package\":3,\"filter\":{\"ids\":[\"dev5\"]},\"start_at\":$SA}"; CS=$(js .id)
AS=$(sql "SELECT id FROM actions WHERE campaign_id = $CS")
early=0; offered=none
while :; do
  t0=$(ms); code=$(curl -s -o "$work/body" -w '%{http_code}' -H "Authorization: $(T dev5)" "$D/dev5"); t1=$(ms)
  [ "$code" == 200 ] || { bad "scheduled: poll -> $code"; break; }
  href=$(js '._links.deploymentBase.href // "none"')
  if [ "$href" != none ]; then
    [ "$t1" -ge "$SA" ] && ok || bad "scheduled: offered by a poll that ended at $t1, before start_at $SA"
    offered=${href%%\?*}; break
  fi
  [ "$t0" -lt "$SA" ] || { bad "scheduled: not offered by a poll begun at $t0, after start_at $SA"; break; }
  early=$((early + 1)); sleep 0.2
done
[ "$early" -ge 1 ] && ok || bad "scheduled: no poll before start_at ($early)"   # under load a poll can take 0.6 s
eq "$offered" "$D/dev5/deploymentBase/$AS" "scheduled: offered after start_at"
# (b) a viewer token may read a campaign but not pause, resume or cancel it: 403, state kept
acts() { sql "SELECT state FROM campaigns WHERE id = $CS"; sql "SELECT id, state FROM actions WHERE campaign_id = $CS"; }
na=$(audit_count); before=$(acts)
call 403 POST "$U/campaigns/$CS/pause" "$VIEW"; eq "$(js .error)" "needs the operator role (this token is viewer)" "viewer pause"
eq "$(acts)" "$before" "viewer pause: campaign and actions unchanged"
call 200 POST "$U/campaigns/$CS/pause" "$OPS"; eq "$(js .state)" paused "operator pause"
na=$((na + 1)); before=$(acts)
call 403 POST "$U/campaigns/$CS/resume" "$VIEW"; eq "$(js .error)" "needs the operator role (this token is viewer)" "viewer resume"
eq "$(acts)" "$before" "viewer resume: still paused"
call 403 POST "$U/campaigns/$CS/cancel" "$VIEW"; eq "$(js .error)" "needs the operator role (this token is viewer)" "viewer cancel"
eq "$(acts)" "$before" "viewer cancel: still paused, the action still assigned"
eq "$(audit_count)" "$na" "viewer refusals leave no audit record"
call 200 GET "$U/campaigns/$CS" "$VIEW"; eq "$(js '.state + " " + (.actions | tojson)')" 'paused {"assigned":1}' "viewer reads it"
call 200 POST "$U/campaigns/$CS/cancel" "$OPS"; eq "$(js .state)" cancelled "operator cancel"

# (d) kill -9 while 50 provisionings run in parallel, then restart: every request answered
# 201 is there, no answer is anything but 201 or none, and the device rows and their
# device.provision audit records match one for one (a change and its record commit together).
for i in $(seq -w 1 50); do dev "crash$i" sensor > "$work/prov$i.json"; done
: > "$work/prov.codes"; provs=()
for i in $(seq -w 1 50); do
  { c=$(command curl -s -o /dev/null --max-time 10 -w '%{http_code}' -H "Authorization: $OPS" -d "@$work/prov$i.json" "$U/devices")
    echo "crash$i $c" >> "$work/prov.codes"; } &
  provs+=($!)
done
for _ in $(seq 500); do [ "$(grep -c ' 201$' "$work/prov.codes")" -ge 5 ] && break; sleep 0.002; done
kill -9 "$pid"; wait "$pid" 2>/dev/null; pid=
wait "${provs[@]}"   # the curl clients, not moltd
start
eq "$(wc -l < "$work/prov.codes") $(awk '$2 != 201 && $2 != "000"' "$work/prov.codes" | wc -l)" "50 0" "kill -9: every request answered 201 or not at all"
answered=$(awk '$2 == 201 {print $1}' "$work/prov.codes" | LC_ALL=C sort)
rows=$(sql "SELECT id FROM devices WHERE id LIKE 'crash%'" | LC_ALL=C sort)
recs=$(sql "SELECT object FROM audit WHERE what = 'device.provision' AND object LIKE 'crash%'" | LC_ALL=C sort)
eq "$(LC_ALL=C comm -23 <(echo "$answered") <(echo "$rows") | grep -c .)" 0 "kill -9: every 201 survived"
eq "$recs" "$rows" "kill -9: device rows = device.provision records, one for one"
echo "moltd: kill -9 during 50 provisionings: $(grep -c . <<< "$answered") answered, $(grep -c . <<< "$rows") committed"
[ $backend = sqlite ] && eq "$(sql 'PRAGMA integrity_check')" ok "kill -9: integrity_check"
for i in $(seq -w 1 50); do   # the lost ones can be provisioned again; the committed ones exist
  if grep -qx "crash$i" <<< "$rows"; then want=409; else want=201; fi
  call $want POST "$U/devices" "$OPS" -d "@$work/prov$i.json"
done
eq "$(sql "SELECT COUNT(*) FROM devices WHERE id LIKE 'crash%'") $(sql "SELECT COUNT(*) FROM audit WHERE what = 'device.provision' AND object LIKE 'crash%'")" "50 50" "all 50 provisioned after the restart"

# (c) schema upgrade: a database at schema 1 (tests/moltd_schema1.sql) is migrated to the
# latest schema on start, in place, with every row of it kept and usable.
latest=$(sql 'SELECT version FROM schema_version')
kill "$pid"; wait "$pid" 2>/dev/null; pid=
case $backend in
  sqlite) url1=sqlite:$work/schema1.sqlite; sql1() { sqlite3 "$work/schema1.sqlite" "$1"; }
          serial='INTEGER PRIMARY KEY AUTOINCREMENT'
          ao="CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'append-only'); END;"
          load1() { sqlite3 -bail "$work/schema1.sqlite"; } ;;
  postgresql) url1=${DBURL%/*}/molt_schema1; sql "CREATE DATABASE molt_schema1"; sql1() { psql -X -q -tA "$url1" -c "$1"; }
          serial='BIGSERIAL PRIMARY KEY'
          ao="CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RAISE EXCEPTION ''append-only''; END';
CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only();"
          load1() { psql -X -q -v ON_ERROR_STOP=1 "$url1" >/dev/null; } ;;
esac
{ sed "s/@SERIAL@/$serial/" "$MOLT_SRC/tests/moltd_schema1.sql"; echo "$ao"; } | load1 && ok || bad "schema 1 fixture"
eq "$(sql1 'SELECT version FROM schema_version')" 1 "fixture at schema 1"
dump1() {  # the schema-1 columns of every table (later steps may add columns), in a fixed order
  sql1 "SELECT hash, name, role, created FROM api_tokens ORDER BY hash"
  sql1 "SELECT name, pem, der_hex, key_type, created FROM signers ORDER BY name"
  sql1 "SELECT name, created FROM device_classes ORDER BY name"
  sql1 "SELECT class, signer FROM class_signers ORDER BY class, signer"
  sql1 "SELECT id, sha256, sha1, md5, size, class, version, version_key, security_counter, filename, signer, uploaded_by, created FROM packages ORDER BY id"
  sql1 "SELECT id, class, attest_key, enc_key, token_hash, version, attested_version, attributes, config_wanted, last_seen, created FROM devices ORDER BY id"
  sql1 "SELECT id, name, package_id, filter, steps, step, failure_threshold, message, start_at, state, state_reason, created_by, created FROM campaigns ORDER BY id"
  sql1 "SELECT id, campaign_id, device_id, step, state, version_before, notified, detail, updated FROM actions ORDER BY id"
  sql1 "SELECT id, at, actor, what, object, version_before, version_after, detail FROM audit ORDER BY id"
}
d1=$(dump1 | sha256sum)
DBURL=$url1 start
grep -q "($backend database, schema $latest)" "$work/log" && ok || bad "upgrade start line: $(cat "$work/log")"
eq "$(sql1 'SELECT version FROM schema_version')" "$latest" "migrated to the latest schema"
eq "$(dump1 | sha256sum)" "$d1" "migration kept every row"
eq "$(sql1 "SELECT COUNT(*) FROM devices WHERE attested_hash IS NULL AND attested_at IS NULL") $(sql1 'SELECT COUNT(*) FROM attest_challenges')" "1 0" "step 2 objects added"
eq "$(sql1 "SELECT COUNT(*) FROM campaign_steps WHERE released IS NULL") $(sql1 'SELECT COUNT(*) FROM ticket_policies') $(sql1 'SELECT COUNT(*) FROM device_quarantine')" \
   "1 0 0" "step 6 objects added (no step released after creation: no release time)"
OLDV="Bearer legacy-viewer-token-0001"; OLDT="TargetToken legacy-device-token-0001"
call 200 GET "$U/devices" "$OLDV"
eq "$(js 'map("\(.id) \(.class) \(.version) \(.attributes.hw) \(.action.state)") | join(",")')" "old1 legacy 0.9.0+0 rev-a success" "old token, old device"
call 200 GET "$U/campaigns/1" "$OLDV"; eq "$(js '.name + " " + .state + " " + (.actions | tojson)')" 'first finished {"success":1}' "old campaign"
call 200 GET "$U/audit" "$OLDV"
eq "$(js 'map("\(.id):\(.what)") | join(",")')" "1:signer.create,2:class.create,3:package.upload,4:device.provision,5:campaign.create,6:update.success,7:campaign.finish" "old audit trail"
call 200 GET "$D/old1" "$OLDT"; eq "$(js '._links | keys | join(",")')" installedBase "old device token polls (its schema-1 install linked)"
call 200 GET "$D/old1/molt/attestation" "$OLDT"; [[ $(js .nonce) =~ ^[0-9a-f]{64}$ ]] && ok || bad "attestation challenge on a migrated device"
eq "$(sql1 "SELECT COUNT(*) FROM attest_challenges WHERE device_id = 'old1'")" 1 "challenge stored in the new table"
call 201 POST "$U/devices" "$A" -d "$(dev new1 legacy)"
eq "$(sql1 "SELECT id FROM audit WHERE what = 'device.provision' AND object = 'new1'")" 8 "new records follow the old ones"
sql1 "DELETE FROM audit WHERE id = 1" 2>"$work/err"; [ $? -ne 0 ] && grep -q append-only "$work/err" && ok || bad "migrated audit still append-only"
kill "$pid"; wait "$pid" 2>/dev/null; pid=
start   # back to the test's own database
# ==== fleet-extras: scheduled start, viewer refusals, kill -9 under concurrent writes, schema upgrade (end) ====


kill "$pid"; wait "$pid"; eq "$?" 0 "SIGTERM exit"; pid=
grep -qx "moltd: stopped" "$work/log" && ok || bad "stopped line"
start --artifact-base-url http://mirror.invalid/molt
DL=$D/dev1/softwaremodules/1/artifacts/sensor-1.0.0_1.bin
curl -s -o /dev/null -D "$work/h4" -w '%{http_code}' -H "Authorization: $(T dev1)" "$DL" > "$work/code"
eq "$(cat "$work/code")" 302 "redirect"
grep -qi "^location: http://mirror.invalid/molt/$SHA1" "$work/h4" && ok || bad "location: $(cat "$work/h4")"

# --- versioned schema: a database newer than this moltd is refused, and nothing is touched
kill "$pid"; wait "$pid"; pid=
sql "UPDATE schema_version SET version = 99"
MOLTD_ADMIN_TOKEN=$ADMIN "$MOLTD" --db "$DBURL" --port 0 --artifact-dir "$ART" >/dev/null 2>"$work/err"; eq "$?" 2 "newer schema exit"
grep -qx "moltd: schema migration failed: schema version 99 is newer than this moltd (6)" "$work/err" && ok || bad "schema msg: $(cat "$work/err")"
eq "$(sql 'SELECT version FROM schema_version')" 99 "schema left alone"

echo "moltd: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
