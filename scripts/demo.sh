#!/usr/bin/env bash
# demo.sh BUILD_DIR - molt's main job, at its current stage (see README).
#
# A deployer makes keys, signs firmware v1.0.0, and a device-side verifier (the
# same lib/ code a device runs, through `molt verify`) accepts it. Then the
# attacks: a tampered copy, an image from an untrusted signer, a signature moved
# before its key, and a rollback to an older, properly signed image. Each must be
# refused for its own reason. Ends with a table; exits 0 only if every outcome is
# the expected one. Section 12b: a calibration record survives a migrating
# upgrade and the revert of another (R-KEEPDATA). Then the fleet (sections 13-17): moltd (SQLite, loopback,
# ephemeral port) and five simulated devices running molt-agent take v2.0.0 in a
# staged campaign -- one encrypted package for the whole fleet, a key envelope for
# each device (R-CONF, R-ONEPKG) -- through a dropped connection, a power cut mid-activation, a
# tampered package from a rogue mirror, a rollback upload and a v2 that fails its
# health check on one device; the second table is device, version before and
# after, attested version, outcome. Section 18: moltd signs deferral tickets, and a device whose
# application ignores updates reaches v2 through its watchdog's recovery (R-AVAIL). Section 19: a class
# takes a trusted-key rotation through moltd and the agent (add key B, retire key A), after which
# A's image is refused by every device (R-ALLUPDATABLE). Then the dashboard's URL (moltd's /ui/) and tokens to log in
# with; KEEP=1 keeps moltd running until Ctrl-C (make demo KEEP=1).
set -uo pipefail
build=${1:?usage: scripts/demo.sh BUILD_DIR}
bin=$(cd "$build" && pwd)/bin
molt=$bin/molt
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"

