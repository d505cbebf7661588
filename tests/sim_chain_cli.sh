#!/usr/bin/env bash
# sim_chain_cli.sh - the boot chain and the key set on the simulator, through
# the CLI (issue 18, R-ALLUPDATABLE; docs/boot-chain.md, docs/keys.md).
#
# A sim device gets the chain (`molt sim chain`); a factory stage 1 boots and is
# reported by `molt sim boot --json` (slot, version, confirmed, key set 0); a
# stage-1 update runs as a trial, reverts when not confirmed, stays when
# confirmed (stage-1 counter 1 -> 2); an application image offered as stage 1
# and an older stage 1 are refused. A key-update made by `molt keyupdate`
# adds a key: the application image signed by it is then accepted; the next
# retires f0: f0's image is refused with KEY_RETIRED (key-updates go through the
# PSA FWU API as component 2 on this SWAP device); replaying a key-update is
# refused (KU_REPLAY) and the key set stays. Retiring the signer of the running
# image is refused (KU_STRANDS). Usage errors: one line, exit 2.
set -uo pipefail
: "${MOLT:?}"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
pass=0; fail=0
ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# expect CODE STDERR_SUBSTRING CMD...
expect() {
  local code=$1 text=$2; shift 2
  "$@" >"$work/out" 2>"$work/err"; local rc=$?
  if [ "$rc" -ne "$code" ]; then bad "$* -> exit $rc, expected $code ($(head -c 300 "$work/err"))"; return; fi
  if [ -n "$text" ]; then
    if ! grep -qF -- "$text" "$work/err"; then bad "$* -> stderr '$(cat "$work/err")' lacks '$text'"; return; fi
    if [ "$(wc -l <"$work/err")" -ne 1 ]; then bad "$* -> stderr is not one line"; return; fi
  fi
  ok
}
# jq-like check of the last JSON output: jcheck 'python expression over j'
jcheck() {
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert eval(sys.argv[2]), j' "$work/out" "$1" && ok || bad "json: $1: $(cat "$work/out")"
}

cd "$work" || exit 2
for k in root0 root1 root2 f0 f1 n0 s1; do
  "$MOLT" keygen -t ecdsa-p256 -k $k.pem >/dev/null && "$MOLT" getpub -k $k.pem -e pem >$k.pub || bad "keygen $k"
done
R=(-r root0.pub -r root1.pub -r root2.pub --threshold 2)
K=(-k f0.pub -k f1.pub -k s1.pub)   # the factory table (stage 0 trusts it too)
head -c 3000 /dev/zero | tr '\0' 'a' >fw.bin
sign() { "$MOLT" sign -k "$1.pem" -v "$2" -H 0x20 --pad-header -S 0x8000 --align 8 --security-counter "$3" "${@:5}" fw.bin "$4" >/dev/null || bad "sign $4"; }
sign f0 1.0.0 1 app-f0.img
sign n0 1.1.0 1 app-n0.img
sign f1 1.2.0 1 app-f1.img
sign s1 1.0.0+1 1 s1-v1.img --boot-stage 1
sign s1 1.0.0+2 2 s1-v2.img --boot-stage 1
sign s1 1.0.0+0 0 s1-old.img --boot-stage 1
sign s1 1.0.0+9 9 app-by-s1.img   # an application image by the stage-1 key, no mark

expect 0 "" "$MOLT" sim create -f dev --sector-size 4096 --slot-sectors 8
expect 0 "" "$MOLT" sim write -f dev --slot primary app-f0.img
expect 2 "-f DEV is required" "$MOLT" sim chain
expect 0 "" "$MOLT" sim chain -f dev
expect 2 "already has a boot chain" "$MOLT" sim chain -f dev
expect 1 "no stage 1 is confirmed yet" "$MOLT" sim stage1 -f dev s1-v2.img
expect 0 "" "$MOLT" sim stage1 -f dev --factory s1-v1.img
expect 0 "" "$MOLT" sim boot -f dev "${K[@]}" --json
jcheck 'j["stage1"]["slot"]=="s1a" and j["stage1"]["version"]=="1.0.0+1" and not j["stage1"]["trial"] and j["stage1"]["security_counter"]==1 and j["keyset"]["seq"]==0 and j["version"]=="1.0.0+0"'

