#!/usr/bin/env bash
# enc_cli.sh - encrypted images and key envelopes through the CLI (docs/encryption.md).
#
# R-CONF: imgtool's encrypted vectors (ECIES and RSA-OAEP) verify and decrypt exactly through lib/
#   (molt verify --enc-key, molt decrypt), negatives get their exact reasons;
#   images made by `molt sign -E` (every scheme, key size and HMAC hash, two
#   signers) are accepted by lib/ AND by an independent Python checker
#   (tests/refcheck.py, tests/envcheck.py) that decrypts them from the spec;
#   their plaintext image equals imgtool's byte for byte (Ed25519 is
#   deterministic) except the key TLV's value; --clear follows imgtool.
# R-ONEPKG, R-CHANNEL: one package, one envelope per device; an envelope for
#   device A is refused by device B and for another image; every device accepts
#   the same package bytes; the Python opener agrees with lib/.
# R-ASSETS: content-key files are written mode 0600.
set -uo pipefail
: "${MOLT:?}" "${VECTORS:?}" "${MOLT_SRC:?}"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

V=$VECTORS; K=$V/keys
ED=$K/sign-ed25519.pub.pem; P256=$K/sign-ecdsa-p256.pub.pem; RSA=$K/sign-rsa-2048.pub.pem
EX=$K/enc-x25519.pem; EP=$K/enc-ecdsa-p256.pem; ER=$K/enc-rsa-2048.pem
PY="python3 $MOLT_SRC/tests/envcheck.py"
REF="python3 $MOLT_SRC/tests/refcheck.py"
col() { awk -F'\t' -v f="$1" -v c="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) k = i } $1 == f { print $k }' "$V/MANIFEST.tsv"; }

# --- 1. imgtool's encrypted vectors through lib/ (molt verify / decrypt)
for f in p12_ed25519_enc_x25519_aes128 p13_ed25519_enc_x25519_aes256 p14_ed25519_enc_x25519_hmacsha512_aes256 \
         p15_ecdsa_p256_enc_ec256_aes128_pad p16_ecdsa_p256_enc_ec256_aes256 p18_rsa2048_enc_rsa2048; do
  img=$V/images/$f.bin
  case $f in *x25519*) key=$EX ;; *rsa2048*) key=$ER ;; *) key=$EP ;; esac
  expect 0 "" "$MOLT" verify -k "$ED" -k "$P256" -k "$RSA" --enc-key "$key" "$img"
  grep -q "decrypted (key from the key TLV)" "$work/out" && ok || bad "$f: $(cat "$work/out")"
  expect 0 "" "$MOLT" decrypt -k "$key" --payload "$img" "$work/$f.plain"
  pl=$V/payloads/$(col "images/$f.bin" payload)
  n=$(stat -c %s "$pl"); total=$(( (n + 15) / 16 * 16 ))
  { cat "$pl"; head -c $((total - n)) /dev/zero; } > "$work/want"
  cmp -s "$work/want" "$work/$f.plain" && ok || bad "$f: decrypted payload differs from $pl + zero padding"
  # the independent checker recovers MANIFEST's content key
  got=$($PY --enc-key "$key" "$img")
  [ "$got" = "OK key=$(col "images/$f.bin" aes_content_key)" ] && ok || bad "$f: envcheck: $got"
  # the decrypted image verifies as installed (plaintext, like --clear)
  expect 0 "" "$MOLT" decrypt -k "$key" "$img" "$work/$f.dec"
  expect 0 "" "$MOLT" verify -k "$ED" -k "$P256" -k "$RSA" --role installed "$work/$f.dec"