say()  { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run()  { printf '$ %s\n' "$*" | sed "s|$molt|molt|g"; "$@"; }
rows=(); failures=0
record() { # case expected got
  local verdict=ok; [ "$2" = "$3" ] || { verdict=UNEXPECTED; failures=$((failures + 1)); }
  rows+=("$(printf '%-44s %-32s %-32s %s' "$1" "$2" "$3" "$verdict")")
}
verdict() { # run molt verify, return ACCEPTED or the reason code
  local out rc; out=$("$molt" verify "$@" 2>&1); rc=$?
  printf '%s\n' "$out" | sed "s|$work/||g" >&2
  if [ $rc -eq 0 ]; then echo ACCEPTED; elif [ $rc -eq 1 ]; then sed -E 's/.*\[([A-Z_]+)\]$/\1/' <<<"$out"; else echo "ERROR($rc)"; fi
}

say "1. The deployer makes its signing key (full strength, file mode 0600)"
run "$molt" keygen -t ecdsa-p256 -k vendor.pem
run "$molt" getpub -k vendor.pem -e pem -o vendor.pub.pem
echo "(the device's trusted-key table holds exactly: $("$molt" getpub -k vendor.pem -e raw -o - | wc -c) bytes of SubjectPublicKeyInfo DER)"

say "2. Firmware v1.0.0 is signed in MCUboot format (imgtool's options)"
head -c 24576 /dev/urandom > firmware-v1.bin
run "$molt" sign -k vendor.pem -v 1.0.0+1 -s auto -H 0x200 --pad-header -S 0x40000 --align 8 firmware-v1.bin app-v1.signed
run "$molt" inspect app-v1.signed

say "3. The device verifies it: header, hash, signer, signature, policy"
record "v1.0.0 signed by the vendor" ACCEPTED "$(verdict -k vendor.pub.pem app-v1.signed)"

say "4. Attack: one payload byte changed on the way (rogue mirror)"
cp app-v1.signed tampered.signed
printf '\x5a' | dd of=tampered.signed bs=1 seek=4096 conv=notrunc status=none
record "tampered payload" HASH_MISMATCH "$(verdict -k vendor.pub.pem tampered.signed)"

say "5. Attack: an image signed by someone else's key"
run "$molt" keygen -t ecdsa-p256 -k attacker.pem
run "$molt" sign -k attacker.pem -v 9.9.9 -s auto -H 0x200 --pad-header -S 0x40000 firmware-v1.bin evil.signed
record "untrusted signer" KEY_UNTRUSTED "$(verdict -k vendor.pub.pem evil.signed)"

say "6. Attack: the vendor's own signature on a different (older) firmware, security counter lower"
head -c 20000 /dev/urandom > firmware-v0.bin
run "$molt" sign -k vendor.pem -v 0.9.0 -s auto -H 0x200 --pad-header -S 0x40000 firmware-v0.bin app-v0.signed
echo "(the device's security counter is v1's: $(( (1 << 24) )) = 1.0.0 under -s auto)"
record "rollback to v0.9.0 (validly signed)" ROLLBACK "$(verdict -k vendor.pub.pem --min-security-counter $((1 << 24)) app-v0.signed)"

say "7. Attack: a truncated download"
head -c 20000 app-v1.signed > short.signed
record "truncated image" BOUNDS "$(verdict -k vendor.pub.pem short.signed)"

say "8. A device (simulated NOR flash, swap mode) runs v1.0.0; the boot code verifies it at reset"
# (The boot lines go to stderr by the shell, not `tee /dev/stderr`: opening /dev/stderr
# anew would truncate a log file that the demo's output is redirected to.)
# boot: the device resets; "VERSION trial|confirmed ACTION cnt=N" from the fields of `molt sim boot --json`
boot() { local out; out=$("$molt" sim boot -f device.sim -k vendor.pub.pem --json); printf '%s\n' "$out" >&2
         jq -r '"\(.version) \(if .trial then "trial" else "confirmed" end) \(.action) cnt=\(.stored_counter)"' <<<"$out"; }
run "$molt" sim create -f device.sim --sector-size 4096 --slot-sectors 16 --align 8
run "$molt" sim write -f device.sim --slot primary app-v1.signed
record "device boots v1" "1.0.0+1 confirmed" "$(boot | cut -d' ' -f1-2)"

say "9. v2.0.0 is staged and tried; its health check fails (no confirm) and a reset reverts it"
head -c 28000 /dev/urandom > firmware-v2.bin
run "$molt" sign -k vendor.pem -v 2.0.0 -s auto -H 0x200 --pad-header -S 0x10000 firmware-v2.bin app-v2.signed
run "$molt" sim write -f device.sim --slot secondary app-v2.signed
run "$molt" sim request -f device.sim
record "v2 activated as a trial" "2.0.0+0 trial upgrade-test" "$(boot | cut -d' ' -f1-3)"
record "reset without confirm: revert" "1.0.0+1 confirmed revert" "$(boot | cut -d' ' -f1-3)"

say "10. Tried again, confirmed by the application: the security counter advances only now"
run "$molt" sim request -f device.sim
boot >/dev/null
run "$molt" sim confirm -f device.sim
record "v2 confirmed, counter advanced" "2.0.0+0 confirmed cnt=33554432" "$(boot | cut -d' ' -f1-2,4)"

say "11. Rollback attempt on the device: the old, validly signed v0.9.0 is staged"
run "$molt" sim write -f device.sim --slot secondary app-v0.signed
run "$molt" sim request -f device.sim
record "device refuses the rollback" "2.0.0+0 refused" "$(boot | cut -d' ' -f1,3)"

say "12. Power cut inside every flash operation of update, revert and confirm (torn writes)"
pf=$("$molt" sim powerfail --old app-v1.signed --new app-v2.signed -k vendor.pub.pem --sector-size 4096 --sectors 16 --seeds 1 --double-cuts 2 --json)
printf '%s\n' "$pf"
record "power-fail sweep" "bricked 0 mixed 0 counter 0" "$(jq -r '"bricked \(.bricked) mixed \(.mixed) counter \(.counter)"' <<<"$pf")"

say "12b. Data-preserving upgrade (R-KEEPDATA): a calibration record survives a migrating upgrade and the revert of another"
# Application 1 of `molt sim` migrates schema P -> N by prefixing each value with "sN|".
run "$molt" sign -k vendor.pem -v 1.0.0 -s auto -H 0x200 --pad-header -S 0x10000 --data-schema 1:1 firmware-v1.bin cal-v1.signed
run "$molt" sign -k vendor.pem -v 2.0.0 -s auto -H 0x200 --pad-header -S 0x10000 --data-schema 1:2:1 firmware-v2.bin cal-v2.signed
run "$molt" sign -k vendor.pem -v 2.1.0 -s auto -H 0x200 --pad-header -S 0x10000 --data-schema 1:2:2 firmware-v2.bin cal-v21.signed
run "$molt" sign -k vendor.pem -v 3.0.0 -s auto -H 0x200 --pad-header -S 0x10000 --data-schema 1:3:3 firmware-v2.bin cal-v3.signed
kd() { local out; out=$("$molt" sim boot -f cal.sim -k vendor.pub.pem --json); printf '%s\n' "$out" >&2
       jq -r '.data | "\(.action) schema=\(.schema)"' <<<"$out"; }
run "$molt" sim create -f cal.sim --sector-size 4096 --slot-sectors 16 --align 8 --data-sectors 2
run "$molt" sim write -f cal.sim --slot primary cal-v1.signed
kd >/dev/null
run "$molt" sim put -f cal.sim --id 1 "gain=1.037 offset=-12"
run "$molt" sim put -f cal.sim --app 2 --id 1 "pairing=4f2a"
run "$molt" sim records -f cal.sim
run "$molt" sim write -f cal.sim --slot secondary cal-v3.signed
out=$("$molt" sim request -f cal.sim --json); rc=$?; printf '%s\n' "$out"
record "v3.0.0 (migrates from schema 3 only)" "rc=1 KEEP_SCHEMA" "rc=$rc $(jq -r .error <<<"$out")"
run "$molt" sim write -f cal.sim --slot secondary cal-v2.signed
run "$molt" sim request -f cal.sim
record "v2.0.0 trial: data migrated 1 -> 2" "migrated schema=1" "$(kd)"
record "calibration in the trial" "s2|gain=1.037 offset=-12" "$("$molt" sim get -f cal.sim --id 1 --json | jq -r .text)"
run "$molt" sim confirm -f cal.sim
record "v2.0.0 accepted: consolidated" "kept schema=2" "$(kd)"
run "$molt" sim write -f cal.sim --slot secondary cal-v21.signed
run "$molt" sim request -f cal.sim
kd >/dev/null
run "$molt" sim put -f cal.sim --id 1 "written by the v2.1.0 trial"
record "v2.1.0 reset in trial: data restored" "restored schema=2" "$(kd)"
record "calibration after the revert" "s2|gain=1.037 offset=-12" "$("$molt" sim get -f cal.sim --id 1 --json | jq -r .text)"
record "another application's record" "pairing=4f2a" "$("$molt" sim get -f cal.sim --app 2 --id 1 --json | jq -r .text)"
run "$molt" sim records -f cal.sim

# --- the fleet ---------------------------------------------------------------------
say "13. The deployer starts moltd (SQLite, 127.0.0.1, an ephemeral port) and registers the vendor key"
printf '%s\n' "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" > admin.token
openssl rand -hex 32 > moltd.kek   # moltd's key-encryption key: content keys are kept only wrapped under it
start_moltd() { # [extra options]: sets S (the server URL)
  : > moltd.log
  "$bin/moltd" --db sqlite:moltd.db --port 0 --artifact-dir artifacts --admin-token-file admin.token \
               --kek-file moltd.kek --poll-sleep 1 "$@" > moltd.log 2>&1 &
  moltd_pid=$!; pids+=("$moltd_pid")
  for _ in $(seq 100); do grep -q listening moltd.log && break; sleep 0.05; done
  S=$(sed -n 's/^moltd: listening on \(http:[^ ]*\) .*/\1/p' moltd.log)
  [ -n "$S" ] || { echo "moltd did not start: $(cat moltd.log)"; exit 1; }
  cat moltd.log
}
stop_moltd() { kill "$moltd_pid"; wait "$moltd_pid" 2>/dev/null; }
start_moltd
A="Authorization: Bearer $(cat admin.token)"
api() { curl -s --max-time 30 -H "$A" "$@"; }
status() { curl -s --max-time 30 -o /dev/null -w '%{http_code}' -H "$A" "$@"; }
api -d "$(jq -n --rawfile p vendor.pub.pem '{name:"vendor",pem:$p}')" "$S/api/v1/signers"; echo
api -d '{"name":"sensor","signers":["vendor"]}' "$S/api/v1/classes"; echo
record "moltd: upload v1.0.0 (verified on upload)" 201 "$(status --data-binary @app-v1.signed "$S/api/v1/packages?class=sensor&filename=app-v1.bin")"
# The fleet's v2.0.0 is encrypted for a key no device holds; each device will get
# the content key in its own envelope. The signer hands the content key to moltd.
run "$molt" keygen -t x25519 -k escrow.pem
"$molt" getpub -k escrow.pem -e pem -o escrow.pub.pem
run "$molt" sign -k vendor.pem -v 2.0.0 -s auto -H 0x200 --pad-header -S 0x10000 -E escrow.pub.pem \
    --save-content-key app-v2.key firmware-v2.bin app-v2.fleet
record "moltd: upload v2.0.0, encrypted" 201 "$(status -H "X-Molt-Content-Key: $(xxd -p -c 64 app-v2.key)" \
        --data-binary @app-v2.fleet "$S/api/v1/packages?class=sensor&filename=app-v2.bin")"
P2=$(api "$S/api/v1/packages" | jq '.[] | select(.version == "2.0.0+0") | .id')

say "14. Rollback attempt at the deployer: the old, validly signed v0.9.0 is uploaded after v2"
record "moltd refuses the v0.9.0 upload" 409 "$(status --data-binary @app-v0.signed "$S/api/v1/packages?class=sensor&filename=app-v0.bin")"

say "15. Five devices run v1.0.0; each is provisioned with its attestation key (molt sim iak) and its own encryption key"
devs=(dev-a dev-b dev-c dev-d dev-e)
declare -A TOK FAULT
FAULT=([dev-a]="none" [dev-b]="connection dropped at 12000 bytes" [dev-c]="power cut mid-activation"
       [dev-d]="v2 fails its health check" [dev-e]="rogue mirror, then moltd")
for d in "${devs[@]}"; do
  "$molt" sim create -f $d.sim --sector-size 4096 --slot-sectors 16 --align 8 >/dev/null
  "$molt" sim write -f $d.sim --slot primary app-v1.signed >/dev/null
  "$molt" sim iak -f $d.sim -o $d.iak
  "$molt" keygen -t "$([ $d = dev-d ] && echo ecdsa-p256 || echo x25519)" -k $d.enc.pem >/dev/null
  "$molt" getpub -k $d.enc.pem -e pem -o $d.enc.pub
  TOK[$d]=$(api -d "$(jq -n --arg id $d --rawfile ak $d.iak --rawfile ek $d.enc.pub \
             '{id:$id,class:"sensor",attestation_key:$ak,encryption_key:$ek}')" "$S/api/v1/devices" | jq -r .token)
  echo "$d: provisioned (attestation key $(openssl pkey -pubin -in $d.iak -outform DER | sha256sum | cut -c1-16)...," \
       "$(openssl pkey -pubin -in $d.enc.pub -noout -text | head -1 | cut -d' ' -f1) encryption key)"
done
# The agents' event streams (docs/agent.md) go to DEV.ev (or $EVF): the outcomes below are read from their fields.
agent() { local d=$1; shift; "$bin/molt-agent" -f $d.sim -k vendor.pub.pem --enc-key $d.enc.pem --require-encryption \
            --server "$S" --id $d --token "${TOK[$d]}" --backoff-ms 100 --max-sleep 1 --max-polls 60 --until-update --rate 12000 \
            --events "${EVF:-$d.ev}" "$@"; }
evq() { jq -rs "$2" "$1"; }   # evq FILE FILTER: a jq filter over the array of one run's events
has_ev() { [ "$(evq "$1" "[.[] | select($2)] | length")" -gt 0 ] && echo yes || echo no; }

say "16. A rogue mirror: moltd redirects downloads to a static server that serves a tampered copy"
mkdir mirror
cp app-v2.fleet mirror/"$(sha256sum app-v2.fleet | cut -d' ' -f1)"
printf '\x5a' | dd of=mirror/"$(sha256sum app-v2.fleet | cut -d' ' -f1)" bs=1 seek=8192 conv=notrunc status=none
python3 -u -m http.server 0 --bind 127.0.0.1 --directory mirror > mirror.log 2>&1 &
mirror_pid=$!; pids+=("$mirror_pid")
for _ in $(seq 100); do grep -q "port" mirror.log && break; sleep 0.05; done
mport=$(sed -nE 's/.*port ([0-9]+).*/\1/p' mirror.log | head -1)
stop_moltd; start_moltd --artifact-base-url "http://127.0.0.1:$mport"
api -d "$(jq -n --argjson p "$P2" '{name:"v2-via-mirror",package:$p,filter:{ids:["dev-e"]},message:"v2.0.0 (mirror test)"}')" "$S/api/v1/campaigns"; echo
EVF=dev-e.mirror.ev agent dev-e | tee dev-e.mirror.log
record "dev-e refuses the tampered package" failure "$(api "$S/api/v1/devices/dev-e" | jq -r .action.state)"
record "dev-e: why" "refused at finish: HASH_MISMATCH" \
       "$(evq dev-e.mirror.ev '.[] | select(.event == "verify" and .ok == false and .status == "INVALID_SIGNATURE") | "refused at finish: \(.error)"')"
kill "$mirror_pid"; wait "$mirror_pid" 2>/dev/null
stop_moltd; start_moltd

say "17. The campaign: v2.0.0 to every device, in two steps (40%, then 100%), with a message for the user"
echo "dashboard: $S/ui/ (watch the rollout in a browser; log in with the admin token: $(cat admin.token))"
api -d "$(jq -n --argjson p "$P2" '{name:"v2.0.0",package:$p,steps:[40,100],failure_threshold:50,
         message:"Sensor firmware 2.0.0 is being installed; the sensor restarts once."}')" "$S/api/v1/campaigns" | tee campaign.json; echo
