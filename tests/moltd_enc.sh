#!/usr/bin/env bash
# moltd_enc.sh - encrypted packages on the deployer's side, on 127.0.0.1:
# one ciphertext for the whole class, one key envelope per device (R-CONF,
# R-ONEPKG, R-CHANNEL, R-DEPLOY-KEYS). An encrypted upload is verified with its
# content key as a device would verify it (decrypted while hashed); the key is
# kept only wrapped under moltd's --kek-file; each device's envelope is sealed to
# its provisioned encryption key, stored, audited and served again unchanged.
# Every refusal: the exact status and message, nothing stored. A wrong
# key-encryption key stops moltd at start; none makes envelopes unavailable.
# With MOLTD_TEST_DB=postgresql://... (the ctest agent_pg, tests/py/test_agent.py) the same test runs on PostgreSQL.
set -uo pipefail
: "${MOLT:?}" "${MOLTD:?}" "${VECTORS:?}"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

K=$VECTORS/keys; B=$VECTORS/payloads/payload_B_4113.bin
moltd_setup
ART=$work/art
A="Bearer $ADMIN"
state() {  # what a refusal must leave alone
  sql "SELECT COUNT(*) FROM audit"; sql "SELECT id, sha256, encryption FROM packages ORDER BY id"
  sql "SELECT package_id, wrapped FROM package_keys ORDER BY package_id"
  sql "SELECT device_id, package_id, envelope FROM envelopes ORDER BY device_id"; ls "$ART"
}

# --- keys: the signer, a fleet key no device holds, four devices' encryption keys
openssl rand -hex 32 > "$work/kek"
openssl rand -hex 32 > "$work/kek.other"
step "$MOLT" keygen -t x25519 -k "$work/fleet.pem"
"$MOLT" getpub -k "$work/fleet.pem" -e pem > "$work/fleet.pub"
step "$MOLT" keygen -t x25519 -k "$work/d1.pem"
step "$MOLT" keygen -t ecdsa-p256 -k "$work/d2.pem"
for d in d1 d2; do "$MOLT" getpub -k "$work/$d.pem" -e pem > "$work/$d.pub"; done
cp "$K/enc-rsa-2048.pub.pem" "$work/d3.pub"      # RSA: the image's key TLV only, no envelope
SIGN=$K/sign-ed25519.pem; SPUB=$K/sign-ed25519.pub.pem
step "$MOLT" sign -k "$SIGN" -v 2.0.0 -s 5 -H 0x200 --pad-header -S 0x20000 --encrypt-keylen 256 \
  -E "$work/fleet.pub" --save-content-key "$work/pkg.key" "$B" "$work/pkg.bin"
step "$MOLT" sign -k "$SIGN" -v 2.0.0 -s 5 -H 0x200 --pad-header -S 0x20000 "$B" "$work/plain.bin"
step "$MOLT" sign -k "$SIGN" -v 2.1.0 -s 6 -H 0x200 --pad-header -S 0x20000 \
  -E "$work/fleet.pub" --save-content-key "$work/k128.key" "$B" "$work/pkg128.bin"
CK=$(xxd -p -c 64 "$work/pkg.key"); PKG_SHA=$(sha256sum < "$work/pkg.bin" | cut -d' ' -f1)

# --- the key-encryption key: one-line errors, exit 2
printf 'not-hex\n' > "$work/kek.bad"
MOLTD_ADMIN_TOKEN=$ADMIN "$MOLTD" --db "sqlite:$work/x.db" --port 0 --artifact-dir "$ART" --kek-file "$work/kek.bad" >/dev/null 2>"$work/err"
eq "$?" 2 "bad kek exit"
eq "$(cat "$work/err")" "moltd: $work/kek.bad: the key-encryption key is 64 hex digits on the first line (openssl rand -hex 32)" "bad kek msg"
MOLTD_ADMIN_TOKEN=$ADMIN "$MOLTD" --db "sqlite:$work/x.db" --port 0 --artifact-dir "$ART" --kek-file "$work/nokek" >/dev/null 2>"$work/err"
eq "$?" 2 "missing kek exit"
eq "$(cat "$work/err")" "moltd: $work/nokek: No such file or directory" "missing kek msg"
[ ! -e "$work/x.db" ] && [ ! -e "$ART" ] && ok || bad "a refused start left files behind"