done
expect 1 "[ENC_NO_KEY]" "$MOLT" verify -k "$ED" "$V/images/p12_ed25519_enc_x25519_aes128.bin"
expect 1 "[ENC_UNWRAP]" "$MOLT" verify -k "$ED" --enc-key "$EX" "$V/negative/n31_enc_x25519_tag_bitflip.bin"
expect 1 "[HASH_MISMATCH]" "$MOLT" verify -k "$ED" --enc-key "$EX" "$V/negative/n32_enc_ciphertext_bitflip.bin"
expect 1 "[ENC_UNWRAP]" "$MOLT" verify -k "$P256" --enc-key "$EP" "$V/negative/n33_enc_ec256_ephemeral_bitflip.bin"
expect 1 "[ENC_TLV]" "$MOLT" verify -k "$ED" --enc-key "$EX" "$V/negative/n34_enc_flag_aes256_on_aes128_image.bin"
expect 1 "[ENC_TLV]" "$MOLT" verify -k "$P256" --enc-key "$EP" "$V/negative/n04_header_flag_encrypted_set.bin"
expect 1 "[ENC_ALG]" "$MOLT" verify -k "$RSA" --enc-key "$EP" "$V/images/p18_rsa2048_enc_rsa2048.bin"
expect 1 "[ENC_ALG]" "$MOLT" verify -k "$ED" --enc-key "$ER" "$V/images/p12_ed25519_enc_x25519_aes128.bin"
# RSA-OAEP with another RSA key: OAEP refuses it
"$MOLT" keygen -t rsa-2048 -k "$work/other-rsa.pem" >/dev/null 2>&1
expect 1 "[ENC_UNWRAP]" "$MOLT" verify -k "$RSA" --enc-key "$work/other-rsa.pem" "$V/images/p18_rsa2048_enc_rsa2048.bin"
expect 1 "[ENC_ALG]" "$MOLT" verify -k "$ED" --enc-key "$EP" "$V/images/p12_ed25519_enc_x25519_aes128.bin"
# --clear (p22): plaintext payload; a valid installed image, refused as an upload
expect 0 "" "$MOLT" verify -k "$P256" --role installed "$V/images/p22_ecdsa_p256_enc_ec256_clear.bin"
expect 1 "[HASH_MISMATCH]" "$MOLT" verify -k "$P256" --enc-key "$EP" "$V/images/p22_ecdsa_p256_enc_ec256_clear.bin"
expect 1 "[HASH_MISMATCH]" "$MOLT" decrypt -k "$EP" "$V/images/p22_ecdsa_p256_enc_ec256_clear.bin" "$work/x"
[ ! -e "$work/x" ] && ok || bad "decrypt wrote an output for a refused image"
# PSA_FWU_FLAG_ENCRYPTION-style policy
expect 1 "[ENC_REQUIRED]" "$MOLT" verify -k "$P256" --require-encryption "$V/images/p02_ecdsa_p256.bin"
expect 0 "" "$MOLT" verify -k "$ED" --enc-key "$EX" --require-encryption "$V/images/p12_ed25519_enc_x25519_aes128.bin"