cid=$(jq -r .id campaign.json)
declare -A BEFORE
for d in "${devs[@]}"; do BEFORE[$d]=$("$molt" sim state -f $d.sim -k vendor.pub.pem --json | jq -r .would_boot.version); done
# Each agent's lines appear as they happen, prefixed with its device (and are kept in DEV.log).
agent dev-a 2>&1 | tee dev-a.log & pids+=($!); a1=$!
agent dev-b --drop-after 12000 2>&1 | tee dev-b.log & pids+=($!); a2=$!
( agent dev-c --power-cut-at 20; echo "dev-c: agent exit $? (the power is off); the power comes back"
  agent dev-c ) 2>&1 | tee dev-c.log & pids+=($!); a3=$!
agent dev-d --health-fail 2>&1 | tee dev-d.log & pids+=($!); a4=$!
agent dev-e 2>&1 | tee dev-e.log & pids+=($!); a5=$!
while kill -0 $a1 2>/dev/null || kill -0 $a2 2>/dev/null || kill -0 $a3 2>/dev/null || kill -0 $a4 2>/dev/null || kill -0 $a5 2>/dev/null; do
  api "$S/api/v1/campaigns/$cid" | jq -r '"campaign \(.name): \(.state), step \(.step), actions \(.actions | to_entries | map("\(.key) \(.value)") | join(", "))"'
  sleep 1
