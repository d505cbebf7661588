#!/usr/bin/env bash
# moltd_attack.sh - the attacks of a device, a low-privilege token or a client address
# against moltd, each with the exact refusal and no state change (issue 15):
#  1. release rules on every action endpoint: an action of an unreleased step, of a paused
#     campaign or before start_at is 404 on deploymentBase, feedback and keyEnvelope alike
#     (nothing recorded); a started action goes on through a pause (R-AVAIL, R-DEPLOY-VERSION);
#  2. a device's attributes are bounded (keys, bytes) and every change is audited;
#  3. role and upload parameters are refused from the headers, before a byte is stored;
#  4. token revocation (gateway tokens included); malformed ids are 404 on both backends;
#  5. one client address cannot hold more than --per-ip-connections, and a connection that
#     does not finish its headers within --header-timeout is closed however it trickles;
#  6. at start-up, unfinished uploads of dead processes and artifacts no package names are
#     swept (others' fresh ones kept);
#  7. a full disk (tests/fault_enospc.c, an LD_PRELOAD fault injector) is 507 with the real
#     cause, for an upload and for a database commit (SQLite), and nothing is half-stored.
# With MOLTD_TEST_DB=postgresql://... (tests/moltd_attack_pg.sh) it runs on PostgreSQL.
set -uo pipefail
: "${MOLT:?}" "${MOLTD:?}" "${VECTORS:?}"
work=$(mktemp -d)
pid=
cleanup() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi; rm -rf "$work"; }
trap cleanup EXIT
pass=0; fail=0
curl() { command curl --max-time 30 "$@"; }
ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
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