# --- 2. molt sign -E: every scheme, key size and HMAC hash; two signers
B=$V/payloads/payload_B_4113.bin
for signer in sign-ed25519 sign-ecdsa-p256; do
  for combo in "x25519 128 256 0x33" "x25519 256 256 0x33" "x25519 128 512 0x34" "x25519 256 512 0x34" \
               "ecdsa-p256 128 256 0x32" "ecdsa-p256 256 256 0x32" "rsa-2048 128 256 0x30" "rsa-2048 256 256 0x30"; do
    set -- $combo; enc=$1 kl=$2 h=$3 tlv=$4
    out=$work/m-$signer-$enc-$kl-$h.bin ck=$work/ck-$signer-$enc-$kl-$h
    expect 0 "" "$MOLT" sign -k "$K/$signer.pem" -v 1.2.3+4 -s 9 -H 0x200 --pad-header -S 0x20000 \
      -E "$K/enc-$enc.pub.pem" --encrypt-keylen "$kl" --hmac-sha "$h" --save-content-key "$ck" "$B" "$out"
    [ "$(stat -c %a "$ck")" = 600 ] && [ "$(stat -c %s "$ck")" = $((kl / 8)) ] && ok || bad "$ck: mode or size"
    # lib/ accepts it as a device would
    expect 0 "" "$MOLT" verify -k "$ED" -k "$P256" --enc-key "$K/enc-$enc.pem" "$out"
    # the independent Python checker decrypts it from the spec, with the saved key
    got=$($PY --enc-key "$K/enc-$enc.pem" --payload-out "$work/py.plain" "$out")
    [ "$got" = "OK key=$(xxd -p -c 64 "$ck")" ] && ok || bad "$out: envcheck: $got"
    { cat "$B"; head -c 15 /dev/zero; } > "$work/want"   # 4113 -> 4128
    cmp -s "$work/want" "$work/py.plain" && ok || bad "$out: Python's plaintext differs"
    r=$($REF --key "$K/$signer.pub.pem" --enc-key "$K/enc-$enc.pem" --expect-version 1.2.3+4 --expect-seccnt 9 \
        --expect-flags $([ "$kl" = 128 ] && echo 0x4 || echo 0x8) "$out")
    [ "$r" = OK ] && ok || bad "$out: refcheck: $r"
    # the key TLV is last, of imgtool's type
    "$MOLT" inspect --json "$out" > "$work/j" 2>/dev/null
    python3 - "$work/j" "$tlv" <<'PYEOF' && ok || bad "$out: TLV layout"
import json, sys
j = json.load(open(sys.argv[1]))
types = [t["type"] for t in j["unprotected_tlvs"]]
sys.exit(0 if types[-1] == int(sys.argv[2], 16) and types[0] == 0x10 else 1)
PYEOF
  done
done

# --- 3. same options as imgtool's p12 (Ed25519 is deterministic): the decrypted
# images are byte-identical except the key TLV's 80-byte value at the very end.
expect 0 "" "$MOLT" sign -v 1.3.0+1 -s 4 -k "$K/sign-ed25519.pem" -E "$K/enc-x25519.pub.pem" -H 0x200 --pad-header \
  -S 0x20000 "$B" "$work/m12.bin"
expect 0 "" "$MOLT" decrypt -k "$EX" "$work/m12.bin" "$work/m12.dec"
expect 0 "" "$MOLT" decrypt -k "$EX" "$V/images/p12_ed25519_enc_x25519_aes128.bin" "$work/p12.dec"
n=$(stat -c %s "$work/p12.dec")
[ "$(stat -c %s "$work/m12.dec")" = "$n" ] && cmp -s <(head -c $((n - 80)) "$work/m12.dec") <(head -c $((n - 80)) "$work/p12.dec") \
  && ok || bad "molt sign -E differs from imgtool beyond the key TLV value"
# and the ciphertext differs (fresh content key), the package is still imgtool's format
cmp -s "$work/m12.bin" "$V/images/p12_ed25519_enc_x25519_aes128.bin" && bad "same ciphertext twice" || ok
# --pad with -E: padded to the slot, trailer magic at the end
expect 0 "" "$MOLT" sign -v 1.3.0+1 -s 7 -k "$K/sign-ecdsa-p256.pem" -E "$K/enc-ecdsa-p256.pub.pem" -H 0x200 \
  --pad-header -S 0x20000 --pad --align 8 "$B" "$work/m15.bin"
[ "$(stat -c %s "$work/m15.bin")" = 131072 ] && cmp -s <(tail -c 16 "$work/m15.bin") <(tail -c 16 "$V/images/p15_ecdsa_p256_enc_ec256_aes128_pad.bin") \
  && ok || bad "-E --pad trailer"
expect 0 "" "$MOLT" verify -k "$P256" --enc-key "$EP" "$work/m15.bin"
# --clear: plaintext payload with the flag and key TLV, as imgtool's p22
expect 0 "" "$MOLT" sign -v 1.3.0+1 -k "$K/sign-ecdsa-p256.pem" -E "$K/enc-ecdsa-p256.pub.pem" -H 0x200 --pad-header \
  -S 0x20000 --clear "$V/payloads/payload_A_1000.bin" "$work/clear.bin"
