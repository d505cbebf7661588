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
evq() { jq -rs "$2" "$1"; }   # evq FILE FILTER: a jq filter over the array of one run's events (--events FILE)
n_ev() { evq "$1" "[.[] | select($2)] | length"; }   # n_ev FILE CONDITION: how many events match
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
# the agent's events (docs/agent.md) go to $d.ev, rewritten by every run
agent() { local d=$1; shift; "$MOLT_AGENT" -f $d.sim -k vendor.pub --server "$S" --id $d --token "${TOK[$d]}" \
  --backoff-ms 50 --max-sleep 1 --tickets --time-scale 10 --events $d.ev "$@"; }
CLOSED_OK='.event == "feedback_sent" and .execution == "closed" and .finished == "success"'
UPDATED="$CLOSED_OK and (.detail | startswith(\"2.0.0+0 running, health check passed, accepted\"))"
last_boot() { evq $1.ev '[.[] | select(.event == "boot")] | last | "\(.running) \(.trial) \(.recovery)"'; }
status() { "$MOLT" sim watchdog -f $1.sim --status --json | jq -r "$2"; }

# --- before the release every device is current: tickets keep the deadline ahead
for d in honest ignore drop; do
  agent $d --max-polls 2 > $d.0.log 2>&1; eq "$?" 0 "$d: first run"
  eq "$(n_ev $d.ev '.event == "ticket_accepted" and .deadline > .clock')" 2 "$d: a ticket at each of its 2 polls before the release"
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
eq "$(n_ev honest.ev "$UPDATED")" 1 "honest updated"
eq "$(n_ev honest.ev '.event == "recovery_enter" or .recovery == true')" 0 "honest never in recovery"

# ignore: the application ignores v2 and asks for nothing; the watchdog takes over
agent ignore --block ignore --until-update --max-polls 30 > ignore.log 2>&1; eq "$?" 0 "ignore exit"
eq "$(evq ignore.ev '[.[] | select(.event == "blocked") | .mode] | unique | join(" ")')" ignore "ignore ignores"
eq "$(n_ev ignore.ev '.event | startswith("ticket")')" 0 "ignore never asks for a ticket"
eq "$(n_ev ignore.ev '.event == "watchdog"')" 1 "ignore: the watchdog fired once"
eq "$(evq ignore.ev '[.[] | select(.event == "reboot") | .reason] | join(" ")')" "power_on watchdog activate leave_recovery" \
   "ignore: power-on, the watchdog's restart, the activation, leaving recovery"
eq "$(n_ev ignore.ev '.event == "recovery_enter"')" 1 "ignore: one recovery boot"
eq "$(n_ev ignore.ev "$UPDATED")" 1 "ignore: updated in recovery"
eq "$(n_ev ignore.ev '.event == "recovery_leave" and .running == "2.0.0+0"')" 1 "ignore: restart to leave"
eq "$(evq ignore.ev "(map(.event == \"recovery_enter\") | index(true) // 1e9) < (map($CLOSED_OK) | rindex(true) // -1)")" true \
   "ignore: recovery before the update"
eq "$(last_boot ignore)" "2.0.0+0 false false" "ignore: the last boot is normal, on v2"

# drop: tickets asked and refused (OUTDATED) while the application drops v2
agent drop --block drop --until-update --max-polls 30 > drop.log 2>&1; eq "$?" 0 "drop exit"
eq "$(evq drop.ev '[.[] | select(.event == "blocked") | .mode] | unique | join(" ")')" drop "drop drops"
eq "$(n_ev drop.ev '.event == "ticket_refused" and .by == "moltd" and .status == 403 and (.detail | fromjson | .reason) == "OUTDATED"' | sed 's/^[1-9][0-9]*$/some/')" some \
   "drop: tickets refused as OUTDATED"
eq "$(n_ev drop.ev '.event == "ticket_refused" and (.by != "moltd" or .status != 403 or (.detail | fromjson | .reason) != "OUTDATED")')" 0 \
   "drop: no other refusal"
eq "$(n_ev drop.ev '.event == "recovery_enter"')" 1 "drop: one recovery boot"
eq "$(n_ev drop.ev "$UPDATED")" 1 "drop: updated in recovery"
eq "$(last_boot drop)" "2.0.0+0 false false" "drop: the last boot is normal, on v2"

# --- afterwards: every device on v2, attested, out of recovery, in good standing again
for d in honest ignore drop; do
  eq "$(api "$U/devices/$d" | jq -r '"\(.attested_version) \(.action.state)"')" "2.0.0+0 success" "$d in moltd"
  eq "$(status $d .recovery)" false "$d out of recovery"
  eq "$("$MOLT" sim state -f $d.sim -k vendor.pub --json | jq -r '.would_boot | "\(.version) \(.trial) \(.recovery)"')" \
     "2.0.0+0 false false" "$d boots v2 confirmed, normally"
  agent $d --once > $d.9.log 2>&1; eq "$?" 0 "$d: a run afterwards"
  eq "$(n_ev $d.ev '.event == "ticket_accepted"')" 1 "$d gets tickets again"
done
eq "$(api "$U/audit" | jq '[.[] | select(.what == "ticket.refused" and .object == "drop")] | length > 0')" true \
   "the refusals are audited"

summary
