#!/usr/bin/env bash
# agent.sh - molt-agent against a real moltd on 127.0.0.1 (SQLite), on simulated
# devices: the hawkBit DDI round trip to UPDATED with the attested version recorded,
# a dropped connection resumed with HTTP Range from psa_fwu_query's offset, a power
# cut during the activation then the power coming back, a health-check failure
# reverted with failure feedback, cancels between and during downloads, and a rogue
# mirror (moltd --artifact-base-url):
# an oversized copy is never taken beyond the declared size, a tampered copy is
# refused by the device at finish; an encrypted package taken by devices with
# their own key envelopes (staging holds only ciphertext), refused by a device
# whose key store is not the one its envelope was made for; an unreachable server:
# back-off delays that grow within their documented jitter ranges, then giving up.
# With MOLTD_TEST_DB=postgresql://... (tests/agent_pg.sh)
# the same test runs on PostgreSQL.
#   R-NOTIFY: the campaign's message is shown before the download starts.
#   R-BACKGROUND: the download resumes from the device's own progress record.
#   R-ATTEST: every update ends with a fresh token verified by moltd.
#   R-EASY: one command per device, no operator step on the device.
set -uo pipefail
: "${MOLT:?}" "${MOLTD:?}" "${MOLT_AGENT:?}"
work=$(mktemp -d)
pid=; mpid=
cleanup() {
  for p in $pid $mpid; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
pass=0; fail=0
curl() { command curl --max-time 30 "$@"; }
ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
eq() { [ "$1" == "$2" ] && ok || bad "$3: got '$1', expected '$2'"; }
evq() { jq -rs "$2" "$1"; }   # evq FILE FILTER: a jq filter over the array of one run's events (--events FILE)
step() { "$@" >"$work/out" 2>&1 && ok || bad "$* -> $(cat "$work/out")"; }
cd "$work"

# --- keys, firmware v1 and v2 (swap mode, 64 KiB slots)
step "$MOLT" keygen -t ecdsa-p256 -k vendor.pem
step "$MOLT" getpub -k vendor.pem -e pem -o vendor.pub
head -c 24576 /dev/urandom > fw1.bin; head -c 28000 /dev/urandom > fw2.bin
step "$MOLT" sign -k vendor.pem -v 1.0.0+1 -s auto -H 0x200 --pad-header -S 0x10000 --align 8 fw1.bin v1.img
step "$MOLT" sign -k vendor.pem -v 2.0.0 -s auto -H 0x200 --pad-header -S 0x10000 --align 8 fw2.bin v2.img
V2SIZE=$(stat -c %s v2.img)

ADMIN=admin-token-0123456789abcdef; printf '%s\n' "$ADMIN" > admin.token
DBURL=${MOLTD_TEST_DB:-sqlite:moltd.db}
case $DBURL in
  postgresql://*) sql() { psql -X -q -tA "$DBURL" -c "$1"; } ;;
  *)              sql() { sqlite3 moltd.db "$1"; } ;;
esac
start() {  # start [options]: moltd on an ephemeral port; sets pid, S, U
  "$MOLTD" --db "$DBURL" --port 0 --artifact-dir art --admin-token-file admin.token --poll-sleep 1 "$@" >moltd.log 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q listening moltd.log && break; sleep 0.05; done
  port=$(sed -n 's/^moltd: listening on http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' moltd.log)
  [ -n "$port" ] || { echo "moltd did not start: $(cat moltd.log)"; exit 1; }
  S=http://127.0.0.1:$port; U=$S/api/v1
}
start
A="Authorization: Bearer $ADMIN"
api() { curl -s -H "$A" "$@"; }
api -d "$(jq -n --rawfile p vendor.pub '{name:"vendor",pem:$p}')" "$U/signers" >/dev/null
api -d '{"name":"sensor","signers":["vendor"]}' "$U/classes" >/dev/null
eq "$(api --data-binary @v1.img "$U/packages?class=sensor&filename=v1.img" | jq -r .version)" 1.0.0+1 "upload v1"
api --data-binary @v2.img "$U/packages?class=sensor&filename=v2.img" > p2.json
eq "$(jq -r .version p2.json)" 2.0.0+0 "upload v2"

