#!/usr/bin/env bash
# moltd_ticket.sh - deferral tickets from moltd (R-AVAIL, deployer side) on 127.0.0.1.
# Simulated devices (`molt sim`) attest; moltd signs tickets for those in good standing.
# Checked here, each with its exact status and body and one audit record per answer:
# - the ticket key: start-up refusals (unreadable, not P-256, an image signer's key),
#   503 without one, GET /api/v1/ticketkey;
# - class policies and quarantine over the management API (roles, 400 naming the field,
#   404, audit);
# - every refusal (400 MALFORMED, 409 NOT_ATTESTED, 409 NO_POLICY, 403 QUARANTINED,
#   403 OUTDATED, 503 NO_TICKET_KEY), with nothing changed but the audit record;
# - issued tickets verified INDEPENDENTLY of moltd: openssl checks the signature (r || s
#   turned into DER by a few lines of python3 here) with the key from /api/v1/ticketkey,
#   and every field is compared byte for byte (identity = SHA-256 of the IAK point, taken
#   from the device's PEM with openssl);
# - the standing rule in time: a device inside its grace gets a ticket, after it not; the
#   grace counts from moltd's release of the action (campaign creation, a step released
#   later, start_at, a resume), not from the device's fetch; nothing released, a paused or
#   cancelled campaign, or an update already attested: current;
# - random nonces (fixed seed) against a regular-expression oracle.
# With MOLTD_TEST_DB=postgresql://... (tests/moltd_ticket_pg.sh) the same test runs on PostgreSQL.
set -uo pipefail
: "${MOLT:?}" "${MOLTD:?}" "${VECTORS:?}"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

K=$VECTORS/keys; I=$VECTORS/images; PL=$VECTORS/payloads
IMG=$I/p03_ecdsa_p256_seccnt.bin         # 1.2.3+4
moltd_setup
refused_start() {  # refused_start MESSAGE [options]: exit 2 and exactly this one line
  "$MOLTD" --db "$DBURL" --port 0 --artifact-dir "$work/art" --admin-token-file "$work/admin.token" "${@:2}" \
           >/dev/null 2>"$work/err"
  eq "$?" 2 "start refused: $1"
  eq "$(cat "$work/err")" "moltd: $1" "start message"
}
A="Bearer $ADMIN"

# --- devices: simulated, each with its own IAK, all running 1.2.3+4
DEVS="devA devB devC devD"
for d in $DEVS; do
  step "$MOLT" sim create -f "$work/$d.sim" --sector-size 4096 --slot-sectors 16
  step "$MOLT" sim write -f "$work/$d.sim" --slot primary "$IMG"
  step "$MOLT" sim boot -f "$work/$d.sim" -k "$K/sign-ecdsa-p256.pub.pem"
  step "$MOLT" sim iak -f "$work/$d.sim" -o "$work/$d.iak.pem"
done
"$MOLT" sign -k "$K/sign-ecdsa-p256.pem" -v 1.3.0+0 -s 9 -H 0x200 --pad-header -S 0x10000 "$PL/payload_A_1000.bin" \
        "$work/v13.bin" >/dev/null || bad "sign v13"

moltd_start
call 201 POST "$U/signers" "$A" -d "$(jq -n --rawfile p "$K/sign-ecdsa-p256.pub.pem" '{name:"vendor",pem:$p}')"
call 201 POST "$U/classes" "$A" -d '{"name":"sensor","signers":["vendor"]}'
call 201 POST "$U/classes" "$A" -d '{"name":"meter","signers":["vendor"]}'
call 201 POST "$U/tokens" "$A" -d '{"name":"ops","role":"operator"}'; OPS="Bearer $(js .token)"
call 201 POST "$U/tokens" "$A" -d '{"name":"watch","role":"viewer"}'; VIEW="Bearer $(js .token)"
call 201 POST "$U/tokens" "$A" -d '{"name":"gw","role":"gateway"}'; GW="GatewayToken $(js .token)"
declare -A TOK
for d in $DEVS; do
  cls=sensor; [ $d == devD ] && cls=meter
  call 201 POST "$U/devices" "$A" -d "$(jq -n --arg id $d --arg c $cls --rawfile ak "$work/$d.iak.pem" \
                                           '{id:$id,class:$c,attestation_key:$ak}')"
  TOK[$d]=$(js .token)