done
wait $a1 $a2 $a3 $a4 $a5
api "$S/api/v1/campaigns/$cid" | jq -r '"campaign \(.name): \(.state), actions \(.actions | to_entries | map("\(.key) \(.value)") | join(", "))"'

# R-ONEPKG, R-CONF: the deployment of every device names the one encrypted package;
# each device was issued a key envelope of its own
served=$(for d in "${devs[@]}"; do
  aid=$(api "$S/api/v1/devices/$d" | jq -r .action.id)
  curl -s --max-time 30 -H "Authorization: TargetToken ${TOK[$d]}" "$S/DEFAULT/controller/v1/$d/deploymentBase/$aid" |
    jq -r '.deployment.chunks[0].artifacts[0].hashes.sha256'
done | sort -u)
record "fleet: the package every device was served" "$(sha256sum app-v2.fleet | cut -c1-16) (encrypted)" \
       "$(tr '\n' ' ' <<<"$served" | cut -c1-16)$([ "$(wc -l <<<"$served")" = 1 ] && echo " (encrypted)")"
record "fleet: key envelopes issued, all different" 5 \
       "$(api "$S/api/v1/audit" | jq -r '[.[] | select(.what == "envelope.issued") | .detail | capture("sha256 (?<s>[0-9a-f]+)").s] | unique | length')"

