#!/usr/bin/env bash
# demo.sh BUILD_DIR - molt's main job, at its current stage (see README).
#
# A deployer makes keys, signs firmware v1.0.0, and a device-side verifier (the
# same lib/ code a device runs, through `molt verify`) accepts it. Then the
# attacks: a tampered copy, an image from an untrusted signer, a signature moved
# before its key, and a rollback to an older, properly signed image. Each must be
# refused for its own reason. Ends with a table; exits 0 only if every outcome is
# the expected one. Later issues grow this into the full fleet update.
set -uo pipefail
build=${1:?usage: scripts/demo.sh BUILD_DIR}
molt=$(cd "$build" && pwd)/bin/molt
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
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
boot() { "$molt" sim boot -f device.sim -k vendor.pub.pem 2>&1 | tee /dev/stderr | sed -nE 's/^boot: slot [a-z]+, version ([^,]+), ([a-z]+), security counter ([0-9]+), action ([a-z-]+).*/\1 \2 \4 cnt=\3/p'; }
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
pf=$("$molt" sim powerfail --old app-v1.signed --new app-v2.signed -k vendor.pub.pem --sector-size 4096 --sectors 16 --seeds 1 --double-cuts 2 2>&1)
printf '%s\n' "$pf"
record "power-fail sweep" "bricked 0 mixed 0" "$(sed -nE 's/.*bricked: ([0-9]+), mixed: ([0-9]+).*/bricked \1 mixed \2/p' <<<"$pf")"

say "Outcome"
printf '%-44s %-32s %-32s %s\n' case expected got verdict
printf '%s\n' "${rows[@]}"
if [ "$failures" -ne 0 ]; then echo "demo: $failures unexpected outcome(s)"; exit 1; fi
echo "demo: every outcome as expected"