moltd_start --kek-file "$work/kek"
call 201 POST "$U/signers" "$A" -d "$(jq -n --rawfile p "$SPUB" '{name:"vendor",pem:$p}')"
call 201 POST "$U/classes" "$A" -d '{"name":"sensor","signers":["vendor"]}'
call 201 POST "$U/classes" "$A" -d '{"name":"plainbox","signers":["vendor"]}'

# --- uploads that are refused: exact reason, nothing stored
up() {  # up CODE CLASS FILE [content key hex]
  call "$1" POST "$U/packages?class=$2" "$A" --data-binary "@$work/$3" -H 'Content-Type: application/octet-stream' \
       ${4:+-H "X-Molt-Content-Key: $4"}
}
before=$(state)
up 422 sensor pkg.bin
eq "$(js '.reason + ": " + .error')" "ENC_NO_KEY: encrypted package: send its content key in X-Molt-Content-Key (molt sign --save-content-key)" "no key"
up 400 sensor pkg.bin "xyz"
eq "$(js .error)" "X-Molt-Content-Key: 32 or 64 hex digits (the key of molt sign --save-content-key)" "malformed key"
up 422 sensor pkg.bin "$(openssl rand -hex 32)"; eq "$(js .reason)" HASH_MISMATCH "a wrong content key: the plaintext hash fails"
up 422 sensor pkg.bin "${CK:0:32}"
eq "$(js '.reason + ": " + .error')" "CONTENT_KEY_SIZE: the content key is 16 bytes; the package's AES flag wants 32" "key size"
up 422 sensor plain.bin "$CK"
eq "$(js '.reason + ": " + .error')" "NOT_ENCRYPTED: X-Molt-Content-Key given, but the package is not encrypted" "plain with key"
cp "$work/pkg.bin" "$work/tampered.bin"; printf 'X' | dd of="$work/tampered.bin" bs=1 seek=2000 conv=notrunc status=none
up 422 sensor tampered.bin "$CK"; eq "$(js .reason)" HASH_MISMATCH "tampered ciphertext"
eq "$(state)" "$before" "refused uploads changed nothing"