done
T() { echo "TargetToken ${TOK[$1]}"; }
attest() {  # attest DEV: a fresh challenge, the sim's token, accepted
  call 200 GET "$D/$1/molt/attestation" "$(T "$1")"; local n; n=$(js .nonce)
  "$MOLT" sim attest -f "$work/$1.sim" -k "$K/sign-ecdsa-p256.pub.pem" --nonce "$n" -o "$work/$1.tok" >/dev/null
  call 200 POST "$D/$1/molt/attestation" "$(T "$1")" -H 'Content-Type: application/cbor' --data-binary "@$work/$1.tok"
}
N0=00112233445566778899aabbccddeeff
tpost() {  # tpost CODE DEV AUTH [curl args]: POST molt/ticket; notes the audit record it must write
  call "$1" POST "$D/$2/molt/ticket" "$3" -H 'Content-Type: application/json' "${@:4}"
  if [ "$1" == 200 ]; then echo issued >> "$work/expect"; else echo refused >> "$work/expect"; fi
}
ask() {  # ask CODE DEV [NONCE [AUTH]]
  tpost "$1" "$2" "${4:-$(T "$2")}" -d "{\"nonce\":\"${3:-$N0}\"}"
}
refusal() {  # refusal CODE DEV REASON ERROR [NONCE]: the exact refusal body ("N s ago": any whole seconds)
  ask "$1" "$2" "${5:-$N0}"
  eq "$(body_json | sed 's/released to it [0-9]* s ago/released to it N s ago/')" \
     "$(jq -cnS --arg e "$4" --arg r "$3" '{error:$e,reason:$r}')" "$2 refused $3"
}
snapshot() {  # everything a refusal must leave alone
  for t in devices actions campaigns campaign_steps ticket_policies device_quarantine attest_challenges; do
    sql "SELECT * FROM $t ORDER BY 1"
  done
}
nticket() { sql "SELECT COUNT(*) FROM audit WHERE what IN ('ticket.issued', 'ticket.refused')"; }
last_ticket_audit() {
  sql "SELECT actor || ' ' || what || ' ' || object || ' ' || COALESCE(version_before, '-') || ' ' || detail
       FROM audit WHERE what LIKE 'ticket.%' ORDER BY id DESC LIMIT 1"
}

# --- without a ticket key: 503, audited
refusal 503 devA NO_TICKET_KEY "no ticket key"
eq "$(last_ticket_audit)" "device:devA ticket.refused devA - {\"nonce\":\"$N0\",\"reason\":\"NO_TICKET_KEY\"}" "503 audit"
call 503 GET "$U/ticketkey" "$VIEW"; eq "$(body_json)" '{"error":"no ticket key"}' "ticketkey without a key"
moltd_stop

# --- the ticket key: refusals at start-up, one line and exit 2
openssl ecparam -name prime256v1 -genkey -out "$work/tk.pem" 2>/dev/null   # with its EC PARAMETERS block
openssl ec -in "$work/tk.pem" -pubout -out "$work/tk.pub.pem" 2>/dev/null
openssl ecparam -name secp384r1 -genkey -out "$work/p384.pem" 2>/dev/null
printf 'not a key\n' > "$work/junk.pem"
refused_start "--ticket-key $work/none.pem: cannot read the file" --ticket-key "$work/none.pem"
refused_start "--ticket-key $work/junk.pem: not a PEM private key" --ticket-key "$work/junk.pem"
refused_start "--ticket-key $work/p384.pem: not an ECDSA P-256 key (the ticket key is P-256)" --ticket-key "$work/p384.pem"
refused_start "--ticket-key $K/sign-ed25519.pem: not an ECDSA P-256 key (the ticket key is P-256)" --ticket-key "$K/sign-ed25519.pem"
refused_start "--ticket-key: this key is the image signer vendor; the ticket key must be a key of its own" \
              --ticket-key "$K/sign-ecdsa-p256.pem"