# Stage-1 update: trial, revert; trial, confirm.
expect 0 "" "$MOLT" sim stage1 -f dev s1-v2.img
grep -q "written to s1b, trial requested" out || bad "stage1 summary: $(cat out)"
expect 0 "" "$MOLT" sim boot -f dev "${K[@]}" --json
jcheck 'j["stage1"]["slot"]=="s1b" and j["stage1"]["trial"] and j["stage1"]["action"]=="upgrade-test" and j["stage1"]["security_counter"]==1'
expect 0 "" "$MOLT" sim boot -f dev "${K[@]}" --json
jcheck 'j["stage1"]["slot"]=="s1a" and j["stage1"]["action"]=="revert" and j["stage1"]["version"]=="1.0.0+1"'
expect 0 "" "$MOLT" sim stage1 -f dev s1-v2.img
expect 0 "" "$MOLT" sim boot -f dev "${K[@]}"
grep -q "stage 1: slot s1b, version 1.0.0+2, trial" out || bad "text boot: $(cat out)"
expect 0 "" "$MOLT" sim stage1-confirm -f dev
expect 0 "" "$MOLT" sim boot -f dev "${K[@]}" --json
jcheck 'j["stage1"]["slot"]=="s1b" and not j["stage1"]["trial"] and j["stage1"]["security_counter"]==2'
# An application image as stage 1, and an older stage 1: refused, v2 stays.
expect 0 "" "$MOLT" sim stage1 -f dev app-by-s1.img
expect 0 "" "$MOLT" sim boot -f dev "${K[@]}" --json
jcheck 'j["stage1"]["action"]=="refused" and j["stage1"]["staged"]=="BOOT_STAGE" and j["stage1"]["version"]=="1.0.0+2"'
expect 0 "" "$MOLT" sim stage1 -f dev s1-old.img
expect 0 "" "$MOLT" sim boot -f dev "${K[@]}" --json
jcheck 'j["stage1"]["action"]=="refused" and j["stage1"]["staged"] in ("ROLLBACK","DOWNGRADE") and j["stage1"]["slot"]=="s1b"'
# The same through the PSA FWU API (-k: stage 0's keys; component 1, molt_fwu_add_remap):
# finish refuses exactly, before anything is requested; v3 goes to the slot not confirmed.
sign s1 1.0.0+3 3 s1-v3.img --boot-stage 1
expect 1 "BOOT_STAGE" "$MOLT" sim stage1 -f dev "${K[@]}" app-by-s1.img
expect 1 "ROLLBACK" "$MOLT" sim stage1 -f dev "${K[@]}" s1-old.img
expect 1 "KEY_UNTRUSTED" "$MOLT" sim stage1 -f dev -k f0.pub s1-v3.img
expect 1 "DOWNGRADE" "$MOLT" sim stage1 -f dev "${K[@]}" s1-v2.img
expect 2 "excludes --factory and --permanent" "$MOLT" sim stage1 -f dev "${K[@]}" --permanent s1-v3.img
expect 0 "" "$MOLT" sim stage1 -f dev "${K[@]}" s1-v3.img
grep -q "written to s1a, trial requested (PSA FWU component 1)" out || bad "fwu stage1 summary: $(cat out)"
expect 1 "staged or on trial" "$MOLT" sim stage1 -f dev "${K[@]}" s1-v3.img
expect 0 "" "$MOLT" sim boot -f dev "${K[@]}" --json
jcheck 'j["stage1"]["slot"]=="s1a" and j["stage1"]["trial"] and j["stage1"]["version"]=="1.0.0+3" and j["stage1"]["security_counter"]==2'
expect 0 "" "$MOLT" sim stage1-confirm -f dev --fwu
grep -q "stage 1: 1.0.0+3 accepted through the PSA FWU API (component 1), stage-1 counter 3" out || bad "fwu accept: $(cat out)"
expect 1 "no stage-1 trial to accept" "$MOLT" sim stage1-confirm -f dev --fwu
expect 0 "" "$MOLT" sim boot -f dev "${K[@]}" --json
jcheck 'j["stage1"]["slot"]=="s1a" and not j["stage1"]["trial"] and j["stage1"]["security_counter"]==3'