say "18. Updates an attacker cannot block (R-AVAIL): dev-f's application ignores v2 and never asks for a ticket"
# moltd signs deferral tickets with a key of its own; dev-f's factory provisions its watchdog with the
# public part. A ticket grants 30 device seconds; device time runs 10 s per second the agent sleeps.
openssl ecparam -name prime256v1 -genkey -noout -out ticket.pem 2>/dev/null
stop_moltd; start_moltd --ticket-key ticket.pem
api -X PUT -d '{"seconds":30,"boots":50,"grace":0}' "$S/api/v1/classes/sensor/ticketpolicy"; echo
api "$S/api/v1/ticketkey" | jq -r .pem > ticket.pub
d=dev-f
"$molt" sim create -f $d.sim --sector-size 4096 --slot-sectors 16 --align 8 >/dev/null
"$molt" sim write -f $d.sim --slot primary app-v1.signed >/dev/null
"$molt" sim iak -f $d.sim -o $d.iak
"$molt" keygen -t x25519 -k $d.enc.pem >/dev/null; "$molt" getpub -k $d.enc.pem -e pem -o $d.enc.pub
run "$molt" sim watchdog -f $d.sim --ticket-key ticket.pub --seconds 30 --boots 50 --max-seconds 60 --max-boots 100 \
    --exit-seconds 30 --exit-boots 50