start() {  # start [extra options]
  : > "$work/log"
  "$MOLTD" --db "$DBURL" --port 0 --artifact-dir "$ART" --admin-token-file "$work/admin.token" \
           --max-json 8192 --max-package 262144 --header-timeout 2 --per-ip-connections 8 "$@" >"$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q listening "$work/log" && break; sleep 0.05; done
  port=$(sed -n 's/^moltd: listening on http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$work/log")
  [ -n "$port" ] || { echo "moltd did not start: $(cat "$work/log")"; exit 1; }
  U=http://127.0.0.1:$port/api/v1
  D=http://127.0.0.1:$port/DEFAULT/controller/v1
}
call() {  # call CODE METHOD URL AUTH [curl args]: exact status, body in $work/body
  local want=$1 m=$2 url=$3 auth=$4; shift 4
  local got; got=$(curl -s -o "$work/body" -w '%{http_code}' -X "$m" ${auth:+-H "Authorization: $auth"} "$@" "$url")
  [ "$got" == "$want" ] && ok || bad "$m $url -> $got, expected $want ($(head -c 200 "$work/body"))"
}
body() { eq "$(cat "$work/body")" "$1" "${2:-body}"; }
A="Bearer $ADMIN"
js() { jq -r "$1" "$work/body"; }
audit_count() { sql 'SELECT COUNT(*) FROM audit'; }
T() { echo "TargetToken tok-$1-0123456789"; }
cur() { echo "{\"status\":{\"execution\":\"$1\",\"result\":{\"finished\":\"$2\"}}}"; }
sign() { "$MOLT" sign -k "$K/sign-ecdsa-p256.pem" -v "$1" -s auto -H 0x200 --pad-header -S 0x80000 "$2" "$work/$3" >/dev/null || bad "sign $3"; }

start
call 201 POST "$U/tokens" "$A" -d '{"name":"ops","role":"operator"}'; OPS="Bearer $(js .token)"
call 201 POST "$U/tokens" "$A" -d '{"name":"watch","role":"viewer"}'; VIEW="Bearer $(js .token)"
call 201 POST "$U/tokens" "$A" -d '{"name":"gw","role":"gateway"}'; GW=$(js .token)
call 201 POST "$U/signers" "$A" -d "$(jq -n --rawfile pem "$K/sign-ecdsa-p256.pub.pem" '{name:"vendor",pem:$pem}')"
call 201 POST "$U/classes" "$A" -d '{"name":"sensor","signers":["vendor"]}'
call 201 POST "$U/classes" "$A" -d '{"name":"box","signers":["vendor"]}'
sign 1.0.0 "$PL/payload_C_65536.bin" s1.bin; sign 1.0.0 "$PL/payload_A_1000.bin" b1.bin
call 201 POST "$U/packages?class=sensor" "$OPS" --data-binary "@$work/s1.bin"; PS=$(js .id)
call 201 POST "$U/packages?class=box" "$OPS" --data-binary "@$work/b1.bin"; PB=$(js .id)
dev() { jq -n --arg id "$1" --arg c "$2" --arg t "tok-$1-0123456789" --rawfile ak "$K/enc-ecdsa-p256.pub.pem" \
          '{id:$id,class:$c,attestation_key:$ak,token:$t}'; }
for d in dev1 dev2 dev3 dev4; do call 201 POST "$U/devices" "$OPS" -d "$(dev $d sensor)"; done
call 201 POST "$U/devices" "$OPS" -d "$(dev box1 box)"

# ==== 1. release rules on every action endpoint ====
# steps [50, 100] over dev1..dev4: dev1, dev2 in step 1; dev3, dev4 wait for it.
call 201 POST "$U/campaigns" "$OPS" -d "{\"name\":\"staged\",\"package\":$PS,\"steps\":[50,100]}"; C1=$(js .id)
aid() { sql "SELECT id FROM actions WHERE device_id = '$1' AND campaign_id = $2"; }
A1=$(aid dev1 "$C1"); A2=$(aid dev2 "$C1"); A3=$(aid dev3 "$C1")
eq "$A3" "$((A2 + 1))" "action ids are sequential (so guessable)"
n0=$(audit_count)
call 404 GET "$D/dev3/deploymentBase/$A3" "$(T dev3)"; body "{\"error\":\"no action $A3 for dev3\"}" "unreleased step: deploymentBase"
call 404 POST "$D/dev3/deploymentBase/$A3/feedback" "$(T dev3)" -d "$(cur closed success)"
body "{\"error\":\"no action $A3 for dev3\"}" "unreleased step: feedback"
call 404 GET "$D/dev3/molt/keyEnvelope/$A3" "$(T dev3)"; body "{\"error\":\"no action $A3 for dev3\"}" "unreleased step: keyEnvelope"
call 404 GET "$D/dev3/deploymentBase/$A3" "GatewayToken $GW"   # a gateway token obeys the same rule
eq "$(sql "SELECT state || ',' || COALESCE(notified, 0) FROM actions WHERE id = $A3")" "assigned,0" "unreleased action untouched"
eq "$(sql "SELECT COALESCE(version, 'none') FROM devices WHERE id = 'dev3'")" none "unreleased: no version recorded"
eq "$(audit_count)" "$n0" "unreleased: nothing audited"
# dev2 starts (its deployment is served), then the campaign is paused: dev2 goes on, dev1 may not start.
call 200 GET "$D/dev2/deploymentBase/$A2" "$(T dev2)"
call 200 POST "$U/campaigns/$C1/pause" "$OPS"
call 404 GET "$D/dev1/deploymentBase/$A1" "$(T dev1)"; body "{\"error\":\"no action $A1 for dev1\"}" "paused: deploymentBase"
call 404 POST "$D/dev1/deploymentBase/$A1/feedback" "$(T dev1)" -d "$(cur closed success)"; body "{\"error\":\"no action $A1 for dev1\"}" "paused: feedback"
call 200 GET "$D/dev1" "$(T dev1)"; eq "$(js '._links.deploymentBase // "none"')" none "paused: no link for an unstarted device"
call 200 GET "$D/dev2" "$(T dev2)"; eq "$(js '._links.deploymentBase.href | sub("\\?.*"; "")')" "$D/dev2/deploymentBase/$A2" "paused: the started device keeps its link"
call 200 POST "$D/dev2/deploymentBase/$A2/feedback" "$(T dev2)" -d "$(cur proceeding none)"
call 200 POST "$U/campaigns/$C1/resume" "$OPS"
call 200 GET "$D/dev1/deploymentBase/$A1" "$(T dev1)"
call 200 POST "$D/dev1/deploymentBase/$A1/feedback" "$(T dev1)" -d "$(cur closed success)"
call 200 POST "$D/dev2/deploymentBase/$A2/feedback" "$(T dev2)" -d "$(cur closed success)"
call 200 GET "$D/dev3/deploymentBase/$A3" "$(T dev3)"; eq "$(js .id)" "$A3" "step 2 released: dev3's deployment"
# start_at in the future: nothing before it.
call 201 POST "$U/campaigns" "$OPS" -d "{\"name\":\"later\",\"package\":$PB,\"start_at\":$(( $(date +%s) * 1000 + 3600000 ))}"; C2=$(js .id)
AB=$(aid box1 "$C2"); n0=$(audit_count)
call 404 GET "$D/box1/deploymentBase/$AB" "$(T box1)"; body "{\"error\":\"no action $AB for box1\"}" "start_at: deploymentBase"
call 404 POST "$D/box1/deploymentBase/$AB/feedback" "$(T box1)" -d "$(cur closed failure)"; body "{\"error\":\"no action $AB for box1\"}" "start_at: feedback"
call 404 GET "$D/box1/molt/keyEnvelope/$AB" "$(T box1)"; body "{\"error\":\"no action $AB for box1\"}" "start_at: keyEnvelope"
eq "$(sql "SELECT state FROM actions WHERE id = $AB") $(audit_count)" "assigned $n0" "start_at: nothing changed"

# ==== 2. attributes: bounded, every change audited ====
keys() { jq -nc --argjson n "$1" --arg p "$2" '[range($n)] | map({key: ($p + (.|tostring)), value: "v"}) | from_entries'; }
call 200 PUT "$D/dev4/configData" "$(T dev4)" -d "{\"data\":$(keys 60 a)}"
eq "$(sql "SELECT COUNT(*) FROM audit WHERE what = 'device.attributes' AND object = 'dev4' AND actor = 'device:dev4'")" 1 "attribute change audited"
eq "$(sql "SELECT detail FROM audit WHERE what = 'device.attributes' ORDER BY id DESC LIMIT 1")" "$(keys 60 a | jq -cS .)" "audit detail: the attributes after"
call 200 PUT "$D/dev4/configData" "$(T dev4)" -d "{\"data\":$(keys 60 a)}"   # the same again: no change, no record
eq "$(sql "SELECT COUNT(*) FROM audit WHERE what = 'device.attributes'")" 1 "no record without a change"
before=$(sql "SELECT attributes FROM devices WHERE id = 'dev4'"); n0=$(audit_count)
call 413 PUT "$D/dev4/configData" "$(T dev4)" -d "{\"data\":$(keys 5 b)}"
nb=$(jq -cnS --argjson a "$(keys 60 a)" --argjson b "$(keys 5 b)" '$a + $b' | tr -d '\n' | wc -c)   # the oracle: jq's compact form
body "{\"error\":\"attributes of dev4 would hold 65 keys, $nb bytes (at most 64 keys, 4096 bytes)\"}" "65 keys refused"
big=$(head -c 1000 /dev/zero | tr '\0' x)
call 200 PUT "$D/dev1/configData" "GatewayToken $GW" -d "{\"data\":{\"k1\":\"$big\",\"k2\":\"$big\",\"k3\":\"$big\"}}"
eq "$(sql "SELECT actor FROM audit WHERE what = 'device.attributes' AND object = 'dev1'")" "gateway:gw" "gateway change audited as the gateway"
call 413 PUT "$D/dev1/configData" "$(T dev1)" -d "{\"data\":{\"k4\":\"$big\",\"k5\":\"$big\"}}"
nb=$(jq -cnS --arg b "$big" '{k1:$b,k2:$b,k3:$b,k4:$b,k5:$b}' | tr -d '\n' | wc -c)
body "{\"error\":\"attributes of dev1 would hold 5 keys, $nb bytes (at most 64 keys, 4096 bytes)\"}" "bytes refused"
for i in $(seq 30); do curl -s -o /dev/null -X PUT -H "Authorization: $(T dev1)" "$D/dev1/configData" -d "{\"data\":{\"g$i\":\"$big\"}}"; done
eq "$(sql "SELECT LENGTH(attributes) <= 4096 FROM devices WHERE id = 'dev1'") $(sql "SELECT attributes FROM devices WHERE id = 'dev4'")" \
   "$( [ $backend = sqlite ] && echo 1 || echo t) $before" "attributes stay bounded; refusals changed nothing"
call 200 PUT "$D/dev4/configData" "$(T dev4)" -d '{"mode":"remove","data":{"a0":"","a1":""}}'
eq "$(sql "SELECT COUNT(*) FROM audit WHERE what = 'device.attributes' AND object = 'dev4'")" 2 "remove audited"

# ==== 3. role and parameters from the headers, before any body byte is stored ====
# A client sends the headers and 1,000 of 200,000 announced bytes, then waits: the refusal
# must come at once, and no temporary file may exist in the store.
early() {  # early AUTH QUERY: prints "<status line>|<body>|<upload files>"
  python3 - "$port" "$1" "$2" "$ART" <<'EOF'
import os, socket, sys
port, auth, query, art = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
s = socket.create_connection(("127.0.0.1", port))
s.sendall(("POST /api/v1/packages?%s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
           "Content-Type: application/octet-stream\r\nContent-Length: 200000\r\n\r\n" % (query, auth)).encode()
          + b"\0" * 1000)
s.settimeout(2)
data = b""
try:
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < int(
            [l for l in data.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1]):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except (socket.timeout, IndexError):
    pass
uploads = len([n for n in os.listdir(art) if n.startswith(".upload")])
head, _, payload = data.partition(b"\r\n\r\n")
print("%s|%s|%d" % (head.split(b"\r\n")[0].decode() if head else "no answer", payload.decode(), uploads))
EOF
}
eq "$(early "$VIEW" class=sensor)" 'HTTP/1.1 403 Forbidden|{"error":"needs the operator role (this token is viewer)"}|0' "viewer upload refused before its body"
eq "$(early "$OPS" class=nosuch)" 'HTTP/1.1 400 Bad Request|{"error":"class: no device class named nosuch"}|0' "unknown class refused before the body"
eq "$(early "$OPS" 'class=sensor&filename=../x')" 'HTTP/1.1 400 Bad Request|{"error":"filename: [A-Za-z0-9._-]{1,128}"}|0' "bad filename refused before the body"
eq "$(early "$VIEW" class=sensor)" 'HTTP/1.1 403 Forbidden|{"error":"needs the operator role (this token is viewer)"}|0' "again: the connection was not wedged"

# ==== 4. token revocation; malformed ids ====
call 200 GET "$D/dev1" "GatewayToken $GW"
call 403 DELETE "$U/tokens/gw" "$OPS"; body '{"error":"needs the admin role (this token is operator)"}'
call 200 DELETE "$U/tokens/gw" "$A"; body '{"name":"gw","role":"gateway","revoked":true}' "revoked"
call 401 GET "$D/dev1" "GatewayToken $GW"; body '{"error":"bad gateway token"}' "a revoked gateway token is refused"
call 404 DELETE "$U/tokens/gw" "$A"; body '{"error":"no token gw"}'
eq "$(sql "SELECT actor || ' ' || object || ' ' || detail FROM audit WHERE what = 'token.revoke'")" "admin gw gateway" "revocation audited"
call 200 DELETE "$U/tokens/watch" "$A"
call 401 GET "$U/devices" "$VIEW"; body '{"error":"unknown token"}' "a revoked viewer token is refused"
for u in packages/abc packages/99999999999999999999 packages/-1; do
  call 404 GET "$U/$u" "$A"; body "{\"error\":\"no package ${u#packages/}\"}" "malformed id $u"
done
for u in campaigns/x1 campaigns/1e3 campaigns/99999999999999999999; do
  call 404 GET "$U/$u" "$A"; body "{\"error\":\"no campaign ${u#campaigns/}\"}" "malformed id $u"
done
call 404 POST "$U/campaigns/1x/pause" "$OPS"; body '{"error":"no campaign 1x"}' "malformed campaign id on pause"
call 404 GET "$U/devices/%ff%fe" "$A"; body '{"error":"no device (malformed id)"}' "malformed device id"
call 404 GET "$D/dev1/deploymentBase/99999999999999999999" "$(T dev1)"
call 404 GET "$D/dev1/softwaremodules/9x/artifacts" "$(T dev1)"

# ==== 5. per-address connection limit and header deadline ====
# 8 connections from 127.0.0.1 trickle one header byte every 0.3 s; a 9th from the same
# address is closed unanswered; a device on 127.0.0.2 is served; after --header-timeout (2 s)
# the 8 are closed by moltd although they never stopped sending.
res=$(python3 - "$port" "tok-dev2-0123456789" <<'EOF'
import socket, sys, time
port, tok = int(sys.argv[1]), sys.argv[2]
def poll(src):
    s = socket.socket(); s.bind((src, 0)); s.connect(("127.0.0.1", port)); s.settimeout(3)
    s.sendall(("GET /DEFAULT/controller/v1/dev2 HTTP/1.1\r\nHost: x\r\nAuthorization: TargetToken %s\r\n"
               "Connection: close\r\n\r\n" % tok).encode())
    try:
        d = s.recv(100)
    except (ConnectionResetError, socket.timeout):
        d = b""
    return d.split(b"\r\n")[0].decode() if d else "closed"
t0 = time.time()
slow = []
for _ in range(8):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.connect(("127.0.0.1", port)); s.setblocking(False)
    s.send(b"GET / HTTP/1.1\r\n"); slow.append(s)
time.sleep(0.3)
ninth, other = poll("127.0.0.1"), poll("127.0.0.2")
closed = {}
while time.time() - t0 < 5 and len(closed) < len(slow):
    for i, s in enumerate(slow):
        if i in closed:
            continue
        try:
            s.send(b"X")
            if s.recv(1) == b"":
                closed[i] = time.time() - t0
        except BlockingIOError:
            pass
        except OSError:
            closed[i] = time.time() - t0
    time.sleep(0.3)
late = [t for t in closed.values() if 1.5 <= t <= 4.5]
print("ninth=%s other=%s closed-in-time=%d/8" % (ninth, other, len(late)))
EOF
)
eq "$res" "ninth=closed other=HTTP/1.1 200 OK closed-in-time=8/8" "per-address limit and header deadline"
call 200 GET "$D/dev2" "$(T dev2)"   # and 127.0.0.1 is served again once they are gone

# ==== 6. start-up sweep of the store ====
# An upload in progress when moltd is killed; a stale and a fresh upload of another host;
# an old and a fresh artifact that no package names.
python3 - "$port" "$OPS" <<'EOF' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(("POST /api/v1/packages?class=sensor HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
           "Content-Length: 100000\r\n\r\n" % sys.argv[2]).encode() + b"\0" * 50000)
time.sleep(4)
EOF
up=$!
for _ in $(seq 50); do ls -A "$ART" | grep -q '^\.upload\.' && break; sleep 0.05; done
eq "$(ls -A "$ART" | grep -c "^\.upload\.$(hostname)\.$pid\.")" 1 "an upload in progress is named by host and process"
kill -9 "$pid"; wait "$pid" 2>/dev/null; pid=; kill "$up" 2>/dev/null; wait "$up" 2>/dev/null
printf x > "$ART/.upload.elsewhere.42.AbCdEf"; touch -d '-2 hours' "$ART/.upload.elsewhere.42.AbCdEf"
printf x > "$ART/.upload.elsewhere.43.GhIjKl"
orphan_old=$(printf old | sha256sum | cut -d' ' -f1); orphan_new=$(printf new | sha256sum | cut -d' ' -f1)
printf old > "$ART/$orphan_old"; touch -d '-1 hour' "$ART/$orphan_old"; printf new > "$ART/$orphan_new"
start
eq "$(grep '^moltd: store:' "$work/log")" "moltd: store: removed 2 unfinished uploads and 1 artifact no package names (newer unnamed artifacts kept: another instance may be committing them)" "sweep line"
eq "$(ls -A "$ART" | grep '^\.upload' | paste -sd, -)" ".upload.elsewhere.43.GhIjKl" "only another host's fresh upload kept"
[ ! -e "$ART/$orphan_old" ] && [ -e "$ART/$orphan_new" ] && ok || bad "old orphan artifact removed, fresh one kept"
eq "$(ls "$ART" | wc -l)" 3 "the two packages and the fresh orphan"
call 200 GET "$U/packages/$PS" "$A"

# ==== 7. a full disk: 507 with the real cause ====
if [ "$backend" = sqlite ]; then
  kill "$pid"; wait "$pid" 2>/dev/null; pid=
  full=$work/fulldisk; mkdir -p "$full"; cp "$work/s1.bin" "$work/s2src.bin"
  sign 1.1.0 "$PL/payload_B_4113.bin" s2.bin
  DBURL=sqlite:$full/moltd.sqlite; DB=$full/moltd.sqlite; ART=$full/artifacts
  export MOLT_FAULT_DIR=$full MOLT_FAULT_FLAG=$work/disk-is-full
  LD_PRELOAD=${MOLT_FAULT_ENOSPC:?} ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 start
  call 201 POST "$U/signers" "$A" -d "$(jq -n --rawfile pem "$K/sign-ecdsa-p256.pub.pem" '{name:"vendor",pem:$pem}')"
  call 201 POST "$U/classes" "$A" -d '{"name":"sensor","signers":["vendor"]}'
  n0=$(audit_count)
  touch "$MOLT_FAULT_FLAG"
  call 507 POST "$U/packages?class=sensor" "$A" --data-binary "@$work/s2.bin"
  body '{"error":"cannot store the upload: No space left on device"}' "upload on a full disk"
  call 507 POST "$U/devices" "$A" -d "$(dev dev9 sensor)"
  body '{"error":"database: sqlite: database or disk is full"}' "commit on a full disk: the cause, not the rollback's"
  call 200 GET "$U/devices" "$A"; eq "$(js length)" 0 "reads still served on a full disk"
  rm -f "$MOLT_FAULT_FLAG"
  eq "$(ls -A "$ART" | wc -l) $(audit_count) $(sql 'SELECT COUNT(*) FROM packages') $(sql 'SELECT COUNT(*) FROM devices')" "0 $n0 0 0" "nothing half-stored"
  call 201 POST "$U/packages?class=sensor" "$A" --data-binary "@$work/s2.bin"
  call 201 POST "$U/devices" "$A" -d "$(dev dev9 sensor)"
fi

kill "$pid"; wait "$pid" 2>/dev/null; pid=
echo "moltd_attack ($backend): $pass passed, $fail failed"
[ "$fail" -eq 0 ]