expect 0 "" "$MOLT" verify -k "$P256" --role installed "$work/clear.bin"
expect 1 "[HASH_MISMATCH]" "$MOLT" verify -k "$P256" --enc-key "$EP" "$work/clear.bin"
cmp -s <(tail -c +513 "$work/clear.bin" | head -c 1000) "$V/payloads/payload_A_1000.bin" && ok || bad "--clear payload"

# --- 4. sign and decrypt errors: one line, exit 2
expect 2 "--hmac-sha 512: only with an x25519 encryption key" "$MOLT" sign -v 1.0.0 -H 0x200 --pad-header -S 0x20000 \
  -E "$K/enc-ecdsa-p256.pub.pem" --hmac-sha 512 "$B" "$work/x"
"$MOLT" keygen -t rsa-3072 -k "$work/r3.pem" >/dev/null 2>&1 && "$MOLT" getpub -k "$work/r3.pem" -e pem >"$work/r3.pub.pem"
expect 2 "ENC_RSA2048 takes RSA-2048 keys only" "$MOLT" sign -v 1.0.0 -H 0x200 --pad-header -S 0x20000 \
  -E "$work/r3.pub.pem" "$B" "$work/x"
expect 2 "--hmac-sha 512: only with an x25519 encryption key" "$MOLT" sign -v 1.0.0 -H 0x200 --pad-header -S 0x20000 \
  -E "$K/enc-rsa-2048.pub.pem" --hmac-sha 512 "$B" "$work/x"
expect 2 "need -E/--encrypt" "$MOLT" sign -v 1.0.0 -H 0x200 --pad-header -S 0x20000 --clear "$B" "$work/x"
expect 2 "not one of the allowed values" "$MOLT" sign -v 1.0.0 -H 0x200 --pad-header -S 0x20000 \
  -E "$K/enc-x25519.pub.pem" --encrypt-keylen 192 "$B" "$work/x"
expect 2 "not an encryption key" "$MOLT" sign -v 1.0.0 -H 0x200 --pad-header -S 0x20000 -E "$ED" "$B" "$work/x"
expect 2 "a public key cannot decrypt" "$MOLT" decrypt -k "$K/enc-x25519.pub.pem" "$V/images/p12_ed25519_enc_x25519_aes128.bin" "$work/x"
expect 1 "not an encrypted image" "$MOLT" decrypt -k "$EX" "$V/images/p02_ecdsa_p256.bin" "$work/x"
expect 2 "--envelope needs --enc-key" "$MOLT" verify -k "$ED" --envelope /dev/null "$V/images/p12_ed25519_enc_x25519_aes128.bin"
[ ! -e "$work/x" ] && ok || bad "a refused command left an output file"

# --- 5. one package, per-device envelopes (R-ONEPKG, R-CHANNEL)
for d in a b; do expect 0 "" "$MOLT" keygen -t x25519 -k "$work/dev-$d.pem"; done
expect 0 "" "$MOLT" keygen -t ecdsa-p256 -k "$work/dev-c.pem"
for d in a b c; do "$MOLT" getpub -k "$work/dev-$d.pem" -e pem > "$work/dev-$d.pub"; done
expect 0 "" "$MOLT" keygen -t x25519 -k "$work/fleet.pem"
"$MOLT" getpub -k "$work/fleet.pem" -e pem > "$work/fleet.pub"
expect 0 "" "$MOLT" sign -k "$K/sign-ed25519.pem" -v 2.0.0 -s 5 -H 0x200 --pad-header -S 0x20000 --encrypt-keylen 256 \
  -E "$work/fleet.pub" --save-content-key "$work/pkg.key" "$B" "$work/pkg.bin"
expect 0 "" "$MOLT" sign -k "$K/sign-ed25519.pem" -v 2.0.1 -H 0x200 --pad-header -S 0x20000 --encrypt-keylen 256 \
  -E "$work/fleet.pub" --save-content-key "$work/other.key" "$B" "$work/other.bin"