TOK[$d]=$(api -d "$(jq -n --arg id $d --rawfile ak $d.iak --rawfile ek $d.enc.pub \
           '{id:$id,class:"sensor",attestation_key:$ak,encryption_key:$ek}')" "$S/api/v1/devices" | jq -r .token)
EVF=$d.0.ev agent $d --tickets --time-scale 10 --max-polls 1 2>&1 | tee $d.0.log   # honest: a ticket keeps the deadline ahead
api -d "$(jq -n --argjson p "$P2" '{name:"v2-for-dev-f",package:$p,filter:{ids:["dev-f"]}}')" "$S/api/v1/campaigns"; echo
sleep 1.1                                                                 # past the class's grace of 0 s
agent $d --tickets --time-scale 10 --block ignore 2>&1 | tee $d.log      # the application is the attacker now
record "dev-f: a ticket while current" yes "$(has_ev dev-f.0.ev '.event == "ticket_accepted"')"
record "dev-f: the application ignores v2" yes "$(has_ev dev-f.ev '.event == "blocked" and .mode == "ignore"')"
record "dev-f: the watchdog fires, recovery boot" "yes yes" \
       "$(has_ev dev-f.ev '.event == "watchdog"') $(has_ev dev-f.ev '.event == "recovery_enter"')"
record "dev-f: runs after recovery (attested)" "2.0.0+0 2.0.0+0" \
       "$("$molt" sim state -f dev-f.sim -k vendor.pub.pem --json | jq -r .would_boot.version) $(api "$S/api/v1/devices/dev-f" | jq -r .attested_version)"
record "dev-f: out of recovery" false "$("$molt" sim watchdog -f dev-f.sim --status --json | jq -r .recovery)"