# molt keygen makes a ticket key too (PKCS#8)
"$MOLT" keygen -t ecdsa-p256 -k "$work/tk2.pem" >/dev/null 2>&1 || bad "molt keygen"
moltd_start --ticket-key "$work/tk2.pem"
call 200 GET "$U/ticketkey" "$VIEW"; eq "$(js .pem)" "$(openssl pkey -in "$work/tk2.pem" -pubout 2>/dev/null)" "keygen key served"
moltd_stop

moltd_start --ticket-key "$work/tk.pem"
call 200 GET "$U/ticketkey" "$VIEW"; js .pem > "$work/served.pub.pem"
eq "$(cat "$work/served.pub.pem")" "$(cat "$work/tk.pub.pem")" "ticketkey is the key's public part"
call 401 GET "$U/ticketkey" ""
call 405 POST "$U/ticketkey" "$A"

# --- class policies (admin; viewers read)
call 404 GET "$U/classes/sensor/ticketpolicy" "$VIEW"; eq "$(js .error)" "device class sensor has no ticket policy" "no policy yet"
call 404 GET "$U/classes/nosuch/ticketpolicy" "$VIEW"; eq "$(js .error)" "no device class nosuch" "unknown class"
na=$(sql "SELECT COUNT(*) FROM audit")
call 403 PUT "$U/classes/sensor/ticketpolicy" "$OPS" -d '{"seconds":60,"boots":2,"grace":0}'
call 404 PUT "$U/classes/nosuch/ticketpolicy" "$A" -d '{"seconds":60,"boots":2,"grace":0}'
pol400() { call 400 PUT "$U/classes/sensor/ticketpolicy" "$A" -d "$1"; eq "$(js .error)" "$2" "policy $1"; }
pol400 '{"seconds":0,"boots":2,"grace":0}' "seconds: an integer from 1 to 4294967295 (seconds of device time)"
pol400 '{"seconds":60,"boots":0,"grace":0}' "boots: an integer from 1 to 4294967295 (boots)"
pol400 '{"seconds":60,"boots":2,"grace":-1}' "grace: an integer from 0 to 4294967295 (seconds)"
pol400 '{"seconds":60,"boots":2}' "grace: an integer from 0 to 4294967295 (seconds)"
pol400 '{"seconds":"60","boots":2,"grace":0}' "seconds: an integer from 1 to 4294967295 (seconds of device time)"
pol400 '{"seconds":4294967296,"boots":2,"grace":0}' "seconds: an integer from 1 to 4294967295 (seconds of device time)"
pol400 '{"seconds":60,"boots":2.5,"grace":0}' "boots: an integer from 1 to 4294967295 (boots)"
pol400 '{"seconds":60,"boots":2,"grace":0,"days":1}' "days: unknown field (want seconds, boots, grace)"
pol400 '[1,2,3]' 'malformed JSON: the body must be an object'
eq "$(sql "SELECT COUNT(*) FROM audit")" "$na" "refused policy changes not audited"
eq "$(sql "SELECT COUNT(*) FROM ticket_policies")" 0 "no policy stored"

