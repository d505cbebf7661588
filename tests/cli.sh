#!/usr/bin/env bash
# cli.sh - the molt CLI's verdicts, messages and exit codes (docs/cli.md).
# R-AUTH (verify = lib), R-ROLLBACK (policy floor), R-DEPLOY-KEYS (keygen, getpub).
set -uo pipefail
: "${MOLT:?}" "${VECTORS:?}"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$VECTORS; K=$V/keys
P256=$K/sign-ecdsa-p256.pub.pem; ED=$K/sign-ed25519.pub.pem; RSA=$K/sign-rsa-2048.pub.pem; P384=$K/sign-ecdsa-p384.pub.pem

# --- verify: valid, with the facts on stdout
expect 0 "" "$MOLT" verify -k "$P256" "$V/images/p03_ecdsa_p256_seccnt.bin"
grep -qx "$V/images/p03_ecdsa_p256_seccnt.bin: valid: version 1.2.3+4, security counter 5, ecdsa-p256 signature by $P256" "$work/out" \
  && ok || bad "verify p03 stdout: $(cat "$work/out")"
expect 0 "" "$MOLT" verify -k "$P256" -k "$ED" -k "$RSA" -k "$P384" "$V/images/p11_ed25519_pure.bin"
grep -q "ed25519-pure signature by $ED" "$work/out" && ok || bad "pure: $(cat "$work/out")"
expect 0 "" "$MOLT" verify -k "$K/sign-ecdsa-p256.pem" "$V/images/p02_ecdsa_p256.bin"   # a private key file works too
expect 0 "" "$MOLT" verify -k "$K/sign-ecdsa-p256.pub.der" "$V/images/p02_ecdsa_p256.bin" # and DER

# --- verify: invalid, one line with the reason, exit 1
expect 1 "molt verify: $V/negative/n01_payload_bitflip_ecdsa.bin: hash does not match the image [HASH_MISMATCH]" \
  "$MOLT" verify -k "$P256" "$V/negative/n01_payload_bitflip_ecdsa.bin"
expect 1 "signed by a key that is not trusted [KEY_UNTRUSTED]" "$MOLT" verify -k "$P256" "$V/images/p26_untrusted_ecdsa_p256.bin"
expect 1 "signature does not verify [SIG_INVALID]" "$MOLT" verify -k "$P256" "$V/negative/n16_untrusted_sig_trusted_keyhash.bin"
expect 1 "[TLV_NOT_ALLOWED]" "$MOLT" verify -k "$P256" "$V/negative/n17_seccnt_in_unprotected_area.bin"
expect 1 "[SIG_NO_KEY]" "$MOLT" verify -k "$P256" "$V/negative/n36_sig_before_keyhash.bin"
expect 1 "encrypted image: no decryption key configured [ENC_NO_KEY]" "$MOLT" verify -k "$ED" "$V/images/p12_ed25519_enc_x25519_aes128.bin"
expect 1 "[KEY_UNTRUSTED]" "$MOLT" verify -k "$ED" "$V/images/p02_ecdsa_p256.bin"   # right image, wrong trusted key
expect 1 "[NO_SIGNATURE]" "$MOLT" verify -k "$P256" "$V/images/p01_unsigned_sha256.bin"
expect 0 "" "$MOLT" verify --hash-only "$V/images/p01_unsigned_sha256.bin"
grep -q "hash only (no signature checked)" "$work/out" && ok || bad "hash-only stdout: $(cat "$work/out")"
expect 0 "" "$MOLT" verify -k "$P256" --role installed "$V/images/p22_ecdsa_p256_enc_ec256_clear.bin"

# --- policy: rollback floor and downgrade prevention (R-ROLLBACK)
expect 1 "security counter below the device's [ROLLBACK]" "$MOLT" verify -k "$P256" --min-security-counter 5 "$V/images/p24_ecdsa_p256_rollback_low.bin"
expect 0 "" "$MOLT" verify -k "$P256" --min-security-counter 5 "$V/images/p03_ecdsa_p256_seccnt.bin"
expect 1 "[ROLLBACK]" "$MOLT" verify -k "$P256" --min-security-counter 1 "$V/images/p02_ecdsa_p256.bin"  # no counter = 0
expect 1 "version below the running image's [DOWNGRADE]" "$MOLT" verify -k "$P256" --min-version 1.0.0 "$V/images/p24_ecdsa_p256_rollback_low.bin"
expect 0 "" "$MOLT" verify -k "$P256" --min-version 1.2.3+4 "$V/images/p03_ecdsa_p256_seccnt.bin"

# --- usage and I/O errors: exit 2, one line
expect 2 "no trusted key" "$MOLT" verify "$V/images/p02_ecdsa_p256.bin"
expect 2 "$work/missing.bin: No such file or directory" "$MOLT" verify -k "$P256" "$work/missing.bin"
printf 'not a key\n' >"$work/junk.pem"
expect 2 "$work/junk.pem: not a PEM or DER key" "$MOLT" verify -k "$work/junk.pem" "$V/images/p02_ecdsa_p256.bin"
expect 2 "--role: expected upload or installed" "$MOLT" verify -k "$P256" --role nowhere "$V/images/p02_ecdsa_p256.bin"
expect 2 "--min-security-counter" "$MOLT" verify -k "$P256" --min-security-counter -1 "$V/images/p02_ecdsa_p256.bin"
expect 2 "unknown command" "$MOLT" frobnicate