# --- the upload: verified decrypted, the ciphertext stored, the key wrapped
up 201 sensor pkg.bin "$CK"
eq "$(js '(.id|tostring) + " " + .version + " " + .encryption + " " + .sha256')" "1 2.0.0+0 aes-256-ctr $PKG_SHA" "encrypted package"
cmp -s "$ART/$PKG_SHA" "$work/pkg.bin" && ok || bad "the stored package is the ciphertext as uploaded"
W=$(sql "SELECT wrapped FROM package_keys WHERE package_id = 1")
[[ $W =~ ^[0-9a-f]{120}$ ]] && ok || bad "wrapped key format: $W"      # IV 12 + key 32 + tag 16
{ sql "SELECT * FROM package_keys"; sql "SELECT * FROM packages"; sql "SELECT * FROM audit"; cat "$ART"/*; } > "$work/dump"
! grep -qi "$CK" "$work/dump" && ok || bad "the content key is stored in clear"
eq "$(sql "SELECT detail FROM audit WHERE what = 'package.upload'")" "$PKG_SHA encrypted aes-256-ctr" "upload audit"
call 200 GET "$U/packages/1" "$A"; eq "$(js 'keys | map(select(test("key"))) | length')" 0 "no key field in the package"
up 200 sensor pkg.bin "$CK"; eq "$(js .id)" 1 "same bytes: the same package"
up 201 plainbox plain.bin; eq "$(js .encryption)" null "a plain package"

# --- devices: X25519, P-256, RSA (no envelope), none
prov() {  # prov ID CLASS [ENC_PUB]
  local j; j=$(jq -n --arg id "$1" --arg c "$2" --rawfile ak "$K/sign-ecdsa-p256.pub.pem" '{id:$id,class:$c,attestation_key:$ak}')
  [ -n "${3:-}" ] && j=$(jq --rawfile ek "$3" '. + {encryption_key:$ek}' <<<"$j")
  call 201 POST "$U/devices" "$A" -d "$j"; TOK[$1]=$(js .token)
}
declare -A TOK AID
prov d1 sensor "$work/d1.pub"; prov d2 sensor "$work/d2.pub"; prov d3 sensor "$work/d3.pub"; prov d4 sensor
prov p1 plainbox "$work/d1.pub"
T() { echo "TargetToken ${TOK[$1]}"; }
call 201 POST "$U/campaigns" "$A" -d '{"name":"v2","package":1,"message":"v2, encrypted"}'
call 201 POST "$U/campaigns" "$A" -d '{"name":"plain","package":2}'
for d in d1 d2 d3 d4 p1; do
  call 200 GET "$D/$d" "$(T $d)"
  AID[$d]=$(js '._links.deploymentBase.href' | sed 's/.*deploymentBase\/\([0-9]*\).*/\1/')
done

# --- the deployment: the same artifact for all, an envelope link for those who can open one
dep() { call 200 GET "$D/$1/deploymentBase/${AID[$1]}" "$(T "$1")"; }
for d in d1 d2 d3 d4; do
  dep $d
  eq "$(js '.deployment.chunks[0].artifacts[0].hashes.sha256')" "$PKG_SHA" "$d: the same package"
  eq "$(js '.deployment.chunks[0].metadata[] | select(.key == "molt.encryption") | .value')" aes-256-ctr "$d: encryption metadata"
  link=$(js '.deployment.chunks[0].artifacts[0]._links["molt-key-envelope"].href')
  case $d in
    d1|d2) eq "$link" "http://127.0.0.1:$port/DEFAULT/controller/v1/$d/molt/keyEnvelope/${AID[$d]}" "$d: envelope link" ;;
    *)     eq "$link" null "$d: no envelope link (no ECC encryption key)" ;;
  esac
done
dep p1; eq "$(js '.deployment.chunks[0].metadata | map(.key) | join(",")')" "molt.message,molt.security_counter" "plain: no encryption metadata"

# --- envelopes: sealed once per device, stored, audited, served unchanged
env() { call "$1" GET "$D/$2/molt/keyEnvelope/${AID[$3]}" "$(T "$2")"; cp "$work/body" "$work/$4"; }
env 200 d1 d1 d1.env
eq "$(stat -c %s "$work/d1.env")" 136 "X25519 envelope for AES-256"
grep -qi '^content-type: application/octet-stream' "$work/head" && ok || bad "envelope content type"
env 200 d1 d1 d1.again; cmp -s "$work/d1.env" "$work/d1.again" && ok || bad "the same envelope on a second request"
eq "$(sql "SELECT COUNT(*) FROM envelopes")" 1 "one envelope stored"
eq "$(sql "SELECT envelope FROM envelopes WHERE device_id = 'd1'")" "$(xxd -p -c 300 "$work/d1.env")" "stored bytes"
eq "$(sql "SELECT actor || ' ' || object || ' ' || version_after || ' ' || detail FROM audit WHERE what = 'envelope.issued'")" \
   "device:d1 d1 2.0.0+0 package 1, x25519 envelope, 136 bytes, sha256 $(sha256sum < "$work/d1.env" | cut -d' ' -f1)" "envelope audit"
# the envelope opens the shared package for d1 alone (R-CHANNEL)
step "$MOLT" verify -k "$SPUB" --enc-key "$work/d1.pem" --envelope "$work/d1.env" "$work/pkg.bin"
grep -q "decrypted (key from the envelope)" "$work/out" && ok || bad "d1 verify: $(cat "$work/out")"
step "$MOLT" decrypt -k "$work/d1.pem" --envelope "$work/d1.env" --payload "$work/pkg.bin" "$work/d1.plain"
step "$MOLT" decrypt -k "$work/fleet.pem" --payload "$work/pkg.bin" "$work/fleet.plain"
cmp -s "$work/d1.plain" "$work/fleet.plain" && cmp -s <(head -c 4113 "$work/d1.plain") "$B" && ok || bad "d1's plaintext"
"$MOLT" verify -k "$SPUB" --enc-key "$work/d2.pem" --envelope "$work/d1.env" "$work/pkg.bin" >"$work/out" 2>&1
eq "$?" 1 "d1's envelope on d2 exit"; grep -q "\[ENC_ALG\]" "$work/out" && ok || bad "d2 with d1's envelope: $(cat "$work/out")"
step "$MOLT" keygen -t x25519 -k "$work/d9.pem"
"$MOLT" verify -k "$SPUB" --enc-key "$work/d9.pem" --envelope "$work/d1.env" "$work/pkg.bin" >"$work/out" 2>&1
eq "$?" 1 "d1's envelope on another X25519 device exit"; grep -q "\[ENV_AUTH\]" "$work/out" && ok || bad "d9: $(cat "$work/out")"