# --- refusals before any policy: each one audit record, nothing else changed
call 401 POST "$D/devA/molt/ticket" "$(T devB)" -d "{\"nonce\":\"$N0\"}"   # another device's token
call 405 GET "$D/devA/molt/ticket" "$(T devA)"
before=$(snapshot); n=$(nticket)
refusal 409 devA NOT_ATTESTED "moltd has accepted no attestation from devA, so it does not know what the device runs (attest first: molt/attestation)"
eq "$(snapshot)" "$before" "NOT_ATTESTED changed nothing"
eq "$(nticket)" $((n + 1)) "NOT_ATTESTED audited"
for d in $DEVS; do attest $d; done
before=$(snapshot); n=$(nticket)
refusal 409 devA NO_POLICY "device class sensor has no ticket policy"
eq "$(last_ticket_audit)" "device:devA ticket.refused devA 1.2.3+4 {\"nonce\":\"$N0\",\"reason\":\"NO_POLICY\"}" "NO_POLICY audit"
malformed='want {"nonce": 32 lowercase hex digits (the 16-byte nonce the device issued)}'
m400() { tpost 400 devA "$(T devA)" "$@"; eq "$(body_json)" "$(jq -cnS --arg e "$malformed" '{error:$e,reason:"MALFORMED"}')" "400 $*"; }
m400
m400 -d 'not json'
m400 -d '["00112233445566778899aabbccddeeff"]'
m400 -d '{"nonce":"00112233445566778899AABBCCDDEEFF"}'
m400 -d '{"nonce":"00112233445566778899aabbccddee"}'
m400 -d '{"nonce":"00112233445566778899aabbccddeeff00"}'
m400 -d '{"nonce":"0011223344556677 899aabbccddeeff"}'
m400 -d '{"nonce":1234}'
m400 -d '{"nonce":null}'
eq "$(last_ticket_audit)" "device:devA ticket.refused devA - {\"nonce\":null,\"reason\":\"MALFORMED\"}" "400 audit"
eq "$(snapshot)" "$before" "refusals changed nothing"
eq "$(nticket)" $((n + 10)) "each refusal audited once"

call 200 PUT "$U/classes/sensor/ticketpolicy" "$A" -d '{"seconds":3600,"boots":5,"grace":3}'
eq "$(body_json)" '{"boots":5,"class":"sensor","grace":3,"seconds":3600}' "policy set"
call 200 GET "$U/classes/sensor/ticketpolicy" "$VIEW"; eq "$(body_json)" '{"boots":5,"class":"sensor","grace":3,"seconds":3600}' "policy read back"
call 200 PUT "$U/classes/meter/ticketpolicy" "$A" -d '{"seconds":1,"boots":4294967295,"grace":0}'
call 200 DELETE "$U/classes/meter/ticketpolicy" "$A"; eq "$(body_json)" '{"class":"meter","deleted":true}' "policy deleted"
call 404 DELETE "$U/classes/meter/ticketpolicy" "$A"
refusal 409 devD NO_POLICY "device class meter has no ticket policy"
call 200 PUT "$U/classes/meter/ticketpolicy" "$A" -d '{"seconds":86400,"boots":4294967295,"grace":0}'
eq "$(sql "SELECT what || ' ' || object || ' ' || detail FROM audit WHERE what LIKE 'ticketpolicy.%' ORDER BY id" | paste -sd'|')" \
   'ticketpolicy.set sensor {"after":{"boots":5,"class":"sensor","grace":3,"seconds":3600},"before":null}|ticketpolicy.set meter {"after":{"boots":4294967295,"class":"meter","grace":0,"seconds":1},"before":null}|ticketpolicy.delete meter {"after":null,"before":{"boots":4294967295,"class":"meter","grace":0,"seconds":1}}|ticketpolicy.set meter {"after":{"boots":4294967295,"class":"meter","grace":0,"seconds":86400},"before":null}' \
   "policy audit"

# --- an issued ticket, checked without moltd's code
cat > "$work/split.py" <<'EOF'
# split.py TICKET_HEX DIR: the ticket's fields, one a line; DIR/signed.bin (bytes 0..59)
# and DIR/sig.der (r || s as a DER ECDSA-Sig-Value) for openssl.
import sys
t = bytes.fromhex(sys.argv[1]); d = sys.argv[2]
def der_int(b):
    b = b.lstrip(b"\0") or b"\0"
    if b[0] & 0x80:
        b = b"\0" + b
    return b"\x02" + bytes([len(b)]) + b
body = der_int(t[60:92]) + der_int(t[92:124])
open(d + "/signed.bin", "wb").write(t[:60])
open(d + "/sig.der", "wb").write(b"\x30" + bytes([len(body)]) + body)
print(len(t)); print(t[0:4].decode("latin-1")); print(t[4:36].hex()); print(t[36:52].hex())
print(int.from_bytes(t[52:56], "little")); print(int.from_bytes(t[56:60], "little"))
EOF
identity() { openssl pkey -pubin -in "$work/$1.iak.pem" -outform DER 2>/dev/null | tail -c 65 | sha256sum | cut -d' ' -f1; }
[ "$(openssl pkey -pubin -in "$work/devA.iak.pem" -outform DER 2>/dev/null | tail -c 65 | head -c 1 | od -An -tx1 | tr -d ' ')" == 04 ] \
  && ok || bad "IAK point is uncompressed"
