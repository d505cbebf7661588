#!/usr/bin/env bash
# moltd_attest.sh - moltd's attestation extension on 127.0.0.1 (R-ATTEST, deployer
# side): a simulated device's token (`molt sim attest`) answering a challenge from
# moltd is verified with the device's provisioned IAK; the attested version and
# measurement land in the device row and the evidence in the audit log. A wrong
# nonce, a replayed challenge, an expired challenge, another device's token, a
# tampered token, a JSON body -> the exact 4xx and nothing recorded.
# With MOLTD_TEST_DB=postgresql://... (the ctest agent_pg, tests/py/test_agent.py) the same test runs on PostgreSQL.
set -uo pipefail
: "${MOLT:?}" "${MOLTD:?}" "${VECTORS:?}"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

K=$VECTORS/keys/sign-ecdsa-p256.pub.pem; I=$VECTORS/images
IMG=$I/p03_ecdsa_p256_seccnt.bin         # 1.2.3+4, security counter 5
moltd_setup
moltd_start --attest-ttl 60
A="Bearer $ADMIN"

# Two simulated devices, each with its own IAK, both running 1.2.3+4.
for d in devA devB; do
  step "$MOLT" sim create -f "$work/$d.sim" --sector-size 4096 --slot-sectors 8
  step "$MOLT" sim write -f "$work/$d.sim" --slot primary "$IMG"
  step "$MOLT" sim boot -f "$work/$d.sim" -k "$K"
  step "$MOLT" sim iak -f "$work/$d.sim" -o "$work/$d.iak.pem"
done
call 201 POST "$U/signers" "$A" -d "$(jq -n --rawfile p "$K" '{name:"vendor",pem:$p}')"
call 201 POST "$U/classes" "$A" -d '{"name":"sensor","signers":["vendor"]}'
declare -A TOK
for d in devA devB; do
  call 201 POST "$U/devices" "$A" -d "$(jq -n --arg id $d --rawfile ak "$work/$d.iak.pem" '{id:$id,class:"sensor",attestation_key:$ak}')"
  TOK[$d]=$(js .token)
done
T() { echo "TargetToken ${TOK[$1]}"; }
H=$("$MOLT" inspect --json "$IMG" | jq -r .hash.value)
token() { "$MOLT" sim attest -f "$work/$1.sim" -k "$K" --nonce "$2" -o "$work/$3" >/dev/null; }
post() { call "$1" POST "$D/$2/molt/attestation" "$(T "$2")" -H 'Content-Type: application/cbor' --data-binary "@$work/$3"; }
snapshot() { sql "SELECT id, attested_version, attested_hash, attested_at FROM devices ORDER BY id"; sql "SELECT COUNT(*) FROM audit"; }

# --- no challenge yet: 409, nothing recorded
token devA "$(printf '%064d' 0)" t0
before=$(snapshot)
post 409 devA t0
eq "$(js .error)" "no outstanding challenge for devA (GET molt/attestation first; a challenge is used once and expires)" "409 message"

# --- a challenge: 32 random bytes, stored for this device only
call 200 GET "$D/devA/molt/attestation" "$(T devA)"; NA=$(js .nonce)
[[ $NA =~ ^[0-9a-f]{64}$ ]] && ok || bad "nonce format: $NA"
eq "$(sql "SELECT nonce FROM attest_challenges WHERE device_id = 'devA'")" "$NA" "challenge stored"
call 401 GET "$D/devA/molt/attestation" "$(T devB)"           # another device's target token
call 405 PUT "$D/devA/molt/attestation" "$(T devA)"

# --- refusals: nothing recorded, the challenge stays
token devA "$(printf '%064d' 1)" wrongnonce
post 422 devA wrongnonce; eq "$(js .error)" "attestation token refused: nonce does not match the challenge" "wrong nonce"
token devB "$NA" other                                       # devB answers devA's challenge with its own key
post 422 devA other; eq "$(js .error)" "attestation token refused: signature does not verify with this IAK" "other key"
token devA "$NA" good
cp "$work/good" "$work/tampered"; sz=$(stat -c %s "$work/good")
printf '\x00' | dd of="$work/tampered" bs=1 seek=$((sz - 70)) conv=notrunc status=none
post 422 devA tampered
call 415 POST "$D/devA/molt/attestation" "$(T devA)" -H 'Content-Type: application/json' --data-binary "@$work/good"
call 400 POST "$D/devA/molt/attestation" "$(T devA)" -H 'Content-Type: application/cbor' --data-binary ''
head -c 20 "$work/good" > "$work/short"; post 422 devA short
eq "$(snapshot)" "$before" "refusals recorded nothing"
eq "$(sql "SELECT nonce FROM attest_challenges WHERE device_id = 'devA'")" "$NA" "challenge kept after refusals"

# --- the good token: accepted, recorded, the challenge consumed
post 200 devA good
eq "$(jq -c . "$work/body")" "{\"attested_version\":\"1.2.3+4\",\"measurement\":\"$H\",\"security_counter\":5}" "answer"
eq "$(sql "SELECT attested_version, attested_hash FROM devices WHERE id = 'devA'")" "1.2.3+4|$H" "device row"
eq "$(sql "SELECT COUNT(*) FROM attest_challenges")" 0 "challenge consumed"
call 200 GET "$U/devices/devA" "$A"; eq "$(js .attested_version)" "1.2.3+4" "device list attested_version"
call 200 GET "$U/devices/devB" "$A"; eq "$(js .attested_version)" "null" "devB not attested"
call 200 GET "$U/audit" "$A"
eq "$(jq -r '[.[] | select(.what == "attest.verified")] | length' "$work/body")" 1 "one audit record"
eq "$(jq -r '.[] | select(.what == "attest.verified") | [.actor, .object, .version_after] | join(" ")' "$work/body")" \
   "device:devA devA 1.2.3+4" "audit record"
ev=$(jq -r '.[] | select(.what == "attest.verified") | .detail' "$work/body")
eq "$(jq -r '[.nonce, .measurement, .token_sha256] | join(" ")' <<<"$ev")" \
   "$NA $H $(sha256sum "$work/good" | cut -d' ' -f1)" "audit evidence"

# --- the same token again (replayed challenge): 409, nothing recorded
before=$(snapshot)
post 409 devA good
eq "$(snapshot)" "$before" "replay recorded nothing"

# --- an expired challenge: 409
call 200 GET "$D/devB/molt/attestation" "$(T devB)"; NB=$(js .nonce)
token devB "$NB" goodB
sql "UPDATE attest_challenges SET expires = 1 WHERE device_id = 'devB'"
before=$(snapshot)
post 409 devB goodB
eq "$(snapshot)" "$before" "expired recorded nothing"
# a new challenge replaces the old one: the token for the old one no longer fits
call 200 GET "$D/devB/molt/attestation" "$(T devB)"; NB2=$(js .nonce)
[ "$NB2" != "$NB" ] && ok || bad "fresh challenge repeated"
post 422 devB goodB
token devB "$NB2" goodB2; post 200 devB goodB2
eq "$(sql "SELECT attested_version FROM devices WHERE id = 'devB'")" "1.2.3+4" "devB attested"

summary
