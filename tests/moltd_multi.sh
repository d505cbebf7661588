#!/usr/bin/env bash
# moltd_multi.sh - two moltd instances on one PostgreSQL database and one shared artifact
# directory, sent the same conflicting requests at the same instant (tests/race.py: one
# connection each, released by a barrier). Exactly-once outcomes, checked in the database:
#  - both instances start together on an empty database (the schema is migrated once);
#  - the same upload on both: one 201, one 200 naming the same package, one row, one audit record;
#  - the same campaign created on both: one 201, one 409; one open action per device;
#  - closing feedback for one action on both (success on one, failure on the other): one 200,
#    one 410; the state, the device's version and the single audit record agree;
#  - the last two devices of a step closing on different instances: the next step is released,
#    once, every trial;
#  - kill -9 of one instance mid-campaign: the devices go on through the other, the campaign
#    finishes, every device is recorded exactly once (R-AVAIL, R-DEPLOY-VERSION).
# The audit log is complete: one update record per accepted closing feedback, no other.
set -uo pipefail
: "${MOLT:?}" "${MOLTD:?}" "${VECTORS:?}" "${MOLT_SRC:?}"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
pids=()
pg_cluster || { echo "FAIL: no PostgreSQL cluster"; exit 1; }
at_exit 'kill_wait "${pids[@]}"'

K=$VECTORS/keys; PL=$VECTORS/payloads
moltd_setup "$PGURL"
ART=$work/artifacts

start() {  # start NAME: an instance on an ephemeral port; sets PORT_<NAME>, PID_<NAME>
  moltd_launch "$work/log.$1" "$work/err.$1" --max-package 262144
  pids+=("$launched"); printf -v "PID_$1" %s "$launched"
}
wait_up() {  # wait_up NAME
  local v=PID_$1 p; p=$(moltd_port "$work/log.$1" "${!v}") \
    || { echo "FAIL: instance $1 did not start: $(cat "$work/log.$1" "$work/err.$1")"; exit 1; }
  printf -v "PORT_$1" %s "$p"
}
A="Bearer $ADMIN"
# rq PORT METHOD PATH AUTH [BODY|@FILE]: one race.py request
rq() {
  local b=${5-}
  if [ "${b:0:1}" = @ ]; then
    jq -nc --arg u "http://127.0.0.1:$1$3" --arg m "$2" --arg a "$4" --arg f "${b:1}" '{url:$u,method:$m,auth:$a,file:$f}'
  elif [ -n "$b" ]; then
    jq -nc --arg u "http://127.0.0.1:$1$3" --arg m "$2" --arg a "$4" --arg b "$b" '{url:$u,method:$m,auth:$a,body:$b}'
  else
    jq -nc --arg u "http://127.0.0.1:$1$3" --arg m "$2" --arg a "$4" '{url:$u,method:$m,auth:$a}'
  fi
}
race() { python3 "$MOLT_SRC/tests/race.py" "$@"; }
sorted() { tr ' ' '\n' | sort | paste -sd' ' -; }
T() { echo "TargetToken tok-$1-0123456789"; }
sign() { "$MOLT" sign -k "$K/sign-ecdsa-p256.pem" -v "$1" -s auto -H 0x200 --pad-header -S 0x80000 "$2" "$work/$3" >/dev/null || bad "sign $3"; }
DDI=/DEFAULT/controller/v1

# --- both instances start at once on an empty database
start a; start b; wait_up a; wait_up b
eq "$(grep -c 'postgresql database, schema 7' "$work/log.a" "$work/log.b" | cut -d: -f2 | paste -sd, -)" "1,1" "both started, schema 7"
eq "$(sql 'SELECT version FROM schema_version') $(sql 'SELECT COUNT(*) FROM schema_version')" "7 1" "schema migrated once"
PA=$PORT_a; PB=$PORT_b

call 201 POST "http://127.0.0.1:$PA/api/v1/tokens" "$A" -d '{"name":"ops","role":"operator"}'; OPS="Bearer $(js .token)"
call 201 POST "http://127.0.0.1:$PB/api/v1/signers" "$A" -d "$(jq -n --rawfile pem "$K/sign-ecdsa-p256.pub.pem" '{name:"vendor",pem:$pem}')"
call 201 POST "http://127.0.0.1:$PA/api/v1/classes" "$A" -d '{"name":"sensor","signers":["vendor"]}'

