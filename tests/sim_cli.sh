#!/usr/bin/env bash
# sim_cli.sh - `molt sim` drives the real boot code on a simulated device file.
# R-SECBOOT, R-FAILSAFE, R-ROLLBACK through the CLI; exit codes and one-line errors.
set -uo pipefail
: "${MOLT:?}" "${VECTORS:?}"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
K=$VECTORS/keys/sign-ecdsa-p256.pub.pem; I=$VECTORS/images
D=$work/dev.sim

# boot_is "version trial|confirmed stored_counter action": the fields of `boot --json`.
boot_is() {
  local out; out=$("$MOLT" sim boot -f "$D" -k "$K" --json 2>"$work/err"); local rc=$?
  local got; got=$(jq -r '"\(.version) \(if .trial then "trial" else "confirmed" end) \(.stored_counter) \(.action)"' <<<"$out")
  [ $rc -eq 0 ] && [ "$got" = "$1" ] && ok || bad "boot: expected '$1', got '$got' (rc $rc: $out $(cat "$work/err"))"
}

step "$MOLT" sim create -f "$D" --sector-size 4096 --slot-sectors 8 --align 8
step "$MOLT" sim write -f "$D" --slot primary "$I/p24_ecdsa_p256_rollback_low.bin"     # 0.9.0, counter 1
boot_is "0.9.0+0 confirmed 1 none"
step "$MOLT" sim write -f "$D" --slot secondary "$I/p03_ecdsa_p256_seccnt.bin"         # 1.2.3+4, counter 5
step "$MOLT" sim request -f "$D"
boot_is "1.2.3+4 trial 1 upgrade-test"
boot_is "0.9.0+0 confirmed 1 revert"                      # reset before confirm
step "$MOLT" sim request -f "$D"
boot_is "1.2.3+4 trial 1 upgrade-test"
step "$MOLT" sim confirm -f "$D"
boot_is "1.2.3+4 confirmed 5 none"                        # counter advanced only now
step "$MOLT" sim write -f "$D" --slot secondary "$I/p24_ecdsa_p256_rollback_low.bin"
step "$MOLT" sim request -f "$D" --permanent
boot_is "1.2.3+4 confirmed 5 refused"                     # lower counter never activates
"$MOLT" sim state -f "$D" -k "$K" --json >"$work/state.json" 2>&1 && ok || bad "state --json"
got=$(jq -r '[.mode, .security_counter, .primary.image.version, .primary.trailer.image_ok, .secondary.image.version,
              .would_boot.version, .would_boot.action] | map(tostring) | join(" ")' "$work/state.json")
# the refused image was erased from staging; nothing is pending
[ "$got" = "swap 5 1.2.3+4 set null 1.2.3+4 none" ] && ok || bad "state --json fields: '$got'"

# --json on every command that prints state: one JSON object with its fields.
js() { out=$("$@" --json 2>"$work/err"); rc=$?; }
js "$MOLT" sim create -f "$work/j.sim" --sector-size 4096 --slot-sectors 8 --align 16
[ $rc -eq 0 ] && [ "$(jq -r '"\(.mode) \(.sector_size) \(.slot_sectors) \(.align) \(.erase_value) \(.size) \(.data_sectors)"' <<<"$out")" \
  = "swap 4096 8 16 255 81920 0" ] && ok || bad "create --json: $out"
js "$MOLT" sim write -f "$work/j.sim" --slot secondary "$I/p03_ecdsa_p256_seccnt.bin"
[ $rc -eq 0 ] && [ "$(jq -r '"\(.slot) \(.offset) \(.bytes)"' <<<"$out")" = "secondary 4096 $(stat -c %s "$I/p03_ecdsa_p256_seccnt.bin")" ] \
  && ok || bad "write --json: $out"
js "$MOLT" sim request -f "$work/j.sim" --permanent
[ $rc -eq 0 ] && [ "$(jq -c . <<<"$out")" = '{"file":"'"$work"'/j.sim","done":"permanent","data":null}' ] && ok || bad "request --json: $out"
js "$MOLT" sim confirm -f "$work/j.sim"
[ $rc -eq 0 ] && [ "$(jq -r .done <<<"$out")" = confirmed ] && ok || bad "confirm --json: $out"
js "$MOLT" sim iak -f "$work/j.sim"
[ $rc -eq 0 ] && [[ "$(jq -r .public_key <<<"$out")" =~ ^04[0-9a-f]{128}$ ]] && ok || bad "iak --json: $out"

# A device with nothing valid: secure state, exit 1.
step "$MOLT" sim create -f "$work/empty.sim" --sector-size 4096 --slot-sectors 8
"$MOLT" sim boot -f "$work/empty.sim" -k "$K" >"$work/out" 2>&1; rc=$?
[ $rc -eq 1 ] && ok || bad "empty device boot: rc $rc ($(cat "$work/out"))"
js "$MOLT" sim boot -f "$work/empty.sim" -k "$K"
[ $rc -eq 1 ] && [ "$(jq -r .error <<<"$out")" = NO_IMAGE ] && ok || bad "boot --json, nothing valid: rc $rc $out"

# Errors: exit 2, one line, device file untouched.
printf 'garbage' >"$work/bad.sim"
"$MOLT" sim boot -f "$work/bad.sim" -k "$K" 2>"$work/err" >/dev/null; rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <"$work/err")" -eq 1 ] && ok || bad "corrupt device: rc $rc, $(cat "$work/err")"
[ "$(cat "$work/bad.sim")" = garbage ] && ok || bad "corrupt device file was modified"
cp "$D" "$work/before.sim"
"$MOLT" sim write -f "$D" --slot secondary "$work/missing.bin" 2>"$work/err" >/dev/null; rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <"$work/err")" -eq 1 ] && ok || bad "missing image: rc $rc"
cmp -s "$D" "$work/before.sim" && ok || bad "a failed write changed the device"
"$MOLT" sim write -f "$D" --slot tertiary "$I/p03_ecdsa_p256_seccnt.bin" >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "bad slot name"

summary