sigok() { openssl dgst -sha256 -verify "$work/served.pub.pem" -signature "$work/sig.der" "$work/signed.bin" 2>&1; }
check_ticket() {  # check_ticket DEV NONCE S B: the answer in $work/body is a good ticket for them
  local t; t=$(js .ticket)
  [[ $t =~ ^[0-9a-f]{248}$ ]] && ok || bad "ticket format: $t"
  eq "$(python3 "$work/split.py" "$t" "$work" | paste -sd' ')" "124 MDT1 $(identity "$1") $2 $3 $4" "$1 ticket fields"
  eq "$(sigok)" "Verified OK" "$1 ticket signature"
  eq "$(js '[.seconds, .boots] | join(" ")')" "$3 $4" "$1 answer S B"
}
n=$(nticket); before=$(snapshot)
ask 200 devA; check_ticket devA $N0 3600 5
eq "$(jq -r 'keys | join(",")' "$work/body")" "boots,seconds,ticket" "answer has exactly the contract's fields"
eq "$(snapshot)" "$before" "issuing changed nothing but the audit"
eq "$(nticket)" $((n + 1)) "issued audited"
th=$(js .ticket | python3 -c 'import sys, hashlib; print(hashlib.sha256(bytes.fromhex(sys.stdin.read().strip())).hexdigest())')
eq "$(last_ticket_audit)" \
   "device:devA ticket.issued devA 1.2.3+4 {\"boots\":5,\"nonce\":\"$N0\",\"seconds\":3600,\"ticket_sha256\":\"$th\"}" "issued audit"
# the checker itself refuses an altered ticket (one bit of S, then of the signature)
t=$(js .ticket)
python3 "$work/split.py" "${t:0:104}$(printf '%x' $(( 0x${t:104:1} ^ 1 )))${t:105}" "$work" >/dev/null
[ "$(sigok)" != "Verified OK" ] && ok || bad "altered S still verifies"
python3 "$work/split.py" "${t:0:200}$(printf '%x' $(( 0x${t:200:1} ^ 8 )))${t:201}" "$work" >/dev/null
[ "$(sigok)" != "Verified OK" ] && ok || bad "altered signature still verifies"
# identity comes from moltd's record: a claimed one in the body is ignored
N1=ffeeddccbbaa99887766554433221100
tpost 200 devB "$(T devB)" -d "{\"nonce\":\"$N1\",\"identity\":\"$(identity devA)\"}"
check_ticket devB $N1 3600 5
[ "$(identity devA)" != "$(identity devB)" ] && ok || bad "two devices, one identity"
ask 200 devD "$N1"; check_ticket devD $N1 86400 4294967295
ask 200 devB "$N0" "$GW"; check_ticket devB $N0 3600 5               # a gateway asks for its device
eq "$(sql "SELECT actor FROM audit WHERE what = 'ticket.issued' ORDER BY id DESC LIMIT 1")" "gateway:gw" "gateway actor"

# random nonces (fixed seed) against a regular-expression oracle: 200 exactly for 32 lowercase hex
RANDOM=1207; alpha=0123456789abcdefABCDEFgz; agree=0; good=0
for i in $(seq 24); do
  len=32; [ $((RANDOM % 2)) -eq 0 ] && len=$((30 + RANDOM % 5)); s=
  for _ in $(seq $len); do if [ $((RANDOM % 48)) -eq 0 ]; then s+=${alpha:$((RANDOM % 24)):1}; else s+=${alpha:$((RANDOM % 16)):1}; fi; done
  want=400; [[ $s =~ ^[0-9a-f]{32}$ ]] && want=200 && good=$((good + 1))
  if [ $want == 200 ]; then echo issued >> "$work/expect"; else echo refused >> "$work/expect"; fi
  got=$(curl -s -o "$work/body" -w '%{http_code}' -X POST -H "Authorization: $(T devC)" -d "{\"nonce\":\"$s\"}" "$D/devC/molt/ticket")
  if [ "$got" == "$want" ] && { [ $want == 400 ] || [ "$(python3 "$work/split.py" "$(js .ticket)" "$work" | sed -n 4p)" == "$s" ]; }; then
    agree=$((agree + 1)); [ $want == 200 ] && [ "$(sigok)" == "Verified OK" ] && agree=$((agree + 1))
  else bad "nonce $s: $got, oracle $want"; fi
  [ $want == 200 ] && agree=$((agree - 1))