# --- refusals: nothing issued
before=$(state)
call 401 GET "$D/d1/molt/keyEnvelope/${AID[d1]}" "$(T d2)"    # d1's envelope with d2's token
call 404 GET "$D/d1/molt/keyEnvelope/${AID[d2]}" "$(T d1)"; eq "$(js .error)" "no action ${AID[d2]} for d1" "another device's action"
env 409 d3 d3 x.env; eq "$(js .error)" "device d3 has no ecdsa-p256 or x25519 encryption key: envelopes are ECC-only" "RSA device"
env 409 d4 d4 x.env; eq "$(js .error)" "device d4 has no encryption key provisioned: it cannot have an envelope" "keyless device"
env 404 p1 p1 x.env; eq "$(js .error)" "package 2 of action ${AID[p1]} is not encrypted: it has no key envelope" "plain package"
call 405 POST "$D/d1/molt/keyEnvelope/${AID[d1]}" "$(T d1)"
call 404 GET "$D/d1/molt/keyEnvelope/x" "$(T d1)"
eq "$(state)" "$before" "envelope refusals changed nothing"

# --- without the key-encryption key: stored envelopes still served, no new ones
moltd_stop; moltd_start
eq "$(cat "$work/err")" "moltd: warning: 1 encrypted package(s) stored, no --kek-file: their devices get no key envelope" "warning"
env 200 d1 d1 d1.third; cmp -s "$work/d1.env" "$work/d1.third" && ok || bad "a stored envelope needs no KEK"
before=$(state)
env 503 d2 d2 x.env; eq "$(js .error)" "this moltd runs without --kek-file: it cannot open content keys" "no KEK"
up 400 sensor pkg128.bin "$(xxd -p -c 64 "$work/k128.key")"
eq "$(js .error)" "X-Molt-Content-Key: this moltd keeps no content keys (start it with --kek-file)" "no KEK upload"
eq "$(state)" "$before" "no KEK: nothing changed"
moltd_stop
MOLTD_ADMIN_TOKEN=$ADMIN "$MOLTD" --db "$DBURL" --port 0 --artifact-dir "$ART" --kek-file "$work/kek.other" >/dev/null 2>"$work/err"
eq "$?" 2 "wrong kek exit"
eq "$(cat "$work/err")" "moltd: --kek-file does not open the content key of package 1 (another key-encryption key?)" "wrong kek msg"

# --- with it again: d2's envelope, P-256
moltd_start --kek-file "$work/kek"
env 200 d2 d2 d2.env; eq "$(stat -c %s "$work/d2.env")" 169 "P-256 envelope for AES-256"
step "$MOLT" verify -k "$SPUB" --enc-key "$work/d2.pem" --envelope "$work/d2.env" "$work/pkg.bin"
cmp -s "$work/d1.env" "$work/d2.env" && bad "two devices got the same envelope" || ok
up 201 sensor pkg128.bin "$(xxd -p -c 64 "$work/k128.key")"; eq "$(js .encryption)" aes-128-ctr "AES-128 package"
[[ $(sql "SELECT wrapped FROM package_keys WHERE package_id = 3") =~ ^[0-9a-f]{88}$ ]] && ok || bad "wrapped 128-bit key"
eq "$(sha256sum < "$ART/$PKG_SHA" | cut -d' ' -f1)" "$PKG_SHA" "the package bytes never changed"

summary
