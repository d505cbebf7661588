#!/usr/bin/env bash
# keepdata_cli.sh - `molt sim` with a record store: a calibration record survives
# an upgrade that migrates it and the revert of another (R-KEEPDATA); an image
# whose schema cannot migrate the device's data is refused with nothing changed;
# one application's records are out of another's reach (R-ASSETS); bad input
# gets a one-line error and a non-zero exit. Exact outputs throughout: the
# fields of --json (docs/sim.md) for what the device did, the one-line error
# for what was refused.
set -uo pipefail
: "${MOLT:?}" "${VECTORS:?}"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
KEY=$VECTORS/keys/sign-ecdsa-p256.pem; K=$VECTORS/keys/sign-ecdsa-p256.pub.pem
D=$work/dev.sim
cd "$work"

# jexpect RC JQ WANT CMD...: exit code RC, and jq's JQ over the command's --json output is WANT
jexpect() {
  local want_rc=$1 q=$2 want=$3; shift 3
  local out rc got; out=$("$@" --json 2>"$work/err"); rc=$?
  got=$(jq -r "$q" <<<"$out" 2>&1)
  [ "$rc" -eq "$want_rc" ] && [ "$got" = "$want" ] && ok || bad "$*: expected rc $want_rc '$want', got rc $rc '$got' ($out $(cat "$work/err"))"
}
# boot_data "action schema phase": the data fields of `molt sim boot --json`
boot_data() { jexpect 0 '.data | "\(.action), schema \(.schema), phase \(.phase)"' "$1" "$MOLT" sim boot -f "$D" -k "$K"; }

head -c 9000 /dev/urandom > fw
for v in "1.0.0 1:1" "2.0.0 1:2:1" "2.1.0 1:2:2" "3.0.0 1:3:3"; do
  set -- $v
  "$MOLT" sign -k "$KEY" -v "$1" -H 32 --pad-header -S 32768 --data-schema "$2" fw "app-$1" \
    >/dev/null && ok || bad "sign $1"
done
"$MOLT" sign -k "$KEY" -v 4.0.0 -H 32 --pad-header -S 32768 fw app-none >/dev/null && ok || bad "sign none"

# --data-schema input errors
expect_out 2 "molt sign: --data-schema: '1:x' is not APP:SCHEMA or APP:SCHEMA:FROM" \
  "$MOLT" sign -k "$KEY" -v 1.0.0 -H 32 --pad-header -S 32768 --data-schema 1:x fw out
expect_out 2 "molt sign: --data-schema: '0:1': APP must be 1..65535 and FROM <= SCHEMA <= 65535" \
  "$MOLT" sign -k "$KEY" -v 1.0.0 -H 32 --pad-header -S 32768 --data-schema 0:1 fw out
expect_out 2 "molt sign: --data-schema: application 1 given twice" \
  "$MOLT" sign -k "$KEY" -v 1.0.0 -H 32 --pad-header -S 32768 --data-schema 1:1 --data-schema 1:2 fw out
"$MOLT" inspect app-2.0.0 | grep -q '0x6dd5 DATA_SCHEMA       len 8    0100020001000000' && ok || bad "inspect names the TLV"

jexpect 0 '"\(.mode) \(.slot_sectors)x\(.sector_size) \(.size) \(.data_sectors)"' "swap 8x4096 90112 2" \
  "$MOLT" sim create -f "$D" --sector-size 4096 --slot-sectors 8 --align 8 --data-sectors 2
expect_out 2 "molt sim: --data-sectors: the store needs at least 2 sectors, got 1" \
  "$MOLT" sim create -f "$work/x.sim" --data-sectors 1
"$MOLT" sim write -f "$D" --slot primary app-1.0.0 >/dev/null
boot_data "kept, schema 1, phase none"
jexpect 0 '"\(.done) \(.app) \(.id) \(.len) \(.text)"' "written 1 1 21 gain=1.037 offset=-12" \
  "$MOLT" sim put -f "$D" --id 1 "gain=1.037 offset=-12"
