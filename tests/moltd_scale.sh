#!/usr/bin/env bash
# moltd_scale.sh - moltd's constant-time bookkeeping (issue 15), on SQLite or, with
# MOLTD_TEST_DB=postgresql://... (tests/moltd_scale_pg.sh), PostgreSQL:
#  - the base poll carries an ETag (the answer's SHA-256, first 32 hex digits); If-None-Match
#    with it is 304 without a body, and a change (a new deployment) changes it;
#  - last_seen is batched: a poll writes nothing; the flusher records it within a second or two;
#  - the per-step counters (campaign_steps) equal what a COUNT over the actions gives (the
#    oracle) after successes, failures, a pause, a cancel and a step release;
#  - every hot query is served by an index: EXPLAIN shows no table scan (SQLite: no SCAN line;
#    PostgreSQL: no Seq Scan with enable_seqscan off).
set -uo pipefail
: "${MOLT:?}" "${MOLTD:?}" "${VECTORS:?}"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

K=$VECTORS/keys; PL=$VECTORS/payloads
moltd_setup
ART=$work/artifacts
moltd_start
A="Bearer $ADMIN"
T() { echo "TargetToken tok-$1-0123456789"; }

call 201 POST "$U/signers" "$A" -d "$(jq -n --rawfile pem "$K/sign-ecdsa-p256.pub.pem" '{name:"vendor",pem:$pem}')"
call 201 POST "$U/classes" "$A" -d '{"name":"sensor","signers":["vendor"]}'
"$MOLT" sign -k "$K/sign-ecdsa-p256.pem" -v 1.0.0 -s auto -H 0x200 --pad-header -S 0x80000 "$PL/payload_A_1000.bin" "$work/p.bin" >/dev/null
call 201 POST "$U/packages?class=sensor" "$A" --data-binary "@$work/p.bin"; P=$(js .id)
for i in 1 2 3 4 5 6 7 8; do
  call 201 POST "$U/devices" "$A" -d "$(jq -n --arg id "d$i" --arg t "tok-d$i-0123456789" --rawfile ak "$K/enc-ecdsa-p256.pub.pem" '{id:$id,class:"sensor",attestation_key:$ak,token:$t}')"
done

# --- ETag on the base poll
call 200 GET "$D/d1" "$(T d1)"
e1=$(hdr ETag); eq "$e1" "\"$(sha256sum < "$work/body" | cut -c1-32)\"" "poll ETag = the answer's SHA-256"
call 304 GET "$D/d1" "$(T d1)" -H "If-None-Match: $e1"; eq "$(wc -c < "$work/body") $(hdr ETag)" "0 $e1" "304: no body, the same tag"
call 200 GET "$D/d1" "$(T d1)" -H 'If-None-Match: "0123"'; eq "$(hdr ETag)" "$e1" "another tag: 200, the body again"

# --- last_seen: no write on the poll, the flusher's within two seconds
t0=$(date +%s%3N)
call 200 GET "$D/d2" "$(T d2)"
t1=$(date +%s%3N)
seen=
for _ in $(seq 40); do seen=$(sql "SELECT last_seen FROM devices WHERE id = 'd2'"); [ -n "$seen" ] && break; sleep 0.1; done
[ -n "$seen" ] && [ "$seen" -ge "$t0" ] && [ "$seen" -le "$((t1 + 10))" ] && ok || bad "last_seen of d2 '$seen' not in [$t0, $t1]"
eq "$(sql "SELECT COUNT(*) FROM devices WHERE last_seen IS NOT NULL")" 2 "only the polled devices seen"

# --- counters against the oracle: a campaign of 8 in steps [50, 100]
call 201 POST "$U/campaigns" "$A" -d "{\"name\":\"c\",\"package\":$P,\"steps\":[50,100],\"failure_threshold\":100}"; C=$(js .id)
call 200 GET "$D/d1" "$(T d1)" -H "If-None-Match: $e1"; [ "$(hdr ETag)" != "$e1" ] && [ "$(js '._links.deploymentBase != null')" = true ] && ok || bad "a new deployment changes the ETag"
oracle() {
  sql "SELECT step || ':' || COUNT(*) || ',' || SUM(CASE WHEN state IN ('assigned','running','downloaded','cancelling') THEN 1 ELSE 0 END) || ',' || SUM(CASE WHEN state = 'failure' THEN 1 ELSE 0 END) FROM actions WHERE campaign_id = $C GROUP BY step ORDER BY step" | paste -sd' ' -
}
kept() { sql "SELECT step || ':' || total_n || ',' || open_n || ',' || failed_n FROM campaign_steps WHERE campaign_id = $C ORDER BY step" | paste -sd' ' -; }
eq "$(kept)" "0:4,4,0 1:4,4,0" "counters at creation"
aid() { sql "SELECT id FROM actions WHERE campaign_id = $C AND device_id = '$1'"; }
fb() { local a; a=$(aid "$1"); call 200 GET "$D/$1/deploymentBase/$a" "$(T "$1")"; call 200 POST "$D/$1/deploymentBase/$a/feedback" "$(T "$1")" -d "$(cur "$2" "$3")"; }
fb d1 closed success; fb d2 closed failure; fb d3 proceeding none
eq "$(kept)" "$(oracle)" "counters = oracle (success, failure, one running)"
eq "$(kept)" "0:4,2,1 1:4,4,0" "counters after two closes"
fb d4 closed success; fb d3 closed success
eq "$(sql "SELECT step FROM campaigns WHERE id = $C") $(kept)" "1 $(oracle)" "step 2 released; counters = oracle"
fb d5 proceeding none
call 200 POST "$U/campaigns/$C/cancel" "$A"
eq "$(kept)" "$(oracle)" "counters = oracle after cancel"
eq "$(kept)" "0:4,0,1 1:4,1,0" "cancel: 3 unstarted closed, one cancelling"
a5=$(aid d5)
call 200 POST "$D/d5/cancelAction/$a5/feedback" "$(T d5)" -d "$(cur closed success)"
eq "$(kept) $(oracle)" "0:4,0,1 1:4,0,0 $(oracle)" "counters = oracle after the cancel answer"