say "19. Trusted-key rotation (R-ALLUPDATABLE): class meter, three rotation keys (threshold 2); add key B, then retire the vendor key A"
# The rotation keys are held by three people, offline; they never sign images. keyB is the new image key.
for k in root0 root1 root2 keyB keyC; do "$molt" keygen -t ecdsa-p256 -k $k.pem >/dev/null; "$molt" getpub -k $k.pem -e pem -o $k.pub; done
R=(-r root0.pub -r root1.pub -r root2.pub)
run "$molt" keyupdate make --seq 1 --add keyB.pub "${R[@]}" -k root0.pem -o ku1
run "$molt" keyupdate sign "${R[@]}" -k root1.pem ku1 ku1          # the second root holder, on their own machine
run "$molt" keyupdate make --seq 2 --retire vendor.pub.pem "${R[@]}" -k root1.pem -k root2.pem -o ku2
run "$molt" keyupdate make --seq 3 --add keyC.pub "${R[@]}" -k root2.pem -o ku3-one   # one root only: under the threshold
msign() { head -c $3 /dev/urandom > m-$2.bin; "$molt" sign -k $1.pem -v $2 -s auto -H 0x200 --pad-header -S 0x10000 --align 8 m-$2.bin m-$2.img >/dev/null; }
msign vendor 1.0.0 20000; msign keyB 2.0.0 21000; msign vendor 3.0.0 22000; msign keyB 4.0.0 23000
api -d '{"name":"meter","signers":["vendor"]}' "$S/api/v1/classes"; echo
api -X PUT -d "$(jq -n --rawfile a root0.pub --rawfile b root1.pub --rawfile c root2.pub '{roots:[$a,$b,$c],threshold:2}')" \
    "$S/api/v1/classes/meter/rotation" | jq -c '{class, threshold, roots: [.roots[].key_id[0:16]], seq}'
mpkg() { api --data-binary @$1 "$S/api/v1/packages?class=meter&filename=$1" | jq -r "${2:-.id}"; }
mpkg m-1.0.0.img >/dev/null
record "moltd: under-signed key-update (1 of 2)" KU_SIG "$(mpkg ku3-one .reason)"
KU1=$(mpkg ku1)
mdevs=(m-1 m-2)
for d in "${mdevs[@]}"; do
  "$molt" sim create -f $d.sim --sector-size 4096 --slot-sectors 16 --align 8 >/dev/null
  "$molt" sim write -f $d.sim --slot primary m-1.0.0.img >/dev/null
  "$molt" sim chain -f $d.sim                                  # the boot-owned parts: the key set (genesis: the vendor key)
  "$molt" sim iak -f $d.sim -o $d.iak
  TOK[$d]=$(api -d "$(jq -n --arg id $d --rawfile ak $d.iak '{id:$id,class:"meter",attestation_key:$ak}')" "$S/api/v1/devices" | jq -r .token)
done
magent() { "$bin/molt-agent" -f $1.sim -k vendor.pub.pem --root root0.pub --root root1.pub --root root2.pub --threshold 2 \
             --server "$S" --id $1 --token "${TOK[$1]}" --backoff-ms 100 --max-sleep 1 --once --quiet --events $1.$2.ev; }
mcampaign() { # NAME PACKAGE_ID STEP: a campaign to the meter class, then both agents poll once
  api -d "$(jq -n --arg n "$1" --argjson p "$2" '{name:$n,package:$p}')" "$S/api/v1/campaigns" | jq -c '{id, targets}'
  for d in "${mdevs[@]}"; do magent $d $3; done
}
both() { local out=(); for d in "${mdevs[@]}"; do out+=("$(evq $d.$1.ev "$2")"); done; echo "${out[*]}"; }
mcampaign keys-1 "$KU1" k1
P2=$(mpkg m-2.0.0.img); P3=$(mpkg m-3.0.0.img)             # B's image; A's image, uploaded while A is in force
mcampaign meter-2 "$P2" v2
KU2=$(mpkg ku2)
mcampaign keys-2 "$KU2" k2
record "meter: key set reported after ku1, ku2" "2 2" "$(for d in "${mdevs[@]}"; do api "$S/api/v1/devices/$d" | jq -r .keyset_seq; done | xargs)"
mcampaign meter-3-by-A "$P3" v3
record "meter: A's image, after A is retired" "KEY_RETIRED KEY_RETIRED" "$(both v3 '[.[] | select(.event == "verify")][0].error')"
record "moltd: a new image by A" KEY_UNTRUSTED "$(msign vendor 5.0.0 20000; mpkg m-5.0.0.img .reason)"
mcampaign meter-4 "$(mpkg m-4.0.0.img)" v4
record "meter: B's image installs" "4.0.0+0 4.0.0+0" "$(for d in "${mdevs[@]}"; do api "$S/api/v1/devices/$d" | jq -r .version; done | xargs)"
mcampaign keys-2-again "$KU2" k2b
record "meter: ku2 sent again" "KU_REPLAY KU_REPLAY" "$(both k2b '[.[] | select(.event == "keyset")][0].error')"
echo "meter's failures as moltd recorded them:"
api "$S/api/v1/audit" | jq -r '.[] | select(.what == "update.failure" and (.object | startswith("m-"))) | "  \(.object): \(.detail)"'