done
eq "$agree $good" "24 13" "random nonces agree with the oracle (13 good ones, 11 bad)"

# --- quarantine (operators and admins; viewers read)
call 200 GET "$U/devices/devA/quarantine" "$VIEW"; eq "$(body_json)" '{"by":null,"id":"devA","quarantined":false,"reason":null,"since":null}' "not quarantined"
call 403 PUT "$U/devices/devA/quarantine" "$VIEW" -d '{"quarantined":true,"reason":"x"}'
call 404 PUT "$U/devices/nosuch/quarantine" "$OPS" -d '{"quarantined":true,"reason":"x"}'
q400() { call 400 PUT "$U/devices/devA/quarantine" "$OPS" -d "$1"; eq "$(js .error)" "$2" "quarantine $1"; }
q400 '{"quarantined":true}' "reason: required to quarantine a device (1 to 256 bytes)"
q400 '{"quarantined":"yes","reason":"x"}' "quarantined: true or false"
q400 '{"quarantined":true,"reason":7}' "reason: a string of at most 256 bytes"
q400 "{\"quarantined\":true,\"reason\":\"$(printf 'r%.0s' $(seq 257))\"}" "reason: a string of at most 256 bytes"
q400 '{"quarantined":true,"reason":"x","until":5}' "until: unknown field (want quarantined, reason)"
call 200 PUT "$U/devices/devA/quarantine" "$OPS" -d '{"quarantined":true,"reason":"tampering suspected"}'
eq "$(js '[.id, .quarantined, .reason, .by] | join(" ")')" "devA true tampering suspected token:ops" "quarantined"
before=$(snapshot)
refusal 403 devA QUARANTINED "device devA is quarantined: tampering suspected"
eq "$(snapshot)" "$before" "QUARANTINED changed nothing"
eq "$(last_ticket_audit)" "device:devA ticket.refused devA 1.2.3+4 {\"nonce\":\"$N0\",\"reason\":\"QUARANTINED\"}" "QUARANTINED audit"
ask 200 devB                                                      # only devA
call 200 PUT "$U/devices/devA/quarantine" "$A" -d '{"quarantined":true,"reason":"tampering suspected"}'   # no change
call 200 PUT "$U/devices/devA/quarantine" "$A" -d '{"quarantined":false,"reason":"cleared by forensics"}'
eq "$(body_json)" '{"by":null,"id":"devA","quarantined":false,"reason":null,"since":null}' "released"
call 200 PUT "$U/devices/devA/quarantine" "$A" -d '{"quarantined":false}'                                 # no change
eq "$(sql "SELECT actor || ' ' || what || ' ' || object || ' ' || detail FROM audit WHERE what LIKE 'device.%quarantine' ORDER BY id" | paste -sd'|')" \
   "token:ops device.quarantine devA tampering suspected|admin device.unquarantine devA cleared by forensics" "quarantine audit"
ask 200 devA