# Key rotation. Before it, n0's image is untrusted.
expect 0 "" "$MOLT" sim write -f dev --slot secondary app-n0.img
expect 0 "" "$MOLT" sim request -f dev
expect 0 "" "$MOLT" sim boot -f dev "${K[@]}" --json
jcheck 'j["action"]=="refused" and j["staged"]=="KEY_UNTRUSTED" and j["version"]=="1.0.0+0"'
expect 0 "" "$MOLT" keyupdate make --seq 1 --add n0.pub -r root0.pub -r root1.pub -r root2.pub -k root0.pem -k root1.pem -o ku1
expect 0 "" "$MOLT" keyupdate make --seq 2 --retire f0.pub -r root0.pub -r root1.pub -r root2.pub -k root1.pem -k root2.pem -o ku2
expect 0 "" "$MOLT" keyupdate make --seq 1 --add f1.pub -r root0.pub -r root1.pub -r root2.pub -k root0.pem -o ku-one
expect 2 "are required" "$MOLT" sim keyupdate -f dev "${K[@]}" ku1
expect 1 "KU_SIG" "$MOLT" sim keyupdate -f dev "${K[@]}" "${R[@]}" ku-one
expect 1 "KU_GAP" "$MOLT" sim keyupdate -f dev "${K[@]}" "${R[@]}" ku2
expect 0 "" "$MOLT" sim keyupdate -f dev "${K[@]}" "${R[@]}" --json ku1
jcheck 'j["applied"] and j["seq"]==1 and j["added"]==1 and j["retired"]==0'
expect 1 "KU_REPLAY" "$MOLT" sim keyupdate -f dev "${K[@]}" "${R[@]}" ku1
# The device runs f0's image: retiring f0 would strand it.
expect 1 "KU_STRANDS" "$MOLT" sim keyupdate -f dev "${K[@]}" "${R[@]}" ku2
# n0's image is accepted now; confirmed, it runs. (The key-update travels
# through the PSA FWU API, component 2: while an application update is
# staged, install is refused and nothing changes.)
expect 0 "" "$MOLT" sim write -f dev --slot secondary app-n0.img
expect 0 "" "$MOLT" sim request -f dev
expect 1 "staged or on trial" "$MOLT" sim keyupdate -f dev "${K[@]}" "${R[@]}" ku2
expect 0 "" "$MOLT" sim boot -f dev "${K[@]}" --json
jcheck 'j["action"]=="upgrade-test" and j["version"]=="1.1.0+0" and j["keyset"]["seq"]==1'
expect 0 "" "$MOLT" sim confirm -f dev
expect 0 "" "$MOLT" sim boot -f dev "${K[@]}" --json
jcheck 'not j["trial"] and j["version"]=="1.1.0+0"'
expect 0 "" "$MOLT" sim keyupdate -f dev "${K[@]}" "${R[@]}" ku2
grep -q "key set 2 in force (1 added key, 1 retired)" out || bad "keyupdate summary: $(cat out)"
expect 1 "KU_ROLLBACK" "$MOLT" sim keyupdate -f dev "${K[@]}" "${R[@]}" ku1
# f0's image is refused as retired from now on; f1's is accepted.
expect 0 "" "$MOLT" sim write -f dev --slot secondary app-f0.img
expect 0 "" "$MOLT" sim request -f dev
expect 0 "" "$MOLT" sim boot -f dev "${K[@]}" --json
jcheck 'j["action"]=="refused" and j["staged"]=="KEY_RETIRED" and j["version"]=="1.1.0+0" and j["keyset"]["seq"]==2'
expect 0 "" "$MOLT" sim write -f dev --slot secondary app-f1.img
expect 0 "" "$MOLT" sim request -f dev
expect 0 "" "$MOLT" sim boot -f dev "${K[@]}" --json
jcheck 'j["action"]=="upgrade-test" and j["version"]=="1.2.0+0"'
# A device without the chain reports no stage1/keyset.
expect 0 "" "$MOLT" sim create -f plain
expect 0 "" "$MOLT" sim write -f plain --slot primary app-f0.img
expect 0 "" "$MOLT" sim boot -f plain -k f0.pub --json
jcheck '"stage1" not in j and "keyset" not in j'
expect 2 "" "$MOLT" sim stage1 -f plain s1-v1.img
expect 2 "" "$MOLT" sim stage1 -f dev
# A damaged chain file is refused in one line.
head -c 100 dev.chain >broken.chain; cp dev broken
expect 2 "broken.chain" "$MOLT" sim boot -f broken "${K[@]}"

echo "sim_chain_cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