say "Outcome: image verification and the device"
printf '%-44s %-32s %-32s %s\n' case expected got verdict
printf '%s\n' "${rows[@]}"

say "Outcome: the fleet"
declare -A WANT_AFTER WANT_OUT
WANT_AFTER=([dev-a]=2.0.0+0 [dev-b]=2.0.0+0 [dev-c]=2.0.0+0 [dev-d]=1.0.0+1 [dev-e]=2.0.0+0)
WANT_OUT=([dev-a]=success [dev-b]=success [dev-c]=success [dev-d]=failure [dev-e]=success)
printf '%-7s %-34s %-9s %-9s %-9s %-9s %s\n' device fault before after attested outcome verdict
for d in "${devs[@]}"; do
  after=$("$molt" sim state -f $d.sim -k vendor.pub.pem --json | jq -r '.would_boot | "\(.version)\(if .trial then "(trial)" else "" end)"')
  j=$(api "$S/api/v1/devices/$d")
  att=$(jq -r .attested_version <<<"$j"); out=$(jq -r .action.state <<<"$j")
  v=ok
  [ "$after" = "${WANT_AFTER[$d]}" ] && [ "$att" = "${WANT_AFTER[$d]}" ] && [ "$out" = "${WANT_OUT[$d]}" ] || { v=UNEXPECTED; failures=$((failures + 1)); }
  printf '%-7s %-34s %-9s %-9s %-9s %-9s %s\n' $d "${FAULT[$d]}" "${BEFORE[$d]}" "$after" "$att" "$out" $v
done
[ "$(has_ev dev-b.ev '.event == "download_start" and .resume and .offset == 12000')" = yes ] ||
  { echo "dev-b did not resume at byte 12000"; failures=$((failures + 1)); }
[ "$(has_ev dev-c.ev '.event == "boot" and .resumed')" = yes ] ||   # dev-c.ev: the run after the power came back
  { echo "dev-c did not complete its activation after the power cut"; failures=$((failures + 1)); }
[ "$(has_ev dev-d.ev '.event == "feedback_sent" and .finished == "failure" and (.detail | endswith("FWU_REVERTED; running 1.0.0+1"))')" = yes ] ||
  { echo "dev-d was not reverted"; failures=$((failures + 1)); }
echo "campaign: $(api "$S/api/v1/campaigns/$cid" | jq -c '{state, actions}')"
echo "audit log: $(api "$S/api/v1/audit" | jq -r 'group_by(.what) | map("\(.[0].what) \(length)") | join(", ")')"
rc=0
if [ "$failures" -ne 0 ]; then echo "demo: $failures unexpected outcome(s)"; rc=1; else echo "demo: every outcome as expected"; fi

say "The dashboard (docs/dashboard.md)"
viewer=$(api -d '{"name":"demo-viewer","role":"viewer"}' "$S/api/v1/tokens" | jq -r .token)
operator=$(api -d '{"name":"demo-operator","role":"operator"}' "$S/api/v1/tokens" | jq -r .token)
echo "dashboard: $S/ui/"
echo "  tokens: admin $(cat admin.token), operator $operator, viewer $viewer (read-only)"
if [ "${KEEP:-}" = 1 ]; then
  echo "  moltd keeps running (KEEP=1) with the demo's fleet and campaigns; Ctrl-C stops it and removes the demo's files"
  wait "$moltd_pid"
else
  echo "  (moltd stops with the demo; \`make demo KEEP=1\` keeps it up for a look)"
fi
exit $rc
