#!/usr/bin/env bash
# keyupdate_cli.sh - `molt keyupdate` and `molt inspect` of a key-update (docs/keys.md).
#
# R-ALLUPDATABLE, R-AUTH: a key-update made by the CLI is judged by lib/ (molt
# keyupdate check plays a device with the given rotation keys, threshold and
# factory keys): one root signature below a threshold of two is refused
# (KU_SIG); co-signed by a second holder it is accepted; an image key cannot
# co-sign; the chain is checked in order (replay, rollback, gap refused with
# their reasons); `molt inspect` names what it adds and retires; `molt sign
# --boot-stage 1` marks a stage-1 image (docs/boot-chain.md). Usage and
# malformed input: one line on stderr, exit 2 (1 for a refused update).
set -uo pipefail
: "${MOLT:?}"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$work" || exit 2
for k in root0 root1 root2 f0 f1 n0; do
  "$MOLT" keygen -t ecdsa-p256 -k $k.pem >/dev/null && "$MOLT" getpub -k $k.pem -e pem >$k.pub || { bad "keygen $k"; }
done
"$MOLT" keygen -t ed25519 -k ed.pem >/dev/null && "$MOLT" getpub -k ed.pem -e pem >ed.pub || bad "keygen ed"
R=(-r root0.pub -r root1.pub -r root2.pub)
DEV=("${R[@]}" --threshold 2 -f f0.pub -f f1.pub)

# Update 1: add n0 and an Ed25519 key, retire f1; signed by root 1 only.
expect 0 "" "$MOLT" keyupdate make --seq 1 --add n0.pub --add ed.pub --retire f1.pub "${R[@]}" -k root1.pem -o ku1.half
grep -q "seq 1: 2 added, 1 retired, 1 signature" out || bad "make summary: $(cat out)"
expect 1 "KU_SIG" "$MOLT" keyupdate check "${DEV[@]}" ku1.half
# A second holder co-signs; the same holder twice and an image key cannot.
expect 2 "has signed already" "$MOLT" keyupdate sign "${R[@]}" -k root1.pem ku1.half ku1.dup
expect 2 "not one of the rotation keys" "$MOLT" keyupdate sign "${R[@]}" -k f0.pem ku1.half ku1.bad
expect 0 "" "$MOLT" keyupdate sign "${R[@]}" -k root2.pem ku1.half ku1
expect 0 "" "$MOLT" keyupdate check "${DEV[@]}" ku1
grep -q "makes key set 1 (2 added keys in force, 1 retired)" out || bad "check summary: $(cat out)"
# Devices running an image signed by f1 only would refuse their own image
# after this update: --running says so (KU_STRANDS); f0's image is fine.
head -c 3000 /dev/zero | tr '\0' 'a' >fw.bin
"$MOLT" sign -k f1.pem -v 1.0.0 -H 0x200 --pad-header -S 0x10000 --align 8 fw.bin by-f1.img >/dev/null || bad "sign f1"
"$MOLT" sign -k f0.pem -v 1.0.0 -H 0x200 --pad-header -S 0x10000 --align 8 fw.bin by-f0.img >/dev/null || bad "sign f0"
expect 1 "KU_STRANDS" "$MOLT" keyupdate check "${DEV[@]}" --running by-f1.img ku1
expect 0 "" "$MOLT" keyupdate check "${DEV[@]}" --running by-f0.img ku1
# Another device class (other rotation keys) refuses it.
expect 1 "KU_SIG" "$MOLT" keyupdate check -r root2.pub -r root1.pub -r root0.pub --threshold 2 -f f0.pub -f f1.pub ku1