declare -A TOK
for d in d1 d2 d3 d4; do
  step "$MOLT" sim create -f $d.sim --sector-size 4096 --slot-sectors 16 --align 8
  step "$MOLT" sim write -f $d.sim --slot primary v1.img
  step "$MOLT" sim iak -f $d.sim -o $d.iak
  TOK[$d]=$(api -d "$(jq -n --arg id $d --rawfile ak $d.iak '{id:$id,class:"sensor",attestation_key:$ak}')" "$U/devices" | jq -r .token)
done
# the message goes through moltd's JSON, the deployment and the agent's event stream: quotes, a
# backslash, a tab and non-ASCII must arrive exactly as sent
MSG=$'Update to 2.0.0 tonight: the sensor restarts once \u2014 "v2", C:\\fw\tready'
api -d "$(jq -n --argjson p "$(jq .id p2.json)" --arg m "$MSG" '{name:"v2",package:$p,message:$m}')" "$U/campaigns" > c.json
cid=$(jq -r .id c.json); eq "$(jq -r .targets c.json)" 4 "campaign targets"

# the agent's events (docs/agent.md) go to $d.ev, one file per device, rewritten by every run
agent() { local d=$1; shift; "$MOLT_AGENT" -f $d.sim -k vendor.pub --server "$S" --id $d --token "${TOK[$d]}" --backoff-ms 50 --max-sleep 1 --events $d.ev "$@"; }
dev() { api "$U/devices/$1" | jq -r "$2"; }
simver() { "$MOLT" sim state -f $1.sim -k vendor.pub --json | jq -r '.would_boot | "\(.version) \(.trial)"'; }

# --- d1: the round trip to UPDATED, attested
agent d1 --once --health-cmd 'test "$MOLT_VERSION" = 2.0.0+0 && test "$MOLT_DEVICE" = d1' > d1.log 2>&1; eq "$?" 0 "d1 exit"
eq "$(evq d1.ev '.[] | select(.event == "health") | "\(.ok) \(.status) \(.version) \(.command)"')" \
   'true 0 2.0.0+0 test "$MOLT_VERSION" = 2.0.0+0 && test "$MOLT_DEVICE" = d1' "d1 health command"
eq "$(evq d1.ev '.[] | select(.event == "offer") | "\(.from) \(.to) \(.continued) \(.message)"')" "1.0.0+1 2.0.0+0 false $MSG" "d1 offer and message"
eq "$(evq d1.ev '[.[].event] | (index("offer") // 1e9) < (index("download_start") // -1)')" true "R-NOTIFY: the message before the download"
eq "$(evq d1.ev '[.[] | select(.event == "download_progress")] | last | "\(.offset)/\(.size) \(.percent)"')" "$V2SIZE/$V2SIZE 100" "d1 full download"
eq "$(evq d1.ev '.[] | select(.event == "feedback_sent" and .execution == "closed") | "\(.finished): \(.detail)"')" \
   "success: 2.0.0+0 running, health check passed, accepted; security counter 33554432" "d1 feedback"
eq "$(dev d1 '"\(.version) \(.attested_version) \(.action.state)"')" "2.0.0+0 2.0.0+0 success" "d1 in moltd"
eq "$(simver d1)" "2.0.0+0 false" "d1 runs v2 confirmed"
eq "$(sql "SELECT attested_hash FROM devices WHERE id = 'd1'")" "$("$MOLT" inspect --json v2.img | jq -r .hash.value)" "d1 attested hash"

# --- d2: the connection drops after 10000 bytes; the download resumes at psa_fwu_query's offset
agent d2 --once --drop-after 10000 > d2.log 2>&1; eq "$?" 0 "d2 exit"
eq "$(evq d2.ev '.[] | select(.event == "download_interrupted") | "\(.reason) \(.offset)"')" "dropped 10000" "d2 drop"
eq "$(evq d2.ev '[.[] | select(.event == "download_start") | "\(.resume) \(.offset) \(.size)"] | join(", ")')" \
   "false 0 $V2SIZE, true 10000 $V2SIZE" "d2 resumes at the drop"
eq "$(evq d2.ev '[.[] | select(.event == "backoff") | .errors] | join(" ")')" 1 "d2 back-off"
eq "$(dev d2 '"\(.version) \(.attested_version) \(.action.state)"')" "2.0.0+0 2.0.0+0 success" "d2 in moltd"