# 300 devices polled at once: more than one batch statement (200) in one flush
ak=$(jq -Rs . <"$K/enc-ecdsa-p256.pub.pem" | sed 's/[\\"]/\\&/g')
for i in $(seq -w 1 300); do
  [ -s "$work/prov.cfg" ] && { echo next >>"$work/prov.cfg"; echo next >>"$work/poll.cfg"; }
  printf 'url = "%s/devices"\nheader = "Authorization: %s"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' "$U" "$A" >>"$work/prov.cfg"
  printf 'data-binary = "{\\"id\\":\\"m%s\\",\\"class\\":\\"sensor\\",\\"attestation_key\\":%s,\\"token\\":\\"tok-m%s-0123456789\\"}"\n' "$i" "$ak" "$i" >>"$work/prov.cfg"
  printf 'url = "%s/m%s"\nheader = "Authorization: TargetToken tok-m%s-0123456789"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' "$D" "$i" "$i" >>"$work/poll.cfg"
done
command curl -s -Z --parallel-max 8 -K "$work/prov.cfg" | sort | uniq -c | awk '{print $1 "x" $2}' > "$work/codes"
eq "$(cat "$work/codes")" "300x201" "300 more devices"
command curl -s -Z --parallel-max 16 -K "$work/poll.cfg" | sort | uniq -c | awk '{print $1 "x" $2}' > "$work/codes"
eq "$(cat "$work/codes")" "300x200" "300 polls at once"
for _ in $(seq 40); do [ "$(sql "SELECT COUNT(*) FROM devices WHERE id LIKE 'm%' AND last_seen IS NOT NULL")" = 300 ] && break; sleep 0.1; done
eq "$(sql "SELECT COUNT(*) FROM devices WHERE id LIKE 'm%' AND last_seen IS NOT NULL")" 300 "all 300 seen, in batches"

# --- every hot query on an index (the SQL of moltd/*.c with literal parameters)
queries=(
  "SELECT token_hash FROM devices WHERE id = 'd1'"
  "SELECT name FROM api_tokens WHERE hash = 'h' AND role = 'gateway'"
  "SELECT name, role FROM api_tokens WHERE hash = 'h'"
  "SELECT a.id, a.state FROM actions a JOIN campaigns c ON c.id = a.campaign_id WHERE a.device_id = 'd1' AND a.state IN ('assigned', 'running', 'downloaded', 'cancelling') AND (a.state <> 'assigned' OR a.notified IS NOT NULL OR (c.state = 'running' AND a.step <= c.step AND c.start_at <= 5)) ORDER BY a.id LIMIT 1"
  "SELECT d.config_wanted, (SELECT MAX(a.id) FROM actions a WHERE a.device_id = d.id AND a.state = 'success') FROM devices d WHERE d.id = 'd1'"
  "SELECT a.id, a.state, c.id, p.id, d.enc_key FROM actions a JOIN campaigns c ON c.id = a.campaign_id JOIN packages p ON p.id = c.package_id JOIN devices d ON d.id = a.device_id WHERE a.id = 1 AND a.device_id = 'd1'"
  "SELECT COALESCE(SUM(total_n), 0), COALESCE(SUM(failed_n), 0), COALESCE(SUM(open_n), 0) FROM campaign_steps WHERE campaign_id = 1 AND step <= 0"
  "UPDATE campaign_steps SET open_n = open_n + -1, failed_n = failed_n + 0 WHERE campaign_id = 1 AND step = 0"
  "UPDATE actions SET state = 'success' WHERE id = 1 AND state = 'running'"
  "SELECT p.sha256, p.md5, p.size, p.filename FROM packages p JOIN devices d ON d.class = p.class WHERE p.id = 1 AND d.id = 'd1'"
  "SELECT id FROM packages WHERE sha256 = 'x'"
  "SELECT version, version_key, security_counter FROM packages WHERE class = 'sensor' ORDER BY version_key DESC LIMIT 1"
  "SELECT d.id, d.version, d.attributes FROM devices d WHERE d.class = 'sensor' AND (d.version IS NULL OR d.version <> '1') AND NOT EXISTS (SELECT 1 FROM actions a WHERE a.device_id = d.id AND a.state IN ('assigned', 'running', 'downloaded', 'cancelling')) ORDER BY d.id"
  "SELECT envelope FROM envelopes WHERE device_id = 'd1' AND package_id = 1"
  "SELECT nonce, expires FROM attest_challenges WHERE device_id = 'd1'"
  "SELECT id, at FROM audit WHERE id > 5 ORDER BY id LIMIT 1000"
  "UPDATE devices SET last_seen = 5 WHERE id IN ('d1', 'd2')"
)
scans=0
for q in "${queries[@]}"; do
  if [ $backend = sqlite ]; then
    plan=$(sqlite3 "$DB" "EXPLAIN QUERY PLAN $q" | grep -E '(SCAN|SEARCH) ' | grep -v -E 'SEARCH ')
  else
    plan=$(psql -X -q -tA "$DBURL" -c "SET enable_seqscan = off" -c "EXPLAIN (COSTS OFF) $q" | grep 'Seq Scan')
  fi
  [ -z "$plan" ] || { scans=$((scans + 1)); bad "a table scan in: $q -> $plan"; }
done
eq "$scans" 0 "${#queries[@]} hot queries, each on an index"

moltd_stop
summary "moltd_scale ($backend)"