# inspect, text and JSON.
expect 0 "" "$MOLT" inspect ku1
f1id=$(openssl pkey -pubin -in f1.pub -outform DER 2>/dev/null | sha256sum | cut -c1-64)
n0id=$(openssl pkey -pubin -in n0.pub -outform DER 2>/dev/null | sha256sum | cut -c1-64)
grep -q "retire  $f1id" out || bad "inspect names the retired key: $(cat out)"
grep -q "add     ecdsa-p256 $n0id" out || bad "inspect names the added key: $(cat out)"
grep -q "add     ed25519 " out || bad "inspect names the Ed25519 key"
grep -q "signed by rotation keys: #1 #2" out || bad "inspect names the signers: $(cat out)"
expect 0 "" "$MOLT" inspect --json ku1
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["type"]=="key-update" and j["seq"]==1 and len(j["add"])==2 and j["retire"]==[sys.argv[2]] and j["signed_by_roots"]==[1,2], j' out "$f1id" && ok || bad "inspect --json"
head -c 40 ku1 >ku1.short
expect 1 "not a well-formed key-update" "$MOLT" inspect ku1.short
# --json keeps its contract on a malformed key-update too: one JSON object naming the error (issue 16,
# found by fuzz_inspect: it printed nothing)
expect 1 "not a well-formed key-update" "$MOLT" inspect --json ku1.short
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j=={"file":"ku1.short","type":"key-update","size":40,"error":{"code":"KU_FORMAT","reason":"not a well-formed key-update"}}, j' out && ok || bad "inspect --json of a malformed key-update: $(cat out)"

# Update 2 retires n0 by its id; checked after update 1, refused alone (gap).
expect 0 "" "$MOLT" keyupdate make --seq 2 --retire "$n0id" "${R[@]}" -k root0.pem -k root2.pem -o ku2
expect 0 "" "$MOLT" keyupdate check "${DEV[@]}" --after ku1 ku2
expect 1 "KU_GAP" "$MOLT" keyupdate check "${DEV[@]}" ku2
expect 1 "KU_REPLAY" "$MOLT" keyupdate check "${DEV[@]}" --after ku1 ku1
expect 1 "KU_ROLLBACK" "$MOLT" keyupdate check "${DEV[@]}" --after ku1 --after ku2 ku1
# Retiring every factory key without adding one: lockout.
expect 0 "" "$MOLT" keyupdate make --seq 1 --retire f0.pub --retire f1.pub "${R[@]}" -k root0.pem -k root1.pem -o ku-all
expect 1 "KU_LOCKOUT" "$MOLT" keyupdate check "${DEV[@]}" ku-all
# Altered after signing.
cp ku1 ku1.alt; printf '\x02' | dd of=ku1.alt bs=1 seek=4 conv=notrunc 2>/dev/null
expect 1 "KU_SIG" "$MOLT" keyupdate check "${DEV[@]}" ku1.alt

# A stage-1 image (docs/boot-chain.md): molt sign --boot-stage 1 writes the protected mark.
expect 0 "" "$MOLT" sign -k f0.pem -v 1.0.0 -H 0x200 --pad-header -S 0x10000 --align 8 --boot-stage 1 fw.bin s1.img
expect 0 "" "$MOLT" inspect --json s1.img
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); t=[x for x in j["protected_tlvs"] if x["type"]==0x6dc1]; assert len(t)==1 and t[0]["value"]=="01", j["protected_tlvs"]' out && ok || bad "inspect shows the BOOT_STAGE mark"
expect 2 "--boot-stage: '0'" "$MOLT" sign -k f0.pem -v 1.0.0 -H 0x200 --pad-header -S 0x10000 --boot-stage 0 fw.bin x.img
expect 2 "--boot-stage given twice" "$MOLT" sign -k f0.pem -v 1.0.0 -H 0x200 --pad-header -S 0x10000 --boot-stage 1 --boot-stage 1 fw.bin x.img

# Usage errors: one line, exit 2.
expect 2 "need --seq" "$MOLT" keyupdate make --add n0.pub -o x
expect 2 "--seq 0" "$MOLT" keyupdate make --seq 0 --add n0.pub "${R[@]}" -o x
expect 2 "nothing to do" "$MOLT" keyupdate make --seq 1 "${R[@]}" -o x
expect 2 "a rotation key is ecdsa-p256" "$MOLT" keyupdate make --seq 1 --add n0.pub -r ed.pub -k ed.pem -o x
expect 2 "unknown action" "$MOLT" keyupdate frobnicate
expect 2 "not a key-update" "$MOLT" keyupdate sign "${R[@]}" -k root0.pem ku1.short x
expect 2 "no-such.pub" "$MOLT" keyupdate make --seq 1 --add no-such.pub "${R[@]}" -o x

summary