# --- outdated: an update released to the device, above its ATTESTED version, past the grace (3 s)
call 201 POST "$U/packages?class=sensor" "$OPS" --data-binary "@$work/v13.bin" -H 'Content-Type: application/octet-stream'
PKG=$(js .id)
# devA in step 1 (50 %), devC in step 2 (released when step 1 is done)
call 201 POST "$U/campaigns" "$OPS" -d "{\"name\":\"v1.3\",\"package\":$PKG,\"filter\":{\"ids\":[\"devA\",\"devC\"]},\"steps\":[50,100]}"
C1=$(js .id)
t_created=$(sql "SELECT created FROM campaigns WHERE id = $C1")
ask 200 devA                                                      # inside the grace
ask 200 devC                                                      # nothing released to it yet
call 200 GET "$D/devA" "$(T devA)"; call 200 GET "$(js ._links.deploymentBase.href)" "$(T devA)"   # devA fetches at once
ask 200 devB                                                      # devB is in no campaign
sleep 3.3
before=$(snapshot)
refusal 403 devA OUTDATED "device devA runs 1.2.3+4 (attested); 1.3.0+0 (action 1) was released to it N s ago, past the grace of 3 s: install it"
eq "$(snapshot)" "$before" "OUTDATED changed nothing"
eq "$(sql "SELECT detail FROM audit WHERE what = 'ticket.refused' ORDER BY id DESC LIMIT 1")" \
   "{\"action\":1,\"campaign\":$C1,\"grace\":3,\"nonce\":\"$N0\",\"reason\":\"OUTDATED\",\"released\":$t_created,\"version\":\"1.3.0+0\"}" \
   "OUTDATED audit: released at the campaign's creation, not at the fetch"
ask 200 devC                                                      # its step is still held back
ask 200 devB
# devA installs 1.3.0 and attests it: current again, with its action still open
step "$MOLT" sim write -f "$work/devA.sim" --slot primary "$work/v13.bin"
step "$MOLT" sim boot -f "$work/devA.sim" -k "$K/sign-ecdsa-p256.pub.pem"
attest devA
eq "$(sql "SELECT attested_version FROM devices WHERE id = 'devA'")" "1.3.0+0" "devA attests 1.3.0"
ask 200 devA
eq "$(sql "SELECT what || ' ' || version_before FROM audit WHERE what LIKE 'ticket.%' ORDER BY id DESC LIMIT 1")" "ticket.issued 1.3.0+0" "issued at 1.3.0"
# its feedback closes step 1: step 2 is released now, long after the campaign's creation
t0=$(date +%s%3N)
call 200 POST "$D/devA/deploymentBase/1/feedback" "$(T devA)" \
     -d '{"status":{"execution":"closed","result":{"finished":"success"}}}'
t1=$(date +%s%3N)
rel=$(sql "SELECT released FROM campaign_steps WHERE campaign_id = $C1 AND step = 1")
[ -n "$rel" ] && [ "$rel" -ge "$t0" ] && [ "$rel" -le "$t1" ] && ok || bad "step 2 released at $rel, not within [$t0, $t1]"
ask 200 devC                                                      # inside the grace of step 2
sleep 3.3
refusal 403 devC OUTDATED "device devC runs 1.2.3+4 (attested); 1.3.0+0 (action 2) was released to it N s ago, past the grace of 3 s: install it"
eq "$(sql "SELECT detail FROM audit WHERE what = 'ticket.refused' ORDER BY id DESC LIMIT 1" | jq -r .released)" "$rel" "grace from the step's release"
# a paused campaign releases nothing; a resume restarts the grace
call 200 POST "$U/campaigns/$C1/pause" "$OPS"
ask 200 devC
call 200 POST "$U/campaigns/$C1/resume" "$OPS"
ask 200 devC
sleep 3.3
ask 403 devC; eq "$(js .reason)" OUTDATED "outdated again after the resumed grace"
# the grace is the class's, read at each request: a longer one lets the device in again, 0 shuts it out at once
call 200 PUT "$U/classes/sensor/ticketpolicy" "$A" -d '{"seconds":600,"boots":2,"grace":3600}'
ask 200 devC; check_ticket devC $N0 600 2
call 200 PUT "$U/classes/sensor/ticketpolicy" "$A" -d '{"seconds":600,"boots":2,"grace":0}'
ask 403 devC; eq "$(js .reason)" OUTDATED "grace 0"
# the device's own account of its action is not believed (a compromised application holds the
# device's token): closed by the device with failure, it is still outdated
call 200 POST "$D/devC/deploymentBase/2/feedback" "$(T devC)" \
     -d '{"status":{"execution":"closed","result":{"finished":"failure"}}}'