sha_before=$(sha256sum < "$work/pkg.bin")
for d in a b c; do
  expect 0 "" "$MOLT" envelope make --content-key "$work/pkg.key" --device "$work/dev-$d.pub" --image "$work/pkg.bin" -o "$work/$d.env"
done
[ "$(stat -c %s "$work/a.env")" = 136 ] && [ "$(stat -c %s "$work/c.env")" = 169 ] && ok || bad "envelope sizes"
# each device: its envelope + the shared package -> valid; the image's own key TLV is not for it
for d in a b c; do
  expect 0 "" "$MOLT" verify -k "$ED" --enc-key "$work/dev-$d.pem" --envelope "$work/$d.env" "$work/pkg.bin"
  grep -q "decrypted (key from the envelope)" "$work/out" && ok || bad "device $d: $(cat "$work/out")"
  # without its envelope the device cannot use the package (its key is not the fleet key)
  [ $d = c ] && why="[ENC_ALG]" || why="[ENC_UNWRAP]"
  expect 1 "$why" "$MOLT" verify -k "$ED" --enc-key "$work/dev-$d.pem" "$work/pkg.bin"
  got=$($PY --enc-key "$work/dev-$d.pem" --envelope "$work/$d.env" "$work/pkg.bin")
  [ "$got" = "OK key=$(xxd -p -c 64 "$work/pkg.key")" ] && ok || bad "device $d: envcheck: $got"
  expect 0 "" "$MOLT" decrypt -k "$work/dev-$d.pem" --envelope "$work/$d.env" --payload "$work/pkg.bin" "$work/$d.plain"
  cmp -s "$work/$d.plain" "$work/want" && ok || bad "device $d: plaintext"
done
# cross-device and cross-image refusals
expect 1 "[ENV_AUTH]" "$MOLT" verify -k "$ED" --enc-key "$work/dev-b.pem" --envelope "$work/a.env" "$work/pkg.bin"
expect 1 "[ENV_AUTH]" "$MOLT" verify -k "$ED" --enc-key "$work/dev-a.pem" --envelope "$work/b.env" "$work/pkg.bin"
expect 1 "[ENC_ALG]" "$MOLT" verify -k "$ED" --enc-key "$work/dev-a.pem" --envelope "$work/c.env" "$work/pkg.bin"
expect 1 "[ENV_IMAGE]" "$MOLT" verify -k "$ED" --enc-key "$work/dev-a.pem" --envelope "$work/a.env" "$work/other.bin"
got=$($PY --enc-key "$work/dev-b.pem" --envelope "$work/a.env" "$work/pkg.bin"); [ "${got#FAIL: envelope: tag}" != "$got" ] && ok || bad "envcheck B with A's envelope: $got"
got=$($PY --enc-key "$work/dev-a.pem" --envelope "$work/a.env" "$work/other.bin"); [ "${got#FAIL: envelope: bound}" != "$got" ] && ok || bad "envcheck other image: $got"
# a flipped envelope byte: refused
cp "$work/a.env" "$work/a2.env"; printf '\x01' | dd of="$work/a2.env" bs=1 seek=100 conv=notrunc status=none
expect 1 "[ENV_AUTH]" "$MOLT" verify -k "$ED" --enc-key "$work/dev-a.pem" --envelope "$work/a2.env" "$work/pkg.bin"
head -c 50 "$work/a.env" > "$work/a3.env"
expect 1 "[ENV_FORMAT]" "$MOLT" verify -k "$ED" --enc-key "$work/dev-a.pem" --envelope "$work/a3.env" "$work/pkg.bin"
# envelope make errors
expect 2 "the content key's size does not match" "$MOLT" envelope make --content-key "$work/ck-sign-ed25519-x25519-128-256" \
  --device "$work/dev-a.pub" --image "$work/pkg.bin" -o "$work/x"
