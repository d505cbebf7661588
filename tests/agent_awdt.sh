#!/usr/bin/env bash
# agent_awdt.sh - updates an attacker cannot block, end to end (R-AVAIL, issue 12):
# moltd signs deferral tickets (--ticket-key, a class policy), molt-agent asks for them
# on devices whose watchdog is provisioned with moltd's ticket key, and two devices
# whose application is the attacker are brought to the new version by their watchdog:
#   ignore  the application ignores the deployment and never asks for a ticket;
#   drop    the application drops the deployment; its ticket requests are refused
#           (OUTDATED) once the release is past its grace.
# Device time runs 10 s per second the agent sleeps (--time-scale 10); a ticket grants 30 s.
# Each device's watchdog fires at its deadline, the recovery boot runs only the
# updater, which installs the release (trial, health check, accept) and restarts; the
# confirmed image leaves recovery and moltd records the attested version.
set -uo pipefail
: "${MOLT:?}" "${MOLTD:?}" "${MOLT_AGENT:?}"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
has() { grep -q -- "$2" "$1" && ok || bad "$3: no '$2' in $(cat "$1")"; }
before() { local x y; x=$(grep -n -- "$2" "$1" | head -1 | cut -d: -f1); y=$(grep -n -- "$3" "$1" | tail -1 | cut -d: -f1)
  [ -n "$x" ] && [ -n "$y" ] && [ "$x" -lt "$y" ] && ok || bad "$4: '$2' (line $x) not before '$3' (line $y)"; }
cd "$work"

step "$MOLT" keygen -t ecdsa-p256 -k vendor.pem
step "$MOLT" getpub -k vendor.pem -e pem -o vendor.pub
openssl ecparam -name prime256v1 -genkey -noout -out ticket.pem 2>/dev/null
head -c 12000 /dev/urandom > fw1.bin; head -c 14000 /dev/urandom > fw2.bin
step "$MOLT" sign -k vendor.pem -v 1.0.0+1 -s auto -H 0x200 --pad-header -S 0x10000 --align 8 fw1.bin v1.img
step "$MOLT" sign -k vendor.pem -v 2.0.0 -s auto -H 0x200 --pad-header -S 0x10000 --align 8 fw2.bin v2.img

moltd_setup sqlite
moltd_start --poll-sleep 1 --ticket-key ticket.pem
api() { curl -s -H "Authorization: Bearer $ADMIN" "$@"; }
api -d "$(jq -n --rawfile p vendor.pub '{name:"vendor",pem:$p}')" "$U/signers" >/dev/null
api -d '{"name":"sensor","signers":["vendor"]}' "$U/classes" >/dev/null
api -X PUT -d '{"seconds":30,"boots":50,"grace":0}' "$U/classes/sensor/ticketpolicy" >/dev/null
api "$U/ticketkey" | jq -r .pem > ticket.pub
eq "$(openssl ec -pubin -in ticket.pub -outform DER 2>/dev/null | sha256sum)" \
   "$(openssl ec -in ticket.pem -pubout -outform DER 2>/dev/null | sha256sum)" "moltd serves its ticket key's public part"
eq "$(api --data-binary @v1.img "$U/packages?class=sensor&filename=v1.img" | jq -r .version)" 1.0.0+1 "upload v1"

declare -A TOK
for d in honest ignore drop; do
  step "$MOLT" sim create -f $d.sim --sector-size 4096 --slot-sectors 16 --align 8
  step "$MOLT" sim write -f $d.sim --slot primary v1.img
  step "$MOLT" sim iak -f $d.sim -o $d.iak
  # the factory: the watchdog with moltd's ticket key, a first deadline of 30 device seconds
  step "$MOLT" sim watchdog -f $d.sim --ticket-key ticket.pub --seconds 30 --boots 50 --max-seconds 60 \
       --max-boots 100 --exit-seconds 30 --exit-boots 50
  TOK[$d]=$(api -d "$(jq -n --arg id $d --rawfile ak $d.iak '{id:$id,class:"sensor",attestation_key:$ak}')" "$U/devices" | jq -r .token)
done
agent() { local d=$1; shift; "$MOLT_AGENT" -f $d.sim -k vendor.pub --server "$S" --id $d --token "${TOK[$d]}" \
  --backoff-ms 50 --max-sleep 1 --tickets --time-scale 10 "$@"; }