ask 403 devC; eq "$(js .reason)" OUTDATED "closed by the device with failure: still outdated"
call 200 POST "$U/campaigns/$C1/cancel" "$OPS"
ask 200 devC                                                      # cancelled: nothing to install
# start_at: released when it comes, the grace counts from it
call 200 PUT "$U/classes/sensor/ticketpolicy" "$A" -d '{"seconds":600,"boots":2,"grace":3}'
sa=$(( $(date +%s%3N) + 2500 ))
call 201 POST "$U/campaigns" "$OPS" -d "{\"name\":\"later\",\"package\":$PKG,\"filter\":{\"ids\":[\"devC\"]},\"start_at\":$sa}"
ask 200 devC                                                      # not started
while [ "$(date +%s%3N)" -le $((sa + 100)) ]; do sleep 0.1; done
ask 200 devC                                                      # started, inside the grace
sleep 3.3
ask 403 devC; eq "$(sql "SELECT detail FROM audit WHERE what = 'ticket.refused' ORDER BY id DESC LIMIT 1" | jq -r .released)" "$sa" "grace from start_at"
# ... and closed with a success it never installed (its attested version says so): still outdated
aid=$(sql "SELECT detail FROM audit WHERE what = 'ticket.refused' ORDER BY id DESC LIMIT 1" | jq -r .action)
call 200 POST "$D/devC/deploymentBase/$aid/feedback" "$(T devC)" \
     -d '{"status":{"execution":"closed","result":{"finished":"success"}}}'
ask 403 devC; eq "$(js .reason)" OUTDATED "a success the device did not attest: still outdated"

# --- every answer of the ticket endpoint is one audit record
eq "$(sql "SELECT what FROM audit WHERE what LIKE 'ticket.%' ORDER BY id" | sed 's/^ticket\.//' | paste -sd' ')" \
   "$(paste -sd' ' "$work/expect")" "one audit record per answer, in order"
eq "$(sql "SELECT COUNT(*) FROM audit WHERE what LIKE 'ticket.%' AND (object <> substr(actor, 8) AND actor <> 'gateway:gw')")" 0 \
   "each record names the asking device"

# --- schema step 6 (tickets) on a database with history: the release times it derives from the audit log
# (campaign.step, campaign.resume) equal those recorded live, within the few ms between the two writes.
# The tickets step is step 6; the steps after it (7: key rotation) are undone here too, so the
# database goes back to version 5 and every later step is applied again.
moltd_stop
latest=$(sql 'SELECT version FROM schema_version')
eq "$latest" 7 "the latest schema step is 7 (undo each step after 6 below)"
live=$(sql "SELECT campaign_id, step, COALESCE(released, -1) FROM campaign_steps ORDER BY 1, 2")
sql "DROP TABLE class_roots"; sql "DROP TABLE class_rotation"; sql "DROP INDEX packages_keyset"
sql "ALTER TABLE packages DROP COLUMN kind"; sql "ALTER TABLE packages DROP COLUMN keyset_seq"
sql "ALTER TABLE devices DROP COLUMN keyset_seq"
sql "DROP TABLE ticket_policies"; sql "DROP TABLE device_quarantine"
sql "ALTER TABLE campaign_steps DROP COLUMN released"; sql "UPDATE schema_version SET version = 5"
moltd_start --ticket-key "$work/tk.pem"
eq "$(sql 'SELECT version FROM schema_version')" "$latest" "migrated again"
derived=$(sql "SELECT campaign_id, step, COALESCE(released, -1) FROM campaign_steps ORDER BY 1, 2")
eq "$(paste -d'|' <(tr '|' ' ' <<<"$live") <(tr '|' ' ' <<<"$derived") | awk -F'|' '{ split($1, a, " "); split($2, b, " ");
     d = a[3] - b[3]; if (d < 0) d = -d; print a[1], a[2], (a[1] == b[1] && a[2] == b[2] && d <= 1000) ? "same" : "differs: " $0 }' | paste -sd,)" \
   "$(awk -F'|' '{print $1, $2, "same"}' <<<"$live" | paste -sd,)" "release times derived from the audit log"
eq "$(wc -l <<<"$live") $(grep -c -- ' -1$' <(tr '|' ' ' <<<"$live"))" "3 1" "three steps, one never released after creation"

summary