expect 2 "not an encrypted image" "$MOLT" envelope make --content-key "$work/pkg.key" --device "$work/dev-a.pub" \
  --image "$V/images/p02_ecdsa_p256.bin" -o "$work/x"
expect 2 "usage: molt envelope make" "$MOLT" envelope make --content-key "$work/pkg.key"
expect 2 "envelopes are ECC-only" "$MOLT" envelope make --content-key "$work/pkg.key" --device "$K/enc-rsa-2048.pub.pem" \
  --image "$work/pkg.bin" -o "$work/x"
# the package was never touched: the same bytes for every device
[ "$(sha256sum < "$work/pkg.bin")" = "$sha_before" ] && ok || bad "package bytes changed"

# --- 6. the power-fail command with encrypted updates (R-CONF): no plaintext in staging
# pf_clean: the fields of `molt sim powerfail --json` that say nothing failed: cuts fired, staging
# was scanned, 0 bricked, mixed, counter violations, lost, NOR violations and plaintext
pf_clean() { jq -r '"\(.cuts > 0) \(.scans > 0) \(.bricked) \(.mixed) \(.counter) \(.lost) \(.violations) \(.plaintext) \(.ok)"' "$work/out"; }
PF_CLEAN="true true 0 0 0 0 0 0 true"
expect 0 "" "$MOLT" sim powerfail --encrypted --vectors "$V" --seeds 1 --double-cuts 1 --json
[ "$(pf_clean)" = "$PF_CLEAN" ] && ok || bad "sim powerfail --encrypted: $(cat "$work/out")"
expect 0 "" "$MOLT" sim powerfail --encrypted --vectors "$V" --mode overwrite --seeds 1 --double-cuts 1 --json
[ "$(pf_clean) $(jq -r .mode "$work/out")" = "$PF_CLEAN overwrite" ] && ok || bad "overwrite: $(cat "$work/out")"
# images made by molt sign -E, old one encrypted too
expect 0 "" "$MOLT" sign -k "$K/sign-ed25519.pem" -v 1.0.0 -s 1 -H 0x200 --pad-header -S 0x2000 -E "$K/enc-x25519.pub.pem" \
  "$V/payloads/payload_A_1000.bin" "$work/v1.bin"
expect 0 "" "$MOLT" sign -k "$K/sign-ed25519.pem" -v 1.1.0 -s 2 -H 0x200 --pad-header -S 0x2000 -E "$K/enc-x25519.pub.pem" \
  --encrypt-keylen 256 "$V/payloads/payload_A_1000.bin" "$work/v2.bin"
expect 0 "" "$MOLT" sim powerfail --old "$work/v1.bin" --new "$work/v2.bin" -k "$ED" --enc-key "$EX" --seeds 1 --double-cuts 1 --json
[ "$(jq -c .encrypted "$work/out") $(pf_clean)" = '{"old":true,"new":true} '"$PF_CLEAN" ] \
  && ok || bad "sim powerfail molt-made: $(cat "$work/out")"
# RSA-OAEP: imgtool's p17 -> p18 on a device whose key store holds the RSA-2048 key
expect 0 "" "$MOLT" sim powerfail --old "$V/images/p17_rsa2048.bin" --new "$V/images/p18_rsa2048_enc_rsa2048.bin" \
  -k "$RSA" --enc-key "$ER" --seeds 1 --double-cuts 1 --json
[ "$(jq -c .encrypted "$work/out") $(pf_clean)" = '{"old":false,"new":true} '"$PF_CLEAN" ] \
  && ok || bad "sim powerfail RSA-OAEP: $(cat "$work/out")"
expect 2 "--encrypted uses the vectors" "$MOLT" sim powerfail --encrypted --enc-key "$EX"
expect 2 "cannot decrypt the images with this key" "$MOLT" sim powerfail --old "$work/v1.bin" --new "$work/v2.bin" -k "$ED" --enc-key "$EP"

summary