status() { "$MOLT" sim watchdog -f $1.sim --status --json | jq -r "$2"; }

# --- before the release every device is current: tickets keep the deadline ahead
for d in honest ignore drop; do
  agent $d --max-polls 2 > $d.0.log 2>&1; eq "$?" 0 "$d: first run"
  has $d.0.log "^$d: ticket: accepted; deadline at device time" "$d ticket before the release"
  eq "$(status $d .recovery)" false "$d not in recovery"
done
eq "$(api "$U/audit" | jq '[.[] | select(.what == "ticket.issued")] | length')" 6 "six tickets issued, each audited"

# --- the release: v2 for all three, no grace
api --data-binary @v2.img "$U/packages?class=sensor&filename=v2.img" > p2.json
eq "$(jq -r .version p2.json)" 2.0.0+0 "upload v2"
api -d "$(jq -n --argjson p "$(jq .id p2.json)" '{name:"v2",package:$p}')" "$U/campaigns" > c.json
eq "$(jq -r .targets c.json)" 3 "campaign targets"
sleep 1.1   # past the grace of 0 s in moltd's own time

# honest: updates at its next poll, never in recovery
agent honest --until-update --max-polls 5 > honest.log 2>&1; eq "$?" 0 "honest exit"
has honest.log "^honest: feedback: success" "honest updated"
grep -q "RECOVERY" honest.log && bad "honest went to recovery: $(cat honest.log)" || ok

# ignore: the application ignores v2 and asks for nothing; the watchdog takes over
agent ignore --block ignore --until-update --max-polls 30 > ignore.log 2>&1; eq "$?" 0 "ignore exit"
has ignore.log "^ignore: deployment ignored by the application (--block ignore)" "ignore ignores"
grep -q "^ignore: ticket:" ignore.log && bad "ignore asked for a ticket outside recovery" || ok
has ignore.log "^ignore: the hardware watchdog fired at device time" "ignore: the watchdog fired"
has ignore.log "^ignore: boot: RECOVERY" "ignore: recovery boot"
has ignore.log "^ignore: feedback: success (2.0.0+0 running, health check passed, accepted" "ignore: updated in recovery"
has ignore.log "^ignore: update accepted in recovery: restart to leave it" "ignore: restart to leave"
before ignore.log "boot: RECOVERY" "feedback: success" "ignore: recovery before the update"
eq "$(grep "^ignore: boot:" ignore.log | tail -n 1)" "ignore: boot: running 2.0.0+0 (confirmed)" "ignore: the last boot is normal, on v2"

# drop: tickets asked and refused (OUTDATED) while the application drops v2
agent drop --block drop --until-update --max-polls 30 > drop.log 2>&1; eq "$?" 0 "drop exit"
has drop.log "^drop: deployment dropped by the application (--block drop)" "drop drops"
has drop.log '^drop: ticket: refused by moltd (HTTP 403 .*"reason":"OUTDATED"' "drop: tickets refused as OUTDATED"
has drop.log "^drop: boot: RECOVERY" "drop: recovery boot"
has drop.log "^drop: feedback: success (2.0.0+0 running, health check passed, accepted" "drop: updated in recovery"
eq "$(grep "^drop: boot:" drop.log | tail -n 1)" "drop: boot: running 2.0.0+0 (confirmed)" "drop: the last boot is normal, on v2"

# --- afterwards: every device on v2, attested, out of recovery, in good standing again
for d in honest ignore drop; do
  eq "$(api "$U/devices/$d" | jq -r '"\(.attested_version) \(.action.state)"')" "2.0.0+0 success" "$d in moltd"
  eq "$(status $d .recovery)" false "$d out of recovery"
  eq "$("$MOLT" sim state -f $d.sim -k vendor.pub --json | jq -r '.would_boot | "\(.version) \(.trial) \(.recovery)"')" \
     "2.0.0+0 false false" "$d boots v2 confirmed, normally"
  agent $d --once > $d.9.log 2>&1; eq "$?" 0 "$d: a run afterwards"
  has $d.9.log "^$d: ticket: accepted" "$d gets tickets again"
done
eq "$(api "$U/audit" | jq '[.[] | select(.what == "ticket.refused" and .object == "drop")] | length > 0')" true \
   "the refusals are audited"

summary