jexpect 0 '"\(.done) \(.app) \(.id) \(.hex) \(has("text"))"' "written 2 1 00ff10 false" "$MOLT" sim put -f "$D" --app 2 --id 1 0x00ff10
expect_out 0 "gain=1.037 offset=-12" "$MOLT" sim get -f "$D" --id 1
jexpect 0 .text "gain=1.037 offset=-12" "$MOLT" sim get -f "$D" --id 1
jexpect 1 .error STORE_NOT_FOUND "$MOLT" sim get -f "$D" --app 3 --id 1
expect_out 1 "molt sim: $D: app 3 record 1: no such record [STORE_NOT_FOUND]" "$MOLT" sim get -f "$D" --app 3 --id 1
expect_out 2 "molt sim: --id N is required" "$MOLT" sim get -f "$D"
expect_out 2 "molt sim: --app: '0' is not a number in 1..65535" "$MOLT" sim get -f "$D" --app 0 --id 1

# an image that cannot migrate schema 1, and one without a schema: refused, nothing changed
cp "$D" before.sim
"$MOLT" sim write -f "$D" --slot secondary app-3.0.0 >/dev/null; cp "$D" staged.sim
expect_out 1 "molt sim: $D: image cannot migrate the device's data schema [KEEP_SCHEMA]" "$MOLT" sim request -f "$D"
cmp -s "$D" staged.sim && ok || bad "refused request changed the device file"
jexpect 1 .error KEEP_SCHEMA "$MOLT" sim request -f "$D"
"$MOLT" sim write -f "$D" --slot secondary app-none >/dev/null
expect_out 1 "molt sim: $D: image cannot migrate the device's data schema [KEEP_SCHEMA]" "$MOLT" sim request -f "$D"

# the migrating upgrade: saved, frozen, migrated in the trial, consolidated at confirm
"$MOLT" sim write -f "$D" --slot secondary app-2.0.0 >/dev/null
jexpect 0 '"\(.done) \(.data)"' "test saved" "$MOLT" sim request -f "$D"
expect_out 1 "molt sim: $D: app 1 record 1: not valid in this phase of the data-preserving upgrade [KEEP_PHASE]" \
  "$MOLT" sim put -f "$D" --id 1 late
boot_data "migrated, schema 1, phase trial (data migrated)"
jexpect 0 .text "s2|gain=1.037 offset=-12" "$MOLT" sim get -f "$D" --id 1
"$MOLT" sim records -f "$D" --json > rec.json
[ "$(jq -r '[.records[] | select(.space == "saved" and .app == 1 and .id == 1) | .text] | join(",")' rec.json)" = "gain=1.037 offset=-12" ] \
  && ok || bad "snapshot holds the old value: $(cat rec.json)"
[ "$(jq -r .phase_value rec.json)" = 112 ] && ok || bad "phase value 0x70"
jexpect 0 '"\(.done) \(.data)"' "confirmed consolidated" "$MOLT" sim confirm -f "$D"
boot_data "kept, schema 2, phase completed"
"$MOLT" sim records -f "$D" --json > rec.json
[ "$(jq '[.records[] | select(.space == "saved")] | length' rec.json)" = 0 ] && ok || bad "snapshot dropped"
expect_out 0 "0x00ff10" "$MOLT" sim get -f "$D" --app 2 --id 1
jexpect 0 '"\(.hex) \(.len)"' "00ff10 3" "$MOLT" sim get -f "$D" --app 2 --id 1

# the revert of another upgrade: the schema-2 record comes back byte for byte
"$MOLT" sim write -f "$D" --slot secondary app-2.1.0 >/dev/null
jexpect 0 '"\(.done) \(.data)"' "test saved" "$MOLT" sim request -f "$D"
boot_data "migrated, schema 2, phase trial (data migrated)"
"$MOLT" sim put -f "$D" --id 1 "written by 2.1.0" >/dev/null && ok || bad "trial write"
boot_data "restored, schema 2, phase recovered (old code, old data)"
jexpect 0 .text "s2|gain=1.037 offset=-12" "$MOLT" sim get -f "$D" --id 1
jexpect 0 '"\(.done) \(.app) \(.id)"' "deleted 2 1" "$MOLT" sim del -f "$D" --app 2 --id 1
jexpect 1 .error STORE_NOT_FOUND "$MOLT" sim get -f "$D" --app 2 --id 1

summary