# --- the same upload on both, 5 trials
codes=
for i in 1 2 3 4 5; do
  sign "1.0.$i" "$PL/payload_A_1000.bin" "u$i.bin"
  codes+="$(race "$(rq "$PA" POST "/api/v1/packages?class=sensor" "$OPS" "@$work/u$i.bin")" \
                 "$(rq "$PB" POST "/api/v1/packages?class=sensor" "$OPS" "@$work/u$i.bin")" | sorted),"
done
eq "$codes" "200 201,200 201,200 201,200 201,200 201," "same upload on both: one 201, one 200"
eq "$(sql 'SELECT COUNT(*) FROM packages') $(sql "SELECT COUNT(*) FROM audit WHERE what = 'package.upload'")" "5 5" "one row and one audit record per package"
eq "$(ls -A "$ART" | grep -c '^\.upload')" 0 "no unfinished upload left"
for i in 1 2 3 4 5; do cmp -s "$ART/$(sha256sum < "$work/u$i.bin" | cut -d' ' -f1)" "$work/u$i.bin" || bad "artifact $i intact"; done
# two different packages with the same version at once: one is refused (R-DEPLOY-VERSION)
sign 1.1.0 "$PL/payload_A_1000.bin" x1.bin; sign 1.1.0 "$PL/payload_B_4113.bin" x2.bin
eq "$(race "$(rq "$PA" POST "/api/v1/packages?class=sensor" "$OPS" "@$work/x1.bin")" \
           "$(rq "$PB" POST "/api/v1/packages?class=sensor" "$OPS" "@$work/x2.bin")" | sorted)" "201 409" "same version on both: one accepted"
eq "$(sql "SELECT COUNT(*) FROM packages WHERE version = '1.1.0+0'")" 1 "one 1.1.0"
P1=$(sql "SELECT id FROM packages WHERE version = '1.1.0+0'")