# --- d4: a power cut in the middle of the activation; the next power-on completes it
agent d4 --once --power-cut-at 20 > d4a.log 2>&1; eq "$?" 3 "d4 power cut exit"
eq "$(evq d4.ev '.[] | select(.event == "power_cut") | .at')" 20 "d4 cut"
eq "$(dev d4 .action.state)" running "d4 action open after the cut"
agent d4 --once > d4b.log 2>&1; eq "$?" 0 "d4 exit after the power comes back"
eq "$(evq d4.ev 'first(.[] | select(.event == "boot")) | "\(.running) \(.trial) \(.resumed)"')" "2.0.0+0 true true" "d4 resume"
eq "$(dev d4 '"\(.version) \(.attested_version) \(.action.state)"')" "2.0.0+0 2.0.0+0 success" "d4 in moltd"
eq "$(simver d4)" "2.0.0+0 false" "d4 runs v2 confirmed"

# --- d3: v2 fails its health check: rejected, reverted, failure feedback with the reason
agent d3 --once --health-fail > d3.log 2>&1; eq "$?" 0 "d3 exit"
eq "$(evq d3.ev '[.[] | select(.event == "reject" or .event == "revert") | "\(.event) \(.version // .running)"] | join(", ")')" \
   "reject 2.0.0+0, revert 1.0.0+1" "d3 rejected and reverted"
eq "$(dev d3 '"\(.version) \(.attested_version) \(.action.state)"')" "null 1.0.0+1 failure" "d3 in moltd"
eq "$(simver d3)" "1.0.0+1 false" "d3 back on v1"
eq "$(api "$U/audit" | jq -r '.[] | select(.what == "update.failure" and .object == "d3") | .detail')" \
   "health check failed (--health-fail) on 2.0.0+0; rejected; FWU_REVERTED; running 1.0.0+1" "d3 failure detail"
# one token per device after its update (d4: its first power-on ended in the cut)
eq "$(api "$U/audit" | jq -r '[.[] | select(.what == "attest.verified") | .object] | join(" ")')" "d1 d2 d4 d3" "attestations recorded"

# --- a second run finds nothing to do and leaves the device as it is
agent d1 --once > d1b.log 2>&1; eq "$?" 0 "d1 second run"
eq "$(evq d1.ev '[.[] | select(.event == "offer")] | length')" 0 "d1 not offered again"
# --events - with --quiet: stdout is the event stream alone, one object per line, in order
agent d1 --once --quiet --events - > d1c.out 2>d1c.err; eq "$?" 0 "d1 third run (events on stdout)"
eq "$(jq -c . d1c.out | wc -l) $(wc -l < d1c.out) $(wc -c < d1c.err)" "6 6 0" "stdout: 6 lines, each one JSON object; nothing on stderr"
eq "$(jq -rs '[.[].event] | join(" ")' d1c.out)" "reboot boot poll attest connections exit" "d1 third run: the events of a quiet poll"
eq "$(jq -rs '[.[].device] | unique | join(" ")' d1c.out) $(jq -rs '[.[].t] | . == sort' d1c.out)" "d1 true" "every event names the device; t never goes back"
eq "$(jq -rs '.[] | select(.event == "attest") | "\(.ok) \(.stage) \(.status)"' d1c.out)" "true verify 200" "d1 attested"
eq "$(simver d1)" "2.0.0+0 false" "d1 unchanged"
eq "$(api "$U/campaigns/$cid" | jq -r .state)" finished "campaign finished"

# --- a rogue mirror: moltd redirects downloads to a static server (R-ONEPKG: the mirror is untrusted)
SHA=$(jq -r .sha256 p2.json)
mkdir mirror
{ cat v2.img; head -c 100 /dev/zero; } > mirror/$SHA              # first: 100 bytes too many
python3 -u -m http.server 0 --bind 127.0.0.1 --directory mirror > mirror.log 2>&1 & mpid=$!
for _ in $(seq 100); do grep -q port mirror.log && break; sleep 0.05; done
mport=$(sed -nE 's/.*port ([0-9]+).*/\1/p' mirror.log | head -1)
kill "$pid"; wait "$pid" 2>/dev/null
start --artifact-base-url "http://127.0.0.1:$mport"
step "$MOLT" sim create -f d5.sim --sector-size 4096 --slot-sectors 16 --align 8
step "$MOLT" sim write -f d5.sim --slot primary v1.img
step "$MOLT" sim iak -f d5.sim -o d5.iak
TOK[d5]=$(api -d "$(jq -n --rawfile ak d5.iak '{id:"d5",class:"sensor",attestation_key:$ak}')" "$U/devices" | jq -r .token)
api -d "$(jq -n --argjson p "$(jq .id p2.json)" '{name:"mirror",package:$p,filter:{ids:["d5"]}}')" "$U/campaigns" > c5.json
eq "$(jq -r .targets c5.json)" 1 "mirror campaign targets"
agent d5 --once --max-errors 2 > d5a.log 2>&1; eq "$?" 4 "d5 gives up on the oversized mirror"
eq "$(evq d5.ev "[.[] | select(.event == \"download_interrupted\" and .reason == \"oversize\" and .size == $V2SIZE)] | length")" 2 "d5 oversize refused twice"
eq "$(evq d5.ev '.[] | select(.event == "give_up") | .errors')" 2 "d5 give up"
cp v2.img mirror/$SHA; printf '\x5a' | dd of=mirror/$SHA bs=1 seek=8192 conv=notrunc status=none   # now: tampered
agent d5 --once > d5b.log 2>&1; eq "$?" 0 "d5 exit"
eq "$(evq d5.ev '.[] | select(.event == "verify") | "\(.ok) \(.status) \(.error)"')" "false INVALID_SIGNATURE HASH_MISMATCH" "d5 tampered"
eq "$(dev d5 '"\(.version) \(.attested_version) \(.action.state)"')" "null 1.0.0+1 failure" "d5 in moltd"
eq "$(simver d5)" "1.0.0+1 false" "d5 still on v1"
eq "$(api "$U/audit" | jq -r '.[] | select(.what == "update.failure" and .object == "d5") | .detail')" \
   "the device refused the package at finish: INVALID_SIGNATURE (HASH_MISMATCH)" "d5 failure detail"

# --- cancel: a download interrupted, the campaign cancelled, the device stops and cleans up
kill "$mpid"; wait "$mpid" 2>/dev/null; mpid=
kill "$pid"; wait "$pid" 2>/dev/null
start
step "$MOLT" sim create -f d6.sim --sector-size 4096 --slot-sectors 16 --align 8
step "$MOLT" sim write -f d6.sim --slot primary v1.img
step "$MOLT" sim iak -f d6.sim -o d6.iak
TOK[d6]=$(api -d "$(jq -n --rawfile ak d6.iak '{id:"d6",class:"sensor",attestation_key:$ak}')" "$U/devices" | jq -r .token)
c6=$(api -d "$(jq -n --argjson p "$(jq .id p2.json)" '{name:"cancel",package:$p,filter:{ids:["d6"]}}')" "$U/campaigns" | jq -r .id)
agent d6 --once --drop-after 5000 --max-errors 1 > d6a.log 2>&1; eq "$?" 4 "d6 stops after the drop"
eq "$(dev d6 .action.state)" running "d6 started"
eq "$(api -X POST "$U/campaigns/$c6/cancel" | jq -r .state)" cancelled "campaign cancelled"
eq "$(dev d6 .action.state)" cancelling "d6 asked to stop"
agent d6 --once > d6b.log 2>&1; eq "$?" 0 "d6 exit"
eq "$(evq d6.ev '.[] | select(.event == "cancel") | "\(.result) \(.action | test("^[0-9]+$"))"')" "done true" "d6 cancel"
eq "$(dev d6 '"\(.version) \(.attested_version) \(.action.state)"')" "null 1.0.0+1 cancelled" "d6 in moltd"
eq "$(simver d6)" "1.0.0+1 false" "d6 still on v1"

# --- cancel during a (slow, background) download: the agent keeps polling and stops the download
step "$MOLT" sim create -f d7.sim --sector-size 4096 --slot-sectors 16 --align 8
step "$MOLT" sim write -f d7.sim --slot primary v1.img
step "$MOLT" sim iak -f d7.sim -o d7.iak
TOK[d7]=$(api -d "$(jq -n --rawfile ak d7.iak '{id:"d7",class:"sensor",attestation_key:$ak}')" "$U/devices" | jq -r .token)
c7=$(api -d "$(jq -n --argjson p "$(jq .id p2.json)" '{name:"cancel2",package:$p,filter:{ids:["d7"]}}')" "$U/campaigns" | jq -r .id)
agent d7 --once --rate 4000 > d7.log 2>&1 & apid=$!
for _ in $(seq 100); do [ "$(dev d7 .action.state)" = running ] && break; sleep 0.05; done
eq "$(api -X POST "$U/campaigns/$c7/cancel" | jq -r .state)" cancelled "campaign cancelled during the download"
wait $apid; eq "$?" 0 "d7 exit"
eq "$(evq d7.ev '[.[] | select(.event == "cancel") | .result] | unique | join(" ")')" "done stopping_download" "d7 stops the download, then cancels"
eq "$(evq d7.ev '[.[] | select(.event == "download_interrupted") | .reason] | join(" ")')" cancelled "d7 download cancelled"
eq "$(evq d7.ev '[.[] | select(.event == "download_done")] | length')" 0 "d7 did not download everything"
eq "$(dev d7 .action.state)" cancelled "d7 cancelled"
eq "$(simver d7)" "1.0.0+1 false" "d7 still on v1"

# --- an encrypted package (R-CONF, R-ONEPKG, R-CHANNEL): one ciphertext for the class,
# a key envelope for each device, fetched before the download; staging holds ciphertext only
kill "$pid"; wait "$pid" 2>/dev/null
openssl rand -hex 32 > kek
start --kek-file kek
step "$MOLT" keygen -t x25519 -k fleet.pem; "$MOLT" getpub -k fleet.pem -e pem > fleet.pub   # no device holds it
head -c 30000 /dev/urandom > fw3.bin
step "$MOLT" sign -k vendor.pem -v 3.0.0 -s auto -H 0x200 --pad-header -S 0x10000 --align 8 \
  -E fleet.pub --save-content-key v3.key fw3.bin v3.img
api -H "X-Molt-Content-Key: $(xxd -p -c 64 v3.key)" --data-binary @v3.img "$U/packages?class=sensor&filename=v3.img" > p3.json
eq "$(jq -r '.version + " " + .encryption' p3.json)" "3.0.0+0 aes-128-ctr" "upload the encrypted v3"
step "$MOLT" keygen -t x25519 -k e1.pem; step "$MOLT" keygen -t ecdsa-p256 -k e2.pem
step "$MOLT" keygen -t x25519 -k e3.pem; step "$MOLT" keygen -t x25519 -k e3.stolen.pem
step "$MOLT" keygen -t x25519 -k e4.pem
for d in e1 e2 e3 e4; do
  "$MOLT" getpub -k $d.pem -e pem > $d.pub
  step "$MOLT" sim create -f $d.sim --sector-size 4096 --slot-sectors 16 --align 8
  step "$MOLT" sim write -f $d.sim --slot primary v1.img
  step "$MOLT" sim iak -f $d.sim -o $d.iak
  TOK[$d]=$(api -d "$(jq -n --arg id $d --rawfile ak $d.iak --rawfile ek $d.pub '{id:$id,class:"sensor",attestation_key:$ak,encryption_key:$ek}')" "$U/devices" | jq -r .token)
done
api -d "$(jq -n --argjson p "$(jq .id p3.json)" '{name:"v3",package:$p,filter:{ids:["e1","e2","e3","e4"]}}')" "$U/campaigns" > c3.json
eq "$(jq -r .targets c3.json)" 4 "encrypted campaign targets"
# e1: the connection drops mid-download; what the staging slot holds is ciphertext
agent e1 --enc-key e1.pem --require-encryption --once --drop-after 12000 --max-errors 1 > e1a.log 2>&1; eq "$?" 4 "e1 stops after the drop"
eq "$(evq e1.ev '.[] | select(.event == "envelope") | "\(.ok) \(.bytes)"')" "true 120" "e1 envelope"
eq "$(evq e1.ev '[.[].event] | (index("envelope") // 1e9) < (index("download_start") // -1)')" true "the envelope comes before the download"
eq "$(ls e1.sim.envelopes)" "$(xxd -p -c 64 -s 8 -l 32 e1.sim.envelopes/*.env).env" "e1's envelope kept, named by the image hash it is bound to"
eq "$(xxd -p -c 64 -s 8 -l 32 e1.sim.envelopes/*.env)" "$("$MOLT" inspect --json v3.img | jq -r '.unprotected_tlvs[] | select(.name == "SHA256") | .value')" "bound to v3's hash TLV"
python3 - e1.sim v3.img fw3.bin <<'PY' && ok || bad "staging after the drop: ciphertext, never plaintext"
import sys
dev, img, fw = (open(f, 'rb').read() for f in sys.argv[1:])
hdr = 0x200
cipher = img[hdr + 4096:hdr + 4096 + 64]               # a ciphertext block below the 12000 bytes received
assert cipher in dev, "the received ciphertext is not in the device"
for off in range(0, 12000 - hdr - 16, 16):              # no 16-byte plaintext block of what was received
    assert fw[off:off + 16] not in dev, "plaintext at payload offset %d" % off
PY
agent e1 --enc-key e1.pem --require-encryption --once > e1b.log 2>&1; eq "$?" 0 "e1 exit"
eq "$(evq e1.ev '.[] | select(.event == "feedback_sent" and .execution == "closed") | "\(.finished): \(.detail)"')" \
   "success: 3.0.0+0 running, health check passed, accepted; security counter 50331648" "e1 feedback"
eq "$(dev e1 '"\(.version) \(.attested_version) \(.action.state)"')" "3.0.0+0 3.0.0+0 success" "e1 in moltd"
eq "$(simver e1)" "3.0.0+0 false" "e1 runs v3 confirmed"
# e2 (P-256): the same package bytes, its own envelope
agent e2 --enc-key e2.pem --once > e2.log 2>&1; eq "$?" 0 "e2 exit"
eq "$(evq e2.ev '.[] | select(.event == "envelope") | "\(.ok) \(.bytes)"')" "true 153" "e2 envelope"
eq "$(dev e2 '"\(.version) \(.attested_version) \(.action.state)"')" "3.0.0+0 3.0.0+0 success" "e2 in moltd"
cmp -s e1.sim.envelopes/*.env e2.sim.envelopes/*.env && bad "e1 and e2 got the same envelope" || ok
# e3: its envelope, but a key store with another key (a device that is not e3): refused at finish
agent e3 --enc-key e3.stolen.pem --once > e3.log 2>&1; eq "$?" 0 "e3 exit"
eq "$(evq e3.ev '.[] | select(.event == "verify") | "\(.ok) \(.status) \(.error)"')" "false INVALID_SIGNATURE ENV_AUTH" "e3 refused at finish"
eq "$(dev e3 '"\(.attested_version) \(.action.state)"')" "1.0.0+1 failure" "e3 in moltd"
eq "$(simver e3)" "1.0.0+1 false" "e3 still on v1"
# e4: no key store at all: refused before any download
agent e4 --once > e4.log 2>&1; eq "$?" 0 "e4 exit"
eq "$(evq e4.ev '.[] | select(.event == "feedback_sent") | "\(.execution) \(.finished): \(.detail)"')" \
   "closed failure: an encrypted package, and this device has no key store (--enc-key)" "e4 refused"
eq "$(evq e4.ev '[.[] | select(.event == "error") | .code] | join(" ")')" no_keystore "e4 error code"
eq "$(evq e4.ev '[.[] | select(.event == "download_start")] | length')" 0 "e4 did not download"
eq "$(sql "SELECT COUNT(*) FROM envelopes")" 3 "three envelopes issued (e1, e2, e3)"
eq "$(api "$U/audit" | jq -r '[.[] | select(.what == "envelope.issued") | .object] | join(" ")')" "e1 e2 e3" "envelopes audited once each"
# --require-encryption (PSA_FWU_FLAG_ENCRYPTION): an unencrypted package is refused at finish
step "$MOLT" keygen -t x25519 -k e5.pem; "$MOLT" getpub -k e5.pem -e pem > e5.pub
step "$MOLT" sim create -f e5.sim --sector-size 4096 --slot-sectors 16 --align 8
step "$MOLT" sim write -f e5.sim --slot primary v1.img
step "$MOLT" sim iak -f e5.sim -o e5.iak
TOK[e5]=$(api -d "$(jq -n --rawfile ak e5.iak --rawfile ek e5.pub '{id:"e5",class:"sensor",attestation_key:$ak,encryption_key:$ek}')" "$U/devices" | jq -r .token)
api -d "$(jq -n --argjson p "$(jq .id p2.json)" '{name:"plain-to-e5",package:$p,filter:{ids:["e5"]}}')" "$U/campaigns" >/dev/null
agent e5 --enc-key e5.pem --require-encryption --once > e5.log 2>&1; eq "$?" 0 "e5 exit"
eq "$(evq e5.ev '.[] | select(.event == "verify") | "\(.ok) \(.status) \(.error)"')" "false NOT_PERMITTED ENC_REQUIRED" "e5 refused at finish"
eq "$(simver e5)" "1.0.0+1 false" "e5 still on v1"
"$MOLT_AGENT" -f e5.sim -k vendor.pub --server "$S" --id e5 --token x --require-encryption > /dev/null 2> err; eq "$?" 2 "--require-encryption alone exit"
grep -qx "molt-agent: --require-encryption needs --enc-key (the device's decryption key)" err && ok || bad "require msg: $(cat err)"

# ==== fleet-extras: back-off delays (begin) ====
# Nothing listens on 127.0.0.1:1: every poll is an error. agent/main.c backoff(): the delay
# after error k is base * 2^(k-1) times a random factor in [0.5, 1), so with --backoff-ms 50
# errors 1, 2, 3 wait [25, 50), [50, 100), [100, 200) ms: disjoint ranges, each delay above the
# last; the run lasts at least their sum; the 4th error gives up (exit 4).
cp d1.sim d8.sim
t0=$(date +%s%3N)
"$MOLT_AGENT" -f d8.sim -k vendor.pub --server http://127.0.0.1:1 --id d8 --token none --backoff-ms 50 \
              --max-sleep 1 --once --max-errors 4 --events d8.ev > d8.log 2>&1; eq "$?" 4 "d8 gives up when unreachable"
t1=$(date +%s%3N)
mapfile -t bo < <(evq d8.ev '.[] | select(.event == "backoff") | "\(.errors) \(.ms)"')
eq "${#bo[@]} $(evq d8.ev "[.[] | select(.event == \"error\" and .code == \"transport\" and .url == \"http://127.0.0.1:1/DEFAULT/controller/v1/d8\" and .detail == \"Couldn't connect to server\")] | length")" "3 4" "d8: 4 errors, 3 back-offs"
prev=-1; sum=0
for n in 0 1 2; do
  read -r err ms <<< "${bo[$n]:-x -1}"; hi=$((50 << n))
  [ "$err" == $((n + 1)) ] && [ "$ms" -ge $((hi / 2)) ] && [ "$ms" -lt "$hi" ] && ok \
    || bad "d8 back-off $((n + 1)): '${bo[$n]:-}', expected error $((n + 1)) and a delay in [$((hi / 2)), $hi) ms"
  [ "$ms" -gt "$prev" ] && ok || bad "d8 back-off $((n + 1)): $ms ms is not above the previous $prev ms"
  prev=$ms; sum=$((sum + ms))
done
[ $((t1 - t0)) -ge "$sum" ] && ok || bad "d8 ran $((t1 - t0)) ms, less than its back-offs ($sum ms)"
eq "$(evq d8.ev '.[] | select(.event == "give_up") | .errors')" 4 "d8 give up"
eq "$(evq d8.ev 'last | "\(.event) \(.code)"')" "exit 4" "d8's last event: the exit code"
# ==== fleet-extras: back-off delays (end) ====

# --- bad options: one line, exit 2
"$MOLT_AGENT" -f nosuch.sim -k vendor.pub --server "$S" --id x --token y > /dev/null 2> err; eq "$?" 2 "missing device exit"
eq "$(wc -l < err)" 1 "one-line error"
"$MOLT_AGENT" -f d1.sim --server "$S" --id x --token y > /dev/null 2> err; eq "$?" 2 "no key exit"
grep -qx "molt-agent: -k PUB is required (the device's trusted signing keys)" err && ok || bad "no key msg: $(cat err)"
"$MOLT_AGENT" -f d1.sim -k vendor.pub --server "$S" --id x --token y --events nosuch/dir/ev > /dev/null 2> err; eq "$?" 2 "bad --events exit"
eq "$(cat err)" "molt-agent: nosuch/dir/ev: No such file or directory" "bad --events msg"
"$MOLT_AGENT" --help > out 2> err; eq "$?" 0 "--help exit"
eq "$(head -c 18 out) $(wc -c < err)" "usage: molt-agent  0" "--help: the usage on stdout, nothing on stderr"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