# --- inspect
expect 0 "" "$MOLT" inspect --json "$V/images/p20_ecdsa_p256_deps_bootrec_custom.bin"
python3 - "$work/out" "$(awk -F'\t' '$1 == "sign-ecdsa-p256.pem" { print $5 }' "$V/KEYS.tsv")" <<'PY' && ok || bad "inspect p20 json"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["header"]["version"] == "1.5.0+2", j["header"]
assert j["header"]["protect_tlv_size"] == 0x85
assert j["header"]["magic"] == 0x96f3b83d and j["header"]["hdr_size"] == 0x200 and j["header"]["img_size"] == 1000
assert j["security_counter"] == 8
names = [t["name"] for t in j["protected_tlvs"]]
assert {"SEC_CNT", "BOOT_RECORD", "DEPENDENCY", "VENDOR"} <= set(names), names
assert [t["name"] for t in j["unprotected_tlvs"]] == ["SHA256", "KEYHASH", "ECDSA_SIG"]
assert j["hash"]["matches_tlv"] is True and j["hash"]["algorithm"] == "sha256"
assert j["signer_key_id"] == sys.argv[2], (j["signer_key_id"], sys.argv[2])
assert j["trailer"] is None
PY
expect 0 "" "$MOLT" inspect --json "$V/images/p23_ecdsa_p256_version_max.bin"
python3 -c "import json; j=json.load(open('$work/out')); assert j['header']['version']=='255.255.65535+4294967295' and j['security_counter']==4294967295, j" \
  && ok || bad "inspect p23: maximum version and counter"
expect 0 "" "$MOLT" inspect --json "$V/images/p04_ecdsa_p256_pubkey_full.bin"
python3 - "$work/out" "$(awk -F'\t' '$1 == "sign-ecdsa-p256.pem" { print $5 }' "$V/KEYS.tsv")" <<'PY' && ok || bad "inspect p04: PUBKEY id"
import json, sys
j = json.load(open(sys.argv[1])); assert j["signer_key_id"] == sys.argv[2]
PY
for v in "p05_ecdsa_p256_pad_test_align4:8:unset" "p06_ecdsa_p256_confirm_align8:8:set" "p19_ecdsa_p384_pad_align16:16:unset"; do
  IFS=: read -r name align imgok <<<"$v"
  expect 0 "" "$MOLT" inspect --json "$V/images/$name.bin"
  python3 -c "import json,sys; t=json.load(open('$work/out'))['trailer']; assert t['magic']=='good' and t['max_align']==$align and t['image_ok']=='$imgok', t" \
    && ok || bad "inspect $name trailer"
done
expect 0 "" "$MOLT" inspect "$V/images/p03_ecdsa_p256_seccnt.bin"
grep -q "^security counter: 5$" "$work/out" && grep -q "matches the hash TLV" "$work/out" && ok || bad "inspect text: $(cat "$work/out")"
expect 1 "bad image magic" "$MOLT" inspect "$V/negative/n27_bad_image_magic.bin"
expect 0 "" "$MOLT" inspect "$V/negative/n01_payload_bitflip_ecdsa.bin"
grep -q "DOES NOT match the hash TLV" "$work/out" && ok || bad "inspect n01 text"

# --- keygen and getpub (R-DEPLOY-KEYS)
for t in ecdsa-p256 ecdsa-p384 ed25519 x25519 rsa-2048 rsa-3072; do
  expect 0 "" "$MOLT" keygen -t "$t" -k "$work/$t.pem"
  [ "$(stat -c %a "$work/$t.pem")" = 600 ] && ok || bad "keygen $t: mode $(stat -c %a "$work/$t.pem")"
  expect 0 "" "$MOLT" getpub -k "$work/$t.pem" -e raw -o "$work/$t.der"
  openssl pkey -in "$work/$t.pem" -pubout -outform DER -out "$work/$t.spki" 2>/dev/null
  case $t in
    rsa-*) openssl rsa -in "$work/$t.pem" -RSAPublicKey_out -outform DER -out "$work/$t.spki" 2>/dev/null ;;
  esac
  cmp -s "$work/$t.der" "$work/$t.spki" && ok || bad "getpub -e raw $t differs from openssl's encoding"
done
expect 2 "" "$MOLT" keygen -t ecdsa-p256 -k "$work/ecdsa-p256.pem"   # refuses to overwrite
expect 2 "" "$MOLT" keygen -t dsa-1024 -k "$work/dsa.pem"
for k in sign-ecdsa-p256 sign-ed25519 sign-rsa-2048 sign-ecdsa-p384 enc-x25519; do
  expect 0 "" "$MOLT" getpub -k "$K/$k.pem" -e raw -o "$work/$k.der"
  cmp -s "$work/$k.der" "$K/$k.pub.der" && ok || bad "getpub -e raw $k differs from the vector's .pub.der"
done

summary