# --- devices: 81 = 20 (campaign races) + 45 (step release) + 16 (kill -9)
dev() { jq -n --arg id "$1" --arg t "tok-$1-0123456789" --rawfile ak "$K/enc-ecdsa-p256.pub.pem" '{id:$id,class:"sensor",attestation_key:$ak,token:$t}'; }
for i in $(seq -w 1 81); do
  [ $((10#$i % 2)) -eq 0 ] && p=$PA || p=$PB
  curl -s -o /dev/null -w '%{http_code}\n' -H "Authorization: $OPS" "http://127.0.0.1:$p/api/v1/devices" -d "$(dev "d$i")"
done | sort | uniq -c | awk '{print $1 "x" $2}' > "$work/codes"
eq "$(cat "$work/codes")" "81x201" "81 devices provisioned through both"
ids() { seq -w "$1" "$2" | sed 's/^/d/' | jq -R . | jq -sc .; }

# --- the same campaign created on both, 5 trials (cancelled after each)
codes=
for t in 1 2 3 4 5; do
  body=$(jq -nc --argjson ids "$(ids 1 20)" --argjson p "$P1" '{name:"race",package:$p,filter:{ids:$ids}}')
  codes+="$(race "$(rq "$PA" POST /api/v1/campaigns "$OPS" "$body")" "$(rq "$PB" POST /api/v1/campaigns "$OPS" "$body")" | sorted),"
  eq "$(sql "SELECT COUNT(*) FROM actions WHERE state = 'assigned'") $(sql "SELECT COUNT(*) FROM (SELECT device_id FROM actions WHERE state = 'assigned' GROUP BY device_id HAVING COUNT(*) > 1) x")" "20 0" "trial $t: one open action per device"
  c=$(sql "SELECT MAX(id) FROM campaigns")
  call 200 POST "http://127.0.0.1:$PA/api/v1/campaigns/$c/cancel" "$OPS"
done
eq "$codes" "201 409,201 409,201 409,201 409,201 409," "same campaign on both: one 201, one 409"
eq "$(sql 'SELECT COUNT(*) FROM campaigns') $(sql "SELECT COUNT(*) FROM audit WHERE what = 'campaign.create'")" "5 5" "5 campaigns, 5 records"

# --- closing feedback for one action on both: success on one instance, failure on the other
body=$(jq -nc --argjson ids "$(ids 1 20)" --argjson p "$P1" '{name:"feedback",package:$p,filter:{ids:$ids},failure_threshold:100}')
call 201 POST "http://127.0.0.1:$PA/api/v1/campaigns" "$OPS" -d "$body"; CF=$(js .id)
agree=0
declare -A AID
while IFS='|' read -r d a; do AID[$d]=$a; done < <(sql "SELECT device_id, id FROM actions WHERE campaign_id = $CF")
for i in $(seq -w 1 20); do
  a=${AID[d$i]}
  curl -s -o /dev/null -w '%{http_code}\n' -H "Authorization: $(T "d$i")" "http://127.0.0.1:$PA$DDI/d$i/deploymentBase/$a"
  echo "[$(rq "$PA" POST "$DDI/d$i/deploymentBase/$a/feedback" "$(T "d$i")" "$(cur closed success)"),$(rq "$PB" POST "$DDI/d$i/deploymentBase/$a/feedback" "$(T "d$i")" "$(cur closed failure)")]" >> "$work/rounds"
done | sort | uniq -c | awk '{print $1 "x" $2}' > "$work/codes"
eq "$(cat "$work/codes")" "20x200" "20 deployments served"
race < "$work/rounds" > "$work/results"
codes=; i=0
while read -r r; do
  i=$((i + 1)); d=$(printf 'd%02d' "$i"); a=${AID[$d]}
  codes+="$(sorted <<< "$r"),"
  # the winner's outcome is the one recorded, everywhere
  want=$([ "${r%% *}" = 200 ] && echo "success 1.1.0+0 update.success" || echo "failure none update.failure")
  got=$(sql "SELECT (SELECT state FROM actions WHERE id = $a) || ' ' || (SELECT COALESCE(version, 'none') FROM devices WHERE id = '$d')
              || ' ' || (SELECT string_agg(what, ',') FROM audit WHERE object = '$d' AND what LIKE 'update.%')")
  [ "$got" = "$want" ] && agree=$((agree + 1)) || bad "$d: state, version and audit: '$got', expected '$want'"
done < "$work/results"
eq "$codes" "$(printf '200 410,%.0s' $(seq 20))" "closing feedback on both: one 200, one 410"
eq "$agree" 20 "state, version and the one audit record agree for every device"
call 200 GET "http://127.0.0.1:$PB/api/v1/campaigns/$CF" "$OPS"; eq "$(js .state)" finished "feedback campaign finished"
eq "$(sql "SELECT COUNT(*) FROM audit WHERE what = 'campaign.finish' AND object = '$CF'")" 1 "finished once"

# --- the last two devices of a step close on different instances: 15 trials of 3 devices,
# steps [66, 100] (2 devices in step 1, 1 in step 2)
: > "$work/rounds"; declare -A CAMP
for t in $(seq 0 14); do
  lo=$((21 + 3 * t))
  body=$(jq -nc --argjson ids "$(ids "$lo" $((lo + 2)))" --argjson p "$P1" '{name:"steps",package:$p,filter:{ids:$ids},steps:[66,100]}')
  call 201 POST "http://127.0.0.1:$PB/api/v1/campaigns" "$OPS" -d "$body"; CAMP[$t]=$(js .id)
done
while IFS='|' read -r d a; do AID[$d]=$a; done < <(sql "SELECT device_id, id FROM actions WHERE campaign_id >= ${CAMP[0]}")
for t in $(seq 0 14); do
  lo=$((21 + 3 * t)); d1=$(printf 'd%02d' "$lo"); d2=$(printf 'd%02d' $((lo + 1)))
  curl -s -o /dev/null -H "Authorization: $(T "$d1")" "http://127.0.0.1:$PA$DDI/$d1/deploymentBase/${AID[$d1]}"
  curl -s -o /dev/null -H "Authorization: $(T "$d2")" "http://127.0.0.1:$PB$DDI/$d2/deploymentBase/${AID[$d2]}"
  echo "[$(rq "$PA" POST "$DDI/$d1/deploymentBase/${AID[$d1]}/feedback" "$(T "$d1")" "$(cur closed success)"),$(rq "$PB" POST "$DDI/$d2/deploymentBase/${AID[$d2]}/feedback" "$(T "$d2")" "$(cur closed success)")]" >> "$work/rounds"
done
race < "$work/rounds" > "$work/results"
eq "$(sort "$work/results" | uniq -c | awk '{print $1 "x" $2 $3}')" "15x200200" "both last devices of step 1 accepted, 15 trials"
released=0
for t in $(seq 0 14); do
  c=${CAMP[$t]}; d3=$(printf 'd%02d' $((23 + 3 * t)))
  s=$(sql "SELECT step || ' ' || (SELECT COUNT(*) FROM audit WHERE what = 'campaign.step' AND object = '$c') FROM campaigns WHERE id = $c")
  curl -s -o "$work/body" -H "Authorization: $(T "$d3")" "http://127.0.0.1:$PA$DDI/$d3"
  [ "$s" = "1 1" ] && [ "$(js '._links.deploymentBase != null')" = true ] && released=$((released + 1)) || bad "trial $t: step $s"
done
eq "$released" 15 "next step released exactly once in every trial"

# --- kill -9 of one instance mid-campaign: 16 devices, half through each instance
body=$(jq -nc --argjson ids "$(ids 66 81)" --argjson p "$P1" '{name:"kill",package:$p,filter:{ids:$ids}}')
call 201 POST "http://127.0.0.1:$PA/api/v1/campaigns" "$OPS" -d "$body"; CK=$(js .id)
while IFS='|' read -r d a; do AID[$d]=$a; done < <(sql "SELECT device_id, id FROM actions WHERE campaign_id = $CK")
for i in $(seq 66 81); do
  [ $((i % 2)) -eq 0 ] && p=$PA || p=$PB
  a=${AID[d$i]}
  curl -s -o /dev/null -H "Authorization: $(T "d$i")" "http://127.0.0.1:$p$DDI/d$i/deploymentBase/$a"
  curl -s -o /dev/null -H "Authorization: $(T "d$i")" "http://127.0.0.1:$p$DDI/d$i/deploymentBase/$a/feedback" -d "$(cur proceeding none)"
  [ "$i" -lt 74 ] && curl -s -o /dev/null -H "Authorization: $(T "d$i")" "http://127.0.0.1:$p$DDI/d$i/deploymentBase/$a/feedback" -d "$(cur closed success)"
done
kill -9 "$PID_b"; wait "$PID_b" 2>/dev/null
for i in $(seq 74 81); do   # the rest, all through the surviving instance
  a=${AID[d$i]}
  call 200 POST "http://127.0.0.1:$PA$DDI/d$i/deploymentBase/$a/feedback" "$(T "d$i")" -d "$(cur closed success)"
done
call 200 GET "http://127.0.0.1:$PA/api/v1/campaigns/$CK" "$OPS"
eq "$(js '.state + " " + (.actions | to_entries | map("\(.key)=\(.value)") | join(","))')" "finished success=16" "campaign finished after kill -9"
eq "$(sql "SELECT COUNT(*) FROM devices WHERE id BETWEEN 'd66' AND 'd81' AND version = '1.1.0+0'") $(sql "SELECT COUNT(*) FROM audit WHERE what = 'update.success' AND object BETWEEN 'd66' AND 'd81'")" "16 16" "every device once"
start b; wait_up b
call 200 GET "http://127.0.0.1:$PORT_b/api/v1/campaigns/$CK" "$OPS"; eq "$(js .state)" finished "restarted instance agrees"

# --- the audit log is complete: one update record per closing feedback accepted, no other
eq "$(sql "SELECT COUNT(*) FROM audit WHERE what IN ('update.success', 'update.failure')")" "$(sql "SELECT COUNT(*) FROM actions WHERE state IN ('success', 'failure')")" "one update record per closed action"
eq "$(sql "SELECT COUNT(*) FROM audit WHERE what = 'notify.served'")" "$(sql "SELECT COUNT(*) FROM actions WHERE notified IS NOT NULL")" "one notify record per served action"

summary
